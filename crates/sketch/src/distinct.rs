use datasketches::hll::{Coupon, HllSketch, HllType, HllUnion};

use crate::bytes::{Reader, VERSION, put_u32, put_u64};
use crate::error::Error;
use crate::hash::hash_bytes;

/// Settings of a [`Distinct`] count: how many values stay exact, and the
/// size of the HyperLogLog beyond that.
///
/// The HyperLogLog has `2^lg_k` one-byte registers; its relative standard
/// error is about `1.04 / sqrt(2^lg_k)`: 3.3 % at `lg_k` 10, 1.6 % at 12 (the
/// default, 4 KiB), 0.81 % at 14, 0.41 % at 16. About 95 % of estimates fall
/// within two standard errors.
///
/// The exact limit is at least `2^lg_k / 4`, so that a sketch is always in
/// the HyperLogLog's dense mode from its first value: dense registers merge
/// by maximum, which is what makes the estimate independent of how values
/// were split and merged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DistinctConfig {
    exact_limit: usize,
    lg_k: u8,
}

impl Default for DistinctConfig {
    fn default() -> DistinctConfig {
        DistinctConfig::new()
    }
}

impl DistinctConfig {
    /// Exact up to 1024 distinct values, then a HyperLogLog with `lg_k` 12.
    pub fn new() -> DistinctConfig {
        DistinctConfig { exact_limit: 1024, lg_k: 12 }
    }

    /// Log2 of the number of HyperLogLog registers, 4 to 21. Raises the
    /// exact limit to its minimum (`2^lg_k / 4`) where needed.
    pub fn lg_k(mut self, lg_k: u8) -> Result<DistinctConfig, Error> {
        if !(4..=21).contains(&lg_k) {
            return Err(Error::LgK(lg_k));
        }
        self.lg_k = lg_k;
        self.exact_limit = self.exact_limit.max(Self::min_exact(lg_k));
        Ok(self)
    }

    /// Count exactly up to `limit` distinct values (8 bytes each); at least
    /// `2^lg_k / 4`.
    pub fn exact_limit(mut self, limit: usize) -> Result<DistinctConfig, Error> {
        let min = Self::min_exact(self.lg_k);
        if limit < min {
            return Err(Error::ExactLimit { limit, min });
        }
        self.exact_limit = limit;
        Ok(self)
    }

    fn min_exact(lg_k: u8) -> usize {
        (1usize << lg_k) / 4
    }

    /// The exact limit.
    pub fn get_exact_limit(&self) -> usize {
        self.exact_limit
    }

    /// The HyperLogLog's `lg_k`.
    pub fn get_lg_k(&self) -> u8 {
        self.lg_k
    }

    /// The HyperLogLog's relative standard error, `1.04 / sqrt(2^lg_k)`.
    pub fn relative_standard_error(&self) -> f64 {
        1.04 / f64::from(1u32 << self.lg_k).sqrt()
    }
}

/// A mergeable distinct count: exact below a limit, HyperLogLog above it.
///
/// Values are 64-bit hashes ([`insert`](Distinct::insert) hashes bytes with
/// [`hash_bytes`]; [`insert_hash`](Distinct::insert_hash) takes your own).
/// While at most [`DistinctConfig::exact_limit`] distinct hashes were seen,
/// the count is exact (up to hash collisions, about `n^2 / 2^65`). Past it,
/// the hashes move into an Apache DataSketches HyperLogLog and the count is
/// its composite estimate, which does not depend on insertion order.
#[derive(Clone, Debug)]
pub struct Distinct {
    config: DistinctConfig,
    /// Sorted, deduplicated hashes.
    exact: Vec<u64>,
    /// Hashes not yet sorted into `exact`.
    pending: Vec<u64>,
    /// The top byte of each of the first [`TAGGED`] hashes of `exact`,
    /// eight to a word, lane `i` for `exact[i]` (zero past its end); set
    /// again whenever `exact` changes (see [`Distinct::contains_tagged`]).
    tags: [u64; 2],
    sketch: Option<Box<HllSketch>>,
}

/// Sorted sets up to this size are searched before a hash is buffered.
const SEARCHED: usize = 64;

/// Sorted sets up to this size are looked up by their tags.
const TAGGED: usize = 16;

impl Distinct {
    /// An empty count.
    pub fn new(config: DistinctConfig) -> Distinct {
        Distinct { config, exact: Vec::new(), pending: Vec::new(), tags: [0; 2], sketch: None }
    }

    /// The settings.
    pub fn config(&self) -> &DistinctConfig {
        &self.config
    }

    /// Add a value by its bytes.
    #[inline]
    pub fn insert(&mut self, bytes: &[u8]) {
        self.insert_hash(hash_bytes(bytes));
    }

    /// Add a value by a 64-bit hash of it (of good quality: the exact set
    /// takes equal hashes for equal values).
    #[inline]
    pub fn insert_hash(&mut self, hash: u64) {
        match &mut self.sketch {
            Some(s) => s.update_with_coupon(Coupon::from_value(hash)),
            None => {
                // A value already in a small sorted set is dropped after a
                // few compares: a column of a dozen values repeated over
                // millions of records then never sorts a batch again.
                if self.contains_exact(hash) {
                    return;
                }
                self.pending.push(hash);
                if self.pending.len() >= self.exact.len().max(64) {
                    self.compact();
                }
            }
        }
    }

    /// Whether a small exact set (up to [`SEARCHED`] hashes) holds `hash`:
    /// by its tags up to [`TAGGED`] hashes, else by a binary search.
    #[inline(always)]
    fn contains_exact(&self, hash: u64) -> bool {
        let n = self.exact.len();
        if n <= TAGGED { self.contains_tagged(hash) } else { n <= SEARCHED && self.exact.binary_search(&hash).is_ok() }
    }

    /// Whether a set of up to [`TAGGED`] hashes holds `hash`. The lanes of
    /// `tags` that hold `hash`'s top byte are found eight at a time (a
    /// zero-byte test of the tags xor that byte: every equal lane is
    /// flagged, and a few others may be, above one), and each flagged lane
    /// is checked against its hash, which a lane past the end fails. About
    /// 25 instructions where the binary search of 14 hashes took 45; a
    /// value is flagged at another lane than its own once in 20 lookups.
    #[inline(always)]
    fn contains_tagged(&self, hash: u64) -> bool {
        const LOW: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        let byte = (hash >> 56) * LOW;
        let flagged = |word: u64| {
            let x = word ^ byte;
            x.wrapping_sub(LOW) & !x & HIGH
        };
        for (half, &word) in self.tags.iter().enumerate() {
            let mut lanes = flagged(word);
            while lanes != 0 {
                let i = 8 * half + lanes.trailing_zeros() as usize / 8;
                if self.exact.get(i) == Some(&hash) {
                    return true;
                }
                lanes &= lanes - 1;
            }
        }
        false
    }

    /// Set `tags` from `exact`.
    fn retag(&mut self) {
        self.tags = [0; 2];
        for (i, &h) in self.exact.iter().take(TAGGED).enumerate() {
            self.tags[i / 8] |= (h >> 56) << (8 * (i % 8));
        }
    }

    /// Sort pending hashes into the exact set; hand over to the HyperLogLog
    /// past the limit.
    fn compact(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut pending = std::mem::take(&mut self.pending);
        pending.sort_unstable();
        pending.dedup();
        self.exact = sorted_union(std::mem::take(&mut self.exact), pending);
        if self.exact.len() > self.config.exact_limit {
            let mut s =
                Box::new(HllSketch::new(self.config.lg_k, HllType::Hll8).expect("lg_k is validated to be 4..=21"));
            for &h in &self.exact {
                s.update_with_coupon(Coupon::from_value(h));
            }
            self.exact = Vec::new();
            self.sketch = Some(s);
        } else {
            // Keep a small buffer around for the next batch.
            self.pending.reserve(64);
        }
        self.retag();
    }

    /// Add every value of `other` (same settings).
    pub fn merge(&mut self, mut other: Distinct) -> Result<(), Error> {
        if self.config != other.config {
            return Err(Error::ConfigMismatch);
        }
        match (&mut self.sketch, other.sketch.take()) {
            (Some(a), Some(b)) => {
                let mut u = HllUnion::new(self.config.lg_k).expect("lg_k is validated");
                u.update(a);
                u.update(&b);
                **a = u.to_sketch(HllType::Hll8);
            }
            (None, Some(b)) => {
                let mine = std::mem::take(&mut self.exact).into_iter().chain(std::mem::take(&mut self.pending));
                let mut b = b;
                for h in mine {
                    b.update_with_coupon(Coupon::from_value(h));
                }
                self.sketch = Some(b);
            }
            (Some(a), None) => {
                for h in other.exact.into_iter().chain(other.pending) {
                    a.update_with_coupon(Coupon::from_value(h));
                }
            }
            (None, None) => {
                self.pending.extend_from_slice(&other.pending);
                self.pending.extend_from_slice(&other.exact);
                self.compact();
            }
        }
        Ok(())
    }

    /// This count with its pending hashes sorted in (and handed over to the
    /// HyperLogLog past the limit): the state every answer is read from.
    /// Pending hashes are only sorted in when enough pile up, so without
    /// this, whether a count of a little over `exact_limit` values is
    /// exact would depend on when its values arrived.
    fn settled(&self) -> std::borrow::Cow<'_, Distinct> {
        if self.pending.is_empty() {
            std::borrow::Cow::Borrowed(self)
        } else {
            let mut d = self.clone();
            d.compact();
            std::borrow::Cow::Owned(d)
        }
    }

    /// Whether the count is exact: at most `exact_limit` distinct values.
    pub fn is_exact(&self) -> bool {
        self.settled().sketch.is_none()
    }

    /// The distinct count: exact, or the HyperLogLog's composite estimate
    /// rounded to an integer.
    pub fn estimate(&self) -> u64 {
        let d = self.settled();
        match &d.sketch {
            Some(s) => s.composite_estimate().round() as u64,
            None => d.exact.len() as u64,
        }
    }

    /// The relative standard error of [`estimate`](Distinct::estimate): 0
    /// while exact, else the HyperLogLog's.
    pub fn relative_standard_error(&self) -> f64 {
        if self.is_exact() { 0.0 } else { self.config.relative_standard_error() }
    }
}

impl Distinct {
    /// The count as bytes, for saving partial results: a version byte, then
    /// tag 0 and the sorted distinct hashes (`u32` length, `u64` each,
    /// little-endian) while exact, or tag 1 and the HyperLogLog in Apache
    /// DataSketches' portable format (readable by the Java, C++ and Python
    /// DataSketches libraries; its estimator state taken from the
    /// registers, see [`write_hll`]). The settings are not included:
    /// [`from_bytes`](Distinct::from_bytes) takes them.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![VERSION];
        let d = self.settled();
        match &d.sketch {
            Some(s) => {
                out.push(1);
                out.extend_from_slice(&write_hll(s, self.config.lg_k));
            }
            None => {
                out.push(0);
                put_u32(&mut out, d.exact.len() as u32);
                for &h in &d.exact {
                    put_u64(&mut out, h);
                }
            }
        }
        out
    }

    /// A count with `config` from the bytes of [`to_bytes`](Distinct::to_bytes).
    /// Bytes that do not hold a count with these settings (a HyperLogLog of
    /// another `lg_k`, unsorted hashes, ...) are an [`Error::Corrupt`].
    pub fn from_bytes(config: DistinctConfig, bytes: &[u8]) -> Result<Distinct, Error> {
        let mut r = Reader::new(bytes)?;
        let mut d = Distinct::new(config);
        match r.u8()? {
            0 => {
                let n = r.len(8)?;
                d.exact = (0..n).map(|_| r.u64()).collect::<Result<_, _>>()?;
                r.finish()?;
                if d.exact.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(Error::Corrupt("exact hashes unsorted or repeated"));
                }
                d.retag();
                if d.exact.len() > config.exact_limit {
                    // Written before counts were settled on save: hand over
                    // as this count would have.
                    d.pending = std::mem::take(&mut d.exact);
                    d.compact();
                }
            }
            1 => {
                let sketch = read_hll(r.rest(), config.lg_k).map_err(Error::Corrupt)?;
                d.sketch = Some(Box::new(sketch));
            }
            _ => return Err(Error::Corrupt("bad tag")),
        }
        Ok(d)
    }
}

/// An HLL_8 sketch of `lg_k` from the bytes of
/// [`HllSketch::serialize`], checked further than the reader does: this
/// workspace writes HLL_8 sketches only, and their registers (after an
/// 8-byte header and 32 bytes of estimator state, in HLL mode) hold
/// leading-zero counts, at most 63. The reader takes any byte, and a merge
/// then shifts by it (a panic in debug builds, a wrong count in release).
///
/// The image must be exactly as long as its mode and count say, and its
/// estimator state is taken again from the registers (`canonical_hll`):
/// damaged sums gave counts of `u64::MAX`, a smaller count dropped coupons.
pub fn read_hll(bytes: &[u8], lg_k: u8) -> Result<HllSketch, &'static str> {
    let k = 1usize << lg_k;
    let (Some(&mode), Some(&count)) = (bytes.get(7), bytes.get(6)) else { return Err("bad HyperLogLog") };
    let want: u64 = match mode & 3 {
        0 => 8 + 4 * u64::from(count),
        1 => 12 + 4 * bytes.get(8..12).map_or(0, |c| u64::from(le_u32(c))),
        2 => (HLL_REGISTERS + k) as u64,
        _ => return Err("bad HyperLogLog"),
    };
    if bytes.len() as u64 != want {
        return Err("HyperLogLog image of the wrong length");
    }
    if mode & 3 == 2 && bytes[HLL_REGISTERS..].iter().any(|&v| v > 63) {
        return Err("HyperLogLog register out of range");
    }
    let mut image = bytes.to_vec();
    canonical_hll(&mut image, lg_k);
    // Coupons (list and set mode, sorted now): each once, none empty.
    let coupons = coupons_start(mode).map_or(&[][..], |at| &image[at..]);
    let mut last = 0u32;
    for c in coupons.chunks_exact(4).map(le_u32) {
        if c <= last {
            return Err("HyperLogLog coupons empty or repeated");
        }
        last = c;
    }
    let sketch = HllSketch::deserialize(&image).map_err(|_| "bad HyperLogLog")?;
    if sketch.lg_config_k() != lg_k {
        return Err("HyperLogLog of another lg_k");
    }
    if sketch.target_type() != HllType::Hll8 {
        return Err("HyperLogLog of another register width");
    }
    Ok(sketch)
}

/// The bytes of `sketch` ([`HllSketch::serialize`]), made to depend on its
/// registers only (see `canonical_hll`).
pub fn write_hll(sketch: &HllSketch, lg_k: u8) -> Vec<u8> {
    let mut bytes = sketch.serialize();
    canonical_hll(&mut bytes, lg_k);
    bytes
}

/// Make the bytes of an HLL_8 sketch depend on the values it holds only,
/// not on the order they came in (a run on more threads adds them in
/// another order). In list and set mode (few values) the coupons are
/// written in the order of the sketch's array: they are sorted. In HLL mode
/// the estimator state (the HIP accumulator and the `kxq` sums) is a float
/// sum kept as values came in: the sums are taken again in register order,
/// as a union computes them, and the sketch is marked out of order
/// (composite estimate, HIP dropped), as every merged sketch is already;
/// the count of zero registers is taken from the registers too (a reader
/// trusts it: a wrong one skipped the sketch in a union, or underflowed).
fn canonical_hll(bytes: &mut [u8], lg_k: u8) {
    const FLAGS: usize = 5;
    const OUT_OF_ORDER: u8 = 16;
    let k = 1usize << lg_k;
    let Some(&mode) = bytes.get(7) else { return };
    if let Some(at) = coupons_start(mode) {
        if let Some(coupons) = bytes.get_mut(at..) {
            let mut c: Vec<u32> = coupons.chunks_exact(4).map(le_u32).collect();
            c.sort_unstable();
            for (w, v) in coupons.chunks_exact_mut(4).zip(c) {
                w.copy_from_slice(&v.to_le_bytes());
            }
        }
        return;
    }
    if mode & 3 != 2 || bytes.len() < HLL_REGISTERS + k {
        return;
    }
    let registers = &bytes[HLL_REGISTERS..HLL_REGISTERS + k];
    let (mut kxq0, mut kxq1) = (0.0f64, 0.0f64);
    for &v in registers {
        let inv = 1.0 / (1u64 << v.min(63)) as f64;
        if v < 32 { kxq0 += inv } else { kxq1 += inv }
    }
    let zeros = registers.iter().filter(|&&v| v == 0).count() as u32;
    bytes[32..36].copy_from_slice(&zeros.to_le_bytes());
    bytes[FLAGS] |= OUT_OF_ORDER;
    bytes[8..16].copy_from_slice(&0.0f64.to_le_bytes());
    bytes[16..24].copy_from_slice(&kxq0.to_le_bytes());
    bytes[24..32].copy_from_slice(&kxq1.to_le_bytes());
}

/// Where the registers of an HLL_8 image in HLL mode start: after an
/// 8-byte header and 32 bytes of estimator state.
const HLL_REGISTERS: usize = 40;

/// Where the coupons of an HLL image in `mode` (its byte 7) start: after
/// the 8-byte header in list mode, after it and a `u32` count in set mode;
/// `None` in HLL mode (registers) or an unknown one.
fn coupons_start(mode: u8) -> Option<usize> {
    match mode & 3 {
        0 => Some(8),
        1 => Some(12),
        _ => None,
    }
}

/// The little-endian `u32` of 4 bytes.
fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes(b.try_into().expect("4 bytes"))
}

/// The sorted union of two sorted, duplicate-free lists of hashes (or any
/// `u64`s), built in the longer list's buffer ([`union_into`]). Exact
/// distinct sets merge with it.
pub fn sorted_union(mut a: Vec<u64>, mut b: Vec<u64>) -> Vec<u64> {
    if b.len() > a.len() {
        // A union is symmetric: grow the longer list.
        std::mem::swap(&mut a, &mut b);
    }
    union_into(&mut a, &b);
    a
}

/// Make the sorted, duplicate-free list `a` the sorted union of itself and
/// the sorted, duplicate-free `b`, from the back, in `a`'s buffer: no
/// allocation unless it must grow, and then by exactly `b`'s length (a
/// summary's address set takes a batch of new hashes this way, without a
/// list of its own).
///
/// The merge loop has no data-dependent branch: each step writes the larger
/// of the two back elements and steps back in the list (or both lists, on
/// a tie) it came from, with conditional moves. Interleaved random hashes
/// made a branch per element mispredict about half the time.
pub fn union_into(a: &mut Vec<u64>, b: &[u64]) {
    if b.is_empty() {
        return;
    }
    let (n, m) = (a.len(), b.len());
    // Exactly what the union may need: doubling would leave up to half of
    // every merged set unused, and merged sets can be most of a run's memory.
    a.reserve_exact(m);
    a.resize(n + m, 0);
    // Fill a[k..] from the back; a[..i] and b[..j] are still to place. Every
    // step lowers k by one and i + j by one or two, so k >= i + j, and with
    // j > 0 the slot written, k - 1, lies past every unread a[..i].
    let (mut i, mut j, mut k) = (n, m, n + m);
    while i > 0 && j > 0 {
        let (x, y) = (a[i - 1], b[j - 1]);
        k -= 1;
        a[k] = x.max(y);
        i -= usize::from(x >= y);
        j -= usize::from(y >= x);
    }
    // What is left of b goes just below a[k..]; what is left of a is in
    // place, and duplicates left a gap of k - i slots before a[k..].
    a[k - j..k].copy_from_slice(&b[..j]);
    k -= j;
    if k > i {
        a.copy_within(k.., i);
        a.truncate(n + m - (k - i));
        if a.capacity() - a.len() > a.len() / 4 {
            // Many shared hashes: give the unused quarter and more back.
            a.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Hashes whose top bytes often repeat or differ by one (lanes flagged
    /// that are not the hash's, borrows across lanes) and near misses.
    fn tagged_hash() -> impl Strategy<Value = u64> {
        prop_oneof![any::<u64>(), (0u64..3, 0u64..4).prop_map(|(top, low)| top << 56 | low), Just(0), Just(u64::MAX)]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// A lookup by tags answers as a search of the sorted set does, for
        /// sets of up to 16 hashes, hashes in and out of them.
        #[test]
        fn tagged_lookup_agrees_with_a_search(
            set in prop::collection::vec(tagged_hash(), 0..=TAGGED),
            probes in prop::collection::vec(tagged_hash(), 1..20),
        ) {
            let mut d = Distinct::new(DistinctConfig::new());
            d.pending = set.clone();
            d.compact();
            prop_assert!(d.exact.len() <= TAGGED);
            let near = set.iter().map(|h| h ^ 1);
            for h in probes.iter().copied().chain(set.iter().copied()).chain(near) {
                prop_assert_eq!(d.contains_tagged(h), d.exact.binary_search(&h).is_ok(), "{:x}", h);
            }
            let back = Distinct::from_bytes(d.config, &d.to_bytes()).unwrap();
            prop_assert_eq!(back.tags, d.tags);
        }
    }

    #[test]
    fn sorted_union_matches_a_set() {
        let mut x = 1u64;
        let mut next = |m: u64| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (x >> 33) % m
        };
        for _ in 0..2000 {
            let range = 1 + next(40);
            let mut a: Vec<u64> = (0..next(12)).map(|_| next(range)).collect();
            let mut b: Vec<u64> = (0..next(12)).map(|_| next(range)).collect();
            for v in [&mut a, &mut b] {
                v.sort_unstable();
                v.dedup();
            }
            let want: Vec<u64> =
                a.iter().chain(&b).copied().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
            assert_eq!(sorted_union(a.clone(), b.clone()), want, "{a:?} {b:?}");
            let mut into = a.clone();
            union_into(&mut into, &b);
            assert_eq!(into, want, "{a:?} into {b:?}");
        }
    }

    /// Just past the exact limit, a count used to stay exact or not
    /// depending on when its pending hashes were sorted in, so one count of
    /// the values and a merge of counts of their parts disagreed.
    #[test]
    fn the_answer_depends_only_on_the_set_just_past_the_limit() {
        let c = DistinctConfig::new();
        for n in [1000u64, 1024, 1025, 1100, 1446, 2000, 2047, 2049, 3000] {
            let mut one = Distinct::new(c);
            let mut parts: Vec<Distinct> = (0..4).map(|_| Distinct::new(c)).collect();
            for i in 0..n {
                one.insert(&i.to_le_bytes());
                parts[(i % 4) as usize].insert(&i.to_le_bytes());
            }
            let mut merged = Distinct::new(c);
            let mut restored = Distinct::new(c);
            for p in parts {
                restored.merge(Distinct::from_bytes(c, &p.to_bytes()).unwrap()).unwrap();
                merged.merge(p).unwrap();
            }
            let saved = Distinct::from_bytes(c, &one.to_bytes()).unwrap();
            assert_eq!(one.estimate(), merged.estimate(), "{n}");
            assert_eq!(one.estimate(), restored.estimate(), "{n}");
            assert_eq!(one.estimate(), saved.estimate(), "{n}");
            assert_eq!(one.is_exact(), n <= 1024, "{n}");
            assert_eq!(merged.is_exact(), n <= 1024, "{n}");
        }
    }

    fn hashes(n: u64, modulo: u64) -> Vec<u64> {
        (0..n).map(|i| hash_bytes(&(i % modulo).to_le_bytes())).collect()
    }

    fn build(config: DistinctConfig, values: &[u64]) -> Distinct {
        let mut d = Distinct::new(config);
        for &h in values {
            d.insert_hash(h);
        }
        d
    }

    #[test]
    fn bytes_round_trip_exact_and_sketch() {
        let config = DistinctConfig::new().lg_k(10).unwrap().exact_limit(300).unwrap();
        let small = build(config, &hashes(1000, 250));
        let big = build(config, &hashes(20_000, 5000));
        assert!(small.is_exact() && !big.is_exact());
        for d in [&small, &big, &Distinct::new(config)] {
            let bytes = d.to_bytes();
            let back = Distinct::from_bytes(config, &bytes).unwrap();
            assert_eq!((back.estimate(), back.is_exact()), (d.estimate(), d.is_exact()));
            // Restored counts merge as the originals do.
            let mut a = back;
            a.merge(Distinct::from_bytes(config, &small.to_bytes()).unwrap()).unwrap();
            let mut b = d.clone();
            b.merge(small.clone()).unwrap();
            assert_eq!(a.estimate(), b.estimate());
            for cut in 0..bytes.len().min(64) {
                assert!(Distinct::from_bytes(config, &bytes[..cut]).is_err(), "cut at {cut}");
            }
        }
        // 150 hashes: 128 sorted and 22 pending. Past the limit is past the
        // limit, however the hashes sit: not exact, saved and restored alike.
        let small_limit = DistinctConfig::new().lg_k(8).unwrap().exact_limit(128).unwrap();
        let pending = build(small_limit, &hashes(150, 150));
        assert!(!pending.is_exact());
        let mut back = Distinct::from_bytes(small_limit, &pending.to_bytes()).unwrap();
        assert!(!back.is_exact());
        assert_eq!(back.estimate(), pending.estimate());
        let mut orig = pending.clone();
        back.merge(build(small_limit, &hashes(10, 10))).unwrap();
        orig.merge(build(small_limit, &hashes(10, 10))).unwrap();
        assert_eq!(back.estimate(), orig.estimate());
        let other = DistinctConfig::new().lg_k(11).unwrap().exact_limit(600).unwrap();
        assert!(matches!(Distinct::from_bytes(other, &big.to_bytes()), Err(Error::Corrupt(_))));
        let mut unsorted = small.to_bytes();
        unsorted[6..14].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(Distinct::from_bytes(config, &unsorted).is_err());
        assert!(Distinct::from_bytes(config, &[1, 7]).is_err());
        // The bytes of a count do not depend on the order of its values.
        let mut values = hashes(5000, 5000);
        let forward = build(config, &values).to_bytes();
        values.reverse();
        assert_eq!(build(config, &values).to_bytes(), forward);
        // Damaged estimator sums are taken again from the registers; an
        // image of the wrong length is refused.
        let mut sums = forward.clone();
        sums[2 + 16..2 + 24].copy_from_slice(&1e-300f64.to_le_bytes());
        assert_eq!(Distinct::from_bytes(config, &sums).unwrap().estimate(), build(config, &values).estimate());
        let mut short = forward.clone();
        short.pop();
        assert!(Distinct::from_bytes(config, &short).is_err());
        // A damaged count of zero registers is taken from the registers.
        let mut zeros = forward.clone();
        zeros[2 + 32..2 + 36].copy_from_slice(&0u32.to_le_bytes());
        let mut read = Distinct::from_bytes(config, &zeros).unwrap();
        read.merge(build(config, &hashes(7, 7))).unwrap();
        let mut good = Distinct::from_bytes(config, &forward).unwrap();
        good.merge(build(config, &hashes(7, 7))).unwrap();
        assert_eq!(read.estimate(), good.estimate());
        // A register no hash can give (a merge would shift by it): refused.
        let tiny = DistinctConfig::new().lg_k(4).unwrap().exact_limit(4).unwrap();
        let hll = build(tiny, &hashes(300, 300));
        let mut bytes = hll.to_bytes();
        let last = bytes.len() - 1;
        for v in [63, 64, 200] {
            bytes[last] = v;
            let read = Distinct::from_bytes(tiny, &bytes);
            if v > 63 {
                assert!(matches!(read, Err(Error::Corrupt("HyperLogLog register out of range"))), "{v}");
            } else {
                hll.clone().merge(read.unwrap()).unwrap();
            }
        }
    }

    #[test]
    fn hll_images_in_list_mode_are_sorted_and_checked() {
        let mut a = HllSketch::new(10, HllType::Hll8).unwrap();
        let mut b = HllSketch::new(10, HllType::Hll8).unwrap();
        for v in 0..5u64 {
            a.update_with_coupon(Coupon::from_value(v));
            b.update_with_coupon(Coupon::from_value(4 - v));
        }
        let image = write_hll(&a, 10);
        assert_eq!(image[7] & 3, 0, "list mode");
        assert_eq!(image, write_hll(&b, 10));
        assert_eq!(read_hll(&image, 10).unwrap().estimate().round(), 5.0);
        // A coupon repeated, or an empty one, is refused.
        let mut repeated = image.clone();
        repeated.copy_within(8..12, 12);
        assert_eq!(read_hll(&repeated, 10).err(), Some("HyperLogLog coupons empty or repeated"));
        let mut empty = image.clone();
        empty[8..12].fill(0);
        assert!(read_hll(&empty, 10).is_err());
    }

    /// Sets small enough to be scanned, searched or only buffered count
    /// each value once however often and in whatever order it repeats.
    #[test]
    fn repeated_values_of_small_sets_count_once() {
        for m in [1u64, 2, 15, 16, 17, 40, 64, 65, 70] {
            // A stride coprime to 7919 visits the values out of order.
            let values: Vec<u64> = (0..40 * m).map(|i| hash_bytes(&((i * 7919) % m).to_le_bytes())).collect();
            let d = build(DistinctConfig::new(), &values);
            assert_eq!((d.estimate(), d.is_exact()), (m, true), "{m} values");
        }
    }

    #[test]
    fn exact_below_the_limit() {
        let config = DistinctConfig::new();
        let d = build(config, &hashes(5000, 1000));
        assert!(d.is_exact());
        assert_eq!(d.estimate(), 1000);
        assert_eq!(d.relative_standard_error(), 0.0);
        let mut parts = hashes(5000, 1000).chunks(77).map(|c| build(config, c)).collect::<Vec<_>>().into_iter();
        let mut merged = parts.next().unwrap();
        for p in parts {
            merged.merge(p).unwrap();
        }
        assert_eq!(merged.estimate(), 1000);
    }

    #[test]
    fn sketch_estimates_are_split_independent_and_within_bounds() {
        let config = DistinctConfig::new().lg_k(10).unwrap().exact_limit(300).unwrap();
        for (n, distinct) in [(20_000u64, 5000u64), (3000, 1500), (50_000, 301)] {
            let values = hashes(n, distinct);
            let whole = build(config, &values);
            assert!(!whole.is_exact());
            let err = (whole.estimate() as f64 - distinct as f64).abs() / distinct as f64;
            assert!(err < 3.0 * config.relative_standard_error(), "{distinct}: {}", whole.estimate());
            for size in [1usize, 13, 500, 7000] {
                // A left-leaning and a balanced merge tree.
                let parts: Vec<Distinct> = values.chunks(size).map(|c| build(config, c)).collect();
                let mut left = Distinct::new(config);
                for p in parts.clone() {
                    left.merge(p).unwrap();
                }
                assert_eq!(left.estimate(), whole.estimate(), "{distinct} in parts of {size}");
                let tree = tree_merge(parts);
                assert_eq!(tree.estimate(), whole.estimate(), "{distinct} tree of parts of {size}");
            }
        }
    }

    fn tree_merge(mut parts: Vec<Distinct>) -> Distinct {
        while parts.len() > 1 {
            let mut next = Vec::new();
            let mut it = parts.into_iter();
            while let Some(mut a) = it.next() {
                if let Some(b) = it.next() {
                    a.merge(b).unwrap();
                }
                next.push(a);
            }
            parts = next;
        }
        parts.pop().unwrap()
    }

    #[test]
    fn settings_are_validated() {
        assert_eq!(DistinctConfig::new().lg_k(3), Err(Error::LgK(3)));
        assert_eq!(DistinctConfig::new().exact_limit(10), Err(Error::ExactLimit { limit: 10, min: 1024 }));
        assert_eq!(DistinctConfig::new().lg_k(16).unwrap().get_exact_limit(), 16384);
        let mut a = Distinct::new(DistinctConfig::new());
        let b = Distinct::new(DistinctConfig::new().lg_k(14).unwrap());
        assert_eq!(a.merge(b), Err(Error::ConfigMismatch));
        assert!((DistinctConfig::new().relative_standard_error() - 0.01625).abs() < 1e-9);
    }
}
