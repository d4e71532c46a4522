//! What every provider's notice suite shares: the instant, the events of each
//! kind, RSA keys made once per test binary, and the refusal inputs.
#![allow(dead_code)]

pub mod sdk;

use std::sync::OnceLock;

use chrono::{DateTime, Duration, Utc};
use qrpay_domain::{
    Amount, CollectionEvent, CollectionEventKind, OrderId, Payer, Provider, ProviderRef,
};
use qrpay_provider::notice::MAX_BODY_BYTES;
use rsa::RsaPrivateKey;

pub const ORDER: &str = "ord_01JQ0000000000000000000000";

pub fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T10:00:00+08:00")
        .unwrap()
        .with_timezone(&Utc)
}

/// A minute before `now`, to the second: what the provider says happened.
pub fn occurred_at() -> DateTime<Utc> {
    now() - Duration::seconds(60)
}

pub fn amount(fen: i64) -> Amount {
    Amount::from_fen(fen).unwrap()
}

pub fn pref(text: &str) -> ProviderRef {
    ProviderRef::parse(text).unwrap()
}

pub fn event(
    provider: Provider,
    notification_id: &str,
    kind: CollectionEventKind,
) -> CollectionEvent {
    CollectionEvent {
        provider,
        notification_id: pref(notification_id),
        order_id: OrderId::parse(ORDER).unwrap(),
        kind,
        occurred_at: occurred_at(),
    }
}

pub fn paid(txn: &str, fen: i64, payer: Option<Payer>) -> CollectionEventKind {
    CollectionEventKind::PaymentSucceeded {
        provider_txn_id: pref(txn),
        amount: amount(fen),
        payer,
    }
}

pub fn deducted(txn: &str, period: u8, fen: i64) -> CollectionEventKind {
    CollectionEventKind::InstalmentDeducted {
        provider_txn_id: pref(txn),
        period,
        amount: amount(fen),
    }
}

pub fn deduction_failed(period: u8, fen: i64, reason: &str) -> CollectionEventKind {
    CollectionEventKind::InstalmentDeductionFailed {
        period,
        amount: amount(fen),
        reason: reason.to_owned(),
    }
}

pub fn refunded(refund_id: &str, fen: i64) -> CollectionEventKind {
    CollectionEventKind::RefundSucceeded {
        refund_id: pref(refund_id),
        amount: amount(fen),
        our_refund: None,
    }
}

/// A refund notice naming our refund by the number we sent (WeChat
/// `out_refund_no`, Alipay `out_biz_no`, Douyin `cp_refundno`).
pub fn refunded_naming(refund_id: &str, fen: i64, ours: &str) -> CollectionEventKind {
    CollectionEventKind::RefundSucceeded {
        refund_id: pref(refund_id),
        amount: amount(fen),
        our_refund: Some(qrpay_domain::RefundId::parse(ours).unwrap()),
    }
}

pub fn payer() -> Payer {
    Payer {
        name: Some("张三丰".to_owned()),
        phone: Some("13812341234".to_owned()),
        account: None,
    }
}

/// Current, previous and a stranger's 2048-bit keys, made once per binary.
pub struct Keys {
    pub current: RsaPrivateKey,
    pub previous: RsaPrivateKey,
    pub stranger: RsaPrivateKey,
}

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let make = || RsaPrivateKey::new(&mut aes_gcm::aead::OsRng, 2048).unwrap();
        Keys {
            current: make(),
            previous: make(),
            stranger: make(),
        }
    })
}

/// `body` with the byte at `index` changed.
pub fn flip(body: &[u8], index: usize) -> Vec<u8> {
    let mut body = body.to_vec();
    body[index] ^= 0x01;
    body
}

/// Bytes that are no notice at all.
pub fn garbage() -> Vec<u8> {
    vec![0xff, 0xfe, 0x00, 0x9c, b'{', 0xc3, 0x28, b'}']
}

pub fn oversize() -> Vec<u8> {
    vec![b'a'; MAX_BODY_BYTES + 1]
}
