//! `to_polars` (feature `polars`): every column type jobs produce survives
//! with equal values, batches are checked against one schema, and real job
//! output converts.
#![cfg(feature = "polars")]

use std::error::Error as _;
use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, DictionaryArray, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
    TimestampMillisecondArray, UInt8Array, UInt16Array, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use pagemill_arrow::polars::prelude::{DataFrame, DataType as PlType, TimeUnit as PlTimeUnit, TimeZone as PlTimeZone};
use pagemill_arrow::{Error, attach_metadata, to_polars};
use pagemill_engine::{Malformed, Runner};
use pagemill_mmap::Source;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn utc(unit: PlTimeUnit) -> PlType {
    PlType::Datetime(unit, Some(PlTimeZone::UTC))
}

/// Every column type jobs produce: text keys, dictionary-encoded keys,
/// `status` (UInt16), counts, signed integers, statistics with nulls and
/// NaN, time buckets in µs (logs) and ms.
fn job_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("host", DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)), true),
        Field::new("status", DataType::UInt16, true),
        Field::new("count", DataType::UInt64, false),
        Field::new("delta", DataType::Int64, true),
        Field::new("mean", DataType::Float64, true),
        Field::new("time", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true),
        Field::new("bucket", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
    ]))
}

struct Rows<'a> {
    keys: Vec<&'a str>,
    hosts: Vec<Option<&'a str>>,
    status: Vec<Option<u16>>,
    counts: Vec<u64>,
    deltas: Vec<Option<i64>>,
    means: Vec<Option<f64>>,
    times: Vec<Option<i64>>,
    buckets: Vec<i64>,
}

fn job_batch(schema: &SchemaRef, rows: Rows<'_>) -> RecordBatch {
    let hosts: DictionaryArray<Int32Type> = rows.hosts.into_iter().collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(rows.keys)),
        Arc::new(hosts),
        Arc::new(UInt16Array::from(rows.status)),
        Arc::new(UInt64Array::from(rows.counts)),
        Arc::new(Int64Array::from(rows.deltas)),
        Arc::new(Float64Array::from(rows.means)),
        Arc::new(TimestampMicrosecondArray::from(rows.times).with_timezone("UTC")),
        Arc::new(TimestampMillisecondArray::from(rows.buckets).with_timezone("UTC")),
    ];
    RecordBatch::try_new(schema.clone(), columns).unwrap()
}

fn first_rows() -> Rows<'static> {
    Rows {
        keys: vec!["plain", "a,b \"quoted\"", "Zürich ☃", ""],
        hosts: vec![Some("web1"), Some("web2"), None, Some("web1")],
        status: vec![Some(200), Some(404), None, Some(u16::MAX)],
        counts: vec![0, 7, u64::MAX, 1],
        deltas: vec![Some(i64::MIN), None, Some(-1), Some(i64::MAX)],
        means: vec![Some(1.5), None, Some(f64::NAN), Some(-0.000123)],
        times: vec![Some(1_700_000_000_123_456), None, Some(0), Some(-86_400_000_000)],
        buckets: vec![1_700_000_000_000, 1_700_000_060_000, 0, -86_400_000],
    }
}

fn second_rows() -> Rows<'static> {
    Rows {
        keys: vec!["tab\there", "last"],
        hosts: vec![Some("web3"), Some("web2")],
        status: vec![Some(500), Some(0)],
        counts: vec![42, 1],
        deltas: vec![Some(0), Some(5)],
        means: vec![Some(f64::INFINITY), Some(1e300)],
        times: vec![Some(1), Some(2_000_000)],
        buckets: vec![1_700_000_120_000, 1],
    }
}

/// Compare every value of `batches` (concatenated) with `df`, column by
/// column, nulls included.
fn assert_same(batches: &[RecordBatch], df: &DataFrame) {
    let schema = batches[0].schema();
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(df.shape(), (rows, schema.fields().len()));
    let names: Vec<&str> = df.get_column_names().iter().map(|n| n.as_str()).collect();
    let expected: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, expected);

    let key = df.column("key").unwrap().str().unwrap();
    let host = df.column("host").unwrap().cast(&PlType::String).unwrap();
    let host = host.str().unwrap();
    let status = df.column("status").unwrap().u16().unwrap();
    let count = df.column("count").unwrap().u64().unwrap();
    let delta = df.column("delta").unwrap().i64().unwrap();
    let mean = df.column("mean").unwrap().f64().unwrap();
    let time = df.column("time").unwrap().datetime().unwrap().physical();
    let bucket = df.column("bucket").unwrap().datetime().unwrap().physical();

    let mut row = 0;
    for batch in batches {
        let col = |name: &str| batch.column_by_name(name).unwrap().clone();
        let keys = col("key");
        let keys = keys.as_any().downcast_ref::<StringArray>().unwrap();
        let hosts = col("host");
        let hosts = hosts.as_any().downcast_ref::<DictionaryArray<Int32Type>>().unwrap();
        let host_values = hosts.values().as_any().downcast_ref::<StringArray>().unwrap().clone();
        let statuses = col("status");
        let statuses = statuses.as_any().downcast_ref::<UInt16Array>().unwrap();
        let counts = col("count");
        let counts = counts.as_any().downcast_ref::<UInt64Array>().unwrap();
        let deltas = col("delta");
        let deltas = deltas.as_any().downcast_ref::<Int64Array>().unwrap();
        let means = col("mean");
        let means = means.as_any().downcast_ref::<Float64Array>().unwrap();
        let times = col("time");
        let times = times.as_any().downcast_ref::<TimestampMicrosecondArray>().unwrap();
        let buckets = col("bucket");
        let buckets = buckets.as_any().downcast_ref::<TimestampMillisecondArray>().unwrap();
        for i in 0..batch.num_rows() {
            let opt = |a: &dyn Array| a.is_valid(i);
            assert_eq!(key.get(row), Some(keys.value(i)), "key, row {row}");
            let h = opt(hosts).then(|| host_values.value(hosts.keys().value(i) as usize));
            assert_eq!(host.get(row), h, "host, row {row}");
            assert_eq!(status.get(row), opt(statuses).then(|| statuses.value(i)), "status, row {row}");
            assert_eq!(count.get(row), Some(counts.value(i)), "count, row {row}");
            assert_eq!(delta.get(row), opt(deltas).then(|| deltas.value(i)), "delta, row {row}");
            match (mean.get(row), opt(means).then(|| means.value(i))) {
                (Some(a), Some(b)) if b.is_nan() => assert!(a.is_nan(), "mean, row {row}: {a} is not NaN"),
                (a, b) => assert_eq!(a.map(f64::to_bits), b.map(f64::to_bits), "mean, row {row}"),
            }
            assert_eq!(time.get(row), opt(times).then(|| times.value(i)), "time, row {row}");
            assert_eq!(bucket.get(row), Some(buckets.value(i)), "bucket, row {row}");
            row += 1;
        }
    }
}

#[test]
fn every_job_column_type_survives_with_its_values() -> TestResult {
    let schema = job_schema();
    let batch = job_batch(&schema, first_rows());
    let df = to_polars(std::slice::from_ref(&batch))?;
    assert_same(&[batch], &df);

    let dtypes: Vec<PlType> = df.columns().iter().map(|c| c.dtype().clone()).collect();
    assert_eq!(dtypes[0], PlType::String);
    assert!(matches!(dtypes[1], PlType::Categorical(..)), "host: {:?}", dtypes[1]);
    assert_eq!(
        dtypes[2..],
        [
            PlType::UInt16,
            PlType::UInt64,
            PlType::Int64,
            PlType::Float64,
            utc(PlTimeUnit::Microseconds),
            utc(PlTimeUnit::Milliseconds),
        ]
    );
    // Nulls stay nulls and NaN stays a value.
    let mean = df.column("mean")?;
    assert_eq!(mean.null_count(), 1);
    assert!(mean.f64()?.get(2).is_some_and(f64::is_nan));
    assert_eq!(df.column("host")?.null_count(), 1);
    assert_eq!(df.column("time")?.null_count(), 1);
    Ok(())
}

#[test]
fn utc_datetimes_print() -> TestResult {
    let schema = job_schema();
    let df = to_polars(&[job_batch(&schema, first_rows())])?;
    // The whole frame prints (with the `timezones` feature of polars)...
    assert!(df.to_string().contains("UTC"));
    // ...and one narrow column unwrapped.
    let shown = df.select(["time"])?.to_string();
    assert!(shown.contains("2023-11-14 22:13:20.123456 UTC"), "{shown}");
    assert!(shown.contains("datetime[μs, UTC]"), "{shown}");
    Ok(())
}

#[test]
fn several_batches_with_their_own_dictionaries_concatenate_in_order() -> TestResult {
    let schema = job_schema();
    let batches = [job_batch(&schema, first_rows()), job_batch(&schema, second_rows())];
    let df = to_polars(&batches)?;
    assert_eq!(df.height(), 6);
    assert_same(&batches, &df);
    Ok(())
}

#[test]
fn zero_row_batches_give_an_empty_frame_with_the_columns() -> TestResult {
    let schema = job_schema();
    let empty = RecordBatch::new_empty(schema.clone());
    let df = to_polars(std::slice::from_ref(&empty))?;
    assert_eq!(df.shape(), (0, 8));
    assert_eq!(df.column("count")?.dtype(), &PlType::UInt64);
    assert_eq!(df.column("time")?.dtype(), &utc(PlTimeUnit::Microseconds));

    let df = to_polars(&[empty.clone(), empty.clone()])?;
    assert_eq!(df.shape(), (0, 8));

    // Empty batches among others add nothing.
    let batches = [empty.clone(), job_batch(&schema, first_rows()), empty, job_batch(&schema, second_rows())];
    let df = to_polars(&batches)?;
    assert_same(&batches, &df);
    Ok(())
}

#[test]
fn no_batches_is_an_error() {
    let err = to_polars(&[]).unwrap_err();
    assert!(matches!(err, Error::NoBatches), "{err:?}");
    assert_eq!(err.to_string(), "no record batches to convert to a polars DataFrame (no schema)");
}

#[test]
fn batches_with_other_columns_are_an_error() -> TestResult {
    let a = RecordBatch::try_from_iter([
        ("key", Arc::new(StringArray::from(vec!["a"])) as ArrayRef),
        ("n", Arc::new(UInt64Array::from(vec![1u64])) as ArrayRef),
    ])?;
    let renamed = RecordBatch::try_from_iter([
        ("key", Arc::new(StringArray::from(vec!["b"])) as ArrayRef),
        ("count", Arc::new(UInt64Array::from(vec![2u64])) as ArrayRef),
    ])?;
    let retyped = RecordBatch::try_from_iter([
        ("key", Arc::new(StringArray::from(vec!["b"])) as ArrayRef),
        ("n", Arc::new(Int64Array::from(vec![2i64])) as ArrayRef),
    ])?;
    let fewer = RecordBatch::try_from_iter([("key", Arc::new(StringArray::from(vec!["b"])) as ArrayRef)])?;
    for other in [renamed, retyped, fewer] {
        let err = to_polars(&[a.clone(), a.clone(), other]).unwrap_err();
        assert!(matches!(err, Error::Schema { batch: 2, .. }), "{err:?}");
        assert_eq!(err.to_string(), "result batch 2 does not match the result schema");
        let cause = err.source().unwrap().to_string();
        assert!(cause.contains("key: Utf8, n: UInt64"), "{cause}");
    }
    Ok(())
}

#[test]
fn a_type_polars_cannot_hold_is_a_polars_error_not_a_panic() -> TestResult {
    // This build of polars has no UInt8 (jobs do not produce it); polars
    // itself would panic on it.
    let n = Arc::new(UInt64Array::from(vec![1u64, 2])) as ArrayRef;
    let small = Arc::new(UInt8Array::from(vec![1u8, 2])) as ArrayRef;
    let batch = RecordBatch::try_from_iter([("n", n), ("small", small)])?;
    let err = to_polars(&[batch]).unwrap_err();
    assert!(matches!(err, Error::Polars(_)), "{err:?}");
    assert_eq!(err.to_string(), "cannot convert results to a polars DataFrame");
    let cause = err.source().unwrap().to_string();
    assert!(cause.contains("column 'small' has type UInt8"), "{cause}");
    Ok(())
}

#[test]
fn run_metadata_on_the_schema_is_no_obstacle() -> TestResult {
    let inputs = [Source::from_bytes("inline", b"x\n".to_vec())];
    let schema = Arc::new(attach_metadata((*job_schema()).clone(), "test", "none", &inputs, &Malformed::default()));
    let batch = job_batch(&schema, first_rows());
    // A batch built without the metadata fits too.
    let bare = job_batch(&job_schema(), second_rows());
    let batches = [batch, bare];
    assert_same(&batches, &to_polars(&batches)?);
    Ok(())
}

#[test]
fn features_job_output_end_to_end() -> TestResult {
    use pagemill_features::{Agg, Dialect, FeatureSpec};

    let csv = "dest,carrier,arr_delay\nSFO,UA,12\nJFK,\"B6, Inc\",-3.5\nSFO,AA,NA\nSFO,UA,30\nJFK,DL,oops\n";
    let inputs = [Source::from_bytes("flights.csv", csv.as_bytes().to_vec())];
    let mut spec = FeatureSpec::delimited(Dialect::csv());
    spec.key("dest").value("arr_delay").distinct("carrier");
    spec.aggs([Some(Agg::Count), Some(Agg::Missing), Some(Agg::Mean), Some(Agg::Max)]);
    let job = spec.build(&inputs)?;
    let outcome = Runner::new().run(&job, &inputs)?;

    let df = to_polars(std::slice::from_ref(&outcome.output))?;
    assert_eq!(df.height(), 2);
    let names: Vec<&str> = df.get_column_names().iter().map(|n| n.as_str()).collect();
    let expected: Vec<String> = outcome.output.schema().fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(names, expected);
    let dest = df.column("dest")?.str()?;
    assert_eq!((dest.get(0), dest.get(1)), (Some("JFK"), Some("SFO")));
    let rows = df.column("rows")?.u64()?;
    assert_eq!((rows.get(0), rows.get(1)), (Some(1), Some(3)));
    let mean = df.column("arr_delay_mean")?.f64()?;
    assert_eq!((mean.get(0), mean.get(1)), (Some(-3.5), Some(21.0)));
    assert_eq!(df.column("arr_delay_max")?.f64()?.get(1), Some(30.0));
    assert_eq!(df.column("arr_delay_missing")?.u64()?.get(1), Some(1));
    let distinct = df.column("carrier_distinct")?.u64()?;
    assert_eq!((distinct.get(0), distinct.get(1)), (Some(1), Some(2)));
    Ok(())
}

#[test]
fn logs_job_output_end_to_end() -> TestResult {
    use pagemill_logs::{GroupField, LogFormat, LogJob, Metric};

    let log = br#"203.0.113.7 - - [10/Oct/2000:13:55:36 -0700] "GET /a?x=1 HTTP/1.1" 200 2326 "-" "curl/8.0" 0.004
2001:db8::1 - - [10/Oct/2000:13:55:37 -0700] "GET /a HTTP/1.1" 404 12 "-" "Mozilla/5.0" 0.120
203.0.113.7 - - [10/Oct/2000:13:55:38 -0700] "POST /b HTTP/1.1" 200 - "-" "curl/8.0" 1.5
"#;
    let inputs = vec![Source::from_bytes("access.log", log.to_vec())];
    let format = LogFormat::detect(inputs[0].bytes())?;
    let mut job = LogJob::new(format);
    job.group_by(&[GroupField::Status])?.metrics(&[
        Metric::Requests,
        Metric::Bytes,
        Metric::LatencyMax,
        Metric::FirstSeen,
        Metric::LastSeen,
    ]);
    let outcome = Runner::new().threads(2).run(&job, &inputs)?;
    let batch = &outcome.output.batch;

    let df = to_polars(std::slice::from_ref(batch))?;
    assert_eq!(df.height(), 2);
    assert_eq!(df.column("status")?.dtype(), &PlType::UInt16);
    let status = df.column("status")?.u16()?;
    assert_eq!((status.get(0), status.get(1)), (Some(200), Some(404)));
    let requests = df.column("requests")?.u64()?;
    assert_eq!((requests.get(0), requests.get(1)), (Some(2), Some(1)));
    assert_eq!(df.column("latency_max")?.f64()?.get(0), Some(1.5));
    assert_eq!(df.column("first_seen")?.dtype(), &utc(PlTimeUnit::Microseconds));
    // 13:55:36 -0700 is 20:55:36 UTC.
    let first = df.column("first_seen")?.datetime()?.physical().get(0);
    let last = df.column("last_seen")?.datetime()?.physical().get(0);
    assert_eq!(first, Some(971_211_336_000_000));
    assert_eq!(last, Some(971_211_338_000_000));
    Ok(())
}
