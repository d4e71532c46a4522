//! How a verified provider notice changes our records (SPEC §5): decided
//! here once, written atomically by either store on the condition that the
//! order did not change since it was read.
//!
//! - A payment moves an order `CREATED → PAID` only if the amount matches;
//!   it credits the shop and writes the ledger.
//! - Refunds move it to `PARTIALLY_REFUNDED` / `REFUNDED` and debit the shop.
//! - Instalment deductions mark their period; a failed one tells the merchant.
//! - Anything that does not fit (unknown order, amount mismatch, a second
//!   charge for a paid order, …) is an [`Anomaly`]: recorded and alerted,
//!   never applied.

use chrono::{DateTime, Utc};

use crate::collection::{CollectionEvent, CollectionEventKind, Provider, ProviderRef};
use crate::controls::large_payment_notice;
use crate::execution::{bounded_detail, LedgerEntry, LedgerKind, Notice, NoticeKind};
use crate::ids::{OrderId, QrId, ShopId};
use crate::instalment::DeductionStatus;
use crate::money::{Amount, Money};
use crate::order::{Order, OrderStatus};
use crate::shop::Shop;
use crate::time::BusinessDate;

/// What the store read before deciding.
#[derive(Debug, Clone, Copy)]
pub struct CollectionFacts<'a> {
    pub order: Option<&'a Order>,
    pub shop: Option<&'a Shop>,
    /// The ledger already holds this event's movement (same provider id).
    pub movement_recorded: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Apply(Box<Effect>),
    /// The same movement was applied before (a redelivery, or the same
    /// movement under another notification id): answer success, change nothing.
    AlreadyApplied,
    /// Record and alert; do not apply.
    Anomaly(Anomaly),
    /// It cannot be applied yet (a deduction before its payment): answer a
    /// failure so that the provider delivers it again later.
    NotYet(String),
}

/// Everything one notice changes, written in one atomic step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effect {
    /// The order afterwards; its `revision` is one more than the one read.
    pub order: Order,
    pub ledger: Vec<LedgerEntry>,
    /// Fen added to (positive) or taken from (negative) the shop's available
    /// payout balance. A debit never exceeds the balance read.
    pub balance_change_fen: i64,
    pub notice: Option<Notice>,
    /// Recorded alongside the change (a refund larger than the balance).
    pub anomaly: Option<Anomaly>,
    /// A dynamic code that is now used up.
    pub qr_used: Option<QrId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnomalyKind {
    UnknownOrder,
    AmountMismatch,
    /// A second successful charge for an order already paid.
    DuplicateCharge,
    /// A second successful deduction of one instalment period.
    DuplicateDeduction,
    /// A payment for an order that can no longer be paid (closed).
    OrderNotPayable,
    /// Refunds beyond what was paid.
    RefundExceedsPaid,
    /// A refund larger than the shop's available balance: applied, but the
    /// balance could only go to zero.
    RefundShortfall,
    /// A deduction that the order's plan does not have, or a failure
    /// reported after the period was deducted.
    UnexpectedDeduction,
}

impl AnomalyKind {
    pub const ALL: [AnomalyKind; 8] = [
        AnomalyKind::UnknownOrder,
        AnomalyKind::AmountMismatch,
        AnomalyKind::DuplicateCharge,
        AnomalyKind::DuplicateDeduction,
        AnomalyKind::OrderNotPayable,
        AnomalyKind::RefundExceedsPaid,
        AnomalyKind::RefundShortfall,
        AnomalyKind::UnexpectedDeduction,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyKind::UnknownOrder => "UNKNOWN_ORDER",
            AnomalyKind::AmountMismatch => "AMOUNT_MISMATCH",
            AnomalyKind::DuplicateCharge => "DUPLICATE_CHARGE",
            AnomalyKind::DuplicateDeduction => "DUPLICATE_DEDUCTION",
            AnomalyKind::OrderNotPayable => "ORDER_NOT_PAYABLE",
            AnomalyKind::RefundExceedsPaid => "REFUND_EXCEEDS_PAID",
            AnomalyKind::RefundShortfall => "REFUND_SHORTFALL",
            AnomalyKind::UnexpectedDeduction => "UNEXPECTED_DEDUCTION",
        }
    }

    pub fn parse(text: &str) -> Option<AnomalyKind> {
        AnomalyKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// A notice we did not apply (or applied only in part), kept for people to
/// resolve. Holds no personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anomaly {
    /// `{provider}-{notification id}[-{suffix}]`: a redelivery finds it written.
    pub anomaly_id: String,
    pub kind: AnomalyKind,
    pub provider: Provider,
    pub notification_id: ProviderRef,
    /// Known unless the order is unknown.
    pub shop_id: Option<ShopId>,
    pub order_id: OrderId,
    /// The event it came from (`PAYMENT_SUCCEEDED`, …).
    pub event: String,
    /// What the provider says moved.
    pub amount: Amount,
    /// What we expected, when we expected an amount.
    pub expected: Option<Money>,
    pub provider_ref: Option<String>,
    pub detail: String,
    /// The business day of the event (by the provider's time).
    pub business_date: BusinessDate,
    pub created_at: DateTime<Utc>,
}

impl Anomaly {
    /// The alert code this anomaly raises.
    pub fn alert_code(&self) -> String {
        format!("COLLECTION_{}", self.kind.as_str())
    }
}

impl CollectionEvent {
    /// The ledger entry id of the money this event moves, if it moves any:
    /// unique per provider movement, so a movement is written at most once.
    pub fn movement_entry_id(&self) -> Option<String> {
        let p = self.provider;
        match &self.kind {
            CollectionEventKind::PaymentSucceeded {
                provider_txn_id, ..
            } => Some(format!("payment-{p}-{provider_txn_id}")),
            CollectionEventKind::InstalmentDeducted {
                provider_txn_id,
                period,
                ..
            } => Some(format!("deduction-{p}-{provider_txn_id}-{period}")),
            CollectionEventKind::RefundSucceeded { refund_id, .. } => {
                Some(format!("refund-{p}-{refund_id}"))
            }
            CollectionEventKind::InstalmentDeductionFailed { .. } => None,
        }
    }

    fn amount(&self) -> Amount {
        match &self.kind {
            CollectionEventKind::PaymentSucceeded { amount, .. }
            | CollectionEventKind::InstalmentDeducted { amount, .. }
            | CollectionEventKind::InstalmentDeductionFailed { amount, .. }
            | CollectionEventKind::RefundSucceeded { amount, .. } => *amount,
        }
    }

    fn provider_ref(&self) -> Option<String> {
        match &self.kind {
            CollectionEventKind::PaymentSucceeded {
                provider_txn_id, ..
            }
            | CollectionEventKind::InstalmentDeducted {
                provider_txn_id, ..
            } => Some(provider_txn_id.to_string()),
            CollectionEventKind::RefundSucceeded { refund_id, .. } => Some(refund_id.to_string()),
            CollectionEventKind::InstalmentDeductionFailed { .. } => None,
        }
    }

    /// An anomaly about this event.
    pub fn anomaly(
        &self,
        kind: AnomalyKind,
        order: Option<&Order>,
        expected: Option<Money>,
        detail: String,
        now: DateTime<Utc>,
    ) -> Anomaly {
        let suffix = match kind {
            AnomalyKind::RefundShortfall => "-shortfall",
            _ => "",
        };
        Anomaly {
            anomaly_id: format!("{}-{}{suffix}", self.provider, self.notification_id),
            kind,
            provider: self.provider,
            notification_id: self.notification_id.clone(),
            shop_id: order.map(|o| o.shop_id.clone()),
            order_id: self.order_id.clone(),
            event: self.kind.name().to_owned(),
            amount: self.amount(),
            expected,
            provider_ref: self.provider_ref(),
            detail: bounded_detail(&detail),
            business_date: BusinessDate::of(self.occurred_at),
            created_at: now,
        }
    }

    fn ledger_entry(
        &self,
        order: &Order,
        kind: LedgerKind,
        entry_id: String,
        amount: Amount,
        period: Option<u8>,
        now: DateTime<Utc>,
    ) -> LedgerEntry {
        LedgerEntry {
            entry_id,
            shop_id: order.shop_id.clone(),
            kind,
            amount,
            business_date: BusinessDate::of(self.occurred_at),
            reference: order.order_id.to_string(),
            provider_ref: self.provider_ref(),
            order_id: Some(order.order_id.clone()),
            provider: Some(self.provider),
            period,
            plan_periods: order.instalment_plan.as_ref().map(|p| p.periods.as_u8()),
            customer: order.payer_masked.clone(),
            created_at: now,
        }
    }
}

/// Decides what `event` does, given what the store read.
pub fn decide(event: &CollectionEvent, facts: CollectionFacts<'_>, now: DateTime<Utc>) -> Decision {
    let (Some(order), Some(shop)) = (facts.order, facts.shop) else {
        return Decision::Anomaly(event.anomaly(
            AnomalyKind::UnknownOrder,
            facts.order,
            None,
            format!(
                "{} for order {}, which we do not have",
                event.kind.name(),
                event.order_id
            ),
            now,
        ));
    };
    if facts.movement_recorded {
        return Decision::AlreadyApplied;
    }
    match &event.kind {
        CollectionEventKind::PaymentSucceeded {
            provider_txn_id,
            amount,
            payer,
        } => decide_payment(
            event,
            order,
            shop,
            provider_txn_id,
            *amount,
            payer.as_ref(),
            now,
        ),
        CollectionEventKind::InstalmentDeducted { period, amount, .. } => {
            decide_deduction(event, order, *period, *amount, now)
        }
        CollectionEventKind::InstalmentDeductionFailed {
            period,
            amount,
            reason,
        } => decide_deduction_failure(event, order, *period, *amount, reason, now),
        CollectionEventKind::RefundSucceeded { amount, .. } => {
            decide_refund(event, order, shop, *amount, now)
        }
    }
}

fn next(order: &Order, now: DateTime<Utc>) -> Order {
    let mut after = order.clone();
    after.revision = order.revision + 1;
    after.updated_at = now;
    after
}

fn decide_payment(
    event: &CollectionEvent,
    order: &Order,
    shop: &Shop,
    txn: &ProviderRef,
    amount: Amount,
    payer: Option<&crate::collection::Payer>,
    now: DateTime<Utc>,
) -> Decision {
    if order.provider_txn_id.as_ref() == Some(txn) && order.provider == Some(event.provider) {
        return Decision::AlreadyApplied;
    }
    match order.status {
        OrderStatus::Created => {}
        OrderStatus::Closed => {
            return Decision::Anomaly(event.anomaly(
                AnomalyKind::OrderNotPayable,
                Some(order),
                Some(order.amount.money()),
                format!(
                    "payment {txn} for closed order {}: refund the buyer",
                    order.order_id
                ),
                now,
            ))
        }
        _ => {
            return Decision::Anomaly(event.anomaly(
                AnomalyKind::DuplicateCharge,
                Some(order),
                Some(Money::ZERO),
                format!(
                    "second successful charge {txn} for order {} already paid by {}",
                    order.order_id,
                    order
                        .provider_txn_id
                        .as_ref()
                        .map(ProviderRef::as_str)
                        .unwrap_or("?")
                ),
                now,
            ))
        }
    }
    if amount != order.amount {
        return Decision::Anomaly(event.anomaly(
            AnomalyKind::AmountMismatch,
            Some(order),
            Some(order.amount.money()),
            format!("paid {amount}, order is {}", order.amount),
            now,
        ));
    }
    let mut after = next(order, now);
    after.status = OrderStatus::Paid;
    after.paid_amount = amount.money();
    after.provider = Some(event.provider);
    after.provider_txn_id = Some(txn.clone());
    after.paid_at = Some(event.occurred_at);
    after.payer_masked = payer.map(|p| p.masked()).filter(|m| !m.is_empty());
    // Only an account of the collecting provider can be paid back.
    after.payer_account = payer
        .and_then(|p| p.account.clone())
        .filter(|a| a.kind().provider() == event.provider);
    let entry_id = event.movement_entry_id().unwrap_or_default();
    let mut ledger =
        vec![event.ledger_entry(&after, LedgerKind::Payment, entry_id, amount, None, now)];
    // One fee per payment, as the bill lists it: the provider's processing
    // fee under the shop's contract plus the instalment fee the shop bears.
    let instalment_fee = order
        .instalment_plan
        .as_ref()
        .map(|p| p.shop_fee())
        .unwrap_or(Money::ZERO);
    let processing_fee = shop.processing_rates.fee(event.provider, amount);
    // Each is a share below 1 of the amount, so the sum cannot overflow;
    // the shop is never credited less than nothing.
    let fee = instalment_fee
        .checked_add(processing_fee)
        .unwrap_or(instalment_fee)
        .min(amount.money());
    // What of it the provider hands back with refunds.
    after.processing_fee = fee.headroom_over(instalment_fee);
    if let Ok(fee) = Amount::from_fen(fee.fen()) {
        let fee_id = format!("fee-{}-{txn}", event.provider);
        ledger.push(event.ledger_entry(&after, LedgerKind::Fee, fee_id, fee, None, now));
    }
    // Written with the payment, which applies once per order: one notice.
    let notice = large_payment_notice(&after, shop.controls.large_payment_alert, now);
    Decision::Apply(Box::new(Effect {
        balance_change_fen: amount.fen() - fee.fen(),
        qr_used: order.out_order_no.as_ref().and(order.qr_id.clone()),
        order: after,
        ledger,
        notice,
        anomaly: None,
    }))
}

/// The index of a period in the order's plan, or the anomaly if it has none.
fn period_index(
    event: &CollectionEvent,
    order: &Order,
    period: u8,
    amount: Amount,
    now: DateTime<Utc>,
) -> Result<usize, Box<Decision>> {
    let Some(plan) = &order.instalment_plan else {
        return Err(Box::new(Decision::Anomaly(event.anomaly(
            AnomalyKind::UnexpectedDeduction,
            Some(order),
            None,
            format!("order {} has no monthly-pay plan", order.order_id),
            now,
        ))));
    };
    let Some(due) = plan.period_amount(period) else {
        return Err(Box::new(Decision::Anomaly(event.anomaly(
            AnomalyKind::UnexpectedDeduction,
            Some(order),
            None,
            format!("the plan has {} periods, not period {period}", plan.periods),
            now,
        ))));
    };
    if due != amount {
        return Err(Box::new(Decision::Anomaly(event.anomaly(
            AnomalyKind::AmountMismatch,
            Some(order),
            Some(due.money()),
            format!("period {period} is {due}, the provider says {amount}"),
            now,
        ))));
    }
    if order.status == OrderStatus::Created || order.status == OrderStatus::Closed {
        return Err(Box::new(Decision::NotYet(format!(
            "order {} is not paid yet; deliver this again later",
            order.order_id
        ))));
    }
    Ok(usize::from(period) - 1)
}

fn decide_deduction(
    event: &CollectionEvent,
    order: &Order,
    period: u8,
    amount: Amount,
    now: DateTime<Utc>,
) -> Decision {
    let index = match period_index(event, order, period, amount, now) {
        Ok(i) => i,
        Err(decision) => return *decision,
    };
    if order.deductions.get(index) == Some(&DeductionStatus::Deducted) {
        return Decision::Anomaly(event.anomaly(
            AnomalyKind::DuplicateDeduction,
            Some(order),
            Some(Money::ZERO),
            format!(
                "period {period} of order {} was already deducted",
                order.order_id
            ),
            now,
        ));
    }
    let mut after = next(order, now);
    set_deduction(&mut after, index, DeductionStatus::Deducted);
    let entry_id = event.movement_entry_id().unwrap_or_default();
    let entry = event.ledger_entry(
        order,
        LedgerKind::InstalmentDeduction,
        entry_id,
        amount,
        Some(period),
        now,
    );
    Decision::Apply(Box::new(Effect {
        order: after,
        ledger: vec![entry],
        balance_change_fen: 0,
        notice: None,
        anomaly: None,
        qr_used: None,
    }))
}

fn decide_deduction_failure(
    event: &CollectionEvent,
    order: &Order,
    period: u8,
    amount: Amount,
    reason: &str,
    now: DateTime<Utc>,
) -> Decision {
    let index = match period_index(event, order, period, amount, now) {
        Ok(i) => i,
        Err(decision) => return *decision,
    };
    if order.deductions.get(index) == Some(&DeductionStatus::Deducted) {
        return Decision::Anomaly(event.anomaly(
            AnomalyKind::UnexpectedDeduction,
            Some(order),
            None,
            format!("failure reported for period {period}, which was already deducted"),
            now,
        ));
    }
    let mut after = next(order, now);
    set_deduction(&mut after, index, DeductionStatus::Failed);
    let notice = Notice {
        notice_id: format!("deduction-failed-{}-{}", event.provider, event.notification_id),
        shop_id: order.shop_id.clone(),
        kind: NoticeKind::DeductionFailed,
        message: bounded_detail(&format!(
            "Instalment {period} of {amount} for order {} could not be charged to the buyer: {reason}. The provider will try again; no action is needed unless it keeps failing.",
            order.order_id
        )),
        payout_id: None,
        order_id: Some(order.order_id.clone()),
        created_at: now,
    };
    Decision::Apply(Box::new(Effect {
        order: after,
        ledger: Vec::new(),
        balance_change_fen: 0,
        notice: Some(notice),
        anomaly: None,
        qr_used: None,
    }))
}

fn set_deduction(order: &mut Order, index: usize, status: DeductionStatus) {
    if let Some(slot) = order.deductions.get_mut(index) {
        *slot = status;
    }
}

fn decide_refund(
    event: &CollectionEvent,
    order: &Order,
    shop: &Shop,
    amount: Amount,
    now: DateTime<Utc>,
) -> Decision {
    let refunded = order.refunded_amount.checked_add(amount.money());
    let Some(refunded) = refunded.filter(|r| *r <= order.paid_amount) else {
        return Decision::Anomaly(event.anomaly(
            AnomalyKind::RefundExceedsPaid,
            Some(order),
            Some(order.payout_ceiling()),
            format!(
                "refund of {amount} on order {} (paid {}, refunded {})",
                order.order_id, order.paid_amount, order.refunded_amount
            ),
            now,
        ));
    };
    let mut after = next(order, now);
    after.refunded_amount = refunded;
    after.status = if refunded == order.paid_amount {
        OrderStatus::Refunded
    } else {
        OrderStatus::PartiallyRefunded
    };
    // The provider hands back the fee's share with the money, counted after
    // what went back before it. Not after our refunds still in flight: this
    // may be one of them, whose notice did not name it (then its own
    // reservation counted what went back before it, the same share).
    let fee_back = order.fee_returned_with(order.refunded_amount, amount.money());
    let owed_fen = amount.fen() - fee_back.fen();
    let debit_fen = owed_fen.min(shop.payout_balance.fen());
    // Short while refunds of ours of at least its amount are in flight on
    // the order: this may be one of them, its notice not naming it, and its
    // money is in the shop's hold, which goes back to the balance when ours
    // settles as booked here. Asked again once ours has settled, it finds
    // the movement booked, or is a refund of its own. (More than ours in
    // flight, it cannot be one of them: booked now, the shortfall noted.)
    if debit_fen < owed_fen && amount.money() <= order.refunds_pending_total {
        return Decision::NotYet(format!(
            "refund of {amount} on order {} exceeds the shop's available balance {} while {} of our refunds is in flight on it: deliver again once that has settled",
            order.order_id, shop.payout_balance, order.refunds_pending_total
        ));
    }
    let shortfall = (debit_fen < owed_fen).then(|| {
        event.anomaly(
            AnomalyKind::RefundShortfall,
            Some(order),
            Some(amount.money()),
            format!(
                "refund of {amount} (less {fee_back} of fee handed back) exceeds the shop's available balance {}: the balance was taken to zero, {} is uncovered",
                shop.payout_balance,
                Money::from_fen(owed_fen - debit_fen).unwrap_or(Money::ZERO)
            ),
            now,
        )
    });
    let entry_id = event.movement_entry_id().unwrap_or_default();
    let entry = event.ledger_entry(order, LedgerKind::Refund, entry_id, amount, None, now);
    let fee_returned = entry.fee_returned(fee_back);
    Decision::Apply(Box::new(Effect {
        order: after,
        ledger: [Some(entry), fee_returned].into_iter().flatten().collect(),
        balance_change_fen: -debit_fen,
        notice: None,
        anomaly: shortfall,
        qr_used: None,
    }))
}
