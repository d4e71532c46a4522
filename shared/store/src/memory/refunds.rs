//! Merchant refunds in the memory store: the domain decides every change
//! ([`qrpay_domain::refund_books`]); this only reads the facts and applies
//! the effect under the store's lock, all or nothing.

use qrpay_domain::refund_books::{RefundMove, RefundSnapshot};
use qrpay_domain::{
    fail_refund, reserve_refund, succeed_refund, Refund, RefundEffect, RefundId, RefundRequest,
    RefundStatus,
};

use super::*;
use crate::{RefundError, RefundReserveError, RefundReserved, RefundStore, RefundTransition};

#[async_trait]
impl RefundStore for MemoryStore {
    async fn reserve_refund(
        &self,
        request: &RefundRequest,
    ) -> Result<RefundReserved, RefundReserveError> {
        let mut state = self.state();
        let shop_id = &request.shop_id;
        let idem_key = (shop_id.clone(), request.idempotency_key.as_str().to_owned());
        if let Some((fingerprint, refund_id)) = state.refund_idempotency.get(&idem_key) {
            if *fingerprint != request.fingerprint() {
                return Err(RefundReserveError::IdempotencyConflict);
            }
            let refund = state.refund(shop_id, refund_id).map_err(|_| {
                StoreError::Corrupt(format!("idempotency record points at missing {refund_id}"))
            })?;
            return Ok(RefundReserved::Replayed(refund));
        }
        let snapshot = RefundSnapshot {
            shop: state.shops.get(shop_id).cloned(),
            order: state
                .orders
                .get(&(shop_id.clone(), request.order_id.clone()))
                .cloned(),
            quota: state
                .quotas
                .get(&(shop_id.clone(), request.operator_id.clone()))
                .cloned(),
        };
        let shop = snapshot
            .shop
            .as_ref()
            .ok_or(RefundReserveError::ShopNotFound)?;
        let effect = reserve_refund(shop, &snapshot, request)?;
        state.apply_refund_effect(&effect)?;
        Ok(RefundReserved::Created(effect.refund))
    }

    async fn get_refund(
        &self,
        shop_id: &ShopId,
        refund_id: &RefundId,
    ) -> Result<Option<Refund>, StoreError> {
        Ok(self.state().refund(shop_id, refund_id).ok())
    }

    async fn find_refund(&self, refund_id: &RefundId) -> Result<Option<Refund>, StoreError> {
        let state = self.state();
        let Some(shop_id) = state.refund_shops.get(refund_id) else {
            return Ok(None);
        };
        Ok(state.refund(shop_id, refund_id).ok())
    }

    async fn list_order_refunds(
        &self,
        shop_id: &ShopId,
        order_id: &OrderId,
    ) -> Result<Vec<Refund>, StoreError> {
        let state = self.state();
        Ok(state
            .refunds
            .values()
            .rev()
            .filter(|r| &r.shop_id == shop_id && &r.order_id == order_id)
            .cloned()
            .collect())
    }

    async fn start_refund(
        &self,
        shop_id: &ShopId,
        refund_id: &RefundId,
        now: DateTime<Utc>,
    ) -> Result<RefundTransition, RefundError> {
        let mut state = self.state();
        let refund = state.refund(shop_id, refund_id)?;
        let Some(started) = refund.started(now) else {
            return Ok(RefundTransition::Unchanged(refund));
        };
        state
            .refunds
            .insert((shop_id.clone(), refund_id.clone()), started.clone());
        Ok(RefundTransition::Moved(started))
    }

    async fn succeed_refund(
        &self,
        shop_id: &ShopId,
        refund_id: &RefundId,
        provider_refund_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<RefundTransition, RefundError> {
        let mut state = self.state();
        let refund = state.refund(shop_id, refund_id)?;
        let order = state
            .orders
            .get(&(shop_id.clone(), refund.order_id.clone()))
            .cloned()
            .ok_or_else(|| StoreError::Corrupt(format!("{refund_id} without its order")))?;
        let recorded = state
            .movements
            .contains(&refund.movement_entry_id(provider_refund_id));
        state.move_refund(refund, |r| {
            succeed_refund(r, &order, provider_refund_id, recorded, now)
        })
    }

    async fn fail_refund(
        &self,
        shop_id: &ShopId,
        refund_id: &RefundId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<RefundTransition, RefundError> {
        let mut state = self.state();
        let refund = state.refund(shop_id, refund_id)?;
        state.move_refund(refund, |r| fail_refund(r, reason, now))
    }

    async fn list_open_refunds(
        &self,
        status: RefundStatus,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Refund>, StoreError> {
        let state = self.state();
        let mut open: Vec<Refund> = state
            .refunds
            .values()
            .filter(|r| r.status == status && r.updated_at < before)
            .cloned()
            .collect();
        open.sort_by(|a, b| (a.updated_at, &a.refund_id).cmp(&(b.updated_at, &b.refund_id)));
        open.truncate(limit);
        Ok(open)
    }
}

impl State {
    fn refund(&self, shop_id: &ShopId, refund_id: &RefundId) -> Result<Refund, RefundError> {
        self.refunds
            .get(&(shop_id.clone(), refund_id.clone()))
            .cloned()
            .ok_or(RefundError::RefundNotFound)
    }

    fn move_refund(
        &mut self,
        refund: Refund,
        decide: impl FnOnce(&Refund) -> Option<RefundEffect>,
    ) -> Result<RefundTransition, RefundError> {
        let Some(effect) = decide(&refund) else {
            return Ok(RefundTransition::Unchanged(refund));
        };
        self.apply_refund_effect(&effect)?;
        Ok(RefundTransition::Moved(effect.refund))
    }

    /// Writes a refund effect: every new value is worked out (and every
    /// bound checked) before anything changes.
    fn apply_refund_effect(&mut self, effect: &RefundEffect) -> Result<(), StoreError> {
        let refund = &effect.refund;
        let shop_id = &refund.shop_id;
        let books = |e: qrpay_domain::BooksError| StoreError::Corrupt(e.to_string());
        let key = (shop_id.clone(), refund.refund_id.clone());
        match (&effect.moved, self.refunds.get(&key)) {
            (RefundMove::Create { .. }, None) => {}
            (RefundMove::To(next), Some(current)) if current.status.can_become(*next) => {}
            _ => return Err(StoreError::Corrupt(format!("{} moved", refund.refund_id))),
        }
        let order_key = (shop_id.clone(), effect.order.order_id.clone());
        let order = self
            .orders
            .get(&order_key)
            .ok_or_else(|| overflow("order"))?;
        let order = effect.order.apply(order).map_err(books)?;
        let shop = self.shops.get(shop_id).ok_or_else(|| overflow("shop"))?;
        let shop = effect.shop.apply(shop).map_err(books)?;
        if let Some(operator) = &effect.quota_operator {
            let quota = self.quotas.get(&(shop_id.clone(), operator.clone()));
            if !quota.is_some_and(|q| q.refunds_enabled) {
                return Err(StoreError::Corrupt("quota changed under the lock".into()));
            }
        }

        // Every check passed: apply it all.
        self.orders.insert(order_key, order);
        self.shops.insert(shop_id.clone(), shop);
        if let RefundMove::Create { fingerprint } = &effect.moved {
            let claim = (shop_id.clone(), refund.idempotency_key.as_str().to_owned());
            self.refund_idempotency
                .insert(claim, (fingerprint.clone(), refund.refund_id.clone()));
            self.refund_shops
                .insert(refund.refund_id.clone(), shop_id.clone());
        }
        self.refunds.insert(key, refund.clone());
        if let Some(notice) = &effect.notice {
            self.notices
                .entry(shop_id.clone())
                .or_default()
                .push(notice.clone());
        }
        if let Some(entry) = &effect.ledger {
            self.movements.insert(entry.entry_id.clone());
            self.record_ledger(entry.clone());
        }
        if let Some(entry) = &effect.fee_returned {
            self.record_ledger(entry.clone());
        }
        Ok(())
    }
}
