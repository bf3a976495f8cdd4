//! Extension codecs: how pagemill's tables, scans and aggregate functions
//! travel in DataFusion plans between a client, a scheduler and executors.
//!
//! Each codec handles pagemill's own nodes and hands everything else to
//! the codec it wraps (Ballista's by default, which knows Ballista's
//! shuffle nodes and DataFusion's file formats). A one-byte tag in front of
//! each encoded node says which of the two wrote it.

use std::sync::Arc;

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, Result, TableReference};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan, ScalarUDF, WindowUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use pagemill_datafusion::{PagemillTable, hdr_quantile, hll_distinct, scan_from_bytes, scan_to_bytes};

/// Tag of a node pagemill encoded.
const OURS: u8 = b'P';
/// Tag of a node the wrapped codec encoded.
const INNER: u8 = b'I';

/// Makes one of pagemill's aggregate functions.
type MakeUdaf = fn() -> AggregateUDF;

/// pagemill's aggregate functions, by name. They travel by name alone: they
/// have no settings of their own.
const UDAFS: [(&str, MakeUdaf); 2] = [("hdr_quantile", hdr_quantile), ("hll_distinct", hll_distinct)];

/// The aggregate function `name`, if it is one of pagemill's.
fn our_udaf(name: &str) -> Option<Arc<AggregateUDF>> {
    UDAFS.iter().find(|(n, _)| *n == name).map(|(_, make)| Arc::new(make()))
}

/// Whether `name` is one of pagemill's aggregate functions.
fn is_our_udaf(name: &str) -> bool {
    UDAFS.iter().any(|(n, _)| *n == name)
}

fn external(e: pagemill_datafusion::Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// Split `buf` into its tag and payload.
fn untag(buf: &[u8]) -> Result<(u8, &[u8])> {
    match buf.split_first() {
        Some((&tag, rest)) if tag == OURS || tag == INNER => Ok((tag, rest)),
        _ => Err(DataFusionError::Internal("pagemill codec: a node without its codec tag".into())),
    }
}

/// The logical codec: [`PagemillTable`]s as table providers (their
/// [`to_bytes`](PagemillTable::to_bytes) form, rebuilt by opening the same
/// paths) and `hdr_quantile` / `hll_distinct` by name.
#[derive(Debug)]
pub struct PagemillLogicalCodec {
    inner: Arc<dyn LogicalExtensionCodec>,
}

impl Default for PagemillLogicalCodec {
    /// Wrapping Ballista's own logical codec.
    fn default() -> PagemillLogicalCodec {
        PagemillLogicalCodec::wrapping(Arc::new(BallistaLogicalExtensionCodec::default()))
    }
}

impl PagemillLogicalCodec {
    /// pagemill's nodes, and everything else through `inner`.
    pub fn wrapping(inner: Arc<dyn LogicalExtensionCodec>) -> PagemillLogicalCodec {
        PagemillLogicalCodec { inner }
    }
}

impl LogicalExtensionCodec for PagemillLogicalCodec {
    fn try_decode(&self, buf: &[u8], inputs: &[LogicalPlan], ctx: &TaskContext) -> Result<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        match untag(buf)? {
            (OURS, bytes) => {
                let table = PagemillTable::from_bytes(bytes).map_err(external)?;
                if table.schema().fields() != schema.fields() {
                    return Err(DataFusionError::Plan(format!(
                        "table {table_ref}: the inputs give other columns here than where the query was planned"
                    )));
                }
                Ok(Arc::new(table))
            }
            (_, rest) => self.inner.try_decode_table_provider(rest, table_ref, schema, ctx),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        if let Some(table) = node.downcast_ref::<PagemillTable>() {
            buf.push(OURS);
            buf.extend(table.to_bytes().map_err(external)?);
            Ok(())
        } else {
            buf.push(INNER);
            self.inner.try_encode_table_provider(table_ref, node, buf)
        }
    }

    fn try_decode_file_format(&self, buf: &[u8], ctx: &TaskContext) -> Result<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(&self, buf: &mut Vec<u8>, node: Arc<dyn FileFormatFactory>) -> Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        self.inner.try_decode_udf(name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode_udf(node, buf)
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        match our_udaf(name) {
            Some(f) => Ok(f),
            None => self.inner.try_decode_udaf(name, buf),
        }
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
        if is_our_udaf(node.name()) { Ok(()) } else { self.inner.try_encode_udaf(node, buf) }
    }

    fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> Result<Arc<WindowUDF>> {
        self.inner.try_decode_udwf(name, buf)
    }

    fn try_encode_udwf(&self, node: &WindowUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode_udwf(node, buf)
    }
}

/// The physical codec: pagemill scans (their
/// [`scan_to_bytes`](pagemill_datafusion::scan_to_bytes) form, cut down to the
/// task's partitions: an executor opens the same paths and parses only the
/// chunks of the partitions it runs) and `hdr_quantile` / `hll_distinct` by
/// name.
#[derive(Debug)]
pub struct PagemillPhysicalCodec {
    inner: Arc<dyn PhysicalExtensionCodec>,
}

impl Default for PagemillPhysicalCodec {
    /// Wrapping Ballista's own physical codec.
    fn default() -> PagemillPhysicalCodec {
        PagemillPhysicalCodec::wrapping(Arc::new(BallistaPhysicalExtensionCodec::default()))
    }
}

impl PagemillPhysicalCodec {
    /// pagemill's nodes, and everything else through `inner`.
    pub fn wrapping(inner: Arc<dyn PhysicalExtensionCodec>) -> PagemillPhysicalCodec {
        PagemillPhysicalCodec { inner }
    }
}

impl PhysicalExtensionCodec for PagemillPhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match untag(buf)? {
            (OURS, bytes) => {
                if !inputs.is_empty() {
                    return Err(DataFusionError::Internal("a pagemill scan has no inputs".into()));
                }
                scan_from_bytes(bytes).map_err(external)
            }
            (_, rest) => self.inner.try_decode(rest, inputs, ctx, proto_converter),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        if let Some(bytes) = scan_to_bytes(node.as_ref()) {
            buf.push(OURS);
            buf.extend(bytes.map_err(external)?);
            Ok(())
        } else {
            buf.push(INNER);
            self.inner.try_encode(node, buf, proto_converter)
        }
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        self.inner.try_decode_udf(name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode_udf(node, buf)
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        match our_udaf(name) {
            Some(f) => Ok(f),
            None => self.inner.try_decode_udaf(name, buf),
        }
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
        if is_our_udaf(node.name()) { Ok(()) } else { self.inner.try_encode_udaf(node, buf) }
    }

    fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> Result<Arc<WindowUDF>> {
        self.inner.try_decode_udwf(name, buf)
    }

    fn try_encode_udwf(&self, node: &WindowUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode_udwf(node, buf)
    }
}
