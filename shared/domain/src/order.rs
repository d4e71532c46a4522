//! Orders: created by a dynamic code or a static code's checkout, paid and
//! refunded by provider notices (SPEC §3, §5), paid back by payouts (§4).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::collection::{Provider, ProviderRef};
use crate::ids::{DeviceId, OrderId, OutOrderNo, QrId, ShopId};
use crate::instalment::{DeductionStatus, InstalmentPlan};
use crate::money::{Amount, Money};
use crate::payee::PayerAccount;
use crate::text::QrDescription;

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

    /// The same statuses admit refunds (BUYER_PAGES §11.2 rule 1).
    pub fn admits_refunds(self) -> bool {
        self.admits_payouts()
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
    /// Who collected it: known once it is paid.
    pub provider: Option<Provider>,
    pub provider_txn_id: Option<ProviderRef>,
    pub qr_id: Option<QrId>,
    /// The POS device whose code the order is for, if any (a merchant
    /// lists a device's orders, SPEC §11).
    pub device_id: Option<DeviceId>,
    pub out_order_no: Option<OutOrderNo>,
    pub description: Option<QrDescription>,
    pub instalment_plan: Option<InstalmentPlan>,
    /// One per period of the plan; empty without a plan.
    pub deductions: Vec<DeductionStatus>,
    /// The payer as the provider described them, masked (`张* 138****1234`).
    pub payer_masked: Option<String>,
    /// The account that paid, from the payment notice: where a payout goes.
    pub payer_account: Option<PayerAccount>,
    pub paid_at: Option<DateTime<Utc>>,
    /// Bumped by every collection change (payment, deduction, refund); those
    /// changes are written on the condition that it did not move meanwhile.
    pub revision: u64,
    /// Sum and count of this order's live payouts (pending, processing, succeeded).
    pub payouts_live_total: Money,
    pub payouts_live_count: u32,
    pub last_payout_at: Option<DateTime<Utc>>,
    /// Unpaid past this instant, the order is closed (SPEC §10): a static
    /// code's checkout lives `QRPAY_CHECKOUT_ORDER_TTL_S`, a dynamic code's
    /// order as long as its code. Orders written before expiry existed have none.
    pub expires_at: Option<DateTime<Utc>>,
    /// The provider asked to open an order of its own for this one (our id
    /// as its `out_trade_no`): it is closed there before it is closed here.
    pub provider_order: Option<Provider>,
    /// Sum of our refunds reserved and not yet final (`PENDING`,
    /// `PROCESSING`): committed, not yet in `refunded_amount`.
    pub refunds_pending_total: Money,
    /// Count of our live refunds (pending, processing, succeeded).
    pub refunds_live_count: u32,
    pub last_refund_at: Option<DateTime<Utc>>,
    /// The business day whose collection counter holds this order's amount
    /// (SPEC §11 daily collection cap, see `crate::controls`): the day it
    /// was made, where the store counts it when it writes the order. None
    /// only for orders stored before the counter existed (never counted,
    /// so never released).
    pub collection_day: Option<crate::time::BusinessDate>,
    /// The provider's processing fee booked with the payment: the part of
    /// its `FEE` entry under the shop's processing rate, not the monthly-pay
    /// fee the shop bears. The provider hands it back with refunds, in
    /// proportion ([`Order::fee_returned_with`]). Zero before the payment,
    /// without a rate, and for orders paid before it was kept.
    pub processing_fee: Money,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Order {
    /// A new order awaiting payment.
    pub fn created(
        order_id: OrderId,
        shop_id: ShopId,
        amount: Amount,
        now: DateTime<Utc>,
    ) -> Order {
        Order {
            order_id,
            shop_id,
            amount,
            paid_amount: Money::ZERO,
            refunded_amount: Money::ZERO,
            status: OrderStatus::Created,
            provider: None,
            provider_txn_id: None,
            qr_id: None,
            device_id: None,
            out_order_no: None,
            description: None,
            instalment_plan: None,
            deductions: Vec::new(),
            payer_masked: None,
            payer_account: None,
            paid_at: None,
            revision: 0,
            payouts_live_total: Money::ZERO,
            payouts_live_count: 0,
            last_payout_at: None,
            expires_at: None,
            provider_order: None,
            refunds_pending_total: Money::ZERO,
            refunds_live_count: 0,
            last_refund_at: None,
            collection_day: Some(crate::controls::collection_day(now)),
            processing_fee: Money::ZERO,
            created_at: now,
            updated_at: now,
        }
    }

    /// Attaches a monthly-pay plan, every period pending.
    pub fn with_plan(mut self, plan: Option<InstalmentPlan>) -> Order {
        self.deductions = plan
            .as_ref()
            .map(|p| vec![DeductionStatus::Pending; usize::from(p.periods.as_u8())])
            .unwrap_or_default();
        self.instalment_plan = plan;
        self
    }

    /// Still awaiting payment at `now` although its time is up.
    pub fn expired_unpaid(&self, now: DateTime<Utc>) -> bool {
        self.status == OrderStatus::Created && self.expires_at.is_some_and(|at| at <= now)
    }

    /// The order closed because it expired unpaid, if it did; `None` when
    /// it is paid, closed already, or not yet expired. The one place the
    /// `CREATED → CLOSED` move on expiry is decided; both stores only apply it.
    pub fn closed_on_expiry(&self, now: DateTime<Utc>) -> Option<Order> {
        self.expired_unpaid(now).then(|| Order {
            status: OrderStatus::Closed,
            revision: self.revision + 1,
            updated_at: now,
            ..self.clone()
        })
    }

    /// The order with its provider order now at `provider`, if it may be:
    /// only while it awaits payment. The buyer's page asks for this before
    /// making the provider's order, so the sweeper knows where to close it
    /// and an order is never open at two providers at once (a switch closes
    /// the first one before binding the second).
    pub fn bound_to(&self, provider: Provider, now: DateTime<Utc>) -> Option<Order> {
        (self.status == OrderStatus::Created && self.provider_order != Some(provider)).then(|| {
            Order {
                provider_order: Some(provider),
                revision: self.revision + 1,
                updated_at: now,
                ..self.clone()
            }
        })
    }

    /// Refunds that count against the paid amount: refunded already (ours
    /// and external ones made at the provider) plus ours still in flight.
    /// The API's `refunds_live_total`.
    pub fn refunds_live_total(&self) -> Money {
        let fen = self
            .refunded_amount
            .fen()
            .saturating_add(self.refunds_pending_total.fen());
        Money::from_fen(fen).unwrap_or(Money::ZERO)
    }

    /// What payouts may add up to: the paid amount less every live refund
    /// (SPEC §4 rule 4; SPEC §9 "refunds and live payouts of an order
    /// together never exceed what was paid").
    pub fn payout_ceiling(&self) -> Money {
        self.paid_amount.headroom_over(self.refunds_live_total())
    }

    /// The part of the processing fee a refund of `amount` hands back, with
    /// `before` refunded or in flight ahead of it: the fee's share of all
    /// refunded once it is through less its share before it, each half up
    /// to the fen (`share(x) = fee × x / paid`). Refunds that add up to the
    /// paid amount hand back exactly the fee, however they are split; each
    /// hands back between nothing and the fee.
    pub fn fee_returned_with(&self, before: Money, amount: Money) -> Money {
        let (fee, paid) = (
            i128::from(self.processing_fee.fen()),
            i128::from(self.paid_amount.fen()),
        );
        if fee == 0 || paid == 0 {
            return Money::ZERO;
        }
        let share = |refunded: i64| {
            let refunded = i128::from(refunded).clamp(0, paid);
            (2 * fee * refunded + paid) / (2 * paid)
        };
        let after = before.fen().saturating_add(amount.fen());
        let back = (share(after) - share(before.fen())).clamp(0, fee);
        Money::from_fen(i64::try_from(back).unwrap_or(0)).unwrap_or(Money::ZERO)
    }

    /// What is neither paid out nor refunded (live): the headroom both a
    /// payout (rule 4's `remaining`) and a refund (`REFUND_EXCEEDS_REFUNDABLE`'s
    /// `remaining`) are measured against. One bound for both kinds.
    pub fn uncommitted(&self) -> Money {
        self.payout_ceiling().headroom_over(self.payouts_live_total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{OrderId, ShopId};

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000 + s, 0).unwrap()
    }

    fn order(expires_at: Option<DateTime<Utc>>) -> Order {
        Order {
            expires_at,
            ..Order::created(
                OrderId::parse("ord_1").unwrap(),
                ShopId::parse("s1").unwrap(),
                Amount::parse("9.90").unwrap(),
                at(0),
            )
        }
    }

    #[test]
    fn only_an_unpaid_order_past_its_expiry_closes() {
        let o = order(Some(at(900)));
        assert_eq!(o.closed_on_expiry(at(899)), None);
        let closed = o.closed_on_expiry(at(900)).unwrap();
        assert_eq!(
            (closed.status, closed.revision, closed.updated_at),
            (OrderStatus::Closed, 1, at(900))
        );
        assert_eq!(closed.closed_on_expiry(at(901)), None, "closed once");
        let paid = Order {
            status: OrderStatus::Paid,
            ..o.clone()
        };
        assert_eq!(paid.closed_on_expiry(at(10_000)), None);
        assert_eq!(order(None).closed_on_expiry(at(10_000)), None);
    }

    fn money(fen: i64) -> Money {
        Money::from_fen(fen).unwrap()
    }

    #[test]
    fn refunds_of_the_whole_amount_hand_back_exactly_the_processing_fee() {
        // 68.00 paid, 0.41 fee (0.60%).
        let paid = Order {
            paid_amount: money(6800),
            processing_fee: money(41),
            ..order(None)
        };
        let back = |before, amount| paid.fee_returned_with(money(before), money(amount)).fen();
        assert_eq!(back(0, 6800), 41, "a full refund");
        // 41 × 1000 / 6800 = 6.03 → 6; 41 × 2000 / 6800 = 12.06 → 12.
        assert_eq!((back(0, 1000), back(1000, 1000)), (6, 6));
        assert_eq!(back(2000, 4800), 41 - 12, "the last part takes the rest");
        // Three thirds of 1 fen over 3 fen: 0.33 → 0, 0.67 → 1, 1.
        let tiny = Order {
            paid_amount: money(3),
            processing_fee: money(1),
            ..order(None)
        };
        let parts: Vec<i64> = (0..3)
            .map(|i| tiny.fee_returned_with(money(i), money(1)).fen())
            .collect();
        assert_eq!(parts, [0, 1, 0]);
        for split in [1, 7, 333, 1234, 6799] {
            let sum = back(0, split) + back(split, 6800 - split);
            assert_eq!(sum, 41, "split at {split}");
        }
        // Never more than the fee, never below nothing.
        assert_eq!(back(6800, 100), 0, "beyond the paid amount");
        assert_eq!(back(0, 1_000_000), 41);
        let no_fee = order(None);
        assert_eq!(
            no_fee.fee_returned_with(Money::ZERO, money(990)),
            Money::ZERO
        );
    }
}
