//! What to compute: group-by fields, metrics, filters and time buckets.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;
use crate::record::{Escapes, LogRecord, decoded};
use crate::time;

/// A field to group by (or to count the top values of).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum GroupField {
    /// Status code, e.g. `404` (column type UInt16).
    Status,
    /// Status class: `2xx`, `3xx`, `4xx`, `5xx`, ...
    StatusClass,
    /// Request method.
    Method,
    /// Request path without its query string; for a target in absolute
    /// form (`http://example.com/a?b`, sent to proxies), its URI's path
    /// (`/a`).
    Path,
    /// Request target with its query string.
    Uri,
    /// Client address.
    Ip,
    /// Referer header.
    Referrer,
    /// User-Agent header.
    UserAgent,
    /// Virtual host / Host header; where the format logs none, the
    /// authority of a target in absolute form.
    Host,
    /// Start of the request's time bucket (UTC; see [`Bucket`]).
    Time,
}

impl GroupField {
    /// Every field, in documentation order.
    pub const ALL: [GroupField; 10] = [
        GroupField::Status,
        GroupField::StatusClass,
        GroupField::Method,
        GroupField::Path,
        GroupField::Uri,
        GroupField::Ip,
        GroupField::Referrer,
        GroupField::UserAgent,
        GroupField::Host,
        GroupField::Time,
    ];

    /// The field's name, which is also its column name.
    pub fn name(self) -> &'static str {
        match self {
            GroupField::Status => "status",
            GroupField::StatusClass => "status_class",
            GroupField::Method => "method",
            GroupField::Path => "path",
            GroupField::Uri => "uri",
            GroupField::Ip => "ip",
            GroupField::Referrer => "referrer",
            GroupField::UserAgent => "user_agent",
            GroupField::Host => "host",
            GroupField::Time => "time",
        }
    }

    /// The raw text of the field in a record (for text fields).
    #[inline]
    pub(crate) fn text<'a>(self, r: &LogRecord<'a>) -> Option<&'a [u8]> {
        match self {
            GroupField::Method => r.method,
            GroupField::Path => r.path,
            GroupField::Uri => r.uri,
            GroupField::Ip => r.ip,
            GroupField::Referrer => r.referrer,
            GroupField::UserAgent => r.user_agent,
            GroupField::Host => r.host,
            GroupField::Status | GroupField::StatusClass | GroupField::Time => None,
        }
    }
}

impl fmt::Display for GroupField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for GroupField {
    type Err = Error;

    fn from_str(s: &str) -> Result<GroupField, Error> {
        let s = s.trim();
        GroupField::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .or(match s {
                "referer" => Some(GroupField::Referrer),
                "client" | "client_ip" => Some(GroupField::Ip),
                "ua" | "agent" => Some(GroupField::UserAgent),
                _ => None,
            })
            .ok_or_else(|| {
                Error::option(
                    "field",
                    s,
                    "expected status, status_class, method, path, uri, ip, referrer, user_agent, host or time",
                )
            })
    }
}

/// A metric column of the result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Metric {
    /// Number of requests (UInt64).
    Requests,
    /// Sum of response bytes (UInt64; saturates at `u64::MAX`, 16 EiB, rather
    /// than wrap: a byte field may hold 19 digits).
    Bytes,
    /// Mean response bytes per request (Float64).
    BytesMean,
    /// Share of requests with a 4xx status (Float64, 0 to 1).
    Error4xxShare,
    /// Share of requests with a 5xx status (Float64, 0 to 1).
    Error5xxShare,
    /// Median request time, seconds (Float64; null without request times).
    LatencyP50,
    /// 90th percentile request time, seconds.
    LatencyP90,
    /// 99th percentile request time, seconds.
    LatencyP99,
    /// 99.9th percentile request time, seconds.
    LatencyP999,
    /// Largest request time, seconds (exact).
    LatencyMax,
    /// Distinct client addresses (UInt64): exact up to the limit set with
    /// [`LogJob::distinct_exact_limit`](crate::LogJob::distinct_exact_limit),
    /// a HyperLogLog estimate above it. Addresses are compared with their
    /// escapes decoded, byte for byte: two that differ only in bytes that
    /// are not UTF-8 count twice, though a group or `--top` shows both as
    /// the same text (with U+FFFD).
    DistinctIps,
    /// Earliest request time (Timestamp µs, UTC).
    FirstSeen,
    /// Latest request time (Timestamp µs, UTC).
    LastSeen,
}

impl Metric {
    /// Every metric, in column order.
    pub const ALL: [Metric; 13] = [
        Metric::Requests,
        Metric::Bytes,
        Metric::BytesMean,
        Metric::Error4xxShare,
        Metric::Error5xxShare,
        Metric::LatencyP50,
        Metric::LatencyP90,
        Metric::LatencyP99,
        Metric::LatencyP999,
        Metric::LatencyMax,
        Metric::DistinctIps,
        Metric::FirstSeen,
        Metric::LastSeen,
    ];

    /// The metric's column name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Requests => "requests",
            Metric::Bytes => "bytes",
            Metric::BytesMean => "bytes_mean",
            Metric::Error4xxShare => "error_4xx_share",
            Metric::Error5xxShare => "error_5xx_share",
            Metric::LatencyP50 => "latency_p50",
            Metric::LatencyP90 => "latency_p90",
            Metric::LatencyP99 => "latency_p99",
            Metric::LatencyP999 => "latency_p999",
            Metric::LatencyMax => "latency_max",
            Metric::DistinctIps => "distinct_ips",
            Metric::FirstSeen => "first_seen",
            Metric::LastSeen => "last_seen",
        }
    }

    /// The quantile of a percentile metric.
    pub(crate) fn quantile(self) -> Option<f64> {
        match self {
            Metric::LatencyP50 => Some(0.5),
            Metric::LatencyP90 => Some(0.9),
            Metric::LatencyP99 => Some(0.99),
            Metric::LatencyP999 => Some(0.999),
            _ => None,
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Metric {
    type Err = Error;

    fn from_str(s: &str) -> Result<Metric, Error> {
        let s = s.trim();
        Metric::ALL.into_iter().find(|m| m.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
            Error::option("metric", s, format!("expected one of {}", names.join(", ")))
        })
    }
}

/// The width of `time` groups: `1m`, `5m`, `1h`, `1d`, or any `N` with unit
/// `s`, `m`, `h` or `d`. Buckets start at multiples of the width since the
/// Unix epoch, in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    micros: i64,
}

impl Bucket {
    /// A bucket of `seconds` (at least 1).
    pub fn seconds(seconds: u32) -> Bucket {
        Bucket { micros: i64::from(seconds.max(1)) * time::MICROS }
    }

    /// The width in seconds.
    pub fn as_seconds(self) -> i64 {
        self.micros / time::MICROS
    }

    /// The start of the bucket holding `t` (µs).
    #[inline]
    pub(crate) fn start(self, t: i64) -> i64 {
        t.div_euclid(self.micros) * self.micros
    }
}

impl Default for Bucket {
    /// One hour.
    fn default() -> Bucket {
        Bucket::seconds(3600)
    }
}

impl FromStr for Bucket {
    type Err = Error;

    fn from_str(s: &str) -> Result<Bucket, Error> {
        let bad = || Error::option("bucket", s, "expected N followed by s, m, h or d, e.g. 5m");
        let t = s.trim();
        let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
        let n: u32 = if num.is_empty() { 1 } else { num.parse().map_err(|_| bad())? };
        let mult = match unit {
            "s" => 1,
            "m" | "min" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(bad()),
        };
        match n.checked_mul(mult) {
            Some(secs) if secs > 0 => Ok(Bucket::seconds(secs)),
            _ => Err(bad()),
        }
    }
}

#[derive(Clone, Debug)]
enum Test {
    /// Status in any of these inclusive ranges.
    StatusIn(Vec<(u16, u16)>),
    TextIn(Vec<Box<[u8]>>),
    Prefix(Box<[u8]>),
    Regex(regex::bytes::Regex),
}

/// A `--where` condition on one field. Several filters all have to hold.
///
/// Syntax: `FIELD OP VALUE` with
/// * `status=404`, `status=404,500`, `status=5xx`, `status!=200`,
///   `status>=500`, `status<400` (also `>` and `<=`);
/// * `status_class=4xx` (or `=4`), `status_class>=4` (4xx and 5xx), and
///   the other operators, comparing classes (a three-digit code stands for
///   itself: `status_class>=400` is `status>=400`);
/// * `method=GET,HEAD`, `method!=GET`, and the same `=`/`!=` on `path`,
///   `uri`, `ip`, `host`, `referrer`, `user_agent`: a list of values split
///   at commas, where `\,` is a comma inside a value and `\\` a backslash
///   (`user_agent=Mozilla/5.0 (KHTML\, like Gecko)`);
/// * `path^=/api/` (prefix), `path~^/api/v[0-9]+/` (regular expression,
///   searched anywhere unless anchored) on any text field.
///
/// Text is compared with its escapes decoded, as the results show it (`\"`,
/// `\xHH`, JSON's `\/` and `\uXXXX`); bytes that are not UTF-8 compare as
/// they are. A record without the
/// field never matches `=`, `^=` or `~`, and always matches `!=`.
#[derive(Clone, Debug)]
pub struct Filter {
    /// The filter as written, for persisted partials.
    text: Box<str>,
    field: GroupField,
    negate: bool,
    test: Test,
}

/// One value of a status filter as an inclusive range: a class (`5xx`; in
/// a `status_class` filter also `5`) as its hundred codes, else a status
/// code (in a `status_class` filter, of three digits); `None` for anything
/// else.
fn status_range(v: &str, class_filter: bool) -> Option<(u16, u16)> {
    let v = v.trim();
    let b = v.as_bytes();
    let class = match b {
        [d, b'x' | b'X', b'x' | b'X'] => Some(*d),
        [d] if class_filter => Some(*d),
        _ => None,
    };
    if let Some(d) = class.filter(u8::is_ascii_digit) {
        let base = u16::from(d - b'0') * 100;
        return Some((base, base + 99));
    }
    if class_filter && !(b.len() == 3 && b.iter().all(u8::is_ascii_digit)) {
        return None;
    }
    v.parse::<u16>().ok().map(|n| (n, n))
}

fn parse_status_set(value: &str, whole: &str) -> Result<Vec<(u16, u16)>, Error> {
    let bad = || Error::option("filter", whole, "expected status codes like 404 or classes like 5xx");
    value.split(',').map(|v| status_range(v, false).ok_or_else(bad)).collect()
}

/// Where the operator of filter text `s` stands, and which it is.
fn split_op(s: &str) -> Option<(usize, &'static str)> {
    const OPS: [&str; 8] = ["!=", ">=", "<=", "^=", "=", "~", ">", "<"];
    s.char_indices().find_map(|(i, _)| OPS.iter().find(|op| s[i..].starts_with(**op)).map(|op| (i, *op)))
}

/// The statuses `op` (`>=`, `>`, `<=`, `<`) keeps against the inclusive
/// range `(lo, hi)` (one code, or a class's hundred): none for `< 0`.
fn compare(op: &str, (lo, hi): (u16, u16)) -> Vec<(u16, u16)> {
    match op {
        ">=" => vec![(lo, u16::MAX)],
        ">" => hi.checked_add(1).map(|from| (from, u16::MAX)).into_iter().collect(),
        "<=" => vec![(0, hi)],
        _ => lo.checked_sub(1).map(|to| (0, to)).into_iter().collect(),
    }
}

/// The values of a text `=`/`!=` list: split at commas, except `\,`, a
/// comma inside a value; `\\` is one backslash, and any other backslash
/// stays as written.
fn text_list(value: &str) -> Vec<Box<[u8]>> {
    let mut values = Vec::new();
    let mut current = Vec::new();
    let mut bytes = value.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b',' => values.push(std::mem::take(&mut current).into_boxed_slice()),
            b'\\' => match bytes.clone().next() {
                Some(next @ (b',' | b'\\')) => {
                    bytes.next();
                    current.push(next);
                }
                _ => current.push(b),
            },
            _ => current.push(b),
        }
    }
    values.push(current.into_boxed_slice());
    values
}

impl FromStr for Filter {
    type Err = Error;

    fn from_str(s: &str) -> Result<Filter, Error> {
        let (at, op) = split_op(s).ok_or_else(|| {
            Error::option(
                "filter",
                s,
                "expected FIELD=VALUE, FIELD!=VALUE, FIELD^=PREFIX, FIELD~REGEX or (status) FIELD>=N, >, <=, <",
            )
        })?;
        let field: GroupField = s[..at].parse()?;
        let value = &s[at + op.len()..];
        if field == GroupField::Time {
            return Err(Error::option("filter", s, "filter time with --since and --until"));
        }
        let numeric = matches!(field, GroupField::Status | GroupField::StatusClass);
        let test = match (op, numeric) {
            // A class compares as a class: `status_class>=4` keeps 4xx and
            // 5xx. A status code stands for itself (`status_class>=400`, as
            // partials of earlier releases, which compared codes, say).
            (_, true) if field == GroupField::StatusClass => {
                let class = |v: &str| {
                    status_range(v, true)
                        .ok_or_else(|| Error::option("filter", s, "expected status classes like 4xx (or 4)"))
                };
                match op {
                    "=" | "!=" => Test::StatusIn(value.split(',').map(class).collect::<Result<_, _>>()?),
                    ">=" | ">" | "<=" | "<" => Test::StatusIn(compare(op, class(value)?)),
                    _ => return Err(Error::option("filter", s, "status_class takes =, !=, >=, >, <=, <")),
                }
            }
            ("=" | "!=", true) => Test::StatusIn(parse_status_set(value, s)?),
            (">=" | ">" | "<=" | "<", true) => {
                let n: u16 = value.trim().parse().map_err(|_| Error::option("filter", s, "expected a status code"))?;
                Test::StatusIn(compare(op, (n, n)))
            }
            (_, true) => return Err(Error::option("filter", s, "status takes =, !=, >=, >, <=, <")),
            ("=" | "!=", false) => Test::TextIn(text_list(value)),
            ("^=", false) => Test::Prefix(value.as_bytes().into()),
            ("~", false) => Test::Regex(regex::bytes::Regex::new(value).map_err(|e| Error::Regex(Box::new(e)))?),
            _ => return Err(Error::option("filter", s, "text fields take =, !=, ^= or ~")),
        };
        Ok(Filter { text: s.into(), field, negate: op == "!=", test })
    }
}

impl Filter {
    /// The filter as written: parsing it again gives the same filter.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// Whether this is a text `=`/`!=` list holding `\,` or `\\`, which
    /// partials of rules 2 and before read as written (splitting at every
    /// comma), not as a comma or a backslash inside a value.
    pub(crate) fn escapes_list(&self) -> bool {
        matches!(self.test, Test::TextIn(_))
            && split_op(&self.text).is_some_and(|(at, op)| {
                let value = &self.text[at + op.len()..];
                value.contains("\\,") || value.contains("\\\\")
            })
    }

    /// Whether this is a `status_class` filter on a class (`4xx`, `4`)
    /// rather than on status codes: one that partials of earlier releases,
    /// which compared every value as a code, answered otherwise.
    pub(crate) fn compares_classes(&self) -> bool {
        self.field == GroupField::StatusClass
            && split_op(&self.text).is_some_and(|(at, op)| {
                self.text[at + op.len()..].split(',').any(|v| status_range(v, true).is_some_and(|(lo, hi)| lo != hi))
            })
    }

    /// Whether `r`, whose text fields are escaped with `escapes`, passes;
    /// `scratch` holds a field's decoded text.
    #[inline]
    pub(crate) fn accepts(&self, r: &LogRecord<'_>, escapes: Escapes, scratch: &mut Vec<u8>) -> bool {
        let hit = match &self.test {
            Test::StatusIn(ranges) => r.status.is_some_and(|s| ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&s))),
            test => self.field.text(r).is_some_and(|raw| {
                // Text is compared with its escapes decoded (`\/` in JSON).
                let t = decoded(raw, escapes, scratch);
                match test {
                    Test::TextIn(values) => values.iter().any(|v| **v == *t),
                    Test::Prefix(p) => t.starts_with(p),
                    Test::Regex(re) => re.is_match(t),
                    Test::StatusIn(_) => false,
                }
            }),
        };
        hit != self.negate
    }
}

/// Parse a `--since`/`--until` time: ISO 8601 (`2024-05-01T10:00:00Z`, a
/// date alone meaning midnight UTC), CLF, or a Unix epoch in seconds.
pub fn parse_time_bound(s: &str) -> Result<i64, Error> {
    let b = s.trim().as_bytes();
    let parsed = if b.len() == 10 && b[4] == b'-' {
        time::parse_iso8601(format!("{}T00:00:00Z", s.trim()).as_bytes())
    } else {
        time::parse_any(b)
    };
    parsed.ok_or_else(|| Error::option("time", s, "expected ISO 8601 (2024-05-01T10:00:00Z), a date, or epoch seconds"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(status: u16, path: &'static [u8]) -> LogRecord<'static> {
        LogRecord { status: Some(status), path: Some(path), uri: Some(path), ..LogRecord::default() }
    }

    #[test]
    fn filters() {
        let f = |s: &str| s.parse::<Filter>().unwrap();
        let keeps = |s: &str, r: &LogRecord<'_>| f(s).accepts(r, Escapes::Log, &mut Vec::new());
        assert!(keeps("status=5xx", &rec(503, b"/")));
        assert!(!keeps("status=5xx", &rec(404, b"/")));
        assert!(keeps("status=404,500", &rec(500, b"/")));
        assert!(keeps("status!=200", &rec(500, b"/")));
        assert!(!keeps("status!=200", &rec(200, b"/")));
        assert!(keeps("status>=400", &rec(400, b"/")));
        assert!(!keeps("status>400", &rec(400, b"/")));
        assert!(keeps("status<400", &rec(399, b"/")));
        assert!(keeps("path^=/api", &rec(200, b"/api/x")));
        assert!(!keeps("path^=/api", &rec(200, b"/ap")));
        assert!(keeps("path~^/v[0-9]+/", &rec(200, b"/v2/x")));
        assert!(keeps("path=/a,/b", &rec(200, b"/b")));
        // `\,` is a comma inside a value, `\\` a backslash.
        assert!(keeps(r"path=/a\,b", &rec(200, b"/a,b")));
        assert!(!keeps(r"path=/a\,b", &rec(200, b"/a")));
        assert!(!keeps(r"path!=/x,/a\,b", &rec(200, b"/a,b")));
        assert!(keeps(r"path=/a\\,/b", &rec(200, br"/a\")));
        assert!(keeps(r"path=/a\b", &rec(200, br"/a\b")));
        assert_eq!(text_list(r"a\,b,,c\\\,d\"), [&b"a,b"[..], b"", br"c\,d\"].map(Box::from));
        assert!(!keeps("method=GET", &rec(200, b"/b")));
        assert!(keeps("method!=GET", &rec(200, b"/b")));
        // Classes compare as classes.
        assert!(keeps("status_class>=4", &rec(404, b"/")));
        assert!(!keeps("status_class>=4", &rec(302, b"/")));
        assert!(keeps("status_class>=4xx", &rec(503, b"/")));
        assert!(!keeps("status_class>4", &rec(499, b"/")));
        assert!(keeps("status_class>4", &rec(500, b"/")));
        assert!(keeps("status_class<=4", &rec(499, b"/")));
        assert!(!keeps("status_class<4", &rec(400, b"/")));
        assert!(keeps("status_class<4", &rec(399, b"/")));
        assert!(keeps("status_class=4", &rec(404, b"/")));
        assert!(keeps("status_class=2xx,5", &rec(503, b"/")));
        assert!(!keeps("status_class!=4xx", &rec(404, b"/")));
        // Nothing is below 0 or above the largest code.
        let zero = LogRecord { status: Some(0), ..LogRecord::default() };
        assert!(!keeps("status_class<0", &zero));
        assert!(!keeps("status<0", &zero));
        assert!(!keeps("status>65535", &rec(65535, b"/")));
        // A code in a class filter stands for itself (earlier releases' partials).
        assert!(keeps("status_class>=400", &rec(404, b"/")));
        assert!(!keeps("status_class>=400", &rec(399, b"/")));
        assert!(keeps("status_class=404", &rec(404, b"/")));
        // Text compares decoded.
        assert!(f("path^=/api/").accepts(&rec(200, br"\/api\/x"), Escapes::Json, &mut Vec::new()));
        assert!(keeps("path=/a\"b", &rec(200, br#"/a\"b"#)));
        for bad in ["status=abc", "nope=1", "path>3", "status^=4", "path~(", "time=1", "status", "status_class=40"] {
            assert!(bad.parse::<Filter>().is_err(), "{bad}");
        }
    }

    #[test]
    fn buckets() {
        assert_eq!("5m".parse::<Bucket>().unwrap().as_seconds(), 300);
        assert_eq!("1d".parse::<Bucket>().unwrap().as_seconds(), 86_400);
        assert_eq!("h".parse::<Bucket>().unwrap().as_seconds(), 3600);
        assert!("0m".parse::<Bucket>().is_err());
        assert!("5w".parse::<Bucket>().is_err());
        let b = Bucket::seconds(60);
        assert_eq!(b.start(119_999_999), 60_000_000);
        assert_eq!(b.start(-1), -60_000_000);
    }

    #[test]
    fn names_round_trip() {
        for f in GroupField::ALL {
            assert_eq!(f.name().parse::<GroupField>().unwrap(), f);
        }
        for m in Metric::ALL {
            assert_eq!(m.name().parse::<Metric>().unwrap(), m);
        }
        assert_eq!(parse_time_bound("2000-10-10").unwrap(), 971_136_000 * time::MICROS);
        assert!(parse_time_bound("yesterday").is_err());
    }
}
