//! The 1BRC job against a sequential, line-at-a-time parser.

use std::collections::BTreeMap;

use pagemill_engine::Runner;
use pagemill_features::Brc;
use pagemill_mmap::Source;

use crate::{Data, reference_lines};

/// Per station (by name bytes): min, max, sum (tenths) and count.
type Stations = BTreeMap<Vec<u8>, (i32, i32, i64, u64)>;

/// `-?[0-9]{1,2}\.[0-9]` in tenths.
fn value(s: &[u8]) -> Option<i32> {
    let (negative, digits) = match s.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = match digits {
        [a, b'.', f] => (vec![*a], *f),
        [a, b, b'.', f] => (vec![*a, *b], *f),
        _ => return None,
    };
    if !int.iter().chain([&frac]).all(u8::is_ascii_digit) {
        return None;
    }
    let v = int.iter().fold(0, |acc, d| acc * 10 + i32::from(d - b'0')) * 10 + i32::from(frac - b'0');
    Some(if negative { -v } else { v })
}

/// The rules of `Brc`, one line at a time: `name;value` with a non-empty
/// name (up to the first `;`), a strict value, a UTF-8 name; one CR before
/// the LF is dropped. Every other line is malformed, by kind.
fn reference(input: &[u8]) -> (Stations, BTreeMap<&'static str, u64>) {
    let mut stations = Stations::new();
    let mut bad = BTreeMap::new();
    for line in reference_lines(input) {
        let kind = match line.iter().position(|&b| b == b';') {
            None => "missing-separator",
            Some(0) => "empty-name",
            Some(i) => match value(&line[i + 1..]) {
                None => "bad-number",
                Some(_) if std::str::from_utf8(&line[..i]).is_err() => "invalid-utf8",
                Some(t) => {
                    let e = stations.entry(line[..i].to_vec()).or_insert((i32::MAX, i32::MIN, 0, 0));
                    e.0 = e.0.min(t);
                    e.1 = e.1.max(t);
                    e.2 += i64::from(t);
                    e.3 += 1;
                    continue;
                }
            },
        };
        *bad.entry(kind).or_insert(0) += 1;
    }
    (stations, bad)
}

/// Bytes 0 and 1 pick two chunk sizes (one run with one thread, one with
/// two); the rest is the input.
pub fn brc(data: &[u8]) {
    let mut d = Data(data);
    let sizes = [usize::from(d.byte()) + 1, usize::from(d.byte()) * 3 + 1];
    let input = d.rest();
    let (want, want_bad) = reference(input);
    for (threads, chunk) in [(1, sizes[0]), (2, sizes[1])] {
        let mut runner = Runner::new();
        runner.threads(threads).chunk_size(chunk);
        let outcome = runner
            .run(&Brc::new(), &[Source::from_bytes("fuzz", input.to_vec())])
            .expect("a lenient 1BRC run does not fail");
        let got: Stations = outcome
            .output
            .stations
            .iter()
            .map(|s| (s.name.as_bytes().to_vec(), (s.min, s.max, s.sum, s.count)))
            .collect();
        let names: Vec<&[u8]> = outcome.output.stations.iter().map(|s| s.name.as_bytes()).collect();
        assert!(names.is_sorted(), "stations sorted by name bytes");
        assert_eq!(got, want, "stations with {threads} threads, chunks of {chunk}");
        let bad: BTreeMap<&str, u64> = outcome.malformed.counts().collect();
        assert_eq!(bad, want_bad, "malformed lines with {threads} threads, chunks of {chunk}");
        // The official output prints every station once.
        let official = outcome.output.to_official();
        assert!(official.starts_with('{') && official.ends_with("}\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_follows_the_documented_rules() {
        let (stations, bad) = reference(b"a;1.0\r\nb;-99.9\n;1.0\nnone\nc;1.23\n\xff;2.0\n\na;05.5\na;-0.5");
        let want: Stations = [(b"a".to_vec(), (-5, 55, 60, 3)), (b"b".to_vec(), (-999, -999, -999, 1))].into();
        assert_eq!(stations, want);
        let want_bad = [("bad-number", 1), ("empty-name", 1), ("invalid-utf8", 1), ("missing-separator", 2)].into();
        assert_eq!(bad, want_bad);
    }
}
