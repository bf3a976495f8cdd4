//! Run a map-reduce [`Job`] over the record-aligned chunks of one or more
//! inputs, in parallel, with a deterministic result.
//!
//! A job says how to cut its input ([`Job::format`], a
//! [`RecordFormat`](pagemill_split::RecordFormat)), how to turn one chunk into
//! a partial result ([`Job::map`]), how to merge two partials ([`Job::merge`])
//! and how to finish the merged partial ([`Job::finish`]). The [`Runner`]
//! plans every input's chunks, maps them on a rayon pool and merges the
//! partials along a fixed binary tree over chunk order, so the result does not
//! depend on the thread count or on which thread ran what. If the job's merge
//! is exactly associative (integer counts, min/max, exact sums), it does not
//! depend on the chunk size either. A job whose merge is also commutative
//! says so ([`Job::order_free`]), and then each worker thread folds the
//! chunks it takes into one partial ([`Job::map_into`]) instead of building
//! one per chunk: the logs and 1BRC jobs, whose per-chunk tables of
//! thousands of groups cost more to build and merge than to fill.
//!
//! Along the way the runner reports progress (bytes done of total) to a
//! callback, counts malformed records by kind with the first few samples
//! ([`Malformed`], with byte offset and exact line number), optionally stops at
//! the first malformed record ([`Runner::strict`]), gives back the pages of
//! processed chunks, and checks at the end that no input changed under it.
//!
//! [`CountRecords`] is the simplest job, the one behind `pagemill count`.
//!
//! # Example
//!
//! ```
//! use pagemill_engine::{CountRecords, Runner};
//! use pagemill_mmap::Source;
//! use pagemill_split::Lines;
//!
//! # fn main() -> Result<(), pagemill_engine::Error> {
//! let inputs = vec![
//!     Source::from_bytes("a", b"one\ntwo\nthree\n".to_vec()),
//!     Source::from_bytes("b", b"last line, no newline".to_vec()),
//! ];
//! let outcome = Runner::new().threads(2).chunk_size(4).run(&CountRecords::new(Lines), &inputs)?;
//! assert_eq!(outcome.output, vec![3, 1]);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod count;
mod error;
mod job;
mod malformed;
mod output;
mod runner;

pub use crate::count::CountRecords;
pub use crate::error::Error;
pub use crate::job::{Chunk, Job, PARTIAL_KEY, PARTIAL_SPEC_KEY};
pub use crate::malformed::{Malformed, Sample};
pub use crate::output::{AtomicFile, Temporaries};
pub use crate::runner::{DEFAULT_MAX_GROUPS, Outcome, Progress, Release, Runner};
