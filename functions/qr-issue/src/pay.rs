//! The buyer's side of a code: the payment link (`/pay/{token}`) that the
//! QR image carries. The token is checked before anything is read; a code
//! that is revoked, expired or used cannot be paid (SPEC §3).
//!
//! - `GET /pay/{token}`: what the buyer is about to pay.
//! - `POST /pay/{token}` `{"amount"?}`: check out. A dynamic code gives its
//!   order; a static code opens a new order for the amount the buyer typed.
//!   The payment page then hands the order to the buyer's provider.

use hmac::{Hmac, Mac};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use qrpay_domain::instalment::plan;
use qrpay_domain::time::rfc3339_beijing;
use qrpay_domain::{Order, OrderId, OrderStatus, QrCode, QrId, QrKind, QrRefusal, ShopId};
use qrpay_http::{json, json_object, raw_body, source_ip, ApiError, ErrorCode};
use qrpay_qr::token;
use qrpay_store::Checkout;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::issue::plan_json;
use crate::App;

const MAX_BODY_BYTES: usize = 1024;

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::QrNotFound, "no such payment code")
}

/// The code a payment token names, if the token is ours and untampered.
async fn code_of(app: &App, signed: &str) -> Result<QrCode, ApiError> {
    let secrets: Vec<&[u8]> = app
        .token_secrets
        .iter()
        .map(|s| s.expose().as_bytes())
        .collect();
    let claims = token::verify(&secrets, signed).map_err(|e| {
        tracing::warn!(error = %e, "payment token refused");
        not_found()
    })?;
    let shop = ShopId::parse(&claims.shop_id).map_err(|_| not_found())?;
    let qr = QrId::parse(&claims.qr_id).map_err(|_| not_found())?;
    app.collection
        .get_qr(&shop, &qr)
        .await?
        .ok_or_else(not_found)
}

/// `GET /pay/{token}`
pub async fn show(app: &App, signed: &str) -> Result<Response<Body>, ApiError> {
    let code = code_of(app, signed).await?;
    code.check_payable(app.clock.now())
        .map_err(ApiError::from)?;
    let mut body = json!({
        "qr_id": code.qr_id,
        "shop_id": code.shop_id,
        "kind": code.kind,
        "amount": code.amount.map(|a| a.to_string()),
        "order_id": code.order_id,
        "description": code.description,
        "expires_at": code.expires_at.map(rfc3339_beijing),
    });
    if let (Some(plan), Value::Object(map)) = (&code.instalment_plan, &mut body) {
        map.insert("instalment_plan".into(), plan_json(plan));
    }
    Ok(json(StatusCode::OK, &body))
}

/// `POST /pay/{token}`
pub async fn checkout(app: &App, req: &Request, signed: &str) -> Result<Response<Body>, ApiError> {
    // The body is checked before the code is read: a malformed request is
    // 400 whatever the code's state (never a 410 that hides the mistake).
    let typed = if raw_body(req).is_empty() {
        None
    } else {
        let fields = json_object(req, MAX_BODY_BYTES)?;
        fields.only(&["amount"])?;
        fields.optional_amount("amount")?
    };
    let code = code_of(app, signed).await?;
    let now = app.clock.now();
    code.check_payable(now).map_err(ApiError::from)?;
    match code.kind {
        QrKind::Dynamic => dynamic_order(app, &code, typed).await,
        QrKind::Static => {
            let client = client_key(app, req)?;
            static_order(app, &code, typed, &client, now).await
        }
    }
}

/// Who is checking out, for the rate windows: a keyed hash of the address
/// API Gateway saw (no address at rest), 16 hex characters.
fn client_key(app: &App, req: &Request) -> Result<String, ApiError> {
    let secret = app
        .token_secrets
        .first()
        .ok_or_else(|| ApiError::internal("no payment token secret configured"))?;
    let address = source_ip(req).unwrap_or_else(|| "unknown".to_owned());
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .map_err(|_| ApiError::internal("payment token secret unusable"))?;
    mac.update(b"checkout-client:");
    mac.update(address.as_bytes());
    Ok(hex::encode(&mac.finalize().into_bytes()[..8]))
}

async fn dynamic_order(
    app: &App,
    code: &QrCode,
    typed: Option<qrpay_domain::Amount>,
) -> Result<Response<Body>, ApiError> {
    if typed.is_some() && typed != code.amount {
        return Err(ApiError::invalid(
            "amount",
            "this code is for a fixed amount",
        ));
    }
    let order_id = code
        .order_id
        .as_ref()
        .ok_or_else(|| ApiError::internal(format!("dynamic code {} has no order", code.qr_id)))?;
    let order = app
        .collection
        .get_order(&code.shop_id, order_id)
        .await?
        .ok_or_else(|| ApiError::internal(format!("order {order_id} of a code is missing")))?;
    if order.status != OrderStatus::Created {
        return Err(QrRefusal::Used.into());
    }
    Ok(json(StatusCode::OK, &checkout_json(&order)))
}

async fn static_order(
    app: &App,
    code: &QrCode,
    typed: Option<qrpay_domain::Amount>,
    client: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Response<Body>, ApiError> {
    let amount = typed.ok_or_else(|| ApiError::invalid("amount", "enter the amount to pay"))?;
    let instalment_plan = match code.instalment_periods {
        None => None,
        Some(periods) => {
            let shop = app
                .shops
                .get_shop(&code.shop_id)
                .await?
                .ok_or_else(|| ApiError::new(ErrorCode::ShopNotFound, "shop not found"))?;
            Some(plan(amount, periods, &shop.instalments).map_err(ApiError::from)?)
        }
    };
    let order = Order {
        qr_id: Some(code.qr_id.clone()),
        description: code.description.clone(),
        // Unpaid by then, the sweeper closes it (SPEC §10).
        expires_at: Some(app.checkout_limits.order_expiry(now)),
        ..Order::created(OrderId::generate(now), code.shop_id.clone(), amount, now)
    }
    .with_plan(instalment_plan);
    // Counted and written at once: a flood leaves at most the windows' worth.
    let windows = app
        .checkout_limits
        .windows(code.qr_id.as_str(), client, now);
    match app.collection.open_checkout(&order, &windows).await? {
        Checkout::Opened => Ok(json(StatusCode::CREATED, &checkout_json(&order))),
        Checkout::Limited(window) => {
            tracing::warn!(qr_id = %code.qr_id, scope = window.scope, "checkout rate limited");
            let mut e = ApiError::new(
                ErrorCode::CheckoutRateLimited,
                "too many checkouts for now; try again later",
            );
            e.retry_after_s = Some(window.retry_after_s(now));
            Err(e)
        }
        Checkout::Duplicate => Err(ApiError::internal(format!(
            "new order id {} collided",
            order.order_id
        ))),
    }
}

fn checkout_json(order: &Order) -> Value {
    json!({
        "order_id": order.order_id,
        "shop_id": order.shop_id,
        "amount": order.amount.to_string(),
        "instalment_plan": order.instalment_plan.as_ref().map(plan_json),
        "expires_at": order.expires_at.map(rfc3339_beijing),
    })
}
