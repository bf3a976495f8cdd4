use std::io::{self, Write};

use crate::rng::Rng;

/// Records generated per block; each block has its own seeded generator.
const BLOCK_RECORDS: u64 = 65_536;

/// Fixed-width binary sensor readings, 16 bytes each, little-endian:
///
/// | bytes | field | type |
/// |---|---|---|
/// | 0..4 | `sensor` | `u32`: one of 1,000 sensor ids (skewed: low ids report more often) |
/// | 4..6 | `status` | `u16`: 0 (ok) in 97 % of records, else 1 to 3 |
/// | 6..8 | padding | zero |
/// | 8..16 | `value` | `f64`: N(sensor's own mean, 5), the mean uniform in -20..40 |
///
/// Read them with `pagemill features --record-size 16 --field sensor:u32@0
/// --field status:u16@4 --field value:f64@8`. Deterministic for a seed,
/// whatever the thread count.
#[derive(Clone, Debug)]
pub struct Records {
    records: u64,
    seed: u64,
    means: Vec<f64>,
    /// Standard normal draws in hundredths (shared with the 1BRC generator).
    normal: Vec<i16>,
}

impl Records {
    /// Bytes per record.
    pub const SIZE: usize = 16;

    /// The `--field` declarations that read these records.
    pub const FIELDS: [&'static str; 3] = ["sensor:u32@0", "status:u16@4", "value:f64@8"];

    /// `records` records from `seed`.
    pub fn new(records: u64, seed: u64) -> Records {
        let mut rng = Rng::new(seed, 0x5E5);
        let means = (0..1000).map(|_| -20.0 + 60.0 * rng.unit()).collect();
        Records { records, seed, means, normal: crate::measurements::normal_table() }
    }

    fn block(&self, index: u64) -> Vec<u8> {
        let mut rng = Rng::new(self.seed, index + 1);
        let first = index * BLOCK_RECORDS;
        let n = BLOCK_RECORDS.min(self.records - first);
        let mut out = Vec::with_capacity(n as usize * Records::SIZE);
        for _ in 0..n {
            let u = rng.unit();
            let sensor = ((u * u) * self.means.len() as f64) as u32;
            let status: u16 = if rng.below(100) < 97 { 0 } else { 1 + rng.below(3) as u16 };
            let z = f64::from(self.normal[(rng.next_u64() >> 48) as usize]) / 100.0;
            let value = self.means[sensor as usize] + 5.0 * z;
            out.extend_from_slice(&sensor.to_le_bytes());
            out.extend_from_slice(&status.to_le_bytes());
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&value.to_le_bytes());
        }
        out
    }

    /// Write every record to `out`, generating blocks in parallel.
    pub fn write_to<W: Write>(&self, out: &mut W) -> io::Result<()> {
        crate::write_blocks(self.records.div_ceil(BLOCK_RECORDS), out, |i| self.block(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_sixteen_bytes_deterministic_and_in_range() {
        let mut a = Vec::new();
        Records::new(100_000, 3).write_to(&mut a).unwrap();
        assert_eq!(a.len(), 100_000 * Records::SIZE);
        let mut b = Vec::new();
        Records::new(100_000, 3).write_to(&mut b).unwrap();
        assert_eq!(a, b);
        let mut ok = 0;
        for r in a.chunks_exact(Records::SIZE) {
            let sensor = u32::from_le_bytes(r[0..4].try_into().unwrap());
            let status = u16::from_le_bytes(r[4..6].try_into().unwrap());
            let value = f64::from_le_bytes(r[8..16].try_into().unwrap());
            assert!(sensor < 1000 && status <= 3 && r[6..8] == [0, 0] && value.is_finite());
            ok += usize::from(status == 0);
        }
        assert!((95_000..99_000).contains(&ok), "{ok}");
    }
}
