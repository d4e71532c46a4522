//! Checking an OpenAPI answer before anything in it is believed
//! (GATEWAYS.md §2.2). The answer is `{"<method_with_underscores>_response":
//! {…},"sign":"…"}` (certificate mode adds `"alipay_cert_sn"`), or
//! `error_response` instead of the method's key. The signed content is the
//! exact text of the `*_response` value as received, from its `{` to its
//! matching `}`: found by a brace matcher that skips JSON strings (a `}`
//! inside a value does not end it) and keeps escapes such as `\/`.

use std::fmt;

use rsa::pkcs1v15::VerifyingKey;
use rsa::RsaPublicKey;
use serde_json::Value;
use sha2::Sha256;

use super::cert::{cert_public_key, cert_sn};
use super::rsa2;
use crate::keys::public_key_from_text;
use crate::notice::{check_key_count, ConfigError};

/// Longest answer body read.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;
const ERROR_RESPONSE: &str = "error_response";

/// Why an answer cannot be trusted. **Every variant is ambiguous for the
/// caller** (SPEC §4): the answer says nothing reliable about the money, so
/// the operation is neither done nor failed; query again later with the same
/// out-trade/refund/biz number, never settle, fail or retry under a new
/// number on it. In particular an answer without `sign` (`Unsigned`, which
/// gateway `error_response`s can be) is never a success, whatever its `code`
/// says. Messages never carry keys or the answer's contents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// Not JSON, too long, or without the method's `*_response` / `error_response`.
    #[error("answer is malformed: {0}")]
    Malformed(String),
    /// No `sign`, or an empty one.
    #[error("answer is not signed")]
    Unsigned,
    /// `sign` does not verify over the response text (or is not base64).
    #[error("answer signature does not verify")]
    BadSignature,
    /// Certificate mode: `alipay_cert_sn` is missing or names a certificate
    /// we are not configured with (Alipay rotated it): fail closed and alert.
    #[error("answer is signed by an unknown Alipay certificate (alipay_cert_sn {0:?})")]
    UnknownCertificate(Option<String>),
}

/// Alipay's keys for answers: public-key mode (`ALIPAY_PUBLIC_KEY`) or
/// certificate mode (`ALIPAY_PUBLIC_CERT`, then `_PREVIOUS`; each key known
/// by its certificate's SN).
#[derive(Clone)]
pub struct AnswerVerifier {
    keys: Keys,
}

#[derive(Clone)]
enum Keys {
    PublicKeys(Vec<VerifyingKey<Sha256>>),
    Certificates(Vec<(String, VerifyingKey<Sha256>)>),
}

impl fmt::Debug for AnswerVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("AnswerVerifier");
        match &self.keys {
            Keys::PublicKeys(keys) => s.field("public_keys", &keys.len()),
            Keys::Certificates(certs) => s.field(
                "cert_sns",
                &certs.iter().map(|(sn, _)| sn).collect::<Vec<_>>(),
            ),
        };
        s.finish()
    }
}

impl AnswerVerifier {
    /// Public-key mode: Alipay's keys (not the app's), current first.
    pub fn from_public_keys(keys: Vec<RsaPublicKey>) -> Result<Self, ConfigError> {
        check_key_count("alipay_public_keys", &keys)?;
        let keys = keys.into_iter().map(VerifyingKey::new).collect();
        Ok(AnswerVerifier {
            keys: Keys::PublicKeys(keys),
        })
    }

    /// Public-key mode with each key as PEM or bare base64 DER.
    pub fn from_public_key_texts(texts: &[&str]) -> Result<Self, ConfigError> {
        let keys = texts
            .iter()
            .map(|t| public_key_from_text(t))
            .collect::<Result<_, _>>()?;
        AnswerVerifier::from_public_keys(keys)
    }

    /// Certificate mode: Alipay's public certificates (PEM), current first.
    pub fn from_certificates(pems: &[&str]) -> Result<Self, ConfigError> {
        check_key_count("alipay_public_certs", pems)?;
        let bad = |_| ConfigError::Invalid("ALIPAY_PUBLIC_CERT");
        let certs = pems
            .iter()
            .map(|pem| {
                Ok((
                    cert_sn(pem).map_err(bad)?,
                    VerifyingKey::new(cert_public_key(pem).map_err(bad)?),
                ))
            })
            .collect::<Result<_, ConfigError>>()?;
        Ok(AnswerVerifier {
            keys: Keys::Certificates(certs),
        })
    }

    /// Verifies the raw answer body of a call of `method`
    /// (`alipay.trade.precreate`, …) and returns the `*_response` (or
    /// `error_response`) object, parsed from exactly the text that was
    /// verified. See `AnswerError` for what a refusal means.
    pub fn verify_answer(&self, raw_body: &[u8], method: &str) -> Result<Value, AnswerError> {
        if raw_body.len() > MAX_ANSWER_BYTES {
            return Err(AnswerError::Malformed("answer is too long".into()));
        }
        let raw = std::str::from_utf8(raw_body)
            .map_err(|_| AnswerError::Malformed("answer is not UTF-8".into()))?;
        let answer: Value = serde_json::from_str(raw)
            .map_err(|_| AnswerError::Malformed("answer is not JSON".into()))?;
        let method_key = format!("{}_response", method.replace('.', "_"));
        let key = if answer.get(&method_key).is_some() {
            method_key.as_str()
        } else {
            ERROR_RESPONSE
        };
        let content = response_text(raw, key)
            .ok_or_else(|| AnswerError::Malformed(format!("no {key} object")))?;
        let sign = answer
            .get("sign")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let sign = sign.ok_or(AnswerError::Unsigned)?;
        let keys = self.keys_for(answer.get("alipay_cert_sn"))?;
        let signature = rsa2::decode(sign).ok_or(AnswerError::BadSignature)?;
        if !rsa2::verifies(&keys, content, &signature) {
            return Err(AnswerError::BadSignature);
        }
        serde_json::from_str(content)
            .map_err(|_| AnswerError::Malformed(format!("{key} is not JSON")))
    }

    fn keys_for(&self, cert_sn: Option<&Value>) -> Result<Vec<VerifyingKey<Sha256>>, AnswerError> {
        match &self.keys {
            Keys::PublicKeys(keys) => Ok(keys.clone()),
            Keys::Certificates(certs) => {
                let sn = cert_sn.and_then(Value::as_str);
                certs
                    .iter()
                    .find(|(known, _)| Some(known.as_str()) == sn)
                    .map(|(_, key)| vec![key.clone()])
                    .ok_or_else(|| {
                        AnswerError::UnknownCertificate(sn.map(|s| s.chars().take(64).collect()))
                    })
            }
        }
    }
}

/// The exact text of the top-level member `key`'s object value in the JSON
/// object `raw` (already checked to be JSON), or `None`.
pub(crate) fn response_text<'a>(raw: &'a str, key: &str) -> Option<&'a str> {
    let bytes = raw.as_bytes();
    let mut i = skip_ws(bytes, 0);
    if bytes.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    loop {
        i = skip_ws(bytes, i);
        let name_end = value_end(bytes, i)?;
        let name = raw.get(i + 1..name_end - 1)?;
        i = skip_ws(bytes, name_end);
        if bytes.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(bytes, i + 1);
        let end = value_end(bytes, i)?;
        if name == key {
            return (bytes.get(i) == Some(&b'{'))
                .then(|| raw.get(i..end))
                .flatten();
        }
        i = skip_ws(bytes, end);
        match bytes.get(i) {
            Some(b',') => i += 1,
            _ => return None,
        }
    }
}

fn skip_ws(bytes: &[u8], mut i: usize) -> usize {
    while bytes.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
        i += 1;
    }
    i
}

/// Where the JSON value starting at `start` ends (exclusive): strings to
/// their unescaped closing quote, objects and arrays to their matching
/// bracket with strings skipped, scalars to the next delimiter.
fn value_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate().skip(start) {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => {
                    in_string = false;
                    if depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            b',' | b'}' | b']' if depth == 0 => return (i > start).then_some(i),
            b if depth == 0 && b.is_ascii_whitespace() => return (i > start).then_some(i),
            _ => {}
        }
    }
    (depth == 0 && !in_string && bytes.len() > start).then_some(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_response_text_is_exact_and_string_aware() {
        let raw = r#" { "sign" : "x}" , "a_response" : {"s":"a}b\"{","u":"http:\/\/x","n":[1,{"m":2}]} ,"z":1}"#;
        assert_eq!(
            response_text(raw, "a_response"),
            Some(r#"{"s":"a}b\"{","u":"http:\/\/x","n":[1,{"m":2}]}"#)
        );
        assert_eq!(response_text(raw, "sign"), None, "not an object");
        assert_eq!(response_text(raw, "missing"), None);
        assert_eq!(response_text(r#"{"n":12,"k":{}}"#, "k"), Some("{}"));
        assert_eq!(response_text("[]", "k"), None);
    }
}
