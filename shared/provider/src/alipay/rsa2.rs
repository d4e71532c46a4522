//! Alipay's RSA2: SHA256withRSA (PKCS#1 v1.5) over UTF-8 text, the signature
//! in standard base64. One copy for notices, requests and answers.

use std::collections::BTreeMap;

use aes_gcm::aead::OsRng;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::signature::{RandomizedSigner, SignatureEncoding, Verifier};
use sha2::Sha256;

/// `sign`: base64 of the signature of `content`. PKCS#1 v1.5 is
/// deterministic; the random source only blinds the private-key operation.
pub(crate) fn sign(key: &SigningKey<Sha256>, content: &str) -> String {
    let signature = key.sign_with_rng(&mut OsRng, content.as_bytes());
    STANDARD.encode(signature.to_bytes())
}

/// A `sign` value read back, or `None` when it is not base64 of a signature.
pub(crate) fn decode(sign: &str) -> Option<Signature> {
    let bytes = STANDARD.decode(sign).ok()?;
    Signature::try_from(bytes.as_slice()).ok()
}

/// Whether `signature` is one of `keys`' over `content`.
pub(crate) fn verifies(
    keys: &[VerifyingKey<Sha256>],
    content: &str,
    signature: &Signature,
) -> bool {
    keys.iter()
        .any(|key| key.verify(content.as_bytes(), signature).is_ok())
}

/// `k=v&k=v` of the parameters sorted by key (a `BTreeMap` iterates in byte
/// order) with the raw values, leaving out the `skipped` keys and empty values.
pub(crate) fn content<'a>(
    params: impl IntoIterator<Item = (&'a String, &'a String)>,
    skipped: &[&str],
) -> String {
    params
        .into_iter()
        .filter(|(k, v)| !skipped.contains(&k.as_str()) && !v.is_empty())
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Alias so callers can name the map they sign.
pub(crate) type Params = BTreeMap<String, String>;
