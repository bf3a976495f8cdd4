//! Turning the merged partial into an Arrow record batch.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{
    ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray, UInt16Array, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use pagemill_engine::AtomicFile;
use pagemill_mmap::Source;
use rayon::prelude::*;

use crate::error::Error;
use crate::job::{Key, LogJob, LogPartial, OwnedPart, Reject, Totals};
use crate::query::{GroupField, Metric};
use crate::record::{Escapes, decode};
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

/// A decoded key part: text decoded from the log's escapes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Out {
    Null,
    Text(String),
    Int(i64),
}

fn decode_key(key: &Key, escapes: Escapes) -> Vec<Out> {
    key.iter()
        .map(|p| match p {
            OwnedPart::Null => Out::Null,
            OwnedPart::Bytes(b) => Out::Text(decode(b, escapes)),
            OwnedPart::Int(v) => Out::Int(*v),
        })
        .collect()
}

/// Decode keys and combine those that decode to the same text (one value
/// logged with two different escapings), keeping the decoded order.
fn decode_all<T>(items: Vec<(Key, T)>, escapes: Escapes, mut combine: impl FnMut(&mut T, T)) -> Vec<(Vec<Out>, T)> {
    let mut v: Vec<(Vec<Out>, T)> = items.into_iter().map(|(k, t)| (decode_key(&k, escapes), t)).collect();
    // Stable: raw-key order breaks ties, so combining is deterministic.
    v.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<(Vec<Out>, T)> = Vec::with_capacity(v.len());
    for (k, t) in v {
        match out.last_mut() {
            Some((lk, lt)) if *lk == k => combine(lt, t),
            _ => out.push((k, t)),
        }
    }
    out
}

/// The group columns of the report for decoded keys, one row per key.
fn build_group_columns(fields: &[GroupField], keys: &[&[Out]]) -> Vec<ArrayRef> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(fields.len());
    for (i, &field) in fields.iter().enumerate() {
        let col: ArrayRef = match field {
            GroupField::Status => Arc::new(UInt16Array::from_iter(keys.iter().map(|k| match k[i] {
                Out::Int(v) => u16::try_from(v).ok(),
                _ => None,
            }))),
            GroupField::Time => Arc::new(
                TimestampMicrosecondArray::from_iter(keys.iter().map(|k| match k[i] {
                    Out::Int(v) => Some(v),
                    _ => None,
                }))
                .with_timezone("UTC"),
            ),
            _ => Arc::new(StringArray::from_iter(keys.iter().map(|k| text_of(&k[i], field)))),
        };
        columns.push(col);
    }
    columns
}

/// The group columns of a report (as [`schema_of`] types them) for raw,
/// undecoded keys, one row per key, in the given order.
pub(crate) fn group_columns<'k>(job: &LogJob, keys: impl Iterator<Item = &'k Key>) -> Vec<ArrayRef> {
    let escapes = job.log_format().escapes();
    let decoded: Vec<Vec<Out>> = keys.map(|k| decode_key(k, escapes)).collect();
    build_group_columns(job.group_fields(), &decoded.iter().map(|k| &k[..]).collect::<Vec<_>>())
}

fn text_of(part: &Out, field: GroupField) -> Option<String> {
    match (part, field) {
        (Out::Null, _) => None,
        (Out::Text(s), _) => Some(s.clone()),
        (Out::Int(v), GroupField::StatusClass) => Some(format!("{v}xx")),
        (Out::Int(v), GroupField::Time) => Some(format_rfc3339(*v)),
        (Out::Int(v), _) => Some(v.to_string()),
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
    let mut groups = decode_all(partial.groups, escapes, |a, b| a.merge(b, &settings));
    if job.group_fields().is_empty() && groups.is_empty() {
        groups.push((Vec::new(), GroupAcc::default()));
    }
    let arity = job.group_fields().len();
    let mut columns = build_group_columns(job.group_fields(), &groups.iter().map(|(k, _)| &k[..]).collect::<Vec<_>>());
    let qs: Vec<f64> = job.metric_list().iter().filter_map(|m| m.quantile()).collect();
    let quantiles: Vec<Option<Vec<u64>>> = if qs.is_empty() {
        Vec::new()
    } else {
        let mut sorted = qs.clone();
        sorted.sort_by(f64::total_cmp);
        let probe = Latency::probe(&settings);
        // Per group a sort or a histogram walk: spread over the run's threads
        // (Job::finish runs on its pool).
        groups
            .par_iter_mut()
            .map(|(_, g)| {
                let values = g.latency.quantiles(&sorted, &probe)?;
                Some(qs.iter().map(|q| values[sorted.iter().position(|s| s == q).expect("listed")]).collect())
            })
            .collect()
    };
    let mut next_quantile = 0;
    let seen = |t: i64| (t != i64::MAX && t != i64::MIN).then_some(t);
    for &m in job.metric_list() {
        let col: ArrayRef = match m {
            Metric::Requests => Arc::new(UInt64Array::from_iter_values(groups.iter().map(|(_, g)| g.requests))),
            Metric::Bytes => Arc::new(UInt64Array::from_iter_values(groups.iter().map(|(_, g)| g.bytes))),
            Metric::BytesMean => Arc::new(Float64Array::from_iter(
                groups.iter().map(|(_, g)| (g.requests > 0).then(|| g.bytes as f64 / g.requests as f64)),
            )),
            Metric::Error4xxShare => {
                Arc::new(Float64Array::from_iter(groups.iter().map(|(_, g)| share(g.err4, g.requests))))
            }
            Metric::Error5xxShare => {
                Arc::new(Float64Array::from_iter(groups.iter().map(|(_, g)| share(g.err5, g.requests))))
            }
            Metric::LatencyP50 | Metric::LatencyP90 | Metric::LatencyP99 | Metric::LatencyP999 => {
                let k = next_quantile;
                next_quantile += 1;
                Arc::new(Float64Array::from_iter(quantiles.iter().map(|v| v.as_ref().map(|v| v[k] as f64 / 1e6))))
            }
            Metric::LatencyMax => {
                Arc::new(Float64Array::from_iter(groups.iter().map(|(_, g)| g.latency.max().map(|v| v as f64 / 1e6))))
            }
            Metric::DistinctIps => {
                Arc::new(UInt64Array::from_iter_values(groups.iter().map(|(_, g)| g.distinct.count())))
            }
            Metric::FirstSeen => Arc::new(
                TimestampMicrosecondArray::from_iter(groups.iter().map(|(_, g)| seen(g.first))).with_timezone("UTC"),
            ),
            Metric::LastSeen => Arc::new(
                TimestampMicrosecondArray::from_iter(groups.iter().map(|(_, g)| seen(g.last))).with_timezone("UTC"),
            ),
        };
        columns.push(col);
    }
    for (t, counts) in job.top_list().iter().zip(partial.tops) {
        let counts = decode_all(counts, escapes, |a, b| *a += b);
        // Both lists are sorted by group key: walk them together.
        let mut j = 0;
        let mut cells = Vec::with_capacity(groups.len());
        for (key, _) in &groups {
            while j < counts.len() && counts[j].0[..arity] < key[..] {
                j += 1;
            }
            let start = j;
            while j < counts.len() && counts[j].0[..arity] == key[..] {
                j += 1;
            }
            let mut values: Vec<(&Out, u64)> = counts[start..j].iter().map(|(k, n)| (&k[arity], *n)).collect();
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
