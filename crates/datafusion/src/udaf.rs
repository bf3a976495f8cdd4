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
use arrow_array::{Array, ArrayRef, BinaryArray, BooleanArray, Float64Array, RecordBatch, UInt64Array};
use arrow_schema::{DataType, Field, FieldRef, Schema};
use datafusion::common::{DataFusionError, Result, ScalarValue, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, EmitTo, GroupsAccumulator, Signature, Volatility,
};
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
        let (q, config) = quantile_args(&args)?;
        Ok(Box::new(QuantileAcc { q, sketch: Quantiles::new(config) }))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs<'_>) -> bool {
        true
    }

    fn create_groups_accumulator(&self, args: AccumulatorArgs<'_>) -> Result<Box<dyn GroupsAccumulator>> {
        let (q, config) = quantile_args(&args)?;
        Ok(Box::new(QuantileGroups { q, config, sketches: Vec::new() }))
    }
}

/// The quantile and sketch settings of a `hdr_quantile` call.
fn quantile_args(args: &AccumulatorArgs<'_>) -> Result<(f64, QuantileConfig)> {
    {
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
        Ok((q, config))
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

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs<'_>) -> bool {
        true
    }

    fn create_groups_accumulator(&self, _args: AccumulatorArgs<'_>) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(DistinctGroups { config: DistinctConfig::new(), sketches: Vec::new() }))
    }
}

#[derive(Debug)]
struct DistinctAcc {
    sketch: Distinct,
}

/// Call `f(row, bytes)` for every non-null value of `v`: text and binary as
/// they are, anything else as its text (`CAST(v AS VARCHAR)`).
fn for_each_value(v: &ArrayRef, mut f: impl FnMut(usize, &[u8])) -> Result<()> {
    fn each<'a>(values: impl Iterator<Item = Option<&'a [u8]>>, f: &mut impl FnMut(usize, &[u8])) {
        for (i, v) in values.enumerate() {
            if let Some(v) = v {
                f(i, v);
            }
        }
    }
    match v.data_type() {
        DataType::Utf8View => each(v.as_string_view().iter().map(|s| s.map(str::as_bytes)), &mut f),
        DataType::Utf8 => each(v.as_string::<i32>().iter().map(|s| s.map(str::as_bytes)), &mut f),
        DataType::LargeUtf8 => each(v.as_string::<i64>().iter().map(|s| s.map(str::as_bytes)), &mut f),
        DataType::Binary => each(v.as_binary::<i32>().iter(), &mut f),
        DataType::BinaryView => each(v.as_binary_view().iter(), &mut f),
        DataType::Null => {}
        _ => {
            let text = arrow_cast::cast(v, &DataType::Utf8)?;
            each(text.as_string::<i32>().iter().map(|s| s.map(str::as_bytes)), &mut f);
        }
    }
    Ok(())
}

/// Whether row `i` passes the aggregate's `FILTER (WHERE ...)`.
#[inline]
fn passes(filter: Option<&BooleanArray>, i: usize) -> bool {
    filter.is_none_or(|f| f.is_valid(i) && f.value(i))
}

impl Accumulator for DistinctAcc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for_each_value(&values[0], |_, v| self.sketch.insert(v))
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

/// `hdr_quantile` for many groups at once: one sketch per group index.
#[derive(Debug)]
struct QuantileGroups {
    q: f64,
    config: QuantileConfig,
    sketches: Vec<Quantiles>,
}

impl QuantileGroups {
    fn grow(&mut self, groups: usize) {
        if self.sketches.len() < groups {
            self.sketches.resize_with(groups, || Quantiles::new(self.config));
        }
    }
}

impl GroupsAccumulator for QuantileGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.grow(total_num_groups);
        let values = arrow_cast::cast(&values[0], &DataType::Float64)?;
        let values = values.as_primitive::<arrow_array::types::Float64Type>();
        for (i, &g) in group_indices.iter().enumerate() {
            if values.is_valid(i) && passes(opt_filter, i) {
                self.sketches[g].record(values.value(i)).map_err(|e| external("hdr_quantile", e))?;
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let q = self.q;
        Ok(Arc::new(emit_to.take_needed(&mut self.sketches).iter().map(|s| s.quantile(q)).collect::<Float64Array>()))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let taken = emit_to.take_needed(&mut self.sketches);
        Ok(vec![Arc::new(taken.iter().map(|s| Some(s.to_bytes())).collect::<BinaryArray>())])
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> Result<()> {
        self.grow(total_num_groups);
        let states = values[0].as_binary::<i32>();
        for (i, &g) in group_indices.iter().enumerate() {
            if states.is_valid(i) {
                let other =
                    Quantiles::from_bytes(self.config, states.value(i)).map_err(|e| external("hdr_quantile", e))?;
                self.sketches[g].merge(&other).map_err(|e| external("hdr_quantile", e))?;
            }
        }
        Ok(())
    }

    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        let values = arrow_cast::cast(&values[0], &DataType::Float64)?;
        let values = values.as_primitive::<arrow_array::types::Float64Type>();
        let mut out = Vec::with_capacity(values.len());
        for i in 0..values.len() {
            let mut s = Quantiles::new(self.config);
            if values.is_valid(i) && passes(opt_filter, i) {
                s.record(values.value(i)).map_err(|e| external("hdr_quantile", e))?;
            }
            out.push(Some(s.to_bytes()));
        }
        Ok(vec![Arc::new(out.into_iter().collect::<BinaryArray>())])
    }

    fn size(&self) -> usize {
        // The histograms' own size is not exposed; count a raw buffer's worth.
        self.sketches.capacity() * std::mem::size_of::<Quantiles>()
            + self.sketches.iter().map(|s| 8 * s.count().min(1024) as usize).sum::<usize>()
    }
}

/// `hll_distinct` for many groups at once: one count per group index.
#[derive(Debug)]
struct DistinctGroups {
    config: DistinctConfig,
    sketches: Vec<Distinct>,
}

impl DistinctGroups {
    fn grow(&mut self, groups: usize) {
        if self.sketches.len() < groups {
            self.sketches.resize_with(groups, || Distinct::new(self.config));
        }
    }
}

impl GroupsAccumulator for DistinctGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.grow(total_num_groups);
        let sketches = &mut self.sketches;
        for_each_value(&values[0], |i, v| {
            if passes(opt_filter, i) {
                sketches[group_indices[i]].insert(v);
            }
        })
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let taken = emit_to.take_needed(&mut self.sketches);
        Ok(Arc::new(taken.iter().map(|s| s.estimate()).collect::<UInt64Array>()))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let taken = emit_to.take_needed(&mut self.sketches);
        Ok(vec![Arc::new(taken.iter().map(|s| Some(s.to_bytes())).collect::<BinaryArray>())])
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> Result<()> {
        self.grow(total_num_groups);
        let states = values[0].as_binary::<i32>();
        for (i, &g) in group_indices.iter().enumerate() {
            if states.is_valid(i) {
                let other =
                    Distinct::from_bytes(self.config, states.value(i)).map_err(|e| external("hll_distinct", e))?;
                self.sketches[g].merge(other).map_err(|e| external("hll_distinct", e))?;
            }
        }
        Ok(())
    }

    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        let mut counts: Vec<Distinct> = (0..values[0].len()).map(|_| Distinct::new(self.config)).collect();
        for_each_value(&values[0], |i, v| {
            if passes(opt_filter, i) {
                counts[i].insert(v);
            }
        })?;
        Ok(vec![Arc::new(counts.iter().map(|s| Some(s.to_bytes())).collect::<BinaryArray>())])
    }

    fn size(&self) -> usize {
        self.sketches.capacity() * std::mem::size_of::<Distinct>() + self.sketches.len() * 64
    }
}
