//! Checking an API v3 answer before anything in it is believed: the same
//! signature as a notice (`PlatformKeys::check`), over the raw answer body.
//!
//! "没有携带签名的成功应答…应认为是伪造或被篡改" (a successful answer without a
//! signature must be taken as forged or tampered with):
//! https://pay.weixin.qq.com/doc/global/v3/zh/4012354982

use chrono::{DateTime, Utc};

use super::platform::PlatformKeys;
use crate::notice::{CallbackError, TOLERANCE_S};

/// Why an API answer cannot be trusted. **Every variant is ambiguous for the
/// caller** (SPEC §4): the answer says nothing reliable about the money, so
/// the operation is neither done nor failed. Query again later with the same
/// out-trade/refund/bill number; never settle, fail or retry under a new
/// number on it. In particular a `2xx` answer without a signature
/// (`Unsigned`) is how a forged or intercepted success looks: it is never a
/// success. Messages name headers, never keys or answer contents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// No signature, or what it needs (timestamp, nonce, serial) is missing
    /// or unreadable.
    #[error("answer is not signed: {0}")]
    Unsigned(String),
    /// A signature that does not verify with the key its serial names, a
    /// serial we do not know, or a `WECHATPAY/SIGNTEST/` probe.
    #[error("answer signature does not verify: {0}")]
    BadSignature(String),
    /// The signed time is more than `TOLERANCE_S` from now (positive: in the past).
    #[error("answer time is {skew_s} s from now, more than {TOLERANCE_S} s")]
    Stale { skew_s: i64 },
}

impl From<CallbackError> for AnswerError {
    fn from(error: CallbackError) -> AnswerError {
        match error {
            CallbackError::Unsigned(detail) => AnswerError::Unsigned(detail),
            CallbackError::Stale { skew_s } => AnswerError::Stale { skew_s },
            CallbackError::BadSignature(detail) => AnswerError::BadSignature(detail),
            // The signature check makes none of these; never a pass if it did.
            other => AnswerError::BadSignature(other.to_string()),
        }
    }
}

impl PlatformKeys {
    /// Verifies an API answer: `Wechatpay-Timestamp`, `-Nonce`, `-Signature`
    /// and `-Serial` (any case), the key chosen by the serial (a certificate
    /// serial compared as a hex number, or a `PUB_KEY_ID_…`), the signature
    /// over `"{timestamp}\n{nonce}\n{body}\n"` with `body` the raw bytes as
    /// received (empty for a `204`), and the time within `TOLERANCE_S` of
    /// `now`. Call it on every answer whose content is acted on, 2xx first of
    /// all; see `AnswerError` for what a refusal means.
    pub fn verify_answer(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), AnswerError> {
        Ok(self.check(headers, body, now)?)
    }
}
