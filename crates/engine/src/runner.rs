use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use pagemill_mmap::Source;
use pagemill_split::RecordFormat;
use rayon::prelude::*;

use crate::error::Error;
use crate::job::{Chunk, Job};
use crate::malformed::{DEFAULT_SAMPLES, Malformed};

mod stream;

/// Progress of a run: bytes of input mapped so far, of the total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of chunks finished.
    pub done: u64,
    /// Bytes of all inputs.
    pub total: u64,
}

/// When to give back the pages of processed chunks
/// ([`Source::release`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Release {
    /// Let the runner decide; today it releases every mapped input. Besides
    /// keeping the resident set bounded on inputs larger than RAM, each
    /// worker then drops the page-table entries of its own chunks as it goes,
    /// in parallel, where otherwise one thread unmaps the whole input when the
    /// run ends: on 2 threads and a 990 MB log that serial unmap was 17% of a
    /// `count` and 1-4% of a logs summary. The default.
    #[default]
    Auto,
    /// Always release processed ranges of mapped inputs.
    Always,
    /// Never release; pages stay mapped until the run ends.
    Never,
}

/// The result of a run, with what was learned along the way.
#[derive(Debug)]
pub struct Outcome<O> {
    /// The job's finished result.
    pub output: O,
    /// Malformed records, with samples' input names and line numbers filled in.
    pub malformed: Malformed,
    /// Total bytes of input.
    pub bytes: u64,
    /// Number of chunks the inputs were cut into.
    pub chunks: usize,
    /// Number of worker threads used.
    pub threads: usize,
}

type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// Runs [`Job`]s: plans chunks, maps them on a rayon pool, merges the partials
/// deterministically. Configure with the `&mut self` setters, then
/// [`run`](Runner::run) as often as needed.
#[derive(Clone)]
pub struct Runner {
    threads: usize,
    chunk_size: Option<usize>,
    strict: bool,
    max_samples: usize,
    release: Release,
    progress: Option<ProgressFn>,
    max_groups: Option<usize>,
    stream_block: usize,
    stream_record_limit: usize,
}

/// The default [`Runner::max_groups`]: 20 million keys, a few GiB of per-key
/// state for the jobs that ship.
pub const DEFAULT_MAX_GROUPS: usize = 20_000_000;

impl fmt::Debug for Runner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner")
            .field("threads", &self.threads)
            .field("chunk_size", &self.chunk_size)
            .field("strict", &self.strict)
            .field("max_samples", &self.max_samples)
            .field("release", &self.release)
            .field("progress", &self.progress.is_some())
            .field("max_groups", &self.max_groups)
            .field("stream_block", &self.stream_block)
            .field("stream_record_limit", &self.stream_record_limit)
            .finish()
    }
}

impl Default for Runner {
    fn default() -> Runner {
        Runner::new()
    }
}

impl Runner {
    /// All cores, automatic chunk size, lenient, 5 samples per kind.
    pub fn new() -> Runner {
        Runner {
            threads: 0,
            chunk_size: None,
            strict: false,
            max_samples: DEFAULT_SAMPLES,
            release: Release::Auto,
            progress: None,
            max_groups: Some(DEFAULT_MAX_GROUPS),
            stream_block: stream::STREAM_BLOCK,
            stream_record_limit: stream::STREAM_RECORD_LIMIT,
        }
    }

    /// Decompressed bytes read per block of a streamed input
    /// ([`Source::is_streamed`]; at least 1). Default: 8 MiB. A block holds
    /// whole records (a longer record makes its block longer) and is mapped
    /// as one chunk ([`chunk_size`](Runner::chunk_size) applies to mapped
    /// inputs); a stream keeps at most a few blocks per thread in memory.
    pub fn stream_block(&mut self, bytes: usize) -> &mut Runner {
        self.stream_block = bytes.max(1);
        self
    }

    /// How far a block of a streamed input may grow to hold one long
    /// record: a block grows past [`stream_block`](Runner::stream_block)
    /// only for a record that does not fit it, and a record longer than
    /// both stops the run with [`Error::RecordTooLong`]. Default: 1 GiB.
    /// A stream's record is held in memory whole, so without a bound a
    /// compressed file of one endless line (or `/dev/zero` piped in) grows
    /// until the out-of-memory killer ends the run. Mapped inputs have no
    /// such bound: their records are read in place.
    pub fn stream_record_limit(&mut self, bytes: usize) -> &mut Runner {
        self.stream_record_limit = bytes.max(1);
        self
    }

    /// Stop with [`Error::TooManyGroups`] as soon as a partial (one chunk's,
    /// or a merge of several) holds more than `limit` groups, as reported by
    /// [`Job::groups`]; `None` means no limit. Default:
    /// [`DEFAULT_MAX_GROUPS`]. A bound on per-key memory that ends in a clear
    /// error instead of the out-of-memory killer. One chunk can still build
    /// up to a chunk's worth of groups before it is checked.
    pub fn max_groups(&mut self, limit: Option<usize>) -> &mut Runner {
        self.max_groups = limit;
        self
    }

    /// Number of worker threads; 0 (the default) means one per core.
    pub fn threads(&mut self, threads: usize) -> &mut Runner {
        self.threads = threads;
        self
    }

    /// Target chunk size in bytes (at least 1). By default about 1/32 of the
    /// input per thread, between 64 KiB and 32 MiB: many more chunks than
    /// threads, so work stealing evens out the load.
    pub fn chunk_size(&mut self, bytes: usize) -> &mut Runner {
        self.chunk_size = Some(bytes.max(1));
        self
    }

    /// Make the first malformed record (in input order) an error.
    pub fn strict(&mut self, yes: bool) -> &mut Runner {
        self.strict = yes;
        self
    }

    /// How many samples of each kind of malformed record to keep.
    pub fn max_samples(&mut self, n: usize) -> &mut Runner {
        self.max_samples = n;
        self
    }

    /// Samples kept per kind: at least one in strict mode, which reports
    /// the first malformed record.
    fn samples_kept(&self) -> usize {
        if self.strict { self.max_samples.max(1) } else { self.max_samples }
    }

    /// When to release processed pages of mapped inputs.
    pub fn release(&mut self, release: Release) -> &mut Runner {
        self.release = release;
        self
    }

    /// Call `f` after each chunk with the bytes done so far. `f` runs on
    /// worker threads and should be cheap.
    pub fn on_progress(&mut self, f: impl Fn(Progress) + Send + Sync + 'static) -> &mut Runner {
        self.progress = Some(Arc::new(f));
        self
    }

    /// The number of threads a run will use.
    pub fn effective_threads(&self) -> usize {
        if self.threads > 0 { self.threads } else { std::thread::available_parallelism().map_or(1, |n| n.get()) }
    }

    /// The chunk size a run over `total` bytes will use: the one set with
    /// [`chunk_size`](Runner::chunk_size), else a 128th of the input,
    /// between 64 KiB and 32 MiB. Not a share per thread: the chunks are
    /// the leaves of the merge tree, so a job whose merge is not exactly
    /// associative (the features job's float moments) gave results that
    /// differed in their last bits between thread counts. (A 64th per
    /// thread gave 16 MiB chunks on 1 GB at two threads; 8 MiB measured the
    /// same there, 4 MiB cost the features job a sixth more CPU.)
    pub fn effective_chunk_size(&self, total: u64) -> usize {
        self.chunk_size.unwrap_or_else(|| (total / 128).clamp(64 << 10, 32 << 20) as usize)
    }

    /// Run `job` over `inputs`. Their chunks share one pool and one result.
    ///
    /// Streamed inputs ([`Source::is_streamed`]: compressed files, stdin and
    /// pipes opened with `OpenOptions::stream`) are decoded block by block on
    /// one thread while the others map earlier blocks; when any input is
    /// streamed, the inputs are merged in input order, a run of consecutive
    /// mapped inputs as one tree over its chunks.
    ///
    /// Fails if an input changed (size or modification time) during the run,
    /// or, in strict mode, if a record is malformed.
    pub fn run<J: Job>(&self, job: &J, inputs: &[Source]) -> Result<Outcome<J::Output>, Error> {
        let (pool, outcome) = self.map_reduce_settled(job, inputs)?;
        let Outcome { output, malformed, bytes, chunks, threads } = outcome;
        let output = pool.install(|| job.finish(output, inputs));
        Ok(Outcome { output, malformed, bytes, chunks, threads })
    }

    /// [`Job::finish`] a partial (from [`run_partial`](Runner::run_partial),
    /// worker processes or saved files) on a pool of this runner's threads,
    /// as [`run`](Runner::run) does.
    pub fn finish<J: Job>(&self, job: &J, partial: J::Partial, inputs: &[Source]) -> Result<J::Output, Error> {
        let pool = self.pool()?;
        Ok(pool.install(|| job.finish(partial, inputs)))
    }

    fn pool(&self) -> Result<rayon::ThreadPool, Error> {
        rayon::ThreadPoolBuilder::new()
            .num_threads(self.effective_threads())
            .thread_name(|i| format!("pagemill-{i}"))
            .build()
            .map_err(|e| Error::ThreadPool(e.to_string()))
    }

    /// Run `job` over `inputs` like [`run`](Runner::run), but stop before
    /// [`Job::finish`]: the output is the merged partial of every chunk, for
    /// jobs whose partials can be saved and merged with those of other runs
    /// later (`pagemill ... --partial`, then `pagemill merge`).
    pub fn run_partial<J: Job>(&self, job: &J, inputs: &[Source]) -> Result<Outcome<J::Partial>, Error> {
        Ok(self.map_reduce_settled(job, inputs)?.1)
    }

    /// Map and merge every chunk and resolve the malformed-record samples;
    /// the pool is handed back for the finish.
    fn map_reduce_settled<J: Job>(
        &self,
        job: &J,
        inputs: &[Source],
    ) -> Result<(rayon::ThreadPool, Outcome<J::Partial>), Error> {
        let (pool, mut outcome) = self.map_reduce(job, inputs, None)?;
        if !outcome.malformed.is_empty() {
            pool.install(|| self.settle_malformed(&mut outcome.malformed, inputs, job.format()))?;
        }
        Ok((pool, outcome))
    }

    /// The chunks a run of `job` over `inputs` maps, in order: each an input
    /// index and a byte range of that input, cut on record boundaries. Chunk
    /// `i` of this plan is the chunk [`Chunk::index`] `i` of a run.
    /// Streamed inputs ([`Source::is_streamed`]) have no bytes to plan and
    /// give no chunks here; a run cuts them block by block as it reads them.
    ///
    /// An input is planned in segments of up to 16 chunks and 128 MiB (at
    /// least 4 chunks; see `plan_segments` in the runner's source), and
    /// where the runner releases pages, each segment's pages are given back
    /// once it is planned.
    pub fn plan<J: Job>(&self, job: &J, inputs: &[Source]) -> Vec<(usize, Range<usize>)> {
        let total: u64 = inputs.iter().map(|s| s.len() as u64).sum();
        let chunk_size = self.effective_chunk_size(total);
        let release = self.releases();
        inputs
            .iter()
            .enumerate()
            .flat_map(|(i, s)| {
                let planned = |range: Range<usize>| {
                    if release {
                        s.release(range);
                    }
                };
                plan_segments(job.format(), s.bytes(), chunk_size, planned).into_iter().map(move |r| (i, r))
            })
            .collect()
    }

    /// Run `job` over the chunks `chunks` (indices into [`plan`](Runner::plan))
    /// only, merged along the same tree as in a whole run (or, for an
    /// [`order_free`](Job::order_free) job, folded per thread as in a whole
    /// run): the work of one worker process. Only these chunks' pages are
    /// touched (plus a few bytes around each chunk boundary to plan).
    /// Malformed samples keep their input index and byte offset but not
    /// their input name and line number
    /// ([`settle_malformed`](Runner::settle_malformed) fills them in once
    /// every part is merged), and strict mode is left to that step too.
    /// [`Outcome::bytes`] counts the bytes of these chunks only.
    ///
    /// For partials merged along [`Runner::merge_tree`] to equal those of
    /// [`run_partial`](Runner::run_partial), `chunks` must be one of the
    /// [`Runner::tree_ranges`] of the plan, and the chunk size the same as
    /// in the run it stands for (set it with [`chunk_size`](Runner::chunk_size)).
    pub fn run_partial_chunks<J: Job>(
        &self,
        job: &J,
        inputs: &[Source],
        chunks: Range<usize>,
    ) -> Result<Outcome<J::Partial>, Error> {
        self.map_reduce(job, inputs, Some(chunks)).map(|(_, outcome)| outcome)
    }

    /// Fill in the input names and line numbers of `malformed`'s samples
    /// (counting lines in `inputs`; none for a `format` without lines, see
    /// [`RecordFormat::has_lines`]), and in strict mode turn the first
    /// malformed record into [`Error::Strict`]. [`run_partial`](Runner::run_partial)
    /// does this itself; callers of [`run_partial_chunks`](Runner::run_partial_chunks)
    /// do it on the merged account.
    pub fn settle_malformed<F: RecordFormat>(
        &self,
        malformed: &mut Malformed,
        inputs: &[Source],
        format: &F,
    ) -> Result<(), Error> {
        if malformed.is_empty() {
            return Ok(());
        }
        resolve_samples(malformed, inputs, format.has_lines());
        if self.strict
            && let Some(first) = malformed.samples().iter().min_by_key(|s| (s.input, s.offset))
        {
            return Err(Error::Strict(Box::new(first.clone())));
        }
        Ok(())
    }

    /// Cut the chunk indices `0..chunks` into at least `parts` (as far as
    /// there are chunks) contiguous ranges that are nodes of the runner's
    /// merge tree, in order: the largest node is split at its middle until
    /// there are enough. Partials of these ranges merged with
    /// [`Runner::merge_tree`] are merged exactly as in one run.
    pub fn tree_ranges(chunks: usize, parts: usize) -> Vec<Range<usize>> {
        if chunks == 0 {
            return Vec::new();
        }
        let mut ranges: Vec<Range<usize>> = Vec::with_capacity(parts.min(chunks));
        ranges.push(0..chunks);
        while ranges.len() < parts.min(chunks) {
            let (i, _) = ranges
                .iter()
                .enumerate()
                .max_by_key(|(i, r)| (r.len(), std::cmp::Reverse(*i)))
                .expect("at least one range");
            let r = ranges[i].clone();
            let mid = r.start + r.len() / 2;
            ranges.splice(i..=i, [r.start..mid, mid..r.end]);
        }
        ranges
    }

    /// Merge the partials of [`Runner::tree_ranges`] (given in order, with
    /// their ranges) along the runner's merge tree, `merge(left, right)` as
    /// [`Job::merge`] is called in a run. `None` when `parts` is empty or
    /// its ranges do not tile a merge tree from 0.
    pub fn merge_tree<P>(parts: Vec<(Range<usize>, P)>, mut merge: impl FnMut(P, P) -> P) -> Option<P> {
        let end = parts.last()?.0.end;
        let mut parts = parts.into_iter().peekable();
        let merged = merge_node(&mut parts, 0, end, &mut merge)?;
        parts.next().is_none().then_some(merged)
    }

    /// Plan, map and merge, on a pool of its own: every chunk, or only those
    /// of `select`. Samples are not resolved yet.
    fn map_reduce<J: Job>(
        &self,
        job: &J,
        inputs: &[Source],
        select: Option<Range<usize>>,
    ) -> Result<(rayon::ThreadPool, Outcome<J::Partial>), Error> {
        let threads = self.effective_threads();
        let pool = self.pool()?;
        if let Some(streamed) = inputs.iter().find(|s| s.is_streamed()) {
            if select.is_some() {
                return Err(Error::Input(pagemill_mmap::Error::Unsupported {
                    name: streamed.name().to_string(),
                    what: "running selected chunks of a streamed compressed input (it has no chunk plan)",
                }));
            }
            let outcome = pool.install(|| self.map_reduce_streamed(job, inputs, threads))?;
            return Ok((pool, outcome));
        }
        let total: u64 = inputs.iter().map(|s| s.len() as u64).sum();

        let chunks: Vec<(usize, Range<usize>)> = pool.install(|| self.plan(job, inputs));
        let (lo, hi) = match &select {
            None => (0, chunks.len()),
            Some(r) if r.start < r.end && r.end <= chunks.len() => (r.start, r.end),
            Some(r) => return Err(Error::ChunkRange { range: r.clone(), chunks: chunks.len() }),
        };
        let bytes: u64 = chunks[lo..hi].iter().map(|(_, r)| r.len() as u64).sum();
        let (partial, malformed, too_many) = pool.install(|| {
            let ctx = Ctx {
                job,
                inputs,
                chunks: &chunks,
                done: AtomicU64::new(0),
                total: bytes,
                first_bad: AtomicUsize::new(usize::MAX),
                too_many: AtomicUsize::new(0),
                release: self.releases(),
            };
            let (partial, malformed) = if lo == hi {
                (job.empty(), Malformed::new(self.samples_kept()))
            } else if job.order_free() {
                self.fold(&ctx, lo, hi)
            } else {
                self.reduce(&ctx, lo, hi, &|i| self.map_one(&ctx, i))
            };
            (partial, malformed, ctx.too_many.load(Ordering::Relaxed))
        });
        if let Some(limit) = self.max_groups
            && too_many > 0
        {
            return Err(Error::TooManyGroups { limit, seen: too_many });
        }

        for input in inputs {
            input.check_unchanged()?;
        }
        let outcome = Outcome {
            output: partial,
            malformed,
            bytes: if select.is_some() { bytes } else { total },
            chunks: hi - lo,
            threads,
        };
        Ok((pool, outcome))
    }

    /// Map (with `leaf`) and merge chunks `lo..hi` along a binary tree fixed
    /// by the indices, so the merge order never depends on scheduling.
    fn reduce<J: Job>(
        &self,
        ctx: &Ctx<'_, J>,
        lo: usize,
        hi: usize,
        leaf: &(dyn Fn(usize) -> (J::Partial, Malformed) + Sync),
    ) -> (J::Partial, Malformed) {
        if hi - lo == 1 {
            return leaf(lo);
        }
        let mid = lo + (hi - lo) / 2;
        let ((left, mut bad), (right, later_bad)) =
            rayon::join(|| self.reduce(ctx, lo, mid, leaf), || self.reduce(ctx, mid, hi, leaf));
        bad.merge(later_bad);
        if ctx.too_many.load(Ordering::Relaxed) > 0 {
            // Over the limit somewhere: drop the state instead of growing it.
            return (ctx.job.empty(), bad);
        }
        (self.merge_after(ctx, Some(left), right), bad)
    }

    /// Map chunks `lo..hi` of an [`order_free`](Job::order_free) job: one
    /// worker per pool thread takes the next chunk in index order and folds
    /// it into its own partial ([`Job::map_into`]); the workers' partials
    /// are then merged in worker order. Malformed-record accounts stay one
    /// per chunk and merge in chunk order, so the samples kept are those a
    /// tree merge keeps.
    fn fold<J: Job>(&self, ctx: &Ctx<'_, J>, lo: usize, hi: usize) -> (J::Partial, Malformed) {
        let next = AtomicUsize::new(lo);
        let workers = rayon::broadcast(|_| {
            // A worker that finds no chunk left (more threads than chunks)
            // brings nothing to merge, not even an empty partial.
            let mut index = next.fetch_add(1, Ordering::Relaxed);
            if index >= hi {
                return None;
            }
            let mut acc = ctx.job.empty();
            let mut bad: Vec<(usize, Malformed)> = Vec::new();
            loop {
                if index >= hi || ctx.too_many.load(Ordering::Relaxed) > 0 {
                    break;
                }
                if let Some(chunk_bad) = self.with_chunk(ctx, index, |chunk, malformed| {
                    ctx.job.map_into(&mut acc, chunk, malformed);
                    self.check_groups(ctx, &acc);
                }) && !chunk_bad.is_empty()
                {
                    bad.push((index, chunk_bad));
                }
                index = next.fetch_add(1, Ordering::Relaxed);
            }
            Some((ctx.job.end_fold(acc), bad))
        });
        let mut accounts = Vec::new();
        let mut merged: Option<J::Partial> = None;
        for (partial, bad) in workers.into_iter().flatten() {
            accounts.extend(bad);
            if ctx.too_many.load(Ordering::Relaxed) == 0 {
                merged = Some(self.merge_after(ctx, merged, partial));
            }
        }
        accounts.sort_unstable_by_key(|(index, _)| *index);
        let mut malformed = Malformed::new(self.samples_kept());
        for (_, bad) in accounts {
            malformed.merge(bad);
        }
        (merged.unwrap_or_else(|| ctx.job.empty()), malformed)
    }

    /// `right` merged after `left` (if any), checked against the group limit.
    fn merge_after<J: Job>(&self, ctx: &Ctx<'_, J>, left: Option<J::Partial>, right: J::Partial) -> J::Partial {
        let Some(left) = left else { return right };
        let merged = ctx.job.merge(left, right);
        self.check_groups(ctx, &merged);
        merged
    }

    /// Record (and so stop the run) when `partial` holds too many groups.
    fn check_groups<J: Job>(&self, ctx: &Ctx<'_, J>, partial: &J::Partial) {
        if let Some(n) = self.groups_over_limit(ctx.job, partial) {
            ctx.too_many.fetch_max(n, Ordering::Relaxed);
        }
    }

    /// The groups `partial` holds, when they are more than
    /// [`max_groups`](Runner::max_groups): [`Job::groups`] first, and
    /// [`Job::exact_groups`] only when that is over the limit. `None` within
    /// the limit, or with none. The runner checks every mapped and merged
    /// partial this way; callers that merge partials themselves (worker
    /// processes' coordinator) check theirs with it.
    pub fn groups_over_limit<J: Job>(&self, job: &J, partial: &J::Partial) -> Option<usize> {
        let limit = self.max_groups?;
        if job.groups(partial).is_some_and(|n| n > limit) {
            job.exact_groups(partial).filter(|&n| n > limit)
        } else {
            None
        }
    }

    fn map_one<J: Job>(&self, ctx: &Ctx<'_, J>, index: usize) -> (J::Partial, Malformed) {
        let mut partial = None;
        let bad = self.with_chunk(ctx, index, |chunk, malformed| {
            let p = ctx.job.map(chunk, malformed);
            self.check_groups(ctx, &p);
            partial = Some(p);
        });
        match (partial, bad) {
            (Some(p), Some(bad)) => (p, bad),
            _ => (ctx.job.empty(), Malformed::new(self.samples_kept())),
        }
    }

    /// Run `f` on chunk `index` with a fresh malformed-record account, and
    /// return the account: the chunk's pages populated before, strict-mode
    /// bookkeeping, page release and progress after. `None` (and `f` not run) when an earlier
    /// chunk already failed in strict mode, or the group limit was passed:
    /// this chunk cannot change the error.
    fn with_chunk<J: Job>(
        &self,
        ctx: &Ctx<'_, J>,
        index: usize,
        f: impl FnOnce(Chunk<'_>, &mut Malformed),
    ) -> Option<Malformed> {
        let (input, range) = &ctx.chunks[index];
        let source = &ctx.inputs[*input];
        if (self.strict && ctx.first_bad.load(Ordering::Relaxed) < index) || ctx.too_many.load(Ordering::Relaxed) > 0 {
            return None;
        }
        source.populate(range.clone());
        let chunk = Chunk { input: *input, index, offset: range.start, bytes: &source.bytes()[range.clone()] };
        let mut bad = Malformed::for_chunk(&chunk, self.samples_kept());
        f(chunk, &mut bad);
        if self.strict && !bad.is_empty() {
            ctx.first_bad.fetch_min(index, Ordering::Relaxed);
        }
        if ctx.release {
            source.release(range.clone());
        }
        self.advance(ctx, range.len() as u64);
        Some(bad)
    }

    /// Map one chunk, wherever its bytes live.
    fn map_chunk<J: Job>(&self, ctx: &Ctx<'_, J>, chunk: Chunk<'_>) -> (J::Partial, Malformed) {
        let mut bad = Malformed::for_chunk(&chunk, self.samples_kept());
        let partial = ctx.job.map(chunk, &mut bad);
        self.check_groups(ctx, &partial);
        (partial, bad)
    }

    /// Count `bytes` more as done and tell the progress callback.
    fn advance<J>(&self, ctx: &Ctx<'_, J>, bytes: u64) {
        let done = ctx.done.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if let Some(progress) = &self.progress {
            progress(Progress { done, total: ctx.total });
        }
    }

    /// Whether a run releases its chunks' pages (under [`Release::Auto`]:
    /// every mapped input).
    fn releases(&self) -> bool {
        self.release != Release::Never
    }
}

/// Merge the parts that tile the tree node `lo..hi`, in order.
fn merge_node<P>(
    parts: &mut std::iter::Peekable<impl Iterator<Item = (Range<usize>, P)>>,
    lo: usize,
    hi: usize,
    merge: &mut impl FnMut(P, P) -> P,
) -> Option<P> {
    let next = parts.peek()?.0.clone();
    if next == (lo..hi) {
        return parts.next().map(|(_, p)| p);
    }
    if next.start != lo || next.end > hi || hi - lo < 2 {
        return None;
    }
    let mid = lo + (hi - lo) / 2;
    let left = merge_node(parts, lo, mid, merge)?;
    let right = merge_node(parts, mid, hi, merge)?;
    Some(merge(left, right))
}

/// Chunks an input is planned in at a time, at most: [`plan_segments`].
pub const PLAN_SEGMENT_CHUNKS: usize = 16;

/// Bytes a planning segment spans at most, unless [`PLAN_SEGMENT_MIN_CHUNKS`]
/// chunks are more: a planner that reads every byte (the CSV format's quote
/// parity pass) keeps a whole segment mapped until it is released, and 16
/// chunks of 32 MiB put 512 MB of a large CSV file in memory at once
/// (`pagemill features` on a 1 GB CSV file, one thread: 495 MB peak RSS).
pub const PLAN_SEGMENT_BYTES: usize = 128 << 20;

/// Chunks a planning segment spans at least: its last chunk is planned
/// again as the next segment's first, so fewer would plan more bytes twice.
pub const PLAN_SEGMENT_MIN_CHUNKS: usize = 4;

/// The bytes a planning segment spans for chunks of `chunk_size` bytes.
pub fn plan_segment_bytes(chunk_size: usize) -> usize {
    let chunk = chunk_size.max(1);
    chunk.saturating_mul(PLAN_SEGMENT_CHUNKS).min(PLAN_SEGMENT_BYTES.max(chunk.saturating_mul(PLAN_SEGMENT_MIN_CHUNKS)))
}

/// Plan `bytes` in segments of [`plan_segment_bytes`] (up to
/// [`PLAN_SEGMENT_CHUNKS`] chunks and [`PLAN_SEGMENT_BYTES`]),
/// calling `planned` with each segment's planned range as soon as it is
/// planned. Finding a record boundary reads the bytes there, and where the
/// kernel keeps a file's page cache in large folios, each such read maps a
/// whole folio (up to a few MiB): planning a 10 GB input in one go left
/// 0.5-1 GB mapped before the first chunk ran, against the bound that
/// releasing processed ranges keeps. Released per segment, the pages
/// planning maps stay at a segment's boundaries.
///
/// Each segment is planned with the format's own planner on a slice that
/// starts on a record boundary; its last chunk, which may end inside a
/// record, is planned again as the start of the next segment (a segment
/// with one chunk grows until it has two or reaches the end). An input of
/// at most one segment is planned exactly as [`pagemill_split::plan`]
/// plans it; the chunks of a longer one are counted from each segment's
/// start, and are the same on every run.
pub fn plan_segments<F: RecordFormat + ?Sized>(
    format: &F,
    bytes: &[u8],
    chunk_size: usize,
    mut planned: impl FnMut(Range<usize>),
) -> Vec<Range<usize>> {
    let len = bytes.len();
    let segment = plan_segment_bytes(chunk_size);
    let mut chunks = Vec::new();
    let (mut start, mut span) = (0, segment);
    while start < len {
        let end = start.saturating_add(span).min(len);
        let mut ranges = format.plan(&bytes[start..end], chunk_size);
        if end < len {
            ranges.pop();
            if ranges.is_empty() {
                span = span.saturating_mul(2);
                continue;
            }
        }
        let next = ranges.last().map_or(end, |r| start + r.end);
        chunks.extend(ranges.into_iter().map(|r| start + r.start..start + r.end));
        planned(start..end);
        (start, span) = (next, segment);
    }
    chunks
}

struct Ctx<'a, J> {
    job: &'a J,
    inputs: &'a [Source],
    chunks: &'a [(usize, Range<usize>)],
    done: AtomicU64,
    total: u64,
    first_bad: AtomicUsize,
    /// The largest group count seen over the limit (0: none so far).
    too_many: AtomicUsize,
    /// Release each chunk's pages once mapped (a no-op on sources that are
    /// not read-only maps).
    release: bool,
}

/// Fill in each sample's input name and exact 1-based line number, counting
/// newlines in parallel from the start of its input (only runs when there are
/// samples, so the clean path pays nothing).
fn resolve_samples(malformed: &mut Malformed, inputs: &[Source], lines: bool) {
    let mut order: Vec<usize> = (0..malformed.samples().len()).collect();
    let samples = malformed.samples_mut();
    // Samples of streamed inputs were resolved block by block.
    order.retain(|&i| !inputs[samples[i].input].is_streamed());
    if !lines {
        for &i in &order {
            samples[i].source = inputs[samples[i].input].name().to_string();
        }
        return;
    }
    order.sort_by_key(|&i| (samples[i].input, samples[i].offset));
    let mut current: Option<(usize, u64, u64)> = None; // (input, offset, newlines before it)
    for i in order {
        let sample = &mut samples[i];
        let source = &inputs[sample.input];
        sample.source = source.name().to_string();
        let (from, base) = match current {
            Some((input, offset, lines)) if input == sample.input => (offset, lines),
            _ => (0, 0),
        };
        let bytes = source.bytes();
        let to = (sample.offset as usize).min(bytes.len());
        let lines = base + count_newlines(&bytes[from as usize..to]);
        sample.line = lines + 1;
        current = Some((sample.input, to as u64, lines));
    }
}

fn count_newlines(bytes: &[u8]) -> u64 {
    bytes.par_chunks(4 << 20).map(|c| memchr::memchr_iter(b'\n', c).count() as u64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planning_segments_are_bounded_in_chunks_and_bytes() {
        const MIB: usize = 1 << 20;
        // Small chunks: 16 of them. Large ones: 128 MiB, but never fewer
        // than 4 chunks.
        assert_eq!(plan_segment_bytes(MIB), 16 * MIB);
        assert_eq!(plan_segment_bytes(8 * MIB), 128 * MIB);
        assert_eq!(plan_segment_bytes(15 * MIB), 128 * MIB);
        assert_eq!(plan_segment_bytes(32 * MIB), 128 * MIB);
        assert_eq!(plan_segment_bytes(64 * MIB), 256 * MIB);
        assert_eq!(plan_segment_bytes(0), PLAN_SEGMENT_CHUNKS);
        assert_eq!(plan_segment_bytes(usize::MAX), usize::MAX);
    }

    #[test]
    fn planning_in_segments_tiles_the_input_on_record_boundaries() {
        use pagemill_split::{Csv, Lines};
        let mut text = Vec::new();
        for i in 0..3000u32 {
            // Mostly short lines, now and then one longer than a segment.
            let n = if i % 997 == 0 { 900 } else { (i * 7 % 23) as usize };
            text.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, n));
            text.push(b'\n');
        }
        for chunk_size in [1, 7, 50, 64, 1000, 1 << 20] {
            let mut released = Vec::new();
            let chunks = plan_segments(&Lines, &text, chunk_size, |r| released.push(r));
            assert_eq!(chunks.first().map(|r| r.start), Some(0), "{chunk_size}");
            assert_eq!(chunks.last().map(|r| r.end), Some(text.len()));
            assert!(chunks.windows(2).all(|w| w[0].end == w[1].start && text[w[0].end - 1] == b'\n'));
            assert!(chunks.iter().all(|r| !r.is_empty()));
            // Every planned byte was handed back, segment by segment.
            assert_eq!(released.first().map(|r| r.start), Some(0));
            assert_eq!(released.last().map(|r| r.end), Some(text.len()));
            assert!(released.windows(2).all(|w| w[1].start <= w[0].end && w[0].start < w[1].start));
            if plan_segment_bytes(chunk_size) >= text.len() {
                assert_eq!(chunks, pagemill_split::plan(&Lines, &text, chunk_size));
            }
        }
        // Quoted CSV fields with newlines: segments start on record boundaries.
        let mut csv = b"a,b\n".to_vec();
        for i in 0..2000 {
            csv.extend_from_slice(format!("{i},\"x\ny,{i}\"\n").as_bytes());
        }
        let format = Csv::default();
        let chunks = plan_segments(&format, &csv, 40, |_| {});
        let records: usize = chunks.iter().map(|r| format.count_records(&csv[r.clone()]) as usize).sum();
        assert_eq!(records, 2001);
        assert!(chunks.windows(2).all(|w| w[0].end == w[1].start));
    }
}
