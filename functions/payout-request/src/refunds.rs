//! Merchant refunds (API.md `…/orders/{order_id}/refunds`, BUYER_PAGES §11).
//! The store checks every refund rule and reserves the refund in one atomic
//! step (refunds and live payouts of an order never exceed what was paid);
//! this turns HTTP into a `RefundRequest` and hands the reserved refund to
//! the payout queue as a refund message, where the worker sends it.
//!
//! Who may refund: the shop's main account, or a sub-account whose quota
//! has `refunds_enabled` (otherwise `422 OPERATOR_NO_QUOTA`, as payouts).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use qrpay_domain::refund::MAX_REFUND_REASON_BYTES;
use qrpay_domain::time::rfc3339_beijing;
use qrpay_domain::{
    OrderId, Principal, Refund, RefundId, RefundReason, RefundRequest, RefundStatus, ShopId,
};
use qrpay_http::{idempotency_key, json, json_object, ApiError};
use qrpay_queue::RefundMessage;
use qrpay_store::RefundReserved;
use serde_json::{json, Value};

use crate::{accepted, App, MAX_BODY_BYTES};

/// `POST /shops/{shop_id}/orders/{order_id}/refunds`
pub(crate) async fn create_refund(
    app: &App,
    req: &Request,
    who: &Principal,
    shop_id: ShopId,
    order_id: OrderId,
) -> Result<Response<Body>, ApiError> {
    let key = idempotency_key(req)?;
    let body = json_object(req, MAX_BODY_BYTES)?;
    body.only(&["amount", "reason"])?;
    let amount = body.amount("amount")?;
    // Bounded in bytes by the domain; this only stops absurd texts early.
    let reason = body
        .optional_str("reason", MAX_REFUND_REASON_BYTES)?
        .map(RefundReason::parse)
        .transpose()
        .map_err(|e| ApiError::invalid("reason", e.to_string()))?;
    let now = app.clock.now();
    let request = RefundRequest {
        refund_id: RefundId::generate(now),
        shop_id,
        order_id,
        operator_id: who.operator_id.clone(),
        amount,
        reason,
        idempotency_key: key,
        refund_providers: app.refund_providers,
        now,
    };
    let reserved = app.refunds.reserve_refund(&request).await?;
    let refund = reserved.refund();
    let replayed = matches!(reserved, RefundReserved::Replayed(_));
    tracing::info!(refund_id = %refund.refund_id, shop_id = %refund.shop_id, amount = %refund.amount, replayed, "refund reserved");
    if refund.status == RefundStatus::Pending {
        dispatch(app, refund).await;
    }
    Ok(accepted(&refund_json(refund), replayed))
}

/// Hands a pending refund to the worker. A failure loses nothing: the
/// refund stays `PENDING` and the sweeper dispatches it again.
async fn dispatch(app: &App, refund: &Refund) {
    let message = RefundMessage::for_refund(refund);
    if let Err(err) = app.queue.enqueue_refund(&message).await {
        tracing::warn!(refund_id = %refund.refund_id, error = %err, "enqueue failed; refund stays PENDING for the sweeper");
    }
}

/// `GET /shops/{shop_id}/orders/{order_id}/refunds`
pub(crate) async fn list_order_refunds(
    app: &App,
    shop_id: ShopId,
    order_id: OrderId,
) -> Result<Response<Body>, ApiError> {
    let order = crate::order_of(app, &shop_id, &order_id).await?;
    let refunds = app.refunds.list_order_refunds(&shop_id, &order_id).await?;
    Ok(json(
        StatusCode::OK,
        &json!({
            "order_id": order.order_id,
            "paid_amount": order.paid_amount.to_string(),
            "refunded_amount": order.refunded_amount.to_string(),
            "refunds_live_total": order.refunds_live_total().to_string(),
            "refunds": refunds.iter().map(refund_json).collect::<Vec<_>>(),
        }),
    ))
}

/// A refund as API.md shows it.
pub fn refund_json(r: &Refund) -> Value {
    let mut v = json!({
        "refund_id": r.refund_id,
        "order_id": r.order_id,
        "amount": r.amount.to_string(),
        "fee_returned": r.fee_returned.to_string(),
        "status": r.status.as_str(),
        "provider": r.provider,
        "created_at": rfc3339_beijing(r.created_at),
        "updated_at": rfc3339_beijing(r.updated_at),
    });
    if let Some(reason) = &r.reason {
        v["reason"] = json!(reason.as_str());
    }
    if let Some(id) = &r.provider_refund_id {
        v["provider_refund_id"] = json!(id);
    }
    if let Some(reason) = &r.failure_reason {
        v["failure_reason"] = json!(reason);
    }
    v
}
