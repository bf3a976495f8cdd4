//! pagemill's inputs as [Apache DataFusion](https://datafusion.apache.org)
//! tables, and its sketches as aggregate functions.
//!
//! [`PagemillTable`] is a DataFusion `TableProvider` over access logs (every
//! format `pagemill logs` reads), delimited text, 1BRC lines and fixed-width
//! binary records. Its scans are partitioned by pagemill's record-aligned
//! chunk plan and parse straight from the memory map: only the columns a
//! query uses are parsed, text columns are string views into the mapping,
//! and simple filters drop rows before they are built. Malformed records
//! are counted with samples ([`PagemillTable::take_malformed`]), never
//! silently dropped.
//!
//! [`register_functions`] adds `hdr_quantile` and `hll_distinct`, aggregate
//! functions over pagemill's mergeable HdrHistogram and HyperLogLog
//! sketches, whose partial states are the sketches themselves.
//!
//! A scan is DataFusion's own file scan (`DataSourceExec`) with a
//! [`PagemillSource`] whose "files" are the chunks, so planners that cut
//! scans by file groups (Ballista) cut it too. Tables and scans have byte
//! forms ([`PagemillTable::to_bytes`], [`scan_to_bytes`]) that rebuild them
//! in another process from the same files; `pagemill-ballista`'s codecs
//! send queries to a cluster with them.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//!
//! use datafusion::prelude::SessionContext;
//! use pagemill_datafusion::{PagemillTable, register_functions};
//! use pagemill_logs::LogFormat;
//! use pagemill_mmap::Source;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let log = "\
//! 10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET /a?x=1 HTTP/1.1\" 200 512 \"-\" \"curl\" 0.010
//! 10.0.0.2 - - [10/Oct/2000:13:55:37 -0700] \"GET /a HTTP/1.1\" 500 0 \"-\" \"curl\" 0.250
//! 10.0.0.1 - - [10/Oct/2000:13:55:38 -0700] \"POST /b HTTP/1.1\" 201 64 \"-\" \"curl\" 0.020
//! this line is not a log line
//! ";
//! let input = Source::from_bytes("access.log", log.as_bytes().to_vec());
//! let table = PagemillTable::logs(vec![input], LogFormat::timed())?;
//!
//! let ctx = SessionContext::new();
//! register_functions(&ctx);
//! ctx.register_table("logs", Arc::new(table.clone()))?;
//! let runtime = tokio::runtime::Builder::new_current_thread().build()?;
//! let batches = runtime.block_on(async {
//!     ctx.sql(
//!         "SELECT path, count(*) AS requests, hll_distinct(ip) AS clients, \
//!                 hdr_quantile(latency, 0.99) AS p99 \
//!          FROM logs GROUP BY path ORDER BY path",
//!     )
//!     .await?
//!     .collect()
//!     .await
//! })?;
//! let text = arrow_cast::pretty::pretty_format_batches(&batches)?.to_string();
//! assert!(text.contains("| /a   | 2        | 2       | 0.25 |"), "{text}");
//! assert!(text.contains("| /b   | 1        | 1       | 0.02 |"), "{text}");
//!
//! // The line that is not a log line was counted, not lost.
//! let malformed = table.take_malformed();
//! assert_eq!(malformed.count("format-mismatch"), 1);
//! assert_eq!(malformed.samples()[0].line, 4);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod column;
mod decode;
mod delimited;
mod error;
mod filter;
mod logs;
mod records;
mod source;
mod spec;
mod table;
pub mod udaf;

pub use crate::delimited::DelimitedOptions;
pub use crate::error::Error;
pub use crate::logs::logs_schema;
pub use crate::source::{PagemillSource, is_scan, scan_from_bytes, scan_partitions, scan_to_bytes};
pub use crate::table::PagemillTable;
pub use crate::udaf::{hdr_quantile, hll_distinct, register_functions};
