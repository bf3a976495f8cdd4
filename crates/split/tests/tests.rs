//! The partition contract, property-tested: for random inputs and any target
//! chunk size, the records of all chunks, concatenated, are exactly the records
//! a simple byte-at-a-time sequential splitter finds.

use pagemill_split::{AnyFormat, Csv, Fixed, Lines, RecordFormat, plan};
use proptest::prelude::*;

// The byte-at-a-time references and the chunk-by-chunk walk are shared with
// the fuzz target's check (pagemill-fuzz-checks).
use pagemill_fuzz_checks::reference::{reference_fixed, reference_split, split_all};

fn reference_lines(input: &[u8]) -> Vec<(usize, &[u8])> {
    reference_split(input, None)
}

fn reference_csv(input: &[u8], quote: u8) -> Vec<(usize, &[u8])> {
    reference_split(input, Some(quote))
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop::sample::select(vec![b'a', b'b', b',', b'"', b'\n', b'\n', b'\r', b'\'', 0u8, 0xff]),
        0..300,
    )
}

/// Longer inputs, so records, quoted fields and chunks span the iterators'
/// 64-byte blocks.
fn long_input() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop::sample::select(vec![b'a', b'a', b'a', b'a', b'a', b',', b'"', b'\n', b'\r', 0u8, 0xff]),
        0..3000,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn long_inputs_partition(input in long_input(), target in 1usize..5000) {
        prop_assert_eq!(split_all(&Lines, &input, target), reference_lines(&input));
        prop_assert_eq!(split_all(&Csv::new().with_scan_block(300), &input, target), reference_csv(&input, b'"'));
    }

    #[test]
    fn lines_partition(input in input(), target in 1usize..64) {
        prop_assert_eq!(split_all(&Lines, &input, target), reference_lines(&input));
    }

    #[test]
    fn csv_partition(input in input(), target in 1usize..64, block in 1usize..40) {
        let csv = Csv::new().with_scan_block(block);
        prop_assert_eq!(split_all(&csv, &input, target), reference_csv(&input, b'"'));
    }

    #[test]
    fn csv_other_quote(input in input(), target in 1usize..32) {
        let csv = Csv::new().with_quote(b'\'').with_scan_block(7);
        prop_assert_eq!(split_all(&csv, &input, target), reference_csv(&input, b'\''));
    }

    #[test]
    fn fixed_partition(input in input(), target in 1usize..64, size in 1usize..20) {
        prop_assert_eq!(split_all(&Fixed::new(size), &input, target), reference_fixed(&input, size));
    }

    #[test]
    fn complete_prefix_ends_at_the_last_certain_record_start(input in input(), cut in 0usize..320, size in 1usize..20) {
        let cut = cut.min(input.len());
        // Record starts in (0, cut] do not depend on what follows `cut`; an
        // extra byte after the prefix makes `cut` itself a start exactly when
        // the prefix ends with a record's terminator.
        let mut probe = input[..cut].to_vec();
        probe.push(b'x');
        let last = |starts: Vec<usize>| starts.into_iter().filter(|&s| s > 0 && s <= cut).max().unwrap_or(0);
        let prefix = &input[..cut];
        prop_assert_eq!(Lines.complete_prefix(prefix), last(reference_lines(&probe).iter().map(|r| r.0).collect()));
        prop_assert_eq!(Csv::new().complete_prefix(prefix), last(reference_csv(&probe, b'"').iter().map(|r| r.0).collect()));
        prop_assert_eq!(
            Csv::new().with_quote(b'\'').complete_prefix(prefix),
            last(reference_csv(&probe, b'\'').iter().map(|r| r.0).collect())
        );
        prop_assert_eq!(Fixed::new(size).complete_prefix(prefix), last(reference_fixed(&probe, size).iter().map(|r| r.0).collect()));
        let any: AnyFormat = "csv".parse().unwrap();
        prop_assert_eq!(any.complete_prefix(prefix), Csv::new().complete_prefix(prefix));
    }

    #[test]
    fn next_boundary_is_the_first_record_start_at_or_after(input in input(), pos in 0usize..320) {
        let starts: Vec<usize> = reference_csv(&input, b'"').iter().map(|r| r.0).collect();
        let want = starts.iter().copied().find(|&s| s >= pos).unwrap_or(input.len());
        prop_assert_eq!(Csv::new().next_boundary(&input, pos), want);
        let starts: Vec<usize> = reference_lines(&input).iter().map(|r| r.0).collect();
        let want = starts.iter().copied().find(|&s| s >= pos).unwrap_or(input.len());
        prop_assert_eq!(Lines.next_boundary(&input, pos), want);
    }
}

#[test]
fn edge_inputs() {
    for input in [&b""[..], b"\n", b"x", b"\r\n", b"\n\n\n", b"a\rb\rc", b"no newline at end"] {
        for target in [1, 2, 3, 1000] {
            assert_eq!(split_all(&Lines, input, target), reference_lines(input), "{input:?} {target}");
            assert_eq!(split_all(&Csv::new(), input, target), reference_csv(input, b'"'));
        }
    }
    assert!(plan(&Lines, b"", 10).is_empty());
    assert_eq!(plan(&Lines, b"x", 10), vec![0..1]);
}

#[test]
fn a_record_longer_than_the_target_makes_one_long_chunk() {
    let mut input = vec![b'x'; 10_000];
    input.push(b'\n');
    input.extend_from_slice(b"short\n");
    let chunks = plan(&Lines, &input, 16);
    assert_eq!(chunks, vec![0..10_001, 10_001..10_007]);
}

#[test]
fn csv_newlines_inside_quotes_do_not_end_records() {
    let input = b"id,text\n1,\"line one\nline two, still \"\"quoted\"\"\"\n2,plain\r\n3,\"\n\n\"\n";
    for target in 1..input.len() + 2 {
        let records: Vec<&[u8]> =
            split_all(&Csv::new().with_scan_block(5), input, target).into_iter().map(|r| r.1).collect();
        assert_eq!(
            records,
            vec![
                &b"id,text"[..],
                &b"1,\"line one\nline two, still \"\"quoted\"\"\""[..],
                &b"2,plain"[..],
                &b"3,\"\n\n\""[..]
            ]
        );
    }
}

#[test]
fn an_unclosed_quote_makes_the_rest_one_record_without_rescanning() {
    let mut input = b"a\n\"open\n".to_vec();
    input.extend(std::iter::repeat_n(b"x\n".iter().copied(), 50_000).flatten());
    let csv = Csv::new().with_scan_block(64);
    let chunks = plan(&csv, &input, 64);
    // No record starts after the first target position: one chunk, found with
    // one pass per scan block rather than one rescan per target position.
    assert_eq!(chunks, vec![0..input.len()]);
    assert_eq!(csv.records(&input).count(), 2);
}

#[test]
fn any_format_parses_and_delegates() {
    assert_eq!("lines".parse::<AnyFormat>().unwrap(), AnyFormat::Lines(Lines));
    assert_eq!("csv".parse::<AnyFormat>().unwrap(), AnyFormat::Csv(Csv::new()));
    assert_eq!("fixed:16".parse::<AnyFormat>().unwrap(), AnyFormat::Fixed(Fixed::new(16)));
    for bad in ["fixed:0", "fixed:", "fixed:x", "tsv", ""] {
        let err = bad.parse::<AnyFormat>().unwrap_err().to_string();
        assert!(err.contains("unknown record format"), "{err}");
    }
    let input = b"a,\"b\nc\"\nd\n";
    let any: AnyFormat = "csv".parse().unwrap();
    assert_eq!(split_all(&any, input, 1), reference_csv(input, b'"'));
    assert_eq!(any.to_string(), "csv");
}
