/// A stable 64-bit hash of a byte string: the same bytes give the same hash
/// on every run, platform and thread, so distinct counts are reproducible.
///
/// Eight bytes at a time through a folded 128-bit multiply, then a final
/// avalanche; the length is mixed in, so `b"a"` and `b"a\0"` differ.
///
/// Always inlined: with its path for short inputs the compiler stopped
/// inlining it into [`Distinct::insert`](crate::Distinct::insert), and the
/// call cost more than that path saves.
#[inline(always)]
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    const SEED: u64 = 0x243f_6a88_85a3_08d3;
    let n = bytes.len();
    let mut h = SEED ^ (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    if n < 8 {
        // The loop's setup and its remainder split cost more than the
        // folding itself for the short values distinct columns mostly
        // hold (codes, flags): one word or none, folded as the remainder
        // below folds it, gives the same hash.
        if n > 0 {
            h = fold(h ^ load_word(bytes) ^ 0x5555_5555_5555_5555);
        }
        return avalanche(h);
    }
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        h = fold(h ^ u64::from_le_bytes(w.try_into().expect("8 bytes")));
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        h = fold(h ^ load_word(rest) ^ 0x5555_5555_5555_5555);
    }
    avalanche(h)
}

/// The first `min(len, 8)` bytes of `bytes` as a little-endian word,
/// zero-padded: `load_word(b"ab") == 0x6261`, the value of
/// `u64::from_le_bytes` over the bytes copied into a zeroed `[u8; 8]`.
///
/// Short slices are read with two overlapping loads (four bytes from each
/// end, or the first, middle and last byte), not copied into a buffer on
/// the stack: that copy is a call to `memcpy` whose narrow stores the
/// following 8-byte load cannot forward from, a stall of a dozen cycles on
/// every short key of a hot loop.
#[inline(always)]
pub fn load_word(bytes: &[u8]) -> u64 {
    let n = bytes.len();
    if n >= 8 {
        u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"))
    } else if n >= 4 {
        let lo = u64::from(u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")));
        let hi = u64::from(u32::from_le_bytes(bytes[n - 4..].try_into().expect("4 bytes")));
        lo | hi << (8 * (n - 4))
    } else if n > 0 {
        u64::from(bytes[0]) | u64::from(bytes[n / 2]) << (8 * (n / 2)) | u64::from(bytes[n - 1]) << (8 * (n - 1))
    } else {
        0
    }
}

/// Multiply by an odd constant in 128 bits and fold the halves together.
#[inline(always)]
fn fold(x: u64) -> u64 {
    let m = u128::from(x) * 0xd6e8_feb8_6659_fd93_u128;
    (m as u64) ^ ((m >> 64) as u64)
}

/// Spread every input bit over the whole word.
#[inline(always)]
fn avalanche(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PINNED_DL: u64 = 0x44b0_0c0b_4e8f_d1fc;
    const PINNED_LONG: u64 = 0xc815_fc15_4033_4af1;

    #[test]
    fn load_word_is_the_zero_padded_little_endian_word() {
        let bytes: Vec<u8> = (1..=20u32).map(|i| (i * 37 % 251) as u8 + 1).collect();
        for start in 0..4 {
            for len in 0..=12 {
                let s = &bytes[start..start + len];
                let mut buf = [0u8; 8];
                let n = len.min(8);
                buf[..n].copy_from_slice(&s[..n]);
                assert_eq!(load_word(s), u64::from_le_bytes(buf), "{s:?}");
            }
        }
    }
    use proptest::prelude::*;
    use std::collections::HashSet;

    /// The hash as it was before short inputs took their own path: the
    /// reference every input must still hash to.
    fn by_words(bytes: &[u8]) -> u64 {
        const SEED: u64 = 0x243f_6a88_85a3_08d3;
        let mut h = SEED ^ (bytes.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            h = fold(h ^ u64::from_le_bytes(w.try_into().expect("8 bytes")));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            h = fold(h ^ u64::from_le_bytes(buf) ^ 0x5555_5555_5555_5555);
        }
        avalanche(h)
    }

    proptest! {
        #[test]
        fn hashes_as_the_word_loop_does(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            prop_assert_eq!(hash_bytes(&bytes), by_words(&bytes));
        }
    }

    #[test]
    fn stable_and_spread() {
        assert_eq!(hash_bytes(b"pagemill"), hash_bytes(b"pagemill"));
        assert_ne!(hash_bytes(b"a"), hash_bytes(b"a\0"));
        assert_ne!(hash_bytes(b""), hash_bytes(b"\0"));
        let hashes: HashSet<u64> = (0..100_000u32).map(|i| hash_bytes(i.to_string().as_bytes())).collect();
        assert_eq!(hashes.len(), 100_000);
        // Pinned: hashes are stored in partial results, so they must not
        // change between versions.
        assert_eq!(hash_bytes(b"DL"), PINNED_DL);
        assert_eq!(hash_bytes(b"pagemill-sketch"), PINNED_LONG);
        // The low bits (a HyperLogLog's register index) are balanced.
        let low = hashes.iter().filter(|h| *h & 1 == 1).count();
        assert!((48_000..52_000).contains(&low), "{low}");
    }
}
