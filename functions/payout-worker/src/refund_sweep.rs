//! The sweeper's part for merchant refunds (BUYER_PAGES §11.4), run by
//! `sweeper::sweep` with the payouts' and counted in the same report:
//!
//! - `PENDING` for over a minute: the request may have died between the
//!   reservation and the enqueue; dispatch it again (the worker's
//!   conditional `PENDING → PROCESSING` makes a second delivery harmless).
//! - `PROCESSING` for over two minutes: the worker's own resume path — query
//!   the provider first, send again under the same id only if it has none.
//! - not final 72 hours after it was made (bank-card refunds take days):
//!   alert `REFUND_NOT_FINAL`.

use chrono::{DateTime, Duration, Utc};
use qrpay_domain::{Refund, RefundStatus};
use qrpay_queue::{PayoutQueue, RefundMessage};
use qrpay_store::alerts::{Alert, AlertCode, Alerts};
use qrpay_store::StoreError;

use crate::sweeper::{
    SweepReport, PENDING_REDISPATCH_AFTER_S, PROCESSING_QUERY_AFTER_S, SWEEP_BATCH,
};
use crate::{Step, Worker};

/// A refund still open this long after it was made raises an alert.
pub const REFUND_NOT_FINAL_ALERT_AFTER_S: i64 = 72 * 3600;

pub async fn sweep_refunds(
    worker: &Worker,
    queue: &dyn PayoutQueue,
    alerts: &dyn Alerts,
    now: DateTime<Utc>,
    report: &mut SweepReport,
) -> Result<(), StoreError> {
    let stale_pending = worker
        .refunds
        .list_open_refunds(
            RefundStatus::Pending,
            now - Duration::seconds(PENDING_REDISPATCH_AFTER_S),
            SWEEP_BATCH,
        )
        .await?;
    for refund in &stale_pending {
        match queue
            .enqueue_refund(&RefundMessage::for_refund(refund))
            .await
        {
            Ok(()) => report.redispatched += 1,
            Err(err) => {
                tracing::warn!(refund_id = %refund.refund_id, error = %err, "refund re-dispatch failed; next sweep")
            }
        }
    }
    let stale_processing = worker
        .refunds
        .list_open_refunds(
            RefundStatus::Processing,
            now - Duration::seconds(PROCESSING_QUERY_AFTER_S),
            SWEEP_BATCH,
        )
        .await?;
    for refund in &stale_processing {
        report.queried += 1;
        let message = RefundMessage::for_refund(refund);
        if worker.execute_refund(&message).await? == Step::Done {
            report.settled += 1;
        }
    }
    let too_old = now - Duration::seconds(REFUND_NOT_FINAL_ALERT_AFTER_S);
    for refund in stale_pending.iter().chain(&stale_processing) {
        if refund.created_at < too_old && still_open(worker, refund).await? {
            alerts.raise(&not_final_alert(refund)).await;
            report.alerts += 1;
        }
    }
    Ok(())
}

async fn still_open(worker: &Worker, refund: &Refund) -> Result<bool, StoreError> {
    let current = worker
        .refunds
        .get_refund(&refund.shop_id, &refund.refund_id)
        .await?;
    Ok(current.is_some_and(|r| !r.status.is_final()))
}

fn not_final_alert(refund: &Refund) -> Alert {
    Alert {
        code: AlertCode::RefundNotFinal.into(),
        message: format!(
            "refund {} of {} for order {} is still {} 72 hours after it was made; check it with {}",
            refund.refund_id,
            refund.amount,
            refund.order_id,
            refund.status.as_str(),
            refund.provider
        ),
        shop_id: Some(refund.shop_id.to_string()),
        reference: refund.refund_id.to_string(),
    }
}
