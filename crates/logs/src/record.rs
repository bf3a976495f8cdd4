//! One parsed log line, and the small field parsers shared by every format.

use std::fmt;

use crate::scan::{find, rfind};

/// One parsed log line: slices into the line, nothing owned.
///
/// Text fields are **raw**: exactly the bytes in the log, still escaped the
/// way the server wrote them (`\"` in Apache and nginx lines, JSON escapes in
/// JSON lines). Results decode them once per group, not once per line. A
/// field the format lacks, or that the server logged as `-`, is `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogRecord<'a> {
    /// Client address (`%h`, `$remote_addr`), IPv4 or IPv6 as written.
    pub ip: Option<&'a [u8]>,
    /// A second client address of the same line (`%h` and `%a`,
    /// `$remote_addr` and `$realip_remote_addr`): not used by queries (the
    /// first is the client's), but masked by [`Redactor`](crate::Redactor).
    pub other_ip: Option<&'a [u8]>,
    /// The `X-Forwarded-For` list of addresses (`%{X-Forwarded-For}i`,
    /// `$http_x_forwarded_for`), as written: not used by queries, but
    /// masked, address by address, by [`Redactor`](crate::Redactor).
    pub forwarded: Option<&'a [u8]>,
    /// Authenticated user (`%u`, `$remote_user`).
    pub user: Option<&'a [u8]>,
    /// Request time, microseconds since the Unix epoch, UTC.
    pub time: Option<i64>,
    /// The request line as logged (`GET /a?b=1 HTTP/1.1`, `%r`, `$request`),
    /// whether or not it splits into method, target and protocol.
    pub request: Option<&'a [u8]>,
    /// Request method (`GET`); `None` for a request line that is not HTTP.
    pub method: Option<&'a [u8]>,
    /// Request target with its query string (`/a?b=1`).
    pub uri: Option<&'a [u8]>,
    /// Request target without its query string (`/a`).
    pub path: Option<&'a [u8]>,
    /// A query string logged as a field of its own (Apache `%q`, with its
    /// `?`; nginx `$args`, without), when the format does not join it to
    /// the path. The query of a request target is part of `uri` instead.
    pub query: Option<&'a [u8]>,
    /// Protocol (`HTTP/1.1`).
    pub protocol: Option<&'a [u8]>,
    /// Final response status.
    pub status: Option<u16>,
    /// Response body bytes (`-` is 0, as in the Common Log Format).
    pub bytes: Option<u64>,
    /// `Referer` header.
    pub referrer: Option<&'a [u8]>,
    /// `User-Agent` header.
    pub user_agent: Option<&'a [u8]>,
    /// Virtual host or `Host` header.
    pub host: Option<&'a [u8]>,
    /// Time taken to serve the request, in microseconds.
    pub latency_us: Option<u64>,
}

impl LogRecord<'_> {
    /// Whether the record names a request: a status, method, URI or path.
    /// Every text format's lines do; a JSON line without any is another
    /// kind of event (a server's start-up message), which the logs job and
    /// the SQL table count as malformed ([`LineError::NoRequest`]).
    pub fn has_request(&self) -> bool {
        self.status.is_some() || self.method.is_some() || self.uri.is_some() || self.path.is_some()
    }
}

/// Why a line does not parse: the kind is what the malformed-record summary
/// counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LineError {
    /// The line is empty (or only whitespace).
    Empty,
    /// The line does not follow the format: a literal or a closing quote is
    /// missing.
    Mismatch,
    /// The timestamp does not parse.
    BadTime,
    /// The status is not a three-digit number.
    BadStatus,
    /// The byte count is neither a number nor `-`.
    BadBytes,
    /// The request time is neither a non-negative decimal nor `-`.
    BadLatency,
    /// A JSON line is not a well-formed JSON object.
    BadJson,
    /// A JSON line holds none of a request's fields (status, request line,
    /// method, URI or path): another kind of event, such as a server's
    /// start-up message. The logs job counts such lines as malformed; a
    /// format's own parse gives their (empty) record.
    NoRequest,
}

impl LineError {
    /// The stable kind name used in malformed-record summaries.
    pub fn kind(self) -> &'static str {
        match self {
            LineError::Empty => "empty-line",
            LineError::Mismatch => "format-mismatch",
            LineError::BadTime => "bad-time",
            LineError::BadStatus => "bad-status",
            LineError::BadBytes => "bad-bytes",
            LineError::BadLatency => "bad-latency",
            LineError::BadJson => "bad-json",
            LineError::NoRequest => "no-request",
        }
    }
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())
    }
}

impl std::error::Error for LineError {}

/// The unit of a request-time field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeUnit {
    /// Seconds (nginx `$request_time`, Apache `%T`, Caddy `duration`).
    Seconds,
    /// Milliseconds (Apache `%{ms}T`).
    Millis,
    /// Microseconds (Apache `%D`).
    Micros,
    /// Nanoseconds (Traefik `Duration`).
    Nanos,
}

/// A non-negative decimal integer of at most 19 digits.
#[inline]
pub(crate) fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 {
        return None;
    }
    let mut v = 0u64;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + u64::from(d);
    }
    Some(v)
}

/// A three-digit status code. Always inlined: called, its result came
/// back through memory.
#[inline(always)]
pub(crate) fn parse_status(b: &[u8]) -> Result<u16, LineError> {
    match b {
        [a, b, c] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            Ok(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => Err(LineError::BadStatus),
    }
}

/// A byte count: digits, or `-` for none (counted as 0).
#[inline]
pub(crate) fn parse_bytes(b: &[u8]) -> Result<u64, LineError> {
    if b == b"-" {
        return Ok(0);
    }
    parse_u64(b).ok_or(LineError::BadBytes)
}

/// A non-negative decimal duration in `unit` (`0.123`, `42`, `1.2e-05`), in
/// microseconds (truncated; saturating at `u64::MAX`); `-` is no value.
/// Fraction digits past the ninth are ignored. All arithmetic is 64-bit:
/// 128-bit divisions are library calls and cost more than the rest of a
/// line's parse. Inlined, with the rare exponent form out of line: called,
/// with its result returned through memory, it cost a `timed` line about
/// a hundred instructions, more than the plain number's digits.
#[inline(always)]
pub(crate) fn parse_duration(b: &[u8], unit: TimeUnit) -> Result<Option<u64>, LineError> {
    match plain_duration(b, unit) {
        Err(LineError::BadLatency) => exponent_duration(b, unit),
        plain => plain,
    }
}

/// [`parse_duration`] of what is no plain number: one with an exponent,
/// as JSON encoders write small floats (`1.2e-05`), else bad.
#[cold]
#[inline(never)]
fn exponent_duration(b: &[u8], unit: TimeUnit) -> Result<Option<u64>, LineError> {
    if !b.iter().any(|&c| c == b'e' || c == b'E') {
        return Err(LineError::BadLatency);
    }
    let x: f64 = std::str::from_utf8(b).ok().and_then(|s| s.parse().ok()).ok_or(LineError::BadLatency)?;
    let scale = match unit {
        TimeUnit::Seconds => 1e6,
        TimeUnit::Millis => 1e3,
        TimeUnit::Micros => 1.0,
        TimeUnit::Nanos => 1e-3,
    };
    let micros = x * scale;
    if micros.is_nan() || micros < 0.0 {
        return Err(LineError::BadLatency);
    }
    // Truncated and saturating (`as` does both), as plain numbers are.
    Ok(Some(micros as u64))
}

/// [`parse_duration`] of a number without an exponent: digits (at most
/// 19), then optionally a dot and more digits, at least one digit in all.
/// One pass over the bytes, with the fraction's first nine digits gathered
/// as an integer: the slice searches and per-digit table loads of a split
/// at the dot were a tenth of a `timed` line's parse.
#[inline(always)]
fn plain_duration(b: &[u8], unit: TimeUnit) -> Result<Option<u64>, LineError> {
    const POW10: [u64; 10] = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000];
    if b == b"-" {
        return Ok(None);
    }
    let mut int = 0u64;
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        // 19 digits cannot overflow a u64; more are refused, as by `parse_u64`.
        if i == 19 {
            return Err(LineError::BadLatency);
        }
        int = int * 10 + u64::from(d);
        i += 1;
    }
    let digits = i;
    // The fraction in units of 10^-9 of `unit`: its first nine digits.
    let mut frac_nanos = 0u64;
    if i < b.len() {
        if b[i] != b'.' {
            return Err(LineError::BadLatency);
        }
        let frac = &b[i + 1..];
        if digits == 0 && frac.is_empty() {
            return Err(LineError::BadLatency);
        }
        // The first nine digits count, the rest are only checked.
        let (kept, ignored) = frac.split_at(frac.len().min(9));
        for &c in kept {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                return Err(LineError::BadLatency);
            }
            frac_nanos = frac_nanos * 10 + u64::from(d);
        }
        if !ignored.iter().all(u8::is_ascii_digit) {
            return Err(LineError::BadLatency);
        }
        frac_nanos *= POW10[9 - kept.len()];
    } else if digits == 0 {
        return Err(LineError::BadLatency);
    }
    let micros = match unit {
        TimeUnit::Seconds => int.saturating_mul(1_000_000).saturating_add(frac_nanos / 1000),
        TimeUnit::Millis => int.saturating_mul(1000).saturating_add(frac_nanos / 1_000_000),
        TimeUnit::Micros => int.saturating_add(frac_nanos / 1_000_000_000),
        TimeUnit::Nanos => int / 1000,
    };
    Ok(Some(micros))
}

/// The record `parse` fills in, returned by value: for callers that parse
/// one line, over the parsers' `parse_into` (which fill a record the caller
/// keeps).
#[inline]
pub(crate) fn by_value<'a>(
    parse: impl FnOnce(&mut LogRecord<'a>) -> Result<(), LineError>,
) -> Result<LogRecord<'a>, LineError> {
    let mut rec = LogRecord::default();
    parse(&mut rec)?;
    Ok(rec)
}

/// Method, target and protocol of a request line.
pub(crate) type RequestParts<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, Option<&'a [u8]>);

/// Split an HTTP request line `METHOD TARGET [PROTOCOL]` into its parts.
/// Anything else (`-`, an empty line, scanner junk) gives `None` for all
/// three: the record still counts, it just has no method or path.
/// Inlined: called, its three parts came back through memory in 8-byte
/// stores that the caller's 16-byte loads could not forward (7% of a
/// `timed` line's parse).
#[inline(always)]
pub(crate) fn split_request(r: &[u8]) -> RequestParts<'_> {
    let none = (None, None, None);
    // Request lines are short: see `scan`.
    let Some(sp) = find(r, 0, b' ') else { return none };
    let method = &r[..sp];
    if method.is_empty()
        || method.len() > 24
        || !method.iter().all(|c| c.is_ascii_uppercase() || *c == b'-' || *c == b'_')
    {
        return none;
    }
    let rest = &r[sp + 1..];
    let (uri, protocol) = match rfind(rest, b' ') {
        // `HTTP\/1.1`: a JSON encoder that escapes `/` (PHP's does).
        Some(i) if rest[i + 1..].starts_with(b"HTTP/") || rest[i + 1..].starts_with(b"HTTP\\/") => {
            (&rest[..i], Some(&rest[i + 1..]))
        }
        Some(_) => return none,
        None => (rest, None),
    };
    if uri.is_empty() {
        return none;
    }
    (Some(method), Some(uri), protocol)
}

/// The path of a request target: everything before `?`. A target in
/// absolute form (`http://example.com/a?b`, what clients send to proxies,
/// RFC 9112 section 3.2.2) has the path of its URI (`/a`; `/` when none
/// follows the authority), so it groups with the same path requested in
/// origin form, and its authority comes with it. Other targets (`*`, a
/// `CONNECT` authority, junk) are their own path, without an authority.
#[inline(always)]
pub(crate) fn path_and_authority(uri: &[u8]) -> (&[u8], Option<&[u8]>) {
    // Origin-form targets, nearly every line, start with `/`.
    let (uri, authority) = match uri.first() {
        Some(b'/') | None => (uri, None),
        Some(_) => match split_absolute(uri) {
            Some((authority, b"")) => return (b"/", Some(authority)),
            Some((authority, rest)) if rest[0] == b'?' => return (b"/", Some(authority)),
            Some((authority, rest)) => (rest, Some(authority)),
            None => (uri, None),
        },
    };
    match find(uri, 0, b'?') {
        Some(i) => (&uri[..i], authority),
        None => (uri, authority),
    }
}

/// A request target in absolute form, `scheme://authority[rest]`, as its
/// authority (`example.com:8080`, any `user@` left in) and the rest (the
/// path and query, possibly empty). `None` for every other target.
pub(crate) fn split_absolute(uri: &[u8]) -> Option<(&[u8], &[u8])> {
    // RFC 3986: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
    let colon = uri.iter().position(|&c| !(c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.')))?;
    if colon == 0 || !uri[0].is_ascii_alphabetic() {
        return None;
    }
    // `:\/\/`: still JSON-escaped, by an encoder that escapes `/`; the rest
    // then starts with `\/`, which the path's decoding turns into `/`.
    let after = if uri[colon..].starts_with(b"://") {
        &uri[colon + 3..]
    } else if uri[colon..].starts_with(b":\\/\\/") {
        &uri[colon + 5..]
    } else {
        return None;
    };
    let end = (0..after.len())
        .find(|&i| matches!(after[i], b'/' | b'?' | b'#') || after[i..].starts_with(b"\\/"))
        .unwrap_or(after.len());
    if end == 0 {
        return None;
    }
    Some((&after[..end], &after[end..]))
}

/// `-` (the Common Log Format's "no value") as `None`.
#[inline]
pub(crate) fn dash_none(b: &[u8]) -> Option<&[u8]> {
    if b == b"-" || b.is_empty() { None } else { Some(b) }
}

/// How a raw text field is escaped, so results can decode it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Escapes {
    /// Apache / nginx: `\"`, `\\`, `\xHH`, `\n`, `\t`, `\r`.
    Log,
    /// JSON string escapes, `\uXXXX` with surrogate pairs.
    Json,
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decode a raw field into text. Unknown escapes are kept as written;
/// invalid UTF-8 is replaced (U+FFFD).
pub(crate) fn decode(raw: &[u8], escapes: Escapes) -> String {
    let mut scratch = Vec::new();
    String::from_utf8_lossy(decoded(raw, escapes, &mut scratch)).into_owned()
}

/// A raw field's bytes with its escapes decoded: `raw` itself when it holds
/// no backslash (most fields), else decoded into `scratch`.
#[inline]
pub(crate) fn decoded<'s>(raw: &'s [u8], escapes: Escapes, scratch: &'s mut Vec<u8>) -> &'s [u8] {
    if !has_backslash(raw) {
        return raw;
    }
    scratch.clear();
    unescape_into(raw, escapes, scratch);
    scratch
}

/// Whether `raw` holds a backslash. A field such as a client address is a
/// few bytes long, where a `memchr` call costs more than the search (3% of
/// the `timed` summary with `distinct_ips`, one thread): short fields are
/// searched eight (or four) bytes at a time in registers.
#[inline]
pub(crate) fn has_backslash(raw: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const SLASHES: u64 = 0x5c5c_5c5c_5c5c_5c5c;
    // Whether some byte of `w` is a backslash: exact, by the zero-byte test
    // on `w` with every backslash turned into zero.
    let any = |w: u64| {
        let x = w ^ SLASHES;
        x.wrapping_sub(ONES) & !x & HIGHS != 0
    };
    let n = raw.len();
    if n > 32 {
        return memchr::memchr(b'\\', raw).is_some();
    }
    if n >= 8 {
        let word = |at: usize| u64::from_le_bytes(raw[at..at + 8].try_into().expect("8 bytes"));
        let mut at = 0;
        while at + 8 < n {
            if any(word(at)) {
                return true;
            }
            at += 8;
        }
        // The last eight bytes, overlapping what was searched.
        return any(word(n - 8));
    }
    if n >= 4 {
        // Two four-byte words, from each end, each in a word of its own
        // (the upper half zero, which is no backslash).
        let word = |at: usize| u64::from(u32::from_le_bytes(raw[at..at + 4].try_into().expect("4 bytes")));
        return any(word(0)) || any(word(n - 4));
    }
    raw.contains(&b'\\')
}

/// The bytes of a raw field with its escapes decoded, appended to `out`;
/// bytes that are not UTF-8 are kept as they are.
pub(crate) fn unescape_into(raw: &[u8], escapes: Escapes, out: &mut Vec<u8>) {
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if c != b'\\' || i + 1 >= raw.len() {
            out.push(c);
            i += 1;
            continue;
        }
        let e = raw[i + 1];
        let simple = match e {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'n' => Some(b'\n'),
            b't' => Some(b'\t'),
            b'r' => Some(b'\r'),
            b'/' if escapes == Escapes::Json => Some(b'/'),
            b'b' if escapes == Escapes::Json => Some(8),
            b'f' if escapes == Escapes::Json => Some(12),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            i += 2;
            continue;
        }
        match (escapes, e) {
            (Escapes::Log, b'x') if raw.len() >= i + 4 => {
                if let (Some(h), Some(l)) = (hex(raw[i + 2]), hex(raw[i + 3])) {
                    out.push(h << 4 | l);
                    i += 4;
                    continue;
                }
            }
            (Escapes::Json, b'u') => {
                if let Some((ch, used)) = json_unicode(&raw[i..]) {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                    i += used;
                    continue;
                }
            }
            _ => {}
        }
        out.push(c);
        i += 1;
    }
}

/// Decode `\uXXXX` (and a following low surrogate) at the start of `b`.
pub(crate) fn json_unicode(b: &[u8]) -> Option<(char, usize)> {
    let unit = |b: &[u8]| -> Option<u32> {
        if b.len() < 6 || b[0] != b'\\' || b[1] != b'u' {
            return None;
        }
        b[2..6].iter().try_fold(0u32, |acc, &c| Some(acc << 4 | u32::from(hex(c)?)))
    };
    let hi = unit(b)?;
    if (0xD800..0xDC00).contains(&hi) {
        let lo = unit(&b[6..]).filter(|lo| (0xDC00..0xE000).contains(lo));
        return match lo {
            Some(lo) => char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)).map(|c| (c, 12)),
            None => Some(('\u{FFFD}', 6)),
        };
    }
    Some((char::from_u32(hi).unwrap_or('\u{FFFD}'), 6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_backslash_finds_one_at_every_offset_and_length() {
        for len in 0..48 {
            let clean = vec![b'a'; len];
            assert!(!has_backslash(&clean), "{len}");
            // Bytes next to a backslash's value must not count.
            assert!(
                !has_backslash(&vec![0x5d; len])
                    && !has_backslash(&vec![0x5b; len])
                    && !has_backslash(&vec![0xdc; len])
            );
            for at in 0..len {
                let mut b = clean.clone();
                b[at] = b'\\';
                assert!(has_backslash(&b), "{len} {at}");
                // A zero byte before it must not hide it.
                if at > 0 {
                    b[at - 1] = 0;
                    assert!(has_backslash(&b), "{len} {at} after a zero");
                }
            }
        }
    }

    fn path_of(uri: &[u8]) -> &[u8] {
        path_and_authority(uri).0
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration(b"0.123", TimeUnit::Seconds), Ok(Some(123_000)));
        assert_eq!(parse_duration(b"12", TimeUnit::Seconds), Ok(Some(12_000_000)));
        assert_eq!(parse_duration(b"1500", TimeUnit::Micros), Ok(Some(1500)));
        assert_eq!(parse_duration(b"2.5", TimeUnit::Millis), Ok(Some(2500)));
        assert_eq!(parse_duration(b"929675", TimeUnit::Nanos), Ok(Some(929)));
        assert_eq!(parse_duration(b"1.2e-05", TimeUnit::Seconds), Ok(Some(12)));
        assert_eq!(parse_duration(b"5E-1", TimeUnit::Millis), Ok(Some(500)));
        assert_eq!(parse_duration(b"1e400", TimeUnit::Seconds), Ok(Some(u64::MAX)));
        assert_eq!(parse_duration(b"-1e-3", TimeUnit::Seconds), Err(LineError::BadLatency));
        assert_eq!(parse_duration(b"1e", TimeUnit::Seconds), Err(LineError::BadLatency));
        assert_eq!(parse_duration(b".5", TimeUnit::Seconds), Ok(Some(500_000)));
        assert_eq!(parse_duration(b"-", TimeUnit::Seconds), Ok(None));
        assert_eq!(parse_duration(b"-1", TimeUnit::Seconds), Err(LineError::BadLatency));
        assert_eq!(parse_duration(b"1.2.3", TimeUnit::Seconds), Err(LineError::BadLatency));
        assert_eq!(parse_duration(b"", TimeUnit::Seconds), Err(LineError::BadLatency));
        assert_eq!(parse_duration(b".", TimeUnit::Seconds), Err(LineError::BadLatency));
        assert_eq!(parse_duration(b"0.1234567891234", TimeUnit::Seconds), Ok(Some(123_456)));
        assert_eq!(parse_duration(b"99999999999999999", TimeUnit::Seconds), Ok(Some(u64::MAX)));
    }

    /// The split-at-the-dot parse `plain_duration` replaced, kept as the
    /// reference its one-pass loop must agree with.
    fn split_duration(b: &[u8], unit: TimeUnit) -> Result<Option<u64>, LineError> {
        if b == b"-" {
            return Ok(None);
        }
        let (int, frac) = match b.iter().position(|&c| c == b'.') {
            Some(i) => (&b[..i], &b[i + 1..]),
            None => (b, &b""[..]),
        };
        if int.is_empty() && frac.is_empty() {
            return Err(LineError::BadLatency);
        }
        let int = if int.is_empty() { 0 } else { parse_u64(int).ok_or(LineError::BadLatency)? };
        let mut frac_nanos = 0u64;
        for (i, &c) in frac.iter().enumerate() {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                return Err(LineError::BadLatency);
            }
            if i < 9 {
                frac_nanos += u64::from(d) * 10u64.pow(8 - i as u32);
            }
        }
        Ok(Some(match unit {
            TimeUnit::Seconds => int.saturating_mul(1_000_000).saturating_add(frac_nanos / 1000),
            TimeUnit::Millis => int.saturating_mul(1000).saturating_add(frac_nanos / 1_000_000),
            TimeUnit::Micros => int.saturating_add(frac_nanos / 1_000_000_000),
            TimeUnit::Nanos => int / 1000,
        }))
    }

    /// `parse_duration` as it was before its plain form took one pass:
    /// `split_duration` first, the exponent form for what it refuses. The
    /// reference `plain_duration` (with the same exponent form) must agree
    /// with.
    fn duration_in_one(b: &[u8], unit: TimeUnit) -> Result<Option<u64>, LineError> {
        match split_duration(b, unit) {
            Err(LineError::BadLatency) => exponent_duration(b, unit),
            plain => plain,
        }
    }

    proptest::proptest! {
        #[test]
        fn durations_agree_with_the_parse_in_one(
            b in proptest::collection::vec(proptest::sample::select(b"0123456789.-eE+ x".to_vec()), 0..24),
            unit in proptest::sample::select(vec![TimeUnit::Seconds, TimeUnit::Millis, TimeUnit::Micros, TimeUnit::Nanos]),
        ) {
            proptest::prop_assert_eq!(parse_duration(&b, unit), duration_in_one(&b, unit));
        }

        #[test]
        fn one_pass_durations_agree_with_the_split_parse(
            b in proptest::collection::vec(proptest::sample::select(b"0123456789.-e+ x".to_vec()), 0..24),
            unit in proptest::sample::select(vec![TimeUnit::Seconds, TimeUnit::Millis, TimeUnit::Micros, TimeUnit::Nanos]),
        ) {
            proptest::prop_assert_eq!(plain_duration(&b, unit), split_duration(&b, unit));
        }
    }

    #[test]
    fn long_durations_agree_with_the_split_parse() {
        for b in [
            &b"1234567890123456789"[..],
            b"12345678901234567890",
            b"1234567890123456789.5",
            b"0000000000000000000",
            b"00000000000000000000",
            b"1.",
            b"1.000000000000001",
            b"18446744073709551615",
            b"9999999999999999999.999999999",
        ] {
            for unit in [TimeUnit::Seconds, TimeUnit::Millis, TimeUnit::Micros, TimeUnit::Nanos] {
                assert_eq!(plain_duration(b, unit), split_duration(b, unit), "{}", String::from_utf8_lossy(b));
            }
        }
    }

    #[test]
    fn requests() {
        assert_eq!(
            split_request(b"GET /a?b HTTP/1.1"),
            (Some(&b"GET"[..]), Some(&b"/a?b"[..]), Some(&b"HTTP/1.1"[..]))
        );
        assert_eq!(split_request(b"GET /"), (Some(&b"GET"[..]), Some(&b"/"[..]), None));
        assert_eq!(split_request(b"-"), (None, None, None));
        assert_eq!(split_request(b"\\x16\\x03\\x01\\x00\\xA5"), (None, None, None));
        assert_eq!(split_request(b"get / HTTP/1.1"), (None, None, None));
        assert_eq!(split_request(b"GET /a b c"), (None, None, None));
        assert_eq!(path_of(b"/a/b?x=1?y"), b"/a/b");
    }

    #[test]
    fn absolute_form_targets_have_the_path_of_their_uri() {
        assert_eq!(path_of(b"http://example.com/a/b?x=1"), b"/a/b");
        assert_eq!(path_of(b"https://user@example.com:8443/a"), b"/a");
        assert_eq!(path_of(b"http://example.com"), b"/");
        assert_eq!(path_of(b"http://example.com?x"), b"/");
        assert_eq!(split_absolute(b"http://example.com:80/a?b"), Some((&b"example.com:80"[..], &b"/a?b"[..])));
        // Not absolute form: their own path, as before.
        assert_eq!(path_of(b"*"), b"*");
        assert_eq!(path_of(b"example.com:443"), b"example.com:443");
        assert_eq!(path_of(b"http:/a?b"), b"http:/a");
        assert_eq!(path_of(b"1http://x/a"), b"1http://x/a");
        assert_eq!(path_of(b"http:///a"), b"http:///a");
        assert_eq!(path_of(b""), b"");
        assert_eq!(split_absolute(b"/a://b"), None);
        assert_eq!(path_and_authority(b"http://h:8/a?b"), (&b"/a"[..], Some(&b"h:8"[..])));
        assert_eq!(path_and_authority(b"https://h"), (&b"/"[..], Some(&b"h"[..])));
        assert_eq!(path_and_authority(b"/a?h://x"), (&b"/a"[..], None));
    }

    #[test]
    fn json_escaped_slashes_split_as_written_plainly() {
        // PHP's json_encode writes `/` as `\/`: the parts stay escaped (the
        // results decode them) but must be found as in the plain line.
        assert_eq!(
            split_request(br"GET \/a?b HTTP\/1.1"),
            (Some(&b"GET"[..]), Some(&br"\/a?b"[..]), Some(&br"HTTP\/1.1"[..]))
        );
        assert_eq!(path_and_authority(br"\/a?b"), (&br"\/a"[..], None));
        assert_eq!(path_and_authority(br"http:\/\/x.com\/a?b=1"), (&br"\/a"[..], Some(&b"x.com"[..])));
        assert_eq!(path_and_authority(br"http:\/\/x.com?b"), (&b"/"[..], Some(&b"x.com"[..])));
        assert_eq!(path_and_authority(br"http:\/\/x.com"), (&b"/"[..], Some(&b"x.com"[..])));
        // A backslash not before `/` stays in the authority.
        assert_eq!(split_absolute(br"http://a\x41b/c"), Some((&br"a\x41b"[..], &b"/c"[..])));
        assert_eq!(split_absolute(br"http:\/x"), None);
    }

    #[test]
    fn decoding() {
        assert_eq!(decode(br#"Mozilla \"x\" \\ \x41"#, Escapes::Log), r#"Mozilla "x" \ A"#);
        assert_eq!(decode(br#"\/a\u00e9\ud83d\ude00\q"#, Escapes::Json), "/a\u{e9}\u{1F600}\\q");
        assert_eq!(decode(b"trailing\\", Escapes::Log), "trailing\\");
        assert_eq!(decode(b"\\x4", Escapes::Log), "\\x4");
        assert_eq!(decode(b"\xff", Escapes::Log), "\u{FFFD}");
    }
}
