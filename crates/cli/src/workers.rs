//! `--workers processes`: the map phase in worker processes.
//!
//! The coordinator plans the chunks as a threaded run would, cuts the chunk
//! indices into ranges that are nodes of the runner's merge tree
//! ([`Runner::tree_ranges`]), and starts one worker per range: this binary,
//! with the same arguments and a [`WORKER_ENV`] variable naming the range.
//! Each worker rebuilds the same job from the same arguments, maps its chunks
//! ([`Runner::run_partial_chunks`]), and writes its partial as an Arrow IPC
//! file into a shared-memory region the coordinator created and handed it as
//! its standard input (a memfd: nothing to clean up, whatever happens). The
//! coordinator maps each region read-only, decodes it in place, and merges
//! the partials along the merge tree ([`Runner::merge_tree`]), so the result
//! is the threaded one, bit for bit.
//!
//! A worker that fails (non-zero status, or killed by a signal) is run again
//! once with `--mmap never` (the read path, immune to SIGBUS); if that fails
//! too, the run fails with one line naming the worker, how it ended, and the
//! byte ranges of its chunks. A worker whose share is itself the run's answer
//! as an error (more groups than `--max-groups`, a malformed record under
//! `--strict`) exits with [`VERDICT_EXIT`] instead: the read path would only
//! find the same again, so the run fails at once with the worker's error.
//! Nor is a worker ended by SIGINT, SIGTERM or SIGHUP run again when the
//! coordinator received one too (Ctrl-C in a terminal reaches every
//! worker); a worker signalled alone is.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow, bail};
use arrow_array::{Array, RecordBatch, UInt64Array};
use arrow_schema::{DataType, Field, Schema};
use pagemill_arrow::{MappedIpcFile, OutputFormat, WriteOptions, write_to};
use pagemill_engine::{CountRecords, Job, Malformed, Outcome, Runner, Sample};
use pagemill_features::{Brc, BrcPartial, BrcResult, Features};
use pagemill_logs::LogJob;
use pagemill_mmap::{Access, SharedRegion, Source};
use pagemill_split::AnyFormat;

use crate::args::Global;

/// The environment variable that makes a process a worker.
pub const WORKER_ENV: &str = "PAGEMILL_WORKER_SHARE";

/// Test hook: `N` makes worker N abort on its first attempt; `N:always` on
/// every attempt.
const CRASH_ENV: &str = "PAGEMILL_TEST_WORKER_CRASH";
/// Test hook: `N:FILE` makes worker N, on its first attempt, write its
/// process id to FILE (its inputs already open) and wait until FILE is gone
/// (at most a minute) before it maps its chunks: time to kill it, or to
/// truncate an input under it.
const HANG_ENV: &str = "PAGEMILL_TEST_WORKER_HANG";

/// The exit status of a worker that stopped on the job's own answer for its
/// share (see [`is_verdict`]), which a retry would give again.
pub const VERDICT_EXIT: u8 = 3;

/// Whether `err` is the job's answer rather than a fault of the run: too
/// many groups (a share's keys are some of the run's), or a malformed record
/// under `--strict`. Either comes back the same on any path and any retry.
pub fn is_verdict(err: &anyhow::Error) -> bool {
    use pagemill_engine::Error;
    err.chain().any(|e| matches!(e.downcast_ref::<Error>(), Some(Error::TooManyGroups { .. } | Error::Strict(_))))
}

/// Schema metadata keys of a worker's partial.
const MALFORMED_KEY: &str = "pagemill.worker.malformed";
const CHUNKS_KEY: &str = "pagemill.worker.chunks";

/// A worker's share of a run, as the coordinator hands it over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerSpec {
    /// The worker's number (0-based), for messages and test hooks.
    pub index: usize,
    /// 0 for the first attempt, 1 for the retry.
    pub attempt: u32,
    /// Its chunk indices.
    pub chunks: Range<usize>,
    /// The number of chunks in the coordinator's plan.
    pub planned: usize,
    /// The chunk size of the plan.
    pub chunk_size: usize,
    /// Where its chunks start and end: (input, byte offset) pairs, to check
    /// that the worker's plan is the coordinator's.
    pub bounds: ((usize, usize), (usize, usize)),
    /// Read the inputs instead of mapping them (the retry).
    pub read: bool,
    /// The [`fingerprint`] of the inputs the coordinator opened: a worker
    /// that opens other files under the same names (a log rotated, a file
    /// saved over by rename during the run) refuses to map them.
    pub inputs: u64,
}

impl fmt::Display for WorkerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ((i0, b0), (i1, b1)) = self.bounds;
        write!(
            f,
            "1 {} {} {} {} {} {} {i0} {b0} {i1} {b1} {} {}",
            self.index,
            self.attempt,
            self.chunks.start,
            self.chunks.end,
            self.planned,
            self.chunk_size,
            u8::from(self.read),
            self.inputs
        )
    }
}

impl WorkerSpec {
    /// The share named by [`WORKER_ENV`], if this process is a worker.
    pub fn from_env() -> Result<Option<WorkerSpec>> {
        let Some(value) = std::env::var_os(WORKER_ENV) else { return Ok(None) };
        WorkerSpec::parse(&value.to_string_lossy()).map(Some)
    }

    /// A share from its text (its `Display`).
    fn parse(value: &str) -> Result<WorkerSpec> {
        let bad = || anyhow!("{WORKER_ENV}={value:?}: not a worker share from this pagemill version");
        let n: Vec<u64> = value.split(' ').map(str::parse).collect::<Result<_, _>>().map_err(|_| bad())?;
        let [1, index, attempt, lo, hi, planned, chunk_size, i0, b0, i1, b1, read, inputs] = n[..] else {
            return Err(bad());
        };
        let size = |v: u64| usize::try_from(v).map_err(|_| bad());
        let (index, lo, hi, planned, chunk_size) =
            (size(index)?, size(lo)?, size(hi)?, size(planned)?, size(chunk_size)?);
        let (i0, b0, i1, b1) = (size(i0)?, size(b0)?, size(i1)?, size(b1)?);
        if lo >= hi || hi > planned || chunk_size == 0 || read > 1 || attempt > 1 {
            return Err(bad());
        }
        Ok(WorkerSpec {
            index,
            attempt: attempt as u32,
            chunks: lo..hi,
            planned,
            chunk_size,
            bounds: ((i0, b0), (i1, b1)),
            read: read == 1,
            inputs,
        })
    }

    /// Settings a worker overrides: one thread, the plan's chunk size, the
    /// read path on a retry, no progress bar, no workers of its own. Also
    /// starts the watch on the coordinator (see [`watch_parent`]).
    pub fn apply(&self, global: &mut Global) {
        watch_parent();
        global.threads = 1;
        global.chunk_size = Some(self.chunk_size);
        if self.read {
            global.mmap = pagemill_mmap::MmapChoice::never();
        }
        global.progress = crate::args::When::Never;
        global.workers = crate::args::Workers::Threads;
        global.worker = Some(self.clone());
    }
}

/// End this worker when its coordinator is gone (interrupted, killed): a
/// worker left behind would go on using a core for nothing. The worker is
/// then the child of another process, which a thread checks a few times a
/// second.
fn watch_parent() {
    #[cfg(unix)]
    {
        let parent = std::os::unix::process::parent_id();
        let watch = std::thread::Builder::new().name("parent-watch".into()).spawn(move || {
            loop {
                std::thread::sleep(std::time::Duration::from_millis(200));
                if std::os::unix::process::parent_id() != parent {
                    std::process::exit(130);
                }
            }
        });
        if let Err(e) = watch {
            log::debug!("cannot watch the coordinator: {e}");
        }
    }
}

/// A job whose partials travel between processes as Arrow record batches.
pub trait Ship: Job {
    /// The partial as a batch.
    fn ship(&self, partial: Self::Partial) -> RecordBatch;
    /// A batch from [`ship`](Ship::ship) of the same job, over `inputs`, as a
    /// partial again.
    fn land(&self, batch: &RecordBatch, inputs: &[Source]) -> Result<Self::Partial>;
}

impl Ship for CountRecords<AnyFormat> {
    fn ship(&self, partial: Vec<(usize, u64)>) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("input", DataType::UInt64, false),
            Field::new("records", DataType::UInt64, false),
        ]);
        let inputs = UInt64Array::from_iter_values(partial.iter().map(|&(i, _)| i as u64));
        let records = UInt64Array::from_iter_values(partial.iter().map(|&(_, n)| n));
        RecordBatch::try_new(Arc::new(schema), vec![Arc::new(inputs), Arc::new(records)])
            .expect("columns match the schema")
    }

    fn land(&self, batch: &RecordBatch, inputs: &[Source]) -> Result<Vec<(usize, u64)>> {
        let column = |i: usize| batch.columns().get(i).and_then(|c| c.as_any().downcast_ref::<UInt64Array>());
        let (Some(input), Some(records)) = (column(0), column(1)) else {
            bail!("count partial: expected UInt64 columns input, records");
        };
        if input.null_count() + records.null_count() > 0 {
            bail!("count partial: nulls");
        }
        let mut partial = Vec::with_capacity(batch.num_rows());
        for (i, n) in input.values().iter().zip(records.values()) {
            let i = usize::try_from(*i).ok().filter(|&i| i < inputs.len()).context("count partial: no such input")?;
            partial.push((i, *n));
        }
        Ok(partial)
    }
}

/// Features workers ship their pieces apart, so that the coordinator
/// merges them as one process would have (float moments to the last bit).
impl Ship for Features {
    fn ship(&self, partial: Self::Partial) -> RecordBatch {
        self.pieces_batch(partial)
    }

    fn land(&self, batch: &RecordBatch, _inputs: &[Source]) -> Result<Self::Partial> {
        Ok(self.partial_from_pieces_batch(batch)?)
    }
}

impl Ship for LogJob {
    fn ship(&self, partial: Self::Partial) -> RecordBatch {
        self.partial_batch(partial)
    }

    fn land(&self, batch: &RecordBatch, _inputs: &[Source]) -> Result<Self::Partial> {
        Ok(self.partial_from_batch(batch)?)
    }
}

/// 1BRC workers ship their finished [`BrcResult`] (exact integer tenths,
/// stations sorted), which lands as an ordinary [`Brc`] partial.
impl Ship for Brc {
    fn ship(&self, partial: BrcPartial) -> RecordBatch {
        self.finish(partial, &[]).to_partial_batch()
    }

    fn land(&self, batch: &RecordBatch, _inputs: &[Source]) -> Result<BrcPartial> {
        Ok(BrcResult::merge_partials(std::slice::from_ref(batch))?.into_partial())
    }
}

/// The worker's side: map the share's chunks, write the partial into the
/// region on standard input, and exit. Returns only on failure.
pub fn serve<J: Ship>(spec: &WorkerSpec, runner: &Runner, job: &J, inputs: &[Source]) -> Result<()> {
    test_hooks(spec)?;
    if fingerprint(inputs) != spec.inputs {
        bail!("worker {}: the inputs are not the files the coordinator opened (replaced during the run?)", spec.index);
    }
    let mut runner = runner.clone();
    runner.threads(1).chunk_size(spec.chunk_size);
    let plan = runner.plan(job, inputs);
    let bounds = plan_bounds(&plan, &spec.chunks);
    if plan.len() != spec.planned || bounds != Some(spec.bounds) {
        bail!(
            "worker {}: the inputs cut into {} chunks here, {} for the coordinator: did they change?",
            spec.index,
            plan.len(),
            spec.planned
        );
    }
    let outcome = runner.run_partial_chunks(job, inputs, spec.chunks.clone())?;
    let batch = job.ship(outcome.output);
    let mut metadata = batch.schema().metadata().clone();
    metadata.insert(MALFORMED_KEY.to_string(), encode_malformed(&outcome.malformed));
    metadata.insert(CHUNKS_KEY.to_string(), format!("{}..{}", spec.chunks.start, spec.chunks.end));
    let schema = Arc::new(batch.schema().as_ref().clone().with_metadata(metadata));
    let batch = batch.with_schema(schema.clone())?;
    let mut ipc = Vec::new();
    write_to(&mut ipc, &schema, &[batch], OutputFormat::Ipc, &WriteOptions::new())?;

    let fd = std::io::stdin().as_fd().try_clone_to_owned().context("worker: no region on standard input")?;
    let mut region = SharedRegion::open_fd(fd, Access::ReadWrite)?;
    region.set_len(ipc.len())?;
    region.as_bytes_mut()?.copy_from_slice(&ipc);
    drop(region);
    std::process::exit(0);
}

/// The identity (device and inode) and length of each input, hashed: the
/// same in the coordinator and its workers (one binary, one hasher) when
/// they opened the same files.
fn fingerprint(inputs: &[Source]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for s in inputs {
        s.file_id().hash(&mut h);
        s.len().hash(&mut h);
    }
    h.finish()
}

fn test_hooks(spec: &WorkerSpec) -> Result<()> {
    if let Ok(value) = std::env::var(CRASH_ENV) {
        let (index, always) = match value.split_once(':') {
            Some((i, "always")) => (i, true),
            _ => (value.as_str(), false),
        };
        if index.parse() == Ok(spec.index) && (always || spec.attempt == 0) {
            eprintln!("pagemill: worker {}: aborting ({CRASH_ENV})", spec.index);
            std::process::abort();
        }
    }
    if let Ok(value) = std::env::var(HANG_ENV)
        && let Some((index, file)) = value.split_once(':')
        && index.parse() == Ok(spec.index)
        && spec.attempt == 0
    {
        let tmp = format!("{file}.tmp");
        std::fs::write(&tmp, std::process::id().to_string())?;
        std::fs::rename(&tmp, file)?;
        let waited = std::time::Instant::now();
        while std::path::Path::new(file).exists() && waited.elapsed().as_secs() < 60 {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    Ok(())
}

/// The (input, offset) where the first chunk of `chunks` starts and the last ends.
fn plan_bounds(plan: &[(usize, Range<usize>)], chunks: &Range<usize>) -> Option<((usize, usize), (usize, usize))> {
    let first = plan.get(chunks.start)?;
    let last = plan.get(chunks.end.checked_sub(1)?)?;
    Some(((first.0, first.1.start), (last.0, last.1.end)))
}

/// Malformed counts and samples as text: `c KIND N` and `s KIND INPUT
/// OFFSET TEXT` lines, tab-separated (sample texts have their control
/// characters escaped, so no tab or newline).
fn encode_malformed(malformed: &Malformed) -> String {
    let mut out = String::new();
    for (kind, n) in malformed.counts() {
        out.push_str(&format!("c\t{kind}\t{n}\n"));
    }
    for s in malformed.samples() {
        out.push_str(&format!("s\t{}\t{}\t{}\t{}\n", s.kind, s.input, s.offset, s.text));
    }
    out
}

fn decode_malformed(text: &str, max_samples: usize, inputs: usize) -> Result<Malformed> {
    let bad = || anyhow!("malformed-record account: unreadable");
    let (mut counts, mut samples) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let fields: Vec<&str> = line.splitn(5, '\t').collect();
        match fields[..] {
            ["c", kind, n] => counts.push((intern(kind)?, n.parse().map_err(|_| bad())?)),
            ["s", kind, input, offset, text] => {
                let input: usize = input.parse().map_err(|_| bad())?;
                if input >= inputs {
                    return Err(bad());
                }
                samples.push(Sample {
                    kind: intern(kind)?,
                    input,
                    source: String::new(),
                    offset: offset.parse().map_err(|_| bad())?,
                    line: 0,
                    text: text.to_string(),
                });
            }
            _ => return Err(bad()),
        }
    }
    Ok(Malformed::from_parts(max_samples, counts, samples))
}

/// Malformed kinds are `&'static str`: those read back from workers are
/// leaked once each (a few short names per job; more is refused).
fn intern(kind: &str) -> Result<&'static str> {
    static KINDS: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut kinds = KINDS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(k) = kinds.iter().find(|k| **k == kind) {
        return Ok(k);
    }
    if kinds.len() >= 256 || kind.len() > 64 {
        bail!("malformed-record account: too many kinds");
    }
    let leaked: &'static str = Box::leak(kind.to_string().into_boxed_str());
    kinds.push(leaked);
    Ok(leaked)
}

/// Set when this process receives SIGINT, SIGTERM or SIGHUP (by the
/// binary's handler, before it cleans up and ends).
static STOPPING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Note that this process was asked to stop: workers it sees end by a
/// signal now are not run again.
pub(crate) fn stop() {
    STOPPING.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Whether this process is stopping, for a worker just ended by SIGINT,
/// SIGTERM or SIGHUP: a signal sent to the whole group (Ctrl-C) reaches
/// this process at the same moment, so it is given a moment to arrive. A
/// worker signalled alone (an out-of-memory killer's SIGTERM) is retried.
fn stopping() -> bool {
    let asked = std::time::Instant::now();
    while asked.elapsed() < std::time::Duration::from_millis(300) {
        if STOPPING.load(std::sync::atomic::Ordering::SeqCst) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    STOPPING.load(std::sync::atomic::Ordering::SeqCst)
}

/// How a worker attempt ended, when it did not succeed.
struct Failure {
    how: String,
    /// The worker's error, when it exited with [`VERDICT_EXIT`].
    verdict: Option<String>,
    /// Ended by SIGINT, SIGTERM or SIGHUP: not run again if this process
    /// was asked to stop too (Ctrl-C reaches every worker), see
    /// [`stopping`].
    interrupted: bool,
}

/// How a worker that did not succeed ended, from its status and the last
/// line of its standard error.
fn describe(status: ExitStatus, stderr: &[u8]) -> Failure {
    let interrupted = matches!(status.signal(), Some(1 | 2 | 15));
    let how = match (status.code(), status.signal()) {
        (_, Some(sig)) => format!("killed by signal {sig}{}", signal_name(sig)),
        (Some(code), _) => format!("exit status {code}"),
        _ => "ended".to_string(),
    };
    let text = String::from_utf8_lossy(stderr);
    let last = text.lines().rev().find(|l| !l.trim().is_empty()).map(|l| l.trim().trim_start_matches("pagemill: "));
    let verdict = (status.code() == Some(i32::from(VERDICT_EXIT)))
        .then(|| last.map_or(how.clone(), |l| l.trim_start_matches("error: ").to_string()));
    // The last line of a worker that was itself interrupted is its own
    // "interrupted" message, which would read as if the run were.
    let how = match last {
        Some(last) if !interrupted => format!("{how} ({last})"),
        _ => how,
    };
    Failure { how, verdict, interrupted }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        1 => " (SIGHUP)",
        2 => " (SIGINT)",
        6 => " (SIGABRT)",
        7 => " (SIGBUS)",
        9 => " (SIGKILL)",
        11 => " (SIGSEGV)",
        15 => " (SIGTERM)",
        _ => "",
    }
}

/// Run one attempt of one worker to its end: its region, or how it failed.
fn attempt(spec: &WorkerSpec) -> Result<SharedRegion, Failure> {
    let failure = |how: String| Failure { how, verdict: None, interrupted: false };
    let run = || -> Result<SharedRegion, Failure> {
        let region = SharedRegion::create(&format!("worker-{}", spec.index), 0).map_err(|e| failure(format!("{e}")))?;
        let fd = region.try_clone_fd().map_err(|e| failure(format!("{e}")))?;
        let exe = std::env::current_exe().map_err(|e| failure(format!("cannot find this program: {e}")))?;
        let child = Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env(WORKER_ENV, spec.to_string())
            .stdin(Stdio::from(fd))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| failure(format!("cannot start: {e}")))?;
        let output = child.wait_with_output().map_err(|e| failure(format!("cannot wait: {e}")))?;
        if !output.status.success() {
            return Err(describe(output.status, &output.stderr));
        }
        Ok(region)
    };
    run()
}

/// Whether `path` is a regular file whose size tells its bytes and that
/// every process opens alike: not a FIFO or device, and not reached
/// through /proc (`/dev/stdin`, `/dev/fd/N`, links into `/proc/self`),
/// where each process sees its own file.
fn is_plain_file(path: &std::path::Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file()) && !through_proc(path)
}

/// Whether `path`, or any link on the way to its file, lies under /proc.
pub(crate) fn through_proc(path: &std::path::Path) -> bool {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        // The directory with its links resolved, the last part as named.
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        let (Ok(dir), Some(name)) = (dir.canonicalize(), p.file_name()) else { return false };
        p = dir.join(name);
        if p.starts_with("/proc") {
            return true;
        }
        match std::fs::read_link(&p) {
            Ok(link) => p = if link.is_relative() { dir.join(link) } else { link },
            Err(_) => return false,
        }
    }
    false
}

/// The coordinator's side: plan, start the workers, retry the ones that
/// fail, merge their partials along the merge tree, settle malformed records.
pub fn coordinate<J: Ship>(
    global: &Global,
    mut runner: Runner,
    job: &J,
    inputs: &[Source],
) -> Result<Outcome<J::Partial>> {
    if let Some(stdin) = inputs.iter().find(|s| s.path().is_none()) {
        bail!("--workers processes reads inputs by path, and {} has none: use --workers threads", stdin.name());
    }
    // Each worker opens the inputs again: a FIFO would block it (its data
    // already read here), and a /proc file would show each its own process.
    if let Some(special) = inputs.iter().find(|s| s.path().is_some_and(|p| !is_plain_file(p))) {
        bail!(
            "--workers processes needs regular files (each worker reads them again), and {} is not one: use --workers threads",
            special.name()
        );
    }
    let workers = runner.effective_threads();
    let total: u64 = inputs.iter().map(|s| s.len() as u64).sum();
    let chunk_size = runner.effective_chunk_size(total);
    runner.chunk_size(chunk_size);
    let plan = runner.plan(job, inputs);
    if plan.is_empty() {
        return Ok(runner.run_partial(job, inputs)?);
    }
    let ranges = Runner::tree_ranges(plan.len(), workers);
    let specs: Vec<WorkerSpec> = ranges
        .iter()
        .enumerate()
        .map(|(index, chunks)| WorkerSpec {
            index,
            attempt: 0,
            chunks: chunks.clone(),
            planned: plan.len(),
            chunk_size,
            bounds: plan_bounds(&plan, chunks).expect("tree ranges lie in the plan"),
            read: global.mmap == pagemill_mmap::MmapChoice::never(),
            inputs: fingerprint(inputs),
        })
        .collect();

    let results: Vec<Result<SharedRegion, Failure>> = std::thread::scope(|scope| {
        let handles: Vec<_> = specs
            .iter()
            .map(|spec| {
                scope.spawn(move || match attempt(spec) {
                    Ok(region) => Ok(region),
                    Err(first) if first.verdict.is_some() || (first.interrupted && stopping()) => Err(first),
                    Err(first) => {
                        eprintln!(
                            "pagemill: worker {} {}; retrying its chunks with --mmap never",
                            spec.index, first.how
                        );
                        let retry = WorkerSpec { attempt: 1, read: true, ..spec.clone() };
                        attempt(&retry).map_err(|again| Failure {
                            how: format!("{}, then on retry {}", first.how, again.how),
                            verdict: again.verdict,
                            interrupted: again.interrupted,
                        })
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| Err(Failure { how: "lost".into(), verdict: None, interrupted: false }))
            })
            .collect()
    });

    let mut parts = Vec::with_capacity(specs.len());
    let mut malformed = Malformed::new(pagemill_engine::Malformed::default().max_samples());
    // The job's own answer (from the first worker that gave one) outranks
    // any fault of another worker.
    if let Some(verdict) = results.iter().find_map(|r| r.as_ref().err().and_then(|f| f.verdict.as_ref())) {
        bail!("{verdict}");
    }
    for (spec, result) in specs.iter().zip(results) {
        let region = result.map_err(|f| {
            anyhow!("worker {} failed: {}; its chunks: {}", spec.index, f.how, byte_ranges(&plan, &spec.chunks, inputs))
        })?;
        let region = SharedRegion::open_fd(region.try_clone_fd()?, Access::ReadOnly)?;
        let file = MappedIpcFile::from_source(Source::from_shared(format!("worker {} partial", spec.index), region))
            .with_context(|| format!("worker {}: unreadable partial", spec.index))?;
        let batch = file.batch(0).with_context(|| format!("worker {}: unreadable partial", spec.index))?;
        let meta: &HashMap<String, String> = file.schema().metadata();
        let chunks = format!("{}..{}", spec.chunks.start, spec.chunks.end);
        if meta.get(CHUNKS_KEY) != Some(&chunks) {
            bail!("worker {}: its partial is not that of chunks {chunks}", spec.index);
        }
        let account = meta.get(MALFORMED_KEY).map_or("", String::as_str);
        let account = decode_malformed(account, malformed.max_samples(), inputs.len())
            .with_context(|| format!("worker {}", spec.index))?;
        malformed.merge(account);
        let partial = job.land(&batch, inputs).with_context(|| format!("worker {}: unreadable partial", spec.index))?;
        parts.push((spec.chunks.clone(), partial));
    }
    let merged = Runner::merge_tree(parts, |l, r| job.merge(l, r)).context("worker partials do not tile the plan")?;
    if let Some(seen) = runner.groups_over_limit(job, &merged) {
        return Err(pagemill_engine::Error::TooManyGroups { limit: global.max_groups, seen }.into());
    }
    for input in inputs {
        input.check_unchanged()?;
    }
    runner.settle_malformed(&mut malformed, inputs, job.format())?;
    Ok(Outcome { output: merged, malformed, bytes: total, chunks: plan.len(), threads: workers })
}

/// `a.log bytes 0..1048576, b.log bytes 0..2000`: where chunks lie.
fn byte_ranges(plan: &[(usize, Range<usize>)], chunks: &Range<usize>, inputs: &[Source]) -> String {
    let mut spans: Vec<(usize, usize, usize)> = Vec::new();
    for (input, r) in &plan[chunks.clone()] {
        match spans.last_mut() {
            Some((i, _, end)) if i == input && *end == r.start => *end = r.end,
            _ => spans.push((*input, r.start, r.end)),
        }
    }
    spans.iter().map(|(i, s, e)| format!("{} bytes {s}..{e}", inputs[*i].name())).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn files_seen_through_proc_are_not_plain() {
        let dir = std::env::temp_dir().join(format!("pagemill-plain-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("data.txt");
        std::fs::write(&file, "1\n").unwrap();
        let link = dir.join("cmdline.link");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink("/proc/self/cmdline", &link).unwrap();
        let proc_dir = dir.join("me");
        let _ = std::fs::remove_file(&proc_dir);
        std::os::unix::fs::symlink("/proc/self", &proc_dir).unwrap();
        let file_link = dir.join("data.link");
        let _ = std::fs::remove_file(&file_link);
        std::os::unix::fs::symlink("data.txt", &file_link).unwrap();
        assert!(is_plain_file(&file));
        assert!(is_plain_file(&file_link), "a link to a plain file");
        for special in [&link, &proc_dir.join("cmdline"), std::path::Path::new("/proc/self/cmdline")] {
            assert!(!is_plain_file(special), "{special:?}");
        }
        // Stdin redirected from a regular file is a regular file, but each
        // process's own.
        assert!(through_proc(std::path::Path::new("/dev/stdin")));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn shares_round_trip_through_their_text() {
        let spec = WorkerSpec {
            index: 2,
            attempt: 1,
            chunks: 4..9,
            planned: 12,
            chunk_size: 65536,
            bounds: ((0, 100), (1, 2000)),
            read: true,
            inputs: u64::MAX,
        };
        let text = spec.to_string();
        assert_eq!(text, "1 2 1 4 9 12 65536 0 100 1 2000 1 18446744073709551615");
        assert_eq!(WorkerSpec::parse(&text).unwrap(), spec);
        for bad in [
            "",
            "1 2 1 4 9 12 65536 0 100 1 2000 1",
            "2 2 1 4 9 12 65536 0 100 1 2000 1 7",
            "1 2 1 9 4 12 65536 0 100 1 2000 1 7",
            "1 2 1 4 9 12 0 0 100 1 2000 1 7",
            "1 x",
        ] {
            assert!(WorkerSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn malformed_accounts_round_trip() {
        let inputs = vec![Source::from_bytes("a", b"x\n\ty;\\t\n".to_vec())];
        let mut runner = Runner::new();
        runner.strict(false);
        let outcome = runner.run_partial_chunks(&Brc::new(), &inputs, 0..1).unwrap();
        assert_eq!(outcome.malformed.total(), 2);
        let text = encode_malformed(&outcome.malformed);
        let back = decode_malformed(&text, 5, 1).unwrap();
        assert_eq!(back.to_string(), outcome.malformed.to_string());
        assert!(decode_malformed("s\tx\t3\t0\ttext\n", 5, 1).is_err());
        assert!(decode_malformed("what\n", 5, 1).is_err());
    }
}
