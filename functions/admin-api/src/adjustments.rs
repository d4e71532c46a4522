//! `POST /admin/shops/{shop_id}/balance-adjustments` (API.md "Admin"): after
//! a shop is created, the only way an operator moves its payout balance. The
//! store decides and writes it in one atomic step with its ledger entry and
//! its `Idempotency-Key`; reconciliation reports it as our own movement.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use qrpay_domain::time::rfc3339_beijing;
use qrpay_domain::{
    AdjustmentId, AdjustmentReason, AdjustmentRequest, BalanceAdjustment, Principal, ShopId,
    SignedAmount,
};
use qrpay_http::{idempotency_key, idempotent_json, json_object, ApiError};
use qrpay_store::Adjusted;
use serde_json::{json, Value};

use crate::{App, MAX_BODY_BYTES};

/// Longest amount text: "-99999999.99".
const MAX_SIGNED_AMOUNT_CHARS: usize = 12;

pub(crate) async fn create_adjustment(
    app: &App,
    req: &Request,
    who: &Principal,
    shop_id: ShopId,
) -> Result<Response<Body>, ApiError> {
    let key = idempotency_key(req)?;
    let body = json_object(req, MAX_BODY_BYTES)?;
    body.only(&["amount", "reason"])?;
    let amount = SignedAmount::parse(body.required_str("amount", MAX_SIGNED_AMOUNT_CHARS)?)
        .map_err(|e| {
            ApiError::invalid(
                "amount",
                format!("amount must be a signed decimal string like \"-12.30\" or \"12.30\", not zero: {e}"),
            )
        })?;
    let reason = body.required_str("reason", AdjustmentReason::MAX_CHARS)?;
    if reason.trim().is_empty() {
        return Err(ApiError::invalid("reason", "reason cannot be blank"));
    }
    let reason = AdjustmentReason::parse(reason)
        .map_err(|e| ApiError::invalid("reason", e.for_field("reason")))?;
    let now = app.clock.now();
    let request = AdjustmentRequest {
        adjustment_id: AdjustmentId::generate(now),
        shop_id,
        idempotency_key: key,
        operator_id: who.operator_id.clone(),
        amount,
        reason,
        now,
    };
    let adjusted = app.shops.adjust_balance(&request).await?;
    let replayed = matches!(adjusted, Adjusted::Replayed(_));
    let a = adjusted.adjustment();
    if !replayed {
        tracing::info!(
            shop_id = %a.shop_id,
            adjustment_id = %a.adjustment_id,
            operator_id = %a.operator_id,
            amount = %a.amount,
            "balance adjusted"
        );
    }
    Ok(idempotent_json(
        StatusCode::CREATED,
        &adjustment_json(a),
        replayed,
    ))
}

pub fn adjustment_json(a: &BalanceAdjustment) -> Value {
    json!({
        "adjustment_id": a.adjustment_id,
        "shop_id": a.shop_id,
        "operator_id": a.operator_id,
        "amount": a.amount.to_string(),
        "reason": a.reason.as_str(),
        "balance_before": a.balance_before.to_string(),
        "balance_after": a.balance_after.to_string(),
        "business_date": a.business_date.to_string(),
        "created_at": rfc3339_beijing(a.created_at),
    })
}
