//! Reading results back: Arrow IPC files zero-copy through a memory map,
//! IPC streams and Parquet files through their readers.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_ipc::convert::fb_to_schema;
use arrow_ipc::reader::{FileDecoder, StreamDecoder, read_footer_length};
use arrow_ipc::{Block, MessageHeader, root_as_footer, root_as_message};
use arrow_schema::{ArrowError, SchemaRef};
use pagemill_mmap::{MmapChoice, OpenOptions, Source};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{Error, ReadError};

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
/// decoded. Every block's position and every buffer's position are checked
/// against the file first, because arrow's decoder slices without checking:
/// a truncated file, or one whose data is damaged, is an error, not a crash.
/// arrow-ipc still panics on some damaged message *headers* (an unknown type
/// code in the schema, a validity bitmap shorter than its struct column),
/// which only a second decoder could rule out; read files you did not write
/// with that in mind.
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
        let schema = Arc::new(fb_to_schema(footer.schema().ok_or_else(|| corrupt("footer has no schema".into()))?));
        let body_end = trailer_start - footer_len;

        let mut decoder = FileDecoder::new(schema.clone(), footer.version());
        for block in footer.dictionaries().iter().flatten() {
            let (data, _) = block_data(&buffer, block, body_end).map_err(corrupt)?;
            decoder.read_dictionary(block, &data).map_err(arrow)?;
        }
        let blocks: Vec<Block> = footer.recordBatches().iter().flatten().copied().collect();
        let mut rows = 0u64;
        for block in &blocks {
            let (_, batch_rows) = block_data(&buffer, block, body_end).map_err(corrupt)?;
            rows = rows.saturating_add(batch_rows);
        }
        Ok(MappedIpcFile { path, buffer, mapped, schema, decoder, blocks, rows })
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
        let (data, _) = block_data(&self.buffer, block, body_end).map_err(corrupt)?;
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
fn block_data(buffer: &Buffer, block: &Block, end: usize) -> Result<(Buffer, u64), String> {
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
    let data = buffer.slice_with_length(offset, total);
    let rows = check_message(&data[..meta], body)?;
    Ok((data, rows))
}

/// Check an IPC message (`meta`: the encapsulated flatbuffer with its prefix)
/// whose body has `body` bytes: every buffer it names must lie in the body.
/// Returns the number of rows of a record batch (0 for other messages).
fn check_message(meta: &[u8], body: usize) -> Result<u64, String> {
    // Since format 0.15 a message starts with 0xFFFFFFFF and a 4-byte length;
    // before, with the length alone.
    let fb = if meta.starts_with(&CONTINUATION) { &meta[8..] } else { &meta[4..] };
    let message = root_as_message(fb).map_err(|e| format!("invalid message header: {e}"))?;
    let (batch, is_records) = match message.header_type() {
        MessageHeader::RecordBatch => (message.header_as_record_batch(), true),
        MessageHeader::DictionaryBatch => (message.header_as_dictionary_batch().and_then(|d| d.data()), false),
        _ => (None, false),
    };
    let Some(batch) = batch else { return Ok(0) };
    for buf in batch.buffers().iter().flatten() {
        let start = u64::try_from(buf.offset()).map_err(|_| "negative buffer offset".to_string())?;
        let len = u64::try_from(buf.length()).map_err(|_| "negative buffer length".to_string())?;
        if start.checked_add(len).is_none_or(|e| e > body as u64) {
            return Err(format!("buffer at {start} of {len} bytes lies outside its {body}-byte message body"));
        }
    }
    Ok(if is_records { u64::try_from(batch.length()).unwrap_or(0) } else { 0 })
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

/// Read the Arrow IPC file, Arrow IPC stream or Parquet file at `path`
/// (recognised by its first bytes, whatever its extension), keeping at most
/// `limit` rows. IPC files are read zero-copy through [`MappedIpcFile`];
/// IPC streams and Parquet decode from the mapped bytes.
pub fn read_results(path: impl AsRef<Path>, limit: Option<usize>) -> Result<Results, Error> {
    let path = path.as_ref();
    let source = OpenOptions::new().mmap(MmapChoice::always()).open(path)?;
    let limit = limit.unwrap_or(usize::MAX);
    let bytes = source.bytes();
    if bytes.starts_with(ARROW_MAGIC) {
        let file = MappedIpcFile::from_source(source)?;
        let mut batches = Vec::new();
        take_rows(file.batches(), limit, &mut batches)?;
        Ok(Results { schema: file.schema().clone(), batches, total_rows: file.num_rows() })
    } else if bytes.starts_with(PARQUET_MAGIC) {
        read_parquet(path, source, limit)
    } else if bytes.starts_with(&CONTINUATION) {
        read_stream(path, source, limit)
    } else {
        Err(Error::UnknownFileType { path: path.to_path_buf() })
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
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from_owner(source)).map_err(err)?;
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
        let body = usize::try_from(message.bodyLength()).map_err(|_| corrupt("negative body length".into()))?;
        if (pos + 8 + meta_len).checked_add(body).is_none_or(|end| end > bytes.len()) {
            return Err(corrupt(format!("message body at byte {pos} runs past the end of the file")));
        }
        total_rows = total_rows.saturating_add(check_message(meta, body).map_err(corrupt)?);
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
