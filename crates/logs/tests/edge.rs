//! The edge-case corpus of issue 7 through the logs job: for each hostile
//! input, exact counts of lines, parsed lines and malformed lines by kind,
//! identical on 1 and 2 threads, tiny and default chunks, mapped and in
//! memory, and no panic.

use pagemill_engine::{Malformed, Runner};
use pagemill_logs::{GroupField, LogFormat, LogJob, Metric};
use pagemill_mmap::{MmapChoice, OpenOptions, Source};

const GOOD: &str = r#"10.0.0.1 - - [28/Nov/2026:06:00:00 +0000] "GET /a?x=1 HTTP/1.1" 200 10 "-" "curl/8" 0.125"#;

fn kinds(m: &Malformed) -> Vec<(&'static str, u64)> {
    let mut v: Vec<_> = m.counts().collect();
    v.sort();
    v
}

/// (lines, parsed lines, malformed kinds) of a per-path summary, after
/// checking that counts and the result batch are the same every way the
/// input is read.
fn summary(bytes: &[u8], tag: &str) -> (u64, u64, Vec<(&'static str, u64)>) {
    let mut job = LogJob::new(LogFormat::timed());
    job.group_by(&[GroupField::Path]).unwrap().metrics(&[Metric::Requests, Metric::Bytes, Metric::LatencyP99]);
    let path = std::env::temp_dir().join(format!("pagemill-logs-edge-{tag}-{}", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    let mapped = OpenOptions::new().mmap(MmapChoice::always()).open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let mut first = None;
    for source in [Source::from_bytes(tag, bytes.to_vec()), mapped] {
        for (threads, chunk) in [(1, None), (2, Some(7)), (2, None)] {
            let mut runner = Runner::new();
            runner.threads(threads);
            if let Some(c) = chunk {
                runner.chunk_size(c);
            }
            let out = runner.run(&job, std::slice::from_ref(&source)).unwrap();
            let got = (out.output.totals.lines, out.output.totals.parsed, kinds(&out.malformed), out.output.batch);
            match &first {
                None => first = Some(got),
                Some(want) => assert_eq!(&got, want, "{tag}: {threads} threads, chunk {chunk:?}"),
            }
        }
    }
    let (lines, parsed, kinds, _) = first.unwrap();
    (lines, parsed, kinds)
}

#[test]
fn empty_one_byte_no_trailing_newline_and_line_ends() {
    assert_eq!(summary(b"", "empty"), (0, 0, vec![]));
    assert_eq!(summary(b"x", "one-byte"), (1, 0, vec![("format-mismatch", 1)]));
    assert_eq!(summary(GOOD.as_bytes(), "no-newline"), (1, 1, vec![]));
    let crlf = format!("{GOOD}\r\n{GOOD}\r\n");
    assert_eq!(summary(crlf.as_bytes(), "crlf"), (2, 2, vec![]));
    // CR alone does not end a line: two log lines glued by a CR are one
    // line whose latency field reads "0.125\r10.0.0.1": not a duration.
    let cr = format!("{GOOD}\r{GOOD}\r");
    assert_eq!(summary(cr.as_bytes(), "cr-only").0, 1);
    let blank = format!("\n\n{GOOD}\n   \n");
    assert_eq!(summary(blank.as_bytes(), "blank"), (4, 1, vec![("empty-line", 3)]));
}

#[test]
fn nul_bytes_invalid_utf8_binary_and_long_lines() {
    let nul = GOOD.replace("/a?x=1", "/a\0b");
    assert_eq!(summary(format!("{nul}\n").as_bytes(), "nul"), (1, 1, vec![]));
    let mut bad_utf8 = GOOD.replace("/a?x=1", "/\u{1}").into_bytes();
    let at = bad_utf8.iter().position(|&b| b == 1).unwrap();
    bad_utf8[at] = 0xFF;
    bad_utf8.push(b'\n');
    assert_eq!(summary(&bad_utf8, "utf8"), (1, 1, vec![]), "paths are bytes; invalid UTF-8 is decoded lossily");
    // Random binary between good lines: every line accounted for.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut junk = format!("{GOOD}\n").into_bytes();
    junk.extend((0..100_000).map(|_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 24) as u8
    }));
    junk.extend_from_slice(format!("\n{GOOD}\n").as_bytes());
    let lines = junk.iter().filter(|&&b| b == b'\n').count() as u64;
    let (got_lines, parsed, k) = summary(&junk, "binary");
    assert_eq!(got_lines, lines);
    assert_eq!(parsed + k.iter().map(|x| x.1).sum::<u64>(), lines, "{k:?}");
    assert!(parsed >= 2);
    // A 4 MiB user agent, and a quote never closed.
    let long = GOOD.replace("curl/8", &"x".repeat(4 << 20));
    let unclosed = GOOD.replace("\"curl/8\" 0.125", "\"curl/8 0.125");
    let input = format!("{long}\n{unclosed}\n{GOOD}\n");
    assert_eq!(summary(input.as_bytes(), "long"), (3, 2, vec![("format-mismatch", 1)]));
}
