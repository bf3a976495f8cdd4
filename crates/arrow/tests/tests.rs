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
    fn csv_tells_an_empty_string_from_a_null() {
        let dir = TempDir::new("csv-null");
        let schema = Arc::new(Schema::new(vec![
            Field::new("key", DataType::Utf8, true),
            Field::new("n", DataType::UInt64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![Some(""), None, Some("a\"b"), Some("x,y"), Some("line\r\nbreak")])),
                Arc::new(UInt64Array::from(vec![Some(1), Some(2), None, Some(4), Some(5)])),
            ],
        )
        .unwrap();
        let path = dir.path("n.csv");
        write_batches(&schema, std::slice::from_ref(&batch), OutputFormat::Csv, Some(&path), &[]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "key,n\n\"\",1\n,2\n\"a\"\"b\",\n\"x,y\",4\n\"line\r\nbreak\",5\n");
        // One column: a null is `""`, not a blank line readers skip.
        let one = Arc::new(Schema::new(vec![Field::new("key", DataType::Utf8, true)]));
        let batch =
            RecordBatch::try_new(one.clone(), vec![Arc::new(StringArray::from(vec![None, Some("a")]))]).unwrap();
        write_batches(&one, &[batch], OutputFormat::Csv, Some(&path), &[]).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "key\n\"\"\na\n");
    }

    #[test]
    fn ndjson_reads_back() {
        let dir = TempDir::new("ndjson");
        let (schema, batches) = sample();
        let path = dir.path("out.ndjson");
        write_batches(&schema, &batches, OutputFormat::Ndjson, Some(&path), &[]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 5, "one line per row: {text}");
        // Nulls are written out, so every line names every column.
        assert!(text.lines().all(|l| l.contains("\"mean\":")), "{text}");
        assert!(text.contains("\"mean\":null"), "{text}");
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

mod read_back {
    use arrow_data::ArrayData;
    use pagemill_arrow::{MappedIpcFile, read_results, read_results_from};
    use pagemill_mmap::Source;

    use super::*;

    /// Every non-empty buffer of `data` and its children, dictionary values
    /// included.
    fn buffers(data: &ArrayData, out: &mut Vec<(*const u8, usize)>) {
        out.extend(data.buffers().iter().filter(|b| !b.is_empty()).map(|b| (b.as_ptr(), b.len())));
        if let Some(nulls) = data.nulls() {
            out.push((nulls.buffer().as_ptr(), nulls.buffer().len()));
        }
        for child in data.child_data() {
            buffers(child, out);
        }
    }

    #[test]
    fn ipc_file_columns_point_into_the_mapping() {
        let dir = TempDir::new("zero-copy");
        let (schema, batches) = sample();
        let path = dir.path("out.arrow");
        write_batches(&schema, &batches, OutputFormat::Ipc, Some(&path), &[]).unwrap();

        let file = MappedIpcFile::open(&path).unwrap();
        assert!(file.is_mapped());
        assert_eq!(file.schema(), &schema);
        assert_eq!(file.num_rows(), 5);
        assert_eq!(file.bytes(), std::fs::read(&path).unwrap(), "bytes() is the whole file");
        let range = file.bytes().as_ptr_range();
        let back: Vec<RecordBatch> = file.batches().collect::<Result<_, _>>().unwrap();
        assert_eq!(rows(&back), rows(&batches));
        let mut seen = 0;
        for batch in &back {
            for column in batch.columns() {
                let mut found = Vec::new();
                buffers(&column.to_data(), &mut found);
                for (ptr, len) in found {
                    assert!(range.contains(&ptr), "a buffer of {len} bytes lies outside the mapping");
                    assert!(ptr.wrapping_add(len) <= range.end);
                    seen += 1;
                }
            }
        }
        assert!(seen >= 8, "only {seen} buffers checked");

        // The mapping outlives the file handle: batches keep it alive.
        let first = file.batch(0).unwrap();
        drop(file);
        assert_eq!(rows(std::slice::from_ref(&first)), rows(&back[..1]));
    }

    #[test]
    fn parquet_of_every_codec_other_writers_use_reads_back() {
        // Snappy is pyarrow's, polars' and DuckDB's default; gzip, brotli
        // and lz4 are a setting away.
        let (schema, batches) = sample();
        let codecs = [
            Compression::UNCOMPRESSED,
            Compression::SNAPPY,
            Compression::GZIP(Default::default()),
            Compression::BROTLI(Default::default()),
            Compression::LZ4,
            Compression::LZ4_RAW,
            Compression::ZSTD(Default::default()),
        ];
        for codec in codecs {
            let mut file = Vec::new();
            let props = parquet::file::properties::WriterProperties::builder().set_compression(codec).build();
            let mut writer = parquet::arrow::ArrowWriter::try_new(&mut file, schema.clone(), Some(props)).unwrap();
            for b in &batches {
                writer.write(b).unwrap();
            }
            writer.close().unwrap();
            let results = read_results_from(Source::from_bytes("c.parquet", file), None).unwrap();
            assert_eq!(rows(&results.batches), rows(&batches), "{codec:?}");
        }
    }

    #[test]
    fn results_read_back_from_every_binary_format_with_a_limit() {
        let dir = TempDir::new("read-results");
        let (schema, batches) = sample();
        let all = rows(&batches);
        for (format, name) in
            [(OutputFormat::Ipc, "r.arrow"), (OutputFormat::IpcStream, "r.arrows"), (OutputFormat::Parquet, "r.dat")]
        {
            let path = dir.path(name);
            write_batches(&schema, &batches, format, Some(&path), &[]).unwrap();
            for limit in [None, Some(0), Some(2), Some(4), Some(99)] {
                let results = read_results(&path, limit).unwrap();
                assert_eq!(results.schema, schema, "{format}");
                assert_eq!(results.total_rows, 5, "{format}");
                let n = limit.unwrap_or(usize::MAX).min(5);
                assert_eq!(rows(&results.batches), all[..n], "{format} limit {limit:?}");
            }
        }
    }

    #[test]
    fn other_files_are_a_clear_error() {
        let dir = TempDir::new("read-other");
        let path = dir.path("x.arrow");
        std::fs::write(&path, "file,records\na,1\n").unwrap();
        let err = read_results(&path, None).unwrap_err();
        assert_eq!(err.to_string(), format!("{}: not an Arrow IPC file or a Parquet file", path.display()));
        std::fs::write(&path, "").unwrap();
        assert!(read_results(&path, None).is_err());
        let err = read_results(dir.path("missing.arrow"), None).unwrap_err();
        assert!(err.to_string().starts_with("cannot open"), "{err}");
        assert!(MappedIpcFile::open(dir.path("missing.arrow")).is_err());
    }

    /// Read every prefix of a valid file, and the file with each of its bytes
    /// damaged (headers, footer, schema and column data), plain and with
    /// compressed buffers (whose length prefixes, once damaged, made arrow
    /// panic or abort on a huge allocation): errors are fine, panics are not.
    #[test]
    fn truncated_or_damaged_files_are_errors_not_panics() {
        let dir = TempDir::new("read-corrupt");
        let (schema, batches) = sample();
        let codecs = [("", None), ("lz4-", Some(IpcCompression::lz4())), ("zstd-", Some(IpcCompression::zstd()))];
        for (format, name, (codec_name, codec)) in
            [(OutputFormat::Ipc, "c.arrow"), (OutputFormat::IpcStream, "c.arrows")]
                .into_iter()
                .flat_map(|(f, n)| codecs.into_iter().map(move |c| (f, n, c)))
        {
            let good = dir.path(&format!("good-{codec_name}{name}"));
            let mut options = WriteOptions::new();
            if let Some(codec) = codec {
                options.ipc_compression(codec);
            }
            write_batches_with(&schema, &batches, format, Some(&good), &[], &options).unwrap();
            let bytes = std::fs::read(&good).unwrap();
            let read = |bytes: &[u8]| read_results_from(Source::from_bytes(name, bytes.to_vec()), None);
            for cut in 0..bytes.len() {
                if let Ok(results) = read(&bytes[..cut]) {
                    // A stream cut between messages is a valid shorter stream.
                    assert_eq!(format, OutputFormat::IpcStream, "{format} cut at {cut} read as valid");
                    assert!(results.total_rows <= 5);
                }
            }
            let mut damaged = 0;
            for i in 0..bytes.len() {
                let mut bad = bytes.clone();
                bad[i] ^= 0xa5;
                damaged += usize::from(read(&bad).is_err());
                bad[i] = 8;
                let _ = read(&bad);
            }
            assert!(damaged > bytes.len() / 20, "{format} {codec_name}: only {damaged} damaged files noticed");
        }
    }

    /// parquet converts the Arrow schema it embeds with arrow-ipc, which
    /// panics on type descriptions it does not know: a file whose embedded
    /// schema has any one byte damaged is an error or readable, never a panic.
    #[test]
    fn parquet_with_a_damaged_embedded_arrow_schema_is_not_a_panic() {
        use base64::Engine;
        use base64::prelude::BASE64_STANDARD;
        use parquet::arrow::{ArrowWriter, arrow_writer::ArrowWriterOptions};
        use parquet::file::metadata::{KeyValue, ParquetMetaDataReader};
        use parquet::file::properties::WriterProperties;

        let (schema, batches) = sample();
        let mut good = Vec::new();
        pagemill_arrow::write_to(&mut good, &schema, &batches, OutputFormat::Parquet, &WriteOptions::new()).unwrap();
        let meta = ParquetMetaDataReader::new().parse_and_finish(&bytes::Bytes::from(good)).unwrap();
        let encoded = meta
            .file_metadata()
            .key_value_metadata()
            .unwrap()
            .iter()
            .find(|kv| kv.key == "ARROW:schema")
            .and_then(|kv| kv.value.clone())
            .unwrap();
        let ipc = BASE64_STANDARD.decode(encoded).unwrap();
        let mut errors = 0;
        for i in 8..ipc.len() {
            let mut bad = ipc.clone();
            bad[i] ^= 0xa5;
            let props = WriterProperties::builder()
                .set_key_value_metadata(Some(vec![KeyValue::new("ARROW:schema".into(), BASE64_STANDARD.encode(&bad))]))
                .build();
            let options = ArrowWriterOptions::new().with_properties(props).with_skip_arrow_metadata(true);
            let mut file = Vec::new();
            let mut writer = ArrowWriter::try_new_with_options(&mut file, schema.clone(), options).unwrap();
            batches.iter().for_each(|b| writer.write(b).unwrap());
            writer.close().unwrap();
            errors += usize::from(read_results_from(Source::from_bytes("s.parquet", file), None).is_err());
        }
        assert!(errors > 0, "no damaged schema was noticed");
    }

    /// A Parquet file cut anywhere is an error; one with any byte of its
    /// footer damaged (where the embedded Arrow schema and the chunk positions
    /// are) is an error or still readable, never a panic.
    #[test]
    fn truncated_parquet_and_damaged_footers_are_errors_not_panics() {
        let dir = TempDir::new("read-corrupt-parquet");
        let (schema, batches) = sample();
        let good = dir.path("good.parquet");
        write_batches(&schema, &batches, OutputFormat::Parquet, Some(&good), &[]).unwrap();
        let bytes = std::fs::read(&good).unwrap();
        let read = |bytes: &[u8]| read_results_from(Source::from_bytes("c.parquet", bytes.to_vec()), None);
        for cut in 0..bytes.len() {
            assert!(read(&bytes[..cut]).is_err(), "cut at {cut} read as valid");
        }
        let footer_len = u32::from_le_bytes(bytes[bytes.len() - 8..bytes.len() - 4].try_into().unwrap()) as usize;
        for i in bytes.len() - 8 - footer_len..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0xa5;
            let _ = read(&bad);
        }
    }
}
