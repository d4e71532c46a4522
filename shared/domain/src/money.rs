//! Money in CNY with exactly two decimals (fen), over `rust_decimal`. SPEC §2.
//!
//! `Amount` is what a request carries: strictly positive, at most `Amount::MAX`.
//! `Money` is a non-negative sum: balances, counters, headroom. Both convert to
//! integer fen exactly, which is how stores keep them (never as floats).

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Largest amount any single request may carry: ¥99,999,999.99.
pub const MAX_AMOUNT_FEN: i64 = 9_999_999_999;
/// Longest amount text accepted before parsing ("99999999.99" is 11).
const MAX_AMOUNT_TEXT_LEN: usize = 11;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount is empty")]
    Empty,
    #[error("amount must be positive")]
    NotPositive,
    #[error("amount has more than two decimals")]
    TooManyDecimals,
    #[error("amount is larger than 99999999.99")]
    TooLarge,
    #[error("amount must be a decimal string like \"12.30\"")]
    Format,
}

/// A non-negative CNY sum with two decimals.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(Decimal);

impl Money {
    pub const ZERO: Money = Money(Decimal::ZERO);

    /// Exact conversion from fen; negative values are refused.
    pub fn from_fen(fen: i64) -> Option<Money> {
        (fen >= 0).then(|| Money(Decimal::new(fen, 2)))
    }

    /// Exact integer fen. Cannot overflow: every constructor bounds the value.
    pub fn fen(self) -> i64 {
        // Money made from fen keeps two decimals: its mantissa is the fen,
        // read without the decimal multiplication (the nightly run asks
        // once per movement). Other scales take the general path.
        if self.0.scale() == 2 {
            if let Ok(fen) = i64::try_from(self.0.mantissa()) {
                return fen;
            }
        }
        let scaled = self.0 * Decimal::ONE_HUNDRED;
        i64::try_from(scaled).expect("Money is bounded to i64 fen by construction")
    }

    pub fn decimal(self) -> Decimal {
        self.0
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        Money::from_fen(self.fen().checked_add(other.fen())?)
    }

    /// `self - other`, or `None` when it would go below zero.
    pub fn checked_sub(self, other: Money) -> Option<Money> {
        Money::from_fen(self.fen().checked_sub(other.fen())?)
    }

    /// `self - other`, floored at zero: the headroom left under a limit.
    pub fn headroom_over(self, used: Money) -> Money {
        self.checked_sub(used).unwrap_or(Money::ZERO)
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// Parses a non-negative money string ("0.00" allowed), same grammar as `Amount`.
    pub fn parse(text: &str) -> Result<Money, AmountError> {
        parse_fen(text).map(|fen| Money(Decimal::new(fen, 2)))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Always two decimals: "15.00", never "15".
        let mut d = self.0;
        d.rescale(2);
        write!(f, "{d}")
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Money({self})")
    }
}

/// A strictly positive CNY amount of at most `MAX_AMOUNT_FEN` fen.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(Money);

impl Amount {
    /// Parses the API's money text: digits, optionally a point and one or two
    /// decimals. No sign, exponent, spaces, leading zeros, or a third decimal:
    /// refusing is safer than rounding someone's money.
    pub fn parse(text: &str) -> Result<Amount, AmountError> {
        let fen = parse_fen(text)?;
        Amount::from_fen(fen)
    }

    pub fn from_fen(fen: i64) -> Result<Amount, AmountError> {
        if fen <= 0 {
            return Err(AmountError::NotPositive);
        }
        if fen > MAX_AMOUNT_FEN {
            return Err(AmountError::TooLarge);
        }
        Ok(Amount(Money(Decimal::new(fen, 2))))
    }

    pub fn fen(self) -> i64 {
        self.0.fen()
    }

    pub fn money(self) -> Money {
        self.0
    }

    pub fn decimal(self) -> Decimal {
        self.0 .0
    }
}

impl From<Amount> for Money {
    fn from(a: Amount) -> Money {
        a.0
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amount({self})")
    }
}

fn parse_fen(text: &str) -> Result<i64, AmountError> {
    if text.is_empty() {
        return Err(AmountError::Empty);
    }
    if text.starts_with('-') {
        return Err(AmountError::NotPositive);
    }
    let (int_part, frac_part) = match text.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (text, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int_part) || (int_part.len() > 1 && int_part.starts_with('0')) {
        return Err(AmountError::Format);
    }
    if let Some(frac) = frac_part {
        if !digits(frac) {
            return Err(AmountError::Format);
        }
        if frac.len() > 2 {
            return Err(AmountError::TooManyDecimals);
        }
    }
    if text.len() > MAX_AMOUNT_TEXT_LEN || int_part.len() > 8 {
        return Err(AmountError::TooLarge);
    }
    // Bounded to 8 + 2 digits above, so this cannot overflow i64.
    let yuan: i64 = int_part.parse().map_err(|_| AmountError::Format)?;
    let fen_part: i64 = match frac_part {
        None => 0,
        Some(f) if f.len() == 1 => f.parse::<i64>().map_err(|_| AmountError::Format)? * 10,
        Some(f) => f.parse().map_err(|_| AmountError::Format)?,
    };
    Ok(yuan * 100 + fen_part)
}

macro_rules! string_serde {
    ($t:ty, $parse:path) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                $parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}
string_serde!(Money, Money::parse);
string_serde!(Amount, Amount::parse);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fen_reads_back_what_was_put_in() {
        for fen in [0, 1, 99, 1_230, MAX_AMOUNT_FEN, i64::MAX] {
            assert_eq!(Money::from_fen(fen).unwrap().fen(), fen);
        }
        assert_eq!(Money::parse("7").unwrap().fen(), 700);
        assert_eq!(Money::parse("0.5").unwrap().fen(), 50);
    }

    #[test]
    fn parses_valid_amounts_exactly() {
        assert_eq!(Amount::parse("12.30").unwrap().fen(), 1230);
        assert_eq!(Amount::parse("12.3").unwrap().fen(), 1230);
        assert_eq!(Amount::parse("12").unwrap().fen(), 1200);
        assert_eq!(Amount::parse("0.01").unwrap().fen(), 1);
        assert_eq!(Amount::parse("99999999.99").unwrap().fen(), MAX_AMOUNT_FEN);
        assert_eq!(Amount::parse("15000").unwrap().to_string(), "15000.00");
    }

    #[test]
    fn refuses_bad_amounts_with_the_reason() {
        use AmountError::*;
        let cases = [
            ("", Empty),
            ("0", NotPositive),
            ("0.00", NotPositive),
            ("-1.00", NotPositive),
            ("1.001", TooManyDecimals),
            ("100000000.00", TooLarge),
            ("1e3", Format),
            ("+1.00", Format),
            (" 1.00", Format),
            ("1.00 ", Format),
            ("01.00", Format),
            (".50", Format),
            ("5.", Format),
            ("NaN", Format),
            ("Infinity", Format),
            ("1,000.00", Format),
            ("１.00", Format),
            ("99999999999999999999999999", TooLarge),
        ];
        for (text, want) in cases {
            assert_eq!(Amount::parse(text), Err(want), "{text:?}");
        }
    }

    #[test]
    fn money_arithmetic_is_exact() {
        let a = Money::parse("0.10").unwrap();
        let b = Money::parse("0.20").unwrap();
        assert_eq!(a.checked_add(b).unwrap().to_string(), "0.30");
        assert_eq!(a.checked_sub(b), None);
        assert_eq!(a.headroom_over(b), Money::ZERO);
        assert_eq!(Money::ZERO.to_string(), "0.00");
    }

    #[test]
    fn serde_uses_strings_only() {
        let a: Amount = serde_json::from_str("\"1.50\"").unwrap();
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"1.50\"");
        assert!(serde_json::from_str::<Amount>("1.5").is_err());
    }
}
