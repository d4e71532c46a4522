//! Douyin Pay's ecpay v1 server API as the simulator speaks it (GATEWAYS.md
//! §3.2; https://developer.open-douyin.com/docs/resource/zh-CN/mini-app/develop/server/ecpay/refund-list/refund):
//! `POST {base}/create_order`, `/query_order`, `/create_refund`,
//! `/query_refund`, JSON in and out, each request signed with `sign`: every
//! parameter but `app_id`, `thirdparty_id`, `sign` and
//! `other_settle_params`, as text, trimmed, one pair of surrounding quotes
//! removed, `""` and `"null"` left out, with the salt added, the values
//! sorted, joined by `&`, lower-case hex MD5. Answers are not signed:
//! `{"err_no": 0, "err_tips": "", …}`.
//!
//! | call | answers |
//! |---|---|
//! | `create_order` | `data{order_id, order_token}` (the same again for the same parameters); `err_no` 2010 (other parameters), 2011 (paid or expired) |
//! | `query_order` | `payment_info.order_status` `PROCESSING`/`SUCCESS`/`TIMEOUT`; 2009 not found |
//! | `create_refund` | `refund_no` (the same on a repeat; a fault's failure shows in `query_refund`); 2009/2011 order missing or unpaid, 2012 over what is left, 2010 id reused differently; lost answer (fault) |
//! | `query_refund` | `refundInfo.refund_status` `SUCCESS`/`FAIL`; 2009 not found |
//!
//! The daily bill (`GET …/api/apps/bill`, `bill`) is served from the book.
//!
//! The `err_no` numbers are UNCONFIRMED (no official table was found), as
//! is the lost answer's `500` with `err_no` -1. A bad `sign` is 2008.

use chrono::{Duration, NaiveDate};
use md5::{Digest, Md5};
use qrpay_domain::money::MAX_AMOUNT_FEN;
use qrpay_domain::{Amount, Provider};
use qrpay_provider::DouyinSigner;
use serde_json::{json, Map, Value};

use super::bills;
use super::book::{Create, NewRefund, Order, OrderState, Refund, RefundOutcome, RefundState};
use super::keys::{Material, DOUYIN_APP_ID, DOUYIN_MERCHANT_ID};
use super::{notify_path, Ctx, Sim};
use crate::local_http::{LocalRequest, LocalResponse};

const CALLBACK_PATH: &str = "/callbacks/douyin";
const ERR_PARAM: i64 = 2001;
const ERR_SIGN: i64 = 2008;
const ERR_NOT_FOUND: i64 = 2009;
const ERR_DUPLICATE: i64 = 2010;
const ERR_STATE: i64 = 2011;
const ERR_AMOUNT: i64 = 2012;
/// Parameters the signature leaves out.
const UNSIGNED: [&str; 4] = ["app_id", "thirdparty_id", "sign", "other_settle_params"];

/// The simulated Douyin Pay, for our one app.
pub struct Douyin {
    pub sim: Sim,
    salt: String,
}

/// What a call answers.
enum Reply {
    Ok(Value),
    Err(i64, &'static str),
    Lost,
}

impl Douyin {
    pub fn new(material: &'static Material) -> Result<Douyin, String> {
        let signer = DouyinSigner::new(DOUYIN_APP_ID, material.douyin_token.clone())
            .map_err(|e| format!("douyin simulator: {e}"))?;
        Ok(Douyin {
            sim: Sim::new(Provider::Douyin, Box::new(signer), 0x646f_7579_696e),
            salt: material.douyin_salt.expose().to_owned(),
        })
    }

    /// One call under the ecpay base (`op` is `/create_order`, …).
    pub async fn api(&self, ctx: &Ctx<'_>, op: &str, request: &LocalRequest) -> LocalResponse {
        let reply = match self.check(request) {
            Err(refusal) => refusal,
            Ok(params) => match (request.method.as_str(), op) {
                ("POST", "/create_order") => self.create_order(ctx, params),
                ("POST", "/query_order") => self.query_order(ctx, &params),
                ("POST", "/create_refund") => self.create_refund(ctx, params).await,
                ("POST", "/query_refund") => self.query_refund(&params),
                _ => Reply::Err(ERR_PARAM, "接口不存在"),
            },
        };
        let (status, body) = match reply {
            Reply::Ok(Value::Object(fields)) => {
                let mut body =
                    Map::from_iter([("err_no".into(), json!(0)), ("err_tips".into(), json!(""))]);
                body.extend(fields);
                (200, Value::Object(body))
            }
            Reply::Ok(_) => (200, json!({"err_no": 0, "err_tips": ""})),
            Reply::Err(err_no, tips) => (200, json!({"err_no": err_no, "err_tips": tips})),
            Reply::Lost => {
                ctx.settings.lose_answer().await;
                (
                    500,
                    json!({"err_no": -1, "err_tips": "系统错误，请稍后重试"}),
                )
            }
        };
        LocalResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    /// The JSON parameters, our app id and a `sign` matching them.
    fn check(&self, request: &LocalRequest) -> Result<Map<String, Value>, Reply> {
        let Ok(Value::Object(params)) = serde_json::from_slice::<Value>(&request.body) else {
            return Err(Reply::Err(ERR_PARAM, "请求体不是 JSON 对象"));
        };
        if params.get("app_id").and_then(Value::as_str) != Some(DOUYIN_APP_ID) {
            return Err(Reply::Err(ERR_PARAM, "app_id 无效"));
        }
        let given = params
            .get("sign")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !given.eq_ignore_ascii_case(&sign(&params, &self.salt)) {
            return Err(Reply::Err(ERR_SIGN, "签名校验失败"));
        }
        Ok(params)
    }

    fn create_order(&self, ctx: &Ctx<'_>, mut params: Map<String, Value>) -> Reply {
        params.remove("sign");
        let Some(out_order_no) = text(&params, "out_order_no", 64) else {
            return Reply::Err(ERR_PARAM, "out_order_no 无效");
        };
        let amount = fen(&params, "total_amount");
        let valid_s = params
            .get("valid_time")
            .and_then(Value::as_i64)
            .filter(|s| (900..=172_800).contains(s));
        let described =
            text(&params, "subject", 128).is_some() && text(&params, "body", 128).is_some();
        let (Some(amount), Some(valid_s), true) = (amount, valid_s, described) else {
            return Reply::Err(ERR_PARAM, "total_amount, subject, body 或 valid_time 无效");
        };
        let notify = params
            .get("notify_url")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let order = Order {
            out_trade_no: out_order_no.to_owned(),
            product: "ecpay",
            amount,
            code: format!("CgYIASAHKAE{}", qrpay_provider::wechatpay::nonce()),
            provider_order_id: Some(self.sim.id("N", ctx.now, 5)),
            expires_at: ctx.now + Duration::seconds(valid_s),
            notify_path: notify_path(notify.as_deref(), CALLBACK_PATH),
            payer: None,
            opened: true,
            instalments: None,
            return_url: None,
            state: OrderState::Unpaid,
            refunded_fen: 0,
            request: Value::Object(params),
        };
        match self.sim.book().create_order(order, ctx.now) {
            Create::New(o) | Create::Same(o) => Reply::Ok(json!({"data": {
                "order_id": o.provider_order_id, "order_token": o.code}})),
            Create::Conflict => Reply::Err(ERR_DUPLICATE, "订单号重复"),
            Create::AlreadyPaid | Create::Closed => Reply::Err(ERR_STATE, "订单已支付或已过期"),
            Create::Full => Reply::Lost,
        }
    }

    fn query_order(&self, ctx: &Ctx<'_>, params: &Map<String, Value>) -> Reply {
        let no = params
            .get("out_order_no")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let book = self.sim.book();
        let Some(order) = book.order(no) else {
            return Reply::Err(ERR_NOT_FOUND, "订单不存在");
        };
        let status = match &order.state {
            OrderState::Paid(_) => "SUCCESS",
            OrderState::Unpaid if order.expired(ctx.now) => "TIMEOUT",
            OrderState::Unpaid => "PROCESSING",
            OrderState::Closed => "FAIL",
        };
        let mut info = json!({"total_fee": order.amount.fen(), "order_status": status,
            "cp_extra": order.request.get("cp_extra").cloned().unwrap_or(json!(""))});
        if let Some(paid) = order.payment() {
            info["pay_time"] = json!(super::beijing(paid.at)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string());
            info["way"] = json!("10");
            info["channel_no"] = json!(paid.txn_id);
        }
        Reply::Ok(
            json!({"out_order_no": order.out_trade_no, "order_id": order.provider_order_id,
            "payment_info": info}),
        )
    }

    async fn create_refund(&self, ctx: &Ctx<'_>, mut params: Map<String, Value>) -> Reply {
        params.remove("sign");
        let (Some(no), Some(refund_no), Some(amount)) = (
            text(&params, "out_order_no", 64),
            text(&params, "out_refund_no", 64),
            fen(&params, "refund_amount"),
        ) else {
            return Reply::Err(
                ERR_PARAM,
                "out_order_no, out_refund_no 或 refund_amount 无效",
            );
        };
        if text(&params, "reason", 100).is_none() {
            return Reply::Err(ERR_PARAM, "reason 无效");
        }
        let new = NewRefund {
            out_refund_no: refund_no.to_owned(),
            out_trade_no: no.to_owned(),
            amount,
            notify_path: params
                .get("notify_url")
                .and_then(Value::as_str)
                .map(|u| notify_path(Some(u), CALLBACK_PATH)),
            request: Value::Object(params.clone()),
        };
        let refund_id = self.sim.id("R", ctx.now, 5);
        let outcome =
            self.sim
                .book()
                .refund(new, refund_id, "FAIL", || self.sim.draws.next(), ctx.now);
        let answer = |r: &Refund| Reply::Ok(json!({"refund_no": r.refund_id}));
        match outcome {
            RefundOutcome::Created(r) => {
                if matches!(r.state, RefundState::Succeeded { .. }) {
                    self.sim.refund_moved(ctx, &r).await;
                }
                answer(&r)
            }
            RefundOutcome::Repeat(r) => answer(&r),
            RefundOutcome::Lost(moved) => {
                if let Some(r) = moved {
                    self.sim.refund_moved(ctx, &r).await;
                }
                Reply::Lost
            }
            RefundOutcome::Conflict => Reply::Err(ERR_DUPLICATE, "退款单号重复"),
            RefundOutcome::OrderNotFound => Reply::Err(ERR_NOT_FOUND, "订单不存在"),
            RefundOutcome::NotPaid => Reply::Err(ERR_STATE, "订单未支付"),
            RefundOutcome::Exceeds => Reply::Err(ERR_AMOUNT, "退款金额超过可退金额"),
            RefundOutcome::Full => Reply::Lost,
        }
    }

    fn query_refund(&self, params: &Map<String, Value>) -> Reply {
        let no = params
            .get("out_refund_no")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let book = self.sim.book();
        let Some(r) = book.refund_of(no) else {
            return Reply::Err(ERR_NOT_FOUND, "退款单不存在");
        };
        let status = match r.state {
            RefundState::Succeeded { .. } => "SUCCESS",
            RefundState::Failed { .. } => "FAIL",
        };
        Reply::Ok(json!({"refundInfo": {"refund_no": r.refund_id,
            "refund_amount": r.amount.fen(), "refund_status": status}}))
    }
}

/// The request `sign` (the official demo's rule, GATEWAYS.md §3.2).
/// The payment table's and the refund table's column names (research notes
/// /work/notes/bills-research.md §3.1).
const PAYMENT_COLUMNS: &str =
    "序号,支付时间,商户号,openId,订单号,平台订单号,渠道订单号,订单金额,支付方式,支付状态";
const REFUND_COLUMNS: &str = "序号,退款时间,商户号,openId,订单号,渠道订单号,订单金额,支付方式,退款类型,退款单号,平台退款单号,退款状态,退款完成时间,退款金额";
/// `err_no` of a parameter error (documented), and of a system error.
const BILL_PARAM: i64 = 1;
const BILL_SYSTEM: i64 = -1;

impl Douyin {
    /// `GET /sim/douyin/api/apps/bill?start_date&end_date&seller&bill_type
    /// &app_id&sign`: the table (CSV, amounts in fen, Beijing times) of the
    /// days from `start_date` to `end_date`, once the last has ended; a
    /// day not over yet is a system error (`err_no` -1: Douyin documents no
    /// "not generated" answer). `payment` and `refund` only (no `settle`).
    pub fn bill(&self, ctx: &Ctx<'_>, request: &LocalRequest) -> LocalResponse {
        let (status, content_type, body) = match self.bill_table(ctx, request) {
            Ok(csv) => (200, "text/csv;charset=utf-8", csv.into_bytes()),
            Err((err_no, tips)) => (
                200,
                "application/json",
                json!({"err_no": err_no, "err_tips": tips})
                    .to_string()
                    .into_bytes(),
            ),
        };
        LocalResponse {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body,
        }
    }

    fn bill_table(
        &self,
        ctx: &Ctx<'_>,
        request: &LocalRequest,
    ) -> Result<String, (i64, &'static str)> {
        let params: Map<String, Value> = form_urlencoded::parse(request.query.as_bytes())
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        let field = |name: &str| params.get(name).and_then(Value::as_str).unwrap_or_default();
        if request.method != "GET" || field("app_id") != DOUYIN_APP_ID {
            return Err((BILL_PARAM, "app_id 无效"));
        }
        if !field("sign").eq_ignore_ascii_case(&sign(&params, &self.salt)) {
            return Err((ERR_SIGN, "签名校验失败"));
        }
        if field("seller") != DOUYIN_MERCHANT_ID {
            return Err((BILL_PARAM, "seller 无效"));
        }
        let date = |name: &str| NaiveDate::parse_from_str(field(name), "%Y%m%d").ok();
        let (Some(start), Some(end)) = (date("start_date"), date("end_date")) else {
            return Err((BILL_PARAM, "日期格式错误"));
        };
        if end < start {
            return Err((BILL_PARAM, "end_date is before start_date"));
        }
        if !bills::published(end, ctx.now) {
            return Err((BILL_SYSTEM, "账单未生成"));
        }
        let payments = match field("bill_type") {
            "payment" => true,
            "refund" => false,
            _ => return Err((BILL_PARAM, "bill_type 无效")),
        };
        let book = self.sim.book();
        let mut out = String::from(if payments {
            PAYMENT_COLUMNS
        } else {
            REFUND_COLUMNS
        });
        out.push('\n');
        let mut serial = 0u64;
        let time = |at| super::beijing(at).format("%Y-%m-%d %H:%M:%S").to_string();
        for day in start.iter_days().take_while(|d| *d <= end) {
            let (paid, refunded) = bills::day(&book, day);
            if payments {
                for p in paid {
                    serial += 1;
                    out.push_str(&format!(
                        "{serial},{},{DOUYIN_MERCHANT_ID},,{},{},,{},,SUCCESS\n",
                        time(p.at),
                        p.out_trade_no,
                        p.provider_order_id.as_deref().unwrap_or(&p.txn_id),
                        p.amount.fen()
                    ));
                }
            } else {
                for r in refunded {
                    serial += 1;
                    out.push_str(&format!(
                        "{serial},{},{DOUYIN_MERCHANT_ID},,{},,{},,,{},{},SUCCESS,{},{}\n",
                        time(r.asked_at),
                        r.out_trade_no,
                        r.order_amount.fen(),
                        r.out_refund_no,
                        r.refund_id,
                        time(r.at),
                        r.amount.fen()
                    ));
                }
            }
        }
        Ok(out)
    }
}

fn sign(params: &Map<String, Value>, salt: &str) -> String {
    let mut values: Vec<String> = params
        .iter()
        .filter(|(k, _)| !UNSIGNED.contains(&k.as_str()))
        .filter_map(|(_, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let trimmed = text.trim();
            let unquoted = trimmed
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .unwrap_or(trimmed)
                .trim();
            (!unquoted.is_empty() && unquoted != "null").then(|| unquoted.to_owned())
        })
        .collect();
    values.push(salt.to_owned());
    values.sort();
    hex::encode(Md5::digest(values.join("&").as_bytes()))
}

/// A string of 1 to `max` bytes.
fn text<'p>(params: &'p Map<String, Value>, name: &str, max: usize) -> Option<&'p str> {
    params
        .get(name)
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty() && t.len() <= max)
}

fn fen(params: &Map<String, Value>, name: &str) -> Option<Amount> {
    params
        .get(name)
        .and_then(Value::as_i64)
        .filter(|f| (1..=MAX_AMOUNT_FEN).contains(f))
        .and_then(|f| Amount::from_fen(f).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sign_follows_the_demo_rule() {
        let params: Map<String, Value> = serde_json::from_str(
            r#"{"app_id":"tt1","out_order_no":"o1","total_amount":100,"subject":" \"a b\" ",
                "body":"","cp_extra":"null","valid_time":900,"thirdparty_id":"x","sign":"s"}"#,
        )
        .unwrap();
        // Values: "o1", "100", "a b", "900", and the salt; sorted.
        let expected = hex::encode(Md5::digest(b"100&900&SALT&a b&o1"));
        assert_eq!(sign(&params, "SALT"), expected);
    }
}
