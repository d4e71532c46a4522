//! The simulated WeChat Pay endpoints (GATEWAYS.md §1.5-1.7), each answering
//! as documented:
//!
//! | endpoint | answers |
//! |---|---|
//! | `POST /v3/pay/transactions/{native,jsapi,h5}` | 200 `code_url`/`prepay_id`/`h5_url` (the same again for the same parameters before expiry); 403 `OUT_TRADE_NO_USED` (other parameters); 403 `TRADE_ERROR` (already paid; UNCONFIRMED code); 400 `ORDER_CLOSED` (closed or expired); 400 `PARAM_ERROR`, `APPID_MCHID_NOT_MATCH` |
//! | `GET …/out-trade-no/{no}?mchid=` | 200 `trade_state` `NOTPAY`/`SUCCESS`/`REFUND`/`CLOSED`; 404 `ORDER_NOT_EXIST` |
//! | `POST …/out-trade-no/{no}/close` | 204 (again: 204); 400 `ORDERPAID` (paid; the v2 code, UNCONFIRMED for v3); 404 `ORDER_NOT_EXIST` |
//! | `POST /v3/refund/domestic/refunds` | 200 `PROCESSING` (new), the record on a repeat; 403 `USER_ACCOUNT_ABNORMAL` (fault: fail); 404 `RESOURCE_NOT_EXISTS` (unknown or unpaid order); 400 `INVALID_REQUEST` (over the refundable amount, or the id reused differently); lost answer (fault) |
//! | `GET /v3/refund/domestic/refunds/{no}` | 200 `SUCCESS`/`CLOSED`; 404 `RESOURCE_NOT_EXISTS` |
//! | `POST /v3/fund-app/mch-transfer/transfer-bills` | 200 `SUCCESS` (or `WAIT_USER_CONFIRM` + `package_info` when payees confirm), `FAIL` + `ACCOUNT_FROZEN` (fault: fail), the record on a repeat; 400 `PARAM_ERROR` (bad field, `user_name` that does not decrypt, missing from ¥2,000, no `Wechatpay-Serial`); 403 `NO_AUTH` (scene not granted); 400 `INVALID_REQUEST` (id reused differently); lost answer (fault) |
//! | `GET …/transfer-bills/out-bill-no/{no}` | 200 the bill; 404 `NOT_FOUND` |
//! | `POST …/out-bill-no/{no}/cancel` | 200 `CANCELLED`; 400 `INVALID_REQUEST` (no longer waiting); 404 `NOT_FOUND` |
//! | `GET /v3/bill/{tradebill,fundflowbill}`, `GET /v3/billdownload/file` | the day's bills (`super::wechatpay_bill`) |

use chrono::{DateTime, Duration, Utc};
use qrpay_domain::money::MAX_AMOUNT_FEN;
use qrpay_domain::Amount;
use rsa::Oaep;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::book::{
    Create, NewRefund, NewTransfer, Order, OrderState, Refund, RefundOutcome, RefundState,
    Transfer, TransferOutcome, TransferState,
};
use super::keys::{WECHATPAY_APPID, WECHATPAY_MCHID, WECHATPAY_TRANSFER_SCENE_ID};
use super::wechatpay::{Reply, Wechatpay};
use super::wechatpay_bill::BillKind;
use super::{beijing, header, notify_path, Ctx};
use crate::local_http::{LocalRequest, LocalResponse};

const CALLBACK_PATH: &str = "/callbacks/wechatpay";
/// An order without `time_expire` can be paid for 7 days; at most 90.
const DEFAULT_EXPIRY_DAYS: i64 = 7;
const MAX_EXPIRY_DAYS: i64 = 90;
/// From ¥2,000 a transfer must name the payee (transfer-to-user page).
const NAME_REQUIRED_FROM_FEN: i64 = 200_000;
/// How long a payee has to confirm (https://pay.weixin.qq.com/doc/v3/merchant/4012716430).
const CONFIRM_WITHIN_HOURS: i64 = 24;

impl Wechatpay {
    /// Dispatches a checked request.
    pub(super) async fn route(&self, ctx: &Ctx<'_>, rest: &str, request: &LocalRequest) -> Reply {
        let segments: Vec<&str> = rest.split('/').skip(1).collect();
        let body = &request.body;
        match (request.method.as_str(), segments.as_slice()) {
            ("POST", ["v3", "pay", "transactions", product @ ("native" | "jsapi" | "h5")]) => {
                self.create_order(ctx, product, body)
            }
            ("GET", ["v3", "pay", "transactions", "out-trade-no", no]) => {
                self.query_order(ctx, no, &request.query)
            }
            ("POST", ["v3", "pay", "transactions", "out-trade-no", no, "close"]) => {
                self.close_order(no, body)
            }
            ("POST", ["v3", "refund", "domestic", "refunds"]) => self.refund(ctx, body).await,
            ("GET", ["v3", "refund", "domestic", "refunds", no]) => self.query_refund(no),
            ("POST", ["v3", "fund-app", "mch-transfer", "transfer-bills"]) => {
                self.transfer(ctx, request)
            }
            ("GET", ["v3", "fund-app", "mch-transfer", "transfer-bills", "out-bill-no", no]) => {
                self.query_transfer(ctx, no)
            }
            (
                "POST",
                ["v3", "fund-app", "mch-transfer", "transfer-bills", "out-bill-no", no, "cancel"],
            ) => self.cancel_transfer(ctx, no),
            ("GET", ["v3", "bill", "tradebill"]) => {
                self.apply_bill(ctx, BillKind::Trade, &request.query)
            }
            ("GET", ["v3", "bill", "fundflowbill"]) => {
                self.apply_bill(ctx, BillKind::FundFlow, &request.query)
            }
            ("GET", ["v3", "billdownload", "file"]) => self.download_bill(ctx, &request.query),
            _ => Reply::error(404, "NOT_FOUND", "no such API"),
        }
    }

    /// `POST /v3/pay/transactions/{native,jsapi,h5}`
    fn create_order(&self, ctx: &Ctx<'_>, product: &str, body: &[u8]) -> Reply {
        let order = match self.new_order(ctx, product, body) {
            Ok(order) => order,
            Err(refusal) => return refusal,
        };
        let key = match product {
            "native" => "code_url",
            "jsapi" => "prepay_id",
            _ => "h5_url",
        };
        match self.sim.book().create_order(order, ctx.now) {
            Create::New(o) | Create::Same(o) => {
                let mut answer = serde_json::Map::new();
                answer.insert(key.to_owned(), Value::String(o.code));
                Reply::ok(Value::Object(answer))
            }
            Create::Conflict => Reply::error(403, "OUT_TRADE_NO_USED", "商户订单号重复"),
            Create::AlreadyPaid => Reply::error(403, "TRADE_ERROR", "订单已支付"),
            Create::Closed => Reply::error(400, "ORDER_CLOSED", "当前订单已关闭，请重新下单"),
            Create::Full => Reply::Lost,
        }
    }

    /// The order a create describes, or the refusal of its fields.
    fn new_order(&self, ctx: &Ctx<'_>, product: &str, body: &[u8]) -> Result<Order, Reply> {
        let v = json_body(body)?;
        if text(&v, "/appid")? != WECHATPAY_APPID || text(&v, "/mchid")? != WECHATPAY_MCHID {
            return Err(Reply::error(
                400,
                "APPID_MCHID_NOT_MATCH",
                "appid和mch_id不匹配",
            ));
        }
        limited(&v, "/description", 127)?;
        let out_trade_no = text(&v, "/out_trade_no")?;
        if !(6..=32).contains(&out_trade_no.len())
            || !out_trade_no
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-|*".contains(&b))
        {
            return Err(param_error("/out_trade_no"));
        }
        let notify_url = text(&v, "/notify_url")?;
        if notify_url.len() > 255 || notify_url.contains('?') || !notify_url.contains("://") {
            return Err(param_error("/notify_url"));
        }
        if v.get("attach").is_some() {
            limited(&v, "/attach", 128)?;
        }
        let amount = fen(&v, "/amount/total")?;
        if v.pointer("/amount/currency").is_some_and(|c| c != "CNY") {
            return Err(param_error("/amount/currency"));
        }
        let payer = match product {
            "jsapi" => Some(limited(&v, "/payer/openid", 128)?.to_owned()),
            "h5" => {
                text(&v, "/scene_info/payer_client_ip")?;
                text(&v, "/scene_info/h5_info/type")?;
                None
            }
            _ => None,
        };
        let code = self.code(ctx, product);
        Ok(Order {
            out_trade_no: out_trade_no.to_owned(),
            product: match product {
                "native" => "NATIVE",
                "jsapi" => "JSAPI",
                _ => "MWEB",
            },
            expires_at: expiry(&v, ctx.now)?,
            notify_path: notify_path(Some(notify_url), CALLBACK_PATH),
            request: v,
            amount,
            code,
            provider_order_id: None,
            payer,
            opened: true,
            instalments: None,
            return_url: None,
            state: OrderState::Unpaid,
            refunded_fen: 0,
        })
    }

    /// What the buyer's side is handed for a new order.
    fn code(&self, ctx: &Ctx<'_>, product: &str) -> String {
        let prepay_id = self.sim.id("wx", ctx.now, 18);
        match product {
            "native" => format!(
                "weixin://wxpay/bizpayurl?pr={}",
                &qrpay_provider::wechatpay::nonce()[..10]
            ),
            "jsapi" => prepay_id,
            // WeChat's own middle page (wx.tenpay.com) as this stack serves it.
            _ => format!(
                "{}?prepay_id={prepay_id}&package={}",
                self.h5_page,
                &qrpay_provider::wechatpay::nonce()[..10]
            ),
        }
    }

    /// `GET /v3/pay/transactions/out-trade-no/{no}?mchid=`
    fn query_order(&self, ctx: &Ctx<'_>, no: &str, query: &str) -> Reply {
        let mchid = form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "mchid")
            .map(|(_, v)| v.into_owned());
        match mchid.as_deref() {
            None => return param_error("mchid"),
            Some(WECHATPAY_MCHID) => {}
            Some(_) => return Reply::error(400, "MCH_NOT_EXISTS", "商户号不存在"),
        }
        let book = self.sim.book();
        let Some(order) = book.order(no) else {
            return Reply::error(404, "ORDER_NOT_EXIST", "订单不存在");
        };
        let (state, desc) = match &order.state {
            // Past `time_expire` nobody can pay it: WeChat closes it (UNCONFIRMED state name).
            OrderState::Unpaid if order.expired(ctx.now) => ("CLOSED", "订单已关闭"),
            OrderState::Unpaid => ("NOTPAY", "订单未支付"),
            OrderState::Closed => ("CLOSED", "订单已关闭"),
            OrderState::Paid(_) if order.refunded_fen > 0 => ("REFUND", "转入退款"),
            OrderState::Paid(_) => ("SUCCESS", "支付成功"),
        };
        let mut answer = json!({
            "appid": WECHATPAY_APPID, "mchid": WECHATPAY_MCHID, "out_trade_no": order.out_trade_no,
            "trade_type": order.product, "trade_state": state, "trade_state_desc": desc,
            "amount": {"total": order.amount.fen(), "currency": "CNY"},
        });
        if let Some(attach) = order.request.get("attach") {
            answer["attach"] = attach.clone();
        }
        if let Some(paid) = order.payment() {
            answer["transaction_id"] = json!(paid.txn_id);
            answer["bank_type"] = json!("OTHERS");
            answer["success_time"] = json!(rfc3339(paid.at));
            answer["payer"] = json!({"openid": paid.payer});
            answer["amount"]["payer_total"] = json!(order.amount.fen());
            answer["amount"]["payer_currency"] = json!("CNY");
        }
        Reply::ok(answer)
    }

    /// `POST /v3/pay/transactions/out-trade-no/{no}/close` `{"mchid"}`
    fn close_order(&self, no: &str, body: &[u8]) -> Reply {
        let v = match json_body(body) {
            Ok(v) => v,
            Err(refusal) => return refusal,
        };
        if v.get("mchid").and_then(Value::as_str) != Some(WECHATPAY_MCHID) {
            return param_error("/mchid");
        }
        match self.sim.book().close(no) {
            None => Reply::error(404, "ORDER_NOT_EXIST", "订单不存在"),
            Some(order) if order.payment().is_some() => {
                Reply::error(400, "ORDERPAID", "订单已支付，不能发起关单")
            }
            Some(_) => Reply::NoContent,
        }
    }

    /// `POST /v3/refund/domestic/refunds`
    async fn refund(&self, ctx: &Ctx<'_>, body: &[u8]) -> Reply {
        let new = match refund_request(body) {
            Ok(new) => new,
            Err(refusal) => return refusal,
        };
        let total = new.request.pointer("/amount/total").and_then(Value::as_i64);
        let order_total = self
            .sim
            .book()
            .order(&new.out_trade_no)
            .map(|o| o.amount.fen());
        if order_total.is_some_and(|t| Some(t) != total) {
            return Reply::error(400, "INVALID_REQUEST", "订单金额与原订单不一致");
        }
        let refund_id = self.sim.id("50", ctx.now, 16);
        let outcome = self.sim.book().refund(
            new,
            refund_id,
            "USER_ACCOUNT_ABNORMAL",
            || self.sim.draws.next(),
            ctx.now,
        );
        match outcome {
            RefundOutcome::Created(r) => {
                if let RefundState::Failed { reason } = r.state {
                    return Reply::error(403, reason, "退款请求失败，用户帐号异常");
                }
                self.sim.refund_moved(ctx, &r).await;
                Reply::ok(refund_view(&r, "PROCESSING"))
            }
            RefundOutcome::Repeat(r) => match r.state {
                RefundState::Failed { reason } => {
                    Reply::error(403, reason, "退款请求失败，用户帐号异常")
                }
                RefundState::Succeeded { .. } => Reply::ok(refund_view(&r, "SUCCESS")),
            },
            RefundOutcome::Lost(moved) => {
                if let Some(r) = moved {
                    self.sim.refund_moved(ctx, &r).await;
                }
                Reply::Lost
            }
            RefundOutcome::Conflict => {
                Reply::error(400, "INVALID_REQUEST", "退款单号已用于另一笔退款")
            }
            RefundOutcome::OrderNotFound | RefundOutcome::NotPaid => {
                Reply::error(404, "RESOURCE_NOT_EXISTS", "订单不存在或未支付")
            }
            RefundOutcome::Exceeds => {
                Reply::error(400, "INVALID_REQUEST", "申请退款金额超过订单可退金额")
            }
            RefundOutcome::Full => Reply::Lost,
        }
    }

    /// `GET /v3/refund/domestic/refunds/{out_refund_no}`
    fn query_refund(&self, no: &str) -> Reply {
        match self.sim.book().refund_of(no) {
            None => Reply::error(404, "RESOURCE_NOT_EXISTS", "退款单不存在"),
            Some(r) => {
                let status = match r.state {
                    RefundState::Succeeded { .. } => "SUCCESS",
                    RefundState::Failed { .. } => "CLOSED",
                };
                Reply::ok(refund_view(r, status))
            }
        }
    }

    /// `POST /v3/fund-app/mch-transfer/transfer-bills`
    fn transfer(&self, ctx: &Ctx<'_>, request: &LocalRequest) -> Reply {
        if header(request, qrpay_provider::wechatpay::HEADER_SERIAL).is_none() {
            return param_error("Wechatpay-Serial");
        }
        let new = match self.transfer_request(ctx, &request.body) {
            Ok(new) => new,
            Err(refusal) => return refusal,
        };
        let bill_no = self.sim.id("1330", ctx.now, 14);
        match self
            .sim
            .book()
            .transfer(new, bill_no, || self.sim.draws.next(), ctx.now)
        {
            TransferOutcome::Created(t) => {
                if matches!(t.state, TransferState::Succeeded { .. }) {
                    self.sim.transfer_moved(&t, ctx.now);
                }
                Reply::ok(transfer_view(&t, false))
            }
            TransferOutcome::Repeat(t) => Reply::ok(transfer_view(&t, false)),
            TransferOutcome::Lost(moved) => {
                if let Some(t) =
                    moved.filter(|t| matches!(t.state, TransferState::Succeeded { .. }))
                {
                    self.sim.transfer_moved(&t, ctx.now);
                }
                Reply::Lost
            }
            TransferOutcome::Conflict => {
                Reply::error(400, "INVALID_REQUEST", "商户单号已用于另一笔转账")
            }
            TransferOutcome::Full => Reply::Lost,
        }
    }

    /// The transfer a create describes, or the refusal of its fields.
    fn transfer_request(&self, ctx: &Ctx<'_>, body: &[u8]) -> Result<NewTransfer, Reply> {
        let mut v = json_body(body)?;
        if text(&v, "/appid")? != WECHATPAY_APPID {
            return Err(param_error("/appid"));
        }
        let out_bill_no = text(&v, "/out_bill_no")?.to_owned();
        if out_bill_no.is_empty()
            || out_bill_no.len() > 32
            || !out_bill_no.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(param_error("/out_bill_no"));
        }
        if text(&v, "/transfer_scene_id")? != WECHATPAY_TRANSFER_SCENE_ID {
            return Err(Reply::error(403, "NO_AUTH", "商户号未获得该转账场景权限"));
        }
        let openid = limited(&v, "/openid", 64)?.to_owned();
        let amount = fen(&v, "/transfer_amount")?;
        limited(&v, "/transfer_remark", 32)?;
        scene_report(&v)?;
        let name = match v.as_object_mut().and_then(|o| o.remove("user_name")) {
            Some(cipher) => Some(self.decrypt_name(&cipher)?),
            None if amount.fen() >= NAME_REQUIRED_FROM_FEN => {
                return Err(param_error("/user_name"))
            }
            None => None,
        };
        // The name is compared by hash: OAEP ciphertexts differ every time.
        if let Some(name) = name {
            v["user_name_sha256"] = json!(hex::encode(Sha256::digest(name.expose().as_bytes())));
        }
        let waits = ctx.settings.wechatpay_payee_confirms.then(|| {
            let package = format!(
                "ABBQO+oYAAABAAAAAAAk+{}",
                qrpay_provider::wechatpay::nonce()
            );
            (package, ctx.now + Duration::hours(CONFIRM_WITHIN_HOURS))
        });
        Ok(NewTransfer {
            our_id: out_bill_no,
            amount,
            payee: openid,
            request: v,
            waits,
            failure: "ACCOUNT_FROZEN",
        })
    }

    /// `user_name`: RSAES-OAEP (SHA-1, MGF1-SHA-1) by the platform key, base64.
    fn decrypt_name(&self, cipher: &Value) -> Result<qrpay_domain::Secret, Reply> {
        use base64::Engine;
        let plain = cipher
            .as_str()
            .and_then(|c| base64::engine::general_purpose::STANDARD.decode(c).ok())
            .and_then(|c| {
                self.platform_key
                    .decrypt(Oaep::new::<sha1::Sha1>(), &c)
                    .ok()
            })
            .and_then(|p| String::from_utf8(p).ok())
            .filter(|p| !p.is_empty());
        plain
            .map(qrpay_domain::Secret::new)
            .ok_or_else(|| Reply::error(400, "PARAM_ERROR", "user_name 解密失败"))
    }

    /// `GET /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{no}`
    fn query_transfer(&self, ctx: &Ctx<'_>, no: &str) -> Reply {
        match self.sim.book().transfer_of(no, ctx.now) {
            None => Reply::error(404, "NOT_FOUND", "记录不存在"),
            Some(t) => Reply::ok(transfer_view(&t, true)),
        }
    }

    /// `POST /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{no}/cancel`
    fn cancel_transfer(&self, ctx: &Ctx<'_>, no: &str) -> Reply {
        match self.sim.book().cancel(no, ctx.now) {
            None => Reply::error(404, "NOT_FOUND", "记录不存在"),
            Some(Err(_)) => Reply::error(400, "INVALID_REQUEST", "当前转账单状态不允许撤销"),
            Some(Ok(t)) => Reply::ok(json!({
                "out_bill_no": t.our_id, "transfer_bill_no": t.provider_id,
                "state": "CANCELLED", "update_time": rfc3339(t.updated_at),
            })),
        }
    }

    /// `POST /sandbox/wechatpay/transfers/{out_bill_no}/confirm`: the payee
    /// confirms in WeChat and the money moves.
    pub(super) fn confirm(&self, ctx: &Ctx<'_>, no: &str) -> LocalResponse {
        use qrpay_http::{ApiError, ErrorCode};
        let confirmed = self.sim.book().confirm(no, ctx.now);
        match confirmed {
            None => LocalResponse::error(ApiError::new(
                ErrorCode::PayoutNotFound,
                "no such transfer bill",
            )),
            Some(Err(t)) => LocalResponse::error(ApiError::new(
                ErrorCode::InvalidState,
                format!(
                    "the bill is {}, not waiting for the payee",
                    state_of(&t.state)
                ),
            )),
            Some(Ok(t)) => {
                self.sim.transfer_moved(&t, ctx.now);
                super::ok(
                    &json!({"out_bill_no": t.our_id, "transfer_bill_no": t.provider_id, "state": state_of(&t.state)}),
                )
            }
        }
    }
}

fn state_of(state: &TransferState) -> &'static str {
    match state {
        TransferState::Waiting { .. } => "WAIT_USER_CONFIRM",
        TransferState::Succeeded { .. } => "SUCCESS",
        TransferState::Failed { .. } => "FAIL",
        TransferState::Cancelled => "CANCELLED",
    }
}

/// A bill as create (`full` false) or query answers it.
fn transfer_view(t: &Transfer, full: bool) -> Value {
    let mut view = json!({
        "out_bill_no": t.our_id, "transfer_bill_no": t.provider_id,
        "create_time": rfc3339(t.created_at), "state": state_of(&t.state),
    });
    match &t.state {
        TransferState::Waiting { package, .. } if !full => view["package_info"] = json!(package),
        TransferState::Failed { reason } => view["fail_reason"] = json!(reason),
        _ => {}
    }
    if full {
        // The merchant variant of the query page names it `mch_id`.
        view["mch_id"] = json!(WECHATPAY_MCHID);
        view["appid"] = json!(WECHATPAY_APPID);
        view["transfer_amount"] = json!(t.amount.fen());
        view["transfer_remark"] = t.request["transfer_remark"].clone();
        view["openid"] = json!(t.payee);
        view["update_time"] = json!(rfc3339(t.updated_at));
    }
    view
}

fn refund_view(r: &Refund, status: &str) -> Value {
    let fen = r.amount.fen();
    let total = r
        .request
        .pointer("/amount/total")
        .cloned()
        .unwrap_or_default();
    let mut view = json!({
        "refund_id": r.refund_id, "out_refund_no": r.out_refund_no, "out_trade_no": r.out_trade_no,
        "channel": "ORIGINAL", "user_received_account": "支付用户零钱", "create_time": rfc3339(r.created_at),
        "status": status, "funds_account": "AVAILABLE",
        "amount": {"total": total, "refund": fen, "payer_total": total, "payer_refund": fen,
            "settlement_refund": fen, "settlement_total": total, "discount_refund": 0, "currency": "CNY"},
    });
    if let (RefundState::Succeeded { at }, "SUCCESS") = (&r.state, status) {
        view["success_time"] = json!(rfc3339(*at));
    }
    view
}

fn refund_request(body: &[u8]) -> Result<NewRefund, Reply> {
    let v = json_body(body)?;
    let out_trade_no = text(&v, "/out_trade_no")?.to_owned();
    let out_refund_no = text(&v, "/out_refund_no")?.to_owned();
    if out_refund_no.is_empty()
        || out_refund_no.len() > 64
        || !out_refund_no
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-|*@".contains(&b))
    {
        return Err(param_error("/out_refund_no"));
    }
    if v.get("reason").is_some() {
        limited(&v, "/reason", 80)?;
    }
    let amount = fen(&v, "/amount/refund")?;
    fen(&v, "/amount/total")?;
    if v.pointer("/amount/currency").and_then(Value::as_str) != Some("CNY") {
        return Err(param_error("/amount/currency"));
    }
    let notify = v
        .get("notify_url")
        .and_then(Value::as_str)
        .map(|u| notify_path(Some(u), CALLBACK_PATH));
    Ok(NewRefund {
        out_refund_no,
        out_trade_no,
        amount,
        request: v,
        notify_path: notify,
    })
}

/// `transfer_scene_report_infos`: at least one `{info_type, info_content}`.
fn scene_report(v: &Value) -> Result<(), Reply> {
    let infos = v
        .get("transfer_scene_report_infos")
        .and_then(Value::as_array);
    let valid = infos.is_some_and(|infos| {
        !infos.is_empty()
            && infos.iter().all(|i| {
                ["info_type", "info_content"].iter().all(|k| {
                    i.get(k)
                        .and_then(Value::as_str)
                        .is_some_and(|s| !s.is_empty())
                })
            })
    });
    if valid {
        Ok(())
    } else {
        Err(param_error("/transfer_scene_report_infos"))
    }
}

/// `time_expire` (RFC 3339) or 7 days; at least a minute, at most 90 days.
fn expiry(v: &Value, now: DateTime<Utc>) -> Result<DateTime<Utc>, Reply> {
    let Some(text) = v.get("time_expire") else {
        return Ok(now + Duration::days(DEFAULT_EXPIRY_DAYS));
    };
    let at = text
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .ok_or_else(|| param_error("/time_expire"))?
        .with_timezone(&Utc);
    Ok(at.clamp(
        now + Duration::minutes(1),
        now + Duration::days(MAX_EXPIRY_DAYS),
    ))
}

fn json_body(body: &[u8]) -> Result<Value, Reply> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| Reply::error(400, "PARAM_ERROR", "请求体不是 JSON 对象"))
}

fn param_error(field: &str) -> Reply {
    Reply::Json(
        400,
        json!({"code": "PARAM_ERROR", "message": "参数错误",
        "detail": {"field": field, "location": "body", "issue": "missing or invalid"}}),
    )
}

/// A required string field (JSON Pointer `field`).
fn text<'v>(v: &'v Value, field: &str) -> Result<&'v str, Reply> {
    v.pointer(field)
        .and_then(Value::as_str)
        .ok_or_else(|| param_error(field))
}

/// A required string of 1 to `max` characters.
fn limited<'v>(v: &'v Value, field: &str, max: usize) -> Result<&'v str, Reply> {
    let value = text(v, field)?;
    if value.is_empty() || value.chars().count() > max {
        return Err(param_error(field));
    }
    Ok(value)
}

/// A required whole number of fen, 1 to the largest amount we take.
fn fen(v: &Value, field: &str) -> Result<Amount, Reply> {
    v.pointer(field)
        .and_then(Value::as_i64)
        .filter(|f| (1..=MAX_AMOUNT_FEN).contains(f))
        .and_then(|f| Amount::from_fen(f).ok())
        .ok_or_else(|| param_error(field))
}

/// WeChat's times: `2026-03-01T10:00:00+08:00`.
fn rfc3339(instant: DateTime<Utc>) -> String {
    beijing(instant).format("%Y-%m-%dT%H:%M:%S%:z").to_string()
}
