use crate::block::{BLOCK, RecordEnds, Walk, eq_mask};
use crate::{Record, RecordFormat};

/// Newline-terminated lines. See the [crate documentation](crate) for the
/// exact rules.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lines;

impl RecordFormat for Lines {
    type Records<'a> = LinesRecords<'a>;

    fn next_boundary(&self, bytes: &[u8], pos: usize) -> usize {
        if pos == 0 {
            return 0;
        }
        if pos >= bytes.len() {
            return bytes.len();
        }
        // A record starts at `pos` exactly when the byte before it is '\n'.
        match memchr::memchr(b'\n', &bytes[pos - 1..]) {
            Some(i) => pos + i,
            None => bytes.len(),
        }
    }

    fn complete_prefix(&self, bytes: &[u8]) -> usize {
        memchr::memrchr(b'\n', bytes).map_or(0, |i| i + 1)
    }

    fn records<'a>(&'a self, chunk: &'a [u8]) -> LinesRecords<'a> {
        LinesRecords(Walk::new(chunk, Newlines))
    }

    fn count_records(&self, chunk: &[u8]) -> u64 {
        let newlines = memchr::memchr_iter(b'\n', chunk).count() as u64;
        newlines + u64::from(chunk.last().is_some_and(|&b| b != b'\n'))
    }
}

/// Iterator over the records of a chunk of [`Lines`].
///
/// Finds newlines 64 bytes at a time: for each block a mask with one bit per
/// newline byte (SIMD compares, see the crate's `block` module), whose set
/// bits are then walked. Short lines cost a few instructions each, without a
/// search call per line.
#[derive(Debug)]
pub struct LinesRecords<'a>(Walk<'a, Newlines>);

/// Every newline ends a line.
#[derive(Debug)]
struct Newlines;

impl RecordEnds for Newlines {
    #[inline(always)]
    fn ends(&mut self, block: &[u8; BLOCK], valid: u64) -> u64 {
        eq_mask(block, b'\n') & valid
    }
}

impl<'a> Iterator for LinesRecords<'a> {
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
