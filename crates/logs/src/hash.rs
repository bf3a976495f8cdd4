//! A small, fast 64-bit hash for byte slices (folded multiplies over 8-byte
//! words, in the style of wyhash). Not cryptographic, and not meant to resist
//! crafted collisions; the group tables only need spread, and distinct
//! counting needs 64 bits so exact sets of a few thousand values see no
//! collision in practice (about n²/2⁶⁵).

use pagemill_sketch::load_word;

const K0: u64 = 0xa076_1d64_78bd_642f;
const K1: u64 = 0xe703_7ed1_a0b4_28db;
const K2: u64 = 0x8ebc_6af0_9c88_c6e3;

#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let t = u128::from(a) * u128::from(b);
    (t >> 64) as u64 ^ t as u64
}

/// Hash `bytes`, chained from `seed`.
#[inline]
pub(crate) fn hash_bytes(bytes: &[u8], seed: u64) -> u64 {
    let mut h = seed ^ K0 ^ (bytes.len() as u64).wrapping_mul(K2);
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let v = u64::from_le_bytes(w.try_into().expect("8 bytes"));
        h = fold(h ^ v, K1);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        h = fold(h ^ load_word(rest), K2);
    }
    fold(h ^ K1, h ^ K0)
}

/// Hash an integer, chained from `seed`.
#[inline]
pub(crate) fn hash_u64(v: u64, seed: u64) -> u64 {
    fold(seed ^ K2 ^ v, K1 ^ (v >> 32))
}

/// Whether `a` and `b` hold the same bytes: inline word compares instead of
/// a call to `memcmp`, for the short keys (paths, addresses) a group lookup
/// compares once per line.
#[inline]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return load_word(a) == load_word(b);
    }
    let word = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("8 bytes"));
    let mut at = 0;
    while at + 8 < n {
        if word(a, at) != word(b, at) {
            return false;
        }
        at += 8;
    }
    // The last eight bytes, overlapping what was compared.
    word(a, n - 8) == word(b, n - 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bytes_is_slice_equality() {
        let base: Vec<u8> = (0..40u8).collect();
        for n in 0..=base.len() {
            let a = &base[..n];
            let copy = base.clone();
            assert!(same_bytes(a, &copy[..n]));
            for i in 0..n {
                let mut b = a.to_vec();
                b[i] ^= 0x80;
                assert!(!same_bytes(a, &b), "{n} bytes, differing at {i}");
            }
            if n > 0 {
                assert!(!same_bytes(a, &base[..n - 1]));
            }
            if n < base.len() {
                assert!(!same_bytes(&base[1..=n], a) || n == 0, "{n} bytes, shifted");
            }
        }
    }

    #[test]
    fn spreads_and_depends_on_every_byte() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..20_000u32 {
            let s = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
            assert!(seen.insert(hash_bytes(s.as_bytes(), 0)));
        }
        assert_ne!(hash_bytes(b"", 0), hash_bytes(b"\0", 0));
        assert_ne!(hash_bytes(b"abcdefgh1", 0), hash_bytes(b"abcdefgh2", 0));
        assert_ne!(hash_u64(1, 0), hash_u64(2, 0));
    }
}
