//! Criterion micro-benchmarks of pagemill's hot paths live in this package's
//! bench targets (`cargo bench -p pagemill-benches`); this library only holds
//! the inputs they share.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use pagemill_datasets::{AccessLog, AccessLogFormat, Measurements, Stations};

/// `rows` 1BRC lines over the 413 official stations, seed 1.
pub fn measurements(rows: u64) -> Vec<u8> {
    let mut out = Vec::new();
    Measurements::new(Stations::official(), rows, 1).write_to(&mut out).expect("writing to memory");
    out
}

/// About `bytes` of `timed` access-log lines (about 200 bytes each), seed 1.
pub fn access_log(bytes: u64) -> Vec<u8> {
    let mut out = Vec::new();
    AccessLog::new(bytes / 200 + 1, AccessLogFormat::Timed, 1).write_to(&mut out).expect("writing to memory");
    out
}
