//! The CLI's Arrow output: `count` in every format, `-o -`, and `show`.
//! (Kept apart from the foundation's tests.rs; fold in as a module at will.)

use std::process::{Command, Output};

mod common;
use common::{Dir, s};

fn pagemill(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pagemill")).args(args).output().unwrap()
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn count_writes_every_format_and_show_reads_the_binary_ones_back() {
    let dir = Dir::new("formats");
    let a = dir.file("a.txt", b"1\n2\n3\n");
    let b = dir.file("b.txt", b"x\n");
    let table = ok(pagemill(&["count", s(&a), s(&b)]));
    assert_eq!(
        table,
        format!("file{}  records\n{}        3\n{}        1\n", " ".repeat(s(&a).len() - 4), s(&a), s(&b))
    );
    for ext in ["arrow", "arrows", "parquet"] {
        let out = dir.0.join(format!("counts.{ext}"));
        assert!(ok(pagemill(&["count", "-o", s(&out), s(&a), s(&b)])).is_empty());
        assert_eq!(ok(pagemill(&["show", s(&out)])), table, "{ext}");
        assert_eq!(ok(pagemill(&["show", "--mmap", "never", s(&out)])), table, "{ext}, read into memory");
        let limited = pagemill(&["show", "--limit", "1", s(&out)]);
        assert!(String::from_utf8_lossy(&limited.stderr).contains("showing 1 of 2 rows"));
        assert_eq!(ok(limited).lines().count(), 2, "{ext}: header and one row");
    }
    let ndjson = ok(pagemill(&["count", "--output-format", "ndjson", s(&a)]));
    assert_eq!(ndjson, format!("{{\"file\":\"{}\",\"records\":3}}\n", s(&a)));
    let tsv = ok(pagemill(&["count", "--output-format", "tsv", s(&a)]));
    assert_eq!(tsv, format!("file\trecords\n{}\t3\n", s(&a)));
}

#[test]
fn dash_writes_an_arrow_stream_to_stdout() {
    let dir = Dir::new("stream");
    let a = dir.file("a.txt", b"1\n2\n");
    let out = pagemill(&["count", "-o", "-", s(&a)]);
    assert!(out.status.success());
    assert_eq!(&out.stdout[..4], [0xff; 4], "an IPC stream starts with a continuation marker");
    let path = dir.file("piped.arrows", &out.stdout);
    assert!(ok(pagemill(&["show", s(&path)])).ends_with("  2\n"));
}

#[test]
fn show_schema_prints_the_run_metadata() {
    let dir = Dir::new("schema");
    let a = dir.file("a.csv", b"x,y\n\"1\n2\",3\n");
    let out = dir.0.join("c.arrow");
    ok(pagemill(&["count", "--records", "csv", "-o", s(&out), s(&a)]));
    let text = ok(pagemill(&["show", "--schema", s(&out)]));
    assert!(text.starts_with("file     Utf8    not null\nrecords  UInt64  not null\n"), "{text}");
    for needle in ["pagemill.job        count", "pagemill.options    records=csv", "\"size\":12", "pagemill.version"] {
        assert!(text.contains(needle), "{needle} missing: {text}");
    }
    // With -o, the description goes to the file, never onto the input.
    let described = dir.0.join("schema.txt");
    assert_eq!(ok(pagemill(&["show", "--schema", "-o", s(&described), s(&out)])), "");
    assert_eq!(std::fs::read_to_string(&described).unwrap(), text);
    assert_eq!(pagemill(&["show", "--schema", "-o", s(&out), s(&out)]).status.code(), Some(1));
    let parquet = dir.0.join("schema.parquet");
    assert_eq!(pagemill(&["show", "--schema", "-o", s(&parquet), s(&out)]).status.code(), Some(1));
    assert!(!parquet.exists());
    // Text formats are text: as before, the description.
    assert_eq!(ok(pagemill(&["show", "--schema", "--output-format", "table", s(&out)])), text);
    let tsv = dir.0.join("schema.tsv");
    ok(pagemill(&["show", "--schema", "-o", s(&tsv), s(&out)]));
    assert_eq!(std::fs::read_to_string(&tsv).unwrap(), text);
}

#[test]
fn show_converts_and_never_overwrites_its_input() {
    let dir = Dir::new("convert");
    let a = dir.file("a.txt", b"1\n");
    let arrow = dir.0.join("c.arrow");
    ok(pagemill(&["count", "-o", s(&arrow), s(&a)]));
    let csv = dir.0.join("c.csv");
    ok(pagemill(&["show", s(&arrow), "-o", s(&csv)]));
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), format!("file,records\n{},1\n", s(&a)));
    let before = std::fs::read(&arrow).unwrap();
    let out = pagemill(&["show", s(&arrow), "-o", s(&arrow)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to write output onto an input"));
    assert_eq!(std::fs::read(&arrow).unwrap(), before);
}

#[test]
fn bad_result_files_are_one_line_errors() {
    let dir = Dir::new("bad");
    let text = dir.file("a.arrow", b"not arrow at all\n");
    let truncated = dir.0.join("t.arrow");
    ok(pagemill(&["count", "-o", s(&truncated), s(&text)]));
    let bytes = std::fs::read(&truncated).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    for (path, needle) in [(text.as_path(), "not an Arrow IPC file or a Parquet file"), (&truncated, "cannot read")] {
        let out = pagemill(&["show", s(path)]);
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("pagemill: error: ") && stderr.contains(needle), "{stderr}");
    }
    let out = pagemill(&["count", "--output-format", "xml", s(&text)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown output format 'xml'"));
}

#[test]
fn features_table_carries_metadata_and_dash_streams_arrow() {
    let dir = Dir::new("features");
    let data = dir.file("m.txt", b"Oslo;1.5\nLima;20.0\nOslo;-2.5\n");
    let official = ok(pagemill(&["features", "--preset", "1brc", s(&data)]));
    assert_eq!(official, "{Lima=20.0/20.0/20.0, Oslo=-2.5/-0.5/1.5}\n");
    let stream = pagemill(&["features", "--preset", "1brc", "-o", "-", s(&data)]);
    assert!(stream.status.success());
    assert_eq!(&stream.stdout[..4], [0xff; 4], "-o - writes an Arrow stream");
    let arrows = dir.file("f.arrows", &stream.stdout);
    let table = ok(pagemill(&["show", s(&arrows)]));
    assert!(table.lines().nth(2).unwrap().starts_with("Oslo        2             -2.5"), "{table}");
    let schema = ok(pagemill(&["show", "--schema", s(&arrows)]));
    assert!(schema.contains("pagemill.job        features") && schema.contains("preset=1brc"), "{schema}");
}

#[test]
fn show_and_merge_read_a_stream_piped_into_stdin() {
    use std::io::Write;
    use std::process::Stdio;
    let dir = Dir::new("stdin");
    let a = dir.file("a.txt", b"1\n2\n3\n");
    let piped = |args: &[&str], stdin: &[u8]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pagemill"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().unwrap()
    };
    let stream = pagemill(&["count", "-o", "-", s(&a)]);
    assert!(stream.status.success());
    assert_eq!(ok(piped(&["show", "-"], &stream.stdout)), ok(pagemill(&["count", s(&a)])));
    let partial = pagemill(&["count", "--partial", "-o", "-", s(&a)]);
    let file = dir.0.join("p.arrow");
    ok(pagemill(&["count", "--partial", "-o", s(&file), s(&a)]));
    let merged = ok(piped(&["merge", "--output-format", "csv", s(&file), "-"], &partial.stdout));
    assert_eq!(merged, format!("file,records\n{0},3\n{0},3\n", s(&a)));
    let twice = piped(&["merge", "-", "-"], &partial.stdout);
    assert!(String::from_utf8_lossy(&twice.stderr).contains("named more than once"));
    // A named pipe: read once, not opened again (its writer is gone).
    #[cfg(unix)]
    {
        let fifo = dir.0.join("results.fifo");
        assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let (path, bytes) = (fifo.clone(), stream.stdout.clone());
        let writer = std::thread::spawn(move || std::fs::write(path, bytes).unwrap());
        let mut child = Command::new(env!("CARGO_BIN_EXE_pagemill"))
            .args(["show", s(&fifo)])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            assert!(started.elapsed() < std::time::Duration::from_secs(30), "show hangs on a named pipe");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        writer.join().unwrap();
        assert_eq!(ok(child.wait_with_output().unwrap()), ok(pagemill(&["count", s(&a)])));
    }
}

/// Start a long `gen` into `dir/big.txt`, wait for its temporary file to
/// fill, send `signal` (number `number`), and check that the process ends by
/// that signal (as a shell sees it: 128 + `number`) leaving nothing.
#[cfg(unix)]
fn interrupt(dir: &Dir, signal: &str, number: i32) {
    use std::os::unix::process::ExitStatusExt;
    use std::time::{Duration, Instant};
    let target = dir.0.join("big.txt");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pagemill"))
        .args(["gen", "measurements", "--rows", "2000000000", "-o", s(&target)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let temp = loop {
        let found = std::fs::read_dir(&dir.0)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(".big.txt.pagemill-"));
        if let Some(temp) = found.filter(|t| std::fs::metadata(t).is_ok_and(|m| m.len() > 0)) {
            break temp;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("no temporary file appeared");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let pid = child.id().to_string();
    assert!(Command::new("kill").args([&format!("-{signal}"), &pid]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(number), "{signal}: {:?} {stderr}", out.status);
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(!temp.exists(), "{signal}: temporary file left behind");
    assert!(!target.exists(), "{signal}: a partial output appeared");
}

#[cfg(unix)]
#[test]
fn an_interrupted_demo_leaves_no_scratch_folder() {
    use std::time::{Duration, Instant};
    let dir = Dir::new("demo-signal");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pagemill"))
        .args(["demo", "--rows", "2000000000"])
        .env("TMPDIR", &dir.0)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let scratch = dir.0.join(format!("pagemill-demo-{}", child.id()));
    let started = Instant::now();
    // Wait for the data file to fill: the folder exists and holds bytes.
    while !std::fs::read_dir(&scratch)
        .is_ok_and(|entries| entries.flatten().any(|e| e.metadata().is_ok_and(|m| m.len() > 0)))
    {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("no demo data appeared");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!scratch.exists(), "the demo's scratch folder was left behind");
}

#[cfg(unix)]
#[test]
fn sigint_sigterm_and_sighup_leave_no_partial_output() {
    let dir = Dir::new("signals");
    interrupt(&dir, "INT", 2);
    interrupt(&dir, "TERM", 15);
    interrupt(&dir, "HUP", 1);
    assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 0);
}

/// A signal ignored from the start (`nohup`, SIGHUP) stays ignored: the run
/// goes on, and SIGTERM still ends it cleanly.
#[cfg(unix)]
#[test]
fn an_inherited_ignored_sighup_stays_ignored() {
    use std::os::unix::process::ExitStatusExt;
    use std::time::{Duration, Instant};
    let dir = Dir::new("nohup");
    let target = dir.0.join("big.txt");
    let script = format!(
        "trap '' HUP; exec {} gen measurements --rows 2000000000 -o {}",
        env!("CARGO_BIN_EXE_pagemill"),
        s(&target)
    );
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let has_temp = || {
        std::fs::read_dir(&dir.0).unwrap().flatten().any(|e| e.file_name().to_string_lossy().starts_with(".big.txt"))
    };
    while !has_temp() {
        assert!(started.elapsed() < Duration::from_secs(30), "no temporary file appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "an ignored SIGHUP ended the run");
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.signal(), Some(15), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 0, "a file was left");
}

/// A write past `ulimit -f` is a failed write (EFBIG), not death by SIGXFSZ:
/// the old output stays and no temporary file is left.
#[cfg(unix)]
#[test]
fn a_file_size_limit_is_a_clean_write_error() {
    let dir = Dir::new("xfsz");
    let target = dir.0.join("out.txt");
    std::fs::write(&target, "old\n").unwrap();
    let script = format!(
        "ulimit -f 64; exec {} gen measurements --rows 100000 -o {}",
        env!("CARGO_BIN_EXE_pagemill"),
        s(&target)
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{:?} {stderr}", out.status);
    assert!(stderr.starts_with("pagemill: error:") && stderr.contains("too large"), "{stderr}");
    assert_eq!(std::fs::read(&target).unwrap(), b"old\n");
    assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 1, "a temporary file was left");
}
