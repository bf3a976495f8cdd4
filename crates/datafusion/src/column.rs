//! Column builders that keep text fields where they lie: string views into
//! the mapped input.

use std::sync::Arc;

use arrow_array::ArrayRef;
use arrow_array::builder::StringViewBuilder;
use arrow_buffer::Buffer;

/// One cell of a text column: a range of the chunk, an owned value (a field
/// that had to be unescaped or repaired), or null.
#[derive(Clone, Copy, Debug)]
enum Cell {
    Null,
    /// `start..start + len` of the chunk.
    View(u32, u32),
    /// Index into `owned`.
    Owned(u32),
}

/// A `Utf8View` column under construction. Cells that stand in the input as
/// they are become views into the chunk's bytes (no copy); the block the
/// finished array references is cut to the bytes its rows span, so a batch
/// never keeps (or, written as Arrow IPC, carries) more of the input than
/// its own fields.
#[derive(Debug, Default)]
pub(crate) struct StrCol {
    cells: Vec<Cell>,
    owned: Vec<String>,
    lo: usize,
    hi: usize,
}

impl StrCol {
    pub(crate) fn new() -> StrCol {
        StrCol { cells: Vec::new(), owned: Vec::new(), lo: usize::MAX, hi: 0 }
    }

    /// Append `field`: a view when it is a subslice of `chunk`, else a copy
    /// (a parser may hand out a constant, such as the `/` path of an
    /// absolute-form request target).
    #[inline]
    pub(crate) fn view(&mut self, chunk: &[u8], field: &[u8]) {
        let start = (field.as_ptr() as usize).wrapping_sub(chunk.as_ptr() as usize);
        let end = start.wrapping_add(field.len());
        if start > chunk.len() || end > chunk.len() || end > u32::MAX as usize {
            // Not in the chunk, or past the 4 GiB views address (only a
            // chunk of one giant record gets there).
            self.owned(String::from_utf8_lossy(field).into_owned());
            return;
        }
        self.lo = self.lo.min(start);
        self.hi = self.hi.max(end);
        self.cells.push(Cell::View(start as u32, field.len() as u32));
    }

    /// Append an owned value.
    #[inline]
    pub(crate) fn owned(&mut self, value: String) {
        self.cells.push(Cell::Owned(self.owned.len() as u32));
        self.owned.push(value);
    }

    #[inline]
    pub(crate) fn null(&mut self) {
        self.cells.push(Cell::Null);
    }

    /// The finished array; `chunk` is the chunk the views point into, as an
    /// Arrow buffer. Views of invalid UTF-8 are replaced by a lossy copy
    /// (U+FFFD), as the jobs print such fields.
    pub(crate) fn finish(&mut self, chunk: &Buffer) -> ArrayRef {
        let mut b = StringViewBuilder::with_capacity(self.cells.len());
        let lo = if self.lo == usize::MAX { 0 } else { self.lo };
        let block = if self.hi > lo { Some(b.append_block(chunk.slice_with_length(lo, self.hi - lo))) } else { None };
        for cell in self.cells.drain(..) {
            match cell {
                Cell::Null => b.append_null(),
                Cell::Owned(i) => b.append_value(&self.owned[i as usize]),
                Cell::View(start, len) => {
                    let ok = match block {
                        Some(block) => b.try_append_view(block, start - lo as u32, len).is_ok(),
                        None => {
                            b.append_value("");
                            true
                        }
                    };
                    if !ok {
                        let s = start as usize;
                        b.append_value(String::from_utf8_lossy(&chunk[s..s + len as usize]));
                    }
                }
            }
        }
        self.owned.clear();
        self.lo = usize::MAX;
        self.hi = 0;
        Arc::new(b.finish())
    }
}
