//! What every provider's payment notice has in common (SPEC §5): the port a
//! callback handler calls (`CallbackVerifier`), the one error type and its
//! HTTP status, and the checks and conversions every adapter applies at this
//! edge. With the `signers` feature, also the provider's side that produces
//! genuine notices (`NoticeSigner`, `SignedNotice`, in `signing`).
//!
//! Each adapter verifies the signature over the raw body bytes before it
//! reads anything the signature does not cover, checks the notice's time
//! against `TOLERANCE_S`, and converts amounts to `Amount` exactly once.
//!
//! The rule at this edge: a notice that fails authentication (signature,
//! signed time, decryption) is refused as today; a genuine, correctly signed
//! notice is never refused. It is applied when it can be (`Notice::Collection`,
//! `Notice::Transfer`), and otherwise acknowledged, recorded and alerted
//! (`Notice::Unapplied`), since a provider redelivers a refused notice for a
//! day or more and redelivery cannot make it applicable.

use chrono::{DateTime, Utc};
use qrpay_domain::collection::MAX_REASON_CHARS;
use qrpay_domain::{Amount, CollectionEvent, OrderId, Provider, ProviderRef};

use crate::callback::TransferFinished;

#[cfg(feature = "signers")]
mod signing;
#[cfg(feature = "signers")]
pub(crate) use signing::{in_beijing, random_token};
#[cfg(feature = "signers")]
pub use signing::{NoticeSigner, SignedNotice};

/// Largest notice body accepted, from any provider.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// How far a notice's signed time may be from ours, either way.
pub const TOLERANCE_S: i64 = 300;
/// Most keys (or secrets) a verifier holds: the current one, the previous one
/// during a rotation, and room for one more.
pub const MAX_KEYS: usize = 4;
/// Longest header value read.
pub(crate) const MAX_HEADER_LEN: usize = 1024;
/// Longest payer name and phone kept (characters).
pub(crate) const MAX_PAYER_NAME_CHARS: usize = 64;
pub(crate) const MAX_PAYER_PHONE_CHARS: usize = 32;
/// Longest piece of a notice quoted back in an error message.
const MAX_QUOTED_CHARS: usize = 40;

/// Why a notice was refused. Messages name fields, never secrets or payer data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// The signature, or what it needs (timestamp, serial, nonce), is missing
    /// or unreadable.
    #[error("notice is not signed: {0}")]
    Unsigned(String),
    /// The signature was read but does not verify with any configured key.
    #[error("signature does not verify: {0}")]
    BadSignature(String),
    /// The signed time is more than `TOLERANCE_S` from now (positive: in the past).
    #[error("notice time is {skew_s} s from now, more than {TOLERANCE_S} s")]
    Stale { skew_s: i64 },
    #[error("notice body is larger than {max_bytes} bytes")]
    TooLarge { max_bytes: usize },
    #[error("malformed notice: {0}")]
    Malformed(String),
    /// Genuine, but for another merchant or app than the one configured.
    #[error("notice is for another merchant or app")]
    WrongMerchant,
    /// Genuine and well formed, but a kind of notice we do not handle.
    #[error("unsupported notice: {0}")]
    Unsupported(String),
}

impl CallbackError {
    /// The refusal's kind, as metrics and logs name it.
    pub fn kind(&self) -> &'static str {
        match self {
            CallbackError::Unsigned(_) => "UNSIGNED",
            CallbackError::BadSignature(_) => "BAD_SIGNATURE",
            CallbackError::Stale { .. } => "STALE",
            CallbackError::TooLarge { .. } => "TOO_LARGE",
            CallbackError::Malformed(_) => "MALFORMED",
            CallbackError::WrongMerchant => "WRONG_MERCHANT",
            CallbackError::Unsupported(_) => "UNSUPPORTED",
        }
    }

    /// The status a provider is answered with for this refusal.
    pub fn http_status(&self) -> u16 {
        match self {
            CallbackError::Unsigned(_)
            | CallbackError::BadSignature(_)
            | CallbackError::Stale { .. } => 401,
            CallbackError::TooLarge { .. } => 413,
            CallbackError::Malformed(_)
            | CallbackError::WrongMerchant
            | CallbackError::Unsupported(_) => 400,
        }
    }

    pub(crate) fn malformed(message: impl Into<String>) -> CallbackError {
        CallbackError::Malformed(message.into())
    }
}

/// The exact HTTP reply a provider expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

/// What a genuine, correctly signed notice asks of us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A payment, instalment or refund of one of our orders: apply it.
    Collection(CollectionEvent),
    /// A transfer (payout) reached its final state at the provider: settle
    /// the payout, if it was sent through that provider.
    Transfer(TransferFinished),
    /// Genuine, but nothing we can apply: acknowledge, record and alert.
    Unapplied(UnappliedNotice),
}

impl Notice {
    /// The collection event, or the reason this notice is not one (for
    /// callers that only take collection events, and for `verify`).
    pub fn into_collection(self) -> Result<CollectionEvent, CallbackError> {
        match self {
            Notice::Collection(event) => Ok(event),
            Notice::Transfer(transfer) => Err(CallbackError::Unsupported(format!(
                "transfer notice for payout {}",
                transfer.out_bill_no
            ))),
            Notice::Unapplied(unapplied) => Err(unapplied.reason),
        }
    }
}

/// A genuine notice we acknowledge without applying it. Every text here is
/// safe to log: ids are kept only when they are visible ASCII (`ProviderRef`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnappliedNotice {
    pub provider: Provider,
    /// The provider's id of the notice, when it could be read.
    pub notification_id: Option<ProviderRef>,
    /// The kind of notice as the provider names it (`REFUND.ABNORMAL`,
    /// `trade_status_sync/TRADE_FINISHED`, `refund/FAIL`), or `unreadable`.
    pub event: ProviderRef,
    /// Our record it names (order or payout id, as sent), when it could be read.
    pub reference: Option<ProviderRef>,
    /// Why it was not applied.
    pub reason: CallbackError,
}

impl UnappliedNotice {
    /// `event`, `notification_id` and `reference` as the notice gave them;
    /// any that is not a safe id is dropped (`event` becomes `unreadable`).
    pub(crate) fn new(
        provider: Provider,
        notification_id: Option<&str>,
        event: &str,
        reference: Option<&str>,
        reason: CallbackError,
    ) -> UnappliedNotice {
        let safe = |text: Option<&str>| text.and_then(|t| ProviderRef::parse(t).ok());
        UnappliedNotice {
            provider,
            notification_id: safe(notification_id),
            event: safe(Some(event))
                .unwrap_or_else(|| ProviderRef::parse("unreadable").expect("a valid id")),
            reference: safe(reference),
            reason,
        }
    }
}

/// Our side of one provider's notices: the port `payment-callback` calls.
pub trait CallbackVerifier: Send + Sync {
    fn provider(&self) -> Provider;

    /// Verifies `body` (the raw bytes as received) and its headers at `now`,
    /// and reads the collection event it carries; any other notice is an
    /// error (see `verify_notice`).
    fn verify(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<CollectionEvent, CallbackError> {
        self.verify_notice(headers, body, now)?.into_collection()
    }

    /// Verifies the notice and says what it asks of us. `Err` only when it
    /// is not authentic (unsigned, badly signed, stale, undecryptable, too
    /// large or unreadable before its signature could be checked): every
    /// genuine notice is `Ok`, and one we cannot apply is `Unapplied`.
    fn verify_notice(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Notice, CallbackError>;

    /// The reply that tells the provider to stop redelivering.
    fn success(&self) -> Answer;

    /// The reply that tells the provider the notice was refused.
    fn failure(&self, message: &str, status: u16) -> Answer;

    /// The reply for a refused notice.
    fn refusal(&self, error: &CallbackError) -> Answer {
        self.failure(&error.to_string(), error.http_status())
    }
}

// ---- checks shared by the adapters -------------------------------------------------

/// Refuses an empty or oversize body before anything else looks at it.
pub(crate) fn check_body(body: &[u8]) -> Result<(), CallbackError> {
    if body.is_empty() {
        return Err(CallbackError::malformed("body is empty"));
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(CallbackError::TooLarge {
            max_bytes: MAX_BODY_BYTES,
        });
    }
    Ok(())
}

/// Refuses a signed time more than `TOLERANCE_S` away from `now`.
pub(crate) fn check_fresh(signed_at_s: i64, now: DateTime<Utc>) -> Result<(), CallbackError> {
    let skew_s = now.timestamp().saturating_sub(signed_at_s);
    if skew_s.unsigned_abs() > TOLERANCE_S.unsigned_abs() {
        return Err(CallbackError::Stale { skew_s });
    }
    Ok(())
}

/// Unix seconds written as 1-12 digits.
pub(crate) fn parse_unix_s(field: &str, text: &str) -> Result<i64, CallbackError> {
    let digits = !text.is_empty() && text.len() <= 12 && text.bytes().all(|b| b.is_ascii_digit());
    if !digits {
        return Err(CallbackError::Unsigned(format!(
            "{field} must be unix seconds"
        )));
    }
    text.parse()
        .map_err(|_| CallbackError::Unsigned(format!("{field} must be unix seconds")))
}

/// A header's value; missing, repeated, oversize or non-ASCII values are
/// refused as unsigned (every header we read is part of the signature).
pub(crate) fn signature_header<'h>(
    headers: &'h http::HeaderMap,
    name: &str,
) -> Result<&'h str, CallbackError> {
    let mut values = headers.get_all(name).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(CallbackError::Unsigned(format!(
            "exactly one {name} header is required"
        )));
    };
    match value.to_str() {
        Ok(text) if !text.is_empty() && text.len() <= MAX_HEADER_LEN => Ok(text),
        _ => Err(CallbackError::Unsigned(format!(
            "{name} header is empty, too long or not ASCII"
        ))),
    }
}

// ---- conversions into our units, done once, here ------------------------------------

pub(crate) fn order_id(field: &str, text: &str) -> Result<OrderId, CallbackError> {
    OrderId::parse(text).map_err(|e| CallbackError::Malformed(format!("{field}: {e}")))
}

pub(crate) fn provider_ref(field: &str, text: &str) -> Result<ProviderRef, CallbackError> {
    ProviderRef::parse(text).map_err(|e| CallbackError::Malformed(format!("{field}: {e}")))
}

/// An amount the provider gives in integer fen.
pub(crate) fn amount_from_fen(field: &str, fen: i64) -> Result<Amount, CallbackError> {
    Amount::from_fen(fen).map_err(|e| CallbackError::Malformed(format!("{field}: {e}")))
}

/// An amount the provider gives as yuan text ("88.88").
pub(crate) fn amount_from_yuan(field: &str, text: &str) -> Result<Amount, CallbackError> {
    Amount::parse(text).map_err(|e| CallbackError::Malformed(format!("{field}: {e}")))
}

/// A 1-based instalment period.
pub(crate) fn period(field: &str, value: u8) -> Result<u8, CallbackError> {
    if value == 0 {
        return Err(CallbackError::Malformed(format!("{field} starts at 1")));
    }
    Ok(value)
}

/// The provider's reason for a failure, kept to `MAX_REASON_CHARS`; an
/// absent or blank one still says that the provider gave none.
pub(crate) fn reason(text: Option<&str>) -> String {
    match text.map(str::trim) {
        Some(t) if !t.is_empty() => t.chars().take(MAX_REASON_CHARS).collect(),
        _ => NO_REASON.to_owned(),
    }
}

/// The reason recorded when a failure notice carries none.
pub const NO_REASON: &str = "provider gave no reason";

/// An optional payer detail: blank is absent, over `max_chars` is malformed.
pub(crate) fn payer_detail(
    field: &str,
    text: Option<&str>,
    max_chars: usize,
) -> Result<Option<String>, CallbackError> {
    match text.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) if t.chars().count() <= max_chars => Ok(Some(t.to_owned())),
        Some(_) => Err(CallbackError::Malformed(format!(
            "{field} is longer than {max_chars} characters"
        ))),
    }
}

/// A piece of the notice, short enough to quote in an error.
pub(crate) fn quoted(text: &str) -> String {
    let short: String = text.chars().take(MAX_QUOTED_CHARS).collect();
    format!("{short:?}")
}

/// A JSON error without the offending value: serde's messages can quote
/// input (payer data), so only missing/unknown field names and the position
/// are kept.
pub(crate) fn json_error(what: &str, e: &serde_json::Error) -> CallbackError {
    let text = e.to_string();
    let names_a_field = ["missing field", "unknown field", "duplicate field"]
        .iter()
        .any(|p| text.starts_with(p));
    if names_a_field && text.len() <= 200 {
        return CallbackError::Malformed(format!("{what}: {text}"));
    }
    let kind = match e.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "not valid JSON",
        serde_json::error::Category::Data => "a field has the wrong type or value",
        serde_json::error::Category::Eof => "truncated JSON",
    };
    CallbackError::Malformed(format!(
        "{what}: {kind} at line {} column {}",
        e.line(),
        e.column()
    ))
}

/// A configuration problem found when a verifier or signer is built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{field} must hold 1-{MAX_KEYS} keys, current first")]
    KeyCount { field: &'static str },
    #[error("{0} has the wrong length or charset")]
    Invalid(&'static str),
    #[error(transparent)]
    Key(#[from] crate::keys::KeyError),
}

/// 1..=MAX_KEYS keys, current first.
pub(crate) fn check_key_count<T>(field: &'static str, keys: &[T]) -> Result<(), ConfigError> {
    if keys.is_empty() || keys.len() > MAX_KEYS {
        return Err(ConfigError::KeyCount { field });
    }
    Ok(())
}

/// A configured id (merchant id, app id): 1-64 visible ASCII characters.
pub(crate) fn check_config_id(field: &'static str, id: &str) -> Result<(), ConfigError> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ConfigError::Invalid(field));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(s, 0).unwrap()
    }

    #[test]
    fn freshness_allows_300_seconds_either_way_and_never_overflows() {
        let now = at(1_780_000_000);
        assert_eq!(check_fresh(1_780_000_300, now), Ok(()));
        assert_eq!(check_fresh(1_779_999_700, now), Ok(()));
        assert_eq!(
            check_fresh(1_779_999_699, now),
            Err(CallbackError::Stale { skew_s: 301 })
        );
        assert_eq!(
            check_fresh(1_780_000_301, now),
            Err(CallbackError::Stale { skew_s: -301 })
        );
        assert!(check_fresh(i64::MIN, now).is_err());
        assert!(check_fresh(i64::MAX, now).is_err());
    }

    #[test]
    fn statuses_follow_the_kind_of_refusal() {
        assert_eq!(CallbackError::Unsigned("x".into()).http_status(), 401);
        assert_eq!(CallbackError::BadSignature("x".into()).http_status(), 401);
        assert_eq!(CallbackError::Stale { skew_s: 400 }.http_status(), 401);
        assert_eq!(CallbackError::TooLarge { max_bytes: 1 }.http_status(), 413);
        assert_eq!(CallbackError::Malformed("x".into()).http_status(), 400);
        assert_eq!(CallbackError::WrongMerchant.http_status(), 400);
        assert_eq!(CallbackError::Unsupported("x".into()).http_status(), 400);
    }

    #[test]
    fn reasons_are_bounded_and_never_blank() {
        assert_eq!(reason(None), NO_REASON);
        assert_eq!(reason(Some("  ")), NO_REASON);
        assert_eq!(reason(Some("余额不足")), "余额不足");
        assert_eq!(
            reason(Some(&"款".repeat(500))).chars().count(),
            MAX_REASON_CHARS
        );
    }

    #[test]
    fn json_errors_do_not_quote_values() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct T {
            n: u8,
        }
        let e = serde_json::from_str::<T>(r#"{"n":"13812341234"}"#).unwrap_err();
        let text = json_error("resource", &e).to_string();
        assert!(!text.contains("1381234"), "{text}");
        let e = serde_json::from_str::<T>("{}").unwrap_err();
        assert!(json_error("resource", &e)
            .to_string()
            .contains("missing field `n`"));
    }
}
