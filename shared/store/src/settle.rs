//! Settling a payout from what the provider said, shared by the worker, the
//! sweeper and the provider's "transfer finished" callbacks: whichever comes
//! first settles it, the others find it settled.

use chrono::{DateTime, Utc};
use qrpay_domain::{Payout, PayoutStatus};

use crate::{PayoutError, PayoutStore, StoreError, Transition};

/// The provider says the money moved.
pub async fn settle_success(
    store: &dyn PayoutStore,
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
            tracing::error!(alert = "PAYOUT_PROVIDER_CONTRADICTION", payout_id = %current.payout_id,
                "provider reports success for a payout recorded as failed");
        }
    }
    Ok(settled)
}

/// The provider definitively refused: release everything, notify the shop.
pub async fn settle_failure(
    store: &dyn PayoutStore,
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
            tracing::error!(alert = "PAYOUT_PROVIDER_CONTRADICTION", payout_id = %current.payout_id,
                "provider reports failure for a payout recorded as succeeded");
        }
    }
    Ok(settled)
}

fn vanished(err: PayoutError) -> StoreError {
    match err {
        PayoutError::Store(e) => e,
        PayoutError::PayoutNotFound => StoreError::Corrupt("payout vanished while settling".into()),
    }
}
