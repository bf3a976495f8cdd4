//! Arrow output for pagemill: job results as Arrow [`RecordBatch`](arrow_array::RecordBatch)es, written
//! in every format a data tool is expected to speak, whole or not at all.
//!
//! [`write_batches`] writes batches in an [`OutputFormat`] to a file or to
//! stdout; [`choose_format`] picks the format the way the `pagemill` command
//! line does (an explicit flag, else the output file's extension, else a
//! terminal table). [`WriteOptions`] adds what is rarely needed: IPC
//! compression ([`IpcCompression`]) and the Parquet zstd level. [`write_to`]
//! encodes into any writer.
//!
//! # Arrow output
//!
//! | format | name | extensions | notes |
//! |---|---|---|---|
//! | terminal table | `table` | | numbers right-aligned, floats rounded per column, nulls as `null` |
//! | CSV / TSV | `csv`, `tsv` | `.csv`, `.tsv` | header row, RFC 4180 quoting (arrow-csv) |
//! | NDJSON | `ndjson`, `jsonl`, `json` | `.ndjson`, `.jsonl`, `.json` | one object per row (arrow-json) |
//! | Arrow IPC file | `arrow`, `ipc` | `.arrow`, `.ipc`, `.feather` | uncompressed by default, so readers can memory-map it |
//! | Arrow IPC stream | `arrow-stream`, `ipc-stream` | `.arrows` | what `-o -` writes to stdout |
//! | Parquet | `parquet` | `.parquet` | zstd, page-level column statistics |
//!
//! Files are written through [`pagemill_engine::AtomicFile`]: into a
//! temporary file in the target's folder, synced, and renamed over the target
//! only when everything was written. An error leaves no temporary file behind
//! and an existing target untouched; a target that is one of the inputs is
//! refused. Binary formats are refused on a terminal.
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
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod error;
mod format;
mod table;
mod write;

pub use crate::error::{Error, ReadError};
pub use crate::format::{OutputFormat, choose_format};
pub use crate::write::{IpcCompression, WriteOptions, write_batches, write_batches_with, write_to};

// The Arrow crates results are built from, re-exported so that users need not
// match their versions by hand.
pub use arrow_array;
pub use arrow_schema;
