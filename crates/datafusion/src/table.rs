//! The table provider every input kind shares, and its scan.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};

use arrow_buffer::Buffer;
use arrow_schema::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Result;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use pagemill_engine::{Malformed, Runner};
use pagemill_mmap::Source;
use pagemill_split::RecordFormat;

use crate::decode::{Decoder, Shape};
use crate::error::Error;
use crate::filter::{Predicate, Prefilter};
use crate::source::{scan_plan, split_evenly};
use crate::spec::{Assembled, Spec};

/// Samples kept per malformed kind, as the jobs keep by default.
pub(crate) const MAX_SAMPLES: usize = 5;

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

/// One planned chunk: its input's index and its byte range there.
pub(crate) type Planned = (usize, Range<usize>);

/// What a table and all its scans share.
pub(crate) struct Core {
    pub(crate) kind: &'static str,
    /// What rebuilds this table in another process (options resolved).
    pub(crate) spec: Spec,
    /// The chunk size the plan was cut at.
    pub(crate) chunk_size: usize,
    pub(crate) shape: Shape,
    pub(crate) decoder: Arc<dyn Decoder>,
    pub(crate) sources: Arc<[Source]>,
    pub(crate) buffers: Vec<Buffer>,
    pub(crate) chunks: Vec<(usize, Range<usize>)>,
    /// Malformed records per chunk index, from the latest scan of each chunk.
    pub(crate) malformed: Mutex<BTreeMap<usize, Malformed>>,
    /// Also log each chunk's malformed records: a table rebuilt from its
    /// byte form (on a Ballista scheduler or executor) has nobody to call
    /// `take_malformed`.
    pub(crate) log_malformed: bool,
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
    /// A table of `spec` over `sources`, cut into `chunks` when given (a
    /// plan made elsewhere, at `chunk_size`), else planned here.
    pub(crate) fn build(
        spec: Spec,
        sources: Vec<Source>,
        planned: Option<(usize, Vec<Planned>)>,
    ) -> Result<PagemillTable, Error> {
        if sources.is_empty() {
            return Err(Error::NoInputs);
        }
        let Assembled { kind, shape, decoder, spec } = spec.assemble(&sources)?;
        let sources: Arc<[Source]> = sources.into();
        let buffers = (0..sources.len())
            .map(|index| Buffer::from(bytes::Bytes::from_owner(InputBytes { sources: Arc::clone(&sources), index })))
            .collect();
        let log_malformed = planned.is_some();
        let (chunk_size, chunks) = match planned {
            Some(plan) => plan,
            None => {
                let total: u64 = sources.iter().map(|s| s.len() as u64).sum();
                let chunk_size = Runner::new().effective_chunk_size(total).min(MAX_CHUNK);
                (chunk_size, Core::plan(&sources, &shape.format, chunk_size))
            }
        };
        let core = Core {
            kind,
            spec,
            chunk_size,
            shape,
            decoder,
            sources,
            buffers,
            chunks,
            malformed: Mutex::new(BTreeMap::new()),
            log_malformed,
        };
        Ok(PagemillTable { core: Arc::new(core) })
    }

    pub(crate) fn from_core(core: Arc<Core>) -> PagemillTable {
        PagemillTable { core }
    }

    pub(crate) fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// Re-plan the chunks at about `bytes` each (at least 64 KiB, at most
    /// 256 MiB). Smaller chunks spread a small input over more partitions;
    /// the default follows `pagemill`'s own runner.
    pub fn with_chunk_size(self, bytes: usize) -> PagemillTable {
        let core = &self.core;
        let chunk_size = bytes.clamp(64 << 10, MAX_CHUNK);
        let chunks = Core::plan(&core.sources, &core.shape.format, chunk_size);
        let core = Core {
            kind: core.kind,
            spec: core.spec.clone(),
            chunk_size,
            shape: core.shape.clone(),
            decoder: Arc::clone(&core.decoder),
            sources: Arc::clone(&core.sources),
            buffers: core.buffers.clone(),
            chunks,
            malformed: Mutex::new(BTreeMap::new()),
            log_malformed: core.log_malformed,
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
    /// scanned more than once (a self-join, two queries) counts once: each
    /// kind as often as the scan that saw most of it (scans of other
    /// columns see other bad values), its samples those of all its scans.
    pub fn take_malformed(&self) -> Malformed {
        let per_chunk = std::mem::take(&mut *self.core.malformed.lock().unwrap_or_else(PoisonError::into_inner));
        let mut all = Malformed::new(MAX_SAMPLES);
        for (_, m) in per_chunk {
            all.merge(m);
        }
        // Not strict: this only fills in names and line numbers.
        let _ = Runner::new().settle_malformed(&mut all, &self.core.sources, &self.core.shape.format);
        all
    }
}

/// The largest chunk a scan plans: string views address 4 GiB of a block.
pub(crate) const MAX_CHUNK: usize = 256 << 20;

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
        let predicates: Vec<Predicate> = filters
            .iter()
            .filter_map(|f| Predicate::from_expr(f, full))
            .filter(|p| projection.contains(&p.column))
            .collect();
        let filter = Prefilter::new(predicates, full.fields().len());
        let parts = state.config().target_partitions().clamp(1, self.core.chunks.len().max(1));
        let groups = split_evenly(self.core.chunks.len(), parts);
        Ok(scan_plan(Arc::clone(&self.core), projection, Arc::new(filter), limit, groups)?)
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
