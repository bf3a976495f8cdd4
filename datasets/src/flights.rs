use std::io::{self, Write};

use crate::rng::Rng;
use crate::{push_2, push_u64};

/// Rows generated per block; each block has its own seeded generator.
const BLOCK_ROWS: u64 = 65_536;

const CARRIERS: [&str; 14] = ["AA", "AS", "B6", "DL", "F9", "G4", "HA", "MQ", "NK", "OO", "UA", "WN", "YX", "9E"];

/// The note column: empty half the time; quoted notes with a comma, with
/// doubled quotes, and over two lines (a newline inside quotes, which record
/// splitting must not cut at).
const NOTES: [&str; 7] =
    ["", "", "", "\"Delayed, weather\"", "\"Crew \"\"swap\"\", late\"", "diverted", "\"Gate change:\nB12 to C3\""];

/// A flights-like CSV: `date,carrier,flight,origin,dest,dep_delay,arr_delay,distance,note`.
///
/// 300 airports (three-letter codes) with skewed popularity, 14 carriers,
/// delays in minutes with one decimal in a fifth of the rows and about 3 %
/// missing (empty or `NA`), and a note column that is often empty and
/// sometimes a quoted string with commas, doubled quotes or a newline.
/// Deterministic for a seed, whatever the thread count.
#[derive(Clone, Debug)]
pub struct Flights {
    rows: u64,
    seed: u64,
    airports: Vec<[u8; 3]>,
}

impl Flights {
    /// `rows` rows from `seed`.
    pub fn new(rows: u64, seed: u64) -> Flights {
        let mut rng = Rng::new(seed, 0xA1B);
        let mut airports: Vec<[u8; 3]> = Vec::with_capacity(300);
        while airports.len() < 300 {
            let code = [b'A' + rng.below(26) as u8, b'A' + rng.below(26) as u8, b'A' + rng.below(26) as u8];
            if !airports.contains(&code) {
                airports.push(code);
            }
        }
        Flights { rows, seed, airports }
    }

    /// The header line.
    pub const HEADER: &'static str = "date,carrier,flight,origin,dest,dep_delay,arr_delay,distance,note\n";

    /// An airport drawn with a skew: low indices are much more likely.
    fn airport(&self, rng: &mut Rng) -> &[u8; 3] {
        let u = rng.unit();
        &self.airports[((u * u * u) * self.airports.len() as f64) as usize]
    }

    fn block(&self, index: u64) -> Vec<u8> {
        let mut rng = Rng::new(self.seed, index + 1);
        let first = index * BLOCK_ROWS;
        let rows = BLOCK_ROWS.min(self.rows - first);
        let mut out = Vec::with_capacity(rows as usize * 56);
        for _ in 0..rows {
            let day = rng.below(365);
            let (month, dom) = (1 + day / 31 % 12, 1 + day % 28);
            out.extend_from_slice(b"2024-");
            push_2(&mut out, month as u32);
            out.push(b'-');
            push_2(&mut out, dom as u32);
            out.push(b',');
            out.extend_from_slice(CARRIERS[rng.below(CARRIERS.len() as u64) as usize].as_bytes());
            out.push(b',');
            push_u64(&mut out, 1 + rng.below(6000));
            out.push(b',');
            out.extend_from_slice(self.airport(&mut rng));
            out.push(b',');
            out.extend_from_slice(self.airport(&mut rng));
            out.push(b',');
            let dep = delay(&mut rng);
            write_delay(&mut out, &mut rng, dep);
            out.push(b',');
            let arr = dep.map(|d| d + rng.below(41) as i64 - 20);
            write_delay(&mut out, &mut rng, arr);
            out.push(b',');
            push_u64(&mut out, 80 + rng.below(2700));
            out.push(b',');
            out.extend_from_slice(NOTES[rng.below(NOTES.len() as u64) as usize].as_bytes());
            out.push(b'\n');
        }
        out
    }

    /// Write the header and every row to `out`, generating blocks in parallel.
    pub fn write_to<W: Write>(&self, out: &mut W) -> io::Result<()> {
        out.write_all(Flights::HEADER.as_bytes())?;
        crate::write_blocks(self.rows.div_ceil(BLOCK_ROWS), out, |i| self.block(i))
    }
}

/// A delay in tenths of a minute: mostly small, a long right tail; `None`
/// for about 3 % missing.
fn delay(rng: &mut Rng) -> Option<i64> {
    if rng.below(33) == 0 {
        return None;
    }
    let u = rng.unit();
    let minutes = if u < 0.6 { -15.0 + 25.0 * u } else { -ln1p_neg(u) * 40.0 };
    Some((minutes * 10.0).round() as i64)
}

/// `ln(1 - u)` (negative): its negation is an exponential draw.
fn ln1p_neg(u: f64) -> f64 {
    (1.0 - u).max(1e-12).ln()
}

fn write_delay(out: &mut Vec<u8>, rng: &mut Rng, tenths: Option<i64>) {
    match tenths {
        None if rng.below(2) == 0 => out.extend_from_slice(b"NA"),
        None => {}
        // A fifth of the values keep their decimal.
        Some(t) if rng.below(5) == 0 => {
            if t < 0 {
                out.push(b'-');
            }
            push_u64(out, t.unsigned_abs() / 10);
            out.push(b'.');
            out.push(b'0' + (t.unsigned_abs() % 10) as u8);
        }
        Some(t) => {
            // Whole minutes, truncated toward zero ("-0" stays "0").
            let m = t / 10;
            if m < 0 {
                out.push(b'-');
            }
            push_u64(out, m.unsigned_abs());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_well_formed() {
        let g = Flights::new(100_000, 3);
        let mut a = Vec::new();
        g.write_to(&mut a).unwrap();
        let mut b = Vec::new();
        rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(|| g.write_to(&mut b)).unwrap();
        assert_eq!(a, b);
        let text = String::from_utf8(a).unwrap();
        assert!(text.contains("\"Delayed, weather\"") && text.contains(",NA,"));
        // Records end at newlines outside quotes; every record has 8 commas
        // outside quotes, and some hold a newline inside them.
        let (mut records, mut multiline) = (Vec::new(), 0);
        let (mut quoted, mut start, mut commas, mut inner) = (false, 0, 0, false);
        for (i, c) in text.bytes().enumerate() {
            match c {
                b'"' => quoted = !quoted,
                b',' if !quoted => commas += 1,
                b'\n' if quoted => inner = true,
                b'\n' => {
                    records.push((&text[start..i], commas));
                    multiline += usize::from(inner);
                    (start, commas, inner) = (i + 1, 0, false);
                }
                _ => {}
            }
        }
        assert!(!quoted && start == text.len());
        assert_eq!(records.len(), 100_001);
        for (record, commas) in &records {
            assert_eq!(*commas, 8, "{record}");
        }
        assert!(multiline > 10_000, "{multiline} records over two lines");
    }
}
