//! Provider refund notices that name one of OUR refunds (BUYER_PAGES §11.4):
//! WeChat `out_refund_no`, Alipay `out_biz_no` (our `out_request_no`),
//! Douyin `cp_refundno`. Such a notice settles our refund record through
//! the same conditional transition as the worker and the sweeper
//! (`PROCESSING → SUCCEEDED`): whichever comes first moves the pending
//! amount into the order's refunded amount and writes the one ledger entry,
//! the others find it settled. It is never applied as a refund made outside
//! qrpay, so the order is never counted twice (refunded and still pending).
//!
//! A notice naming no refund of ours — none at all, or a number we never
//! made (a refund from the provider's console) — keeps today's behaviour
//! (`Store::apply_collection`).

use qrpay_domain::{CollectionEvent, CollectionEventKind, Refund, RefundStatus};
use qrpay_store::alerts::{Alert, AlertCode};
use qrpay_store::settle::settle_refund_success;
use qrpay_store::RefundTransition;

use crate::App;

/// `None`: the notice names no refund of ours. Otherwise as `apply`:
/// `Ok(true)` if it settled our refund, `Ok(false)` if acknowledged without
/// a change, `Err` with the status to answer when it should come again.
pub(crate) async fn settle_our_refund(
    app: &App,
    event: &CollectionEvent,
) -> Option<Result<bool, (u16, String)>> {
    let CollectionEventKind::RefundSucceeded {
        refund_id,
        amount,
        our_refund: Some(ours),
    } = &event.kind
    else {
        return None;
    };
    let unavailable = |e: qrpay_store::StoreError| {
        tracing::error!(error = %e, "refund notice could not be applied");
        (503, "temporarily unavailable; deliver again".to_owned())
    };
    let refund = match app.refunds.find_refund(ours).await {
        Ok(Some(refund)) => refund,
        Ok(None) => return None,
        Err(e) => return Some(Err(unavailable(e))),
    };
    if let Some(why) = mismatch(event, &refund, *amount) {
        app.alerts
            .raise(&mismatch_alert(event, &refund, &why))
            .await;
        return Some(Ok(false));
    }
    // Alipay has no refund id of its own: its notice names our number twice.
    let provider_refund_id = (refund_id.as_str() != ours.as_str()).then_some(refund_id.as_str());
    let (store, alerts, now) = (app.refunds.as_ref(), app.alerts.as_ref(), app.clock.now());
    let settled = settle_refund_success(store, alerts, &refund, provider_refund_id, now).await;
    Some(match settled {
        Ok(transition) => {
            let moved = matches!(transition, RefundTransition::Moved(_));
            tracing::info!(refund_id = %refund.refund_id, notification_id = %event.notification_id,
                moved, "refund notice settled our refund");
            Ok(moved)
        }
        Err(e) => Err(unavailable(e)),
    })
}

/// Why the notice cannot be about this refund as we made it, if it cannot.
fn mismatch(
    event: &CollectionEvent,
    refund: &Refund,
    amount: qrpay_domain::Amount,
) -> Option<String> {
    if refund.order_id != event.order_id || refund.provider != event.provider {
        return Some(format!(
            "{} refund notice for order {} names a refund of order {} sent through {}",
            event.provider, event.order_id, refund.order_id, refund.provider
        ));
    }
    if refund.amount != amount {
        return Some(format!(
            "refund notice amount {amount} differs from the refund's {}",
            refund.amount
        ));
    }
    // We hand a refund to the provider only once it is PROCESSING.
    (refund.status == RefundStatus::Pending)
        .then(|| "refund notice for a refund never sent to the provider".to_owned())
}

fn mismatch_alert(event: &CollectionEvent, refund: &Refund, why: &str) -> Alert {
    Alert {
        code: AlertCode::RefundNoticeMismatch.into(),
        message: format!(
            "{why}: notice {} about refund {} was not applied; check it with the provider",
            event.notification_id, refund.refund_id
        ),
        shop_id: Some(refund.shop_id.to_string()),
        reference: refund.refund_id.to_string(),
    }
}
