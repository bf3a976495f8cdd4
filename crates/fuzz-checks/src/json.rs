//! The JSON-lines field extractor of `pagemill-logs` against `serde_json`.
//!
//! The extractor is a lenient scanner: it may accept lines that are not
//! JSON. The checks here go one way: on every line that `serde_json` reads
//! as an object, the extractor must not call it bad JSON, and the fields it
//! picks must be exactly those the rules below pick from `serde_json`'s
//! reading of the line:
//!
//! * a field is configured by dotted paths, best first; the best path that
//!   has a value wins, and among repeated keys the first;
//! * strings, numbers and booleans are values; `null` is none; an array
//!   offers its first element if that is a string; objects are walked
//!   (for a number field, time, status, size or duration, an object or
//!   such an array where no other key gave a value makes the line
//!   malformed; the text fields checked here are simply absent);
//! * keys are compared as written, so an escaped key (`"\u0069p"`) matches
//!   no path;
//! * the chosen value is none if it is `-` or empty, as written.

use std::fmt;

use pagemill_logs::{JsonFields, JsonTarget, LineError, LogFormat, TimeUnit};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::logs::assert_subslices;

/// A JSON value as `serde_json` reads it, keeping repeated keys in order
/// and whether strings were escaped.
#[derive(Debug)]
enum Json {
    Object(Vec<(Key, Json)>),
    Array(Vec<Json>),
    Str {
        text: String,
        escaped: bool,
    },
    /// A number or boolean.
    Bare(Value),
    Null,
}

/// An object key: `None` when it was written with escapes.
#[derive(Debug)]
struct Key(Option<String>);

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bare(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Bare(Value::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Bare(Value::from(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Bare(Value::from(v)))
    }

    // serde_json lends the input's bytes for strings without escapes, and
    // copies (unescapes) the others.
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Json, E> {
        Ok(Json::Str { text: v.to_string(), escaped: false })
    }

    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::Str { text: v.to_string(), escaped: true })
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut entries = Vec::new();
        while let Some((k, v)) = map.next_entry::<Json, Json>()? {
            let key = match k {
                Json::Str { text, escaped: false } => Key(Some(text)),
                _ => Key(None),
            };
            entries.push((key, v));
        }
        Ok(Json::Object(entries))
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

impl Json {
    fn depth(&self) -> usize {
        match self {
            Json::Object(e) => 1 + e.iter().map(|(_, v)| v.depth()).max().unwrap_or(0),
            Json::Array(items) => 1 + items.iter().map(Json::depth).max().unwrap_or(0),
            _ => 0,
        }
    }

    /// The first value offered at `path` (see the module's rules).
    fn find(&self, path: &[&str]) -> Option<&Json> {
        let Json::Object(entries) = self else { return None };
        let (first, rest) = path.split_first()?;
        for (key, value) in entries {
            if key.0.as_deref() != Some(*first) {
                continue;
            }
            let found = match (rest.is_empty(), value) {
                (false, Json::Object(_)) => value.find(rest),
                (true, Json::Array(items)) => items.first().filter(|v| matches!(v, Json::Str { .. })),
                (true, Json::Str { .. } | Json::Bare(_)) => Some(value),
                _ => None,
            };
            if found.is_some() {
                return found;
            }
        }
        None
    }
}

/// The text fields under test, with their candidate paths (best first).
const TEXT_FIELDS: &[(JsonTarget, &[&str])] = &[
    (JsonTarget::Ip, &["ip", "c.ip", "remote_addr"]),
    (JsonTarget::User, &["u", "a.b.c"]),
    (JsonTarget::Referrer, &["r", "h.r"]),
    (JsonTarget::UserAgent, &["ua", "h.ua"]),
    (JsonTarget::Host, &["h", "host"]),
];

fn fields() -> JsonFields {
    let mut f = JsonFields::empty();
    for (target, paths) in TEXT_FIELDS {
        f.set(*target, paths, TimeUnit::Seconds);
    }
    f
}

/// The paths of the number field under test (the status).
const STATUS_PATHS: &[&str] = &["s", "x.s"];

/// Whether some key at `path` holds an object, or an array without a
/// string first: no number can be read there.
fn holds_other(doc: &Json, path: &[&str]) -> bool {
    let Json::Object(entries) = doc else { return false };
    let Some((first, rest)) = path.split_first() else { return false };
    entries.iter().filter(|(key, _)| key.0.as_deref() == Some(*first)).any(|(_, value)| {
        match (rest.is_empty(), value) {
            (false, Json::Object(_)) => holds_other(value, rest),
            (true, Json::Object(_)) => true,
            (true, Json::Array(items)) => !matches!(items.first(), Some(Json::Str { .. })),
            _ => false,
        }
    })
}

/// What the extractor must give for `target`: the raw value's meaning.
fn expected<'j>(doc: &'j Json, paths: &[&str]) -> Option<&'j Json> {
    let value = paths.iter().find_map(|p| doc.find(&p.split('.').collect::<Vec<_>>()))?;
    match value {
        Json::Str { text, escaped: false } if text.is_empty() || text == "-" => None,
        v => Some(v),
    }
}

/// Whether the extractor's raw bytes mean `want`.
fn same(raw: &[u8], want: &Json) -> bool {
    match want {
        Json::Str { text, .. } => {
            let mut quoted = Vec::with_capacity(raw.len() + 2);
            quoted.push(b'"');
            quoted.extend_from_slice(raw);
            quoted.push(b'"');
            serde_json::from_slice::<String>(&quoted).is_ok_and(|s| s == *text)
        }
        Json::Bare(v) => serde_json::from_slice::<Value>(raw).is_ok_and(|r| r == *v),
        _ => false,
    }
}

/// The whole input is one line (a trailing newline is dropped). Parsed with
/// the default JSON fields and with test fields (five text targets, several
/// paths each); where `serde_json` reads it as an object, both must accept
/// it and the test fields must match the reference.
pub fn json_fields(data: &[u8]) {
    let line = data.strip_suffix(b"\n").unwrap_or(data);
    let default = LogFormat::json();
    let test = LogFormat::json_with(fields());
    let mut status_fields = JsonFields::empty();
    status_fields.set(JsonTarget::Status, STATUS_PATHS, TimeUnit::Seconds);
    let status = LogFormat::json_with(status_fields);
    let results = [default.parse(line), test.parse(line), status.parse(line)];
    for rec in results.iter().flatten() {
        assert_subslices(rec, line);
    }
    let Ok(doc) = serde_json::from_slice::<Json>(line) else { return };
    // The extractor bounds nesting at 64 levels; serde_json at 128.
    if !matches!(doc, Json::Object(_)) || doc.depth() > 60 {
        return;
    }
    assert!(
        !matches!(results[0], Err(LineError::BadJson | LineError::Empty)),
        "valid JSON rejected by the default fields: {:?}",
        results[0]
    );
    let rec = results[1].expect("the test fields only read text, so a JSON object always parses");
    let got = [rec.ip, rec.user, rec.referrer, rec.user_agent, rec.host];
    for ((target, paths), got) in TEXT_FIELDS.iter().zip(got) {
        let want = expected(&doc, paths);
        match (got, want) {
            (None, None) => {}
            (Some(raw), Some(want)) if same(raw, want) => {}
            _ => panic!("{target:?}: extracted {:?}, serde_json reads {want:?}", got.map(String::from_utf8_lossy)),
        }
    }
    // A number field: the best value any of its paths holds; with none, an
    // object or a stringless array at one of them is a mistyped status.
    let value = STATUS_PATHS.iter().find_map(|p| doc.find(&p.split('.').collect::<Vec<_>>()));
    let other = STATUS_PATHS.iter().any(|p| holds_other(&doc, &p.split('.').collect::<Vec<_>>()));
    match (value, &results[2]) {
        (None, got) if other => assert_eq!(got.as_ref().err(), Some(&LineError::BadStatus), "mistyped status"),
        (None, got) => assert_eq!(got.as_ref().map(|r| r.status), Ok(None), "no status"),
        (Some(Json::Bare(Value::Number(n))), got) if n.as_u64().is_some_and(|n| (100..=599).contains(&n)) => {
            assert_eq!(got.as_ref().map(|r| r.status.map(u64::from)), Ok(n.as_u64()), "status {n}")
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(s: &str) -> Json {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn the_reference_picks_by_rank_then_order() {
        let d = doc(r#"{"remote_addr":"c","c":{"ip":"b"},"ip":null,"ip":"a","ip":"z","i\u0070":"x"}"#);
        assert!(matches!(expected(&d, &["ip", "c.ip"]), Some(Json::Str { text, .. }) if text == "a"));
        assert!(matches!(expected(&d, &["c.ip", "ip"]), Some(Json::Str { text, .. }) if text == "b"));
        assert!(expected(&doc(r#"{"ip":"-"}"#), &["ip"]).is_none());
        assert!(expected(&doc(r#"{"ip":"\u002d"}"#), &["ip"]).is_some(), "an escaped dash is text");
        assert!(expected(&doc(r#"{"ip":[1,"a"]}"#), &["ip"]).is_none());
        assert!(same(br"a\u0041", &Json::Str { text: "aA".into(), escaped: true }));
        assert!(!same(b"a", &Json::Str { text: "b".into(), escaped: false }));
        assert!(same(b"1.5e3", &Json::Bare(Value::from(1500.0))));
        assert!(holds_other(&doc(r#"{"s":{"a":1}}"#), &["s"]));
        assert!(holds_other(&doc(r#"{"x":{"s":[1]}}"#), &["x", "s"]));
        assert!(holds_other(&doc(r#"{"s":[]}"#), &["s"]));
        assert!(!holds_other(&doc(r#"{"s":["200"],"x":[{"s":{}}]}"#), &["s"]));
        assert!(!holds_other(&doc(r#"{"x":[{"s":{}}]}"#), &["x", "s"]));
    }

    #[test]
    fn number_fields_follow_the_reference() {
        for line in [
            r#"{"s":{"code":500}}"#,
            r#"{"s":[],"x":{"s":404}}"#,
            r#"{"x":{"s":[5]},"s":200}"#,
            r#"{"s":null}"#,
            r#"{"s":{"s":200}}"#,
            r#"{"s":{},"s":301}"#,
        ] {
            json_fields(line.as_bytes());
        }
    }
}
