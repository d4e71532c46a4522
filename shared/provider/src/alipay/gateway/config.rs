//! The adapter's configuration, read from API.md's names ("Provider
//! configuration"): `ALIPAY_APP_ID`, `ALIPAY_APP_PRIVATE_KEY`,
//! `ALIPAY_PUBLIC_KEY` (public-key mode), `ALIPAY_APP_CERT` +
//! `ALIPAY_PUBLIC_CERT` + `ALIPAY_ROOT_CERT` (certificate mode, which Alipay
//! requires for transfers), `ALIPAY_GATEWAY_URL`, and the notify URL
//! `QRPAY_CALLBACK_BASE_URL` + `/callbacks/alipay`. Alipay's key and
//! certificate may also be given as `…_PREVIOUS` during a rotation.
//!
//! Error texts name the variable and what is wrong with it, never its value.

use std::fmt;

use qrpay_domain::Secret;

use super::super::cert::cert_public_key;
use super::super::{AnswerVerifier, RequestSigner};
use crate::keys::private_key_from_text;

/// Alipay's production gateway (GATEWAYS.md §2).
pub const DEFAULT_GATEWAY_URL: &str = "https://openapi.alipay.com/gateway.do";
/// Where Alipay's notices come to (API.md "Provider callbacks").
pub const NOTIFY_PATH: &str = "/callbacks/alipay";
/// Longest URL accepted for the gateway and the notify URL (Alipay's
/// `notify_url` is String(256)).
const MAX_URL_LEN: usize = 256;

/// Which keys check Alipay's answers, and whether requests carry SNs.
#[derive(Clone, PartialEq, Eq)]
pub enum AlipayKeyMode {
    /// `ALIPAY_PUBLIC_KEY` (then `_PREVIOUS`): PEM or bare base64.
    PublicKey { alipay_public_keys: Vec<String> },
    /// `ALIPAY_APP_CERT`, `ALIPAY_PUBLIC_CERT` (then `_PREVIOUS`),
    /// `ALIPAY_ROOT_CERT`: PEM.
    Certificates {
        app_cert: String,
        alipay_public_certs: Vec<String>,
        alipay_root_cert: String,
    },
}

/// One Alipay app's configuration, as read; `AlipayGateway::new` parses and
/// checks the keys.
#[derive(Clone)]
pub struct AlipayConfig {
    pub app_id: String,
    pub app_private_key: Secret,
    pub keys: AlipayKeyMode,
    /// `ALIPAY_GATEWAY_URL`, default `DEFAULT_GATEWAY_URL`.
    pub gateway_url: String,
    /// Sent with orders when set; without it Alipay sends no payment notice
    /// and a payment is found by query only.
    pub notify_url: Option<String>,
}

impl fmt::Debug for AlipayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match &self.keys {
            AlipayKeyMode::PublicKey { .. } => "public key",
            AlipayKeyMode::Certificates { .. } => "certificates",
        };
        f.debug_struct("AlipayConfig")
            .field("app_id", &self.app_id)
            .field("app_private_key", &self.app_private_key)
            .field("keys", &mode)
            .field("gateway_url", &self.gateway_url)
            .field("notify_url", &self.notify_url)
            .finish()
    }
}

impl AlipayConfig {
    /// `Ok(None)` when `ALIPAY_APP_ID` is unset or empty. Empty values count
    /// as unset. Certificate mode needs all three certificates: one or two
    /// of them is an error, not a silent fallback to public-key mode.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<AlipayConfig>, String> {
        let get = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let Some(app_id) = get("ALIPAY_APP_ID") else {
            return Ok(None);
        };
        let required = |name: &str| {
            get(name).ok_or_else(|| format!("{name} is required when ALIPAY_APP_ID is set"))
        };
        let app_private_key = Secret::new(required("ALIPAY_APP_PRIVATE_KEY")?);
        let certs = ["ALIPAY_APP_CERT", "ALIPAY_PUBLIC_CERT", "ALIPAY_ROOT_CERT"].map(get);
        let keys = match certs {
            [Some(app_cert), Some(public_cert), Some(alipay_root_cert)] => {
                AlipayKeyMode::Certificates {
                    app_cert,
                    alipay_public_certs: current_and_previous(
                        public_cert,
                        get("ALIPAY_PUBLIC_CERT_PREVIOUS"),
                    ),
                    alipay_root_cert,
                }
            }
            [None, None, None] => AlipayKeyMode::PublicKey {
                alipay_public_keys: current_and_previous(
                    required("ALIPAY_PUBLIC_KEY")?,
                    get("ALIPAY_PUBLIC_KEY_PREVIOUS"),
                ),
            },
            _ => {
                return Err(
                    "certificate mode needs ALIPAY_APP_CERT, ALIPAY_PUBLIC_CERT and \
                     ALIPAY_ROOT_CERT together; only some are set"
                        .into(),
                )
            }
        };
        let gateway_url = get("ALIPAY_GATEWAY_URL").unwrap_or_else(|| DEFAULT_GATEWAY_URL.into());
        check_url("ALIPAY_GATEWAY_URL", &gateway_url)?;
        let notify_url = get("QRPAY_CALLBACK_BASE_URL")
            .map(|base| format!("{}{NOTIFY_PATH}", base.trim_end_matches('/')));
        if let Some(url) = &notify_url {
            check_url("QRPAY_CALLBACK_BASE_URL", url)?;
        }
        Ok(Some(AlipayConfig {
            app_id: app_id.trim().to_owned(),
            app_private_key,
            keys,
            gateway_url,
            notify_url,
        }))
    }

    pub fn is_certificate_mode(&self) -> bool {
        matches!(self.keys, AlipayKeyMode::Certificates { .. })
    }

    /// Parses every key: the app's private key signs, Alipay's keys verify.
    /// In certificate mode the app certificate must hold the app key's
    /// public half (a certificate of another key would have every request
    /// refused as badly signed).
    pub(super) fn signer_and_verifier(&self) -> Result<(RequestSigner, AnswerVerifier), String> {
        let key = private_key_from_text(&self.app_private_key)
            .map_err(|e| format!("ALIPAY_APP_PRIVATE_KEY: {e}"))?;
        let public_half = key.to_public_key();
        let signer = RequestSigner::from_key(&self.app_id, key)
            .map_err(|e| format!("ALIPAY_APP_ID: {e}"))?;
        match &self.keys {
            AlipayKeyMode::PublicKey { alipay_public_keys } => {
                let texts: Vec<&str> = alipay_public_keys.iter().map(String::as_str).collect();
                let verifier = AnswerVerifier::from_public_key_texts(&texts)
                    .map_err(|e| format!("ALIPAY_PUBLIC_KEY: {e}"))?;
                Ok((signer, verifier))
            }
            AlipayKeyMode::Certificates {
                app_cert,
                alipay_public_certs,
                alipay_root_cert,
            } => {
                let certified =
                    cert_public_key(app_cert).map_err(|e| format!("ALIPAY_APP_CERT: {e}"))?;
                if certified != public_half {
                    return Err(
                        "ALIPAY_APP_CERT does not certify the key in ALIPAY_APP_PRIVATE_KEY".into(),
                    );
                }
                let signer = signer
                    .with_certificates(app_cert, alipay_root_cert)
                    .map_err(|e| e.to_string())?;
                let pems: Vec<&str> = alipay_public_certs.iter().map(String::as_str).collect();
                let verifier = AnswerVerifier::from_certificates(&pems)
                    .map_err(|e| format!("ALIPAY_PUBLIC_CERT: {e}"))?;
                Ok((signer, verifier))
            }
        }
    }
}

fn current_and_previous(current: String, previous: Option<String>) -> Vec<String> {
    std::iter::once(current).chain(previous).collect()
}

/// An absolute http(s) URL without query, fragment or spaces: the gateway
/// URL gets `?<params>` appended for page methods, and Alipay refuses a
/// `notify_url` with a query.
fn check_url(name: &str, url: &str) -> Result<(), String> {
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    let plain = url.len() <= MAX_URL_LEN
        && url.bytes().all(|b| b.is_ascii_graphic())
        && !url.contains(['?', '#']);
    if scheme_ok && plain {
        Ok(())
    } else {
        Err(format!(
            "{name} must be an absolute http(s) URL of at most {MAX_URL_LEN} characters, \
             without query or fragment"
        ))
    }
}
