//! Collection in DynamoDB: codes, POS nonces, and provider notices.
//!
//! A notice is applied as: one `TransactGetItems` (notification record,
//! order pointer, movement record), one for the order and its shop, then
//! [`decide`] and one `TransactWriteItems` that writes the decision on the
//! conditions that the notification is new, the order's `revision` is the
//! one read, every ledger movement is new and a debit fits the balance. Ten
//! deliveries of one notice race to that transaction: one wins, the others
//! find the notification written and change nothing.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    CancellationReason, ReturnValuesOnConditionCheckFailure as OnFailure, TransactWriteItem,
};
use chrono::{DateTime, Duration, Utc};
use qrpay_domain::checkout::RateWindow;
use qrpay_domain::payment::decide;
use qrpay_domain::receivables::owes_instalments;
use qrpay_domain::{
    Anomaly, CollectionEvent, CollectionFacts, Decision, DeviceId, Effect, Order, OrderId,
    OrderStatus, QrCode, QrId, QrState, ShopId,
};

use super::codec::*;
use super::collected::{cap_refusal, CapReservation};
use super::payout_effects::{equals_or_absent_when_zero, Expr};
use super::{build_error, names, DynamoStore, UpdateParts, WriteOutcome};
use qrpay_store::{
    Checkout, Closing, CollectionStore, Issued, OrderPage, OrderQuery, Revocation, StoreError,
    MAX_COLLECTION_ATTEMPTS, NOTIFICATION_RETENTION_S,
};

/// Placeholders for the values of a generated `SET` list.
const PLACEHOLDERS: [&str; 16] = [
    ":a0", ":a1", ":a2", ":a3", ":a4", ":a5", ":a6", ":a7", ":a8", ":a9", ":a10", ":a11", ":a12",
    ":a13", ":a14", ":a15",
];

impl DynamoStore {
    /// The order, and a pointer so that it can be found by id alone; the
    /// pointer claims the id across shops.
    pub(super) fn order_items(&self, order: &Order) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut pointer = order_pointer_key(&order.order_id);
        pointer.insert("shop_id".to_owned(), s(order.shop_id.as_str()));
        Ok(vec![
            self.put_new(order_item(order), OnFailure::None)?,
            self.put_new(pointer, OnFailure::None)?,
        ])
    }

    /// Puts the claim item `key` unless a live one exists: `true` if this
    /// call claimed it. TTL deletes lazily (up to days late), so an expired
    /// claim counts as gone.
    pub(super) async fn claim_until(
        &self,
        mut item: Item,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        item.insert(TTL_ATTRIBUTE.to_owned(), n(expires_at.timestamp()));
        self.trip();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#PK) OR #expires_at_s < :now_s")
            .set_expression_attribute_names(names(&[PK, TTL_ATTRIBUTE]))
            .set_expression_attribute_values(super::values(vec![(":now_s", n(now.timestamp()))]))
            .send()
            .await;
        super::condition_held(result)
    }

    fn notification_item(
        &self,
        event: &CollectionEvent,
        now: DateTime<Utc>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut item = notification_key(event.provider, &event.notification_id);
        item.insert("order_id".to_owned(), s(event.order_id.as_str()));
        item.insert("event".to_owned(), s(event.kind.name()));
        item.insert("received_at_ms".to_owned(), ms(now));
        let expires = now + Duration::seconds(NOTIFICATION_RETENTION_S);
        item.insert(TTL_ATTRIBUTE.to_owned(), n(expires.timestamp()));
        self.put_new(item, OnFailure::None)
    }

    /// An anomaly is recorded only if what it was decided on still holds:
    /// the order at the revision read, its movement not booked meanwhile
    /// (the order and the marker are read apart, so our refund may settle
    /// between the two reads; decided again, the notice finds it booked).
    fn still_as_read(
        &self,
        order: Option<&Order>,
        movement: Option<&str>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        // Without the order the notice was decided on that alone.
        let Some(order) = order else {
            return Ok(Vec::new());
        };
        let mut e = Expr::default();
        let read = Some(revision(order.revision));
        e.bound(REVISION, "=", read, "revision_read");
        let key = order_key(&order.shop_id, &order.order_id);
        let mut checks = vec![e.check(&self.table, key, OnFailure::None)?];
        if let Some(movement) = movement {
            let mut e = Expr::default();
            let pk = e.name(PK);
            e.require(format!("attribute_not_exists({pk})"));
            checks.push(e.check(&self.table, movement_key(movement), OnFailure::None)?);
        }
        Ok(checks)
    }

    fn anomaly_put(&self, anomaly: &Anomaly) -> Result<TransactWriteItem, StoreError> {
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(anomaly_item(anomaly)))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The writes of one applied notice, each conditioned on what was read.
    fn effect_items(
        &self,
        effect: &Effect,
        read: Option<&Order>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let order = &effect.order;
        let mut items = vec![self.order_change(order, read)?];
        for entry in &effect.ledger {
            items.push(self.put_new(ledger_item(entry), OnFailure::None)?);
            items.push(self.put_new(movement_key(&entry.entry_id), OnFailure::None)?);
        }
        if effect.balance_change_fen != 0 {
            let change = effect.balance_change_fen;
            let mut balance = self.update(
                shop_key(&order.shop_id),
                "ADD #payout_balance_fen :change",
                "#payout_balance_fen >= :debit",
                &[BALANCE],
            );
            balance.values = vec![(":change", n(change)), (":debit", n((-change).max(0)))];
            items.push(balance.build(&self.table)?);
        }
        if let Some(notice) = &effect.notice {
            items.push(self.put_new(notice_item(notice), OnFailure::None)?);
        }
        if let Some(anomaly) = &effect.anomaly {
            items.push(self.anomaly_put(anomaly)?);
        }
        if let Some(qr_id) = &effect.qr_used {
            let mut used = self.update(
                qr_key(&order.shop_id, qr_id),
                "SET #qr_state = :used, #updated_at_ms = :now",
                "attribute_exists(#qr_state)",
                &[QR_STATE, UPDATED_AT],
            );
            used.values = vec![
                (":used", s(QrState::Used.as_str())),
                (":now", ms(order.updated_at)),
            ];
            items.push(used.build(&self.table)?);
        }
        Ok(items)
    }

    /// Sets the order's collection fields if its revision and its refunds
    /// in flight are still as `read`: a refund reserved or released
    /// meanwhile moves neither the revision nor the refunded amount, but
    /// changes what a refund notice is decided on (whether it may be one of
    /// ours, and so waits).
    fn order_change(
        &self,
        order: &Order,
        read: Option<&Order>,
    ) -> Result<TransactWriteItem, StoreError> {
        let attributes = order_collection_attributes(order);
        if attributes.len() > PLACEHOLDERS.len() - 1 {
            return Err(StoreError::Corrupt("too many order attributes".into()));
        }
        let attribute_names: Vec<String> =
            attributes.iter().map(|(name, _)| name.clone()).collect();
        let sets: Vec<String> = attribute_names
            .iter()
            .zip(PLACEHOLDERS)
            .map(|(name, placeholder)| format!("#{name} = {placeholder}"))
            .collect();
        let mut all_names: Vec<&str> = attribute_names.iter().map(String::as_str).collect();
        all_names.extend(
            [REVISION, REFUNDS_PENDING]
                .iter()
                .filter(|name| !attribute_names.iter().any(|a| a == *name)),
        );
        let mut update = format!("SET {}", sets.join(", "));
        let mut remove = Vec::new();
        if order.status != OrderStatus::Created {
            // Paid (or moved on): no longer among the orders that can expire.
            remove.extend([GSI3PK, GSI3SK]);
        }
        if order.instalment_plan.is_some() && !owes_instalments(order) {
            // Repaid or refunded: no longer among the shop's receivables.
            remove.extend([GSI2PK, GSI2SK]);
        }
        if !remove.is_empty() {
            let listed: Vec<String> = remove.iter().map(|name| format!("#{name}")).collect();
            update.push_str(&format!(" REMOVE {}", listed.join(", ")));
            all_names.extend(remove);
        }
        let read_placeholder = PLACEHOLDERS[PLACEHOLDERS.len() - 1];
        let (read_revision, read_pending) =
            read.map_or((0, 0), |o| (o.revision, o.refunds_pending_total.fen()));
        let pending = format!("#{REFUNDS_PENDING}");
        let pending_condition = equals_or_absent_when_zero(&pending, ":pending_read", read_pending);
        let mut parts = UpdateParts {
            key: order_key(&order.shop_id, &order.order_id),
            update,
            condition: format!("#{REVISION} = {read_placeholder} AND {pending_condition}"),
            names: names(&all_names),
            values: Vec::new(),
        };
        parts.values = attributes
            .into_iter()
            .zip(PLACEHOLDERS)
            .map(|((_, value), placeholder)| (placeholder, value))
            .collect();
        parts
            .values
            .push((read_placeholder, n(revision(read_revision))));
        parts.values.push((":pending_read", n(read_pending)));
        parts.build(&self.table)
    }
}

impl DynamoStore {
    /// Counts one checkout in `window`, on the condition that it is not full.
    fn rate_count(&self, window: &RateWindow) -> Result<TransactWriteItem, StoreError> {
        let mut parts = self.update(
            rate_counter_key(window),
            "ADD #n :one SET #expires_at_s = :expires",
            "attribute_not_exists(#n) OR #n < :limit",
            &["n", TTL_ATTRIBUTE],
        );
        // Kept an hour past the window: TTL deletes lazily, and a read never
        // looks at another window's counter.
        let expires = window.window_end_s().saturating_add(3600);
        parts.values = vec![
            (":one", n(1)),
            (":limit", n(i64::from(window.limit))),
            (":expires", n(expires)),
        ];
        parts.build(&self.table)
    }
}

/// Which part of a checkout's transaction refused: the order's (its id
/// exists) or a window's (full).
fn checkout_refusal(reasons: &[CancellationReason], windows: &[RateWindow]) -> Checkout {
    let failed = |i: usize| {
        reasons
            .get(i)
            .and_then(|r| r.code())
            .is_some_and(|c| c == "ConditionalCheckFailed")
    };
    // Items 0 and 1 are the order and its pointer; the windows follow.
    match (0..windows.len()).find(|i| failed(i + 2)) {
        Some(i) => Checkout::Limited(windows[i].clone()),
        None => Checkout::Duplicate,
    }
}

pub(super) fn revision(r: u64) -> i64 {
    i64::try_from(r).unwrap_or(i64::MAX)
}

#[async_trait]
impl CollectionStore for DynamoStore {
    async fn count_plan_checkout(
        &self,
        shop_id: &ShopId,
        order_id: &OrderId,
        date: qrpay_domain::BusinessDate,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.plan_checkout_counted(shop_id, order_id, date, now)
            .await
    }

    async fn insert_order(&self, order: &Order) -> Result<bool, StoreError> {
        let mut items = self.order_items(order)?;
        items.extend(self.count_collection(order)?);
        match self.transact_write(items).await? {
            WriteOutcome::Written => Ok(true),
            WriteOutcome::Cancelled(_) => Ok(false),
        }
    }

    async fn open_checkout(
        &self,
        order: &Order,
        windows: &[RateWindow],
    ) -> Result<Checkout, StoreError> {
        let CapReservation {
            order,
            item: counter,
            cap,
        } = self.reserve_collection(order).await?;
        let mut items = self.order_items(&order)?;
        for window in windows {
            items.push(self.rate_count(window)?);
        }
        items.push(counter);
        match self.transact_write(items).await? {
            WriteOutcome::Written => Ok(Checkout::Opened),
            // Nothing refused: a concurrent transaction on the same items
            // (TransactionConflict); the caller may try again.
            WriteOutcome::Cancelled(reasons) if !reasons.iter().any(super::failed) => {
                Err(StoreError::Contention)
            }
            WriteOutcome::Cancelled(reasons) => {
                let refused = cap_refusal(reasons.get(2 + windows.len()), cap);
                Ok(refused.map_or_else(
                    || checkout_refusal(&reasons, windows),
                    Checkout::CapExceeded,
                ))
            }
        }
    }

    async fn get_order(
        &self,
        shop_id: &ShopId,
        order_id: &OrderId,
    ) -> Result<Option<Order>, StoreError> {
        self.get(order_key(shop_id, order_id))
            .await?
            .as_ref()
            .map(order_from)
            .transpose()
    }

    async fn list_shop_orders(&self, query: &OrderQuery) -> Result<OrderPage, StoreError> {
        self.query_shop_orders(query).await
    }

    async fn find_order(&self, order_id: &OrderId) -> Result<Option<Order>, StoreError> {
        let Some(pointer) = self.get(order_pointer_key(order_id)).await? else {
            return Ok(None);
        };
        let shop = ShopId::parse(get_s(&pointer, "shop_id")?)
            .map_err(|_| StoreError::Corrupt("order pointer shop_id".into()))?;
        self.get(order_key(&shop, order_id))
            .await?
            .as_ref()
            .map(order_from)
            .transpose()
    }

    async fn issue_qr(&self, code: &QrCode, order: Option<&Order>) -> Result<Issued, StoreError> {
        let mut items = vec![self.put_new(qr_item(code), OnFailure::None)?];
        if let Some(no) = &code.out_order_no {
            let mut claim = out_order_key(&code.shop_id, no);
            claim.insert("qr_id".to_owned(), s(code.qr_id.as_str()));
            claim.insert(FINGERPRINT.to_owned(), s(code.fingerprint.as_str()));
            items.push(self.put_new(claim, OnFailure::AllOld)?);
        }
        let mut cap = None;
        if let Some(order) = order {
            let reservation = self.reserve_collection(order).await?;
            items.extend(self.order_items(&reservation.order)?);
            items.push(reservation.item);
            cap = reservation.cap;
        }
        let reasons = match self.transact_write(items).await? {
            WriteOutcome::Written => return Ok(Issued::Created(code.clone())),
            WriteOutcome::Cancelled(reasons) => reasons,
        };
        let claimed = reasons
            .get(1)
            .filter(|r| r.code() == Some("ConditionalCheckFailed"))
            .and_then(|r| r.item());
        let Some(claim) = claimed else {
            let counter = reasons.len().checked_sub(1).and_then(|i| reasons.get(i));
            return match order.and_then(|_| cap_refusal(counter, cap)) {
                Some(refused) => Ok(Issued::CapExceeded(refused)),
                None => Err(StoreError::Contention),
            };
        };
        let first_id = QrId::parse(get_s(claim, "qr_id")?)
            .map_err(|_| StoreError::Corrupt("out_order_no claim qr_id".into()))?;
        let first = self
            .get(qr_key(&code.shop_id, &first_id))
            .await?
            .as_ref()
            .map(qr_from)
            .transpose()?
            .ok_or_else(|| StoreError::Corrupt(format!("claim points at missing {first_id}")))?;
        Ok(if first.fingerprint == code.fingerprint {
            Issued::Replayed(first)
        } else {
            Issued::Conflict(first)
        })
    }

    async fn get_qr(&self, shop_id: &ShopId, qr_id: &QrId) -> Result<Option<QrCode>, StoreError> {
        self.get(qr_key(shop_id, qr_id))
            .await?
            .as_ref()
            .map(qr_from)
            .transpose()
    }

    async fn revoke_qr(
        &self,
        shop_id: &ShopId,
        qr_id: &QrId,
        now: DateTime<Utc>,
    ) -> Result<Option<Revocation>, StoreError> {
        for attempt in 0..MAX_COLLECTION_ATTEMPTS {
            super::backoff::pause(attempt).await;
            let Some(code) = self
                .get(qr_key(shop_id, qr_id))
                .await?
                .as_ref()
                .map(qr_from)
                .transpose()?
            else {
                return Ok(None);
            };
            match code.state {
                QrState::Used => return Ok(Some(Revocation::Used(code))),
                QrState::Revoked => return Ok(Some(Revocation::AlreadyRevoked(code))),
                QrState::Active => {}
            }
            let mut revoke = self.update(
                qr_key(shop_id, qr_id),
                "SET #qr_state = :revoked, #updated_at_ms = :now",
                "#qr_state = :active",
                &[QR_STATE, UPDATED_AT],
            );
            revoke.values = vec![
                (":revoked", s(QrState::Revoked.as_str())),
                (":active", s(QrState::Active.as_str())),
                (":now", ms(now)),
            ];
            let mut items = vec![revoke.build(&self.table)?];
            if let Some(order_id) = &code.order_id {
                let order = self.get(order_key(shop_id, order_id)).await?;
                let order = order.as_ref().map(order_from).transpose()?;
                if let Some(order) = order.filter(|o| o.status == OrderStatus::Created) {
                    // The unpaid order closes with its code, unless it moved meanwhile.
                    let mut close = self.update(
                        order_key(shop_id, order_id),
                        "SET #order_status = :closed, #revision = :next, #updated_at_ms = :now REMOVE #GSI3PK, #GSI3SK",
                        "#revision = :rev",
                        &[ORDER_STATUS, REVISION, UPDATED_AT, GSI3PK, GSI3SK],
                    );
                    close.values = vec![
                        (":closed", s(OrderStatus::Closed.as_str())),
                        (":next", n(revision(order.revision + 1))),
                        (":rev", n(revision(order.revision))),
                        (":now", ms(now)),
                    ];
                    items.push(close.build(&self.table)?);
                    // Closed unpaid: its room under the day's cap comes back.
                    items.extend(self.release_collection(&order)?);
                }
            }
            if let WriteOutcome::Written = self.transact_write(items).await? {
                let revoked = QrCode {
                    state: QrState::Revoked,
                    updated_at: now,
                    ..code
                };
                return Ok(Some(Revocation::Revoked(revoked)));
            }
        }
        Err(StoreError::Contention)
    }

    async fn claim_nonce(
        &self,
        device_id: &DeviceId,
        nonce: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.claim_until(nonce_key(device_id, nonce), now, expires_at)
            .await
    }

    async fn list_expired_orders(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        self.expired_orders(now, limit).await
    }

    async fn close_expired_order(
        &self,
        shop_id: &ShopId,
        order_id: &OrderId,
        now: DateTime<Utc>,
    ) -> Result<Option<Closing>, StoreError> {
        self.close_expired(shop_id, order_id, now).await
    }

    async fn bind_provider_order(
        &self,
        order: &Order,
        provider: qrpay_domain::Provider,
        now: DateTime<Utc>,
    ) -> Result<Option<Order>, StoreError> {
        self.bind_provider(order, provider, now).await
    }

    async fn collected_on(
        &self,
        shop_id: &ShopId,
        date: qrpay_domain::BusinessDate,
    ) -> Result<qrpay_domain::Money, StoreError> {
        let fen = self.collected_fen(shop_id, date).await?;
        qrpay_domain::Money::from_fen(fen)
            .ok_or_else(|| StoreError::Corrupt(format!("collection counter {fen}")))
    }

    async fn apply_collection(
        &self,
        event: &CollectionEvent,
        now: DateTime<Utc>,
    ) -> Result<Decision, StoreError> {
        let notification = notification_key(event.provider, &event.notification_id);
        let movement = event.movement_entry_id();
        for attempt in 0..MAX_COLLECTION_ATTEMPTS {
            super::backoff::pause(attempt).await;
            let mut keys = vec![notification.clone(), order_pointer_key(&event.order_id)];
            keys.extend(movement.as_deref().map(movement_key));
            let first = self.transact_get(keys).await?;
            if first[0].is_some() {
                return Ok(Decision::AlreadyApplied);
            }
            let movement_recorded = first.get(2).is_some_and(Option::is_some);
            let (order, shop) = match &first[1] {
                Some(pointer) => {
                    let shop_id = ShopId::parse(get_s(pointer, "shop_id")?)
                        .map_err(|_| StoreError::Corrupt("order pointer shop_id".into()))?;
                    let both = self
                        .transact_get(vec![
                            order_key(&shop_id, &event.order_id),
                            shop_key(&shop_id),
                        ])
                        .await?;
                    (
                        both[0].as_ref().map(order_from).transpose()?,
                        both[1].as_ref().map(shop_from).transpose()?,
                    )
                }
                None => (None, None),
            };
            let facts = CollectionFacts {
                order: order.as_ref(),
                shop: shop.as_ref(),
                movement_recorded,
            };
            let decision = decide(event, facts, now);
            let mut items = vec![self.notification_item(event, now)?];
            match &decision {
                Decision::Apply(effect) => {
                    items.extend(self.effect_items(effect, order.as_ref())?);
                }
                Decision::Anomaly(anomaly) => {
                    items.push(self.anomaly_put(anomaly)?);
                    // The movement was looked at only with both in hand.
                    let looked_at = movement.as_deref().filter(|_| shop.is_some());
                    items.extend(self.still_as_read(order.as_ref(), looked_at)?);
                }
                Decision::AlreadyApplied | Decision::NotYet(_) => return Ok(decision),
            }
            if let WriteOutcome::Written = self.transact_write(items).await? {
                return Ok(decision);
            }
            // Something changed since the read (or the same notice won the
            // race): read again and decide again.
        }
        Err(StoreError::Contention)
    }
}
