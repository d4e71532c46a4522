//! Collection orders: `alipay.trade.precreate` (the buyer scans `qr_code`),
//! `alipay.trade.wap.pay` (the browser is sent to Alipay), `alipay.trade.query`
//! and `alipay.trade.close`. Fields: GATEWAYS.md §2.5 (official Java SDK
//! models `AlipayTradePrecreateModel`, `AlipayTradeWapPayModel`,
//! `AlipayTradeQueryResponse`); codes: §4 and the precreate error table
//! (Alipay's 当面付 page, mirrored at
//! https://open.alitrip.com/docs/doc.htm?articleId=104632&docType=1&treeId=140).
//!
//! Creating twice. `biz_content` depends only on the `CollectRequest`
//! (`time_expire` comes from `expires_at`, not from the clock), so a second
//! create sends the same business parameters. Alipay creates a precreate's
//! trade only when it is scanned ("生成二维码使用支付宝钱包扫码唤起收银台后订单创建",
//! https://developer.aliyun.com/article/710933) and answers a repeated
//! precreate of an unpaid `out_trade_no` with the same parameters with a
//! `qr_code` for that same trade; the same `out_trade_no` with other
//! parameters is `ACQ.CONTEXT_INCONSISTENT`, and once paid it is
//! `ACQ.TRADE_HAS_SUCCESS` (Alipay developer article
//! https://developer.aliyun.com/article/707511: "订单号相同，且其他业务参数也不变的情况下去请求支付接口是可以正常唤起支付页面的").
//! A wap URL is signed afresh each time (its `timestamp` and `sign` differ),
//! but carries the same `biz_content`, so it opens the same trade.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use qrpay_domain::{Amount, OrderId, PayerAccount, PayerAccountKind, Provider};
use serde_json::{json, Map, Value};

use super::super::request::TIMESTAMP_FORMAT;
use super::{text, AlipayGateway, ErrorAnswer, ErrorKind, Reply};
use crate::gateway::{
    CloseOutcome, CollectRequest, CollectionGateway, CreateOutcome, PayMethod, ProviderCode,
    TradeState,
};

const PRECREATE: &str = "alipay.trade.precreate";
const WAP_PAY: &str = "alipay.trade.wap.pay";
const QUERY: &str = "alipay.trade.query";
const CLOSE: &str = "alipay.trade.close";
/// `alipay.trade.wap.pay` `product_code` (official page; python-alipay-sdk
/// sends `QUICK_WAP_PAY`: GATEWAYS.md §2.5, UNCONFIRMED which one the gateway
/// prefers today).
const WAP_PRODUCT_CODE: &str = "QUICK_WAP_WAY";
/// Huabei periods Alipay offers (`hb_fq_num`: 3, 6, 12; .NET SDK `ExtendParams`).
const HUABEI_PERIODS: [u8; 3] = [3, 6, 12];
/// `subject` is String(256).
const MAX_SUBJECT_CHARS: usize = 256;
/// Longest `qr_code` / `return_url` accepted.
const MAX_URL_LEN: usize = 512;

#[async_trait]
impl CollectionGateway for AlipayGateway {
    fn provider(&self) -> Provider {
        Provider::Alipay
    }

    async fn create(&self, request: &CollectRequest) -> CreateOutcome {
        let biz = match order_fields(request) {
            Ok(biz) => biz,
            Err(refusal) => return refusal,
        };
        match &request.method {
            PayMethod::Scan => {
                let id = request.order_id.as_str();
                let reply = self
                    .call(PRECREATE, &Value::Object(biz), true, ("out_trade_no", id))
                    .await;
                precreate_outcome(reply)
            }
            PayMethod::Wap { return_url } => self.wap_pay(biz, return_url),
            other => CreateOutcome::Refused {
                code: "METHOD_NOT_SUPPORTED".into(),
                reason: format!("Alipay does not take {other:?} orders (scan or wap only)"),
            },
        }
    }

    async fn query(&self, order_id: &OrderId) -> TradeState {
        let biz = json!({ "out_trade_no": order_id.as_str() });
        let echo = ("out_trade_no", order_id.as_str());
        trade_state(self.call(QUERY, &biz, false, echo).await)
    }

    async fn close(&self, order_id: &OrderId) -> CloseOutcome {
        let biz = json!({ "out_trade_no": order_id.as_str() });
        let echo = ("out_trade_no", order_id.as_str());
        close_outcome(self.call(CLOSE, &biz, false, echo).await)
    }
}

impl AlipayGateway {
    /// `alipay.trade.wap.pay` makes no server call: the signed GET URL is
    /// the redirect (official SDKs' `pageExecute` with GET).
    fn wap_pay(&self, mut biz: Map<String, Value>, return_url: &str) -> CreateOutcome {
        let plain = !return_url.is_empty()
            && return_url.len() <= MAX_URL_LEN
            && return_url.bytes().all(|b| b.is_ascii_graphic());
        if !plain || !(return_url.starts_with("https://") || return_url.starts_with("http://")) {
            return CreateOutcome::Refused {
                code: "INVALID_RETURN_URL".into(),
                reason: "return_url must be an absolute http(s) URL".into(),
            };
        }
        biz.insert("product_code".into(), WAP_PRODUCT_CODE.into());
        // Where the cashier's "back" goes: the same page as after paying.
        biz.insert("quit_url".into(), return_url.into());
        let url = self.page_url(WAP_PAY, &Value::Object(biz), return_url);
        CreateOutcome::Created(ProviderCode::Redirect(url))
    }
}

/// The business fields both order methods share, or a refusal made before
/// anything is sent.
fn order_fields(request: &CollectRequest) -> Result<Map<String, Value>, CreateOutcome> {
    let mut biz = Map::new();
    biz.insert("out_trade_no".into(), request.order_id.as_str().into());
    // Yuan with two decimals, [0.01, 100000000]: `Amount` prints exactly that.
    biz.insert("total_amount".into(), request.amount.to_string().into());
    biz.insert("subject".into(), subject(request).into());
    biz.insert("time_expire".into(), time_expire(request.expires_at).into());
    // String(32): a longer shop id is not sent, and the bill's row stays
    // unattributed (the ledger still knows the shop).
    if let Some(shop) = request.shop_id.as_ref().filter(|s| s.as_str().len() <= 32) {
        biz.insert("store_id".into(), shop.as_str().into());
    }
    if let Some(instalments) = request.instalments {
        if !HUABEI_PERIODS.contains(&instalments.periods) {
            return Err(CreateOutcome::Refused {
                code: "INSTALMENTS_NOT_SUPPORTED".into(),
                reason: format!(
                    "Huabei offers 3, 6 or 12 periods, not {}",
                    instalments.periods
                ),
            });
        }
        // hb_fq_seller_percent: 100 when the seller bears the fee, 0 when
        // the buyer does; only those two are accepted (GATEWAYS.md §2.5).
        let seller_percent = if instalments.shop_pays_fee {
            "100"
        } else {
            "0"
        };
        biz.insert(
            "extend_params".into(),
            json!({
                "hb_fq_num": instalments.periods.to_string(),
                "hb_fq_seller_percent": seller_percent,
            }),
        );
    }
    Ok(biz)
}

/// What the buyer sees; the order id when the request has none.
fn subject(request: &CollectRequest) -> String {
    let subject = request.subject.trim();
    let subject = if subject.is_empty() {
        request.order_id.as_str()
    } else {
        subject
    };
    subject.chars().take(MAX_SUBJECT_CHARS).collect()
}

/// `time_expire`: `yyyy-MM-dd HH:mm:ss` on Beijing's clock (AlipayTradePrecreateModel
/// `timeExpire`). UNCONFIRMED: Alipay documents 1m-15d for it; an order
/// expiring later is sent as it is and Alipay's answer decides.
fn time_expire(expires_at: DateTime<Utc>) -> String {
    expires_at
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format(TIMESTAMP_FORMAT)
        .to_string()
}

// ---- the tables ------------------------------------------------------------------

/// `alipay.trade.precreate`'s answer (GATEWAYS.md §4 "Alipay precreate").
fn precreate_outcome(reply: Reply) -> CreateOutcome {
    let error = match reply {
        Reply::Success(answer) => {
            return match text(&answer, "qr_code").filter(|qr| qr.len() <= MAX_URL_LEN) {
                Some(qr_code) => CreateOutcome::Created(ProviderCode::QrContent(qr_code.into())),
                None => ambiguous_create("code 10000 without a usable qr_code".into()),
            }
        }
        Reply::Error(error) => error,
        Reply::Untrusted(detail) => return ambiguous_create(detail),
    };
    match error.kind() {
        // Already paid under this out_trade_no.
        ErrorKind::Business("ACQ.TRADE_HAS_SUCCESS") => CreateOutcome::AlreadyPaid,
        // Definitive: this order cannot be created as asked.
        ErrorKind::Business(
            "ACQ.TRADE_HAS_CLOSE"
            | "ACQ.INVALID_PARAMETER"
            | "ACQ.ACCESS_FORBIDDEN"
            | "ACQ.EXIST_FORBIDDEN_WORD"
            | "ACQ.PARTNER_ERROR"
            | "ACQ.TOTAL_FEE_EXCEED",
        )
        | ErrorKind::RefusedByGateway => refused(&error),
        // The trade may exist (other parameters, another buyer) or the
        // system failed mid-way: query before deciding.
        ErrorKind::Business(
            "ACQ.SYSTEM_ERROR" | "ACQ.CONTEXT_INCONSISTENT" | "ACQ.TRADE_BUYER_NOT_MATCH",
        )
        | ErrorKind::Unavailable
        | ErrorKind::Business(_)
        | ErrorKind::Unknown => ambiguous_create(error.describe()),
    }
}

/// `alipay.trade.query`'s answer (GATEWAYS.md §4 "Alipay trade.query").
fn trade_state(reply: Reply) -> TradeState {
    let error = match reply {
        Reply::Success(answer) => {
            return match text(&answer, "trade_status") {
                Some("TRADE_SUCCESS" | "TRADE_FINISHED") => paid(&answer),
                Some("WAIT_BUYER_PAY") => TradeState::Waiting,
                // Closed unpaid, or fully refunded after payment: which one
                // is for the order's own records (refunds) to say.
                Some("TRADE_CLOSED") => TradeState::Closed {
                    reason: "TRADE_CLOSED: closed unpaid, or fully refunded".into(),
                },
                _ => TradeState::Ambiguous {
                    detail: "code 10000 with an unknown trade_status".into(),
                },
            };
        }
        Reply::Error(error) => error,
        Reply::Untrusted(detail) => return TradeState::Ambiguous { detail },
    };
    match error.kind() {
        // Normal for a precreate nobody has scanned yet.
        ErrorKind::Business("ACQ.TRADE_NOT_EXIST") => TradeState::NotFound,
        // A query that failed says nothing about the trade.
        ErrorKind::Business("ACQ.SYSTEM_ERROR" | "ACQ.INVALID_PARAMETER")
        | ErrorKind::Unavailable
        | ErrorKind::RefusedByGateway
        | ErrorKind::Business(_)
        | ErrorKind::Unknown => TradeState::Ambiguous {
            detail: error.describe(),
        },
    }
}

/// A paid trade: `trade_no`, `total_amount` (yuan) and the paying account
/// (`buyer_user_id` `2088…`, or `buyer_open_id` for apps on OpenID).
fn paid(answer: &Map<String, Value>) -> TradeState {
    let trade_no = text(answer, "trade_no");
    let amount = text(answer, "total_amount").and_then(|t| Amount::parse(t).ok());
    let (Some(trade_no), Some(amount)) = (trade_no, amount) else {
        return TradeState::Ambiguous {
            detail: "a paid trade without trade_no or a readable total_amount".into(),
        };
    };
    let account = |field, kind| text(answer, field).and_then(|id| PayerAccount::new(kind, id).ok());
    TradeState::Paid {
        provider_txn_id: trade_no.to_owned(),
        amount,
        account: account("buyer_user_id", PayerAccountKind::AlipayUserId)
            .or_else(|| account("buyer_open_id", PayerAccountKind::AlipayOpenId)),
    }
}

/// `alipay.trade.close`'s answer (GATEWAYS.md §4 "Alipay trade.close").
fn close_outcome(reply: Reply) -> CloseOutcome {
    let error = match reply {
        Reply::Success(_) => return CloseOutcome::Closed,
        Reply::Error(error) => error,
        Reply::Untrusted(detail) => return CloseOutcome::Ambiguous { detail },
    };
    match error.kind() {
        // An unscanned precreate: nothing to close, it simply expires.
        ErrorKind::Business("ACQ.TRADE_NOT_EXIST") => CloseOutcome::NotFound,
        // Only WAIT_BUYER_PAY closes; paid, finished or already closed all
        // answer this: the query says which.
        ErrorKind::Business(
            "ACQ.TRADE_STATUS_ERROR" | "ACQ.SYSTEM_ERROR" | "ACQ.INVALID_PARAMETER",
        )
        | ErrorKind::Unavailable
        | ErrorKind::RefusedByGateway
        | ErrorKind::Business(_)
        | ErrorKind::Unknown => CloseOutcome::Ambiguous {
            detail: error.describe(),
        },
    }
}

fn refused(error: &ErrorAnswer) -> CreateOutcome {
    CreateOutcome::Refused {
        code: error.code(),
        reason: error.describe(),
    }
}

fn ambiguous_create(detail: String) -> CreateOutcome {
    CreateOutcome::Ambiguous { detail }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::ProviderInstalments;

    use super::super::replies::{business, error, success};

    fn is_ambiguous_create(outcome: &CreateOutcome) -> bool {
        matches!(outcome, CreateOutcome::Ambiguous { .. })
    }

    #[test]
    fn precreate_success_is_the_qr_code() {
        let reply = success(json!({"out_trade_no": "o1", "qr_code": "https://qr.alipay.com/bax1"}));
        assert_eq!(
            precreate_outcome(reply),
            CreateOutcome::Created(ProviderCode::QrContent("https://qr.alipay.com/bax1".into()))
        );
        assert!(is_ambiguous_create(&precreate_outcome(success(json!({})))));
    }

    #[test]
    fn precreate_already_paid_is_already_paid() {
        assert_eq!(
            precreate_outcome(business("ACQ.TRADE_HAS_SUCCESS")),
            CreateOutcome::AlreadyPaid
        );
    }

    #[test]
    fn precreate_definitive_refusals_name_the_sub_code() {
        for sub_code in [
            "ACQ.TRADE_HAS_CLOSE",
            "ACQ.INVALID_PARAMETER",
            "ACQ.ACCESS_FORBIDDEN",
            "ACQ.EXIST_FORBIDDEN_WORD",
            "ACQ.PARTNER_ERROR",
            "ACQ.TOTAL_FEE_EXCEED",
        ] {
            assert_eq!(
                precreate_outcome(business(sub_code)),
                CreateOutcome::Refused {
                    code: sub_code.into(),
                    reason: format!("40004 {sub_code}: 说明"),
                }
            );
        }
        for code in ["20001", "40001", "40002", "40006"] {
            let outcome = precreate_outcome(error(code, Some("isv.invalid-signature")));
            assert!(
                matches!(&outcome, CreateOutcome::Refused { code, .. } if code == "isv.invalid-signature"),
                "{outcome:?}"
            );
        }
    }

    #[test]
    fn precreate_system_errors_and_unknown_codes_are_ambiguous() {
        for sub_code in [
            "ACQ.SYSTEM_ERROR",
            "ACQ.CONTEXT_INCONSISTENT",
            "ACQ.TRADE_BUYER_NOT_MATCH",
            "ACQ.SOMETHING_NEW",
        ] {
            assert!(
                is_ambiguous_create(&precreate_outcome(business(sub_code))),
                "{sub_code}"
            );
        }
        assert!(is_ambiguous_create(&precreate_outcome(error(
            "20000",
            Some("isp.unknow-error")
        ))));
        assert!(is_ambiguous_create(&precreate_outcome(error(
            "40004", None
        ))));
        assert!(is_ambiguous_create(&precreate_outcome(error(
            "99999", None
        ))));
        assert!(is_ambiguous_create(&precreate_outcome(Reply::Untrusted(
            "x".into()
        ))));
    }

    #[test]
    fn query_states_map_code_by_code() {
        let paid = success(json!({
            "trade_status": "TRADE_SUCCESS", "trade_no": "2026030122001", "total_amount": "88.80",
            "buyer_user_id": "2088102177846880", "buyer_open_id": "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5"
        }));
        let TradeState::Paid {
            provider_txn_id,
            amount,
            account,
        } = trade_state(paid)
        else {
            panic!("paid");
        };
        assert_eq!(provider_txn_id, "2026030122001");
        assert_eq!(amount, Amount::from_fen(8880).unwrap());
        let account = account.unwrap();
        assert_eq!(account.kind(), PayerAccountKind::AlipayUserId);
        assert_eq!(account.expose(), "2088102177846880");

        let finished = success(json!({
            "trade_status": "TRADE_FINISHED", "trade_no": "t2", "total_amount": "1.00",
            "buyer_open_id": "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5"
        }));
        let TradeState::Paid { account, .. } = trade_state(finished) else {
            panic!("finished is paid");
        };
        assert_eq!(account.unwrap().kind(), PayerAccountKind::AlipayOpenId);

        let waiting = success(json!({"trade_status": "WAIT_BUYER_PAY"}));
        assert_eq!(trade_state(waiting), TradeState::Waiting);
        let closed = success(json!({"trade_status": "TRADE_CLOSED"}));
        assert!(matches!(trade_state(closed), TradeState::Closed { .. }));
        assert_eq!(
            trade_state(business("ACQ.TRADE_NOT_EXIST")),
            TradeState::NotFound
        );
    }

    #[test]
    fn query_failures_and_unreadable_states_are_ambiguous() {
        let ambiguous = |reply| matches!(trade_state(reply), TradeState::Ambiguous { .. });
        assert!(ambiguous(business("ACQ.SYSTEM_ERROR")));
        assert!(ambiguous(business("ACQ.INVALID_PARAMETER")));
        assert!(ambiguous(business("ACQ.NEW_CODE")));
        assert!(ambiguous(error("20000", None)));
        assert!(ambiguous(error("40002", Some("isv.invalid-signature"))));
        assert!(ambiguous(success(json!({"trade_status": "TRADE_PENDING"}))));
        assert!(ambiguous(success(json!({}))));
        let no_trade_no = json!({"trade_status": "TRADE_SUCCESS", "total_amount": "1.00"});
        assert!(ambiguous(success(no_trade_no)));
        let bad_amount =
            json!({"trade_status": "TRADE_SUCCESS", "trade_no": "t", "total_amount": "1.001"});
        assert!(ambiguous(success(bad_amount)));
    }

    #[test]
    fn close_outcomes_map_code_by_code() {
        assert_eq!(close_outcome(success(json!({}))), CloseOutcome::Closed);
        assert_eq!(
            close_outcome(business("ACQ.TRADE_NOT_EXIST")),
            CloseOutcome::NotFound
        );
        let ambiguous = |reply| matches!(close_outcome(reply), CloseOutcome::Ambiguous { .. });
        assert!(ambiguous(business("ACQ.TRADE_STATUS_ERROR")));
        assert!(ambiguous(business("ACQ.SYSTEM_ERROR")));
        assert!(ambiguous(business("ACQ.INVALID_PARAMETER")));
        assert!(ambiguous(business("ACQ.NEW_CODE")));
        assert!(ambiguous(error("20000", None)));
        assert!(ambiguous(error("40006", None)));
        assert!(ambiguous(Reply::Untrusted("x".into())));
    }

    fn request(instalments: Option<ProviderInstalments>) -> CollectRequest {
        CollectRequest {
            order_id: OrderId::parse("ord_1").unwrap(),
            amount: Amount::from_fen(128_800).unwrap(),
            subject: "  咖啡机  ".into(),
            expires_at: DateTime::parse_from_rfc3339("2026-03-01T02:15:00.999Z")
                .unwrap()
                .to_utc(),
            method: PayMethod::Scan,
            instalments,
            shop_id: None,
        }
    }

    #[test]
    fn order_fields_are_yuan_beijing_time_and_huabei() {
        let biz = order_fields(&request(None)).unwrap();
        assert_eq!(
            Value::Object(biz).to_string(),
            r#"{"out_trade_no":"ord_1","subject":"咖啡机","time_expire":"2026-03-01 10:15:00","total_amount":"1288.00"}"#
        );
        let shop_pays = Some(ProviderInstalments {
            periods: 6,
            shop_pays_fee: true,
        });
        let biz = order_fields(&request(shop_pays)).unwrap();
        assert_eq!(
            biz["extend_params"],
            json!({"hb_fq_num": "6", "hb_fq_seller_percent": "100"})
        );
        let buyer_pays = Some(ProviderInstalments {
            periods: 12,
            shop_pays_fee: false,
        });
        let biz = order_fields(&request(buyer_pays)).unwrap();
        assert_eq!(
            biz["extend_params"],
            json!({"hb_fq_num": "12", "hb_fq_seller_percent": "0"})
        );
        let odd = Some(ProviderInstalments {
            periods: 4,
            shop_pays_fee: true,
        });
        assert!(matches!(
            order_fields(&request(odd)),
            Err(CreateOutcome::Refused { code, .. }) if code == "INSTALMENTS_NOT_SUPPORTED"
        ));
    }

    #[test]
    fn an_empty_subject_falls_back_to_the_order_id() {
        let mut request = request(None);
        request.subject = " ".into();
        assert_eq!(subject(&request), "ord_1");
        request.subject = "款".repeat(300);
        assert_eq!(subject(&request).chars().count(), 256);
    }
}
