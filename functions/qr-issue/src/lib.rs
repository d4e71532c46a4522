//! `qr-issue`: collection codes (SPEC §3, API.md "Merchant" and "POS
//! devices"). Merchants (JWT) and POS devices (HMAC over HTTPS, or IoT Core)
//! issue static and dynamic codes through one issuing path; merchants read
//! and revoke them and read orders; buyers open the payment link.

pub mod device;
pub mod export;
pub mod iot;
pub mod issue;
pub mod lambda;
pub mod orders;
pub mod page;
pub mod pay;
pub mod provider_code;
pub mod receivable;

use qrpay_aws::Reloadable;
use qrpay_domain::checkout::CheckoutLimits;
use qrpay_provider::gateway::Gateways;
use std::sync::Arc;

use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response};
use qrpay_domain::time::rfc3339_beijing;
use qrpay_domain::{BusinessDate, Clock, DeviceId, Order, OrderId, QrId, Secret, ShopId};
use qrpay_http::{json, json_object, principal, require_shop, segments, ApiError, ErrorCode};
use qrpay_qr::render;
use qrpay_qr::token::TokenError;
use qrpay_store::alerts::Alerts;
use qrpay_store::keyring::DeviceKeyring;
use qrpay_store::{ClaimStore, CollectionStore, PayoutStore, Revocation, ShopStore};
use serde_json::json;

pub use iot::{MemoryPublisher, Publisher};
use issue::{code_json, issue, plan_json, MAX_BODY_BYTES};

/// Pixels per QR module in PNG images.
pub const PNG_MODULE_PX: u32 = 8;

/// What the function needs, built once per cold start.
pub struct App {
    pub shops: Arc<dyn ShopStore>,
    pub collection: Arc<dyn CollectionStore>,
    /// Read by the payout claim page (`/claim/{token}`).
    pub payouts: Arc<dyn PayoutStore>,
    /// Leases: one provider query per order at a time from receipt pages.
    pub leases: Arc<dyn ClaimStore>,
    pub clock: Arc<dyn Clock>,
    /// Payment-token keys: the current one first, then the previous one
    /// while a rotation is under way. Re-read from the stage's secret when a
    /// token's signature fails (a rotation needs no deploy).
    pub token_secrets: Reloadable<Vec<Secret>>,
    /// Where payment links point; the token follows as `/pay/{token}`.
    pub pay_base_url: String,
    pub publisher: Arc<dyn Publisher>,
    /// Opens the sealed device secrets (KMS in AWS, cached briefly).
    pub device_keys: Arc<dyn DeviceKeyring>,
    /// Where a misconfigured IoT rule is raised.
    pub alerts: Arc<dyn Alerts>,
    /// How many static-code checkouts strangers may open (SPEC §10).
    pub checkout_limits: CheckoutLimits,
    /// The providers configured here: a dynamic code for one of them
    /// carries its own payment code (SPEC §9).
    pub gateways: Gateways,
    /// What the buyer's pages offer beyond the gateways (SPEC §10).
    pub buyer: page::BuyerSettings,
}

impl App {
    /// The key new links are signed with: the current payment-token secret.
    pub fn signing_key(&self) -> Result<Secret, ApiError> {
        self.token_secrets
            .current()
            .first()
            .cloned()
            .ok_or_else(|| ApiError::internal("no payment token secret configured"))
    }

    /// `value` hashed under the signing key for one `purpose` (a label that
    /// keeps purposes apart), as `bytes` bytes of hex: an identifier that
    /// reveals nothing about `value` and cannot be made without the key.
    pub fn keyed_hash(&self, purpose: &str, value: &str, bytes: usize) -> Result<String, ApiError> {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(self.signing_key()?.expose().as_bytes())
            .map_err(|_| ApiError::internal("payment token secret unusable"))?;
        mac.update(purpose.as_bytes());
        mac.update(b":");
        mac.update(value.as_bytes());
        let digest = mac.finalize().into_bytes();
        Ok(hex::encode(&digest[..bytes.min(digest.len())]))
    }

    /// A link (payment, receipt or claim token) checked by `verify` against
    /// every key it may carry: the current one, then the previous one while a
    /// rotation is under way. A bad signature may mean the key was rotated
    /// since the cold start: the secret is read again (at most once a
    /// minute, however many forgeries arrive) and, if it changed, the link
    /// is checked once more with the new keys.
    pub async fn verify_link<T>(
        &self,
        verify: impl Fn(&[&[u8]]) -> Result<T, TokenError>,
    ) -> Result<T, TokenError> {
        let with = |secrets: &[Secret]| {
            let keys: Vec<&[u8]> = secrets.iter().map(|s| s.expose().as_bytes()).collect();
            verify(&keys)
        };
        match with(&self.token_secrets.current()) {
            Err(TokenError::BadSignature) => {
                match self.token_secrets.after_signature_failure().await {
                    Some(reloaded) => with(&reloaded),
                    None => Err(TokenError::BadSignature),
                }
            }
            verified => verified,
        }
    }
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    qrpay_http::respond(route(app, &req).await)
}

async fn route(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    match (segments(&path).as_slice(), method) {
        (["shops", shop, "qr-codes"], Method::POST) => {
            let shop = require_shop(&principal(req)?, shop)?;
            let fields = json_object(req, MAX_BODY_BYTES)?;
            issued(issue(app, &shop, &fields, None).await?)
        }
        (["shops", shop, "qr-codes", qr], method) => {
            let shop = require_shop(&principal(req)?, shop)?;
            let qr = ApiError::path_id(QrId::parse(qr), "qr_id")?;
            match method {
                Method::GET => get_code(app, &shop, &qr).await,
                Method::DELETE => revoke(app, &shop, &qr).await,
                _ => Err(ApiError::method_not_allowed(&[Method::GET, Method::DELETE])),
            }
        }
        (["shops", shop, "qr-codes", qr, "png"], Method::GET) => {
            let shop = require_shop(&principal(req)?, shop)?;
            png(app, &shop, &ApiError::path_id(QrId::parse(qr), "qr_id")?).await
        }
        (["shops", shop, "orders"], Method::GET) => {
            let shop = require_shop(&principal(req)?, shop)?;
            orders::list(app, req, &shop).await
        }
        (["shops", shop, "exports", "orders"], Method::GET) => {
            let shop = require_shop(&principal(req)?, shop)?;
            orders::export(app, req, &shop).await
        }
        (["shops", shop, "orders", order], Method::GET) => {
            let shop = require_shop(&principal(req)?, shop)?;
            get_order(
                app,
                &shop,
                &ApiError::path_id(OrderId::parse(order), "order_id")?,
            )
            .await
        }
        (["devices", device, "qr-codes"], Method::POST) => {
            let device = device::authenticate(app, req, device).await?;
            let fields = json_object(req, MAX_BODY_BYTES)?;
            issued(issue(app, &device.shop_id, &fields, Some(&device.device_id)).await?)
        }
        (["devices", device, "orders", order], Method::GET) => {
            let device = device::authenticate(app, req, device).await?;
            device_order(app, &device, order).await
        }
        (["pay", token], Method::GET) => Ok(pay::show(app, req, token).await),
        (["pay", token], Method::POST) => Ok(pay::checkout(app, req, token).await),
        (["pay", token, "orders", order, way], Method::GET) => {
            Ok(pay::next(app, req, token, order, way).await)
        }
        (["receipts", token], Method::GET) => Ok(page::receipt::show(app, req, token).await),
        (["claim", token], Method::GET) => Ok(page::claim::show(app, req, token).await),
        // Known paths with another method: 405 naming the ones they have.
        (["shops", _, "qr-codes"] | ["devices", _, "qr-codes"], _) => {
            Err(ApiError::method_not_allowed(&[Method::POST]))
        }
        (["pay", _], _) => Err(ApiError::method_not_allowed(&[Method::GET, Method::POST])),
        (
            ["shops", _, "qr-codes", _, "png"]
            | ["shops", _, "orders", _]
            | ["shops", _, "orders"]
            | ["shops", _, "exports", "orders"]
            | ["devices", _, "orders", _]
            | ["pay", _, "orders", _, _]
            | ["receipts", _]
            | ["claim", _],
            _,
        ) => Err(ApiError::method_not_allowed(&[Method::GET])),
        _ => Err(ApiError::new(ErrorCode::RouteNotFound, "no such route")),
    }
}

/// 201 with the code; a repeat of the same request says so in a header.
fn issued(outcome: issue::IssueOutcome) -> Result<Response<Body>, ApiError> {
    let mut response = json(StatusCode::CREATED, &outcome.body);
    if outcome.replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

async fn code_of(app: &App, shop: &ShopId, qr: &QrId) -> Result<qrpay_domain::QrCode, ApiError> {
    app.collection
        .get_qr(shop, qr)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::QrNotFound, "no such code in this shop"))
}

/// `GET /shops/{shop_id}/qr-codes/{qr_id}`
async fn get_code(app: &App, shop: &ShopId, qr: &QrId) -> Result<Response<Body>, ApiError> {
    let code = code_of(app, shop, qr).await?;
    Ok(json(StatusCode::OK, &code_json(&code, app.clock.now())?))
}

/// `GET /shops/{shop_id}/qr-codes/{qr_id}/png`
async fn png(app: &App, shop: &ShopId, qr: &QrId) -> Result<Response<Body>, ApiError> {
    let code = code_of(app, shop, qr).await?;
    let image = render::png(&code.url, PNG_MODULE_PX)
        .map_err(|e| ApiError::internal(format!("QR render: {e}")))?;
    let mut response = Response::new(Body::Binary(image));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("image/png"));
    Ok(response)
}

/// `DELETE /shops/{shop_id}/qr-codes/{qr_id}`: revoked at once.
async fn revoke(app: &App, shop: &ShopId, qr: &QrId) -> Result<Response<Body>, ApiError> {
    match app.collection.revoke_qr(shop, qr, app.clock.now()).await? {
        Some(Revocation::Revoked(_) | Revocation::AlreadyRevoked(_)) => {
            Ok(qrpay_http::empty(StatusCode::NO_CONTENT))
        }
        Some(Revocation::Used(_)) => Err(ApiError::new(
            ErrorCode::InvalidState,
            "this code's order is paid; a used code cannot be revoked",
        )),
        None => Err(ApiError::new(
            ErrorCode::QrNotFound,
            "no such code in this shop",
        )),
    }
}

/// `GET /shops/{shop_id}/orders/{order_id}`
async fn get_order(app: &App, shop: &ShopId, order: &OrderId) -> Result<Response<Body>, ApiError> {
    let order = app
        .collection
        .get_order(shop, order)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::OrderNotFound, "no such order in this shop"))?;
    let mut body = order_json(&order);
    let grace = match order.instalment_plan {
        Some(_) => app
            .shops
            .get_shop(shop)
            .await?
            .map(|s| s.instalment_grace_days)
            .unwrap_or_default(),
        None => Default::default(),
    };
    let today = BusinessDate::of(app.clock.now());
    receivable::add_receivable(&mut body, &order, grace, today);
    Ok(json(StatusCode::OK, &body))
}

/// `GET /devices/{device_id}/orders/{order_id}` (API.md "POS devices"): the
/// order, only if this device issued its code. Any other order — another
/// device's, another shop's, none, or a malformed id — is the same 404, so
/// a device cannot probe which orders exist.
async fn device_order(
    app: &App,
    device: &qrpay_domain::Device,
    order_id: &str,
) -> Result<Response<Body>, ApiError> {
    let not_found = || ApiError::new(ErrorCode::OrderNotFound, "no such order of this device");
    let order_id = OrderId::parse(order_id).map_err(|_| not_found())?;
    let order = app
        .collection
        .get_order(&device.shop_id, &order_id)
        .await?
        .ok_or_else(not_found)?;
    let issued_here = match &order.qr_id {
        Some(qr_id) => app
            .collection
            .get_qr(&device.shop_id, qr_id)
            .await?
            .is_some_and(|code| code.device_id.as_ref() == Some(&device.device_id)),
        None => false,
    };
    if !issued_here {
        tracing::info!(device_id = %device.device_id, order_id = %order_id, "device asked for an order it did not issue");
        return Err(not_found());
    }
    Ok(json(StatusCode::OK, &order_json(&order)))
}

pub fn order_json(order: &Order) -> serde_json::Value {
    json!({
        "order_id": order.order_id,
        "shop_id": order.shop_id,
        "amount": order.amount.to_string(),
        "paid_amount": order.paid_amount.to_string(),
        "refunded_amount": order.refunded_amount.to_string(),
        "refunds_live_total": order.refunds_live_total().to_string(),
        "status": order.status.as_str(),
        "provider": order.provider.map(|p| p.as_str()),
        "provider_txn_id": order.provider_txn_id.as_ref().map(|t| t.as_str()),
        "qr_id": order.qr_id,
        "device_id": order.device_id,
        "out_order_no": order.out_order_no,
        "description": order.description,
        "instalment_plan": order.instalment_plan.as_ref().map(plan_json),
        "deductions": order.deductions.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
        "payer": order.payer_masked,
        "paid_at": order.paid_at.map(rfc3339_beijing),
        "payouts_live_total": order.payouts_live_total.to_string(),
        "payouts_live_count": order.payouts_live_count,
        "processing_fee": order.processing_fee.to_string(),
        "expires_at": order.expires_at.map(rfc3339_beijing),
        "created_at": rfc3339_beijing(order.created_at),
        "updated_at": rfc3339_beijing(order.updated_at),
    })
}

/// The device a POS request path names (used by the local stack's router).
pub fn device_of_path(path: &str) -> Option<DeviceId> {
    match segments(path).as_slice() {
        ["devices", device, "qr-codes"] | ["devices", device, "orders", _] => {
            DeviceId::parse(device).ok()
        }
        _ => None,
    }
}
