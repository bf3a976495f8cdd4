//! Persisted partial results: a [`LogPartial`] as an Arrow record batch that
//! `pagemill merge` can read back, merge with the partials of other inputs or
//! runs, and finish into the report one run over all the inputs would give.
//!
//! # The partial schema (`logs/1`)
//!
//! One row per group, in the partial's raw-key order (sorted by `key`).
//! Columns, always all of them, in this order:
//!
//! | column | type | content |
//! |---|---|---|
//! | group fields | as in [`schema_of`] | readable only: the group values decoded as in the report (ignored when read back) |
//! | `key` | Binary | the exact raw group key (below) |
//! | `requests`, `bytes`, `err4`, `err5` | UInt64 | requests, byte sum, 4xx and 5xx responses |
//! | `first_seen_us`, `last_seen_us` | Int64, nullable | earliest and latest time, µs since the epoch (null: no time seen) |
//! | `latency` | Binary | request times (below) |
//! | `latency_max_us` | UInt64, nullable | exact largest request time (null: none) |
//! | `distinct_ips` | Binary | client-address hashes or sketch (below) |
//! | `top_<field>` | Binary | one per `--top` request, in order: the group's value counts (below) |
//!
//! Binary cells (all integers little-endian; Binary, LargeBinary and
//! BinaryView columns are all read):
//!
//! * a key part is a tag byte: `0` null; `1` bytes, then a u64 length and
//!   the raw bytes (as logged, escapes not decoded); `2` integer, then an
//!   i64 (status, status class, or time-bucket start in µs). `key` is the
//!   group's parts, one per group-by field (empty without group-by).
//! * `latency`: tag `0`, a u64 count `n`, then the `n` raw values, u64 µs
//!   each, in no order (at most 16,384 values; readers accept more).
//!   Writers may round a value down to the lowest value of its bucket at 5
//!   significant digits (values below 262,144 µs are kept as they are):
//!   every HdrHistogram of 1 to 5 digits files both alike, so no quantile
//!   changes. The largest raw value equals `latency_max_us`, the exact
//!   maximum (readers accept any value of its bucket). Or tag `1`, a u64 count `n`,
//!   then `n` `(value, count)` u64 pairs, values strictly ascending, one per
//!   non-empty HdrHistogram bucket (the bucket's highest equivalent value),
//!   which rebuild a histogram with the same counts per bucket and so the
//!   same quantiles. `latency_max_us` keeps the exact maximum.
//! * `distinct_ips`: tag `0`, a u64 count `n`, then the `n` exact, strictly
//!   ascending u64 address hashes (at most the exact limit); or tag `1`, a
//!   u64 length, then an Apache DataSketches HLL sketch image of that length
//!   (`HllSketch::serialize`, Hll8, lg_k of the spec; its estimator state
//!   taken from the registers, so that the bytes do not depend on the
//!   order the addresses came in: `pagemill_sketch::write_hll`).
//! * `top_<field>`: `(key part, u64 count)` entries, parts strictly
//!   ascending, counts summing to the group's `requests`.
//!
//! Schema metadata: [`PARTIAL_KEY`] = [`PARTIAL_KIND`]; [`PARTIAL_SPEC_KEY`]
//! = the query, one `name value` line each (values escape `\` `\n` `\r`
//! with a backslash): `format` (preset name or format string), `syntax`
//! (`apache`, `nginx` or `json`), `escapes` (`log` or `json`), `json-field
//! TARGET UNIT PATH` (JSON formats, one per key path, in priority order),
//! `group-by`, `metrics`, `tops` (comma-separated; tops as `K:FIELD`),
//! `bucket` (seconds), `sigfig`, `exact-limit`, `lg-k`, `filter` (one per
//! `--where`, as written), `since`/`until` (µs) when set, and `rules 5`
//! (the query rules; partials of earlier releases have an older number or
//! none, and are read unless their query meant something else then);
//! [`PARTIAL_TOTALS_KEY`] = `lines=N parsed=N matched=N`. Rejected lines
//! are not kept.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::BinaryBuilder;
use arrow_array::{
    Array, ArrayRef, BinaryArray, BinaryViewArray, Int64Array, LargeBinaryArray, RecordBatch, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema};
use pagemill_engine::Job;

use crate::error::Error;
use crate::format::{FormatParts, LogFormat};
use crate::job::{LogJob, LogPartial, Top, Totals};
use crate::json::JsonTarget;
use crate::keys::{KeyRef, Keys, Part, Table};
use crate::output::{self, LogReport, schema_of};
use crate::query::{Bucket, GroupField, Metric};
use crate::record::{Escapes, TimeUnit};
use crate::sketch::{Distinct, GroupAcc, Latency, Settings, latency_key, latency_of_key};

pub use pagemill_engine::{PARTIAL_KEY, PARTIAL_SPEC_KEY};
/// The value of [`PARTIAL_KEY`] for logs partials.
pub const PARTIAL_KIND: &str = "logs/1";
/// Schema metadata key of a logs partial's line counts.
pub const PARTIAL_TOTALS_KEY: &str = "pagemill.partial.totals";

const PART_NULL: u8 = 0;
const PART_BYTES: u8 = 1;
const PART_INT: u8 = 2;
const LATENCY_RAW: u8 = 0;
const LATENCY_HIST: u8 = 1;
const DISTINCT_EXACT: u8 = 0;
const DISTINCT_HLL: u8 = 1;

// ---------------------------------------------------------------- spec text

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            other => return Err(format!("bad escape \\{}", other.map(String::from).unwrap_or_default())),
        }
    }
    Ok(out)
}

fn unit_name(unit: TimeUnit) -> &'static str {
    match unit {
        TimeUnit::Seconds => "s",
        TimeUnit::Millis => "ms",
        TimeUnit::Micros => "us",
        TimeUnit::Nanos => "ns",
    }
}

fn unit_from(name: &str) -> Option<TimeUnit> {
    Some(match name {
        "s" => TimeUnit::Seconds,
        "ms" => TimeUnit::Millis,
        "us" => TimeUnit::Micros,
        "ns" => TimeUnit::Nanos,
        _ => return None,
    })
}

fn escapes_name(escapes: Escapes) -> &'static str {
    match escapes {
        Escapes::Log => "log",
        Escapes::Json => "json",
    }
}

fn join<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
    items.iter().map(f).collect::<Vec<_>>().join(",")
}

fn top_text(t: &Top) -> String {
    format!("{}:{}", t.k, t.field.name())
}

/// The spec lines describing the log format.
fn format_lines(format: &LogFormat) -> Vec<(&'static str, String)> {
    let parts = format.to_parts();
    let mut lines =
        vec![("format", parts.name), ("syntax", parts.syntax), ("escapes", escapes_name(format.escapes()).to_string())];
    for (target, path, unit) in parts.json_fields {
        lines.push(("json-field", format!("{} {} {path}", target.name(), unit_name(unit))));
    }
    lines
}

/// The `pagemill.partial.spec` text of `job`.
fn spec_text(job: &LogJob) -> String {
    let mut lines = format_lines(job.log_format());
    let settings = job.settings();
    lines.push(("group-by", join(job.group_fields(), |f| f.name().to_string())));
    lines.push(("bucket", job.bucket_width().as_seconds().to_string()));
    lines.push(("metrics", join(job.metric_list(), |m| m.name().to_string())));
    lines.push(("tops", join(job.top_list(), top_text)));
    lines.push(("sigfig", settings.sigfig.to_string()));
    lines.push(("exact-limit", settings.exact_limit.to_string()));
    lines.push(("lg-k", settings.lg_k.to_string()));
    for f in job.filter_list() {
        lines.push(("filter", f.text().to_string()));
    }
    let (since, until) = job.time_bounds();
    if let Some(s) = since {
        lines.push(("since", s.to_string()));
    }
    if let Some(u) = until {
        lines.push(("until", u.to_string()));
    }
    lines.push(("rules", RULES.to_string()));
    let mut text = String::new();
    for (name, value) in lines {
        text.push_str(name);
        text.push(' ');
        text.push_str(&escape(&value));
        text.push('\n');
    }
    text
}

/// The query rules a partial was made with (the spec's `rules` line; none
/// in partials of earlier releases). 2: a `status_class` filter compares
/// classes (before, codes: `status_class>=4` kept every status from 4),
/// and of two request-time fields the finest is read (before, the last).
/// 3: in a text `=`/`!=` filter, `\,` is a comma inside a value and `\\`
/// a backslash (before, the list was split at every comma); a time piece
/// before a full time and a date after one are skipped (before, kept: no
/// time, or midnight); an unquoted `X-Forwarded-For` list is one field
/// (before, it ended at its first space). Not marked by the rules, as they
/// depend on the data: a JSON number field holding an object or array is
/// malformed (before, absent), and escaped addresses are counted decoded.
/// 4: an address followed by `:` (`$remote_addr:$remote_port`) ends at the
/// last colon before its port (before, at its first: an IPv6 address was
/// cut after one group). Not marked, as it depends on the data: a user
/// name with spaces after a lone `-` ident is read (before, its line was
/// malformed), and a zone with `-` or `_` (`fe80::1%br-lan:5555`) belongs
/// to its address (before, the address ended at the zone's `-`).
/// 5: a host followed by `:` (Apache's `%v:%p`) ends as an address does
/// (before, at its first colon: an IPv6 host was cut after one group).
/// 6: a user name holding ` [` before the ` [` of the time (`John [ops]
/// Smith`) is read whole (before, it ended at its first ` [`, and its line
/// was malformed, a bad time, where the query read the time). Not marked
/// by the rules, as it depends on the data: a rules 5 partial merges.
const RULES: u32 = 6;

/// Refuse a partial made under rules 4 (or before) whose format those
/// rules read otherwise: a host followed by `:` and a port.
fn check_rules_4(job: &LogJob) -> Result<(), Error> {
    if job.log_format().read_otherwise_before_rules_5() {
        return Err(Error::StalePartial(
            "its log format was read otherwise then (a host followed by ':' and a port ended at the host's \
             first colon)"
                .to_string(),
        ));
    }
    Ok(())
}

/// Refuse a partial made under rules 3 (or before) whose format those
/// rules read otherwise: an address followed by `:` and a port.
fn check_rules_3(job: &LogJob) -> Result<(), Error> {
    if job.log_format().read_otherwise_before_rules_4() {
        return Err(Error::StalePartial(
            "its log format was read otherwise then (an address followed by ':' and a port ended at the \
             address's first colon)"
                .to_string(),
        ));
    }
    Ok(())
}

/// Refuse a partial made under rules 2 (or before) whose query those rules
/// answered differently: a text `=`/`!=` filter with `\,` or `\\`, or a
/// format those releases read otherwise (a time piece before a full time or
/// a date after one, an unquoted `X-Forwarded-For` list).
fn check_rules_2(job: &LogJob) -> Result<(), Error> {
    if let Some(f) = job.filter_list().iter().find(|f| f.escapes_list()) {
        return Err(Error::StalePartial(format!(
            "its filter {:?} split its values at every comma, backslash or not",
            f.text()
        )));
    }
    if job.log_format().read_otherwise_before_rules_3() {
        return Err(Error::StalePartial(
            "its log format was read otherwise then (a time piece before a full time or a date after one, \
             or an unquoted X-Forwarded-For or X-Real-IP field)"
                .to_string(),
        ));
    }
    Ok(())
}

/// Refuse a partial made under rules 1 whose query those rules answered
/// differently: a `status_class` filter on anything but three-digit codes,
/// or a format with two request-time fields.
fn check_rules_1(job: &LogJob) -> Result<(), Error> {
    if let Some(f) = job.filter_list().iter().find(|f| f.compares_classes()) {
        return Err(Error::StalePartial(format!("its filter {:?} compared status codes, not classes", f.text())));
    }
    if job.log_format().latency_fields() > 1 {
        return Err(Error::StalePartial(
            "its log format has two request-time fields, of which the last was read, not the finest".to_string(),
        ));
    }
    Ok(())
}

fn spec_error(line: usize, why: impl std::fmt::Display) -> Error {
    Error::BadPartial(format!("{PARTIAL_SPEC_KEY}, line {line}: {why}"))
}

/// Rebuild a job from its spec text.
fn job_from_spec(text: &str) -> Result<LogJob, Error> {
    const SINGLE: [&str; 13] = [
        "rules",
        "format",
        "syntax",
        "escapes",
        "group-by",
        "bucket",
        "metrics",
        "tops",
        "sigfig",
        "exact-limit",
        "lg-k",
        "since",
        "until",
    ];
    let mut single: HashMap<&str, (usize, String)> = HashMap::new();
    let mut json_fields: Vec<(usize, String)> = Vec::new();
    let mut filters: Vec<(usize, String)> = Vec::new();
    for (n, line) in text.split('\n').enumerate().map(|(n, l)| (n + 1, l)) {
        if line.is_empty() {
            continue;
        }
        let (name, value) = line.split_once(' ').unwrap_or((line, ""));
        let value = unescape(value).map_err(|e| spec_error(n, e))?;
        match name {
            "json-field" => json_fields.push((n, value)),
            "filter" => filters.push((n, value)),
            _ => {
                let Some(&key) = SINGLE.iter().find(|&&k| k == name) else {
                    return Err(spec_error(n, format!("unknown setting {name:?}")));
                };
                if single.insert(key, (n, value)).is_some() {
                    return Err(spec_error(n, format!("{name} given twice")));
                }
            }
        }
    }
    let get = |key: &str| -> Result<(usize, &str), Error> {
        single
            .get(key)
            .map(|(n, v)| (*n, v.as_str()))
            .ok_or_else(|| Error::BadPartial(format!("{PARTIAL_SPEC_KEY}: no {key}")))
    };
    let num = |key: &str| -> Result<u64, Error> {
        let (n, v) = get(key)?;
        v.parse().map_err(|_| spec_error(n, format!("{key} {v:?} is not a number")))
    };
    let list = |key: &str| -> Result<(usize, Vec<&str>), Error> {
        let (n, v) = get(key)?;
        Ok((n, v.split(',').filter(|s| !s.is_empty()).collect()))
    };

    // The log format.
    let (n, name) = get("format")?;
    let (_, syntax) = get("syntax")?;
    let mut parts = FormatParts { name: name.to_string(), syntax: syntax.to_string(), json_fields: Vec::new() };
    for (n, v) in &json_fields {
        let mut it = v.splitn(3, ' ');
        let (Some(target), Some(unit), Some(path)) = (it.next(), it.next(), it.next()) else {
            return Err(spec_error(*n, "expected json-field TARGET UNIT PATH"));
        };
        let target = JsonTarget::from_name(target)
            .filter(|t| t.name() == target)
            .ok_or_else(|| spec_error(*n, format!("unknown JSON target {target:?}")))?;
        let unit = unit_from(unit).ok_or_else(|| spec_error(*n, format!("unknown unit {unit:?}")))?;
        parts.json_fields.push((target, path.to_string(), unit));
    }
    let format = LogFormat::from_parts(&parts).map_err(|e| spec_error(n, e))?;
    let (n, escapes) = get("escapes")?;
    if escapes != escapes_name(format.escapes()) {
        return Err(spec_error(n, format!("escapes {escapes:?} do not fit format {name:?}")));
    }

    let mut job = LogJob::new(format);
    let (n, fields) = list("group-by")?;
    let fields: Vec<GroupField> =
        fields.iter().map(|f| f.parse()).collect::<Result<_, _>>().map_err(|e| spec_error(n, e))?;
    job.group_by(&fields).map_err(|e| spec_error(n, e))?;
    let (n, _) = get("bucket")?;
    let seconds = u32::try_from(num("bucket")?).ok().filter(|&s| s > 0);
    job.bucket(Bucket::seconds(seconds.ok_or_else(|| spec_error(n, "bucket out of range"))?));
    let (n, metrics) = list("metrics")?;
    let metrics: Vec<Metric> =
        metrics.iter().map(|m| m.parse()).collect::<Result<_, _>>().map_err(|e| spec_error(n, e))?;
    job.metrics(&metrics);
    let (n, tops) = list("tops")?;
    for t in tops {
        job.top(t.parse().map_err(|e| spec_error(n, e))?);
    }
    let (n, _) = get("sigfig")?;
    let sigfig = u8::try_from(num("sigfig")?).map_err(|_| spec_error(n, "sigfig out of range"))?;
    job.significant_figures(sigfig).map_err(|e| spec_error(n, e))?;
    let (n, _) = get("lg-k")?;
    let lg_k = u8::try_from(num("lg-k")?).map_err(|_| spec_error(n, "lg-k out of range"))?;
    job.hll_lg_k(lg_k).map_err(|e| spec_error(n, e))?;
    let (n, _) = get("exact-limit")?;
    let limit = usize::try_from(num("exact-limit")?).map_err(|_| spec_error(n, "exact-limit out of range"))?;
    job.distinct_exact_limit(limit);
    for (n, f) in &filters {
        job.filter(f.parse().map_err(|e| spec_error(*n, e))?);
    }
    let bound = |key: &str| -> Result<Option<i64>, Error> {
        match single.get(key) {
            None => Ok(None),
            Some((n, v)) => v.parse().map(Some).map_err(|_| spec_error(*n, format!("{key} {v:?} is not a time"))),
        }
    };
    job.set_time_bounds(bound("since")?, bound("until")?);
    match single.get("rules").map(|(n, v)| (n, v.as_str())) {
        None => {
            check_rules_1(&job)?;
            check_rules_2(&job)?;
            check_rules_3(&job)?;
            check_rules_4(&job)?;
        }
        Some((_, "2")) => {
            check_rules_2(&job)?;
            check_rules_3(&job)?;
            check_rules_4(&job)?;
        }
        Some((_, "3")) => {
            check_rules_3(&job)?;
            check_rules_4(&job)?;
        }
        Some((_, "4")) => check_rules_4(&job)?,
        // Rules 6 changed only how some lines read (see `RULES`).
        Some((_, "5")) => {}
        Some((_, v)) if v == RULES.to_string() => {}
        Some((n, v)) => return Err(spec_error(*n, format!("rules {v:?}: made by a later pagemill"))),
    }
    Ok(job)
}

/// What differs between the queries of two jobs, as far as merging their
/// partials goes (`since`/`until` may differ), or None. The log format is
/// not compared when `any_format`: for a partial that read no line (an
/// empty log, whose format detection had nothing to look at), it decided
/// nothing. (One of malformed lines only did decide: they are malformed in
/// its format.)
fn spec_diff(a: &LogJob, b: &LogJob, any_format: bool) -> Option<String> {
    let (fa, fb) = (a.log_format(), b.log_format());
    if !any_format && fa.name() != fb.name() {
        // `main` is what `auto` now detects where it detected `combined`.
        let hint = match (fa.name(), fb.name()) {
            ("main", "combined") | ("combined", "main") => {
                " (main reads every field combined does: make both partials with --log-format combined, or both with main)"
            }
            _ => "",
        };
        return Some(format!("log format {:?} vs {:?}{hint}", fa.name(), fb.name()));
    }
    if !any_format && format_lines(fa) != format_lines(fb) {
        let describe = |f: &LogFormat| {
            format_lines(f).iter().skip(1).map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join("; ")
        };
        return Some(format!("log format {:?}: {} vs {}", fa.name(), describe(fa), describe(fb)));
    }
    let bracket = |s: String| format!("[{}]", s.replace(',', ", "));
    let names = |fields: &[GroupField]| bracket(join(fields, |f| f.name().to_string()));
    if a.group_fields() != b.group_fields() {
        return Some(format!("group-by {} vs {}", names(a.group_fields()), names(b.group_fields())));
    }
    if a.bucket_width() != b.bucket_width() {
        return Some(format!("bucket {}s vs {}s", a.bucket_width().as_seconds(), b.bucket_width().as_seconds()));
    }
    let metrics = |m: &[Metric]| bracket(join(m, |m| m.name().to_string()));
    if a.metric_list() != b.metric_list() {
        return Some(format!("metrics {} vs {}", metrics(a.metric_list()), metrics(b.metric_list())));
    }
    if a.top_list() != b.top_list() {
        let tops = |t: &[Top]| bracket(join(t, top_text));
        return Some(format!("top {} vs {}", tops(a.top_list()), tops(b.top_list())));
    }
    let (sa, sb) = (a.settings(), b.settings());
    if sa.sigfig != sb.sigfig {
        return Some(format!("significant figures {} vs {}", sa.sigfig, sb.sigfig));
    }
    if sa.exact_limit != sb.exact_limit {
        return Some(format!("distinct exact limit {} vs {}", sa.exact_limit, sb.exact_limit));
    }
    if sa.lg_k != sb.lg_k {
        return Some(format!("HyperLogLog lg_k {} vs {}", sa.lg_k, sb.lg_k));
    }
    let filters = |j: &LogJob| j.filter_list().iter().map(|f| format!("{:?}", f.text())).collect::<Vec<_>>();
    if filters(a) != filters(b) {
        return Some(format!("filters [{}] vs [{}]", filters(a).join(", "), filters(b).join(", ")));
    }
    None
}

// ----------------------------------------------------------- binary cells

fn put_part(out: &mut Vec<u8>, part: Part<'_>) {
    match part {
        Part::Null => out.push(PART_NULL),
        Part::Bytes(b) => {
            out.push(PART_BYTES);
            out.extend_from_slice(&(b.len() as u64).to_le_bytes());
            out.extend_from_slice(b);
        }
        Part::Int(v) => {
            out.push(PART_INT);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

fn put_latency(out: &mut Vec<u8>, latency: &Latency) {
    match latency.histogram() {
        None => {
            out.push(LATENCY_RAW);
            let mut raw = latency.raw();
            out.extend_from_slice(&(raw.len() as u64).to_le_bytes());
            // The first value of the largest bucket (the maximum's) is
            // written as the exact maximum, so the largest raw value equals
            // `latency_max_us` (readers before bucket rounding required it).
            // In ascending order: a group's values come in the order its
            // chunks were merged or folded, which scheduling may change.
            raw.sort_unstable();
            let mut top = latency.max().map(|m| (latency_of_key(latency_key(m)), m));
            for v in raw {
                let v = match top {
                    Some((low, max)) if v == low => {
                        top = None;
                        max
                    }
                    _ => v,
                };
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        Some(h) => {
            debug_assert!(latency.raw().is_empty(), "a histogram holds every value");
            out.push(LATENCY_HIST);
            let pairs: Vec<(u64, u64)> =
                h.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect();
            out.extend_from_slice(&(pairs.len() as u64).to_le_bytes());
            for (v, n) in pairs {
                out.extend_from_slice(&v.to_le_bytes());
                out.extend_from_slice(&n.to_le_bytes());
            }
        }
    }
}

fn put_distinct(out: &mut Vec<u8>, distinct: &Distinct) {
    match distinct {
        Distinct::Exact(_) | Distinct::One(_) => {
            let hashes = distinct.exact();
            out.push(DISTINCT_EXACT);
            out.extend_from_slice(&(hashes.len() as u64).to_le_bytes());
            for h in hashes {
                out.extend_from_slice(&h.to_le_bytes());
            }
        }
        Distinct::Sketch(s) => {
            out.push(DISTINCT_HLL);
            let image = pagemill_sketch::write_hll(s, s.lg_config_k());
            out.extend_from_slice(&(image.len() as u64).to_le_bytes());
            out.extend_from_slice(&image);
        }
    }
}

/// Reads a binary cell; every read checks the length.
struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.b.len() < n {
            return Err(format!("truncated: {} more bytes needed, {} left", n, self.b.len()));
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    fn is_empty(&self) -> bool {
        self.b.is_empty()
    }

    /// A u64 count `n`, then `n` items of `size` bytes: the rest of the cell.
    fn counted(&mut self, size: usize) -> Result<&'a [u8], String> {
        let n = self.u64()?;
        let len = usize::try_from(n).ok().and_then(|n| n.checked_mul(size));
        if len != Some(self.b.len()) {
            return Err(format!("{n} items of {size} bytes in {} bytes", self.b.len()));
        }
        Ok(std::mem::take(&mut self.b))
    }

    /// A u64 count `n`, then `n` u64s: the rest of the cell.
    fn u64s(&mut self) -> Result<Vec<u64>, String> {
        Ok(self.counted(8)?.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))).collect())
    }

    fn part(&mut self) -> Result<Part<'a>, String> {
        match self.u8()? {
            PART_NULL => Ok(Part::Null),
            PART_BYTES => {
                let len = self.u64()?;
                let len = usize::try_from(len).map_err(|_| format!("text part of {len} bytes"))?;
                Ok(Part::Bytes(self.take(len)?))
            }
            PART_INT => Ok(Part::Int(self.u64()? as i64)),
            tag => Err(format!("unknown key part tag {tag}")),
        }
    }
}

/// Append the key in `cell` to `keys`.
fn read_key(cell: &[u8], keys: &mut Keys) -> Result<(), String> {
    let mut r = Reader { b: cell };
    let arity = keys.arity();
    let parts = (0..arity).map(|_| r.part()).collect::<Result<Vec<_>, _>>()?;
    if !r.is_empty() {
        return Err(format!("{} bytes after the {arity} key parts", r.b.len()));
    }
    keys.push(parts);
    Ok(())
}

fn strictly_ascending<T: Ord>(v: &[T]) -> bool {
    v.windows(2).all(|w| w[0] < w[1])
}

fn read_latency(cell: &[u8], max: Option<u64>, requests: u64, settings: &Settings) -> Result<Latency, String> {
    let mut r = Reader { b: cell };
    let (latency, count) = match r.u8()? {
        LATENCY_RAW => {
            let raw = r.u64s()?;
            if raw.iter().copied().max().map(latency_key) != max.map(latency_key) {
                return Err("latency_max_us is not in the largest raw value's bucket".to_string());
            }
            let n = raw.len() as u64;
            (Latency::from_stored(&raw, max, settings), n)
        }
        LATENCY_HIST => {
            let pairs: Vec<(u64, u64)> = r
                .counted(16)?
                .chunks_exact(16)
                .map(|p| {
                    let (v, n) = p.split_at(8);
                    (
                        u64::from_le_bytes(v.try_into().expect("8 bytes")),
                        u64::from_le_bytes(n.try_into().expect("8 bytes")),
                    )
                })
                .collect();
            if !pairs.windows(2).all(|w| w[0].0 < w[1].0) {
                return Err("histogram values are not strictly ascending".to_string());
            }
            let mut count = 0u64;
            for &(_, n) in &pairs {
                if n == 0 {
                    return Err("a histogram count of 0".to_string());
                }
                count = count.checked_add(n).ok_or("histogram counts overflow")?;
            }
            if count > requests {
                return Err(format!("{count} request times for {requests} requests"));
            }
            let latency = Latency::from_histogram(&pairs, max, settings);
            if let (Some(h), Some(m)) = (latency.histogram(), max)
                && h.max() > h.highest_equivalent(m)
            {
                return Err("latency_max_us is below the histogram's largest value".to_string());
            }
            (latency, count)
        }
        tag => return Err(format!("unknown latency tag {tag}")),
    };
    if count > requests {
        return Err(format!("{count} request times for {requests} requests"));
    }
    if (count > 0) != max.is_some() {
        return Err("latency_max_us does not fit the request times".to_string());
    }
    Ok(latency)
}

fn read_distinct(cell: &[u8], requests: u64, settings: &Settings) -> Result<Distinct, String> {
    let mut r = Reader { b: cell };
    match r.u8()? {
        DISTINCT_EXACT => {
            let hashes = r.u64s()?;
            if !strictly_ascending(&hashes) {
                return Err("address hashes are not strictly ascending".to_string());
            }
            if hashes.len() > settings.exact_limit || hashes.len() as u64 > requests {
                return Err(format!("{} exact address hashes (limit {})", hashes.len(), settings.exact_limit));
            }
            Ok(Distinct::from_unique(hashes, settings))
        }
        DISTINCT_HLL => {
            let image = r.counted(1)?;
            let sketch =
                pagemill_sketch::read_hll(image, settings.lg_k).map_err(|e| format!("{e} (lg_k {})", settings.lg_k))?;
            Ok(Distinct::Sketch(Box::new(sketch)))
        }
        tag => Err(format!("unknown distinct_ips tag {tag}")),
    }
}

/// A group's `(value part, count)` entries of one top field.
fn read_top(cell: &[u8], requests: u64) -> Result<Vec<(Part<'_>, u64)>, String> {
    let mut r = Reader { b: cell };
    let mut entries = Vec::new();
    let mut sum = 0u64;
    while !r.is_empty() {
        let part = r.part()?;
        let n = r.u64()?;
        if n == 0 {
            return Err("a count of 0".to_string());
        }
        sum = sum.checked_add(n).ok_or("counts overflow")?;
        entries.push((part, n));
    }
    if !entries.windows(2).all(|w| w[0].0 < w[1].0) {
        return Err("values are not strictly ascending".to_string());
    }
    if sum != requests {
        return Err(format!("counts sum to {sum}, not to the group's {requests} requests"));
    }
    Ok(entries)
}

// ------------------------------------------------------------ columns

/// A binary column of any Arrow binary layout.
enum Binary<'a> {
    Small(&'a BinaryArray),
    Large(&'a LargeBinaryArray),
    View(&'a BinaryViewArray),
}

impl<'a> Binary<'a> {
    fn get(&self, i: usize) -> Option<&'a [u8]> {
        match self {
            Binary::Small(a) => a.is_valid(i).then(|| a.value(i)),
            Binary::Large(a) => a.is_valid(i).then(|| a.value(i)),
            Binary::View(a) => a.is_valid(i).then(|| a.value(i)),
        }
    }
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef, Error> {
    batch.column_by_name(name).ok_or_else(|| Error::BadPartial(format!("no column {name:?}")))
}

fn wrong_type(name: &str, want: &str, got: &DataType) -> Error {
    Error::BadPartial(format!("column {name:?} is {got}, expected {want}"))
}

fn binary_column<'a>(batch: &'a RecordBatch, name: &str) -> Result<Binary<'a>, Error> {
    let c = column(batch, name)?;
    let any = c.as_any();
    if let Some(a) = any.downcast_ref::<BinaryArray>() {
        Ok(Binary::Small(a))
    } else if let Some(a) = any.downcast_ref::<LargeBinaryArray>() {
        Ok(Binary::Large(a))
    } else if let Some(a) = any.downcast_ref::<BinaryViewArray>() {
        Ok(Binary::View(a))
    } else {
        Err(wrong_type(name, "Binary", c.data_type()))
    }
}

fn u64_column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a UInt64Array, Error> {
    let c = column(batch, name)?;
    c.as_any().downcast_ref().ok_or_else(|| wrong_type(name, "UInt64", c.data_type()))
}

fn i64_column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a Int64Array, Error> {
    let c = column(batch, name)?;
    c.as_any().downcast_ref().ok_or_else(|| wrong_type(name, "Int64", c.data_type()))
}

/// Cell `i` of a non-null binary column.
fn cell<'a>(col: &Binary<'a>, i: usize, name: &str) -> Result<&'a [u8], Error> {
    col.get(i).ok_or_else(|| cell_error(i, name, "null"))
}

fn cell_error(row: usize, column: &str, why: impl std::fmt::Display) -> Error {
    Error::BadPartial(format!("row {row}, column {column:?}: {why}"))
}

fn read_totals(metadata: &HashMap<String, String>) -> Result<Totals, Error> {
    let text = metadata
        .get(PARTIAL_TOTALS_KEY)
        .ok_or_else(|| Error::BadPartial(format!("no {PARTIAL_TOTALS_KEY} metadata")))?;
    let bad = || Error::BadPartial(format!("{PARTIAL_TOTALS_KEY} {text:?}: expected lines=N parsed=N matched=N"));
    let mut values = [None; 3];
    for item in text.split_whitespace() {
        let (name, value) = item.split_once('=').ok_or_else(bad)?;
        let slot = ["lines", "parsed", "matched"].iter().position(|&n| n == name).ok_or_else(bad)?;
        if values[slot].replace(value.parse::<u64>().map_err(|_| bad())?).is_some() {
            return Err(bad());
        }
    }
    let [Some(lines), Some(parsed), Some(matched)] = values else { return Err(bad()) };
    if matched > parsed || parsed > lines {
        return Err(Error::BadPartial(format!("{PARTIAL_TOTALS_KEY} {text:?}: more matched than parsed than read")));
    }
    Ok(Totals { lines, parsed, matched })
}

/// A Binary column of `n` cells, cell `i` written by `f(i, buffer)`.
fn binary_cells(n: usize, mut f: impl FnMut(usize, &mut Vec<u8>)) -> ArrayRef {
    let mut b = BinaryBuilder::new();
    let mut buf = Vec::new();
    for i in 0..n {
        buf.clear();
        f(i, &mut buf);
        b.append_value(&buf);
    }
    Arc::new(b.finish())
}

/// One decoded row (its key is in a [`Keys`] list, at the row's index).
struct Row<'a> {
    acc: GroupAcc,
    tops: Vec<Vec<(Part<'a>, u64)>>,
}

impl LogJob {
    /// The partial state `partial` (from
    /// [`Runner::run_partial`](pagemill_engine::Runner::run_partial) or
    /// [`merge_partial_batches`]) as a record batch that
    /// [`merge_partials`] can merge with others and finish, exactly as if
    /// one run had read every input.
    ///
    /// One row per group, in raw-key order. Columns (all of them, whatever
    /// the metrics):
    ///
    /// * the group columns, named and typed as in [`schema_of`] and
    ///   decoded the same way, for reading only (a value logged with two
    ///   escapings gives two rows here and one in the report);
    /// * `key` (Binary): the raw group key, one part per group field, each a
    ///   tag byte `0` null, `1` bytes (u64 LE length, then the raw bytes),
    ///   `2` integer (i64 LE);
    /// * `requests`, `bytes`, `err4`, `err5` (UInt64);
    /// * `first_seen_us`, `last_seen_us` (Int64 µs, null when no time was
    ///   seen);
    /// * `latency` (Binary): `0`, a u64 LE count, then the raw u64 LE µs
    ///   values (each possibly rounded down within its 5-digit bucket); or `1`, a u64 LE count, then u64 LE `(value, count)` pairs
    ///   of the HdrHistogram's non-empty buckets, values ascending;
    /// * `latency_max_us` (UInt64, null without request times);
    /// * `distinct_ips` (Binary): `0`, a u64 LE count, then the sorted u64
    ///   LE address hashes; or `1`, a u64 LE length, then a serialized
    ///   DataSketches HLL sketch;
    /// * `top_<field>` (Binary) per top request: `(key part, u64 LE count)`
    ///   entries of the group, values ascending.
    ///
    /// Schema metadata: `pagemill.partial` = `logs/1`,
    /// `pagemill.partial.spec` (the query as `name value` lines, see
    /// [`LogJob::from_partial_schema`]) and `pagemill.partial.totals`
    /// (`lines=N parsed=N matched=N`). Rejected lines are not kept.
    pub fn partial_batch(&self, partial: LogPartial) -> RecordBatch {
        let LogPartial { groups, tops, totals, .. } = partial;
        let arity = self.group_fields().len();
        let mut fields: Vec<Field> = schema_of(self).fields()[..arity].iter().map(|f| f.as_ref().clone()).collect();
        let mut columns: Vec<ArrayRef> = output::group_columns(self, groups.keys());

        let n = groups.len();
        let keys = groups.keys();
        let accs = groups.values();
        let mut push = |name: String, data_type: DataType, nullable: bool, column: ArrayRef| {
            fields.push(Field::new(name, data_type, nullable));
            columns.push(column);
        };
        push(
            "key".into(),
            DataType::Binary,
            false,
            binary_cells(n, |i, out| keys.key(i).parts().for_each(|p| put_part(out, p))),
        );
        let uint = |f: fn(&GroupAcc) -> u64| Arc::new(UInt64Array::from_iter_values(accs.iter().map(f)));
        push("requests".into(), DataType::UInt64, false, uint(|g| g.requests));
        push("bytes".into(), DataType::UInt64, false, uint(|g| g.bytes));
        push("err4".into(), DataType::UInt64, false, uint(|g| g.err4));
        push("err5".into(), DataType::UInt64, false, uint(|g| g.err5));
        let first = Int64Array::from_iter(accs.iter().map(|g| (g.first != i64::MAX).then_some(g.first)));
        push("first_seen_us".into(), DataType::Int64, true, Arc::new(first));
        let last = Int64Array::from_iter(accs.iter().map(|g| (g.last != i64::MIN).then_some(g.last)));
        push("last_seen_us".into(), DataType::Int64, true, Arc::new(last));
        push("latency".into(), DataType::Binary, false, binary_cells(n, |i, out| put_latency(out, &accs[i].latency)));
        let max = UInt64Array::from_iter(accs.iter().map(|g| g.latency.max()));
        push("latency_max_us".into(), DataType::UInt64, true, Arc::new(max));
        push(
            "distinct_ips".into(),
            DataType::Binary,
            false,
            binary_cells(n, |i, out| put_distinct(out, &accs[i].distinct)),
        );
        let none = Table::new(arity + 1);
        for (t, counts) in self.top_list().iter().zip(tops.iter().map(Some).chain(std::iter::repeat(None))) {
            let counts: &Table<u64> = counts.unwrap_or(&none);
            let top_key = |j: usize| -> KeyRef<'_> { counts.keys().key(j) };
            // Both lists are sorted by group key: walk them together. (Every
            // top value has its group: nothing is skipped.)
            let mut j = 0;
            let cells = binary_cells(n, |i, out| {
                let key = keys.key(i);
                while j < counts.len() && top_key(j).prefix(arity) < key {
                    j += 1;
                }
                while j < counts.len() && top_key(j).prefix(arity) == key {
                    put_part(out, top_key(j).part(arity));
                    out.extend_from_slice(&counts.values()[j].to_le_bytes());
                    j += 1;
                }
            });
            push(format!("top_{}", t.field.name()), DataType::Binary, false, cells);
        }

        let metadata = HashMap::from([
            (PARTIAL_KEY.to_string(), PARTIAL_KIND.to_string()),
            (PARTIAL_SPEC_KEY.to_string(), spec_text(self)),
            (
                PARTIAL_TOTALS_KEY.to_string(),
                format!("lines={} parsed={} matched={}", totals.lines, totals.parsed, totals.matched),
            ),
        ]);
        let schema = Arc::new(Schema::new(fields).with_metadata(metadata));
        RecordBatch::try_new(schema, columns).expect("columns match the schema by construction")
    }

    /// Rebuild the job that wrote a partial from its schema metadata
    /// (`pagemill.partial.spec`: the log format, group-by fields, bucket,
    /// metrics, tops, sketch settings, filters and time bounds). The job
    /// can merge and finish partials, and also run on logs (filters are
    /// kept as written and parse again), but never collects rejects.
    ///
    /// Fails with [`Error::NotAPartial`] without `pagemill.partial` =
    /// `logs/1`, and [`Error::BadPartial`] for a missing or damaged spec.
    pub fn from_partial_schema(schema: &Schema) -> Result<LogJob, Error> {
        let metadata = schema.metadata();
        match metadata.get(PARTIAL_KEY) {
            None => return Err(Error::NotAPartial(format!("no {PARTIAL_KEY} schema metadata"))),
            Some(kind) if kind != PARTIAL_KIND => {
                return Err(Error::NotAPartial(format!("{PARTIAL_KEY} is {kind:?}, expected {PARTIAL_KIND:?}")));
            }
            Some(_) => {}
        }
        let spec = metadata
            .get(PARTIAL_SPEC_KEY)
            .ok_or_else(|| Error::BadPartial(format!("no {PARTIAL_SPEC_KEY} metadata")))?;
        job_from_spec(spec)
    }

    /// Decode a batch written by [`partial_batch`](LogJob::partial_batch)
    /// for a job with the same query (the time bounds may differ): checks
    /// the metadata, column types and every cell's encoding and counts, and
    /// restores the raw-key order if the rows were reordered. Damage gives
    /// [`Error::BadPartial`], another query [`Error::PartialMismatch`].
    pub fn partial_from_batch(&self, batch: &RecordBatch) -> Result<LogPartial, Error> {
        let schema = batch.schema();
        let written = LogJob::from_partial_schema(&schema)?;
        let totals = read_totals(schema.metadata())?;
        if let Some(diff) = spec_diff(self, &written, totals.lines == 0) {
            return Err(Error::PartialMismatch(diff));
        }
        let settings = *self.settings();
        let arity = self.group_fields().len();

        let key = binary_column(batch, "key")?;
        let requests = u64_column(batch, "requests")?;
        let bytes = u64_column(batch, "bytes")?;
        let err4 = u64_column(batch, "err4")?;
        let err5 = u64_column(batch, "err5")?;
        let first = i64_column(batch, "first_seen_us")?;
        let last = i64_column(batch, "last_seen_us")?;
        let latency = binary_column(batch, "latency")?;
        let latency_max = u64_column(batch, "latency_max_us")?;
        let distinct = binary_column(batch, "distinct_ips")?;
        let top_names: Vec<String> = self.top_list().iter().map(|t| format!("top_{}", t.field.name())).collect();
        let tops = top_names.iter().map(|n| binary_column(batch, n)).collect::<Result<Vec<_>, _>>()?;

        let mut keys = Keys::with_capacity(arity, batch.num_rows(), 0);
        let mut rows: Vec<Option<Row<'_>>> = Vec::with_capacity(batch.num_rows());
        let mut requests_sum = 0u64;
        for i in 0..batch.num_rows() {
            let count = |col: &UInt64Array, name: &str| {
                if col.is_valid(i) { Ok(col.value(i)) } else { Err(cell_error(i, name, "null")) }
            };
            read_key(cell(&key, i, "key")?, &mut keys).map_err(|e| cell_error(i, "key", e))?;
            let n = count(requests, "requests")?;
            let (e4, e5) = (count(err4, "err4")?, count(err5, "err5")?);
            if e4.checked_add(e5).is_none_or(|e| e > n) {
                return Err(cell_error(i, "err4", format!("{e4} 4xx and {e5} 5xx of {n} requests")));
            }
            requests_sum = requests_sum.checked_add(n).ok_or_else(|| cell_error(i, "requests", "overflow"))?;
            let first = first.is_valid(i).then(|| first.value(i));
            let last = last.is_valid(i).then(|| last.value(i));
            match (first, last) {
                (Some(a), Some(b)) if a <= b => {}
                (None, None) => {}
                _ => return Err(cell_error(i, "first_seen_us", "does not fit last_seen_us")),
            }
            let max = latency_max.is_valid(i).then(|| latency_max.value(i));
            let lat = read_latency(cell(&latency, i, "latency")?, max, n, &settings)
                .map_err(|e| cell_error(i, "latency", e))?;
            let dis = read_distinct(cell(&distinct, i, "distinct_ips")?, n, &settings)
                .map_err(|e| cell_error(i, "distinct_ips", e))?;
            let mut row_tops = Vec::with_capacity(tops.len());
            for (col, name) in tops.iter().zip(&top_names) {
                row_tops.push(read_top(cell(col, i, name)?, n).map_err(|e| cell_error(i, name, e))?);
            }
            rows.push(Some(Row {
                acc: GroupAcc {
                    requests: n,
                    bytes: count(bytes, "bytes")?,
                    err4: e4,
                    err5: e5,
                    first: first.unwrap_or(i64::MAX),
                    last: last.unwrap_or(i64::MIN),
                    latency: lat,
                    distinct: dis,
                },
                tops: row_tops,
            }));
        }
        if requests_sum != totals.matched {
            return Err(Error::BadPartial(format!(
                "the groups hold {requests_sum} requests, {PARTIAL_TOTALS_KEY} says {} matched",
                totals.matched
            )));
        }
        let mut order: Vec<usize> = (0..rows.len()).collect();
        if !(1..rows.len()).all(|i| keys.key(i - 1) < keys.key(i)) {
            order.sort_by(|&a, &b| keys.key(a).cmp(&keys.key(b)));
            if let Some(w) = order.windows(2).find(|w| keys.key(w[0]) == keys.key(w[1])) {
                return Err(Error::BadPartial(format!("two rows with the key {:?}", keys.key(w[0]))));
            }
        }
        let mut top_lists: Vec<Table<u64>> = tops.iter().map(|_| Table::new(arity + 1)).collect();
        let mut groups = Table::with_capacity(arity, rows.len(), keys.bytes());
        for i in order {
            let row = rows[i].take().expect("each row once");
            let key = keys.key(i);
            for (list, entries) in top_lists.iter_mut().zip(row.tops) {
                for (part, n) in entries {
                    list.push(key.parts().chain([part]), n);
                }
            }
            groups.push_key(key, row.acc);
        }
        Ok(LogPartial { groups, tops: top_lists, totals, rejects: Vec::new(), fold: None })
    }
}

/// Merge partial batches (from [`LogJob::partial_batch`], e.g. read from
/// the Arrow files of `--partial` runs) into their job and merged partial,
/// for writing a merged partial again or finishing.
///
/// All batches must come from the same query ([`Error::PartialMismatch`]
/// names the first difference); only `since`/`until` may differ, and the
/// returned job's bounds then span them all (unbounded where any is). They
/// are merged in the given order, which does not change the result.
pub fn merge_partial_batches(batches: &[RecordBatch]) -> Result<(LogJob, LogPartial), Error> {
    if batches.is_empty() {
        return Err(Error::BadPartial("no partials to merge".to_string()));
    }
    // The job of the first partial that read a line: one of an empty log (a
    // day's rotated file that got no request) merges with any log format.
    let read = |b: &RecordBatch| partial_lines(b).map(|n| n > 0);
    let mut reference = 0;
    for (i, b) in batches.iter().enumerate() {
        if read(b)? {
            reference = i;
            break;
        }
    }
    let mut job = LogJob::from_partial_schema(&batches[reference].schema())?;
    let (mut since, mut until) = job.time_bounds();
    for (i, b) in batches.iter().enumerate().filter(|&(i, _)| i != reference) {
        let other = LogJob::from_partial_schema(&b.schema())?;
        if let Some(diff) = spec_diff(&job, &other, !read(b)?) {
            return Err(Error::PartialMismatch(format!("{diff} (partials {} and {})", reference + 1, i + 1)));
        }
        let (s, u) = other.time_bounds();
        since = since.zip(s).map(|(a, b)| a.min(b));
        until = until.zip(u).map(|(a, b)| a.max(b));
    }
    let mut merged = job.empty();
    let mut lines = 0u64;
    for (i, b) in batches.iter().enumerate() {
        let p = job.partial_from_batch(b).map_err(|e| match e {
            Error::BadPartial(why) => Error::BadPartial(format!("partial {}: {why}", i + 1)),
            e => e,
        })?;
        // Every count is at most the lines read: if these add up, merging
        // cannot overflow (byte sums saturate, as in a run).
        let overflow = || Error::BadPartial("the partials' counts overflow when added".to_string());
        lines = lines.checked_add(p.totals.lines).ok_or_else(overflow)?;
        merged = job.merge(merged, p);
    }
    job.set_time_bounds(since, until);
    Ok((job, merged))
}

/// How many lines the run that wrote a partial batch read (its
/// [`PARTIAL_TOTALS_KEY`] metadata): 0 for an empty log, whose partial
/// merges with partials of any log format.
pub fn partial_lines(batch: &RecordBatch) -> Result<u64, Error> {
    read_totals(batch.schema().metadata()).map(|t| t.lines)
}

/// Merge partial batches (see [`merge_partial_batches`]) and finish them:
/// the report one run over all their inputs would give, exactly for every
/// metric but `distinct_ips` above the exact limit (a HyperLogLog estimate
/// either way, within its error). The report has no rejects.
pub fn merge_partials(batches: &[RecordBatch]) -> Result<LogReport, Error> {
    let (job, partial) = merge_partial_batches(batches)?;
    Ok(output::finish(&job, partial))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::JsonFields;
    use crate::query::Filter;

    fn round_trip(job: &LogJob) {
        let text = spec_text(job);
        let back = job_from_spec(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(spec_text(&back), text);
        assert_eq!(spec_diff(job, &back, false), None);
        assert_eq!(back.time_bounds(), job.time_bounds());
    }

    #[test]
    fn specs_round_trip() {
        let mut job = LogJob::new(LogFormat::timed());
        round_trip(&job);
        job.group_by(&[GroupField::Time, GroupField::UserAgent])
            .unwrap()
            .bucket(Bucket::seconds(300))
            .metrics(&[Metric::LatencyP99, Metric::Requests])
            .top(Top { k: 7, field: GroupField::Path })
            .top(Top { k: 1, field: GroupField::Time })
            .filter("path~a\\\\b\nc\r".parse::<Filter>().unwrap())
            .filter("status>=500".parse().unwrap())
            .since(-5)
            .until(i64::MAX)
            .distinct_exact_limit(0)
            .hll_lg_k(21)
            .unwrap()
            .significant_figures(5)
            .unwrap();
        round_trip(&job);
        // An nginx format with a literal `%` (FromStr would take it for Apache).
        round_trip(&LogJob::new(LogFormat::nginx("$remote_addr 100% $status \\ x").unwrap()));
        round_trip(&LogJob::new(LogFormat::apache("%h %>s %b $x").unwrap()));
        round_trip(&LogJob::new(LogFormat::common()));
        round_trip(&LogJob::new(LogFormat::json()));
        let mut fields = JsonFields::empty();
        fields.apply("latency=a b.c,d:ns").unwrap().apply("status=s").unwrap();
        round_trip(&LogJob::new(LogFormat::json_with(fields.clone())));
        let back = job_from_spec(&spec_text(&LogJob::new(LogFormat::json_with(fields.clone())))).unwrap();
        assert_eq!(back.log_format().json_fields(), Some(&fields));
        // Other fields: named as differing.
        let diff =
            spec_diff(&LogJob::new(LogFormat::json()), &LogJob::new(LogFormat::json_with(fields)), false).unwrap();
        assert!(diff.starts_with("log format \"json\": "), "{diff}");
    }

    #[test]
    fn bad_specs() {
        let good = spec_text(&LogJob::new(LogFormat::timed()));
        for bad in [
            String::new(),
            good.replace("format timed\n", ""),
            good.replace("format timed", "format nope"),
            good.replace("syntax nginx", "syntax json"),
            good.replace("bucket 3600", "bucket -1"),
            good.replace("metrics requests", "metrics requests,nope"),
            good.replace("format timed", "format a\\qb"),
            format!("{good}json-field ip s x\n"),
            format!("{good}since yesterday\n"),
            format!("{good}filter status~~\n"),
        ] {
            assert!(matches!(job_from_spec(&bad), Err(Error::BadPartial(_))), "{bad}");
        }
    }

    #[test]
    fn escapes_round_trip() {
        for s in ["", "a", "\\", "\\n", "\n\r\\\t", "é \\\\ x"] {
            assert_eq!(unescape(&escape(s)).unwrap(), s);
            assert!(!escape(s).contains('\n'));
        }
        assert!(unescape("a\\").is_err());
        assert!(unescape("\\t").is_err());
    }

    #[test]
    fn cells_round_trip_and_check_their_counts() {
        let s = Settings { sigfig: 3, exact_limit: 4, lg_k: 10 };
        let key = [Part::Null, Part::Bytes(b"/a\xff"), Part::Int(-3)];
        let mut out = Vec::new();
        key.iter().for_each(|&p| put_part(&mut out, p));
        let mut keys = Keys::new(3);
        read_key(&out, &mut keys).unwrap();
        assert_eq!(keys.key(0).parts().collect::<Vec<_>>(), key);
        assert!(read_key(&out, &mut Keys::new(2)).is_err() && read_key(&out, &mut Keys::new(4)).is_err());

        // The last values are rounded within their keys as they are stored.
        let spread: Vec<u64> = (0..5000).map(|i| ((i * 37 % 100_000 + 1) << (i % 20)) + i % 7).collect();
        for values in [
            vec![],
            vec![5, 1, 5],
            vec![262_145, 999_999_999, 7, 999_999_998],
            (0..5000).map(|i| i * 37 % 100_000).collect::<Vec<u64>>(),
            spread,
        ] {
            let l = Latency::from_values(&values, &s);
            let mut out = Vec::new();
            put_latency(&mut out, &l);
            let n = values.len() as u64;
            let max = values.iter().copied().max();
            // Builds before bucket rounding require the largest raw value
            // to be the exact maximum.
            if n > 0 {
                let raw: Vec<u64> =
                    out[9..].chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect();
                assert_eq!(raw.iter().copied().max(), max, "the largest raw value is the exact maximum");
            }
            let mut back = read_latency(&out, max, n, &s).unwrap();
            let mut again = Vec::new();
            put_latency(&mut again, &back);
            assert_eq!(again, out);
            let probe = Latency::probe(&s);
            let qs = [0.5, 0.99, 1.0];
            assert_eq!(back.quantiles(&qs, &probe), Latency::from_values(&values, &s).quantiles(&qs, &probe));
            assert_eq!(back.max(), max);
            if n > 0 {
                assert!(read_latency(&out, max, n - 1, &s).is_err(), "more times than requests");
                assert!(read_latency(&out, None, n, &s).is_err(), "no max");
            } else {
                assert!(read_latency(&out, Some(1), n, &s).is_err(), "a max without times");
            }
        }

        let d = Distinct::from_hashes(vec![9, 3, 3, 7], &s);
        let mut out = Vec::new();
        put_distinct(&mut out, &d);
        assert_eq!(read_distinct(&out, 4, &s).unwrap().count(), 3);
        assert!(read_distinct(&out, 2, &s).is_err(), "more clients than requests");
        let unsorted: Vec<u8> = [&[0u8][..], &2u64.to_le_bytes(), &9u64.to_le_bytes(), &3u64.to_le_bytes()].concat();
        assert!(read_distinct(&unsorted, 4, &s).is_err());
        let big = Distinct::from_hashes((0..100).collect(), &s);
        let mut out = Vec::new();
        put_distinct(&mut out, &big);
        assert_eq!(out[0], DISTINCT_HLL);
        assert_eq!(read_distinct(&out, 100, &s).unwrap().count(), big.count());
        let other = Settings { lg_k: 11, ..s };
        assert!(read_distinct(&out, 100, &other).is_err(), "another lg_k");

        let mut out = Vec::new();
        for (p, n) in [(Part::Null, 2u64), (Part::Int(4), 1)] {
            put_part(&mut out, p);
            out.extend_from_slice(&n.to_le_bytes());
        }
        assert_eq!(read_top(&out, 3).unwrap().len(), 2);
        assert!(read_top(&out, 4).is_err());
        assert!(read_top(&[], 0).unwrap().is_empty());
    }

    #[test]
    fn totals() {
        let md = |v: &str| HashMap::from([(PARTIAL_TOTALS_KEY.to_string(), v.to_string())]);
        assert_eq!(read_totals(&md("matched=1 lines=3 parsed=2")).unwrap(), Totals { lines: 3, parsed: 2, matched: 1 });
        for bad in ["", "lines=3 parsed=2", "lines=3 parsed=2 matched=1 lines=3", "lines=1 parsed=2 matched=1", "x=1"] {
            assert!(read_totals(&md(bad)).is_err(), "{bad}");
        }
    }
}
