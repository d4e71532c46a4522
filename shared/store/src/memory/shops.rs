use super::*;
use crate::{AdjustError, Adjusted};
use qrpay_domain::{decide_adjustment, AdjustmentRequest};

#[async_trait]
impl ShopStore for MemoryStore {
    async fn put_shop(&self, setup: &ShopSetup, now: DateTime<Utc>) -> Result<Shop, StoreError> {
        let mut state = self.state();
        // An existing shop keeps its balance and hold: only ledger entries move them.
        let (balance, held, created_at) = state.shops.get(&setup.shop_id).map_or(
            (
                setup.payout_balance.unwrap_or(Money::ZERO),
                Money::ZERO,
                now,
            ),
            |s| (s.payout_balance, s.payout_held, s.created_at),
        );
        let shop = Shop {
            shop_id: setup.shop_id.clone(),
            name: setup.name.clone(),
            owner_operator_id: setup.owner_operator_id.clone(),
            daily_payout_cap: setup.daily_payout_cap,
            payout_balance: balance,
            payout_held: held,
            instalments: setup.instalments.clone(),
            instalment_grace_days: setup.instalment_grace_days,
            branding: setup.branding.clone(),
            controls: setup.controls,
            processing_rates: setup.processing_rates.clone(),
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

    async fn adjust_balance(&self, request: &AdjustmentRequest) -> Result<Adjusted, AdjustError> {
        let mut state = self.state();
        let key = (
            request.shop_id.clone(),
            request.idempotency_key.as_str().to_owned(),
        );
        if let Some(done) = state.adjustments.get(&key) {
            if done.fingerprint != request.fingerprint() {
                return Err(AdjustError::IdempotencyConflict);
            }
            return Ok(Adjusted::Replayed(done.clone()));
        }
        let shop = state
            .shops
            .get(&request.shop_id)
            .ok_or(AdjustError::ShopNotFound)?;
        let effect = decide_adjustment(shop, request)?;
        let after = effect
            .apply(shop)
            .ok_or_else(|| StoreError::Corrupt("shop changed under the lock".into()))?;
        state.shops.insert(after.shop_id.clone(), after);
        state.record_ledger(effect.ledger);
        state.adjustments.insert(key, effect.adjustment.clone());
        Ok(Adjusted::Created(effect.adjustment))
    }
}
