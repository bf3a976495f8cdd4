//! Reading results back: Arrow IPC files zero-copy through a memory map,
//! IPC streams and Parquet files through their readers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_ipc::convert::fb_to_schema;
use arrow_ipc::reader::{FileDecoder, StreamDecoder, read_footer_length};
use arrow_ipc::{Block, MessageHeader, root_as_footer, root_as_message};
use arrow_schema::{ArrowError, DataType, Field, SchemaRef};
use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use pagemill_mmap::{MmapChoice, OpenOptions, Source};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::file::metadata::ParquetMetaDataReader;

use crate::error::{Error, ReadError};
use crate::schema_check::check_schema;

/// The magic bytes that open and close an Arrow IPC file.
const ARROW_MAGIC: &[u8; 6] = b"ARROW1";
/// The magic bytes that open and close a Parquet file.
const PARQUET_MAGIC: &[u8; 4] = b"PAR1";
/// The marker before each message of an IPC stream (format 0.15 and later).
const CONTINUATION: [u8; 4] = [0xff; 4];

/// An Arrow IPC file read in place: its bytes are memory-mapped and the
/// column buffers of every batch point into the mapping, so opening a large
/// result costs a page fault per touched page, not a copy.
///
/// The mapping lives as long as the `MappedIpcFile` or any batch read from
/// it. As for every [`Source`], the file must not be modified or truncated
/// while it is mapped (see `pagemill_mmap`'s safety contract); files that
/// cannot be mapped are read into memory instead, and batches then point into
/// that copy.
///
/// Batches are decoded on demand ([`MappedIpcFile::batch`]); dictionaries are
/// decoded when the file is opened, and column data is validated as it is
/// decoded. arrow-ipc trusts a file's headers in places (it slices without
/// bounds checks and converts schemas with `panic!` on unknown types), so
/// before it sees them, the schema, every block's and buffer's position and
/// alignment, and every validity bitmap and fixed-width buffer against its
/// column are checked here: a truncated or damaged file is an error, not a
/// crash (tested on every prefix, every single-byte change and, during
/// development, tens of thousands of random corruptions). The buffer check
/// covers the column types pagemill writes (primitives, text, binary,
/// dictionaries, lists, structs); unions, view types and run-end encoding,
/// and compressed files, rely on arrow-ipc alone.
///
/// ```
/// # use std::sync::Arc;
/// use arrow_array::{RecordBatch, UInt64Array};
/// use pagemill_arrow::{MappedIpcFile, OutputFormat, write_batches};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = std::env::temp_dir().join(format!("pagemill-arrow-mapped-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let path = dir.join("n.arrow");
/// let batch = RecordBatch::try_from_iter([("n", Arc::new(UInt64Array::from(vec![1u64, 2, 3])) as _)])?;
/// write_batches(&batch.schema(), &[batch.clone()], OutputFormat::Ipc, Some(&path), &[])?;
///
/// let file = MappedIpcFile::open(&path)?;
/// assert_eq!(file.num_rows(), 3);
/// let back = file.batch(0)?;
/// assert_eq!(back, batch);
/// // The values are read where they lie in the file.
/// let values = back.column(0).to_data().buffers()[0].as_ptr();
/// assert!(file.bytes().as_ptr_range().contains(&values));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct MappedIpcFile {
    path: PathBuf,
    buffer: Buffer,
    mapped: bool,
    schema: SchemaRef,
    decoder: FileDecoder,
    blocks: Vec<Block>,
    rows: u64,
    layouts: Layouts,
}

impl MappedIpcFile {
    /// Map the Arrow IPC file at `path` and read its footer, schema and
    /// dictionaries.
    pub fn open(path: impl AsRef<Path>) -> Result<MappedIpcFile, Error> {
        let source = OpenOptions::new().mmap(MmapChoice::always()).open(path.as_ref())?;
        MappedIpcFile::from_source(source)
    }

    /// Read an Arrow IPC file from a [`Source`] (mapped or not), which the
    /// result owns from now on.
    pub fn from_source(source: Source) -> Result<MappedIpcFile, Error> {
        let path = source_path(&source);
        let mapped = source.is_mapped();
        let corrupt = |what: String| Error::Read { path: path.clone(), source: ReadError::Corrupt(what) };
        let arrow = |e: ArrowError| Error::Read { path: path.clone(), source: ReadError::Arrow(e) };

        let len = source.len();
        // Magic and padding (8), footer length (4), magic (6).
        if len < 18 || !source.bytes().starts_with(ARROW_MAGIC) || !source.bytes().ends_with(ARROW_MAGIC) {
            return Err(corrupt("not an Arrow IPC file (no ARROW1 magic at both ends)".to_string()));
        }
        let buffer = Buffer::from(bytes::Bytes::from_owner(source));
        let trailer_start = len - 10;
        let trailer: [u8; 10] = buffer[trailer_start..].try_into().expect("10 bytes");
        let footer_len = read_footer_length(trailer).map_err(arrow)?;
        if footer_len > trailer_start - 8 {
            return Err(corrupt(format!("footer of {footer_len} bytes does not fit in the file")));
        }
        let footer = root_as_footer(&buffer[trailer_start - footer_len..trailer_start])
            .map_err(|e| corrupt(format!("invalid footer: {e}")))?;
        let fb_schema = footer.schema().ok_or_else(|| corrupt("footer has no schema".into()))?;
        check_schema(fb_schema).map_err(corrupt)?;
        let schema = Arc::new(fb_to_schema(fb_schema));
        let layouts = Layouts::of(fb_schema);
        let body_end = trailer_start - footer_len;

        let mut decoder = FileDecoder::new(schema.clone(), footer.version());
        for block in footer.dictionaries().iter().flatten() {
            let (data, _) = block_data(&buffer, block, body_end, &layouts).map_err(corrupt)?;
            decoder.read_dictionary(block, &data).map_err(arrow)?;
        }
        let blocks: Vec<Block> = footer.recordBatches().iter().flatten().copied().collect();
        let mut rows = 0u64;
        for block in &blocks {
            let (_, batch_rows) = block_data(&buffer, block, body_end, &layouts).map_err(corrupt)?;
            rows = rows.saturating_add(batch_rows);
        }
        Ok(MappedIpcFile { path, buffer, mapped, schema, decoder, blocks, rows, layouts })
    }

    /// The schema, with its metadata.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The number of record batches.
    pub fn num_batches(&self) -> usize {
        self.blocks.len()
    }

    /// The number of rows in all batches, as the batches' headers state them.
    pub fn num_rows(&self) -> u64 {
        self.rows
    }

    /// Decode batch `index`; its column buffers point into the file's bytes
    /// wherever they are aligned (files pagemill writes always are).
    pub fn batch(&self, index: usize) -> Result<RecordBatch, Error> {
        let corrupt = |what: String| Error::Read { path: self.path.clone(), source: ReadError::Corrupt(what) };
        let block = self
            .blocks
            .get(index)
            .ok_or_else(|| corrupt(format!("batch {index} asked for, the file has {}", self.blocks.len())))?;
        let body_end = self.buffer.len(); // Checked against the footer in `from_source`.
        let (data, _) = block_data(&self.buffer, block, body_end, &self.layouts).map_err(corrupt)?;
        self.decoder
            .read_record_batch(block, &data)
            .map_err(|e| Error::Read { path: self.path.clone(), source: ReadError::Arrow(e) })?
            .ok_or_else(|| corrupt(format!("block {index} is not a record batch")))
    }

    /// Decode every batch, in order.
    pub fn batches(&self) -> impl Iterator<Item = Result<RecordBatch, Error>> + '_ {
        (0..self.blocks.len()).map(|i| self.batch(i))
    }

    /// The whole file's bytes (the mapping, when [`is_mapped`](Self::is_mapped)).
    pub fn bytes(&self) -> &[u8] {
        self.buffer.as_slice()
    }

    /// Whether the file is memory-mapped (rather than read into memory).
    pub fn is_mapped(&self) -> bool {
        self.mapped
    }
}

/// The bytes of one IPC block (message and body) and the row count its
/// header states, after checking that the block, and every buffer its header
/// names, lie inside `0..end`: arrow's decoder slices without checking and
/// would panic on a corrupt file.
fn block_data(buffer: &Buffer, block: &Block, end: usize, layouts: &Layouts) -> Result<(Buffer, u64), String> {
    let bad = || {
        format!(
            "block at offset {} (metadata {} bytes, body {} bytes) lies outside the file",
            block.offset(),
            block.metaDataLength(),
            block.bodyLength()
        )
    };
    let offset = usize::try_from(block.offset()).map_err(|_| bad())?;
    let meta = usize::try_from(block.metaDataLength()).map_err(|_| bad())?;
    let body = usize::try_from(block.bodyLength()).map_err(|_| bad())?;
    let total = meta.checked_add(body).ok_or_else(bad)?;
    if meta < 8 || offset.checked_add(total).is_none_or(|e| e > end) {
        return Err(bad());
    }
    // Blocks, and the bodies after their padded metadata, start 8-byte
    // aligned in the format; a shifted body would misalign every buffer.
    if offset % 8 != 0 || meta % 8 != 0 {
        return Err(format!("block at offset {offset} (metadata {meta} bytes) is not 8-byte aligned"));
    }
    let data = buffer.slice_with_length(offset, total);
    let rows = check_message(&data[..meta], &data[meta..], layouts)?;
    Ok((data, rows))
}

/// The most bytes a compressed buffer may declare per compressed byte: above
/// the largest ratio of either codec (zstd's RLE blocks reach about 32,768,
/// LZ4 about 255), so only a damaged length is refused, before arrow
/// allocates that many bytes for it.
const MAX_RATIO: u64 = 65_536;

/// Check an IPC message (`meta`: the encapsulated flatbuffer with its prefix)
/// and its `body`: every buffer it names must lie in the body, and every
/// validity bitmap must cover its column. A compressed batch is checked with
/// the uncompressed lengths its buffers declare, which must be plausible for
/// their compressed sizes. Returns the number of rows of a record batch (0
/// for other messages).
fn check_message(meta: &[u8], body: &[u8], layouts: &Layouts) -> Result<u64, String> {
    // Since format 0.15 a message starts with 0xFFFFFFFF and a 4-byte length;
    // before, with the length alone.
    let fb = if meta.starts_with(&CONTINUATION) { &meta[8..] } else { &meta[4..] };
    let message = root_as_message(fb).map_err(|e| format!("invalid message header: {e}"))?;
    let (batch, columns) = match message.header_type() {
        MessageHeader::RecordBatch => (message.header_as_record_batch(), Some(layouts.fields.as_slice())),
        MessageHeader::DictionaryBatch => {
            let dictionary = message.header_as_dictionary_batch();
            if dictionary.and_then(|d| d.data()).is_none() {
                return Err("dictionary message without data".into());
            }
            let values = dictionary.and_then(|d| layouts.dictionaries.get(&d.id()));
            (dictionary.and_then(|d| d.data()), values.map(std::slice::from_ref))
        }
        _ => (None, None),
    };
    let Some(batch) = batch else { return Ok(0) };
    let compressed = batch.compression().is_some();
    let mut lengths = Vec::new();
    for buf in batch.buffers().iter().flatten() {
        let start = u64::try_from(buf.offset()).map_err(|_| "negative buffer offset".to_string())?;
        let len = u64::try_from(buf.length()).map_err(|_| "negative buffer length".to_string())?;
        if start.checked_add(len).is_none_or(|e| e > body.len() as u64) {
            return Err(format!("buffer at {start} of {len} bytes lies outside its {}-byte message body", body.len()));
        }
        // The format aligns buffers to 8 bytes; arrow-data panics on some
        // misaligned ones instead of copying them.
        if start % 8 != 0 {
            return Err(format!("buffer at {start} is not 8-byte aligned, as the IPC format requires"));
        }
        lengths.push(if compressed {
            uncompressed_length(&body[start as usize..(start + len) as usize])?
        } else {
            len
        });
    }
    if let Some(columns) = columns {
        check_validity(&batch, columns, &lengths)?;
    }
    let is_records = message.header_type() == MessageHeader::RecordBatch;
    Ok(if is_records { u64::try_from(batch.length()).unwrap_or(0) } else { 0 })
}

/// The length of a buffer of a compressed batch once decompressed, from its
/// 8-byte prefix (-1: stored raw after the prefix; an empty buffer has no
/// prefix), refused where no codec could inflate the bytes after it so far.
fn uncompressed_length(buffer: &[u8]) -> Result<u64, String> {
    if buffer.is_empty() {
        return Ok(0);
    }
    let Some((prefix, data)) = buffer.split_first_chunk::<8>() else {
        return Err(format!("a compressed buffer of {} bytes, shorter than its length prefix", buffer.len()));
    };
    match i64::from_le_bytes(*prefix) {
        -1 => Ok(data.len() as u64),
        n if n >= 0 && (n as u64) <= (data.len() as u64).saturating_mul(MAX_RATIO) => Ok(n as u64),
        n => Err(format!("a compressed buffer of {} bytes declares {n} bytes uncompressed", data.len())),
    }
}

/// The column types a file's or stream's messages are decoded with: the
/// schema's fields, and each dictionary's value type by dictionary id.
#[derive(Debug, Default)]
struct Layouts {
    fields: Vec<DataType>,
    dictionaries: HashMap<i64, DataType>,
}

impl Layouts {
    /// The layouts of a schema that [`check_schema`] accepted.
    fn of(schema: arrow_ipc::Schema<'_>) -> Layouts {
        fn dictionaries(field: arrow_ipc::Field<'_>, out: &mut HashMap<i64, DataType>) {
            if let Some(dictionary) = field.dictionary()
                && let DataType::Dictionary(_, value) = Field::from(field).data_type()
            {
                out.insert(dictionary.id(), value.as_ref().clone());
            }
            for child in field.children().into_iter().flatten() {
                dictionaries(child, out);
            }
        }
        let mut layouts = Layouts::default();
        for field in schema.fields().into_iter().flatten() {
            layouts.fields.push(Field::from(field).data_type().clone());
            dictionaries(field, &mut layouts.dictionaries);
        }
        layouts
    }
}

/// Check the buffers of every column against its type: a validity bitmap
/// must hold a bit per row and a fixed-width buffer (values, keys, offsets)
/// a whole number of elements, or arrow-data panics instead of returning an
/// error, as it does for every other inconsistency. Columns are matched to
/// the message's field nodes and buffers in the IPC layout order; at the
/// first type whose layout is not modelled here (unions, views, run-end
/// encoding, list views), the check stops, and arrow-ipc is on its own.
fn check_validity(batch: &arrow_ipc::RecordBatch<'_>, columns: &[DataType], lengths: &[u64]) -> Result<(), String> {
    struct Walk<'a> {
        nodes: Vec<&'a arrow_ipc::FieldNode>,
        /// Each buffer's length (uncompressed).
        buffers: &'a [u64],
        node: usize,
        buffer: usize,
    }
    /// `Ok(false)`: stop checking, the layout is not modelled.
    fn column(w: &mut Walk<'_>, data_type: &DataType) -> Result<bool, String> {
        // The element width of each buffer after the validity bitmap (1: any
        // length), and the child columns.
        let (widths, children): (Vec<usize>, Vec<&DataType>) = match data_type {
            DataType::Boolean | DataType::FixedSizeBinary(_) => (vec![1], vec![]),
            DataType::Dictionary(key, _) => (vec![key.primitive_width().unwrap_or(1)], vec![]),
            DataType::Utf8 | DataType::Binary => (vec![4, 1], vec![]),
            DataType::LargeUtf8 | DataType::LargeBinary => (vec![8, 1], vec![]),
            DataType::List(f) | DataType::Map(f, _) => (vec![4], vec![f.data_type()]),
            DataType::LargeList(f) => (vec![8], vec![f.data_type()]),
            DataType::FixedSizeList(f, _) => (vec![], vec![f.data_type()]),
            DataType::Struct(fields) => (vec![], fields.iter().map(|f| f.data_type()).collect()),
            t if t.is_primitive() => (vec![t.primitive_width().unwrap_or(1)], vec![]),
            _ => return Ok(false),
        };
        let Some(node) = w.nodes.get(w.node) else { return Ok(false) };
        w.node += 1;
        let rows = u64::try_from(node.length()).map_err(|_| "negative column length".to_string())?;
        let Some(&bytes) = w.buffers.get(w.buffer) else { return Ok(false) };
        if node.null_count() != 0 && bytes < rows.div_ceil(8) {
            return Err(format!("a validity bitmap of {bytes} bytes for a column of {rows} rows"));
        }
        let own = widths.len();
        for (i, width) in widths.into_iter().enumerate() {
            let Some(&len) = w.buffers.get(w.buffer + 1 + i) else { return Ok(false) };
            if len % width as u64 != 0 {
                return Err(format!("a buffer of {len} bytes for {width}-byte elements"));
            }
        }
        w.buffer += 1 + own;
        for child in children {
            if !column(w, child)? {
                return Ok(false);
            }
        }
        Ok(true)
    }
    let mut w = Walk {
        nodes: batch.nodes().map(|n| n.iter().collect()).unwrap_or_default(),
        buffers: lengths,
        node: 0,
        buffer: 0,
    };
    for data_type in columns {
        if !column(&mut w, data_type)? {
            break;
        }
    }
    Ok(())
}

/// The path of a source, or its name.
fn source_path(source: &Source) -> PathBuf {
    source.path().map_or_else(|| PathBuf::from(source.name()), Path::to_path_buf)
}

/// A result file read back whole or in part by [`read_results`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Results {
    /// The schema, with its metadata.
    pub schema: SchemaRef,
    /// The batches read: all of them, or the first rows up to a limit.
    pub batches: Vec<RecordBatch>,
    /// The number of rows in the whole file.
    pub total_rows: u64,
}

impl Results {
    /// Every batch read as one batch with the file's schema (and its
    /// metadata), for readers that want one table: a copy when there are
    /// several batches; an empty batch when there are none.
    pub fn concat(&self) -> Result<RecordBatch, ArrowError> {
        match self.batches.as_slice() {
            [] => Ok(RecordBatch::new_empty(self.schema.clone())),
            [one] => RecordBatch::try_new(self.schema.clone(), one.columns().to_vec()),
            many => arrow_select::concat::concat_batches(&self.schema, many),
        }
    }
}

/// Read the Arrow IPC file, Arrow IPC stream or Parquet file at `path`
/// (recognised by its first bytes, whatever its extension), keeping at most
/// `limit` rows. IPC files are read zero-copy through [`MappedIpcFile`];
/// IPC streams and Parquet decode from the mapped bytes.
///
/// IPC files and streams are checked as [`MappedIpcFile`] describes. Of a
/// Parquet file, the footer, the embedded Arrow schema and the column chunk
/// positions are checked; damaged page data can still make the parquet
/// crate panic (its decoders assert on impossible bit widths).
pub fn read_results(path: impl AsRef<Path>, limit: Option<usize>) -> Result<Results, Error> {
    read_results_from(OpenOptions::new().mmap(MmapChoice::always()).open(path.as_ref())?, limit)
}

/// [`read_results`] from a [`Source`] opened by the caller, for example with
/// `MmapChoice::never()` where the file might be truncated while it is read
/// (a mapped file that shrinks kills the process with SIGBUS). Buffers point
/// into the source's bytes, mapped or not.
pub fn read_results_from(source: Source, limit: Option<usize>) -> Result<Results, Error> {
    let path = source_path(&source);
    let limit = limit.unwrap_or(usize::MAX);
    let bytes = source.bytes();
    if bytes.starts_with(ARROW_MAGIC) {
        let file = MappedIpcFile::from_source(source)?;
        let mut batches = Vec::new();
        take_rows(file.batches(), limit, &mut batches)?;
        Ok(Results { schema: file.schema().clone(), batches, total_rows: file.num_rows() })
    } else if bytes.starts_with(PARQUET_MAGIC) {
        read_parquet(&path, source, limit)
    } else if bytes.starts_with(&CONTINUATION) {
        read_stream(&path, source, limit)
    } else {
        Err(Error::UnknownFileType { path })
    }
}

/// Append batches to `out` until `limit` rows, slicing the last one.
fn take_rows(
    batches: impl Iterator<Item = Result<RecordBatch, Error>>,
    limit: usize,
    out: &mut Vec<RecordBatch>,
) -> Result<(), Error> {
    let mut rows = 0;
    for batch in batches {
        if rows >= limit {
            break;
        }
        let batch = batch?;
        let keep = batch.num_rows().min(limit - rows);
        rows += keep;
        out.push(if keep < batch.num_rows() { batch.slice(0, keep) } else { batch });
    }
    Ok(())
}

fn read_parquet(path: &Path, source: Source, limit: usize) -> Result<Results, Error> {
    let err = |e| Error::Read { path: path.to_path_buf(), source: ReadError::Parquet(e) };
    let corrupt = |what: String| Error::Read { path: path.to_path_buf(), source: ReadError::Corrupt(what) };
    let len = source.len() as u64;
    let bytes = bytes::Bytes::from_owner(source);
    let metadata = ParquetMetaDataReader::new().parse_and_finish(&bytes).map_err(err)?;
    // The Arrow schema parquet embeds goes through the same conversion as an
    // IPC schema, which panics on types it does not know: check it first.
    for entry in metadata.file_metadata().key_value_metadata().into_iter().flatten() {
        if entry.key == "ARROW:schema"
            && let Some(encoded) = &entry.value
            && let Ok(message) = BASE64_STANDARD.decode(encoded)
        {
            let fb = if message.len() > 8 && message.starts_with(&CONTINUATION) { &message[8..] } else { &message };
            if let Some(schema) = root_as_message(fb).ok().and_then(|m| m.header_as_schema()) {
                check_schema(schema).map_err(|e| corrupt(format!("embedded Arrow schema: {e}")))?;
            }
        }
    }
    // The parquet reader asserts (panics) on a column chunk with a negative
    // position or size: check them first.
    for (g, group) in metadata.row_groups().iter().enumerate() {
        for column in group.columns() {
            let start = column.dictionary_page_offset().unwrap_or_else(|| column.data_page_offset());
            let size = column.compressed_size();
            let inside = u64::try_from(start).ok().zip(u64::try_from(size).ok()).and_then(|(s, n)| s.checked_add(n));
            if inside.is_none_or(|end| end > len) {
                return Err(corrupt(format!(
                    "row group {g}: column chunk at {start} of {size} bytes lies outside the file"
                )));
            }
        }
    }
    let metadata = ArrowReaderMetadata::try_new(Arc::new(metadata), ArrowReaderOptions::new()).map_err(err)?;
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(bytes, metadata);
    let schema = builder.schema().clone();
    let total_rows = u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    let reader = builder.with_limit(limit).build().map_err(err)?;
    let batches = reader
        .map(|b| b.map_err(|e| Error::Read { path: path.to_path_buf(), source: ReadError::Arrow(e) }))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Results { schema, batches, total_rows })
}

fn read_stream(path: &Path, source: Source, limit: usize) -> Result<Results, Error> {
    let corrupt = |what: String| Error::Read { path: path.to_path_buf(), source: ReadError::Corrupt(what) };
    let arrow = |e| Error::Read { path: path.to_path_buf(), source: ReadError::Arrow(e) };
    // Walk the messages first, checking each one's buffers against its body
    // (arrow's decoder would panic on a corrupt one) and counting rows.
    let bytes = source.bytes();
    let mut pos = 0;
    let mut total_rows = 0u64;
    let mut layouts = Layouts::default();
    while pos < bytes.len() {
        let prefix = bytes.get(pos..pos + 8).ok_or_else(|| corrupt(format!("truncated message at byte {pos}")))?;
        if prefix[..4] != CONTINUATION {
            return Err(corrupt(format!("no message marker at byte {pos}")));
        }
        let meta_len = u32::from_le_bytes(prefix[4..8].try_into().expect("4 bytes")) as usize;
        if meta_len == 0 {
            break; // End of stream.
        }
        let meta = bytes
            .get(pos..pos + 8 + meta_len)
            .ok_or_else(|| corrupt(format!("truncated message header at byte {pos}")))?;
        let message = root_as_message(&meta[8..]).map_err(|e| corrupt(format!("invalid message header: {e}")))?;
        if let Some(schema) = message.header_as_schema() {
            check_schema(schema).map_err(corrupt)?;
            layouts = Layouts::of(schema);
        }
        let body = usize::try_from(message.bodyLength()).map_err(|_| corrupt("negative body length".into()))?;
        if (pos + 8 + meta_len).checked_add(body).is_none_or(|end| end > bytes.len()) {
            return Err(corrupt(format!("message body at byte {pos} runs past the end of the file")));
        }
        let body_bytes = &bytes[pos + 8 + meta_len..pos + 8 + meta_len + body];
        total_rows = total_rows.saturating_add(check_message(meta, body_bytes, &layouts).map_err(corrupt)?);
        pos += 8 + meta_len + body;
    }

    let mut buffer = Buffer::from(bytes::Bytes::from_owner(source));
    let mut decoder = StreamDecoder::new();
    let mut decoded = Vec::new();
    let mut rows = 0;
    // Decode up to the schema at least, then until the limit.
    while !buffer.is_empty() && (decoder.schema().is_none() || rows < limit) {
        if let Some(batch) = decoder.decode(&mut buffer).map_err(arrow)? {
            rows += batch.num_rows();
            decoded.push(Ok(batch));
        }
    }
    if rows < limit {
        decoder.finish().map_err(arrow)?;
    }
    let schema = decoder.schema().ok_or_else(|| corrupt("stream has no schema".into()))?;
    let mut batches = Vec::new();
    take_rows(decoded.into_iter(), limit, &mut batches)?;
    Ok(Results { schema, batches, total_rows })
}
