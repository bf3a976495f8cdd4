//! Delimited text (CSV, TSV, any single-byte delimiter) as a table.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};
use pagemill_engine::Malformed;
use pagemill_features::{DEFAULT_NULLS, Dialect, split_fields, stray_quote_lines};
use pagemill_mmap::Source;
use pagemill_split::{AnyFormat, BOM, Csv, Lines, Record, RecordFormat};

use crate::decode::{Cell, Decoder, Scratch, Shape};
use crate::error::Error;
use crate::filter::Value;
use crate::spec::Spec;
use crate::table::PagemillTable;

/// Records sampled (after the header) to infer column types.
const SAMPLE_RECORDS: usize = 10_000;

/// Bytes sampled at most to infer column types.
const SAMPLE_BYTES: usize = 4 << 20;

/// How a delimited table reads its inputs.
#[derive(Clone, Debug)]
pub struct DelimitedOptions {
    pub(crate) dialect: Dialect,
    pub(crate) nulls: Vec<Vec<u8>>,
    pub(crate) schema: Option<SchemaRef>,
}

impl DelimitedOptions {
    /// `dialect` (delimiter, quote, header), the null markers of
    /// `pagemill features` (the empty field, `NA`, `NULL`, `null`), and
    /// column types inferred from the data.
    pub fn new(dialect: Dialect) -> DelimitedOptions {
        DelimitedOptions { dialect, nulls: DEFAULT_NULLS.iter().map(|s| s.as_bytes().to_vec()).collect(), schema: None }
    }

    /// Fields equal to one of `markers` are null.
    pub fn nulls<I, B>(mut self, markers: I) -> DelimitedOptions
    where
        I: IntoIterator<Item = B>,
        B: AsRef<[u8]>,
    {
        self.nulls = markers.into_iter().map(|m| m.as_ref().to_vec()).collect();
        self
    }

    /// Use `schema` instead of inferring one: one field per column, each
    /// `Int64`, `Float64` or `Utf8View` (the names replace the header's).
    pub fn schema(mut self, schema: SchemaRef) -> DelimitedOptions {
        self.schema = Some(schema);
        self
    }
}

#[derive(Debug)]
struct DelimitedDecoder {
    schema: SchemaRef,
    delimiter: u8,
    quote: Option<u8>,
    nulls: Vec<Vec<u8>>,
}

impl DelimitedDecoder {
    fn is_null(&self, v: &[u8]) -> bool {
        self.nulls.iter().any(|n| n == v)
    }
}

/// What the values of a column seen so far allow.
#[derive(Clone, Copy, Debug)]
struct Seen {
    int: bool,
    float: bool,
    any: bool,
}

fn parse_int(v: &[u8]) -> Option<i64> {
    std::str::from_utf8(v).ok()?.parse().ok()
}

fn parse_float(v: &[u8]) -> Option<f64> {
    std::str::from_utf8(v).ok()?.parse().ok()
}

impl Decoder for DelimitedDecoder {
    fn recut<'a>(&self, rec: &Record<'a>) -> Option<Vec<Record<'a>>> {
        let quote = self.quote?;
        memchr::memchr(b'\n', rec.bytes)?;
        let mut fields = Vec::new();
        if split_fields(rec.bytes, self.delimiter, self.quote, &mut fields).is_ok() {
            return None;
        }
        let mut lines = Vec::new();
        stray_quote_lines(rec.bytes, self.delimiter, quote, |start, end| {
            lines.push(Record { offset: rec.offset + start, bytes: &rec.bytes[start..end] });
        })
        .then_some(lines)
    }

    fn parse<'a>(
        &'a self,
        r: Record<'a>,
        projection: &[usize],
        row: &mut Vec<Cell<'a>>,
        scratch: &mut Scratch<'a>,
        malformed: &mut Malformed,
    ) -> bool {
        let fields = &mut scratch.fields;
        if let Err(e) = split_fields(r.bytes, self.delimiter, self.quote, fields) {
            malformed.report(e.kind(), r.offset, r.bytes);
            return false;
        }
        if fields.len() != self.schema.fields().len() {
            let kind = if r.bytes.is_empty() { "blank-line" } else { "ragged-row" };
            malformed.report(kind, r.offset, r.bytes);
            return false;
        }
        let quote = self.quote.unwrap_or(b'"');
        // A record is counted once, however many of its numbers are bad.
        let mut bad_number = false;
        for &c in projection {
            let f = fields[c];
            let v = f.value(quote, &mut scratch.bytes);
            if self.is_null(v) {
                row.push(Cell::Val(Value::Null));
                continue;
            }
            let cell = match self.schema.field(c).data_type() {
                DataType::Int64 => parse_int(v).map(Value::Int),
                DataType::Float64 => parse_float(v).map(Value::Float),
                _ => {
                    row.push(if f.escaped {
                        Cell::Text(String::from_utf8_lossy(v).into_owned())
                    } else {
                        Cell::Val(Value::Str(f.bytes))
                    });
                    continue;
                }
            };
            row.push(Cell::Val(cell.unwrap_or_else(|| {
                // The row stays; the field is null and the record counted.
                bad_number = true;
                Value::Null
            })));
        }
        if bad_number {
            malformed.report("bad-number", r.offset, r.bytes);
        }
        true
    }
}

impl PagemillTable {
    /// Delimited text as a table: CSV, TSV or any single-byte delimiter,
    /// RFC 4180 quoting (quoted fields may hold delimiters, doubled quotes and
    /// newlines), with or without a header (columns `column_0`, `column_1`,
    /// ... without). Column types are `Int64`, `Float64` or `Utf8View`,
    /// inferred from the first records of the first input unless given
    /// (see [`DelimitedOptions::schema`]).
    ///
    /// Ragged rows and broken quoting are malformed records (`ragged-row`,
    /// `blank-line`, `unclosed-quote`, `bad-quote`), never rows; a number that
    /// does not parse in a numeric column the query reads is null, and its
    /// record is counted once as `bad-number`.
    pub fn delimited(sources: Vec<Source>, options: DelimitedOptions) -> Result<PagemillTable, Error> {
        PagemillTable::build(Spec::Delimited(options), sources, None)
    }
}

/// The start of `bytes` sampled for a header and types: whole records only,
/// [`SAMPLE_BYTES`] or more, as much more as it takes to hold `records`
/// whole records (a first record longer than the sample), or all of it.
fn sample_of<'b>(format: &AnyFormat, bytes: &'b [u8], records: usize) -> &'b [u8] {
    let mut n = SAMPLE_BYTES;
    loop {
        if n >= bytes.len() {
            return bytes;
        }
        let whole = &bytes[..format.complete_prefix(&bytes[..n])];
        if format.records(whole).take(records).count() >= records {
            return whole;
        }
        n = n.saturating_mul(2);
    }
}

/// The column names of a header record.
fn header_names(record: &[u8], delimiter: u8, quote: Option<u8>) -> Result<Vec<String>, Error> {
    let (mut fields, mut scratch) = (Vec::new(), Vec::new());
    split_fields(record, delimiter, quote, &mut fields)
        .map_err(|e| Error::BadHeader(format!("the header does not split into fields: {e}")))?;
    Ok(fields
        .iter()
        .map(|f| String::from_utf8_lossy(f.value(quote.unwrap_or(b'"'), &mut scratch)).into_owned())
        .collect())
}

/// The shape and decoder of a delimited table, and `options` with the
/// schema resolved (inferred from the first input unless given).
pub(crate) fn assemble(
    options: DelimitedOptions,
    sources: &[Source],
) -> Result<(Shape, Arc<dyn Decoder>, DelimitedOptions), Error> {
    let dialect = options.dialect;
    dialect.check()?;
    let (delimiter, quote, header) = (dialect.get_delimiter(), dialect.get_quote(), dialect.has_header());
    let records = match quote {
        Some(q) => AnyFormat::Csv(Csv::new().with_quote(q)),
        None => AnyFormat::Lines(Lines),
    };
    let first = sources.first().ok_or(Error::NoInputs)?.bytes();
    let first = first.strip_prefix(BOM).unwrap_or(first);
    let sample = sample_of(&records, first, if header { 2 } else { 1 });
    let mut fields = Vec::new();
    let mut scratch = Vec::new();
    let mut recs = records.records(sample);
    let names: Option<Vec<String>> = if header {
        let rec = recs.next().ok_or_else(|| Error::BadHeader("the first input is empty".into()))?;
        let names = header_names(rec.bytes, delimiter, quote)?;
        // Every input's header must be the first's: columns are read by
        // position.
        for source in &sources[1..] {
            let bytes = source.bytes();
            // The first record alone: the iterator stops at its end.
            let Some(rec) = records.records(bytes.strip_prefix(BOM).unwrap_or(bytes)).next() else { continue };
            let theirs = header_names(rec.bytes, delimiter, quote)?;
            if theirs != names {
                return Err(Error::BadHeader(format!(
                    "{}: header differs from the first input's: expected [{}], found [{}]",
                    source.name(),
                    names.join(", "),
                    theirs.join(", ")
                )));
            }
        }
        Some(names)
    } else {
        None
    };
    let mut seen: Vec<Seen> =
        names.as_ref().map_or_else(Vec::new, |n| vec![Seen { int: true, float: true, any: false }; n.len()]);
    let sampled: Vec<Record<'_>> = recs.take(SAMPLE_RECORDS).collect();
    for rec in &sampled {
        if split_fields(rec.bytes, delimiter, quote, &mut fields).is_err() {
            continue;
        }
        if seen.is_empty() {
            seen = vec![Seen { int: true, float: true, any: false }; fields.len()];
        }
        if fields.len() != seen.len() {
            continue;
        }
        for (s, f) in seen.iter_mut().zip(&fields) {
            let v = f.value(quote.unwrap_or(b'"'), &mut scratch);
            if options.nulls.iter().any(|n| n == v) {
                continue;
            }
            s.any = true;
            s.int &= parse_int(v).is_some();
            s.float &= s.int || parse_float(v).is_some();
        }
    }
    let schema = match options.schema.clone() {
        Some(schema) => {
            if let Some(f) = schema
                .fields()
                .iter()
                .find(|f| !matches!(f.data_type(), DataType::Int64 | DataType::Float64 | DataType::Utf8View))
            {
                return Err(Error::BadHeader(format!(
                    "column {} is {}; delimited columns are Int64, Float64 or Utf8View",
                    f.name(),
                    f.data_type()
                )));
            }
            schema
        }
        None => {
            let names = names.unwrap_or_else(|| (0..seen.len()).map(|i| format!("column_{i}")).collect());
            if names.is_empty() {
                return Err(Error::BadHeader("no columns: the first input has no records".into()));
            }
            if seen.len() != names.len() {
                seen = vec![Seen { int: false, float: false, any: false }; names.len()];
            }
            for (i, n) in names.iter().enumerate() {
                if names[..i].contains(n) {
                    return Err(Error::BadHeader(format!("column {n:?} is named twice")));
                }
            }
            let fields: Vec<Field> = names
                .iter()
                .zip(&seen)
                .map(|(n, s)| {
                    let t = match s {
                        Seen { any: true, int: true, .. } => DataType::Int64,
                        Seen { any: true, float: true, .. } => DataType::Float64,
                        _ => DataType::Utf8View,
                    };
                    Field::new(n, t, true)
                })
                .collect();
            Arc::new(Schema::new(fields))
        }
    };
    let shape = Shape { schema: Arc::clone(&schema), format: records, header };
    let decoder = DelimitedDecoder { schema: Arc::clone(&schema), delimiter, quote, nulls: options.nulls.clone() };
    Ok((shape, Arc::new(decoder), DelimitedOptions { schema: Some(schema), ..options }))
}
