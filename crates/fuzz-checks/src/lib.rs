//! The checks behind pagemill's fuzz targets, one public function per target.
//!
//! Each function takes the fuzzer's bytes, derives its parameters from the
//! first few (format, chunk sizes, thread counts) and runs the library on the
//! rest against a simple sequential reference, panicking on any difference.
//! `fuzz/fuzz_targets/*.rs` (cargo-fuzz, nightly) are one-line wrappers
//! around these. On stable, `tests/replay.rs` runs every committed seed of
//! `fuzz/corpus/<target>/` through them, and `tests/bounded.rs` runs a few
//! seconds of random mutations of those seeds through each ([`mutate`]), so
//! CI fuzzes every target without a nightly toolchain or an instrumented
//! build.
//!
//! ```
//! use std::time::Duration;
//! use pagemill_fuzz_checks::mutate::{Budget, run_bounded};
//!
//! let seeds = vec![b"\x00\x01Hamburg;12.0\nOslo;-3.4\n".to_vec()];
//! let budget = Budget { time: Duration::from_secs(1), max_inputs: 200, hang: Duration::from_secs(10), seed: 1 };
//! let ran = run_bounded(pagemill_fuzz_checks::brc, &seeds, budget).expect("the 1BRC job agrees with the reference");
//! assert!(ran > 0);
//! ```
//!
//! | target | checks |
//! |---|---|
//! | [`split`] | `RecordFormat::plan` + `records`/`count_records` of lines, CSV (any quote byte, any scan block) and fixed-width records against byte-at-a-time splitters; `next_boundary` |
//! | [`brc`] | the 1BRC job (1 and 2 threads, small chunks) against a sequential parser: stations, min/max/sum/count, malformed counts by kind |
//! | [`csv_fields`] | `split_fields` against a byte-by-byte RFC 4180 reader; the general features job: rows + malformed = records, the same for two thread counts and chunk sizes |
//! | [`log_formats`] | every log format preset and a custom Apache and nginx format: parsing never panics and yields subslices of the line; the log job gives identical reports for 1 and 2 threads and two chunk sizes |
//! | [`json_fields`] | the JSON-lines field extractor against `serde_json` on lines that are valid JSON objects |
//! | [`partial_decode`] | arbitrary bytes in the binary state cells of features and logs partials: merging never panics |
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod brc;
mod csv;
mod json;
mod logs;
pub mod mutate;
mod partial;
mod split;

/// The sequential references the checks compare against, for the crates'
/// own tests to share (`pagemill-split`'s and `pagemill-features`'
/// integration tests use them too).
pub mod reference {
    pub use crate::csv::{library_fields, reference_fields, reference_lines};
    pub use crate::split::{reference_fixed, reference_split, split_all};
}

pub use crate::brc::brc;
pub use crate::csv::csv_fields;
pub use crate::json::json_fields;
pub use crate::logs::log_formats;
pub use crate::partial::{partial_decode, partial_seeds};
pub use crate::split::split;

/// A target's check: panics if the library disagrees with the reference.
pub type Check = fn(&[u8]);

/// Every target: its name (the fuzz target's and its corpus folder's) and
/// its check.
pub const TARGETS: &[(&str, Check)] = &[
    ("split", split),
    ("brc", brc),
    ("csv_fields", csv_fields),
    ("log_formats", log_formats),
    ("json_fields", json_fields),
    ("partial_decode", partial_decode),
];

/// The fuzzer's bytes: parameter bytes from the front (0 once exhausted),
/// then the rest as the input.
pub(crate) struct Data<'a>(&'a [u8]);

impl<'a> Data<'a> {
    pub(crate) fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    pub(crate) fn rest(self) -> &'a [u8] {
        self.0
    }
}

/// The records of `input` as newline-terminated lines: LF ends a record, a
/// CR before it is dropped, a last line without LF is a record.
pub(crate) fn reference_lines(input: &[u8]) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    if out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    out.into_iter().map(|l| l.strip_suffix(b"\r").unwrap_or(l)).collect()
}
