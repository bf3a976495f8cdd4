//! The aggregation job: parse each line of a chunk, filter it, find its group
//! in a per-chunk hash table keyed by slices of the input, and accumulate.
//! At the end of a chunk the table becomes an owned, key-sorted partial;
//! partials merge by a sorted merge, which is exact and order-free.

use pagemill_engine::{Chunk, Job, Malformed};
use pagemill_mmap::{Source, prefetch};
use pagemill_split::{BOM, Lines, RecordFormat};

use crate::error::Error;
use crate::format::LogFormat;
use crate::hash::{hash_bytes, hash_u64, same_bytes};
use crate::keys::{Keys, Part, Stored, Table, merge_into};
use crate::output::{self, LogReport};
use crate::query::{Bucket, Filter, GroupField, Metric};
use crate::record::{LogRecord, decoded};
use crate::sketch::{Distinct, GroupAcc, Latency, Settings};

/// The chunk size to run a [`LogJob`] with over `total` input bytes on
/// `threads` threads, given the runner's own default `engine_default`: 1/8
/// of the input per thread, up to 4 MiB, and not below the engine's
/// default unless that is larger than the cap.
///
/// Chunks fold into one table per worker ([`Job::map_into`]), so a chunk
/// costs no table of its own, and the size only decides how evenly the
/// workers finish and how many values wait in a worker's lists before they
/// are summarised. Small chunks won on both: medians of interleaved runs on
/// 2 threads (2026-12-07), 4 MiB chunks against the 16 to 64 MiB of the
/// rule before (1/8 per thread, at least 16 MiB while each thread got two):
/// the 990 MB `timed` per-path summary 0.70 -> 0.67 s, its 100 MB slice
/// 0.116 -> 0.096 s, the 620 MB JSON one 0.417 -> 0.359 s; 1 and 2 MiB
/// measured the same as 4, and on one thread every size from 1 to 64 MiB
/// took the same time. With large chunks one worker went on alone with its
/// last chunk (up to 80 ms of a 64 MB one) while the other had finished.
/// Results do not depend on the chunk size.
pub fn suggested_chunk_size(total: u64, threads: usize, engine_default: usize) -> usize {
    let threads = threads.max(1) as u64;
    let floor = engine_default.min(LOGS_CHUNK_MAX) as u64;
    (total / (threads * 8)).clamp(floor, LOGS_CHUNK_MAX as u64) as usize
}

/// The largest chunk [`suggested_chunk_size`] gives.
const LOGS_CHUNK_MAX: usize = 4 << 20;

/// At most this many `group_by` fields.
pub const MAX_GROUP_FIELDS: usize = 8;

impl Part<'_> {
    #[inline]
    fn hash(self, seed: u64) -> u64 {
        match self {
            Part::Null => hash_u64(0x6e75_6c6c, seed ^ 1),
            Part::Bytes(b) => hash_bytes(b, seed),
            Part::Int(v) => hash_u64(v as u64, seed ^ 2),
        }
    }
}

/// An open-addressing table from keys to states, for one chunk.
///
/// Keys are looked up by borrowed parts of the line and stored as copies in
/// one arena: the first line of a group may lie tens of MB back in the
/// chunk, and comparing against its bytes there missed the caches for most
/// groups of a per-path summary (a tenth of its time).
struct ChunkTable<S> {
    arity: usize,
    /// Slot -> group index + 1 (0: empty).
    slots: Vec<u32>,
    hashes: Vec<u64>,
    stored: Vec<Stored>,
    arena: Vec<u8>,
    states: Vec<S>,
}

impl<S: Default> ChunkTable<S> {
    fn new(arity: usize) -> Self {
        ChunkTable {
            arity,
            slots: vec![0; 64],
            hashes: Vec::new(),
            stored: Vec::new(),
            arena: Vec::new(),
            states: Vec::new(),
        }
    }

    /// The state of `key` (whose hash is `hash`), inserted if new.
    #[inline]
    fn entry(&mut self, hash: u64, key: &[Part<'_>]) -> &mut S {
        let g = self.group(hash, key);
        &mut self.states[g]
    }

    /// Part `stored` of a key, borrowed from the arena.
    #[inline]
    fn view(&self, stored: Stored) -> Part<'_> {
        stored.view(&self.arena)
    }

    /// Whether group `g`'s key is `key`.
    #[inline]
    fn holds(&self, g: usize, key: &[Part<'_>]) -> bool {
        let stored = &self.stored[g * self.arity..(g + 1) * self.arity];
        stored.iter().zip(key).all(|(&s, k)| match (self.view(s), *k) {
            (Part::Bytes(a), Part::Bytes(b)) => same_bytes(a, b),
            (a, b) => a == b,
        })
    }

    /// The index of `key`'s group (whose hash is `hash`), inserted if new.
    /// Groups are numbered from 0 in the order they first appear.
    #[inline]
    fn group(&mut self, hash: u64, key: &[Part<'_>]) -> usize {
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            let s = self.slots[i];
            if s == 0 {
                break;
            }
            let g = s as usize - 1;
            if self.hashes[g] == hash && self.holds(g, key) {
                return g;
            }
            i = (i + 1) & mask;
        }
        let g = self.states.len();
        self.slots[i] = g as u32 + 1;
        self.hashes.push(hash);
        for &p in key {
            self.stored.push(Stored::store(p, &mut self.arena));
        }
        self.states.push(S::default());
        if self.states.len() * 2 > self.slots.len() {
            self.grow();
        }
        g
    }

    /// The number of groups.
    fn len(&self) -> usize {
        self.states.len()
    }

    /// Double the slots and insert every group again. The groups' slots
    /// are spread over the whole array: past the caches, each insert was a
    /// miss in turn (a table growing to 688K groups spent more time in
    /// these than in its lookups). The slot of the group 16 places ahead
    /// is hinted, so the misses overlap.
    fn grow(&mut self) {
        const AHEAD: usize = 16;
        let mut slots = vec![0u32; self.slots.len() * 2];
        let mask = slots.len() - 1;
        for (g, &h) in self.hashes.iter().enumerate() {
            if let Some(&next) = self.hashes.get(g + AHEAD) {
                prefetch(&slots[next as usize & mask]);
            }
            let mut i = h as usize & mask;
            while slots[i] != 0 {
                i = (i + 1) & mask;
            }
            slots[i] = g as u32 + 1;
        }
        self.slots = slots;
    }

    /// Group numbers in the order of their keys (the same order as the
    /// owned ones): the numbers are sorted, not the large (key, state)
    /// pairs themselves.
    fn order(&self) -> Vec<u32> {
        let arity = self.arity;
        let key = |g: u32| self.stored[g as usize * arity..(g as usize + 1) * arity].iter().map(|&s| self.view(s));
        let mut order: Vec<u32> = (0..self.hashes.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| key(a).cmp(key(b)));
        order
    }

    /// [`ChunkTable::order`] of keys of one part (a group by one field):
    /// nulls, then byte keys in byte order ([`sort_byte_keys`]), then
    /// integers. Keys are distinct, so the unstable sorts' order is the one
    /// order.
    fn order_of_one_part(&self) -> Vec<u32> {
        let (mut nulls, mut bytes, mut ints) = (Vec::new(), Vec::new(), Vec::new());
        for (g, &s) in self.stored.iter().enumerate() {
            match s {
                Stored::Null => nulls.push(g as u32),
                Stored::Bytes { start, len } => bytes.push(Radix::at(&self.arena[start..start + len], 0, g as u32)),
                Stored::Int(v) => ints.push((v, g as u32)),
            }
        }
        sort_byte_keys(&mut bytes, 0, &|g| match self.stored[g as usize] {
            Stored::Bytes { start, len } => &self.arena[start..start + len],
            _ => unreachable!("only byte keys are sorted by their bytes"),
        });
        ints.sort_unstable();
        let mut order = nulls;
        order.extend(bytes.iter().map(|r| r.group));
        order.extend(ints.iter().map(|&(_, g)| g));
        order
    }

    /// Owned keys with what `f` makes of each group's index and state,
    /// sorted by key.
    ///
    /// Groups are taken in key order, which is no order in the table's
    /// arrays: with many groups nearly every state, stored key, key bytes
    /// and summary was a cache miss in turn (226 ns a group of 688K). The
    /// lines of groups a few places ahead are hinted (`hint` for what `f`
    /// reads of a group), so the misses overlap.
    fn into_sorted<T, X>(
        mut self,
        x: &mut X,
        hint: impl Fn(&X, usize),
        mut f: impl FnMut(&mut X, usize, S) -> T,
    ) -> Table<T> {
        const AHEAD: usize = 8;
        let mut states = std::mem::take(&mut self.states);
        let arity = self.arity;
        let order = if arity == 1 { self.order_of_one_part() } else { self.order() };
        let mut table = Table::with_capacity(arity, order.len(), self.arena.len());
        for (i, &g) in order.iter().enumerate() {
            if let Some(&far) = order.get(i + 2 * AHEAD) {
                let far = far as usize;
                prefetch(&states[far]);
                prefetch(&self.stored[far * arity..(far + 1) * arity]);
                hint(x, far);
            }
            if let Some(&near) = order.get(i + AHEAD) {
                // Its stored parts were hinted a round ago: their bytes now.
                for &s in &self.stored[near as usize * arity..(near as usize + 1) * arity] {
                    if let Stored::Bytes { start, len } = s {
                        prefetch(&self.arena[start..start + len.min(64)]);
                    }
                }
            }
            let g = g as usize;
            let state = std::mem::take(&mut states[g]);
            table.push_stored(&self.stored[g * arity..(g + 1) * arity], &self.arena, f(x, g, state));
        }
        table
    }
}

/// A byte key while [`sort_byte_keys`] sorts it: 8 of its bytes from the
/// depth sorted at (big-endian, zeros past its end) and how many bytes it
/// has from there (9: more than 8).
#[derive(Clone, Copy)]
struct Radix {
    chunk: u64,
    rest: u8,
    group: u32,
}

impl Radix {
    /// Key `bytes` of `group`, at `depth`.
    #[inline]
    fn at(bytes: &[u8], depth: usize, group: u32) -> Radix {
        let tail = bytes.get(depth..).unwrap_or_default();
        let mut word = [0u8; 8];
        let n = tail.len().min(8);
        word[..n].copy_from_slice(&tail[..n]);
        Radix { chunk: u64::from_be_bytes(word), rest: tail.len().min(9) as u8, group }
    }

    /// The order of two keys with the same bytes before this depth: a key
    /// that ends first is shorter (`rest` below 8), so less, unless its
    /// bytes so far are greater.
    #[inline]
    fn order_key(self) -> (u64, u8) {
        (self.chunk, self.rest)
    }
}

/// Sort distinct byte keys (given as [`Radix`] entries at `depth`, with
/// the bytes of a group's key from `key`) in byte order: by 8 bytes at a
/// time, held in the entries, so that a sort compares integers in one
/// array, and only keys that share their first bytes are looked up again,
/// for their next 8. Comparing the keys' bytes in a shared buffer at every
/// step of one sort missed the caches for most comparisons: on 688K
/// distinct paths the sort was a sixth of a per-path summary's time. Past
/// 64 shared bytes a run is sorted by comparing the rest.
fn sort_byte_keys<'k>(run: &mut [Radix], depth: usize, key: &impl Fn(u32) -> &'k [u8]) {
    run.sort_unstable_by_key(|r| r.order_key());
    let mut i = 0;
    while i < run.len() {
        let first = run[i].order_key();
        let mut j = i + 1;
        while j < run.len() && run[j].order_key() == first {
            j += 1;
        }
        // Equal entries hold 8 equal bytes and more after them (distinct
        // keys that end here would differ in their length).
        if j - i > 1 {
            let tied = &mut run[i..j];
            if depth >= 64 {
                let rest = |r: &Radix| key(r.group).get(depth + 8..).unwrap_or_default();
                tied.sort_unstable_by(|a, b| rest(a).cmp(rest(b)));
            } else {
                for r in tied.iter_mut() {
                    *r = Radix::at(key(r.group), depth + 8, r.group);
                }
                sort_byte_keys(tied, depth + 8, key);
            }
        }
        i = j;
    }
}

/// A group's state during one chunk.
struct ChunkAcc {
    requests: u64,
    bytes: u64,
    err4: u64,
    err5: u64,
    first: i64,
    last: i64,
}

/// Values of many groups during one chunk (request times, address hashes):
/// appended in line order to one array with their group's index, then
/// regrouped once at the chunk's end by a counting sort. One array per chunk
/// instead of one growing array per group: a per-path summary spent a tenth
/// of its time reallocating the per-group ones.
///
/// The arrays are reused from chunk to chunk on each thread ([`SCRATCH`]):
/// fresh ones of a few MB per chunk cost as much in page faults as they
/// saved.
///
/// Even a group whose summary already is a histogram or a HyperLogLog
/// sketch lists its values here: recording each line's value straight into
/// its group's summary was 8% slower on the `timed` per-path summary (one
/// thread, 9 runs), as lines of the busy groups interleave and their
/// histograms (about 120 KB each) and sketches evict each other and the
/// line being parsed; summarised a group at a time, they stay in cache.
#[derive(Default)]
struct GroupValues {
    groups: Vec<u32>,
    values: Vec<u64>,
    /// `values` ordered by group, after [`GroupValues::regroup`].
    grouped: Vec<u64>,
    /// Where each group's run starts in `grouped`, and its end.
    starts: Vec<usize>,
}

thread_local! {
    /// Per-thread arrays for [`GroupValues`]: request times, address hashes.
    static SCRATCH: std::cell::Cell<[GroupValues; 2]> = Default::default();
}

impl GroupValues {
    /// Empty arrays, with the capacity this thread's last chunk left.
    fn take() -> [GroupValues; 2] {
        SCRATCH.take()
    }

    /// Hand the arrays back for the next chunk on this thread; arrays grown
    /// past [`GroupValues::KEEP`] values are freed instead, so a thread
    /// holds at most about 80 MB between chunks whatever chunk size a
    /// library caller picks.
    fn give_back(mut pair: [GroupValues; 2]) {
        for v in &mut pair {
            if v.values.capacity() > GroupValues::KEEP {
                *v = GroupValues::default();
            }
            v.clear();
        }
        SCRATCH.set(pair);
    }

    /// The most values a thread keeps room for between chunks, per kind of
    /// value: 2^21, 40 MB with their group indices and the regrouped copy
    /// (a fold summarises its lists once they hold 2^18 values; a library
    /// caller's own chunks may hold more).
    const KEEP: usize = 1 << 21;

    /// Drop the values (keeping the room).
    fn clear(&mut self) {
        self.groups.clear();
        self.values.clear();
    }

    #[inline]
    fn push(&mut self, group: usize, value: u64) {
        self.groups.push(group as u32);
        self.values.push(value);
    }

    /// Order the values by group, each group's in the order they were
    /// pushed; then group `g`'s are [`GroupValues::of`]`(g)`.
    fn regroup(&mut self, groups: usize) {
        self.starts.clear();
        self.starts.resize(groups + 1, 0);
        for &g in &self.groups {
            self.starts[g as usize + 1] += 1;
        }
        for g in 0..groups {
            self.starts[g + 1] += self.starts[g];
        }
        self.grouped.clear();
        self.grouped.resize(self.values.len(), 0);
        // `starts[g]` runs ahead as group g's values are placed; afterwards
        // it is where group g + 1 starts, so shifting by one restores it.
        for (&g, &v) in self.groups.iter().zip(&self.values) {
            let at = &mut self.starts[g as usize];
            self.grouped[*at] = v;
            *at += 1;
        }
        self.starts.rotate_right(1);
        self.starts[0] = 0;
    }

    /// Group `g`'s values, after [`GroupValues::regroup`]. Lists that
    /// hold no value (a query without request times or addresses) give
    /// none without a look at the group's start, a cache miss per group
    /// when groups are taken in key order.
    #[inline]
    fn of(&mut self, g: usize) -> &mut [u64] {
        if self.grouped.is_empty() {
            return &mut [];
        }
        &mut self.grouped[self.starts[g]..self.starts[g + 1]]
    }

    /// Hint where group `g`'s values start (see [`ChunkTable::into_sorted`]).
    #[inline]
    fn hint(&self, g: usize) {
        if let Some(s) = self.starts.get(g).filter(|_| !self.grouped.is_empty()) {
            prefetch(s);
        }
    }
}

impl Default for ChunkAcc {
    fn default() -> ChunkAcc {
        ChunkAcc { requests: 0, bytes: 0, err4: 0, err5: 0, first: i64::MAX, last: i64::MIN }
    }
}

/// A rejected line: where it is, for [`write_rejects`](crate::write_rejects).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reject {
    /// Index of the input.
    pub input: usize,
    /// Byte offset of the line in its input.
    pub offset: u64,
    /// Length of the line in bytes (without its newline).
    pub len: usize,
}

/// Lines seen, parsed and kept by a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Lines read.
    pub lines: u64,
    /// Lines that parsed (the rest are malformed).
    pub parsed: u64,
    /// Parsed lines that passed the filters and `since`/`until`.
    pub matched: u64,
}

/// The merged state of some chunks: groups and top-value counts, sorted by
/// key.
#[derive(Debug)]
pub struct LogPartial {
    pub(crate) groups: Table<GroupAcc>,
    /// Per `--top` field, keys of the group's parts and the value.
    pub(crate) tops: Vec<Table<u64>>,
    pub(crate) totals: Totals,
    pub(crate) rejects: Vec<Reject>,
    /// Chunks folded by [`Job::map_into`], until [`Job::end_fold`].
    pub(crate) fold: Option<Box<Fold>>,
}

/// A `--top K:FIELD` request: the K most frequent values of FIELD per group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Top {
    /// How many values.
    pub k: usize,
    /// Of which field.
    pub field: GroupField,
}

impl std::str::FromStr for Top {
    type Err = Error;

    /// `K:FIELD`, e.g. `5:path`.
    fn from_str(s: &str) -> Result<Top, Error> {
        let (k, field) = s.split_once(':').ok_or_else(|| Error::option("top", s, "expected K:FIELD, e.g. 5:path"))?;
        let k: usize = k.trim().parse().map_err(|_| Error::option("top", s, "K must be a positive number"))?;
        if k == 0 {
            return Err(Error::option("top", s, "K must be at least 1"));
        }
        Ok(Top { k, field: field.parse()? })
    }
}

/// The access-log aggregation job. See the [crate documentation](crate).
///
/// Build with [`LogJob::new`] and the `&mut self` setters, then run it with
/// a [`pagemill_engine::Runner`]; the output is a [`LogReport`].
#[derive(Clone, Debug)]
pub struct LogJob {
    format: LogFormat,
    group_by: Vec<GroupField>,
    bucket: Bucket,
    metrics: Vec<Metric>,
    tops: Vec<Top>,
    filters: Vec<Filter>,
    since: Option<i64>,
    until: Option<i64>,
    settings: Settings,
    collect_rejects: bool,
}

impl LogJob {
    /// Every metric, no grouping (one row of totals), no filters.
    pub fn new(format: LogFormat) -> LogJob {
        LogJob {
            format,
            group_by: Vec::new(),
            bucket: Bucket::default(),
            metrics: Metric::ALL.to_vec(),
            tops: Vec::new(),
            filters: Vec::new(),
            since: None,
            until: None,
            settings: Settings { sigfig: 3, exact_limit: 2048, lg_k: 12 },
            collect_rejects: false,
        }
    }

    /// Group by these fields, in this order (at most [`MAX_GROUP_FIELDS`];
    /// a field named twice counts once).
    pub fn group_by(&mut self, fields: &[GroupField]) -> Result<&mut LogJob, Error> {
        let mut v: Vec<GroupField> = Vec::new();
        for f in fields {
            if !v.contains(f) {
                v.push(*f);
            }
        }
        if v.len() > MAX_GROUP_FIELDS {
            let names: Vec<&str> = v.iter().map(|f| f.name()).collect();
            return Err(Error::option("group-by", &names.join(","), format!("at most {MAX_GROUP_FIELDS} fields")));
        }
        self.group_by = v;
        Ok(self)
    }

    /// The width of `time` groups (default 1 hour).
    pub fn bucket(&mut self, bucket: Bucket) -> &mut LogJob {
        self.bucket = bucket;
        self
    }

    /// Compute only these metrics, in this order (default: all of
    /// [`Metric::ALL`]). Fewer metrics run faster: latency and distinct
    /// clients cost the most.
    pub fn metrics(&mut self, metrics: &[Metric]) -> &mut LogJob {
        let mut v: Vec<Metric> = Vec::new();
        for m in metrics {
            if !v.contains(m) {
                v.push(*m);
            }
        }
        self.metrics = v;
        self
    }

    /// Add a `top_<field>` column with the `k` most frequent values of
    /// `field` in each group. Counting is exact, so memory grows with the
    /// number of distinct (group, value) pairs.
    pub fn top(&mut self, top: Top) -> &mut LogJob {
        self.tops.retain(|t| t.field != top.field);
        self.tops.push(top);
        self
    }

    /// Keep only records passing `filter` (all filters must hold).
    pub fn filter(&mut self, filter: Filter) -> &mut LogJob {
        self.filters.push(filter);
        self
    }

    /// Keep only records at or after `micros` (µs since the epoch, UTC).
    /// Records without a time are dropped by a time bound (and counted as
    /// filtered, not as malformed).
    pub fn since(&mut self, micros: i64) -> &mut LogJob {
        self.since = Some(micros);
        self
    }

    /// Keep only records before `micros` (exclusive).
    pub fn until(&mut self, micros: i64) -> &mut LogJob {
        self.until = Some(micros);
        self
    }

    /// Count distinct clients exactly up to `n` per group (default 2048),
    /// with a HyperLogLog sketch above.
    pub fn distinct_exact_limit(&mut self, n: usize) -> &mut LogJob {
        self.settings.exact_limit = n;
        self
    }

    /// HyperLogLog size: 2^`lg_k` one-byte registers, relative standard
    /// error about 1.04/√(2^lg_k) (default 12: 4 KiB, 1.6%). 4 to 21.
    pub fn hll_lg_k(&mut self, lg_k: u8) -> Result<&mut LogJob, Error> {
        if !(4..=21).contains(&lg_k) {
            return Err(Error::option("HyperLogLog lg_k", &lg_k.to_string(), "expected 4 to 21"));
        }
        self.settings.lg_k = lg_k;
        Ok(self)
    }

    /// HdrHistogram precision in significant decimal digits (default 3:
    /// percentiles within 0.1% of the exact value). 1 to 5.
    pub fn significant_figures(&mut self, sigfig: u8) -> Result<&mut LogJob, Error> {
        if !(1..=5).contains(&sigfig) {
            return Err(Error::option("significant figures", &sigfig.to_string(), "expected 1 to 5"));
        }
        self.settings.sigfig = sigfig;
        Ok(self)
    }

    /// Keep the position of every malformed line in the report, for
    /// [`write_rejects`](crate::write_rejects).
    pub fn collect_rejects(&mut self, yes: bool) -> &mut LogJob {
        self.collect_rejects = yes;
        self
    }

    /// The log format.
    pub fn log_format(&self) -> &LogFormat {
        &self.format
    }

    pub(crate) fn group_fields(&self) -> &[GroupField] {
        &self.group_by
    }

    pub(crate) fn metric_list(&self) -> &[Metric] {
        &self.metrics
    }

    pub(crate) fn top_list(&self) -> &[Top] {
        &self.tops
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    pub(crate) fn bucket_width(&self) -> Bucket {
        self.bucket
    }

    pub(crate) fn filter_list(&self) -> &[Filter] {
        &self.filters
    }

    /// `since` and `until`.
    pub(crate) fn time_bounds(&self) -> (Option<i64>, Option<i64>) {
        (self.since, self.until)
    }

    pub(crate) fn set_time_bounds(&mut self, since: Option<i64>, until: Option<i64>) {
        self.since = since;
        self.until = until;
    }

    fn needs(&self, f: impl Fn(Metric) -> bool) -> bool {
        self.metrics.iter().any(|&m| f(m))
    }

    #[inline]
    fn accepts(&self, r: &LogRecord<'_>, scratch: &mut Vec<u8>) -> bool {
        if self.since.is_some() || self.until.is_some() {
            let Some(t) = r.time else { return false };
            if self.since.is_some_and(|s| t < s) || self.until.is_some_and(|u| t >= u) {
                return false;
            }
        }
        let escapes = self.format.escapes();
        self.filters.iter().all(|f| f.accepts(r, escapes, scratch))
    }

    #[inline]
    fn part<'a>(&self, field: GroupField, r: &LogRecord<'a>) -> Part<'a> {
        let int = |v: Option<i64>| v.map_or(Part::Null, Part::Int);
        match field {
            GroupField::Status => int(r.status.map(i64::from)),
            GroupField::StatusClass => int(r.status.map(|s| i64::from(s / 100))),
            GroupField::Time => int(r.time.map(|t| self.bucket.start(t))),
            text => field_text(text, r),
        }
    }
}

#[inline]
fn field_text<'a>(field: GroupField, r: &LogRecord<'a>) -> Part<'a> {
    field.text(r).map_or(Part::Null, Part::Bytes)
}

/// Groups per side below which [`merge_groups`] merges in one piece.
const MERGE_PIECE: usize = 512;

/// [`Table::merge`] of two group tables, cut into key ranges that are
/// merged in parallel (`rayon::join`: in pieces only where a thread of the
/// pool is idle to take one). A group's merge (address-set unions, latency
/// lists) costs far more than moving the group, and a run's last merges
/// would otherwise run on one thread while the others wait: 13 ms of a 460
/// ms two-thread per-path summary, 4 ms of 60 on a 100 MB slice. Equal keys
/// are combined as before (right's state into left's) and the pieces joined
/// in key order, so results do not change. The pieces free and grow the
/// groups' buffers on several threads at once: with glibc's malloc that
/// waited on its arena locks and made the merge slower than one thread's,
/// which is why the binary uses mimalloc.
fn merge_groups(left: Table<GroupAcc>, right: Table<GroupAcc>, settings: &Settings) -> Table<GroupAcc> {
    if left.len() < 2 * MERGE_PIECE || right.len() < MERGE_PIECE {
        return left.merge(right, |a, b| a.merge(b, settings));
    }
    let (lk, mut lv) = left.into_parts();
    let (rk, mut rv) = right.into_parts();
    let pieces = merge_pieces((&lk, &mut lv, 0), (&rk, &mut rv, 0), settings);
    let mut merged = Table::with_capacity(
        lk.arity(),
        pieces.iter().map(Table::len).sum(),
        pieces.iter().map(|p| p.keys().bytes()).sum(),
    );
    for piece in pieces {
        merged.append(piece);
    }
    merged
}

/// The merged pieces of two runs of groups (as [`merge_into`] takes them),
/// in key order: one piece, or the pieces of the keys below left's middle
/// key and of the rest, merged side by side.
fn merge_pieces(
    (lk, lv, lfirst): (&Keys, &mut [GroupAcc], usize),
    (rk, rv, rfirst): (&Keys, &mut [GroupAcc], usize),
    settings: &Settings,
) -> Vec<Table<GroupAcc>> {
    if lv.len() < 2 * MERGE_PIECE || rv.len() < MERGE_PIECE {
        let mut out = Table::with_capacity(lk.arity(), lv.len() + rv.len(), 0);
        merge_into(&mut out, (lk, lv, lfirst), (rk, rv, rfirst), |a, b| a.merge(b, settings));
        return vec![out];
    }
    // Left's middle key cuts both runs: every key below it goes to the
    // first piece, every key from it on to the second.
    let mid = lv.len() / 2;
    let middle = lk.key(lfirst + mid);
    let (mut cut, mut above) = (0, rv.len());
    while cut < above {
        let m = (cut + above) / 2;
        if rk.key(rfirst + m) < middle { cut = m + 1 } else { above = m }
    }
    let (l_low, l_high) = lv.split_at_mut(mid);
    let (r_low, r_high) = rv.split_at_mut(cut);
    let (mut low, high) = rayon::join(
        || merge_pieces((lk, l_low, lfirst), (rk, r_low, rfirst), settings),
        || merge_pieces((lk, l_high, lfirst + mid), (rk, r_high, rfirst + cut), settings),
    );
    low.extend(high);
    low
}

impl Job for LogJob {
    type Format = Lines;
    type Partial = LogPartial;
    type Output = LogReport;

    fn format(&self) -> &Lines {
        &Lines
    }

    fn empty(&self) -> LogPartial {
        let arity = self.group_by.len();
        LogPartial {
            groups: Table::new(arity),
            tops: self.tops.iter().map(|_| Table::new(arity + 1)).collect(),
            totals: Totals::default(),
            rejects: Vec::new(),
            fold: None,
        }
    }

    fn map(&self, chunk: Chunk<'_>, malformed: &mut Malformed) -> LogPartial {
        let mut state = self.map_state();
        self.map_lines(chunk, malformed, &mut state);
        self.partial_of(state, None)
    }

    /// Chunks fold into one group table per worker: the merge below is
    /// exact and order-free (sums, minima and maxima, latency keys and
    /// histograms, exact address sets and HyperLogLog registers), and the
    /// table of a chunk cost more to sort, summarise and merge than its
    /// lines cost to parse on small inputs (a 5,000-group per-path summary:
    /// about 3 ms per chunk and 2.5 ms per merge).
    fn order_free(&self) -> bool {
        true
    }

    fn map_into(&self, acc: &mut LogPartial, chunk: Chunk<'_>, malformed: &mut Malformed) {
        let fold = acc.fold.get_or_insert_with(|| Box::new(Fold::new(self.map_state())));
        self.map_lines(chunk, malformed, &mut fold.state);
        if fold.state.latencies.values.len().max(fold.state.addresses.values.len()) >= FOLD_VALUES {
            fold.summarise(&self.settings);
        }
    }

    fn end_fold(&self, mut acc: LogPartial) -> LogPartial {
        let Some(mut fold) = acc.fold.take() else { return acc };
        fold.summarise(&self.settings);
        let Fold { state, latency, distinct } = *fold;
        // `acc` is the empty partial the fold started from (a merge with it
        // hands `folded` back as it is), unless a caller mapped into a
        // partial of its own.
        self.merge(acc, self.partial_of(state, Some((latency, distinct))))
    }

    fn merge(&self, left: LogPartial, right: LogPartial) -> LogPartial {
        debug_assert!(left.fold.is_none() && right.fold.is_none(), "end_fold settles folds before merges");
        let settings = &self.settings;
        let groups = merge_groups(left.groups, right.groups, settings);
        let tops = left.tops.into_iter().zip(right.tops).map(|(a, b)| a.merge(b, |x, y| *x += y)).collect();
        let totals = Totals {
            lines: left.totals.lines + right.totals.lines,
            parsed: left.totals.parsed + right.totals.parsed,
            matched: left.totals.matched + right.totals.matched,
        };
        let mut rejects = left.rejects;
        rejects.extend(right.rejects);
        LogPartial { groups, tops, totals, rejects, fold: None }
    }

    fn finish(&self, partial: LogPartial, _inputs: &[Source]) -> LogReport {
        output::finish(self, self.end_fold(partial))
    }

    /// Groups plus the (group, value) pairs of `--top` fields: both grow
    /// with the keys of the input.
    fn groups(&self, partial: &LogPartial) -> Option<usize> {
        let folded = partial
            .fold
            .as_ref()
            .map_or(0, |f| f.state.table.len() + f.state.tops.iter().map(ChunkTable::len).sum::<usize>());
        Some(partial.groups.len() + partial.tops.iter().map(Table::len).sum::<usize>() + folded)
    }
}

impl LogJob {
    /// Empty tables and value lists for [`map_lines`](LogJob::map_lines).
    fn map_state(&self) -> MapState {
        let arity = self.group_by.len();
        let [latencies, addresses] = GroupValues::take();
        MapState {
            table: ChunkTable::new(arity),
            tops: self.tops.iter().map(|_| ChunkTable::new(arity + 1)).collect(),
            latencies,
            addresses,
            totals: Totals::default(),
            rejects: Vec::new(),
        }
    }

    /// Parse, filter and group the lines of `chunk` into `state`.
    fn map_lines(&self, chunk: Chunk<'_>, malformed: &mut Malformed, state: &mut MapState) {
        let arity = self.group_by.len();
        let need_latency = self.needs(|m| m.quantile().is_some() || m == Metric::LatencyMax);
        let need_ips = self.needs(|m| m == Metric::DistinctIps);
        // Timestamps are parsed only for queries that use them.
        let need_time = self.since.is_some()
            || self.until.is_some()
            || self.group_by.contains(&GroupField::Time)
            || self.tops.iter().any(|t| t.field == GroupField::Time)
            || self.needs(|m| matches!(m, Metric::FirstSeen | Metric::LastSeen));
        let MapState { table, tops, latencies, addresses, totals, rejects } = state;
        let mut key = [Part::Null; MAX_GROUP_FIELDS + 1];
        let mut record = LogRecord::default();
        let mut parser = self.format.parser();
        let mut scratch = Vec::new();
        // A byte order mark before an input's first line is not part of it.
        let (bytes, base) = match chunk.bytes.strip_prefix(BOM) {
            Some(rest) if chunk.offset == 0 => (rest, BOM.len()),
            _ => (chunk.bytes, 0),
        };
        for mut line in Lines.records(bytes) {
            line.offset += base;
            totals.lines += 1;
            let parsed = parser.parse_into(line.bytes, need_time, &mut record);
            let r = match parsed.and_then(|()| self.format.require_request(&record)) {
                Ok(()) => &record,
                Err(e) => {
                    malformed.report(e.kind(), line.offset, line.bytes);
                    if self.collect_rejects {
                        rejects.push(Reject {
                            input: chunk.input,
                            offset: (chunk.offset + line.offset) as u64,
                            len: line.bytes.len(),
                        });
                    }
                    continue;
                }
            };
            totals.parsed += 1;
            if !self.accepts(r, &mut scratch) {
                continue;
            }
            totals.matched += 1;
            let mut hash = 0u64;
            for (i, &f) in self.group_by.iter().enumerate() {
                key[i] = self.part(f, r);
                hash = key[i].hash(hash);
            }
            let g = table.group(hash, &key[..arity]);
            let acc = &mut table.states[g];
            acc.requests += 1;
            acc.bytes = acc.bytes.saturating_add(r.bytes.unwrap_or(0));
            match r.status {
                Some(400..=499) => acc.err4 += 1,
                Some(500..=599) => acc.err5 += 1,
                _ => {}
            }
            if let Some(t) = r.time {
                acc.first = acc.first.min(t);
                acc.last = acc.last.max(t);
            }
            if need_latency && let Some(l) = r.latency_us {
                latencies.push(g, l);
            }
            if need_ips && let Some(ip) = r.ip {
                // Counted as the results show it: with its escapes decoded
                // (`\u0031` is `1`), as groups and filters compare it.
                addresses.push(g, hash_bytes(decoded(ip, self.format.escapes(), &mut scratch), 0x1b));
            }
            for (t, top) in self.tops.iter().zip(tops.iter_mut()) {
                let p = self.part(t.field, r);
                key[arity] = p;
                *top.entry(p.hash(hash), &key[..=arity]) += 1;
            }
        }
    }

    /// The owned, key-sorted partial of `state`: each group's request times
    /// and addresses summarised from `state`'s value lists, or, for a fold,
    /// taken from `summaries` (which then hold every value).
    fn partial_of(&self, state: MapState, summaries: Option<(Vec<Latency>, Vec<Distinct>)>) -> LogPartial {
        let MapState { table, tops, mut latencies, mut addresses, totals, rejects } = state;
        let settings = &self.settings;
        let summaries = summaries.unwrap_or_default();
        latencies.regroup(table.len());
        addresses.regroup(table.len());
        let mut x = (summaries, &mut latencies, &mut addresses);
        let hint = |((latency, distinct), latencies, addresses): &(
            (Vec<Latency>, Vec<Distinct>),
            &mut GroupValues,
            &mut GroupValues,
        ),
                    g: usize| {
            match latency.get(g) {
                Some(l) => prefetch(l),
                None => latencies.hint(g),
            }
            match distinct.get(g) {
                Some(d) => prefetch(d),
                None => addresses.hint(g),
            }
        };
        let groups = table.into_sorted(&mut x, hint, |((latency, distinct), latencies, addresses), g, a| GroupAcc {
            requests: a.requests,
            bytes: a.bytes,
            err4: a.err4,
            err5: a.err5,
            first: a.first,
            last: a.last,
            latency: match latency.get_mut(g) {
                Some(l) => std::mem::take(l),
                None => Latency::from_values(latencies.of(g), settings),
            },
            distinct: match distinct.get_mut(g) {
                Some(d) => std::mem::take(d),
                None => Distinct::from_hash_slice(addresses.of(g), settings),
            },
        });
        GroupValues::give_back([latencies, addresses]);
        let tops = tops.into_iter().map(|t| t.into_sorted(&mut (), |_, _| {}, |_, _, n| n)).collect();
        LogPartial { groups, tops, totals, rejects, fold: None }
    }
}

/// What lines are mapped into: the group table, the `--top` tables, the
/// request times and address hashes of the groups (not yet summarised),
/// and the counts. One per chunk ([`Job::map`]), or one per worker across
/// its chunks ([`Job::map_into`]).
struct MapState {
    table: ChunkTable<ChunkAcc>,
    tops: Vec<ChunkTable<u64>>,
    latencies: GroupValues,
    addresses: GroupValues,
    totals: Totals,
    rejects: Vec<Reject>,
}

/// Request times or addresses a fold's value lists may hold after a chunk
/// before they are summarised. Each summary merges every group's values
/// into the group's summary so far, at a cost that grows with the summary
/// (a sorted address set is copied whole): 2^18 rather than 2^16 summarises
/// a quarter as often, for about 8 MB more per worker (the lists' values,
/// group indices and regrouped copy).
const FOLD_VALUES: usize = 1 << 18;

/// A worker's chunks folded together ([`Job::map_into`]): one table, and
/// each group's request times and addresses summarised after a chunk that
/// leaves [`FOLD_VALUES`] or more in the value lists (and at the end), as a
/// chunk's would be, then merged into the group's summary so far.
pub(crate) struct Fold {
    state: MapState,
    /// By group index of `state.table`.
    latency: Vec<Latency>,
    distinct: Vec<Distinct>,
}

impl Fold {
    fn new(state: MapState) -> Fold {
        Fold { state, latency: Vec::new(), distinct: Vec::new() }
    }

    /// Move the value lists into the groups' summaries. Summaries exist
    /// only for queries with such values, and only up to the groups seen
    /// when they were last summarised: a later group's values (if any) are
    /// still in the lists.
    fn summarise(&mut self, settings: &Settings) {
        let groups = self.state.table.len();
        summarise_into(&mut self.state.latencies, groups, &mut self.latency, |summary, v| {
            summary.add_values(v, settings)
        });
        summarise_into(&mut self.state.addresses, groups, &mut self.distinct, |summary, v| {
            summary.add_hash_slice(v, settings)
        });
    }
}

/// Hand each group's values in `values` (of `groups` groups) to `add` with
/// the group's summary, then empty `values`. Nothing happens (and no
/// summary is made) when `values` is empty.
fn summarise_into<T: Default>(
    values: &mut GroupValues,
    groups: usize,
    summaries: &mut Vec<T>,
    mut add: impl FnMut(&mut T, &mut [u64]),
) {
    if values.values.is_empty() {
        return;
    }
    summaries.resize_with(groups, T::default);
    values.regroup(groups);
    for (g, summary) in summaries.iter_mut().enumerate() {
        let v = values.of(g);
        if !v.is_empty() {
            add(summary, v);
        }
    }
    values.clear();
}

impl std::fmt::Debug for Fold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fold").field("groups", &self.state.table.len()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use proptest::strategy::Strategy;

    use super::*;

    /// Chunks folded in any order, summarised at any points, give the
    /// partial of the same chunks mapped one by one and merged.
    #[test]
    fn folded_chunks_equal_merged_chunk_partials() {
        // Per path with a small exact limit (sketches after a summarise),
        // and per status class over enough lines that 2xx's request times
        // fill a histogram.
        for (rows, field, chunk_size) in [(6000, GroupField::Path, 4096), (40_000, GroupField::StatusClass, 1 << 16)] {
            let mut log = Vec::new();
            pagemill_datasets::AccessLog::new(rows, pagemill_datasets::AccessLogFormat::Timed, 3)
                .write_to(&mut log)
                .unwrap();
            log.extend_from_slice(b"a junk line\n");
            let mut job = LogJob::new(LogFormat::timed());
            job.group_by(&[field]).unwrap().top("2:ip".parse().unwrap()).distinct_exact_limit(8);
            job.collect_rejects(true);
            let ranges = pagemill_split::plan(&Lines, &log, chunk_size);
            assert!(ranges.len() > 20);
            let chunk =
                |i: usize| Chunk { input: 0, index: i, offset: ranges[i].start, bytes: &log[ranges[i].clone()] };
            let mut bad = Malformed::new(5);
            let merged =
                (0..ranges.len()).fold(job.empty(), |acc, i| job.merge(acc, job.map(chunk(i), &mut Malformed::new(5))));
            let want = output::finish(&job, merged);
            for (order, every) in [((0..ranges.len()).collect::<Vec<_>>(), 3), ((0..ranges.len()).rev().collect(), 1)] {
                let mut acc = job.empty();
                for (n, &i) in order.iter().enumerate() {
                    job.map_into(&mut acc, chunk(i), &mut bad);
                    if n % every == 0 {
                        acc.fold.as_mut().unwrap().summarise(&job.settings);
                    }
                }
                let fold = acc.fold.as_ref().unwrap();
                assert!(fold.distinct.iter().any(|d| matches!(d, Distinct::Sketch(_))), "{field:?}");
                if field == GroupField::StatusClass {
                    assert!(fold.latency.iter().any(|l| l.histogram().is_some()));
                }
                assert!(job.groups(&acc).unwrap() > 0);
                let got = output::finish(&job, job.end_fold(acc));
                assert_eq!(got.batch, want.batch, "{field:?}");
                assert_eq!(got.totals, want.totals);
                assert_eq!(got.rejects, want.rejects);
            }
            assert_eq!(want.rejects.len(), 1);
        }
    }

    #[test]
    fn merging_groups_in_pieces_equals_merging_them_whole() {
        let settings = Settings { sigfig: 3, exact_limit: 8, lg_k: 10 };
        // Keys 0..n with a stride, so the lists overlap in part and each
        // side also has keys of its own, around every cut.
        let side = |n: u64, stride: u64, salt: u64| -> Table<GroupAcc> {
            let mut t = Table::new(1);
            for (k, acc) in (0..n).map(|i| {
                let k = i * stride;
                let values: Vec<u64> = (0..k % 7 + 1).map(|j| k * 31 + j * salt).collect();
                let hashes: Vec<u64> = (0..k % 11 + 1).map(|j| (k << 8) + j * salt).collect();
                let acc = GroupAcc {
                    requests: k + salt,
                    bytes: k * salt,
                    first: (k + salt) as i64,
                    last: (k * 2 + salt) as i64,
                    latency: Latency::from_values(&values, &settings),
                    distinct: Distinct::from_hash_slice(&mut hashes.clone(), &settings),
                    ..GroupAcc::default()
                };
                (k, acc)
            }) {
                t.push_stored(&[Stored::Int(k as i64)], &[], acc);
            }
            t
        };
        let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap();
        for (n, m) in [(5000, 3000), (1100, 600), (3000, 10), (10, 3000), (0, 2000)] {
            let (left, right) = (side(n, 2, 1), side(m, 3, 5));
            let whole = left.clone().merge(right.clone(), |a, b| a.merge(b, &settings));
            let pieces = pool.install(|| merge_groups(left, right, &settings));
            assert_eq!(format!("{whole:?}"), format!("{pieces:?}"), "{n} + {m} groups");
            assert!((1..pieces.len()).all(|i| pieces.keys().key(i - 1) < pieces.keys().key(i)));
        }
    }

    #[test]
    fn the_chunk_table_tells_keys_apart_by_their_parts_not_their_hashes() {
        let line = b"/a /b /a 7".to_vec();
        let keys: [[Part<'_>; 2]; 6] = [
            [Part::Bytes(&line[0..2]), Part::Int(7)],
            [Part::Bytes(&line[3..5]), Part::Int(7)],
            [Part::Bytes(&line[6..8]), Part::Int(7)], // the first key again, from other bytes
            [Part::Bytes(&line[0..2]), Part::Null],
            [Part::Null, Part::Int(7)],
            [Part::Bytes(&line[0..1]), Part::Int(7)],
        ];
        let mut table: ChunkTable<u64> = ChunkTable::new(2);
        // One hash for every key: only the stored parts can tell them apart.
        let groups: Vec<usize> = keys.iter().map(|k| table.group(42, k)).collect();
        assert_eq!(groups, [0, 1, 0, 2, 3, 4]);
        for k in &keys {
            *table.entry(42, k) += 1;
        }
        let sorted = table.into_sorted(&mut (), |_, _| {}, |_, _, n| n);
        let got: Vec<(Vec<Part<'_>>, u64)> =
            (0..sorted.len()).map(|i| (sorted.get(i).0.parts().collect(), *sorted.get(i).1)).collect();
        let want = vec![
            (keys[4].to_vec(), 1),
            (keys[5].to_vec(), 1),
            (keys[3].to_vec(), 1),
            (keys[0].to_vec(), 2),
            (keys[1].to_vec(), 1),
        ];
        assert_eq!(got, want);
    }

    proptest::proptest! {
        /// Keys of one part sort as keys of any arity do.
        #[test]
        fn one_part_keys_sort_as_any_keys(
            keys in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(None),
                    (0i64..5).prop_map(|v| Some(Err(v))),
                    proptest::collection::vec(proptest::sample::select(b"ab/\x00".to_vec()), 0..6).prop_map(|b| Some(Ok(b))),
                    // Long shared prefixes: the byte sort's later rounds
                    // and its comparison past 64 bytes.
                    (0usize..80, proptest::collection::vec(proptest::sample::select(b"a\x00\xff".to_vec()), 0..20))
                        .prop_map(|(n, tail)| Some(Ok([vec![b'/'; n], tail].concat()))),
                ],
                0..60,
            ),
        ) {
            let mut table: ChunkTable<u64> = ChunkTable::new(1);
            for k in &keys {
                let part = match k {
                    None => Part::Null,
                    Some(Err(v)) => Part::Int(*v),
                    Some(Ok(b)) => Part::Bytes(b),
                };
                let h = part.hash(0);
                *table.entry(h, &[part]) += 1;
            }
            proptest::prop_assert_eq!(table.order_of_one_part(), table.order());
        }
    }

    #[test]
    fn regrouping_keeps_each_groups_values_in_push_order() {
        let pushes = [(2usize, 20u64), (0, 1), (2, 21), (4, 40), (0, 2), (2, 22)];
        let [mut a, b] = GroupValues::take();
        for &(g, v) in &pushes {
            a.push(g, v);
        }
        a.regroup(5);
        let runs: Vec<Vec<u64>> = (0..5).map(|g| a.of(g).to_vec()).collect();
        assert_eq!(runs, [vec![1, 2], vec![], vec![20, 21, 22], vec![], vec![40]]);
        // Handed back, the arrays come out empty for the next chunk, with
        // their room kept unless it grew past the bound.
        let room = a.values.capacity();
        GroupValues::give_back([a, b]);
        let [mut a, mut b] = GroupValues::take();
        assert_eq!(a.values.capacity(), room);
        a.regroup(1);
        assert!(a.of(0).is_empty());
        b.values.reserve(GroupValues::KEEP + 1);
        GroupValues::give_back([a, b]);
        let [_, b] = GroupValues::take();
        assert_eq!(b.values.capacity(), 0, "oversized arrays are freed");
    }
}
