//! Merchant refunds (API.md `POST …/orders/{order_id}/refunds`, SPEC §9
//! "Refunds", BUYER_PAGES §11): the refund, its state machine
//! `PENDING → PROCESSING → SUCCEEDED | FAILED` (and `PENDING → FAILED`), and
//! the rules a refund is accepted by, as one pure evaluation.
//!
//! Design (BUYER_PAGES §11.1, the *smaller alternative*): an order keeps its
//! payouts (`payouts_live_total`) and its refunds apart — `refunded_amount`
//! (what went back, ours and refunds made in the provider's console) and
//! `refunds_pending_total` (ours reserved, not yet final). Both kinds are
//! measured against one bound, [`Order::uncommitted`]:
//! `payouts_live_total + refunded_amount + refunds_pending_total ≤ paid`.
//! A payout's write bounds its own total and requires the refund totals as
//! read; a refund's write bounds its pending total and requires the payout
//! total and `refunded_amount` as read. Whichever commits first wins, the
//! other's condition fails and it is decided again on what is there now.
//! We chose it over one `committed_total` counter because it adds no
//! derived attribute that existing order items lack (no migration), and
//! refund notices made outside qrpay keep writing only `refunded_amount`.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::collection::Provider;
use crate::ids::{IdempotencyKey, OperatorId, OrderId, RefundId, ShopId};
use crate::money::{Amount, Money};
use crate::order::{Order, OrderStatus};
use crate::payee::PayoutChannels;
use crate::payout::bounded_failure_reason;
use crate::shop::{PayoutQuota, Shop};

/// Rule 4: at most one refund per order per this many seconds (WeChat
/// wants partial refunds of one order at least a minute apart).
pub const ORDER_REFUND_INTERVAL_S: i64 = 60;
/// Rule 5: at most this many live refunds per order (WeChat allows 50).
pub const MAX_LIVE_REFUNDS_PER_ORDER: u32 = 20;
/// Rule 7: a refund reason is at most this many bytes of UTF-8 (WeChat
/// `reason` is string(80)).
pub const MAX_REFUND_REASON_BYTES: usize = 80;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefundStatus {
    Pending,
    Processing,
    Succeeded,
    Failed,
}

impl RefundStatus {
    pub const ALL: [RefundStatus; 4] = [
        RefundStatus::Pending,
        RefundStatus::Processing,
        RefundStatus::Succeeded,
        RefundStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Pending => "PENDING",
            RefundStatus::Processing => "PROCESSING",
            RefundStatus::Succeeded => "SUCCEEDED",
            RefundStatus::Failed => "FAILED",
        }
    }

    pub fn parse(text: &str) -> Option<RefundStatus> {
        RefundStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn is_final(self) -> bool {
        matches!(self, RefundStatus::Succeeded | RefundStatus::Failed)
    }

    /// The only moves the state machine allows. A refund succeeds only
    /// after it was handed to the provider (`PROCESSING`).
    pub fn can_become(self, next: RefundStatus) -> bool {
        use RefundStatus::*;
        matches!(
            (self, next),
            (Pending, Processing)
                | (Processing, Succeeded)
                | (Processing, Failed)
                | (Pending, Failed)
        )
    }
}

/// Why the merchant refunds: at most [`MAX_REFUND_REASON_BYTES`] bytes, no
/// control characters (sent to the provider as is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundReason(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RefundReasonError {
    #[error("reason is longer than {MAX_REFUND_REASON_BYTES} bytes")]
    TooLong,
    #[error("reason contains control characters")]
    ControlCharacters,
}

impl RefundReason {
    pub fn parse(text: &str) -> Result<RefundReason, RefundReasonError> {
        if text.len() > MAX_REFUND_REASON_BYTES {
            return Err(RefundReasonError::TooLong);
        }
        if text.chars().any(char::is_control) {
            return Err(RefundReasonError::ControlCharacters);
        }
        Ok(RefundReason(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub refund_id: RefundId,
    pub shop_id: ShopId,
    pub order_id: OrderId,
    pub operator_id: OperatorId,
    pub amount: Amount,
    pub reason: Option<RefundReason>,
    /// The provider that collected the order: the one the refund goes through.
    pub provider: Provider,
    pub status: RefundStatus,
    pub failure_reason: Option<String>,
    /// The provider's id of the refund, once it told us.
    pub provider_refund_id: Option<String>,
    /// The part of the order's processing fee the provider hands back with
    /// it ([`Order::fee_returned_with`], fixed when it is reserved): the
    /// shop's balance moves by the amount less this. Zero for refunds
    /// reserved before it was kept, which reserved the whole amount.
    pub fee_returned: Money,
    pub idempotency_key: IdempotencyKey,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Refund {
    /// This refund after moving to `next` at `now`; stores call it once
    /// their write's condition made sure the state machine allows the move.
    pub fn moved_to(mut self, next: RefundStatus, now: DateTime<Utc>) -> Refund {
        debug_assert!(
            self.status.can_become(next),
            "{:?} -> {next:?}",
            self.status
        );
        self.status = next;
        self.updated_at = now;
        self
    }

    /// Handed to the provider (`PENDING → PROCESSING`), or `None` when it is
    /// no longer pending (then the worker queries before it resends).
    pub fn started(&self, now: DateTime<Utc>) -> Option<Refund> {
        (self.status == RefundStatus::Pending)
            .then(|| self.clone().moved_to(RefundStatus::Processing, now))
    }

    /// The ledger entry id of this refund's movement: the provider's refund
    /// id when it gave one, else ours. The provider's refund notice names the
    /// same movement (`payment::CollectionEvent::movement_entry_id`), so a
    /// notice arriving after we settled finds it written and changes nothing.
    pub fn movement_entry_id(&self, provider_refund_id: Option<&str>) -> String {
        let id = provider_refund_id.unwrap_or(self.refund_id.as_str());
        format!("refund-{}-{id}", self.provider)
    }

    /// What its reservation moved from the shop's balance into the hold:
    /// the amount less the fee handed back with it.
    pub fn held(&self) -> Money {
        self.amount.money().headroom_over(self.fee_returned)
    }

    pub fn failed_with(self, reason: &str, now: DateTime<Utc>) -> Refund {
        let mut failed = self.moved_to(RefundStatus::Failed, now);
        failed.failure_reason = Some(bounded_failure_reason(reason));
        failed
    }
}

/// Why a refund was refused (BUYER_PAGES §11.2), with headroom where a rule has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundRefusal {
    #[error("order not found in this shop")]
    OrderNotFound,
    #[error("order is {}, refunds need a paid order", .status.as_str())]
    OrderNotRefundable { status: OrderStatus },
    #[error("the provider that collected this order cannot refund it here")]
    ChannelUnavailable,
    #[error("this sub-account may not refund")]
    OperatorNoQuota,
    #[error("refunds and payouts would exceed the order's paid amount; {remaining} left")]
    ExceedsRefundable { remaining: Money },
    #[error("one refund per order every {ORDER_REFUND_INTERVAL_S} s; retry in {retry_after_s} s")]
    TooFrequent { retry_after_s: u64 },
    #[error("the order already has {MAX_LIVE_REFUNDS_PER_ORDER} live refunds")]
    CountExceeded,
    #[error("the shop's payout balance is too low; {remaining} available")]
    InsufficientBalance { remaining: Money },
}

impl RefundRefusal {
    /// The stable error code (API.md, BUYER_PAGES §11.2).
    pub fn code(&self) -> &'static str {
        match self {
            RefundRefusal::OrderNotFound => "ORDER_NOT_FOUND",
            RefundRefusal::OrderNotRefundable { .. } => "ORDER_NOT_REFUNDABLE",
            RefundRefusal::ChannelUnavailable => "REFUND_CHANNEL_UNAVAILABLE",
            RefundRefusal::OperatorNoQuota => "OPERATOR_NO_QUOTA",
            RefundRefusal::ExceedsRefundable { .. } => "REFUND_EXCEEDS_REFUNDABLE",
            RefundRefusal::TooFrequent { .. } => "REFUND_TOO_FREQUENT",
            RefundRefusal::CountExceeded => "ORDER_REFUND_COUNT_EXCEEDED",
            RefundRefusal::InsufficientBalance { .. } => "INSUFFICIENT_BALANCE",
        }
    }

    pub fn remaining(&self) -> Option<Money> {
        match self {
            RefundRefusal::ExceedsRefundable { remaining }
            | RefundRefusal::InsufficientBalance { remaining } => Some(*remaining),
            _ => None,
        }
    }

    pub fn retry_after_s(&self) -> Option<u64> {
        match self {
            RefundRefusal::TooFrequent { retry_after_s } => Some(*retry_after_s),
            _ => None,
        }
    }
}

/// What the refund rules look at, as the store saw it at one moment.
#[derive(Debug, Clone, Copy)]
pub struct RefundFacts<'a> {
    pub shop: &'a Shop,
    pub order: Option<&'a Order>,
    /// `None` for the shop's main account; a sub-account's quota otherwise
    /// (`Some(None)`: it has none).
    pub staff_quota: Option<Option<&'a PayoutQuota>>,
    pub amount: Amount,
    /// The providers with a refund gateway on this stage.
    pub refund_providers: PayoutChannels,
    pub now: DateTime<Utc>,
}

/// Evaluates every refund rule; `Ok` is the headroom left after it. Order:
/// the order (1), the operator (2), the order's count and pace (5, 4), the
/// bound shared with payouts (3), the shop's balance (6).
pub fn evaluate_refund(facts: &RefundFacts<'_>) -> Result<Money, RefundRefusal> {
    let order = facts
        .order
        .filter(|o| o.shop_id == facts.shop.shop_id)
        .ok_or(RefundRefusal::OrderNotFound)?;
    if !order.status.admits_refunds() {
        return Err(RefundRefusal::OrderNotRefundable {
            status: order.status,
        });
    }
    let channel = order
        .provider
        .is_some_and(|p| facts.refund_providers.contains(p));
    if !channel {
        return Err(RefundRefusal::ChannelUnavailable);
    }
    if let Some(quota) = facts.staff_quota {
        if !quota.is_some_and(|q| q.refunds_enabled) {
            return Err(RefundRefusal::OperatorNoQuota);
        }
    }
    if order.refunds_live_count >= MAX_LIVE_REFUNDS_PER_ORDER {
        return Err(RefundRefusal::CountExceeded);
    }
    if let Some(retry_after_s) = seconds_until_next_refund(order, facts.now) {
        return Err(RefundRefusal::TooFrequent { retry_after_s });
    }
    let remaining = order.uncommitted();
    let after = remaining
        .checked_sub(facts.amount.money())
        .ok_or(RefundRefusal::ExceedsRefundable { remaining })?;
    // The provider hands back the fee's share with the money: the shop
    // needs only the rest.
    let fee_back = order.fee_returned_with(order.refunds_live_total(), facts.amount.money());
    let balance = facts.shop.payout_balance;
    if balance < facts.amount.money().headroom_over(fee_back) {
        return Err(RefundRefusal::InsufficientBalance { remaining: balance });
    }
    Ok(after)
}

fn seconds_until_next_refund(order: &Order, now: DateTime<Utc>) -> Option<u64> {
    let last = order.last_refund_at?;
    let wait_ms = last.timestamp_millis() + ORDER_REFUND_INTERVAL_S * 1000 - now.timestamp_millis();
    (wait_ms > 0).then(|| u64::try_from((wait_ms + 999) / 1000).unwrap_or(1))
}

/// The latest last-refund instant (ms) that still admits a refund at `now`.
pub fn latest_admissible_last_refund(now: DateTime<Utc>) -> i64 {
    now.timestamp_millis() - ORDER_REFUND_INTERVAL_S * 1000
}

/// A refund a merchant asked for, ready to be reserved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    pub refund_id: RefundId,
    pub shop_id: ShopId,
    pub order_id: OrderId,
    pub operator_id: OperatorId,
    pub amount: Amount,
    pub reason: Option<RefundReason>,
    pub idempotency_key: IdempotencyKey,
    /// The stage's refund gateways; not part of the fingerprint.
    pub refund_providers: PayoutChannels,
    pub now: DateTime<Utc>,
}

impl RefundRequest {
    /// What makes two requests under one `Idempotency-Key` the same (SHA-256
    /// of shop, order, operator, amount, reason).
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        for part in [
            "refund",
            self.shop_id.as_str(),
            self.order_id.as_str(),
            self.operator_id.as_str(),
            &self.amount.to_string(),
            self.reason.as_ref().map_or("", RefundReason::as_str),
        ] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        hex::encode(h.finalize())
    }

    /// The refund this request becomes once reserved, handing back
    /// `fee_returned` of the order's processing fee.
    pub fn to_refund(&self, provider: Provider, fee_returned: Money) -> Refund {
        Refund {
            refund_id: self.refund_id.clone(),
            shop_id: self.shop_id.clone(),
            order_id: self.order_id.clone(),
            operator_id: self.operator_id.clone(),
            amount: self.amount,
            reason: self.reason.clone(),
            provider,
            status: RefundStatus::Pending,
            failure_reason: None,
            provider_refund_id: None,
            fee_returned,
            idempotency_key: self.idempotency_key.clone(),
            created_at: self.now,
            updated_at: self.now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RefundStatus::*;
    use super::*;

    #[test]
    fn state_machine_allows_only_the_lifecycle_moves() {
        let allowed = [
            (Pending, Processing),
            (Processing, Succeeded),
            (Processing, Failed),
            (Pending, Failed),
        ];
        for from in RefundStatus::ALL {
            for to in RefundStatus::ALL {
                assert_eq!(from.can_become(to), allowed.contains(&(from, to)));
            }
        }
    }

    #[test]
    fn a_reason_is_bounded_in_bytes_not_characters() {
        assert!(RefundReason::parse(&"a".repeat(80)).is_ok());
        assert_eq!(
            RefundReason::parse(&"a".repeat(81)),
            Err(RefundReasonError::TooLong)
        );
        // 27 Chinese characters are 81 bytes.
        assert_eq!(
            RefundReason::parse(&"退".repeat(27)),
            Err(RefundReasonError::TooLong)
        );
        assert!(RefundReason::parse(&"退".repeat(26)).is_ok());
        assert_eq!(
            RefundReason::parse("a\nb"),
            Err(RefundReasonError::ControlCharacters)
        );
    }
}
