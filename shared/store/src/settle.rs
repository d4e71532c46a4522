//! Settling a payout from what the provider said, shared by the worker, the
//! sweeper and the provider's "transfer finished" callbacks: whichever comes
//! first settles it, the others find it settled. Merchant refunds settle the
//! same way (worker, sweeper and the provider's refund notices).

use chrono::{DateTime, Utc};
use qrpay_domain::{Payout, PayoutStatus, Refund, RefundStatus};

use crate::alerts::{Alert, AlertCode, Alerts};
use crate::metrics::{self, MetricName, Point};
use crate::{
    PayoutError, PayoutStore, RefundError, RefundStore, RefundTransition, StoreError, Transition,
};

/// The provider says the money moved.
pub async fn settle_success(
    store: &dyn PayoutStore,
    alerts: &dyn Alerts,
    payout: &Payout,
    provider_ref: &str,
    now: DateTime<Utc>,
) -> Result<Transition, StoreError> {
    let settled = store
        .succeed_payout(&payout.shop_id, &payout.payout_id, provider_ref, now)
        .await
        .map_err(vanished)?;
    if let Transition::Moved(done) = &settled {
        reached_final(done, MetricName::PayoutsSucceeded, now);
    }
    if let Transition::Unchanged(current) = &settled {
        if current.status == PayoutStatus::Failed {
            // We released it, yet the provider paid: money left without a reservation.
            let why = "provider reports success for a payout recorded as failed";
            alerts.raise(&contradiction(current, why)).await;
        }
    }
    Ok(settled)
}

/// The provider definitively refused: release everything, notify the shop.
pub async fn settle_failure(
    store: &dyn PayoutStore,
    alerts: &dyn Alerts,
    payout: &Payout,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Transition, StoreError> {
    let settled = store
        .fail_payout(&payout.shop_id, &payout.payout_id, reason, now)
        .await
        .map_err(vanished)?;
    if let Transition::Moved(done) = &settled {
        reached_final(done, MetricName::PayoutsFailed, now);
    }
    if let Transition::Unchanged(current) = &settled {
        if current.status == PayoutStatus::Succeeded {
            let why = "provider reports failure for a payout recorded as succeeded";
            alerts.raise(&contradiction(current, why)).await;
        }
    }
    Ok(settled)
}

/// A payout just became final: counted, with the seconds it took.
fn reached_final(payout: &Payout, outcome: MetricName, now: DateTime<Utc>) {
    metrics::put(Point::count(outcome, metrics::PAYOUTS));
    let seconds = (now - payout.created_at).num_milliseconds().max(0) as f64 / 1000.0;
    metrics::put(Point::count(MetricName::PayoutSecondsToFinal, metrics::PAYOUTS).value(seconds));
}

/// The provider contradicts a final state we recorded: a person must check
/// the payout with the provider.
fn contradiction(current: &Payout, why: &str) -> Alert {
    Alert {
        code: AlertCode::PayoutProviderContradiction.into(),
        message: format!(
            "{why}: payout {} of {}; check it with the provider",
            current.payout_id, current.amount
        ),
        shop_id: Some(current.shop_id.to_string()),
        reference: current.payout_id.to_string(),
    }
}

fn vanished(err: PayoutError) -> StoreError {
    match err {
        PayoutError::Store(e) => e,
        PayoutError::PayoutNotFound => StoreError::Corrupt("payout vanished while settling".into()),
    }
}

/// The provider says the refund's money went back (`PROCESSING →
/// SUCCEEDED`): the order's refunded amount, the ledger entry and the debit,
/// once, whoever gets here first.
pub async fn settle_refund_success(
    store: &dyn RefundStore,
    alerts: &dyn Alerts,
    refund: &Refund,
    provider_refund_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<RefundTransition, StoreError> {
    let settled = store
        .succeed_refund(&refund.shop_id, &refund.refund_id, provider_refund_id, now)
        .await
        .map_err(refund_vanished)?;
    if let RefundTransition::Unchanged(current) = &settled {
        if current.status == RefundStatus::Failed {
            let why = "provider reports success for a refund recorded as failed";
            alerts.raise(&refund_contradiction(current, why)).await;
        }
    }
    Ok(settled)
}

/// The provider definitively refused the refund: release what it reserved
/// and notify the shop.
pub async fn settle_refund_failure(
    store: &dyn RefundStore,
    alerts: &dyn Alerts,
    refund: &Refund,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<RefundTransition, StoreError> {
    let settled = store
        .fail_refund(&refund.shop_id, &refund.refund_id, reason, now)
        .await
        .map_err(refund_vanished)?;
    if let RefundTransition::Unchanged(current) = &settled {
        if current.status == RefundStatus::Succeeded {
            let why = "provider reports failure for a refund recorded as succeeded";
            alerts.raise(&refund_contradiction(current, why)).await;
        }
    }
    Ok(settled)
}

fn refund_contradiction(current: &Refund, why: &str) -> Alert {
    Alert {
        code: AlertCode::RefundProviderContradiction.into(),
        message: format!(
            "{why}: refund {} of {} for order {}; check it with the provider",
            current.refund_id, current.amount, current.order_id
        ),
        shop_id: Some(current.shop_id.to_string()),
        reference: current.refund_id.to_string(),
    }
}

fn refund_vanished(err: RefundError) -> StoreError {
    match err {
        RefundError::Store(e) => e,
        RefundError::RefundNotFound => StoreError::Corrupt("refund vanished while settling".into()),
    }
}
