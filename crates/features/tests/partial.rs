//! Partial results: runs over separate inputs, saved as partial batches and
//! merged, equal one run over all the inputs; damaged or mismatched partials
//! are errors, never panics.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BinaryArray, Float64Array, RecordBatch};
use arrow_schema::Schema;
use pagemill_datasets::{Flights, Records};
use pagemill_engine::{Job, Runner};
use pagemill_features::{Agg, BinaryField, Error, FeatureSpec, Layout, merge_partial_batches, merge_partials};
use pagemill_mmap::Source;
use pagemill_sketch::{DistinctConfig, QuantileConfig};

fn flights(rows: u64, seed: u64, name: &str) -> Source {
    let mut bytes = Vec::new();
    Flights::new(rows, seed).write_to(&mut bytes).unwrap();
    Source::from_bytes(name, bytes)
}

fn runner(chunk: usize) -> Runner {
    let mut r = Runner::new();
    r.threads(2).chunk_size(chunk);
    r
}

/// Three days of flights, each with its own seed and size.
fn days() -> Vec<Source> {
    vec![flights(6000, 1, "day1.csv"), flights(4000, 2, "day2.csv"), flights(9000, 3, "day3.csv")]
}

fn flights_spec() -> FeatureSpec {
    let mut spec = FeatureSpec::delimited(pagemill_features::Dialect::csv());
    // Few keys with many rows each: quantiles spill into histograms and
    // distinct destinations into HyperLogLogs.
    spec.key("carrier").key("note").value("dep_delay").value("arr_delay").distinct("dest");
    spec.quantiles([50.0, 90.0, 99.9]);
    // A small exact limit, so busy keys hand over to the HyperLogLog.
    spec.distinct_config(DistinctConfig::new().lg_k(8).unwrap().exact_limit(128).unwrap());
    spec.quantile_config(QuantileConfig::new().scale(10).unwrap());
    spec
}

/// The partial batch of one run of `spec` over `inputs`.
fn partial(spec: &FeatureSpec, inputs: &[Source], chunk: usize) -> RecordBatch {
    let job = spec.build(inputs).unwrap();
    let outcome = runner(chunk).run_partial(&job, inputs).unwrap();
    job.partial_batch(outcome.output)
}

#[test]
fn three_days_merged_equal_one_run_over_all_three() {
    let days = days();
    let spec = flights_spec();
    let job = spec.build(&days).unwrap();
    let whole = runner(64 << 10).run(&job, &days).unwrap().output;
    assert!(whole.num_rows() > 20, "{} keys", whole.num_rows());

    let parts: Vec<RecordBatch> =
        days.iter().enumerate().map(|(i, d)| partial(&spec, std::slice::from_ref(d), 16 << 10 << i)).collect();
    assert_eq!(merge_partials(&parts).unwrap(), whole);

    // Merging is associative: (day1 + day2) saved as a partial, then + day3.
    let (job12, p12) = merge_partial_batches(&parts[..2]).unwrap();
    let p12 = job12.partial_batch(p12);
    assert_eq!(merge_partials(&[p12, parts[2].clone()]).unwrap(), whole);

    // Partial columns keep the readable keys first, then the state.
    let schema = parts[0].schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        [
            "carrier",
            "note",
            "_key",
            "rows",
            "dep_delay_state",
            "dep_delay_quantiles",
            "arr_delay_state",
            "arr_delay_quantiles",
            "dest_distinct_state"
        ]
    );
    assert_eq!(schema.metadata()["pagemill.partial"], "features/1");
}

#[test]
fn first_and_last_follow_the_order_of_the_partials() {
    let days = days();
    let mut spec = flights_spec();
    spec.aggs([Some(Agg::First), Some(Agg::Last), Some(Agg::Count)]);
    let job = spec.build(&days).unwrap();
    let reversed: Vec<Source> = days.iter().rev().map(|d| Source::from_bytes(d.name(), d.bytes().to_vec())).collect();
    let whole_reversed = runner(1 << 20).run(&job, &reversed).unwrap().output;
    let mut parts: Vec<RecordBatch> = days.iter().map(|d| partial(&spec, std::slice::from_ref(d), 1 << 20)).collect();
    parts.reverse();
    let merged = merge_partials(&parts).unwrap();
    for (i, f) in whole_reversed.schema().fields().iter().enumerate() {
        assert_eq!(merged.column(i), whole_reversed.column(i), "{}", f.name());
    }
}

#[test]
fn binary_records_with_integer_keys_merge() {
    let inputs: Vec<Source> = (0..3)
        .map(|seed| {
            let mut bytes = Vec::new();
            Records::new(5000, seed).write_to(&mut bytes).unwrap();
            Source::from_bytes(format!("r{seed}.bin"), bytes)
        })
        .collect();
    let fields: Vec<BinaryField> = Records::FIELDS.iter().map(|f| f.parse().unwrap()).collect();
    let mut spec = FeatureSpec::binary(Layout::new(Records::SIZE, fields).unwrap());
    spec.key("sensor").key("status").value("value");
    spec.quantiles([50.0]);
    let job = spec.build(&inputs).unwrap();
    let whole = runner(32 << 10).run(&job, &inputs).unwrap().output;
    let parts: Vec<RecordBatch> = inputs.iter().map(|d| partial(&spec, std::slice::from_ref(d), 8 << 10)).collect();
    let merged = merge_partials(&parts).unwrap();
    // Binary floats use Welford/Chan moments: sums, means and variances
    // agree up to rounding (as they do across chunk sizes); everything else
    // is exact.
    assert_eq!(merged.schema(), whole.schema());
    for (i, field) in whole.schema().fields().iter().enumerate() {
        let (a, b) = (merged.column(i), whole.column(i));
        let rounded = ["value_sum", "value_mean", "value_var", "value_std"].contains(&field.name().as_str());
        if !rounded {
            assert_eq!(a, b, "{}", field.name());
            continue;
        }
        let (a, b) =
            (a.as_any().downcast_ref::<Float64Array>().unwrap(), b.as_any().downcast_ref::<Float64Array>().unwrap());
        for (x, y) in a.iter().zip(b) {
            assert_eq!(x.is_none(), y.is_none(), "{}", field.name());
            let (Some(x), Some(y)) = (x, y) else { continue };
            assert!((x - y).abs() <= 1e-9 * y.abs().max(1.0), "{}: {x} vs {y}", field.name());
        }
    }
}

#[test]
fn empty_inputs_merge_to_nothing_new() {
    let spec = flights_spec();
    let day = [flights(3000, 9, "day.csv")];
    let header_only =
        [Source::from_bytes("empty.csv", day[0].bytes()[..100].split(|&b| b == b'\n').next().unwrap().to_vec())];
    let a = partial(&spec, &day, 1 << 20);
    let empty = partial(&spec, &header_only, 1 << 20);
    assert_eq!(empty.num_rows(), 0);
    let job = spec.build(&day).unwrap();
    let whole = runner(1 << 20).run(&job, &day).unwrap().output;
    assert_eq!(merge_partials(&[empty.clone(), a.clone(), empty]).unwrap(), whole);
}

#[test]
fn mismatched_missing_and_damaged_partials_are_errors() {
    let day = [flights(2000, 4, "day.csv")];
    let a = partial(&flights_spec(), &day, 1 << 20);
    let mut other = FeatureSpec::delimited(pagemill_features::Dialect::csv());
    other.key("carrier").key("note").value("dep_delay").value("arr_delay").distinct("dest");
    other.quantiles([50.0]);
    other.distinct_config(DistinctConfig::new().lg_k(8).unwrap().exact_limit(128).unwrap());
    other.quantile_config(QuantileConfig::new().scale(10).unwrap());
    let b = partial(&other, &day, 1 << 20);
    let err = merge_partials(&[a.clone(), b]).unwrap_err();
    assert!(matches!(err, Error::PartialMismatch(_)), "{err}");
    assert!(err.to_string().contains("aggs="), "{err}");

    assert!(matches!(merge_partials(&[]), Err(Error::NotAPartial(_))));
    let plain = RecordBatch::try_new(Arc::new(Schema::new(a.schema().fields().clone())), a.columns().to_vec()).unwrap();
    assert!(matches!(merge_partials(&[plain]), Err(Error::NotAPartial(_))));

    // Every binary cell of the first row, cut short or extended: an error.
    for col in 0..a.num_columns() {
        let Some(cells) = a.column(col).as_any().downcast_ref::<BinaryArray>() else { continue };
        for cut in [0usize, 1, 7] {
            let damaged: Vec<Vec<u8>> = (0..cells.len())
                .map(|i| {
                    let v = cells.value(i).to_vec();
                    if i == 0 { v[..v.len().saturating_sub(cut + 1)].to_vec() } else { v }
                })
                .collect();
            let mut columns: Vec<ArrayRef> = a.columns().to_vec();
            columns[col] = Arc::new(BinaryArray::from_iter_values(damaged));
            let batch = RecordBatch::try_new(a.schema(), columns).unwrap();
            assert!(merge_partials(&[batch]).is_err(), "column {col} cut by {}", cut + 1);
        }
    }
    // Wrong column types and counts.
    let mut columns: Vec<ArrayRef> = a.columns().to_vec();
    columns.swap(3, 4);
    let fields: Vec<_> = {
        let mut f: Vec<_> = a.schema().fields().iter().cloned().collect();
        f.swap(3, 4);
        f
    };
    let swapped =
        RecordBatch::try_new(Arc::new(Schema::new(fields).with_metadata(a.schema().metadata().clone())), columns)
            .unwrap();
    assert!(matches!(merge_partials(&[swapped]), Err(Error::BadPartial(_))));
    let fewer = a.project(&[0, 1, 2, 3]).unwrap();
    let fewer = RecordBatch::try_new(
        Arc::new(fewer.schema().as_ref().clone().with_metadata(a.schema().metadata().clone())),
        fewer.columns().to_vec(),
    )
    .unwrap();
    assert!(matches!(merge_partials(&[fewer]), Err(Error::BadPartial(_))));
    // A damaged spec.
    let mut metadata = a.schema().metadata().clone();
    metadata.insert("pagemill.partial.spec".into(), "keys=2,a\n".into());
    let bad_spec =
        RecordBatch::try_new(Arc::new(a.schema().as_ref().clone().with_metadata(metadata)), a.columns().to_vec())
            .unwrap();
    assert!(matches!(merge_partials(&[bad_spec]), Err(Error::BadPartial(_))));
    // The job rebuilt from a partial cannot be mistaken for one that maps.
    let (job, merged) = merge_partial_batches(std::slice::from_ref(&a)).unwrap();
    assert_eq!(job.groups(&merged), Some(job.finish(merged, &[]).num_rows()));

    // Pieces batches whose row counts are not a list, do not add up, or
    // overflow when added: errors.
    let rows = a.num_rows();
    let (job, _) = merge_partial_batches(std::slice::from_ref(&a)).unwrap();
    for counts in [
        "x".to_string(),
        String::new(),
        format!("{},1", rows),
        format!("{}", rows + 1),
        format!("{},{}", usize::MAX, rows),
        "-1".to_string(),
    ] {
        let mut metadata = a.schema().metadata().clone();
        metadata.insert(pagemill_features::partial::PIECES_KEY.into(), counts.clone());
        let batch =
            RecordBatch::try_new(Arc::new(a.schema().as_ref().clone().with_metadata(metadata)), a.columns().to_vec())
                .unwrap();
        let err = job.partial_from_pieces_batch(&batch).unwrap_err();
        assert!(matches!(err, Error::BadPartial(_)), "{counts:?}: {err}");
    }
    // Row counts that do add up: the pieces land and merge to the same keys.
    let mut metadata = a.schema().metadata().clone();
    metadata.insert(pagemill_features::partial::PIECES_KEY.into(), format!("1,{}", rows - 1));
    let batch =
        RecordBatch::try_new(Arc::new(a.schema().as_ref().clone().with_metadata(metadata)), a.columns().to_vec())
            .unwrap();
    let landed = job.partial_from_pieces_batch(&batch).unwrap();
    assert_eq!(job.finish(landed, &[]).num_rows(), rows);
}

#[test]
fn a_1brc_result_lands_as_a_partial_that_merges_like_mapped_chunks() {
    let parts: Vec<Source> = (1..=3u64)
        .map(|seed| {
            let mut bytes = Vec::new();
            pagemill_datasets::Measurements::new(pagemill_datasets::Stations::official(), 4000, seed)
                .write_to(&mut bytes)
                .unwrap();
            Source::from_bytes(format!("m{seed}.txt"), bytes)
        })
        .collect();
    let brc = pagemill_features::Brc::new();
    let whole = runner(8 << 10).run(&brc, &parts).unwrap().output;
    // The first two inputs finished and turned back into a partial, then
    // merged with the third input's mapped partial.
    let first = runner(4 << 10).run(&brc, &parts[..2]).unwrap().output;
    let third = runner(4 << 10).run_partial(&brc, &parts[2..]).unwrap().output;
    let merged = brc.finish(brc.merge(first.into_partial(), third), &[]);
    assert_eq!(merged, whole);
    assert_eq!(brc.groups(&whole.clone().into_partial()), Some(whole.stations.len()));
}
