//! Anonymising log lines in place: client addresses, query strings and user
//! names are overwritten byte for byte, so a line (and the file it lies in)
//! keeps its length and every byte outside the masked fields.
//!
//! The rules, per [`Mask`]:
//!
//! * [`Mask::Ip`]: an IPv4 address keeps its first three octets (the /24)
//!   and the digits of the last become `x` (`203.0.113.45` → `203.0.113.xx`).
//!   An IPv6 address keeps its first three groups (the /48) and every hex
//!   digit of groups 4 to 8 becomes `x`; colons and the `::` are kept. The
//!   groups are counted as the address means them, with `::` standing for
//!   its zero groups, so `2001:db8::1` becomes `2001:db8::x` and
//!   `1::3:4:5:6:7:8` keeps `1::3` (group 2 is the `::`, group 3 is `3`). The
//!   digits of an embedded IPv4 tail (`::ffff:192.0.2.1`, groups 7 and 8)
//!   are masked too. An address with a port (`203.0.113.45:8080`, as Go
//!   logs a remote address; `[2001:db8::5]:443`) or in brackets is masked
//!   and its brackets and port kept; one with a zone (`fe80::1%eth0`, the
//!   interface a link-local client was reached on) is masked as without
//!   it, and the zone kept. A text format's address followed by `:` and a
//!   port (`$remote_addr:$remote_port`) is ambiguous when it is IPv6
//!   without brackets: `2001:db8::1:8080` is read as address `2001:db8::1`
//!   and port `8080`, but is also the address `2001:db8::1:8080`, whose
//!   last group the port would then be. So a port of 1 to 4 letters or
//!   digits that makes an address together with the address before it is
//!   masked with it, as that address's last group (`2001:db8::x:xxxx`;
//!   with [`Mask::IpHash`] the address keeps the letters it gets alone and
//!   the port gets those of a next group; after an address an earlier
//!   version hashed, whose digits the port's letters would need, the port
//!   is masked with `x`), and no reading of the line
//!   leaves a digit of the address in clear; a port of 5 digits (most
//!   client ports), or one after eight groups, a zone or an IPv4 tail,
//!   cannot be a group and is kept. A field that is not an address (a host name)
//!   is left as it is and counted in [`Changes::not_ip`]. A format with
//!   two address fields (`%h` and `%a`, or more) has all masked, and every
//!   address of each `X-Forwarded-For` list (`%{X-Forwarded-For}i`,
//!   `$http_x_forwarded_for`, `$proxy_add_x_forwarded_for`, and `X-Real-IP`:
//!   items between commas, spaces, tabs or `;`; an item that is no address
//!   as a whole, such as RFC 7239's `for=192.0.2.60`, is searched for one),
//!   in a text format or in a JSON line's forwarded keys (nginx's variable
//!   names, Traefik's `ClientAddr` and `request_X-Forwarded-For`, Caddy's
//!   `request.headers`, ...: see the README; and the keys `--json-field
//!   forwarded=KEY` names, beside them:
//!   [`JsonTarget::Forwarded`]).
//!   In a text line, every address in the text after the fields the format
//!   names is masked too (a preset reads up to its last field and ignores
//!   the rest, which may be an `X-Forwarded-For` list appended to it); the
//!   other words there are left and not counted.
//! * [`Mask::IpHash`]: the same positions get letters, a keyed pseudonym
//!   of the address: each masked digit goes through a keyed permutation of
//!   its alphabet (an IPv4 octet's decimal digits onto `g` to `p`, an IPv6
//!   group's hex digits onto `g` to `v`), drawn from a SipHash-2-4 of the
//!   field up to that digit and the length of its octet or group. So one
//!   address, written alike, gives the same text wherever it occurs, in any
//!   file redacted with the same key (one address written two ways,
//!   `::ffff:192.0.2.1` and `192.0.2.1`, or IPv6 compressed and not, gets
//!   two texts); two addresses of one /24 (/48) get different texts,
//!   sharing letters exactly as far as their text agrees from the left
//!   (prefix-preserving, in the spirit of Crypto-PAn). It is a pseudonym,
//!   not encryption: it keeps each octet's and group's length (and an IPv6
//!   address's `::`, so which groups are zero), and which addresses share
//!   leading digits, so many addresses of one /24 still narrow some digits
//!   down by counting (a three-digit octet starts with 1 or 2, and only a 2
//!   is followed by just six letters). Use [`Mask::Ip`] where the last
//!   octet must not be recoverable at all. With the key, the mapping can
//!   be reversed: keep it as secret as the logs. (The first version of this
//!   scheme shifted each digit by a keyed nibble, modulo 16, from a hash of
//!   the whole kept text: a decimal digit took only 10 of 16 letters, and
//!   the letters of a /24 gave the shifts away; IPv6 letters changed with
//!   the text right of them. Pseudonyms written by it differ from today's.)
//!   Because each letter needs only the digits to its left, and letters are
//!   written right to left, a run killed inside an address leaves digits
//!   followed by letters, which the rerun completes exactly as an
//!   uninterrupted run would have. (Digits beside letters this scheme does
//!   not write, `q` to `v` in an octet from its first version, are masked
//!   with `x` instead.)
//! * [`Mask::Query`]: every byte of a query string becomes `x`, except `&`
//!   and `=`, so the parameter structure stays visible (a query starts at
//!   the first `?`, or a JSON `\u003f`): in the request line
//!   (after the target's first `?`, up to the next space, whether or not
//!   the line splits into method, target and protocol), in a target logged
//!   on its own (`%U%q`, a JSON `request_uri` beside `request`: both are
//!   masked), in a query logged on its own (`%q`, `$args`, a JSON
//!   `args`, `query_string` or `request_query` key, the Elastic Common
//!   Schema's `url.query` (which holds no `?`), or the keys
//!   `--json-field query=...` names), and in the referrer (after its first
//!   `?`: a page's query comes back as the referrer of every asset the page
//!   loads). A text line's escapes
//!   (`\"`, `\x22`) are masked whole, so the line stays well-formed; a
//!   JSON string is masked on the characters it means (below), so an
//!   escaped `&` (`\u0026`) is kept as `&` is.
//! * [`Mask::User`]: every byte of the user field (`%u`, `$remote_user`, a
//!   JSON `remote_user`/`user`/`user_id`) becomes `x`, unless it is `-` or
//!   empty; so does the ident's (`%l`, the remote logname identd answers
//!   when Apache's `IdentityCheck` is on: a user name on the client's
//!   host), in the presets and custom formats alike. A JSON user that is a number (`"user_id":12345`) has its digits
//!   turned into `9` instead (`99999`: JSON numbers have no `x`); `true`,
//!   `false` and `null` are kept. A JSON user that is an object or array
//!   is masked inside (see below).
//!
//! Every rule is idempotent: masked text (`x`, or the hash letters, which no
//! address contains) is recognised and left alone, and masking never changes
//! how a line parses, so redacting a redacted line changes nothing. That is
//! what makes an interrupted in-place run safe to run again. A run killed
//! while writing one field leaves it partly masked; the rerun finishes it
//! (text fields are written back to front, so a half-masked escape never
//! turns a quote loose; a half-masked address is completed), identically to
//! an uninterrupted run, for every mask (a JSON `\"` half masked reads
//! `\x`, a backslash the rerun masks; a JSON `\uXXXX` escape is written in
//! one copy of its four hex digits). A line that does
//! not parse is reported as malformed, and only its address-shaped words
//! (split at spaces, tabs, quotes, `,;=()|<>` and escapes) are masked (with `ip` or
//! `ip-hash`; its fields cannot be told apart, so its users and queries
//! stay, and so does an address inside a URL). (A JSON line's numbers, time,
//! status, size and duration, are not read for masking: only a line that
//! is not JSON is malformed.) For JSON lines,
//! the field that [`LogFormat::parse`] reads for each target is masked (the
//! first key of [`JsonFields`](crate::JsonFields) present in the line), and
//! every other key of the target's list present too (Caddy's `remote_ip`
//! beside `client_ip`, `user` beside `remote_user`, `query_string` beside
//! `args`, `uri` beside `request_uri`), and every forwarded key present
//! (which include the other keys servers log client addresses under:
//! nginx's `realip_remote_addr`, Traefik's `ClientAddr`, ...; they are
//! added by the redactor alone, as adding them to the default address keys
//! would change the spec of JSON partials, so that older ones no longer
//! merge). Keys that [`JsonFields`](crate::JsonFields) names for a masked
//! target (`--json-field`) are read beside the default keys, never instead
//! of them: naming one more key must not leave another in clear. Keys no
//! list names are not read for a target.
//!
//! But with an address mask ([`Mask::Ip`] or [`Mask::IpHash`]) every
//! string value of a JSON line, under any key and at any depth (Go's
//! `clientIP` and `remoteAddr`, Envoy's `downstream_remote_address`,
//! nginx's `upstream_addr` and `server_addr`, the Elastic Common Schema's
//! `client.ip` and `source.ip`; in arrays, in a masked key's object, and
//! past the eight levels keys are read to), is looked at too: one that is
//! as a whole an address (as an address field is read: with a port, in
//! brackets, with a zone; in clear, masked or half masked) or a list of
//! addresses (items split as a forwarded list's are, each an address) is
//! masked, and so are the `for` and `by` addresses of an RFC 7239
//! `Forwarded` value (one that starts with `for=`, `by=`, `proto=` or
//! `host=`: `for=192.0.2.60;proto=http`, `for="[2001:db8::17]:4711"`), each
//! address counted as an address field (in
//! [`Changes::fields`] and [`Changes::addresses`], as a forwarded list's
//! items are: the summary's address count is of addresses masked, which
//! these are). Any other string value is left byte for byte and not
//! counted (nothing said it was an address); keys are never masked. So a
//! server's own address (`server_addr`, `upstream_addr`), and a value that
//! only looks like an address (a version `1.2.3.4`, an identifier
//! `cafe::1`), are masked too: over-masking, which a privacy tool prefers
//! to a client address left in clear. Only a string that starts as an
//! address can (1 to 4 hex digits, then `.` or `:`; `:`, `[`, or an
//! escape) or as a `Forwarded` value can is looked at closely, so the common line (a time, a request, a
//! user agent) costs a few compares. Addresses inside other text
//! (`"msg":"connection from 203.0.113.9 refused"`) are not looked for, as
//! they are in a line that does not parse: cutting every string value of
//! every line into words (the rule of `Redactor::redact_unparsed`) took
//! 2.9 times the user time of redacting 1M nginx JSON lines (`--mask
//! ip,query,user`: 2.48 s against 0.86 s), for user agents and requests
//! that hold no address. A field of free text that may hold one must be
//! removed or masked by other means.
//!
//! A masked key whose JSON value is an object or array (the Elastic Common
//! Schema's `"user":{"name":"alice","id":"42"}`, a list of addresses) is
//! masked inside: every string in it, at any depth, is masked by the key's
//! rule as if it were the key's value, and counted as such a value is,
//! each on its own (the example's two user fields): an address key's
//! strings are each an address, masked, or counted in
//! [`Changes::not_ip`] (a host name); a user key's strings become `x` and
//! its numbers `9`, as a query key's do (`&` and `=` kept); the strings of
//! a target, request or referrer key are masked after their first `?`
//! (all of Caddy's `request` object: its `uri`, and any header holding a
//! query). Numbers under an address, target, request or referrer key (a
//! port beside an address) are neither, and `true`, `false` and `null`
//! name nobody: they are kept. The keys inside are kept too: they are the
//! value's structure, and masking them could make two keys one (so a key
//! that is itself a name, `{"alice":1}`, is left). The logs job still
//! reads such a value as no text.
//!
//! A JSON string is masked on the characters it means, by one rule for
//! every mask: its escapes (`\u002e`, `\/`, `\"`, a surrogate pair) are
//! decoded before anything is looked at, so `"203\u002e0.113.7"` is an
//! address, a `\u002c` or `\u0020` separates the items of a forwarded
//! list, `\u003f` is a query's mark (as it is in a text line),
//! `\u0026` and `\u003d` are a query's `&` and `=` (kept), `HTTP\/1.1`
//! a protocol and `\u002d` the `-` of no value. What the rule replaces is
//! written back in the form each character had, and nothing else is
//! touched, so the string keeps its length, stays valid JSON and means
//! the masked text: a plain byte becomes the rule's byte, a `\uXXXX`
//! escape the escape of it (`203.0.113.\u0037` → `203.0.113.\u0078`,
//! which reads `203.0.113.x`; [`Mask::IpHash`] writes its letters so, and
//! they are those of the plain address), a surrogate pair two such escapes
//! (`\u0078\u0078`), and a two-byte escape (`\"`, `\\`, `\/`) two of the
//! rule's byte, JSON having no two-byte form of a letter or digit. (So a
//! masked user or query can read a few `x` more than it had characters,
//! never fewer.) A request line is split into its words at the spaces
//! it means too. An escape is written whole (its four hex digits in one
//! copy), and the characters back to front, as plain bytes are.

use std::fmt;
use std::hash::Hasher;
use std::ops::Range;
use std::str::FromStr;

use pagemill_engine::Malformed;
use pagemill_split::BOM;
use siphasher::sip128::{Hasher128, SipHasher24};

use crate::error::Error;
use crate::format::LogFormat;
use crate::json::{JsonTarget, Shape, forwarded_params};
use crate::record::{LineError, LogRecord, has_backslash};

/// One kind of field to anonymise. See the [module documentation](self) for
/// the exact rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Mask {
    /// Client address: keep the /24 (IPv4) or /48 (IPv6), `x` the rest.
    Ip,
    /// Client address: keep the /24 or /48, a keyed hash for the rest.
    IpHash,
    /// Query string: `x` except `&` and `=`.
    Query,
    /// User field: all `x`.
    User,
}

const MASKS: [Mask; 4] = [Mask::Ip, Mask::IpHash, Mask::Query, Mask::User];

impl Mask {
    /// Every mask, in a fixed order.
    pub fn all() -> [Mask; 4] {
        MASKS
    }

    /// The name [`FromStr`] reads: `ip`, `ip-hash`, `query`, `user`.
    pub fn name(self) -> &'static str {
        match self {
            Mask::Ip => "ip",
            Mask::IpHash => "ip-hash",
            Mask::Query => "query",
            Mask::User => "user",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Mask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mask {
    type Err = Error;

    fn from_str(s: &str) -> Result<Mask, Error> {
        MASKS
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| Error::option("mask", s, "expected ip, ip-hash, query or user"))
    }
}

/// The secret of [`Mask::IpHash`]: at least [`RedactKey::MIN_LEN`] bytes of
/// anything, turned into a 128-bit SipHash key.
///
/// There is deliberately no default key: with a known key, anyone could hash
/// every address of a /24 (256 candidates) and read the pseudonyms back.
#[derive(Clone, PartialEq, Eq)]
pub struct RedactKey {
    k0: u64,
    k1: u64,
}

impl fmt::Debug for RedactKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RedactKey(..)")
    }
}

impl RedactKey {
    /// The shortest secret accepted, in bytes.
    pub const MIN_LEN: usize = 16;

    /// Derive a key from `secret` (used exactly as given: strip a trailing
    /// newline first if it is not part of the secret). Refuses secrets
    /// shorter than [`RedactKey::MIN_LEN`] bytes.
    pub fn new(secret: &[u8]) -> Result<RedactKey, Error> {
        if secret.len() < RedactKey::MIN_LEN {
            return Err(Error::option(
                "redaction key",
                &format!("{} bytes", secret.len()),
                format!("too short: use at least {} bytes of random text", RedactKey::MIN_LEN),
            ));
        }
        let mut h = SipHasher24::new_with_keys(0x7061_6765_6d69_6c6c, 0x7265_6461_6374_2d31);
        h.write(b"pagemill-redact-key-v1\0");
        h.write(secret);
        let k = h.finish128();
        Ok(RedactKey { k0: k.h1, k1: k.h2 })
    }
}

/// What redaction changed (or, for [`Redactor::survey_chunk`], would change)
/// in a line or a run of lines. Counts add up with [`Changes::merge`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Changes {
    /// Lines seen, malformed ones included.
    pub lines: u64,
    /// Lines in which at least one byte changed.
    pub lines_changed: u64,
    /// Lines that do not parse: only their address-shaped words are masked.
    pub malformed: u64,
    /// Client-address fields (and items of forwarded lists: RFC 7239's
    /// `for=` and `by=` included, its other parameters not) that are not
    /// an IP address (host names, `unknown`), left as they
    /// are.
    pub not_ip: u64,
    /// Client addresses found, masked now or before, or not an IP: none in
    /// a whole file means the format does not name them (a JSON log whose
    /// client key is none of the defaults and holds a host name, say; an
    /// address under any JSON key is found and masked).
    pub addresses: u64,
    fields: [u64; 4],
    lines_with: [u64; 4],
}

impl Changes {
    /// Fields changed by `mask`.
    pub fn fields(&self, mask: Mask) -> u64 {
        self.fields[mask.index()]
    }

    /// Lines in which `mask` changed a field.
    pub fn lines_with(&self, mask: Mask) -> u64 {
        self.lines_with[mask.index()]
    }

    /// All fields changed, whatever the mask.
    pub fn fields_total(&self) -> u64 {
        self.fields.iter().sum()
    }

    /// Add the counts of `other`.
    pub fn merge(&mut self, other: Changes) {
        self.lines += other.lines;
        self.lines_changed += other.lines_changed;
        self.malformed += other.malformed;
        self.not_ip += other.not_ip;
        self.addresses += other.addresses;
        for i in 0..MASKS.len() {
            self.fields[i] += other.fields[i];
            self.lines_with[i] += other.lines_with[i];
        }
    }

    fn changed(&mut self, mask: Mask) {
        self.fields[mask.index()] += 1;
        self.lines_with[mask.index()] = 1;
    }
}

/// Masks fields of log lines in place, keeping their length. Built from a
/// [`LogFormat`], the [`Mask`]s to apply and, for [`Mask::IpHash`], a
/// [`RedactKey`]. `Sync`: one redactor serves every thread.
#[derive(Clone, Debug)]
pub struct Redactor {
    format: LogFormat,
    /// The format's reads of fields a record keeps only the first of
    /// ([`LogFormat::masking_rounds`]).
    rounds: Vec<LogFormat>,
    masks: Vec<Mask>,
    key: Option<RedactKey>,
    /// Whether the string values of a JSON line under any key are looked
    /// at for addresses, beside the keys the lists name: with an address
    /// mask ([`Redactor::apply_loose`]).
    loose: bool,
}

impl Redactor {
    /// A redactor applying `masks` to lines of `format`. Refuses an empty
    /// mask list, [`Mask::Ip`] together with [`Mask::IpHash`] (one address,
    /// one rule), and [`Mask::IpHash`] without a key.
    pub fn new(format: LogFormat, masks: &[Mask], key: Option<RedactKey>) -> Result<Redactor, Error> {
        let mut masks = masks.to_vec();
        masks.sort();
        masks.dedup();
        if masks.is_empty() {
            return Err(Error::option("mask", "", "name at least one of ip, ip-hash, query, user"));
        }
        if masks.contains(&Mask::Ip) && masks.contains(&Mask::IpHash) {
            return Err(Error::option("mask", "ip,ip-hash", "choose one of ip and ip-hash"));
        }
        if masks.contains(&Mask::IpHash) && key.is_none() {
            return Err(Error::option(
                "mask",
                "ip-hash",
                "needs a secret key (a key file or the PAGEMILL_REDACT_KEY environment variable); \
                 a built-in key would let anyone reverse the hashes",
            ));
        }
        let mut format = format;
        if let Some(fields) = format.json_fields() {
            let fields = masking_keys(fields, &masks);
            format.set_json_fields(fields)?;
        }
        let rounds = format.masking_rounds();
        let address = masks.iter().any(|m| matches!(m, Mask::Ip | Mask::IpHash));
        let loose = address && format.json_fields().is_some();
        Ok(Redactor { format, rounds, masks, key, loose })
    }

    /// The format lines are read with.
    pub fn format(&self) -> &LogFormat {
        &self.format
    }

    /// The masks applied, sorted.
    pub fn masks(&self) -> &[Mask] {
        &self.masks
    }

    /// The address mask applied ([`Mask::Ip`] or [`Mask::IpHash`]; at most
    /// one of them), if any.
    pub fn address_mask(&self) -> Option<Mask> {
        self.masks.iter().copied().find(|m| matches!(m, Mask::Ip | Mask::IpHash))
    }

    /// Redact one line (without its newline) in place. Only bytes inside the
    /// masked fields change; the length never does. A line that does not
    /// parse is left untouched and its error returned.
    pub fn redact_line(&self, line: &mut [u8]) -> Result<Changes, LineError> {
        self.redact_shaped(line, &mut Shape::none())
    }

    /// [`redact_line`](Redactor::redact_line), a JSON line's members'
    /// leads looked up in `shape` (those of the lines redacted before with
    /// it) and taught to it.
    fn redact_shaped<'s>(&'s self, line: &mut [u8], shape: &mut Shape<'s>) -> Result<Changes, LineError> {
        // A JSON line's strings with an escape, each with its key's target:
        // masked on the characters they mean ([`decoded_spans`]).
        let mut escaped = Vec::new();
        let first = self.spans(&self.format, line, &mut escaped, shape)?;
        // A format with repeated fields (two forwarded lists, three
        // addresses), whose records keep one or two of each: its rounds
        // read them all, from the line before any mask. Each round reads
        // every line the format reads (formats with a fallback plan, whose
        // lines another plan may read, have no repeats).
        let rounds: Vec<Spans> =
            self.rounds.iter().filter_map(|f| self.spans(f, line, &mut Vec::new(), &mut Shape::none()).ok()).collect();
        let all = if self.rounds.is_empty() { std::slice::from_ref(&first) } else { &rounds[..] };
        // Text after the fields the format names (a server's extra fields;
        // an X-Forwarded-For list a preset does not read, as `timed` or
        // `combined` with `"$http_x_forwarded_for"` appended): its
        // addresses are masked too.
        let tail = first.end;
        // Fields the format names but does not read (another client header,
        // `$upstream_addr`, the ident): looked at as the tail is, and the
        // ident masked as a user name.
        let unread = if self.address_mask().is_some() || self.masks.contains(&Mask::User) {
            self.format.unread_fields(line)
        } else {
            Vec::new()
        };
        let mut changes = Changes { lines: 1, ..Changes::default() };
        let mut any = false;
        for &mask in &self.masks {
            let before = changes.fields(mask);
            for spans in all {
                self.apply(mask, spans, line, &mut changes);
            }
            if !escaped.is_empty() {
                self.apply_decoded(mask, &escaped, line, &mut changes);
            }
            if matches!(mask, Mask::Ip | Mask::IpHash) && !first.loose.is_empty() {
                self.apply_loose(mask, &first.loose, line, &mut changes);
            }
            if let (Mask::Ip | Mask::IpHash, Some(end)) = (mask, tail) {
                let words: Vec<Range<usize>> = unread
                    .iter()
                    .map(|(r, _)| r.clone())
                    .chain(std::iter::once(end..line.len()))
                    .flat_map(|r| tail_items(&line[r.clone()], r.start))
                    .collect();
                // Words that are no address (a request id, a time) are not
                // counted: the format does not say they should be.
                changes.addresses += self.mask_words(line, words, mask, &mut changes);
            }
            if mask == Mask::User {
                for (r, _) in unread.iter().filter(|(_, ident)| *ident) {
                    if self.mask_value(line, r.clone(), b"") {
                        changes.changed(mask);
                    }
                }
            }
            any |= changes.fields(mask) > before;
        }
        changes.lines_changed = u64::from(any);
        Ok(changes)
    }

    /// Apply `mask` to the fields of `line` at `spans`, counting in `changes`.
    fn apply(&self, mask: Mask, spans: &Spans, line: &mut [u8], changes: &mut Changes) {
        match mask {
            Mask::Ip | Mask::IpHash => {
                let fields = [spans.ip.clone(), spans.other_ip.clone()].into_iter().flatten();
                for span in fields {
                    changes.addresses += 1;
                    match mask_ip_and_group_port(line, span, mask, self.key.as_ref()) {
                        IpOutcome::Changed => changes.changed(mask),
                        IpOutcome::Unchanged => {}
                        IpOutcome::NotIp => changes.not_ip += 1,
                    }
                }
                let forwarded = spans.forwarded.clone().map(|span| list_items(&line[span.clone()], span.start));
                for span in forwarded.into_iter().flatten() {
                    changes.addresses += 1;
                    match mask_ip(&mut line[span.clone()], mask, self.key.as_ref()) {
                        IpOutcome::Changed => changes.changed(mask),
                        IpOutcome::Unchanged => {}
                        IpOutcome::NotIp => {
                            // An item that is no address as a whole may hold
                            // one: RFC 7239's `for=192.0.2.60`, a quoted
                            // `"[2001:db8::17]:4711"`. Its parameters other
                            // than `for` and `by` (`proto=https`) are none.
                            let item = &line[span.clone()];
                            let address_param = address_param(item).unwrap_or(true);
                            let words = tail_items(item, span.start);
                            let found = self.mask_words(line, words, mask, changes);
                            if found == 0 && address_param {
                                changes.not_ip += 1;
                            }
                        }
                    }
                }
            }
            Mask::Query => {
                // In a request line that does not split, spaces and
                // tabs stay: masking one would change how it splits.
                let queries = [(spans.query.clone(), &b"&= \t"[..]), (spans.target_query.clone(), b"&=")];
                for (span, keep) in queries.into_iter().filter_map(|(s, k)| Some((s?, k))) {
                    if mask_except(&mut line[span], keep) {
                        changes.changed(mask);
                    }
                }
                if let Some(span) = spans.query_field.clone()
                    && self.mask_value(line, span, b"&=")
                {
                    changes.changed(mask);
                }
                // The referring page's query: every page's assets are
                // requested with it, so a query masked in the request line
                // would come back in the next lines' referrers.
                if let Some(span) = spans.referrer_query.clone()
                    && mask_except(&mut line[span], b"&=")
                {
                    changes.changed(mask);
                }
            }
            Mask::User => {
                if let Some(span) = spans.user.clone()
                    && self.mask_value(line, span, b"")
                {
                    changes.changed(mask);
                }
            }
        }
        for more in &spans.more {
            self.apply(mask, more, line, changes);
        }
    }

    /// Apply `mask` to the JSON strings of `line` at `escaped` (each with an
    /// escape, and its key's target) as to strings without one, on the
    /// characters they mean ([`decoded_spans`]), writing what it replaced
    /// back in the form each character had ([`mask_decoded`]). Kept out of
    /// [`redact_line`](Redactor::redact_line), as few lines have any.
    #[inline(never)]
    fn apply_decoded(
        &self,
        mask: Mask,
        escaped: &[(JsonTarget, Range<usize>)],
        line: &mut [u8],
        changes: &mut Changes,
    ) {
        for (target, span) in escaped {
            mask_decoded(&mut line[span.clone()], |text| {
                self.apply(mask, &decoded_spans(*target, text), text, changes);
            });
        }
    }

    /// Apply the address `mask` to the JSON strings of `line` at `loose`
    /// (values of keys no list names, each with whether it holds an
    /// escape): a string that is an address, or a list of addresses, as a
    /// whole is masked item by item, and each counted as an address field;
    /// any other is left as it is, and not counted (it was never said to
    /// be an address). A string with an escape is looked at on the
    /// characters it means ([`mask_decoded`]). Kept out of
    /// [`redact_line`](Redactor::redact_line), as few lines have any.
    #[inline(never)]
    fn apply_loose(&self, mask: Mask, loose: &[(Range<usize>, bool)], line: &mut [u8], changes: &mut Changes) {
        for (span, escaped) in loose {
            let value = &mut line[span.clone()];
            if *escaped {
                mask_decoded(value, |text| self.mask_loose(text, mask, changes));
            } else {
                self.mask_loose(value, mask, changes);
            }
        }
    }

    /// [`apply_loose`](Redactor::apply_loose) on one string's characters.
    fn mask_loose(&self, value: &mut [u8], mask: Mask, changes: &mut Changes) {
        let items = list_items(value, 0);
        if !items.is_empty() && items.iter().all(|r| is_address(&value[r.clone()])) {
            for r in items {
                changes.addresses += 1;
                match mask_ip(&mut value[r], mask, self.key.as_ref()) {
                    IpOutcome::Changed => changes.changed(mask),
                    IpOutcome::Unchanged | IpOutcome::NotIp => {}
                }
            }
        } else if forwarded_params(value) {
            // An RFC 7239 `Forwarded` value: the addresses of its `for`
            // and `by` parameters (`for="[2001:db8::17]:4711"`), as in a
            // forwarded key's list; each counted as an address field.
            for r in items {
                if address_param(&value[r.clone()]) == Some(true) {
                    let words = tail_items(&value[r.clone()], r.start);
                    changes.addresses += self.mask_words(value, words, mask, changes);
                }
            }
        }
    }

    /// Mask a whole field value at `span` of `line`, bytes in `keep` aside
    /// ([`mask_except`]), or, for a JSON number, its digits
    /// ([`mask_json_number`]); whether any byte changed.
    fn mask_value(&self, line: &mut [u8], span: Range<usize>, keep: &[u8]) -> bool {
        if json_bare(line, &span, self.format.escapes()) {
            mask_json_number(&mut line[span])
        } else {
            mask_except(&mut line[span], keep)
        }
    }

    /// Where the fields to mask lie in `line`; a JSON line's strings with
    /// an escape go to `escaped` instead, with their keys' targets. A JSON
    /// line's leads are looked up in `shape`, which only lines of `format`
    /// may have taught.
    fn spans<'f>(
        &self,
        format: &'f LogFormat,
        line: &[u8],
        escaped: &mut Vec<(JsonTarget, Range<usize>)>,
        shape: &mut Shape<'f>,
    ) -> Result<Spans, LineError> {
        let mut every = Vec::new();
        let mut end = None;
        // Whether a JSON string of the line holds an escape: most hold none,
        // and then no value needs a look.
        let mut escapes = false;
        // A JSON line's string values under any key, for the address mask.
        let mut strings = Vec::new();
        let rec = match format.json_fields() {
            Some(fields) if self.loose => {
                fields.parse_text_and_strings(line, &mut every, &mut escapes, &mut strings, shape)?
            }
            _ => format.parse_for_masking(line, &mut every, &mut end, &mut escapes, shape)?,
        };
        let mut spans = spans_of(&rec, line, false);
        spans.end = end;
        // A JSON string with an escape is masked on the characters it means
        // (`escaped`): the record's are taken from `every` (which holds
        // them all) below, with the others. (A target inside a request
        // line with an escape elsewhere is masked as it lies, and again,
        // changing nothing more, in the decoded request.)
        if escapes {
            spans.set_apart_escaped(&rec);
        }
        // A JSON line: every key of each target, not only the one (or, for
        // addresses, two) the record keeps. Masking a field twice changes
        // nothing the second time; an address the record holds is left out,
        // so a value that is no address is not counted twice.
        // Addresses already taken, so that a value named twice (two
        // candidates of one key, an address key that is also a forwarded
        // one) is looked at once.
        let mut seen: Vec<Range<usize>> = [spans.ip.clone(), spans.other_ip.clone()].into_iter().flatten().collect();
        // The value the record kept for a target: no second look.
        let kept = |v: Option<&[u8]>, value: &[u8]| v.is_some_and(|v| std::ptr::eq(v, value));
        for &(target, value) in &every {
            if escapes && has_backslash(value) {
                set_apart(line, target, value, &mut seen, escaped);
                continue;
            }
            let mut one = LogRecord::default();
            match target {
                JsonTarget::Forwarded | JsonTarget::Ip => {
                    let Some(span) = span_of(line, value) else { continue };
                    if seen.contains(&span) {
                        continue;
                    }
                    seen.push(span);
                    if target == JsonTarget::Forwarded {
                        one.forwarded = Some(value);
                    } else {
                        one.ip = Some(value);
                    }
                }
                JsonTarget::User if kept(rec.user, value) => continue,
                JsonTarget::Query if kept(rec.query, value) => continue,
                JsonTarget::Uri if kept(rec.uri, value) => continue,
                JsonTarget::Request if kept(rec.request, value) => continue,
                // Most referrers hold no query (or are empty, `-`): nothing
                // to look at again. Nor in a target or request without one
                // (the strings of Caddy's `request` object, say).
                JsonTarget::Referrer if kept(rec.referrer, value) || query_mark(value).is_none() => continue,
                JsonTarget::Uri | JsonTarget::Request if query_mark(value).is_none() => continue,
                JsonTarget::Referrer => one.referrer = Some(value),
                JsonTarget::User => one.user = Some(value),
                JsonTarget::Query => one.query = Some(value),
                JsonTarget::Uri => one.uri = Some(value),
                JsonTarget::Request => {
                    one.request = Some(value);
                    (one.method, one.uri, one.protocol) = crate::record::split_request(value);
                }
                _ => continue,
            }
            spans.more.push(spans_of(&one, line, false));
        }
        if !strings.is_empty() {
            self.set_apart_loose(line, &strings, &every, &mut seen, escapes, &mut spans.loose);
        }
        Ok(spans)
    }

    /// Add the spans of `strings` (string values of `line` under any key,
    /// that may be addresses) to `loose`, with whether each holds an
    /// escape, but not those masked already: an address taken (`seen`,
    /// which they join, so each is looked at once), or the value of a
    /// user or query key (`every`) whose mask is on (it is masked whole).
    #[inline(never)]
    fn set_apart_loose(
        &self,
        line: &[u8],
        strings: &[&[u8]],
        every: &[(JsonTarget, &[u8])],
        seen: &mut Vec<Range<usize>>,
        escapes: bool,
        loose: &mut Vec<(Range<usize>, bool)>,
    ) {
        let whole = |t: JsonTarget| match t {
            JsonTarget::User => self.masks.contains(&Mask::User),
            JsonTarget::Query => self.masks.contains(&Mask::Query),
            _ => false,
        };
        for &value in strings {
            let Some(span) = span_of(line, value) else { continue };
            if seen.contains(&span) || every.iter().any(|&(t, v)| whole(t) && std::ptr::eq(v, value)) {
                continue;
            }
            seen.push(span.clone());
            loose.push((span, escapes && has_backslash(value)));
        }
    }

    /// A line the format does not read (`redact_line` failed, so nothing
    /// in it has changed): every word of it that is an address, as in a
    /// text line's tail ([`tail_items`]), is masked with the address mask,
    /// if there is one. A client's address must not stay in clear because
    /// another field of its line was unusual (a stray quote, an extra word);
    /// the other fields cannot be told apart, and stay as they are.
    fn redact_unparsed(&self, line: &mut [u8]) -> Changes {
        let mut changes = Changes { lines: 1, ..Changes::default() };
        let Some(mask) = self.address_mask() else { return changes };
        let words = tail_items(line, 0);
        changes.addresses += self.mask_words(line, words, mask, &mut changes);
        changes.lines_changed = u64::from(changes.fields(mask) > 0);
        changes
    }

    /// Apply the address `mask` to each of `words` (ranges of `line` that
    /// may be addresses: [`tail_items`]), counting the changed ones in
    /// `changes`; how many are addresses (changed now or masked before).
    fn mask_words(&self, line: &mut [u8], words: Vec<Range<usize>>, mask: Mask, changes: &mut Changes) -> u64 {
        let mut addresses = 0;
        for word in words {
            match mask_ip(&mut line[word], mask, self.key.as_ref()) {
                IpOutcome::Changed => {
                    addresses += 1;
                    changes.changed(mask);
                }
                IpOutcome::Unchanged => addresses += 1,
                IpOutcome::NotIp => {}
            }
        }
        addresses
    }

    /// Redact every line of `chunk` (whole lines, as planned by
    /// [`pagemill_split::Lines`]) in place. Malformed lines are reported to
    /// `malformed` at `offset` (where the chunk starts in its input) plus
    /// their offset in the chunk.
    pub fn redact_chunk(&self, chunk: &mut [u8], offset: usize, malformed: &mut Malformed) -> Changes {
        let mut total = Changes::default();
        let mut shape = Shape::new();
        let mut at = first_line(chunk, offset);
        while let Some((range, next)) = next_line(chunk, at) {
            at = next;
            let line = &mut chunk[range.clone()];
            match self.redact_shaped(line, &mut shape) {
                Ok(c) => total.merge(c),
                Err(e) => {
                    total.merge(self.redact_unparsed(line));
                    total.malformed += 1;
                    malformed.report(e.kind(), offset + range.start, line);
                }
            }
        }
        total
    }

    /// What [`redact_chunk`](Redactor::redact_chunk) would change in
    /// `chunk`, without changing it (each line is redacted in a scratch
    /// copy).
    pub fn survey_chunk(&self, chunk: &[u8], offset: usize, malformed: &mut Malformed) -> Changes {
        let mut total = Changes::default();
        let mut scratch = Vec::new();
        let mut shape = Shape::new();
        let mut at = first_line(chunk, offset);
        while let Some((range, next)) = next_line(chunk, at) {
            at = next;
            scratch.clear();
            scratch.extend_from_slice(&chunk[range.clone()]);
            match self.redact_shaped(&mut scratch, &mut shape) {
                Ok(c) => total.merge(c),
                Err(e) => {
                    total.merge(self.redact_unparsed(&mut scratch));
                    total.malformed += 1;
                    malformed.report(e.kind(), offset + range.start, &scratch);
                }
            }
        }
        total
    }
}

/// Where the first line of `chunk` starts, `offset` being where the chunk
/// starts in its input: past a byte order mark at the input's start, which
/// is kept as it is.
fn first_line(chunk: &[u8], offset: usize) -> usize {
    if offset == 0 && chunk.starts_with(BOM) { BOM.len() } else { 0 }
}

/// Byte ranges of the fields of one line.
#[derive(Debug, Default)]
struct Spans {
    ip: Option<Range<usize>>,
    /// A second address field of the line.
    other_ip: Option<Range<usize>>,
    /// An `X-Forwarded-For` list of addresses.
    forwarded: Option<Range<usize>>,
    /// Where a text line's named fields end.
    end: Option<usize>,
    /// The fields of a JSON line's other keys of each target (a record
    /// keeps one key's).
    more: Vec<Spans>,
    user: Option<Range<usize>>,
    /// The query of a request line that does not split.
    query: Option<Range<usize>>,
    /// The query of the request target (in the request line or not).
    target_query: Option<Range<usize>>,
    /// A query string field of its own.
    query_field: Option<Range<usize>>,
    /// The query of the referrer (after its first `?`).
    referrer_query: Option<Range<usize>>,
    /// A JSON line's string values under keys no list names that may be
    /// addresses, each with whether it holds an escape
    /// ([`Redactor::apply_loose`]).
    loose: Vec<(Range<usize>, bool)>,
}

impl Spans {
    /// Leave out the fields of `rec` (a JSON line's record, whose spans
    /// these are) that hold an escape: they are masked decoded. Kept out of
    /// [`Redactor::spans`], as few lines have any.
    #[inline(never)]
    fn set_apart_escaped(&mut self, rec: &LogRecord<'_>) {
        let esc = |v: Option<&[u8]>| v.is_some_and(has_backslash);
        let fields = [
            (esc(rec.ip), &mut self.ip),
            (esc(rec.other_ip), &mut self.other_ip),
            (esc(rec.user), &mut self.user),
            (esc(rec.query), &mut self.query_field),
            (esc(rec.uri), &mut self.target_query),
            (esc(rec.request), &mut self.query),
            (esc(rec.referrer), &mut self.referrer_query),
        ];
        for (escaped, span) in fields {
            if escaped {
                *span = None;
            }
        }
    }
}

/// The JSON keys a redactor with `masks` reads: those of `fields` (the
/// format's, `--json-field` included), then, for each target it masks, every
/// default key not among them. A key `--json-field` names is read in
/// addition to the defaults, never instead of them: masking is not the
/// place where naming one more key should leave another in clear. Beside
/// the targets the logs job reads: forwarded addresses
/// ([`FORWARDED_KEYS`](crate::json::FORWARDED_KEYS)), query strings logged
/// apart (`args`, `query_string`, ingress-nginx's `request_query`, and the
/// Elastic Common Schema's `url.query`: `url` is a target key, but the
/// query under it has no `?` to be found by).
fn masking_keys(fields: &crate::JsonFields, masks: &[Mask]) -> crate::JsonFields {
    use crate::JsonTarget::*;
    let ip = masks.iter().any(|m| matches!(m, Mask::Ip | Mask::IpHash));
    let query = masks.contains(&Mask::Query);
    let user = masks.contains(&Mask::User);
    let masked = |t: crate::JsonTarget| match t {
        Ip | Forwarded => ip,
        Query | Uri | Request | Referrer => query,
        User => user,
        _ => false,
    };
    let mut wanted: Vec<(crate::JsonTarget, String)> =
        crate::JsonFields::default().entries().filter(|(t, _, _)| masked(*t)).map(|(t, path, _)| (t, path)).collect();
    wanted.extend(crate::json::FORWARDED_KEYS.iter().map(|k| (Forwarded, k.to_string())));
    wanted.extend(["args", "query_string", "request_query", "url.query"].iter().map(|k| (Query, k.to_string())));
    let mut out = fields.clone();
    for (target, path) in wanted {
        if masked(target) && !out.entries().any(|(t, p, _)| t == target && p == path) {
            out.push_entry(target, &path, crate::TimeUnit::Seconds);
        }
    }
    out
}

/// Whether `item`, an item of a forwarded list, is an RFC 7239 parameter
/// that holds an address (`for=...`, `by=...`, in any case); `None` when it
/// is no parameter (no `=`).
fn address_param(item: &[u8]) -> Option<bool> {
    let name = &item[..memchr::memchr(b'=', item)?];
    Some(name.eq_ignore_ascii_case(b"for") || name.eq_ignore_ascii_case(b"by"))
}

/// The items of a list of addresses, `list`, which starts at `start` in its
/// line: where each lies in the line. Items are separated by commas, as
/// `X-Forwarded-For` writes them, or by spaces, tabs or `;`, as some
/// proxies and hand-written formats do (no address holds any of them);
/// empty items are left out.
fn list_items(list: &[u8], start: usize) -> Vec<Range<usize>> {
    let mut items = Vec::new();
    let mut from = 0;
    for (end, &b) in list.iter().enumerate().chain([(list.len(), &b',')]) {
        if matches!(b, b',' | b' ' | b'\t' | b';') {
            if end > from {
                items.push(start + from..start + end);
            }
            from = end + 1;
        }
    }
    items
}

/// Where the query of `text` (a target, a request line, a referrer)
/// starts: its first `?`, or a JSON `\u003f` (the same character, which
/// an encoder may write so), as (where the mark is, its length).
fn query_mark(text: &[u8]) -> Option<(usize, usize)> {
    // One pass for `?` or a backslash (no escape searcher set up per
    // field: this runs on every target and referrer); an escaped
    // backslash (`\\`) is skipped whole, so `\\u003f` is no mark.
    let mut from = 0;
    while let Some(i) = memchr::memchr2(b'?', b'\\', &text[from..]).map(|i| from + i) {
        if text[i] == b'?' {
            return Some((i, 1));
        }
        let rest = &text[i + 1..];
        if rest.starts_with(b"u003") && matches!(rest.get(4), Some(b'f' | b'F')) {
            return Some((i, 6));
        }
        from = i + if rest.first() == Some(&b'\\') { 2 } else { 1 };
        if from >= text.len() {
            break;
        }
    }
    None
}

/// Where the fields of `rec`, parsed from `line`, lie in it. `decoded`:
/// `line` is a JSON string's characters ([`decoded_spans`]), in which a
/// query starts at a `?` alone (`\u003f` there is what `\\u003f` meant).
fn spans_of(rec: &LogRecord<'_>, line: &[u8], decoded: bool) -> Spans {
    let mark = |text: &[u8]| if decoded { memchr::memchr(b'?', text).map(|i| (i, 1)) } else { query_mark(text) };
    let request = rec.request.and_then(|r| span_of(line, r));
    // The query of the target: after its first `?`.
    let uri = rec.uri.and_then(|u| span_of(line, u));
    let target_query = uri.clone().and_then(|uri| {
        let (q, n) = mark(&line[uri.clone()])?;
        Some(uri.start + q + n..uri.end)
    });
    // A request line that does not split into method, target and
    // protocol (`get /a?b HTTP/1.1`, a fourth word) has no target, but
    // its query is still the client's: from the `?` after the first
    // word up to the protocol (or the end, masking too much rather than
    // too little).
    let inside = |r: &Range<usize>| uri.as_ref().is_some_and(|u| r.start <= u.start && u.end <= r.end);
    let query = request.filter(|r| !inside(r)).and_then(|r| {
        let text = &line[r.clone()];
        // The target is the second word, or the first when that holds a
        // `?` (a request line without its method).
        let first = memchr::memchr2(b' ', b'\t', text).unwrap_or(text.len());
        let target = if first == text.len() || mark(&text[..first]).is_some() { 0 } else { first + 1 };
        let (q, n) = mark(&text[target..])?;
        let q = target + q + n - 1;
        let end = [&b" HTTP/"[..], b"\tHTTP/", b" HTTP\\/"]
            .iter()
            .filter_map(|p| memchr::memmem::find(&text[q..], p))
            .min()
            .map_or(text.len(), |i| q + i);
        Some(r.start + q + 1..r.start + end)
    });
    let query_field = rec.query.and_then(|q| {
        let span = span_of(line, q)?;
        // Apache's `%q` writes the `?` itself: keep it, as in a target.
        Some(if q.first() == Some(&b'?') { span.start + 1..span.end } else { span })
    });
    let user = rec.user.and_then(|u| span_of(line, u));
    let referrer_query = rec.referrer.and_then(|r| {
        let span = span_of(line, r)?;
        let (q, n) = mark(&line[span.clone()])?;
        Some(span.start + q + n..span.end)
    });
    Spans {
        ip: rec.ip.and_then(|ip| span_of(line, ip)),
        other_ip: rec.other_ip.and_then(|ip| span_of(line, ip)),
        forwarded: rec.forwarded.and_then(|list| span_of(line, list)),
        end: None,
        more: Vec::new(),
        user,
        query,
        target_query,
        query_field,
        referrer_query,
        loose: Vec::new(),
    }
}

/// Add `value`, a JSON string of `line` with an escape, the value of a
/// key of `target`, to `escaped`, the strings masked decoded
/// ([`decoded_spans`]): once, and an address not if `seen` already (the
/// addresses taken, which it joins); a target, request or referrer not if
/// it holds no query mark, as [`Redactor::spans`] leaves those without
/// an escape.
#[inline(never)]
fn set_apart(
    line: &[u8],
    target: JsonTarget,
    value: &[u8],
    seen: &mut Vec<Range<usize>>,
    escaped: &mut Vec<(JsonTarget, Range<usize>)>,
) {
    let Some(span) = span_of(line, value) else { return };
    let address = matches!(target, JsonTarget::Ip | JsonTarget::Forwarded);
    let query = matches!(target, JsonTarget::Uri | JsonTarget::Request | JsonTarget::Referrer);
    if (address && seen.contains(&span))
        || (query && query_mark(value).is_none())
        || escaped.iter().any(|(t, s)| *t == target && *s == span)
    {
        return;
    }
    if address {
        seen.push(span.clone());
    }
    escaped.push((target, span));
}

/// Where the fields to mask lie in `text`, the characters a JSON string
/// means (its escapes decoded), the value of a key of `target`: the string
/// masked as one without an escape is ([`Redactor::spans`]). A `-` (an
/// escaped one: `\u002d`) is no value, as a plain one is.
fn decoded_spans(target: JsonTarget, text: &[u8]) -> Spans {
    let mut one = LogRecord::default();
    let value = crate::record::dash_none(text);
    match target {
        JsonTarget::Ip => one.ip = value,
        JsonTarget::Forwarded => one.forwarded = value,
        JsonTarget::User => one.user = value,
        JsonTarget::Query => one.query = value,
        JsonTarget::Uri => one.uri = value,
        JsonTarget::Referrer => one.referrer = value,
        JsonTarget::Request => {
            one.request = value;
            if let Some(r) = value {
                (one.method, one.uri, one.protocol) = crate::record::split_request(r);
            }
        }
        _ => {}
    }
    spans_of(&one, text, true)
}

/// The words of `tail`, the text of a line after its named fields, which
/// starts at `start` in the line, that may be addresses: what lies between
/// bytes no address holds (spaces, quotes, `,` `;` `=` `(` `)` `|` `<` `>`,
/// and escapes, `\"` or `\x22`), so each item of a list, quoted or not,
/// `for=` of a `Forwarded` header, and `key=value` pairs; only words with
/// three dots or two colons, as an address has (a user agent's `5.0` or
/// `537.36` is not worth a look). Not at `/`: `Chrome/120.0.0.0` is a
/// version, not an address.
fn tail_items(tail: &[u8], start: usize) -> Vec<Range<usize>> {
    let mut items = Vec::new();
    let mut push = |from: usize, to: usize| {
        let word = &tail[from..to];
        let dots = word.iter().filter(|&&b| b == b'.').count();
        let colons = word.iter().filter(|&&b| b == b':').count();
        if dots >= 3 || colons >= 2 {
            items.push(start + from..start + to);
        }
    };
    let (mut from, mut i) = (0, 0);
    while i < tail.len() {
        let skip = match tail[i] {
            b' ' | b'\t' | b'"' | b'\'' | b',' | b';' | b'=' | b'(' | b')' | b'|' | b'<' | b'>' => 1,
            // An escape: `\xNN` (nginx's escaped quote), JSON's `\uNNNN`
            // (a `\u002c` between two addresses), or `\"`.
            b'\\' if tail.get(i + 1) == Some(&b'x') && tail.len() >= i + 4 => 4,
            b'\\'
                if tail.get(i + 1) == Some(&b'u')
                    && tail.get(i + 2..i + 6).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) =>
            {
                6
            }
            b'\\' => 2,
            _ => 0,
        };
        if skip == 0 {
            i += 1;
            continue;
        }
        if i > from {
            push(from, i);
        }
        i = (i + skip).min(tail.len());
        from = i;
    }
    if tail.len() > from {
        push(from, tail.len());
    }
    items
}

/// Where `field`, a slice of `line`, lies in it; `None` if it is not inside.
fn span_of(line: &[u8], field: &[u8]) -> Option<Range<usize>> {
    let start = (field.as_ptr() as usize).checked_sub(line.as_ptr() as usize)?;
    let end = start.checked_add(field.len())?;
    (end <= line.len()).then_some(start..end)
}

/// The line of `chunk` that starts at `start` (without `\n` or a `\r`
/// before it), and where the next one starts; `None` at the end.
fn next_line(chunk: &[u8], start: usize) -> Option<(Range<usize>, usize)> {
    if start >= chunk.len() {
        return None;
    }
    let end = memchr::memchr(b'\n', &chunk[start..]).map_or(chunk.len(), |i| start + i);
    let line_end = if end > start && chunk[end - 1] == b'\r' { end - 1 } else { end };
    Some((start..line_end, end + 1))
}

/// Turn every byte of `field` but those in `keep` into `x`; whether any
/// changed. A lone `-` (no value) is kept.
///
/// Written from the last byte to the first: a run killed half-way leaves an
/// original prefix and a masked suffix, never an escape's backslash masked
/// without the quote it escaped, so the line parses as before and a rerun
/// finishes the field.
fn mask_except(field: &mut [u8], keep: &[u8]) -> bool {
    if field == b"-" {
        return false;
    }
    let mut changed = false;
    for b in field.iter_mut().rev() {
        if *b != b'x' && !keep.contains(b) {
            *b = b'x';
            changed = true;
        }
    }
    changed
}

/// Apply `rule` to the characters `raw`, a JSON string's contents with an
/// escape, means, and write what it replaced back into `raw` in the form
/// each character had ([`decode_units`], [`write_units`]); what `rule`
/// returned. So no escape hides an address, a query's mark, `&` or `=`, or
/// a user's `-` from a rule, and the masked string is valid JSON of the
/// same length that means what the rule left.
#[inline(never)]
fn mask_decoded<R>(raw: &mut [u8], rule: impl FnOnce(&mut [u8]) -> R) -> R {
    let mut text = Vec::with_capacity(raw.len());
    let mut units = Vec::with_capacity(raw.len());
    decode_units(raw, &mut text, &mut units);
    let before = text.clone();
    let out = rule(&mut text);
    write_units(raw, &before, &text, &units);
    out
}

/// Decode `raw`, a JSON string's contents, into `text`, and for each byte
/// of it, into `units`, the bytes of `raw` it comes from (start and length:
/// 1 for a plain byte, 2 for an escape such as `\"` or `\/`, 6 for a
/// `\uXXXX` escape, 12 for a surrogate pair; the UTF-8 bytes of one
/// escaped character share its escape). A backslash that starts no escape
/// (another tool's text, or a `\"` a killed run half masked into `\x`) is
/// a byte of its own, as is a byte that is not UTF-8; a lone surrogate is
/// U+FFFD.
fn decode_units(raw: &[u8], text: &mut Vec<u8>, units: &mut Vec<(usize, u8)>) {
    let mut i = 0;
    while i < raw.len() {
        let simple = match raw[i..] {
            [b'\\', e, ..] => match e {
                b'"' | b'\\' | b'/' => Some(e),
                b'b' => Some(8),
                b'f' => Some(12),
                b'n' => Some(b'\n'),
                b'r' => Some(b'\r'),
                b't' => Some(b'\t'),
                _ => None,
            },
            _ => {
                text.push(raw[i]);
                units.push((i, 1));
                i += 1;
                continue;
            }
        };
        if let Some(b) = simple {
            text.push(b);
            units.push((i, 2));
            i += 2;
        } else if let Some((ch, used)) = crate::record::json_unicode(&raw[i..]) {
            let mut buf = [0u8; 4];
            for &b in ch.encode_utf8(&mut buf).as_bytes() {
                text.push(b);
                units.push((i, used as u8));
            }
            i += used;
        } else {
            text.push(b'\\');
            units.push((i, 1));
            i += 1;
        }
    }
}

/// Write into `raw` (decoded by [`decode_units`] into `before`, with
/// `units`) each character a rule replaced to give `after`, in the form it
/// had, so the string keeps its length and means what the rule left: a
/// plain byte becomes the rule's byte; a `\uXXXX` escape the escape of it
/// (`\u0037` → `\u0078`, an `x`; a surrogate pair two such escapes); a
/// two-byte escape (`\"`, `\/`) two of it, as JSON has no two-byte form of
/// a letter or digit. Rules write ASCII letters and digits, which need no
/// escape (any other byte is written as `x`). Characters are written back
/// to front, as [`mask_except`] writes bytes (so [`Mask::IpHash`] letters
/// still go right to left), and an escape's four hex digits in one copy: a
/// killed run leaves an escape as it was or as it is to be (a `\"` at
/// worst `\x`, which the rerun reads as a backslash to mask).
fn write_units(raw: &mut [u8], before: &[u8], after: &[u8], units: &[(usize, u8)]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut end = after.len().min(before.len()).min(units.len());
    while end > 0 {
        let (start, len) = units[end - 1];
        let from = units[..end].iter().rposition(|u| u.0 != start).map_or(0, |i| i + 1);
        let changed = after[from..end].iter().zip(&before[from..end]).find(|(new, old)| new != old);
        end = from;
        let Some((&c, _)) = changed else { continue };
        let c = if c.is_ascii_alphanumeric() { c } else { b'x' };
        let Some(unit) = raw.get_mut(start..start + usize::from(len)) else { continue };
        if unit.len() % 6 == 0 && unit.starts_with(b"\\u") {
            let digits = [b'0', b'0', HEX[usize::from(c >> 4)], HEX[usize::from(c & 15)]];
            for escape in unit.rchunks_exact_mut(6) {
                escape[2..].copy_from_slice(&digits);
            }
        } else {
            for b in unit.iter_mut().rev() {
                *b = c;
            }
        }
    }
}

/// Whether the field at `span` of `line` is a JSON number or literal
/// (`"user_id":12345`), not a string: what precedes it is what precedes a
/// value (`:`, `,`, `[` or white space), not a quote, nor anything else a
/// span inside a string starts after (the `?` a query field's span leaves
/// out: `"args":"?k=v"` is a string). A field at the start of `line` is
/// none: a JSON line starts with `{`, and a decoded string
/// ([`decoded_spans`]) is all text.
fn json_bare(line: &[u8], span: &Range<usize>, escapes: crate::record::Escapes) -> bool {
    escapes == crate::record::Escapes::Json
        && span.start > 0
        && matches!(line[span.start - 1], b':' | b',' | b'[' | b' ' | b'\t' | b'\r' | b'\n')
}

/// [`Mask::User`] (or [`Mask::Query`]) on a JSON value that is not a string: every digit of a
/// number becomes `9` (a JSON number has no room for `x`; sign, point and
/// exponent stay), so the line stays valid JSON of the same length, and
/// after every single byte written too (written back to front, as
/// [`mask_except`]); `true`, `false` and `null` name nobody and are kept.
/// Whether any byte changed.
fn mask_json_number(field: &mut [u8]) -> bool {
    let mut changed = false;
    for b in field.iter_mut().rev() {
        if b.is_ascii_digit() && *b != b'9' {
            *b = b'9';
            changed = true;
        }
    }
    changed
}

#[derive(Debug, PartialEq, Eq)]
enum IpOutcome {
    Changed,
    Unchanged,
    NotIp,
}

/// What the maskable part of an address field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IpState {
    /// Digits: an address as logged.
    Clear(std::net::IpAddr),
    /// Only `x`: masked by [`Mask::Ip`].
    Masked,
    /// Only letters `g` to `v`: hashed by [`Mask::IpHash`].
    Hashed,
    /// Digits mixed with `x` or hash letters: a run killed while it was
    /// writing this very field.
    Partial,
}

/// Letters of the hash alphabet: never in an address, never `x`.
fn is_hash_letter(c: u8) -> bool {
    (b'g'..=b'v').contains(&c)
}

/// The maskable positions of an address field (bit i: byte i) and what
/// they hold; `None` if the field is not an address or is partly masked.
fn classify_ip(field: &[u8]) -> Option<(u64, IpState)> {
    if field.is_empty() || field.len() > 45 {
        return None;
    }
    let v6 = field.contains(&b':');
    let positions = if v6 { ipv6_positions(field)? } else { ipv4_positions(field)? };
    // Which kinds of byte the maskable positions hold: bit 0 digits (hex
    // in an IPv6 group, decimal in an IPv4 octet, so that a host name like
    // `10.0.0.dev` is no address), bit 1 `x`, bit 2 hash letters (`ip-hash`
    // writes only `g` to `p` in an octet; `q` to `v` there come from its
    // first version, and digits beside them are masked with `x`).
    let decimal = decimal_positions(field);
    let mut kinds = 0u8;
    for (i, &c) in field.iter().enumerate() {
        if positions & (1 << i) == 0 {
            continue;
        }
        let octet = decimal & (1 << i) != 0;
        kinds |= if c.is_ascii_digit() || (!octet && c.is_ascii_hexdigit()) {
            1
        } else if c == b'x' {
            2
        } else if is_hash_letter(c) {
            4
        } else {
            return None;
        };
    }
    let state = match kinds {
        2 => IpState::Masked,
        4 => IpState::Hashed,
        // Digits and masked bytes: a field whose masking was interrupted.
        3 | 5 | 7 => IpState::Partial,
        6 => return None,
        // Digits, or nothing to mask (`2001:db8:1::`): the address must be
        // one in full.
        _ => {
            let text = std::str::from_utf8(field).ok()?;
            let addr = if field.contains(&b':') {
                std::net::IpAddr::V6(text.parse().ok()?)
            } else {
                let mut octets = [0u8; 4];
                for (o, part) in octets.iter_mut().zip(text.split('.')) {
                    *o = part.parse().ok()?;
                }
                std::net::IpAddr::V4(octets.into())
            };
            IpState::Clear(addr)
        }
    };
    Some((positions, state))
}

/// IPv4: three octets of 1 to 3 digits, then a last part of 1 to 3 bytes
/// (digits, `x` or hash letters): the positions of the last part.
fn ipv4_positions(field: &[u8]) -> Option<u64> {
    let mut parts = field.split(|&b| b == b'.');
    let mut at = 0;
    for _ in 0..3 {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 3 || !p.iter().all(u8::is_ascii_digit) || crate::record::parse_u64(p)? > 255 {
            return None;
        }
        at += p.len() + 1;
    }
    let last = parts.next()?;
    if parts.next().is_some() || last.is_empty() || last.len() > 3 {
        return None;
    }
    Some(bits(at..at + last.len()))
}

/// IPv6: groups 4 to 8 (counted with `::` expanded) and an embedded IPv4
/// tail; the kept groups must be 1 to 4 hex digits.
fn ipv6_positions(field: &[u8]) -> Option<u64> {
    // Split around the one `::`, if any.
    let (head, tail, tail_at) = match find2(field, b"::") {
        Some(i) => {
            if find2(&field[i + 2..], b"::").is_some() {
                return None;
            }
            (&field[..i], Some(&field[i + 2..]), i + 2)
        }
        None => (field, None, 0),
    };
    // Groups as (start, end) byte ranges; the last may be a dotted IPv4.
    let groups = |part: &[u8], base: usize| -> Option<Vec<Range<usize>>> {
        if part.is_empty() {
            return Some(Vec::new());
        }
        let mut out = Vec::new();
        let mut at = base;
        for g in part.split(|&b| b == b':') {
            if g.is_empty() {
                return None;
            }
            out.push(at..at + g.len());
            at += g.len() + 1;
        }
        Some(out)
    };
    let head = groups(head, 0)?;
    let tail = match tail {
        Some(t) => groups(t, tail_at)?,
        None => Vec::new(),
    };
    let dotted = |r: &Range<usize>| field[r.clone()].contains(&b'.');
    // Only the very last group may be dotted.
    let last = tail.last().or(head.last());
    let all = head.iter().chain(&tail);
    if all.clone().any(|g| dotted(g) && Some(g) != last) {
        return None;
    }
    let width = |gs: &[Range<usize>]| gs.len() + usize::from(gs.last().is_some_and(dotted));
    let (hw, tw) = (width(&head), width(&tail));
    let compressed = find2(field, b"::").is_some();
    if (compressed && hw + tw > 7) || (!compressed && hw != 8) {
        return None;
    }
    let mut positions = 0u64;
    let indexed = head.iter().enumerate().chain(tail.iter().enumerate().map(|(i, g)| (8 - tw + i, g)));
    for (index, g) in indexed {
        let text = &field[g.clone()];
        if dotted(g) {
            // An IPv4 tail: groups 7 and 8, all masked.
            let parts: Vec<&[u8]> = text.split(|&b| b == b'.').collect();
            if parts.len() != 4 || parts.iter().any(|p| p.is_empty() || p.len() > 3) {
                return None;
            }
            for (i, &c) in text.iter().enumerate() {
                if c != b'.' {
                    positions |= 1 << (g.start + i);
                }
            }
        } else if text.len() > 4 {
            return None;
        } else if index < 3 {
            if !text.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
        } else {
            positions |= bits(g.clone());
        }
    }
    Some(positions)
}

fn find2(hay: &[u8], needle: &[u8; 2]) -> Option<usize> {
    hay.windows(2).position(|w| w == needle)
}

fn bits(r: Range<usize>) -> u64 {
    r.fold(0u64, |acc, i| acc | 1 << i)
}

/// Apply [`Mask::Ip`] or [`Mask::IpHash`] to the address field at `span`
/// of `line`, and to the port after it where that port could be the
/// address's last group: `$remote_addr:$remote_port` with an unbracketed
/// IPv6 client reads `2001:db8::1:8080` as address `2001:db8::1` and port
/// `8080` (`port_colon` in the plan), but the same text is also the address
/// `2001:db8::1:8080` (no port, or the port really its last group), whose
/// last group would stay in clear. So when the address is unbracketed IPv6,
/// the port 1 to 4 letters or digits (as a group is, or its mask), and
/// address, colon and port together are an address, they are masked as
/// that one address (so no reading leaves a digit of it in clear); a port
/// of 5 digits (most client ports), or one after a full eight groups, a
/// zone or an IPv4 tail, is no group and stays. For [`Mask::IpHash`] the
/// address part gets the very letters it gets alone (a letter depends only
/// on the text to its left), and the port the letters of a next group.
fn mask_ip_and_group_port(line: &mut [u8], span: Range<usize>, mask: Mask, key: Option<&RedactKey>) -> IpOutcome {
    if let Some(wide) = group_port(line, &span) {
        match mask_ip(&mut line[wide], mask, key) {
            // Not an address together: the port is a port.
            IpOutcome::NotIp => {}
            outcome => return outcome,
        }
    }
    mask_ip(&mut line[span], mask, key)
}

/// The address at `span` of `line` with the port after it (see
/// [`mask_ip_and_group_port`]): `span` widened over `:` and a port of 1 to
/// 4 letters or digits, when the address is unbracketed IPv6.
fn group_port(line: &[u8], span: &Range<usize>) -> Option<Range<usize>> {
    let address = &line[span.clone()];
    if line.get(span.end) != Some(&b':') || address.first() == Some(&b'[') || !address.contains(&b':') {
        return None;
    }
    let port = &line[span.end + 1..];
    let len = port.iter().position(|b| !b.is_ascii_alphanumeric()).unwrap_or(port.len());
    (1..=4).contains(&len).then(|| span.start..span.end + 1 + len)
}

/// Where the address of an address field lies in it: inside brackets
/// (`[2001:db8::5]:443`, `[2001:db8::5]`), before an IPv4 address's port
/// (`203.0.113.45:8080`, as Go logs `RemoteAddr`), before an IPv6 zone
/// (`fe80::1%eth0`: the interface it was reached on, RFC 4007; `%25eth0`
/// in a URL's brackets), or the whole field. The address is masked as
/// without them (a link-local interface identifier may be made from the
/// client's hardware address), and the brackets, port and zone (a local
/// name) are kept.
#[inline]
fn ip_core(field: &[u8]) -> Range<usize> {
    let (mut start, mut end) = (0, field.len());
    while field[start..end].first() == Some(&b'[')
        && let Some(close) = memchr::memchr(b']', &field[start..end]).map(|c| start + c)
        && (close + 1 == end
            || field[close + 1] == b':' && close + 2 < end && field[close + 2..end].iter().all(u8::is_ascii_digit))
    {
        (start, end) = (start + 1, close);
    }
    // A port and a zone come after a colon: a field without one (an IPv4
    // address, most of them) is the address.
    let f = &field[start..end];
    let Some(colon) = memchr::memrchr(b':', f) else { return start..end };
    if colon + 1 < f.len()
        && f[colon + 1..].iter().all(u8::is_ascii_digit)
        && f[..colon].contains(&b'.')
        && !f[..colon].contains(&b':')
    {
        return start..start + colon;
    }
    if let Some(pct) = memchr::memchr(b'%', f)
        && f[..pct].contains(&b':')
        && pct + 1 < f.len()
        && f[pct + 1..].iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return start..start + pct;
    }
    start..end
}

/// Whether `field` is an address as [`mask_ip`] reads one (in clear,
/// masked, or half masked), without changing it.
fn is_address(field: &[u8]) -> bool {
    classify_ip(&field[ip_core(field)]).is_some()
}

/// Apply [`Mask::Ip`] or [`Mask::IpHash`] to an address field.
fn mask_ip(field: &mut [u8], mask: Mask, key: Option<&RedactKey>) -> IpOutcome {
    let core = ip_core(field);
    let field = &mut field[core];
    let Some((positions, state)) = classify_ip(field) else { return IpOutcome::NotIp };
    match (state, mask, key) {
        (IpState::Masked | IpState::Hashed, _, _) => IpOutcome::Unchanged,
        (IpState::Clear(_) | IpState::Partial, Mask::IpHash, Some(key)) => match pseudonym(field, positions, key) {
            Some(true) => IpOutcome::Changed,
            Some(false) => IpOutcome::Unchanged,
            // Letters left of digits: no order this rule writes in (a field
            // half-masked with `x`, or by another tool). Finish it with `x`.
            None => mask_x(field, positions),
        },
        _ => mask_x(field, positions),
    }
}

/// Every digit at `positions` becomes `x`.
fn mask_x(field: &mut [u8], positions: u64) -> IpOutcome {
    let mut changed = false;
    for (i, b) in field.iter_mut().enumerate() {
        if positions & (1 << i) != 0 && b.is_ascii_hexdigit() {
            *b = b'x';
            changed = true;
        }
    }
    if changed { IpOutcome::Changed } else { IpOutcome::Unchanged }
}

/// The value of a hex digit, either case.
fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        _ => (c | 0x20) - b'a' + 10,
    }
}

/// Write the [`Mask::IpHash`] letters of the digits at `positions`: those
/// still digits (a leading run; letters after them come from an interrupted
/// run, see the module docs). Letters are written right to left, each from
/// the text to its left only. `None` if the field is not digits followed by
/// letters; else whether anything changed.
///
/// Each digit goes through a keyed permutation of its alphabet (the ten
/// decimal digits of an IPv4 octet onto `g` to `p`, the sixteen hex digits
/// of an IPv6 group onto `g` to `v`), drawn afresh from a SipHash of the
/// field up to the digit, in order (kept bytes, and digits by value), and
/// the length of the digit's octet or group. So a digit's letter depends on
/// nothing to its right: addresses agreeing up to a group, spelled alike,
/// share its letters however the rest of them is written or compressed;
/// and octets of different lengths draw different permutations, so a
/// one-digit octet's letter says nothing about how longer ones start. A
/// permutation, unlike the shift of the first version of this scheme,
/// leaves no gap in the letters to read the key's choice from.
fn pseudonym(field: &mut [u8], positions: u64, key: &RedactKey) -> Option<bool> {
    let masked: Vec<usize> = (0..field.len()).filter(|&i| positions & (1 << i) != 0).collect();
    let digits = masked.iter().take_while(|&&i| field[i].is_ascii_hexdigit()).count();
    let decimal = decimal_positions(field);
    // Letters this scheme writes: `g` to `p` in an octet.
    let ours = |i: usize| is_hash_letter(field[i]) && (decimal & (1 << i) == 0 || field[i] <= b'p');
    if !masked[digits..].iter().all(|&i| ours(i)) {
        return None;
    }
    if digits == 0 {
        return Some(false);
    }
    let mut run = SipHasher24::new_with_keys(key.k0, key.k1);
    run.write(b"pagemill-ip/2");
    // `run` has taken `field[..at]`: kept bytes lowercased, masked digits
    // (all still digits left of a digit being lettered) as their values,
    // which no kept byte (`0`-`9`, `a`-`f`, `.`, `:`) equals.
    let mut at = 0;
    let mut letters = [0u8; 64];
    for (n, &i) in masked[..digits].iter().enumerate() {
        for (j, &c) in field.iter().enumerate().take(i).skip(at) {
            run.write_u8(if positions & (1 << j) != 0 { nibble(c) } else { c.to_ascii_lowercase() });
        }
        at = i;
        let size = if decimal & (1 << i) != 0 { 10 } else { 16 };
        let value = nibble(field[i]);
        if value >= size {
            // A hex letter in a dotted part: `classify_ip` lets none through.
            return None;
        }
        let mut h = run;
        h.write_u8(0xff);
        h.write_u8(run_length(positions, i) as u8);
        letters[n] = b'g' + permuted(h.finish(), size, value);
    }
    for (n, &i) in masked[..digits].iter().enumerate().rev() {
        field[i] = letters[n];
    }
    Some(true)
}

/// The length of the run of set bits of `positions` (an octet's or group's
/// masked bytes) that holds bit `i`.
fn run_length(positions: u64, i: usize) -> u32 {
    let below = !positions & ((1u64 << i) - 1);
    let start = if below == 0 { 0 } else { 64 - below.leading_zeros() };
    (positions >> start).trailing_ones()
}

/// The positions of `field` (an address, bit i: byte i) that hold decimal
/// digits: an IPv4 address's, or those after an IPv6 address's last `:`
/// when that part is dotted (`::ffff:192.0.2.1`).
fn decimal_positions(field: &[u8]) -> u64 {
    let from = memchr::memrchr(b':', field).map_or(0, |c| c + 1);
    if from > 0 && !field[from..].contains(&b'.') {
        return 0;
    }
    bits(from..field.len())
}

/// Where `value` (below `size`, at most 16) lands in the permutation of
/// `0..size` that `seed` draws (Fisher-Yates, each swap's choice taken
/// from `seed` in mixed radix: the choices are `seed mod size!` written in
/// mixed radix, so for 16! (45 of the 64 bits) no permutation is more
/// likely than another by more than about one in a million).
fn permuted(mut seed: u64, size: u8, value: u8) -> u8 {
    let mut perm = [0u8; 16];
    for (i, p) in perm.iter_mut().enumerate() {
        *p = i as u8;
    }
    for i in (1..usize::from(size)).rev() {
        let radix = i as u64 + 1;
        let j = (seed % radix) as usize;
        seed /= radix;
        perm.swap(i, j);
    }
    perm[usize::from(value)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> RedactKey {
        RedactKey::new(b"0123456789abcdef-test-key").unwrap()
    }

    fn ip(text: &str, mask: Mask) -> (String, IpOutcome) {
        let mut b = text.as_bytes().to_vec();
        let k = key();
        let out = mask_ip(&mut b, mask, Some(&k));
        (String::from_utf8(b).unwrap(), out)
    }

    #[test]
    fn ipv4_keeps_the_24() {
        assert_eq!(ip("203.0.113.45", Mask::Ip), ("203.0.113.xx".into(), IpOutcome::Changed));
        assert_eq!(ip("10.0.0.1", Mask::Ip), ("10.0.0.x".into(), IpOutcome::Changed));
        assert_eq!(ip("10.0.0.255", Mask::Ip), ("10.0.0.xxx".into(), IpOutcome::Changed));
        assert_eq!(ip("10.0.0.xxx", Mask::Ip), ("10.0.0.xxx".into(), IpOutcome::Unchanged));
        for not in [
            "example.com",
            "10.0.0",
            "10.0.0.1.2",
            "10.0.0.256",
            "1000.0.0.1",
            "10.0.0.1y",
            "-",
            "10.0.0.",
            "999.0.0.xx",
        ] {
            assert_eq!(ip(not, Mask::Ip), (not.into(), IpOutcome::NotIp), "{not}");
        }
    }

    #[test]
    fn ipv6_keeps_the_48_with_compression_counted() {
        let cases = [
            ("2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3:xxx:xxxx:xxxx:xxx:xxxx"),
            ("2001:db8::1", "2001:db8::x"),
            ("2001:db8:1::", "2001:db8:1::"),
            ("::1", "::x"),
            ("1::3:4:5:6:7:8", "1::3:x:x:x:x:x"),
            ("2001::5:6:7", "2001::x:x:x"),
            ("fe80::1:2", "fe80::x:x"),
            ("::ffff:192.0.2.1", "::xxxx:xxx.x.x.x"),
            ("2001:DB8:A::BEEF", "2001:DB8:A::xxxx"),
            ("[::1]", "[::x]"),
            ("[2001:db8::1]:443", "[2001:db8::x]:443"),
            ("fe80::1%eth0", "fe80::x%eth0"),
            ("fe80::a:b:c:d%en-0.1_x", "fe80::x:x:x:x%en-0.1_x"),
            ("[fe80::1%25eth0]:443", "[fe80::x%25eth0]:443"),
        ];
        for (from, to) in cases {
            let (got, _) = ip(from, Mask::Ip);
            assert_eq!(got, to, "{from}");
            assert_eq!(ip(to, Mask::Ip).0, to, "idempotent: {to}");
        }
        for not in [
            "1:2:3",
            "1:::2",
            "1::2::3",
            "[::1",
            "[::1]x",
            "[::1]:",
            "fe80::1%",
            "fe80::1%eth 0",
            "fe80::1%eth0%1",
            "fe80::1%eth0:443",
            "12345::1",
            "g::1",
            "1:2:3:4:5:6:7:8:9",
        ] {
            assert_eq!(ip(not, Mask::Ip).1, IpOutcome::NotIp, "{not}");
        }
        // A zone is IPv6's alone.
        assert_eq!(ip("192.0.2.1%eth0", Mask::Ip).1, IpOutcome::NotIp);
        // ip-hash: a zoned address gets the letters of the address alone.
        let (alone, zoned) = (ip("fe80::1:2", Mask::IpHash).0, ip("fe80::1:2%eth0", Mask::IpHash).0);
        assert_eq!(zoned, format!("{alone}%eth0"));
    }

    /// `$remote_addr:$remote_port` with an unbracketed IPv6 client:
    /// `2001:db8::1:8080` was read as address `2001:db8::1` and port
    /// `8080`, and only the address masked; read as the address
    /// `2001:db8::1:8080` (no port), its last group stayed in clear. A port
    /// that could be a group is masked with the address now; one that
    /// cannot (5 digits, after eight groups, a zone or an IPv4 tail) stays.
    #[test]
    fn a_port_that_could_be_an_ipv6_group_is_masked_with_the_address() {
        let fmt = LogFormat::nginx(
            r#"$remote_addr:$remote_port - $remote_user [$time_local] "$request" $status $body_bytes_sent"#,
        )
        .unwrap();
        let line = |a: &str| format!(r#"{a} - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1"#);
        for (from, to) in [
            ("2001:db8::1:8080", "2001:db8::x:xxxx"),
            ("2001:db8::1:443", "2001:db8::x:xxx"),
            ("2001:db8::1:1", "2001:db8::x:x"),
            ("2001:db8:1:2:3:4:5:6", "2001:db8:1:x:x:x:x:x"),
            ("2001:db8:1::5:6:7:8", "2001:db8:1::x:x:x:x"),
            // An earlier version's output, port in clear, is finished.
            ("2001:db8::x:8080", "2001:db8::x:xxxx"),
            // Five digits are no group; nor is a ninth group, a port after
            // a zone or after an IPv4 tail.
            ("2001:db8::1:51234", "2001:db8::x:51234"),
            ("1:2:3:4:5:6:7:8:80", "1:2:3:x:x:x:x:x:80"),
            ("2001:db8:1::5:6:7:8:80", "2001:db8:1::x:x:x:x:80"),
            ("fe80::1%eth0:80", "fe80::x%eth0:80"),
            ("::ffff:192.0.2.1:8080", "::xxxx:xxx.x.x.x:8080"),
            // Brackets, IPv4 and names say where the address ends.
            ("[2001:db8::1]:80", "[2001:db8::x]:80"),
            ("203.0.113.7:80", "203.0.113.x:80"),
            ("example.com:80", "example.com:80"),
        ] {
            let (text, c) = redacted(&fmt, &[Mask::Ip], &line(from));
            assert_eq!(text, line(to), "{from}");
            assert_eq!((c.addresses, c.not_ip), (1, u64::from(from.starts_with("example"))), "{from}");
            assert_eq!(c.fields(Mask::Ip), u64::from(from != to), "{from}");
        }
        // ip-hash: the address part gets the letters it gets alone, the
        // port those of a next group; a run cut anywhere is finished.
        let (alone, _) = ip("2001:db8::1", Mask::IpHash);
        let original = line("2001:db8::1:8080");
        let (done, c) = redacted(&fmt, &[Mask::IpHash], &original);
        let port = done.strip_prefix(&format!("{alone}:")).unwrap_or_else(|| panic!("{alone}: {done}"));
        assert!(port[..4].bytes().all(is_hash_letter) && port[4..].starts_with(" - -"), "{done}");
        assert_eq!((c.fields(Mask::IpHash), c.addresses), (1, 1));
        let r = Redactor::new(fmt.clone(), &[Mask::IpHash], Some(key())).unwrap();
        let changed: Vec<usize> = (0..done.len()).filter(|&i| original.as_bytes()[i] != done.as_bytes()[i]).collect();
        assert_eq!(changed.len(), 5);
        for cut in 0..=changed.len() {
            let mut state = original.clone().into_bytes();
            for &i in &changed[cut..] {
                state[i] = done.as_bytes()[i];
            }
            r.redact_line(&mut state).unwrap();
            assert_eq!(String::from_utf8(state).unwrap(), done, "cut with {cut} digits left");
        }
        // An earlier version's hashed address with the port in clear: the
        // port's letters need the digits the address no longer has, so it
        // is masked with `x`.
        let old = line(&format!("{alone}:8080"));
        let (text, _) = redacted(&fmt, &[Mask::IpHash], &old);
        assert_eq!(text, line(&format!("{alone}:xxxx")));
    }

    #[test]
    fn an_interrupted_field_is_finished() {
        assert_eq!(ip("203.0.113.x5", Mask::Ip), ("203.0.113.xx".into(), IpOutcome::Changed));
        assert_eq!(ip("2001:db8:1:x:5::x", Mask::Ip), ("2001:db8:1:x:x::x".into(), IpOutcome::Changed));
        assert_eq!(ip("203.0.113.k5", Mask::IpHash), ("203.0.113.kx".into(), IpOutcome::Changed), "not our order");
        assert_eq!(ip("203.0.113.kx", Mask::IpHash).1, IpOutcome::NotIp, "x with hash letters is no mask's output");
    }

    #[test]
    fn an_ip_hash_cut_anywhere_is_finished_as_one_run() {
        for addr in ["203.0.113.45", "10.0.0.7", "2001:db8:1:A:5::ffff:1", "::ffff:192.0.2.133", "2001:db8:1:2:3:4:5:6"]
        {
            let (done, _) = ip(addr, Mask::IpHash);
            let changed: Vec<usize> = (0..addr.len()).filter(|&i| addr.as_bytes()[i] != done.as_bytes()[i]).collect();
            assert!(!changed.is_empty(), "{addr}");
            // The letters are written right to left: a kill leaves a prefix
            // of digits and a suffix of letters.
            for cut in 0..=changed.len() {
                let mut state = addr.as_bytes().to_vec();
                for &i in &changed[cut..] {
                    state[i] = done.as_bytes()[i];
                }
                let text = String::from_utf8(state).unwrap();
                assert_eq!(ip(&text, Mask::IpHash).0, done, "{addr} cut with {cut} digits left");
            }
        }
        // Prefix-preserving and injective within a /24: 256 addresses, 256 texts.
        let texts: std::collections::HashSet<String> =
            (0..=255).map(|o| ip(&format!("198.51.100.{o}"), Mask::IpHash).0).collect();
        assert_eq!(texts.len(), 256);
        let (a, b) = (ip("198.51.100.123", Mask::IpHash).0, ip("198.51.100.129", Mask::IpHash).0);
        assert_eq!(a[..12], b[..12], "same first digit, same first letter");
        assert_ne!(a, b);
        // Case does not matter in IPv6 digits.
        assert_eq!(ip("2001:db8:1:AB::1", Mask::IpHash).0, ip("2001:db8:1:ab::1", Mask::IpHash).0);
    }

    /// The attack that broke the first version: within one class (the same
    /// kept text and digits to the left), letter minus digit was one keyed
    /// shift, so a /24's letters gave it away. Now each class is a keyed
    /// permutation: a shift only by chance, and never the whole alphabet's.
    #[test]
    fn ip_hash_letters_of_a_slash_24_are_no_keyed_shift() {
        // Pairs (digit, letter) by class: the octet's length, position and
        // the digits before it.
        let mut classes: std::collections::BTreeMap<String, Vec<(u8, u8)>> = Default::default();
        for o in 0..=255u32 {
            let text = o.to_string();
            let (hashed, _) = ip(&format!("198.51.100.{o}"), Mask::IpHash);
            let letters = &hashed.as_bytes()[11..];
            assert!(letters.iter().all(|c| (b'g'..=b'p').contains(c)), "{hashed}: decimal digits take g to p");
            for (n, (&d, &l)) in text.as_bytes().iter().zip(letters).enumerate() {
                classes.entry(format!("{}/{}/{}", text.len(), n, &text[..n])).or_default().push((d - b'0', l - b'g'));
            }
        }
        let (mut full, mut shifts) = (0, 0);
        for pairs in classes.values() {
            let mut seen: Vec<(u8, u8)> = pairs.clone();
            seen.sort_unstable();
            seen.dedup();
            let letters: std::collections::BTreeSet<u8> = seen.iter().map(|p| p.1).collect();
            assert_eq!(letters.len(), seen.len(), "a bijection within a class: {seen:?}");
            if seen.len() == 10 {
                full += 1;
                let shift = |&(d, l): &(u8, u8)| (l + 16 - d) % 16;
                if seen.iter().all(|p| shift(p) == shift(&seen[0])) {
                    shifts += 1;
                }
            }
        }
        assert!(full >= 10, "classes with every digit: {full}");
        assert_eq!(shifts, 0, "whole classes that are a shift: {shifts} of {full}");
        // Guessing each digit as its letter's rank recovers few octets.
        let guessed = (0..=255u32)
            .filter(|o| {
                let hashed = ip(&format!("198.51.100.{o}"), Mask::IpHash).0;
                let guess: String = hashed.as_bytes()[11..].iter().map(|&l| char::from(l - b'g' + b'0')).collect();
                guess == o.to_string()
            })
            .count();
        assert!(guessed < 32, "{guessed} of 256 octets read back as letter ranks");
    }

    /// A one-digit octet's letter used to come from the same permutation
    /// as the first digit of longer octets: the one letter that starts no
    /// two- or three-digit octet of a /24 was `.0`'s. Octet lengths now
    /// draw permutations of their own, so that guess is right one time in
    /// ten, by chance.
    #[test]
    fn octets_of_different_lengths_draw_different_permutations() {
        let mut right = 0;
        for k in 0..40 {
            let key = RedactKey::new(format!("a key of sixteen bytes, number {k}").as_bytes()).unwrap();
            let hashed = |o: u32| {
                let mut b = format!("198.51.100.{o}").into_bytes();
                mask_ip(&mut b, Mask::IpHash, Some(&key));
                String::from_utf8(b[11..].to_vec()).unwrap()
            };
            let starts: std::collections::HashSet<char> =
                (10..=255).map(|o| hashed(o).chars().next().unwrap()).collect();
            let lonely: Vec<u32> = (0..10).filter(|&o| !starts.contains(&hashed(o).chars().next().unwrap())).collect();
            right += usize::from(lonely == [0]);
        }
        assert!(right < 12, ".0 singled out for {right} of 40 keys");
    }

    /// A group's letters depend only on the text to its left: one /64,
    /// however the rest is written, keeps its letters; and two addresses
    /// whose digits split into groups differently do not share theirs.
    #[test]
    fn ipv6_letters_depend_only_on_the_text_to_their_left() {
        for g4 in ["0", "a", "ab", "1c2", "ffff"] {
            let short = ip(&format!("2001:db8:1:{g4}::1"), Mask::IpHash).0;
            let long = ip(&format!("2001:db8:1:{g4}:1:2:3:4"), Mask::IpHash).0;
            let n = 11 + g4.len();
            assert_eq!(short[..n], long[..n], "{short} {long}");
            assert_ne!(short, ip(&format!("2001:db8:1:{g4}::2"), Mask::IpHash).0);
        }
        let letters = |a: &str| ip(a, Mask::IpHash).0.replace(':', "");
        assert_ne!(letters("2001:db8:1:ab:c::1"), letters("2001:db8:1:a:bc::1"));
        assert_ne!(letters("::1:23"), letters("::12:3"));
        // In an octet, ip-hash writes `g` to `p`: a digit beside `q` to `v`
        // (the first scheme's letters) is masked with `x`, not completed.
        assert_eq!(ip("203.0.113.4q", Mask::IpHash), ("203.0.113.xq".into(), IpOutcome::Changed));
        assert_eq!(ip("203.0.113.4q", Mask::Ip), ("203.0.113.xq".into(), IpOutcome::Changed));
        assert_eq!(ip("203.0.113.qq", Mask::IpHash).1, IpOutcome::Unchanged);
        assert_eq!(ip("::ffff:1.2.a.g", Mask::IpHash).1, IpOutcome::NotIp);
    }

    #[test]
    fn query_marks_are_question_marks_or_their_json_escape() {
        for (text, want) in [
            (&br"/a?b"[..], Some((2, 1))),
            (br"/a\u003fb", Some((2, 6))),
            (br"/a\u003Fb?c", Some((2, 6))),
            (br"/a\\u003fb", None),
            (br"/a\\?b", Some((4, 1))),
            (br#"/a\"?b"#, Some((4, 1))),
            (br"/a\u0030?b", Some((8, 1))),
            (br"/a\", None),
            (br"\\", None),
            (br"/a\u003", None),
            (b"", None),
        ] {
            assert_eq!(query_mark(text), want, "{}", String::from_utf8_lossy(text));
        }
    }

    /// A permutation's every draw is one: each value lands on its own slot.
    #[test]
    fn permuted_is_a_permutation_for_every_seed() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..2000 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            for size in [10u8, 16] {
                let mut hit = [false; 16];
                for v in 0..size {
                    let p = permuted(seed, size, v);
                    assert!(p < size && !hit[usize::from(p)], "seed {seed} size {size}");
                    hit[usize::from(p)] = true;
                }
            }
        }
        assert_eq!(decimal_positions(b"198.51.100.7"), bits(0..12));
        assert_eq!(decimal_positions(b"::ffff:192.0.2.1"), bits(7..16));
        assert_eq!(decimal_positions(b"2001:db8::1"), 0);
    }

    #[test]
    fn ip_hash_is_keyed_stable_and_idempotent() {
        let (a, out) = ip("203.0.113.45", Mask::IpHash);
        assert_eq!(out, IpOutcome::Changed);
        assert!(a.starts_with("203.0.113.") && a.len() == 12 && a[10..].bytes().all(is_hash_letter), "{a}");
        assert_eq!(ip("203.0.113.45", Mask::IpHash).0, a, "same address, same text");
        assert_eq!(ip(&a, Mask::IpHash), (a.clone(), IpOutcome::Unchanged));
        assert_eq!(ip(&a, Mask::Ip), (a.clone(), IpOutcome::Unchanged), "hashed text counts as masked");
        let (v6, _) = ip("2001:db8::1", Mask::IpHash);
        assert!(v6.starts_with("2001:db8::") && is_hash_letter(v6.as_bytes()[10]), "{v6}");
        // Another key, another pseudonym (for some address of a /24).
        let other = RedactKey::new(b"another secret key of 16+").unwrap();
        let differs = (0..=255).any(|o| {
            let text = format!("198.51.100.{o}");
            let (mut x, mut y) = (text.clone().into_bytes(), text.into_bytes());
            mask_ip(&mut x, Mask::IpHash, Some(&key()));
            mask_ip(&mut y, Mask::IpHash, Some(&other));
            x != y
        });
        assert!(differs);
        assert!(RedactKey::new(b"short").is_err());
    }

    #[test]
    fn masks_parse_and_conflicts_are_refused() {
        assert_eq!("ip-hash".parse::<Mask>().unwrap(), Mask::IpHash);
        assert!("ips".parse::<Mask>().is_err());
        assert!(Redactor::new(LogFormat::timed(), &[], None).is_err());
        assert!(Redactor::new(LogFormat::timed(), &[Mask::Ip, Mask::IpHash], Some(key())).is_err());
        assert!(Redactor::new(LogFormat::timed(), &[Mask::IpHash], None).is_err());
        assert!(Redactor::new(LogFormat::timed(), &[Mask::IpHash], Some(key())).is_ok());
    }

    /// A JSON query field that starts with `?` (kept, as Apache's `%q`'s)
    /// was taken for a number, the byte before its span being no quote:
    /// only its digits were masked, and nothing was counted.
    #[test]
    fn a_json_query_string_that_starts_with_a_question_mark_is_masked() {
        let r = Redactor::new(LogFormat::json(), &[Mask::Query, Mask::User], None).unwrap();
        for (from, to) in [
            (r#""args":"?token=s3cret&u=al1ce""#, r#""args":"?xxxxx=xxxxxx&x=xxxxx""#),
            (r#""query_string":"?7""#, r#""query_string":"?x""#),
            (r#""args": 12, "user_id" :[3, 4]"#, r#""args": 99, "user_id" :[9, 9]"#),
        ] {
            let mut line = format!(r#"{{"remote_addr":"203.0.113.7",{from},"status":200}}"#).into_bytes();
            let c = r.redact_line(&mut line).unwrap();
            assert_eq!(
                String::from_utf8(line).unwrap(),
                format!(r#"{{"remote_addr":"203.0.113.7",{to},"status":200}}"#)
            );
            assert_eq!(c.lines_changed, 1, "{from}");
        }
    }

    #[test]
    fn span_of_checks_the_slice_lies_in_the_line() {
        let line = b"abcdef";
        assert_eq!(span_of(line, &line[2..4]), Some(2..4));
        let elsewhere = b"zz".to_vec();
        assert_eq!(span_of(line, &elsewhere), None);
        assert_eq!(span_of(&line[..3], &line[2..5]), None);
    }

    /// Redact `line` with `masks` (ip-hash with the test key): the text, and
    /// what changed.
    fn redacted(format: &LogFormat, masks: &[Mask], line: &str) -> (String, Changes) {
        let r = Redactor::new(format.clone(), masks, Some(key())).unwrap();
        let mut b = line.as_bytes().to_vec();
        let c = r.redact_line(&mut b).unwrap();
        let again = r.redact_line(&mut b.clone()).unwrap();
        assert_eq!((again.fields_total(), again.lines_changed), (0, 0), "idempotent: {}", String::from_utf8_lossy(&b));
        (String::from_utf8(b).unwrap(), c)
    }

    /// The ident (`%l`, identd's answer) is a user name on the client's
    /// host: it stayed in clear under `--mask user`, in the presets (which
    /// skipped it) and custom formats alike.
    #[test]
    fn the_ident_is_masked_as_a_user_name() {
        let time = "[10/Oct/2000:13:55:36 -0700]";
        let presets = [
            (LogFormat::common(), format!(r#"203.0.113.7 alice bob {time} "GET /a HTTP/1.1" 200 5"#)),
            (LogFormat::timed(), format!(r#"203.0.113.7 alice bob {time} "GET /a HTTP/1.1" 200 5 "-" "ua" 0.1"#)),
            (LogFormat::combined(), format!(r#"203.0.113.7 alice bob {time} "GET /a HTTP/1.1" 200 5 "-" "ua""#)),
            ("main".parse().unwrap(), format!(r#"203.0.113.7 alice bob {time} "GET /a HTTP/1.1" 200 5 "-" "ua" "-""#)),
            (
                "vhost_combined".parse().unwrap(),
                format!(r#"h:443 203.0.113.7 alice bob {time} "GET /a HTTP/1.1" 200 5 "-" "ua""#),
            ),
            (
                "%h %l %u %t \"%r\" %>s %b %D".parse().unwrap(),
                format!(r#"203.0.113.7 alice bob {time} "GET /a HTTP/1.1" 200 5 7"#),
            ),
        ];
        for (fmt, line) in presets {
            let (text, c) = redacted(&fmt, &[Mask::User], &line);
            assert_eq!(text, line.replace("alice bob", "xxxxx xxx"), "{fmt:?}");
            assert_eq!((c.fields(Mask::User), c.lines_with(Mask::User)), (2, 1));
            // Without a user mask, the ident stays; a `-` ident is no field.
            assert_eq!(redacted(&fmt, &[Mask::Ip], &line).0, line.replace(".7 ", ".x "));
            let dash = line.replace("alice", "-");
            let (text, c) = redacted(&fmt, &[Mask::User], &dash);
            assert_eq!((text, c.fields(Mask::User)), (dash.replace("bob", "xxx"), 1));
        }
    }

    /// A user name holding ` [` was masked up to it only: `John [ops]
    /// Smith` left `[ops] Smith` in clear.
    #[test]
    fn a_user_name_holding_a_bracket_is_masked_whole() {
        let line = r#"203.0.113.7 - John [ops] Smith [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.1" 200 5"#;
        for (fmt, tail) in [
            (LogFormat::timed(), r#" "-" "ua" 0.1"#),
            (LogFormat::combined(), r#" "-" "ua""#),
            (LogFormat::common(), ""),
        ] {
            let line = format!("{line}{tail}");
            let (text, c) = redacted(&fmt, &[Mask::User], &line);
            assert_eq!(text, line.replace("John [ops] Smith", &"x".repeat(16)), "{fmt:?}");
            assert_eq!(c.lines_with(Mask::User), 1);
        }
    }

    /// A masked key whose value is an object or array (ECS's `user`) was
    /// neither masked nor counted: `alice` stayed in clear.
    #[test]
    fn json_objects_and_arrays_of_masked_keys_are_masked_leaf_by_leaf() {
        let json = LogFormat::json();
        let all = [Mask::Ip, Mask::Query, Mask::User];
        let (text, c) = redacted(
            &json,
            &all,
            r#"{"remote_addr":"203.0.113.7","user":{"name":"alice","id":"42"},"request":"GET /a?x=1 HTTP/1.1"}"#,
        );
        assert_eq!(
            text,
            r#"{"remote_addr":"203.0.113.x","user":{"name":"xxxxx","id":"xx"},"request":"GET /a?x=x HTTP/1.1"}"#
        );
        assert_eq!((c.fields(Mask::User), c.lines_with(Mask::User), c.fields(Mask::Ip)), (2, 1, 1));
        // Any depth (past the eight levels keys are read to), arrays,
        // numbers; `true`, `false` and `null` name nobody.
        let deep = r#"{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":"bob"}}}}}}}}"#;
        let (text, c) = redacted(
            &json,
            &[Mask::User],
            &format!(
                r#"{{"user":{{"name":"bob","ids":[7,{{"mail":"b@x.example"}}],"on":true,"x":null,"deep":{deep}}}}}"#
            ),
        );
        assert_eq!(
            text,
            format!(
                r#"{{"user":{{"name":"xxx","ids":[9,{{"mail":"xxxxxxxxxxx"}}],"on":true,"x":null,"deep":{}}}}}"#,
                deep.replace("bob", "xxx")
            )
        );
        assert_eq!(c.fields(Mask::User), 4);
        let (text, _) = redacted(&json, &[Mask::User], r#"{"user_id":[12,"u-7",[{"n":"c"}]],"remote_user":[]}"#);
        assert_eq!(text, r#"{"user_id":[99,"xxx",[{"n":"x"}]],"remote_user":[]}"#);
        // Address keys: each string is an address, masked, or counted as
        // none; numbers (a port) are left.
        let (text, c) = redacted(
            &json,
            &[Mask::Ip],
            r#"{"remote_addr":{"ip":"203.0.113.7","port":443,"host":"gw.example"},"x_forwarded_for":[{"for":"198.51.100.7, 10.0.0.1"}]}"#,
        );
        assert_eq!(
            text,
            r#"{"remote_addr":{"ip":"203.0.113.x","port":443,"host":"gw.example"},"x_forwarded_for":[{"for":"198.51.100.x, 10.0.0.x"}]}"#
        );
        assert_eq!((c.fields(Mask::Ip), c.addresses, c.not_ip), (3, 4, 1));
        let (text, _) = redacted(&json, &[Mask::IpHash], r#"{"client_ip":{"v":"203.0.113.7"},"ip":"203.0.113.7"}"#);
        let hashed: Vec<&str> = text.split('"').filter(|w| w.starts_with("203.0.113.")).collect();
        assert!(hashed.len() == 2 && hashed[0] == hashed[1] && hashed[0] != "203.0.113.7", "one pseudonym: {text}");
        // Query keys mask every string and number; targets, requests and
        // referrers their strings' queries.
        let (text, c) = redacted(
            &json,
            &[Mask::Query],
            r#"{"args":{"token":"s3cret","page":2,"a":"b=c&d"},"url":{"original":"/p?q=1","path":"/p","query":"q=1"},"http_referer":{"v":["https://x.example/?k=v"]},"request":{"uri":"/u?id=5","headers":{"Origin":["https://x.example"]}}}"#,
        );
        assert_eq!(
            text,
            r#"{"args":{"token":"xxxxxx","page":9,"a":"x=x&x"},"url":{"original":"/p?x=x","path":"/p","query":"x=x"},"http_referer":{"v":["https://x.example/?x=x"]},"request":{"uri":"/u?xx=x","headers":{"Origin":["https://x.example"]}}}"#
        );
        assert_eq!(c.fields(Mask::Query), 7);
        // The logs job reads such lines as before: an object is no text.
        let rec = json.parse(br#"{"user":{"name":"alice"},"status":200}"#).unwrap();
        assert_eq!((rec.user, rec.status), (None, Some(200)));
    }

    /// A chunk's JSON lines are redacted with the leads of the lines before
    /// (`redact_chunk`, `survey_chunk`): each line comes out as it does
    /// alone, whatever shape the lines before it had.
    #[test]
    fn json_chunks_redact_each_line_as_it_is_redacted_alone() {
        let lines = [
            r#"{"remote_addr":"203.0.113.8","remote_user":"ann","request":"GET /a?x=1 HTTP/1.1","status":200}"#,
            r#"{"remote_addr":"203.0.113.9","remote_user":"bob","request":"GET /b?y=2 HTTP/1.1","status":201}"#,
            r#"{"remote_addr":"2001:db8::1","remote_user":7,"request":"GET /c HTTP/1.1","status":202}"#,
            r#"{"remote_addr":["198.51.100.1","198.51.100.2"],"remote_user":null,"request":"GET /d?z HTTP/1.1"}"#,
            r#"{"remote_addr":"203.0.113.\u0038","remote_user":"c\"d","request":"GET /e?q=\u0031 HTTP/1.1"}"#,
            r#"{"remote_addr":"203.0.113.10","user":{"name":"eve","ids":[1,{"k":"v"}]},"msg":"from 192.0.2.1"}"#,
            r#"{"remote_addr":"203.0.113.11","user":{"name":"fay","ids":[2]},"msg":"192.0.2.2"}"#,
            r#"{"request":{"remote_ip":"192.0.2.3","uri":"/n?a=b","headers":{"X-Forwarded-For":["10.0.0.1"]}}}"#,
            r#"{"request":{"remote_ip":"192.0.2.4","uri":"/o?c=d","headers":{"X-Forwarded-For":["10.0.0.2"]}}}"#,
            r#"{"request":{"remote_ip":"192.0.2.5","uri":"/p","headers":"none"},"status":200}"#,
            r#"{"remote_addr":"203.0.113.12","remote_user":"gil","request":"GET /f?x=1 HTTP/1.1","status":"#,
            r#"{"remote_addr":"203.0.113.13","remote_user":"hal","request":"GET /g?x=1 HTTP/1.1","status":204}"#,
        ];
        for masks in [&[Mask::Ip][..], &[Mask::IpHash, Mask::User, Mask::Query]] {
            let r = Redactor::new(LogFormat::json(), masks, Some(key())).unwrap();
            let text: String = lines.iter().flat_map(|l| [*l, "\n"]).collect();
            let mut want = Vec::new();
            let mut changes = Changes::default();
            for line in lines {
                let mut bytes = line.as_bytes().to_vec();
                match r.redact_line(&mut bytes) {
                    Ok(c) => changes.merge(c),
                    Err(_) => {
                        changes.merge(r.redact_unparsed(&mut bytes));
                        changes.malformed += 1;
                    }
                }
                want.extend_from_slice(&bytes);
                want.push(b'\n');
            }
            let mut chunk = text.clone().into_bytes();
            assert_eq!(r.redact_chunk(&mut chunk, 0, &mut Malformed::default()), changes, "{masks:?}");
            assert_eq!(String::from_utf8(chunk).unwrap(), String::from_utf8(want).unwrap(), "{masks:?}");
            assert_eq!(r.survey_chunk(text.as_bytes(), 0, &mut Malformed::default()), changes, "{masks:?}");
            assert_eq!(changes.malformed, 1);
        }
    }

    /// A JSON address under a key no list names (Go's `clientIP` and
    /// `remoteAddr`, Envoy's `downstream_remote_address`, nginx's
    /// `upstream_addr`, ECS's `client.ip`) was left in clear, and the run
    /// reported success. Every string value that is an address, or a list
    /// of addresses, is masked now, at any depth and under any key, and
    /// counted as an address field; other values stay byte for byte.
    #[test]
    fn json_addresses_under_any_key_are_masked() {
        let json = LogFormat::json();
        let (text, c) = redacted(
            &json,
            &[Mask::Ip, Mask::Query],
            r#"{"clientIP":"203.0.113.8","remoteAddr":"198.51.100.1:5555","request":"GET /a?x=1 HTTP/1.1","status":200}"#,
        );
        assert_eq!(
            text,
            r#"{"clientIP":"203.0.113.x","remoteAddr":"198.51.100.x:5555","request":"GET /a?x=x HTTP/1.1","status":200}"#
        );
        assert_eq!((c.fields(Mask::Ip), c.lines_with(Mask::Ip), c.addresses, c.not_ip), (2, 1, 2, 0));
        let deep = r#"{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":["192.0.2.99"]}}}}}}}}"#;
        let kept = r#""msg":"connection from 203.0.113.9 refused","ts":"2024-05-01T00:00:00Z","ver":"1.2.3","v":"10.0.0.1.2","host":"gw.example","id":"abc:def","t":"12:30:00","mac":"00:1a:2b:3c:4d:5e","two":"203.0.113.7 x","url":"http://192.0.2.1/","203.0.113.4":1,"n":192"#;
        let line = format!(
            r#"{{"downstream_remote_address":"[2001:db8::7]:443","upstream_addr":"10.0.0.5:8080, 10.0.0.6:8080","server_addr":"fe80::1%eth0","client":{{"ip":"2001:db8:1:2::9"}},"source":{{"address":"198.51.100.23","geo":[{{"y":"192.0.2.1"}}]}},"xff":["203.0.113.1","203.0.113.2"],"deep":{deep},"peer":"203\u002e0.113.7",{kept}}}"#
        );
        let (text, c) = redacted(&json, &[Mask::Ip], &line);
        let want = format!(
            r#"{{"downstream_remote_address":"[2001:db8::x]:443","upstream_addr":"10.0.0.x:8080, 10.0.0.x:8080","server_addr":"fe80::x%eth0","client":{{"ip":"2001:db8:1:x::x"}},"source":{{"address":"198.51.100.xx","geo":[{{"y":"192.0.2.x"}}]}},"xff":["203.0.113.x","203.0.113.x"],"deep":{},"peer":"203\u002e0.113.x",{kept}}}"#,
            deep.replace("192.0.2.99", "192.0.2.xx")
        );
        assert_eq!(text, want);
        assert_eq!((c.fields(Mask::Ip), c.addresses, c.not_ip), (11, 11, 0));
        // ip-hash: the pseudonym an address gets under a known key.
        let (a, _) = redacted(&json, &[Mask::IpHash], r#"{"remote_addr":"203.0.113.8"}"#);
        let (b, _) = redacted(&json, &[Mask::IpHash], r#"{"clientIP":"203.0.113.8"}"#);
        assert_eq!(a.split('"').nth(3), b.split('"').nth(3));
        assert_ne!(b, r#"{"clientIP":"203.0.113.8"}"#);
        // A user or query value masked whole is not taken for an address
        // too; without that mask, it is an address.
        let line = r#"{"remote_user":"203.0.113.7","args":"198.51.100.2"}"#;
        let (text, c) = redacted(&json, &[Mask::Ip, Mask::Query, Mask::User], line);
        assert_eq!(text, r#"{"remote_user":"xxxxxxxxxxx","args":"xxxxxxxxxxxx"}"#);
        assert_eq!((c.fields(Mask::Ip), c.fields(Mask::User), c.fields(Mask::Query)), (0, 1, 1));
        let (text, c) = redacted(&json, &[Mask::Ip], line);
        assert_eq!(text, r#"{"remote_user":"203.0.113.x","args":"198.51.100.x"}"#);
        assert_eq!(c.fields(Mask::Ip), 2);
        // Without an address mask, such values are not looked at.
        let (text, _) = redacted(&json, &[Mask::Query], r#"{"clientIP":"203.0.113.8"}"#);
        assert_eq!(text, r#"{"clientIP":"203.0.113.8"}"#);
    }

    /// An RFC 7239 `Forwarded` value under a key no list names
    /// (`"fwd":"for=192.0.2.60;proto=http"`) was left in clear: it is no
    /// address as a whole. Its `for` and `by` addresses are masked now, as
    /// in a forwarded key's list, quoted and escaped ones too; its other
    /// parameters, and values that only start like it, stay.
    #[test]
    fn rfc_7239_values_under_any_key_are_masked() {
        let json = LogFormat::json();
        let line = r#"{"status":200,"fwd":"for=192.0.2.60;proto=http;by=203.0.113.43","hdr":"For=\"[2001:db8:cafe::17]:4711\", for=198.51.100.17","p":"proto=https;for=192.0.2.61","h":"host=example.com","f":"for=unknown","fmt":"format"}"#;
        let (text, c) = redacted(&json, &[Mask::Ip], line);
        assert_eq!(
            text,
            r#"{"status":200,"fwd":"for=192.0.2.xx;proto=http;by=203.0.113.xx","hdr":"For=\"[2001:db8:cafe::xx]:4711\", for=198.51.100.xx","p":"proto=https;for=192.0.2.xx","h":"host=example.com","f":"for=unknown","fmt":"format"}"#
        );
        assert_eq!((c.fields(Mask::Ip), c.addresses, c.not_ip), (5, 5, 0));
        // Without an address mask, nothing of it is looked at.
        assert_eq!(redacted(&json, &[Mask::User], line).0, line);
    }

    /// Escapes in masked JSON strings were looked at raw:
    /// `203\u002e0.113.7` was no address, left in clear and counted as one
    /// that is not an IP.
    #[test]
    fn json_escapes_are_decoded_before_masking_and_written_back_in_their_form() {
        let json = LogFormat::json();
        for (from, to) in [
            (r#"203\u002e0.113.7"#, r#"203\u002e0.113.x"#),
            (r#"203.0.113.\u0037"#, r#"203.0.113.\u0078"#),
            (r#"\u0032\u00303.0.113.45"#, r#"\u0032\u00303.0.113.xx"#),
            (r#"2001\u003Adb8\u003a\u003a1"#, r#"2001\u003Adb8\u003a\u003ax"#),
            (r#"[2001:db8::\u0035]:443"#, r#"[2001:db8::\u0078]:443"#),
        ] {
            let (text, c) = redacted(&json, &[Mask::Ip], &format!(r#"{{"remote_addr":"{from}","status":200}}"#));
            assert_eq!(text, format!(r#"{{"remote_addr":"{to}","status":200}}"#));
            assert_eq!((c.fields(Mask::Ip), c.not_ip), (1, 0), "{from}");
        }
        // Forwarded lists: split at escaped separators too.
        let (text, c) = redacted(
            &json,
            &[Mask::Ip],
            r#"{"http_x_forwarded_for":"198.51.100.7\u002c 203\u002e0.113.9","forwarded":"for=\"[2001:db8::1\u005d:80\""}"#,
        );
        assert_eq!(
            text,
            r#"{"http_x_forwarded_for":"198.51.100.x\u002c 203\u002e0.113.x","forwarded":"for=\"[2001:db8::x\u005d:80\""}"#
        );
        assert_eq!((c.fields(Mask::Ip), c.addresses, c.not_ip), (3, 3, 0));
        // Queries keep an escaped `&` or `=`; a `\uXXXX` becomes `\u0078`,
        // a surrogate pair two of them, `\"` and `\/` two `x`; kept
        // escapes (`\/` before the query) stay.
        let (text, _) = redacted(
            &json,
            &[Mask::Query],
            r#"{"request":"GET \/a?t=\u0073e\"t\u0026u\u003d\ud83d\ude00\/ HTTP\/1.1","args":"a=1\u0026b=\u00e9"}"#,
        );
        assert_eq!(
            text,
            r#"{"request":"GET \/a?x=\u0078xxxx\u0026x\u003d\u0078\u0078xx HTTP\/1.1","args":"x=x\u0026x=\u0078"}"#
        );
        // Users: `\u002d` is the `-` of no user; escapes are masked in
        // their form; a half-masked `\"` (`\x`, left by a killed run) is
        // finished.
        for (from, to, n) in [
            (r#"\u002d"#, r#"\u002d"#, 0),
            (r#"\u00e9ve"#, r#"\u0078xx"#, 1),
            (r#"a\"b\\"#, "xxxxxx", 1),
            (r#"ab\x"#, "xxxx", 1),
            (r#"\ud83d"#, r#"\u0078"#, 1),
        ] {
            let (text, c) = redacted(&json, &[Mask::User], &format!(r#"{{"remote_user":"{from}"}}"#));
            assert_eq!(text, format!(r#"{{"remote_user":"{to}"}}"#), "{from}");
            assert_eq!(c.fields(Mask::User), n, "{from}");
        }
        // A text line's escapes are masked whole, as before.
        let (text, _) = redacted(
            &LogFormat::timed(),
            &[Mask::User],
            r#"1.2.3.4 - a\"b [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "-" "ua" 0.1"#,
        );
        assert!(text.contains(" - xxxx ["), "{text}");
    }

    /// A run killed while it writes an escaped JSON string back leaves its
    /// characters on the right new and those on the left old (an escape's
    /// hex digits go in one copy; a `\"` can be left `\x`): the rerun
    /// finishes it as one run would, for every mask.
    #[test]
    fn an_escaped_json_string_cut_anywhere_is_finished_by_the_rerun() {
        let original = r#"{"remote_addr":"2001:db8:1:\u0061b::\u0039","remote_user":"\u00e9\"\ud83d\ude00v","request":"GET \/a?t=\u0073\"\u0026u=1 HTTP\/1.1"}"#;
        for ip in [Mask::Ip, Mask::IpHash] {
            let r = Redactor::new(LogFormat::json(), &[ip, Mask::Query, Mask::User], Some(key())).unwrap();
            let mut done = original.as_bytes().to_vec();
            r.redact_line(&mut done).unwrap();
            let changed: Vec<usize> = (0..done.len()).filter(|&i| original.as_bytes()[i] != done[i]).collect();
            assert!(changed.len() > 20, "{}", String::from_utf8_lossy(&done));
            // The escape whose hex digits hold byte `i` of the result, if any.
            let escape = |i: usize| (i.saturating_sub(5)..i.saturating_sub(1)).find(|&e| done[e..].starts_with(b"\\u"));
            // Written back to front: the last `cut` bytes changed are new.
            for cut in 0..=changed.len() {
                let written = &changed[changed.len() - cut..];
                // Not between the hex digits of one escape.
                if let (Some(&new), Some(&old)) = (written.first(), changed.get(changed.len().wrapping_sub(cut + 1)))
                    && escape(new).is_some()
                    && escape(new) == escape(old)
                {
                    continue;
                }
                let mut state = original.as_bytes().to_vec();
                for &i in written {
                    state[i] = done[i];
                }
                let text = String::from_utf8_lossy(&state).into_owned();
                let mut rerun = state.clone();
                r.redact_line(&mut rerun).unwrap_or_else(|e| panic!("{e:?}: {text}"));
                assert_eq!(String::from_utf8_lossy(&rerun), String::from_utf8_lossy(&done), "{ip}: {text}");
            }
        }
    }

    /// Write `text` as a JSON string's contents, escaping the characters
    /// `escape` picks (by index) as `\u00XX` (upper case hex where `upper`).
    fn escaped(text: &str, escape: &[bool], upper: bool) -> String {
        text.chars()
            .enumerate()
            .map(|(i, ch)| {
                if escape.get(i).copied().unwrap_or(false) || ch == '"' || ch == '\\' {
                    let e = format!("\\u{:04x}", u32::from(ch));
                    if upper { e.to_uppercase().replacen("\\U", "\\u", 1) } else { e }
                } else {
                    ch.to_string()
                }
            })
            .collect()
    }

    fn decoded_json(raw: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        crate::record::unescape_into(raw, crate::record::Escapes::Json, &mut out);
        out
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]
        /// A line whose masked values have ASCII characters written as
        /// `\u00XX`, redacted, means what the line written plainly means
        /// redacted, with the same counts; it keeps its length and every
        /// byte outside the values, and a second run changes nothing.
        #[test]
        fn an_escaped_json_line_redacts_to_the_same_meaning(
            v4 in proptest::prelude::any::<[u8; 4]>(),
            v6 in proptest::collection::vec(0u16..=0xffff, 8),
            compress in 0usize..8,
            use_v6 in proptest::prelude::any::<bool>(),
            port in proptest::option::of(1u16..),
            user in "[-a-z0-9 .@]{0,8}",
            query in "[a-z0-9=&?%/ ]{0,12}",
            list in proptest::collection::vec(0u8..=255, 0..3),
            escape in proptest::collection::vec(proptest::prelude::any::<bool>(), 160),
            upper in proptest::prelude::any::<bool>(),
            masks in proptest::sample::subsequence(vec![Mask::Ip, Mask::Query, Mask::User], 1..=3),
            hash in proptest::prelude::any::<bool>(),
        ) {
            let groups: Vec<String> = v6.iter().map(|g| format!("{g:x}")).collect();
            let ip = if use_v6 {
                let a = if compress > 0 { format!("{}::{}", groups[..3].join(":"), groups[3 + compress.min(4)..].join(":")) } else { groups.join(":") };
                match port { Some(p) => format!("[{a}]:{p}"), None => a }
            } else {
                let a = format!("{}.{}.{}.{}", v4[0], v4[1], v4[2], v4[3]);
                match port { Some(p) => format!("{a}:{p}"), None => a }
            };
            let xff: Vec<String> = list.iter().map(|o| format!("198.51.100.{o}")).collect();
            let values = [ip, user, format!("GET /p?{query} HTTP/1.1"), xff.join(", "), query.clone()];
            let keys = ["remote_addr", "remote_user", "request", "http_x_forwarded_for", "args"];
            let line = |esc: bool| {
                let mut at = 0;
                let fields: Vec<String> = keys.iter().zip(&values).map(|(k, v)| {
                    let pick: Vec<bool> = v.chars().enumerate().map(|(i, _)| esc && escape[(at + i) % escape.len()]).collect();
                    at += v.len();
                    format!(r#""{k}":"{}""#, escaped(v, &pick, upper))
                }).collect();
                format!("{{{},\"status\":200}}", fields.join(","))
            };
            let masks: Vec<Mask> = masks.into_iter().map(|m| if hash && m == Mask::Ip { Mask::IpHash } else { m }).collect();
            let r = Redactor::new(LogFormat::json(), &masks, Some(key())).unwrap();
            let (plain, esc) = (line(false), line(true));
            let mut want = plain.clone().into_bytes();
            let want_changes = r.redact_line(&mut want).unwrap();
            let mut got = esc.clone().into_bytes();
            let got_changes = r.redact_line(&mut got).unwrap();
            proptest::prop_assert_eq!(got.len(), esc.len());
            proptest::prop_assert_eq!(decoded_json(&got), decoded_json(&want), "{} -> {}", esc, String::from_utf8_lossy(&got));
            proptest::prop_assert_eq!(got_changes, want_changes);
            // Only inside the values, and the line still reads.
            let outside = |l: &[u8]| l.split(|&b| b == b'"').step_by(2).map(<[u8]>::to_vec).collect::<Vec<_>>();
            proptest::prop_assert_eq!(outside(&got), outside(esc.as_bytes()));
            LogFormat::json().parse(&got).unwrap();
            let mut twice = got.clone();
            proptest::prop_assert_eq!(r.redact_line(&mut twice).unwrap().fields_total(), 0);
            proptest::prop_assert_eq!(twice, got);
        }
    }
}
