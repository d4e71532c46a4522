//! Small payouts and their state machine (SPEC §4):
//! `PENDING → PROCESSING → SUCCEEDED | FAILED` and `PENDING → FAILED`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::collection::Provider;
use crate::ids::{IdempotencyKey, OperatorId, OrderId, PayoutId, ShopId};
use crate::money::Amount;
use crate::payee::PayeeAction;
use crate::text::PayoutNote;
use crate::time::BusinessDate;

/// Longest failure reason kept on a payout.
pub const MAX_FAILURE_REASON_CHARS: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PayoutStatus {
    Pending,
    Processing,
    Succeeded,
    Failed,
}

impl PayoutStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutStatus::Pending => "PENDING",
            PayoutStatus::Processing => "PROCESSING",
            PayoutStatus::Succeeded => "SUCCEEDED",
            PayoutStatus::Failed => "FAILED",
        }
    }

    pub fn parse(text: &str) -> Option<PayoutStatus> {
        [
            PayoutStatus::Pending,
            PayoutStatus::Processing,
            PayoutStatus::Succeeded,
            PayoutStatus::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// Live payouts count against every limit; a failed one has released all.
    pub fn is_live(self) -> bool {
        !matches!(self, PayoutStatus::Failed)
    }

    pub fn is_final(self) -> bool {
        matches!(self, PayoutStatus::Succeeded | PayoutStatus::Failed)
    }

    /// The only moves the state machine allows.
    pub fn can_become(self, next: PayoutStatus) -> bool {
        use PayoutStatus::*;
        matches!(
            (self, next),
            (Pending, Processing)
                | (Processing, Succeeded)
                | (Processing, Failed)
                | (Pending, Failed)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PayoutReason {
    ShippingFee,
    PriceDifference,
    Other,
}

impl PayoutReason {
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutReason::ShippingFee => "SHIPPING_FEE",
            PayoutReason::PriceDifference => "PRICE_DIFFERENCE",
            PayoutReason::Other => "OTHER",
        }
    }

    pub fn parse(text: &str) -> Option<PayoutReason> {
        [
            PayoutReason::ShippingFee,
            PayoutReason::PriceDifference,
            PayoutReason::Other,
        ]
        .into_iter()
        .find(|r| r.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payout {
    pub payout_id: PayoutId,
    pub shop_id: ShopId,
    pub order_id: OrderId,
    pub operator_id: OperatorId,
    /// Whether a sub-account's daily counter holds this payout.
    pub counted_for_operator: bool,
    pub amount: Amount,
    pub reason: PayoutReason,
    pub note: Option<PayoutNote>,
    pub status: PayoutStatus,
    pub failure_reason: Option<String>,
    /// The Beijing day whose counters hold this payout.
    pub business_date: BusinessDate,
    pub idempotency_key: IdempotencyKey,
    /// The provider that collected the order: the one the transfer goes
    /// through (SPEC §9). `None` only for payouts reserved before it was kept.
    pub provider: Option<Provider>,
    /// While the transfer waits for the payee (WeChat `WAIT_USER_CONFIRM`).
    pub payee_action: Option<PayeeAction>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Payout {
    /// This payout after moving to `next` at `now`. Stores call it once their
    /// write's condition has made sure the move is one the state machine allows.
    pub fn moved_to(mut self, next: PayoutStatus, now: DateTime<Utc>) -> Payout {
        debug_assert!(
            self.status.can_become(next),
            "{:?} -> {next:?}",
            self.status
        );
        self.status = next;
        self.updated_at = now;
        self
    }

    /// This payout handed to the provider (`PENDING → PROCESSING`), or
    /// `None` when it is no longer pending.
    pub fn started(&self, now: DateTime<Utc>) -> Option<Payout> {
        (self.status == PayoutStatus::Pending)
            .then(|| self.clone().moved_to(PayoutStatus::Processing, now))
    }

    /// This payout waiting for its payee to do `action`, or `None` when it is
    /// not in progress or already waits for exactly that.
    pub fn awaiting_payee(&self, action: &PayeeAction) -> Option<Payout> {
        let new = self.payee_action.as_ref() != Some(action);
        (self.status == PayoutStatus::Processing && new).then(|| Payout {
            payee_action: Some(action.clone()),
            ..self.clone()
        })
    }

    /// This payout after failing at `now` for `reason` (kept bounded).
    pub fn failed_with(self, reason: &str, now: DateTime<Utc>) -> Payout {
        let mut failed = self.moved_to(PayoutStatus::Failed, now);
        failed.failure_reason = Some(bounded_failure_reason(reason));
        failed
    }
}

/// A failure reason cut to what we keep (`MAX_FAILURE_REASON_CHARS`).
pub fn bounded_failure_reason(reason: &str) -> String {
    reason.chars().take(MAX_FAILURE_REASON_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::PayoutStatus::*;

    #[test]
    fn state_machine_allows_only_the_spec_moves() {
        let all = [Pending, Processing, Succeeded, Failed];
        let allowed = [
            (Pending, Processing),
            (Processing, Succeeded),
            (Processing, Failed),
            (Pending, Failed),
        ];
        for from in all {
            for to in all {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from:?} -> {to:?}"
                );
            }
        }
        assert!(Succeeded.is_final() && Failed.is_final());
        assert!(
            Pending.is_live() && Processing.is_live() && Succeeded.is_live() && !Failed.is_live()
        );
    }
}
