//! Group keys: borrowed from a line while a chunk is mapped, then kept in
//! key-sorted tables whose keys share one buffer.
//!
//! A table of a million groups once held each key as a boxed list of boxed
//! parts: two allocations a group to make, to free and to follow at every
//! comparison of a sort or a merge. On a log with 688K distinct paths in 1M
//! lines, making, merging and freeing them took more time than reading the
//! lines. Here a table's keys are parts (`Stored`) over one byte buffer:
//! built in key order, merged by walking two buffers front to back, and
//! freed as three vectors.

use std::cmp::Ordering;
use std::fmt;

/// One part of a group key, borrowed: from a line while a chunk is mapped,
/// from a table's buffer after. The derived order (null first, then bytes
/// by their bytes, then integers) is the output order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Part<'a> {
    Null,
    Bytes(&'a [u8]),
    Int(i64),
}

/// One part of a key as a table stores it: bytes in the table's buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Stored {
    Null,
    Bytes { start: usize, len: usize },
    Int(i64),
}

impl Stored {
    /// The part, with its bytes in `arena`.
    #[inline(always)]
    pub(crate) fn view(self, arena: &[u8]) -> Part<'_> {
        match self {
            Stored::Null => Part::Null,
            Stored::Bytes { start, len } => Part::Bytes(&arena[start..start + len]),
            Stored::Int(v) => Part::Int(v),
        }
    }

    /// `part`, its bytes appended to `arena`.
    #[inline(always)]
    pub(crate) fn store(part: Part<'_>, arena: &mut Vec<u8>) -> Stored {
        match part {
            Part::Null => Stored::Null,
            Part::Bytes(b) => {
                let start = arena.len();
                arena.extend_from_slice(b);
                Stored::Bytes { start, len: b.len() }
            }
            Part::Int(v) => Stored::Int(v),
        }
    }
}

/// Keys of `arity` parts each, in one buffer: key `i` is parts
/// `stored[i * arity..(i + 1) * arity]`.
#[derive(Clone, Default)]
pub(crate) struct Keys {
    arity: usize,
    /// The number of keys (needed where the arity is 0: one empty key).
    len: usize,
    stored: Vec<Stored>,
    arena: Vec<u8>,
}

impl Keys {
    /// No keys of `arity` parts.
    pub(crate) fn new(arity: usize) -> Keys {
        Keys { arity, len: 0, stored: Vec::new(), arena: Vec::new() }
    }

    /// No keys, with room for `keys` keys of `bytes` bytes in all.
    pub(crate) fn with_capacity(arity: usize, keys: usize, bytes: usize) -> Keys {
        Keys { arity, len: 0, stored: Vec::with_capacity(keys * arity), arena: Vec::with_capacity(bytes) }
    }

    /// The parts of each key.
    pub(crate) fn arity(&self) -> usize {
        self.arity
    }

    /// The number of keys.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes of all the keys' byte parts.
    pub(crate) fn bytes(&self) -> usize {
        self.arena.len()
    }

    /// Key `i`.
    #[inline(always)]
    pub(crate) fn key(&self, i: usize) -> KeyRef<'_> {
        KeyRef { stored: &self.stored[i * self.arity..(i + 1) * self.arity], arena: &self.arena }
    }

    /// The keys in order.
    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = KeyRef<'_>> + '_ {
        (0..self.len).map(|i| self.key(i))
    }

    /// Append a key of exactly [`arity`](Keys::arity) parts.
    #[inline]
    pub(crate) fn push<'p>(&mut self, parts: impl IntoIterator<Item = Part<'p>>) {
        let before = self.stored.len();
        for p in parts {
            self.stored.push(Stored::store(p, &mut self.arena));
        }
        debug_assert_eq!(self.stored.len() - before, self.arity, "a key of {} parts", self.arity);
        self.len += 1;
    }

    /// Append parts stored over another buffer `arena` (a key of a
    /// chunk's table, or of another table).
    #[inline]
    pub(crate) fn push_stored(&mut self, stored: &[Stored], arena: &[u8]) {
        debug_assert_eq!(stored.len(), self.arity);
        for &s in stored {
            self.stored.push(Stored::store(s.view(arena), &mut self.arena));
        }
        self.len += 1;
    }

    /// Append a copy of `key`.
    #[inline]
    pub(crate) fn push_key(&mut self, key: KeyRef<'_>) {
        self.push_stored(key.stored, key.arena);
    }

    /// Append all of `other`'s keys (of the same arity).
    pub(crate) fn append(&mut self, other: &Keys) {
        debug_assert_eq!(self.arity, other.arity);
        let shift = self.arena.len();
        self.arena.extend_from_slice(&other.arena);
        self.stored.extend(other.stored.iter().map(|&s| match s {
            Stored::Bytes { start, len } => Stored::Bytes { start: start + shift, len },
            s => s,
        }));
        self.len += other.len;
    }
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A key of a [`Keys`] buffer (or a prefix of one).
#[derive(Clone, Copy)]
pub(crate) struct KeyRef<'a> {
    stored: &'a [Stored],
    arena: &'a [u8],
}

impl<'a> KeyRef<'a> {
    /// Part `i`.
    #[inline(always)]
    pub(crate) fn part(self, i: usize) -> Part<'a> {
        self.stored[i].view(self.arena)
    }

    /// The parts in order.
    #[inline]
    pub(crate) fn parts(self) -> impl ExactSizeIterator<Item = Part<'a>> + Clone + 'a {
        let arena = self.arena;
        self.stored.iter().map(move |s| s.view(arena))
    }

    /// The first `n` parts.
    #[inline]
    pub(crate) fn prefix(self, n: usize) -> KeyRef<'a> {
        KeyRef { stored: &self.stored[..n], arena: self.arena }
    }
}

impl PartialEq for KeyRef<'_> {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for KeyRef<'_> {}

impl PartialOrd for KeyRef<'_> {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for KeyRef<'_> {
    /// Part by part, as tuples compare (a prefix first).
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        for (a, b) in self.stored.iter().zip(other.stored) {
            match a.view(self.arena).cmp(&b.view(other.arena)) {
                Ordering::Equal => {}
                unequal => return unequal,
            }
        }
        self.stored.len().cmp(&other.stored.len())
    }
}

impl fmt::Debug for KeyRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.parts()).finish()
    }
}

/// Keys in strictly ascending order, each with a value.
#[derive(Clone, Debug)]
pub(crate) struct Table<T> {
    keys: Keys,
    values: Vec<T>,
}

impl<T> Table<T> {
    /// An empty table of keys of `arity` parts.
    pub(crate) fn new(arity: usize) -> Table<T> {
        Table { keys: Keys::new(arity), values: Vec::new() }
    }

    /// An empty table with room for `keys` keys of `bytes` bytes in all.
    pub(crate) fn with_capacity(arity: usize, keys: usize, bytes: usize) -> Table<T> {
        Table { keys: Keys::with_capacity(arity, keys, bytes), values: Vec::with_capacity(keys) }
    }

    /// The keys and the values.
    pub(crate) fn into_parts(self) -> (Keys, Vec<T>) {
        (self.keys, self.values)
    }

    /// The number of keys.
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the table has no key.
    pub(crate) fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The keys.
    pub(crate) fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The values, in key order.
    pub(crate) fn values(&self) -> &[T] {
        &self.values
    }

    /// Key `i` and its value.
    #[cfg(test)]
    pub(crate) fn get(&self, i: usize) -> (KeyRef<'_>, &T) {
        (self.keys.key(i), &self.values[i])
    }

    /// Append `value` under the key of `parts` (greater than every key so
    /// far).
    #[inline]
    pub(crate) fn push<'p>(&mut self, parts: impl IntoIterator<Item = Part<'p>>, value: T) {
        self.keys.push(parts);
        self.values.push(value);
    }

    /// Append `value` under a key stored over `arena` (greater than every
    /// key so far).
    #[inline]
    pub(crate) fn push_stored(&mut self, stored: &[Stored], arena: &[u8], value: T) {
        self.keys.push_stored(stored, arena);
        self.values.push(value);
    }

    /// Append `value` under `key` (greater than every key so far).
    #[inline]
    pub(crate) fn push_key(&mut self, key: KeyRef<'_>, value: T) {
        self.keys.push_key(key);
        self.values.push(value);
    }

    /// Append the keys and values of `other`, whose keys are all greater.
    pub(crate) fn append(&mut self, other: Table<T>) {
        self.keys.append(&other.keys);
        self.values.extend(other.values);
    }
}

impl<T: Default> Table<T> {
    /// The keys of both tables in order, a key of both with `combine` of
    /// its two values (this table's first).
    pub(crate) fn merge(self, other: Table<T>, combine: impl FnMut(&mut T, T)) -> Table<T> {
        if other.is_empty() {
            return self;
        }
        if self.is_empty() {
            return other;
        }
        let (lk, mut lv) = self.into_parts();
        let (rk, mut rv) = other.into_parts();
        let mut out = Table::with_capacity(lk.arity(), lk.len() + rk.len(), lk.bytes() + rk.bytes());
        merge_into(&mut out, (&lk, &mut lv, 0), (&rk, &mut rv, 0), combine);
        out
    }
}

/// Append to `out` the keys of two runs, each `(keys, values, first)`:
/// keys `first..` of a table with their values (taken, leaving defaults),
/// in key order; a key of both with `combine` of its values, the left
/// one's first.
pub(crate) fn merge_into<T: Default>(
    out: &mut Table<T>,
    (lk, lv, lfirst): (&Keys, &mut [T], usize),
    (rk, rv, rfirst): (&Keys, &mut [T], usize),
    mut combine: impl FnMut(&mut T, T),
) {
    let (mut i, mut j) = (0, 0);
    let take = std::mem::take::<T>;
    while i < lv.len() && j < rv.len() {
        let (a, b) = (lk.key(lfirst + i), rk.key(rfirst + j));
        match a.cmp(&b) {
            Ordering::Less => {
                out.push_key(a, take(&mut lv[i]));
                i += 1;
            }
            Ordering::Greater => {
                out.push_key(b, take(&mut rv[j]));
                j += 1;
            }
            Ordering::Equal => {
                let mut v = take(&mut lv[i]);
                combine(&mut v, take(&mut rv[j]));
                out.push_key(a, v);
                i += 1;
                j += 1;
            }
        }
    }
    for (i, v) in lv.iter_mut().enumerate().skip(i) {
        out.push_key(lk.key(lfirst + i), take(v));
    }
    for (j, v) in rv.iter_mut().enumerate().skip(j) {
        out.push_key(rk.key(rfirst + j), take(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(keys: &[(&[u8], i64)], salt: u64) -> Table<u64> {
        let mut t = Table::new(2);
        for (n, &(b, i)) in keys.iter().enumerate() {
            let stored = [Stored::Bytes { start: 0, len: b.len() }, Stored::Int(i)];
            t.push_stored(&stored, b, n as u64 + salt);
        }
        t
    }

    #[test]
    fn keys_compare_as_tuples_of_parts() {
        let mut k = Keys::new(2);
        k.push([Part::Null, Part::Int(3)]);
        k.push([Part::Bytes(b""), Part::Int(-1)]);
        k.push([Part::Bytes(b"a"), Part::Null]);
        k.push([Part::Bytes(b"a"), Part::Int(i64::MIN)]);
        k.push([Part::Bytes(b"ab"), Part::Null]);
        k.push([Part::Int(0), Part::Null]);
        for i in 1..k.len() {
            assert!(k.key(i - 1) < k.key(i), "{:?} < {:?}", k.key(i - 1), k.key(i));
            let want: Vec<Part<'_>> = k.key(i).parts().collect();
            let prev: Vec<Part<'_>> = k.key(i - 1).parts().collect();
            assert!(prev < want);
        }
        assert!(k.key(3).prefix(1) == k.key(2).prefix(1));
        assert!(k.key(3).prefix(1) < k.key(3));
        let mut again = Keys::new(2);
        again.append(&k);
        again.append(&k);
        assert_eq!(again.len(), 12);
        assert!((0..6).all(|i| again.key(i) == k.key(i) && again.key(i + 6) == k.key(i)));
    }

    #[test]
    fn merges_keep_order_and_combine_equal_keys() {
        let left = table(&[(b"a", 1), (b"b", 0), (b"b", 2), (b"d", 0)], 0);
        let right = table(&[(b"", 9), (b"b", 2), (b"c", 0), (b"d", 0), (b"e", 0)], 10);
        let merged = left.clone().merge(right.clone(), |a, b| *a = *a * 100 + b);
        let got: Vec<(Vec<Part<'_>>, u64)> =
            (0..merged.len()).map(|i| (merged.get(i).0.parts().collect(), *merged.get(i).1)).collect();
        let want: Vec<(Vec<Part<'_>>, u64)> = vec![
            (vec![Part::Bytes(b""), Part::Int(9)], 10),
            (vec![Part::Bytes(b"a"), Part::Int(1)], 0),
            (vec![Part::Bytes(b"b"), Part::Int(0)], 1),
            (vec![Part::Bytes(b"b"), Part::Int(2)], 2 * 100 + 11),
            (vec![Part::Bytes(b"c"), Part::Int(0)], 12),
            (vec![Part::Bytes(b"d"), Part::Int(0)], 3 * 100 + 13),
            (vec![Part::Bytes(b"e"), Part::Int(0)], 14),
        ];
        assert_eq!(got, want);
        assert_eq!(merged.clone().merge(Table::new(2), |_, _| unreachable!()).len(), 7);
        assert_eq!(Table::new(2).merge(merged, |_, _| unreachable!()).len(), 7);
        let mut joined = table(&[(b"a", 0)], 0);
        joined.append(table(&[(b"b", 0), (b"c", 0)], 1));
        let bytes: Vec<Part<'_>> = joined.keys().iter().map(|k| k.part(0)).collect();
        assert_eq!(bytes, [Part::Bytes(b"a"), Part::Bytes(b"b"), Part::Bytes(b"c")]);
        assert_eq!(joined.values(), [0, 1, 2]);
    }
}
