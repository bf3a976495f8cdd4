//! `pagemill sql` end to end (built with `--features sql`): the same numbers
//! as the jobs, several files per table, compressed inputs, every table
//! kind, malformed records and errors.
#![cfg(feature = "sql")]

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Output};

use common::{Dir, s};

fn pagemill() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pagemill"));
    c.arg("--progress=never");
    c
}

fn ok(out: Output) -> Output {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// CSV output rows keyed by their first column.
fn by_key(csv: &str) -> BTreeMap<String, Vec<String>> {
    csv.lines()
        .skip(1)
        .map(|l| {
            let cells: Vec<String> = l.split(',').map(str::to_string).collect();
            (cells[0].clone(), cells[1..].to_vec())
        })
        .collect()
}

#[test]
fn per_path_summary_matches_pagemill_logs() {
    let dir = Dir::new("sql-logs");
    let log = dir.path("access.log");
    ok(pagemill()
        .args(["gen", "access-log", "--rows", "20000", "--log-format", "timed", "--seed", "3", "-o", s(&log)])
        .output()
        .unwrap());
    let logs = ok(pagemill()
        .args(["logs", "-g", "path", "-m", "requests,bytes,latency_max", "--output-format", "csv", s(&log)])
        .output()
        .unwrap());
    let sql = ok(pagemill()
        .args([
            "sql",
            "SELECT path, count(*) AS requests, sum(bytes) AS bytes, max(latency) AS latency_max FROM logs GROUP BY path ORDER BY path",
            "-t",
            &format!("logs={}", s(&log)),
            "--chunk-size",
            "64K",
            "--output-format",
            "csv",
        ])
        .output()
        .unwrap());
    let (want, got) = (by_key(&stdout(&logs)), by_key(&stdout(&sql)));
    assert!(want.len() > 100);
    assert_eq!(want.len(), got.len());
    for (path, w) in &want {
        let g = &got[path];
        assert_eq!(w[0], g[0], "requests of {path}");
        assert_eq!(w[1], g[1], "bytes of {path}");
        let (a, b): (f64, f64) = (w[2].parse().unwrap(), g[2].parse().unwrap());
        assert!((a - b).abs() < 1e-9, "latency_max of {path}: {a} vs {b}");
    }
}

#[test]
fn several_files_compressed_ones_included_make_one_table() {
    let dir = Dir::new("sql-multi");
    let log = dir.path("a.log");
    ok(pagemill().args(["gen", "access-log", "--rows", "3000", "--seed", "1", "-o", s(&log)]).output().unwrap());
    let plain = std::fs::read(&log).unwrap();
    let zst = dir.file("b.log.zst", &zstd::encode_all(&plain[..], 3).unwrap());
    let out = ok(pagemill()
        .args(["sql", "SELECT count(*) AS n, count(DISTINCT ip) AS ips FROM logs"])
        .args(["-t", &format!("logs={}:combined", s(&log)), "-t", &format!("logs={}:combined", s(&zst))])
        .args(["--output-format", "csv"])
        .output()
        .unwrap());
    assert!(stdout(&out).starts_with("n,ips\n6000,"), "{}", stdout(&out));
    // One name, two kinds: refused.
    let out = pagemill()
        .args(["sql", "SELECT 1", "-t", &format!("x={}", s(&log)), "-t", &format!("x={}:csv", s(&log))])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("different kinds"));
}

#[test]
fn csv_1brc_and_binary_tables() {
    let dir = Dir::new("sql-kinds");
    let csv = dir.file("t.csv", b"k,v\na,1\nb,2\na,3\n");
    let m = dir.file("m.txt", b"Oslo;1.5\nOslo;-2.5\nRome;20.0\n");
    let mut records = Vec::new();
    for (key, value) in [(7u32, 1.5f64), (7, 2.0), (9, -1.0)] {
        records.extend_from_slice(&key.to_le_bytes());
        records.extend_from_slice(&[0; 4]);
        records.extend_from_slice(&value.to_le_bytes());
    }
    let bin = dir.file("r.bin", &records);
    let parquet = dir.path("out.parquet");
    ok(pagemill()
        .args([
            "sql",
            "SELECT k, sum(v) AS s FROM t GROUP BY k ORDER BY k",
            "-t",
            &format!("t={}", s(&csv)),
            "-o",
            s(&parquet),
        ])
        .output()
        .unwrap());
    let shown = ok(pagemill().args(["show", s(&parquet), "--output-format", "csv"]).output().unwrap());
    assert_eq!(stdout(&shown), "k,s\na,4\nb,2\n");
    let out = ok(pagemill()
        .args([
            "sql",
            "SELECT station, min(measurement) AS lo, avg(measurement) AS mean FROM m GROUP BY station ORDER BY station",
        ])
        .args(["-t", &format!("m={}:1brc", s(&m)), "--output-format", "csv"])
        .output()
        .unwrap());
    assert_eq!(stdout(&out), "station,lo,mean\nOslo,-2.5,-0.5\nRome,20.0,20.0\n");
    let out = ok(pagemill()
        .args(["sql", "SELECT key, sum(value) AS total FROM r GROUP BY key ORDER BY key"])
        .args([
            "-t",
            &format!("r={}:binary", s(&bin)),
            "--record-size",
            "16",
            "--field",
            "key:u32@0",
            "--field",
            "value:f64@8",
        ])
        .args(["--output-format", "csv"])
        .output()
        .unwrap());
    assert_eq!(stdout(&out), "key,total\n7,3.5\n9,-1.0\n");
    // Several statements: the last one's result is written.
    let out = ok(pagemill()
        .args(["sql", "CREATE VIEW big AS SELECT k, v FROM t WHERE v > 1; SELECT k, count(*) AS n FROM big GROUP BY k ORDER BY k;"])
        .args(["-t", &format!("t={}", s(&csv)), "--output-format", "csv"])
        .output()
        .unwrap());
    assert_eq!(stdout(&out), "k,n\na,1\nb,1\n");
}

#[test]
fn malformed_records_strict_mode_and_errors() {
    let dir = Dir::new("sql-errors");
    let log = dir.file(
        "access.log",
        b"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET /a HTTP/1.1\" 200 5 \"-\" \"curl\"\nnot a log line\n",
    );
    let table = format!("logs={}:combined", s(&log));
    let out = ok(pagemill()
        .args(["sql", "SELECT count(*) AS n FROM logs", "-t", &table, "--output-format", "csv"])
        .output()
        .unwrap());
    assert_eq!(stdout(&out), "n\n1\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("format-mismatch: 1") && err.contains("access.log:2"), "{err}");
    // --strict: the first malformed record is an error, and nothing is written.
    let target = dir.path("out.csv");
    let out = pagemill()
        .args(["sql", "SELECT count(*) FROM logs", "-t", &table, "--strict", "-o", s(&target)])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!target.exists());
    // A bad query: one line, non-zero exit.
    let out = pagemill().args(["sql", "SELECT nope FROM logs", "-t", &table]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("nope"), "{err}");
    // The output never overwrites an input.
    let out = pagemill().args(["sql", "SELECT 1", "-t", &table, "-o", s(&log)]).output().unwrap();
    assert!(!out.status.success());
    assert!(std::fs::read(&log).unwrap().starts_with(b"1.2.3.4"));
    // Worker processes are for the jobs; SQL says so instead of ignoring it.
    let out = pagemill().args(["sql", "SELECT 1", "-t", &table, "--workers", "processes"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--workers threads"));
    // Table specs are checked before anything runs.
    let out = pagemill().args(["sql", "SELECT 1", "-t", "no-equals-sign"]).output().unwrap();
    assert!(!out.status.success());
}

/// `--scheduler` (built with `--features ballista`): a cluster that cannot
/// honour a flag, or that is not there, is a one-line error. (The cluster
/// itself is tested end to end in pagemill-ballista's loopback test.)
#[cfg(feature = "ballista")]
#[test]
fn scheduler_errors_are_one_line() {
    let dir = Dir::new("sql-scheduler");
    let data = dir.path("m.txt");
    std::fs::write(&data, "a;1.0\nb;2.0\n").unwrap();
    let table = format!("m={}:1brc", s(&data));
    let nobody = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("df://127.0.0.1:{nobody}");
    for (extra, want) in [(vec!["--strict"], "--strict"), (vec![], "scheduler")] {
        let out = pagemill()
            .args(extra)
            .args(["sql", "SELECT count(*) FROM m", "-t", &table, "--scheduler", &url])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(want) && !err.contains("panicked"), "{err}");
    }
}

/// What a bug hunt found: a request target in absolute form (its path a
/// constant, not a slice of the input) panicked; COPY rewrote an input; a
/// second scan of a chunk erased the first one's bad numbers; a byte order
/// mark became part of a column name; a later file's reordered header was
/// read by position; a first record past the sample made every row ragged.
#[test]
fn odd_inputs_and_statements() {
    let dir = Dir::new("sql-odd");
    let sql = |query: &str, tables: &[String], extra: &[&str]| {
        let mut cmd = pagemill();
        cmd.args(["sql", query, "--output-format", "csv"]).args(extra);
        for t in tables {
            cmd.args(["-t", t]);
        }
        cmd.output().unwrap()
    };
    let log =
        dir.file("abs.log", b"1.1.1.1 - - [10/Oct/2000:13:55:36 +0000] \"GET http://example.com HTTP/1.1\" 200 1\n");
    let out = ok(sql("SELECT path, host FROM l", &[format!("l={}:common", s(&log))], &[]));
    assert_eq!(stdout(&out), "path,host\n/,example.com\n");

    let csv = dir.file("c.csv", b"a,b\n1,2\n");
    let copy = format!("COPY (SELECT * FROM t) TO '{}' STORED AS CSV", s(&csv));
    let out = sql(&copy, &[format!("t={}", s(&csv))], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("COPY and INSERT are not supported"));
    assert_eq!(std::fs::read(&csv).unwrap(), b"a,b\n1,2\n", "the input is untouched");
    // Nor inside EXPLAIN ANALYZE, which runs what it explains.
    for wrapped in [format!("EXPLAIN ANALYZE {copy}"), format!("EXPLAIN {copy}")] {
        let out = sql(&wrapped, &[format!("t={}", s(&csv))], &[]);
        assert!(!out.status.success(), "{wrapped}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("COPY and INSERT are not supported"));
        assert_eq!(std::fs::read(&csv).unwrap(), b"a,b\n1,2\n", "the input is untouched: {wrapped}");
    }
    // DISTINCT in a sketch quantile would be ignored: refused.
    let out = sql("SELECT hdr_quantile(DISTINCT a, 0.5) FROM t", &[format!("t={}", s(&csv))], &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("hdr_quantile(DISTINCT ...) is not supported"));
    // A misspelt kind is named as such.
    let out = sql("SELECT 1", &[format!("t={}:parquet", s(&csv))], &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown kind 'parquet'"));

    let mut late = String::from("id,v\n");
    for i in 0..20_000 {
        late.push_str(&format!("{i},{i}\n"));
    }
    late.push_str("20000,abc\n");
    let late = dir.file("late.csv", late.as_bytes());
    let out = sql("SELECT count(a.v) FROM t a JOIN t b ON a.id = b.id", &[format!("t={}", s(&late))], &["--strict"]);
    assert!(!out.status.success(), "the bad number is seen: {}", stdout(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad-number"));

    let bom = dir.file("bom.csv", b"\xEF\xBB\xBFa,b\r\n1,x\r\n");
    assert_eq!(stdout(&ok(sql("SELECT sum(a) AS s FROM t", &[format!("t={}", s(&bom))], &[]))), "s\n1\n");
    let bom = dir.file("bomnh.csv", b"\xEF\xBB\xBF1,x\n2,y\n");
    let out = ok(sql("SELECT sum(column_0) AS s FROM t", &[format!("t={}", s(&bom))], &["--no-header"]));
    assert_eq!(stdout(&out), "s\n3\n");

    let (h1, h2) = (dir.file("h1.csv", b"a,b\n1,10\n"), dir.file("h2.csv", b"b,a\n30,3\n"));
    let out = sql("SELECT * FROM t", &[format!("t={}", s(&h1)), format!("t={}", s(&h2))], &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("header differs from the first input's: expected [a, b], found [b, a]"), "{err}");

    let mut long = format!("1,{},3\n", "x".repeat(5 << 20));
    for i in 2..100 {
        long.push_str(&format!("{i},y,{i}\n"));
    }
    let long = dir.file("long.csv", long.as_bytes());
    let out =
        ok(sql("SELECT count(*) AS n, sum(column_2) AS s FROM t", &[format!("t={}", s(&long))], &["--no-header"]));
    assert_eq!(stdout(&out), "n,s\n99,4952\n");

    let out = sql("SELECT 1", &[format!("t={}", s(&h1))], &["--delimiter", "\""]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("invalid delimited-text dialect").count(), 1, "{err}");
}
