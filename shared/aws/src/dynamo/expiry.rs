//! Orders that expired unpaid (SPEC §10): found through the sparse GSI3
//! partition `OPENORDER` (sort key `{expires_at ms}#{shop}#{order}`, written
//! while an order is `CREATED`, removed by whatever moves it on), and closed
//! on the condition that the order's `revision` is the one read, so a
//! payment applied meanwhile wins. The closed order and its pointer get the
//! table's TTL attribute: DynamoDB removes unpaid garbage within days.

use chrono::{DateTime, Duration, Utc};
use qrpay_domain::{Order, OrderId, OrderStatus, Provider, ShopId};
use qrpay_store::{Closing, StoreError, CLOSED_ORDER_RETENTION_S, MAX_COLLECTION_ATTEMPTS};

use super::codec::*;
use super::collection::revision;
use super::paging::KeyQuery;
use super::{failed, DynamoStore, WriteOutcome};

impl DynamoStore {
    /// `provider_order` set on the condition that the order's revision is
    /// the one read (so a payment, a close or another binding wins).
    pub(super) async fn bind_provider(
        &self,
        order: &Order,
        provider: Provider,
        now: DateTime<Utc>,
    ) -> Result<Option<Order>, StoreError> {
        let Some(bound) = order.bound_to(provider, now) else {
            return Ok(None);
        };
        let mut bind = self.update(
            order_key(&order.shop_id, &order.order_id),
            "SET #provider_order = :provider, #revision = :next, #updated_at_ms = :now",
            "#revision = :read AND #order_status = :created",
            &["provider_order", REVISION, UPDATED_AT, ORDER_STATUS],
        );
        bind.values = vec![
            (":provider", s(provider.as_str())),
            (":next", n(revision(bound.revision))),
            (":read", n(revision(order.revision))),
            (":now", ms(now)),
            (":created", s(OrderStatus::Created.as_str())),
        ];
        match self.transact_write(vec![bind.build(&self.table)?]).await? {
            WriteOutcome::Written => Ok(Some(bound)),
            WriteOutcome::Cancelled(_) => Ok(None),
        }
    }

    pub(super) async fn expired_orders(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        // Sort keys start with the zero-padded expiry: everything before
        // the next millisecond has expired at `now`.
        let query = KeyQuery {
            index: Some(GSI3),
            condition: "#GSI3PK = :pk AND #GSI3SK < :before",
            names: vec![GSI3PK, GSI3SK],
            values: vec![
                (":pk", s(OPEN_ORDER_GSI_PK)),
                (":before", s(ms_key(now + Duration::milliseconds(1)))),
            ],
            forward: true,
        };
        let items = self.query_all(&query, limit.max(1)).await?;
        items.iter().map(order_from).collect()
    }

    pub(super) async fn close_expired(
        &self,
        shop_id: &ShopId,
        order_id: &OrderId,
        now: DateTime<Utc>,
    ) -> Result<Option<Closing>, StoreError> {
        let purge_at_s = n((now + Duration::seconds(CLOSED_ORDER_RETENTION_S)).timestamp());
        for attempt in 0..MAX_COLLECTION_ATTEMPTS {
            super::backoff::pause(attempt).await;
            let read = self.get(order_key(shop_id, order_id)).await?;
            let Some(order) = read.as_ref().map(order_from).transpose()? else {
                return Ok(None);
            };
            let Some(closed) = order.closed_on_expiry(now) else {
                return Ok(Some(Closing::Unchanged(order)));
            };
            let mut close = self.update(
                order_key(shop_id, order_id),
                "SET #order_status = :closed, #revision = :next, #updated_at_ms = :now, \
                 #expires_at_s = :purge REMOVE #GSI3PK, #GSI3SK",
                "#revision = :read",
                &[
                    ORDER_STATUS,
                    REVISION,
                    UPDATED_AT,
                    TTL_ATTRIBUTE,
                    GSI3PK,
                    GSI3SK,
                ],
            );
            close.values = vec![
                (":closed", s(closed.status.as_str())),
                (":next", n(revision(closed.revision))),
                (":read", n(revision(order.revision))),
                (":now", ms(now)),
                (":purge", purge_at_s.clone()),
            ];
            let mut pointer = self.update(
                order_pointer_key(order_id),
                "SET #expires_at_s = :purge",
                "attribute_exists(#PK)",
                &[TTL_ATTRIBUTE, PK],
            );
            pointer.values = vec![(":purge", purge_at_s.clone())];
            let mut items = vec![close.build(&self.table)?, pointer.build(&self.table)?];
            // Closed unpaid: its room under the day's cap comes back.
            items.extend(self.release_collection(&order)?);
            match self.transact_write(items).await? {
                WriteOutcome::Written => return Ok(Some(Closing::Closed(closed))),
                WriteOutcome::Cancelled(reasons) => {
                    let order_moved = reasons.first().is_some_and(failed);
                    if !order_moved && reasons.get(1).is_some_and(failed) {
                        return Err(StoreError::Corrupt(format!(
                            "order {order_id} has no pointer"
                        )));
                    }
                    // A payment (or anything else) moved it: read again.
                }
            }
        }
        Err(StoreError::Contention)
    }
}
