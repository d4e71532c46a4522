//! Report rows' resolutions in DynamoDB: one item per (shop, day, row) in
//! the shop's reconciliation partition, the resolution as JSON and its
//! version apart, so a change is written only over the version it was
//! decided from.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use qrpay_domain::{BusinessDate, Finding, OperatorId, Resolution, ResolutionRequest, ShopId};
use qrpay_store::{ResolutionStore, RowKey, StoreError, MAX_RESOLUTIONS};

use super::codec::*;
use super::paging::KeyQuery;
use super::{condition_held, names, values, DynamoStore};

/// Tries of one change against concurrent ones (each retry after a
/// jittered pause), before the caller is told to try again.
const MAX_RESOLUTION_WRITE_ATTEMPTS: usize = 12;

const VERSION: &str = "resolution_version";
const BODY: &str = "resolution";

fn resolution_from(item: &Item) -> Result<Resolution, StoreError> {
    let json = get_s(item, BODY)?;
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("resolution: {e}")))
}

impl DynamoStore {
    /// Writes `next` if the stored version is still `previous` (`None`: no
    /// resolution yet); `false` when another change got there first.
    async fn put_resolution_over(
        &self,
        next: &Resolution,
        previous: Option<u64>,
    ) -> Result<bool, StoreError> {
        let json = serde_json::to_string(next)
            .map_err(|e| StoreError::Corrupt(format!("resolution does not serialize: {e}")))?;
        let version = i64::try_from(next.version)
            .map_err(|_| StoreError::Corrupt("resolution version out of range".into()))?;
        let mut item = resolution_key(&next.shop_id, next.date, next.row_id);
        item.extend([
            ("entity".to_owned(), s("resolution")),
            (BODY.to_owned(), s(json)),
            (VERSION.to_owned(), n(version)),
        ]);
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let request = match previous {
            None => request
                .condition_expression("attribute_not_exists(#PK)")
                .set_expression_attribute_names(names(&[PK])),
            Some(previous) => {
                let previous = i64::try_from(previous)
                    .map_err(|_| StoreError::Corrupt("resolution version out of range".into()))?;
                request
                    .condition_expression("#resolution_version = :previous")
                    .set_expression_attribute_names(names(&[VERSION]))
                    .set_expression_attribute_values(values(vec![(":previous", n(previous))]))
            }
        };
        self.trip();
        condition_held(request.send().await)
    }
}

#[async_trait]
impl ResolutionStore for DynamoStore {
    async fn record_resolution(
        &self,
        key: RowKey,
        request: ResolutionRequest,
        finding: Finding,
        by: OperatorId,
        at: DateTime<Utc>,
    ) -> Result<Resolution, StoreError> {
        let (shop_id, date, row_id) = &key;
        for attempt in 0..MAX_RESOLUTION_WRITE_ATTEMPTS {
            super::backoff::pause(attempt).await;
            let previous = match self.get(resolution_key(shop_id, *date, *row_id)).await? {
                Some(item) => Some(resolution_from(&item)?),
                None => None,
            };
            let previous_version = previous.as_ref().map(|r| r.version);
            let next = Resolution::record(
                previous,
                key.clone(),
                request.clone(),
                finding.clone(),
                by.clone(),
                at,
            );
            if self.put_resolution_over(&next, previous_version).await? {
                return Ok(next);
            }
        }
        Err(StoreError::Contention)
    }

    async fn list_resolutions(
        &self,
        shop_id: &ShopId,
        date: BusinessDate,
    ) -> Result<Vec<Resolution>, StoreError> {
        let query = KeyQuery::prefix(format!("RECON#{shop_id}"), &resolution_prefix(date), true);
        self.query_all(&query, MAX_RESOLUTIONS)
            .await?
            .iter()
            .map(resolution_from)
            .collect()
    }
}
