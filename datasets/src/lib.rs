//! Deterministic, parallel generators for pagemill's test and benchmark data,
//! and the samples it embeds.
//!
//! * [`Stations`]: the 413 official One Billion Row Challenge weather stations
//!   ([`Stations::official`], embedded from `datasets/stations413.csv`) or a
//!   synthetic set of 10,000 names of 1 to 100 UTF-8 bytes
//!   ([`Stations::synthetic`]).
//! * [`Measurements`]: 1BRC input lines `name;temperature`, one decimal, each
//!   row drawing a uniformly chosen station and a temperature from
//!   N(station mean, 10) rounded to 0.1 and clamped to ±99.9.
//! * [`AccessLog`]: web-server access logs ([`AccessLogFormat`]: `combined`,
//!   `timed` with `$request_time`, nginx-style JSON lines): Zipf-distributed
//!   paths (5,000, a quarter with query strings) and clients (50,000, about
//!   one in seven IPv6), a realistic method and status mix, `-` for empty
//!   bodies, user agents with escaped quotes, log-normal body sizes and
//!   request times (around 40 ms, slower for 5xx).
//! * [`Flights`]: a flights-like CSV with repeated airport keys, delays with
//!   missing values, and quoted notes holding commas, for the features job.
//!
//! Output depends only on the parameters and the seed, never on the thread
//! count: rows are generated in fixed blocks, each from its own seeded
//! generator, and written in block order.
//!
//! # Example
//!
//! ```
//! use pagemill_datasets::{Measurements, Stations};
//!
//! let generator = Measurements::new(Stations::official(), 1000, 42);
//! let mut bytes = Vec::new();
//! generator.write_to(&mut bytes).unwrap();
//! assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 1000);
//! let again = { let mut v = Vec::new(); generator.write_to(&mut v).unwrap(); v };
//! assert_eq!(bytes, again);
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod access_log;
mod flights;
mod measurements;
mod rng;

pub use crate::access_log::{AccessLog, AccessLogFormat};
pub use crate::flights::Flights;
pub use crate::measurements::{Measurements, Stations};
pub use crate::rng::Rng;

/// The official 413 1BRC stations as `name;mean` lines (the file
/// `datasets/stations413.csv`).
pub const STATIONS_413_CSV: &str = include_str!("../stations413.csv");
