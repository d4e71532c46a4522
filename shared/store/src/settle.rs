//! Settling a payout from what the provider said, shared by the worker, the
//! sweeper and the provider's "transfer finished" callbacks: whichever comes
//! first settles it, the others find it settled.

use chrono::{DateTime, Utc};
use qrpay_domain::{Payout, PayoutStatus};

use crate::alerts::{Alert, AlertCode, Alerts};
use crate::{PayoutError, PayoutStore, StoreError, Transition};

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
    if let Transition::Unchanged(current) = &settled {
        if current.status == PayoutStatus::Succeeded {
            let why = "provider reports failure for a payout recorded as succeeded";
            alerts.raise(&contradiction(current, why)).await;
        }
    }
    Ok(settled)
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
