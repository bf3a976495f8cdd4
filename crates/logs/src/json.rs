//! JSON-lines logs: a small hand-written scanner that walks one object and
//! picks the configured fields by dotted path, without building a document
//! or allocating.

use std::fmt;

use pagemill_sketch::load_word;

use crate::error::Error;
use crate::plan::finish_paths;
use crate::record::{
    LineError, LogRecord, TimeUnit, dash_none, parse_bytes, parse_duration, parse_status, split_request,
};
use crate::scan::{find2, number_end};
use crate::time;

/// What a JSON field means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum JsonTarget {
    /// Client address.
    Ip,
    /// Authenticated user.
    User,
    /// Timestamp: ISO 8601 or CLF string, or a numeric epoch.
    Time,
    /// A whole request line, `GET /a HTTP/1.1`.
    Request,
    /// Method.
    Method,
    /// Request target with query.
    Uri,
    /// Request path without query.
    Path,
    /// Protocol.
    Protocol,
    /// Status code (number or string).
    Status,
    /// Response body bytes.
    Bytes,
    /// Referer header.
    Referrer,
    /// User-Agent header.
    UserAgent,
    /// Host.
    Host,
    /// Request time, in the unit given with the field.
    Latency,
    /// A query string logged apart from the target (nginx `"args":"$args"`).
    /// Not read by default (the logs job has no use for it); `redact
    /// --mask query` reads `args` and `query_string`.
    Query,
    /// An `X-Forwarded-For` list, an `X-Real-IP` address, or another key
    /// holding a client's address. Not read by default; `redact --mask ip`
    /// reads nginx's `http_x_forwarded_for`, `x_forwarded_for`,
    /// `http_x_real_ip` and `x_real_ip`, Traefik's and Caddy's (see the
    /// README), and masks every one present (not only the first, as for
    /// other targets).
    Forwarded,
}

const TARGETS: usize = 16;

/// The keys `redact --mask ip` reads as [`JsonTarget::Forwarded`] (beside
/// any `--json-field forwarded=...` names): nginx's `$http_x_forwarded_for`,
/// `$http_x_real_ip`, `$http_cf_connecting_ip`, `$http_true_client_ip` and
/// `$http_forwarded` under their variable names, with or without `http_`,
/// and its other client addresses, `$realip_remote_addr` and
/// `$proxy_protocol_addr`; ingress-nginx's `x_forward_for`;
/// Traefik's `ClientAddr` (the client's `address:port`, beside the
/// `ClientHost` the logs job reads) and its request headers
/// (`request_X-Forwarded-For`, ...); Caddy's request headers
/// (`request.headers.X-Forwarded-For`, an array of strings). Headers that
/// carry a client address: `X-Forwarded-For`, `X-Real-Ip`,
/// `Cf-Connecting-Ip`, `True-Client-Ip`, `Forwarded`, in the spelling each
/// server logs (and hyphenated, as hand-written templates name them).
pub(crate) const FORWARDED_KEYS: [&str; 29] = [
    "http_x_forwarded_for",
    "x_forwarded_for",
    "http_x_real_ip",
    "x_real_ip",
    "http_cf_connecting_ip",
    "cf_connecting_ip",
    "http_true_client_ip",
    "true_client_ip",
    "http_forwarded",
    "forwarded",
    "realip_remote_addr",
    "proxy_protocol_addr",
    // ingress-nginx's JSON template, and hand-written ones.
    "x_forward_for",
    "x-forward-for",
    "x-forwarded-for",
    "x-real-ip",
    "cf-connecting-ip",
    "true-client-ip",
    "ClientAddr",
    "request_X-Forwarded-For",
    "request_X-Real-Ip",
    "request_Cf-Connecting-Ip",
    "request_True-Client-Ip",
    "request_Forwarded",
    "request.headers.X-Forwarded-For",
    "request.headers.X-Real-Ip",
    "request.headers.Cf-Connecting-Ip",
    "request.headers.True-Client-Ip",
    "request.headers.Forwarded",
];

impl JsonTarget {
    /// The name [`JsonTarget::from_name`] reads.
    pub fn name(self) -> &'static str {
        match self {
            JsonTarget::Ip => "ip",
            JsonTarget::User => "user",
            JsonTarget::Time => "time",
            JsonTarget::Request => "request",
            JsonTarget::Method => "method",
            JsonTarget::Uri => "uri",
            JsonTarget::Path => "path",
            JsonTarget::Protocol => "protocol",
            JsonTarget::Status => "status",
            JsonTarget::Bytes => "bytes",
            JsonTarget::Referrer => "referrer",
            JsonTarget::UserAgent => "user_agent",
            JsonTarget::Host => "host",
            JsonTarget::Latency => "latency",
            JsonTarget::Query => "query",
            JsonTarget::Forwarded => "forwarded",
        }
    }

    /// Parse a target name: `ip`, `user`, `time`, `request`, `method`, `uri`, `path`,
    /// `protocol`, `status`, `bytes`, `referrer`, `user_agent`, `host`,
    /// `latency`, `query`.
    pub fn from_name(name: &str) -> Option<JsonTarget> {
        Some(match name {
            "ip" => JsonTarget::Ip,
            "user" => JsonTarget::User,
            "time" => JsonTarget::Time,
            "request" => JsonTarget::Request,
            "method" => JsonTarget::Method,
            "uri" => JsonTarget::Uri,
            "path" => JsonTarget::Path,
            "protocol" => JsonTarget::Protocol,
            "status" => JsonTarget::Status,
            "bytes" => JsonTarget::Bytes,
            "referrer" | "referer" => JsonTarget::Referrer,
            "user_agent" => JsonTarget::UserAgent,
            "host" => JsonTarget::Host,
            "latency" => JsonTarget::Latency,
            "query" => JsonTarget::Query,
            "forwarded" => JsonTarget::Forwarded,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Candidate {
    target: JsonTarget,
    /// Rank among the target's candidates: the lowest present wins.
    rank: u8,
    segments: Box<[Box<[u8]>]>,
    unit: TimeUnit,
}

/// Which JSON keys feed which field: for each [`JsonTarget`], a list of dotted
/// key paths (`request.headers.User-Agent`), the first one present in a line
/// winning.
///
/// The default reads nginx JSON `log_format`s (`remote_addr`, `remote_user`, `time_iso8601`
/// or `time_local`, `request`, `status`, `body_bytes_sent`, `request_time`,
/// `http_referer`, `http_user_agent`, ...), Caddy's access log (`ts`,
/// `request.remote_ip`, `request.method`, `request.uri`, `request.host`,
/// `request.headers.User-Agent`, `status`, `size`, `duration` in seconds) and
/// Traefik's (`ClientHost`, `StartUTC`, `RequestMethod`, `RequestPath`,
/// `DownstreamStatus`, `DownstreamContentSize`, `Duration` in nanoseconds).
#[derive(Clone, PartialEq, Eq)]
pub struct JsonFields {
    candidates: Vec<Candidate>,
    /// The distinct last keys of the candidates' paths, so each key of a
    /// line costs one table probe rather than a compare with every
    /// candidate.
    names: NameTable,
}

/// An open-addressed table from a key (the last segment of a candidate
/// path) to the candidates that end in it. A key is looked up by its
/// [`KeySig`]: its length and its first and last eight bytes, which for
/// keys of up to 16 bytes (nearly all log field names) is the whole key,
/// so the probe compares three integers and never calls `memcmp`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct NameTable {
    /// Index into `names` plus one; 0 marks an empty slot.
    slots: Box<[u32]>,
    names: Vec<Name>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Name {
    sig: KeySig,
    bytes: Box<[u8]>,
    /// The candidates ending in this key, in push order.
    hits: Box<[Hit]>,
}

/// What [`offer`] needs of one candidate, copied out of it so a top-level
/// key never touches the candidate list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Hit {
    target: JsonTarget,
    rank: u8,
    unit: TimeUnit,
    /// The number of segments in the candidate's path.
    depth: u8,
    /// Index into [`JsonFields::candidates`], for the upper segments of a
    /// nested path.
    candidate: u32,
}

/// A key's length and its first and last eight bytes (zero-padded when
/// shorter): equal signatures mean equal keys when the key has at most 16
/// bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct KeySig {
    len: usize,
    head: u64,
    tail: u64,
}

impl KeySig {
    #[inline]
    fn of(key: &[u8]) -> KeySig {
        let len = key.len();
        let head = load_word(key);
        let tail = if len >= 8 { u64::from_le_bytes(key[len - 8..].try_into().expect("8 bytes")) } else { 0 };
        KeySig { len, head, tail }
    }

    #[inline]
    fn slot(self, mask: usize) -> usize {
        let h = (self.head ^ self.tail.rotate_left(23) ^ self.len as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (h >> 40) as usize & mask
    }
}

impl NameTable {
    fn build(candidates: &[Candidate]) -> NameTable {
        let mut names: Vec<(&[u8], Vec<Hit>)> = Vec::new();
        for (i, c) in candidates.iter().enumerate() {
            let last: &[u8] = c.segments.last().map_or(&[], |s| s);
            let hit = Hit {
                target: c.target,
                rank: c.rank,
                unit: c.unit,
                depth: c.segments.len().min(usize::from(u8::MAX)) as u8,
                candidate: i as u32,
            };
            match names.iter_mut().find(|(n, _)| *n == last) {
                Some((_, hits)) => hits.push(hit),
                None => names.push((last, vec![hit])),
            }
        }
        let names: Vec<Name> = names
            .into_iter()
            .map(|(n, hits)| Name { sig: KeySig::of(n), bytes: n.into(), hits: hits.into() })
            .collect();
        // At most half full, so probes stay short.
        let size = (names.len() * 2).next_power_of_two().max(16);
        let mut slots = vec![0u32; size].into_boxed_slice();
        for (i, n) in names.iter().enumerate() {
            let mut s = n.sig.slot(size - 1);
            while slots[s] != 0 {
                s = (s + 1) & (size - 1);
            }
            slots[s] = i as u32 + 1;
        }
        NameTable { slots, names }
    }

    /// The candidates whose path ends in `key`.
    #[inline]
    fn get(&self, key: &[u8]) -> &[Hit] {
        self.get_sig(KeySig::of(key), key)
    }

    /// The candidates whose path ends in `key`, whose signature is `sig`.
    #[inline]
    fn get_sig(&self, sig: KeySig, key: &[u8]) -> &[Hit] {
        let mask = self.slots.len() - 1;
        let mut s = sig.slot(mask);
        loop {
            let i = self.slots[s];
            if i == 0 {
                return &[];
            }
            let n = &self.names[i as usize - 1];
            if n.sig == sig && (sig.len <= 16 || *n.bytes == *key) {
                return &n.hits;
            }
            s = (s + 1) & mask;
        }
    }
}

impl fmt::Debug for JsonFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for c in &self.candidates {
            let path: Vec<String> = c.segments.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect();
            m.entry(&c.target, &path.join("."));
        }
        m.finish()
    }
}

impl Default for JsonFields {
    fn default() -> JsonFields {
        use JsonTarget::*;
        use TimeUnit::*;
        let defaults: &[(JsonTarget, &[&str], TimeUnit)] = &[
            (
                Ip,
                &[
                    "remote_addr",
                    "client_ip",
                    "remote_ip",
                    "ClientHost",
                    "ip",
                    "request.client_ip",
                    "request.remote_ip",
                ],
                Seconds,
            ),
            (User, &["remote_user", "user", "user_id", "request.user_id", "ClientUsername"], Seconds),
            (
                Time,
                // Traefik's `StartUTC` (the request's start, to the
                // nanosecond) before logrus's `time` (when the line was
                // written, to the second, in local time).
                &["time_iso8601", "time_local", "timestamp", "StartUTC", "time", "@timestamp", "ts", "msec"],
                Seconds,
            ),
            (Request, &["request"], Seconds),
            (Method, &["request_method", "method", "request.method", "RequestMethod"], Seconds),
            (Uri, &["request_uri", "uri", "request.uri", "RequestPath", "url"], Seconds),
            (Path, &["path"], Seconds),
            (Protocol, &["server_protocol", "protocol", "proto", "request.proto", "RequestProtocol"], Seconds),
            (Status, &["status", "status_code", "response_status", "DownstreamStatus"], Seconds),
            (
                Bytes,
                &["body_bytes_sent", "bytes_sent", "size", "DownstreamContentSize", "bytes", "response_size"],
                Seconds,
            ),
            (
                Referrer,
                &["http_referer", "http_referrer", "referer", "referrer", "request.headers.Referer", "request_Referer"],
                Seconds,
            ),
            (
                UserAgent,
                &["http_user_agent", "user_agent", "request.headers.User-Agent", "request_User-Agent"],
                Seconds,
            ),
            (Host, &["host", "http_host", "server_name", "request.host", "RequestHost"], Seconds),
            (Latency, &["request_time", "duration"], Seconds),
        ];
        let mut fields = JsonFields::empty();
        for &(target, paths, unit) in defaults {
            for path in paths {
                fields.push(target, path, unit);
            }
        }
        fields.push(Latency, "Duration", Nanos);
        fields
    }
}

impl JsonFields {
    /// No fields at all; add them with [`set`](JsonFields::set).
    pub fn empty() -> JsonFields {
        JsonFields { candidates: Vec::new(), names: NameTable::build(&[]) }
    }

    fn push(&mut self, target: JsonTarget, path: &str, unit: TimeUnit) {
        // Only a latency has a unit; any other target's (`time ms` in
        // partials of releases that took and ignored one) means nothing.
        let unit = if target == JsonTarget::Latency { unit } else { TimeUnit::Seconds };
        let rank = self.candidates.iter().filter(|c| c.target == target).count().min(255) as u8;
        let segments = path.split('.').map(|s| s.as_bytes().into()).collect();
        self.candidates.push(Candidate { target, rank, segments, unit });
        self.reindex();
    }

    fn reindex(&mut self) {
        self.names = NameTable::build(&self.candidates);
    }

    /// Read `target` from `paths` only (the first present wins), replacing
    /// its defaults. `unit` is the unit of a latency field.
    pub fn set(&mut self, target: JsonTarget, paths: &[&str], unit: TimeUnit) -> &mut JsonFields {
        self.candidates.retain(|c| c.target != target);
        self.reindex();
        for path in paths {
            self.push(target, path, unit);
        }
        self
    }

    /// Apply a `TARGET=PATH[,PATH...][:UNIT]` setting, as given to
    /// `--json-field` (`latency=elapsed_ms:ms`, `ip=client.address`). Units,
    /// for `latency` only: `s`, `ms`, `us`, `ns`. (A `time` number's unit
    /// follows from its size, as for every epoch time: seconds, ms, µs or ns.)
    pub fn apply(&mut self, setting: &str) -> Result<&mut JsonFields, Error> {
        let bad = |why: &str| Error::Option { option: "json field", value: setting.to_string(), why: why.to_string() };
        let (name, rest) = setting.split_once('=').ok_or_else(|| bad("expected TARGET=PATH"))?;
        let target = JsonTarget::from_name(name.trim()).ok_or_else(|| {
            bad("unknown target (one of ip, user, time, request, method, uri, path, protocol, status, bytes, \
                 referrer, user_agent, host, latency, query, forwarded)")
        })?;
        let (paths, unit) = match rest.rsplit_once(':') {
            Some(_) if target != JsonTarget::Latency => {
                return Err(bad(
                    "a unit applies to latency only (a time number's unit follows from its size: s, ms, us or ns)",
                ));
            }
            Some((p, u)) => (
                p,
                match u {
                    "s" => TimeUnit::Seconds,
                    "ms" => TimeUnit::Millis,
                    "us" => TimeUnit::Micros,
                    "ns" => TimeUnit::Nanos,
                    _ => return Err(bad("unknown unit (use s, ms, us or ns)")),
                },
            ),
            None => (rest, TimeUnit::Seconds),
        };
        let paths: Vec<&str> = paths.split(',').map(str::trim).filter(|p| !p.is_empty()).collect();
        if paths.is_empty() {
            return Err(bad("no key path"));
        }
        Ok(self.set(target, &paths, unit))
    }

    /// Every configured (target, dotted key path, unit), in the order they
    /// are tried: pushing them in this order onto [`JsonFields::empty`] with
    /// [`push_entry`](JsonFields::push_entry) rebuilds these fields.
    pub fn entries(&self) -> impl Iterator<Item = (JsonTarget, String, TimeUnit)> + '_ {
        self.candidates.iter().map(|c| {
            let path: Vec<String> = c.segments.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect();
            (c.target, path.join("."), c.unit)
        })
    }

    /// Add one key path for `target` after the existing ones (see
    /// [`JsonFields::entries`]); unlike [`set`](JsonFields::set), it keeps
    /// the target's other paths.
    pub fn push_entry(&mut self, target: JsonTarget, path: &str, unit: TimeUnit) {
        self.push(target, path, unit);
    }

    /// Whether a latency field is configured.
    pub(crate) fn has_latency(&self) -> bool {
        self.candidates.iter().any(|c| c.target == JsonTarget::Latency)
    }

    /// Parse one JSON line.
    #[cfg(test)]
    pub(crate) fn parse<'a>(&self, line: &'a [u8], want_time: bool) -> Result<LogRecord<'a>, LineError> {
        crate::record::by_value(|rec| self.parse_into(line, want_time, rec))
    }

    /// Parse one JSON line into `rec` (see `LogFormat::parse_into`).
    pub(crate) fn parse_into<'a>(
        &self,
        line: &'a [u8],
        want_time: bool,
        rec: &mut LogRecord<'a>,
    ) -> Result<(), LineError> {
        self.parse_shaped(line, want_time, rec, &mut Shape::none())
    }

    /// [`parse_into`](JsonFields::parse_into), looking the top-level keys
    /// up in `shape` (the keys of the lines parsed before with it) first.
    pub(crate) fn parse_shaped<'a, 'f>(
        &'f self,
        line: &'a [u8],
        want_time: bool,
        rec: &mut LogRecord<'a>,
        shape: &mut Shape<'f>,
    ) -> Result<(), LineError> {
        self.parse_wanted(line, Want::All { time: want_time }, rec, shape, None, None)
    }

    #[inline(always)]
    fn parse_wanted<'a, 'f>(
        &'f self,
        line: &'a [u8],
        want: Want,
        rec: &mut LogRecord<'a>,
        shape: &mut Shape<'f>,
        every: Option<(&mut Every<'a>, &mut bool)>,
        strings: Option<&mut Vec<&'a [u8]>>,
    ) -> Result<(), LineError> {
        let mut found = Found {
            values: [None; TARGETS],
            ranks: [u8::MAX; TARGETS],
            units: [TimeUnit::Seconds; TARGETS],
            other_ip: None,
            every: Vec::new(),
            collect: matches!(want, Want::Text),
            strings: Vec::new(),
        };
        // The scanner that hands over strings of any key is a copy of its
        // own: the others (the logs job's) do not even test for it.
        let any_escaped = if strings.is_some() {
            self.scan::<true>(line, shape, &mut found)?
        } else {
            self.scan::<false>(line, shape, &mut found)?
        };
        match want {
            Want::Text => {
                found.text_fields(rec);
                if let Some((out, escaped)) = every {
                    *escaped = any_escaped;
                    out.extend(found.every.iter().filter_map(|&(t, v)| match v {
                        Value::Str(b) => Some((t, dash_none(b)?)),
                        // A numeric user id is a user too, and a number in
                        // a query a parameter (both masked as numbers).
                        Value::Bare(b) if matches!(t, JsonTarget::User | JsonTarget::Query) => Some((t, b)),
                        _ => None,
                    }));
                }
                if let Some(out) = strings {
                    out.append(&mut found.strings);
                }
                Ok(())
            }
            Want::All { time } => found.record(time, rec),
        }
    }

    /// Scan the object that is `line` into `found`, handing its strings of
    /// any key to `found.strings` if `LOOSE` ([`Found::loose_value`]);
    /// whether any string held an escape.
    #[inline(always)]
    fn scan<'a, 'f, const LOOSE: bool>(
        &'f self,
        line: &'a [u8],
        shape: &mut Shape<'f>,
        found: &mut Found<'a>,
    ) -> Result<bool, LineError> {
        let mut s = Scanner::<LOOSE> { b: line, p: 0, escaped: false, members: 0 };
        s.ws();
        if s.p == line.len() {
            return Err(LineError::Empty);
        }
        let mut path: [&[u8]; MAX_DEPTH] = [&[]; MAX_DEPTH];
        s.object(self, shape, &mut path, 0, found)?;
        shape.tally(s.members);
        s.ws();
        if s.p != line.len() {
            return Err(LineError::BadJson);
        }
        Ok(s.escaped)
    }

    /// Parse one JSON line for its text fields alone (addresses, user,
    /// request, query...): time, status, size and duration are neither read
    /// nor checked, so a line is refused only if it is not JSON. What the
    /// redactor masks by; every value (a string, not `-`; or a number, of a
    /// user or query) of every key present of the targets it masks
    /// (address, forwarded, user, query, target, request, referrer) goes to
    /// `every`. Where such a key's value is an object or array, every
    /// string and number inside it, at any depth, is such a value (ECS's
    /// `"user":{"name":...}`; keys stay out, as the object's structure).
    /// Strings go still escaped; `escaped` tells whether any string of the
    /// line holds an escape (when none does, nearly always, no value needs
    /// decoding).
    /// The members' leads are looked up in `shape` and taught to it, as
    /// [`parse_shaped`](JsonFields::parse_shaped) does.
    pub(crate) fn parse_text<'a, 'f>(
        &'f self,
        line: &'a [u8],
        every: &mut Vec<(JsonTarget, &'a [u8])>,
        escaped: &mut bool,
        shape: &mut Shape<'f>,
    ) -> Result<LogRecord<'a>, LineError> {
        crate::record::by_value(|rec| self.parse_wanted(line, Want::Text, rec, shape, Some((every, escaped)), None))
    }

    /// [`parse_text`](JsonFields::parse_text), handing over to `strings`
    /// as well the string values of the line (not its keys), under any key
    /// but an address or forwarded one, at any depth, that may be an
    /// address or a list of addresses ([`address_shaped`]): for the
    /// redactor's address mask, which masks every value that is one,
    /// wherever it is. They go still escaped, in the order they end, a
    /// string maybe twice (one inside a masked key's object).
    pub(crate) fn parse_text_and_strings<'a, 'f>(
        &'f self,
        line: &'a [u8],
        every: &mut Vec<(JsonTarget, &'a [u8])>,
        escaped: &mut bool,
        strings: &mut Vec<&'a [u8]>,
        shape: &mut Shape<'f>,
    ) -> Result<LogRecord<'a>, LineError> {
        crate::record::by_value(|rec| {
            self.parse_wanted(line, Want::Text, rec, shape, Some((every, escaped)), Some(strings))
        })
    }
}

/// Whether a candidate of `hits` at `path` is an address or forwarded key.
#[inline(never)]
fn address_key(fields: &JsonFields, hits: &[Hit], path: &[&[u8]]) -> bool {
    hits.iter().any(|h| matches!(h.target, JsonTarget::Ip | JsonTarget::Forwarded) && at_path(fields, h, path))
}

/// Whether `v`, a JSON string's contents (still escaped), may be an
/// address or a list of addresses that starts with one: it starts with 1
/// to 4 hex digits followed by `.` or `:` (an IPv4 octet, an IPv6 group),
/// or with `:` (`::1`) or `[` (`[2001:db8::1]:443`); a backslash there may
/// be an escape of any of them. Or it is an RFC 7239 `Forwarded` value
/// ([`forwarded_params`]: `for=192.0.2.60;proto=http`). So a time
/// (`2024-05-01T...`), a number, a word or a request line is passed over
/// after a byte or five, and only the few strings that pass are looked at
/// closely, by the redactor.
#[inline(always)]
pub(crate) fn address_shaped(v: &[u8]) -> bool {
    match v.first() {
        Some(b'[' | b':' | b'\\') => true,
        Some(c) if c.is_ascii_hexdigit() => {
            let head = &v[1..v.len().min(5)];
            head.iter().find(|b| !b.is_ascii_hexdigit()).is_some_and(|b| matches!(b, b'.' | b':' | b'\\'))
                || forwarded_params(v)
        }
        Some(b'p' | b'P' | b'h' | b'H') => forwarded_params(v),
        _ => false,
    }
}

/// Whether `v` starts as an RFC 7239 `Forwarded` header value does, with
/// one of its parameters (`for=`, `by=`, `proto=`, `host=`, in any case):
/// the `for` and `by` parameters hold addresses. The first byte decides
/// which one to compare, so most strings are passed over after one.
#[inline(always)]
pub(crate) fn forwarded_params(v: &[u8]) -> bool {
    let param: &[u8] = match v.first().map(|b| b | 0x20) {
        Some(b'f') => b"for=",
        Some(b'b') => b"by=",
        Some(b'p') => b"proto=",
        Some(b'h') => b"host=",
        _ => return false,
    };
    v.get(..param.len()).is_some_and(|head| head.eq_ignore_ascii_case(param))
}

/// Every value of the keys of the targets the redactor masks, with its
/// key's target ([`JsonFields::parse_text`]).
type Every<'a> = Vec<(JsonTarget, &'a [u8])>;

/// What a JSON parse fills in.
#[derive(Clone, Copy)]
enum Want {
    /// Every field; the time only if `time`.
    All { time: bool },
    /// The text fields only.
    Text,
}

const MAX_DEPTH: usize = 8;

/// The members of the last lines parsed, by position (the members of
/// every object, nested ones too, numbered in the order they stand): lines
/// of one server name the same keys in the same order, with the same bytes
/// between them, so the bytes from the end of one value to the start of
/// the next (`,"remote_addr":"`: the comma, the key, the colon and a
/// string's opening quote, with any white space) are recognised by one
/// compare with those of the line before, without scanning the key for its
/// closing quote, hashing it and probing the name table (a name-table
/// lookup was a quarter of the time of a JSON summary, the key's scan and
/// the separate checks of the comma, quotes and colon most of the rest). A
/// line that differs (a header more in Caddy's `request.headers`) takes
/// the scanner from there and teaches the shape its own leads; each
/// position keeps its last two, so lines of two shapes (an optional field)
/// find theirs. Lines whose keys come in varying orders would learn nearly
/// every lead: a shape that learns more than a quarter of a block's leads
/// rests, learning and using none, for [`REST_BLOCKS`] blocks.
#[derive(Debug, Default)]
pub(crate) struct Shape<'f> {
    /// Each position's two last leads, where remembered, the later first:
    /// lines of two shapes (an optional field there or not) find theirs.
    leads: Vec<[Option<Lead<'f>>; 2]>,
    /// Whether leads are used at all ([`Shape::new`]; one-off parses,
    /// which would only allocate, use none).
    learns: bool,
    /// Over the lines of the current block of [`BLOCK_LINES`]: lines,
    /// members, and leads learned (members whose lead was not the line
    /// before's).
    lines: u32,
    members: u64,
    learned: u64,
    /// Blocks left to rest, leads unused, after a block in which too many
    /// were learned.
    resting: u32,
}

/// Lines over which a [`Shape`] weighs how many leads it learns.
const BLOCK_LINES: u32 = 1024;

/// Blocks a [`Shape`] rests when more than a quarter of a block's members
/// had leads of their own: lines whose keys come in varying orders, or
/// vary in number, where learning (about 110 instructions a member, with
/// the failed compare) costs more than the leads save (about 40 each).
const REST_BLOCKS: u32 = 16;

/// The bytes that lead to a value: past its object's `{` and the
/// white space after it (the first member), or past the value before (the
/// others), up to the value itself, with the key they name and its
/// candidates.
#[derive(Debug)]
struct Lead<'f> {
    /// The bytes, zero-padded, as little-endian words.
    words: [u64; LEAD_WORDS],
    /// The bits of `words` that hold the lead's bytes (`CARE[len]`).
    care: [u64; LEAD_WORDS],
    /// The lead's length in bytes.
    len: u8,
    /// Where its key starts in it, and the key's length.
    key_at: u8,
    key_len: u8,
    /// Whether it ends in a string's opening quote.
    string: bool,
    hits: &'f [Hit],
}

/// Words in a lead: leads of up to 32 bytes are remembered.
const LEAD_WORDS: usize = 4;
const LEAD_MAX: usize = 8 * LEAD_WORDS;

/// For each lead length, the bits of a lead's words that hold its bytes.
const CARE: [[u64; LEAD_WORDS]; LEAD_MAX + 1] = {
    let mut care = [[0u64; LEAD_WORDS]; LEAD_MAX + 1];
    let mut len = 0;
    while len <= LEAD_MAX {
        let mut i = 0;
        while i < LEAD_WORDS {
            let bytes = if len >= 8 * (i + 1) { 8 } else { len.saturating_sub(8 * i) };
            care[len][i] = if bytes == 8 { u64::MAX } else { (1u64 << (8 * bytes)) - 1 };
            i += 1;
        }
        len += 1;
    }
    care
};

/// Members remembered by a [`Shape`].
const SHAPE_KEYS: usize = 64;

/// The little-endian word at `at` of `b`.
#[inline(always)]
fn word_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

impl<'f> Shape<'f> {
    /// A shape that learns and uses the leads of the lines it is given.
    pub(crate) fn new() -> Shape<'f> {
        Shape { learns: true, ..Shape::default() }
    }

    /// A shape that remembers nothing.
    pub(crate) fn none() -> Shape<'f> {
        Shape::default()
    }

    /// A lead remembered at position `at`, when `b` holds the same bytes
    /// at `p`. The remembered bytes were parsed as a comma (past the first
    /// member), a key without escapes, a colon and perhaps a string's
    /// opening quote, with white space between; the same bytes parse the
    /// same here.
    #[inline(always)]
    fn lead(&self, at: usize, b: &[u8], p: usize) -> Option<&Lead<'f>> {
        let [first, second] = self.leads.get(at)?;
        let first = first.as_ref()?;
        if first.is_at(b, p) {
            return Some(first);
        }
        second.as_ref().filter(|l| l.is_at(b, p))
    }

    /// Remember `b[start..end]` (a lead of the line being parsed, as
    /// [`Lead`] describes) at position `at`, its key at `key_at` in it of
    /// `key_len` bytes, with the key's candidates `hits`. A lead too long,
    /// or holding an escape, is not remembered (a scan of its key marks the
    /// line escaped).
    #[inline(always)]
    fn learn(&mut self, at: usize, b: &[u8], start: usize, end: usize, key: (usize, usize), hits: &'f [Hit]) {
        if self.on() {
            self.learned += 1;
            self.remember(at, b, start, end, key, hits);
        }
    }

    /// Count a line of `members` members; at the end of a block, rest (use
    /// and learn no lead) for [`REST_BLOCKS`] blocks if more than a quarter
    /// of its members learned their lead, or end a rest.
    #[inline(always)]
    fn tally(&mut self, members: usize) {
        if self.learns {
            self.lines += 1;
            self.members += members as u64;
            if self.lines == BLOCK_LINES {
                self.end_block();
            }
        }
    }

    /// Whether leads are learned (and so used) now: by a shape that
    /// learns, and not while it rests.
    #[inline(always)]
    fn on(&self) -> bool {
        self.learns && self.resting == 0
    }

    #[cold]
    fn end_block(&mut self) {
        if self.resting > 0 {
            self.resting -= 1;
        } else if self.learned * 4 > self.members {
            self.leads.clear();
            self.resting = REST_BLOCKS;
        }
        (self.lines, self.members, self.learned) = (0, 0, 0);
    }

    /// [`learn`](Shape::learn), for a shape that learns. Cheap, as lines
    /// whose keys come in another order than the line before's learn most
    /// of their leads: the words are loaded from the line, masked, and
    /// searched for a backslash as words.
    #[inline(never)]
    fn remember(&mut self, at: usize, b: &[u8], start: usize, end: usize, key: (usize, usize), hits: &'f [Hit]) {
        if at >= SHAPE_KEYS || at > self.leads.len() {
            return;
        }
        let len = end - start;
        let lead = (len <= LEAD_MAX)
            .then(|| {
                let care = &CARE[len];
                let at = words_at(b, start);
                let words: [u64; LEAD_WORDS] = std::array::from_fn(|i| at[i] & care[i]);
                (!words.iter().any(|&w| has_byte(w, b'\\'))).then_some(Lead {
                    words,
                    care: *care,
                    len: len as u8,
                    key_at: key.0 as u8,
                    key_len: key.1 as u8,
                    string: b[end - 1] == b'"',
                    hits,
                })
            })
            .flatten();
        if at == self.leads.len() {
            self.leads.push([lead, None]);
        } else {
            let ways = &mut self.leads[at];
            ways[1] = ways[0].take();
            ways[0] = lead;
        }
    }
}

/// The first [`LEAD_MAX`] bytes of `w` as little-endian words.
#[inline(always)]
fn words(w: &[u8]) -> [u64; LEAD_WORDS] {
    std::array::from_fn(|i| word_at(w, 8 * i))
}

/// The [`LEAD_MAX`] bytes of `b` at `at` as words, zero past its end.
#[inline(always)]
fn words_at(b: &[u8], at: usize) -> [u64; LEAD_WORDS] {
    match b.get(at..at + LEAD_MAX) {
        Some(w) => words(w),
        None => padded_words(&b[at..]),
    }
}

/// `rest` (under [`LEAD_MAX`] bytes), zero-padded, as words.
#[cold]
fn padded_words(rest: &[u8]) -> [u64; LEAD_WORDS] {
    let mut padded = [0u8; LEAD_MAX];
    padded[..rest.len()].copy_from_slice(rest);
    words(&padded)
}

/// Whether the word `w` holds the byte `c` (`c` not zero: the zero padding
/// is no match).
#[inline(always)]
fn has_byte(w: u64, c: u8) -> bool {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let x = w ^ (LOW * u64::from(c));
    x.wrapping_sub(LOW) & !x & HIGH != 0
}

impl Lead<'_> {
    /// Whether `b` holds the lead's bytes at `p`.
    #[inline(always)]
    fn is_at(&self, b: &[u8], p: usize) -> bool {
        match b.get(p..p + LEAD_MAX) {
            Some(w) => self.is(words(w)),
            None => self.near_end(b, p),
        }
    }

    /// [`is_at`](Lead::is_at) fewer than [`LEAD_MAX`] bytes before the
    /// end of `b`: all of the lead's bytes must be in it (the zero padding
    /// stands for no byte).
    #[cold]
    fn near_end(&self, b: &[u8], p: usize) -> bool {
        p + usize::from(self.len) <= b.len() && self.is(padded_words(&b[p..]))
    }

    /// Whether the words `w` hold the lead's bytes.
    #[inline(always)]
    fn is(&self, w: [u64; LEAD_WORDS]) -> bool {
        let diff = |i: usize| (w[i] ^ self.words[i]) & self.care[i];
        diff(0) | diff(1) | diff(2) | diff(3) == 0
    }
}

struct Found<'a> {
    values: [Option<Value<'a>>; TARGETS],
    ranks: [u8; TARGETS],
    units: [TimeUnit; TARGETS],
    /// The first address of another key than the one kept (Caddy's
    /// `remote_ip` beside `client_ip`): for redact to mask too.
    other_ip: Option<Value<'a>>,
    /// For the redactor (`collect`): every value of a target it masks, of
    /// every key present (a record keeps one key's; forwarded values have no
    /// rank at all), and every string and number inside an object or array
    /// such a key holds. Empty, unallocated, otherwise.
    every: Vec<(JsonTarget, Value<'a>)>,
    collect: bool,
    /// For the redactor: the string values of any key that may be
    /// addresses, when the scanner hands them over (`Scanner<true>`).
    strings: Vec<&'a [u8]>,
}

impl<'a> Found<'a> {
    /// Hand the string value `v` to the redactor, if it may be an address.
    #[inline(always)]
    fn loose_string(&mut self, v: &'a [u8]) {
        if address_shaped(v) {
            self.strings.push(v);
        }
    }

    /// [`loose_string`](Found::loose_string) for the string value `v` at
    /// `path`, whose last key's candidates are `hits`: not for the value of
    /// an address or forwarded key, which the redactor masks as such (the
    /// client address of nearly every line: no look twice, no allocation).
    /// The shape is looked at first: most values fail it at their first
    /// byte.
    #[inline(always)]
    fn loose_value(&mut self, fields: &JsonFields, hits: &[Hit], path: &[&[u8]], v: &'a [u8]) {
        if address_shaped(v) && !address_key(fields, hits, path) {
            self.strings.push(v);
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Value<'a> {
    /// String contents, still escaped.
    Str(&'a [u8]),
    /// A number, `true` or `false`.
    Bare(&'a [u8]),
    /// An object, or an array without a string first: no value a time,
    /// status, size or duration can be read from (see [`offer`]).
    Other,
}

impl<'a> Value<'a> {
    fn bytes(self) -> &'a [u8] {
        match self {
            Value::Str(b) | Value::Bare(b) => b,
            Value::Other => b"",
        }
    }
}

impl<'a> Found<'a> {
    fn get(&self, t: JsonTarget) -> Option<Value<'a>> {
        self.values[t as usize]
    }

    fn text(&self, t: JsonTarget) -> Option<&'a [u8]> {
        self.get(t).and_then(|v| dash_none(v.bytes()))
    }

    /// The value of a number target (time, status, size, duration): an
    /// object or array there is `wrong`, as a mistyped scalar is.
    #[inline(always)]
    fn number(&self, t: JsonTarget, wrong: LineError) -> Result<Option<Value<'a>>, LineError> {
        match self.get(t) {
            Some(Value::Other) => Err(wrong),
            v => Ok(v),
        }
    }

    fn record(&self, want_time: bool, rec: &mut LogRecord<'a>) -> Result<(), LineError> {
        use JsonTarget::*;
        self.text_fields(rec);
        if want_time && let Some(v) = self.number(Time, LineError::BadTime)? {
            rec.time = Some(
                match v {
                    Value::Str(b) => time::parse_any(b),
                    Value::Bare(b) => time::parse_epoch(b),
                    Value::Other => None,
                }
                .ok_or(LineError::BadTime)?,
            );
        }
        if let Some(v) = self.number(Status, LineError::BadStatus)? {
            rec.status = Some(parse_status(v.bytes())?);
        }
        if let Some(v) = self.number(Bytes, LineError::BadBytes)? {
            rec.bytes = Some(parse_bytes(v.bytes())?);
        }
        if let Some(v) = self.number(Latency, LineError::BadLatency)? {
            rec.latency_us = parse_duration(v.bytes(), self.units[Latency as usize])?;
        }
        Ok(())
    }

    /// The text fields of the record (the rest left empty).
    #[inline(always)]
    fn text_fields(&self, rec: &mut LogRecord<'a>) {
        use JsonTarget::*;
        *rec = LogRecord {
            ip: self.text(Ip),
            other_ip: self.other_ip.and_then(|v| dash_none(v.bytes())),
            user: self.text(User),
            referrer: self.text(Referrer),
            user_agent: self.text(UserAgent),
            host: self.text(Host),
            ..LogRecord::default()
        };
        if let Some(r) = self.text(Request) {
            rec.request = Some(r);
            let (m, u, p) = split_request(r);
            (rec.method, rec.uri, rec.protocol) = (m, u, p);
        }
        rec.method = self.text(Method).or(rec.method);
        rec.uri = self.text(Uri).or(rec.uri);
        rec.path = self.text(Path);
        rec.protocol = self.text(Protocol).or(rec.protocol);
        rec.query = self.text(Query);
        finish_paths(rec);
    }
}

/// Whether `c` ends a number or literal: what may follow a value.
#[inline]
fn ends_bare(c: u8) -> bool {
    matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n')
}

/// The scanner of one line; `LOOSE`: it hands the string values of any key
/// that may be addresses to the redactor ([`Found::loose_value`]).
struct Scanner<'a, const LOOSE: bool> {
    b: &'a [u8],
    p: usize,
    /// Whether a string scanned so far held an escape (for the redactor,
    /// which decodes those: set where a string's scan meets a backslash,
    /// off its common path).
    escaped: bool,
    /// The members of objects met so far, at any depth the path holds:
    /// the position of the next one in the line, by which [`Shape`]
    /// remembers leads.
    members: usize,
}

impl<'a, const LOOSE: bool> Scanner<'a, LOOSE> {
    /// Skip white space. Most logs are compact JSON, where the next byte
    /// is already past it: every JSON white-space byte is at most `b' '`,
    /// so one compare tells (the four-way test ran at each of the scanner's
    /// several calls per key).
    #[inline(always)]
    fn ws(&mut self) {
        if self.b.get(self.p).is_some_and(|&c| c > b' ') {
            return;
        }
        while self.p < self.b.len() && matches!(self.b[self.p], b' ' | b'\t' | b'\r' | b'\n') {
            self.p += 1;
        }
    }

    /// Past `c`, white space before it skipped. The byte is checked first:
    /// compact JSON (nearly every log) has no white space to skip, and only
    /// another byte is taken for white space, skipped and checked again.
    #[inline]
    fn eat(&mut self, c: u8) -> Result<(), LineError> {
        if self.b.get(self.p) == Some(&c) {
            self.p += 1;
            return Ok(());
        }
        self.ws();
        if self.b.get(self.p) == Some(&c) {
            self.p += 1;
            Ok(())
        } else {
            Err(LineError::BadJson)
        }
    }

    /// A string starting at the opening quote; returns its escaped contents.
    #[inline]
    fn string(&mut self) -> Result<&'a [u8], LineError> {
        self.eat(b'"')?;
        self.string_rest()
    }

    /// The rest of a string whose opening quote was just passed. Inlined:
    /// called, the slice came back through memory in two 8-byte stores
    /// that the caller loaded as one 16-byte value, which store forwarding
    /// cannot serve.
    #[inline(always)]
    fn string_rest(&mut self) -> Result<&'a [u8], LineError> {
        let start = self.p;
        loop {
            self.p = find2(self.b, self.p, b'"', b'\\').ok_or(LineError::BadJson)?;
            if self.b[self.p] == b'"' {
                let s = &self.b[start..self.p];
                self.p += 1;
                return Ok(s);
            }
            self.escaped = true;
            self.p += 2;
            if self.p > self.b.len() {
                return Err(LineError::BadJson);
            }
        }
    }

    /// A number or literal. Inlined: three of a typical line's values are
    /// numbers.
    #[inline(always)]
    fn bare(&mut self) -> Result<Option<&'a [u8]>, LineError> {
        let start = self.p;
        let b = self.b;
        if let Some(b'-' | b'0'..=b'9') = b.get(start) {
            // A number, checked as it is scanned (the loose grammar below).
            let p = number_end(b, start + 1);
            self.p = p;
            return match b.get(p) {
                Some(&c) if !ends_bare(c) => Err(LineError::BadJson),
                _ => Ok(Some(&b[start..p])),
            };
        }
        while self.p < self.b.len() && !ends_bare(self.b[self.p]) {
            self.p += 1;
        }
        let v = &self.b[start..self.p];
        match v {
            b"null" => Ok(None),
            b"true" | b"false" => Ok(Some(v)),
            _ => Err(LineError::BadJson),
        }
    }

    fn object<'f>(
        &mut self,
        fields: &'f JsonFields,
        shape: &mut Shape<'f>,
        path: &mut [&'a [u8]; MAX_DEPTH],
        depth: usize,
        found: &mut Found<'a>,
    ) -> Result<(), LineError> {
        self.eat(b'{')?;
        self.ws();
        if self.b.get(self.p) == Some(&b'}') {
            self.p += 1;
            return Ok(());
        }
        let mut first = true;
        loop {
            // Here a member's lead starts: past the `{` and the white space
            // after it, or past the value before. A lead that the line
            // before had at this position (counting the members of every
            // object in the order they stand) is taken whole (see `Shape`).
            let start = self.p;
            if depth < MAX_DEPTH
                && let Some(lead) = shape.lead(self.members, self.b, start)
            {
                let key_at = start + usize::from(lead.key_at);
                path[depth] = &self.b[key_at..key_at + usize::from(lead.key_len)];
                self.p = start + usize::from(lead.len);
                self.members += 1;
                first = false;
                // Strings and numbers, nearly every value, are taken here;
                // the rest (objects, arrays, literals, white space) by
                // `value`.
                let at = &path[..depth + 1];
                if lead.string {
                    self.string_value(fields, lead.hits, at, found)?;
                } else if let Some(b'-' | b'0'..=b'9') = self.b.get(self.p) {
                    self.bare_value(fields, lead.hits, at, found)?;
                } else {
                    self.value(fields, shape, lead.hits, path, depth + 1, found)?;
                }
                continue;
            }
            if !first && !self.member_end(b'}')? {
                return Ok(());
            }
            first = false;
            let key = self.string()?;
            let key_at = self.p - 1 - key.len();
            let hits = fields.names.get(key);
            self.eat(b':')?;
            if depth < MAX_DEPTH {
                self.ws();
                let end = if self.b.get(self.p) == Some(&b'"') { self.p + 1 } else { self.p };
                shape.learn(self.members, self.b, start, end, (key_at - start, key.len()), hits);
                self.members += 1;
                path[depth] = key;
                self.value(fields, shape, hits, path, depth + 1, found)?;
            } else {
                self.skip_value_of(depth + 1, found)?;
            }
        }
    }

    /// A number or literal at `path`, whose last key's candidates are
    /// `hits`.
    #[inline(always)]
    fn bare_value(
        &mut self,
        fields: &JsonFields,
        hits: &[Hit],
        path: &[&'a [u8]],
        found: &mut Found<'a>,
    ) -> Result<(), LineError> {
        if let Some(v) = self.bare()? {
            offer(fields, hits, path, Value::Bare(v), found);
        }
        Ok(())
    }

    /// A string value at `path`, whose last key's candidates are `hits`,
    /// its opening quote just passed.
    #[inline(always)]
    fn string_value(
        &mut self,
        fields: &JsonFields,
        hits: &[Hit],
        path: &[&'a [u8]],
        found: &mut Found<'a>,
    ) -> Result<(), LineError> {
        let v = self.string_rest()?;
        offer(fields, hits, path, Value::Str(v), found);
        if LOOSE {
            found.loose_value(fields, hits, path, v);
        }
        Ok(())
    }

    /// Past the `,` (true) or the `close` (false) after a member of an
    /// object or array, white space before it skipped (checked first, as
    /// [`eat`](Scanner::eat) does); any other byte is an error.
    #[inline(always)]
    fn member_end(&mut self, close: u8) -> Result<bool, LineError> {
        let at = |s: &Self| match s.b.get(s.p) {
            Some(b',') => Some(true),
            Some(&c) if c == close => Some(false),
            _ => None,
        };
        let more = match at(self) {
            Some(more) => more,
            None => {
                self.ws();
                at(self).ok_or(LineError::BadJson)?
            }
        };
        self.p += 1;
        Ok(more)
    }

    /// A value at `path[..depth]`, whose last key's candidates are `hits`.
    #[inline(always)]
    fn value<'f>(
        &mut self,
        fields: &'f JsonFields,
        shape: &mut Shape<'f>,
        hits: &[Hit],
        path: &mut [&'a [u8]; MAX_DEPTH],
        depth: usize,
        found: &mut Found<'a>,
    ) -> Result<(), LineError> {
        self.ws();
        match self.b.get(self.p) {
            Some(b'{') => {
                // Keys below are walked; a number field here is mistyped.
                offer_other(fields, hits, &path[..depth], found);
                if found.collect && !hits.is_empty() {
                    return self.object_to_mask(fields, shape, hits, path, depth, found);
                }
                self.object(fields, shape, path, depth, found)
            }
            Some(b'[') => {
                // Header arrays (`"User-Agent": ["curl/8"]`): the first element.
                self.p += 1;
                self.ws();
                let mut first = true;
                if self.b.get(self.p) == Some(&b']') {
                    self.p += 1;
                    offer_other(fields, hits, &path[..depth], found);
                    return Ok(());
                }
                loop {
                    if first && matches!(self.b.get(self.p), Some(b'"')) {
                        let v = self.string()?;
                        offer(fields, hits, &path[..depth], Value::Str(v), found);
                        if LOOSE {
                            found.loose_value(fields, hits, &path[..depth], v);
                        }
                    } else if found.collect && matches!(self.b.get(self.p), Some(b'"')) {
                        // For the redactor, the later strings too
                        // (`"X-Forwarded-For": ["a", "b"]`).
                        if first {
                            offer_other(fields, hits, &path[..depth], found);
                        }
                        let v = self.string()?;
                        collect_more(fields, hits, &path[..depth], Value::Str(v), found);
                        if LOOSE {
                            found.loose_value(fields, hits, &path[..depth], v);
                        }
                    } else {
                        if first {
                            offer_other(fields, hits, &path[..depth], found);
                        }
                        if found.collect && !hits.is_empty() {
                            // For the redactor: what an object or number
                            // in a masked key's array holds.
                            self.leaves_at(fields, hits, &path[..depth], depth, found)?;
                        } else {
                            self.skip_value_of(depth, found)?;
                        }
                    }
                    first = false;
                    if !self.member_end(b']')? {
                        return Ok(());
                    }
                    self.ws();
                }
            }
            Some(b'"') => {
                self.p += 1;
                self.string_value(fields, hits, &path[..depth], found)
            }
            Some(_) => self.bare_value(fields, hits, &path[..depth], found),
            None => Err(LineError::BadJson),
        }
    }

    /// For the redactor: an object at `path[..depth]`, whose last key's
    /// candidates are `hits`, walked as any object is (its keys may be
    /// candidates of their own: Caddy's `request.uri` in `request`), and
    /// then, if the path is a masked target's, walked again by
    /// [`leaves`](Scanner::leaves) for every string and number it holds.
    /// Kept apart from [`value`](Scanner::value), the hot path.
    #[inline(never)]
    fn object_to_mask<'f>(
        &mut self,
        fields: &'f JsonFields,
        shape: &mut Shape<'f>,
        hits: &[Hit],
        path: &mut [&'a [u8]; MAX_DEPTH],
        depth: usize,
        found: &mut Found<'a>,
    ) -> Result<(), LineError> {
        let targets = masked_hits(fields, hits, &path[..depth]);
        let start = self.p;
        self.object(fields, shape, path, depth, found)?;
        if targets != 0 {
            let end = self.p;
            self.p = start;
            self.leaves(depth, targets, found)?;
            self.p = end;
        }
        Ok(())
    }

    /// For the redactor: the value at the scanner (an element of an array at
    /// `path`, whose last key's candidates are `hits`) walked by
    /// [`leaves`](Scanner::leaves) if the path is a masked target's, else
    /// skipped.
    #[inline(never)]
    fn leaves_at(
        &mut self,
        fields: &JsonFields,
        hits: &[Hit],
        path: &[&[u8]],
        depth: usize,
        found: &mut Found<'a>,
    ) -> Result<(), LineError> {
        match masked_hits(fields, hits, path) {
            0 => self.skip_value_of(depth, found),
            targets => self.leaves(depth, targets, found),
        }
    }

    /// Skip the value at the scanner, handing its strings to the redactor
    /// if it takes strings of any key ([`Found::loose_string`]): walked by
    /// [`leaves`](Scanner::leaves) for no target then.
    fn skip_value_of(&mut self, depth: usize, found: &mut Found<'a>) -> Result<(), LineError> {
        if LOOSE { self.leaves(depth, 0, found) } else { self.skip_value(depth) }
    }

    /// For the redactor: walk any value, handing every string in it, at any
    /// depth, and every number, `true` and `false`, to each masked target of
    /// `targets` (a bit per [`JsonTarget`]), as the value of one of its keys,
    /// and its strings to [`Found::loose_string`].
    /// Keys are not handed on: they are the value's structure, and masking
    /// one could make two keys one. Nesting is bounded as in
    /// [`skip_value`](Scanner::skip_value).
    fn leaves(&mut self, depth: usize, targets: u32, found: &mut Found<'a>) -> Result<(), LineError> {
        if depth > 64 {
            return Err(LineError::BadJson);
        }
        self.ws();
        let leaf = match self.b.get(self.p) {
            Some(b'"') => {
                let v = self.string()?;
                if LOOSE {
                    found.loose_string(v);
                }
                Value::Str(v)
            }
            Some(&open @ (b'{' | b'[')) => return self.members(open, |s| s.leaves(depth + 1, targets, found)),
            Some(_) => match self.bare()? {
                Some(v) => Value::Bare(v),
                None => return Ok(()),
            },
            None => return Err(LineError::BadJson),
        };
        for t in MASKED_TARGETS {
            if targets & 1 << t as u32 != 0 {
                found.every.push((t, leaf));
            }
        }
        Ok(())
    }

    /// Walk the members of the object or array that `open` (`{` or `[`,
    /// at the scanner) opens, up to its closing byte: `value` takes each
    /// member's value (an object's keys are read and passed over).
    #[inline(always)]
    fn members(
        &mut self,
        open: u8,
        mut value: impl FnMut(&mut Self) -> Result<(), LineError>,
    ) -> Result<(), LineError> {
        let close = if open == b'{' { b'}' } else { b']' };
        self.p += 1;
        self.ws();
        if self.b.get(self.p) == Some(&close) {
            self.p += 1;
            return Ok(());
        }
        loop {
            if open == b'{' {
                self.ws();
                self.string()?;
                self.eat(b':')?;
            }
            value(self)?;
            if !self.member_end(close)? {
                return Ok(());
            }
        }
    }

    /// Skip any value, checking its syntax loosely; nesting is bounded.
    fn skip_value(&mut self, depth: usize) -> Result<(), LineError> {
        if depth > 64 {
            return Err(LineError::BadJson);
        }
        self.ws();
        match self.b.get(self.p) {
            Some(b'"') => self.string().map(drop),
            Some(&open @ (b'{' | b'[')) => self.members(open, |s| s.skip_value(depth + 1)),
            Some(_) => self.bare().map(drop),
            None => Err(LineError::BadJson),
        }
    }
}

/// Record `value` for every target whose candidate path is `path`, if it
/// ranks before what the line already gave that target. `hits` are the
/// candidates whose path ends in `path`'s last key. Inlined: called, it
/// took `value` through memory, and copying it into `found` as one 16-byte
/// load of two 8-byte stores missed store forwarding (half of its time).
#[inline(always)]
fn offer<'a>(fields: &JsonFields, hits: &[Hit], path: &[&[u8]], value: Value<'a>, found: &mut Found<'a>) {
    for h in hits {
        if at_path(fields, h, path) {
            let t = h.target as usize;
            if found.collect && masked_target(h.target) {
                found.every.push((h.target, value));
            }
            if t == JsonTarget::Forwarded as usize {
                // Read for the redactor alone.
            } else if h.rank < found.ranks[t] {
                // The address it replaces (only an address's is kept) is
                // read first, so no other target loads its old value.
                if t == JsonTarget::Ip as usize && found.values[t].is_some() {
                    found.other_ip = found.other_ip.or(found.values[t]);
                }
                found.ranks[t] = h.rank;
                found.values[t] = Some(value);
                found.units[t] = h.unit;
            } else if t == JsonTarget::Ip as usize {
                found.other_ip = found.other_ip.or(Some(value));
            }
        }
    }
}

/// For the redactor: hand `value` (a later string of an array) to every
/// masked target whose candidate path is `path`, past the ranks a record
/// keeps.
#[inline(never)]
fn collect_more<'a>(fields: &JsonFields, hits: &[Hit], path: &[&[u8]], value: Value<'a>, found: &mut Found<'a>) {
    for h in hits {
        if at_path(fields, h, path) && masked_target(h.target) {
            found.every.push((h.target, value));
        }
    }
}

/// The targets whose every value the redactor masks ([`masked_target`]).
const MASKED_TARGETS: [JsonTarget; 7] = [
    JsonTarget::Ip,
    JsonTarget::Forwarded,
    JsonTarget::User,
    JsonTarget::Query,
    JsonTarget::Uri,
    JsonTarget::Request,
    JsonTarget::Referrer,
];

/// The targets whose every value the redactor masks.
#[inline(always)]
fn masked_target(t: JsonTarget) -> bool {
    matches!(
        t,
        JsonTarget::Ip
            | JsonTarget::Forwarded
            | JsonTarget::User
            | JsonTarget::Query
            | JsonTarget::Uri
            | JsonTarget::Request
            | JsonTarget::Referrer
    )
}

/// The masked targets (a bit per [`JsonTarget`]) of the candidates of
/// `hits` whose path is exactly `path`.
fn masked_hits(fields: &JsonFields, hits: &[Hit], path: &[&[u8]]) -> u32 {
    hits.iter()
        .filter(|h| masked_target(h.target) && at_path(fields, h, path))
        .fold(0, |bits, h| bits | 1 << h.target as u32)
}

/// Whether candidate `h`, whose last segment matched in the name table, is
/// the candidate of exactly `path` (the segments above it match too).
#[inline(always)]
fn at_path(fields: &JsonFields, h: &Hit, path: &[&[u8]]) -> bool {
    usize::from(h.depth) == path.len()
        && (path.len() == 1 || {
            let c = &fields.candidates[h.candidate as usize];
            c.segments.len() == path.len() && c.segments.iter().zip(path).all(|(a, b)| **a == **b)
        })
}

/// Offer an object, or an array without a string first, at `path` to the
/// candidates `hits`: only a number target takes it, and only where no key
/// gave that target a value yet (its rank is left as it was, so any value
/// found later replaces it: it never hides a value another key holds). Kept
/// apart from [`offer`], the hot path.
#[inline(never)]
fn offer_other(fields: &JsonFields, hits: &[Hit], path: &[&[u8]], found: &mut Found<'_>) {
    for h in hits {
        let number =
            matches!(h.target, JsonTarget::Time | JsonTarget::Status | JsonTarget::Bytes | JsonTarget::Latency);
        if number && at_path(fields, h, path) && found.values[h.target as usize].is_none() {
            found.values[h.target as usize] = Some(Value::Other);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_target_lists_every_target() {
        let e = JsonFields::default().apply("bogus=x").unwrap_err().to_string();
        let list = e.split_once("(one of ").and_then(|(_, l)| l.split_once(')')).map(|(l, _)| l).unwrap();
        let names: Vec<&str> = list.split(", ").collect();
        assert_eq!(names.len(), TARGETS, "{e}");
        for name in names {
            assert_eq!(JsonTarget::from_name(name).map(JsonTarget::name), Some(name));
        }
    }

    #[test]
    fn caddy_line() {
        let line = br#"{"level":"info","ts":1646861401.5241024,"logger":"http.log.access","msg":"handled request","request":{"remote_ip":"127.0.0.1","remote_port":"41342","proto":"HTTP/1.1","method":"GET","host":"localhost","uri":"/a?b=1","headers":{"User-Agent":["curl/7.82.0"],"Accept":["*/*"]}},"bytes_read":0,"user_id":"","duration":0.000929675,"size":10900,"status":200,"resp_headers":{"Server":["Caddy"]}}"#;
        let r = JsonFields::default().parse(line, true).unwrap();
        assert_eq!(r.ip, Some(&b"127.0.0.1"[..]));
        assert_eq!(r.method, Some(&b"GET"[..]));
        assert_eq!(r.path, Some(&b"/a"[..]));
        assert_eq!(r.host, Some(&b"localhost"[..]));
        assert_eq!(r.user_agent, Some(&b"curl/7.82.0"[..]));
        assert_eq!(r.status, Some(200));
        assert_eq!(r.bytes, Some(10900));
        assert_eq!(r.latency_us, Some(929));
        assert_eq!(r.time, Some(1_646_861_401_524_102));
    }

    #[test]
    fn a_shape_learned_from_other_lines_never_changes_a_record() {
        let f = JsonFields::default();
        let long_key = format!("{{\"a_key_longer_than_sixteen\":1,\"status\":201,{}\"x\":0}}", "\"k\":1,".repeat(70));
        let lines: Vec<&[u8]> = vec![
            br#"{"status":200,"remote_addr":"a","request":"GET /x HTTP/1.1","request_time":0.5}"#,
            br#"{"status_code":201,"remote_addr":"h"}"#,
            br#"{"statu\"s":1,"remote_addr":"i"}"#,
            br#"{"status":200,"remote_addr":"a"}"#,
            br#"{"remote_addr":"b","status":404,"request_uri":"/y?q","request_time":1}"#,
            br#"{"status":301}"#,
            br#"{"status":302,"remote_addr":"c","uri":"/u","request_uri":"/v","path":"/w"}"#,
            br#"{"request":{"remote_ip":"d","uri":"/n","headers":{"User-Agent":["curl"]}},"status":200}"#,
            br#"{"ts":1.5,"status":"500","duration":0.25,"Duration":7,"remote_addr":"e"}"#,
            br#"{"status":200,"remote_addr":"a","request":"GET /x HTTP/1.1","request_time":0.5}"#,
            br#"{"status":200,"status":404}"#,
            long_key.as_bytes(),
            br#"{"status":200,"remote_addr":"f"}"#,
            br#"{"remote_addr":1,"status":"x"}"#,
            br#"{"status":203,"remote_addr":"g"}"#,
            // Leads that end in a string's quote, met by other values.
            br#"{"status":203,"remote_addr":null,"request":"GET /a HTTP/1.1"}"#,
            br#"{"status":203,"remote_addr":["g"],"request":"GET /b HTTP/1.1"}"#,
            br#"{"status":203,"remote_addr": "g" ,"request":"GET /c HTTP/1.1"}"#,
            br#"{"status":203,"remote_addr":"g","request":"GET /d HTTP/1.1","request_time":0.5,"x":{"status":1}}"#,
            br#"{"status":203,"remote_addr":"g","request":"GET /d HTTP/1.1","request_time":0.5,"x":{"status":1}"#,
            br#"{"status":203,"remote_addr":"g","request":"GET /d HTTP/1.1","request_time":"#,
            // Nested objects: their members are positions too, counted in
            // the order they stand, so an extra member moves the later ones.
            br#"{"request":{"remote_ip":"d","uri":"/n","headers":{"User-Agent":["curl"]}},"status":200,"size":5}"#,
            br#"{"request":{"remote_ip":"e","uri":"/o","headers":{"User-Agent":["wget"]}},"status":201,"size":6}"#,
            br#"{"request":{"remote_ip":"f","uri":"/p","headers":{"Accept":["*/*"],"User-Agent":["x"]}},"status":202,"size":7}"#,
            br#"{"request":{"remote_ip":"g","uri":"/q","headers":"none"},"status":203,"size":8}"#,
            br#"{"request":{"remote_ip":"h","uri":"/r","headers":{"User-Agent":["y"]}},"status":204,"size":9}"#,
            br#"{"request":{"remote_ip":"i","uri":"/s","headers":{"User-Agent":["z"]}},"status":{"x":1},"size":9}"#,
            br#"{"request":{"remote_ip":"j","uri":"/t","headers":{"User-Agent":["z"]},"uri":"/u"},"status":205}"#,
            // A lead longer than a shape remembers.
            br#"{"a_key_much_longer_than_thirty_two_bytes":1,"status":204}"#,
            br#"{"a_key_much_longer_than_thirty_two_bytes":1,"status":205}"#,
        ];
        // Also with a key named for two targets.
        let mut two = JsonFields::default();
        two.apply("host=remote_addr").unwrap();
        for f in [&f, &two] {
            let mut shape = Shape::new();
            for round in 0..2 {
                for line in &lines {
                    let shaped = crate::record::by_value(|rec| f.parse_shaped(line, true, rec, &mut shape));
                    assert_eq!(shaped, f.parse(line, true), "round {round}: {}", String::from_utf8_lossy(line));
                }
            }
            assert!(shape.leads.len() <= SHAPE_KEYS);
        }
        let r = two.parse(lines[4], true).unwrap();
        assert_eq!((r.ip, r.host), (Some(&b"b"[..]), Some(&b"b"[..])));
        let r = f.parse(lines[4], true).unwrap();
        assert_eq!((r.ip, r.status, r.path), (Some(&b"b"[..]), Some(404), Some(&b"/y"[..])));
    }

    /// Lines whose keys come in varying orders make a shape rest (learning
    /// costs more than its leads save) and then try again; lines with an
    /// optional field find their leads in a position's second way. Every
    /// record is the fresh parse's.
    #[test]
    fn a_shape_rests_on_varying_orders_and_keeps_two_leads_a_position() {
        let f = JsonFields::default();
        let fields = [
            r#""remote_addr":"203.0.113.8""#,
            r#""status":200"#,
            r#""request":"GET /a?b HTTP/1.1""#,
            r#""body_bytes_sent":512"#,
            r#""request_time":0.25"#,
            r#""http_user_agent":"curl/8""#,
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut shape = Shape::new();
        let mut rested = false;
        let blocks = REST_BLOCKS as usize + 3;
        for n in 0..(blocks * 2 - 1) * BLOCK_LINES as usize / 2 {
            let mut order: Vec<&str> = fields.to_vec();
            if n < BLOCK_LINES as usize {
                for i in (1..order.len()).rev() {
                    order.swap(i, next() as usize % (i + 1));
                }
            } else if next() % 2 == 0 {
                order.insert(1, r#""remote_user":"ann""#);
            }
            let line = format!("{{{}}}", order.join(","));
            let shaped = crate::record::by_value(|rec| f.parse_shaped(line.as_bytes(), true, rec, &mut shape));
            assert_eq!(shaped, f.parse(line.as_bytes(), true), "{line}");
            rested |= shape.resting > 0;
            if n == BLOCK_LINES as usize {
                assert!(!shape.on() && shape.leads.is_empty(), "shuffled keys: resting");
            }
        }
        assert!(rested);
        // Back from its rest, in the second block of lines of two shapes:
        // no lead learned (each position holds both).
        assert!(shape.on() && shape.resting == 0);
        assert_eq!((shape.learned, shape.lines), (0, BLOCK_LINES / 2));
    }

    /// White space anywhere JSON allows it (before and after keys, colons,
    /// values and commas) reads as the compact line does, with a shape
    /// learned from compact lines or from spaced ones; and a line whose
    /// member ends in something else is still refused.
    #[test]
    fn white_space_between_tokens_reads_as_the_compact_line() {
        let f = JsonFields::default();
        let compact: &[u8] =
            br#"{"status":200,"remote_addr":"a","request":"GET /x HTTP/1.1","request_time":0.5,"n":{"k":[1,2]}}"#;
        let spaced: [&[u8]; 3] = [
            b"{ \"status\" : 200 , \"remote_addr\":\"a\" ,\"request\" :\"GET /x HTTP/1.1\", \"request_time\":0.5 , \"n\" : { \"k\" : [ 1 , 2 ] } }",
            b"{\t\"status\":\t200,\r\"remote_addr\":\"a\",\n\"request\":\"GET /x HTTP/1.1\",\"request_time\":0.5\t,\"n\":{\"k\":[1,2]}\t}",
            b"  {\"status\":200  ,\"remote_addr\"  :\"a\",  \"request\":\"GET /x HTTP/1.1\",\"request_time\":  0.5,\"n\":{\"k\":[1,2] }  }  ",
        ];
        let want = f.parse(compact, true).unwrap();
        assert_eq!((want.status, want.ip, want.latency_us), (Some(200), Some(&b"a"[..]), Some(500_000)));
        for first in [compact, spaced[0]] {
            let mut shape = Shape::new();
            for line in std::iter::once(first).chain(spaced).chain([compact]) {
                let got = crate::record::by_value(|rec| f.parse_shaped(line, true, rec, &mut shape));
                assert_eq!(got, Ok(want), "{}", String::from_utf8_lossy(line));
            }
            for bad in [&br#"{"status":200 ;"remote_addr":"a"}"#[..], br#"{"status" 200}"#, br#"{"status":200 "#] {
                let got = crate::record::by_value(|rec| f.parse_shaped(bad, true, rec, &mut shape));
                assert_eq!(got, Err(LineError::BadJson), "{}", String::from_utf8_lossy(bad));
            }
        }
    }

    #[test]
    fn bad_json() {
        let f = JsonFields::default();
        for line in [&b"{"[..], b"{\"a\":}", b"{\"a\":1} x", b"[1]", b"{\"a\":\"x}", b"{\"a\" 1}", b"{\"a\":nul}"] {
            assert_eq!(f.parse(line, true), Err(LineError::BadJson), "{}", String::from_utf8_lossy(line));
        }
        assert_eq!(f.parse(b"  ", true), Err(LineError::Empty));
        assert_eq!(f.parse(b"{\"status\":\"abc\"}", true), Err(LineError::BadStatus));
    }

    #[test]
    fn an_object_or_array_where_a_number_belongs_is_mistyped() {
        let f = JsonFields::default();
        let parse = |line: &'static str| f.parse(line.as_bytes(), true);
        assert_eq!(parse(r#"{"status":{"code":500}}"#), Err(LineError::BadStatus));
        assert_eq!(parse(r#"{"status":[500]}"#), Err(LineError::BadStatus));
        assert_eq!(parse(r#"{"status":[]}"#), Err(LineError::BadStatus));
        assert_eq!(parse(r#"{"body_bytes_sent":[10]}"#), Err(LineError::BadBytes));
        assert_eq!(parse(r#"{"request_time":{"s":0.5}}"#), Err(LineError::BadLatency));
        assert_eq!(parse(r#"{"time_iso8601":{"t":"x"}}"#), Err(LineError::BadTime));
        // Time is only read when wanted.
        assert!(f.parse(br#"{"time_iso8601":{"t":"x"}}"#, false).is_ok());
        // Another key's value wins, before or after the object.
        assert_eq!(parse(r#"{"status":{"a":1},"status":404}"#).unwrap().status, Some(404));
        assert_eq!(parse(r#"{"time_iso8601":{},"ts":1700000000}"#).unwrap().time, Some(1_700_000_000_000_000));
        assert_eq!(parse(r#"{"ts":1700000000,"time_iso8601":[1]}"#).unwrap().time, Some(1_700_000_000_000_000));
        // Text fields still read a header array's first string, and an
        // object where text belongs is no text.
        let r = parse(r#"{"request":{"method":"GET"},"http_user_agent":["curl/8"]}"#).unwrap();
        assert_eq!((r.request, r.user_agent), (None, Some(&b"curl/8"[..])));
    }

    /// For the redactor, every string and number inside a masked key's
    /// object or array is one of its values (an object's were none, and an
    /// array's only its strings at the top), at any depth; keys are not.
    #[test]
    fn the_strings_and_numbers_inside_a_masked_keys_object_or_array_are_collected() {
        let f = JsonFields::default();
        let deep = r#"{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":"deep"}}}}}}}}"#;
        let line = format!(
            r#"{{"user":{{"name":"alice","ids":[7,{{"k":"v"}}],"on":true,"none":null,"deep":{deep}}},"remote_addr":[{{"for":"1.2.3.4"}},"5.6.7.8"],"request":{{"uri":"/a?b","n":1}},"http_user_agent":{{"s":"ua"}},"status":200}}"#
        );
        let mut every = Vec::new();
        let mut escaped = true;
        let rec = f.parse_text(line.as_bytes(), &mut every, &mut escaped, &mut Shape::none()).unwrap();
        assert!(!escaped);
        let got: Vec<(JsonTarget, &str)> = every.iter().map(|&(t, v)| (t, std::str::from_utf8(v).unwrap())).collect();
        use JsonTarget::*;
        assert_eq!(
            got,
            [
                (User, "alice"),
                (User, "7"),
                (User, "v"),
                (User, "true"),
                (User, "deep"),
                (Ip, "1.2.3.4"),
                (Ip, "5.6.7.8"),
                (Uri, "/a?b"),
                (Request, "/a?b"),
            ]
        );
        // The record reads no text from an object, as before.
        assert_eq!((rec.user, rec.request, rec.uri), (None, None, Some(&b"/a?b"[..])));
        assert_eq!(f.parse(line.as_bytes(), true).unwrap().status, Some(200));
    }

    /// For the redactor's address mask: the string values of any key, at
    /// any depth (past the levels keys are read to, in arrays, in a masked
    /// key's object), that may be addresses; not keys, not the values of
    /// address keys (masked as such), not those that cannot start an
    /// address.
    #[test]
    fn string_values_that_may_be_addresses_are_handed_over_from_anywhere() {
        let f = JsonFields::default();
        let deep = r#"{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":["1.2.3.9",{"i":"::9"}]}}}}}}}}"#;
        let line = format!(
            r#"{{"clientIP":"1.2.3.4","remote_addr":"1.2.3.5","10.0.0.1":"key","ts":"2024-05-01T00:00:00Z","ua":"Mozilla/5.0","n":12,"list":[{{"x":"[::1]:80"}},"a:b","abcd1"],"user":{{"ip":"fe80::1%eth0"}},"deep":{deep},"esc":"\u0031.2.3.4","s":"","q":"1"}}"#
        );
        let (mut every, mut escaped, mut strings) = (Vec::new(), false, Vec::new());
        f.parse_text_and_strings(line.as_bytes(), &mut every, &mut escaped, &mut strings, &mut Shape::none()).unwrap();
        let got: Vec<&str> = strings.iter().map(|v| std::str::from_utf8(v).unwrap()).collect();
        assert_eq!(
            got,
            ["1.2.3.4", "[::1]:80", "a:b", "fe80::1%eth0", "fe80::1%eth0", "1.2.3.9", "::9", r"\u0031.2.3.4"]
        );
        assert!(escaped);
        for (v, shaped) in [
            ("203.0.113.7", true),
            ("2001:db8::1", true),
            ("dead:beef::1", true),
            ("::1", true),
            ("[::1]:443", true),
            (r"\u0032", true),
            ("fe80::1%eth0, 10.0.0.1", true),
            ("12345:", false),
            ("2024-05-01", false),
            ("gw.example", false),
            ("abc", false),
            ("", false),
            ("GET / HTTP/1.1", false),
            ("for=192.0.2.60;proto=http", true),
            ("For=\"[2001:db8:cafe::17]\"", true),
            ("by=203.0.113.43", true),
            ("proto=https;for=192.0.2.60", true),
            ("host=example.com", true),
            ("https://example.com/", false),
            ("format", false),
            ("bytes", false),
        ] {
            assert_eq!(address_shaped(v.as_bytes()), shaped, "{v}");
        }
    }

    #[test]
    fn name_table_finds_exactly_the_candidates_keys() {
        let keys = [
            "",
            "a",
            "ip",
            "status",
            "request",
            "remote_ip",
            "abcdefgh",
            "abcdefgh1",
            "body_bytes_sent",
            "http_user_agent_",
            "a_very_long_field_name_over_16",
            "a_very_long_field_name_over_17",
        ];
        let mut f = JsonFields::empty();
        for k in keys {
            f.push(JsonTarget::Host, k, TimeUnit::Seconds);
            f.push(JsonTarget::User, &format!("x.{k}"), TimeUnit::Seconds);
        }
        for k in keys {
            let got: Vec<&Candidate> =
                f.names.get(k.as_bytes()).iter().map(|h| &f.candidates[h.candidate as usize]).collect();
            assert_eq!(got.len(), 2, "{k}");
            assert!(got.iter().all(|c| *c.segments[c.segments.len() - 1] == *k.as_bytes()), "{k}");
        }
        for miss in ["b", "statu", "status_", "abcdefgi", "abcdefgh2", "a_very_long_field_name_over_18", "\0"] {
            assert!(f.names.get(miss.as_bytes()).is_empty(), "{miss}");
        }
        // Nested paths still need their upper segments.
        let r = f.parse(br#"{"y":{"ip":"no"},"x":{"ip":"yes"}}"#, false).unwrap();
        assert_eq!(r.user, Some(&b"yes"[..]));
    }

    #[test]
    fn settings() {
        let mut f = JsonFields::empty();
        f.apply("latency=t.ms:ms").unwrap().apply("path=p").unwrap();
        let r = f.parse(br#"{"t":{"ms":2.5},"p":"/x"}"#, true).unwrap();
        assert_eq!(r.latency_us, Some(2500));
        assert_eq!(r.uri, Some(&b"/x"[..]));
        assert!(f.apply("nope=x").is_err());
        assert!(f.apply("ip").is_err());
        assert!(f.apply("latency=x:h").is_err());
        // A unit is the latency's alone: it would be ignored anywhere else,
        // and one recorded for another target (an earlier release's
        // partial) is dropped, so such partials describe the same fields.
        assert!(f.apply("time=t:ms").is_err());
        assert!(f.apply("status=s:s").is_err());
        let mut old = JsonFields::empty();
        old.push_entry(JsonTarget::Time, "t", TimeUnit::Millis);
        old.push_entry(JsonTarget::Latency, "d", TimeUnit::Millis);
        let units: Vec<TimeUnit> = old.entries().map(|(_, _, u)| u).collect();
        assert_eq!(units, [TimeUnit::Seconds, TimeUnit::Millis]);
    }
}
