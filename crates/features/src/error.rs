use std::fmt;

use crate::field::FieldError;

/// Why a features job could not be set up.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A column name that is not in the header (or the binary layout).
    UnknownColumn {
        /// The name asked for.
        column: String,
        /// The columns there are.
        available: Vec<String>,
    },
    /// A column name the header holds more than once.
    AmbiguousColumn {
        /// The name asked for.
        column: String,
        /// Its 0-based positions in the header.
        positions: Vec<usize>,
    },
    /// A 0-based column index past the last column.
    IndexOutOfRange {
        /// The index asked for.
        index: usize,
        /// The number of columns.
        width: usize,
    },
    /// An input's header differs from the first input's.
    HeaderMismatch {
        /// The input whose header differs.
        input: String,
        /// The first input's header.
        expected: Vec<String>,
        /// This input's header.
        found: Vec<String>,
    },
    /// An input's header (or first record) cannot be split into fields.
    BadHeader {
        /// The input.
        input: String,
        /// What is wrong with it.
        reason: FieldError,
    },
    /// No record ends within the first `limit` bytes of an input, so its
    /// header (or number of columns) cannot be read.
    FirstRecordTooLong {
        /// The input.
        input: String,
        /// The bytes read.
        limit: usize,
    },
    /// Names are used but no input has a header to look them up in.
    NoHeader,
    /// No `key` column was given.
    NoKey,
    /// A binary field declaration that does not parse or does not fit.
    BadField {
        /// The declaration.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An aggregate name that is not known.
    BadAgg(String),
    /// A byte-string field used as a numeric value.
    NotNumeric(String),
    /// A binary float field used as a key.
    FloatKey(String),
    /// Two output columns would have the same name.
    DuplicateColumn(String),
    /// Invalid sketch settings.
    Sketch(pagemill_sketch::Error),
    /// A delimiter or quote byte that cannot work: a line end, or the same
    /// byte as the other.
    BadDialect(String),
    /// A batch that is not a features partial result (why).
    NotAPartial(String),
    /// Partial results computed with different specs (the first difference).
    PartialMismatch(String),
    /// A features partial result whose columns or state bytes are damaged.
    BadPartial(String),
    /// An input's header could not be read (a streamed compressed input
    /// that fails to decode).
    Input(pagemill_mmap::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownColumn { column, available } if available.is_empty() => {
                write!(f, "unknown column '{column}': no input has a header (are they empty?)")
            }
            Error::AmbiguousColumn { column, positions } => write!(
                f,
                "column '{column}' appears {} times in the header (0-based indexes {}): name the one meant by its index \
                 (its output columns are then named '{column}_INDEX_...')",
                positions.len(),
                positions.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            ),
            Error::UnknownColumn { column, available } => {
                write!(f, "unknown column '{column}' (columns: {})", available.join(", "))?;
                // One column whose name holds a usual delimiter: the file
                // is most likely split by another one.
                if let [only] = &available[..]
                    && let Some(d) = ['\t', ';', '|', ','].into_iter().find(|&d| only.contains(d))
                {
                    let name = if d == '\t' { "tab".to_string() } else { d.to_string() };
                    write!(f, "; the header has one column: is the delimiter {name}?")?;
                }
                Ok(())
            }
            Error::IndexOutOfRange { index, width: 0 } => {
                let index = if *index == usize::MAX { "too large".to_string() } else { index.to_string() };
                write!(f, "column index {index}: no input has a record to count columns in (are they empty?)")
            }
            Error::IndexOutOfRange { index: usize::MAX, width } => {
                write!(f, "column index too large: records have {width} columns (0 to {})", width.saturating_sub(1))
            }
            Error::IndexOutOfRange { index, width } => {
                write!(
                    f,
                    "column index {index} is out of range: records have {width} columns (0 to {})",
                    width.saturating_sub(1)
                )
            }
            Error::HeaderMismatch { input, expected, found } => write!(
                f,
                "{input}: header differs from the first input's: expected [{}], found [{}]",
                expected.join(", "),
                found.join(", ")
            ),
            Error::BadHeader { input, reason } => write!(f, "{input}: cannot read the header: {reason}"),
            Error::FirstRecordTooLong { input, limit } => write!(
                f,
                "{input}: no record ends in its first {} MiB: cannot read its header or number of columns",
                limit >> 20
            ),
            Error::BadDialect(why) => write!(f, "invalid delimited-text dialect: {why}"),
            Error::NotAPartial(why) => write!(f, "not a features partial result: {why}"),
            Error::PartialMismatch(diff) => write!(f, "partial results of different jobs cannot merge: {diff}"),
            Error::BadPartial(why) => write!(f, "damaged features partial result: {why}"),
            Error::NoHeader => {
                f.write_str("columns are named but no input has a header (use 0-based indices with --no-header)")
            }
            Error::NoKey => f.write_str("at least one key column is needed"),
            Error::BadField { spec, reason } => write!(f, "bad field '{spec}': {reason}"),
            Error::BadAgg(name) => write!(
                f,
                "unknown aggregate '{name}' (expected count, missing, sum, min, max, mean, var, std, first, last, quantiles or pNN.N, a percentage from 0 to 100)"
            ),
            Error::NotNumeric(name) => write!(f, "field '{name}' is a byte string and cannot be a numeric value"),
            Error::FloatKey(name) => {
                write!(f, "field '{name}' is a float and cannot be a key (group by integer or byte-string fields)")
            }
            Error::DuplicateColumn(name) => write!(
                f,
                "two output columns would be named '{name}' (a column named twice, or a name the header \
                 repeats, which is suffixed with its index, meeting another column's name)"
            ),
            Error::Sketch(e) => e.fmt(f),
            Error::Input(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // Transparent: `Display` is the inner error's own (a
            // `BadHeader`'s shows its reason), so a chain printed with
            // its sources says each cause once.
            Error::Sketch(e) => e.source(),
            Error::Input(e) => e.source(),
            _ => None,
        }
    }
}

impl From<pagemill_sketch::Error> for Error {
    fn from(e: pagemill_sketch::Error) -> Error {
        Error::Sketch(e)
    }
}
