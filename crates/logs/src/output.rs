//! Turning the merged partial into an Arrow record batch.

use std::borrow::Cow;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{
    ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray, UInt16Array, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use pagemill_engine::AtomicFile;
use pagemill_mmap::Source;
use rayon::prelude::*;

use crate::error::Error;
use crate::job::{LogJob, LogPartial, Reject, Totals};
use crate::keys::{Keys, Part};
use crate::query::{GroupField, Metric};
use crate::record::{Escapes, decode, has_backslash};
use crate::sketch::{GroupAcc, Latency};
use crate::time::format_rfc3339;

/// The result of a [`LogJob`](crate::LogJob) run.
#[derive(Clone, Debug)]
pub struct LogReport {
    /// One row per group, sorted by the group columns (nulls first; text by
    /// UTF-8 bytes, numbers and times ascending). Without `group_by`, one
    /// row of totals.
    pub batch: RecordBatch,
    /// Lines read, parsed and kept.
    pub totals: Totals,
    /// Rejected (malformed) lines, in input order, when
    /// [`LogJob::collect_rejects`](crate::LogJob::collect_rejects) is on.
    pub rejects: Vec<Reject>,
}

impl LogReport {
    /// The batch's schema.
    pub fn schema(&self) -> SchemaRef {
        self.batch.schema()
    }
}

/// A decoded key part: text decoded from the log's escapes (borrowed from
/// the key where it has none and is valid UTF-8).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Out<'a> {
    Null,
    Text(Cow<'a, str>),
    Int(i64),
}

/// Decoded keys of `arity` parts each, one after another.
struct Decoded<'a> {
    arity: usize,
    len: usize,
    parts: Vec<Out<'a>>,
}

impl<'a> Decoded<'a> {
    /// Key `i`'s parts.
    fn key(&self, i: usize) -> &[Out<'a>] {
        &self.parts[i * self.arity..(i + 1) * self.arity]
    }
}

fn decode_part(part: Part<'_>, escapes: Escapes) -> Out<'_> {
    match part {
        Part::Null => Out::Null,
        Part::Bytes(b) if !has_backslash(b) => Out::Text(String::from_utf8_lossy(b)),
        Part::Bytes(b) => Out::Text(Cow::Owned(decode(b, escapes))),
        Part::Int(v) => Out::Int(v),
    }
}

/// Every key of `keys` decoded, in their order; and whether any text part
/// changed in decoding (an escape, or invalid UTF-8 replaced). Unchanged
/// text orders as its bytes do, so decoded keys keep the raw keys' order
/// and stay distinct unless one changed.
fn decode_keys(keys: &Keys, escapes: Escapes) -> (Decoded<'_>, bool) {
    let parts: Vec<Out<'_>> = keys.iter().flat_map(|k| k.parts()).map(|p| decode_part(p, escapes)).collect();
    let changed = parts.iter().any(|p| matches!(p, Out::Text(Cow::Owned(_))));
    (Decoded { arity: keys.arity(), len: keys.len(), parts }, changed)
}

/// Decode a table's keys and combine those that decode to the same text
/// (one value logged with two different escapings), keeping the decoded
/// order; the values in that order.
fn decode_all<T>(
    keys: &Keys,
    values: Vec<T>,
    escapes: Escapes,
    mut combine: impl FnMut(&mut T, T),
) -> (Decoded<'_>, Vec<T>) {
    let (decoded, changed) = decode_keys(keys, escapes);
    if !changed {
        return (decoded, values);
    }
    // Stable: raw-key order breaks ties, so combining is deterministic.
    let mut order: Vec<usize> = (0..decoded.len).collect();
    order.sort_by(|&a, &b| decoded.key(a).cmp(decoded.key(b)));
    let mut values: Vec<Option<T>> = values.into_iter().map(Some).collect();
    let mut out = Decoded { arity: decoded.arity, len: 0, parts: Vec::with_capacity(decoded.parts.len()) };
    let mut kept: Vec<T> = Vec::with_capacity(values.len());
    for i in order {
        let v = values[i].take().expect("each index once");
        match kept.last_mut() {
            Some(last) if out.key(out.len - 1) == decoded.key(i) => combine(last, v),
            _ => {
                out.parts.extend_from_slice(decoded.key(i));
                out.len += 1;
                kept.push(v);
            }
        }
    }
    (out, kept)
}

/// The group columns of the report for decoded keys, one row per key.
fn build_group_columns(fields: &[GroupField], keys: &Decoded<'_>) -> Vec<ArrayRef> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(fields.len());
    let rows = || (0..keys.len).map(|r| keys.key(r));
    for (i, &field) in fields.iter().enumerate() {
        let col: ArrayRef = match field {
            GroupField::Status => Arc::new(UInt16Array::from_iter(rows().map(|k| match k[i] {
                Out::Int(v) => u16::try_from(v).ok(),
                _ => None,
            }))),
            GroupField::Time => Arc::new(
                TimestampMicrosecondArray::from_iter(rows().map(|k| match k[i] {
                    Out::Int(v) => Some(v),
                    _ => None,
                }))
                .with_timezone("UTC"),
            ),
            _ => {
                let bytes = rows().map(|k| if let Out::Text(t) = &k[i] { t.len() } else { 4 }).sum();
                let mut b = StringBuilder::with_capacity(keys.len, bytes);
                for k in rows() {
                    match text_of(&k[i], field) {
                        Some(t) => b.append_value(t),
                        None => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
        };
        columns.push(col);
    }
    columns
}

/// The group columns of a report (as [`schema_of`] types them) for raw,
/// undecoded keys, one row per key, in their order.
pub(crate) fn group_columns(job: &LogJob, keys: &Keys) -> Vec<ArrayRef> {
    let (decoded, _) = decode_keys(keys, job.log_format().escapes());
    build_group_columns(job.group_fields(), &decoded)
}

fn text_of<'t>(part: &'t Out<'_>, field: GroupField) -> Option<Cow<'t, str>> {
    match (part, field) {
        (Out::Null, _) => None,
        (Out::Text(s), _) => Some(Cow::Borrowed(s)),
        (Out::Int(v), GroupField::StatusClass) => Some(Cow::Owned(format!("{v}xx"))),
        (Out::Int(v), GroupField::Time) => Some(Cow::Owned(format_rfc3339(*v))),
        (Out::Int(v), _) => Some(Cow::Owned(v.to_string())),
    }
}

fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The column type of a group field.
fn group_type(field: GroupField) -> DataType {
    match field {
        GroupField::Status => DataType::UInt16,
        GroupField::Time => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        _ => DataType::Utf8,
    }
}

fn metric_type(metric: Metric) -> DataType {
    match metric {
        Metric::Requests | Metric::Bytes | Metric::DistinctIps => DataType::UInt64,
        Metric::FirstSeen | Metric::LastSeen => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        _ => DataType::Float64,
    }
}

/// The schema a job's report will have: group columns (named as the
/// fields), metric columns (named as the metrics), then one `top_<field>`
/// column per top request.
pub fn schema_of(job: &LogJob) -> SchemaRef {
    let mut fields: Vec<Field> =
        job.group_fields().iter().map(|&f| Field::new(f.name(), group_type(f), true)).collect();
    for &m in job.metric_list() {
        let nullable = !matches!(m, Metric::Requests | Metric::Bytes | Metric::DistinctIps);
        fields.push(Field::new(m.name(), metric_type(m), nullable));
    }
    for t in job.top_list() {
        fields.push(Field::new(format!("top_{}", t.field.name()), DataType::Utf8, false));
    }
    Arc::new(Schema::new(fields))
}

fn share(n: u64, of: u64) -> Option<f64> {
    (of > 0).then(|| n as f64 / of as f64)
}

pub(crate) fn finish(job: &LogJob, partial: LogPartial) -> LogReport {
    let escapes = job.log_format().escapes();
    let settings = *job.settings();
    let (keys, values) = partial.groups.into_parts();
    let (mut decoded, mut groups) = decode_all(&keys, values, escapes, |a, b| a.merge(b, &settings));
    if job.group_fields().is_empty() && groups.is_empty() {
        decoded.len = 1;
        groups.push(GroupAcc::default());
    }
    let arity = job.group_fields().len();
    let mut columns = build_group_columns(job.group_fields(), &decoded);
    let qs: Vec<f64> = job.metric_list().iter().filter_map(|m| m.quantile()).collect();
    // Per group, the values at the sorted quantiles (`sorted.len()` each,
    // in one list), and whether the group has request times.
    let mut sorted = qs.clone();
    sorted.sort_by(f64::total_cmp);
    let (mut quantiles, mut timed) = (vec![0u64; groups.len() * sorted.len()], vec![false; groups.len()]);
    if !qs.is_empty() {
        let probe = Latency::probe(&settings);
        // Per group a sort or a histogram walk: spread over the run's threads
        // (Job::finish runs on its pool).
        groups
            .par_iter_mut()
            .zip(quantiles.par_chunks_mut(sorted.len()))
            .zip(timed.par_iter_mut())
            .for_each(|((g, out), timed)| *timed = g.latency.quantiles_into(&sorted, &probe, out));
    }
    let mut next_quantile = 0;
    let seen = |t: i64| (t != i64::MAX && t != i64::MIN).then_some(t);
    for &m in job.metric_list() {
        let col: ArrayRef = match m {
            Metric::Requests => Arc::new(UInt64Array::from_iter_values(groups.iter().map(|g| g.requests))),
            Metric::Bytes => Arc::new(UInt64Array::from_iter_values(groups.iter().map(|g| g.bytes))),
            Metric::BytesMean => Arc::new(Float64Array::from_iter(
                groups.iter().map(|g| (g.requests > 0).then(|| g.bytes as f64 / g.requests as f64)),
            )),
            Metric::Error4xxShare => {
                Arc::new(Float64Array::from_iter(groups.iter().map(|g| share(g.err4, g.requests))))
            }
            Metric::Error5xxShare => {
                Arc::new(Float64Array::from_iter(groups.iter().map(|g| share(g.err5, g.requests))))
            }
            Metric::LatencyP50 | Metric::LatencyP90 | Metric::LatencyP99 | Metric::LatencyP999 => {
                let k = next_quantile;
                next_quantile += 1;
                let at = sorted.iter().position(|&s| s == qs[k]).expect("listed");
                let stride = sorted.len();
                Arc::new(Float64Array::from_iter(
                    timed.iter().enumerate().map(|(i, &t)| t.then(|| quantiles[i * stride + at] as f64 / 1e6)),
                ))
            }
            Metric::LatencyMax => {
                Arc::new(Float64Array::from_iter(groups.iter().map(|g| g.latency.max().map(|v| v as f64 / 1e6))))
            }
            Metric::DistinctIps => Arc::new(UInt64Array::from_iter_values(groups.iter().map(|g| g.distinct.count()))),
            Metric::FirstSeen => Arc::new(
                TimestampMicrosecondArray::from_iter(groups.iter().map(|g| seen(g.first))).with_timezone("UTC"),
            ),
            Metric::LastSeen => {
                Arc::new(TimestampMicrosecondArray::from_iter(groups.iter().map(|g| seen(g.last))).with_timezone("UTC"))
            }
        };
        columns.push(col);
    }
    for (t, counts) in job.top_list().iter().zip(partial.tops) {
        let (top_keys, top_counts) = counts.into_parts();
        let (top_keys, counts) = decode_all(&top_keys, top_counts, escapes, |a, b| *a += b);
        // Both lists are sorted by group key: walk them together.
        let mut j = 0;
        let mut cells = Vec::with_capacity(groups.len());
        for i in 0..decoded.len {
            let key = decoded.key(i);
            while j < counts.len() && top_keys.key(j)[..arity] < *key {
                j += 1;
            }
            let start = j;
            while j < counts.len() && top_keys.key(j)[..arity] == *key {
                j += 1;
            }
            let mut values: Vec<(&Out<'_>, u64)> = (start..j).map(|j| (&top_keys.key(j)[arity], counts[j])).collect();
            values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
            values.truncate(t.k);
            let mut cell = String::from("[");
            for (n, (v, count)) in values.iter().enumerate() {
                if n > 0 {
                    cell.push(',');
                }
                cell.push('[');
                // A status is a number, as in the status column.
                match (v, t.field) {
                    (Out::Int(code), GroupField::Status) => cell.push_str(&code.to_string()),
                    _ => match text_of(v, t.field) {
                        Some(s) => json_string(&s, &mut cell),
                        None => cell.push_str("null"),
                    },
                }
                cell.push_str(&format!(",{count}]"));
            }
            cell.push(']');
            cells.push(cell);
        }
        columns.push(Arc::new(StringArray::from(cells)));
    }
    let schema = schema_of(job);
    let batch = if columns.is_empty() {
        RecordBatch::new_empty(schema)
    } else {
        RecordBatch::try_new(schema, columns).expect("columns match the schema by construction")
    };
    // Workers fold chunks in the order they take them: rejected lines are
    // listed in input order.
    let mut rejects = partial.rejects;
    rejects.sort_unstable_by_key(|r| (r.input, r.offset));
    LogReport { batch, totals: partial.totals, rejects }
}

/// Write the rejected lines of `report` to `path`, one per line, atomically
/// (the file appears whole or not at all). Returns the number of lines.
pub fn write_rejects(report: &LogReport, inputs: &[Source], path: &Path) -> Result<u64, Error> {
    let mut file = AtomicFile::create(path, inputs).map_err(Error::Rejects)?;
    let io = |source| Error::Rejects(pagemill_engine::Error::Output { path: path.to_path_buf(), source });
    for r in &report.rejects {
        let bytes = inputs.get(r.input).map(Source::bytes).unwrap_or_default();
        let start = r.offset as usize;
        let line = bytes.get(start..start + r.len).unwrap_or_default();
        file.write_all(line).map_err(io)?;
        file.write_all(b"\n").map_err(io)?;
    }
    file.commit().map_err(Error::Rejects)?;
    Ok(report.rejects.len() as u64)
}
