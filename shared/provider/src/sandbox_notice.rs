//! The sandbox provider's collection notices, beside its "transfer finished"
//! ones (`callback`), signed with the same `Qrpay-Signature` (SPEC §5):
//!
//! `{"notice_id", "event_type", "order_id", "provider_txn_id"?, "refund_id"?,
//!   "amount": "12.30", "period"?, "reason"?, "occurred_at": RFC 3339,
//!   "payer"?: {"name"?, "phone"?}}`
//!
//! | event_type                    | fields besides notice_id, order_id, amount, occurred_at |
//! |-------------------------------|---------------------------------------------------------|
//! | `PAYMENT.SUCCEEDED`           | provider_txn_id, payer?                                 |
//! | `INSTALMENT.DEDUCTED`         | provider_txn_id, period                                 |
//! | `INSTALMENT.DEDUCTION_FAILED` | period, reason                                          |
//! | `REFUND.SUCCEEDED`            | refund_id                                               |
//!
//! A field that does not belong to the event type is refused: it is our own
//! format, so anything unexpected is a bug worth hearing about.

use std::fmt;

use chrono::{DateTime, Utc};
use qrpay_domain::{
    Amount, CollectionEvent, CollectionEventKind, OrderId, Payer, Provider, Secret,
};
use serde::{Deserialize, Serialize};

use crate::callback::{
    parse_transfer_notice, TransferFinished, TRANSFER_FAILED, TRANSFER_SUCCEEDED,
};
use crate::notice::{
    check_body, check_key_count, json_error, payer_detail, period, provider_ref, quoted, reason,
    Answer, CallbackError, CallbackVerifier, ConfigError, Notice, MAX_PAYER_NAME_CHARS,
    MAX_PAYER_PHONE_CHARS,
};
use crate::signature::{self, SignatureError};

#[cfg(feature = "signers")]
mod signer;
#[cfg(feature = "signers")]
pub use signer::SandboxSigner;

pub const PAYMENT_SUCCEEDED: &str = "PAYMENT.SUCCEEDED";
pub const INSTALMENT_DEDUCTED: &str = "INSTALMENT.DEDUCTED";
pub const INSTALMENT_DEDUCTION_FAILED: &str = "INSTALMENT.DEDUCTION_FAILED";
pub const REFUND_SUCCEEDED: &str = "REFUND.SUCCEEDED";
/// The header as the sandbox sends it (HTTP header names are case-insensitive).
pub const HEADER_NAME: &str = "Qrpay-Signature";
/// Longest sandbox secret accepted.
const MAX_SECRET_LEN: usize = 256;

/// Any notice the sandbox sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxNotice {
    Transfer(TransferFinished),
    Collection(CollectionEvent),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    notice_id: String,
    event_type: String,
    order_id: OrderId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    provider_txn_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refund_id: Option<String>,
    amount: Amount,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    period: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    occurred_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    payer: Option<PayerWire>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PayerWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    phone: Option<String>,
}

#[derive(Deserialize)]
struct EventType {
    event_type: String,
}

/// Reads a sandbox notice body (transfer or collection); the signature was
/// checked on these bytes already.
pub fn parse_sandbox_notice(body: &[u8]) -> Result<SandboxNotice, String> {
    read_notice(body).map_err(|e| match e {
        CallbackError::Malformed(message) => message,
        other => other.to_string(),
    })
}

fn read_notice(body: &[u8]) -> Result<SandboxNotice, CallbackError> {
    let head: EventType = serde_json::from_slice(body).map_err(|e| json_error("notice", &e))?;
    match head.event_type.as_str() {
        TRANSFER_SUCCEEDED | TRANSFER_FAILED => parse_transfer_notice(body)
            .map(SandboxNotice::Transfer)
            .map_err(CallbackError::Malformed),
        PAYMENT_SUCCEEDED
        | INSTALMENT_DEDUCTED
        | INSTALMENT_DEDUCTION_FAILED
        | REFUND_SUCCEEDED => read_collection(body).map(SandboxNotice::Collection),
        other => Err(CallbackError::Unsupported(format!(
            "event_type {}",
            quoted(other)
        ))),
    }
}

fn read_collection(body: &[u8]) -> Result<CollectionEvent, CallbackError> {
    let wire: Wire = serde_json::from_slice(body).map_err(|e| json_error("notice", &e))?;
    let event_type = wire.event_type.as_str();
    let allowed: &[&str] = match event_type {
        PAYMENT_SUCCEEDED => &["provider_txn_id", "payer"],
        INSTALMENT_DEDUCTED => &["provider_txn_id", "period"],
        INSTALMENT_DEDUCTION_FAILED => &["period", "reason"],
        _ => &["refund_id"],
    };
    let present = [
        ("provider_txn_id", wire.provider_txn_id.is_some()),
        ("refund_id", wire.refund_id.is_some()),
        ("period", wire.period.is_some()),
        ("reason", wire.reason.is_some()),
        ("payer", wire.payer.is_some()),
    ];
    if let Some((field, _)) = present
        .iter()
        .find(|(field, is_present)| *is_present && !allowed.contains(field))
    {
        return Err(CallbackError::Malformed(format!(
            "{field} does not belong to {event_type}"
        )));
    }
    let required = |field: &str, value: Option<&str>| {
        value
            .ok_or_else(|| CallbackError::Malformed(format!("{event_type} needs {field}")))
            .and_then(|v| provider_ref(field, v))
    };
    let needs_period = || {
        wire.period
            .ok_or_else(|| CallbackError::Malformed(format!("{event_type} needs period")))
            .and_then(|p| period("period", p))
    };
    let kind = match event_type {
        PAYMENT_SUCCEEDED => CollectionEventKind::PaymentSucceeded {
            provider_txn_id: required("provider_txn_id", wire.provider_txn_id.as_deref())?,
            amount: wire.amount,
            payer: wire.payer.as_ref().map(read_payer).transpose()?,
        },
        INSTALMENT_DEDUCTED => CollectionEventKind::InstalmentDeducted {
            provider_txn_id: required("provider_txn_id", wire.provider_txn_id.as_deref())?,
            period: needs_period()?,
            amount: wire.amount,
        },
        INSTALMENT_DEDUCTION_FAILED => CollectionEventKind::InstalmentDeductionFailed {
            period: needs_period()?,
            amount: wire.amount,
            reason: reason(wire.reason.as_deref()),
        },
        // The sandbox refunds nothing of ours (it has no refund gateway).
        _ => CollectionEventKind::RefundSucceeded {
            refund_id: required("refund_id", wire.refund_id.as_deref())?,
            amount: wire.amount,
            our_refund: None,
        },
    };
    let occurred_at = DateTime::parse_from_rfc3339(&wire.occurred_at)
        .map_err(|_| CallbackError::malformed("occurred_at must be an RFC 3339 time"))?
        .with_timezone(&Utc);
    Ok(CollectionEvent {
        provider: Provider::Sandbox,
        notification_id: provider_ref("notice_id", &wire.notice_id)?,
        order_id: wire.order_id,
        kind,
        occurred_at,
    })
}

fn read_payer(wire: &PayerWire) -> Result<Payer, CallbackError> {
    Ok(Payer {
        name: payer_detail("payer.name", wire.name.as_deref(), MAX_PAYER_NAME_CHARS)?,
        phone: payer_detail("payer.phone", wire.phone.as_deref(), MAX_PAYER_PHONE_CHARS)?,
        account: None,
    })
}

fn check_secret(secret: &Secret) -> bool {
    let len = secret.expose().len();
    len > 0 && len <= MAX_SECRET_LEN
}

// ---- our side ----------------------------------------------------------------------

/// Verifies sandbox notices against its secrets (current first).
#[derive(Clone)]
pub struct SandboxVerifier {
    secrets: Vec<Secret>,
}

impl fmt::Debug for SandboxVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxVerifier")
            .field("secrets", &self.secrets)
            .finish()
    }
}

impl SandboxVerifier {
    pub fn new(secrets: Vec<Secret>) -> Result<SandboxVerifier, ConfigError> {
        check_key_count("sandbox secrets", &secrets)?;
        if !secrets.iter().all(check_secret) {
            return Err(ConfigError::Invalid("sandbox secrets (1-256 bytes each)"));
        }
        Ok(SandboxVerifier { secrets })
    }

    /// Verifies and reads any sandbox notice: transfer or collection.
    pub fn verify_any(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<SandboxNotice, CallbackError> {
        check_body(body)?;
        let header = crate::notice::signature_header(headers, signature::HEADER)?;
        let secrets: Vec<&str> = self.secrets.iter().map(|s| s.expose().as_str()).collect();
        let now_s = now.timestamp();
        signature::verify(&secrets, header, body, now_s).map_err(|e| match e {
            SignatureError::Malformed => {
                CallbackError::Unsigned(format!("{HEADER_NAME} header is malformed"))
            }
            SignatureError::Stale => CallbackError::Stale {
                skew_s: signature::signed_at(header).map_or(i64::MAX, |t| now_s.saturating_sub(t)),
            },
            SignatureError::Mismatch => {
                CallbackError::BadSignature("does not match any sandbox secret".into())
            }
        })?;
        read_notice(body)
    }
}

impl CallbackVerifier for SandboxVerifier {
    fn provider(&self) -> Provider {
        Provider::Sandbox
    }

    /// A collection event or a "transfer finished" notice (`verify`, for
    /// collection events only, refuses the latter as `Unsupported`).
    fn verify_notice(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Notice, CallbackError> {
        Ok(match self.verify_any(headers, body, now)? {
            SandboxNotice::Collection(event) => Notice::Collection(event),
            SandboxNotice::Transfer(transfer) => Notice::Transfer(transfer),
        })
    }

    fn success(&self) -> Answer {
        Answer {
            status: 200,
            content_type: "application/json",
            body: r#"{"received":true}"#.into(),
        }
    }

    fn failure(&self, message: &str, status: u16) -> Answer {
        let code = if status == 401 {
            "INVALID_SIGNATURE"
        } else {
            "INVALID_REQUEST"
        };
        Answer {
            status,
            content_type: "application/json",
            body: serde_json::json!({"error": {"code": code, "message": message}}).to_string(),
        }
    }
}
