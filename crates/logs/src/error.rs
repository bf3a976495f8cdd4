use std::fmt;

/// Why a log format, a query or an option is not usable.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A custom format string does not compile.
    Format {
        /// The format string.
        format: String,
        /// Byte offset of the problem in the string.
        at: usize,
        /// What is wrong.
        why: &'static str,
    },
    /// `auto` could not recognise the format from the first lines.
    Detect {
        /// How many non-empty lines were looked at.
        lines: usize,
    },
    /// An option value does not parse (a `--where` filter, a bucket, a field name).
    Option {
        /// Which option.
        option: &'static str,
        /// The value given.
        value: String,
        /// What is wrong.
        why: String,
    },
    /// A `--where` regular expression does not compile.
    Regex(Box<regex::Error>),
    /// Writing rejected lines failed.
    Rejects(pagemill_engine::Error),
    /// An Arrow schema or batch is not a logs partial: the `pagemill.partial`
    /// metadata is missing or names another kind (says which).
    NotAPartial(String),
    /// Partials to merge were made by different queries (says what differs).
    PartialMismatch(String),
    /// A logs partial is damaged: bad metadata, a missing or mistyped
    /// column, an undecodable cell (says where).
    BadPartial(String),
    /// A logs partial written by an earlier pagemill whose query meant
    /// something else than the same query now (says what).
    StalePartial(String),
}

impl Error {
    pub(crate) fn format(format: &str, at: usize, why: &'static str) -> Error {
        Error::Format { format: format.to_string(), at, why }
    }

    pub(crate) fn option(option: &'static str, value: &str, why: impl Into<String>) -> Error {
        Error::Option { option, value: value.to_string(), why: why.into() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Format { format, at, why } => write!(f, "log format {format:?}, at byte {at}: {why}"),
            Error::Detect { lines } => write!(
                f,
                "cannot detect the log format from the first {lines} lines (none of json, timed, main, vhost_combined, \
                 combined, common parses them); give --log-format or a custom format string"
            ),
            Error::Option { option, value, why } => write!(f, "invalid {option} {value:?}: {why}"),
            Error::Regex(e) => {
                // The regex crate draws a syntax error over several lines
                // (the pattern, a caret, the reason): one line, the reason.
                let text = e.to_string();
                let reason = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
                write!(f, "invalid regular expression in a filter: {}", reason.trim().trim_start_matches("error: "))
            }
            Error::Rejects(e) => write!(f, "cannot write rejected lines: {e}"),
            Error::NotAPartial(why) => write!(f, "not a pagemill logs partial: {why}"),
            Error::PartialMismatch(what) => write!(f, "partials differ: {what}"),
            Error::BadPartial(why) => write!(f, "damaged logs partial: {why}"),
            Error::StalePartial(why) => {
                write!(f, "logs partial of an earlier pagemill: {why}; run its inputs again with this version")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // `Display` holds the regex error's reason, and the engine
            // error's own text (whose cause, if any, comes next).
            Error::Regex(_) => None,
            Error::Rejects(e) => std::error::Error::source(e),
            Error::Format { .. }
            | Error::Detect { .. }
            | Error::Option { .. }
            | Error::NotAPartial(_)
            | Error::PartialMismatch(_)
            | Error::BadPartial(_)
            | Error::StalePartial(_) => None,
        }
    }
}
