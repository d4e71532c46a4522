//! Monthly pay (月付) instalment plans (SPEC §3): 3, 6 or 12 periods whose
//! amounts in fen add up exactly to what is financed, the first period
//! carrying the remainder ("first instalment only ¥X").

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::money::{Amount, Money};
pub use crate::plan_terms::{FeeRate, FeeRateError, PlanPeriods, UnsupportedPeriods};
use crate::shop::{FeePayer, InstalmentConfig};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstalmentError {
    #[error("monthly pay comes in 3, 6 or 12 periods, not {0}")]
    UnsupportedPeriods(u8),
    #[error("this shop does not offer a {0}-period plan")]
    PlanNotOffered(PlanPeriods),
    #[error("monthly pay needs at least {min} (this order is {amount})")]
    BelowMinimum { min: Amount, amount: Amount },
    #[error("{amount} is too small to split into {periods} periods")]
    TooSmallToSplit {
        amount: Amount,
        periods: PlanPeriods,
    },
    #[error("the amount with the buyer's fee exceeds the largest amount")]
    TooLarge,
}

impl From<UnsupportedPeriods> for InstalmentError {
    fn from(e: UnsupportedPeriods) -> InstalmentError {
        InstalmentError::UnsupportedPeriods(e.0)
    }
}

impl InstalmentError {
    /// Stable API code.
    pub fn code(&self) -> &'static str {
        match self {
            InstalmentError::UnsupportedPeriods(_) => "INVALID_REQUEST",
            InstalmentError::PlanNotOffered(_) => "INSTALMENT_PLAN_NOT_OFFERED",
            InstalmentError::BelowMinimum { .. } => "INSTALMENT_AMOUNT_TOO_LOW",
            InstalmentError::TooSmallToSplit { .. } => "INSTALMENT_AMOUNT_TOO_LOW",
            InstalmentError::TooLarge => "INSTALMENT_AMOUNT_TOO_HIGH",
        }
    }
}

/// The terms of one order's monthly-pay plan, fixed when the code is issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalmentPlan {
    pub periods: PlanPeriods,
    pub fee_payer: FeePayer,
    pub fee_rate: FeeRate,
    /// The provider's fee for the plan: order amount × rate, rounded half up to fen.
    pub fee: Money,
    /// What the buyer repays in total: the amount, plus the fee when the buyer pays it.
    pub financed: Amount,
    /// Per period, 1-based in order; sums exactly to `financed`.
    pub schedule: Schedule,
}

/// The amounts of a plan's periods, in order: never empty. [`plan`] builds
/// one of 3, 6 or 12 periods and a stored one with none is refused when
/// read, so the first period always exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Amount>", into = "Vec<Amount>")]
pub struct Schedule(Vec<Amount>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a schedule has at least one period")]
pub struct EmptySchedule;

impl Schedule {
    /// The first period's amount (which carries the remainder).
    pub fn first(&self) -> Amount {
        *self
            .0
            .first()
            .expect("a Schedule is never empty: TryFrom, its only constructor, refuses none")
    }
}

impl TryFrom<Vec<Amount>> for Schedule {
    type Error = EmptySchedule;

    fn try_from(periods: Vec<Amount>) -> Result<Schedule, EmptySchedule> {
        if periods.is_empty() {
            return Err(EmptySchedule);
        }
        Ok(Schedule(periods))
    }
}

impl From<Schedule> for Vec<Amount> {
    fn from(schedule: Schedule) -> Vec<Amount> {
        schedule.0
    }
}

impl std::ops::Deref for Schedule {
    type Target = [Amount];

    fn deref(&self) -> &[Amount] {
        &self.0
    }
}

impl InstalmentPlan {
    pub fn first_amount(&self) -> Amount {
        self.schedule.first()
    }

    /// The fee the shop bears (deducted from what it is credited).
    pub fn shop_fee(&self) -> Money {
        match self.fee_payer {
            FeePayer::Shop => self.fee,
            FeePayer::Buyer => Money::ZERO,
        }
    }

    /// The amount due for a 1-based period, if the plan has it.
    pub fn period_amount(&self, period: u8) -> Option<Amount> {
        let index = usize::from(period).checked_sub(1)?;
        self.schedule.get(index).copied()
    }
}

/// The fee rate of a plan the shop offers: one with a rate set.
pub fn offered_rate(
    periods: PlanPeriods,
    config: &InstalmentConfig,
) -> Result<FeeRate, InstalmentError> {
    config
        .fee_rates
        .get(&periods)
        .copied()
        .ok_or(InstalmentError::PlanNotOffered(periods))
}

/// Builds the plan for `amount` over `periods` with the shop's terms.
pub fn plan(
    amount: Amount,
    periods: PlanPeriods,
    config: &InstalmentConfig,
) -> Result<InstalmentPlan, InstalmentError> {
    let fee_rate = offered_rate(periods, config)?;
    if amount < config.min_amount {
        return Err(InstalmentError::BelowMinimum {
            min: config.min_amount,
            amount,
        });
    }
    let fee_decimal = (amount.decimal() * fee_rate.decimal())
        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    let fee = Money::from_fen(decimal_fen(fee_decimal)).unwrap_or(Money::ZERO);
    let financed_fen = match config.fee_payer {
        FeePayer::Shop => amount.fen(),
        FeePayer::Buyer => amount.fen() + fee.fen(),
    };
    let financed = Amount::from_fen(financed_fen).map_err(|_| InstalmentError::TooLarge)?;
    let too_small = InstalmentError::TooSmallToSplit { amount, periods };
    let schedule = split_fen(financed_fen, periods.as_u8())
        .into_iter()
        .map(Amount::from_fen)
        .collect::<Result<Vec<_>, _>>()
        .ok()
        .and_then(|parts| Schedule::try_from(parts).ok())
        .ok_or(too_small)?;
    Ok(InstalmentPlan {
        periods,
        fee_payer: config.fee_payer,
        fee_rate,
        fee,
        financed,
        schedule,
    })
}

/// Splits `total_fen` into `periods` parts: equal, the first one carrying
/// the remainder. Parts may be zero only when `total_fen < periods`.
pub fn split_fen(total_fen: i64, periods: u8) -> Vec<i64> {
    let n = i64::from(periods.max(1));
    let base = total_fen / n;
    let remainder = total_fen % n;
    (0..n)
        .map(|i| if i == 0 { base + remainder } else { base })
        .collect()
}

fn decimal_fen(value: Decimal) -> i64 {
    i64::try_from(value * Decimal::ONE_HUNDRED).unwrap_or(0)
}

/// Where one period of a plan stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeductionStatus {
    Pending,
    Deducted,
    Failed,
}

impl DeductionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeductionStatus::Pending => "PENDING",
            DeductionStatus::Deducted => "DEDUCTED",
            DeductionStatus::Failed => "FAILED",
        }
    }

    /// One letter per period, for compact storage: `P`, `D`, `F`.
    pub fn letter(self) -> char {
        match self {
            DeductionStatus::Pending => 'P',
            DeductionStatus::Deducted => 'D',
            DeductionStatus::Failed => 'F',
        }
    }

    pub fn from_letter(c: char) -> Option<DeductionStatus> {
        match c {
            'P' => Some(DeductionStatus::Pending),
            'D' => Some(DeductionStatus::Deducted),
            'F' => Some(DeductionStatus::Failed),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn amount(text: &str) -> Amount {
        Amount::parse(text).unwrap()
    }

    fn p(periods: u8) -> PlanPeriods {
        PlanPeriods::new(periods).unwrap()
    }

    fn config(payer: FeePayer) -> InstalmentConfig {
        InstalmentConfig {
            fee_payer: payer,
            ..InstalmentConfig::default()
        }
    }

    #[test]
    fn first_period_carries_the_remainder() {
        let p = plan(amount("100.00"), p(3), &config(FeePayer::Shop)).unwrap();
        let fen: Vec<i64> = p.schedule.iter().map(|a| a.fen()).collect();
        assert_eq!(fen, vec![3334, 3333, 3333]);
        assert_eq!(p.first_amount(), amount("33.34"));
        assert_eq!(p.fee, Money::parse("2.30").unwrap());
        assert_eq!(p.financed, amount("100.00"));
        assert_eq!(p.shop_fee(), Money::parse("2.30").unwrap());
    }

    #[test]
    fn a_buyer_paid_fee_is_financed_with_the_order() {
        // 1234.56 × 0.0750 = 92.592 → 92.59; financed 1327.15 over 12.
        let p = plan(amount("1234.56"), p(12), &config(FeePayer::Buyer)).unwrap();
        assert_eq!(p.fee, Money::parse("92.59").unwrap());
        assert_eq!(p.financed, amount("1327.15"));
        assert_eq!(p.first_amount(), amount("110.66"));
        assert_eq!(p.schedule[1], amount("110.59"));
        assert_eq!(p.shop_fee(), Money::ZERO);
    }

    #[test]
    fn fees_round_half_up_to_the_fen() {
        // 150.00 × 0.0230 = 3.45 exactly; 100.50 × 0.0450 = 4.5225 → 4.52;
        // 101.00 × 0.0450 = 4.545 → 4.55.
        let c = config(FeePayer::Shop);
        assert_eq!(plan(amount("150.00"), p(3), &c).unwrap().fee.fen(), 345);
        assert_eq!(plan(amount("100.50"), p(6), &c).unwrap().fee.fen(), 452);
        assert_eq!(plan(amount("101.00"), p(6), &c).unwrap().fee.fen(), 455);
    }

    #[test]
    fn below_the_shop_minimum_is_refused_and_exactly_the_minimum_is_not() {
        let c = config(FeePayer::Shop);
        let err = plan(amount("99.99"), p(3), &c).unwrap_err();
        assert_eq!(err.code(), "INSTALMENT_AMOUNT_TOO_LOW");
        assert!(plan(amount("100.00"), p(3), &c).is_ok());
    }

    #[test]
    fn only_offered_plans_of_3_6_12_periods() {
        let mut c = config(FeePayer::Shop);
        assert_eq!(
            PlanPeriods::new(4)
                .map_err(InstalmentError::from)
                .and_then(|periods| plan(amount("500.00"), periods, &c)),
            Err(InstalmentError::UnsupportedPeriods(4))
        );
        c.fee_rates.remove(&p(12));
        assert_eq!(
            plan(amount("500.00"), p(12), &c),
            Err(InstalmentError::PlanNotOffered(p(12)))
        );
    }

    #[test]
    fn a_tiny_minimum_cannot_produce_zero_periods() {
        let c = InstalmentConfig {
            min_amount: amount("0.01"),
            ..config(FeePayer::Shop)
        };
        assert!(matches!(
            plan(amount("0.11"), p(12), &c),
            Err(InstalmentError::TooSmallToSplit { .. })
        ));
        assert_eq!(plan(amount("0.12"), p(12), &c).unwrap().schedule.len(), 12);
    }

    #[test]
    fn a_stored_plan_without_periods_is_refused_when_read() {
        let p = plan(amount("100.00"), p(3), &config(FeePayer::Shop)).unwrap();
        let mut stored = serde_json::to_value(&p).unwrap();
        assert_eq!(
            stored["schedule"],
            serde_json::json!(["33.34", "33.33", "33.33"])
        );
        assert_eq!(
            serde_json::from_value::<InstalmentPlan>(stored.clone()).unwrap(),
            p
        );
        stored["schedule"] = serde_json::json!([]);
        let refused = serde_json::from_value::<InstalmentPlan>(stored).unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("a schedule has at least one period"),
            "{refused}"
        );
    }

    proptest! {
        #[test]
        fn schedules_sum_exactly_and_differ_by_at_most_the_remainder(
            fen in 10_000i64..=9_999_999_999,
            periods in prop::sample::select(vec![3u8, 6, 12]),
            buyer_pays in any::<bool>(),
        ) {
            let payer = if buyer_pays { FeePayer::Buyer } else { FeePayer::Shop };
            let p = plan(Amount::from_fen(fen).unwrap(), PlanPeriods::new(periods).unwrap(), &config(payer));
            // The buyer-paid fee can push the financed total past the maximum amount.
            prop_assume!(p.is_ok());
            let p = p.unwrap();
            let parts: Vec<i64> = p.schedule.iter().map(|a| a.fen()).collect();
            prop_assert_eq!(parts.len(), usize::from(periods));
            prop_assert_eq!(parts.iter().sum::<i64>(), p.financed.fen());
            let remainder = p.financed.fen() % i64::from(periods);
            let max = *parts.iter().max().unwrap();
            let min = *parts.iter().min().unwrap();
            prop_assert!(max - min <= remainder);
            prop_assert_eq!(parts[0], max);
            prop_assert!(parts[1..].iter().all(|&x| x == parts[1]));
            let expected_financed = if buyer_pays { fen + p.fee.fen() } else { fen };
            prop_assert_eq!(p.financed.fen(), expected_financed);
        }

        #[test]
        fn split_fen_sums_exactly_for_any_total(total in 0i64..=i64::MAX / 2, periods in 1u8..=12) {
            let parts = split_fen(total, periods);
            prop_assert_eq!(parts.iter().sum::<i64>(), total);
            prop_assert!(parts[0] - parts[parts.len() - 1] == total % i64::from(periods));
        }
    }
}
