//! WeChat Pay's platform keys and the one signature check both callbacks
//! and API answers go through: `Wechatpay-Timestamp`, `-Nonce`,
//! `-Signature` and `-Serial` (header names are case-insensitive), the key
//! named by the serial, SHA256-with-RSA over `"{timestamp}\n{nonce}\n{body}\n"`,
//! and the time within `TOLERANCE_S` of now.
//! https://pay.weixin.qq.com/wiki/doc/api_external/en/wechatpay/wechatpay4_1.shtml

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use rsa::RsaPublicKey;
use sha2::Sha256;

use super::wire::signed_message;
use super::{
    HEADER_NONCE, HEADER_SERIAL, HEADER_SIGNATURE, HEADER_TIMESTAMP, MAX_NONCE_LEN, SIGNTEST_PREFIX,
};
use crate::keys::{public_key_from_text, KeyError};
use crate::notice::{
    check_config_id, check_fresh, check_key_count, parse_unix_s, quoted, signature_header,
    CallbackError, ConfigError,
};

/// Prefix of a WeChat Pay public key's id (public-key mode); any other serial
/// is a platform certificate's serial in hex (certificate mode).
pub const PUBLIC_KEY_ID_PREFIX: &str = "PUB_KEY_ID_";

/// The platform keys that may sign for one merchant, by serial, current
/// first (a `…_PREVIOUS` key during a rotation or a certificate-to-public-key
/// migration). Public material only.
#[derive(Clone)]
pub struct PlatformKeys {
    keys: Vec<(String, VerifyingKey<Sha256>)>,
}

impl fmt::Debug for PlatformKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let serials: Vec<&str> = self.keys.iter().map(|(s, _)| s.as_str()).collect();
        f.debug_struct("PlatformKeys")
            .field("serials", &serials)
            .finish()
    }
}

impl PlatformKeys {
    /// `keys`: (serial, key), current first; 1 to `MAX_KEYS` of them.
    pub fn new(keys: Vec<(String, RsaPublicKey)>) -> Result<PlatformKeys, ConfigError> {
        check_key_count("platform_keys", &keys)?;
        for (serial, _) in &keys {
            check_config_id("platform key serial", serial)?;
        }
        Ok(PlatformKeys {
            keys: keys
                .into_iter()
                .map(|(serial, key)| (serial, VerifyingKey::new(key)))
                .collect(),
        })
    }

    /// As `new`, with each key as (serial, PEM or base64 DER text).
    pub fn from_pem(keys: &[(&str, &str)]) -> Result<PlatformKeys, ConfigError> {
        let keys = keys
            .iter()
            .map(|(serial, pem)| Ok(((*serial).to_owned(), public_key_from_text(pem)?)))
            .collect::<Result<Vec<_>, KeyError>>()?;
        PlatformKeys::new(keys)
    }

    /// The serials configured, current first.
    pub fn serials(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(serial, _)| serial.as_str())
    }

    /// The key whose serial is `serial` (see `same_serial`).
    fn key(&self, serial: &str) -> Option<&VerifyingKey<Sha256>> {
        self.keys
            .iter()
            .find(|(configured, _)| same_serial(configured, serial))
            .map(|(_, key)| key)
    }

    /// Checks the signature headers over `body` (the raw bytes as received;
    /// empty for a `204`) at `now`.
    pub(crate) fn check(
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
        let Some(key) = self.key(serial) else {
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

/// Whether a header's serial names a configured key. A public key id
/// (`PUB_KEY_ID_…`) must match exactly; a certificate serial is a hex number,
/// compared as one (case and leading zeros ignored), as wechatpayv3 does with
/// `int(serial, 16) == cert.serial_number`.
pub(crate) fn same_serial(configured: &str, received: &str) -> bool {
    match (hex_number(configured), hex_number(received)) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => configured == received,
    }
}

/// The digits of a hex serial without leading zeros ("" for zero); `None`
/// when `text` is not hex.
fn hex_number(text: &str) -> Option<&str> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(text.trim_start_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_serials_compare_as_hex_numbers() {
        assert!(same_serial(
            "5157F09EFDC096DE15EBE81A47057A72",
            "5157f09efdc096de15ebe81a47057a72"
        ));
        assert!(same_serial("0A1B", "a1b"));
        assert!(same_serial("000", "0"));
        assert!(!same_serial("0A1B", "A1C"));
        assert!(!same_serial("0A1B", "A1B0"));
        assert!(!same_serial("0A1B", "0A1G"));
    }

    #[test]
    fn public_key_ids_match_exactly() {
        let id = "PUB_KEY_ID_0114232134912410000000000000";
        assert!(same_serial(id, id));
        assert!(!same_serial(id, &id.to_lowercase()));
        assert!(!same_serial(id, "0114232134912410000000000000"));
        assert!(!same_serial(id, ""));
    }
}
