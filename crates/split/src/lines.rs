use crate::swar::{bytes_equal, last_record, line_record, word_at};
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

    fn records<'a>(&'a self, chunk: &'a [u8]) -> LinesRecords<'a> {
        let mut it = LinesRecords { chunk, start: 0, word: 0, mask: 0 };
        it.mask = it.newlines_in_word(0);
        it
    }

    fn count_records(&self, chunk: &[u8]) -> u64 {
        let newlines = memchr::memchr_iter(b'\n', chunk).count() as u64;
        newlines + u64::from(chunk.last().is_some_and(|&b| b != b'\n'))
    }
}

/// Iterator over the records of a chunk of [`Lines`].
///
/// Finds newlines eight bytes at a time (SWAR): for each 8-byte word a mask
/// with one bit per newline byte, whose set bits are then walked. Short lines
/// cost a few instructions each, without a search call per line.
#[derive(Debug)]
pub struct LinesRecords<'a> {
    chunk: &'a [u8],
    /// Start of the next record.
    start: usize,
    /// Offset of the word `mask` describes.
    word: usize,
    /// High bit set in each byte of the current word that is a newline and has
    /// not been yielded yet.
    mask: u64,
}

impl LinesRecords<'_> {
    /// The newline mask of the word at `at` (zero-padded past the end).
    #[inline(always)]
    fn newlines_in_word(&self, at: usize) -> u64 {
        bytes_equal(word_at(self.chunk, at, 0), b'\n')
    }
}

impl<'a> Iterator for LinesRecords<'a> {
    type Item = Record<'a>;

    #[inline]
    fn next(&mut self) -> Option<Record<'a>> {
        loop {
            if self.mask != 0 {
                let nl = self.word + (self.mask.trailing_zeros() / 8) as usize;
                self.mask &= self.mask - 1;
                let record = line_record(self.chunk, self.start, nl);
                self.start = nl + 1;
                return Some(record);
            }
            self.word += 8;
            if self.word >= self.chunk.len() {
                let record = last_record(self.chunk, self.start);
                self.start = self.chunk.len();
                return record;
            }
            self.mask = self.newlines_in_word(self.word);
        }
    }

    /// Internal iteration (`for_each`, `count`, `sum`, ...): one tight loop
    /// per 8-byte word, without re-entering `next` for every record.
    #[inline]
    fn fold<B, F>(mut self, init: B, mut f: F) -> B
    where
        F: FnMut(B, Record<'a>) -> B,
    {
        let chunk = self.chunk;
        let mut acc = init;
        let mut start = self.start;
        let mut mask = self.mask;
        let mut word = self.word;
        loop {
            while mask != 0 {
                let nl = word + (mask.trailing_zeros() / 8) as usize;
                mask &= mask - 1;
                acc = f(acc, line_record(chunk, start, nl));
                start = nl + 1;
            }
            word += 8;
            if word >= chunk.len() {
                break;
            }
            mask = self.newlines_in_word(word);
        }
        if let Some(record) = last_record(chunk, start) {
            acc = f(acc, record);
        }
        self.start = chunk.len();
        acc
    }
}
