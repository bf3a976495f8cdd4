//! Damaged partials: arbitrary bytes in the binary state cells of a features
//! or logs partial batch must make merging fail cleanly or succeed, never
//! panic.

use std::sync::{Arc, OnceLock};

use arrow_array::{Array, ArrayRef, BinaryArray, RecordBatch};
use pagemill_engine::Runner;
use pagemill_features::{Agg, Dialect, FeatureSpec};
use pagemill_logs::{GroupField, LogFormat, LogJob, Top};
use pagemill_mmap::Source;

use crate::Data;

const CSV: &[u8] = b"k,1,a\nk,2,b\nz,3.5,c\nz,,a\n";
const LOG: &[u8] = br#"203.0.113.7 - - [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.1" 200 10 "-" "curl" 0.004
203.0.113.8 - - [10/Oct/2000:13:55:37 -0700] "GET /b HTTP/1.1" 500 20 "-" "curl" 0.120
"#;

/// A real features partial and a real logs partial.
fn templates() -> &'static [RecordBatch; 2] {
    static TEMPLATES: OnceLock<[RecordBatch; 2]> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        let runner = Runner::new();
        let inputs = [Source::from_bytes("p.csv", CSV.to_vec())];
        let mut spec = FeatureSpec::delimited(Dialect::csv().header(false));
        spec.key("0").value("1").distinct("2");
        spec.aggs([Some(Agg::Count), Some(Agg::Mean), Some(Agg::Quantile(50.0))]);
        let features = spec.build(&inputs).expect("the template spec builds");
        let partial = runner.run_partial(&features, &inputs).expect("the template features run").output;
        let features = features.partial_batch(partial);

        let inputs = [Source::from_bytes("p.log", LOG.to_vec())];
        let mut job = LogJob::new(LogFormat::timed());
        job.group_by(&[GroupField::Path]).expect("one group field").top(Top { k: 2, field: GroupField::Ip });
        let partial = runner.run_partial(&job, &inputs).expect("the template log run").output;
        [features, job.partial_batch(partial)]
    })
}

/// `batch` with the binary cell (`column`-th binary column, `row`) replaced.
fn replaced(batch: &RecordBatch, column: usize, row: usize, cell: &[u8]) -> Option<RecordBatch> {
    let binary: Vec<usize> =
        (0..batch.num_columns()).filter(|&i| batch.column(i).as_any().is::<BinaryArray>()).collect();
    let &index = binary.get(column % binary.len().max(1))?;
    let old = batch.column(index).as_any().downcast_ref::<BinaryArray>()?;
    let row = row % old.len().max(1);
    let cells = (0..old.len()).map(|i| if i == row { cell } else { old.value(i) });
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns[index] = Arc::new(BinaryArray::from_iter_values(cells));
    Some(RecordBatch::try_new(batch.schema(), columns).expect("same schema, same length"))
}

/// The seed inputs for [`partial_decode`]: every binary cell of both
/// templates, unchanged (merging them must succeed).
pub fn partial_seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for (which, batch) in templates().iter().enumerate() {
        let mut column = 0;
        for i in 0..batch.num_columns() {
            let Some(cells) = batch.column(i).as_any().downcast_ref::<BinaryArray>() else { continue };
            for row in 0..cells.len() {
                let mut seed = vec![which as u8, column, row as u8];
                seed.extend_from_slice(cells.value(row));
                seeds.push(seed);
            }
            column += 1;
        }
    }
    seeds
}

/// Byte 0 picks the features or the logs template, byte 1 its binary
/// column, byte 2 the row; the rest replaces that cell. The damaged batch
/// is merged alone and with the intact one, through both crates' merges.
pub fn partial_decode(data: &[u8]) {
    let mut d = Data(data);
    let (which, column, row) = (d.byte(), usize::from(d.byte()), usize::from(d.byte()));
    let cell = d.rest();
    let template = &templates()[usize::from(which % 2)];
    let Some(damaged) = replaced(template, column, row, cell) else { return };
    let unchanged = damaged == *template;
    let both = [damaged.clone(), template.clone()];
    if which % 2 == 0 {
        let alone = pagemill_features::merge_partials(std::slice::from_ref(&damaged));
        let _ = pagemill_features::merge_partials(&both);
        assert!(!unchanged || alone.is_ok(), "an intact features partial merges: {:?}", alone.err());
    } else {
        let alone = pagemill_logs::merge_partials(std::slice::from_ref(&damaged));
        let _ = pagemill_logs::merge_partials(&both);
        assert!(!unchanged || alone.is_ok(), "an intact logs partial merges: {:?}", alone.err());
    }
}
