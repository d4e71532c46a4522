//! The embedded store: all state behind one mutex, so every operation is
//! atomic just as one DynamoDB transaction is. The lock is never held across
//! an `.await`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use qrpay_domain::books::{
    check_books, release_payout, reserve_payout, settle_payout, BooksError, PayoutEffect,
    PayoutMove, PayoutSnapshot,
};
use qrpay_domain::payment::decide;
use qrpay_domain::{
    Anomaly, BusinessDate, CollectionEvent, CollectionFacts, Decision, Device, DeviceId,
    LedgerEntry, Money, Notice, OperatorId, Order, OrderId, OrderStatus, OutOrderNo, Payout,
    PayoutAttempt, PayoutId, PayoutQuota, PayoutRequest, PayoutStatus, Provider, QrCode, QrId,
    QrState, ReconciliationSummary, Shop, ShopId, ShopSetup,
};

use crate::{
    ledger_part, ledger_position, page_size, DayTotals, Issued, LedgerPage, Page, PayoutError,
    ReserveError, Reserved, Revocation, Store, StoreError, Transition, MAX_LEDGER_PAGE,
};

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    shops: HashMap<ShopId, Shop>,
    devices: HashMap<DeviceId, Device>,
    orders: HashMap<(ShopId, OrderId), Order>,
    quotas: HashMap<(ShopId, OperatorId), PayoutQuota>,
    payouts: BTreeMap<(ShopId, PayoutId), Payout>,
    /// (shop, Idempotency-Key) → (request fingerprint, payout id)
    idempotency: HashMap<(ShopId, String), (String, PayoutId)>,
    shop_days: HashMap<(ShopId, BusinessDate), DayTotals>,
    operator_days: HashMap<(ShopId, OperatorId, BusinessDate), DayTotals>,
    payout_shops: HashMap<PayoutId, ShopId>,
    attempts: HashMap<(ShopId, PayoutId), Vec<PayoutAttempt>>,
    notices: HashMap<ShopId, Vec<Notice>>,
    ledger: HashMap<ShopId, Vec<LedgerEntry>>,
    order_shops: HashMap<OrderId, ShopId>,
    qr_codes: HashMap<(ShopId, QrId), QrCode>,
    /// (shop, out_order_no) → the dynamic code issued for it.
    out_orders: HashMap<(ShopId, OutOrderNo), QrId>,
    /// (device, nonce) → when the claim expires.
    nonces: HashMap<(DeviceId, String), DateTime<Utc>>,
    notifications: HashSet<(Provider, String)>,
    /// Ledger entry ids of provider movements already written.
    movements: HashSet<String>,
    anomalies: BTreeMap<(BusinessDate, String), Anomaly>,
    /// The ledger again, by day: (date, part, shop, entry id) → entry.
    day_ledger: BTreeMap<(BusinessDate, u16, String, String), LedgerEntry>,
    reconciliations: HashMap<(ShopId, BusinessDate), ReconciliationSummary>,
    claimed: HashSet<String>,
    /// Lease key → (holder, until).
    leases: HashMap<String, (String, DateTime<Utc>)>,
}

impl State {
    fn record_ledger(&mut self, entry: LedgerEntry) {
        let key = (
            entry.business_date,
            ledger_part(&entry.shop_id),
            entry.shop_id.to_string(),
            entry.entry_id.clone(),
        );
        self.day_ledger.insert(key, entry.clone());
        self.ledger
            .entry(entry.shop_id.clone())
            .or_default()
            .push(entry);
    }
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock is a bug already reported; the state
        // itself is only changed after every check passed, so it is consistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn overflow(what: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} out of range"))
}

#[async_trait]
impl Store for MemoryStore {
    async fn put_shop(&self, setup: &ShopSetup, now: DateTime<Utc>) -> Result<Shop, StoreError> {
        let mut state = self.state();
        let (held, created_at) = state
            .shops
            .get(&setup.shop_id)
            .map_or((Money::ZERO, now), |s| (s.payout_held, s.created_at));
        let shop = Shop {
            shop_id: setup.shop_id.clone(),
            name: setup.name.clone(),
            owner_operator_id: setup.owner_operator_id.clone(),
            daily_payout_cap: setup.daily_payout_cap,
            payout_balance: setup.payout_balance,
            payout_held: held,
            instalments: setup.instalments.clone(),
            created_at,
            updated_at: now,
        };
        state.shops.insert(shop.shop_id.clone(), shop.clone());
        Ok(shop)
    }

    async fn get_shop(&self, shop_id: &ShopId) -> Result<Option<Shop>, StoreError> {
        Ok(self.state().shops.get(shop_id).cloned())
    }

    async fn put_device(&self, device: &Device) -> Result<(), StoreError> {
        self.state()
            .devices
            .insert(device.device_id.clone(), device.clone());
        Ok(())
    }

    async fn get_device(&self, device_id: &DeviceId) -> Result<Option<Device>, StoreError> {
        Ok(self.state().devices.get(device_id).cloned())
    }

    async fn insert_order(&self, order: &Order) -> Result<bool, StoreError> {
        Ok(self.state().insert_order(order))
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

    async fn put_payout_quota(&self, quota: &PayoutQuota) -> Result<(), StoreError> {
        let key = (quota.shop_id.clone(), quota.operator_id.clone());
        self.state().quotas.insert(key, quota.clone());
        Ok(())
    }

    async fn get_payout_quota(
        &self,
        shop_id: &ShopId,
        operator_id: &OperatorId,
    ) -> Result<Option<PayoutQuota>, StoreError> {
        Ok(self
            .state()
            .quotas
            .get(&(shop_id.clone(), operator_id.clone()))
            .cloned())
    }

    async fn reserve_payout(&self, request: &PayoutRequest) -> Result<Reserved, ReserveError> {
        let mut state = self.state();
        let shop_id = &request.shop_id;
        let idem_key = (shop_id.clone(), request.idempotency_key.as_str().to_owned());
        if let Some((fingerprint, payout_id)) = state.idempotency.get(&idem_key) {
            if *fingerprint != request.fingerprint() {
                return Err(ReserveError::IdempotencyConflict);
            }
            let payout = state
                .payouts
                .get(&(shop_id.clone(), payout_id.clone()))
                .cloned()
                .ok_or_else(|| {
                    StoreError::Corrupt(format!("idempotency record points at missing {payout_id}"))
                })?;
            return Ok(Reserved::Replayed(payout));
        }
        let snapshot = state.payout_snapshot(request);
        let shop = snapshot.shop.as_ref().ok_or(ReserveError::ShopNotFound)?;
        let effect = reserve_payout(shop, &snapshot, request)?;
        state.apply_payout_effect(&effect)?;
        Ok(Reserved::Created(effect.payout))
    }

    async fn find_payout(&self, payout_id: &PayoutId) -> Result<Option<Payout>, StoreError> {
        let state = self.state();
        let Some(shop_id) = state.payout_shops.get(payout_id) else {
            return Ok(None);
        };
        Ok(state
            .payouts
            .get(&(shop_id.clone(), payout_id.clone()))
            .cloned())
    }

    async fn get_payout(
        &self,
        shop_id: &ShopId,
        payout_id: &PayoutId,
    ) -> Result<Option<Payout>, StoreError> {
        Ok(self
            .state()
            .payouts
            .get(&(shop_id.clone(), payout_id.clone()))
            .cloned())
    }

    async fn list_order_payouts(
        &self,
        shop_id: &ShopId,
        order_id: &OrderId,
    ) -> Result<Vec<Payout>, StoreError> {
        let state = self.state();
        Ok(state
            .payouts
            .values()
            .rev()
            .filter(|p| &p.shop_id == shop_id && &p.order_id == order_id)
            .cloned()
            .collect())
    }

    async fn list_shop_payouts(
        &self,
        shop_id: &ShopId,
        date: BusinessDate,
        cursor: Option<&PayoutId>,
        limit: usize,
    ) -> Result<Page<Payout>, StoreError> {
        let limit = page_size(limit);
        let state = self.state();
        let mut matching = state
            .payouts
            .values()
            .rev()
            .filter(|p| &p.shop_id == shop_id && p.business_date == date)
            .filter(|p| cursor.is_none_or(|c| &p.payout_id < c));
        let items: Vec<Payout> = matching.by_ref().take(limit).cloned().collect();
        let more = matching.next().is_some();
        let next_cursor = if more {
            items.last().map(|p| p.payout_id.clone())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    async fn fail_payout(
        &self,
        shop_id: &ShopId,
        payout_id: &PayoutId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Transition, PayoutError> {
        let mut state = self.state();
        let payout = state.payout(shop_id, payout_id)?;
        let Some(effect) = release_payout(&payout, reason, now) else {
            return Ok(Transition::Unchanged(payout));
        };
        state.apply_payout_effect(&effect)?;
        Ok(Transition::Moved(effect.payout))
    }

    async fn start_payout(
        &self,
        shop_id: &ShopId,
        payout_id: &PayoutId,
        now: DateTime<Utc>,
    ) -> Result<Transition, PayoutError> {
        let mut state = self.state();
        let payout = state
            .payouts
            .get_mut(&(shop_id.clone(), payout_id.clone()))
            .ok_or(PayoutError::PayoutNotFound)?;
        if payout.status != PayoutStatus::Pending {
            return Ok(Transition::Unchanged(payout.clone()));
        }
        *payout = payout.clone().moved_to(PayoutStatus::Processing, now);
        Ok(Transition::Moved(payout.clone()))
    }

    async fn succeed_payout(
        &self,
        shop_id: &ShopId,
        payout_id: &PayoutId,
        provider_ref: &str,
        now: DateTime<Utc>,
    ) -> Result<Transition, PayoutError> {
        let mut state = self.state();
        let payout = state.payout(shop_id, payout_id)?;
        let Some(effect) = settle_payout(&payout, provider_ref, now) else {
            return Ok(Transition::Unchanged(payout));
        };
        state.apply_payout_effect(&effect)?;
        Ok(Transition::Moved(effect.payout))
    }

    async fn record_attempt(
        &self,
        shop_id: &ShopId,
        attempt: &PayoutAttempt,
    ) -> Result<(), StoreError> {
        let key = (shop_id.clone(), attempt.payout_id.clone());
        self.state()
            .attempts
            .entry(key)
            .or_default()
            .push(attempt.clone());
        Ok(())
    }

    async fn list_attempts(
        &self,
        shop_id: &ShopId,
        payout_id: &PayoutId,
    ) -> Result<Vec<PayoutAttempt>, StoreError> {
        let key = (shop_id.clone(), payout_id.clone());
        Ok(self.state().attempts.get(&key).cloned().unwrap_or_default())
    }

    async fn list_notices(
        &self,
        shop_id: &ShopId,
        limit: usize,
    ) -> Result<Vec<Notice>, StoreError> {
        let state = self.state();
        let notices = state
            .notices
            .get(shop_id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        Ok(notices
            .iter()
            .rev()
            .take(page_size(limit))
            .cloned()
            .collect())
    }

    async fn list_ledger(
        &self,
        shop_id: &ShopId,
        date: BusinessDate,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let state = self.state();
        let entries = state
            .ledger
            .get(shop_id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        Ok(entries
            .iter()
            .filter(|e| e.business_date == date)
            .cloned()
            .collect())
    }

    async fn list_open_payouts(
        &self,
        status: PayoutStatus,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Payout>, StoreError> {
        let state = self.state();
        let mut open: Vec<Payout> = state
            .payouts
            .values()
            .filter(|p| p.status == status && p.updated_at < before)
            .cloned()
            .collect();
        open.sort_by(|a, b| (a.updated_at, &a.payout_id).cmp(&(b.updated_at, &b.payout_id)));
        open.truncate(limit);
        Ok(open)
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
            state.out_orders.insert(claim, code.qr_id.clone());
        }
        if let Some(order) = order {
            if !state.insert_order(order) {
                return Err(StoreError::Corrupt(format!(
                    "new order id {} already exists",
                    order.order_id
                )));
            }
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
        if let Some(order_id) = &code.order_id {
            if let Some(order) = state.orders.get_mut(&(shop_id.clone(), order_id.clone())) {
                if order.status == OrderStatus::Created {
                    order.status = OrderStatus::Closed;
                    order.revision += 1;
                    order.updated_at = now;
                }
            }
        }
        let revoked = QrCode {
            state: QrState::Revoked,
            updated_at: now,
            ..code
        };
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

    async fn find_order(&self, order_id: &OrderId) -> Result<Option<Order>, StoreError> {
        let state = self.state();
        Ok(state
            .order_shops
            .get(order_id)
            .and_then(|shop| state.orders.get(&(shop.clone(), order_id.clone())))
            .cloned())
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

    async fn list_anomalies(&self, date: BusinessDate) -> Result<Vec<Anomaly>, StoreError> {
        Ok(self
            .state()
            .anomalies
            .range((date, String::new())..)
            .take_while(|((d, _), _)| *d == date)
            .map(|(_, a)| a.clone())
            .collect())
    }

    async fn list_day_ledger(
        &self,
        date: BusinessDate,
        part: u16,
        after: Option<&str>,
        limit: usize,
    ) -> Result<LedgerPage, StoreError> {
        let limit = limit.clamp(1, MAX_LEDGER_PAGE);
        let (shop, entry) = match after.and_then(|a| a.split_once('#')) {
            Some((shop, entry)) => (shop.to_owned(), entry.to_owned()),
            None => (String::new(), String::new()),
        };
        let state = self.state();
        let start = (date, part, shop, entry);
        let mut entries: Vec<LedgerEntry> = state
            .day_ledger
            .range((Bound::Excluded(start), Bound::Unbounded))
            .take_while(|((d, p, _, _), _)| *d == date && *p == part)
            .take(limit + 1)
            .map(|(_, e)| e.clone())
            .collect();
        let next = if entries.len() > limit {
            entries.truncate(limit);
            entries.last().map(ledger_position)
        } else {
            None
        };
        Ok(LedgerPage { entries, next })
    }

    async fn put_reconciliation(&self, summary: &ReconciliationSummary) -> Result<(), StoreError> {
        self.state()
            .reconciliations
            .insert((summary.shop_id.clone(), summary.date), summary.clone());
        Ok(())
    }

    async fn get_reconciliation(
        &self,
        shop_id: &ShopId,
        date: BusinessDate,
    ) -> Result<Option<ReconciliationSummary>, StoreError> {
        Ok(self
            .state()
            .reconciliations
            .get(&(shop_id.clone(), date))
            .cloned())
    }

    async fn delete_reconciliation(
        &self,
        shop_id: &ShopId,
        date: BusinessDate,
    ) -> Result<(), StoreError> {
        self.state()
            .reconciliations
            .remove(&(shop_id.clone(), date));
        Ok(())
    }

    async fn claim_once(&self, key: &str, _now: DateTime<Utc>) -> Result<bool, StoreError> {
        Ok(self.state().claimed.insert(key.to_owned()))
    }

    async fn acquire_lease(
        &self,
        key: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        // Whole seconds, as DynamoDB keeps the expiry.
        let free = match state.leases.get(key) {
            None => true,
            Some((_, held_until)) => held_until.timestamp() < now.timestamp(),
        };
        if free {
            state
                .leases
                .insert(key.to_owned(), (holder.to_owned(), until));
        }
        Ok(free)
    }

    async fn release_lease(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        let mut state = self.state();
        if state.leases.get(key).is_some_and(|(h, _)| h == holder) {
            state.leases.remove(key);
        }
        Ok(())
    }

    async fn shop_day_totals(
        &self,
        shop_id: &ShopId,
        date: BusinessDate,
    ) -> Result<DayTotals, StoreError> {
        Ok(self
            .state()
            .shop_days
            .get(&(shop_id.clone(), date))
            .copied()
            .unwrap_or_default())
    }

    async fn operator_day_totals(
        &self,
        shop_id: &ShopId,
        operator_id: &OperatorId,
        date: BusinessDate,
    ) -> Result<DayTotals, StoreError> {
        let key = (shop_id.clone(), operator_id.clone(), date);
        Ok(self
            .state()
            .operator_days
            .get(&key)
            .copied()
            .unwrap_or_default())
    }
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
        let balance = shop.payout_balance.fen() + effect.balance_change_fen;
        shop.payout_balance = Money::from_fen(balance).ok_or_else(|| overflow("payout balance"))?;
        let stored = self
            .orders
            .get_mut(&(order.shop_id.clone(), order.order_id.clone()))
            .ok_or_else(|| StoreError::Corrupt(format!("order {} vanished", order.order_id)))?;
        // Payout counters may have moved since the decision was read; the
        // collection change only sets its own fields.
        let payouts = (
            stored.payouts_live_total,
            stored.payouts_live_count,
            stored.last_payout_at,
        );
        *stored = order.clone();
        (
            stored.payouts_live_total,
            stored.payouts_live_count,
            stored.last_payout_at,
        ) = payouts;
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

/// Payouts: the domain decides every change ([`qrpay_domain::books`]); the
/// memory store only reads the facts and applies the effect, under its lock.
impl State {
    fn payout(&self, shop_id: &ShopId, payout_id: &PayoutId) -> Result<Payout, PayoutError> {
        self.payouts
            .get(&(shop_id.clone(), payout_id.clone()))
            .cloned()
            .ok_or(PayoutError::PayoutNotFound)
    }

    fn payout_snapshot(&self, request: &PayoutRequest) -> PayoutSnapshot {
        let shop_id = &request.shop_id;
        let date = request.business_date();
        let operator = (shop_id.clone(), request.operator_id.clone());
        PayoutSnapshot {
            shop: self.shops.get(shop_id).cloned(),
            order: self
                .orders
                .get(&(shop_id.clone(), request.order_id.clone()))
                .cloned(),
            quota: self.quotas.get(&operator).cloned(),
            shop_day: self
                .shop_days
                .get(&(shop_id.clone(), date))
                .copied()
                .unwrap_or_default(),
            operator_day: self
                .operator_days
                .get(&(operator.0, operator.1, date))
                .copied()
                .unwrap_or_default(),
        }
    }

    /// Writes a payout effect: every new value is worked out (and every
    /// bound checked) before anything changes, so it applies all or nothing.
    fn apply_payout_effect(&mut self, effect: &PayoutEffect) -> Result<(), StoreError> {
        let payout = &effect.payout;
        let shop_id = &payout.shop_id;
        let books = |e: BooksError| StoreError::Corrupt(e.to_string());
        let payout_key = (shop_id.clone(), payout.payout_id.clone());
        match (&effect.moved, self.payouts.get(&payout_key)) {
            (PayoutMove::Create { .. }, None) => {}
            (PayoutMove::To(next), Some(current)) if current.status.can_become(*next) => {}
            _ => return Err(StoreError::Corrupt(format!("{} moved", payout.payout_id))),
        }
        let order = match &effect.order {
            Some(change) => {
                let key = (shop_id.clone(), change.order_id.clone());
                let order = self.orders.get(&key).ok_or_else(|| overflow("order"))?;
                Some((key, change.apply(order).map_err(books)?))
            }
            None => None,
        };
        let shop = self.shops.get(shop_id).ok_or_else(|| overflow("shop"))?;
        let shop = effect.shop.apply(shop).map_err(books)?;
        let shop_day = match &effect.shop_day {
            Some((date, change)) => {
                let key = (shop_id.clone(), *date);
                let day = self.shop_days.get(&key).copied().unwrap_or_default();
                Some((key, change.apply_day(day).map_err(books)?))
            }
            None => None,
        };
        let operator_day = match &effect.operator_day {
            Some((operator, date, change)) => {
                let key = (shop_id.clone(), operator.clone(), *date);
                let day = self.operator_days.get(&key).copied().unwrap_or_default();
                Some((key, change.apply_day(day).map_err(books)?))
            }
            None => None,
        };
        if let Some(guard) = &effect.quota {
            let quota = self
                .quotas
                .get(&(shop_id.clone(), guard.operator_id.clone()));
            if !guard.holds(quota) {
                return Err(StoreError::Corrupt("quota changed under the lock".into()));
            }
        }

        // Every check passed: apply it all.
        if let Some((key, order)) = order {
            debug_assert_eq!(check_books(&order), Ok(()));
            self.orders.insert(key, order);
        }
        self.shops.insert(shop_id.clone(), shop);
        if let Some((key, day)) = shop_day {
            self.shop_days.insert(key, day);
        }
        if let Some((key, day)) = operator_day {
            self.operator_days.insert(key, day);
        }
        if let PayoutMove::Create { fingerprint } = &effect.moved {
            let claim = (shop_id.clone(), payout.idempotency_key.as_str().to_owned());
            self.idempotency
                .insert(claim, (fingerprint.clone(), payout.payout_id.clone()));
            self.payout_shops
                .insert(payout.payout_id.clone(), shop_id.clone());
        }
        self.payouts.insert(payout_key, payout.clone());
        if let Some(notice) = &effect.notice {
            self.notices
                .entry(shop_id.clone())
                .or_default()
                .push(notice.clone());
        }
        if let Some(entry) = &effect.ledger {
            self.record_ledger(entry.clone());
        }
        Ok(())
    }
}
