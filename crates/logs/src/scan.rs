//! Finding one byte in a log line, 16 bytes at a time, then 64.
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

/// The 16 bytes of `hay` at `at`.
#[inline(always)]
fn block(hay: &[u8], at: usize) -> &[u8; 16] {
    hay[at..at + 16].try_into().expect("16 bytes")
}

/// The mask of `byte` in the 16 bytes of `hay` at `at`.
#[inline(always)]
fn mask(hay: &[u8], at: usize, byte: u8) -> u32 {
    eq_mask16(block(hay, at), byte)
}

/// The mask of `a` or `b` in the 16 bytes of `hay` at `at`.
#[inline(always)]
fn mask2(hay: &[u8], at: usize, a: u8, b: u8) -> u32 {
    let bytes = block(hay, at);
    eq_mask16(bytes, a) | eq_mask16(bytes, b)
}

/// The first index at or after `from` where `hit` (a 16-byte block mask
/// function) has a bit, or where `is` holds in a short haystack. Past the
/// first 16 bytes, `wide` (the same for 64 bytes) takes long fields (agents,
/// referrers) a quarter of the steps at a time.
#[inline(always)]
fn first(
    hay: &[u8],
    from: usize,
    hit: impl Fn(usize) -> u32,
    wide: impl Fn(usize) -> u64,
    is: impl Fn(u8) -> bool,
) -> Option<usize> {
    let mut at = from;
    if at + 16 <= hay.len() {
        let m = hit(at);
        if m != 0 {
            return Some(at + m.trailing_zeros() as usize);
        }
        at += 16;
        while at + 64 <= hay.len() {
            let m = wide(at);
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
    hay[at..].iter().position(|&b| is(b)).map(|i| at + i)
}

/// The 64 bytes of `hay` at `at`.
#[inline(always)]
fn block64(hay: &[u8], at: usize) -> &[u8; 64] {
    hay[at..at + 64].try_into().expect("64 bytes")
}

/// The index of the first `byte` in `hay` at or after `from`.
#[inline(always)]
pub(crate) fn find(hay: &[u8], from: usize, byte: u8) -> Option<usize> {
    first(hay, from, |at| mask(hay, at, byte), |at| eq_mask(block64(hay, at), byte), |b| b == byte)
}

/// The index of the first `a` or `b` in `hay` at or after `from`.
#[inline(always)]
pub(crate) fn find2(hay: &[u8], from: usize, a: u8, b: u8) -> Option<usize> {
    let wide = |at| {
        let bytes = block64(hay, at);
        eq_mask(bytes, a) | eq_mask(bytes, b)
    };
    first(hay, from, |at| mask2(hay, at, a, b), wide, |c| c == a || c == b)
}

/// The index of the last `byte` in `hay`.
#[inline(always)]
pub(crate) fn rfind(hay: &[u8], byte: u8) -> Option<usize> {
    let mut end = hay.len();
    while end >= 16 {
        let m = mask(hay, end - 16, byte);
        if m != 0 {
            return Some(end - 16 + (31 - m.leading_zeros() as usize));
        }
        end -= 16;
    }
    hay[..end].iter().rposition(|&b| b == byte)
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
                        [b'a', b' ', b'"', b'x'][(state % 4) as usize]
                    })
                    .collect();
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
