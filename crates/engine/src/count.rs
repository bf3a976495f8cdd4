use pagemill_mmap::Source;
use pagemill_split::RecordFormat;

use crate::job::{Chunk, Job};
use crate::malformed::Malformed;

/// Count the records of each input: a parallel `wc -l` that understands
/// record formats. The output has one count per input, in input order.
///
/// With [`Fixed`](pagemill_split::Fixed) records, a trailing piece shorter
/// than the record size is counted as a record and reported as malformed
/// (`"short-record"`). A CSV record whose quoted field is never closed runs
/// to the end of its input: it is counted as one record and reported as
/// malformed (`"unclosed-quote"`), since every line after its quote went
/// into it.
#[derive(Clone, Debug)]
pub struct CountRecords<F> {
    format: F,
    record_size: Option<usize>,
}

impl<F: RecordFormat> CountRecords<F> {
    /// Count records of `format`.
    pub fn new(format: F) -> CountRecords<F> {
        CountRecords { format, record_size: None }
    }

    /// Report a last record shorter than `size` bytes as malformed
    /// (`"short-record"`); used for fixed-width formats.
    pub fn expect_record_size(mut self, size: usize) -> CountRecords<F> {
        self.record_size = Some(size);
        self
    }
}

impl<F: RecordFormat> Job for CountRecords<F> {
    type Format = F;
    /// Counts per input index, sparse and sorted by input.
    type Partial = Vec<(usize, u64)>;
    type Output = Vec<u64>;

    fn format(&self) -> &F {
        &self.format
    }

    fn empty(&self) -> Self::Partial {
        Vec::new()
    }

    fn map(&self, chunk: Chunk<'_>, malformed: &mut Malformed) -> Self::Partial {
        if let Some(size) = self.record_size {
            let tail = chunk.bytes.len() % size;
            if tail != 0 {
                let start = chunk.bytes.len() - tail;
                malformed.report("short-record", start, &chunk.bytes[start..]);
            }
        }
        let (n, unclosed) = self.format.count_records_checked(chunk.bytes);
        if let Some(start) = unclosed {
            malformed.report("unclosed-quote", start, &chunk.bytes[start..]);
        }
        vec![(chunk.input, n)]
    }

    fn merge(&self, mut left: Self::Partial, right: Self::Partial) -> Self::Partial {
        for (input, n) in right {
            match left.last_mut() {
                Some((last, count)) if *last == input => *count += n,
                _ => left.push((input, n)),
            }
        }
        left
    }

    fn finish(&self, partial: Self::Partial, inputs: &[Source]) -> Vec<u64> {
        let mut counts = vec![0; inputs.len()];
        for (input, n) in partial {
            counts[input] += n;
        }
        counts
    }
}
