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
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoInputs => f.write_str("a table needs at least one input"),
            Error::BadHeader(why) => write!(f, "bad header: {why}"),
            Error::Logs(e) => e.fmt(f),
            Error::Features(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Logs(e) => Some(e),
            Error::Features(e) => Some(e),
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
