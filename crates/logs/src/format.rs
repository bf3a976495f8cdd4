use std::fmt;
use std::str::FromStr;

use crate::error::Error;
use crate::json::{JsonFields, JsonTarget, Shape};
use crate::plan::{Plan, Syntax};
use crate::record::{Escapes, LineError, LogRecord, TimeUnit};

/// The Apache `LogFormat` of the `common` preset.
pub const COMMON: &str = r#"%h %l %u %t "%r" %>s %b"#;
/// The Apache `LogFormat` of the `combined` preset (also nginx's default).
pub const COMBINED: &str = r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i""#;
/// nginx's default `main` `log_format`: `combined` plus the
/// `X-Forwarded-For` list, which `detect` tells apart so that `redact`
/// masks the list's addresses.
pub const MAIN: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for""#;
/// The fields of [`MAIN`] as the `main` preset reads them: with any ident
/// (nginx writes `-`; combined reads any), so a line of another server that
/// carries the list is read whole.
pub(crate) const MAIN_READ: &str = r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" "%{X-Forwarded-For}i""#;
/// Apache's `vhost_combined` (Debian's and Ubuntu's
/// `other_vhosts_access.log`): the virtual host and port, then `combined`
/// with the bytes sent headers included (`%O`).
pub const VHOST_COMBINED: &str = r#"%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i""#;
/// The nginx `log_format` of the `timed` preset: `combined` plus
/// `$request_time` in seconds.
pub const TIMED: &str = r#"$remote_addr $ident $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time"#;

/// How log lines are read: a preset, a custom format string, or JSON lines.
///
/// | name | lines |
/// |---|---|
/// | `common` | `%h %l %u %t "%r" %>s %b` (Common Log Format) |
/// | `combined` | `common` plus `"%{Referer}i" "%{User-Agent}i"` (Apache and nginx default) |
/// | `timed` | `combined` plus nginx `$request_time` (seconds) |
/// | `main` | nginx's default: `combined` plus `"$http_x_forwarded_for"` ([`MAIN`]); a line without the list is read as `combined`, one with a broken list is malformed |
/// | `vhost_combined` | Apache's `%v:%p` (virtual host and port) before `combined`, `%O` for bytes ([`VHOST_COMBINED`]; Debian's `other_vhosts_access.log`) |
/// | `json` | one JSON object per line, fields per [`JsonFields`] |
///
/// Custom formats: a string with `%` directives is an Apache `LogFormat`
/// (`%h %a %l %u %t %{...}t %r %m %U %q %H %>s %s %b %B %D %T %{ms}T %v
/// %{Referer}i %{User-Agent}i %{Host}i`; other directives are skipped); a
/// string with `$variables` is an nginx `log_format` (`$remote_addr
/// $time_local $time_iso8601 $msec $request $request_method $request_uri $uri
/// $args $server_protocol $status $body_bytes_sent $bytes_sent $http_referer
/// $http_user_agent $host $http_host $server_name $request_time`; other
/// variables are skipped). Text after the last field of a line is ignored,
/// so `combined` also reads `timed` lines.
#[derive(Clone, Debug)]
pub struct LogFormat {
    name: String,
    kind: Kind,
}

#[derive(Clone, Debug)]
enum Kind {
    Text(Plan, Syntax),
    Json(JsonFields),
}

impl LogFormat {
    /// The Common Log Format.
    pub fn common() -> LogFormat {
        LogFormat::preset("common", COMMON, Syntax::Apache)
    }

    /// The combined format (Apache and nginx default).
    pub fn combined() -> LogFormat {
        LogFormat::preset("combined", COMBINED, Syntax::Apache)
    }

    /// nginx's default `main` format ([`MAIN`]): combined plus the
    /// `X-Forwarded-For` list, which the redactor masks. A line that does
    /// not match it (no list) is read as combined, unless a quoted field
    /// it cannot read follows the user agent (a broken list): that line is
    /// malformed, not read with its list unread.
    pub fn main() -> LogFormat {
        let plan = Plan::compile(MAIN_READ, Syntax::Apache).expect("preset formats compile");
        let combined = Plan::compile(COMBINED, Syntax::Apache).expect("preset formats compile");
        LogFormat { name: "main".to_string(), kind: Kind::Text(plan.with_fallback(combined), Syntax::Nginx) }
    }

    /// Apache's `vhost_combined` ([`VHOST_COMBINED`]): the virtual host
    /// (grouped by as `host`) and port before the combined fields.
    pub fn vhost_combined() -> LogFormat {
        LogFormat::preset("vhost_combined", VHOST_COMBINED, Syntax::Apache)
    }

    /// Combined plus a trailing request time in seconds.
    pub fn timed() -> LogFormat {
        LogFormat::preset("timed", TIMED, Syntax::Nginx)
    }

    /// JSON lines with the default field names ([`JsonFields::default`]).
    pub fn json() -> LogFormat {
        LogFormat::json_with(JsonFields::default())
    }

    /// JSON lines with the given field names.
    pub fn json_with(fields: JsonFields) -> LogFormat {
        LogFormat { name: "json".to_string(), kind: Kind::Json(fields) }
    }

    fn preset(name: &str, fmt: &str, syntax: Syntax) -> LogFormat {
        let plan = Plan::compile(fmt, syntax).expect("preset formats compile");
        LogFormat { name: name.to_string(), kind: Kind::Text(plan, syntax) }
    }

    /// Compile an Apache `LogFormat` string.
    pub fn apache(format: &str) -> Result<LogFormat, Error> {
        Ok(LogFormat {
            name: format.to_string(),
            kind: Kind::Text(Plan::compile(format, Syntax::Apache)?, Syntax::Apache),
        })
    }

    /// Compile an nginx `log_format` string.
    pub fn nginx(format: &str) -> Result<LogFormat, Error> {
        Ok(LogFormat {
            name: format.to_string(),
            kind: Kind::Text(Plan::compile(format, Syntax::Nginx)?, Syntax::Nginx),
        })
    }

    /// Detect the format from the first lines of `sample` (up to 32 non-empty
    /// lines): JSON if they start with `{`, else the most specific of
    /// `timed`, `main` (nginx's default: `combined` and the `X-Forwarded-For`
    /// list), `vhost_combined`, `combined` and `common` that parses most of them (more than
    /// half, so a few junk lines do not defeat detection). `main`, whose
    /// plan reads a line without the list as `combined` does, also needs
    /// one sampled line with the list.
    ///
    /// Timestamps are not parsed (a query that uses none reads lines whose
    /// time is odd), and a UTF-8 byte order mark before the first line is
    /// skipped.
    pub fn detect(sample: &[u8]) -> Result<LogFormat, Error> {
        let sample = sample.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(sample);
        let lines: Vec<&[u8]> = sample
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .take(32)
            .collect();
        if lines.is_empty() {
            // Nothing to look at (an empty input): any format gives no records.
            return Ok(LogFormat::combined());
        }
        let starts_json = lines.iter().filter(|l| l.trim_ascii_start().starts_with(b"{")).count();
        let mut candidates = vec![
            LogFormat::timed(),
            LogFormat::main(),
            LogFormat::vhost_combined(),
            LogFormat::combined(),
            LogFormat::common(),
        ];
        if starts_json * 2 > lines.len() {
            candidates.insert(0, LogFormat::json());
        }
        for format in candidates {
            let ok =
                lines.iter().filter(|l| format.parse_with(l, false).is_ok_and(|r| format.strict_match(l, r))).count();
            // `main` reads combined lines as combined does: it is chosen
            // where one sampled line carries the forwarded list (a file
            // whose format changed part-way, a list on some lines only).
            let carries = format.name() != "main"
                || matches!(&format.kind, Kind::Text(p, _) if lines.iter().any(|l| p.matches_own(l)));
            if ok * 2 > lines.len() && carries {
                return Ok(format);
            }
        }
        Err(Error::Detect { lines: lines.len() })
    }

    /// Whether a parsed `line` uses what makes this format more specific
    /// than the next one tried by [`detect`](LogFormat::detect): for
    /// `timed`, a request time as nginx writes `$request_time` (seconds
    /// with a millisecond fraction, `0.004`). A bare integer there is
    /// something else: Apache's `%D` (microseconds), Traefik's request
    /// counter; read as seconds it would be off by orders of magnitude.
    /// For `vhost_combined`, a port as Apache writes `%p` (digits) after
    /// the virtual host, which is no bare IPv6 address: a combined line
    /// whose client is one (`2001:db8::1 - ...`) also splits at a colon,
    /// and would be read with the address as the host and a user name's
    /// words as the client and ident.
    /// Any JSON object is a JSON line (events without a request, such as
    /// Caddy's start-up messages, are counted as `no-request` later).
    fn strict_match(&self, line: &[u8], rec: LogRecord<'_>) -> bool {
        match self.name.as_str() {
            "timed" => {
                // The request time is the token after the user agent's
                // closing quote (more fields may follow it, ignored).
                let after_agent = line.windows(2).rposition(|w| w == b"\" ").map_or(line, |i| &line[i + 2..]);
                let time = after_agent.split(|&b| b == b' ').next().unwrap_or_default();
                rec.latency_us.is_some()
                    && time.iter().position(|&b| b == b'.').is_some_and(|dot| {
                        dot > 0 && dot + 1 < time.len() && time.iter().all(|&b| b == b'.' || b.is_ascii_digit())
                    })
            }
            "vhost_combined" => {
                // The host ends where the line was read to end it. A bare
                // IPv6 host is ambiguous (`2001:db8::1:443` could be such a
                // combined line's client `2001:db8::1` followed by a user
                // name's words), so it does not vouch for the format; in
                // brackets it does.
                let Some(colon) = crate::plan::port_colon(line, 0) else { return false };
                let host = &line[..colon];
                let port = line[colon + 1..].split(|&b| b == b' ').next().unwrap_or_default();
                (!host.contains(&b':') || host.starts_with(b"["))
                    && (1..=5).contains(&port.len())
                    && port.iter().all(u8::is_ascii_digit)
            }
            _ => true,
        }
    }

    /// Parse `spec` as [`FromStr`] does, except that `auto` detects the
    /// format from `sample` (the start of the first input) with
    /// [`LogFormat::detect`].
    pub fn resolve(spec: &str, sample: &[u8]) -> Result<LogFormat, Error> {
        if spec == "auto" { LogFormat::detect(sample) } else { spec.parse() }
    }

    /// Read JSON lines with `fields` instead of the defaults. Fails for a
    /// text format, where field names mean nothing.
    pub fn set_json_fields(&mut self, fields: JsonFields) -> Result<&mut LogFormat, Error> {
        match &mut self.kind {
            Kind::Json(f) => {
                *f = fields;
                Ok(self)
            }
            Kind::Text(..) => {
                Err(Error::option("json field", &self.name, "JSON field names only apply to the json format"))
            }
        }
    }

    /// The preset name or the format string.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether lines of this format are JSON objects (whose lines may be
    /// other events than requests: see [`LogFormat::require_request`]).
    pub fn is_json(&self) -> bool {
        matches!(self.kind, Kind::Json(_))
    }

    /// `rec`, parsed from a line of this format, as a request: a JSON line
    /// naming none of a request's fields ([`LogRecord::has_request`]) is
    /// another kind of event, [`LineError::NoRequest`]. The logs job and
    /// the SQL logs table apply this after parsing; [`parse`](LogFormat::parse)
    /// itself gives such a line's (empty) record.
    pub fn require_request(&self, rec: &LogRecord<'_>) -> Result<(), LineError> {
        if self.is_json() && !rec.has_request() { Err(LineError::NoRequest) } else { Ok(()) }
    }

    /// How many request-time fields a text format has (a JSON format reads
    /// one key, the first present).
    pub(crate) fn latency_fields(&self) -> usize {
        match &self.kind {
            Kind::Text(p, _) => p.latency_fields(),
            Kind::Json(_) => 0,
        }
    }

    /// Whether releases of partial rules 2 and before read lines of this
    /// text format otherwise (time pieces, an unquoted forwarded list).
    pub(crate) fn read_otherwise_before_rules_3(&self) -> bool {
        match &self.kind {
            Kind::Text(p, _) => p.read_otherwise_before_rules_3(),
            Kind::Json(_) => false,
        }
    }

    /// Whether releases of partial rules 3 and before read lines of this
    /// text format otherwise (an address followed by `:` and a port).
    pub(crate) fn read_otherwise_before_rules_4(&self) -> bool {
        match &self.kind {
            Kind::Text(p, _) => p.read_otherwise_before_rules_4(),
            Kind::Json(_) => false,
        }
    }

    /// Whether releases of partial rules 4 and before read lines of this
    /// text format otherwise (a host followed by `:` and a port).
    pub(crate) fn read_otherwise_before_rules_5(&self) -> bool {
        match &self.kind {
            Kind::Text(p, _) => p.read_otherwise_before_rules_5(),
            Kind::Json(_) => false,
        }
    }

    /// Whether lines of this format carry a request time.
    pub fn has_latency(&self) -> bool {
        match &self.kind {
            Kind::Text(p, _) => p.has_latency(),
            Kind::Json(f) => f.has_latency(),
        }
    }

    /// Parse one line (without its newline).
    #[inline]
    pub fn parse<'a>(&self, line: &'a [u8]) -> Result<LogRecord<'a>, LineError> {
        self.parse_with(line, true)
    }

    /// Parse one line; with `want_time` false the timestamp is located but not
    /// parsed (nor checked): `time` stays `None`. For queries that use no
    /// time, the timestamp is the costliest field of a line.
    #[inline]
    pub fn parse_with<'a>(&self, line: &'a [u8], want_time: bool) -> Result<LogRecord<'a>, LineError> {
        crate::record::by_value(|rec| self.parse_into(line, want_time, rec))
    }

    /// Where a text line's fields that the format names but does not read
    /// lie, each with whether it is the ident (see `Plan::unread_fields`);
    /// empty for JSON.
    pub(crate) fn unread_fields(&self, line: &[u8]) -> Vec<(std::ops::Range<usize>, bool)> {
        match &self.kind {
            Kind::Text(p, _) => p.unread_fields(line),
            Kind::Json(_) => Vec::new(),
        }
    }

    /// Parse one line for what the redactor masks: a text line as
    /// [`parse_with`](LogFormat::parse_with) without the time; a JSON line
    /// for its text fields alone, so that a mistyped number (an object
    /// where the status belongs) does not keep its addresses from being
    /// masked.
    /// Every value of a JSON line's keys of the targets the redactor masks
    /// (all of them: a record keeps one key's) goes to `every`; a text
    /// format's fields are the record's (see `masking_rounds`).
    /// For a text line, `end` gets where the fields the format names end
    /// (see `Plan::parse_to_end`); for JSON it stays `None`. For a JSON
    /// line, `escaped` gets whether any of its strings holds an escape; for
    /// text it stays as it was. A JSON line's members' leads are looked up
    /// in `shape`, and taught to it (see `LineParser`).
    pub(crate) fn parse_for_masking<'a, 'f>(
        &'f self,
        line: &'a [u8],
        every: &mut Vec<(crate::JsonTarget, &'a [u8])>,
        end: &mut Option<usize>,
        escaped: &mut bool,
        shape: &mut Shape<'f>,
    ) -> Result<LogRecord<'a>, LineError> {
        match &self.kind {
            Kind::Text(p, _) => crate::record::by_value(|rec| {
                *end = Some(p.parse_to_end(line, false, rec)?);
                Ok(())
            }),
            Kind::Json(f) => f.parse_text(line, every, escaped, shape),
        }
    }

    /// Formats whose records, together, hold every field of a kind a
    /// record of this format keeps only one of (see `Plan::masking_rounds`):
    /// the redactor reads a line with each, to mask every such field. Empty
    /// for JSON and for text formats without repeated fields.
    pub(crate) fn masking_rounds(&self) -> Vec<LogFormat> {
        match &self.kind {
            Kind::Text(p, syntax) => p
                .masking_rounds()
                .into_iter()
                .map(|plan| LogFormat { name: self.name.clone(), kind: Kind::Text(plan, *syntax) })
                .collect(),
            Kind::Json(_) => Vec::new(),
        }
    }

    /// [`parse_with`](LogFormat::parse_with) into a record the caller
    /// keeps, for loops over many lines: a record is about 200 bytes, and
    /// returning it by value copied it twice a line (about 16% of the
    /// instructions of a per-path summary). On an error `rec` holds no
    /// meaningful fields.
    #[inline]
    pub fn parse_into<'a>(&self, line: &'a [u8], want_time: bool, rec: &mut LogRecord<'a>) -> Result<(), LineError> {
        match &self.kind {
            Kind::Text(p, _) => p.parse_into(line, want_time, rec),
            Kind::Json(f) => f.parse_into(line, want_time, rec),
        }
    }

    /// A parser for many lines of this format, as a loop over a chunk uses
    /// it: for JSON lines it remembers the top-level keys of the lines
    /// before, so a line that names the same keys in the same order (every
    /// line of one server) finds its fields without a table lookup per
    /// key. It parses exactly as [`parse_into`](LogFormat::parse_into).
    ///
    /// ```
    /// use pagemill_logs::{LogFormat, LogRecord};
    ///
    /// let format: LogFormat = "json".parse()?;
    /// let mut parser = format.parser();
    /// let mut rec = LogRecord::default();
    /// for line in [&br#"{"status":200,"request_uri":"/a"}"#[..], br#"{"status":404,"request_uri":"/b"}"#] {
    ///     parser.parse_into(line, false, &mut rec)?;
    /// }
    /// assert_eq!((rec.status, rec.path), (Some(404), Some(&b"/b"[..])));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parser(&self) -> LineParser<'_> {
        LineParser { format: self, shape: Shape::new() }
    }

    /// Decode a raw text field of a [`LogRecord`] of this format into text:
    /// `\"`, `\\`, `\xHH`, ... in Apache and nginx lines, JSON string
    /// escapes in JSON lines. Invalid UTF-8 is replaced (U+FFFD). Fields
    /// without a backslash are their own text (when valid UTF-8).
    pub fn decode_text(&self, raw: &[u8]) -> String {
        crate::record::decode(raw, self.escapes())
    }

    pub(crate) fn escapes(&self) -> Escapes {
        match self.kind {
            Kind::Text(..) => Escapes::Log,
            Kind::Json(_) => Escapes::Json,
        }
    }

    /// The syntax of a text format (None for JSON), for persisted partials.
    pub(crate) fn syntax(&self) -> Option<Syntax> {
        match self.kind {
            Kind::Text(_, syntax) => Some(syntax),
            Kind::Json(_) => None,
        }
    }

    /// The parts this format is rebuilt from by [`LogFormat::from_parts`]:
    /// what persisted partials and plans sent to other processes record.
    pub fn to_parts(&self) -> FormatParts {
        let syntax = match self.syntax() {
            Some(Syntax::Apache) => "apache",
            Some(Syntax::Nginx) => "nginx",
            None => "json",
        };
        FormatParts {
            name: self.name.clone(),
            syntax: syntax.to_string(),
            json_fields: self.json_fields().map(|f| f.entries().collect()).unwrap_or_default(),
        }
    }

    /// Rebuild a format from [`to_parts`](LogFormat::to_parts): a preset by
    /// name, a format string compiled in its syntax, or JSON lines with
    /// exactly the recorded fields. Parts that do not describe a format
    /// (an unknown syntax, a preset in the wrong syntax, JSON fields for a
    /// text format) are an error.
    pub fn from_parts(parts: &FormatParts) -> Result<LogFormat, Error> {
        let FormatParts { name, syntax, json_fields } = parts;
        let bad = |why: String| Error::option("log format", name, why);
        let format = match syntax.as_str() {
            "json" => {
                if name != "json" {
                    return Err(bad("a JSON format must be named json".to_string()));
                }
                let mut fields = JsonFields::empty();
                for (target, path, unit) in json_fields {
                    fields.push_entry(*target, path, *unit);
                }
                LogFormat::json_with(fields)
            }
            "apache" | "nginx" => {
                if !json_fields.is_empty() {
                    return Err(bad("JSON fields for a text format".to_string()));
                }
                match name.as_str() {
                    "common" | "combined" | "timed" | "main" | "vhost_combined" => name.parse()?,
                    _ if syntax == "apache" => LogFormat::apache(name)?,
                    _ => LogFormat::nginx(name)?,
                }
            }
            _ => return Err(bad(format!("unknown syntax {syntax:?} (apache, nginx or json)"))),
        };
        if format.to_parts().syntax != *syntax {
            return Err(bad(format!("not a format in {syntax} syntax")));
        }
        Ok(format)
    }

    /// The JSON field names of a JSON format.
    pub(crate) fn json_fields(&self) -> Option<&JsonFields> {
        match &self.kind {
            Kind::Text(..) => None,
            Kind::Json(fields) => Some(fields),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl FromStr for LogFormat {
    type Err = Error;

    /// `common`, `combined`, `timed`, `main`, `json`, or a custom format string (with
    /// `%` directives: Apache; with `$` variables: nginx). `auto` needs the
    /// input: use [`LogFormat::detect`].
    fn from_str(s: &str) -> Result<LogFormat, Error> {
        match s {
            "common" => Ok(LogFormat::common()),
            "combined" => Ok(LogFormat::combined()),
            "timed" => Ok(LogFormat::timed()),
            "main" => Ok(LogFormat::main()),
            "vhost_combined" => Ok(LogFormat::vhost_combined()),
            "json" => Ok(LogFormat::json()),
            _ if apache_directive(s) => LogFormat::apache(s),
            _ if s.contains('$') => LogFormat::nginx(s),
            _ if s.contains('%') => LogFormat::apache(s),
            _ => Err(Error::option(
                "log format",
                s,
                "expected common, combined, timed, main, vhost_combined, json, auto, or a custom Apache (%h ...) or nginx ($remote_addr ...) format",
            )),
        }
    }
}

/// Whether `s` holds an Apache `%` directive (`%h`, `%>s`, `%{...}i`,
/// `%!200{...}i`, `%%`): a `%` alone, as in an nginx format's `cpu=$cpu%`,
/// is none.
fn apache_directive(s: &str) -> bool {
    s.as_bytes().windows(2).any(|w| w[0] == b'%' && (w[1].is_ascii_alphanumeric() || b"{<>!%^".contains(&w[1])))
}

/// A [`LogFormat`] taken apart ([`LogFormat::to_parts`]), to be rebuilt
/// elsewhere with [`LogFormat::from_parts`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatParts {
    /// The preset name (`common`, `combined`, `timed`, `main`,
    /// `vhost_combined`, `json`) or the
    /// format string.
    pub name: String,
    /// `apache`, `nginx` or `json`.
    pub syntax: String,
    /// For JSON lines, every (target, dotted key path, unit) in the order
    /// they are tried; empty for text formats.
    pub json_fields: Vec<(JsonTarget, String, TimeUnit)>,
}

/// A parser for the lines of one [`LogFormat`], made by
/// [`LogFormat::parser`]: it learns the layout of the lines it parses.
#[derive(Debug)]
pub struct LineParser<'f> {
    format: &'f LogFormat,
    shape: Shape<'f>,
}

impl LineParser<'_> {
    /// Parse one line into `rec`, exactly as
    /// [`LogFormat::parse_into`](LogFormat::parse_into) does.
    #[inline]
    pub fn parse_into<'a>(
        &mut self,
        line: &'a [u8],
        want_time: bool,
        rec: &mut LogRecord<'a>,
    ) -> Result<(), LineError> {
        match &self.format.kind {
            Kind::Text(p, _) => p.parse_into(line, want_time, rec),
            Kind::Json(f) => f.parse_shaped(line, want_time, rec, &mut self.shape),
        }
    }

    /// Parse one line, exactly as
    /// [`LogFormat::parse_with`](LogFormat::parse_with) does.
    #[inline]
    pub fn parse_with<'a>(&mut self, line: &'a [u8], want_time: bool) -> Result<LogRecord<'a>, LineError> {
        crate::record::by_value(|rec| self.parse_into(line, want_time, rec))
    }
}
