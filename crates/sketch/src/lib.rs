//! Mergeable, deterministic sketches shared by pagemill jobs.
//!
//! * [`Quantiles`]: a value distribution in an HdrHistogram with a stated
//!   precision ([`QuantileConfig::sigfig`] significant decimal digits) and a
//!   value scale for decimals ([`QuantileConfig::scale`]: scale 1000 records
//!   `value * 1000` as an integer). Negative values live in a second
//!   histogram of magnitudes, so any finite value in range can be recorded
//!   without knowing an offset up front. Merging is exact: a merged sketch
//!   answers exactly as one sketch of all the values would.
//! * [`Distinct`]: a distinct count that is exact (a set of 64-bit hashes)
//!   up to [`DistinctConfig::exact_limit`] values and a HyperLogLog
//!   (Apache DataSketches, `lg_k` registers) above it. Its relative standard
//!   error is about `1.04 / sqrt(2^lg_k)` (1.6 % for the default `lg_k` of
//!   12), and 0 while exact, up to 64-bit hash collisions.
//!
//! Both are deterministic: the answer depends only on the multiset (for
//! [`Quantiles`]) or set (for [`Distinct`]) of values added, never on how the
//! values were split into sketches, nor on the order of merges. That is what
//! lets a parallel job cut its input anywhere and still print the same
//! result. [`hash_bytes`] is the stable 64-bit hash [`Distinct::insert`] uses;
//! [`load_word`], the zero-padded load of a short slice that it and the jobs'
//! hash tables read key tails with.
//!
//! # Example
//!
//! ```
//! use pagemill_sketch::{Distinct, DistinctConfig, QuantileConfig, Quantiles};
//!
//! # fn main() -> Result<(), pagemill_sketch::Error> {
//! // Latencies in seconds with millisecond resolution, 3 significant digits.
//! let config = QuantileConfig::new().sigfig(3)?.scale(1000)?;
//! let mut left = Quantiles::new(config);
//! let mut right = Quantiles::new(config);
//! for i in 0..500 {
//!     left.record(f64::from(i) / 100.0)?;
//!     right.record(-f64::from(i) / 100.0)?;
//! }
//! left.merge(&right)?;
//! assert_eq!(left.count(), 1000);
//! assert_eq!(left.quantile(0.0), Some(-4.99));
//! assert_eq!(left.quantile(1.0), Some(4.99));
//! let p75 = left.quantile(0.75).unwrap();
//! assert!((p75 - 2.49).abs() <= 2.49e-3, "{p75}");
//!
//! let mut users = Distinct::new(DistinctConfig::new());
//! for name in ["ann", "bob", "ann", "cy"] {
//!     users.insert(name.as_bytes());
//! }
//! assert_eq!(users.estimate(), 3);
//! assert!(users.is_exact());
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod bytes;
mod distinct;
mod error;
mod hash;
mod quantiles;

pub use crate::distinct::{Distinct, DistinctConfig, read_hll, sorted_union, union_into, write_hll};
pub use crate::error::Error;
pub use crate::hash::{hash_bytes, load_word};
pub use crate::quantiles::{QuantileConfig, Quantiles, nearest_rank};
