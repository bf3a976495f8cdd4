//! Integration tests for pagemill-logs: real-looking lines for every format,
//! a differential test against a sequential reference, determinism across
//! threads, chunk sizes and input paths, and property tests.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use arrow_array::{Array, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray, UInt16Array, UInt64Array};
use pagemill_datasets::{AccessLog, AccessLogFormat};
use pagemill_engine::{Outcome, Runner};
use pagemill_logs::{GroupField, LogFormat, LogJob, LogRecord, LogReport, Metric};
use pagemill_mmap::{MmapChoice, OpenOptions, Source};

fn generated(rows: u64, format: AccessLogFormat, seed: u64) -> Vec<u8> {
    let mut v = Vec::new();
    AccessLog::new(rows, format, seed).write_to(&mut v).unwrap();
    v
}

fn run(job: &LogJob, bytes: &[u8], threads: usize, chunk: Option<usize>) -> Outcome<LogReport> {
    let mut runner = Runner::new();
    runner.threads(threads);
    if let Some(c) = chunk {
        runner.chunk_size(c);
    }
    runner.run(job, &[Source::from_bytes("test.log", bytes.to_vec())]).unwrap()
}

fn strings(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let a = batch.column_by_name(name).unwrap().as_any().downcast_ref::<StringArray>().unwrap();
    (0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i).to_string())).collect()
}

fn u64s(batch: &RecordBatch, name: &str) -> Vec<u64> {
    let a = batch.column_by_name(name).unwrap().as_any().downcast_ref::<UInt64Array>().unwrap();
    a.values().to_vec()
}

fn f64s(batch: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let a = batch.column_by_name(name).unwrap().as_any().downcast_ref::<Float64Array>().unwrap();
    (0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i))).collect()
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pagemill-logs-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

mod formats {
    use super::*;

    fn parse<'a>(format: &LogFormat, line: &'a str) -> LogRecord<'a> {
        format.parse(line.as_bytes()).unwrap_or_else(|e| panic!("{format}: {e}: {line}"))
    }

    fn s(b: Option<&[u8]>) -> Option<&str> {
        b.map(|b| std::str::from_utf8(b).unwrap())
    }

    #[test]
    fn common_apache_documentation_example() {
        let f = LogFormat::common();
        let r = parse(&f, r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#);
        assert_eq!(s(r.ip), Some("127.0.0.1"));
        assert_eq!(r.time, Some(971_211_336_000_000));
        assert_eq!((s(r.method), s(r.path), s(r.protocol)), (Some("GET"), Some("/apache_pb.gif"), Some("HTTP/1.0")));
        assert_eq!((r.status, r.bytes, r.latency_us), (Some(200), Some(2326), None));
    }

    #[test]
    fn combined_apache_and_nginx_lines() {
        let f = LogFormat::combined();
        let r = parse(
            &f,
            r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#,
        );
        assert_eq!(s(r.referrer), Some("http://www.example.com/start.html"));
        assert_eq!(s(r.user_agent), Some("Mozilla/4.08 [en] (Win98; I ;Nav)"));
        let r = parse(
            &f,
            r#"93.180.71.3 - - [17/May/2015:08:05:32 +0000] "GET /downloads/product_1 HTTP/1.1" 304 0 "-" "Debian APT-HTTP/1.3 (0.8.16~exp12ubuntu10.21)""#,
        );
        assert_eq!((r.status, r.bytes, r.referrer), (Some(304), Some(0), None));
        // IPv6 client, query string, escaped quotes in the agent.
        let r = parse(
            &f,
            r#"2001:db8:85a3::8a2e:370:7334 - - [28/Nov/2026:06:00:00 +0100] "GET /search?q=%22x%22 HTTP/2.0" 200 612 "-" "Mozilla/5.0 (compatible; \"Evil\" bot) \\ x""#,
        );
        assert_eq!(s(r.ip), Some("2001:db8:85a3::8a2e:370:7334"));
        assert_eq!((s(r.uri), s(r.path)), (Some("/search?q=%22x%22"), Some("/search")));
        assert_eq!(s(r.user_agent), Some(r#"Mozilla/5.0 (compatible; \"Evil\" bot) \\ x"#));
        // `"-"` request line (a 408 from a client that sent nothing) and
        // nginx-escaped binary from a TLS scanner: counted, without a method.
        for line in [
            r#"192.0.2.1 - - [28/Nov/2026:06:00:00 +0000] "-" 408 - "-" "-""#,
            r#"45.148.10.1 - - [28/Nov/2026:06:00:01 +0000] "\x16\x03\x01\x00\xCA\x01\x00\x00\xC6\x03\x03" 400 157 "-" "-""#,
            r#"45.148.10.1 - - [28/Nov/2026:06:00:01 +0000] "GET /a b c" 400 157 "-" "-""#,
        ] {
            let r = parse(&f, line);
            assert_eq!((r.method, r.uri, r.path), (None, None, None), "{line}");
            assert!(r.status.is_some() && r.bytes.is_some());
        }
        // A stray unescaped quote inside the agent, and extra quoted fields
        // after the format's last one (nginx `"$http_x_forwarded_for"`).
        let r = parse(&f, r#"10.0.0.1 - - [28/Nov/2026:06:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "a "quoted agent""#);
        assert_eq!(s(r.user_agent), Some(r#"a "quoted agent"#));
        let r = parse(
            &f,
            r#"10.0.0.1 - - [28/Nov/2026:06:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "curl/8" "198.51.100.1, 10.0.0.2" rt=0.1"#,
        );
        assert_eq!(s(r.user_agent), Some("curl/8"));
    }

    #[test]
    fn timed_and_combined_read_each_others_lines() {
        let line = r#"10.0.0.1 - - [28/Nov/2026:06:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "curl/8" 0.125"#;
        assert_eq!(parse(&LogFormat::timed(), line).latency_us, Some(125_000));
        assert_eq!(parse(&LogFormat::combined(), line).latency_us, None);
        let no_time = r#"10.0.0.1 - - [28/Nov/2026:06:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "curl/8" -"#;
        assert_eq!(parse(&LogFormat::timed(), no_time).latency_us, None);
    }

    #[test]
    fn malformed_kinds() {
        let f = LogFormat::timed();
        let cases: [(&[u8], &str); 8] = [
            (b"", "empty-line"),
            (b"\x00\xff\xfe binary junk", "format-mismatch"),
            (
                br#"10.0.0.1 - - [28/Nov/2026:06:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "unterminated"#,
                "format-mismatch",
            ),
            (br#"10.0.0.1 - - [28/Nov/2026:25:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "a" 0.1"#, "bad-time"),
            (br#"10.0.0.1 - - [28/Nov/2026:06:00:00 +0000] "GET / HTTP/1.1" 2000 1 "-" "a" 0.1"#, "bad-status"),
            (br#"10.0.0.1 - - [28/Nov/2026:06:00:00 +0000] "GET / HTTP/1.1" 200 1k "-" "a" 0.1"#, "bad-bytes"),
            (br#"10.0.0.1 - - [28/Nov/2026:06:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "a" fast"#, "bad-latency"),
            (b"10.0.0.1 - - [28/Nov/2026:06:00:00 +0000]", "format-mismatch"),
        ];
        for (line, kind) in cases {
            assert_eq!(f.parse(line).map(drop).unwrap_err().kind(), kind, "{}", String::from_utf8_lossy(line));
        }
        assert_eq!(LogFormat::json().parse(b"{\"status\":200").unwrap_err().kind(), "bad-json");
    }

    #[test]
    fn json_nginx_caddy_traefik() {
        let f = LogFormat::json();
        let r = parse(
            &f,
            r#"{"time_local":"28/Nov/2026:06:00:00 +0000","remote_addr":"2001:db8::7","request":"GET /a?b=1 HTTP/1.1","status": "404","body_bytes_sent":"153","request_time":"0.002","http_referer":"","http_user_agent":"Mozilla/5.0 \"x\""}"#,
        );
        assert_eq!((s(r.ip), s(r.method), s(r.path)), (Some("2001:db8::7"), Some("GET"), Some("/a")));
        assert_eq!((r.status, r.bytes, r.latency_us, r.referrer), (Some(404), Some(153), Some(2000), None));
        assert_eq!(r.time, Some(1_795_845_600_000_000));
        assert_eq!(s(r.user_agent), Some(r#"Mozilla/5.0 \"x\""#));
        let r = parse(
            &f,
            r#"{"ClientAddr":"192.0.2.9:51234","ClientHost":"192.0.2.9","DownstreamContentSize":42,"DownstreamStatus":502,"Duration":1500000000,"RequestHost":"example.com","RequestMethod":"POST","RequestPath":"/api/x?y=2","RequestProtocol":"HTTP/2.0","StartUTC":"2026-11-28T06:00:00.123456789Z","level":"info","msg":"","time":"2026-11-28T06:00:01Z"}"#,
        );
        assert_eq!(
            (s(r.ip), s(r.host), s(r.method), s(r.path)),
            (Some("192.0.2.9"), Some("example.com"), Some("POST"), Some("/api/x"))
        );
        assert_eq!((r.status, r.bytes, r.latency_us), (Some(502), Some(42), Some(1_500_000)));
        // `StartUTC` (the request's start) ranks before logrus's `time`.
        assert_eq!(r.time, Some(1_795_845_600_123_456));
        let r = parse(
            &f,
            r#"{"level":"info","ts":1764309600.5,"logger":"http.log.access","msg":"handled request","request":{"remote_ip":"::1","proto":"HTTP/2.0","method":"GET","host":"localhost","uri":"/","headers":{"User-Agent":["curl/8.5.0"]}},"duration":0.25,"size":0,"status":304}"#,
        );
        assert_eq!(
            (s(r.ip), s(r.user_agent), r.latency_us, r.time),
            (Some("::1"), Some("curl/8.5.0"), Some(250_000), Some(1_764_309_600_500_000))
        );
    }

    #[test]
    fn custom_apache_and_nginx_formats() {
        let f: LogFormat = r#"%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i" %D"#.parse().unwrap();
        let r = parse(
            &f,
            r#"www.example.com:443 203.0.113.5 - - [10/Oct/2000:13:55:36 -0700] "GET /x HTTP/1.1" 200 5120 "-" "curl/8" 1532"#,
        );
        assert_eq!(
            (s(r.host), s(r.ip), r.bytes, r.latency_us),
            (Some("www.example.com"), Some("203.0.113.5"), Some(5120), Some(1532))
        );
        let f: LogFormat = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for" rt=$request_time uct="$upstream_connect_time""#
            .parse()
            .unwrap();
        let r = parse(
            &f,
            r#"10.1.2.3 - alice [28/Nov/2026:06:00:00 +0000] "PUT /v1/item/7 HTTP/1.1" 201 0 "-" "okhttp/4.12" "198.51.100.1, 10.0.0.2" rt=0.031 uct="0.001""#,
        );
        assert_eq!((s(r.method), r.status, r.latency_us), (Some("PUT"), Some(201), Some(31_000)));
        let f: LogFormat = "$time_iso8601 $host $status $request_time $request_uri".parse().unwrap();
        let r = parse(&f, "2026-11-28T07:00:00+01:00 api.example.com 200 0.5 /v2/q?x=1");
        assert_eq!(
            (r.time, s(r.host), s(r.path)),
            (Some(1_795_845_600_000_000), Some("api.example.com"), Some("/v2/q"))
        );
        // `%t`'s layout spelled out in strftime, bracketed or not.
        for fmt in [r#"%h [%{%d/%b/%Y:%H:%M:%S %z}t] "%r" %>s"#, r#"%h %{end:%d/%b/%Y:%H:%M:%S %z}t "%r" %>s"#] {
            let f: LogFormat = fmt.parse().unwrap();
            let line = if fmt.contains('[') {
                r#"203.0.113.5 [10/Oct/2000:13:55:36 -0700] "GET /x HTTP/1.1" 200"#
            } else {
                r#"203.0.113.5 10/Oct/2000:13:55:36 -0700 "GET /x HTTP/1.1" 200"#
            };
            let r = parse(&f, line);
            assert_eq!((r.time, r.status), (Some(971_211_336_000_000), Some(200)), "{fmt}");
        }
        assert!("%h %{Foo".parse::<LogFormat>().is_err());
        assert!("no fields here".parse::<LogFormat>().is_err());
    }

    #[test]
    fn detection() {
        let timed = generated(50, AccessLogFormat::Timed, 1);
        assert_eq!(LogFormat::detect(&timed).unwrap().name(), "timed");
        let combined = generated(50, AccessLogFormat::Combined, 1);
        assert_eq!(LogFormat::detect(&combined).unwrap().name(), "combined");
        let json = generated(50, AccessLogFormat::Json, 1);
        assert_eq!(LogFormat::detect(&json).unwrap().name(), "json");
        let common = b"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 2326\n";
        assert_eq!(LogFormat::detect(common).unwrap().name(), "common");
        assert!(LogFormat::detect(b"hello\nworld\n").is_err());
        // A combined line and an integer is no nginx request time (Apache's
        // %D, Traefik's request counter): combined, not timed.
        let apache_d = concat!(
            r#"192.0.2.1 - - [01/Mar/2024:00:00:01 +0000] "GET /a HTTP/1.1" 200 512 "-" "curl/8.4.0" 1532"#,
            "\n",
            r#"192.0.2.2 - - [01/Mar/2024:00:00:02 +0000] "GET /b HTTP/1.1" 200 512 "-" "curl/8.4.0" 250000"#,
            "\n",
        );
        assert_eq!(LogFormat::detect(apache_d.as_bytes()).unwrap().name(), "combined");
        let with_fraction = apache_d.replace(" 1532", " 0.153").replace(" 250000", " 0.250");
        assert_eq!(LogFormat::detect(with_fraction.as_bytes()).unwrap().name(), "timed");
        // Fields after the request time (`$upstream_response_time $pipe`) are
        // ignored, as they are when parsing.
        let more = with_fraction.replace(" 0.153", " 0.153 0.150 .").replace(" 0.250", " 0.250 - p");
        assert_eq!(LogFormat::detect(more.as_bytes()).unwrap().name(), "timed");
        // JSON lines whose first events are no requests (Caddy at start-up).
        let mut caddy = String::new();
        for _ in 0..20 {
            caddy.push_str(r#"{"level":"info","ts":1700000000.1,"logger":"tls.cache.maintenance","msg":"started"}"#);
            caddy.push('\n');
        }
        caddy.push_str(r#"{"level":"info","ts":1700000001.5,"msg":"handled request","request":{"method":"GET","uri":"/a"},"status":200,"size":5,"duration":0.001}"#);
        caddy.push('\n');
        assert_eq!(LogFormat::detect(caddy.as_bytes()).unwrap().name(), "json");
        // Odd times do not hide a format (Caddy's `wall_milli` layout, a
        // 31st of February): queries that use no time read such lines.
        let wall = r#"{"ts":"2024/05/01 10:00:00.000","request":{"method":"GET","uri":"/a"},"status":200}"#;
        assert_eq!(LogFormat::detect(wall.as_bytes()).unwrap().name(), "json");
        let feb = String::from_utf8_lossy(common).replace("10/Oct/2000", "31/Feb/2000");
        assert_eq!(LogFormat::detect(feb.as_bytes()).unwrap().name(), "common");
        // A byte order mark before the first line.
        let marked = [&b"\xEF\xBB\xBF"[..], wall.as_bytes()].concat();
        assert_eq!(LogFormat::detect(&marked).unwrap().name(), "json");
        // nginx's default `main` format: combined and the forwarded list,
        // told apart (so that redact masks it), and read as combined is.
        let main = combined
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .enumerate()
            .map(|(i, l)| {
                let xff = ["\"-\"", "\"203.0.113.7\"", "\"203.0.113.7, 10.0.0.1\""][i % 3];
                format!("{} {xff}\n", String::from_utf8_lossy(l))
            })
            .collect::<String>();
        let detected = LogFormat::detect(main.as_bytes()).unwrap();
        assert_eq!(detected.name(), "main");
        for (line, plain) in main.lines().zip(String::from_utf8_lossy(&combined).lines()) {
            let (a, b) = (parse(&detected, line), parse(&LogFormat::combined(), plain));
            assert_eq!(
                (a.ip, a.path, a.status, a.bytes, a.user_agent),
                (b.ip, b.path, b.status, b.bytes, b.user_agent)
            );
            assert!(line.ends_with("\"-\"") == a.forwarded.is_none(), "{line}");
        }
        // Lines without the list (a file whose format changed, two access
        // logs into one) are read as combined; a combined file stays one.
        let mixed: String = main
            .lines()
            .zip(String::from_utf8_lossy(&combined).lines())
            .take(10)
            .map(|(m, c)| format!("{m}\n{c}\n"))
            .collect();
        let detected = LogFormat::detect(mixed.as_bytes()).unwrap();
        for line in mixed.lines() {
            assert!(detected.parse(line.as_bytes()).is_ok(), "{} {line}", detected.name());
        }
        assert_eq!(LogFormat::detect(&combined).unwrap().name(), "combined");
        // One sampled line with the list is enough (the format changed
        // after the first lines), as main reads the others as combined.
        let switched: String = String::from_utf8_lossy(&combined)
            .lines()
            .enumerate()
            .map(|(i, l)| if i < 40 { format!("{l}\n") } else { format!("{l} \"198.51.100.{}\"\n", i % 250) })
            .collect();
        assert_eq!(LogFormat::detect(switched.as_bytes()).unwrap().name(), "combined", "none in the first 32");
        let late: String = switched.lines().skip(20).map(|l| format!("{l}\n")).collect();
        assert_eq!(LogFormat::detect(late.as_bytes()).unwrap().name(), "main");
        // A broken list (a quoted field main cannot read) is reported, not
        // read as combined with its addresses unread; other text after the
        // user agent (a request time) is ignored, as combined ignores it.
        let main_format = LogFormat::main();
        let head = r#"1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 1 "r" "u""#;
        for tail in [r#" "5.6.7.8"#, r#" "5.6.7.8"x"#, r#"  "a"b"#] {
            let line = format!("{head}{tail}");
            assert_eq!(main_format.parse(line.as_bytes()), Err(pagemill_logs::LineError::Mismatch), "{line}");
        }
        for tail in [" 0.004", " 1532 -", " 5.6.7.8"] {
            assert_eq!(parse(&main_format, &format!("{head}{tail}")).status, Some(200), "{tail}");
        }
        // Text after the list is ignored, as after any format's last field.
        let after = format!(r#"{head} "5.6.7.8" x"#);
        assert_eq!(parse(&main_format, &after).forwarded, Some(&b"5.6.7.8"[..]));
        assert_eq!(parse(&main_format, &format!("{head}  ")).status, Some(200), "trailing spaces");
        let other_ident = r#"1.2.3.4 id - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 1 "r" "u""#;
        assert_eq!(parse(&main_format, other_ident).status, Some(200), "combined with an ident");
        let with_list = format!(r#"{other_ident} "5.6.7.8""#);
        assert_eq!(parse(&main_format, &with_list).forwarded, Some(&b"5.6.7.8"[..]), "any ident, list read");
        // A file switched to main after its sample, or mixing timed lines:
        // main reads every line combined would.
        let mixed: String = String::from_utf8_lossy(&generated(10, AccessLogFormat::Timed, 2))
            .lines()
            .map(|l| format!("{l}\n"))
            .chain(main.lines().take(30).map(|l| format!("{l}\n")))
            .collect();
        let detected = LogFormat::detect(mixed.as_bytes()).unwrap();
        assert_eq!(detected.name(), "main");
        assert!(mixed.lines().all(|l| detected.parse(l.as_bytes()).is_ok()));
    }

    /// Apache's `vhost_combined` (Debian's `other_vhosts_access.log`): the
    /// virtual host and port before the combined fields, bytes from `%O`.
    #[test]
    fn vhost_combined_lines_are_read_and_detected() {
        let log = concat!(
            r#"www.example.com:443 203.0.113.7 - - [10/Oct/2023:13:55:36 +0000] "GET /a?q=1 HTTP/1.1" 200 5316 "-" "curl/8.4.0""#,
            "\n",
            r#"shop.example.org:80 2001:db8::7 - alice [10/Oct/2023:13:55:37 +0000] "POST /cart HTTP/1.1" 302 612 "https://shop.example.org/" "Mozilla/5.0""#,
            "\n",
        );
        let f = LogFormat::vhost_combined();
        let r = parse(&f, log.lines().next().unwrap());
        assert_eq!(
            (s(r.host), s(r.ip), r.user, s(r.path), r.status, r.bytes),
            (Some("www.example.com"), Some("203.0.113.7"), None, Some("/a"), Some(200), Some(5316))
        );
        let r = parse(&f, log.lines().nth(1).unwrap());
        assert_eq!(
            (s(r.host), s(r.ip), s(r.user), r.status),
            (Some("shop.example.org"), Some("2001:db8::7"), Some("alice"), Some(302))
        );
        assert_eq!(LogFormat::detect(log.as_bytes()).unwrap().name(), "vhost_combined");
        assert_eq!("vhost_combined".parse::<LogFormat>().unwrap().name(), "vhost_combined");
        let parts = f.to_parts();
        assert_eq!(LogFormat::from_parts(&parts).unwrap().name(), "vhost_combined");
        // A combined line is no vhost_combined one, nor the other way round.
        let combined = r#"203.0.113.7 - - [10/Oct/2023:13:55:36 +0000] "GET /a HTTP/1.1" 200 5 "-" "curl/8.4.0""#;
        assert!(f.parse(combined.as_bytes()).is_err());
        assert_eq!(LogFormat::detect(combined.as_bytes()).unwrap().name(), "combined");
        assert!(LogFormat::combined().parse(log.lines().next().unwrap().as_bytes()).is_err());
        // Combined lines of IPv6 clients split at their first colon too
        // (`2001` and `db8::1`), and a user name's words then fill the
        // client and ident: no port, no vhost_combined line.
        let v6 = concat!(
            r#"2001:db8::1 - Ann Lee [10/Oct/2023:13:55:36 -0700] "GET /?id=7 HTTP/1.1" 200 5 "-" "curl""#,
            "\n",
            r#"2001:db8::2 - alice smith [10/Oct/2023:13:55:37 -0700] "GET /?id=8 HTTP/1.1" 200 5 "-" "curl""#,
            "\n",
            r#"198.51.100.7 - - [10/Oct/2023:13:55:38 -0700] "GET /?id=9 HTTP/1.1" 200 5 "-" "curl""#,
            "\n",
        );
        assert!(f.parse(v6.lines().next().unwrap().as_bytes()).is_ok(), "read, but not as vhost_combined");
        assert_eq!(LogFormat::detect(v6.as_bytes()).unwrap().name(), "combined");
        // A host named by its IPv6 address, in brackets as `ServerName`
        // takes one, is read whole and vouches for the format.
        let bracketed = concat!(
            r#"[2001:db8::1]:443 203.0.113.5 - - [10/Oct/2023:13:55:36 +0000] "GET /a HTTP/1.1" 200 512 "-" "curl/8.0""#,
            "\n",
            r#"[::1]:8080 203.0.113.6 - - [10/Oct/2023:13:55:37 +0000] "GET /b HTTP/1.1" 200 100 "-" "curl/8.0""#,
            "\n",
        );
        let r = parse(&f, bracketed.lines().next().unwrap());
        assert_eq!((s(r.host), s(r.ip)), (Some("[2001:db8::1]"), Some("203.0.113.5")));
        assert_eq!(LogFormat::detect(bracketed.as_bytes()).unwrap().name(), "vhost_combined");
    }

    #[test]
    fn format_strings_pick_their_syntax_by_directives() {
        // A lone `%` is text in an nginx format, not an Apache directive.
        let f: LogFormat = "$remote_addr $status cpu=$cpu%".parse().unwrap();
        assert_eq!(parse(&f, "1.2.3.4 200 cpu=5%").status, Some(200));
        // Apache's trailer directives take two letters.
        for d in ["^ti", "^to"] {
            let f: LogFormat = format!("%h %{{X}}{d} %>s").parse().unwrap();
            assert_eq!(parse(&f, "1.2.3.4 foo 200").status, Some(200), "{d}");
        }
        let f: LogFormat = "%h %^FB %>s".parse().unwrap();
        assert_eq!(parse(&f, "1.2.3.4 1234 200").status, Some(200));
        assert!("%h %^t %>s".parse::<LogFormat>().is_err());
        // A stated epoch unit is taken, not guessed from the size.
        for (d, v) in [("sec", "86400"), ("msec", "86400000"), ("usec", "86400000000")] {
            let f: LogFormat = format!("%h %{{{d}}}t %>s").parse().unwrap();
            assert_eq!(parse(&f, &format!("1.2.3.4 {v} 200")).time, Some(86_400_000_000), "{d}");
        }
        // A date alone before the next field, and a CLF time with no zone.
        let f: LogFormat = r#"%h %{%Y-%m-%d}t "%r" %>s %b"#.parse().unwrap();
        let r = f.parse_with(br#"1.2.3.4 2024-03-01 "GET /a HTTP/1.1" 200 5"#, false).unwrap();
        assert_eq!((r.path, r.status), (Some(&b"/a"[..]), Some(200)));
        // Its time is the date's midnight (UTC).
        assert_eq!(parse(&f, r#"1.2.3.4 2024-03-01 "GET /a HTTP/1.1" 200 5"#).time, Some(1_709_251_200_000_000));
        // A layout with spaces logged as `-`: no time, but the line's other
        // fields are read.
        let f: LogFormat = r#"%h %{%Y-%m-%d %H:%M:%S}t "%r" %>s %b"#.parse().unwrap();
        let r = f.parse_with(br#"1.2.3.4 - "GET /a HTTP/1.1" 200 5"#, false).unwrap();
        assert_eq!((r.path, r.status, r.bytes), (Some(&b"/a"[..]), Some(200), Some(5)));
        assert_eq!(f.parse(br#"1.2.3.4 - "GET /a HTTP/1.1" 200 5"#), Err(pagemill_logs::LineError::BadTime));
        // A date, a time of day and a zone in fields of their own make one
        // time; a time of day without a date is none.
        let f: LogFormat = r#"%h %{%F}t %{%T}t %{%z}t "%r" %>s %b"#.parse().unwrap();
        let r = parse(&f, r#"1.2.3.4 2024-03-01 13:55:36 +0200 "GET /a HTTP/1.1" 200 5"#);
        assert_eq!(r.time, Some(1_709_251_200_000_000 + (11 * 3600 + 55 * 60 + 36) * 1_000_000));
        let f: LogFormat = r#"%h %{%T}t "%r" %>s %b"#.parse().unwrap();
        assert_eq!(f.parse(br#"1.2.3.4 13:55:36 "GET /a HTTP/1.1" 200 5"#), Err(pagemill_logs::LineError::BadTime));
        assert_eq!(f.parse_with(br#"1.2.3.4 13:55:36 "GET /a HTTP/1.1" 200 5"#, false).unwrap().status, Some(200));
        // A piece after a full time says again what it says: skipped (not
        // added to a time that happens to fall on midnight), and so is a
        // second time of day.
        let noon = |line: &str, fmt: &str| parse(&fmt.parse().unwrap(), line).time;
        let t0 = 1_709_251_200_000_000; // 2024-03-01T00:00:00Z
        let line = r#"1.2.3.4 [01/Mar/2024:00:00:00 +0000] 13:00:00 "GET / HTTP/1.1" 200 5"#;
        assert_eq!(noon(line, r#"%h %t %{%T}t "%r" %>s %b"#), Some(t0));
        let line = r#"1.2.3.4 [01/Mar/2024:10:00:00 +0200] +0200 "GET / HTTP/1.1" 200 5"#;
        assert_eq!(noon(line, r#"%h %t %{%z}t "%r" %>s %b"#), Some(t0 + 8 * 3_600_000_000));
        let line = r#"1.2.3.4 2024-03-01 +0200 13:00:00 "GET / HTTP/1.1" 200 5"#;
        assert_eq!(noon(line, r#"%h %{%F}t %{%z}t %{%T}t "%r" %>s %b"#), Some(t0 + 11 * 3_600_000_000));
        let line = r#"1.2.3.4 2024-03-01 00:00:00 13:00:00 "GET / HTTP/1.1" 200 5"#;
        assert_eq!(noon(line, r#"%h %{%F}t %{%T}t %{%T}t "%r" %>s %b"#), Some(t0));
        // A piece before a full time is skipped (that time says it all), and
        // a date after a full time does not overwrite it with its midnight.
        let line = r#"1.2.3.4 13:00:00 [01/Mar/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 5"#;
        assert_eq!(noon(line, r#"%h %{%T}t %t "%r" %>s %b"#), Some(t0 + 10 * 3_600_000_000));
        let line = r#"1.2.3.4 +0200 [01/Mar/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 5"#;
        assert_eq!(noon(line, r#"%h %{%z}t %t "%r" %>s %b"#), Some(t0 + 10 * 3_600_000_000));
        let line = r#"1.2.3.4 [01/Mar/2024:10:00:00 +0000] 2024-03-01 "GET / HTTP/1.1" 200 5"#;
        assert_eq!(noon(line, r#"%h %t %{%F}t "%r" %>s %b"#), Some(t0 + 10 * 3_600_000_000));
        let line = r#"1.2.3.4 [01/Mar/2024:10:00:00 +0000] 2024-03-01 13:00:00 "GET / HTTP/1.1" 200 5"#;
        assert_eq!(noon(line, r#"%h %t %{%F %T}t "%r" %>s %b"#), Some(t0 + 10 * 3_600_000_000));
        // Before a date alone, a time of day cannot be placed: no time.
        let f: LogFormat = r#"%h %{%T}t %{%F}t "%r" %>s %b"#.parse().unwrap();
        let line = br#"1.2.3.4 13:00:00 2024-03-01 "GET / HTTP/1.1" 200 5"#;
        assert_eq!(f.parse(line), Err(pagemill_logs::LineError::BadTime));
        // A zone after a date and time without one applies to it.
        let line = r#"1.2.3.4 2024-03-01 13:00:00 +0200 "GET / HTTP/1.1" 200 5"#;
        assert_eq!(noon(line, r#"%h %{%F %T}t %{%z}t "%r" %>s %b"#), Some(t0 + 11 * 3_600_000_000));
        // A `-` in a bracketed layout with spaces ends at the bracket.
        let f: LogFormat = r#"[%{%F %T}t] %h "%r" %>s %b"#.parse().unwrap();
        assert_eq!(f.parse_with(br#"[-] 1.2.3.4 "GET /a HTTP/1.1" 200 5"#, false).unwrap().status, Some(200));
        // A date and a time in two fields: each ends at its own space.
        let f: LogFormat = r#"%h %{%Y-%m-%d}t %{%H:%M:%S}t "%r" %>s %b"#.parse().unwrap();
        let r = f.parse_with(br#"1.2.3.4 2024-03-01 13:55:36 "GET /a HTTP/1.1" 200 5"#, false).unwrap();
        assert_eq!((r.path, r.status), (Some(&b"/a"[..]), Some(200)));
        let r = parse(&LogFormat::common(), r#"1.2.3.4 - - [10/Oct/2000:13:55:36] "GET /a HTTP/1.1" 200 5"#);
        assert_eq!((r.time, r.status), (Some(971_186_136_000_000), Some(200)));
    }
}

mod aggregation {
    use super::*;

    #[test]
    fn timestamps_are_checked_only_by_queries_that_use_time() {
        let log = concat!(
            r#"10.0.0.1 - - [28/Nov/2026:06:00:00 +0000] "GET /a HTTP/1.1" 200 10 "-" "x" 0.1"#,
            "\n",
            r#"10.0.0.2 - - [28/Nov/2026:25:00:00 +0000] "GET /a HTTP/1.1" 200 20 "-" "x" 0.1"#,
            "\n",
        );
        let mut per_path = LogJob::new(LogFormat::timed());
        per_path.group_by(&[GroupField::Path]).unwrap().metrics(&[Metric::Requests, Metric::Bytes]);
        let out = run(&per_path, log.as_bytes(), 1, None);
        assert_eq!(out.malformed.total(), 0, "no time used: the timestamp is not parsed");
        assert_eq!(out.output.totals.matched, 2);
        for uses_time in [
            LogJob::new(LogFormat::timed()).group_by(&[GroupField::Time]).unwrap().clone(),
            LogJob::new(LogFormat::timed()).metrics(&[Metric::Requests, Metric::FirstSeen]).clone(),
            LogJob::new(LogFormat::timed()).since(0).clone(),
        ] {
            let out = run(&uses_time, log.as_bytes(), 1, None);
            assert_eq!(out.malformed.count("bad-time"), 1);
            assert_eq!(out.output.totals.matched, 1);
        }
    }

    #[test]
    fn absolute_form_targets_group_with_their_path() {
        // A forward proxy logs the target as the client sent it.
        let log = concat!(
            r#"10.0.0.1 - - [28/Nov/2026:06:00:00 +0000] "GET /a?x=1 HTTP/1.1" 200 10 "-" "x" 0.1"#,
            "\n",
            r#"10.0.0.2 - - [28/Nov/2026:06:00:01 +0000] "GET http://example.com/a?y=2 HTTP/1.1" 200 20 "-" "x" 0.1"#,
            "\n",
            r#"10.0.0.3 - - [28/Nov/2026:06:00:02 +0000] "GET https://example.com HTTP/1.1" 200 40 "-" "x" 0.1"#,
            "\n",
            r#"10.0.0.4 - - [28/Nov/2026:06:00:03 +0000] "CONNECT example.com:443 HTTP/1.1" 200 80 "-" "x" 0.1"#,
            "\n",
        );
        let mut job = LogJob::new(LogFormat::timed());
        job.group_by(&[GroupField::Path]).unwrap().metrics(&[Metric::Requests, Metric::Bytes]);
        let b = run(&job, log.as_bytes(), 1, None).output.batch;
        assert_eq!(strings(&b, "path"), [Some("/".into()), Some("/a".into()), Some("example.com:443".into())]);
        assert_eq!(u64s(&b, "bytes"), [40, 30, 80]);
        let mut job = LogJob::new(LogFormat::timed());
        job.group_by(&[GroupField::Host, GroupField::Uri]).unwrap().metrics(&[Metric::Requests]);
        let b = run(&job, log.as_bytes(), 1, None).output.batch;
        assert_eq!(strings(&b, "host")[..3], [None, None, Some("example.com".into())]);
        assert_eq!(
            strings(&b, "uri")[2..],
            [Some("http://example.com/a?y=2".into()), Some("https://example.com".into())]
        );
    }

    /// An exact, sequential reference for generated `timed` lines, written
    /// independently of the crate's parser (a regular expression).
    #[derive(Default, Debug)]
    struct Expected {
        requests: u64,
        bytes: u64,
        ips: HashSet<String>,
        latencies: Vec<u64>,
        err5: u64,
    }

    fn reference(log: &[u8]) -> BTreeMap<String, Expected> {
        let re = regex::Regex::new(
            r#"^(\S+) \S+ \S+ \[[^\]]+\] "(\S+) ([^?" ]+)(\?[^" ]*)? HTTP/1\.1" (\d{3}) (\d+|-) "(?:[^"\\]|\\.)*" "(?:[^"\\]|\\.)*" (\d+)\.(\d{3})$"#,
        )
        .unwrap();
        let mut out: BTreeMap<String, Expected> = BTreeMap::new();
        for line in std::str::from_utf8(log).unwrap().lines() {
            let c = re.captures(line).unwrap_or_else(|| panic!("reference cannot read {line}"));
            let e = out.entry(c[3].to_string()).or_default();
            e.requests += 1;
            e.bytes += c[6].parse::<u64>().unwrap_or(0);
            e.ips.insert(c[1].to_string());
            e.latencies.push(c[7].parse::<u64>().unwrap() * 1_000_000 + c[8].parse::<u64>().unwrap() * 1000);
            e.err5 += u64::from(c[5].starts_with('5'));
        }
        out
    }

    fn within_hdr_precision(got_s: f64, sorted: &[u64], q: f64) -> bool {
        let got = (got_s * 1e6).round() as u64;
        let n = sorted.len();
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        let lo = sorted[rank.saturating_sub(2)] as f64 * (1.0 - 2e-3) - 1.0;
        let hi = sorted[rank.min(n - 1)] as f64 * (1.0 + 2e-3) + 1.0;
        (lo..=hi).contains(&(got as f64))
    }

    #[test]
    fn per_path_summary_matches_an_exact_reference() {
        let log = generated(40_000, AccessLogFormat::Timed, 11);
        let expected = reference(&log);
        let mut job = LogJob::new(LogFormat::timed());
        job.group_by(&[GroupField::Path]).unwrap().distinct_exact_limit(64);
        let out = run(&job, &log, 2, Some(64 << 10));
        assert!(out.malformed.is_empty(), "{}", out.malformed);
        let b = &out.output.batch;
        let paths: Vec<String> = strings(b, "path").into_iter().map(Option::unwrap).collect();
        assert_eq!(paths, expected.keys().cloned().collect::<Vec<_>>(), "groups, in sorted order");
        let (requests, bytes, distinct) = (u64s(b, "requests"), u64s(b, "bytes"), u64s(b, "distinct_ips"));
        let p = ["latency_p50", "latency_p90", "latency_p99", "latency_p999"].map(|c| f64s(b, c));
        let (max, share5) = (f64s(b, "latency_max"), f64s(b, "error_5xx_share"));
        let mut estimated = 0;
        for (i, (path, e)) in expected.iter().enumerate() {
            assert_eq!(requests[i], e.requests, "{path}");
            assert_eq!(bytes[i], e.bytes, "{path}");
            let exact = e.ips.len() as u64;
            if exact <= 64 {
                assert_eq!(distinct[i], exact, "{path}");
            } else {
                estimated += 1;
                // 2^12 registers: 1.6% standard error; 5 sigma.
                let err = (distinct[i] as f64 - exact as f64).abs() / exact as f64;
                assert!(err < 0.08, "{path}: {} vs {exact}", distinct[i]);
            }
            let mut sorted = e.latencies.clone();
            sorted.sort_unstable();
            for (k, q) in [0.5, 0.9, 0.99, 0.999].into_iter().enumerate() {
                let got = p[k][i].unwrap();
                assert!(within_hdr_precision(got, &sorted, q), "{path} p{q}: {got} from {} values", sorted.len());
            }
            assert_eq!(max[i], Some(*sorted.last().unwrap() as f64 / 1e6));
            assert_eq!(share5[i], Some(e.err5 as f64 / e.requests as f64));
        }
        assert!(estimated > 0, "the HyperLogLog path was exercised");
    }

    fn all_fields_job() -> Vec<LogJob> {
        let mut by_path = LogJob::new(LogFormat::timed());
        by_path.group_by(&[GroupField::Path]).unwrap().distinct_exact_limit(8);
        let mut by_many = LogJob::new(LogFormat::timed());
        by_many
            .group_by(&[GroupField::StatusClass, GroupField::Method, GroupField::Time])
            .unwrap()
            .bucket("5m".parse().unwrap())
            .top("3:path".parse().unwrap())
            .top("2:ip".parse().unwrap());
        let mut filtered = LogJob::new(LogFormat::timed());
        filtered
            .group_by(&[GroupField::Status, GroupField::UserAgent])
            .unwrap()
            .filter("status>=400".parse().unwrap())
            .filter("path^=/api".parse().unwrap());
        vec![by_path, by_many, filtered, LogJob::new(LogFormat::timed())]
    }

    #[test]
    fn identical_across_threads_and_chunk_sizes() {
        let mut log = generated(3000, AccessLogFormat::Timed, 5);
        log.extend_from_slice(b"junk line\n\n\xff\xfe\n");
        log.extend_from_slice(&generated(500, AccessLogFormat::Timed, 6));
        for job in all_fields_job() {
            let base = run(&job, &log, 1, None);
            assert_eq!(base.malformed.total(), 3);
            for threads in [1, 2, 4] {
                for chunk in [Some(1), Some(7), Some(64), Some(4096), None] {
                    let other = run(&job, &log, threads, chunk);
                    assert_eq!(other.output.batch, base.output.batch, "threads {threads}, chunk {chunk:?}");
                    assert_eq!(other.output.totals, base.output.totals);
                    assert_eq!(other.malformed.samples(), base.malformed.samples());
                }
            }
        }
    }

    #[test]
    fn identical_for_mapped_and_read_inputs() {
        let dir = temp_dir("paths");
        let path = dir.join("access.log");
        std::fs::write(&path, generated(20_000, AccessLogFormat::Json, 8)).unwrap();
        let mapped = OpenOptions::new().mmap(MmapChoice::always()).open(&path).unwrap();
        let read = OpenOptions::new().mmap(MmapChoice::never()).open(&path).unwrap();
        assert!(mapped.is_mapped() && !read.is_mapped());
        let mut job = LogJob::new(LogFormat::json());
        job.group_by(&[GroupField::Method, GroupField::Path]).unwrap().top("3:user_agent".parse().unwrap());
        let a = Runner::new().threads(2).chunk_size(10_000).run(&job, &[mapped]).unwrap();
        let b = Runner::new().threads(1).run(&job, &[read]).unwrap();
        assert_eq!(a.output.batch, b.output.batch);
        assert!(a.output.batch.num_rows() > 100);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn several_inputs_share_one_result() {
        let a = generated(1000, AccessLogFormat::Combined, 1);
        let b = generated(1000, AccessLogFormat::Combined, 2);
        let mut job = LogJob::new(LogFormat::combined());
        job.group_by(&[GroupField::Status]).unwrap();
        let both =
            Runner::new().run(&job, &[Source::from_bytes("a", a.clone()), Source::from_bytes("b", b.clone())]).unwrap();
        let mut joined = a;
        joined.extend_from_slice(&b);
        assert_eq!(both.output.batch, run(&job, &joined, 2, None).output.batch);
        assert_eq!(both.output.totals.lines, 2000);
    }

    const LINES: &str = r#"10.0.0.1 - - [28/Nov/2026:06:00:00 +0000] "GET /a?x=1 HTTP/1.1" 200 100 "-" "curl/8" 0.010
10.0.0.2 - - [28/Nov/2026:06:01:00 +0000] "GET /a HTTP/1.1" 404 20 "-" "curl/8" 0.020
10.0.0.1 - - [28/Nov/2026:06:07:00 +0000] "POST /b HTTP/1.1" 503 - "-" "Mozilla \"x\"" 1.000
2001:db8::1 - - [28/Nov/2026:07:00:00 +0000] "-" 408 - "-" "-" -
garbage
"#;

    #[test]
    fn metrics_filters_buckets_and_top() {
        let bytes = LINES.as_bytes();
        let mut job = LogJob::new(LogFormat::timed());
        job.group_by(&[GroupField::Path]).unwrap().top("2:status".parse().unwrap());
        let out = run(&job, bytes, 2, Some(1));
        let b = &out.output.batch;
        assert_eq!(strings(b, "path"), [None, Some("/a".into()), Some("/b".into())], "null first");
        assert_eq!(u64s(b, "requests"), [1, 2, 1]);
        assert_eq!(u64s(b, "bytes"), [0, 120, 0]);
        assert_eq!(f64s(b, "bytes_mean"), [Some(0.0), Some(60.0), Some(0.0)]);
        assert_eq!(f64s(b, "error_4xx_share"), [Some(1.0), Some(0.5), Some(0.0)]);
        assert_eq!(f64s(b, "error_5xx_share"), [Some(0.0), Some(0.0), Some(1.0)]);
        assert_eq!(f64s(b, "latency_max"), [None, Some(0.02), Some(1.0)]);
        // Within HdrHistogram's 3 significant digits of the exact 10 ms.
        let p50 = f64s(b, "latency_p50")[1].unwrap();
        assert!((p50 - 0.01).abs() <= 0.01 * 1e-3, "{p50}");
        assert_eq!(u64s(b, "distinct_ips"), [1, 2, 1]);
        assert_eq!(strings(b, "top_status")[1].as_deref(), Some("[[200,1],[404,1]]"), "statuses are numbers");
        let first =
            b.column_by_name("first_seen").unwrap().as_any().downcast_ref::<TimestampMicrosecondArray>().unwrap();
        assert_eq!(first.value(1), 1_795_845_600_000_000);
        assert_eq!(out.output.totals, pagemill_logs::Totals { lines: 5, parsed: 4, matched: 4 });
        assert_eq!(out.malformed.count("format-mismatch"), 1);

        let mut job = LogJob::new(LogFormat::timed());
        job.group_by(&[GroupField::Time, GroupField::UserAgent])
            .unwrap()
            .bucket("5m".parse().unwrap())
            .metrics(&[Metric::Requests])
            .since(pagemill_logs::parse_time_bound("2026-11-28T06:00:30Z").unwrap())
            .until(pagemill_logs::parse_time_bound("2026-11-28T07:00:00Z").unwrap());
        let b = run(&job, bytes, 1, None).output.batch;
        assert_eq!(b.num_columns(), 3);
        assert_eq!(strings(&b, "user_agent"), [Some("curl/8".into()), Some("Mozilla \"x\"".into())], "unescaped");
        let t = b.column_by_name("time").unwrap().as_any().downcast_ref::<TimestampMicrosecondArray>().unwrap();
        assert_eq!((t.value(0), t.value(1)), (1_795_845_600_000_000, 1_795_845_900_000_000));

        let mut job = LogJob::new(LogFormat::timed());
        job.group_by(&[GroupField::Status, GroupField::Method])
            .unwrap()
            .metrics(&[Metric::Requests])
            .filter("status!=200".parse().unwrap())
            .filter("ip~^10\\.".parse().unwrap());
        let out = run(&job, bytes, 1, None);
        let s = out.output.batch.column_by_name("status").unwrap().as_any().downcast_ref::<UInt16Array>().unwrap();
        assert_eq!(s.values().to_vec(), [404, 503]);
        assert_eq!(out.output.totals.matched, 2);
    }

    #[test]
    fn an_escaped_address_counts_as_the_address_it_decodes_to() {
        let lines = concat!(
            r#"{"remote_addr":"2001:db8::1","request":"GET /a HTTP/1.1","status":200}"#,
            "\n",
            r#"{"remote_addr":"2001:db8::\u0031","request":"GET /a HTTP/1.1","status":200}"#,
            "\n",
            r#"{"remote_addr":"2001:db8::\u0032","request":"GET /a HTTP/1.1","status":200}"#,
            "\n",
        );
        let mut job = LogJob::new(LogFormat::json());
        job.metrics(&[Metric::Requests, Metric::DistinctIps]);
        let b = run(&job, lines.as_bytes(), 1, None).output.batch;
        assert_eq!((u64s(&b, "requests"), u64s(&b, "distinct_ips")), (vec![3], vec![2]));
    }

    #[test]
    fn suggested_chunk_sizes() {
        use pagemill_logs::suggested_chunk_size;
        assert_eq!(suggested_chunk_size(1 << 30, 2, 8 << 20), 4 << 20, "1 GiB on 2 threads: at most 4 MiB");
        assert_eq!(suggested_chunk_size(8 << 30, 16, 32 << 20), 4 << 20, "large input, many threads: at most 4 MiB");
        assert_eq!(suggested_chunk_size(100 << 20, 2, 800 << 10), 4 << 20, "100 MiB on 2 threads");
        assert_eq!(suggested_chunk_size(16 << 20, 2, 128 << 10), 1 << 20, "8 chunks per thread below the cap");
        assert_eq!(suggested_chunk_size(1 << 20, 4, 64 << 10), 64 << 10, "never below the engine's default");
        assert_eq!(suggested_chunk_size(1 << 20, 4, 512 << 10), 512 << 10, "never below the engine's default");
        assert_eq!(suggested_chunk_size(0, 0, 1), 1);
    }

    #[test]
    fn no_group_by_gives_one_row_even_without_records() {
        let job = LogJob::new(LogFormat::combined());
        let out = run(&job, b"", 1, None);
        assert_eq!(out.output.batch.num_rows(), 1);
        assert_eq!(u64s(&out.output.batch, "requests"), [0]);
        assert_eq!(f64s(&out.output.batch, "latency_p99"), [None]);
        let out = run(&job, b"junk\n", 1, None);
        assert_eq!(out.malformed.total(), 1);
    }

    #[test]
    fn rejects_are_written_atomically_in_input_order() {
        let dir = temp_dir("rejects");
        let mut log = generated(200, AccessLogFormat::Combined, 3);
        log.extend_from_slice(b"bad one\n");
        log.extend_from_slice(&generated(200, AccessLogFormat::Combined, 4));
        log.extend_from_slice(b"\x00\x01 bad two\r\n");
        let inputs = vec![Source::from_bytes("x.log", log)];
        let mut job = LogJob::new(LogFormat::combined());
        job.collect_rejects(true);
        let out = Runner::new().threads(2).chunk_size(100).run(&job, &inputs).unwrap();
        let path = dir.join("rejects.txt");
        assert_eq!(pagemill_logs::write_rejects(&out.output, &inputs, &path).unwrap(), 2);
        assert_eq!(std::fs::read(&path).unwrap(), b"bad one\n\x00\x01 bad two\n");
        let err = pagemill_logs::write_rejects(&out.output, &inputs, &dir.join("missing/x.txt"));
        assert!(err.is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn formats() -> Vec<LogFormat> {
        vec![
            LogFormat::common(),
            LogFormat::combined(),
            LogFormat::timed(),
            LogFormat::json(),
            r#"%v %h %t "%r" %>s %b %D "%{User-Agent}i""#.parse().unwrap(),
            "$time_iso8601 $remote_addr \"$request\" $status $request_time".parse().unwrap(),
        ]
    }

    fn line_like() -> impl Strategy<Value = Vec<u8>> {
        let pieces = prop::sample::select(vec![
            &b" "[..],
            b"\"",
            b"\\",
            b"\\\"",
            b"[",
            b"]",
            b"-",
            b"{",
            b"}",
            b":",
            b",",
            b"200",
            b"0.5",
            b"GET / HTTP/1.1",
            b"10/Oct/2000:13:55:36 -0700",
            b"2000-10-10T20:55:36Z",
            b"\"status\"",
            b"\xff",
        ]);
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            prop::collection::vec(pieces, 0..40).prop_map(|v| v.concat()),
        ]
    }

    proptest! {
        #[test]
        fn parsers_never_panic(line in line_like()) {
            for f in formats() {
                let _ = f.parse(&line);
            }
            let _ = LogFormat::detect(&line);
            let _ = pagemill_logs::time::parse_any(&line);
        }

        #[test]
        fn jobs_never_panic_and_count_every_line(log in prop::collection::vec(line_like(), 0..20)) {
            let bytes = log.join(&b'\n');
            let mut job = LogJob::new(LogFormat::combined());
            job.group_by(&[GroupField::Path, GroupField::Ip]).unwrap();
            let out = run(&job, &bytes, 2, Some(16));
            let lines = bytes.split(|&b| b == b'\n').count() as u64 - u64::from(bytes.last().is_none_or(|&b| b == b'\n'));
            prop_assert_eq!(out.output.totals.lines, lines);
            prop_assert_eq!(out.output.totals.lines - out.output.totals.parsed, out.malformed.total());
        }
    }
}
