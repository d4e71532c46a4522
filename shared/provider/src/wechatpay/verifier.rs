//! Our side: checks a notice's signature with the platform key its serial
//! names, then reads the event from the decrypted resource (`resource`).
//! Once the signature holds, only a resource that does not decrypt is
//! refused; anything else we cannot apply is `Notice::Unapplied`.

use std::fmt;

use chrono::{DateTime, Utc};
use qrpay_domain::{CollectionEvent, Provider, Secret};
use rsa::RsaPublicKey;

use super::platform::PlatformKeys;
use super::wire::{Envelope, Names};
use super::{
    API_V3_KEY_LEN, INSTALMENT_DEDUCTED, INSTALMENT_DEDUCT_FAILED, REFUND_SUCCESS, RESOURCE_TYPE,
    TRANSACTION_SUCCESS, TRANSFER_BILL_FINISHED,
};
use crate::notice::{
    check_body, check_config_id, check_key_count, json_error, order_id, provider_ref, quoted,
    Answer, CallbackError, CallbackVerifier, ConfigError, Notice, UnappliedNotice,
};

/// Verifies WeChat Pay notices for one merchant (`mchid`).
#[derive(Clone)]
pub struct WechatpayVerifier {
    pub(super) mchid: String,
    /// Platform keys by serial, current first.
    platform_keys: PlatformKeys,
    /// API v3 keys, current first; each exactly 32 bytes.
    pub(super) api_v3_keys: Vec<Secret>,
}

impl fmt::Debug for WechatpayVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let serials: Vec<&str> = self.platform_keys.serials().collect();
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
        WechatpayVerifier::with_keys(mchid, PlatformKeys::new(platform_keys)?, api_v3_keys)
    }

    /// As `new`, with the platform keys already built (the same ones an
    /// API client checks answers with).
    pub fn with_keys(
        mchid: &str,
        platform_keys: PlatformKeys,
        api_v3_keys: Vec<Secret>,
    ) -> Result<WechatpayVerifier, ConfigError> {
        check_config_id("mchid", mchid)?;
        check_key_count("api_v3_keys", &api_v3_keys)?;
        if api_v3_keys
            .iter()
            .any(|k| k.expose().len() != API_V3_KEY_LEN)
        {
            return Err(ConfigError::Invalid("api_v3_keys (32 bytes each)"));
        }
        Ok(WechatpayVerifier {
            mchid: mchid.to_owned(),
            platform_keys,
            api_v3_keys,
        })
    }

    /// As `new`, with each platform key as (serial, PEM or base64 DER text).
    pub fn from_pem(
        mchid: &str,
        platform_keys: &[(&str, &str)],
        api_v3_keys: Vec<Secret>,
    ) -> Result<WechatpayVerifier, ConfigError> {
        let platform_keys = PlatformKeys::from_pem(platform_keys)?;
        WechatpayVerifier::with_keys(mchid, platform_keys, api_v3_keys)
    }
}

impl WechatpayVerifier {
    /// Reads a genuine notice (its signature already checked): `Err` only
    /// when its resource does not decrypt with any API v3 key.
    fn read_notice(&self, body: &[u8]) -> Result<Notice, CallbackError> {
        let envelope: Envelope = match serde_json::from_slice(body) {
            Ok(envelope) => envelope,
            Err(e) => return Ok(self.unapplied(None, None, json_error("notice", &e))),
        };
        let plain = match self.open(&envelope) {
            Ok(plain) => plain,
            Err(e @ CallbackError::BadSignature(_)) => return Err(e),
            Err(e) => return Ok(self.unapplied(Some(&envelope), None, e)),
        };
        Ok(self
            .read_event(&envelope, &plain)
            .unwrap_or_else(|e| self.unapplied(Some(&envelope), Some(&plain), e)))
    }

    /// The resource's plaintext, once the envelope is one we can open.
    fn open(&self, envelope: &Envelope) -> Result<Vec<u8>, CallbackError> {
        if envelope.resource_type != RESOURCE_TYPE {
            return Err(CallbackError::malformed(
                "resource_type must be encrypt-resource",
            ));
        }
        provider_ref("id", &envelope.id)?;
        self.decrypt(&envelope.resource)
    }

    /// The one table of event types: what each asks of us.
    fn read_event(&self, envelope: &Envelope, plain: &[u8]) -> Result<Notice, CallbackError> {
        let (out_trade_no, kind, occurred_at) = match envelope.event_type.as_str() {
            TRANSACTION_SUCCESS => self.payment(plain)?,
            REFUND_SUCCESS => self.refund(plain)?,
            INSTALMENT_DEDUCTED => self.instalment(plain, true)?,
            INSTALMENT_DEDUCT_FAILED => self.instalment(plain, false)?,
            TRANSFER_BILL_FINISHED => return self.transfer(&envelope.id, plain),
            // REFUND_ABNORMAL, REFUND_CLOSED (the refund did not reach the
            // buyer: an operator settles it with WeChat Pay) and any other
            // event: acknowledged and alerted by the caller.
            other => {
                return Err(CallbackError::Unsupported(format!(
                    "event_type {}",
                    quoted(other)
                )))
            }
        };
        Ok(Notice::Collection(CollectionEvent {
            provider: Provider::Wechatpay,
            notification_id: provider_ref("id", &envelope.id)?,
            order_id: order_id("out_trade_no", &out_trade_no)?,
            kind,
            occurred_at,
        }))
    }

    /// A genuine notice we acknowledge without applying, naming the order or
    /// payout its resource names.
    fn unapplied(
        &self,
        envelope: Option<&Envelope>,
        plain: Option<&[u8]>,
        reason: CallbackError,
    ) -> Notice {
        let names: Names = plain
            .and_then(|p| serde_json::from_slice(p).ok())
            .unwrap_or_default();
        let reference = names.out_trade_no.or(names.out_bill_no);
        Notice::Unapplied(UnappliedNotice::new(
            Provider::Wechatpay,
            envelope.map(|e| e.id.as_str()),
            envelope.map_or("unreadable", |e| e.event_type.as_str()),
            reference.as_deref(),
            reason,
        ))
    }
}

impl CallbackVerifier for WechatpayVerifier {
    fn provider(&self) -> Provider {
        Provider::Wechatpay
    }

    /// Refused only when the signature, its time or the resource's
    /// decryption fails; every other notice is acknowledged.
    fn verify_notice(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Notice, CallbackError> {
        check_body(body)?;
        self.platform_keys.check(headers, body, now)?;
        self.read_notice(body)
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
