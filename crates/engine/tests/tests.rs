//! The runner's contracts: deterministic results for any thread count and
//! chunk size, many inputs in one run, exact malformed-record accounting with
//! line numbers, strict mode, progress, and change detection.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use pagemill_engine::{Chunk, CountRecords, Error, Job, Malformed, Runner};
use pagemill_mmap::{MmapChoice, OpenOptions, Source};
use pagemill_split::{Lines, RecordFormat};
use proptest::prelude::*;

/// Sums integer lines; anything else is a "bad-number". Its partial also keeps
/// every record in order, so a merge that reordered chunks would show.
struct SumLines;

#[derive(Debug, Default, PartialEq)]
struct Sums {
    sum: i64,
    records: Vec<(usize, Vec<u8>)>,
}

impl Job for SumLines {
    type Format = Lines;
    type Partial = Sums;
    type Output = Sums;

    fn format(&self) -> &Lines {
        &Lines
    }

    fn empty(&self) -> Sums {
        Sums::default()
    }

    fn map(&self, chunk: Chunk<'_>, malformed: &mut Malformed) -> Sums {
        let mut out = Sums::default();
        for r in Lines.records(chunk.bytes) {
            out.records.push((chunk.input, r.bytes.to_vec()));
            match std::str::from_utf8(r.bytes).ok().and_then(|s| s.parse::<i64>().ok()) {
                Some(n) => out.sum += n,
                None => malformed.report("bad-number", r.offset, r.bytes),
            }
        }
        out
    }

    fn merge(&self, mut left: Sums, right: Sums) -> Sums {
        left.sum += right.sum;
        left.records.extend(right.records);
        left
    }

    fn finish(&self, partial: Sums, _inputs: &[Source]) -> Sums {
        partial
    }
}

fn sources(inputs: &[Vec<u8>]) -> Vec<Source> {
    inputs.iter().enumerate().map(|(i, b)| Source::from_bytes(format!("in{i}"), b.clone())).collect()
}

fn reference(inputs: &[Vec<u8>]) -> (Sums, Vec<(usize, u64, u64)>) {
    let mut sums = Sums::default();
    let mut bad = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let mut offset = 0u64;
        for (line_no, line) in input.split_inclusive(|&b| b == b'\n').enumerate() {
            let text = line.strip_suffix(b"\n").unwrap_or(line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            sums.records.push((i, text.to_vec()));
            match std::str::from_utf8(text).ok().and_then(|s| s.parse::<i64>().ok()) {
                Some(n) => sums.sum += n,
                None => bad.push((i, offset, line_no as u64 + 1)),
            }
            offset += line.len() as u64;
        }
    }
    (sums, bad)
}

fn lines_input() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop_oneof![4 => (-1000i64..1000).prop_map(|n| n.to_string()), 1 => "[a-z]{0,3}"], 0..60)
        .prop_flat_map(|lines| {
            (Just(lines), any::<bool>()).prop_map(|(lines, trailing)| {
                let mut s = lines.join("\n");
                if trailing && !s.is_empty() {
                    s.push('\n');
                }
                s.into_bytes()
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn results_and_samples_match_a_sequential_reference(
        inputs in prop::collection::vec(lines_input(), 1..4),
        threads in 1usize..5,
        chunk in 1usize..40,
    ) {
        let (want, bad) = reference(&inputs);
        let outcome = Runner::new().threads(threads).chunk_size(chunk).max_samples(1000).run(&SumLines, &sources(&inputs)).unwrap();
        prop_assert_eq!(&outcome.output, &want);
        prop_assert_eq!(outcome.malformed.count("bad-number"), bad.len() as u64);
        let got: Vec<(usize, u64, u64)> = outcome.malformed.samples().iter().map(|s| (s.input, s.offset, s.line)).collect();
        prop_assert_eq!(got, bad);
    }
}

/// [`SumLines`] as an order-free job: the sum and the records as a sorted
/// multiset (with their input), which any merge order gives alike. The
/// runner folds its chunks per worker ([`Job::map_into`]).
struct FoldedSums;

type Multiset = std::collections::BTreeMap<(usize, Vec<u8>), u64>;

impl Job for FoldedSums {
    type Format = Lines;
    type Partial = (i64, Multiset);
    type Output = (i64, Multiset);

    fn format(&self) -> &Lines {
        &Lines
    }

    fn empty(&self) -> Self::Partial {
        Default::default()
    }

    fn map(&self, chunk: Chunk<'_>, malformed: &mut Malformed) -> Self::Partial {
        let sums = SumLines.map(chunk, malformed);
        let mut set = Multiset::new();
        for r in sums.records {
            *set.entry(r).or_default() += 1;
        }
        (sums.sum, set)
    }

    fn merge(&self, (a, mut left): Self::Partial, (b, right): Self::Partial) -> Self::Partial {
        for (k, n) in right {
            *left.entry(k).or_default() += n;
        }
        (a + b, left)
    }

    fn finish(&self, partial: Self::Partial, _inputs: &[Source]) -> Self::Partial {
        partial
    }

    fn groups(&self, partial: &Self::Partial) -> Option<usize> {
        Some(partial.1.len())
    }

    fn order_free(&self) -> bool {
        true
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Folded per worker, an order-free job still gets every record once and
    /// the malformed samples a tree merge keeps, in input order.
    #[test]
    fn folded_runs_match_a_sequential_reference(
        inputs in prop::collection::vec(lines_input(), 1..4),
        threads in 1usize..5,
        chunk in 1usize..40,
        max_samples in 1usize..4,
    ) {
        let (want, bad) = reference(&inputs);
        let mut set = Multiset::new();
        for r in want.records {
            *set.entry(r).or_default() += 1;
        }
        let outcome = Runner::new().threads(threads).chunk_size(chunk).max_samples(max_samples)
            .run(&FoldedSums, &sources(&inputs)).unwrap();
        prop_assert_eq!(&outcome.output, &(want.sum, set));
        prop_assert_eq!(outcome.malformed.count("bad-number"), bad.len() as u64);
        let got: Vec<(usize, u64, u64)> = outcome.malformed.samples().iter().map(|s| (s.input, s.offset, s.line)).collect();
        prop_assert_eq!(got, bad.into_iter().take(max_samples).collect::<Vec<_>>());
    }
}

#[test]
fn folded_runs_keep_strict_mode_and_the_group_limit() {
    let mut input: String = (0..5000).map(|i| format!("{i}\n")).collect();
    input.push_str("oops\n");
    input.push_str(&(0..3000).map(|i| format!("{i}\n")).collect::<String>());
    input.push_str("later\n");
    let inputs = sources(&[input.into_bytes()]);
    for threads in [1, 2, 4] {
        let err = Runner::new().threads(threads).chunk_size(64).strict(true).run(&FoldedSums, &inputs).unwrap_err();
        match err {
            Error::Strict(sample) => assert_eq!((sample.line, sample.text.as_str()), (5001, "oops")),
            other => panic!("unexpected {other}"),
        }
        let mut runner = Runner::new();
        runner.threads(threads).chunk_size(64).max_groups(Some(4000));
        let err = runner.run(&FoldedSums, &inputs).unwrap_err();
        assert!(matches!(err, Error::TooManyGroups { limit: 4000, seen } if seen > 4000), "{err:?}");
        runner.max_groups(Some(5002));
        assert_eq!(runner.run(&FoldedSums, &inputs).unwrap().output.1.len(), 5002);
    }
}

#[test]
fn identical_for_every_thread_count_and_chunk_size() {
    let input: Vec<u8> = (0..20_000).flat_map(|i| format!("{}\n", i * 7 - 3000).into_bytes()).collect();
    let inputs = sources(&[input]);
    let base = Runner::new().threads(1).run(&SumLines, &inputs).unwrap().output;
    for threads in [1, 2, 3, 8] {
        for chunk in [1, 13, 4096, 1 << 20] {
            let out = Runner::new().threads(threads).chunk_size(chunk).run(&SumLines, &inputs).unwrap();
            assert_eq!(out.output, base, "threads {threads} chunk {chunk}");
            assert_eq!(out.threads, threads);
        }
    }
}

#[test]
fn inputs_share_one_pool_and_keep_their_own_counts() {
    let inputs = sources(&[b"a\nb\n".to_vec(), Vec::new(), b"c".to_vec(), b"\n\n\n".to_vec()]);
    let outcome = Runner::new().threads(2).chunk_size(1).run(&CountRecords::new(Lines), &inputs).unwrap();
    assert_eq!(outcome.output, vec![2, 0, 1, 3]);
    assert_eq!(outcome.bytes, 8);
}

#[test]
fn no_input_at_all_gives_the_empty_result() {
    let outcome = Runner::new().run(&CountRecords::new(Lines), &[]).unwrap();
    assert!(outcome.output.is_empty());
    assert_eq!(outcome.chunks, 0);
}

#[test]
fn strict_mode_reports_the_first_malformed_record_in_input_order() {
    let mut input = String::new();
    for i in 0..5000 {
        input.push_str(&format!("{i}\n"));
    }
    input.push_str("oops\n");
    for i in 0..5000 {
        input.push_str(&format!("{i}\n"));
    }
    input.push_str("second\n");
    let inputs = sources(&[input.into_bytes()]);
    // Keeping no samples does not switch strict mode off.
    let err = Runner::new().max_samples(0).strict(true).run(&SumLines, &inputs).unwrap_err();
    assert!(matches!(&err, Error::Strict(s) if s.line == 5001), "{err}");
    for threads in [1, 2, 4] {
        let err = Runner::new().threads(threads).chunk_size(64).strict(true).run(&SumLines, &inputs).unwrap_err();
        match err {
            Error::Strict(sample) => {
                assert_eq!(sample.line, 5001);
                assert_eq!(sample.text, "oops");
                assert_eq!(sample.source, "in0");
                assert!(err_text(&Error::Strict(sample)).contains("in0:5001: bad-number"));
            }
            other => panic!("unexpected {other}"),
        }
    }
    let lenient = Runner::new().chunk_size(64).run(&SumLines, &inputs).unwrap();
    assert_eq!(lenient.malformed.total(), 2);
}

fn err_text(e: &Error) -> String {
    e.to_string()
}

#[test]
fn progress_reaches_the_total() {
    let input: Vec<u8> = (0..10_000).flat_map(|i| format!("{i}\n").into_bytes()).collect();
    let total = input.len() as u64;
    let inputs = sources(&[input]);
    let max = Arc::new(AtomicU64::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let mut runner = Runner::new();
    let (m, c) = (max.clone(), calls.clone());
    runner.chunk_size(1000).on_progress(move |p| {
        assert_eq!(p.total, total);
        m.fetch_max(p.done, Ordering::Relaxed);
        c.fetch_add(1, Ordering::Relaxed);
    });
    let outcome = runner.run(&SumLines, &inputs).unwrap();
    assert_eq!(max.load(Ordering::Relaxed), total);
    assert_eq!(calls.load(Ordering::Relaxed), outcome.chunks);
}

/// A job that truncates its own input file while mapping the first chunk.
struct Truncator {
    path: PathBuf,
    done: Mutex<bool>,
}

impl Job for Truncator {
    type Format = Lines;
    type Partial = u64;
    type Output = u64;
    fn format(&self) -> &Lines {
        &Lines
    }
    fn empty(&self) -> u64 {
        0
    }
    fn map(&self, chunk: Chunk<'_>, _: &mut Malformed) -> u64 {
        let mut done = self.done.lock().unwrap();
        if !*done {
            std::fs::OpenOptions::new().write(true).open(&self.path).unwrap().set_len(3).unwrap();
            *done = true;
        }
        Lines.count_records(chunk.bytes)
    }
    fn merge(&self, a: u64, b: u64) -> u64 {
        a + b
    }
    fn finish(&self, p: u64, _: &[Source]) -> u64 {
        p
    }
}

#[test]
fn an_input_truncated_during_the_run_is_an_error_not_a_result() {
    let dir = std::env::temp_dir().join(format!("pagemill-engine-trunc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("input.txt");
    std::fs::write(&path, "line\n".repeat(100_000)).unwrap();
    // Read into memory: a mapped input would die of SIGBUS on the vanished pages.
    let source = OpenOptions::new().mmap(MmapChoice::never()).open(&path).unwrap();
    let job = Truncator { path: path.clone(), done: Mutex::new(false) };
    let err = Runner::new().run(&job, &[source]).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Input(_)), "{text}");
    assert!(text.contains("input.txt") && text.contains("changed"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The distinct lines of the input, as a sorted set: state that grows with
/// the number of keys.
struct DistinctLines;

impl Job for DistinctLines {
    type Format = Lines;
    type Partial = std::collections::BTreeSet<Vec<u8>>;
    type Output = usize;
    fn format(&self) -> &Lines {
        &Lines
    }
    fn empty(&self) -> Self::Partial {
        Default::default()
    }
    fn map(&self, chunk: Chunk<'_>, _: &mut Malformed) -> Self::Partial {
        Lines.records(chunk.bytes).map(|r| r.bytes.to_vec()).collect()
    }
    fn merge(&self, mut a: Self::Partial, mut b: Self::Partial) -> Self::Partial {
        a.append(&mut b);
        a
    }
    fn finish(&self, p: Self::Partial, _: &[Source]) -> usize {
        p.len()
    }
    fn groups(&self, p: &Self::Partial) -> Option<usize> {
        Some(p.len())
    }
}

#[test]
fn more_groups_than_the_limit_is_a_clear_error_not_a_result() {
    let input: Vec<u8> = (0..10_000).flat_map(|i| format!("key-{}\n", i % 1000).into_bytes()).collect();
    let source = || vec![Source::from_bytes("keys.txt", input.clone())];
    for (threads, chunk) in [(1, 1 << 20), (2, 4096), (2, 7)] {
        let mut runner = Runner::new();
        runner.threads(threads).chunk_size(chunk);
        assert_eq!(runner.run(&DistinctLines, &source()).unwrap().output, 1000);
        runner.max_groups(Some(1000));
        assert_eq!(runner.run(&DistinctLines, &source()).unwrap().output, 1000, "the limit itself is allowed");
        runner.max_groups(Some(999));
        let err = runner.run(&DistinctLines, &source()).unwrap_err();
        assert!(matches!(err, Error::TooManyGroups { limit: 999, seen } if seen > 999), "{err:?}");
        assert!(err.to_string().starts_with("more than 999 groups (at least "), "{err}");
        runner.max_groups(None);
        assert_eq!(runner.run(&DistinctLines, &source()).unwrap().output, 1000);
    }
}

/// A job whose partial spells out the merge tree, `(left right)` over
/// `c<chunk index>` leaves, and that reports every line starting with `!`.
struct Shape;

impl Job for Shape {
    type Format = Lines;
    type Partial = String;
    type Output = String;

    fn format(&self) -> &Lines {
        &Lines
    }

    fn empty(&self) -> String {
        String::new()
    }

    fn map(&self, chunk: Chunk<'_>, malformed: &mut Malformed) -> String {
        let mut at = 0;
        for line in chunk.bytes.split_inclusive(|&b| b == b'\n') {
            if line.starts_with(b"!") {
                malformed.report("bang", at, line);
            }
            at += line.len();
        }
        format!("c{}", chunk.index)
    }

    fn merge(&self, left: String, right: String) -> String {
        format!("({left} {right})")
    }

    fn finish(&self, partial: String, _inputs: &[Source]) -> String {
        partial
    }
}

#[test]
fn chunk_ranges_merged_along_the_tree_equal_one_run() {
    let mut text = Vec::new();
    for i in 0..300 {
        text.extend_from_slice(if i % 7 == 3 { b"!bad line\n" } else { b"a good line\n" });
    }
    let inputs = vec![Source::from_bytes("a", text.clone()), Source::from_bytes("b", text[..500].to_vec())];
    for chunk_size in [40, 64, 333, 10_000] {
        let mut runner = Runner::new();
        runner.threads(2).chunk_size(chunk_size);
        let whole = runner.run_partial(&Shape, &inputs).unwrap();
        let plan = runner.plan(&Shape, &inputs);
        assert_eq!(plan.len(), whole.chunks);
        for parts in [1, 2, 3, 5, 8, 1000] {
            let ranges = Runner::tree_ranges(plan.len(), parts);
            assert_eq!(ranges.len(), parts.min(plan.len()));
            assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
            let mut malformed = Malformed::new(5);
            let mut done = Vec::new();
            for r in &ranges {
                let part = runner.run_partial_chunks(&Shape, &inputs, r.clone()).unwrap();
                assert!(part.malformed.samples().iter().all(|s| s.line == 0));
                malformed.merge(part.malformed);
                done.push((r.clone(), part.output));
            }
            let merged = Runner::merge_tree(done, |l, r| Shape.merge(l, r)).unwrap();
            assert_eq!(merged, whole.output, "chunk size {chunk_size}, {parts} parts");
            runner.settle_malformed(&mut malformed, &inputs, Shape.format()).unwrap();
            assert_eq!(malformed.to_string(), whole.malformed.to_string());
        }
    }
}

#[test]
fn merge_tree_refuses_ranges_that_are_not_tree_nodes() {
    // 0..3 splits at 1: 0..2 is no node of its tree, 0..1 and 1..3 are.
    assert_eq!(Runner::merge_tree(vec![(0..2, 1), (2..3, 2)], |a, b| a + b), None);
    assert_eq!(Runner::merge_tree(vec![(0..1, 1), (1..3, 2)], |a, b| a + b), Some(3));
    assert_eq!(Runner::merge_tree(vec![(0..2, 1)], |a: i32, b| a + b), Some(1));
    assert_eq!(Runner::merge_tree(Vec::<(std::ops::Range<usize>, i32)>::new(), |a, b| a + b), None);
    let inputs = vec![Source::from_bytes("a", b"x\ny\n".to_vec())];
    let err = Runner::new().run_partial_chunks(&Shape, &inputs, 0..5).unwrap_err();
    assert!(err.to_string().contains("cut into 1 chunks"), "{err}");
}

#[test]
fn strict_mode_is_applied_when_settling() {
    let inputs = vec![Source::from_bytes("a", b"ok\n!no\n".to_vec())];
    let mut runner = Runner::new();
    runner.strict(true);
    let mut part = runner.run_partial_chunks(&Shape, &inputs, 0..1).unwrap();
    let err = runner.settle_malformed(&mut part.malformed, &inputs, Shape.format()).unwrap_err();
    assert_eq!(err.to_string(), "malformed record (strict mode): a:2: bang at byte 3: !no\\n");
}

/// Fixed-width records are not lines: their samples carry no line number
/// (a count of 0x0A bytes before them would name no line), mapped, read or
/// streamed.
#[test]
fn samples_of_fixed_width_records_have_no_line_number() {
    let bytes = b"\n\n\n\nabcd\n\n".to_vec();
    let job = CountRecords::new(pagemill_split::Fixed::new(4)).expect_record_size(4);
    let mut stream = Vec::new();
    stream.extend_from_slice(&bytes);
    let sources = [
        Source::from_bytes("b", bytes.clone()),
        OpenOptions::new().stream(true).reader("b", std::io::Cursor::new(stream)).unwrap(),
    ];
    for source in sources {
        let inputs = [source];
        let outcome = Runner::new().chunk_size(4).run(&job, &inputs).unwrap();
        assert_eq!(outcome.output, vec![3]);
        let samples = outcome.malformed.samples();
        assert_eq!(samples.len(), 1);
        assert_eq!((samples[0].line, samples[0].offset), (0, 8));
        assert_eq!(samples[0].to_string(), format!("b: {} at byte 8: \\n\\n", samples[0].kind));
    }
}

/// How a test input is stored on disk.
#[derive(Clone, Copy, Debug)]
enum Stored {
    Plain,
    Gzip,
    Zstd,
}

fn stored() -> impl Strategy<Value = Stored> {
    prop_oneof![Just(Stored::Plain), Just(Stored::Gzip), Just(Stored::Zstd)]
}

fn compress(bytes: &[u8], how: Stored) -> Vec<u8> {
    use std::io::Write;
    match how {
        Stored::Plain => bytes.to_vec(),
        Stored::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(bytes).unwrap();
            enc.finish().unwrap()
        }
        Stored::Zstd => zstd::encode_all(bytes, 1).unwrap(),
    }
}

/// A directory of its own for one test's files, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("pagemill-engine-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Write each input as stored and open them all with compressed files
/// streamed.
fn streamed_sources(dir: &TempDir, inputs: &[(Vec<u8>, Stored)]) -> Vec<Source> {
    inputs
        .iter()
        .enumerate()
        .map(|(i, (bytes, how))| {
            let path = dir.0.join(format!("in{i}"));
            std::fs::write(&path, compress(bytes, *how)).unwrap();
            OpenOptions::new().stream(true).open(&path).unwrap()
        })
        .collect()
}

/// The inputs as stored, behind readers that hand out a few bytes at a time
/// (as pipes do).
fn piped_sources(inputs: &[(Vec<u8>, Stored)]) -> Vec<Source> {
    struct Trickle(std::io::Cursor<Vec<u8>>);
    impl std::io::Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(7);
            self.0.read(&mut buf[..n])
        }
    }
    inputs
        .iter()
        .enumerate()
        .map(|(i, (bytes, how))| {
            let reader = Trickle(std::io::Cursor::new(compress(bytes, *how)));
            OpenOptions::new().reader(format!("pipe{i}"), reader).unwrap()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Streamed (compressed) inputs, alone or mixed with plain ones, give the
    /// sequential reference's result and samples, line numbers included, for
    /// any block size (down to one byte: every record longer than its block).
    #[test]
    fn streamed_inputs_match_a_sequential_reference(
        inputs in prop::collection::vec((lines_input(), stored()), 1..4),
        threads in 1usize..4,
        chunk in 1usize..40,
        block in 1usize..64,
        piped in any::<bool>(),
    ) {
        let dir = TempDir::new("stream");
        let sources = if piped { piped_sources(&inputs) } else { streamed_sources(&dir, &inputs) };
        for (source, (_, how)) in sources.iter().zip(&inputs) {
            // Compressed, even an empty input is a stream of a few bytes.
            let streamed = piped || !matches!(how, Stored::Plain);
            prop_assert_eq!(source.is_streamed(), streamed);
        }
        let plain: Vec<Vec<u8>> = inputs.iter().map(|(b, _)| b.clone()).collect();
        let (want, bad) = reference(&plain);
        let outcome = Runner::new()
            .threads(threads)
            .chunk_size(chunk)
            .stream_block(block)
            .max_samples(1000)
            .run(&SumLines, &sources)
            .unwrap();
        prop_assert_eq!(&outcome.output, &want);
        prop_assert_eq!(outcome.bytes, plain.iter().map(|b| b.len() as u64).sum::<u64>());
        prop_assert_eq!(outcome.malformed.count("bad-number"), bad.len() as u64);
        let got: Vec<(usize, u64, u64)> = outcome.malformed.samples().iter().map(|s| (s.input, s.offset, s.line)).collect();
        prop_assert_eq!(got, bad);
        for s in outcome.malformed.samples() {
            prop_assert_eq!(&s.source, sources[s.input].name());
        }
    }
}

#[test]
fn a_streamed_input_gives_the_same_result_for_every_thread_count_and_block() {
    let input: Vec<u8> = (0..30_000).flat_map(|i| format!("{}\n", i * 7 - 3000).into_bytes()).collect();
    let dir = TempDir::new("stream-det");
    let sources = streamed_sources(&dir, &[(input.clone(), Stored::Gzip), (input.clone(), Stored::Zstd)]);
    assert!(sources.iter().all(Source::is_streamed));
    assert!(sources.iter().all(|s| s.bytes().is_empty()));
    let base = Runner::new().threads(1).run(&SumLines, &sources[..1]).unwrap().output;
    let mapped = Runner::new().run(&SumLines, &[Source::from_bytes("m", input)]).unwrap().output;
    assert_eq!(base, mapped);
    for threads in [1, 2, 3] {
        for block in [7, 4096, 1 << 20] {
            let runner = || {
                let mut r = Runner::new();
                r.threads(threads).stream_block(block);
                r
            };
            assert_eq!(runner().run(&SumLines, &sources[..1]).unwrap().output, base, "{threads} {block}");
            let both = runner().run(&CountRecords::new(Lines), &sources).unwrap();
            assert_eq!(both.output, vec![30_000, 30_000]);
            assert!(both.chunks >= 2);
        }
    }
}

#[test]
fn strict_mode_stops_a_stream_at_its_first_malformed_record() {
    let mut input = String::new();
    for i in 0..5000 {
        input.push_str(&format!("{i}\n"));
    }
    input.push_str("oops\n");
    for i in 0..50_000 {
        input.push_str(&format!("{i}\n"));
    }
    input.push_str("second\n");
    let dir = TempDir::new("stream-strict");
    let sources = streamed_sources(&dir, &[(b"1\n2\n".to_vec(), Stored::Plain), (input.into_bytes(), Stored::Zstd)]);
    for threads in [1, 2] {
        let err = Runner::new().threads(threads).stream_block(1000).strict(true).run(&SumLines, &sources).unwrap_err();
        match err {
            Error::Strict(sample) => {
                assert_eq!((sample.input, sample.line), (1, 5001));
                assert_eq!(sample.text, "oops");
                assert_eq!(sample.source, sources[1].name());
            }
            other => panic!("unexpected {other}"),
        }
    }
}

#[test]
fn a_stream_record_past_the_limit_is_an_error_and_one_at_it_is_read() {
    let dir = TempDir::new("stream-long");
    let line = |n: usize| {
        let mut l = vec![b'7'; n];
        l.push(b'\n');
        l
    };
    let fits = [line(3), line(5000), line(2)].concat();
    let too_long = [line(3), line(5001), line(2)].concat();
    for how in [Stored::Gzip, Stored::Zstd] {
        for block in [1, 100, 4999] {
            let run = |input: &[u8]| {
                let sources = streamed_sources(&dir, &[(input.to_vec(), how)]);
                Runner::new().stream_block(block).stream_record_limit(5000).run(&CountRecords::new(Lines), &sources)
            };
            assert_eq!(run(&fits).unwrap().output, vec![3], "{block}");
            let err = run(&too_long).unwrap_err();
            assert!(matches!(err, Error::RecordTooLong { limit: 5000, .. }), "{block}: {err}");
            assert!(err_text(&err).contains("in0: a record longer than 5000 bytes"), "{}", err_text(&err));
        }
    }
    // A record that fits in a block is read whatever the limit.
    let sources = streamed_sources(&dir, &[(too_long.clone(), Stored::Gzip)]);
    let big_block =
        Runner::new().stream_block(1 << 20).stream_record_limit(5000).run(&CountRecords::new(Lines), &sources);
    assert_eq!(big_block.unwrap().output, vec![3]);
    // A pipe with no newline at all (`/dev/zero`) ends the same way.
    let endless = OpenOptions::new().reader("zeros", std::io::repeat(0)).unwrap();
    let err = Runner::new().stream_record_limit(1 << 20).run(&CountRecords::new(Lines), &[endless]).unwrap_err();
    assert!(matches!(err, Error::RecordTooLong { .. }), "{err}");
    assert!(err_text(&err).contains("zeros: a record longer than 1 MiB"), "{}", err_text(&err));
}

#[test]
fn a_corrupt_stream_is_an_error_naming_the_file() {
    let input: Vec<u8> = (0..50_000).flat_map(|i| format!("{i}\n").into_bytes()).collect();
    let dir = TempDir::new("stream-corrupt");
    let mut gz = compress(&input, Stored::Gzip);
    gz.truncate(gz.len() / 2);
    let path = dir.0.join("cut.log.gz");
    std::fs::write(&path, &gz).unwrap();
    let sources = vec![OpenOptions::new().stream(true).open(&path).unwrap()];
    let err = Runner::new().stream_block(4096).run(&SumLines, &sources).unwrap_err();
    let text = err_text(&err);
    assert!(text.contains("cannot decompress") && text.contains("cut.log.gz") && text.contains("gzip"), "{text}");
}

#[test]
fn streamed_inputs_refuse_chunk_selection_and_report_progress_in_compressed_bytes() {
    let input: Vec<u8> = (0..40_000).flat_map(|i| format!("{i}\n").into_bytes()).collect();
    let dir = TempDir::new("stream-progress");
    let sources = streamed_sources(&dir, &[(input.clone(), Stored::Gzip), (input, Stored::Plain)]);
    let err = Runner::new().run_partial_chunks(&SumLines, &sources, 0..1).unwrap_err();
    assert!(err_text(&err).contains("streamed"), "{}", err_text(&err));

    let total = sources[0].compressed_len().unwrap() + sources[1].len() as u64;
    let max = Arc::new(AtomicU64::new(0));
    let mut runner = Runner::new();
    let m = max.clone();
    runner.stream_block(10_000).chunk_size(10_000).on_progress(move |p| {
        assert_eq!(p.total, total);
        assert!(p.done <= p.total);
        m.fetch_max(p.done, Ordering::Relaxed);
    });
    runner.run(&SumLines, &sources).unwrap();
    assert_eq!(max.load(Ordering::Relaxed), total);
}

#[test]
fn a_pipe_is_read_once_and_its_head_is_not_lost() {
    let input: Vec<u8> = (0..20_000).flat_map(|i| format!("{i}\n").into_bytes()).collect();
    let want = Runner::new().run(&SumLines, &sources(std::slice::from_ref(&input))).unwrap().output;
    for how in [Stored::Plain, Stored::Gzip, Stored::Zstd] {
        let source = &piped_sources(&[(input.clone(), how)])[0];
        assert!(source.is_streamed() && source.bytes().is_empty());
        assert_eq!(source.compression().is_some(), !matches!(how, Stored::Plain));
        // Looking ahead (format detection, a header) keeps the bytes for the run.
        assert_eq!(&source.head(10).unwrap()[..], b"0\n1\n2\n3\n4\n");
        assert_eq!(source.head(4).unwrap().len(), 4);
        let out = Runner::new().stream_block(1000).run(&SumLines, std::slice::from_ref(source)).unwrap();
        assert_eq!(out.output, want, "{how:?}");
        assert_eq!(out.bytes, input.len() as u64);
        assert_eq!(source.received(), Some(compress(&input, how).len() as u64));
        let again = Runner::new().run(&SumLines, std::slice::from_ref(source)).unwrap_err();
        assert!(err_text(&again).contains("a second time"), "{}", err_text(&again));
    }
}

/// A job whose result is the size of the thread pool its finish ran on.
struct FinishPool;

impl Job for FinishPool {
    type Format = Lines;
    type Partial = ();
    type Output = usize;
    fn format(&self) -> &Lines {
        &Lines
    }
    fn empty(&self) {}
    fn map(&self, _: Chunk<'_>, _: &mut Malformed) {}
    fn merge(&self, _: (), _: ()) {}
    fn finish(&self, _: (), _: &[Source]) -> usize {
        rayon::current_num_threads()
    }
}

#[test]
fn finish_runs_on_the_runs_threads() {
    // Not the machine's core count, so a finish on the global pool shows.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) + 1;
    let mut runner = Runner::new();
    runner.threads(threads);
    let source = Source::from_bytes("two lines", b"a\nb\n".to_vec());
    assert_eq!(runner.run(&FinishPool, &[source]).unwrap().output, threads);
    assert_eq!(runner.finish(&FinishPool, (), &[]).unwrap(), threads);
}
