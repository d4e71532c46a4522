//! Every balance change a merchant refund makes, decided once (like
//! [`crate::books`] for payouts): reserving it, releasing it (the provider
//! refused) and settling it (the money went back). Each returns a
//! [`RefundEffect`]: the refund afterwards and the exact change of the order
//! and the shop, with the bounds each must still be within when written. A
//! store only translates it (map updates under its lock, or one DynamoDB
//! transaction), so the accounting cannot differ between stores.
//!
//! - Reserve: the order's `refunds_pending_total` and `refunds_live_count`
//!   grow, bounded so that payouts + refunded + pending ≤ paid still holds
//!   with the order's other totals as read; the amount moves from the
//!   shop's balance into its hold (so a payout cannot spend it).
//! - Release (`→ FAILED`): pending, count and hold are given back; a notice.
//! - Settle (`PROCESSING → SUCCEEDED`): pending moves into
//!   `refunded_amount` (the order becomes `PARTIALLY_REFUNDED`/`REFUNDED`
//!   and its `revision` moves, so a provider notice decided on the older
//!   order is decided again), the hold becomes a debit, one ledger entry
//!   whose id is the provider's movement. If the provider's refund notice
//!   already wrote that movement (it arrived first and was applied as a
//!   refund made outside qrpay), the refund only settles: pending and hold
//!   are released and nothing is counted twice.

use chrono::{DateTime, Utc};

use crate::books::{BooksError, ShopChange};
use crate::execution::{bounded_detail, LedgerEntry, LedgerKind, Notice, NoticeKind};
use crate::ids::{OperatorId, OrderId};
use crate::money::Money;
use crate::order::{Order, OrderStatus};
use crate::payee::PayoutChannels;
use crate::refund::{
    evaluate_refund, latest_admissible_last_refund, Refund, RefundFacts, RefundRefusal,
    RefundRequest, RefundStatus, MAX_LIVE_REFUNDS_PER_ORDER,
};
use crate::shop::{PayoutQuota, Shop};
use crate::time::BusinessDate;

fn broken(what: impl Into<String>) -> BooksError {
    BooksError(what.into())
}

/// Everything the refund rules look at, as a store read it at one moment.
#[derive(Debug, Clone, Default)]
pub struct RefundSnapshot {
    pub shop: Option<Shop>,
    pub order: Option<Order>,
    /// The operator's quota (only a sub-account's is looked at).
    pub quota: Option<PayoutQuota>,
}

impl RefundSnapshot {
    pub fn facts<'a>(
        &'a self,
        shop: &'a Shop,
        request: &RefundRequest,
        refund_providers: PayoutChannels,
    ) -> RefundFacts<'a> {
        let is_owner = request.operator_id == shop.owner_operator_id;
        RefundFacts {
            shop,
            order: self.order.as_ref(),
            staff_quota: (!is_owner).then_some(self.quota.as_ref()),
            amount: request.amount,
            refund_providers,
            now: request.now,
        }
    }
}

/// What a reservation needs of the order, as the rules saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefundOrderGuard {
    pub paid: Money,
    pub refunded: Money,
    pub payouts_live_total: Money,
    /// The latest last-refund instant (ms) that still admits this refund.
    pub latest_last_refund_ms: i64,
    /// The refunds in flight as read, when the refund's share of the
    /// processing fee was reckoned after them (the order has a fee): it
    /// holds only if no other refund was reserved or released meanwhile, so
    /// the shares of an order's refunds add up to the fee's share of their
    /// sum. `None`: no fee, no such condition.
    pub pending: Option<Money>,
}

/// A success moves the refund into `refunded_amount`: from the amount read
/// to the amount after, and the status that goes with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefundedMove {
    pub before: Money,
    pub after: Money,
    pub status: OrderStatus,
}

/// The change of an order's refund totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundOrderChange {
    pub order_id: OrderId,
    pub pending_fen: i64,
    pub count: i64,
    /// The most `refunds_pending_total` may be before a reservation.
    pub max_pending_before_fen: Option<i64>,
    /// The most `refunds_live_count` may be before a reservation.
    pub max_count_before: Option<i64>,
    pub guard: Option<RefundOrderGuard>,
    pub refunded: Option<RefundedMove>,
    pub last_refund_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl RefundOrderChange {
    fn new(order_id: &OrderId, pending_fen: i64, count: i64, now: DateTime<Utc>) -> Self {
        RefundOrderChange {
            order_id: order_id.clone(),
            pending_fen,
            count,
            max_pending_before_fen: None,
            max_count_before: None,
            guard: None,
            refunded: None,
            last_refund_at: None,
            updated_at: now,
        }
    }

    /// The least the pending total must be before (a release gives back
    /// only what was reserved).
    pub fn min_pending_before_fen(&self) -> i64 {
        (-self.pending_fen).max(0)
    }

    pub fn min_count_before(&self) -> i64 {
        (-self.count).max(0)
    }

    /// The order after the change, if it is as the change expects.
    pub fn apply(&self, order: &Order) -> Result<Order, BooksError> {
        let moved = || broken(format!("order {} moved", order.order_id));
        if let Some(g) = &self.guard {
            let as_read = order.status.admits_refunds()
                && order.paid_amount == g.paid
                && order.refunded_amount == g.refunded
                && order.payouts_live_total == g.payouts_live_total
                && order
                    .last_refund_at
                    .is_none_or(|t| t.timestamp_millis() <= g.latest_last_refund_ms)
                && g.pending.is_none_or(|p| order.refunds_pending_total == p);
            if !as_read {
                return Err(moved());
            }
        }
        let pending = order.refunds_pending_total.fen();
        let count = i64::from(order.refunds_live_count);
        let within = pending >= self.min_pending_before_fen()
            && count >= self.min_count_before()
            && self.max_pending_before_fen.is_none_or(|m| pending <= m)
            && self.max_count_before.is_none_or(|m| count <= m);
        if !within {
            return Err(broken(format!(
                "order {} refunds {pending}/{count} outside {self:?}",
                order.order_id
            )));
        }
        let mut after = order.clone();
        after.refunds_pending_total = Money::from_fen(pending + self.pending_fen)
            .ok_or_else(|| broken("pending refunds below zero"))?;
        after.refunds_live_count =
            u32::try_from(count + self.count).map_err(|_| broken("refund count out of range"))?;
        if let Some(m) = &self.refunded {
            if order.refunded_amount != m.before {
                return Err(moved());
            }
            after.refunded_amount = m.after;
            after.status = m.status;
            after.revision = order.revision + 1;
        }
        if let Some(at) = self.last_refund_at {
            after.last_refund_at = Some(at);
        }
        after.updated_at = self.updated_at;
        Ok(after)
    }
}

/// How the refund itself changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundMove {
    /// A new refund; its `Idempotency-Key` is claimed with this fingerprint.
    Create { fingerprint: String },
    /// The refund moves to this status from any status that may become it.
    To(RefundStatus),
}

/// One refund decision, ready to be written as one atomic step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundEffect {
    pub refund: Refund,
    pub moved: RefundMove,
    pub order: RefundOrderChange,
    pub shop: ShopChange,
    /// A sub-account's reservation needs its quota to still enable refunds.
    pub quota_operator: Option<OperatorId>,
    pub ledger: Option<LedgerEntry>,
    /// With the ledger entry of a refund that went back: the processing fee
    /// the provider handed back with it (`FEE_RETURNED`), if any.
    pub fee_returned: Option<LedgerEntry>,
    pub notice: Option<Notice>,
}

impl RefundEffect {
    /// Available + held moves only by the ledger amounts (the refund less
    /// the fee handed back); the pending total by exactly this refund.
    pub fn check(&self) -> Result<(), BooksError> {
        let fen = |e: &Option<LedgerEntry>| e.as_ref().map_or(0, |e| e.amount.fen());
        let debit = fen(&self.ledger) - fen(&self.fee_returned);
        if self.shop.balance_fen + self.shop.held_fen != -debit {
            return Err(broken(format!(
                "{}: available + held moves unlike the ledger",
                self.refund.refund_id
            )));
        }
        if self.order.pending_fen.abs() != self.refund.amount.fen() {
            return Err(broken(format!(
                "{}: pending refunds move by {}",
                self.refund.refund_id, self.order.pending_fen
            )));
        }
        Ok(())
    }
}

/// Refund rules 1–6 on what was read; if they hold, the reservation.
pub fn reserve_refund(
    shop: &Shop,
    snapshot: &RefundSnapshot,
    request: &RefundRequest,
) -> Result<RefundEffect, RefundRefusal> {
    let facts = snapshot.facts(shop, request, request.refund_providers);
    let remaining_after = evaluate_refund(&facts)?;
    let order = facts.order.ok_or(RefundRefusal::OrderNotFound)?;
    let provider = order.provider.ok_or(RefundRefusal::ChannelUnavailable)?;
    let amount = request.amount.fen();
    // The provider hands back the fee's share: the shop holds the rest.
    let fee_back = order.fee_returned_with(order.refunds_live_total(), request.amount.money());
    let net = amount - fee_back.fen();
    let mut change = RefundOrderChange::new(&request.order_id, amount, 1, request.now);
    // pending + amount ≤ pending + remaining: the bound shared with payouts.
    change.max_pending_before_fen = Some(order.refunds_pending_total.fen() + remaining_after.fen());
    change.max_count_before = Some(i64::from(MAX_LIVE_REFUNDS_PER_ORDER) - 1);
    change.guard = Some(RefundOrderGuard {
        paid: order.paid_amount,
        refunded: order.refunded_amount,
        payouts_live_total: order.payouts_live_total,
        latest_last_refund_ms: latest_admissible_last_refund(request.now),
        pending: (!order.processing_fee.is_zero()).then_some(order.refunds_pending_total),
    });
    change.last_refund_at = Some(request.now);
    let effect = RefundEffect {
        refund: request.to_refund(provider, fee_back),
        moved: RefundMove::Create {
            fingerprint: request.fingerprint(),
        },
        order: change,
        shop: ShopChange {
            balance_fen: -net,
            held_fen: net,
            guard: None,
        },
        quota_operator: facts
            .staff_quota
            .is_some()
            .then(|| request.operator_id.clone()),
        ledger: None,
        fee_returned: None,
        notice: None,
    };
    debug_assert_eq!(effect.check(), Ok(()));
    Ok(effect)
}

/// A refund the provider definitively refused (`PENDING | PROCESSING →
/// FAILED`) gives back all it reserved and leaves the merchant a notice.
/// `None`: it is final already, nothing changes.
pub fn fail_refund(refund: &Refund, reason: &str, now: DateTime<Utc>) -> Option<RefundEffect> {
    if !refund.status.can_become(RefundStatus::Failed) {
        return None;
    }
    let amount = refund.amount.fen();
    let net = refund.held().fen();
    let effect = RefundEffect {
        refund: refund.clone().failed_with(reason, now),
        moved: RefundMove::To(RefundStatus::Failed),
        order: RefundOrderChange::new(&refund.order_id, -amount, -1, now),
        shop: ShopChange {
            balance_fen: net,
            held_fen: -net,
            guard: None,
        },
        quota_operator: None,
        ledger: None,
        fee_returned: None,
        notice: Some(refund_failed_notice(refund, reason, now)),
    };
    debug_assert_eq!(effect.check(), Ok(()));
    Some(effect)
}

/// A refund the provider made (`PROCESSING → SUCCEEDED`), decided on the
/// order as read. `movement_recorded`: the provider's notice of this very
/// movement was applied first (see the module doc). `None`: it is not
/// processing, nothing changes.
pub fn succeed_refund(
    refund: &Refund,
    order: &Order,
    provider_refund_id: Option<&str>,
    movement_recorded: bool,
    now: DateTime<Utc>,
) -> Option<RefundEffect> {
    if !refund.status.can_become(RefundStatus::Succeeded) {
        return None;
    }
    let amount = refund.amount.fen();
    let net = refund.held().fen();
    let mut settled = refund.clone().moved_to(RefundStatus::Succeeded, now);
    settled.provider_refund_id = provider_refund_id.map(str::to_owned);
    let mut change = RefundOrderChange::new(&refund.order_id, -amount, 0, now);
    let (shop, ledger) = if movement_recorded {
        let release = ShopChange {
            balance_fen: net,
            held_fen: -net,
            guard: None,
        };
        (release, None)
    } else {
        let after = order.refunded_amount.checked_add(refund.amount.money())?;
        let status = if after >= order.paid_amount {
            OrderStatus::Refunded
        } else {
            OrderStatus::PartiallyRefunded
        };
        change.refunded = Some(RefundedMove {
            before: order.refunded_amount,
            after,
            status,
        });
        let debit = ShopChange {
            balance_fen: 0,
            held_fen: -net,
            guard: None,
        };
        (debit, Some(refund_ledger_entry(&settled, order, now)))
    };
    let fee_returned = ledger
        .as_ref()
        .and_then(|e: &LedgerEntry| e.fee_returned(settled.fee_returned));
    let effect = RefundEffect {
        refund: settled,
        moved: RefundMove::To(RefundStatus::Succeeded),
        order: change,
        shop,
        quota_operator: None,
        ledger,
        fee_returned,
        notice: None,
    };
    debug_assert_eq!(effect.check(), Ok(()));
    Some(effect)
}

/// The ledger entry of a refund that went back: the provider's refund id as
/// `provider_ref` (Alipay has none: our `out_request_no`, which its bill
/// shows as 退款批次号/请求号) and the order as `reference`, as for every
/// collection movement, so reconciliation pairs it with the statement's
/// refund row of that order (the matcher groups by order).
pub fn refund_ledger_entry(refund: &Refund, order: &Order, now: DateTime<Utc>) -> LedgerEntry {
    let provider_ref = refund.provider_refund_id.as_deref();
    LedgerEntry {
        entry_id: refund.movement_entry_id(provider_ref),
        shop_id: refund.shop_id.clone(),
        kind: LedgerKind::Refund,
        amount: refund.amount,
        business_date: BusinessDate::of(now),
        reference: refund.order_id.to_string(),
        provider_ref: Some(provider_ref.unwrap_or(refund.refund_id.as_str()).to_owned()),
        order_id: Some(refund.order_id.clone()),
        provider: Some(refund.provider),
        period: None,
        plan_periods: order.instalment_plan.as_ref().map(|p| p.periods.as_u8()),
        customer: order.payer_masked.clone(),
        created_at: now,
    }
}

pub fn refund_failed_notice(refund: &Refund, reason: &str, now: DateTime<Utc>) -> Notice {
    Notice {
        notice_id: format!("refund-failed-{}", refund.refund_id),
        shop_id: refund.shop_id.clone(),
        kind: NoticeKind::RefundFailed,
        message: bounded_detail(&format!(
            "Refund {} of {} for order {} failed: {reason}. Everything it reserved was released; you may refund again.",
            refund.refund_id, refund.amount, refund.order_id
        )),
        payout_id: None,
        order_id: Some(refund.order_id.clone()),
        created_at: now,
    }
}

/// The invariants of an order's refunds and payouts together: payouts,
/// refunds that went back and refunds in flight never exceed what was paid.
pub fn check_order_commitments(order: &Order) -> Result<(), BooksError> {
    let committed = order.payouts_live_total.fen()
        + order.refunded_amount.fen()
        + order.refunds_pending_total.fen();
    if committed > order.paid_amount.fen() {
        return Err(broken(format!(
            "order {} commits {committed} fen of {} paid",
            order.order_id, order.paid_amount
        )));
    }
    if order.refunds_live_count > MAX_LIVE_REFUNDS_PER_ORDER {
        return Err(broken(format!(
            "order {} has {} live refunds",
            order.order_id, order.refunds_live_count
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collection::Provider;
    use crate::ids::{IdempotencyKey, RefundId, ShopId};
    use crate::money::Amount;
    use crate::refund::RefundRequest;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000, 0).unwrap()
    }

    fn money(fen: i64) -> Money {
        Money::from_fen(fen).unwrap()
    }

    /// 68.00 paid through WeChat Pay, 0.41 of processing fee booked; a
    /// refund of all of it, handing the 0.41 back, already processing.
    fn paid_and_refunding() -> (Order, Refund) {
        let order = Order {
            paid_amount: money(6800),
            processing_fee: money(41),
            status: OrderStatus::Paid,
            provider: Some(Provider::Wechatpay),
            ..Order::created(
                OrderId::parse("ord_1").unwrap(),
                ShopId::parse("s1").unwrap(),
                Amount::from_fen(6800).unwrap(),
                now(),
            )
        };
        let request = RefundRequest {
            refund_id: RefundId::generate(now()),
            shop_id: order.shop_id.clone(),
            order_id: order.order_id.clone(),
            operator_id: OperatorId::parse("owner-1").unwrap(),
            amount: Amount::from_fen(6800).unwrap(),
            reason: None,
            idempotency_key: IdempotencyKey::parse("k1").unwrap(),
            refund_providers: PayoutChannels::of(&[Provider::Wechatpay]),
            now: now(),
        };
        let refund = request
            .to_refund(Provider::Wechatpay, money(41))
            .moved_to(RefundStatus::Processing, now());
        (order, refund)
    }

    #[test]
    fn a_refund_moves_the_shop_by_the_amount_less_the_fee_handed_back() {
        let (order, refund) = paid_and_refunding();
        assert_eq!(refund.held(), money(6759));

        // Went back: the hold of 67.59 is spent; 68.00 out, 0.41 back.
        let done = succeed_refund(&refund, &order, Some("5030001"), false, now()).unwrap();
        assert_eq!((done.shop.balance_fen, done.shop.held_fen), (0, -6759));
        let entry = |e: &Option<LedgerEntry>| {
            let e = e.as_ref().unwrap();
            (
                e.kind,
                e.amount.fen(),
                e.entry_id.clone(),
                e.provider_ref.clone(),
            )
        };
        assert_eq!(
            entry(&done.ledger),
            (
                LedgerKind::Refund,
                6800,
                "refund-wechatpay-5030001".into(),
                Some("5030001".into())
            )
        );
        assert_eq!(
            entry(&done.fee_returned),
            (
                LedgerKind::FeeReturned,
                41,
                "fee-returned-wechatpay-5030001".into(),
                Some("5030001".into())
            )
        );
        assert_eq!(done.check(), Ok(()));

        // The provider's notice booked it first: the hold goes back whole.
        let settled = succeed_refund(&refund, &order, Some("5030001"), true, now()).unwrap();
        assert_eq!(
            (settled.shop.balance_fen, settled.shop.held_fen),
            (6759, -6759)
        );
        assert_eq!((settled.ledger, settled.fee_returned), (None, None));

        // Refused: exactly the 67.59 held comes back.
        let failed = fail_refund(&refund, "CLOSED", now()).unwrap();
        assert_eq!(
            (failed.shop.balance_fen, failed.shop.held_fen),
            (6759, -6759)
        );
        assert_eq!(failed.order.pending_fen, -6800, "the buyer's whole refund");
    }

    #[test]
    fn a_refund_without_a_fee_handed_back_books_the_refund_alone() {
        let (order, refund) = paid_and_refunding();
        let plain = Refund {
            fee_returned: Money::ZERO,
            ..refund
        };
        let done = succeed_refund(&plain, &order, Some("5030002"), false, now()).unwrap();
        assert_eq!(done.check(), Ok(()));
        assert_eq!((done.shop.held_fen, done.fee_returned), (-6800, None));
    }

    #[test]
    fn a_reservation_reckoned_on_other_refunds_in_flight_holds_only_on_those() {
        // Read with 68.00 in flight on a fee-bearing order; applied once
        // that refund was released meanwhile, its share was reckoned at the
        // wrong place: the write is refused, to be decided again.
        let (order, _) = paid_and_refunding();
        let read = Order {
            paid_amount: money(20_000),
            refunds_pending_total: money(6800),
            refunds_live_count: 1,
            ..order
        };
        let mut change = RefundOrderChange::new(&read.order_id, 1000, 1, now());
        change.guard = Some(RefundOrderGuard {
            paid: read.paid_amount,
            refunded: read.refunded_amount,
            payouts_live_total: read.payouts_live_total,
            latest_last_refund_ms: now().timestamp_millis(),
            pending: Some(read.refunds_pending_total),
        });
        let applied = change.apply(&read).unwrap();
        assert_eq!(applied.refunds_pending_total, money(7800));
        let moved = Order {
            refunds_pending_total: Money::ZERO,
            refunds_live_count: 0,
            ..read
        };
        assert!(change.apply(&moved).is_err());
    }
}
