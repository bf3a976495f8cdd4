//! Every log format's parser on arbitrary lines, and the log job's
//! determinism across threads and chunk sizes.

use pagemill_engine::Runner;
use pagemill_logs::{Bucket, GroupField, LogFormat, LogJob, LogRecord, Top};
use pagemill_mmap::Source;

use crate::{Data, reference_lines};

/// A custom Apache format: most directives, request parts logged apart.
pub const APACHE: &str = r#"%a %l %u %t "%m %U%q %H" %>s %B "%{Referer}i" "%{User-Agent}i" %D %{Host}i %{ms}T"#;
/// A custom nginx format: ISO 8601 times, request parts apart, `$msec`.
pub const NGINX: &str = r#"$remote_addr - $remote_user [$time_iso8601] "$request_method $request_uri $server_protocol" $status $bytes_sent "$http_user_agent" $host $request_time $msec"#;

/// The formats under test: the four presets, then the custom ones.
pub fn formats() -> Vec<LogFormat> {
    vec![
        LogFormat::common(),
        LogFormat::combined(),
        LogFormat::timed(),
        LogFormat::json(),
        LogFormat::apache(APACHE).expect("the custom Apache format compiles"),
        LogFormat::nginx(NGINX).expect("the custom nginx format compiles"),
    ]
}

/// Every text field of a parsed record points into the line.
pub(crate) fn assert_subslices(rec: &LogRecord<'_>, line: &[u8]) {
    let whole = line.as_ptr_range();
    let fields = [
        ("ip", rec.ip),
        ("user", rec.user),
        ("method", rec.method),
        ("uri", rec.uri),
        ("path", rec.path),
        ("query", rec.query),
        ("protocol", rec.protocol),
        ("referrer", rec.referrer),
        ("user_agent", rec.user_agent),
        ("host", rec.host),
    ];
    for (name, field) in fields {
        if let Some(f) = field {
            let r = f.as_ptr_range();
            assert!(whole.start <= r.start && r.end <= whole.end, "{name} is not a subslice of the line");
        }
    }
}

fn report(job: &LogJob, input: &[u8], threads: usize, chunk: usize) -> impl PartialEq + std::fmt::Debug {
    let mut runner = Runner::new();
    runner.threads(threads).chunk_size(chunk);
    let outcome =
        runner.run(job, &[Source::from_bytes("fuzz.log", input.to_vec())]).expect("a lenient log run does not fail");
    let bad: Vec<(&str, u64)> = outcome.malformed.counts().collect();
    (outcome.output.batch, outcome.output.totals, bad)
}

/// Byte 0 picks the format for the job and its grouping; bytes 1 and 2 two
/// chunk sizes. Every line of the rest is parsed with every format (with
/// and without time parsing); then the job runs over the rest with one
/// thread and with two, with different chunk sizes.
pub fn log_formats(data: &[u8]) {
    let mut d = Data(data);
    let (sel, a, b) = (d.byte(), usize::from(d.byte()) + 1, usize::from(d.byte()) * 7 + 1);
    let input = d.rest();
    let formats = formats();
    let lines = reference_lines(input);
    for format in &formats {
        // A parser carries what it learned from the lines before (JSON key
        // positions): it must parse every line as a fresh parse does.
        let mut parser = format.parser();
        for line in &lines {
            for want_time in [true, false] {
                let fresh = format.parse_with(line, want_time);
                let mut rec = LogRecord::default();
                let learned = parser.parse_into(line, want_time, &mut rec).map(|()| rec);
                assert_eq!(learned, fresh, "a LineParser that has seen other lines parses this one alike");
                if let Ok(rec) = fresh {
                    assert_subslices(&rec, line);
                    assert!(want_time || rec.time.is_none(), "no time without want_time");
                }
            }
        }
    }

    let format = formats[usize::from(sel) % formats.len()].clone();
    let mut job = LogJob::new(format);
    let groups: &[GroupField] = match (sel / 8) % 3 {
        0 => &[],
        1 => &[GroupField::StatusClass, GroupField::Path],
        _ => &[GroupField::Time, GroupField::Ip],
    };
    job.group_by(groups).expect("at most the allowed group fields");
    job.bucket(Bucket::seconds(60)).top(Top { k: 2, field: GroupField::UserAgent });
    let one = report(&job, input, 1, a);
    assert_eq!(report(&job, input, 2, b), one, "2 threads and chunks of {b} against 1 thread and chunks of {a}");
}
