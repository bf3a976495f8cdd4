//! pagemill's mergeable sketches as DataFusion aggregate functions.
//!
//! * `hdr_quantile(value, q [, sigfig [, scale]])`: the value at quantile
//!   `q` (0 to 1, a literal) from a [`Quantiles`] sketch, an HdrHistogram
//!   of `round(value * scale)` with `sigfig` significant digits (defaults:
//!   3 digits, scale 1,000,000, so seconds resolve to microseconds). A
//!   reported quantile is within `|v| * 10^-sigfig` of the exact
//!   nearest-rank value `v`, plus `0.5 / scale`. `NaN` and infinities are
//!   an error, nulls are skipped.
//! * `hll_distinct(value)`: the number of distinct values from a
//!   [`Distinct`] sketch: exact (a set of 64-bit hashes) up to 1,024 values,
//!   then a HyperLogLog with about 1.6 % relative standard error. Text and
//!   binary values are hashed as they are, other types as their text
//!   (`CAST(value AS VARCHAR)`), so `hll_distinct` counts what
//!   `pagemill features --distinct` counts.
//!
//! Both keep their partial state as the sketch's checked byte form
//! (`to_bytes`), so DataFusion's partial aggregation runs next to each scan
//! partition and only the sketches travel to the final merge.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, FieldRef, Schema};
use datafusion::common::{DataFusionError, Result, ScalarValue, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, Signature, Volatility};
use datafusion::physical_plan::PhysicalExpr;
use datafusion::prelude::SessionContext;
use pagemill_sketch::{Distinct, DistinctConfig, QuantileConfig, Quantiles};

/// Register `hdr_quantile` and `hll_distinct` with `ctx`.
pub fn register_functions(ctx: &SessionContext) {
    ctx.register_udaf(hdr_quantile());
    ctx.register_udaf(hll_distinct());
}

/// The `hdr_quantile` aggregate function (see the [module docs](self)).
pub fn hdr_quantile() -> AggregateUDF {
    AggregateUDF::from(HdrQuantile { signature: Signature::user_defined(Volatility::Immutable) })
}

/// The `hll_distinct` aggregate function (see the [module docs](self)).
pub fn hll_distinct() -> AggregateUDF {
    AggregateUDF::from(HllDistinct { signature: Signature::any(1, Volatility::Immutable) })
}

fn sketch_state(args: &StateFieldsArgs<'_>, name: &str) -> Vec<FieldRef> {
    vec![Arc::new(Field::new(format_state_name(args.name, name), DataType::Binary, true))]
}

fn external(what: &str, e: pagemill_sketch::Error) -> DataFusionError {
    DataFusionError::Execution(format!("{what}: {e}"))
}

/// The value of a constant argument.
fn literal(expr: &Arc<dyn PhysicalExpr>, what: &str) -> Result<ScalarValue> {
    match expr.evaluate(&RecordBatch::new_empty(Arc::new(Schema::empty()))) {
        Ok(ColumnarValue::Scalar(s)) => Ok(s),
        _ => plan_err!("hdr_quantile: the {what} must be a constant"),
    }
}

fn literal_f64(expr: &Arc<dyn PhysicalExpr>, what: &str) -> Result<f64> {
    match literal(expr, what)?.cast_to(&DataType::Float64)? {
        ScalarValue::Float64(Some(v)) => Ok(v),
        _ => plan_err!("hdr_quantile: the {what} must not be null"),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct HdrQuantile {
    signature: Signature,
}

impl AggregateUDFImpl for HdrQuantile {
    fn name(&self) -> &str {
        "hdr_quantile"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if !(2..=4).contains(&arg_types.len()) {
            return plan_err!("hdr_quantile takes (value, q [, sigfig [, scale]]), got {} arguments", arg_types.len());
        }
        if let Some(t) = arg_types.iter().find(|t| !t.is_numeric() && !t.is_null()) {
            return plan_err!("hdr_quantile takes numbers, not {t}");
        }
        Ok(arg_types.iter().map(|_| DataType::Float64).collect())
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn state_fields(&self, args: StateFieldsArgs<'_>) -> Result<Vec<FieldRef>> {
        Ok(sketch_state(&args, "quantiles"))
    }

    fn accumulator(&self, args: AccumulatorArgs<'_>) -> Result<Box<dyn Accumulator>> {
        let q = literal_f64(&args.exprs[1], "quantile")?;
        if !(0.0..=1.0).contains(&q) {
            return plan_err!("hdr_quantile: the quantile must be between 0 and 1, got {q}");
        }
        let mut config = QuantileConfig::new().scale(1_000_000).map_err(|e| external("hdr_quantile", e))?;
        if let Some(e) = args.exprs.get(2) {
            let digits = literal_f64(e, "significant digits")?;
            config = config.sigfig(digits as u8).map_err(|e| external("hdr_quantile", e))?;
        }
        if let Some(e) = args.exprs.get(3) {
            let scale = literal_f64(e, "scale")?;
            if !(scale >= 1.0 && scale.fract() == 0.0 && scale < 1e18) {
                return plan_err!("hdr_quantile: the scale must be a whole number from 1, got {scale}");
            }
            config = config.scale(scale as u64).map_err(|e| external("hdr_quantile", e))?;
        }
        Ok(Box::new(QuantileAcc { q, sketch: Quantiles::new(config) }))
    }
}

#[derive(Debug)]
struct QuantileAcc {
    q: f64,
    sketch: Quantiles,
}

impl Accumulator for QuantileAcc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let values = arrow_cast::cast(&values[0], &DataType::Float64)?;
        for v in values.as_primitive::<arrow_array::types::Float64Type>().iter().flatten() {
            self.sketch.record(v).map_err(|e| external("hdr_quantile", e))?;
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(self.sketch.quantile(self.q)))
    }

    fn size(&self) -> usize {
        // The histograms' own size is not exposed; their byte form bounds it.
        std::mem::size_of_val(self) + 8 * self.sketch.count().min(1024) as usize + (16 << 10)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Binary(Some(self.sketch.to_bytes()))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        for bytes in states[0].as_binary::<i32>().iter().flatten() {
            let other = Quantiles::from_bytes(*self.sketch.config(), bytes).map_err(|e| external("hdr_quantile", e))?;
            self.sketch.merge(&other).map_err(|e| external("hdr_quantile", e))?;
        }
        Ok(())
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct HllDistinct {
    signature: Signature,
}

impl AggregateUDFImpl for HllDistinct {
    fn name(&self) -> &str {
        "hll_distinct"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::UInt64)
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn default_value(&self, _data_type: &DataType) -> Result<ScalarValue> {
        Ok(ScalarValue::UInt64(Some(0)))
    }

    fn state_fields(&self, args: StateFieldsArgs<'_>) -> Result<Vec<FieldRef>> {
        Ok(sketch_state(&args, "distinct"))
    }

    fn accumulator(&self, _args: AccumulatorArgs<'_>) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(DistinctAcc { sketch: Distinct::new(DistinctConfig::new()) }))
    }
}

#[derive(Debug)]
struct DistinctAcc {
    sketch: Distinct,
}

impl DistinctAcc {
    fn insert_all<'a>(&mut self, values: impl Iterator<Item = Option<&'a [u8]>>) {
        for v in values.flatten() {
            self.sketch.insert(v);
        }
    }
}

impl Accumulator for DistinctAcc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let v = &values[0];
        match v.data_type() {
            DataType::Utf8View => self.insert_all(v.as_string_view().iter().map(|s| s.map(str::as_bytes))),
            DataType::Utf8 => self.insert_all(v.as_string::<i32>().iter().map(|s| s.map(str::as_bytes))),
            DataType::LargeUtf8 => self.insert_all(v.as_string::<i64>().iter().map(|s| s.map(str::as_bytes))),
            DataType::Binary => self.insert_all(v.as_binary::<i32>().iter()),
            DataType::BinaryView => self.insert_all(v.as_binary_view().iter()),
            DataType::Null => {}
            _ => {
                let text = arrow_cast::cast(v, &DataType::Utf8)?;
                self.insert_all(text.as_string::<i32>().iter().map(|s| s.map(str::as_bytes)));
            }
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::UInt64(Some(self.sketch.estimate())))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + (32 << 10)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Binary(Some(self.sketch.to_bytes()))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let states = &states[0];
        if states.null_count() == states.len() {
            return Ok(());
        }
        for bytes in states.as_binary::<i32>().iter().flatten() {
            let other = Distinct::from_bytes(*self.sketch.config(), bytes).map_err(|e| external("hll_distinct", e))?;
            self.sketch.merge(other).map_err(|e| external("hll_distinct", e))?;
        }
        Ok(())
    }
}
