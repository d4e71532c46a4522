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
    /// The part of `processing_fee` handed back with refunds that went back
    /// (ours and the provider's notices) or held to hand back by ours in
    /// flight: what the next refund's share is capped by, so the shares
    /// never add up to more than the fee, whatever failed between them.
    pub processing_fee_back: Money,
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
            processing_fee_back: Money::ZERO,
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
    /// `before` refunded or in flight ahead of it: the fee's share between
    /// the two ([`Order::fee_share_between`]), never more than is left of
    /// the fee (`processing_fee − processing_fee_back`), and all that is
    /// left for the refund that brings the order's refunds to the paid
    /// amount. Refunds that add up to the paid amount hand back exactly the
    /// fee, however they are split and whichever failed between them (a
    /// failed refund's share goes back to what is left).
    pub fn fee_returned_with(&self, before: Money, amount: Money) -> Money {
        let left = self.processing_fee.headroom_over(self.processing_fee_back);
        let after = before.fen().saturating_add(amount.fen());
        if self.processing_fee.is_zero() || after >= self.paid_amount.fen() {
            return left;
        }
        self.fee_share_between(before, amount).min(left)
    }

    /// The fee's share of refunds from `before` to `before + amount`: the
    /// share of all refunded once it is through less the share before it,
    /// each half up to the fen (`share(x) = fee × x / paid`), between
    /// nothing and the fee. Consecutive parts telescope: they add up to the
    /// share of their sum.
    pub fn fee_share_between(&self, before: Money, amount: Money) -> Money {
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
    fn the_fee_shares_of_parts_add_up_to_the_share_of_their_sum() {
        // 68.00 paid, 0.41 fee (0.60%).
        let paid = Order {
            paid_amount: money(6800),
            processing_fee: money(41),
            ..order(None)
        };
        let share = |before, amount| paid.fee_share_between(money(before), money(amount)).fen();
        assert_eq!(share(0, 6800), 41, "a full refund");
        // 41 × 1000 / 6800 = 6.03 → 6; 41 × 2000 / 6800 = 12.06 → 12.
        assert_eq!((share(0, 1000), share(1000, 1000)), (6, 6));
        assert_eq!(share(2000, 4800), 41 - 12, "the last part takes the rest");
        // Three thirds of 1 fen over 3 fen: 0.33 → 0, 0.67 → 1, 1.
        let tiny = Order {
            paid_amount: money(3),
            processing_fee: money(1),
            ..order(None)
        };
        let parts: Vec<i64> = (0..3)
            .map(|i| tiny.fee_share_between(money(i), money(1)).fen())
            .collect();
        assert_eq!(parts, [0, 1, 0]);
        for split in [1, 7, 333, 1234, 6799] {
            assert_eq!(
                share(0, split) + share(split, 6800 - split),
                41,
                "split at {split}"
            );
        }
        // Never more than the fee, never below nothing.
        assert_eq!(share(6800, 100), 0, "beyond the paid amount");
        assert_eq!(share(0, 1_000_000), 41);
        let no_fee = order(None);
        assert_eq!(
            no_fee.fee_share_between(Money::ZERO, money(990)),
            Money::ZERO
        );
        assert_eq!(
            no_fee.fee_returned_with(Money::ZERO, money(990)),
            Money::ZERO
        );
    }

    /// The order's refunds as the books keep them: each reserved at the
    /// live total with its share counted in `processing_fee_back`; a
    /// failed one gives its amount and its share back.
    struct Refunds {
        order: Order,
        live: Vec<(i64, i64)>,
    }

    impl Refunds {
        fn reserve(&mut self, amount: i64) -> usize {
            let live = self.order.refunds_live_total();
            let back = self.order.fee_returned_with(live, money(amount));
            self.order.refunds_pending_total =
                money(self.order.refunds_pending_total.fen() + amount);
            self.order.processing_fee_back =
                money(self.order.processing_fee_back.fen() + back.fen());
            self.live.push((amount, back.fen()));
            self.live.len() - 1
        }

        fn fail(&mut self, i: usize) {
            let (amount, back) = self.live[i];
            self.order.refunds_pending_total =
                money(self.order.refunds_pending_total.fen() - amount);
            self.order.processing_fee_back = money(self.order.processing_fee_back.fen() - back);
            self.live[i] = (0, 0);
        }
    }

    #[test]
    fn a_failed_refund_between_others_does_not_hand_back_more_than_the_fee() {
        // 100.00 paid, 0.60 fee. 0.80 reserved (0.48 → 0), then 1.70 after
        // it (2.50: 1.5 → 2, so 2), then the 0.80 fails: 98.30 completes the
        // order. Shares reckoned at the live total alone would give 0.60 −
        // share(1.70) = 0.59 for it, 0.61 in all; what is left gives 0.58.
        let mut refunds = Refunds {
            order: Order {
                paid_amount: money(10_000),
                processing_fee: money(60),
                ..order(None)
            },
            live: Vec::new(),
        };
        let first = refunds.reserve(80);
        refunds.reserve(170);
        refunds.fail(first);
        refunds.reserve(9_830);
        let backs: Vec<i64> = refunds.live.iter().map(|(_, back)| *back).collect();
        assert_eq!(backs, [0, 2, 58]);
        assert_eq!(refunds.order.processing_fee_back, money(60));
        // Nothing is left for a refund beyond the fee's worth.
        assert_eq!(
            refunds.order.fee_returned_with(money(5_000), money(10)),
            Money::ZERO
        );
    }

    #[test]
    fn shares_never_add_up_to_more_than_the_fee_whatever_fails() {
        // Every sequence of reservations and failures over a small order:
        // what is handed back by the survivors never passes the fee, and is
        // the whole fee once they add up to the paid amount.
        for fee in [1, 7, 60] {
            for seed in 0..400u64 {
                let mut refunds = Refunds {
                    order: Order {
                        paid_amount: money(1_000),
                        processing_fee: money(fee),
                        ..order(None)
                    },
                    live: Vec::new(),
                };
                let mut x = seed;
                let mut next = |m: u64| {
                    x = x
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    (x >> 33) % m
                };
                for _ in 0..12 {
                    let live = refunds.order.refunds_live_total().fen();
                    if live < 1_000 && next(3) > 0 {
                        let amount = 1 + next((1_000 - live) as u64) as i64;
                        refunds.reserve(amount);
                    } else if let Some(i) = refunds.live.iter().position(|(a, _)| *a > 0) {
                        refunds.fail(i);
                    }
                    let back: i64 = refunds.live.iter().map(|(_, b)| b).sum();
                    assert!(back <= fee, "fee {fee} seed {seed}: {back}");
                    assert_eq!(back, refunds.order.processing_fee_back.fen());
                    if refunds.order.refunds_live_total().fen() == 1_000 {
                        assert_eq!(back, fee, "fee {fee} seed {seed}: all refunded");
                    }
                }
            }
        }
    }
}
