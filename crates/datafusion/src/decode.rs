//! What every table shares: turning the records of one chunk into Arrow
//! record batches of the projected columns, pre-filtered.

use std::fmt;
use std::sync::Arc;

use arrow_array::builder::{
    Float32Builder, Float64Builder, Int8Builder, Int16Builder, Int32Builder, Int64Builder, TimestampMicrosecondBuilder,
    UInt8Builder, UInt16Builder, UInt32Builder, UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_buffer::Buffer;
use arrow_schema::{DataType, SchemaRef, TimeUnit};
use pagemill_engine::Malformed;
use pagemill_split::{AnyFormat, Record, RecordFormat};

use crate::column::StrCol;
use crate::filter::{Prefilter, Value};

/// One parsed field of the row being built.
#[derive(Clone, Debug)]
pub(crate) enum Cell<'a> {
    /// A value as parsed; text that stands in the chunk as it is becomes a
    /// view into it.
    Val(Value<'a>),
    /// Text that had to be unescaped (or repaired).
    Text(String),
}

impl Cell<'_> {
    fn value(&self) -> Value<'_> {
        match self {
            Cell::Val(v) => *v,
            Cell::Text(s) => Value::Str(s.as_bytes()),
        }
    }
}

/// Buffers a decoder reuses from record to record of a chunk.
#[derive(Debug, Default)]
pub(crate) struct Scratch<'a> {
    /// The fields of a delimited record.
    pub(crate) fields: Vec<pagemill_features::RawField<'a>>,
    /// An unescaped field.
    pub(crate) bytes: Vec<u8>,
    /// The parser of a log's lines, made by the chunk's first: it learns
    /// the lines' layout (a JSON log's member leads) as the logs job's does.
    pub(crate) log_parser: Option<pagemill_logs::LineParser<'a>>,
}

/// What a table's records look like: its columns, how records are cut,
/// and whether each input starts with a header record.
#[derive(Clone, Debug)]
pub(crate) struct Shape {
    pub(crate) schema: SchemaRef,
    pub(crate) format: AnyFormat,
    pub(crate) header: bool,
}

/// How one record of one kind of input becomes the projected fields of a row.
pub(crate) trait Decoder: fmt::Debug + Send + Sync + 'static {
    /// Parse `rec` (offset relative to the chunk) into `row`: one cell per
    /// entry of `projection` (schema column indices), in that order. A
    /// record that cannot make a row is reported to `malformed` and gives
    /// false; a field that does not parse but leaves the row readable may
    /// be reported and given as null.
    fn parse<'a>(
        &'a self,
        rec: Record<'a>,
        projection: &[usize],
        row: &mut Vec<Cell<'a>>,
        scratch: &mut Scratch<'a>,
        malformed: &mut Malformed,
    ) -> bool;

    /// The records `rec` is to be read as, if not itself: a delimited
    /// record that a stray quote made of several lines is read line by
    /// line (see `pagemill_features::stray_quote_lines`). `None` for most
    /// records, and every record of other kinds.
    fn recut<'a>(&self, _rec: &Record<'a>) -> Option<Vec<Record<'a>>> {
        None
    }
}

/// What one chunk's decoding needs besides the decoder.
#[derive(Debug)]
pub(crate) struct ChunkJob<'a> {
    /// How the chunk's records are cut.
    pub(crate) format: &'a AnyFormat,
    /// The chunk's bytes (whole records).
    pub(crate) bytes: &'a [u8],
    /// The same bytes as an Arrow buffer, for views.
    pub(crate) buffer: &'a Buffer,
    /// Skip the chunk's first record (an input's header).
    pub(crate) skip_first: bool,
    /// Schema column indices to build, in output order.
    pub(crate) projection: &'a [usize],
    /// The projected schema.
    pub(crate) schema: &'a SchemaRef,
    pub(crate) filter: &'a Prefilter,
    pub(crate) batch_size: usize,
    /// At most this many rows.
    pub(crate) limit: usize,
}

/// A column under construction.
#[derive(Debug)]
enum Col {
    Text(StrCol),
    I8(Int8Builder),
    I16(Int16Builder),
    I32(Int32Builder),
    I64(Int64Builder),
    U8(UInt8Builder),
    U16(UInt16Builder),
    U32(UInt32Builder),
    U64(UInt64Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    Micros(TimestampMicrosecondBuilder, Option<Arc<str>>),
}

impl Col {
    fn new(t: &DataType) -> Col {
        match t {
            DataType::Int8 => Col::I8(Int8Builder::new()),
            DataType::Int16 => Col::I16(Int16Builder::new()),
            DataType::Int32 => Col::I32(Int32Builder::new()),
            DataType::Int64 => Col::I64(Int64Builder::new()),
            DataType::UInt8 => Col::U8(UInt8Builder::new()),
            DataType::UInt16 => Col::U16(UInt16Builder::new()),
            DataType::UInt32 => Col::U32(UInt32Builder::new()),
            DataType::UInt64 => Col::U64(UInt64Builder::new()),
            DataType::Float32 => Col::F32(Float32Builder::new()),
            DataType::Float64 => Col::F64(Float64Builder::new()),
            DataType::Timestamp(TimeUnit::Microsecond, tz) => {
                Col::Micros(TimestampMicrosecondBuilder::new(), tz.clone())
            }
            // Every table's text columns are Utf8View (see the schemas).
            _ => Col::Text(StrCol::new()),
        }
    }

    /// Append `cell`. Decoders give each column values of its own type;
    /// anything else (which they never give) becomes null.
    #[inline]
    fn push(&mut self, cell: Cell<'_>, chunk: &[u8]) {
        match (self, cell) {
            (Col::Text(c), Cell::Text(s)) => c.owned(s),
            (Col::Text(c), Cell::Val(Value::Str(s))) => c.view(chunk, s),
            (Col::Text(c), Cell::Val(_)) => c.null(),
            (col, Cell::Val(v)) => col.push_number(v),
            (col, Cell::Text(_)) => col.push_number(Value::Null),
        }
    }

    #[inline]
    fn push_number(&mut self, v: Value<'_>) {
        macro_rules! int {
            ($b:expr, $t:ty) => {
                $b.append_option(match v {
                    Value::Int(x) => <$t>::try_from(x).ok(),
                    Value::UInt(x) => <$t>::try_from(x).ok(),
                    _ => None,
                })
            };
        }
        match self {
            Col::I8(b) => int!(b, i8),
            Col::I16(b) => int!(b, i16),
            Col::I32(b) => int!(b, i32),
            Col::I64(b) => int!(b, i64),
            Col::U8(b) => int!(b, u8),
            Col::U16(b) => int!(b, u16),
            Col::U32(b) => int!(b, u32),
            Col::U64(b) => int!(b, u64),
            Col::Micros(b, _) => int!(b, i64),
            Col::F32(b) => b.append_option(match v {
                Value::Float(x) => Some(x as f32),
                _ => None,
            }),
            Col::F64(b) => b.append_option(match v {
                Value::Float(x) => Some(x),
                Value::Int(x) => Some(x as f64),
                Value::UInt(x) => Some(x as f64),
                _ => None,
            }),
            Col::Text(c) => c.null(),
        }
    }

    fn finish(&mut self, buffer: &Buffer) -> ArrayRef {
        match self {
            Col::Text(c) => c.finish(buffer),
            Col::I8(b) => Arc::new(b.finish()),
            Col::I16(b) => Arc::new(b.finish()),
            Col::I32(b) => Arc::new(b.finish()),
            Col::I64(b) => Arc::new(b.finish()),
            Col::U8(b) => Arc::new(b.finish()),
            Col::U16(b) => Arc::new(b.finish()),
            Col::U32(b) => Arc::new(b.finish()),
            Col::U64(b) => Arc::new(b.finish()),
            Col::F32(b) => Arc::new(b.finish()),
            Col::F64(b) => Arc::new(b.finish()),
            Col::Micros(b, tz) => Arc::new(b.finish().with_timezone_opt(tz.clone())),
        }
    }
}

/// Decode the records of one chunk into batches of at most `batch_size`
/// rows, appended to `out`; returns the number of rows.
pub(crate) fn decode_chunk<'a>(
    decoder: &'a dyn Decoder,
    job: &ChunkJob<'a>,
    out: &mut Vec<RecordBatch>,
    malformed: &mut Malformed,
) -> datafusion::common::Result<usize> {
    let mut cols: Vec<Col> = job.schema.fields().iter().map(|f| Col::new(f.data_type())).collect();
    let mut row: Vec<Cell<'_>> = Vec::with_capacity(job.projection.len());
    let mut scratch = Scratch::default();
    let filtered = !job.filter.is_empty();
    let mut rows = 0usize;
    let mut in_batch = 0usize;
    let mut records = job.format.records(job.bytes);
    if job.skip_first {
        records.next();
    }
    let flush = |cols: &mut Vec<Col>, n: usize, out: &mut Vec<RecordBatch>| -> datafusion::common::Result<()> {
        let arrays: Vec<ArrayRef> = cols.iter_mut().map(|c| c.finish(job.buffer)).collect();
        let options = RecordBatchOptions::new().with_row_count(Some(n));
        out.push(RecordBatch::try_new_with_options(Arc::clone(job.schema), arrays, &options)?);
        Ok(())
    };
    let mut lines = Vec::new();
    'records: for rec in records {
        // Most records are read as they are; one a stray quote joined, as
        // its lines.
        lines.clear();
        match decoder.recut(&rec) {
            Some(recut) => lines.extend(recut),
            None => lines.push(rec),
        }
        for rec in lines.drain(..) {
            if rows >= job.limit {
                break 'records;
            }
            row.clear();
            if !decoder.parse(rec, job.projection, &mut row, &mut scratch, malformed) {
                continue;
            }
            if filtered && !row.iter().zip(job.projection).all(|(cell, &c)| job.filter.keep(c, cell.value())) {
                continue;
            }
            for (col, cell) in cols.iter_mut().zip(row.drain(..)) {
                col.push(cell, job.bytes);
            }
            rows += 1;
            in_batch += 1;
            if in_batch == job.batch_size {
                flush(&mut cols, in_batch, out)?;
                in_batch = 0;
            }
        }
    }
    if in_batch > 0 {
        flush(&mut cols, in_batch, out)?;
    }
    Ok(rows)
}

/// Text of a field: a view when it can stand as it is (valid UTF-8 is
/// checked when the column is finished), else the decoded text.
#[inline]
pub(crate) fn text<'a>(raw: &'a [u8], needs_decoding: bool, decode: impl FnOnce(&[u8]) -> String) -> Cell<'a> {
    if needs_decoding { Cell::Text(decode(raw)) } else { Cell::Val(Value::Str(raw)) }
}
