use super::*;

#[async_trait]
impl PayoutStore for MemoryStore {
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
        let matching = state
            .payouts
            .values()
            .rev()
            .filter(|p| &p.shop_id == shop_id && p.business_date == date)
            .filter(|p| cursor.is_none_or(|c| &p.payout_id < c))
            .cloned();
        let (items, more) = over_fetch(matching, limit);
        let next_cursor = continuation(&items, more, |p| p.payout_id.clone());
        Ok(Page { items, next_cursor })
    }

    async fn start_payout(
        &self,
        shop_id: &ShopId,
        payout_id: &PayoutId,
        now: DateTime<Utc>,
    ) -> Result<Transition, PayoutError> {
        self.state()
            .update_payout(shop_id, payout_id, |p| p.started(now))
    }

    async fn await_payee(
        &self,
        shop_id: &ShopId,
        payout_id: &PayoutId,
        action: &PayeeAction,
    ) -> Result<Transition, PayoutError> {
        self.state()
            .update_payout(shop_id, payout_id, |p| p.awaiting_payee(action))
    }

    async fn succeed_payout(
        &self,
        shop_id: &ShopId,
        payout_id: &PayoutId,
        provider_ref: &str,
        now: DateTime<Utc>,
    ) -> Result<Transition, PayoutError> {
        self.state()
            .move_payout(shop_id, payout_id, |p| settle_payout(p, provider_ref, now))
    }

    async fn fail_payout(
        &self,
        shop_id: &ShopId,
        payout_id: &PayoutId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Transition, PayoutError> {
        self.state()
            .move_payout(shop_id, payout_id, |p| release_payout(p, reason, now))
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

    async fn list_open_payouts(
        &self,
        status: PayoutStatus,
        before: DateTime<Utc>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Payout>, StoreError> {
        let state = self.state();
        let mut open: Vec<(String, Payout)> = state
            .payouts
            .values()
            .filter(|p| p.status == status && p.updated_at < before)
            .map(|p| (crate::open_position(p), p.clone()))
            .filter(|(position, _)| after.is_none_or(|after| position.as_str() > after))
            .collect();
        open.sort_by(|a, b| a.0.cmp(&b.0));
        open.truncate(limit);
        Ok(open.into_iter().map(|(_, p)| p).collect())
    }

    async fn sweep_cursor(&self, status: PayoutStatus) -> Result<Option<String>, StoreError> {
        Ok(self.state().sweep_cursors.get(&status).cloned())
    }

    async fn set_sweep_cursor(
        &self,
        status: PayoutStatus,
        cursor: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        match cursor {
            Some(c) => state.sweep_cursors.insert(status, c.to_owned()),
            None => state.sweep_cursors.remove(&status),
        };
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

    /// Moves a payout as the domain decides from the payout as it is:
    /// `None` changes nothing.
    fn move_payout(
        &mut self,
        shop_id: &ShopId,
        payout_id: &PayoutId,
        decide: impl Fn(&Payout) -> Option<PayoutEffect>,
    ) -> Result<Transition, PayoutError> {
        let payout = self.payout(shop_id, payout_id)?;
        let Some(effect) = decide(&payout) else {
            return Ok(Transition::Unchanged(payout));
        };
        self.apply_payout_effect(&effect)?;
        Ok(Transition::Moved(effect.payout))
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

impl State {
    /// Replaces the payout with what `next` makes of it: `Moved`, or
    /// `Unchanged` when `next` leaves it as it is.
    fn update_payout(
        &mut self,
        shop_id: &ShopId,
        payout_id: &PayoutId,
        next: impl FnOnce(&Payout) -> Option<Payout>,
    ) -> Result<Transition, PayoutError> {
        let payout = self
            .payouts
            .get_mut(&(shop_id.clone(), payout_id.clone()))
            .ok_or(PayoutError::PayoutNotFound)?;
        match next(payout) {
            Some(after) => {
                *payout = after.clone();
                Ok(Transition::Moved(after))
            }
            None => Ok(Transition::Unchanged(payout.clone())),
        }
    }
}
