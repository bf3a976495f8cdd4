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

const LF: u64 = 0x0A0A_0A0A_0A0A_0A0A;
const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;

impl LinesRecords<'_> {
    /// The newline mask of the word at `at` (zero-padded past the end).
    #[inline(always)]
    fn newlines_in_word(&self, at: usize) -> u64 {
        let w = match self.chunk.get(at..at + 8) {
            Some(bytes) => u64::from_le_bytes(bytes.try_into().expect("8 bytes")),
            None => {
                let mut buf = [0u8; 8];
                let rest = self.chunk.get(at..).unwrap_or(&[]);
                buf[..rest.len()].copy_from_slice(rest);
                u64::from_le_bytes(buf)
            }
        };
        // Exact zero-byte test (no false positives from borrows): a byte of
        // `x` is zero exactly when adding 0x7F to its low seven bits leaves
        // the high bit clear and its own high bit is clear.
        let x = w ^ LF;
        !(((x & LOW7).wrapping_add(LOW7)) | x | LOW7)
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
                let start = self.start;
                self.start = nl + 1;
                let end = if nl > start && self.chunk[nl - 1] == b'\r' { nl - 1 } else { nl };
                return Some(Record { offset: start, bytes: &self.chunk[start..end] });
            }
            self.word += 8;
            if self.word >= self.chunk.len() {
                // No newline left: a last record without one, or the end.
                let start = self.start;
                if start < self.chunk.len() {
                    self.start = self.chunk.len();
                    return Some(Record { offset: start, bytes: &self.chunk[start..] });
                }
                return None;
            }
            self.mask = self.newlines_in_word(self.word);
        }
    }
}
