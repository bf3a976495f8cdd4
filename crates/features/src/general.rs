//! The general features job: per-key statistics over delimited or binary
//! records.

use std::borrow::Cow;
use std::cmp::Ordering as CmpOrdering;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, UInt64Array};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, Field, Schema};
use arrow_select::concat::concat;
use pagemill_engine::{Chunk, Job, Malformed};
use pagemill_mmap::{Source, prefetch};
use pagemill_sketch::{Distinct, DistinctConfig, QuantileConfig, Quantiles, load_word};
use pagemill_split::{AnyFormat, BOM, Csv, Fixed, Lines, RecordFormat};
use rayon::prelude::*;

use crate::acc::ValueAcc;
use crate::error::Error;
use crate::field::{Fields, RawField, split_fields, stray_quote_lines};
use crate::number::{Num, parse_number};
use crate::spec::{Agg, BinaryField, Dialect, FeatureSpec, FieldType, FieldValue, InputKind, Layout, le_i64, le_u64};
use crate::table::{KeyTable, Prefix};
use crate::walk::{WalkedFields, walk_records};

/// Scaled magnitudes at or above this are refused before they reach a
/// histogram (which takes up to 2^62), with room for rounding.
const QUANTILE_LIMIT: f64 = (1u64 << 61) as f64;

/// The chunk size to run [`Features`] with over `total` input bytes, given
/// the runner's own default `engine_default`: a 16th of the input, up to
/// 32 MiB, never below the default. Not a share per thread (it was an 8th
/// per thread, the same at two threads): the chunks are the leaves of the
/// merge tree, and float moments gave other last bits at another thread
/// count. Each
/// chunk builds a key table that is merged up a tree, so at many keys per
/// chunk every chunk costs a table's worth of memory and merging: on a
/// per-(flight, dest) table of 1.3 M keys from 200 MB, 12 MB chunks took
/// 15% less CPU than the default 3 MB. At few keys the size barely matters
/// (per-dest summary of 1 GB: 1.40 s with 32 MiB chunks, 1.44 s with 16).
/// Results do not depend on it, except float moments of values that are
/// not decimals (see [`Features`]).
pub fn suggested_chunk_size(total: u64, engine_default: usize) -> usize {
    ((total / 16).min(32 << 20) as usize).max(engine_default)
}

/// How records are read, resolved against the inputs.
#[derive(Clone, Debug)]
pub(crate) enum Reader {
    Delimited { dialect: Dialect, width: usize },
    Binary(Layout),
}

/// The general features job: built by [`FeatureSpec::build`], run by a
/// [`Runner`](pagemill_engine::Runner), finished into one Arrow
/// [`RecordBatch`].
///
/// Output columns: the keys (Utf8; Int64/UInt64 for integer fields of binary
/// records), `rows` (UInt64), then per value column `<col>_<feature>` in the
/// order of the features (counts UInt64, statistics Float64, null where
/// there is no value, and the variance and standard deviation also with one
/// value), then `<col>_distinct` (UInt64) per distinct column. Rows are
/// sorted by key: byte order for text, numeric order for integers, nulls
/// first.
///
/// Malformed records are counted and sampled, never aggregated:
/// `ragged-row` (a field count other than the header's, or than the first
/// record's without a header), `blank-line`, `unclosed-quote`, `bad-quote`,
/// `bad-number` (a value that is neither a number nor a null marker, or is
/// infinite), `out-of-range` (too large for the quantile histogram),
/// `invalid-utf8` (a text key that is not UTF-8) and `short-record` (a
/// trailing partial binary record).
///
/// # Determinism
///
/// Counts, min, max, first, last, quantiles and distinct counts are exact
/// functions of the input, identical for any thread count, chunk size and
/// input path. Sum, mean, variance and standard deviation are computed from
/// exact 128-bit integer sums while every value is a decimal of at most 18
/// digits (and the sums fit), so they too are identical everywhere. Values
/// in exponent notation, with more digits, or binary floats use Welford/Chan
/// moments: identical across thread counts at a fixed chunk size, and
/// across chunk sizes equal up to floating-point rounding.
#[derive(Debug)]
pub struct Features {
    pub(crate) format: AnyFormat,
    pub(crate) reader: Reader,
    pub(crate) keys: Vec<usize>,
    pub(crate) values: Vec<usize>,
    pub(crate) distinct: Vec<usize>,
    pub(crate) key_names: Vec<String>,
    pub(crate) value_names: Vec<String>,
    pub(crate) distinct_names: Vec<String>,
    pub(crate) aggs: Vec<Agg>,
    /// Quantiles as fractions, in the order of `aggs`.
    pub(crate) qs: Vec<f64>,
    pub(crate) nulls: Vec<Vec<u8>>,
    /// Entry `b` set when a null marker starts with byte `b`: most fields
    /// are told apart from every marker by their first byte. A byte a
    /// byte, not a bit: the test is then one load and compare, where the
    /// bit took a shift, a load and a bit test (three fields a record).
    pub(crate) null_first: [bool; 256],
    /// The empty field is a null marker.
    pub(crate) null_empty: bool,
    pub(crate) quantile_config: QuantileConfig,
    /// `quantile_config`'s value scale as a float, for the range check of
    /// every value: converting a `u64` to a float takes a branch and some
    /// ten instructions on baseline x86-64, once a value.
    pub(crate) quantile_scale: f64,
    pub(crate) distinct_config: DistinctConfig,
    /// The type of each key column (binary integer fields), `None` for text.
    pub(crate) key_types: Vec<Option<FieldType>>,
    pub(crate) key_hint: AtomicUsize,
}

/// The state of a range of chunks: its keys in one shard, or spread over
/// 16 shards by their hash once there are many; each shard is a
/// table of keys to row numbers and the accumulators of each row. Merges
/// of large partials work shard by shard, in parallel: the last merges of
/// a run with a million keys otherwise ran on one thread while the others
/// waited, over tables no cache holds. Few keys stay in one shard, where
/// sixteen cost the per-dest summary 4%. How keys are sharded never shows
/// in a result.
///
/// A merge of partials that hold many keys between them does not merge
/// them at once: the right side's shards wait, in chunk order, until more
/// than 16 pieces wait or the partial is finished or written out; then
/// each shard merges its waiting pieces into its first one, left to
/// right. Merged at every level of the tree, a
/// key's state was moved again at each level where it was new to the left
/// side, and with a million keys those moves, their growing arrays and
/// their page faults were the largest part of the merges. Per key, the
/// states of the pieces are combined left to right; which pieces exist
/// depends only on the chunks and their key counts, never on the threads.
/// [`Features::pieces_batch`] ships a partial with its pieces apart.
#[derive(Debug)]
pub struct FeaturesPartial {
    pub(crate) shards: Vec<Shard>,
    /// The shards of later chunk ranges, not merged in yet (only beside
    /// [`SHARDS`] shards).
    pub(crate) later: Vec<Vec<Shard>>,
}

/// Bits of a key's hash (its top ones) that choose its shard; the key
/// table's slots are chosen by the low bits.
const SHARD_BITS: u32 = 4;

/// A row of a [`FeaturesPartial`]: its shard, and its row in the shard.
pub(crate) type RowRef = (usize, usize);

/// Shards of a [`FeaturesPartial`].
pub(crate) const SHARDS: usize = 1 << SHARD_BITS;

/// The shard of a key with this hash.
#[inline(always)]
pub(crate) fn shard_of(hash: u64) -> usize {
    (hash >> (64 - SHARD_BITS)) as usize
}

/// Keys from which a partial is kept in [`SHARDS`] shards (a chunk whose
/// table starts that large, a merge whose sides hold that many together)
/// and merges leave pieces waiting. The first chunks of a run start in one
/// shard (no chunk has told how many keys there are yet) and split into
/// shards when they reach this many keys (`FeaturesPartial::row_hashed`), rather
/// than at their first merge with all their keys.
const SHARD_FROM_KEYS: usize = 1 << 14;

/// Pieces that may wait in [`FeaturesPartial::later`]: a merge that would
/// leave more settles the partial. A run of 16 chunks settles once, at its
/// end; memory stays within this many partials of a node's chunks.
pub(crate) const MAX_LATER: usize = 16;

/// One shard of a partial: a table of keys to row numbers and the
/// accumulators of each row.
#[derive(Debug)]
pub(crate) struct Shard {
    pub(crate) table: KeyTable<u32>,
    pub(crate) rows: Vec<u64>,
    pub(crate) invalid: Vec<bool>,
    pub(crate) values: Vec<ValueAcc>,
    pub(crate) quantiles: Vec<Quantiles>,
    pub(crate) distinct: Vec<Distinct>,
}

/// About how many distinct keys `tables` hold between them, by linear
/// counting over their stored hashes: one bit per hash in a bitmap of
/// eight bits or more per key held, where the share of bits left clear
/// gives the count (within about 1% at that load). It reads each table's
/// slots in order and touches a bitmap of a byte per key: far cheaper than
/// looking the keys up. Never more than the keys held.
pub(crate) fn union_estimate<'a>(tables: impl Iterator<Item = &'a KeyTable<u32>> + Clone) -> usize {
    let held: usize = tables.clone().map(KeyTable::len).sum();
    if held == 0 {
        return 0;
    }
    let bits = (held * 8).next_power_of_two().max(64);
    let mut map = vec![0u64; bits / 64];
    for table in tables {
        for hash in table.hashes() {
            // The tables' hashes are made to spread keys over slots, and
            // some of their bits are weak for short keys: mixed again with
            // splitmix64's finisher, every bit counts.
            let x = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            let x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            let bit = (x ^ (x >> 31)) as usize & (bits - 1);
            map[bit / 64] |= 1 << (bit % 64);
        }
    }
    let clear: u64 = map.iter().map(|w| u64::from(w.count_zeros())).sum();
    if clear == 0 {
        return held;
    }
    let estimate = -(bits as f64) * (clear as f64 / bits as f64).ln();
    (estimate.round() as usize).min(held)
}

/// Append one key part: 0 for null, else a length byte (`len + 1`, or 255
/// and four bytes of length) and the bytes. Never empty.
#[inline]
pub(crate) fn push_key_part(buf: &mut Vec<u8>, part: Option<&[u8]>) {
    match part {
        None => buf.push(0),
        Some(b) if b.len() < 254 => {
            buf.push(b.len() as u8 + 1);
            buf.extend_from_slice(b);
        }
        Some(b) => {
            buf.push(255);
            buf.extend_from_slice(&(b.len() as u32).to_le_bytes());
            buf.extend_from_slice(b);
        }
    }
}

/// The parts of an encoded key (see [`push_key_part`]), or `None` if the
/// bytes are not one (only keys read back from a partial result can fail).
pub(crate) fn key_parts(buf: &[u8]) -> Option<Vec<Option<&[u8]>>> {
    KeyParts(buf).collect()
}

/// The parts of an encoded key, one by one: `None` for bytes that are not
/// one (and nothing after), without collecting them.
struct KeyParts<'a>(&'a [u8]);

impl<'a> Iterator for KeyParts<'a> {
    type Item = Option<Option<&'a [u8]>>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&tag, rest) = self.0.split_first()?;
        let (len, rest) = match tag {
            0 => {
                self.0 = rest;
                return Some(Some(None));
            }
            255 => match rest.get(..4) {
                Some(n) => (u32::from_le_bytes(n.try_into().expect("4 bytes")) as usize, &rest[4..]),
                None => (usize::MAX, rest),
            },
            n => (usize::from(n) - 1, rest),
        };
        match rest.get(..len) {
            Some(part) => {
                self.0 = &rest[len..];
                Some(Some(Some(part)))
            }
            None => {
                self.0 = &[];
                Some(None)
            }
        }
    }
}

/// A 128-bit prefix of a key part that orders as [`KeyValue`] does, and
/// whether it is exact (equal exact prefixes are equal parts). A smaller
/// prefix means a smaller part; equal inexact prefixes tell nothing. Null
/// is 0; integers (exact) take the bits below the top one, flipped so that
/// signed ones order as numbers; text takes its first 14 bytes, big-endian,
/// padded with zeros, then its length (15 for 15 bytes or more: inexact).
/// A shorter text that shares its bytes with a longer one pads below it or
/// ties with it in the bytes, and its length then orders it first.
fn sort_prefix(ty: Option<FieldType>, part: Option<&[u8]>) -> (u128, bool) {
    const SOME: u128 = 1 << 127;
    match key_value(ty, part) {
        KeyValue::Null => (0, true),
        KeyValue::Int(v) => (SOME | u128::from(v as u64 ^ (1 << 63)) << 63, true),
        KeyValue::UInt(v) => (SOME | u128::from(v) << 63, true),
        KeyValue::Text(b) => {
            let mut bytes = [0u8; 16];
            let n = b.len().min(14);
            bytes[1..=n].copy_from_slice(&b[..n]);
            bytes[15] = b.len().min(15) as u8;
            (SOME | u128::from_be_bytes(bytes), b.len() < 15)
        }
    }
}

/// The sort key of a key's parts: the prefixes of its first two parts (the
/// second only where the first is exact), so that full comparisons are left
/// for ties of long texts and keys of three or more parts.
fn sort_key(types: &[Option<FieldType>], parts: &[Option<&[u8]>]) -> (u128, u128) {
    match (types, parts) {
        ([t0, t1, ..], [p0, p1, ..]) => match sort_prefix(*t0, *p0) {
            (first, true) => (first, sort_prefix(*t1, *p1).0),
            (first, false) => (first, 0),
        },
        ([t0], [p0]) => (sort_prefix(*t0, *p0).0, 0),
        _ => (0, 0),
    }
}

/// The rows of a partial with valid keys in output order (sorted by key),
/// with their decoded key parts.
pub(crate) struct SortedKeys<'p> {
    /// The key parts, `arity` per row, in order.
    parts: Vec<Option<&'p [u8]>>,
    arity: usize,
    /// The row of each key, in order.
    pub(crate) rows: Vec<RowRef>,
}

impl<'p> SortedKeys<'p> {
    /// Part `k` of the key of each row in `range` of the order.
    fn column(&self, k: usize, range: Range<usize>) -> impl Iterator<Item = Option<&'p [u8]>> + '_ {
        let arity = self.arity.max(1);
        self.parts[range.start * arity..range.end * arity].iter().skip(k).step_by(arity).copied()
    }
}

/// Output rows finished as one piece, in parallel with the other pieces:
/// finishing reads each key's state in key order, one cache miss after
/// another, and a million keys took longer to finish on one thread than to
/// map and merge on two. Each piece writes its rows of every column after
/// the keys straight into its slice of the full-length column (the text
/// key columns are built per piece and joined).
const FINISH_PIECE: usize = 1 << 14;

/// The name of column `i` in output column names: its header name, with
/// its 0-based index after it where the header holds the name more than
/// once (`v_1`, `v_2`: both may be used, picked by index); `column_i`
/// without a header.
fn column_name(header: Option<&[String]>, i: usize) -> String {
    match header {
        None => format!("column_{i}"),
        Some(h) if h.iter().filter(|n| **n == h[i]).count() > 1 => format!("{}_{i}", h[i]),
        Some(h) => h[i].clone(),
    }
}

/// Whether `column` is all digits: a 0-based index unless a header names it
/// (once).
fn is_index(column: &str) -> bool {
    !column.is_empty() && column.bytes().all(|b| b.is_ascii_digit())
}

/// Resolve a column by name, else (if all digits) by 0-based index.
fn resolve(column: &str, names: &[String], named: bool) -> Result<usize, Error> {
    if named && let Some(i) = names.iter().position(|n| n == column) {
        // Polars refuses such a header, DuckDB renames the copies: taking
        // the first silently may aggregate the wrong column.
        let positions: Vec<usize> = (i..names.len()).filter(|&j| names[j] == column).collect();
        if positions.len() == 1 {
            return Ok(i);
        }
        // A number that names several columns is taken as an index, the
        // way the error below asks to pick one.
        if !is_index(column) {
            return Err(Error::AmbiguousColumn { column: column.to_string(), positions });
        }
    }
    if is_index(column) {
        let index: usize =
            column.parse().map_err(|_| Error::IndexOutOfRange { index: usize::MAX, width: names.len() })?;
        if index >= names.len() {
            return Err(Error::IndexOutOfRange { index, width: names.len() });
        }
        return Ok(index);
    }
    if !named {
        return Err(Error::NoHeader);
    }
    Err(Error::UnknownColumn { column: column.to_string(), available: names.to_vec() })
}

/// Records looked at, without a header, for one that splits into fields
/// (blank lines aside).
const WIDTH_PROBE: usize = 1000;

/// Bytes at the start of an input read for its header (or, without one, for
/// a record that gives the width): enough for any header and
/// [`WIDTH_PROBE`] ordinary records, and all a streamed input has to decode.
/// A head that holds no whole record is read again at twice the size, up to
/// [`HEAD_LIMIT`].
const HEAD_BYTES: usize = 4 << 20;

/// The most bytes read for a first record (see [`HEAD_BYTES`]).
const HEAD_LIMIT: usize = 256 << 20;

/// The fields of an input's header, as strings; without a header, of its
/// first record that splits cleanly and is not blank (malformed leading
/// records are the job's to report, not a reason to refuse the input). A
/// byte order mark before the first record is not part of it.
fn first_record(format: &AnyFormat, dialect: &Dialect, source: &Source) -> Result<Option<Vec<String>>, Error> {
    let mut fields = Vec::new();
    let mut n = HEAD_BYTES;
    let (head, whole) = loop {
        let head = source.head(n).map_err(Error::Input)?;
        // Only whole records, unless the head is the whole input.
        let whole = if head.len() < n { head.len() } else { format.complete_prefix(&head) };
        if whole > 0 || head.len() < n {
            break (head, whole);
        }
        if n >= HEAD_LIMIT {
            return Err(Error::FirstRecordTooLong { input: source.name().to_string(), limit: HEAD_LIMIT });
        }
        n *= 2;
    };
    let mut records = format.records(&head[..whole]);
    fn unmarked<'r>(r: &pagemill_split::Record<'r>) -> &'r [u8] {
        if r.offset == 0 { r.bytes.strip_prefix(BOM).unwrap_or(r.bytes) } else { r.bytes }
    }
    if dialect.header {
        let Some(record) = records.next() else { return Ok(None) };
        let bytes = unmarked(&record);
        // A byte order mark alone (and maybe a line end) is an empty input.
        if bytes.is_empty() && records.next().is_none() && head.len() < n {
            return Ok(None);
        }
        split_fields(bytes, dialect.delimiter, dialect.quote, &mut fields)
            .map_err(|reason| Error::BadHeader { input: source.name().to_string(), reason })?;
    } else if !records
        // Blank lines are no records to probe (a file may start with many).
        .filter(|r| !unmarked(r).is_empty())
        .take(WIDTH_PROBE)
        .any(|r| split_fields(unmarked(&r), dialect.delimiter, dialect.quote, &mut fields).is_ok())
    {
        return Ok(None);
    }
    let mut scratch = Vec::new();
    Ok(Some(
        fields
            .iter()
            .map(|f| String::from_utf8_lossy(f.value(dialect.quote.unwrap_or(b'"'), &mut scratch)).into_owned())
            .collect(),
    ))
}

impl FeatureSpec {
    /// Resolve the spec against `inputs` (the header of each, which must
    /// all match) into a job.
    pub fn build(&self, inputs: &[Source]) -> Result<Features, Error> {
        if self.keys.is_empty() {
            return Err(Error::NoKey);
        }
        let aggs = self.resolved_aggs();
        // As `pNN.N` parses: a percentage from 0 to 100 (a partial's spec
        // names it so, and must read back).
        if let Some(Agg::Quantile(p)) =
            aggs.iter().find(|a| matches!(a, Agg::Quantile(p) if !(0.0..=100.0).contains(p)))
        {
            return Err(Error::BadAgg(format!("p{p}")));
        }
        let qs: Vec<f64> =
            aggs.iter().filter_map(|a| if let Agg::Quantile(p) = a { Some(p / 100.0) } else { None }).collect();
        let (format, reader, names, named, numeric_ok): (AnyFormat, Reader, Vec<String>, bool, Vec<bool>) = match &self
            .input
        {
            InputKind::Delimited(dialect) => {
                dialect.check()?;
                let format = match dialect.quote {
                    Some(q) => AnyFormat::Csv(Csv::new().with_quote(q)),
                    None => AnyFormat::Lines(Lines),
                };
                let mut first: Option<(String, Vec<String>)> = None;
                for source in inputs {
                    let Some(fields) = first_record(&format, dialect, source)? else { continue };
                    match &first {
                        None => first = Some((source.name().to_string(), fields)),
                        Some((_, expected)) if dialect.header && *expected != fields => {
                            return Err(Error::HeaderMismatch {
                                input: source.name().to_string(),
                                expected: expected.clone(),
                                found: fields,
                            });
                        }
                        Some(_) => {}
                    }
                }
                let fields = first.map(|(_, f)| f).unwrap_or_else(|| {
                    // No record to learn the width from (empty inputs, or
                    // nothing but malformed records): columns given by index
                    // still define it, and every record is then checked.
                    let columns = || self.keys.iter().chain(&self.values).chain(&self.distinct);
                    let width = columns().filter_map(|c| c.parse::<usize>().ok()).max().map_or(0, |i| i + 1);
                    if !dialect.header {
                        vec![String::new(); width]
                    } else if columns().any(|c| is_index(c)) {
                        // An index means a position in a header there is
                        // none of: refused below.
                        Vec::new()
                    } else {
                        // Every input is empty, so no record is read: the
                        // header is the named columns, and the result (or
                        // partial, which then merges with those of inputs
                        // that have rows) has no row.
                        let mut names: Vec<String> = Vec::new();
                        for c in columns() {
                            if !names.contains(c) {
                                names.push(c.clone());
                            }
                        }
                        names
                    }
                });
                let width = fields.len();
                let names: Vec<String> =
                    if dialect.header { fields } else { (0..width).map(|i| column_name(None, i)).collect() };
                let numeric = vec![true; width];
                (format, Reader::Delimited { dialect: *dialect, width }, names, dialect.header, numeric)
            }
            InputKind::Binary(layout) => {
                let names = layout.fields.iter().map(|f| f.name.clone()).collect();
                let numeric = layout.fields.iter().map(|f| !matches!(f.ty, FieldType::Bytes(_))).collect();
                (AnyFormat::Fixed(Fixed::new(layout.record_size)), Reader::Binary(layout.clone()), names, true, numeric)
            }
        };
        let resolve_all = |cols: &[String]| -> Result<Vec<usize>, Error> {
            let mut out: Vec<usize> = Vec::new();
            for c in cols {
                let i = resolve(c, &names, named)?;
                if !out.contains(&i) {
                    out.push(i);
                }
            }
            Ok(out)
        };
        let keys = resolve_all(&self.keys)?;
        let values = resolve_all(&self.values)?;
        let distinct = resolve_all(&self.distinct)?;
        if let Some(&i) = values.iter().find(|&&i| !numeric_ok[i]) {
            return Err(Error::NotNumeric(names[i].clone()));
        }
        if let Reader::Binary(layout) = &reader
            && let Some(&i) = keys.iter().find(|&&i| matches!(layout.fields[i].ty, FieldType::F32 | FieldType::F64))
        {
            return Err(Error::FloatKey(names[i].clone()));
        }
        let header = Some(names.as_slice());
        let key_names: Vec<String> = keys.iter().map(|&i| column_name(header, i)).collect();
        let value_names: Vec<String> = values.iter().map(|&i| column_name(header, i)).collect();
        let distinct_names: Vec<String> = distinct.iter().map(|&i| column_name(header, i)).collect();
        let key_types = match &reader {
            Reader::Binary(layout) => keys.iter().map(|&i| Some(layout.fields[i].ty)).collect(),
            Reader::Delimited { .. } => vec![None; keys.len()],
        };
        let job = Features {
            key_types,
            format,
            reader,
            keys,
            values,
            distinct,
            key_names,
            value_names,
            distinct_names,
            aggs,
            qs,
            null_first: self.nulls.iter().filter_map(|n| n.first()).fold([false; 256], |mut first, &b| {
                first[usize::from(b)] = true;
                first
            }),
            null_empty: self.nulls.iter().any(Vec::is_empty),
            nulls: self.nulls.clone(),
            quantile_config: self.quantile_config,
            quantile_scale: self.quantile_config.get_scale() as f64,
            distinct_config: self.distinct_config,
            key_hint: AtomicUsize::new(0),
        };
        let names = job.output_names();
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(Error::DuplicateColumn(n.clone()));
            }
        }
        Ok(job)
    }
}

/// Records waiting to be mapped together: offset and bytes of each, and
/// their first `keep` fields, `keep` per record.
struct Batch<'a> {
    records: Vec<(usize, &'a [u8])>,
    fields: Vec<RawField<'a>>,
    keep: usize,
    /// The encoded keys of the records, one after another (keys of several
    /// parts only).
    keys: Vec<u8>,
}

/// Per-chunk scratch space, reused across records.
struct Scratch<'a> {
    fields: Vec<RawField<'a>>,
    key: Vec<u8>,
    unescaped: Vec<u8>,
    nums: Vec<Option<(Num, f64)>>,
}

/// The prefix and hash of the encoded key of one part, `b`, straight from
/// its bytes when it encodes in under 16 bytes (the hash then takes no
/// tail word); `None` for longer parts.
#[inline(always)]
fn short_part(b: &[u8]) -> Option<(Prefix, u64)> {
    if b.len() < 8 {
        // The encoded key fits the first word (its second is zero, which
        // the hash then needs no multiply for): one load, not two.
        let prefix = Prefix { w0: (b.len() as u64 + 1) | load_word(b) << 8, w1: 0 };
        return Some((prefix, prefix.hash(b.len() + 1, 0)));
    }
    if b.len() >= 15 {
        return None;
    }
    let (lo, hi) = (load_word(b), load_word(b.get(8..).unwrap_or_default()));
    let prefix = Prefix { w0: (b.len() as u64 + 1) | lo << 8, w1: lo >> 56 | hi << 8 };
    Some((prefix, prefix.hash(b.len() + 1, 0)))
}

/// Keys of the right partial a merge hints ahead of the one it merges.
const MERGE_AHEAD: usize = 8;

/// Output rows a finishing piece hints ahead of the one it finishes.
const FINISH_AHEAD: usize = 8;

/// Records mapped together when a chunk's key table starts at
/// [`BATCH_FROM_SLOTS`] or more (earlier chunks had that many keys): their
/// keys' slots are hinted at once (`FeaturesPartial::prefetch`) before any is
/// looked up.
const BATCH: usize = 16;

/// Key-table slots (40 bytes each) from which records are mapped in
/// batches: past a few MB the slots miss every cache, and below that the
/// batches only cost their copying. The choice is made per chunk, so a
/// chunk of few keys runs the loop it always ran.
const BATCH_FROM_SLOTS: usize = 1 << 16;

impl FeaturesPartial {
    /// The shard of a key with this hash.
    #[inline(always)]
    pub(crate) fn shard_index(&self, hash: u64) -> usize {
        if self.shards.len() == 1 { 0 } else { shard_of(hash) }
    }

    /// Keys held, in all shards and waiting pieces (a key in several
    /// pieces counts once in each).
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().chain(self.later.iter().flatten()).map(|s| s.rows.len()).sum()
    }

    /// Distinct keys, a key in several waiting pieces once: the keys of
    /// each shard's first piece, and those of its later pieces that it
    /// lacks, each counted once. Shards are counted in parallel.
    pub(crate) fn distinct_keys(&self) -> usize {
        if self.later.is_empty() {
            return self.len();
        }
        self.shards
            .par_iter()
            .enumerate()
            .map(|(i, first)| {
                let mut new: KeyTable<()> = KeyTable::with_capacity(0);
                for piece in &self.later {
                    for (key, prefix, hash, _) in piece[i].table.entries() {
                        if first.table.get(key, prefix, hash).is_none() {
                            new.entry(key, prefix, hash);
                        }
                    }
                }
                first.rows.len() + new.len()
            })
            .sum()
    }

    /// Key-table slots, in all shards.
    fn slots(&self) -> usize {
        self.shards.iter().map(|s| s.table.slots()).sum()
    }

    /// Hint the slots where keys of these hashes start their probes.
    fn prefetch(&self, hashes: &[u64]) {
        for &hash in hashes {
            self.shards[self.shard_index(hash)].table.prefetch(hash);
        }
    }

    /// The (shard, row) of a key of one part, read straight from the record: a
    /// short part's encoded prefix (see [`push_key_part`]) is built from two
    /// loads of its bytes, so a known key is found without encoding it into
    /// `buf` (writing those few bytes and loading them back stalled on
    /// store forwarding). New, null and long keys go through `buf`.
    #[inline(always)]
    fn row_of_part(&mut self, job: &Features, part: Option<&[u8]>, buf: &mut Vec<u8>) -> (usize, usize) {
        if let Some(b) = part
            && let Some((prefix, hash)) = short_part(b)
        {
            let shard = self.shard_index(hash);
            if let Some(&mut row) = self.shards[shard].table.find_short(b.len() + 1, prefix, hash) {
                return (shard, row as usize);
            }
        }
        buf.clear();
        push_key_part(buf, part);
        self.row(job, buf, true)
    }

    /// The (shard, row) of `key`, creating it (with its UTF-8 verdict) if
    /// new.
    #[inline]
    fn row(&mut self, job: &Features, key: &[u8], text_key: bool) -> (usize, usize) {
        let (prefix, hash) = Prefix::with_hash(key);
        self.row_hashed(job, key, prefix, hash, text_key)
    }

    /// [`row`](FeaturesPartial::row) of a key whose prefix and hash are
    /// known.
    #[inline]
    fn row_hashed(&mut self, job: &Features, key: &[u8], prefix: Prefix, hash: u64, text_key: bool) -> (usize, usize) {
        if self.shards.len() == 1 && self.shards[0].rows.len() >= SHARD_FROM_KEYS {
            // A chunk that started in one shard (no earlier chunk told how
            // many keys there are) spreads its keys over shards once it has
            // many: a merge would otherwise move all of them.
            let one = std::mem::replace(self, FeaturesPartial { shards: Vec::new(), later: Vec::new() });
            *self = job.sharded(one);
        }
        let shard = self.shard_index(hash);
        let s = &mut self.shards[shard];
        let next = s.rows.len() as u32;
        let (slot, inserted) = s.table.entry(key, prefix, hash);
        if !inserted {
            return (shard, *slot as usize);
        }
        *slot = next;
        // Only text parts must be UTF-8 (a binary key's integers are not).
        let invalid = text_key
            && KeyParts(key).enumerate().any(|(i, p)| {
                job.key_is_text(i) && p.expect("keys the job encoded").is_some_and(|p| std::str::from_utf8(p).is_err())
            });
        s.push_row(job, invalid);
        (shard, next as usize)
    }
}

impl Shard {
    fn new(keys: usize) -> Shard {
        Shard {
            table: KeyTable::with_capacity(keys),
            rows: Vec::new(),
            invalid: Vec::new(),
            values: Vec::new(),
            quantiles: Vec::new(),
            distinct: Vec::new(),
        }
    }

    /// Push row `r` of `from` as a new row, moving its state (sketches and
    /// distinct sets are taken, leaving empty ones).
    fn push_moved(&mut self, job: &Features, from: &mut Shard, r: usize) {
        let nv = job.values.len();
        let nq = job.quantiles_per_row();
        let nd = job.distinct.len();
        self.rows.push(from.rows[r]);
        self.invalid.push(from.invalid[r]);
        self.values.extend_from_slice(&from.values[r * nv..(r + 1) * nv]);
        self.quantiles.extend(
            from.quantiles[r * nq..(r + 1) * nq]
                .iter_mut()
                .map(|q| std::mem::replace(q, Quantiles::new(job.quantile_config))),
        );
        self.distinct.extend(
            from.distinct[r * nd..(r + 1) * nd]
                .iter_mut()
                .map(|d| std::mem::replace(d, Distinct::new(job.distinct_config))),
        );
    }

    /// Room for `more` rows in every array.
    fn reserve(&mut self, job: &Features, more: usize) {
        let nv = job.values.len();
        let nq = job.quantiles_per_row();
        self.rows.reserve(more);
        self.invalid.reserve(more);
        self.values.reserve(more * nv);
        self.quantiles.reserve(more * nq);
        self.distinct.reserve(more * job.distinct.len());
    }

    fn push_row(&mut self, job: &Features, invalid: bool) {
        self.rows.push(0);
        self.invalid.push(invalid);
        self.values.extend((0..job.values.len()).map(|_| ValueAcc::default()));
        self.quantiles.extend((0..job.quantiles_per_row()).map(|_| Quantiles::new(job.quantile_config)));
        self.distinct.extend((0..job.distinct.len()).map(|_| Distinct::new(job.distinct_config)));
    }
}

impl Features {
    /// An empty partial whose shards' tables are sized for `keys` keys in
    /// all.
    pub(crate) fn partial_for(&self, keys: usize) -> FeaturesPartial {
        let n = if keys >= SHARD_FROM_KEYS { SHARDS } else { 1 };
        let per_shard = keys.div_ceil(n);
        // Chunks of one size hold about as many keys, and a shard about a
        // sixteenth of them: room for a sixteenth more, so that a shard a
        // few keys over its share does not double (copy and fault in) all
        // of its arrays.
        let room = if per_shard == 0 { 0 } else { per_shard + per_shard / 16 + 64 };
        let shards = (0..n)
            .map(|_| {
                let mut s = Shard::new(per_shard);
                s.reserve(self, room);
                s
            })
            .collect();
        FeaturesPartial { shards, later: Vec::new() }
    }

    /// `p` in [`SHARDS`] shards: the keys of a one-shard partial moved, with
    /// their state, to the shards of their hashes.
    fn sharded(&self, p: FeaturesPartial) -> FeaturesPartial {
        if p.shards.len() == SHARDS {
            return p;
        }
        let shards = (0..SHARDS).map(|_| Shard::new(p.len() / SHARDS)).collect();
        let mut out = FeaturesPartial { shards, later: Vec::new() };
        for mut shard in p.shards {
            let table = std::mem::replace(&mut shard.table, KeyTable::with_capacity(0));
            for (key, prefix, hash, &r) in table.entries() {
                let s = &mut out.shards[shard_of(hash)];
                let next = s.rows.len() as u32;
                let (slot, inserted) = s.table.entry(key, prefix, hash);
                debug_assert!(inserted, "keys of one table are distinct");
                *slot = next;
                s.push_moved(self, &mut shard, r as usize);
            }
        }
        out
    }

    /// Quantile sketches a row keeps: one per value column when quantiles
    /// are asked for, else none.
    #[inline]
    pub(crate) fn quantiles_per_row(&self) -> usize {
        if self.qs.is_empty() { 0 } else { self.values.len() }
    }

    /// The output column names, in order.
    pub fn output_names(&self) -> Vec<String> {
        let mut names = self.key_names.clone();
        names.push("rows".to_string());
        for v in &self.value_names {
            names.extend(self.aggs.iter().map(|a| format!("{v}_{a}")));
        }
        names.extend(self.distinct_names.iter().map(|d| format!("{d}_distinct")));
        names
    }

    #[inline]
    fn is_null(&self, field: &[u8]) -> bool {
        match field.first() {
            None => self.null_empty,
            Some(&b) if !self.null_first[usize::from(b)] => false,
            Some(_) => self.nulls.iter().any(|n| n.as_slice() == field),
        }
    }

    /// Check a parsed value; `Err(kind)` makes the record malformed.
    #[inline]
    fn check(&self, num: Num) -> Result<Option<(Num, f64)>, &'static str> {
        match num {
            Num::Bad => Err("bad-number"),
            Num::Nan => Ok(None),
            n => {
                let x = n.to_f64();
                if !self.qs.is_empty() && x.abs() * self.quantile_scale >= QUANTILE_LIMIT {
                    return Err("out-of-range");
                }
                Ok(Some((n, x)))
            }
        }
    }

    /// Fold one record's parsed values (one per value column) into `row`.
    /// The row's accumulators and sketches are sliced once (one bounds
    /// check each, not one per value), and a job without quantiles runs a
    /// loop without them.
    #[inline]
    fn add_values(&self, p: &mut Shard, row: usize, nums: &[Option<(Num, f64)>]) {
        p.rows[row] += 1;
        let nv = nums.len();
        debug_assert_eq!(nv, self.values.len());
        let accs = &mut p.values[row * nv..][..nv];
        if self.qs.is_empty() {
            for (acc, num) in accs.iter_mut().zip(nums) {
                match *num {
                    None => acc.missing += 1,
                    Some((n, x)) => acc.add(n, x),
                }
            }
            return;
        }
        let sketches = &mut p.quantiles[row * nv..][..nv];
        for ((acc, q), num) in accs.iter_mut().zip(sketches).zip(nums) {
            match *num {
                None => acc.missing += 1,
                Some((n, x)) => {
                    acc.add(n, x);
                    let recorded = match n {
                        Num::Dec(m, f) => q.record_decimal(m, f as u8),
                        _ => q.record(x),
                    };
                    debug_assert!(recorded.is_ok(), "checked against QUANTILE_LIMIT");
                }
            }
        }
    }

    /// Map the delimited records of `bytes` (records cut at newlines outside
    /// `record_quote`), skipping the first when `skip` (a header); `bytes`
    /// start `base` bytes into the chunk (past a byte order mark).
    #[allow(clippy::too_many_arguments)]
    fn map_delimited(
        &self,
        dialect: &Dialect,
        width: usize,
        bytes: &[u8],
        base: usize,
        record_quote: Option<u8>,
        mut skip: bool,
        p: &mut FeaturesPartial,
        malformed: &mut Malformed,
    ) {
        // The one-pass walk's fields are only taken when records are cut by
        // the quote the fields are parsed with (always, for built jobs).
        let walk_fields = record_quote == dialect.quote;
        let mut s = Scratch {
            fields: Vec::with_capacity(width),
            key: Vec::with_capacity(64),
            unescaped: Vec::new(),
            nums: vec![None; self.values.len()],
        };
        // Only the fields up to the last column used are kept; the rest are
        // counted (a ragged row is still malformed) and checked.
        let keep = self.keys.iter().chain(&self.values).chain(&self.distinct).max().map_or(0, |&c| c + 1);
        let mut ends = Vec::with_capacity(4096);
        if p.slots() < BATCH_FROM_SLOTS {
            walk_records(bytes, dialect.delimiter, record_quote, keep, &mut ends, |offset, record, fields, clean| {
                let offset = base + offset;
                if !std::mem::take(&mut skip) {
                    let walked = (clean && walk_fields).then_some(fields);
                    self.map_walked(dialect, width, offset, record, walked, &mut s, p, malformed);
                }
            });
            return;
        }
        // Earlier chunks had many keys (the table starts at their size):
        // records go through batches. Any record that is not mapped as it
        // was walked waits for those before it.
        let mut batch = Batch {
            records: Vec::with_capacity(BATCH),
            fields: Vec::with_capacity(BATCH * keep),
            keep,
            keys: Vec::new(),
        };
        walk_records(bytes, dialect.delimiter, record_quote, keep, &mut ends, |offset, record, fields, clean| {
            let offset = base + offset;
            if std::mem::take(&mut skip) {
                return;
            }
            if clean && walk_fields && fields.count() == width {
                batch.records.push((offset, record));
                batch.fields.extend((0..keep).map(|c| fields.field(c)));
                if batch.records.len() == BATCH {
                    self.map_batch(dialect, &mut batch, &mut s, p, malformed);
                }
                return;
            }
            if !batch.records.is_empty() {
                self.map_batch(dialect, &mut batch, &mut s, p, malformed);
            }
            let walked = (clean && walk_fields).then_some(fields);
            self.map_walked(dialect, width, offset, record, walked, &mut s, p, malformed);
        });
        if !batch.records.is_empty() {
            self.map_batch(dialect, &mut batch, &mut s, p, malformed);
        }
    }

    /// Map one walked record: with its fields from the walk (`walked`)
    /// when it was clean, else split again by the
    /// sequential splitter, which decides and names any error.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn map_walked<'a>(
        &self,
        dialect: &Dialect,
        width: usize,
        offset: usize,
        record: &'a [u8],
        walked: Option<&WalkedFields<'_, 'a>>,
        s: &mut Scratch<'a>,
        p: &mut FeaturesPartial,
        malformed: &mut Malformed,
    ) {
        match walked {
            Some(fields) => {
                let (key, unescaped, nums) = (&mut s.key, &mut s.unescaped, &mut s.nums);
                self.map_counted(dialect, width, offset, record, fields, key, unescaped, nums, p, malformed);
            }
            None => {
                if let Err(e) = split_fields(record, dialect.delimiter, dialect.quote, &mut s.fields) {
                    // A stray quote (`5" disk`) made one record of several
                    // lines: only the line that holds it is malformed.
                    if let Some(q) = dialect.quote
                        && memchr::memchr(b'\n', record).is_some()
                        && stray_quote_lines(record, dialect.delimiter, q, |start, end| {
                            let (offset, line) = (offset + start, &record[start..end]);
                            match split_fields(line, dialect.delimiter, dialect.quote, &mut s.fields) {
                                Err(e) => malformed.report(e.kind(), offset, line),
                                Ok(()) => {
                                    let (key, unescaped, nums) = (&mut s.key, &mut s.unescaped, &mut s.nums);
                                    let fields = &s.fields[..];
                                    self.map_counted(
                                        dialect, width, offset, line, fields, key, unescaped, nums, p, malformed,
                                    );
                                }
                            }
                        })
                    {
                        return;
                    }
                    malformed.report(e.kind(), offset, record);
                    return;
                }
                let (key, unescaped, nums) = (&mut s.key, &mut s.unescaped, &mut s.nums);
                self.map_counted(dialect, width, offset, record, &s.fields[..], key, unescaped, nums, p, malformed);
            }
        }
    }

    /// Map one record split into `fields`: a record of another width is
    /// malformed (blank or ragged).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn map_counted<'a, F: Fields<'a> + ?Sized>(
        &self,
        dialect: &Dialect,
        width: usize,
        offset: usize,
        record: &[u8],
        fields: &F,
        key: &mut Vec<u8>,
        unescaped: &mut Vec<u8>,
        nums: &mut [Option<(Num, f64)>],
        p: &mut FeaturesPartial,
        malformed: &mut Malformed,
    ) {
        if fields.count() != width {
            let kind = if record.is_empty() { "blank-line" } else { "ragged-row" };
            malformed.report(kind, offset, record);
            return;
        }
        self.map_record(dialect, offset, record, fields, None, key, unescaped, nums, p, malformed);
    }

    /// Map the records of `batch` in order, after touching the key-table
    /// slots of all their keys at once, and empty it.
    fn map_batch<'a>(
        &self,
        dialect: &Dialect,
        batch: &mut Batch<'a>,
        s: &mut Scratch<'a>,
        p: &mut FeaturesPartial,
        malformed: &mut Malformed,
    ) {
        let quote = dialect.quote.unwrap_or(b'"');
        let keep = batch.keep;
        let n = batch.records.len();
        // Keys of several parts are encoded and hashed once, here, and
        // looked up with what this gives (`known`).
        let several = self.keys.len() != 1;
        let mut hashes = [0u64; BATCH];
        let mut ends = [(0usize, Prefix::default()); BATCH];
        batch.keys.clear();
        for i in 0..n {
            let fields = &batch.fields[i * keep..(i + 1) * keep];
            if several {
                self.encode_key(quote, fields, &mut s.key, &mut s.unescaped);
                let (prefix, hash) = Prefix::with_hash(&s.key);
                batch.keys.extend_from_slice(&s.key);
                ends[i] = (batch.keys.len(), prefix);
                hashes[i] = hash;
            } else {
                hashes[i] = self.key_hash(quote, fields, &mut s.key, &mut s.unescaped);
            }
        }
        p.prefetch(&hashes[..n]);
        let mut start = 0;
        for (i, &(offset, record)) in batch.records.iter().enumerate() {
            let fields = &batch.fields[i * keep..(i + 1) * keep];
            let known = several.then(|| {
                let (end, prefix) = ends[i];
                let key = (&batch.keys[start..end], prefix, hashes[i]);
                start = end;
                key
            });
            let (key, unescaped) = (&mut s.key, &mut s.unescaped);
            self.map_record(dialect, offset, record, fields, known, key, unescaped, &mut s.nums, p, malformed);
        }
        batch.records.clear();
        batch.fields.clear();
    }

    /// The hash [`map_record`](Features::map_record) looks the key of
    /// `fields` up with (see `row_of_part` and `FeaturesPartial::row`).
    fn key_hash(&self, quote: u8, fields: &[RawField<'_>], key: &mut Vec<u8>, unescaped: &mut Vec<u8>) -> u64 {
        if let [c] = self.keys[..] {
            let v = fields[c].value(quote, unescaped);
            if !self.is_null(v)
                && let Some((_, hash)) = short_part(v)
            {
                return hash;
            }
        }
        self.encode_key(quote, fields, key, unescaped);
        Prefix::with_hash(key).1
    }

    /// Encode the key of `fields` into `key` (see [`push_key_part`]).
    #[inline(always)]
    fn encode_key<'a, F: Fields<'a> + ?Sized>(
        &self,
        quote: u8,
        fields: &F,
        key: &mut Vec<u8>,
        unescaped: &mut Vec<u8>,
    ) {
        key.clear();
        for &c in &self.keys {
            let v = fields.field(c).value(quote, unescaped);
            push_key_part(key, if self.is_null(v) { None } else { Some(v) });
        }
    }

    /// Fold one delimited record, split into `fields` (of the right count;
    /// at least up to the last column used), into `p`.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn map_record<'a, F: Fields<'a> + ?Sized>(
        &self,
        dialect: &Dialect,
        offset: usize,
        record: &[u8],
        fields: &F,
        known: Option<(&[u8], Prefix, u64)>,
        key: &mut Vec<u8>,
        unescaped: &mut Vec<u8>,
        nums: &mut [Option<(Num, f64)>],
        p: &mut FeaturesPartial,
        malformed: &mut Malformed,
    ) {
        let quote = dialect.quote.unwrap_or(b'"');
        for (j, &c) in self.values.iter().enumerate() {
            let v = fields.field(c).value(quote, unescaped);
            nums[j] = if self.is_null(v) {
                None
            } else {
                match self.check(parse_number(v)) {
                    Ok(n) => n,
                    Err(kind) => {
                        malformed.report(kind, offset, record);
                        return;
                    }
                }
            };
        }
        let (shard, row) = if let [c] = self.keys[..] {
            let v = fields.field(c).value(quote, unescaped);
            p.row_of_part(self, if self.is_null(v) { None } else { Some(v) }, key)
        } else if let Some((key, prefix, hash)) = known {
            p.row_hashed(self, key, prefix, hash, true)
        } else {
            self.encode_key(quote, fields, key, unescaped);
            p.row(self, key, true)
        };
        let p = &mut p.shards[shard];
        if p.invalid[row] {
            malformed.report("invalid-utf8", offset, record);
            return;
        }
        self.add_values(p, row, nums);
        let nd = self.distinct.len();
        for (j, &c) in self.distinct.iter().enumerate() {
            let v = fields.field(c).value(quote, unescaped);
            if !self.is_null(v) {
                p.distinct[row * nd + j].insert(v);
            }
        }
    }

    fn map_binary(&self, layout: &Layout, bytes: &[u8], p: &mut FeaturesPartial, malformed: &mut Malformed) {
        let mut key = Vec::with_capacity(64);
        let mut nums: Vec<Option<(Num, f64)>> = vec![None; self.values.len()];
        let text_key = (0..self.keys.len()).any(|i| self.key_is_text(i));
        'records: for rec in Fixed::new(layout.record_size).records(bytes) {
            if rec.bytes.len() < layout.record_size {
                malformed.report("short-record", rec.offset, rec.bytes);
                continue;
            }
            for (j, &c) in self.values.iter().enumerate() {
                nums[j] = match self.check(decode_number(&layout.fields[c], rec.bytes)) {
                    Ok(n) => n,
                    Err(kind) => {
                        malformed.report(kind, rec.offset, rec.bytes);
                        continue 'records;
                    }
                };
            }
            key.clear();
            for &c in &self.keys {
                push_key_part(&mut key, Some(field_value(layout, c, rec.bytes)));
            }
            let (shard, row) = p.row(self, &key, text_key);
            let s = &mut p.shards[shard];
            if s.invalid[row] {
                malformed.report("invalid-utf8", rec.offset, rec.bytes);
                continue;
            }
            self.add_values(s, row, &nums);
            let nd = self.distinct.len();
            for (j, &c) in self.distinct.iter().enumerate() {
                s.distinct[row * nd + j].insert(field_value(layout, c, rec.bytes));
            }
        }
    }

    pub(crate) fn key_type(&self, i: usize) -> Option<FieldType> {
        self.key_types[i]
    }

    /// Whether key part `i` is text (a delimited field or a byte string),
    /// which must be UTF-8, rather than a binary integer.
    fn key_is_text(&self, i: usize) -> bool {
        matches!(self.key_types[i], None | Some(FieldType::Bytes(_)))
    }
}

/// A field's value bytes: byte strings lose their NUL padding.
#[inline]
fn field_value<'a>(layout: &Layout, c: usize, record: &'a [u8]) -> &'a [u8] {
    layout.fields[c].bytes_in(record)
}

#[inline]
fn decode_number(field: &BinaryField, record: &[u8]) -> Num {
    match field.value_in(record) {
        FieldValue::Float(x) => float_num(x),
        FieldValue::Signed(v) => Num::Dec(v, 0),
        FieldValue::Unsigned(u) => match i64::try_from(u) {
            Ok(v) => Num::Dec(v, 0),
            Err(_) => Num::Float(u as f64),
        },
        // Byte strings are not numbers (the spec refuses them as values).
        FieldValue::Bytes(_) => Num::Bad,
    }
}

fn float_num(x: f64) -> Num {
    if x.is_nan() {
        Num::Nan
    } else if x.is_finite() {
        Num::Float(x)
    } else {
        Num::Bad
    }
}

/// A decoded key part, ordered as the output is sorted.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum KeyValue<'a> {
    Null,
    Int(i64),
    UInt(u64),
    Text(&'a [u8]),
}

fn key_value<'a>(ty: Option<FieldType>, part: Option<&'a [u8]>) -> KeyValue<'a> {
    match (ty, part) {
        (_, None) => KeyValue::Null,
        (Some(t), Some(b)) if t.is_signed() => KeyValue::Int(le_i64(b)),
        (Some(t), Some(b)) if t.is_unsigned() => KeyValue::UInt(le_u64(b)),
        (_, Some(b)) => KeyValue::Text(b),
    }
}

impl Features {
    /// The rows of `p` with valid keys, sorted by key, with their decoded
    /// key parts. Rows are sorted by prefixes of their first two key parts
    /// ([`sort_key`]) and compared in full only where those tie: comparing
    /// decoded parts for every pair cost a second at a million keys.
    pub(crate) fn sorted_rows<'p>(&self, p: &'p FeaturesPartial) -> SortedKeys<'p> {
        debug_assert!(p.later.is_empty(), "settled before its rows are read");
        let arity = self.keys.len();
        let types: Vec<Option<FieldType>> = (0..arity).map(|i| self.key_type(i)).collect();
        let mut parts: Vec<Option<&[u8]>> = Vec::with_capacity(p.len() * arity);
        let mut rows = Vec::with_capacity(p.len());
        for (shard, s) in p.shards.iter().enumerate() {
            for (key, &r) in s.table.iter() {
                if !s.invalid[r as usize] {
                    parts.extend(KeyParts(key).map(|part| part.expect("keys the job encoded")));
                    rows.push((shard, r as usize));
                }
            }
        }
        debug_assert_eq!(parts.len(), rows.len() * arity);
        let key = |i: u32| &parts[i as usize * arity..(i as usize + 1) * arity];
        let mut order: Vec<((u128, u128), u32)> =
            (0..rows.len() as u32).map(|i| (sort_key(&types, key(i)), i)).collect();
        // Keys are distinct, so an unstable sort is deterministic.
        order.par_sort_unstable_by(|&(pa, a), &(pb, b)| {
            pa.cmp(&pb).then_with(|| {
                key(a)
                    .iter()
                    .zip(key(b))
                    .zip(&types)
                    .map(|((x, y), t)| key_value(*t, *x).cmp(&key_value(*t, *y)))
                    .find(|o| *o != CmpOrdering::Equal)
                    .unwrap_or(CmpOrdering::Equal)
            })
        });
        SortedKeys {
            parts: order.iter().flat_map(|&(_, i)| key(i).iter().copied()).collect(),
            arity,
            rows: order.iter().map(|&(_, i)| rows[i as usize]).collect(),
        }
    }

    /// The key columns of the result for the rows of `range` in `order`.
    pub(crate) fn key_columns(&self, order: &SortedKeys<'_>, range: Range<usize>) -> (Vec<Field>, Vec<ArrayRef>) {
        let mut fields: Vec<Field> = Vec::new();
        let mut columns: Vec<ArrayRef> = Vec::new();
        for (i, name) in self.key_names.iter().enumerate() {
            let parts = order.column(i, range.clone());
            let (dt, array): (DataType, ArrayRef) = match self.key_type(i) {
                Some(t) if t.is_signed() => {
                    (DataType::Int64, Arc::new(Int64Array::from_iter(parts.map(|b| b.map(le_i64)))))
                }
                Some(t) if t.is_unsigned() => {
                    (DataType::UInt64, Arc::new(UInt64Array::from_iter(parts.map(|b| b.map(le_u64)))))
                }
                _ => (
                    DataType::Utf8,
                    // Text keys were checked when their rows were made
                    // (rows with other keys are not output), so the fast
                    // check passes; the lossy one stays for safety.
                    Arc::new(StringArray::from_iter(parts.map(|b| {
                        b.map(|b| std::str::from_utf8(b).map_or_else(|_| String::from_utf8_lossy(b), Cow::Borrowed))
                    }))),
                ),
            };
            fields.push(Field::new(name, dt, true));
            columns.push(array);
        }
        (fields, columns)
    }
}

impl Job for Features {
    type Format = AnyFormat;
    type Partial = FeaturesPartial;
    type Output = RecordBatch;

    fn format(&self) -> &AnyFormat {
        &self.format
    }

    fn empty(&self) -> FeaturesPartial {
        self.partial_for(0)
    }

    fn map(&self, chunk: Chunk<'_>, malformed: &mut Malformed) -> FeaturesPartial {
        let mut p = self.partial_for(self.key_hint.load(Ordering::Relaxed));
        match (&self.reader, &self.format) {
            (Reader::Delimited { dialect, width }, format) => {
                let skip = dialect.header && chunk.offset == 0;
                let record_quote = match format {
                    AnyFormat::Csv(csv) => Some(csv.quote()),
                    _ => None,
                };
                // A byte order mark is not part of the first key (a header,
                // which holds it, is skipped whole).
                let (bytes, base) = match chunk.bytes.strip_prefix(BOM) {
                    Some(rest) if chunk.offset == 0 && !skip => (rest, BOM.len()),
                    _ => (chunk.bytes, 0),
                };
                self.map_delimited(dialect, *width, bytes, base, record_quote, skip, &mut p, malformed)
            }
            (Reader::Binary(layout), _) => self.map_binary(layout, chunk.bytes, &mut p, malformed),
        }
        self.key_hint.fetch_max(p.len(), Ordering::Relaxed);
        p
    }

    fn merge(&self, left: FeaturesPartial, right: FeaturesPartial) -> FeaturesPartial {
        if left.len() + right.len() < SHARD_FROM_KEYS {
            // Few keys (so nothing waits): merged now.
            let (mut left, right) = if left.shards.len() != right.shards.len() {
                (self.sharded(left), self.sharded(right))
            } else {
                (left, right)
            };
            left.shards.iter_mut().zip(right.shards).for_each(|(l, r)| self.merge_shard(l, r));
            return left;
        }
        let mut left = self.sharded(left);
        let right = self.sharded(right);
        left.later.push(right.shards);
        left.later.extend(right.later);
        if left.later.len() > MAX_LATER {
            self.settle(&mut left);
        }
        left
    }

    fn finish(&self, mut p: FeaturesPartial, _inputs: &[Source]) -> RecordBatch {
        self.settle(&mut p);
        let order = self.sorted_rows(&p);
        let n = order.rows.len();
        // One piece at least, for the schema of an empty result.
        let pieces = n.div_ceil(FINISH_PIECE).max(1);
        let ranges: Vec<Range<usize>> =
            (0..pieces).map(|i| i * FINISH_PIECE..((i + 1) * FINISH_PIECE).min(n)).collect();
        // The key columns (text) are built piece by piece and joined.
        let mut keys: Vec<(Vec<Field>, Vec<ArrayRef>)> =
            ranges.par_iter().map(|range| self.key_columns(&order, range.clone())).collect();
        let (mut fields, mut columns) = keys.remove(0);
        if !keys.is_empty() {
            for (c, head) in columns.iter_mut().enumerate() {
                let parts: Vec<&dyn Array> =
                    std::iter::once(head.as_ref()).chain(keys.iter().map(|(_, cols)| cols[c].as_ref())).collect();
                *head = concat(&parts).expect("pieces of one column share its type");
            }
        }
        // The other columns are written by the pieces straight into their
        // slices of full-length buffers: built per piece and joined, they
        // were allocated, faulted in and copied twice.
        let specs = self.state_columns();
        let mut bufs: Vec<ColumnBuf> = specs.iter().map(|&(_, nullable)| ColumnBuf::new(nullable, n)).collect();
        if n > 0 {
            let mut views: Vec<Vec<ColumnView<'_>>> = ranges.iter().map(|_| Vec::with_capacity(bufs.len())).collect();
            for buf in &mut bufs {
                for (piece, view) in views.iter_mut().zip(buf.pieces()) {
                    piece.push(view);
                }
            }
            views
                .into_par_iter()
                .zip(ranges)
                .for_each(|(mut views, range)| self.finish_piece(&p, &order.rows[range], &mut views));
        }
        for ((name, nullable), buf) in specs.into_iter().zip(bufs) {
            let array = buf.into_array();
            fields.push(Field::new(name, array.data_type().clone(), nullable));
            columns.push(array);
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("columns match the schema")
    }

    /// Keys in `p`, a key in several waiting pieces once in each: the
    /// state held. Over the limit, [`exact_groups`](Job::exact_groups)
    /// counts each key once.
    fn groups(&self, p: &FeaturesPartial) -> Option<usize> {
        Some(p.len())
    }

    /// Each key of `p` once, the pieces left waiting: settling them here
    /// would combine a key's states in another order than a run without
    /// the limit does (or the coordinator of worker processes, which checks
    /// the limit once, on its merged partial), and float moments would
    /// differ in their last bits.
    fn exact_groups(&self, p: &FeaturesPartial) -> Option<usize> {
        Some(p.distinct_keys())
    }
}

impl Features {
    /// Merge the waiting pieces of `p` (see [`FeaturesPartial`]) into its
    /// shards: each shard, on the pool, takes its pieces in chunk order.
    pub(crate) fn settle(&self, p: &mut FeaturesPartial) {
        if p.later.is_empty() {
            return;
        }
        let mut pieces: Vec<Vec<Shard>> = (0..p.shards.len()).map(|_| Vec::with_capacity(p.later.len())).collect();
        for piece in std::mem::take(&mut p.later) {
            for (i, shard) in piece.into_iter().enumerate() {
                pieces[i].push(shard);
            }
        }
        p.shards.par_iter_mut().zip(pieces).for_each(|(shard, pieces)| {
            // Room for the keys the pieces add, estimated from their hashes:
            // grown by doubling instead, the first piece's arrays were
            // copied and faulted in again at each step.
            let keys = union_estimate(std::iter::once(&*shard).chain(&pieces).map(|s| &s.table));
            shard.reserve(self, (keys + keys / 64 + 64).saturating_sub(shard.rows.len()));
            for piece in pieces {
                self.merge_shard(shard, piece);
            }
        });
    }

    /// A partial of `pieces` (settled, in chunk order): the first holds the
    /// state, the others wait behind it, as a merge of many keys leaves
    /// them.
    pub(crate) fn with_pieces(&self, pieces: Vec<FeaturesPartial>) -> FeaturesPartial {
        let mut pieces = pieces.into_iter();
        let first = pieces.next().unwrap_or_else(|| self.empty());
        let later: Vec<Vec<Shard>> = pieces.map(|p| self.sharded(p).shards).collect();
        if later.is_empty() {
            return first;
        }
        FeaturesPartial { later, ..self.sharded(first) }
    }

    /// Merge the shard `right` (of later chunks) into `left`.
    fn merge_shard(&self, left: &mut Shard, mut right: Shard) {
        if left.rows.is_empty() {
            *left = right;
            return;
        }
        let nv = self.values.len();
        let nq = self.quantiles_per_row();
        let nd = self.distinct.len();
        let table = std::mem::replace(&mut right.table, KeyTable::with_capacity(0));
        // Two cursors run ahead of the merge: the first hints the slot of a
        // later key, the second (by then finding that slot in cache) looks
        // the key up and hints the state of its row, so that the misses of
        // the next keys overlap with the work on this one.
        let mut slots_ahead = table.entries().skip(2 * MERGE_AHEAD);
        let mut rows_ahead = table.entries().skip(MERGE_AHEAD);
        for (key, prefix, hash, &r) in table.entries() {
            if let Some((_, _, hash, &r)) = slots_ahead.next() {
                // Right's rows come in its table's order, which is not
                // theirs: their state is as far away as left's.
                let r = r as usize;
                left.table.prefetch(hash);
                prefetch(&right.values[r * nv..(r + 1) * nv]);
                prefetch(&right.quantiles[r * nq..(r + 1) * nq]);
                prefetch(&right.rows[r]);
            }
            if let Some((key, prefix, hash, _)) = rows_ahead.next()
                && let Some(&l) = left.table.get(key, prefix, hash)
            {
                let l = l as usize;
                prefetch(&left.values[l * nv..(l + 1) * nv]);
                prefetch(&left.quantiles[l * nq..(l + 1) * nq]);
            }
            let next = left.rows.len() as u32;
            let (slot, inserted) = left.table.entry(key, prefix, hash);
            let r = r as usize;
            if inserted {
                // A key new to `left` takes the state of `right` as it is:
                // merged into fresh state it would come out the same, and
                // at many keys most keys of a merge are new.
                *slot = next;
                left.push_moved(self, &mut right, r);
                continue;
            }
            let l = *slot as usize;
            left.rows[l] += right.rows[r];
            for j in 0..nv {
                left.values[l * nv + j].merge(&right.values[r * nv + j]);
            }
            for j in 0..nq {
                left.quantiles[l * nq + j].merge(&right.quantiles[r * nq + j]).expect("one config per job");
            }
            for j in 0..nd {
                let d = std::mem::replace(&mut right.distinct[r * nd + j], Distinct::new(self.distinct_config));
                left.distinct[l * nd + j].merge(d).expect("one config per job");
            }
        }
    }

    /// The output columns after the keys, in order: name and whether it is
    /// nullable (a float; counts are never null).
    fn state_columns(&self) -> Vec<(String, bool)> {
        let mut out = vec![("rows".to_string(), false)];
        for name in &self.value_names {
            out.extend(
                self.aggs.iter().map(|agg| (format!("{name}_{agg}"), !matches!(agg, Agg::Count | Agg::Missing))),
            );
        }
        out.extend(self.distinct_names.iter().map(|name| (format!("{name}_distinct"), false)));
        out
    }

    /// Fill `views` (one per [state column](Features::state_columns), each
    /// the slice of this piece) for `rows`, in key order.
    fn finish_piece(&self, p: &FeaturesPartial, rows: &[RowRef], views: &mut [ColumnView<'_>]) {
        let mut views = views.iter_mut();
        let mut next = || views.next().expect("one view per state column");
        next().set_counts(rows.iter().map(|&(s, r)| p.shards[s].rows[r]));
        let nv = self.values.len();
        let nq = self.qs.len();
        let mut quantiles: Vec<Option<f64>> = Vec::with_capacity(rows.len() * nq);
        for j in 0..nv {
            let accs: Vec<&ValueAcc> = rows.iter().map(|&(s, r)| &p.shards[s].values[r * nv + j]).collect();
            let stats: Vec<_> = accs
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    if let Some(ahead) = accs.get(i + FINISH_AHEAD) {
                        prefetch(*ahead);
                    }
                    a.finish()
                })
                .collect();
            quantiles.clear();
            if nq > 0 {
                for i in 0..rows.len() {
                    if let Some(&(s, r)) = rows.get(i + FINISH_AHEAD) {
                        prefetch(&p.shards[s].quantiles[r * nv + j]);
                    }
                    let (s, r) = rows[i];
                    quantiles.extend(p.shards[s].quantiles[r * nv + j].quantiles(&self.qs));
                }
            }
            let mut qi = 0;
            for agg in &self.aggs {
                let view = next();
                match agg {
                    Agg::Count => view.set_counts(accs.iter().map(|a| a.count())),
                    Agg::Missing => view.set_counts(accs.iter().map(|a| a.missing)),
                    Agg::Sum => view.set_floats(stats.iter().map(|s| s.sum)),
                    Agg::Min => view.set_floats(stats.iter().map(|s| s.min)),
                    Agg::Max => view.set_floats(stats.iter().map(|s| s.max)),
                    Agg::Mean => view.set_floats(stats.iter().map(|s| s.mean)),
                    Agg::Var => view.set_floats(stats.iter().map(|s| s.var)),
                    Agg::Std => view.set_floats(stats.iter().map(|s| s.var.map(f64::sqrt))),
                    Agg::First => view.set_floats(stats.iter().map(|s| s.first)),
                    Agg::Last => view.set_floats(stats.iter().map(|s| s.last)),
                    Agg::Quantile(_) => {
                        view.set_floats(quantiles.iter().skip(qi).step_by(nq).copied());
                        qi += 1;
                    }
                }
            }
        }
        let nd = self.distinct.len();
        for j in 0..nd {
            next().set_counts(rows.iter().map(|&(s, r)| p.shards[s].distinct[r * nd + j].estimate()));
        }
    }
}

/// A full-length output column being filled: counts, or floats with their
/// validity.
enum ColumnBuf {
    Counts(Vec<u64>),
    Floats(Vec<f64>, Vec<bool>),
}

/// One piece's slice of a [`ColumnBuf`].
enum ColumnView<'a> {
    Counts(&'a mut [u64]),
    Floats(&'a mut [f64], &'a mut [bool]),
}

impl ColumnBuf {
    fn new(nullable: bool, n: usize) -> ColumnBuf {
        if nullable { ColumnBuf::Floats(vec![0.0; n], vec![false; n]) } else { ColumnBuf::Counts(vec![0; n]) }
    }

    /// The slices of the finishing pieces, in order.
    fn pieces(&mut self) -> Vec<ColumnView<'_>> {
        match self {
            ColumnBuf::Counts(v) => v.chunks_mut(FINISH_PIECE).map(ColumnView::Counts).collect(),
            ColumnBuf::Floats(v, valid) => v
                .chunks_mut(FINISH_PIECE)
                .zip(valid.chunks_mut(FINISH_PIECE))
                .map(|(v, valid)| ColumnView::Floats(v, valid))
                .collect(),
        }
    }

    fn into_array(self) -> ArrayRef {
        match self {
            ColumnBuf::Counts(v) => Arc::new(UInt64Array::from(v)),
            ColumnBuf::Floats(v, valid) => {
                let nulls = valid.iter().any(|&ok| !ok).then(|| NullBuffer::from(valid));
                Arc::new(Float64Array::new(v.into(), nulls))
            }
        }
    }
}

impl ColumnView<'_> {
    fn set_counts(&mut self, values: impl Iterator<Item = u64>) {
        let ColumnView::Counts(out) = self else { unreachable!("a count column") };
        for (o, v) in out.iter_mut().zip(values) {
            *o = v;
        }
    }

    /// Null floats are stored as 0 (arrow's convention for null slots).
    fn set_floats(&mut self, values: impl Iterator<Item = Option<f64>>) {
        let ColumnView::Floats(out, valid) = self else { unreachable!("a float column") };
        for ((o, ok), v) in out.iter_mut().zip(valid.iter_mut()).zip(values) {
            *o = v.unwrap_or(0.0);
            *ok = v.is_some();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_a_sixteenth_capped_and_never_below_the_default() {
        assert_eq!(suggested_chunk_size(200 << 20, 3 << 20), 25 << 19);
        assert_eq!(suggested_chunk_size(10 << 30, 32 << 20), 32 << 20);
        assert_eq!(suggested_chunk_size(10 << 30, 20 << 20), 32 << 20);
        assert_eq!(suggested_chunk_size(1 << 20, 64 << 10), 64 << 10);
        assert_eq!(suggested_chunk_size(0, 64 << 10), 64 << 10);
        assert_eq!(suggested_chunk_size(160 << 20, 64 << 10), 10 << 20);
    }

    /// A key of one part finds the row its encoded form was given, for
    /// every length around the short-key cut, without touching the buffer
    /// once the key is known; a null part and a new key still work.
    #[test]
    fn a_part_finds_the_row_of_its_encoded_key() {
        let mut spec = FeatureSpec::delimited(Dialect::csv().header(false));
        spec.key("0").value("1");
        let inputs = [Source::from_bytes("t", b"a,1\n".to_vec())];
        let job = spec.build(&inputs).unwrap();
        let mut p = job.empty();
        let keys: Vec<Vec<u8>> = (1..=20).map(|n| (0..n as u8).map(|i| b'a' + i).collect()).collect();
        let mut buf = Vec::new();
        let rows: Vec<(usize, usize)> = keys
            .iter()
            .map(|k| {
                buf.clear();
                push_key_part(&mut buf, Some(k));
                p.row(&job, &buf, true)
            })
            .collect();
        for (k, &row) in keys.iter().zip(&rows) {
            let mut untouched = b"sentinel".to_vec();
            assert_eq!(p.row_of_part(&job, Some(k), &mut untouched), row, "{} bytes", k.len());
            if k.len() < 15 {
                assert_eq!(untouched, b"sentinel", "{} bytes went through the buffer", k.len());
            }
        }
        let null = p.row_of_part(&job, None, &mut buf);
        assert_eq!(p.row_of_part(&job, None, &mut buf), null);
        assert!(!rows.contains(&null));
        let new = p.row_of_part(&job, Some(b"zz"), &mut buf);
        assert_eq!(p.row_of_part(&job, Some(b"zz"), &mut buf), new);
        assert_eq!(p.len(), keys.len() + 2);
    }

    /// A field is null exactly when it is one of the job's markers, for
    /// the default markers, none, and markers of other first bytes.
    #[test]
    fn a_field_is_null_when_it_is_a_marker() {
        let inputs = [Source::from_bytes("t", b"a,1\n".to_vec())];
        let default: Vec<&str> = crate::spec::DEFAULT_NULLS.to_vec();
        for markers in [default, vec![], vec![""], vec!["-", "n/a", "\u{ff}", "NaN"]] {
            let mut spec = FeatureSpec::delimited(Dialect::csv().header(false));
            spec.key("0").value("1").nulls(markers.iter().map(|m| m.as_bytes().to_vec()));
            let job = spec.build(&inputs).unwrap();
            for field in ["", "NA", "N", "NULL", "null", "nul", "-", "--", "n/a", "x", "\u{ff}", "NaN", "Nan", "0"] {
                assert_eq!(job.is_null(field.as_bytes()), markers.contains(&field), "{field:?} with {markers:?}");
            }
        }
    }

    /// The settle's room estimate: tables of overlapping key ranges give
    /// their union within 2%, never more than the keys they hold, and
    /// nothing for empty tables.
    #[test]
    fn the_union_of_key_tables_is_estimated_within_two_percent() {
        let table = |range: std::ops::Range<u32>| {
            let mut t: KeyTable<u32> = KeyTable::with_capacity(0);
            for i in range {
                // Short keys that differ in their last bytes, and long ones.
                let key = if i % 2 == 0 { format!("key{i}") } else { format!("entity-key-{i:08}") };
                let (prefix, hash) = Prefix::with_hash(key.as_bytes());
                t.entry(key.as_bytes(), prefix, hash);
            }
            t
        };
        let empty = table(0..0);
        assert_eq!(union_estimate([&empty, &empty].into_iter()), 0);
        for (ranges, union) in [
            (vec![0..1, 0..0], 1usize),
            (vec![0..1000, 500..1000], 1000),
            (vec![0..50_000, 25_000..75_000, 50_000..100_000], 100_000),
            (vec![0..80_000, 0..80_000, 0..80_000, 0..80_000], 80_000),
            (vec![0..10_000, 10_000..20_000, 20_000..30_000], 30_000),
        ] {
            let tables: Vec<KeyTable<u32>> = ranges.into_iter().map(table).collect();
            let held: usize = tables.iter().map(KeyTable::len).sum();
            let estimate = union_estimate(tables.iter());
            assert!(estimate <= held, "{estimate} of {held} held");
            let error = (estimate as f64 - union as f64).abs() / union as f64;
            assert!(error <= 0.02, "{estimate} for {union} distinct keys");
        }
    }
}

#[cfg(test)]
mod sort_prefix_tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// A short part's prefix and hash, built from its bytes, are those
        /// of its encoded key; longer parts get none.
        #[test]
        fn short_parts_hash_as_their_encoded_keys(b in prop::collection::vec(any::<u8>(), 0..20)) {
            let mut key = Vec::new();
            push_key_part(&mut key, Some(&b));
            match short_part(&b) {
                Some(got) => prop_assert_eq!(got, Prefix::with_hash(&key)),
                None => prop_assert!(b.len() >= 15),
            }
        }
    }

    /// Parts of one key column: null, or bytes of the column's type.
    fn parts() -> impl Strategy<Value = (Option<FieldType>, Vec<Option<Vec<u8>>>)> {
        // Shared stems around the 14-byte cut, then a short tail: texts
        // that tie in their first bytes and differ (or not) after them.
        let stem = prop_oneof![
            Just(Vec::new()),
            Just(b"aaaaaaaaaaaaa".to_vec()),
            Just(b"aaaaaaaaaaaaaa".to_vec()),
            Just(b"aaaaaaaaaaaaa\0".to_vec()),
            prop::collection::vec(any::<u8>(), 0..20),
        ];
        let tail = prop::collection::vec(prop_oneof![Just(0u8), Just(b'a'), Just(b'b'), any::<u8>()], 0..4);
        let text = (stem, tail).prop_map(|(mut s, t)| {
            s.extend(t);
            s
        });
        prop_oneof![
            Just(None).prop_flat_map(move |t| (Just(t), prop::collection::vec(prop::option::of(text.clone()), 2..12))),
            prop_oneof![Just(FieldType::I16), Just(FieldType::I64), Just(FieldType::U32), Just(FieldType::U64)]
                .prop_flat_map(|t| {
                    let width = match t {
                        FieldType::I16 => 2,
                        FieldType::U32 => 4,
                        _ => 8,
                    };
                    let bytes = prop::collection::vec(any::<u8>(), width..=width);
                    (Just(Some(t)), prop::collection::vec(prop::option::of(bytes), 2..12))
                }),
        ]
    }

    proptest! {
        /// The sort relies on this: a smaller prefix is a smaller part, a
        /// smaller part never has a larger prefix, and equal exact prefixes
        /// are equal parts.
        #[test]
        fn prefixes_order_as_key_values((ty, parts) in parts()) {
            for a in &parts {
                for b in &parts {
                    let ((pa, exact), (pb, _)) = (sort_prefix(ty, a.as_deref()), sort_prefix(ty, b.as_deref()));
                    let (va, vb) = (key_value(ty, a.as_deref()), key_value(ty, b.as_deref()));
                    if pa < pb {
                        prop_assert!(va < vb, "{a:?} {b:?}");
                    }
                    if va < vb {
                        prop_assert!(pa <= pb, "{a:?} {b:?}");
                    }
                    if pa == pb && exact {
                        prop_assert!(va == vb, "{a:?} {b:?}");
                    }
                }
            }
        }
    }
}
