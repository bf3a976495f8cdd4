//! `pagemill redact`: in place, into a copy, dry runs, refusals, and runs
//! killed part-way and run again.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{Dir, s};

const BIN: &str = env!("CARGO_BIN_EXE_pagemill");
const KEY: &str = "a test key that is long enough";

fn pagemill(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env("PAGEMILL_REDACT_KEY", KEY).env_remove("PAGEMILL_TEST_REDACT_ABORT_AFTER");
    cmd
}

fn run(args: &[&str]) -> Output {
    pagemill(args).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stderr).unwrap()
}

fn fails(args: &[&str]) -> String {
    let out = run(args);
    assert!(!out.status.success(), "{args:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

fn generate(dir: &Dir, name: &str, rows: u64, format: &str) -> PathBuf {
    let path = dir.path(name);
    ok(&["gen", "access-log", "--rows", &rows.to_string(), "--log-format", format, "--seed", "5", "-o", s(&path)]);
    path
}

#[test]
fn in_place_copy_and_dry_run_agree_and_only_in_place_touches_the_input() {
    let dir = Dir::new("modes");
    for format in ["timed", "combined", "json"] {
        let log = generate(&dir, &format!("{format}.log"), 5000, format);
        let original = std::fs::read(&log).unwrap();
        let copy = dir.path(&format!("{format}.copy"));
        let summary = ok(&["redact", "--mask", "ip-hash,query,user", "-o", s(&copy), s(&log)]);
        assert!(summary.contains("5000 lines, changed 5000"), "{summary}");
        assert_eq!(std::fs::read(&log).unwrap(), original, "-o leaves the input alone");
        let redacted = std::fs::read(&copy).unwrap();
        assert_eq!(redacted.len(), original.len());
        assert_ne!(redacted, original);
        let dry = ok(&["redact", "--dry-run", "--mask", "ip-hash,query,user", s(&log)]);
        assert!(dry.contains("5000 lines, would change 5000"), "{dry}");
        assert_eq!(std::fs::read(&log).unwrap(), original, "--dry-run changes nothing");
        ok(&["redact", "--in-place", "--mask", "ip-hash,query,user", "--chunk-size", "16K", s(&log)]);
        assert_eq!(std::fs::read(&log).unwrap(), redacted, "in place equals the copy");
        let again = ok(&["redact", "--in-place", "--mask", "ip-hash,query,user", s(&log)]);
        assert!(again.contains("changed 0 "), "idempotent: {again}");
        assert_eq!(std::fs::read(&log).unwrap(), redacted);
    }
}

#[test]
fn malformed_lines_are_reported_have_their_addresses_masked_and_are_refused_with_strict() {
    let dir = Dir::new("malformed");
    let log = dir.path("a.log");
    let text =
        "10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1 \"-\" \"a\"\nnot a log line 10.0.0.2\n";
    std::fs::write(&log, text).unwrap();
    let err = fails(&["redact", "--in-place", "--strict", "--log-format", "combined", "--mask", "ip", s(&log)]);
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), text);
    let out = ok(&["redact", "--in-place", "--log-format", "combined", "--mask", "ip", s(&log)]);
    assert!(out.contains("format-mismatch at byte 73"), "{out}");
    assert!(out.contains("1 malformed"), "{out}");
    // The sample shows the line as written: its address masked.
    assert!(out.contains("not a log line 10.0.0.x") && !out.contains("10.0.0.2"), "{out}");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        text.replacen("10.0.0.1 ", "10.0.0.x ", 1).replacen("10.0.0.2", "10.0.0.x", 1)
    );
    // With several files, all or nothing: a good file before a bad one is
    // not written either, and a strict dry run fails as the run would.
    let good = dir.path("good.log");
    let line = "10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1 \"-\" \"a\"\n";
    std::fs::write(&good, line).unwrap();
    std::fs::write(&log, text).unwrap();
    let args = ["redact", "--strict", "--log-format", "combined", "--mask", "ip"];
    let err = fails(&[&args[..], &["--in-place", s(&good), s(&log)]].concat());
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(std::fs::read_to_string(&good).unwrap(), line);
    let err = fails(&[&args[..], &["--dry-run", s(&log)]].concat());
    assert!(err.contains("a --strict run would write nothing"), "{err}");
}

#[test]
fn every_client_address_is_masked_and_queries_keep_their_separators() {
    let dir = Dir::new("addresses");
    let log = dir.path("a.log");
    std::fs::write(
        &log,
        concat!(
            "1.2.3.4 5.6.7.8 bob [01/May/2024:00:00:00 +0000] \"GET /a?x=1 HTTP/1.1\" 200 5\n",
            "203.0.113.45:8080 - - [01/May/2024:00:00:00 +0000] \"GET /a?x=1 HTTP/1.1\" 200 5\n",
            "1.2.3.4 - - [01/May/2024:00:00:00 +0000] \"GET\t/a?x=t b\tHTTP/1.1\" 200 5\n",
        ),
    )
    .unwrap();
    let out =
        pagemill(&["redact", "--mask", "ip,query", "--log-format", "%h %a %u %t \"%r\" %>s %b", "-o", "-", s(&log)])
            .output()
            .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        concat!(
            "1.2.3.x 5.6.7.x bob [01/May/2024:00:00:00 +0000] \"GET /a?x=x HTTP/1.1\" 200 5\n",
            "203.0.113.xx:8080 - - [01/May/2024:00:00:00 +0000] \"GET /a?x=x HTTP/1.1\" 200 5\n",
            "1.2.3.x - - [01/May/2024:00:00:00 +0000] \"GET\t/a?x=x x\tHTTP/1.1\" 200 5\n",
        )
    );
    assert!(!Path::new("-").exists());
}

/// The redacted file one uninterrupted run gives, via -o.
fn reference(dir: &Dir, log: &Path, masks: &str) -> Vec<u8> {
    let out = dir.path("reference");
    ok(&["redact", "--mask", masks, "-o", s(&out), s(log)]);
    std::fs::read(out).unwrap()
}

#[test]
fn a_run_aborted_part_way_and_run_again_equals_one_run() {
    let dir = Dir::new("abort");
    for masks in ["ip,query,user", "ip-hash,query,user", "ip", "ip-hash", "query", "user"] {
        let log = generate(&dir, "a.log", 4000, "combined");
        // Users, so that the user mask has something to do.
        let text = std::fs::read_to_string(&log).unwrap().replace(" - - [", " - someone [");
        std::fs::write(&log, &text).unwrap();
        let want = reference(&dir, &log, masks);
        let out = pagemill(&["redact", "--in-place", "--mask", masks, "--chunk-size", "8K", "--threads", "2", s(&log)])
            .env("PAGEMILL_TEST_REDACT_ABORT_AFTER", "5")
            .output()
            .unwrap();
        assert!(!out.status.success(), "the hook aborts the run");
        let partial = std::fs::read(&log).unwrap();
        assert_ne!(partial, text.as_bytes(), "{masks}: the aborted run wrote something");
        assert_ne!(partial, want, "{masks}: the aborted run did not finish");
        ok(&["redact", "--in-place", "--mask", masks, "--chunk-size", "8K", s(&log)]);
        assert_eq!(std::fs::read(&log).unwrap(), want, "{masks}");
    }
}

#[test]
fn a_run_killed_at_a_random_moment_and_run_again_equals_one_run() {
    let dir = Dir::new("kill");
    let log = generate(&dir, "a.log", 100_000, "timed");
    let original = std::fs::read(&log).unwrap();
    let want = reference(&dir, &log, "ip-hash,query");
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    for round in 0..3u32 {
        std::fs::write(&log, &original).unwrap();
        let mut child = pagemill(&["redact", "--in-place", "--mask", "ip-hash,query", "--chunk-size", "64K", s(&log)])
            .spawn()
            .unwrap();
        let delay = u64::from((nanos >> (round * 4)) % 600) + 20;
        std::thread::sleep(std::time::Duration::from_millis(delay));
        let _ = child.kill();
        child.wait().unwrap();
        ok(&["redact", "--in-place", "--mask", "ip-hash,query", s(&log)]);
        assert_eq!(std::fs::read(&log).unwrap(), want, "killed after {delay} ms");
    }
}

#[test]
fn refusals() {
    let dir = Dir::new("refuse");
    let log = generate(&dir, "a.log", 100, "timed");
    // A file locked by another process.
    let holder = std::fs::File::open(&log).unwrap();
    holder.try_lock().unwrap();
    let err = fails(&["redact", "--in-place", "--mask", "ip", s(&log)]);
    assert!(err.contains("is locked by another process (another pagemill redact?)"), "{err}");
    let err = fails(&["redact", "--dry-run", "--mask", "ip", s(&log)]);
    assert!(err.contains("locked"), "{err}");
    drop(holder);
    // ip-hash without a key, or with a short one.
    let out = pagemill(&["redact", "--dry-run", "--mask", "ip-hash", s(&log)])
        .env_remove("PAGEMILL_REDACT_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("needs a secret key"));
    let key = dir.path("key");
    std::fs::write(&key, "short\n").unwrap();
    let err = fails(&["redact", "--dry-run", "--mask", "ip-hash", "--key-file", s(&key), s(&log)]);
    assert!(err.contains("too short"), "{err}");
    // No mode, two modes, both ip masks, -o onto the input.
    assert!(fails(&["redact", "--mask", "ip", s(&log)]).contains("required"));
    assert!(fails(&["redact", "--mask", "ip", "--in-place", "--dry-run", s(&log)]).contains("cannot be used with"));
    assert!(fails(&["redact", "--mask", "ip,ip-hash", "--dry-run", s(&log)]).contains("choose one of ip and ip-hash"));
    assert!(fails(&["redact", "--mask", "ip", "-o", s(&log), s(&log)]).contains("input"));
    assert!(fails(&["redact", "--workers", "processes", "--mask", "ip", "--dry-run", s(&log)]).contains("threads"));
    let before = std::fs::read(&log).unwrap();
    assert!(fails(&["redact", "--mmap", "never", "--in-place", "--mask", "ip", s(&log)]).contains("writable map"));
    assert_eq!(std::fs::read(&log).unwrap(), before);
    // Not regular files, stdin, compressed input.
    #[cfg(unix)]
    {
        let fifo = dir.path("fifo");
        assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert!(fails(&["redact", "--in-place", "--mask", "ip", s(&fifo)]).contains("not a regular file"));
    }
    assert!(fails(&["redact", "--in-place", "--mask", "ip", s(&dir.0)]).contains("not a regular file"));
    assert!(fails(&["redact", "--in-place", "--mask", "ip", "-"]).contains("not stdin"));
    let stdin = pagemill(&["redact", "--in-place", "--mask", "ip", "/dev/stdin"])
        .stdin(std::fs::File::open(&log).unwrap())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&stdin.stderr).contains("not stdin"));
    assert_eq!(std::fs::read(&log).unwrap(), before, "stdin's file is untouched");
    let gz = dir.path("a.log.gz");
    std::fs::write(&gz, [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]).unwrap();
    assert!(fails(&["redact", "--in-place", "--mask", "ip", s(&gz)]).contains("compressed"));
}

/// Among several files, one that cannot be redacted (compressed, of no
/// format auto detects, missing) stops the run before any file is written,
/// and the error names each such file: the run used to stop at the first,
/// after redacting the files before it and leaving those after it in clear.
#[test]
fn a_file_that_cannot_be_redacted_stops_the_run_before_any_is_written() {
    let dir = Dir::new("unpreparable");
    let a = generate(&dir, "a.log", 300, "combined");
    let c = generate(&dir, "c.log", 300, "timed");
    let original = (std::fs::read(&a).unwrap(), std::fs::read(&c).unwrap());
    let gz = dir.path("b.log.gz");
    std::fs::write(&gz, [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]).unwrap();
    let garbage = dir.file(
        "d.log",
        b"no log line here
nor here
",
    );
    let missing = dir.path("e.log");
    for mode in [&["--in-place"][..], &["--dry-run"]] {
        let args = [&["redact", "--mask", "ip"][..], mode, &[s(&a), s(&gz), s(&c), s(&garbage)]].concat();
        let err = fails(&args);
        assert_eq!(err.lines().count(), 1, "one error line: {err}");
        assert!(err.contains("2 of 4 files cannot be redacted (nothing was"), "{err}");
        assert!(err.contains("b.log.gz is gzip-compressed") && err.contains("d.log"), "{err}");
        assert!(!err.contains("a.log") && !err.contains("c.log"), "{err}");
        let err = fails(&[&["redact", "--mask", "ip"][..], mode, &[s(&a), s(&missing)]].concat());
        assert!(err.contains("cannot open") && err.contains("e.log") && err.contains("(nothing was"), "{err}");
    }
    assert_eq!((std::fs::read(&a).unwrap(), std::fs::read(&c).unwrap()), original, "nothing written");
    // Without the bad files, both are redacted.
    let out = ok(&["redact", "--in-place", "--mask", "ip", s(&a), s(&c)]);
    assert!(out.contains("a.log: 300 lines, changed 300") && out.contains("c.log: 300 lines, changed 300"), "{out}");
}

/// A run that finds no client address in any line (JSON keys that are
/// none of the defaults) warns instead of passing the addresses in
/// silence; a rerun over masked lines finds them and does not.
#[test]
fn no_address_found_is_a_warning() {
    let dir = Dir::new("no-address");
    // A client logged by name under a key no list names: no address is
    // found, and the warning says which key to name.
    let named = dir.file("named.jsonl", b"{\"httpRequest\":{\"remoteHost\":\"client-7.example\"},\"status\":200}\n");
    let out = run(&["redact", "--mask", "ip", "-o", "-", s(&named)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.contains("warning") && err.contains("no client address found"), "{err}");
    let out = run(&["redact", "--mask", "ip", "-o", "-", "--json-field", "ip=httpRequest.remoteHost", s(&named)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("warning") && err.contains("1 addresses not IPs"), "{err}");
    // An address there is found and masked without naming the key (it
    // used to be left in clear, with the warning); so is it when named,
    // and a rerun finds the masked addresses.
    let gcp = dir.file("gcp.jsonl", b"{\"httpRequest\":{\"remoteIp\":\"203.0.113.4\"},\"status\":200}\n");
    for key in [&[][..], &["--json-field", "ip=httpRequest.remoteIp"]] {
        let out = run(&[&["redact", "--mask", "ip", "-o", "-"], key, &[s(&gcp)]].concat());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "{\"httpRequest\":{\"remoteIp\":\"203.0.113.x\"},\"status\":200}\n"
        );
        assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"));
        let masked = dir.file("masked.jsonl", &out.stdout);
        let out = run(&[&["redact", "--mask", "ip", "-o", "-"], key, &[s(&masked)]].concat());
        assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"), "a rerun finds the masked addresses");
    }
}

/// A wrong `--log-format` makes every line malformed: the run fails
/// instead of passing with only addresses masked, and a copy is not
/// written.
#[test]
fn a_file_of_which_no_line_parses_is_an_error() {
    let dir = Dir::new("nolineparses");
    let log = dir.path("a.jsonl");
    let text = "{\"remote_addr\":\"203.0.113.9\",\"request\":\"GET /a?t=1 HTTP/1.1\",\"status\":200}\n";
    std::fs::write(&log, text.repeat(3)).unwrap();
    let out = dir.path("out.jsonl");
    let err = fails(&["redact", "--log-format", "combined", "--mask", "ip,query", "-o", s(&out), s(&log)]);
    assert!(
        err.contains("no line of") && err.contains("matches the log format") && err.contains("nothing was written"),
        "{err}"
    );
    assert!(!out.exists());
    let err = fails(&["redact", "--dry-run", "--log-format", "combined", "--mask", "ip", s(&log)]);
    assert!(err.contains("a run would mask only address-shaped words"), "{err}");
    let err = fails(&["redact", "--in-place", "--log-format", "combined", "--mask", "ip", s(&log)]);
    assert!(err.contains("run again with the right format"), "{err}");
    // Run again with the right format: finished.
    ok(&["redact", "--in-place", "--log-format", "json", "--mask", "ip,query", s(&log)]);
    let want = "{\"remote_addr\":\"203.0.113.x\",\"request\":\"GET /a?x=x HTTP/1.1\",\"status\":200}\n";
    assert_eq!(std::fs::read_to_string(&log).unwrap(), want.repeat(3));
    // A device is written as the lines come: the message says what it got.
    let err = fails(&["redact", "--log-format", "combined", "--mask", "ip", "-o", "/dev/null", s(&log)]);
    assert!(err.contains("what was written to /dev/null has only address-shaped words masked"), "{err}");
    // Without an address mask, nothing is said to be masked.
    let err = fails(&["redact", "--dry-run", "--log-format", "combined", "--mask", "user", s(&log)]);
    assert!(err.contains("a run would mask nothing"), "{err}");
    // A file of empty lines is no such file; and one that does not parse
    // does not stop the files after it from being redacted.
    let blank = dir.path("blank.log");
    std::fs::write(&blank, "\n\n").unwrap();
    ok(&["redact", "--dry-run", "--log-format", "combined", "--mask", "ip", s(&blank)]);
    let good = dir.path("good.log");
    std::fs::write(
        &good,
        "203.0.113.9 - bob [10/Oct/2000:13:55:36 -0700] \"GET /a?t=1 HTTP/1.1\" 200 5 \"-\" \"ua\"\n",
    )
    .unwrap();
    let bad = dir.path("bad.log");
    std::fs::write(&bad, "not a log line\n").unwrap();
    let err =
        fails(&["redact", "--in-place", "--log-format", "combined", "--mask", "ip,user,query", s(&bad), s(&good)]);
    assert!(err.contains(&format!("no line of {} matches the log format", s(&bad))), "{err}");
    assert_eq!(
        std::fs::read_to_string(&good).unwrap(),
        "203.0.113.x - xxx [10/Oct/2000:13:55:36 -0700] \"GET /a?x=x HTTP/1.1\" 200 5 \"-\" \"ua\"\n"
    );
}

/// A file of which no line parses is named once as failing: in the run's
/// one error line, at the end, beside any other such file, after its
/// malformed lines were reported and the other files were redacted.
#[test]
fn the_files_of_which_no_line_parses_are_named_in_one_error_line() {
    let dir = Dir::new("named-once");
    let line = "203.0.113.9 - bob [10/Oct/2000:13:55:36 -0700] \"GET /a HTTP/1.1\" 200 5 \"-\" \"ua\"\n";
    let good = dir.file("good.log", line.as_bytes());
    let bad = dir.file("bad.log", b"not a log line\n");
    let worse = dir.file("worse.log", b"not one either\n");
    let args = ["redact", "--log-format", "combined", "--mask", "ip"];
    let err = fails(&[&args[..], &["--in-place", s(&bad), s(&good), s(&worse)]].concat());
    let want = format!(
        "pagemill: error: no line of {} or {} matches the log format combined (check --log-format); only address-shaped \
         words were masked (run again with the right format to finish)",
        s(&bad),
        s(&worse)
    );
    assert_eq!(err.lines().filter(|l| l.contains("error")).collect::<Vec<_>>(), [want.as_str()], "{err}");
    assert_eq!(err.lines().last(), Some(want.as_str()), "{err}");
    assert!(err.contains(&format!("pagemill: {}: 1 lines, changed 1", s(&good))), "{err}");
    assert_eq!(std::fs::read_to_string(&good).unwrap(), line.replace("203.0.113.9", "203.0.113.x"));
    // A file named twice is redacted, reported and named once.
    let err = fails(&[&args[..], &["--dry-run", s(&bad), s(&good), s(&bad)]].concat());
    let once = format!("no line of {} matches", s(&bad));
    assert!(err.lines().last().is_some_and(|l| l.contains(&once)), "{err}");
    assert_eq!(err.matches(&format!("pagemill: {}: 1 malformed lines", s(&bad))).count(), 1, "{err}");
    assert_eq!(err.matches(s(&bad)).count(), 3, "report, sample, error line: {err}");
    // One file into a copy: one error line, which says nothing was written.
    let out = dir.path("out.log");
    let err = fails(&[&args[..], &["-o", s(&out), s(&bad)]].concat());
    assert_eq!(
        err.lines().filter(|l| l.contains("error")).collect::<Vec<_>>(),
        [format!(
            "pagemill: error: no line of {} matches the log format combined (check --log-format); nothing was written",
            s(&bad)
        )],
        "{err}"
    );
    assert!(!out.exists());
}

/// An empty (or all-blank) line is a malformed line in redact as in logs:
/// reported, and refused by --strict as `pagemill logs --strict` refuses
/// it, with a message that says so; but it is no sign of a wrong format,
/// so without --strict a file of only empty lines passes, as in logs. A
/// file with no line at all passes everywhere.
#[test]
fn empty_lines_are_malformed_for_strict_as_in_logs_and_no_sign_of_a_wrong_format() {
    let dir = Dir::new("empty-lines");
    let blank = dir.file("blank.log", b"\n  \n\r\n");
    let empty = dir.file("empty.log", b"");
    let line = "203.0.113.9 - bob [10/Oct/2000:13:55:36 -0700] \"GET /a HTTP/1.1\" 200 5 \"-\" \"ua\"\n";
    let good = dir.file("good.log", line.as_bytes());
    let fmt = ["--log-format", "combined"];
    let err = fails(&[&["logs", "--strict"][..], &fmt, &[s(&blank)]].concat());
    assert!(err.contains("empty-line"), "{err}");
    ok(&[&["logs"][..], &fmt, &[s(&blank)]].concat());
    let redact = [&["redact", "--mask", "ip"][..], &fmt].concat();
    for mode in ["--dry-run", "--in-place"] {
        let err = fails(&[&redact[..], &["--strict", mode, s(&good), s(&blank)]].concat());
        assert!(
            err.contains(&format!("empty lines in {} and --strict: ", s(&blank)))
                && err.contains("(an empty line is a malformed line under --strict, as in `pagemill logs --strict`)"),
            "{err}"
        );
        assert!(err.contains("empty-line: 3"), "the lines are reported: {err}");
        let out = ok(&[&redact[..], &[mode, s(&blank)]].concat());
        assert!(out.contains("3 malformed") && !out.contains("error"), "{out}");
        ok(&[&redact[..], &["--strict", mode, s(&empty)]].concat());
    }
    assert_eq!(std::fs::read_to_string(&good).unwrap(), line, "all or nothing");
    ok(&[&["logs", "--strict"][..], &fmt, &[s(&empty)]].concat());
    // Beside other malformed lines, each file is named with what it has.
    let bad = dir.file("bad.log", format!("{line}not a log line\n").as_bytes());
    let err = fails(&[&redact[..], &["--strict", "--dry-run", s(&bad), s(&blank)]].concat());
    assert!(
        err.contains(&format!("malformed lines in {}, empty lines in {} and --strict", s(&bad), s(&blank))),
        "{err}"
    );
}

/// `--strict` checks a file and writes it under one lock: while a strict
/// run waits between the two (a test hook), another redact is refused;
/// a line appended meanwhile by a writer that ignores locks (a server)
/// fails the run before anything is written, instead of writing a file
/// the check no longer vouches for.
#[test]
fn strict_checks_and_writes_under_one_lock_and_a_change_between_is_an_error() {
    let dir = Dir::new("strict-lock");
    let pause = dir.path("pause");
    std::fs::create_dir(&pause).unwrap();
    let line = "203.0.113.9 - bob [10/Oct/2000:13:55:36 -0700] \"GET /a HTTP/1.1\" 200 5 \"-\" \"ua\"\n";
    let first = dir.file("first.log", line.as_bytes());
    let log = dir.file("access.log", line.as_bytes());
    let args = ["redact", "--strict", "--log-format", "combined", "--mask", "ip", "--in-place"];
    let child = pagemill(&[&args[..], &[s(&first), s(&log)]].concat())
        .env("PAGEMILL_TEST_REDACT_PAUSE_AFTER_CHECK", &pause)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !pause.join("checked").exists() {
        assert!(std::time::Instant::now() < deadline, "the strict run never reached its check");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let other = run(&["redact", "--dry-run", "--mask", "ip", s(&log)]);
    let late = "not a log line 198.51.100.7\n";
    std::fs::OpenOptions::new().append(true).open(&log).unwrap().write_all(late.as_bytes()).unwrap();
    // Released before any assertion, so that a failing one leaves no run waiting.
    std::fs::write(pause.join("go"), b"").unwrap();
    let out = child.wait_with_output().unwrap();
    let other_err = String::from_utf8_lossy(&other.stderr);
    assert!(
        !other.status.success() && other_err.contains("is locked by another process"),
        "the lock is held from check to write: {other_err}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    let want = format!(
        "pagemill: error: {} changed after the --strict check (size was {} bytes, now {}; a log still being \
         written?): nothing was written; run again once it is closed",
        s(&log),
        line.len(),
        line.len() + late.len()
    );
    assert_eq!(err.trim_end(), want);
    assert_eq!(std::fs::read_to_string(&first).unwrap(), line, "all or nothing");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), format!("{line}{late}"));
    // A file named twice is locked once, not refused as locked by itself.
    let out = ok(&[&args[..], &[s(&first), s(&first)]].concat());
    assert_eq!(out.matches("1 lines, changed 1").count(), 1, "{out}");
    assert_eq!(std::fs::read_to_string(&first).unwrap(), line.replace("203.0.113.9", "203.0.113.x"));
}

/// A masked key whose JSON value is an object (the Elastic Common Schema's
/// `user`) is masked inside and counted: `alice` stayed in clear while the
/// summary said no user field needed masking.
#[test]
fn a_json_object_under_a_masked_key_is_masked_inside_and_counted() {
    let dir = Dir::new("json-object");
    let log = dir.file(
        "ecs.jsonl",
        b"{\"remote_addr\":\"203.0.113.7\",\"user\":{\"name\":\"alice\",\"id\":\"42\"},\"request\":\"GET /a?x=1 HTTP/1.1\"}\n",
    );
    let out = run(&["redact", "--log-format", "json", "--mask", "ip,query,user", "-o", "-", s(&log)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "{\"remote_addr\":\"203.0.113.x\",\"user\":{\"name\":\"xxxxx\",\"id\":\"xx\"},\"request\":\"GET /a?x=x HTTP/1.1\"}\n"
    );
    assert!(err.contains("user 2 fields in 1 lines"), "{err}");
}

/// A JSON query string that starts with `?` was taken for a number: left
/// in clear, and not counted.
#[test]
fn a_json_query_string_starting_with_a_question_mark_is_masked() {
    let dir = Dir::new("json-query-mark");
    let log =
        dir.file("q.jsonl", b"{\"remote_addr\":\"203.0.113.7\",\"args\":\"?token=secret&u=alice\",\"status\":200}\n");
    let out = run(&["redact", "--log-format", "json", "--mask", "query", "-o", "-", s(&log)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "{\"remote_addr\":\"203.0.113.7\",\"args\":\"?xxxxx=xxxxxx&x=xxxxx\",\"status\":200}\n"
    );
    assert!(err.contains("query 1 fields in 1 lines"), "{err}");
}

/// Escapes in a masked JSON string are decoded before it is looked at: an
/// address written `203\u002e0.113.7` was left in clear and reported as a
/// host name ("addresses not IPs"). The masked line means the masked text.
#[test]
fn json_escapes_are_decoded_before_masking() {
    let dir = Dir::new("json-escapes");
    let log = dir.file(
        "e.jsonl",
        br#"{"remote_addr":"203\u002e0.113.7","x_forwarded_for":"198.51.100.\u0039","request":"GET \/a\u003ft=s HTTP\/1.1"}
"#,
    );
    let out = run(&["redact", "--log-format", "json", "--mask", "ip,query", "-o", "-", s(&log)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        r#"{"remote_addr":"203\u002e0.113.x","x_forwarded_for":"198.51.100.\u0078","request":"GET \/a\u003fx=x HTTP\/1.1"}
"#
    );
    assert!(err.contains("ip 2 fields in 1 lines") && err.contains("0 addresses not IPs"), "{err}");
}

/// JSON addresses under keys no list names (Go's `clientIP` and
/// `remoteAddr`, Envoy's, ECS's nested `client.ip`) were left in clear, and
/// the run reported success with a warning that no address was found.
#[test]
fn json_addresses_under_any_key_are_masked_and_counted() {
    let dir = Dir::new("json-any-key");
    let log = dir.file(
        "j.log",
        b"{\"clientIP\":\"203.0.113.8\",\"remoteAddr\":\"198.51.100.1:5555\",\"request\":\"GET /a?x=1 HTTP/1.1\",\"status\":200}\n\
          {\"downstream_remote_address\":\"[2001:db8::7]:443\",\"client\":{\"ip\":\"192.0.2.33\"},\"msg\":\"hello 1.2\",\"status\":200}\n",
    );
    let out = run(&["redact", "--mask", "ip,query", "--log-format", "json", "-o", "-", s(&log)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "{\"clientIP\":\"203.0.113.x\",\"remoteAddr\":\"198.51.100.x:5555\",\"request\":\"GET /a?x=x HTTP/1.1\",\"status\":200}\n\
         {\"downstream_remote_address\":\"[2001:db8::x]:443\",\"client\":{\"ip\":\"192.0.2.xx\"},\"msg\":\"hello 1.2\",\"status\":200}\n"
    );
    assert!(err.contains("ip 4 fields in 2 lines") && !err.contains("warning"), "{err}");
}

/// `$remote_addr:$remote_port` with an IPv6 client without brackets: a
/// port that could be the address's last group (`2001:db8::1:8080` is
/// also an address with no port) was left in clear; a 5-digit port cannot
/// be a group and stays.
#[test]
fn an_ipv6_port_that_could_be_a_group_is_masked_with_the_address() {
    let dir = Dir::new("v6-port");
    let log = dir.file(
        "p.log",
        b"2001:db8::1:8080 - - [10/Oct/2023:13:55:36 +0000] \"GET / HTTP/1.1\" 200 5\n\
          2001:db8::1:51234 - - [10/Oct/2023:13:55:36 +0000] \"GET / HTTP/1.1\" 200 5\n",
    );
    let format = r#"$remote_addr:$remote_port - $remote_user [$time_local] "$request" $status $body_bytes_sent"#;
    let out = run(&["redact", "--mask", "ip", "--log-format", format, "-o", "-", s(&log)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "2001:db8::x:xxxx - - [10/Oct/2023:13:55:36 +0000] \"GET / HTTP/1.1\" 200 5\n\
         2001:db8::x:51234 - - [10/Oct/2023:13:55:36 +0000] \"GET / HTTP/1.1\" 200 5\n"
    );
    assert!(err.contains("ip 2 fields in 2 lines") && err.contains("0 malformed"), "{err}");
}
