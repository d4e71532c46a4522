//! Provider notices (SPEC §5): the sandbox, WeChat Pay, Alipay and Douyin
//! verifiers, each fed notices framed as `name: value` header lines, a blank
//! line, then the body. Most inputs are payloads mutated and then signed
//! again with keys made here, so they pass the signature and reach the
//! reading after it; the rest are signed notices mutated after signing,
//! which must be refused at the signature.

use chrono::{DateTime, Duration, Utc};
use lambda_http::http::{HeaderMap, HeaderName, HeaderValue};
use qrpay_domain::{
    Amount, CollectionEvent, CollectionEventKind, OrderId, Payer, PayerAccount, PayerAccountKind,
    Provider, ProviderRef, Secret,
};
use qrpay_provider::callback::parse_transfer_notice;
use qrpay_provider::{kit, CallbackError, CallbackVerifier, Notice, SignedNotice};
use serde_json::{json, Value};

use crate::mutate::{self, Shape};
use crate::rng::Rng;
use crate::{clear_error, Outcome, Target};

mod payloads;

/// The instant every notice is signed and verified at.
pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_772_330_400, 0).expect("a valid instant")
}

/// Signs a (mutated) payload as the provider would; `None` when the payload
/// cannot be a notice of that provider at all.
type Seal = Box<dyn Fn(&[u8]) -> Option<SignedNotice>>;

/// One provider's notice verifier.
pub struct Notices {
    name: &'static str,
    verifier: Box<dyn CallbackVerifier>,
    /// Genuine notices, framed.
    samples: Vec<Vec<u8>>,
    /// What the provider signs, before signing.
    payloads: Vec<Vec<u8>>,
    shape: Shape,
    seal: Seal,
    /// Out of 8 inputs, how many are signed again after mutation (signing
    /// with RSA costs a millisecond; HMAC costs nothing).
    signed_in_8: usize,
}

/// Headers as `name: value` lines, a blank line, then the body.
pub fn frame(notice: &SignedNotice) -> Vec<u8> {
    let mut out = Vec::new();
    let content_type = ("content-type".to_owned(), notice.content_type.to_owned());
    for (name, value) in notice.headers.iter().chain([&content_type]) {
        out.extend(format!("{name}: {value}\n").into_bytes());
    }
    out.push(b'\n');
    out.extend(&notice.body);
    out
}

/// The headers and body of a framed notice; header lines that are not
/// valid HTTP are dropped, as a server would never pass them on.
pub fn unframe(input: &[u8]) -> (HeaderMap, &[u8]) {
    let mut headers = HeaderMap::new();
    let Some(split) = input.windows(2).position(|w| w == b"\n\n") else {
        return (headers, input);
    };
    for line in input[..split].split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let value = line[colon + 1..]
            .strip_prefix(b" ")
            .unwrap_or(&line[colon + 1..]);
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(value),
        ) {
            headers.append(name, value);
        }
    }
    (headers, &input[split + 2..])
}

impl Target for Notices {
    fn name(&self) -> &'static str {
        self.name
    }

    fn samples(&self) -> &[Vec<u8>] {
        &self.samples
    }

    fn input(&self, rng: &mut Rng) -> Vec<u8> {
        if rng.below(8) < self.signed_in_8 {
            let payload = mutate::input(rng, &self.payloads, self.shape, 2048);
            if let Some(notice) = (self.seal)(&payload) {
                return frame(&notice);
            }
        }
        mutate::input(rng, &self.samples, Shape::Bytes, 2048)
    }

    fn run(&self, input: &[u8]) -> Outcome {
        let (headers, body) = unframe(input);
        match self.verifier.verify_notice(&headers, body, now()) {
            Ok(Notice::Collection(_) | Notice::Transfer(_)) => Outcome::Accepted,
            Ok(Notice::Unapplied(unapplied)) => refusal(&unapplied.reason),
            Err(e) => refusal(&e),
        }
    }
}

/// A refusal is clear when its status is a 4xx and its message is clear.
fn refusal(error: &CallbackError) -> Outcome {
    let status = error.http_status();
    if !(400..500).contains(&status) {
        return Outcome::Unclear(format!("status {status} for {error}"));
    }
    clear_error(error)
}

/// The events every provider is sampled with: each kind once.
pub fn events(provider: Provider) -> Vec<CollectionEvent> {
    let pref = |t: &str| ProviderRef::parse(t).expect("a valid reference");
    let amount = |fen: i64| Amount::from_fen(fen).expect("a valid amount");
    let account = match provider {
        Provider::Alipay => PayerAccount::new(PayerAccountKind::AlipayUserId, "2088102146225135"),
        _ => PayerAccount::new(
            PayerAccountKind::WechatOpenid,
            "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        ),
    };
    let payer = Payer {
        name: Some("张三".into()),
        phone: Some("13800138000".into()),
        account: account.ok(),
    };
    let kinds = [
        CollectionEventKind::PaymentSucceeded {
            provider_txn_id: pref("4200000001202603011234567890"),
            amount: amount(8888),
            payer: Some(payer),
        },
        CollectionEventKind::RefundSucceeded {
            refund_id: pref("50300000012026030112345678"),
            amount: amount(100),
            our_refund: None,
        },
        CollectionEventKind::InstalmentDeducted {
            provider_txn_id: pref("4200000002202603011234567890"),
            period: 2,
            amount: amount(3000),
        },
        CollectionEventKind::InstalmentDeductionFailed {
            period: 3,
            amount: amount(3000),
            reason: "余额不足".into(),
        },
    ];
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| CollectionEvent {
            provider,
            notification_id: pref(&format!("ntc-{i}")),
            order_id: OrderId::parse("ord_01JQ0000000000000000000000").expect("a valid order id"),
            kind,
            occurred_at: now() - Duration::seconds(60),
        })
        .collect()
}

/// The sandbox's own transfer notice body, read on its own (callback.rs).
pub struct TransferBody {
    samples: Vec<Vec<u8>>,
}

impl Target for TransferBody {
    fn name(&self) -> &'static str {
        "sandbox transfer notice body"
    }

    fn samples(&self) -> &[Vec<u8>] {
        &self.samples
    }

    fn input(&self, rng: &mut Rng) -> Vec<u8> {
        mutate::input(rng, &self.samples, Shape::Json, 1024)
    }

    fn run(&self, input: &[u8]) -> Outcome {
        match parse_transfer_notice(input) {
            Ok(_) => Outcome::Accepted,
            Err(message) => crate::clear("transfer notice", &message),
        }
    }
}

fn transfer_body() -> TransferBody {
    let wire = |event: &str, reason: Value| {
        let mut body = json!({
            "notice_id": "sbx_ntc_1", "event_type": event, "out_bill_no": "po_1",
            "provider_ref": "sbx_tr_1", "amount": "12.30",
        });
        if !reason.is_null() {
            body["reason"] = reason;
        }
        body.to_string().into_bytes()
    };
    TransferBody {
        samples: vec![
            wire("TRANSFER.SUCCEEDED", Value::Null),
            wire("TRANSFER.FAILED", json!("payee account frozen")),
        ],
    }
}

pub fn targets() -> Vec<Box<dyn Target>> {
    vec![
        Box::new(payloads::sandbox()),
        Box::new(payloads::wechatpay()),
        Box::new(payloads::alipay()),
        Box::new(payloads::douyin()),
        Box::new(transfer_body()),
    ]
}

/// A fresh secret of the shape a provider's HMAC key or token has.
fn secret() -> Secret {
    kit::random_secret()
}
