//! Integration tests of pagemill-arrow: every format round-trips the same
//! values through the reference readers, files appear whole or not at all,
//! and inputs are never overwritten.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::Array;
use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, DictionaryArray, Float64Array, ListArray, RecordBatch, StringArray, TimestampMillisecondArray,
    UInt64Array,
};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use pagemill_arrow::{Error, IpcCompression, OutputFormat, WriteOptions, write_batches, write_batches_with};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;

/// A fresh, empty folder per test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("pagemill-arrow-test-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Names of everything in the folder, sorted.
    fn listing(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A result with the column types jobs produce: text keys (plain and
/// dictionary-encoded), counts, statistics with a null, UTC time buckets. The
/// text holds a delimiter, a quote, a newline, a tab and non-ASCII.
fn sample() -> (SchemaRef, Vec<RecordBatch>) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("host", DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)), false),
        Field::new("count", DataType::UInt64, false),
        Field::new("mean", DataType::Float64, true),
        Field::new("bucket", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
    ]));
    let batch = |keys: Vec<&str>, hosts: Vec<&str>, counts: Vec<u64>, means: Vec<Option<f64>>, ts: Vec<i64>| {
        let hosts: DictionaryArray<Int32Type> = hosts.into_iter().collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(keys)),
            Arc::new(hosts),
            Arc::new(UInt64Array::from(counts)),
            Arc::new(Float64Array::from(means)),
            Arc::new(TimestampMillisecondArray::from(ts).with_timezone("UTC")),
        ];
        RecordBatch::try_new(schema.clone(), columns).unwrap()
    };
    let batches = vec![
        batch(
            vec!["plain", "a,b \"quoted\"", "line\nbreak"],
            vec!["web1", "web2", "web1"],
            vec![0, 7, u64::MAX],
            vec![Some(1.5), None, Some(-0.000_123)],
            vec![1_700_000_000_000, 1_700_000_060_000, 0],
        ),
        batch(
            vec!["tab\there", "Zürich ☃"],
            vec!["web2", "web3"],
            vec![42, 1],
            vec![Some(1e300), Some(22.25)],
            vec![1_700_000_120_000, -86_400_000],
        ),
    ];
    (schema, batches)
}

/// Every row of `batches` as displayed values, so that results can be
/// compared however their rows are split into batches and whatever a reader
/// makes of dictionary encoding.
fn rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let options = FormatOptions::new().with_null("<null>");
    let mut rows = Vec::new();
    for batch in batches {
        let formatters: Vec<_> =
            batch.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap()).collect();
        for i in 0..batch.num_rows() {
            rows.push(formatters.iter().map(|f| f.value(i).to_string()).collect());
        }
    }
    rows
}

fn read_ipc_file(path: &Path) -> (SchemaRef, Vec<RecordBatch>) {
    let reader = arrow_ipc::reader::FileReader::try_new(File::open(path).unwrap(), None).unwrap();
    let schema = reader.schema();
    (schema, reader.collect::<Result<_, _>>().unwrap())
}

fn read_ipc_stream(path: &Path) -> (SchemaRef, Vec<RecordBatch>) {
    let reader = arrow_ipc::reader::StreamReader::try_new(File::open(path).unwrap(), None).unwrap();
    let schema = reader.schema();
    (schema, reader.collect::<Result<_, _>>().unwrap())
}

fn read_parquet(path: &Path) -> (SchemaRef, Vec<RecordBatch>) {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
    let schema = builder.schema().clone();
    (schema, builder.build().unwrap().collect::<Result<_, _>>().unwrap())
}

fn read_csv(path: &Path, schema: &SchemaRef, delimiter: u8) -> Vec<RecordBatch> {
    let reader = arrow_csv::ReaderBuilder::new(schema.clone())
        .with_header(true)
        .with_delimiter(delimiter)
        .build(File::open(path).unwrap())
        .unwrap();
    reader.collect::<Result<_, _>>().unwrap()
}

fn read_ndjson(path: &Path, schema: &SchemaRef) -> Vec<RecordBatch> {
    let reader = arrow_json::ReaderBuilder::new(schema.clone())
        .build(std::io::BufReader::new(File::open(path).unwrap()))
        .unwrap();
    reader.collect::<Result<_, _>>().unwrap()
}

mod round_trip {
    use super::*;

    #[test]
    fn arrow_ipc_file_keeps_schema_batches_and_values() {
        let dir = TempDir::new("ipc");
        let (schema, batches) = sample();
        let path = dir.path("out.arrow");
        write_batches(&schema, &batches, OutputFormat::Ipc, Some(&path), &[]).unwrap();
        let (back_schema, back) = read_ipc_file(&path);
        assert_eq!(back_schema, schema);
        // The batches' own dictionaries are merged into the file's one.
        assert_eq!(rows(&back), rows(&batches));
        assert_eq!(dir.listing(), ["out.arrow"], "no temporary file left");

        // Without dictionaries, batches are kept as they are.
        let plain =
            RecordBatch::try_from_iter([("n", Arc::new(UInt64Array::from(vec![1u64, 2])) as ArrayRef)]).unwrap();
        let two = [plain.clone(), plain.slice(1, 1)];
        write_batches(&plain.schema(), &two, OutputFormat::Ipc, Some(&path), &[]).unwrap();
        assert_eq!(read_ipc_file(&path).1, two);
    }

    #[test]
    fn arrow_ipc_stream_keeps_schema_batches_and_values() {
        let dir = TempDir::new("stream");
        let (schema, batches) = sample();
        let path = dir.path("out.arrows");
        write_batches(&schema, &batches, OutputFormat::IpcStream, Some(&path), &[]).unwrap();
        let (back_schema, back) = read_ipc_stream(&path);
        assert_eq!(back_schema, schema);
        assert_eq!(back, batches);
    }

    #[test]
    fn compressed_ipc_reads_back_and_is_smaller() {
        let dir = TempDir::new("ipc-compressed");
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::UInt64, false)]));
        let batch =
            RecordBatch::try_new(schema.clone(), vec![Arc::new(UInt64Array::from(vec![7u64; 100_000]))]).unwrap();
        let plain = dir.path("plain.arrow");
        write_batches(&schema, std::slice::from_ref(&batch), OutputFormat::Ipc, Some(&plain), &[]).unwrap();
        let plain_len = std::fs::metadata(&plain).unwrap().len();
        for (name, codec) in [("lz4", IpcCompression::lz4()), ("zstd", IpcCompression::zstd())] {
            let path = dir.path(&format!("{name}.arrow"));
            let mut options = WriteOptions::new();
            options.ipc_compression(codec);
            write_batches_with(&schema, std::slice::from_ref(&batch), OutputFormat::Ipc, Some(&path), &[], &options)
                .unwrap();
            let len = std::fs::metadata(&path).unwrap().len();
            assert!(len * 20 < plain_len, "{name}: {len} bytes is not compressed (plain: {plain_len})");
            assert_eq!(read_ipc_file(&path).1, std::slice::from_ref(&batch), "{name}");
        }
    }

    #[test]
    fn parquet_keeps_schema_and_values_with_zstd_and_statistics() {
        let dir = TempDir::new("parquet");
        let (schema, batches) = sample();
        let path = dir.path("out.parquet");
        write_batches(&schema, &batches, OutputFormat::Parquet, Some(&path), &[]).unwrap();
        let (back_schema, back) = read_parquet(&path);
        assert_eq!(back_schema, schema);
        assert_eq!(rows(&back), rows(&batches));

        let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
        let meta = builder.metadata();
        assert!(meta.file_metadata().created_by().unwrap().starts_with("pagemill"));
        for column in meta.row_group(0).columns() {
            assert!(matches!(column.compression(), Compression::ZSTD(_)), "{:?}", column.compression());
            assert!(column.statistics().is_some(), "{} has no statistics", column.column_path());
        }
        let count = meta.row_group(0).column(2).statistics().unwrap();
        assert_eq!(count.null_count_opt(), Some(0));
    }

    #[test]
    fn csv_and_tsv_read_back_with_a_header() {
        let dir = TempDir::new("csv");
        let (schema, batches) = sample();
        for (format, name, delimiter) in [(OutputFormat::Csv, "out.csv", b','), (OutputFormat::Tsv, "out.tsv", b'\t')] {
            let path = dir.path(name);
            write_batches(&schema, &batches, format, Some(&path), &[]).unwrap();
            let text = std::fs::read_to_string(&path).unwrap();
            let header: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            assert!(text.starts_with(&format!("{}\n", header.join(&(delimiter as char).to_string()))), "{text}");
            assert_eq!(rows(&read_csv(&path, &schema, delimiter)), rows(&batches), "{format}");
        }
    }

    #[test]
    fn ndjson_reads_back() {
        let dir = TempDir::new("ndjson");
        let (schema, batches) = sample();
        let path = dir.path("out.ndjson");
        write_batches(&schema, &batches, OutputFormat::Ndjson, Some(&path), &[]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 5, "one line per row: {text}");
        // arrow-json reads no dictionaries: read the keys back as plain text.
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Dictionary(_, value) => Field::new(f.name(), value.as_ref().clone(), f.is_nullable()),
                _ => f.as_ref().clone(),
            })
            .collect();
        assert_eq!(rows(&read_ndjson(&path, &Arc::new(Schema::new(fields)))), rows(&batches));
    }

    #[test]
    fn table_shows_every_row_aligned() {
        let dir = TempDir::new("table");
        let (schema, batches) = sample();
        let path = dir.path("out.txt");
        write_batches(&schema, &batches, OutputFormat::Table, Some(&path), &[]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6, "header and five rows, newlines escaped: {text}");
        assert!(lines[0].starts_with("key"), "{text}");
        assert!(lines[2].contains("a,b \"quoted\"") && lines[3].contains("line\\nbreak"), "{text}");
        assert!(lines[3].contains("18446744073709551615"), "{text}");
        assert!(lines[4].contains("1.000e300"), "{text}");
        assert!(lines[1].contains("2023-11-14T22:13:20"), "{text}");
    }

    #[test]
    fn empty_results_keep_their_columns() {
        let dir = TempDir::new("empty");
        let (schema, _) = sample();
        for format in OutputFormat::ALL.iter().copied() {
            let path = dir.path(&format!("empty.{format}"));
            write_batches(&schema, &[], format, Some(&path), &[]).unwrap();
        }
        assert_eq!(read_ipc_file(&dir.path("empty.arrow")).0, schema);
        assert_eq!(read_parquet(&dir.path("empty.parquet")).0, schema);
        assert_eq!(std::fs::read_to_string(dir.path("empty.csv")).unwrap(), "key,host,count,mean,bucket\n");
        assert_eq!(std::fs::read_to_string(dir.path("empty.ndjson")).unwrap(), "");
        assert_eq!(std::fs::read_to_string(dir.path("empty.table")).unwrap(), "key  host  count  mean  bucket\n");
    }
}

mod atomic {
    use super::*;

    /// A result CSV cannot encode (a list column): the writer fails after the
    /// temporary file was created.
    fn unwritable_as_csv() -> (SchemaRef, RecordBatch) {
        let list = ListArray::from_iter_primitive::<arrow_array::types::Int32Type, _, _>(vec![Some(vec![Some(1)])]);
        let schema = Arc::new(Schema::new(vec![Field::new("l", list.data_type().clone(), true)]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(list)]).unwrap();
        (schema, batch)
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_file_and_no_target() {
        let dir = TempDir::new("atomic-fail");
        let (schema, batch) = unwritable_as_csv();
        let path = dir.path("out.csv");
        let err = write_batches(&schema, &[batch], OutputFormat::Csv, Some(&path), &[]).unwrap_err();
        assert!(matches!(err, Error::Arrow { .. }), "{err:?}");
        assert!(err.to_string().contains("out.csv"), "{err}");
        assert!(dir.listing().is_empty(), "left behind: {:?}", dir.listing());
    }

    #[test]
    fn a_failed_write_keeps_the_previous_file() {
        let dir = TempDir::new("atomic-keep");
        let path = dir.path("out.csv");
        std::fs::write(&path, "previous\n").unwrap();
        let (schema, batch) = unwritable_as_csv();
        write_batches(&schema, &[batch], OutputFormat::Csv, Some(&path), &[]).unwrap_err();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "previous\n");
        assert_eq!(dir.listing(), ["out.csv"]);
    }

    #[test]
    fn a_batch_that_does_not_fit_the_schema_is_an_error_before_any_file() {
        let dir = TempDir::new("atomic-schema");
        let (schema, _) = sample();
        let other = RecordBatch::try_from_iter([("x", Arc::new(UInt64Array::from(vec![1u64])) as ArrayRef)]).unwrap();
        let err =
            write_batches(&schema, &[other], OutputFormat::Parquet, Some(&dir.path("o.parquet")), &[]).unwrap_err();
        assert!(matches!(err, Error::Schema { batch: 0, .. }), "{err:?}");
        assert!(dir.listing().is_empty());
    }

    #[test]
    fn writing_onto_an_input_is_refused() {
        let dir = TempDir::new("atomic-input");
        let path = dir.path("input.csv");
        std::fs::write(&path, "a\nb\n").unwrap();
        let input = pagemill_mmap::OpenOptions::new().open(&path).unwrap();
        let (schema, batches) = sample();
        for format in [OutputFormat::Csv, OutputFormat::Parquet] {
            let err = write_batches(&schema, &batches, format, Some(&path), std::slice::from_ref(&input)).unwrap_err();
            assert!(err.to_string().contains("refusing to write output onto an input"), "{err}");
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a\nb\n");
        assert_eq!(dir.listing(), ["input.csv"]);
    }

    #[test]
    fn a_missing_folder_is_a_clear_error() {
        let dir = TempDir::new("atomic-missing");
        let (schema, batches) = sample();
        let err = write_batches(&schema, &batches, OutputFormat::Ipc, Some(&dir.path("no/such/dir/x.arrow")), &[])
            .unwrap_err();
        assert!(err.to_string().starts_with("cannot write output"), "{err}");
    }
}
