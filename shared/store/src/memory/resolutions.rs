use super::*;

use qrpay_domain::{Finding, Resolution, ResolutionRequest};

use crate::ports::{ResolutionStore, RowKey, MAX_RESOLUTIONS};

#[async_trait]
impl ResolutionStore for MemoryStore {
    async fn record_resolution(
        &self,
        key: RowKey,
        request: ResolutionRequest,
        finding: Finding,
        by: OperatorId,
        at: DateTime<Utc>,
    ) -> Result<Resolution, StoreError> {
        // One lock: the stored version cannot move between read and write.
        let mut state = self.state();
        let previous = state.resolutions.get(&key).cloned();
        let next = Resolution::record(previous, key.clone(), request, finding, by, at);
        state.resolutions.insert(key, next.clone());
        Ok(next)
    }

    async fn list_resolutions(
        &self,
        shop_id: &ShopId,
        date: BusinessDate,
    ) -> Result<Vec<Resolution>, StoreError> {
        let state = self.state();
        let start = (shop_id.clone(), date, qrpay_domain::RowId::from_bits(0));
        Ok(state
            .resolutions
            .range(start..)
            .take_while(|((shop, day, _), _)| shop == shop_id && *day == date)
            .take(MAX_RESOLUTIONS)
            .map(|(_, r)| r.clone())
            .collect())
    }
}
