use std::fmt;

/// What went wrong configuring, feeding or merging a sketch.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// HdrHistogram precision outside 1..=5 significant digits.
    Sigfig(u8),
    /// A value scale of 0.
    Scale,
    /// HyperLogLog `lg_k` outside 4..=21.
    LgK(u8),
    /// An exact limit too small for the HyperLogLog it hands over to.
    ExactLimit {
        /// The limit asked for.
        limit: usize,
        /// The smallest limit allowed for this `lg_k`.
        min: usize,
    },
    /// A NaN or infinite value.
    NotFinite,
    /// A value whose magnitude times the scale does not fit the histogram.
    OutOfRange(f64),
    /// Two sketches with different settings cannot merge.
    ConfigMismatch,
    /// Bytes that are not a sketch serialized by this version (what is wrong).
    Corrupt(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Sigfig(n) => write!(f, "significant digits must be 1 to 5, not {n}"),
            Error::Scale => f.write_str("the value scale must be at least 1"),
            Error::LgK(n) => write!(f, "HyperLogLog lg_k must be 4 to 21, not {n}"),
            Error::ExactLimit { limit, min } => {
                write!(f, "exact distinct limit {limit} is below the minimum {min} for this lg_k")
            }
            Error::NotFinite => f.write_str("value is NaN or infinite"),
            Error::OutOfRange(v) => write!(f, "value {v} is out of the histogram's range at this scale"),
            Error::ConfigMismatch => f.write_str("cannot merge sketches with different settings"),
            Error::Corrupt(what) => write!(f, "not a serialized sketch: {what}"),
        }
    }
}

impl std::error::Error for Error {}
