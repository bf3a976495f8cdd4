//! The subcommands: open inputs, build the job, run it, write the results.

use std::borrow::Cow;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use arrow_array::{RecordBatch, StringArray, UInt64Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use pagemill_arrow::{
    OutputFormat, RunMetadata, WriteOptions, attach_metadata, choose_format, describe_schema, read_results_from,
    write_batches, write_batches_with,
};
use pagemill_datasets::{AccessLog, AccessLogFormat, Flights, Measurements, Records, Stations};
use pagemill_engine::{AtomicFile, CountRecords, Malformed, Outcome, Release, Runner};
use pagemill_features::{
    Agg, BRC_PARTIAL, Brc, BrcResult, Dialect, FEATURES_PARTIAL, FeatureSpec, Layout, PARTIAL_KEY,
};
use pagemill_logs::{GroupField, JsonFields, LogFormat, LogJob, Metric};
use pagemill_mmap::{FileId, MmapChoice, OpenOptions, Source};
use pagemill_sketch::{DistinctConfig, QuantileConfig};
use pagemill_split::{AnyFormat, Lines};

use crate::args::{
    CountArgs, DemoArgs, FeaturesArgs, GenCommand, Global, LogsArgs, MergeArgs, OutputArgs, Preset, ShowArgs, When,
    Workers,
};
use crate::progress;
use crate::workers::{self, Ship};

/// Open each input (`-` is stdin; no inputs means stdin) with the global
/// mapping policy, decompressing gzip and zstd inputs unless told not to.
/// With `stream`, compressed files, stdin and pipes are streamed through the
/// run (decoded block by block, nothing written to disk or held whole);
/// without it (worker processes, SQL tables, rejected-line output: whatever
/// needs the bytes at random) compressed files are decompressed into a
/// temporary file first and pipes are read into memory.
pub(crate) fn open_inputs(global: &Global, files: &[PathBuf], stream: bool) -> Result<Vec<Source>> {
    let mut opts = OpenOptions::new();
    opts.mmap(global.mmap).decompress(!global.no_decompress).stream(stream);
    if files.is_empty() {
        return Ok(vec![opts.stdin()?]);
    }
    refuse_stdin_twice(files)?;
    // Each input stays open to the end (its size and modification time
    // are checked then): room for all of them and the run's own files.
    let want = files.len() as u64 + 256;
    if pagemill_mmap::raise_open_file_limit(want).is_some_and(|now| now < want) {
        log::debug!("the open-file limit is below {want}; some inputs may not open");
    }
    files
        .iter()
        .map(|f| if f.as_os_str() == "-" { opts.stdin() } else { opts.open(f) })
        .collect::<Result<_, _>>()
        .map_err(Into::into)
}

/// Refuse `-` named more than once among `files`: stdin can be read once.
fn refuse_stdin_twice(files: &[PathBuf]) -> Result<()> {
    if files.iter().filter(|f| f.as_os_str() == "-").count() > 1 {
        bail!("stdin (-) is named more than once: it can be read only once");
    }
    // The same pipe under two names (`-` and /dev/stdin, a FIFO twice):
    // two readers would split its bytes between them.
    #[cfg(unix)]
    {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let mut pipes: Vec<((u64, u64), &PathBuf)> = Vec::new();
        for f in files {
            let meta = if f.as_os_str() == "-" {
                use std::os::fd::AsFd;
                std::io::stdin().as_fd().try_clone_to_owned().map(std::fs::File::from).and_then(|s| s.metadata())
            } else {
                std::fs::metadata(f)
            };
            let Ok(meta) = meta else { continue };
            if !(meta.file_type().is_fifo() || meta.file_type().is_socket()) {
                continue;
            }
            let id = (meta.dev(), meta.ino());
            if let Some((_, first)) = pipes.iter().find(|(seen, _)| *seen == id) {
                bail!("{} and {} are the same pipe: it can be read only once", first.display(), f.display());
            }
            pipes.push((id, f));
        }
    }
    Ok(())
}

/// Whether a job run on threads in this process can stream compressed
/// inputs: not in worker-process mode, whose coordinator and workers cut
/// the inputs into chunks by byte range.
fn can_stream(global: &Global) -> bool {
    global.workers == Workers::Threads && global.worker.is_none()
}

pub(crate) fn runner(global: &Global) -> Runner {
    let mut runner = Runner::new();
    runner
        .threads(global.threads)
        .strict(global.strict)
        .max_groups((global.max_groups > 0).then_some(global.max_groups))
        .release(match global.release_pages {
            When::Auto => Release::Auto,
            When::Always => Release::Always,
            When::Never => Release::Never,
        });
    if let Some(size) = global.chunk_size {
        runner.chunk_size(size);
    }
    runner
}

/// Print the malformed-record summary on stderr, if there is anything to say.
pub(crate) fn report_malformed(malformed: &Malformed) {
    if !malformed.is_empty() {
        eprint_lines(&format!("pagemill: {malformed}"));
    }
}

/// Print `text` on stderr line by line, each made safe for a terminal: file
/// names and samples come from the inputs, escape sequences and all.
pub(crate) fn eprint_lines(text: &str) {
    for line in text.lines() {
        eprintln!("{}", pagemill_arrow::terminal_safe(line));
    }
}

/// Run `job` over `inputs` with the global runner settings and progress bar,
/// and report its malformed records on stderr.
fn run_job<J: Ship>(global: &Global, job: &J, inputs: &[Source]) -> Result<Outcome<J::Output>> {
    run_job_with(global, runner(global), job, inputs)
}

/// [`run_job`] with a runner the caller configured further.
fn run_job_with<J: Ship>(global: &Global, runner: Runner, job: &J, inputs: &[Source]) -> Result<Outcome<J::Output>> {
    let finisher = runner.clone();
    let Outcome { output, malformed, bytes, chunks, threads } = run_job_partial(global, runner, job, inputs)?;
    let step = progress::Step::start(global.progress, "finishing".to_string());
    let output = finisher.finish(job, output, inputs)?;
    drop(step);
    Ok(Outcome { output, malformed, bytes, chunks, threads })
}

/// [`run_job`], stopping before the job finishes: its merged partial state.
/// On threads or in worker processes (`--workers`); in a worker process, its
/// share of the chunks, handed back to the coordinator (and the process ends).
fn run_job_partial<J: Ship>(
    global: &Global,
    runner: Runner,
    job: &J,
    inputs: &[Source],
) -> Result<Outcome<J::Partial>> {
    if let Some(spec) = &global.worker {
        workers::serve(spec, &runner, job, inputs)?;
        bail!("worker {}: ended without handing its partial back", spec.index);
    }
    match global.workers {
        Workers::Threads => run_with(global, runner, inputs, |r| r.run_partial(job, inputs)),
        Workers::Processes => {
            let outcome = workers::coordinate(global, runner, job, inputs)?;
            report_malformed(&outcome.malformed);
            Ok(outcome)
        }
    }
}

fn run_with<T>(
    global: &Global,
    mut runner: Runner,
    inputs: &[Source],
    run: impl FnOnce(&Runner) -> Result<Outcome<T>, pagemill_engine::Error>,
) -> Result<Outcome<T>> {
    // No total when an input is a pipe, whose size is not known before it ends.
    let total = inputs.iter().map(Source::stored_len).sum();
    let bar = progress::attach(&mut runner, global.progress, total);
    let outcome = run(&runner);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let outcome = outcome?;
    report_malformed(&outcome.malformed);
    Ok(outcome)
}

/// Write result batches to `-o FILE` (atomically) or stdout, in the format
/// the flags and the file's extension choose, on `--threads` threads.
pub(crate) fn write_results(
    global: &Global,
    output: &OutputArgs,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    inputs: &[Source],
) -> Result<()> {
    let path = output.output.as_deref();
    let format = choose_format(output.output_format, path);
    // Only for a file: on stdout, the result itself is what is drawn.
    let _step = path.map(|p| progress::Step::start(global.progress, format!("writing {}", p.display())));
    let mut options = WriteOptions::new();
    // Parquet columns are encoded, and large CSV and TSV batches formatted,
    // on as many threads as the run used.
    options.ipc_compression(output.ipc_compression).threads(global.threads);
    write_batches_with(schema, batches, format, path, inputs, &options)?;
    Ok(())
}

/// Refuse binary output (Arrow IPC, Parquet) bound for stdout when stdout is
/// a terminal: checked before a run, so a long run does not end in the
/// refusal the writer would give.
pub(crate) fn refuse_binary_to_terminal(output: &OutputArgs) -> Result<()> {
    use std::io::IsTerminal;
    let path = output.output.as_deref();
    let format = choose_format(output.output_format, path);
    if format.is_binary() && path.is_none_or(|p| p == Path::new("-")) && std::io::stdout().is_terminal() {
        // The writer's own refusal, given before the run.
        return Err(pagemill_arrow::Error::BinaryToTerminal { format }.into());
    }
    Ok(())
}

/// Partial results keep sketches in binary columns: only Arrow IPC and
/// Parquet hold them. Checked before a run, so a long run does not end in
/// this error.
fn check_partial_output(output: &OutputArgs) -> Result<()> {
    match choose_format(output.output_format, output.output.as_deref()) {
        OutputFormat::Ipc | OutputFormat::IpcStream | OutputFormat::Parquet => Ok(()),
        other => bail!(
            "partial results are written as Arrow IPC or Parquet, not {other}: use -o FILE.arrow, -o FILE.parquet or -o - (an Arrow stream)"
        ),
    }
}

/// Schema metadata value of count partials (the count table itself).
const COUNT_PARTIAL: &str = "count/1";

pub fn count(global: &Global, args: &CountArgs) -> Result<()> {
    if args.partial {
        check_partial_output(&args.output)?;
    }
    let inputs = open_inputs(global, &args.files, can_stream(global))?;
    let mut job = CountRecords::new(args.records);
    if let AnyFormat::Fixed(f) = args.records {
        job = job.expect_record_size(f.size());
    }
    let outcome = run_job(global, &job, &inputs)?;
    let schema =
        Schema::new(vec![Field::new("file", DataType::Utf8, false), Field::new("records", DataType::UInt64, false)]);
    let options = format!("records={}", args.records);
    let mut schema = attach_metadata(schema, "count", &options, &inputs, &outcome.malformed);
    if args.partial {
        let mut metadata = schema.metadata().clone();
        metadata.insert(PARTIAL_KEY.to_string(), COUNT_PARTIAL.to_string());
        schema = schema.with_metadata(metadata);
    }
    let schema = Arc::new(schema);
    let files = StringArray::from_iter_values(inputs.iter().map(Source::name));
    let records = UInt64Array::from(outcome.output);
    let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(files), Arc::new(records)])?;
    write_results(global, &args.output, &schema, &[batch], &inputs)
}

pub fn features(global: &Global, args: &FeaturesArgs) -> Result<()> {
    match args.preset {
        Some(Preset::Brc) => features_brc(global, args),
        None => features_general(global, args),
    }
}

/// The extension of `path`'s data, in lower case: past a compression
/// extension (`.gz`, `.zst`; inputs are decompressed whatever their name),
/// so `x.TSV.gz` gives `tsv`.
pub(crate) fn data_extension(path: &Path) -> Option<String> {
    let lower = |e: &std::ffi::OsStr| e.to_str().map(str::to_ascii_lowercase);
    match path.extension().and_then(lower) {
        Some(e) if e == "gz" || e == "zst" => path.file_stem().map(Path::new).and_then(Path::extension).and_then(lower),
        e => e,
    }
}

/// The delimiter of inputs given no `--delimiter`: tab when every input is
/// named `*.tsv` or `*.tab` (any case, also compressed: `*.tsv.gz`,
/// `*.tab.zst`), as tab-separated files are, else a comma (stdin included).
fn default_delimiter(files: &[PathBuf]) -> u8 {
    let tabbed = |f: &PathBuf| matches!(data_extension(f).as_deref(), Some("tsv" | "tab"));
    if !files.is_empty() && files.iter().all(tabbed) { b'\t' } else { b',' }
}

/// The feature spec the flags describe.
fn feature_spec(args: &FeaturesArgs) -> Result<FeatureSpec> {
    let mut spec = match args.record_size {
        Some(size) => FeatureSpec::binary(Layout::new(size, args.field.clone())?),
        None => {
            let quote = if args.no_quote { None } else { Some(args.quote) };
            let delimiter = args.delimiter.unwrap_or_else(|| default_delimiter(&args.files));
            FeatureSpec::delimited(Dialect::csv().delimiter(delimiter).quote(quote).header(!args.no_header))
        }
    };
    for k in &args.key {
        spec.key(k);
    }
    for v in &args.value {
        spec.value(v);
    }
    for d in &args.distinct {
        spec.distinct(d);
    }
    if !args.agg.is_empty() {
        spec.aggs(args.agg.iter().copied());
    }
    if !args.quantiles.is_empty() {
        spec.quantiles(args.quantiles.iter().copied());
    }
    if !args.null.is_empty() {
        spec.nulls(args.null.iter().map(|n| n.as_bytes().to_vec()));
    }
    spec.quantile_config(QuantileConfig::new().sigfig(args.sigfig)?.scale(args.quantile_scale)?);
    let mut distinct = DistinctConfig::new().lg_k(args.distinct_lg_k)?;
    // Without --distinct-exact, the limit `lg_k` raised where it had to.
    if let Some(limit) = args.distinct_exact {
        distinct = distinct.exact_limit(limit)?;
    }
    spec.distinct_config(distinct);
    Ok(spec)
}

fn features_general(global: &Global, args: &FeaturesArgs) -> Result<()> {
    let spec = feature_spec(args)?;
    if args.partial {
        check_partial_output(&args.output)?;
    }
    let inputs = open_inputs(global, &args.files, can_stream(global))?;
    let job = spec.build(&inputs)?;
    let mut runner = runner(global);
    if global.chunk_size.is_none() {
        let total = inputs.iter().map(|s| s.stored_len().unwrap_or(0)).sum();
        let default = runner.effective_chunk_size(total);
        runner.chunk_size(pagemill_features::suggested_chunk_size(total, default));
    }
    let (batch, malformed) = if args.partial {
        let outcome = run_job_partial(global, runner, &job, &inputs)?;
        // Merging the pieces left waiting runs on the run's threads.
        (pool(global)?.install(|| job.partial_batch(outcome.output)), outcome.malformed)
    } else {
        let outcome = run_job_with(global, runner, &job, &inputs)?;
        (outcome.output, outcome.malformed)
    };
    let options = format!(
        "key={} value={} distinct={} quantiles={:?} agg={:?}",
        args.key.join(","),
        args.value.join(","),
        args.distinct.join(","),
        args.quantiles,
        args.agg
    );
    let schema = attach_metadata(batch.schema().as_ref().clone(), "features", &options, &inputs, &malformed);
    write_results(global, &args.output, &Arc::new(schema), &[batch], &inputs)
}

fn features_brc(global: &Global, args: &FeaturesArgs) -> Result<()> {
    if args.partial {
        check_partial_output(&args.output)?;
    }
    let inputs = open_inputs(global, &args.files, can_stream(global))?;
    let outcome = run_job(global, &Brc::new(), &inputs)?;
    if args.partial {
        let batch = outcome.output.to_partial_batch();
        let schema =
            attach_metadata(batch.schema().as_ref().clone(), "features", "preset=1brc", &inputs, &outcome.malformed);
        return write_results(global, &args.output, &Arc::new(schema), &[batch], &inputs);
    }
    if brc_as_table(&args.output) {
        let batch = outcome.output.to_record_batch();
        let schema =
            attach_metadata(batch.schema().as_ref().clone(), "features", "preset=1brc", &inputs, &outcome.malformed);
        return write_results(global, &args.output, &Arc::new(schema), &[batch], &inputs);
    }
    write_brc_official(&args.output, &outcome.output, &inputs)
}

/// Whether 1BRC results go out as a table (an output format asked for, by
/// name or by `-o`'s extension; `-o -` asks for Arrow on stdout, as for every
/// job, see choose_format) rather than as the challenge's one line.
fn brc_as_table(output: &OutputArgs) -> bool {
    let path = output.output.as_deref();
    output.output_format.is_some()
        || path.is_some_and(|p| p == Path::new("-"))
        || path.and_then(|p| p.extension()).and_then(|e| e.to_str()).and_then(OutputFormat::from_extension).is_some()
}

/// Write `result` as the challenge's one line to `-o` (atomically, never
/// onto one of `inputs`) or stdout.
fn write_brc_official(output: &OutputArgs, result: &BrcResult, inputs: &[Source]) -> Result<()> {
    let text = result.to_official();
    match output.output.as_deref() {
        Some(path) if path != Path::new("-") => write_text_file(path, &text, inputs)?,
        _ => {
            use std::io::IsTerminal;
            let mut out = std::io::stdout().lock();
            // Byte for byte, as the challenge prints it; on a terminal, a
            // station name's escape sequences are shown, not obeyed.
            if out.is_terminal() {
                let line = text.strip_suffix('\n').unwrap_or(&text);
                writeln!(out, "{}", pagemill_arrow::terminal_safe(line))?;
            } else {
                out.write_all(text.as_bytes())?;
            }
            out.flush()?;
        }
    }
    Ok(())
}

/// Write `text` to the file `path`, atomically and never onto one of
/// `inputs`.
fn write_text_file(path: &Path, text: &str, inputs: &[Source]) -> Result<()> {
    let mut file = AtomicFile::create(path, inputs)?;
    file.write_all(text.as_bytes()).with_context(|| format!("cannot write output {}", path.display()))?;
    Ok(file.commit()?)
}

pub fn show(global: &Global, args: &ShowArgs) -> Result<()> {
    let limit = if args.schema { Some(0) } else { args.limit };
    // Mapped by default, so that IPC files are read in place; `--mmap never`
    // reads them into memory.
    let mut opts = OpenOptions::new();
    opts.mmap(if global.mmap == MmapChoice::never() { MmapChoice::never() } else { MmapChoice::always() });
    let results = read_results_from(open_result(&opts, &args.file)?, limit)?;
    // The file shown is this command's input: never write onto it.
    let mut opts = OpenOptions::new();
    opts.mmap(global.mmap);
    let inputs: Vec<Source> = reopen_result(&opts, &args.file)?.into_iter().collect();
    if args.schema {
        let path = args.output.output.as_deref().filter(|p| *p != Path::new("-"));
        if (path.is_some() || args.output.output_format.is_some())
            && choose_format(args.output.output_format, path).is_binary()
        {
            bail!("--schema writes a text description, not Arrow or Parquet: name a .txt file, or leave out -o");
        }
        let text = describe_schema(&results.schema);
        return match path {
            Some(path) => write_text_file(path, &text, &inputs),
            _ => {
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes())?;
                Ok(out.flush()?)
            }
        };
    }
    let shown: usize = results.batches.iter().map(RecordBatch::num_rows).sum();
    let cut = (shown as u64) < results.total_rows;
    let mut schema = results.schema.clone();
    let stripped = cut && schema.metadata().contains_key(pagemill_engine::PARTIAL_KEY);
    if stripped {
        // Some of a partial's groups are not a partial of the inputs it
        // names: written without its partial keys, `merge` refuses it
        // instead of merging what is left as if it were all.
        let mut metadata = schema.metadata().clone();
        metadata.retain(|key, _| !key.starts_with(pagemill_engine::PARTIAL_KEY));
        schema = Arc::new(Schema::new_with_metadata(schema.fields().clone(), metadata));
    }
    let batches = if !stripped {
        results.batches
    } else {
        let rebuilt = results.batches.iter().map(|b| {
            let rows = arrow_array::RecordBatchOptions::new().with_row_count(Some(b.num_rows()));
            RecordBatch::try_new_with_options(schema.clone(), b.columns().to_vec(), &rows)
        });
        rebuilt.collect::<Result<Vec<_>, _>>().context("cannot show the result")?
    };
    write_results(global, &args.output, &schema, &batches, &inputs)?;
    if cut {
        let binary = choose_format(args.output.output_format, args.output.output.as_deref()).is_binary();
        let note = if stripped && binary { " (not a partial to merge)" } else { "" };
        eprintln!("pagemill: showing {shown} of {} rows{note}", results.total_rows);
    }
    Ok(())
}

/// A result file to read, `-` for stdin (an Arrow stream piped from
/// another pagemill's `-o -`, say).
fn open_result(opts: &OpenOptions, file: &Path) -> Result<Source> {
    Ok(if file.as_os_str() == "-" { opts.stdin()? } else { opts.open(file)? })
}

/// A result file opened again, after it was read, only to keep outputs off
/// it: stdin (whose second opening finds what the first left, enough to
/// know where it comes from) and regular files. A named pipe is not
/// opened again: its writer is gone, so the opening would wait forever, and
/// no output can land on it.
fn reopen_result(opts: &OpenOptions, file: &Path) -> Result<Option<Source>> {
    if file.as_os_str() != "-" && !std::fs::metadata(file).is_ok_and(|m| m.is_file()) {
        return Ok(None);
    }
    open_result(opts, file).map(Some)
}

pub fn merge(global: &Global, args: &MergeArgs) -> Result<()> {
    if args.partial {
        check_partial_output(&args.output)?;
    }
    refuse_stdin_twice(&args.files)?;
    let mut opts = OpenOptions::new();
    opts.mmap(if global.mmap == MmapChoice::never() { MmapChoice::never() } else { MmapChoice::always() });
    let mut kind: Option<String> = None;
    let mut batches: Vec<RecordBatch> = Vec::new();
    let mut metadata: Vec<RunMetadata> = Vec::new();
    for file in &args.files {
        let results = read_results_from(open_result(&opts, file)?, None)?;
        let name = file.display();
        let Some(this) = results.schema.metadata().get(PARTIAL_KEY) else {
            bail!("{name}: not a partial result (write one with the job's --partial flag)");
        };
        match &kind {
            None => kind = Some(this.clone()),
            Some(k) if k != this => bail!("{name}: a {this} partial cannot merge with the {k} partials before it"),
            Some(_) => {}
        }
        metadata.extend(RunMetadata::from_schema(&results.schema));
        // One batch per partial, with the schema metadata that holds its spec
        // (an empty partial still carries it).
        batches.push(results.concat().with_context(|| format!("{name}: cannot read"))?);
    }
    let kind = kind.expect("clap requires at least one file");
    let mut options: Option<String> = None;
    let mut official: Option<BrcResult> = None;
    let context = || format!("cannot merge {kind} partials");
    let batch = match kind.as_str() {
        FEATURES_PARTIAL => {
            let (job, merged) = pagemill_features::merge_partial_batches(&batches).with_context(context)?;
            if args.partial {
                pool(global)?.install(|| job.partial_batch(merged))
            } else {
                runner(global).finish(&job, merged, &[])?
            }
        }
        BRC_PARTIAL => {
            let result = BrcResult::merge_partials(&batches).with_context(context)?;
            let batch = if args.partial { result.to_partial_batch() } else { result.to_record_batch() };
            if !args.partial && !brc_as_table(&args.output) {
                // As a run over all the inputs prints it.
                official = Some(result);
            }
            batch
        }
        pagemill_logs::PARTIAL_KIND => {
            let (job, merged) = pagemill_logs::merge_partial_batches(&batches).with_context(context)?;
            // The options (log format) of the partial whose job merged: the
            // first that read a line (an empty log's says nothing).
            let read_lines = |b: &RecordBatch| pagemill_logs::partial_lines(b).is_ok_and(|n| n > 0);
            if let Some(m) = batches.iter().find(|b| read_lines(b)).and_then(|b| RunMetadata::from_schema(&b.schema()))
            {
                options = Some(m.options);
            }
            if args.partial { job.partial_batch(merged) } else { runner(global).finish(&job, merged, &[])?.batch }
        }
        COUNT_PARTIAL => {
            // Counts of one record format only (`records=lines` and
            // `records=csv` count different things).
            let options = |b: &RecordBatch| b.schema().metadata().get(pagemill_arrow::KEY_OPTIONS).cloned();
            if let Some((i, b)) = batches.iter().enumerate().find(|(_, b)| options(b) != options(&batches[0])) {
                bail!(
                    "{}: {}: counted with {}, the first partial with {}",
                    context(),
                    args.files[i].display(),
                    options(b).unwrap_or_default(),
                    options(&batches[0]).unwrap_or_default()
                );
            }
            // Counts are per input: the merged table lists every input.
            let (mut files, mut records) = (Vec::new(), Vec::new());
            for b in &batches {
                let (Some(f), Some(r)) = (
                    b.column_by_name("file").and_then(|c| c.as_any().downcast_ref::<StringArray>()),
                    b.column_by_name("records").and_then(|c| c.as_any().downcast_ref::<UInt64Array>()),
                ) else {
                    bail!("{}: count partials need a Utf8 'file' and a UInt64 'records' column", context());
                };
                files.extend(f.iter().map(|v| v.unwrap_or_default().to_string()));
                records.extend(r.iter().map(Option::unwrap_or_default));
            }
            let schema = batches[0].schema();
            let schema = if args.partial { schema } else { Arc::new(Schema::new(schema.fields().clone())) };
            RecordBatch::try_new(
                schema,
                vec![Arc::new(StringArray::from(files)), Arc::new(UInt64Array::from(records))],
            )?
        }
        other => {
            bail!("cannot merge {other} partials: this pagemill ({}) does not know them", env!("CARGO_PKG_VERSION"))
        }
    };
    // A merged table of groups holds as many as a run over all the inputs
    // would: the same limit applies (count partials list inputs, not groups).
    if global.max_groups > 0 && kind != COUNT_PARTIAL && batch.num_rows() > global.max_groups {
        return Err(pagemill_engine::Error::TooManyGroups { limit: global.max_groups, seen: batch.num_rows() }.into());
    }
    if let Some(result) = official {
        return write_brc_official(&args.output, &result, &reopen_all(global, &args.files)?);
    }
    let schema = match RunMetadata::merged(&metadata) {
        Some(mut m) => {
            m.options = options.unwrap_or(m.options);
            m.apply(batch.schema().as_ref().clone())
        }
        None => batch.schema().as_ref().clone(),
    };
    // The partials are this command's inputs: never write onto one.
    let inputs = reopen_all(global, &args.files)?;
    write_results(global, &args.output, &Arc::new(schema), &[batch], &inputs)
}

/// The partial files of a merge, opened again as inputs that output must
/// never be written onto (see reopen_result).
fn reopen_all(global: &Global, files: &[PathBuf]) -> Result<Vec<Source>> {
    let mut opts = OpenOptions::new();
    opts.mmap(global.mmap);
    let mut inputs = Vec::new();
    for f in files {
        inputs.extend(reopen_result(&opts, f)?);
    }
    Ok(inputs)
}

pub(crate) fn pool(global: &Global) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new().num_threads(global.threads).build().context("cannot start worker threads")
}

/// Write generated data to `output` (atomically) or stdout, generating on a
/// pool of the global thread count.
fn write_generated(
    global: &Global,
    output: Option<&Path>,
    generate: impl Fn(&mut dyn Write) -> std::io::Result<()> + Send + Sync,
) -> Result<()> {
    let pool = pool(global)?;
    match output {
        Some(path) if path != Path::new("-") => {
            let mut file = AtomicFile::create(path, &[])?;
            pool.install(|| generate(&mut file)).with_context(|| format!("cannot write output {}", path.display()))?;
            file.commit()?;
        }
        _ => {
            let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout());
            pool.install(|| generate(&mut out))?;
            out.flush()?;
        }
    }
    Ok(())
}

pub fn generate(global: &Global, command: &GenCommand) -> Result<()> {
    match command {
        GenCommand::Measurements(args) => {
            let stations =
                if args.stations == "10k" { Stations::synthetic(10_000, args.seed) } else { Stations::official() };
            let generator = Measurements::new(stations, args.rows, args.seed);
            write_generated(global, args.output.as_deref(), |mut w| generator.write_to(&mut w))
        }
        GenCommand::AccessLog(args) => {
            let generator = AccessLog::new(args.rows, args.log_format, args.seed).path_ids(args.path_ids);
            write_generated(global, args.output.as_deref(), |mut w| generator.write_to(&mut w))
        }
        GenCommand::Csv(args) => {
            let generator = Flights::new(args.rows, args.seed);
            write_generated(global, args.output.as_deref(), |mut w| generator.write_to(&mut w))
        }
        GenCommand::Records(args) => {
            use std::io::IsTerminal;
            // Binary records, like Arrow output, are no text for a terminal.
            if args.output.as_deref().is_none_or(|p| p == Path::new("-")) && std::io::stdout().is_terminal() {
                bail!("refusing to write binary records to a terminal; redirect stdout or use -o FILE");
            }
            let generator = Records::new(args.rows, args.seed);
            write_generated(global, args.output.as_deref(), |mut w| generator.write_to(&mut w))
        }
    }
}

/// How many bytes of an input `--log-format auto` looks at: whole lines in
/// these, or up to [`DETECT_LIMIT`] for a first line longer than them.
const DETECT_BYTES: usize = 64 << 10;

/// The most bytes read for the first whole line of a detection sample.
const DETECT_LIMIT: usize = 64 << 20;

/// The start of `input` that `--log-format auto` looks at: the whole lines
/// of its first [`DETECT_BYTES`] (a line cut there would fail to parse and
/// count against the format), read further for a longer first line.
fn detect_sample<'a>(input: &'a Source) -> Result<Cow<'a, [u8]>> {
    let mut n = DETECT_BYTES;
    loop {
        let head = input.head(n)?;
        if head.len() < n {
            return Ok(head);
        }
        if let Some(end) = head.iter().rposition(|&b| b == b'\n') {
            return Ok(match head {
                Cow::Borrowed(b) => Cow::Borrowed(&b[..=end]),
                Cow::Owned(mut v) => {
                    v.truncate(end + 1);
                    Cow::Owned(v)
                }
            });
        }
        if n >= DETECT_LIMIT {
            return Ok(head);
        }
        n *= 2;
    }
}

/// The log format `--log-format` names (`auto`: detected from the first
/// [`DETECT_BYTES`] of the first input that has a non-blank line there),
/// with the `--json-field` settings applied.
pub(crate) fn log_format(name: &str, json_field: &[String], inputs: &[Source]) -> Result<LogFormat> {
    let mut sample = Default::default();
    let mut sampled = None;
    if name == "auto" {
        // The first input with a line to look at: a just-rotated, empty
        // access.log first must not decide the format of the others.
        for input in inputs {
            sample = detect_sample(input)?;
            sampled = Some(input.name());
            let text = sample.strip_prefix(pagemill_split::BOM).unwrap_or(&sample);
            if text.split(|&b| b == b'\n').any(|l| !l.iter().all(u8::is_ascii_whitespace)) {
                break;
            }
        }
    }
    let mut format = match (LogFormat::resolve(name, &sample), sampled) {
        (Ok(format), _) => format,
        // Name the input whose lines were looked at.
        (Err(e), Some(input)) => bail!("{input}: {e}"),
        (Err(e), None) => return Err(e.into()),
    };
    if !json_field.is_empty() {
        let mut fields = JsonFields::default();
        for setting in json_field {
            fields.apply(setting)?;
        }
        format.set_json_fields(fields)?;
    }
    Ok(format)
}

/// Build the logs job from the flags: the format (detected from the first
/// input for `auto`), JSON field names, grouping, metrics, filters.
fn logs_job(args: &LogsArgs, inputs: &[Source]) -> Result<LogJob> {
    let format = log_format(&args.log_format, &args.json_field, inputs)?;
    log::debug!("log format: {format}");
    let mut job = LogJob::new(format);
    job.group_by(&args.group_by)?.bucket(args.bucket).distinct_exact_limit(args.distinct_exact_limit);
    if !args.metrics.is_empty() {
        job.metrics(&args.metrics);
    }
    for top in &args.top {
        job.top(*top);
    }
    for filter in &args.filters {
        job.filter(filter.clone());
    }
    if let Some(t) = args.since {
        job.since(t);
    }
    if let Some(t) = args.until {
        job.until(t);
    }
    job.collect_rejects(args.rejects.is_some());
    Ok(job)
}

/// Whether writes to `a` and `b` land in the same file: the same file if
/// both exist, else the same name in the same directory, symbolic links
/// followed.
fn same_destination(a: &Path, b: &Path) -> bool {
    // A device or FIFO is written in place, not replaced: two writers of
    // /dev/null, or of one terminal, overwrite nothing of each other's.
    let special = |p: &Path| std::fs::metadata(p).is_ok_and(|m| !m.is_file());
    if special(a) || special(b) {
        return false;
    }
    match (FileId::of_path(a), FileId::of_path(b)) {
        (Some(x), Some(y)) => x == y,
        _ => AtomicFile::landing_path(a).is_some_and(|x| Some(x) == AtomicFile::landing_path(b)),
    }
}

pub fn logs(global: &Global, args: &LogsArgs) -> Result<()> {
    if args.partial {
        check_partial_output(&args.output)?;
        if args.rejects.is_some() {
            bail!("--rejects cannot be combined with --partial: write rejected lines in a run without --partial");
        }
    }
    if args.rejects.as_deref().is_some_and(|r| r.as_os_str() == "-") {
        // Not a file named `-`; stdout carries the report (use /dev/stdout
        // with -o FILE to have the rejected lines there).
        bail!("--rejects needs a file name, not -: stdout carries the report");
    }
    if args.rejects.is_some() && global.workers == Workers::Processes {
        bail!("--rejects needs --workers threads: worker processes hand back aggregates, not rejected lines");
    }
    if let (Some(rejects), Some(output)) = (&args.rejects, &args.output.output)
        && output.as_os_str() != "-"
        && same_destination(rejects, output)
    {
        bail!("{}: --rejects and -o name the same file; one would overwrite the other", rejects.display());
    }
    // Rejected lines are copied out of the inputs by byte range afterwards.
    let inputs = open_inputs(global, &args.files, can_stream(global) && args.rejects.is_none())?;
    let job = logs_job(args, &inputs)?;
    let mut runner = runner(global);
    if global.chunk_size.is_none() {
        let total = inputs.iter().map(|s| s.stored_len().unwrap_or(0)).sum();
        let default = runner.effective_chunk_size(total);
        runner.chunk_size(pagemill_logs::suggested_chunk_size(total, runner.effective_threads(), default));
    }
    let options = format!(
        "log-format={} group-by={:?} metrics={:?} top={:?} where={:?} since={:?} until={:?}",
        job.log_format(),
        args.group_by,
        args.metrics,
        args.top,
        args.filters,
        args.since,
        args.until
    );
    if args.partial {
        let outcome = run_job_partial(global, runner, &job, &inputs)?;
        let batch = job.partial_batch(outcome.output);
        let schema = attach_metadata(batch.schema().as_ref().clone(), "logs", &options, &inputs, &outcome.malformed);
        return write_results(global, &args.output, &Arc::new(schema), &[batch], &inputs);
    }
    let outcome = run_job_with(global, runner, &job, &inputs)?;
    let report = &outcome.output;
    let t = report.totals;
    if t.lines > 0 && t.matched == 0 {
        eprintln!(
            "pagemill: logs: no record kept of {} lines ({} parsed as {}, {} filtered out)",
            t.lines,
            t.parsed,
            job.log_format(),
            t.parsed - t.matched
        );
    }
    if let Some(path) = &args.rejects {
        let n = pagemill_logs::write_rejects(report, &inputs, path)?;
        eprint_lines(&format!("pagemill: logs: wrote {n} rejected lines to {}", path.display()));
    }
    let schema = attach_metadata(report.schema().as_ref().clone(), "logs", &options, &inputs, &outcome.malformed);
    write_results(global, &args.output, &Arc::new(schema), std::slice::from_ref(&report.batch), &inputs)
}

/// Scratch folders of this process, for [`remove_scratch_dirs`].
static SCRATCH: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

fn scratch() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    SCRATCH.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Remove every scratch folder still in use: what the interrupt handler
/// calls, since an exit from a signal runs no destructor.
pub fn remove_scratch_dirs() {
    for dir in scratch().drain(..) {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A scratch folder, removed when dropped or when the run is interrupted.
struct TempDir(PathBuf);

impl TempDir {
    fn new(path: PathBuf) -> TempDir {
        scratch().push(path.clone());
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let mut dirs = scratch();
        let _ = std::fs::remove_dir_all(&self.0);
        dirs.retain(|d| d != &self.0);
    }
}

pub fn demo(global: &Global, args: &DemoArgs) -> Result<()> {
    let dir = TempDir::new(std::env::temp_dir().join(format!("pagemill-demo-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).with_context(|| format!("{}: cannot create", dir.0.display()))?;
    let path = dir.0.join("measurements.txt");
    // Written, not printed: a closed or full stdout is an error, not a panic.
    let mut out = std::io::stdout();

    writeln!(out, "pagemill demo")?;
    writeln!(out, "=============")?;
    let started = Instant::now();
    let generator = Measurements::new(Stations::official(), args.rows, 42);
    let mut file = AtomicFile::create(&path, &[])?;
    pool(global)?.install(|| generator.write_to(&mut file))?;
    file.commit()?;
    let size = std::fs::metadata(&path)?.len();
    writeln!(
        out,
        "generated {} 1BRC rows (413 official stations, seed 42): {} in {:.2?}",
        args.rows,
        human_bytes(size),
        started.elapsed()
    )?;

    let mut opts = OpenOptions::new();
    opts.mmap(global.mmap);
    let inputs = vec![opts.open(&path)?];
    let runner = runner(global);

    writeln!(out)?;
    writeln!(out, "$ pagemill count {}", path.display())?;
    let started = Instant::now();
    let outcome = runner.run(&CountRecords::new(Lines), &inputs)?;
    let elapsed = started.elapsed();
    report_malformed(&outcome.malformed);
    writeln!(
        out,
        "records: {}  ({} chunks on {} threads, {}, {:.2?}, {}/s)",
        outcome.output[0],
        outcome.chunks,
        outcome.threads,
        if inputs[0].is_mapped() { "memory-mapped" } else { "read into memory" },
        elapsed,
        human_bytes((outcome.bytes as f64 / elapsed.as_secs_f64().max(1e-9)) as u64),
    )?;

    writeln!(out)?;
    writeln!(out, "$ pagemill features --preset 1brc {}", path.display())?;
    let started = Instant::now();
    let outcome = runner.run(&Brc::new(), &inputs)?;
    let elapsed = started.elapsed();
    report_malformed(&outcome.malformed);
    let official = outcome.output.to_official();
    const SHOW: usize = 400;
    let cut = official.char_indices().map(|(i, _)| i).take_while(|&i| i <= SHOW).last().unwrap_or(0);
    if official.len() > SHOW {
        writeln!(out, "{}… ({} stations)", &official[..cut], outcome.output.stations.len())?;
    } else {
        write!(out, "{official}")?;
    }
    writeln!(
        out,
        "{} rows, {} stations in {:.2?} ({}/s)",
        outcome.output.stations.iter().map(|s| s.count).sum::<u64>(),
        outcome.output.stations.len(),
        elapsed,
        human_bytes((outcome.bytes as f64 / elapsed.as_secs_f64().max(1e-9)) as u64),
    )?;

    let rows = (args.rows / 4).max(1);
    let log = dir.0.join("access.log");
    let generator = AccessLog::new(rows, AccessLogFormat::Timed, 42);
    let mut file = AtomicFile::create(&log, &[])?;
    pool(global)?.install(|| generator.write_to(&mut file))?;
    file.commit()?;
    writeln!(out)?;
    writeln!(
        out,
        "generated {rows} access-log lines (timed: combined + $request_time): {}",
        human_bytes(std::fs::metadata(&log)?.len())
    )?;
    writeln!(
        out,
        "$ pagemill logs --group-by status_class --metrics requests,bytes_mean,latency_p50,latency_p99,distinct_ips {}",
        log.display()
    )?;
    let inputs = vec![opts.open(&log)?];
    let mut job = LogJob::new(LogFormat::detect(inputs[0].bytes())?);
    job.group_by(&[GroupField::StatusClass])?.metrics(&[
        Metric::Requests,
        Metric::BytesMean,
        Metric::LatencyP50,
        Metric::LatencyP99,
        Metric::DistinctIps,
    ]);
    let started = Instant::now();
    let outcome = runner.run(&job, &inputs)?;
    let elapsed = started.elapsed();
    report_malformed(&outcome.malformed);
    let report = outcome.output;
    write_batches(&report.schema(), std::slice::from_ref(&report.batch), OutputFormat::Table, None, &inputs)?;
    writeln!(
        out,
        "({} lines in {:.2?}, {}/s)",
        report.totals.lines,
        elapsed,
        human_bytes((outcome.bytes as f64 / elapsed.as_secs_f64().max(1e-9)) as u64)
    )?;

    let csv = dir.0.join("flights.csv");
    let generator = Flights::new(rows, 42);
    let mut file = AtomicFile::create(&csv, &[])?;
    pool(global)?.install(|| generator.write_to(&mut file))?;
    file.commit()?;
    writeln!(out)?;
    writeln!(out, "generated {rows} flights-like CSV rows: {}", human_bytes(std::fs::metadata(&csv)?.len()))?;
    writeln!(
        out,
        "$ pagemill features --key carrier --value arr_delay --agg count,missing,mean,std,p99 --distinct dest {}",
        csv.display()
    )?;
    let inputs = vec![opts.open(&csv)?];
    let mut spec = FeatureSpec::delimited(Dialect::csv());
    spec.key("carrier").value("arr_delay").distinct("dest").aggs(
        ["count", "missing", "mean", "std", "p99"].iter().map(|a| Some(a.parse::<Agg>().expect("known feature"))),
    );
    let job = spec.build(&inputs)?;
    let started = Instant::now();
    let outcome = runner.run(&job, &inputs)?;
    let elapsed = started.elapsed();
    report_malformed(&outcome.malformed);
    let batch = outcome.output;
    write_batches(&batch.schema(), std::slice::from_ref(&batch), OutputFormat::Table, None, &inputs)?;
    writeln!(
        out,
        "({} keys in {:.2?}, {}/s)",
        batch.num_rows(),
        elapsed,
        human_bytes((outcome.bytes as f64 / elapsed.as_secs_f64().max(1e-9)) as u64)
    )?;
    Ok(())
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}
