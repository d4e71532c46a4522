//! The simulated Alipay methods (GATEWAYS.md §2.5), each answering as
//! documented:
//!
//! | method | answers |
//! |---|---|
//! | `alipay.trade.precreate` | `10000` + `qr_code` (the same again for the same parameters); `40004` `ACQ.CONTEXT_INCONSISTENT` (other parameters), `ACQ.TRADE_HAS_SUCCESS` (paid), `ACQ.TRADE_HAS_CLOSE` (closed or expired), `ACQ.INVALID_PARAMETER` |
//! | `alipay.trade.wap.pay` (GET, the buyer's browser) | a page with a "pay" form (posts to `/sandbox/alipay/pay`); the trade exists from then on (`WAIT_BUYER_PAY`) |
//! | `alipay.trade.query` | `10000` `WAIT_BUYER_PAY`/`TRADE_SUCCESS`/`TRADE_CLOSED`; `40004` `ACQ.TRADE_NOT_EXIST` (also a precreate nobody has scanned: the trade is made at scan time) |
//! | `alipay.trade.close` | `10000`; `40004` `ACQ.TRADE_NOT_EXIST` (unscanned: it stays payable until it expires), `ACQ.TRADE_STATUS_ERROR` (paid) |
//! | `alipay.trade.refund` | `10000` `fund_change=Y` (moved now) or `N` (a repeat), `refund_fee` cumulative; `40004` `ACQ.TRADE_NOT_ALLOW_REFUND` (fault: fail), `ACQ.REFUND_AMT_NOT_EQUAL_TOTAL` (over what is left), `ACQ.REASON_TRADE_REFUND_FEE_ERR` (id reused with another amount; UNCONFIRMED code), `ACQ.TRADE_NOT_EXIST`; lost answer (fault) |
//! | `alipay.trade.fastpay.refund.query` | `10000` with `refund_status=REFUND_SUCCESS`, or without it (not refunded); `40004` `ACQ.TRADE_NOT_EXIST` |
//! | `alipay.fund.trans.uni.transfer` (certificate mode) | `10000` `status=SUCCESS` (again on a repeat); `40004` `PAYEE_NOT_EXIST` (fault: fail; names UNCONFIRMED), `INVALID_PARAMETER`; lost answer (fault) |
//! | `alipay.fund.trans.common.query` | `10000` `status=SUCCESS`/`FAIL`; `40004` `ORDER_NOT_EXIST` |
//!
//! Huabei (`extend_params.hb_fq_num` 3/6/12, `hb_fq_seller_percent` 0/100)
//! is accepted on precreate and wap; the buyer's payment is one payment of
//! the full amount (SPEC §9).

use chrono::{DateTime, Duration, Utc};
use qrpay_domain::Amount;
use serde_json::{json, Value};

use super::alipay::{AliReply, Alipay, Call};
use super::book::{
    Create, NewRefund, NewTransfer, Order, OrderState, Refund, RefundOutcome, RefundState,
    Transfer, TransferOutcome, TransferState,
};
use super::buyer::html_escape;
use super::{beijing, notify_path, Ctx};

const CALLBACK_PATH: &str = "/callbacks/alipay";
/// An unpaid order closes after `timeout_express` (default 90 minutes here;
/// UNCONFIRMED default) or at `time_expire`.
const DEFAULT_TIMEOUT_MIN: i64 = 90;
const MAX_TIMEOUT_DAYS: i64 = 15;
/// Transfers: from ¥0.10 (TRANS_ACCOUNT_NO_PWD).
const MIN_TRANSFER_FEN: i64 = 10;

impl Alipay {
    pub(super) async fn dispatch(&self, ctx: &Ctx<'_>, call: &Call) -> AliReply {
        match call.method.as_str() {
            "alipay.trade.precreate" => self.create_order(ctx, call, "precreate"),
            // Never a server call: the buyer's browser opens it (GET, or the
            // official SDKs' auto-submitted POST form).
            "alipay.trade.wap.pay" => self.wap_page(ctx, call),
            "alipay.trade.query" => self.query_order(ctx, call),
            "alipay.trade.close" => self.close_order(call),
            "alipay.trade.refund" => self.refund(ctx, call).await,
            "alipay.trade.fastpay.refund.query" => self.query_refund(call),
            "alipay.fund.trans.uni.transfer" => self.transfer(ctx, call),
            "alipay.fund.trans.common.query" => self.query_transfer(ctx, call),
            "alipay.data.dataservice.bill.downloadurl.query" => self.bill_query(ctx, call),
            _ => AliReply::Answer(json!({"code": "40002", "msg": "Invalid Arguments",
                "sub_code": "isv.invalid-method", "sub_msg": "不存在的方法名"})),
        }
    }

    /// `alipay.trade.precreate` (and the order behind a wap page).
    fn create_order(&self, ctx: &Ctx<'_>, call: &Call, product: &'static str) -> AliReply {
        let order = match self.new_order(ctx, call, product) {
            Ok(order) => order,
            Err(refusal) => return refusal,
        };
        match self.sim.book().create_order(order, ctx.now) {
            Create::New(o) | Create::Same(o) => AliReply::success(json!({
                "out_trade_no": o.out_trade_no, "qr_code": o.code,
            })),
            Create::Conflict => AliReply::failed("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改"),
            Create::AlreadyPaid => AliReply::failed("ACQ.TRADE_HAS_SUCCESS", "交易已被支付"),
            Create::Closed => AliReply::failed("ACQ.TRADE_HAS_CLOSE", "交易已经关闭"),
            Create::Full => AliReply::Lost,
        }
    }

    fn new_order(
        &self,
        ctx: &Ctx<'_>,
        call: &Call,
        product: &'static str,
    ) -> Result<Order, AliReply> {
        let biz = &call.biz;
        let out_trade_no = text(biz, "out_trade_no")?;
        if out_trade_no.len() > 64
            || !out_trade_no
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(invalid("out_trade_no"));
        }
        let amount = yuan(biz, "total_amount")
            .filter(|a| a.fen() <= 10_000_000_000)
            .ok_or_else(|| invalid("total_amount"))?;
        if text(biz, "subject")?.chars().count() > 256 {
            return Err(invalid("subject"));
        }
        if product == "wap"
            && !matches!(
                biz.get("product_code").and_then(Value::as_str),
                Some("QUICK_WAP_WAY" | "QUICK_WAP_PAY")
            )
        {
            return Err(invalid("product_code"));
        }
        let instalments = huabei(biz)?;
        let notify_url = call.params.get("notify_url").map(String::as_str);
        let return_url = call.params.get("return_url").cloned();
        let wap = product == "wap";
        Ok(Order {
            out_trade_no: out_trade_no.to_owned(),
            product,
            // What a repeat must match: the business fields and where notices go.
            request: json!({"biz": biz, "notify_url": notify_url, "return_url": return_url}),
            amount,
            code: format!(
                "https://qr.alipay.com/bax{}",
                &qrpay_provider::wechatpay::nonce()[..20].to_lowercase()
            ),
            provider_order_id: wap.then(|| self.sim.id("2200", ctx.now, 10)),
            expires_at: expiry(biz, ctx.now)?,
            notify_path: notify_path(notify_url, CALLBACK_PATH),
            payer: None,
            // A wap trade exists once its page is open; a precreate's when scanned.
            opened: wap,
            instalments,
            return_url,
            state: OrderState::Unpaid,
            refunded_fen: 0,
        })
    }

    /// `alipay.trade.wap.pay` in the buyer's browser: the cashier page.
    fn wap_page(&self, ctx: &Ctx<'_>, call: &Call) -> AliReply {
        let order = match self.new_order(ctx, call, "wap") {
            Ok(order) => order,
            Err(AliReply::Answer(error)) => return AliReply::Page(error_page(&error)),
            Err(other) => return other,
        };
        let refused = |code: &str, msg: &str| {
            AliReply::Page(error_page(&json!({"sub_code": code, "sub_msg": msg})))
        };
        let order = match self.sim.book().create_order(order, ctx.now) {
            Create::New(o) | Create::Same(o) => o,
            Create::Conflict => return refused("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改"),
            Create::AlreadyPaid => return refused("ACQ.TRADE_HAS_SUCCESS", "交易已被支付"),
            Create::Closed | Create::Full => return refused("ACQ.TRADE_HAS_CLOSE", "交易已经关闭"),
        };
        let subject = call
            .biz
            .get("subject")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let plan = order
            .instalments
            .map(|n| format!("<p>Huabei: {n} periods</p>"))
            .unwrap_or_default();
        AliReply::Page(format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\"><title>Alipay (simulated)</title></head><body>\
             <h1>{} CNY</h1><p>{}</p>{plan}\
             <form method=\"post\" action=\"/sandbox/alipay/pay\">\
             <input type=\"hidden\" name=\"out_trade_no\" value=\"{}\">\
             <button type=\"submit\">pay</button></form></body></html>",
            order.amount,
            html_escape(subject),
            html_escape(&order.out_trade_no)
        ))
    }

    /// `alipay.trade.query`
    fn query_order(&self, ctx: &Ctx<'_>, call: &Call) -> AliReply {
        let book = self.sim.book();
        let Some(order) = order_of(&book, &call.biz).filter(|o| o.opened) else {
            return AliReply::failed("ACQ.TRADE_NOT_EXIST", "交易不存在");
        };
        let status = match &order.state {
            OrderState::Unpaid if order.expired(ctx.now) => "TRADE_CLOSED",
            OrderState::Unpaid => "WAIT_BUYER_PAY",
            OrderState::Closed => "TRADE_CLOSED",
            OrderState::Paid(_) if order.refundable_fen() == 0 => "TRADE_CLOSED",
            OrderState::Paid(_) => "TRADE_SUCCESS",
        };
        let mut answer = json!({
            "out_trade_no": order.out_trade_no, "trade_status": status,
            "total_amount": order.amount.to_string(),
        });
        if let Some(trade_no) = trade_no(order) {
            answer["trade_no"] = json!(trade_no);
        }
        if let Some(paid) = order.payment() {
            answer["buyer_pay_amount"] = json!(order.amount.to_string());
            answer["receipt_amount"] = json!(order.amount.to_string());
            answer["send_pay_date"] = json!(time(paid.at));
            answer["buyer_logon_id"] = json!("138******88");
            let id_key = if paid.payer.starts_with("2088") {
                "buyer_user_id"
            } else {
                "buyer_open_id"
            };
            answer[id_key] = json!(paid.payer);
        }
        AliReply::success(answer)
    }

    /// `alipay.trade.close`
    fn close_order(&self, call: &Call) -> AliReply {
        let mut book = self.sim.book();
        let Some(no) = order_of(&book, &call.biz)
            .filter(|o| o.opened)
            .map(|o| o.out_trade_no.clone())
        else {
            return AliReply::failed("ACQ.TRADE_NOT_EXIST", "交易不存在");
        };
        match book.close(&no) {
            Some(o) if o.payment().is_some() => {
                AliReply::failed("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
            }
            Some(o) => {
                AliReply::success(json!({"out_trade_no": o.out_trade_no, "trade_no": trade_no(&o)}))
            }
            None => AliReply::failed("ACQ.TRADE_NOT_EXIST", "交易不存在"),
        }
    }

    /// `alipay.trade.refund`: `out_request_no` (default: the trade's own
    /// number) refunds once.
    async fn refund(&self, ctx: &Ctx<'_>, call: &Call) -> AliReply {
        let biz = &call.biz;
        let Some(amount) = yuan(biz, "refund_amount") else {
            return invalid("refund_amount");
        };
        let Some(no) = self.order_no(biz) else {
            return AliReply::failed("ACQ.TRADE_NOT_EXIST", "交易不存在");
        };
        let new = NewRefund {
            out_refund_no: biz
                .get("out_request_no")
                .and_then(Value::as_str)
                .unwrap_or(&no)
                .to_owned(),
            out_trade_no: no.clone(),
            amount,
            request: json!({"refund_amount": amount.to_string()}),
            notify_path: None,
        };
        let refund_id = self.sim.id("", ctx.now, 6);
        let outcome = self.sim.book().refund(
            new,
            refund_id,
            "ACQ.TRADE_NOT_ALLOW_REFUND",
            || self.sim.draws.next(),
            ctx.now,
        );
        let (refund, fund_change) = match outcome {
            RefundOutcome::Created(r) | RefundOutcome::Repeat(r)
                if matches!(r.state, RefundState::Failed { .. }) =>
            {
                return AliReply::failed("ACQ.TRADE_NOT_ALLOW_REFUND", "交易不允许退款");
            }
            RefundOutcome::Created(r) => {
                self.sim.refund_moved(ctx, &r).await;
                (r, "Y")
            }
            RefundOutcome::Repeat(r) => (r, "N"),
            RefundOutcome::Lost(moved) => {
                if let Some(r) = moved {
                    self.sim.refund_moved(ctx, &r).await;
                }
                return AliReply::Lost;
            }
            RefundOutcome::Conflict => {
                return AliReply::failed(
                    "ACQ.REASON_TRADE_REFUND_FEE_ERR",
                    "退款金额与之前请求不一致",
                )
            }
            RefundOutcome::OrderNotFound | RefundOutcome::NotPaid => {
                return AliReply::failed("ACQ.TRADE_NOT_EXIST", "交易不存在")
            }
            RefundOutcome::Exceeds => {
                return AliReply::failed("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
            }
            RefundOutcome::Full => return AliReply::Lost,
        };
        self.refund_answer(&refund, fund_change)
    }

    /// A refund's `10000` answer: `refund_fee` is the trade's cumulative refund.
    fn refund_answer(&self, refund: &Refund, fund_change: &str) -> AliReply {
        let book = self.sim.book();
        let Some(order) = book.order(&refund.out_trade_no) else {
            return AliReply::Lost;
        };
        let refunded = Amount::from_fen(order.refunded_fen)
            .map(|a| a.to_string())
            .unwrap_or_default();
        let mut answer = json!({
            "out_trade_no": order.out_trade_no, "trade_no": trade_no(order), "fund_change": fund_change,
            "refund_fee": refunded, "send_back_fee": refund.amount.to_string(),
            "buyer_logon_id": "138******88", "gmt_refund_pay": time(refund.created_at),
        });
        if let Some(paid) = order.payment().filter(|p| p.payer.starts_with("2088")) {
            answer["buyer_user_id"] = json!(paid.payer);
        }
        AliReply::success(answer)
    }

    /// `alipay.trade.fastpay.refund.query`: no `refund_status` means not refunded.
    fn query_refund(&self, call: &Call) -> AliReply {
        let book = self.sim.book();
        let Some(order) = order_of(&book, &call.biz).filter(|o| o.payment().is_some()) else {
            return AliReply::failed("ACQ.TRADE_NOT_EXIST", "交易不存在");
        };
        let Some(request_no) = call.biz.get("out_request_no").and_then(Value::as_str) else {
            return invalid("out_request_no");
        };
        let mut answer = json!({"out_trade_no": order.out_trade_no, "trade_no": trade_no(order),
            "out_request_no": request_no});
        let refund = book
            .refund_of(request_no)
            .filter(|r| r.out_trade_no == order.out_trade_no);
        if let Some(r) = refund.filter(|r| matches!(r.state, RefundState::Succeeded { .. })) {
            answer["refund_status"] = json!("REFUND_SUCCESS");
            answer["refund_amount"] = json!(r.amount.to_string());
            answer["total_amount"] = json!(order.amount.to_string());
            answer["gmt_refund_pay"] = json!(time(r.created_at));
        }
        AliReply::success(answer)
    }

    /// `alipay.fund.trans.uni.transfer` (certificate mode only).
    fn transfer(&self, ctx: &Ctx<'_>, call: &Call) -> AliReply {
        let new = match transfer_request(&call.biz) {
            Ok(new) => new,
            Err(refusal) => return refusal,
        };
        let order_id = self.sim.id("20", ctx.now, 12);
        let reply = |t: &Transfer| match t.state {
            TransferState::Failed { reason } => AliReply::failed(reason, "收款账号不存在"),
            _ => AliReply::success(json!({
                "out_biz_no": t.our_id, "order_id": t.provider_id, "pay_fund_order_id": format!("{}01", t.provider_id),
                "status": "SUCCESS", "trans_date": time(t.created_at),
            })),
        };
        match self
            .sim
            .book()
            .transfer(new, order_id, || self.sim.draws.next(), ctx.now)
        {
            TransferOutcome::Created(t) => {
                if matches!(t.state, TransferState::Succeeded { .. }) {
                    self.sim.transfer_moved(&t, ctx.now);
                }
                reply(&t)
            }
            TransferOutcome::Repeat(t) => reply(&t),
            TransferOutcome::Lost(moved) => {
                if let Some(t) =
                    moved.filter(|t| matches!(t.state, TransferState::Succeeded { .. }))
                {
                    self.sim.transfer_moved(&t, ctx.now);
                }
                AliReply::Lost
            }
            TransferOutcome::Conflict => {
                AliReply::failed("INVALID_PARAMETER", "同一 out_biz_no 的参数不一致")
            }
            TransferOutcome::Full => AliReply::Lost,
        }
    }

    /// `alipay.fund.trans.common.query`
    fn query_transfer(&self, ctx: &Ctx<'_>, call: &Call) -> AliReply {
        let Some(no) = call.biz.get("out_biz_no").and_then(Value::as_str) else {
            return invalid("out_biz_no");
        };
        let Some(t) = self.sim.book().transfer_of(no, ctx.now) else {
            return AliReply::failed("ORDER_NOT_EXIST", "转账订单不存在");
        };
        let mut answer = json!({
            "out_biz_no": t.our_id, "order_id": t.provider_id, "pay_fund_order_id": format!("{}01", t.provider_id),
            "trans_amount": t.amount.to_string(),
        });
        match t.state {
            TransferState::Failed { reason } => {
                answer["status"] = json!("FAIL");
                answer["error_code"] = json!(reason);
                answer["fail_reason"] = json!("收款账号不存在");
            }
            _ => {
                answer["status"] = json!("SUCCESS");
                answer["pay_date"] = json!(time(t.updated_at));
            }
        }
        AliReply::success(answer)
    }

    /// The trade a refund names by `out_trade_no` or `trade_no`.
    fn order_no(&self, biz: &Value) -> Option<String> {
        order_of(&self.sim.book(), biz).map(|o| o.out_trade_no.clone())
    }
}

fn transfer_request(biz: &Value) -> Result<NewTransfer, AliReply> {
    let out_biz_no = text(biz, "out_biz_no")?;
    if out_biz_no.len() > 64
        || !out_biz_no
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b))
    {
        return Err(invalid("out_biz_no"));
    }
    let amount = yuan(biz, "trans_amount")
        .filter(|a| a.fen() >= MIN_TRANSFER_FEN)
        .ok_or_else(|| invalid("trans_amount"))?;
    if text(biz, "product_code")? != "TRANS_ACCOUNT_NO_PWD"
        || text(biz, "biz_scene")? != "DIRECT_TRANSFER"
    {
        return Err(invalid("product_code"));
    }
    text(biz, "order_title")?;
    let payee = biz.get("payee_info").ok_or_else(|| invalid("payee_info"))?;
    let identity = text(payee, "identity")?;
    match text(payee, "identity_type")? {
        "ALIPAY_USER_ID" | "ALIPAY_OPEN_ID" => {}
        "ALIPAY_LOGON_ID" => {
            text(payee, "name")?;
        }
        _ => return Err(invalid("payee_info.identity_type")),
    }
    Ok(NewTransfer {
        our_id: out_biz_no.to_owned(),
        amount,
        payee: identity.to_owned(),
        request: biz.clone(),
        waits: None,
        failure: "PAYEE_NOT_EXIST",
    })
}

/// `extend_params.hb_fq_num` (3, 6, 12) with `hb_fq_seller_percent` (0, 100).
fn huabei(biz: &Value) -> Result<Option<u8>, AliReply> {
    let Some(num) = biz.pointer("/extend_params/hb_fq_num") else {
        return Ok(None);
    };
    let periods = num
        .as_str()
        .and_then(|n| n.parse::<u8>().ok())
        .filter(|n| [3, 6, 12].contains(n));
    let percent = biz
        .pointer("/extend_params/hb_fq_seller_percent")
        .and_then(Value::as_str);
    match (periods, percent) {
        (Some(n), Some("0" | "100")) => Ok(Some(n)),
        _ => Err(invalid("extend_params")),
    }
}

/// `time_expire` (`yyyy-MM-dd HH:mm:ss`, Beijing) or `timeout_express` (`90m`, `2h`, `1d`).
fn expiry(biz: &Value, now: DateTime<Utc>) -> Result<DateTime<Utc>, AliReply> {
    if let Some(at) = biz.get("time_expire").and_then(Value::as_str) {
        let naive = chrono::NaiveDateTime::parse_from_str(at, "%Y-%m-%d %H:%M:%S")
            .map_err(|_| invalid("time_expire"))?;
        let at = naive - Duration::hours(8);
        return Ok(at.and_utc().min(now + Duration::days(MAX_TIMEOUT_DAYS)));
    }
    let minutes = match biz.get("timeout_express").and_then(Value::as_str) {
        None => DEFAULT_TIMEOUT_MIN,
        Some(t) => {
            let (n, unit) = t.split_at(t.len().saturating_sub(1));
            let n: i64 = n.parse().map_err(|_| invalid("timeout_express"))?;
            match unit {
                "m" => n,
                "h" => n * 60,
                "d" => n * 24 * 60,
                _ => return Err(invalid("timeout_express")),
            }
        }
    };
    Ok(now + Duration::minutes(minutes.clamp(1, MAX_TIMEOUT_DAYS * 24 * 60)))
}

fn order_of<'b>(book: &'b super::book::Book, biz: &Value) -> Option<&'b Order> {
    if let Some(no) = biz.get("out_trade_no").and_then(Value::as_str) {
        return book.order(no);
    }
    book.order_by_provider_id(biz.get("trade_no")?.as_str()?)
}

fn trade_no(order: &Order) -> Option<&str> {
    order
        .payment()
        .map(|p| p.txn_id.as_str())
        .or(order.provider_order_id.as_deref())
}

fn text<'v>(v: &'v Value, field: &str) -> Result<&'v str, AliReply> {
    v.get(field)
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid(field))
}

/// Yuan with at most two decimals, as a string (or a JSON number).
fn yuan(v: &Value, field: &str) -> Option<Amount> {
    let text = match v.get(field)? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    Amount::parse(&text).ok()
}

fn invalid(field: &str) -> AliReply {
    AliReply::failed("ACQ.INVALID_PARAMETER", &format!("参数无效: {field}"))
}

/// Alipay's times: Beijing wall clock to the second.
fn time(at: DateTime<Utc>) -> String {
    beijing(at).format("%Y-%m-%d %H:%M:%S").to_string()
}

fn error_page(error: &Value) -> String {
    let text = |k: &str| html_escape(error.get(k).and_then(Value::as_str).unwrap_or_default());
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\"><title>Alipay (simulated)</title></head>\
         <body><h1>{}</h1><p>{}</p></body></html>",
        text("sub_code"),
        text("sub_msg")
    )
}
