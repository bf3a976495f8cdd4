//! Criterion micro-benchmarks of the hot paths beyond the partitioner, each on
//! one thread over generated data:
//!
//! * log-line parsing (`timed` text and nginx JSON lines, through
//!   `LogFormat::parse` and through one `LineParser` kept across the lines,
//!   as the logs job parses a chunk) and CLF timestamp parsing;
//! * CSV field splitting (`split_fields` on the flights CSV);
//! * the 1BRC map (line parsing, value parsing and hash-table updates) and
//!   the general features map (field splitting, number parsing,
//!   accumulators) over one chunk;
//! * sketch updates: quantile recording, distinct-value inserts and the
//!   sorted union that merges exact distinct sets;
//! * number parsing and hash-table updates in isolation. Both live in private
//!   modules of `pagemill-features` (`number`, `table`), so they are measured
//!   through the smallest public entry, the features map over one chunk:
//!   number parsing on a CSV of one constant key and a decimal with only
//!   `sum` (per line: two fields, one number, one add to the one group;
//!   splitting the same lines is the non-number part), hash-table updates as the 1BRC map over
//!   the same number of rows with 8, 413, 10K and 100K synthetic keys (names
//!   of the same length distribution, so the parsing work is the same and the
//!   growth with the key count is the table's).
//!
//! `cargo bench -p pagemill-benches --bench hot`; `cargo test --all-targets`
//! runs each once on small inputs as a smoke test.

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use pagemill_datasets::{AccessLog, AccessLogFormat, Flights, Measurements, Stations};
use pagemill_engine::{Chunk, Job, Malformed};
use pagemill_features::{Agg, Brc, Dialect, FeatureSpec, RawField, split_fields};
use pagemill_logs::{LogFormat, LogRecord};
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
        g.bench_function(format!("{name}, one LineParser"), |b| {
            b.iter(|| {
                let mut parser = format.parser();
                let mut rec = LogRecord::default();
                lines.iter().filter(|l| parser.parse_into(black_box(l), true, &mut rec).is_ok()).count()
            })
        });
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

    isolated(c, rows * 4);

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
    // Two sorted sets of random hashes, as exact distinct sets merge.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut set = |n: u64| -> Vec<u64> {
        let mut v: Vec<u64> = (0..n)
            .map(|_| {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                x
            })
            .collect();
        v.sort_unstable();
        v
    };
    let (a, b) = (set(rows), set(rows));
    g.throughput(Throughput::Elements(2 * rows));
    g.bench_function("sorted_union of two random hash sets", |bench| {
        bench.iter(|| pagemill_sketch::sorted_union(black_box(a.clone()), black_box(b.clone())).len())
    });
    g.finish();
}

/// Number parsing and hash-table updates through the features map (see the
/// module comment for why not directly).
fn isolated(c: &mut Criterion, rows: u64) {
    let mut g = c.benchmark_group("isolated");
    // Decimals like the data's: signs, 0 to 3 fraction digits, 1 to 6 integer digits.
    let mut numbers = Vec::new();
    let mut x: u64 = 1;
    for i in 0..rows {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let int = (x >> 33) % 10u64.pow(1 + (i % 6) as u32);
        let sign = if x >> 63 == 1 { "-" } else { "" };
        let line = match i % 4 {
            0 => format!("k,{sign}{int}\n"),
            1 => format!("k,{sign}{int}.{}\n", (x >> 20) % 10),
            2 => format!("k,{sign}{int}.{:02}\n", (x >> 20) % 100),
            _ => format!("k,{sign}{int}.{:03}\n", (x >> 20) % 1000),
        };
        numbers.extend_from_slice(line.as_bytes());
    }
    let lines = lines_of(&numbers);
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("split key,number lines (no numbers)", |b| {
        let mut fields: Vec<RawField<'_>> = Vec::new();
        b.iter(|| {
            let mut n = 0;
            for l in &lines {
                if split_fields(black_box(l), b',', Some(b'"'), &mut fields).is_ok() {
                    n += fields.len();
                }
            }
            n
        })
    });
    let source = Source::from_bytes("numbers.csv", numbers.clone());
    let mut spec = FeatureSpec::delimited(Dialect::csv().header(false));
    spec.key("0").value("1").aggs([Some(Agg::Sum)]);
    let job = spec.build(std::slice::from_ref(&source)).expect("valid spec");
    g.bench_function("number parsing (one-key map, sum)", |b| {
        b.iter(|| job.groups(&job.map(chunk(black_box(&numbers)), &mut Malformed::new(5))))
    });

    let brc = Brc::new();
    for (name, stations) in [
        ("8", Stations::synthetic(8, 1)),
        ("413", Stations::synthetic(413, 1)),
        ("10K", Stations::synthetic(10_000, 1)),
        ("100K", Stations::synthetic(100_000, 1)),
    ] {
        let mut data = Vec::new();
        Measurements::new(stations, rows, 1).write_to(&mut data).expect("in memory");
        g.throughput(Throughput::Elements(rows));
        g.bench_function(format!("hash-table updates (1BRC map, {name} keys)"), |b| {
            b.iter(|| brc.groups(&brc.map(chunk(black_box(&data)), &mut Malformed::new(5))))
        });
    }
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
