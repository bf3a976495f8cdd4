//! records of each format, next to a plain `memchr` newline count over the same
//! buffer (the floor). All on one thread, so the ratio is per core.
//!
//! `cargo bench -p pagemill-benches --bench split` runs criterion and then
//! prints the overhead ratio of each format against the memchr count (median
//! of repeated runs).

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput};
use pagemill_split::{Csv, Fixed, Lines, RecordFormat, plan};

const CHUNK: usize = 4 << 20;

fn one_thread<R>(f: impl FnOnce() -> R + Send) -> R
where
    R: Send,
{
    rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool").install(f)
}

fn memchr_count(buf: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', buf).count()
}

/// The hand-written line loop a tool without a partitioner runs: memchr to
/// each newline, the line before it to the same callback as
/// [`plan_and_iterate`] (the CR of a CRLF not stripped, so this is a floor).
fn memchr_lines(buf: &[u8]) -> usize {
    let mut total = 0;
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', buf) {
        total += buf[start..end].len();
        start = end + 1;
    }
    total + buf[start..].len()
}

/// Plan, then visit every record (internal iteration, as jobs do).
fn plan_and_iterate<F: RecordFormat>(format: &F, buf: &[u8]) -> usize {
    let mut total = 0;
    for range in plan(format, buf, CHUNK) {
        format.records(&buf[range]).for_each(|record| total += record.bytes.len());
    }
    total
}

fn plan_and_count<F: RecordFormat>(format: &F, buf: &[u8]) -> u64 {
    plan(format, buf, CHUNK).into_iter().map(|r| format.count_records(&buf[r])).sum()
}

fn csv_input(size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 100);
    let mut i = 0u64;
    while out.len() < size {
        out.extend_from_slice(format!("{i},\"name, with comma\",{}.5,\"say \"\"hi\"\"\"\n", i % 977).as_bytes());
        i += 1;
    }
    out
}

fn benches(c: &mut Criterion, size: usize) {
    let lines = pagemill_benches::measurements(size as u64 / 14);
    let csv = csv_input(size);

    let mut g = c.benchmark_group("boundary");
    g.bench_function("lines/next_boundary x1000", |b| {
        b.iter(|| (1..=1000).map(|k| Lines.next_boundary(&lines, k * (lines.len() / 1001))).sum::<usize>())
    });
    g.bench_function("csv/plan 4MiB", |b| b.iter(|| one_thread(|| plan(&Csv::new(), black_box(&csv), CHUNK).len())));
    g.finish();

    let mut g = c.benchmark_group("records");
    g.throughput(Throughput::Bytes(lines.len() as u64));
    g.bench_function("memchr newline count (floor)", |b| b.iter(|| memchr_count(black_box(&lines))));
    g.bench_function("lines plan+iterate", |b| b.iter(|| one_thread(|| plan_and_iterate(&Lines, black_box(&lines)))));
    g.bench_function("lines plan+count", |b| b.iter(|| one_thread(|| plan_and_count(&Lines, black_box(&lines)))));
    g.bench_function("fixed:16 plan+iterate", |b| {
        b.iter(|| one_thread(|| plan_and_iterate(&Fixed::new(16), black_box(&lines))))
    });
    g.throughput(Throughput::Bytes(csv.len() as u64));
    g.bench_function("csv plan+iterate", |b| b.iter(|| one_thread(|| plan_and_iterate(&Csv::new(), black_box(&csv)))));
    g.finish();
}

/// A workload: runs over a buffer, returns something to keep it alive.
type Workload<'a> = Box<dyn Fn(&[u8]) -> usize + Sync + 'a>;

/// One row of the ratio table: a workload over one buffer, and that buffer's
/// memchr floor.
struct Row<'a> {
    name: &'static str,
    buf: &'a [u8],
    run: Workload<'a>,
}

/// Median-of-runs ratios against the memchr floor, printed as a table. Floor
/// and workload runs alternate, so drift hits both alike.
fn ratios(size: usize, runs: usize) {
    let lines = pagemill_benches::measurements(size as u64 / 14);
    let logs = pagemill_benches::access_log(size as u64);
    let csv = csv_input(size);
    let rows = [
        Row { name: "1brc lines plan+iterate", buf: &lines, run: Box::new(|b| plan_and_iterate(&Lines, b)) },
        Row { name: "1brc lines plan+count", buf: &lines, run: Box::new(|b| plan_and_count(&Lines, b) as usize) },
        Row { name: "fixed:16 plan+iterate", buf: &lines, run: Box::new(|b| plan_and_iterate(&Fixed::new(16), b)) },
        Row { name: "log lines plan+iterate", buf: &logs, run: Box::new(|b| plan_and_iterate(&Lines, b)) },
        Row { name: "csv plan+iterate", buf: &csv, run: Box::new(|b| plan_and_iterate(&Csv::new(), b)) },
    ];
    println!("\npartitioner overhead vs a memchr newline count of the same buffer (one thread, median of {runs}):");
    for row in rows {
        let mut floor = Vec::with_capacity(runs);
        let mut work = Vec::with_capacity(runs);
        let mut loop_ = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t = Instant::now();
            black_box(memchr_count(black_box(row.buf)));
            floor.push(t.elapsed());
            let t = Instant::now();
            black_box(one_thread(|| (row.run)(black_box(row.buf))));
            work.push(t.elapsed());
            let t = Instant::now();
            black_box(memchr_lines(black_box(row.buf)));
            loop_.push(t.elapsed());
        }
        floor.sort();
        work.sort();
        loop_.sort();
        let (floor, t, lines) = (floor[runs / 2], work[runs / 2], loop_[runs / 2]);
        let records = memchr_count(row.buf).max(1);
        println!(
            "  {:<24} {:>9.2?}  {:5.2} GB/s  {:5.2} ns/record  {:.2}x memchr count ({floor:.2?})  {:.2}x memchr line loop ({lines:.2?})",
            row.name,
            t,
            row.buf.len() as f64 / t.as_secs_f64() / 1e9,
            (t.as_secs_f64() - floor.as_secs_f64()) * 1e9 / records as f64,
            t.as_secs_f64() / floor.as_secs_f64(),
            t.as_secs_f64() / lines.as_secs_f64()
        );
    }
}

fn main() {
    // `cargo test --all-targets` runs benches once as a smoke test: keep that
    // quick with a small buffer. `PAGEMILL_BENCH_MIB` sets the buffer size of
    // a real run (default 64 MiB; 1024 for the 1 GB measurement).
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let mib: usize = std::env::var("PAGEMILL_BENCH_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(64);
    let size = if bench_mode { mib << 20 } else { 1 << 20 };
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c, size);
    c.final_summary();
    ratios(size, if bench_mode { 9 } else { 1 });
}
