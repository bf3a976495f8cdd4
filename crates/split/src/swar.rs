//! Eight bytes at a time: the word-wise byte tests the record iterators share.

use crate::Record;

const ONES: u64 = 0x0101_0101_0101_0101;
const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;

/// The 8 bytes of `chunk` at `at` as a little-endian word, padded with `pad`
/// past the end of the chunk.
#[inline(always)]
pub(crate) fn word_at(chunk: &[u8], at: usize, pad: u8) -> u64 {
    match chunk.get(at..at + 8) {
        Some(bytes) => u64::from_le_bytes(bytes.try_into().expect("8 bytes")),
        None => {
            let mut buf = [pad; 8];
            let rest = chunk.get(at..).unwrap_or(&[]);
            buf[..rest.len()].copy_from_slice(rest);
            u64::from_le_bytes(buf)
        }
    }
}

/// The high bit set in each byte of `w` equal to `byte`. Exact: unlike the
/// classic `(x - 0x01..) & !x & 0x80..` test, a borrow from one byte never
/// marks its neighbour, so every set bit can be used, not just the lowest.
#[inline(always)]
pub(crate) fn bytes_equal(w: u64, byte: u8) -> u64 {
    let x = w ^ (ONES * u64::from(byte));
    // A byte of `x` is zero exactly when adding 0x7F to its low seven bits
    // leaves the high bit clear and its own high bit is clear.
    !(((x & LOW7).wrapping_add(LOW7)) | x | LOW7)
}

/// The record from `start` to the newline at `nl`, without a CR before it.
#[inline(always)]
pub(crate) fn line_record(chunk: &[u8], start: usize, nl: usize) -> Record<'_> {
    let end = if nl > start && chunk[nl - 1] == b'\r' { nl - 1 } else { nl };
    Record { offset: start, bytes: &chunk[start..end] }
}

/// The record from `start` to the end of a chunk that has no newline left:
/// a last line without one, or nothing.
#[inline]
pub(crate) fn last_record(chunk: &[u8], start: usize) -> Option<Record<'_>> {
    (start < chunk.len()).then(|| Record { offset: start, bytes: &chunk[start..] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_equal_marks_every_match_and_nothing_else() {
        for pattern in 0u32..256 {
            let bytes: [u8; 8] = std::array::from_fn(|i| if pattern >> i & 1 == 1 { b'\n' } else { 0x0B });
            let mask = bytes_equal(u64::from_le_bytes(bytes), b'\n');
            let want: u64 = (0..8).filter(|&i| pattern >> i & 1 == 1).map(|i| 0x80u64 << (8 * i)).sum();
            assert_eq!(mask, want, "{bytes:?}");
        }
    }

    #[test]
    fn word_at_pads_past_the_end() {
        assert_eq!(word_at(b"abc", 1, 0), u64::from_le_bytes(*b"bc\0\0\0\0\0\0"));
        assert_eq!(word_at(b"abc", 5, 1), u64::from_le_bytes([1; 8]));
        assert_eq!(word_at(b"abcdefghij", 2, 0), u64::from_le_bytes(*b"cdefghij"));
    }
}
