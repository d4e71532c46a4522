//! Applying what a provider says about one of our orders, shared by the
//! provider's callbacks (a verified notice), the receipt page and the
//! sweeper (a paid trade found by query): all go through
//! the store's one conditional write, so whichever comes first applies it
//! and the other finds it applied.

use chrono::{DateTime, Utc};
use qrpay_domain::{CollectionEvent, CollectionEventKind, Decision};
use qrpay_queue::publish::Publisher;

use crate::alerts::{anomaly_alert, collection_notice_alert, Alert, AlertCode, Alerts};
use crate::{CollectionStore, StoreError};

/// Applies `event`, logs the outcome and raises what it calls for (an
/// anomaly, a failed deduction, a large payment); a payment applied is told
/// to the POS that issued the order, through `pos` when the caller can
/// publish to devices. What was decided is returned.
pub async fn apply_collection_event(
    store: &dyn CollectionStore,
    alerts: &dyn Alerts,
    pos: Option<&dyn Publisher>,
    event: &CollectionEvent,
    now: DateTime<Utc>,
) -> Result<Decision, StoreError> {
    let decision = store.apply_collection(event, now).await.inspect_err(|e| {
        tracing::error!(error = %e, order_id = %event.order_id, "collection event could not be applied");
    })?;
    let outcome = match &decision {
        Decision::Apply(_) => "APPLIED",
        Decision::AlreadyApplied => "ALREADY_APPLIED",
        Decision::Anomaly(_) => "ANOMALY",
        Decision::NotYet(_) => "NOT_YET",
    };
    tracing::info!(provider = %event.provider, notification_id = %event.notification_id,
        order_id = %event.order_id, event = event.kind.name(), outcome, "collection event");
    match &decision {
        Decision::Apply(effect) => {
            // Raised when the change is written, which happens once per
            // notice: a redelivery is `AlreadyApplied` and raises nothing.
            if let Some(alert) = effect.notice.as_ref().and_then(collection_notice_alert) {
                alerts.raise(&alert).await;
            }
            if let Some(anomaly) = &effect.anomaly {
                alerts.raise(&anomaly_alert(anomaly)).await;
            }
            let paid = matches!(event.kind, CollectionEventKind::PaymentSucceeded { .. });
            if let (true, Some(publisher)) = (paid, pos) {
                crate::pos_result::tell_device(store, publisher, &effect.order).await;
            }
        }
        Decision::Anomaly(anomaly) => alerts.raise(&anomaly_alert(anomaly)).await,
        // A refund waits on ours in flight, which may take days; a
        // deduction before its payment is only notices crossing.
        Decision::NotYet(why)
            if matches!(event.kind, CollectionEventKind::RefundSucceeded { .. }) =>
        {
            alerts.raise(&waiting_alert(event, why)).await
        }
        Decision::NotYet(_) | Decision::AlreadyApplied => {}
    }
    Ok(decision)
}

/// A refund notice answered "not yet": someone should know it waits, in
/// case the provider gives up delivering it before it can be decided.
fn waiting_alert(event: &CollectionEvent, why: &str) -> Alert {
    Alert {
        code: AlertCode::CollectionNoticeWaiting.into(),
        message: format!(
            "{} {} notice {} for order {} waits: {why}. If it is not delivered again once our refund has settled, book it from the day's reconciliation (MISSING_IN_LEDGER)",
            event.provider,
            event.kind.name(),
            event.notification_id,
            event.order_id
        ),
        shop_id: None,
        reference: event.order_id.to_string(),
    }
}
