//! Unpaid orders that expired are closed (SPEC §10), on the sweeper's
//! schedule, so a flood of checkouts leaves nothing open for long.
//!
//! For each expired `CREATED` order, earliest expiry first:
//! - with a provider order: close it there first. `Closed` / `NotFound` →
//!   close ours; `AlreadyPaid` → ask the provider for the payment and apply
//!   it as its notice would be (the order ends paid); `Ambiguous` → ask the
//!   provider what the order is (Alipay answers a close of a paid or closed
//!   trade with `ACQ.TRADE_STATUS_ERROR`, "the query says which"): paid →
//!   applied, closed → close ours, anything else → the next sweep.
//! - without one: close ours.
//!
//! Closing is conditional in the store: a payment that lands first wins. A
//! run looks at one page of orders and stops at its time budget; the next
//! run takes the rest.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use qrpay_domain::{Decision, Order};
use qrpay_provider::gateway::{CloseOutcome, CollectionGateway, TradeState};
use qrpay_store::collected::apply_collection_event;
use qrpay_store::{Closing, StoreError};

use crate::Worker;

/// Expired orders looked at per run.
pub const EXPIRY_BATCH: usize = 100;
/// Wall time one run spends on them (the worker's Lambda timeout is 30 s,
/// shared with the payout sweep); checked before each order.
pub const EXPIRY_BUDGET: Duration = Duration::from_secs(10);

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ExpiryReport {
    /// Expired orders listed this run.
    pub expired: usize,
    /// Closed here (and at their provider, where they had an order).
    pub closed: usize,
    /// Paid at the provider before it could be closed: applied as paid.
    pub paid: usize,
    /// Not closed this run: the provider could not say, the budget was
    /// spent, the store failed (a later run tries again), a payment anomaly
    /// is on record, or it was paid meanwhile.
    pub left: usize,
}

/// What became of one expired order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Closed,
    Paid,
    Left,
}

/// One run over the expired orders; never fails the sweep it is part of.
pub async fn close_expired_orders(worker: &Worker) -> ExpiryReport {
    let started = Instant::now();
    let now = worker.clock.now();
    let mut report = ExpiryReport::default();
    let expired = match worker
        .collection
        .list_expired_orders(now, EXPIRY_BATCH)
        .await
    {
        Ok(expired) => expired,
        Err(err) => {
            tracing::warn!(error = %err, "expired orders could not be listed; next sweep");
            return report;
        }
    };
    report.expired = expired.len();
    for order in &expired {
        let fate = if started.elapsed() >= EXPIRY_BUDGET {
            Fate::Left
        } else {
            expire(worker, order, now).await.unwrap_or_else(|err| {
                tracing::warn!(order_id = %order.order_id, error = %err, "expired order not closed; next sweep");
                Fate::Left
            })
        };
        match fate {
            Fate::Closed => report.closed += 1,
            Fate::Paid => report.paid += 1,
            Fate::Left => report.left += 1,
        }
    }
    if report.expired > 0 {
        tracing::info!(?report, "expired orders swept");
    }
    report
}

async fn expire(worker: &Worker, listed: &Order, now: DateTime<Utc>) -> Result<Fate, StoreError> {
    // The listing may lag (an index): read the order itself first.
    let current = worker
        .collection
        .get_order(&listed.shop_id, &listed.order_id)
        .await?;
    let Some(order) = current.filter(|o| o.expired_unpaid(now)) else {
        return Ok(Fate::Left);
    };
    let Some(provider) = order.provider_order else {
        return close_ours(worker, &order, now).await;
    };
    let Some(gateway) = worker.gateways.collection(provider) else {
        // Its configuration is gone: nothing there can be closed, and no
        // notice of it can arrive here any more.
        tracing::warn!(order_id = %order.order_id, %provider, "provider no longer configured; closing the order here only");
        return close_ours(worker, &order, now).await;
    };
    match gateway.close(&order.order_id).await {
        CloseOutcome::Closed | CloseOutcome::NotFound => close_ours(worker, &order, now).await,
        CloseOutcome::AlreadyPaid => by_query(worker, gateway.as_ref(), &order, now, false).await,
        CloseOutcome::Ambiguous { detail } => {
            tracing::info!(order_id = %order.order_id, %provider, %detail, "provider close not confirmed; asking");
            by_query(worker, gateway.as_ref(), &order, now, true).await
        }
    }
}

/// Decides by what the provider says the order is: paid → the payment is
/// applied through the notices' own path; closed (when the close itself
/// was unclear) → ours closes too; anything else waits for the next sweep.
async fn by_query(
    worker: &Worker,
    gateway: &dyn CollectionGateway,
    order: &Order,
    now: DateTime<Utc>,
    closed_there_counts: bool,
) -> Result<Fate, StoreError> {
    let provider = gateway.provider();
    let trade = gateway.query(&order.order_id).await;
    if let TradeState::Closed { .. } = trade {
        if closed_there_counts {
            return close_ours(worker, order, now).await;
        }
    }
    let Some(event) = trade.payment_event(provider, &order.order_id, now) else {
        tracing::warn!(order_id = %order.order_id, %provider, ?trade, "provider order neither paid nor closed; next sweep");
        return Ok(Fate::Left);
    };
    // Applied as a notice would be: the POS that issued the order hears of
    // it on its result topic, as it would from the notice.
    let decision = apply_collection_event(
        worker.collection.as_ref(),
        worker.alerts.as_ref(),
        worker.pos.as_deref(),
        &event,
        now,
    )
    .await?;
    Ok(match decision {
        Decision::Apply(_) | Decision::AlreadyApplied => Fate::Paid,
        // Recorded and alerted (amount mismatch and the like): a person decides.
        Decision::Anomaly(_) | Decision::NotYet(_) => Fate::Left,
    })
}

async fn close_ours(
    worker: &Worker,
    order: &Order,
    now: DateTime<Utc>,
) -> Result<Fate, StoreError> {
    match worker
        .collection
        .close_expired_order(&order.shop_id, &order.order_id, now)
        .await?
    {
        Some(Closing::Closed(_)) => Ok(Fate::Closed),
        // A payment landed first: it stands.
        Some(Closing::Unchanged(_)) | None => Ok(Fate::Left),
    }
}
