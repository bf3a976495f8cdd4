use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use crate::{Csv, CsvRecords, Fixed, FixedRecords, Lines, LinesRecords, Record, RecordFormat};

/// One of the built-in record formats, chosen at run time.
///
/// Parses from `lines`, `csv` or `fixed:N` (N bytes per record).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnyFormat {
    /// [`Lines`].
    Lines(Lines),
    /// [`Csv`].
    Csv(Csv),
    /// [`Fixed`].
    Fixed(Fixed),
}

impl Default for AnyFormat {
    fn default() -> AnyFormat {
        AnyFormat::Lines(Lines)
    }
}

impl fmt::Display for AnyFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnyFormat::Lines(_) => f.write_str("lines"),
            AnyFormat::Csv(_) => f.write_str("csv"),
            AnyFormat::Fixed(x) => write!(f, "fixed:{}", x.size()),
        }
    }
}

/// The error for a record-format name that does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseFormatError(String);

impl fmt::Display for ParseFormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown record format '{}' (expected lines, csv or fixed:N with N >= 1)", self.0)
    }
}

impl std::error::Error for ParseFormatError {}

impl FromStr for AnyFormat {
    type Err = ParseFormatError;

    fn from_str(s: &str) -> Result<AnyFormat, ParseFormatError> {
        match s {
            "lines" => Ok(AnyFormat::Lines(Lines)),
            "csv" => Ok(AnyFormat::Csv(Csv::new())),
            _ => match s.strip_prefix("fixed:").map(str::parse::<usize>) {
                Some(Ok(n)) if n >= 1 => Ok(AnyFormat::Fixed(Fixed::new(n))),
                _ => Err(ParseFormatError(s.to_string())),
            },
        }
    }
}

/// Iterator over the records of an [`AnyFormat`] chunk.
#[derive(Debug)]
pub enum AnyRecords<'a> {
    /// Lines.
    Lines(LinesRecords<'a>),
    /// CSV.
    Csv(CsvRecords<'a>),
    /// Fixed-width.
    Fixed(FixedRecords<'a>),
}

impl<'a> Iterator for AnyRecords<'a> {
    type Item = Record<'a>;

    #[inline]
    fn next(&mut self) -> Option<Record<'a>> {
        match self {
            AnyRecords::Lines(it) => it.next(),
            AnyRecords::Csv(it) => it.next(),
            AnyRecords::Fixed(it) => it.next(),
        }
    }
}

impl RecordFormat for AnyFormat {
    type Records<'a> = AnyRecords<'a>;

    fn next_boundary(&self, bytes: &[u8], pos: usize) -> usize {
        match self {
            AnyFormat::Lines(f) => f.next_boundary(bytes, pos),
            AnyFormat::Csv(f) => f.next_boundary(bytes, pos),
            AnyFormat::Fixed(f) => f.next_boundary(bytes, pos),
        }
    }

    fn plan(&self, bytes: &[u8], target: usize) -> Vec<Range<usize>> {
        match self {
            AnyFormat::Lines(f) => f.plan(bytes, target),
            AnyFormat::Csv(f) => f.plan(bytes, target),
            AnyFormat::Fixed(f) => f.plan(bytes, target),
        }
    }

    fn complete_prefix(&self, bytes: &[u8]) -> usize {
        match self {
            AnyFormat::Lines(f) => f.complete_prefix(bytes),
            AnyFormat::Csv(f) => f.complete_prefix(bytes),
            AnyFormat::Fixed(f) => f.complete_prefix(bytes),
        }
    }

    fn records<'a>(&'a self, chunk: &'a [u8]) -> AnyRecords<'a> {
        match self {
            AnyFormat::Lines(f) => AnyRecords::Lines(f.records(chunk)),
            AnyFormat::Csv(f) => AnyRecords::Csv(f.records(chunk)),
            AnyFormat::Fixed(f) => AnyRecords::Fixed(f.records(chunk)),
        }
    }

    fn count_records(&self, chunk: &[u8]) -> u64 {
        match self {
            AnyFormat::Lines(f) => f.count_records(chunk),
            AnyFormat::Csv(f) => f.count_records(chunk),
            AnyFormat::Fixed(f) => f.count_records(chunk),
        }
    }

    fn has_lines(&self) -> bool {
        match self {
            AnyFormat::Lines(f) => f.has_lines(),
            AnyFormat::Csv(f) => f.has_lines(),
            AnyFormat::Fixed(f) => f.has_lines(),
        }
    }

    fn count_records_checked(&self, chunk: &[u8]) -> (u64, Option<usize>) {
        match self {
            AnyFormat::Lines(f) => f.count_records_checked(chunk),
            AnyFormat::Csv(f) => f.count_records_checked(chunk),
            AnyFormat::Fixed(f) => f.count_records_checked(chunk),
        }
    }
}
