//! `pagemill sql`: SQL over files with DataFusion, on pagemill's table
//! providers (feature `sql`).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow_schema::SchemaRef;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::DFParser;
use pagemill_datafusion::{DelimitedOptions, PagemillTable, register_functions};
use pagemill_features::{Dialect, Layout};
use pagemill_mmap::{FileId, Source};

use crate::args::{Global, SqlArgs, Workers};
use crate::commands::{data_extension, log_format, open_inputs, report_malformed, write_results};

/// Refuse statements that write files (`COPY ... TO`, `INSERT INTO` a file
/// table): DataFusion writes them in place, neither whole-or-nothing nor
/// kept off the inputs (a `COPY` onto an input rewrote it). Results go out
/// with `-o FILE`, which is both.
fn refuse_writes(plan: &datafusion::logical_expr::LogicalPlan) -> datafusion::error::Result<()> {
    use datafusion::common::tree_node::TreeNode;
    use datafusion::logical_expr::LogicalPlan;
    // Anywhere in the plan: `EXPLAIN ANALYZE COPY ...` runs the COPY it wraps.
    if plan.exists(|node| Ok(matches!(node, LogicalPlan::Copy(_) | LogicalPlan::Dml(_))))? {
        return Err(datafusion::error::DataFusionError::Plan(
            "COPY and INSERT are not supported: write the query's result with -o FILE".into(),
        ));
    }
    Ok(())
}

/// The kinds `--table NAME=PATH:KIND` takes.
const KINDS: [&str; 11] =
    ["logs", "common", "combined", "timed", "main", "vhost_combined", "json", "csv", "tsv", "1brc", "binary"];

/// One `--table` flag: a table name, a path, and the kind of its records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSpec {
    pub name: String,
    pub path: PathBuf,
    pub kind: String,
}

/// `NAME=PATH[:KIND]`. Without a kind, `.csv` and `.tsv` files (also
/// compressed: `.csv.gz`, `.tsv.zst`) are delimited and anything else is a
/// log (format detected).
pub fn parse_table(s: &str) -> Result<TableSpec, String> {
    let (name, rest) = s.split_once('=').ok_or_else(|| format!("expected NAME=PATH[:KIND], got '{s}'"))?;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("table name '{name}': use letters, digits and _"));
    }
    let (path, kind) = match rest.rsplit_once(':') {
        Some((path, kind)) if KINDS.contains(&kind) => (path, kind.to_string()),
        // `data.parquet:parquet`: a word after the last ':' of a path that
        // does not exist is a kind misspelt, not part of the name.
        Some((_, word))
            if !word.is_empty()
                && word.chars().all(|c| c.is_ascii_alphanumeric())
                && !std::path::Path::new(rest).exists() =>
        {
            return Err(format!("unknown kind '{word}' (kinds: {})", KINDS.join(", ")));
        }
        _ => {
            let kind = match data_extension(std::path::Path::new(rest)).as_deref() {
                Some("csv") => "csv",
                Some("tsv") => "tsv",
                _ => "logs",
            };
            (rest, kind.to_string())
        }
    };
    if path.is_empty() {
        return Err(format!("table '{name}' has no path"));
    }
    Ok(TableSpec { name: name.to_string(), path: PathBuf::from(path), kind })
}

/// Build the table `specs` (all of one name) describe.
fn table(global: &Global, args: &SqlArgs, name: &str, specs: &[&TableSpec]) -> Result<PagemillTable> {
    let kind = specs[0].kind.as_str();
    if let Some(other) = specs.iter().find(|s| s.kind != kind) {
        bail!("table {name}: its inputs are of different kinds ({kind} and {})", other.kind);
    }
    let paths: Vec<PathBuf> = specs.iter().map(|s| s.path.clone()).collect();
    let sources: Vec<Source> = open_inputs(global, &paths, false)?;
    let table = match kind {
        "csv" | "tsv" => {
            let mut dialect = if kind == "tsv" { Dialect::tsv() } else { Dialect::csv() };
            if let Some(d) = args.delimiter {
                dialect = dialect.delimiter(d);
            }
            dialect = dialect.header(!args.no_header);
            PagemillTable::delimited(sources, DelimitedOptions::new(dialect))?
        }
        "1brc" => PagemillTable::brc(sources)?,
        "binary" => {
            let Some(size) = args.record_size else {
                bail!("table {name}: binary tables need --record-size and --field");
            };
            PagemillTable::binary(sources, Layout::new(size, args.field.clone())?)?
        }
        _ => {
            let spec = match (kind, &args.log_format) {
                ("logs", Some(f)) => f.as_str(),
                ("logs", None) => "auto",
                (preset, _) => preset,
            };
            let format = log_format(spec, &args.json_field, &sources)?;
            log::debug!("table {name}: log format {format}");
            PagemillTable::logs(sources, format)?
        }
    };
    Ok(match global.chunk_size {
        Some(size) => table.with_chunk_size(size),
        None => table,
    })
}

/// The scheduler of `--scheduler`, if the query runs on a cluster.
fn scheduler(args: &SqlArgs) -> Option<&str> {
    #[cfg(feature = "ballista")]
    return args.scheduler.as_deref();
    #[cfg(not(feature = "ballista"))]
    {
        let _ = args;
        None
    }
}

/// The session the query runs in: on the Ballista cluster of
/// `--scheduler`, else local with `threads` partitions.
fn session(
    global: &Global,
    args: &SqlArgs,
    runtime: &tokio::runtime::Runtime,
    threads: usize,
) -> Result<SessionContext> {
    #[cfg(feature = "ballista")]
    if let Some(url) = scheduler(args) {
        if global.strict {
            bail!(
                "--strict needs the malformed records, which a Ballista cluster counts on its executors (in \
                 their logs): run without --scheduler"
            );
        }
        return runtime.block_on(pagemill_ballista::connect(url)).with_context(|| format!("scheduler {url}"));
    }
    let _ = (global, args, runtime);
    let config = SessionConfig::new().with_target_partitions(threads).with_information_schema(true);
    let ctx = SessionContext::new_with_config(config);
    register_functions(&ctx);
    Ok(ctx)
}

pub fn sql(global: &Global, args: &SqlArgs) -> Result<()> {
    if global.workers == Workers::Processes {
        bail!("sql runs on threads (--workers threads): DataFusion schedules the scan's partitions itself");
    }
    let threads = match global.threads {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .context("cannot start the query runtime")?;
    let ctx = session(global, args, &runtime, threads)?;
    let mut names: Vec<&str> = Vec::new();
    for spec in &args.table {
        if !names.contains(&spec.name.as_str()) {
            names.push(&spec.name);
        }
    }
    let mut tables = Vec::new();
    let mut input_ids = Vec::new();
    for name in names {
        let specs: Vec<&TableSpec> = args.table.iter().filter(|s| s.name == name).collect();
        let table = table(global, args, name, &specs)?;
        input_ids.extend(table.sources().iter().filter_map(Source::file_id));
        ctx.register_table(name, Arc::new(table.clone())).with_context(|| format!("table {name}"))?;
        tables.push(table);
    }
    // Nothing writes to an input (the tables hold the inputs, so the
    // output writer's own check cannot see them).
    if let Some(path) = &args.output.output
        && let Some(id) = FileId::of_path(path)
        && input_ids.contains(&id)
    {
        return Err(pagemill_engine::Error::OutputIsInput { path: path.clone() }.into());
    }
    let (schema, batches) = runtime
        .block_on(async {
            // Statements run in order (`CREATE VIEW v AS ...; SELECT ... FROM v`);
            // the last one's result is written.
            let mut statements = DFParser::parse_sql(&args.query)?;
            let last = statements
                .pop_back()
                .ok_or_else(|| datafusion::error::DataFusionError::Plan("no SQL statement given".into()))?;
            for statement in statements {
                let plan = ctx.state().statement_to_plan(statement).await?;
                refuse_writes(&plan)?;
                ctx.execute_logical_plan(plan).await?.collect().await?;
            }
            let plan = ctx.state().statement_to_plan(last).await?;
            refuse_writes(&plan)?;
            let df = ctx.execute_logical_plan(plan).await?;
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            let batches = df.collect().await?;
            Ok::<_, datafusion::error::DataFusionError>((schema, batches))
        })
        .map_err(|e| {
            // One line, once: DataFusion's message already names its causes.
            let e = e.find_root().strip_backtrace();
            let e = e.split_whitespace().collect::<Vec<_>>().join(" ");
            match scheduler(args) {
                Some(url) => anyhow::anyhow!("on the Ballista scheduler {url}: {e}"),
                None => anyhow::anyhow!("{e}"),
            }
        })?;
    let mut malformed = pagemill_engine::Malformed::new(5);
    for t in &tables {
        malformed.merge(t.take_malformed());
    }
    if global.strict
        && let Some(first) = malformed.samples().first()
    {
        bail!("{}", pagemill_engine::Error::Strict(Box::new(first.clone())));
    }
    report_malformed(&malformed);
    write_results(global, &args.output, &schema, &batches, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_kind_follows_the_extension_under_compression() {
        let cases = [
            ("t=a.csv", "csv"),
            ("t=a.CSV.gz", "csv"),
            ("t=a.tsv.zst", "tsv"),
            ("t=access.log.gz", "logs"),
            ("t=a.csv:logs", "logs"),
            ("t=x.gz", "logs"),
        ];
        for (spec, kind) in cases {
            assert_eq!(parse_table(spec).unwrap().kind, kind, "{spec}");
        }
    }
}
