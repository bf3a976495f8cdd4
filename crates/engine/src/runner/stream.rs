//! Runs over inputs that include streamed (compressed) sources.
//!
//! A streamed source has no bytes to plan over: its data comes from a
//! decoder ([`Source::stream`]). It is read in blocks of about
//! [`Runner::stream_block`] bytes, each cut back to the last whole record
//! ([`RecordFormat::complete_prefix`]; the rest starts the next block). While
//! the pool maps one block, planned into chunks like a mapped input, the
//! same task decodes the next (`rayon::join`), so decompression and mapping
//! overlap and memory holds about two blocks per stream.
//!
//! Determinism: each input gets its own partial (a mapped input's chunks
//! along the usual tree, a stream's blocks folded left to right, each block's
//! chunks along a tree), and the inputs' partials are merged in input order.
//! Block and chunk boundaries depend only on the data and the chunk size, so
//! the result does not depend on the thread count. Several streams decode at
//! once, at most one per thread.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use pagemill_mmap::{Source, Stream};
use pagemill_split::RecordFormat;
use rayon::prelude::*;

use super::{Ctx, Outcome, Runner, count_newlines};
use crate::error::Error;
use crate::job::{Chunk, Job};
use crate::malformed::Malformed;

/// The default [`Runner::stream_block`].
pub(super) const STREAM_BLOCK: usize = 8 << 20;

/// One block of a stream: whole records, and where they lie in it.
struct Block {
    bytes: Vec<u8>,
    /// Offset of the first byte in the decompressed input.
    offset: u64,
    /// Newlines in the input before the block (for samples' line numbers).
    lines_before: u64,
    /// Compressed bytes read when the block was cut (for progress).
    compressed: u64,
}

/// One input's share of a run: its partial, its malformed records and its
/// (decompressed) bytes.
type Part<P> = (P, Malformed, u64);

/// Cuts a stream into [`Block`]s on record boundaries.
struct Blocks<'a, F> {
    stream: Stream<'a>,
    format: &'a F,
    target: usize,
    /// Bytes after the last cut: the start of the next block.
    carry: Vec<u8>,
    /// A buffer of a block already mapped, to read the next one into.
    spare: Option<Vec<u8>>,
    offset: u64,
    lines: u64,
    ended: bool,
}

impl<F: RecordFormat> Blocks<'_, F> {
    /// The next block, or `None` at the end of the data.
    fn next(&mut self) -> Result<Option<Block>, Error> {
        if self.ended && self.carry.is_empty() {
            return Ok(None);
        }
        let mut buf = self.spare.take().unwrap_or_default();
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
            want = buf.len().saturating_mul(2);
        };
        if buf.is_empty() {
            return Ok(None);
        }
        self.carry.extend_from_slice(&buf[cut..]);
        buf.truncate(cut);
        let block = Block {
            offset: self.offset,
            lines_before: self.lines,
            compressed: self.stream.compressed_read(),
            bytes: buf,
        };
        self.offset += block.bytes.len() as u64;
        self.lines += count_newlines(&block.bytes);
        Ok(Some(block))
    }
}

impl Runner {
    /// Map and merge `inputs`, some of them streamed: each input's partial
    /// on its own, merged in input order. Runs on the caller's pool.
    pub(super) fn map_reduce_streamed<J: Job>(
        &self,
        job: &J,
        inputs: &[Source],
        threads: usize,
    ) -> Result<Outcome<J::Partial>, Error> {
        // Streamed inputs count their compressed bytes towards progress.
        let total: u64 = inputs.iter().map(|s| s.compressed_len().unwrap_or(s.len() as u64)).sum();
        let chunks = self.plan(job, inputs);
        let mut spans = vec![0..0; inputs.len()];
        for (i, (input, _)) in chunks.iter().enumerate() {
            let span = &mut spans[*input];
            if span.start == span.end {
                *span = i..i + 1;
            } else {
                span.end = i + 1;
            }
        }
        let ctx = Ctx {
            job,
            inputs,
            chunks: &chunks,
            done: AtomicU64::new(0),
            total,
            first_bad: AtomicUsize::new(usize::MAX),
            too_many: AtomicUsize::new(0),
            release: self.release_flags(inputs),
        };

        let mut parts: Vec<Option<Part<J::Partial>>> = (0..inputs.len()).map(|_| None).collect();
        let mapped: Vec<(usize, (J::Partial, Malformed))> = spans
            .par_iter()
            .enumerate()
            .filter(|(i, span)| !inputs[*i].is_streamed() && span.start < span.end)
            .map(|(i, span)| (i, self.reduce(&ctx, span.start, span.end, &|c| self.map_one(&ctx, c))))
            .collect();
        for (i, (partial, bad)) in mapped {
            parts[i] = Some((partial, bad, inputs[i].len() as u64));
        }
        let streamed: Vec<usize> = (0..inputs.len()).filter(|&i| inputs[i].is_streamed()).collect();
        let streamed_chunks = AtomicUsize::new(0);
        for group in streamed.chunks(threads.max(1)) {
            let done: Vec<Result<Part<J::Partial>, Error>> =
                group.par_iter().map(|&i| self.stream_one(&ctx, i, &streamed_chunks)).collect();
            for (&i, result) in group.iter().zip(done) {
                parts[i] = Some(result?);
            }
        }

        let mut partial: Option<J::Partial> = None;
        let mut malformed = Malformed::new(self.max_samples);
        let mut bytes = 0;
        for (p, bad, n) in parts.into_iter().flatten() {
            bytes += n;
            malformed.merge(bad);
            if ctx.too_many.load(Ordering::Relaxed) > 0 {
                continue;
            }
            partial = Some(match partial {
                None => p,
                Some(left) => {
                    let merged = job.merge(left, p);
                    self.check_groups(&ctx, &merged);
                    merged
                }
            });
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
            chunks: chunks.len() + streamed_chunks.into_inner(),
            threads,
        })
    }

    /// Read, map and fold the blocks of streamed input `input`: the partial,
    /// its malformed records (line numbers resolved) and the decompressed
    /// bytes read.
    fn stream_one<J: Job>(
        &self,
        ctx: &Ctx<'_, J>,
        input: usize,
        chunks: &AtomicUsize,
    ) -> Result<Part<J::Partial>, Error> {
        let source = &ctx.inputs[input];
        let mut blocks = Blocks {
            stream: source.stream()?,
            format: ctx.job.format(),
            target: self.stream_block,
            carry: Vec::new(),
            spare: None,
            offset: 0,
            lines: 0,
            ended: false,
        };
        let mut partial: Option<J::Partial> = None;
        let mut malformed = Malformed::new(self.max_samples);
        let mut reported = 0u64;
        let mut next = blocks.next()?;
        while let Some(block) = next {
            let ((p, bad), following) = rayon::join(|| self.map_block(ctx, input, &block, chunks), || blocks.next());
            let stop = (self.strict && !bad.is_empty()) || ctx.too_many.load(Ordering::Relaxed) > 0;
            malformed.merge(bad);
            partial = Some(match partial {
                None => p,
                Some(left) => {
                    let merged = ctx.job.merge(left, p);
                    self.check_groups(ctx, &merged);
                    merged
                }
            });
            self.advance(ctx, block.compressed.saturating_sub(reported));
            reported = block.compressed;
            blocks.spare = Some(block.bytes);
            if stop {
                // Strict mode needs only the first malformed record; over
                // the group limit the run is failing anyway.
                break;
            }
            next = following?;
        }
        Ok((partial.unwrap_or_else(|| ctx.job.empty()), malformed, blocks.offset))
    }

    /// Map one block: planned into chunks, mapped along a tree, its samples'
    /// input names and line numbers filled in.
    fn map_block<J: Job>(
        &self,
        ctx: &Ctx<'_, J>,
        input: usize,
        block: &Block,
        chunks: &AtomicUsize,
    ) -> (J::Partial, Malformed) {
        let threads = rayon::current_num_threads();
        let target = self.chunk_size.unwrap_or_else(|| (block.bytes.len() / (threads * 4)).clamp(64 << 10, 4 << 20));
        let ranges = ctx.job.format().plan(&block.bytes, target);
        chunks.fetch_add(ranges.len(), Ordering::Relaxed);
        if ranges.is_empty() {
            return (ctx.job.empty(), Malformed::new(self.max_samples));
        }
        let leaf = |i: usize| {
            let range = ranges[i].clone();
            let chunk =
                Chunk { input, index: i, offset: (block.offset as usize) + range.start, bytes: &block.bytes[range] };
            self.map_chunk(ctx, chunk)
        };
        let (partial, mut bad) = self.reduce(ctx, 0, ranges.len(), &leaf);
        let name = ctx.inputs[input].name();
        for sample in bad.samples_mut() {
            let within = (sample.offset.saturating_sub(block.offset) as usize).min(block.bytes.len());
            sample.source = name.to_string();
            sample.line = block.lines_before + count_newlines(&block.bytes[..within]) + 1;
        }
        (partial, bad)
    }
}
