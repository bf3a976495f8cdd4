//! Finding one byte in a log line, 16 bytes at a time, then 64; and where
//! a JSON number ends, 16 bytes at a time ([`number_end`]).
//!
//! The fields of an access-log line are a few to a few dozen bytes long. A
//! byte loop branches on every byte and mispredicts where the field ends;
//! a `memchr` call costs a call and a setup sized for long haystacks. These
//! compare 16 bytes at once (one SSE2 compare and mask on x86-64:
//! `pagemill_split::block::eq_mask16`), where most fields end, then 64 at
//! once (`eq_mask`) for the long ones, user agents and referrers: a quarter
//! of the loop's steps and exit branches (the `timed` summary, one thread,
//! 3% faster). The part of a line shorter than a whole block is read as the
//! line's last 16 bytes again, so no byte past the line is touched.

use pagemill_split::block::{eq_mask, eq_mask16};
use wide::u8x16;

/// The 16 bytes of `hay` at `at`.
#[inline(always)]
fn block(hay: &[u8], at: usize) -> &[u8; 16] {
    hay[at..at + 16].try_into().expect("16 bytes")
}

/// What a search looks for: one byte or either of two, as masks of 16 and
/// 64 bytes. Methods of a trait rather than closures, so that they can be
/// marked `#[inline(always)]`: as closures, the 64-byte compare and the
/// last block's were left out of line (called about six times a line, a
/// few percent of the `timed` summary's instructions).
trait Needle: Copy {
    /// One bit per byte of `bytes` that is looked for.
    fn mask16(self, bytes: &[u8; 16]) -> u32;
    /// One bit per byte of `bytes` that is looked for.
    fn mask64(self, bytes: &[u8; 64]) -> u64;
    /// Whether `b` is looked for.
    fn is(self, b: u8) -> bool;
}

/// One byte.
#[derive(Clone, Copy)]
struct One(u8);

/// Either of two bytes.
#[derive(Clone, Copy)]
struct Two(u8, u8);

impl Needle for One {
    #[inline(always)]
    fn mask16(self, bytes: &[u8; 16]) -> u32 {
        eq_mask16(bytes, self.0)
    }

    #[inline(always)]
    fn mask64(self, bytes: &[u8; 64]) -> u64 {
        eq_mask(bytes, self.0)
    }

    #[inline(always)]
    fn is(self, b: u8) -> bool {
        b == self.0
    }
}

impl Needle for Two {
    #[inline(always)]
    fn mask16(self, bytes: &[u8; 16]) -> u32 {
        eq_mask16(bytes, self.0) | eq_mask16(bytes, self.1)
    }

    #[inline(always)]
    fn mask64(self, bytes: &[u8; 64]) -> u64 {
        eq_mask(bytes, self.0) | eq_mask(bytes, self.1)
    }

    #[inline(always)]
    fn is(self, b: u8) -> bool {
        b == self.0 || b == self.1
    }
}

/// The first index at or after `from` of a byte `needle` looks for: the
/// first 16 bytes as one block, then (long fields: agents, referrers) 64 at
/// a time, a quarter of the steps, then 16 at a time.
#[inline(always)]
fn first(hay: &[u8], from: usize, needle: impl Needle) -> Option<usize> {
    let hit = |at: usize| needle.mask16(block(hay, at));
    let mut at = from;
    if at + 16 <= hay.len() {
        let m = hit(at);
        if m != 0 {
            return Some(at + m.trailing_zeros() as usize);
        }
        at += 16;
        while at + 64 <= hay.len() {
            let m = needle.mask64(block64(hay, at));
            if m != 0 {
                return Some(at + m.trailing_zeros() as usize);
            }
            at += 64;
        }
    }
    while at + 16 <= hay.len() {
        let m = hit(at);
        if m != 0 {
            return Some(at + m.trailing_zeros() as usize);
        }
        at += 16;
    }
    if at >= hay.len() {
        return None;
    }
    if hay.len() >= 16 {
        // The last block again, without the bytes before `at`.
        let start = hay.len() - 16;
        let m = hit(start) >> (at - start);
        return (m != 0).then(|| at + m.trailing_zeros() as usize);
    }
    hay[at..].iter().position(|&b| needle.is(b)).map(|i| at + i)
}

/// The 64 bytes of `hay` at `at`.
#[inline(always)]
fn block64(hay: &[u8], at: usize) -> &[u8; 64] {
    hay[at..at + 64].try_into().expect("64 bytes")
}

/// The index of the first `byte` in `hay` at or after `from`.
#[inline(always)]
pub(crate) fn find(hay: &[u8], from: usize, byte: u8) -> Option<usize> {
    first(hay, from, One(byte))
}

/// The index of the first `a` or `b` in `hay` at or after `from`.
#[inline(always)]
pub(crate) fn find2(hay: &[u8], from: usize, a: u8, b: u8) -> Option<usize> {
    first(hay, from, Two(a, b))
}

/// The index of the last `byte` in `hay`.
#[inline(always)]
pub(crate) fn rfind(hay: &[u8], byte: u8) -> Option<usize> {
    let mut end = hay.len();
    while end >= 16 {
        let m = eq_mask16(block(hay, end - 16), byte);
        if m != 0 {
            return Some(end - 16 + (31 - m.leading_zeros() as usize));
        }
        end -= 16;
    }
    hay[..end].iter().rposition(|&b| b == byte)
}

/// One bit per byte of `bytes` that may stand in a JSON number: a digit,
/// `.`, `-`, `+`, `e` or `E`.
#[inline(always)]
fn number_mask16(bytes: &[u8; 16]) -> u32 {
    let v = u8x16::new(*bytes);
    let digit = v.max(u8x16::splat(b'0')).min(u8x16::splat(b'9')).simd_eq(v);
    let exp = (v | u8x16::splat(0x20)).simd_eq(u8x16::splat(b'e'));
    let sign = v.simd_eq(u8x16::splat(b'-')) | v.simd_eq(u8x16::splat(b'+'));
    (digit | exp | sign | v.simd_eq(u8x16::splat(b'.'))).to_bitmask()
}

/// The index of the first byte at or after `from` of `hay` that cannot
/// stand in a JSON number (see [`number_mask16`]), or `hay.len()`.
///
/// A number's bytes are classed 16 at a time: a byte loop's exit branch
/// mispredicted at the end of most numbers, whose lengths vary (sizes of
/// 1 to 7 digits). Most numbers end in the first block; near the end of
/// `hay` the last 16 bytes are read again, so no byte past it is touched.
#[inline(always)]
pub(crate) fn number_end(hay: &[u8], from: usize) -> usize {
    let mut at = from;
    while at + 16 <= hay.len() {
        let m = !number_mask16(block(hay, at));
        if m & 0xFFFF != 0 {
            return at + m.trailing_zeros() as usize;
        }
        at += 16;
    }
    if at >= hay.len() {
        return hay.len();
    }
    if hay.len() >= 16 {
        // The last block again, without the bytes before `at`; past the
        // end of `hay` the mask has no number bytes.
        let start = hay.len() - 16;
        let m = !(number_mask16(block(hay, start)) >> (at - start));
        return at + m.trailing_zeros() as usize;
    }
    short_number_end(hay, at)
}

/// [`number_end`] in a haystack shorter than a block: zero-padded to one (a
/// zero is no number byte, so the number ends by the haystack's end). Out
/// of line: inlined, the copy cost the JSON scanner 1.4% more instructions.
#[cold]
fn short_number_end(hay: &[u8], at: usize) -> usize {
    let mut padded = [0u8; 16];
    padded[..hay.len()].copy_from_slice(hay);
    at + (!(number_mask16(&padded) >> at)).trailing_zeros() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agree_with_byte_loops_at_every_offset_and_length() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for len in 0..200 {
            for _ in 0..40 {
                let hay: Vec<u8> = (0..len)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        [
                            b'a',
                            b' ',
                            b'"',
                            b'x',
                            b'1',
                            b'9',
                            b'.',
                            b'e',
                            b'E',
                            b'+',
                            b'-',
                            b',',
                            b'/',
                            b'0',
                            b'5',
                            b'E' | 0x80,
                        ][(state % 16) as usize]
                    })
                    .collect();
                let number = |b: &u8| matches!(b, b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-');
                for from in 0..=len {
                    let want = hay[from..].iter().position(|b| !number(b)).map_or(len, |i| from + i);
                    assert_eq!(number_end(&hay, from), want, "{hay:?} from {from}");
                }
                for byte in [b' ', b'"', b'z'] {
                    assert_eq!(rfind(&hay, byte), hay.iter().rposition(|&b| b == byte), "{hay:?}");
                    for from in 0..=len + 1 {
                        let want = hay.get(from..).and_then(|r| r.iter().position(|&b| b == byte)).map(|i| from + i);
                        assert_eq!(find(&hay, from, byte), want, "{hay:?} from {from}");
                        let want2 = hay
                            .get(from..)
                            .and_then(|r| r.iter().position(|&b| b == byte || b == b'x'))
                            .map(|i| from + i);
                        assert_eq!(find2(&hay, from, byte, b'x'), want2, "{hay:?} from {from}");
                    }
                }
            }
        }
    }
}
