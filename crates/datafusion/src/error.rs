//! The errors of building a table.

use std::fmt;

/// Why a table could not be built from its inputs.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A table needs at least one input.
    NoInputs,
    /// A delimited table has no header record to name its columns, or
    /// names a column twice.
    BadHeader(String),
    /// A log format could not be resolved or detected.
    Logs(pagemill_logs::Error),
    /// A binary layout is invalid.
    Features(pagemill_features::Error),
    /// A table cannot be sent to another process: an input has no path
    /// (standard input, bytes in memory).
    NotPortable(String),
    /// Bytes given to `from_bytes` are not a table or scan of this version.
    BadPlan(String),
    /// An input named by a table's byte form could not be opened.
    Open(pagemill_mmap::Error),
    /// An input named by a table's byte form is not the file the plan was
    /// made for.
    Changed(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoInputs => f.write_str("a table needs at least one input"),
            Error::BadHeader(why) => write!(f, "bad header: {why}"),
            Error::Logs(e) => e.fmt(f),
            Error::Features(e) => e.fmt(f),
            Error::NotPortable(why) => write!(f, "cannot send the table to another process: {why}"),
            Error::BadPlan(why) => write!(f, "bad table plan: {why}"),
            Error::Open(e) => e.fmt(f),
            Error::Changed(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // Transparent: `Display` is the inner error's own, so its cause
        // comes next (not the inner error again).
        match self {
            Error::Logs(e) => std::error::Error::source(e),
            Error::Features(e) => std::error::Error::source(e),
            Error::Open(e) => std::error::Error::source(e),
            _ => None,
        }
    }
}

impl From<pagemill_logs::Error> for Error {
    fn from(e: pagemill_logs::Error) -> Error {
        Error::Logs(e)
    }
}

impl From<pagemill_features::Error> for Error {
    fn from(e: pagemill_features::Error) -> Error {
        Error::Features(e)
    }
}
