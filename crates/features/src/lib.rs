//! Per-key feature tables from large record files.
//!
//! The crate's first job is the One Billion Row Challenge preset, [`Brc`]:
//! `station;temperature` lines to min, mean and max per station, printed in
//! the official format ([`BrcResult::to_official`]) or as an Arrow batch
//! ([`BrcResult::to_record_batch`]). It runs on the
//! [`Runner`](pagemill_engine::Runner) like every pagemill job.
//!
//! # Example
//!
//! ```
//! use pagemill_engine::Runner;
//! use pagemill_features::Brc;
//! use pagemill_mmap::Source;
//!
//! # fn main() -> Result<(), pagemill_engine::Error> {
//! let input = Source::from_bytes("m.txt", b"Oslo;-3.5\nLima;20.0\nOslo;0.4\nbroken line\n".to_vec());
//! let outcome = Runner::new().run(&Brc::new(), &[input])?;
//! assert_eq!(outcome.output.to_official(), "{Lima=20.0/20.0/20.0, Oslo=-3.5/-1.5/0.4}\n");
//! assert_eq!(outcome.malformed.count("missing-separator"), 1);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod brc;
mod table;

pub use crate::brc::{Brc, BrcPartial, BrcResult, BrcStats, StationStats};
