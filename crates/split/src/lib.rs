//! Cut a buffer into chunks that start and end on record boundaries, and
//! iterate the records inside a chunk.
//!
//! A record format implements [`RecordFormat`]. Three ship here:
//!
//! * [`Lines`]: newline-terminated lines. LF ends a record; a CR right before
//!   the LF is stripped from the record (CRLF files); a last line without a
//!   newline is a record (without a CR that ends it: a CRLF file whose last
//!   LF is missing); an empty line is an (empty) record.
//! * [`Csv`]: RFC 4180 records, where a quoted field may hold delimiters,
//!   doubled quotes and newlines. See [`Csv`] for how boundaries inside quoted
//!   fields are resolved in parallel.
//! * [`Fixed`]: fixed-width binary records of N bytes. A trailing piece
//!   shorter than N is yielded as a (short) last record, for the job to flag.
//!
//! [`AnyFormat`] picks one of them at run time (`"lines"`, `"csv"`,
//! `"fixed:16"`). [`plan`] returns the chunk ranges; [`RecordFormat::records`]
//! iterates one chunk.
//!
//! # The partition contract
//!
//! For any input and any target chunk size from one byte up, the records of
//! all chunks, concatenated, are exactly the records of the whole input, each
//! once, in order. Finding a boundary costs the distance to the next record,
//! never a scan from the start (CSV adds one parallel counting pass).
//!
//! # Example
//!
//! ```
//! use pagemill_split::{plan, Lines, RecordFormat};
//!
//! let input = b"alpha\r\nbeta\ngamma";
//! let chunks = plan(&Lines, input, 4);
//! let mut records = Vec::new();
//! for range in &chunks {
//!     for record in Lines.records(&input[range.clone()]) {
//!         records.push(record.bytes);
//!     }
//! }
//! assert_eq!(records, [&b"alpha"[..], b"beta", b"gamma"]);
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod any;
pub mod block;
mod csv;
mod fixed;
mod lines;
mod plan;

pub use crate::any::{AnyFormat, AnyRecords, ParseFormatError};
pub use crate::csv::{Csv, CsvRecords};
pub use crate::fixed::{Fixed, FixedRecords};
pub use crate::lines::{Lines, LinesRecords};
pub use crate::plan::{plan, plan_local};

/// The UTF-8 byte order mark, which some tools write before a text file's
/// first record: no part of the record (jobs skip it at an input's start).
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

use std::ops::Range;

/// One record inside a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Byte offset of the record's first byte, relative to the chunk's start.
    pub offset: usize,
    /// The record's bytes, without its terminator.
    pub bytes: &'a [u8],
}

/// A way of cutting bytes into records.
///
/// Implementations must agree with themselves: the records that
/// [`records`](RecordFormat::records) yields for a whole buffer must be the
/// concatenation of the records it yields for the chunks that
/// [`plan`](RecordFormat::plan) cuts the buffer into.
pub trait RecordFormat: Sync {
    /// The iterator over a chunk's records.
    type Records<'a>: Iterator<Item = Record<'a>>
    where
        Self: 'a;

    /// The smallest record start `b >= pos` in `bytes` (or `bytes.len()` when
    /// no record starts at or after `pos`). `0` is always a record start.
    /// Formats whose boundaries depend on everything before them (CSV)
    /// override [`plan`](RecordFormat::plan) instead and may scan here.
    fn next_boundary(&self, bytes: &[u8], pos: usize) -> usize;

    /// Chunk ranges over `bytes`, each about `target` bytes (at least one
    /// record), together covering `bytes` exactly, in order. Empty input gives
    /// no chunks. The default calls [`plan_local`].
    fn plan(&self, bytes: &[u8], target: usize) -> Vec<Range<usize>> {
        plan_local(self, bytes, target)
    }

    /// The length of the longest prefix of `bytes` that consists of whole
    /// records, each ended by its terminator, when `bytes` starts on a record
    /// boundary and more bytes may follow: the last record start in `bytes`
    /// that is certain whatever comes next (0 when there is none). Used to
    /// cut a stream (decompressed input) into blocks without splitting a
    /// record; the tail after the prefix goes in front of the next block.
    fn complete_prefix(&self, bytes: &[u8]) -> usize;

    /// The records of `chunk`, which must start on a record boundary (a chunk
    /// returned by [`plan`](RecordFormat::plan), or a whole input).
    fn records<'a>(&'a self, chunk: &'a [u8]) -> Self::Records<'a>;

    /// The number of records in `chunk`. Formats override it where counting
    /// is cheaper than iterating.
    fn count_records(&self, chunk: &[u8]) -> u64 {
        self.records(chunk).count() as u64
    }

    /// Whether records are text with lines, so that the line a record starts
    /// on names it (malformed-record samples). True by default; fixed-width
    /// binary records, whose bytes may hold newlines anywhere, have none.
    fn has_lines(&self) -> bool {
        true
    }

    /// [`count_records`](RecordFormat::count_records), and where the last
    /// record of `chunk` starts when the chunk ends inside an open quote (a
    /// quoted field whose closing quote never comes, which runs to the end
    /// of the input). Formats without quoting never do (the default).
    fn count_records_checked(&self, chunk: &[u8]) -> (u64, Option<usize>) {
        (self.count_records(chunk), None)
    }
}
