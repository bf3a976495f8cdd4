use crate::block::{BLOCK, block_at, eq_mask, last_record, line_record};
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
        let mut it = LinesRecords { chunk, start: 0, block: 0, mask: 0 };
        it.mask = it.newlines_in_block(0);
        it
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
pub struct LinesRecords<'a> {
    chunk: &'a [u8],
    /// Start of the next record.
    start: usize,
    /// Offset of the block `mask` describes.
    block: usize,
    /// One bit per newline byte of the current block not yet yielded.
    mask: u64,
}

impl LinesRecords<'_> {
    /// The newline mask of the block at `at` (no bits past the chunk's end).
    #[inline(always)]
    fn newlines_in_block(&self, at: usize) -> u64 {
        let (block, valid) = block_at(self.chunk, at);
        eq_mask(&block, b'\n') & valid
    }
}

impl<'a> Iterator for LinesRecords<'a> {
    type Item = Record<'a>;

    #[inline]
    fn next(&mut self) -> Option<Record<'a>> {
        loop {
            if self.mask != 0 {
                let nl = self.block + self.mask.trailing_zeros() as usize;
                self.mask &= self.mask - 1;
                let record = line_record(self.chunk, self.start, nl);
                self.start = nl + 1;
                return Some(record);
            }
            self.block += BLOCK;
            if self.block >= self.chunk.len() {
                let record = last_record(self.chunk, self.start);
                self.start = self.chunk.len();
                return record;
            }
            self.mask = self.newlines_in_block(self.block);
        }
    }

    /// Internal iteration (`for_each`, `count`, `sum`, ...): one tight loop
    /// over whole blocks borrowed straight from the chunk, then the partial
    /// last block, without re-entering `next` for every record.
    #[inline]
    fn fold<B, F>(self, init: B, mut f: F) -> B
    where
        F: FnMut(B, Record<'a>) -> B,
    {
        let chunk = self.chunk;
        let mut acc = init;
        let mut start = self.start;
        let mut mask = self.mask;
        let mut block = self.block;
        macro_rules! emit {
            () => {
                while mask != 0 {
                    let nl = block + mask.trailing_zeros() as usize;
                    mask &= mask - 1;
                    acc = f(acc, line_record(chunk, start, nl));
                    start = nl + 1;
                }
            };
        }
        loop {
            emit!();
            block += BLOCK;
            match chunk.get(block..block + BLOCK) {
                Some(bytes) => mask = eq_mask(bytes.try_into().expect("64 bytes"), b'\n'),
                None => break,
            }
        }
        if block < chunk.len() {
            mask = self.newlines_in_block(block);
            emit!();
        }
        if let Some(record) = last_record(chunk, start) {
            acc = f(acc, record);
        }
        acc
    }
}
