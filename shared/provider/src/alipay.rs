//! Alipay style notices (SPEC §5): an `application/x-www-form-urlencoded`
//! body whose `sign` is RSA2 (SHA256withRSA, PKCS#1 v1.5, base64) over all
//! other parameters except `sign_type`, empty values included, sorted by key
//! and joined `k=v&k=v` with the decoded values, in the notify's `charset`
//! (`notify_form`). The signature lives inside the body, so the form is
//! split and decoded (no duplicate keys) before it is verified; nothing is
//! interpreted before.
//!
//! Once the signature and `notify_time` hold, the notice is genuine and is
//! never refused: `trade_status` `WAIT_BUYER_PAY`, `TRADE_FINISHED` and
//! `TRADE_CLOSED` without a refund (https://opendocs.alipay.com/open/194/103296,
//! 交易状态说明), another app's notice, or anything else we cannot apply is
//! `Notice::Unapplied`: acknowledged with `success`, recorded and alerted.
//!
//! `notify_time` (`yyyy-MM-dd HH:mm:ss`, Beijing) must be within
//! `TOLERANCE_S` of now, and `app_id` must be ours. Events read:
//! - `notify_type=trade_status_sync`, `trade_status=TRADE_SUCCESS`, no
//!   `out_biz_no`: a payment (`out_trade_no`, `trade_no`, `total_amount` yuan,
//!   `gmt_payment`, and our optional `buyer_name` / `buyer_phone`).
//! - the same with `out_biz_no` (the refund id; `trade_status` TRADE_SUCCESS,
//!   or TRADE_CLOSED after a full refund): a refund of `send_back_fee` yuan at
//!   `gmt_refund`; `refund_fee` is the cumulative refund, at least `send_back_fee`.
//! - our extension `notify_type=instalment_deduct_sync`: `out_trade_no`,
//!   `trade_no` (required when deducted), `period_no`, `deduct_amount` (yuan),
//!   `deduct_status` SUCCESS|FAIL, `fail_reason` (FAIL), `gmt_deduct`.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use qrpay_domain::{
    CollectionEvent, CollectionEventKind, Money, Payer, PayerAccount, PayerAccountKind, Provider,
    RefundId,
};
use rsa::pkcs1v15::VerifyingKey;
use rsa::RsaPublicKey;
use sha2::Sha256;

use crate::keys::{public_key_from_text, KeyError};
use crate::notice::{
    amount_from_yuan, check_body, check_config_id, check_fresh, check_key_count, order_id,
    payer_detail, period, provider_ref, quoted, reason, Answer, CallbackError, CallbackVerifier,
    ConfigError, Notice, UnappliedNotice, MAX_PAYER_NAME_CHARS, MAX_PAYER_PHONE_CHARS,
};

mod answer;
mod cert;
pub mod gateway;
mod notify_form;
mod request;
mod rsa2;
#[cfg(feature = "signers")]
mod signer;

pub use answer::{AnswerError, AnswerVerifier, MAX_ANSWER_BYTES};
pub(crate) use cert::cert_public_key;
pub use cert::{cert_sn, root_cert_sn, CertError};
pub use request::{RequestSigner, SignedRequest, TIMESTAMP_FORMAT};
#[cfg(feature = "signers")]
pub use signer::AlipaySigner;

pub const TRADE_STATUS_SYNC: &str = "trade_status_sync";
pub const INSTALMENT_DEDUCT_SYNC: &str = "instalment_deduct_sync";
pub const SIGN_TYPE_RSA2: &str = "RSA2";

const TRADE_SUCCESS: &str = "TRADE_SUCCESS";
const TRADE_CLOSED: &str = "TRADE_CLOSED";
const DEDUCT_SUCCESS: &str = "SUCCESS";
const DEDUCT_FAIL: &str = "FAIL";
const MAX_PARAMS: usize = 64;
const MAX_TIME_TEXT: usize = 32;

use notify_form::Form;
use rsa2::Params;

// ---- our side ----------------------------------------------------------------------

/// Verifies Alipay notices for one app (`app_id`).
#[derive(Clone)]
pub struct AlipayVerifier {
    app_id: String,
    /// Alipay's public keys, current first.
    keys: Vec<VerifyingKey<Sha256>>,
}

impl fmt::Debug for AlipayVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlipayVerifier")
            .field("app_id", &self.app_id)
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl AlipayVerifier {
    /// `alipay_public_keys`: Alipay's keys (not the app's), current first.
    pub fn new(
        app_id: &str,
        alipay_public_keys: Vec<RsaPublicKey>,
    ) -> Result<AlipayVerifier, ConfigError> {
        check_config_id("app_id", app_id)?;
        check_key_count("alipay_public_keys", &alipay_public_keys)?;
        Ok(AlipayVerifier {
            app_id: app_id.to_owned(),
            keys: alipay_public_keys
                .into_iter()
                .map(VerifyingKey::new)
                .collect(),
        })
    }

    /// As `new`, with each key as PEM or the bare base64 Alipay's console shows.
    pub fn from_pem(
        app_id: &str,
        alipay_public_keys: &[&str],
    ) -> Result<AlipayVerifier, ConfigError> {
        let keys = alipay_public_keys
            .iter()
            .map(|pem| public_key_from_text(pem))
            .collect::<Result<Vec<_>, KeyError>>()?;
        AlipayVerifier::new(app_id, keys)
    }

    fn check_signature(&self, form: &Form) -> Result<(), CallbackError> {
        let params = &form.params;
        let sign = optional(params, "sign")
            .ok_or_else(|| CallbackError::Unsigned("sign is missing".into()))?;
        match optional(params, "sign_type") {
            None => return Err(CallbackError::Unsigned("sign_type is missing".into())),
            Some(SIGN_TYPE_RSA2) => {}
            Some(other) => {
                return Err(CallbackError::BadSignature(format!(
                    "sign_type must be RSA2, not {}",
                    quoted(other)
                )))
            }
        }
        let signature = rsa2::decode(sign)
            .ok_or_else(|| CallbackError::Unsigned("sign is not base64".into()))?;
        if form.verifies(&self.keys, &signature) {
            Ok(())
        } else {
            Err(CallbackError::BadSignature(
                "does not match any Alipay public key".into(),
            ))
        }
    }
}

impl AlipayVerifier {
    /// The one table of what a genuine notify asks of us.
    fn read_notice(&self, params: &Params) -> Result<Notice, CallbackError> {
        if required(params, "app_id")? != self.app_id {
            return Err(CallbackError::WrongMerchant);
        }
        let notification_id = provider_ref("notify_id", required(params, "notify_id")?)?;
        let (kind, occurred_at) = match required(params, "notify_type")? {
            TRADE_STATUS_SYNC => trade_status(params)?,
            INSTALMENT_DEDUCT_SYNC => instalment(params)?,
            other => {
                return Err(CallbackError::Unsupported(format!(
                    "notify_type {}",
                    quoted(other)
                )))
            }
        };
        Ok(Notice::Collection(CollectionEvent {
            provider: Provider::Alipay,
            notification_id,
            order_id: order_id("out_trade_no", required(params, "out_trade_no")?)?,
            kind,
            occurred_at,
        }))
    }
}

/// A genuine notify we acknowledge without applying.
fn unapplied(params: &Params, reason: CallbackError) -> Notice {
    let notify_type = optional(params, "notify_type").unwrap_or("unreadable");
    let event = match optional(params, "trade_status") {
        Some(status) => format!("{notify_type}/{status}"),
        None => notify_type.to_owned(),
    };
    Notice::Unapplied(UnappliedNotice::new(
        Provider::Alipay,
        optional(params, "notify_id"),
        &event,
        optional(params, "out_trade_no"),
        reason,
    ))
}

impl CallbackVerifier for AlipayVerifier {
    fn provider(&self) -> Provider {
        Provider::Alipay
    }

    /// Refused only when the form cannot be read, the signature does not
    /// hold or `notify_time` is missing or stale.
    fn verify_notice(
        &self,
        _headers: &http::HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Notice, CallbackError> {
        check_body(body)?;
        let form = Form::parse(body)?;
        self.check_signature(&form)?;
        let params = &form.params;
        let notify_time = beijing_time("notify_time", required(params, "notify_time")?)?;
        check_fresh(notify_time.timestamp(), now)?;
        Ok(self
            .read_notice(params)
            .unwrap_or_else(|e| unapplied(params, e)))
    }

    fn success(&self) -> Answer {
        Answer {
            status: 200,
            content_type: "text/plain",
            body: "success".into(),
        }
    }

    /// Alipay reads anything but `success` as a failure and redelivers.
    fn failure(&self, _message: &str, status: u16) -> Answer {
        Answer {
            status,
            content_type: "text/plain",
            body: "fail".into(),
        }
    }
}

/// `trade_status_sync`: a payment (`TRADE_SUCCESS`) or a refund (with
/// `out_biz_no`); `WAIT_BUYER_PAY`, `TRADE_FINISHED` and `TRADE_CLOSED`
/// without a refund carry nothing to apply.
fn trade_status(params: &Params) -> Result<(CollectionEventKind, DateTime<Utc>), CallbackError> {
    let status = required(params, "trade_status")?;
    match (status, optional(params, "out_biz_no")) {
        (TRADE_SUCCESS, None) => payment(params),
        (TRADE_SUCCESS | TRADE_CLOSED, Some(refund_id)) => refund(params, refund_id),
        (other, _) => Err(CallbackError::Unsupported(format!(
            "trade_status {}",
            quoted(other)
        ))),
    }
}

fn payment(params: &Params) -> Result<(CollectionEventKind, DateTime<Utc>), CallbackError> {
    let payer = Payer {
        name: payer_detail(
            "buyer_name",
            optional(params, "buyer_name"),
            MAX_PAYER_NAME_CHARS,
        )?,
        phone: payer_detail(
            "buyer_phone",
            optional(params, "buyer_phone"),
            MAX_PAYER_PHONE_CHARS,
        )?,
        account: buyer_account(params),
    };
    let kind = CollectionEventKind::PaymentSucceeded {
        provider_txn_id: provider_ref("trade_no", required(params, "trade_no")?)?,
        amount: amount_from_yuan("total_amount", required(params, "total_amount")?)?,
        payer: (payer != Payer::default()).then_some(payer),
    };
    Ok((
        kind,
        beijing_time("gmt_payment", required(params, "gmt_payment")?)?,
    ))
}

/// The paying account: `buyer_id` (`2088…`), or `buyer_open_id` for apps
/// switched to OpenID (https://opendocs.alipay.com/open/203/105286). What a
/// payout's `payee_info` names; restricted data.
fn buyer_account(params: &Params) -> Option<PayerAccount> {
    let user_id = optional(params, "buyer_id")
        .and_then(|id| PayerAccount::new(PayerAccountKind::AlipayUserId, id).ok());
    user_id.or_else(|| {
        optional(params, "buyer_open_id")
            .and_then(|id| PayerAccount::new(PayerAccountKind::AlipayOpenId, id).ok())
    })
}

fn refund(
    params: &Params,
    refund_id: &str,
) -> Result<(CollectionEventKind, DateTime<Utc>), CallbackError> {
    let amount = amount_from_yuan("send_back_fee", required(params, "send_back_fee")?)?;
    let money = |field: &str| -> Result<Option<Money>, CallbackError> {
        optional(params, field)
            .map(|text| {
                Money::parse(text).map_err(|e| CallbackError::Malformed(format!("{field}: {e}")))
            })
            .transpose()
    };
    let refunded = money("refund_fee")?
        .ok_or_else(|| CallbackError::malformed("missing parameter `refund_fee`"))?;
    if refunded < amount.money() {
        return Err(CallbackError::malformed(
            "refund_fee (cumulative) is below send_back_fee",
        ));
    }
    if money("total_amount")?.is_some_and(|total| total < refunded) {
        return Err(CallbackError::malformed("refund_fee is above total_amount"));
    }
    // `out_biz_no` is the refund's `out_request_no`: ours when we refunded
    // (Alipay has no refund id of its own).
    let kind = CollectionEventKind::RefundSucceeded {
        refund_id: provider_ref("out_biz_no", refund_id)?,
        amount,
        our_refund: RefundId::parse(refund_id).ok(),
    };
    Ok((
        kind,
        beijing_time("gmt_refund", required(params, "gmt_refund")?)?,
    ))
}

fn instalment(params: &Params) -> Result<(CollectionEventKind, DateTime<Utc>), CallbackError> {
    let period_no = required(params, "period_no")?;
    let period_no = period_no
        .parse::<u8>()
        .ok()
        .filter(|_| period_no.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| CallbackError::malformed("period_no must be a number 1-255"))?;
    let period = period("period_no", period_no)?;
    let amount = amount_from_yuan("deduct_amount", required(params, "deduct_amount")?)?;
    let kind = match required(params, "deduct_status")? {
        DEDUCT_SUCCESS => CollectionEventKind::InstalmentDeducted {
            provider_txn_id: provider_ref("trade_no", required(params, "trade_no")?)?,
            period,
            amount,
        },
        DEDUCT_FAIL => CollectionEventKind::InstalmentDeductionFailed {
            period,
            amount,
            reason: reason(optional(params, "fail_reason")),
        },
        other => {
            return Err(CallbackError::Malformed(format!(
                "deduct_status must be SUCCESS or FAIL, not {}",
                quoted(other)
            )))
        }
    };
    Ok((
        kind,
        beijing_time("gmt_deduct", required(params, "gmt_deduct")?)?,
    ))
}

/// A present, non-empty parameter.
fn optional<'p>(params: &'p Params, key: &str) -> Option<&'p str> {
    params
        .get(key)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

fn required<'p>(params: &'p Params, key: &str) -> Result<&'p str, CallbackError> {
    optional(params, key)
        .ok_or_else(|| CallbackError::Malformed(format!("missing parameter `{key}`")))
}

/// A Beijing wall-clock time, `yyyy-MM-dd HH:mm:ss` with optional fraction.
fn beijing_time(field: &str, text: &str) -> Result<DateTime<Utc>, CallbackError> {
    let bad = || CallbackError::Malformed(format!("{field} must be yyyy-MM-dd HH:mm:ss"));
    if text.len() > MAX_TIME_TEXT {
        return Err(bad());
    }
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").map_err(|_| bad())?;
    Shanghai
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_beijing_with_an_optional_fraction() {
        let t = beijing_time("t", "2026-03-01 10:00:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-03-01T02:00:00+00:00");
        let t = beijing_time("t", "2026-03-01 10:00:00.543").unwrap();
        assert_eq!(t.timestamp(), 1_772_330_400);
        assert!(beijing_time("t", "2026-03-01T10:00:00").is_err());
        assert!(beijing_time("t", "2026-02-30 10:00:00").is_err());
    }
}
