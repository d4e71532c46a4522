//! Paying inside WeChat (SPEC §10; BUYER_PAGES.md §2): the form's next page
//! for `wechatpay_jsapi` first sends the browser through WeChat's silent
//! `snsapi_base` authorization to learn the buyer's openid, then makes the
//! JSAPI order for that openid and hands the signed parameters to WeChat's
//! JS bridge (`getBrandWCPayRequest`). The bridge's answer only moves the
//! buyer to the receipt page; the payment itself is known from WeChat's
//! notice (or a query), never from the page.
//!
//! `state` binds the authorization to the order: a keyed hash of the order
//! id, so a code WeChat sends back for another order is refused.

use lambda_http::http::header::LOCATION;
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use qrpay_domain::{Order, Provider, QrCode, Shop};
use qrpay_http::{ApiError, ErrorCode};
use qrpay_provider::gateway::{CreateOutcome, PayMethod, ProviderCode};
use qrpay_provider::wechatpay::oauth::OauthError;

use super::go::deadline;
use super::html::{document, escape, page};
use crate::provider_code::{collect_request, not_created, subject};
use crate::App;

/// Waits for the bridge, asks it to pay, and goes to the receipt when
/// WeChat says the buyer paid; the parameters come from the JSON block.
pub const BRIDGE_SCRIPT: &str = "(function(){var d=document,p=JSON.parse(d.getElementById('invoke').textContent),\
r=d.getElementById('done').getAttribute('href'),s=d.getElementById('state');\
function pay(){WeixinJSBridge.invoke('getBrandWCPayRequest',p,function(res){\
if(res&&res.err_msg==='get_brand_wcpay_request:ok'){location.href=r;}\
else{s.textContent='未完成支付：可点击“重新支付”再试，或返回选择其他方式。';}});}\
d.getElementById('again').addEventListener('click',function(e){e.preventDefault();pay();});\
if(typeof WeixinJSBridge==='undefined'){d.addEventListener('WeixinJSBridgeReady',pay,false);}else{pay();}})();";

fn unavailable() -> ApiError {
    ApiError::new(
        ErrorCode::PayMethodUnavailable,
        "WeChat Pay inside WeChat is not offered here",
    )
}

/// The `state` for `order`: 32 hex characters (WeChat allows `[A-Za-z0-9]`, ≤ 128).
fn state_of(app: &App, order: &Order) -> Result<String, ApiError> {
    app.keyed_hash("wechat-oauth-state", order.order_id.as_str(), 16)
}

fn found(location: &str) -> Result<Response<Body>, ApiError> {
    let value = HeaderValue::from_str(location)
        .map_err(|_| ApiError::internal("an authorization link that is not a header"))?;
    let mut response = page(StatusCode::FOUND, String::new(), &[]);
    response.headers_mut().insert(LOCATION, value);
    Ok(response)
}

/// `GET /pay/{token}/orders/{order_id}/wechatpay_jsapi[?code=&state=]`
pub async fn jsapi_step(
    app: &App,
    req: &Request,
    signed: &str,
    shop: &Shop,
    code: &QrCode,
    order: &Order,
    receipt_url: &str,
) -> Result<Response<Body>, ApiError> {
    let oauth = app.gateways.wechat_oauth.as_ref().ok_or_else(unavailable)?;
    let gateway = app
        .gateways
        .collection(Provider::Wechatpay)
        .ok_or_else(unavailable)?;
    let expected = state_of(app, order)?;
    let query = req.query_string_parameters();
    let Some(auth_code) = query.first("code") else {
        let back = format!(
            "{}/pay/{signed}/orders/{}/wechatpay_jsapi",
            app.pay_base_url.trim_end_matches('/'),
            order.order_id
        );
        return found(&oauth.authorize_url(&back, &expected));
    };
    if query.first("state") != Some(expected.as_str()) {
        return Err(ApiError::invalid(
            "state",
            "this authorization is for another order",
        ));
    }
    let openid = match oauth.openid(auth_code).await {
        Ok(openid) => openid,
        Err(OauthError::CodeRefused(errcode)) => {
            tracing::warn!(errcode, "WeChat refused an authorization code");
            return Err(ApiError::invalid(
                "code",
                "the authorization has expired: open the payment link again",
            ));
        }
        Err(OauthError::Unavailable(detail)) => return Err(ApiError::unavailable(detail)),
    };
    let order = &super::go::bound(app, order, Provider::Wechatpay).await?;
    let request = collect_request(
        &shop.shop_id,
        order.order_id.clone(),
        order.amount,
        subject(shop, order.description.as_ref().map(|d| d.as_str())),
        deadline(app, code, order),
        PayMethod::Jsapi { openid },
        order.instalment_plan.as_ref(),
    );
    let prepay_id = match gateway.create(&request).await {
        CreateOutcome::Created(ProviderCode::PrepayId(id)) => id,
        other => return Err(not_created(Provider::Wechatpay, other)),
    };
    let invoke = gateway
        .bridge_invoke(&prepay_id)
        .ok_or_else(|| ApiError::internal("WeChat Pay signed no bridge parameters"))?;
    Ok(bridge_page(
        shop.display_name(),
        order,
        &invoke,
        receipt_url,
    ))
}

/// The page that asks WeChat's bridge to pay. The parameters sit in a JSON
/// data block (`<` escaped, so no text can close it); the one script is
/// allowed by its hash.
fn bridge_page(
    shop_name: &str,
    order: &Order,
    invoke: &serde_json::Value,
    receipt_url: &str,
) -> Response<Body> {
    let data = invoke.to_string().replace('<', "\\u003c");
    let body = format!(
        "<div class=\"card\"><p class=\"muted\">付款给</p><h1 id=\"shop\">{}</h1><p class=\"amount\" id=\"amount\">¥{}</p>\
         <p id=\"state\">正在打开微信支付…</p>\
         <a class=\"button wechat\" id=\"again\" href=\"\">重新支付</a>\
         <a class=\"button secondary\" id=\"done\" href=\"{}\">我已完成支付，查看结果</a></div>\
         <script type=\"application/json\" id=\"invoke\">{data}</script><script>{BRIDGE_SCRIPT}</script>",
        escape(shop_name),
        order.amount,
        escape(receipt_url)
    );
    page(
        StatusCode::OK,
        document(&format!("向{shop_name}付款"), "", &body),
        &[BRIDGE_SCRIPT],
    )
}
