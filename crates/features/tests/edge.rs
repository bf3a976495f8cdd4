//! The edge-case corpus of issue 7 through both features paths: for each
//! hostile input, the exact number of good rows and of malformed records by
//! kind, and no panic. Every input runs on 1 and 2 threads with tiny and
//! default chunks, mapped from a file and read from memory.

use arrow_array::{Array, Float64Array, RecordBatch, StringArray, UInt64Array};
use pagemill_engine::{Job, Malformed, Runner};
use pagemill_features::{Agg, Brc, Dialect, FeatureSpec};
use pagemill_fuzz_checks::reference::{reference_fields, reference_lines};
use pagemill_mmap::{MmapChoice, OpenOptions, Source};

/// Every way of reading `bytes` the tests compare: in memory and mapped from
/// a file, on 1 and 2 threads, whole and in 7-byte chunks.
fn sources(bytes: &[u8], tag: &str) -> Vec<Source> {
    let path = std::env::temp_dir().join(format!("pagemill-features-edge-{tag}-{}", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    let mapped = OpenOptions::new().mmap(MmapChoice::always()).open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    vec![Source::from_bytes(tag, bytes.to_vec()), mapped]
}

fn runners() -> Vec<Runner> {
    let mut out = Vec::new();
    for (threads, chunk) in [(1, None), (2, Some(7)), (2, None)] {
        let mut r = Runner::new();
        r.threads(threads);
        if let Some(c) = chunk {
            r.chunk_size(c);
        }
        out.push(r);
    }
    out
}

fn kinds(m: &Malformed) -> Vec<(&'static str, u64)> {
    let mut v: Vec<_> = m.counts().collect();
    v.sort();
    v
}

/// Runs the general path (`k` key, `v` value, no header, columns by index)
/// every way and checks that all agree; returns the batch and the malformed
/// kinds.
fn general(bytes: &[u8], tag: &str) -> (RecordBatch, Vec<(&'static str, u64)>) {
    let mut spec = FeatureSpec::delimited(Dialect::csv().header(false));
    spec.key("0").value("1");
    let mut first: Option<(RecordBatch, Vec<(&'static str, u64)>)> = None;
    for source in sources(bytes, tag) {
        let inputs = [source];
        let job = spec.build(&inputs).unwrap();
        for runner in runners() {
            let out = runner.run(&job, &inputs).unwrap();
            let got = (out.output, kinds(&out.malformed));
            match &first {
                None => first = Some(got),
                Some(want) => assert_eq!(&got, want, "{tag}: differs with {runner:?}"),
            }
        }
    }
    first.unwrap()
}

fn rows(batch: &RecordBatch) -> Vec<(Option<String>, u64)> {
    let keys = batch.column(0).as_any().downcast_ref::<StringArray>().unwrap();
    let rows = batch.column_by_name("rows").unwrap().as_any().downcast_ref::<UInt64Array>().unwrap();
    (0..batch.num_rows()).map(|i| (keys.is_valid(i).then(|| keys.value(i).to_string()), rows.value(i))).collect()
}

fn f64s(batch: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let a = batch.column_by_name(name).unwrap().as_any().downcast_ref::<Float64Array>().unwrap();
    (0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i))).collect()
}

fn key(s: &str, n: u64) -> (Option<String>, u64) {
    (Some(s.to_string()), n)
}

#[test]
fn empty_one_byte_and_no_trailing_newline() {
    let (b, k) = general(b"", "empty");
    assert_eq!((b.num_rows(), k), (0, vec![]));
    // One byte: records of one field cannot have a column 1: a setup error.
    let mut spec = FeatureSpec::delimited(Dialect::csv().header(false));
    spec.key("0").value("1");
    let err = spec.build(&[Source::from_bytes("one", b"x".to_vec())]).unwrap_err();
    assert_eq!(err.to_string(), "column index 1 is out of range: records have 1 columns (0 to 0)");
    let (b, k) = general(b"a,1\nb,2", "no-newline");
    assert_eq!((rows(&b), k), (vec![key("a", 1), key("b", 1)], vec![]));
}

#[test]
fn crlf_and_cr_only_line_ends() {
    let (b, k) = general(b"a,1\r\nb,2\r\na,3\r\n", "crlf");
    assert_eq!((rows(&b), k), (vec![key("a", 2), key("b", 1)], vec![]));
    assert_eq!(f64s(&b, "column_1_sum"), [Some(4.0), Some(2.0)]);
    // CR alone does not end a record: one record of three fields, whose
    // value "1\rb" is not a number.
    let (b, k) = general(b"a,1\rb,2\r", "cr-only");
    assert_eq!((b.num_rows(), k), (0, vec![("bad-number", 1)]));
}

#[test]
fn nul_bytes_invalid_utf8_and_random_binary() {
    let (b, k) = general(b"a\0b,1\na\0b,2\n", "nul");
    assert_eq!((rows(&b), k), (vec![key("a\0b", 2)], vec![]));
    let (b, k) = general(b"\xff\xfe,1\nok,2\n\xff\xfe,3\n", "utf8");
    assert_eq!((rows(&b), k), (vec![key("ok", 1)], vec![("invalid-utf8", 2)]));
    // Random bytes: whatever is not a two-column record with a number is
    // malformed; nothing panics, and every record is accounted for.
    let mut state = 0x1234_5678_9ABC_DEF1u64;
    // A clean first record sets the width (two columns); then junk.
    let junk: Vec<u8> = b"k,1\n"
        .iter()
        .copied()
        .chain((0..200_000).map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        }))
        .collect();
    // Records as RFC 4180 quoting cuts them, a record joined by a stray
    // quote read line by line.
    let total: u64 = pagemill_split::RecordFormat::records(&pagemill_split::Csv::new(), &junk)
        .map(|r| match reference_fields(r.bytes, b',', Some(b'"')) {
            Ok(_) => 1,
            Err(_) => reference_lines(r.bytes, b',', b'"').map_or(1, |n| n as u64),
        })
        .sum();
    let (b, k) = general(&junk, "binary");
    let good: u64 = rows(&b).iter().map(|r| r.1).sum();
    let bad: u64 = k.iter().map(|x| x.1).sum();
    assert_eq!(good + bad, total, "{k:?}");
}

/// After a stray quote the parity rule cuts records at the newlines inside
/// quoted fields: such a record ends inside a quoted field. The good lines
/// before that field are read; only the pieces of the fields it split are
/// malformed (they were lost with every line between them).
#[test]
fn good_lines_between_a_stray_quote_and_multi_line_fields_are_read() {
    let input = b"a,1,ok\nb,2,5\" disk\nc,3,\"multi\nline\"\nd,4,plain\ne,5,\"two\nlines\"\nf,6,end\n";
    let (b, k) = general(input, "stray-multi");
    assert_eq!(rows(&b), vec![key("a", 1), key("d", 1), key("f", 1)]);
    // `5" disk`, and the closing halves `line"` and `lines"`; the opening
    // halves `c,3,"multi` and `e,5,"two`.
    assert_eq!(k, vec![("bad-quote", 3), ("unclosed-quote", 2)]);
}

#[test]
fn unclosed_quotes_and_wide_rows() {
    // The quote never closes: the rest of the input is one record.
    let (b, k) = general(b"a,1\n\"b,2\nc,3\nd,4\n", "unclosed");
    assert_eq!((rows(&b), k), (vec![key("a", 1)], vec![("unclosed-quote", 1)]));
    // 10,000 columns: the first two are used, the width is checked.
    let mut wide = Vec::new();
    for r in 0..50 {
        wide.extend_from_slice(format!("k{},{r}", r % 3).as_bytes());
        for c in 2..10_000 {
            wide.extend_from_slice(format!(",{c}").as_bytes());
        }
        wide.push(b'\n');
    }
    wide.extend_from_slice(b"k0,1,2\n");
    let (b, k) = general(&wide, "wide");
    assert_eq!((rows(&b), k), (vec![key("k0", 17), key("k1", 17), key("k2", 16)], vec![("ragged-row", 1)]));
}

#[test]
fn overflowing_numbers_nan_and_infinities() {
    let input = b"a,99999999999999999999999\na,1e400\na,-1e400\na,NaN\na,inf\na,1e308\na,-0.5\n";
    let (b, k) = general(input, "numbers");
    // 1e400, -1e400 and inf overflow a double: bad-number. 23 digits and
    // 1e308 are doubles, but beyond what the quantile histograms (on by
    // default) can hold: out-of-range. NaN is missing.
    assert_eq!(k, vec![("bad-number", 3), ("out-of-range", 2)]);
    assert_eq!(rows(&b), vec![key("a", 2)]);
    assert_eq!((f64s(&b, "column_1_min"), f64s(&b, "column_1_max")), (vec![Some(-0.5)], vec![Some(-0.5)]));
    let missing = b.column_by_name("column_1_missing").unwrap().as_any().downcast_ref::<UInt64Array>().unwrap();
    assert_eq!(missing.value(0), 1);
}

#[test]
fn one_key_repeated_a_million_times_sums_exactly() {
    let input = "k,0.1\n".repeat(1_000_000);
    let (b, k) = general(input.as_bytes(), "repeated");
    assert_eq!((rows(&b), k), (vec![key("k", 1_000_000)], vec![]));
    // Decimals are summed exactly: 100000, not 100000.00000133288.
    assert_eq!(f64s(&b, "column_1_sum"), [Some(100_000.0)]);
    assert_eq!(f64s(&b, "column_1_mean"), [Some(0.1)]);
}

/// A chunk whose table starts large (earlier chunks had many keys) maps its
/// records in batches, touching their keys' slots together first. Batched
/// runs give the results and the malformed samples, in order, of a run that
/// never batches: with malformed records (a ragged row, a bad number, a
/// blank line, an unclosed quote) between good ones and quoted keys.
#[test]
fn many_keys_map_in_batches_as_one_by_one() {
    let mut input = String::new();
    for i in 0..120_000u32 {
        match i % 9973 {
            1 => input.push_str("ragged,1,2\n"),
            2 => input.push_str(&format!("k{i},oops\n")),
            3 => input.push('\n'),
            4 => input.push_str(&format!("\"q\"\"{i}\",{}\n", i % 7)),
            _ => input.push_str(&format!("k{},{}\n", i % 60_000, i % 1000)),
        }
    }
    input.push_str("\"unclosed,1\n");
    let mut spec = FeatureSpec::delimited(Dialect::csv().header(false));
    spec.key("0").value("1");
    let inputs = [Source::from_bytes("many", input.into_bytes())];
    let job = spec.build(&inputs).unwrap();
    let run = |threads: usize, chunk: usize| {
        let mut runner = Runner::new();
        runner.threads(threads).chunk_size(chunk);
        let out = runner.run(&job, &inputs).unwrap();
        let samples: Vec<(&str, u64)> = out.malformed.samples().iter().map(|s| (s.kind, s.offset)).collect();
        (out.output, kinds(&out.malformed), samples)
    };
    // The first run maps one chunk with a fresh job: one record at a time.
    let one_by_one = run(1, 1 << 30);
    assert_eq!(one_by_one.0.num_rows(), 60_000 + 13);
    assert_eq!(one_by_one.1.iter().map(|&(_, n)| n).sum::<u64>(), 13 * 3 + 1);
    // Later runs start every chunk's table at the 60,000 keys seen.
    for (threads, chunk) in [(1, 1 << 30), (2, 256 << 10), (2, 4099)] {
        assert_eq!(run(threads, chunk), one_by_one, "{threads} threads, chunks of {chunk}");
    }
}

/// A table of many keys is finished in pieces in parallel (the rows of
/// each piece in key order, then the pieces joined): every key appears
/// once, in byte order, with its own statistics, across piece boundaries.
#[test]
fn many_keys_finish_in_key_order_with_their_own_values() {
    use std::collections::BTreeMap;
    let mut input = String::from("key,v\n");
    let mut want: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for i in 0..150_000i64 {
        // 70,001 keys of uneven length, visited out of order.
        let k = (i * 7919) % 70_001;
        let key = format!("{}-{k}", "x".repeat((k % 5) as usize));
        let v = (i * 31) % 1001 - 500;
        input.push_str(&format!("{key},{v}\n"));
        want.entry(key).or_default().push(v);
    }
    let inputs = [Source::from_bytes("keys.csv", input.into_bytes())];
    let mut spec = FeatureSpec::delimited(Dialect::csv());
    spec.key("key").value("v").aggs([Some(Agg::Min), Some(Agg::Max), Some(Agg::Sum), None]).quantiles([50.0]);
    let job = spec.build(&inputs).unwrap();
    // Threaded runs, and partial results of two halves of the chunks
    // written as batches and merged back (tens of thousands of keys each:
    // partials of several shards, read back and merged as such).
    let mut runner = Runner::new();
    runner.threads(2).chunk_size(64 << 10);
    let chunks = runner.plan(&job, &inputs).len();
    let half = |range: std::ops::Range<usize>| {
        let partial = runner.run_partial_chunks(&job, &inputs, range).unwrap().output;
        job.partial_batch(partial)
    };
    let halves = [half(0..chunks / 2), half(chunks / 2..chunks)];
    let merged = pagemill_features::merge_partials(&halves).unwrap();
    let threaded = [1, 2, 3].map(|threads| {
        let mut runner = Runner::new();
        runner.threads(threads).chunk_size(64 << 10);
        runner.run(&job, &inputs).unwrap().output
    });
    for (label, out) in
        ["1 thread", "2 threads", "3 threads", "merged partials"].iter().zip(threaded.iter().chain([&merged]))
    {
        assert_eq!(out.num_rows(), want.len());
        let col = |name: &str| out.column_by_name(name).unwrap().clone();
        let keys = col("key");
        let keys = keys.as_any().downcast_ref::<StringArray>().unwrap();
        let rows = col("rows");
        let rows = rows.as_any().downcast_ref::<UInt64Array>().unwrap();
        let floats: Vec<Float64Array> = ["v_min", "v_max", "v_sum", "v_p50"]
            .iter()
            .map(|n| col(n).as_any().downcast_ref::<Float64Array>().unwrap().clone())
            .collect();
        for (i, (key, values)) in want.iter().enumerate() {
            assert_eq!(keys.value(i), key, "row {i}, {label}");
            assert_eq!(rows.value(i), values.len() as u64, "key {key}");
            let mut sorted = values.clone();
            sorted.sort_unstable();
            let median = sorted[sorted.len().div_ceil(2) - 1] as f64;
            let expect = [sorted[0] as f64, *sorted.last().unwrap() as f64, values.iter().sum::<i64>() as f64];
            let got: Vec<f64> = floats[..3].iter().map(|c| c.value(i)).collect();
            assert_eq!(got, expect, "key {key}: min, max, sum");
            // The median to the histogram's 3 significant digits.
            let p50 = floats[3].value(i);
            assert!((p50 - median).abs() <= median.abs() * 1e-3, "key {key}: p50 {p50}, exact {median}");
        }
    }
}

/// The first chunk of a run starts with one key table; once a chunk has
/// held many keys, later chunks spread theirs over shards, and a merge of
/// the two kinds moves the first chunk's keys to their shards. Every key
/// of both chunks must meet its twin: 30,000 keys, each in both chunks.
#[test]
fn a_first_chunk_of_many_keys_merges_with_sharded_chunks() {
    let mut input = String::from("key,v\n");
    for pass in 0..2 {
        for i in 0..30_000u32 {
            input.push_str(&format!("key-{i},{}\n", i % 100 + pass));
        }
    }
    let inputs = [Source::from_bytes("twice.csv", input.into_bytes())];
    let mut spec = FeatureSpec::delimited(Dialect::csv());
    spec.key("key").value("v").aggs([Some(Agg::Sum)]);
    for threads in [1, 2] {
        // A fresh job each time: its first chunks start with one table.
        let job = spec.build(&inputs).unwrap();
        let mut runner = Runner::new();
        runner.threads(threads).chunk_size(inputs[0].len() / 2);
        let out = runner.run(&job, &inputs).unwrap().output;
        assert_eq!(out.num_rows(), 30_000, "{threads} threads");
        let rows = out.column_by_name("rows").unwrap().as_any().downcast_ref::<UInt64Array>().unwrap();
        assert!(rows.iter().all(|n| n == Some(2)), "{threads} threads: every key in both chunks");
        let sums = out.column_by_name("v_sum").unwrap().as_any().downcast_ref::<Float64Array>().unwrap();
        let total: f64 = sums.values().iter().sum();
        assert_eq!(total, (0..30_000u32).map(|i| f64::from(2 * (i % 100) + 1)).sum::<f64>());
    }
}

#[test]
fn brc_preset_on_hostile_lines() {
    let input: &[u8] = b"a;1.0\r\nb;-99.9\n;5.0\nno separator\nc;1.23\nd;100.0\n\xff;1.0\ne;\x00\0\n\na;2.0";
    let mut first = None;
    for source in sources(input, "brc") {
        for runner in runners() {
            let out = runner.run(&Brc::new(), std::slice::from_ref(&source)).unwrap();
            let got = (out.output.to_official(), kinds(&out.malformed));
            match &first {
                None => first = Some(got),
                Some(want) => assert_eq!(&got, want),
            }
        }
    }
    let (official, k) = first.unwrap();
    assert_eq!(official, "{a=1.0/1.5/2.0, b=-99.9/-99.9/-99.9}\n");
    assert_eq!(
        k,
        vec![("bad-number", 3), ("empty-name", 1), ("invalid-utf8", 1), ("missing-separator", 2)],
        "lines: ';5.0' empty name; 'no separator' and the empty line; '1.23', '100.0', NULs bad numbers"
    );
}

/// The field splitter against the byte-by-byte RFC 4180 reader it shares
/// with the fuzz target (pagemill-fuzz-checks), on records built to put
/// quotes and delimiters on every side of the splitter's 8-byte words.
#[test]
fn fields_agree_with_a_byte_by_byte_reference_across_words() {
    use pagemill_fuzz_checks::reference::{library_fields, reference_fields};
    let alphabet = b"aaaaaaaaaa,,,\"\n";
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for round in 0..20_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = (state % 200) as usize;
        let record: Vec<u8> = (0..len)
            .map(|i| {
                let x = state.rotate_left(i as u32 * 7) ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                // Half the records without quotes, half with.
                let pick = if round % 2 == 0 { x % 13 } else { x % alphabet.len() as u64 };
                alphabet[pick as usize]
            })
            .collect();
        assert_eq!(
            library_fields(&record, b',', Some(b'"')),
            reference_fields(&record, b',', Some(b'"')),
            "{:?}",
            String::from_utf8_lossy(&record)
        );
    }
}

/// Float values (exponents: moments merged with Chan's formulas, whose last
/// bits depend on the order of merging) over many keys, each in several
/// chunks far apart: the pieces a merge leaves waiting make the same result
/// on any number of threads, and a node of the merge tree shipped as a
/// pieces batch and read back merges as it would have unshipped.
#[test]
fn many_float_keys_merge_alike_on_threads_and_through_pieces_batches() {
    let mut input = String::from("key,v\n");
    let mut x: u64 = 7;
    for i in 0..120_000u64 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let v = (x >> 11) as f64 / (1u64 << 53) as f64 * 1000.0 - 300.0;
        input.push_str(&format!("k{},{v:e}\n", i % 30_000));
    }
    let inputs = [Source::from_bytes("floats.csv", input.into_bytes())];
    let mut spec = FeatureSpec::delimited(Dialect::csv());
    spec.key("key").value("v").aggs([Some(Agg::Mean), Some(Agg::Std), None, None]);
    let job = spec.build(&inputs).unwrap();
    let runner = |threads: usize| {
        let mut runner = Runner::new();
        runner.threads(threads).chunk_size(32 << 10);
        runner
    };
    let one = runner(1).run(&job, &inputs).unwrap().output;
    assert_eq!(one.num_rows(), 30_000);
    for threads in [2, 3] {
        assert_eq!(runner(threads).run(&job, &inputs).unwrap().output, one, "{threads} threads");
    }
    // Two nodes of the merge tree, shipped and landed, merged and finished.
    let chunks = runner(2).plan(&job, &inputs).len();
    let ranges = Runner::tree_ranges(chunks, 2);
    let parts: Vec<_> = ranges
        .into_iter()
        .map(|range| {
            let partial = runner(2).run_partial_chunks(&job, &inputs, range.clone()).unwrap().output;
            let batch = job.pieces_batch(partial);
            (range, job.partial_from_pieces_batch(&batch).unwrap())
        })
        .collect();
    let merged = Runner::merge_tree(parts, |l, r| job.merge(l, r)).unwrap();
    assert_eq!(runner(2).finish(&job, merged, &inputs).unwrap(), one, "shipped as pieces batches");
    // A group limit the pieces pass (they hold each key several times) but
    // the keys do not: the runner asks for the exact count, which settles
    // the pieces early. Each key's states still combine left to right in
    // chunk order, so the float moments come out bit for bit the same.
    for threads in [1, 2, 3] {
        let mut limited = runner(threads);
        limited.max_groups(Some(30_000));
        assert_eq!(limited.run(&job, &inputs).unwrap().output, one, "{threads} threads, limit 30,000");
    }
}

/// Keys of two parts, many of them: once a chunk has told the run how
/// many keys there are, later chunks map their records in batches, each
/// key encoded and hashed once for the batch. Every record must still land
/// on its own key, also around records that leave the batches (quoted and
/// malformed ones).
#[test]
fn many_two_part_keys_land_on_their_rows_in_batches() {
    use std::collections::BTreeMap;
    let mut input = String::from("a,b,v\n");
    let mut want: BTreeMap<(String, String), (u64, i64)> = BTreeMap::new();
    for i in 0..240_000i64 {
        let k = (i * 7919) % 90_001;
        let (a, b) = (format!("a{}", k / 300), format!("{}", k % 300));
        let v = (i * 31) % 1001 - 500;
        if i % 10_007 == 0 {
            // Quoted: walked again by the sequential splitter.
            input.push_str(&format!("\"{a}\",{b},{v}\n"));
        } else {
            input.push_str(&format!("{a},{b},{v}\n"));
        }
        if i % 15_013 == 0 {
            input.push_str("ragged,row\n");
        }
        let e = want.entry((a, b)).or_default();
        e.0 += 1;
        e.1 += v;
    }
    let inputs = [Source::from_bytes("two.csv", input.into_bytes())];
    let mut spec = FeatureSpec::delimited(Dialect::csv());
    spec.key("a").key("b").value("v").aggs([Some(Agg::Sum), None, None, None]);
    let job = spec.build(&inputs).unwrap();
    // One thread: the first chunk ends before the others start, so they
    // all start at its key count and batch.
    let mut runner = Runner::new();
    runner.threads(1).chunk_size(1 << 20);
    let out = runner.run(&job, &inputs).unwrap();
    assert_eq!(out.malformed.count("ragged-row"), 240_000 / 15_013 + 1);
    let batch = out.output;
    assert_eq!(batch.num_rows(), want.len());
    let col = |name: &str| batch.column_by_name(name).unwrap().clone();
    let (a, b, rows, sums) = (col("a"), col("b"), col("rows"), col("v_sum"));
    let a = a.as_any().downcast_ref::<StringArray>().unwrap();
    let b = b.as_any().downcast_ref::<StringArray>().unwrap();
    let rows = rows.as_any().downcast_ref::<UInt64Array>().unwrap();
    let sums = sums.as_any().downcast_ref::<Float64Array>().unwrap();
    for (i, ((ka, kb), (n, sum))) in want.iter().enumerate() {
        assert_eq!((a.value(i), b.value(i)), (ka.as_str(), kb.as_str()), "row {i}");
        assert_eq!((rows.value(i), sums.value(i)), (*n, *sum as f64), "key ({ka}, {kb})");
    }
}

/// The group limit with pieces waiting: chunks of disjoint keys, each
/// under the limit, must still stop a run whose keys together are over it;
/// keys repeated across chunks, whose pieces hold more than the limit
/// between them, must not, when the distinct keys fit.
#[test]
fn the_group_limit_counts_keys_once_across_waiting_pieces() {
    let run = |rows: i64, keys: i64, limit: usize| {
        let mut input = String::from("k,v\n");
        for i in 0..rows {
            input.push_str(&format!("key{},{}\n", i % keys, i % 7));
        }
        let inputs = [Source::from_bytes("keys.csv", input.into_bytes())];
        let mut spec = FeatureSpec::delimited(Dialect::csv());
        spec.key("k").value("v");
        let job = spec.build(&inputs).unwrap();
        let mut runner = Runner::new();
        runner.threads(2).chunk_size(256 << 10).max_groups(Some(limit));
        runner.run(&job, &inputs).map(|out| out.output.num_rows())
    };
    // 100,000 distinct keys, some 22,000 in each 256 KiB chunk: over 60,000.
    let err = run(100_000, 100_000, 60_000).unwrap_err();
    assert!(matches!(err, pagemill_engine::Error::TooManyGroups { limit: 60_000, .. }), "{err:?}");
    // 40,000 keys, each in four or five chunks: the pieces hold some 200,000
    // keys between them, the run 40,000.
    assert_eq!(run(200_000, 40_000, 60_000).unwrap(), 40_000);
}

#[test]
fn quantiles_are_percentages_from_0_to_100_and_partials_read_back() {
    let inputs = [Source::from_bytes("q.csv", b"k,v\na,1\na,3\n".to_vec())];
    for bad in [150.0, -1.0, f64::NAN] {
        let mut spec = FeatureSpec::delimited(Dialect::csv());
        spec.key("k").value("v").aggs([Some(Agg::Quantile(bad))]);
        assert!(matches!(spec.build(&inputs), Err(pagemill_features::Error::BadAgg(_))), "{bad}");
        let mut spec = FeatureSpec::delimited(Dialect::csv());
        spec.key("k").value("v").quantiles([bad]);
        assert!(spec.build(&inputs).is_err(), "{bad}");
    }
    // -0.0 is p0, and its partial merges.
    let mut spec = FeatureSpec::delimited(Dialect::csv());
    spec.key("k").value("v").aggs([Some(Agg::Quantile(-0.0))]);
    let job = spec.build(&inputs).unwrap();
    let partial = job.partial_batch(Runner::new().run_partial(&job, &inputs).unwrap().output);
    let merged = pagemill_features::merge_partials(&[partial]).unwrap();
    assert_eq!(f64s(&merged, "v_p0"), [Some(1.0)]);
}
