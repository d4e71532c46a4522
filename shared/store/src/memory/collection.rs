use super::*;
use crate::orders::{in_walk, OrderPage, OrderPosition, OrderQuery, OrderWalk};
use qrpay_domain::controls::{check_collection_cap, collection_day};
use qrpay_domain::CollectionCapExceeded;

#[async_trait]
impl CollectionStore for MemoryStore {
    async fn insert_order(&self, order: &Order) -> Result<bool, StoreError> {
        let mut state = self.state();
        if !state.insert_order(order) {
            return Ok(false);
        }
        // Counted on its day, without the cap's check (not a checkout).
        state.count_collection(order, 1)?;
        Ok(true)
    }

    async fn open_checkout(
        &self,
        order: &Order,
        windows: &[RateWindow],
    ) -> Result<Checkout, StoreError> {
        let mut state = self.state();
        // Past windows are never read again: drop them.
        if let Some(oldest) = windows.iter().map(|w| w.window_start_s).min() {
            state.rate_counters.retain(|_, (_, end)| *end > oldest);
        }
        let full = windows.iter().find(|w| {
            let used = state.rate_counters.get(&w.counter_id()).map_or(0, |c| c.0);
            used >= w.limit
        });
        if let Some(window) = full {
            return Ok(Checkout::Limited(window.clone()));
        }
        // Every count is worked out (and bounded) before anything changes;
        // a window listed twice counts twice.
        let mut counted: HashMap<String, (u32, i64)> = HashMap::new();
        for w in windows {
            let id = w.counter_id();
            let stored = state.rate_counters.get(&id).copied();
            let counter = counted
                .entry(id)
                .or_insert_with(|| stored.unwrap_or((0, w.window_end_s())));
            counter.0 = counter
                .0
                .checked_add(1)
                .ok_or_else(|| overflow("rate counter"))?;
        }
        let order = match state.counted(order) {
            Ok(order) => order,
            Err(refused) => return Ok(Checkout::CapExceeded(refused)),
        };
        if !state.insert_order(&order) {
            return Ok(Checkout::Duplicate);
        }
        state.count_collection(&order, 1)?;
        state.rate_counters.extend(counted);
        Ok(Checkout::Opened)
    }

    async fn get_order(
        &self,
        shop_id: &ShopId,
        order_id: &OrderId,
    ) -> Result<Option<Order>, StoreError> {
        Ok(self
            .state()
            .orders
            .get(&(shop_id.clone(), order_id.clone()))
            .cloned())
    }

    async fn find_order(&self, order_id: &OrderId) -> Result<Option<Order>, StoreError> {
        let state = self.state();
        Ok(state
            .order_shops
            .get(order_id)
            .and_then(|shop| state.orders.get(&(shop.clone(), order_id.clone())))
            .cloned())
    }

    async fn issue_qr(&self, code: &QrCode, order: Option<&Order>) -> Result<Issued, StoreError> {
        let mut state = self.state();
        if let Some(no) = &code.out_order_no {
            let claim = (code.shop_id.clone(), no.clone());
            if let Some(first_id) = state.out_orders.get(&claim) {
                let first = state
                    .qr_codes
                    .get(&(code.shop_id.clone(), first_id.clone()))
                    .cloned()
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!("out_order_no {no} without its code"))
                    })?;
                return Ok(if first.fingerprint == code.fingerprint {
                    Issued::Replayed(first)
                } else {
                    Issued::Conflict(first)
                });
            }
        }
        let order = match order.map(|o| state.counted(o)).transpose() {
            Ok(order) => order,
            Err(refused) => return Ok(Issued::CapExceeded(refused)),
        };
        if let Some(no) = &code.out_order_no {
            let claim = (code.shop_id.clone(), no.clone());
            state.out_orders.insert(claim, code.qr_id.clone());
        }
        if let Some(order) = &order {
            if !state.insert_order(order) {
                return Err(StoreError::Corrupt(format!(
                    "new order id {} already exists",
                    order.order_id
                )));
            }
            state.count_collection(order, 1)?;
        }
        state
            .qr_codes
            .insert((code.shop_id.clone(), code.qr_id.clone()), code.clone());
        Ok(Issued::Created(code.clone()))
    }

    async fn get_qr(&self, shop_id: &ShopId, qr_id: &QrId) -> Result<Option<QrCode>, StoreError> {
        Ok(self
            .state()
            .qr_codes
            .get(&(shop_id.clone(), qr_id.clone()))
            .cloned())
    }

    async fn revoke_qr(
        &self,
        shop_id: &ShopId,
        qr_id: &QrId,
        now: DateTime<Utc>,
    ) -> Result<Option<Revocation>, StoreError> {
        let mut state = self.state();
        let key = (shop_id.clone(), qr_id.clone());
        let Some(code) = state.qr_codes.get(&key).cloned() else {
            return Ok(None);
        };
        match code.state {
            QrState::Used => return Ok(Some(Revocation::Used(code))),
            QrState::Revoked => return Ok(Some(Revocation::AlreadyRevoked(code))),
            QrState::Active => {}
        }
        let order_key = code.order_id.as_ref().map(|o| (shop_id.clone(), o.clone()));
        let closed = match order_key.as_ref().and_then(|k| state.orders.get(k)) {
            Some(order) if order.status == OrderStatus::Created => Some(Order {
                status: OrderStatus::Closed,
                revision: next_revision(order)?,
                updated_at: now,
                ..order.clone()
            }),
            _ => None,
        };
        let revoked = QrCode {
            state: QrState::Revoked,
            updated_at: now,
            ..code
        };
        if let (Some(order_key), Some(closed)) = (order_key, closed) {
            state.count_collection(&closed, -1)?;
            state.orders.insert(order_key, closed);
        }
        state.qr_codes.insert(key, revoked.clone());
        Ok(Some(Revocation::Revoked(revoked)))
    }

    async fn claim_nonce(
        &self,
        device_id: &DeviceId,
        nonce: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        // Expired claims go, as DynamoDB's TTL removes them.
        state.nonces.retain(|_, until| *until > now);
        let key = (device_id.clone(), nonce.to_owned());
        if state.nonces.contains_key(&key) {
            return Ok(false);
        }
        state.nonces.insert(key, expires_at);
        Ok(true)
    }

    async fn list_shop_orders(&self, query: &OrderQuery) -> Result<OrderPage, StoreError> {
        let state = self.state();
        let mut candidates: Vec<&Order> = state
            .orders
            .iter()
            .filter(|((shop, _), order)| *shop == query.shop_id && in_walk(query, order))
            .map(|(_, order)| order)
            .collect();
        candidates.sort_by_key(|order| std::cmp::Reverse(OrderPosition::of(order)));
        let mut walk = OrderWalk::new(query);
        let mut candidates = candidates.into_iter();
        while !walk.is_done() {
            match candidates.next() {
                Some(order) => walk.examine(order.clone()),
                None => return Ok(walk.finish(false)),
            }
        }
        Ok(walk.finish(candidates.next().is_some()))
    }

    async fn list_expired_orders(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        let state = self.state();
        let mut expired: Vec<&Order> = state
            .orders
            .values()
            .filter(|o| o.expired_unpaid(now))
            .collect();
        expired.sort_by(|a, b| {
            (a.expires_at, &a.shop_id, &a.order_id).cmp(&(b.expires_at, &b.shop_id, &b.order_id))
        });
        Ok(expired.into_iter().take(limit).cloned().collect())
    }

    async fn close_expired_order(
        &self,
        shop_id: &ShopId,
        order_id: &OrderId,
        now: DateTime<Utc>,
    ) -> Result<Option<Closing>, StoreError> {
        // No TTL here: the embedded store keeps closed orders.
        let mut state = self.state();
        let Some(order) = state.orders.get_mut(&(shop_id.clone(), order_id.clone())) else {
            return Ok(None);
        };
        let Some(closed) = order.closed_on_expiry(now) else {
            return Ok(Some(Closing::Unchanged(order.clone())));
        };
        *order = closed.clone();
        // Closed unpaid: its room under the day's collection cap is free again.
        state.count_collection(&closed, -1)?;
        Ok(Some(Closing::Closed(closed)))
    }

    async fn bind_provider_order(
        &self,
        order: &Order,
        provider: qrpay_domain::Provider,
        now: DateTime<Utc>,
    ) -> Result<Option<Order>, StoreError> {
        let mut state = self.state();
        let key = (order.shop_id.clone(), order.order_id.clone());
        let Some(stored) = state.orders.get_mut(&key) else {
            return Ok(None);
        };
        if stored.revision != order.revision {
            return Ok(None);
        }
        Ok(stored
            .bound_to(provider, now)
            .inspect(|bound| *stored = bound.clone()))
    }

    async fn collected_on(
        &self,
        shop_id: &ShopId,
        date: BusinessDate,
    ) -> Result<Money, StoreError> {
        let fen = self.state().collected_on(shop_id, date);
        Money::from_fen(fen).ok_or_else(|| overflow("collection counter"))
    }

    async fn count_plan_checkout(
        &self,
        shop_id: &ShopId,
        order_id: &OrderId,
        date: BusinessDate,
        _now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(self.state().count_plan_checkout(shop_id, order_id, date))
    }

    async fn apply_collection(
        &self,
        event: &CollectionEvent,
        now: DateTime<Utc>,
    ) -> Result<Decision, StoreError> {
        let mut state = self.state();
        let notification = (event.provider, event.notification_id.to_string());
        if state.notifications.contains(&notification) {
            return Ok(Decision::AlreadyApplied);
        }
        let order = state
            .order_shops
            .get(&event.order_id)
            .and_then(|shop| state.orders.get(&(shop.clone(), event.order_id.clone())));
        let shop = order.and_then(|o| state.shops.get(&o.shop_id));
        let movement_recorded = event
            .movement_entry_id()
            .is_some_and(|id| state.movements.contains(&id));
        let decision = decide(
            event,
            CollectionFacts {
                order,
                shop,
                movement_recorded,
            },
            now,
        );
        match &decision {
            Decision::Apply(effect) => {
                state.apply_effect(effect)?;
                state.notifications.insert(notification);
            }
            Decision::Anomaly(anomaly) => {
                state.record_anomaly(anomaly);
                state.notifications.insert(notification);
            }
            Decision::AlreadyApplied | Decision::NotYet(_) => {}
        }
        Ok(decision)
    }
}

/// The revision after `order`'s, which a stored order at the last one has not.
fn next_revision(order: &Order) -> Result<u64, StoreError> {
    order
        .revision
        .checked_add(1)
        .ok_or_else(|| overflow("order revision"))
}

impl State {
    fn insert_order(&mut self, order: &Order) -> bool {
        if self.order_shops.contains_key(&order.order_id) {
            return false;
        }
        self.order_shops
            .insert(order.order_id.clone(), order.shop_id.clone());
        self.orders.insert(
            (order.shop_id.clone(), order.order_id.clone()),
            order.clone(),
        );
        true
    }

    /// `order` as counted against its shop's daily collection cap (SPEC
    /// §11, `qrpay_domain::controls`) on the day it was made, or the
    /// refusal: checked under the lock, so two checkouts cannot both take
    /// the last room.
    fn counted(&self, order: &Order) -> Result<Order, CollectionCapExceeded> {
        let day = order
            .collection_day
            .unwrap_or_else(|| collection_day(order.created_at));
        let counted = self
            .collected
            .get(&(order.shop_id.clone(), day))
            .copied()
            .unwrap_or(0);
        let cap = self
            .shops
            .get(&order.shop_id)
            .and_then(|s| s.controls.daily_collection_cap);
        check_collection_cap(cap, counted, order.amount)?;
        Ok(Order {
            collection_day: Some(day),
            ..order.clone()
        })
    }

    /// Adds (`sign` 1) or releases (`sign` −1) an order's amount on the day
    /// it was counted; an order never counted changes nothing.
    fn count_collection(&mut self, order: &Order, sign: i64) -> Result<(), StoreError> {
        let Some(day) = order.collection_day else {
            return Ok(());
        };
        let counter = self
            .collected
            .entry((order.shop_id.clone(), day))
            .or_default();
        *counter = counter
            .checked_add(sign * order.amount.fen())
            .ok_or_else(|| overflow("collection counter"))?;
        // Counted in: one more order opened that day; released: one more
        // of that day's orders closed unpaid (SPEC §11 cancellation ratio).
        let activity = self
            .activity
            .entry((order.shop_id.clone(), day))
            .or_default();
        let count = if sign > 0 {
            &mut activity.orders_created
        } else {
            &mut activity.orders_closed_unpaid
        };
        *count = count.saturating_add(1);
        Ok(())
    }

    /// Counts `order_id`'s checkout shown with a plan on `date`, once.
    pub(super) fn count_plan_checkout(
        &mut self,
        shop_id: &ShopId,
        order_id: &OrderId,
        date: BusinessDate,
    ) -> bool {
        if !self
            .plan_checkouts
            .insert((shop_id.clone(), order_id.clone()))
        {
            return false;
        }
        let activity = self.activity.entry((shop_id.clone(), date)).or_default();
        activity.plan_checkouts = activity.plan_checkouts.saturating_add(1);
        true
    }

    /// What the KPIs counted of a shop's day.
    pub(super) fn activity_on(
        &self,
        shop_id: &ShopId,
        day: BusinessDate,
    ) -> qrpay_domain::DayActivity {
        self.activity
            .get(&(shop_id.clone(), day))
            .copied()
            .unwrap_or_default()
    }

    /// Fen counted against a shop's daily collection cap on `day`.
    pub(super) fn collected_on(&self, shop_id: &ShopId, day: BusinessDate) -> i64 {
        self.collected
            .get(&(shop_id.clone(), day))
            .copied()
            .unwrap_or(0)
    }

    fn record_anomaly(&mut self, anomaly: &Anomaly) {
        self.anomalies.insert(
            (anomaly.business_date, anomaly.anomaly_id.clone()),
            anomaly.clone(),
        );
    }

    /// Writes a decided effect; every check was made under the same lock.
    fn apply_effect(&mut self, effect: &qrpay_domain::Effect) -> Result<(), StoreError> {
        let order = &effect.order;
        let shop = self.shops.get_mut(&order.shop_id).ok_or_else(|| {
            StoreError::Corrupt(format!("order {} without its shop", order.order_id))
        })?;
        let balance = shop
            .payout_balance
            .fen()
            .checked_add(effect.balance_change_fen)
            .and_then(Money::from_fen)
            .ok_or_else(|| overflow("payout balance"))?;
        let stored = self
            .orders
            .get_mut(&(order.shop_id.clone(), order.order_id.clone()))
            .ok_or_else(|| StoreError::Corrupt(format!("order {} vanished", order.order_id)))?;
        shop.payout_balance = balance;
        // Payout counters may have moved since the decision was read; the
        // collection change only sets its own fields.
        let payouts = (
            stored.payouts_live_total,
            stored.payouts_live_count,
            stored.last_payout_at,
        );
        let refunds = (
            stored.refunds_pending_total,
            stored.refunds_live_count,
            stored.last_refund_at,
        );
        *stored = order.clone();
        (
            stored.payouts_live_total,
            stored.payouts_live_count,
            stored.last_payout_at,
        ) = payouts;
        (
            stored.refunds_pending_total,
            stored.refunds_live_count,
            stored.last_refund_at,
        ) = refunds;
        for entry in &effect.ledger {
            self.movements.insert(entry.entry_id.clone());
            self.record_ledger(entry.clone());
        }
        if let Some(notice) = &effect.notice {
            self.notices
                .entry(notice.shop_id.clone())
                .or_default()
                .push(notice.clone());
        }
        if let Some(anomaly) = &effect.anomaly {
            self.record_anomaly(anomaly);
        }
        if let Some(qr_id) = &effect.qr_used {
            if let Some(code) = self
                .qr_codes
                .get_mut(&(order.shop_id.clone(), qr_id.clone()))
            {
                code.state = QrState::Used;
                code.updated_at = order.updated_at;
            }
        }
        Ok(())
    }
}
