//! WeChat Pay API v3 style notices (SPEC §5).
//!
//! Headers `Wechatpay-Timestamp`, `-Nonce`, `-Signature` (base64) and
//! `-Serial`; the signature is SHA256-with-RSA (PKCS#1 v1.5) by the platform
//! key named by the serial over `"{timestamp}\n{nonce}\n{body}\n"`. A
//! signature starting `WECHATPAY/SIGNTEST/` is WeChat's probe and always fails.
//!
//! Body: `{"id","create_time","resource_type":"encrypt-resource","event_type",
//! "summary","resource":{"algorithm":"AEAD_AES_256_GCM","ciphertext","associated_data",
//! "original_type","nonce"}}`; the resource is AES-256-GCM with the API v3 key.
//!
//! Events read: `TRANSACTION.SUCCESS`, `REFUND.SUCCESS`, and our documented
//! monthly-pay extension `INSTALMENT.DEDUCTED` / `INSTALMENT.DEDUCT_FAILED`
//! with resource `{"mchid","out_trade_no","transaction_id","period",
//! "amount":{"total"},"deduct_time","fail_reason"?}` (`transaction_id` is
//! required when deducted, absent or ignored when the deduction failed).
//! Amounts are integer fen; times RFC 3339.

use std::fmt;

use aes_gcm::aead::{Aead, OsRng, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use qrpay_domain::{CollectionEvent, CollectionEventKind, Provider, Secret};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::signature::{RandomizedSigner, SignatureEncoding, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::keys::{public_key_from_text, KeyError};
use crate::notice::{
    amount_from_fen, check_body, check_config_id, check_fresh, check_key_count, in_beijing,
    json_error, order_id, parse_unix_s, period, provider_ref, quoted, random_token, reason,
    signature_header, Answer, CallbackError, CallbackVerifier, ConfigError, NoticeSigner,
    SignedNotice,
};

pub const HEADER_TIMESTAMP: &str = "Wechatpay-Timestamp";
pub const HEADER_NONCE: &str = "Wechatpay-Nonce";
pub const HEADER_SIGNATURE: &str = "Wechatpay-Signature";
pub const HEADER_SERIAL: &str = "Wechatpay-Serial";
pub const HEADER_SIGNATURE_TYPE: &str = "Wechatpay-Signature-Type";
/// WeChat's probe: a notice signed like this must always be refused.
pub const SIGNTEST_PREFIX: &str = "WECHATPAY/SIGNTEST/";

pub const TRANSACTION_SUCCESS: &str = "TRANSACTION.SUCCESS";
pub const REFUND_SUCCESS: &str = "REFUND.SUCCESS";
pub const INSTALMENT_DEDUCTED: &str = "INSTALMENT.DEDUCTED";
pub const INSTALMENT_DEDUCT_FAILED: &str = "INSTALMENT.DEDUCT_FAILED";

const RESOURCE_TYPE: &str = "encrypt-resource";
const ALGORITHM: &str = "AEAD_AES_256_GCM";
const API_V3_KEY_LEN: usize = 32;
const GCM_NONCE_LEN: usize = 12;
const MAX_NONCE_LEN: usize = 64;
const HEADER_NONCE_LEN: usize = 32;
const SUCCESS: &str = "SUCCESS";
const CNY: &str = "CNY";

// ---- wire format -------------------------------------------------------------------

#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    id: String,
    create_time: String,
    resource_type: String,
    event_type: String,
    #[serde(default)]
    summary: String,
    resource: Resource,
}

#[derive(Debug, Serialize, Deserialize)]
struct Resource {
    algorithm: String,
    ciphertext: String,
    #[serde(default)]
    associated_data: String,
    #[serde(default)]
    original_type: String,
    nonce: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Transaction {
    mchid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    appid: Option<String>,
    out_trade_no: String,
    transaction_id: String,
    trade_state: String,
    success_time: String,
    amount: TransactionAmount,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    payer: Option<OpenId>,
}

#[derive(Debug, Serialize, Deserialize)]
struct TransactionAmount {
    total: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    payer_total: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    currency: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct OpenId {
    openid: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Refund {
    mchid: String,
    out_trade_no: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    transaction_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    out_refund_no: Option<String>,
    refund_id: String,
    refund_status: String,
    success_time: String,
    amount: RefundAmount,
}

#[derive(Debug, Serialize, Deserialize)]
struct RefundAmount {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    total: Option<i64>,
    refund: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    payer_total: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    payer_refund: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Instalment {
    mchid: String,
    out_trade_no: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    transaction_id: Option<String>,
    period: u8,
    amount: InstalmentAmount,
    deduct_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fail_reason: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct InstalmentAmount {
    total: i64,
}

// ---- our side ----------------------------------------------------------------------

/// Verifies WeChat Pay notices for one merchant (`mchid`).
#[derive(Clone)]
pub struct WechatpayVerifier {
    mchid: String,
    /// Platform keys by serial, current first.
    platform_keys: Vec<(String, VerifyingKey<Sha256>)>,
    /// API v3 keys, current first; each exactly 32 bytes.
    api_v3_keys: Vec<Secret>,
}

impl fmt::Debug for WechatpayVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let serials: Vec<&str> = self.platform_keys.iter().map(|(s, _)| s.as_str()).collect();
        f.debug_struct("WechatpayVerifier")
            .field("mchid", &self.mchid)
            .field("platform_serials", &serials)
            .field("api_v3_keys", &self.api_v3_keys)
            .finish()
    }
}

impl WechatpayVerifier {
    /// `platform_keys`: (serial, key), current first. `api_v3_keys`: the
    /// 32-character API v3 keys, current first.
    pub fn new(
        mchid: &str,
        platform_keys: Vec<(String, RsaPublicKey)>,
        api_v3_keys: Vec<Secret>,
    ) -> Result<WechatpayVerifier, ConfigError> {
        check_config_id("mchid", mchid)?;
        check_key_count("platform_keys", &platform_keys)?;
        check_key_count("api_v3_keys", &api_v3_keys)?;
        for (serial, _) in &platform_keys {
            check_config_id("platform key serial", serial)?;
        }
        if api_v3_keys
            .iter()
            .any(|k| k.expose().len() != API_V3_KEY_LEN)
        {
            return Err(ConfigError::Invalid("api_v3_keys (32 bytes each)"));
        }
        Ok(WechatpayVerifier {
            mchid: mchid.to_owned(),
            platform_keys: platform_keys
                .into_iter()
                .map(|(serial, key)| (serial, VerifyingKey::new(key)))
                .collect(),
            api_v3_keys,
        })
    }

    /// As `new`, with each platform key as (serial, PEM or base64 DER text).
    pub fn from_pem(
        mchid: &str,
        platform_keys: &[(&str, &str)],
        api_v3_keys: Vec<Secret>,
    ) -> Result<WechatpayVerifier, ConfigError> {
        let keys = platform_keys
            .iter()
            .map(|(serial, pem)| Ok(((*serial).to_owned(), public_key_from_text(pem)?)))
            .collect::<Result<Vec<_>, KeyError>>()?;
        WechatpayVerifier::new(mchid, keys, api_v3_keys)
    }

    fn check_signature(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), CallbackError> {
        let signature = signature_header(headers, HEADER_SIGNATURE)?;
        let serial = signature_header(headers, HEADER_SERIAL)?;
        let timestamp = signature_header(headers, HEADER_TIMESTAMP)?;
        let nonce = signature_header(headers, HEADER_NONCE)?;
        if signature.starts_with(SIGNTEST_PREFIX) {
            return Err(CallbackError::BadSignature(
                "a WECHATPAY/SIGNTEST/ probe is never accepted".into(),
            ));
        }
        let signed_at_s = parse_unix_s(HEADER_TIMESTAMP, timestamp)?;
        if nonce.len() > MAX_NONCE_LEN {
            return Err(CallbackError::Unsigned(format!(
                "{HEADER_NONCE} is too long"
            )));
        }
        let Some((_, key)) = self.platform_keys.iter().find(|(s, _)| s == serial) else {
            return Err(CallbackError::BadSignature(format!(
                "unknown platform key serial {}",
                quoted(serial)
            )));
        };
        let signature = STANDARD
            .decode(signature)
            .ok()
            .and_then(|bytes| Signature::try_from(bytes.as_slice()).ok())
            .ok_or_else(|| CallbackError::Unsigned(format!("{HEADER_SIGNATURE} is not base64")))?;
        let message = signed_message(timestamp, nonce, body);
        key.verify(&message, &signature).map_err(|_| {
            CallbackError::BadSignature("does not match the platform key for the serial".into())
        })?;
        check_fresh(signed_at_s, now)
    }

    /// The resource's plaintext, with the first API v3 key that opens it.
    fn decrypt(&self, resource: &Resource) -> Result<Vec<u8>, CallbackError> {
        if resource.algorithm != ALGORITHM {
            return Err(CallbackError::Unsupported(format!(
                "resource algorithm {}",
                quoted(&resource.algorithm)
            )));
        }
        if resource.nonce.len() != GCM_NONCE_LEN {
            return Err(CallbackError::malformed("resource nonce must be 12 bytes"));
        }
        let ciphertext = STANDARD
            .decode(&resource.ciphertext)
            .map_err(|_| CallbackError::malformed("resource ciphertext is not base64"))?;
        let nonce = Nonce::from_slice(resource.nonce.as_bytes());
        let payload = || Payload {
            msg: &ciphertext,
            aad: resource.associated_data.as_bytes(),
        };
        self.api_v3_keys
            .iter()
            .filter_map(|key| Aes256Gcm::new_from_slice(key.expose().as_bytes()).ok())
            .find_map(|cipher| cipher.decrypt(nonce, payload()).ok())
            .ok_or_else(|| {
                CallbackError::BadSignature("resource does not decrypt with any API v3 key".into())
            })
    }

    fn our_merchant(&self, mchid: &str) -> Result<(), CallbackError> {
        if mchid != self.mchid {
            return Err(CallbackError::WrongMerchant);
        }
        Ok(())
    }

    fn payment(
        &self,
        plain: &[u8],
    ) -> Result<(String, CollectionEventKind, DateTime<Utc>), CallbackError> {
        let t: Transaction =
            serde_json::from_slice(plain).map_err(|e| json_error("resource", &e))?;
        self.our_merchant(&t.mchid)?;
        if t.trade_state != SUCCESS {
            return Err(CallbackError::malformed(
                "TRANSACTION.SUCCESS with trade_state other than SUCCESS",
            ));
        }
        if let Some(currency) = t.amount.currency.as_deref().filter(|c| *c != CNY) {
            return Err(CallbackError::Unsupported(format!(
                "currency {}",
                quoted(currency)
            )));
        }
        let kind = CollectionEventKind::PaymentSucceeded {
            provider_txn_id: provider_ref("transaction_id", &t.transaction_id)?,
            amount: amount_from_fen("amount.total", t.amount.total)?,
            // WeChat identifies the payer by openid only: no name or phone.
            payer: None,
        };
        Ok((
            t.out_trade_no,
            kind,
            rfc3339("success_time", &t.success_time)?,
        ))
    }

    fn refund(
        &self,
        plain: &[u8],
    ) -> Result<(String, CollectionEventKind, DateTime<Utc>), CallbackError> {
        let r: Refund = serde_json::from_slice(plain).map_err(|e| json_error("resource", &e))?;
        self.our_merchant(&r.mchid)?;
        if r.refund_status != SUCCESS {
            return Err(CallbackError::malformed(
                "REFUND.SUCCESS with refund_status other than SUCCESS",
            ));
        }
        let amount = amount_from_fen("amount.refund", r.amount.refund)?;
        if r.amount.total.is_some_and(|total| total < amount.fen()) {
            return Err(CallbackError::malformed(
                "amount.refund is larger than amount.total",
            ));
        }
        let kind = CollectionEventKind::RefundSucceeded {
            refund_id: provider_ref("refund_id", &r.refund_id)?,
            amount,
        };
        Ok((
            r.out_trade_no,
            kind,
            rfc3339("success_time", &r.success_time)?,
        ))
    }

    fn instalment(
        &self,
        plain: &[u8],
        deducted: bool,
    ) -> Result<(String, CollectionEventKind, DateTime<Utc>), CallbackError> {
        let i: Instalment =
            serde_json::from_slice(plain).map_err(|e| json_error("resource", &e))?;
        self.our_merchant(&i.mchid)?;
        let period = period("period", i.period)?;
        let amount = amount_from_fen("amount.total", i.amount.total)?;
        let kind = if deducted {
            let txn = i
                .transaction_id
                .as_deref()
                .ok_or_else(|| CallbackError::malformed("missing field `transaction_id`"))?;
            CollectionEventKind::InstalmentDeducted {
                provider_txn_id: provider_ref("transaction_id", txn)?,
                period,
                amount,
            }
        } else {
            CollectionEventKind::InstalmentDeductionFailed {
                period,
                amount,
                reason: reason(i.fail_reason.as_deref()),
            }
        };
        Ok((
            i.out_trade_no,
            kind,
            rfc3339("deduct_time", &i.deduct_time)?,
        ))
    }
}

impl CallbackVerifier for WechatpayVerifier {
    fn provider(&self) -> Provider {
        Provider::Wechatpay
    }

    fn verify(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<CollectionEvent, CallbackError> {
        check_body(body)?;
        self.check_signature(headers, body, now)?;
        let envelope: Envelope =
            serde_json::from_slice(body).map_err(|e| json_error("notice", &e))?;
        if envelope.resource_type != RESOURCE_TYPE {
            return Err(CallbackError::malformed(
                "resource_type must be encrypt-resource",
            ));
        }
        let notification_id = provider_ref("id", &envelope.id)?;
        let plain = self.decrypt(&envelope.resource)?;
        let (out_trade_no, kind, occurred_at) = match envelope.event_type.as_str() {
            TRANSACTION_SUCCESS => self.payment(&plain)?,
            REFUND_SUCCESS => self.refund(&plain)?,
            INSTALMENT_DEDUCTED => self.instalment(&plain, true)?,
            INSTALMENT_DEDUCT_FAILED => self.instalment(&plain, false)?,
            other => {
                return Err(CallbackError::Unsupported(format!(
                    "event_type {}",
                    quoted(other)
                )))
            }
        };
        Ok(CollectionEvent {
            provider: Provider::Wechatpay,
            notification_id,
            order_id: order_id("out_trade_no", &out_trade_no)?,
            kind,
            occurred_at,
        })
    }

    /// WeChat takes 200 or 204 with no body as success.
    fn success(&self) -> Answer {
        Answer {
            status: 204,
            content_type: "application/json",
            body: String::new(),
        }
    }

    fn failure(&self, message: &str, status: u16) -> Answer {
        Answer {
            status,
            content_type: "application/json",
            body: serde_json::json!({"code": "FAIL", "message": message}).to_string(),
        }
    }
}

fn signed_message(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(timestamp.len() + nonce.len() + body.len() + 3);
    for part in [timestamp.as_bytes(), nonce.as_bytes(), body] {
        message.extend_from_slice(part);
        message.push(b'\n');
    }
    message
}

fn rfc3339(field: &str, text: &str) -> Result<DateTime<Utc>, CallbackError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| CallbackError::Malformed(format!("{field} must be an RFC 3339 time")))
}

// ---- the provider's side -----------------------------------------------------------

/// Produces genuine WeChat Pay notices: the platform's private key and its
/// serial, the merchant's API v3 key and mchid.
#[derive(Clone)]
pub struct WechatpaySigner {
    mchid: String,
    serial: String,
    key: SigningKey<Sha256>,
    api_v3_key: Secret,
}

impl fmt::Debug for WechatpaySigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatpaySigner")
            .field("mchid", &self.mchid)
            .field("serial", &self.serial)
            .field("key", &"***")
            .field("api_v3_key", &self.api_v3_key)
            .finish()
    }
}

impl WechatpaySigner {
    pub fn new(
        mchid: &str,
        serial: &str,
        platform_key: RsaPrivateKey,
        api_v3_key: Secret,
    ) -> Result<WechatpaySigner, ConfigError> {
        check_config_id("mchid", mchid)?;
        check_config_id("platform key serial", serial)?;
        if api_v3_key.expose().len() != API_V3_KEY_LEN {
            return Err(ConfigError::Invalid("api_v3_key (32 bytes)"));
        }
        Ok(WechatpaySigner {
            mchid: mchid.to_owned(),
            serial: serial.to_owned(),
            key: SigningKey::new(platform_key),
            api_v3_key,
        })
    }

    /// The plaintext resource, its event type, summary and associated data.
    fn resource(
        &self,
        event: &CollectionEvent,
    ) -> (Vec<u8>, &'static str, &'static str, &'static str) {
        let order = event.order_id.to_string();
        let at = beijing_rfc3339(event.occurred_at);
        let (json, event_type, summary, aad) = match &event.kind {
            CollectionEventKind::PaymentSucceeded {
                provider_txn_id,
                amount,
                ..
            } => (
                serde_json::to_vec(&Transaction {
                    mchid: self.mchid.clone(),
                    appid: None,
                    out_trade_no: order,
                    transaction_id: provider_txn_id.to_string(),
                    trade_state: SUCCESS.into(),
                    success_time: at,
                    amount: TransactionAmount {
                        total: amount.fen(),
                        payer_total: Some(amount.fen()),
                        currency: Some(CNY.into()),
                    },
                    payer: None,
                }),
                TRANSACTION_SUCCESS,
                "支付成功",
                "transaction",
            ),
            CollectionEventKind::RefundSucceeded { refund_id, amount } => (
                serde_json::to_vec(&Refund {
                    mchid: self.mchid.clone(),
                    out_trade_no: order,
                    transaction_id: None,
                    out_refund_no: None,
                    refund_id: refund_id.to_string(),
                    refund_status: SUCCESS.into(),
                    success_time: at,
                    amount: RefundAmount {
                        total: None,
                        refund: amount.fen(),
                        payer_total: None,
                        payer_refund: Some(amount.fen()),
                    },
                }),
                REFUND_SUCCESS,
                "退款成功",
                "refund",
            ),
            CollectionEventKind::InstalmentDeducted {
                provider_txn_id,
                period,
                amount,
            } => (
                serde_json::to_vec(&Instalment {
                    mchid: self.mchid.clone(),
                    out_trade_no: order,
                    transaction_id: Some(provider_txn_id.to_string()),
                    period: *period,
                    amount: InstalmentAmount {
                        total: amount.fen(),
                    },
                    deduct_time: at,
                    fail_reason: None,
                }),
                INSTALMENT_DEDUCTED,
                "分期扣款成功",
                "instalment",
            ),
            CollectionEventKind::InstalmentDeductionFailed {
                period,
                amount,
                reason,
            } => (
                serde_json::to_vec(&Instalment {
                    mchid: self.mchid.clone(),
                    out_trade_no: order,
                    transaction_id: None,
                    period: *period,
                    amount: InstalmentAmount {
                        total: amount.fen(),
                    },
                    deduct_time: at,
                    fail_reason: Some(reason.clone()),
                }),
                INSTALMENT_DEDUCT_FAILED,
                "分期扣款失败",
                "instalment",
            ),
        };
        (
            json.expect("a resource always serializes"),
            event_type,
            summary,
            aad,
        )
    }
}

impl NoticeSigner for WechatpaySigner {
    fn provider(&self) -> Provider {
        Provider::Wechatpay
    }

    fn sign(&self, event: &CollectionEvent, now: DateTime<Utc>) -> SignedNotice {
        let (plain, event_type, summary, aad) = self.resource(event);
        let nonce = random_token(GCM_NONCE_LEN);
        let cipher = Aes256Gcm::new_from_slice(self.api_v3_key.expose().as_bytes())
            .expect("the API v3 key is 32 bytes, checked in new");
        let ciphertext = cipher
            .encrypt(
                Nonce::from_slice(nonce.as_bytes()),
                Payload {
                    msg: &plain,
                    aad: aad.as_bytes(),
                },
            )
            .expect("AES-GCM encrypts any notice-sized plaintext");
        let envelope = Envelope {
            id: event.notification_id.to_string(),
            create_time: beijing_rfc3339(now),
            resource_type: RESOURCE_TYPE.into(),
            event_type: event_type.into(),
            summary: summary.into(),
            resource: Resource {
                algorithm: ALGORITHM.into(),
                ciphertext: STANDARD.encode(ciphertext),
                associated_data: aad.into(),
                original_type: aad.into(),
                nonce,
            },
        };
        let body = serde_json::to_vec(&envelope).expect("an envelope always serializes");
        let timestamp = now.timestamp().to_string();
        let header_nonce = random_token(HEADER_NONCE_LEN);
        let signature = self.key.sign_with_rng(
            &mut OsRng,
            &signed_message(&timestamp, &header_nonce, &body),
        );
        SignedNotice {
            headers: vec![
                (HEADER_TIMESTAMP.into(), timestamp),
                (HEADER_NONCE.into(), header_nonce),
                (
                    HEADER_SIGNATURE.into(),
                    STANDARD.encode(signature.to_bytes()),
                ),
                (HEADER_SERIAL.into(), self.serial.clone()),
                (
                    HEADER_SIGNATURE_TYPE.into(),
                    "WECHATPAY2-SHA256-RSA2048".into(),
                ),
            ],
            content_type: "application/json",
            body,
        }
    }
}

/// WeChat's time format: `2026-03-01T10:00:00+08:00`.
fn beijing_rfc3339(instant: DateTime<Utc>) -> String {
    in_beijing(instant)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}
