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
///
/// A job whose merge is also commutative and exact (counts, exact sets,
/// register-wise sketches: no floating-point sums) may say so with
/// [`order_free`](Job::order_free). The runner then folds chunks into one
/// partial per worker thread with [`map_into`](Job::map_into), each worker
/// taking the next chunk in index order, and merges the workers' partials:
/// no partial per chunk, so a job whose partial is costly to build (a
/// sorted table of thousands of groups) builds one per thread. Which chunks
/// a worker gets depends on scheduling, which an order-free job's result
/// cannot show.
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

    /// Whether [`merge`](Job::merge) is exact, associative and commutative,
    /// so that the runner may fold chunks into per-thread partials in any
    /// order and grouping (see the trait documentation). Default: `false`.
    fn order_free(&self) -> bool {
        false
    }

    /// Map `chunk` into `acc`: a partial from [`empty`](Job::empty) into
    /// which this method mapped other chunks (of either side of `chunk`),
    /// for [`order_free`](Job::order_free) jobs. The runner hands each
    /// result to [`end_fold`](Job::end_fold) before anything else sees it.
    /// The default maps the chunk and merges it in.
    fn map_into(&self, acc: &mut Self::Partial, chunk: Chunk<'_>, malformed: &mut Malformed) {
        let partial = self.map(chunk, malformed);
        let before = std::mem::replace(acc, self.empty());
        *acc = self.merge(before, partial);
    }

    /// Turn a partial built by [`map_into`](Job::map_into) into one that
    /// [`merge`](Job::merge), [`finish`](Job::finish) and partial writers
    /// accept. The default returns it as it is.
    fn end_fold(&self, acc: Self::Partial) -> Self::Partial {
        acc
    }

    /// The number of groups (keys) `partial` holds, for jobs whose state
    /// grows with the number of distinct keys: the runner checks it against
    /// [`Runner::max_groups`](crate::Runner::max_groups) after every map and
    /// merge. It may count a group more than once (a partial that keeps
    /// several parts apart, merging them later) if
    /// [`exact_groups`](Job::exact_groups) counts each once. The default,
    /// `None`, opts out.
    fn groups(&self, partial: &Self::Partial) -> Option<usize> {
        let _ = partial;
        None
    }

    /// The number of distinct groups `partial` holds, counting a group
    /// kept in several parts once. It must leave the partial as it is:
    /// merging its parts here would make the result depend on whether a
    /// limit was checked. The runner asks only when
    /// [`groups`](Job::groups) is over the limit, and stops the run if
    /// this is too. The default is [`groups`](Job::groups).
    fn exact_groups(&self, partial: &Self::Partial) -> Option<usize> {
        self.groups(partial)
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
