//! WeChat Pay notices as a specification: what verifies, what each refusal
//! is, and the answers WeChat is given.

mod common;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::*;
use proptest::prelude::*;
use qrpay_domain::{CollectionEvent, PayoutId, Provider, Secret};
use qrpay_provider::callback::TransferFinished;
use qrpay_provider::wechatpay::{WechatpaySigner, WechatpayVerifier};
use qrpay_provider::{
    CallbackError, CallbackVerifier, ConfigError, Notice, NoticeSigner, SignedNotice,
    UnappliedNotice,
};
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use sha2::Sha256;

const MCHID: &str = "1900000001";
const SERIAL: &str = "PUB_KEY_ID_0001";
const PREVIOUS_SERIAL: &str = "PUB_KEY_ID_0000";
const API_V3_KEY: &str = "0123456789abcdef0123456789ABCDEF";
const PREVIOUS_API_V3_KEY: &str = "previous-api-v3-key-32-bytes-ok!";

fn secret(text: &str) -> Secret {
    Secret::new(text.to_owned())
}

fn verifier() -> WechatpayVerifier {
    let k = keys();
    WechatpayVerifier::new(
        MCHID,
        vec![
            (SERIAL.to_owned(), k.current.to_public_key()),
            (PREVIOUS_SERIAL.to_owned(), k.previous.to_public_key()),
        ],
        vec![secret(API_V3_KEY), secret(PREVIOUS_API_V3_KEY)],
    )
    .unwrap()
}

fn signer_with(
    mchid: &str,
    serial: &str,
    key: &RsaPrivateKey,
    api_v3_key: &str,
) -> WechatpaySigner {
    WechatpaySigner::new(mchid, serial, key.clone(), secret(api_v3_key)).unwrap()
}

fn signer() -> WechatpaySigner {
    signer_with(MCHID, SERIAL, &keys().current, API_V3_KEY)
}

fn verify(notice: &SignedNotice) -> Result<CollectionEvent, CallbackError> {
    verifier().verify(&notice.header_map(), &notice.body, now())
}

fn wechat(notification_id: &str, kind: qrpay_domain::CollectionEventKind) -> CollectionEvent {
    event(Provider::Wechatpay, notification_id, kind)
}

fn payment() -> CollectionEvent {
    wechat(
        "EV-2026030100001",
        paid("4200001234202603010001", 8888, None),
    )
}

/// Headers for `body` signed by `key` at `timestamp`, built by hand from
/// WeChat's documentation rather than by the signer under test.
fn hand_signed(key: &RsaPrivateKey, serial: &str, timestamp: i64, body: &[u8]) -> http::HeaderMap {
    let nonce = "5K8264ILTKCH16CQ2502SI8ZNMTM67VS";
    let mut message = format!("{timestamp}\n{nonce}\n").into_bytes();
    message.extend_from_slice(body);
    message.push(b'\n');
    let signature = SigningKey::<Sha256>::new(key.clone()).sign(&message);
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "Wechatpay-Timestamp",
        timestamp.to_string().parse().unwrap(),
    );
    headers.insert("Wechatpay-Nonce", nonce.parse().unwrap());
    headers.insert(
        "Wechatpay-Signature",
        STANDARD.encode(signature.to_bytes()).parse().unwrap(),
    );
    headers.insert("Wechatpay-Serial", serial.parse().unwrap());
    headers
}

/// A notice body around `resource` (plaintext JSON), encrypted by hand.
fn hand_built_body(event_type: &str, resource: &str, api_v3_key: &str) -> Vec<u8> {
    let nonce = "fdasflkja484";
    let aad = "transaction";
    let cipher = Aes256Gcm::new_from_slice(api_v3_key.as_bytes()).unwrap();
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(nonce.as_bytes()),
            Payload {
                msg: resource.as_bytes(),
                aad: aad.as_bytes(),
            },
        )
        .unwrap();
    serde_json::json!({
        "id": "EV-2018022511223320873",
        "create_time": "2026-03-01T10:00:00+08:00",
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": "支付成功",
        "resource": {
            "original_type": "transaction",
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": STANDARD.encode(ciphertext),
            "associated_data": aad,
            "nonce": nonce
        }
    })
    .to_string()
    .into_bytes()
}

fn hand_built(event_type: &str, resource: &str) -> (http::HeaderMap, Vec<u8>) {
    let body = hand_built_body(event_type, resource, API_V3_KEY);
    let headers = hand_signed(&keys().current, SERIAL, now().timestamp(), &body);
    (headers, body)
}

#[test]
fn each_event_kind_verifies_back_to_the_event_that_was_signed() {
    let events = [
        payment(),
        wechat("EV-2", refunded("50300000012026030100001", 1230)),
        wechat("EV-3", deducted("4200009999202603010003", 2, 3334)),
        wechat("EV-4", deduction_failed(3, 3333, "余额不足")),
    ];
    for event in events {
        let notice = signer().sign(&event, now());
        assert_eq!(notice.content_type, "application/json");
        assert_eq!(verify(&notice), Ok(event));
    }
}

#[test]
fn a_transaction_notice_built_from_the_documentation_reads_exactly() {
    let resource = r#"{"mchid":"1900000001","appid":"wxd678efh567hg6787",
        "out_trade_no":"ord_01JQ0000000000000000000000","transaction_id":"4200001234202603010001",
        "trade_type":"NATIVE","trade_state":"SUCCESS","trade_state_desc":"支付成功",
        "bank_type":"CMC","attach":"","success_time":"2026-03-01T09:59:00+08:00",
        "payer":{"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
        "amount":{"total":8888,"payer_total":8800,"currency":"CNY","payer_currency":"CNY"}}"#;
    let (headers, body) = hand_built("TRANSACTION.SUCCESS", resource);
    let event = verifier().verify(&headers, &body, now()).unwrap();
    // The openid is kept as the account a payout pays back to.
    let openid = qrpay_domain::PayerAccount::new(
        qrpay_domain::PayerAccountKind::WechatOpenid,
        "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
    )
    .unwrap();
    let payer = qrpay_domain::Payer {
        account: Some(openid),
        ..Default::default()
    };
    let want = wechat(
        "EV-2018022511223320873",
        paid("4200001234202603010001", 8888, Some(payer)),
    );
    assert_eq!(event, want);
    let qrpay_domain::CollectionEventKind::PaymentSucceeded { amount, .. } = event.kind else {
        unreachable!()
    };
    assert_eq!(amount.to_string(), "88.88");
}

#[test]
fn refund_and_instalment_notices_built_by_hand_read_exactly() {
    let refund = r#"{"mchid":"1900000001","out_trade_no":"ord_01JQ0000000000000000000000",
        "transaction_id":"4200001234202603010001","out_refund_no":"rf_1","refund_id":"50300000012026030100001",
        "refund_status":"SUCCESS","success_time":"2026-03-01T09:59:00+08:00",
        "user_received_account":"招商银行信用卡0403",
        "amount":{"total":8888,"refund":1230,"payer_total":8888,"payer_refund":1230}}"#;
    let (headers, body) = hand_built("REFUND.SUCCESS", refund);
    let event = verifier().verify(&headers, &body, now()).unwrap();
    assert_eq!(
        event.kind,
        refunded_naming("50300000012026030100001", 1230, "rf_1")
    );

    let failed = r#"{"mchid":"1900000001","out_trade_no":"ord_01JQ0000000000000000000000",
        "period":3,"amount":{"total":3333},"deduct_time":"2026-03-01T09:59:00+08:00","fail_reason":"余额不足"}"#;
    let (headers, body) = hand_built("INSTALMENT.DEDUCT_FAILED", failed);
    let event = verifier().verify(&headers, &body, now()).unwrap();
    assert_eq!(event.kind, deduction_failed(3, 3333, "余额不足"));
    assert_eq!(event.occurred_at, occurred_at());

    // A deduction without the provider's transaction id is not a deduction.
    let deducted_without_txn = r#"{"mchid":"1900000001","out_trade_no":"ord_01JQ0000000000000000000000",
        "period":2,"amount":{"total":3334},"deduct_time":"2026-03-01T09:59:00+08:00"}"#;
    let (headers, body) = hand_built("INSTALMENT.DEDUCTED", deducted_without_txn);
    assert!(matches!(
        verifier().verify(&headers, &body, now()),
        Err(CallbackError::Malformed(_))
    ));
}

#[test]
fn amounts_that_are_not_positive_fen_integers_are_malformed() {
    for total in ["0", "-1", "88.88", "\"8888\"", "10000000000"] {
        let resource = format!(
            r#"{{"mchid":"1900000001","out_trade_no":"{ORDER}","transaction_id":"42","trade_state":"SUCCESS",
            "success_time":"2026-03-01T09:59:00+08:00","amount":{{"total":{total}}}}}"#
        );
        let (headers, body) = hand_built("TRANSACTION.SUCCESS", &resource);
        assert!(
            matches!(
                verifier().verify(&headers, &body, now()),
                Err(CallbackError::Malformed(_))
            ),
            "{total}"
        );
    }
}

#[test]
fn the_previous_platform_key_and_api_v3_key_are_accepted_during_rotation() {
    let k = keys();
    let old = signer_with(MCHID, PREVIOUS_SERIAL, &k.previous, PREVIOUS_API_V3_KEY);
    let notice = old.sign(&payment(), now());
    assert_eq!(verify(&notice), Ok(payment()));
}

#[test]
fn a_tampered_body_fails_the_signature_and_is_answered_fail_401() {
    let notice = signer().sign(&payment(), now());
    for index in [0, notice.body.len() / 2, notice.body.len() - 1] {
        let tampered = flip(&notice.body, index);
        let err = verifier()
            .verify(&notice.header_map(), &tampered, now())
            .unwrap_err();
        assert!(matches!(err, CallbackError::BadSignature(_)), "{err:?}");
        let answer = verifier().refusal(&err);
        assert_eq!(answer.status, 401);
        assert_eq!(answer.content_type, "application/json");
        let body: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(body["code"], "FAIL");
        assert_eq!(body["message"], err.to_string());
    }
}

#[test]
fn a_signature_by_another_key_under_our_serial_fails() {
    let forger = signer_with(MCHID, SERIAL, &keys().stranger, API_V3_KEY);
    let notice = forger.sign(&payment(), now());
    assert!(matches!(
        verify(&notice),
        Err(CallbackError::BadSignature(_))
    ));
}

#[test]
fn an_unknown_serial_fails() {
    let other = signer_with(MCHID, "PUB_KEY_ID_9999", &keys().current, API_V3_KEY);
    let err = verify(&other.sign(&payment(), now())).unwrap_err();
    assert_eq!(
        err,
        CallbackError::BadSignature("unknown platform key serial \"PUB_KEY_ID_9999\"".into())
    );
}

#[test]
fn the_signtest_probe_always_fails() {
    let notice = signer().sign(&payment(), now());
    let mut headers = notice.header_map();
    headers.insert(
        "Wechatpay-Signature",
        "WECHATPAY/SIGNTEST/LknlUYk+3eNPjrRiX2zuZHr7lOyl5d0PN9RDsS5hMeI="
            .parse()
            .unwrap(),
    );
    let err = verifier()
        .verify(&headers, &notice.body, now())
        .unwrap_err();
    assert!(matches!(err, CallbackError::BadSignature(_)));
    assert_eq!(err.http_status(), 401);
}

#[test]
fn notices_signed_more_than_300_seconds_away_are_stale_either_way() {
    let notice = signer().sign(&payment(), now());
    let at = |s: i64| now() + chrono::Duration::seconds(s);
    let v = verifier();
    assert_eq!(
        v.verify(&notice.header_map(), &notice.body, at(301)),
        Err(CallbackError::Stale { skew_s: 301 })
    );
    assert_eq!(
        v.verify(&notice.header_map(), &notice.body, at(-301)),
        Err(CallbackError::Stale { skew_s: -301 })
    );
    assert_eq!(
        v.verify(&notice.header_map(), &notice.body, at(300)),
        Ok(payment())
    );
    assert_eq!(
        v.verify(&notice.header_map(), &notice.body, at(-300)),
        Ok(payment())
    );
}

#[test]
fn a_resource_under_another_api_v3_key_does_not_decrypt() {
    let other = signer_with(
        MCHID,
        SERIAL,
        &keys().current,
        "ffffffffffffffffffffffffffffffff",
    );
    let err = verify(&other.sign(&payment(), now())).unwrap_err();
    assert_eq!(
        err,
        CallbackError::BadSignature("resource does not decrypt with any API v3 key".into())
    );
}

#[test]
fn a_notice_for_another_merchant_is_refused_400() {
    let other = signer_with("1900000002", SERIAL, &keys().current, API_V3_KEY);
    let err = verify(&other.sign(&payment(), now())).unwrap_err();
    assert_eq!(err, CallbackError::WrongMerchant);
    let answer = verifier().refusal(&err);
    assert_eq!(answer.status, 400);
    assert!(answer.body.starts_with(r#"{"code":"FAIL","message":"#));
}

#[test]
fn missing_or_repeated_signature_headers_are_unsigned() {
    let notice = signer().sign(&payment(), now());
    for name in [
        "Wechatpay-Signature",
        "Wechatpay-Timestamp",
        "Wechatpay-Nonce",
        "Wechatpay-Serial",
    ] {
        let mut headers = notice.header_map();
        headers.remove(name);
        let err = verifier()
            .verify(&headers, &notice.body, now())
            .unwrap_err();
        assert!(matches!(err, CallbackError::Unsigned(_)), "{name}: {err:?}");
        let mut headers = notice.header_map();
        headers.append(name, "1".parse().unwrap());
        let err = verifier()
            .verify(&headers, &notice.body, now())
            .unwrap_err();
        assert!(matches!(err, CallbackError::Unsigned(_)), "{name}: {err:?}");
    }
    let mut headers = notice.header_map();
    headers.insert("Wechatpay-Signature", "not base64!".parse().unwrap());
    assert!(matches!(
        verifier().verify(&headers, &notice.body, now()),
        Err(CallbackError::Unsigned(_))
    ));
}

#[test]
fn truncated_garbage_empty_and_oversize_bodies_are_refused() {
    let notice = signer().sign(&payment(), now());
    let v = verifier();
    let headers = notice.header_map();
    let truncated = &notice.body[..notice.body.len() / 2];
    assert!(matches!(
        v.verify(&headers, truncated, now()),
        Err(CallbackError::BadSignature(_))
    ));
    // Signed as they are, they get past the signature and are malformed.
    for body in [truncated.to_vec(), garbage()] {
        let headers = hand_signed(&keys().current, SERIAL, now().timestamp(), &body);
        let err = v.verify(&headers, &body, now()).unwrap_err();
        assert!(matches!(err, CallbackError::Malformed(_)), "{err:?}");
        assert_eq!(v.refusal(&err).status, 400);
    }
    assert_eq!(
        v.verify(&headers, b"", now()),
        Err(CallbackError::Malformed("body is empty".into()))
    );
    let big = oversize();
    let headers = hand_signed(&keys().current, SERIAL, now().timestamp(), &big);
    let err = v.verify(&headers, &big, now()).unwrap_err();
    assert_eq!(
        err,
        CallbackError::TooLarge {
            max_bytes: 16 * 1024
        }
    );
    assert_eq!(v.refusal(&err).status, 413);
}

#[test]
fn event_types_we_do_not_handle_are_unsupported() {
    let resource = r#"{"mchid":"1900000001","out_trade_no":"ord_1","refund_status":"ABNORMAL"}"#;
    let (headers, body) = hand_built("REFUND.ABNORMAL", resource);
    assert_eq!(
        verifier().verify(&headers, &body, now()),
        Err(CallbackError::Unsupported(
            "event_type \"REFUND.ABNORMAL\"".into()
        ))
    );
}

fn notice_of(headers: &http::HeaderMap, body: &[u8]) -> Result<Notice, CallbackError> {
    verifier().verify_notice(headers, body, now())
}

fn unapplied_of(headers: &http::HeaderMap, body: &[u8]) -> UnappliedNotice {
    match notice_of(headers, body) {
        Ok(Notice::Unapplied(unapplied)) => unapplied,
        other => panic!("expected an unapplied notice, got {other:?}"),
    }
}

#[test]
fn refunds_that_did_not_complete_are_acknowledged_and_named_not_refused() {
    for (event_type, status) in [("REFUND.ABNORMAL", "ABNORMAL"), ("REFUND.CLOSED", "CLOSED")] {
        let resource = format!(
            r#"{{"mchid":"{MCHID}","out_trade_no":"{ORDER}","transaction_id":"4200001234202603010001",
            "out_refund_no":"rf_1","refund_id":"50000000382019052709732678859","refund_status":"{status}",
            "user_received_account":"招商银行信用卡0403","amount":{{"total":8888,"refund":1230,
            "payer_total":8888,"payer_refund":1230}}}}"#
        );
        let (headers, body) = hand_built(event_type, &resource);
        let unapplied = unapplied_of(&headers, &body);
        assert_eq!(unapplied.provider, Provider::Wechatpay);
        assert_eq!(unapplied.event.as_str(), event_type);
        assert_eq!(unapplied.reference.unwrap().as_str(), ORDER);
        assert_eq!(
            unapplied.notification_id.unwrap().as_str(),
            "EV-2018022511223320873"
        );
        assert_eq!(
            unapplied.reason,
            CallbackError::Unsupported(format!("event_type \"{event_type}\""))
        );
        assert!(!format!("{:?}", unapplied.reason).contains("招商"));
    }
}

#[test]
fn other_genuine_notices_we_cannot_apply_are_acknowledged_and_forgeries_refused() {
    // Another merchant's resource, an unreadable resource, a bad order id.
    let other = signer_with("1900000002", SERIAL, &keys().current, API_V3_KEY);
    let notice = other.sign(&payment(), now());
    assert_eq!(
        unapplied_of(&notice.header_map(), &notice.body).reason,
        CallbackError::WrongMerchant
    );
    let (headers, body) = hand_built("TRANSACTION.SUCCESS", "not json");
    assert!(matches!(
        unapplied_of(&headers, &body).reason,
        CallbackError::Malformed(_)
    ));
    // Refused as before: a forged signature, a resource under another key.
    let (_, body) = hand_built("REFUND.ABNORMAL", "{}");
    let forged = hand_signed(&keys().stranger, SERIAL, now().timestamp(), &body);
    assert!(matches!(
        notice_of(&forged, &body),
        Err(CallbackError::BadSignature(_))
    ));
    let body = hand_built_body("REFUND.ABNORMAL", "{}", "another-api-v3-key-of-32-bytes!!");
    let headers = hand_signed(&keys().current, SERIAL, now().timestamp(), &body);
    assert!(matches!(
        notice_of(&headers, &body),
        Err(CallbackError::BadSignature(_))
    ));
}

const PAYOUT: &str = "po_01JQ0000000000000000000000";
const BILL: &str = "PO01JQ0000000000000000000000";

/// `MCHTRANSFER.BILL.FINISHED`'s resource as the documentation shows it
/// (https://pay.weixin.qq.com/doc/v3/merchant/4012712115).
fn transfer_bill(out_bill_no: &str, state: &str, fail_reason: Option<&str>) -> String {
    let fail = fail_reason
        .map(|r| format!(r#""fail_reason":"{r}","#))
        .unwrap_or_default();
    format!(
        r#"{{"mchid":"{MCHID}","out_bill_no":"{out_bill_no}",
        "transfer_bill_no":"1330000071100999991182020050700019480001","state":"{state}",
        "transfer_amount":1230,{fail}"openid":"o-MYE42l80oelYMDE34nYD456Xoy",
        "create_time":"2026-03-01T09:58:00+08:00","update_time":"2026-03-01T09:59:00+08:00"}}"#
    )
}

fn transfer_of(state: &str, fail_reason: Option<&str>) -> Result<Notice, CallbackError> {
    let (headers, body) = hand_built(
        "MCHTRANSFER.BILL.FINISHED",
        &transfer_bill(BILL, state, fail_reason),
    );
    notice_of(&headers, &body)
}

fn transfer(failure: Option<&str>) -> Notice {
    Notice::Transfer(TransferFinished {
        provider: Provider::Wechatpay,
        notice_id: "EV-2018022511223320873".into(),
        out_bill_no: PayoutId::parse(PAYOUT).unwrap(),
        provider_ref: "1330000071100999991182020050700019480001".into(),
        amount: amount(1230),
        failure: failure.map(str::to_owned),
    })
}

#[test]
fn a_transfer_bill_notice_settles_its_payout_by_its_final_state() {
    assert_eq!(transfer_of("SUCCESS", None), Ok(transfer(None)));
    assert_eq!(
        transfer_of("FAIL", Some("PAYEE_ACCOUNT_ABNORMAL")),
        Ok(transfer(Some("PAYEE_ACCOUNT_ABNORMAL")))
    );
    assert_eq!(
        transfer_of("FAIL", None),
        Ok(transfer(Some("provider gave no reason")))
    );
    assert_eq!(
        transfer_of("CANCELLED", None),
        Ok(transfer(Some("CANCELLED: provider gave no reason")))
    );
    // A transfer notice is no collection event.
    let (headers, body) = hand_built(
        "MCHTRANSFER.BILL.FINISHED",
        &transfer_bill(BILL, "SUCCESS", None),
    );
    assert!(matches!(
        verifier().verify(&headers, &body, now()),
        Err(CallbackError::Unsupported(_))
    ));
}

#[test]
fn a_transfer_bill_we_could_not_have_sent_or_not_final_is_acknowledged_not_applied() {
    for state in [
        "ACCEPTED",
        "PROCESSING",
        "WAIT_USER_CONFIRM",
        "TRANSFERING",
        "CANCELING",
    ] {
        let Ok(Notice::Unapplied(unapplied)) = transfer_of(state, None) else {
            panic!("{state} must be acknowledged, not applied");
        };
        assert_eq!(unapplied.event.as_str(), "MCHTRANSFER.BILL.FINISHED");
        assert_eq!(unapplied.reference.unwrap().as_str(), BILL);
    }
    let (headers, body) = hand_built(
        "MCHTRANSFER.BILL.FINISHED",
        &transfer_bill("plfk2020042013", "SUCCESS", None),
    );
    let unapplied = unapplied_of(&headers, &body);
    assert!(matches!(unapplied.reason, CallbackError::Malformed(_)));
    assert!(unapplied.reason.to_string().contains("out_bill_no"));
}

#[test]
fn our_signer_writes_transfer_notices_the_verifier_reads_back() {
    let Notice::Transfer(finished) = transfer(Some("PAYEE_ACCOUNT_ABNORMAL")) else {
        unreachable!()
    };
    let notice = signer().sign_transfer(&finished, now());
    assert_eq!(
        notice_of(&notice.header_map(), &notice.body),
        Ok(Notice::Transfer(finished))
    );
}

#[test]
fn header_names_in_any_case_verify_a_notice() {
    let notice = signer().sign(&payment(), now());
    for spell in [str::to_lowercase, str::to_uppercase] {
        let mut headers = http::HeaderMap::new();
        for (name, value) in &notice.headers {
            headers.insert(
                http::HeaderName::from_bytes(spell(name).as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        assert!(headers.contains_key("wechatpay-serial"));
        assert_eq!(
            verifier().verify(&headers, &notice.body, now()),
            Ok(payment())
        );
    }
}

#[test]
fn success_is_204_with_no_body() {
    let answer = verifier().success();
    assert_eq!((answer.status, answer.body.as_str()), (204, ""));
    let answer = verifier().failure("boom \"quoted\"", 500);
    assert_eq!(answer.status, 500);
    assert_eq!(
        answer.body,
        r#"{"code":"FAIL","message":"boom \"quoted\""}"#
    );
}

#[test]
fn keys_are_read_from_pem_and_secrets_stay_out_of_debug() {
    let public = keys().current.to_public_key();
    let spki = public.to_public_key_pem(LineEnding::LF).unwrap();
    let pkcs1 = public.to_pkcs1_pem(LineEnding::LF).unwrap();
    let v = WechatpayVerifier::from_pem(
        MCHID,
        &[(SERIAL, spki.as_str()), (PREVIOUS_SERIAL, pkcs1.as_str())],
        vec![secret(API_V3_KEY)],
    )
    .unwrap();
    let notice = signer().sign(&payment(), now());
    assert_eq!(
        v.verify(&notice.header_map(), &notice.body, now()),
        Ok(payment())
    );
    let debug = format!("{v:?} {:?}", signer());
    assert!(!debug.contains(API_V3_KEY), "{debug}");
    assert!(debug.contains(SERIAL));

    let short_key = WechatpayVerifier::new(
        MCHID,
        vec![(SERIAL.into(), public.clone())],
        vec![secret("short")],
    );
    assert!(matches!(short_key, Err(ConfigError::Invalid(_))));
    let no_keys = WechatpayVerifier::new(MCHID, vec![], vec![secret(API_V3_KEY)]);
    assert!(matches!(no_keys, Err(ConfigError::KeyCount { .. })));
    assert!(
        WechatpayVerifier::from_pem(MCHID, &[(SERIAL, "not a key")], vec![secret(API_V3_KEY)])
            .is_err()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_bodies_and_headers_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        signature in "[ -~]{0,400}",
        timestamp in "[0-9-]{0,20}",
        serial in prop_oneof![Just(SERIAL.to_owned()), "[ -~]{0,80}"],
    ) {
        let mut headers = http::HeaderMap::new();
        headers.insert("Wechatpay-Signature", http::HeaderValue::from_str(&signature).unwrap());
        headers.insert("Wechatpay-Timestamp", http::HeaderValue::from_str(&timestamp).unwrap());
        headers.insert("Wechatpay-Nonce", http::HeaderValue::from_static("n"));
        headers.insert("Wechatpay-Serial", http::HeaderValue::from_str(&serial).unwrap());
        prop_assert!(verifier().verify(&headers, &body, now()).is_err());
    }

    #[test]
    fn random_bodies_signed_genuinely_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let headers = hand_signed(&keys().current, SERIAL, now().timestamp(), &body);
        prop_assert!(verifier().verify(&headers, &body, now()).is_err());
    }
}
