//! Our side: checks a notice's signature with the platform key its serial
//! names, then reads the event from the decrypted resource (`resource`).

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use qrpay_domain::{CollectionEvent, Provider, Secret};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use rsa::RsaPublicKey;
use sha2::Sha256;

use super::wire::{signed_message, Envelope};
use super::{
    API_V3_KEY_LEN, HEADER_NONCE, HEADER_SERIAL, HEADER_SIGNATURE, HEADER_TIMESTAMP,
    INSTALMENT_DEDUCTED, INSTALMENT_DEDUCT_FAILED, MAX_NONCE_LEN, REFUND_SUCCESS, RESOURCE_TYPE,
    SIGNTEST_PREFIX, TRANSACTION_SUCCESS,
};
use crate::keys::{public_key_from_text, KeyError};
use crate::notice::{
    check_body, check_config_id, check_fresh, check_key_count, json_error, order_id, parse_unix_s,
    provider_ref, quoted, signature_header, Answer, CallbackError, CallbackVerifier, ConfigError,
};

/// Verifies WeChat Pay notices for one merchant (`mchid`).
#[derive(Clone)]
pub struct WechatpayVerifier {
    pub(super) mchid: String,
    /// Platform keys by serial, current first.
    platform_keys: Vec<(String, VerifyingKey<Sha256>)>,
    /// API v3 keys, current first; each exactly 32 bytes.
    pub(super) api_v3_keys: Vec<Secret>,
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
