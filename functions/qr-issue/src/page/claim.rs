//! `GET /claim/{token}` (SPEC §10): the page a merchant sends a buyer whose
//! WeChat transfer waits for their confirmation. Opened in WeChat it asks
//! WeChat's JS bridge to show the confirmation (`requestMerchantTransfer`
//! with the bill's `mchId`, `appId` and `package`); anywhere else it says to
//! open it in WeChat. WeChat itself checks that the confirming user is the
//! payee, so a forwarded link cannot pay anyone else; the link still
//! expires two hours after WeChat's own deadline.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use qrpay_domain::{PayeeAction, Payout, PayoutId, PayoutStatus, ShopId};
use qrpay_http::{ApiError, ErrorCode};
use qrpay_qr::link;
use serde_json::json;

use super::html::{document, error_page, escape, page};
use super::way::Container;
use crate::App;

/// Asks the bridge for the confirmation; WeChat's answer reloads the page,
/// which then shows where the transfer stands.
pub const CLAIM_SCRIPT: &str = "(function(){var d=document,p=JSON.parse(d.getElementById('claim').textContent),\
s=d.getElementById('state');function ask(){WeixinJSBridge.invoke('requestMerchantTransfer',p,function(res){\
if(res&&res.err_msg==='requestMerchantTransfer:ok'){location.reload();}\
else{s.textContent='未完成确认：可点击“确认收款”再试。';}});}\
d.getElementById('again').addEventListener('click',function(e){e.preventDefault();ask();});\
if(typeof WeixinJSBridge==='undefined'){d.addEventListener('WeixinJSBridgeReady',ask,false);}else{ask();}})();";

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::PayoutNotFound, "no such claim link")
}

/// `GET /claim/{token}`
pub async fn show(app: &App, req: &Request, signed: &str) -> Response<Body> {
    match claim_page(app, req, signed).await {
        Ok(response) => response,
        Err(e) => error_page(&e),
    }
}

async fn claim_page(app: &App, req: &Request, signed: &str) -> Result<Response<Body>, ApiError> {
    let claims = app
        .verify_link(|keys| link::verify_claim(keys, signed))
        .await
        .map_err(|_| not_found())?;
    let payout_id = PayoutId::parse(&claims.payout_id).map_err(|_| not_found())?;
    let shop_id = ShopId::parse(&claims.shop_id).map_err(|_| not_found())?;
    let payout = app
        .payouts
        .find_payout(&payout_id)
        .await?
        .filter(|p| p.shop_id == shop_id)
        .ok_or_else(not_found)?;
    let shop = app.shops.get_shop(&shop_id).await?.ok_or_else(not_found)?;
    let top = format!(
        "<div class=\"card\"><p class=\"muted\">{} 向您打款</p><p class=\"amount\" id=\"amount\">¥{}</p>",
        escape(shop.display_name()),
        payout.amount
    );
    if app.clock.now().timestamp() > claims.expires_unix {
        return Ok(plain(
            StatusCode::GONE,
            &top,
            "expired",
            "此链接已过期，请联系商家。",
        ));
    }
    let waiting = match (&payout.payee_action, payout.status) {
        (
            Some(PayeeAction::WechatConfirm {
                mch_id,
                app_id,
                package,
                ..
            }),
            PayoutStatus::Processing,
        ) => Some(json!({"mchId": mch_id, "appId": app_id, "package": package})),
        _ => None,
    };
    let container = crate::pay::container_of(req);
    Ok(match waiting {
        Some(params) if container == Container::Wechat => bridge_page(&top, &params),
        Some(_) => plain(
            StatusCode::OK,
            &top,
            "open-in-wechat",
            "请在微信中打开此链接，确认收款。",
        ),
        None => plain(StatusCode::OK, &top, "status", settled(&payout)),
    })
}

fn settled(payout: &Payout) -> &'static str {
    match payout.status {
        PayoutStatus::Succeeded => "已到账，请在微信零钱中查看。",
        PayoutStatus::Failed => "打款已关闭，款项未转出。如有疑问请联系商家。",
        PayoutStatus::Pending | PayoutStatus::Processing => "打款处理中，请稍后刷新。",
    }
}

fn plain(status: StatusCode, top: &str, id: &str, words: &str) -> Response<Body> {
    let body = format!("{top}<p id=\"{id}\">{words}</p></div>");
    page(status, document("商家打款", "", &body), &[])
}

fn bridge_page(top: &str, params: &serde_json::Value) -> Response<Body> {
    let data = params.to_string().replace('<', "\\u003c");
    let body = format!(
        "{top}<p id=\"state\">正在打开微信确认收款…</p>\
         <a class=\"button wechat\" id=\"again\" href=\"\">确认收款</a></div>\
         <script type=\"application/json\" id=\"claim\">{data}</script><script>{CLAIM_SCRIPT}</script>"
    );
    page(
        StatusCode::OK,
        document("商家打款", "", &body),
        &[CLAIM_SCRIPT],
    )
}
