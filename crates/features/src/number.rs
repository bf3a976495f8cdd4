//! Numbers in text fields: exact decimals where possible, floats otherwise.

/// A parsed numeric field.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Num {
    /// `mantissa * 10^-frac_digits`, exactly (at most 18 digits).
    Dec(i64, u8),
    /// Any other finite number (exponents, more digits).
    Float(f64),
    /// NaN: taken as missing.
    Nan,
    /// Not a number, or infinite.
    Bad,
}

const POW10: [f64; 19] =
    [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18];

impl Num {
    /// The value as a float (`Dec` correctly rounded for mantissas below
    /// 2^53: both operands are exact and IEEE division rounds once).
    #[inline]
    pub(crate) fn to_f64(self) -> f64 {
        match self {
            Num::Dec(m, f) => m as f64 / POW10[usize::from(f)],
            Num::Float(x) => x,
            Num::Nan | Num::Bad => f64::NAN,
        }
    }
}

/// Parse a number: surrounding spaces and tabs are ignored; `[+-]digits[.digits]`
/// with at most 18 digits is an exact decimal; anything Rust's float parser
/// takes (exponents, `inf`, `NaN`) is a float, NaN or bad (infinite).
#[inline]
pub(crate) fn parse_number(bytes: &[u8]) -> Num {
    let b = trim(bytes);
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    let mut m: i64 = 0;
    let mut n = 0usize; // digits consumed
    let mut frac: Option<usize> = None;
    let mut i = 0;
    while i < digits.len() {
        let c = digits[i];
        if c.is_ascii_digit() {
            n += 1;
            if n > 18 {
                return parse_slow(b);
            }
            m = m * 10 + i64::from(c - b'0');
        } else if c == b'.' && frac.is_none() {
            frac = Some(i + 1);
        } else {
            return parse_slow(b);
        }
        i += 1;
    }
    if n == 0 {
        return parse_slow(b);
    }
    let frac_digits = frac.map_or(0, |start| digits.len() - start);
    Num::Dec(if neg { -m } else { m }, frac_digits as u8)
}

#[cold]
fn parse_slow(b: &[u8]) -> Num {
    match std::str::from_utf8(b).ok().and_then(|s| s.parse::<f64>().ok()) {
        Some(x) if x.is_nan() => Num::Nan,
        Some(x) if x.is_finite() => Num::Float(x),
        _ => Num::Bad,
    }
}

#[inline]
fn trim(mut b: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = b {
        b = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = b {
        b = rest;
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_number(b"12.50"), Num::Dec(1250, 2));
        assert_eq!(parse_number(b" -7 "), Num::Dec(-7, 0));
        assert_eq!(parse_number(b"+.5"), Num::Dec(5, 1));
        assert_eq!(parse_number(b"3."), Num::Dec(3, 0));
        assert_eq!(parse_number(b"-0.000"), Num::Dec(0, 3));
        assert_eq!(parse_number(b"1e3"), Num::Float(1000.0));
        assert_eq!(parse_number(b"1234567890.1234567890"), Num::Float(1_234_567_890.123_456_7));
        assert_eq!(parse_number(b"NaN"), Num::Nan);
        for bad in [&b""[..], b"-", b".", b"1.2.3", b"12a", b"inf", b"-infinity", b"1,5", b"\xff"] {
            assert_eq!(parse_number(bad), Num::Bad, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(Num::Dec(1, 1).to_f64(), 0.1);
    }
}
