use super::*;

#[async_trait]
impl ReconciliationStore for MemoryStore {
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
        let day_part = state
            .day_ledger
            .range((Bound::Excluded(start), Bound::Unbounded))
            .take_while(|((d, p, _, _), _)| *d == date && *p == part)
            .map(|(_, e)| e.clone());
        let (entries, more) = over_fetch(day_part, limit);
        let next = continuation(&entries, more, ledger_position);
        Ok(LedgerPage { entries, next })
    }

    async fn day_activity(
        &self,
        shop_id: &ShopId,
        date: BusinessDate,
    ) -> Result<qrpay_domain::DayActivity, StoreError> {
        Ok(self.state().activity_on(shop_id, date))
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
}

#[async_trait]
impl ClaimStore for MemoryStore {
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
}
