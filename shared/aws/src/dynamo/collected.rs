//! The daily collection cap in DynamoDB (SPEC §11; what counts is decided
//! in `qrpay_domain::controls`): one counter item a shop and business day,
//! `COLLECTED#{date}`. A checkout adds its order's amount in the same
//! transaction that writes the order, on the condition that the counter
//! stays within the cap; closing an unpaid order takes it off again in the
//! transaction that closes it. The same item counts the day's orders
//! opened and closed unpaid, and its checkouts shown with a plan (SPEC §11
//! KPIs, `activity.rs`).

use aws_sdk_dynamodb::types::{CancellationReason, TransactWriteItem};
use qrpay_domain::controls::{cap_exceeded, collection_day, counter_ceiling_fen};
use qrpay_domain::{Amount, BusinessDate, CollectionCapExceeded, Order, ShopId};

use super::codec::*;
use super::{conditional_update, names, values, DynamoStore};
use qrpay_store::StoreError;

/// An order's reservation under its shop's cap, ready to join the order's
/// transaction.
pub(super) struct CapReservation {
    /// The order as written: with the day that holds its amount.
    pub order: Order,
    pub item: TransactWriteItem,
    pub cap: Option<Amount>,
}

impl DynamoStore {
    /// Fen counted on a shop's day (a plain read: answers, never decisions).
    pub(super) async fn collected_fen(
        &self,
        shop_id: &ShopId,
        day: BusinessDate,
    ) -> Result<i64, StoreError> {
        match self.get(collected_day_key(shop_id, day)).await? {
            // The day's item may hold only KPI counters so far.
            Some(item) => Ok(get_opt_i64(&item, COLLECTED)?.unwrap_or(0)),
            None => Ok(0),
        }
    }

    /// The counter update that reserves `order`'s amount on its day, on the
    /// condition that the counter stays ≤ the shop's cap (read with the shop).
    pub(super) async fn reserve_collection(
        &self,
        order: &Order,
    ) -> Result<CapReservation, StoreError> {
        use qrpay_store::ShopStore;
        let cap = self
            .get_shop(&order.shop_id)
            .await?
            .and_then(|shop| shop.controls.daily_collection_cap);
        let day = order
            .collection_day
            .unwrap_or_else(|| collection_day(order.created_at));
        let ceiling = counter_ceiling_fen(cap, order.amount);
        let mut value_list = vec![(":amount", n(order.amount.fen())), (":one", n(1))];
        let condition = ceiling.map(|c| {
            value_list.push((":ceiling", n(c)));
            if c < 0 {
                // Above the cap by itself: this condition never holds (a
                // missing counter compares false), so nothing is written.
                format!("#{COLLECTED} <= :ceiling")
            } else {
                format!("attribute_not_exists(#{COLLECTED}) OR #{COLLECTED} <= :ceiling")
            }
        });
        let item = conditional_update(
            &self.table,
            collected_day_key(&order.shop_id, day),
            format!("ADD #{COLLECTED} :amount, #{ORDERS_CREATED} :one"),
            condition,
            names(&[COLLECTED, ORDERS_CREATED]),
            values(value_list),
        )?;
        Ok(CapReservation {
            order: Order {
                collection_day: Some(day),
                ..order.clone()
            },
            item,
            cap,
        })
    }

    /// The counter update that gives a closing order's room back; none for
    /// an order never counted.
    pub(super) fn release_collection(
        &self,
        order: &Order,
    ) -> Result<Option<TransactWriteItem>, StoreError> {
        self.collection_change(order, -1)
    }

    /// The counter update that counts an order written other than by a
    /// checkout (no cap to check); none for an order without a day.
    pub(super) fn count_collection(
        &self,
        order: &Order,
    ) -> Result<Option<TransactWriteItem>, StoreError> {
        self.collection_change(order, 1)
    }

    fn collection_change(
        &self,
        order: &Order,
        sign: i64,
    ) -> Result<Option<TransactWriteItem>, StoreError> {
        let Some(day) = order.collection_day else {
            return Ok(None);
        };
        // Counted in: one more order opened that day; released: one more
        // of that day's orders closed unpaid (SPEC §11 cancellation ratio).
        let count = if sign > 0 {
            ORDERS_CREATED
        } else {
            ORDERS_CLOSED_UNPAID
        };
        conditional_update(
            &self.table,
            collected_day_key(&order.shop_id, day),
            format!("ADD #{COLLECTED} :change, #{count} :one"),
            None,
            names(&[COLLECTED, count]),
            values(vec![
                (":change", n(sign * order.amount.fen())),
                (":one", n(1)),
            ]),
        )
        .map(Some)
    }
}

/// The refusal when the counter's condition failed (its old value comes
/// back with the cancellation); `None` if it did not fail.
pub(super) fn cap_refusal(
    reason: Option<&CancellationReason>,
    cap: Option<Amount>,
) -> Option<CollectionCapExceeded> {
    let reason = reason.filter(|r| r.code() == Some("ConditionalCheckFailed"))?;
    let counted = reason
        .item()
        .and_then(|item| get_i64(item, COLLECTED).ok())
        .unwrap_or(0);
    // Only a counter with a condition can fail it: one with a cap.
    cap.map(|cap| cap_exceeded(cap, counted))
}
