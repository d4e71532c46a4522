//! Douyin Pay style notices (SPEC §5). JSON body
//! `{"timestamp":"<unix s>","nonce","msg":"<JSON string>","msg_signature","type"}`
//! where `msg_signature` is the lowercase hex SHA1 of the concatenation of
//! token, timestamp, nonce and msg sorted as strings. The signature covers
//! the `msg` string, so the envelope is read, verified, and only then is
//! `msg` parsed. `type` is `payment`, `refund`, or our extension `instalment`;
//! it lies outside the signature, so it decides nothing: the kind of notice
//! is what the signed msg is (by the fields only that kind has:
//! `total_amount`; `refund_amount`, `refund_no`, `cp_refundno`; `period`,
//! `deducted_at`), and a `type` that says otherwise is refused (400), as is
//! anyone's replay of a genuine notice under another `type`:
//!
//! - payment, as the documentation's sample shows it
//!   (https://developer.open-douyin.com/docs/resource/zh-CN/mini-app/develop/server/ecpay/pay-list/callback):
//!   `{"appid","cp_orderno","cp_extra","way","channel_no","payment_order_no",
//!   "total_amount"(fen),"status":"SUCCESS","seller_uid","extra","item_id"}`;
//!   newer messages add `"paid_at"(unix s)` and `"order_id"`. Neither is
//!   required: Douyin's id of the payment is `order_id`, else
//!   `payment_order_no`, else `channel_no`; without `paid_at` the payment is
//!   dated by the envelope's signed `timestamp`. `way` and `seller_uid` may be
//!   strings or numbers.
//! - refund, as documented (ecpay 退款回调, same page family):
//!   `{"appid","cp_refundno","cp_extra","status":"SUCCESS"|"FAIL",
//!   "refund_amount"(fen),"is_all_settled","refunded_at"(unix s),"message",
//!   "order_id","refund_no"}`. It names our refund (`cp_refundno`) but not
//!   our order: the order is `cp_orderno` when present (our simulator and
//!   older messages), else `cp_extra` when that is one of our order ids
//!   (`ord_…`: what our refund request must pass as `cp_extra`). Without either, or
//!   when the refund failed, the notice is acknowledged and alerted
//!   (`Notice::Unapplied`), as is any genuine notice we cannot apply.
//! - instalment `{"appid","cp_orderno","order_id","period","amount"(fen),
//!   "status":"SUCCESS"|"FAIL","reason"?,"deducted_at"(unix s)}`; `order_id`
//!   (Douyin's) is required when deducted and may be absent when it failed.
//!
//! Douyin gives no notification id, so a stable one is derived from what
//! identifies the notice: `payment:{order_id}`, `refund:{refund_no}`,
//! `instalment:{order_id or cp_orderno}:{period}:{status}`. One longer than
//! 64 characters becomes `{type}:sha256:{first 40 hex of its SHA-256}`.

use std::fmt;

use chrono::{DateTime, Utc};
use qrpay_domain::{
    CollectionEvent, CollectionEventKind, OrderId, Provider, ProviderRef, RefundId, Secret,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::notice::{
    amount_from_fen, check_body, check_config_id, check_fresh, check_key_count, json_error,
    order_id, parse_unix_s, period, provider_ref, quoted, reason, Answer, CallbackError,
    CallbackVerifier, ConfigError, Notice, UnappliedNotice,
};

pub mod gateway;
#[cfg(feature = "signers")]
mod signer;
#[cfg(feature = "signers")]
pub use signer::DouyinSigner;

pub const TYPE_PAYMENT: &str = "payment";
pub const TYPE_REFUND: &str = "refund";
pub const TYPE_INSTALMENT: &str = "instalment";

const SUCCESS: &str = "SUCCESS";
const FAIL: &str = "FAIL";
const MAX_NONCE_LEN: usize = 64;
/// What every order id we generate starts with (`OrderId::generate`).
const OUR_ORDER_PREFIX: &str = "ord_";
const MAX_TOKEN_LEN: usize = 128;
const SHA1_HEX_LEN: usize = 40;
/// Hex digits of SHA-256 kept in a derived notification id that was too long.
const DERIVED_HASH_HEX: usize = 40;

// ---- wire format -------------------------------------------------------------------

#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    #[serde(default)]
    timestamp: String,
    #[serde(default)]
    nonce: String,
    msg: String,
    #[serde(default)]
    msg_signature: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct PaymentMsg {
    appid: String,
    cp_orderno: String,
    #[serde(default)]
    cp_extra: String,
    /// 1 WeChat, 2 Alipay, 10 Douyin; a string in the sample, a number in
    /// some messages: kept as sent, not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    way: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    channel_no: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    payment_order_no: Option<String>,
    total_amount: i64,
    status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seller_uid: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    paid_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    order_id: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct RefundMsg {
    appid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cp_orderno: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cp_refundno: Option<String>,
    #[serde(default)]
    cp_extra: String,
    refund_amount: i64,
    status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refunded_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    order_id: Option<String>,
    refund_no: String,
}

/// What any msg names, for a notice we cannot apply.
#[derive(Debug, Default, Deserialize)]
struct Names {
    #[serde(default)]
    cp_orderno: Option<String>,
    #[serde(default)]
    cp_refundno: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct InstalmentMsg {
    appid: String,
    cp_orderno: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    order_id: Option<String>,
    period: u8,
    amount: i64,
    status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    deducted_at: i64,
}

// ---- our side ----------------------------------------------------------------------

/// Verifies Douyin Pay notices for one app (`appid`).
#[derive(Clone)]
pub struct DouyinVerifier {
    app_id: String,
    /// Notice tokens, current first.
    tokens: Vec<Secret>,
}

impl fmt::Debug for DouyinVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DouyinVerifier")
            .field("app_id", &self.app_id)
            .field("tokens", &self.tokens)
            .finish()
    }
}

impl DouyinVerifier {
    /// `tokens`: the notice tokens, current first.
    pub fn new(app_id: &str, tokens: Vec<Secret>) -> Result<DouyinVerifier, ConfigError> {
        check_config_id("app_id", app_id)?;
        check_key_count("tokens", &tokens)?;
        if tokens.iter().any(|t| !valid_token(t)) {
            return Err(ConfigError::Invalid("tokens (1-128 bytes each)"));
        }
        Ok(DouyinVerifier {
            app_id: app_id.to_owned(),
            tokens,
        })
    }

    /// The envelope's signed time, once its signature holds.
    fn check_signature(
        &self,
        envelope: &Envelope,
        now: DateTime<Utc>,
    ) -> Result<i64, CallbackError> {
        if envelope.msg_signature.is_empty() {
            return Err(CallbackError::Unsigned("msg_signature is missing".into()));
        }
        let signed_at_s = parse_unix_s("timestamp", &envelope.timestamp)?;
        if envelope.nonce.is_empty() || envelope.nonce.len() > MAX_NONCE_LEN {
            return Err(CallbackError::Unsigned(
                "nonce is missing or too long".into(),
            ));
        }
        let given = Some(&envelope.msg_signature)
            .filter(|s| s.len() == SHA1_HEX_LEN)
            .and_then(|s| hex::decode(s).ok())
            .ok_or_else(|| CallbackError::Unsigned("msg_signature is not 40 hex digits".into()))?;
        let matches = self.tokens.iter().fold(false, |found, token| {
            let expected = digest(
                token.expose(),
                &envelope.timestamp,
                &envelope.nonce,
                &envelope.msg,
            );
            found | bool::from(expected.as_slice().ct_eq(&given))
        });
        if !matches {
            return Err(CallbackError::BadSignature(
                "does not match any token".into(),
            ));
        }
        check_fresh(signed_at_s, now)?;
        Ok(signed_at_s)
    }

    fn our_app(&self, appid: &str) -> Result<(), CallbackError> {
        if appid != self.app_id {
            return Err(CallbackError::WrongMerchant);
        }
        Ok(())
    }

    /// `signed_at`: the envelope's signed time, the payment's time when
    /// the msg has no `paid_at`.
    fn payment(&self, msg: &str, signed_at: i64) -> Result<CollectionEvent, CallbackError> {
        let m: PaymentMsg = read_msg(msg)?;
        self.our_app(&m.appid)?;
        if m.status != SUCCESS {
            return Err(CallbackError::Unsupported(format!(
                "payment status {}",
                quoted(&m.status)
            )));
        }
        let douyin_id = [&m.order_id, &m.payment_order_no, &m.channel_no]
            .into_iter()
            .find_map(|id| id.as_deref().filter(|id| !id.is_empty()))
            .ok_or_else(|| {
                CallbackError::malformed("msg names no order_id, payment_order_no or channel_no")
            })?;
        let provider_txn_id = provider_ref("order_id", douyin_id)?;
        Ok(CollectionEvent {
            provider: Provider::Douyin,
            notification_id: derived_id(TYPE_PAYMENT, &[douyin_id]),
            order_id: order_id("cp_orderno", &m.cp_orderno)?,
            kind: CollectionEventKind::PaymentSucceeded {
                provider_txn_id,
                amount: amount_from_fen("total_amount", m.total_amount)?,
                payer: None,
            },
            occurred_at: unix_time("paid_at", m.paid_at.unwrap_or(signed_at))?,
        })
    }

    fn refund(&self, msg: &str, signed_at: i64) -> Result<CollectionEvent, CallbackError> {
        let m: RefundMsg = read_msg(msg)?;
        self.our_app(&m.appid)?;
        if m.status != SUCCESS {
            return Err(CallbackError::Unsupported(format!(
                "refund status {}: the refund did not reach the buyer",
                quoted(&m.status)
            )));
        }
        let order = match m.cp_orderno.as_deref().filter(|o| !o.is_empty()) {
            Some(cp_orderno) => order_id("cp_orderno", cp_orderno)?,
            None => our_order_id(&m.cp_extra).ok_or_else(|| {
                CallbackError::Unsupported(
                    "refund names no order of ours (no cp_orderno, cp_extra is not an order id)"
                        .into(),
                )
            })?,
        };
        let refund_id = provider_ref("refund_no", &m.refund_no)?;
        Ok(CollectionEvent {
            provider: Provider::Douyin,
            notification_id: derived_id(TYPE_REFUND, &[&m.refund_no]),
            order_id: order,
            kind: CollectionEventKind::RefundSucceeded {
                refund_id,
                amount: amount_from_fen("refund_amount", m.refund_amount)?,
                // Our out_refund_no, as Douyin echoes it (UNCONFIRMED field
                // name, BUYER_PAGES §11.4).
                our_refund: m
                    .cp_refundno
                    .as_deref()
                    .and_then(|no| RefundId::parse(no).ok()),
            },
            occurred_at: unix_time("refunded_at", m.refunded_at.unwrap_or(signed_at))?,
        })
    }

    fn instalment(&self, msg: &str) -> Result<CollectionEvent, CallbackError> {
        let m: InstalmentMsg = read_msg(msg)?;
        self.our_app(&m.appid)?;
        let period = period("period", m.period)?;
        let amount = amount_from_fen("amount", m.amount)?;
        let kind = match m.status.as_str() {
            SUCCESS => {
                let txn = m
                    .order_id
                    .as_deref()
                    .ok_or_else(|| CallbackError::malformed("msg: missing field `order_id`"))?;
                CollectionEventKind::InstalmentDeducted {
                    provider_txn_id: provider_ref("order_id", txn)?,
                    period,
                    amount,
                }
            }
            FAIL => CollectionEventKind::InstalmentDeductionFailed {
                period,
                amount,
                reason: reason(m.reason.as_deref()),
            },
            other => {
                return Err(CallbackError::Malformed(format!(
                    "instalment status must be SUCCESS or FAIL, not {}",
                    quoted(other)
                )))
            }
        };
        let order_id_text = m.order_id.as_deref().unwrap_or(&m.cp_orderno);
        Ok(CollectionEvent {
            provider: Provider::Douyin,
            notification_id: derived_id(
                TYPE_INSTALMENT,
                &[order_id_text, &period.to_string(), &m.status],
            ),
            order_id: order_id("cp_orderno", &m.cp_orderno)?,
            kind,
            occurred_at: unix_time("deducted_at", m.deducted_at)?,
        })
    }
}

/// The kinds of notice we read, told apart by the signed msg alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MsgKind {
    Payment,
    Refund,
    Instalment,
}

impl MsgKind {
    const ALL: [MsgKind; 3] = [MsgKind::Payment, MsgKind::Refund, MsgKind::Instalment];

    fn name(self) -> &'static str {
        match self {
            MsgKind::Payment => TYPE_PAYMENT,
            MsgKind::Refund => TYPE_REFUND,
            MsgKind::Instalment => TYPE_INSTALMENT,
        }
    }

    /// Fields only this kind's msg has.
    fn marks(self) -> &'static [&'static str] {
        match self {
            MsgKind::Payment => &["total_amount"],
            MsgKind::Refund => &["refund_amount", "refund_no", "cp_refundno"],
            MsgKind::Instalment => &["period", "deducted_at"],
        }
    }

    /// What a signed msg is: exactly one kind's marks, or it is none of ours.
    fn of(msg: &str) -> Result<MsgKind, CallbackError> {
        let fields: serde_json::Map<String, serde_json::Value> = read_msg(msg)?;
        let mut kinds = MsgKind::ALL
            .into_iter()
            .filter(|kind| kind.marks().iter().any(|m| fields.contains_key(*m)));
        match (kinds.next(), kinds.next()) {
            (Some(kind), None) => Ok(kind),
            (Some(one), Some(other)) => Err(CallbackError::Malformed(format!(
                "msg is at once a {} and a {}",
                one.name(),
                other.name()
            ))),
            (None, _) => Err(CallbackError::Unsupported(
                "msg is no payment, refund or instalment".into(),
            )),
        }
    }
}

impl DouyinVerifier {
    /// The one table of kinds: what each genuine notice asks of us.
    fn read_notice(
        &self,
        kind: MsgKind,
        msg: &str,
        signed_at: i64,
    ) -> Result<Notice, CallbackError> {
        let event = match kind {
            MsgKind::Payment => self.payment(msg, signed_at)?,
            MsgKind::Refund => self.refund(msg, signed_at)?,
            MsgKind::Instalment => self.instalment(msg)?,
        };
        Ok(Notice::Collection(event))
    }
}

/// A genuine notice we acknowledge without applying. `kind`: the signed
/// msg's; the unsigned `type` only names one that is none of ours.
fn unapplied(envelope: &Envelope, kind: Option<MsgKind>, reason: CallbackError) -> Notice {
    let names: Names = serde_json::from_str(&envelope.msg).unwrap_or_default();
    let kind = match kind {
        Some(kind) => kind.name(),
        None => envelope.kind.as_str(),
    };
    let event = match &names.status {
        Some(status) => format!("{kind}/{status}"),
        None => kind.to_owned(),
    };
    let reference = names.cp_orderno.or(names.cp_refundno);
    Notice::Unapplied(UnappliedNotice::new(
        Provider::Douyin,
        None,
        &event,
        reference.as_deref(),
        reason,
    ))
}

impl CallbackVerifier for DouyinVerifier {
    fn provider(&self) -> Provider {
        Provider::Douyin
    }

    /// Refused only when the envelope is unreadable, its signature or time
    /// does not hold, or its unsigned `type` is not what the signed msg is.
    fn verify_notice(
        &self,
        _headers: &http::HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Notice, CallbackError> {
        check_body(body)?;
        let envelope: Envelope =
            serde_json::from_slice(body).map_err(|e| json_error("notice", &e))?;
        let signed_at = self.check_signature(&envelope, now)?;
        let kind = match MsgKind::of(&envelope.msg) {
            Ok(kind) => kind,
            Err(e) => return Ok(unapplied(&envelope, None, e)),
        };
        if envelope.kind != kind.name() {
            return Err(CallbackError::Malformed(format!(
                "type {} is not what the signed msg is ({})",
                quoted(&envelope.kind),
                kind.name()
            )));
        }
        Ok(self
            .read_notice(kind, &envelope.msg, signed_at)
            .unwrap_or_else(|e| unapplied(&envelope, Some(kind), e)))
    }

    fn success(&self) -> Answer {
        Answer {
            status: 200,
            content_type: "application/json",
            body: r#"{"err_no":0,"err_tips":"success"}"#.into(),
        }
    }

    fn failure(&self, message: &str, status: u16) -> Answer {
        Answer {
            status,
            content_type: "application/json",
            body: serde_json::json!({"err_no": status, "err_tips": message}).to_string(),
        }
    }
}

/// `text` when it is one of our generated order ids (`ord_…`).
fn our_order_id(text: &str) -> Option<OrderId> {
    text.strip_prefix(OUR_ORDER_PREFIX)
        .filter(|ulid| !ulid.is_empty())
        .and_then(|_| OrderId::parse(text).ok())
}

fn valid_token(token: &Secret) -> bool {
    let len = token.expose().len();
    len > 0 && len <= MAX_TOKEN_LEN
}

/// SHA1 over token, timestamp, nonce and msg, sorted as strings, concatenated.
fn digest(token: &str, timestamp: &str, nonce: &str, msg: &str) -> [u8; 20] {
    let mut parts = [token, timestamp, nonce, msg];
    parts.sort_unstable();
    let mut sha = Sha1::new();
    for part in parts {
        sha.update(part.as_bytes());
    }
    sha.finalize().into()
}

fn read_msg<T: DeserializeOwned>(msg: &str) -> Result<T, CallbackError> {
    serde_json::from_str(msg).map_err(|e| json_error("msg", &e))
}

fn unix_time(field: &str, seconds: i64) -> Result<DateTime<Utc>, CallbackError> {
    Some(seconds)
        .filter(|s| *s > 0)
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .ok_or_else(|| CallbackError::Malformed(format!("{field} must be unix seconds")))
}

/// `{kind}:{parts joined by ':'}`, or a hash of it when that is too long or
/// not a valid provider id; the same notice always gives the same id.
fn derived_id(kind: &str, parts: &[&str]) -> ProviderRef {
    let full = format!("{kind}:{}", parts.join(":"));
    ProviderRef::parse(&full).unwrap_or_else(|_| {
        let hash = hex::encode(Sha256::digest(full.as_bytes()));
        ProviderRef::parse(&format!("{kind}:sha256:{}", &hash[..DERIVED_HASH_HEX]))
            .expect("a kind and hex digits make a valid provider id")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_sorts_its_parts_as_strings() {
        let mut sha = Sha1::new();
        sha.update(b"1700000000abcnoncetok{\"a\":1}");
        let want: [u8; 20] = sha.finalize().into();
        assert_eq!(digest("tok", "1700000000", "abcnonce", "{\"a\":1}"), want);
    }

    #[test]
    fn derived_ids_are_stable_and_bounded() {
        assert_eq!(derived_id("payment", &["N123"]).as_str(), "payment:N123");
        let long = "x".repeat(64);
        let id = derived_id("instalment", &[&long, "3", "FAIL"]);
        assert!(id.as_str().starts_with("instalment:sha256:"));
        assert_eq!(id, derived_id("instalment", &[&long, "3", "FAIL"]));
        assert!(id.as_str().len() <= 64);
    }
}
