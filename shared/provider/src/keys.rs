//! RSA keys from the text forms providers hand out: PEM (SPKI or PKCS#1 for
//! public keys, PKCS#8 or PKCS#1 for private keys), or the bare base64 DER
//! that Alipay's console shows; a public key may also come as the X.509
//! certificate that carries it (WeChat Pay's platform certificate, whose
//! public key signs notices in certificate mode:
//! https://pay.weixin.qq.com/doc/v3/merchant/4012068814). Keys shorter than
//! 2048 bits are refused.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use qrpay_domain::Secret;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};

/// Shortest RSA modulus accepted (bits).
pub const MIN_RSA_BITS: usize = 2048;
/// Longest key text read.
const MAX_KEY_TEXT: usize = 16 * 1024;

/// Never carries key material: only what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("{0} is not a readable RSA key (PEM SPKI/PKCS#1/PKCS#8/certificate or base64 DER)")]
    Unreadable(&'static str),
    #[error("RSA keys must be at least {MIN_RSA_BITS} bits")]
    TooShort,
}

/// A public key from SPKI PEM (`BEGIN PUBLIC KEY`), PKCS#1 PEM
/// (`BEGIN RSA PUBLIC KEY`), an X.509 certificate PEM (`BEGIN CERTIFICATE`:
/// the certificate's own public key) or bare base64 of SPKI DER. A
/// certificate's validity dates and issuer are not checked here: the key is
/// configured by hand, as a public key would be.
pub fn public_key_from_text(text: &str) -> Result<RsaPublicKey, KeyError> {
    const WHAT: &str = "public key";
    let text = text.trim();
    if text.len() > MAX_KEY_TEXT {
        return Err(KeyError::Unreadable(WHAT));
    }
    if text.starts_with("-----BEGIN CERTIFICATE") {
        return crate::alipay::cert_public_key(text).map_err(|e| match e {
            crate::alipay::CertError::Key(KeyError::TooShort) => KeyError::TooShort,
            _ => KeyError::Unreadable(WHAT),
        });
    }
    let key = if text.starts_with("-----BEGIN RSA PUBLIC KEY") {
        RsaPublicKey::from_pkcs1_pem(text).ok()
    } else if text.starts_with("-----BEGIN") {
        RsaPublicKey::from_public_key_pem(text).ok()
    } else {
        bare_der(text).and_then(|der| RsaPublicKey::from_public_key_der(&der).ok())
    };
    check_key_size(key.ok_or(KeyError::Unreadable(WHAT))?)
}

/// A private key from PKCS#8 PEM (`BEGIN PRIVATE KEY`), PKCS#1 PEM
/// (`BEGIN RSA PRIVATE KEY`) or bare base64 of PKCS#8 DER.
pub fn private_key_from_text(text: &Secret) -> Result<RsaPrivateKey, KeyError> {
    const WHAT: &str = "private key";
    let text = text.expose().trim();
    if text.len() > MAX_KEY_TEXT {
        return Err(KeyError::Unreadable(WHAT));
    }
    let key = if text.starts_with("-----BEGIN RSA PRIVATE KEY") {
        RsaPrivateKey::from_pkcs1_pem(text).ok()
    } else if text.starts_with("-----BEGIN") {
        RsaPrivateKey::from_pkcs8_pem(text).ok()
    } else {
        bare_der(text).and_then(|der| RsaPrivateKey::from_pkcs8_der(&der).ok())
    };
    let key = key.ok_or(KeyError::Unreadable(WHAT))?;
    check_key_size(key.to_public_key())?;
    Ok(key)
}

/// Base64 with any line breaks or spaces removed.
fn bare_der(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(compact).ok()
}

pub(crate) fn check_key_size(key: RsaPublicKey) -> Result<RsaPublicKey, KeyError> {
    if key.size() * 8 < MIN_RSA_BITS {
        return Err(KeyError::TooShort);
    }
    Ok(key)
}
