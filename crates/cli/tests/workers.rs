//! `--workers processes`: the same results as threads, byte for byte, for
//! every job; workers that die are retried once with the read path; a run
//! whose retry fails too ends in one clear error and no output.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

mod common;
use common::{Dir, s};

fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pagemill"));
    cmd.args(args);
    cmd
}

fn pagemill(args: &[&str]) -> Output {
    command(args).output().unwrap()
}

fn ok(out: Output) -> Output {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out
}

/// `pagemill gen KIND --rows N -o dir/NAME`, then `extra` appended to the file.
fn generate(dir: &Dir, kind: &str, name: &str, rows: u64, extra: &[u8], flags: &[&str]) -> PathBuf {
    let path = dir.path(name);
    let rows = rows.to_string();
    let mut args = vec!["gen", kind, "--rows", &rows, "--seed", "7", "-o", s(&path)];
    args.extend_from_slice(flags);
    ok(pagemill(&args));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(extra);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Run `job` on threads and in 3 worker processes (with `env` set for the
/// latter); both must succeed with the same output file and the same
/// stderr, which is returned with the processes' stderr.
fn same_as_threads(dir: &Dir, job: &[&str], env: &[(&str, &str)]) -> (String, String) {
    let (threads, processes) = (dir.path("threads.csv"), dir.path("processes.csv"));
    let common = ["--threads", "3", "--chunk-size", "64K", "--output-format", "csv"];
    let mut args = job.to_vec();
    args.extend(common);
    args.extend(["-o", s(&threads)]);
    let t = ok(pagemill(&args));
    let mut args = job.to_vec();
    args.extend(common);
    args.extend(["--workers", "processes", "-o", s(&processes)]);
    let p = ok(command(&args).envs(env.iter().copied()).output().unwrap());
    let (t_csv, p_csv) = (std::fs::read(&threads).unwrap(), std::fs::read(&processes).unwrap());
    assert!(
        t_csv == p_csv,
        "{job:?}: outputs differ:\n{}\n---\n{}",
        String::from_utf8_lossy(&t_csv),
        String::from_utf8_lossy(&p_csv)
    );
    let (t_err, p_err) = (String::from_utf8(t.stderr).unwrap(), String::from_utf8(p.stderr).unwrap());
    (t_err, p_err)
}

fn check_same(dir: &Dir, job: &[&str]) -> String {
    let (t_err, p_err) = same_as_threads(dir, job, &[]);
    assert_eq!(t_err, p_err, "{job:?}: stderr differs");
    t_err
}

#[test]
fn every_job_gives_the_threaded_result() {
    let dir = Dir::new("same");
    // Several hundred KB each: many 64K chunks, so 3 workers get several each.
    let m = generate(&dir, "measurements", "m.txt", 30_000, b"no separator\nX;1.23\n;5.0\nOk;1.0\n", &[]);
    let csv = generate(&dir, "csv", "f.csv", 8_000, b"2024-01-01,AA\n2024-01-02,AA,1,X,Y,zz,3,4,\n", &[]);
    let log = generate(&dir, "access-log", "a.log", 5_000, b"not a log line\n", &["--log-format", "timed"]);
    let bin = generate(&dir, "records", "r.bin", 40_000, b"short", &[]);

    let err = check_same(&dir, &["features", "--preset", "1brc", s(&m)]);
    assert!(err.contains("malformed records: 3"), "{err}");
    let err = check_same(&dir, &["count", s(&m), s(&csv), s(&log)]);
    assert_eq!(err, "");
    check_same(&dir, &["count", "--records", "csv", s(&csv)]);
    let err = check_same(&dir, &["count", "--records", "fixed:16", s(&bin)]);
    assert!(err.contains("short-record"), "{err}");
    // Floating-point sums, quantile and distinct sketches: merged in the
    // same order as on threads, so equal to the last bit.
    let err = check_same(
        &dir,
        &[
            "features",
            "--key",
            "carrier",
            "--value",
            "dep_delay",
            "--value",
            "arr_delay",
            "--distinct",
            "dest",
            s(&csv),
        ],
    );
    assert!(err.contains("malformed records: 2"), "{err}");
    check_same(
        &dir,
        &[
            "features",
            "--record-size",
            "16",
            "--field",
            "sensor:u32@0",
            "--field",
            "status:u16@4",
            "--key",
            "status",
            s(&bin),
        ],
    );
    let err = check_same(
        &dir,
        &["logs", "--group-by", "path", "--metrics", "requests,bytes,latency_p99,distinct_ips", s(&log)],
    );
    assert!(err.contains("not a log line"), "{err}");
    check_same(&dir, &["logs", "--group-by", "time,status_class", "--bucket", "1h", "--top", "2:ip", s(&log)]);
}

/// Many keys (30,000: their merges leave pieces waiting, see
/// `FeaturesPartial`), each in four chunks far apart, with float values
/// (exponents), whose moments merged in another order differ in their last
/// bits: the workers' nodes must merge as one process merges them.
#[test]
fn many_float_keys_merge_as_on_threads() {
    let dir = Dir::new("floats");
    let path = dir.path("floats.csv");
    let mut text = String::from("key,value\n");
    let mut x: u64 = 1;
    for i in 0..120_000u64 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let value = (x >> 11) as f64 / (1u64 << 53) as f64 * 1000.0 - 300.0;
        text.push_str(&format!("k{},{value:e}\n", i % 30_000));
    }
    std::fs::write(&path, text).unwrap();
    check_same(&dir, &["features", "--key", "key", "--value", "value", "--agg", "mean,std,p50", s(&path)]);
    // A group limit that the waiting pieces pass but the keys do not: the
    // threads run counts the keys without merging the pieces, and the
    // coordinator counts them the same way.
    let limited =
        ["features", "--max-groups", "30000", "--key", "key", "--value", "value", "--agg", "mean,std", s(&path)];
    check_same(&dir, &limited);
}

#[test]
fn a_crashed_worker_is_retried_with_the_read_path() {
    let dir = Dir::new("crash");
    let m = generate(&dir, "measurements", "m.txt", 30_000, b"bad\n", &[]);
    for worker in ["0", "1", "2"] {
        let (t_err, p_err) =
            same_as_threads(&dir, &["features", "--preset", "1brc", s(&m)], &[("PAGEMILL_TEST_WORKER_CRASH", worker)]);
        let retry = format!("pagemill: worker {worker} killed by signal 6 (SIGABRT)");
        assert!(p_err.starts_with(&retry), "{p_err}");
        assert!(p_err.contains("retrying its chunks with --mmap never"), "{p_err}");
        // Apart from the retry notice, the same report.
        let rest: String = p_err.lines().skip(1).map(|l| format!("{l}\n")).collect();
        assert_eq!(rest, t_err);
    }
}

#[test]
fn a_worker_failing_twice_fails_the_run_with_one_clear_error() {
    let dir = Dir::new("twice");
    let m = generate(&dir, "measurements", "m.txt", 30_000, b"", &[]);
    let out = dir.path("out.csv");
    let result =
        command(&["count", "--threads", "3", "--chunk-size", "64K", "--workers", "processes", "-o", s(&out), s(&m)])
            .env("PAGEMILL_TEST_WORKER_CRASH", "2:always")
            .output()
            .unwrap();
    assert!(!result.status.success());
    let err = String::from_utf8(result.stderr).unwrap();
    let last = err.lines().last().unwrap();
    assert!(last.starts_with("pagemill: error: worker 2 failed: killed by signal 6 (SIGABRT)"), "{err}");
    assert!(last.contains("then on retry killed by signal 6"), "{last}");
    assert!(last.contains(&format!("its chunks: {} bytes ", m.display())), "{last}");
    assert!(!out.exists(), "no output after a failed run");
}

/// Too many groups is the job's answer, not a fault: no worker is run
/// again, and the run fails with the error a threads run gives.
#[test]
fn a_worker_over_the_group_limit_is_not_retried() {
    let dir = Dir::new("verdict");
    let m = generate(&dir, "measurements", "m.txt", 30_000, b"", &[]);
    let job = ["features", "--preset", "1brc", "--max-groups", "10", "--threads", "3", "--chunk-size", "64K", s(&m)];
    let threads = pagemill(&job);
    let processes = pagemill(&[&job[..], &["--workers", "processes"]].concat());
    assert!(!threads.status.success() && !processes.status.success());
    let (t_err, p_err) = (String::from_utf8(threads.stderr).unwrap(), String::from_utf8(processes.stderr).unwrap());
    assert!(t_err.starts_with("pagemill: error: more than 10 groups"), "{t_err}");
    assert_eq!(p_err, t_err);
    assert!(processes.stdout.is_empty());
}

/// Start a processes run whose worker 0 stops, inputs open, until its pid
/// file is removed: returns the coordinator and the worker's pid.
fn start_with_a_waiting_worker(dir: &Dir, args: &[&str]) -> (std::process::Child, String) {
    let pid_file = dir.path("worker.pid");
    // Left by an earlier start in the same folder.
    let _ = std::fs::remove_file(&pid_file);
    let child = command(args)
        .env("PAGEMILL_TEST_WORKER_HANG", format!("0:{}", pid_file.display()))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !pid_file.exists() {
        assert!(started.elapsed() < Duration::from_secs(60), "worker 0 never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    (child, std::fs::read_to_string(&pid_file).unwrap())
}

#[test]
fn a_worker_and_its_coordinator_asked_to_stop_are_not_retried() {
    use std::os::unix::process::ExitStatusExt;
    let dir = Dir::new("term");
    let log = generate(&dir, "access-log", "a.log", 5_000, b"", &["--log-format", "timed"]);
    let args =
        ["logs", "--group-by", "status", "--threads", "3", "--chunk-size", "64K", "--workers", "processes", s(&log)];
    // Both asked to stop (Ctrl-C reaches the whole group): no retry, and
    // the run ends by the signal.
    let (child, pid) = start_with_a_waiting_worker(&dir, &args);
    let coordinator = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &coordinator, &pid]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.signal(), Some(15), "{err}");
    assert!(!err.contains("retrying"), "{err}");
}

#[test]
fn a_worker_killed_for_real_is_retried() {
    let dir = Dir::new("kill");
    let log = generate(&dir, "access-log", "a.log", 5_000, b"", &["--log-format", "timed"]);
    let job = ["logs", "--group-by", "status", "--threads", "3", "--chunk-size", "64K", "--output-format", "csv"];
    let threads = ok(pagemill(&[&job[..], &[s(&log)]].concat())).stdout;
    // SIGKILL, and an out-of-memory killer's SIGTERM to that worker alone.
    for (signal, killed) in [("-KILL", "signal 9 (SIGKILL)"), ("-TERM", "signal 15 (SIGTERM)")] {
        let (child, pid) =
            start_with_a_waiting_worker(&dir, &[&job[..], &["--workers", "processes", s(&log)]].concat());
        assert!(Command::new("kill").args([signal, &pid]).status().unwrap().success());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(out.status.success(), "{err}");
        assert!(err.starts_with(&format!("pagemill: worker 0 killed by {killed}; retrying")), "{err}");
        assert_eq!(out.stdout, threads);
    }
}

#[test]
fn workers_end_with_their_coordinator() {
    let dir = Dir::new("orphan");
    let m = generate(&dir, "measurements", "m.txt", 30_000, b"", &[]);
    let args = ["count", "--threads", "2", "--chunk-size", "64K", "--workers", "processes", s(&m)];
    let (mut child, pid) = start_with_a_waiting_worker(&dir, &args);
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    child.wait().unwrap();
    // The worker, waiting on its hook for a minute, sees its coordinator
    // gone and exits (a zombie of a parent that does not reap is gone too).
    let alive = || {
        std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
            .is_ok_and(|stat| stat.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')))
    };
    let started = Instant::now();
    while alive() {
        assert!(started.elapsed() < Duration::from_secs(10), "worker {pid} outlived its coordinator");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_input_replaced_under_the_workers_is_a_clear_error() {
    // Worker 0 waits with the first version open; the file is then
    // replaced by rename with one of the same size, and worker 0 killed:
    // its retry opens the new file, which is not the one planned.
    let dir = Dir::new("replace");
    let log = generate(&dir, "access-log", "a.log", 5_000, b"", &["--log-format", "timed"]);
    let job = ["logs", "--group-by", "status", "--threads", "2", "--chunk-size", "64K", "--output-format", "csv"];
    let (child, pid) = start_with_a_waiting_worker(&dir, &[&job[..], &["--workers", "processes", s(&log)]].concat());
    let text = std::fs::read_to_string(&log).unwrap().replace(" 200 ", " 299 ");
    let next = dir.path("a.log.next");
    std::fs::write(&next, text).unwrap();
    std::fs::rename(&next, &log).unwrap();
    assert!(Command::new("kill").args(["-KILL", &pid]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success(), "{err}");
    assert!(out.stdout.is_empty());
    assert!(err.contains("the inputs are not the files the coordinator opened"), "{err}");
}

#[test]
fn an_input_truncated_under_the_workers_is_a_clear_error() {
    let dir = Dir::new("truncate");
    let m = generate(&dir, "measurements", "m.txt", 30_000, b"", &[]);
    let args = ["count", "--mmap", "always", "--threads", "2", "--chunk-size", "64K", "--workers", "processes", s(&m)];
    let (child, _) = start_with_a_waiting_worker(&dir, &args);
    let len = std::fs::metadata(&m).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&m).unwrap().set_len(len / 3).unwrap();
    std::fs::remove_file(dir.path("worker.pid")).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success(), "{err}");
    assert!(out.stdout.is_empty());
    let last = err.lines().last().unwrap();
    assert!(last.starts_with("pagemill: error: worker 0 failed: exit status 1"), "{err}");
    assert!(last.contains("its chunks:"), "{last}");
}

#[test]
fn what_processes_cannot_do_is_refused_up_front() {
    let dir = Dir::new("refuse");
    let m = generate(&dir, "measurements", "m.txt", 100, b"", &[]);
    let out = command(&["count", "--workers", "processes"]).stdin(std::fs::File::open(&m).unwrap()).output().unwrap();
    // stdin from a file is still stdin: no path to hand to a worker.
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--workers processes reads inputs by path"));
    let out = pagemill(&["logs", "--workers", "processes", "--rejects", s(&dir.path("r.txt")), s(&m)]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rejects needs --workers threads"));
    // An empty input: nothing to hand out, the empty result.
    let empty = dir.path("empty.txt");
    std::fs::write(&empty, b"").unwrap();
    let out = ok(pagemill(&["count", "--workers", "processes", "--output-format", "csv", s(&empty)]));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("file,records\n{},0\n", empty.display()));
}
