//! End-to-end tests of `pagemill features` without a preset: CSV and binary
//! input, every input path, output formats, and clear errors. The 1BRC
//! preset keeps its own output.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn pagemill(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pagemill"));
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).env("RUST_BACKTRACE", "0");
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = cmd.spawn().unwrap();
    if let Some(bytes) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        let bytes = bytes.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        });
    }
    child.wait_with_output().unwrap()
}

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("pagemill-cli-features-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }

    fn file(&self, name: &str, bytes: &[u8]) -> String {
        std::fs::write(self.0.join(name), bytes).unwrap();
        self.path(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const FLIGHTS: &str =
    "dest,carrier,arr_delay\nSFO,UA,12\nJFK,\"B6, Inc\",-3.5\nSFO,AA,NA\nSFO,UA,30\nJFK,DL,oops\n\"L\nAX\",UA,7\n";

const WANT: &str = "dest,rows,arr_delay_count,arr_delay_missing,arr_delay_mean,arr_delay_std,arr_delay_p50,carrier_distinct\n\
JFK,1,1,0,-3.5,,-3.5,1\n\
\"L\nAX\",1,1,0,7.0,,7.0,1\n\
SFO,3,2,1,21.0,12.727922061357855,12.0,2\n";

fn args<'a>(file: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["features", file, "--key", "dest", "--value", "arr_delay", "--distinct", "carrier"];
    a.extend_from_slice(&["--agg", "count,missing,mean,std", "--quantiles", "p50", "--output-format", "csv"]);
    a.extend_from_slice(extra);
    a
}

#[test]
fn a_carriage_return_ending_the_last_record_is_no_part_of_it() {
    let dir = Dir::new("lonecr");
    // A header alone, its CR and all, is an empty input's header.
    let header = dir.file("h.csv", b"k,v\r");
    let out =
        pagemill(&["features", &header, "-k", "k", "--value", "v", "--agg", "sum", "--output-format", "csv"], None);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "k,rows,v_sum\n", "{}", String::from_utf8_lossy(&out.stderr));
    for (name, text, extra) in
        [("q.csv", &b"k,v\r\na,1\r\nb,2\r"[..], &[][..]), ("n.csv", b"k,v\na,1\nb,2\r", &["--no-quote"])]
    {
        let file = dir.file(name, text);
        let mut args = vec!["features", &file, "-k", "k", "--value", "v", "--agg", "sum", "--output-format", "csv"];
        args.extend_from_slice(extra);
        let out = pagemill(&args, None);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "k,rows,v_sum\na,1,1.0\nb,1,2.0\n", "{name}");
        assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn agg_quantiles_without_a_list_means_the_default_list() {
    let dir = Dir::new("aggq");
    let file = dir.file("q.csv", b"k,v\na,1\na,2\nb,3\n");
    let out = pagemill(
        &["features", &file, "-k", "k", "--value", "v", "--agg", "mean,quantiles", "--output-format", "csv"],
        None,
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().next(), Some("k,rows,v_mean,v_p50,v_p90,v_p99"));
    let out =
        pagemill(&["features", &file, "-k", "k", "--value", "v", "--agg", "mean", "--output-format", "csv"], None);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().next(), Some("k,rows,v_mean"));
}

#[test]
fn csv_features_through_every_input_path() {
    let dir = Dir::new("paths");
    let file = dir.file("flights.csv", FLIGHTS.as_bytes());
    for extra in [&[][..], &["--mmap", "never"], &["--threads", "1", "--chunk-size", "1"], &["--mmap", "always"]] {
        let out = pagemill(&args(&file, extra), None);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout), WANT, "{extra:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("malformed records: 1 (bad-number: 1)") && err.contains(":6: bad-number"), "{err}");
    }
    let out = pagemill(&args("-", &[]), Some(FLIGHTS.as_bytes()));
    assert_eq!(String::from_utf8_lossy(&out.stdout), WANT, "stdin");
    // Compressed files are streamed: the header comes from the decoded
    // stream, the quoted newline survives block cuts, and the malformed
    // record keeps its line number in the decompressed data.
    let gz = {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(FLIGHTS.as_bytes()).unwrap();
        dir.file("flights.csv.gz", &enc.finish().unwrap())
    };
    let zst = dir.file("flights.csv.zst", &zstd::encode_all(FLIGHTS.as_bytes(), 3).unwrap());
    for file in [&gz, &zst] {
        let out = pagemill(&args(file, &["--verbose"]), None);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout), WANT, "{file}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("input, streamed") && err.contains(&format!("{file}:6: bad-number")), "{err}");
    }
    let out = pagemill(&args(&file, &["--strict"]), None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("malformed record (strict mode)"));
}

#[test]
fn files_are_written_whole_in_the_chosen_format() {
    let dir = Dir::new("out");
    let file = dir.file("flights.csv", FLIGHTS.as_bytes());
    let parquet = dir.path("out.parquet");
    let out = pagemill(&["features", &file, "-k", "dest", "--value", "arr_delay", "-o", &parquet], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read(&parquet).unwrap().starts_with(b"PAR1"));
    let csv = dir.path("out.csv");
    let out = pagemill(&["features", &file, "-k", "dest", "--value", "arr_delay", "-o", &csv], None);
    assert!(out.status.success());
    let text = std::fs::read_to_string(&csv).unwrap();
    let header = text.lines().next().unwrap();
    assert_eq!(
        header,
        "dest,rows,arr_delay_count,arr_delay_missing,arr_delay_sum,arr_delay_min,arr_delay_max,arr_delay_mean,\
arr_delay_var,arr_delay_std,arr_delay_first,arr_delay_last,arr_delay_p50,arr_delay_p90,arr_delay_p99"
    );
}

#[test]
fn tsv_without_header_and_binary_records() {
    let dir = Dir::new("formats");
    let tsv = dir.file("t.tsv", b"a\t1\nb\t2\na\t3\n");
    let out = pagemill(
        &[
            "features",
            &tsv,
            "--no-header",
            "--delimiter",
            "tab",
            "-k",
            "0",
            "--value",
            "1",
            "--agg",
            "sum",
            "--output-format",
            "csv",
        ],
        None,
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "column_0,rows,column_1_sum\na,2,4.0\nb,1,2.0\n");
    // A *.tsv or *.tab name is enough to split at tabs; an explicit
    // --delimiter wins, and a tab-separated file by another name says what
    // is likely wrong.
    let named = dir.file("h.TAB", b"k\tv\na\t1\nb\t2\na\t3\n");
    let out =
        pagemill(&["features", &named, "-k", "k", "--value", "v", "--agg", "sum", "--output-format", "csv"], None);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "k,rows,v_sum\na,2,4.0\nb,1,2.0\n");
    let semi = dir.file("s.tsv", b"k;v\na;1\n");
    let out = pagemill(&["features", &semi, "--delimiter", ";", "-k", "k", "--value", "v", "--agg", "sum"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let other = dir.file("h.txt", b"k\tv\na\t1\n");
    let out = pagemill(&["features", &other, "-k", "k"], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown column 'k'") && err.contains("the header has one column: is the delimiter tab?"),
        "{err}"
    );
    let mut bin = Vec::new();
    for (k, v) in [(7u32, 1.5f64), (3, 2.0), (7, 0.5)] {
        bin.extend_from_slice(&k.to_le_bytes());
        bin.extend_from_slice(&[0; 4]);
        bin.extend_from_slice(&v.to_le_bytes());
    }
    let bin = dir.file("r.bin", &bin);
    let out = pagemill(
        &[
            "features",
            &bin,
            "--record-size",
            "16",
            "--field",
            "key:u32@0",
            "--field",
            "value:f64@8",
            "-k",
            "key",
            "--value",
            "value",
            "--agg",
            "count,sum",
            "--output-format",
            "csv",
        ],
        None,
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "key,rows,value_count,value_sum\n3,1,1,2.0\n7,2,2,2.0\n");
}

#[test]
fn negative_zero_keeps_its_sign_as_in_polars_and_duckdb() {
    let dir = Dir::new("negzero");
    let data = dir.file("z.csv", b"k,v\na,-0.0\na,-0\nb,-0.0\nb,0\nc,0\nc,-0.00\n");
    let out = pagemill(
        &["features", &data, "-k", "k", "--value", "v", "--agg", "min,max,first,last", "--output-format", "csv"],
        None,
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "k,rows,v_min,v_max,v_first,v_last\n\
         a,2,-0.0,-0.0,-0.0,-0.0\n\
         b,2,-0.0,0.0,-0.0,0.0\n\
         c,2,-0.0,0.0,0.0,-0.0\n"
    );
}

#[test]
fn malformed_summaries_show_escape_sequences_in_file_names() {
    let dir = Dir::new("evilname");
    let data = dir.file("ev\x1b[31mil\u{202e}.csv", b"k,v\na,1\nb\n");
    let out = pagemill(&["features", &data, "-k", "k", "--value", "v"], None);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ev\\u{1b}[31mil\\u{202e}.csv:3:"), "{err}");
    assert!(!err.contains('\x1b') && !err.contains('\u{202e}'), "{err}");
}

#[test]
fn clear_errors() {
    let dir = Dir::new("errors");
    let a = dir.file("a.csv", b"x,y\n1,2\n");
    let b = dir.file("b.csv", b"x,z\n1,2\n");
    let out = pagemill(&["features", &a, &b, "-k", "x"], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("b.csv: header differs from the first input's: expected [x, y], found [x, z]"), "{err}");
    let out = pagemill(&["features", &a, "-k", "nope"], None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown column 'nope' (columns: x, y)"));
    // A header's escape sequences and newlines are shown, not obeyed: the
    // error stays one line and sends nothing to the terminal.
    let evil = dir.file("evil.csv", b"x,y\x1b]0;pwned\x07\n1,2\n");
    let out = pagemill(&["features", &evil, "-k", "nope"], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("(columns: x, y\\u{1b}]0;pwned\\u{7})") && !err.contains('\x1b'), "{err}");
    // A name the header holds twice is refused; its index picks one.
    let dup = dir.file("dup.csv", b"k,v,v\na,1,100\n");
    let out = pagemill(&["features", &dup, "-k", "k", "--value", "v", "--agg", "sum"], None);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "column 'v' appears 2 times in the header (0-based indexes 1, 2): name the one meant by its index"
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = pagemill(&["features", &dup, "-k", "k", "--value", "2", "--agg", "sum", "--output-format", "csv"], None);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "k,rows,v_2_sum\na,1,100.0\n");
    // Both, by index: their output columns carry the index.
    let both = ["features", &dup, "-k", "k", "--value", "1", "--value", "2", "--agg", "sum", "--output-format", "csv"];
    assert_eq!(String::from_utf8_lossy(&pagemill(&both, None).stdout), "k,rows,v_1_sum,v_2_sum\na,1,1.0,100.0\n");
    let keys = dir.file("dupkeys.csv", b"k,k,v\na,b,1\n");
    let out = pagemill(&["features", &keys, "-k", "0", "-k", "1", "--value", "v", "--output-format", "csv"], None);
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("k_0,k_1,rows,"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A number naming two columns is an index.
    let digits = dir.file("digits.csv", b"k,1,1\na,5,7\n");
    let out =
        pagemill(&["features", &digits, "-k", "k", "--value", "1", "--agg", "sum", "--output-format", "csv"], None);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "k,rows,1_1_sum\na,1,5.0\n");
    let out = pagemill(&["features", &a, "-k", "x\ny"], None);
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
    // Empty inputs have no header: named columns give an empty result,
    // an index has nothing to point into.
    let empty = dir.file("empty.csv", b"");
    // So is a byte order mark alone, with or without a line end.
    for empty in [&empty, &dir.file("bom.csv", b"\xEF\xBB\xBF"), &dir.file("bom-lf.csv", b"\xEF\xBB\xBF\r\n")] {
        let out =
            pagemill(&["features", empty, "-k", "x", "--value", "v", "--agg", "sum", "--output-format", "csv"], None);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "x,rows,v_sum\n");
        assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let out = pagemill(&["features", &empty, "-k", "1"], None);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "pagemill: error: column index 1: no input has a record to count columns in (are they empty?)\n"
    );
    let out = pagemill(&["features", &empty, "-k", "x", "--value", "1"], None);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown column 'x': no input has a header (are they empty?)")
    );
    let out = pagemill(&["features", &a], None);
    assert!(!out.status.success(), "a key is required without a preset");
    let out = pagemill(&["features", &a, "-k", "x", "--quantiles", "p101"], None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid quantile 'p101'"));
    let out = pagemill(&["features", &a, "--record-size", "8", "--field", "k:u64@4", "-k", "k"], None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("do not fit a 8-byte record"));
    let help = pagemill(&["features", "--help"], None);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--record-size 16 --field key:u32@0") && help.contains("--preset 1brc"));
}

#[test]
fn the_1brc_preset_is_unchanged() {
    let out = pagemill(&["features", "--preset", "1brc"], Some(b"b;1.0\na;-0.5\na;0.4\n"));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "{a=-0.5/0.0/0.4, b=1.0/1.0/1.0}\n");
}

#[test]
fn more_keys_than_max_groups_is_one_clear_error_and_no_output() {
    let dir = Dir::new("max-groups");
    let mut csv = b"key,v\n".to_vec();
    for i in 0..5000 {
        csv.extend_from_slice(format!("k{},{}\n", i % 100, i).as_bytes());
    }
    let data = dir.file("data.csv", &csv);
    let brc: Vec<u8> = (0..5000).flat_map(|i| format!("s{};{}.5\n", i % 100, i % 50).into_bytes()).collect();
    let brc = dir.file("m.txt", &brc);
    let out = dir.path("out.csv");
    let general = ["features", &data, "--key", "key", "--value", "v", "--progress", "never"];
    let preset = ["features", "--preset", "1brc", &brc, "--progress", "never"];
    for args in [&general[..], &preset[..]] {
        let ok = pagemill(&[args, &["--max-groups", "100"]].concat(), None);
        assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
        for extra in [&["--max-groups", "99"][..], &["--max-groups", "99", "--threads", "1", "--chunk-size", "1K"]] {
            let bad = pagemill(&[args, extra, &["-o", &out]].concat(), None);
            assert!(!bad.status.success());
            let stderr = String::from_utf8_lossy(&bad.stderr);
            assert!(stderr.starts_with("pagemill: error: more than 99 groups (at least "), "{stderr}");
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            assert!(!std::path::Path::new(&out).exists(), "no output on error");
        }
        let unlimited = pagemill(&[args, &["--max-groups", "0"]].concat(), None);
        assert_eq!(unlimited.stdout, ok.stdout);
    }
}

/// A binary key of an integer and a byte string: only the byte string must
/// be UTF-8 (a negative integer's bytes are not), and float fields are
/// refused as keys (their bytes are no text and no order).
#[test]
fn binary_keys_check_only_their_byte_strings_as_text() {
    let dir = Dir::new("binkeys");
    let mut bytes = Vec::new();
    for (k, n, v) in [(-1i32, b"ab", 5i16), (1, b"ab", 7), (-1, b"ab", 1), (255, b"\xff\xfe", 2)] {
        bytes.extend_from_slice(&k.to_le_bytes());
        bytes.extend_from_slice(n);
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    let file = dir.file("ck.bin", &bytes);
    let layout = ["--record-size", "8", "--field", "k:i32@0", "--field", "n:bytes2@4", "--field", "v:i16@6"];
    let mut args = vec!["features", &file];
    args.extend_from_slice(&layout);
    args.extend_from_slice(&["-k", "k", "-k", "n", "--value", "v", "--agg", "count,sum", "--output-format", "csv"]);
    let out = pagemill(&args, None);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "k,n,rows,v_count,v_sum\n-1,ab,2,2,6.0\n1,ab,1,1,7.0\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid-utf8: 1") && err.contains("byte 24"), "{err}");
    let out = pagemill(&["features", &file, "--record-size", "8", "--field", "f:f32@0", "-k", "f"], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("field 'f' is a float and cannot be a key"), "{err}");
}

/// Without a header, the number of columns comes from the first record that
/// is not blank, however long, and a byte order mark belongs to no key.
#[test]
fn without_a_header_the_columns_come_from_the_first_real_record() {
    let dir = Dir::new("noheader");
    let run = |file: &str| {
        let args = [
            "features",
            file,
            "--no-header",
            "-k",
            "0",
            "--value",
            "1",
            "--agg",
            "count,sum",
            "--output-format",
            "csv",
        ];
        let out = pagemill(&args, None);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
    };
    let (out, err) = run(&dir.file("blank.csv", b"\na,1\nb,2\n"));
    assert_eq!(out, "column_0,rows,column_1_count,column_1_sum\na,1,1,1.0\nb,1,1,2.0\n");
    assert!(err.contains("blank-line: 1"), "{err}");
    // More blank lines than records probed for the width (1000).
    let (out, err) = run(&dir.file("blanks.csv", &[&b"\n".repeat(1500)[..], b"a,1,x\nb,2,y\n"].concat()));
    assert_eq!(out, "column_0,rows,column_1_count,column_1_sum\na,1,1,1.0\nb,1,1,2.0\n");
    assert!(err.contains("blank-line: 1500") && !err.contains("ragged"), "{err}");
    let (out, _) = run(&dir.file("bom.csv", b"\xEF\xBB\xBFa,1\na,2\n"));
    assert_eq!(out, "column_0,rows,column_1_count,column_1_sum\na,2,2,3.0\n");
    let mut long = b"a,1,".to_vec();
    long.extend(std::iter::repeat_n(b'z', 5 << 20));
    long.extend_from_slice(b"\nb,2,q\n");
    let out = pagemill(&["features", &dir.file("long.csv", &long), "--no-header", "-k", "0", "--value", "1"], None);
    let (stdout, err) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && !err.contains("ragged"), "{err}");
    assert!(stdout.contains('a') && stdout.contains('b'), "{stdout}");
}

/// Errors whose cause is another error name that cause once.
#[test]
fn errors_name_their_cause_once() {
    let dir = Dir::new("cause");
    let out = pagemill(&["features", &dir.file("uh.csv", b"\"a,b\nx,1\n"), "-k", "a"], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("a quoted field is not closed").count(), 1, "{err}");
    let gz = [0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xcb, 0xd6];
    let out = pagemill(&["features", &dir.file("t.csv.gz", &gz), "-k", "k"], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.matches("cannot decompress").count(), 1, "{err}");
}

/// Compressed tab-separated files are tab-separated too; the 1BRC preset
/// refuses the general path's flags instead of ignoring them.
#[test]
fn compressed_tsv_and_preset_flags() {
    let dir = Dir::new("tsvgz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(b"k\tv\na\t1\na\t3\n").unwrap();
    let file = dir.file("d.TSV.gz", &enc.finish().unwrap());
    let out =
        pagemill(&["features", &file, "-k", "k", "--value", "v", "--agg", "mean", "--output-format", "csv"], None);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "k,rows,v_mean\na,2,2.0\n");
    for flag in
        [&["--agg", "mean"][..], &["--quantiles", "p50"], &["--delimiter", ","], &["--no-header"], &["--null", "x"]]
    {
        let mut args = vec!["features", "--preset", "1brc"];
        args.extend_from_slice(flag);
        let out = pagemill(&args, Some(b"a;1.0\n"));
        assert!(!out.status.success(), "{flag:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"), "{flag:?}");
    }
    // Binary records have no dialect: its flags are refused, not ignored.
    for flag in [&["--delimiter", ";"][..], &["--quote", "'"], &["--no-quote"], &["--no-header"], &["--null", "x"]] {
        let mut args = vec!["features", "--record-size", "8", "--field", "k:u32@0", "-k", "k"];
        args.extend_from_slice(flag);
        let out = pagemill(&args, Some(&[0u8; 16]));
        assert!(!out.status.success(), "{flag:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"), "{flag:?}");
    }
}

/// `--distinct-lg-k` alone raises the exact limit to its minimum; an exact
/// limit given below that minimum is refused.
#[test]
fn distinct_lg_k_alone_works() {
    let dir = Dir::new("lgk");
    let mut csv = b"k,v\n".to_vec();
    for i in 0..5000 {
        csv.extend_from_slice(format!("a,{i}\n").as_bytes());
    }
    let file = dir.file("d.csv", &csv);
    let run = |extra: &[&str]| {
        let mut args = vec!["features", &file, "-k", "k", "-d", "v", "--output-format", "csv"];
        args.extend_from_slice(extra);
        pagemill(&args, None)
    };
    // lg_k 14: exact up to 4096 values, then a sketch of 16384 registers.
    let out = run(&["--distinct-lg-k", "14"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let count: f64 =
        String::from_utf8_lossy(&out.stdout).lines().nth(1).unwrap().rsplit(',').next().unwrap().parse().unwrap();
    assert!((count - 5000.0).abs() < 5000.0 * 0.03, "{count}");
    let out = run(&["--distinct-lg-k", "14", "--distinct-exact", "8192"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "k,rows,v_distinct\na,5000,5000\n");
    let out = run(&["--distinct-lg-k", "14", "--distinct-exact", "1024"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("below the minimum 4096"), "{err}");
}

/// A quote inside an unquoted field (`5" disk`) spoils its own line only:
/// the lines that RFC 4180 quoting joined to it are read (as Python's `csv`
/// and DuckDB read them), with their own offsets and line numbers.
#[test]
fn a_stray_quote_spoils_only_its_line() {
    let dir = Dir::new("stray");
    for (name, text, delimiter) in [
        ("st.csv", "k,v\na,5\" disk\nb,1\nc,\"2\"\nd,3\"\ne,4\n", ","),
        ("st.tsv", "k\tv\na\t5\" disk\nb\t1\nc\t\"2\"\nd\t3\"\ne\t4\n", "tab"),
    ] {
        let file = dir.file(name, text.as_bytes());
        for chunk in ["1", "7", "1M"] {
            let args = [
                "features",
                &file,
                "-k",
                "k",
                "--value",
                "v",
                "--agg",
                "sum",
                "--delimiter",
                delimiter,
                "--chunk-size",
                chunk,
                "--output-format",
                "csv",
            ];
            let out = pagemill(&args, None);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{err}");
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                "k,rows,v_sum\nb,1,1.0\nc,1,2.0\ne,1,4.0\n",
                "{name} {chunk}"
            );
            // Lines 2 and 5 (of the file; the header is line 1), each alone.
            assert!(err.contains("malformed records: 2 (bad-quote: 2)"), "{err}");
            assert!(err.contains(&format!("{name}:2: bad-quote at byte 4:")), "{err}");
            assert!(err.contains(&format!("{name}:5: bad-quote at byte 24:")), "{err}");
        }
    }
    // A stray quote never closed takes the input's last line end into its
    // record: that ends the last line, it adds no blank one.
    for text in ["k,v\na,5\" disk\nb,1\nc,2\n", "k,v\r\na,5\" disk\r\nb,1\r\nc,2\r\n"] {
        let file = dir.file("open.csv", text.as_bytes());
        let out =
            pagemill(&["features", &file, "-k", "k", "--value", "v", "--agg", "sum", "--output-format", "csv"], None);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "k,rows,v_sum\nb,1,1.0\nc,1,2.0\n", "{err}");
        assert!(err.contains("malformed records: 1 (bad-quote: 1)"), "{err}");
    }
    let file = dir.file("one.csv", b"k\na\"b\nc\n");
    let out = pagemill(&["features", &file, "-k", "k", "--output-format", "csv"], None);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "k,rows\nc,1\n", "{}", String::from_utf8_lossy(&out.stderr));
}
