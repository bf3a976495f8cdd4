//! A scheduler and two executors (the crate's own binaries) on loopback run a
//! per-path log summary and a per-key features query over files all three
//! read, and give the results of a local run.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use datafusion::prelude::{SessionConfig, SessionContext};
use pagemill_ballista::{PagemillTable, connect};
use pagemill_datafusion::{DelimitedOptions, register_functions};
use pagemill_datasets::{AccessLog, AccessLogFormat, Flights};
use pagemill_features::Dialect;
use pagemill_logs::LogFormat;
use pagemill_mmap::OpenOptions;

/// Child processes killed when the test ends, however it ends.
struct Cluster {
    children: Vec<Child>,
    dir: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn spawn(bin: &str, args: &[String], log: &Path) -> Child {
    Command::new(bin)
        .args(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("{bin}: {e}"))
}

/// Wait until something listens on `port` (the processes take a moment to
/// start, longer on a loaded machine).
fn wait_for(port: u16) {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(120), "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start(dir: &Path) -> (Cluster, u16) {
    let scheduler = free_port();
    let mut cluster = Cluster { children: Vec::new(), dir: dir.to_path_buf() };
    cluster.children.push(spawn(
        env!("CARGO_BIN_EXE_pagemill-scheduler"),
        &["--port".into(), scheduler.to_string()],
        &dir.join("scheduler.log"),
    ));
    wait_for(scheduler);
    let mut ports = Vec::new();
    for i in 0..2 {
        let work = dir.join(format!("executor-{i}"));
        std::fs::create_dir_all(&work).unwrap();
        let (flight, grpc) = (free_port(), free_port());
        ports.extend([flight, grpc]);
        let args = [
            "--port".to_string(),
            flight.to_string(),
            "--grpc-port".into(),
            grpc.to_string(),
            "--scheduler".into(),
            format!("localhost:{scheduler}"),
            "--concurrent-tasks".into(),
            "2".into(),
            "--work-dir".into(),
            work.display().to_string(),
        ];
        cluster.children.push(spawn(
            env!("CARGO_BIN_EXE_pagemill-executor"),
            &args,
            &dir.join(format!("executor-{i}.log")),
        ));
    }
    // Both executors are up (a job submitted before one registers waits in
    // the scheduler, or runs on the other).
    for port in ports {
        wait_for(port);
    }
    (cluster, scheduler)
}

fn has_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).into_iter().flatten().flatten().any(|e| {
        let path = e.path();
        if path.is_dir() { has_files(&path) } else { true }
    })
}

fn write(path: &Path, f: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    f(&mut out).unwrap();
    std::io::Write::flush(&mut out).unwrap();
}

/// The tables, over files in `dir`, cut into small chunks so the scans have
/// many partitions to spread over the executors.
fn tables(dir: &Path) -> Vec<(&'static str, PagemillTable)> {
    let open = |name: &str| OpenOptions::new().open(dir.join(name)).unwrap();
    let logs = PagemillTable::logs(vec![open("a.log"), open("b.log")], LogFormat::timed()).unwrap();
    let flights = PagemillTable::delimited(vec![open("flights.csv")], DelimitedOptions::new(Dialect::csv())).unwrap();
    vec![("logs", logs.with_chunk_size(64 << 10)), ("flights", flights.with_chunk_size(64 << 10))]
}

const QUERIES: [&str; 2] = [
    "SELECT path, count(*) AS requests, sum(bytes) AS bytes, hll_distinct(ip) AS clients, \
            hdr_quantile(latency, 0.5) AS p50, hdr_quantile(latency, 0.99) AS p99, \
            sum(CASE WHEN status >= 500 THEN 1 ELSE 0 END) AS errors_5xx \
     FROM logs WHERE status <> 404 GROUP BY path ORDER BY requests DESC, path LIMIT 40",
    "SELECT carrier, count(*) AS rows, count(arr_delay) AS arr_delay_count, min(arr_delay) AS arr_delay_min, \
            max(arr_delay) AS arr_delay_max, round(avg(arr_delay), 3) AS arr_delay_mean, \
            hdr_quantile(arr_delay, 0.9, 3, 10) AS arr_delay_p90, sum(distance) AS distance, \
            hll_distinct(dest) AS dest_distinct \
     FROM flights GROUP BY carrier ORDER BY carrier",
];

async fn run(ctx: &SessionContext, dir: &Path) -> Vec<String> {
    for (name, table) in tables(dir) {
        ctx.register_table(name, Arc::new(table)).unwrap();
    }
    let mut out = Vec::new();
    for q in QUERIES {
        let batches: Vec<RecordBatch> = ctx.sql(q).await.unwrap().collect().await.unwrap();
        out.push(arrow_cast::pretty::pretty_format_batches(&batches).unwrap().to_string());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_cluster_gives_the_local_results() {
    let dir = std::env::temp_dir().join(format!("pagemill-ballista-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    write(&dir.join("a.log"), |w| AccessLog::new(20_000, AccessLogFormat::Timed, 7).write_to(w));
    write(&dir.join("b.log"), |w| {
        AccessLog::new(15_000, AccessLogFormat::Timed, 8).write_to(w)?;
        std::io::Write::write_all(w, b"this line is not a log line\n")
    });
    write(&dir.join("flights.csv"), |w| Flights::new(30_000, 3).write_to(w));

    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(4));
    register_functions(&ctx);
    let local = run(&ctx, &dir).await;
    assert!(local[0].lines().count() > 40 && local[1].contains("| AA "), "{}\n{}", local[0], local[1]);

    let (cluster, port) = tokio::task::block_in_place(|| start(&dir));
    let url = format!("df://localhost:{port}");
    let remote = connect(&url).await.unwrap_or_else(|e| panic!("no scheduler at {url}: {e}"));
    let distributed = tokio::time::timeout(Duration::from_secs(300), run(&remote, &dir))
        .await
        .unwrap_or_else(|_| panic!("the cluster did not answer; logs in {}", cluster.dir.display()));
    assert_eq!(distributed, local);
    // The executors did the work: they wrote the shuffle files. (Not
    // necessarily both: on a loaded machine one can register late and the
    // other take every task.)
    assert!((0..2).any(|i| has_files(&dir.join(format!("executor-{i}")))), "no executor ran a task");
    drop(cluster);
}
