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

#[cfg(test)]
mod tests {
    use super::*;

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
