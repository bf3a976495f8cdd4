//! What a features job reads and computes: dialects, binary layouts,
//! aggregates and the spec that ties them together.

use std::fmt;
use std::str::FromStr;

use pagemill_sketch::{DistinctConfig, QuantileConfig};

use crate::error::Error;

/// How delimited text is written: delimiter, quoting, header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dialect {
    pub(crate) delimiter: u8,
    pub(crate) quote: Option<u8>,
    pub(crate) header: bool,
}

impl Default for Dialect {
    fn default() -> Dialect {
        Dialect::csv()
    }
}

impl Dialect {
    /// Comma-separated, `"`-quoted (RFC 4180), with a header.
    pub fn csv() -> Dialect {
        Dialect { delimiter: b',', quote: Some(b'"'), header: true }
    }

    /// Tab-separated, `"`-quoted, with a header.
    pub fn tsv() -> Dialect {
        Dialect { delimiter: b'\t', ..Dialect::csv() }
    }

    /// Use `delimiter` between fields.
    pub fn delimiter(mut self, delimiter: u8) -> Dialect {
        self.delimiter = delimiter;
        self
    }

    /// Quote fields with `quote`, or not at all (`None`: records are plain
    /// lines and quotes are ordinary bytes).
    pub fn quote(mut self, quote: Option<u8>) -> Dialect {
        self.quote = quote;
        self
    }

    /// Whether the first record of each input is a header.
    pub fn header(mut self, header: bool) -> Dialect {
        self.header = header;
        self
    }

    /// The delimiter.
    pub fn get_delimiter(&self) -> u8 {
        self.delimiter
    }

    /// The quote, if fields may be quoted.
    pub fn get_quote(&self) -> Option<u8> {
        self.quote
    }

    /// Whether the first record of each input is a header.
    pub fn has_header(&self) -> bool {
        self.header
    }

    /// Refuses a delimiter or quote that is a line end, and a quote equal to
    /// the delimiter: records could not be told apart.
    pub fn check(&self) -> Result<(), crate::Error> {
        let name = |b: u8| format!("{:?}", char::from(b));
        for (what, byte) in [("delimiter", Some(self.delimiter)), ("quote", self.quote)] {
            if let Some(b @ (b'\n' | b'\r')) = byte {
                return Err(crate::Error::BadDialect(format!("the {what} cannot be a line end ({})", name(b))));
            }
        }
        if self.quote == Some(self.delimiter) {
            return Err(crate::Error::BadDialect(format!(
                "the quote and the delimiter are both {}",
                name(self.delimiter)
            )));
        }
        Ok(())
    }
}

/// The type of a field of a fixed-width binary record (little-endian).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldType {
    /// `i8`.
    I8,
    /// `i16`.
    I16,
    /// `i32`.
    I32,
    /// `i64`.
    I64,
    /// `u8`.
    U8,
    /// `u16`.
    U16,
    /// `u32`.
    U32,
    /// `u64`.
    U64,
    /// `f32`.
    F32,
    /// `f64`.
    F64,
    /// A byte string of this many bytes (trailing NUL bytes are padding).
    Bytes(usize),
}

impl FieldType {
    /// The field's width in bytes.
    pub fn width(&self) -> usize {
        match self {
            FieldType::I8 | FieldType::U8 => 1,
            FieldType::I16 | FieldType::U16 => 2,
            FieldType::I32 | FieldType::U32 | FieldType::F32 => 4,
            FieldType::I64 | FieldType::U64 | FieldType::F64 => 8,
            FieldType::Bytes(n) => *n,
        }
    }

    pub(crate) fn is_signed(&self) -> bool {
        matches!(self, FieldType::I8 | FieldType::I16 | FieldType::I32 | FieldType::I64)
    }

    pub(crate) fn is_unsigned(&self) -> bool {
        matches!(self, FieldType::U8 | FieldType::U16 | FieldType::U32 | FieldType::U64)
    }
}

impl fmt::Display for FieldType {
    /// The name [`BinaryField`]'s text form uses: `i8`..`i64`, `u8`..`u64`,
    /// `f32`, `f64`, `bytesN`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            FieldType::I8 => "i8",
            FieldType::I16 => "i16",
            FieldType::I32 => "i32",
            FieldType::I64 => "i64",
            FieldType::U8 => "u8",
            FieldType::U16 => "u16",
            FieldType::U32 => "u32",
            FieldType::U64 => "u64",
            FieldType::F32 => "f32",
            FieldType::F64 => "f64",
            FieldType::Bytes(n) => return write!(f, "bytes{n}"),
        };
        f.write_str(name)
    }
}

/// One field of a binary record: `name:type@offset`, e.g. `key:u32@0`,
/// `value:f64@8`, `code:bytes8@16`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinaryField {
    /// The field's name (used by keys, values and distinct columns).
    pub name: String,
    /// Its type.
    pub ty: FieldType,
    /// Its byte offset in the record.
    pub offset: usize,
}

impl FromStr for BinaryField {
    type Err = Error;

    fn from_str(s: &str) -> Result<BinaryField, Error> {
        let bad = |reason: &str| Error::BadField { spec: s.to_string(), reason: reason.to_string() };
        let (name, rest) = s.split_once(':').ok_or_else(|| bad("expected name:type@offset"))?;
        let (ty, offset) = rest.split_once('@').ok_or_else(|| bad("expected name:type@offset"))?;
        if name.is_empty() {
            return Err(bad("the name is empty"));
        }
        let offset = offset.parse().map_err(|_| bad("the offset is not a number"))?;
        let ty = match ty {
            "i8" => FieldType::I8,
            "i16" => FieldType::I16,
            "i32" => FieldType::I32,
            "i64" => FieldType::I64,
            "u8" => FieldType::U8,
            "u16" => FieldType::U16,
            "u32" => FieldType::U32,
            "u64" => FieldType::U64,
            "f32" => FieldType::F32,
            "f64" => FieldType::F64,
            _ => match ty.strip_prefix("bytes").map(str::parse::<usize>) {
                Some(Ok(n)) if n >= 1 => FieldType::Bytes(n),
                _ => return Err(bad("unknown type (i8..i64, u8..u64, f32, f64, bytesN)")),
            },
        };
        Ok(BinaryField { name: name.to_string(), ty, offset })
    }
}

impl fmt::Display for BinaryField {
    /// `name:type@offset`, the form [`FromStr`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}@{}", self.name, self.ty, self.offset)
    }
}

impl BinaryField {
    /// This field's bytes in `record` (a whole record of its layout); a byte
    /// string without its trailing NUL padding.
    #[inline]
    pub fn bytes_in<'a>(&self, record: &'a [u8]) -> &'a [u8] {
        let b = &record[self.offset..self.offset + self.ty.width()];
        match self.ty {
            FieldType::Bytes(_) => &b[..b.iter().rposition(|&x| x != 0).map_or(0, |i| i + 1)],
            _ => b,
        }
    }

    /// This field of `record` (a whole record of its layout), decoded
    /// little-endian.
    #[inline]
    pub fn value_in<'a>(&self, record: &'a [u8]) -> FieldValue<'a> {
        let b = self.bytes_in(record);
        match self.ty {
            FieldType::F32 => FieldValue::Float(f64::from(f32::from_le_bytes(b.try_into().expect("4 bytes")))),
            FieldType::F64 => FieldValue::Float(f64::from_le_bytes(b.try_into().expect("8 bytes"))),
            FieldType::Bytes(_) => FieldValue::Bytes(b),
            t if t.is_signed() => FieldValue::Signed(le_i64(b)),
            _ => FieldValue::Unsigned(le_u64(b)),
        }
    }
}

/// A decoded field of a binary record ([`BinaryField::value_in`]).
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum FieldValue<'a> {
    /// An `i8` to `i64`.
    Signed(i64),
    /// A `u8` to `u64`.
    Unsigned(u64),
    /// An `f32` (widened) or `f64`.
    Float(f64),
    /// A byte string, without its trailing NUL padding.
    Bytes(&'a [u8]),
}

/// A little-endian unsigned integer of 1 to 8 bytes.
pub(crate) fn le_u64(b: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    buf[..b.len()].copy_from_slice(b);
    u64::from_le_bytes(buf)
}

/// A little-endian signed integer of 1 to 8 bytes, sign-extended.
pub(crate) fn le_i64(b: &[u8]) -> i64 {
    let shift = 64 - 8 * b.len() as u32;
    ((le_u64(b) << shift) as i64) >> shift
}

/// The layout of fixed-width binary records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub(crate) record_size: usize,
    pub(crate) fields: Vec<BinaryField>,
}

impl Layout {
    /// Records of `record_size` bytes holding `fields`, each of which must
    /// fit inside the record; names must be unique.
    pub fn new(record_size: usize, fields: Vec<BinaryField>) -> Result<Layout, Error> {
        if record_size == 0 {
            return Err(Error::BadField { spec: "record size".into(), reason: "must be at least 1".into() });
        }
        for (i, f) in fields.iter().enumerate() {
            if f.offset.checked_add(f.ty.width()).is_none_or(|end| end > record_size) {
                return Err(Error::BadField {
                    spec: f.name.clone(),
                    reason: format!(
                        "{} bytes at offset {} do not fit a {record_size}-byte record",
                        f.ty.width(),
                        f.offset
                    ),
                });
            }
            if fields[..i].iter().any(|g| g.name == f.name) {
                return Err(Error::BadField { spec: f.name.clone(), reason: "declared twice".into() });
            }
        }
        Ok(Layout { record_size, fields })
    }

    /// The record size.
    pub fn record_size(&self) -> usize {
        self.record_size
    }

    /// The fields.
    pub fn fields(&self) -> &[BinaryField] {
        &self.fields
    }
}

/// One feature computed per value column.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Agg {
    /// Non-missing values (`<col>_count`).
    Count,
    /// Missing values: null markers and NaN (`<col>_missing`).
    Missing,
    /// Sum.
    Sum,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// Arithmetic mean.
    Mean,
    /// Sample variance (n - 1).
    Var,
    /// Sample standard deviation (n - 1).
    Std,
    /// The first non-missing value in file order.
    First,
    /// The last non-missing value in file order.
    Last,
    /// The quantile at this percentage (`p99.9` is 99.9), from the
    /// HdrHistogram (see [`QuantileConfig`]).
    Quantile(f64),
}

impl Agg {
    /// Every basic feature, in output order (quantiles not included).
    pub const BASIC: [Agg; 10] =
        [Agg::Count, Agg::Missing, Agg::Sum, Agg::Min, Agg::Max, Agg::Mean, Agg::Var, Agg::Std, Agg::First, Agg::Last];
}

impl fmt::Display for Agg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Agg::Count => f.write_str("count"),
            Agg::Missing => f.write_str("missing"),
            Agg::Sum => f.write_str("sum"),
            Agg::Min => f.write_str("min"),
            Agg::Max => f.write_str("max"),
            Agg::Mean => f.write_str("mean"),
            Agg::Var => f.write_str("var"),
            Agg::Std => f.write_str("std"),
            Agg::First => f.write_str("first"),
            Agg::Last => f.write_str("last"),
            Agg::Quantile(p) => write!(f, "p{p}"),
        }
    }
}

impl FromStr for Agg {
    type Err = Error;

    /// `count`, `missing`, `sum`, `min`, `max`, `mean`, `var`, `std`,
    /// `first`, `last`, or `pNN.N` (a percentage from 0 to 100).
    fn from_str(s: &str) -> Result<Agg, Error> {
        Ok(match s {
            "count" => Agg::Count,
            "missing" => Agg::Missing,
            "sum" => Agg::Sum,
            "min" => Agg::Min,
            "max" => Agg::Max,
            "mean" => Agg::Mean,
            "var" => Agg::Var,
            "std" => Agg::Std,
            "first" => Agg::First,
            "last" => Agg::Last,
            _ => match s.strip_prefix('p').map(str::parse::<f64>) {
                Some(Ok(p)) if (0.0..=100.0).contains(&p) && !s.contains(['e', 'E', '+', '-']) => Agg::Quantile(p),
                _ => return Err(Error::BadAgg(s.to_string())),
            },
        })
    }
}

/// Where the records come from.
#[derive(Clone, Debug)]
pub(crate) enum InputKind {
    Delimited(Dialect),
    Binary(Layout),
}

/// Everything a features job needs to know, before it sees the inputs.
///
/// Columns (keys, values, distinct) are named by header name (or binary
/// field name); with delimited input an all-digit name that is not a header
/// name is a 0-based column index. [`build`](FeatureSpec::build) resolves
/// them against the inputs.
#[derive(Clone, Debug)]
pub struct FeatureSpec {
    pub(crate) input: InputKind,
    pub(crate) keys: Vec<String>,
    pub(crate) values: Vec<String>,
    pub(crate) distinct: Vec<String>,
    pub(crate) aggs: Option<Vec<Option<Agg>>>,
    pub(crate) quantiles: Option<Vec<f64>>,
    pub(crate) nulls: Vec<Vec<u8>>,
    pub(crate) quantile_config: QuantileConfig,
    pub(crate) distinct_config: DistinctConfig,
}

/// The null markers used unless [`FeatureSpec::nulls`] says otherwise.
pub const DEFAULT_NULLS: [&str; 4] = ["", "NA", "NULL", "null"];

/// The quantiles computed when none are named: p50, p90, p99.
pub const DEFAULT_QUANTILES: [f64; 3] = [50.0, 90.0, 99.0];

impl FeatureSpec {
    fn new(input: InputKind) -> FeatureSpec {
        FeatureSpec {
            input,
            keys: Vec::new(),
            values: Vec::new(),
            distinct: Vec::new(),
            aggs: None,
            quantiles: None,
            nulls: DEFAULT_NULLS.iter().map(|s| s.as_bytes().to_vec()).collect(),
            quantile_config: QuantileConfig::new(),
            distinct_config: DistinctConfig::new(),
        }
    }

    /// Delimited text in `dialect`.
    pub fn delimited(dialect: Dialect) -> FeatureSpec {
        FeatureSpec::new(InputKind::Delimited(dialect))
    }

    /// Fixed-width binary records.
    pub fn binary(layout: Layout) -> FeatureSpec {
        FeatureSpec::new(InputKind::Binary(layout))
    }

    /// Add a key column (repeat for a composite key).
    pub fn key(&mut self, column: impl Into<String>) -> &mut FeatureSpec {
        self.keys.push(column.into());
        self
    }

    /// Add a numeric value column.
    pub fn value(&mut self, column: impl Into<String>) -> &mut FeatureSpec {
        self.values.push(column.into());
        self
    }

    /// Add a column whose distinct values are counted (`<col>_distinct`).
    pub fn distinct(&mut self, column: impl Into<String>) -> &mut FeatureSpec {
        self.distinct.push(column.into());
        self
    }

    /// Compute only these features per value column (`None` stands for the
    /// quantile list). By default: every [`Agg::BASIC`] feature, then the
    /// quantiles.
    pub fn aggs(&mut self, aggs: impl IntoIterator<Item = Option<Agg>>) -> &mut FeatureSpec {
        self.aggs.get_or_insert_with(Vec::new).extend(aggs);
        self
    }

    /// The quantiles to compute, as percentages (99.9 for p99.9). Default:
    /// [`DEFAULT_QUANTILES`], computed when no [`aggs`](FeatureSpec::aggs)
    /// are named or `quantiles` (`None`) is among them.
    pub fn quantiles(&mut self, percents: impl IntoIterator<Item = f64>) -> &mut FeatureSpec {
        self.quantiles.get_or_insert_with(Vec::new).extend(percents);
        self
    }

    /// Replace the null markers: fields whose (unquoted) text equals one of
    /// these are missing. Default: [`DEFAULT_NULLS`].
    pub fn nulls<I, B>(&mut self, markers: I) -> &mut FeatureSpec
    where
        I: IntoIterator<Item = B>,
        B: Into<Vec<u8>>,
    {
        self.nulls = markers.into_iter().map(Into::into).collect();
        self
    }

    /// HdrHistogram settings of the quantiles.
    pub fn quantile_config(&mut self, config: QuantileConfig) -> &mut FeatureSpec {
        self.quantile_config = config;
        self
    }

    /// Settings of the distinct counts.
    pub fn distinct_config(&mut self, config: DistinctConfig) -> &mut FeatureSpec {
        self.distinct_config = config;
        self
    }

    /// The features per value column, in output order, without duplicates.
    pub(crate) fn resolved_aggs(&self) -> Vec<Agg> {
        let quantiles: Vec<Agg> = match &self.quantiles {
            // `+ 0.0` makes a -0.0 the 0.0 it means (`p0`).
            Some(q) => q.iter().map(|&p| Agg::Quantile(p + 0.0)).collect(),
            // Used where no aggregates are named, or `quantiles` is.
            None => DEFAULT_QUANTILES.iter().map(|&p| Agg::Quantile(p)).collect(),
        };
        let mut out: Vec<Agg> = Vec::new();
        let mut push = |a: Agg| {
            if !out.contains(&a) {
                out.push(a);
            }
        };
        match &self.aggs {
            None => Agg::BASIC.into_iter().chain(quantiles).for_each(&mut push),
            Some(list) => {
                let mut named_quantiles = false;
                for a in list {
                    match a {
                        Some(Agg::Quantile(p)) => push(Agg::Quantile(p + 0.0)),
                        Some(a) => push(*a),
                        None => {
                            named_quantiles = true;
                            quantiles.iter().copied().for_each(&mut push);
                        }
                    }
                }
                // Quantiles named explicitly are wanted even if `quantiles`
                // is not in the list.
                if !named_quantiles && self.quantiles.is_some() {
                    quantiles.into_iter().for_each(&mut push);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_fields_print_as_they_parse() {
        for text in ["key:u32@0", "v:f64@8", "t:i8@3", "code:bytes12@16", "x:u64@0", "y:f32@4", "z:i64@1"] {
            let field: BinaryField = text.parse().unwrap();
            assert_eq!(field.to_string(), text);
            assert_eq!(field.to_string().parse::<BinaryField>().unwrap(), field);
        }
    }

    #[test]
    fn dialects_that_cannot_cut_records_are_refused() {
        assert!(Dialect::csv().check().is_ok());
        assert!(Dialect::tsv().quote(None).check().is_ok());
        for bad in [
            Dialect::csv().delimiter(b'\n'),
            Dialect::csv().quote(Some(b'\r')),
            Dialect::csv().delimiter(b'"'),
            Dialect::csv().delimiter(b'|').quote(Some(b'|')),
        ] {
            let err = bad.check().expect_err("refused").to_string();
            assert!(err.starts_with("invalid delimited-text dialect: the "), "{err}");
        }
    }
}
