use std::collections::HashSet;
use std::io::{self, Write};

use rayon::prelude::*;

use crate::rng::Rng;

/// Weather stations: names and mean temperatures.
#[derive(Clone, Debug)]
pub struct Stations {
    names: Vec<String>,
    /// Means in tenths of a degree.
    means: Vec<i32>,
}

impl Stations {
    /// The 413 official 1BRC stations.
    pub fn official() -> Stations {
        let mut names = Vec::new();
        let mut means = Vec::new();
        for line in crate::STATIONS_413_CSV.lines().filter(|l| !l.is_empty()) {
            let (name, mean) = line.rsplit_once(';').expect("embedded station list is name;mean");
            names.push(name.to_string());
            means.push((mean.parse::<f64>().expect("embedded mean parses") * 10.0).round() as i32);
        }
        Stations { names, means }
    }

    /// `count` distinct synthetic names of 1 to 100 UTF-8 bytes (ASCII and
    /// 2-, 3- and 4-byte characters, never `;` or a newline), with means
    /// uniform in [-30, 40) degrees. Deterministic for a seed.
    pub fn synthetic(count: usize, seed: u64) -> Stations {
        const ALPHABET: &[char] = &[
            'a', 'b', 'c', 'd', 'e', 'k', 'm', 'o', 's', 'z', 'A', 'Q', ' ', '-', '\'', 'é', 'ü', 'ñ', 'ø', 'ж', 'я',
            'ع', 'ש', '中', '京', 'ก', '€', '😀', '𝄞',
        ];
        let mut rng = Rng::new(seed, 0x5747);
        let mut seen = HashSet::with_capacity(count);
        let mut names = Vec::with_capacity(count);
        let mut means = Vec::with_capacity(count);
        while names.len() < count {
            let target = 1 + rng.below(100) as usize;
            let mut name = String::with_capacity(target);
            while name.len() < target {
                let c = ALPHABET[rng.below(ALPHABET.len() as u64) as usize];
                if name.len() + c.len_utf8() <= target {
                    name.push(c);
                } else {
                    name.push('x');
                }
            }
            if seen.insert(name.clone()) {
                names.push(name);
                means.push(rng.below(700) as i32 - 300);
            }
        }
        Stations { names, means }
    }

    /// The number of stations.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The station names.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// A generator of 1BRC measurement lines. See the [crate documentation](crate).
#[derive(Clone, Debug)]
pub struct Measurements {
    stations: Stations,
    rows: u64,
    seed: u64,
    normal: Vec<i16>,
}

/// Rows per independently seeded block.
const BLOCK_ROWS: u64 = 1 << 16;

impl Measurements {
    /// `rows` lines over `stations`, from `seed`.
    pub fn new(stations: Stations, rows: u64, seed: u64) -> Measurements {
        assert!(!stations.is_empty(), "at least one station");
        Measurements { stations, rows, seed, normal: normal_table() }
    }

    /// Generate the lines of block `index` (rows `index * 65536 ..`).
    fn block(&self, index: u64) -> Vec<u8> {
        let first = index * BLOCK_ROWS;
        let rows = BLOCK_ROWS.min(self.rows - first);
        let mut rng = Rng::new(self.seed, index);
        let mut out = Vec::with_capacity(rows as usize * 16);
        let n = self.stations.len() as u64;
        for _ in 0..rows {
            let s = rng.below(n) as usize;
            let noise = self.normal[(rng.next_u64() >> 48) as usize];
            let t = (self.stations.means[s] + i32::from(noise)).clamp(-999, 999);
            out.extend_from_slice(self.stations.names[s].as_bytes());
            out.push(b';');
            write_tenths(&mut out, t);
            out.push(b'\n');
        }
        out
    }

    /// Write all lines to `out`, generating blocks in parallel on the current
    /// rayon pool and writing them in order, a bounded batch at a time.
    pub fn write_to<W: Write>(&self, out: &mut W) -> io::Result<()> {
        write_blocks(self.rows.div_ceil(BLOCK_ROWS), out, |i| self.block(i))
    }
}

/// Generate blocks `0..blocks` in parallel on the current rayon pool and
/// write them to `out` in order, a bounded batch at a time.
pub(crate) fn write_blocks<W: Write>(
    blocks: u64,
    out: &mut W,
    block: impl Fn(u64) -> Vec<u8> + Sync,
) -> io::Result<()> {
    let batch = (rayon::current_num_threads() as u64 * 4).max(1);
    let mut start = 0;
    while start < blocks {
        let end = (start + batch).min(blocks);
        let parts: Vec<Vec<u8>> = (start..end).into_par_iter().map(&block).collect();
        for part in parts {
            out.write_all(&part)?;
        }
        start = end;
    }
    Ok(())
}

/// Write `t` tenths as a decimal with one digit after the point.
fn write_tenths(out: &mut Vec<u8>, t: i32) {
    if t < 0 {
        out.push(b'-');
    }
    let a = t.unsigned_abs();
    let whole = a / 10;
    if whole >= 10 {
        out.push(b'0' + (whole / 10) as u8);
    }
    out.push(b'0' + (whole % 10) as u8);
    out.push(b'.');
    out.push(b'0' + (a % 10) as u8);
}

/// 65,536 equally likely draws of N(0, 10) in tenths, by the inverse normal
/// CDF at the midpoints of 65,536 equal-probability bins. Sampling an index
/// uniformly gives N(0, 10) rounded to 0.1, with tails cut at about ±4.3
/// standard deviations.
fn normal_table() -> Vec<i16> {
    (0..1u32 << 16).map(|i| (inverse_normal((f64::from(i) + 0.5) / 65536.0) * 100.0).round() as i16).collect()
}

/// Acklam's rational approximation of the standard normal quantile
/// (relative error below 1.2e-9).
fn inverse_normal(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] =
        [7.784_695_709_041_462e-3, 3.224_671_290_700_398e-1, 2.445_134_137_142_996, 3.754_408_661_907_416];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_list_has_413_stations() {
        let s = Stations::official();
        assert_eq!(s.len(), 413);
        assert_eq!(s.names()[0], "Abha");
        assert_eq!(s.means[0], 180);
    }

    #[test]
    fn synthetic_names_are_distinct_and_within_bounds() {
        let s = Stations::synthetic(10_000, 7);
        let set: HashSet<_> = s.names().iter().collect();
        assert_eq!(set.len(), 10_000);
        assert!(s.names().iter().all(|n| (1..=100).contains(&n.len()) && !n.contains([';', '\n'])));
        assert!(s.names().iter().any(|n| n.len() == 100) && s.names().iter().any(|n| n.len() == 1));
    }

    #[test]
    fn tenths_format() {
        for (t, want) in [(0, "0.0"), (-5, "-0.5"), (999, "99.9"), (-999, "-99.9"), (105, "10.5"), (-100, "-10.0")] {
            let mut v = Vec::new();
            write_tenths(&mut v, t);
            assert_eq!(String::from_utf8(v).unwrap(), want);
        }
    }

    #[test]
    fn normal_table_has_unit_moments() {
        let t = normal_table();
        let n = t.len() as f64;
        let mean = t.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = t.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / n;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var.sqrt() - 100.0).abs() < 1.0, "{}", var.sqrt());
    }

    #[test]
    fn output_is_independent_of_thread_count() {
        let generator = Measurements::new(Stations::official(), 200_000, 1);
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut v = Vec::new();
            pool.install(|| generator.write_to(&mut v)).unwrap();
            v
        };
        assert_eq!(run(1), run(3));
    }
}
