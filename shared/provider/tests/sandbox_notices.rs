//! The sandbox's signed notices as a specification: collection events and
//! transfer notices under one `Qrpay-Signature`, refusals and answers.

mod common;

use common::*;
use proptest::prelude::*;
use qrpay_domain::{CollectionEvent, CollectionEventKind, PayoutId, Provider, Secret};
use qrpay_provider::callback::parse_transfer_notice;
use qrpay_provider::sandbox::{SandboxTransferStatus, TransferNotice};
use qrpay_provider::sandbox_notice::{parse_sandbox_notice, SandboxNotice};
use qrpay_provider::{
    signature, CallbackError, CallbackVerifier, NoticeSigner, SandboxSigner, SandboxVerifier,
    SignedNotice,
};

const SECRET: &str = "sandbox-secret-current";
const PREVIOUS: &str = "sandbox-secret-previous";

fn secret(text: &str) -> Secret {
    Secret::new(text.to_owned())
}

fn verifier() -> SandboxVerifier {
    SandboxVerifier::new(vec![secret(SECRET), secret(PREVIOUS)]).unwrap()
}

fn signer_with(text: &str) -> SandboxSigner {
    SandboxSigner::new(secret(text)).unwrap()
}

fn signer() -> SandboxSigner {
    signer_with(SECRET)
}

fn verify(notice: &SignedNotice) -> Result<CollectionEvent, CallbackError> {
    verifier().verify(&notice.header_map(), &notice.body, now())
}

fn sandbox(notification_id: &str, kind: CollectionEventKind) -> CollectionEvent {
    event(Provider::Sandbox, notification_id, kind)
}

fn payment() -> CollectionEvent {
    sandbox("sbx_ntc_1", paid("sbx_pay_1", 8888, Some(payer())))
}

fn transfer() -> TransferNotice {
    TransferNotice {
        notice_id: "sbx_ntc_9".into(),
        out_bill_no: PayoutId::parse("po_1").unwrap(),
        status: SandboxTransferStatus::Failed {
            reason: "payee account frozen".into(),
        },
        provider_ref: "sbx_tr_9".into(),
        amount: amount(1230),
    }
}

/// Signs `body` at `now` with the current secret.
fn signed(body: &str) -> SignedNotice {
    signer().sign_body(body.as_bytes().to_vec(), now())
}

#[test]
fn each_event_kind_verifies_back_to_the_event_that_was_signed() {
    let events = [
        payment(),
        sandbox("sbx_ntc_2", paid("sbx_pay_2", 1, None)),
        sandbox("sbx_ntc_3", deducted("sbx_ded_3", 2, 3334)),
        sandbox("sbx_ntc_4", deduction_failed(3, 3333, "余额不足")),
        sandbox("sbx_ntc_5", refunded("sbx_rf_5", 1230)),
    ];
    for event in events {
        let notice = signer().sign(&event, now());
        assert_eq!(notice.headers[0].0, "Qrpay-Signature");
        assert_eq!(verify(&notice), Ok(event));
    }
}

#[test]
fn a_payment_notice_written_by_hand_reads_exactly() {
    let notice = signed(&format!(
        r#"{{"notice_id":"sbx_ntc_1","event_type":"PAYMENT.SUCCEEDED","order_id":"{ORDER}",
        "provider_txn_id":"sbx_pay_1","amount":"88.88","occurred_at":"2026-03-01T09:59:00+08:00",
        "payer":{{"name":"张三丰","phone":"13812341234"}}}}"#
    ));
    assert_eq!(verify(&notice), Ok(payment()));
    let refund = signed(&format!(
        r#"{{"notice_id":"sbx_ntc_5","event_type":"REFUND.SUCCEEDED","order_id":"{ORDER}",
        "refund_id":"sbx_rf_5","amount":"12.3","occurred_at":"2026-03-01T01:59:00Z"}}"#
    ));
    assert_eq!(
        verify(&refund),
        Ok(sandbox("sbx_ntc_5", refunded("sbx_rf_5", 1230)))
    );
}

#[test]
fn transfer_notices_are_read_by_verify_any_and_refused_by_verify() {
    let notice = signer().sign_transfer(&transfer(), now());
    let want = parse_transfer_notice(&notice.body).unwrap();
    assert_eq!(
        verifier().verify_any(&notice.header_map(), &notice.body, now()),
        Ok(SandboxNotice::Transfer(want.clone()))
    );
    assert_eq!(
        parse_sandbox_notice(&notice.body),
        Ok(SandboxNotice::Transfer(want))
    );
    assert!(matches!(
        verify(&notice),
        Err(CallbackError::Unsupported(_))
    ));
    // The existing header format: what payment-callback checks today.
    let header = &notice.headers[0].1;
    assert_eq!(
        signature::verify(&[SECRET], header, &notice.body, now().timestamp()),
        Ok(())
    );
}

#[test]
fn fields_that_do_not_belong_to_the_event_type_are_refused() {
    let cases = [
        (
            r#""event_type":"REFUND.SUCCEEDED","refund_id":"r","provider_txn_id":"p""#,
            "provider_txn_id does not belong to REFUND.SUCCEEDED",
        ),
        (
            r#""event_type":"PAYMENT.SUCCEEDED""#,
            "PAYMENT.SUCCEEDED needs provider_txn_id",
        ),
        (
            r#""event_type":"INSTALMENT.DEDUCTED","provider_txn_id":"p""#,
            "INSTALMENT.DEDUCTED needs period",
        ),
        (
            r#""event_type":"INSTALMENT.DEDUCTED","provider_txn_id":"p","period":0"#,
            "period starts at 1",
        ),
        (
            r#""event_type":"INSTALMENT.DEDUCTION_FAILED","period":1,"payer":{}"#,
            "payer does not belong to INSTALMENT.DEDUCTION_FAILED",
        ),
    ];
    for (fields, message) in cases {
        let body = format!(
            r#"{{"notice_id":"n1","order_id":"{ORDER}","amount":"1.00","occurred_at":"2026-03-01T09:59:00+08:00",{fields}}}"#
        );
        assert_eq!(
            verifier().verify(&signed(&body).header_map(), body.as_bytes(), now()),
            Err(CallbackError::Malformed(message.into())),
            "{fields}"
        );
        assert_eq!(parse_sandbox_notice(body.as_bytes()), Err(message.into()));
    }
    let unknown =
        format!(r#"{{"notice_id":"n1","event_type":"PAYMENT.VOIDED","order_id":"{ORDER}"}}"#);
    assert!(matches!(
        verify(&signed(&unknown)),
        Err(CallbackError::Unsupported(_))
    ));
    let extra = format!(
        r#"{{"notice_id":"n1","event_type":"REFUND.SUCCEEDED","order_id":"{ORDER}","refund_id":"r",
        "amount":"1.00","occurred_at":"2026-03-01T09:59:00+08:00","bonus":1}}"#
    );
    assert!(matches!(
        verify(&signed(&extra)),
        Err(CallbackError::Malformed(_))
    ));
    let float_amount = extra
        .replace(r#""amount":"1.00""#, r#""amount":1.0"#)
        .replace(r#","bonus":1"#, "");
    assert!(matches!(
        verify(&signed(&float_amount)),
        Err(CallbackError::Malformed(_))
    ));
}

#[test]
fn the_previous_secret_is_accepted_during_rotation() {
    let notice = signer_with(PREVIOUS).sign(&payment(), now());
    assert_eq!(verify(&notice), Ok(payment()));
}

#[test]
fn a_tampered_body_or_a_wrong_secret_fails_with_invalid_signature() {
    let notice = signer().sign(&payment(), now());
    let tampered = flip(&notice.body, notice.body.len() / 2);
    let err = verifier()
        .verify(&notice.header_map(), &tampered, now())
        .unwrap_err();
    assert_eq!(
        err,
        CallbackError::BadSignature("does not match any sandbox secret".into())
    );
    let answer = verifier().refusal(&err);
    assert_eq!(answer.status, 401);
    let body: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(body["error"]["code"], "INVALID_SIGNATURE");
    assert_eq!(body["error"]["message"], err.to_string());

    let forged = signer_with("someone-else").sign(&payment(), now());
    assert!(matches!(
        verify(&forged),
        Err(CallbackError::BadSignature(_))
    ));
}

#[test]
fn notices_more_than_300_seconds_away_are_stale_either_way() {
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
}

#[test]
fn a_missing_or_malformed_header_is_unsigned() {
    let notice = signer().sign(&payment(), now());
    let err = verifier()
        .verify(&http::HeaderMap::new(), &notice.body, now())
        .unwrap_err();
    assert!(matches!(err, CallbackError::Unsigned(_)));
    let mut headers = http::HeaderMap::new();
    headers.insert("qrpay-signature", "t=abc,v1=00".parse().unwrap());
    assert!(matches!(
        verifier().verify(&headers, &notice.body, now()),
        Err(CallbackError::Unsigned(_))
    ));
}

#[test]
fn truncated_garbage_empty_and_oversize_bodies_are_refused() {
    let notice = signer().sign(&payment(), now());
    let headers = notice.header_map();
    let truncated = &notice.body[..notice.body.len() - 5];
    assert!(matches!(
        verifier().verify(&headers, truncated, now()),
        Err(CallbackError::BadSignature(_))
    ));
    for body in [truncated.to_vec(), garbage()] {
        let resigned = signer().sign_body(body, now());
        let err = verifier()
            .verify(&resigned.header_map(), &resigned.body, now())
            .unwrap_err();
        assert!(matches!(err, CallbackError::Malformed(_)), "{err:?}");
        let answer = verifier().refusal(&err);
        let body: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(
            (answer.status, body["error"]["code"].as_str()),
            (400, Some("INVALID_REQUEST"))
        );
    }
    assert_eq!(
        verifier().verify(&headers, b"", now()),
        Err(CallbackError::Malformed("body is empty".into()))
    );
    let big = signer().sign_body(oversize(), now());
    assert_eq!(
        verifier().verify(&big.header_map(), &big.body, now()),
        Err(CallbackError::TooLarge {
            max_bytes: 16 * 1024
        })
    );
}

#[test]
fn success_is_received_true() {
    let answer = verifier().success();
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, r#"{"received":true}"#)
    );
    let debug = format!("{:?} {:?}", verifier(), signer());
    assert!(
        !debug.contains(SECRET) && !debug.contains(PREVIOUS),
        "{debug}"
    );
    assert!(SandboxVerifier::new(vec![]).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_bytes_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        header in "[ -~]{0,200}",
    ) {
        let mut headers = http::HeaderMap::new();
        headers.insert("qrpay-signature", http::HeaderValue::from_str(&header).unwrap());
        prop_assert!(verifier().verify(&headers, &body, now()).is_err());
        let resigned = signer().sign_body(body, now());
        prop_assert!(verifier().verify(&resigned.header_map(), &resigned.body, now()).is_err());
        let _ = parse_sandbox_notice(&resigned.body);
    }
}
