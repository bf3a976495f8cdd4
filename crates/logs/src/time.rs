//! Hand-written timestamp parsers: Common Log Format, ISO 8601 and numeric
//! epochs, all normalised to microseconds since the Unix epoch, UTC.

use crate::record::TimeUnit;

/// Microseconds per second.
pub(crate) const MICROS: i64 = 1_000_000;

/// Days since 1970-01-01 of a proleptic Gregorian date (the well-known
/// era-based conversion: 400-year eras of 146,097 days, years starting in
/// March so the leap day is last).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of a day count since 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
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

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[inline]
fn digits(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + u32::from(d);
    }
    Some(v)
}

fn month_abbrev(b: &[u8]) -> Option<u32> {
    // Case-insensitive three-letter English month names.
    let key = [b[0] | 0x20, b[1] | 0x20, b[2] | 0x20];
    let m = match &key {
        b"jan" => 1,
        b"feb" => 2,
        b"mar" => 3,
        b"apr" => 4,
        b"may" => 5,
        b"jun" => 6,
        b"jul" => 7,
        b"aug" => 8,
        b"sep" => 9,
        b"oct" => 10,
        b"nov" => 11,
        b"dec" => 12,
        _ => return None,
    };
    Some(m)
}

fn epoch_micros(year: i64, month: u32, day: u32, h: u32, mi: u32, s: u32) -> Option<i64> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + i64::from(h * 3600 + mi * 60 + s);
    Some(secs * MICROS)
}

/// Parse a UTC offset `+hhmm`, `-hh:mm`, `+hh` (also Apache's `%{%z}t` in
/// a field of its own) into seconds east of UTC.
pub fn parse_offset(b: &[u8]) -> Option<i64> {
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let rest = &b[1..];
    let (h, m) = match rest.len() {
        2 => (digits(rest)?, 0),
        4 => (digits(&rest[..2])?, digits(&rest[2..])?),
        5 if rest[2] == b':' => (digits(&rest[..2])?, digits(&rest[3..])?),
        _ => return None,
    };
    if h > 23 || m > 59 {
        return None;
    }
    Some(sign * i64::from(h * 3600 + m * 60))
}

/// Parse a time of day, `HH:MM:SS` with an optional fraction (Apache's
/// `%{%H:%M:%S}t` or `%{%T}t` beside a date in a field of its own), into
/// microseconds since midnight.
pub fn parse_time_of_day(b: &[u8]) -> Option<i64> {
    if b.len() < 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let (h, mi, s) = (digits(&b[0..2])?, digits(&b[3..5])?, digits(&b[6..8])?);
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut t = i64::from(h * 3600 + mi * 60 + s) * MICROS;
    match &b[8..] {
        [] => {}
        [b'.' | b',', frac @ ..] => t += fraction_micros(frac)?,
        _ => return None,
    }
    Some(t)
}

/// Parse a Common Log Format timestamp `10/Oct/2000:13:55:36 -0700`
/// (optionally inside `[...]`) into UTC microseconds since the epoch.
pub fn parse_clf(b: &[u8]) -> Option<i64> {
    let b = b.strip_prefix(b"[").unwrap_or(b);
    let b = b.strip_suffix(b"]").unwrap_or(b);
    // dd/Mon/yyyy:HH:MM:SS[.frac] +zzzz
    if b.len() < 20 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[14] != b':' || b[17] != b':' {
        return None;
    }
    let day = digits(&b[0..2])?;
    let month = month_abbrev(&b[3..6])?;
    let year = i64::from(digits(&b[7..11])?);
    let (h, mi, s) = (digits(&b[12..14])?, digits(&b[15..17])?, digits(&b[18..20])?);
    let mut t = epoch_micros(year, month, day, h, mi, s)?;
    let mut rest = &b[20..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        t += fraction_micros(&frac[..n])?;
        rest = &frac[n..];
    }
    match rest {
        [] => Some(t),
        [b' ', zone @ ..] => Some(t - parse_offset(zone)? * MICROS),
        _ => None,
    }
}

/// Microseconds of a decimal fraction's digits (`"5"` is 500,000 µs); digits
/// past the sixth are truncated.
fn fraction_micros(frac: &[u8]) -> Option<i64> {
    if frac.is_empty() {
        return None;
    }
    let mut v = 0i64;
    for i in 0..6 {
        let d = match frac.get(i) {
            Some(&c) if c.is_ascii_digit() => i64::from(c - b'0'),
            Some(_) => return None,
            None => 0,
        };
        v = v * 10 + d;
    }
    if frac.iter().skip(6).all(u8::is_ascii_digit) { Some(v) } else { None }
}

/// Parse an ISO 8601 / RFC 3339 timestamp (`2000-10-10T13:55:36Z`,
/// `2000-10-10 13:55:36.123+02:00`, `2000-10-10 13:55:36 +0200`, no zone
/// meaning UTC; a date alone means its midnight, UTC) into UTC
/// microseconds since the epoch.
pub fn parse_iso8601(b: &[u8]) -> Option<i64> {
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        // A date alone (Apache's `%{%Y-%m-%d}t`): its midnight, UTC.
        return epoch_micros(i64::from(digits(&b[0..4])?), digits(&b[5..7])?, digits(&b[8..10])?, 0, 0, 0);
    }
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' {
        return None;
    }
    if b[16] != b':' {
        return None;
    }
    let year = i64::from(digits(&b[0..4])?);
    let (month, day) = (digits(&b[5..7])?, digits(&b[8..10])?);
    let (h, mi, s) = (digits(&b[11..13])?, digits(&b[14..16])?, digits(&b[17..19])?);
    let mut t = epoch_micros(year, month, day, h, mi, s)?;
    let mut rest = &b[19..];
    if let Some(frac) = rest.strip_prefix(b".").or_else(|| rest.strip_prefix(b",")) {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        t += fraction_micros(&frac[..n])?;
        rest = &frac[n..];
    }
    match rest {
        [] | [b'Z' | b'z'] => Some(t),
        // strftime's `%Y-%m-%d %H:%M:%S %z` puts a space before the offset.
        zone => Some(t - parse_offset(zone.strip_prefix(b" ").unwrap_or(zone))? * MICROS),
    }
}

/// Parse an integer count of `unit`s since the Unix epoch (Apache's
/// `%{sec}t`, `%{msec}t`, `%{usec}t`, whose unit is stated, not guessed
/// from the size as in [`parse_epoch`]) into microseconds.
pub fn parse_epoch_in(b: &[u8], unit: TimeUnit) -> Option<i64> {
    if b.is_empty() || b.len() > 19 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: i64 = std::str::from_utf8(b).ok()?.parse().ok()?;
    match unit {
        TimeUnit::Seconds => n.checked_mul(MICROS),
        TimeUnit::Millis => n.checked_mul(1000),
        TimeUnit::Micros => Some(n),
        TimeUnit::Nanos => Some(n / 1000),
    }
}

/// Parse a numeric epoch (`1646861401.5241024`, `1646861401524`, `1.7e9`): the unit is
/// taken from the magnitude of the integer part: below 10^11 seconds, below
/// 10^14 milliseconds, below 10^17 microseconds, else nanoseconds.
pub fn parse_epoch(b: &[u8]) -> Option<i64> {
    if b.iter().any(|&c| c == b'e' || c == b'E') {
        // An exponent, as JSON encoders may write a float (`1.7e9`).
        let x: f64 = std::str::from_utf8(b).ok()?.parse().ok()?;
        let micros = match x {
            x if x.is_nan() || x < 0.0 => return None,
            x if x < 1e11 => x * 1e6,
            x if x < 1e14 => x * 1e3,
            x if x < 1e17 => x,
            x => x / 1e3,
        };
        return (micros < i64::MAX as f64).then_some(micros as i64);
    }
    let (int, frac) = match memchr::memchr(b'.', b) {
        Some(i) => (&b[..i], Some(&b[i + 1..])),
        None => (b, None),
    };
    if int.is_empty() || int.len() > 19 || !int.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: i64 = std::str::from_utf8(int).ok()?.parse().ok()?;
    let (scale_num, scale_den) = if n < 100_000_000_000 {
        (MICROS, 1)
    } else if n < 100_000_000_000_000 {
        (1000, 1)
    } else if n < 100_000_000_000_000_000 {
        (1, 1)
    } else {
        (1, 1000)
    };
    let mut t = n.checked_mul(scale_num)? / scale_den;
    if let Some(frac) = frac {
        if scale_num == MICROS {
            t += fraction_micros(frac)?;
        } else if !frac.iter().all(u8::is_ascii_digit) {
            return None;
        }
    }
    Some(t)
}

/// Parse any supported timestamp: CLF, ISO 8601 or a numeric epoch.
pub fn parse_any(b: &[u8]) -> Option<i64> {
    match b.first()? {
        b'[' => parse_clf(b),
        _ if b.len() > 4 && b[4] == b'-' => parse_iso8601(b),
        _ if b.len() > 2 && b[2] == b'/' => parse_clf(b),
        _ => parse_epoch(b),
    }
}

/// Format microseconds since the epoch as RFC 3339 UTC (`2000-10-10T20:55:36Z`,
/// with a fraction only when there is one).
pub fn format_rfc3339(micros: i64) -> String {
    let secs = micros.div_euclid(MICROS);
    let frac = micros.rem_euclid(MICROS);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let (h, mi, s) = (sod / 3600, sod % 3600 / 60, sod % 60);
    if frac == 0 {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    } else {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{frac:06}Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for days in [-1_000_000, -719_468, -1, 0, 1, 11_016, 18_262, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn clf() {
        // The Apache documentation's example: 13:55:36 at -0700 is 20:55:36 UTC.
        assert_eq!(parse_clf(b"[10/Oct/2000:13:55:36 -0700]"), Some(971_211_336 * MICROS));
        assert_eq!(parse_clf(b"10/Oct/2000:20:55:36 +0000"), Some(971_211_336 * MICROS));
        assert_eq!(parse_clf(b"10/oct/2000:22:55:36 +0200"), Some(971_211_336 * MICROS));
        assert_eq!(parse_clf(b"10/Oct/2000:20:55:36.250 +0000"), Some(971_211_336 * MICROS + 250_000));
        assert_eq!(parse_clf(b"31/Feb/2000:13:55:36 -0700"), None);
        assert_eq!(parse_clf(b"10/Foo/2000:13:55:36 -0700"), None);
        assert_eq!(parse_clf(b"10/Oct/2000:13:55:36 x0700"), None);
        assert_eq!(parse_clf(b"10/Oct/2000"), None);
    }

    #[test]
    fn iso() {
        let t = 971_211_336 * MICROS;
        assert_eq!(parse_iso8601(b"2000-10-10T20:55:36Z"), Some(t));
        assert_eq!(parse_iso8601(b"2000-10-10T20:55:36"), Some(t));
        assert_eq!(parse_iso8601(b"2000-10-10 22:55:36+02:00"), Some(t));
        assert_eq!(parse_iso8601(b"2000-10-10T13:55:36-0700"), Some(t));
        assert_eq!(parse_iso8601(b"2000-10-10T20:55:36.123456789Z"), Some(t + 123_456));
        assert_eq!(parse_iso8601(b"2000-10-10T20:55:36.5+00:00"), Some(t + 500_000));
        assert_eq!(parse_iso8601(b"2000-13-10T20:55:36Z"), None);
        assert_eq!(parse_iso8601(b"2000-10-10T20:55:36Q"), None);
        assert_eq!(parse_iso8601(b"2000-10-10T20:55:36."), None);
    }

    #[test]
    fn epochs() {
        let t = 971_211_336 * MICROS;
        assert_eq!(parse_epoch(b"971211336"), Some(t));
        assert_eq!(parse_epoch(b"971211336.5"), Some(t + 500_000));
        assert_eq!(parse_epoch(b"971211336500"), Some(t + 500_000));
        assert_eq!(parse_epoch(b"971211336500000"), Some(t + 500_000));
        assert_eq!(parse_epoch(b"971211336500000000"), Some(t + 500_000));
        assert_eq!(parse_epoch(b"-1"), None);
        // Exponents, as JSON encoders write floats; the magnitude rule holds.
        assert_eq!(parse_epoch(b"9.71211336e8"), Some(t));
        assert_eq!(parse_epoch(b"9.712113365E11"), Some(t + 500_000));
        assert_eq!(parse_epoch(b"-1e9"), None);
        assert_eq!(parse_epoch(b"1e400"), None);
        assert_eq!(parse_epoch(b"e9"), None);
        assert_eq!(parse_any(b"[10/Oct/2000:13:55:36 -0700]"), Some(t));
        assert_eq!(parse_any(b"2000-10-10T20:55:36Z"), Some(t));
        assert_eq!(parse_any(b"971211336"), Some(t));
    }

    #[test]
    fn rfc3339() {
        assert_eq!(format_rfc3339(971_211_336 * MICROS), "2000-10-10T20:55:36Z");
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59.999999Z");
    }
}
