//! Our side of OpenAPI requests (`gateway.do`): the public parameters, the
//! string to sign and its RSA2 `sign` by the app private key, and the
//! `application/x-www-form-urlencoded` text that carries them.
//!
//! String to sign: every parameter except `sign` (`sign_type` included),
//! empty values left out, sorted by key, `k=v` joined by `&` with the raw
//! values; `biz_content` is the exact JSON text that is sent. Then every
//! value, `sign` included, is form-encoded for transport.
//! Sources: GATEWAYS.md §2.1 (official SDKs' `getSignContent`, Node `util.ts sign()`).
//!
//! Signing is a pure function of its inputs: the caller reads the clock.

use std::fmt;

use chrono::{DateTime, Utc};
use qrpay_domain::Secret;
use rsa::pkcs1v15::SigningKey;
use rsa::RsaPrivateKey;
use sha2::Sha256;

use super::rsa2::{self, Params};
use super::SIGN_TYPE_RSA2;
use crate::keys::private_key_from_text;
use crate::notice::{check_config_id, ConfigError};

/// `timestamp`: Beijing wall clock (UTC+8), to the second.
pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S";
const FORMAT: &str = "JSON";
const CHARSET: &str = "utf-8";
const VERSION: &str = "1.0";
/// Longest certificate SN text accepted (`alipay_root_cert_sn` joins several).
const MAX_SN_TEXT: usize = 1024;

/// Signs requests for one app (`app_id`) with the app private key
/// (`ALIPAY_APP_PRIVATE_KEY`); in certificate mode it also sends
/// `app_cert_sn` and `alipay_root_cert_sn`. The key never appears in
/// `Debug` output, and nothing here logs.
#[derive(Clone)]
pub struct RequestSigner {
    app_id: String,
    key: SigningKey<Sha256>,
    /// `(app_cert_sn, alipay_root_cert_sn)` in certificate mode.
    cert_sns: Option<(String, String)>,
}

impl fmt::Debug for RequestSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestSigner")
            .field("app_id", &self.app_id)
            .field("key", &"***")
            .field("cert_sns", &self.cert_sns)
            .finish()
    }
}

/// One signed request: every parameter sent (`sign` included), sorted by key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    params: Params,
}

impl SignedRequest {
    /// Every parameter sent, `sign` included, sorted by key.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The `sign` parameter.
    pub fn sign(&self) -> &str {
        self.params.get("sign").map_or("", String::as_str)
    }

    /// The exact text that was signed.
    pub fn string_to_sign(&self) -> String {
        rsa2::content(&self.params, &["sign"])
    }

    /// All parameters form-encoded (`k=v&…`): the POST body
    /// (`application/x-www-form-urlencoded;charset=utf-8`) or the query string.
    pub fn form(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.params.iter())
            .finish()
    }
}

impl RequestSigner {
    /// `private_key`: PKCS#8 (or PKCS#1) PEM, or the bare base64 DER
    /// Alipay's key tool writes, of at least 2048 bits.
    pub fn new(app_id: &str, private_key: &Secret) -> Result<Self, ConfigError> {
        RequestSigner::from_key(app_id, private_key_from_text(private_key)?)
    }

    /// As `new`, with the key already read (public-key mode).
    pub fn from_key(app_id: &str, key: RsaPrivateKey) -> Result<Self, ConfigError> {
        check_config_id("app_id", app_id)?;
        Ok(RequestSigner {
            app_id: app_id.to_owned(),
            key: SigningKey::new(key),
            cert_sns: None,
        })
    }

    /// Certificate mode with the SNs already computed (`cert_sn` of
    /// `ALIPAY_APP_CERT`, `root_cert_sn` of `ALIPAY_ROOT_CERT`).
    pub fn with_cert_sns(
        mut self,
        app_cert_sn: &str,
        alipay_root_cert_sn: &str,
    ) -> Result<Self, ConfigError> {
        let valid = |sn: &str| {
            !sn.is_empty()
                && sn.len() <= MAX_SN_TEXT
                && sn.bytes().all(|b| b.is_ascii_hexdigit() || b == b'_')
        };
        if !valid(app_cert_sn) {
            return Err(ConfigError::Invalid("app_cert_sn"));
        }
        if !valid(alipay_root_cert_sn) {
            return Err(ConfigError::Invalid("alipay_root_cert_sn"));
        }
        self.cert_sns = Some((app_cert_sn.to_owned(), alipay_root_cert_sn.to_owned()));
        Ok(self)
    }

    /// Certificate mode from the PEM texts of the app certificate and of
    /// Alipay's root certificate bundle.
    pub fn with_certificates(
        self,
        app_cert: &str,
        alipay_root_cert: &str,
    ) -> Result<Self, ConfigError> {
        let app = super::cert_sn(app_cert).map_err(|_| ConfigError::Invalid("ALIPAY_APP_CERT"))?;
        let root = super::root_cert_sn(alipay_root_cert)
            .map_err(|_| ConfigError::Invalid("ALIPAY_ROOT_CERT"))?;
        self.with_cert_sns(&app, &root)
    }

    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// Signs one call of `method` (`alipay.trade.precreate`, …) at `now`.
    /// `biz_content` is the already-serialized JSON, sent exactly as given;
    /// `notify_url` / `return_url` are sent when given and not empty.
    pub fn sign(
        &self,
        method: &str,
        biz_content: &str,
        notify_url: Option<&str>,
        return_url: Option<&str>,
        now: DateTime<Utc>,
    ) -> SignedRequest {
        let timestamp = now
            .with_timezone(&chrono_tz::Asia::Shanghai)
            .format(TIMESTAMP_FORMAT)
            .to_string();
        let mut params: Vec<(&str, &str)> = vec![
            ("app_id", &self.app_id),
            ("method", method),
            ("format", FORMAT),
            ("charset", CHARSET),
            ("sign_type", SIGN_TYPE_RSA2),
            ("timestamp", &timestamp),
            ("version", VERSION),
            ("biz_content", biz_content),
        ];
        params.extend(notify_url.map(|url| ("notify_url", url)));
        params.extend(return_url.map(|url| ("return_url", url)));
        if let Some((app_cert_sn, root_cert_sn)) = &self.cert_sns {
            params.push(("app_cert_sn", app_cert_sn));
            params.push(("alipay_root_cert_sn", root_cert_sn));
        }
        // Empty values are never sent, so what is signed is what is sent.
        let mut params: Params = params
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let sign = rsa2::sign(&self.key, &rsa2::content(&params, &["sign"]));
        params.insert("sign".into(), sign);
        SignedRequest { params }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1v15::VerifyingKey;

    fn signer() -> RequestSigner {
        let key = RsaPrivateKey::new(&mut aes_gcm::aead::OsRng, 2048).unwrap();
        RequestSigner::from_key("2021000117600001", key).unwrap()
    }

    #[test]
    fn the_string_to_sign_is_sorted_raw_and_without_empty_values() {
        let now = DateTime::parse_from_rfc3339("2026-03-01T02:00:05Z")
            .unwrap()
            .to_utc();
        let signer = signer();
        let req = signer.sign(
            "alipay.trade.query",
            r#"{"out_trade_no":"a&b"}"#,
            Some(""),
            None,
            now,
        );
        assert_eq!(
            req.string_to_sign(),
            "app_id=2021000117600001&biz_content={\"out_trade_no\":\"a&b\"}&charset=utf-8\
             &format=JSON&method=alipay.trade.query&sign_type=RSA2\
             &timestamp=2026-03-01 10:00:05&version=1.0"
        );
        assert!(req
            .form()
            .contains("biz_content=%7B%22out_trade_no%22%3A%22a%26b%22%7D"));
        assert!(req.form().contains("timestamp=2026-03-01+10%3A00%3A05"));
        let verifying = VerifyingKey::<Sha256>::new(signer.key.as_ref().to_public_key());
        let signature = rsa2::decode(req.sign()).unwrap();
        assert!(rsa2::verifies(
            &[verifying],
            &req.string_to_sign(),
            &signature
        ));
    }

    #[test]
    fn certificate_sns_are_checked_and_the_key_stays_out_of_debug() {
        let signer = signer();
        assert!(signer.clone().with_cert_sns("", "ab").is_err());
        assert!(signer.clone().with_cert_sns("ab", "a b").is_err());
        let signer = signer.with_cert_sns("ab12", "cd_ef").unwrap();
        let debug = format!("{signer:?}");
        assert!(debug.contains("***") && !debug.contains("PRIVATE"));
        let req = signer.sign("m", "{}", None, None, Utc::now());
        assert!(req
            .string_to_sign()
            .starts_with("alipay_root_cert_sn=cd_ef&app_cert_sn=ab12&"));
    }
}
