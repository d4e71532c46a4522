//! Our side of API v3 requests: the `Authorization` header every request
//! carries, and the `paySign` of the JSAPI invoke parameters, both
//! SHA256-with-RSA (PKCS#1 v1.5) by the merchant's API certificate key.
//!
//! Request signature: https://pay.weixin.qq.com/wiki/doc/api_external/ch/wechatpay/wechatpay4_0.shtml
//! (also https://pay.weixin.qq.com/doc/v3/merchant/4012365336).
//! JSAPI invoke: https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter5_1_8.shtml
//!
//! Both are pure functions of their inputs (PKCS#1 v1.5 is deterministic),
//! so the caller draws the nonce (`nonce()`) and reads the clock.

use std::fmt;

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::OsRng;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use qrpay_domain::Secret;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use serde::Serialize;
use sha2::Sha256;

use crate::keys::private_key_from_text;
use crate::notice::{check_config_id, ConfigError};

/// The scheme of the `Authorization` header.
pub const AUTH_SCHEME: &str = "WECHATPAY2-SHA256-RSA2048";
/// Length of a nonce from `nonce()`.
pub const NONCE_LEN: usize = 32;
/// The nonce alphabet: digits and upper-case letters.
const NONCE_ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Signs for one merchant (`mchid`) with its API certificate's private key;
/// `serial` is that certificate's serial (`WECHATPAY_MCH_SERIAL`). The key
/// never appears in `Debug` output.
#[derive(Clone)]
pub struct RequestSigner {
    mchid: String,
    serial: String,
    key: SigningKey<Sha256>,
}

impl fmt::Debug for RequestSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestSigner")
            .field("mchid", &self.mchid)
            .field("serial", &self.serial)
            .field("key", &"***")
            .finish()
    }
}

/// What the page passes to `WeixinJSBridge.invoke('getBrandWCPayRequest', …)`.
/// `signType` is not signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JsapiInvoke {
    pub app_id: String,
    /// Unix seconds, as a string.
    pub time_stamp: String,
    pub nonce_str: String,
    /// `prepay_id=<prepay id>`.
    pub package: String,
    /// Always `RSA`.
    pub sign_type: &'static str,
    pub pay_sign: String,
}

impl RequestSigner {
    /// `private_key`: PKCS#8 (or PKCS#1) PEM, or base64 DER, of at least
    /// 2048 bits (`WECHATPAY_MCH_PRIVATE_KEY`).
    pub fn new(mchid: &str, serial: &str, private_key: &Secret) -> Result<Self, ConfigError> {
        RequestSigner::from_key(mchid, serial, private_key_from_text(private_key)?)
    }

    /// As `new`, with the key already read.
    pub fn from_key(mchid: &str, serial: &str, key: RsaPrivateKey) -> Result<Self, ConfigError> {
        check_config_id("mchid", mchid)?;
        check_config_id("merchant certificate serial", serial)?;
        Ok(RequestSigner {
            mchid: mchid.to_owned(),
            serial: serial.to_owned(),
            key: SigningKey::new(key),
        })
    }

    pub fn mchid(&self) -> &str {
        &self.mchid
    }

    /// The `Authorization` header value for one request:
    /// `WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",signature="…",timestamp="…",serial_no="…"`
    /// with the signature over `METHOD\nCANONICAL_URL\nTIMESTAMP\nNONCE\nBODY\n`.
    ///
    /// `canonical_url` is the path with its `?query`, exactly as sent;
    /// `body` the exact bytes sent (empty for a GET); `timestamp` Unix
    /// seconds; `nonce` from `nonce()`.
    pub fn authorization(
        &self,
        method: &http::Method,
        canonical_url: &str,
        timestamp: i64,
        nonce: &str,
        body: &[u8],
    ) -> String {
        let timestamp = timestamp.to_string();
        let signature = self.sign(&[
            method.as_str().as_bytes(),
            canonical_url.as_bytes(),
            timestamp.as_bytes(),
            nonce.as_bytes(),
            body,
        ]);
        format!(
            "{AUTH_SCHEME} mchid=\"{}\",nonce_str=\"{nonce}\",signature=\"{signature}\",timestamp=\"{timestamp}\",serial_no=\"{}\"",
            self.mchid, self.serial
        )
    }

    /// The JSAPI invoke parameters for `prepay_id`, with `paySign` over
    /// `appId\ntimeStamp\nnonceStr\npackage\n`.
    pub fn jsapi_invoke(
        &self,
        app_id: &str,
        prepay_id: &str,
        timestamp: i64,
        nonce: &str,
    ) -> JsapiInvoke {
        let time_stamp = timestamp.to_string();
        let package = format!("prepay_id={prepay_id}");
        let pay_sign = self.sign(&[
            app_id.as_bytes(),
            time_stamp.as_bytes(),
            nonce.as_bytes(),
            package.as_bytes(),
        ]);
        JsapiInvoke {
            app_id: app_id.to_owned(),
            time_stamp,
            nonce_str: nonce.to_owned(),
            package,
            sign_type: "RSA",
            pay_sign,
        }
    }

    /// Base64 of the signature over `lines`, each followed by `\n`.
    fn sign(&self, lines: &[&[u8]]) -> String {
        let mut message = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for line in lines {
            message.extend_from_slice(line);
            message.push(b'\n');
        }
        STANDARD.encode(self.key.sign(&message).to_bytes())
    }
}

/// A fresh nonce: `NONCE_LEN` characters of `[0-9A-Z]` from the OS's
/// randomness, without modulo bias.
pub fn nonce() -> String {
    // The largest multiple of the alphabet's size that fits a byte.
    const LIMIT: u8 = (256 / NONCE_ALPHABET.len() * NONCE_ALPHABET.len()) as u8;
    let mut nonce = String::with_capacity(NONCE_LEN);
    let mut bytes = [0u8; NONCE_LEN];
    while nonce.len() < NONCE_LEN {
        OsRng.fill_bytes(&mut bytes);
        for b in bytes.iter().filter(|b| **b < LIMIT) {
            if nonce.len() < NONCE_LEN {
                nonce.push(char::from(
                    NONCE_ALPHABET[usize::from(*b) % NONCE_ALPHABET.len()],
                ));
            }
        }
    }
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_32_digits_or_capitals_and_differ() {
        let a = nonce();
        let b = nonce();
        for n in [&a, &b] {
            assert_eq!(n.len(), NONCE_LEN);
            assert!(
                n.bytes()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()),
                "{n}"
            );
        }
        assert_ne!(a, b);
    }
}
