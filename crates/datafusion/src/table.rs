//! The table provider every input kind shares, and its scan.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_schema::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PhysicalExpr, PlanProperties,
    ReplaceChildrenOptions, SendableRecordBatchStream,
};
use pagemill_engine::{Chunk, Malformed, Runner};
use pagemill_mmap::Source;
use pagemill_split::RecordFormat;

use crate::decode::{ChunkJob, Decoder, Shape, decode_chunk};
use crate::error::Error;
use crate::filter::{Predicate, Prefilter};

/// Samples kept per malformed kind, as the jobs keep by default.
const MAX_SAMPLES: usize = 5;

/// An input's bytes as the owner of an Arrow buffer, so string views can
/// point into the mapping and keep it alive.
struct InputBytes {
    sources: Arc<[Source]>,
    index: usize,
}

impl AsRef<[u8]> for InputBytes {
    fn as_ref(&self) -> &[u8] {
        self.sources[self.index].bytes()
    }
}

/// What a table and all its scans share.
pub(crate) struct Core {
    kind: &'static str,
    shape: Shape,
    decoder: Arc<dyn Decoder>,
    sources: Arc<[Source]>,
    buffers: Vec<Buffer>,
    chunks: Vec<(usize, Range<usize>)>,
    /// Malformed records per chunk index, from the latest scan of each chunk.
    malformed: Mutex<BTreeMap<usize, Malformed>>,
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Core")
            .field("kind", &self.kind)
            .field("inputs", &self.sources.iter().map(Source::name).collect::<Vec<_>>())
            .field("chunks", &self.chunks.len())
            .finish_non_exhaustive()
    }
}

impl Core {
    fn plan(sources: &[Source], format: &pagemill_split::AnyFormat, chunk_size: usize) -> Vec<(usize, Range<usize>)> {
        sources
            .iter()
            .enumerate()
            .flat_map(|(i, s)| format.plan(s.bytes(), chunk_size).into_iter().map(move |r| (i, r)))
            .collect()
    }
}

/// A pagemill input (one or more files of one kind) as a DataFusion table.
///
/// Built with [`logs`](PagemillTable::logs), [`delimited`](PagemillTable::delimited),
/// [`brc`](PagemillTable::brc) or [`binary`](PagemillTable::binary) from
/// opened [`Source`]s (memory-mapped, or read for pipes and compressed
/// inputs: see `pagemill_mmap::OpenOptions`).
///
/// Scans follow pagemill's own chunk plan: the inputs are cut into chunks on
/// record boundaries, and each of DataFusion's partitions parses a
/// contiguous run of chunks straight from the mapping. Only the projected
/// columns are parsed, text columns are `Utf8View` arrays whose views point
/// into the mapped input (escaped fields are decoded into owned text), and
/// simple filters on the table's columns (comparisons with literals,
/// `LIKE 'prefix%'`, `IN`, `BETWEEN`) drop rows before they are built.
///
/// Records that do not parse are never silently dropped: they are counted
/// by kind with samples, and [`take_malformed`](PagemillTable::take_malformed)
/// returns the account of the scans so far. Fields are checked only when a
/// query reads them, so the account can differ between queries that read
/// different columns.
#[derive(Clone, Debug)]
pub struct PagemillTable {
    core: Arc<Core>,
}

impl PagemillTable {
    pub(crate) fn build(
        kind: &'static str,
        shape: Shape,
        decoder: Arc<dyn Decoder>,
        sources: Vec<Source>,
    ) -> Result<PagemillTable, Error> {
        if sources.is_empty() {
            return Err(Error::NoInputs);
        }
        let sources: Arc<[Source]> = sources.into();
        let buffers = (0..sources.len())
            .map(|index| Buffer::from(bytes::Bytes::from_owner(InputBytes { sources: Arc::clone(&sources), index })))
            .collect();
        let total: u64 = sources.iter().map(|s| s.len() as u64).sum();
        let chunk_size = Runner::new().effective_chunk_size(total).min(MAX_CHUNK);
        let chunks = Core::plan(&sources, &shape.format, chunk_size);
        let core = Core { kind, shape, decoder, sources, buffers, chunks, malformed: Mutex::new(BTreeMap::new()) };
        Ok(PagemillTable { core: Arc::new(core) })
    }

    /// Re-plan the chunks at about `bytes` each (at least 64 KiB, at most
    /// 256 MiB). Smaller chunks spread a small input over more partitions;
    /// the default follows `pagemill`'s own runner.
    pub fn with_chunk_size(self, bytes: usize) -> PagemillTable {
        let core = &self.core;
        let chunks = Core::plan(&core.sources, &core.shape.format, bytes.clamp(64 << 10, MAX_CHUNK));
        let core = Core {
            kind: core.kind,
            shape: core.shape.clone(),
            decoder: Arc::clone(&core.decoder),
            sources: Arc::clone(&core.sources),
            buffers: core.buffers.clone(),
            chunks,
            malformed: Mutex::new(BTreeMap::new()),
        };
        PagemillTable { core: Arc::new(core) }
    }

    /// The kind of input: `logs`, `delimited`, `1brc` or `binary`.
    pub fn kind(&self) -> &'static str {
        self.core.kind
    }

    /// The inputs.
    pub fn sources(&self) -> &[Source] {
        &self.core.sources
    }

    /// The number of chunks scans are cut into.
    pub fn chunks(&self) -> usize {
        self.core.chunks.len()
    }

    /// The malformed records met by the scans since the last call, merged in
    /// input order, with input names and line numbers filled in. A chunk
    /// scanned more than once (a self-join, two queries) counts once, as in
    /// its latest scan.
    pub fn take_malformed(&self) -> Malformed {
        let per_chunk = std::mem::take(&mut *self.core.malformed.lock().unwrap_or_else(PoisonError::into_inner));
        let mut all = Malformed::new(MAX_SAMPLES);
        for (_, m) in per_chunk {
            all.merge(m);
        }
        // Not strict: this only fills in names and line numbers.
        let _ = Runner::new().settle_malformed(&mut all, &self.core.sources);
        all
    }
}

/// The largest chunk a scan plans: string views address 4 GiB of a block.
const MAX_CHUNK: usize = 256 << 20;

#[async_trait]
impl TableProvider for PagemillTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.core.shape.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let full = &self.core.shape.schema;
        let projection: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..full.fields().len()).collect(),
        };
        let schema = Arc::new(full.project(&projection)?);
        let predicates: Vec<Predicate> = filters
            .iter()
            .filter_map(|f| Predicate::from_expr(f, full))
            .filter(|p| projection.contains(&p.column))
            .collect();
        let filter = Prefilter::new(predicates, full.fields().len());
        let parts = state.config().target_partitions().clamp(1, self.core.chunks.len().max(1));
        let partitions = split_evenly(self.core.chunks.len(), parts);
        Ok(Arc::new(ScanExec::new(Arc::clone(&self.core), projection, schema, Arc::new(filter), limit, partitions)))
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        let schema = &self.core.shape.schema;
        Ok(filters
            .iter()
            .map(|f| match Predicate::from_expr(f, schema) {
                Some(_) => TableProviderFilterPushDown::Inexact,
                None => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }
}

/// `0..n` cut into `parts` contiguous ranges whose lengths differ by at most
/// one (empty ranges when `n < parts`).
fn split_evenly(n: usize, parts: usize) -> Vec<Range<usize>> {
    (0..parts).map(|i| i * n / parts..(i + 1) * n / parts).collect()
}

/// The physical scan of a [`PagemillTable`]: one partition per contiguous
/// run of chunks.
#[derive(Debug)]
pub struct ScanExec {
    core: Arc<Core>,
    projection: Vec<usize>,
    schema: SchemaRef,
    filter: Arc<Prefilter>,
    limit: Option<usize>,
    partitions: Vec<Range<usize>>,
    properties: Arc<PlanProperties>,
}

impl ScanExec {
    fn new(
        core: Arc<Core>,
        projection: Vec<usize>,
        schema: SchemaRef,
        filter: Arc<Prefilter>,
        limit: Option<usize>,
        partitions: Vec<Range<usize>>,
    ) -> ScanExec {
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(partitions.len()),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        ScanExec { core, projection, schema, filter, limit, partitions, properties: Arc::new(properties) }
    }

    /// The chunk index ranges of the partitions.
    pub fn partitions(&self) -> &[Range<usize>] {
        &self.partitions
    }
}

impl DisplayAs for ScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> =
            self.projection.iter().map(|&i| self.core.shape.schema.field(i).name().as_str()).collect();
        write!(
            f,
            "PagemillScan: kind={}, inputs={}, chunks={}, partitions={}, projection=[{}]",
            self.core.kind,
            self.core.sources.len(),
            self.core.chunks.len(),
            self.partitions.len(),
            names.join(", ")
        )?;
        if !self.filter.is_empty() {
            f.write_str(", prefilter")?;
        }
        if let Some(limit) = self.limit {
            write!(f, ", limit={limit}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for ScanExec {
    fn name(&self) -> &str {
        "PagemillScan"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal("PagemillScan has no children".into()))
        }
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(children, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let chunks = self
            .partitions
            .get(partition)
            .cloned()
            .ok_or_else(|| DataFusionError::Internal(format!("PagemillScan has no partition {partition}")))?;
        let batches = ChunkBatches {
            core: Arc::clone(&self.core),
            projection: self.projection.clone(),
            schema: Arc::clone(&self.schema),
            filter: Arc::clone(&self.filter),
            batch_size: context.session_config().batch_size().max(1),
            remaining: self.limit.unwrap_or(usize::MAX),
            chunks,
            pending: VecDeque::new(),
            checked: false,
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(Arc::clone(&self.schema), futures::stream::iter(batches))))
    }

    fn supports_limit_pushdown(&self) -> bool {
        false
    }
}

/// The batches of one partition, one chunk at a time (so memory holds one
/// chunk's batches, not the partition's).
struct ChunkBatches {
    core: Arc<Core>,
    projection: Vec<usize>,
    schema: SchemaRef,
    filter: Arc<Prefilter>,
    batch_size: usize,
    remaining: usize,
    chunks: Range<usize>,
    pending: VecDeque<RecordBatch>,
    checked: bool,
}

impl ChunkBatches {
    fn decode_next(&mut self, index: usize) -> Result<()> {
        let core = &self.core;
        let (input, range) = core.chunks[index].clone();
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
            schema: &self.schema,
            filter: &self.filter,
            batch_size: self.batch_size,
            limit: self.remaining,
        };
        let mut out = Vec::new();
        let rows = decode_chunk(core.decoder.as_ref(), &job, &mut out, &mut malformed)?;
        self.remaining -= rows;
        self.pending.extend(out);
        core.malformed.lock().unwrap_or_else(PoisonError::into_inner).insert(index, malformed);
        Ok(())
    }
}

impl Iterator for ChunkBatches {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Result<RecordBatch>> {
        loop {
            if let Some(batch) = self.pending.pop_front() {
                return Some(Ok(batch));
            }
            if self.remaining > 0
                && let Some(index) = self.chunks.next()
            {
                if let Err(e) = self.decode_next(index) {
                    self.chunks = 0..0;
                    return Some(Err(e));
                }
                continue;
            }
            if !self.checked {
                // Results of an input that changed while it was read are not
                // results: say so instead.
                self.checked = true;
                for s in self.core.sources.iter() {
                    if let Err(e) = s.check_unchanged() {
                        return Some(Err(DataFusionError::External(Box::new(e))));
                    }
                }
            }
            return None;
        }
    }
}
