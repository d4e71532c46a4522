//! The step from our order to the provider's: the buyer chose a way to
//! pay, so the provider's order is made (or found again: our order id is
//! its `out_trade_no`, and every field is resent identically) and the buyer
//! is sent on — to Alipay's wap cashier or WeChat's H5 page, or shown the
//! code to scan with another phone. The page answers a GET, so a reload
//! asks the provider again and gets the same order, never a second one.

use chrono::{DateTime, Utc};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use qrpay_domain::{Order, OrderStatus, Provider, QrCode, Shop};
use qrpay_http::{ApiError, ErrorCode};
use qrpay_provider::gateway::{CloseOutcome, CreateOutcome, PayMethod, ProviderCode};
use qrpay_qr::render;
use serde_json::{json, Value};

use super::html::{document, escape, page};
use super::way::PayWay;
use crate::provider_code::{collect_request, not_created, subject};
use crate::App;

/// Where the buyer goes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Send the browser to the provider (Alipay wap pay, WeChat H5).
    Redirect(String),
    /// A provider code to scan with the phone's app (Native, precreate).
    Qr(String),
    /// Nothing to do at a provider: the receipt page waits for the payment.
    Wait,
}

impl Next {
    pub fn json(&self) -> Value {
        match self {
            Next::Redirect(url) => json!({"type": "redirect", "url": url}),
            Next::Qr(content) => json!({"type": "qr", "content": content}),
            Next::Wait => json!({"type": "wait"}),
        }
    }
}

/// When the provider's order expires: the order's own expiry (a static
/// code's checkout lifetime, a dynamic code's expiry), else the code's —
/// the same instant every time for the same order, as a repeated create
/// must send.
pub fn deadline(app: &App, code: &QrCode, order: &Order) -> DateTime<Utc> {
    order
        .expires_at
        .or(code.expires_at)
        .unwrap_or_else(|| app.checkout_limits.order_expiry(order.created_at))
}

/// `order` with its provider order at `provider`, recorded before the
/// provider's order is made: the sweeper then closes it there if it expires
/// unpaid. A buyer who switches provider has the first provider's order
/// closed before the second is made, so one order is never payable at two
/// providers at once.
pub async fn bound(app: &App, order: &Order, provider: Provider) -> Result<Order, ApiError> {
    let mut read = order.clone();
    for _ in 0..3 {
        match read.provider_order {
            Some(p) if p == provider => return Ok(read),
            Some(previous) => close_at(app, &read, previous).await?,
            None => {}
        }
        if let Some(done) = app
            .collection
            .bind_provider_order(&read, provider, app.clock.now())
            .await?
        {
            return Ok(done);
        }
        read = app
            .collection
            .get_order(&order.shop_id, &order.order_id)
            .await?
            .ok_or_else(|| ApiError::new(ErrorCode::OrderNotFound, "no such order"))?;
        if read.status != OrderStatus::Created {
            return Err(qrpay_domain::QrRefusal::Used.into());
        }
    }
    Err(ApiError::unavailable(format!(
        "order {} kept changing while its provider was chosen",
        order.order_id
    )))
}

/// Closes the order's provider order at `previous` before another is made.
async fn close_at(app: &App, order: &Order, previous: Provider) -> Result<(), ApiError> {
    let Some(gateway) = app.gateways.collection(previous) else {
        // No longer configured here: its own expiry (the same as ours) ends it.
        return Ok(());
    };
    match gateway.close(&order.order_id).await {
        CloseOutcome::Closed | CloseOutcome::NotFound => Ok(()),
        CloseOutcome::AlreadyPaid => Err(qrpay_domain::QrRefusal::Used.into()),
        CloseOutcome::Ambiguous { detail } => Err(ApiError::unavailable(format!(
            "{previous} did not confirm closing order {}: {detail}",
            order.order_id
        ))),
    }
}

/// The provider order for `order`, paid `way`; `receipt_url` is where the
/// provider sends the buyer back.
pub async fn provider_step(
    app: &App,
    shop: &Shop,
    code: &QrCode,
    order: &Order,
    way: PayWay,
    client_ip: Option<String>,
    receipt_url: &str,
) -> Result<Next, ApiError> {
    let Some(provider) = way.provider() else {
        return Ok(Next::Wait);
    };
    let gateway = app.gateways.collection(provider).ok_or_else(|| {
        ApiError::new(
            ErrorCode::PayMethodUnavailable,
            format!("{} is not offered here", way.as_str()),
        )
    })?;
    let method = match way {
        PayWay::AlipayWap => PayMethod::Wap {
            return_url: receipt_url.to_owned(),
        },
        PayWay::WechatpayH5 => PayMethod::H5 {
            client_ip: client_ip.ok_or_else(|| {
                ApiError::new(
                    ErrorCode::PayMethodUnavailable,
                    "WeChat H5 pay needs the buyer's address",
                )
            })?,
        },
        PayWay::WechatpayNative | PayWay::AlipayQr => PayMethod::Scan,
        PayWay::WechatpayJsapi | PayWay::Sandbox => {
            return Err(ApiError::new(
                ErrorCode::PayMethodUnavailable,
                format!("{} is not offered here", way.as_str()),
            ))
        }
    };
    let order = &bound(app, order, provider).await?;
    let request = collect_request(
        &shop.shop_id,
        order.order_id.clone(),
        order.amount,
        subject(shop, order.description.as_ref().map(|d| d.as_str())),
        deadline(app, code, order),
        method,
        order.instalment_plan.as_ref(),
    );
    match gateway.create(&request).await {
        CreateOutcome::Created(ProviderCode::Redirect(url)) if way == PayWay::WechatpayH5 => {
            // WeChat returns the buyer to `redirect_url` (urlencoded) after its page.
            let back: String = form_urlencoded::byte_serialize(receipt_url.as_bytes()).collect();
            Ok(Next::Redirect(format!("{url}&redirect_url={back}")))
        }
        CreateOutcome::Created(ProviderCode::Redirect(url)) => Ok(Next::Redirect(url)),
        CreateOutcome::Created(ProviderCode::QrContent(content)) => Ok(Next::Qr(content)),
        CreateOutcome::AlreadyPaid => Ok(Next::Wait),
        other => Err(not_created(provider, other)),
    }
}

/// The page for `next`: a hand-over to the provider (followed at once, with
/// a button in case the browser does not), or the code to scan.
pub fn next_page(
    shop_name: &str,
    order: &Order,
    way: PayWay,
    next: &Next,
    receipt_url: &str,
) -> Result<Response<Body>, ApiError> {
    let amount = format!(
        "<div class=\"card\"><p class=\"muted\">付款给</p><h1 id=\"shop\">{}</h1><p class=\"amount\" id=\"amount\">¥{}</p></div>",
        escape(shop_name),
        order.amount
    );
    let receipt = format!(
        "<a class=\"button secondary\" id=\"done\" href=\"{}\">我已完成支付，查看结果</a>",
        escape(receipt_url)
    );
    let (head, body) = match next {
        // WeChat's H5 page checks the Referer, which only a tap on a link
        // reliably sends: no automatic move there.
        Next::Redirect(url) if way == PayWay::WechatpayH5 => (
            String::new(),
            format!(
                "{amount}<div class=\"card\"><p>点击下方按钮，在微信中完成支付。</p><a class=\"button wechat\" id=\"go\" href=\"{}\">{}</a>{receipt}</div>",
                escape(url),
                way.label()
            ),
        ),
        Next::Redirect(url) => (
            format!(
                "<meta http-equiv=\"refresh\" content=\"0;url={}\">",
                escape(url)
            ),
            format!(
                "{amount}<div class=\"card\"><p>正在前往{}…</p><a class=\"button {}\" id=\"go\" href=\"{}\">{}</a>{receipt}</div>",
                provider_name(way),
                way.class(),
                escape(url),
                way.label()
            ),
        ),
        Next::Qr(content) => {
            let svg = render::svg(content)
                .map_err(|e| ApiError::internal(format!("QR render: {e}")))?;
            (
                String::new(),
                format!(
                    "{amount}<div class=\"card qr\" id=\"provider-qr\"><p>请用{}扫一扫下面的二维码付款</p>{svg}{receipt}</div>",
                    scanning_app(way)
                ),
            )
        }
        Next::Wait => (
            format!(
                "<meta http-equiv=\"refresh\" content=\"0;url={}\">",
                escape(receipt_url)
            ),
            format!("{amount}{receipt}"),
        ),
    };
    let title = format!("向{shop_name}付款");
    Ok(page(StatusCode::OK, document(&title, &head, &body), &[]))
}

fn provider_name(way: PayWay) -> &'static str {
    match way.provider() {
        Some(qrpay_domain::Provider::Wechatpay) => "微信支付",
        Some(qrpay_domain::Provider::Alipay) => "支付宝",
        _ => "支付页面",
    }
}

fn scanning_app(way: PayWay) -> &'static str {
    match way.provider() {
        Some(qrpay_domain::Provider::Wechatpay) => "另一台手机的微信",
        _ => "支付宝",
    }
}

/// The order a buyer may still pay through this code, or the refusal.
pub fn payable(code: &QrCode, order: &Order) -> Result<(), ApiError> {
    if order.qr_id.as_ref() != Some(&code.qr_id) || order.shop_id != code.shop_id {
        return Err(ApiError::new(
            ErrorCode::OrderNotFound,
            "no such order for this code",
        ));
    }
    match order.status {
        OrderStatus::Created => Ok(()),
        _ => Err(qrpay_domain::QrRefusal::Used.into()),
    }
}
