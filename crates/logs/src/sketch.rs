//! Per-group accumulators that merge exactly and in any order: counts, sums,
//! min/max, a latency distribution (raw values, then an HdrHistogram) and a
//! distinct-client set (exact, then a HyperLogLog).

use datasketches::hll::{HllSketch, HllType, HllUnion};
use hdrhistogram::Histogram;
use pagemill_sketch::sorted_union;

/// Raw latencies a group keeps before it switches to a histogram: 128 KiB,
/// about the size of one HdrHistogram of 3 significant digits over a few
/// seconds of microseconds (15,000 u64 counters), so raw values never take
/// more room than the histogram would. At the former 2,048, every busy group
/// of every partial held a histogram: 560 MB of partials at the peak of a
/// 10 GB per-path summary, 371 MB at this limit, in the same time.
const RAW_LATENCIES: usize = 16384;

/// Settings shared by every accumulator of a run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    pub(crate) sigfig: u8,
    pub(crate) exact_limit: usize,
    pub(crate) lg_k: u8,
}

/// Request times of a group. Percentiles always come from an HdrHistogram
/// of every value, so where the values sat (raw or recorded) never shows in
/// the result.
#[derive(Clone, Debug, Default)]
pub(crate) struct Latency {
    raw: Vec<u64>,
    hist: Option<Box<Histogram<u64>>>,
    max: Option<u64>,
}

impl Latency {
    pub(crate) fn from_raw(raw: Vec<u64>, settings: &Settings) -> Latency {
        let max = raw.iter().copied().max();
        let mut l = Latency { raw, hist: None, max };
        l.settle(settings);
        l
    }

    /// The same state as [`Latency::from_raw`] of a copy of `values`, without
    /// the copy where they go into a histogram.
    pub(crate) fn from_values(values: &[u64], settings: &Settings) -> Latency {
        if values.len() <= RAW_LATENCIES {
            return Latency::from_raw(values.to_vec(), settings);
        }
        let mut h = Latency::new_hist(settings);
        for &v in values {
            record(&mut h, v);
        }
        Latency { raw: Vec::new(), hist: Some(h), max: values.iter().copied().max() }
    }

    fn new_hist(settings: &Settings) -> Box<Histogram<u64>> {
        Box::new(Histogram::new(settings.sigfig).expect("significant figures are validated to be 1..=5"))
    }

    /// Move raw values into the histogram once there are too many.
    fn settle(&mut self, settings: &Settings) {
        if self.hist.is_none() && self.raw.len() > RAW_LATENCIES {
            self.hist = Some(Latency::new_hist(settings));
        }
        if let Some(h) = &mut self.hist {
            for &v in &self.raw {
                record(h, v);
            }
            self.raw = Vec::new();
        }
    }

    pub(crate) fn merge(&mut self, other: Latency, settings: &Settings) {
        self.max = self.max.max(other.max);
        match (&mut self.hist, other.hist) {
            (Some(h), Some(o)) => h.add(&*o).expect("auto-resizing histograms always add"),
            (None, Some(o)) => self.hist = Some(o),
            _ => {}
        }
        self.raw.extend_from_slice(&other.raw);
        self.settle(settings);
    }

    /// The values at quantiles `qs` (ascending), exactly as an HdrHistogram
    /// of all values would report them; None without values. A group of at
    /// most [`RAW_LATENCIES`] values never builds a histogram (one costs tens of
    /// KiB): HdrHistogram's answer is the highest value equivalent to the
    /// value at rank ⌈q·n⌉ (at least 1), which `probe`, any histogram of the
    /// same precision, computes from the sorted values.
    pub(crate) fn quantiles(&mut self, qs: &[f64], probe: &Histogram<u64>) -> Option<Vec<u64>> {
        self.max?;
        if let Some(h) = &self.hist {
            debug_assert!(self.raw.is_empty(), "settle() empties raw values into the histogram");
            return Some(qs.iter().map(|&q| h.value_at_quantile(q)).collect());
        }
        self.raw.sort_unstable();
        let n = self.raw.len();
        Some(
            qs.iter()
                .map(|&q| {
                    let rank = ((q.min(1.0) * n as f64).ceil() as usize).clamp(1, n);
                    probe.highest_equivalent(self.raw[rank - 1])
                })
                .collect(),
        )
    }

    /// An empty histogram of the run's precision, for [`Latency::quantiles`].
    pub(crate) fn probe(settings: &Settings) -> Histogram<u64> {
        *Latency::new_hist(settings)
    }

    pub(crate) fn max(&self) -> Option<u64> {
        self.max
    }

    /// Values not yet recorded in the histogram (all values while there is
    /// no histogram).
    pub(crate) fn raw(&self) -> &[u64] {
        &self.raw
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
        Latency { raw: Vec::new(), hist: Some(h), max }
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

/// Distinct client-address hashes of a group.
#[derive(Clone, Debug)]
pub(crate) enum Distinct {
    /// Sorted, deduplicated 64-bit hashes.
    Exact(Vec<u64>),
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
        hashes.sort_unstable();
        let mut n = 0;
        for i in 0..hashes.len() {
            if n == 0 || hashes[i] != hashes[n - 1] {
                hashes[n] = hashes[i];
                n += 1;
            }
        }
        let unique = &hashes[..n];
        if n > settings.exact_limit {
            let mut s = Distinct::new_sketch(settings);
            unique.iter().for_each(|&h| s.update(h));
            return Distinct::Sketch(s);
        }
        Distinct::Exact(unique.to_vec())
    }

    fn new_sketch(settings: &Settings) -> Box<HllSketch> {
        Box::new(HllSketch::new(settings.lg_k, HllType::Hll8).expect("lg_k is validated to be 4..=21"))
    }

    fn settle(&mut self, settings: &Settings) {
        if let Distinct::Exact(v) = self
            && v.len() > settings.exact_limit
        {
            let mut s = Distinct::new_sketch(settings);
            for &h in v.iter() {
                s.update(h);
            }
            *self = Distinct::Sketch(s);
        }
    }

    pub(crate) fn merge(&mut self, other: Distinct, settings: &Settings) {
        let this = std::mem::take(self);
        *self = match (this, other) {
            (Distinct::Exact(a), Distinct::Exact(b)) => Distinct::Exact(sorted_union(a, b)),
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
        self.bytes += other.bytes;
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
    fn latency_is_order_free() {
        let qs = [0.5, 0.9, 0.99, 0.999, 1.0];
        let probe = Latency::probe(&S);
        let raw = RAW_LATENCIES as u64;
        for n in [1u64, 2, 7, raw, raw + 1, 3 * raw] {
            let values: Vec<u64> = (0..n).map(|i| (i * 7919) % 100_000 + i % 3).collect();
            let mut reference = Histogram::<u64>::new(S.sigfig).unwrap();
            for &v in &values {
                reference.record(v).unwrap();
            }
            let want: Vec<u64> = qs.iter().map(|&q| reference.value_at_quantile(q)).collect();
            let mut whole = Latency::from_raw(values.clone(), &S);
            assert_eq!(whole.quantiles(&qs, &probe).unwrap(), want, "{n} values at once");
            let mut merged = Latency::default();
            for c in values.chunks(700) {
                merged.merge(Latency::from_raw(c.to_vec(), &S), &S);
            }
            assert_eq!(merged.quantiles(&qs, &probe).unwrap(), want, "{n} values in pieces");
            assert_eq!(merged.max(), values.iter().copied().max());
            let mut borrowed = Latency::from_values(&values, &S);
            assert_eq!(borrowed.quantiles(&qs, &probe).unwrap(), want, "{n} values from a slice");
            assert_eq!(borrowed.max(), merged.max());
            assert_eq!(borrowed.histogram().is_some(), n > raw, "{n} values: histogram only past the raw limit");
        }
        assert!(Latency::default().quantiles(&qs, &probe).is_none());
    }
}
