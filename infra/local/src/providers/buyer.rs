//! The buyer's side of a simulated provider: `POST /sandbox/{provider}/pay`
//! `{"out_trade_no"}` (or `{"code"}`: the `code_url`, `prepay_id`, `h5_url`,
//! `qr_code` or Douyin `order_id`/`order_token` the provider handed out) and
//! an optional `"payer"` (an openid, an Alipay user id). The order is paid
//! in full (an Alipay Huabei plan too: SPEC §9, the shop is paid the whole
//! amount at once) and the provider's own signed payment notice goes to the
//! order's notify path. Alipay's wap page posts the same as a form.

use lambda_http::http::StatusCode;
use qrpay_domain::{CollectionEventKind, Payer, PayerAccount, PayerAccountKind, Provider};
use qrpay_http::{ApiError, ErrorCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::book::{Order, OrderKey, PayRefusal};
use super::{header, ok, provider_ref, Ctx, Sim, Simulators};
use crate::local_http::{LocalRequest, LocalResponse};

/// Longest value the buyer's request may carry.
const MAX_FIELD_CHARS: usize = 512;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BuyerPays {
    out_trade_no: Option<String>,
    code: Option<String>,
    payer: Option<String>,
}

impl BuyerPays {
    fn read(request: &LocalRequest, form: bool) -> Result<(OrderKey, Option<String>), ApiError> {
        let asked: BuyerPays = if form {
            let pairs = form_urlencoded::parse(&request.body)
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect::<serde_json::Map<_, _>>();
            serde_json::from_value(Value::Object(pairs))
        } else {
            serde_json::from_slice(&request.body)
        }
        .map_err(|e| ApiError::new(ErrorCode::InvalidRequest, format!("pay: {e}")))?;
        let too_long = [&asked.out_trade_no, &asked.code, &asked.payer]
            .into_iter()
            .flatten()
            .any(|v| v.is_empty() || v.chars().count() > MAX_FIELD_CHARS);
        if too_long {
            return Err(ApiError::invalid(
                "out_trade_no",
                "1 to 512 characters each",
            ));
        }
        let key = match (asked.out_trade_no, asked.code) {
            (Some(no), None) => OrderKey::OutTradeNo(no),
            (None, Some(code)) => OrderKey::Code(code),
            _ => {
                return Err(ApiError::invalid(
                    "out_trade_no",
                    "give out_trade_no or code",
                ))
            }
        };
        Ok((key, asked.payer))
    }
}

impl Simulators {
    /// `POST /sandbox/{provider}/pay`
    pub(super) async fn pay(
        &self,
        ctx: &Ctx<'_>,
        sim: &Sim,
        request: &LocalRequest,
    ) -> Result<LocalResponse, ApiError> {
        let form = header(request, "content-type")
            .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
        let (key, payer) = BuyerPays::read(request, form)?;
        let txn = match sim.provider {
            Provider::Alipay => sim.id("2200", ctx.now, 10),
            _ => sim.id("4200", ctx.now, 10),
        };
        let default_payer = default_payer(sim.provider);
        let order = sim
            .book()
            .pay(&key, payer.as_deref(), &default_payer, txn, ctx.now)
            .map_err(refusal)?;
        let payment = order
            .payment()
            .ok_or_else(|| ApiError::internal("a paid order without its payment"))?;
        let kind = CollectionEventKind::PaymentSucceeded {
            provider_txn_id: provider_ref(&payment.txn_id)?,
            amount: order.amount,
            payer: payer_account(sim.provider, &payment.payer).map(|account| Payer {
                account: Some(account),
                ..Payer::default()
            }),
        };
        let deliveries = if ctx.settings.payment_notices {
            sim.notify(ctx, &order.notify_path, &order.out_trade_no, kind)
                .await?
        } else {
            Vec::new()
        };
        if form {
            return Ok(paid_page(&order));
        }
        Ok(ok(&json!({
            "provider": sim.provider.as_str(),
            "out_trade_no": order.out_trade_no,
            "transaction_id": payment.txn_id,
            "amount": order.amount.to_string(),
            "instalments": order.instalments,
            "callback": {
                "deliveries": deliveries.len(),
                "first": deliveries.first().cloned().unwrap_or_default(),
            },
        })))
    }
}

/// The buyer when the request names none: a WeChat openid shape
/// (28 characters) or an Alipay user id (`2088` + 12 digits).
fn default_payer(provider: Provider) -> String {
    let random = qrpay_provider::wechatpay::nonce();
    match provider {
        Provider::Alipay => {
            let digits: String = random
                .bytes()
                .take(12)
                .map(|b| char::from(b'0' + b % 10))
                .collect();
            format!("2088{digits}")
        }
        _ => format!("oSim{}", &random[..24]),
    }
}

/// The account a payment notice names: WeChat's openid, Alipay's user id
/// (`2088…`) or open id; Douyin names none.
fn payer_account(provider: Provider, payer: &str) -> Option<PayerAccount> {
    let kind = match provider {
        Provider::Wechatpay => PayerAccountKind::WechatOpenid,
        Provider::Alipay if payer.starts_with("2088") => PayerAccountKind::AlipayUserId,
        Provider::Alipay => PayerAccountKind::AlipayOpenId,
        _ => return None,
    };
    PayerAccount::new(kind, payer).ok()
}

fn refusal(refusal: PayRefusal) -> ApiError {
    let (code, message) = match refusal {
        PayRefusal::NotFound => (
            ErrorCode::OrderNotFound,
            "the simulated provider has no such order",
        ),
        PayRefusal::AlreadyPaid => (ErrorCode::InvalidState, "the order is already paid"),
        PayRefusal::Closed => (ErrorCode::InvalidState, "the order is closed"),
        PayRefusal::Expired => (ErrorCode::InvalidState, "the order expired unpaid"),
        PayRefusal::WrongPayer => (
            ErrorCode::InvalidState,
            "the order was made for another buyer",
        ),
    };
    ApiError::new(code, message)
}

/// What the wap page's buyer sees after paying, with the way back.
fn paid_page(order: &Order) -> LocalResponse {
    let back = order
        .return_url
        .as_deref()
        .map(|url| {
            format!(
                "<p><a href=\"{}\">Back to the shop</a></p>",
                html_escape(url)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\"><title>Paid</title></head>\
         <body><h1>Paid {} CNY</h1><p>Order {}</p>{back}</body></html>",
        order.amount,
        html_escape(&order.out_trade_no)
    );
    LocalResponse {
        status: StatusCode::OK.as_u16(),
        headers: vec![("content-type".into(), "text/html; charset=utf-8".into())],
        body: body.into_bytes(),
    }
}

pub(super) fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_buyers_look_like_the_providers_ids() {
        let openid = default_payer(Provider::Wechatpay);
        assert_eq!(openid.len(), 28);
        let alipay = default_payer(Provider::Alipay);
        assert!(alipay.starts_with("2088") && alipay.len() == 16);
        assert!(alipay.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(
            payer_account(Provider::Alipay, &alipay).unwrap().kind(),
            PayerAccountKind::AlipayUserId
        );
        assert!(payer_account(Provider::Douyin, "x").is_none());
    }
}
