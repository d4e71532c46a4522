//! `payment-callback`: `POST /callbacks/{provider}` (SPEC §5). Each notice is
//! verified over the raw body bytes before anything is parsed, then applied
//! through the same conditional transitions as everything else, so a notice
//! delivered many times, or racing the worker, changes things once.
//!
//! Built so far: the sandbox provider's "transfer finished" notices, which
//! settle payouts. Payment, instalment and refund notices and the WeChat,
//! Alipay and Douyin formats come with the collection issue.

use std::sync::Arc;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use qrpay_domain::{Clock, PayoutStatus, Secret};
use qrpay_http::{json, segments, ApiError};
use qrpay_provider::callback::{parse_transfer_notice, TransferFinished};
use qrpay_provider::signature;
use qrpay_store::settle::{settle_failure, settle_success};
use qrpay_store::{Store, Transition};
use serde_json::json;

/// Largest notice body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

pub struct App {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// The sandbox's signing secrets: current first, then the previous one
    /// while a rotation is under way. Empty: sandbox notices are refused.
    pub sandbox_secrets: Vec<Secret>,
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    qrpay_http::respond(route(app, &req).await)
}

async fn route(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let path = req.uri().path().to_owned();
    let provider = match segments(&path).as_slice() {
        ["callbacks", provider] => (*provider).to_owned(),
        _ => return Err(ApiError::not_found("ROUTE_NOT_FOUND", "no such route")),
    };
    if req.method() != Method::POST {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "callbacks are POSTed",
        ));
    }
    match provider.as_str() {
        "sandbox" => sandbox(app, req).await,
        "wechatpay" | "alipay" | "douyin" => Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "PROVIDER_NOT_IMPLEMENTED",
            format!("{provider} notices are not handled yet"),
        )),
        _ => Err(ApiError::not_found(
            "PROVIDER_NOT_FOUND",
            "unknown provider",
        )),
    }
}

fn raw_body(req: &Request) -> &[u8] {
    match req.body() {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

async fn sandbox(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let body = raw_body(req);
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::too_large(MAX_BODY_BYTES));
    }
    let header = req
        .headers()
        .get(signature::HEADER)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let secrets: Vec<&str> = app.sandbox_secrets.iter().map(Secret::expose).collect();
    signature::verify(&secrets, header, body, app.clock.now().timestamp()).map_err(|e| {
        tracing::warn!(error = %e, "sandbox notice refused");
        ApiError::new(StatusCode::UNAUTHORIZED, "INVALID_SIGNATURE", e.to_string())
    })?;
    let notice = parse_transfer_notice(body).map_err(|e| ApiError::invalid("body", e))?;
    let applied = apply_transfer_notice(app, &notice).await?;
    Ok(json(
        StatusCode::OK,
        &json!({"received": true, "applied": applied}),
    ))
}

/// Settles the payout a notice is about. Anomalies (unknown payout, amount
/// mismatch) are recorded as alerts and never applied; they are still
/// acknowledged, since retrying cannot make them right.
async fn apply_transfer_notice(app: &App, notice: &TransferFinished) -> Result<bool, ApiError> {
    let Some(payout) = app.store.find_payout(&notice.out_bill_no).await? else {
        tracing::error!(alert = "TRANSFER_NOTICE_UNKNOWN_PAYOUT", out_bill_no = %notice.out_bill_no,
            notice_id = %notice.notice_id, "transfer notice for a payout we do not have");
        return Ok(false);
    };
    if notice.amount != payout.amount {
        tracing::error!(alert = "TRANSFER_NOTICE_AMOUNT_MISMATCH", payout_id = %payout.payout_id,
            notice_amount = %notice.amount, payout_amount = %payout.amount, "transfer notice amount differs");
        return Ok(false);
    }
    if payout.status == PayoutStatus::Pending {
        // We never hand a payout to the provider before it is PROCESSING.
        tracing::error!(alert = "TRANSFER_NOTICE_BEFORE_DISPATCH", payout_id = %payout.payout_id,
            "transfer notice for a payout never dispatched");
        return Ok(false);
    }
    let now = app.clock.now();
    let settled = match &notice.failure {
        None => settle_success(app.store.as_ref(), &payout, &notice.provider_ref, now).await?,
        Some(reason) => settle_failure(app.store.as_ref(), &payout, reason, now).await?,
    };
    tracing::info!(payout_id = %payout.payout_id, notice_id = %notice.notice_id,
        moved = matches!(settled, Transition::Moved(_)), "transfer notice applied");
    Ok(matches!(settled, Transition::Moved(_)))
}
