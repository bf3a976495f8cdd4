//! Sixty-four bytes at a time: match masks for the record iterators.
//!
//! A record iterator asks, for each 64-byte block of its chunk, which bytes
//! are newlines (and, for CSV, quotes) as a 64-bit mask, one bit per byte, and
//! then walks the set bits. The masks come from one 64-lane SIMD compare per
//! byte value ([`eq_mask`]; `wide` picks the instructions the build targets),
//! so each record costs a few instructions on top of the scan. Baseline
//! x86-64 builds compare with SSE2, where memchr's newline count picks AVX2
//! at run time: on 1 GiB of 200-byte log lines, one thread, plan and iterate
//! take 1.75x that count's time, and 0.75x that of a memchr loop that hands
//! out each line (`benches/results/2026-12-05-vm-split.md`).
//!
//! [`eq_mask`], [`eq_mask16`] and [`prefix_xor`] are public for parsers
//! built on the same idea (the features job's field walker and 1BRC parser,
//! the logs job's field search).

use wide::{u8x16, u8x64};

use crate::Record;

/// Bytes per block.
pub const BLOCK: usize = 64;

/// One bit per byte of `block` that equals `byte`; bit `i` is byte `i`.
///
/// One 64-lane compare: `wide` lowers it to the widest compare the build
/// targets (four SSE2 `pcmpeqb` + `pmovmskb` on baseline x86-64, two AVX2
/// ones on x86-64-v3, one AVX-512BW compare into a mask register on v4,
/// NEON on aarch64, scalar elsewhere).
#[inline(always)]
pub fn eq_mask(block: &[u8; BLOCK], byte: u8) -> u64 {
    u8x64::new(*block).simd_eq(u8x64::splat(byte)).to_bitmask()
}

/// One bit per byte of the 16 bytes `block` that equals `byte`: the short
/// form of [`eq_mask`], one SSE2 `pcmpeqb` + `pmovmskb` on x86-64, for
/// parsers whose fields end within a few bytes (the 1BRC line parser, log
/// field searches).
#[inline(always)]
pub fn eq_mask16(block: &[u8; 16], byte: u8) -> u32 {
    u8x16::new(*block).simd_eq(u8x16::splat(byte)).to_bitmask()
}

/// The 64 bytes of `chunk` at `at` (zero past its end) and the mask of the
/// bits that lie inside `chunk`.
#[inline(always)]
pub fn block_at(chunk: &[u8], at: usize) -> ([u8; BLOCK], u64) {
    match chunk.get(at..at + BLOCK) {
        Some(bytes) => (bytes.try_into().expect("64 bytes"), u64::MAX),
        None => {
            let rest = chunk.get(at..).unwrap_or(&[]);
            let mut buf = [0u8; BLOCK];
            buf[..rest.len()].copy_from_slice(rest);
            (buf, (1u64 << rest.len()) - 1)
        }
    }
}

/// Bit `i` set when an odd number of bits `0..=i` of `x` are set: the
/// "inside quotes" mask of a quote mask.
#[inline(always)]
pub fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

/// How a record format marks the newlines that end records in a block.
pub(crate) trait RecordEnds {
    /// One bit per byte of `block` that ends a record, among the bits set in
    /// `valid` (the bytes inside the chunk). Called once per block, in order,
    /// so formats may carry state from block to block.
    fn ends(&mut self, block: &[u8; BLOCK], valid: u64) -> u64;

    /// Whether the bytes seen so far end inside an open quote (a CR there
    /// is data, not part of a line end).
    fn open(&self) -> bool {
        false
    }
}

/// The walk over record ends that the line and CSV iterators share: a mask
/// per 64-byte block whose set bits are walked with `trailing_zeros`.
#[derive(Debug)]
pub(crate) struct Walk<'a, E> {
    chunk: &'a [u8],
    /// Start of the next record.
    start: usize,
    /// Offset of the block `ends` describes.
    block: usize,
    /// Record ends of the current block not yet yielded.
    ends: u64,
    finder: E,
}

impl<'a, E: RecordEnds> Walk<'a, E> {
    pub(crate) fn new(chunk: &'a [u8], finder: E) -> Walk<'a, E> {
        let mut walk = Walk { chunk, start: 0, block: 0, ends: 0, finder };
        walk.ends = walk.ends_at(0);
        walk
    }

    /// The record ends of the block at `at` (none past the chunk's end).
    #[inline(always)]
    fn ends_at(&mut self, at: usize) -> u64 {
        let (block, valid) = block_at(self.chunk, at);
        self.finder.ends(&block, valid)
    }

    #[inline]
    pub(crate) fn next(&mut self) -> Option<Record<'a>> {
        loop {
            if self.ends != 0 {
                let nl = self.block + self.ends.trailing_zeros() as usize;
                self.ends &= self.ends - 1;
                let record = line_record(self.chunk, self.start, nl);
                self.start = nl + 1;
                return Some(record);
            }
            self.block += BLOCK;
            if self.block >= self.chunk.len() {
                let record = last_record(self.chunk, self.start, self.finder.open());
                self.start = self.chunk.len();
                return record;
            }
            self.ends = self.ends_at(self.block);
        }
    }

    /// Internal iteration: one tight loop over whole blocks borrowed straight
    /// from the chunk, then the partial last block, without re-entering
    /// `next` for every record.
    #[inline]
    pub(crate) fn fold<B>(self, init: B, f: impl FnMut(B, Record<'a>) -> B) -> B {
        self.fold_to_end(init, f).0
    }

    /// [`fold`](Walk::fold), also returning the finder with the state it
    /// carries at the end of the chunk (CSV: whether it ends inside quotes).
    #[inline]
    pub(crate) fn fold_to_end<B>(mut self, init: B, mut f: impl FnMut(B, Record<'a>) -> B) -> (B, E) {
        let chunk = self.chunk;
        let mut acc = init;
        let mut start = self.start;
        let mut ends = self.ends;
        let mut block = self.block;
        macro_rules! emit {
            () => {
                while ends != 0 {
                    let nl = block + ends.trailing_zeros() as usize;
                    ends &= ends - 1;
                    acc = f(acc, line_record(chunk, start, nl));
                    start = nl + 1;
                }
            };
        }
        loop {
            emit!();
            block += BLOCK;
            match chunk.get(block..block + BLOCK) {
                Some(bytes) => ends = self.finder.ends(bytes.try_into().expect("64 bytes"), u64::MAX),
                None => break,
            }
        }
        if block < chunk.len() {
            ends = self.ends_at(block);
            emit!();
        }
        if let Some(record) = last_record(chunk, start, self.finder.open()) {
            acc = f(acc, record);
        }
        (acc, self.finder)
    }
}

/// The record from `start` to the newline at `nl`, without a CR before it.
#[inline(always)]
fn line_record(chunk: &[u8], start: usize, nl: usize) -> Record<'_> {
    let end = if nl > start && chunk[nl - 1] == b'\r' { nl - 1 } else { nl };
    Record { offset: start, bytes: &chunk[start..end] }
}

/// The record from `start` to the end of a chunk that has no newline left:
/// a last line without one, or nothing. A CR that ends it goes, as before a
/// newline (a CRLF file whose last LF is missing), unless it is inside an
/// `open` quote.
#[inline]
fn last_record(chunk: &[u8], start: usize, open: bool) -> Option<Record<'_>> {
    (start < chunk.len()).then(|| {
        let end = if !open && chunk[chunk.len() - 1] == b'\r' { chunk.len() - 1 } else { chunk.len() };
        Record { offset: start, bytes: &chunk[start..end] }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eq_mask_marks_every_match_and_nothing_else() {
        let mut block = [0u8; BLOCK];
        for (i, b) in block.iter_mut().enumerate() {
            *b = if i % 3 == 0 || i == 63 { b'\n' } else { i as u8 | 0x80 };
        }
        let want: u64 = (0..64).filter(|i| i % 3 == 0 || *i == 63).map(|i| 1u64 << i).sum();
        assert_eq!(eq_mask(&block, b'\n'), want);
        assert_eq!(eq_mask(&[b'x'; BLOCK], b'x'), u64::MAX);
        assert_eq!(eq_mask(&[0; BLOCK], b'x'), 0);
        let short: [u8; 16] = block[..16].try_into().unwrap();
        assert_eq!(eq_mask16(&short, b'\n'), want as u32 & 0xFFFF);
        assert_eq!(eq_mask16(&[b'x'; 16], b'x'), 0xFFFF);
    }

    #[test]
    fn block_at_pads_and_masks_past_the_end() {
        let chunk: Vec<u8> = (0..100u8).collect();
        let (block, valid) = block_at(&chunk, 0);
        assert_eq!(block[63], 63);
        assert_eq!(valid, u64::MAX);
        let (block, valid) = block_at(&chunk, 64);
        assert_eq!(block[35], 99);
        assert_eq!(block[36], 0);
        assert_eq!(valid, (1 << 36) - 1);
        assert_eq!(block_at(&chunk, 100).1, 0);
        assert_eq!(block_at(&chunk, 164).1, 0);
    }

    #[test]
    fn prefix_xor_is_the_running_parity() {
        for x in [0u64, 1, 0b1001, 0x8000_0000_0000_0001, 0xF0F0, u64::MAX, 0x1234_5678_9ABC_DEF0] {
            let mut want = 0u64;
            let mut odd = false;
            for i in 0..64 {
                odd ^= x >> i & 1 == 1;
                want |= u64::from(odd) << i;
            }
            assert_eq!(prefix_xor(x), want, "{x:#x}");
        }
    }
}
