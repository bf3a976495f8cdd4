//! The One Billion Row Challenge preset: `station;temperature` lines to
//! min/mean/max per station.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow_array::{Array, ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray, UInt64Array};
use arrow_schema::{DataType, Field, Schema};
use pagemill_engine::{Chunk, Job, Malformed};
use pagemill_mmap::Source;
use pagemill_split::block::eq_mask16;
use pagemill_split::{BOM, Lines};

use crate::error::Error;
use crate::table::{KeyTable, Prefix};

/// Per-station accumulator, in tenths of a degree.
#[derive(Clone, Debug)]
pub struct BrcStats {
    min: i32,
    max: i32,
    sum: i64,
    count: u64,
    /// The station name is not valid UTF-8: its rows are malformed.
    invalid: bool,
}

impl Default for BrcStats {
    fn default() -> BrcStats {
        BrcStats { min: i32::MAX, max: i32::MIN, sum: 0, count: 0, invalid: false }
    }
}

impl BrcStats {
    #[inline]
    fn add(&mut self, tenths: i32) {
        self.min = self.min.min(tenths);
        self.max = self.max.max(tenths);
        self.sum += i64::from(tenths);
        self.count += 1;
    }

    fn merge(&mut self, other: &BrcStats) {
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
        self.count += other.count;
        self.invalid |= other.invalid;
    }
}

/// The partial result of the 1BRC job: one table of stations per chunk range.
#[derive(Clone, Debug)]
pub struct BrcPartial(KeyTable<BrcStats>);

/// The 1BRC job: a [`Job`] over [`Lines`] that computes min, mean and max
/// temperature per station.
///
/// Lines must read `name;value`: a name of at least one byte (no `;`), a
/// value matching `-?[0-9]{1,2}\.[0-9]`, and an optional CR before the LF.
/// Anything else is a malformed record (`missing-separator`, `empty-name`,
/// `bad-number`, `invalid-utf8`) and leaves the results of the valid lines
/// unchanged. All arithmetic is on integer tenths, so the result is exact and
/// identical for any thread count and chunk size.
#[derive(Debug, Default)]
pub struct Brc {
    /// The most stations any chunk has seen: new chunk tables start this big.
    key_hint: AtomicUsize,
}

/// One station's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StationStats {
    /// The station name.
    pub name: String,
    /// Lowest temperature, in tenths of a degree.
    pub min: i32,
    /// Highest temperature, in tenths of a degree.
    pub max: i32,
    /// Sum of all temperatures, in tenths of a degree.
    pub sum: i64,
    /// Number of measurements.
    pub count: u64,
}

impl StationStats {
    /// The mean in tenths, rounded half up (toward positive infinity) from the
    /// exact sum, as the official 1BRC reference does.
    pub fn mean_tenths(&self) -> i64 {
        let (sum, n) = (i128::from(self.sum), i128::from(self.count.max(1)));
        (2 * sum + n).div_euclid(2 * n) as i64
    }
}

/// The 1BRC result: stations sorted by name in UTF-8 byte order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrcResult {
    /// Per-station results, sorted by name bytes.
    pub stations: Vec<StationStats>,
}

/// Write `tenths` as a decimal with one digit after the point (never `-0.0`).
fn write_tenths(out: &mut String, tenths: i64) {
    use std::fmt::Write;
    let sign = if tenths < 0 { "-" } else { "" };
    let abs = tenths.unsigned_abs();
    let _ = write!(out, "{sign}{}.{}", abs / 10, abs % 10);
}

impl BrcResult {
    /// The official output: `{Abha=-23.0/18.0/59.2, Abidjan=..., ...}` and a
    /// newline.
    pub fn to_official(&self) -> String {
        let mut out = String::with_capacity(self.stations.len() * 32 + 3);
        out.push('{');
        for (i, s) in self.stations.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&s.name);
            out.push('=');
            write_tenths(&mut out, i64::from(s.min));
            out.push('/');
            write_tenths(&mut out, s.mean_tenths());
            out.push('/');
            write_tenths(&mut out, i64::from(s.max));
        }
        out.push_str("}\n");
        out
    }

    /// The result as an Arrow batch: `station` (Utf8), `rows` (UInt64),
    /// `temperature_min`, `temperature_mean`, `temperature_max` (Float64,
    /// degrees; the mean rounded as in the official output).
    pub fn to_record_batch(&self) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("station", DataType::Utf8, false),
            Field::new("rows", DataType::UInt64, false),
            Field::new("temperature_min", DataType::Float64, false),
            Field::new("temperature_mean", DataType::Float64, false),
            Field::new("temperature_max", DataType::Float64, false),
        ]));
        let tenths = |v: i64| v as f64 / 10.0;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(self.stations.iter().map(|s| s.name.as_str()))),
            Arc::new(UInt64Array::from_iter_values(self.stations.iter().map(|s| s.count))),
            Arc::new(Float64Array::from_iter_values(self.stations.iter().map(|s| tenths(i64::from(s.min))))),
            Arc::new(Float64Array::from_iter_values(self.stations.iter().map(|s| tenths(s.mean_tenths())))),
            Arc::new(Float64Array::from_iter_values(self.stations.iter().map(|s| tenths(i64::from(s.max))))),
        ];
        RecordBatch::try_new(schema, columns).expect("columns match the schema")
    }
}

/// The value of [`PARTIAL_KEY`](crate::PARTIAL_KEY) for 1BRC partials.
pub const BRC_PARTIAL: &str = "features-1brc/1";

impl BrcResult {
    /// The result as a partial batch that [`BrcResult::merge_partials`]
    /// merges with those of other runs: `station` (Utf8), `rows` (UInt64),
    /// `min_tenths`, `max_tenths` (Int32) and `sum_tenths` (Int64), exact
    /// integer tenths of a degree, with [`PARTIAL_KEY`](crate::PARTIAL_KEY)
    /// = `features-1brc/1` in the schema metadata.
    pub fn to_partial_batch(&self) -> RecordBatch {
        let metadata = std::collections::HashMap::from([(crate::PARTIAL_KEY.to_string(), BRC_PARTIAL.to_string())]);
        let schema = Schema::new(vec![
            Field::new("station", DataType::Utf8, false),
            Field::new("rows", DataType::UInt64, false),
            Field::new("min_tenths", DataType::Int32, false),
            Field::new("max_tenths", DataType::Int32, false),
            Field::new("sum_tenths", DataType::Int64, false),
        ])
        .with_metadata(metadata);
        let s = &self.stations;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(s.iter().map(|s| s.name.as_str()))),
            Arc::new(UInt64Array::from_iter_values(s.iter().map(|s| s.count))),
            Arc::new(Int32Array::from_iter_values(s.iter().map(|s| s.min))),
            Arc::new(Int32Array::from_iter_values(s.iter().map(|s| s.max))),
            Arc::new(Int64Array::from_iter_values(s.iter().map(|s| s.sum))),
        ];
        RecordBatch::try_new(Arc::new(schema), columns).expect("columns match the schema")
    }

    /// The result as a partial of the [`Brc`] job again, so that it merges
    /// with the partials of other chunks by [`Job::merge`], exactly as if
    /// its stations had been mapped here (worker processes hand their
    /// finished results back this way).
    pub fn into_partial(self) -> BrcPartial {
        let mut table = KeyTable::with_capacity(self.stations.len());
        for s in self.stations {
            let key = s.name.as_bytes();
            let (prefix, hash) = Prefix::with_hash(key);
            let (stats, _) = table.entry(key, prefix, hash);
            *stats = BrcStats { min: s.min, max: s.max, sum: s.sum, count: s.count, invalid: false };
        }
        BrcPartial(table)
    }

    /// Merge 1BRC partial batches (from [`to_partial_batch`](BrcResult::to_partial_batch))
    /// into the result of one run over all their inputs. Exact: every
    /// number is an integer of tenths.
    pub fn merge_partials(batches: &[RecordBatch]) -> Result<BrcResult, Error> {
        let mut merged: std::collections::BTreeMap<Vec<u8>, StationStats> = std::collections::BTreeMap::new();
        for batch in batches {
            match batch.schema().metadata().get(crate::PARTIAL_KEY).map(String::as_str) {
                Some(BRC_PARTIAL) => {}
                other => {
                    return Err(Error::NotAPartial(format!(
                        "expected a 1BRC partial, found {}",
                        other.unwrap_or("none")
                    )));
                }
            }
            let bad = || Error::BadPartial("1BRC partial columns are not station, rows, min, max, sum".to_string());
            if batch.num_columns() != 5 {
                return Err(bad());
            }
            let col = |i: usize| batch.column(i).as_any();
            let (Some(names), Some(rows), Some(min), Some(max), Some(sum)) = (
                col(0).downcast_ref::<StringArray>(),
                col(1).downcast_ref::<UInt64Array>(),
                col(2).downcast_ref::<Int32Array>(),
                col(3).downcast_ref::<Int32Array>(),
                col(4).downcast_ref::<Int64Array>(),
            ) else {
                return Err(bad());
            };
            if batch.columns().iter().any(|c| c.null_count() > 0) {
                return Err(Error::BadPartial("nulls in a 1BRC partial".to_string()));
            }
            for i in 0..batch.num_rows() {
                let stats = StationStats {
                    name: names.value(i).to_string(),
                    min: min.value(i),
                    max: max.value(i),
                    sum: sum.value(i),
                    count: rows.value(i),
                };
                if stats.count == 0 || stats.min > stats.max || stats.name.is_empty() {
                    return Err(Error::BadPartial(format!("row {i}: impossible station statistics")));
                }
                match merged.entry(stats.name.as_bytes().to_vec()) {
                    std::collections::btree_map::Entry::Vacant(e) => {
                        e.insert(stats);
                    }
                    std::collections::btree_map::Entry::Occupied(mut e) => {
                        let m = e.get_mut();
                        m.min = m.min.min(stats.min);
                        m.max = m.max.max(stats.max);
                        m.sum = m.sum.checked_add(stats.sum).ok_or_else(|| Error::BadPartial("sum overflow".into()))?;
                        m.count += stats.count;
                    }
                }
            }
        }
        Ok(BrcResult { stations: merged.into_values().collect() })
    }
}

impl fmt::Display for BrcResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_official())
    }
}

/// Bytes that must follow a line's start for the fast path to read without
/// bounds trouble: a 100-byte name, `;`, a 5-byte value and `\n`, rounded up
/// to whole 8-byte loads.
const MARGIN: usize = 128;
/// The fast path looks for the `;` in 16-byte blocks starting at most here
/// (names of up to 111 bytes; the value after them is still read within
/// [`MARGIN`]); longer lines take the slow path.
const LONG_NAME_LAST_BLOCK: usize = 96;
/// Chunks of at least this many bytes are read by two interleaved cursors.
const INTERLEAVE_MIN: usize = 4096;

/// `NAME_MASKS[n]`: masks that keep the first `n` bytes of two words.
const NAME_MASKS: [[u64; 2]; 16] = {
    let mut m = [[0u64; 2]; 16];
    let mut n = 0;
    while n < 16 {
        m[n] = if n < 8 { [(1u64 << (8 * n)) - 1, 0] } else { [u64::MAX, (1u64 << (8 * (n - 8))) - 1] };
        n += 1;
    }
    m
};

const HIGHS: u64 = 0x8080_8080_8080_8080;

#[inline(always)]
fn load(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"))
}

/// Parse a value `-?d?d.d\n` from the 8 bytes `w` that follow the `;`.
/// Returns the value in tenths and the bytes it took including the `\n`, or
/// `None` if the bytes are anything else (the slow path then decides).
///
/// Branch-free up to one test that real data always passes: the sign and the
/// number of digits vary at random from line to line, and a branch on either
/// would be mispredicted about every other line.
#[inline(always)]
fn parse_value(w: u64) -> Option<(i32, usize)> {
    // '.' (0x2E), '-' (0x2D) and '\n' (0x0A) have bit 4 clear, digits have it
    // set: the first clear bit 4 among bytes 1..=3 is the decimal point.
    let dot_bit = (!w & 0x1010_1000).trailing_zeros(); // 12, 20, 28, or 64: none
    let dot = ((dot_bit >> 3) & 3) as usize; // 1, 2 or 3; 0 when there is none
    let negative = usize::from(w & 0xFF == u64::from(b'-'));
    // Per sign and point position, the bytes that must be digits: the one
    // after the point, and those before it except a leading minus. Shapes
    // that cannot be a value (no digit before the point, three digits, no
    // point) require the point, byte 0 or the minus to be a digit, which
    // they never are: one test rejects them with every other bad shape.
    const DIGITS: [u64; 8] = [0x80, 0x80_0080, 0x8000_8080, 0x8000_0000, 0x80, 0x8000, 0x8000_8000, 0x80_0080_8000];
    let v = w ^ 0x3030_3030_3030_3030;
    let not_digit = (v.wrapping_add(0x7676_7676_7676_7676) | v) & HIGHS;
    // The point itself, and the newline right after the tenths digit.
    let frame = (w >> (8 * dot)) & 0xFF_00FF;
    if (not_digit & DIGITS[negative << 2 | dot] != 0) | (frame != 0x0A_002E) {
        return None;
    }
    // Line the digits up (tens, ones, tenths at bytes 1, 2, 4) and combine
    // them with one multiplication: 100 * tens + 10 * ones + tenths.
    let sign = ((!w << 59) as i64) >> 63; // -1 if byte 0 is '-', else 0
    let unsigned = w & !(sign as u64 & 0xFF);
    let digits = (unsigned << (28 - dot_bit)) & 0x0F_000F_0F00;
    let abs = ((digits.wrapping_mul(0x640A_0001) >> 32) & 0x3FF) as i64;
    Some((((abs ^ sign) - sign) as i32, dot + 3))
}

/// Parse a value strictly (the slow path): `-?[0-9]{1,2}\.[0-9]`.
/// A 1BRC temperature (`-99.9` to `99.9`, exactly one decimal) in tenths:
/// `b"-12.3"` is `-123`. None for anything else.
pub fn parse_tenths(s: &[u8]) -> Option<i32> {
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    let (int, frac) = match digits {
        [a, b'.', f] => (i32::from(a.wrapping_sub(b'0')), *f),
        [a, b, b'.', f] if a.is_ascii_digit() && b.is_ascii_digit() => {
            (i32::from(a - b'0') * 10 + i32::from(b - b'0'), *f)
        }
        _ => return None,
    };
    if int > 99 || !frac.is_ascii_digit() || !digits[0].is_ascii_digit() {
        return None;
    }
    let v = int * 10 + i32::from(frac - b'0');
    Some(if negative { -v } else { v })
}

impl Brc {
    /// A new job.
    pub fn new() -> Brc {
        Brc::default()
    }

    /// Add a parsed line to the table, or report it if its name is not UTF-8.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn add(
        table: &mut KeyTable<BrcStats>,
        name: &[u8],
        prefix: Prefix,
        hash: u64,
        tenths: i32,
        line: &[u8],
        offset: usize,
        malformed: &mut Malformed,
    ) {
        let (stats, inserted) = table.entry(name, prefix, hash);
        if inserted {
            stats.invalid = std::str::from_utf8(name).is_err();
        }
        if stats.invalid {
            malformed.report("invalid-utf8", offset, line);
        } else {
            stats.add(tenths);
        }
    }

    /// Process the line starting at `p`; return where the next one starts.
    /// `b` must hold at least [`MARGIN`] readable bytes from `p`; `end` is
    /// where the real data ends (padding may follow); `base` is the offset of
    /// `b` in the chunk, for reports.
    #[inline(always)]
    fn line(
        b: &[u8],
        p: usize,
        end: usize,
        base: usize,
        table: &mut KeyTable<BrcStats>,
        malformed: &mut Malformed,
    ) -> usize {
        // Names of up to 15 bytes (nearly all real ones) end within the first
        // 16 bytes. Every load below stays within MARGIN bytes of `p`: one
        // bounds check for the line instead of one per load.
        let win: &[u8; MARGIN] = b[p..p + MARGIN].try_into().expect("MARGIN readable bytes");
        let w0 = load(win, 0);
        let w1 = load(win, 8);
        // One 16-byte compare finds the ';' among the first 16 bytes.
        let semis = eq_mask16(win[..16].try_into().expect("16 bytes"), b';');
        if semis != 0 {
            // At most 15: the ';' is in the first 16 bytes.
            let len = semis.trailing_zeros() as usize & 15;
            let [m0, m1] = NAME_MASKS[len];
            let prefix = Prefix { w0: w0 & m0, w1: w1 & m1 };
            if len == 0 {
                return Self::slow_line(b, p, end, base, table, malformed);
            }
            // The tail below repeats the long-name path's on purpose: merged
            // into one, the compiler no longer knows `len < 16` and a zero
            // tail word here, which cost 27 instructions a line (cachegrind,
            // 1 M rows) and about 10 % of the 1BRC run.
            let Some((tenths, used)) = parse_value(load(win, len + 1)) else {
                return Self::slow_line(b, p, end, base, table, malformed);
            };
            let next = p + len + 1 + used;
            let hash = prefix.hash(len, 0);
            // A name the table does not know yet takes the slow path, which
            // checks the line in full (a '\n' before the ';' included) and
            // inserts it: names in the table are valid, so a line whose
            // name is found needs no more checks.
            let Some(stats) = table.find(&win[..len], prefix, hash) else {
                return Self::slow_line(b, p, end, base, table, malformed);
            };
            Self::add_found(stats, tenths, b, p, next, base, malformed);
            return next;
        }
        // Longer names: 16 bytes at a time from the 17th. A line with no
        // ';' before the next line's makes a name with a '\n' in it, which
        // the table cannot hold: the lookup below sends it to the slow path.
        let mut at = 16;
        let len = loop {
            if at > LONG_NAME_LAST_BLOCK {
                return Self::slow_line(b, p, end, base, table, malformed);
            }
            let semis = eq_mask16(win[at..at + 16].try_into().expect("16 bytes"), b';');
            if semis != 0 {
                break at + semis.trailing_zeros() as usize;
            }
            at += 16;
        };
        let (prefix, tail) = (Prefix { w0, w1 }, load(win, len - 8));
        let Some((tenths, used)) = parse_value(load(win, len + 1)) else {
            return Self::slow_line(b, p, end, base, table, malformed);
        };
        let next = p + len + 1 + used;
        let hash = prefix.hash(len, tail);
        let Some(stats) = table.find(&win[..len], prefix, hash) else {
            return Self::slow_line(b, p, end, base, table, malformed);
        };
        Self::add_found(stats, tenths, b, p, next, base, malformed);
        next
    }

    /// Add a value to a station the table already holds (the line starts at
    /// `p` and its successor at `next`).
    #[inline(always)]
    fn add_found(
        stats: &mut BrcStats,
        tenths: i32,
        b: &[u8],
        p: usize,
        next: usize,
        base: usize,
        malformed: &mut Malformed,
    ) {
        if stats.invalid {
            malformed.report("invalid-utf8", base + p, &b[p..next - 1]);
        } else {
            stats.add(tenths);
        }
    }

    /// Process the lines of `b[p..end]` (`end` is the end of `b` or just
    /// after a newline): the fast path while [`MARGIN`] bytes are readable,
    /// then the last lines from a padded copy, where a missing final newline
    /// is added.
    fn finish_range(b: &[u8], mut p: usize, end: usize, table: &mut KeyTable<BrcStats>, malformed: &mut Malformed) {
        if let Some(stop) = b.len().checked_sub(MARGIN) {
            while p < end && p <= stop {
                p = Self::line(b, p, end, 0, table, malformed);
            }
        }
        if p < end {
            let mut tail = Vec::with_capacity(end - p + MARGIN + 1);
            tail.extend_from_slice(&b[p..end]);
            if tail.last() != Some(&b'\n') {
                tail.push(b'\n');
            }
            let len = tail.len();
            tail.resize(len + MARGIN, 0);
            let mut q = 0;
            while q < len {
                q = Self::line(&tail, q, len, p, table, malformed);
            }
        }
    }

    /// The careful path for lines the fast path does not accept: CRLF, long
    /// names, and malformed lines.
    #[cold]
    #[inline(never)]
    fn slow_line(
        b: &[u8],
        p: usize,
        end: usize,
        base: usize,
        table: &mut KeyTable<BrcStats>,
        malformed: &mut Malformed,
    ) -> usize {
        let (line_end, next) = match memchr::memchr(b'\n', &b[p..end]) {
            Some(i) => (p + i, p + i + 1),
            None => (end, end),
        };
        let raw = &b[p..line_end];
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let Some(semi) = memchr::memchr(b';', line) else {
            malformed.report("missing-separator", base + p, raw);
            return next;
        };
        let name = &line[..semi];
        if name.is_empty() {
            malformed.report("empty-name", base + p, raw);
            return next;
        }
        let Some(tenths) = parse_tenths(&line[semi + 1..]) else {
            malformed.report("bad-number", base + p, raw);
            return next;
        };
        let (prefix, hash) = Prefix::with_hash(name);
        Self::add(table, name, prefix, hash, tenths, raw, base + p, malformed);
        next
    }
}

impl Job for Brc {
    type Format = Lines;
    type Partial = BrcPartial;
    type Output = BrcResult;

    fn format(&self) -> &Lines {
        &Lines
    }

    fn empty(&self) -> BrcPartial {
        BrcPartial(KeyTable::with_capacity(8))
    }

    fn map(&self, chunk: Chunk<'_>, malformed: &mut Malformed) -> BrcPartial {
        let mut table = KeyTable::with_capacity(self.key_hint.load(Ordering::Relaxed).max(512));
        self.map_table(&mut table, chunk, malformed);
        BrcPartial(table)
    }

    /// Stations' counts, sums, minima and maxima are integers: their merge
    /// is exact and order-free, so each worker maps its chunks into one
    /// table instead of building and merging one per chunk.
    fn order_free(&self) -> bool {
        true
    }

    fn map_into(&self, acc: &mut BrcPartial, chunk: Chunk<'_>, malformed: &mut Malformed) {
        let stations = self.key_hint.load(Ordering::Relaxed);
        if stations < FOLD_STATIONS {
            // Few stations (or the first chunk): a table per chunk, merged
            // in. Mapping into one table per worker measured 3-5% slower
            // with 413 stations (1 GB, 100 M lines), for reasons not yet
            // understood; with 10,000 it is 25% faster.
            let partial = self.map(chunk, malformed);
            let before = std::mem::replace(acc, self.empty());
            *acc = self.merge(before, partial);
            return;
        }
        if acc.0.len() == 0 {
            // Room for every station seen so far at the sparse load
            // `with_capacity` picks (a table grown from `empty` runs at
            // load 1/2: 20% slower with 413 stations).
            acc.0 = KeyTable::with_capacity(stations);
        }
        self.map_table(&mut acc.0, chunk, malformed);
    }

    fn merge(&self, left: BrcPartial, right: BrcPartial) -> BrcPartial {
        let (mut big, small) = if left.0.len() >= right.0.len() { (left, right) } else { (right, left) };
        big.0.merge_from(&small.0, BrcStats::merge);
        big
    }

    fn finish(&self, partial: BrcPartial, _inputs: &[Source]) -> BrcResult {
        let mut stations: Vec<StationStats> = partial
            .0
            .iter()
            .filter(|(_, s)| !s.invalid && s.count > 0)
            .map(|(name, s)| StationStats {
                name: String::from_utf8(name.to_vec()).expect("valid names were checked"),
                min: s.min,
                max: s.max,
                sum: s.sum,
                count: s.count,
            })
            .collect();
        stations.sort_unstable_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        BrcResult { stations }
    }

    fn groups(&self, partial: &BrcPartial) -> Option<usize> {
        Some(partial.0.len())
    }
}

/// Stations (as seen so far in a run) from which workers map their chunks
/// into one table ([`Job::map_into`]) instead of one table per chunk.
const FOLD_STATIONS: usize = 2048;

impl Brc {
    /// Map the lines of `chunk` into `table`.
    fn map_table(&self, table: &mut KeyTable<BrcStats>, chunk: Chunk<'_>, malformed: &mut Malformed) {
        let b = chunk.bytes;
        // Two cursors, over the two halves of the chunk, take turns line by
        // line. Each line's start depends on the previous line's parse (a
        // chain of loads, compares and shifts), so one cursor leaves the
        // core waiting; two independent chains overlap.
        let mid = if b.len() >= INTERLEAVE_MIN {
            memchr::memchr(b'\n', &b[b.len() / 2..]).map_or(b.len(), |i| b.len() / 2 + i + 1)
        } else {
            b.len()
        };
        // The second half reports into its own account, merged after the
        // first's, so samples stay in input order.
        let mut later = Malformed::for_chunk(&chunk, malformed.max_samples());
        // A byte order mark at an input's start is not part of the first
        // station's name; skipping it keeps byte offsets exact.
        let start = if chunk.offset == 0 && b.starts_with(BOM) { BOM.len() } else { 0 };
        let (mut p, mut q) = (start, mid);
        if b.len() >= MARGIN {
            // The fast path may start a line at any position <= stop.
            let stop = b.len() - MARGIN;
            while p < mid && q <= stop {
                p = Self::line(b, p, mid, 0, table, malformed);
                q = Self::line(b, q, b.len(), 0, table, &mut later);
            }
        }
        Self::finish_range(b, p, mid, table, malformed);
        Self::finish_range(b, q, b.len(), table, &mut later);
        malformed.merge(later);
        self.key_hint.fetch_max(table.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(s: &[u8]) -> u64 {
        let mut buf = [0u8; 8];
        buf[..s.len()].copy_from_slice(s);
        u64::from_le_bytes(buf)
    }

    /// With more than [`FOLD_STATIONS`] stations, workers map their chunks
    /// into one table each: the result equals one table over everything.
    #[test]
    fn folding_many_stations_per_worker_changes_no_result() {
        let mut text = String::new();
        let mut want = std::collections::BTreeMap::<String, (i64, i64)>::new();
        for i in 0..60_000u64 {
            let name = format!("station-{:05}", (i * 7919) % 5000);
            let tenths = (i % 997) as i64 - 498;
            let sign = if tenths < 0 { "-" } else { "" };
            text.push_str(&format!("{name};{sign}{}.{}\n", tenths.abs() / 10, tenths.abs() % 10));
            let e = want.entry(name).or_default();
            e.0 += 1;
            e.1 += tenths;
        }
        let run = |threads, chunk| {
            let mut r = pagemill_engine::Runner::new();
            r.threads(threads).chunk_size(chunk);
            let job = Brc::new();
            let out = r.run(&job, &[Source::from_bytes("t", text.clone().into_bytes())]).unwrap();
            if chunk < text.len() {
                // Chunks of 64 KiB hold more than FOLD_STATIONS stations.
                assert!(job.key_hint.load(Ordering::Relaxed) >= FOLD_STATIONS);
            }
            out
        };
        let one = run(1, 1 << 30);
        assert!(one.malformed.is_empty(), "{}", one.malformed);
        let got: Vec<(String, (i64, i64))> =
            one.output.stations.iter().map(|s| (s.name.clone(), (s.count as i64, s.sum))).collect();
        assert!(got == want.into_iter().collect::<Vec<_>>(), "counts and sums of a one-table run");
        for threads in [2, 3] {
            assert!(run(threads, 64 << 10).output.stations == one.output.stations, "{threads} threads");
        }
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_first_name() {
        for text in ["\u{feff}Abha;1.0\nAbha;3.0\n", "\u{feff}Abha;1.0\r\nAbha;3.0"] {
            for chunk in [1, 1 << 20] {
                let mut r = pagemill_engine::Runner::new();
                r.chunk_size(chunk);
                let outcome = r.run(&Brc::new(), &[Source::from_bytes("t", text.as_bytes().to_vec())]).unwrap();
                assert!(outcome.malformed.is_empty(), "{}", outcome.malformed);
                assert_eq!(outcome.output.to_string(), "{Abha=1.0/2.0/3.0}\n", "{text:?}, chunks of {chunk}");
            }
        }
        // Only at an input's start: a mark later on is part of a name.
        let text = "Abha;1.0\n\u{feff}Abha;3.0\n";
        let outcome = pagemill_engine::Runner::new().run(&Brc::new(), &[Source::from_bytes("t", text.into())]).unwrap();
        assert_eq!(outcome.output.stations.len(), 2);
    }

    #[test]
    fn fast_and_slow_lines_of_one_name_find_one_station() {
        // CRLF lines take the slow path, the others the fast
        // one. Both must hash every name length alike (16 bytes was not).
        for len in [1usize, 7, 8, 15, 16, 17, 23, 24, 31, 32, 33, 40, 99, 100, 111, 112, 113, 127, 200] {
            let name: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
            let text = format!("{name};1.0\n{name};2.0\r\n{name};3.0\n{name};-4.5\r\n");
            let outcome =
                pagemill_engine::Runner::new().run(&Brc::new(), &[Source::from_bytes("t", text.into_bytes())]).unwrap();
            let stations = &outcome.output.stations;
            assert_eq!(stations.len(), 1, "{len}-byte name: {stations:?}");
            assert_eq!((stations[0].count, stations[0].sum, stations[0].min), (4, 15, -45), "{len}");
        }
    }

    #[test]
    fn a_line_without_a_separator_never_lends_its_name_to_the_next() {
        // The fast path reads past the first line's end to the second
        // line's ';', making a name with a '\n' inside; the table never
        // holds such a name, so the slow path must take over, whatever the
        // lengths and whether the second name is already known.
        for (a, b) in [(3usize, 3usize), (3, 20), (20, 3), (20, 40), (60, 45), (5, 100)] {
            let first: String = "x".repeat(a);
            let second: String = "y".repeat(b);
            let text = format!("{second};1.0\n{first}\n{second};2.0\n{first}\n{second};3.0\n");
            let outcome =
                pagemill_engine::Runner::new().run(&Brc::new(), &[Source::from_bytes("t", text.into_bytes())]).unwrap();
            let stations = &outcome.output.stations;
            assert_eq!(stations.len(), 1, "{a}, {b}: {stations:?}");
            assert_eq!((stations[0].count, stations[0].sum), (3, 60), "{a}, {b}");
            assert_eq!(outcome.malformed.count("missing-separator"), 2, "{a}, {b}");
        }
    }

    #[test]
    fn fast_value_parser_agrees_with_the_slow_one() {
        for v in -999i32..=999 {
            let text = format!("{}{}.{}", if v < 0 { "-" } else { "" }, v.abs() / 10, v.abs() % 10);
            let mut line = text.clone().into_bytes();
            line.extend_from_slice(b"\nXY");
            assert_eq!(parse_value(word(&line[..8.min(line.len())])), Some((v, text.len() + 1)), "{text}");
            assert_eq!(parse_tenths(text.as_bytes()), Some(v), "{text}");
        }
        // Two-digit values with a leading zero are accepted by both.
        assert_eq!(parse_value(word(b"-05.5\n")), Some((-55, 6)));
        assert_eq!(parse_tenths(b"-05.5"), Some(-55));
    }

    #[test]
    fn fast_value_parser_rejects_everything_else() {
        for bad in [
            &b"1.2\r\n"[..],
            b"1.2;\n",
            b".5\n",
            b"-.5\n",
            b"123.4\n",
            b"1a.2\n",
            b"1.a\n",
            b"12\n",
            b"1.23\n",
            b"--1.2\n",
            b"+1.2\n",
            b"1,2\n",
            b"\n",
            b"1.2 \n",
            b"a-1.2\n",
            b"\0\0\0\0\0\0\0\0",
        ] {
            assert_eq!(parse_value(word(&bad[..bad.len().min(8)])), None, "{:?}", String::from_utf8_lossy(bad));
            let trimmed = bad.strip_suffix(b"\n").unwrap_or(bad);
            if trimmed != b"1.2\r" {
                assert_eq!(parse_tenths(trimmed), None, "{:?}", String::from_utf8_lossy(bad));
            }
        }
    }

    #[test]
    fn fast_value_parser_agrees_with_the_slow_one_on_every_short_shape() {
        // Every 6-byte string over digits, sign, point, newline and an other
        // byte (7^6 words), followed by two more bytes.
        let alphabet = b"059-.\nx";
        for mut n in 0..7usize.pow(6) {
            let mut bytes = *b"......xx";
            for b in &mut bytes[..6] {
                *b = alphabet[n % 7];
                n /= 7;
            }
            let want =
                bytes.iter().position(|&b| b == b'\n').and_then(|nl| parse_tenths(&bytes[..nl]).map(|v| (v, nl + 1)));
            assert_eq!(parse_value(u64::from_le_bytes(bytes)), want, "{:?}", String::from_utf8_lossy(&bytes));
        }
    }

    #[test]
    fn mean_rounds_half_up() {
        let s = |sum, count| StationStats { name: String::new(), min: 0, max: 0, sum, count };
        assert_eq!(s(5, 2).mean_tenths(), 3); // 2.5 -> 3
        assert_eq!(s(-5, 2).mean_tenths(), -2); // -2.5 -> -2
        assert_eq!(s(-3, 2).mean_tenths(), -1); // -1.5 -> -1
        assert_eq!(s(-1, 3).mean_tenths(), 0); // -0.33 -> 0, printed 0.0
        assert_eq!(s(7, 3).mean_tenths(), 2);
        let mut out = String::new();
        write_tenths(&mut out, s(-1, 3).mean_tenths());
        write_tenths(&mut out, -7);
        assert_eq!(out, "0.0-0.7");
    }
}
