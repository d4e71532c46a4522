//! The sweeper (every few minutes): every payout reaches a final state within
//! 30 minutes, or someone is told (SPEC §4).
//!
//! - `PENDING` for over a minute: the request may have died between the
//!   reservation and the enqueue; dispatch it again.
//! - `PROCESSING` for over two minutes: ask the provider and settle it (the
//!   worker's own resume path: query first, re-send only if unknown).
//! - not final 30 minutes after creation: alert; a transfer waiting for the
//!   payee's confirmation only once the provider's deadline has passed.
//! - orders that expired unpaid are closed (`crate::expiry`, SPEC §10).
//!
//! A run must fit its 30 s function (issue 14): alerts are raised first, a
//! few stale payouts are queried inline within a time budget (starting at a
//! place that moves from run to run, so the same oldest ones cannot starve
//! the rest) and the others are handed to the queue, whose worker queries
//! before it re-sends; one payout's store error is logged and the sweep goes
//! on.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use qrpay_domain::{Payout, PayoutId, PayoutStatus};
use qrpay_queue::{PayoutMessage, PayoutQueue};
use qrpay_store::{open_position, StoreError};

use crate::{Step, Worker};

pub const PENDING_REDISPATCH_AFTER_S: i64 = 60;
pub const PROCESSING_QUERY_AFTER_S: i64 = 120;
pub const NOT_FINAL_ALERT_AFTER_S: i64 = 30 * 60;
/// WeChat may close an unconfirmed transfer later than its 24 hours
/// (https://pay.weixin.qq.com/doc/v3/merchant/4012715191): alert only two
/// hours past the payee's deadline.
pub const PAYEE_GRACE_S: i64 = 2 * 3600;
/// Payouts looked at per status per run; the next run goes on from where
/// this one stopped (a cursor the store keeps).
pub const SWEEP_BATCH: usize = 500;
/// Stale `PROCESSING` payouts queried by the sweep itself; the rest go to
/// the queue.
pub const SWEEP_INLINE_QUERIES: usize = 25;
/// Wall time the inline queries may take (the function has 30 s).
pub const SWEEP_QUERY_BUDGET: std::time::Duration = std::time::Duration::from_secs(15);

pub use qrpay_store::alerts::{Alert, AlertCode, Alerts, LogAlerts};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    pub redispatched: usize,
    pub queried: usize,
    pub settled: usize,
    pub alerts: usize,
    /// Stale `PROCESSING` payouts handed to the queue instead of queried here.
    pub fanned_out: usize,
    /// Payouts skipped this run because the store failed for them.
    pub errors: usize,
    pub expired_orders: crate::expiry::ExpiryReport,
}

pub async fn sweep(
    worker: &Worker,
    queue: &dyn PayoutQueue,
    alerts: &dyn Alerts,
) -> Result<SweepReport, StoreError> {
    sweep_in_batches(worker, queue, alerts, SWEEP_BATCH).await
}

/// [`sweep`], looking at up to `batch` stale payouts per status.
pub async fn sweep_in_batches(
    worker: &Worker,
    queue: &dyn PayoutQueue,
    alerts: &dyn Alerts,
    batch: usize,
) -> Result<SweepReport, StoreError> {
    let now = worker.clock.now();
    let mut report = SweepReport::default();
    let pending_before = now - Duration::seconds(PENDING_REDISPATCH_AFTER_S);
    let stale_pending = next_stale(worker, PayoutStatus::Pending, pending_before, batch).await?;
    let processing_before = now - Duration::seconds(PROCESSING_QUERY_AFTER_S);
    let stale_processing =
        next_stale(worker, PayoutStatus::Processing, processing_before, batch).await?;
    // Alerts first: whatever the queries below take, nobody waits for them.
    let too_old = now - Duration::seconds(NOT_FINAL_ALERT_AFTER_S);
    for payout in stale_pending.iter().chain(&stale_processing) {
        if payout.created_at >= too_old {
            continue;
        }
        match overdue_now(worker, payout, now).await {
            Ok(true) => {
                alerts.raise(&not_final_alert(payout)).await;
                report.alerts += 1;
            }
            Ok(false) => {}
            Err(err) => skipped(&mut report, payout, &err),
        }
    }
    for payout in &stale_pending {
        let message = PayoutMessage::for_payout(payout);
        match queue.enqueue(&message).await {
            Ok(()) => report.redispatched += 1,
            Err(err) => {
                tracing::warn!(payout_id = %payout.payout_id, error = %err, "re-dispatch failed; next sweep")
            }
        }
    }
    inline_or_queued(worker, queue, &stale_processing, now, &mut report).await;
    report.expired_orders = crate::expiry::close_expired_orders(worker).await;
    crate::refund_sweep::sweep_refunds(worker, queue, alerts, now, &mut report).await?;
    tracing::info!(?report, "sweep done");
    Ok(report)
}

/// The next `batch` stale payouts in `status`, from where the last run's
/// walk stopped (a cursor the store keeps), topped up from the oldest when
/// the walk reaches the newest: every stale payout is looked at within
/// ⌈stale / batch⌉ runs, not only the oldest `batch` forever.
async fn next_stale(
    worker: &Worker,
    status: PayoutStatus,
    before: DateTime<Utc>,
    batch: usize,
) -> Result<Vec<Payout>, StoreError> {
    let store = &worker.payouts;
    let cursor = store.sweep_cursor(status).await?;
    let mut page = store
        .list_open_payouts(status, before, cursor.as_deref(), batch)
        .await?;
    let mut next = (page.len() == batch)
        .then(|| page.last().map(open_position))
        .flatten();
    if page.len() < batch && cursor.is_some() {
        let wanted = batch - page.len();
        let from_oldest = store
            .list_open_payouts(status, before, None, wanted)
            .await?;
        next = (from_oldest.len() == wanted)
            .then(|| from_oldest.last().map(open_position))
            .flatten();
        let seen: HashSet<PayoutId> = page.iter().map(|p| p.payout_id.clone()).collect();
        page.extend(
            from_oldest
                .into_iter()
                .filter(|p| !seen.contains(&p.payout_id)),
        );
    }
    if next != cursor {
        store.set_sweep_cursor(status, next.as_deref()).await?;
    }
    Ok(page)
}

/// Stale `PROCESSING` payouts: the first few (from a place that moves each
/// minute) are queried here within the time budget, the rest are handed to
/// the queue; the worker queries before it re-sends either way.
async fn inline_or_queued(
    worker: &Worker,
    queue: &dyn PayoutQueue,
    stale: &[Payout],
    now: chrono::DateTime<chrono::Utc>,
    report: &mut SweepReport,
) {
    let started = std::time::Instant::now();
    let start = usize::try_from(now.timestamp().div_euclid(60)).unwrap_or(0) % stale.len().max(1);
    for (i, payout) in stale
        .iter()
        .cycle()
        .skip(start)
        .take(stale.len())
        .enumerate()
    {
        let message = PayoutMessage::for_payout(payout);
        if i >= SWEEP_INLINE_QUERIES || started.elapsed() >= SWEEP_QUERY_BUDGET {
            match queue.enqueue(&message).await {
                Ok(()) => report.fanned_out += 1,
                Err(err) => {
                    tracing::warn!(payout_id = %payout.payout_id, error = %err, "hand-over failed; next sweep")
                }
            }
            continue;
        }
        report.queried += 1;
        match worker.execute(&message).await {
            Ok(Step::Done) => report.settled += 1,
            Ok(_) => {}
            Err(err) => skipped(report, payout, &err),
        }
    }
}

/// One payout's store error: logged, counted, left for the next sweep.
fn skipped(report: &mut SweepReport, payout: &Payout, err: &StoreError) {
    report.errors += 1;
    tracing::warn!(payout_id = %payout.payout_id, error = %err, "payout skipped this sweep");
}

/// Still not final, and not waiting for the payee within the provider's own
/// deadline (SPEC §9: exempt from the 30-minute alert until then).
async fn overdue_now(
    worker: &Worker,
    payout: &Payout,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool, StoreError> {
    let current = worker
        .payouts
        .get_payout(&payout.shop_id, &payout.payout_id)
        .await?;
    Ok(current.is_some_and(|p| {
        let waiting = p
            .payee_action
            .as_ref()
            .is_some_and(|a| now < a.waits_until() + Duration::seconds(PAYEE_GRACE_S));
        !p.status.is_final() && !waiting
    }))
}

fn not_final_alert(payout: &Payout) -> Alert {
    Alert {
        code: AlertCode::PayoutNotFinal.into(),
        message: format!(
            "payout {} of {} is still {} more than 30 minutes after it was made; the provider cannot say what happened",
            payout.payout_id,
            payout.amount,
            payout.status.as_str()
        ),
        shop_id: Some(payout.shop_id.to_string()),
        reference: payout.payout_id.to_string(),
    }
}
