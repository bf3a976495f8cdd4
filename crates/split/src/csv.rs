use std::ops::Range;

use rayon::prelude::*;

use crate::block::{BLOCK, RecordEnds, Walk, eq_mask, prefix_xor};
use crate::plan::ranges;
use crate::{Record, RecordFormat};

/// RFC 4180 CSV records: a newline ends a record unless it is inside a quoted
/// field. A CR right before the ending LF is stripped, as is one ending a last
/// record without an LF (outside quotes).
///
/// # Splitting rule
///
/// Every quote byte toggles the "inside quotes" state; a doubled quote (`""`)
/// inside a quoted field toggles twice and so changes nothing. A newline ends a
/// record exactly when an even number of quote bytes precede it since the
/// record began. This is the rule a sequential RFC 4180 reader follows on
/// well-formed input. On malformed input (a stray quote in an unquoted field)
/// it still cuts deterministically, and a quote that is never closed makes the
/// rest of the input one record, which the field parser then reports. (The
/// features job reads a record that a stray quote made of several lines
/// line by line again, so only the line with the stray quote is lost; the
/// record count here does not.)
///
/// # Boundaries in parallel
///
/// Whether a newline ends a record depends on the parity of all quotes before
/// it, so a boundary cannot be found by looking only near a chunk's target
/// position. [`plan`](RecordFormat::plan) resolves it in two parallel passes:
///
/// 1. the input is cut into blocks of about [`Csv::scan_block`] bytes, and
///    each block's quote count is taken (a `memchr` count);
/// 2. a prefix XOR over those parities gives the exact quote state at the start
///    of every block; each block then walks its target positions forward,
///    carrying the state, to the first newline outside quotes, searching only
///    within its own bytes (the next block finds any boundary past its start).
///
/// Both passes read every byte once, so planning costs two parallel scans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Csv {
    quote: u8,
    scan_block: usize,
}

impl Default for Csv {
    fn default() -> Csv {
        Csv::new()
    }
}

impl Csv {
    /// Double-quote quoting, 1 MiB scan blocks.
    pub fn new() -> Csv {
        Csv { quote: b'"', scan_block: 1 << 20 }
    }

    /// Use `quote` as the quote byte. It must not be `\n`: a newline that is
    /// also a quote has no consistent meaning, and the records cut are then
    /// unspecified (though never out of bounds).
    pub fn with_quote(mut self, quote: u8) -> Csv {
        self.quote = quote;
        self
    }

    /// The quote byte.
    pub fn quote(&self) -> u8 {
        self.quote
    }

    /// Set the granularity of the parallel quote-counting pass (rounded to a
    /// multiple of the target chunk size; at least 1).
    pub fn with_scan_block(mut self, bytes: usize) -> Csv {
        self.scan_block = bytes.max(1);
        self
    }

    /// The granularity of the parallel quote-counting pass.
    pub fn scan_block(&self) -> usize {
        self.scan_block
    }

    fn quote_parity(&self, bytes: &[u8]) -> bool {
        memchr::memchr_iter(self.quote, bytes).count() % 2 == 1
    }

    /// The first record start `b` with `from < b <= limit`, scanning from
    /// `from` (whose quote state is `odd`), or `None`.
    fn scan(&self, bytes: &[u8], from: usize, limit: usize, mut odd: bool) -> Option<usize> {
        let end = limit.min(bytes.len());
        if from >= end {
            return None;
        }
        for i in memchr::memchr2_iter(b'\n', self.quote, &bytes[from..end]) {
            if bytes[from + i] == self.quote {
                odd = !odd;
            } else if !odd {
                return Some(from + i + 1);
            }
        }
        None
    }

    /// Cuts for the target positions inside `block`, whose start has quote
    /// state `odd`.
    fn cuts_in_block(&self, bytes: &[u8], block: Range<usize>, mut odd: bool, target: usize) -> Vec<usize> {
        let mut cuts = Vec::new();
        let mut cursor = block.start;
        let mut p = if block.start == 0 { target } else { block.start };
        while p < block.end {
            // Move the known quote state (before byte `cursor`) to just before
            // byte p-1, the byte that decides whether p is a record start. Only
            // at a block's first position does p-1 lie before the cursor, by one.
            if p > cursor {
                odd ^= self.quote_parity(&bytes[cursor..p - 1]);
            } else {
                odd ^= bytes[p - 1] == self.quote;
            }
            match self.scan(bytes, p - 1, block.end, odd) {
                Some(b) => {
                    if b >= bytes.len() {
                        break;
                    }
                    cuts.push(b);
                    cursor = b;
                    odd = false;
                    p = p.saturating_add(target).max(b + 1);
                }
                None => break,
            }
        }
        cuts
    }
}

impl RecordFormat for Csv {
    type Records<'a> = CsvRecords<'a>;

    /// One walk: the quote state the walk carries from block to block says,
    /// at the end, whether the chunk ends inside quotes.
    fn count_records_checked(&self, chunk: &[u8]) -> (u64, Option<usize>) {
        let ((n, last), ends) = self.records(chunk).0.fold_to_end((0u64, 0usize), |(n, _), r| (n + 1, r.offset));
        (n, (n > 0 && ends.quoted).then_some(last))
    }

    /// Scans from the start of `bytes` to learn the quote state at `pos`:
    /// `O(pos)`. [`plan`](RecordFormat::plan) does not use it.
    fn next_boundary(&self, bytes: &[u8], pos: usize) -> usize {
        if pos == 0 {
            return 0;
        }
        if pos >= bytes.len() {
            return bytes.len();
        }
        let odd = self.quote_parity(&bytes[..pos - 1]);
        self.scan(bytes, pos - 1, bytes.len(), odd).unwrap_or(bytes.len())
    }

    fn plan(&self, bytes: &[u8], target: usize) -> Vec<Range<usize>> {
        let target = target.max(1);
        let len = bytes.len();
        if len == 0 {
            return Vec::new();
        }
        let block = if target >= self.scan_block { target } else { target * (self.scan_block / target) };
        let blocks: Vec<Range<usize>> =
            (0..len.div_ceil(block)).map(|i| i * block..((i + 1) * block).min(len)).collect();
        let parities: Vec<bool> = blocks.par_iter().map(|r| self.quote_parity(&bytes[r.clone()])).collect();
        let mut state = false;
        let starts: Vec<bool> = parities
            .iter()
            .map(|&p| {
                let at_start = state;
                state ^= p;
                at_start
            })
            .collect();
        let per_block: Vec<Vec<usize>> = blocks
            .par_iter()
            .zip(starts.par_iter())
            .map(|(r, &odd)| self.cuts_in_block(bytes, r.clone(), odd, target))
            .collect();
        let mut cuts = Vec::with_capacity(1 + per_block.iter().map(Vec::len).sum::<usize>());
        cuts.push(0);
        cuts.extend(per_block.into_iter().flatten());
        ranges(cuts, len)
    }

    /// One quote count over `bytes`, then a walk back from the end to the
    /// last newline with an even number of quotes before it.
    fn complete_prefix(&self, bytes: &[u8]) -> usize {
        let mut odd_before = self.quote_parity(bytes);
        for i in memchr::memrchr2_iter(b'\n', self.quote, bytes) {
            if bytes[i] == self.quote {
                odd_before = !odd_before;
            } else if !odd_before {
                return i + 1;
            }
        }
        0
    }

    fn records<'a>(&'a self, chunk: &'a [u8]) -> CsvRecords<'a> {
        CsvRecords(Walk::new(chunk, QuotedNewlines { quote: self.quote, quoted: false }))
    }
}

/// Iterator over the records of a chunk of [`Csv`].
///
/// Like the lines iterator it scans 64 bytes at a time, with one mask for
/// newlines and one for quotes. The running parity of the quote mask (a
/// prefix XOR, carried from block to block) marks the bytes inside quoted
/// fields; the newlines outside them end records. A block costs the same
/// whether or not it holds quotes.
#[derive(Debug)]
pub struct CsvRecords<'a>(Walk<'a, QuotedNewlines>);

/// Newlines outside quoted fields end records.
#[derive(Debug)]
struct QuotedNewlines {
    quote: u8,
    /// Whether the byte after the last block seen starts inside quotes.
    quoted: bool,
}

impl RecordEnds for QuotedNewlines {
    #[inline(always)]
    fn ends(&mut self, block: &[u8; BLOCK], valid: u64) -> u64 {
        let quotes = eq_mask(block, self.quote) & valid;
        let parity = prefix_xor(quotes);
        let inside = parity ^ if self.quoted { u64::MAX } else { 0 };
        // The top bit of the running parity is the block's own parity (no
        // population count, which baseline x86-64 lacks an instruction for).
        self.quoted ^= parity >> 63 == 1;
        eq_mask(block, b'\n') & valid & !inside
    }

    #[inline(always)]
    fn open(&self) -> bool {
        self.quoted
    }
}

impl<'a> Iterator for CsvRecords<'a> {
    type Item = Record<'a>;

    #[inline]
    fn next(&mut self) -> Option<Record<'a>> {
        self.0.next()
    }

    #[inline]
    fn fold<B, F>(self, init: B, f: F) -> B
    where
        F: FnMut(B, Record<'a>) -> B,
    {
        self.0.fold(init, f)
    }
}
