//! `pagemill logs` end to end: the same report from a mapped file, a read
//! file and stdin, on any thread count and chunk size; rejects and errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn pagemill() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pagemill"))
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pagemill-cli-logs-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ok(out: Output) -> Output {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out
}

fn generate(dir: &Path) -> PathBuf {
    let log = dir.join("access.log");
    ok(pagemill()
        .args(["gen", "access-log", "--rows", "30000", "--log-format", "timed", "--seed", "4", "-o"])
        .arg(&log)
        .output()
        .unwrap());
    let mut bytes = std::fs::read(&log).unwrap();
    bytes.extend_from_slice(b"\x16\x03\x01 not a log line\n");
    std::fs::write(&log, bytes).unwrap();
    log
}

const QUERY: [&str; 10] = [
    "logs",
    "-g",
    "status_class,time",
    "--bucket",
    "1m",
    "--top",
    "2:path",
    "--output-format",
    "csv",
    "--progress=never",
];

#[test]
fn gzip_and_zstd_logs_give_the_plain_report_alone_mixed_and_from_stdin() {
    use std::io::Write;
    let dir = temp_dir("compressed");
    let log = generate(&dir);
    let plain = std::fs::read(&log).unwrap();
    let gz = dir.join("access.log.1.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&plain).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let zst = dir.join("access.log.2.zst");
    std::fs::write(&zst, zstd::encode_all(&plain[..], 3).unwrap()).unwrap();

    let want = ok(pagemill().args(QUERY).arg(&log).output().unwrap());
    for input in [&gz, &zst] {
        let got = ok(pagemill().args(QUERY).arg(input).output().unwrap());
        assert_eq!(got.stdout, want.stdout, "{input:?}");
        // The malformed line keeps its line number in the decompressed data.
        let stderr = String::from_utf8_lossy(&got.stderr);
        assert!(stderr.contains(&format!("{}:30001:", input.display())), "{stderr}");
    }
    // Files are streamed through the run (decoded block by block, nothing
    // written to disk) unless the bytes are needed at random, as by worker
    // processes, which decompress into a temporary file first.
    let verbose = ok(pagemill().args(QUERY).arg("--verbose").arg(&gz).output().unwrap());
    assert!(String::from_utf8_lossy(&verbose.stderr).contains("gzip input, streamed"));
    let workers = ok(pagemill()
        .args(QUERY)
        .args(["--workers", "processes", "--threads", "2", "--verbose"])
        .arg(&zst)
        .output()
        .unwrap());
    assert_eq!(workers.stdout, want.stdout);
    assert!(String::from_utf8_lossy(&workers.stderr).contains("bytes decompressed"));
    let stdin =
        ok(pagemill().args(QUERY).arg("-").stdin(Stdio::from(std::fs::File::open(&gz).unwrap())).output().unwrap());
    assert_eq!(stdin.stdout, want.stdout);
    // From a pipe: decoded as it comes, never held whole.
    let mut zcat = std::process::Command::new("cat").arg(&gz).stdout(Stdio::piped()).spawn().unwrap();
    let piped = ok(pagemill()
        .args(QUERY)
        .args(["--verbose", "-"])
        .stdin(Stdio::from(zcat.stdout.take().unwrap()))
        .output()
        .unwrap());
    zcat.wait().unwrap();
    assert_eq!(piped.stdout, want.stdout);
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert!(stderr.contains("<stdin>: streamed (gzip input)") && stderr.contains("<stdin>:30001:"), "{stderr}");
    // Plain and compressed inputs mix in one run, like two plain copies.
    let twice = ok(pagemill().args(QUERY).arg(&log).arg(&log).output().unwrap());
    let mixed = ok(pagemill().args(QUERY).arg(&log).arg(&gz).output().unwrap());
    assert_eq!(mixed.stdout, twice.stdout);
    // --no-decompress reads the compressed bytes as they are: no log format
    // matches them.
    let raw = pagemill().args(QUERY).arg("--no-decompress").arg(&gz).output().unwrap();
    assert!(!raw.status.success());
    // The error names the input whose lines were looked at.
    let stderr = String::from_utf8_lossy(&raw.stderr);
    assert!(stderr.contains(&format!("{}: cannot detect the log format", gz.display())), "{stderr}");
    // A damaged archive is one clear error line.
    let bad = dir.join("bad.gz");
    let bytes = std::fs::read(&gz).unwrap();
    std::fs::write(&bad, &bytes[..bytes.len() / 3]).unwrap();
    let out = pagemill().args(QUERY).arg(&bad).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with(&format!("pagemill: error: cannot decompress {} (gzip): ", bad.display())), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn same_report_for_mapped_read_and_stdin_inputs() {
    let dir = temp_dir("paths");
    let log = generate(&dir);
    let mapped = ok(pagemill().args(QUERY).args(["--mmap", "always"]).arg(&log).output().unwrap());
    let text = String::from_utf8(mapped.stdout.clone()).unwrap();
    assert!(text.starts_with("status_class,time,requests,bytes,"), "{text}");
    assert!(text.lines().count() > 4);
    let stderr = String::from_utf8_lossy(&mapped.stderr);
    assert!(stderr.contains("format-mismatch: 1") && stderr.contains(":30001:"), "{stderr}");
    for extra in
        [&["--mmap", "never", "--threads", "1"][..], &["--threads", "2", "--chunk-size", "1"], &["--chunk-size", "4K"]]
    {
        let out = ok(pagemill().args(QUERY).args(extra).arg(&log).output().unwrap());
        assert_eq!(out.stdout, mapped.stdout, "{extra:?}");
    }
    let stdin = ok(pagemill().args(QUERY).stdin(Stdio::from(std::fs::File::open(&log).unwrap())).output().unwrap());
    assert_eq!(stdin.stdout, mapped.stdout, "stdin");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rejects_parquet_and_errors() {
    let dir = temp_dir("rejects");
    let log = generate(&dir);
    let rejects = dir.join("rejects.txt");
    let parquet = dir.join("summary.parquet");
    ok(pagemill()
        .args(["logs", "-g", "path", "--rejects"])
        .arg(&rejects)
        .arg("-o")
        .arg(&parquet)
        .arg(&log)
        .output()
        .unwrap());
    assert_eq!(std::fs::read(&rejects).unwrap(), b"\x16\x03\x01 not a log line\n");
    assert!(std::fs::read(&parquet).unwrap().starts_with(b"PAR1"));

    // --rejects and -o on one file (named alike, or through a link, or
    // not yet there): refused, not one silently overwriting the other.
    #[cfg(unix)]
    std::os::unix::fs::symlink(&rejects, dir.join("link.txt")).unwrap();
    for (r, o) in [("rejects.txt", "rejects.txt"), ("new.csv", "./new.csv"), ("rejects.txt", "link.txt")] {
        if cfg!(not(unix)) && o == "link.txt" {
            continue;
        }
        let out = pagemill().current_dir(&dir).args(["logs", "--rejects", r, "-o", o]).arg(&log).output().unwrap();
        assert!(!out.status.success(), "{r} {o}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("name the same file"), "{r} {o}");
    }
    assert_eq!(std::fs::read(&rejects).unwrap(), b"\x16\x03\x01 not a log line\n");
    assert!(!dir.join("new.csv").exists());
    // Devices are written in place: both may be /dev/null.
    #[cfg(unix)]
    ok(pagemill().args(["logs", "--rejects", "/dev/null", "-o", "/dev/null"]).arg(&log).output().unwrap());

    let strict = pagemill().args(["logs", "--strict"]).arg(&log).output().unwrap();
    assert!(!strict.status.success());
    for bad in [&["--log-format", "%h %Z"][..], &["--where", "status=abc"], &["--json-field", "ip=x"]] {
        let out = pagemill().arg("logs").args(bad).arg(&log).output().unwrap();
        assert!(!out.status.success(), "{bad:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.lines().count() <= 4 && !stderr.contains("panicked"), "{stderr}");
    }
    let missing = pagemill().args(["logs", "/nonexistent/access.log"]).output().unwrap();
    assert!(!missing.status.success());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn max_groups_bounds_groups_and_top_values() {
    let dir = temp_dir("max-groups");
    let log = generate(&dir);
    let by_ip = ["logs", "--log-format", "timed", "-g", "ip", "--output-format", "csv", "--progress=never"];
    let ok_run = ok(pagemill().args(by_ip).arg(&log).output().unwrap());
    let ips = String::from_utf8_lossy(&ok_run.stdout).lines().count() - 1;
    assert!(ips > 100, "{ips} distinct IPs");
    let limited = pagemill().args(by_ip).args(["--max-groups", "100"]).arg(&log).output().unwrap();
    assert!(!limited.status.success());
    let stderr = String::from_utf8_lossy(&limited.stderr);
    assert!(stderr.starts_with("pagemill: error: more than 100 groups"), "{stderr}");
    // Few groups but many (group, value) pairs of a --top field count too.
    let top = ["logs", "--log-format", "timed", "-g", "status_class", "--top", "3:ip", "--progress=never"];
    let limited = pagemill().args(top).args(["--max-groups", "100"]).arg(&log).output().unwrap();
    assert!(!limited.status.success(), "{}", String::from_utf8_lossy(&limited.stdout));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Inputs that once went wrong: byte sums past u64 (a panic in debug
/// builds, a wrapped sum in release ones), stdin named twice (two readers
/// of one pipe), JSON events that are no request (counted as requests),
/// and errors over several lines or saying their cause twice.
#[test]
fn odd_inputs_give_clear_answers() {
    let dir = temp_dir("odd");
    let line = "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET /a HTTP/1.1\" 200 9999999999999999999\n";
    let big = dir.join("big.log");
    std::fs::write(&big, line.repeat(3)).unwrap();
    for threads in ["1", "2"] {
        let out = ok(pagemill()
            .args(["logs", "-m", "requests,bytes", "--output-format", "csv", "--chunk-size", "1", "--threads", threads])
            .arg(&big)
            .output()
            .unwrap());
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("requests,bytes\n3,{}\n", u64::MAX));
    }
    let out = pagemill().args(["logs", "-", "-"]).stdin(Stdio::null()).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("stdin (-) is named more than once"));

    let json = dir.join("events.log");
    std::fs::write(
        &json,
        "{\"level\":\"info\",\"msg\":\"started\"}\n{}\n{\"request\":{\"uri\":\"/a\"},\"status\":200}\n",
    )
    .unwrap();
    let out = ok(pagemill()
        .args(["logs", "--log-format", "json", "-g", "path", "-m", "requests", "--output-format", "csv"])
        .arg(&json)
        .output()
        .unwrap());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "path,requests\n/a,1\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-request: 2"), "{}", String::from_utf8_lossy(&out.stderr));

    // An empty first input (a log just rotated) does not decide `auto`.
    let empty = dir.join("access.log");
    std::fs::write(&empty, "\n").unwrap();
    let timed = dir.join("access.log.1");
    std::fs::write(&timed, "10.0.0.1 - - [01/Mar/2024:00:00:01 +0000] \"GET /a HTTP/1.1\" 200 5 \"-\" \"ua\" 0.250\n")
        .unwrap();
    for order in [[&empty, &timed], [&timed, &empty]] {
        let out = ok(pagemill()
            .args(["logs", "-m", "requests,latency_max", "--output-format", "csv"])
            .args(order)
            .output()
            .unwrap());
        assert_eq!(String::from_utf8_lossy(&out.stdout), "requests,latency_max\n1,0.25\n", "{order:?}");
    }

    // `auto` looks at whole lines: a first line longer than the sample is
    // read to its end, not cut into a line no format parses. A byte order
    // mark before it is no part of it, for detection and the job.
    let long = dir.join("long.log");
    let agent = "a".repeat(100_000);
    let line = format!("10.0.0.1 - - [01/Mar/2024:00:00:01 +0000] \"GET /a HTTP/1.1\" 200 5 \"-\" \"{agent}\" 0.250\n");
    std::fs::write(&long, format!("\u{feff}{}", line.repeat(3))).unwrap();
    let out = ok(pagemill()
        .args(["logs", "-m", "requests,latency_max", "--output-format", "csv"])
        .arg(&long)
        .output()
        .unwrap());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "requests,latency_max\n3,0.25\n");
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));

    // A CRLF log whose last LF is missing: its last line is still a line.
    let crlf = dir.join("crlf.log");
    let line = "10.0.0.1 - - [01/Mar/2024:00:00:01 +0000] \"GET /a HTTP/1.1\" 200 5";
    std::fs::write(&crlf, format!("{line}\r\n{line}\r")).unwrap();
    let out = ok(pagemill()
        .args(["logs", "--log-format", "common", "-m", "requests,bytes", "--output-format", "csv"])
        .arg(&crlf)
        .output()
        .unwrap());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "requests,bytes\n2,10\n");
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));

    let out = pagemill().args(["logs", "--rejects", "-"]).arg(&big).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rejects needs a file name, not -"));
    assert!(!Path::new("-").exists());

    let out = pagemill().args(["logs", "--where", "path~("]).arg(&big).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.lines().next().unwrap().contains("invalid regular expression in a filter: unclosed group"), "{err}");
    let out = pagemill().args(["logs", "--rejects"]).arg(&big).arg(&big).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.matches("refusing to write output onto an input file").count(), 1, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Apache's `vhost_combined` (Debian's `other_vhosts_access.log`) is
/// detected, grouped by its virtual host, and a user name with spaces after
/// a `-` ident is a user, not a malformed line.
#[test]
fn vhost_combined_logs_and_spaced_user_names() {
    let dir = temp_dir("vhost");
    let log = dir.join("other_vhosts_access.log");
    std::fs::write(
        &log,
        concat!(
            "www.example.com:443 203.0.113.7 - - [10/Oct/2023:13:55:36 +0000] \"GET /a HTTP/1.1\" 200 100 \"-\" \"curl\"\n",
            "www.example.com:443 203.0.113.8 - John Q Smith [10/Oct/2023:13:55:37 +0000] \"GET /b HTTP/1.1\" 401 20 \"-\" \"curl\"\n",
            "shop.example.org:80 2001:db8::7 - alice [10/Oct/2023:13:55:38 +0000] \"POST /cart HTTP/1.1\" 302 3 \"-\" \"curl\"\n",
        ),
    )
    .unwrap();
    let csv = ["-g", "host", "-m", "requests,bytes", "--output-format", "csv", "--progress=never"];
    for format in [&["--log-format", "vhost_combined"][..], &[]] {
        let out = ok(pagemill().arg("logs").args(format).args(csv).arg(&log).output().unwrap());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "host,requests,bytes\nshop.example.org,1,3\nwww.example.com,2,120\n",
            "{format:?}"
        );
        // No malformed line: the spaced user name is read as one.
        assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
