//! Tables and scans sent to another process: the byte form rebuilds the same
//! table (options, schema, chunk plan) and the same scan (projection,
//! filters, limit, partitions), and bad or stale forms are errors.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::datasource::physical_plan::{FileScanConfig, FileScanConfigBuilder};
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use pagemill_datafusion::{
    DelimitedOptions, Error, PagemillTable, is_scan, register_functions, scan_from_bytes, scan_partitions,
    scan_to_bytes,
};
use pagemill_datasets::{AccessLog, AccessLogFormat, Flights, Measurements, Records, Stations};
use pagemill_features::{BinaryField, Dialect, Layout};
use pagemill_logs::{JsonFields, LogFormat};
use pagemill_mmap::{OpenOptions, Source};

/// A directory removed when the test ends.
struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn dir(name: &str) -> Dir {
    let d = std::env::temp_dir().join(format!("pagemill-portable-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    Dir(d)
}

fn write(path: &Path, f: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) {
    let mut out = Vec::new();
    f(&mut out).unwrap();
    std::fs::write(path, out).unwrap();
}

fn open(path: &Path) -> Source {
    OpenOptions::new().open(path).unwrap()
}

/// One table of every kind (with options that differ from the defaults),
/// over files in `d`.
fn tables(d: &Path) -> Vec<(&'static str, PagemillTable, &'static str)> {
    write(&d.join("a.log"), |w| {
        AccessLog::new(3_000, AccessLogFormat::Timed, 1).write_to(w)?;
        w.extend_from_slice(b"not a log line\n");
        Ok(())
    });
    write(&d.join("b.jsonl"), |w| AccessLog::new(2_000, AccessLogFormat::Json, 2).write_to(w));
    write(&d.join("f.tsv"), |w| {
        let mut csv = Vec::new();
        Flights::new(8_000, 3).write_to(&mut csv)?;
        // Semicolons, no header: another dialect than the default.
        let text = String::from_utf8(csv).unwrap();
        for line in text.lines().skip(1) {
            if !line.contains('"') {
                w.extend_from_slice(line.replace(',', ";").as_bytes());
                w.push(b'\n');
            }
        }
        Ok(())
    });
    write(&d.join("m.txt"), |w| Measurements::new(Stations::official(), 20_000, 4).write_to(w));
    write(&d.join("r.bin"), |w| Records::new(10_000, 5).write_to(w));

    let mut json = JsonFields::default();
    json.apply("latency=request_time,elapsed:ms").unwrap();
    let layout =
        Layout::new(Records::SIZE, Records::FIELDS.iter().map(|f| f.parse::<BinaryField>().unwrap()).collect())
            .unwrap();
    let dialect = Dialect::csv().delimiter(b';').header(false);
    vec![
        (
            "logs",
            PagemillTable::logs(vec![open(&d.join("a.log"))], LogFormat::timed()).unwrap(),
            "SELECT path, count(*), sum(bytes), hdr_quantile(latency, 0.9) FROM t WHERE status >= 300 \
             GROUP BY path ORDER BY path",
        ),
        (
            "json",
            PagemillTable::logs(vec![open(&d.join("b.jsonl"))], LogFormat::json_with(json)).unwrap(),
            "SELECT method, count(*), max(latency), min(time) FROM t GROUP BY method ORDER BY method",
        ),
        (
            "delimited",
            PagemillTable::delimited(
                vec![open(&d.join("f.tsv"))],
                DelimitedOptions::new(dialect).nulls(["NA", "", "-"]),
            )
            .unwrap(),
            "SELECT column_1, count(*), count(column_6), min(column_6), hll_distinct(column_4) FROM t \
             WHERE column_1 IN ('AA', 'DL', 'WN') GROUP BY column_1 ORDER BY column_1",
        ),
        (
            "1brc",
            PagemillTable::brc(vec![open(&d.join("m.txt"))]).unwrap(),
            "SELECT station, min(measurement), max(measurement), count(*) FROM t \
             WHERE station LIKE 'B%' GROUP BY station ORDER BY station",
        ),
        (
            "binary",
            PagemillTable::binary(vec![open(&d.join("r.bin"))], layout).unwrap(),
            "SELECT status, count(*), sum(sensor) FROM t WHERE sensor BETWEEN 10 AND 500 \
             GROUP BY status ORDER BY status",
        ),
    ]
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap()
}

fn context() -> SessionContext {
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(3));
    register_functions(&ctx);
    ctx
}

fn sql(table: &PagemillTable, query: &str) -> Vec<RecordBatch> {
    let ctx = context();
    ctx.register_table("t", Arc::new(table.clone())).unwrap();
    runtime().block_on(async { ctx.sql(query).await?.collect().await }).unwrap()
}

fn find_scan(plan: &Arc<dyn ExecutionPlan>) -> Option<Arc<dyn ExecutionPlan>> {
    if is_scan(plan.as_ref()) {
        return Some(Arc::clone(plan));
    }
    plan.children().into_iter().find_map(find_scan)
}

fn round_trip(plan: &Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
    scan_from_bytes(&scan_to_bytes(plan.as_ref()).unwrap().unwrap()).unwrap()
}

#[test]
fn tables_rebuild_from_their_bytes() {
    let d = dir("tables");
    for (kind, table, query) in tables(&d.0) {
        let table = table.with_chunk_size(64 << 10);
        let bytes = table.to_bytes().unwrap();
        let back = PagemillTable::from_bytes(&bytes).unwrap();
        assert_eq!(back.kind(), table.kind(), "{kind}");
        assert_eq!(back.schema(), table.schema(), "{kind}");
        assert_eq!(back.chunks(), table.chunks(), "{kind}");
        assert!(table.chunks() > 2, "{kind}: {} chunks", table.chunks());
        // The rebuilt table writes the same bytes, and answers the same.
        assert_eq!(back.to_bytes().unwrap(), bytes, "{kind}");
        let (ours, theirs) = (sql(&table, query), sql(&back, query));
        assert!(ours.iter().map(RecordBatch::num_rows).sum::<usize>() > 0, "{kind}");
        assert_eq!(ours, theirs, "{kind}");
        assert_eq!(back.take_malformed().total(), table.take_malformed().total(), "{kind}");
    }
}

#[test]
fn scans_rebuild_from_their_bytes() {
    let d = dir("scans");
    let rt = runtime();
    for (kind, table, query) in tables(&d.0) {
        let ctx = context();
        ctx.register_table("t", Arc::new(table.with_chunk_size(64 << 10))).unwrap();
        let plan = rt.block_on(async { ctx.sql(query).await?.create_physical_plan().await }).unwrap();
        let scan = find_scan(&plan).unwrap_or_else(|| panic!("{kind}: no scan in the plan"));
        let back = round_trip(&scan);
        assert_eq!(scan_partitions(back.as_ref()), scan_partitions(scan.as_ref()), "{kind}");
        assert_eq!(back.schema(), scan.schema(), "{kind}");
        // Partition by partition, in order: the rebuilt scan gives the
        // original's batches.
        let run = |s: &Arc<dyn ExecutionPlan>| -> Vec<RecordBatch> {
            (0..s.properties().output_partitioning().partition_count())
                .flat_map(|p| {
                    let stream = s.execute(p, ctx.task_ctx()).unwrap();
                    rt.block_on(datafusion::physical_plan::common::collect(stream)).unwrap()
                })
                .collect()
        };
        let original = run(&scan);
        assert!(!original.is_empty(), "{kind}");
        assert_eq!(run(&back), original, "{kind}");
        // The scan's metrics count what it parsed and what it could not.
        let metrics = scan.metrics().unwrap();
        assert!(metrics.output_rows().unwrap_or(0) > 0, "{kind}");
        let malformed = metrics.sum_by_name("malformed_records").map_or(0, |m| m.as_usize());
        assert_eq!(malformed, usize::from(kind == "logs"), "{kind}");

        // Cut down to some partitions, as Ballista cuts a scan for each task:
        // the cut scan travels as cut and reads only its own chunks.
        let groups = scan_partitions(scan.as_ref()).unwrap();
        assert!(groups.len() >= 3, "{kind}: {groups:?}");
        let config = scan.downcast_ref::<DataSourceExec>().unwrap().data_source().downcast_ref::<FileScanConfig>();
        let config = config.unwrap();
        let kept = vec![config.file_groups[2].clone(), config.file_groups[0].clone()];
        let cut: Arc<dyn ExecutionPlan> = DataSourceExec::from_data_source(
            FileScanConfigBuilder::from(config.clone()).with_file_groups(kept).build(),
        );
        let cut_back = round_trip(&cut);
        assert_eq!(scan_partitions(cut_back.as_ref()), Some(vec![groups[2].clone(), groups[0].clone()]), "{kind}");
        assert_eq!(run(&cut_back), run(&cut), "{kind}");
    }
}

#[test]
fn in_memory_inputs_cannot_travel() {
    let table = PagemillTable::brc(vec![Source::from_bytes("m", b"a;1.0\n".to_vec())]).unwrap();
    assert!(matches!(table.to_bytes(), Err(Error::NotPortable(_))));
}

#[test]
fn bad_and_stale_bytes_are_errors() {
    let d = dir("bad");
    let (_, table, _) = tables(&d.0).swap_remove(2);
    let bytes = table.to_bytes().unwrap();
    // Every truncation and a flipped byte anywhere: an error or a table,
    // never a panic.
    for n in 0..bytes.len() {
        assert!(PagemillTable::from_bytes(&bytes[..n]).is_err(), "truncated at {n}");
    }
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x5a;
        let _ = PagemillTable::from_bytes(&b);
    }
    assert!(matches!(PagemillTable::from_bytes(b"PMS2"), Err(Error::BadPlan(_))));
    // A scan's bytes are not a table's, and the other way round.
    assert!(matches!(scan_from_bytes(&bytes), Err(Error::BadPlan(_))));
    // An input that changed since the plan was made.
    std::fs::OpenOptions::new()
        .append(true)
        .open(d.0.join("f.tsv"))
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"ZZ;1\n"))
        .unwrap();
    let err = PagemillTable::from_bytes(&bytes).unwrap_err();
    assert!(matches!(err, Error::Changed(_)), "{err}");
    assert!(err.to_string().contains("f.tsv"), "{err}");
    // An input that is gone.
    std::fs::remove_file(d.0.join("f.tsv")).unwrap();
    assert!(matches!(PagemillTable::from_bytes(&bytes), Err(Error::Open(_))));
}
