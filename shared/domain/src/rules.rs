//! The nine payout rules of SPEC §4 as one pure evaluation, and their constants.
//!
//! Stores call `evaluate_payout` with the facts as they were at one moment and
//! then make the same checks conditions of the write that reserves the money,
//! so the rules hold under any concurrency. This is the one place they live.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::collection::Provider;
use crate::ids::{IdempotencyKey, OperatorId, OrderId, PayoutId, ShopId};
use crate::money::{Amount, Money};
use crate::order::{Order, OrderStatus};
use crate::payee::PayoutChannels;
use crate::payout::{Payout, PayoutReason, PayoutStatus};
use crate::shop::{PayoutQuota, Shop};
use crate::text::PayoutNote;
use crate::time::BusinessDate;

/// Rule 1: at most this many live payouts per order.
pub const MAX_LIVE_PAYOUTS_PER_ORDER: u32 = 5;
/// Rule 2: at most one payout per order per this many seconds.
pub const ORDER_PAYOUT_INTERVAL_S: i64 = 60;
/// Rule 5: a shop's daily payout cap unless configured (¥15,000.00); it
/// lives with the shop setup that applies it.
pub use crate::shop::DEFAULT_SHOP_DAILY_CAP_FEN;

/// Why a payout was refused, with the headroom left where there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayoutRefusal {
    #[error("order not found in this shop")]
    OrderNotFound,
    #[error("order is {}, payouts need a paid order", .status.as_str())]
    OrderNotPayable { status: OrderStatus },
    #[error("no configured provider can pay this order's buyer back")]
    ChannelUnavailable,
    #[error("this sub-account has no enabled payout quota")]
    OperatorNoQuota,
    #[error("amount is above this sub-account's per-payout limit of {limit}")]
    OperatorSingleLimitExceeded { limit: Amount },
    #[error("the order already has {MAX_LIVE_PAYOUTS_PER_ORDER} live payouts")]
    OrderPayoutCountExceeded,
    #[error("one payout per order every {ORDER_PAYOUT_INTERVAL_S} s; retry in {retry_after_s} s")]
    TooFrequent { retry_after_s: u64 },
    #[error("payouts would exceed the order's paid amount; {remaining} left")]
    ExceedsOrderPaidAmount { remaining: Money },
    #[error("payouts would exceed this sub-account's daily limit; {remaining} left today")]
    OperatorDailyLimitExceeded { remaining: Money },
    #[error("payouts would exceed the shop's daily cap; {remaining} left today")]
    ShopDailyCapExceeded { remaining: Money },
    #[error("the shop's payout balance is too low; {remaining} available")]
    InsufficientBalance { remaining: Money },
}

impl PayoutRefusal {
    /// The stable error code of API.md / SPEC §4.
    pub fn code(&self) -> &'static str {
        match self {
            PayoutRefusal::OrderNotFound => "ORDER_NOT_FOUND",
            PayoutRefusal::OrderNotPayable { .. } => "ORDER_NOT_PAYABLE",
            PayoutRefusal::ChannelUnavailable => "PAYOUT_CHANNEL_UNAVAILABLE",
            PayoutRefusal::OperatorNoQuota => "OPERATOR_NO_QUOTA",
            PayoutRefusal::OperatorSingleLimitExceeded { .. } => "OPERATOR_SINGLE_LIMIT_EXCEEDED",
            PayoutRefusal::OrderPayoutCountExceeded => "ORDER_PAYOUT_COUNT_EXCEEDED",
            PayoutRefusal::TooFrequent { .. } => "PAYOUT_TOO_FREQUENT",
            PayoutRefusal::ExceedsOrderPaidAmount { .. } => "EXCEEDS_ORDER_PAID_AMOUNT",
            PayoutRefusal::OperatorDailyLimitExceeded { .. } => "OPERATOR_DAILY_LIMIT_EXCEEDED",
            PayoutRefusal::ShopDailyCapExceeded { .. } => "SHOP_DAILY_CAP_EXCEEDED",
            PayoutRefusal::InsufficientBalance { .. } => "INSUFFICIENT_BALANCE",
        }
    }

    /// The rule's number in SPEC §4.
    pub fn rule(&self) -> u8 {
        match self {
            PayoutRefusal::OrderPayoutCountExceeded => 1,
            PayoutRefusal::TooFrequent { .. } => 2,
            PayoutRefusal::OperatorNoQuota => 3,
            PayoutRefusal::ExceedsOrderPaidAmount { .. } => 4,
            PayoutRefusal::ShopDailyCapExceeded { .. } => 5,
            PayoutRefusal::OperatorSingleLimitExceeded { .. } => 6,
            PayoutRefusal::OperatorDailyLimitExceeded { .. } => 7,
            PayoutRefusal::InsufficientBalance { .. } => 8,
            PayoutRefusal::OrderNotFound
            | PayoutRefusal::OrderNotPayable { .. }
            | PayoutRefusal::ChannelUnavailable => 9,
        }
    }

    /// Headroom left under the limit that refused, where the rule has one.
    pub fn remaining(&self) -> Option<Money> {
        match self {
            PayoutRefusal::ExceedsOrderPaidAmount { remaining }
            | PayoutRefusal::OperatorDailyLimitExceeded { remaining }
            | PayoutRefusal::ShopDailyCapExceeded { remaining }
            | PayoutRefusal::InsufficientBalance { remaining } => Some(*remaining),
            PayoutRefusal::OperatorSingleLimitExceeded { limit } => Some(limit.money()),
            _ => None,
        }
    }

    pub fn retry_after_s(&self) -> Option<u64> {
        match self {
            PayoutRefusal::TooFrequent { retry_after_s } => Some(*retry_after_s),
            _ => None,
        }
    }
}

/// How the operator stands: the main account always may pay out; a
/// sub-account only with an enabled quota (rule 3).
#[derive(Debug, Clone, Copy)]
pub enum OperatorStanding<'a> {
    Owner,
    Staff {
        quota: Option<&'a PayoutQuota>,
        /// The sub-account's live payouts today.
        day_total: Money,
    },
}

/// What the rules look at, as the store saw it at one moment.
#[derive(Debug, Clone, Copy)]
pub struct PayoutFacts<'a> {
    pub shop: &'a Shop,
    /// The order as found under this shop; `None` if it is not there.
    pub order: Option<&'a Order>,
    pub operator: OperatorStanding<'a>,
    /// The shop's live payouts on the business day of `now`.
    pub shop_day_total: Money,
    pub amount: Amount,
    /// Who can deliver a payout on this stage (SPEC §9).
    pub channels: PayoutChannels,
    pub now: DateTime<Utc>,
}

/// Headroom left after an accepted payout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayoutHeadroom {
    pub order_remaining: Money,
    pub shop_day_remaining: Money,
    pub operator_day_remaining: Option<Money>,
    pub balance_remaining: Money,
}

/// Evaluates every payout rule. Order: the order must be payable (9), the
/// operator allowed (3, 6), then the order's limits (1, 2, 4), the
/// operator's day (7), the shop's day (5) and the balance (8).
pub fn evaluate_payout(facts: &PayoutFacts<'_>) -> Result<PayoutHeadroom, PayoutRefusal> {
    let amount = facts.amount.money();
    let order = facts.order.ok_or(PayoutRefusal::OrderNotFound)?;
    if order.shop_id != facts.shop.shop_id {
        return Err(PayoutRefusal::OrderNotFound);
    }
    if !order.status.admits_payouts() {
        return Err(PayoutRefusal::OrderNotPayable {
            status: order.status,
        });
    }
    // Refused now rather than accepted and left stuck (SPEC §9).
    if !facts.channels.can_pay_back(order, facts.amount) {
        return Err(PayoutRefusal::ChannelUnavailable);
    }

    let operator_day = match facts.operator {
        OperatorStanding::Owner => None,
        OperatorStanding::Staff { quota, day_total } => {
            let quota = quota
                .filter(|q| q.enabled)
                .ok_or(PayoutRefusal::OperatorNoQuota)?;
            if facts.amount > quota.per_payout_limit() {
                return Err(PayoutRefusal::OperatorSingleLimitExceeded {
                    limit: quota.per_payout_limit(),
                });
            }
            Some((quota.daily_limit().money(), day_total))
        }
    };

    if order.payouts_live_count >= MAX_LIVE_PAYOUTS_PER_ORDER {
        return Err(PayoutRefusal::OrderPayoutCountExceeded);
    }
    if let Some(retry_after_s) = seconds_until_next_payout(order, facts.now) {
        return Err(PayoutRefusal::TooFrequent { retry_after_s });
    }
    let order_remaining = within(order.payout_ceiling(), order.payouts_live_total, amount)
        .map_err(|remaining| PayoutRefusal::ExceedsOrderPaidAmount { remaining })?;
    let operator_day_remaining = match operator_day {
        None => None,
        Some((limit, used)) => Some(
            within(limit, used, amount)
                .map_err(|remaining| PayoutRefusal::OperatorDailyLimitExceeded { remaining })?,
        ),
    };
    let shop_day_remaining = within(
        facts.shop.daily_payout_cap.money(),
        facts.shop_day_total,
        amount,
    )
    .map_err(|remaining| PayoutRefusal::ShopDailyCapExceeded { remaining })?;
    let balance_remaining = facts.shop.payout_balance.checked_sub(amount).ok_or(
        PayoutRefusal::InsufficientBalance {
            remaining: facts.shop.payout_balance,
        },
    )?;

    Ok(PayoutHeadroom {
        order_remaining,
        shop_day_remaining,
        operator_day_remaining,
        balance_remaining,
    })
}

/// `used + amount ≤ limit`: Ok(headroom after) or Err(headroom before).
fn within(limit: Money, used: Money, amount: Money) -> Result<Money, Money> {
    let before = limit.headroom_over(used);
    before.checked_sub(amount).ok_or(before)
}

/// Rule 2: seconds to wait before this order may take another payout.
fn seconds_until_next_payout(order: &Order, now: DateTime<Utc>) -> Option<u64> {
    let last = order.last_payout_at?;
    let wait_ms = last.timestamp_millis() + ORDER_PAYOUT_INTERVAL_S * 1000 - now.timestamp_millis();
    // Round up: "retry in 0 s" would be a lie.
    (wait_ms > 0).then(|| u64::try_from((wait_ms + 999) / 1000).unwrap_or(1))
}

/// The latest last-payout instant that still admits a payout at `now`.
pub fn latest_admissible_last_payout(now: DateTime<Utc>) -> i64 {
    now.timestamp_millis() - ORDER_PAYOUT_INTERVAL_S * 1000
}

/// A payout a merchant asked for, ready to be reserved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutRequest {
    pub payout_id: PayoutId,
    pub shop_id: ShopId,
    pub order_id: OrderId,
    pub operator_id: OperatorId,
    pub amount: Amount,
    pub reason: PayoutReason,
    pub note: Option<PayoutNote>,
    pub idempotency_key: IdempotencyKey,
    /// The providers this stage can pay back through; not part of the
    /// request's fingerprint (it is the stage's, not the merchant's).
    pub channels: PayoutChannels,
    pub now: DateTime<Utc>,
}

impl PayoutRequest {
    /// What makes two requests under one `Idempotency-Key` "the same":
    /// everything the merchant chose, hashed (SHA-256, hex).
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        for part in [
            self.shop_id.as_str(),
            self.order_id.as_str(),
            self.operator_id.as_str(),
            &self.amount.to_string(),
            self.reason.as_str(),
            self.note.as_ref().map_or("", PayoutNote::as_str),
        ] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        hex::encode(h.finalize())
    }

    pub fn business_date(&self) -> BusinessDate {
        BusinessDate::of(self.now)
    }

    /// The payout this request becomes once reserved.
    pub fn to_payout(&self, counted_for_operator: bool, provider: Option<Provider>) -> Payout {
        Payout {
            payout_id: self.payout_id.clone(),
            shop_id: self.shop_id.clone(),
            order_id: self.order_id.clone(),
            operator_id: self.operator_id.clone(),
            counted_for_operator,
            amount: self.amount,
            reason: self.reason,
            note: self.note.clone(),
            status: PayoutStatus::Pending,
            failure_reason: None,
            business_date: self.business_date(),
            idempotency_key: self.idempotency_key.clone(),
            provider,
            payee_action: None,
            created_at: self.now,
            updated_at: self.now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shop::InstalmentConfig;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000 + s, 0).unwrap()
    }
    fn money(s: &str) -> Money {
        Money::parse(s).unwrap()
    }
    fn amount(s: &str) -> Amount {
        Amount::parse(s).unwrap()
    }

    fn shop(cap: &str, balance: &str) -> Shop {
        Shop {
            shop_id: ShopId::parse("s1").unwrap(),
            name: crate::text::ShopName::parse("Tea").unwrap(),
            owner_operator_id: OperatorId::parse("owner").unwrap(),
            daily_payout_cap: amount(cap),
            payout_balance: money(balance),
            payout_held: Money::ZERO,
            instalments: InstalmentConfig::default(),
            instalment_grace_days: Default::default(),
            branding: crate::Branding::default(),
            controls: Default::default(),
            processing_rates: Default::default(),
            created_at: t(0),
            updated_at: t(0),
        }
    }

    fn order(paid: &str) -> Order {
        Order {
            paid_amount: money(paid),
            status: OrderStatus::Paid,
            provider: Some(Provider::Sandbox),
            ..Order::created(
                OrderId::parse("o1").unwrap(),
                ShopId::parse("s1").unwrap(),
                amount(paid),
                t(0),
            )
        }
    }

    fn quota(per: &str, daily: &str) -> PayoutQuota {
        PayoutQuota::new(
            ShopId::parse("s1").unwrap(),
            OperatorId::parse("staff").unwrap(),
            true,
            amount(per),
            amount(daily),
            t(0),
        )
        .unwrap()
    }

    fn facts<'a>(shop: &'a Shop, order: Option<&'a Order>, amt: &str) -> PayoutFacts<'a> {
        PayoutFacts {
            shop,
            order,
            operator: OperatorStanding::Owner,
            shop_day_total: Money::ZERO,
            amount: amount(amt),
            channels: PayoutChannels::of(&[Provider::Sandbox]),
            now: t(1000),
        }
    }

    #[test]
    fn accepts_at_every_exact_boundary_and_reports_headroom() {
        let s = shop("100.00", "100.00");
        let o = order("100.00");
        let q = quota("100.00", "100.00");
        let mut f = facts(&s, Some(&o), "100.00");
        f.operator = OperatorStanding::Staff {
            quota: Some(&q),
            day_total: Money::ZERO,
        };
        let h = evaluate_payout(&f).unwrap();
        assert_eq!(h.order_remaining, Money::ZERO);
        assert_eq!(h.shop_day_remaining, Money::ZERO);
        assert_eq!(h.operator_day_remaining, Some(Money::ZERO));
        assert_eq!(h.balance_remaining, Money::ZERO);
    }

    #[test]
    fn one_fen_over_each_limit_names_the_rule_and_headroom() {
        let s = shop("100.00", "1000.00");
        let mut o = order("500.00");
        o.payouts_live_total = money("450.00");
        let f = facts(&s, Some(&o), "50.01");
        assert_eq!(
            evaluate_payout(&f),
            Err(PayoutRefusal::ExceedsOrderPaidAmount {
                remaining: money("50.00")
            })
        );

        let o = order("500.00");
        let mut f = facts(&s, Some(&o), "40.01");
        f.shop_day_total = money("60.00");
        assert_eq!(
            evaluate_payout(&f),
            Err(PayoutRefusal::ShopDailyCapExceeded {
                remaining: money("40.00")
            })
        );

        let poor = shop("100.00", "9.99");
        let f = facts(&poor, Some(&o), "10.00");
        let err = evaluate_payout(&f).unwrap_err();
        assert_eq!(err.code(), "INSUFFICIENT_BALANCE");
        assert_eq!(err.remaining(), Some(money("9.99")));
    }

    #[test]
    fn sub_account_rules() {
        let s = shop("15000.00", "1000.00");
        let o = order("500.00");
        let mut f = facts(&s, Some(&o), "10.00");
        f.operator = OperatorStanding::Staff {
            quota: None,
            day_total: Money::ZERO,
        };
        assert_eq!(evaluate_payout(&f), Err(PayoutRefusal::OperatorNoQuota));

        let mut disabled = quota("50.00", "100.00");
        disabled.enabled = false;
        f.operator = OperatorStanding::Staff {
            quota: Some(&disabled),
            day_total: Money::ZERO,
        };
        assert_eq!(evaluate_payout(&f), Err(PayoutRefusal::OperatorNoQuota));

        let q = quota("50.00", "100.00");
        f.amount = amount("50.01");
        f.operator = OperatorStanding::Staff {
            quota: Some(&q),
            day_total: Money::ZERO,
        };
        assert_eq!(
            evaluate_payout(&f).unwrap_err().code(),
            "OPERATOR_SINGLE_LIMIT_EXCEEDED"
        );

        f.amount = amount("20.01");
        f.operator = OperatorStanding::Staff {
            quota: Some(&q),
            day_total: money("80.00"),
        };
        assert_eq!(
            evaluate_payout(&f),
            Err(PayoutRefusal::OperatorDailyLimitExceeded {
                remaining: money("20.00")
            })
        );
    }

    #[test]
    fn order_rules_count_frequency_and_status() {
        let s = shop("15000.00", "1000.00");
        assert_eq!(
            evaluate_payout(&facts(&s, None, "1.00")),
            Err(PayoutRefusal::OrderNotFound)
        );

        let mut o = order("500.00");
        o.status = OrderStatus::Created;
        assert_eq!(
            evaluate_payout(&facts(&s, Some(&o), "1.00"))
                .unwrap_err()
                .code(),
            "ORDER_NOT_PAYABLE"
        );

        let mut o = order("500.00");
        o.payouts_live_count = MAX_LIVE_PAYOUTS_PER_ORDER;
        assert_eq!(
            evaluate_payout(&facts(&s, Some(&o), "1.00")),
            Err(PayoutRefusal::OrderPayoutCountExceeded)
        );

        let mut o = order("500.00");
        o.last_payout_at = Some(t(1000 - 59));
        assert_eq!(
            evaluate_payout(&facts(&s, Some(&o), "1.00")),
            Err(PayoutRefusal::TooFrequent { retry_after_s: 1 })
        );
        o.last_payout_at = Some(t(1000 - 60));
        assert!(evaluate_payout(&facts(&s, Some(&o), "1.00")).is_ok());
    }

    #[test]
    fn fingerprint_changes_with_any_field() {
        let base = PayoutRequest {
            payout_id: PayoutId::parse("po_1").unwrap(),
            shop_id: ShopId::parse("s1").unwrap(),
            order_id: OrderId::parse("o1").unwrap(),
            operator_id: OperatorId::parse("owner").unwrap(),
            amount: amount("1.00"),
            reason: PayoutReason::Other,
            note: None,
            idempotency_key: IdempotencyKey::parse("k").unwrap(),
            channels: PayoutChannels::of(&[Provider::Sandbox]),
            now: t(0),
        };
        let mut other = base.clone();
        other.payout_id = PayoutId::parse("po_2").unwrap();
        other.now = t(5);
        assert_eq!(
            base.fingerprint(),
            other.fingerprint(),
            "id and time are not the merchant's choice"
        );
        other.amount = amount("1.01");
        assert_ne!(base.fingerprint(), other.fingerprint());
        let mut noted = base.clone();
        noted.note = Some(PayoutNote::parse("x").unwrap());
        assert_ne!(base.fingerprint(), noted.fingerprint());
    }
}
