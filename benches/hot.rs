//! Criterion micro-benchmarks of the hot paths beyond the partitioner, each on
//! one thread over generated data:
//!
//! * log-line parsing (`timed` text and nginx JSON lines, through
//!   `LogFormat::parse`) and CLF timestamp parsing;
//! * CSV field splitting (`split_fields` on the flights CSV);
//! * the 1BRC map (line parsing, value parsing and hash-table updates) and
//!   the general features map (field splitting, number parsing,
//!   accumulators) over one chunk;
//! * sketch updates: quantile recording and distinct-value inserts.
//!
//! `cargo bench -p pagemill-benches --bench hot`; `cargo test --all-targets`
//! runs each once on small inputs as a smoke test.

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use pagemill_datasets::{AccessLog, AccessLogFormat, Flights};
use pagemill_engine::{Chunk, Job, Malformed};
use pagemill_features::{Brc, Dialect, FeatureSpec, RawField, split_fields};
use pagemill_logs::LogFormat;
use pagemill_mmap::Source;
use pagemill_sketch::{Distinct, DistinctConfig, QuantileConfig, Quantiles};
use pagemill_split::{Lines, RecordFormat};

fn lines_of(bytes: &[u8]) -> Vec<&[u8]> {
    Lines.records(bytes).map(|r| r.bytes).collect()
}

fn log(rows: u64, format: AccessLogFormat) -> Vec<u8> {
    let mut out = Vec::new();
    AccessLog::new(rows, format, 1).write_to(&mut out).expect("in memory");
    out
}

fn chunk(bytes: &[u8]) -> Chunk<'_> {
    Chunk { input: 0, index: 0, offset: 0, bytes }
}

fn benches(c: &mut Criterion, rows: u64) {
    let timed = log(rows, AccessLogFormat::Timed);
    let json = log(rows, AccessLogFormat::Json);
    let mut g = c.benchmark_group("logs");
    for (name, bytes, format) in
        [("parse timed line", &timed, LogFormat::timed()), ("parse json line", &json, LogFormat::json())]
    {
        let lines = lines_of(bytes);
        g.throughput(Throughput::Elements(lines.len() as u64));
        g.bench_function(name, |b| b.iter(|| lines.iter().filter(|l| format.parse(black_box(l)).is_ok()).count()));
    }
    let stamps: Vec<&[u8]> = lines_of(&timed)
        .iter()
        .filter_map(|l| {
            let open = l.iter().position(|&b| b == b'[')?;
            let close = l.iter().position(|&b| b == b']')?;
            Some(&l[open + 1..close])
        })
        .collect();
    g.throughput(Throughput::Elements(stamps.len() as u64));
    g.bench_function("parse CLF timestamp", |b| {
        b.iter(|| stamps.iter().filter_map(|s| pagemill_logs::time::parse_clf(black_box(s))).sum::<i64>())
    });
    g.finish();

    let mut csv = Vec::new();
    Flights::new(rows, 1).write_to(&mut csv).expect("in memory");
    let csv_format = pagemill_split::Csv::new();
    let records: Vec<&[u8]> = csv_format.records(&csv).map(|r| r.bytes).collect();
    let mut g = c.benchmark_group("features");
    g.throughput(Throughput::Elements(records.len() as u64));
    g.bench_function("split CSV fields", |b| {
        let mut fields: Vec<RawField<'_>> = Vec::new();
        b.iter(|| {
            let mut n = 0;
            for r in &records {
                if split_fields(black_box(r), b',', Some(b'"'), &mut fields).is_ok() {
                    n += fields.len();
                }
            }
            n
        })
    });
    let source = Source::from_bytes("flights.csv", csv.clone());
    let mut spec = FeatureSpec::delimited(Dialect::csv());
    spec.key("dest").value("arr_delay").value("dep_delay");
    let job = spec.build(std::slice::from_ref(&source)).expect("valid spec");
    g.throughput(Throughput::Bytes(csv.len() as u64));
    g.bench_function("general map (split, parse numbers, accumulate)", |b| {
        b.iter(|| job.groups(&job.map(chunk(black_box(&csv)), &mut Malformed::new(5))))
    });
    let brc = pagemill_benches::measurements(rows * 4);
    g.throughput(Throughput::Bytes(brc.len() as u64));
    g.bench_function("1BRC map (parse lines, update the table)", |b| {
        let job = Brc::new();
        b.iter(|| job.groups(&job.map(chunk(black_box(&brc)), &mut Malformed::new(5))))
    });
    g.finish();

    let values: Vec<i64> = (0..rows as i64 * 4).map(|i| (i * 7919) % 200_000 - 50_000).collect();
    let keys: Vec<Vec<u8>> =
        (0..rows * 4).map(|i| format!("10.0.{}.{}", i % 251, (i * 31) % 253).into_bytes()).collect();
    let mut g = c.benchmark_group("sketch");
    g.throughput(Throughput::Elements(values.len() as u64));
    g.bench_function("quantiles record_decimal", |b| {
        b.iter(|| {
            let mut q = Quantiles::new(QuantileConfig::new());
            for &v in &values {
                q.record_decimal(black_box(v), 2).expect("in range");
            }
            q.count()
        })
    });
    g.bench_function("distinct insert", |b| {
        b.iter(|| {
            let mut d = Distinct::new(DistinctConfig::new());
            for k in &keys {
                d.insert(black_box(k));
            }
            d.estimate()
        })
    });
    g.finish();
}

fn main() {
    // `cargo test --all-targets` runs benches once as a smoke test: keep it
    // quick with small inputs.
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let rows = if bench_mode { 100_000 } else { 2_000 };
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c, rows);
    c.final_summary();
}
