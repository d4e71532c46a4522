//! Every balance change a payout makes, decided once (SPEC §4).
//!
//! Reserving a payout, releasing it (it failed) and settling it (the money
//! left) are decisions taken here from what a store read. Each returns a
//! [`PayoutEffect`]: the payout afterwards and the exact change of every
//! counter it touches (the order's live payouts, the shop's balance and
//! hold, the shop's and the sub-account's day), with the bounds each counter
//! must still be within when the change is written, and what it leaves
//! behind (a notice, a ledger entry). A store only translates an effect —
//! into map updates under its lock, or into the conditional writes of one
//! DynamoDB transaction — so the accounting cannot differ between stores.
//!
//! Invariants every effect keeps ([`PayoutEffect::check`]): available +
//! held moves only by the ledger amount; counters move by exactly one
//! payout. Invariants every state keeps ([`check_books`]): the hold is never
//! negative, an order never has more than [`MAX_LIVE_PAYOUTS_PER_ORDER`]
//! live payouts nor live payouts beyond its ceiling.

use chrono::{DateTime, Utc};

use crate::execution::{bounded_detail, LedgerEntry, LedgerKind, Notice, NoticeKind};
use crate::ids::{OperatorId, OrderId};
use crate::money::Money;
use crate::order::Order;
use crate::payout::{Payout, PayoutStatus};
use crate::rules::{
    evaluate_payout, latest_admissible_last_payout, OperatorStanding, PayoutFacts, PayoutRefusal,
    PayoutRequest, MAX_LIVE_PAYOUTS_PER_ORDER,
};
use crate::shop::{PayoutQuota, Shop};
use crate::time::BusinessDate;

/// A counter of live payouts for one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DayTotals {
    pub total: Money,
    pub count: u32,
}

/// Everything the payout rules look at, as a store read it at one moment.
#[derive(Debug, Clone, Default)]
pub struct PayoutSnapshot {
    pub shop: Option<Shop>,
    pub order: Option<Order>,
    /// The operator's quota (only a sub-account's is looked at).
    pub quota: Option<PayoutQuota>,
    pub shop_day: DayTotals,
    pub operator_day: DayTotals,
}

impl PayoutSnapshot {
    /// The facts the rules of SPEC §4 evaluate, for `request` in `shop`.
    pub fn facts<'a>(&'a self, shop: &'a Shop, request: &PayoutRequest) -> PayoutFacts<'a> {
        let operator = if request.operator_id == shop.owner_operator_id {
            OperatorStanding::Owner
        } else {
            OperatorStanding::Staff {
                quota: self.quota.as_ref(),
                day_total: self.operator_day.total,
            }
        };
        PayoutFacts {
            shop,
            order: self.order.as_ref(),
            operator,
            shop_day_total: self.shop_day.total,
            amount: request.amount,
            channels: request.channels,
            now: request.now,
        }
    }
}

/// Why an effect could not be applied to the state a store holds: the books
/// disagree with the payout (a bug or a corrupted record, never the caller's
/// input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the books do not hold: {0}")]
pub struct BooksError(pub String);

fn broken(what: impl Into<String>) -> BooksError {
    BooksError(what.into())
}

/// A signed change of a (total, count) counter, and the bounds the counter
/// must be within before it (so that a limit still holds after it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterChange {
    pub total_fen: i64,
    pub count: i64,
    /// The most the total may be before the change (a limit it must fit in).
    pub max_total_before_fen: Option<i64>,
    /// The most the count may be before the change.
    pub max_count_before: Option<i64>,
}

impl CounterChange {
    fn reserve(amount_fen: i64, max_total_before_fen: Option<i64>) -> CounterChange {
        CounterChange {
            total_fen: amount_fen,
            count: 1,
            max_total_before_fen,
            max_count_before: None,
        }
    }

    fn release(amount_fen: i64) -> CounterChange {
        CounterChange {
            total_fen: -amount_fen,
            count: -1,
            max_total_before_fen: None,
            max_count_before: None,
        }
    }

    /// The least the total must be before the change, so it never goes
    /// below zero (a release gives back only what was reserved).
    pub fn min_total_before_fen(&self) -> i64 {
        (-self.total_fen).max(0)
    }

    /// The least the count must be before the change.
    pub fn min_count_before(&self) -> i64 {
        (-self.count).max(0)
    }

    /// The counter after the change, if the counter is within its bounds.
    pub fn apply(&self, total: Money, count: u32) -> Result<(Money, u32), BooksError> {
        let (total_fen, count_before) = (total.fen(), i64::from(count));
        let within = total_fen >= self.min_total_before_fen()
            && count_before >= self.min_count_before()
            && self.max_total_before_fen.is_none_or(|max| total_fen <= max)
            && self.max_count_before.is_none_or(|max| count_before <= max);
        if !within {
            return Err(broken(format!(
                "counter {total}/{count} outside the bounds of {self:?}"
            )));
        }
        let new_total = Money::from_fen(total_fen + self.total_fen)
            .ok_or_else(|| broken("counter total out of range"))?;
        let new_count = u32::try_from(count_before + self.count)
            .map_err(|_| broken("counter count out of range"))?;
        Ok((new_total, new_count))
    }

    /// [`CounterChange::apply`] to a day's totals.
    pub fn apply_day(&self, day: DayTotals) -> Result<DayTotals, BooksError> {
        let (total, count) = self.apply(day.total, day.count)?;
        Ok(DayTotals { total, count })
    }
}

/// What a reservation needs of the order, as the rules saw it: payable,
/// with the ceiling they evaluated, and rule 2's interval passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayableGuard {
    pub paid: Money,
    pub refunded: Money,
    /// Our refunds in flight as read: the ceiling counts them, so a refund
    /// reserved meanwhile makes the payout decide again (one bound for both
    /// kinds, see `crate::refund`).
    pub refunds_pending: Money,
    /// The latest last-payout instant (ms) that still admits this payout.
    pub latest_last_payout_ms: i64,
}

/// The change of an order's live payouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderChange {
    pub order_id: OrderId,
    pub live: CounterChange,
    /// A reservation restarts rule 2's interval.
    pub last_payout_at: Option<DateTime<Utc>>,
    pub payable: Option<PayableGuard>,
    pub updated_at: DateTime<Utc>,
}

impl OrderChange {
    /// The order after the change, if it is as the change expects.
    pub fn apply(&self, order: &Order) -> Result<Order, BooksError> {
        if let Some(guard) = &self.payable {
            let as_read = order.status.admits_payouts()
                && order.paid_amount == guard.paid
                && order.refunded_amount == guard.refunded
                && order.refunds_pending_total == guard.refunds_pending
                && order
                    .last_payout_at
                    .is_none_or(|t| t.timestamp_millis() <= guard.latest_last_payout_ms);
            if !as_read {
                return Err(broken(format!("order {} moved", order.order_id)));
            }
        }
        let (total, count) = self
            .live
            .apply(order.payouts_live_total, order.payouts_live_count)?;
        let mut after = order.clone();
        after.payouts_live_total = total;
        after.payouts_live_count = count;
        if let Some(at) = self.last_payout_at {
            after.last_payout_at = Some(at);
        }
        after.updated_at = self.updated_at;
        Ok(after)
    }
}

/// What a reservation needs of the shop, as the rules saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopGuard {
    pub daily_cap_fen: i64,
    pub operator: OperatorId,
    /// Whether `operator` is the shop's main account (rule 3).
    pub operator_is_owner: bool,
}

/// The change of a shop's available balance and hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopChange {
    pub balance_fen: i64,
    pub held_fen: i64,
    pub guard: Option<ShopGuard>,
}

impl ShopChange {
    /// The least the balance must be before the change (never below zero).
    pub fn min_balance_before_fen(&self) -> i64 {
        (-self.balance_fen).max(0)
    }

    /// The least the hold must be before the change (never below zero).
    pub fn min_held_before_fen(&self) -> i64 {
        (-self.held_fen).max(0)
    }

    /// The shop after the change, if it is as the change expects.
    pub fn apply(&self, shop: &Shop) -> Result<Shop, BooksError> {
        if let Some(guard) = &self.guard {
            let as_read = shop.daily_payout_cap.fen() == guard.daily_cap_fen
                && (shop.owner_operator_id == guard.operator) == guard.operator_is_owner;
            if !as_read {
                return Err(broken(format!("shop {} changed", shop.shop_id)));
            }
        }
        let balance = Money::from_fen(shop.payout_balance.fen() + self.balance_fen)
            .ok_or_else(|| broken(format!("shop {} balance below zero", shop.shop_id)))?;
        let held = Money::from_fen(shop.payout_held.fen() + self.held_fen)
            .ok_or_else(|| broken(format!("shop {} hold below zero", shop.shop_id)))?;
        Ok(Shop {
            payout_balance: balance,
            payout_held: held,
            ..shop.clone()
        })
    }
}

/// What a sub-account's reservation needs of its quota, as the rules saw it
/// (rules 3, 6 and 7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaGuard {
    pub operator_id: OperatorId,
    pub daily_limit_fen: i64,
    pub min_per_payout_fen: i64,
}

impl QuotaGuard {
    pub fn holds(&self, quota: Option<&PayoutQuota>) -> bool {
        quota.is_some_and(|q| {
            q.enabled
                && q.per_payout_limit().fen() >= self.min_per_payout_fen
                && q.daily_limit().fen() == self.daily_limit_fen
        })
    }
}

/// How the payout itself changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayoutMove {
    /// A new payout, with the fingerprint of the request that made it (its
    /// `Idempotency-Key` is claimed with it).
    Create { fingerprint: String },
    /// The payout moves to its new status, from any status the state
    /// machine lets reach it.
    To(PayoutStatus),
}

/// One payout decision, ready to be written as one atomic step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutEffect {
    /// The payout afterwards.
    pub payout: Payout,
    pub moved: PayoutMove,
    pub order: Option<OrderChange>,
    pub shop: ShopChange,
    pub shop_day: Option<(BusinessDate, CounterChange)>,
    pub operator_day: Option<(OperatorId, BusinessDate, CounterChange)>,
    pub quota: Option<QuotaGuard>,
    pub notice: Option<Notice>,
    pub ledger: Option<LedgerEntry>,
}

impl PayoutEffect {
    /// The effect keeps the books whole: available + held moves only by the
    /// ledger amount, and every counter moves by this one payout.
    pub fn check(&self) -> Result<(), BooksError> {
        let amount = self.payout.amount.fen();
        let ledger_debit = self.ledger.as_ref().map_or(0, |e| e.amount.fen());
        if self.shop.balance_fen + self.shop.held_fen != -ledger_debit {
            return Err(broken(format!(
                "{}: available + held moves by {} but the ledger by {ledger_debit}",
                self.payout.payout_id,
                self.shop.balance_fen + self.shop.held_fen
            )));
        }
        let counters = self.order.iter().map(|o| &o.live);
        let days = self.shop_day.iter().map(|(_, c)| c);
        let operator = self.operator_day.iter().map(|(_, _, c)| c);
        for change in counters.chain(days).chain(operator) {
            if change.total_fen.abs() != amount || change.count.abs() != 1 {
                return Err(broken(format!(
                    "{}: a counter moves by {change:?}",
                    self.payout.payout_id
                )));
            }
        }
        Ok(())
    }
}

/// The invariants of a shop's and an order's books, whatever happened:
/// live payouts at most [`MAX_LIVE_PAYOUTS_PER_ORDER`] and within the
/// order's paid amount, together with its refunds
/// ([`crate::refund_books::check_order_commitments`]; the hold and balance
/// are `Money`, never negative).
pub fn check_books(order: &Order) -> Result<(), BooksError> {
    crate::refund_books::check_order_commitments(order)?;
    if order.payouts_live_count > MAX_LIVE_PAYOUTS_PER_ORDER {
        return Err(broken(format!(
            "order {} has {} live payouts",
            order.order_id, order.payouts_live_count
        )));
    }
    if order.payouts_live_total > order.paid_amount {
        return Err(broken(format!(
            "order {} pays out {} of {} paid",
            order.order_id, order.payouts_live_total, order.paid_amount
        )));
    }
    Ok(())
}

/// Rules 1–9 of SPEC §4 on what was read; if every rule holds, the
/// reservation: the payout, the order's live count and total, the hold
/// taken from the balance, the shop's and the sub-account's day counters,
/// each bounded so that the rules still hold when it is written.
pub fn reserve_payout(
    shop: &Shop,
    snapshot: &PayoutSnapshot,
    request: &PayoutRequest,
) -> Result<PayoutEffect, PayoutRefusal> {
    let facts = snapshot.facts(shop, request);
    evaluate_payout(&facts)?;
    let order = snapshot
        .order
        .as_ref()
        .ok_or(PayoutRefusal::OrderNotFound)?;
    let amount = request.amount.fen();
    let date = request.business_date();
    let is_owner = matches!(facts.operator, OperatorStanding::Owner);
    let quota = if is_owner {
        None
    } else {
        let q = snapshot
            .quota
            .as_ref()
            .ok_or(PayoutRefusal::OperatorNoQuota)?;
        Some(QuotaGuard {
            operator_id: request.operator_id.clone(),
            daily_limit_fen: q.daily_limit().fen(),
            min_per_payout_fen: amount,
        })
    };
    let mut live = CounterChange::reserve(amount, Some(order.payout_ceiling().fen() - amount));
    live.max_count_before = Some(i64::from(MAX_LIVE_PAYOUTS_PER_ORDER) - 1);
    let effect = PayoutEffect {
        payout: request.to_payout(!is_owner, order.provider),
        moved: PayoutMove::Create {
            fingerprint: request.fingerprint(),
        },
        order: Some(OrderChange {
            order_id: request.order_id.clone(),
            live,
            last_payout_at: Some(request.now),
            payable: Some(PayableGuard {
                paid: order.paid_amount,
                refunded: order.refunded_amount,
                refunds_pending: order.refunds_pending_total,
                latest_last_payout_ms: latest_admissible_last_payout(request.now),
            }),
            updated_at: request.now,
        }),
        shop: ShopChange {
            balance_fen: -amount,
            held_fen: amount,
            guard: Some(ShopGuard {
                daily_cap_fen: shop.daily_payout_cap.fen(),
                operator: request.operator_id.clone(),
                operator_is_owner: is_owner,
            }),
        },
        shop_day: Some((
            date,
            CounterChange::reserve(amount, Some(shop.daily_payout_cap.fen() - amount)),
        )),
        operator_day: quota.as_ref().map(|q| {
            let max = Some(q.daily_limit_fen - amount);
            (
                q.operator_id.clone(),
                date,
                CounterChange::reserve(amount, max),
            )
        }),
        quota,
        notice: None,
        ledger: None,
    };
    debug_assert_eq!(effect.check(), Ok(()));
    Ok(effect)
}

/// A payout that failed (`PENDING | PROCESSING → FAILED`) gives back all it
/// reserved and leaves the merchant a notice. `None`: it cannot fail any
/// more (it is final), so nothing changes.
pub fn release_payout(payout: &Payout, reason: &str, now: DateTime<Utc>) -> Option<PayoutEffect> {
    if !payout.status.can_become(PayoutStatus::Failed) {
        return None;
    }
    let amount = payout.amount.fen();
    let date = payout.business_date;
    let effect = PayoutEffect {
        payout: payout.clone().failed_with(reason, now),
        moved: PayoutMove::To(PayoutStatus::Failed),
        order: Some(OrderChange {
            order_id: payout.order_id.clone(),
            live: CounterChange::release(amount),
            last_payout_at: None,
            payable: None,
            updated_at: now,
        }),
        shop: ShopChange {
            balance_fen: amount,
            held_fen: -amount,
            guard: None,
        },
        shop_day: Some((date, CounterChange::release(amount))),
        operator_day: payout.counted_for_operator.then(|| {
            (
                payout.operator_id.clone(),
                date,
                CounterChange::release(amount),
            )
        }),
        quota: None,
        notice: Some(payout_failed_notice(payout, reason, now)),
        ledger: None,
    };
    debug_assert_eq!(effect.check(), Ok(()));
    Some(effect)
}

/// A payout the provider paid (`PROCESSING → SUCCEEDED`): the hold becomes
/// a debit — the money has left the shop for good — and one immutable
/// ledger entry records it on the day it moved. `None`: it is not
/// processing, so nothing changes.
pub fn settle_payout(
    payout: &Payout,
    provider_ref: &str,
    now: DateTime<Utc>,
) -> Option<PayoutEffect> {
    if !payout.status.can_become(PayoutStatus::Succeeded) {
        return None;
    }
    let effect = PayoutEffect {
        payout: payout.clone().moved_to(PayoutStatus::Succeeded, now),
        moved: PayoutMove::To(PayoutStatus::Succeeded),
        order: None,
        shop: ShopChange {
            balance_fen: 0,
            held_fen: -payout.amount.fen(),
            guard: None,
        },
        shop_day: None,
        operator_day: None,
        quota: None,
        notice: None,
        ledger: Some(payout_ledger_entry(payout, provider_ref, now)),
    };
    debug_assert_eq!(effect.check(), Ok(()));
    Some(effect)
}

/// The notice a failed payout leaves for its merchant.
pub fn payout_failed_notice(payout: &Payout, reason: &str, now: DateTime<Utc>) -> Notice {
    Notice {
        notice_id: format!("payout-failed-{}", payout.payout_id),
        shop_id: payout.shop_id.clone(),
        kind: NoticeKind::PayoutFailed,
        message: bounded_detail(&format!(
            "Payout {} of {} for order {} failed: {reason}. Everything it reserved was released; you may pay out again.",
            payout.payout_id, payout.amount, payout.order_id
        )),
        payout_id: Some(payout.payout_id.clone()),
        order_id: Some(payout.order_id.clone()),
        created_at: now,
    }
}

/// The ledger entry a succeeded payout writes: the day the money moved.
pub fn payout_ledger_entry(payout: &Payout, provider_ref: &str, now: DateTime<Utc>) -> LedgerEntry {
    LedgerEntry {
        entry_id: format!("payout-{}", payout.payout_id),
        shop_id: payout.shop_id.clone(),
        kind: LedgerKind::Payout,
        amount: payout.amount,
        business_date: BusinessDate::of(now),
        reference: payout.payout_id.to_string(),
        provider_ref: Some(provider_ref.to_owned()),
        order_id: Some(payout.order_id.clone()),
        // The provider that moved the money: reconciliation matches the
        // entry against that provider's statement.
        provider: payout.provider,
        period: None,
        plan_periods: None,
        customer: None,
        created_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{IdempotencyKey, PayoutId, ShopId};
    use crate::money::Amount;
    use crate::order::OrderStatus;
    use crate::payout::PayoutReason;
    use crate::shop::InstalmentConfig;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000 + s, 0).unwrap()
    }
    fn fen(v: i64) -> Money {
        Money::from_fen(v).unwrap()
    }

    fn snapshot() -> PayoutSnapshot {
        let shop = Shop {
            shop_id: ShopId::parse("s1").unwrap(),
            name: crate::text::ShopName::parse("Tea").unwrap(),
            owner_operator_id: OperatorId::parse("owner").unwrap(),
            daily_payout_cap: Amount::from_fen(10_000).unwrap(),
            payout_balance: fen(50_000),
            payout_held: Money::ZERO,
            instalments: InstalmentConfig::default(),
            instalment_grace_days: Default::default(),
            branding: crate::Branding::default(),
            controls: Default::default(),
            processing_rates: Default::default(),
            created_at: t(0),
            updated_at: t(0),
        };
        let order = Order {
            paid_amount: fen(8_000),
            status: OrderStatus::Paid,
            provider: Some(crate::Provider::Sandbox),
            ..Order::created(
                OrderId::parse("o1").unwrap(),
                shop.shop_id.clone(),
                Amount::from_fen(8_000).unwrap(),
                t(0),
            )
        };
        let quota = PayoutQuota::new(
            shop.shop_id.clone(),
            OperatorId::parse("staff").unwrap(),
            true,
            Amount::from_fen(5_000).unwrap(),
            Amount::from_fen(20_000).unwrap(),
            t(0),
        )
        .unwrap();
        PayoutSnapshot {
            shop: Some(shop),
            order: Some(order),
            quota: Some(quota),
            shop_day: DayTotals {
                total: fen(1_000),
                count: 1,
            },
            operator_day: DayTotals::default(),
        }
    }

    fn request(operator: &str, amount_fen: i64) -> PayoutRequest {
        PayoutRequest {
            payout_id: PayoutId::parse("po_1").unwrap(),
            shop_id: ShopId::parse("s1").unwrap(),
            order_id: OrderId::parse("o1").unwrap(),
            operator_id: OperatorId::parse(operator).unwrap(),
            amount: Amount::from_fen(amount_fen).unwrap(),
            reason: PayoutReason::ShippingFee,
            note: None,
            idempotency_key: IdempotencyKey::parse("k1").unwrap(),
            channels: crate::PayoutChannels::of(&[crate::Provider::Sandbox]),
            now: t(1_000),
        }
    }

    #[test]
    fn a_staff_reservation_moves_every_counter_by_the_amount_within_the_limits() {
        let snap = snapshot();
        let shop = snap.shop.clone().unwrap();
        let effect = reserve_payout(&shop, &snap, &request("staff", 2_500)).unwrap();
        assert_eq!(effect.check(), Ok(()));
        assert_eq!(
            (effect.shop.balance_fen, effect.shop.held_fen),
            (-2_500, 2_500)
        );
        let order = effect.order.as_ref().unwrap();
        assert_eq!(order.live.max_total_before_fen, Some(8_000 - 2_500));
        assert_eq!(order.live.max_count_before, Some(4));
        let (_, day) = effect.shop_day.unwrap();
        assert_eq!(
            (day.total_fen, day.max_total_before_fen),
            (2_500, Some(7_500))
        );
        let (_, _, op) = effect.operator_day.clone().unwrap();
        assert_eq!(op.max_total_before_fen, Some(20_000 - 2_500));
        assert_eq!(effect.quota.unwrap().min_per_payout_fen, 2_500);
        assert!(matches!(effect.moved, PayoutMove::Create { .. }));
        assert_eq!(effect.payout.status, PayoutStatus::Pending);
        assert!(effect.payout.counted_for_operator);

        // Applied to what was read, the shop and order move as decided.
        let after = effect.shop.apply(&shop).unwrap();
        assert_eq!(
            (after.payout_balance, after.payout_held),
            (fen(47_500), fen(2_500))
        );
        let order_after = order.apply(snap.order.as_ref().unwrap()).unwrap();
        assert_eq!(
            (
                order_after.payouts_live_total,
                order_after.payouts_live_count
            ),
            (fen(2_500), 1)
        );
        assert_eq!(order_after.last_payout_at, Some(t(1_000)));
    }

    #[test]
    fn an_owner_reservation_touches_no_sub_account_counter() {
        let snap = snapshot();
        let shop = snap.shop.clone().unwrap();
        let refused = reserve_payout(&shop, &snap, &request("owner", 8_001)).unwrap_err();
        assert_eq!(refused.code(), "EXCEEDS_ORDER_PAID_AMOUNT");
        let effect = reserve_payout(&shop, &snap, &request("owner", 6_000)).unwrap();
        assert!(effect.operator_day.is_none() && effect.quota.is_none());
        assert!(!effect.payout.counted_for_operator);
    }

    #[test]
    fn release_gives_back_exactly_what_was_reserved_and_settle_debits_the_hold() {
        let snap = snapshot();
        let shop = snap.shop.clone().unwrap();
        let reserved = reserve_payout(&shop, &snap, &request("staff", 2_500)).unwrap();
        let held = reserved.shop.apply(&shop).unwrap();

        let release = release_payout(&reserved.payout, "frozen", t(2_000)).unwrap();
        assert_eq!(release.check(), Ok(()));
        let back = release.shop.apply(&held).unwrap();
        assert_eq!(
            (back.payout_balance, back.payout_held),
            (fen(50_000), Money::ZERO)
        );
        assert_eq!(release.payout.failure_reason.as_deref(), Some("frozen"));
        assert!(release.notice.is_some() && release.ledger.is_none());
        assert!(release.operator_day.is_some());
        // A release cannot take the counters below what it reserved.
        let day = release.shop_day.unwrap().1;
        assert!(day.apply_day(DayTotals::default()).is_err());

        assert!(
            settle_payout(&reserved.payout, "t1", t(2_000)).is_none(),
            "pending"
        );
        let processing = reserved
            .payout
            .clone()
            .moved_to(PayoutStatus::Processing, t(1_500));
        let settle = settle_payout(&processing, "t1", t(2_000)).unwrap();
        assert_eq!(settle.check(), Ok(()));
        let paid = settle.shop.apply(&held).unwrap();
        assert_eq!(
            (paid.payout_balance, paid.payout_held),
            (fen(47_500), Money::ZERO)
        );
        assert_eq!(settle.ledger.as_ref().unwrap().amount.fen(), 2_500);
        let succeeded = settle.payout.clone();
        assert!(release_payout(&succeeded, "late", t(3_000)).is_none());
        assert!(settle_payout(&succeeded, "t1", t(3_000)).is_none());
    }

    #[test]
    fn an_effect_that_moves_money_without_the_ledger_is_refused() {
        let snap = snapshot();
        let shop = snap.shop.clone().unwrap();
        let mut effect = reserve_payout(&shop, &snap, &request("staff", 2_500)).unwrap();
        effect.shop.held_fen = 2_400;
        assert!(effect.check().is_err());
        let mut effect = reserve_payout(&shop, &snap, &request("staff", 2_500)).unwrap();
        effect.shop_day.as_mut().unwrap().1.count = 2;
        assert!(effect.check().is_err());
        let mut order = snap.order.clone().unwrap();
        order.payouts_live_count = MAX_LIVE_PAYOUTS_PER_ORDER + 1;
        assert!(check_books(&order).is_err());
    }
}
