//! Money as text in files: yuan text ↔ integer fen, for the providers'
//! statements, the bank's receipts and our reports (SPEC §2: providers keep
//! their units at the edge; we convert once, exactly).
//!
//! One grammar, the API's ([`crate::money::Amount::parse`]) widened only
//! where files need it:
//! - digits, then optionally a `.` and one or two decimals (`"7"`, `"12.3"`,
//!   `"12.30"`); no leading zero (`"0.50"` yes, `"00.50"`, `"01"` no);
//! - a leading `-` only where the caller allows a sign ([`Sign::Signed`]);
//!   never a `+`;
//! - no exponent, spaces, thousands separators or full-width digits;
//! - at most [`MAX_TEXT_FEN`] either way (statements carry sums far beyond
//!   what one request may).
//!
//! Writing gives exactly two decimals (`1230` → `"12.30"`), into a reused
//! byte buffer on the hot path ([`push_fen`]) or a `String` elsewhere. The
//! hot-path functions are `#[inline]`: they ran inside the statement readers'
//! and writers' crate before, and stay inlinable there without LTO.

/// The largest magnitude money text may carry: 10^12 yuan, in fen.
pub const MAX_TEXT_FEN: i64 = 100_000_000_000_000;

/// The most integer digits money text may have (`MAX_TEXT_FEN` in yuan).
const MAX_WHOLE_DIGITS: usize = 13;

/// Whether a field may carry a leading `-`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sign {
    /// Amounts that cannot be negative (an order amount, a fee).
    Unsigned,
    /// Net amounts (a refund's net, a bank credit).
    Signed,
}

/// Why a text is not money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyTextError {
    #[error("amount is empty")]
    Empty,
    #[error("amount has a sign it may not have")]
    UnexpectedSign,
    #[error("amount has a leading zero")]
    LeadingZero,
    #[error("amount has more than two decimals")]
    TooManyDecimals,
    #[error("amount is larger than 1000000000000.00")]
    TooLarge,
    #[error("amount must be a decimal string like \"12.30\"")]
    Format,
}

/// Yuan text → fen, by the grammar above: `"12.3"` → 1230, `"-0.05"` → -5
/// when signed. A signed `"-0"` is zero.
#[inline]
pub fn parse_yuan(text: &str, sign: Sign) -> Result<i64, MoneyTextError> {
    let bytes = text.as_bytes();
    let (negative, digits) = match bytes.split_first() {
        None => return Err(MoneyTextError::Empty),
        Some((b'-', rest)) if sign == Sign::Signed => (true, rest),
        Some((b'-' | b'+', _)) => return Err(MoneyTextError::UnexpectedSign),
        Some(_) => (false, bytes),
    };
    let (whole, decimals) = match digits.iter().position(|&b| b == b'.') {
        Some(dot) => (&digits[..dot], Some(&digits[dot + 1..])),
        None => (digits, None),
    };
    if whole.is_empty() || !whole.iter().all(u8::is_ascii_digit) {
        return Err(MoneyTextError::Format);
    }
    if whole.len() > 1 && whole[0] == b'0' {
        return Err(MoneyTextError::LeadingZero);
    }
    let cents = match decimals {
        None => 0,
        Some(decimals) if decimals.is_empty() || !decimals.iter().all(u8::is_ascii_digit) => {
            return Err(MoneyTextError::Format)
        }
        Some(&[tenths]) => i64::from(tenths - b'0') * 10,
        Some(&[tenths, hundredths]) => i64::from(tenths - b'0') * 10 + i64::from(hundredths - b'0'),
        Some(_) => return Err(MoneyTextError::TooManyDecimals),
    };
    if whole.len() > MAX_WHOLE_DIGITS {
        return Err(MoneyTextError::TooLarge);
    }
    // At most 13 digits: far below i64's range even times 100.
    let yuan = whole
        .iter()
        .fold(0i64, |yuan, digit| yuan * 10 + i64::from(digit - b'0'));
    let fen = yuan * 100 + cents;
    if fen > MAX_TEXT_FEN {
        return Err(MoneyTextError::TooLarge);
    }
    Ok(if negative { -fen } else { fen })
}

/// Fen → yuan text with exactly two decimals: 1230 → `"12.30"`, -5 → `"-0.05"`.
pub fn format_fen(fen: i64) -> String {
    let mut out = Vec::with_capacity(24);
    push_fen(&mut out, fen);
    // Digits, a sign and a dot: always ASCII.
    String::from_utf8(out).unwrap_or_default()
}

/// A sum of amounts (which may pass `i64`) as yuan text with two decimals.
pub fn format_fen_sum(fen: i128) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// Appends fen as yuan with exactly two decimals ([`format_fen`] without
/// the allocation, for writers of millions of lines).
#[inline]
pub fn push_fen(out: &mut Vec<u8>, fen: i64) {
    if fen < 0 {
        out.push(b'-');
    }
    let abs = fen.unsigned_abs();
    push_u64(out, abs / 100);
    let cents = (abs % 100) as u8;
    out.extend_from_slice(&[b'.', b'0' + cents / 10, b'0' + cents % 10]);
}

/// Appends a sum of amounts as yuan with exactly two decimals.
#[inline]
pub fn push_fen_sum(out: &mut Vec<u8>, fen: i128) {
    match i64::try_from(fen) {
        Ok(fen) => push_fen(out, fen),
        Err(_) => out.extend_from_slice(format_fen_sum(fen).as_bytes()),
    }
}

/// Appends `value` in decimal: the yuan of [`push_fen`], and the counts
/// that stand beside amounts in statement summaries.
#[inline]
pub fn push_u64(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        if let Some(slot) = digits.get_mut(start) {
            *slot = b'0' + (value % 10) as u8;
        }
        value /= 10;
        if value == 0 || start == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(start..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::MoneyTextError::*;
    use super::*;

    fn unsigned(text: &str) -> Result<i64, MoneyTextError> {
        parse_yuan(text, Sign::Unsigned)
    }

    fn signed(text: &str) -> Result<i64, MoneyTextError> {
        parse_yuan(text, Sign::Signed)
    }

    #[test]
    fn yuan_text_is_read_exactly_or_refused() {
        assert_eq!(unsigned("12.3").ok(), Some(1230));
        assert_eq!(unsigned("12.30").ok(), Some(1230));
        assert_eq!(unsigned("0.01").ok(), Some(1));
        assert_eq!(unsigned("7").ok(), Some(700));
        assert_eq!(signed("-50.00").ok(), Some(-5000));
        for bad in [
            "", "-1", "1.", ".5", "1.234", "1e3", " 1", "1,000.00", "abc", "--1",
        ] {
            assert_eq!(unsigned(bad).ok(), None, "{bad:?}");
        }
        assert_eq!(unsigned("99999999999999.00").ok(), None);
    }

    #[test]
    fn every_value_round_trips_exactly() {
        for fen in [
            0,
            1,
            5,
            9,
            10,
            99,
            100,
            101,
            1230,
            5000,
            123_456_789,
            MAX_TEXT_FEN - 1,
            MAX_TEXT_FEN,
        ] {
            assert_eq!(unsigned(&format_fen(fen)), Ok(fen), "{fen}");
            assert_eq!(signed(&format_fen(fen)), Ok(fen), "{fen}");
            assert_eq!(signed(&format_fen(-fen)), Ok(-fen), "{fen}");
        }
    }

    #[test]
    fn the_largest_and_smallest_values_are_the_bounds() {
        assert_eq!(unsigned("1000000000000.00"), Ok(MAX_TEXT_FEN));
        assert_eq!(unsigned("1000000000000"), Ok(MAX_TEXT_FEN));
        assert_eq!(signed("-1000000000000.00"), Ok(-MAX_TEXT_FEN));
        assert_eq!(unsigned("1000000000000.01"), Err(TooLarge));
        assert_eq!(signed("-1000000000000.01"), Err(TooLarge));
        assert_eq!(unsigned("9999999999999.99"), Err(TooLarge));
        assert_eq!(unsigned("10000000000000"), Err(TooLarge));
        assert_eq!(unsigned("99999999999999999999999999"), Err(TooLarge));
        assert_eq!(unsigned("0.01"), Ok(1));
        assert_eq!(signed("-0.01"), Ok(-1));
        assert_eq!(unsigned("0"), Ok(0));
        assert_eq!(unsigned("0.00"), Ok(0));
        assert_eq!(signed("-0.00"), Ok(0));
    }

    #[test]
    fn each_malformed_form_is_refused_with_its_reason() {
        let cases = [
            ("", Empty),
            ("-", UnexpectedSign),
            ("-1.00", UnexpectedSign),
            ("+1.00", UnexpectedSign),
            ("01.00", LeadingZero),
            ("00.50", LeadingZero),
            ("007", LeadingZero),
            ("1.001", TooManyDecimals),
            ("0.125", TooManyDecimals),
            ("1e3", Format),
            ("1E3", Format),
            ("1.0e2", Format),
            (" 1.00", Format),
            ("1.00 ", Format),
            ("1 000.00", Format),
            ("1,000.00", Format),
            (".50", Format),
            ("5.", Format),
            ("1.2.3", Format),
            ("１.00", Format),
            ("NaN", Format),
            ("Infinity", Format),
            ("¥1.00", Format),
        ];
        for (text, want) in cases {
            assert_eq!(unsigned(text), Err(want), "{text:?}");
        }
        let signed_cases = [
            ("-", Format),
            ("--1", Format),
            ("-+1", Format),
            ("+1.00", UnexpectedSign),
            ("-01.00", LeadingZero),
            ("- 1.00", Format),
            ("-1.001", TooManyDecimals),
            ("-.5", Format),
        ];
        for (text, want) in signed_cases {
            assert_eq!(signed(text), Err(want), "{text:?}");
        }
    }

    #[test]
    fn api_amounts_read_the_same_as_money_text() {
        use crate::money::Money;
        for text in [
            "0",
            "0.00",
            "0.5",
            "12.3",
            "12.30",
            "99999999.99",
            "01.00",
            "1.001",
            "+1",
            "-1",
            "1e3",
            " 1",
            "5.",
            ".5",
            "",
        ] {
            if let Ok(money) = Money::parse(text) {
                assert_eq!(unsigned(text), Ok(money.fen()), "{text:?}");
            } else {
                assert!(unsigned(text).is_err(), "{text:?}");
            }
        }
    }

    #[test]
    fn fen_prints_with_two_decimals() {
        assert_eq!(format_fen(1230), "12.30");
        assert_eq!(format_fen(5), "0.05");
        assert_eq!(format_fen(-5), "-0.05");
        assert_eq!(format_fen(0), "0.00");
        assert_eq!(format_fen(i64::MAX), "92233720368547758.07");
        assert_eq!(format_fen(i64::MIN), "-92233720368547758.08");
    }

    #[test]
    fn fen_pushes_like_format_fen() {
        for fen in [
            0,
            5,
            -5,
            99,
            100,
            1230,
            -5000,
            123_456_789,
            i64::MAX,
            i64::MIN,
        ] {
            let mut out = Vec::new();
            push_fen(&mut out, fen);
            assert_eq!(String::from_utf8(out).unwrap(), format_fen(fen));
        }
    }

    #[test]
    fn sums_beyond_i64_print_exactly() {
        let mut out = Vec::new();
        push_fen_sum(&mut out, i128::from(i64::MAX) + 1);
        assert_eq!(out, b"92233720368547758.08");
        out.clear();
        push_fen_sum(&mut out, -1230);
        assert_eq!(out, b"-12.30");
        assert_eq!(
            format_fen_sum(i128::MIN),
            "-1701411834604692317316873037158841057.28"
        );
    }

    #[test]
    fn counts_print_in_decimal() {
        for value in [0, 7, 10, 12_345, u64::MAX] {
            let mut out = Vec::new();
            push_u64(&mut out, value);
            assert_eq!(String::from_utf8(out).unwrap(), value.to_string());
        }
    }

    proptest::proptest! {
        #[test]
        fn any_amount_in_range_round_trips(fen in -MAX_TEXT_FEN..=MAX_TEXT_FEN) {
            proptest::prop_assert_eq!(signed(&format_fen(fen)), Ok(fen));
        }
    }
}
