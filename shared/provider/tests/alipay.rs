//! Alipay notices as a specification: what verifies, what each refusal is,
//! and the answers Alipay is given.

mod common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::*;
use proptest::prelude::*;
use qrpay_domain::{
    CollectionEvent, CollectionEventKind, Payer, PayerAccount, PayerAccountKind, Provider,
};
use qrpay_provider::alipay::{AlipaySigner, AlipayVerifier};
use qrpay_provider::{
    CallbackError, CallbackVerifier, Notice, NoticeSigner, SignedNotice, UnappliedNotice,
};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer};
use sha2::Sha256;

const APP_ID: &str = "2021000117600001";
/// `now` on Beijing's wall clock, as Alipay writes it.
const NOTIFY_TIME: &str = "2026-03-01 10:00:00";
const MINUTE_BEFORE: &str = "2026-03-01 09:59:00";

fn verifier() -> AlipayVerifier {
    let k = keys();
    AlipayVerifier::new(
        APP_ID,
        vec![k.current.to_public_key(), k.previous.to_public_key()],
    )
    .unwrap()
}

fn signer() -> AlipaySigner {
    AlipaySigner::new(APP_ID, keys().current.clone()).unwrap()
}

fn verify(notice: &SignedNotice) -> Result<CollectionEvent, CallbackError> {
    verify_body(&notice.body)
}

fn verify_body(body: &[u8]) -> Result<CollectionEvent, CallbackError> {
    verifier().verify(&http::HeaderMap::new(), body, now())
}

fn alipay(notification_id: &str, kind: CollectionEventKind) -> CollectionEvent {
    event(Provider::Alipay, notification_id, kind)
}

fn payment() -> CollectionEvent {
    alipay(
        "2026030100222100000000001234567890",
        paid(
            "2026030122001400001234567890",
            8888,
            Some(Payer {
                account: Some(buyer()),
                ..payer()
            }),
        ),
    )
}

/// The notice's `buyer_id`: the account a payout pays back to.
fn buyer() -> PayerAccount {
    PayerAccount::new(PayerAccountKind::AlipayUserId, "2088102122524333").unwrap()
}

/// The parameters of a payment notice, as Alipay's documentation shows them.
fn payment_params() -> Vec<(&'static str, &'static str)> {
    vec![
        ("gmt_create", "2026-03-01 09:58:30"),
        ("charset", "utf-8"),
        ("seller_email", "shop@example.com"),
        ("subject", "奶茶"),
        ("buyer_id", "2088102122524333"),
        ("invoice_amount", "88.88"),
        ("notify_id", "2026030100222100000000001234567890"),
        (
            "fund_bill_list",
            r#"[{"amount":"88.88","fundChannel":"ALIPAYACCOUNT"}]"#,
        ),
        ("notify_type", "trade_status_sync"),
        ("trade_status", "TRADE_SUCCESS"),
        ("receipt_amount", "88.88"),
        ("app_id", APP_ID),
        ("buyer_pay_amount", "88.88"),
        ("sign_type", "RSA2"),
        ("seller_id", "2088102119685838"),
        ("gmt_payment", MINUTE_BEFORE),
        ("notify_time", NOTIFY_TIME),
        ("version", "1.0"),
        ("out_trade_no", ORDER),
        ("total_amount", "88.88"),
        ("trade_no", "2026030122001400001234567890"),
        ("auth_app_id", APP_ID),
        ("buyer_logon_id", "csq***@sandbox.com"),
        ("point_amount", "0.00"),
        ("buyer_name", "张三丰"),
        ("buyer_phone", "13812341234"),
    ]
}

fn with(
    mut params: Vec<(&'static str, &'static str)>,
    changes: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    for (key, value) in changes {
        params.retain(|(k, _)| k != key);
        params.push((key, value));
    }
    params
}

/// Signs the form by hand (not with the signer under test): sorted, no
/// `sign`/`sign_type`, empty values kept as `k=` (Alipay's notify rule).
fn hand_signed(params: &[(&str, &str)], key: &rsa::RsaPrivateKey) -> Vec<u8> {
    let mut sorted: Vec<_> = params.iter().filter(|(k, _)| *k != "sign_type").collect();
    sorted.sort();
    let content = sorted
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let signature = SigningKey::<Sha256>::new(key.clone()).sign(content.as_bytes());
    let sign = STANDARD.encode(signature.to_bytes());
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter().copied())
        .append_pair("sign", &sign)
        .finish()
        .into_bytes()
}

#[test]
fn each_event_kind_verifies_back_to_the_event_that_was_signed() {
    let events = [
        payment(),
        alipay("N-2", paid("T-2", 1, None)),
        alipay(
            "N-3",
            // Alipay has no refund id of its own: `out_biz_no` is our out_request_no.
            refunded_naming(
                "rf_01JQ0000000000000000000001",
                1230,
                "rf_01JQ0000000000000000000001",
            ),
        ),
        alipay("N-4", deducted("T-4", 2, 3334)),
        alipay("N-5", deduction_failed(3, 3333, "余额不足 & 限额=0")),
    ];
    for event in events {
        let notice = signer().sign(&event, now());
        assert_eq!(
            notice.content_type,
            "application/x-www-form-urlencoded; charset=utf-8"
        );
        assert_eq!(verify(&notice), Ok(event));
    }
}

#[test]
fn a_payment_notice_built_from_the_documentation_reads_exactly() {
    let body = hand_signed(&payment_params(), &keys().current);
    let event = verify_body(&body).unwrap();
    assert_eq!(event, payment());
    let CollectionEventKind::PaymentSucceeded { amount, payer, .. } = &event.kind else {
        unreachable!()
    };
    assert_eq!(amount.to_string(), "88.88");
    assert_eq!(format!("{payer:?}"), "Some(Payer(张* 138****1234))");
}

#[test]
fn a_payment_without_payer_details_has_no_payer() {
    let params: Vec<_> = payment_params()
        .into_iter()
        .filter(|(k, _)| *k != "buyer_name" && *k != "buyer_phone")
        .collect();
    let event = verify_body(&hand_signed(&params, &keys().current)).unwrap();
    let CollectionEventKind::PaymentSucceeded { payer, .. } = event.kind else {
        unreachable!()
    };
    // Only the paying account is known: no name or phone to show.
    let payer = payer.expect("the buyer_id is kept");
    assert_eq!(payer.account, Some(buyer()));
    assert_eq!(payer.masked(), "");
    let anonymous = with(
        params
            .iter()
            .copied()
            .filter(|(k, _)| *k != "buyer_id")
            .collect(),
        &[],
    );
    let event = verify_body(&hand_signed(&anonymous, &keys().current)).unwrap();
    assert!(matches!(
        event.kind,
        CollectionEventKind::PaymentSucceeded { payer: None, .. }
    ));
    // Apps switched to OpenID name the buyer by buyer_open_id instead.
    let open_id = with(
        anonymous.clone(),
        &[(
            "buyer_open_id",
            "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5",
        )],
    );
    let event = verify_body(&hand_signed(&open_id, &keys().current)).unwrap();
    let CollectionEventKind::PaymentSucceeded { payer, .. } = event.kind else {
        unreachable!()
    };
    let account = payer.and_then(|p| p.account).expect("the open id is kept");
    assert_eq!(account.kind(), PayerAccountKind::AlipayOpenId);
    let only_phone = with(params, &[("buyer_phone", "13812341234")]);
    let event = verify_body(&hand_signed(&only_phone, &keys().current)).unwrap();
    let CollectionEventKind::PaymentSucceeded { payer, .. } = event.kind else {
        unreachable!()
    };
    assert_eq!(
        payer,
        Some(Payer {
            name: None,
            phone: Some("13812341234".into()),
            account: Some(buyer()),
        })
    );
}

#[test]
fn a_refund_is_this_refunds_send_back_fee_and_refund_fee_is_cumulative() {
    let refund = with(
        payment_params(),
        &[
            ("out_biz_no", "rf_2"),
            ("refund_fee", "30.00"),
            ("send_back_fee", "12.30"),
            ("gmt_refund", "2026-03-01 09:59:00.543"),
        ],
    );
    let event = verify_body(&hand_signed(&refund, &keys().current)).unwrap();
    assert_eq!(event.kind, refunded_naming("rf_2", 1230, "rf_2"));
    assert_eq!(
        event.occurred_at,
        occurred_at() + chrono::Duration::milliseconds(543)
    );

    let below = with(refund.clone(), &[("refund_fee", "12.29")]);
    assert_eq!(
        verify_body(&hand_signed(&below, &keys().current)),
        Err(CallbackError::Malformed(
            "refund_fee (cumulative) is below send_back_fee".into()
        ))
    );
    let full = with(
        refund,
        &[("trade_status", "TRADE_CLOSED"), ("refund_fee", "88.88")],
    );
    assert!(verify_body(&hand_signed(&full, &keys().current)).is_ok());
}

#[test]
fn amounts_are_strict_yuan_text() {
    for total in ["88.888", "-1.00", "0", "1e3", " 88.88", "88,88"] {
        let params = with(payment_params(), &[("total_amount", total)]);
        assert!(
            matches!(
                verify_body(&hand_signed(&params, &keys().current)),
                Err(CallbackError::Malformed(_))
            ),
            "{total}"
        );
    }
}

#[test]
fn trade_statuses_and_notify_types_we_do_not_handle_are_unsupported() {
    let waiting = with(payment_params(), &[("trade_status", "WAIT_BUYER_PAY")]);
    assert_eq!(
        verify_body(&hand_signed(&waiting, &keys().current)),
        Err(CallbackError::Unsupported(
            "trade_status \"WAIT_BUYER_PAY\"".into()
        ))
    );
    let other = with(payment_params(), &[("notify_type", "fund_auth_sync")]);
    assert!(matches!(
        verify_body(&hand_signed(&other, &keys().current)),
        Err(CallbackError::Unsupported(_))
    ));
}

/// `verify_notice` on a body at `now`.
fn notice_of(body: &[u8]) -> Result<Notice, CallbackError> {
    verifier().verify_notice(&http::HeaderMap::new(), body, now())
}

fn unapplied_of(body: &[u8]) -> UnappliedNotice {
    match notice_of(body) {
        Ok(Notice::Unapplied(unapplied)) => unapplied,
        other => panic!("expected an unapplied notice, got {other:?}"),
    }
}

#[test]
fn genuine_trade_statuses_we_do_not_act_on_are_acknowledged_not_refused() {
    for (status, refund) in [
        ("WAIT_BUYER_PAY", None),
        ("TRADE_FINISHED", None),
        ("TRADE_CLOSED", None),
        ("TRADE_FINISHED", Some("rf_1")),
    ] {
        let mut params = with(payment_params(), &[("trade_status", status)]);
        if let Some(refund) = refund {
            params.push(("out_biz_no", refund));
        }
        let unapplied = unapplied_of(&hand_signed(&params, &keys().current));
        assert_eq!(unapplied.provider, Provider::Alipay);
        assert_eq!(
            unapplied.event.as_str(),
            format!("trade_status_sync/{status}")
        );
        assert_eq!(unapplied.reference.as_ref().unwrap().as_str(), ORDER);
        assert_eq!(
            unapplied.notification_id.unwrap().as_str(),
            "2026030100222100000000001234567890"
        );
        assert_eq!(
            unapplied.reason,
            CallbackError::Unsupported(format!("trade_status \"{status}\""))
        );
    }
    // Another app's genuine notice, and an unknown notify_type: acknowledged too.
    let other = AlipaySigner::new("2021000117609999", keys().current.clone()).unwrap();
    let unapplied = unapplied_of(&other.sign(&payment(), now()).body);
    assert_eq!(unapplied.reason, CallbackError::WrongMerchant);
    let fund = with(payment_params(), &[("notify_type", "fund_auth_sync")]);
    assert!(matches!(
        unapplied_of(&hand_signed(&fund, &keys().current)).reason,
        CallbackError::Unsupported(_)
    ));
    // A payment is still a collection event.
    assert_eq!(
        notice_of(&hand_signed(&payment_params(), &keys().current)),
        Ok(Notice::Collection(payment()))
    );
}

#[test]
fn a_notice_failing_its_signature_or_time_is_still_refused() {
    let finished = with(payment_params(), &[("trade_status", "TRADE_FINISHED")]);
    let body = hand_signed(&finished, &keys().stranger);
    assert!(matches!(
        notice_of(&body),
        Err(CallbackError::BadSignature(_))
    ));
    let stale = with(finished, &[("notify_time", "2026-03-01 09:50:00")]);
    assert_eq!(
        notice_of(&hand_signed(&stale, &keys().current)),
        Err(CallbackError::Stale { skew_s: 600 })
    );
}

#[test]
fn an_empty_parameter_is_signed_as_k_equals_and_verifies() {
    let params = with(payment_params(), &[("passback_params", "")]);
    let body = hand_signed(&params, &keys().current);
    assert!(String::from_utf8(body.clone())
        .unwrap()
        .contains("passback_params=&"));
    assert_eq!(verify_body(&body), Ok(payment()));
    // The same notice signed as if empty values were left out does not.
    let mut without: Vec<_> = params
        .iter()
        .filter(|(k, v)| *k != "sign_type" && !v.is_empty())
        .collect();
    without.sort();
    let content = without
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let sign = STANDARD.encode(
        SigningKey::<Sha256>::new(keys().current.clone())
            .sign(content.as_bytes())
            .to_bytes(),
    );
    let form = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter().copied())
        .append_pair("sign", &sign)
        .finish();
    assert!(matches!(
        verify_body(form.as_bytes()),
        Err(CallbackError::BadSignature(_))
    ));
    // Our signer keeps the empty value too.
    let signed = signer().sign_params(&params);
    assert_eq!(verify(&signed), Ok(payment()));
}

/// A GBK notify built by hand: the values percent-encoded as GBK bytes, the
/// signature over the signed text encoded in GBK.
fn hand_signed_gbk(params: &[(&str, &str)], key: &rsa::RsaPrivateKey) -> Vec<u8> {
    let gbk = |text: &str| encoding_rs::GBK.encode(text).0.into_owned();
    let mut sorted: Vec<_> = params.iter().filter(|(k, _)| *k != "sign_type").collect();
    sorted.sort();
    let content = sorted
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let signature = SigningKey::<Sha256>::new(key.clone()).sign(&gbk(&content));
    let sign = STANDARD.encode(signature.to_bytes());
    params
        .iter()
        .copied()
        .chain([("sign", sign.as_str())])
        .map(|(k, v)| {
            let value: String = form_urlencoded::byte_serialize(&gbk(v)).collect();
            format!("{k}={value}")
        })
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

#[test]
fn a_gbk_notice_is_decoded_and_verified_in_gbk() {
    for charset in ["GBK", "gbk", "gb2312"] {
        let params = with(payment_params(), &[("charset", charset)]);
        let body = hand_signed_gbk(&params, &keys().current);
        let text = String::from_utf8(body.clone()).unwrap();
        assert!(text.contains("buyer_name=%D5%C5%C8%FD%B7%E1"), "{text}");
        assert!(text.contains("subject=%C4%CC%B2%E8"), "{text}");
        assert_eq!(verify_body(&body), Ok(payment()), "{charset}");
        // Our signer writes the same bytes.
        assert_eq!(verify(&signer().sign_params(&params)), Ok(payment()));
    }
    // Signed over the UTF-8 text instead: refused.
    let params = with(payment_params(), &[("charset", "GBK")]);
    let utf8_signed = hand_signed(&params, &keys().current);
    assert!(verify_body(&utf8_signed).is_err());
    // A charset we do not read is refused before anything is trusted.
    let big5 = with(payment_params(), &[("charset", "big5")]);
    assert!(matches!(
        verify_body(&hand_signed(&big5, &keys().current)),
        Err(CallbackError::Unsupported(_))
    ));
}

#[test]
fn the_previous_alipay_key_is_accepted_during_rotation() {
    let old = AlipaySigner::new(APP_ID, keys().previous.clone()).unwrap();
    assert_eq!(verify(&old.sign(&payment(), now())), Ok(payment()));
}

#[test]
fn a_tampered_body_fails_the_signature_and_is_answered_fail() {
    let notice = signer().sign(&payment(), now());
    let text = String::from_utf8(notice.body.clone()).unwrap();
    let index = text.find("total_amount=88.88").unwrap() + "total_amount=88.8".len();
    let err = verify_body(&flip(&notice.body, index)).unwrap_err();
    assert_eq!(
        err,
        CallbackError::BadSignature("does not match any Alipay public key".into())
    );
    let answer = verifier().refusal(&err);
    assert_eq!(
        (answer.status, answer.content_type, answer.body.as_str()),
        (401, "text/plain", "fail")
    );
}

#[test]
fn a_signature_by_another_key_fails() {
    let forger = AlipaySigner::new(APP_ID, keys().stranger.clone()).unwrap();
    assert!(matches!(
        verify(&forger.sign(&payment(), now())),
        Err(CallbackError::BadSignature(_))
    ));
}

#[test]
fn only_rsa2_signatures_are_accepted() {
    let rsa1 = with(payment_params(), &[("sign_type", "RSA")]);
    assert_eq!(
        verify_body(&hand_signed(&rsa1, &keys().current)),
        Err(CallbackError::BadSignature(
            "sign_type must be RSA2, not \"RSA\"".into()
        ))
    );
    let none: Vec<_> = payment_params()
        .into_iter()
        .filter(|(k, _)| *k != "sign_type")
        .collect();
    assert!(matches!(
        verify_body(&hand_signed(&none, &keys().current)),
        Err(CallbackError::Unsigned(_))
    ));
    let unsigned = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(payment_params())
        .finish();
    assert_eq!(
        verify_body(unsigned.as_bytes()),
        Err(CallbackError::Unsigned("sign is missing".into()))
    );
}

#[test]
fn notices_more_than_300_seconds_away_are_stale_either_way() {
    let notice = signer().sign(&payment(), now());
    let at = |s: i64| now() + chrono::Duration::seconds(s);
    let v = verifier();
    let headers = http::HeaderMap::new();
    assert_eq!(
        v.verify(&headers, &notice.body, at(301)),
        Err(CallbackError::Stale { skew_s: 301 })
    );
    assert_eq!(
        v.verify(&headers, &notice.body, at(-301)),
        Err(CallbackError::Stale { skew_s: -301 })
    );
    assert_eq!(v.verify(&headers, &notice.body, at(300)), Ok(payment()));
    // notify_time is Beijing time: read as UTC it would be 8 hours off.
    let utc_time = with(payment_params(), &[("notify_time", "2026-03-01 02:00:00")]);
    assert_eq!(
        verify_body(&hand_signed(&utc_time, &keys().current)),
        Err(CallbackError::Stale { skew_s: 8 * 3600 })
    );
}

#[test]
fn a_notice_for_another_app_is_refused_400() {
    let other = AlipaySigner::new("2021000117609999", keys().current.clone()).unwrap();
    let err = verify(&other.sign(&payment(), now())).unwrap_err();
    assert_eq!(err, CallbackError::WrongMerchant);
    assert_eq!(verifier().refusal(&err).status, 400);
}

#[test]
fn gbk_and_invalid_utf8_fail_cleanly() {
    // 张三 in GBK, percent-encoded as a GBK form would send it.
    let gbk = b"buyer_name=%D5%C5%C8%FD&notify_id=1&sign=AAAA&sign_type=RSA2".to_vec();
    assert_eq!(
        verify_body(&gbk),
        Err(CallbackError::Malformed(
            "a parameter is not valid UTF-8 (the notify's charset)".into()
        ))
    );
    let raw = [
        b"buyer_name=".as_slice(),
        &[0xd5, 0xc5, 0xc8, 0xfd],
        b"&sign=AAAA",
    ]
    .concat();
    assert_eq!(
        verify_body(&raw),
        Err(CallbackError::Malformed(
            "body is not UTF-8 form data".into()
        ))
    );
}

#[test]
fn truncated_garbage_empty_duplicate_and_oversize_bodies_are_refused() {
    let notice = signer().sign(&payment(), now());
    let text = String::from_utf8(notice.body.clone()).unwrap();
    // Cut before the signature: what remains is signed by nobody.
    let cut = text.find("&sign=").unwrap();
    assert_eq!(
        verify_body(&text.as_bytes()[..cut]),
        Err(CallbackError::Unsigned("sign is missing".into()))
    );
    // Cut inside the signature.
    let cut = text.find("&sign=").unwrap() + 20;
    assert!(matches!(
        verify_body(&text.as_bytes()[..cut]),
        Err(CallbackError::Unsigned(_)) | Err(CallbackError::BadSignature(_))
    ));
    assert!(matches!(
        verify_body(&garbage()),
        Err(CallbackError::Malformed(_))
    ));
    assert_eq!(
        verify_body(b""),
        Err(CallbackError::Malformed("body is empty".into()))
    );
    assert_eq!(
        verify_body(&oversize()),
        Err(CallbackError::TooLarge {
            max_bytes: 16 * 1024
        })
    );
    let twice = [notice.body.as_slice(), b"&total_amount=0.01"].concat();
    assert!(matches!(
        verify_body(&twice),
        Err(CallbackError::Malformed(_))
    ));
    let many = (0..100)
        .map(|i| format!("k{i}=v"))
        .collect::<Vec<_>>()
        .join("&");
    assert!(matches!(
        verify_body(many.as_bytes()),
        Err(CallbackError::Malformed(_))
    ));
}

#[test]
fn success_is_exactly_the_word_success() {
    let answer = verifier().success();
    assert_eq!(
        (answer.status, answer.content_type, answer.body.as_str()),
        (200, "text/plain", "success")
    );
    let answer = verifier().failure("anything", 500);
    assert_eq!((answer.status, answer.body.as_str()), (500, "fail"));
}

#[test]
fn keys_are_read_from_pem_or_the_bare_base64_alipay_shows() {
    let public = keys().current.to_public_key();
    let pem = public.to_public_key_pem(LineEnding::LF).unwrap();
    let bare = STANDARD.encode(public.to_public_key_der().unwrap().as_bytes());
    for text in [pem.as_str(), bare.as_str()] {
        let v = AlipayVerifier::from_pem(APP_ID, &[text]).unwrap();
        let notice = signer().sign(&payment(), now());
        assert_eq!(
            v.verify(&http::HeaderMap::new(), &notice.body, now()),
            Ok(payment())
        );
    }
    assert!(
        AlipayVerifier::from_pem(APP_ID, &["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"])
            .is_err()
    );
    assert!(!format!("{:?}", signer()).contains("BigUint"));
}

#[test]
fn private_keys_are_read_from_pkcs8_or_pkcs1_pem_and_short_keys_are_refused() {
    use qrpay_provider::keys::{private_key_from_text, public_key_from_text, KeyError};
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::EncodePrivateKey;
    let key = &keys().current;
    let pkcs8 = key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
    let pkcs1 = key.to_pkcs1_pem(LineEnding::LF).unwrap().to_string();
    for pem in [pkcs8, pkcs1] {
        let read = private_key_from_text(&qrpay_domain::Secret::new(pem)).unwrap();
        let signer = AlipaySigner::new(APP_ID, read).unwrap();
        assert_eq!(verify(&signer.sign(&payment(), now())), Ok(payment()));
    }
    let short = rsa::RsaPrivateKey::new(&mut aes_gcm::aead::OsRng, 1024).unwrap();
    let short_pem = short
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    assert_eq!(public_key_from_text(&short_pem), Err(KeyError::TooShort));
    let err = private_key_from_text(&qrpay_domain::Secret::new(
        "-----BEGIN PRIVATE KEY-----\nsecret-ish\n".into(),
    ))
    .unwrap_err();
    assert!(!err.to_string().contains("secret-ish"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        prop_assert!(verify_body(&body).is_err());
    }

    #[test]
    fn random_forms_never_panic(
        pairs in proptest::collection::vec(("[a-z_%+=&0-9A-F]{0,12}", "[ -~]{0,40}"), 0..20),
    ) {
        let body = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
        prop_assert!(verify_body(body.as_bytes()).is_err());
    }
}
