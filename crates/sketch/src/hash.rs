/// A stable 64-bit hash of a byte string: the same bytes give the same hash
/// on every run, platform and thread, so distinct counts are reproducible.
///
/// Eight bytes at a time through a folded 128-bit multiply, then a final
/// avalanche; the length is mixed in, so `b"a"` and `b"a\0"` differ.
#[inline]
pub fn hash_bytes(bytes: &[u8]) -> u64 {
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
    use std::collections::HashSet;

    #[test]
    fn stable_and_spread() {
        assert_eq!(hash_bytes(b"pagemill"), hash_bytes(b"pagemill"));
        assert_ne!(hash_bytes(b"a"), hash_bytes(b"a\0"));
        assert_ne!(hash_bytes(b""), hash_bytes(b"\0"));
        let hashes: HashSet<u64> = (0..100_000u32).map(|i| hash_bytes(i.to_string().as_bytes())).collect();
        assert_eq!(hashes.len(), 100_000);
        // The low bits (a HyperLogLog's register index) are balanced.
        let low = hashes.iter().filter(|h| *h & 1 == 1).count();
        assert!((48_000..52_000).contains(&low), "{low}");
    }
}
