//! The scan of a [`PagemillTable`]: DataFusion's file scan
//! (`DataSourceExec` over a `FileScanConfig`) with a pagemill
//! [`FileSource`] whose "files" are the table's record-aligned chunks.
//!
//! Each of the scan's partitions is a file group: a contiguous run of
//! chunks, each a `PartitionedFile` whose byte range is the chunk's. Being a
//! standard file scan, the plan is one that DataFusion's optimizer and
//! Ballista's scheduler know how to cut: Ballista gives each task only the
//! file groups of its own partitions. The source never lets DataFusion
//! re-split the ranges (they are record boundaries only pagemill's
//! partitioner can find).

use std::fmt;
use std::sync::{Arc, PoisonError};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{
    FileGroup, FileOpenFuture, FileOpener, FileScanConfig, FileScanConfigBuilder, FileSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::object_store::ObjectStore;
use datafusion::physical_plan::metrics::{Count, ExecutionPlanMetricsSet, MetricBuilder};
use datafusion::physical_plan::{DisplayFormatType, ExecutionPlan, PhysicalExpr};
use futures::StreamExt;
use pagemill_engine::{Chunk, Malformed};
use pagemill_split::{BOM, RecordFormat};

use crate::decode::{ChunkJob, decode_chunk};
use crate::error::Error;
use crate::filter::Prefilter;
use crate::spec::{Reader, Writer, read_table, write_table};
use crate::table::{Core, MAX_SAMPLES, PagemillTable};

/// The [`FileSource`] of a pagemill scan: it parses the chunks it is given
/// straight from the table's mapped inputs, building only the projected
/// columns and dropping rows the pre-filter rules out.
#[derive(Clone)]
pub struct PagemillSource {
    core: Arc<Core>,
    projection: Vec<usize>,
    table_schema: TableSchema,
    filter: Arc<Prefilter>,
    batch_size: usize,
    metrics: ExecutionPlanMetricsSet,
}

impl fmt::Debug for PagemillSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PagemillSource")
            .field("kind", &self.core.kind)
            .field("projection", &self.projection)
            .finish_non_exhaustive()
    }
}

/// The chunk a scan's "file" stands for: its input is the first segment of
/// the location, its byte range the chunk's.
fn location(core: &Core, input: usize) -> String {
    format!("{input}/{}", core.sources[input].name().trim_start_matches('/'))
}

impl PagemillSource {
    fn new(core: Arc<Core>, projection: Vec<usize>, filter: Arc<Prefilter>) -> Result<PagemillSource> {
        let schema: SchemaRef = Arc::new(core.shape.schema.project(&projection)?);
        Ok(PagemillSource {
            core,
            projection,
            table_schema: TableSchema::from(schema),
            filter,
            batch_size: 8192,
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }

    fn chunk_file(&self, index: usize) -> PartitionedFile {
        let (input, range) = &self.core.chunks[index];
        let size = self.core.sources[*input].len() as u64;
        PartitionedFile::new(location(&self.core, *input), size).with_range(range.start as i64, range.end as i64)
    }

    /// The chunk index of a file this source made.
    fn chunk_of(&self, file: &PartitionedFile) -> Result<usize> {
        let bad = || DataFusionError::Internal(format!("not a pagemill chunk: {}", file.object_meta.location));
        let input: usize =
            file.object_meta.location.as_ref().split('/').next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let start = usize::try_from(file.range.as_ref().ok_or_else(bad)?.start).map_err(|_| bad())?;
        self.core.chunks.binary_search_by(|(i, r)| (*i, r.start).cmp(&(input, start))).map_err(|_| bad())
    }

    /// Parse chunk `index` into batches of at most `limit` rows in all.
    fn decode(&self, index: usize, limit: usize, malformed_count: &Count) -> Result<Vec<RecordBatch>> {
        let core = &self.core;
        let (input, mut range) = core.chunks[index].clone();
        // A UTF-8 byte order mark before an input's first record is no data
        // (a header, which holds it, is skipped whole).
        if range.start == 0
            && !core.shape.header
            && core.shape.format.has_lines()
            && core.sources[input].bytes()[range.clone()].starts_with(BOM)
        {
            range.start = BOM.len();
        }
        let bytes = &core.sources[input].bytes()[range.clone()];
        let buffer = core.buffers[input].slice_with_length(range.start, range.len());
        let chunk = Chunk { input, index, offset: range.start, bytes };
        let mut malformed = Malformed::for_chunk(&chunk, MAX_SAMPLES);
        let job = ChunkJob {
            format: &core.shape.format,
            bytes,
            buffer: &buffer,
            skip_first: range.start == 0 && core.shape.header,
            projection: &self.projection,
            schema: self.table_schema.file_schema(),
            filter: &self.filter,
            batch_size: self.batch_size.max(1),
            limit,
        };
        let mut out = Vec::new();
        decode_chunk(core.decoder.as_ref(), &job, &mut out, &mut malformed)?;
        malformed_count.add(malformed.total() as usize);
        if let Some(s) = malformed.samples().first().filter(|_| core.log_malformed) {
            let kinds: Vec<String> = malformed.counts().map(|(k, n)| format!("{k}: {n}")).collect();
            log::warn!(
                "{}: {} malformed records in chunk {index} ({}); first at byte {}: {}",
                core.sources[input].name(),
                malformed.total(),
                kinds.join(", "),
                s.offset,
                s.text,
            );
        }
        let mut accounts = core.malformed.lock().unwrap_or_else(PoisonError::into_inner);
        let account = match accounts.remove(&index) {
            Some(earlier) => union(earlier, malformed),
            None => malformed,
        };
        accounts.insert(index, account);
        drop(accounts);
        // Results of an input that changed while it was read are not
        // results: say so instead.
        core.sources[input].check_unchanged().map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(out)
    }
}

impl FileSource for PagemillSource {
    fn create_file_opener(
        &self,
        _object_store: Arc<dyn ObjectStore>,
        config: &FileScanConfig,
        partition: usize,
    ) -> Result<Arc<dyn FileOpener>> {
        Ok(Arc::new(ChunkOpener {
            source: self.clone(),
            limit: config.limit.unwrap_or(usize::MAX),
            malformed: MetricBuilder::new(&self.metrics).counter("malformed_records", partition),
        }))
    }

    fn table_schema(&self) -> &TableSchema {
        &self.table_schema
    }

    fn with_batch_size(&self, batch_size: usize) -> Arc<dyn FileSource> {
        Arc::new(PagemillSource { batch_size, ..self.clone() })
    }

    fn metrics(&self) -> &ExecutionPlanMetricsSet {
        &self.metrics
    }

    fn file_type(&self) -> &str {
        "pagemill"
    }

    fn fmt_extra(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The scan prints the projection itself.
        write!(f, ", kind={}, chunks={}", self.core.kind, self.core.chunks.len())?;
        if !self.filter.is_empty() {
            f.write_str(", prefilter")?;
        }
        Ok(())
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        // The pre-filter is pagemill's own, not a physical expression.
        Ok(TreeNodeRecursion::Continue)
    }

    fn supports_repartitioning(&self) -> bool {
        // Chunk ranges are record boundaries: DataFusion must not cut them.
        false
    }
}

/// Opens one chunk of a pagemill scan.
struct ChunkOpener {
    source: PagemillSource,
    limit: usize,
    malformed: Count,
}

impl FileOpener for ChunkOpener {
    fn open(&self, file: PartitionedFile) -> Result<FileOpenFuture> {
        let index = self.source.chunk_of(&file)?;
        let source = self.source.clone();
        let (limit, malformed) = (self.limit, self.malformed.clone());
        Ok(Box::pin(async move {
            let batches = source.decode(index, limit, &malformed)?;
            Ok(futures::stream::iter(batches.into_iter().map(Ok)).boxed())
        }))
    }
}

/// The scan plan of `core`: `groups` are the partitions' chunk indices.
pub(crate) fn scan_plan(
    core: Arc<Core>,
    projection: Vec<usize>,
    filter: Arc<Prefilter>,
    limit: Option<usize>,
    groups: Vec<Vec<usize>>,
) -> Result<Arc<DataSourceExec>> {
    let source = PagemillSource::new(core, projection, filter)?;
    let groups: Vec<FileGroup> =
        groups.iter().map(|g| FileGroup::new(g.iter().map(|&i| source.chunk_file(i)).collect())).collect();
    let config = FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), Arc::new(source))
        .with_file_groups(groups)
        .with_limit(limit)
        .build();
    Ok(DataSourceExec::from_data_source(config))
}

/// `0..n` cut into `parts` contiguous runs whose lengths differ by at most
/// one (empty runs when `n < parts`).
pub(crate) fn split_evenly(n: usize, parts: usize) -> Vec<Vec<usize>> {
    (0..parts).map(|i| (i * n / parts..(i + 1) * n / parts).collect()).collect()
}

/// The file scan config and pagemill source of `plan`, when it is a
/// pagemill scan.
fn parts_of(plan: &dyn ExecutionPlan) -> Option<(&FileScanConfig, &PagemillSource)> {
    let exec = plan.downcast_ref::<DataSourceExec>()?;
    let config = exec.data_source().downcast_ref::<FileScanConfig>()?;
    let source = config.file_source().downcast_ref::<PagemillSource>()?;
    Some((config, source))
}

/// Whether `plan` is the scan of a [`PagemillTable`].
pub fn is_scan(plan: &dyn ExecutionPlan) -> bool {
    parts_of(plan).is_some()
}

const SCAN_MAGIC: &[u8; 4] = b"PMS2";

/// The byte form of a pagemill scan (`None` when `plan` is not one): its
/// table (as [`PagemillTable::to_bytes`] writes it), projection,
/// pre-filter, limit and partitions, each the list of its chunks, so a scan
/// cut down to some partitions (as Ballista cuts one per task) travels as
/// cut. [`scan_from_bytes`] rebuilds it in another process. Extension
/// codecs (`pagemill-ballista`) send scans to executors with it.
pub fn scan_to_bytes(plan: &dyn ExecutionPlan) -> Option<Result<Vec<u8>, Error>> {
    let (config, source) = parts_of(plan)?;
    let encode = || -> Result<Vec<u8>, Error> {
        let mut w = Writer::default();
        w.raw(SCAN_MAGIC);
        write_table(&PagemillTable::from_core(Arc::clone(&source.core)), &mut w)?;
        w.len(source.projection.len());
        for &c in &source.projection {
            w.len(c);
        }
        let predicates: Vec<_> = source.filter.predicates().collect();
        w.len(predicates.len());
        for p in predicates {
            p.write(&mut w);
        }
        match config.limit {
            Some(n) => {
                w.u8(1);
                w.u64(n as u64);
            }
            None => w.u8(0),
        }
        w.len(config.file_groups.len());
        for group in &config.file_groups {
            w.len(group.len());
            for file in group.iter() {
                let index = source.chunk_of(file).map_err(|e| Error::NotPortable(e.to_string()))?;
                w.len(index);
            }
        }
        Ok(w.into_bytes())
    };
    Some(encode())
}

/// Rebuild a scan from [`scan_to_bytes`], opening its inputs as
/// [`PagemillTable::from_bytes`] does.
pub fn scan_from_bytes(bytes: &[u8]) -> Result<Arc<dyn ExecutionPlan>, Error> {
    let mut r = Reader::new(bytes);
    r.magic(SCAN_MAGIC, "scan")?;
    let table = read_table(&mut r)?;
    let core = Arc::clone(table.core());
    let width = core.shape.schema.fields().len();
    let n = r.len()?;
    let mut projection = Vec::with_capacity(n.min(width));
    for _ in 0..n {
        let c = r.len()?;
        if c >= width {
            return Err(r.bad(format!("projected column {c} of {width}")));
        }
        projection.push(c);
    }
    let n = r.len()?;
    let mut predicates = Vec::new();
    for _ in 0..n {
        let p = crate::filter::Predicate::read(&mut r)?;
        if p.column >= width {
            return Err(r.bad(format!("a filter on column {} of {width}", p.column)));
        }
        predicates.push(p);
    }
    let limit = match r.u8()? {
        0 => None,
        1 => Some(usize::try_from(r.u64()?).unwrap_or(usize::MAX)),
        t => return Err(r.bad(format!("limit tag {t}"))),
    };
    let n = r.len()?;
    let mut groups = Vec::new();
    for _ in 0..n {
        let m = r.len()?;
        let mut group = Vec::new();
        for _ in 0..m {
            let index = r.len()?;
            if index >= core.chunks.len() {
                return Err(r.bad(format!("chunk {index} of {}", core.chunks.len())));
            }
            group.push(index);
        }
        groups.push(group);
    }
    r.end()?;
    let filter = Arc::new(Prefilter::new(predicates, width));
    let plan = scan_plan(core, projection, filter, limit, groups).map_err(|e| r.bad(e))?;
    Ok(plan)
}

/// The chunk index runs of a scan's partitions (for tests and `EXPLAIN`
/// readers): `None` when `plan` is not a pagemill scan.
pub fn scan_partitions(plan: &dyn ExecutionPlan) -> Option<Vec<Vec<usize>>> {
    let (config, source) = parts_of(plan)?;
    config.file_groups.iter().map(|g| g.iter().map(|f| source.chunk_of(f).ok()).collect()).collect()
}

/// The accounts of two scans of one chunk as one: a scan finds only the
/// malformed records its projection reads (a bad number in a column it
/// skips goes unseen), so each kind counts as often as the scan that saw
/// most of it, and the samples are those of both, each record once.
fn union(a: Malformed, b: Malformed) -> Malformed {
    let mut kinds: Vec<&'static str> = a.counts().chain(b.counts()).map(|(k, _)| k).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let counts: Vec<(&'static str, u64)> = kinds.iter().map(|&k| (k, a.count(k).max(b.count(k)))).collect();
    let mut samples: Vec<_> = a.samples().iter().chain(b.samples()).cloned().collect();
    samples.sort_by_key(|s| (s.input, s.offset, s.kind));
    samples.dedup_by_key(|s| (s.input, s.offset, s.kind));
    Malformed::from_parts(a.max_samples(), counts, samples)
}
