//! Our WeChat Pay API v3 formats proved against the `wechatpayv3` SDK
//! (PyPI, pinned and installed by `infra/conformance.sh`), an implementation
//! nobody on the team wrote. The SDK runs offline through
//! `tests/conformance/wechatpay.py`; keys are fresh 2048-bit ones per run.
//!
//! Never skipped: if the SDK's virtualenv cannot be made, every test here
//! fails and says why.

mod common;

use chrono::{DateTime, Utc};
use common::keys;
use common::sdk::{private_pem, public_pem};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use qrpay_domain::{PayoutId, Provider, Secret};
use qrpay_provider::callback::TransferFinished;
use qrpay_provider::wechatpay::{
    encrypt_sensitive, AnswerError, PlatformKeys, RequestSigner, SensitiveError, WechatpaySigner,
    WechatpayVerifier,
};
use qrpay_provider::{CallbackVerifier, Notice, NoticeSigner};
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

const MCHID: &str = "1900000109";
const MCH_SERIAL: &str = "444F4864EA9B34415B1B3F1A0B5B9C2C6C7C8D9E";
const PUBLIC_KEY_ID: &str = "PUB_KEY_ID_0114232134912410000000000000";
const APP_ID: &str = "wx8888888888888888";
const TIMESTAMP: i64 = 1_772_330_400;
const NONCE: &str = "5K8264ILTKCH16CQ2502SI8ZNMTM67VS";

/// One case through the SDK's offline driver.
fn sdk(case: Value) -> Value {
    common::sdk::run("wechatpay.py", case)
}

/// The merchant's key (what we sign requests and `paySign` with).
fn merchant_key() -> &'static RsaPrivateKey {
    &keys().current
}

/// WeChat Pay's platform key (what signs answers; what we encrypt for).
fn platform_key() -> &'static RsaPrivateKey {
    &keys().previous
}

fn request_signer() -> RequestSigner {
    RequestSigner::from_key(MCHID, MCH_SERIAL, merchant_key().clone()).unwrap()
}

/// The SDK's `Authorization` header for the same request.
fn sdk_authorization(method: &str, path: &str, body: &str) -> String {
    let answer = sdk(json!({
        "op": "authorization",
        "private_key": private_pem(merchant_key()),
        "mchid": MCHID,
        "serial": MCH_SERIAL,
        "method": method,
        "path": path,
        "body": body,
        "timestamp": TIMESTAMP,
        "nonce": NONCE,
    }));
    answer["authorization"]
        .as_str()
        .expect("an authorization string")
        .to_owned()
}

fn assert_same_authorization(method: Method, path: &str, body: &str) {
    let ours = request_signer().authorization(&method, path, TIMESTAMP, NONCE, body.as_bytes());
    let theirs = sdk_authorization(method.as_str(), path, body);
    assert_eq!(ours, theirs, "{method} {path}");
}

#[test]
fn authorization_of_a_get_with_a_query_equals_the_sdks() {
    assert_same_authorization(
        Method::GET,
        "/v3/pay/transactions/out-trade-no/ord_01JQ0000000000000000000000?mchid=1900000109",
        "",
    );
}

#[test]
fn authorization_of_a_post_with_chinese_text_equals_the_sdks() {
    let body = json!({
        "appid": APP_ID,
        "mchid": MCHID,
        "description": "小店收款 — 一杯拿铁",
        "out_trade_no": "ord_01JQ0000000000000000000000",
        "notify_url": "https://example.com/callbacks/wechatpay",
        "amount": {"total": 1800, "currency": "CNY"},
    })
    .to_string();
    assert!(body.contains("拿铁"), "sent as UTF-8, not escaped");
    assert_same_authorization(Method::POST, "/v3/pay/transactions/native", &body);
}

#[test]
fn authorization_of_an_empty_body_post_equals_the_sdks() {
    assert_same_authorization(
        Method::POST,
        "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/PO01JQ0000000000000000000000/cancel",
        "",
    );
}

#[test]
fn jsapi_pay_sign_equals_the_sdks() {
    let prepay_id = "wx201410272009395522657a690389285100";
    let ours = request_signer().jsapi_invoke(APP_ID, prepay_id, TIMESTAMP, NONCE);
    let theirs = sdk(json!({
        "op": "pay_sign",
        "private_key": private_pem(merchant_key()),
        "mchid": MCHID,
        "serial": MCH_SERIAL,
        "app_id": APP_ID,
        "timestamp": TIMESTAMP,
        "nonce": NONCE,
        "package": format!("prepay_id={prepay_id}"),
        "public_key": public_pem(&platform_key().to_public_key()),
        "public_key_id": PUBLIC_KEY_ID,
    }));
    assert_eq!(ours.pay_sign, theirs["pay_sign"].as_str().unwrap());
    assert_eq!(
        serde_json::to_value(&ours).unwrap(),
        json!({
            "appId": APP_ID,
            "timeStamp": TIMESTAMP.to_string(),
            "nonceStr": NONCE,
            "package": format!("prepay_id={prepay_id}"),
            "signType": "RSA",
            "paySign": ours.pay_sign,
        })
    );
}

/// The platform's certificate serial, as configured (upper case).
const CERT_SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A72";

fn at(timestamp: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(timestamp, 0).unwrap()
}

/// The platform keys we check answers with: public-key mode's id for the
/// platform key, and a certificate serial for a stranger's key.
fn platform_keys() -> PlatformKeys {
    PlatformKeys::new(vec![
        (PUBLIC_KEY_ID.to_owned(), platform_key().to_public_key()),
        (CERT_SERIAL.to_owned(), keys().stranger.to_public_key()),
    ])
    .unwrap()
}

/// `ts\nnonce\nbody\n` signed by the SDK (`utils.rsa_sign`) with `key`.
fn sdk_signature(key: &RsaPrivateKey, timestamp: i64, nonce: &str, body: &str) -> String {
    let answer = sdk(json!({
        "op": "rsa_sign",
        "private_key": private_pem(key),
        "message": format!("{timestamp}\n{nonce}\n{body}\n"),
    }));
    answer["signature"].as_str().unwrap().to_owned()
}

/// Answer headers as WeChat sends them, names spelt as given.
fn answer_headers(names: [&str; 4], values: [&str; 4]) -> HeaderMap {
    names
        .iter()
        .zip(values)
        .map(|(name, value)| {
            (
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            )
        })
        .collect()
}

const CANONICAL_NAMES: [&str; 4] = [
    "Wechatpay-Timestamp",
    "Wechatpay-Nonce",
    "Wechatpay-Signature",
    "Wechatpay-Serial",
];

fn signed_answer(serial: &str, signature: &str) -> HeaderMap {
    answer_headers(
        CANONICAL_NAMES,
        [&TIMESTAMP.to_string(), NONCE, signature, serial],
    )
}

const ANSWER: &str = r#"{"code_url":"weixin://wxpay/bizpayurl?pr=p4lpSuKzz","note":"收款"}"#;

#[test]
fn an_answer_signed_by_the_sdk_verifies_and_any_change_is_refused() {
    let keys = platform_keys();
    let signature = sdk_signature(platform_key(), TIMESTAMP, NONCE, ANSWER);
    let headers = signed_answer(PUBLIC_KEY_ID, &signature);
    let now = at(TIMESTAMP + 60);
    assert_eq!(keys.verify_answer(&headers, ANSWER.as_bytes(), now), Ok(()));

    let mut changed = ANSWER.as_bytes().to_vec();
    changed[3] ^= 0x01;
    assert!(matches!(
        keys.verify_answer(&headers, &changed, now),
        Err(AnswerError::BadSignature(_))
    ));
    assert_eq!(
        keys.verify_answer(&headers, ANSWER.as_bytes(), at(TIMESTAMP + 301)),
        Err(AnswerError::Stale { skew_s: 301 })
    );
    assert_eq!(
        keys.verify_answer(&headers, ANSWER.as_bytes(), at(TIMESTAMP - 301)),
        Err(AnswerError::Stale { skew_s: -301 })
    );
    let probe = signed_answer(PUBLIC_KEY_ID, &format!("WECHATPAY/SIGNTEST/{signature}"));
    assert!(matches!(
        keys.verify_answer(&probe, ANSWER.as_bytes(), now),
        Err(AnswerError::BadSignature(_))
    ));
}

#[test]
fn an_empty_204_answer_signed_by_the_sdk_verifies() {
    let signature = sdk_signature(platform_key(), TIMESTAMP, NONCE, "");
    let headers = signed_answer(PUBLIC_KEY_ID, &signature);
    assert_eq!(
        platform_keys().verify_answer(&headers, b"", at(TIMESTAMP)),
        Ok(())
    );
}

#[test]
fn header_names_in_any_case_and_certificate_serials_as_numbers_verify() {
    let signature = sdk_signature(&keys().stranger, TIMESTAMP, NONCE, ANSWER);
    let serial = format!("00{}", CERT_SERIAL.to_lowercase());
    let headers = answer_headers(
        [
            "wechatpay-timestamp",
            "WECHATPAY-NONCE",
            "wechatpay-Signature",
            "wechatpay-serial",
        ],
        [&TIMESTAMP.to_string(), NONCE, &signature, &serial],
    );
    assert_eq!(
        platform_keys().verify_answer(&headers, ANSWER.as_bytes(), at(TIMESTAMP)),
        Ok(())
    );
}

#[test]
fn a_signature_by_the_wrong_key_or_an_unknown_serial_is_refused() {
    let platform = platform_keys();
    // Signed by the certificate's key but naming the public key id.
    let signature = sdk_signature(&keys().stranger, TIMESTAMP, NONCE, ANSWER);
    for headers in [
        signed_answer(PUBLIC_KEY_ID, &signature),
        signed_answer("PUB_KEY_ID_0000000000000000000000000000", &signature),
        signed_answer("5157F09EFDC096DE15EBE81A47057A73", &signature),
    ] {
        assert!(matches!(
            platform.verify_answer(&headers, ANSWER.as_bytes(), at(TIMESTAMP)),
            Err(AnswerError::BadSignature(_))
        ));
    }
}

#[test]
fn an_unsigned_success_answer_is_refused_as_unsigned() {
    let keys = platform_keys();
    let none = HeaderMap::new();
    assert!(matches!(
        keys.verify_answer(&none, ANSWER.as_bytes(), at(TIMESTAMP)),
        Err(AnswerError::Unsigned(_))
    ));
    // Three of the four headers is still unsigned.
    let mut partial = signed_answer(PUBLIC_KEY_ID, "c2lnbmF0dXJl");
    partial.remove("wechatpay-signature");
    assert!(matches!(
        keys.verify_answer(&partial, ANSWER.as_bytes(), at(TIMESTAMP)),
        Err(AnswerError::Unsigned(_))
    ));
}

#[test]
fn notices_our_local_simulator_signs_verify_with_the_sdk() {
    let signer = WechatpaySigner::new(
        MCHID,
        PUBLIC_KEY_ID,
        platform_key().clone(),
        Secret::new("0123456789abcdef0123456789ABCDEF".to_owned()),
    )
    .unwrap();
    let event = common::event(
        Provider::Wechatpay,
        "EV-2026030100001",
        common::paid("4200001234202603010001", 8888, None),
    );
    let notice = signer.sign(&event, common::now());
    let headers: serde_json::Map<String, Value> = notice
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), Value::from(value.as_str())))
        .collect();
    let answer = sdk(json!({
        "op": "verify_signature",
        "private_key": private_pem(merchant_key()),
        "mchid": MCHID,
        "serial": MCH_SERIAL,
        "public_key": public_pem(&platform_key().to_public_key()),
        "public_key_id": PUBLIC_KEY_ID,
        "headers": headers,
        "body": String::from_utf8(notice.body.clone()).unwrap(),
    }));
    assert_eq!(answer["verified"], json!(true));
}

#[test]
fn the_sdk_decrypts_our_oaep_ciphertext_of_a_chinese_name() {
    let name = "欧阳娜娜";
    let platform = platform_key().to_public_key();
    let first = encrypt_sensitive(name, &platform).unwrap();
    let second = encrypt_sensitive(name, &platform).unwrap();
    assert_ne!(first, second, "OAEP is randomized");
    for ciphertext in [first, second] {
        let answer = sdk(json!({
            "op": "rsa_decrypt",
            "private_key": private_pem(platform_key()),
            "ciphertext": ciphertext,
        }));
        assert_eq!(answer["plaintext"], json!(name));
    }
}

#[test]
fn empty_and_oversize_sensitive_fields_are_refused() {
    let platform = platform_key().to_public_key();
    assert_eq!(encrypt_sensitive("", &platform), Err(SensitiveError::Empty));
    // 2048 bits: 256 - 2 * 20 - 2 = 214 bytes fit.
    assert!(encrypt_sensitive(&"a".repeat(214), &platform).is_ok());
    assert_eq!(
        encrypt_sensitive(&"a".repeat(215), &platform),
        Err(SensitiveError::TooLong { max_bytes: 214 })
    );
}

const API_V3_KEY: &str = "0123456789abcdef0123456789ABCDEF";

fn notice_verifier(platform: PlatformKeys) -> WechatpayVerifier {
    WechatpayVerifier::with_keys(MCHID, platform, vec![Secret::new(API_V3_KEY.to_owned())]).unwrap()
}

/// A transfer bill's resource, as https://pay.weixin.qq.com/doc/v3/merchant/4012712115 shows it.
const TRANSFER_BILL: &str = r#"{"mchid":"1900000109","out_bill_no":"PO01JQ0000000000000000000000","transfer_bill_no":"1330000071100999991182020050700019480001","state":"SUCCESS","transfer_amount":1230,"openid":"o-MYE42l80oelYMDE34nYD456Xoy","create_time":"2026-03-01T09:58:00+08:00","update_time":"2026-03-01T09:59:00+08:00"}"#;

/// A notice around a resource `cryptography`'s AESGCM sealed (not our
/// code), its headers signed by the SDK's `rsa_sign`.
fn independently_sealed(event_type: &str, plaintext: &str, aad: &str) -> (HeaderMap, Vec<u8>) {
    let nonce = "fPqxLQRZmjVn";
    let sealed = sdk(json!({
        "op": "aes_encrypt",
        "apiv3_key": API_V3_KEY,
        "nonce": nonce,
        "plaintext": plaintext,
        "associated_data": aad,
    }));
    let body = json!({
        "id": "c5e1963a-bd4d-5dd2-bbaf-8f7236a2b20a",
        "create_time": "2026-03-01T09:59:30+08:00",
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": "商家转账单据终态通知",
        "resource": {
            "original_type": "mch_payment",
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": sealed["ciphertext"],
            "associated_data": aad,
            "nonce": nonce,
        },
    })
    .to_string();
    let signature = sdk_signature(platform_key(), TIMESTAMP, NONCE, &body);
    (signed_answer(PUBLIC_KEY_ID, &signature), body.into_bytes())
}

#[test]
fn a_resource_sealed_by_an_independent_aes_gcm_opens_in_our_verifier() {
    let verifier = notice_verifier(platform_keys());
    for aad in ["mch_payment", ""] {
        let (headers, body) = independently_sealed("MCHTRANSFER.BILL.FINISHED", TRANSFER_BILL, aad);
        let notice = verifier
            .verify_notice(&headers, &body, at(TIMESTAMP))
            .unwrap();
        let Notice::Transfer(transfer) = notice else {
            panic!("a transfer notice, got {notice:?}");
        };
        assert_eq!(transfer.provider, Provider::Wechatpay);
        assert_eq!(
            transfer.out_bill_no.as_str(),
            "po_01JQ0000000000000000000000"
        );
        assert_eq!(
            transfer.provider_ref,
            "1330000071100999991182020050700019480001"
        );
        assert_eq!(transfer.amount.fen(), 1230);
        assert_eq!(transfer.failure, None);
    }
    // The same ciphertext under another associated data does not open.
    let (_, body) = independently_sealed("MCHTRANSFER.BILL.FINISHED", TRANSFER_BILL, "x");
    let tampered = String::from_utf8(body)
        .unwrap()
        .replace(r#""associated_data":"x""#, r#""associated_data":"y""#);
    let signature = sdk_signature(platform_key(), TIMESTAMP, NONCE, &tampered);
    let headers = signed_answer(PUBLIC_KEY_ID, &signature);
    assert!(matches!(
        verifier.verify_notice(&headers, tampered.as_bytes(), at(TIMESTAMP)),
        Err(qrpay_provider::CallbackError::BadSignature(_))
    ));
}

fn our_signer(serial: &str) -> WechatpaySigner {
    WechatpaySigner::new(
        MCHID,
        serial,
        platform_key().clone(),
        Secret::new(API_V3_KEY.to_owned()),
    )
    .unwrap()
}

fn header_object(notice: &qrpay_provider::SignedNotice) -> serde_json::Map<String, Value> {
    notice
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), Value::from(value.as_str())))
        .collect()
}

#[test]
fn our_signers_transfer_notice_passes_the_sdks_check_and_aes_decrypt() {
    let transfer = TransferFinished {
        provider: Provider::Wechatpay,
        notice_id: "EV-2026030100009".into(),
        out_bill_no: PayoutId::parse("po_01JQ0000000000000000000000").unwrap(),
        provider_ref: "1330000071100999991182020050700019480001".into(),
        amount: common::amount(1230),
        failure: Some("PAYEE_ACCOUNT_ABNORMAL".into()),
    };
    let notice = our_signer(PUBLIC_KEY_ID).sign_transfer(&transfer, common::now());
    let body = String::from_utf8(notice.body.clone()).unwrap();
    let answer = sdk(json!({
        "op": "callback",
        "private_key": private_pem(merchant_key()),
        "mchid": MCHID,
        "serial": MCH_SERIAL,
        "apiv3_key": API_V3_KEY,
        "public_key": public_pem(&platform_key().to_public_key()),
        "public_key_id": PUBLIC_KEY_ID,
        "headers": header_object(&notice),
        "body": body,
    }));
    let resource = &answer["notice"]["resource"];
    assert_eq!(
        answer["notice"]["event_type"],
        json!("MCHTRANSFER.BILL.FINISHED")
    );
    assert_eq!(
        resource["out_bill_no"],
        json!("PO01JQ0000000000000000000000")
    );
    assert_eq!(resource["state"], json!("FAIL"));
    assert_eq!(resource["fail_reason"], json!("PAYEE_ACCOUNT_ABNORMAL"));
    assert_eq!(resource["transfer_amount"], json!(1230));

    // And the resource alone through the SDK's aes_decrypt.
    let envelope: Value = serde_json::from_str(&body).unwrap();
    let r = &envelope["resource"];
    let plain = sdk(json!({
        "op": "aes_decrypt",
        "apiv3_key": API_V3_KEY,
        "nonce": r["nonce"],
        "ciphertext": r["ciphertext"],
        "associated_data": r["associated_data"],
    }));
    let plain: Value = serde_json::from_str(plain["plaintext"].as_str().unwrap()).unwrap();
    assert_eq!(&plain, resource);
}

#[test]
fn a_platform_certificate_pem_gives_the_key_that_verifies_its_notices() {
    let pem = sdk(json!({
        "op": "certificate",
        "private_key": private_pem(platform_key()),
        "serial_hex": CERT_SERIAL,
    }))["pem"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    let platform = PlatformKeys::from_pem(&[(CERT_SERIAL, pem.as_str())]).unwrap();
    let verifier = notice_verifier(platform);
    let event = common::event(
        Provider::Wechatpay,
        "EV-2026030100001",
        common::paid("4200001234202603010001", 8888, None),
    );
    // Certificate mode: the header names the serial in lower case.
    let notice = our_signer(&CERT_SERIAL.to_lowercase()).sign(&event, common::now());
    assert_eq!(
        verifier.verify(&notice.header_map(), &notice.body, common::now()),
        Ok(event.clone())
    );
    // A key the certificate does not hold still fails.
    let stranger = WechatpaySigner::new(
        MCHID,
        CERT_SERIAL,
        keys().stranger.clone(),
        Secret::new(API_V3_KEY.to_owned()),
    )
    .unwrap()
    .sign(&event, common::now());
    assert!(verifier
        .verify(&stranger.header_map(), &stranger.body, common::now())
        .is_err());
}
