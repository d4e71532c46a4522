//! A fake Alipay gateway behind `HttpTransport`. Like Alipay it reads the
//! form, checks our `sign` with the app's public key and every public
//! parameter, reads `biz_content`, keeps trades, refunds and transfers, and
//! answers as the documentation shows (`{"<method>_response":{…},"sign":…}`,
//! slashes escaped `\/` as Alipay writes them), signed with Alipay's test
//! key. It can also misbehave: an HTTP error, a timeout, a bad or missing
//! signature, garbage, an unknown certificate SN, or any answer given.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use qrpay_domain::{Amount, Clock, TestClock};
use qrpay_provider::alipay::AlipaySigner;
use qrpay_provider::gateway::{HttpRequest, HttpResponse, HttpTransport, TransportError};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use rsa::RsaPublicKey;
use serde_json::{json, Value};
use sha2::Sha256;

pub const GATEWAY_URL: &str = "https://openapi.example.com/gateway.do";
pub const APP_ID: &str = "2021000117600001";
/// A payee Alipay does not know.
pub const UNKNOWN_PAYEE: &str = "2088000000000000";

/// What Alipay checks in certificate mode, and the SN it answers with.
#[derive(Clone)]
pub struct CertSns {
    pub app_cert_sn: String,
    pub alipay_root_cert_sn: String,
    pub alipay_cert_sn: String,
}

/// The next answer's misbehaviour.
pub enum Fault {
    Status(u16),
    Timeout,
    Garbage,
    /// Signed by a key that is not Alipay's.
    BadSignature,
    Unsigned,
    /// Signed by Alipay under a certificate SN we were not configured with.
    UnknownCertSn,
    /// This inner `*_response` object, signed as usual.
    Answer(Value),
    /// This inner object, signed by a key that is not Alipay's.
    Forged(Value),
}

/// One request as Alipay read it.
#[derive(Debug, Clone)]
pub struct Sent {
    pub params: BTreeMap<String, String>,
    pub biz: Value,
    pub sign_verified: bool,
}

pub enum Buyer {
    UserId(&'static str),
    OpenId(&'static str),
}

enum Stage {
    Unscanned,
    Waiting,
    Paid(Buyer),
    Closed,
}

struct Trade {
    biz: Value,
    qr_code: String,
    trade_no: String,
    stage: Stage,
}

#[derive(Default)]
struct State {
    sent: Vec<Sent>,
    faults: VecDeque<Fault>,
    trades: BTreeMap<String, Trade>,
    /// (out_trade_no, out_request_no) -> refund_amount
    refunds: BTreeMap<(String, String), String>,
    /// out_biz_no -> (biz_content, order_id)
    transfers: BTreeMap<String, (Value, String)>,
    balance_short: bool,
    next_id: u32,
}

pub struct FakeAlipay {
    app_key: VerifyingKey<Sha256>,
    alipay: AlipaySigner,
    stranger: AlipaySigner,
    cert_sns: Option<CertSns>,
    clock: Arc<TestClock>,
    state: Mutex<State>,
}

impl FakeAlipay {
    /// `app_public_key` checks our requests; `alipay` signs the answers.
    pub fn new(
        app_public_key: RsaPublicKey,
        alipay: AlipaySigner,
        stranger: AlipaySigner,
        cert_sns: Option<CertSns>,
        clock: Arc<TestClock>,
    ) -> FakeAlipay {
        FakeAlipay {
            app_key: VerifyingKey::new(app_public_key),
            alipay,
            stranger,
            cert_sns,
            clock,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn fault(&self, fault: Fault) {
        self.state().faults.push_back(fault);
    }

    pub fn sent(&self) -> Vec<Sent> {
        self.state().sent.clone()
    }

    /// A buyer scans the precreate's code: Alipay creates the trade.
    pub fn scan(&self, out_trade_no: &str) {
        self.state()
            .trades
            .get_mut(out_trade_no)
            .expect("precreated")
            .stage = Stage::Waiting;
    }

    pub fn pay(&self, out_trade_no: &str, buyer: Buyer) {
        self.state()
            .trades
            .get_mut(out_trade_no)
            .expect("precreated")
            .stage = Stage::Paid(buyer);
    }

    pub fn short_of_balance(&self, short: bool) {
        self.state().balance_short = short;
    }

    /// Reads the form and checks what Alipay checks before any business.
    fn read(&self, request: &HttpRequest) -> Sent {
        assert_eq!(request.method, http::Method::POST);
        assert_eq!(request.url, GATEWAY_URL);
        let content_type = request
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.as_str());
        assert_eq!(
            content_type,
            Some("application/x-www-form-urlencoded;charset=utf-8")
        );
        let mut params = BTreeMap::new();
        for (k, v) in form_urlencoded::parse(&request.body) {
            assert!(!v.is_empty(), "no empty parameter is sent ({k})");
            let repeated = params.insert(k.into_owned(), v.into_owned());
            assert!(repeated.is_none(), "a parameter sent twice");
        }
        self.check_public_params(&params);
        let sign_verified = verifies(&self.app_key, &params);
        let biz = serde_json::from_str(&params["biz_content"]).expect("biz_content is JSON");
        Sent {
            params,
            biz,
            sign_verified,
        }
    }

    pub fn check_public_params(&self, params: &BTreeMap<String, String>) {
        let beijing_now = self
            .clock
            .now()
            .with_timezone(&chrono_tz::Asia::Shanghai)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string();
        assert_eq!(params["app_id"], APP_ID);
        assert_eq!(params["format"], "JSON");
        assert_eq!(params["charset"], "utf-8");
        assert_eq!(params["sign_type"], "RSA2");
        assert_eq!(params["version"], "1.0");
        assert_eq!(params["timestamp"], beijing_now);
        match &self.cert_sns {
            Some(sns) => {
                assert_eq!(params["app_cert_sn"], sns.app_cert_sn);
                assert_eq!(params["alipay_root_cert_sn"], sns.alipay_root_cert_sn);
            }
            None => {
                assert!(!params.contains_key("app_cert_sn"));
                assert!(!params.contains_key("alipay_root_cert_sn"));
            }
        }
    }

    fn business(&self, method: &str, sent: &Sent) -> Value {
        if !sent.sign_verified {
            return json!({"code": "40002", "msg": "Invalid Arguments",
                "sub_code": "isv.invalid-signature", "sub_msg": "验签出错"});
        }
        let biz = &sent.biz;
        let mut state = self.state();
        match method {
            "alipay.trade.precreate" => precreate(&mut state, biz),
            "alipay.trade.query" => query(&state, biz),
            "alipay.trade.close" => close(&mut state, biz),
            "alipay.trade.refund" => refund(&mut state, biz),
            "alipay.trade.fastpay.refund.query" => refund_query(&state, biz),
            "alipay.fund.trans.uni.transfer" if self.cert_sns.is_some() => {
                transfer(&mut state, biz)
            }
            "alipay.fund.trans.common.query" if self.cert_sns.is_some() => {
                transfer_query(&state, biz)
            }
            other => panic!("the fake does not serve {other}"),
        }
    }

    fn answer(&self, method: &str, inner: &Value, fault: Option<Fault>) -> HttpResponse {
        // Alipay escapes slashes; '/' only occurs inside JSON strings.
        let inner = inner.to_string().replace('/', "\\/");
        let sn = self.cert_sns.as_ref().map(|s| s.alipay_cert_sn.as_str());
        let body = match fault {
            Some(Fault::BadSignature) => self.stranger.sign_answer(method, &inner, sn),
            Some(Fault::UnknownCertSn) => {
                self.alipay
                    .sign_answer(method, &inner, Some("0123456789abcdef0123456789abcdef"))
            }
            Some(Fault::Unsigned) => {
                format!("{{\"{}_response\":{inner}}}", method.replace('.', "_"))
            }
            _ => self.alipay.sign_answer(method, &inner, sn),
        };
        response(200, body.into_bytes())
    }
}

#[async_trait]
impl HttpTransport for FakeAlipay {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let sent = self.read(&request);
        let method = sent.params["method"].clone();
        let fault = {
            let mut state = self.state();
            state.sent.push(sent.clone());
            state.faults.pop_front()
        };
        let inner = match &fault {
            Some(Fault::Timeout) => return Err(TransportError::Timeout(Duration::from_secs(10))),
            Some(Fault::Status(status)) => return Ok(response(*status, b"busy".to_vec())),
            Some(Fault::Garbage) => return Ok(response(200, b"<html>\xff\xfe</html>".to_vec())),
            Some(Fault::Answer(inner)) => inner.clone(),
            Some(Fault::Forged(inner)) => {
                return Ok(self.answer(&method, inner, Some(Fault::BadSignature)))
            }
            _ => self.business(&method, &sent),
        };
        Ok(self.answer(&method, &inner, fault))
    }
}

fn response(status: u16, body: Vec<u8>) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![("Content-Type".into(), "text/html;charset=utf-8".into())],
        body,
    }
}

impl FakeAlipay {
    /// Whether `params` (a request's, `sign` included) carry the app's sign.
    pub fn signed_by_the_app(&self, params: &BTreeMap<String, String>) -> bool {
        verifies(&self.app_key, params)
    }
}

/// Alipay's check of a request: RSA2 over every parameter but `sign`,
/// sorted, raw values, empty ones left out.
fn verifies(key: &VerifyingKey<Sha256>, params: &BTreeMap<String, String>) -> bool {
    let content = params
        .iter()
        .filter(|(k, v)| k.as_str() != "sign" && !v.is_empty())
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let Some(signature) = params
        .get("sign")
        .and_then(|s| STANDARD.decode(s).ok())
        .and_then(|b| Signature::try_from(b.as_slice()).ok())
    else {
        return false;
    };
    key.verify(content.as_bytes(), &signature).is_ok()
}

fn ok(fields: Value) -> Value {
    let mut answer = json!({"code": "10000", "msg": "Success"});
    let object = answer.as_object_mut().expect("object");
    object.extend(fields.as_object().expect("fields").clone());
    answer
}

fn failed(sub_code: &str, sub_msg: &str) -> Value {
    json!({"code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": sub_msg})
}

fn field<'a>(biz: &'a Value, name: &str) -> &'a str {
    biz[name]
        .as_str()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| panic!("biz_content.{name} is required"))
}

fn fen(yuan: &str) -> i64 {
    Amount::parse(yuan).expect("yuan with two decimals").fen()
}

fn precreate(state: &mut State, biz: &Value) -> Value {
    let no = field(biz, "out_trade_no").to_owned();
    for required in ["total_amount", "subject", "time_expire"] {
        field(biz, required);
    }
    state.next_id += 1;
    let id = state.next_id;
    let trade = state.trades.entry(no.clone()).or_insert_with(|| Trade {
        biz: biz.clone(),
        qr_code: format!("https://qr.alipay.com/bax0{id}ljhokirwl38f00a7"),
        trade_no: format!("20260301220014{id:06}"),
        stage: Stage::Unscanned,
    });
    match trade.stage {
        Stage::Paid(_) => failed("ACQ.TRADE_HAS_SUCCESS", "交易已被支付"),
        Stage::Closed => failed("ACQ.TRADE_HAS_CLOSE", "交易已经关闭"),
        _ if trade.biz != *biz => failed("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改"),
        _ => ok(json!({"out_trade_no": no, "qr_code": trade.qr_code})),
    }
}

fn query(state: &State, biz: &Value) -> Value {
    let no = field(biz, "out_trade_no");
    let Some(trade) = state.trades.get(no) else {
        return failed("ACQ.TRADE_NOT_EXIST", "交易不存在");
    };
    let status = match &trade.stage {
        Stage::Unscanned => return failed("ACQ.TRADE_NOT_EXIST", "交易不存在"),
        Stage::Waiting => "WAIT_BUYER_PAY",
        Stage::Paid(_) => "TRADE_SUCCESS",
        Stage::Closed => "TRADE_CLOSED",
    };
    let mut answer = ok(json!({
        "out_trade_no": no, "trade_no": trade.trade_no, "trade_status": status,
        "total_amount": trade.biz["total_amount"], "buyer_logon_id": "159****5620",
    }));
    match &trade.stage {
        Stage::Paid(Buyer::UserId(id)) => answer["buyer_user_id"] = json!(id),
        Stage::Paid(Buyer::OpenId(id)) => answer["buyer_open_id"] = json!(id),
        _ => {}
    }
    answer
}

fn close(state: &mut State, biz: &Value) -> Value {
    let no = field(biz, "out_trade_no");
    let Some(trade) = state.trades.get_mut(no) else {
        return failed("ACQ.TRADE_NOT_EXIST", "交易不存在");
    };
    match trade.stage {
        Stage::Unscanned => failed("ACQ.TRADE_NOT_EXIST", "交易不存在"),
        Stage::Waiting => {
            trade.stage = Stage::Closed;
            ok(json!({"out_trade_no": no, "trade_no": trade.trade_no}))
        }
        Stage::Paid(_) | Stage::Closed => failed("ACQ.TRADE_STATUS_ERROR", "交易状态不合法"),
    }
}

fn refund(state: &mut State, biz: &Value) -> Value {
    let no = field(biz, "out_trade_no").to_owned();
    let request_no = field(biz, "out_request_no").to_owned();
    let amount = field(biz, "refund_amount").to_owned();
    let Some(trade) = state.trades.get(&no) else {
        return failed("ACQ.TRADE_NOT_EXIST", "交易不存在");
    };
    if !matches!(trade.stage, Stage::Paid(_)) {
        return failed("ACQ.TRADE_STATUS_ERROR", "交易状态非法");
    }
    let (total, trade_no) = (
        fen(field(&trade.biz, "total_amount")),
        trade.trade_no.clone(),
    );
    let refunded: i64 = state
        .refunds
        .iter()
        .filter(|((t, _), _)| *t == no)
        .map(|(_, a)| fen(a))
        .sum();
    let key = (no.clone(), request_no);
    let fund_change = match state.refunds.get(&key) {
        Some(earlier) if *earlier == amount => "N",
        Some(_) => return failed("ACQ.DISCORDANT_REPEAT_REQUEST", "不一致的请求"),
        None if state.balance_short => {
            return failed("ACQ.SELLER_BALANCE_NOT_ENOUGH", "卖家余额不足")
        }
        None if refunded + fen(&amount) > total => {
            return failed("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
        }
        None => {
            state.refunds.insert(key, amount.clone());
            "Y"
        }
    };
    let cumulative = refunded + if fund_change == "Y" { fen(&amount) } else { 0 };
    ok(json!({
        "out_trade_no": no, "trade_no": trade_no, "fund_change": fund_change,
        "refund_fee": Amount::from_fen(cumulative).map(|a| a.to_string()).unwrap_or_default(),
        "buyer_logon_id": "159****5620",
    }))
}

fn refund_query(state: &State, biz: &Value) -> Value {
    let no = field(biz, "out_trade_no").to_owned();
    let request_no = field(biz, "out_request_no").to_owned();
    match state.refunds.get(&(no.clone(), request_no.clone())) {
        Some(amount) => ok(json!({
            "out_trade_no": no, "out_request_no": request_no,
            "refund_amount": amount, "refund_status": "REFUND_SUCCESS",
        })),
        None => ok(json!({"out_trade_no": no, "out_request_no": request_no})),
    }
}

fn transfer(state: &mut State, biz: &Value) -> Value {
    let no = field(biz, "out_biz_no").to_owned();
    assert_eq!(field(biz, "product_code"), "TRANS_ACCOUNT_NO_PWD");
    assert_eq!(field(biz, "biz_scene"), "DIRECT_TRANSFER");
    field(biz, "order_title");
    fen(field(biz, "trans_amount"));
    let payee = &biz["payee_info"];
    assert!(["ALIPAY_USER_ID", "ALIPAY_OPEN_ID"].contains(&field(payee, "identity_type")));
    if field(payee, "identity") == UNKNOWN_PAYEE {
        return failed("PAYEE_NOT_EXIST", "收款账号不存在");
    }
    state.next_id += 1;
    let id = state.next_id;
    let (earlier, order_id) = state
        .transfers
        .entry(no.clone())
        .or_insert_with(|| (biz.clone(), format!("2026030111007000000215{id:010}")));
    if *earlier != *biz {
        return failed(
            "PAYMENT_INFO_INCONSISTENCY",
            "两次请求商户单号一样，但是参数不一致",
        );
    }
    ok(json!({
        "out_biz_no": no, "order_id": order_id, "pay_fund_order_id": format!("P{order_id}"),
        "status": "SUCCESS", "trans_date": "2026-03-01 10:00:05",
    }))
}

fn transfer_query(state: &State, biz: &Value) -> Value {
    let no = field(biz, "out_biz_no");
    assert_eq!(field(biz, "product_code"), "TRANS_ACCOUNT_NO_PWD");
    assert_eq!(field(biz, "biz_scene"), "DIRECT_TRANSFER");
    match state.transfers.get(no) {
        Some((sent, order_id)) => ok(json!({
            "out_biz_no": no, "order_id": order_id, "pay_fund_order_id": format!("P{order_id}"),
            "status": "SUCCESS", "trans_amount": sent["trans_amount"],
            "pay_date": "2026-03-01 10:00:05",
        })),
        None => failed("ORDER_NOT_EXIST", "转账订单不存在"),
    }
}
