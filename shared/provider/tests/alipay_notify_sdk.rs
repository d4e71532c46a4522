//! Alipay notifies as python-alipay-sdk (PyPI, pinned and installed by
//! `infra/conformance.sh`) signs and checks them, against our verifier and
//! signer: a notify with an empty parameter (`passback_params=`), and GBK
//! notifies. The SDK runs offline through `tests/conformance/alipay_notify.py`;
//! keys are fresh 2048-bit ones per run. Never skipped.

mod common;

use common::keys;
use common::sdk::{private_pem, public_pem};
use qrpay_domain::{Payer, PayerAccount, PayerAccountKind, Provider};
use qrpay_provider::alipay::{AlipaySigner, AlipayVerifier};
use qrpay_provider::CallbackVerifier;
use serde_json::{json, Map, Value};

const APP_ID: &str = "2021000117600001";

fn sdk(case: Value) -> Value {
    common::sdk::run("alipay_notify.py", case)
}

fn keys_case(op: &str) -> Value {
    json!({
        "op": op,
        "app_id": APP_ID,
        "private_key": private_pem(&keys().current),
        "public_key": public_pem(&keys().current.to_public_key()),
    })
}

fn verifier() -> AlipayVerifier {
    AlipayVerifier::new(APP_ID, vec![keys().current.to_public_key()]).unwrap()
}

/// A payment notify, with `charset` and an empty `passback_params`.
fn params(charset: &str) -> Map<String, Value> {
    let pairs = [
        ("notify_time", "2026-03-01 10:00:00"),
        ("notify_type", "trade_status_sync"),
        ("notify_id", "2026030100222100000000001234567890"),
        ("app_id", APP_ID),
        ("charset", charset),
        ("version", "1.0"),
        ("sign_type", "RSA2"),
        ("trade_no", "2026030122001400001234567890"),
        ("out_trade_no", common::ORDER),
        ("trade_status", "TRADE_SUCCESS"),
        ("total_amount", "88.88"),
        ("gmt_payment", "2026-03-01 09:59:00"),
        ("subject", "奶茶 & 小食=2"),
        ("buyer_id", "2088102122524333"),
        ("buyer_name", "张三丰"),
        ("passback_params", ""),
    ];
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
        .collect()
}

fn payment() -> qrpay_domain::CollectionEvent {
    common::event(
        Provider::Alipay,
        "2026030100222100000000001234567890",
        common::paid(
            "2026030122001400001234567890",
            8888,
            Some(Payer {
                name: Some("张三丰".into()),
                phone: None,
                account: Some(
                    PayerAccount::new(PayerAccountKind::AlipayUserId, "2088102122524333").unwrap(),
                ),
            }),
        ),
    )
}

/// The form the SDK signed, as Alipay would POST it.
fn sdk_signed(charset: &str) -> (String, String) {
    let mut case = keys_case("sign_notify");
    case["params"] = Value::Object(params(charset));
    case["charset"] = Value::from(charset);
    let answer = sdk(case);
    (
        answer["body"].as_str().unwrap().to_owned(),
        answer["content"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn a_notify_the_sdk_signed_with_an_empty_value_verifies() {
    let (body, content) = sdk_signed("utf-8");
    assert!(content.contains("&passback_params=&"), "{content}");
    assert!(!content.contains("sign_type"), "{content}");
    assert!(body.contains("passback_params=&"), "{body}");
    assert_eq!(
        verifier().verify(&http::HeaderMap::new(), body.as_bytes(), common::now()),
        Ok(payment())
    );
}

#[test]
fn gbk_and_gb2312_notifies_the_sdks_key_signed_verify() {
    for charset in ["gbk", "GBK", "gb2312"] {
        let (body, _) = sdk_signed(charset);
        // 张三丰 as GBK bytes, percent-encoded.
        assert!(body.contains("buyer_name=%D5%C5%C8%FD%B7%E1"), "{body}");
        assert_eq!(
            verifier().verify(&http::HeaderMap::new(), body.as_bytes(), common::now()),
            Ok(payment()),
            "{charset}"
        );
    }
}

#[test]
fn the_sdk_verifies_our_signers_notify_with_an_empty_value() {
    let signer = AlipaySigner::new(APP_ID, keys().current.clone()).unwrap();
    let pairs: Vec<(String, String)> = params("utf-8")
        .into_iter()
        .map(|(k, v)| (k, v.as_str().unwrap().to_owned()))
        .collect();
    let borrowed: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let notice = signer.sign_params(&borrowed);
    let decoded: Map<String, Value> = form_urlencoded::parse(&notice.body)
        .map(|(k, v)| (k.into_owned(), Value::from(v.into_owned())))
        .collect();
    assert_eq!(decoded["passback_params"], json!(""));
    let mut case = keys_case("verify_notify");
    case["params"] = Value::Object(decoded);
    assert_eq!(sdk(case)["verified"], json!(true));
}
