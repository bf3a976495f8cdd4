use pagemill_mmap::Source;
use pagemill_split::RecordFormat;

use crate::malformed::Malformed;

/// One chunk of one input, handed to [`Job::map`].
#[derive(Clone, Copy, Debug)]
pub struct Chunk<'a> {
    /// Index of the input among those passed to [`Runner::run`](crate::Runner::run).
    pub input: usize,
    /// Index of the chunk in the global chunk order (all inputs, in order;
    /// [`Runner::plan`](crate::Runner::plan)). In a streamed input
    /// ([`Source::is_streamed`]), where each decoded block is one chunk, it
    /// is the block's index within its input.
    pub index: usize,
    /// Byte offset of the chunk's first byte in its input.
    pub offset: usize,
    /// The chunk's bytes: whole records, starting on a record boundary.
    pub bytes: &'a [u8],
}

/// A map-reduce job over record-aligned chunks.
///
/// The runner calls [`map`](Job::map) once per chunk, in parallel, and
/// [`merge`](Job::merge) on partials of *adjacent* chunk ranges, left before
/// right, along a binary tree fixed by the number of chunks. `merge` must be
/// associative for the result not to depend on the chunk size; it need not be
/// commutative.
pub trait Job: Sync {
    /// How records are cut.
    type Format: RecordFormat;
    /// The state built from one chunk or from several merged chunks.
    type Partial: Send;
    /// The finished result (built on the run's thread pool, so `Send`).
    type Output: Send;

    /// The record format used to plan chunks.
    fn format(&self) -> &Self::Format;

    /// The partial of no input at all (the identity of `merge`).
    fn empty(&self) -> Self::Partial;

    /// Turn one chunk into a partial. Malformed records are reported to
    /// `malformed`, never dropped silently.
    fn map(&self, chunk: Chunk<'_>, malformed: &mut Malformed) -> Self::Partial;

    /// Merge two partials; `left` covers the chunks before `right`'s.
    fn merge(&self, left: Self::Partial, right: Self::Partial) -> Self::Partial;

    /// Finish the partial of all chunks into the result. `inputs` are the
    /// sources the run read, in order (for per-input results and metadata).
    ///
    /// [`Runner::run`](crate::Runner::run) and
    /// [`Runner::finish`](crate::Runner::finish) call it on the run's thread
    /// pool, so a finish with much per-group work may use rayon's parallel
    /// iterators; they then use the run's threads (`--threads`).
    fn finish(&self, partial: Self::Partial, inputs: &[Source]) -> Self::Output;

    /// The number of groups (keys) `partial` holds, for jobs whose state
    /// grows with the number of distinct keys: the runner checks it against
    /// [`Runner::max_groups`](crate::Runner::max_groups) after every map and
    /// merge. The default, `None`, opts out.
    fn groups(&self, partial: &Self::Partial) -> Option<usize> {
        let _ = partial;
        None
    }
}

/// Schema metadata key that marks a job's partial result (an Arrow batch of
/// its state, from [`Runner::run_partial`](crate::Runner::run_partial)):
/// `<job>/<layout version>`, e.g. `features/1` or `logs/1`. Every job's
/// partials use this key, so a reader can tell them apart before decoding.
pub const PARTIAL_KEY: &str = "pagemill.partial";
/// Schema metadata key of the job spec a partial was computed with; partials
/// merge only with partials of the same spec.
pub const PARTIAL_SPEC_KEY: &str = "pagemill.partial.spec";
