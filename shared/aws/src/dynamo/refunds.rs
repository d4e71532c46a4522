//! Merchant refunds in DynamoDB: the domain decides every change
//! ([`qrpay_domain::refund_books`]); this module translates a
//! [`RefundEffect`] into the items of one `TransactWriteItems`, each
//! conditioned on the bounds the effect carries. A cancelled write is
//! decided again on a fresh read (the refusal, if a rule now fails, comes
//! from that read), at most [`MAX_REFUND_WRITE_ATTEMPTS`] times.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValuesOnConditionCheckFailure as OnFailure, TransactWriteItem,
};
use chrono::{DateTime, Utc};
use qrpay_domain::refund_books::{RefundMove, RefundOrderChange, RefundOrderGuard, RefundSnapshot};
use qrpay_domain::{
    fail_refund, reserve_refund, succeed_refund, Order, OrderId, OrderStatus, Refund, RefundEffect,
    RefundId, RefundRequest, RefundStatus, ShopId,
};
use qrpay_store::{
    RefundError, RefundReserveError, RefundReserved, RefundStore, RefundTransition, StoreError,
};

use super::codec::*;
use super::paging::KeyQuery;
use super::payout_effects::{at_least, Expr};
use super::{failed, DynamoStore, WriteOutcome};

/// Fresh attempts at a refund write that lost a race without a rule
/// failing. Refunds and payouts of one order contend on one bound, so a
/// burst re-decides more often than payouts alone.
const MAX_REFUND_WRITE_ATTEMPTS: usize = 12;
/// Most refunds listed for one order (rule 5 keeps live ones to 20; failed
/// ones are bounded by rule 4's pace).
const MAX_ORDER_REFUNDS_LISTED: usize = 1_000;

impl DynamoStore {
    fn refund_effect_items(
        &self,
        effect: &RefundEffect,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let refund = &effect.refund;
        let shop_id = &refund.shop_id;
        let mut items = Vec::with_capacity(8);
        match &effect.moved {
            RefundMove::Create { fingerprint } => {
                items.push(self.put_new(refund_item(refund), OnFailure::AllOld)?);
                let mut pointer = refund_pointer_key(&refund.refund_id);
                pointer.insert("shop_id".to_owned(), s(shop_id.as_str()));
                items.push(self.put_new(pointer, OnFailure::None)?);
                let mut idem = refund_idempotency_key(shop_id, &refund.idempotency_key);
                idem.extend([
                    ("entity".to_owned(), s("refund_idempotency")),
                    (FINGERPRINT.to_owned(), s(fingerprint.as_str())),
                    ("refund_id".to_owned(), s(refund.refund_id.as_str())),
                    ("created_at_ms".to_owned(), ms(refund.created_at)),
                ]);
                items.push(self.put_new(idem, OnFailure::None)?);
            }
            RefundMove::To(next) => items.push(self.refund_move(refund, *next)?),
        }
        items.push(self.order_refunds_change(shop_id, &effect.order)?);
        items.push(self.shop_change(shop_id, &effect.shop)?);
        if let Some(operator) = &effect.quota_operator {
            let mut e = Expr::default();
            let enabled = e.name(REFUND_ENABLED);
            let yes = e.value("yes", AttributeValue::Bool(true));
            e.require(format!("{enabled} = {yes}"));
            items.push(e.check(&self.table, quota_key(shop_id, operator), OnFailure::None)?);
        }
        if let Some(notice) = &effect.notice {
            items.push(self.put_new(notice_item(notice), OnFailure::None)?);
        }
        if let Some(entry) = &effect.ledger {
            items.push(self.put_new(ledger_item(entry), OnFailure::None)?);
            // The movement a provider notice of this refund would name.
            items.push(self.put_new(movement_key(&entry.entry_id), OnFailure::None)?);
        }
        if let Some(entry) = &effect.fee_returned {
            items.push(self.put_new(ledger_item(entry), OnFailure::None)?);
        }
        Ok(items)
    }

    /// The refund moves to `next` from any status that may become it.
    fn refund_move(
        &self,
        refund: &Refund,
        next: RefundStatus,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut e = Expr::default();
        let mut set = e.status_set(REFUND_STATUS, next.as_str(), refund.updated_at);
        let optional = [
            ("failure_reason", refund.failure_reason.as_deref()),
            ("provider_refund_id", refund.provider_refund_id.as_deref()),
        ];
        for (attribute, value) in optional {
            if let Some(value) = value {
                set.push(format!(
                    "{} = {}",
                    e.name(attribute),
                    e.value(attribute, s(value))
                ));
            }
        }
        let sources: Vec<&str> = [RefundStatus::Pending, RefundStatus::Processing]
            .into_iter()
            .filter(|from| from.can_become(next))
            .map(RefundStatus::as_str)
            .collect();
        let update = e.status_move(REFUND_STATUS, &sources, &set, next.is_final());
        e.update(
            &self.table,
            refund_key(&refund.shop_id, &refund.refund_id),
            update,
        )
    }

    /// The order's refund totals move, on the conditions the change carries.
    fn order_refunds_change(
        &self,
        shop_id: &ShopId,
        change: &RefundOrderChange,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut e = Expr::default();
        let pk = e.name(PK);
        e.require(format!("attribute_exists({pk})"));
        let mut set = vec![format!(
            "{} = {}",
            e.name(UPDATED_AT),
            e.value("now", ms(change.updated_at))
        )];
        let pending = e.name(REFUNDS_PENDING);
        let mut remove: Vec<String> = Vec::new();
        let mut add = vec![format!(
            "{pending} {}",
            e.value("dp", n(change.pending_fen))
        )];
        if change.count != 0 {
            let count = e.name(REFUNDS_COUNT);
            add.push(format!("{count} {}", e.value("dc", n(change.count))));
        }
        if let Some(at) = change.last_refund_at {
            set.push(format!(
                "{} = {}",
                e.name(LAST_REFUND_AT),
                e.value("last", ms(at))
            ));
        }
        if let Some(g) = &change.guard {
            require_as_read(&mut e, g);
        }
        if let Some(max) = change.max_pending_before_fen {
            let max = e.value("max_pending", n(max));
            e.require(format!(
                "(attribute_not_exists({pending}) OR {pending} <= {max})"
            ));
        }
        if let Some(max) = change.max_count_before {
            let count = e.name(REFUNDS_COUNT);
            let max = e.value("max_count", n(max));
            e.require(format!(
                "(attribute_not_exists({count}) OR {count} <= {max})"
            ));
        }
        let min_pending = at_least(change.min_pending_before_fen());
        e.bound(REFUNDS_PENDING, ">=", min_pending, "min_pending");
        e.bound(
            REFUNDS_COUNT,
            ">=",
            at_least(change.min_count_before()),
            "min_count",
        );
        if let Some(m) = &change.refunded {
            let refunded = e.name(REFUNDED);
            let before = e.value("refunded_before", n(m.before.fen()));
            e.require(format!("{refunded} = {before}"));
            set.push(format!(
                "{refunded} = {}",
                e.value("refunded_after", n(m.after.fen()))
            ));
            set.push(format!(
                "{} = {}",
                e.name(ORDER_STATUS),
                e.value("status_after", s(m.status.as_str()))
            ));
            // Collection notices decided on the order before are decided again.
            add.push(format!("{} {}", e.name(REVISION), e.value("one", n(1))));
            if m.status == OrderStatus::Refunded {
                // A fully refunded plan owes nothing: out of the receivables.
                remove.extend([e.name(GSI2PK), e.name(GSI2SK)]);
            }
        }
        let mut update = format!("SET {} ADD {}", set.join(", "), add.join(", "));
        if !remove.is_empty() {
            update.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        e.update(&self.table, order_key(shop_id, &change.order_id), update)
    }

    async fn reserve_refund_write(
        &self,
        req: &RefundRequest,
    ) -> Result<RefundReserved, RefundReserveError> {
        for attempt in 0..MAX_REFUND_WRITE_ATTEMPTS {
            super::backoff::pause(attempt).await;
            let keys = vec![
                shop_key(&req.shop_id),
                order_key(&req.shop_id, &req.order_id),
                refund_idempotency_key(&req.shop_id, &req.idempotency_key),
                quota_key(&req.shop_id, &req.operator_id),
            ];
            let items = self.transact_get(keys).await?;
            let item = |i: usize| items.get(i).and_then(Option::as_ref);
            if let Some(idem) = item(2) {
                if get_s(idem, FINGERPRINT)? != req.fingerprint() {
                    return Err(RefundReserveError::IdempotencyConflict);
                }
                let refund_id = RefundId::parse(get_s(idem, "refund_id")?)
                    .map_err(|_| StoreError::Corrupt("refund idempotency refund_id".into()))?;
                let refund = self
                    .get_refund(&req.shop_id, &refund_id)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt(format!("missing {refund_id}")))?;
                return Ok(RefundReserved::Replayed(refund));
            }
            let snapshot = RefundSnapshot {
                shop: item(0).map(shop_from).transpose()?,
                order: item(1).map(order_from).transpose()?,
                quota: item(3).map(quota_from).transpose()?,
            };
            let shop = snapshot
                .shop
                .as_ref()
                .ok_or(RefundReserveError::ShopNotFound)?;
            let effect = reserve_refund(shop, &snapshot, req)?;
            let items = self.refund_effect_items(&effect)?;
            if let WriteOutcome::Written = self.transact_write(items).await? {
                return Ok(RefundReserved::Created(effect.refund));
            }
            tracing::debug!(refund_id = %req.refund_id, "refund reservation raced; deciding again");
        }
        Err(StoreError::Contention.into())
    }

    async fn existing_refund(
        &self,
        shop_id: &ShopId,
        refund_id: &RefundId,
    ) -> Result<Refund, RefundError> {
        self.get_refund(shop_id, refund_id)
            .await?
            .ok_or(RefundError::RefundNotFound)
    }

    /// Moves a refund as the domain decides from it and its order as they
    /// are now (and whether `movement` is already in the ledger).
    async fn move_refund(
        &self,
        shop_id: &ShopId,
        refund_id: &RefundId,
        movement: impl Fn(&Refund) -> Option<String>,
        decide: impl Fn(&Refund, &Order, bool) -> Option<RefundEffect>,
    ) -> Result<RefundTransition, RefundError> {
        for attempt in 0..MAX_REFUND_WRITE_ATTEMPTS {
            super::backoff::pause(attempt).await;
            let refund = self.existing_refund(shop_id, refund_id).await?;
            let mut keys = vec![order_key(shop_id, &refund.order_id)];
            keys.extend(movement(&refund).as_deref().map(movement_key));
            let read = self.transact_get(keys).await?;
            let order = read[0]
                .as_ref()
                .map(order_from)
                .transpose()?
                .ok_or_else(|| StoreError::Corrupt(format!("{refund_id} without its order")))?;
            let recorded = read.get(1).is_some_and(Option::is_some);
            let Some(effect) = decide(&refund, &order, recorded) else {
                return Ok(RefundTransition::Unchanged(refund));
            };
            let items = self.refund_effect_items(&effect)?;
            match self.transact_write(items).await? {
                WriteOutcome::Written => return Ok(RefundTransition::Moved(effect.refund)),
                WriteOutcome::Cancelled(reasons) => {
                    if reasons.first().is_some_and(failed) {
                        // Someone else moved it first: decided again on what it is now.
                        continue;
                    }
                }
            }
        }
        Err(StoreError::Contention.into())
    }
}

#[async_trait]
impl RefundStore for DynamoStore {
    async fn reserve_refund(
        &self,
        request: &RefundRequest,
    ) -> Result<RefundReserved, RefundReserveError> {
        self.reserve_refund_write(request).await
    }

    async fn get_refund(
        &self,
        shop_id: &ShopId,
        refund_id: &RefundId,
    ) -> Result<Option<Refund>, StoreError> {
        self.get(refund_key(shop_id, refund_id))
            .await?
            .as_ref()
            .map(refund_from)
            .transpose()
    }

    async fn find_refund(&self, refund_id: &RefundId) -> Result<Option<Refund>, StoreError> {
        let Some(pointer) = self.get(refund_pointer_key(refund_id)).await? else {
            return Ok(None);
        };
        let shop_id = ShopId::parse(get_s(&pointer, "shop_id")?)
            .map_err(|_| StoreError::Corrupt("refund pointer shop_id".into()))?;
        self.get_refund(&shop_id, refund_id).await
    }

    async fn list_order_refunds(
        &self,
        shop_id: &ShopId,
        order_id: &OrderId,
    ) -> Result<Vec<Refund>, StoreError> {
        let query = KeyQuery {
            index: Some(GSI1),
            condition: "#GSI1PK = :pk",
            names: vec![GSI1PK],
            values: vec![(":pk", s(order_refunds_gsi_pk(shop_id, order_id)))],
            forward: false,
        };
        let items = self.query_all(&query, MAX_ORDER_REFUNDS_LISTED).await?;
        items.iter().map(refund_from).collect()
    }

    async fn start_refund(
        &self,
        shop_id: &ShopId,
        refund_id: &RefundId,
        now: DateTime<Utc>,
    ) -> Result<RefundTransition, RefundError> {
        let refund = self.existing_refund(shop_id, refund_id).await?;
        let Some(started) = refund.started(now) else {
            return Ok(RefundTransition::Unchanged(refund));
        };
        let mut e = Expr::default();
        let status = e.name(REFUND_STATUS);
        let update = format!(
            "SET {status} = {}, {} = {}, {} = {}, {} = {}",
            e.value("processing", s(RefundStatus::Processing.as_str())),
            e.name(UPDATED_AT),
            e.value("now", ms(now)),
            e.name(GSI3PK),
            e.value("open_pk", s(open_refund_gsi_pk(RefundStatus::Processing))),
            e.name(GSI3SK),
            e.value("open_sk", s(open_refund_gsi_sk(&started))),
        );
        let pending = e.value("pending", s(RefundStatus::Pending.as_str()));
        e.require(format!("{status} = {pending}"));
        let item = e.update(&self.table, refund_key(shop_id, refund_id), update)?;
        match self.transact_write(vec![item]).await? {
            WriteOutcome::Written => Ok(RefundTransition::Moved(started)),
            WriteOutcome::Cancelled(_) => Ok(RefundTransition::Unchanged(
                self.existing_refund(shop_id, refund_id).await?,
            )),
        }
    }

    async fn succeed_refund(
        &self,
        shop_id: &ShopId,
        refund_id: &RefundId,
        provider_refund_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<RefundTransition, RefundError> {
        self.move_refund(
            shop_id,
            refund_id,
            |r| Some(r.movement_entry_id(provider_refund_id)),
            |r, order, recorded| succeed_refund(r, order, provider_refund_id, recorded, now),
        )
        .await
    }

    async fn fail_refund(
        &self,
        shop_id: &ShopId,
        refund_id: &RefundId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<RefundTransition, RefundError> {
        self.move_refund(
            shop_id,
            refund_id,
            |_| None,
            |r, _, _| fail_refund(r, reason, now),
        )
        .await
    }

    async fn list_open_refunds(
        &self,
        status: RefundStatus,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Refund>, StoreError> {
        let query = KeyQuery {
            index: Some(GSI3),
            condition: "#GSI3PK = :pk AND #GSI3SK < :before",
            names: vec![GSI3PK, GSI3SK],
            values: vec![
                (":pk", s(open_refund_gsi_pk(status))),
                (":before", s(ms_key(before))),
            ],
            forward: true,
        };
        let items = self.query_all(&query, limit.max(1)).await?;
        items.iter().map(refund_from).collect()
    }
}

/// A reservation's order as its rules read it: still refundable, paid,
/// refunded and paid out as read, its last refund no later than admits this
/// one, and (an order with a fee) the refunds in flight as read.
fn require_as_read(e: &mut Expr, g: &RefundOrderGuard) {
    let status = e.name(ORDER_STATUS);
    let paid_s = e.value("paid_status", s(OrderStatus::Paid.as_str()));
    let part_s = e.value("part_status", s(OrderStatus::PartiallyRefunded.as_str()));
    e.require(format!("{status} IN ({paid_s}, {part_s})"));
    e.bound(PAID, "=", Some(g.paid.fen()), "paid");
    e.bound(REFUNDED, "=", Some(g.refunded.fen()), "refunded");
    e.bound(LIVE_TOTAL, "=", Some(g.payouts_live_total.fen()), "payouts");
    let last = e.name(LAST_REFUND_AT);
    let latest = e.value("latest_last", n(g.latest_last_refund_ms));
    e.require(format!(
        "(attribute_not_exists({last}) OR {last} <= {latest})"
    ));
    if let Some(pending) = g.pending {
        e.equals_or_absent_when_zero(REFUNDS_PENDING, pending.fen(), "pending_read");
    }
}
