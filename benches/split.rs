//! Partitioner benchmarks (64 MiB buffers): boundary finding, and planning plus iterating the
//! records of each format, next to a plain `memchr` newline count over the same
//! buffer (the floor). All on one thread, so the ratio is per core.
//!
//! `cargo bench -p pagemill-benches --bench split` runs criterion and then
//! prints the overhead ratio of each format against the memchr count (median
//! of repeated runs).

use std::hint::black_box;
use std::time::{Duration, Instant};

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

fn plan_and_iterate<F: RecordFormat>(format: &F, buf: &[u8]) -> usize {
    let mut total = 0;
    for range in plan(format, buf, CHUNK) {
        for record in format.records(&buf[range]) {
            total += record.bytes.len();
        }
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

fn median(mut f: impl FnMut(), runs: usize) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

/// Median-of-runs ratios against the memchr floor, printed as a table.
fn ratios(size: usize, runs: usize) {
    let lines = pagemill_benches::measurements(size as u64 / 14);
    let csv = csv_input(size);
    let floor_lines = median(
        || {
            black_box(memchr_count(&lines));
        },
        runs,
    );
    let floor_csv = median(
        || {
            black_box(memchr_count(&csv));
        },
        runs,
    );
    println!("\npartitioner overhead vs a memchr newline count of the same buffer (one thread, median of {runs}):");
    let rows: [(&str, Duration, Duration); 4] = [
        (
            "lines plan+iterate",
            median(
                || {
                    black_box(one_thread(|| plan_and_iterate(&Lines, &lines)));
                },
                runs,
            ),
            floor_lines,
        ),
        (
            "lines plan+count",
            median(
                || {
                    black_box(one_thread(|| plan_and_count(&Lines, &lines)));
                },
                runs,
            ),
            floor_lines,
        ),
        (
            "fixed:16 plan+iterate",
            median(
                || {
                    black_box(one_thread(|| plan_and_iterate(&Fixed::new(16), &lines)));
                },
                runs,
            ),
            floor_lines,
        ),
        (
            "csv plan+iterate",
            median(
                || {
                    black_box(one_thread(|| plan_and_iterate(&Csv::new(), &csv)));
                },
                runs,
            ),
            floor_csv,
        ),
    ];
    for (name, t, floor) in rows {
        let gbps = size as f64 / t.as_secs_f64() / 1e9;
        println!(
            "  {name:<24} {:>8.2?}  {gbps:5.2} GB/s  {:.2}x memchr ({floor:.2?})",
            t,
            t.as_secs_f64() / floor.as_secs_f64()
        );
    }
}

fn main() {
    // `cargo test --all-targets` runs benches once as a smoke test: keep that
    // quick with a small buffer.
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let size = if bench_mode { 64 << 20 } else { 1 << 20 };
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c, size);
    c.final_summary();
    ratios(size, if bench_mode { 9 } else { 1 });
}
