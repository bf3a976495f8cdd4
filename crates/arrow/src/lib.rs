//! Arrow output for pagemill: job results as Arrow
//! [`RecordBatch`](arrow_array::RecordBatch)es, written in every format a data
//! tool is expected to speak, whole or not at all.
//!
//! [`write_batches`] writes batches in an [`OutputFormat`] to a file or to
//! stdout; [`choose_format`] picks the format the way the `pagemill` command
//! line does (an explicit flag, else the output file's extension, else a
//! terminal table). [`WriteOptions`] adds what is rarely needed: IPC
//! compression ([`IpcCompression`]) and the Parquet zstd level. [`write_to`]
//! encodes into any writer.
//!
//! Jobs stamp their result schema with [`attach_metadata`] ([`RunMetadata`]:
//! pagemill version, job and options, each input's path, size and
//! modification time, malformed-record counts), so that a result file says
//! where it came from in any Arrow or Parquet reader.
//!
//! Results read back with [`read_results`] (Arrow IPC file or stream,
//! Parquet, recognised by their first bytes) and [`describe_schema`]; Arrow
//! IPC files are read zero-copy by [`MappedIpcFile`], whose column buffers
//! point into a memory map of the file.
//!
//! With the `polars` cargo feature, `to_polars` turns result batches into a
//! polars `DataFrame` (and `pagemill_arrow::polars` is the matching polars).
//!
//! # Arrow output
//!
//! | format | name | extensions | notes |
//! |---|---|---|---|
//! | terminal table | `table` | | numbers right-aligned, floats rounded per column, nulls as `null` |
//! | CSV / TSV | `csv`, `tsv` | `.csv`, `.tsv` | header row, RFC 4180 quoting; a null is an empty field, an empty string `""` (in a one-column file a null is `""` too: an empty line would be skipped) |
//! | NDJSON | `ndjson`, `jsonl`, `json` | `.ndjson`, `.jsonl`, `.json` | one object per row (arrow-json) |
//! | Arrow IPC file | `arrow`, `ipc` | `.arrow`, `.ipc`, `.feather` | uncompressed by default, so readers can memory-map it |
//! | Arrow IPC stream | `arrow-stream`, `ipc-stream` | `.arrows` | what `-o -` writes to stdout |
//! | Parquet | `parquet` | `.parquet` | zstd, page-level column statistics |
//!
//! Files are written through [`pagemill_engine::AtomicFile`]: into a
//! temporary file in the target's folder, synced, and renamed over the target
//! only when everything was written. An error leaves no temporary file behind
//! and an existing target untouched (so does SIGINT or SIGTERM in the
//! `pagemill` binary, through [`AtomicFile::remove_temporaries`]); a target
//! that is one of the inputs is refused. Binary formats are refused on a
//! terminal.
//!
//! [`AtomicFile::remove_temporaries`]: pagemill_engine::AtomicFile::remove_temporaries
//!
//! Column types follow one convention across jobs: text keys are `Utf8`,
//! the `status` key `UInt16`, integer fields of binary records `Int64` or
//! `UInt64`; counts `UInt64`, statistics `Float64`, times `Timestamp`
//! (microseconds) in `UTC`. No job writes dictionary columns, but the
//! writers take them: an IPC file keeps one dictionary per column, so
//! batches with their own dictionaries are concatenated before an IPC file
//! is written; the stream and Parquet writers take them as they are.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use arrow_array::{RecordBatch, StringArray, UInt64Array};
//! use pagemill_arrow::{OutputFormat, write_batches};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let batch = RecordBatch::try_from_iter([
//!     ("file", Arc::new(StringArray::from(vec!["a.log", "b.log"])) as _),
//!     ("records", Arc::new(UInt64Array::from(vec![3u64, 12])) as _),
//! ])?;
//! let dir = std::env::temp_dir().join(format!("pagemill-arrow-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let path = dir.join("counts.parquet");
//!
//! write_batches(&batch.schema(), &[batch], OutputFormat::Parquet, Some(&path), &[])?;
//! assert_eq!(&std::fs::read(&path)?[..4], b"PAR1");
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```
//!
//! `examples/interop_sample.rs` writes a result with every column type jobs
//! produce in every format; `scripts/interop.sh` checks it, and the jobs'
//! output, with pyarrow, polars and duckdb.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "polars")]
mod dataframe;
mod error;
mod format;
mod metadata;
mod read;
mod schema_check;
mod table;
mod write;

#[cfg(feature = "polars")]
pub use crate::dataframe::to_polars;
pub use crate::error::{Error, ReadError};
pub use crate::format::{OutputFormat, choose_format};
pub use crate::metadata::{
    InputMetadata, KEY_INPUTS, KEY_JOB, KEY_MALFORMED, KEY_OPTIONS, KEY_VERSION, RunMetadata, attach_metadata,
};
pub use crate::read::{MappedIpcFile, Results, read_results, read_results_from};
pub use crate::table::{describe_schema, terminal_safe};
pub use crate::write::{IpcCompression, WriteOptions, write_batches, write_batches_with, write_to};

// The Arrow crates results are built from, re-exported so that users need not
// match their versions by hand.
pub use arrow_array;
pub use arrow_schema;
/// The polars [`to_polars`] builds DataFrames of (feature `polars`).
#[cfg(feature = "polars")]
pub use polars;
