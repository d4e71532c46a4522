//! What a "transfer finished" notice tells us (`TransferFinished`, from the
//! sandbox or WeChat Pay's `MCHTRANSFER.BILL.FINISHED`), and the sandbox
//! provider's callback body for it, written by the sandbox and read by
//! `payment-callback`:
//! `{"notice_id", "event_type": "TRANSFER.SUCCEEDED"|"TRANSFER.FAILED",
//!   "out_bill_no", "provider_ref", "amount": "12.30", "reason"?}`.

use qrpay_domain::{Amount, PayoutId, Provider};
#[cfg(feature = "sandbox")]
use serde::{Deserialize, Serialize};

#[cfg(feature = "sandbox")]
use crate::notice::{json_error, quoted, CallbackError};
#[cfg(feature = "sandbox")]
use crate::sandbox::{SandboxTransferStatus, TransferNotice};

pub const TRANSFER_SUCCEEDED: &str = "TRANSFER.SUCCEEDED";
pub const TRANSFER_FAILED: &str = "TRANSFER.FAILED";
/// Longest notice id or reference accepted.
#[cfg(feature = "sandbox")]
const MAX_TEXT: usize = 128;

#[cfg(feature = "sandbox")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    notice_id: String,
    event_type: String,
    out_bill_no: PayoutId,
    provider_ref: String,
    amount: Amount,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// A parsed, validated "transfer finished" notice, from any provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferFinished {
    /// The provider that sent it: it settles only a payout sent through it.
    pub provider: Provider,
    pub notice_id: String,
    pub out_bill_no: PayoutId,
    pub provider_ref: String,
    pub amount: Amount,
    /// `None` when the money moved, the provider's reason when it did not.
    pub failure: Option<String>,
}

#[cfg(feature = "sandbox")]
impl TransferNotice {
    /// The JSON the sandbox posts for this notice.
    pub fn callback_body(&self) -> String {
        let (event_type, reason) = match &self.status {
            SandboxTransferStatus::Succeeded => (TRANSFER_SUCCEEDED, None),
            SandboxTransferStatus::Failed { reason } => (TRANSFER_FAILED, Some(reason.clone())),
        };
        let wire = Wire {
            notice_id: self.notice_id.clone(),
            event_type: event_type.to_owned(),
            out_bill_no: self.out_bill_no.clone(),
            provider_ref: self.provider_ref.clone(),
            amount: self.amount,
            reason,
        };
        serde_json::to_string(&wire).expect("a notice always serializes")
    }
}

/// Reads a notice body; the signature was checked on these bytes already.
#[cfg(feature = "sandbox")]
pub fn parse_transfer_notice(body: &[u8]) -> Result<TransferFinished, String> {
    // Bounded, value-free messages (`json_error`, `quoted`): a refusal is
    // logged and answered, and must not echo the body back.
    let wire: Wire =
        serde_json::from_slice(body).map_err(|e| match json_error("transfer notice", &e) {
            CallbackError::Malformed(message) => message,
            other => other.to_string(),
        })?;
    let short = |s: &str| !s.is_empty() && s.len() <= MAX_TEXT;
    if !short(&wire.notice_id) || !short(&wire.provider_ref) {
        return Err("notice_id and provider_ref must be 1-128 characters".into());
    }
    let failure = match (wire.event_type.as_str(), wire.reason) {
        (TRANSFER_SUCCEEDED, None) => None,
        (TRANSFER_FAILED, Some(reason)) if !reason.is_empty() => Some(reason),
        (TRANSFER_FAILED, _) => Some("provider gave no reason".to_owned()),
        (other, _) => return Err(format!("unknown event_type {}", quoted(other))),
    };
    Ok(TransferFinished {
        provider: Provider::Sandbox,
        notice_id: wire.notice_id,
        out_bill_no: wire.out_bill_no,
        provider_ref: wire.provider_ref,
        amount: wire.amount,
        failure,
    })
}

#[cfg(all(test, feature = "sandbox"))]
mod tests {
    use super::*;

    /// Found by the fuzzer: a refusal quoted the whole unknown field name or
    /// event type (up to the 16 KiB body) back into the error and the log.
    #[test]
    fn refusals_quote_at_most_a_bounded_piece_of_the_notice() {
        let long = "A".repeat(5_000);
        let unknown_field = format!(r#"{{"{long}":1}}"#);
        let unknown_event = format!(
            r#"{{"notice_id":"n","event_type":"{long}","out_bill_no":"po_1","provider_ref":"r","amount":"1.00"}}"#
        );
        let bad_value = r#"{"notice_id":"n","event_type":"TRANSFER.FAILED","out_bill_no":"po_1","provider_ref":"r","amount":"13812341234"}"#;
        for body in [unknown_field.as_str(), unknown_event.as_str(), bad_value] {
            let message = parse_transfer_notice(body.as_bytes()).unwrap_err();
            assert!(message.len() <= 200, "{} bytes: {message}", message.len());
            assert!(!message.contains("1381234"), "{message}");
            assert!(!message.starts_with("malformed notice"), "{message}");
        }
    }
}
