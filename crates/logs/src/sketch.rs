//! Per-group accumulators that merge exactly and in any order: counts, sums,
//! min/max, a latency distribution (bucket keys, then an HdrHistogram) and a
//! distinct-client set (exact, then a HyperLogLog).

use datasketches::hll::{HllSketch, HllType, HllUnion};
use hdrhistogram::Histogram;
use pagemill_sketch::{sorted_union, union_into};

/// Request times a group keeps as bucket keys before it switches to a
/// histogram: 64 KiB of keys, half the size of one HdrHistogram of 3
/// significant digits over a few seconds of microseconds (15,000 u64
/// counters), so a group never holds more than a histogram would. At the
/// former 2,048, every busy group of every partial held a histogram: 560 MB
/// of partials at the peak of a 10 GB per-path summary; 371 MB at this limit
/// with 8-byte values, and less again with 4-byte keys.
const RAW_LATENCIES: usize = 16384;

/// Sub-bucket bits of the finest HdrHistogram this job builds (5
/// significant digits: 2 x 10^5 sub-buckets, rounded up to 2^18).
const KEY_BITS: u32 = 18;

/// A request time's HdrHistogram bucket at the finest precision, as a `u32`
/// that orders like the values. Values below 2^18 µs (262 ms) keep their
/// own key; above, bucket `k` holds values of the same top 18 bits, `2^k`
/// wide, exactly as [`Histogram`] files them. A histogram of 1 to 5
/// significant digits files every value of one such bucket together (its
/// buckets are unions of these), so quantiles and recording from keys equal
/// those from the values: a key costs 4 bytes instead of 8.
pub(crate) fn latency_key(v: u64) -> u32 {
    let k = (u64::BITS - v.leading_zeros()).saturating_sub(KEY_BITS);
    // Bucket 0 is keys 0..2^18; bucket k >= 1 holds sub-buckets 2^17..2^18,
    // at keys (k + 1) * 2^17 on. The largest key, (64 - 18 + 2) * 2^17 - 1,
    // fits a u32.
    (k << (KEY_BITS - 1)) + (v >> k) as u32
}

/// The lowest value of [`latency_key`]'s bucket.
pub(crate) fn latency_of_key(key: u32) -> u64 {
    const HALF: u32 = 1 << (KEY_BITS - 1);
    if key < 2 * HALF {
        return u64::from(key);
    }
    let k = key / HALF - 1;
    u64::from(key - k * HALF) << k
}

/// Settings shared by every accumulator of a run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    pub(crate) sigfig: u8,
    pub(crate) exact_limit: usize,
    pub(crate) lg_k: u8,
}

/// Request times of a group. Percentiles always come from an HdrHistogram
/// of every value, so where the values sat (keys or recorded) never shows
/// in the result.
///
/// A group of one request time keeps it as its maximum alone (its key is
/// the maximum's), with no list on the heap: on a log whose paths carry
/// ids most groups have one request, and making and freeing a list per
/// group cost more than reading the group's line. It is the only form of
/// one value without a histogram, so equal contents print alike.
#[derive(Clone, Debug, Default)]
pub(crate) struct Latency {
    /// [`latency_key`]s of values not in the histogram, in no order.
    keys: Vec<u32>,
    hist: Option<Box<Histogram<u64>>>,
    max: Option<u64>,
}

impl Latency {
    /// From request times in µs, as keys or, past [`RAW_LATENCIES`], in a
    /// histogram.
    pub(crate) fn from_values(values: &[u64], settings: &Settings) -> Latency {
        let max = values.iter().copied().max();
        if values.len() == 1 {
            return Latency { keys: Vec::new(), hist: None, max };
        }
        if values.len() <= RAW_LATENCIES {
            return Latency { keys: values.iter().map(|&v| latency_key(v)).collect(), hist: None, max };
        }
        let mut h = Latency::new_hist(settings);
        for &v in values {
            record(&mut h, v);
        }
        Latency { keys: Vec::new(), hist: Some(h), max }
    }

    /// From stored raw values (possibly rounded down within their keys) and
    /// the exact maximum, which the caller has checked lies in the largest
    /// value's key.
    pub(crate) fn from_stored(raw: &[u64], max: Option<u64>, settings: &Settings) -> Latency {
        Latency { max, ..Latency::from_values(raw, settings) }
    }

    /// Whether the group holds one value, as its maximum alone.
    #[inline]
    fn single(&self) -> bool {
        self.keys.is_empty() && self.hist.is_none() && self.max.is_some()
    }

    /// Give a single value its key in the list, before more join it.
    #[inline]
    fn unfold_single(&mut self) {
        if let (true, Some(m)) = (self.single(), self.max) {
            self.keys.push(latency_key(m));
        }
    }

    fn new_hist(settings: &Settings) -> Box<Histogram<u64>> {
        Box::new(Histogram::new(settings.sigfig).expect("significant figures are validated to be 1..=5"))
    }

    /// Add request times `values` (µs) as merging
    /// [`from_values`](Latency::from_values) of them would, without
    /// building that: no list of keys made for one merge and dropped (a
    /// per-group summary adds a few dozen values to each group, many times
    /// a run). Past the raw limit the histogram gets the values themselves
    /// where `from_values` would have held them in a histogram, and their
    /// keys' values where it would have held keys, as the merge records them.
    pub(crate) fn add_values(&mut self, values: &[u64], settings: &Settings) {
        if values.is_empty() {
            return;
        }
        if self.max.is_none() && self.hist.is_none() && values.len() == 1 {
            self.max = Some(values[0]);
            return;
        }
        self.unfold_single();
        self.max = self.max.max(values.iter().copied().max());
        let whole = values.len() > RAW_LATENCIES;
        if whole || self.hist.is_some() || self.keys.len() + values.len() > RAW_LATENCIES {
            let own = std::mem::take(&mut self.keys);
            let h = self.hist.get_or_insert_with(|| Latency::new_hist(settings));
            for &v in values {
                record(h, if whole { v } else { latency_of_key(latency_key(v)) });
            }
            for &key in &own {
                record(h, latency_of_key(key));
            }
            return;
        }
        // Exactly what is needed, as in `merge`.
        self.keys.reserve_exact(values.len());
        self.keys.extend(values.iter().map(|&v| latency_key(v)));
    }

    pub(crate) fn merge(&mut self, mut other: Latency, settings: &Settings) {
        if other.max.is_none() {
            return;
        }
        if self.max.is_none() {
            *self = other;
            return;
        }
        self.unfold_single();
        other.unfold_single();
        self.max = self.max.max(other.max);
        match (&mut self.hist, other.hist) {
            (Some(h), Some(o)) => h.add(&*o).expect("auto-resizing histograms always add"),
            (None, Some(o)) => self.hist = Some(o),
            _ => {}
        }
        if self.hist.is_some() || self.keys.len() + other.keys.len() > RAW_LATENCIES {
            let own = std::mem::take(&mut self.keys);
            let h = self.hist.get_or_insert_with(|| Latency::new_hist(settings));
            for &key in own.iter().chain(&other.keys) {
                record(h, latency_of_key(key));
            }
            return;
        }
        // Keys have no order: grow the longer list, by exactly what it needs
        // (doubling would leave up to half of every merged list unused, and
        // the merged lists of a run are most of its memory).
        if other.keys.len() > self.keys.len() {
            std::mem::swap(&mut self.keys, &mut other.keys);
        }
        self.keys.reserve_exact(other.keys.len());
        self.keys.extend_from_slice(&other.keys);
    }

    /// The values at quantiles `qs` (ascending), exactly as an HdrHistogram
    /// of all values would report them, but never above the exact maximum;
    /// None without values. A group of at
    /// most [`RAW_LATENCIES`] values never builds a histogram (one costs tens of
    /// KiB): HdrHistogram's answer is the highest value equivalent to the
    /// value at rank ⌈q·n⌉ (at least 1), which `probe`, any histogram of the
    /// same precision, computes from the key of that rank (its lowest value
    /// is equivalent to the values). The keys of those ranks are selected,
    /// each from the keys above the last, not sorted: a group's finish
    /// costs a few passes over its keys instead of a sort.
    #[cfg(test)]
    pub(crate) fn quantiles(&mut self, qs: &[f64], probe: &Histogram<u64>) -> Option<Vec<u64>> {
        let mut out = vec![0; qs.len()];
        self.quantiles_into(qs, probe, &mut out).then_some(out)
    }

    /// [`quantiles`](Latency::quantiles) written to `out` (one per
    /// quantile), with no list made per group; false without values.
    pub(crate) fn quantiles_into(&mut self, qs: &[f64], probe: &Histogram<u64>, out: &mut [u64]) -> bool {
        // A bucket's highest equivalent value can lie above every value
        // recorded in it: no quantile is reported above the exact maximum.
        let Some(max) = self.max else { return false };
        if self.single() {
            out.fill(probe.highest_equivalent(latency_of_key(latency_key(max))).min(max));
            return true;
        }
        if let Some(h) = &self.hist {
            debug_assert!(self.keys.is_empty(), "merge() empties keys into the histogram");
            for (o, &q) in out.iter_mut().zip(qs) {
                *o = h.value_at_quantile(q).min(max);
            }
            return true;
        }
        let n = self.keys.len();
        // No key below `sorted_to` is greater than a key from it on, so the
        // key of a rank past it is selected from there. Quantiles out of
        // order sort every key first, and then no rank needs a selection.
        let mut sorted_to = 0;
        if !qs.windows(2).all(|w| w[0] <= w[1]) {
            self.keys.sort_unstable();
            sorted_to = n;
        }
        for (o, &q) in out.iter_mut().zip(qs) {
            let at = ((q.min(1.0) * n as f64).ceil() as usize).clamp(1, n) - 1;
            if at >= sorted_to {
                self.keys[sorted_to..].select_nth_unstable(at - sorted_to);
                sorted_to = at;
            }
            *o = probe.highest_equivalent(latency_of_key(self.keys[at])).min(max);
        }
        true
    }

    /// An empty histogram of the run's precision, for [`Latency::quantiles`].
    pub(crate) fn probe(settings: &Settings) -> Histogram<u64> {
        *Latency::new_hist(settings)
    }

    pub(crate) fn max(&self) -> Option<u64> {
        self.max
    }

    /// The lowest value of each key not yet recorded in the histogram (of
    /// every value while there is no histogram), in no order.
    pub(crate) fn raw(&self) -> Vec<u64> {
        match self.max {
            Some(m) if self.single() => vec![latency_of_key(latency_key(m))],
            _ => self.keys.iter().map(|&k| latency_of_key(k)).collect(),
        }
    }

    /// The histogram, once the group has had more than [`RAW_LATENCIES`]
    /// values.
    pub(crate) fn histogram(&self) -> Option<&Histogram<u64>> {
        self.hist.as_deref()
    }

    /// A histogram state from `(value, count)` pairs (each value recorded
    /// `count` times) and the exact maximum.
    pub(crate) fn from_histogram(pairs: &[(u64, u64)], max: Option<u64>, settings: &Settings) -> Latency {
        let mut h = Latency::new_hist(settings);
        for &(v, n) in pairs {
            if h.record_n(v, n).is_err() {
                h.saturating_record_n(v, n);
            }
        }
        Latency { keys: Vec::new(), hist: Some(h), max }
    }
}

/// Record `v`, growing the histogram's range as needed (`saturating_record`
/// would clamp to the current range instead of growing it). Only values
/// beyond what a histogram can ever track (about 2^62 µs) are clamped.
fn record(h: &mut Histogram<u64>, v: u64) {
    if h.record(v).is_err() {
        h.saturating_record(v);
    }
}

/// Values up to this many are sorted by the standard library's sort, which
/// is fastest there; above, [`sort_hashes`] buckets them.
const SMALL_SORT: usize = 32;

/// Moves per value [`sort_hashes`]'s insertion sort may make before the
/// values are taken for unevenly spread (no hash function gives that by
/// chance) and the standard library's sort finishes them.
const MOVES_PER_VALUE: usize = 8;

/// Values [`sort_hashes`]'s buffers may keep room for between calls (6 MB
/// with the counts): a fold sorts at most 2^18 at once, a caller's own
/// chunk partial maybe millions, whose room is given back.
const SCRATCH_KEEP: usize = 1 << 19;

std::thread_local! {
    /// [`sort_hashes`]'s buffers: its bucket counts and the values placed
    /// in buckets, kept per thread across calls up to [`SCRATCH_KEEP`].
    static SORT_SCRATCH: std::cell::RefCell<(Vec<u32>, Vec<u64>)> = const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// Sort `hashes` and move the distinct ones to the front, which is
/// returned.
fn sort_unique(hashes: &mut [u64]) -> &[u64] {
    sort_hashes(hashes);
    let mut n = 0;
    for i in 0..hashes.len() {
        if n == 0 || hashes[i] != hashes[n - 1] {
            hashes[n] = hashes[i];
            n += 1;
        }
    }
    &hashes[..n]
}

/// Sort `v`: 64-bit hashes, spread evenly as a good hash spreads them, in
/// about linear time. Above [`SMALL_SORT`] values, each goes into one of at
/// least as many buckets by its top bits (a counting pass and a placing
/// pass), and an insertion sort orders each bucket's few values; buckets
/// are in order, so no value moves past its own, and equal values (one
/// client's many requests) do not move at all. A per-group summary sorts
/// each group's address hashes (a few dozen to thousands of them, many
/// times a run), where the standard sort took about 84 instructions a
/// value. Hashes that crowd buckets (chosen, not drawn) make the insertion
/// sort move values more than [`MOVES_PER_VALUE`] times a value on
/// average; then the standard sort finishes, so no input makes this
/// quadratic.
fn sort_hashes(v: &mut [u64]) {
    if v.len() <= SMALL_SORT {
        v.sort_unstable();
        return;
    }
    SORT_SCRATCH.with_borrow_mut(|(starts, placed)| {
        bucket_sort(v, starts, placed);
        if placed.capacity() > SCRATCH_KEEP {
            *starts = Vec::new();
            *placed = Vec::new();
        }
    });
}

/// [`sort_hashes`] above [`SMALL_SORT`] values, with its buffers.
fn bucket_sort(v: &mut [u64], starts: &mut Vec<u32>, placed: &mut Vec<u64>) {
    let n = v.len();
    let bits = usize::BITS - (n - 1).leading_zeros();
    let shift = u64::BITS - bits;
    // starts[b + 1] counts bucket b, then starts[b] is where it starts.
    starts.clear();
    starts.resize((1 << bits) + 1, 0);
    let starts = &mut starts[..];
    for &x in v.iter() {
        starts[(x >> shift) as usize + 1] += 1;
    }
    let mut sum = 0;
    for c in starts.iter_mut() {
        sum += *c;
        *c = sum;
    }
    placed.clear();
    placed.resize(n, 0);
    let placed = &mut placed[..];
    for &x in v.iter() {
        let at = &mut starts[(x >> shift) as usize];
        placed[*at as usize] = x;
        *at += 1;
    }
    let mut budget = MOVES_PER_VALUE * n;
    for i in 1..placed.len() {
        let x = placed[i];
        let mut j = i;
        while j > 0 && placed[j - 1] > x {
            placed[j] = placed[j - 1];
            j -= 1;
        }
        placed[j] = x;
        match budget.checked_sub(i - j) {
            Some(left) => budget = left,
            None => {
                placed.sort_unstable();
                break;
            }
        }
    }
    v.copy_from_slice(placed);
}

/// Distinct client-address hashes of a group.
#[derive(Clone, Debug)]
pub(crate) enum Distinct {
    /// Sorted, deduplicated 64-bit hashes: none, or two or more.
    Exact(Vec<u64>),
    /// One hash, with no list on the heap (most groups of a log whose
    /// paths carry ids have one client); the only form of one hash below
    /// the exact limit.
    One(u64),
    /// Above the exact limit.
    Sketch(Box<HllSketch>),
}

impl Default for Distinct {
    fn default() -> Distinct {
        Distinct::Exact(Vec::new())
    }
}

impl Distinct {
    /// From unsorted hashes with duplicates.
    #[cfg(test)]
    pub(crate) fn from_hashes(mut hashes: Vec<u64>, settings: &Settings) -> Distinct {
        Distinct::from_hash_slice(&mut hashes, settings)
    }

    /// From unsorted hashes with duplicates, which are sorted and
    /// deduplicated in place (the distinct ones end up in front).
    pub(crate) fn from_hash_slice(hashes: &mut [u64], settings: &Settings) -> Distinct {
        Distinct::of_unique(sort_unique(hashes), settings)
    }

    /// Add unsorted hashes with duplicates: what a fold's summary does with
    /// a group's new addresses. Equal to a [`merge`](Distinct::merge) with
    /// [`from_hash_slice`](Distinct::from_hash_slice)`(hashes)`, without
    /// the list or sketch that one builds and the merge frees again: a
    /// sketch takes the hashes as they come (an update is order-free and
    /// takes a hash twice as once), unsorted, where a busy group's batch
    /// above the exact limit was sorted into a sketch of its own and the
    /// two sketches unioned; an exact set takes the batch's distinct hashes
    /// into its own list.
    pub(crate) fn add_hash_slice(&mut self, hashes: &mut [u64], settings: &Settings) {
        if let Distinct::Sketch(s) = self {
            hashes.iter().for_each(|&h| s.update(h));
            return;
        }
        let unique = sort_unique(hashes);
        let mut set = match std::mem::take(self) {
            Distinct::Exact(v) if v.is_empty() => {
                *self = Distinct::of_unique(unique, settings);
                return;
            }
            Distinct::Exact(v) => v,
            Distinct::One(h) => {
                let mut v = Vec::with_capacity(1 + unique.len());
                v.push(h);
                v
            }
            Distinct::Sketch(_) => unreachable!("a sketch took the hashes above"),
        };
        union_into(&mut set, unique);
        *self = match set[..] {
            [h] => Distinct::One(h),
            _ => Distinct::Exact(set),
        };
        self.settle(settings);
    }

    /// From sorted, distinct hashes.
    fn of_unique(unique: &[u64], settings: &Settings) -> Distinct {
        if unique.len() > settings.exact_limit {
            let mut s = Distinct::new_sketch(settings);
            unique.iter().for_each(|&h| s.update(h));
            return Distinct::Sketch(s);
        }
        match unique {
            [h] => Distinct::One(*h),
            _ => Distinct::Exact(unique.to_vec()),
        }
    }

    /// From sorted, distinct hashes (a partial's list).
    pub(crate) fn from_unique(unique: Vec<u64>, settings: &Settings) -> Distinct {
        let mut d = match unique[..] {
            [h] => Distinct::One(h),
            _ => Distinct::Exact(unique),
        };
        d.settle(settings);
        d
    }

    /// The exact hashes, sorted (none for a sketch).
    pub(crate) fn exact(&self) -> &[u64] {
        match self {
            Distinct::Exact(v) => v,
            Distinct::One(h) => std::slice::from_ref(h),
            Distinct::Sketch(_) => &[],
        }
    }

    fn new_sketch(settings: &Settings) -> Box<HllSketch> {
        Box::new(HllSketch::new(settings.lg_k, HllType::Hll8).expect("lg_k is validated to be 4..=21"))
    }

    fn settle(&mut self, settings: &Settings) {
        if !matches!(self, Distinct::Sketch(_)) && self.exact().len() > settings.exact_limit {
            let mut s = Distinct::new_sketch(settings);
            for &h in self.exact() {
                s.update(h);
            }
            *self = Distinct::Sketch(s);
        }
    }

    pub(crate) fn merge(&mut self, other: Distinct, settings: &Settings) {
        let this = std::mem::take(self);
        *self = match (this, other) {
            (Distinct::Exact(a), b) if a.is_empty() => b,
            (a, Distinct::Exact(b)) if b.is_empty() => a,
            (Distinct::One(a), Distinct::One(b)) => match a.cmp(&b) {
                std::cmp::Ordering::Equal => Distinct::One(a),
                std::cmp::Ordering::Less => Distinct::Exact(vec![a, b]),
                std::cmp::Ordering::Greater => Distinct::Exact(vec![b, a]),
            },
            (Distinct::Exact(mut v), Distinct::One(h)) | (Distinct::One(h), Distinct::Exact(mut v)) => {
                if let Err(at) = v.binary_search(&h) {
                    v.insert(at, h);
                }
                Distinct::Exact(v)
            }
            (Distinct::Exact(a), Distinct::Exact(b)) => Distinct::Exact(sorted_union(a, b)),
            (Distinct::Sketch(mut s), Distinct::One(h)) | (Distinct::One(h), Distinct::Sketch(mut s)) => {
                s.update(h);
                Distinct::Sketch(s)
            }
            (Distinct::Sketch(mut s), Distinct::Exact(v)) | (Distinct::Exact(v), Distinct::Sketch(mut s)) => {
                for h in v {
                    s.update(h);
                }
                Distinct::Sketch(s)
            }
            (Distinct::Sketch(a), Distinct::Sketch(b)) => {
                let mut u = HllUnion::new(settings.lg_k).expect("lg_k is validated");
                u.update(&a);
                u.update(&b);
                Distinct::Sketch(Box::new(u.to_sketch(HllType::Hll8)))
            }
        };
        self.settle(settings);
    }

    /// The count: exact, or the sketch's order-independent estimate
    /// (rounded), so the result does not depend on how the input was cut.
    pub(crate) fn count(&self) -> u64 {
        match self {
            Distinct::Exact(v) => v.len() as u64,
            Distinct::One(_) => 1,
            Distinct::Sketch(s) => s.composite_estimate().round() as u64,
        }
    }
}

/// Everything known about one group.
#[derive(Clone, Debug)]
pub(crate) struct GroupAcc {
    pub(crate) requests: u64,
    pub(crate) bytes: u64,
    pub(crate) err4: u64,
    pub(crate) err5: u64,
    pub(crate) first: i64,
    pub(crate) last: i64,
    pub(crate) latency: Latency,
    pub(crate) distinct: Distinct,
}

impl Default for GroupAcc {
    fn default() -> GroupAcc {
        GroupAcc {
            requests: 0,
            bytes: 0,
            err4: 0,
            err5: 0,
            first: i64::MAX,
            last: i64::MIN,
            latency: Latency::default(),
            distinct: Distinct::default(),
        }
    }
}

impl GroupAcc {
    pub(crate) fn merge(&mut self, other: GroupAcc, settings: &Settings) {
        self.requests += other.requests;
        self.bytes = self.bytes.saturating_add(other.bytes);
        self.err4 += other.err4;
        self.err5 += other.err5;
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
        self.latency.merge(other.latency, settings);
        self.distinct.merge(other.distinct, settings);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Settings = Settings { sigfig: 3, exact_limit: 100, lg_k: 12 };

    proptest::proptest! {
        /// Hashes are sorted as the standard sort sorts them: evenly spread
        /// ones, duplicates, and hashes that crowd a few buckets.
        #[test]
        fn hashes_sort_as_the_standard_sort_sorts_them(
            v in proptest::collection::vec(proptest::prelude::any::<u64>(), 0..3000),
            crowd in 0u32..64,
            dup in 1usize..4,
        ) {
            let mut v: Vec<u64> = v.iter().map(|&x| x >> crowd).flat_map(|x| std::iter::repeat_n(x, dup)).collect();
            let mut want = v.clone();
            want.sort_unstable();
            sort_hashes(&mut v);
            proptest::prop_assert_eq!(v, want);
        }
    }

    #[test]
    fn distinct_is_exact_below_the_limit_and_order_free_above() {
        let hashes: Vec<u64> = (0..5000u64).map(|i| crate::hash::hash_u64(i % 3000, 7)).collect();
        let whole = Distinct::from_hashes(hashes.clone(), &S);
        let mut parts = hashes.chunks(37).map(|c| Distinct::from_hashes(c.to_vec(), &S));
        let mut merged = parts.next().unwrap();
        for p in parts {
            merged.merge(p, &S);
        }
        assert_eq!(whole.count(), merged.count());
        assert!((whole.count() as f64 - 3000.0).abs() < 3000.0 * 0.05, "{}", whole.count());
        let small = Distinct::from_hashes(vec![3, 1, 3, 2], &S);
        assert_eq!(small.count(), 3);
        // Exactly at the limit stays exact; one more distinct value sketches.
        for (n, exact) in [(S.exact_limit, true), (S.exact_limit + 1, false)] {
            let mut v: Vec<u64> = (0..n as u64).rev().flat_map(|h| [h * 31 + 1, h * 31 + 1]).collect();
            let d = Distinct::from_hash_slice(&mut v, &S);
            assert_eq!(matches!(d, Distinct::Exact(_)), exact, "{n} distinct");
            if let Distinct::Exact(h) = &d {
                assert!(h.windows(2).all(|w| w[0] < w[1]) && h.len() == n);
            }
        }
    }

    #[test]
    fn adding_hashes_equals_merging_their_own_set() {
        // Batches of every kind in turn: one hash again, a few, duplicates,
        // one that crosses the exact limit, some above it, and one larger
        // than the limit alone.
        let batch =
            |i: u64, n: u64, range: u64| -> Vec<u64> { (0..n).map(|k| (i * 7919 + k * 104_729) % range).collect() };
        let batches = [
            vec![5],
            vec![5],
            vec![5, 5],
            batch(1, 3, 50),
            batch(2, 40, 60),
            batch(3, 2000, 1 << 40),
            batch(4, 300, 1 << 40),
            batch(5, 5000, 1 << 40),
            batch(6, 1, 1 << 40),
        ];
        for start in 0..batches.len() {
            let (mut added, mut merged) = (Distinct::default(), Distinct::default());
            for b in &batches[start..] {
                added.add_hash_slice(&mut b.clone(), &S);
                merged.merge(Distinct::from_hash_slice(&mut b.clone(), &S), &S);
                assert_eq!(added.exact(), merged.exact(), "from batch {start}");
                assert_eq!(added.count(), merged.count(), "from batch {start}");
                for d in [&added, &merged] {
                    let one = matches!(d, Distinct::One(_));
                    assert_eq!(one, d.count() == 1 && !matches!(d, Distinct::Sketch(_)), "{d:?}");
                }
                assert_eq!(matches!(added, Distinct::Sketch(_)), matches!(merged, Distinct::Sketch(_)));
            }
        }
    }

    #[test]
    fn latency_keys_order_like_values_and_decode_to_each_precisions_bucket() {
        let mut values: Vec<u64> =
            vec![0, 1, 2, (1 << 17) - 1, 1 << 17, (1 << 18) - 1, 1 << 18, (1 << 18) + 1, u64::MAX];
        values.extend((0..64).flat_map(|b| [1u64 << b, (1u64 << b).wrapping_sub(1), (1u64 << b) | 0x5555_5555_5555]));
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push(x >> (x % 64));
        }
        values.sort_unstable();
        values.dedup();
        for w in values.windows(2) {
            assert!(latency_key(w[0]) <= latency_key(w[1]), "{} vs {}", w[0], w[1]);
        }
        let finest = Histogram::<u64>::new_with_max(u64::MAX / 2, 5).unwrap();
        for &v in values.iter().filter(|&&v| v <= u64::MAX / 2) {
            let low = latency_of_key(latency_key(v));
            assert_eq!(low, finest.lowest_equivalent(v), "{v}");
            assert_eq!(latency_key(low), latency_key(v), "{v}");
            for sigfig in 1..=4 {
                let h = Histogram::<u64>::new_with_max(u64::MAX / 2, sigfig).unwrap();
                assert_eq!(h.lowest_equivalent(low), h.lowest_equivalent(v), "{v} at {sigfig} digits");
            }
        }
        assert_eq!(latency_of_key(latency_key(u64::MAX)), u64::MAX >> 46 << 46);
    }

    /// One request time, or one client, is held without a list, and is
    /// the same state however it was reached.
    #[test]
    fn single_values_have_one_form() {
        let probe = Latency::probe(&S);
        let qs = [0.5, 0.99, 1.0];
        for values in [vec![7_000u64], vec![300_000, 300_001], vec![5, 900_000, 5]] {
            let whole = Latency::from_values(&values, &S);
            let mut added = Latency::default();
            let mut merged = Latency::default();
            for &v in &values {
                added.add_values(&[v], &S);
                merged.merge(Latency::from_values(&[v], &S), &S);
                merged.merge(Latency::default(), &S);
            }
            let mut listed =
                Latency { keys: values.iter().map(|&v| latency_key(v)).collect(), hist: None, max: whole.max() };
            for l in [&added, &merged] {
                assert_eq!(format!("{l:?}"), format!("{whole:?}"), "{values:?}");
            }
            assert_eq!(whole.keys.is_empty(), values.len() == 1);
            assert_eq!(added.clone().quantiles(&qs, &probe), listed.quantiles(&qs, &probe));
            let mut sorted = listed.raw();
            sorted.sort_unstable();
            let mut raw = added.raw();
            raw.sort_unstable();
            assert_eq!(raw, sorted);
        }
        let one = |h: u64| Distinct::from_hashes(vec![h, h], &S);
        assert!(matches!(one(5), Distinct::One(5)));
        let mut d = Distinct::default();
        d.merge(one(9), &S);
        d.merge(Distinct::default(), &S);
        d.merge(one(9), &S);
        assert!(matches!(d, Distinct::One(9)));
        d.merge(one(3), &S);
        assert!(matches!(&d, Distinct::Exact(v) if v == &[3, 9]));
        d.merge(one(5), &S);
        assert_eq!(d.exact(), [3, 5, 9]);
        let tight = Settings { exact_limit: 1, ..S };
        let mut t = one(1);
        t.merge(one(2), &tight);
        assert!(matches!(t, Distinct::Sketch(_)) && t.count() == 2);
        assert!(matches!(Distinct::from_unique(vec![4], &S), Distinct::One(4)));
        assert!(matches!(Distinct::from_unique(vec![4], &Settings { exact_limit: 0, ..S }), Distinct::Sketch(_)));
    }

    #[test]
    fn latency_is_order_free() {
        let qs = [0.5, 0.9, 0.99, 0.999, 1.0];
        let raw = RAW_LATENCIES as u64;
        for sigfig in [2, 3, 5] {
            let s = Settings { sigfig, ..S };
            let probe = Latency::probe(&s);
            for n in [1u64, 2, 7, raw, raw + 1, 3 * raw] {
                // Spread over nine decades, so most values share a key with others.
                let values: Vec<u64> = (0..n).map(|i| ((i * 7919) % 100_000 + i % 3) << (i % 13 * 3)).collect();
                let mut reference = Histogram::<u64>::new(s.sigfig).unwrap();
                for &v in &values {
                    reference.record(v).unwrap();
                }
                // HdrHistogram's answers, held to the exact maximum.
                let max = values.iter().copied().max().unwrap();
                let want: Vec<u64> = qs.iter().map(|&q| reference.value_at_quantile(q).min(max)).collect();
                let mut whole = Latency::from_values(&values, &s);
                assert_eq!(whole.quantiles(&qs, &probe).unwrap(), want, "{n} values at once, {sigfig} digits");
                let (mut back_qs, mut back_want) = (qs, want.clone());
                back_qs.reverse();
                back_want.reverse();
                let mut fresh = Latency::from_values(&values, &s);
                assert_eq!(fresh.quantiles(&back_qs, &probe).unwrap(), back_want, "{n} values, quantiles descending");
                assert_eq!(whole.histogram().is_some(), n > raw, "{n} values: histogram only past the raw limit");
                for piece in [700, 5000, RAW_LATENCIES + 1] {
                    let mut merged = Latency::default();
                    let mut backwards = Latency::default();
                    let mut added = Latency::default();
                    for (c, r) in values.chunks(piece).zip(values.rchunks(piece)) {
                        merged.merge(Latency::from_values(c, &s), &s);
                        backwards.merge(Latency::from_values(r, &s), &s);
                        added.add_values(c, &s);
                        // Adding is merging, state for state.
                        assert_eq!(added.max(), merged.max());
                        assert_eq!(added.raw(), merged.raw());
                        let counts = |l: &Latency| {
                            l.histogram().map(|h| {
                                (
                                    h.len(),
                                    h.iter_recorded()
                                        .map(|v| (v.value_iterated_to(), v.count_at_value()))
                                        .collect::<Vec<_>>(),
                                )
                            })
                        };
                        assert_eq!(counts(&added), counts(&merged), "{n} values added in pieces of {piece}");
                    }
                    assert_eq!(added.quantiles(&qs, &probe).unwrap(), want, "{n} values added in pieces of {piece}");
                    assert_eq!(merged.quantiles(&qs, &probe).unwrap(), want, "{n} values in pieces of {piece}");
                    assert_eq!(backwards.quantiles(&qs, &probe).unwrap(), want, "{n} values backwards");
                    assert_eq!(merged.max(), values.iter().copied().max());
                    assert_eq!(merged.histogram().is_some(), n > raw, "{n} values merged: histogram past the limit");
                }
            }
        }
        assert!(Latency::default().quantiles(&qs, &Latency::probe(&S)).is_none());
    }
}
