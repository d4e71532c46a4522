//! The terms a monthly-pay plan is made of (SPEC §3): how many periods it
//! runs and the provider's fee rate. Both are parsed once, at the edge, so
//! a shop's settings and a plan can only hold values the rules allow.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A plan length that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("monthly pay comes in 3, 6 or 12 periods, not {0}")]
pub struct UnsupportedPeriods(pub u8);

/// The number of periods of a plan: 3, 6 or 12, nothing else. Stored and
/// shown as the bare number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct PlanPeriods(u8);

impl PlanPeriods {
    pub const THREE: PlanPeriods = PlanPeriods(3);
    pub const SIX: PlanPeriods = PlanPeriods(6);
    pub const TWELVE: PlanPeriods = PlanPeriods(12);
    /// Every plan length there is, shortest first.
    pub const ALL: [PlanPeriods; 3] = [PlanPeriods::THREE, PlanPeriods::SIX, PlanPeriods::TWELVE];

    pub fn new(periods: u8) -> Result<PlanPeriods, UnsupportedPeriods> {
        PlanPeriods::ALL
            .into_iter()
            .find(|p| p.0 == periods)
            .ok_or(UnsupportedPeriods(periods))
    }

    pub fn as_u8(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for PlanPeriods {
    type Error = UnsupportedPeriods;

    fn try_from(periods: u8) -> Result<PlanPeriods, UnsupportedPeriods> {
        PlanPeriods::new(periods)
    }
}

impl From<PlanPeriods> for u8 {
    fn from(periods: PlanPeriods) -> u8 {
        periods.0
    }
}

impl fmt::Display for PlanPeriods {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why a fee rate was refused: the rule it breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FeeRateError {
    #[error("a fee rate is a plain decimal string such as \"0.0230\"")]
    NotADecimal,
    #[error("a fee rate has at most {} decimals", FeeRate::SCALE)]
    TooManyDecimals,
    #[error("a fee rate is from 0 to below 1")]
    OutOfRange,
}

/// The provider's fee for a plan as a fraction of the order amount: from 0
/// to below 1, at most 4 decimals ("0.0230"). Shown and stored as that text,
/// scale kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "Decimal", into = "Decimal")]
pub struct FeeRate(Decimal);

impl FeeRate {
    /// Most decimals a fee rate may have.
    pub const SCALE: u32 = 4;
    /// Longest text form accepted ("0.0230" is 6).
    const MAX_TEXT_LEN: usize = 8;

    pub fn new(rate: Decimal) -> Result<FeeRate, FeeRateError> {
        if rate.scale() > FeeRate::SCALE {
            return Err(FeeRateError::TooManyDecimals);
        }
        if rate < Decimal::ZERO || rate >= Decimal::ONE {
            return Err(FeeRateError::OutOfRange);
        }
        Ok(FeeRate(rate))
    }

    /// Parses the text form: digits and one point only, no sign or exponent.
    pub fn parse(text: &str) -> Result<FeeRate, FeeRateError> {
        let plain = text.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        if text.is_empty() || text.len() > FeeRate::MAX_TEXT_LEN || !plain {
            return Err(FeeRateError::NotADecimal);
        }
        let rate: Decimal = text.parse().map_err(|_| FeeRateError::NotADecimal)?;
        FeeRate::new(rate)
    }

    /// Builds a rate from a mantissa and a scale (`FeeRate::from_parts(230, 4)` is 0.0230).
    pub fn from_parts(mantissa: i64, scale: u32) -> Result<FeeRate, FeeRateError> {
        if scale > FeeRate::SCALE {
            return Err(FeeRateError::TooManyDecimals);
        }
        FeeRate::new(Decimal::new(mantissa, scale))
    }

    pub fn decimal(self) -> Decimal {
        self.0
    }
}

impl TryFrom<Decimal> for FeeRate {
    type Error = FeeRateError;

    fn try_from(rate: Decimal) -> Result<FeeRate, FeeRateError> {
        FeeRate::new(rate)
    }
}

impl From<FeeRate> for Decimal {
    fn from(rate: FeeRate) -> Decimal {
        rate.0
    }
}

impl FromStr for FeeRate {
    type Err = FeeRateError;

    fn from_str(text: &str) -> Result<FeeRate, FeeRateError> {
        FeeRate::parse(text)
    }
}

impl fmt::Display for FeeRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_run_3_6_or_12_periods_only() {
        for periods in [3u8, 6, 12] {
            assert_eq!(PlanPeriods::new(periods).unwrap().as_u8(), periods);
        }
        for periods in [0u8, 1, 2, 4, 5, 7, 11, 13, 24, 255] {
            assert_eq!(PlanPeriods::new(periods), Err(UnsupportedPeriods(periods)));
        }
        assert_eq!(
            PlanPeriods::ALL.map(PlanPeriods::as_u8),
            [3, 6, 12],
            "ALL lists every plan, shortest first"
        );
    }

    #[test]
    fn periods_are_stored_as_the_bare_number() {
        assert_eq!(serde_json::to_string(&PlanPeriods::SIX).unwrap(), "6");
        assert_eq!(
            serde_json::from_str::<PlanPeriods>("12").unwrap(),
            PlanPeriods::TWELVE
        );
        assert!(serde_json::from_str::<PlanPeriods>("4").is_err());
        assert_eq!(PlanPeriods::THREE.to_string(), "3");
    }

    #[test]
    fn fee_rates_run_from_0_to_below_1_with_at_most_4_decimals() {
        for ok in ["0", "0.0000", "0.0001", "0.0230", "0.5", "0.9999"] {
            assert_eq!(FeeRate::parse(ok).unwrap().to_string(), ok);
        }
        assert_eq!(FeeRate::parse("1"), Err(FeeRateError::OutOfRange));
        assert_eq!(FeeRate::parse("1.0000"), Err(FeeRateError::OutOfRange));
        assert_eq!(
            FeeRate::parse("0.00001"),
            Err(FeeRateError::TooManyDecimals)
        );
        assert_eq!(FeeRate::parse("-0.0001"), Err(FeeRateError::NotADecimal));
        assert_eq!(
            FeeRate::new(Decimal::new(-1, 4)),
            Err(FeeRateError::OutOfRange),
            "a negative rate is refused however it arrives"
        );
        for malformed in ["", "abc", "1e-2", "+0.1", " 0.1", "0.012345678"] {
            assert!(FeeRate::parse(malformed).is_err(), "{malformed:?}");
        }
    }

    #[test]
    fn fee_rates_keep_their_text_form_in_storage() {
        let rate = FeeRate::from_parts(230, 4).unwrap();
        assert_eq!(serde_json::to_string(&rate).unwrap(), "\"0.0230\"");
        assert_eq!(serde_json::from_str::<FeeRate>("\"0.0230\"").unwrap(), rate);
        assert!(serde_json::from_str::<FeeRate>("\"1.5\"").is_err());
        assert!(serde_json::from_str::<FeeRate>("\"0.00001\"").is_err());
        assert_eq!(
            FeeRate::from_parts(1, 5),
            Err(FeeRateError::TooManyDecimals)
        );
    }
}
