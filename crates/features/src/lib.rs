//! Per-key feature tables from large record files.
//!
//! Two jobs run on the [`Runner`](pagemill_engine::Runner):
//!
//! * [`Features`], the general path: delimited text ([`Dialect`]: CSV with
//!   quotes, TSV, any single-byte delimiter, with or without a header) or
//!   fixed-width binary records ([`Layout`] of [`BinaryField`]s such as
//!   `key:u32@0`), grouped by one or more key columns. Per value column it
//!   computes the [`Agg`]s: count, missing, sum, min, max, mean, sample
//!   variance and standard deviation, first and last, and quantiles (from
//!   an HdrHistogram, [`pagemill_sketch::Quantiles`]); per distinct column a
//!   distinct count ([`pagemill_sketch::Distinct`]: exact, then
//!   HyperLogLog). Set it up with a [`FeatureSpec`]; the result is one Arrow
//!   `RecordBatch`, one row per key, sorted by key.
//! * [`Brc`], the One Billion Row Challenge preset: `station;temperature`
//!   lines to min, mean and max per station, printed in the official format
//!   ([`BrcResult::to_official`]) or as an Arrow batch
//!   ([`BrcResult::to_record_batch`]).
//!
//! [`split_fields`] is the quote-aware field splitter the general path uses.
//!
//! # Example: the general path
//!
//! ```
//! use arrow_array::{Float64Array, StringArray, UInt64Array};
//! use pagemill_engine::Runner;
//! use pagemill_features::{Agg, Dialect, FeatureSpec};
//! use pagemill_mmap::Source;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let csv = "dest,carrier,arr_delay\nSFO,UA,12\nJFK,\"B6, Inc\",-3.5\nSFO,AA,NA\nSFO,UA,30\nJFK,DL,oops\n";
//! let inputs = [Source::from_bytes("flights.csv", csv.as_bytes().to_vec())];
//! let mut spec = FeatureSpec::delimited(Dialect::csv());
//! spec.key("dest").value("arr_delay").distinct("carrier");
//! spec.aggs([Some(Agg::Count), Some(Agg::Missing), Some(Agg::Mean), Some(Agg::Quantile(50.0))]);
//! let job = spec.build(&inputs)?;
//! let outcome = Runner::new().run(&job, &inputs)?;
//! let batch = &outcome.output;
//! let names: Vec<_> = batch.schema().fields().iter().map(|f| f.name().clone()).collect();
//! assert_eq!(names, ["dest", "rows", "arr_delay_count", "arr_delay_missing", "arr_delay_mean", "arr_delay_p50", "carrier_distinct"]);
//! let dest = batch.column(0).as_any().downcast_ref::<StringArray>().unwrap();
//! assert_eq!((dest.value(0), dest.value(1)), ("JFK", "SFO"));
//! let rows = batch.column(1).as_any().downcast_ref::<UInt64Array>().unwrap();
//! assert_eq!(rows.values(), &[1, 3]); // the `oops` row is malformed, not counted
//! let mean = batch.column(4).as_any().downcast_ref::<Float64Array>().unwrap();
//! assert_eq!(mean.value(1), 21.0);
//! let distinct = batch.column(6).as_any().downcast_ref::<UInt64Array>().unwrap();
//! assert_eq!(distinct.values(), &[1, 2]);
//! assert_eq!(outcome.malformed.count("bad-number"), 1);
//! # Ok(())
//! # }
//! ```
//!
//! # Example: the 1BRC preset
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

mod acc;
mod brc;
mod error;
mod field;
mod general;
mod number;
pub mod partial;
mod spec;
mod table;
mod walk;

pub use crate::brc::{BRC_PARTIAL, Brc, BrcPartial, BrcResult, BrcStats, StationStats, parse_tenths};
pub use crate::error::Error;
pub use crate::field::{FieldError, RawField, split_fields, stray_quote_lines};
pub use crate::general::{Features, FeaturesPartial, suggested_chunk_size};
pub use crate::partial::{FEATURES_PARTIAL, PARTIAL_KEY, PARTIAL_SPEC_KEY, merge_partial_batches, merge_partials};
pub use crate::spec::{
    Agg, BinaryField, DEFAULT_NULLS, DEFAULT_QUANTILES, Dialect, FeatureSpec, FieldType, FieldValue, Layout,
};
