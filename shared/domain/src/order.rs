//! Orders, as far as payouts need them. Collection (SPEC §3, §5) fills them in.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{OrderId, ShopId};
use crate::money::{Amount, Money};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    Created,
    Paid,
    PartiallyRefunded,
    Refunded,
    Closed,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Created => "CREATED",
            OrderStatus::Paid => "PAID",
            OrderStatus::PartiallyRefunded => "PARTIALLY_REFUNDED",
            OrderStatus::Refunded => "REFUNDED",
            OrderStatus::Closed => "CLOSED",
        }
    }

    pub fn parse(text: &str) -> Option<OrderStatus> {
        [
            OrderStatus::Created,
            OrderStatus::Paid,
            OrderStatus::PartiallyRefunded,
            OrderStatus::Refunded,
            OrderStatus::Closed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// Money was received and not all given back: payouts may go against it.
    pub fn admits_payouts(self) -> bool {
        matches!(self, OrderStatus::Paid | OrderStatus::PartiallyRefunded)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub order_id: OrderId,
    pub shop_id: ShopId,
    pub amount: Amount,
    pub paid_amount: Money,
    pub refunded_amount: Money,
    pub status: OrderStatus,
    pub provider: String,
    pub provider_txn_id: Option<String>,
    /// Sum and count of this order's live payouts (pending, processing, succeeded).
    pub payouts_live_total: Money,
    pub payouts_live_count: u32,
    pub last_payout_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Order {
    /// What payouts may add up to: the paid amount less refunds (SPEC §4 rule 4).
    pub fn payout_ceiling(&self) -> Money {
        self.paid_amount.headroom_over(self.refunded_amount)
    }
}
