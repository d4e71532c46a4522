//! Our side: checks a notice's signature with the platform key its serial
//! names, then reads the event from the decrypted resource (`resource`).

use std::fmt;

use chrono::{DateTime, Utc};
use qrpay_domain::{CollectionEvent, Provider, Secret};
use rsa::RsaPublicKey;

use super::platform::PlatformKeys;
use super::wire::Envelope;
use super::{
    API_V3_KEY_LEN, INSTALMENT_DEDUCTED, INSTALMENT_DEDUCT_FAILED, REFUND_SUCCESS, RESOURCE_TYPE,
    TRANSACTION_SUCCESS,
};
use crate::notice::{
    check_body, check_config_id, check_key_count, json_error, order_id, provider_ref, quoted,
    Answer, CallbackError, CallbackVerifier, ConfigError,
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
        self.platform_keys.check(headers, body, now)?;
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
