//! Persisted partials: runs over separate inputs, saved with
//! `LogJob::partial_batch` and merged with `merge_partials`, give the report
//! of one run over all the inputs; damaged or mismatched partials are errors,
//! never panics.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BinaryArray, Int64Array, RecordBatch, UInt64Array};
use arrow_schema::{DataType, Field, Schema};
use pagemill_datasets::{AccessLog, AccessLogFormat};
use pagemill_engine::Runner;
use pagemill_logs::{
    Error, GroupField, JsonFields, LogFormat, LogJob, LogReport, PARTIAL_KEY, PARTIAL_SPEC_KEY, PARTIAL_TOTALS_KEY,
    merge_partial_batches, merge_partials,
};
use pagemill_mmap::Source;

/// A "day" of logs: `rows` lines from `seed`.
fn day(name: &str, rows: u64, format: AccessLogFormat, seed: u64) -> Source {
    let mut v = Vec::new();
    AccessLog::new(rows, format, seed).write_to(&mut v).unwrap();
    Source::from_bytes(name, v)
}

fn three_days(rows: u64, format: AccessLogFormat) -> Vec<Source> {
    (0..3).map(|d| day(&format!("day{d}.log"), rows, format, 1000 + d)).collect()
}

/// Small chunks, so each run merges many chunk partials of its own.
fn runner() -> Runner {
    let mut r = Runner::new();
    r.threads(2).chunk_size(256 << 10);
    r
}

fn partial(job: &LogJob, inputs: &[Source]) -> RecordBatch {
    job.partial_batch(runner().run_partial(job, inputs).unwrap().output)
}

fn whole(job: &LogJob, inputs: &[Source]) -> LogReport {
    runner().run(job, inputs).unwrap().output
}

/// Timed logs, every metric, the top 3 clients, and a small exact limit so
/// that busy groups count clients with HyperLogLog.
fn job(group_by: &[GroupField]) -> LogJob {
    let mut job = LogJob::new(LogFormat::timed());
    job.group_by(group_by).unwrap().top("3:ip".parse().unwrap()).distinct_exact_limit(64);
    job
}

fn binary<'a>(batch: &'a RecordBatch, name: &str) -> &'a BinaryArray {
    batch.column_by_name(name).unwrap().as_any().downcast_ref().unwrap()
}

/// How many cells of a Binary column start with `tag`.
fn tagged(batch: &RecordBatch, name: &str, tag: u8) -> usize {
    let a = binary(batch, name);
    (0..a.len()).filter(|&i| a.value(i).first() == Some(&tag)).count()
}

/// Equal reports; `distinct_ips` equal too, or (HyperLogLog estimates)
/// within 5%.
fn assert_same_report(merged: &LogReport, whole: &LogReport) {
    assert_eq!(merged.totals, whole.totals);
    assert_eq!(merged.batch.schema(), whole.batch.schema());
    assert_eq!(merged.batch.num_rows(), whole.batch.num_rows());
    for (field, (m, w)) in
        whole.batch.schema().fields().iter().zip(merged.batch.columns().iter().zip(whole.batch.columns()))
    {
        if field.name() != "distinct_ips" || m == w {
            assert_eq!(m, w, "column {}", field.name());
            continue;
        }
        let m = m.as_any().downcast_ref::<UInt64Array>().unwrap();
        let w = w.as_any().downcast_ref::<UInt64Array>().unwrap();
        for (a, b) in m.values().iter().zip(w.values()) {
            assert!((*a as f64 - *b as f64).abs() <= 0.05 * *b as f64, "distinct_ips {a} vs {b}");
        }
    }
}

#[test]
fn three_days_merged_equal_one_run_by_path_and_status() {
    let days = three_days(150_000, AccessLogFormat::Timed);
    let job = job(&[GroupField::Path, GroupField::Status]);
    let parts: Vec<RecordBatch> = days.iter().map(|d| partial(&job, std::slice::from_ref(d))).collect();
    // The sketch paths are used: a group with more than 16,384 request times
    // keeps a histogram, busy groups a HyperLogLog.
    for p in &parts {
        assert!(tagged(p, "latency", 1) > 0, "no histogram cell");
        assert!(tagged(p, "distinct_ips", 1) > 0, "no HyperLogLog cell");
        assert!(tagged(p, "latency", 0) > 0 && tagged(p, "distinct_ips", 0) > 0);
    }
    let merged = merge_partials(&parts).unwrap();
    let whole = whole(&job, &days);
    assert!(whole.batch.num_rows() > 1000);
    assert_same_report(&merged, &whole);
    // Merging in another order changes nothing.
    let reversed: Vec<RecordBatch> = parts.iter().rev().cloned().collect();
    assert_same_report(&merge_partials(&reversed).unwrap(), &whole);
    // HyperLogLog unions are order-free: distinct_ips is exact too.
    assert_eq!(merged.batch.column_by_name("distinct_ips"), whole.batch.column_by_name("distinct_ips"));
}

#[test]
fn three_days_merged_equal_one_run_by_time_bucket_and_without_group_by() {
    let days = three_days(12_000, AccessLogFormat::Timed);
    let mut by_time = job(&[GroupField::Time]);
    by_time.bucket("10s".parse().unwrap()).top("2:status".parse().unwrap());
    let mut totals = job(&[]);
    totals.top("5:path".parse().unwrap());
    for job in [by_time, totals] {
        let parts: Vec<RecordBatch> = days.iter().map(|d| partial(&job, std::slice::from_ref(d))).collect();
        let whole = whole(&job, &days);
        assert_same_report(&merge_partials(&parts).unwrap(), &whole);
        assert_eq!(merged_rows(&parts), whole.batch.num_rows());
    }
}

fn merged_rows(parts: &[RecordBatch]) -> usize {
    merge_partials(parts).unwrap().batch.num_rows()
}

#[test]
fn a_merged_partial_can_be_saved_and_merged_again() {
    let days = three_days(5_000, AccessLogFormat::Timed);
    let job = job(&[GroupField::StatusClass, GroupField::Method]);
    let parts: Vec<RecordBatch> = days.iter().map(|d| partial(&job, std::slice::from_ref(d))).collect();
    let (merged_job, merged) = merge_partial_batches(&parts[..2]).unwrap();
    let saved = merged_job.partial_batch(merged);
    let report = merge_partials(&[saved, parts[2].clone()]).unwrap();
    assert_same_report(&report, &whole(&job, &days));
}

#[test]
fn merging_an_empty_partial_changes_nothing() {
    let days = three_days(3_000, AccessLogFormat::Timed);
    for group in [&[GroupField::Path][..], &[]] {
        let job = job(group);
        let empty = partial(&job, &[Source::from_bytes("empty.log", Vec::new())]);
        assert_eq!(empty.num_rows(), 0);
        let full = partial(&job, &days[..1]);
        let alone = merge_partials(std::slice::from_ref(&full)).unwrap();
        assert_same_report(&alone, &whole(&job, &days[..1]));
        assert_same_report(&merge_partials(&[full.clone(), empty.clone()]).unwrap(), &alone);
        assert_same_report(&merge_partials(&[empty.clone(), full]).unwrap(), &alone);
        // Empty alone: as a run over no lines (one zero row without group-by).
        let nothing = merge_partials(&[empty]).unwrap();
        assert_same_report(&nothing, &whole(&job, &[Source::from_bytes("empty.log", Vec::new())]));
    }
}

#[test]
fn round_trip_finishes_like_the_run() {
    // Text and JSON formats (custom JSON fields, filters kept as written).
    let text = day("a.log", 4_000, AccessLogFormat::Timed, 7);
    let json = day("a.json", 4_000, AccessLogFormat::Json, 8);
    let mut fields = JsonFields::default();
    fields.apply("latency=request_time,duration:ms").unwrap();
    let mut json_format = LogFormat::json();
    json_format.set_json_fields(fields).unwrap();
    let mut json_job = LogJob::new(json_format);
    json_job
        .group_by(&[GroupField::Method, GroupField::UserAgent])
        .unwrap()
        .top("2:path".parse().unwrap())
        .filter("path~^/(api|img)\\b".parse().unwrap())
        .filter("status!=404".parse().unwrap())
        .since(0)
        .distinct_exact_limit(16);
    let mut nginx = LogJob::new(
        LogFormat::nginx(r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time"#)
            .unwrap(),
    );
    nginx.group_by(&[GroupField::Host, GroupField::Referrer]).unwrap();
    for (job, input) in [(job(&[GroupField::Uri]), &text), (json_job, &json), (nginx, &text)] {
        let inputs = std::slice::from_ref(input);
        let batch = partial(&job, inputs);
        // The schema rebuilds the job.
        let rebuilt = LogJob::from_partial_schema(&batch.schema()).unwrap();
        assert_same_cells(&rebuilt.partial_batch(rebuilt.partial_from_batch(&batch).unwrap()), &batch);
        let back = job.partial_from_batch(&batch).unwrap();
        let want = whole(&job, inputs);
        assert_same_report(&merge_partials(std::slice::from_ref(&batch)).unwrap(), &want);
        // Re-encoding the decoded partial gives the same batch.
        assert_same_cells(&job.partial_batch(back), &batch);
        // The rebuilt job also runs, with the same result.
        assert_same_report(&whole(&rebuilt, inputs), &want);
        // Rows in another order are put back in key order.
        let n = batch.num_rows();
        let idx = arrow_array::UInt32Array::from_iter_values((0..n as u32).rev());
        let columns: Vec<ArrayRef> = batch.columns().iter().map(|c| arrow_select_take(c, &idx)).collect();
        let reversed = RecordBatch::try_new(batch.schema(), columns).unwrap();
        assert_same_report(&merge_partials(&[reversed]).unwrap(), &want);
    }
}

/// Equal batches, but for HyperLogLog images: a sketch in its small "set"
/// mode serializes its coupons in hash-table order, which a deserialized
/// copy need not keep.
fn assert_same_cells(a: &RecordBatch, b: &RecordBatch) {
    assert_eq!(a.schema(), b.schema());
    for (field, (x, y)) in a.schema().fields().iter().zip(a.columns().iter().zip(b.columns())) {
        if field.name() != "distinct_ips" {
            assert_eq!(x, y, "column {}", field.name());
            continue;
        }
        let (x, y) = (binary(a, "distinct_ips"), binary(b, "distinct_ips"));
        for i in 0..x.len() {
            let (x, y) = (x.value(i), y.value(i));
            assert!(x == y || (x[0] == 1 && y[0] == 1 && x.len() == y.len()), "distinct_ips row {i}");
        }
    }
}

/// `take` without arrow-select: rebuild the column row by row.
fn arrow_select_take(c: &ArrayRef, idx: &arrow_array::UInt32Array) -> ArrayRef {
    use arrow_array::{StringArray, TimestampMicrosecondArray, UInt16Array};
    let rows = idx.values().iter().map(|&i| i as usize);
    let any = c.as_any();
    if let Some(a) = any.downcast_ref::<BinaryArray>() {
        Arc::new(rows.map(|i| a.is_valid(i).then(|| a.value(i))).collect::<BinaryArray>())
    } else if let Some(a) = any.downcast_ref::<UInt64Array>() {
        Arc::new(rows.map(|i| a.is_valid(i).then(|| a.value(i))).collect::<UInt64Array>())
    } else if let Some(a) = any.downcast_ref::<Int64Array>() {
        Arc::new(rows.map(|i| a.is_valid(i).then(|| a.value(i))).collect::<Int64Array>())
    } else if let Some(a) = any.downcast_ref::<StringArray>() {
        Arc::new(rows.map(|i| a.is_valid(i).then(|| a.value(i))).collect::<StringArray>())
    } else if let Some(a) = any.downcast_ref::<UInt16Array>() {
        Arc::new(rows.map(|i| a.is_valid(i).then(|| a.value(i))).collect::<UInt16Array>())
    } else if let Some(a) = any.downcast_ref::<TimestampMicrosecondArray>() {
        Arc::new(
            rows.map(|i| a.is_valid(i).then(|| a.value(i))).collect::<TimestampMicrosecondArray>().with_timezone("UTC"),
        )
    } else {
        panic!("unexpected column type {}", c.data_type())
    }
}

#[test]
fn since_and_until_may_differ_and_span() {
    let days = three_days(2_000, AccessLogFormat::Timed);
    let (mut a, mut b) = (job(&[GroupField::Status]), job(&[GroupField::Status]));
    a.since(10).until(20);
    b.since(5).until(15);
    let (merged_job, merged) = merge_partial_batches(&[partial(&a, &days[..1]), partial(&b, &days[1..2])]).unwrap();
    let saved = merged_job.partial_batch(merged);
    let spec = saved.schema().metadata()[PARTIAL_SPEC_KEY].clone();
    assert!(spec.contains("since 5\n") && spec.contains("until 20\n"), "{spec}");
}

fn mismatch(a: &LogJob, b: &LogJob) -> String {
    let input = day("x.log", 500, AccessLogFormat::Timed, 3);
    let inputs = std::slice::from_ref(&input);
    match merge_partials(&[partial(a, inputs), partial(b, inputs)]) {
        Err(e @ Error::PartialMismatch(_)) => e.to_string(),
        other => panic!("expected a mismatch, got {other:?}"),
    }
}

#[test]
fn mismatched_specs_are_refused() {
    let base = job(&[GroupField::Path]);
    assert_eq!(
        mismatch(&base, &job(&[GroupField::Status])),
        "partials differ: group-by [path] vs [status] (partials 1 and 2)"
    );
    let mut other = base.clone();
    other.distinct_exact_limit(2048);
    assert!(mismatch(&base, &other).contains("distinct exact limit 64 vs 2048"));
    let mut other = base.clone();
    other.metrics(&[pagemill_logs::Metric::Requests]);
    assert!(mismatch(&base, &other).contains("metrics [requests, bytes,"));
    let mut other = base.clone();
    other.top("4:ip".parse().unwrap());
    assert!(mismatch(&base, &other).contains("top [3:ip] vs [4:ip]"));
    let mut other = base.clone();
    other.filter("status=200".parse().unwrap());
    assert!(mismatch(&base, &other).contains("filters [] vs [\"status=200\"]"));
    let mut other = base.clone();
    other.significant_figures(2).unwrap();
    assert!(mismatch(&base, &other).contains("significant figures 3 vs 2"));
    let mut other = LogJob::new(LogFormat::combined());
    other.group_by(&[GroupField::Path]).unwrap().top("3:ip".parse().unwrap()).distinct_exact_limit(64);
    assert!(mismatch(&base, &other).contains("log format \"timed\" vs \"combined\""));
    let mut main = LogJob::new(LogFormat::main());
    main.group_by(&[GroupField::Path]).unwrap().top("3:ip".parse().unwrap()).distinct_exact_limit(64);
    assert!(mismatch(&main, &other).contains("make both partials with --log-format combined"));
    // A partial decoded by a job with another query.
    let input = day("x.log", 100, AccessLogFormat::Timed, 3);
    let p = partial(&base, std::slice::from_ref(&input));
    assert!(matches!(job(&[GroupField::Ip]).partial_from_batch(&p), Err(Error::PartialMismatch(_))));
    assert!(matches!(merge_partials(&[]), Err(Error::BadPartial(_))));
}

#[test]
fn an_empty_log_of_any_format_merges_with_the_others() {
    // A day whose rotated log is empty: format detection had nothing to
    // look at and chose the default.
    let days = three_days(400, AccessLogFormat::Timed);
    let base = job(&[GroupField::Path]);
    let mut default = LogJob::new(LogFormat::combined());
    default.group_by(&[GroupField::Path]).unwrap().top("3:ip".parse().unwrap()).distinct_exact_limit(64);
    let whole = whole(&base, &days);
    for empty in [&b""[..]] {
        let e = partial(&default, &[Source::from_bytes("empty.log", empty.to_vec())]);
        let p = partial(&base, &days);
        for parts in [[e.clone(), p.clone()], [p, e]] {
            let merged = merge_partials(&parts).unwrap();
            assert_eq!(merged.batch, whole.batch, "{:?}", String::from_utf8_lossy(empty));
            assert_eq!(merged.totals.parsed, whole.totals.parsed);
        }
    }
    // Lines that all failed to parse did depend on their format: refused.
    let junk = partial(&default, &[Source::from_bytes("junk.log", b"junk\n\n".to_vec())]);
    let p = partial(&base, &days);
    for parts in [[junk.clone(), p.clone()], [p, junk]] {
        assert!(matches!(merge_partials(&parts), Err(Error::PartialMismatch(_))));
    }
}

/// `batch` as an earlier release wrote it: no `rules` line in its spec.
fn as_earlier_release(batch: &RecordBatch) -> RecordBatch {
    with_rules(batch, "")
}

/// `batch` with its spec's `rules 6` line replaced by `rules` (a whole
/// line, or nothing).
fn with_rules(batch: &RecordBatch, rules: &str) -> RecordBatch {
    let schema = batch.schema();
    let mut metadata = schema.metadata().clone();
    let spec = metadata[PARTIAL_SPEC_KEY].replace("rules 6\n", rules);
    assert_ne!(spec, metadata[PARTIAL_SPEC_KEY], "this release writes its rules");
    metadata.insert(PARTIAL_SPEC_KEY.to_string(), spec);
    let schema = Arc::new(Schema::new(schema.fields().clone()).with_metadata(metadata));
    RecordBatch::try_new(schema, batch.columns().to_vec()).unwrap()
}

#[test]
fn earlier_partials_merge_unless_their_query_meant_something_else() {
    let input = day("x.log", 300, AccessLogFormat::Timed, 3);
    let inputs = std::slice::from_ref(&input);
    let stale = |job: &LogJob| {
        let p = partial(job, inputs);
        let whole = merge_partials(std::slice::from_ref(&p)).unwrap();
        match merge_partials(&[as_earlier_release(&p)]) {
            Ok(merged) => {
                assert_eq!(merged.batch, whole.batch);
                None
            }
            Err(e @ Error::StalePartial(_)) => Some(e.to_string()),
            Err(e) => panic!("{e}"),
        }
    };
    let mut plain = job(&[GroupField::Path]);
    assert_eq!(stale(&plain), None);
    plain.filter("status_class>=400".parse().unwrap());
    assert_eq!(stale(&plain), None, "a code meant the same");
    let mut class = job(&[GroupField::Path]);
    class.filter("status_class>=4".parse().unwrap());
    let why = stale(&class).unwrap();
    assert!(why.contains("\"status_class>=4\" compared status codes, not classes"), "{why}");
    let two = LogFormat::apache(r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i" %D %T"#).unwrap();
    let mut timed = LogJob::new(two);
    timed.group_by(&[GroupField::Path]).unwrap();
    let apache_day = {
        let mut v = Vec::new();
        AccessLog::new(200, AccessLogFormat::Combined, 5).write_to(&mut v).unwrap();
        let text = String::from_utf8(v).unwrap().lines().map(|l| format!("{l} 250000 0\n")).collect::<String>();
        Source::from_bytes("two.log", text.into_bytes())
    };
    let p = partial(&timed, std::slice::from_ref(&apache_day));
    assert!(matches!(merge_partials(&[as_earlier_release(&p)]), Err(Error::StalePartial(_))));

    // Rules 2 split a text list at every comma, `\,` or not.
    let mut list = job(&[GroupField::Path]);
    list.filter(r"user_agent!=a\,b,c".parse().unwrap());
    let p = partial(&list, inputs);
    for earlier in [with_rules(&p, "rules 2\n"), as_earlier_release(&p)] {
        let why = merge_partials(&[earlier]).unwrap_err().to_string();
        assert!(why.contains("split its values at every comma"), "{why}");
    }
    // And formats they read otherwise.
    for fmt in [r#"%h %t %{%F}t "%r" %>s %b"#, r#"%h %{X-Forwarded-For}i %t "%r" %>s %b"#] {
        let mut j = LogJob::new(LogFormat::apache(fmt).unwrap());
        j.group_by(&[GroupField::Status]).unwrap();
        let p = partial(&j, &[Source::from_bytes("e.log", Vec::new())]);
        let why = merge_partials(&[with_rules(&p, "rules 2\n")]).unwrap_err().to_string();
        assert!(why.contains("its log format was read otherwise then"), "{fmt}: {why}");
        assert!(merge_partials(&[p]).is_ok());
    }
    for same in [r#"%h %t "%r" %>s %b "%{X-Forwarded-For}i""#, r#"%h %t "%r" %>s %b %{X-Forwarded-For}i"#] {
        let mut j = LogJob::new(LogFormat::apache(same).unwrap());
        j.group_by(&[GroupField::Status]).unwrap();
        let p = partial(&j, &[Source::from_bytes("e.log", Vec::new())]);
        assert!(merge_partials(&[with_rules(&p, "rules 2\n")]).is_ok(), "{same}: read so before (quoted, or last)");
    }
    // Rules 3 cut an address followed by `:` and a port at its first
    // colon; other formats read the same.
    for fmt in [r#"%a:%{remote}p %t "%r" %>s %b"#, r#"$remote_addr:$remote_port [$time_local] "$request" $status"#] {
        let f = if fmt.starts_with('%') { LogFormat::apache(fmt) } else { LogFormat::nginx(fmt) };
        let mut j = LogJob::new(f.unwrap());
        j.group_by(&[GroupField::Ip]).unwrap();
        let p = partial(&j, &[Source::from_bytes("e.log", Vec::new())]);
        for earlier in ["rules 3\n", "rules 2\n", ""] {
            let why = merge_partials(&[with_rules(&p, earlier)]).unwrap_err().to_string();
            assert!(why.contains("followed by ':' and a port"), "{fmt}: {why}");
        }
        assert!(merge_partials(&[p]).is_ok());
    }
    // Rules 4 cut a host followed by `:` and a port at its first colon.
    for fmt in ["vhost_combined", r#"%v:%p %h %l %u %t "%r" %>s %b"#] {
        let f = if fmt.starts_with('%') { LogFormat::apache(fmt).unwrap() } else { fmt.parse().unwrap() };
        let mut j = LogJob::new(f);
        j.group_by(&[GroupField::Host]).unwrap();
        let p = partial(&j, &[Source::from_bytes("e.log", Vec::new())]);
        for earlier in ["rules 4\n", "rules 3\n", "rules 2\n", ""] {
            let why = merge_partials(&[with_rules(&p, earlier)]).unwrap_err().to_string();
            assert!(why.contains("a host followed by ':' and a port"), "{fmt}: {why}");
        }
        assert!(merge_partials(&[with_rules(&p, "rules 5\n")]).is_ok(), "{fmt}: rules 5 read hosts so");
        assert!(merge_partials(&[p]).is_ok());
    }
    let p = partial(&job(&[GroupField::Ip]), inputs);
    assert!(merge_partials(&[with_rules(&p, "rules 3\n")]).is_ok(), "timed reads as it did");
    assert!(merge_partials(&[with_rules(&p, "rules 4\n")]).is_ok(), "timed reads as it did");
    assert!(merge_partials(&[with_rules(&p, "rules 5\n")]).is_ok(), "rules 6 changed only how some lines read");
    let why = merge_partials(&[with_rules(&p, "rules 7\n")]).unwrap_err().to_string();
    assert!(why.contains("made by a later pagemill"), "{why}");
    let mut plain_list = job(&[GroupField::Path]);
    plain_list.filter("method=GET,HEAD".parse().unwrap());
    let p = partial(&plain_list, inputs);
    let whole = merge_partials(std::slice::from_ref(&p)).unwrap();
    assert_eq!(merge_partials(&[with_rules(&p, "rules 2\n")]).unwrap().batch, whole.batch);
}

/// `batch` with cell `row` of Binary column `name` replaced.
fn with_cell(batch: &RecordBatch, name: &str, row: usize, bytes: &[u8]) -> RecordBatch {
    let a = binary(batch, name);
    let new: BinaryArray = (0..a.len()).map(|i| Some(if i == row { bytes } else { a.value(i) })).collect();
    let at = batch.schema().index_of(name).unwrap();
    let mut columns = batch.columns().to_vec();
    columns[at] = Arc::new(new);
    RecordBatch::try_new(batch.schema(), columns).unwrap()
}

/// `batch` with column `name` replaced by `column` (of any type).
fn with_column(batch: &RecordBatch, name: &str, column: ArrayRef) -> RecordBatch {
    let schema = batch.schema();
    let at = schema.index_of(name).unwrap();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields[at] = Field::new(name, column.data_type().clone(), true);
    let mut columns = batch.columns().to_vec();
    columns[at] = column;
    RecordBatch::try_new(Arc::new(Schema::new(fields).with_metadata(schema.metadata().clone())), columns).unwrap()
}

fn with_metadata(batch: &RecordBatch, f: impl FnOnce(&mut HashMap<String, String>)) -> RecordBatch {
    let schema = batch.schema();
    let mut metadata = schema.metadata().clone();
    f(&mut metadata);
    let schema = Arc::new(Schema::new(schema.fields().clone()).with_metadata(metadata));
    RecordBatch::try_new(schema, batch.columns().to_vec()).unwrap()
}

/// Rows `rows` of a partial, as a partial of their own (totals adjusted).
fn subset(batch: &RecordBatch, rows: &[usize]) -> RecordBatch {
    let idx = arrow_array::UInt32Array::from_iter_values(rows.iter().map(|&i| i as u32));
    let columns: Vec<ArrayRef> = batch.columns().iter().map(|c| arrow_select_take(c, &idx)).collect();
    let part = RecordBatch::try_new(batch.schema(), columns).unwrap();
    let requests = part.column_by_name("requests").unwrap().as_any().downcast_ref::<UInt64Array>().unwrap();
    let n: u64 = requests.values().iter().sum();
    with_metadata(&part, |m| {
        m.insert(PARTIAL_TOTALS_KEY.into(), format!("lines={n} parsed={n} matched={n}"));
    })
}

/// Decoding gives an error or a partial, never a panic, and a partial
/// that decodes also merges and finishes.
fn survives(job: &LogJob, batch: &RecordBatch) {
    if job.partial_from_batch(batch).is_ok() {
        let _ = merge_partials(std::slice::from_ref(batch));
    }
}

fn damaged(batch: &RecordBatch) -> Error {
    merge_partials(std::slice::from_ref(batch)).expect_err("a damaged partial merges")
}

#[test]
fn damaged_partials_are_errors_not_panics() {
    let input = day("d.log", 150_000, AccessLogFormat::Timed, 11);
    let mut job = job(&[GroupField::Path, GroupField::Status]);
    // Sketches in every mode: coupon list or set, and registers.
    job.distinct_exact_limit(8);
    let full = partial(&job, std::slice::from_ref(&input));
    // Damage a few rows only (each try decodes the whole batch): one with a
    // histogram, one more with a sketch, and the first others.
    let first = |name: &str, skip: &[usize]| {
        let a = binary(&full, name);
        (0..a.len()).find(|&i| a.value(i)[0] == 1 && !skip.contains(&i)).unwrap()
    };
    let mut keep = vec![first("latency", &[])];
    keep.push(first("distinct_ips", &keep));
    keep.extend((0..).filter(|i| !keep.contains(i)).take(3).collect::<Vec<_>>());
    keep.sort_unstable();
    let batch = subset(&full, &keep);
    assert_eq!(merge_partials(std::slice::from_ref(&batch)).unwrap().batch.num_rows(), 5);
    let rows: Vec<usize> = (0..5).collect();
    assert!(tagged(&batch, "latency", 1) >= 1 && tagged(&batch, "distinct_ips", 1) >= 2);
    for name in ["key", "latency", "distinct_ips", "top_ip"] {
        for &row in &rows {
            let cell = binary(&batch, name).value(row).to_vec();
            // Every truncation is an error (all lengths, or 60 spread out).
            let step = cell.len().div_ceil(60).max(1);
            for len in (0..cell.len()).step_by(step).chain(cell.len().saturating_sub(9)..cell.len()) {
                let e = job.partial_from_batch(&with_cell(&batch, name, row, &cell[..len])).unwrap_err();
                assert!(matches!(e, Error::BadPartial(_)), "{name} row {row} cut to {len}: {e}");
            }
            // Flipped bytes (at 40 places or all): an error or a result,
            // never a panic.
            for at in (0..cell.len()).step_by(cell.len().div_ceil(40).max(1)).chain(0..9.min(cell.len())) {
                for flip in [0x01, 0xff] {
                    let mut bad = cell.clone();
                    bad[at] ^= flip;
                    survives(&job, &with_cell(&batch, name, row, &bad));
                }
            }
            let mut longer = cell.clone();
            longer.push(0);
            assert!(merge_partials(&[with_cell(&batch, name, row, &longer)]).is_err(), "{name} row {row} longer");
        }
    }
    // An HLL image of consistent length but damaged content.
    let sketches = binary(&batch, "distinct_ips");
    let row = (0..5).max_by_key(|&i| sketches.value(i).len()).unwrap();
    let cell = sketches.value(row).to_vec();
    for cut in [10, 40, 200, cell.len() - 9 - 1] {
        let mut bad = vec![1u8];
        bad.extend_from_slice(&(cut as u64).to_le_bytes());
        bad.extend_from_slice(&cell[9..9 + cut]);
        assert!(merge_partials(&[with_cell(&batch, "distinct_ips", row, &bad)]).is_err(), "image cut to {cut}");
    }
    for at in (9..cell.len()).step_by(37) {
        let mut bad = cell.clone();
        bad[at] = 0xff;
        survives(&job, &with_cell(&batch, "distinct_ips", row, &bad));
    }
    // A register no hash gives (a merge would shift by it): refused.
    assert_eq!(cell[9 + 7] & 3, 2, "the largest sketch holds registers");
    let mut bad = cell.clone();
    *bad.last_mut().unwrap() = 200;
    let e = job.partial_from_batch(&with_cell(&batch, "distinct_ips", row, &bad)).unwrap_err();
    assert!(e.to_string().contains("HyperLogLog register out of range"), "{e}");

    // Wrong types, missing columns, nulls.
    let n = batch.num_rows();
    let e = damaged(&with_column(&batch, "requests", Arc::new(Int64Array::from(vec![1i64; n]))));
    assert!(e.to_string().contains("column \"requests\" is Int64, expected UInt64"), "{e}");
    assert!(matches!(
        damaged(&with_column(&batch, "key", Arc::new(UInt64Array::from(vec![1u64; n])))),
        Error::BadPartial(_)
    ));
    let nulls: UInt64Array = (0..n).map(|i| (i != 1).then_some(1u64)).collect();
    assert!(matches!(damaged(&with_column(&batch, "err4", Arc::new(nulls))), Error::BadPartial(_)));
    let null_key: BinaryArray = (0..n).map(|i| (i != 2).then(|| binary(&batch, "key").value(i))).collect();
    assert!(matches!(damaged(&with_column(&batch, "key", Arc::new(null_key))), Error::BadPartial(_)));
    let mut fields: Vec<Field> = batch.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    let at = batch.schema().index_of("top_ip").unwrap();
    fields.remove(at);
    let mut columns = batch.columns().to_vec();
    columns.remove(at);
    let missing =
        RecordBatch::try_new(Arc::new(Schema::new(fields).with_metadata(batch.schema().metadata().clone())), columns)
            .unwrap();
    assert!(damaged(&missing).to_string().contains("no column \"top_ip\""));
    // Counts that do not add up.
    let requests = batch.column_by_name("requests").unwrap().as_any().downcast_ref::<UInt64Array>().unwrap();
    let more: UInt64Array =
        requests.values().iter().enumerate().map(|(i, &r)| if i == 0 { r + 1 } else { r }).collect();
    assert!(matches!(damaged(&with_column(&batch, "requests", Arc::new(more))), Error::BadPartial(_)));
    // Byte sums near the top of u64 saturate when added, as a run's do.
    let huge = with_column(&batch, "bytes", Arc::new((0..n).map(|_| u64::MAX - 1).collect::<UInt64Array>()));
    let report = merge_partials(&[huge.clone(), huge]).expect("byte sums saturate");
    let bytes = report.batch.column_by_name("bytes").unwrap().as_any().downcast_ref::<UInt64Array>().unwrap();
    assert!(bytes.values().iter().all(|&b| b == u64::MAX));
    // Two rows with one key.
    let key0 = binary(&batch, "key").value(0).to_vec();
    assert!(damaged(&with_cell(&batch, "key", 1, &key0)).to_string().contains("key"));

    // Metadata.
    let no_kind = with_metadata(&batch, |m| {
        m.remove(PARTIAL_KEY);
    });
    assert!(matches!(damaged(&no_kind), Error::NotAPartial(_)));
    let features = with_metadata(&batch, |m| {
        m.insert(PARTIAL_KEY.into(), "features/1".into());
    });
    assert!(damaged(&features).to_string().contains("\"features/1\""));
    for (key, value) in [
        (PARTIAL_SPEC_KEY, None),
        (PARTIAL_SPEC_KEY, Some("format timed\n")),
        (PARTIAL_TOTALS_KEY, None),
        (PARTIAL_TOTALS_KEY, Some("lines=1 parsed=2 matched=0")),
        (PARTIAL_TOTALS_KEY, Some("lines=x")),
    ] {
        let bad = with_metadata(&batch, |m| match value {
            None => {
                m.remove(key);
            }
            Some(v) => {
                m.insert(key.into(), v.into());
            }
        });
        assert!(matches!(damaged(&bad), Error::BadPartial(_)), "{key} = {value:?}");
    }
    let spec = batch.schema().metadata()[PARTIAL_SPEC_KEY].clone();
    for (from, to) in [
        ("group-by path,status", "group-by path,nope"),
        ("sigfig 3", "sigfig 9"),
        ("lg-k 12", "lg-k 300"),
        ("bucket 3600", "bucket 0"),
        ("syntax nginx", "syntax apache"),
        ("escapes log", "escapes json"),
        ("tops 3:ip", "tops 0:ip"),
        ("exact-limit 8", "exact-limit 8\nexact-limit 9"),
        ("lg-k 12", "lg-k 12\nwhatever 1"),
        ("format timed", "format ti\\med"),
    ] {
        assert!(spec.contains(from), "{spec}");
        let bad = with_metadata(&batch, |m| {
            m.insert(PARTIAL_SPEC_KEY.into(), spec.replace(from, to));
        });
        assert!(matches!(damaged(&bad), Error::BadPartial(_)), "{to}");
    }
    // Sanity: the columns this test damages are typed as documented.
    assert_eq!(batch.schema().field_with_name("latency").unwrap().data_type(), &DataType::Binary);
}
