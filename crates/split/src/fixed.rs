use crate::{Record, RecordFormat};

/// Fixed-width binary records of `size` bytes each (at least 1).
///
/// A trailing piece shorter than `size` is yielded as a last, short record;
/// jobs report it as malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fixed {
    size: usize,
}

impl Fixed {
    /// Records of `size` bytes; a `size` of 0 is taken as 1.
    pub fn new(size: usize) -> Fixed {
        Fixed { size: size.max(1) }
    }

    /// The record size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }
}

impl RecordFormat for Fixed {
    type Records<'a> = FixedRecords<'a>;

    fn next_boundary(&self, bytes: &[u8], pos: usize) -> usize {
        pos.div_ceil(self.size).saturating_mul(self.size).min(bytes.len())
    }

    fn complete_prefix(&self, bytes: &[u8]) -> usize {
        bytes.len() / self.size * self.size
    }

    fn records<'a>(&'a self, chunk: &'a [u8]) -> FixedRecords<'a> {
        FixedRecords { chunk, pos: 0, size: self.size }
    }

    fn has_lines(&self) -> bool {
        false
    }

    fn count_records(&self, chunk: &[u8]) -> u64 {
        chunk.len().div_ceil(self.size) as u64
    }
}

/// Iterator over the records of a chunk of [`Fixed`] records.
#[derive(Debug)]
pub struct FixedRecords<'a> {
    chunk: &'a [u8],
    pos: usize,
    size: usize,
}

impl<'a> Iterator for FixedRecords<'a> {
    type Item = Record<'a>;

    #[inline]
    fn next(&mut self) -> Option<Record<'a>> {
        let start = self.pos;
        if start >= self.chunk.len() {
            return None;
        }
        let end = (start + self.size).min(self.chunk.len());
        self.pos = end;
        Some(Record { offset: start, bytes: &self.chunk[start..end] })
    }
}
