//! Reconciliation in DynamoDB: the day's ledger read part by part through
//! GSI2, the per-shop summaries, once-only claims for alerts, and the
//! lease that keeps one run per day at a time.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use qrpay_domain::{Anomaly, BusinessDate, ReconciliationSummary, ShopId};

use super::codec::*;
use super::paging::KeyQuery;
use super::{unavailable, DynamoStore};
use qrpay_store::{
    continuation, ClaimStore, LedgerPage, ReconciliationStore, StoreError, MAX_LEDGER_PAGE,
};

/// How long a sent alert is remembered: longer than any re-run window.
const ONCE_RETENTION_DAYS: i64 = 400;

impl DynamoStore {}

#[async_trait]
impl ReconciliationStore for DynamoStore {
    async fn list_day_ledger(
        &self,
        date: BusinessDate,
        part: u16,
        after: Option<&str>,
        limit: usize,
    ) -> Result<LedgerPage, StoreError> {
        let limit = limit.clamp(1, MAX_LEDGER_PAGE);
        let query = KeyQuery::gsi2_after(
            ledger_day_gsi_pk(date, part),
            after.map(str::to_owned),
            true,
        );
        let (found, more) = self.query_page(&query, limit).await?;
        let entries = found
            .iter()
            .map(ledger_from)
            .collect::<Result<Vec<_>, _>>()?;
        let next = continuation(&entries, more, qrpay_store::ledger_position);
        Ok(LedgerPage { entries, next })
    }

    async fn day_activity(
        &self,
        shop_id: &ShopId,
        date: BusinessDate,
    ) -> Result<qrpay_domain::DayActivity, StoreError> {
        self.activity_of(shop_id, date).await
    }

    async fn list_anomalies(&self, date: BusinessDate) -> Result<Vec<Anomaly>, StoreError> {
        self.query_all(
            &KeyQuery::prefix(anomaly_pk(date), ANOMALY_PREFIX, true),
            usize::MAX,
        )
        .await?
        .iter()
        .map(anomaly_from)
        .collect()
    }

    async fn put_reconciliation(&self, summary: &ReconciliationSummary) -> Result<(), StoreError> {
        let json = serde_json::to_string(summary)
            .map_err(|e| StoreError::Corrupt(format!("summary does not serialize: {e}")))?;
        let mut item = reconciliation_key(&summary.shop_id, summary.date);
        item.extend([
            ("entity".to_owned(), s("reconciliation")),
            ("summary".to_owned(), s(json)),
        ]);
        self.put(item).await
    }

    async fn get_reconciliation(
        &self,
        shop_id: &ShopId,
        date: BusinessDate,
    ) -> Result<Option<ReconciliationSummary>, StoreError> {
        let Some(item) = self.get(reconciliation_key(shop_id, date)).await? else {
            return Ok(None);
        };
        let json = get_s(&item, "summary")?;
        serde_json::from_str(json)
            .map(Some)
            .map_err(|_| StoreError::Corrupt(format!("summary of {shop_id} {date}")))
    }

    async fn delete_reconciliation(
        &self,
        shop_id: &ShopId,
        date: BusinessDate,
    ) -> Result<(), StoreError> {
        self.trip();
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(reconciliation_key(shop_id, date)))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

#[async_trait]
impl ClaimStore for DynamoStore {
    async fn claim_once(&self, key: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.claim_until(
            once_key(key),
            now,
            now + Duration::days(ONCE_RETENTION_DAYS),
        )
        .await
    }

    async fn acquire_lease(
        &self,
        key: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut item = lease_key(key);
        item.insert("holder".to_owned(), s(holder));
        // The TTL attribute is the lease's end: the item expires with it.
        self.claim_until(item, now, until).await
    }

    async fn release_lease(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        self.trip();
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(lease_key(key)))
            .condition_expression("#holder = :holder")
            .set_expression_attribute_names(super::names(&["holder"]))
            .set_expression_attribute_values(super::values(vec![(":holder", s(holder))]))
            .send()
            .await;
        // Not held (someone else holds it now, ours ran out): theirs stays.
        super::condition_held(result).map(|_| ())
    }
}
