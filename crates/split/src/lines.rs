use crate::{Record, RecordFormat};

/// Newline-terminated lines. See the [crate documentation](crate) for the
/// exact rules.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lines;

impl RecordFormat for Lines {
    type Records<'a> = LinesRecords<'a>;

    fn next_boundary(&self, bytes: &[u8], pos: usize) -> usize {
        if pos == 0 {
            return 0;
        }
        if pos >= bytes.len() {
            return bytes.len();
        }
        // A record starts at `pos` exactly when the byte before it is '\n'.
        match memchr::memchr(b'\n', &bytes[pos - 1..]) {
            Some(i) => pos + i,
            None => bytes.len(),
        }
    }

    fn records<'a>(&'a self, chunk: &'a [u8]) -> LinesRecords<'a> {
        LinesRecords { chunk, pos: 0, newlines: memchr::memchr_iter(b'\n', chunk) }
    }

    fn count_records(&self, chunk: &[u8]) -> u64 {
        let newlines = memchr::memchr_iter(b'\n', chunk).count() as u64;
        newlines + u64::from(chunk.last().is_some_and(|&b| b != b'\n'))
    }
}

/// Iterator over the records of a chunk of [`Lines`].
#[derive(Debug)]
pub struct LinesRecords<'a> {
    chunk: &'a [u8],
    pos: usize,
    newlines: memchr::Memchr<'a>,
}

impl<'a> Iterator for LinesRecords<'a> {
    type Item = Record<'a>;

    #[inline]
    fn next(&mut self) -> Option<Record<'a>> {
        let start = self.pos;
        match self.newlines.next() {
            Some(nl) => {
                self.pos = nl + 1;
                let end = if nl > start && self.chunk[nl - 1] == b'\r' { nl - 1 } else { nl };
                Some(Record { offset: start, bytes: &self.chunk[start..end] })
            }
            None if start < self.chunk.len() => {
                self.pos = self.chunk.len();
                Some(Record { offset: start, bytes: &self.chunk[start..] })
            }
            None => None,
        }
    }
}
