//! The quote-aware field splitter for delimited records.

use std::fmt;

/// One field of a delimited record, as it stands in the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawField<'a> {
    /// The field's bytes: without the surrounding quotes of a quoted field,
    /// but with its doubled quotes still doubled.
    pub bytes: &'a [u8],
    /// The field was quoted and holds doubled quotes to unescape.
    pub escaped: bool,
}

impl<'a> RawField<'a> {
    /// The field's value: `bytes`, or, for a field with doubled quotes, the
    /// value unescaped into `scratch` (cleared first).
    #[inline]
    pub fn value<'s>(&self, quote: u8, scratch: &'s mut Vec<u8>) -> &'s [u8]
    where
        'a: 's,
    {
        if !self.escaped {
            return self.bytes;
        }
        scratch.clear();
        let mut rest = self.bytes;
        while let Some(i) = memchr::memchr(quote, rest) {
            // A quote inside a quoted field is always doubled: keep one.
            scratch.extend_from_slice(&rest[..=i]);
            rest = rest.get(i + 2..).unwrap_or(&[]);
        }
        scratch.extend_from_slice(rest);
        scratch
    }
}

/// The fields of one record, by column: a split record's list, or a
/// walked record's field ends ([`WalkedFields`](crate::walk::WalkedFields)).
pub(crate) trait Fields<'a> {
    /// How many fields the record has.
    fn count(&self) -> usize;

    /// Field `c`; `c` must be below the record's field count (and, for a
    /// walked record, below the fields it keeps).
    fn field(&self, c: usize) -> RawField<'a>;
}

impl<'a> Fields<'a> for [RawField<'a>] {
    #[inline(always)]
    fn count(&self) -> usize {
        self.len()
    }

    #[inline(always)]
    fn field(&self, c: usize) -> RawField<'a> {
        self[c]
    }
}

/// Why a delimited record could not be split into fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldError {
    /// A quoted field is not closed before the record ends.
    UnclosedQuote,
    /// Text follows a closing quote before the next delimiter, or a quote
    /// stands inside an unquoted field.
    BadQuote,
}

impl FieldError {
    /// The malformed-record kind: `unclosed-quote` or `bad-quote`.
    pub fn kind(&self) -> &'static str {
        match self {
            FieldError::UnclosedQuote => "unclosed-quote",
            FieldError::BadQuote => "bad-quote",
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FieldError::UnclosedQuote => "a quoted field is not closed",
            FieldError::BadQuote => "a quote stands where none may",
        })
    }
}

impl std::error::Error for FieldError {}

/// Split one record into fields at `delimiter`, honouring RFC 4180 quoting
/// with `quote` (or none). `out` is cleared first and then holds the fields,
/// borrowing from `record`; reuse it across records to avoid allocating.
///
/// A record of `n` delimiters outside quotes has `n + 1` fields; an empty
/// record is one empty field. A quoted field starts with the quote as its
/// first byte, holds anything (delimiters, newlines, doubled quotes), and must
/// be followed by a delimiter or the record's end. Never panics.
pub fn split_fields<'a>(
    record: &'a [u8],
    delimiter: u8,
    quote: Option<u8>,
    out: &mut Vec<RawField<'a>>,
) -> Result<(), FieldError> {
    out.clear();
    let len = record.len();
    let delimiters = ONES * u64::from(delimiter);
    // Without quoting, look for the delimiter twice instead.
    let quotes = ONES * u64::from(quote.unwrap_or(delimiter));
    let mut start = 0;
    loop {
        if let Some(q) = quote
            && record.get(start) == Some(&q)
        {
            let (close, escaped) = closing_quote(record, start + 1, q)?;
            out.push(RawField { bytes: &record[start + 1..close], escaped });
            let after = close + 1;
            if after == len {
                return Ok(());
            }
            if record[after] != delimiter {
                return Err(FieldError::BadQuote);
            }
            start = after + 1;
            continue;
        }
        match next_special(record, start, delimiters, quotes) {
            None => {
                out.push(RawField { bytes: &record[start..], escaped: false });
                return Ok(());
            }
            Some(j) if record[j] == delimiter => {
                out.push(RawField { bytes: &record[start..j], escaped: false });
                start = j + 1;
            }
            Some(_) => return Err(FieldError::BadQuote),
        }
    }
}

/// The lines of a record that a stray quote made (a quote inside an
/// unquoted field, which RFC 4180 quoting, and so the record cutter, takes
/// for an opening one), as a reader that takes such a quote for text
/// (Python's `csv`, DuckDB) cuts them: `line` gets where each lies in
/// `record`, in order. Quoted fields (a quote as a field's first byte)
/// still hold newlines and doubled quotes. A CR before a newline is not
/// part of its line, and a newline ending the record ends its last line
/// (an unclosed quote took the input's last line end into the record).
///
/// A record that ends inside such a field (one whose quote never closes)
/// is cut into the lines before the line that opens it, and then that
/// line and everything after it as one last piece, which does not split
/// (its quote is unclosed) and so is reported as one malformed record.
/// Between two stray quotes of a file whose quoted fields hold newlines,
/// the parity rule cuts records at those newlines: a record then ends
/// inside a real quoted field, and all the good lines before it used to
/// go with it (a generated file of 262,640 records, 37,359 of them with a
/// two-line note, and 44 stray quotes: 131,206 records were read, now
/// 243,830; the rest are the two-line records between stray quotes, each
/// now two malformed pieces, and the lines broken on purpose).
/// False, and nothing handed out, when the record's first line opens the
/// unclosed field (the bytes give no cut at all). One pass, no list of
/// lines: a record can be the rest of a large input.
pub fn stray_quote_lines(record: &[u8], delimiter: u8, quote: u8, mut line: impl FnMut(usize, usize)) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        FieldStart,
        Unquoted,
        Quoted,
        /// After a quote inside a quoted field: its end, or the first of a
        /// doubled pair.
        QuoteInQuoted,
    }
    let mut state = State::FieldStart;
    let mut start = 0;
    for (i, &b) in record.iter().enumerate() {
        state = match state {
            State::Quoted if b == quote => State::QuoteInQuoted,
            State::Quoted => State::Quoted,
            State::QuoteInQuoted if b == quote => State::Quoted,
            State::FieldStart if b == quote => State::Quoted,
            _ if b == delimiter => State::FieldStart,
            _ if b == b'\n' => {
                line(start, if i > start && record[i - 1] == b'\r' { i - 1 } else { i });
                start = i + 1;
                State::FieldStart
            }
            _ => State::Unquoted,
        };
    }
    if state == State::Quoted {
        // No line end came since the line that opened the unclosed field:
        // that line and the rest are one piece (none, when it is the first).
        if start == 0 {
            return false;
        }
        line(start, record.len());
    } else if start < record.len() || start == 0 {
        line(start, record.len());
    }
    true
}

const ONES: u64 = 0x0101_0101_0101_0101;
const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;

/// High bit set in each byte of `x` that is zero (exact: no borrow effects).
#[inline(always)]
fn zero_bytes(x: u64) -> u64 {
    !(((x & LOW7).wrapping_add(LOW7)) | x | LOW7)
}

/// The first index `>= from` holding a delimiter or a quote byte, eight
/// bytes at a time: fields are short, and a search call per field would
/// cost more than the field.
#[inline(always)]
fn next_special(record: &[u8], mut from: usize, delimiters: u64, quotes: u64) -> Option<usize> {
    while let Some(word) = record.get(from..from + 8) {
        let w = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        let hits = zero_bytes(w ^ delimiters) | zero_bytes(w ^ quotes);
        if hits != 0 {
            return Some(from + (hits.trailing_zeros() / 8) as usize);
        }
        from += 8;
    }
    let d = delimiters as u8;
    let q = quotes as u8;
    record[from..].iter().position(|&b| b == d || b == q).map(|i| from + i)
}

/// The index of the quote that closes a quoted field whose content starts at
/// `from` (doubled quotes are content), and whether doubled quotes occur.
#[inline]
fn closing_quote(record: &[u8], mut from: usize, q: u8) -> Result<(usize, bool), FieldError> {
    let mut escaped = false;
    loop {
        match memchr::memchr(q, &record[from..]) {
            None => return Err(FieldError::UnclosedQuote),
            Some(j) => {
                let at = from + j;
                if record.get(at + 1) == Some(&q) {
                    escaped = true;
                    from = at + 2;
                } else {
                    return Ok((at, escaped));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stray_quotes_are_text_when_lines_are_cut_again() {
        let lines = |r: &[u8]| {
            let mut out = Vec::new();
            stray_quote_lines(r, b',', b'"', |a, b| out.push(r[a..b].to_vec())).then_some(out)
        };
        let cut = |v: &[&[u8]]| Some(v.iter().map(|l| l.to_vec()).collect::<Vec<_>>());
        assert_eq!(lines(b"a,5\" disk\nb,1\r\nc,2\""), cut(&[b"a,5\" disk", b"b,1", b"c,2\""]));
        // A quoted field still holds newlines and doubled quotes; text after
        // its closing quote is text.
        assert_eq!(lines(b"a,5\"\nc,\"x\ny\"\"\"\nd,\"e\"f\n"), cut(&[b"a,5\"", b"c,\"x\ny\"\"\"", b"d,\"e\"f"]));
        // The input's last line end, which an unclosed stray quote took
        // into the record, ends the last line; a blank line before it is one.
        assert_eq!(lines(b"a\"b\nc\r\n"), cut(&[b"a\"b", b"c"]));
        assert_eq!(lines(b"a\"b\n\n"), cut(&[b"a\"b", b""]));
        // Ending inside a quoted field: the lines before the one that opens
        // it, then the rest as one piece (none when the first line opens it).
        assert_eq!(lines(b"a,5\"\nb,\"open\n"), cut(&[b"a,5\"", b"b,\"open\n"]));
        assert_eq!(lines(b"a,5\"\nb,1\nc,\"x\"\"\ny\nz"), cut(&[b"a,5\"", b"b,1", b"c,\"x\"\"\ny\nz"]));
        assert_eq!(lines(b"a,\"open\nb,1\n"), None);
        // What a stray quote leaves between two quoted fields that hold
        // newlines: the parity rule cuts the record inside each of them.
        assert_eq!(lines(b"C3\"\nd,1\ne,\"f, g\"\nh,\"Gate:"), cut(&[b"C3\"", b"d,1", b"e,\"f, g\"", b"h,\"Gate:"]));
    }

    fn split(record: &[u8]) -> Result<Vec<Vec<u8>>, FieldError> {
        let mut out = Vec::new();
        split_fields(record, b',', Some(b'"'), &mut out)?;
        let mut scratch = Vec::new();
        Ok(out.iter().map(|f| f.value(b'"', &mut scratch).to_vec()).collect())
    }

    #[test]
    fn fields() {
        let s = |v: &[&str]| v.iter().map(|x| x.as_bytes().to_vec()).collect::<Vec<_>>();
        assert_eq!(split(b"a,b,c"), Ok(s(&["a", "b", "c"])));
        assert_eq!(split(b""), Ok(s(&[""])));
        assert_eq!(split(b"a,,"), Ok(s(&["a", "", ""])));
        assert_eq!(split(b"\"x,y\",\"\"\"q\"\"\",\"\""), Ok(s(&["x,y", "\"q\"", ""])));
        assert_eq!(split(b"\"multi\nline\",2"), Ok(s(&["multi\nline", "2"])));
        assert_eq!(split(b"\"open,1"), Err(FieldError::UnclosedQuote));
        assert_eq!(split(b"\"a\"b,1"), Err(FieldError::BadQuote));
        assert_eq!(split(b"ab\"c,1"), Err(FieldError::BadQuote));
        let mut out = Vec::new();
        split_fields(b"a\t\"b\tc\"", b'\t', None, &mut out).unwrap();
        assert_eq!(out.len(), 3, "without quoting a quote is plain text");
    }
}
