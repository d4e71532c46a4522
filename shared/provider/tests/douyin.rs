//! Douyin Pay notices as a specification: what verifies, the notification
//! ids derived for them, what each refusal is, and the answers Douyin is given.

mod common;

use common::*;
use proptest::prelude::*;
use qrpay_domain::{CollectionEvent, CollectionEventKind, Provider, Secret};
use qrpay_provider::douyin::{DouyinSigner, DouyinVerifier};
use qrpay_provider::{
    CallbackError, CallbackVerifier, ConfigError, Notice, NoticeSigner, SignedNotice,
    UnappliedNotice,
};
use sha1::{Digest, Sha1};

const APP_ID: &str = "tt07e3715e98c9aac0";
const TOKEN: &str = "douyin-token-current";
const PREVIOUS_TOKEN: &str = "douyin-token-previous";

fn secret(text: &str) -> Secret {
    Secret::new(text.to_owned())
}

fn verifier() -> DouyinVerifier {
    DouyinVerifier::new(APP_ID, vec![secret(TOKEN), secret(PREVIOUS_TOKEN)]).unwrap()
}

fn signer_with(app_id: &str, token: &str) -> DouyinSigner {
    DouyinSigner::new(app_id, secret(token)).unwrap()
}

fn signer() -> DouyinSigner {
    signer_with(APP_ID, TOKEN)
}

fn verify(notice: &SignedNotice) -> Result<CollectionEvent, CallbackError> {
    verify_body(&notice.body)
}

fn verify_body(body: &[u8]) -> Result<CollectionEvent, CallbackError> {
    verifier().verify(&http::HeaderMap::new(), body, now())
}

fn douyin(notification_id: &str, kind: CollectionEventKind) -> CollectionEvent {
    event(Provider::Douyin, notification_id, kind)
}

fn payment() -> CollectionEvent {
    douyin(
        "payment:N7000000000000000001",
        paid("N7000000000000000001", 8888, None),
    )
}

/// A body signed by hand from Douyin's documentation, not by the signer under test.
fn hand_signed(kind: &str, msg: &str, token: &str, timestamp: i64) -> Vec<u8> {
    let timestamp = timestamp.to_string();
    let nonce = "1234";
    let mut parts = [token, timestamp.as_str(), nonce, msg];
    parts.sort();
    let signature = hex::encode(Sha1::digest(parts.concat().as_bytes()));
    serde_json::json!({
        "timestamp": timestamp,
        "nonce": nonce,
        "msg": msg,
        "msg_signature": signature,
        "type": kind,
    })
    .to_string()
    .into_bytes()
}

fn at_minute_before() -> i64 {
    occurred_at().timestamp()
}

#[test]
fn each_event_kind_verifies_back_to_the_event_that_was_signed() {
    let events = [
        payment(),
        douyin(
            "refund:R7000000000000000002",
            refunded("R7000000000000000002", 1230),
        ),
        douyin(
            "instalment:N7000000000000000001:2:SUCCESS",
            deducted("N7000000000000000001", 2, 3334),
        ),
        douyin(
            &format!("instalment:{ORDER}:3:FAIL"),
            deduction_failed(3, 3333, "余额不足"),
        ),
    ];
    for event in events {
        let notice = signer().sign(&event, now());
        assert_eq!(notice.content_type, "application/json");
        assert_eq!(verify(&notice), Ok(event));
    }
}

#[test]
fn a_payment_notice_built_from_the_documentation_reads_exactly() {
    let msg = format!(
        r#"{{"appid":"{APP_ID}","cp_orderno":"{ORDER}","cp_extra":"","way":"2",
        "payment_order_no":"2026030122001400001234567890","total_amount":8888,"status":"SUCCESS",
        "seller_uid":"69631798443938487","extra":"","item_id":"","paid_at":{},
        "message":"","order_id":"N7000000000000000001"}}"#,
        at_minute_before()
    );
    let event = verify_body(&hand_signed("payment", &msg, TOKEN, now().timestamp())).unwrap();
    assert_eq!(event, payment());
    let CollectionEventKind::PaymentSucceeded { amount, .. } = event.kind else {
        unreachable!()
    };
    assert_eq!(amount.to_string(), "88.88");
}

/// The msg of the payment callback as the documentation's sample shows it
/// (ecpay pay-list/callback): no `paid_at`, no `order_id`; `channel_no`,
/// `way` as a string, `seller_uid`, `extra`, `item_id`.
fn documented_payment_msg() -> String {
    format!(
        r#"{{"appid":"{APP_ID}","cp_orderno":"{ORDER}","cp_extra":"","way":"2",
        "channel_no":"2026030122001400001234567890","payment_order_no":"PCP2026030110000012345",
        "total_amount":8888,"status":"SUCCESS","seller_uid":"69631798443938962290",
        "extra":"null","item_id":""}}"#
    )
}

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
fn a_payment_shaped_as_the_documented_sample_is_read_and_dated_by_the_envelope() {
    let signed_at = now().timestamp() - 30;
    let body = hand_signed("payment", &documented_payment_msg(), TOKEN, signed_at);
    let event = verify_body(&body).unwrap();
    assert_eq!(
        event,
        CollectionEvent {
            occurred_at: chrono::DateTime::from_timestamp(signed_at, 0).unwrap(),
            ..douyin(
                "payment:PCP2026030110000012345",
                paid("PCP2026030110000012345", 8888, None),
            )
        }
    );
    // `way` and `seller_uid` as numbers, and only `channel_no` to name it.
    let numeric = documented_payment_msg()
        .replace(r#""way":"2""#, r#""way":2"#)
        .replace(
            r#""seller_uid":"69631798443938962290""#,
            r#""seller_uid":69631798443938962290"#,
        )
        .replace(r#""payment_order_no":"PCP2026030110000012345","#, "");
    let event = verify_body(&hand_signed("payment", &numeric, TOKEN, signed_at)).unwrap();
    assert_eq!(event.kind, paid("2026030122001400001234567890", 8888, None));
    // Nothing that names Douyin's payment: genuine, acknowledged, alerted.
    let anonymous = numeric.replace(r#""channel_no":"2026030122001400001234567890","#, "");
    let unapplied = unapplied_of(&hand_signed("payment", &anonymous, TOKEN, signed_at));
    assert_eq!(unapplied.event.as_str(), "payment/SUCCESS");
    assert_eq!(unapplied.reference.unwrap().as_str(), ORDER);
}

/// The refund callback's msg as documented: our refund id, not our order.
fn documented_refund_msg(cp_extra: &str, status: &str) -> String {
    format!(
        r#"{{"appid":"{APP_ID}","cp_refundno":"rf_01JQ0000000000000000000001","cp_extra":"{cp_extra}",
        "status":"{status}","refund_amount":1230,"is_all_settled":false,"refunded_at":{},
        "message":"","order_id":"N7000000000000000001","refund_no":"R7000000000000000002"}}"#,
        at_minute_before()
    )
}

#[test]
fn a_refund_shaped_as_documented_is_read_with_our_order_from_cp_extra() {
    let body = hand_signed(
        "refund",
        &documented_refund_msg(ORDER, "SUCCESS"),
        TOKEN,
        now().timestamp(),
    );
    assert_eq!(
        verify_body(&body),
        Ok(douyin(
            "refund:R7000000000000000002",
            refunded_naming(
                "R7000000000000000002",
                1230,
                "rf_01JQ0000000000000000000001"
            )
        ))
    );
    // Without `refunded_at`, the envelope's time.
    let undated = documented_refund_msg(ORDER, "SUCCESS")
        .replace(&format!(r#""refunded_at":{},"#, at_minute_before()), "");
    let event = verify_body(&hand_signed("refund", &undated, TOKEN, now().timestamp())).unwrap();
    assert_eq!(event.occurred_at, now());
}

#[test]
fn refunds_that_failed_or_name_no_order_of_ours_are_acknowledged_not_refused() {
    let failed = hand_signed(
        "refund",
        &documented_refund_msg(ORDER, "FAIL"),
        TOKEN,
        now().timestamp(),
    );
    let unapplied = unapplied_of(&failed);
    assert_eq!(unapplied.provider, Provider::Douyin);
    assert_eq!(unapplied.event.as_str(), "refund/FAIL");
    assert_eq!(
        unapplied.reference.unwrap().as_str(),
        "rf_01JQ0000000000000000000001"
    );
    assert!(matches!(unapplied.reason, CallbackError::Unsupported(_)));

    let orderless = hand_signed(
        "refund",
        &documented_refund_msg("whatever", "SUCCESS"),
        TOKEN,
        now().timestamp(),
    );
    assert!(matches!(
        unapplied_of(&orderless).reason,
        CallbackError::Unsupported(_)
    ));
    // Another app's, an unknown type, a cancelled payment: acknowledged too.
    let other = signer_with("tt0000000000000000", TOKEN).sign(&payment(), now());
    assert_eq!(
        unapplied_of(&other.body).reason,
        CallbackError::WrongMerchant
    );
    let settle = hand_signed("settle", "{}", TOKEN, now().timestamp());
    assert_eq!(unapplied_of(&settle).event.as_str(), "settle");
    // Badly signed: still refused.
    let forged = hand_signed(
        "refund",
        &documented_refund_msg(ORDER, "FAIL"),
        "not-the-token",
        now().timestamp(),
    );
    assert!(matches!(
        notice_of(&forged),
        Err(CallbackError::BadSignature(_))
    ));
}

/// A genuine notice with its unsigned `type` replaced.
fn retyped(notice: &SignedNotice, kind: &str) -> Vec<u8> {
    let mut envelope: serde_json::Value = serde_json::from_slice(&notice.body).unwrap();
    envelope["type"] = kind.into();
    serde_json::to_vec(&envelope).unwrap()
}

#[test]
fn the_signed_msg_decides_the_kind_and_an_unsigned_type_that_disagrees_is_refused() {
    let paid = signer().sign(&payment(), now());
    // A genuine payment passed off as a refund: refused, never applied as one.
    assert_eq!(
        notice_of(&retyped(&paid, "refund")),
        Err(CallbackError::Malformed(
            "type \"refund\" is not what the signed msg is (payment)".into()
        ))
    );
    let refund = signer().sign(
        &douyin(
            "refund:R7000000000000000002",
            refunded("R7000000000000000002", 1230),
        ),
        now(),
    );
    let instalment = signer().sign(
        &douyin(
            "instalment:N7000000000000000001:2:SUCCESS",
            deducted("N7000000000000000001", 2, 3334),
        ),
        now(),
    );
    for (notice, signed) in [
        (&paid, "payment"),
        (&refund, "refund"),
        (&instalment, "instalment"),
    ] {
        for kind in ["payment", "refund", "instalment", "settle", ""] {
            let outcome = notice_of(&retyped(notice, kind));
            if kind == signed {
                assert!(matches!(outcome, Ok(Notice::Collection(_))), "{outcome:?}");
            } else {
                assert_eq!(
                    outcome,
                    Err(CallbackError::Malformed(format!(
                        "type {kind:?} is not what the signed msg is ({signed})"
                    )))
                );
            }
        }
    }
    // A msg with the marks of two kinds is no kind: acknowledged, not applied.
    let both = format!(
        r#"{{"appid":"{APP_ID}","cp_orderno":"{ORDER}","total_amount":8888,"status":"SUCCESS",
        "order_id":"N1","refund_amount":8888,"refund_no":"R1"}}"#
    );
    let unapplied = unapplied_of(&hand_signed("payment", &both, TOKEN, now().timestamp()));
    assert_eq!(
        unapplied.reason,
        CallbackError::Malformed("msg is at once a payment and a refund".into())
    );
    assert_eq!(unapplied.event.as_str(), "payment/SUCCESS");
}

#[test]
fn notification_ids_are_derived_from_what_identifies_the_notice() {
    let refund = format!(
        r#"{{"appid":"{APP_ID}","cp_orderno":"{ORDER}","cp_refundno":"rf_1","refund_amount":1230,
        "status":"SUCCESS","refunded_at":{},"refund_no":"R7000000000000000002"}}"#,
        at_minute_before()
    );
    let event = verify_body(&hand_signed("refund", &refund, TOKEN, now().timestamp())).unwrap();
    assert_eq!(
        event.notification_id.as_str(),
        "refund:R7000000000000000002"
    );
    assert_eq!(
        event.kind,
        refunded_naming("R7000000000000000002", 1230, "rf_1")
    );

    let failed = format!(
        r#"{{"appid":"{APP_ID}","cp_orderno":"{ORDER}","order_id":"N7000000000000000001","period":3,
        "amount":3333,"status":"FAIL","reason":"余额不足","deducted_at":{}}}"#,
        at_minute_before()
    );
    let event = verify_body(&hand_signed(
        "instalment",
        &failed,
        TOKEN,
        now().timestamp(),
    ))
    .unwrap();
    assert_eq!(
        event.notification_id.as_str(),
        "instalment:N7000000000000000001:3:FAIL"
    );
    assert_eq!(event.kind, deduction_failed(3, 3333, "余额不足"));

    // Redelivered later (new timestamp and nonce): the same id, so it is applied once.
    let again = verify_body(&hand_signed(
        "instalment",
        &failed,
        TOKEN,
        now().timestamp() + 100,
    ))
    .unwrap();
    assert_eq!(again.notification_id, event.notification_id);
}

#[test]
fn statuses_other_than_success_are_unsupported_or_malformed() {
    let cancelled = format!(
        r#"{{"appid":"{APP_ID}","cp_orderno":"{ORDER}","total_amount":8888,"status":"CANCEL",
        "paid_at":{},"order_id":"N1"}}"#,
        at_minute_before()
    );
    assert_eq!(
        verify_body(&hand_signed(
            "payment",
            &cancelled,
            TOKEN,
            now().timestamp()
        )),
        Err(CallbackError::Unsupported(
            "payment status \"CANCEL\"".into()
        ))
    );
    let odd = format!(
        r#"{{"appid":"{APP_ID}","cp_orderno":"{ORDER}","period":1,"amount":1,"status":"MAYBE","deducted_at":{}}}"#,
        at_minute_before()
    );
    assert!(matches!(
        verify_body(&hand_signed("instalment", &odd, TOKEN, now().timestamp())),
        Err(CallbackError::Malformed(_))
    ));
    assert!(matches!(
        verify_body(&hand_signed("settle", "{}", TOKEN, now().timestamp())),
        Err(CallbackError::Unsupported(_))
    ));
}

#[test]
fn the_previous_token_is_accepted_during_rotation() {
    let old = signer_with(APP_ID, PREVIOUS_TOKEN);
    assert_eq!(verify(&old.sign(&payment(), now())), Ok(payment()));
}

#[test]
fn a_wrong_token_fails() {
    let other = signer_with(APP_ID, "not-our-token");
    let err = verify(&other.sign(&payment(), now())).unwrap_err();
    assert_eq!(
        err,
        CallbackError::BadSignature("does not match any token".into())
    );
    let answer = verifier().refusal(&err);
    assert_eq!(answer.status, 401);
    let body: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(body["err_no"], 401);
    assert_eq!(body["err_tips"], err.to_string());
}

#[test]
fn a_tampered_msg_fails_the_signature() {
    let notice = signer().sign(&payment(), now());
    let text = String::from_utf8(notice.body.clone()).unwrap();
    let index = text.find("8888").unwrap();
    assert!(matches!(
        verify_body(&flip(&notice.body, index)),
        Err(CallbackError::BadSignature(_))
    ));
    // The signature itself, changed.
    let index = text.find("msg_signature\":\"").unwrap() + 16;
    assert!(matches!(
        verify_body(&flip(&notice.body, index)),
        Err(CallbackError::BadSignature(_) | CallbackError::Unsigned(_))
    ));
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
}

#[test]
fn a_notice_for_another_app_is_refused_400() {
    let other = signer_with("tt0000000000000000", TOKEN);
    let err = verify(&other.sign(&payment(), now())).unwrap_err();
    assert_eq!(err, CallbackError::WrongMerchant);
    assert_eq!(verifier().refusal(&err).status, 400);
}

#[test]
fn missing_signature_parts_are_unsigned() {
    let body = br#"{"timestamp":"1772330400","nonce":"n","msg":"{}","type":"payment"}"#;
    assert_eq!(
        verify_body(body),
        Err(CallbackError::Unsigned("msg_signature is missing".into()))
    );
    let body =
        br#"{"timestamp":"soon","nonce":"n","msg":"{}","msg_signature":"00","type":"payment"}"#;
    assert!(matches!(verify_body(body), Err(CallbackError::Unsigned(_))));
    let body =
        br#"{"timestamp":1772330400,"nonce":"n","msg":"{}","msg_signature":"00","type":"payment"}"#;
    assert!(matches!(
        verify_body(body),
        Err(CallbackError::Malformed(_))
    ));
}

#[test]
fn truncated_garbage_empty_and_oversize_bodies_are_refused() {
    let notice = signer().sign(&payment(), now());
    let truncated = &notice.body[..notice.body.len() - 10];
    assert!(matches!(
        verify_body(truncated),
        Err(CallbackError::Malformed(_))
    ));
    // A msg cut short but signed as it is: verified, then malformed.
    let cut_msg = format!(r#"{{"appid":"{APP_ID}","cp_orderno":"{ORDER}","total_amo"#);
    let body = hand_signed("payment", &cut_msg, TOKEN, now().timestamp());
    assert!(matches!(
        verify_body(&body),
        Err(CallbackError::Malformed(_))
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
}

#[test]
fn answers_are_douyins_err_no_shape() {
    let answer = verifier().success();
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, r#"{"err_no":0,"err_tips":"success"}"#)
    );
    let answer = verifier().failure("bad", 400);
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (400, r#"{"err_no":400,"err_tips":"bad"}"#)
    );
}

#[test]
fn tokens_are_required_and_stay_out_of_debug() {
    assert!(matches!(
        DouyinVerifier::new(APP_ID, vec![]),
        Err(ConfigError::KeyCount { .. })
    ));
    assert!(DouyinVerifier::new(APP_ID, vec![secret("")]).is_err());
    assert!(DouyinVerifier::new("", vec![secret(TOKEN)]).is_err());
    let debug = format!("{:?} {:?}", verifier(), signer());
    assert!(
        !debug.contains(TOKEN) && !debug.contains(PREVIOUS_TOKEN),
        "{debug}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        prop_assert!(verify_body(&body).is_err());
    }

    #[test]
    fn random_msgs_signed_genuinely_never_panic(
        kind in prop_oneof![
            Just("payment".to_owned()),
            Just("refund".to_owned()),
            Just("instalment".to_owned()),
            "[a-z]{0,8}",
        ],
        msg in "[ -~]{0,300}",
    ) {
        let body = hand_signed(&kind, &msg, TOKEN, now().timestamp());
        prop_assert!(verify_body(&body).is_err());
    }
}
