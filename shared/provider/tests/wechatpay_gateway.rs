//! The WeChat Pay adapter against a fake WeChat Pay that checks what a real
//! one checks (our `Authorization` signature with the merchant's public key,
//! the endpoint, the documented fields) and answers as the documentation
//! shows, signed with a platform key — or misbehaves. Then the bytes we sign
//! against the `wechatpayv3` SDK.

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use common::keys;
use common::sdk::{private_pem, public_pem};
use qrpay_domain::{
    Amount, OrderId, PayeeAction, PayerAccount, PayerAccountKind, PayoutId, Provider, ShopId,
    TestClock,
};
use qrpay_provider::gateway::{
    AnswerVerdict, CloseOutcome, CollectRequest, CollectionGateway, CreateOutcome, Gateways,
    HttpRequest, HttpResponse, HttpTransport, PayMethod, ProviderCode, RefundGateway, RefundNo,
    RefundOutcome, RefundRequest, TradeState, TransportError,
};
use qrpay_provider::wechatpay::gateway::WechatpayGateway;
use qrpay_provider::{Payee, QueryOutcome, TransferOutcome, TransferProvider, TransferRequest};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use sha2::Sha256;

const MCHID: &str = "1900000109";
const APPID: &str = "wxd678efh567hg6787";
const MCH_SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
const PLATFORM_SERIAL: &str = "PUB_KEY_ID_0114232134912410000000000000";
const BASE: &str = "http://127.0.0.1:9/sim/wechatpay";
const OPENID: &str = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o";

fn merchant_key() -> &'static RsaPrivateKey {
    &keys().current
}

fn platform_key() -> &'static RsaPrivateKey {
    &keys().previous
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T10:00:00+08:00")
        .unwrap()
        .with_timezone(&Utc)
}

/// How the fake answers one request.
enum Scripted {
    /// Signed by the platform key, as WeChat Pay answers.
    Answer(u16, &'static str),
    /// The same, with no signature headers.
    Unsigned(u16, &'static str),
    /// Signed by a key that is not the platform's.
    ForgedBy(u16, &'static str),
    Timeout,
}

/// A request the fake received, with the verdict on its signature.
struct Seen {
    request: HttpRequest,
    signature_valid: bool,
}

struct FakeWechat {
    script: Mutex<VecDeque<Scripted>>,
    seen: Mutex<Vec<Seen>>,
}

impl FakeWechat {
    fn new(script: Vec<Scripted>) -> Arc<FakeWechat> {
        Arc::new(FakeWechat {
            script: Mutex::new(script.into()),
            seen: Mutex::new(Vec::new()),
        })
    }

    fn seen(&self) -> Vec<(http::Method, String, Value, bool)> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|s| {
                let body = if s.request.body.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&s.request.body).unwrap()
                };
                (
                    s.request.method.clone(),
                    s.request.url.clone(),
                    body,
                    s.signature_valid,
                )
            })
            .collect()
    }

    fn header(request: &HttpRequest, name: &str) -> Option<String> {
        request
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
}

/// Checks `Authorization` as WeChat Pay does: the merchant's key over
/// `METHOD\nPATH?QUERY\nTIMESTAMP\nNONCE\nBODY\n`.
fn authorization_valid(request: &HttpRequest) -> bool {
    let Some(auth) = FakeWechat::header(request, "Authorization") else {
        return false;
    };
    let Some(params) = auth.strip_prefix("WECHATPAY2-SHA256-RSA2048 ") else {
        return false;
    };
    let field = |name: &str| {
        params.split(',').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == name).then(|| v.trim_matches('"').to_owned())
        })
    };
    let (Some(mchid), Some(nonce), Some(ts), Some(sig), Some(serial)) = (
        field("mchid"),
        field("nonce_str"),
        field("timestamp"),
        field("signature"),
        field("serial_no"),
    ) else {
        return false;
    };
    let path = request.url.splitn(4, '/').nth(3).map(|p| format!("/{p}"));
    let mut message =
        format!("{}\n{}\n{ts}\n{nonce}\n", request.method, path.unwrap()).into_bytes();
    message.extend_from_slice(&request.body);
    message.push(b'\n');
    let key = VerifyingKey::<Sha256>::new(RsaPublicKey::from(merchant_key()));
    let Ok(signature) = STANDARD
        .decode(sig)
        .map_err(|_| ())
        .and_then(|b| Signature::try_from(b.as_slice()).map_err(|_| ()))
    else {
        return false;
    };
    mchid == MCHID && serial == MCH_SERIAL && key.verify(&message, &signature).is_ok()
}

fn signed(status: u16, body: &str, key: &RsaPrivateKey) -> HttpResponse {
    let ts = now().timestamp().to_string();
    let nonce = "593BEC0C930BF1AFEB40B4A08C8FB242";
    let message = format!("{ts}\n{nonce}\n{body}\n");
    let signature = SigningKey::<Sha256>::new(key.clone()).sign(message.as_bytes());
    HttpResponse {
        status,
        headers: vec![
            ("Wechatpay-Timestamp".into(), ts),
            ("Wechatpay-Nonce".into(), nonce.into()),
            (
                "Wechatpay-Signature".into(),
                STANDARD.encode(signature.to_bytes()),
            ),
            ("Wechatpay-Serial".into(), PLATFORM_SERIAL.into()),
        ],
        body: body.as_bytes().to_vec(),
    }
}

#[async_trait]
impl HttpTransport for FakeWechat {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let signature_valid = authorization_valid(&request);
        self.seen.lock().unwrap().push(Seen {
            request,
            signature_valid,
        });
        let next = self.script.lock().unwrap().pop_front();
        match next.expect("the fake was asked more than its script") {
            _ if !signature_valid => Ok(signed(
                401,
                r#"{"code":"SIGN_ERROR","message":"签名错误"}"#,
                platform_key(),
            )),
            Scripted::Answer(status, body) => Ok(signed(status, body, platform_key())),
            Scripted::Unsigned(status, body) => Ok(HttpResponse {
                status,
                headers: Vec::new(),
                body: body.as_bytes().to_vec(),
            }),
            Scripted::ForgedBy(status, body) => Ok(signed(status, body, &keys().stranger)),
            Scripted::Timeout => Err(TransportError::Timeout(Duration::from_secs(8))),
        }
    }
}

fn env(name: &str) -> Option<String> {
    let value = match name {
        "WECHATPAY_MCHID" => MCHID.to_owned(),
        "WECHATPAY_APPID" => APPID.to_owned(),
        "WECHATPAY_MCH_SERIAL" => MCH_SERIAL.to_owned(),
        "WECHATPAY_MCH_PRIVATE_KEY" => private_pem(merchant_key()),
        "WECHATPAY_PLATFORM_SERIAL" => PLATFORM_SERIAL.to_owned(),
        "WECHATPAY_PLATFORM_PUBLIC_KEY" => public_pem(&RsaPublicKey::from(platform_key())),
        "WECHATPAY_TRANSFER_SCENE_ID" => "1000".to_owned(),
        "WECHATPAY_BASE_URL" => BASE.to_owned(),
        "QRPAY_CALLBACK_BASE_URL" => "https://pay.example.com/".to_owned(),
        _ => return None,
    };
    Some(value)
}

fn gateway(fake: &Arc<FakeWechat>) -> WechatpayGateway {
    WechatpayGateway::from_env(&env, fake.clone(), Arc::new(TestClock::at(now())))
        .unwrap()
        .expect("configured")
}

fn order_id() -> OrderId {
    OrderId::parse("ord_01JQ0000000000000000000000").unwrap()
}

fn collect(method: PayMethod) -> CollectRequest {
    CollectRequest {
        order_id: order_id(),
        amount: Amount::parse("88.88").unwrap(),
        subject: "茶叶 500g".into(),
        expires_at: now() + chrono::Duration::minutes(30),
        method,
        instalments: None,
        shop_id: None,
    }
}

const NATIVE: &str = r#"{"code_url":"weixin://wxpay/bizpayurl?pr=p4lpSuKzz"}"#;

#[tokio::test]
async fn a_native_order_sends_the_documented_fields_signed_and_returns_its_code_url() {
    let fake = FakeWechat::new(vec![Scripted::Answer(200, NATIVE)]);
    let outcome = gateway(&fake).create(&collect(PayMethod::Scan)).await;
    assert_eq!(
        outcome,
        CreateOutcome::Created(ProviderCode::QrContent(
            "weixin://wxpay/bizpayurl?pr=p4lpSuKzz".into()
        ))
    );
    let seen = fake.seen();
    let (method, url, body, signature_valid) = &seen[0];
    assert_eq!(method, http::Method::POST);
    assert_eq!(url, &format!("{BASE}/v3/pay/transactions/native"));
    assert!(signature_valid, "WeChat Pay verifies our Authorization");
    assert_eq!(
        body,
        &json!({
            "appid": APPID, "mchid": MCHID, "description": "茶叶 500g",
            "out_trade_no": "ord_01JQ0000000000000000000000",
            "time_expire": "2026-03-01T10:30:00+08:00",
            "notify_url": "https://pay.example.com/callbacks/wechatpay",
            "amount": {"total": 8888, "currency": "CNY"},
        })
    );
}

#[tokio::test]
async fn creating_twice_sends_the_same_order_and_gets_the_same_code() {
    let fake = FakeWechat::new(vec![
        Scripted::Answer(200, NATIVE),
        Scripted::Answer(200, NATIVE),
    ]);
    let gw = gateway(&fake);
    let first = gw.create(&collect(PayMethod::Scan)).await;
    let second = gw.create(&collect(PayMethod::Scan)).await;
    assert_eq!(first, second);
    let seen = fake.seen();
    assert_eq!(
        seen[0].2, seen[1].2,
        "byte-identical parameters, same out_trade_no"
    );
}

#[tokio::test]
async fn jsapi_and_h5_orders_carry_the_payer_and_the_scene() {
    let fake = FakeWechat::new(vec![
        Scripted::Answer(
            200,
            r#"{"prepay_id":"wx201410272009395522657a690389285100"}"#,
        ),
        Scripted::Answer(
            200,
            r#"{"h5_url":"https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx1"}"#,
        ),
    ]);
    let gw = gateway(&fake);
    let jsapi = gw
        .create(&collect(PayMethod::Jsapi {
            openid: OPENID.into(),
        }))
        .await;
    assert_eq!(
        jsapi,
        CreateOutcome::Created(ProviderCode::PrepayId(
            "wx201410272009395522657a690389285100".into()
        ))
    );
    let h5 = gw
        .create(&collect(PayMethod::H5 {
            client_ip: "203.0.113.7".into(),
        }))
        .await;
    assert!(matches!(
        h5,
        CreateOutcome::Created(ProviderCode::Redirect(_))
    ));
    let seen = fake.seen();
    assert!(seen[0].1.ends_with("/v3/pay/transactions/jsapi"));
    assert_eq!(seen[0].2["payer"], json!({"openid": OPENID}));
    assert!(seen[1].1.ends_with("/v3/pay/transactions/h5"));
    assert_eq!(
        seen[1].2["scene_info"],
        json!({"payer_client_ip": "203.0.113.7", "h5_info": {"type": "Wap"}})
    );
}

#[tokio::test]
async fn methods_wechat_does_not_offer_are_refused_without_a_call() {
    let fake = FakeWechat::new(vec![]);
    let gw = gateway(&fake);
    let wap = gw
        .create(&collect(PayMethod::Wap {
            return_url: "https://x".into(),
        }))
        .await;
    assert!(matches!(wap, CreateOutcome::Refused { .. }), "{wap:?}");
    assert!(fake.seen().is_empty());
}

#[tokio::test]
async fn an_order_number_already_used_is_queried_and_found_paid() {
    let fake = FakeWechat::new(vec![
        Scripted::Answer(
            403,
            r#"{"code":"OUT_TRADE_NO_USED","message":"商户订单号重复"}"#,
        ),
        Scripted::Answer(
            200,
            r#"{"trade_state":"SUCCESS","transaction_id":"4200001234202603010001","amount":{"total":8888,"currency":"CNY"},"payer":{"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}}"#,
        ),
    ]);
    let outcome = gateway(&fake).create(&collect(PayMethod::Scan)).await;
    assert_eq!(outcome, CreateOutcome::AlreadyPaid);
    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[1].1,
        format!(
            "{BASE}/v3/pay/transactions/out-trade-no/ord_01JQ0000000000000000000000?mchid={MCHID}"
        )
    );
}

#[tokio::test]
async fn only_a_signed_documented_answer_decides_anything() {
    let cases = [
        (
            Scripted::Answer(500, r#"{"code":"SYSTEM_ERROR","message":"系统异常"}"#),
            "HTTP 500",
        ),
        (
            Scripted::Answer(429, r#"{"code":"FREQUENCY_LIMITED","message":"频率超限"}"#),
            "FREQUENCY_LIMITED",
        ),
        (Scripted::Unsigned(200, NATIVE), "not trusted"),
        (Scripted::ForgedBy(200, NATIVE), "not trusted"),
        (
            Scripted::ForgedBy(400, r#"{"code":"PARAM_ERROR","message":"x"}"#),
            "not trusted",
        ),
        (Scripted::Answer(200, "<html>"), "unreadable"),
        (
            Scripted::Answer(200, r#"{"prepay_id":"wx1"}"#),
            "without the code",
        ),
        (Scripted::Timeout, "no answer within"),
    ];
    for (script, want) in cases {
        // Only a signature by another key may be a rotated platform key.
        let forged = matches!(script, Scripted::ForgedBy(..));
        let fake = FakeWechat::new(vec![script]);
        let outcome = gateway(&fake).create(&collect(PayMethod::Scan)).await;
        let CreateOutcome::Ambiguous { detail } = &outcome else {
            panic!("{want}: {outcome:?}");
        };
        assert!(detail.contains(want), "{detail} should say {want}");
        assert_eq!(outcome.key_mismatch(), forged, "{detail}");
    }
    let fake = FakeWechat::new(vec![Scripted::Answer(
        400,
        r#"{"code":"PARAM_ERROR","message":"参数错误"}"#,
    )]);
    let outcome = gateway(&fake).create(&collect(PayMethod::Scan)).await;
    assert!(matches!(outcome, CreateOutcome::Refused { ref code, .. } if code == "PARAM_ERROR"));
}

#[tokio::test]
async fn a_query_reads_the_trade_state_amount_and_payer() {
    let fake = FakeWechat::new(vec![
        Scripted::Answer(
            200,
            r#"{"trade_state":"SUCCESS","transaction_id":"4200001234202603010001","amount":{"total":8888},"payer":{"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}}"#,
        ),
        Scripted::Answer(200, r#"{"trade_state":"NOTPAY"}"#),
        Scripted::Answer(200, r#"{"trade_state":"CLOSED"}"#),
        Scripted::Answer(404, r#"{"code":"ORDER_NOT_EXIST","message":"订单不存在"}"#),
        Scripted::Answer(200, r#"{"trade_state":"SUCCESS"}"#),
    ]);
    let gw = gateway(&fake);
    let openid = PayerAccount::new(PayerAccountKind::WechatOpenid, OPENID).unwrap();
    assert_eq!(
        CollectionGateway::query(&gw, &order_id()).await,
        TradeState::Paid {
            provider_txn_id: "4200001234202603010001".into(),
            amount: Amount::parse("88.88").unwrap(),
            account: Some(openid),
        }
    );
    assert_eq!(
        CollectionGateway::query(&gw, &order_id()).await,
        TradeState::Waiting
    );
    assert_eq!(
        CollectionGateway::query(&gw, &order_id()).await,
        TradeState::Closed {
            reason: "CLOSED".into()
        }
    );
    assert_eq!(
        CollectionGateway::query(&gw, &order_id()).await,
        TradeState::NotFound
    );
    // Paid without the facts that make it so: not believed.
    assert!(matches!(
        CollectionGateway::query(&gw, &order_id()).await,
        TradeState::Ambiguous { .. }
    ));
    assert!(fake.seen().iter().all(|s| s.0 == http::Method::GET && s.3));
}

#[tokio::test]
async fn close_answers_204_or_says_why_it_could_not() {
    let fake = FakeWechat::new(vec![
        Scripted::Answer(204, ""),
        Scripted::Answer(400, r#"{"code":"ORDERPAID","message":"订单已支付"}"#),
        Scripted::Answer(
            200,
            r#"{"trade_state":"SUCCESS","transaction_id":"4200001","amount":{"total":8888}}"#,
        ),
    ]);
    let gw = gateway(&fake);
    assert_eq!(gw.close(&order_id()).await, CloseOutcome::Closed);
    assert_eq!(gw.close(&order_id()).await, CloseOutcome::AlreadyPaid);
    let seen = fake.seen();
    assert_eq!(
        seen[0].1,
        format!("{BASE}/v3/pay/transactions/out-trade-no/ord_01JQ0000000000000000000000/close")
    );
    assert_eq!(seen[0].2, json!({"mchid": MCHID}));
}

fn refund_request() -> RefundRequest {
    RefundRequest {
        refund_no: RefundNo::parse("rf_01JQ0000000000000000000001").unwrap(),
        order_id: order_id(),
        amount: Amount::parse("10.00").unwrap(),
        order_total: Amount::parse("88.88").unwrap(),
        reason: Some("少发一件".into()),
    }
}

#[tokio::test]
async fn a_refund_is_accepted_then_found_done_under_our_refund_id() {
    let fake = FakeWechat::new(vec![
        Scripted::Answer(
            200,
            r#"{"refund_id":"50300000012026030100001","out_refund_no":"rf_01JQ0000000000000000000001","status":"PROCESSING"}"#,
        ),
        Scripted::Answer(
            200,
            r#"{"refund_id":"50300000012026030100001","status":"SUCCESS"}"#,
        ),
    ]);
    let gw = gateway(&fake);
    assert_eq!(
        gw.refund(&refund_request()).await,
        RefundOutcome::InProgress
    );
    assert_eq!(
        gw.query_refund(&order_id(), &refund_request().refund_no)
            .await,
        RefundOutcome::Succeeded {
            provider_refund_id: Some("50300000012026030100001".into())
        }
    );
    let seen = fake.seen();
    assert_eq!(
        seen[0].2,
        json!({
            "out_trade_no": "ord_01JQ0000000000000000000000",
            "out_refund_no": "rf_01JQ0000000000000000000001",
            "notify_url": "https://pay.example.com/callbacks/wechatpay",
            "reason": "少发一件",
            "amount": {"refund": 1000, "total": 8888, "currency": "CNY"},
        })
    );
    assert_eq!(
        seen[1].1,
        format!("{BASE}/v3/refund/domestic/refunds/rf_01JQ0000000000000000000001")
    );
}

#[tokio::test]
async fn refund_answers_map_code_by_code() {
    let cases = [
        (
            Scripted::Answer(403, r#"{"code":"NOT_ENOUGH","message":"余额不足"}"#),
            "not done yet",
        ),
        (
            Scripted::Answer(
                400,
                r#"{"code":"INVALID_REQUEST","message":"退款金额超过可退金额"}"#,
            ),
            "failed",
        ),
        (
            Scripted::Answer(403, r#"{"code":"USER_ACCOUNT_ABNORMAL","message":"x"}"#),
            "failed",
        ),
        (Scripted::Answer(200, r#"{"status":"CLOSED"}"#), "failed"),
        (
            Scripted::Answer(200, r#"{"status":"ABNORMAL"}"#),
            "ambiguous",
        ),
        (
            Scripted::Answer(500, r#"{"code":"SYSTEM_ERROR","message":"x"}"#),
            "ambiguous",
        ),
        (
            Scripted::Answer(429, r#"{"code":"FREQUENCY_LIMITED","message":"x"}"#),
            "ambiguous",
        ),
        (Scripted::Timeout, "ambiguous"),
    ];
    for (script, want) in cases {
        let fake = FakeWechat::new(vec![script]);
        let got = match gateway(&fake).refund(&refund_request()).await {
            RefundOutcome::NotDoneYet { .. } => "not done yet",
            RefundOutcome::Failed { .. } => "failed",
            RefundOutcome::Ambiguous { .. } => "ambiguous",
            other => panic!("{other:?}"),
        };
        assert_eq!(got, want);
    }
    let fake = FakeWechat::new(vec![Scripted::Answer(
        404,
        r#"{"code":"RESOURCE_NOT_EXISTS","message":"退款单不存在"}"#,
    )]);
    let gw = gateway(&fake);
    assert_eq!(
        gw.query_refund(&order_id(), &refund_request().refund_no)
            .await,
        RefundOutcome::NotFound
    );
}

fn transfer(amount: &str, account: Option<PayerAccount>) -> TransferRequest {
    TransferRequest {
        out_bill_no: PayoutId::parse("po_01JQ0000000000000000000007").unwrap(),
        amount: Amount::parse(amount).unwrap(),
        payee: Payee {
            shop_id: ShopId::parse("shop_1").unwrap(),
            order_id: order_id(),
            provider_txn_id: Some("4200001234202603010001".into()),
            account,
        },
    }
}

fn openid() -> Option<PayerAccount> {
    Some(PayerAccount::new(PayerAccountKind::WechatOpenid, OPENID).unwrap())
}

const WAITING: &str = r#"{"out_bill_no":"PO01JQ0000000000000000000007","transfer_bill_no":"1330000071100999991182020050700019480001","create_time":"2026-03-01T10:00:00+08:00","state":"WAIT_USER_CONFIRM","package_info":"affffddafdfafddffda=="}"#;

#[tokio::test]
async fn a_transfer_waits_for_the_payee_with_what_their_wechat_must_show() {
    let fake = FakeWechat::new(vec![Scripted::Answer(200, WAITING)]);
    let outcome = gateway(&fake).transfer(&transfer("12.50", openid())).await;
    assert_eq!(
        outcome,
        TransferOutcome::AwaitingPayee(PayeeAction::WechatConfirm {
            mch_id: MCHID.into(),
            app_id: APPID.into(),
            package: "affffddafdfafddffda==".into(),
            confirm_by: now() + chrono::Duration::hours(24),
        })
    );
    let fake_seen = fake.seen.lock().unwrap();
    let request = &fake_seen[0].request;
    assert_eq!(
        FakeWechat::header(request, "Wechatpay-Serial").as_deref(),
        Some(PLATFORM_SERIAL),
        "the platform key is named on transfers"
    );
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        body,
        json!({
            "appid": APPID, "out_bill_no": "PO01JQ0000000000000000000007",
            "transfer_scene_id": "1000", "openid": OPENID, "transfer_amount": 1250,
            "transfer_remark": "商家售后打款",
            "notify_url": "https://pay.example.com/callbacks/wechatpay",
            "transfer_scene_report_infos": [
                {"info_type": "活动名称", "info_content": "商家售后"},
                {"info_type": "奖励说明", "info_content": "订单售后小额打款"},
            ],
        })
    );
}

#[tokio::test]
async fn a_refused_transfer_fails_only_once_a_query_finds_no_bill() {
    let not_found = r#"{"code":"NOT_FOUND","message":"记录不存在"}"#;
    let param_error = r#"{"code":"PARAM_ERROR","message":"参数错误"}"#;
    let fake = FakeWechat::new(vec![
        Scripted::Answer(400, param_error),
        Scripted::Answer(404, not_found),
        Scripted::Answer(400, param_error),
        Scripted::Answer(200, r#"{"state":"PROCESSING"}"#),
        Scripted::Answer(
            403,
            r#"{"code":"NOT_ENOUGH","message":"商户运营账户资金不足"}"#,
        ),
    ]);
    let gw = gateway(&fake);
    assert!(matches!(
        gw.transfer(&transfer("12.50", openid())).await,
        TransferOutcome::Failed { reason } if reason.contains("PARAM_ERROR")
    ));
    // Refused, yet a bill exists: it is what the bill says.
    assert_eq!(
        gw.transfer(&transfer("12.50", openid())).await,
        TransferOutcome::InProgress
    );
    // Funds short: WeChat keeps trying; never a failure.
    assert!(matches!(
        gw.transfer(&transfer("12.50", openid())).await,
        TransferOutcome::Ambiguous { .. }
    ));
    let seen = fake.seen();
    assert_eq!(
        seen[1].1,
        format!("{BASE}/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/PO01JQ0000000000000000000007")
    );
}

#[tokio::test]
async fn transfers_wechat_cannot_take_are_refused_before_any_call() {
    let fake = FakeWechat::new(vec![]);
    let gw = gateway(&fake);
    let big = gw.transfer(&transfer("2000.00", openid())).await;
    assert!(matches!(big, TransferOutcome::Failed { ref reason } if reason.contains("real name")));
    let alipay_buyer =
        PayerAccount::new(PayerAccountKind::AlipayUserId, "2088102122524333").unwrap();
    let other = gw.transfer(&transfer("1.00", Some(alipay_buyer))).await;
    assert!(matches!(other, TransferOutcome::Failed { .. }));
    let nobody = gw.transfer(&transfer("1.00", None)).await;
    assert!(matches!(nobody, TransferOutcome::Failed { .. }));
    assert!(fake.seen().is_empty(), "nothing was sent");
    let just_below = FakeWechat::new(vec![Scripted::Answer(200, WAITING)]);
    let outcome = gateway(&just_below)
        .transfer(&transfer("1999.99", openid()))
        .await;
    assert!(matches!(outcome, TransferOutcome::AwaitingPayee(_)));
}

#[tokio::test]
async fn transfer_queries_and_cancels_read_the_bill_state() {
    let fake = FakeWechat::new(vec![
        Scripted::Answer(
            200,
            r#"{"state":"SUCCESS","transfer_bill_no":"1330000071100999991182020050700019480001"}"#,
        ),
        Scripted::Answer(
            200,
            r#"{"state":"FAIL","fail_reason":"PAYEE_ACCOUNT_ABNORMAL"}"#,
        ),
        Scripted::Answer(200, r#"{"state":"WAIT_USER_CONFIRM"}"#),
        Scripted::Answer(404, r#"{"code":"NOT_FOUND","message":"记录不存在"}"#),
        Scripted::Answer(
            200,
            r#"{"out_bill_no":"PO01JQ0000000000000000000007","state":"CANCELING"}"#,
        ),
    ]);
    let gw = gateway(&fake);
    let payout = transfer("1.00", openid()).out_bill_no;
    assert_eq!(
        TransferProvider::query(&gw, &payout).await,
        QueryOutcome::Succeeded {
            provider_ref: "1330000071100999991182020050700019480001".into()
        }
    );
    assert_eq!(
        TransferProvider::query(&gw, &payout).await,
        QueryOutcome::Failed {
            reason: "FAIL: PAYEE_ACCOUNT_ABNORMAL".into()
        }
    );
    // The query answer may omit the package: still in progress.
    assert_eq!(
        TransferProvider::query(&gw, &payout).await,
        QueryOutcome::InProgress
    );
    assert_eq!(
        TransferProvider::query(&gw, &payout).await,
        QueryOutcome::NotFound
    );
    assert_eq!(gw.cancel(&payout).await, QueryOutcome::InProgress);
    let seen = fake.seen();
    assert_eq!(
        seen[4].1,
        format!("{BASE}/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/PO01JQ0000000000000000000007/cancel")
    );
}

#[test]
fn configuration_offers_only_what_is_configured() {
    let fake = FakeWechat::new(vec![]);
    let clock = Arc::new(TestClock::at(now()));
    let none = WechatpayGateway::from_env(&|_| None, fake.clone(), clock.clone()).unwrap();
    assert!(none.is_none(), "no merchant id: WeChat Pay is not offered");
    let missing_key = |name: &str| {
        (name != "WECHATPAY_MCH_PRIVATE_KEY")
            .then(|| env(name))
            .flatten()
    };
    let err = WechatpayGateway::from_env(&missing_key, fake.clone(), clock.clone()).unwrap_err();
    assert!(err.contains("WECHATPAY_MCH_PRIVATE_KEY"), "{err}");
    let mut gateways = Gateways::default();
    Arc::new(gateway(&fake)).register(&mut gateways);
    assert!(gateways.collection(Provider::Wechatpay).is_some());
    assert!(gateways.refunds(Provider::Wechatpay).is_some());
    assert!(gateways.transfer(Provider::Wechatpay).is_some());
    let no_scene = |name: &str| {
        (name != "WECHATPAY_TRANSFER_SCENE_ID")
            .then(|| env(name))
            .flatten()
    };
    let mut gateways = Gateways::default();
    Arc::new(
        WechatpayGateway::from_env(&no_scene, fake.clone(), clock)
            .unwrap()
            .unwrap(),
    )
    .register(&mut gateways);
    assert!(gateways.transfer(Provider::Wechatpay).is_none());
    let debug = format!("{:?}", gateway(&fake).config());
    assert!(!debug.contains("PRIVATE"), "{debug}");
}

/// The `Authorization` the adapter sent for a transfer equals the one the
/// `wechatpayv3` SDK makes for the same request, timestamp and nonce.
#[tokio::test]
async fn the_sdk_signs_our_transfer_request_exactly_as_we_did() {
    let fake = FakeWechat::new(vec![Scripted::Answer(200, WAITING)]);
    gateway(&fake).transfer(&transfer("12.50", openid())).await;
    let seen = fake.seen.lock().unwrap();
    let request = &seen[0].request;
    let ours = FakeWechat::header(request, "Authorization").unwrap();
    let field = |name: &str| {
        ours.split(',')
            .find_map(|kv| {
                kv.trim_start_matches("WECHATPAY2-SHA256-RSA2048 ")
                    .strip_prefix(&format!("{name}=\""))
            })
            .map(|v| v.trim_end_matches('"').to_owned())
            .unwrap()
    };
    let theirs = common::sdk::run(
        "wechatpay.py",
        json!({
            "op": "authorization",
            "private_key": private_pem(merchant_key()),
            "mchid": MCHID,
            "serial": MCH_SERIAL,
            "method": "POST",
            "path": "/sim/wechatpay/v3/fund-app/mch-transfer/transfer-bills",
            "body": String::from_utf8(request.body.clone()).unwrap(),
            "timestamp": field("timestamp").parse::<i64>().unwrap(),
            "nonce": field("nonce_str"),
        }),
    );
    assert_eq!(theirs["authorization"].as_str().unwrap(), ours);
}
