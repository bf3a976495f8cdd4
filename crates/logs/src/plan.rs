//! Text log formats (Apache `LogFormat`, nginx `log_format`) compiled into a
//! field plan: literals and fields, each field ended by the first byte of the
//! literal after it (found 16 and then 64 bytes at a time, see `scan`) or by its closing quote.

use crate::error::Error;
use crate::record::{
    LineError, LogRecord, TimeUnit, dash_none, parse_bytes, parse_duration, parse_status, path_and_authority,
    split_request,
};
use crate::scan::{find, find2};
use crate::time;

/// What a field of a text format means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    Ip,
    /// Authenticated user.
    User,
    /// The remote logname (`%l`, identd's answer when Apache's
    /// `IdentityCheck` is on; `-` nearly always): not read into a record
    /// (no query uses it), but masked as a user name by the redactor
    /// ([`Plan::unread_fields`]).
    Ident,
    /// Present in the line but not used (ports, other headers).
    Skip,
    /// Not used, with this many spaces inside: a date and time that a full
    /// time before it already gave (`%t %{%F %T}t`).
    SkipSpaced(u8),
    /// Not used, and possibly a list (nginx's `$upstream_*` variables:
    /// `0.001, 0.002 : 0.003`).
    List,
    /// The `X-Forwarded-For` header (`%{X-Forwarded-For}i`,
    /// `$http_x_forwarded_for`, `$proxy_add_x_forwarded_for`; also
    /// `X-Real-IP`): a list of addresses (`203.0.113.7, 10.0.0.1`), read
    /// only to be masked by the redactor.
    Forwarded,
    TimeClf,
    TimeIso,
    /// An ISO-like timestamp of a layout with this many spaces inside
    /// (Apache's `%{%Y-%m-%d %H:%M:%S %z}t`: 2; `%{%Y-%m-%d}t`: none),
    /// which the field's end is looked for past. (`TimeIso`, nginx's
    /// `$time_iso8601`, is told by its text.)
    TimeIsoSpaced(u8),
    /// A date alone (`%{%Y-%m-%d}t`, this many spaces inside): its
    /// midnight, to which a [`TimeOfDay`](Field::TimeOfDay) and a
    /// [`TimeZone`](Field::TimeZone) after it may add.
    TimeDate(u8),
    /// A date and a time without a zone (`%{%F %T}t`, this many spaces
    /// inside): read as UTC unless a [`TimeZone`](Field::TimeZone) follows.
    TimeLocal(u8),
    /// A time of day in a field of its own (`%{%H:%M:%S}t`), added to the
    /// date of an earlier field (`%{%Y-%m-%d}t`); with none, no time.
    TimeOfDay,
    /// A UTC offset in a field of its own (`%{%z}t`), applied to the time
    /// of the fields before it.
    TimeZone,
    TimeEpoch,
    /// An integer count of `unit`s since the epoch (Apache's `%{sec}t`,
    /// `%{msec}t`, `%{usec}t`).
    TimeEpochIn(TimeUnit),
    Request,
    Method,
    Uri,
    Path,
    Query,
    Protocol,
    Status,
    Bytes,
    Referrer,
    UserAgent,
    Host,
    Latency(TimeUnit),
    /// A coarser request time beside a finer one (`%T` beside `%D`): still
    /// checked, and used only where the finer one is `-`.
    LatencyFallback(TimeUnit),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Item {
    Lit(Vec<u8>),
    Field(Field),
}

/// One field and the literal that follows it.
#[derive(Clone, Debug)]
struct Step {
    field: Field,
    /// The field is between double quotes: it ends at the first unescaped
    /// quote that the literal after it matches.
    quoted: bool,
    after: Box<[u8]>,
}

/// A compiled text log format.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    leading: Box<[u8]>,
    steps: Box<[Step]>,
    /// A parser with these very steps written out, if one exists.
    unrolled: Option<Unrolled>,
    /// The plan a line that does not match this one is read with: `main`
    /// falls back to `combined`, whose fields it shares, so lines without
    /// the forwarded list still count.
    fallback: Option<Box<Plan>>,
    /// Releases of partial rules 2 and before read this format otherwise:
    /// a time piece before a full time or a date after one was kept, an
    /// unquoted `X-Forwarded-For` (or `X-Real-IP`) field followed by a space
    /// ended at its first space.
    read_otherwise_before_rules_3: bool,
    /// Releases of partial rules 3 and before ended an address followed by
    /// `:` (`$remote_addr:$remote_port`) at its first colon, so an IPv6
    /// address was cut after its first group.
    read_otherwise_before_rules_4: bool,
    /// Releases of partial rules 4 and before ended a host followed by `:`
    /// (Apache's `%v:%p`) at its first colon, so an IPv6 host (`[2001:db8::1]`,
    /// or bare) was cut after its first group.
    read_otherwise_before_rules_5: bool,
}

/// The step lists of the preset formats, each with a parser that runs its
/// steps written out one after another: the same [`step`] code with the
/// field, quoting and literal as constants, so no step is dispatched,
/// no literal is loaded and compared byte by byte, and no field's
/// branches depend on another's. A plan uses one when its steps are
/// exactly the list (whatever string it was compiled from), so it parses
/// exactly as the general loop.
macro_rules! unrolled {
    ($($name:ident $fn_name:ident [$(($field:expr, $quoted:expr, $after:expr)),* $(,)?]),* $(,)?) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        enum Unrolled {
            $($name,)*
        }

        impl Unrolled {
            const ALL: &[(Unrolled, &[(Field, bool, &[u8])])] = &[
                $((Unrolled::$name, &[$(($field, $quoted, $after)),*]),)*
            ];

            /// The unrolled parser of exactly `steps` after no leading literal.
            fn find(leading: &[u8], steps: &[Step]) -> Option<Unrolled> {
                if !leading.is_empty() {
                    return None;
                }
                Unrolled::ALL.iter().find_map(|(u, list)| {
                    let same = list.len() == steps.len()
                        && list.iter().zip(steps).all(|(&(f, q, a), s)| f == s.field && q == s.quoted && a == &*s.after);
                    same.then_some(*u)
                })
            }

            #[inline]
            /// Where the last step ended.
            fn parse<'a>(self, line: &'a [u8], want_time: bool, rec: &mut LogRecord<'a>) -> Result<usize, LineError> {
                match self {
                    $(Unrolled::$name => $fn_name(line, want_time, rec),)*
                }
            }
        }

        $(
            fn $fn_name<'a>(line: &'a [u8], want_time: bool, rec: &mut LogRecord<'a>) -> Result<usize, LineError> {
                // Emptied here rather than by the caller, so that the
                // compiler sees every field start as `None` and drops the
                // loads and selects of the steps' `or`s (a few percent of
                // a `timed` line's parse).
                *rec = LogRecord::default();
                let mut p = 0;
                $(step(line, &mut p, $field, $quoted, $after, want_time, rec)?;)*
                Ok(p)
            }
        )*
    };
}

unrolled! {
    Common parse_common [
        (Field::Ip, false, b" "),
        (Field::Ident, false, b" "),
        (Field::User, false, b" ["),
        (Field::TimeClf, false, b"] \""),
        (Field::Request, true, b"\" "),
        (Field::Status, false, b" "),
        (Field::Bytes, false, b""),
    ],
    Combined parse_combined [
        (Field::Ip, false, b" "),
        (Field::Ident, false, b" "),
        (Field::User, false, b" ["),
        (Field::TimeClf, false, b"] \""),
        (Field::Request, true, b"\" "),
        (Field::Status, false, b" "),
        (Field::Bytes, false, b" \""),
        (Field::Referrer, true, b"\" \""),
        (Field::UserAgent, true, b"\""),
    ],
    Main parse_main [
        (Field::Ip, false, b" "),
        (Field::Ident, false, b" "),
        (Field::User, false, b" ["),
        (Field::TimeClf, false, b"] \""),
        (Field::Request, true, b"\" "),
        (Field::Status, false, b" "),
        (Field::Bytes, false, b" \""),
        (Field::Referrer, true, b"\" \""),
        (Field::UserAgent, true, b"\" \""),
        (Field::Forwarded, true, b"\""),
    ],
    Timed parse_timed [
        (Field::Ip, false, b" "),
        (Field::Ident, false, b" "),
        (Field::User, false, b" ["),
        (Field::TimeClf, false, b"] \""),
        (Field::Request, true, b"\" "),
        (Field::Status, false, b" "),
        (Field::Bytes, false, b" \""),
        (Field::Referrer, true, b"\" \""),
        (Field::UserAgent, true, b"\" "),
        (Field::Latency(TimeUnit::Seconds), false, b""),
    ],
}

/// Which syntax a format string is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Syntax {
    Apache,
    Nginx,
}

fn push_lit(items: &mut Vec<Item>, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    if let Some(Item::Lit(l)) = items.last_mut() {
        l.extend_from_slice(bytes);
    } else {
        items.push(Item::Lit(bytes.to_vec()));
    }
}

fn apache_header(name: &str) -> Field {
    match name.to_ascii_lowercase().as_str() {
        "referer" | "referrer" => Field::Referrer,
        "user-agent" => Field::UserAgent,
        "host" => Field::Host,
        "x-forwarded-for" | "x-real-ip" => Field::Forwarded,
        _ => Field::Skip,
    }
}

/// A literal of an Apache format with the escapes of its `httpd.conf`
/// spelling undone: `\"` and `\\` (a format pasted with the quotes of its
/// `LogFormat` line escaped), and `\t`, as mod_log_config reads them.
fn apache_unescape(lit: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(lit.len());
    let mut i = 0;
    while i < lit.len() {
        match (lit[i], lit.get(i + 1)) {
            (b'\\', Some(&c @ (b'"' | b'\\'))) => {
                out.push(c);
                i += 2;
            }
            (b'\\', Some(b't')) => {
                out.push(b'\t');
                i += 2;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Compile an Apache `LogFormat` string.
fn compile_apache(fmt: &str) -> Result<Vec<Item>, Error> {
    let b = fmt.as_bytes();
    let mut items = Vec::new();
    let mut ranks = Vec::new();
    let mut i = 0;
    let mut lit_start = 0;
    while i < b.len() {
        if b[i] != b'%' {
            i += 1;
            continue;
        }
        push_lit(&mut items, &apache_unescape(&b[lit_start..i]));
        let start = i;
        i += 1;
        // Modifiers: `<`, `>`, and status conditions such as `!200,304`.
        while i < b.len() && matches!(b[i], b'<' | b'>' | b'!' | b',' | b'0'..=b'9') {
            i += 1;
        }
        let last = b[start + 1..i].contains(&b'>');
        let mut arg = None;
        if i < b.len() && b[i] == b'{' {
            let close = memchr::memchr(b'}', &b[i..])
                .ok_or_else(|| Error::format(fmt, start, "unclosed '{' in a %{...} directive"))?;
            arg = Some(&fmt[i + 1..i + close]);
            i += close + 1;
        }
        let Some(&d) = b.get(i) else {
            return Err(Error::format(fmt, start, "'%' at the end of the format"));
        };
        i += 1;
        // Two-letter directives after `^`: `%{name}^ti` and `%^to`
        // (trailers), `%^FB` (time to first byte), and any later ones.
        if d == b'^' {
            match b.get(i..i + 2) {
                Some(name) if name.iter().all(u8::is_ascii_alphabetic) => i += 2,
                _ => return Err(Error::format(fmt, start, "unknown Apache directive (expected %^ and two letters)")),
            }
        }
        lit_start = i;
        let field = match (d, arg) {
            (b'%', _) => {
                push_lit(&mut items, b"%");
                continue;
            }
            (b'h' | b'a', _) => Field::Ip,
            (b't', None) => {
                // `%t` writes the brackets itself.
                push_lit(&mut items, b"[");
                items.push(Item::Field(Field::TimeClf));
                push_lit(&mut items, b"]");
                continue;
            }
            (b't', Some(f)) => apache_time(f).map_err(|why| Error::format(fmt, start, why))?,
            (b'r', _) => Field::Request,
            (b'm', _) => Field::Method,
            (b'U', _) => Field::Path,
            (b'q', _) => Field::Query,
            (b'H', _) => Field::Protocol,
            (b's', _) => {
                // `%>s` is the final status, `%s` (`%<s`) an internally
                // redirected request's original one.
                ranks.push((items.len(), if last { 2 } else { 1 }));
                Field::Status
            }
            (b'b' | b'B', _) => {
                ranks.push((items.len(), 2));
                Field::Bytes
            }
            // Bytes sent, headers included: the body's size when no %b says.
            (b'O', _) => {
                ranks.push((items.len(), 1));
                Field::Bytes
            }
            (b'i', Some(h)) => apache_header(h),
            (b'v' | b'V', _) => Field::Host,
            (b'D', _) => Field::Latency(TimeUnit::Micros),
            (b'T', None | Some("s")) => Field::Latency(TimeUnit::Seconds),
            (b'T', Some("ms")) => Field::Latency(TimeUnit::Millis),
            (b'T', Some("us")) => Field::Latency(TimeUnit::Micros),
            (b'u', _) => Field::User,
            (b'l', _) => Field::Ident,
            (b'p' | b'P' | b'I' | b'S' | b'k' | b'X' | b'L' | b'R' | b'f' | b'A' | b'e', _) => Field::Skip,
            (b'i' | b'o' | b'n' | b'C' | b'^', _) => Field::Skip,
            _ => return Err(Error::format(fmt, start, "unknown Apache directive")),
        };
        check_separated(&items, field, fmt, start)?;
        items.push(Item::Field(field));
    }
    push_lit(&mut items, &apache_unescape(&b[lit_start..]));
    keep_best(&mut items, &ranks);
    Ok(items)
}

/// A time of day or a zone in a field of its own is a piece of the time
/// whose date a field before it holds (`%{%F}t %{%T}t %{%z}t`): each piece
/// once, after a date. After a full time (`%t %{%T}t`) it says again what
/// that time says, and is skipped, as is a date after a full time (`%t
/// %{%F}t`: the full time stays). A piece before any date or time is
/// skipped where a full time follows (`%{%T}t %t`: that one says it all);
/// with none, it stays, and is no time (bad-time for queries that use time).
///
/// Returns whether the skipping of a piece before a full time or of a date
/// after one changed the format from what releases of partial rules 2 and
/// before read.
fn join_time_pieces(items: &mut [Item]) -> bool {
    let is_full = |f: &Field| {
        matches!(
            f,
            Field::TimeClf | Field::TimeIso | Field::TimeIsoSpaced(_) | Field::TimeEpoch | Field::TimeEpochIn(_)
        )
    };
    let full_later = items.iter().any(|i| matches!(i, Item::Field(f) if is_full(f)));
    // The time of day and the zone a date has been given so far.
    let mut pieces: Option<(bool, bool)> = None;
    let mut full = false;
    let mut changed = false;
    for item in items.iter_mut() {
        let Item::Field(field) = item else { continue };
        match *field {
            Field::TimeDate(n) | Field::TimeLocal(n) if full => {
                *field = Field::SkipSpaced(n);
                changed = true;
            }
            Field::TimeDate(_) => pieces = Some((false, false)),
            // A date and time whose zone may follow.
            Field::TimeLocal(_) => pieces = Some((true, false)),
            // Skipped where it cannot be placed: a piece before any time
            // that a full time follows was kept by releases of rules 2.
            Field::TimeOfDay => match pieces {
                Some((false, zone)) => pieces = Some((true, zone)),
                None if !full && !full_later => {}
                unplaced => {
                    changed |= unplaced.is_none() && !full;
                    *field = Field::Skip;
                }
            },
            Field::TimeZone => match pieces {
                Some((tod, false)) => pieces = Some((tod, true)),
                None if !full && !full_later => {}
                unplaced => {
                    changed |= unplaced.is_none() && !full;
                    *field = Field::Skip;
                }
            },
            f if is_full(&f) => {
                pieces = None;
                full = true;
            }
            _ => {}
        }
    }
    changed
}

/// Refuse `field`, at byte `at` of `fmt`, right after another field: where
/// one ends could not be told. A path and its query (`%U%q`, `$uri$args`)
/// are merged into the request target and may touch.
fn check_separated(items: &[Item], field: Field, fmt: &str, at: usize) -> Result<(), Error> {
    match items.last() {
        Some(Item::Field(Field::Path)) if field == Field::Query => Ok(()),
        Some(Item::Field(_)) => Err(Error::format(
            fmt,
            at,
            "two fields follow each other without a separator; pagemill cannot tell where one ends",
        )),
        _ => Ok(()),
    }
}

/// Of several fields with one meaning (a status twice, body and total
/// bytes, request times in two units), keep the first of the highest rank
/// and skip the others, so that a field's meaning decides, not its place
/// in the line. `ranks` holds item index and rank of each status and bytes
/// field; request times rank by their unit, the finest first (`%D` beats
/// `%T`, which Apache writes in whole seconds), and the others stay as
/// fallbacks: checked, and used where the finest is `-`.
fn keep_best(items: &mut [Item], ranks: &[(usize, u8)]) {
    for kind in [Field::Status, Field::Bytes] {
        let of_kind: Vec<(usize, u8)> = ranks.iter().copied().filter(|&(i, _)| items[i] == Item::Field(kind)).collect();
        demote_all_but_best(items, &of_kind, |_| Field::Skip);
    }
    let times: Vec<(usize, u8)> = items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| match item {
            Item::Field(Field::Latency(unit)) => Some((
                i,
                match unit {
                    TimeUnit::Seconds => 1,
                    TimeUnit::Millis => 2,
                    TimeUnit::Micros => 3,
                    TimeUnit::Nanos => 4,
                },
            )),
            _ => None,
        })
        .collect();
    demote_all_but_best(items, &times, |field| match field {
        Field::Latency(unit) => Field::LatencyFallback(unit),
        other => other,
    });
}

/// Replace every field of `of_kind` (item index and rank) but the first of
/// the highest rank with what `demote` makes of it.
fn demote_all_but_best(items: &mut [Item], of_kind: &[(usize, u8)], demote: impl Fn(Field) -> Field) {
    let best = of_kind.iter().map(|&(_, r)| r).max();
    let keep = of_kind.iter().find(|&&(_, r)| Some(r) == best).map(|&(i, _)| i);
    for &(i, _) in of_kind {
        if Some(i) != keep
            && let Item::Field(field) = items[i]
        {
            items[i] = Item::Field(demote(field));
        }
    }
}

/// The field of Apache's `%{FORMAT}t`: `sec`, `msec` and `usec` are epochs,
/// `msec_frac` and `usec_frac` only the fraction of a second (skipped: the
/// time comes from another field), `%t`'s own strftime layout is CLF, and
/// any other is read as ISO 8601 (which any ISO-like layout is, a space
/// before `%z` included); `begin:` and `end:` may prefix any of them.
/// Another layout's times do not parse: its lines are bad-time, but only
/// for queries that use time, so the format still serves queries by
/// status, path or bytes.
fn apache_time(format: &str) -> Result<Field, &'static str> {
    let f = format.strip_prefix("begin:").or_else(|| format.strip_prefix("end:")).unwrap_or(format);
    match f {
        "sec" => return Ok(Field::TimeEpochIn(TimeUnit::Seconds)),
        "msec" => return Ok(Field::TimeEpochIn(TimeUnit::Millis)),
        "usec" => return Ok(Field::TimeEpochIn(TimeUnit::Micros)),
        "msec_frac" | "usec_frac" => return Ok(Field::Skip),
        _ => {}
    }
    let layout = f.replace("%T", "%H:%M:%S").replace("%F", "%Y-%m-%d");
    if layout == "%d/%b/%Y:%H:%M:%S %z" {
        return Ok(Field::TimeClf);
    }
    // Pieces of one time in fields of their own: a time of day after a
    // date, a zone after both.
    let has = |codes: &[&str]| codes.iter().any(|c| layout.contains(c));
    let (date, time) = (has(&["%Y", "%y", "%m", "%d", "%e", "%b", "%j", "%D"]), has(&["%H", "%M", "%S", "%R", "%I"]));
    if layout == "%z" {
        return Ok(Field::TimeZone);
    }
    if layout == "%H:%M:%S" {
        return Ok(Field::TimeOfDay);
    }
    let spaces = u8::try_from(layout.bytes().filter(|&b| b == b' ').count())
        .map_err(|_| "too many spaces in a %{...}t layout")?;
    Ok(if date && !time {
        Field::TimeDate(spaces)
    } else if date && !layout.contains("%z") {
        Field::TimeLocal(spaces)
    } else {
        Field::TimeIsoSpaced(spaces)
    })
}

fn nginx_variable(name: &str) -> Field {
    match name {
        "remote_addr" | "realip_remote_addr" => Field::Ip,
        "remote_user" => Field::User,
        // Not an nginx variable (nginx writes `-` there): the `timed`
        // preset's name for the ident, as Apache's `%l`.
        "ident" => Field::Ident,
        "time_local" => Field::TimeClf,
        "time_iso8601" => Field::TimeIso,
        "msec" => Field::TimeEpoch,
        "request" => Field::Request,
        "request_method" => Field::Method,
        "request_uri" => Field::Uri,
        "uri" | "document_uri" => Field::Path,
        "args" | "query_string" => Field::Query,
        "server_protocol" => Field::Protocol,
        "status" => Field::Status,
        "body_bytes_sent" | "bytes_sent" => Field::Bytes,
        "http_referer" => Field::Referrer,
        "http_user_agent" => Field::UserAgent,
        "host" | "http_host" | "server_name" => Field::Host,
        "request_time" => Field::Latency(TimeUnit::Seconds),
        "http_x_forwarded_for" | "proxy_add_x_forwarded_for" | "http_x_real_ip" => Field::Forwarded,
        _ if name.starts_with("upstream_") => Field::List,
        _ => Field::Skip,
    }
}

/// Compile an nginx `log_format` string (`$name` and `${name}` variables).
fn compile_nginx(fmt: &str) -> Result<Vec<Item>, Error> {
    let b = fmt.as_bytes();
    let mut items = Vec::new();
    let mut ranks = Vec::new();
    let mut i = 0;
    let mut lit_start = 0;
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        push_lit(&mut items, &b[lit_start..i]);
        let start = i;
        i += 1;
        let name = if b.get(i) == Some(&b'{') {
            let close = memchr::memchr(b'}', &b[i..])
                .ok_or_else(|| Error::format(fmt, start, "unclosed '${' in a variable"))?;
            let name = &fmt[i + 1..i + close];
            i += close + 1;
            name
        } else {
            let n = b[i..].iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'_').count();
            let name = &fmt[i..i + n];
            i += n;
            name
        };
        if name.is_empty() {
            return Err(Error::format(fmt, start, "'$' without a variable name"));
        }
        lit_start = i;
        // `$uri$is_args$args`: `?` when there are arguments, else nothing;
        // with the two fields around it, the request target, whole (merged
        // as `$uri?$args` is, below).
        let rest = &fmt[i..];
        if name == "is_args"
            && items.last() == Some(&Item::Field(Field::Path))
            && ["$args", "${args}", "$query_string", "${query_string}"].iter().any(|v| {
                rest.strip_prefix(v)
                    .is_some_and(|after| !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
            })
        {
            push_lit(&mut items, b"?");
            continue;
        }
        let field = nginx_variable(name);
        match name {
            "status" | "body_bytes_sent" => ranks.push((items.len(), 2)),
            // Headers included: the body's size when no $body_bytes_sent says.
            "bytes_sent" => ranks.push((items.len(), 1)),
            _ => {}
        }
        check_separated(&items, field, fmt, start)?;
        items.push(Item::Field(field));
    }
    push_lit(&mut items, &b[lit_start..]);
    keep_best(&mut items, &ranks);
    Ok(items)
}

impl Plan {
    /// Compile a format string of either syntax.
    pub(crate) fn compile(fmt: &str, syntax: Syntax) -> Result<Plan, Error> {
        let mut items = match syntax {
            Syntax::Apache => compile_apache(fmt)?,
            Syntax::Nginx => compile_nginx(fmt)?,
        };
        let pieces_changed = join_time_pieces(&mut items);
        // `%U%q` and `$uri?$args` style pairs: the request target, whole.
        let mut merged = Vec::with_capacity(items.len());
        let mut i = 0;
        while i < items.len() {
            match (&items[i], items.get(i + 1), items.get(i + 2)) {
                (Item::Field(Field::Path), Some(Item::Field(Field::Query)), _) => {
                    merged.push(Item::Field(Field::Uri));
                    i += 2;
                }
                (Item::Field(Field::Path), Some(Item::Lit(l)), Some(Item::Field(Field::Query))) if l == b"?" => {
                    merged.push(Item::Field(Field::Uri));
                    i += 3;
                }
                _ => {
                    merged.push(items[i].clone());
                    i += 1;
                }
            }
        }
        items = merged;
        if !items
            .iter()
            .any(|i| matches!(i, Item::Field(f) if !matches!(f, Field::Skip | Field::Ident | Field::List | Field::Forwarded)))
        {
            return Err(Error::format(fmt, 0, "the format has no field pagemill understands"));
        }
        let mut leading = Vec::new();
        let mut steps: Vec<Step> = Vec::new();
        let mut prev_lit: &[u8] = b"";
        for (k, item) in items.iter().enumerate() {
            match item {
                Item::Lit(l) if k == 0 => {
                    leading = l.clone();
                    prev_lit = l;
                }
                Item::Lit(_) => {}
                Item::Field(field) => {
                    let after: &[u8] = match items.get(k + 1) {
                        Some(Item::Lit(l)) => l,
                        Some(Item::Field(_)) => {
                            return Err(Error::format(
                                fmt,
                                0,
                                "two fields follow each other without a separator; pagemill cannot tell where one ends",
                            ));
                        }
                        None => b"",
                    };
                    let quoted = prev_lit.ends_with(b"\"") && after.starts_with(b"\"");
                    steps.push(Step { field: *field, quoted, after: after.into() });
                    prev_lit = after;
                }
            }
        }
        let unrolled = Unrolled::find(&leading, &steps);
        // An unquoted list ends elsewhere than the skipped field it was
        // only where a space follows it (at the end, what follows is
        // ignored; before another literal, both end at that literal).
        let read_otherwise_before_rules_3 = pieces_changed
            || steps.iter().any(|s| s.field == Field::Forwarded && !s.quoted && s.after.first() == Some(&b' '));
        let before_port =
            |field: Field| steps.iter().any(|s| s.field == field && !s.quoted && s.after.first() == Some(&b':'));
        let read_otherwise_before_rules_4 = before_port(Field::Ip);
        let read_otherwise_before_rules_5 = before_port(Field::Host);
        Ok(Plan {
            leading: leading.into(),
            steps: steps.into(),
            unrolled,
            fallback: None,
            read_otherwise_before_rules_3,
            read_otherwise_before_rules_4,
            read_otherwise_before_rules_5,
        })
    }

    /// This plan, reading lines that do not match it with `fallback`.
    pub(crate) fn with_fallback(mut self, fallback: Plan) -> Plan {
        self.fallback = Some(Box::new(fallback));
        self
    }

    /// Parse one line (with the fallback plan if it does not match).
    #[inline]
    pub(crate) fn parse_into<'a>(
        &self,
        line: &'a [u8],
        want_time: bool,
        rec: &mut LogRecord<'a>,
    ) -> Result<(), LineError> {
        self.parse_to_end(line, want_time, rec).map(drop)
    }

    /// [`parse_into`](Plan::parse_into), giving where the fields the
    /// format names end: the text after is what it does not name (fields a
    /// server appends; a list a preset ignores).
    #[inline]
    pub(crate) fn parse_to_end<'a>(
        &self,
        line: &'a [u8],
        want_time: bool,
        rec: &mut LogRecord<'a>,
    ) -> Result<usize, LineError> {
        match self.parse_own(line, want_time, rec) {
            // Not a line whose fallback's last field is followed by a quoted
            // field this plan could not read (for `main`, a broken list):
            // read so, the list would be left unread (and, by the
            // redactor, unmasked) without a word. Other text after it (a
            // request time, more fields) is ignored, as the fallback's own
            // format ignores it.
            Err(LineError::Mismatch) => match &self.fallback {
                Some(f) => {
                    let end = f.parse_own(line, want_time, rec)?;
                    let rest = line.get(end..).unwrap_or_default();
                    if rest.trim_ascii_start().starts_with(b"\"") { Err(LineError::Mismatch) } else { Ok(end) }
                }
                None => Err(LineError::Mismatch),
            },
            parsed => parsed,
        }
    }

    /// Whether `line` parses with this plan's own steps (not the fallback),
    /// its time unread.
    pub(crate) fn matches_own(&self, line: &[u8]) -> bool {
        let mut rec = LogRecord::default();
        self.parse_own(line, false, &mut rec).is_ok()
    }

    /// Where the fields of `line` that the format names but does not read
    /// lie (another header, `$upstream_addr`, `%l`: skipped and list
    /// fields), each with whether it is the ident (`%l`), for the
    /// redactor: it looks for addresses in them as in the text after the
    /// last field, and masks the ident as a user name. Read by the plan's
    /// own steps, else its fallback's; empty if neither reads the line.
    pub(crate) fn unread_fields(&self, line: &[u8]) -> Vec<(std::ops::Range<usize>, bool)> {
        let mut ranges = Vec::new();
        // A preset (its steps written out) skips only the ident, which
        // starts after the address's space (`%h %l ...`: its first step
        // ends at the first space) and is `-` on nearly every line: a
        // second parse only for the lines whose ident is not.
        if self.unrolled.is_some() {
            let ident = find(line, 0, b' ').map(|i| &line[i + 1..]);
            if ident.is_none_or(|rest| rest.starts_with(b"- ")) {
                return ranges;
            }
        }
        for plan in std::iter::once(self).chain(self.fallback.as_deref()) {
            if !lit_at(line, 0, &plan.leading) {
                continue;
            }
            let mut rec = LogRecord::default();
            let mut p = plan.leading.len();
            let read = plan.steps.iter().try_for_each(|s| {
                let from = p;
                step(line, &mut p, s.field, s.quoted, &s.after, false, &mut rec)?;
                if matches!(s.field, Field::Skip | Field::Ident | Field::SkipSpaced(_) | Field::List) {
                    ranges.push((from..p.saturating_sub(s.after.len()).max(from), s.field == Field::Ident));
                }
                Ok::<(), LineError>(())
            });
            if read.is_ok() {
                return ranges;
            }
            ranges.clear();
        }
        ranges
    }

    /// Parse one line with this plan's own steps.
    #[inline(always)]
    /// Returns where its last step ended.
    fn parse_own<'a>(&self, line: &'a [u8], want_time: bool, rec: &mut LogRecord<'a>) -> Result<usize, LineError> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Err(LineError::Empty);
        }
        if !lit_at(line, 0, &self.leading) {
            return Err(LineError::Mismatch);
        }
        let end = match self.unrolled {
            // Empties `rec` itself.
            Some(u) => u.parse(line, want_time, rec)?,
            None => {
                *rec = LogRecord::default();
                let mut p = self.leading.len();
                for s in self.steps.iter() {
                    step(line, &mut p, s.field, s.quoted, &s.after, want_time, rec)?;
                }
                p
            }
        };
        finish_paths(rec);
        Ok(end)
    }

    /// Plans that, together, read every field of a kind a record keeps
    /// one of (an address field past the second; a forwarded list, user,
    /// query field, request or target past the first), for the redactor,
    /// which must mask them all: plan `r` keeps the `r + 1`-th round of
    /// each (the first and second address, the first list, ...; then the
    /// third and fourth address, the second list, ...) and skips the
    /// others, with the same extents, so a line this plan's own steps read
    /// reads alike with each. Empty for a format without such repeats (all
    /// presets).
    pub(crate) fn masking_rounds(&self) -> Vec<Plan> {
        // The kinds a record keeps, with how many of each it keeps.
        let class = |f: Field| match f {
            Field::Ip => Some((0, 2)),
            Field::Forwarded => Some((1, 1)),
            Field::User => Some((2, 1)),
            Field::Query => Some((3, 1)),
            Field::Request => Some((4, 1)),
            Field::Uri => Some((5, 1)),
            _ => None,
        };
        let mut seen = [0usize; 6];
        let rounds: Vec<Option<usize>> = self
            .steps
            .iter()
            .map(|s| {
                class(s.field).map(|(c, slots)| {
                    seen[c] += 1;
                    (seen[c] - 1) / slots
                })
            })
            .collect();
        let last = rounds.iter().flatten().copied().max().unwrap_or(0);
        if last == 0 {
            return Vec::new();
        }
        (0..=last)
            .map(|r| {
                let steps = self
                    .steps
                    .iter()
                    .zip(&rounds)
                    .map(|(s, round)| {
                        let field = match (s.field, round) {
                            (f, Some(k)) if *k != r => {
                                // Skipped alike: a list stays a list (its
                                // end is looked for past its spaces).
                                if f == Field::Forwarded { Field::List } else { Field::Skip }
                            }
                            (f, _) => f,
                        };
                        Step { field, quoted: s.quoted, after: s.after.clone() }
                    })
                    .collect();
                Plan {
                    leading: self.leading.clone(),
                    steps,
                    unrolled: None,
                    fallback: None,
                    read_otherwise_before_rules_3: self.read_otherwise_before_rules_3,
                    read_otherwise_before_rules_4: self.read_otherwise_before_rules_4,
                    read_otherwise_before_rules_5: self.read_otherwise_before_rules_5,
                }
            })
            .collect()
    }

    /// Whether releases of partial rules 2 and before read this format
    /// otherwise (see the field of that name).
    pub(crate) fn read_otherwise_before_rules_3(&self) -> bool {
        self.read_otherwise_before_rules_3
    }

    /// Whether releases of partial rules 3 and before read this format
    /// otherwise (see the field of that name).
    pub(crate) fn read_otherwise_before_rules_4(&self) -> bool {
        self.read_otherwise_before_rules_4
    }

    /// Whether releases of partial rules 4 and before read this format
    /// otherwise (see the field of that name).
    pub(crate) fn read_otherwise_before_rules_5(&self) -> bool {
        self.read_otherwise_before_rules_5
    }

    /// How many request-time fields the format has.
    pub(crate) fn latency_fields(&self) -> usize {
        self.steps.iter().filter(|s| matches!(s.field, Field::Latency(_) | Field::LatencyFallback(_))).count()
    }

    /// Whether the format has a request-time field.
    pub(crate) fn has_latency(&self) -> bool {
        self.latency_fields() > 0
    }
}

/// Where a user name with spaces that starts at `start` ends, given the
/// first space at `space` and the literal `after` it (` [` in the common
/// formats), which did not follow that space (or, for ` [`, did without a
/// time after it: see [`name_end`]); `None` if it is no such name.
///
/// HTTP Basic auth user names may hold spaces, and neither nginx nor Apache
/// escapes them. But a line shifted by one space-separated word (Apache's
/// `vhost_combined` read as `combined`, a leading or doubled space) also
/// leaves the literal after a later space, with `- -` or an address before
/// it, and must stay malformed: its client address would be read from the
/// wrong word. So a spaced name is only taken where the shape of the common
/// formats vouches for it: the ident before it is a lone `-` (`%l`, or
/// nginx's literal ` - `), its first word is neither empty nor `-`, it
/// ends in no space (a doubled space before ` [`), it holds no quote
/// (which servers escape in user names) and no word of it is an address
/// (an extra field, such as a forwarded address, shifted into the name:
/// read as a user, it would escape `redact --mask ip`).
#[inline(never)]
#[cold]
fn spaced_user(line: &[u8], start: usize, space: usize, after: &[u8]) -> Option<usize> {
    let ident_dash = start >= 2 && &line[start - 2..start] == b"- " && (start == 2 || line[start - 3] == b' ');
    let first = &line[start..space];
    if after.len() < 2 || after[0] != b' ' || !ident_dash || first.is_empty() || first == b"-" {
        return None;
    }
    let end = name_end(line, space, after)?;
    let name = &line[start..end];
    let address = |word: &[u8]| {
        let word = std::str::from_utf8(word).unwrap_or_default();
        word.parse::<std::net::IpAddr>().is_ok() || word.parse::<std::net::SocketAddr>().is_ok()
    };
    let plain =
        name.last() != Some(&b' ') && memchr::memchr(b'"', name).is_none() && !name.split(|&b| b == b' ').any(address);
    plain.then_some(end)
}

/// Where the literal `after` a user name with spaces is, from the name's
/// first space at `from`: its first occurrence, but for ` [` (the common
/// formats' `%u %t`) the first that a digit follows, as every time starts
/// (`[10/Oct/2000:13:55:36 -0700]`, `[2000-10-10T...`), where there is
/// one. So `John [ops] Smith [10/Oct/...` is one name, and its line reads
/// the same whether the query reads the time or not (before, the name
/// ended at `John`: the line was malformed, a bad time, where the query
/// read the time, and counted with a cut name where it did not).
fn name_end(line: &[u8], from: usize, after: &[u8]) -> Option<usize> {
    let first = from + memchr::memmem::find(&line[from..], after)?;
    if after != b" [" {
        return Some(first);
    }
    let mut at = first;
    while !opens_time(line, at) {
        match memchr::memmem::find(&line[at + 1..], after) {
            Some(i) => at += 1 + i,
            None => return Some(first),
        }
    }
    Some(at)
}

/// Whether the ` [` at `at` of `line` opens a time: a digit follows it.
fn opens_time(line: &[u8], at: usize) -> bool {
    line.get(at + 2).is_some_and(u8::is_ascii_digit)
}

/// Parse the field at `*p` that `after` (if any) follows, store it in
/// `rec` and move `*p` past the literal. Inlined into the general loop and,
/// with constant arguments, into each unrolled preset parser.
#[inline(always)]
fn step<'a>(
    line: &'a [u8],
    p: &mut usize,
    field: Field,
    quoted: bool,
    after: &[u8],
    want_time: bool,
    rec: &mut LogRecord<'a>,
) -> Result<(), LineError> {
    let end = if quoted {
        closing_quote(line, *p, after)?
    } else if let Some(&t) = after.first() {
        // Unquoted fields are short (addresses, numbers): see `scan`. A
        // list's separators hold spaces, so only a space after it needs
        // the list scan; any other literal ends it where it stands.
        let list = matches!(field, Field::List | Field::Forwarded);
        let at = if matches!(field, Field::Ip | Field::Host) && t == b':' {
            port_colon(line, *p).ok_or(LineError::Mismatch)?
        } else {
            let from = if list && t != b' ' { *p } else { search_from(field, line, *p) };
            find(line, from, t).ok_or(LineError::Mismatch)?
        };
        if lit_at(line, at + 1, &after[1..]) {
            if field == Field::User && after == b" [" && !opens_time(line, at) {
                // A name holding ` [` (see `name_end`).
                spaced_user(line, *p, at, after).unwrap_or(at)
            } else {
                at
            }
        } else if field == Field::User {
            spaced_user(line, *p, at, after).ok_or(LineError::Mismatch)?
        } else {
            return Err(LineError::Mismatch);
        }
    } else {
        // The last field: up to the next space, so extra trailing
        // fields (a server that appends more) do not spoil it.
        let from = search_from(field, line, *p);
        find(line, from, b' ').unwrap_or(line.len())
    };
    let v = &line[*p..end];
    *p = end + after.len();
    match field {
        Field::Skip | Field::Ident | Field::SkipSpaced(_) | Field::List => {}
        Field::Forwarded => rec.forwarded = rec.forwarded.or(dash_none(v)),
        Field::Query => rec.query = rec.query.or(dash_none(v)),
        Field::Ip => match rec.ip {
            None => rec.ip = dash_none(v),
            Some(_) => rec.other_ip = rec.other_ip.or(dash_none(v)),
        },
        Field::User => rec.user = rec.user.or(dash_none(v)),
        Field::TimeClf
        | Field::TimeIso
        | Field::TimeIsoSpaced(_)
        | Field::TimeDate(_)
        | Field::TimeLocal(_)
        | Field::TimeOfDay
        | Field::TimeZone
        | Field::TimeEpoch
        | Field::TimeEpochIn(_)
            if !want_time => {}
        Field::TimeClf => rec.time = Some(time::parse_clf(v).ok_or(LineError::BadTime)?),
        Field::TimeIso | Field::TimeIsoSpaced(_) | Field::TimeDate(_) | Field::TimeLocal(_) => {
            rec.time = Some(time::parse_iso8601(v).ok_or(LineError::BadTime)?);
        }
        // Added to the date before it (`join_time_pieces` keeps only such
        // pieces and those with no time before them, which are no time).
        Field::TimeOfDay => {
            let tod = time::parse_time_of_day(v).ok_or(LineError::BadTime)?;
            rec.time = Some(rec.time.ok_or(LineError::BadTime)? + tod);
        }
        Field::TimeZone => {
            let offset = time::parse_offset(v).ok_or(LineError::BadTime)?;
            rec.time = Some(rec.time.ok_or(LineError::BadTime)? - offset * time::MICROS);
        }
        Field::TimeEpoch => rec.time = Some(time::parse_epoch(v).ok_or(LineError::BadTime)?),
        Field::TimeEpochIn(unit) => rec.time = Some(time::parse_epoch_in(v, unit).ok_or(LineError::BadTime)?),
        Field::Request => {
            rec.request = rec.request.or(dash_none(v));
            let (m, u, pr) = split_request(v);
            rec.method = rec.method.or(m);
            rec.uri = rec.uri.or(u);
            rec.protocol = rec.protocol.or(pr);
        }
        Field::Method => rec.method = dash_none(v),
        Field::Uri => rec.uri = dash_none(v),
        Field::Path => rec.path = dash_none(v),
        Field::Protocol => rec.protocol = dash_none(v),
        Field::Status => rec.status = Some(parse_status(v)?),
        Field::Bytes => {
            let n = parse_bytes(v)?;
            rec.bytes = rec.bytes.or(Some(n));
        }
        Field::Referrer => rec.referrer = dash_none(v),
        Field::UserAgent => rec.user_agent = dash_none(v),
        Field::Host => rec.host = rec.host.or(dash_none(v)),
        // Only a value overwrites: a fallback's, written before, stays
        // where this field is `-`.
        Field::Latency(unit) => {
            if let Some(us) = parse_duration(v, unit)? {
                rec.latency_us = Some(us);
            }
        }
        Field::LatencyFallback(unit) => {
            let us = parse_duration(v, unit)?;
            rec.latency_us = rec.latency_us.or(us);
        }
    }
    Ok(())
}

/// Where an address (or a virtual host, Apache's `%v:%p`) starting at `p`
/// and followed by `:` and a port ends.
/// An IPv4 address or a host name (a `.` before the first colon), or no
/// address (`-`, `unix`): at the first colon, as any field ends at its
/// literal. An IPv6 address holds colons: at the last colon of its run of
/// letters, digits, `:`, `.` and `%` (a zone), so `2001:db8::1:443` is
/// `2001:db8::1`, port 443, and so is a masked `2001:db8::x:443` or a
/// hashed one (letters); only when at least two colons come before that
/// one (an IPv6 address has two or more), so `localhost:5555:200` of
/// `$remote_addr:$remote_port:$status` is `localhost`. (An IPv6 address in
/// that format is ambiguous, and read up to its port's end.) In brackets,
/// `[2001:db8::1]:443`: after the `]`.
pub(crate) fn port_colon(line: &[u8], p: usize) -> Option<usize> {
    let rest = &line[p..];
    if rest.first() == Some(&b'[')
        && let Some(close) = memchr::memchr(b']', rest)
        && rest.get(close + 1) == Some(&b':')
    {
        return Some(p + close + 1);
    }
    let first = memchr::memchr(b':', rest)?;
    if rest[..first].contains(&b'.') {
        return Some(p + first);
    }
    // A zone (`%eth0`, `%br-lan`) is an interface name: `-` and `_` belong
    // to it.
    let mut zone = false;
    let run = rest
        .iter()
        .position(|&b| {
            zone |= b == b'%';
            !(b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'%') || (zone && matches!(b, b'-' | b'_')))
        })
        .unwrap_or(rest.len());
    let last = memchr::memrchr(b':', &rest[..run]).unwrap_or(first);
    let ipv6 = last > first && memchr::memchr_iter(b':', &rest[..last]).nth(1).is_some();
    Some(p + if ipv6 { last } else { first })
}

/// Where to look for the end of an unquoted field starting at `p`: past the
/// space inside a timestamp (before the zone of `10/Oct/2000:13:55:36
/// -0700`; between date and time of `2000-10-10 13:55:36`), at `p`
/// otherwise.
#[inline]
fn search_from(field: Field, line: &[u8], p: usize) -> usize {
    let len = line.len();
    match field {
        Field::TimeClf => {
            // Past the space before the zone; a time without one (which
            // `time::parse_clf` reads too) ends at its bracket.
            let after_seconds = (p + 20).min(len);
            match find2(line, after_seconds, b' ', b']') {
                Some(i) if line[i] == b' ' => i + 1,
                Some(i) => i,
                None => after_seconds,
            }
        }
        // `$time_iso8601` written with a space: `2000-10-10 13:55:36`, maybe
        // with a zone after another space.
        Field::TimeIso
            if line.get(p + 10) == Some(&b' ')
                && line
                    .get(p + 11..p + 14)
                    .is_some_and(|t| t[0].is_ascii_digit() && t[1].is_ascii_digit() && t[2] == b':') =>
        {
            let zone = line
                .get(p + 19..p + 25)
                .is_some_and(|z| z[0] == b' ' && matches!(z[1], b'+' | b'-') && z[2..].iter().all(u8::is_ascii_digit));
            if zone { (p + 20).min(len) } else { (p + 11).min(len) }
        }
        // Past the spaces the layout puts inside (`2000-10-10 13:55:36
        // +0200`: two); a date alone (`%{%Y-%m-%d}t`) has none. A `-` (not
        // a year's sign) is no time, and ends at the literal after it.
        Field::TimeIsoSpaced(n) | Field::TimeDate(n) | Field::TimeLocal(n) | Field::SkipSpaced(n) => {
            if line.get(p) == Some(&b'-') && !line.get(p + 1).is_some_and(u8::is_ascii_digit) {
                return p;
            }
            let mut q = p;
            for _ in 0..n {
                match find(line, q, b' ') {
                    Some(i) => q = i + 1,
                    None => return len,
                }
            }
            q
        }
        // An address list is joined with `, ` too.
        Field::List | Field::Forwarded => {
            // nginx joins the values of several upstreams with `, ` and
            // those of internal redirects with ` : `: the field ends at the
            // first space that is neither.
            let mut q = p;
            while let Some(s) = find(line, q, b' ') {
                if s > p && line[s - 1] == b',' {
                    q = s + 1;
                } else if s > p && line.get(s + 1..s + 3) == Some(b": ") {
                    q = s + 3;
                } else {
                    return s;
                }
            }
            len
        }
        _ => p,
    }
}

/// Whether `line` holds `lit` at `at`. Literals are a few bytes: a byte
/// loop is cheaper than a call to `memcmp`.
#[inline]
fn lit_at(line: &[u8], at: usize, lit: &[u8]) -> bool {
    match line.get(at..at + lit.len()) {
        Some(got) => got.iter().zip(lit).all(|(a, b)| a == b),
        None => false,
    }
}

/// Fill `path` from `uri` (or the reverse) so both group-by fields work.
/// A target in absolute form (`http://example.com/a`) gives its path, and
/// its authority as `host` where the format logs no host of its own.
#[inline]
pub(crate) fn finish_paths(rec: &mut LogRecord<'_>) {
    match (rec.uri, rec.path) {
        (Some(u), None) => {
            let (path, authority) = path_and_authority(u);
            rec.path = Some(path);
            rec.host = rec.host.or(authority);
        }
        (None, Some(p)) => rec.uri = Some(p),
        _ => {}
    }
}

/// The end of a quoted field starting at `from`: the first unescaped `"`
/// where the line continues with `after`. When `after` is the bare closing
/// quote, the quote must also end the line or be followed by a space. So a
/// stray unescaped quote inside a field is skipped unless a space follows
/// it; servers escape quotes (`\"` or `\x22`), so this only matters for
/// hand-made lines. Inlined, so that each preset parser's literal is a
/// constant in it.
#[inline(always)]
fn closing_quote(line: &[u8], from: usize, after: &[u8]) -> Result<usize, LineError> {
    let mut at = from;
    while let Some(q) = find(line, at, b'"') {
        at = q + 1;
        // Most quotes follow no backslash at all.
        if q > from && line[q - 1] == b'\\' && line[from..q].iter().rev().take_while(|&&c| c == b'\\').count() % 2 == 1
        {
            continue;
        }
        if !lit_at(line, q + 1, &after[1..]) {
            continue;
        }
        if after.len() == 1 && !matches!(line.get(q + 1), None | Some(b' ' | b'\t')) {
            continue;
        }
        return Ok(q);
    }
    Err(LineError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Plan {
        /// A line's record by value, for tests.
        fn parse<'a>(&self, line: &'a [u8], want_time: bool) -> Result<LogRecord<'a>, LineError> {
            crate::record::by_value(|rec| self.parse_into(line, want_time, rec))
        }
    }

    /// A Basic-auth user name may hold spaces, which servers log as they
    /// are: after a lone `-` ident it ends at the literal after it.
    #[test]
    fn a_user_name_with_spaces_after_a_dash_ident_ends_at_the_literal_after_it() {
        let line = br#"203.0.113.45 - John Q Smith [10/Oct/2023:13:55:36 +0000] "GET /a?s=1 HTTP/1.1" 401 0 "-" "-""#;
        for f in [crate::LogFormat::combined(), crate::LogFormat::common(), crate::LogFormat::main()] {
            let r = f.parse(line).unwrap();
            assert_eq!((r.user, r.status, r.path), (Some(&b"John Q Smith"[..]), Some(401), Some(&b"/a"[..])));
        }
        for (fmt, syntax) in [
            (r#"%h %l %u %t "%r" %>s %b"#, Syntax::Apache),
            (r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent"#, Syntax::Nginx),
        ] {
            let p = Plan::compile(fmt, syntax).unwrap();
            let r = p.parse(br#"1.2.3.4 - a b [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 5"#, true).unwrap();
            assert_eq!((r.ip, r.user, r.bytes), (Some(&b"1.2.3.4"[..]), Some(&b"a b"[..]), Some(5)), "{fmt}");
            // Still a mismatch where the literal never comes.
            assert!(p.parse(br#"1.2.3.4 - a b 10/Oct/2023 "GET / HTTP/1.1" 200 5"#, true).is_err());
        }
    }

    /// A user name holding ` [` (`John [ops] Smith`) ends at the ` [` that
    /// a time follows, whether the time is read or not: before, the line
    /// was malformed when the query read the time and counted, with the
    /// name cut at `John`, when it did not.
    #[test]
    fn a_user_name_holding_a_bracket_ends_where_the_time_starts() {
        let line =
            br#"203.0.113.45 - John [ops] Smith [10/Oct/2023:13:55:36 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua" 0.25"#;
        for f in [crate::LogFormat::timed(), crate::LogFormat::combined(), crate::LogFormat::common()] {
            for want_time in [false, true] {
                let r = crate::record::by_value(|rec| f.parse_into(line, want_time, rec)).unwrap();
                assert_eq!((r.user, r.path, r.status), (Some(&b"John [ops] Smith"[..]), Some(&b"/a"[..]), Some(200)));
                assert_eq!(r.time.is_some(), want_time);
            }
        }
        let p = Plan::compile(r#"%h %l %u %t "%r" %>s %b"#, Syntax::Apache).unwrap();
        let r = p.parse(br#"1.2.3.4 - a [b] c [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 5"#, true).unwrap();
        assert_eq!((r.user, r.bytes), (Some(&b"a [b] c"[..]), Some(5)));
        // The same where the name's first space is not followed by ` [`.
        for want_time in [false, true] {
            let r = p.parse(br#"1.2.3.4 - a b [c] d [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 5"#, want_time);
            assert_eq!(r.unwrap().user, Some(&b"a b [c] d"[..]));
        }
        // Where no name is vouched for (an ident that is not `-`; a quote
        // or an address in the name), it still ends at the first ` [`.
        for line in [
            &br#"1.2.3.4 id a [b] c [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 5"#[..],
            br#"1.2.3.4 - a [b] "c [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 5"#,
            br#"1.2.3.4 - a [b] 10.0.0.1 [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 5"#,
        ] {
            let r = p.parse(line, false).unwrap();
            assert_eq!(r.user, Some(&b"a"[..]), "{}", String::from_utf8_lossy(line));
            assert_eq!(p.parse(line, true), Err(LineError::BadTime), "{}", String::from_utf8_lossy(line));
        }
    }

    /// Lines shifted by a word stay malformed: read with a spaced user they
    /// would take the wrong word for the client address.
    #[test]
    fn shifted_lines_are_not_read_as_a_user_name_with_spaces() {
        let shifted: [&[u8]; 11] = [
            // Apache's vhost_combined.
            br#"www.example.com:443 203.0.113.7 - - [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "-""#,
            br#"www.example.com:443 203.0.113.7 - bob [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "-""#,
            // A leading space, a doubled one.
            br#" 203.0.113.7 - - [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "-""#,
            br#"203.0.113.7  - - [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "-""#,
            br#"203.0.113.7 -  - [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "-""#,
            // An extra word after a dash user; a quote in the name.
            br#"203.0.113.7 - - extra [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "-""#,
            br#"203.0.113.7 - a "b [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "-""#,
            // A doubled space before the time; an address after the name
            // (an extra field: a forwarded address).
            br#"203.0.113.7 - Ann  [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "-""#,
            br#"203.0.113.7 - john smith 203.0.113.77 [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "-""#,
            br#"203.0.113.7 - bob 2001:db8::7 [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "-""#,
            br#"203.0.113.7 - bob 198.51.100.2:5555 [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "-""#,
        ];
        for line in shifted {
            for f in [crate::LogFormat::combined(), crate::LogFormat::common(), crate::LogFormat::main()] {
                assert!(f.parse(line).is_err(), "{}", String::from_utf8_lossy(line));
            }
        }
        // Auto-detection does not take vhost_combined for combined.
        let vhost = [shifted[0], b"\n", shifted[1], b"\n"].concat();
        assert_eq!(crate::LogFormat::detect(&vhost).unwrap().name(), "vhost_combined");
    }

    #[test]
    fn presets_run_unrolled_and_parse_as_the_general_loop() {
        use crate::format::{COMBINED, COMMON, MAIN_READ, TIMED};
        let samples = concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets/samples/");
        let mut lines: Vec<Vec<u8>> = Vec::new();
        for name in ["access-combined.log", "access-timed.log"] {
            let text = std::fs::read(format!("{samples}{name}")).unwrap();
            lines.extend(text.split(|&b| b == b'\n').take(60).map(<[u8]>::to_vec));
        }
        lines.extend(
            [
                &br#"::1 - - [10/Oct/2000:13:55:36 -0700] "GET /a\" b HTTP/1.1" 200 - "-" "x \"y\" z" 0.1 extra"#[..],
                br#"1.2.3.4 - bob [10/Oct/2000:13:55:36 +0000] "-" 404 12 "r" "u""#,
                br#"1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] "\x16\x03" 400 0"#,
                br#"1.2.3.4 - - [bad] "GET / HTTP/1.1" 200 1 "r" "u" 1"#,
                br#"1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 1 "r" "u" "5.6.7.8, 10.0.0.1""#,
                br#"1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 1 "r" "u" "-""#,
                b"",
                b"   ",
            ]
            .map(<[u8]>::to_vec),
        );
        // Every line cut short and with a structural byte put in its way.
        let mut mutated = Vec::new();
        for line in &lines {
            for at in (0..line.len()).step_by(7) {
                mutated.push(line[..at].to_vec());
                for b in [b'"', b' ', b'\\', b']', b'['] {
                    let mut m = line.clone();
                    m[at] = b;
                    mutated.push(m);
                }
            }
        }
        lines.extend(mutated);
        for (fmt, syntax, unrolled) in [
            (COMMON, Syntax::Apache, Unrolled::Common),
            (COMBINED, Syntax::Apache, Unrolled::Combined),
            (TIMED, Syntax::Nginx, Unrolled::Timed),
            (MAIN_READ, Syntax::Apache, Unrolled::Main),
        ] {
            let plan = Plan::compile(fmt, syntax).unwrap();
            assert_eq!(plan.unrolled, Some(unrolled), "{fmt}");
            let general = Plan { unrolled: None, ..plan.clone() };
            let mut parsed = 0;
            for line in &lines {
                for want_time in [true, false] {
                    let got = plan.parse(line, want_time);
                    parsed += usize::from(got.is_ok());
                    assert_eq!(got, general.parse(line, want_time), "{fmt}: {}", String::from_utf8_lossy(line));
                }
            }
            assert!(parsed > 100, "{fmt}: only {parsed} lines parsed");
        }
        // `unread_fields` finds a preset's ident after the first space.
        for (_, steps) in Unrolled::ALL {
            assert_eq!(steps[..2], [(Field::Ip, false, &b" "[..]), (Field::Ident, false, b" ")]);
        }
        // The same steps spelled another way run unrolled too; others do not.
        let spelled = r#"%a %l %u %t "%r" %s %B "%{referer}i" "%{user-agent}i""#;
        assert_eq!(Plan::compile(spelled, Syntax::Apache).unwrap().unrolled, Some(Unrolled::Combined));
        assert_eq!(Plan::compile("%h %l %u %t \"%r\" %>s %b %D", Syntax::Apache).unwrap().unrolled, None);
    }

    #[test]
    fn apache_directives_compile() {
        let p = Plan::compile(r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i" %D"#, Syntax::Apache).unwrap();
        let fields: Vec<Field> = p.steps.iter().map(|s| s.field).collect();
        assert_eq!(
            fields,
            [
                Field::Ip,
                Field::Ident,
                Field::User,
                Field::TimeClf,
                Field::Request,
                Field::Status,
                Field::Bytes,
                Field::Referrer,
                Field::UserAgent,
                Field::Latency(TimeUnit::Micros)
            ]
        );
        assert!(p.steps[4].quoted && !p.steps[5].quoted);
        assert!(Plan::compile("%h %Z", Syntax::Apache).is_err());
        assert!(Plan::compile("%h %{Referer", Syntax::Apache).is_err());
        assert!(Plan::compile("%h%s", Syntax::Apache).is_err());
        // The error points at the second field.
        let err = Plan::compile("%h %l %u%>s", Syntax::Apache).unwrap_err().to_string();
        assert!(err.contains("at byte 8: two fields follow each other"), "{err}");
        let err = Plan::compile("$remote_addr $status$request_time", Syntax::Nginx).unwrap_err().to_string();
        assert!(err.contains("at byte 20: two fields follow each other"), "{err}");
        assert!(Plan::compile("%l %p", Syntax::Apache).is_err());
    }

    #[test]
    fn nginx_variables_compile() {
        let p =
            Plan::compile("$remote_addr - ${remote_user} [$time_local] \"$request\" $status", Syntax::Nginx).unwrap();
        assert_eq!(p.steps.len(), 5);
        assert!(Plan::compile("$ x", Syntax::Nginx).is_err());
        assert!(Plan::compile("${x", Syntax::Nginx).is_err());
    }

    #[test]
    fn timestamps_with_spaces_at_the_end_or_before_a_space() {
        let p = Plan::compile("$status $time_local", Syntax::Nginx).unwrap();
        assert_eq!(p.parse(b"200 10/Oct/2000:13:55:36 -0700", true).unwrap().time, Some(971_211_336_000_000));
        assert_eq!(p.parse(b"200 10/Oct/2000:13:55:36.500 -0700", true).unwrap().time, Some(971_211_336_500_000));
        let p = Plan::compile("$time_iso8601 $status", Syntax::Nginx).unwrap();
        assert_eq!(p.parse(b"2000-10-10 20:55:36 200", true).unwrap().time, Some(971_211_336_000_000));
        assert_eq!(p.parse(b"2000-10-10T20:55:36Z 200", true).unwrap().status, Some(200));
    }

    #[test]
    fn apache_time_forms_are_read_or_skipped() {
        let t = 1_709_251_201_000_000; // 2024-03-01T00:00:01Z
        for (fmt, line) in [
            // The fraction alone is not a time: %t's stays.
            ("%h %t %{msec_frac}t %>s", &b"::1 [01/Mar/2024:00:00:01 +0000] 250 200"[..]),
            ("%h %{begin:msec}t %>s", b"::1 1709251201000 200"),
            ("%h %{end:sec}t %>s", b"::1 1709251201 200"),
            ("%h [%{%Y-%m-%d %H:%M:%S %z}t] %>s", b"::1 [2024-03-01 01:00:01 +0100] 200"),
            ("%h %{%Y-%m-%d %H:%M:%S %z}t %>s", b"::1 2024-03-01 01:00:01 +0100 200"),
            ("%h %{%F %T}t %>s", b"::1 2024-03-01 00:00:01 200"),
            ("%h %{begin:%d/%b/%Y:%H:%M:%S %z}t %>s", b"::1 01/Mar/2024:01:00:01 +0100 200"),
        ] {
            let p = Plan::compile(fmt, Syntax::Apache).unwrap();
            let r = p.parse(line, true).unwrap_or_else(|e| panic!("{fmt}: {e:?}"));
            assert_eq!((r.time, r.status), (Some(t), Some(200)), "{fmt}");
        }
        // Layouts no parser here reads still serve queries that do not use
        // time (mod_log_config's own millisecond example among them); for
        // those that do, their lines are bad-time.
        let p = Plan::compile(r#"%h [%{%d/%b/%Y %T}t.%{msec_frac}t %{%z}t] "%r" %>s %b"#, Syntax::Apache).unwrap();
        let line = br#"1.2.3.4 [01/Mar/2024 00:00:01.123 +0000] "GET / HTTP/1.1" 200 5"#;
        assert_eq!(p.parse(line, false).map(|r| (r.status, r.bytes)), Ok((Some(200), Some(5))));
        assert_eq!(p.parse(line, true), Err(LineError::BadTime));
    }

    #[test]
    fn a_field_meaning_decides_between_two_of_one_kind() {
        // `%>s` is the final status, `%s` the original one.
        let p = Plan::compile(r#"%h "%r" %>s %s %b"#, Syntax::Apache).unwrap();
        assert_eq!(p.parse(br#"::1 "GET /a HTTP/1.1" 404 200 10"#, true).unwrap().status, Some(404));
        let p = Plan::compile(r#"%h "%r" %s %>s %b"#, Syntax::Apache).unwrap();
        assert_eq!(p.parse(br#"::1 "GET /a HTTP/1.1" 200 404 10"#, true).unwrap().status, Some(404));
        // Body bytes over bytes sent with headers, in either order.
        for (fmt, syntax) in [
            ("$remote_addr \"$request\" $status $bytes_sent $body_bytes_sent", Syntax::Nginx),
            ("%h \"%r\" %>s %O %b", Syntax::Apache),
        ] {
            let p = Plan::compile(fmt, syntax).unwrap();
            assert_eq!(p.parse(br#"::1 "GET /a HTTP/1.1" 200 350 100"#, true).unwrap().bytes, Some(100), "{fmt}");
        }
        let p = Plan::compile("$remote_addr $bytes_sent", Syntax::Nginx).unwrap();
        assert_eq!(p.parse(b"::1 350", true).unwrap().bytes, Some(350), "alone, bytes sent stand in");
        // Request times: the finest unit, in either order (`%T` is whole
        // seconds: a 0.25 s request logs 0).
        for (fmt, line) in [
            ("%h %>s %D %T", &b"::1 200 250000 0"[..]),
            ("%h %>s %T %D", b"::1 200 0 250000"),
            ("%h %>s %{us}T %{s}T", b"::1 200 250000 0"),
            ("%h %>s %{s}T %{ms}T", b"::1 200 0 250"),
            ("%h %>s %T/%D", b"::1 200 0/250000"),
        ] {
            let p = Plan::compile(fmt, Syntax::Apache).unwrap();
            assert_eq!(p.parse(line, true).unwrap().latency_us, Some(250_000), "{fmt}");
        }
        // The coarser field stands in where the finer is `-`, and is still
        // checked.
        for fmt in ["%h %>s %D %T", "%h %>s %T %D"] {
            let p = Plan::compile(fmt, Syntax::Apache).unwrap();
            let line: &[u8] = if fmt.ends_with("%T") { b"::1 200 - 2" } else { b"::1 200 2 -" };
            assert_eq!(p.parse(line, true).unwrap().latency_us, Some(2_000_000), "{fmt}");
            let bad: &[u8] = if fmt.ends_with("%T") { b"::1 200 250000 abc" } else { b"::1 200 abc 250000" };
            assert_eq!(p.parse(bad, true), Err(LineError::BadLatency), "{fmt}");
        }
    }

    #[test]
    fn nginx_upstream_lists_do_not_shift_later_fields() {
        let p = Plan::compile(
            "$remote_addr $status $upstream_response_time $request_time $upstream_addr \"$request\"",
            Syntax::Nginx,
        )
        .unwrap();
        for (line, latency) in [
            (&br#"::1 502 0.001, 0.002 : 0.003 0.250 10.0.0.1:80, 10.0.0.2:80 "GET / HTTP/1.1""#[..], 250_000),
            (br#"::1 200 0.100 0.120 10.0.0.1:80 "GET / HTTP/1.1""#, 120_000),
            (br#"::1 200 - 0.005 - "GET / HTTP/1.1""#, 5000),
        ] {
            let r = p.parse(line, true).unwrap_or_else(|e| panic!("{}: {e:?}", String::from_utf8_lossy(line)));
            assert_eq!((r.latency_us, r.method), (Some(latency), Some(&b"GET"[..])));
        }
        // Followed by anything but a space, an upstream field ends at that
        // literal, as any field does.
        for (fmt, line) in [
            ("$remote_addr|$upstream_cache_status|$status|$body_bytes_sent", &b"1.2.3.4|HIT|200|512"[..]),
            ("$remote_addr,$upstream_addr,$status,$body_bytes_sent", b"1.2.3.4,10.0.0.1:80,200,512"),
            ("$remote_addr [$upstream_addr] $status $body_bytes_sent", b"1.2.3.4 [10.0.0.1:80] 200 512"),
        ] {
            let p = Plan::compile(fmt, Syntax::Nginx).unwrap();
            let r = p.parse(line, true).unwrap_or_else(|e| panic!("{fmt}: {e:?}"));
            assert_eq!((r.status, r.bytes), (Some(200), Some(512)), "{fmt}");
        }
    }

    /// `$remote_addr:$remote_port`: an IPv6 address holds colons, so the
    /// address ends at the last colon before the port, not the first.
    #[test]
    fn an_address_followed_by_a_port_ends_at_the_last_colon() {
        for (fmt, syntax) in [
            ("$remote_addr:$remote_port - $remote_user [$time_local] \"$request\" $status", Syntax::Nginx),
            ("%a:%{remote}p - %u %t \"%r\" %>s", Syntax::Apache),
        ] {
            let p = Plan::compile(fmt, syntax).unwrap();
            assert!(p.read_otherwise_before_rules_4(), "{fmt}");
            for (addr, port) in [
                ("2001:db8:85a3:8d3:1319:8a2e:370:7348", "5555"),
                ("2001:db8::1", "443"),
                ("::1", "8080"),
                ("203.0.113.9", "51234"),
                ("::ffff:192.0.2.1", "80"),
                // Masked and hashed (redact's own output reads back).
                ("2001:db8::x", "443"),
                ("203.0.113.xx", "443"),
                ("2001:db8:1:gk::lv", "443"),
                ("fe80::a:b%eth0", "5555"),
                // A zone is an interface name, `-` and `_` included.
                ("fe80::1%br-lan", "5555"),
                ("fe80::1%wl_0", "443"),
                ("[2001:db8::1]", "443"),
                // Host names and no address, as before.
                ("example.com", "5555"),
                ("host-1.example.com", "5555"),
                ("unix", "5555"),
                ("-", "5555"),
            ] {
                let line = format!("{addr}:{port} - bob [10/Oct/2000:13:55:36 -0700] \"GET /a HTTP/1.1\" 200");
                let r = p.parse(line.as_bytes(), true).unwrap_or_else(|e| panic!("{line}: {e:?}"));
                let want = (addr != "-").then_some(addr.as_bytes());
                assert_eq!((r.ip, r.user, r.status), (want, Some(&b"bob"[..]), Some(200)), "{line}");
            }
        }
        // An IPv4 address before a port and more colon-separated fields
        // ends at its first colon, as before.
        let p = Plan::compile("$remote_addr:$remote_port:$status - $remote_user", Syntax::Nginx).unwrap();
        for (line, ip) in [
            (&b"203.0.113.9:5555:200 - bob"[..], &b"203.0.113.9"[..]),
            (b"localhost:5555:200 - bob", b"localhost"),
            (b"unix:5555:200 - bob", b"unix"),
        ] {
            let r = p.parse(line, true).unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!((r.ip, r.status), (Some(ip), Some(200)));
        }
        let plain = Plan::compile("$remote_addr $remote_port $status", Syntax::Nginx).unwrap();
        assert!(!plain.read_otherwise_before_rules_4());
    }

    /// Apache's `%v:%p`: a virtual host named by an IPv6 address (in
    /// brackets, as `ServerName` takes one, or bare) ends before its port
    /// as a client address does, not at its first colon.
    #[test]
    fn a_virtual_host_followed_by_a_port_ends_at_the_port() {
        let p = Plan::compile(crate::format::VHOST_COMBINED, Syntax::Apache).unwrap();
        assert!(p.read_otherwise_before_rules_5());
        assert!(!Plan::compile("%h %v %p", Syntax::Apache).unwrap().read_otherwise_before_rules_5());
        for (host, port) in [
            ("[2001:db8::1]", "443"),
            ("2001:db8::1", "443"),
            ("[::1]", "8080"),
            ("www.example.com", "80"),
            ("localhost", "80"),
            ("203.0.113.1", "8443"),
        ] {
            let line = format!(
                "{host}:{port} 198.51.100.7 - - [10/Oct/2000:13:55:36 -0700] \"GET /a HTTP/1.1\" 200 512 \"-\" \"curl/8\""
            );
            let r = p.parse(line.as_bytes(), true).unwrap_or_else(|e| panic!("{line}: {e:?}"));
            assert_eq!(
                (r.host, r.ip, r.status),
                (Some(host.as_bytes()), Some(&b"198.51.100.7"[..]), Some(200)),
                "{line}"
            );
        }
    }

    #[test]
    fn path_and_query_make_a_uri() {
        let p = Plan::compile("%h \"%m %U%q %H\" %>s", Syntax::Apache).unwrap();
        let r = p.parse(b"::1 \"GET /a?b=1 HTTP/1.1\" 200", true).unwrap();
        assert_eq!(r.uri, Some(&b"/a?b=1"[..]));
        assert_eq!(r.path, Some(&b"/a"[..]));
        assert_eq!(r.method, Some(&b"GET"[..]));
        // nginx's `$uri$is_args$args` idiom, with and without arguments.
        for fmt in [
            "$remote_addr \"$request_method $uri$is_args$args\" $status",
            "$remote_addr \"$request_method ${uri}${is_args}${args}\" $status",
        ] {
            let p = Plan::compile(fmt, Syntax::Nginx).unwrap();
            let r = p.parse(b"::1 \"GET /a?b=1\" 200", true).unwrap();
            assert_eq!((r.uri, r.path, r.status), (Some(&b"/a?b=1"[..]), Some(&b"/a"[..]), Some(200)), "{fmt}");
            let r = p.parse(b"::1 \"GET /a\" 200", true).unwrap();
            assert_eq!((r.uri, r.path), (Some(&b"/a"[..]), Some(&b"/a"[..])), "{fmt}");
        }
        assert!(Plan::compile("$remote_addr $is_args$argsx", Syntax::Nginx).is_err());
    }

    #[test]
    fn a_format_pasted_from_httpd_conf_keeps_its_quotes() {
        let plain = Plan::compile(r#"%h %l %u %t "%r" %>s %b"#, Syntax::Apache).unwrap();
        let pasted = Plan::compile(r#"%h %l %u %t \"%r\" %>s %b"#, Syntax::Apache).unwrap();
        let line = br#"::1 - - [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.1" 200 5"#;
        assert_eq!(pasted.parse(line, true), plain.parse(line, true));
        assert!(pasted.parse(line, true).is_ok());
    }
}
