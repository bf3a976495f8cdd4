use std::io::{self, Write};

use crate::measurements::normal_table;
use crate::rng::Rng;
use crate::{push_2, push_u64};

/// The line format of generated access logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AccessLogFormat {
    /// Apache/nginx combined: `ip - - [time] "request" status bytes "referer" "agent"`.
    Combined,
    /// Combined plus nginx `$request_time` in seconds with millisecond resolution.
    Timed,
    /// nginx-style JSON lines (`escape=json`): `time_iso8601`, `remote_addr`,
    /// `request`, `status`, `body_bytes_sent`, `request_time`, `http_referer`,
    /// `http_user_agent`.
    Json,
    /// Apache's `vhost_combined` (Debian's `other_vhosts_access.log`): the
    /// virtual host and server port (`%v:%p`) before a combined line, from
    /// a few weighted host names.
    VhostCombined,
}

impl std::str::FromStr for AccessLogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<AccessLogFormat, String> {
        match s {
            "combined" => Ok(AccessLogFormat::Combined),
            "timed" => Ok(AccessLogFormat::Timed),
            "json" => Ok(AccessLogFormat::Json),
            "vhost_combined" => Ok(AccessLogFormat::VhostCombined),
            _ => Err(format!("unknown access-log format '{s}' (expected combined, timed, json or vhost_combined)")),
        }
    }
}

/// Distinct request paths (Zipf-distributed).
const PATHS: usize = 5000;
/// Distinct clients (Zipf-distributed, about one in seven IPv6).
const CLIENTS: usize = 50_000;
/// Rows per independently seeded block.
const BLOCK_ROWS: u64 = 1 << 16;
/// 2024-05-01T00:00:00Z.
const START: i64 = 1_714_521_600;
/// Mean milliseconds between requests.
const STEP_MS: u64 = 7;

const METHODS: [(&str, u32); 6] =
    [("GET", 850), ("POST", 100), ("HEAD", 20), ("PUT", 15), ("DELETE", 10), ("OPTIONS", 5)];
const STATUSES: [(u16, u32); 14] = [
    (200, 790),
    (204, 10),
    (206, 5),
    (301, 15),
    (302, 15),
    (304, 50),
    (400, 8),
    (401, 10),
    (403, 7),
    (404, 55),
    (499, 5),
    (500, 15),
    (502, 8),
    (503, 7),
];
/// User agents as written in a log: quotes inside are escaped with `\"`.
const AGENTS: [&str; 10] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "curl/8.7.1",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    r#"Mozilla/5.0 (compatible; \"QuoteBot\" 1.0; +https://example.com/bot)"#,
    r#"Scanner \"probe\" v2 \\ test"#,
];
/// Virtual hosts of `vhost_combined` lines, as `%v:%p` writes them, with weights.
const VHOSTS: [(&str, u32); 4] =
    [("www.example.com:443", 60), ("api.example.com:443", 25), ("example.com:80", 10), ("static.example.net:443", 5)];
const REFERRERS: [&str; 4] =
    ["https://www.google.com/", "https://example.com/", "https://news.ycombinator.com/", "android-app://com.slack/"];

/// A generator of realistic web-server access logs. See the
/// [crate documentation](crate).
#[derive(Clone, Debug)]
pub struct AccessLog {
    rows: u64,
    seed: u64,
    format: AccessLogFormat,
    path_ids: bool,
    paths: Vec<String>,
    path_cdf: Vec<f64>,
    clients: Vec<String>,
    client_cdf: Vec<f64>,
    normal: Vec<i16>,
}

fn zipf_cdf(n: usize, s: f64) -> Vec<f64> {
    let mut acc = 0.0;
    let mut cdf: Vec<f64> = (1..=n)
        .map(|k| {
            acc += 1.0 / (k as f64).powf(s);
            acc
        })
        .collect();
    for c in &mut cdf {
        *c /= acc;
    }
    cdf
}

fn pick(cdf: &[f64], u: f64) -> usize {
    cdf.partition_point(|&c| c < u).min(cdf.len() - 1)
}

fn pick_weighted<T: Copy>(table: &[(T, u32)], rng: &mut Rng) -> T {
    let total: u32 = table.iter().map(|t| t.1).sum();
    let mut r = rng.below(u64::from(total)) as u32;
    for &(v, w) in table {
        if r < w {
            return v;
        }
        r -= w;
    }
    table[table.len() - 1].0
}

impl AccessLog {
    /// `rows` lines in `format`, from `seed`.
    pub fn new(rows: u64, format: AccessLogFormat, seed: u64) -> AccessLog {
        let mut rng = Rng::new(seed, 0xacce55);
        const SECTIONS: [&str; 8] =
            ["api/v1/users", "api/v1/orders", "products", "static/js", "blog", "api/v2/search", "img", "docs"];
        let paths = (0..PATHS)
            .map(|i| match i {
                0 => "/".to_string(),
                1 => "/index.html".to_string(),
                2 => "/favicon.ico".to_string(),
                _ => {
                    let section = SECTIONS[rng.below(SECTIONS.len() as u64) as usize];
                    format!("/{section}/{}", rng.below(1_000_000))
                }
            })
            .collect();
        let clients = (0..CLIENTS)
            .map(|_| {
                let r = rng.next_u64();
                if r.is_multiple_of(7) {
                    format!("2001:db8:{:x}:{:x}::{:x}", (r >> 8) & 0xffff, (r >> 24) & 0xffff, (r >> 40) & 0xffff)
                } else {
                    format!("{}.{}.{}.{}", 1 + (r >> 8) % 223, (r >> 16) & 255, (r >> 24) & 255, 1 + (r >> 32) % 254)
                }
            })
            .collect();
        AccessLog {
            rows,
            seed,
            format,
            path_ids: false,
            paths,
            path_cdf: zipf_cdf(PATHS, 1.1),
            clients,
            client_cdf: zipf_cdf(CLIENTS, 0.9),
            normal: normal_table(),
        }
    }

    /// Draw the id at the end of a path (`/api/v1/orders/253836`) for
    /// each request, from 0 to 999,999, instead of once per path: paths
    /// as a REST API logs them, nearly one per request (a million lines
    /// give about 690,000 distinct paths, against 5,000). The ids come
    /// from a stream of their own, so every other field of a line is the
    /// line of the same seed and row without them.
    pub fn path_ids(mut self, on: bool) -> AccessLog {
        self.path_ids = on;
        self
    }

    /// A standard normal draw (resolution 0.01).
    fn normal(&self, rng: &mut Rng) -> f64 {
        f64::from(self.normal[(rng.next_u64() >> 48) as usize]) / 100.0
    }

    fn block(&self, index: u64) -> Vec<u8> {
        let first = index * BLOCK_ROWS;
        let rows = BLOCK_ROWS.min(self.rows - first);
        let mut rng = Rng::new(self.seed, index);
        // Virtual hosts come from a stream of their own, so the rest of a
        // vhost_combined line is the combined line of the same seed and row.
        let mut vhost_rng = Rng::new(self.seed ^ 0x7605_7e57_7605_7e57, index);
        let mut id_rng = Rng::new(self.seed ^ 0x1d1d_5eed_1d1d_5eed, index);
        let mut drawn = String::new();
        let mut out = Vec::with_capacity(rows as usize * 230);
        let mut date = DateCache::default();
        for row in first..first + rows {
            let ms = row * STEP_MS + rng.below(STEP_MS);
            let secs = START + (ms / 1000) as i64;
            let client = &self.clients[pick(&self.client_cdf, rng.unit())];
            let mut path = self.paths[pick(&self.path_cdf, rng.unit())].as_str();
            if self.path_ids
                && let Some(slash) = path.rfind('/').filter(|&i| i > 0)
            {
                use std::fmt::Write as _;
                drawn.clear();
                drawn.push_str(&path[..=slash]);
                let _ = write!(drawn, "{}", id_rng.below(1_000_000));
                path = &drawn;
            }
            let method = pick_weighted(&METHODS, &mut rng);
            let status = pick_weighted(&STATUSES, &mut rng);
            let query = rng.below(4) == 0;
            let q = rng.below(1000);
            let bytes: u64 = match (status, method) {
                (204 | 304, _) | (_, "HEAD") => 0,
                (301 | 302 | 400..=599, _) => 150 + rng.below(400),
                _ => (8.0 + 1.5 * self.normal(&mut rng)).exp().min(5e7) as u64,
            };
            // Log-normal request time around 40 ms; errors and large bodies are slower.
            let slow = if status >= 500 { 1.5 } else { 0.0 };
            let latency = (-3.2 + slow + 0.9 * self.normal(&mut rng)).exp().min(60.0);
            let latency_ms = (latency * 1000.0) as u64;
            let agent = AGENTS[(rng.below(1000) * rng.below(1000) / 100_000) as usize % AGENTS.len()];
            let referrer = match rng.below(10) {
                0..=5 => None,
                k => Some(REFERRERS[(k - 6) as usize]),
            };
            match self.format {
                AccessLogFormat::Combined | AccessLogFormat::Timed | AccessLogFormat::VhostCombined => {
                    if self.format == AccessLogFormat::VhostCombined {
                        out.extend_from_slice(pick_weighted(&VHOSTS, &mut vhost_rng).as_bytes());
                        out.push(b' ');
                    }
                    out.extend_from_slice(client.as_bytes());
                    out.extend_from_slice(b" - - [");
                    date.clf(secs, &mut out);
                    out.extend_from_slice(b"] \"");
                    request(&mut out, method, path, query.then_some(q));
                    out.extend_from_slice(b"\" ");
                    push_u64(&mut out, u64::from(status));
                    out.push(b' ');
                    if bytes == 0 {
                        out.push(b'-');
                    } else {
                        push_u64(&mut out, bytes);
                    }
                    out.extend_from_slice(b" \"");
                    out.extend_from_slice(referrer.unwrap_or("-").as_bytes());
                    out.extend_from_slice(b"\" \"");
                    out.extend_from_slice(agent.as_bytes());
                    out.push(b'"');
                    if self.format == AccessLogFormat::Timed {
                        out.push(b' ');
                        push_millis(&mut out, latency_ms);
                    }
                }
                AccessLogFormat::Json => {
                    out.extend_from_slice(b"{\"time_iso8601\":\"");
                    date.iso(secs, &mut out);
                    out.extend_from_slice(b"\",\"remote_addr\":\"");
                    out.extend_from_slice(client.as_bytes());
                    out.extend_from_slice(b"\",\"request\":\"");
                    request(&mut out, method, path, query.then_some(q));
                    out.extend_from_slice(b"\",\"status\":");
                    push_u64(&mut out, u64::from(status));
                    out.extend_from_slice(b",\"body_bytes_sent\":");
                    push_u64(&mut out, bytes);
                    out.extend_from_slice(b",\"request_time\":");
                    push_millis(&mut out, latency_ms);
                    out.extend_from_slice(b",\"http_referer\":\"");
                    out.extend_from_slice(referrer.unwrap_or("").as_bytes());
                    out.extend_from_slice(b"\",\"http_user_agent\":\"");
                    out.extend_from_slice(agent.as_bytes());
                    out.extend_from_slice(b"\"}");
                }
            }
            out.push(b'\n');
        }
        out
    }

    /// Write all lines to `out`, generating blocks in parallel on the current
    /// rayon pool and writing them in order, a bounded batch at a time.
    pub fn write_to<W: Write>(&self, out: &mut W) -> io::Result<()> {
        crate::write_blocks(self.rows.div_ceil(BLOCK_ROWS), out, |i| self.block(i))
    }
}

fn request(out: &mut Vec<u8>, method: &str, path: &str, query: Option<u64>) {
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    if let Some(q) = query {
        out.extend_from_slice(b"?q=");
        push_u64(out, q);
        out.extend_from_slice(b"&page=");
        push_u64(out, q % 7 + 1);
    }
    out.extend_from_slice(b" HTTP/1.1");
}

/// `ms` as seconds with three decimals.
fn push_millis(out: &mut Vec<u8>, ms: u64) {
    push_u64(out, ms / 1000);
    out.push(b'.');
    let f = (ms % 1000) as u32;
    out.push(b'0' + (f / 100) as u8);
    push_2(out, f % 100);
}

/// Formats timestamps, recomputing the calendar date only when the day
/// changes.
#[derive(Default)]
struct DateCache {
    day: Option<i64>,
    ymd: (i64, u32, u32),
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

impl DateCache {
    fn date(&mut self, secs: i64) -> ((i64, u32, u32), u32) {
        let day = secs.div_euclid(86_400);
        if self.day != Some(day) {
            self.day = Some(day);
            self.ymd = civil_from_days(day);
        }
        (self.ymd, secs.rem_euclid(86_400) as u32)
    }

    /// `01/May/2024:00:00:00 +0000`.
    fn clf(&mut self, secs: i64, out: &mut Vec<u8>) {
        let ((y, m, d), sod) = self.date(secs);
        push_2(out, d);
        out.push(b'/');
        out.extend_from_slice(MONTHS[m as usize - 1].as_bytes());
        out.push(b'/');
        push_u64(out, y as u64);
        out.push(b':');
        time_of_day(out, sod);
        out.extend_from_slice(b" +0000");
    }

    /// `2024-05-01T00:00:00+00:00`.
    fn iso(&mut self, secs: i64, out: &mut Vec<u8>) {
        let ((y, m, d), sod) = self.date(secs);
        push_u64(out, y as u64);
        out.push(b'-');
        push_2(out, m);
        out.push(b'-');
        push_2(out, d);
        out.push(b'T');
        time_of_day(out, sod);
        out.extend_from_slice(b"+00:00");
    }
}

fn time_of_day(out: &mut Vec<u8>, sod: u32) {
    push_2(out, sod / 3600);
    out.push(b':');
    push_2(out, sod % 3600 / 60);
    out.push(b':');
    push_2(out, sod % 60);
}

/// The civil date of a day count since 1970-01-01 (era-based conversion).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generate(rows: u64, format: AccessLogFormat, threads: usize) -> Vec<u8> {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let mut v = Vec::new();
        pool.install(|| AccessLog::new(rows, format, 3).write_to(&mut v)).unwrap();
        v
    }

    #[test]
    fn deterministic_across_threads() {
        for format in
            [AccessLogFormat::Combined, AccessLogFormat::Timed, AccessLogFormat::Json, AccessLogFormat::VhostCombined]
        {
            let a = generate(70_000, format, 1);
            assert_eq!(a, generate(70_000, format, 3));
            assert_eq!(a.iter().filter(|&&b| b == b'\n').count(), 70_000);
        }
    }

    /// Per-request ids change only the paths' ids: the rest of each line
    /// is the line without them, and the paths are nearly all distinct.
    #[test]
    fn path_ids_change_only_the_ids() {
        let plain = String::from_utf8(generate(20_000, AccessLogFormat::Timed, 2)).unwrap();
        let mut v = Vec::new();
        AccessLog::new(20_000, AccessLogFormat::Timed, 3).path_ids(true).write_to(&mut v).unwrap();
        let ids = String::from_utf8(v).unwrap();
        let path = |l: &str| l.split(' ').nth(6).unwrap().split('?').next().unwrap().to_string();
        let mut distinct = std::collections::HashSet::new();
        let mut changed = 0;
        for (a, b) in plain.lines().zip(ids.lines()) {
            let (pa, pb) = (path(a), path(b));
            assert_eq!(a.replacen(&pa, "", 1), b.replacen(&pb, "", 1));
            assert_eq!(pa.rsplit_once('/').unwrap().0, pb.rsplit_once('/').unwrap().0);
            changed += usize::from(pa != pb);
            distinct.insert(pb);
        }
        assert_eq!(plain.lines().count(), ids.lines().count());
        assert!(changed > 10_000 && distinct.len() > 10_000, "{changed} changed, {} distinct", distinct.len());
    }

    #[test]
    fn lines_look_real() {
        let text = String::from_utf8(generate(20_000, AccessLogFormat::Timed, 2)).unwrap();
        let first = text.lines().next().unwrap();
        assert!(first.contains(" - - [01/May/2024:00:00:00 +0000] \""), "{first}");
        assert!(text.lines().any(|l| l.starts_with("2001:db8:")), "IPv6 clients");
        assert!(text.contains(r#"\"QuoteBot\""#), "escaped quotes in agents");
        assert!(text.contains("?q="), "query strings");
        assert!(
            text.contains("\" 404 ") && text.contains("\" 503 ") && text.contains(" - \""),
            "status mix, '-' bytes"
        );
        let json = String::from_utf8(generate(100, AccessLogFormat::Json, 1)).unwrap();
        assert!(json.starts_with("{\"time_iso8601\":\"2024-05-01T00:00:00+00:00\""), "{json}");
        assert_eq!(civil_from_days(19_844), (2024, 5, 1));
        // vhost_combined is combined with the virtual host before it.
        let vhost = String::from_utf8(generate(2_000, AccessLogFormat::VhostCombined, 1)).unwrap();
        let combined = String::from_utf8(generate(2_000, AccessLogFormat::Combined, 1)).unwrap();
        for (v, c) in vhost.lines().zip(combined.lines()) {
            let (host, rest) = v.split_once(' ').unwrap();
            assert!(VHOSTS.iter().any(|&(h, _)| h == host), "{v}");
            assert_eq!(rest, c);
        }
        assert!(VHOSTS.iter().all(|&(h, _)| vhost.contains(h)), "every virtual host drawn");
    }
}
