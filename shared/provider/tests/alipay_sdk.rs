//! Our Alipay OpenAPI formats proved against python-alipay-sdk (PyPI,
//! pinned and installed by `infra/conformance.sh`), an implementation nobody
//! on the team wrote. The SDK runs offline through
//! `tests/conformance/alipay.py`; keys are fresh 2048-bit ones per run and
//! the certificates are made fresh per run by the driver.
//!
//! Never skipped: if the SDK's virtualenv cannot be made, every test here
//! fails and says why.

mod common;

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use common::keys;
use common::sdk::{private_pem, public_pem};
use qrpay_provider::alipay::{
    cert_sn, root_cert_sn, AlipaySigner, AnswerError, AnswerVerifier, RequestSigner,
};
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

/// Fresh certificates: a CA, the app's, Alipay's (for `alipay_key`), an ECDSA CA.
fn certs() -> &'static Value {
    static CERTS: OnceLock<Value> = OnceLock::new();
    CERTS.get_or_init(|| {
        sdk(json!({
            "op": "make_certs",
            "alipay_public_key": public_pem(&alipay_key().to_public_key()),
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
