//! `GET /receipts/{token}` (SPEC §10, seed 003 "票据自动发送"): where every
//! provider sends the buyer back (Alipay `return_url`, WeChat H5
//! `redirect_url`, the "I have paid" button). Before the payment is known
//! it waits and reloads itself (no JavaScript); afterwards it is the
//! receipt: shop, amount, time, order number, provider and its transaction
//! id, the plan, and the shop's own link for next time. What the provider
//! appends to the return URL is ignored: only its notice moves money.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use qrpay_domain::time::{minutes_beijing, rfc3339_beijing};
use qrpay_domain::{Order, OrderId, OrderStatus, Provider, Shop, ShopId};
use qrpay_http::{json, ApiError, ErrorCode};
use qrpay_qr::{link, render};
use qrpay_store::collected::apply_collection_event;
use serde_json::json;

use super::checkout::plan_block;
use super::html::{document, escape, page};
use crate::issue::plan_json;
use crate::App;

/// Seconds between the waiting page's reloads.
const WAIT_REFRESH_S: u32 = 3;

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::OrderNotFound, "no such receipt")
}

/// The receipt link of `order`: `{base}/receipts/{token}`.
pub fn receipt_url(app: &App, order: &Order) -> Result<String, ApiError> {
    let token = link::sign_receipt(
        app.signing_key()?.expose().as_bytes(),
        order.order_id.as_str(),
        order.shop_id.as_str(),
    )
    .map_err(|e| ApiError::internal(format!("receipt link: {e}")))?;
    Ok(format!(
        "{}/receipts/{token}",
        app.pay_base_url.trim_end_matches('/')
    ))
}

/// The order and shop a receipt token names.
pub async fn receipt_of(app: &App, signed: &str) -> Result<(Order, Shop), ApiError> {
    let claims = app
        .verify_link(|keys| link::verify_receipt(keys, signed))
        .await
        .map_err(|_| not_found())?;
    let shop_id = ShopId::parse(&claims.shop_id).map_err(|_| not_found())?;
    let order_id = OrderId::parse(&claims.order_id).map_err(|_| not_found())?;
    let order = app
        .collection
        .get_order(&shop_id, &order_id)
        .await?
        .ok_or_else(not_found)?;
    let shop = app.shops.get_shop(&shop_id).await?.ok_or_else(not_found)?;
    Ok((order, shop))
}

/// The receipt as JSON (`Accept: application/json`).
pub fn receipt_json(order: &Order, shop: &Shop) -> Response<Body> {
    json(
        StatusCode::OK,
        &json!({
            "shop_display_name": shop.display_name(),
            "order_id": order.order_id,
            "out_order_no": order.out_order_no,
            "status": order.status.as_str(),
            "amount": order.amount.to_string(),
            "paid_amount": order.paid_amount.to_string(),
            "refunded_amount": order.refunded_amount.to_string(),
            "paid_at": order.paid_at.map(rfc3339_beijing),
            "provider": order.provider.map(|p| p.as_str()),
            "provider_txn_id": order.provider_txn_id.as_ref().map(|t| t.as_str()),
            "instalment_plan": order.instalment_plan.as_ref().map(plan_json),
            "shop_link": shop.branding.receipt_link.as_ref().map(|l| l.as_str()),
        }),
    )
}

/// The receipt, the waiting page, or the closed order, as a page.
pub fn receipt_page(order: &Order, shop: &Shop) -> Result<Response<Body>, ApiError> {
    let name = shop.display_name();
    let top = format!(
        "<div class=\"card\"><p class=\"muted\">收款方</p><h1 id=\"shop\">{}</h1><p class=\"amount\" id=\"amount\">¥{}</p>",
        escape(name),
        order.amount
    );
    let (title, head, body) = match order.status {
        OrderStatus::Created => (
            "等待支付结果",
            format!("<meta http-equiv=\"refresh\" content=\"{WAIT_REFRESH_S}\">"),
            format!(
                "{top}<p id=\"state\">正在确认支付结果…</p><p class=\"muted\">本页会自动刷新；如已付款请稍候。</p>\
                 <a class=\"button secondary\" id=\"refresh\" href=\"\">刷新</a></div>"
            ),
        ),
        OrderStatus::Closed => (
            "订单已关闭",
            String::new(),
            format!("{top}<p class=\"bad\" id=\"state\">订单已关闭（超时未支付），未扣款。</p></div>"),
        ),
        _ => ("支付成功", String::new(), paid_body(&top, order, shop)?),
    };
    Ok(page(StatusCode::OK, document(title, &head, &body), &[]))
}

fn paid_body(top: &str, order: &Order, shop: &Shop) -> Result<String, ApiError> {
    let state = match order.status {
        OrderStatus::Refunded => "已退款".to_owned(),
        OrderStatus::PartiallyRefunded => format!("部分退款 ¥{}", order.refunded_amount),
        _ => "支付成功".to_owned(),
    };
    let mut rows = vec![
        ("交易状态", state, "status"),
        ("实付金额", format!("¥{}", order.paid_amount), "paid"),
        (
            "支付时间",
            order.paid_at.map(minutes_beijing).unwrap_or_default(),
            "paid-at",
        ),
        (
            "支付方式",
            provider_name(order.provider).to_owned(),
            "provider",
        ),
        (
            "交易单号",
            order
                .provider_txn_id
                .as_ref()
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
            "txn",
        ),
        ("商户单号", order.order_id.to_string(), "order"),
    ];
    if let Some(no) = &order.out_order_no {
        rows.push(("商家订单号", no.to_string(), "out-order"));
    }
    let list: String = rows
        .iter()
        .map(|(k, v, id)| format!("<dt>{k}</dt><dd id=\"{id}\">{}</dd>", escape(v)))
        .collect();
    let plan = order
        .instalment_plan
        .as_ref()
        .map(plan_block)
        .unwrap_or_default();
    let next_time = match &shop.branding.receipt_link {
        Some(link) => {
            let svg = render::svg(link.as_str())
                .map_err(|e| ApiError::internal(format!("QR render: {e}")))?;
            format!(
                "<div class=\"card qr\" id=\"shop-link\"><p>下次光临</p>{svg}\
                 <a class=\"button secondary\" href=\"{}\" rel=\"noopener noreferrer\">进入店铺</a></div>",
                escape(link.as_str())
            )
        }
        None => String::new(),
    };
    Ok(format!(
        "{top}<p class=\"ok\" id=\"state\">支付成功</p></div><div class=\"card\"><dl id=\"receipt\">{list}</dl></div>{plan}{next_time}\
         <p class=\"muted\">本凭证仅为支付记录，不作为发票或报销凭证。</p>"
    ))
}

fn provider_name(provider: Option<Provider>) -> &'static str {
    match provider {
        Some(Provider::Wechatpay) => "微信支付",
        Some(Provider::Alipay) => "支付宝",
        Some(Provider::Douyin) => "抖音支付",
        Some(Provider::Sandbox) => "沙箱（本地演示）",
        None => "",
    }
}

/// Seconds between two questions to the provider about one order, however
/// often its receipt page is opened.
pub const QUERY_EVERY_S: i64 = 5;

/// The buyer is back but the provider's notice is not (yet): ask the
/// provider the order is bound to, at most once per order every
/// [`QUERY_EVERY_S`] (a lease in the store, so a refresh storm makes one
/// query), and apply a payment through the notices' own path. What the
/// provider appends to the return URL is never trusted; this query is.
async fn asked_provider(app: &App, order: Order) -> Order {
    let (OrderStatus::Created, Some(provider)) = (order.status, order.provider_order) else {
        return order;
    };
    let Some(gateway) = app.gateways.collection(provider) else {
        return order;
    };
    let now = app.clock.now();
    let key = format!("receipt-query#{}", order.order_id);
    let holder = format!("receipt-{}", now.timestamp_millis());
    let until = now + chrono::Duration::seconds(QUERY_EVERY_S);
    match app.leases.acquire_lease(&key, &holder, now, until).await {
        Ok(true) => {}
        Ok(false) => return order,
        Err(e) => {
            tracing::warn!(error = %e, "receipt query lease unavailable");
            return order;
        }
    }
    let trade = gateway.query(&order.order_id).await;
    let Some(event) = trade.payment_event(provider, &order.order_id, now) else {
        return order;
    };
    if let Err(e) = apply_collection_event(
        app.collection.as_ref(),
        app.alerts.as_ref(),
        Some(app.publisher.as_ref()),
        &event,
        now,
    )
    .await
    {
        tracing::warn!(error = %e, order_id = %order.order_id, "queried payment not applied yet");
        return order;
    }
    app.collection
        .get_order(&order.shop_id, &order.order_id)
        .await
        .ok()
        .flatten()
        .unwrap_or(order)
}

/// `GET /receipts/{token}`
pub async fn show(app: &App, req: &lambda_http::Request, signed: &str) -> Response<Body> {
    let html = crate::pay::wants_html(req);
    let found = match receipt_of(app, signed).await {
        Ok((order, shop)) => Ok((asked_provider(app, order).await, shop)),
        Err(e) => Err(e),
    };
    match found {
        Ok((order, shop)) if html => {
            receipt_page(&order, &shop).unwrap_or_else(|e| super::html::error_page(&e))
        }
        Ok((order, shop)) => receipt_json(&order, &shop),
        Err(e) if html => super::html::error_page(&e),
        Err(e) => e.into_response(),
    }
}
