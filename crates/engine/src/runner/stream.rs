//! Runs over inputs that include streamed (compressed) sources.
//!
//! A streamed source has no bytes to plan over: its data comes from a
//! decoder ([`Source::stream`]). One task decodes it in blocks of about
//! [`Runner::stream_block`] bytes, each cut back to the last whole record
//! ([`RecordFormat::complete_prefix`]; the rest starts the next block), and
//! spawns each block as one chunk onto the pool, so decoding never waits for
//! aggregation: the decoder keeps one core busy and the other threads map
//! blocks. Finished blocks are folded into the stream's partial in block
//! order by whichever task finishes the next one due; at most a few blocks
//! per thread are in flight (decoded, mapped or waiting to be folded), which
//! bounds memory.
//!
//! Determinism: inputs are taken in order, in batches. A run of consecutive
//! mapped inputs is one tree over its chunks (as in a run without streams);
//! each stream's blocks are folded left to right; the batches' partials are
//! merged in input order as they finish, so memory holds the result and one
//! batch. Block boundaries depend only on the data and the block size, so
//! the result does not depend on the thread count. Several consecutive
//! streams decode at once, at most one per thread.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use pagemill_mmap::{Source, Stream};
use pagemill_split::RecordFormat;
use rayon::prelude::*;

use super::{Ctx, Outcome, Runner, count_newlines};
use crate::error::Error;
use crate::job::{Chunk, Job};
use crate::malformed::Malformed;

/// The default [`Runner::stream_block`].
pub(super) const STREAM_BLOCK: usize = 8 << 20;

/// The default [`Runner::stream_record_limit`].
pub(super) const STREAM_RECORD_LIMIT: usize = 1 << 30;

/// One block of a stream: whole records, and where they lie in it.
struct Block {
    bytes: Vec<u8>,
    /// Index of the block in its stream.
    index: usize,
    /// Offset of the first byte in the decompressed input.
    offset: u64,
    /// Compressed bytes read when the block was cut (for progress).
    compressed: u64,
}

/// One input's (or one batch's) share of a run: its partial, its malformed
/// records and its (decompressed) bytes.
type Part<P> = (P, Malformed, u64);

/// Cuts a stream into [`Block`]s on record boundaries.
struct Blocks<'a, F> {
    stream: Stream<'a>,
    format: &'a F,
    target: usize,
    /// Bytes after the last cut: the start of the next block.
    carry: Vec<u8>,
    /// Buffers of blocks already mapped, to read the next ones into.
    spares: &'a Mutex<Vec<Vec<u8>>>,
    count: usize,
    offset: u64,
    ended: bool,
    /// The longest record a block may hold ([`Runner::stream_record_limit`]).
    record_limit: usize,
}

impl<F: RecordFormat> Blocks<'_, F> {
    /// The next block, or `None` at the end of the data.
    fn next(&mut self) -> Result<Option<Block>, Error> {
        if self.ended && self.carry.is_empty() {
            return Ok(None);
        }
        let mut buf = self.spares.lock().map(|mut s| s.pop()).ok().flatten().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(&self.carry);
        self.carry.clear();
        let mut want = self.target.max(buf.len() + 1);
        let cut = loop {
            if self.ended || self.stream.fill(&mut buf, want)? {
                self.ended = true;
                break buf.len();
            }
            let cut = self.format.complete_prefix(&buf);
            if cut > 0 {
                break cut;
            }
            // No record ends in the block yet: it is one long record.
            if buf.len() > self.record_limit {
                return Err(Error::RecordTooLong { name: self.stream.name().to_string(), limit: self.record_limit });
            }
            want = grown(buf.len(), self.record_limit);
        };
        if buf.is_empty() {
            return Ok(None);
        }
        self.carry.extend_from_slice(&buf[cut..]);
        buf.truncate(cut);
        let block =
            Block { index: self.count, offset: self.offset, compressed: self.stream.compressed_read(), bytes: buf };
        self.count += 1;
        self.offset += block.bytes.len() as u64;
        Ok(Some(block))
    }
}

/// How many bytes a block of `len` bytes that holds no record end grows to
/// read: twice as many, or, where that reaches the record limit, one byte
/// past the limit, which tells whether the record is longer. Never the
/// limit itself, which would take one more growth, and so one more copy of
/// the whole block, to read that byte (`/dev/zero` under the 1 GiB limit
/// peaked at 2.1 GB resident: a 1 GiB block copied to grow by a byte).
fn grown(len: usize, limit: usize) -> usize {
    let twice = len.saturating_mul(2);
    if twice >= limit { limit.saturating_add(1) } else { twice }
}

impl Runner {
    /// Map and merge `inputs`, some of them streamed, in input order, batch
    /// by batch (see the module documentation). Runs on the caller's pool.
    pub(super) fn map_reduce_streamed<J: Job>(
        &self,
        job: &J,
        inputs: &[Source],
        threads: usize,
    ) -> Result<Outcome<J::Partial>, Error> {
        // Streamed inputs count their compressed bytes towards progress (a
        // pipe's are not known before it ends).
        let total: u64 = inputs.iter().map(|s| s.stored_len().unwrap_or(0)).sum();
        // Chunks of the mapped inputs only, in input order.
        let chunks = self.plan(job, inputs);
        let ctx = Ctx {
            job,
            inputs,
            chunks: &chunks,
            done: AtomicU64::new(0),
            total,
            first_bad: AtomicUsize::new(usize::MAX),
            too_many: AtomicUsize::new(0),
            release: self.releases(),
        };

        // Inputs in order, in batches: a run of consecutive mapped inputs is
        // one tree over its chunks (they are contiguous in the plan), a run
        // of streamed inputs decodes up to one stream per thread at once.
        // Each batch is folded into the result before the next starts, so
        // memory holds the result and one batch's partials.
        let mut partial: Option<J::Partial> = None;
        let mut malformed = Malformed::new(self.samples_kept());
        let mut bytes = 0;
        let streamed_chunks = AtomicUsize::new(0);
        let mut fold = |(p, bad, n): Part<J::Partial>| {
            bytes += n;
            malformed.merge(bad);
            if ctx.too_many.load(Ordering::Relaxed) > 0 {
                return;
            }
            partial = Some(self.merge_after(&ctx, partial.take(), p));
        };
        let mut i = 0;
        while i < inputs.len() {
            let streamed = inputs[i].is_streamed();
            let end = (i..inputs.len()).find(|&k| inputs[k].is_streamed() != streamed).unwrap_or(inputs.len());
            if streamed {
                for group in (i..end).collect::<Vec<_>>().chunks(threads.max(1)) {
                    let done: Vec<Result<Part<J::Partial>, Error>> =
                        group.par_iter().map(|&k| self.stream_one(&ctx, k, &streamed_chunks)).collect();
                    for part in done {
                        fold(part?);
                    }
                }
            } else {
                // The run's chunks are contiguous in the plan.
                let lo = chunks.partition_point(|(k, _)| *k < i);
                let hi = chunks.partition_point(|(k, _)| *k < end);
                if lo < hi {
                    let (p, bad) = self.reduce(&ctx, lo, hi, &|c| self.map_one(&ctx, c));
                    fold((p, bad, inputs[i..end].iter().map(|s| s.len() as u64).sum()));
                }
            }
            i = end;
        }

        if let Some(limit) = self.max_groups
            && let seen @ 1.. = ctx.too_many.load(Ordering::Relaxed)
        {
            return Err(Error::TooManyGroups { limit, seen });
        }
        for input in inputs {
            input.check_unchanged()?;
        }
        Ok(Outcome {
            output: partial.unwrap_or_else(|| job.empty()),
            malformed,
            bytes,
            chunks: chunks.len() + streamed_chunks.load(Ordering::Relaxed),
            threads,
        })
    }

    /// Decode, map and fold the blocks of streamed input `input`: the
    /// partial, its malformed records (line numbers resolved) and the
    /// decompressed bytes read.
    fn stream_one<J: Job>(
        &self,
        ctx: &Ctx<'_, J>,
        input: usize,
        chunks: &AtomicUsize,
    ) -> Result<Part<J::Partial>, Error> {
        let source = &ctx.inputs[input];
        let spares = Mutex::new(Vec::new());
        let mut blocks = Blocks {
            stream: source.stream()?,
            format: ctx.job.format(),
            target: self.stream_block,
            carry: Vec::new(),
            spares: &spares,
            count: 0,
            offset: 0,
            ended: false,
            record_limit: self.stream_record_limit,
        };
        // Decoded blocks not yet folded: enough to keep every thread busy
        // while the decoder runs ahead, few enough to bound memory.
        let limit = rayon::current_num_threads() + 2;
        let in_flight = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let fold = Mutex::new(Fold {
            next: 0,
            waiting: BTreeMap::new(),
            partial: None,
            malformed: Malformed::new(self.samples_kept()),
            lines: 0,
            reported: 0,
        });
        let mut failed = None;
        rayon::scope(|scope| {
            loop {
                if stop.load(Ordering::Relaxed) || ctx.too_many.load(Ordering::Relaxed) > 0 {
                    break;
                }
                while in_flight.load(Ordering::Acquire) >= limit {
                    // Help with the blocks in flight rather than decode
                    // further ahead.
                    if rayon::yield_now() != Some(rayon::Yield::Executed) {
                        std::thread::sleep(std::time::Duration::from_micros(20));
                    }
                }
                let block = match blocks.next() {
                    Ok(Some(block)) => block,
                    Ok(None) => break,
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                };
                in_flight.fetch_add(1, Ordering::AcqRel);
                chunks.fetch_add(1, Ordering::Relaxed);
                let (fold, in_flight, stop, spares) = (&fold, &in_flight, &stop, &spares);
                scope.spawn(move |_| {
                    let done = self.map_block(ctx, input, &block);
                    let mut guard = fold.lock().unwrap_or_else(|e| e.into_inner());
                    let fold = &mut *guard;
                    fold.waiting.insert(block.index, (done, block.compressed));
                    while let Some(((partial, bad, newlines), compressed)) = fold.waiting.remove(&fold.next) {
                        fold.next += 1;
                        if self.strict && !bad.is_empty() {
                            // Strict mode needs only the first malformed record.
                            stop.store(true, Ordering::Relaxed);
                        }
                        let mut bad = bad;
                        for sample in bad.samples_mut().iter_mut().filter(|s| s.line > 0) {
                            sample.line += fold.lines;
                        }
                        fold.lines += newlines;
                        fold.malformed.merge(bad);
                        fold.partial = Some(self.merge_after(ctx, fold.partial.take(), partial));
                        self.advance(ctx, compressed.saturating_sub(fold.reported));
                        fold.reported = compressed;
                        in_flight.fetch_sub(1, Ordering::AcqRel);
                    }
                    drop(guard);
                    if let Ok(mut spares) = spares.lock() {
                        spares.push(block.bytes);
                    }
                });
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        let fold = fold.into_inner().unwrap_or_else(|e| e.into_inner());
        Ok((fold.partial.unwrap_or_else(|| ctx.job.empty()), fold.malformed, blocks.offset))
    }

    /// Map one block as one chunk: its partial, its malformed records (input
    /// names filled in, line numbers counted from the block's start) and
    /// its number of newlines.
    fn map_block<J: Job>(&self, ctx: &Ctx<'_, J>, input: usize, block: &Block) -> (J::Partial, Malformed, u64) {
        let chunk = Chunk { input, index: block.index, offset: block.offset as usize, bytes: &block.bytes };
        let (partial, mut bad) = self.map_chunk(ctx, chunk);
        let name = ctx.inputs[input].name();
        let lines = ctx.job.format().has_lines();
        for sample in bad.samples_mut() {
            let within = (sample.offset.saturating_sub(block.offset) as usize).min(block.bytes.len());
            sample.source = name.to_string();
            sample.line = if lines { count_newlines(&block.bytes[..within]) + 1 } else { 0 };
        }
        (partial, bad, if lines { count_newlines(&block.bytes) } else { 0 })
    }
}

/// A stream's blocks, folded in order as they finish.
struct Fold<P> {
    /// Index of the next block to fold.
    next: usize,
    /// Finished blocks that wait for an earlier one.
    waiting: BTreeMap<usize, ((P, Malformed, u64), u64)>,
    partial: Option<P>,
    malformed: Malformed,
    /// Newlines in the blocks folded so far.
    lines: u64,
    /// Compressed bytes already reported as progress.
    reported: u64,
}

#[cfg(test)]
mod tests {
    use super::grown;

    /// A block grows by doubling to one byte past the limit, with no step
    /// at the limit itself, and never shrinks.
    #[test]
    fn blocks_grow_to_one_past_the_limit_without_stopping_at_it() {
        for (start, limit) in [(1usize, 1usize), (1, 2), (3, 5000), (4999, 5000), (1 << 20, 1 << 30), (5, usize::MAX)] {
            let mut len = start;
            let mut steps = 0;
            while len <= limit && len < 1 << 40 {
                let next = grown(len, limit);
                assert!(next > len && next != limit, "{len} -> {next} under {limit}");
                assert!(next == limit.saturating_add(1) || next == 2 * len, "{len} -> {next} under {limit}");
                len = next;
                steps += 1;
            }
            assert!(steps <= 64, "{start} {limit}");
        }
        // Blocks of a power of two reach the default limit from half of it.
        assert_eq!(grown(1 << 29, 1 << 30), (1 << 30) + 1);
    }
}
