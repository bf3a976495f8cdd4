//! Per-(key, value column) accumulators: counts, exact decimal sums where
//! possible, float moments otherwise, min/max, first/last.

use crate::number::Num;

/// An exact sum of decimals: `sum` counts units of `10^-scale`, `sumsq`
/// units of `10^-2 scale`.
#[derive(Clone, Copy, Debug, Default)]
struct Exact {
    n: u64,
    scale: u8,
    sum: i128,
    sumsq: i128,
}

/// `10^n` for `n` up to 18, the powers that fit an `i64`.
const POW10_I64: [i64; 19] = {
    let mut p = [1i64; 19];
    let mut i = 1;
    while i < 19 {
        p[i] = p[i - 1] * 10;
        i += 1;
    }
    p
};

fn pow10(n: u8) -> i128 {
    10i128.pow(u32::from(n))
}

impl Exact {
    /// The same values at a finer scale, or `None` on overflow.
    fn rescaled(&self, to: u8) -> Option<Exact> {
        if to == self.scale || self.n == 0 {
            return Some(Exact { scale: to, ..*self });
        }
        let up = pow10(to - self.scale);
        Some(Exact {
            n: self.n,
            scale: to,
            sum: self.sum.checked_mul(up)?,
            sumsq: self.sumsq.checked_mul(up.checked_mul(up)?)?,
        })
    }

    /// Add `m * 10^-frac`; false (and unchanged) on overflow.
    ///
    /// Most values have no more decimals than those before them and scale
    /// within an `i64`: they are added here, inlined into the record loop,
    /// with a widening square and two overflow checks. The rest (a rescale,
    /// a 128-bit power) take [`add_full`](Exact::add_full), kept out of line
    /// so that its registers are not saved around every value.
    #[inline(always)]
    fn add(&mut self, m: i64, frac: u8) -> bool {
        if let Some(shift) = self.scale.checked_sub(frac) {
            let v =
                if shift == 0 { Some(m) } else { POW10_I64.get(usize::from(shift)).and_then(|&p| m.checked_mul(p)) };
            if let Some(v) = v {
                let v = i128::from(v);
                // The square of an i64 always fits an i128.
                return self.accept(v, v * v);
            }
        }
        self.add_full(m, frac)
    }

    /// [`add`](Exact::add) in every case: the reference its fast path
    /// agrees with.
    #[cold]
    #[inline(never)]
    fn add_full(&mut self, m: i64, frac: u8) -> bool {
        if frac > self.scale {
            match self.rescaled(frac) {
                Some(e) => *self = e,
                None => return false,
            }
        }
        // Most values scale within an i64 (a table look-up, no 128-bit
        // power), and the square of an i64 always fits an i128 (one
        // widening multiply, no overflow check).
        let (v, sq) = match POW10_I64.get(usize::from(self.scale - frac)).and_then(|&p| m.checked_mul(p)) {
            Some(v) => (i128::from(v), Some(i128::from(v) * i128::from(v))),
            None => {
                let v = i128::from(m) * pow10(self.scale - frac);
                (v, v.checked_mul(v))
            }
        };
        match sq {
            Some(sq) => self.accept(v, sq),
            None => false,
        }
    }

    /// Count a value of `v` units whose square is `sq` units; false (and
    /// unchanged) when a sum would overflow.
    #[inline(always)]
    fn accept(&mut self, v: i128, sq: i128) -> bool {
        match (self.sum.checked_add(v), self.sumsq.checked_add(sq)) {
            (Some(sum), Some(sumsq)) => {
                self.sum = sum;
                self.sumsq = sumsq;
                self.n += 1;
                true
            }
            _ => false,
        }
    }

    /// Both parts at one scale, or `None` on overflow.
    fn combined(&self, other: &Exact) -> Option<Exact> {
        let to = self.scale.max(other.scale);
        let (a, b) = (self.rescaled(to)?, other.rescaled(to)?);
        Some(Exact { n: a.n + b.n, scale: to, sum: a.sum.checked_add(b.sum)?, sumsq: a.sumsq.checked_add(b.sumsq)? })
    }

    /// The sum, correctly rounded.
    fn total(&self) -> f64 {
        decimal_to_f64(self.sum, self.scale)
    }

    /// The moments (n, mean, M2, sum), each computed from the exact integers
    /// and rounded at the end: `M2 = sumsq - sum^2/n` is evaluated as
    /// `sumsq - q^2 n - 2 q r - r^2/n` with `sum = q n + r`, so no
    /// cancellation happens in floating point.
    fn moments(&self) -> Moments {
        if self.n == 0 {
            return Moments::default();
        }
        let n = i128::from(self.n);
        // A 128-bit division is a library call some ten times slower than
        // a 64-bit one, and most sums fit 64 bits (a million keys finished:
        // a fifth of their statistics' time).
        // Truncating division: |q| <= |sum| / n, so q^2 n <= sum^2 / n <=
        // sumsq and nothing below overflows when `sumsq` fits (flooring made
        // |q| larger for negative sums, and near the 128-bit limit the
        // product overflowed into the cancelling float formula: variance 0).
        let (q, r) = match (i64::try_from(self.sum), i64::try_from(self.n)) {
            (Ok(sum), Ok(count)) => (i128::from(sum / count), i128::from(sum % count)),
            _ => (self.sum / n, self.sum % n),
        };
        let unit = pow10(self.scale) as f64;
        // One value is its own mean, to the last bit.
        let mean = if self.n == 1 { self.total() } else { (q as f64 + r as f64 / n as f64) / unit };
        let m2 = q
            .checked_mul(q)
            .and_then(|qq| qq.checked_mul(n))
            .and_then(|qqn| self.sumsq.checked_sub(qqn))
            .and_then(|x| q.checked_mul(2 * r).and_then(|qr2| x.checked_sub(qr2)))
            .map(|int| (int as f64 - (r * r) as f64 / n as f64) / (unit * unit))
            .unwrap_or_else(|| {
                let (s, ss) = (self.sum as f64 / unit, self.sumsq as f64 / (unit * unit));
                ss - s * s / self.n as f64
            });
        Moments { n: self.n, mean, m2: m2.max(0.0), sum: self.total() }
    }
}

/// `units * 10^-scale`, correctly rounded: one division where both operands
/// are exact floats (|units| < 2^53, scale at most 22), else the decimal's
/// text parsed (which rounds correctly; `units as f64 / 10^scale` rounded
/// twice, and a single 17-digit value summed to another float than its own).
fn decimal_to_f64(units: i128, scale: u8) -> f64 {
    if units.unsigned_abs() < 1 << 53 && scale <= 22 {
        return units as f64 / pow10(scale) as f64;
    }
    format!("{units}e-{scale}").parse().unwrap_or(f64::NAN)
}

/// Welford moments of floats, merged with Chan's formula, and their plain
/// sum: `mean * n` is no sum (values that are all multiples of 0.25, whose
/// sums are exact floats, summed to -223511.75000000047).
#[derive(Clone, Copy, Debug, Default)]
struct Moments {
    n: u64,
    mean: f64,
    m2: f64,
    sum: f64,
}

impl Moments {
    #[inline]
    fn add(&mut self, x: f64) {
        self.n += 1;
        self.sum += x;
        let mut d = x - self.mean;
        if d.is_infinite() {
            // `x` and the mean lie further apart than the largest float
            // (values near +-1.8e308): step the mean by halves, which stay
            // finite, so it does not become infinite (M2, which does
            // exceed the float range, goes to +inf below).
            d = (x * 0.5 - self.mean * 0.5) / self.n as f64;
            self.mean += d;
            self.mean += d;
            self.m2 = f64::INFINITY;
            return;
        }
        self.mean += d / self.n as f64;
        self.m2 += d * (x - self.mean);
    }

    fn merge(&mut self, other: Moments) {
        let Moments { n, mean, m2, sum } = other;
        if n == 0 {
            return;
        }
        if self.n == 0 {
            *self = other;
            return;
        }
        self.sum += sum;
        let total = self.n + n;
        let d = mean - self.mean;
        if d.is_infinite() {
            // Means further apart than the largest float (see `add`).
            let half = (mean * 0.5 - self.mean * 0.5) * (n as f64 / total as f64);
            self.mean += half;
            self.mean += half;
            self.m2 = f64::INFINITY;
        } else {
            self.mean += d * n as f64 / total as f64;
            self.m2 += m2 + d * d * self.n as f64 * n as f64 / total as f64;
        }
        self.n = total;
    }
}

/// The statistics of one value column within one key.
///
/// Decimals of up to 18 digits are summed exactly ([`Exact`], rescaled upward
/// when a value with more decimals arrives), so sum, mean and variance do not
/// depend on how the input was cut. Other floats, and exact sums that would
/// overflow 128 bits, go to Welford moments merged with Chan's formula.
#[derive(Clone, Debug)]
pub(crate) struct ValueAcc {
    pub(crate) missing: u64,
    exact: Exact,
    float: Moments,
    /// The least and greatest value as [`order_key`]s: integers compare
    /// with a conditional move, where `f64::total_cmp` reworked both floats
    /// for every value.
    min: i64,
    max: i64,
    first: f64,
    last: f64,
}

impl Default for ValueAcc {
    fn default() -> ValueAcc {
        ValueAcc {
            missing: 0,
            exact: Exact::default(),
            float: Moments::default(),
            min: order_key(f64::INFINITY),
            max: order_key(f64::NEG_INFINITY),
            first: f64::NAN,
            last: f64::NAN,
        }
    }
}

/// The finished statistics of a value column (`None` without values; the
/// variance also without two values).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Stats {
    pub(crate) sum: Option<f64>,
    pub(crate) min: Option<f64>,
    pub(crate) max: Option<f64>,
    pub(crate) mean: Option<f64>,
    pub(crate) var: Option<f64>,
    pub(crate) first: Option<f64>,
    pub(crate) last: Option<f64>,
}

impl ValueAcc {
    /// The number of values (not missing): those summed exactly and those
    /// in float moments. Not stored: it is the two parts' counts, and a
    /// stored copy would only have to be kept in step with them.
    #[inline]
    pub(crate) fn count(&self) -> u64 {
        self.exact.n + self.float.n
    }

    /// Add a non-missing value: `num` as parsed, `value` its float.
    /// Always inlined: a call passed `num` through memory and saved
    /// registers around every value.
    #[inline(always)]
    pub(crate) fn add(&mut self, num: Num, value: f64) {
        if self.count() == 0 {
            self.first = value;
        }
        self.last = value;
        let key = order_key(value);
        self.min = self.min.min(key);
        self.max = self.max.max(key);
        match num {
            Num::Dec(m, frac) => {
                let frac = frac as u8;
                if !self.exact.add(m, frac) {
                    self.overflow(m, frac);
                }
            }
            _ => self.float.add(value),
        }
    }

    /// Add `m * 10^-frac` whose exact sum overflowed: the exact part so far
    /// becomes float moments.
    #[cold]
    #[inline(never)]
    fn overflow(&mut self, m: i64, frac: u8) {
        self.float.merge(self.exact.moments());
        self.exact = Exact { scale: frac, ..Exact::default() };
        let fresh = self.exact.add(m, frac);
        debug_assert!(fresh, "one 18-digit decimal always fits");
    }

    /// Merge the accumulator of later records.
    pub(crate) fn merge(&mut self, later: &ValueAcc) {
        if later.count() > 0 {
            if self.count() == 0 {
                self.first = later.first;
            }
            self.last = later.last;
        }
        self.missing += later.missing;
        self.min = self.min.min(later.min);
        self.max = self.max.max(later.max);
        self.float.merge(later.float);
        match self.exact.combined(&later.exact) {
            Some(e) => self.exact = e,
            None => {
                self.float.merge(self.exact.moments());
                self.float.merge(later.exact.moments());
                self.exact = Exact::default();
            }
        }
    }

    pub(crate) fn finish(&self) -> Stats {
        if self.count() == 0 {
            return Stats::default();
        }
        let all = if self.float.n == 0 {
            self.exact.moments()
        } else {
            let mut all = self.float;
            all.merge(self.exact.moments());
            all
        };
        let (mean, m2, n) = (all.mean, all.m2, all.n);
        Stats {
            sum: Some(all.sum),
            min: Some(from_order_key(self.min)),
            max: Some(from_order_key(self.max)),
            mean: Some(mean),
            var: (n > 1).then(|| m2 / (n - 1) as f64),
            first: Some(self.first),
            last: Some(self.last),
        }
    }
}

/// Bytes in [`ValueAcc::to_bytes`] (version 2; version 1, without the
/// float sum, had 114).
pub(crate) const ACC_BYTES: usize = 122;

impl ValueAcc {
    /// The accumulator as bytes, for partial results: a version byte (2),
    /// then little-endian `count`, `missing` (u64), the exact decimal part
    /// (`n` u64, `scale` u8, `sum` and `sumsq` i128, in units of
    /// `10^-scale` and `10^-2 scale`), the float moments (`n` u64, `mean`
    /// and `M2` f64), `min`, `max`, `first`, `last` (f64), and the float
    /// moments' `sum` (f64).
    pub(crate) fn to_bytes(&self, out: &mut Vec<u8>) {
        out.push(2);
        for v in [self.count(), self.missing, self.exact.n] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.push(self.exact.scale);
        out.extend_from_slice(&self.exact.sum.to_le_bytes());
        out.extend_from_slice(&self.exact.sumsq.to_le_bytes());
        out.extend_from_slice(&self.float.n.to_le_bytes());
        let (min, max) = (from_order_key(self.min), from_order_key(self.max));
        for v in [self.float.mean, self.float.m2, min, max, self.first, self.last, self.float.sum] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// The accumulator saved by [`to_bytes`](ValueAcc::to_bytes), or what
    /// is wrong with the bytes.
    pub(crate) fn from_bytes(b: &[u8]) -> Result<ValueAcc, &'static str> {
        // Version 1 (partials of earlier releases) had no float sum.
        match (b.first(), b.len()) {
            (Some(1), 114) | (Some(2), ACC_BYTES) => {}
            _ => return Err("value state of the wrong size or version"),
        }
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let i128_at = |i: usize| i128::from_le_bytes(b[i..i + 16].try_into().expect("16 bytes"));
        let f64_at = |i: usize| f64::from_bits(u64_at(i));
        let acc = ValueAcc {
            missing: u64_at(9),
            exact: Exact { n: u64_at(17), scale: b[25], sum: i128_at(26), sumsq: i128_at(42) },
            float: Moments {
                n: u64_at(58),
                mean: f64_at(66),
                m2: f64_at(74),
                sum: if b[0] == 1 { f64_at(66) * u64_at(58) as f64 } else { f64_at(114) },
            },
            min: order_key(f64_at(82)),
            max: order_key(f64_at(90)),
            first: f64_at(98),
            last: f64_at(106),
        };
        if acc.exact.n.checked_add(acc.float.n) != Some(u64_at(1)) || acc.exact.scale > 38 {
            return Err("value state with inconsistent counts");
        }
        // Values are never NaN (NaN is missing): nor are their bounds.
        if f64_at(82).is_nan() || f64_at(90).is_nan() {
            return Err("value state with a NaN minimum or maximum");
        }
        Ok(acc)
    }
}

/// A float as an integer in the order of `f64::total_cmp`: -0.0 below 0.0,
/// as polars and DuckDB order them (`f64::min` may return either zero).
/// The sign bit stays and, for negative floats, the other bits flip, so
/// [`from_order_key`] is the same map.
#[inline(always)]
fn order_key(x: f64) -> i64 {
    let bits = x.to_bits() as i64;
    bits ^ (((bits >> 63) as u64) >> 1) as i64
}

/// The float of an [`order_key`].
#[inline]
fn from_order_key(key: i64) -> f64 {
    f64::from_bits((key ^ (((key >> 63) as u64) >> 1) as i64) as u64)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::number::parse_number;

    /// The least of two values as it was taken before bounds were kept as
    /// order keys: the reference for [`order_key`].
    fn signed_min(a: f64, b: f64) -> f64 {
        if b.total_cmp(&a).is_lt() { b } else { a }
    }

    /// The greatest of two values, as [`signed_min`].
    fn signed_max(a: f64, b: f64) -> f64 {
        if b.total_cmp(&a).is_gt() { b } else { a }
    }

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>().prop_filter("values are never NaN", |x| !x.is_nan()),
            -1e3..1e3f64,
            Just(0.0),
            Just(-0.0),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(f64::MIN_POSITIVE),
            Just(-f64::MIN_POSITIVE),
        ]
    }

    fn decimal() -> impl Strategy<Value = (i64, u8)> {
        (
            prop_oneof![
                -10_000i64..10_000,
                -999_999_999_999_999_999i64..=999_999_999_999_999_999,
                Just(999_999_999_999_999_999),
                Just(-999_999_999_999_999_999),
            ],
            prop_oneof![4 => Just(0u8), 2 => 0u8..=3, 1 => 0u8..=18],
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Bounds kept as order keys are the bounds `total_cmp` gave, bit
        /// for bit (zeros' signs, infinities, subnormals).
        #[test]
        fn order_keys_keep_the_signed_bounds(a in value(), b in value()) {
            prop_assert_eq!(from_order_key(order_key(a)).to_bits(), a.to_bits());
            prop_assert_eq!(from_order_key(order_key(a).min(order_key(b))).to_bits(), signed_min(a, b).to_bits());
            prop_assert_eq!(from_order_key(order_key(a).max(order_key(b))).to_bits(), signed_max(a, b).to_bits());
        }

        /// An accumulator's bounds are the values' signed bounds, also when
        /// merged and read back from bytes.
        #[test]
        fn bounds_are_the_signed_bounds(values in prop::collection::vec(value(), 1..40), cut in 0usize..40) {
            let (mut whole, mut left, mut right) = (ValueAcc::default(), ValueAcc::default(), ValueAcc::default());
            for (i, &x) in values.iter().enumerate() {
                whole.add(Num::Float(x), x);
                if i < cut { left.add(Num::Float(x), x) } else { right.add(Num::Float(x), x) }
            }
            let min = values.iter().copied().reduce(signed_min).unwrap();
            let max = values.iter().copied().reduce(signed_max).unwrap();
            left.merge(&right);
            let mut bytes = Vec::new();
            left.to_bytes(&mut bytes);
            let back = ValueAcc::from_bytes(&bytes).unwrap();
            for s in [whole.finish(), left.finish(), back.finish()] {
                prop_assert_eq!(s.min.map(f64::to_bits), Some(min.to_bits()));
                prop_assert_eq!(s.max.map(f64::to_bits), Some(max.to_bits()));
            }
        }

        /// The inlined path of [`Exact::add`] leaves the sums as
        /// [`Exact::add_full`] does, value after value: rescales, 128-bit
        /// powers and overflows included.
        #[test]
        fn exact_add_agrees_with_the_full_path(values in prop::collection::vec(decimal(), 1..60)) {
            let (mut fast, mut full) = (Exact::default(), Exact::default());
            for &(m, frac) in &values {
                prop_assert_eq!(fast.add(m, frac), full.add_full(m, frac));
                prop_assert_eq!((fast.n, fast.scale, fast.sum, fast.sumsq), (full.n, full.scale, full.sum, full.sumsq));
            }
        }
    }

    /// Every key holds one accumulator per value column: its size is the
    /// per-key memory of a million-key table.
    #[test]
    fn an_accumulator_is_128_bytes() {
        // 112 before the float sum; 120 bytes of fields, 16-byte aligned
        // for the i128 sums.
        assert_eq!(std::mem::size_of::<ValueAcc>(), 128);
    }

    #[test]
    fn variance_of_negative_decimals_near_the_128_bit_limit() {
        // Squares near 10^36 each, 171 of them: the sum of squares just fits.
        let mut values = vec!["-997485679624211760"; 170];
        values.push("-997485679624211761");
        let var = acc(&values).finish().var.unwrap();
        let want = 1.0 / 171.0; // (170 * (1/171)^2 + (170/171)^2) / 170
        assert!((var - want).abs() < 1e-15, "{var}");
        let positive: Vec<String> = values.iter().map(|v| v[1..].to_string()).collect();
        let positive: Vec<&str> = positive.iter().map(String::as_str).collect();
        assert_eq!(acc(&positive).finish().var, Some(var));
    }

    #[test]
    fn float_sums_are_sums_not_means_times_counts() {
        // Multiples of 0.25 (exponents send them to the float path): every
        // partial sum is an exact float, and so is the total.
        let values: Vec<String> = (0..1000).map(|i| format!("{}e0", f64::from(i * 37 % 1001) * 0.25 - 130.5)).collect();
        let want: f64 = values.iter().map(|v| v.parse::<f64>().unwrap()).sum();
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        assert_eq!(acc(&refs).finish().sum, Some(want));
        // Split anywhere and merged: the same sum.
        for cut in [1, 333, 999] {
            let mut left = acc(&refs[..cut]);
            left.merge(&acc(&refs[cut..]));
            assert_eq!(left.finish().sum, Some(want), "{cut}");
        }
        // Version 1 partial state (no float sum) still reads, as mean * n.
        let mut bytes = Vec::new();
        acc(&refs).to_bytes(&mut bytes);
        let mut v1 = bytes[..114].to_vec();
        v1[0] = 1;
        let old = ValueAcc::from_bytes(&v1).unwrap();
        assert!((old.finish().sum.unwrap() - want).abs() < 1e-6);
        assert!(ValueAcc::from_bytes(&bytes[..114]).is_err(), "version 2 needs its sum");
    }

    fn acc(values: &[&str]) -> ValueAcc {
        let mut a = ValueAcc::default();
        for v in values {
            let n = parse_number(v.as_bytes());
            a.add(n, n.to_f64());
        }
        a
    }

    #[test]
    fn bytes_round_trip() {
        for a in [acc(&["1.5", "-2.25", "1e3", "7"]), acc(&[]), acc(&["999999999999999999"; 300])] {
            let mut bytes = Vec::new();
            a.to_bytes(&mut bytes);
            assert_eq!(bytes.len(), ACC_BYTES);
            let back = ValueAcc::from_bytes(&bytes).unwrap();
            assert_eq!(back.finish(), a.finish());
            let mut merged = back.clone();
            merged.merge(&acc(&["3.125"]));
            let mut want = a.clone();
            want.merge(&acc(&["3.125"]));
            assert_eq!(merged.finish(), want.finish());
            assert!(ValueAcc::from_bytes(&bytes[1..]).is_err());
            bytes[1] ^= 1;
            assert!(ValueAcc::from_bytes(&bytes).is_err());
        }
    }

    #[test]
    fn exact_sums_do_not_depend_on_the_split() {
        let values: Vec<String> =
            (0..2000i64).map(|i| format!("{}.{:0w$}", i % 97 - 40, i % 13, w = 1 + (i % 3) as usize)).collect();
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let whole = acc(&refs).finish();
        for size in [1, 7, 500] {
            let mut merged = ValueAcc::default();
            for part in refs.chunks(size) {
                merged.merge(&acc(part));
            }
            assert_eq!(merged.finish(), whole, "parts of {size}");
        }
        let floats: Vec<f64> = refs.iter().map(|v| v.parse().unwrap()).collect();
        let n = floats.len() as f64;
        let mean = floats.iter().sum::<f64>() / n;
        let var = floats.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        assert!((whole.mean.unwrap() - mean).abs() < 1e-9);
        assert!((whole.var.unwrap() - var).abs() < 1e-9 * var);
        assert_eq!(whole.first, Some(-40.0));
    }

    /// Sums of decimals are correctly rounded: a single value of 17 or 18
    /// digits sums (and averages) to the float its text parses to.
    #[test]
    fn decimal_sums_are_correctly_rounded() {
        for v in ["43591.010316006538", "5372001.0519674357", "2952800305598394.42", "-0.1", "123456789012345678"] {
            let s = acc(&[v]).finish();
            let x: f64 = v.parse().unwrap();
            assert_eq!((s.sum, s.mean), (Some(x), Some(x)), "{v}");
        }
        // 0.1 + 0.2 summed exactly is 0.3, not 0.30000000000000004.
        assert_eq!(acc(&["0.1", "0.2"]).finish().sum, Some(0.3));
        assert_eq!(decimal_to_f64(-7399999999999997740, 2), -73999999999999977.40);
    }

    /// Values near the ends of the float range: their differences overflow,
    /// the mean must not (polars and DuckDB give sum and mean 0 here), and
    /// the variance is +inf, never negative or NaN.
    #[test]
    fn moments_of_values_near_the_float_range_ends_stay_finite_where_they_can() {
        let check = |s: Stats, mean: f64| {
            assert!((s.mean.unwrap() - mean).abs() <= mean.abs() * 1e-15, "{s:?}");
            assert_eq!(s.var, Some(f64::INFINITY), "{s:?}");
        };
        check(acc(&["1e308", "-1e308"]).finish(), 0.0);
        assert_eq!(acc(&["1e308", "-1e308"]).finish().sum, Some(0.0));
        check(acc(&["1.7e308", "1.7e308", "-1.7e308"]).finish(), 1.7e308 / 3.0);
        let mut merged = acc(&["1.5e308"]);
        merged.merge(&acc(&["-1.5e308", "-1.5e308"]));
        check(merged.finish(), -0.5e308);
    }

    #[test]
    fn floats_overflow_and_mixed_inputs_still_add_up() {
        let a = acc(&["1e2", "0.5", "-3", "123456789012345678", "999999999999999999", "2.5e-1"]);
        let s = a.finish();
        let xs = [100.0, 0.5, -3.0, 123456789012345678.0, 999999999999999999.0, 0.25];
        let sum: f64 = xs.iter().sum();
        assert!((s.sum.unwrap() - sum).abs() <= sum.abs() * 1e-12);
        let mean = sum / 6.0;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 5.0;
        assert!((s.var.unwrap() - var).abs() <= var * 1e-9, "{:?} vs {var}", s.var);
        assert_eq!((s.min, s.max, s.last), (Some(-3.0), Some(999999999999999999.0), Some(0.25)));
        // Many 18-digit values overflow the exact squares and spill to floats.
        let big: Vec<&str> = vec!["-999999999999999.999"; 500];
        let b = acc(&big).finish();
        assert!((b.mean.unwrap() + 999999999999999.999).abs() < 1.0);
        assert!(b.var.unwrap().abs() < 1e3, "{:?}", b.var);
        assert_eq!(ValueAcc::default().finish(), Stats::default());
        assert_eq!(acc(&["4"]).finish().var, None);
    }
}
