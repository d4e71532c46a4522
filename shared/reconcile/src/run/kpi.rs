//! The day's KPI inputs beyond the ledger (SPEC §11), read for every shop
//! of the run before its summary is written: what the store counted of the
//! day as it happened ([`DayActivity`]) and the shop's receivables as of
//! the end of the day ([`OverduePosition`]). The formulas are in
//! `qrpay_domain::kpis`; this only reads.
//!
//! The receivables are read as they stand at the run (about 10:30 on D+1):
//! each period is judged as of D from its stored deduction status, so a
//! deduction that landed in the hours since D counts as collected.

use std::sync::Arc;

use qrpay_domain::receivables::order_receivable;
use qrpay_domain::{BusinessDate, DayActivity, KpiInputs, OrderId, OverduePosition, ShopId};
use qrpay_store::{KpiReads, StoreError, MAX_PAGE_SIZE};

use super::error::ReconcileError;
use crate::report::ShopTally;
use crate::spill::FastMap;

/// Shops whose KPI inputs are read at once.
const READ_CONCURRENCY: usize = 16;

/// What a shop's day adds to its ledger tally for the KPIs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct DayExtras {
    pub(super) activity: DayActivity,
    pub(super) receivables: OverduePosition,
}

impl DayExtras {
    /// The day's KPI inputs: the ledger's flows and these.
    pub(super) fn inputs(&self, tally: &ShopTally) -> KpiInputs {
        KpiInputs {
            payments: tally.payments,
            monthly_pay_orders: tally.monthly_pay_orders,
            plan_checkouts: self.activity.plan_checkouts,
            orders_created: self.activity.orders_created,
            orders_closed_unpaid: self.activity.orders_closed_unpaid,
            refunds: tally.refunds,
            payouts: tally.payouts,
            receivables: self.receivables,
        }
    }
}

/// Reads every named shop's extras for `date`, `READ_CONCURRENCY` shops
/// at a time. A name that is not a shop id is left out (its summary fails
/// on its own).
pub(super) async fn read_extras(
    reads: &Arc<dyn KpiReads>,
    date: BusinessDate,
    shops: Vec<String>,
) -> Result<FastMap<String, DayExtras>, ReconcileError> {
    let mut extras = FastMap::default();
    let mut pending = tokio::task::JoinSet::new();
    for name in shops {
        let Ok(shop_id) = ShopId::parse(&name) else {
            continue;
        };
        if pending.len() >= READ_CONCURRENCY {
            if let Some(done) = pending.join_next().await {
                let (name, read) = done.map_err(|e| ReconcileError::Worker(e.to_string()))?;
                extras.insert(name, read?);
            }
        }
        let reads = reads.clone();
        pending.spawn(async move { (name, shop_extras(&reads, &shop_id, date).await) });
    }
    while let Some(done) = pending.join_next().await {
        let (name, read) = done.map_err(|e| ReconcileError::Worker(e.to_string()))?;
        extras.insert(name, read?);
    }
    Ok(extras)
}

async fn shop_extras(
    reads: &Arc<dyn KpiReads>,
    shop_id: &ShopId,
    date: BusinessDate,
) -> Result<DayExtras, StoreError> {
    let mut extras = extras_of_days(reads, shop_id, &[date]).await?;
    Ok(extras.pop().unwrap_or_default())
}

/// The KPI inputs of days the nightly run covered on which the shop had no
/// movement, so that it wrote the shop no summary (SPEC §11): nothing paid,
/// refunded or paid out; the day's activity as the store counted it
/// (checkouts shown, orders opened and closed unpaid); the receivables as
/// of each day, judged as the run judges them, from the orders that still
/// owe something now (one repaid in full since a day no longer counts in
/// it). In the order of `dates`.
pub async fn inputs_without_movements(
    reads: &Arc<dyn KpiReads>,
    shop_id: &ShopId,
    dates: &[BusinessDate],
) -> Result<Vec<KpiInputs>, StoreError> {
    let no_movements = ShopTally::default();
    let extras = extras_of_days(reads, shop_id, dates).await?;
    Ok(extras.iter().map(|e| e.inputs(&no_movements)).collect())
}

/// Each of `dates`' extras, in order: the days' activity read at once,
/// then the shop's receivable orders read once, page by page, and judged
/// as of every date.
async fn extras_of_days(
    reads: &Arc<dyn KpiReads>,
    shop_id: &ShopId,
    dates: &[BusinessDate],
) -> Result<Vec<DayExtras>, StoreError> {
    let mut extras: Vec<DayExtras> = dates
        .iter()
        .map(|&date| DayExtras {
            activity: DayActivity::default(),
            receivables: OverduePosition::as_of(date),
        })
        .collect();
    if dates.is_empty() {
        return Ok(extras);
    }
    let mut activities = tokio::task::JoinSet::new();
    for (i, &date) in dates.iter().enumerate() {
        let (reads, shop_id) = (reads.clone(), shop_id.clone());
        activities.spawn(async move { (i, reads.day_activity(&shop_id, date).await) });
    }
    while let Some(done) = activities.join_next().await {
        let (i, activity) = done.map_err(|e| StoreError::Unavailable(e.to_string()))?;
        extras[i].activity = activity?;
    }
    let grace = reads
        .get_shop(shop_id)
        .await?
        .map(|shop| shop.instalment_grace_days)
        .unwrap_or_default();
    let mut after: Option<OrderId> = None;
    loop {
        let page = reads
            .list_receivable_orders(shop_id, after.as_ref(), MAX_PAGE_SIZE)
            .await?;
        for order in &page.items {
            for (day, &date) in extras.iter_mut().zip(dates) {
                if let Some(position) = order_receivable(order, grace, date) {
                    day.receivables.add(&position);
                }
            }
        }
        match page.next_cursor {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(extras)
}
