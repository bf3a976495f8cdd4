//! Command-line flags.
//!
//! The doc comments here are clap's help text, written for a terminal:
//! brackets in them (`[,PATH...][:UNIT]`) are syntax, not links.
#![allow(rustdoc::broken_intra_doc_links)]

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use pagemill_arrow::{IpcCompression, OutputFormat};
use pagemill_datasets::AccessLogFormat;
use pagemill_features::{Agg, BinaryField};
use pagemill_logs::{Bucket, Filter, GroupField, Mask, Metric, Top};
use pagemill_mmap::MmapChoice;
use pagemill_split::AnyFormat;

const EXAMPLES: &str = "\
Examples:
  pagemill demo                          generate a small dataset and run the jobs on it
  pagemill count access.log*             records per file, in parallel
  pagemill count --records csv data.csv  records of a CSV file (quoted newlines understood)
  cat big.log | pagemill count           count stdin
  pagemill count --threads 1 --mmap never -o counts.csv data.txt
  pagemill count -o out.parquet a.log    results as Parquet (or .arrow, .csv, .ndjson, ...)
  pagemill show out.parquet              print an Arrow or Parquet result as a table
  pagemill logs --group-by path access.log   per-path requests, bytes, latency percentiles, distinct clients
  pagemill gen measurements --rows 1000000 --seed 1 -o measurements.txt
  pagemill features data.csv --key dest --value arr_delay --distinct carrier -o out.parquet
  pagemill gen access-log --rows 1000000 --log-format timed -o access.log
  pagemill gen csv --rows 1000000 --seed 1 -o flights.csv";

const FEATURES_HELP: &str = "\
Reads stdin when FILE is `-` or absent. Output columns: the keys, `rows`, then
`<value>_<feature>` per value column (count, missing, sum, min, max, mean, var,
std, first, last, pNN.N), then `<col>_distinct`; one row per key, sorted by key.
A name the header holds more than once is picked by its 0-based index, and its
output columns are named `<name>_<index>` (v_1_sum, v_2_sum).
Malformed records (ragged-row, blank-line, bad-number, unclosed-quote, bad-quote,
invalid-utf8, short-record, out-of-range) are counted and sampled on stderr and
left out of the features; --strict makes the first one an error. A quote inside
an unquoted field (5\" disk) spoils its own line only: the lines that quoting
joined to it are read as records, as Python's csv and DuckDB read them. A value that is
a null marker (--null) or NaN counts as missing; inf is a bad-number. first and last
are the first and last non-missing values in input order; std and var are sample
statistics (n - 1).

Examples:
  pagemill features data.csv --key dest --value arr_delay --quantiles p50,p99 --distinct carrier -o out.parquet
  pagemill features data.tsv --key 0 --key 2 --value 5 --no-header
  pagemill features data.csv -k dest --value arr_delay --value dep_delay --agg count,mean,std,p99 -o stats.csv
  pagemill features events.bin --record-size 16 --field key:u32@0 --field value:f64@8 -k key --value value
  pagemill features --preset 1brc measurements.txt
  pagemill gen measurements --rows 1000000 | pagemill features --preset 1brc";

const LOGS_HELP: &str = "\
Formats (--log-format):
  auto      detect from the first lines of the first non-empty input (the default): json,
            timed, main, vhost_combined, combined or common
  common    %h %l %u %t \"%r\" %>s %b
  combined  common + \"%{Referer}i\" \"%{User-Agent}i\"  (Apache and nginx default)
  timed     combined + nginx $request_time (seconds)
  main      combined + nginx \"$http_x_forwarded_for\" (nginx's default main format); a line
            without it is read as combined, one with a broken list is malformed
  vhost_combined
            %v:%p + combined, with %O for bytes (Apache's vhost_combined, Debian's
            other_vhosts_access.log); --group-by host reads the virtual host
  json      JSON lines; keys per --json-field, defaults read nginx, Caddy and Traefik logs
  or a custom Apache LogFormat ('%h %l %u %t \"%r\" %>s %b %D') or nginx log_format
  ('$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent $request_time').
  Times: %t, %{sec|msec|usec}t, %{...}t with %t's or an ISO 8601 layout (a date alone
  is its midnight; %{%F}t %{%T}t %{%z}t, in fields of their own, make one time),
  $time_local, $time_iso8601, $msec. Of two fields of one meaning, %>s beats %s, body bytes
  (%b, $body_bytes_sent) beat bytes with headers (%O, $bytes_sent) and the finer request
  time beats the coarser (%D over %{ms}T over %T). nginx's $upstream_*
  lists and $uri$is_args$args are understood.

Columns: the --group-by fields (status, status_class, method, path, uri, ip, referrer,
user_agent, host, time), then the metrics (requests, bytes, bytes_mean, error_4xx_share,
error_5xx_share, latency_p50, latency_p90, latency_p99, latency_p999, latency_max [seconds],
distinct_ips, first_seen, last_seen), then top_<field> for each --top, as a JSON array of
[value, count]. path is the request target without its query string (a proxy's absolute
target http://example.com/a?b gives /a, and example.com as host where the format logs no
host). Rows are sorted by the group columns. Percentiles come from an HdrHistogram
(3 significant digits); distinct_ips is exact up to --distinct-exact-limit clients per
group, a HyperLogLog estimate (about 1.6% error) above.

Timestamps are parsed only when a query uses time (--group-by time, --top N:time,
first_seen, last_seen, --since, --until): otherwise a line with an impossible date
still counts.
Malformed lines are counted by kind with samples on stderr (--strict: first one is an
error); --rejects FILE writes them out.

Examples:
  pagemill logs access.log
  pagemill logs --group-by path --metrics requests,bytes,distinct_ips,latency_p99 access.log*
  pagemill logs --group-by time,status_class --bucket 5m -o summary.parquet access.log
  pagemill logs --group-by path --where 'status>=500' --where path^=/api/ --top 3:ip access.log
  pagemill logs --log-format json --json-field latency=elapsed_ms:ms --group-by host app.jsonl
  pagemill logs --since 2024-05-01T10:00:00Z --until 2024-05-01T11:00:00Z --rejects bad.txt access.log";

#[cfg(feature = "sql")]
const SQL_HELP: &str = "\
Tables (--table NAME=PATH[:KIND], repeat a NAME to read several files as one table):
  logs                      access logs, format from --log-format (default: detected)
  common, combined, timed, main, vhost_combined, json
                            access logs of that format
  csv, tsv                  delimited text with a header (--no-header, --delimiter)
  1brc                      `station;temperature` lines
  binary                    fixed-width records (--record-size, --field)
Without a KIND, .csv and .tsv files (also .csv.gz, .tsv.zst) are delimited, other files logs.
Logs tables have the columns ip, user, time (UTC), method, uri, path, query, protocol,
status, bytes, referrer, user_agent, host, latency (seconds); delimited tables their
header's names (types inferred: BIGINT, DOUBLE or text); 1brc tables station and
measurement; binary tables one column per --field.
Aggregate functions besides DataFusion's own: hdr_quantile(value, q [, sigfig [, scale]])
(HdrHistogram; defaults 3 digits, scale 1000000) and hll_distinct(value) (exact up to 1024
values, then HyperLogLog, about 1.6% error). Malformed records are counted by kind with
samples on stderr (--strict: the first one is an error). All files of a csv/tsv table
must have the same header (columns are read by position).
Unlike the jobs, SQL results are not bit-for-bit reproducible: DataFusion merges partial
aggregates in the order they finish, so float sums, averages and deviations can differ in
their last digits from run to run. --max-groups does not apply to SQL. COPY and INSERT are
refused: write results with -o FILE (whole or not at all, never onto an input).
Examples:
  pagemill sql \"SELECT path, count(*) AS requests, hdr_quantile(latency, 0.99) AS p99
    FROM logs GROUP BY path ORDER BY requests DESC LIMIT 10\" --table logs=access.log
  pagemill sql \"SELECT dest, avg(arr_delay) FROM f GROUP BY dest\" -t f=flights.csv -o out.parquet
  pagemill sql \"CREATE VIEW e AS SELECT * FROM logs WHERE status >= 500;
    SELECT host, count(*) FROM e GROUP BY host\" -t logs=access.log
  pagemill sql \"SELECT station, min(measurement), max(measurement) FROM m GROUP BY station\"
    -t m=measurements.txt:1brc";

/// Memory-mapped, parallel map-reduce analytics over large files.
#[derive(Debug, Parser)]
#[command(name = "pagemill", version, about, after_help = EXAMPLES, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand takes, before or after its name.
#[derive(Debug, Args)]
pub struct Global {
    /// Worker threads (0: one per core; at most 1024).
    #[arg(long, global = true, default_value_t = 0, value_name = "N", value_parser = parse_threads)]
    pub threads: usize,

    /// Memory-map inputs: auto (regular files of 64 KiB or more), always, or never (read into memory).
    ///
    /// A mapped file that another process truncates while pagemill runs raises
    /// SIGBUS when a vanished page is touched: pagemill then stops with one error
    /// line naming the file (exit status 1, no output). One rewritten in place may
    /// yield wrong results; pagemill checks each input's size and modification
    /// time after a run and reports a change as an error. Only `--mmap never`,
    /// which reads inputs into memory, is immune to both (`redact --in-place`
    /// edits through a writable map and refuses it).
    #[arg(long, global = true, default_value = "auto", value_name = "WHEN", value_parser = choices(parse_mmap, WHEN), hide_possible_values = true)]
    pub mmap: MmapChoice,

    /// Stop with an error when a job holds more than N groups (keys), before its
    /// per-key state exhausts memory; 0: no limit. In `logs`, each value a --top
    /// table holds for a group counts as one too.
    #[arg(long, global = true, default_value_t = pagemill_engine::DEFAULT_MAX_GROUPS, value_name = "N")]
    pub max_groups: usize,

    /// Give back the pages of processed chunks of mapped inputs: auto (today:
    /// every mapped input), always, never.
    ///
    /// Released pages (madvise DONTNEED) leave this process's resident set; the
    /// kernel may keep them in its page cache. With release, mapped pages stay
    /// at a few chunks per thread however large the input (peak RSS of about
    /// 80 MB for the 1BRC preset on a 10 GB file with 2 threads, plus a job's
    /// own state), and each thread unmaps its own chunks as it
    /// goes rather than one thread unmapping the whole input at the end;
    /// without it a mapped input's pages stay resident until the run ends.
    /// Results never depend on it.
    #[arg(long, global = true, default_value = "auto", value_name = "WHEN")]
    pub release_pages: When,

    /// Read gzip and zstd inputs as they are, compressed bytes and all.
    ///
    /// By default an input that starts with a gzip or zstd magic number (whatever
    /// its name) is decompressed as part of the run: `count`, `features` and
    /// `logs` stream it, decoding blocks of 8 MiB while earlier blocks are
    /// aggregated (nothing is written to disk; several compressed files decode
    /// in parallel). Where the bytes are needed at random (`sql`,
    /// `--workers processes`, `logs --rejects`) it is instead decompressed once
    /// into an unlinked temporary file in $TMPDIR, which is then mapped.
    /// Stdin and other pipes, compressed or not, are streamed by the same
    /// jobs (and read into memory by the others). Byte offsets and line
    /// numbers in reports refer to the decompressed data. Plain and compressed
    /// inputs mix freely in one run.
    #[arg(long, global = true)]
    pub no_decompress: bool,

    /// Target chunk size, e.g. 4M, 512K (default: about 1/128 of the input, 64K to 32M;
    /// `logs`: 1/8 of the input per thread, up to 4M, since its workers fold their chunks into one
    /// table each and small chunks let them finish together; `features` but
    /// --preset 1brc: 1/16 of the input, up to 32M, since each chunk's key table is merged with the
    /// others; neither depends on the thread count, so float results do not either).
    #[arg(long, global = true, value_name = "SIZE", value_parser = parse_size)]
    pub chunk_size: Option<usize>,

    /// Draw a progress bar on stderr, then name the steps after the input
    /// is read (finishing, writing -o FILE): auto (when stderr is a
    /// terminal), always, never.
    #[arg(long, global = true, default_value = "auto", value_name = "WHEN")]
    pub progress: When,

    /// Make the first malformed record an error instead of a counted sample.
    #[arg(long, global = true)]
    pub strict: bool,

    /// Log debug messages (mapping decisions, fallbacks) to stderr.
    #[arg(short, long, global = true)]
    pub verbose: bool,

    /// Run the map phase on threads (the default) or in worker processes
    /// (count, features, logs).
    ///
    /// With `processes`, --threads N is the number of worker processes, each
    /// started from this binary with the same arguments. They map the inputs
    /// read-only (the page cache is shared, nothing is copied) and hand their
    /// partial results back as Arrow IPC in shared memory. A worker that dies
    /// (SIGBUS from a truncated input, out of memory, a crash) has its chunks
    /// retried once in a new worker that reads instead of mapping; if that
    /// fails too the run fails, naming the worker and its byte ranges. A
    /// worker that stops on the job's own error (more groups than
    /// --max-groups, a malformed record under --strict) is not retried: the
    /// run fails with that error, as on threads. Results are identical to
    /// those of threads. Inputs must be files (not stdin).
    #[arg(long, global = true, default_value = "threads", value_name = "KIND")]
    pub workers: Workers,

    /// Set in a worker process (from its environment): its share of the run.
    #[arg(skip)]
    pub worker: Option<crate::workers::WorkerSpec>,
}

/// Where the map phase runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Workers {
    /// Threads of this process.
    Threads,
    /// Worker processes.
    Processes,
}

/// auto / always / never.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum When {
    /// As the flag says (--progress: when stderr is a terminal; --release-pages: every mapped input).
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Count the records of each input: a parallel `wc -l` that understands record formats.
    #[command(
        after_help = "Reads stdin when FILE is `-` or absent.\n\nExamples:\n  pagemill count access.log\n  pagemill count --records fixed:16 events.bin\n  pagemill count -o counts.ndjson a.csv b.csv"
    )]
    Count(CountArgs),
    /// Per-key feature tables from CSV/TSV or fixed-width binary records, and the 1BRC preset.
    #[command(after_help = FEATURES_HELP)]
    Features(FeaturesArgs),
    /// Print an Arrow IPC or Parquet result file as a table (or convert it with -o).
    #[command(
        after_help = "The file type is recognised by its first bytes: Arrow IPC file (.arrow, .feather), Arrow IPC stream (.arrows) or Parquet.\n\nExamples:\n  pagemill show counts.parquet\n  pagemill show --limit 20 big.arrow\n  pagemill show --schema counts.arrow\n  pagemill show counts.arrow -o counts.csv"
    )]
    Show(ShowArgs),
    /// Aggregate web-server access logs: group by any fields, with latency percentiles and distinct clients.
    #[command(after_help = LOGS_HELP)]
    Logs(LogsArgs),
    /// Anonymise access logs: client addresses, query strings, user fields, byte for byte.
    #[command(after_help = REDACT_HELP)]
    Redact(RedactArgs),
    /// Merge partial results (`--partial` outputs of count, features and logs) into one result.
    #[command(after_help = MERGE_HELP)]
    Merge(MergeArgs),
    /// Run SQL over log, CSV, 1BRC and binary files with DataFusion (built with the `sql` feature).
    #[cfg(feature = "sql")]
    #[command(after_help = SQL_HELP)]
    Sql(SqlArgs),
    /// Generate test and benchmark data.
    #[command(subcommand)]
    Gen(GenCommand),
    /// Generate a small dataset and run each job on it, printing the results.
    Demo(DemoArgs),
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct CountArgs {
    /// Record format: lines, csv (RFC 4180, quoted newlines) or fixed:N (N-byte binary records).
    #[arg(long, default_value = "lines", value_name = "FORMAT")]
    pub records: AnyFormat,

    /// Input files; `-` or none reads stdin.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Write the job's mergeable partial state (Arrow IPC or Parquet) instead
    /// of its results; `pagemill merge` combines partials of several runs.
    #[arg(long)]
    pub partial: bool,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct FeaturesArgs {
    /// Preset: `1brc` reads `station;temperature` lines and prints the official
    /// `{station=min/mean/max, ...}` line, sorted by name, means rounded half up.
    /// Without a preset, the general path runs (--key is then required); the
    /// preset takes none of the general path's column, dialect or feature flags.
    #[arg(long, value_enum, conflicts_with_all = [
        "key", "value", "distinct", "agg", "quantiles", "delimiter", "quote", "no_quote", "header", "no_header",
        "null", "record_size", "field", "sigfig", "quantile_scale", "distinct_lg_k", "distinct_exact",
    ])]
    pub preset: Option<Preset>,

    /// Input files; `-` or none reads stdin.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Group by this column: a header name, or a 0-based index (repeat for a composite key).
    #[arg(short, long, value_name = "COL", required_unless_present = "preset")]
    pub key: Vec<String>,

    /// Compute features of this numeric column (repeatable).
    #[arg(long, value_name = "COL")]
    pub value: Vec<String>,

    /// Count the distinct values of this column, as `<COL>_distinct` (repeatable).
    #[arg(short, long, value_name = "COL")]
    pub distinct: Vec<String>,

    /// Only these features per value column, comma-separated: count, missing, sum, min,
    /// max, mean, var, std, first, last, quantiles (the --quantiles list) or pNN.N
    /// (default: all of them).
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_agg)]
    pub agg: Vec<AggName>,

    /// Quantiles to compute, comma-separated pNN.N (default: p50,p90,p99).
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_quantile)]
    pub quantiles: Vec<f64>,

    /// Field delimiter of delimited text: one byte, or `tab` / `\t` (default: tab when
    /// every input is named *.tsv or *.tab, else `,`).
    #[arg(long, value_name = "CHAR", value_parser = parse_byte)]
    pub delimiter: Option<u8>,

    /// Quote character of delimited text.
    #[arg(long, default_value = "\"", value_name = "CHAR", value_parser = parse_byte)]
    pub quote: u8,

    /// Treat quotes as ordinary bytes: records are plain lines.
    #[arg(long)]
    pub no_quote: bool,

    /// The first record of each input is a header (the default); every input's must match.
    #[arg(long, overrides_with = "no_header")]
    pub header: bool,

    /// No header: columns are 0-based indices, named `column_<i>` in the output.
    #[arg(long, overrides_with = "header")]
    pub no_header: bool,

    /// A field reading exactly this is missing (repeatable; replaces the default
    /// markers: the empty field, NA, NULL, null).
    #[arg(long, value_name = "TEXT")]
    pub null: Vec<String>,

    /// Read fixed-width binary records of N bytes (declare their fields with --field;
    /// the delimited-text flags do not apply).
    #[arg(long, value_name = "N", requires = "field", conflicts_with_all = [
        "delimiter", "quote", "no_quote", "header", "no_header", "null",
    ])]
    pub record_size: Option<usize>,

    /// A binary field `name:type@offset`; types i8..i64, u8..u64, f32, f64 (little-endian)
    /// and bytesN (N-byte strings, e.g. `code:bytes8@16`).
    #[arg(long, value_name = "SPEC", requires = "record_size")]
    pub field: Vec<BinaryField>,

    /// Significant digits of the quantile histograms (1 to 5).
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub sigfig: u8,

    /// Quantile resolution: values are recorded as round(value * SCALE).
    #[arg(long, default_value_t = 100, value_name = "SCALE")]
    pub quantile_scale: u64,

    /// HyperLogLog size of distinct counts past the exact limit: 2^N registers,
    /// relative standard error about 1.04/sqrt(2^N) (12: 1.6 %).
    #[arg(long, default_value_t = 12, value_name = "N")]
    pub distinct_lg_k: u8,

    /// Count distinct values exactly up to this many per key (at least 2^lg_k / 4)
    /// [default: 1024, or 2^lg_k / 4 where that is more]
    #[arg(long, value_name = "N")]
    pub distinct_exact: Option<usize>,

    /// Write the job's mergeable partial state (Arrow IPC or Parquet) instead
    /// of its results; `pagemill merge` combines partials of several runs.
    #[arg(long)]
    pub partial: bool,

    /// The preset's official one-line text goes to stdout or to `-o FILE`; an
    /// `--output-format`, or `-o` with a data extension (.csv, .parquet, .arrow,
    /// ...), writes the table of stations instead. The general path writes its
    /// table in any format.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// One `--agg` entry: a feature, or `quantiles` (None).
pub type AggName = Option<Agg>;

/// Feature presets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// The One Billion Row Challenge: min/mean/max temperature per station.
    #[value(name = "1brc")]
    Brc,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The result file (Arrow IPC file or stream, Parquet); `-` reads stdin.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Show at most N rows (default: all).
    #[arg(short = 'n', long, value_name = "N")]
    pub limit: Option<usize>,

    /// Print the schema and its metadata (pagemill version, job, inputs) instead of rows.
    #[arg(long)]
    pub schema: bool,

    #[command(flatten)]
    pub output: OutputArgs,
}

const REDACT_HELP: &str = "\
Masks (--mask, comma-separated):
  ip       IPv4: keep the /24, the last octet's digits become x (203.0.113.45 -> 203.0.113.xx);
           IPv6: keep the /48 (the first three groups, `::` counted as the zeros it stands for),
           every later hex digit becomes x (2001:db8::1 -> 2001:db8::x); every address field
           of a text format (%h, %a, $remote_addr, ...) and each address of an X-Forwarded-For
           list (%{X-Forwarded-For}i, $http_x_forwarded_for, $proxy_add_x_forwarded_for) or
           X-Real-IP field, however many the format has, and any address in a field the
           format names but does not read or after its last field (a list appended to a
           preset). In JSON lines: the client address keys (remote_addr, client_ip, ...)
           and every forwarded key present (nginx's http_x_forwarded_for, http_x_real_ip,
           http_cf_connecting_ip, realip_remote_addr, proxy_protocol_addr, ...; Traefik's
           ClientAddr and request_X-Forwarded-For, ...; Caddy's
           request.headers.X-Forwarded-For, ...), and every other string value, under any
           key and at any depth (clientIP, upstream_addr, client.ip, ...), that is an
           address or a list of addresses as a whole, or an RFC 7239 Forwarded value
           (for=192.0.2.60;proto=http: its for and by addresses) (a server's own address
           too; an address inside free text, such as a message, is not masked). A zone
           (fe80::1%eth0) is kept; with $remote_addr:$remote_port, a port of 1-4
           characters after an IPv6 address without brackets could be its last group and
           is masked with it
  ip-hash  the same digits become letters (g-p in IPv4, g-v in IPv6), a keyed permutation of
           each digit drawn from the text before it: one address, one pseudonym in every
           file redacted with the key (--key-file, or PAGEMILL_REDACT_KEY; at least 16 bytes,
           a trailing newline of the key file is dropped; no default key). A pseudonym, not
           encryption: it keeps octet and group lengths and shared prefixes, so many
           addresses of one /24 narrow some digits down (see the README); use ip where that
           matters
  query    every query string: the request target's, one logged apart (%q, $args; JSON
           args, query_string, request_query, url.query) and the referrer's; every byte but &
           and = becomes x
  user     the user field (%u, $remote_user; in JSON each of remote_user, user, user_id
           present) and the ident (%l, identd's remote logname), unless it is -

In JSON lines, the keys --json-field names for a masked target (ip=, forwarded=, user=,
query=, uri=, request=, referrer=) are masked beside that target's default keys, never
instead of them.

Guarantees: the file keeps its length and every byte outside the masked fields; lines that
do not parse are reported (kind, byte offset, sample; --strict refuses to write anything
when there are any, empty lines included, as logs --strict fails on them), and only the
address-shaped words in them (split at spaces, tabs, quotes, ,;=()|<> and escapes) are masked
with ip or ip-hash; a file of which no line parses (a wrong --log-format; a file of only empty
lines is not one) fails the run after the other files are done, and -o FILE then writes
nothing (a FIFO or device gets the lines as they came). Redaction is idempotent, so an in-place run that is
killed at any point can simply be run again: the result is the file one uninterrupted run
gives. In place, the file is locked (flock) for the run, each chunk is written back (msync)
as soon as it is done, and the file is fsynced at the end. With --strict every file stays
locked and mapped from its check to its write, and one whose size or modification time
moved in between (a writer that ignores locks) fails the run before it is written. Host names in the address field
are left alone and counted.

Examples:
  pagemill redact --in-place --mask ip,query,user access.log
  PAGEMILL_REDACT_KEY=... pagemill redact --mask ip-hash -o shared.log access.log
  pagemill redact --dry-run --mask ip,user --log-format json app.jsonl";

/// One `--mask` name.
fn parse_mask(s: &str) -> Result<Mask, String> {
    s.parse().map_err(|e: pagemill_logs::Error| e.to_string())
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["in_place", "output", "dry_run"])))]
pub struct RedactArgs {
    /// Log files (regular files; not stdin, not compressed).
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,

    /// What to mask, comma-separated: ip, ip-hash, query, user.
    #[arg(long, required = true, value_name = "LIST", value_delimiter = ',', value_parser = choices(parse_mask, MASK_NAMES), hide_possible_values = true)]
    pub mask: Vec<Mask>,

    /// Log format: auto (detect), common, combined, timed, main, vhost_combined, json, or a custom Apache or nginx format.
    #[arg(long, default_value = "auto", value_name = "FORMAT", value_parser = choices(free_text, LOG_FORMATS), hide_possible_values = true)]
    pub log_format: String,

    /// JSON field mapping TARGET=PATH[,PATH...] (targets as for `pagemill logs`, plus `user`, and
    /// `query` for a query string logged apart: `args` and `query_string` unless set).
    #[arg(long, value_name = "TARGET=PATH")]
    pub json_field: Vec<String>,

    /// Rewrite each FILE in place.
    #[arg(long)]
    pub in_place: bool,

    /// Write a redacted copy of the one FILE to OUT (atomically); FILE is not touched.
    #[arg(short, long, value_name = "OUT", value_parser = parse_output_path)]
    pub output: Option<PathBuf>,

    /// Change nothing: report what would change.
    #[arg(long)]
    pub dry_run: bool,

    /// The secret key of ip-hash (default: the PAGEMILL_REDACT_KEY environment variable).
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
}

const MERGE_HELP: &str = "\
Each run with --partial writes its state per group (counts, exact decimal sums,
HdrHistogram and HyperLogLog sketches) instead of finished results. Merging the
partials of runs over different inputs gives what one run over all the inputs,
in the order the partials are named, would give: exactly for counts, sums, min,
max, mean, variance, first/last and quantiles; within the HyperLogLog's error for
distinct counts above the exact limit. Partials must come from the same job with
the same aggregation (keys, values, aggregates, sketch settings; for logs the
format, groups, metrics and filters); reading options such as --null, and logs'
--since/--until, may differ. The output is the job's: merged 1BRC partials print the
challenge's one line unless an output format is asked for.

Examples:
  pagemill logs --group-by path --partial -o mon.arrow access-mon.log
  pagemill logs --group-by path --partial -o tue.arrow access-tue.log
  pagemill merge mon.arrow tue.arrow -o week.parquet
  pagemill merge --partial mon.arrow tue.arrow -o mon-tue.arrow";

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Partial result files (Arrow IPC or Parquet), in input order; `-` reads one from stdin.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,

    /// Write the merged partial state instead of finished results, to merge again later.
    #[arg(long)]
    pub partial: bool,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Log format: auto, common, combined, timed, main, vhost_combined, json, or a custom Apache or nginx format string.
    #[arg(long, default_value = "auto", value_name = "FORMAT", value_parser = choices(free_text, LOG_FORMATS), hide_possible_values = true)]
    pub log_format: String,

    /// Group by these fields (comma-separated or repeated, at most 8): status, status_class,
    /// method, path, uri, ip, referrer, user_agent, host, time. None: one row of totals.
    #[arg(long, short = 'g', value_name = "FIELDS", value_delimiter = ',', value_parser = choices(parse_group_field, GROUP_FIELDS), hide_possible_values = true)]
    pub group_by: Vec<GroupField>,

    /// Width of `time` groups: 1m, 5m, 1h, 1d, or N with unit s, m, h, d.
    #[arg(long, default_value = "1h", value_name = "WIDTH", value_parser = parse_bucket)]
    pub bucket: Bucket,

    /// Metrics to compute (comma-separated; default: all). Fewer is faster.
    #[arg(long, short = 'm', value_name = "METRICS", value_delimiter = ',', value_parser = choices(parse_metric, METRICS), hide_possible_values = true)]
    pub metrics: Vec<Metric>,

    /// Add a top_FIELD column: the K most frequent values of FIELD per group, e.g. 5:path (repeatable).
    #[arg(long, value_name = "K:FIELD", value_parser = parse_top)]
    pub top: Vec<Top>,

    /// Keep records matching a condition (repeatable; all must hold): status=404,500, status=5xx,
    /// status>=400, status_class>=4, method!=GET, path^=/api/, uri~REGEX, host=example.com, ...
    /// In a `=`/`!=` list, `\,` is a comma inside a value: --where 'path=/a\,b,/c' keeps /a,b and /c
    /// (quoted for the shell); ^= and ~ take their text as written.
    #[arg(long = "where", short = 'w', value_name = "COND", value_parser = parse_filter)]
    pub filters: Vec<Filter>,

    /// Keep records at or after this time (ISO 8601, a date, or epoch seconds; UTC unless an offset is given).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub since: Option<i64>,

    /// Keep records before this time.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub until: Option<i64>,

    /// JSON lines: read a field from other keys, TARGET=PATH[,PATH...][:UNIT], e.g.
    /// ip=client.address, latency=elapsed_ms:ms (a unit, s, ms, us or ns, for latency only). Repeatable.
    #[arg(long, value_name = "TARGET=PATH")]
    pub json_field: Vec<String>,

    /// Write rejected (malformed) lines to FILE, atomically.
    #[arg(long, value_name = "FILE", value_parser = parse_output_path)]
    pub rejects: Option<PathBuf>,

    /// Count distinct clients exactly up to N per group; estimate with HyperLogLog above.
    #[arg(long, default_value_t = 2048, value_name = "N")]
    pub distinct_exact_limit: usize,

    /// Input files; `-` or none reads stdin.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Write the job's mergeable partial state (Arrow IPC or Parquet) instead
    /// of its results; `pagemill merge` combines partials of several runs.
    #[arg(long)]
    pub partial: bool,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Where and how results are written.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Write results to FILE (atomically: whole or not at all) instead of stdout.
    #[arg(short, long, value_name = "FILE", value_parser = parse_output_path)]
    pub output: Option<PathBuf>,

    /// Output format: table, csv, tsv, ndjson, arrow, arrow-stream or parquet
    /// (default: from the extension of -o; `-o -` writes arrow-stream; else table).
    #[arg(long, value_name = "FORMAT", value_parser = choices(parse_output_format, OUTPUT_FORMATS), hide_possible_values = true)]
    pub output_format: Option<OutputFormat>,

    /// Compress Arrow IPC output: none (the default, memory-mappable by readers), lz4 or zstd.
    #[arg(long, value_name = "CODEC", default_value = "none", value_parser = choices(parse_ipc_compression, IPC_CODECS), hide_possible_values = true)]
    pub ipc_compression: IpcCompression,
}

#[cfg(feature = "sql")]
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The query: DataFusion SQL; several statements separated by `;` run in order
    /// and the last one's result is written.
    pub query: String,

    /// A table: NAME=PATH[:KIND] (see below); repeat a NAME for several files.
    #[arg(short, long, value_name = "NAME=PATH[:KIND]", required = true, value_parser = crate::sql::parse_table)]
    pub table: Vec<crate::sql::TableSpec>,

    /// Format of `logs` tables: auto (detected), common, combined, timed, main, vhost_combined, json, or a
    /// custom Apache or nginx format string.
    #[arg(long, value_name = "FORMAT", value_parser = choices(free_text, LOG_FORMATS), hide_possible_values = true)]
    pub log_format: Option<String>,

    /// JSON lines: read a field from other keys, e.g. `latency=elapsed_ms:ms` (repeatable; a unit, s,
    /// ms, us or ns, for latency only).
    #[arg(long, value_name = "TARGET=KEY[,KEY...][:UNIT]")]
    pub json_field: Vec<String>,

    /// Delimiter of csv and tsv tables (one byte; `tab` for a tab).
    #[arg(long, value_name = "CHAR", value_parser = parse_byte)]
    pub delimiter: Option<u8>,

    /// Delimited tables have no header: columns are column_0, column_1, ...
    #[arg(long)]
    pub no_header: bool,

    /// Record size of binary tables, in bytes.
    #[arg(long, value_name = "BYTES")]
    pub record_size: Option<usize>,

    /// A field of binary tables: name:type@offset (types i8..i64, u8..u64, f32, f64, bytesN).
    #[arg(long, value_name = "NAME:TYPE@OFFSET")]
    pub field: Vec<BinaryField>,

    /// Run the query on a Ballista cluster (pagemill-scheduler and
    /// pagemill-executor) whose scheduler is at URL, e.g. df://localhost:50050.
    /// Every process must see the files at the same paths; malformed records
    /// are then counted in the executors' logs (built with the `ballista` feature).
    #[cfg(feature = "ballista")]
    #[arg(long, value_name = "URL")]
    pub scheduler: Option<String>,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Subcommand)]
pub enum GenCommand {
    /// 1BRC lines `station;temperature`.
    Measurements(GenMeasurements),
    /// Web-server access logs: Zipf paths and clients (IPv4 and IPv6), realistic statuses, log-normal latencies.
    AccessLog(GenAccessLog),
    /// A flights-like CSV (date,carrier,flight,origin,dest,dep_delay,arr_delay,distance,note)
    /// with repeated keys, missing delays and quoted notes (some over two lines), for `pagemill features`.
    Csv(GenRows),
    /// Fixed-width binary records, 16 bytes: sensor u32 @0, status u16 @4, value f64 @8
    /// (read with --record-size 16 --field sensor:u32@0 --field status:u16@4 --field value:f64@8).
    Records(GenRows),
}

/// The flags of generators that take only a size, a seed and an output.
#[derive(Debug, Args)]
pub struct GenRows {
    /// Number of rows or records to write (for CSV, data rows: the header line comes on top).
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output file (default: stdout).
    #[arg(short, long, value_name = "FILE", value_parser = parse_output_path)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GenAccessLog {
    /// Number of lines.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// Line format: combined, timed (combined + $request_time), json (nginx-style JSON lines) or
    /// vhost_combined (Apache's, the virtual host and port first).
    #[arg(long, default_value = "combined", value_name = "FORMAT", value_parser = access_log_formats())]
    pub log_format: AccessLogFormat,
    /// Draw the id that ends a path (/api/v1/orders/253836) per request, as a REST API's log
    /// holds them: about 690,000 distinct paths in a million lines, against 5,000.
    #[arg(long)]
    pub path_ids: bool,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output file (default: stdout).
    #[arg(short, long, value_name = "FILE", value_parser = parse_output_path)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GenMeasurements {
    /// Number of rows.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// Station set: 413 (the official list) or 10k (synthetic names of 1 to 100 UTF-8 bytes).
    #[arg(long, default_value = "413", value_parser = ["413", "10k"])]
    pub stations: String,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output file (default: stdout).
    #[arg(short, long, value_name = "FILE", value_parser = parse_output_path)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Rows of demo data.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
}

fn parse_agg(s: &str) -> Result<AggName, pagemill_features::Error> {
    if s.trim() == "quantiles" { Ok(None) } else { s.trim().parse().map(Some) }
}

fn parse_quantile(s: &str) -> Result<f64, String> {
    match s.trim().parse::<Agg>() {
        Ok(Agg::Quantile(p)) => Ok(p),
        _ => Err(format!("invalid quantile '{s}' (expected pNN.N with NN.N from 0 to 100, e.g. p99.9)")),
    }
}

/// The most worker threads: more only costs (each idle thread of a pool
/// is started, spins and is woken), and a typo like 100000 would run for
/// minutes before doing anything.
const MAX_THREADS: usize = 1024;

/// An output file (results, a redacted copy, rejected lines, generated
/// data): any name but one that says it is compressed, which pagemill's
/// outputs (written as they are) would not be.
fn parse_output_path(s: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(s);
    let ext = path.extension().and_then(|e| e.to_str());
    // Not `.br` (Brotli) nor `.z`: domain names (`example.com.br`) and
    // other files end so.
    let compressed = ["gz", "tgz", "zst", "zstd", "bz2", "tbz2", "xz", "txz", "lz4", "lz", "lzma", "lzo", "zip", "7z"];
    if let Some(ext) = ext.filter(|e| compressed.iter().any(|c| e.eq_ignore_ascii_case(c))) {
        return Err(format!(
            "pagemill does not compress what it writes, so a .{ext} name would not hold what it says: write to \
             stdout and pipe it to a compressor (for results, -o FILE.parquet or --ipc-compression are compact)"
        ));
    }
    Ok(path)
}

fn parse_threads(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n <= MAX_THREADS => Ok(n),
        Ok(_) => Err(format!("at most {MAX_THREADS} threads")),
        Err(_) => Err(format!("'{s}' is not a number of threads")),
    }
}

/// One byte: a character such as `,` or `|`, or `tab` / `\t`.
fn parse_byte(s: &str) -> Result<u8, String> {
    match s {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        _ if s.len() == 1 => Ok(s.as_bytes()[0]),
        _ => Err(format!("'{s}' is not a single-byte character")),
    }
}

/// The values `--mmap` takes.
const WHEN: &[&str] = &["auto", "always", "never"];
/// `redact --mask` values ([`Mask`] names).
const MASK_NAMES: &[&str] = &["ip", "ip-hash", "query", "user"];
/// `logs --group-by` fields ([`GroupField::ALL`]).
const GROUP_FIELDS: &[&str] =
    &["status", "status_class", "method", "path", "uri", "ip", "referrer", "user_agent", "host", "time"];
/// `logs --metrics` ([`Metric::ALL`]).
const METRICS: &[&str] = &[
    "requests",
    "bytes",
    "bytes_mean",
    "error_4xx_share",
    "error_5xx_share",
    "latency_p50",
    "latency_p90",
    "latency_p99",
    "latency_p999",
    "latency_max",
    "distinct_ips",
    "first_seen",
    "last_seen",
];
/// `--output-format` names (aliases parse too).
const OUTPUT_FORMATS: &[&str] = &["table", "csv", "tsv", "ndjson", "arrow", "arrow-stream", "parquet"];
/// `--ipc-compression` codecs.
const IPC_CODECS: &[&str] = &["none", "lz4", "zstd"];
/// `--log-format` presets (a custom format string is taken too).
const LOG_FORMATS: &[&str] = &["auto", "common", "combined", "timed", "main", "vhost_combined", "json"];

/// Any text, as given.
fn free_text(s: &str) -> Result<String, std::convert::Infallible> {
    Ok(s.to_string())
}

/// A value parser that names the values a flag usually takes, for shell
/// completion and help, and still parses (and reports errors) as `parse`:
/// so aliases and free-form values (custom log formats) keep working.
#[derive(Clone)]
struct Choices<F> {
    parse: F,
    names: &'static [&'static str],
}

impl<F, T, E> clap::builder::TypedValueParser for Choices<F>
where
    F: Fn(&str) -> Result<T, E> + Clone + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
{
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        self.parse.parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(self.names.iter().map(|&n| clap::builder::PossibleValue::new(n))))
    }
}

/// `parse`, completing to `names`.
fn choices<F>(parse: F, names: &'static [&'static str]) -> Choices<F> {
    Choices { parse, names }
}

fn parse_mmap(s: &str) -> Result<MmapChoice, String> {
    s.parse()
}

fn parse_group_field(s: &str) -> Result<GroupField, pagemill_logs::Error> {
    s.parse()
}

fn parse_metric(s: &str) -> Result<Metric, pagemill_logs::Error> {
    s.parse()
}

fn parse_bucket(s: &str) -> Result<Bucket, pagemill_logs::Error> {
    s.parse()
}

fn parse_top(s: &str) -> Result<Top, pagemill_logs::Error> {
    s.parse()
}

fn parse_filter(s: &str) -> Result<Filter, pagemill_logs::Error> {
    s.parse()
}

fn parse_time(s: &str) -> Result<i64, pagemill_logs::Error> {
    pagemill_logs::parse_time_bound(s)
}

/// The generator's line formats, as possible values: shell completions
/// offer them (a free-form parser made them complete file names).
fn access_log_formats() -> impl clap::builder::TypedValueParser<Value = AccessLogFormat> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(["combined", "timed", "json", "vhost_combined"])
        .try_map(|s| s.parse::<AccessLogFormat>())
}

fn parse_output_format(s: &str) -> Result<OutputFormat, pagemill_arrow::Error> {
    s.parse()
}

fn parse_ipc_compression(s: &str) -> Result<IpcCompression, pagemill_arrow::Error> {
    s.parse()
}

/// Parse `4M`, `512K`, `1G`, `4MiB`, `1024` into bytes.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let n: usize = num.parse().map_err(|_| format!("invalid size '{s}' (expected e.g. 4M, 512K, 65536)"))?;
    let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ if unit.starts_with('.') => {
            return Err(format!("invalid size '{s}': a whole number of bytes, K, M or G (e.g. 1536K for 1.5M)"));
        }
        _ => return Err(format!("invalid size unit in '{s}' (use K, M or G)")),
    };
    match n.checked_mul(mult) {
        Some(0) => Err("size must be at least 1 byte".to_string()),
        Some(v) => Ok(v),
        None => Err(format!("size '{s}' is too large")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn completed_values_are_the_parsed_ones() {
        assert_eq!(GROUP_FIELDS, GroupField::ALL.map(GroupField::name));
        assert_eq!(METRICS, Metric::ALL.map(Metric::name));
        for name in MASK_NAMES {
            assert_eq!(parse_mask(name).unwrap().name(), *name);
        }
        for name in OUTPUT_FORMATS {
            parse_output_format(name).unwrap();
        }
        for name in IPC_CODECS {
            parse_ipc_compression(name).unwrap();
        }
        for name in WHEN {
            parse_mmap(name).unwrap();
        }
        for name in LOG_FORMATS {
            assert!(name.parse::<pagemill_logs::LogFormat>().is_ok() || *name == "auto", "{name}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4M"), Ok(4 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("77"), Ok(77));
        assert!(parse_size("0").is_err());
        assert!(parse_size("4X").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("1.5M").unwrap_err().contains("whole number"));
        assert_eq!(parse_threads("1024"), Ok(1024));
        assert!(parse_threads("1025").unwrap_err().contains("at most 1024"));
    }

    #[test]
    fn global_flags_go_before_or_after_the_subcommand() {
        let a = Cli::try_parse_from(["pagemill", "--threads", "3", "count", "x"]).unwrap();
        let b = Cli::try_parse_from(["pagemill", "count", "x", "--threads", "3"]).unwrap();
        assert_eq!(a.global.threads, 3);
        assert_eq!(b.global.threads, 3);
    }

    #[test]
    fn logs_flags() {
        let cli = Cli::try_parse_from([
            "pagemill",
            "logs",
            "-g",
            "path,status",
            "--group-by",
            "time",
            "--metrics",
            "requests,latency_p99",
            "--top",
            "3:ip",
            "--where",
            "status>=500",
            "--since",
            "2024-05-01",
            "a.log",
        ])
        .unwrap();
        let Command::Logs(args) = cli.command else { panic!("logs expected") };
        assert_eq!(args.group_by, [GroupField::Path, GroupField::Status, GroupField::Time]);
        assert_eq!(args.metrics, [Metric::Requests, Metric::LatencyP99]);
        assert_eq!(args.top, ["3:ip".parse::<Top>().unwrap()]);
        assert_eq!(args.filters.len(), 1);
        assert_eq!(args.since, Some(1_714_521_600_000_000));
        for bad in [["--group-by", "nope"], ["--metrics", "p42"], ["--where", "status^=5"], ["--bucket", "5w"]] {
            let err = Cli::try_parse_from(["pagemill", "logs", bad[0], bad[1]]).unwrap_err();
            assert!(err.to_string().contains(bad[1]), "{err}");
        }
    }

    #[test]
    fn output_formats_parse_through_pagemill_arrow() {
        let cli =
            Cli::try_parse_from(["pagemill", "count", "x", "--output-format", "jsonl", "--ipc-compression", "zstd"])
                .unwrap();
        let Command::Count(args) = cli.command else { panic!("count expected") };
        assert_eq!(args.output.output_format, Some(OutputFormat::Ndjson));
        assert_eq!(args.output.ipc_compression, IpcCompression::zstd());
        let err = Cli::try_parse_from(["pagemill", "count", "--output-format", "xlsx"]).unwrap_err();
        assert!(err.to_string().contains("unknown output format 'xlsx'"), "{err}");
        // A compressed name would hold an uncompressed result.
        for name in ["out.csv.gz", "r.ZST", "x.parquet.xz"] {
            let err = Cli::try_parse_from(["pagemill", "logs", "-o", name, "a.log"]).unwrap_err();
            assert!(err.to_string().contains("does not compress what it writes"), "{err}");
        }
        for args in [
            &["pagemill", "gen", "access-log", "-o", "g.log.gz"][..],
            &["pagemill", "redact", "--mask", "ip", "-o", "r.log.tgz", "a.log"],
            &["pagemill", "logs", "--rejects", "rj.XZ", "a.log"],
        ] {
            let err = Cli::try_parse_from(args).unwrap_err();
            assert!(err.to_string().contains("does not compress what it writes"), "{args:?}: {err}");
        }
        assert!(Cli::try_parse_from(["pagemill", "logs", "-o", "gz", "a.log"]).is_ok());
    }
}
