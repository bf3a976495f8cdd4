//! `pagemill redact`: anonymise access logs in place, into a copy, or only
//! report what would change.

use std::fs::{File, TryLockError};
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};
use pagemill_engine::{AtomicFile, Malformed};
use pagemill_logs::{Changes, LineError, Mask, RedactKey, Redactor};
use pagemill_mmap::{Access, ChunkMut, Compression, FileId, MmapChoice, OpenOptions};
use pagemill_split::Lines;
use rayon::prelude::*;

use crate::args::{Global, RedactArgs, Workers};
use crate::commands::{eprint_lines, log_format, pool, runner};

/// Test hook: abort the process (as a kill would) once this many chunks of
/// an in-place run have been redacted and flushed.
const ABORT_AFTER_ENV: &str = "PAGEMILL_TEST_REDACT_ABORT_AFTER";
/// Test hook: once the `--strict` check is done, create `checked` in this
/// folder and wait (up to a minute) for `go` there before writing, so that
/// a test can act on the files in between.
const PAUSE_AFTER_CHECK_ENV: &str = "PAGEMILL_TEST_REDACT_PAUSE_AFTER_CHECK";
/// The ip-hash secret, when no key file is named.
const KEY_ENV: &str = "PAGEMILL_REDACT_KEY";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    InPlace,
    Copy,
    DryRun,
}

pub fn redact(global: &Global, args: &RedactArgs) -> Result<()> {
    let mode = match (args.in_place, &args.output, args.dry_run) {
        (true, None, false) => Mode::InPlace,
        (false, Some(_), false) => Mode::Copy,
        (false, None, true) => Mode::DryRun,
        _ => bail!("choose exactly one of --in-place, -o OUT and --dry-run"),
    };
    if global.workers == Workers::Processes {
        bail!("redact runs on threads (--workers threads): its pieces are edited in one shared mapping");
    }
    if mode == Mode::InPlace && global.mmap == MmapChoice::never() {
        bail!("--in-place edits the file through a writable map, which --mmap never rules out: use -o OUT for a copy");
    }
    if mode == Mode::Copy && args.files.len() != 1 {
        bail!("-o writes one redacted copy: name exactly one FILE");
    }
    let key = redaction_key(args)?;
    let pool = pool(global)?;
    // A file of which no line parses fails the run, after the other files:
    // its malformed lines are reported as it is done, and the run's one
    // error line, at the end, names it.
    let mut unparsed = Vec::new();
    let files = distinct_files(&args.files);
    if global.strict {
        let mut written = false;
        for (p, surveyed) in strict_check(global, args, &files, mode, &key, &pool)? {
            // Again just before it is written: a writer that ignores the
            // lock may have changed it while the files before it were.
            p.unchanged_since_check(mode, written)?;
            unparsed.extend(redact_file(args, mode, p, &pool, Some(surveyed))?);
            written = true;
        }
    } else {
        refuse_unpreparable(global, args, mode, &files, &key)?;
        for file in files {
            let p = prepare(global, args, mode, file, key.clone())?;
            unparsed.extend(redact_file(args, mode, p, &pool, None)?);
        }
    }
    if !unparsed.is_empty() {
        bail!("{}", no_line_matches(&unparsed));
    }
    Ok(())
}

/// `files` with each file once, by identity (overlapping globs, another
/// path to it): it is redacted, reported and named as failing once, and
/// under `--strict` its own lock would refuse a second open.
fn distinct_files(files: &[PathBuf]) -> Vec<&Path> {
    let mut seen = Vec::new();
    let mut distinct = Vec::with_capacity(files.len());
    for file in files {
        if let Some(id) = FileId::of_path(file) {
            if seen.contains(&id) {
                log::debug!("{}: named more than once, redacted once", file.display());
                continue;
            }
            seen.push(id);
        }
        distinct.push(file.as_path());
    }
    distinct
}

/// The `--strict` check, all or nothing: every file is opened, locked as
/// its run needs (exclusive in place) and surveyed before any is written,
/// and an error if any line of any file is malformed. Otherwise the files,
/// still locked and mapped, with what their survey found: what is written
/// is what was checked, and no other `pagemill redact` can come between.
/// A writer that ignores the lock (a server appending to its log) is
/// caught by the files' size and modification time, compared before each
/// is written. Every file is open and mapped at once, as `logs` maps its
/// inputs (the open-file limit is raised to match).
///
/// An empty line is a malformed line here as in every command (`logs
/// --strict` fails on one too): a file of only empty lines is refused,
/// though it is no sign of a wrong format (`none_parsed`).
fn strict_check(
    global: &Global,
    args: &RedactArgs,
    files: &[&Path],
    mode: Mode,
    key: &Option<RedactKey>,
    pool: &rayon::ThreadPool,
) -> Result<Vec<(Prepared, (Changes, Malformed))>> {
    // Each file is open twice (its lock, its map) until it is written.
    let want = 2 * files.len() as u64 + 256;
    if pagemill_mmap::raise_open_file_limit(want).is_some_and(|now| now < want) {
        log::debug!("the open-file limit is below {want}; some files may not open");
    }
    let mut checked = Vec::with_capacity(files.len());
    let mut bad = Vec::new();
    let mut blank = Vec::new();
    for &file in files {
        let p = prepare(global, args, mode, file, key.clone())?;
        let surveyed = survey(pool, &p.redactor, p.source.bytes(), &p.ranges);
        let malformed = &surveyed.1;
        if !malformed.is_empty() {
            report_malformed(&p.name, malformed, p.redactor.address_mask().is_some());
            if malformed.count(LineError::Empty.kind()) == malformed.total() {
                blank.push(p.name.clone());
            } else {
                bad.push(p.name.clone());
            }
        }
        checked.push((p, surveyed));
    }
    if !bad.is_empty() || !blank.is_empty() {
        let nothing = if mode == Mode::DryRun { "a --strict run would write nothing" } else { "nothing was written" };
        let mut found = Vec::new();
        if !bad.is_empty() {
            found.push(format!("malformed lines in {}", bad.join(", ")));
        }
        if !blank.is_empty() {
            found.push(format!("empty lines in {}", blank.join(", ")));
        }
        let why = if blank.is_empty() {
            ""
        } else {
            " (an empty line is a malformed line under --strict, as in `pagemill logs --strict`)"
        };
        bail!("{} and --strict: {nothing}{why}", found.join(", "));
    }
    if let Some(dir) = std::env::var_os(PAUSE_AFTER_CHECK_ENV) {
        pause(Path::new(&dir));
    }
    // Every file before any is written (and each again just before it is).
    for (p, _) in &checked {
        p.unchanged_since_check(mode, false)?;
    }
    Ok(checked)
}

/// Create `checked` in `dir`, then wait for `go` there (a test hook; a
/// minute at most).
fn pause(dir: &Path) {
    if let Err(e) = File::create(dir.join("checked")) {
        log::debug!("{PAUSE_AFTER_CHECK_ENV}: {e}");
        return;
    }
    for _ in 0..6000 {
        if dir.join("go").exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// A file of which no line parses.
struct Unparsed {
    name: String,
    /// The log format its lines were read with.
    format: String,
    /// What the run did with it.
    what: String,
}

/// Whether an in-place edit is under way (for the interrupt message: the
/// file is then partly redacted, which a rerun finishes).
pub static IN_PLACE: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// A file opened, locked and planned for redaction.
struct Prepared {
    name: String,
    /// Holds the advisory lock while it lives.
    lock: File,
    /// The file's size and modification time once it was locked, before
    /// it was mapped and read.
    stamp: Stamp,
    source: pagemill_mmap::Source,
    redactor: Redactor,
    ranges: Vec<Range<usize>>,
}

/// What is compared to notice a file that changed under its lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl Stamp {
    fn of(file: &File, name: &str) -> Result<Stamp> {
        let meta = file.metadata().with_context(|| format!("cannot stat {name}"))?;
        Ok(Stamp { len: meta.len(), modified: meta.modified().ok() })
    }
}

impl Prepared {
    /// An error if the file is not as it was locked (checked and nothing
    /// written to it yet): a writer that ignores the lock changed it after
    /// the `--strict` check, which would no longer vouch for it. `written`:
    /// whether files before it were written.
    fn unchanged_since_check(&self, mode: Mode, written: bool) -> Result<()> {
        let now = Stamp::of(&self.lock, &self.name)?;
        let detail = if now.len != self.stamp.len {
            format!("size was {} bytes, now {}", self.stamp.len, now.len)
        } else if now.modified != self.stamp.modified {
            "modification time moved".to_string()
        } else {
            return Ok(());
        };
        let what = match (mode, written) {
            (Mode::DryRun, _) => "a --strict run would write nothing",
            (_, false) => "nothing was written",
            (_, true) => "it and the files after it were not written, those before it were",
        };
        bail!(
            "{} changed after the --strict check ({detail}; a log still being written?): {what}; run again once it \
             is closed",
            self.name
        )
    }
}

fn prepare(global: &Global, args: &RedactArgs, mode: Mode, path: &Path, key: Option<RedactKey>) -> Result<Prepared> {
    let name = path.display().to_string();
    let lock = check_and_lock(path, mode)?;
    let stamp = Stamp::of(&lock, &name)?;
    let mut opts = OpenOptions::new();
    opts.decompress(false).mmap(global.mmap).access(match mode {
        Mode::InPlace => Access::ReadWrite,
        // A copy redacts each chunk in a buffer of its own and writes it
        // out in order: a private map would keep every page it changed.
        Mode::Copy | Mode::DryRun => Access::ReadOnly,
    });
    let source = opts.open(path)?;
    let format = log_format(&args.log_format, &args.json_field, std::slice::from_ref(&source))?;
    log::debug!("{name}: log format {format}");
    let redactor = Redactor::new(format, &args.mask, key)?;
    let chunk_size = runner(global).effective_chunk_size(source.len() as u64);
    let ranges = pagemill_split::plan(&Lines, source.bytes(), chunk_size);
    Ok(Prepared { name, lock, stamp, source, redactor, ranges })
}

/// The ip-hash key from `--key-file` or the environment; `None` when no
/// mask needs one.
fn redaction_key(args: &RedactArgs) -> Result<Option<RedactKey>> {
    if !args.mask.contains(&Mask::IpHash) {
        return Ok(None);
    }
    let secret = if let Some(path) = &args.key_file {
        let mut bytes = std::fs::read(path).with_context(|| format!("cannot read key file {}", path.display()))?;
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
        }
        bytes
    } else if let Some(value) = std::env::var_os(KEY_ENV) {
        value.into_encoded_bytes()
    } else {
        bail!(
            "--mask ip-hash needs a secret key: --key-file FILE or the {KEY_ENV} environment variable \
             (a built-in key would let anyone reverse the hashes)"
        );
    };
    Ok(Some(RedactKey::new(&secret)?))
}

/// Refuse what cannot be redacted, and take the advisory lock: exclusive
/// for an in-place run, shared for a copy or a dry run (so that none reads a
/// file being rewritten). The lock lasts as long as the returned file.
fn check_and_lock(path: &Path, mode: Mode) -> Result<File> {
    let name = path.display();
    if path.as_os_str() == "-" || crate::workers::through_proc(path) {
        bail!("redact reads regular files by name, not stdin ({name})");
    }
    // stat before open: opening a FIFO would block until a writer came.
    let meta = std::fs::metadata(path).with_context(|| format!("cannot open {name}"))?;
    if !meta.is_file() {
        bail!("{name} is not a regular file (a FIFO, device or directory cannot be redacted)");
    }
    let mut file = File::open(path).with_context(|| format!("cannot open {name}"))?;
    if !file.metadata().with_context(|| format!("cannot open {name}"))?.is_file() {
        bail!("{name} is not a regular file");
    }
    let locked = if mode == Mode::InPlace { file.try_lock() } else { file.try_lock_shared() };
    match locked {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => bail!("{name} is locked by another process (another pagemill redact?)"),
        Err(TryLockError::Error(e)) => return Err(e).with_context(|| format!("cannot lock {name}")),
    }
    let mut head = [0u8; 8];
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..]).with_context(|| format!("cannot read {name}"))? {
            0 => break,
            k => n += k,
        }
    }
    if let Some(kind) = Compression::detect(&head[..n]) {
        bail!(
            "{name} is {}-compressed: decompress it first (masked compressed bytes would not keep the length)",
            kind.name()
        );
    }
    Ok(file)
}

/// Prepare every file once, and let each go, before any is written: a file
/// that cannot be redacted (compressed, not a regular file, locked, of an
/// undetectable format) stopped the run where it came, with the files
/// before it redacted and those after it left in clear, and an error that
/// named only it. Now the run stops before any is written, and the error
/// names every such file. (`--strict` checks more, and holds each file from
/// its check to its write.)
fn refuse_unpreparable(
    global: &Global,
    args: &RedactArgs,
    mode: Mode,
    files: &[&Path],
    key: &Option<RedactKey>,
) -> Result<()> {
    if files.len() < 2 {
        return Ok(());
    }
    let failed: Vec<String> = files
        .iter()
        .filter_map(|&file| prepare(global, args, mode, file, key.clone()).err().map(|e| format!("{e:#}")))
        .collect();
    let nothing = if mode == Mode::DryRun { "nothing was surveyed" } else { "nothing was written" };
    match failed.len() {
        0 => Ok(()),
        1 => bail!("{} ({nothing})", failed[0]),
        n => bail!("{n} of {} files cannot be redacted ({nothing}): {}", files.len(), failed.join("; ")),
    }
}

/// Redact one prepared file; `Some` when no line of it parses (the other
/// files are still redacted, and the run fails at the end). `surveyed`:
/// what a survey of it found already (a dry run reports it).
fn redact_file(
    args: &RedactArgs,
    mode: Mode,
    prepared: Prepared,
    pool: &rayon::ThreadPool,
    surveyed: Option<(Changes, Malformed)>,
) -> Result<Option<Unparsed>> {
    let Prepared { name, lock, stamp: _, mut source, redactor, ranges } = prepared;
    let ip = redactor.address_mask().is_some();
    let unparsed = |what: String| Some(Unparsed { name: name.clone(), format: redactor.format().to_string(), what });
    let (changes, malformed) = match mode {
        Mode::DryRun => surveyed.unwrap_or_else(|| survey(pool, &redactor, source.bytes(), &ranges)),
        Mode::InPlace => {
            let abort_after: Option<usize> = std::env::var(ABORT_AFTER_ENV).ok().and_then(|v| v.parse().ok());
            let done = AtomicUsize::new(0);
            *IN_PLACE.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(name.clone());
            let pieces = source.split_mut(&ranges)?;
            let result = redact_pieces(pool, &redactor, pieces, |piece, changes| {
                if changes.lines_changed > 0 {
                    piece.flush()?;
                }
                if abort_after.is_some_and(|n| done.fetch_add(1, Ordering::SeqCst) + 1 >= n) {
                    std::process::abort();
                }
                Ok(())
            })?;
            if !source.is_empty() {
                source.flush()?;
            }
            lock.sync_all().with_context(|| format!("cannot sync {name}"))?;
            *IN_PLACE.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
            // The edits are on disk already: say so, not "results discarded".
            match source.check_unchanged() {
                Err(pagemill_mmap::Error::Changed { detail, .. }) => bail!(
                    "{name} changed while it was being redacted in place ({detail}; a log still being written?): \
                     the lines redacted are on disk, lines written meanwhile may not be; run again once it is closed"
                ),
                other => other?,
            }
            result
        }
        Mode::Copy => {
            let out: &PathBuf = args.output.as_ref().expect("copy mode has an output");
            if out.as_os_str() == "-" {
                // Standard output, as `-o -` is everywhere: written as it is
                // redacted (a change of the input found at the end fails
                // the run after the fact, as for any stream).
                let mut stdout = std::io::stdout().lock();
                let result = redact_copy(pool, &redactor, &source, &ranges, &mut stdout)
                    .and_then(|r| std::io::Write::flush(&mut stdout).map(|()| r))
                    .context("cannot write to stdout")?;
                source.check_unchanged()?;
                result
            } else {
                let mut file = AtomicFile::create(out, std::slice::from_ref(&source))?;
                let result = redact_copy(pool, &redactor, &source, &ranges, &mut file)
                    .with_context(|| format!("cannot write {}", out.display()))?;
                source.check_unchanged()?;
                if none_parsed(&result.0, &result.1) {
                    report_malformed(&name, &result.1, ip);
                    if file.temp_path().is_some() {
                        // Dropped, not committed: no half-redacted copy.
                        return Ok(unparsed("nothing was written".to_string()));
                    }
                    // A FIFO or a device is written in place, as it came:
                    // the rest goes too, and the message says what it got.
                    file.commit()?;
                    return Ok(unparsed(written_unparsed(&out.display().to_string(), ip)));
                }
                file.commit()?;
                result
            }
        }
    };
    report_malformed(&name, &malformed, ip);
    if none_parsed(&changes, &malformed) {
        let what = match (mode, ip) {
            (Mode::DryRun, true) => "a run would mask only address-shaped words".to_string(),
            (Mode::DryRun, false) => "a run would mask nothing".to_string(),
            (Mode::InPlace, true) => {
                "only address-shaped words were masked (run again with the right format to finish)".to_string()
            }
            (Mode::InPlace, false) => "nothing was masked".to_string(),
            (Mode::Copy, _) => written_unparsed("standard output", ip),
        };
        return Ok(unparsed(what));
    }
    eprint_lines(&format!("pagemill: {}", summary(&name, mode, &changes, redactor.masks())));
    // Every access log line has a client: none found means the format does
    // not say where (JSON keys that are none of the defaults, say), and the
    // addresses were left in clear.
    if ip && changes.addresses == 0 && changes.lines > changes.malformed {
        eprint_lines(&format!(
            "pagemill: warning: {name}: no client address found in any line: if the lines hold one, name \
             its field (--log-format, or --json-field ip=KEY for JSON)"
        ));
    }
    Ok(None)
}

/// Whether no line of a file with lines parsed, and not all of them are
/// empty: a wrong `--log-format`, most likely, which would otherwise pass
/// with only addresses masked. Empty lines say nothing about the format,
/// so a file of only empty lines (a log rotated right after a blank line
/// was written) is not one; they are still malformed lines, reported, and
/// refused by `--strict` as everywhere.
fn none_parsed(changes: &Changes, malformed: &Malformed) -> bool {
    changes.lines > 0
        && changes.malformed == changes.lines
        && malformed.count(LineError::Empty.kind()) < malformed.total()
}

/// The run's error line for the files of which no line parses: each named
/// once, with its format where they differ (`--log-format auto` detects
/// each file's own), and what was done with them (one mode and one set of
/// masks for every file of a run: one consequence, said once).
fn no_line_matches(files: &[Unparsed]) -> String {
    let same_format = files.windows(2).all(|w| w[0].format == w[1].format);
    let names: Vec<String> =
        files.iter().map(|f| if same_format { f.name.clone() } else { format!("{} ({})", f.name, f.format) }).collect();
    let names = match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.concat(),
    };
    let format = match files.first() {
        Some(f) if same_format => format!("the log format {}", f.format),
        _ => "its log format".to_string(),
    };
    let mut what: Vec<&str> = Vec::new();
    for f in files {
        if !what.contains(&f.what.as_str()) {
            what.push(&f.what);
        }
    }
    format!("no line of {names} matches {format} (check --log-format); {}", what.join("; "))
}

/// Redact `pieces` in parallel; `done` runs on each piece once it is
/// redacted (to flush it, say).
fn redact_pieces(
    pool: &rayon::ThreadPool,
    redactor: &Redactor,
    pieces: Vec<ChunkMut<'_>>,
    done: impl Fn(&mut ChunkMut<'_>, &Changes) -> Result<(), pagemill_mmap::Error> + Sync,
) -> Result<(Changes, Malformed), pagemill_mmap::Error> {
    let results = pool.install(|| {
        pieces
            .into_par_iter()
            .map(|mut piece| {
                let mut malformed = Malformed::default();
                let offset = piece.offset();
                let changes = redactor.redact_chunk(piece.bytes_mut(), offset, &mut malformed);
                done(&mut piece, &changes)?;
                Ok((changes, malformed))
            })
            .collect::<Result<Vec<_>, pagemill_mmap::Error>>()
    })?;
    Ok(merge(results))
}

/// Redact a copy of `source`, cut at `ranges`, into `out`, in input order:
/// a window of chunks at a time is copied into buffers and redacted in
/// parallel, then written, and the window's mapped pages are released, so
/// memory stays at a few chunks per thread however large the input.
fn redact_copy(
    pool: &rayon::ThreadPool,
    redactor: &Redactor,
    source: &pagemill_mmap::Source,
    ranges: &[Range<usize>],
    out: &mut dyn std::io::Write,
) -> std::io::Result<(Changes, Malformed)> {
    let bytes = source.bytes();
    let window = pool.current_num_threads().max(1) * 2;
    let mut buffers: Vec<Vec<u8>> = vec![Vec::new(); window];
    let mut results = Vec::with_capacity(ranges.len());
    let mut written = 0;
    for group in ranges.chunks(window) {
        let done: Vec<(Changes, Malformed)> = pool.install(|| {
            group
                .par_iter()
                .zip(buffers.par_iter_mut())
                .map(|(r, buf)| {
                    buf.clear();
                    buf.extend_from_slice(&bytes[r.clone()]);
                    let mut malformed = Malformed::default();
                    (redactor.redact_chunk(buf, r.start, &mut malformed), malformed)
                })
                .collect()
        });
        for (r, buf) in group.iter().zip(&buffers) {
            // Bytes between chunks (none: the plan covers the input) as
            // they are.
            out.write_all(&bytes[written.min(r.start)..r.start])?;
            out.write_all(buf)?;
            written = r.end;
        }
        results.extend(done);
        if let (Some(first), Some(last)) = (group.first(), group.last()) {
            source.release(first.start..last.end);
        }
    }
    out.write_all(&bytes[written.min(bytes.len())..])?;
    Ok(merge(results))
}

/// What redacting `ranges` of `bytes` would change, changing nothing.
fn survey(
    pool: &rayon::ThreadPool,
    redactor: &Redactor,
    bytes: &[u8],
    ranges: &[Range<usize>],
) -> (Changes, Malformed) {
    let results = pool.install(|| {
        ranges
            .par_iter()
            .map(|r| {
                let mut malformed = Malformed::default();
                (redactor.survey_chunk(&bytes[r.clone()], r.start, &mut malformed), malformed)
            })
            .collect::<Vec<_>>()
    });
    merge(results)
}

/// Chunk results in input order, merged.
fn merge(results: Vec<(Changes, Malformed)>) -> (Changes, Malformed) {
    let mut changes = Changes::default();
    let mut malformed = Malformed::default();
    for (c, m) in results {
        changes.merge(c);
        malformed.merge(m);
    }
    (changes, malformed)
}

/// What a copy of a file of which no line parsed got, written to `to`
/// before that was known (standard output, a FIFO, a device), with or
/// without an address mask (`ip`).
fn written_unparsed(to: &str, ip: bool) -> String {
    let got = if ip { "has only address-shaped words masked" } else { "is unmasked" };
    format!("what was written to {to} {got}")
}

/// Report a file's malformed lines; `ip`: whether an address mask ran
/// (and so masked their address-shaped words).
fn report_malformed(name: &str, malformed: &Malformed, ip: bool) {
    if malformed.is_empty() {
        return;
    }
    let kinds: Vec<String> = malformed.counts().map(|(k, n)| format!("{k}: {n}")).collect();
    let what = if ip { "only their address-shaped words masked" } else { "left as they are" };
    eprint_lines(&format!("pagemill: {name}: {} malformed lines, {what} ({})", malformed.total(), kinds.join(", ")));
    for s in malformed.samples() {
        eprint_lines(&format!("  {name}: {} at byte {}: {}", s.kind, s.offset, s.text));
    }
}

/// The one-line summary: lines, fields per mask, host names, malformed.
fn summary(name: &str, mode: Mode, c: &Changes, masks: &[Mask]) -> String {
    let verb = if mode == Mode::DryRun { "would change" } else { "changed" };
    let per: Vec<String> =
        masks.iter().map(|&m| format!("{m} {} fields in {} lines", c.fields(m), c.lines_with(m))).collect();
    format!(
        "{name}: {} lines, {verb} {} ({}); {} addresses not IPs left as they are; {} malformed",
        c.lines,
        c.lines_changed,
        per.join(", "),
        c.not_ip,
        c.malformed
    )
}
