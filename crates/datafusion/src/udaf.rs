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
//!   (`CAST(value AS VARCHAR)`): values of a number column that are equal
//!   as numbers count once (`-15` and `-15.0`), where `pagemill features
//!   --distinct` counts each text as written. `hll_distinct(DISTINCT v)` is
//!   the same count; `hdr_quantile(DISTINCT v, q)` is refused.
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
        Ok(Box::new(One::<Quantiles>::new(quantile_args(&args)?)))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs<'_>) -> bool {
        true
    }

    fn create_groups_accumulator(&self, args: AccumulatorArgs<'_>) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(Groups::<Quantiles>::new(quantile_args(&args)?)))
    }
}

/// The quantile and sketch settings of a `hdr_quantile` call.
fn quantile_args(args: &AccumulatorArgs<'_>) -> Result<(QuantileConfig, f64)> {
    if args.is_distinct {
        // The sketch counts every value: DISTINCT would be ignored silently.
        return plan_err!(
            "hdr_quantile(DISTINCT ...) is not supported: take the quantile over a subquery of the distinct values"
        );
    }
    {
        let q = literal_f64(&args.exprs[1], "quantile")?;
        if !(0.0..=1.0).contains(&q) {
            return plan_err!("hdr_quantile: the quantile must be between 0 and 1, got {q}");
        }
        let mut config = QuantileConfig::new().scale(1_000_000).map_err(|e| external("hdr_quantile", e))?;
        if let Some(e) = args.exprs.get(2) {
            let digits = literal_f64(e, "significant digits")?;
            if !(1.0..=5.0).contains(&digits) || digits.fract() != 0.0 {
                return plan_err!("hdr_quantile: significant digits must be a whole number from 1 to 5, got {digits}");
            }
            config = config.sigfig(digits as u8).map_err(|e| external("hdr_quantile", e))?;
        }
        if let Some(e) = args.exprs.get(3) {
            let scale = literal_f64(e, "scale")?;
            if !(scale >= 1.0 && scale.fract() == 0.0 && scale < 1e18) {
                return plan_err!("hdr_quantile: the scale must be a whole number from 1, got {scale}");
            }
            config = config.scale(scale as u64).map_err(|e| external("hdr_quantile", e))?;
        }
        Ok((config, q))
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
        Ok(Box::new(One::<Distinct>::new(DistinctConfig::new())))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs<'_>) -> bool {
        true
    }

    fn create_groups_accumulator(&self, _args: AccumulatorArgs<'_>) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(Groups::<Distinct>::new(DistinctConfig::new())))
    }
}

/// What the accumulators need of a sketch: both functions share one plain
/// and one per-group accumulator, generic over this.
trait Sketch: Sized + Send + Sync + std::fmt::Debug + 'static {
    /// The sketch settings, and what the answer needs (the quantile).
    type Config: Copy + Send + Sync + std::fmt::Debug + 'static;
    /// The SQL function's name, for errors.
    const FUNCTION: &'static str;

    fn empty(config: Self::Config) -> Self;

    /// Add each non-null value of `values` (row `i`) to `sketches[slot(i)]`,
    /// skipping rows `slot` maps to `None`.
    fn add(sketches: &mut [Self], values: &ArrayRef, slot: impl FnMut(usize) -> Option<usize>) -> Result<()>;

    /// Merge the sketch saved as `bytes` into this one.
    fn merge_bytes(&mut self, config: Self::Config, bytes: &[u8]) -> Result<()>;

    fn to_bytes(&self) -> Vec<u8>;

    /// The answers of `sketches`, one per sketch.
    fn answers(sketches: &[Self], config: Self::Config) -> ArrayRef;

    /// Roughly the bytes one sketch holds.
    fn approx_size(&self) -> usize;
}

impl Sketch for Quantiles {
    type Config = (QuantileConfig, f64);
    const FUNCTION: &'static str = "hdr_quantile";

    fn empty((config, _): Self::Config) -> Quantiles {
        Quantiles::new(config)
    }

    fn add(sketches: &mut [Quantiles], values: &ArrayRef, mut slot: impl FnMut(usize) -> Option<usize>) -> Result<()> {
        let values = arrow_cast::cast(values, &DataType::Float64)?;
        let values = values.as_primitive::<arrow_array::types::Float64Type>();
        for i in 0..values.len() {
            if values.is_valid(i)
                && let Some(g) = slot(i)
            {
                sketches[g].record(values.value(i)).map_err(|e| external(Self::FUNCTION, e))?;
            }
        }
        Ok(())
    }

    fn merge_bytes(&mut self, (config, _): Self::Config, bytes: &[u8]) -> Result<()> {
        let other = Quantiles::from_bytes(config, bytes).map_err(|e| external(Self::FUNCTION, e))?;
        self.merge(&other).map_err(|e| external(Self::FUNCTION, e))
    }

    fn to_bytes(&self) -> Vec<u8> {
        Quantiles::to_bytes(self)
    }

    fn answers(sketches: &[Quantiles], (_, q): Self::Config) -> ArrayRef {
        Arc::new(sketches.iter().map(|s| s.quantile(q)).collect::<Float64Array>())
    }

    fn approx_size(&self) -> usize {
        // The histograms' own size is not exposed: count the raw values.
        std::mem::size_of::<Quantiles>() + 8 * self.count().min(1024) as usize
    }
}

impl Sketch for Distinct {
    type Config = DistinctConfig;
    const FUNCTION: &'static str = "hll_distinct";

    fn empty(config: DistinctConfig) -> Distinct {
        Distinct::new(config)
    }

    fn add(sketches: &mut [Distinct], values: &ArrayRef, mut slot: impl FnMut(usize) -> Option<usize>) -> Result<()> {
        for_each_value(values, |i, v| {
            if let Some(g) = slot(i) {
                sketches[g].insert(v);
            }
        })
    }

    fn merge_bytes(&mut self, config: DistinctConfig, bytes: &[u8]) -> Result<()> {
        let other = Distinct::from_bytes(config, bytes).map_err(|e| external(Self::FUNCTION, e))?;
        self.merge(other).map_err(|e| external(Self::FUNCTION, e))
    }

    fn to_bytes(&self) -> Vec<u8> {
        Distinct::to_bytes(self)
    }

    fn answers(sketches: &[Distinct], _: DistinctConfig) -> ArrayRef {
        Arc::new(sketches.iter().map(|s| s.estimate()).collect::<UInt64Array>())
    }

    fn approx_size(&self) -> usize {
        std::mem::size_of::<Distinct>() + 64
    }
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

/// The saved forms of `sketches` as one state column.
fn saved<S: Sketch>(sketches: &[S]) -> ArrayRef {
    Arc::new(sketches.iter().map(|s| Some(s.to_bytes())).collect::<BinaryArray>())
}

/// One sketch: the accumulator of an aggregate without GROUP BY.
#[derive(Debug)]
struct One<S: Sketch> {
    config: S::Config,
    sketch: [S; 1],
}

impl<S: Sketch> One<S> {
    fn new(config: S::Config) -> One<S> {
        One { config, sketch: [S::empty(config)] }
    }
}

impl<S: Sketch> Accumulator for One<S> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        S::add(&mut self.sketch, &values[0], |_| Some(0))
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        ScalarValue::try_from_array(&S::answers(&self.sketch, self.config), 0)
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.sketch[0].approx_size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Binary(Some(self.sketch[0].to_bytes()))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let states = &states[0];
        if states.data_type() == &DataType::Null {
            return Ok(());
        }
        for bytes in states.as_binary::<i32>().iter().flatten() {
            self.sketch[0].merge_bytes(self.config, bytes)?;
        }
        Ok(())
    }
}

/// One sketch per group index: the accumulator of an aggregate with GROUP BY.
#[derive(Debug)]
struct Groups<S: Sketch> {
    config: S::Config,
    sketches: Vec<S>,
}

impl<S: Sketch> Groups<S> {
    fn new(config: S::Config) -> Groups<S> {
        Groups { config, sketches: Vec::new() }
    }

    fn grow(&mut self, groups: usize) {
        if self.sketches.len() < groups {
            let config = self.config;
            self.sketches.resize_with(groups, || S::empty(config));
        }
    }
}

impl<S: Sketch> GroupsAccumulator for Groups<S> {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.grow(total_num_groups);
        S::add(&mut self.sketches, &values[0], |i| passes(opt_filter, i).then(|| group_indices[i]))
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        Ok(S::answers(&emit_to.take_needed(&mut self.sketches), self.config))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![saved(&emit_to.take_needed(&mut self.sketches))])
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> Result<()> {
        self.grow(total_num_groups);
        let states = values[0].as_binary::<i32>();
        for (i, &g) in group_indices.iter().enumerate() {
            if states.is_valid(i) {
                self.sketches[g].merge_bytes(self.config, states.value(i))?;
            }
        }
        Ok(())
    }

    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        // One sketch per row: what a partial aggregation that skips grouping hands on.
        let mut rows: Vec<S> = (0..values[0].len()).map(|_| S::empty(self.config)).collect();
        S::add(&mut rows, &values[0], |i| passes(opt_filter, i).then_some(i))?;
        Ok(vec![saved(&rows)])
    }

    fn size(&self) -> usize {
        self.sketches.capacity() * std::mem::size_of::<S>() + self.sketches.iter().map(S::approx_size).sum::<usize>()
    }
}
