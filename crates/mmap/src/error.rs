use std::fmt;
use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while opening, mapping, flushing or
/// re-checking a [`Source`](crate::Source).
///
/// Each variant names the input it concerns. As is the convention, `Display`
/// does not repeat the underlying operating-system error: it is the
/// [`source`](std::error::Error::source), which callers print after a colon
/// (anyhow's `{:#}` does).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The input could not be opened or its metadata could not be read.
    Open {
        /// The path that was opened.
        path: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },
    /// The path names a directory, which has no bytes to read.
    IsDirectory {
        /// The directory.
        path: PathBuf,
    },
    /// Reading the input into memory failed.
    Read {
        /// The input's display name.
        name: String,
        /// The operating system's reason.
        source: io::Error,
    },
    /// The requested access needs a memory map and none could be made.
    Map {
        /// The input's display name.
        name: String,
        /// The operating system's reason.
        source: io::Error,
    },
    /// The requested operation does not apply to this input (for example a
    /// read-write map of stdin, or writing to a read-only source).
    Unsupported {
        /// The input's display name.
        name: String,
        /// What was asked for.
        what: &'static str,
    },
    /// Flushing a read-write map to disk failed.
    Flush {
        /// The input's display name.
        name: String,
        /// The operating system's reason.
        source: io::Error,
    },
    /// A gzip or zstd input could not be decompressed (corrupt or truncated).
    Decompress {
        /// The input's display name.
        name: String,
        /// `gzip` or `zstd`.
        format: &'static str,
        /// The decoder's reason.
        source: io::Error,
    },
    /// A shared-memory region could not be created, sized or duplicated.
    Shared {
        /// The region's name.
        name: String,
        /// What was being done: `create`, `size`, `resize`, ...
        what: &'static str,
        /// The operating system's reason.
        source: io::Error,
    },
    /// The input changed (size or modification time) while it was in use, so
    /// results computed from it cannot be trusted.
    Changed {
        /// The input's display name.
        name: String,
        /// What changed, in words.
        detail: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Open { path, .. } => write!(f, "cannot open {}", path.display()),
            Error::IsDirectory { path } => write!(f, "{}: is a directory", path.display()),
            Error::Read { name, .. } => write!(f, "cannot read {name}"),
            Error::Map { name, .. } => write!(f, "cannot memory-map {name}"),
            Error::Unsupported { name, what } => write!(f, "{name}: {what} is not supported"),
            Error::Flush { name, .. } => write!(f, "cannot flush {name}"),
            Error::Decompress { name, format, .. } => write!(f, "cannot decompress {name} ({format})"),
            Error::Shared { name, what, .. } => write!(f, "cannot {what} {name}"),
            Error::Changed { name, detail } => {
                write!(f, "{name}: input changed while it was being read ({detail}); results discarded")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Open { source, .. }
            | Error::Read { source, .. }
            | Error::Map { source, .. }
            | Error::Flush { source, .. }
            | Error::Decompress { source, .. }
            | Error::Shared { source, .. } => Some(source),
            Error::IsDirectory { .. } | Error::Unsupported { .. } | Error::Changed { .. } => None,
        }
    }
}
