//! The partition contract of `pagemill-split` against byte-at-a-time
//! splitters, which `crates/split/tests` uses too (`crate::reference`).

use pagemill_split::{AnyFormat, Csv, Fixed, Lines, RecordFormat, plan};

use crate::Data;

/// (absolute offset, bytes) of each record, by the obvious sequential loop:
/// a newline ends a record unless an odd number of `quote` bytes precede it
/// in the record (`None`: no quoting, plain lines); a CR before it is dropped.
pub fn reference_split(input: &[u8], quote: Option<u8>) -> Vec<(usize, &[u8])> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, &b) in input.iter().enumerate() {
        if Some(b) == quote {
            quoted = !quoted;
        } else if b == b'\n' && !quoted {
            let rec = &input[start..i];
            out.push((start, rec.strip_suffix(b"\r").unwrap_or(rec)));
            start = i + 1;
        }
    }
    if start < input.len() {
        // A CR ending the last record outside quotes goes, as before a newline.
        let rec = &input[start..];
        out.push((start, if quoted { rec } else { rec.strip_suffix(b"\r").unwrap_or(rec) }));
    }
    out
}

/// (absolute offset, bytes) of each fixed-width record of `size` bytes (the
/// last one may be short).
pub fn reference_fixed(input: &[u8], size: usize) -> Vec<(usize, &[u8])> {
    input.chunks(size).enumerate().map(|(i, c)| (i * size, c)).collect()
}

/// (absolute offset, bytes) of each record of `input` as `format` plans it
/// into chunks of about `target` bytes and iterates them; panics unless the
/// chunks tile the input (contiguous, never empty) and each chunk's
/// `count_records` and internal iteration agree with `next`.
pub fn split_all<'i, F: RecordFormat>(format: &F, input: &'i [u8], target: usize) -> Vec<(usize, &'i [u8])> {
    let chunks = plan(format, input, target);
    let mut expected_start = 0;
    for c in &chunks {
        assert_eq!(c.start, expected_start, "chunks are contiguous");
        assert!(c.end > c.start, "chunks are never empty");
        expected_start = c.end;
    }
    assert_eq!(expected_start, input.len(), "chunks cover the input");
    let mut out = Vec::new();
    for c in &chunks {
        let chunk = &input[c.clone()];
        let before = out.len();
        // The records as slices of `input` (so they outlive `format`): each
        // record's bytes start at its offset.
        out.extend(format.records(chunk).map(|r| {
            let start = c.start + r.offset;
            let bytes = &input[start..start + r.bytes.len()];
            assert_eq!(bytes, r.bytes, "a record's bytes start at its offset");
            (start, bytes)
        }));
        let count = out.len() - before;
        assert_eq!(format.count_records(chunk), count as u64, "count_records agrees with records");
        let mut folded = Vec::new();
        format.records(chunk).for_each(|r| folded.push((c.start + r.offset, r.bytes)));
        assert_eq!(folded, out[before..], "internal iteration agrees with next");
    }
    out
}

fn check<F: RecordFormat>(format: &F, input: &[u8], target: usize, want: &[(usize, &[u8])], pos: usize) {
    assert_eq!(split_all(format, input, target), want, "records of target {target}");
    assert_eq!(split_all(format, input, 1), want, "records of target 1");
    let any = split_all(format, input, input.len().max(1));
    assert_eq!(any, want, "records of one chunk");
    // next_boundary: the first record start at or after `pos`.
    let pos = pos.min(input.len());
    let first = want.iter().map(|r| r.0).find(|&s| s >= pos).unwrap_or(input.len());
    assert_eq!(format.next_boundary(input, pos), first, "next_boundary({pos})");
}

/// Byte 0 picks the format (lines, CSV with `"`, CSV with any other quote
/// byte, fixed-width) and whether to go through `AnyFormat`; byte 1 the
/// target chunk size; byte 2 the CSV scan block, quote byte or record size;
/// byte 3 a position for `next_boundary`. The rest is the input.
pub fn split(data: &[u8]) {
    let mut d = Data(data);
    let (sel, target, param, pos) = (d.byte(), usize::from(d.byte()) + 1, d.byte(), usize::from(d.byte()));
    let input = d.rest();
    let format = match sel % 4 {
        0 => AnyFormat::Lines(Lines),
        1 => AnyFormat::Csv(Csv::new().with_scan_block(usize::from(param) + 1)),
        // Any quote byte but LF, whose meaning as a quote is unspecified.
        2 => AnyFormat::Csv(Csv::new().with_quote(if param == b'\n' { b'"' } else { param }).with_scan_block(7)),
        _ => AnyFormat::Fixed(Fixed::new(usize::from(param % 40) + 1)),
    };
    let want = match format {
        AnyFormat::Lines(_) => reference_split(input, None),
        AnyFormat::Csv(csv) => reference_split(input, Some(csv.quote())),
        AnyFormat::Fixed(fixed) => reference_fixed(input, fixed.size()),
        _ => unreachable!("the three built-in formats"),
    };
    if sel & 4 == 0 {
        check(&format, input, target, &want, pos);
    } else {
        match format {
            AnyFormat::Lines(f) => check(&f, input, target, &want, pos),
            AnyFormat::Csv(f) => check(&f, input, target, &want, pos),
            AnyFormat::Fixed(f) => check(&f, input, target, &want, pos),
            _ => unreachable!("the three built-in formats"),
        }
    }
}
