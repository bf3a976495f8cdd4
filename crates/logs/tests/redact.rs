//! Redaction: only masked bytes change, lengths never do, every mask is
//! idempotent, on generated and hand-written logs of every format.

use pagemill_datasets::{AccessLog, AccessLogFormat};
use pagemill_engine::Malformed;
use pagemill_logs::{LogFormat, Mask, RedactKey, Redactor};
use proptest::prelude::*;

fn key() -> RedactKey {
    RedactKey::new(b"integration-test-secret-key").unwrap()
}

fn generated(format: AccessLogFormat, rows: u64) -> Vec<u8> {
    let mut v = Vec::new();
    AccessLog::new(rows, format, 7).write_to(&mut v).unwrap();
    // Give some lines a user: the generator logs none.
    let text = String::from_utf8(v).unwrap();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let line = match (format, i % 3) {
            (AccessLogFormat::Json, 0) => line.replacen("{", r#"{"remote_user":"b\"ob\u00e9","#, 1),
            (AccessLogFormat::Json, _) => line.to_string(),
            (_, 0) => line.replacen(" - - [", " - alice [", 1),
            _ => line.to_string(),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out.into_bytes()
}

/// Byte ranges of the fields a mask may touch, from the unredacted line:
/// an unbracketed IPv6 address's with the port after it, where that port
/// could be a group of the address (`2001:db8::1:443`).
fn masked_spans(format: &LogFormat, line: &[u8]) -> Vec<std::ops::Range<usize>> {
    let rec = format.parse(line).unwrap();
    let span = |f: &[u8]| {
        let start = f.as_ptr() as usize - line.as_ptr() as usize;
        start..start + f.len()
    };
    let group_port = |r: std::ops::Range<usize>| {
        let v6 = line[r.clone()].contains(&b':') && line[r.start] != b'[';
        let port = line[r.end..].strip_prefix(b":").filter(|_| v6).unwrap_or_default();
        let len = port.iter().take_while(|b| b.is_ascii_alphanumeric()).count();
        if (1..=4).contains(&len) { r.start..r.end + 1 + len } else { r }
    };
    let ips = [rec.ip, rec.other_ip].into_iter().flatten().map(span).map(group_port);
    ips.chain([rec.forwarded, rec.user, rec.request, rec.uri, rec.query, rec.referrer].into_iter().flatten().map(span))
        .collect()
}

fn check_only_fields_change(format: LogFormat, original: &[u8], masks: &[Mask]) -> pagemill_logs::Changes {
    let r = Redactor::new(format.clone(), masks, Some(key())).unwrap();
    let mut once = original.to_vec();
    let mut malformed = Malformed::default();
    let changes = r.redact_chunk(&mut once, 0, &mut malformed);
    assert_eq!(once.len(), original.len());
    assert_eq!(malformed.total(), 0, "{malformed}");
    for (a, b) in original.split(|&c| c == b'\n').zip(once.split(|&c| c == b'\n')) {
        assert_eq!(a.len(), b.len());
        if a.is_empty() {
            continue;
        }
        let spans = masked_spans(&format, a);
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            if x != y {
                assert!(
                    spans.iter().any(|s| s.contains(&i)),
                    "byte {i} changed outside masked fields:\n{}\n{}",
                    String::from_utf8_lossy(a),
                    String::from_utf8_lossy(b)
                );
            }
        }
        // The line still parses, to the same unmasked fields.
        let (ra, rb) = (format.parse(a).unwrap(), format.parse(b).unwrap());
        assert_eq!(
            (ra.status, ra.bytes, ra.time, ra.method, ra.path),
            (rb.status, rb.bytes, rb.time, rb.method, rb.path)
        );
        assert_eq!((ra.user_agent, ra.latency_us), (rb.user_agent, rb.latency_us));
    }
    let mut twice = once.clone();
    let again = r.redact_chunk(&mut twice, 0, &mut malformed);
    assert_eq!(twice, once, "redacting twice changes nothing more");
    assert_eq!((again.fields_total(), again.lines_changed), (0, 0));
    changes
}

#[test]
fn generated_logs_of_every_format_change_only_masked_fields() {
    for (kind, format) in [
        (AccessLogFormat::Timed, LogFormat::timed()),
        (AccessLogFormat::Combined, LogFormat::combined()),
        (AccessLogFormat::Json, LogFormat::json()),
    ] {
        let log = generated(kind, 3000);
        for masks in [&[Mask::Ip, Mask::Query, Mask::User][..], &[Mask::IpHash, Mask::Query, Mask::User]] {
            let c = check_only_fields_change(format.clone(), &log, masks);
            assert_eq!(c.lines, 3000);
            assert_eq!(c.fields(masks[0]), 3000, "{format}: every address masked");
            assert_eq!(c.fields(Mask::User), 1000, "{format}");
            assert!(c.fields(Mask::Query) > 300, "{format}: {c:?}");
            assert_eq!(c.not_ip, 0);
        }
        // Each mask alone touches only its own field.
        for mask in Mask::all() {
            check_only_fields_change(format.clone(), &log, &[mask]);
        }
    }
}

#[test]
fn hand_written_lines_mask_as_documented() {
    let format = LogFormat::timed();
    let r = Redactor::new(format, &[Mask::Ip, Mask::Query, Mask::User], None).unwrap();
    let mut line = br#"2001:db8::7 - j\"d [10/Oct/2000:13:55:36 -0700] "GET /a/b?id=42&t=\"x y\"&flag HTTP/1.1" 200 5 "-" "curl" 0.1"#.to_vec();
    let c = r.redact_line(&mut line).unwrap();
    assert_eq!(
        String::from_utf8(line).unwrap(),
        r#"2001:db8::x - xxxx [10/Oct/2000:13:55:36 -0700] "GET /a/b?xx=xx&x=xxxxxxx&xxxx HTTP/1.1" 200 5 "-" "curl" 0.1"#
    );
    assert_eq!((c.fields(Mask::Ip), c.fields(Mask::Query), c.fields(Mask::User), c.lines_changed), (1, 1, 1, 1));
    // A host name, `-` user and no query: nothing changes, the name is counted.
    let mut line =
        br#"gw.example.com - - [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.1" 200 5 "-" "curl" 0.1"#.to_vec();
    let before = line.clone();
    let c = r.redact_line(&mut line).unwrap();
    assert_eq!((line, c.not_ip, c.lines_changed), (before, 1, 0));
}

#[test]
fn custom_nginx_format_with_user_and_args_fields() {
    let format =
        LogFormat::nginx(r#"$remote_addr - $remote_user [$time_local] "$request_method $uri $args" $status"#).unwrap();
    let r = Redactor::new(format.clone(), &[Mask::Ip, Mask::Query, Mask::User], None).unwrap();
    let log = b"198.51.100.7 - carol [10/Oct/2000:13:55:36 -0700] \"GET /x a=1&b=2\" 200\n\
                198.51.100.8 - - [10/Oct/2000:13:55:36 -0700] \"GET /x -\" 404\n";
    let mut redacted = log.to_vec();
    r.redact_chunk(&mut redacted, 0, &mut Malformed::default());
    assert_eq!(
        String::from_utf8(redacted).unwrap(),
        "198.51.100.x - xxxxx [10/Oct/2000:13:55:36 -0700] \"GET /x x=x&x=x\" 200\n\
         198.51.100.x - - [10/Oct/2000:13:55:36 -0700] \"GET /x -\" 404\n"
    );
    check_only_fields_change(format, log, &[Mask::IpHash, Mask::Query, Mask::User]);
    // Apache `%q` keeps its `?`.
    let apache = LogFormat::apache(r#"%h %u "%m %U %q" %>s"#).unwrap();
    let r = Redactor::new(apache, &[Mask::Query], None).unwrap();
    let mut line = br#"::1 - "GET /x ?k=v" 200"#.to_vec();
    r.redact_line(&mut line).unwrap();
    assert_eq!(line, br#"::1 - "GET /x ?x=x" 200"#);
}

/// A JSON string is masked on the characters it means, each written back
/// in its form: `\u00e9` becomes `\u0078`, `\"` two `x`, and an escaped
/// `&` (`\u0026`) is kept as `&` is. (Escapes were masked whole, bytes and
/// all: `\u0026` became `xxxxxx`.)
#[test]
fn json_escapes_are_masked_in_their_form_and_lines_stay_valid() {
    let format = LogFormat::json();
    let r = Redactor::new(format.clone(), &[Mask::IpHash, Mask::Query, Mask::User], Some(key())).unwrap();
    let original = br#"{"remote_addr":"2001:db8:1:2::9","remote_user":"\u00e9ve","request":"GET /s?q=\"a\\b\"&x=\u0026 HTTP/1.1","status":200}"#;
    let mut line = original.to_vec();
    r.redact_line(&mut line).unwrap();
    let text = String::from_utf8(line.clone()).unwrap();
    assert!(text.contains(r#""remote_user":"\u0078xx""#), "{text}");
    assert!(text.contains(r#""request":"GET /s?x=xxxxxxxx&x=\u0026 HTTP/1.1""#), "{text}");
    assert!(text.starts_with(r#"{"remote_addr":"2001:db8:1:"#) && !text.contains("::9"), "{text}");
    let rec = format.parse(&line).expect("still a JSON object");
    assert_eq!(rec.status, Some(200));
    check_only_fields_change(format, original, &[Mask::IpHash, Mask::Query, Mask::User]);
}

#[test]
fn every_query_of_a_line_is_masked_even_where_the_request_does_not_split() {
    let r = Redactor::new(LogFormat::combined(), &[Mask::Query], None).unwrap();
    for (line, want) in [
        // A lower-case method, a fourth word, a CONNECT authority: no method
        // or target are read, but the query is still the client's.
        (r#""get /a?token=SECRET HTTP/1.1""#, r#""get /a?xxxxx=xxxxxx HTTP/1.1""#),
        (r#""GET /a?token=SECRET HTTP/1.1 x""#, r#""GET /a?xxxxx=xxxxxx HTTP/1.1 x""#),
        (r#""CONNECT h:443?x HTTP/1.1""#, r#""CONNECT h:443?x HTTP/1.1""#),
        (r#""CONNECT h:443?k=v HTTP/1.1""#, r#""CONNECT h:443?x=x HTTP/1.1""#),
        (r#""/a?k=v""#, r#""/a?x=x""#),
        // No method: the first word is the target.
        (r#""/a?token=s2 HTTP/1.1""#, r#""/a?xxxxx=xx HTTP/1.1""#),
    ] {
        let head = r#"10.0.0.1 - - [01/May/2024:00:00:00 +0000] "#;
        let tail = r#" 400 5 "-" "ua""#;
        let original = format!("{head}{line}{tail}");
        let mut bytes = original.clone().into_bytes();
        r.redact_line(&mut bytes).unwrap();
        assert_eq!(String::from_utf8(bytes).unwrap(), format!("{head}{want}{tail}"), "{line}");
        check_only_fields_change(LogFormat::combined(), original.as_bytes(), &[Mask::Query]);
    }
    // JSON: a `request_uri` or `uri` key beside `request` hides neither.
    let json = LogFormat::json();
    let r = Redactor::new(json.clone(), &[Mask::Query], None).unwrap();
    for (line, want) in [
        (
            r#"{"remote_addr":"1.2.3.4","request":"GET /a?token=SECRET HTTP/1.1","uri":"/a","status":200}"#,
            r#"{"remote_addr":"1.2.3.4","request":"GET /a?xxxxx=xxxxxx HTTP/1.1","uri":"/a","status":200}"#,
        ),
        (
            r#"{"request":"GET /a?t=S HTTP/1.1","request_uri":"/a?t=S","status":200}"#,
            r#"{"request":"GET /a?x=x HTTP/1.1","request_uri":"/a?x=x","status":200}"#,
        ),
    ] {
        let mut bytes = line.as_bytes().to_vec();
        let c = r.redact_line(&mut bytes).unwrap();
        assert_eq!(String::from_utf8(bytes).unwrap(), want);
        assert_eq!(c.lines_changed, 1);
    }
}

#[test]
fn a_json_query_logged_apart_is_masked() {
    let r = Redactor::new(LogFormat::json(), &[Mask::Query], None).unwrap();
    for (line, want) in [
        (
            r#"{"request":"GET /a HTTP/1.1","args":"b=1&t=SECRET","status":200}"#,
            r#"{"request":"GET /a HTTP/1.1","args":"x=x&x=xxxxxx","status":200}"#,
        ),
        (r#"{"uri":"/a","query_string":"k=v","status":200}"#, r#"{"uri":"/a","query_string":"x=x","status":200}"#),
        (r#"{"uri":"/a","args":"","status":200}"#, r#"{"uri":"/a","args":"","status":200}"#),
        // Not a string: the line stays valid JSON.
        (r#"{"uri":"/a","args":12345,"status":200}"#, r#"{"uri":"/a","args":99999,"status":200}"#),
        (r#"{"uri":"/a","query_string":true,"status":200}"#, r#"{"uri":"/a","query_string":true,"status":200}"#),
    ] {
        let mut bytes = line.as_bytes().to_vec();
        r.redact_line(&mut bytes).unwrap();
        assert_eq!(String::from_utf8(bytes).unwrap(), want);
    }
    // --json-field query=... names one more key: the defaults are still
    // masked (naming a key must not leave another in clear).
    let mut fields = pagemill_logs::JsonFields::default();
    fields.apply("query=q").unwrap();
    let r = Redactor::new(LogFormat::json_with(fields), &[Mask::Query], None).unwrap();
    let mut bytes = br#"{"uri":"/a","q":"k=v","args":"k=v","request_query":"a=b","status":200}"#.to_vec();
    r.redact_line(&mut bytes).unwrap();
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        r#"{"uri":"/a","q":"x=x","args":"x=x","request_query":"x=x","status":200}"#
    );
}

#[test]
fn a_json_user_that_is_a_number_stays_a_number() {
    let json = LogFormat::json();
    let r = Redactor::new(json.clone(), &[Mask::User, Mask::Ip], None).unwrap();
    for (user, want) in [("12345", "99999"), ("-5", "-9"), ("1.5e3", "9.9e9"), ("true", "true"), ("\"u1\"", "\"xx\"")] {
        let line =
            format!(r#"{{"remote_addr":"203.0.113.46","user_id":{user},"request":"GET /a HTTP/1.1","status":200}}"#);
        let mut bytes = line.clone().into_bytes();
        r.redact_line(&mut bytes).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!(
            text,
            format!(r#"{{"remote_addr":"203.0.113.xx","user_id":{want},"request":"GET /a HTTP/1.1","status":200}}"#)
        );
        // Still a line that parses, so a later run masks what it left.
        json.parse(&bytes).expect("valid JSON");
        let mut again = bytes.clone();
        assert_eq!(r.redact_line(&mut again).unwrap().lines_changed, 0, "idempotent: {text}");
    }
}

#[test]
fn a_host_name_in_the_address_field_is_not_taken_for_a_half_masked_address() {
    let r = Redactor::new(LogFormat::combined(), &[Mask::Ip], None).unwrap();
    for host in ["10.0.0.dev", "10.0.0.abc", "10.0.0.1ab"] {
        let line = format!(r#"{host} - - [01/May/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "ua""#);
        let mut bytes = line.clone().into_bytes();
        let c = r.redact_line(&mut bytes).unwrap();
        assert_eq!((String::from_utf8(bytes).unwrap(), c.not_ip), (line, 1), "{host}");
    }
    // An address half-masked by a killed run is still finished.
    let mut bytes = br#"10.0.0.x5 - - [01/May/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "ua""#.to_vec();
    r.redact_line(&mut bytes).unwrap();
    assert!(bytes.starts_with(b"10.0.0.xx "));
}

#[test]
fn malformed_lines_are_reported_and_only_their_addresses_masked() {
    let r = Redactor::new(LogFormat::combined(), &[Mask::Ip, Mask::User, Mask::Query], None).unwrap();
    // A line cut short of its quotes does not parse; its client address
    // used to stay in clear.
    let mut log = b"10.1.2.3 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1 \"-\" \"a\"\n\
                    10.1.2.3 - bob [10/Oct/2000:13:55:36 -0700] GET /a?s=1 HTTP/1.1 401 0 198.51.100.7\r\n\
                    10.1.2.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1 \"-\" \"a\""
        .to_vec();
    let second_line = log.iter().position(|&b| b == b'\n').unwrap() + 1;
    let mut malformed = Malformed::default();
    let c = r.redact_chunk(&mut log, 1000, &mut malformed);
    let text = String::from_utf8(log).unwrap();
    let bad = "10.1.2.x - bob [10/Oct/2000:13:55:36 -0700] GET /a?s=1 HTTP/1.1 401 0 198.51.100.x";
    assert!(text.contains(&format!("\n{bad}\r\n")), "{text}");
    assert!(text.starts_with("10.1.2.x ") && text.contains("\n10.1.2.x - -"), "{text}");
    assert_eq!((c.lines, c.malformed, c.fields(Mask::Ip), c.lines_changed), (3, 1, 4, 3));
    assert_eq!(malformed.count("format-mismatch"), 1);
    assert_eq!(malformed.samples()[0].offset, 1000 + second_line as u64);
    assert_eq!(malformed.samples()[0].text, bad, "the sample is the masked line");
    // Idempotent: a second run changes nothing.
    let mut again = text.clone().into_bytes();
    let c = r.redact_chunk(&mut again, 1000, &mut Malformed::default());
    assert_eq!((String::from_utf8(again).unwrap(), c.lines_changed), (text, 0));
    // A user name with spaces (Basic auth; servers log it as it is) after a
    // lone `-` ident is a user: the line parses, and every field is masked.
    let mut line =
        br#"10.1.2.3 - John Smith [10/Oct/2000:13:55:36 -0700] "GET /a?s=1 HTTP/1.1" 401 0 "-" "-""#.to_vec();
    let c = r.redact_line(&mut line).unwrap();
    assert_eq!(c.fields(Mask::User), 1);
    let masked = String::from_utf8(line).unwrap();
    assert!(!masked.contains("John") && !masked.contains("Smith") && masked.starts_with("10.1.2.x - x"), "{masked}");
}

#[test]
fn a_byte_order_mark_at_the_start_stays_and_its_line_is_redacted() {
    let r = Redactor::new(LogFormat::combined(), &[Mask::Ip], None).unwrap();
    let line = b"10.1.2.3 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1 \"-\" \"a\"\n";
    let mut log = [&b"\xEF\xBB\xBF"[..], line].concat();
    let mut malformed = Malformed::default();
    let c = r.redact_chunk(&mut log, 0, &mut malformed);
    assert_eq!((c.lines, c.malformed), (1, 0));
    assert!(log.starts_with(b"\xEF\xBB\xBF10.1.2.x "), "{}", String::from_utf8_lossy(&log));
}

#[test]
fn every_address_of_an_x_forwarded_for_list_is_masked() {
    // nginx's default `main` format ends with the list, quoted.
    let main = LogFormat::nginx(
        r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for""#,
    )
    .unwrap();
    let log = b"10.0.0.2 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 5 \"-\" \"curl\" \"203.0.113.45, 2001:db8:1:2::7,unknown,198.51.100.9:443\"\n\
                10.0.0.3 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 5 \"-\" \"curl\" \"-\"\n";
    let r = Redactor::new(main.clone(), &[Mask::Ip], None).unwrap();
    let mut redacted = log.to_vec();
    let c = r.redact_chunk(&mut redacted, 0, &mut Malformed::default());
    assert_eq!(
        String::from_utf8(redacted).unwrap(),
        "10.0.0.x - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 5 \"-\" \"curl\" \"203.0.113.xx, 2001:db8:1:x::x,unknown,198.51.100.x:443\"\n\
         10.0.0.x - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 5 \"-\" \"curl\" \"-\"\n"
    );
    assert_eq!((c.fields(Mask::Ip), c.not_ip), (5, 1));
    check_only_fields_change(main, log, &[Mask::IpHash]);
    // Unquoted (Apache's header directive), a list of several addresses
    // is one field; it used to end at the first space and mismatch.
    let apache = LogFormat::apache("%h %{X-Forwarded-For}i %>s").unwrap();
    let r = Redactor::new(apache.clone(), &[Mask::Ip], None).unwrap();
    let mut line = b"10.0.0.2 203.0.113.45, 192.0.2.1 200".to_vec();
    r.redact_line(&mut line).unwrap();
    assert_eq!(line, b"10.0.0.x 203.0.113.xx, 192.0.2.x 200");
    // A bracketed IPv6 address with a port, in the list or as the client
    // (Go's RemoteAddr); X-Real-IP and nginx's
    // $proxy_add_x_forwarded_for are such lists too.
    let mut line = b"10.0.0.2 [2001:db8:1:2::5]:443 200".to_vec();
    r.redact_line(&mut line).unwrap();
    assert_eq!(line, b"10.0.0.x [2001:db8:1:x::x]:443 200");
    let mut line = b"[2001:db8:1:2::5]:443 - 200".to_vec();
    r.redact_line(&mut line).unwrap();
    assert_eq!(line, b"[2001:db8:1:x::x]:443 - 200");
    r.redact_line(&mut line).unwrap();
    assert_eq!(line, b"[2001:db8:1:x::x]:443 - 200", "idempotent");
    for fmt in [r#"$remote_addr "$http_x_real_ip" $status"#, r#"$remote_addr "$proxy_add_x_forwarded_for" $status"#] {
        let r = Redactor::new(LogFormat::nginx(fmt).unwrap(), &[Mask::Ip], None).unwrap();
        let mut line = br#"10.0.0.2 "203.0.113.45" 200"#.to_vec();
        r.redact_line(&mut line).unwrap();
        assert_eq!(line, br#"10.0.0.x "203.0.113.xx" 200"#, "{fmt}");
    }
    assert_eq!(apache.parse(b"10.0.0.2 203.0.113.45, 192.0.2.1 200").unwrap().status, Some(200));
}

#[test]
fn a_json_line_with_a_mistyped_number_is_still_masked() {
    let r = Redactor::new(LogFormat::json(), &[Mask::Ip, Mask::Query], None).unwrap();
    let mut line =
        br#"{"remote_addr":"203.0.113.45","request":"GET /a?x=1 HTTP/1.1","status":{"code":500},"request_time":"abc"}"#
            .to_vec();
    let c = r.redact_line(&mut line).unwrap();
    assert_eq!((c.fields(Mask::Ip), c.fields(Mask::Query)), (1, 1));
    assert_eq!(
        line,
        br#"{"remote_addr":"203.0.113.xx","request":"GET /a?x=x HTTP/1.1","status":{"code":500},"request_time":"abc"}"#
    );
    // A line that is not JSON is left as it is.
    assert!(r.redact_line(&mut br#"{"remote_addr":"203.0.113.45""#.to_vec()).is_err());
}

#[test]
fn both_address_keys_of_a_caddy_line_are_masked() {
    let r = Redactor::new(LogFormat::json(), &[Mask::Ip], None).unwrap();
    let mut line = br#"{"request":{"remote_ip":"1.2.3.4","client_ip":"5.6.7.8","uri":"/a"},"status":200}"#.to_vec();
    let c = r.redact_line(&mut line).unwrap();
    assert_eq!(c.fields(Mask::Ip), 2);
    assert_eq!(line, br#"{"request":{"remote_ip":"1.2.3.x","client_ip":"5.6.7.x","uri":"/a"},"status":200}"#);
}

#[test]
fn survey_changes_nothing_and_counts_what_redact_changes() {
    let log = generated(AccessLogFormat::Timed, 500);
    let r = Redactor::new(LogFormat::timed(), &[Mask::Ip, Mask::Query, Mask::User], None).unwrap();
    let surveyed = r.survey_chunk(&log, 0, &mut Malformed::default());
    let mut copy = log.clone();
    let done = r.redact_chunk(&mut copy, 0, &mut Malformed::default());
    assert_eq!(surveyed, done);
    assert!(done.lines_changed > 0);
}

#[test]
fn a_field_cut_half_way_is_finished_by_the_rerun() {
    let original = br#"2001:db8:1:2:3:4:5:6 - a\"b [10/Oct/2000:13:55:36 -0700] "GET /a?q=\" b&c=\\\" HTTP/1.1" 200 5 "-" "ua" 0.1"#;
    for (ip_mask, key) in [(Mask::Ip, None), (Mask::IpHash, Some(key()))] {
        let r = Redactor::new(LogFormat::timed(), &[ip_mask, Mask::Query, Mask::User], key).unwrap();
        let mut done = original.to_vec();
        r.redact_line(&mut done).unwrap();
        // Every state a kill can leave: the fields written in the
        // redactor's order (the address front to back for `ip`, back to
        // front for `ip-hash`; then query and user back to front), cut
        // after any byte.
        let diffs: Vec<usize> = (0..original.len()).filter(|&i| original[i] != done[i]).collect();
        let ip_end = original.iter().position(|&b| b == b' ').unwrap();
        let query_start = original.iter().position(|&b| b == b'?').unwrap();
        let mut ip: Vec<usize> = diffs.iter().copied().filter(|&i| i < ip_end).collect();
        if ip_mask == Mask::IpHash {
            ip.reverse();
        }
        let query = diffs.iter().copied().filter(|&i| i > query_start).rev();
        let user = diffs.iter().copied().filter(|&i| i > ip_end && i < query_start).rev();
        let order: Vec<usize> = ip.into_iter().chain(query).chain(user).collect();
        assert_eq!(order.len(), diffs.len());
        for cut in 0..=order.len() {
            let mut state = original.to_vec();
            for &i in &order[..cut] {
                state[i] = done[i];
            }
            r.redact_line(&mut state).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&state),
                String::from_utf8_lossy(&done),
                "{ip_mask}: cut after {cut} bytes"
            );
        }
    }
}

fn ipv6() -> impl Strategy<Value = String> {
    (prop::collection::vec(0u16..=0xffff, 8), 0usize..8, 0usize..4).prop_map(|(g, at, len)| {
        let hex: Vec<String> = g.iter().map(|x| format!("{x:x}")).collect();
        let end = (at + len).min(8);
        if len == 0 { hex.join(":") } else { format!("{}::{}", hex[..at].join(":"), hex[end..].join(":")) }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn redacting_is_idempotent_on_random_lines(
        v4 in any::<[u8; 4]>(),
        v6 in ipv6(),
        use_v6 in any::<bool>(),
        user in "[-a-zA-Z0-9 \"\\\\\\[]{0,6}",
        query in "[a-z0-9=&?%\" \\\\]{0,12}",
        junk in any::<bool>(),
        masks in prop::sample::subsequence(vec![Mask::Ip, Mask::Query, Mask::User], 1..=3),
        hash in any::<bool>(),
    ) {
        let ip = if use_v6 { v6 } else { format!("{}.{}.{}.{}", v4[0], v4[1], v4[2], v4[3]) };
        let user = if user.is_empty() { "-".to_string() } else { user };
        let line = format!(r#"{ip} - {user} [10/Oct/2000:13:55:36 -0700] "GET /p?{query} HTTP/1.1" 200 5 "-" "ua" 0.1{}"#, if junk { "\"" } else { "" });
        let masks: Vec<Mask> = masks.into_iter().map(|m| if hash && m == Mask::Ip { Mask::IpHash } else { m }).collect();
        let r = Redactor::new(LogFormat::timed(), &masks, Some(key())).unwrap();
        let mut once = line.clone().into_bytes();
        let first = r.redact_line(&mut once);
        if first.is_err() {
            prop_assert_eq!(&once, line.as_bytes());
        }
        prop_assert_eq!(once.len(), line.len());
        let mut twice = once.clone();
        let second = r.redact_line(&mut twice);
        prop_assert_eq!(&twice, &once);
        prop_assert_eq!(first.is_ok(), second.is_ok());
        if let Ok(c) = second {
            prop_assert_eq!(c.fields_total(), 0);
        }
    }
}

#[test]
fn repeated_fields_of_a_kind_are_all_masked() {
    // A record keeps two addresses and one list, user, query, request and
    // target: a format with more (X-Real-IP beside X-Forwarded-For is
    // common) had the others left in clear, and counted as done.
    let cases: [(&str, &[Mask], &str, &str); 7] = [
        (
            r#"$remote_addr $http_x_real_ip "$http_x_forwarded_for" $status"#,
            &[Mask::Ip],
            r#"1.2.3.4 9.8.7.6 "5.6.7.8, 1.1.1.1" 200"#,
            r#"1.2.3.x 9.8.7.x "5.6.7.x, 1.1.1.x" 200"#,
        ),
        (
            r#"$remote_addr "$http_x_forwarded_for" "$proxy_add_x_forwarded_for" $status"#,
            &[Mask::Ip],
            r#"1.2.3.4 "7.7.7.7" "5.6.7.8, 1.2.3.4" 200"#,
            r#"1.2.3.x "7.7.7.x" "5.6.7.x, 1.2.3.x" 200"#,
        ),
        ("%h %a %{c}a %>s", &[Mask::Ip], "1.2.3.4 9.9.9.9 8.8.8.8 200", "1.2.3.x 9.9.9.x 8.8.8.x 200"),
        ("%h %u %u %>s", &[Mask::User], "1.2.3.4 alice bob 200", "1.2.3.4 xxxxx xxx 200"),
        ("%h %q %q %>s", &[Mask::Query], "1.2.3.4 ?x=1 ?r=2 200", "1.2.3.4 ?x=x ?x=x 200"),
        (
            r#"%h "%r" "%r" %>s"#,
            &[Mask::Query],
            r#"1.2.3.4 "GET /a?k=1 HTTP/1.1" "GET /b?s=22 HTTP/1.1" 200"#,
            r#"1.2.3.4 "GET /a?x=x HTTP/1.1" "GET /b?x=xx HTTP/1.1" 200"#,
        ),
        (
            r#"$remote_addr "$request_uri" "$request_uri" $status"#,
            &[Mask::Query, Mask::Ip],
            r#"1.2.3.4 "/a?k=1" "/b?s=22" 200"#,
            r#"1.2.3.x "/a?x=x" "/b?x=xx" 200"#,
        ),
    ];
    for (fmt, masks, line, want) in cases {
        let format = if fmt.contains('$') { LogFormat::nginx(fmt).unwrap() } else { LogFormat::apache(fmt).unwrap() };
        let r = Redactor::new(format, masks, None).unwrap();
        let mut redacted = line.as_bytes().to_vec();
        r.redact_line(&mut redacted).unwrap();
        assert_eq!(String::from_utf8(redacted.clone()).unwrap(), want, "{fmt}");
        // Idempotent, and each field counted once.
        r.redact_line(&mut redacted).unwrap();
        assert_eq!(String::from_utf8(redacted).unwrap(), want, "{fmt}");
    }
    let r = Redactor::new(LogFormat::apache("%h %a %{c}a %>s").unwrap(), &[Mask::Ip], None).unwrap();
    let c = r.redact_line(&mut b"1.2.3.4 9.9.9.9 8.8.8.8 200".to_vec()).unwrap();
    assert_eq!((c.fields(Mask::Ip), c.lines_changed), (3, 1));
    // A line the format does not read is still an error, and untouched.
    assert!(r.redact_line(&mut b"1.2.3.4 9.9.9.9 200".to_vec()).is_err());
}

#[test]
fn json_forwarded_keys_are_all_masked() {
    let r = Redactor::new(LogFormat::json(), &[Mask::Ip], None).unwrap();
    let mut line = br#"{"remote_addr":"10.0.0.2","http_x_forwarded_for":"203.0.113.45, 198.51.100.9","http_x_real_ip":"192.0.2.7","x_forwarded_for":"-","status":200}"#.to_vec();
    let c = r.redact_line(&mut line).unwrap();
    assert_eq!(
        String::from_utf8(line).unwrap(),
        r#"{"remote_addr":"10.0.0.x","http_x_forwarded_for":"203.0.113.xx, 198.51.100.x","http_x_real_ip":"192.0.2.x","x_forwarded_for":"-","status":200}"#
    );
    assert_eq!(c.fields(Mask::Ip), 4);
    // --json-field forwarded=KEY names other keys (nested ones too), beside
    // the defaults.
    let mut fields = pagemill_logs::JsonFields::default();
    fields.apply("forwarded=headers.xff").unwrap();
    let r = Redactor::new(LogFormat::json_with(fields), &[Mask::Ip], None).unwrap();
    let mut line =
        br#"{"remote_addr":"10.0.0.2","headers":{"xff":"203.0.113.45"},"http_x_real_ip":"192.0.2.7"}"#.to_vec();
    r.redact_line(&mut line).unwrap();
    assert_eq!(
        String::from_utf8(line).unwrap(),
        r#"{"remote_addr":"10.0.0.x","headers":{"xff":"203.0.113.xx"},"http_x_real_ip":"192.0.2.x"}"#
    );
    // Not read by the logs job: a line parses as before.
    assert!(LogFormat::json().parse(br#"{"http_x_forwarded_for":{"a":1},"status":200}"#).is_ok());
}

/// Traefik logs the client as `ClientAddr` (address and port) beside
/// `ClientHost`, and request headers as `request_<Header>`; Caddy logs
/// headers as arrays under `request.headers`. All of them used to be left
/// in clear while `ClientHost` and `client_ip` were masked.
#[test]
fn traefik_and_caddy_address_keys_are_masked() {
    let r = Redactor::new(LogFormat::json(), &[Mask::Ip], None).unwrap();
    let cases: [(&str, &str, u64); 2] = [
        (
            r#"{"ClientAddr":"203.0.113.9:51234","ClientHost":"203.0.113.9","DownstreamStatus":200,"RequestPath":"/","request_X-Forwarded-For":"198.51.100.7, 10.1.2.3","request_X-Real-Ip":"198.51.100.8","request_Cf-Connecting-Ip":"[2001:db8::77]:443","request_True-Client-Ip":"192.0.2.4"}"#,
            r#"{"ClientAddr":"203.0.113.x:51234","ClientHost":"203.0.113.x","DownstreamStatus":200,"RequestPath":"/","request_X-Forwarded-For":"198.51.100.x, 10.1.2.x","request_X-Real-Ip":"198.51.100.x","request_Cf-Connecting-Ip":"[2001:db8::xx]:443","request_True-Client-Ip":"192.0.2.x"}"#,
            7,
        ),
        (
            r#"{"request":{"remote_ip":"10.0.0.1","client_ip":"203.0.113.50","uri":"/a","headers":{"User-Agent":["curl"],"X-Forwarded-For":["203.0.113.50, 10.0.0.9"],"X-Real-Ip":["203.0.113.50"],"Cf-Connecting-Ip":["203.0.113.51"],"True-Client-Ip":["203.0.113.52"]}},"status":200}"#,
            r#"{"request":{"remote_ip":"10.0.0.x","client_ip":"203.0.113.xx","uri":"/a","headers":{"User-Agent":["curl"],"X-Forwarded-For":["203.0.113.xx, 10.0.0.x"],"X-Real-Ip":["203.0.113.xx"],"Cf-Connecting-Ip":["203.0.113.xx"],"True-Client-Ip":["203.0.113.xx"]}},"status":200}"#,
            7,
        ),
    ];
    for (line, want, fields) in cases {
        let mut b = line.as_bytes().to_vec();
        let c = r.redact_line(&mut b).unwrap();
        assert_eq!(String::from_utf8(b).unwrap(), want);
        assert_eq!(c.fields(Mask::Ip), fields, "{line}");
    }
}

#[test]
fn addresses_after_the_named_fields_are_masked() {
    // `timed` with the forwarded list appended: the preset reads up to the
    // request time and ignores the rest, which held the list in clear.
    let line = br#"203.0.113.1 - - [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.1" 200 5 "-" "ua" 0.004 "198.51.100.77, 192.0.2.99" req-1.5 [2001:db8:1:2::5]:443"#;
    for format in [LogFormat::timed(), LogFormat::combined()] {
        let r = Redactor::new(format.clone(), &[Mask::Ip], None).unwrap();
        let mut redacted = line.to_vec();
        let c = r.redact_line(&mut redacted).unwrap();
        let text = String::from_utf8(redacted.clone()).unwrap();
        assert!(
            text.ends_with(r#" "198.51.100.xx, 192.0.2.xx" req-1.5 [2001:db8:1:x::x]:443"#)
                && text.starts_with("203.0.113.x "),
            "{format}: {text}"
        );
        // The address field and three in the tail; the other words are not
        // counted as addresses left.
        assert_eq!((c.fields(Mask::Ip), c.not_ip), (4, 0), "{format}");
        assert_eq!(r.redact_line(&mut redacted).unwrap().lines_changed, 0, "idempotent");
    }
    // A line the format does not read is untouched and reported, as before.
    let r = Redactor::new(LogFormat::timed(), &[Mask::Ip], None).unwrap();
    let mut junk = b"not a log line 192.0.2.1".to_vec();
    assert!(r.redact_line(&mut junk).is_err());
    assert_eq!(junk, b"not a log line 192.0.2.1");
}

#[test]
fn every_json_key_of_a_masked_target_is_masked() {
    // A record keeps one key's value per target (two for addresses): the
    // others were left in clear.
    let r = Redactor::new(LogFormat::json(), &[Mask::Ip, Mask::User, Mask::Query], None).unwrap();
    let mut line = br#"{"remote_addr":"203.0.113.45","client_ip":"198.51.100.7","ip":"192.0.2.8","remote_user":"alice","user":"bob","user_id":42,"request":"GET /a?s=1 HTTP/1.1","args":"a=1","query_string":"qs=2","request_uri":"/b?ru=1","uri":"/c?u=2","url":"/d?url=3","status":200}"#.to_vec();
    let c = r.redact_line(&mut line).unwrap();
    assert_eq!(
        String::from_utf8(line.clone()).unwrap(),
        r#"{"remote_addr":"203.0.113.xx","client_ip":"198.51.100.x","ip":"192.0.2.x","remote_user":"xxxxx","user":"xxx","user_id":99,"request":"GET /a?x=x HTTP/1.1","args":"x=x","query_string":"xx=x","request_uri":"/b?xx=x","uri":"/c?x=x","url":"/d?xxx=x","status":200}"#
    );
    assert_eq!((c.fields(Mask::Ip), c.fields(Mask::User), c.not_ip), (3, 3, 0));
    assert_eq!(r.redact_line(&mut line).unwrap().lines_changed, 0, "idempotent");
    // A key repeated, and a value that is no address counted once.
    let r = Redactor::new(LogFormat::json(), &[Mask::Ip], None).unwrap();
    let mut line = br#"{"remote_addr":"203.0.113.1","remote_addr":"203.0.113.2","client_ip":"unknown"}"#.to_vec();
    let c = r.redact_line(&mut line).unwrap();
    assert_eq!(
        String::from_utf8(line).unwrap(),
        r#"{"remote_addr":"203.0.113.x","remote_addr":"203.0.113.x","client_ip":"unknown"}"#
    );
    assert_eq!((c.fields(Mask::Ip), c.not_ip), (2, 1));
}

#[test]
fn every_string_of_a_json_array_is_masked() {
    // Caddy logs headers as arrays; only the first element was read.
    let r = Redactor::new(LogFormat::json(), &[Mask::Ip], None).unwrap();
    let mut line = br#"{"remote_addr":"203.0.113.45","x_forwarded_for":["198.51.100.7","192.0.2.8"],"http_x_real_ip":[null,"198.51.100.2"]}"#.to_vec();
    let c = r.redact_line(&mut line).unwrap();
    assert_eq!(
        String::from_utf8(line).unwrap(),
        r#"{"remote_addr":"203.0.113.xx","x_forwarded_for":["198.51.100.x","192.0.2.x"],"http_x_real_ip":[null,"198.51.100.x"]}"#
    );
    assert_eq!(c.fields(Mask::Ip), 4);
    // The logs job still reads a header array's first string.
    let rec = LogFormat::json().parse(br#"{"status":200,"user_agent":["curl/8","x"]}"#).unwrap();
    assert_eq!(rec.user_agent, Some(&b"curl/8"[..]));
}

#[test]
fn tail_words_are_cut_at_every_byte_no_address_holds() {
    let r = Redactor::new(LogFormat::combined(), &[Mask::Ip], None).unwrap();
    let head =
        r#"203.0.113.1 - - [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.1" 200 5 "-" "Mozilla/5.0 (X11; Linux 10.1)""#;
    for (tail, want) in [
        (" xff=198.51.100.7 client=198.51.100.8;", " xff=198.51.100.x client=198.51.100.x;"),
        (
            " (1.2.3.4) '1.2.3.4' 1.2.3.4|5.6.7.8 Chrome/120.0.0.0",
            " (1.2.3.x) '1.2.3.x' 1.2.3.x|5.6.7.x Chrome/120.0.0.0",
        ),
        (r#" for=192.0.2.60;proto=http"#, r#" for=192.0.2.xx;proto=http"#),
        (r#" \x22198.51.100.7\x22 \"198.51.100.8\""#, r#" \x22198.51.100.x\x22 \"198.51.100.x\""#),
    ] {
        let mut line = format!("{head}{tail}").into_bytes();
        r.redact_line(&mut line).unwrap();
        let text = String::from_utf8(line).unwrap();
        // The user agent's words are no address: left as they are.
        assert_eq!(text, format!("203.0.113.x{}{want}", &head["203.0.113.1".len()..]), "{tail}");
    }
    // A JSON value named by two candidates is one address: counted once.
    let mut fields = pagemill_logs::JsonFields::default();
    fields.apply("ip=a,b,c,c").unwrap();
    let r = Redactor::new(LogFormat::json_with(fields), &[Mask::Ip], None).unwrap();
    let c = r.redact_line(&mut br#"{"a":"1.1.1.1","b":"2.2.2.2","c":"unknown"}"#.to_vec()).unwrap();
    assert_eq!((c.fields(Mask::Ip), c.not_ip), (2, 1));
    let mut fields = pagemill_logs::JsonFields::default();
    fields.apply("ip=x_real_ip,remote_addr").unwrap();
    let r = Redactor::new(LogFormat::json_with(fields), &[Mask::Ip], None).unwrap();
    let c = r.redact_line(&mut br#"{"x_real_ip":"unknown","remote_addr":"1.1.1.1"}"#.to_vec()).unwrap();
    assert_eq!((c.fields(Mask::Ip), c.not_ip), (1, 1));
}

#[test]
fn addresses_in_fields_a_format_names_but_does_not_read_are_masked() {
    // Naming a field (another client header, the upstream) used to mask
    // less than leaving it in the tail of a preset.
    let line = br#"203.0.113.1 - - [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.1" 200 5 "-" "ua" "198.51.100.7" 10.0.0.5:8080"#;
    let want =
        r#"203.0.113.x - - [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.1" 200 5 "-" "ua" "198.51.100.x" 10.0.0.x:8080"#;
    for format in [
        LogFormat::nginx(r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_cf_connecting_ip" $upstream_addr"#).unwrap(),
        LogFormat::apache(r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" "%{True-Client-IP}i" %{X-Upstream}i"#).unwrap(),
        LogFormat::combined(),
    ] {
        let r = Redactor::new(format.clone(), &[Mask::Ip], None).unwrap();
        let mut redacted = line.to_vec();
        let c = r.redact_line(&mut redacted).unwrap();
        assert_eq!(String::from_utf8(redacted.clone()).unwrap(), want, "{format}");
        assert_eq!(c.fields(Mask::Ip), 3, "{format}");
        assert_eq!(r.redact_line(&mut redacted).unwrap().lines_changed, 0, "idempotent");
    }
}

/// A page's query comes back as the referrer of every asset the page
/// loads: `query` masks it there too, in text and JSON lines.
#[test]
fn referrer_queries_are_masked() {
    let r = Redactor::new(LogFormat::combined(), &[Mask::Query], None).unwrap();
    let mut line = br#"203.0.113.45 - - [10/Oct/2023:13:55:37 +0000] "GET /static/app.css HTTP/1.1" 200 99 "https://shop.example/reset?token=9f8e&email=alice%40example.com" "Mozilla/5.0""#.to_vec();
    let c = r.redact_line(&mut line).unwrap();
    assert_eq!(
        String::from_utf8(line).unwrap(),
        r#"203.0.113.45 - - [10/Oct/2023:13:55:37 +0000] "GET /static/app.css HTTP/1.1" 200 99 "https://shop.example/reset?xxxxx=xxxx&xxxxx=xxxxxxxxxxxxxxxxxxx" "Mozilla/5.0""#
    );
    assert_eq!(c.fields(Mask::Query), 1);
    let r = Redactor::new(LogFormat::json(), &[Mask::Query], None).unwrap();
    for (line, want) in [
        (
            r#"{"request_uri":"/a.css","http_referer":"https://x.example/p?q=secret","status":200}"#,
            r#"{"request_uri":"/a.css","http_referer":"https://x.example/p?x=xxxxxx","status":200}"#,
        ),
        (
            r#"{"request":{"uri":"/a.css","headers":{"Referer":["https://x.example/p?q=secret"]}},"status":200}"#,
            r#"{"request":{"uri":"/a.css","headers":{"Referer":["https://x.example/p?x=xxxxxx"]}},"status":200}"#,
        ),
        (
            r#"{"RequestPath":"/a.css","request_Referer":"https://x.example/p?q=1","referer":"/b?k=v","DownstreamStatus":200}"#,
            r#"{"RequestPath":"/a.css","request_Referer":"https://x.example/p?x=x","referer":"/b?x=x","DownstreamStatus":200}"#,
        ),
    ] {
        let mut b = line.as_bytes().to_vec();
        r.redact_line(&mut b).unwrap();
        assert_eq!(String::from_utf8(b).unwrap(), want);
    }
}

/// nginx JSON templates log client addresses under their variable names,
/// and ingress-nginx's widely copied one under `x_forward_for` and its
/// query as `request_query`; `--json-field ip=KEY` adds a key to the
/// defaults instead of leaving `remote_addr` in clear.
#[test]
fn nginx_json_address_keys_and_named_keys_add_to_the_defaults() {
    let r = Redactor::new(LogFormat::json(), &[Mask::Ip, Mask::Query], None).unwrap();
    let mut line = br#"{"remote_addr":"10.0.0.5","realip_remote_addr":"203.0.113.45","proxy_protocol_addr":"203.0.113.46","http_cf_connecting_ip":"198.51.100.7","http_true_client_ip":"198.51.100.8","x_forward_for":"198.51.100.9, 10.0.0.1","request_query":"token=s3","status":200}"#.to_vec();
    let c = r.redact_line(&mut line).unwrap();
    assert_eq!(
        String::from_utf8(line).unwrap(),
        r#"{"remote_addr":"10.0.0.x","realip_remote_addr":"203.0.113.xx","proxy_protocol_addr":"203.0.113.xx","http_cf_connecting_ip":"198.51.100.x","http_true_client_ip":"198.51.100.x","x_forward_for":"198.51.100.x, 10.0.0.x","request_query":"xxxxx=xx","status":200}"#
    );
    assert_eq!(c.fields(Mask::Ip), 7);
    let mut fields = pagemill_logs::JsonFields::default();
    fields.apply("ip=client").unwrap();
    let r = Redactor::new(LogFormat::json_with(fields), &[Mask::Ip], None).unwrap();
    let mut line = br#"{"client":"203.0.113.45","remote_addr":"10.0.0.5","status":200}"#.to_vec();
    r.redact_line(&mut line).unwrap();
    assert_eq!(String::from_utf8(line).unwrap(), r#"{"client":"203.0.113.xx","remote_addr":"10.0.0.x","status":200}"#);
}

/// Forwarded lists separated by spaces or `;`, and RFC 7239 `Forwarded`
/// values (`for=`, quoted IPv6 with a port), are masked item by item.
#[test]
fn forwarded_lists_of_any_separator_and_rfc_7239_values_are_masked() {
    let fmt = LogFormat::nginx(r#"$remote_addr "$http_x_forwarded_for" $status"#).unwrap();
    let r = Redactor::new(fmt, &[Mask::Ip], None).unwrap();
    for (line, want, not_ip) in [
        (r#"10.0.0.1 "198.51.100.7 10.0.0.2" 200"#, r#"10.0.0.x "198.51.100.x 10.0.0.x" 200"#, 0),
        (r#"10.0.0.1 "198.51.100.7;10.0.0.2" 200"#, r#"10.0.0.x "198.51.100.x;10.0.0.x" 200"#, 0),
        (r#"10.0.0.1 "198.51.100.7, unknown" 200"#, r#"10.0.0.x "198.51.100.x, unknown" 200"#, 1),
        (
            r#"10.0.0.1 "for=192.0.2.60;proto=http;by=203.0.113.43" 200"#,
            r#"10.0.0.x "for=192.0.2.xx;proto=http;by=203.0.113.xx" 200"#,
            0,
        ),
        // `proto=` is no address; `for=unknown` and `for=_hidden` are
        // addresses RFC 7239 chose not to give.
        (
            r#"10.0.0.1 "for=unknown;proto=https, for=_hidden" 200"#,
            r#"10.0.0.x "for=unknown;proto=https, for=_hidden" 200"#,
            2,
        ),
    ] {
        let mut b = line.as_bytes().to_vec();
        let c = r.redact_line(&mut b).unwrap();
        assert_eq!(String::from_utf8(b).unwrap(), want);
        assert_eq!(c.not_ip, not_ip, "{line}");
    }
    let r = Redactor::new(LogFormat::json(), &[Mask::Ip], None).unwrap();
    let mut line = br#"{"remote_addr":"10.0.0.1","forwarded":"for=1.2.3.4","cf-connecting-ip":"1.2.3.5","true-client-ip":"1.2.3.6"}"#.to_vec();
    r.redact_line(&mut line).unwrap();
    assert_eq!(
        String::from_utf8(line).unwrap(),
        r#"{"remote_addr":"10.0.0.x","forwarded":"for=1.2.3.x","cf-connecting-ip":"1.2.3.x","true-client-ip":"1.2.3.x"}"#
    );
    let mut line =
        br#"{"remote_addr":"10.0.0.1","http_forwarded":"for=\"[2001:db8:cafe::17]:4711\", for=192.0.2.43"}"#.to_vec();
    r.redact_line(&mut line).unwrap();
    assert_eq!(
        String::from_utf8(line).unwrap(),
        r#"{"remote_addr":"10.0.0.x","http_forwarded":"for=\"[2001:db8:cafe::xx]:4711\", for=192.0.2.xx"}"#
    );
}

/// `$remote_addr:$remote_port` with an IPv6 client: the address ends at the
/// last colon, so the /48 is kept and a port that cannot be a group of the
/// address (5 digits, or after eight groups) is left as written; one that
/// could be (`:443` after `2001:db8::1`) is masked with it, as no reading
/// of the line may leave a digit of the address in clear. (The address
/// used to end at its first colon: the /64 stayed, the port was masked.)
#[test]
fn an_ipv6_address_followed_by_a_port_is_masked_as_one() {
    let fmt = LogFormat::nginx(
        r#"$remote_addr:$remote_port - $remote_user [$time_local] "$request" $status $body_bytes_sent"#,
    )
    .unwrap();
    let r = Redactor::new(fmt, &[Mask::Ip], None).unwrap();
    let mut line =
        br#"2001:db8:85a3:8d3:1319:8a2e:370:7348:5555 - bob [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1"#
            .to_vec();
    let c = r.redact_line(&mut line).unwrap();
    assert_eq!(
        String::from_utf8(line).unwrap(),
        r#"2001:db8:85a3:xxx:xxxx:xxxx:xxx:xxxx:5555 - bob [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1"#
    );
    assert_eq!((c.fields(Mask::Ip), c.not_ip), (1, 0));
    // Redact's own output reads back: a second run, with either mask,
    // finds every line well-formed and changes nothing (the address used
    // to end at the first byte that is not a hex digit: `x` and hash
    // letters made the masked line malformed).
    let fmt = LogFormat::nginx(r#"$remote_addr:$remote_port - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#).unwrap();
    let log = concat!(
        "203.0.113.45:51234 - bob [10/Oct/2023:13:55:36 +0000] \"GET /a?k=1 HTTP/1.1\" 200 5 \"-\" \"probe 10.1.2.3\"\n",
        "2001:db8::1:443 - - [10/Oct/2023:13:55:36 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"-\"\n",
        "2001:db8::2:51234 - - [10/Oct/2023:13:55:36 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"-\"\n",
        "example.com:5555 - bob [10/Oct/2023:13:55:36 +0000] \"GET /b?t=s HTTP/1.1\" 200 5 \"-\" \"-\"\n",
    );
    for masks in [&[Mask::Ip, Mask::User, Mask::Query][..], &[Mask::IpHash, Mask::User, Mask::Query]] {
        let c = check_only_fields_change(fmt.clone(), log.as_bytes(), masks);
        assert_eq!(c.malformed, 0);
        let r = Redactor::new(fmt.clone(), masks, Some(key())).unwrap();
        let mut once = log.as_bytes().to_vec();
        r.redact_chunk(&mut once, 0, &mut Malformed::default());
        let mut twice = once.clone();
        let mut bad = Malformed::default();
        let again = r.redact_chunk(&mut twice, 0, &mut bad);
        assert_eq!((again.lines_changed, bad.total()), (0, 0), "{}", String::from_utf8_lossy(&once));
        assert_eq!(twice, once);
        let lines: Vec<&str> = std::str::from_utf8(&once).unwrap().lines().collect();
        let (v6, v6_port) = (lines[1].split(' ').next().unwrap(), lines[2].split(' ').next().unwrap());
        if masks[0] == Mask::Ip {
            assert_eq!((v6, v6_port), ("2001:db8::x:xxx", "2001:db8::x:51234"));
        } else {
            let rest = v6.strip_prefix("2001:db8::").unwrap_or_default();
            assert!(rest.len() == 5 && rest.bytes().all(|b| b == b':' || (b'g'..=b'v').contains(&b)), "{v6}");
            assert!(v6_port.ends_with(":51234"), "{v6_port}");
        }
    }
}

/// A JSON encoder may escape `?` as `\u003f` and `,` as `\u002c`: the
/// query after it is a query, and the address after it an address (both
/// stayed in clear when only the raw bytes were looked at).
#[test]
fn json_escaped_query_marks_and_list_commas_are_read() {
    let r = Redactor::new(LogFormat::json(), &[Mask::Ip, Mask::Query], None).unwrap();
    let mut line = br#"{"remote_addr":"10.0.0.1","request_uri":"/a\u003ft=S","http_referer":"https://x.example/p\u003Fq=secret","x_forwarded_for":"198.51.100.7\u002c10.0.0.2","status":200}"#.to_vec();
    let c = r.redact_line(&mut line).unwrap();
    assert_eq!(
        String::from_utf8(line).unwrap(),
        r#"{"remote_addr":"10.0.0.x","request_uri":"/a\u003fx=x","http_referer":"https://x.example/p\u003Fx=xxxxxx","x_forwarded_for":"198.51.100.x\u002c10.0.0.x","status":200}"#
    );
    assert_eq!(c.not_ip, 0);
}
