//! Writing result batches in every [`OutputFormat`], to stdout or atomically
//! to a file.

use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::ops::Range;
use std::path::Path;
use std::str::FromStr;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, UInt16Type, UInt64Type};
use arrow_array::{Array, PrimitiveArray, RecordBatch, StringArray};
use arrow_ipc::CompressionType;
use arrow_ipc::writer::{FileWriter, IpcWriteOptions, StreamWriter};
use arrow_schema::{ArrowError, DataType, SchemaRef};
use arrow_select::concat::concat_batches;
use pagemill_engine::AtomicFile;
use pagemill_mmap::Source;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{ArrowColumnChunk, ArrowColumnWriter, ArrowLeafColumn, compute_leaves};
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use rayon::prelude::*;

use crate::error::Error;
use crate::format::OutputFormat;
use crate::table::write_table;

/// Compression of the record batches in an Arrow IPC file or stream.
///
/// [`none`](IpcCompression::none) (the default) keeps the file
/// memory-mappable: readers use its column buffers in place. `lz4` and `zstd`
/// make smaller files that every reader must decompress.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpcCompression(Codec);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Codec {
    #[default]
    None,
    Lz4,
    Zstd,
}

impl IpcCompression {
    /// No compression: buffers can be memory-mapped by readers.
    pub fn none() -> IpcCompression {
        IpcCompression(Codec::None)
    }

    /// LZ4 frame compression: fast, moderate ratio.
    pub fn lz4() -> IpcCompression {
        IpcCompression(Codec::Lz4)
    }

    /// Zstandard compression: a better ratio, slower.
    pub fn zstd() -> IpcCompression {
        IpcCompression(Codec::Zstd)
    }

    fn codec(self) -> Option<CompressionType> {
        match self.0 {
            Codec::None => None,
            Codec::Lz4 => Some(CompressionType::LZ4_FRAME),
            Codec::Zstd => Some(CompressionType::ZSTD),
        }
    }
}

impl fmt::Display for IpcCompression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self.0 {
            Codec::None => "none",
            Codec::Lz4 => "lz4",
            Codec::Zstd => "zstd",
        })
    }
}

impl FromStr for IpcCompression {
    type Err = Error;

    /// `none`, `lz4` or `zstd`, in any case.
    fn from_str(s: &str) -> Result<IpcCompression, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "uncompressed" => Ok(IpcCompression::none()),
            "lz4" => Ok(IpcCompression::lz4()),
            "zstd" => Ok(IpcCompression::zstd()),
            _ => Err(Error::UnknownCompression { name: s.to_string() }),
        }
    }
}

/// How results are written, beyond the format: a builder whose setters take
/// `&mut self`, like [`pagemill_mmap::OpenOptions`].
///
/// ```
/// use pagemill_arrow::{IpcCompression, WriteOptions};
///
/// let mut options = WriteOptions::new();
/// options.ipc_compression(IpcCompression::zstd()).parquet_zstd_level(9);
/// ```
#[derive(Clone, Debug)]
pub struct WriteOptions {
    ipc_compression: IpcCompression,
    parquet_zstd_level: i32,
    binary_to_terminal: bool,
    threads: usize,
}

impl Default for WriteOptions {
    fn default() -> WriteOptions {
        WriteOptions {
            ipc_compression: IpcCompression::none(),
            parquet_zstd_level: 3,
            binary_to_terminal: false,
            threads: 0,
        }
    }
}

impl WriteOptions {
    /// The defaults: uncompressed IPC, Parquet with zstd level 3 and its
    /// columns encoded on one thread per core, binary formats refused on a
    /// terminal.
    pub fn new() -> WriteOptions {
        WriteOptions::default()
    }

    /// Compress Arrow IPC files and streams (default: none).
    pub fn ipc_compression(&mut self, compression: IpcCompression) -> &mut WriteOptions {
        self.ipc_compression = compression;
        self
    }

    /// The zstd level of Parquet column chunks, 1 to 22 (default: 3). Levels
    /// out of range are clamped.
    pub fn parquet_zstd_level(&mut self, level: i32) -> &mut WriteOptions {
        self.parquet_zstd_level = level.clamp(1, 22);
        self
    }

    /// Threads that encode and compress the columns of a Parquet row group,
    /// and format the rows of a large CSV or TSV batch, in parallel (0, the
    /// default: one per core; 1: the calling thread only). The output's
    /// bytes are the same for any number.
    pub fn threads(&mut self, threads: usize) -> &mut WriteOptions {
        self.threads = threads;
        self
    }

    /// [`threads`](WriteOptions::threads) with 0 resolved to the cores.
    fn worker_threads(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// Write binary formats (IPC, Parquet) to stdout even when it is a
    /// terminal (default: refused with [`Error::BinaryToTerminal`]).
    pub fn binary_to_terminal(&mut self, yes: bool) -> &mut WriteOptions {
        self.binary_to_terminal = yes;
        self
    }
}

/// Write `batches` (all of `schema`) in `format` to `path`, or to stdout when
/// `path` is `None` or `-`, with the default [`WriteOptions`].
///
/// A file is written atomically through [`AtomicFile`]: to a temporary file
/// in the target's folder, synced, then renamed over the target. On any error
/// the temporary file is removed and an existing target is left as it was.
/// A target that is one of `inputs` is refused before anything is written.
///
/// Batches whose columns match the schema's fields but whose own schema lacks
/// its metadata are written under `schema` (metadata included).
pub fn write_batches(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    format: OutputFormat,
    path: Option<&Path>,
    inputs: &[Source],
) -> Result<(), Error> {
    write_batches_with(schema, batches, format, path, inputs, &WriteOptions::default())
}

/// [`write_batches`] with explicit [`WriteOptions`].
pub fn write_batches_with(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    format: OutputFormat,
    path: Option<&Path>,
    inputs: &[Source],
    options: &WriteOptions,
) -> Result<(), Error> {
    let batches = conform(schema, batches)?;
    match path {
        Some(path) if path.as_os_str() != "-" => {
            let mut file = AtomicFile::create(path, inputs)?;
            let target = path.display().to_string();
            encode(&mut file, schema, &batches, format, options, &target)?;
            file.commit()?;
        }
        _ => {
            let stdout = io::stdout();
            if format.is_binary() && !options.binary_to_terminal && stdout.is_terminal() {
                return Err(Error::BinaryToTerminal { format });
            }
            let target = "<stdout>";
            let mut out = io::BufWriter::with_capacity(1 << 16, stdout);
            encode(&mut out, schema, &batches, format, options, target)?;
            out.flush().map_err(|source| Error::Io { target: target.to_string(), source })?;
        }
    }
    Ok(())
}

/// Encode `batches` (all of `schema`) in `format` into any writer, such as a
/// `Vec<u8>` or a socket. Nothing is flushed or synced beyond what the format
/// itself requires; [`write_batches`] adds atomic files and stdout.
pub fn write_to<W: Write + Send>(
    out: &mut W,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    format: OutputFormat,
    options: &WriteOptions,
) -> Result<(), Error> {
    let batches = conform(schema, batches)?;
    encode(out, schema, &batches, format, options, "<writer>")
}

/// Re-home every batch under `schema`, checking that its columns fit.
fn conform(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<RecordBatch>, Error> {
    batches
        .iter()
        .enumerate()
        .map(|(i, b)| {
            RecordBatch::try_new(schema.clone(), b.columns().to_vec())
                .map_err(|source| Error::Schema { batch: i, source })
        })
        .collect()
}

/// CSV (or TSV) with a header row: RFC 4180 quoting (a field holding the
/// delimiter, a quote, CR or LF is quoted, its quotes doubled), a null as
/// an empty field and an empty string as `""`, as polars and DuckDB write
/// them, so that readers tell the two apart (arrow-csv writes both empty).
/// Values are formatted as arrow's display formatter formats them, as
/// arrow-csv does.
///
/// On more than one thread, a batch of many rows is formatted in blocks of
/// [`CSV_BLOCK_ROWS`] rows side by side (a few blocks per thread at a time,
/// so memory holds a window of the text, not all of it), written in order:
/// the bytes do not depend on `threads`. Formatting the 688K rows of a
/// per-path summary took 80-120 ms on one thread.
fn write_delimited<W: Write>(
    out: &mut W,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    delimiter: u8,
    threads: usize,
    arrow_err: impl Fn(ArrowError) -> Error,
    io_err: impl Fn(io::Error) -> Error,
) -> Result<(), Error> {
    let mut line = Vec::with_capacity(1 << 16);
    for (i, field) in schema.fields().iter().enumerate() {
        if i > 0 {
            line.push(delimiter);
        }
        push_field(&mut line, field.name().as_bytes(), delimiter);
    }
    line.push(b'\n');
    let pool = match threads {
        0 | 1 => None,
        n => Some(
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .thread_name(|i| format!("pagemill-csv-{i}"))
                .build()
                .map_err(|e| arrow_err(ArrowError::ExternalError(Box::new(e))))?,
        ),
    };
    for batch in batches {
        for column in batch.columns() {
            if column.data_type().is_nested() {
                return Err(arrow_err(ArrowError::CsvError(format!(
                    "nested type {} is not supported in CSV",
                    column.data_type()
                ))));
            }
        }
        let rows = batch.num_rows();
        match &pool {
            Some(pool) if rows >= 2 * CSV_BLOCK_ROWS => {
                out.write_all(&line).map_err(&io_err)?;
                line.clear();
                let window = CSV_BLOCK_ROWS * 4 * pool.current_num_threads();
                for from in (0..rows).step_by(window) {
                    let to = (from + window).min(rows);
                    let blocks: Vec<Result<Vec<u8>, ArrowError>> = pool.install(|| {
                        (from..to)
                            .step_by(CSV_BLOCK_ROWS)
                            .collect::<Vec<_>>()
                            .into_par_iter()
                            .map(|start| {
                                let mut text = Vec::new();
                                format_rows(batch, start..(start + CSV_BLOCK_ROWS).min(to), delimiter, &mut text)?;
                                Ok(text)
                            })
                            .collect()
                    });
                    for block in blocks {
                        out.write_all(&block.map_err(&arrow_err)?).map_err(&io_err)?;
                    }
                }
            }
            _ => {
                for from in (0..rows).step_by(CSV_BLOCK_ROWS) {
                    format_rows(batch, from..(from + CSV_BLOCK_ROWS).min(rows), delimiter, &mut line)
                        .map_err(&arrow_err)?;
                    if line.len() >= 1 << 16 {
                        out.write_all(&line).map_err(&io_err)?;
                        line.clear();
                    }
                }
            }
        }
    }
    out.write_all(&line).map_err(&io_err)?;
    out.flush().map_err(io_err)
}

/// Rows a block of a delimited output holds (see [`write_delimited`]).
const CSV_BLOCK_ROWS: usize = 1 << 14;

/// Append `field` to `line`, quoted where RFC 4180 needs it (and when
/// empty, so an empty string is no null).
fn push_field(line: &mut Vec<u8>, field: &[u8], delimiter: u8) {
    let special = |b: &u8| *b == delimiter || matches!(b, b'"' | b'\n' | b'\r');
    if !field.is_empty() && !field.iter().any(special) {
        line.extend_from_slice(field);
        return;
    }
    line.push(b'"');
    for &b in field {
        if b == b'"' {
            line.push(b'"');
        }
        line.push(b);
    }
    line.push(b'"');
}

/// Append the lines of `rows` of `batch` to `text`.
fn format_rows(batch: &RecordBatch, rows: Range<usize>, delimiter: u8, text: &mut Vec<u8>) -> Result<(), ArrowError> {
    let options = arrow_cast::display::FormatOptions::default().with_null("");
    let columns = batch.columns();
    let cells = columns.iter().map(|a| Cell::of(a.as_ref(), &options)).collect::<Result<Vec<_>, _>>()?;
    // Logical nulls: a dictionary's null values too.
    let nulls: Vec<_> = columns.iter().map(|a| a.logical_nulls()).collect();
    let (mut ints, mut floats) = (itoa::Buffer::new(), ryu::Buffer::new());
    let mut other = String::new();
    for row in rows {
        for (c, cell) in cells.iter().enumerate() {
            if c > 0 {
                text.push(delimiter);
            }
            if nulls[c].as_ref().is_some_and(|n| n.is_null(row)) {
                // A line of its own would be a blank line, which readers
                // skip: a lone null field is written `""`.
                if cells.len() == 1 {
                    text.extend_from_slice(b"\"\"");
                }
                continue;
            }
            // Numbers hold no delimiter, quote or line end, and are never
            // empty: written as they stand.
            match cell {
                Cell::U64(a) => text.extend_from_slice(ints.format(a.value(row)).as_bytes()),
                Cell::I64(a) => text.extend_from_slice(ints.format(a.value(row)).as_bytes()),
                Cell::U16(a) => text.extend_from_slice(ints.format(a.value(row)).as_bytes()),
                Cell::F64(a) => text.extend_from_slice(floats.format(a.value(row)).as_bytes()),
                Cell::Text(a) => push_field(text, a.value(row).as_bytes(), delimiter),
                Cell::Other(f) => {
                    other.clear();
                    f.value(row).write(&mut other).map_err(|e| ArrowError::CsvError(e.to_string()))?;
                    push_field(text, other.as_bytes(), delimiter);
                }
            }
        }
        text.push(b'\n');
    }
    Ok(())
}

/// How a delimited writer formats a column's cells: the common types
/// directly (a third of the time of writing a 688K-row summary went to
/// dispatching each cell through arrow-cast's formatter), any other with
/// arrow-cast's display formatter. Each gives arrow-cast's text.
enum Cell<'a> {
    U64(&'a PrimitiveArray<UInt64Type>),
    I64(&'a PrimitiveArray<Int64Type>),
    U16(&'a PrimitiveArray<UInt16Type>),
    F64(&'a PrimitiveArray<Float64Type>),
    Text(&'a StringArray),
    Other(arrow_cast::display::ArrayFormatter<'a>),
}

impl<'a> Cell<'a> {
    fn of(a: &'a dyn Array, options: &arrow_cast::display::FormatOptions<'a>) -> Result<Cell<'a>, ArrowError> {
        Ok(match a.data_type() {
            DataType::UInt64 => Cell::U64(a.as_primitive()),
            DataType::Int64 => Cell::I64(a.as_primitive()),
            DataType::UInt16 => Cell::U16(a.as_primitive()),
            DataType::Float64 => Cell::F64(a.as_primitive()),
            DataType::Utf8 => Cell::Text(a.as_string()),
            _ => Cell::Other(arrow_cast::display::ArrayFormatter::try_new(a, options)?),
        })
    }
}

fn encode<W: Write + Send>(
    out: &mut W,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    format: OutputFormat,
    options: &WriteOptions,
    target: &str,
) -> Result<(), Error> {
    let arrow_err = |source: ArrowError| Error::Arrow { target: target.to_string(), source };
    let parquet_err = |source: ParquetError| Error::Parquet { target: target.to_string(), source };
    let io_err = |source: io::Error| Error::Io { target: target.to_string(), source };
    match format {
        OutputFormat::Table => write_table(out, schema, batches).map_err(io_err),
        OutputFormat::Csv | OutputFormat::Tsv => {
            let delimiter = if format == OutputFormat::Tsv { b'\t' } else { b',' };
            write_delimited(out, schema, batches, delimiter, options.worker_threads(), arrow_err, io_err)
        }
        OutputFormat::Ndjson => {
            // Nulls written out (`"v":null`), as polars and DuckDB write
            // them: a reader then sees every column, even one that is null
            // in every row.
            let mut writer = arrow_json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow_json::writer::LineDelimited>(out);
            batches.iter().try_for_each(|b| writer.write(b)).map_err(arrow_err)?;
            writer.finish().map_err(arrow_err)
        }
        OutputFormat::Ipc => {
            let ipc = ipc_options(options).map_err(arrow_err)?;
            // An IPC file holds one dictionary per field for all its batches;
            // batches built separately (per chunk, per input) have their own.
            // Concatenating merges them into one.
            let merged;
            let batches = if batches.len() > 1 && schema.fields().iter().any(|f| has_dictionary(f.data_type())) {
                merged = [concat_batches(schema, batches).map_err(arrow_err)?];
                &merged[..]
            } else {
                batches
            };
            let mut writer = FileWriter::try_new_with_options(out, schema, ipc).map_err(arrow_err)?;
            batches.iter().try_for_each(|b| writer.write(b)).map_err(arrow_err)?;
            writer.finish().map_err(arrow_err)
        }
        OutputFormat::IpcStream => {
            let ipc = ipc_options(options).map_err(arrow_err)?;
            let mut writer = StreamWriter::try_new_with_options(out, schema, ipc).map_err(arrow_err)?;
            batches.iter().try_for_each(|b| writer.write(b)).map_err(arrow_err)?;
            writer.finish().map_err(arrow_err)
        }
        OutputFormat::Parquet => {
            let level = ZstdLevel::try_new(options.parquet_zstd_level).map_err(parquet_err)?;
            let props = WriterProperties::builder()
                .set_compression(Compression::ZSTD(level))
                .set_statistics_enabled(EnabledStatistics::Page)
                .set_created_by(format!("pagemill version {}", env!("CARGO_PKG_VERSION")))
                .build();
            let rows_per_group = props.max_row_group_row_count().unwrap_or(usize::MAX).max(1);
            let writer = ArrowWriter::try_new(out, schema.clone(), Some(props)).map_err(parquet_err)?;
            write_parquet(writer, schema, batches, rows_per_group, options.worker_threads()).map_err(parquet_err)
        }
    }
}

/// Write `batches` through `writer` (made for `schema`), in row groups of
/// `rows_per_group` rows, as [`ArrowWriter`] cuts them. With more than one
/// thread, each row group's columns are encoded and compressed in parallel
/// (a million-row result of 16 columns took 0.7 s to write on one thread)
/// and appended in schema order, so the bytes do not depend on `threads`.
fn write_parquet<W: Write + Send>(
    mut writer: ArrowWriter<W>,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    rows_per_group: usize,
    threads: usize,
) -> Result<(), ParquetError> {
    if threads <= 1 {
        batches.iter().try_for_each(|b| writer.write(b))?;
        return writer.close().map(drop);
    }
    let (mut file, factory) = writer.into_serialized_writer()?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("pagemill-parquet-{i}"))
        .build()
        .map_err(|e| ParquetError::External(Box::new(e)))?;
    for (index, group) in row_groups(batches, rows_per_group).into_iter().enumerate() {
        let mut writers: Vec<(ArrowColumnWriter, Vec<ArrowLeafColumn>)> =
            factory.create_column_writers(index)?.into_iter().map(|w| (w, Vec::new())).collect();
        for batch in &group {
            let mut next = writers.iter_mut();
            for (field, column) in schema.fields().iter().zip(batch.columns()) {
                for leaf in compute_leaves(field, column)? {
                    next.next()
                        .ok_or_else(|| ParquetError::General("more leaves than column writers".into()))?
                        .1
                        .push(leaf);
                }
            }
        }
        let chunks: Vec<ArrowColumnChunk> = pool.install(|| {
            writers
                .into_par_iter()
                .map(|(mut w, leaves)| {
                    leaves.iter().try_for_each(|leaf| w.write(leaf))?;
                    w.close()
                })
                .collect::<Result<_, _>>()
        })?;
        let mut group_writer = file.next_row_group()?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut group_writer)?;
        }
        group_writer.close()?;
    }
    file.close().map(drop)
}

/// `batches` cut into row groups of `rows` rows (the last may be shorter),
/// as slices that share the batches' buffers.
fn row_groups(batches: &[RecordBatch], rows: usize) -> Vec<Vec<RecordBatch>> {
    let mut groups = Vec::new();
    let mut group: Vec<RecordBatch> = Vec::new();
    let mut filled = 0;
    for batch in batches {
        let mut at = 0;
        while at < batch.num_rows() {
            let take = (rows - filled).min(batch.num_rows() - at);
            group.push(batch.slice(at, take));
            at += take;
            filled += take;
            if filled == rows {
                groups.push(std::mem::take(&mut group));
                filled = 0;
            }
        }
    }
    if !group.is_empty() {
        groups.push(group);
    }
    groups
}

/// Whether a column of this type holds a dictionary anywhere inside.
fn has_dictionary(data_type: &DataType) -> bool {
    match data_type {
        DataType::Dictionary(..) => true,
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) | DataType::ListView(f) => {
            has_dictionary(f.data_type())
        }
        DataType::LargeListView(f) | DataType::Map(f, _) => has_dictionary(f.data_type()),
        DataType::Struct(fields) => fields.iter().any(|f| has_dictionary(f.data_type())),
        DataType::Union(fields, _) => fields.iter().any(|(_, f)| has_dictionary(f.data_type())),
        DataType::RunEndEncoded(_, values) => has_dictionary(values.data_type()),
        _ => false,
    }
}

fn ipc_options(options: &WriteOptions) -> Result<IpcWriteOptions, ArrowError> {
    IpcWriteOptions::default().try_with_compression(options.ipc_compression.codec())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{
        Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, StructArray, UInt16Array, UInt64Array,
    };
    use arrow_schema::{DataType, Field, Fields, Schema};
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::file::properties::WriterProperties;

    use super::{row_groups, write_parquet};

    fn batch(from: u64, rows: u64) -> RecordBatch {
        let keys: Vec<Option<String>> = (from..from + rows).map(|i| (i % 11 != 0).then(|| format!("k{i}"))).collect();
        let point = Fields::from(vec![Field::new("x", DataType::Float64, true)]);
        let xs: ArrayRef =
            Arc::new(Float64Array::from_iter((from..from + rows).map(|i| (i % 3 != 0).then_some(i as f64 / 4.0))));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(keys)),
            Arc::new(UInt64Array::from_iter_values(from..from + rows)),
            Arc::new(StructArray::new(point, vec![xs], None)),
        ];
        RecordBatch::try_new(schema(), columns).unwrap()
    }

    fn schema() -> Arc<Schema> {
        Arc::new(Schema::new(vec![
            Field::new("key", DataType::Utf8, true),
            Field::new("n", DataType::UInt64, false),
            Field::new("point", DataType::Struct(Fields::from(vec![Field::new("x", DataType::Float64, true)])), false),
        ]))
    }

    /// Columns encoded in parallel give the bytes of the one-thread writer
    /// (which is `ArrowWriter` itself), across row groups cut inside and
    /// between batches, with a nested column of several leaves.
    #[test]
    fn parallel_parquet_is_byte_identical_and_reads_back() {
        let batches = [batch(0, 10), batch(10, 0), batch(10, 25), batch(35, 4)];
        let write = |threads: usize, rows: usize| {
            let props = WriterProperties::builder().set_max_row_group_row_count(Some(rows)).build();
            let mut out = Vec::new();
            let writer = ArrowWriter::try_new(&mut out, schema(), Some(props)).unwrap();
            write_parquet(writer, &schema(), &batches, rows, threads).unwrap();
            out
        };
        for rows in [1, 7, 10, 39, 1000] {
            let one = write(1, rows);
            for threads in [2, 3] {
                assert_eq!(write(threads, rows), one, "row groups of {rows}, {threads} threads");
            }
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(one)).unwrap();
            assert_eq!(reader.metadata().num_row_groups(), 39usize.div_ceil(rows));
            let back: Vec<RecordBatch> = reader.build().unwrap().map(Result::unwrap).collect();
            let back = arrow_select::concat::concat_batches(&schema(), &back).unwrap();
            assert_eq!(back, batch(0, 39));
        }
        assert!(row_groups(&[], 5).is_empty());
        assert!(row_groups(&[batch(0, 0)], 5).is_empty());
    }

    /// Cells written directly read as arrow-cast's display formatter
    /// writes them, quoted where they must be.
    #[test]
    fn delimited_cells_are_arrow_casts_text() {
        let floats =
            [0.0, -0.0, 0.1, 1.0 / 3.0, -2.5e-300, 1e300, 123456789.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY];
        let n = floats.len();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Float64Array::from(floats.to_vec())),
            Arc::new(UInt64Array::from_iter_values((0..n as u64).map(|i| u64::MAX >> (6 * i)))),
            Arc::new(Int64Array::from_iter((0..n as i64).map(|i| (i % 4 != 3).then(|| i64::MIN >> (6 * i))))),
            Arc::new(UInt16Array::from_iter_values((0..n as u16).map(|i| u16::MAX >> i))),
            Arc::new(StringArray::from_iter(
                (0..n).map(|i| ["", "a,b", "say \"hi\"", "x\ny", "plain", "tab\there", "é"].get(i).copied()),
            )),
        ];
        let types = [DataType::Float64, DataType::UInt64, DataType::Int64, DataType::UInt16, DataType::Utf8];
        let fields: Vec<Field> =
            types.iter().enumerate().map(|(i, t)| Field::new(format!("c{i}"), t.clone(), true)).collect();
        let schema = Arc::new(Schema::new(fields));
        let b = RecordBatch::try_new(schema.clone(), columns).unwrap();
        for delimiter in [b',', b'\t'] {
            let mut got = Vec::new();
            super::write_delimited(
                &mut got,
                &schema,
                std::slice::from_ref(&b),
                delimiter,
                1,
                |e| panic!("{e}"),
                |e| panic!("{e}"),
            )
            .unwrap();
            let options = arrow_cast::display::FormatOptions::default().with_null("");
            let formatters: Vec<_> = b
                .columns()
                .iter()
                .map(|a| arrow_cast::display::ArrayFormatter::try_new(a.as_ref(), &options).unwrap())
                .collect();
            let sep = delimiter as char;
            let mut want = (0..types.len()).map(|c| format!("c{c}")).collect::<Vec<_>>().join(&sep.to_string());
            want.push('\n');
            for row in 0..n {
                let cells: Vec<String> = (0..types.len())
                    .map(|c| {
                        let text = formatters[c].value(row).to_string();
                        let special = text.is_empty() || text.contains(['"', '\n', '\r', sep]);
                        if b.column(c).is_null(row) || !special {
                            text
                        } else {
                            format!("\"{}\"", text.replace('"', "\"\""))
                        }
                    })
                    .collect();
                want.push_str(&cells.join(&sep.to_string()));
                want.push('\n');
            }
            assert_eq!(String::from_utf8(got).unwrap(), want);
        }
    }

    /// Blocks formatted on several threads give the one-thread bytes.
    #[test]
    fn delimited_output_does_not_depend_on_threads() {
        let n = 2 * super::CSV_BLOCK_ROWS as u64 + 123;
        let flat: Vec<RecordBatch> = [batch(0, n), batch(n, 5), batch(0, 0), batch(7, n / 3)]
            .iter()
            .map(|b| RecordBatch::try_new(flat_schema(), vec![b.column(0).clone(), b.column(1).clone()]).unwrap())
            .collect();
        let write = |threads: usize| {
            let mut out = Vec::new();
            super::write_delimited(
                &mut out,
                &flat_schema(),
                &flat,
                b',',
                threads,
                |e| panic!("{e}"),
                |e| panic!("{e}"),
            )
            .unwrap();
            out
        };
        let one = write(1);
        let lines = 1 + flat.iter().map(RecordBatch::num_rows).sum::<usize>();
        assert_eq!(one.iter().filter(|&&c| c == b'\n').count(), lines);
        for threads in [2, 3] {
            assert!(write(threads) == one, "{threads} threads");
        }
    }

    fn flat_schema() -> Arc<Schema> {
        Arc::new(Schema::new(vec![Field::new("key", DataType::Utf8, true), Field::new("n", DataType::UInt64, false)]))
    }
}
