//! Write one result with the column types the writers must handle (text
//! keys, dictionary-encoded keys, counts, statistics with a null, UTC time
//! buckets) in every format, for `scripts/interop.sh` to check with pyarrow,
//! polars and duckdb.
//!
//! ```text
//! cargo run -p pagemill-arrow --example interop_sample -- OUT_DIR
//! ```
//!
//! Writes `OUT_DIR/sample.{arrow,arrows,parquet,csv,tsv,ndjson}` and the IPC
//! file compressed, `sample-lz4.arrow` and `sample-zstd.arrow`, and a larger,
//! compressible result `big-{lz4,zstd}.arrow` (10 000 rows: `key` =
//! `key-{i % 10}`, `n` = i).

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, DictionaryArray, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use pagemill_arrow::{IpcCompression, OutputFormat, WriteOptions, attach_metadata, write_batches_with};
use pagemill_engine::Malformed;
use pagemill_mmap::Source;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir: PathBuf = std::env::args_os().nth(1).ok_or("usage: interop_sample OUT_DIR")?.into();
    std::fs::create_dir_all(&dir)?;
    let schema = Schema::new(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("host", DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)), false),
        Field::new("count", DataType::UInt64, false),
        Field::new("mean", DataType::Float64, true),
        Field::new("bucket", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
    ]);
    let inputs = [Source::from_bytes("inline", b"sample\n".to_vec())];
    let schema = Arc::new(attach_metadata(schema, "interop-sample", "none", &inputs, &Malformed::default()));
    // Two batches with dictionaries of their own, as separately built
    // results have.
    let batch = |keys: Vec<&str>, hosts: Vec<&str>, counts: Vec<u64>, means: Vec<Option<f64>>, ts: Vec<i64>| {
        let hosts: DictionaryArray<Int32Type> = hosts.into_iter().collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(keys)),
            Arc::new(hosts),
            Arc::new(UInt64Array::from(counts)),
            Arc::new(Float64Array::from(means)),
            Arc::new(TimestampMillisecondArray::from(ts).with_timezone("UTC")),
        ];
        RecordBatch::try_new(schema.clone(), columns)
    };
    let batches = [
        batch(
            vec!["plain", "a,b \"quoted\"", "Zürich ☃"],
            vec!["web1", "web2", "web1"],
            vec![0, 7, u64::MAX],
            vec![Some(1.5), None, Some(-0.000123)],
            vec![1_700_000_000_000, 1_700_000_060_000, 0],
        )?,
        batch(
            vec!["tab\there", "last"],
            vec!["web2", "web3"],
            vec![42, 1],
            vec![Some(1e300), Some(22.25)],
            vec![1_700_000_120_000, -86_400_000],
        )?,
    ];
    let plain = WriteOptions::new();
    for format in [
        OutputFormat::Ipc,
        OutputFormat::IpcStream,
        OutputFormat::Parquet,
        OutputFormat::Csv,
        OutputFormat::Tsv,
        OutputFormat::Ndjson,
    ] {
        let ext = match format {
            OutputFormat::Ipc => "arrow",
            OutputFormat::IpcStream => "arrows",
            other => other.name(),
        };
        write_batches_with(&schema, &batches, format, Some(&dir.join(format!("sample.{ext}"))), &[], &plain)?;
    }
    // The sample is too small for compression to pay, and arrow then stores
    // buffers raw: a larger, repetitive result makes readers decompress.
    let big_schema =
        Arc::new(Schema::new(vec![Field::new("key", DataType::Utf8, false), Field::new("n", DataType::UInt64, false)]));
    let keys: StringArray = (0..10_000u64).map(|i| Some(format!("key-{}", i % 10))).collect();
    let big = RecordBatch::try_new(
        big_schema.clone(),
        vec![Arc::new(keys), Arc::new(UInt64Array::from_iter_values(0..10_000))],
    )?;
    for (name, codec) in [("lz4", IpcCompression::lz4()), ("zstd", IpcCompression::zstd())] {
        let mut options = WriteOptions::new();
        options.ipc_compression(codec);
        let path = dir.join(format!("sample-{name}.arrow"));
        write_batches_with(&schema, &batches, OutputFormat::Ipc, Some(&path), &[], &options)?;
        let path = dir.join(format!("big-{name}.arrow"));
        write_batches_with(&big_schema, std::slice::from_ref(&big), OutputFormat::Ipc, Some(&path), &[], &options)?;
    }
    Ok(())
}
