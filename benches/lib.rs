//! Criterion micro-benchmarks of pagemill's hot paths live in this package's
//! bench targets (`cargo bench -p pagemill-benches`); this library only holds
//! the inputs they share.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use pagemill_datasets::{Measurements, Stations};

/// `rows` 1BRC lines over the 413 official stations, seed 1.
pub fn measurements(rows: u64) -> Vec<u8> {
    let mut out = Vec::new();
    Measurements::new(Stations::official(), rows, 1).write_to(&mut out).expect("writing to memory");
    out
}
