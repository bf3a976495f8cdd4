//! End-to-end tests of the `pagemill` binary: every strategy (mapped, read,
//! stdin from a pipe, stdin from a file; 1 and 2 threads; tiny and default
//! chunks) must give the count of a simple sequential reference.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

mod common;
use common::Dir;

fn pagemill() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pagemill"))
}

fn run(args: &[&str], stdin: Option<Stdio>, input: Option<&[u8]>) -> Output {
    let mut cmd = pagemill();
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    match (stdin, input) {
        (Some(s), _) => {
            cmd.stdin(s);
        }
        (None, Some(_)) => {
            cmd.stdin(Stdio::piped());
        }
        (None, None) => {
            cmd.stdin(Stdio::null());
        }
    }
    let mut child = cmd.spawn().unwrap();
    if let Some(bytes) = input {
        let mut pipe = child.stdin.take().unwrap();
        let bytes = bytes.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        });
    }
    child.wait_with_output().unwrap()
}

/// The record counts printed as CSV (`file,records`), one per input.
fn counts(out: &Output) -> Vec<u64> {
    assert!(out.status.success(), "pagemill failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("file,records"), "{text}");
    lines.map(|l| l.rsplit(',').next().unwrap().parse().unwrap()).collect()
}

/// Lines as `wc -l` plus a last line without a newline.
fn reference_lines(bytes: &[u8]) -> u64 {
    let newlines = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
    newlines + u64::from(bytes.last().is_some_and(|&b| b != b'\n'))
}

fn edge_cases() -> Vec<(&'static str, Vec<u8>)> {
    let mut random = Vec::with_capacity(300_000);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..300_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        random.push((x >> 24) as u8);
    }
    let mut long = vec![b'L'; 24 << 20];
    long.push(b'\n');
    long.extend_from_slice(b"after\n");
    vec![
        ("empty", Vec::new()),
        ("lone-newline", b"\n".to_vec()),
        ("no-trailing-newline", b"one\ntwo\nthree".to_vec()),
        ("crlf", b"a\r\nb\r\n\r\nc\r\n".to_vec()),
        ("cr-only", b"a\rb\rc\r".to_vec()),
        ("long-line", long),
        ("nul-bytes", b"\0\0\n\0\n\0".repeat(10_000)),
        ("invalid-utf8", b"\xff\xfe\n\xc3\x28\n\xa0\xa1".repeat(20_000)),
        ("random-binary", random),
    ]
}

#[test]
fn count_matches_the_reference_under_every_strategy() {
    let dir = Dir::new("edge");
    for (name, bytes) in edge_cases() {
        let path = dir.file(name, &bytes);
        let p = path.to_str().unwrap();
        let want = reference_lines(&bytes);
        for threads in ["1", "2"] {
            for mmap in ["auto", "always", "never"] {
                for chunk in [None, Some("1")] {
                    let mut args = vec!["count", "--output-format", "csv", "--threads", threads, "--mmap", mmap];
                    if let Some(c) = chunk {
                        args.extend(["--chunk-size", c]);
                    }
                    if chunk.is_some() && bytes.len() > 1 << 20 {
                        continue; // a 1-byte target over megabytes only tests patience
                    }
                    let mut file_args = args.clone();
                    file_args.push(p);
                    assert_eq!(counts(&run(&file_args, None, None)), vec![want], "{name} {file_args:?}");
                }
                // stdin from a pipe (read) and redirected from the file (mapped under always/auto).
                let args = ["count", "--output-format", "csv", "--threads", threads, "--mmap", mmap];
                assert_eq!(counts(&run(&args, None, Some(&bytes))), vec![want], "{name} pipe {args:?}");
                let file = std::fs::File::open(&path).unwrap();
                assert_eq!(counts(&run(&args, Some(Stdio::from(file)), None)), vec![want], "{name} < file");
            }
        }
    }
}

#[test]
fn several_files_and_dash_for_stdin() {
    let dir = Dir::new("multi");
    let a = dir.file("a.log", b"1\n2\n3\n");
    let b = dir.file("b.log", b"x");
    let out =
        run(&["count", "--output-format", "csv", a.to_str().unwrap(), "-", b.to_str().unwrap()], None, Some(b"s\nt\n"));
    assert_eq!(counts(&out), vec![3, 2, 1]);
}

#[test]
fn csv_and_fixed_record_formats() {
    let dir = Dir::new("formats");
    let csv = dir.file("q.csv", b"h1,h2\n1,\"multi\nline\"\n2,\"x\"\"y\"\n");
    let out = run(&["count", "--records", "csv", "--output-format", "csv", csv.to_str().unwrap()], None, None);
    assert_eq!(counts(&out), vec![3]);
    let bin = dir.file("r.bin", &[0u8; 16 * 1000 + 5]);
    let out = run(&["count", "--records", "fixed:16", "--output-format", "csv", bin.to_str().unwrap()], None, None);
    assert_eq!(counts(&out), vec![1001]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("malformed records: 1 (short-record: 1)"), "{stderr}");
    assert!(stderr.contains("at byte 16000"), "{stderr}");
    let out = run(&["count", "--records", "fixed:16", "--strict", bin.to_str().unwrap()], None, None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("strict"));
    // A quote never closed swallows every later line into one record: it
    // is counted once and reported, at any chunk size, and --strict fails.
    let mut text = b"a,b\n1,2\n3,\"oops\n".to_vec();
    for i in 0..2000 {
        text.extend_from_slice(format!("{i},x\n").as_bytes());
    }
    let stray = dir.file("stray.csv", &text);
    for chunk in ["1", "64", "4096", "1M"] {
        let out = run(
            &["count", "--records", "csv", "--chunk-size", chunk, "--output-format", "csv", stray.to_str().unwrap()],
            None,
            None,
        );
        assert_eq!(counts(&out), vec![3], "chunk {chunk}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("malformed records: 1 (unclosed-quote: 1)") && stderr.contains("at byte 8"),
            "{stderr}"
        );
    }
    let out = run(&["count", "--records", "csv", "--strict", stray.to_str().unwrap()], None, None);
    assert!(!out.status.success());
}

#[test]
fn results_go_to_a_file_whole_in_the_format_of_its_extension() {
    let dir = Dir::new("output");
    let input = dir.file("in.txt", b"a\nb\n");
    let target = dir.0.join("counts.csv");
    let out = run(&["count", "-o", target.to_str().unwrap(), input.to_str().unwrap()], None, None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty());
    let text = std::fs::read_to_string(&target).unwrap();
    assert!(text.starts_with("file,records\n") && text.trim_end().ends_with(",2"), "{text}");
    let leftovers: Vec<_> = std::fs::read_dir(&dir.0).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 2, "no temporary file left: {leftovers:?}");
}

/// Releasing processed pages while a mapped input is still being read must
/// never change a result; an unknown choice is a usage error.
#[test]
fn release_pages_never_changes_a_result() {
    let dir = Dir::new("release");
    let data = dir.0.join("m.txt");
    let made =
        run(&["gen", "measurements", "--rows", "200000", "--seed", "5", "-o", data.to_str().unwrap()], None, None);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let p = data.to_str().unwrap();
    let mut outputs = Vec::new();
    for release in ["auto", "always", "never"] {
        for cmd in [&["count", "--output-format", "csv"][..], &["features", "--preset", "1brc"][..]] {
            let mut args = cmd.to_vec();
            args.extend(["--mmap", "always", "--chunk-size", "64K", "--threads", "2", "--release-pages", release, p]);
            let out = run(&args, None, None);
            assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
            outputs.push((cmd[0], out.stdout));
        }
    }
    for (cmd, out) in &outputs[2..] {
        let (_, first) = outputs.iter().find(|(c, _)| c == cmd).unwrap();
        assert_eq!(out, first, "{cmd}: the same output with every --release-pages");
    }
    let out = run(&["count", "--release-pages", "sometimes", p], None, None);
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
}

fn assert_one_line_error(out: &Output, needle: &str) {
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("pagemill: error: ") && stderr.contains(needle), "{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"));
}

#[test]
fn errors_are_one_clear_line() {
    let dir = Dir::new("errors");
    assert_one_line_error(&run(&["count", "/definitely/not/here"], None, None), "No such file or directory");
    assert_one_line_error(&run(&["count", dir.0.to_str().unwrap()], None, None), "is a directory");
    let input = dir.file("in.txt", b"a\n");
    assert_one_line_error(
        &run(&["count", "-o", input.to_str().unwrap(), input.to_str().unwrap()], None, None),
        "refusing to write output onto an input",
    );
    assert_eq!(std::fs::read(&input).unwrap(), b"a\n", "the input is untouched");
    // Also when stdin is that file and is read, not mapped.
    for mmap in ["never", "auto"] {
        let stdin = Stdio::from(std::fs::File::open(&input).unwrap());
        let out = run(&["count", "--mmap", mmap, "-o", input.to_str().unwrap()], Some(stdin), None);
        assert_one_line_error(&out, "refusing to write output onto an input");
        assert_eq!(std::fs::read(&input).unwrap(), b"a\n", "--mmap {mmap}: the input is untouched");
    }
    // `-o /dev/stdout` on a shell's `>> file` writes through the descriptor:
    // what the file held stays, and the output follows it.
    let log = dir.file("log.txt", b"kept\n");
    let append = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    let out = pagemill()
        .args(["count", "-o", "/dev/stdout", "--output-format", "csv", input.to_str().unwrap()])
        .stdout(append)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.starts_with("kept\nfile,records\n") && text.ends_with(",1\n"), "{text}");
    // The same pipe under two names would split its bytes between them.
    let out = run(&["count", "-", "/dev/stdin"], None, Some(b"a\nb\n"));
    assert_one_line_error(&out, "are the same pipe");

    let locked = dir.file("locked.txt", b"secret\n");
    let mut perms = std::fs::metadata(&locked).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o000);
    std::fs::set_permissions(&locked, perms).unwrap();
    if std::fs::File::open(&locked).is_err() {
        // Not root: permissions are enforced.
        assert_one_line_error(&run(&["count", locked.to_str().unwrap()], None, None), "Permission denied");
    }
    let out = run(&["count", "--chunk-size", "0", input.to_str().unwrap()], None, None);
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
}

/// What a bug hunt found: stdout that cannot be written (a full device, a
/// closed pipe) is one error line, never a panic; an absurd thread count,
/// stdin named twice and a FIFO for worker processes are refused; a link
/// given as the output is written through.
#[test]
fn odd_outputs_and_arguments_are_clear_errors() {
    let dir = Dir::new("odd");
    let input = dir.file("in.txt", b"a\nb\n");
    let file = input.to_str().unwrap();
    if let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") {
        for args in
            [&["completions", "bash"][..], &["demo", "--rows", "100"], &["count", file], &["--help"], &["--version"]]
        {
            let mut cmd = pagemill();
            let out = cmd.args(args).stdout(full.try_clone().unwrap()).stderr(Stdio::piped()).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
            assert!(!err.contains("panicked"), "{args:?}: {err}");
            assert_eq!(err.matches("No space left on device").count(), 1, "{args:?}: {err}");
        }
    }
    // A usage error keeps its status 2 even when stderr cannot take it.
    if let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") {
        let out = pagemill().arg("bogus").stderr(full).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
    }
    let out = run(&["count", "--threads", "100000", file], None, None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at most 1024 threads"));
    assert_one_line_error(&run(&["count", "-", "-"], None, Some(b"x\n")), "stdin (-) is named more than once");
    let fifo = dir.path("fifo");
    if Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success()) {
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::write(&fifo, b"a\n"))
        };
        let out = run(&["count", "--workers", "processes", fifo.to_str().unwrap()], None, None);
        writer.join().unwrap().unwrap();
        assert_one_line_error(&out, "--workers processes needs regular files");
        // Output onto the input FIFO (named, or as stdin through /dev/stdin)
        // is refused: it hung, or wrote into pagemill's own input.
        let f = fifo.to_str().unwrap();
        let feed = |fifo: std::path::PathBuf| std::thread::spawn(move || std::fs::write(&fifo, b"a\n"));
        let writer = feed(fifo.clone());
        let out = run(&["count", f, "-o", f], None, None);
        writer.join().unwrap().unwrap();
        assert_one_line_error(&out, "refusing to write output onto an input file");
        for output in [f, "/dev/stdin"] {
            let writer = feed(fifo.clone());
            let stdin = std::fs::File::open(&fifo).unwrap();
            let out = run(&["count", "-", "-o", output], Some(Stdio::from(stdin)), None);
            writer.join().unwrap().unwrap();
            assert_one_line_error(&out, "refusing to write output onto an input file");
        }
    }
    // A pipe on stdin is no file the output could land on.
    let out = run(&["count", "-o", dir.path("piped.csv").to_str().unwrap()], None, Some(b"a\n"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let real = dir.file("real.csv", b"old");
    let link = dir.path("link.csv");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let out = run(&["count", "-o", link.to_str().unwrap(), file], None, None);
    assert!(out.status.success());
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert!(std::fs::read_to_string(&real).unwrap().ends_with(",2\n"));
}

#[test]
fn help_completions_and_demo() {
    let out = run(&["--help"], None, None);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("Examples:") && help.contains("count"), "{help}");
    let out = run(&["count", "--help"], None, None);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("SIGBUS") && help.contains("--mmap never"), "{help}");
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&["completions", shell], None, None);
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && script.contains("pagemill"));
        // Fixed value sets are offered, not file names.
        assert!(script.contains("combined") && script.contains("timed"), "{shell}: gen access-log --log-format");
        for value in ["status_class", "latency_p999", "arrow-stream", "ip-hash", "zstd", "always"] {
            assert!(script.contains(value), "{shell}: {value} is offered");
        }
    }
    let out = run(&["demo", "--rows", "20000", "--threads", "2"], None, None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("records: 20000"), "{text}");
    assert!(text.contains("413 stations"), "the 1BRC preset ran: {text}");
    assert!(text.contains("2xx") && text.contains("latency_p99"), "the logs job ran: {text}");
    assert!(text.contains("arr_delay_p99") && text.contains("dest_distinct"), "the features job ran: {text}");
}

#[test]
fn gen_measurements_is_deterministic_across_threads() {
    let dir = Dir::new("gen");
    let a = dir.0.join("a.txt");
    let b = dir.0.join("b.txt");
    for (threads, path) in [("1", &a), ("2", &b)] {
        let out = run(
            &[
                "gen",
                "measurements",
                "--rows",
                "100000",
                "--seed",
                "9",
                "--threads",
                threads,
                "-o",
                path.to_str().unwrap(),
            ],
            None,
            None,
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let bytes = std::fs::read(&a).unwrap();
    assert_eq!(bytes, std::fs::read(&b).unwrap());
    assert_eq!(reference_lines(&bytes), 100_000);
    assert!(Path::new(&a).exists());
}

#[test]
fn progress_always_draws_on_a_non_terminal() {
    let dir = Dir::new("progress");
    let input = dir.file("in.txt", &b"x\n".repeat(300_000));
    let out = run(&["count", "--progress", "always", "--chunk-size", "64K", input.to_str().unwrap()], None, None);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("KiB") || stderr.contains("MiB"), "{stderr}");
    let out = run(&["count", "--progress", "never", input.to_str().unwrap()], None, None);
    assert!(out.stderr.is_empty());
    // After the bytes: the steps that have no byte count are named.
    let csv = dir.file("f.csv", b"k,v\na,1\nb,2\n");
    let parquet = dir.path("out.parquet");
    let args = ["features", "--progress", "always", "--key", "k", "--value", "v", "-o"];
    let out = run(&[&args[..], &[parquet.to_str().unwrap(), csv.to_str().unwrap()]].concat(), None, None);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("finishing"), "{stderr}");
    assert!(stderr.contains(&format!("writing {}", parquet.display())), "{stderr}");
    let out =
        run(&["features", "--progress", "never", "--key", "k", "--value", "v", csv.to_str().unwrap()], None, None);
    assert!(out.status.success() && out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The samples in `datasets/samples`: file, the `pagemill gen` arguments that
/// make it, and a job that reads it.
const SAMPLES: [(&str, &[&str], &[&str]); 7] = [
    ("measurements.txt", &["measurements", "--rows", "1000"], &["features", "--preset", "1brc"]),
    ("access-combined.log", &["access-log", "--rows", "200", "--log-format", "combined"], &["logs", "-g", "path"]),
    ("access-timed.log", &["access-log", "--rows", "200", "--log-format", "timed"], &["logs", "-g", "status"]),
    ("access-json.log", &["access-log", "--rows", "200", "--log-format", "json"], &["logs", "-g", "method"]),
    ("access-vhost.log", &["access-log", "--rows", "200", "--log-format", "vhost_combined"], &["logs", "-g", "host"]),
    ("flights.csv", &["csv", "--rows", "500"], &["features", "--key", "dest", "--value", "arr_delay"]),
    (
        "records.bin",
        &["records", "--rows", "1000"],
        &[
            "features",
            "--record-size",
            "16",
            "--field",
            "sensor:u32@0",
            "--field",
            "status:u16@4",
            "--field",
            "value:f64@8",
            "--key",
            "sensor",
            "--value",
            "value",
        ],
    ),
];

#[test]
fn checked_in_samples_match_their_generators_and_read_cleanly() {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/samples");
    let dir = Dir::new("samples");
    for (name, gen_args, job) in SAMPLES {
        let sample = samples.join(name);
        let fresh = dir.0.join(name);
        let out = pagemill().arg("gen").args(gen_args).args(["--seed", "1", "-o"]).arg(&fresh).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(
            std::fs::read(&fresh).unwrap() == std::fs::read(&sample).unwrap(),
            "{name} differs from `pagemill gen {} --seed 1`: regenerate it",
            gen_args.join(" ")
        );
        let out =
            pagemill().args(job).args(["--progress", "never", "--output-format", "csv"]).arg(&sample).output().unwrap();
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(
            out.stderr.is_empty(),
            "{name}: no malformed records expected: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.iter().filter(|&&b| b == b'\n').count() > 1, "{name}: an empty result");
    }
}

/// Binary output bound for a terminal is refused before the run (it was
/// refused after it, progress bar and all). Needs util-linux `script` for a
/// terminal; skipped without it.
#[test]
fn binary_output_to_a_terminal_is_refused_before_the_run() {
    let dir = Dir::new("binary-tty");
    let file = dir.file("a.txt", b"a\nb\n");
    let file = file.display();
    let bin = env!("CARGO_BIN_EXE_pagemill");
    let command = format!("{bin} count --progress always {file} --output-format parquet; echo rc=$?");
    let Ok(out) = Command::new("script").args(["-qec", &command, "/dev/null"]).stdin(Stdio::null()).output() else {
        return;
    };
    if !out.status.success() && out.stdout.is_empty() {
        return; // no usable `script`
    }
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("refusing to write binary parquet output to a terminal"), "{text}");
    assert!(text.contains("rc=1") && !text.contains("finishing"), "{text}");
    // Nor binary records from gen.
    let command = format!("{bin} gen records --rows 3; echo rc=$?");
    let out = Command::new("script").args(["-qec", &command, "/dev/null"]).stdin(Stdio::null()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("refusing to write binary records to a terminal") && text.contains("rc=1"), "{text}");
    // `show --schema` writes text, to stdout with `-o -` too.
    let arrow = dir.path("r.arrow");
    assert!(run(&["count", &file.to_string(), "-o", arrow.to_str().unwrap()], None, None).status.success());
    let command = format!("{bin} show {} --schema -o -; echo rc=$?", arrow.display());
    let out = Command::new("script").args(["-qec", &command, "/dev/null"]).stdin(Stdio::null()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("pagemill.version") && text.contains("rc=0"), "{text}");
}

/// Without the `sql` feature, `pagemill sql` says how to get it.
#[cfg(not(feature = "sql"))]
#[test]
fn sql_without_the_feature_says_how_to_get_it() {
    let out = run(&["sql", "SELECT 1", "-t", "t=x.csv"], None, None);
    assert_eq!(out.status.code(), Some(2), "a usage error's status");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.lines().count() == 1 && err.contains("--features sql"), "{err}");
}
