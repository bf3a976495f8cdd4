//! An open-addressing hash table keyed by byte strings, built for the hot
//! loop: the caller hands in the key's first 16 bytes as two little-endian
//! words (already loaded while scanning for the key's end), so that most
//! lookups compare three integers and never call `memcmp`. Key bytes are
//! copied once per table into an arena; entries live directly in the slots
//! (linear probing, load factor at most 1/2).

use pagemill_sketch::load_word;

/// The first 16 bytes of a key as two little-endian words, zero-padded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Prefix {
    pub w0: u64,
    pub w1: u64,
}

impl Prefix {
    /// The prefix of `key`, for callers that did not load it while
    /// scanning (the general path, once per record).
    #[inline]
    pub(crate) fn of(key: &[u8]) -> Prefix {
        Prefix { w0: load_word(key), w1: load_word(key.get(8..).unwrap_or_default()) }
    }

    /// The prefix of `key` and the hash a table files it under, for
    /// callers that did not load the prefix while scanning.
    #[inline(always)]
    pub(crate) fn with_hash(key: &[u8]) -> (Prefix, u64) {
        let prefix = Prefix::of(key);
        (prefix, prefix.hash(key.len(), tail_word(key)))
    }

    /// The hash of a key with this prefix and `len` bytes; `tail` is the
    /// key's last 8 bytes when it has 16 or more (else 0).
    #[inline]
    pub(crate) fn hash(self, len: usize, tail: u64) -> u64 {
        let a = (self.w0 ^ (len as u64).rotate_left(32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        // The tail word is rotated before it meets `w1`: XORed in as it
        // was, it cancelled `w1` for keys of 16 bytes (`w1 == tail`), and
        // every 16-byte key with the same first 8 bytes fell into one slot
        // (the 1BRC preset ran 35x slower on names like `stations00000042`).
        let b = (self.w1 ^ tail.rotate_left(23)).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
        // A product's bit k sees only bits 0..=k of its factor, so the top
        // bits of `a` and `b` hold every key bit; tables index by the low
        // bits, which the shifts feed from the top. (Folding from bit 31
        // only, as before, left bytes 6 and 7 of each word out of a small
        // table's index: `sensor01`..`sensor99` ran 6x slower.) A folded
        // 128-bit multiply spreads as well but cost the 1BRC preset 8%.
        let h = a ^ b;
        h ^ (h >> 32) ^ (h >> 56)
    }
}

/// The last 8 bytes of a key of 16 bytes or more (0 otherwise): part of the
/// hash so that long keys sharing a 16-byte prefix spread out. The 1BRC fast
/// path loads the tail word for every name of 16 bytes or more, so the
/// threshold here must be the same: a 16-byte name hashed both ways would
/// otherwise land in two slots.
#[inline]
pub(crate) fn tail_word(key: &[u8]) -> u64 {
    if key.len() >= 16 { u64::from_le_bytes(key[key.len() - 8..].try_into().expect("8 bytes")) } else { 0 }
}

/// The slots of a table made for `keys` keys: eight a key (up to 4096
/// slots), at least two a key.
fn slots_for(keys: usize) -> usize {
    let keys = keys.max(8);
    (keys * 2).max((keys * 8).min(4096)).next_power_of_two()
}

#[derive(Clone, Debug)]
struct Slot<V> {
    hash: u64,
    prefix: Prefix,
    /// Key length; 0 marks an empty slot (empty keys are never stored).
    len: u32,
    /// Offset of the key's bytes in the arena.
    off: u32,
    value: V,
}

/// A byte-string-keyed table. Keys must be non-empty.
#[derive(Clone, Debug)]
pub(crate) struct KeyTable<V> {
    slots: Vec<Slot<V>>,
    mask: usize,
    len: usize,
    arena: Vec<u8>,
}

impl<V: Default + Clone> KeyTable<V> {
    /// A table that holds `keys` keys before it grows. Small tables get
    /// eight slots per key (up to 4096 slots): at that load nearly every
    /// lookup hits its home slot, which saves a mispredicted probe branch on
    /// about a quarter of all lookups at load 1/2.
    pub(crate) fn with_capacity(keys: usize) -> KeyTable<V> {
        let slots = slots_for(keys);
        KeyTable {
            slots: vec![Slot { hash: 0, prefix: Prefix { w0: 0, w1: 0 }, len: 0, off: 0, value: V::default() }; slots],
            mask: slots - 1,
            len: 0,
            arena: Vec::new(),
        }
    }

    /// The number of keys.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Where the key of `len` bytes with this prefix and hash sits: `Ok`
    /// with its slot, or `Err` with the empty slot that ends its probe.
    /// `rest` is the key from byte 16 on; keys of at most 16 bytes never
    /// read it (their length and prefix identify them).
    #[inline(always)]
    fn probe(&self, len: u32, prefix: Prefix, hash: u64, rest: &[u8]) -> Result<usize, usize> {
        let mut i = (hash as usize) & self.mask;
        loop {
            let slot = &self.slots[i];
            if slot.len == 0 {
                return Err(i);
            }
            if slot.len == len
                && slot.prefix == prefix
                && (len <= 16
                    || (slot.hash == hash && self.arena[slot.off as usize + 16..(slot.off + len) as usize] == *rest))
            {
                return Ok(i);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// The value of `key`, inserting a default one if it is new. Returns the
    /// value and whether the key was inserted now.
    #[inline(always)]
    pub(crate) fn entry(&mut self, key: &[u8], prefix: Prefix, hash: u64) -> (&mut V, bool) {
        debug_assert!(!key.is_empty());
        match self.probe(key.len() as u32, prefix, hash, key.get(16..).unwrap_or_default()) {
            Ok(i) => (&mut self.slots[i].value, false),
            Err(i) => (self.insert_at(i, key, prefix, hash), true),
        }
    }

    /// The value of `key`, if the table holds it.
    #[inline(always)]
    pub(crate) fn find(&mut self, key: &[u8], prefix: Prefix, hash: u64) -> Option<&mut V> {
        let i = self.probe(key.len() as u32, prefix, hash, key.get(16..).unwrap_or_default()).ok()?;
        Some(&mut self.slots[i].value)
    }

    /// The value of `key`, if the table holds it, without changing it.
    #[inline(always)]
    pub(crate) fn get(&self, key: &[u8], prefix: Prefix, hash: u64) -> Option<&V> {
        let i = self.probe(key.len() as u32, prefix, hash, key.get(16..).unwrap_or_default()).ok()?;
        Some(&self.slots[i].value)
    }

    /// The value of a key of `len` bytes, at most 16, given only its prefix
    /// and hash (the caller need not hold its bytes), if the table holds it.
    #[inline(always)]
    pub(crate) fn find_short(&mut self, len: usize, prefix: Prefix, hash: u64) -> Option<&mut V> {
        debug_assert!((1..=16).contains(&len));
        let i = self.probe(len as u32, prefix, hash, &[]).ok()?;
        Some(&mut self.slots[i].value)
    }

    #[cold]
    #[inline(never)]
    fn insert_at(&mut self, mut i: usize, key: &[u8], prefix: Prefix, hash: u64) -> &mut V {
        // A table grows to the size it would have been made with for its
        // keys: one that started small (a first chunk, with no count of
        // keys from earlier ones) and grew at load 1/2 held 300 keys in
        // 1024 slots, where re-placing them in slot order left the most
        // frequent key of a skewed column at the end of a cluster: 1.6
        // probes per lookup, against 1.04 at eight slots a key.
        if slots_for(self.len + 1) > self.slots.len() {
            self.grow();
            i = (hash as usize) & self.mask;
            while self.slots[i].len != 0 {
                i = (i + 1) & self.mask;
            }
        }
        let off = u32::try_from(self.arena.len()).expect("key arena under 4 GiB");
        self.arena.extend_from_slice(key);
        self.slots[i] = Slot { hash, prefix, len: key.len() as u32, off, value: V::default() };
        self.len += 1;
        &mut self.slots[i].value
    }

    fn grow(&mut self) {
        let bigger = self.slots.len() * 2;
        let old = std::mem::replace(
            &mut self.slots,
            vec![Slot { hash: 0, prefix: Prefix { w0: 0, w1: 0 }, len: 0, off: 0, value: V::default() }; bigger],
        );
        self.mask = bigger - 1;
        for slot in old.into_iter().filter(|s| s.len != 0) {
            let mut i = (slot.hash as usize) & self.mask;
            while self.slots[i].len != 0 {
                i = (i + 1) & self.mask;
            }
            self.slots[i] = slot;
        }
    }

    /// The number of slots (twice the keys it holds, or more).
    pub(crate) fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Hint the slot where a key of this hash starts its probe.
    #[inline(always)]
    pub(crate) fn prefetch(&self, hash: u64) {
        pagemill_mmap::prefetch(&self.slots[(hash as usize) & self.mask]);
    }

    /// Every (key, value), in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> + '_ {
        self.slots
            .iter()
            .filter(|s| s.len != 0)
            .map(|s| (&self.arena[s.off as usize..(s.off + s.len) as usize], &s.value))
    }

    /// The hash of every key, in no particular order.
    pub(crate) fn hashes(&self) -> impl Iterator<Item = u64> + '_ {
        self.slots.iter().filter(|s| s.len != 0).map(|s| s.hash)
    }

    /// Every (key, prefix, hash, value), in no particular order: what
    /// [`entry`](KeyTable::entry) needs to look a key up in another table.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&[u8], Prefix, u64, &V)> + '_ {
        self.slots
            .iter()
            .filter(|s| s.len != 0)
            .map(|s| (&self.arena[s.off as usize..(s.off + s.len) as usize], s.prefix, s.hash, &s.value))
    }

    /// Fold `other` into `self`, combining values of equal keys with `merge`.
    pub(crate) fn merge_from(&mut self, other: &KeyTable<V>, mut merge: impl FnMut(&mut V, &V)) {
        for slot in other.slots.iter().filter(|s| s.len != 0) {
            let key = &other.arena[slot.off as usize..(slot.off + slot.len) as usize];
            let (value, _) = self.entry(key, slot.prefix, slot.hash);
            merge(value, &slot.value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Keys that differ in one byte only, at any position (a numeric
    /// suffix, a code in the middle), spread over a small table's slots
    /// nearly as random ones would: 256 keys fill about 162 of 256 slots
    /// and 248 of 4096 at random, and at least 143 and 169 here.
    #[test]
    fn keys_differing_in_any_one_byte_spread_over_the_slots() {
        for len in [4usize, 8, 9, 15, 16, 24, 40] {
            for at in 0..len {
                // Bytes 16..len-8 of keys of 24 bytes or more are in no hash
                // (the prefix and tail words are); the table compares them.
                if len >= 24 && (16..len - 8).contains(&at) {
                    continue;
                }
                for (bits, least) in [(8, 120), (12, 150)] {
                    let slots: std::collections::HashSet<u64> = (0..=255u8)
                        .map(|b| {
                            let mut key = vec![b'k'; len];
                            key[at] = b;
                            Prefix::with_hash(&key).1 & ((1 << bits) - 1)
                        })
                        .collect();
                    let n = slots.len();
                    assert!(n > least, "{len}-byte keys differing at byte {at}: {n} of {} slots", 1 << bits);
                }
            }
        }
    }

    fn put(t: &mut KeyTable<u64>, key: &[u8], n: u64) {
        let (p, hash) = Prefix::with_hash(key);
        *t.entry(key, p, hash).0 += n;
    }

    #[test]
    fn behaves_like_a_hash_map_across_growth_and_merge() {
        let keys: Vec<Vec<u8>> = (0..5000u32)
            .map(|i| {
                let mut k = format!("key-{i}-").into_bytes();
                k.resize(1 + (i as usize * 7) % 60, b'z');
                k
            })
            .collect();
        let mut want: HashMap<Vec<u8>, u64> = HashMap::new();
        let mut a = KeyTable::with_capacity(4);
        let mut b = KeyTable::with_capacity(4);
        for (i, k) in keys.iter().enumerate() {
            let t = if i % 3 == 0 { &mut a } else { &mut b };
            put(t, k, i as u64);
            *want.entry(k.clone()).or_default() += i as u64;
        }
        a.merge_from(&b, |x, y| *x += y);
        let got: HashMap<Vec<u8>, u64> = a.iter().map(|(k, v)| (k.to_vec(), *v)).collect();
        assert_eq!(got, want);
        assert_eq!(a.len(), want.len());
    }

    #[test]
    fn keys_sharing_long_prefixes_stay_distinct() {
        let mut t = KeyTable::with_capacity(2);
        let base = vec![b'p'; 40];
        for i in 0..200u8 {
            let mut k = base.clone();
            k[20 + (i as usize % 20)] = i;
            put(&mut t, &k, 1);
        }
        let distinct: std::collections::HashSet<Vec<u8>> = t.iter().map(|(k, _)| k.to_vec()).collect();
        assert_eq!(distinct.len(), t.len());
        assert_eq!(t.iter().map(|(_, v)| *v).sum::<u64>(), 200);
    }
}
