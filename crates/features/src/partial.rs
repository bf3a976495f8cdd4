//! Partial results of the general features job: the mergeable state of every
//! key as an Arrow batch, so that runs over different inputs (days, shards,
//! machines) can be saved and merged later into the result one run over all
//! of them would give.
//!
//! # The partial schema
//!
//! One row per key, sorted like the result. Columns, in this order:
//!
//! * the key columns, named and typed as in the result (readable; not used
//!   to merge);
//! * `_key` (Binary): the key as the job stores it, each part a tag byte
//!   (0: null; `n + 1`: `n` bytes follow, for `n` < 254; 255: a `u32`
//!   little-endian length and the bytes). Binary integer keys keep their
//!   field's little-endian bytes, which a reader widens to 8 (sign- or
//!   zero-extended), so fields declared with different widths merge;
//! * `rows` (UInt64): the records of the key;
//! * per value column `<col>`: `<col>_state` (Binary, 122 bytes: a version
//!   byte (2), then little-endian `count` and `missing` (u64), the exact
//!   decimal sums (`n` u64, `scale` u8, `sum` and `sum of squares` i128 in
//!   units of `10^-scale` and `10^-2 scale`), the float moments (`n` u64,
//!   `mean` and `M2` f64, Welford/Chan), then `min`, `max`, `first`, `last`
//!   (f64), then the float moments' plain `sum` (f64); version 1, 114
//!   bytes without that sum, still reads), and
//!   when quantiles are asked for `<col>_quantiles` (Binary: the
//!   [`Quantiles`] sketch, see [`Quantiles::to_bytes`]);
//! * per distinct column `<col>`: `<col>_distinct_state` (Binary: the
//!   [`Distinct`] count, see [`Distinct::to_bytes`]; exact hashes or an
//!   Apache DataSketches HyperLogLog).
//!
//! The schema metadata holds [`PARTIAL_KEY`] = `features/1` and under
//! [`PARTIAL_SPEC_KEY`] the job's resolved spec (key, value and distinct
//! names, key types, aggregates, sketch settings) as `name=value` lines.
//! Partials merge only with partials of the same spec.
//!
//! A partial of many keys may hold pieces of later chunks not merged in yet
//! (see [`FeaturesPartial`]). [`Features::partial_batch`] merges them first;
//! [`Features::pieces_batch`] keeps them apart (the partial batches of the
//! pieces, one after another, their row counts under [`PIECES_KEY`]) for a
//! partial that is to merge exactly as the unshipped one would: worker
//! processes ship their nodes of a run's merge tree that way.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use arrow_array::builder::BinaryBuilder;
use arrow_array::{Array, ArrayRef, BinaryArray, RecordBatch, UInt64Array};
use arrow_schema::{DataType, Field, Schema};
use arrow_select::concat::concat_batches;
use pagemill_engine::Job;
use pagemill_sketch::{Distinct, DistinctConfig, QuantileConfig, Quantiles};
use pagemill_split::{AnyFormat, Lines};

use crate::acc::ValueAcc;
use crate::error::Error;
use crate::general::{Features, FeaturesPartial, Reader, RowRef, key_parts, push_key_part};
use crate::spec::{Agg, Dialect, FieldType};
use crate::table::Prefix;

pub use pagemill_engine::{PARTIAL_KEY, PARTIAL_SPEC_KEY};
/// The value of [`PARTIAL_KEY`] for this layout.
pub const FEATURES_PARTIAL: &str = "features/1";
/// Schema metadata key of a [`Features::pieces_batch`]: the number of rows
/// of each piece, in order, comma-separated.
pub const PIECES_KEY: &str = "pagemill.features.pieces";

/// Percent-escape the bytes that separate list items and lines.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            ',' => out.push_str("%2C"),
            '\n' => out.push_str("%0A"),
            '\r' => out.push_str("%0D"),
            c => out.push(c),
        }
    }
    out
}

fn unesc(s: &str) -> Result<String, Error> {
    let bad = || Error::BadPartial(format!("bad escape in spec item '{s}'"));
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 3).ok_or_else(bad)?;
        out.push(match code {
            "25" => '%',
            "2C" => ',',
            "0A" => '\n',
            "0D" => '\r',
            _ => return Err(bad()),
        });
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A list as `count,item,item...`, items escaped (so that an empty name
/// and an empty list differ).
fn list<'a>(items: impl ExactSizeIterator<Item = &'a str>) -> String {
    let mut out = items.len().to_string();
    for item in items {
        out.push(',');
        out.push_str(&esc(item));
    }
    out
}

fn parse_list(s: &str) -> Result<Vec<String>, Error> {
    let mut parts = s.split(',');
    let n: usize = parts
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| Error::BadPartial(format!("bad list '{s}' in spec")))?;
    let items = parts.map(unesc).collect::<Result<Vec<_>, _>>()?;
    if items.len() != n {
        return Err(Error::BadPartial(format!("list '{s}' in spec does not hold {n} items")));
    }
    Ok(items)
}

fn type_name(t: Option<FieldType>) -> &'static str {
    match t {
        Some(t) if t.is_signed() => "int",
        Some(t) if t.is_unsigned() => "uint",
        _ => "text",
    }
}

impl Features {
    /// The spec text stored with partials (see the [module docs](self)).
    fn partial_spec(&self) -> String {
        let q = &self.quantile_config;
        let d = &self.distinct_config;
        let aggs: Vec<String> = self.aggs.iter().map(Agg::to_string).collect();
        let types: Vec<&str> = self.key_types.iter().map(|&t| type_name(t)).collect();
        format!(
            "keys={}\nkey-types={}\nvalues={}\ndistinct={}\naggs={}\nquantiles=sigfig:{},scale:{},raw:{}\ndistinct-sketch=lg_k:{},exact:{}\n",
            list(self.key_names.iter().map(String::as_str)),
            list(types.into_iter()),
            list(self.value_names.iter().map(String::as_str)),
            list(self.distinct_names.iter().map(String::as_str)),
            list(aggs.iter().map(String::as_str)),
            q.get_sigfig(),
            q.get_scale(),
            q.get_raw_limit(),
            d.get_lg_k(),
            d.get_exact_limit(),
        )
    }

    /// A job rebuilt from a partial's spec: it merges and finishes partials
    /// exactly as the job that wrote them, but has no input to map.
    fn from_partial_spec(spec: &str) -> Result<Features, Error> {
        let mut fields: HashMap<&str, &str> = HashMap::new();
        for line in spec.lines() {
            let (name, value) =
                line.split_once('=').ok_or_else(|| Error::BadPartial(format!("bad spec line '{line}'")))?;
            fields.insert(name, value);
        }
        let get =
            |name: &str| fields.get(name).copied().ok_or_else(|| Error::BadPartial(format!("no '{name}' in spec")));
        let settings = |name: &str| -> Result<HashMap<String, u64>, Error> {
            get(name)?
                .split(',')
                .map(|kv| {
                    let (k, v) =
                        kv.split_once(':').ok_or_else(|| Error::BadPartial(format!("bad '{name}' in spec")))?;
                    let v = v.parse().map_err(|_| Error::BadPartial(format!("bad '{name}' in spec")))?;
                    Ok((k.to_string(), v))
                })
                .collect()
        };
        let setting = |map: &HashMap<String, u64>, k: &str| {
            map.get(k).copied().ok_or_else(|| Error::BadPartial(format!("no '{k}' setting in spec")))
        };
        let key_names = parse_list(get("keys")?)?;
        let key_types = parse_list(get("key-types")?)?
            .iter()
            .map(|t| match t.as_str() {
                "int" => Ok(Some(FieldType::I64)),
                "uint" => Ok(Some(FieldType::U64)),
                "text" => Ok(None),
                _ => Err(Error::BadPartial(format!("unknown key type '{t}' in spec"))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if key_types.len() != key_names.len() || key_names.is_empty() {
            return Err(Error::BadPartial("key names and types do not match in spec".to_string()));
        }
        let value_names = parse_list(get("values")?)?;
        let distinct_names = parse_list(get("distinct")?)?;
        let aggs = parse_list(get("aggs")?)?.iter().map(|a| a.parse()).collect::<Result<Vec<Agg>, _>>()?;
        let q = settings("quantiles")?;
        let byte = |v: u64| u8::try_from(v).map_err(|_| Error::BadPartial("setting out of range in spec".to_string()));
        let quantile_config = QuantileConfig::new()
            .sigfig(byte(setting(&q, "sigfig")?)?)?
            .scale(setting(&q, "scale")?)?
            .raw_limit(u32::try_from(setting(&q, "raw")?).map_err(|_| Error::BadPartial("bad raw limit".into()))?);
        let d = settings("distinct-sketch")?;
        let distinct_config =
            DistinctConfig::new().lg_k(byte(setting(&d, "lg_k")?)?)?.exact_limit(setting(&d, "exact")? as usize)?;
        let qs = aggs.iter().filter_map(|a| if let Agg::Quantile(p) = a { Some(p / 100.0) } else { None }).collect();
        Ok(Features {
            format: AnyFormat::Lines(Lines),
            reader: Reader::Delimited { dialect: Dialect::csv(), width: 0 },
            keys: (0..key_names.len()).collect(),
            values: (0..value_names.len()).collect(),
            distinct: (0..distinct_names.len()).collect(),
            key_names,
            value_names,
            distinct_names,
            aggs,
            qs,
            nulls: Vec::new(),
            null_first: [false; 256],
            null_empty: false,
            quantile_config,
            quantile_scale: quantile_config.get_scale() as f64,
            distinct_config,
            key_types,
            key_hint: AtomicUsize::new(0),
        })
    }

    /// The partial state `partial` (from
    /// [`Runner::run_partial`](pagemill_engine::Runner::run_partial)) as an
    /// Arrow batch in the partial schema of the [module docs](self): one row
    /// per key, with the spec in the schema metadata. Merge such batches
    /// with [`merge_partials`].
    pub fn partial_batch(&self, mut partial: FeaturesPartial) -> RecordBatch {
        self.settle(&mut partial);
        let order = self.sorted_rows(&partial);
        let (mut fields, mut columns) = self.key_columns(&order, 0..order.rows.len());
        let rows = &order.rows;
        let keys: Vec<Vec<&[u8]>> = partial
            .shards
            .iter()
            .map(|s| {
                let mut keys: Vec<&[u8]> = vec![&[]; s.rows.len()];
                for (key, &r) in s.table.iter() {
                    keys[r as usize] = key;
                }
                keys
            })
            .collect();
        let binary = |f: &mut dyn FnMut(RowRef, &mut Vec<u8>)| -> ArrayRef {
            let mut builder = BinaryBuilder::new();
            let mut buf = Vec::new();
            for &r in rows {
                buf.clear();
                f(r, &mut buf);
                builder.append_value(&buf);
            }
            Arc::new(builder.finish())
        };
        fields.push(Field::new("_key", DataType::Binary, false));
        columns.push(binary(&mut |(s, r), out| out.extend_from_slice(keys[s][r])));
        fields.push(Field::new("rows", DataType::UInt64, false));
        columns.push(Arc::new(UInt64Array::from_iter_values(rows.iter().map(|&(s, r)| partial.shards[s].rows[r]))));
        let nv = self.values.len();
        let nd = self.distinct.len();
        for (j, name) in self.value_names.iter().enumerate() {
            fields.push(Field::new(format!("{name}_state"), DataType::Binary, false));
            columns.push(binary(&mut |(s, r), out| partial.shards[s].values[r * nv + j].to_bytes(out)));
            if !self.qs.is_empty() {
                fields.push(Field::new(format!("{name}_quantiles"), DataType::Binary, false));
                columns.push(binary(&mut |(s, r), out| {
                    out.extend_from_slice(&partial.shards[s].quantiles[r * nv + j].to_bytes())
                }));
            }
        }
        for (j, name) in self.distinct_names.iter().enumerate() {
            fields.push(Field::new(format!("{name}_distinct_state"), DataType::Binary, false));
            columns.push(binary(&mut |(s, r), out| {
                out.extend_from_slice(&partial.shards[s].distinct[r * nd + j].to_bytes())
            }));
        }
        let metadata = HashMap::from([
            (PARTIAL_KEY.to_string(), FEATURES_PARTIAL.to_string()),
            (PARTIAL_SPEC_KEY.to_string(), self.partial_spec()),
        ]);
        let schema = Schema::new(fields).with_metadata(metadata);
        RecordBatch::try_new(Arc::new(schema), columns).expect("columns match the schema by construction")
    }

    /// `partial` as one batch that keeps its pieces not merged yet apart:
    /// the [`partial_batch`](Features::partial_batch) of each piece, in
    /// order, their row counts under [`PIECES_KEY`].
    /// [`partial_from_pieces_batch`](Features::partial_from_pieces_batch)
    /// turns it back into a partial that merges with others exactly as
    /// `partial` would have, float moments to the last bit; a partial batch
    /// is settled, so merging it can combine the same states in another
    /// order. For moving a node of one run's merge tree between processes;
    /// files for later runs take [`partial_batch`](Features::partial_batch).
    pub fn pieces_batch(&self, partial: FeaturesPartial) -> RecordBatch {
        let FeaturesPartial { shards, later } = partial;
        let batches: Vec<RecordBatch> = std::iter::once(shards)
            .chain(later)
            .map(|shards| self.partial_batch(FeaturesPartial { shards, later: Vec::new() }))
            .collect();
        let schema = batches[0].schema();
        let all = concat_batches(&schema, &batches).expect("partial batches of one job share their schema");
        let counts: Vec<String> = batches.iter().map(|b| b.num_rows().to_string()).collect();
        let mut metadata = schema.metadata().clone();
        metadata.insert(PIECES_KEY.to_string(), counts.join(","));
        let schema = Schema::new(schema.fields().clone()).with_metadata(metadata);
        all.with_schema(Arc::new(schema)).expect("the same fields, more metadata")
    }

    /// The partial a [`pieces_batch`](Features::pieces_batch) holds, its
    /// pieces apart again (a batch without [`PIECES_KEY`] is one piece).
    pub fn partial_from_pieces_batch(&self, batch: &RecordBatch) -> Result<FeaturesPartial, Error> {
        let counts: Vec<usize> = match batch.schema().metadata().get(PIECES_KEY) {
            None => vec![batch.num_rows()],
            Some(list) => list
                .split(',')
                .map(|n| n.parse())
                .collect::<Result<_, _>>()
                .map_err(|_| Error::BadPartial(format!("{PIECES_KEY} is not a list of row counts: {list:?}")))?,
        };
        let total = counts.iter().try_fold(0usize, |sum, &n| sum.checked_add(n));
        if total != Some(batch.num_rows()) {
            return Err(Error::BadPartial(format!(
                "{PIECES_KEY} counts {} rows, the batch has {}",
                total.map_or("more than usize::MAX".to_string(), |t| t.to_string()),
                batch.num_rows()
            )));
        }
        let mut offset = 0;
        let mut pieces = Vec::with_capacity(counts.len());
        for n in counts {
            pieces.push(self.partial_from_batch(&batch.slice(offset, n))?);
            offset += n;
        }
        Ok(self.with_pieces(pieces))
    }

    /// The state held by one partial batch of this job's spec (from
    /// [`partial_batch`](Features::partial_batch) of a job built from the
    /// same spec): what [`merge_partial_batches`] merges, for callers that
    /// merge partials themselves, in their own order.
    pub fn partial_from_batch(&self, batch: &RecordBatch) -> Result<FeaturesPartial, Error> {
        let nk = self.keys.len();
        let nv = self.values.len();
        let nq = self.quantiles_per_row();
        let nd = self.distinct.len();
        let want = nk + 2 + nv + nq + nd;
        if batch.num_columns() != want {
            return Err(Error::BadPartial(format!("{} columns, expected {want}", batch.num_columns())));
        }
        let bad = |what: String| Error::BadPartial(what);
        let binary = |i: usize| -> Result<&BinaryArray, Error> {
            let col = batch.column(i).as_any().downcast_ref::<BinaryArray>();
            match col {
                Some(c) if c.null_count() == 0 => Ok(c),
                _ => Err(bad(format!(
                    "column '{}' is not a binary column without nulls",
                    batch.schema().field(i).name()
                ))),
            }
        };
        let keys = binary(nk)?;
        let rows = batch
            .column(nk + 1)
            .as_any()
            .downcast_ref::<UInt64Array>()
            .filter(|c| c.null_count() == 0)
            .ok_or_else(|| bad("column 'rows' is not UInt64 without nulls".to_string()))?;
        let n = batch.num_rows();
        let mut p = self.partial_for(n);
        // The shard of each row, in the batch's order.
        let mut shard_of_row = Vec::with_capacity(n);
        let mut wide = Vec::new();
        for i in 0..n {
            let mut key = keys.value(i);
            let parts =
                key_parts(key).filter(|p| !p.is_empty()).ok_or_else(|| bad(format!("row {i}: malformed key")))?;
            if parts.len() != nk {
                return Err(bad(format!("row {i}: key of {} parts, expected {nk}", parts.len())));
            }
            if self.key_types.iter().any(Option::is_some) {
                widen_key(&parts, &self.key_types, &mut wide).map_err(|why| bad(format!("row {i}: {why}")))?;
                key = &wide;
            }
            let (prefix, hash) = Prefix::with_hash(key);
            let shard = p.shard_index(hash);
            let s = &mut p.shards[shard];
            let next = s.rows.len() as u32;
            let (slot, inserted) = s.table.entry(key, prefix, hash);
            if !inserted {
                return Err(bad(format!("row {i}: key repeated")));
            }
            *slot = next;
            s.rows.push(rows.value(i));
            s.invalid.push(false);
            shard_of_row.push(shard);
        }
        let mut col = nk + 2;
        let mut value_states = Vec::with_capacity(nv);
        let mut quantile_states = Vec::with_capacity(nq);
        for _ in 0..nv {
            value_states.push(binary(col)?);
            col += 1;
            if nq > 0 {
                quantile_states.push(binary(col)?);
                col += 1;
            }
        }
        let distinct_states: Vec<&BinaryArray> = (0..nd).map(|j| binary(col + j)).collect::<Result<_, _>>()?;
        for (i, &shard) in shard_of_row.iter().enumerate() {
            let p = &mut p.shards[shard];
            for (j, states) in value_states.iter().enumerate() {
                let acc = ValueAcc::from_bytes(states.value(i))
                    .map_err(|e| bad(format!("row {i}, value '{}': {e}", self.value_names[j])))?;
                p.values.push(acc);
            }
            for (j, states) in quantile_states.iter().enumerate() {
                let q = Quantiles::from_bytes(self.quantile_config, states.value(i))
                    .map_err(|e| bad(format!("row {i}, quantiles of '{}': {e}", self.value_names[j])))?;
                p.quantiles.push(q);
            }
            for (j, states) in distinct_states.iter().enumerate() {
                let d = Distinct::from_bytes(self.distinct_config, states.value(i))
                    .map_err(|e| bad(format!("row {i}, distinct '{}': {e}", self.distinct_names[j])))?;
                p.distinct.push(d);
            }
        }
        Ok(p)
    }
}

/// The spec of a partial batch, from its schema metadata.
fn spec_of(batch: &RecordBatch) -> Result<String, Error> {
    let schema = batch.schema();
    let metadata = schema.metadata();
    match metadata.get(PARTIAL_KEY).map(String::as_str) {
        Some(FEATURES_PARTIAL) => {}
        Some(other) => return Err(Error::NotAPartial(format!("a '{other}' partial, not a features one"))),
        None => return Err(Error::NotAPartial("no pagemill.partial entry in its schema metadata".to_string())),
    }
    metadata.get(PARTIAL_SPEC_KEY).cloned().ok_or_else(|| Error::BadPartial("no job spec in its metadata".to_string()))
}

/// `parts` of a key with binary integer parts (the field's little-endian
/// bytes, as mapped) widened to 8 bytes, sign- or zero-extended, into
/// `out`: the same key whatever width a run declared the field with (`u16`
/// one day, `u32` the next), so such partials merge key by key.
fn widen_key(parts: &[Option<&[u8]>], types: &[Option<FieldType>], out: &mut Vec<u8>) -> Result<(), String> {
    out.clear();
    for (part, ty) in parts.iter().zip(types) {
        match (part, ty) {
            (Some(b), Some(t)) if !b.is_empty() && b.len() <= 8 => {
                let fill = if t.is_signed() && b[b.len() - 1] & 0x80 != 0 { 0xff } else { 0 };
                let mut w = [fill; 8];
                w[..b.len()].copy_from_slice(b);
                push_key_part(out, Some(&w));
            }
            (Some(b), Some(_)) => return Err(format!("an integer key part of {} bytes", b.len())),
            (part, _) => push_key_part(out, *part),
        }
    }
    Ok(())
}

/// Merge partial batches (from [`Features::partial_batch`], possibly read
/// back from files) in the given order, as if their inputs had been read
/// in one run in that order: the job they were computed with and the merged
/// state. [`Job::finish`] turns them into the result, or
/// [`Features::partial_batch`] into a partial again. Every batch must carry
/// the same spec; there must be at least one.
pub fn merge_partial_batches(batches: &[RecordBatch]) -> Result<(Features, FeaturesPartial), Error> {
    let first = batches.first().ok_or_else(|| Error::NotAPartial("no partial to merge".to_string()))?;
    let spec = spec_of(first)?;
    let job = Features::from_partial_spec(&spec)?;
    let mut merged = job.empty();
    for batch in batches {
        let other = spec_of(batch)?;
        if other != spec {
            let (a, b) =
                spec.lines().zip(other.lines()).find(|(a, b)| a != b).unwrap_or((spec.as_str(), other.as_str()));
            return Err(Error::PartialMismatch(format!("{a} vs {b}")));
        }
        let partial = job.partial_from_batch(batch)?;
        merged = job.merge(merged, partial);
    }
    Ok((job, merged))
}

/// Merge partial batches into the finished result: the table one run over
/// all their inputs (in this order) would give. See
/// [`merge_partial_batches`].
pub fn merge_partials(batches: &[RecordBatch]) -> Result<RecordBatch, Error> {
    let (job, merged) = merge_partial_batches(batches)?;
    Ok(job.finish(merged, &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_lists_round_trip() {
        for items in [vec![], vec![""], vec!["a,b", "x%2C", "line\nbreak", "=", "é"]] {
            assert_eq!(parse_list(&list(items.iter().copied())).unwrap(), items);
        }
        assert!(parse_list("2,a").is_err());
        assert!(parse_list("x").is_err());
        assert!(unesc("%zz").is_err());
        assert_eq!(key_parts(&[0, 2, b'a', 1]), Some(vec![None, Some(&b"a"[..]), Some(&b""[..])]));
        assert_eq!(key_parts(&[3, b'a']), None);
        assert_eq!(key_parts(&[255, 1, 0]), None);
        assert_eq!(key_parts(&[]), Some(vec![]));
    }
}
