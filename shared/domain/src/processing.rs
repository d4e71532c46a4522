//! The providers' processing fees (SPEC §5: every money movement writes a
//! ledger entry, fees included).
//!
//! WeChat Pay and Alipay keep a fee from every payment, at the rate of the
//! shop's contract with them, and their trade bills list it on the
//! payment's row (手续费, 服务费). A shop's setup may give that rate per
//! provider (`processing_rates`): a payment through that provider then books
//! the fee it expects, so the nightly run matches it against the bill's fee
//! or reports the difference with both amounts. Without a rate nothing is
//! booked, and the bill's fee is reported `MISSING_IN_LEDGER`.
//!
//! Douyin Pay lists no fee on its payment rows (its fees come with
//! settlement, in its settle bill) and the sandbox keeps no processing fee
//! (its bill lists only the monthly-pay fee a shop bears), so no rate is
//! accepted for them: a fee booked for them would never be matched.
//!
//! What is left out, on purpose: the part of the fee a provider hands back
//! with a refund is not booked, so a shop's balance after a refund is lower
//! than the provider's by that part (the safe side for payouts), and the
//! bill's returned fee is not matched.

use std::collections::BTreeMap;
use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::collection::Provider;
use crate::money::{Amount, Money};
use crate::plan_terms::FeeRate;

/// Why a processing rate was refused: the rule it breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProcessingRateError {
    #[error(
        "a processing rate is a decimal string such as \"0.0060\" (0.60%), at most 4 decimals"
    )]
    NotARate,
    #[error("a processing rate is a fraction of the amount, at most \"0.0500\" (5%): 0.60% is \"0.0060\"")]
    TooHigh,
    #[error("{0} keeps no processing fee from each payment (Douyin Pay's fees come with settlement; the sandbox keeps none): no rate can be set for it")]
    NoFeePerPayment(Provider),
}

/// A provider's fee as a fraction of each payment: 0 to 0.0500, at most 4
/// decimals. The cap turns "0.6" typed for 0.6% into an error rather than a
/// 60% fee on every payment.
///
/// The cap is the API's rule: a rate read back from storage is taken as it
/// was stored, so tightening the rule later never makes a shop unreadable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "FeeRate", into = "FeeRate")]
pub struct ProcessingRate(FeeRate);

impl ProcessingRate {
    /// The highest rate accepted (5%).
    pub const MAX: Decimal = Decimal::from_parts(500, 0, 0, false, 4);

    /// Parses the canonical text only: `0`, or `0.` and one to four
    /// digits (the API's pattern, exactly).
    pub fn parse(text: &str) -> Result<ProcessingRate, ProcessingRateError> {
        let canonical = match text.strip_prefix("0.") {
            None => text == "0",
            Some(digits) => {
                (1..=4).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
            }
        };
        if !canonical {
            return Err(ProcessingRateError::NotARate);
        }
        let rate = FeeRate::parse(text).map_err(|_| ProcessingRateError::NotARate)?;
        if rate.decimal() > ProcessingRate::MAX {
            return Err(ProcessingRateError::TooHigh);
        }
        Ok(ProcessingRate(rate))
    }

    /// The fee on a payment of `amount`: amount × rate, rounded half up to
    /// the fen, one payment at a time, as the providers compute it.
    pub fn fee(self, amount: Amount) -> Money {
        let fee = (amount.decimal() * self.0.decimal())
            .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
        // A share below 1 of an amount: never negative, never out of range.
        Money::from_fen(i64::try_from(fee * Decimal::ONE_HUNDRED).unwrap_or(0))
            .unwrap_or(Money::ZERO)
    }
}

/// A stored rate, as it was stored (see [`ProcessingRate`]).
impl From<FeeRate> for ProcessingRate {
    fn from(rate: FeeRate) -> ProcessingRate {
        ProcessingRate(rate)
    }
}

impl From<ProcessingRate> for FeeRate {
    fn from(rate: ProcessingRate) -> FeeRate {
        rate.0
    }
}

impl fmt::Display for ProcessingRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Whether `provider`'s trade bill lists a fee on each payment's row.
pub fn charges_per_payment(provider: Provider) -> bool {
    matches!(provider, Provider::Wechatpay | Provider::Alipay)
}

/// A shop's processing rates, by provider; empty unless the shop set some.
/// Like each rate, the set is checked when it is set, not when it is read
/// back from storage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProcessingRates(BTreeMap<Provider, ProcessingRate>);

impl ProcessingRates {
    /// Only providers whose bills list a fee per payment take a rate.
    pub fn new(
        rates: BTreeMap<Provider, ProcessingRate>,
    ) -> Result<ProcessingRates, ProcessingRateError> {
        match rates.keys().find(|p| !charges_per_payment(**p)) {
            Some(provider) => Err(ProcessingRateError::NoFeePerPayment(*provider)),
            None => Ok(ProcessingRates(rates)),
        }
    }

    /// The fee `provider` keeps from a payment of `amount` under the shop's
    /// contract; zero without a rate.
    /// Only providers that keep a fee per payment charge one, whatever was
    /// stored.
    pub fn fee(&self, provider: Provider, amount: Amount) -> Money {
        match self.0.get(&provider) {
            Some(rate) if charges_per_payment(provider) => rate.fee(amount),
            _ => Money::ZERO,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (Provider, ProcessingRate)> + '_ {
        self.0.iter().map(|(p, r)| (*p, *r))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(text: &str) -> Amount {
        Amount::parse(text).unwrap()
    }

    fn rate(text: &str) -> ProcessingRate {
        ProcessingRate::parse(text).unwrap()
    }

    #[test]
    fn the_fee_is_rounded_half_up_to_the_fen_per_payment() {
        // 0.60% of 88.88 is 0.53328; of 0.75 it is 0.0045; of 0.84, 0.00504.
        assert_eq!(rate("0.0060").fee(amount("88.88")).to_string(), "0.53");
        assert_eq!(rate("0.0060").fee(amount("0.75")).to_string(), "0.00");
        assert_eq!(rate("0.0060").fee(amount("0.84")).to_string(), "0.01");
        // 0.38% of 25.00 is exactly 0.095: the half goes up.
        assert_eq!(rate("0.0038").fee(amount("25.00")).to_string(), "0.10");
        assert_eq!(rate("0.0500").fee(amount("100.00")).to_string(), "5.00");
        assert_eq!(rate("0").fee(amount("100.00")).to_string(), "0.00");
    }

    #[test]
    fn rates_are_fractions_up_to_five_percent() {
        assert_eq!(rate("0.006").to_string(), "0.006");
        for (text, error) in [
            ("0.6", ProcessingRateError::TooHigh),
            ("0.05001", ProcessingRateError::NotARate),
            (".006", ProcessingRateError::NotARate),
            ("00.006", ProcessingRateError::NotARate),
            ("0.", ProcessingRateError::NotARate),
            ("000", ProcessingRateError::NotARate),
            ("0.0501", ProcessingRateError::TooHigh),
            ("0.00601", ProcessingRateError::NotARate),
            ("-0.006", ProcessingRateError::NotARate),
            ("0.6%", ProcessingRateError::NotARate),
            ("", ProcessingRateError::NotARate),
        ] {
            assert_eq!(ProcessingRate::parse(text), Err(error), "{text}");
        }
    }

    #[test]
    fn only_providers_that_bill_a_fee_per_payment_take_a_rate() {
        for provider in [Provider::Douyin, Provider::Sandbox] {
            let rates = BTreeMap::from([
                (Provider::Wechatpay, rate("0.0060")),
                (provider, rate("0.0060")),
            ]);
            assert_eq!(
                ProcessingRates::new(rates),
                Err(ProcessingRateError::NoFeePerPayment(provider))
            );
        }
        let rates =
            ProcessingRates::new(BTreeMap::from([(Provider::Alipay, rate("0.0055"))])).unwrap();
        assert_eq!(
            rates.fee(Provider::Alipay, amount("200.00")).to_string(),
            "1.10"
        );
        assert_eq!(
            rates.fee(Provider::Wechatpay, amount("200.00")),
            Money::ZERO
        );
    }

    #[test]
    fn rates_keep_their_text_form_and_are_read_back_as_stored() {
        let rates = ProcessingRates::new(BTreeMap::from([
            (Provider::Wechatpay, rate("0.0060")),
            (Provider::Alipay, rate("0.0055")),
        ]))
        .unwrap();
        let text = serde_json::to_string(&rates).unwrap();
        assert_eq!(text, r#"{"wechatpay":"0.0060","alipay":"0.0055"}"#);
        assert_eq!(
            serde_json::from_str::<ProcessingRates>(&text).unwrap(),
            rates
        );
        // What was stored is read back as it was, whatever the rule is now.
        let stored: ProcessingRates = serde_json::from_str(r#"{"wechatpay":"0.0600"}"#).unwrap();
        let fee = stored.fee(Provider::Wechatpay, amount("100.00"));
        assert_eq!(fee.to_string(), "6.00");
        // A stored rate for a provider that keeps no fee per payment books
        // none; not a rate at all is still refused.
        let douyin: ProcessingRates = serde_json::from_str(r#"{"douyin":"0.0060"}"#).unwrap();
        assert_eq!(douyin.fee(Provider::Douyin, amount("100.00")), Money::ZERO);
        assert!(serde_json::from_str::<ProcessingRates>(r#"{"wechatpay":"1.5"}"#).is_err());
    }
}
