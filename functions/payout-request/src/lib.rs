//! `payout-request`: the merchant's payout routes (API.md "Merchant"). Every
//! rule is checked and the money reserved by the store in one atomic step;
//! this function only turns HTTP into a `PayoutRequest` and the outcome into
//! an answer, then hands accepted payouts to the queue. Merchant refunds
//! (`…/orders/{order_id}/refunds`, BUYER_PAGES §11) are served the same way
//! (`refunds`), and go through the same queue.

pub mod claim;

use std::sync::Arc;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use qrpay_domain::time::rfc3339_beijing;
use qrpay_domain::{
    BusinessDate, Clock, OperatorId, OrderId, Payout, PayoutChannels, PayoutId, PayoutNote,
    PayoutQuota, PayoutReason, PayoutRequest, PayoutStatus, Principal, Role, ShopId,
};
use qrpay_http::{
    idempotency_key, json, json_object, principal, require_role, require_shop, segments, ApiError,
    ErrorCode,
};
use qrpay_queue::{PayoutMessage, PayoutQueue};
use qrpay_store::{CollectionStore, PayoutStore, RefundStore, ReserveError, Reserved, ShopStore};
use serde_json::{json, Value};

/// Largest payout or quota body accepted.
pub const MAX_BODY_BYTES: usize = 4 * 1024;
/// Payouts per page of a day's listing unless `limit` says otherwise.
pub const DEFAULT_PAGE_SIZE: usize = 50;

mod refunds;
pub use refunds::refund_json;

/// What the function needs, built once per cold start.
pub struct App {
    pub shops: Arc<dyn ShopStore>,
    pub payouts: Arc<dyn PayoutStore>,
    pub collection: Arc<dyn CollectionStore>,
    pub queue: Arc<dyn PayoutQueue>,
    pub clock: Arc<dyn Clock>,
    /// The providers this stage can pay back through: a payout no channel
    /// can deliver is refused now (`PAYOUT_CHANNEL_UNAVAILABLE`), not stuck.
    pub channels: PayoutChannels,
    /// Signs the claim links of transfers waiting for the buyer; none where
    /// the buyer pages are not configured.
    pub claims: Option<claim::ClaimLinks>,
    pub refunds: Arc<dyn RefundStore>,
    /// The providers with a refund gateway here: a refund of an order
    /// collected elsewhere (the sandbox) is `REFUND_CHANNEL_UNAVAILABLE`.
    pub refund_providers: PayoutChannels,
}

impl App {
    /// A payout as API.md shows it, with its claim link while it waits for
    /// the buyer.
    pub fn payout_view(&self, p: &Payout) -> Value {
        let mut v = payout_json(p);
        if let Some(url) = self.claims.as_ref().and_then(|c| c.url(p)) {
            v["claim_url"] = json!(url);
        }
        v
    }
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    qrpay_http::respond(route(app, &req).await)
}

async fn route(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let path = req.uri().path().to_owned();
    let parts = segments(&path);
    let method = req.method().clone();
    let known = |allowed: Method| {
        if method == allowed {
            Ok(())
        } else {
            Err(ApiError::method_not_allowed(&[allowed]))
        }
    };
    match parts.as_slice() {
        ["shops", shop, "orders", order, "payouts"] => {
            let who = principal(req)?;
            let shop = require_shop(&who, shop)?;
            let order = ApiError::path_id(OrderId::parse(order), "order_id")?;
            match method {
                Method::POST => create_payout(app, req, &who, shop, order).await,
                Method::GET => list_order_payouts(app, shop, order).await,
                _ => Err(ApiError::method_not_allowed(&[Method::POST, Method::GET])),
            }
        }
        ["shops", shop, "orders", order, "refunds"] => {
            let who = principal(req)?;
            let shop = require_shop(&who, shop)?;
            let order = ApiError::path_id(OrderId::parse(order), "order_id")?;
            match method {
                Method::POST => refunds::create_refund(app, req, &who, shop, order).await,
                Method::GET => refunds::list_order_refunds(app, shop, order).await,
                _ => Err(ApiError::method_not_allowed(&[Method::POST, Method::GET])),
            }
        }
        ["shops", shop, "payouts"] => {
            known(Method::GET)?;
            let who = principal(req)?;
            list_day_payouts(app, req, require_shop(&who, shop)?).await
        }
        ["shops", shop, "payouts", payout] => {
            known(Method::GET)?;
            let who = principal(req)?;
            let shop = require_shop(&who, shop)?;
            get_payout(
                app,
                shop,
                ApiError::path_id(PayoutId::parse(payout), "payout_id")?,
            )
            .await
        }
        ["shops", shop, "payouts", payout, "continue"] => {
            known(Method::POST)?;
            let who = principal(req)?;
            let shop = require_shop(&who, shop)?;
            continue_payout(
                app,
                shop,
                ApiError::path_id(PayoutId::parse(payout), "payout_id")?,
            )
            .await
        }
        ["shops", shop, "notices"] => {
            known(Method::GET)?;
            let who = principal(req)?;
            list_notices(app, req, require_shop(&who, shop)?).await
        }
        ["shops", shop, "operators", operator, "payout-quota"] => {
            known(Method::PUT)?;
            let who = principal(req)?;
            let shop = require_shop(&who, shop)?;
            require_role(&who, Role::Owner)?;
            let operator = ApiError::path_id(OperatorId::parse(operator), "operator_id")?;
            set_payout_quota(app, req, &who, shop, operator).await
        }
        _ => Err(ApiError::new(ErrorCode::RouteNotFound, "no such route")),
    }
}

/// `POST /shops/{shop_id}/orders/{order_id}/payouts`
async fn create_payout(
    app: &App,
    req: &Request,
    who: &Principal,
    shop_id: ShopId,
    order_id: OrderId,
) -> Result<Response<Body>, ApiError> {
    let key = idempotency_key(req)?;
    let body = json_object(req, MAX_BODY_BYTES)?;
    body.only(&["amount", "reason", "note"])?;
    let amount = body.amount("amount")?;
    let reason = body.required_str("reason", 32)?;
    let reason = PayoutReason::parse(reason).ok_or_else(|| {
        ApiError::invalid(
            "reason",
            "reason must be SHIPPING_FEE, PRICE_DIFFERENCE or OTHER",
        )
    })?;
    let note: Option<PayoutNote> = body.optional_text("note")?;

    let now = app.clock.now();
    let request = PayoutRequest {
        payout_id: PayoutId::generate(now),
        shop_id,
        order_id,
        operator_id: who.operator_id.clone(),
        amount,
        reason,
        note,
        idempotency_key: key,
        channels: app.channels,
        now,
    };
    let reserved = app.payouts.reserve_payout(&request).await;
    count_decision(&reserved);
    let reserved = reserved?;
    let payout = reserved.payout();
    let replayed = matches!(reserved, Reserved::Replayed(_));
    tracing::info!(payout_id = %payout.payout_id, shop_id = %payout.shop_id, amount = %payout.amount, replayed, "payout reserved");
    if payout.status == PayoutStatus::Pending {
        dispatch(app, payout).await;
    }
    Ok(accepted(&app.payout_view(payout), replayed))
}

/// PayoutsAccepted / PayoutsRefused (by rule): what the rules decided (a
/// replay decided nothing; a store failure is not a decision).
fn count_decision(outcome: &Result<Reserved, ReserveError>) {
    use qrpay_store::metrics::{self, MetricName, Point};
    match outcome {
        Ok(Reserved::Created(_)) => {
            metrics::put(Point::count(MetricName::PayoutsAccepted, metrics::PAYOUTS))
        }
        Err(ReserveError::Refused(refusal)) => metrics::put(
            Point::count(MetricName::PayoutsRefused, metrics::PAYOUTS).with("Rule", refusal.code()),
        ),
        _ => {}
    }
}

/// 202 with `body`; a replayed request says so (`Idempotent-Replayed: true`).
fn accepted(body: &Value, replayed: bool) -> Response<Body> {
    qrpay_http::idempotent_json(StatusCode::ACCEPTED, body, replayed)
}

/// Hands a pending payout to the worker. A failure here loses nothing: the
/// payout stays `PENDING`, the sweeper re-dispatches it, and the merchant
/// may `continue` it.
async fn dispatch(app: &App, payout: &Payout) {
    let message = PayoutMessage::for_payout(payout);
    if let Err(err) = app.queue.enqueue(&message).await {
        tracing::warn!(payout_id = %payout.payout_id, error = %err, "enqueue failed; payout stays PENDING for the sweeper");
    }
}

/// The shop's order, or 404 `ORDER_NOT_FOUND`.
pub(crate) async fn order_of(
    app: &App,
    shop_id: &ShopId,
    order_id: &OrderId,
) -> Result<qrpay_domain::Order, ApiError> {
    app.collection
        .get_order(shop_id, order_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::OrderNotFound, "order not found in this shop"))
}

/// `GET /shops/{shop_id}/orders/{order_id}/payouts`
async fn list_order_payouts(
    app: &App,
    shop_id: ShopId,
    order_id: OrderId,
) -> Result<Response<Body>, ApiError> {
    let order = order_of(app, &shop_id, &order_id).await?;
    let payouts = app.payouts.list_order_payouts(&shop_id, &order_id).await?;
    Ok(json(
        StatusCode::OK,
        &json!({
            "order_id": order.order_id,
            "paid_amount": order.paid_amount.to_string(),
            "payouts_live_total": order.payouts_live_total.to_string(),
            "payouts_live_count": order.payouts_live_count,
            "payouts": payouts.iter().map(|p| app.payout_view(p)).collect::<Vec<_>>(),
        }),
    ))
}

/// `GET /shops/{shop_id}/payouts?date=YYYY-MM-DD&cursor=…&limit=…`
async fn list_day_payouts(
    app: &App,
    req: &Request,
    shop_id: ShopId,
) -> Result<Response<Body>, ApiError> {
    let query = req.query_string_parameters();
    let date = match query.first("date") {
        Some(text) => {
            BusinessDate::parse(text).map_err(|e| ApiError::invalid("date", e.to_string()))?
        }
        None => BusinessDate::of(app.clock.now()),
    };
    let cursor = query
        .first("cursor")
        .map(|c| {
            PayoutId::parse(c)
                .map_err(|_| ApiError::invalid("cursor", "cursor is not one this API gave out"))
        })
        .transpose()?;
    let limit = page_limit(req)?;
    let page = app
        .payouts
        .list_shop_payouts(&shop_id, date, cursor.as_ref(), limit)
        .await?;
    let totals = app.payouts.shop_day_totals(&shop_id, date).await?;
    Ok(json(
        StatusCode::OK,
        &json!({
            "shop_id": shop_id,
            "date": date,
            "payouts_live_total": totals.total.to_string(),
            "payouts_live_count": totals.count,
            "payouts": page.items.iter().map(|p| app.payout_view(p)).collect::<Vec<_>>(),
            "next_cursor": page.next_cursor,
        }),
    ))
}

async fn find_payout(
    app: &App,
    shop_id: &ShopId,
    payout_id: &PayoutId,
) -> Result<Payout, ApiError> {
    app.payouts
        .get_payout(shop_id, payout_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::PayoutNotFound, "payout not found in this shop"))
}

/// `GET /shops/{shop_id}/payouts/{payout_id}`
async fn get_payout(
    app: &App,
    shop_id: ShopId,
    payout_id: PayoutId,
) -> Result<Response<Body>, ApiError> {
    let payout = find_payout(app, &shop_id, &payout_id).await?;
    let attempts = app.payouts.list_attempts(&shop_id, &payout_id).await?;
    let mut body = app.payout_view(&payout);
    body["attempts"] = attempts
        .iter()
        .map(|a| {
            let mut v = json!({"action": a.action.as_str(), "outcome": a.outcome.as_str(), "at": rfc3339_beijing(a.at)});
            if let Some(detail) = &a.detail {
                v["detail"] = json!(detail);
            }
            v
        })
        .collect();
    Ok(json(StatusCode::OK, &body))
}

/// `POST /shops/{shop_id}/payouts/{payout_id}/continue`: dispatch a pending
/// payout again. Nothing is reserved again; the worker dedupes.
async fn continue_payout(
    app: &App,
    shop_id: ShopId,
    payout_id: PayoutId,
) -> Result<Response<Body>, ApiError> {
    let payout = find_payout(app, &shop_id, &payout_id).await?;
    if payout.status != PayoutStatus::Pending {
        return Err(ApiError::new(
            ErrorCode::InvalidState,
            format!(
                "only a PENDING payout can be continued; this one is {}",
                payout.status.as_str()
            ),
        ));
    }
    let message = PayoutMessage::for_payout(&payout);
    app.queue
        .enqueue(&message)
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    tracing::info!(payout_id = %payout.payout_id, "payout continued");
    Ok(json(StatusCode::ACCEPTED, &app.payout_view(&payout)))
}

/// `GET /shops/{shop_id}/notices?limit=…`: in-app notices, newest first.
async fn list_notices(
    app: &App,
    req: &Request,
    shop_id: ShopId,
) -> Result<Response<Body>, ApiError> {
    let limit = page_limit(req)?;
    let notices = app.shops.list_notices(&shop_id, limit).await?;
    let items: Vec<Value> = notices
        .iter()
        .map(|n| {
            let mut v = json!({
                "notice_id": n.notice_id,
                "kind": n.kind.as_str(),
                "message": n.message,
                "created_at": rfc3339_beijing(n.created_at),
            });
            if let Some(p) = &n.payout_id {
                v["payout_id"] = json!(p);
            }
            v
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &json!({"shop_id": shop_id, "notices": items}),
    ))
}

/// `limit` from the query: 1 to `MAX_PAGE_SIZE`, default `DEFAULT_PAGE_SIZE`.
fn page_limit(req: &Request) -> Result<usize, ApiError> {
    match req.query_string_parameters().first("limit") {
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=qrpay_store::MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| {
                ApiError::invalid(
                    "limit",
                    format!("limit must be 1-{}", qrpay_store::MAX_PAGE_SIZE),
                )
            }),
        None => Ok(DEFAULT_PAGE_SIZE),
    }
}

/// `PUT /shops/{shop_id}/operators/{operator_id}/payout-quota` (owner only).
async fn set_payout_quota(
    app: &App,
    req: &Request,
    who: &Principal,
    shop_id: ShopId,
    operator_id: OperatorId,
) -> Result<Response<Body>, ApiError> {
    let shop = app
        .shops
        .get_shop(&shop_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::ShopNotFound, "shop not found"))?;
    if shop.owner_operator_id != who.operator_id {
        return Err(ApiError::forbidden(
            "only the shop's main account sets payout quotas",
        ));
    }
    if operator_id == shop.owner_operator_id {
        return Err(ApiError::invalid(
            "operator_id",
            "the main account needs no quota: it may always pay out",
        ));
    }
    let body = json_object(req, MAX_BODY_BYTES)?;
    body.only(&[
        "enabled",
        "per_payout_limit",
        "daily_limit",
        "refunds_enabled",
    ])?;
    let enabled = body.bool("enabled")?;
    let per_payout_limit = body.amount("per_payout_limit")?;
    let daily_limit = body.amount("daily_limit")?;
    // Refunds are a separate permission (API.md), off unless given.
    let refunds_enabled = match body.value("refunds_enabled") {
        None => false,
        Some(_) => body.bool("refunds_enabled")?,
    };
    let mut quota = PayoutQuota::new(
        shop_id,
        operator_id,
        enabled,
        per_payout_limit,
        daily_limit,
        app.clock.now(),
    )
    .map_err(|e| ApiError::invalid("per_payout_limit", e.to_string()))?;
    quota.refunds_enabled = refunds_enabled;
    app.shops.put_payout_quota(&quota).await?;
    tracing::info!(shop_id = %quota.shop_id, operator_id = %quota.operator_id, enabled, "payout quota set");
    Ok(json(
        StatusCode::OK,
        &json!({
            "shop_id": quota.shop_id,
            "operator_id": quota.operator_id,
            "enabled": quota.enabled,
            "per_payout_limit": quota.per_payout_limit().to_string(),
            "daily_limit": quota.daily_limit().to_string(),
            "refunds_enabled": quota.refunds_enabled,
            "updated_at": rfc3339_beijing(quota.updated_at),
        }),
    ))
}

/// A payout as API.md shows it.
pub fn payout_json(p: &Payout) -> Value {
    let mut v = json!({
        "payout_id": p.payout_id,
        "shop_id": p.shop_id,
        "order_id": p.order_id,
        "operator_id": p.operator_id,
        "amount": p.amount.to_string(),
        "reason": p.reason.as_str(),
        "status": p.status.as_str(),
        "business_date": p.business_date,
        "created_at": rfc3339_beijing(p.created_at),
        "updated_at": rfc3339_beijing(p.updated_at),
    });
    if let Some(note) = &p.note {
        v["note"] = json!(note);
    }
    if let Some(reason) = &p.failure_reason {
        v["failure_reason"] = json!(reason);
    }
    if let Some(provider) = p.provider {
        v["provider"] = json!(provider);
    }
    // Only while the transfer waits for the buyer (API.md).
    if let (Some(action), PayoutStatus::Processing) = (&p.payee_action, p.status) {
        v["payee_action"] = json!(action);
    }
    v
}
