use std::fmt;
use std::io;
use std::path::PathBuf;

use arrow_schema::ArrowError;
use parquet::errors::ParquetError;

/// Everything that can go wrong while writing or reading results.
///
/// `Display` says what failed and where, in one line; the underlying cause is
/// the [`source`](std::error::Error::source), which callers print after a
/// colon (anyhow's `{:#}` does).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An output format name that pagemill does not know.
    UnknownFormat {
        /// The name given.
        name: String,
    },
    /// An IPC compression name that pagemill does not know.
    UnknownCompression {
        /// The name given.
        name: String,
    },
    /// A batch does not fit the schema it is written under (other columns,
    /// types or lengths).
    Schema {
        /// Index of the offending batch.
        batch: usize,
        /// Arrow's description of the mismatch.
        source: ArrowError,
    },
    /// A binary format (Arrow IPC, Parquet) would be written to a terminal.
    BinaryToTerminal {
        /// The format asked for.
        format: crate::OutputFormat,
    },
    /// The output file could not be created, synced or renamed, or it is one
    /// of the inputs.
    Output(pagemill_engine::Error),
    /// Encoding or writing Arrow data (IPC, CSV, NDJSON) failed.
    Arrow {
        /// Where the data was going (a path or `<stdout>`).
        target: String,
        /// Arrow's reason.
        source: ArrowError,
    },
    /// Encoding or writing Parquet failed.
    Parquet {
        /// Where the data was going (a path or `<stdout>`).
        target: String,
        /// Parquet's reason.
        source: ParquetError,
    },
    /// Writing the terminal table or flushing the output failed.
    Io {
        /// Where the data was going (a path or `<stdout>`).
        target: String,
        /// The operating system's reason.
        source: io::Error,
    },
    /// A result file could not be opened or mapped.
    Open(pagemill_mmap::Error),
    /// A file is not a valid Arrow IPC or Parquet file.
    Read {
        /// The file.
        path: PathBuf,
        /// Why it could not be decoded.
        source: ReadError,
    },
    /// A file is neither an Arrow IPC file nor a Parquet file.
    UnknownFileType {
        /// The file.
        path: PathBuf,
    },
    /// [`to_polars`](crate::to_polars) was given no batches, and so no
    /// schema (feature `polars`).
    #[cfg(feature = "polars")]
    NoBatches,
    /// polars could not read the batches (feature `polars`).
    #[cfg(feature = "polars")]
    Polars(polars::prelude::PolarsError),
}

/// The decoder's reason for rejecting a result file.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReadError {
    /// The file's structure is broken (truncated, bad footer, block outside
    /// the file).
    Corrupt(String),
    /// Arrow's IPC decoder rejected the file.
    Arrow(ArrowError),
    /// Parquet's reader rejected the file.
    Parquet(ParquetError),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Corrupt(what) => write!(f, "corrupt file: {what}"),
            ReadError::Arrow(e) => e.fmt(f),
            ReadError::Parquet(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // Transparent: `Display` is the inner error's own.
            ReadError::Arrow(e) => e.source(),
            ReadError::Parquet(e) => e.source(),
            ReadError::Corrupt(_) => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownFormat { name } => write!(
                f,
                "unknown output format '{name}' (expected one of: table, csv, tsv, ndjson, arrow, arrow-stream, parquet)"
            ),
            Error::UnknownCompression { name } => {
                write!(f, "unknown IPC compression '{name}' (expected one of: none, lz4, zstd)")
            }
            Error::Schema { batch, .. } => write!(f, "result batch {batch} does not match the result schema"),
            Error::BinaryToTerminal { format } => {
                write!(f, "refusing to write binary {format} output to a terminal; redirect stdout or use -o FILE")
            }
            Error::Output(e) => e.fmt(f),
            Error::Arrow { target, .. } | Error::Parquet { target, .. } | Error::Io { target, .. } => {
                write!(f, "cannot write output {target}")
            }
            Error::Open(e) => e.fmt(f),
            Error::Read { path, .. } => write!(f, "cannot read {}", path.display()),
            Error::UnknownFileType { path } => {
                write!(f, "{}: not an Arrow IPC file or a Parquet file", path.display())
            }
            #[cfg(feature = "polars")]
            Error::NoBatches => write!(f, "no record batches to convert to a polars DataFrame (no schema)"),
            #[cfg(feature = "polars")]
            Error::Polars(_) => write!(f, "cannot convert results to a polars DataFrame"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // An arrow or parquet error that wraps another (an I/O error)
            // also prints it: its cause alone, so the chain says it once.
            Error::Schema { source, .. } | Error::Arrow { source, .. } => Some(source.source().unwrap_or(source)),
            Error::Parquet { source, .. } => Some(source.source().unwrap_or(source)),
            Error::Io { source, .. } => Some(source),
            Error::Read { source, .. } => Some(source),
            // Transparent: `Display` is the inner error's own.
            Error::Output(e) => e.source(),
            Error::Open(e) => e.source(),
            Error::UnknownFormat { .. } | Error::UnknownCompression { .. } | Error::BinaryToTerminal { .. } => None,
            Error::UnknownFileType { .. } => None,
            #[cfg(feature = "polars")]
            Error::NoBatches => None,
            #[cfg(feature = "polars")]
            Error::Polars(e) => Some(e),
        }
    }
}

impl From<pagemill_engine::Error> for Error {
    fn from(e: pagemill_engine::Error) -> Error {
        Error::Output(e)
    }
}

impl From<pagemill_mmap::Error> for Error {
    fn from(e: pagemill_mmap::Error) -> Error {
        Error::Open(e)
    }
}
