//! Collection orders: Native (`code_url`), JSAPI (`prepay_id`, needs the
//! buyer's openid) and H5 (`h5_url`); query and close by `out_trade_no`.
//! https://pay.weixin.qq.com/doc/v3/merchant/4012525171 (Native; JSAPI and
//! H5 take the same fields plus `payer` / `scene_info`).
//!
//! "Creating twice returns the same provider order": re-calling create with
//! the original parameters before `time_expire` returns the current
//! `code_url`/`prepay_id` of the same order (same page). `time_expire` is our
//! order's fixed expiry, so a retry sends byte-identical parameters.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use chrono_tz::Asia::Shanghai;
use qrpay_domain::{Amount, OrderId, PayerAccount, PayerAccountKind, Provider};
use serde::Deserialize;
use serde_json::{json, Value};

use super::codes::{create_error, is_not_found, trade_state, CreateError, TradeCategory};
use super::{unreadable, Reply, WechatpayGateway};
use crate::gateway::{
    CloseOutcome, CollectRequest, CollectionGateway, CreateOutcome, PayMethod, ProviderCode,
    TradeState,
};

/// `description` is string(127).
const MAX_DESCRIPTION_CHARS: usize = 127;

/// `out_trade_no`: 6–32 of `[0-9A-Za-z_-]` (the safe intersection of the
/// documented charsets; GATEWAYS.md §1.8).
pub fn valid_out_trade_no(id: &str) -> bool {
    (6..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// RFC 3339 in Beijing time, as WeChat shows it: `2026-03-01T10:00:00+08:00`.
pub fn beijing_rfc3339(at: DateTime<Utc>) -> String {
    at.with_timezone(&Shanghai)
        .format("%Y-%m-%dT%H:%M:%S+08:00")
        .to_string()
}

#[derive(Deserialize)]
struct Created {
    code_url: Option<String>,
    prepay_id: Option<String>,
    h5_url: Option<String>,
}

#[derive(Deserialize)]
struct Trade {
    trade_state: String,
    transaction_id: Option<String>,
    amount: Option<TradeAmount>,
    payer: Option<TradePayer>,
}

#[derive(Deserialize)]
struct TradeAmount {
    total: i64,
}

#[derive(Deserialize)]
struct TradePayer {
    openid: Option<String>,
}

impl WechatpayGateway {
    /// The endpoint and body of one create, or why it cannot be sent.
    fn create_body(&self, request: &CollectRequest) -> Result<(&'static str, Value), String> {
        let c = &self.config;
        let mut body = json!({
            "appid": c.appid,
            "mchid": c.mchid,
            "description": request.subject.chars().take(MAX_DESCRIPTION_CHARS).collect::<String>(),
            "out_trade_no": request.order_id.as_str(),
            "time_expire": beijing_rfc3339(request.expires_at),
            "notify_url": c.notify_url,
            "amount": {"total": request.amount.fen(), "currency": "CNY"},
        });
        // string(128); a shop id is at most 64 characters of [A-Za-z0-9_-].
        if let Some(shop) = &request.shop_id {
            body["attach"] = json!(shop.as_str());
        }
        let path = match &request.method {
            PayMethod::Scan => "/v3/pay/transactions/native",
            PayMethod::Jsapi { openid } => {
                body["payer"] = json!({ "openid": openid });
                "/v3/pay/transactions/jsapi"
            }
            PayMethod::H5 { client_ip } => {
                body["scene_info"] =
                    json!({"payer_client_ip": client_ip, "h5_info": {"type": "Wap"}});
                "/v3/pay/transactions/h5"
            }
            other => return Err(format!("WeChat Pay does not offer {other:?}")),
        };
        if request.instalments.is_some() {
            return Err("WeChat Pay has no monthly-pay plans".into());
        }
        Ok((path, body))
    }

    /// After a create error that may hide an existing order: what is it?
    async fn create_after_query(&self, order_id: &OrderId, code: &str) -> CreateOutcome {
        match self.query(order_id).await {
            TradeState::Paid { .. } => CreateOutcome::AlreadyPaid,
            TradeState::Closed { reason } => CreateOutcome::Refused {
                code: code.to_owned(),
                reason: format!("the order is closed at WeChat Pay ({reason})"),
            },
            TradeState::Waiting => CreateOutcome::Refused {
                code: code.to_owned(),
                reason: "an order with this number exists with other parameters".into(),
            },
            TradeState::NotFound => CreateOutcome::Refused {
                code: code.to_owned(),
                reason: "WeChat Pay refused the order".into(),
            },
            TradeState::Ambiguous { detail } => CreateOutcome::Ambiguous { detail },
        }
    }
}

fn provider_code(method: &PayMethod, created: Created) -> Option<ProviderCode> {
    match method {
        PayMethod::Scan => created.code_url.map(ProviderCode::QrContent),
        PayMethod::Jsapi { .. } => created.prepay_id.map(ProviderCode::PrepayId),
        PayMethod::H5 { .. } => created.h5_url.map(ProviderCode::Redirect),
        _ => None,
    }
}

fn paid(trade: &Trade) -> Result<TradeState, String> {
    let txn = trade
        .transaction_id
        .clone()
        .ok_or("a paid trade without transaction_id")?;
    let total = trade
        .amount
        .as_ref()
        .ok_or("a paid trade without amount")?
        .total;
    let amount = Amount::from_fen(total).map_err(|e| format!("amount.total {total}: {e}"))?;
    let account = trade
        .payer
        .as_ref()
        .and_then(|p| p.openid.as_deref())
        .and_then(|id| PayerAccount::new(PayerAccountKind::WechatOpenid, id).ok());
    Ok(TradeState::Paid {
        provider_txn_id: txn,
        amount,
        account,
    })
}

#[async_trait]
impl CollectionGateway for WechatpayGateway {
    fn provider(&self) -> Provider {
        Provider::Wechatpay
    }

    /// `appId`, `timeStamp` (seconds), `nonceStr`, `package`, `signType`,
    /// `paySign`: signed with the merchant key over the order's app id.
    fn bridge_invoke(&self, prepay_id: &str) -> Option<serde_json::Value> {
        let invoke = self.config.signer.jsapi_invoke(
            &self.config.appid,
            prepay_id,
            self.clock.now().timestamp(),
            &crate::wechatpay::nonce(),
        );
        serde_json::to_value(invoke).ok()
    }

    async fn create(&self, request: &CollectRequest) -> CreateOutcome {
        if !valid_out_trade_no(request.order_id.as_str()) {
            return CreateOutcome::Refused {
                code: "OUT_TRADE_NO".into(),
                reason: "the order id does not fit WeChat's out_trade_no".into(),
            };
        }
        let (path, body) = match self.create_body(request) {
            Ok(parts) => parts,
            Err(reason) => {
                return CreateOutcome::Refused {
                    code: "UNSUPPORTED".into(),
                    reason,
                }
            }
        };
        let body = serde_json::to_vec(&body).expect("a JSON value always serializes");
        match self.call(http::Method::POST, path, Some(body), false).await {
            Reply::Done(bytes) => match serde_json::from_slice::<Created>(&bytes) {
                Ok(created) => match provider_code(&request.method, created) {
                    Some(code) => CreateOutcome::Created(code),
                    None => CreateOutcome::Ambiguous {
                        detail: "create answered without the code to pay".into(),
                    },
                },
                Err(e) => CreateOutcome::Ambiguous {
                    detail: unreadable("create", &e),
                },
            },
            Reply::Refused { code, .. } => match create_error(&code) {
                CreateError::Refused => CreateOutcome::Refused {
                    reason: format!("WeChat Pay refused the order: {code}"),
                    code,
                },
                CreateError::QueryFirst => self.create_after_query(&request.order_id, &code).await,
                CreateError::Ambiguous => CreateOutcome::Ambiguous { detail: code },
            },
            Reply::Unclear(detail) => CreateOutcome::Ambiguous { detail },
        }
    }

    async fn query(&self, order_id: &OrderId) -> TradeState {
        let path = format!(
            "/v3/pay/transactions/out-trade-no/{}?mchid={}",
            order_id.as_str(),
            self.config.mchid
        );
        match self.call(http::Method::GET, &path, None, false).await {
            Reply::Done(bytes) => {
                let trade: Trade = match serde_json::from_slice(&bytes) {
                    Ok(t) => t,
                    Err(e) => {
                        return TradeState::Ambiguous {
                            detail: unreadable("query", &e),
                        }
                    }
                };
                match trade_state(&trade.trade_state) {
                    TradeCategory::Paid => {
                        paid(&trade).unwrap_or_else(|detail| TradeState::Ambiguous { detail })
                    }
                    TradeCategory::Waiting => TradeState::Waiting,
                    TradeCategory::Closed => TradeState::Closed {
                        reason: trade.trade_state,
                    },
                    TradeCategory::Unknown => TradeState::Ambiguous {
                        detail: format!("trade_state {}", trade.trade_state),
                    },
                }
            }
            Reply::Refused { status, code } if is_not_found(status, &code) => TradeState::NotFound,
            Reply::Refused { code, .. } => TradeState::Ambiguous { detail: code },
            Reply::Unclear(detail) => TradeState::Ambiguous { detail },
        }
    }

    async fn close(&self, order_id: &OrderId) -> CloseOutcome {
        let path = format!(
            "/v3/pay/transactions/out-trade-no/{}/close",
            order_id.as_str()
        );
        let body = serde_json::to_vec(&json!({ "mchid": self.config.mchid }))
            .expect("a JSON value always serializes");
        match self
            .call(http::Method::POST, &path, Some(body), false)
            .await
        {
            Reply::Done(_) => CloseOutcome::Closed,
            // Not closed as asked: the order says why (paid, never made).
            Reply::Refused { .. } => match self.query(order_id).await {
                TradeState::Paid { .. } => CloseOutcome::AlreadyPaid,
                TradeState::NotFound => CloseOutcome::NotFound,
                TradeState::Closed { .. } => CloseOutcome::Closed,
                TradeState::Waiting => CloseOutcome::Ambiguous {
                    detail: "close refused and the order is still open".into(),
                },
                TradeState::Ambiguous { detail } => CloseOutcome::Ambiguous { detail },
            },
            Reply::Unclear(detail) => CloseOutcome::Ambiguous { detail },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_trade_nos_fit_wechats_charset() {
        assert!(valid_out_trade_no("ord_01JQ0000000000000000000000"));
        assert!(valid_out_trade_no("a-b_c1"));
        assert!(!valid_out_trade_no("short"));
        assert!(!valid_out_trade_no(&"a".repeat(33)));
        assert!(!valid_out_trade_no("ord|123456"));
    }

    #[test]
    fn expiry_is_beijing_time_with_its_offset() {
        let at = DateTime::parse_from_rfc3339("2026-03-01T02:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(beijing_rfc3339(at), "2026-03-01T10:00:00+08:00");
    }
}
