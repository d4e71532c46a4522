//! A shop's day as it happens, for its KPIs (SPEC §11), on the day's
//! `COLLECTED#{date}` item beside the collection cap's counter: orders
//! opened and closed unpaid (counted in the orders' own transactions,
//! `collected.rs`) and checkouts shown with a plan offered, each counted
//! once by a `PLANCHECKOUT#{order}` guard written in the same transaction.

use chrono::{DateTime, Duration, Utc};
use qrpay_domain::{BusinessDate, DayActivity, OrderId, ShopId};
use qrpay_store::StoreError;

use super::codec::*;
use super::{conditional_update, failed, names, values, DynamoStore, OnFailure, WriteOutcome};

/// How long an order's plan checkout guard is kept: past the longest a
/// code stays payable (90 days), so no page of it can count it again.
const PLAN_CHECKOUT_GUARD_DAYS: i64 = 100;

impl DynamoStore {
    pub(super) async fn plan_checkout_counted(
        &self,
        shop_id: &ShopId,
        order_id: &OrderId,
        date: BusinessDate,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut guard = plan_checkout_key(shop_id, order_id);
        let purge_at = now + Duration::days(PLAN_CHECKOUT_GUARD_DAYS);
        guard.insert(TTL_ATTRIBUTE.to_owned(), n(purge_at.timestamp()));
        guard.insert("counted_on".to_owned(), s(date.to_string()));
        let count = conditional_update(
            &self.table,
            collected_day_key(shop_id, date),
            format!("ADD #{PLAN_CHECKOUTS} :one"),
            None,
            names(&[PLAN_CHECKOUTS]),
            values(vec![(":one", n(1))]),
        )?;
        let items = vec![self.put_new(guard, OnFailure::None)?, count];
        match self.transact_write(items).await? {
            WriteOutcome::Written => Ok(true),
            WriteOutcome::Cancelled(reasons) if reasons.first().is_some_and(failed) => Ok(false),
            WriteOutcome::Cancelled(_) => Err(StoreError::Contention),
        }
    }

    pub(super) async fn activity_of(
        &self,
        shop_id: &ShopId,
        date: BusinessDate,
    ) -> Result<DayActivity, StoreError> {
        let Some(item) = self.get(collected_day_key(shop_id, date)).await? else {
            return Ok(DayActivity::default());
        };
        let counter = |name: &str| -> Result<u64, StoreError> {
            let value = get_opt_i64(&item, name)?.unwrap_or(0);
            u64::try_from(value)
                .map_err(|_| StoreError::Corrupt(format!("{name} is negative: {value}")))
        };
        Ok(DayActivity {
            plan_checkouts: counter(PLAN_CHECKOUTS)?,
            orders_created: counter(ORDERS_CREATED)?,
            orders_closed_unpaid: counter(ORDERS_CLOSED_UNPAID)?,
        })
    }
}
