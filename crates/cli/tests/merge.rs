//! `--partial` and `pagemill merge`: runs over separate inputs, saved as
//! partial files and merged, equal one run over all of them.

use std::path::{Path, PathBuf};
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

fn fails(out: Output) -> String {
    assert!(!out.status.success(), "expected a failure, got {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8(out.stderr).unwrap()
}

/// The standard error of a run that succeeded.
fn ok_err(out: Output) -> Vec<u8> {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stderr
}

/// `pagemill gen KIND --rows N --seed S -o dir/NAME` (plus `extra` flags).
fn generate(dir: &Dir, kind: &str, name: &str, rows: u64, seed: u64, extra: &[&str]) -> PathBuf {
    let path = dir.path(name);
    let (rows, seed) = (rows.to_string(), seed.to_string());
    let mut args = vec!["gen", kind, "--rows", &rows, "--seed", &seed, "-o", s(&path)];
    args.extend_from_slice(extra);
    ok(pagemill(&args));
    path
}

/// Run `job` with `flags` over each input with `--partial` (to the
/// extensions in turn), merge the partials, and check the result equals one
/// run over all inputs. Returns the merged result as CSV.
fn check_merge(dir: &Dir, job: &[&str], inputs: &[PathBuf]) -> String {
    let mut partials = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let ext = ["arrow", "parquet", "arrows"][i % 3];
        let partial = dir.path(&format!("{}-{i}.{ext}", job[0]));
        let mut args = job.to_vec();
        args.extend(["--partial", "-o", s(&partial), s(input)]);
        ok(pagemill(&args));
        partials.push(partial);
    }
    let merged_path = dir.path(&format!("{}-merged.csv", job[0]));
    let mut args = vec!["merge", "-o", s(&merged_path)];
    args.extend(partials.iter().map(|p| s(p)));
    ok(pagemill(&args));
    let merged = std::fs::read_to_string(&merged_path).unwrap();

    let whole_path = dir.path(&format!("{}-whole.csv", job[0]));
    let mut args = job.to_vec();
    args.extend(["-o", s(&whole_path)]);
    args.extend(inputs.iter().map(|p| s(p)));
    ok(pagemill(&args));
    assert_eq!(merged, std::fs::read_to_string(&whole_path).unwrap(), "{job:?}");

    // Merged partials merge again: ((a + b) as a partial) + c.
    if partials.len() == 3 {
        let ab = dir.path(&format!("{}-ab.arrow", job[0]));
        ok(pagemill(&["merge", "--partial", "-o", s(&ab), s(&partials[0]), s(&partials[1])]));
        let again = ok(pagemill(&["merge", "--output-format", "csv", s(&ab), s(&partials[2])]));
        assert_eq!(again, merged, "{job:?}: hierarchical merge");
    }
    merged
}

#[test]
fn three_days_of_logs_merged_equal_one_run_over_the_three_files() {
    let dir = Dir::new("logs");
    let days: Vec<PathBuf> = (1..=3)
        .map(|d| generate(&dir, "access-log", &format!("day{d}.log"), 4000 + 1000 * d, d, &["--log-format", "timed"]))
        .collect();
    let merged = check_merge(
        &dir,
        &[
            "logs",
            "--group-by",
            "path,status_class",
            "--top",
            "3:ip",
            "--distinct-exact-limit",
            "64",
            "--log-format",
            "timed",
        ],
        &days,
    );
    assert!(merged.lines().count() > 20, "{merged}");
    assert!(merged.starts_with("path,status_class,requests,"), "{merged}");
    check_merge(&dir, &["logs", "--group-by", "time", "--bucket", "1h"], &days);
    check_merge(&dir, &["logs"], &days);
    // A day whose log is empty: its format is detected from nothing, and
    // the merge takes the others' (also in the merged file's options).
    let mut with_empty = vec![dir.file("empty.log", b"")];
    with_empty.extend(days.iter().cloned());
    check_merge(&dir, &["logs", "--group-by", "path"], &with_empty);
    let (e, d) = (dir.path("e.arrow"), dir.path("d.arrow"));
    ok(pagemill(&["logs", "--partial", "-o", s(&e), s(&with_empty[0])]));
    ok(pagemill(&["logs", "--partial", "-o", s(&d), s(&days[0])]));
    let m = dir.path("m.arrow");
    ok(pagemill(&["merge", "-o", s(&m), s(&e), s(&d)]));
    let schema = ok(pagemill(&["show", "--schema", s(&m)]));
    assert!(schema.contains("log-format=timed"), "{schema}");
    // Partials are byte for byte the same on any thread count and chunk
    // size, HyperLogLog sketches included.
    let bytes = |flags: &[&str]| {
        let p = dir.path("t.arrow");
        let mut args = vec!["logs", "-g", "path", "--distinct-exact-limit", "64", "--partial", "-o", s(&p)];
        args.extend_from_slice(flags);
        args.push(s(&days[2]));
        ok(pagemill(&args));
        std::fs::read(&p).unwrap()
    };
    let one = bytes(&["--threads", "1"]);
    assert!(bytes(&["--threads", "2", "--chunk-size", "16K"]) == one, "partials of 1 and 2 threads differ");
    assert!(bytes(&["--threads", "3", "--chunk-size", "4K"]) == one, "partials of 1 and 3 threads differ");
}

#[test]
fn features_partials_merge_across_file_formats() {
    let dir = Dir::new("features");
    let days: Vec<PathBuf> = (1..=3).map(|d| generate(&dir, "csv", &format!("f{d}.csv"), 3000 * d, d, &[])).collect();
    let merged = check_merge(
        &dir,
        &["features", "--key", "carrier", "--value", "dep_delay", "--distinct", "dest", "--quantiles", "p50,p99"],
        &days,
    );
    assert!(merged.starts_with("carrier,rows,dep_delay_count,"), "{merged}");
    // A day whose file is empty (no header either) merges with the others.
    let mut with_empty = vec![dir.file("empty.csv", b"")];
    with_empty.extend(days.iter().cloned());
    let again =
        check_merge(&dir, &["features", "--key", "carrier", "--value", "dep_delay", "--distinct", "dest"], &with_empty);
    assert!(again.lines().count() > 2, "{again}");
    let bins: Vec<PathBuf> = (1..=3).map(|d| generate(&dir, "records", &format!("r{d}.bin"), 2000, d, &[])).collect();
    check_merge(
        &dir,
        &["features", "--record-size", "16", "--field", "sensor:u32@0", "--field", "status:u16@4", "--key", "status"],
        &bins,
    );
    let lines: Vec<PathBuf> =
        (1..=3).map(|d| generate(&dir, "measurements", &format!("m{d}.txt"), 5000, d, &[])).collect();
    check_merge(&dir, &["features", "--preset", "1brc"], &lines);
    // Without an output format, merged 1BRC partials print the challenge's
    // line, as the run does.
    let (a, b) = (dir.path("brc-a.arrow"), dir.path("brc-b.arrow"));
    ok(pagemill(&["features", "--preset", "1brc", "--partial", "-o", s(&a), s(&lines[0])]));
    ok(pagemill(&["features", "--preset", "1brc", "--partial", "-o", s(&b), s(&lines[1])]));
    let line = ok(pagemill(&["merge", s(&a), s(&b)]));
    assert_eq!(line, ok(pagemill(&["features", "--preset", "1brc", s(&lines[0]), s(&lines[1])])));
    assert!(line.starts_with('{') && line.ends_with("}\n"), "{line}");
    check_merge(&dir, &["count"], &lines);
}

#[test]
fn merged_results_record_every_input_and_add_up_malformed_counts() {
    let dir = Dir::new("metadata");
    let a = dir.path("a.txt");
    let b = dir.path("b.txt");
    std::fs::write(&a, "Oslo;1.0\nbroken\n").unwrap();
    std::fs::write(&b, "Oslo;3.0\nLima;2.0\nalso broken\n").unwrap();
    let (pa, pb) = (dir.path("a.arrow"), dir.path("b.arrow"));
    ok(pagemill(&["features", "--preset", "1brc", "--partial", "-o", s(&pa), s(&a)]));
    ok(pagemill(&["features", "--preset", "1brc", "--partial", "-o", s(&pb), s(&b)]));
    let out = dir.path("m.arrow");
    ok(pagemill(&["merge", "-o", s(&out), s(&pa), s(&pb)]));
    let schema = ok(pagemill(&["show", "--schema", s(&out)]));
    assert!(schema.contains(r#""total":2"#), "{schema}");
    assert!(schema.contains("a.txt") && schema.contains("b.txt"), "{schema}");
    assert!(!schema.contains("pagemill.partial"), "finished results are not partials: {schema}");
    let table = ok(pagemill(&["show", "--output-format", "csv", s(&out)]));
    assert_eq!(
        table,
        "station,rows,temperature_min,temperature_mean,temperature_max\nLima,1,2.0,2.0,2.0\nOslo,2,1.0,2.0,3.0\n"
    );
}

#[test]
fn bad_merges_fail_with_one_clear_line() {
    let dir = Dir::new("errors");
    let day = generate(&dir, "csv", "d.csv", 500, 1, &[]);
    let lines = generate(&dir, "measurements", "m.txt", 500, 1, &[]);
    let feature = |extra: &[&str], out: &Path| {
        let mut args = vec!["features", "--key", "carrier", "--value", "dep_delay", "--partial", "-o", s(out)];
        args.extend_from_slice(extra);
        args.push(s(&day));
        ok(pagemill(&args));
    };
    let (p1, p2, brc, plain) = (dir.path("p1.arrow"), dir.path("p2.arrow"), dir.path("b.arrow"), dir.path("x.arrow"));
    feature(&[], &p1);
    feature(&["--quantiles", "p50"], &p2);
    ok(pagemill(&["features", "--preset", "1brc", "--partial", "-o", s(&brc), s(&lines)]));
    ok(pagemill(&["count", "-o", s(&plain), s(&lines)]));

    let one_line = |err: String, needle: &str| {
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{needle:?} not in {err}");
    };
    one_line(fails(pagemill(&["merge", s(&p1), s(&p2)])), "aggs=");
    one_line(fails(pagemill(&["merge", s(&p1), s(&brc)])), "cannot merge with");
    // Counts of lines and of CSV records are not one count.
    let (lc, cc) = (dir.path("lc.arrow"), dir.path("cc.arrow"));
    ok(pagemill(&["count", "--partial", "--records", "lines", "-o", s(&lc), s(&day)]));
    ok(pagemill(&["count", "--partial", "--records", "csv", "-o", s(&cc), s(&day)]));
    one_line(
        fails(pagemill(&["merge", s(&lc), s(&cc)])),
        "counted with records=csv, the first partial with records=lines",
    );
    ok(pagemill(&["merge", s(&lc), s(&lc)]));
    one_line(fails(pagemill(&["merge", s(&plain)])), "not a partial result");
    // A partial cut by `show --limit` holds some groups only: no partial.
    let cut = dir.path("cut.arrow");
    let shown = pagemill(&["show", "-n", "1", "-o", s(&cut), s(&p1)]);
    assert!(String::from_utf8_lossy(&ok_err(shown)).contains("(not a partial to merge)"));
    one_line(fails(pagemill(&["merge", s(&cut), s(&p1)])), "not a partial result");
    let whole = dir.path("whole.arrow");
    ok(pagemill(&["show", "-o", s(&whole), s(&p1)]));
    ok(pagemill(&["merge", s(&whole), s(&p1)]));
    one_line(fails(pagemill(&["merge", s(&lines)])), "not an Arrow IPC file or a Parquet file");
    one_line(fails(pagemill(&["merge", "-o", s(&p1), s(&p1)])), "input");
    one_line(
        fails(pagemill(&["features", "--key", "carrier", "--partial", "-o", "out.csv", s(&day)])),
        "Arrow IPC or Parquet",
    );
    one_line(fails(pagemill(&["merge", "--partial", "--output-format", "ndjson", s(&p1)])), "Arrow IPC or Parquet");
    one_line(
        fails(pagemill(&["logs", "--partial", "--rejects", "r.txt", "-o", s(&dir.path("l.arrow")), s(&lines)])),
        "--rejects",
    );
    assert!(!pagemill(&["merge"]).status.success());
    assert!(!dir.path("out.csv").exists());
    // --max-groups holds for a merged table as for a run (not for counts,
    // whose rows are inputs).
    one_line(fails(pagemill(&["merge", "--max-groups", "5", s(&brc)])), "more than 5 groups");
    one_line(fails(pagemill(&["merge", "--max-groups", "1", s(&p1), s(&p1)])), "more than 1 groups");
    ok(pagemill(&["merge", "--max-groups", "1", s(&lc), s(&lc)]));
    // Integer keys declared with different widths (u16 one day, u32 the
    // next; i8 and i64) are the same keys: merged, not listed twice.
    let (a16, b32) = (
        dir.file("a16.bin", b"\x05\x00\x0a\x00\xff\xff\x01\x00"),
        dir.file("b32.bin", b"\x05\x00\x00\x00\x14\x00\xff\xff\xff\xff\x02\x00"),
    );
    let (pa, pb) = (dir.path("a16.arrow"), dir.path("b32.arrow"));
    for (sign, want) in
        [("u", "k,rows,v_sum\n5,2,30.0\n65535,1,1.0\n4294967295,1,2.0\n"), ("i", "k,rows,v_sum\n-1,2,3.0\n5,2,30.0\n")]
    {
        for (input, size, key, value, out) in
            [(&a16, "4", format!("k:{sign}16@0"), "v:i16@2", &pa), (&b32, "6", format!("k:{sign}32@0"), "v:i16@4", &pb)]
        {
            ok(pagemill(&[
                "features",
                "--record-size",
                size,
                "--field",
                &key,
                "--field",
                value,
                "-k",
                "k",
                "--value",
                "v",
                "--agg",
                "sum",
                "--partial",
                "-o",
                s(out),
                s(input),
            ]));
        }
        assert_eq!(ok(pagemill(&["merge", "--output-format", "csv", s(&pa), s(&pb)])), want, "{sign}");
    }
}
