use std::cell::RefCell;

use hdrhistogram::Histogram;

use crate::bytes::{Reader, VERSION, put_u32, put_u64};
use crate::error::Error;

/// Settings of a [`Quantiles`] sketch: precision, value scale, and how many
/// values are kept raw before histograms are built.
///
/// Precision: a reported quantile is within `|v| * 10^-sigfig` of the exact
/// nearest-rank value `v` of the scaled, rounded values, plus the rounding to
/// the scale (at most `0.5 / scale`). Values whose scaled magnitude is below
/// `2 * 10^sigfig` are reported exactly (at the scale's resolution).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuantileConfig {
    sigfig: u8,
    scale: u64,
    /// `log10(scale)` when the scale is a power of ten (for exact decimals).
    scale_digits: Option<u8>,
    raw_limit: u32,
}

impl Default for QuantileConfig {
    fn default() -> QuantileConfig {
        QuantileConfig::new()
    }
}

/// How many times [`QuantileConfig::raw_limit`] values a sketch without a
/// histogram buffers.
const FIRST_BATCHES: usize = 8;

/// Quantiles up to this many are read from a raw-only sketch by selecting
/// their ranks, more by sorting its values once.
const SELECTED: usize = 2;

/// Scaled magnitudes above this are out of range (HdrHistogram tracks up to
/// about 2^63; staying well below keeps every bucket computation exact).
const MAX_SCALED: u64 = 1 << 62;

impl QuantileConfig {
    /// 3 significant digits, scale 100 (two decimals), 1024 raw values.
    pub fn new() -> QuantileConfig {
        QuantileConfig { sigfig: 3, scale: 100, scale_digits: Some(2), raw_limit: 1024 }
    }

    /// Significant decimal digits of the histogram, 1 to 5. Each extra digit
    /// costs about ten times the memory per histogram.
    pub fn sigfig(mut self, digits: u8) -> Result<QuantileConfig, Error> {
        if !(1..=5).contains(&digits) {
            return Err(Error::Sigfig(digits));
        }
        self.sigfig = digits;
        Ok(self)
    }

    /// Record `value * scale`, rounded to an integer: the absolute resolution
    /// is `1 / scale`. At least 1.
    pub fn scale(mut self, scale: u64) -> Result<QuantileConfig, Error> {
        if scale == 0 {
            return Err(Error::Scale);
        }
        self.scale = scale;
        self.scale_digits = (0..20u8).find(|&d| 10u64.checked_pow(u32::from(d)) == Some(scale));
        Ok(self)
    }

    /// Buffer up to `n` values raw (8 bytes each) and record them into the
    /// histograms a batch at a time: a batch finds its histogram's counts in
    /// cache. A sketch that has no histogram yet buffers up to eight times
    /// as many (64 KiB at the default `n`, about one histogram's size): the
    /// many small groups of a high-cardinality key never build histograms,
    /// and the sketches of one chunk, merged a few times over, build theirs
    /// once rather than at every step (creating, zeroing, adding and freeing
    /// those was a fifth of a features run with a few hundred keys). Does
    /// not change any answer.
    pub fn raw_limit(mut self, n: u32) -> QuantileConfig {
        self.raw_limit = n;
        self
    }

    /// The significant digits.
    pub fn get_sigfig(&self) -> u8 {
        self.sigfig
    }

    /// The value scale.
    pub fn get_scale(&self) -> u64 {
        self.scale
    }

    /// The most values buffered raw before they go into histograms.
    pub fn get_raw_limit(&self) -> u32 {
        self.raw_limit
    }
}

/// A mergeable distribution of values with HdrHistogram precision.
///
/// Values are recorded as integers `round(value * scale)`. Non-negative ones
/// go into one histogram, the magnitudes of negative ones into a second, so
/// the sketch needs no offset and keeps the same relative precision on both
/// sides of zero. Quantiles use the nearest-rank definition (the value at
/// rank `ceil(q * n)` of the sorted values), reported as the midpoint of the
/// histogram bucket that holds it, clamped to the exact minimum and maximum.
///
/// Values are buffered raw before they go into the histograms (see
/// [`QuantileConfig::raw_limit`]); every answer is computed from a histogram
/// of all values, so where values sat and how sketches were split and merged
/// never shows in a result.
///
/// A sketch of one or two values and no histogram (most sketches of a
/// high-cardinality key) keeps them in its minimum and maximum alone, with
/// no buffer on the heap: creating, growing and copying a buffer per group
/// was most of the cost of merging the partial results of a million small
/// groups.
#[derive(Clone, Debug)]
pub struct Quantiles {
    config: QuantileConfig,
    /// The values not yet recorded into a histogram; empty while they are
    /// implicit (see [`Quantiles::implicit`]).
    raw: Vec<i64>,
    pos: Option<Box<Histogram<u64>>>,
    neg: Option<Box<Histogram<u64>>>,
    count: u64,
    min: i64,
    max: i64,
}

/// The values of a sketch not yet in a histogram: its `raw` buffer, or the
/// implicit ones (see [`Quantiles::implicit`]).
struct Pending<'a> {
    inline: [i64; 2],
    len: usize,
    raw: &'a [i64],
}

impl std::ops::Deref for Pending<'_> {
    type Target = [i64];

    #[inline]
    fn deref(&self) -> &[i64] {
        if self.len > 0 { &self.inline[..self.len] } else { self.raw }
    }
}

impl Quantiles {
    /// An empty sketch.
    pub fn new(config: QuantileConfig) -> Quantiles {
        Quantiles { config, raw: Vec::new(), pos: None, neg: None, count: 0, min: i64::MAX, max: i64::MIN }
    }

    /// The settings.
    pub fn config(&self) -> &QuantileConfig {
        &self.config
    }

    /// The number of values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Whether no value was recorded.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Record a value. NaN, infinities and values too large for the scale
    /// are refused.
    pub fn record(&mut self, value: f64) -> Result<(), Error> {
        if !value.is_finite() {
            return Err(Error::NotFinite);
        }
        let scaled = (value * self.config.scale as f64).round();
        if scaled.abs() >= MAX_SCALED as f64 {
            return Err(Error::OutOfRange(value));
        }
        self.record_scaled(scaled as i64)
    }

    /// Record the decimal `mantissa * 10^-frac_digits` exactly: with a
    /// power-of-ten scale, no binary floating point is involved (digits below
    /// the scale's resolution are rounded half away from zero). With another
    /// scale it is recorded like [`record`](Quantiles::record).
    #[inline]
    pub fn record_decimal(&mut self, mantissa: i64, frac_digits: u8) -> Result<(), Error> {
        let Some(d) = self.config.scale_digits else {
            return self.record(mantissa as f64 / 10f64.powi(i32::from(frac_digits)));
        };
        match scale_decimal(mantissa, frac_digits, d) {
            // In range: `scale_decimal` checked it.
            Some(scaled) => self.record_in_range(scaled),
            None => Err(Error::OutOfRange(mantissa as f64 / 10f64.powi(i32::from(frac_digits)))),
        }
    }

    /// Record an already scaled integer value (`value * scale`).
    ///
    /// Most values arrive with values already buffered (so none are
    /// implicit) and room for one more: they are pushed after two checks,
    /// inlined into the caller's loop. The rest take
    /// a private out-of-line path, which decides every case.
    #[inline]
    pub fn record_scaled(&mut self, scaled: i64) -> Result<(), Error> {
        if scaled.unsigned_abs() >= MAX_SCALED {
            return self.record_other(scaled);
        }
        self.record_in_range(scaled)
    }

    /// [`record_scaled`](Quantiles::record_scaled) of a value known to be
    /// in range (below [`MAX_SCALED`] in magnitude).
    #[inline(always)]
    fn record_in_range(&mut self, scaled: i64) -> Result<(), Error> {
        debug_assert!(scaled.unsigned_abs() < MAX_SCALED);
        let len = self.raw.len();
        if len != 0 && len < self.buffer_limit() {
            self.count += 1;
            self.min = self.min.min(scaled);
            self.max = self.max.max(scaled);
            self.raw.push(scaled);
            return Ok(());
        }
        self.record_other(scaled)
    }

    /// [`record_scaled`](Quantiles::record_scaled) in every state: out of
    /// range, implicit values, an empty or full buffer.
    #[inline(never)]
    fn record_other(&mut self, scaled: i64) -> Result<(), Error> {
        if scaled.unsigned_abs() >= MAX_SCALED {
            return Err(Error::OutOfRange(scaled as f64 / self.config.scale as f64));
        }
        if self.count < 2 && self.no_histogram() && self.buffer_limit() >= 2 {
            // One or two values: they are the minimum and the maximum.
            self.count += 1;
            self.min = self.min.min(scaled);
            self.max = self.max.max(scaled);
            return Ok(());
        }
        self.materialize();
        self.count += 1;
        self.min = self.min.min(scaled);
        self.max = self.max.max(scaled);
        // Buffered even once the histograms exist: recording a batch at a
        // time keeps a histogram's counts in cache, where one value at a
        // time across many groups' histograms missed it on nearly every
        // value.
        self.raw.push(scaled);
        if self.raw.len() > self.buffer_limit() {
            self.spill();
        }
        Ok(())
    }

    #[inline]
    fn no_histogram(&self) -> bool {
        self.pos.is_none() && self.neg.is_none()
    }

    /// Whether the values not in a histogram are implicit: without a
    /// histogram, one or two values (where the buffer would hold two) are
    /// the minimum and the maximum, and `raw` stays empty.
    #[inline]
    fn implicit(&self) -> bool {
        self.count <= 2 && self.no_histogram() && self.buffer_limit() >= 2
    }

    /// The values not yet recorded into a histogram, in no particular order.
    #[inline]
    fn pending(&self) -> Pending<'_> {
        if self.implicit() {
            Pending { inline: [self.min, self.max], len: self.count as usize, raw: &[] }
        } else {
            Pending { inline: [0; 2], len: 0, raw: &self.raw }
        }
    }

    /// Move implicit values into `raw`, before the sketch leaves that state.
    #[inline]
    fn materialize(&mut self) {
        if self.implicit() {
            let values = [self.min, self.max];
            self.raw.extend_from_slice(&values[..self.count as usize]);
        }
    }

    /// The most values held raw: [`QuantileConfig::raw_limit`], or
    /// [`FIRST_BATCHES`] times that before the first histogram exists.
    #[inline]
    fn buffer_limit(&self) -> usize {
        let n = self.config.raw_limit as usize;
        if self.no_histogram() { n.saturating_mul(FIRST_BATCHES) } else { n }
    }

    #[cfg(test)]
    fn new_histogram(&self) -> Box<Histogram<u64>> {
        Box::new(Histogram::new(self.config.sigfig).expect("sigfig is validated to be 1..=5"))
    }

    /// Record into the histograms (they exist).
    fn put(&mut self, scaled: i64) {
        let side = if scaled < 0 { &mut self.neg } else { &mut self.pos };
        let h = match side {
            Some(h) => h,
            None => side.insert(Box::new(Histogram::new(self.config.sigfig).expect("sigfig is validated to be 1..=5"))),
        };
        h.record(scaled.unsigned_abs()).expect("auto-resizing histograms record any value below 2^62");
    }

    /// Move the raw values into the histograms. Missing ones are created
    /// with the range of the values at hand, so that they do not grow bucket
    /// array by bucket array while these are recorded (they still grow for
    /// later values).
    fn spill(&mut self) {
        self.spill_with(&[]);
    }

    /// [`spill`](Quantiles::spill) the raw values and then `more` (whose
    /// range `min` and `max` already cover). The raw buffer is kept for the
    /// next batch unless it grew past one.
    fn spill_with(&mut self, more: &[i64]) {
        let sized = |high: u64| {
            let mut h = Histogram::new_with_bounds(1, high.max(2), self.config.sigfig)
                .expect("bounds are 1 < high < 2^62 and sigfig is 1..=5");
            h.auto(true);
            Box::new(h)
        };
        if self.pos.is_none() {
            self.pos = Some(sized(self.max.max(0).unsigned_abs()));
        }
        if self.neg.is_none() && self.min < 0 {
            self.neg = Some(sized(self.min.unsigned_abs()));
        }
        let mut raw = std::mem::take(&mut self.raw);
        for &v in raw.iter().chain(more) {
            self.put(v);
        }
        raw.clear();
        // A buffer that held one batch (raw_limit + 1 values) has twice the
        // capacity; a bigger one held the first batches and goes.
        if raw.capacity() <= 2 * self.config.raw_limit as usize {
            self.raw = raw;
        }
    }

    /// Add every value of `other` (same settings) to this sketch.
    pub fn merge(&mut self, other: &Quantiles) -> Result<(), Error> {
        if self.config != other.config {
            return Err(Error::ConfigMismatch);
        }
        if other.count == 0 {
            return Ok(());
        }
        // Counts read from bytes can be anything: more than a u64 of
        // values between them were never recorded.
        if self.count.checked_add(other.count).is_none() {
            return Err(Error::Corrupt("value counts overflow when merged"));
        }
        if self.count + other.count <= 2 && self.implicit() && other.implicit() {
            // Still at most two values, without a histogram: implicit.
            self.count += other.count;
            self.min = self.min.min(other.min);
            self.max = self.max.max(other.max);
            return Ok(());
        }
        let theirs = other.pending();
        self.materialize();
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        for (mine, theirs) in [(&mut self.pos, &other.pos), (&mut self.neg, &other.neg)] {
            match (mine.as_mut(), theirs) {
                (Some(h), Some(o)) => h.add(&**o).expect("auto-resizing histograms always add"),
                (None, Some(o)) => *mine = Some(o.clone()),
                _ => {}
            }
        }
        // Past the limit, both buffers go straight into the histograms
        // rather than through a joint buffer of up to twice the limit.
        if self.raw.len() + theirs.len() > self.buffer_limit() {
            self.spill_with(&theirs);
        } else {
            self.raw.extend_from_slice(&theirs);
        }
        Ok(())
    }

    /// The smallest value recorded (exact at the scale's resolution).
    pub fn min(&self) -> Option<f64> {
        (self.count > 0).then(|| self.min as f64 / self.config.scale as f64)
    }

    /// The largest value recorded (exact at the scale's resolution).
    pub fn max(&self) -> Option<f64> {
        (self.count > 0).then(|| self.max as f64 / self.config.scale as f64)
    }

    /// The `q`-quantile (`q` in 0..=1, clamped), or `None` without values.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.quantiles(&[q]).pop().flatten()
    }

    /// Several quantiles at once. The raw values are sorted and walked beside
    /// each histogram's recorded buckets, once per sign for all of `qs`: a
    /// raw value reads as the bucket it would be recorded in, so the answer
    /// is that of the histograms with every raw value recorded, without
    /// copying a histogram (tens of KiB each) or walking it once per quantile.
    pub fn quantiles(&self, qs: &[f64]) -> Vec<Option<f64>> {
        if self.count == 0 {
            return vec![None; qs.len()];
        }
        let scale = self.config.scale as f64;
        let raw = self.pending();
        if self.no_histogram() {
            // Raw values only (the sketches of most keys when there are
            // many): the value of each rank, read as its bucket. A few
            // quantiles select their ranks, each in linear time, from the
            // values as the last selection left them (any order holds the
            // same value at each rank); more sort once. Sorting thousands of
            // values per key was a twentieth of a features run with p99.
            return with_buckets(self.config.sigfig, |buckets, values| {
                values.extend_from_slice(&raw);
                let select = qs.len() <= SELECTED;
                if !select {
                    values.sort_unstable();
                }
                qs.iter()
                    .map(|&q| {
                        let rank = (nearest_rank(q, self.count) - 1) as usize;
                        let v = if select { *values.select_nth_unstable(rank).1 } else { values[rank] };
                        let m = buckets.median_equivalent(v.unsigned_abs()) as i64;
                        Some((if v < 0 { -m } else { m }).clamp(self.min, self.max) as f64 / scale)
                    })
                    .collect()
            });
        }
        let (mut neg, mut pos): (Vec<u64>, Vec<u64>) = (Vec::new(), Vec::with_capacity(raw.len()));
        for &v in raw.iter() {
            if v < 0 { neg.push(v.unsigned_abs()) } else { pos.push(v as u64) }
        }
        neg.sort_unstable();
        pos.sort_unstable();
        let negatives = neg.len() as u64 + self.neg.as_deref().map_or(0, Histogram::len);
        // Ranks among magnitudes on each side, ascending, with the index of
        // the quantile they answer: negative values count down from -0.
        let (mut neg_ranks, mut pos_ranks) = (Vec::new(), Vec::new());
        for (i, &q) in qs.iter().enumerate() {
            // Nearest rank, 0-based (nearest_rank clamps q and takes NaN as 0).
            let rank = nearest_rank(q, self.count) - 1;
            if rank < negatives {
                neg_ranks.push((negatives - 1 - rank, i));
            } else {
                pos_ranks.push((rank - negatives, i));
            }
        }
        neg_ranks.sort_unstable();
        pos_ranks.sort_unstable();
        let mut out = vec![0i64; qs.len()];
        with_buckets(self.config.sigfig, |buckets, _| {
            for (side, raw, ranks, sign) in
                [(self.neg.as_deref(), &neg, &neg_ranks, -1), (self.pos.as_deref(), &pos, &pos_ranks, 1)]
            {
                let mut answer = |i: usize, magnitude: u64| out[i] = sign * magnitude as i64;
                values_at_ranks(side, buckets, raw, ranks, &mut answer);
            }
        });
        out.into_iter().map(|v| Some(v.clamp(self.min, self.max) as f64 / scale)).collect()
    }
}

thread_local! {
    /// An empty histogram of the last precision asked for, and a buffer,
    /// for [`with_buckets`].
    static BUCKETS: RefCell<(Option<Histogram<u64>>, Vec<i64>)> = const { RefCell::new((None, Vec::new())) };
}

/// Call `f` with an empty histogram of `sigfig` significant digits (bucket
/// arithmetic depends only on the precision, so it maps any value to its
/// bucket as the sketch's histograms would) and an empty scratch buffer,
/// both kept per thread: finishing a million raw-only sketches made a
/// histogram (and a buffer) for each.
fn with_buckets<R>(sigfig: u8, f: impl FnOnce(&Histogram<u64>, &mut Vec<i64>) -> R) -> R {
    BUCKETS.with(|cell| {
        let (template, scratch) = &mut *cell.borrow_mut();
        let buckets = match template {
            Some(h) if h.sigfig() == sigfig => h,
            _ => template.insert(Histogram::new(sigfig).expect("sigfig is validated to be 1..=5")),
        };
        scratch.clear();
        f(buckets, scratch)
    })
}

/// Answer each `(rank, i)` of `ranks` (0-based ranks, ascending) with the
/// midpoint of the bucket that holds the value of that rank among the values
/// recorded in `h` and the sorted `raw` values; `buckets` is a histogram of
/// the same precision. A rank past them all (never asked) gets the largest.
fn values_at_ranks(
    h: Option<&Histogram<u64>>,
    buckets: &Histogram<u64>,
    raw: &[u64],
    ranks: &[(u64, usize)],
    answer: &mut impl FnMut(usize, u64),
) {
    let (mut seen, mut next, mut i) = (0u64, 0usize, 0usize);
    // Count `n` more values in the bucket whose highest value is `top`, and
    // answer the ranks they reach; true once every rank is answered.
    let mut add = |n: u64, top: u64, next: &mut usize| {
        seen += n;
        while let Some(&(rank, q)) = ranks.get(*next)
            && rank < seen
        {
            answer(q, buckets.median_equivalent(top));
            *next += 1;
        }
        *next == ranks.len()
    };
    if next == ranks.len() {
        return;
    }
    for bucket in h.into_iter().flat_map(Histogram::iter_recorded) {
        let top = bucket.value_iterated_to();
        let low = buckets.lowest_equivalent(top);
        // Raw values below this bucket, each in a bucket the histogram has
        // not recorded (same-bucket neighbours simply answer alike).
        while i < raw.len() && raw[i] < low {
            if add(1, raw[i], &mut next) {
                return;
            }
            i += 1;
        }
        let within = raw[i..].iter().take_while(|&&v| v <= top).count();
        i += within;
        if add(bucket.count_at_value() + within as u64, top, &mut next) {
            return;
        }
    }
    for &v in &raw[i..] {
        if add(1, v, &mut next) {
            return;
        }
    }
    let largest = raw.last().copied().into_iter().chain(h.map(Histogram::max)).max().unwrap_or(0);
    for &(_, q) in &ranks[next..] {
        answer(q, buckets.median_equivalent(largest));
    }
}

impl Quantiles {
    /// The sketch as bytes, for saving partial results: a version byte, the
    /// count, minimum and maximum (scaled, `i64`), the raw values (`u32`
    /// length, then `i64` each), then for the non-negative and the negative
    /// histogram a presence byte and the recorded buckets (`u32` length,
    /// then `u64` value and `u64` count each: HdrHistogram's highest
    /// equivalent value of each non-empty bucket). All little-endian. The
    /// settings are not included: [`from_bytes`](Quantiles::from_bytes)
    /// takes them.
    pub fn to_bytes(&self) -> Vec<u8> {
        let raw = self.pending();
        let mut out = Vec::with_capacity(29 + 8 * raw.len());
        out.push(VERSION);
        put_u64(&mut out, self.count);
        put_u64(&mut out, self.min as u64);
        put_u64(&mut out, self.max as u64);
        put_u32(&mut out, raw.len() as u32);
        for &v in raw.iter() {
            put_u64(&mut out, v as u64);
        }
        for h in [&self.pos, &self.neg] {
            match h {
                None => out.push(0),
                Some(h) => {
                    out.push(1);
                    let at = out.len();
                    put_u32(&mut out, 0);
                    let mut n = 0u32;
                    for v in h.iter_recorded() {
                        put_u64(&mut out, v.value_iterated_to());
                        put_u64(&mut out, v.count_at_value());
                        n += 1;
                    }
                    out[at..at + 4].copy_from_slice(&n.to_le_bytes());
                }
            }
        }
        out
    }

    /// A sketch with `config` from the bytes of [`to_bytes`](Quantiles::to_bytes).
    /// It answers exactly as the sketch that was saved. Bytes that do not
    /// hold a consistent sketch are an [`Error::Corrupt`].
    pub fn from_bytes(config: QuantileConfig, bytes: &[u8]) -> Result<Quantiles, Error> {
        let mut r = Reader::new(bytes)?;
        let mut q = Quantiles::new(config);
        q.count = r.u64()?;
        q.min = r.u64()? as i64;
        q.max = r.u64()? as i64;
        let n = r.len(8)?;
        q.raw = (0..n).map(|_| r.u64().map(|v| v as i64)).collect::<Result<_, _>>()?;
        let mut seen = q.raw.len() as u64;
        for side in [&mut q.pos, &mut q.neg] {
            match r.u8()? {
                0 => {}
                1 => {
                    let mut h = Histogram::new(config.sigfig).expect("sigfig is validated to be 1..=5");
                    for _ in 0..r.len(16)? {
                        let (value, count) = (r.u64()?, r.u64()?);
                        if value >= MAX_SCALED || count == 0 {
                            return Err(Error::Corrupt("histogram bucket out of range"));
                        }
                        h.record_n(value, count).map_err(|_| Error::Corrupt("histogram bucket out of range"))?;
                        seen = seen.checked_add(count).ok_or(Error::Corrupt("count overflow"))?;
                    }
                    *side = Some(Box::new(h));
                }
                _ => return Err(Error::Corrupt("bad histogram tag")),
            }
        }
        r.finish()?;
        let in_range = |v: i64| v.unsigned_abs() < MAX_SCALED;
        if seen != q.count
            || (q.count > 0 && (q.min > q.max || !in_range(q.min) || !in_range(q.max)))
            || q.raw.iter().any(|&v| v < q.min || v > q.max)
            || q.raw.len() > q.buffer_limit()
        {
            return Err(Error::Corrupt("inconsistent counts or bounds"));
        }
        if q.count == 0 {
            (q.min, q.max) = (i64::MAX, i64::MIN);
        }
        if q.implicit() {
            // One or two values without a histogram are kept as the
            // minimum and maximum, which must then be the values.
            let mut raw = std::mem::take(&mut q.raw);
            raw.sort_unstable();
            if raw[..] != q.pending()[..] {
                return Err(Error::Corrupt("inconsistent counts or bounds"));
            }
        }
        Ok(q)
    }
}

/// The nearest rank `ceil(q * n)` (1-based, clamped to `1..=n`) of the
/// `q`-quantile of `n > 0` values; a NaN `q` counts as 0.
///
/// `q * n` is a floating-point product, and most quantiles written in
/// decimal are not exact binary fractions: `0.999`, and `99.9 / 100` even
/// more so (`0.9990000000000001`). Where `q * n` is mathematically an
/// integer `k`, the product can land a few ulps above it, and a plain
/// `ceil` then answers rank `k + 1`, one value too high (p99.9 of 79,000
/// values, say). A product within 4 ulps of an integer is taken as that
/// integer; for quantiles with up to six decimal digits this can only
/// misjudge a product whose true fraction is below `n * 10^-15`, which
/// takes more than 10^9 values.
pub fn nearest_rank(q: f64, n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let q = if q.is_nan() { 0.0 } else { q.clamp(0.0, 1.0) };
    let x = q * n as f64;
    let k = x.round();
    let rank = if (x - k).abs() <= 4.0 * f64::EPSILON * x { k } else { x.ceil() };
    (rank as u64).clamp(1, n)
}

/// Powers of ten that fit an `i64`.
const POW10_I64: [i64; 19] = {
    let mut p = [1i64; 19];
    let mut i = 1;
    while i < 19 {
        p[i] = p[i - 1] * 10;
        i += 1;
    }
    p
};

/// `mantissa * 10^-frac_digits` on a scale of `10^digits`, rounded half away
/// from zero; `None` when the result is out of range. One multiplication or
/// division of `i64`s in the usual case (the hot path of every decimal
/// value), exact `i128` arithmetic otherwise.
#[inline]
fn scale_decimal(mantissa: i64, frac_digits: u8, digits: u8) -> Option<i64> {
    let fast = if frac_digits <= digits {
        POW10_I64.get(usize::from(digits - frac_digits)).and_then(|&f| mantissa.checked_mul(f))
    } else {
        POW10_I64.get(usize::from(frac_digits - digits)).map(|&div| {
            // |r| < div <= 10^18, so 2|r| fits.
            let (q, r) = (mantissa / div, (mantissa % div).abs());
            if 2 * r >= div { q + mantissa.signum() } else { q }
        })
    };
    match fast {
        Some(scaled) if scaled.unsigned_abs() < MAX_SCALED => Some(scaled),
        _ => scale_decimal_wide(mantissa, frac_digits, digits),
    }
}

/// [`scale_decimal`] in `i128`, for every case.
fn scale_decimal_wide(mantissa: i64, frac_digits: u8, digits: u8) -> Option<i64> {
    let m = i128::from(mantissa);
    let scaled = if frac_digits <= digits {
        let factor = 10i128.checked_pow(u32::from(digits - frac_digits))?;
        m.checked_mul(factor)?
    } else {
        let div = 10i128.checked_pow(u32::from(frac_digits - digits)).unwrap_or(i128::MAX);
        let (q, r) = (m / div, (m % div).abs());
        if 2 * r >= div { q + m.signum() } else { q }
    };
    (scaled.unsigned_abs() < u128::from(MAX_SCALED)).then_some(scaled as i64)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The i64 fast path of scaling a decimal agrees with exact i128
        /// arithmetic, overflow and rounding included.
        #[test]
        fn scale_decimal_matches_the_wide_reference(
            mantissa in prop_oneof![any::<i64>(), -10_000i64..10_000, -999_999_999_999_999_999i64..=999_999_999_999_999_999],
            frac in 0u8..=20,
            digits in 0u8..=20,
        ) {
            prop_assert_eq!(super::scale_decimal(mantissa, frac, digits), super::scale_decimal_wide(mantissa, frac, digits));
        }
    }

    proptest! {
        // Histograms of 4 significant digits are large to copy in a debug
        // build: fewer cases than above.
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// Walking raw values beside the histograms answers as recording
        /// them into copies of the histograms does, at every precision,
        /// for values of both signs, any raw limit and any quantiles.
        #[test]
        fn walked_quantiles_equal_recorded_ones(
            values in prop::collection::vec(prop_oneof![-300i64..300, -5_000_000i64..5_000_000, 0i64..70_000], 1..3000),
            sigfig in 1u8..=4,
            raw_limit in prop_oneof![Just(0u32), 1u32..64, Just(1024)],
            qs in prop::collection::vec(prop_oneof![0.0..=1.0f64, Just(0.0), Just(1.0), Just(0.99)], 1..6),
        ) {
            let config = QuantileConfig::new().sigfig(sigfig).unwrap().raw_limit(raw_limit);
            let mut s = Quantiles::new(config);
            for &v in &values {
                s.record_scaled(v).unwrap();
            }
            prop_assert_eq!(s.quantiles(&qs), recorded_quantiles(&s, &qs));
        }

        /// Sketches of one, two or a few values (kept implicitly in their
        /// minimum and maximum while they can be), merged in any grouping
        /// and passed through their byte form, answer as one sketch of all
        /// the values, at any raw limit.
        #[test]
        fn small_sketches_merge_as_one(
            values in prop::collection::vec(-2_000i64..2_000, 1..40),
            sizes in prop::collection::vec(1usize..4, 1..40),
            raw_limit in prop_oneof![Just(0u32), Just(1), Just(2), Just(3), Just(1024)],
            via_bytes in any::<bool>(),
        ) {
            let config = QuantileConfig::new().sigfig(2).unwrap().raw_limit(raw_limit);
            let mut whole = Quantiles::new(config);
            for &v in &values {
                whole.record_scaled(v).unwrap();
            }
            let mut parts = Vec::new();
            let mut rest = &values[..];
            for &n in sizes.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (part, later) = rest.split_at(n.min(rest.len()));
                rest = later;
                let mut s = Quantiles::new(config);
                for &v in part {
                    s.record_scaled(v).unwrap();
                }
                if via_bytes {
                    s = Quantiles::from_bytes(config, &s.to_bytes()).unwrap();
                }
                parts.push(s);
            }
            // Pairs first, then a left fold: merges of implicit with
            // implicit, implicit with buffered, and into histograms.
            let mut paired = Vec::new();
            for pair in parts.chunks(2) {
                let mut a = pair[0].clone();
                if let Some(b) = pair.get(1) {
                    a.merge(b).unwrap();
                }
                paired.push(a);
            }
            let mut merged = Quantiles::new(config);
            for p in &paired {
                merged.merge(p).unwrap();
            }
            let qs = [0.0, 0.25, 0.5, 0.9, 1.0];
            prop_assert_eq!(merged.quantiles(&qs), whole.quantiles(&qs));
            prop_assert_eq!((merged.count(), merged.min(), merged.max()), (whole.count(), whole.min(), whole.max()));
            let back = Quantiles::from_bytes(config, &merged.to_bytes()).unwrap();
            prop_assert_eq!(back.quantiles(&qs), whole.quantiles(&qs));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Recording through the fast path leaves every sketch as the full
        /// path (`record_other`, which decides every case and was
        /// `record_scaled` before the fast path) does, value after value:
        /// buffer, count, bounds and histograms, at every raw limit and
        /// with values out of range.
        #[test]
        fn recording_agrees_with_the_full_path(
            values in prop::collection::vec(
                prop_oneof![8 => -300i64..300, 1 => Just(1i64 << 62), 1 => Just(-(1i64 << 62)), 1 => Just(i64::MIN), 2 => -5_000_000i64..5_000_000],
                0..400,
            ),
            raw_limit in prop_oneof![Just(0u32), 1u32..6, Just(40)],
            sigfig in 1u8..=3,
        ) {
            let config = super::QuantileConfig::new().sigfig(sigfig).unwrap().raw_limit(raw_limit);
            let (mut fast, mut full) = (super::Quantiles::new(config), super::Quantiles::new(config));
            for &v in &values {
                prop_assert_eq!(fast.record_scaled(v).is_ok(), full.record_other(v).is_ok());
                prop_assert_eq!((fast.count, fast.min, fast.max), (full.count, full.min, full.max));
                prop_assert_eq!(&fast.raw, &full.raw);
                prop_assert_eq!((fast.pos.is_some(), fast.neg.is_some()), (full.pos.is_some(), full.neg.is_some()));
            }
            prop_assert_eq!(fast.to_bytes(), full.to_bytes());
        }
    }

    use super::*;

    fn exact(values: &mut [i64], q: f64) -> i64 {
        values.sort_unstable();
        let n = values.len() as u64;
        values[(((q * n as f64).ceil() as u64).clamp(1, n) - 1) as usize]
    }

    /// ceil(a * n / b) in integers: the nearest rank of the quantile a/b.
    fn rank_exact(a: u64, b: u64, n: u64) -> u64 {
        (a * n).div_ceil(b).clamp(1, n)
    }

    #[test]
    fn nearest_rank_is_exact_for_decimal_quantiles() {
        // Per-mille and per-ten-thousand quantiles, written as a fraction and
        // as a percentage divided by 100 (as `--quantiles p99.9` is parsed).
        for n in 1..=100_000u64 {
            for (a, b) in [(999, 1000), (9_995, 10_000), (99, 100), (9, 10), (1, 2), (1, 10), (3, 10), (1, 1000)] {
                let want = rank_exact(a, b, n);
                assert_eq!(nearest_rank(a as f64 / b as f64, n), want, "{a}/{b} of {n}");
                let percent = a as f64 * 100.0 / b as f64;
                assert_eq!(nearest_rank(percent / 100.0, n), want, "{percent}% of {n}");
            }
        }
        assert_eq!(nearest_rank(99.9 / 100.0, 79_000), 78_921, "the case that showed it: 0.9990000000000001");
        assert_eq!(nearest_rank(0.0, 5), 1);
        assert_eq!(nearest_rank(1.0, 5), 5);
        assert_eq!(nearest_rank(f64::NAN, 5), 1);
        assert_eq!(nearest_rank(0.5, 0), 0);
    }

    /// The reference for [`Quantiles::quantiles`]: record the raw values
    /// into copies of the histograms and walk them once per quantile.
    fn recorded_quantiles(s: &Quantiles, qs: &[f64]) -> Vec<Option<f64>> {
        let mut pos = s.pos.as_deref().cloned().unwrap_or_else(|| *s.new_histogram());
        let mut neg = s.neg.as_deref().cloned().unwrap_or_else(|| *s.new_histogram());
        for &v in s.pending().iter() {
            let h = if v < 0 { &mut neg } else { &mut pos };
            h.record(v.unsigned_abs()).unwrap();
        }
        let at = |h: &Histogram<u64>, rank: u64| {
            let mut seen = 0;
            for v in h.iter_recorded() {
                seen += v.count_at_value();
                if seen > rank {
                    return h.median_equivalent(v.value_iterated_to());
                }
            }
            h.median_equivalent(h.max())
        };
        let negatives = neg.len();
        qs.iter()
            .map(|&q| {
                let rank = nearest_rank(q, s.count) - 1;
                let scaled = if rank < negatives {
                    -(at(&neg, negatives - 1 - rank) as i64)
                } else {
                    at(&pos, rank - negatives) as i64
                };
                Some(scaled.clamp(s.min, s.max) as f64 / s.config.scale as f64)
            })
            .collect()
    }

    #[test]
    fn p99_9_of_a_percentage_is_the_value_at_its_rank() {
        // 79,000 values 0..79,000: p99.9 is the 78,921st, 78,920.
        let mut s = Quantiles::new(QuantileConfig::new().scale(1).unwrap().sigfig(5).unwrap());
        for v in 0..79_000 {
            s.record(f64::from(v)).unwrap();
        }
        assert_eq!(s.quantile(99.9 / 100.0), Some(78_920.0));
    }

    #[test]
    fn quantiles_are_within_the_stated_precision() {
        let config = QuantileConfig::new().scale(1).unwrap().raw_limit(10);
        let mut s = Quantiles::new(config);
        let mut values: Vec<i64> = (0..20_000i64).map(|i| (i * 7919 % 200_003) - 50_000).collect();
        for &v in &values {
            s.record_scaled(v).unwrap();
        }
        for q in [0.0, 0.01, 0.1, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0] {
            let want = exact(&mut values, q) as f64;
            let got = s.quantile(q).unwrap();
            assert!((got - want).abs() <= want.abs() * 1e-3 + 0.5, "q {q}: {got} vs {want}");
        }
        assert_eq!(s.quantile(0.0), s.min());
        assert_eq!(s.quantile(1.0), s.max());
    }

    #[test]
    fn small_values_are_exact_and_split_merges_do_not_show() {
        let config = QuantileConfig::new().raw_limit(5);
        let values: Vec<f64> = (0..1000).map(|i| f64::from((i * 37) % 401 - 200) / 100.0).collect();
        let mut whole = Quantiles::new(config);
        for &v in &values {
            whole.record(v).unwrap();
        }
        let qs = [0.0, 0.05, 0.5, 0.77, 0.9, 0.99, 1.0];
        for size in [1, 3, 6, 100, 999] {
            let mut merged = Quantiles::new(config);
            for part in values.chunks(size) {
                let mut s = Quantiles::new(config);
                for &v in part {
                    s.record(v).unwrap();
                }
                merged.merge(&s).unwrap();
            }
            assert_eq!(merged.quantiles(&qs), whole.quantiles(&qs), "parts of {size}");
            assert_eq!(merged.count(), 1000);
        }
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        for q in qs {
            let want = sorted[((q * 1000.0f64).ceil() as usize).clamp(1, 1000) - 1];
            assert_eq!(whole.quantile(q), Some(want), "q {q}");
        }
    }

    #[test]
    fn bytes_round_trip_and_corruption_is_an_error() {
        let config = QuantileConfig::new().scale(10).unwrap().raw_limit(8);
        let mut small = Quantiles::new(config);
        // More than the raw limit, but still no histogram: buffered raw.
        let mut buffered = Quantiles::new(config);
        let mut big = Quantiles::new(config);
        for i in 0..5000i64 {
            if i < 5 {
                small.record_scaled(i * 3 - 7).unwrap();
            }
            if i < 8 * 8 {
                buffered.record_scaled(i * 5 - 100).unwrap();
            }
            big.record_scaled((i * 7919 % 100_003) - 30_000).unwrap();
        }
        assert!(buffered.pos.is_none() && buffered.neg.is_none() && buffered.raw.len() == 64);
        let qs = [0.0, 0.01, 0.5, 0.9, 0.999, 1.0];
        for s in [&small, &buffered, &big, &Quantiles::new(config)] {
            let bytes = s.to_bytes();
            let back = Quantiles::from_bytes(config, &bytes).unwrap();
            assert_eq!(back.quantiles(&qs), s.quantiles(&qs));
            assert_eq!((back.count(), back.min(), back.max()), (s.count(), s.min(), s.max()));
            // Merging restored sketches answers as merging the originals.
            let mut a = back.clone();
            a.merge(&Quantiles::from_bytes(config, &small.to_bytes()).unwrap()).unwrap();
            let mut b = s.clone();
            b.merge(&small).unwrap();
            assert_eq!(a.quantiles(&qs), b.quantiles(&qs));
            for cut in 0..bytes.len() {
                assert!(Quantiles::from_bytes(config, &bytes[..cut]).is_err(), "cut at {cut}");
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(Quantiles::from_bytes(config, &longer).is_err());
        }
        let mut bad = small.to_bytes();
        bad[1] ^= 1; // the count no longer matches the values
        assert!(matches!(Quantiles::from_bytes(config, &bad), Err(Error::Corrupt(_))));
        assert!(Quantiles::from_bytes(config, &[9]).is_err());
        // One value kept as its minimum and maximum: a byte form whose raw
        // value is not those bounds is inconsistent.
        let mut one = Quantiles::new(config);
        one.record_scaled(40).unwrap();
        let mut bytes = one.to_bytes();
        assert_eq!(bytes[1 + 24 + 4], 40);
        bytes[1 + 24 + 4] = 39;
        assert!(matches!(Quantiles::from_bytes(config, &bytes), Err(Error::Corrupt(_))));
        // Counts that add up on their own but overflow a merge.
        let spill = QuantileConfig::new().raw_limit(0);
        let mut five = Quantiles::new(spill);
        for _ in 0..3 {
            five.record_scaled(5).unwrap();
        }
        let mut bytes = five.to_bytes();
        let half = (1u64 << 63).to_le_bytes();
        bytes[1..9].copy_from_slice(&half);
        let n = bytes.len();
        bytes[n - 9..n - 1].copy_from_slice(&half); // the one bucket's count, before the empty negative side
        let big = Quantiles::from_bytes(spill, &bytes).unwrap();
        assert_eq!(big.count(), 1 << 63);
        assert_eq!(big.clone().merge(&big), Err(Error::Corrupt("value counts overflow when merged")));
    }

    #[test]
    fn decimals_record_exactly_and_bad_values_are_refused() {
        let config = QuantileConfig::new().scale(1000).unwrap();
        let mut s = Quantiles::new(config);
        s.record_decimal(-12345, 4).unwrap(); // -1.2345 -> -1235 (half away from zero)
        s.record_decimal(7, 0).unwrap();
        assert_eq!(s.min(), Some(-1.235));
        assert_eq!(s.max(), Some(7.0));
        assert_eq!(s.record(f64::NAN), Err(Error::NotFinite));
        assert!(matches!(s.record(1e300), Err(Error::OutOfRange(_))));
        assert!(matches!(s.record_decimal(i64::MAX, 0), Err(Error::OutOfRange(_))));
        assert_eq!(s.count(), 2);
        let other = Quantiles::new(QuantileConfig::new());
        assert_eq!(s.merge(&other), Err(Error::ConfigMismatch));
        assert_eq!(Quantiles::new(config).quantile(0.5), None);
        assert!(QuantileConfig::new().sigfig(0).is_err());
        assert!(QuantileConfig::new().scale(0).is_err());
    }
}
