//! A shop's orders by creation time (SPEC §11): GSI1, one partition a shop
//! (`SHOP#{shop}#ORDERS`), sort key the order's [`OrderPosition::key`].
//! A page is a key-condition query on the range (never a scan), newest
//! first, resumed strictly after the cursor with `ExclusiveStartKey`, and
//! walked by the same [`OrderWalk`] as the embedded store.

use super::codec::*;
use super::{names, unavailable, values, DynamoStore};
use qrpay_store::orders::{position_floor, OrderWalk};
use qrpay_store::{OrderPage, OrderPosition, OrderQuery, StoreError};

/// The first read of a page asks for what would fill it; each further read
/// (a filter left it short) asks for twice the last, within the budget.
const GROWTH: usize = 2;

/// The GSI1 partition of a shop's orders.
pub fn shop_orders_gsi_pk(shop: &qrpay_domain::ShopId) -> String {
    format!("SHOP#{shop}#ORDERS")
}

/// The key an index query resumes after: the index's and the table's keys
/// of the order at `position`.
fn start_key(query: &OrderQuery, position: &OrderPosition) -> Item {
    let mut start = order_key(&query.shop_id, position.order_id());
    start.insert(GSI1PK.to_owned(), s(shop_orders_gsi_pk(&query.shop_id)));
    start.insert(GSI1SK.to_owned(), s(position.key()));
    start
}

impl DynamoStore {
    pub(super) async fn query_shop_orders(
        &self,
        query: &OrderQuery,
    ) -> Result<OrderPage, StoreError> {
        let low = position_floor(query.range.starts_at());
        // Positions at the instant after the range start with this prefix
        // and sort above it: `BETWEEN` leaves them out.
        let high = position_floor(query.range.ends_before());
        let mut start = match &query.after {
            Some(after) if after.key() < low => return Ok(OrderPage::default()),
            Some(after) if after.key() < high => Some(start_key(query, after)),
            _ => None,
        };
        let mut walk = OrderWalk::new(query);
        let mut ask = walk.room_left();
        while !walk.is_done() {
            let limit = ask.min(walk.budget_left()).max(1);
            self.trip();
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1)
                .key_condition_expression("#GSI1PK = :pk AND #GSI1SK BETWEEN :low AND :high")
                .set_expression_attribute_names(names(&[GSI1PK, GSI1SK]))
                .set_expression_attribute_values(values(vec![
                    (":pk", s(shop_orders_gsi_pk(&query.shop_id))),
                    (":low", s(low.clone())),
                    (":high", s(high.clone())),
                ]))
                .scan_index_forward(false)
                .limit(i32::try_from(limit).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            let mut items = out.items().iter();
            for item in items.by_ref() {
                walk.examine(order_from(item)?);
                if walk.is_done() {
                    break;
                }
            }
            let unread = items.len() > 0;
            if out.last_evaluated_key.is_none() && !unread {
                return Ok(walk.finish(false));
            }
            start = out.last_evaluated_key;
            ask = limit.saturating_mul(GROWTH);
        }
        Ok(walk.finish(true))
    }
}
