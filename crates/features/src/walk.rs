//! One pass over a chunk of delimited text: records and their fields.
//!
//! The record iterators of `pagemill-split` find record ends 64 bytes at a
//! time; [`split_fields`](crate::split_fields) then scanned each record
//! again for its fields. [`walk_records`] does both in the same pass: for
//! every 64-byte block it takes masks of quotes, delimiters and newlines
//! ([`eq_mask`]), marks the bytes inside quoted fields with a prefix XOR of
//! the quote mask (the same parity rule the CSV record format cuts by), and
//! walks the delimiters and newlines outside quotes. Each record's fields
//! come out as the positions of their ends ([`WalkedFields`]), from which a
//! field asked for is taken as a [`RawField`] without a second look at the
//! record's other bytes.
//!
//! A field is taken as it stands when it holds no quote, or when it is
//! quoted: a quote opens it, a quote closes it, and every quote between
//! stands in a doubled pair (`""`, unescaped later by
//! [`RawField::value`]). Any other field (a stray or unclosed quote) marks
//! its record as not clean, and the caller splits that record again with
//! [`split_fields`], whose rules (and errors) are the reference. For records
//! whose fields all pass, both give the same fields: the opening quote
//! opens, pairs toggle twice, the closing quote closes, and the delimiters
//! between are inside quotes for both.
//!
//! Most blocks of a quoted file need no look at single fields' quotes: when
//! every opening quote of a block follows a field end (or a quote) and every
//! closing quote precedes one, each of its fields is plain or quoted by that
//! rule, and the walk takes them as the quote-free blocks' fields are taken.
//! Only a block with a quote out of place is walked field by field as above.

use pagemill_split::block::{BLOCK, block_at, eq_mask, prefix_xor};

use crate::field::{Fields, RawField};

/// Field ends an open record may hold past the fields it keeps before the
/// rest are dropped (and only counted): a record of millions of fields
/// (a file without newlines) holds no more than this many. Tests use few,
/// so that their short inputs drop some.
const SLACK: usize = if cfg!(test) { 3 } else { 1024 };

/// Room for field ends the list starts with past a block's worth (tests
/// start small, so that the list is compacted and grown often).
const ROOM: usize = if cfg!(test) { 5 } else { 4096 };

/// The fields of a walked record: where each ends in the chunk (field `i`
/// starts after the end of field `i - 1`; `ends[0]` is the end before the
/// first field, one byte before the record starts, wrapping at the chunk's
/// start). Only the first `keep` fields (of `walk_records`) can be asked
/// for.
pub(crate) struct WalkedFields<'w, 'a> {
    chunk: &'a [u8],
    ends: &'w [usize],
    count: usize,
    quote: Option<u8>,
}

impl<'a> Fields<'a> for WalkedFields<'_, 'a> {
    #[inline(always)]
    fn count(&self) -> usize {
        self.count
    }

    /// Field `c` of a clean record: a field that opens with the quote is
    /// quoted (the walk checked its quotes), and loses them.
    #[inline(always)]
    fn field(&self, c: usize) -> RawField<'a> {
        let bytes = &self.chunk[self.ends[c].wrapping_add(1)..self.ends[c + 1]];
        match bytes {
            [first, inner @ .., _] if Some(*first) == self.quote => {
                RawField { bytes: inner, escaped: memchr::memchr(*first, inner).is_some() }
            }
            bytes => RawField { bytes, escaped: false },
        }
    }
}

/// Walk the records of `chunk` (which starts on a record boundary), cut at
/// newlines outside quotes (any newline when `quote` is `None`), with a CR
/// before the newline stripped. For each record `f` gets its offset in the
/// chunk, its bytes, its fields (split at `delimiter` outside quotes, the
/// quotes of a quoted field removed; the first `keep` of them can be taken)
/// and whether every field was clean; for a record that is not clean the
/// fields are unspecified and the record must be split again with
/// `split_fields`. Fields past `keep` are counted and checked but may not be
/// kept. `ends` is scratch space for the field ends. The delimiter is no
/// line end (`Dialect::check` refuses one), so a record's last field never
/// starts after its end.
///
/// Blocks whose quotes need no look at single fields (most blocks) are
/// taken with few branches: for each newline the ends of the fields up to
/// it go to `ends` one after another and close its record, then the ends
/// of the fields after the last newline go.
pub(crate) fn walk_records<'a>(
    chunk: &'a [u8],
    delimiter: u8,
    quote: Option<u8>,
    keep: usize,
    ends: &mut Vec<usize>,
    mut f: impl FnMut(usize, &'a [u8], &WalkedFields<'_, 'a>, bool),
) {
    assert!(delimiter != b'\n' && delimiter != b'\r', "the delimiter is a line end");
    let q = quote.unwrap_or(0);
    let mut inside_carry = 0u64; // all ones when a block starts inside quotes
    // The list starts with the end before the chunk's first field: one
    // byte before the chunk, wrapping.
    ends.clear();
    ends.resize(1 + BLOCK + ROOM, 0);
    ends[0] = usize::MAX;
    let mut rec = Open { start: 0, first: 0, n: 1, dropped: 0, clean: true };
    // The current field holds quotes in earlier blocks.
    let mut carried = false;
    // Bit 0 set when the byte before the block ends a field or is a quote
    // (the chunk's start counts as a field end).
    let mut edge_before = 1u64;
    // The current field spans a block walked quote by quote (`exact`
    // below), where no rule vouched for its quotes.
    let mut exact = false;
    let limit = keep.saturating_add(SLACK);
    let mut at = 0;
    while at < chunk.len() {
        // A block adds at most one end per byte: the list always has room
        // for a block's ends and the last record's.
        if rec.n + BLOCK >= ends.len() {
            rec.make_room(ends, keep, limit);
        }
        let buf = &mut ends[..];
        let (block, valid) = block_at(chunk, at);
        let quotes = if quote.is_some() { eq_mask(&block, q) & valid } else { 0 };
        let inside = prefix_xor(quotes) ^ inside_carry;
        inside_carry = 0u64.wrapping_sub(inside >> 63);
        let newlines = eq_mask(&block, b'\n') & valid & !inside;
        let mut seps = (newlines | (eq_mask(&block, delimiter) & valid)) & !inside;
        let edges = seps | quotes;
        let before = edges << 1 | edge_before;
        edge_before = edges >> 63;
        if quotes == 0 && !carried {
            // No quote in the block and none in the field going on: every
            // field that ends here is plain (most blocks of most files).
            exact &= seps == 0;
            rec.flatten(chunk, buf, at, seps, newlines, quote, &mut f);
            at += BLOCK;
            continue;
        }
        // Quotes are well placed when every opening quote follows a field
        // end or a quote, and every closing quote precedes one (or a CR
        // before a newline, or the chunk's end). Then each field holds no
        // quote, or opens with one, closes with one and holds doubled
        // pairs between (a closing quote followed by an opening one): the
        // rule `take_field` checks field by field, here for all the block's
        // fields at once. Most closing quotes precede a separator or quote
        // of their block, which tells without the CRs and the byte after
        // the block (`edge_after`).
        let opening = quotes & inside;
        let closing = quotes & !inside;
        if opening & !before == 0
            && (closing & !((edges | !valid) >> 1) == 0
                || closing & !edge_after(chunk, at, &block, valid, edges, delimiter, q) == 0)
        {
            if exact && seps != 0 {
                // The field the first separator ends began in a block
                // walked quote by quote: its quotes are checked as there.
                let i = seps.trailing_zeros();
                let pos = at + i as usize;
                let field = rec.field_start(buf);
                let end = if newlines >> i & 1 == 1 { line_end(chunk, pos) } else { pos }.max(field);
                let quoted = carried || quotes & below(i) != 0;
                rec.clean &= take_field(chunk, field, end, quoted, q);
                exact = false;
            }
            rec.flatten(chunk, buf, at, seps, newlines, quote, &mut f);
            // Whether the field going on holds quotes, for a block walked
            // quote by quote (or the end of the chunk) that ends it: a
            // quote after the block's last separator (the quotes outside
            // the separators are above them all exactly when they are the
            // greater), or, with none, any quote here or before.
            carried = (quotes & !seps) > seps || (seps == 0 && carried);
            at += BLOCK;
            continue;
        }
        // Some quote is out of place: walk the block quote by quote, so the
        // fields it spoils are found and their records marked not clean.
        exact = true;
        // The current field's first bit in this block (it began before).
        let mut from = 0;
        while seps != 0 {
            let i = seps.trailing_zeros();
            seps &= seps - 1;
            let pos = at + i as usize;
            let field = rec.field_start(buf);
            let quoted = carried || quotes & below(i) & !below(from) != 0;
            buf[rec.n] = pos;
            rec.n += 1;
            if newlines >> i & 1 == 1 {
                let end = line_end(chunk, pos);
                rec.clean &= take_field(chunk, field, end.max(field), quoted, q);
                rec.close(chunk, buf, end, pos + 1, quote, &mut f);
            } else {
                rec.clean &= take_field(chunk, field, pos, quoted, q);
            }
            carried = false;
            from = i + 1;
        }
        // Quotes after the last separator belong to the field going on.
        carried |= quotes & !below(from) != 0;
        at += BLOCK;
    }
    if rec.start < chunk.len() {
        // A last record without a newline (or one inside an unclosed
        // quote). A CR that ends it outside quotes goes, as it would before
        // a newline (the 1BRC preset, polars and DuckDB read `b,2\r` so).
        let cr = inside_carry == 0 && chunk.last() == Some(&b'\r');
        let end = (chunk.len() - usize::from(cr)).max(rec.start);
        let field = rec.field_start(ends);
        rec.clean &= take_field(chunk, field, end.max(field), carried, q);
        ends[rec.n] = end;
        rec.n += 1;
        rec.close(chunk, ends, end, chunk.len(), quote, &mut f);
    }
}

/// The record being walked: where it starts, where its field ends start in
/// the list of them (`first`, the end before its first field), how long
/// the list is (`n`), how many of its fields were dropped from the list and
/// whether all of them were clean.
struct Open {
    start: usize,
    first: usize,
    n: usize,
    dropped: usize,
    clean: bool,
}

impl Open {
    /// Make room in `ends` for another block's field ends: drop the ends of
    /// the open record past the `keep` it keeps once it holds more than
    /// `limit`, move its ends to the front of the list over those of
    /// closed records, and grow the list where it stays over half full
    /// (so that each end is moved about once).
    #[cold]
    #[inline(never)]
    fn make_room(&mut self, ends: &mut Vec<usize>, keep: usize, limit: usize) {
        if self.n - self.first - 1 > limit {
            // Fields past `keep` are only counted; the last end stays, as
            // the start of the field going on.
            let kept = self.first + 1 + keep;
            ends[kept] = ends[self.n - 1];
            self.dropped += self.n - kept - 1;
            self.n = kept + 1;
        }
        ends.copy_within(self.first..self.n, 0);
        self.n -= self.first;
        self.first = 0;
        let want = 2 * self.n + BLOCK + 1 + ROOM;
        if ends.len() < want {
            ends.resize(want, 0);
        }
    }

    /// Where the field going on starts: after the last end in `ends`.
    #[inline(always)]
    fn field_start(&self, ends: &[usize]) -> usize {
        ends[self.n - 1].wrapping_add(1)
    }

    /// The separators `seps` of the block at `at`, whose fields need no
    /// check: for each of the `newlines` among them, add the ends up to it
    /// and close its record; then add the ends after the last.
    /// A record's last end is found so
    /// without counting the separators before its newline (baseline x86-64
    /// has no instruction for a population count).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn flatten<'a>(
        &mut self,
        chunk: &'a [u8],
        buf: &mut [usize],
        at: usize,
        seps: u64,
        newlines: u64,
        quote: Option<u8>,
        f: &mut impl FnMut(usize, &'a [u8], &WalkedFields<'_, 'a>, bool),
    ) {
        let mut bits = seps;
        let mut lines = newlines;
        while lines != 0 {
            let line = lines & lines.wrapping_neg();
            lines ^= line;
            // The separators up to the newline, the newline included.
            let mut upto = bits & (line ^ (line - 1));
            bits ^= upto;
            while upto != 0 {
                buf[self.n] = at + upto.trailing_zeros() as usize;
                self.n += 1;
                upto &= upto - 1;
            }
            let pos = at + line.trailing_zeros() as usize;
            self.close(chunk, buf, line_end(chunk, pos), pos + 1, quote, f);
        }
        while bits != 0 {
            buf[self.n] = at + bits.trailing_zeros() as usize;
            self.n += 1;
            bits &= bits - 1;
        }
    }

    /// Hand the record, `chunk[start..end]`, whose last field end is the
    /// last in `ends`, to `f`; the next record starts at `next`.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn close<'a>(
        &mut self,
        chunk: &'a [u8],
        ends: &mut [usize],
        end: usize,
        next: usize,
        quote: Option<u8>,
        f: &mut impl FnMut(usize, &'a [u8], &WalkedFields<'_, 'a>, bool),
    ) {
        let k = self.n - 1;
        // The last field ends where the record does (before a CR).
        ends[k] = end;
        let fields = WalkedFields { chunk, ends: &ends[self.first..=k], count: k - self.first + self.dropped, quote };
        f(self.start, &chunk[self.start..end], &fields, self.clean);
        // The end before the next record's first field.
        ends[k] = next - 1;
        *self = Open { start: next, first: k, n: self.n, dropped: 0, clean: true };
    }
}

/// Where a record ends, given the newline at `pos` that ends it: before a
/// CR just before the newline. (A record that starts at `pos` holds no CR:
/// the byte before it is a newline, or there is none.)
#[inline(always)]
fn line_end(chunk: &[u8], pos: usize) -> usize {
    if chunk.get(pos.wrapping_sub(1)) == Some(&b'\r') { pos - 1 } else { pos }
}

/// The bits below bit `n` (all of them from 64 on).
#[inline(always)]
fn below(n: u32) -> u64 {
    if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
}

/// Bit `i` set when the byte after byte `i` of the block at `at` ends a
/// field (a delimiter or newline outside quotes, in `edges` with the
/// quotes), is a quote, is a CR before a newline, or lies past the chunk.
#[inline(always)]
fn edge_after(chunk: &[u8], at: usize, block: &[u8; BLOCK], valid: u64, edges: u64, delimiter: u8, q: u8) -> u64 {
    let next = chunk.get(at + BLOCK).copied();
    let newline_next = u64::from(next == Some(b'\n'));
    let cr_newline = eq_mask(block, b'\r') & (eq_mask(block, b'\n') >> 1 | newline_next << 63);
    // The byte after the block follows a closing quote, so it lies outside
    // quotes.
    let next_edge = match next {
        None => true,
        Some(b'\r') => chunk.get(at + BLOCK + 1) == Some(&b'\n'),
        Some(b) => b == delimiter || b == q || b == b'\n',
    };
    (edges | !valid | cr_newline) >> 1 | u64::from(next_edge) << 63
}

/// Whether the field `chunk[start..end]` is clean: it holds no quote
/// (`quoted` false), or one at each end and doubled pairs between.
#[inline(always)]
fn take_field(chunk: &[u8], start: usize, end: usize, quoted: bool, q: u8) -> bool {
    !quoted
        || (end >= start + 2
            && chunk[start] == q
            && chunk[end - 1] == q
            && doubled_pairs_only(&chunk[start + 1..end - 1], q))
}

/// Whether every quote in `inner` is followed by another, pair after pair.
#[inline]
fn doubled_pairs_only(inner: &[u8], q: u8) -> bool {
    let mut rest = inner;
    while let Some(i) = memchr::memchr(q, rest) {
        if rest.get(i + 1) != Some(&q) {
            return false;
        }
        rest = &rest[i + 2..];
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::split_fields;
    use pagemill_split::{Csv, Lines, RecordFormat};
    use proptest::prelude::*;

    /// What the walk gives: per record, its offset, bytes and (for a clean
    /// record) its fields.
    type Walk = Vec<(usize, Vec<u8>, Option<Vec<Vec<u8>>>)>;

    /// The first `keep` fields of a walked record (all of them when it has
    /// fewer), as they stand.
    fn kept(fields: &WalkedFields<'_, '_>, keep: usize) -> Vec<(Vec<u8>, bool)> {
        (0..fields.count().min(keep))
            .map(|c| {
                let f = fields.field(c);
                (f.bytes.to_vec(), f.escaped)
            })
            .collect()
    }

    /// The walk's records, with the values of the clean ones' fields.
    fn walk(chunk: &[u8], quote: Option<u8>) -> Walk {
        let mut out = Vec::new();
        let mut ends = Vec::new();
        let mut scratch = Vec::new();
        walk_records(chunk, b',', quote, usize::MAX, &mut ends, |offset, bytes, fields, clean| {
            let values = clean.then(|| {
                (0..fields.count())
                    .map(|c| fields.field(c).value(quote.unwrap_or(b'"'), &mut scratch).to_vec())
                    .collect()
            });
            out.push((offset, bytes.to_vec(), values));
        });
        out
    }

    fn check(chunk: &[u8], quote: Option<u8>) -> Result<(), TestCaseError> {
        let walked = walk(chunk, quote);
        // Keeping two fields keeps the first two and counts them all.
        let mut two = Vec::new();
        let mut ends = Vec::new();
        walk_records(chunk, b',', quote, 2, &mut ends, |_, _, fields, clean| {
            two.push((clean.then(|| kept(fields, 2)), fields.count(), clean));
        });
        let mut all = Vec::new();
        walk_records(chunk, b',', quote, usize::MAX, &mut ends, |_, _, fields, clean| {
            all.push((clean.then(|| kept(fields, 2)), fields.count(), clean));
        });
        prop_assert_eq!(two, all);
        let records: Vec<(usize, Vec<u8>)> = match quote {
            Some(q) => Csv::new().with_quote(q).records(chunk).map(|r| (r.offset, r.bytes.to_vec())).collect(),
            None => Lines.records(chunk).map(|r| (r.offset, r.bytes.to_vec())).collect(),
        };
        prop_assert_eq!(walked.len(), records.len());
        let mut scratch = Vec::new();
        for ((offset, bytes, fields), (want_offset, want_bytes)) in walked.iter().zip(&records) {
            prop_assert_eq!(offset, want_offset);
            prop_assert_eq!(bytes, want_bytes);
            let mut reference = Vec::new();
            let split = split_fields(bytes, b',', quote, &mut reference);
            // Clean exactly when split_fields takes the record, and then
            // with the same values.
            prop_assert_eq!(fields.is_some(), split.is_ok(), "{:?}", String::from_utf8_lossy(bytes));
            if let Some(fields) = fields {
                let want: Vec<Vec<u8>> =
                    reference.iter().map(|f| f.value(quote.unwrap_or(b'"'), &mut scratch).to_vec()).collect();
                prop_assert_eq!(fields, &want);
            }
        }
        Ok(())
    }

    fn input() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop::sample::select(vec![b'a', b'b', b'a', b',', b',', b'"', b'\n', b'\r', b'\'', 0xff]),
            0..400,
        )
    }

    /// Long inputs with few quotes: most 64-byte blocks hold none, some
    /// start or end inside a quoted field.
    fn sparse_input() -> impl Strategy<Value = Vec<u8>> {
        let mut alphabet = vec![b'a'; 40];
        alphabet.extend_from_slice(b",,,,\n\n\r\"");
        prop::collection::vec(prop::sample::select(alphabet), 0..1200)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(600))]

        #[test]
        fn walk_agrees_with_the_record_iterators_and_split_fields(input in input()) {
            check(&input, Some(b'"'))?;
            check(&input, Some(b'\''))?;
            check(&input, None)?;
        }

        #[test]
        fn walk_agrees_where_quotes_are_rare(input in sparse_input()) {
            check(&input, Some(b'"'))?;
            check(&input, None)?;
        }

        #[test]
        fn walk_agrees_on_long_quoted_fields_with_a_few_faults(
            rows in prop::collection::vec(prop::collection::vec("[a-z ,\n\"]{0,90}", 1..5), 0..20),
            faults in prop::collection::vec((any::<prop::sample::Index>(), prop::sample::select(vec![b'"', b'\r', b'\n', b',', b'a'])), 0..4),
        ) {
            // Quoted fields that span 64-byte blocks, quotes on block
            // edges, and a few stray bytes that spoil some records.
            let mut text = Vec::new();
            for row in &rows {
                let cells: Vec<String> = row.iter().map(|c| format!("\"{}\"", c.replace('"', "\"\""))).collect();
                text.extend_from_slice(cells.join(",").as_bytes());
                text.extend_from_slice(b"\r\n");
            }
            for (at, byte) in faults {
                if !text.is_empty() {
                    let i = at.index(text.len());
                    text.insert(i, byte);
                }
            }
            check(&text, Some(b'"'))?;
            for cut in [1, 63, 64, 65, 127] {
                if text.len() > cut {
                    check(&text[cut..], Some(b'"'))?;
                }
            }
        }

        #[test]
        fn walk_agrees_on_wide_records_that_drop_fields(
            rows in prop::collection::vec(prop::collection::vec("[a-z\"]{0,6}", 1..40), 0..12),
            quoted in prop::collection::vec(any::<bool>(), 40),
            crlf in any::<bool>(),
        ) {
            // Records of more fields than the walk keeps (tests keep few
            // ends past `keep`): dropped fields, the field going on after a
            // drop, and stray quotes among them.
            let mut text = String::new();
            for row in &rows {
                let cells: Vec<String> = row
                    .iter()
                    .zip(&quoted)
                    .map(|(c, &q)| if q { format!("\"{}\"", c.replace('"', "\"\"")) } else { c.clone() })
                    .collect();
                text.push_str(&cells.join(","));
                text.push_str(if crlf { "\r\n" } else { "\n" });
            }
            check(text.as_bytes(), Some(b'"'))?;
            check(text.as_bytes(), None)?;
        }

        #[test]
        fn walk_agrees_on_well_formed_csv(rows in prop::collection::vec(prop::collection::vec("[a-z ,\n\"]{0,12}", 1..6), 0..30), crlf in any::<bool>()) {
            let mut text = String::new();
            for row in &rows {
                let cells: Vec<String> = row
                    .iter()
                    .map(|c| if c.contains([',', '\n', '"']) { format!("\"{}\"", c.replace('"', "\"\"")) } else { c.clone() })
                    .collect();
                text.push_str(&cells.join(","));
                text.push_str(if crlf { "\r\n" } else { "\n" });
            }
            check(text.as_bytes(), Some(b'"'))?;
            let walked = walk(text.as_bytes(), Some(b'"'));
            prop_assert_eq!(walked.len(), rows.len());
            prop_assert!(walked.iter().all(|(_, _, f)| f.is_some()));
        }
    }
}
