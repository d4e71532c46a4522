//! Our Alipay OpenAPI formats proved against python-alipay-sdk (PyPI,
//! pinned and installed by `infra/conformance.sh`), an implementation nobody
//! on the team wrote. The SDK runs offline through
//! `tests/conformance/alipay.py`; keys are fresh 2048-bit ones per run and
//! the certificates are made fresh per run by the driver.
//!
//! Never skipped: if the SDK's virtualenv cannot be made, every test here
//! fails and says why.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use common::keys;
use common::sdk::{private_pem, public_pem};
use qrpay_domain::{Amount, OrderId, PayerAccount, PayerAccountKind, PayoutId, ShopId, TestClock};
use qrpay_provider::alipay::gateway::AlipayGateway;
use qrpay_provider::alipay::{
    cert_sn, root_cert_sn, AlipaySigner, AnswerError, AnswerVerifier, RequestSigner,
};
use qrpay_provider::gateway::{
    CollectRequest, CollectionGateway, CreateOutcome, HttpRequest, HttpResponse, HttpTransport,
    PayMethod, ProviderCode, ProviderInstalments, RefundGateway, RefundNo, RefundOutcome,
    RefundRequest, TransportError,
};
use qrpay_provider::{Payee, TransferOutcome, TransferProvider, TransferRequest};
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

const APP_ID: &str = "2021000117600001";
const PRECREATE: &str = "alipay.trade.precreate";
const PRECREATE_RESPONSE: &str = "alipay_trade_precreate_response";
const NOTIFY_URL: &str = "https://pay.example.com/callbacks/alipay";

/// One case through the SDK's offline driver.
fn sdk(case: Value) -> Value {
    common::sdk::run("alipay.py", case)
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T02:00:05Z")
        .unwrap()
        .to_utc()
}

/// The app's key (signs our requests).
fn app_key() -> &'static RsaPrivateKey {
    &keys().current
}

/// Alipay's key (signs answers and notices).
fn alipay_key() -> &'static RsaPrivateKey {
    &keys().previous
}

/// The SDK configured as the app: app private key, Alipay's public key.
fn as_app(op: &str) -> Value {
    json!({
        "op": op,
        "app_id": APP_ID,
        "private_key": private_pem(app_key()),
        "public_key": public_pem(&alipay_key().to_public_key()),
    })
}

/// The SDK configured as Alipay: Alipay's private key (signs answers).
fn as_alipay(op: &str) -> Value {
    json!({
        "op": op,
        "app_id": APP_ID,
        "private_key": private_pem(alipay_key()),
        "public_key": public_pem(&app_key().to_public_key()),
    })
}

fn with(mut case: Value, fields: Value) -> Value {
    let object = case.as_object_mut().expect("a case object");
    for (k, v) in fields.as_object().expect("fields object") {
        object.insert(k.clone(), v.clone());
    }
    case
}

fn precreate_biz_content() -> String {
    json!({
        "out_trade_no": "ord_01JQ0000000000000000000000",
        "total_amount": "1288.00",
        "subject": "小店收款 — 分期购买一台咖啡机",
        "timeout_express": "90m",
        "extend_params": {"hb_fq_num": "6", "hb_fq_seller_percent": "100"},
    })
    .to_string()
}

fn params_of(request: &qrpay_provider::alipay::SignedRequest) -> Value {
    let params: serde_json::Map<String, Value> = request
        .params()
        .filter(|(k, _)| *k != "sign")
        .map(|(k, v)| (k.to_owned(), Value::from(v)))
        .collect();
    Value::Object(params)
}

/// Fresh certificates: a CA, the app's (for `app_key`), Alipay's (for
/// `alipay_key`), an ECDSA CA.
fn certs() -> &'static Value {
    static CERTS: OnceLock<Value> = OnceLock::new();
    CERTS.get_or_init(|| {
        sdk(json!({
            "op": "make_certs",
            "alipay_public_key": public_pem(&alipay_key().to_public_key()),
            "app_public_key": public_pem(&app_key().to_public_key()),
        }))
    })
}

fn cert(name: &str) -> &'static str {
    certs()[name].as_str().expect("a PEM certificate")
}

/// python-alipay-sdk splits a root bundle on blank lines.
fn root_bundle() -> String {
    format!("{}\n{}\n{}", cert("ca"), cert("ec_ca"), cert("alipay_cert"))
}

#[test]
fn a_precreate_request_is_signed_byte_for_byte_as_the_sdk_signs_it() {
    let signer = RequestSigner::from_key(APP_ID, app_key().clone()).unwrap();
    let biz_content = precreate_biz_content();
    let request = signer.sign(PRECREATE, &biz_content, Some(NOTIFY_URL), None, now());
    assert!(request.string_to_sign().contains("咖啡机"), "sent as UTF-8");
    assert!(request
        .string_to_sign()
        .contains("timestamp=2026-03-01 10:00:05"));
    let theirs = sdk(with(
        as_app("sign_data"),
        json!({"params": params_of(&request)}),
    ));
    assert_eq!(request.sign(), theirs["sign"].as_str().unwrap());
}

#[test]
fn a_certificate_mode_request_carries_the_sdks_sns_and_sign() {
    let signer = RequestSigner::from_key(APP_ID, app_key().clone())
        .unwrap()
        .with_certificates(cert("app_cert"), &root_bundle())
        .unwrap();
    let biz_content = precreate_biz_content();
    let request = signer.sign(PRECREATE, &biz_content, Some(NOTIFY_URL), None, now());
    let theirs = sdk(with(
        as_app("dc_sign_data"),
        json!({
            "app_cert": cert("app_cert"),
            "alipay_cert": cert("alipay_cert"),
            "root_cert": root_bundle(),
            "method": PRECREATE,
            "biz_content": biz_content,
            "notify_url": NOTIFY_URL,
            "timestamp": "2026-03-01 10:00:05",
        }),
    ));
    assert_eq!(params_of(&request), theirs["params"], "the same parameters");
    assert_eq!(request.sign(), theirs["sign"].as_str().unwrap());
}

/// An inner object with `\/` escapes and Chinese text, as Alipay writes it.
const INNER: &str = r#"{"code":"10000","msg":"Success","out_trade_no":"ord_01JQ0000000000000000000000","qr_code":"https:\/\/qr.alipay.com\/bax03431ljhokirwl38f00a7","subject":"咖啡机"}"#;

fn public_key_verifier() -> AnswerVerifier {
    AnswerVerifier::from_public_keys(vec![alipay_key().to_public_key()]).unwrap()
}

#[test]
fn an_answer_the_sdk_signed_verifies_and_a_changed_or_unsigned_one_does_not() {
    let raw = sdk(with(
        as_alipay("sign_answer"),
        json!({"response_key": PRECREATE_RESPONSE, "inner": INNER}),
    ))["raw"]
        .as_str()
        .unwrap()
        .to_owned();
    let verifier = public_key_verifier();
    let response = verifier.verify_answer(raw.as_bytes(), PRECREATE).unwrap();
    assert_eq!(
        response["qr_code"],
        "https://qr.alipay.com/bax03431ljhokirwl38f00a7"
    );
    assert_eq!(response["subject"], "咖啡机");

    let changed = raw.replacen("10000", "10001", 1);
    assert_eq!(
        verifier.verify_answer(changed.as_bytes(), PRECREATE),
        Err(AnswerError::BadSignature)
    );
    let unescaped = raw.replacen(r"https:\/\/", "https://", 1);
    assert_eq!(
        verifier.verify_answer(unescaped.as_bytes(), PRECREATE),
        Err(AnswerError::BadSignature)
    );
    let unsigned = format!("{{\"{PRECREATE_RESPONSE}\":{INNER}}}");
    assert_eq!(
        verifier.verify_answer(unsigned.as_bytes(), PRECREATE),
        Err(AnswerError::Unsigned)
    );
    let stranger = AnswerVerifier::from_public_keys(vec![keys().stranger.to_public_key()]).unwrap();
    assert_eq!(
        stranger.verify_answer(raw.as_bytes(), PRECREATE),
        Err(AnswerError::BadSignature)
    );
}

#[test]
fn an_answer_our_simulator_signs_passes_the_sdks_check() {
    let signer = AlipaySigner::new(APP_ID, alipay_key().clone()).unwrap();
    let raw = signer.sign_answer(PRECREATE, INNER, None);
    let theirs = sdk(with(
        as_app("verify_answer"),
        json!({"raw": raw, "response_key": PRECREATE_RESPONSE}),
    ));
    assert_eq!(theirs["verified"], true, "{theirs}");
    assert_eq!(
        theirs["response"],
        serde_json::from_str::<Value>(INNER).unwrap()
    );
    let forged = raw.replacen("咖啡机", "咖啡杯", 1);
    let theirs = sdk(with(
        as_app("verify_answer"),
        json!({"raw": forged, "response_key": PRECREATE_RESPONSE}),
    ));
    assert_eq!(
        theirs["verified"], false,
        "the SDK refuses a changed answer too"
    );
}

#[test]
fn a_brace_inside_a_string_does_not_end_the_signed_text() {
    // Rust only: python-alipay-sdk's matcher is not string-aware and cuts at "a}".
    let inner = r#"{"code":"10000","msg":"Success","subject":"a}b","out_trade_no":"o_1"}"#;
    let signer = AlipaySigner::new(APP_ID, alipay_key().clone()).unwrap();
    let raw = signer.sign_answer(PRECREATE, inner, None);
    let response = public_key_verifier()
        .verify_answer(raw.as_bytes(), PRECREATE)
        .unwrap();
    assert_eq!(response["subject"], "a}b");
}

#[test]
fn certificate_mode_answers_check_the_alipay_cert_sn() {
    let sn = cert_sn(cert("alipay_cert")).unwrap();
    let verifier = AnswerVerifier::from_certificates(&[cert("alipay_cert")]).unwrap();
    let signer = AlipaySigner::new(APP_ID, alipay_key().clone()).unwrap();
    let raw = signer.sign_answer(PRECREATE, INNER, Some(&sn));
    assert!(verifier.verify_answer(raw.as_bytes(), PRECREATE).is_ok());
    let theirs = sdk(with(
        as_app("verify_answer"),
        json!({"raw": raw, "response_key": PRECREATE_RESPONSE}),
    ));
    assert_eq!(theirs["verified"], true, "{theirs}");
    let rotated = signer.sign_answer(PRECREATE, INNER, Some("0123456789abcdef0123456789abcdef"));
    assert!(matches!(
        verifier.verify_answer(rotated.as_bytes(), PRECREATE),
        Err(AnswerError::UnknownCertificate(Some(_)))
    ));
    let no_sn = signer.sign_answer(PRECREATE, INNER, None);
    assert_eq!(
        verifier.verify_answer(no_sn.as_bytes(), PRECREATE),
        Err(AnswerError::UnknownCertificate(None))
    );
}

#[test]
fn certificate_sns_equal_the_sdks() {
    for name in ["ca", "app_cert", "alipay_cert"] {
        let theirs = sdk(json!({"op": "cert_sn", "pem": cert(name)}));
        let ours = cert_sn(cert(name)).unwrap();
        assert_eq!(ours.len(), 32);
        assert_eq!(ours, theirs["sn"].as_str().unwrap(), "{name}");
    }
}

#[test]
fn the_root_cert_sn_skips_the_ecdsa_certificate_as_the_sdk_does() {
    let bundle = root_bundle();
    let theirs = sdk(json!({"op": "root_cert_sn", "pem": bundle}));
    let ours = root_cert_sn(&bundle).unwrap();
    assert_eq!(ours, theirs["sn"].as_str().unwrap());
    let expected = format!(
        "{}_{}",
        cert_sn(cert("ca")).unwrap(),
        cert_sn(cert("alipay_cert")).unwrap()
    );
    assert_eq!(
        ours, expected,
        "two RSA certificates, the ECDSA one left out"
    );
}

#[test]
fn a_notice_our_simulator_signs_passes_the_sdks_verify() {
    let signer = AlipaySigner::new(APP_ID, alipay_key().clone()).unwrap();
    let notice = signer.sign_params(&[
        ("notify_time", "2026-03-01 10:00:00"),
        ("notify_type", "trade_status_sync"),
        ("app_id", APP_ID),
        ("charset", "utf-8"),
        ("sign_type", "RSA2"),
        ("out_trade_no", "ord_01JQ0000000000000000000000"),
        ("subject", "咖啡机"),
        ("total_amount", "1288.00"),
    ]);
    let params: serde_json::Map<String, Value> = form_urlencoded::parse(&notice.body)
        .map(|(k, v)| (k.into_owned(), Value::from(v.into_owned())))
        .collect();
    let theirs = sdk(with(as_app("verify_notice"), json!({"params": params})));
    assert_eq!(theirs["verified"], true);
}

// ---- the gateway adapter's requests and answers --------------------------------------

const ORDER: &str = "ord_01JQ0000000000000000000000";
const BUYER: &str = "2088102177846880";

/// Answers every request with one raw answer and keeps what was sent.
struct Replaying {
    answer: String,
    sent: Mutex<Vec<HttpRequest>>,
}

#[async_trait]
impl HttpTransport for Replaying {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        self.sent.lock().unwrap().push(request);
        Ok(HttpResponse {
            status: 200,
            headers: vec![("Content-Type".into(), "text/html;charset=utf-8".into())],
            body: self.answer.clone().into_bytes(),
        })
    }
}

/// The adapter configured as the app, answered by `answer`; in certificate
/// mode with the SDK-made certificates.
fn adapter(answer: String, certificate_mode: bool) -> (AlipayGateway, Arc<Replaying>) {
    let mut env = BTreeMap::from([
        ("ALIPAY_APP_ID", APP_ID.to_owned()),
        ("ALIPAY_APP_PRIVATE_KEY", private_pem(app_key())),
        (
            "ALIPAY_GATEWAY_URL",
            "https://openapi.example.com/gateway.do".to_owned(),
        ),
        (
            "QRPAY_CALLBACK_BASE_URL",
            "https://pay.example.com".to_owned(),
        ),
    ]);
    if certificate_mode {
        env.insert("ALIPAY_APP_CERT", cert("app_cert").to_owned());
        env.insert("ALIPAY_PUBLIC_CERT", cert("alipay_cert").to_owned());
        env.insert("ALIPAY_ROOT_CERT", root_bundle());
    } else {
        env.insert(
            "ALIPAY_PUBLIC_KEY",
            public_pem(&alipay_key().to_public_key()),
        );
    }
    let transport = Arc::new(Replaying {
        answer,
        sent: Mutex::default(),
    });
    let gateway = AlipayGateway::from_env(
        &|name: &str| env.get(name).cloned(),
        transport.clone(),
        Arc::new(TestClock::at(now())),
    )
    .expect("a valid configuration")
    .expect("Alipay is configured");
    (gateway, transport)
}

/// The one request the adapter sent, as a decoded form (`sign` included).
fn sent_params(transport: &Replaying) -> Value {
    let sent = transport.sent.lock().unwrap();
    assert_eq!(sent.len(), 1, "one call");
    let params: serde_json::Map<String, Value> = form_urlencoded::parse(&sent[0].body)
        .map(|(k, v)| (k.into_owned(), Value::from(v.into_owned())))
        .collect();
    Value::Object(params)
}

fn without_sign(params: &Value) -> Value {
    let mut params = params.clone();
    params.as_object_mut().unwrap().remove("sign");
    params
}

/// The SDK, holding the app's public key, checks the request's `sign`; and
/// signing the same parameters with the app key it writes the same `sign`.
fn assert_the_sdk_accepts(params: &Value) {
    let verified = sdk(with(as_alipay("verify_request"), json!({"params": params})));
    assert_eq!(verified["verified"], true, "{params}");
    let mut tampered = params.clone();
    tampered["timestamp"] = "2026-03-01 10:00:06".into();
    let verified = sdk(with(
        as_alipay("verify_request"),
        json!({"params": tampered}),
    ));
    assert_eq!(verified["verified"], false, "the SDK's check can fail");
    let theirs = sdk(with(
        as_app("sign_data"),
        json!({"params": without_sign(params)}),
    ));
    assert_eq!(params["sign"], theirs["sign"]);
}

/// An answer the SDK signed with Alipay's key.
fn sdk_answer(method: &str, inner: &Value, alipay_cert_sn: Option<String>) -> String {
    let case = json!({
        "response_key": format!("{}_response", method.replace('.', "_")),
        "inner": inner.to_string(),
        "alipay_cert_sn": alipay_cert_sn,
    });
    sdk(with(as_alipay("sign_answer"), case))["raw"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_adapters_precreate_passes_the_sdk_and_the_sdks_answer_passes_the_adapter() {
    let inner = json!({"code": "10000", "msg": "Success", "out_trade_no": ORDER,
                       "qr_code": "https://qr.alipay.com/bax03431ljhokirwl38f00a7"});
    let (gateway, transport) = adapter(sdk_answer(PRECREATE, &inner, None), false);
    let request = CollectRequest {
        order_id: OrderId::parse(ORDER).unwrap(),
        amount: Amount::from_fen(128_800).unwrap(),
        subject: "小店收款 — 分期购买一台咖啡机".into(),
        expires_at: now() + chrono::Duration::minutes(90),
        method: PayMethod::Scan,
        instalments: Some(ProviderInstalments {
            periods: 6,
            shop_pays_fee: true,
        }),
        shop_id: None,
    };
    assert_eq!(
        gateway.create(&request).await,
        CreateOutcome::Created(ProviderCode::QrContent(
            "https://qr.alipay.com/bax03431ljhokirwl38f00a7".into()
        ))
    );
    let params = sent_params(&transport);
    assert_eq!(params["method"], PRECREATE);
    assert_eq!(params["notify_url"], NOTIFY_URL);
    assert_the_sdk_accepts(&params);
}

#[tokio::test]
async fn the_adapters_refund_passes_the_sdk_and_the_sdks_answer_passes_the_adapter() {
    let method = "alipay.trade.refund";
    let inner = json!({"code": "10000", "msg": "Success", "out_trade_no": ORDER,
                       "trade_no": "2026030122001401000000000001", "fund_change": "Y",
                       "refund_fee": "10.00", "buyer_logon_id": "159****5620"});
    let (gateway, transport) = adapter(sdk_answer(method, &inner, None), false);
    let request = RefundRequest {
        refund_no: RefundNo::parse("rf_01JQ0000000000000000000001").unwrap(),
        order_id: OrderId::parse(ORDER).unwrap(),
        amount: Amount::from_fen(1000).unwrap(),
        order_total: Amount::from_fen(128_800).unwrap(),
        reason: Some("商品破损".into()),
    };
    assert_eq!(
        gateway.refund(&request).await,
        RefundOutcome::Succeeded {
            provider_refund_id: None
        }
    );
    let params = sent_params(&transport);
    assert_eq!(params["method"], method);
    assert_the_sdk_accepts(&params);
}

#[tokio::test]
async fn the_adapters_transfer_is_the_sdks_certificate_mode_request_and_its_answer_verifies() {
    let method = "alipay.fund.trans.uni.transfer";
    let alipay_cert_sn = cert_sn(cert("alipay_cert")).unwrap();
    let inner = json!({"code": "10000", "msg": "Success", "out_biz_no": "po_01JQ0000000000000000000001",
                       "order_id": "20260301110070000002150000657610",
                       "pay_fund_order_id": "20260301110070001502150000660902",
                       "status": "SUCCESS", "trans_date": "2026-03-01 10:00:06"});
    let (gateway, transport) = adapter(sdk_answer(method, &inner, Some(alipay_cert_sn)), true);
    let request = TransferRequest {
        out_bill_no: PayoutId::parse("po_01JQ0000000000000000000001").unwrap(),
        amount: Amount::from_fen(500).unwrap(),
        payee: Payee {
            shop_id: ShopId::parse("shop_1").unwrap(),
            order_id: OrderId::parse(ORDER).unwrap(),
            provider_txn_id: None,
            account: Some(PayerAccount::new(PayerAccountKind::AlipayUserId, BUYER).unwrap()),
        },
    };
    assert_eq!(
        gateway.transfer(&request).await,
        TransferOutcome::Succeeded {
            provider_ref: "20260301110070000002150000657610".into()
        }
    );
    let params = sent_params(&transport);
    // DCAliPay builds the certificate-mode request from the same business
    // content: the same parameters, SNs included, and the same sign.
    let theirs = sdk(with(
        as_app("dc_sign_data"),
        json!({
            "app_cert": cert("app_cert"),
            "alipay_cert": cert("alipay_cert"),
            "root_cert": root_bundle(),
            "method": method,
            "biz_content": params["biz_content"],
            "notify_url": null,
            "timestamp": "2026-03-01 10:00:05",
        }),
    ));
    assert_eq!(without_sign(&params), theirs["params"]);
    assert_eq!(params["sign"], theirs["sign"]);
    assert_the_sdk_accepts(&params);

    // The same answer under a certificate SN we do not hold is not believed.
    let rotated = sdk_answer(
        method,
        &inner,
        Some("0123456789abcdef0123456789abcdef".into()),
    );
    let (gateway, _) = adapter(rotated, true);
    assert!(matches!(
        gateway.transfer(&request).await,
        TransferOutcome::Ambiguous { .. }
    ));
}
