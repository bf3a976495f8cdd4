//! Parallel access-log aggregation: parse web-server logs straight from the
//! mapped bytes, group them by any combination of fields, and compute
//! mergeable metrics (counts, bytes, error shares, HdrHistogram latency
//! percentiles, HyperLogLog distinct clients, first and last seen), with
//! results as an Arrow [`RecordBatch`](arrow_array::RecordBatch).
//!
//! * [`LogFormat`]: how lines are read. Presets `common`, `combined`,
//!   `timed` (combined plus nginx `$request_time`), `json` (field names per
//!   [`JsonFields`], with defaults for nginx, Caddy and Traefik), detection
//!   from the first lines ([`LogFormat::detect`]), and custom Apache
//!   (`%h %l %u %t "%r" %>s %b %D`) or nginx (`$remote_addr ... $request_time`)
//!   format strings. Parsing allocates nothing: a [`LogRecord`] holds slices
//!   of the line. Timestamps (`[10/Oct/2000:13:55:36 -0700]`, ISO 8601,
//!   numeric epochs) are parsed by hand to UTC.
//! * [`LogJob`]: a [`pagemill_engine::Job`] with `group_by` ([`GroupField`],
//!   time buckets via [`Bucket`]), [`Metric`]s, [`Top`] values per group,
//!   [`Filter`]s and `since`/`until` bounds. Its output is a [`LogReport`].
//! * [`Redactor`] ([`redact`] module): anonymise client addresses, query
//!   strings and user fields in place, byte for byte and idempotently
//!   ([`Mask`]: `ip`, `ip-hash` with a [`RedactKey`], `query`, `user`).
//! * Malformed lines are reported to the engine's malformed-record account by
//!   kind ([`LineError::kind`]: `empty-line`, `format-mismatch`, `bad-time`,
//!   `bad-status`, `bad-bytes`, `bad-latency`, `bad-json`, and `no-request`
//!   for a JSON line with none of a request's fields), never dropped;
//!   [`write_rejects`] writes them to a file. Timestamps are parsed, and so
//!   can be `bad-time`, only when the query uses time (a `time` group or top
//!   field, `first_seen`/`last_seen`, `since`/`until`): otherwise the field is
//!   located and skipped, as a columnar engine skips unread columns.
//!
//! # Columns
//!
//! Group columns come first, named as the fields: `status` (UInt16),
//! `status_class` (Utf8, `2xx`), `method`, `path`, `uri`, `ip`, `referrer`,
//! `user_agent`, `host` (Utf8, unescaped), `time` (Timestamp µs UTC, bucket
//! start). Then the metrics, named as in [`Metric::name`]: `requests`,
//! `bytes` (UInt64), `bytes_mean`, `error_4xx_share`, `error_5xx_share`,
//! `latency_p50`, `latency_p90`, `latency_p99`, `latency_p999`, `latency_max`
//! (Float64; latencies in seconds, null without request times),
//! `distinct_ips` (UInt64), `first_seen`, `last_seen` (Timestamp µs UTC).
//! Then `top_<field>` (Utf8) for each top request: a JSON array of
//! `[value, count]` pairs, most frequent first. Rows are sorted by the group
//! columns.
//!
//! # Determinism and accuracy
//!
//! Every accumulator merges exactly and in any order, so the report is the
//! same for any thread count, chunk size and input path (mapped, read,
//! stdin). `requests` and `bytes` are exact. Percentiles come from an
//! HdrHistogram over all of a group's request times, within its stated
//! precision (3 significant digits by default: 0.1%), reported as
//! HdrHistogram does: the highest value equivalent to the exact one, so a
//! logged `0.040` may read `0.040031`; `latency_max` is exact.
//! `distinct_ips` is exact up to [`LogJob::distinct_exact_limit`] clients
//! per group (2048 by default; clients are compared by a 64-bit hash of
//! their address) and above it a HyperLogLog estimate (Apache DataSketches,
//! 2^12 registers: about 1.6% relative standard error), computed with the
//! order-independent composite estimator.
//!
//! # Partial results
//!
//! [`LogJob::partial_batch`] saves a run's merged state (from
//! [`Runner::run_partial`](pagemill_engine::Runner::run_partial)) as an
//! Arrow batch instead of finishing it: one row per group with the raw key,
//! the counts and the sketches in binary columns, and the query in the
//! schema metadata (`pagemill.partial` = `logs/1`; the layout is documented
//! on [`LogJob::partial_batch`]). [`merge_partials`] merges such batches
//! from different inputs or runs and finishes them into the report one run
//! over all the inputs gives, in any order: exactly for counts, sums,
//! shares, times and percentiles; HyperLogLog distinct counts are unions
//! of the same sketches, as order-free as within one run (within the
//! sketch's error in any case).
//! [`merge_partial_batches`] returns the merged state to save again, and
//! [`LogJob::from_partial_schema`] rebuilds the query. Partials of
//! different queries are refused ([`Error::PartialMismatch`]), damaged ones
//! are an [`Error::BadPartial`]; only `since`/`until` may differ.
//!
//! ```
//! use pagemill_engine::Runner;
//! use pagemill_logs::{GroupField, LogFormat, LogJob, merge_partials};
//! use pagemill_mmap::Source;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let monday = Source::from_bytes("mon.log", br#"203.0.113.7 - - [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.1" 200 10 "-" "curl" 0.004
//! "#.to_vec());
//! let tuesday = Source::from_bytes("tue.log", br#"203.0.113.8 - - [11/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.1" 500 20 "-" "curl" 0.120
//! "#.to_vec());
//! let mut job = LogJob::new(LogFormat::timed());
//! job.group_by(&[GroupField::Path])?;
//! let runner = Runner::new();
//! let saved = [&monday, &tuesday]
//!     .map(|day| runner.run_partial(&job, std::slice::from_ref(day)).map(|o| job.partial_batch(o.output)));
//! let [mon, tue] = saved;
//! let merged = merge_partials(&[mon?, tue?])?;
//! let whole = runner.run(&job, &[monday, tuesday])?.output;
//! assert_eq!(merged.batch, whole.batch);
//! # Ok(())
//! # }
//! ```
//!
//! # Example
//!
//! ```
//! use arrow_array::{Array, StringArray, UInt64Array};
//! use pagemill_engine::Runner;
//! use pagemill_logs::{GroupField, LogFormat, LogJob, Metric};
//! use pagemill_mmap::Source;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let log = br#"203.0.113.7 - - [10/Oct/2000:13:55:36 -0700] "GET /a?x=1 HTTP/1.1" 200 2326 "-" "curl/8.0" 0.004
//! 2001:db8::1 - - [10/Oct/2000:13:55:37 -0700] "GET /a HTTP/1.1" 404 12 "-" "Mozilla/5.0 \"quoted\"" 0.120
//! 203.0.113.7 - - [10/Oct/2000:13:55:38 -0700] "POST /b HTTP/1.1" 500 - "-" "curl/8.0" 1.5
//! not a log line
//! "#;
//! let inputs = vec![Source::from_bytes("access.log", log.to_vec())];
//! let format = LogFormat::detect(inputs[0].bytes())?;
//! assert_eq!(format.name(), "timed");
//!
//! let mut job = LogJob::new(format);
//! job.group_by(&[GroupField::Path])?.metrics(&[Metric::Requests, Metric::Bytes, Metric::DistinctIps]);
//! let outcome = Runner::new().threads(2).run(&job, &inputs)?;
//! assert_eq!(outcome.malformed.count("format-mismatch"), 1);
//!
//! let batch = &outcome.output.batch;
//! let paths = batch.column_by_name("path").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
//! let requests = batch.column_by_name("requests").unwrap().as_any().downcast_ref::<UInt64Array>().unwrap();
//! let ips = batch.column_by_name("distinct_ips").unwrap().as_any().downcast_ref::<UInt64Array>().unwrap();
//! assert_eq!(paths.value(0), "/a");
//! assert_eq!((requests.value(0), ips.value(0)), (2, 2));
//! assert_eq!(paths.value(1), "/b");
//! assert_eq!(requests.value(1), 1);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod error;
mod format;
mod hash;
mod job;
mod json;
mod keys;
mod output;
mod partial;
mod plan;
mod query;
mod record;
pub mod redact;
mod scan;
mod sketch;
pub mod time;

pub use crate::error::Error;
pub use crate::format::{COMBINED, COMMON, FormatParts, LineParser, LogFormat, MAIN, TIMED, VHOST_COMBINED};
pub use crate::job::{LogJob, LogPartial, MAX_GROUP_FIELDS, Reject, Top, Totals, suggested_chunk_size};
pub use crate::json::{JsonFields, JsonTarget};
pub use crate::output::{LogReport, schema_of, write_rejects};
pub use crate::partial::{
    PARTIAL_KEY, PARTIAL_KIND, PARTIAL_SPEC_KEY, PARTIAL_TOTALS_KEY, merge_partial_batches, merge_partials,
    partial_lines,
};
pub use crate::query::{Bucket, Filter, GroupField, Metric, parse_time_bound};
pub use crate::record::{LineError, LogRecord, TimeUnit};
pub use crate::redact::{Changes, Mask, RedactKey, Redactor};
