//! The 1BRC preset against a simple, obviously exact reference: rounding
//! ties, the 413 official stations, 10,000 long UTF-8 names, malformed lines,
//! and every strategy (threads, chunk sizes, mapped and read inputs).

use std::collections::BTreeMap;
use std::fmt::Write;

use pagemill_datasets::{Measurements, Rng, Stations};
use pagemill_engine::Runner;
use pagemill_features::Brc;
use pagemill_mmap::{MmapChoice, OpenOptions, Source};

/// The reference: split each line at its first ';', parse the value as a
/// float, accumulate integer tenths in a BTreeMap (byte order), format.
fn reference(input: &[u8]) -> (String, u64) {
    let mut stations: BTreeMap<&[u8], (i64, i64, i64, i64)> = BTreeMap::new();
    let mut bad = 0;
    for line in input.split(|&b| b == b'\n') {
        if line.is_empty() {
            continue;
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(i) = line.iter().position(|&b| b == b';') else {
            bad += 1;
            continue;
        };
        let (name, value) = (&line[..i], &line[i + 1..]);
        let value_ok = std::str::from_utf8(value).ok().filter(|v| {
            let digits = v.strip_prefix('-').unwrap_or(v);
            matches!(digits.split_once('.'), Some((int, frac)) if (1..=2).contains(&int.len()) && frac.len() == 1
                && int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()))
        });
        let (Some(value), false, true) = (value_ok, name.is_empty(), std::str::from_utf8(name).is_ok()) else {
            bad += 1;
            continue;
        };
        let tenths = (value.parse::<f64>().unwrap() * 10.0).round() as i64;
        let e = stations.entry(name).or_insert((i64::MAX, i64::MIN, 0, 0));
        e.0 = e.0.min(tenths);
        e.1 = e.1.max(tenths);
        e.2 += tenths;
        e.3 += 1;
    }
    let fmt = |t: i64| format!("{}{}.{}", if t < 0 { "-" } else { "" }, t.abs() / 10, t.abs() % 10);
    let mut out = String::from("{");
    for (i, (name, (min, max, sum, n))) in stations.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        // Half up: floor(sum / n + 1/2), in exact integers.
        let mean = (2 * sum + n).div_euclid(2 * n);
        write!(out, "{}={}/{}/{}", std::str::from_utf8(name).unwrap(), fmt(*min), fmt(mean), fmt(*max)).unwrap();
    }
    out.push_str("}\n");
    (out, bad)
}

fn run(input: &[u8], threads: usize, chunk: Option<usize>) -> (String, u64) {
    let mut runner = Runner::new();
    runner.threads(threads);
    if let Some(c) = chunk {
        runner.chunk_size(c);
    }
    let outcome = runner.run(&Brc::new(), &[Source::from_bytes("input", input.to_vec())]).unwrap();
    (outcome.output.to_official(), outcome.malformed.total())
}

fn generate(stations: Stations, rows: u64, seed: u64) -> Vec<u8> {
    let mut out = Vec::new();
    Measurements::new(stations, rows, seed).write_to(&mut out).unwrap();
    out
}

#[test]
fn rounding_ties_on_a_thousand_rows() {
    // Few stations, values chosen so that many means end in exactly .x5.
    let mut rng = Rng::new(3, 0);
    let names = ["A", "Bé", "C", "Zürich", "a", "-"];
    let mut input = String::new();
    for i in 0..1000 {
        let name = names[i % 6];
        let v: i64 = [-15, -5, 5, 15, 25, -25, 0, -1, 1][rng.below(9) as usize];
        let _ = writeln!(input, "{name};{}{}.{}", if v < 0 { "-" } else { "" }, v.abs() / 10, v.abs() % 10);
    }
    let (want, bad) = reference(input.as_bytes());
    assert_eq!(bad, 0);
    assert!(want.contains("A="));
    for threads in [1, 2, 3] {
        for chunk in [None, Some(1), Some(7), Some(100)] {
            assert_eq!(run(input.as_bytes(), threads, chunk), (want.clone(), 0), "threads {threads} chunk {chunk:?}");
        }
    }
}

#[test]
fn ten_million_rows_of_the_413_official_stations() {
    let input = generate(Stations::official(), 10_000_000, 1);
    let (want, bad) = reference(&input);
    assert_eq!(bad, 0);
    assert_eq!(want.matches('=').count(), 413);
    assert_eq!(run(&input, 2, None), (want.clone(), 0));
    assert_eq!(run(&input, 1, Some(1 << 20)), (want, 0));
}

#[test]
fn five_million_rows_of_ten_thousand_long_utf8_names() {
    let input = generate(Stations::synthetic(10_000, 5), 5_000_000, 2);
    let (want, bad) = reference(&input);
    assert_eq!(bad, 0);
    assert_eq!(want.matches('=').count(), 10_000);
    assert_eq!(run(&input, 2, None), (want.clone(), 0));
    assert_eq!(run(&input, 3, Some(100_000)), (want, 0));
}

#[test]
fn malformed_lines_are_counted_and_leave_the_valid_output_unchanged() {
    let good = generate(Stations::official(), 20_000, 9);
    let mut input = Vec::new();
    let junk: [&[u8]; 9] = [
        b"no separator here",
        b";12.3",
        b"Name;12.34",
        b"Name;",
        b"Name;abc",
        b"Name;100.0",
        b"\xff\xfeBad;1.0",
        b"Name;1.0;extra",
        b"Long name without separator that goes on and on and on and on and on and on and on and on and on and on",
    ];
    for (i, line) in good.split_inclusive(|&b| b == b'\n').enumerate() {
        input.extend_from_slice(line);
        if i % 1000 == 0 {
            input.extend_from_slice(junk[(i / 1000) % junk.len()]);
            input.push(b'\n');
        }
    }
    // CRLF lines are valid, a last line without newline too.
    input.extend_from_slice(b"Abha;5.0\r\nAbha;-99.9");
    let (want, bad) = reference(&input);
    assert_eq!(bad, 20);
    let (clean, _) = reference(&good);
    assert_ne!(want, clean, "the CRLF and final lines count");
    for threads in [1, 2] {
        for chunk in [None, Some(1), Some(333), Some(4096)] {
            assert_eq!(run(&input, threads, chunk), (want.clone(), bad), "threads {threads} chunk {chunk:?}");
        }
    }
    let outcome = Runner::new().run(&Brc::new(), &[Source::from_bytes("m", input.clone())]).unwrap();
    let m = &outcome.malformed;
    assert_eq!(m.count("missing-separator"), 5);
    assert_eq!(m.count("empty-name"), 3);
    assert_eq!(m.count("bad-number"), 10);
    assert_eq!(m.count("invalid-utf8"), 2);
    let first = &m.samples()[0];
    assert_eq!(first.line, 2, "the first junk line follows the first good line");
    assert_eq!(first.text, "no separator here");
}

#[test]
fn mapped_and_read_inputs_agree() {
    let input = generate(Stations::official(), 300_000, 4);
    let dir = std::env::temp_dir().join(format!("pagemill-features-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.txt");
    std::fs::write(&path, &input).unwrap();
    let (want, _) = reference(&input);
    for choice in [MmapChoice::always(), MmapChoice::never()] {
        let source = OpenOptions::new().mmap(choice).open(&path).unwrap();
        let outcome = Runner::new().chunk_size(64 << 10).run(&Brc::new(), &[source]).unwrap();
        assert_eq!(outcome.output.to_official(), want);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn record_batch_matches_the_official_output() {
    let input = b"b;1.0\na;-0.5\na;0.4\n".to_vec();
    let outcome = Runner::new().run(&Brc::new(), &[Source::from_bytes("m", input)]).unwrap();
    let batch = outcome.output.to_record_batch();
    assert_eq!(batch.num_rows(), 2);
    let schema = batch.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["station", "rows", "temperature_min", "temperature_mean", "temperature_max"]);
    assert_eq!(outcome.output.to_official(), "{a=-0.5/0.0/0.4, b=1.0/1.0/1.0}\n");
}
