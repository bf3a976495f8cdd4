//! Access logs as a table: one row per request.

use std::sync::{Arc, LazyLock};

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use pagemill_engine::Malformed;
use pagemill_logs::LogFormat;
use pagemill_mmap::Source;
use pagemill_split::{AnyFormat, Lines, Record};

use crate::decode::{Cell, Decoder, Scratch, Shape, text};
use crate::error::Error;
use crate::filter::Value;
use crate::spec::Spec;
use crate::table::PagemillTable;

const TIME: usize = 2;

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let text = |name: &str| Field::new(name, DataType::Utf8View, true);
    Arc::new(Schema::new(vec![
        text("ip"),
        text("user"),
        Field::new("time", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true),
        text("method"),
        text("uri"),
        text("path"),
        text("query"),
        text("protocol"),
        Field::new("status", DataType::UInt16, true),
        Field::new("bytes", DataType::UInt64, true),
        text("referrer"),
        text("user_agent"),
        text("host"),
        Field::new("latency", DataType::Float64, true),
    ]))
});

/// The columns of a logs table, in order.
///
/// | column | type | from |
/// |---|---|---|
/// | `ip` | Utf8View | client address (`%h`, `$remote_addr`) |
/// | `user` | Utf8View | authenticated user (`%u`, `$remote_user`) |
/// | `time` | Timestamp(µs, UTC) | request time, normalised to UTC |
/// | `method` | Utf8View | request method; null for a request line that is not HTTP |
/// | `uri` | Utf8View | request target with its query string |
/// | `path` | Utf8View | request target without its query string |
/// | `query` | Utf8View | the query string, without `?` |
/// | `protocol` | Utf8View | `HTTP/1.1` |
/// | `status` | UInt16 | final status |
/// | `bytes` | UInt64 | response body bytes (`-` is 0) |
/// | `referrer` | Utf8View | `Referer` header |
/// | `user_agent` | Utf8View | `User-Agent` header |
/// | `host` | Utf8View | virtual host |
/// | `latency` | Float64 | request time in seconds |
///
/// A field the format lacks, or that the server logged as `-`, is null.
/// Text is unescaped (`\"` in Apache and nginx lines, JSON escapes).
pub fn logs_schema() -> SchemaRef {
    Arc::clone(&SCHEMA)
}

#[derive(Debug)]
struct LogDecoder {
    format: LogFormat,
}

impl Decoder for LogDecoder {
    fn parse<'a>(
        &'a self,
        r: Record<'a>,
        projection: &[usize],
        row: &mut Vec<Cell<'a>>,
        scratch: &mut Scratch<'a>,
        malformed: &mut Malformed,
    ) -> bool {
        let parser = scratch.log_parser.get_or_insert_with(|| self.format.parser());
        let parsed = parser.parse_with(r.bytes, projection.contains(&TIME));
        // As in the logs job: a JSON event that is no request is malformed.
        let rec = match parsed.and_then(|rec| self.format.require_request(&rec).map(|()| rec)) {
            Ok(rec) => rec,
            Err(e) => {
                malformed.report(e.kind(), r.offset, r.bytes);
                return false;
            }
        };
        let field = |raw: Option<&'a [u8]>| -> Cell<'a> {
            match raw {
                None => Cell::Val(Value::Null),
                Some(raw) => text(raw, memchr::memchr(b'\\', raw).is_some(), |raw| self.format.decode_text(raw)),
            }
        };
        for &c in projection {
            row.push(match c {
                0 => field(rec.ip),
                1 => field(rec.user),
                2 => Cell::Val(rec.time.map_or(Value::Null, Value::Int)),
                3 => field(rec.method),
                4 => field(rec.uri),
                5 => field(rec.path),
                6 => field(query_of(rec.query, rec.uri)),
                7 => field(rec.protocol),
                8 => Cell::Val(rec.status.map_or(Value::Null, |s| Value::UInt(u64::from(s)))),
                9 => Cell::Val(rec.bytes.map_or(Value::Null, Value::UInt)),
                10 => field(rec.referrer),
                11 => field(rec.user_agent),
                12 => field(rec.host),
                _ => Cell::Val(rec.latency_us.map_or(Value::Null, |us| Value::Float(us as f64 / 1e6))),
            });
        }
        true
    }
}

/// The query string of a request: its own field (Apache `%q` keeps the
/// `?`), or what follows `?` in the target.
fn query_of<'a>(query: Option<&'a [u8]>, uri: Option<&'a [u8]>) -> Option<&'a [u8]> {
    match query {
        Some(q) => Some(q.strip_prefix(b"?").unwrap_or(q)),
        None => uri.and_then(|u| memchr::memchr(b'?', u).map(|i| &u[i + 1..])),
    }
}

impl PagemillTable {
    /// Access logs of `format` (one line per request) as a table with the
    /// columns of [`logs_schema`]. Lines that do not follow the format are
    /// counted as malformed (`format-mismatch`, `bad-status`, ...; `bad-time`
    /// only when the query reads `time`), never rows. To detect the format
    /// from the data, use [`LogFormat::detect`] on the first input's first
    /// bytes.
    pub fn logs(sources: Vec<Source>, format: LogFormat) -> Result<PagemillTable, Error> {
        PagemillTable::build(Spec::Logs(format), sources, None)
    }
}

/// The shape and decoder of a logs table.
pub(crate) fn assemble(format: LogFormat) -> (Shape, Arc<dyn Decoder>) {
    let shape = Shape { schema: logs_schema(), format: AnyFormat::Lines(Lines), header: false };
    (shape, Arc::new(LogDecoder { format }))
}
