//! The buyer's side of a code: the payment link (`/pay/{token}`) that the
//! QR image carries (SPEC §3, §10). The token is checked before anything is
//! read; a code that is revoked, expired or used cannot be paid.
//!
//! - `GET /pay/{token}`: the checkout page (HTML for a browser, the JSON
//!   contract for `Accept: application/json`); `?amount=` previews a static
//!   code's plan without writing anything.
//! - `POST /pay/{token}` `{"amount"?, "method"?}` (JSON, or the page's form):
//!   check out. A dynamic code gives its order; a static code opens a new
//!   order only when the buyer commits an amount and a way to pay, within
//!   the rate windows. With a way to pay the provider's order is made and
//!   the answer says where the buyer goes next.
//! - `GET /pay/{token}/orders/{order_id}/{method}`: the form's next page
//!   (post/redirect/get), which hands the buyer to the provider.

use lambda_http::http::header::{CONTENT_TYPE, USER_AGENT};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use qrpay_domain::instalment::plan;
use qrpay_domain::time::rfc3339_beijing;
use qrpay_domain::{
    Amount, InstalmentPlan, Order, OrderId, OrderStatus, QrCode, QrId, QrKind, QrRefusal, Shop,
    ShopId,
};
use qrpay_http::body::field_name;
use qrpay_http::{json, json_object, raw_body, source_ip, ApiError, ErrorCode};
use qrpay_qr::token;
use qrpay_store::Checkout;
use serde_json::{json, Value};

use crate::issue::plan_json;
use crate::page::checkout::{self, CheckoutView};
use crate::page::go::{next_page, payable, provider_step, Next};
use crate::page::html::{error_page, see_other};
use crate::page::receipt::receipt_url;
use crate::page::way::{offered, possible, Container, PayWay};
use crate::App;

const MAX_BODY_BYTES: usize = 1024;

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::QrNotFound, "no such payment code")
}

pub use qrpay_http::html::wants_html;

/// Where the page is open, from the User-Agent.
pub fn container_of(req: &Request) -> Container {
    Container::from_user_agent(header(req, USER_AGENT))
}

/// A header's text, empty when absent or not text.
fn header(req: &Request, name: lambda_http::http::header::HeaderName) -> &str {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Refused payment tokens since this instance started: anyone can send
/// them, so they are counted, and only a sample is logged (issue 14).
static REFUSED_TOKENS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// One refusal in this many is logged (the first always), with the count.
pub const REFUSAL_LOG_EVERY: u64 = 1_000;

/// Whether the `n`-th refusal (1-based) is the one of its thousand to log.
pub fn logged_refusal(n: u64) -> bool {
    n % REFUSAL_LOG_EVERY == 1
}

/// How many refusals the `n`-th one's metric point stands for, when it is
/// the one to log: the first alone, then each thousand since the last point
/// (an instance that stops loses at most the refusals of its last thousand).
pub fn refusals_counted_at(n: u64) -> Option<u64> {
    logged_refusal(n).then_some(if n == 1 { 1 } else { REFUSAL_LOG_EVERY })
}

/// The code a payment token names, if the token is ours and untampered.
async fn code_of(app: &App, signed: &str) -> Result<QrCode, ApiError> {
    let claims = app
        .verify_link(|keys| token::verify(keys, signed))
        .await
        .map_err(|e| {
        let n = REFUSED_TOKENS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if let Some(batch) = refusals_counted_at(n) {
            use qrpay_store::metrics::{self, MetricName, Point};
            metrics::put(
                Point::count(MetricName::PaymentTokensRefused, metrics::CHECKOUT)
                    .value(batch as f64),
            );
            tracing::warn!(error = %e, refused_since_start = n, "payment token refused (1 in {REFUSAL_LOG_EVERY} logged)");
        }
        not_found()
    })?;
    let shop = ShopId::parse(&claims.shop_id).map_err(|_| not_found())?;
    let qr = QrId::parse(&claims.qr_id).map_err(|_| not_found())?;
    app.collection
        .get_qr(&shop, &qr)
        .await?
        .ok_or_else(not_found)
}

async fn shop_of(app: &App, code: &QrCode) -> Result<Shop, ApiError> {
    app.shops
        .get_shop(&code.shop_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::ShopNotFound, "shop not found"))
}

/// A payable code and its shop.
async fn payable_code(app: &App, signed: &str) -> Result<(QrCode, Shop), ApiError> {
    let code = code_of(app, signed).await?;
    code.check_payable(app.clock.now())
        .map_err(ApiError::from)?;
    let shop = shop_of(app, &code).await?;
    Ok((code, shop))
}

/// Either form of answer from one outcome.
fn answer(html: bool, outcome: Result<Response<Body>, ApiError>) -> Response<Body> {
    match outcome {
        Ok(response) => response,
        Err(e) if html => error_page(&e),
        Err(e) => e.into_response(),
    }
}

/// `GET /pay/{token}`
pub async fn show(app: &App, req: &Request, signed: &str) -> Response<Body> {
    let html = wants_html(req);
    answer(html, show_inner(app, req, signed, html).await)
}

async fn show_inner(
    app: &App,
    req: &Request,
    signed: &str,
    html: bool,
) -> Result<Response<Body>, ApiError> {
    // A static code's buyer may preview the plan for an amount: nothing is
    // written. A malformed one is refused first, whatever the code's kind
    // and state (never a 410 that hides the mistake), in JSON as in HTML.
    let typed = req
        .query_string_parameters()
        .first("amount")
        .map(|text| Amount::parse(text).map_err(|e| ApiError::invalid("amount", e.to_string())))
        .transpose()?;
    let (code, shop) = payable_code(app, signed).await?;
    if let (QrKind::Dynamic, Some(_), Some(order_id)) =
        (code.kind, &code.instalment_plan, &code.order_id)
    {
        count_plan_checkout(app, &code.shop_id, order_id).await;
    }
    if !html {
        return Ok(json(StatusCode::OK, &code_view_json(app, &code, &shop)));
    }
    let preview = typed.filter(|_| code.kind == QrKind::Static);
    let (amount, plan) = match code.kind {
        QrKind::Dynamic => (code.amount, code.instalment_plan.clone()),
        QrKind::Static => match preview {
            Some(amount) => (Some(amount), plan_for(&code, &shop, amount)?),
            None => (None, None),
        },
    };
    let container = container_of(req);
    let has_plan = plan.is_some() || code.instalment_periods.is_some();
    let ways = offered(container, app.buyer.offer(app), has_plan);
    tracing::info!(qr_id = %code.qr_id, container = container.as_str(), "checkout page");
    let action = format!("/pay/{signed}");
    let view = CheckoutView {
        shop_name: shop.display_name(),
        description: code.description.as_ref().map(|d| d.as_str()),
        amount,
        plan: plan.as_ref(),
        plan_periods: code.instalment_periods,
        expires_at: code.expires_at,
        ways: &ways,
        action: &action,
        static_code: code.kind == QrKind::Static,
        container,
    };
    Ok(crate::page::html::page(
        StatusCode::OK,
        checkout::render(&view),
        &[],
    ))
}

/// Counts a checkout shown with a monthly-pay plan offered (SPEC §11
/// conversion), once per order however often its page is shown. A counter
/// that cannot be written is logged, never the buyer's problem.
async fn count_plan_checkout(app: &App, shop_id: &ShopId, order_id: &OrderId) {
    let now = app.clock.now();
    let day = qrpay_domain::BusinessDate::of(now);
    let counted = app
        .collection
        .count_plan_checkout(shop_id, order_id, day, now)
        .await;
    if let Err(e) = counted {
        tracing::warn!(error = %e, %order_id, "checkout with a plan not counted");
    }
}

fn code_view_json(app: &App, code: &QrCode, shop: &Shop) -> Value {
    let has_plan = code.instalment_plan.is_some() || code.instalment_periods.is_some();
    let methods: Vec<&str> = possible(app.buyer.offer(app), has_plan)
        .into_iter()
        .map(PayWay::as_str)
        .collect();
    let mut body = json!({
        "qr_id": code.qr_id,
        "shop_id": code.shop_id,
        "display_name": shop.display_name(),
        "kind": code.kind,
        "amount": code.amount.map(|a| a.to_string()),
        "order_id": code.order_id,
        "description": code.description,
        "expires_at": code.expires_at.map(rfc3339_beijing),
        "instalment_periods": code.instalment_periods,
        "methods": methods,
    });
    if let (Some(plan), Value::Object(map)) = (&code.instalment_plan, &mut body) {
        map.insert("instalment_plan".into(), plan_json(plan));
    }
    body
}

fn plan_for(
    code: &QrCode,
    shop: &Shop,
    amount: Amount,
) -> Result<Option<InstalmentPlan>, ApiError> {
    code.instalment_periods
        .map(|periods| plan(amount, periods, &shop.instalments).map_err(ApiError::from))
        .transpose()
}

/// What the buyer committed: an amount (static codes) and a way to pay.
struct Commit {
    amount: Option<Amount>,
    way: Option<PayWay>,
    form: bool,
}

/// The body, checked before the code is read: a malformed request is 400
/// whatever the code's state (never a 410 that hides the mistake).
fn commit_of(req: &Request) -> Result<Commit, ApiError> {
    let form = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let (amount, method) = if form {
        let body = raw_body(req);
        if body.len() > MAX_BODY_BYTES {
            return Err(ApiError::too_large(MAX_BODY_BYTES));
        }
        let mut amount = None;
        let mut method = None;
        for (key, value) in form_urlencoded::parse(body) {
            let slot = match key.as_ref() {
                "amount" => &mut amount,
                "method" => &mut method,
                other => {
                    let name = field_name(other);
                    return Err(ApiError::invalid(&name, format!("unknown field {name:?}")));
                }
            };
            if slot.replace(value.trim().to_owned()).is_some() {
                return Err(ApiError::invalid(&key, format!("{key} given twice")));
            }
        }
        let amount = amount
            .filter(|a| !a.is_empty())
            .map(|a| Amount::parse(&a).map_err(|e| ApiError::invalid("amount", e.to_string())))
            .transpose()?;
        (amount, method)
    } else if raw_body(req).is_empty() {
        (None, None)
    } else {
        let fields = json_object(req, MAX_BODY_BYTES)?;
        fields.only(&["amount", "method"])?;
        let method = fields.optional_str("method", 32)?.map(str::to_owned);
        (fields.optional_amount("amount")?, method)
    };
    let way = method
        .map(|m| PayWay::parse(&m).ok_or_else(|| ApiError::invalid("method", "unknown way to pay")))
        .transpose()?;
    if form && way.is_none() {
        return Err(ApiError::invalid("method", "choose a way to pay"));
    }
    Ok(Commit { amount, way, form })
}

/// `POST /pay/{token}`
pub async fn checkout(app: &App, req: &Request, signed: &str) -> Response<Body> {
    let html = wants_html(req);
    let outcome = match commit_of(req) {
        Ok(commit) => {
            let html = html || commit.form;
            answer(html, checkout_inner(app, req, signed, commit).await)
        }
        Err(e) => answer(html, Err(e)),
    };
    outcome
}

async fn checkout_inner(
    app: &App,
    req: &Request,
    signed: &str,
    commit: Commit,
) -> Result<Response<Body>, ApiError> {
    let (code, shop) = payable_code(app, signed).await?;
    let now = app.clock.now();
    let (order, opened) = match code.kind {
        QrKind::Dynamic => (dynamic_order(app, &code, commit.amount).await?, false),
        QrKind::Static => {
            let amount = commit
                .amount
                .ok_or_else(|| ApiError::invalid("amount", "enter the amount to pay"))?;
            let way = commit
                .way
                .ok_or_else(|| ApiError::invalid("method", "choose a way to pay"))?;
            let plan = plan_for(&code, &shop, amount)?;
            check_way(app, way, plan.is_some())?;
            let client = client_key(app, req)?;
            (
                static_order(app, &code, amount, plan, way, &client, now).await?,
                true,
            )
        }
    };
    if let Some(way) = commit.way {
        check_way(app, way, order.instalment_plan.is_some())?;
    }
    if opened && order.instalment_plan.is_some() {
        // A static code's page shows a plan only for the buyer's amount:
        // the checkout counts once it is opened with the plan chosen.
        count_plan_checkout(app, &order.shop_id, &order.order_id).await;
    }
    let receipt = receipt_url(app, &order)?;
    if commit.form {
        // Post/redirect/get: the next page is a GET a reload cannot repeat.
        let way = commit.way.unwrap_or(PayWay::Sandbox);
        return see_other(&format!(
            "/pay/{signed}/orders/{}/{}",
            order.order_id,
            way.as_str()
        ));
    }
    let status = if opened {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut body = checkout_json(&order);
    body["receipt_url"] = json!(receipt);
    if let Some(way) = commit.way {
        let next = if way == PayWay::WechatpayJsapi {
            // Inside WeChat the page itself learns the buyer's openid first.
            Next::Redirect(format!(
                "{}/pay/{signed}/orders/{}/{}",
                app.pay_base_url.trim_end_matches('/'),
                order.order_id,
                way.as_str()
            ))
        } else {
            provider_step(app, &shop, &code, &order, way, source_ip(req), &receipt).await?
        };
        body["method"] = json!(way.as_str());
        body["next"] = next.json();
    }
    Ok(json(status, &body))
}

/// A way this stage takes for such an order, or 422.
fn check_way(app: &App, way: PayWay, plan: bool) -> Result<(), ApiError> {
    if possible(app.buyer.offer(app), plan).contains(&way) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::PayMethodUnavailable,
            format!("{} is not offered for this order here", way.as_str()),
        ))
    }
}

/// `GET /pay/{token}/orders/{order_id}/{method}`
pub async fn next(
    app: &App,
    req: &Request,
    signed: &str,
    order: &str,
    way: &str,
) -> Response<Body> {
    answer(true, next_inner(app, req, signed, order, way).await)
}

async fn next_inner(
    app: &App,
    req: &Request,
    signed: &str,
    order_id: &str,
    way: &str,
) -> Result<Response<Body>, ApiError> {
    let way =
        PayWay::parse(way).ok_or_else(|| ApiError::invalid("method", "unknown way to pay"))?;
    let order_id = ApiError::path_id(OrderId::parse(order_id), "order_id")?;
    let code = code_of(app, signed).await?;
    let shop = shop_of(app, &code).await?;
    let order = app
        .collection
        .get_order(&code.shop_id, &order_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::OrderNotFound, "no such order for this code"))?;
    let receipt = receipt_url(app, &order)?;
    if order.status != OrderStatus::Created {
        return see_other(&receipt);
    }
    payable(&code, &order)?;
    code.check_payable(app.clock.now())
        .map_err(ApiError::from)?;
    check_way(app, way, order.instalment_plan.is_some())?;
    if way == PayWay::WechatpayJsapi {
        return crate::page::wechat::jsapi_step(app, req, signed, &shop, &code, &order, &receipt)
            .await;
    }
    let next = provider_step(app, &shop, &code, &order, way, source_ip(req), &receipt).await?;
    if next == Next::Wait {
        return see_other(&receipt);
    }
    next_page(shop.display_name(), &order, way, &next, &receipt)
}

/// Who is checking out, for the rate windows: a keyed hash of the address
/// API Gateway saw (no address at rest), 16 hex characters.
fn client_key(app: &App, req: &Request) -> Result<String, ApiError> {
    let address = source_ip(req).unwrap_or_else(|| "unknown".to_owned());
    app.keyed_hash("checkout-client", &address, 8)
}

async fn dynamic_order(app: &App, code: &QrCode, typed: Option<Amount>) -> Result<Order, ApiError> {
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
    Ok(order)
}

async fn static_order(
    app: &App,
    code: &QrCode,
    amount: Amount,
    instalment_plan: Option<InstalmentPlan>,
    way: PayWay,
    client: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Order, ApiError> {
    let order = Order {
        qr_id: Some(code.qr_id.clone()),
        device_id: code.device_id.clone(),
        description: code.description.clone(),
        // Unpaid by then, the sweeper closes it (SPEC §10), at the
        // provider the buyer chose too.
        expires_at: Some(app.checkout_limits.order_expiry(now)),
        provider_order: way.provider(),
        ..Order::created(OrderId::generate(now), code.shop_id.clone(), amount, now)
    }
    .with_plan(instalment_plan);
    // Counted and written at once: a flood leaves at most the windows' worth.
    let windows = app
        .checkout_limits
        .windows(code.qr_id.as_str(), client, now);
    match app.collection.open_checkout(&order, &windows).await? {
        Checkout::Opened => Ok(order),
        Checkout::Limited(window) => {
            tracing::warn!(qr_id = %code.qr_id, scope = window.scope, "checkout rate limited");
            let mut e = ApiError::new(
                ErrorCode::CheckoutRateLimited,
                "too many checkouts for now; try again later",
            );
            e.retry_after_s = Some(window.retry_after_s(now));
            Err(e)
        }
        Checkout::CapExceeded(refused) => {
            tracing::info!(qr_id = %code.qr_id, remaining = %refused.remaining, "checkout refused: daily collection cap");
            Err(refused.into())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_refused_token_in_a_thousand_is_logged_starting_with_the_first() {
        let logged: Vec<u64> = (1..=3_001).filter(|n| logged_refusal(*n)).collect();
        assert_eq!(logged, [1, 1_001, 2_001, 3_001]);
    }

    /// The metric's points add up to every refusal up to the last logged one.
    #[test]
    fn the_refusal_metric_counts_every_refusal_in_batches() {
        let points: Vec<u64> = (1..=3_001).filter_map(refusals_counted_at).collect();
        assert_eq!(points, [1, 1_000, 1_000, 1_000]);
        assert_eq!(points.iter().sum::<u64>(), 3_001);
    }
}
