//! RSA keys from the text forms providers hand out: PEM (SPKI or PKCS#1 for
//! public keys, PKCS#8 or PKCS#1 for private keys), or the bare base64 DER
//! that Alipay's console shows. Keys shorter than 2048 bits are refused.

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
    #[error("{0} is not a readable RSA key (PEM SPKI/PKCS#1/PKCS#8 or base64 DER)")]
    Unreadable(&'static str),
    #[error("RSA keys must be at least {MIN_RSA_BITS} bits")]
    TooShort,
}

/// A public key from SPKI PEM (`BEGIN PUBLIC KEY`), PKCS#1 PEM
/// (`BEGIN RSA PUBLIC KEY`) or bare base64 of SPKI DER.
pub fn public_key_from_text(text: &str) -> Result<RsaPublicKey, KeyError> {
    const WHAT: &str = "public key";
    let text = text.trim();
    if text.len() > MAX_KEY_TEXT {
        return Err(KeyError::Unreadable(WHAT));
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
