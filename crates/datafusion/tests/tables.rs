//! Every table kind through DataFusion SQL, checked against references that
//! parse the same data without DataFusion.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, UInt64Type};
use arrow_array::{Array, RecordBatch};
use datafusion::catalog::TableProvider;
use datafusion::prelude::{SessionConfig, SessionContext};
use pagemill_datafusion::{DelimitedOptions, PagemillTable, register_functions};
use pagemill_datasets::{AccessLog, AccessLogFormat, Flights, Measurements, Records, Stations};
use pagemill_features::{BinaryField, Dialect, Layout};
use pagemill_logs::LogFormat;
use pagemill_mmap::Source;
use pagemill_split::{Lines, RecordFormat};

fn generate(write: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> Vec<u8> {
    let mut out = Vec::new();
    write(&mut out).unwrap();
    out
}

fn source(bytes: &[u8]) -> Source {
    Source::from_bytes("input", bytes.to_vec())
}

/// Run `sql` with `tables` registered, on `partitions` partitions.
fn query(tables: &[(&str, &PagemillTable)], sql: &str, partitions: usize) -> Vec<RecordBatch> {
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(partitions));
    register_functions(&ctx);
    for (name, t) in tables {
        ctx.register_table(*name, Arc::new((*t).clone())).unwrap();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    runtime.block_on(async { ctx.sql(sql).await?.collect().await }).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn concat(batches: &[RecordBatch]) -> RecordBatch {
    arrow_select::concat::concat_batches(&batches[0].schema(), batches).unwrap()
}

fn strings(b: &RecordBatch, col: usize) -> Vec<String> {
    let c = arrow_cast::cast(b.column(col), &arrow_schema::DataType::Utf8).unwrap();
    c.as_string::<i32>().iter().map(|s| s.unwrap_or("<null>").to_string()).collect()
}

fn u64s(b: &RecordBatch, col: usize) -> Vec<u64> {
    let c = arrow_cast::cast(b.column(col), &arrow_schema::DataType::UInt64).unwrap();
    c.as_primitive::<UInt64Type>().values().to_vec()
}

fn f64s(b: &RecordBatch, col: usize) -> Vec<f64> {
    let c = arrow_cast::cast(b.column(col), &arrow_schema::DataType::Float64).unwrap();
    c.as_primitive::<Float64Type>().iter().map(|v| v.unwrap_or(f64::NAN)).collect()
}

#[derive(Default)]
struct PathRef {
    requests: u64,
    bytes: u64,
    errors: u64,
    ips: HashSet<Vec<u8>>,
    latencies: Vec<f64>,
}

fn logs_reference(data: &[u8], format: &LogFormat) -> BTreeMap<String, PathRef> {
    let mut groups: BTreeMap<String, PathRef> = BTreeMap::new();
    for rec in Lines.records(data) {
        let Ok(r) = format.parse(rec.bytes) else { continue };
        let path = r.path.map_or("<null>".to_string(), |p| format.decode_text(p));
        let g = groups.entry(path).or_default();
        g.requests += 1;
        g.bytes += r.bytes.unwrap_or(0);
        g.errors += u64::from(r.status.is_some_and(|s| s >= 500));
        if let Some(ip) = r.ip {
            g.ips.insert(ip.to_vec());
        }
        if let Some(us) = r.latency_us {
            g.latencies.push(us as f64 / 1e6);
        }
    }
    groups
}

const PER_PATH: &str = "SELECT path, count(*) AS requests, sum(bytes) AS bytes, \
    sum(CASE WHEN status >= 500 THEN 1 ELSE 0 END) AS errors, hll_distinct(ip) AS clients, \
    hdr_quantile(latency, 0.99) AS p99 FROM logs GROUP BY path ORDER BY path";

#[test]
fn per_path_log_summary_matches_a_reference_at_any_chunking() {
    for (preset, format) in [(AccessLogFormat::Timed, LogFormat::timed()), (AccessLogFormat::Json, LogFormat::json())] {
        let data = generate(|out| AccessLog::new(30_000, preset, 7).write_to(out));
        let reference = logs_reference(&data, &format);
        let mut results = Vec::new();
        for (chunk, partitions) in [(None, 1), (Some(64 << 10), 4), (Some(200 << 10), 3)] {
            let mut table = PagemillTable::logs(vec![source(&data)], format.clone()).unwrap();
            if let Some(c) = chunk {
                table = table.with_chunk_size(c);
            }
            let b = concat(&query(&[("logs", &table)], PER_PATH, partitions));
            assert!(table.take_malformed().is_empty());
            let paths = strings(&b, 0);
            assert_eq!(paths, reference.keys().cloned().collect::<Vec<_>>());
            for (i, (path, g)) in reference.iter().enumerate() {
                assert_eq!(u64s(&b, 1)[i], g.requests, "{path}");
                assert_eq!(u64s(&b, 2)[i], g.bytes, "{path}");
                assert_eq!(u64s(&b, 3)[i], g.errors, "{path}");
                // Below the exact limit, distinct counts are exact.
                if g.ips.len() < 1024 {
                    assert_eq!(u64s(&b, 4)[i], g.ips.len() as u64, "{path}");
                }
                let mut l = g.latencies.clone();
                l.sort_by(f64::total_cmp);
                let exact = l[((0.99 * l.len() as f64).ceil() as usize).max(1) - 1];
                let p99 = f64s(&b, 5)[i];
                assert!((p99 - exact).abs() <= exact * 1e-3 + 0.5e-6, "{path}: {p99} vs {exact}");
            }
            results.push(b);
        }
        // The sketches merge exactly: every chunking gives the same answer.
        for r in &results[1..] {
            for c in 0..r.num_columns() {
                assert_eq!(strings(&results[0], c), strings(r, c), "column {c}");
            }
        }
    }
}

/// A JSON log whose lines come in several shapes (an optional field, keys
/// in another order, a nested request, white space between tokens) reads
/// through SQL as each line parses alone: a chunk's lines share one parser,
/// which learns their layout, and no layout learned from one line changes
/// another's row.
#[test]
fn json_lines_of_varied_shapes_read_as_each_line_alone() {
    let mut data = Vec::new();
    for i in 0..3000u32 {
        let line = match i % 5 {
            0 => format!(
                r#"{{"remote_addr":"10.0.0.{}","request":"GET /a/{} HTTP/1.1","status":200,"body_bytes_sent":{i},"request_time":0.{:03}}}"#,
                i % 250,
                i % 7,
                i % 1000
            ),
            1 => format!(
                r#"{{"remote_addr":"10.0.1.{}","remote_user":"u{i}","request":"POST /b HTTP/1.1","status":404,"body_bytes_sent":{},"request_time":1.5}}"#,
                i % 250,
                i * 3
            ),
            2 => format!(
                r#"{{"status":500,"remote_addr":"10.0.2.{}","body_bytes_sent":7,"request":"GET /c?q={i} HTTP/1.1"}}"#,
                i % 250
            ),
            3 => format!(
                r#"{{"request":{{"remote_ip":"10.0.3.{}","method":"GET","uri":"/d/{}"}},"status":201,"size":{i},"duration":0.25}}"#,
                i % 250,
                i % 3
            ),
            _ => format!(
                r#"{{ "remote_addr" : "10.0.4.{}" , "request" : "GET /e HTTP/1.1" , "status" : 302 , "body_bytes_sent" : {i} }}"#,
                i % 250
            ),
        };
        data.extend_from_slice(line.as_bytes());
        data.push(b'\n');
    }
    let format = LogFormat::json();
    let row = |ip: &str, status: String, path: &str, bytes: String, latency: String| {
        format!("{ip} {status} {path} {bytes} {latency}")
    };
    let mut want: Vec<String> = Lines
        .records(&data)
        .map(|rec| {
            let r = format.parse(rec.bytes).unwrap();
            let text = |v: Option<&[u8]>| v.map_or("<null>".to_string(), |v| format.decode_text(v));
            let opt = |v: Option<String>| v.unwrap_or_else(|| "<null>".to_string());
            row(
                &text(r.ip),
                opt(r.status.map(|s| s.to_string())),
                &text(r.path),
                opt(r.bytes.map(|b| b.to_string())),
                opt(r.latency_us.map(|us| (us as f64 / 1e6).to_string())),
            )
        })
        .collect();
    want.sort();
    for chunk in [64 << 10, 8 << 10] {
        let table = PagemillTable::logs(vec![source(&data)], format.clone()).unwrap().with_chunk_size(chunk);
        let b = concat(&query(&[("logs", &table)], "SELECT ip, status, path, bytes, latency FROM logs", 2));
        assert!(table.take_malformed().is_empty());
        let (ip, status, path, bytes, latency) =
            (strings(&b, 0), strings(&b, 1), strings(&b, 2), strings(&b, 3), f64s(&b, 4));
        let mut got: Vec<String> = (0..b.num_rows())
            .map(|i| {
                let latency = if latency[i].is_nan() { "<null>".to_string() } else { latency[i].to_string() };
                row(&ip[i], status[i].clone(), &path[i], bytes[i].clone(), latency)
            })
            .collect();
        got.sort();
        assert_eq!(got, want, "chunks of {chunk} bytes");
    }
}

/// JSON events that are no request (a server's start-up message, `{}`) are
/// malformed rows, as in the logs job, not requests with null fields.
#[test]
fn json_events_without_a_request_are_malformed() {
    let data =
        b"{\"level\":\"info\",\"msg\":\"started\"}\n{}\n{\"request\":{\"uri\":\"/a\"},\"status\":200}\n".to_vec();
    let table = PagemillTable::logs(vec![source(&data)], LogFormat::json()).unwrap();
    let b = concat(&query(&[("logs", &table)], "SELECT count(*) FROM logs", 1));
    assert_eq!(u64s(&b, 0), vec![1]);
    assert_eq!(table.take_malformed().count("no-request"), 2);
}

#[test]
fn projection_filters_and_limits() {
    let data = generate(|out| AccessLog::new(20_000, AccessLogFormat::Combined, 3).write_to(out));
    let format = LogFormat::combined();
    let table = PagemillTable::logs(vec![source(&data)], format.clone()).unwrap().with_chunk_size(64 << 10);
    assert!(table.chunks() > 4);
    let t = [("logs", &table)];
    // No column read at all.
    let b = concat(&query(&t, "SELECT count(*) FROM logs", 3));
    assert_eq!(u64s(&b, 0), vec![20_000]);
    // Pushed-down filters: the same rows as a reference filter.
    let mut want = 0u64;
    let mut want_api = 0u64;
    for rec in Lines.records(&data) {
        let r = format.parse(rec.bytes).unwrap();
        want += u64::from(r.status.is_some_and(|s| s >= 500) && r.method == Some(b"GET"));
        want_api += u64::from(
            r.path.is_some_and(|p| p.starts_with(b"/api/")) && r.status.is_some_and(|s| (200..300).contains(&s)),
        );
    }
    let b = concat(&query(&t, "SELECT count(*) FROM logs WHERE status >= 500 AND method = 'GET'", 3));
    assert_eq!(u64s(&b, 0), vec![want]);
    let b = concat(&query(&t, "SELECT count(*) FROM logs WHERE path LIKE '/api/%' AND status BETWEEN 200 AND 299", 2));
    assert_eq!(u64s(&b, 0), vec![want_api]);
    assert!(want > 0 && want_api > 0);
    // The plan shows the pre-filter.
    let plan = concat(&query(&t, "EXPLAIN SELECT count(*) FROM logs WHERE status >= 500", 2));
    let text = strings(&plan, 1).join("\n");
    assert!(text.contains("file_type=pagemill") && text.contains("prefilter"), "{text}");
    // LIMIT stops early and still returns whole rows.
    let b = concat(&query(&t, "SELECT ip, time, uri FROM logs LIMIT 7", 3));
    assert_eq!(b.num_rows(), 7);
    assert_eq!(b.column(1).null_count(), 0);
    // Time is UTC: a filter on a timestamp literal.
    let b = concat(&query(&t, "SELECT min(time) AS first, max(time) AS last FROM logs", 2));
    let first = strings(&b, 0)[0].clone();
    let b = concat(&query(&t, &format!("SELECT count(*) FROM logs WHERE time <= TIMESTAMP '{first}'"), 2));
    assert!(u64s(&b, 0)[0] >= 1, "{first}");
}

#[test]
fn malformed_lines_are_counted_with_line_numbers() {
    let good = generate(|out| AccessLog::new(50, AccessLogFormat::Timed, 1).write_to(out));
    let mut lines: Vec<&[u8]> = good.split_inclusive(|&b| b == b'\n').collect();
    lines.insert(10, b"garbage line\n");
    lines.insert(20, b"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 2x0 1 \"-\" \"-\" 0.1\n");
    let data = lines.concat();
    let table = PagemillTable::logs(vec![source(&data)], LogFormat::timed()).unwrap();
    let b = concat(&query(&[("logs", &table)], "SELECT count(*) FROM logs", 2));
    assert_eq!(u64s(&b, 0), vec![50]);
    let m = table.take_malformed();
    assert_eq!(m.total(), 2);
    assert_eq!(m.count("format-mismatch") + m.count("bad-status"), 2, "{m}");
    let mut found: Vec<u64> = m.samples().iter().map(|s| s.line).collect();
    found.sort();
    assert_eq!(found, vec![11, 21]);
    // Taken: the next account starts empty.
    assert!(table.take_malformed().is_empty());
}

#[test]
fn delimited_tables_match_the_features_job() {
    let data = generate(|out| Flights::new(20_000, 5).write_to(out));
    let table = PagemillTable::delimited(vec![source(&data)], DelimitedOptions::new(Dialect::csv()))
        .unwrap()
        .with_chunk_size(64 << 10);
    let schema = table.schema();
    assert_eq!(schema.field_with_name("arr_delay").unwrap().data_type(), &arrow_schema::DataType::Float64);
    assert_eq!(schema.field_with_name("flight").unwrap().data_type(), &arrow_schema::DataType::Int64);
    assert_eq!(schema.field_with_name("dest").unwrap().data_type(), &arrow_schema::DataType::Utf8View);
    let sql = "SELECT dest, count(*) AS rows, count(arr_delay) AS n, min(arr_delay) AS lo, max(arr_delay) AS hi, \
               avg(arr_delay) AS mean, hll_distinct(carrier) AS carriers FROM f GROUP BY dest ORDER BY dest";
    let b = concat(&query(&[("f", &table)], sql, 3));
    assert!(table.take_malformed().is_empty());

    let mut spec = pagemill_features::FeatureSpec::delimited(Dialect::csv());
    spec.key("dest").value("arr_delay").distinct("carrier");
    let inputs = [source(&data)];
    let job = spec.build(&inputs).unwrap();
    let want = pagemill_engine::Runner::new().run(&job, &inputs).unwrap().output;
    let col = |name: &str| want.column(want.schema().index_of(name).unwrap()).clone();
    let want_rows = arrow_cast::cast(&col("rows"), &arrow_schema::DataType::UInt64).unwrap();
    let want_n = arrow_cast::cast(&col("arr_delay_count"), &arrow_schema::DataType::UInt64).unwrap();
    assert_eq!(strings(&b, 0), strings(&want, 0));
    assert_eq!(u64s(&b, 1), want_rows.as_primitive::<UInt64Type>().values().to_vec());
    assert_eq!(u64s(&b, 2), want_n.as_primitive::<UInt64Type>().values().to_vec());
    let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-9 * y.abs().max(1.0));
    let min_want = f64s(&RecordBatch::try_from_iter([("x", col("arr_delay_min"))]).unwrap(), 0);
    let max_want = f64s(&RecordBatch::try_from_iter([("x", col("arr_delay_max"))]).unwrap(), 0);
    let mean_want = f64s(&RecordBatch::try_from_iter([("x", col("arr_delay_mean"))]).unwrap(), 0);
    assert!(close(&f64s(&b, 3), &min_want));
    assert!(close(&f64s(&b, 4), &max_want));
    assert!(close(&f64s(&b, 5), &mean_want));
    let distinct_want = u64s(&RecordBatch::try_from_iter([("x", col("carrier_distinct"))]).unwrap(), 0);
    assert_eq!(u64s(&b, 6), distinct_want);
}

/// A quote inside an unquoted field spoils its own line, as in `pagemill
/// features`: the lines RFC 4180 quoting joined to it are rows.
#[test]
fn a_stray_quote_spoils_only_its_line() {
    let data = b"k,v\nx,9\na,5\" disk\nb,1\nc,2\"\nd,4\n";
    for partitions in [1, 2] {
        let table = PagemillTable::delimited(vec![source(data)], DelimitedOptions::new(Dialect::csv())).unwrap();
        let b = concat(&query(&[("t", &table)], "SELECT k, v FROM t ORDER BY k", partitions));
        assert_eq!(strings(&b, 0), ["b", "d", "x"]);
        let m = table.take_malformed();
        assert_eq!((m.total(), m.count("bad-quote")), (2, 2), "{m}");
        let lines: Vec<u64> = m.samples().iter().map(|s| s.line).collect();
        assert_eq!(lines, [3, 5], "{m}");
    }
}

#[test]
fn delimited_quoting_nulls_and_bad_fields() {
    let data = b"id,name,score\n1,\"a, \"\"quoted\"\" name\",1.5\n2,\"two\nlines\",NA\n3,plain,oops\n4,short\n5,,2\n";
    // Inferred from every record: `oops` makes score text.
    let table = PagemillTable::delimited(vec![source(data)], DelimitedOptions::new(Dialect::csv())).unwrap();
    assert_eq!(table.schema().field(2).data_type(), &arrow_schema::DataType::Utf8View);
    let b = concat(&query(&[("t", &table)], "SELECT id, name, score FROM t ORDER BY id", 1));
    assert_eq!(strings(&b, 0), ["1", "2", "3", "5"]);
    assert_eq!(strings(&b, 1), ["a, \"quoted\" name", "two\nlines", "plain", "<null>"]);
    assert_eq!(strings(&b, 2), ["1.5", "<null>", "oops", "2"]);
    let m = table.take_malformed();
    assert_eq!((m.total(), m.count("ragged-row")), (1, 1), "{m}");
    // Declared numeric: the bad number is null and counted, its row kept.
    let schema = Arc::new(arrow_schema::Schema::new(vec![
        arrow_schema::Field::new("id", arrow_schema::DataType::Int64, true),
        arrow_schema::Field::new("name", arrow_schema::DataType::Utf8View, true),
        arrow_schema::Field::new("score", arrow_schema::DataType::Float64, true),
    ]));
    let table =
        PagemillTable::delimited(vec![source(data)], DelimitedOptions::new(Dialect::csv()).schema(schema)).unwrap();
    let b = concat(&query(&[("t", &table)], "SELECT id, score FROM t ORDER BY id", 1));
    let scores = f64s(&b, 1);
    assert_eq!(scores[0], 1.5);
    assert!(scores[1].is_nan() && scores[2].is_nan(), "NA and a bad number are null");
    assert_eq!(scores[3], 2.0);
    let m = table.take_malformed();
    assert_eq!(m.count("ragged-row"), 1, "{m}");
    assert_eq!(m.count("bad-number"), 1, "{m}");
    assert_eq!(m.samples().iter().find(|s| s.kind == "bad-number").unwrap().line, 5);
    // A record with two bad numbers is one malformed record, one sample.
    let two = b"a,b\n1,2\nq,r\n";
    let schema2 = Arc::new(arrow_schema::Schema::new(vec![
        arrow_schema::Field::new("a", arrow_schema::DataType::Int64, true),
        arrow_schema::Field::new("b", arrow_schema::DataType::Int64, true),
    ]));
    let table =
        PagemillTable::delimited(vec![source(two)], DelimitedOptions::new(Dialect::csv()).schema(schema2)).unwrap();
    concat(&query(&[("t", &table)], "SELECT a, b FROM t", 1));
    let m = table.take_malformed();
    assert_eq!((m.total(), m.count("bad-number"), m.samples().len()), (1, 1, 1), "{m}");
    // Without a header, columns are numbered.
    let table = PagemillTable::delimited(
        vec![source(b"1;x\n2;y\n")],
        DelimitedOptions::new(Dialect::csv().delimiter(b';').header(false)),
    )
    .unwrap();
    let b = concat(&query(&[("t", &table)], "SELECT sum(column_0) AS s, max(column_1) AS m FROM t", 1));
    assert_eq!(strings(&b, 0), ["3"]);
    assert_eq!(strings(&b, 1), ["y"]);
}

#[test]
fn brc_lines_match_the_preset() {
    let data = generate(|out| Measurements::new(Stations::official(), 100_000, 11).write_to(out));
    let table = PagemillTable::brc(vec![source(&data)]).unwrap().with_chunk_size(64 << 10);
    let sql = "SELECT station, min(measurement) AS lo, max(measurement) AS hi, count(*) AS n \
               FROM m GROUP BY station ORDER BY station";
    let b = concat(&query(&[("m", &table)], sql, 4));
    let inputs = [source(&data)];
    let want = pagemill_engine::Runner::new().run(&pagemill_features::Brc::new(), &inputs).unwrap().output;
    let stations = &want.stations;
    assert_eq!(b.num_rows(), stations.len());
    let names = strings(&b, 0);
    for (i, s) in stations.iter().enumerate() {
        assert_eq!(names[i], s.name);
        assert_eq!(f64s(&b, 1)[i], f64::from(s.min) / 10.0);
        assert_eq!(f64s(&b, 2)[i], f64::from(s.max) / 10.0);
        assert_eq!(u64s(&b, 3)[i], s.count);
    }
}

#[test]
fn binary_records_decode_every_field() {
    let data = generate(|out| Records::new(10_000, 2).write_to(out));
    let fields: Vec<BinaryField> = Records::FIELDS.iter().map(|f| f.parse().unwrap()).collect();
    let layout = Layout::new(Records::SIZE, fields).unwrap();
    let mut truncated = data.clone();
    truncated.extend_from_slice(&[1, 2, 3]);
    let table = PagemillTable::binary(vec![source(&truncated)], layout).unwrap().with_chunk_size(64 << 10);
    let b = concat(&query(
        &[("r", &table)],
        "SELECT sensor, count(*), sum(value), max(status) FROM r GROUP BY sensor ORDER BY sensor",
        3,
    ));
    let mut want: BTreeMap<u32, (u64, f64, u16)> = BTreeMap::new();
    for rec in data.chunks_exact(16) {
        let sensor = u32::from_le_bytes(rec[0..4].try_into().unwrap());
        let status = u16::from_le_bytes(rec[4..6].try_into().unwrap());
        let value = f64::from_le_bytes(rec[8..16].try_into().unwrap());
        let e = want.entry(sensor).or_insert((0, 0.0, 0));
        e.0 += 1;
        e.1 += value;
        e.2 = e.2.max(status);
    }
    assert_eq!(b.num_rows(), want.len());
    let sensors = u64s(&b, 0);
    for (i, (sensor, (n, sum, status))) in want.iter().enumerate() {
        assert_eq!(sensors[i], u64::from(*sensor));
        assert_eq!(u64s(&b, 1)[i], *n);
        assert!((f64s(&b, 2)[i] - sum).abs() <= 1e-9 * sum.abs().max(1.0));
        assert_eq!(u64s(&b, 3)[i], u64::from(*status));
    }
    assert_eq!(table.take_malformed().count("short-record"), 1);
}

#[test]
fn integer_columns_and_text_views_round_trip() {
    // Long text (views that point into the input) next to short (inlined).
    let long = "x".repeat(40);
    let data = format!("k,v\n{long},1\nab,2\n{long},3\n");
    let table = PagemillTable::delimited(vec![source(data.as_bytes())], DelimitedOptions::new(Dialect::csv())).unwrap();
    let b = concat(&query(&[("t", &table)], "SELECT k, sum(v) AS s FROM t GROUP BY k ORDER BY k", 2));
    assert_eq!(strings(&b, 0), ["ab", long.as_str()]);
    let s = b.column(1).as_primitive::<Int64Type>();
    assert_eq!(s.values().to_vec(), vec![2, 4]);
}

#[test]
fn sketch_functions_agree_grouped_global_and_filtered() {
    let data = generate(|out| AccessLog::new(20_000, AccessLogFormat::Timed, 9).write_to(out));
    let table = PagemillTable::logs(vec![source(&data)], LogFormat::timed()).unwrap().with_chunk_size(64 << 10);
    let t = [("logs", &table)];
    // One group through the per-group accumulators, and no group through
    // the plain ones: the same sketches, the same answers.
    let global = concat(&query(&t, "SELECT hdr_quantile(latency, 0.9) AS p, hll_distinct(ip) AS d FROM logs", 3));
    let grouped = concat(&query(
        &t,
        "SELECT k, hdr_quantile(latency, 0.9) AS p, hll_distinct(ip) AS d FROM (SELECT 1 AS k, latency, ip FROM logs) GROUP BY k",
        3,
    ));
    assert_eq!(f64s(&global, 0), f64s(&grouped, 1));
    assert_eq!(u64s(&global, 1), u64s(&grouped, 2));
    // FILTER (WHERE ...) counts only the rows it keeps.
    let format = LogFormat::timed();
    let mut errors: BTreeMap<String, HashSet<Vec<u8>>> = BTreeMap::new();
    for rec in Lines.records(&data) {
        let r = format.parse(rec.bytes).unwrap();
        if r.status.is_some_and(|s| s >= 400) {
            errors
                .entry(String::from_utf8(r.method.unwrap().to_vec()).unwrap())
                .or_default()
                .insert(r.ip.unwrap().to_vec());
        }
    }
    let b = concat(&query(
        &t,
        "SELECT method, hll_distinct(ip) FILTER (WHERE status >= 400) AS d FROM logs GROUP BY method ORDER BY method",
        2,
    ));
    let methods = strings(&b, 0);
    for (i, m) in methods.iter().enumerate() {
        let want = errors.get(m).map_or(0, HashSet::len) as u64;
        let got = u64s(&b, 1)[i];
        if want <= 1024 {
            assert_eq!(got, want, "{m}");
        } else {
            // HyperLogLog: 1.6 % standard error; 5 % is three of them.
            assert!((got as f64 - want as f64).abs() <= 0.05 * want as f64, "{m}: {got} vs {want}");
        }
    }
    // Bad arguments are plan errors, not panics.
    let ctx = SessionContext::new();
    register_functions(&ctx);
    ctx.register_table("logs", Arc::new(table.clone())).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    for bad in [
        "SELECT hdr_quantile(latency, 1.5) FROM logs",
        "SELECT hdr_quantile(latency, status) FROM logs",
        "SELECT hdr_quantile(path, 0.5) FROM logs",
        "SELECT hdr_quantile(latency) FROM logs",
        "SELECT hdr_quantile(latency, 0.5, 9) FROM logs",
    ] {
        let r = runtime.block_on(async { ctx.sql(bad).await?.collect().await });
        assert!(r.is_err(), "{bad}");
    }
}

#[test]
fn an_input_changed_under_a_scan_is_an_error_not_a_result() {
    let dir = std::env::temp_dir().join(format!("pagemill-datafusion-changed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.txt");
    let data = generate(|out| Measurements::new(Stations::official(), 20_000, 3).write_to(out));
    std::fs::write(&path, &data).unwrap();
    let source = pagemill_mmap::OpenOptions::new().mmap(pagemill_mmap::MmapChoice::always()).open(&path).unwrap();
    let table = PagemillTable::brc(vec![source]).unwrap();
    let ctx = SessionContext::new();
    ctx.register_table("m", Arc::new(table)).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let run = || runtime.block_on(async { ctx.sql("SELECT count(*) FROM m").await?.collect().await });
    assert!(run().is_ok());
    // Rewritten in place (same size, so no page vanishes): a new modification time.
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(60)).unwrap();
    let err = run().unwrap_err().to_string();
    assert!(err.contains("m.txt"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
