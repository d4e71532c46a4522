//! A shop's collection controls (SPEC §11): the daily collection cap
//! (单日收款上限) and the large-payment alert.
//!
//! # What counts against the daily collection cap
//!
//! The cap bounds what buyers may *start* paying a shop in one business day
//! (Asia/Shanghai), so it is enforced where a payable order comes to be:
//! a static code's checkout (`POST /pay/{token}` opening its order) and a
//! dynamic code's issue (merchant, POS over HTTPS or IoT), which is the only
//! way an order exists that a provider order can later be made for. Every
//! provider order (`POST /pay/{token}` with a way to pay, a code issued with
//! a `provider`) is made for an order that already holds its room.
//!
//! - **Reserve at checkout**: the order's amount is added to the shop's
//!   counter of the business day the order is created, atomically with the
//!   order itself, on the condition that the counter stays ≤ the cap. Two
//!   buyers checking out at once race to that one conditional write: exactly
//!   those that fit are opened; the other is refused with what remains and
//!   nothing is written. The day holding the amount is kept on the order
//!   ([`crate::Order::collection_day`]).
//! - **Keep when paid**: a payment is only ever applied to an order still
//!   awaiting payment and of exactly its amount, so a paid order's reservation
//!   simply stays: it is the day's collected amount. Later refunds do not
//!   give room back (the cap limits intake, not net takings).
//! - **Release when it closes unpaid**: expiry (the sweeper) or a revoked
//!   dynamic code takes the amount off the day it was counted on, in the same
//!   atomic write that closes the order. A provider notice arriving after
//!   that finds the order closed: it is never applied (an `ORDER_NOT_PAYABLE`
//!   anomaly, the buyer is refunded), so a released amount is never collected
//!   and the counter stays exact.
//! - Orders from before the counter existed carry no collection day: they
//!   were never counted and are never released.
//!
//! Every order is counted, whether the shop has a cap or not, so a cap set
//! during the day applies to the whole day's checkouts.

use chrono::{DateTime, Utc};

use crate::execution::{bounded_detail, Notice, NoticeKind};
use crate::money::{Amount, Money};
use crate::order::Order;
use crate::time::{rfc3339_beijing, BusinessDate};

/// The controls a shop sets in its setup (API.md: `daily_collection_cap`,
/// `large_payment_alert`). Both optional: none means no limit, no alert.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CollectionControls {
    pub daily_collection_cap: Option<Amount>,
    pub large_payment_alert: Option<Amount>,
}

/// A checkout refused by the daily collection cap: nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "this checkout would take the shop past its daily collection cap; {remaining} remains today"
)]
pub struct CollectionCapExceeded {
    /// What the shop may still take today (never negative).
    pub remaining: Money,
}

/// The business day whose counter holds an order opened at `created_at`.
pub fn collection_day(created_at: DateTime<Utc>) -> BusinessDate {
    BusinessDate::of(created_at)
}

/// Whether `amount` fits under `cap` with `counted_fen` already counted
/// today; the one place the cap's arithmetic is decided. No cap: it fits.
pub fn check_collection_cap(
    cap: Option<Amount>,
    counted_fen: i64,
    amount: Amount,
) -> Result<(), CollectionCapExceeded> {
    let Some(cap) = cap else {
        return Ok(());
    };
    let refused = cap_exceeded(cap, counted_fen);
    if amount.money() <= refused.remaining {
        Ok(())
    } else {
        Err(refused)
    }
}

/// The refusal with what `cap` leaves after `counted_fen` (never negative).
pub fn cap_exceeded(cap: Amount, counted_fen: i64) -> CollectionCapExceeded {
    let room_fen = cap.fen().saturating_sub(counted_fen).max(0);
    CollectionCapExceeded {
        remaining: Money::from_fen(room_fen).unwrap_or(Money::ZERO),
    }
}

/// The counter value a checkout of `amount` may find at most (for a
/// conditional write): `cap − amount`; `None` without a cap, negative when
/// the amount alone is above the cap (nothing fits).
pub fn counter_ceiling_fen(cap: Option<Amount>, amount: Amount) -> Option<i64> {
    cap.map(|c| c.fen() - amount.fen())
}

/// The in-app notice a payment at or above the shop's threshold leaves
/// (SPEC §11), one per order (its id is the order's): `None` below it or
/// without one. No personal data: the buyer is not named.
pub fn large_payment_notice(
    order: &Order,
    alert: Option<Amount>,
    now: DateTime<Utc>,
) -> Option<Notice> {
    let threshold = alert?;
    let paid = Amount::from_fen(order.paid_amount.fen()).ok()?;
    (paid >= threshold).then(|| Notice {
        notice_id: format!("large-payment-{}", order.order_id),
        shop_id: order.shop_id.clone(),
        kind: NoticeKind::LargePayment,
        message: bounded_detail(&format!(
            "Large payment: order {} was paid {} (at or above your alert of {threshold}) at {}.",
            order.order_id,
            paid,
            order
                .paid_at
                .map_or_else(|| rfc3339_beijing(now), rfc3339_beijing)
        )),
        payout_id: None,
        order_id: Some(order.order_id.clone()),
        created_at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{OrderId, ShopId};
    use crate::order::OrderStatus;

    fn amount(fen: i64) -> Amount {
        Amount::from_fen(fen).unwrap()
    }

    #[test]
    fn a_checkout_fits_up_to_the_cap_exactly_and_one_fen_more_is_refused_with_what_remains() {
        assert_eq!(check_collection_cap(None, 1_000_000, amount(1)), Ok(()));
        let cap = Some(amount(10_000));
        assert_eq!(check_collection_cap(cap, 7_000, amount(3_000)), Ok(()));
        assert_eq!(
            check_collection_cap(cap, 7_000, amount(3_001)),
            Err(CollectionCapExceeded {
                remaining: Money::from_fen(3_000).unwrap()
            })
        );
        // Over the cap already (a cap lowered during the day): nothing remains.
        assert_eq!(
            check_collection_cap(cap, 12_000, amount(1)),
            Err(CollectionCapExceeded {
                remaining: Money::ZERO
            })
        );
        assert_eq!(counter_ceiling_fen(cap, amount(3_000)), Some(7_000));
        assert_eq!(counter_ceiling_fen(cap, amount(10_001)), Some(-1));
        assert_eq!(counter_ceiling_fen(None, amount(1)), None);
    }

    #[test]
    fn a_payment_at_the_threshold_leaves_one_notice_named_after_its_order_and_below_none() {
        let at = DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        let mut order = Order::created(
            OrderId::parse("ord_1").unwrap(),
            ShopId::parse("s1").unwrap(),
            amount(50_000),
            at,
        );
        order.status = OrderStatus::Paid;
        order.paid_amount = Money::from_fen(50_000).unwrap();
        let notice = large_payment_notice(&order, Some(amount(50_000)), at).unwrap();
        assert_eq!(notice.notice_id, "large-payment-ord_1");
        assert_eq!(notice.kind, NoticeKind::LargePayment);
        assert!(notice.message.contains("500.00"), "{}", notice.message);
        assert_eq!(large_payment_notice(&order, Some(amount(50_001)), at), None);
        assert_eq!(large_payment_notice(&order, None, at), None);
    }
}
