//! The sandbox provider's callback signature (SPEC §5):
//! `Qrpay-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "t.body")>`.
//! Verified over the raw body bytes before anything is parsed, in constant
//! time, within a time window, against the current and the previous secret
//! (key rotation).

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const HEADER: &str = "qrpay-signature";
/// How far a signature's time may be from ours (one window for every provider).
pub use crate::notice::TOLERANCE_S;
/// Longest header accepted.
const MAX_HEADER_LEN: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature header is missing or malformed")]
    Malformed,
    #[error("signature time is more than {TOLERANCE_S} s from now")]
    Stale,
    #[error("signature does not match")]
    Mismatch,
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value for `body` signed at `timestamp`: the sandbox's side,
/// for tests and the local stack (`signers` feature).
#[cfg(any(test, feature = "signers"))]
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret.as_bytes(), timestamp, body)
        .finalize()
        .into_bytes();
    format!("t={timestamp},v1={}", hex::encode(tag))
}

/// Checks `header` for `body` at `now` against any of `secrets`.
pub fn verify(secrets: &[&str], header: &str, body: &[u8], now: i64) -> Result<(), SignatureError> {
    if header.len() > MAX_HEADER_LEN {
        return Err(SignatureError::Malformed);
    }
    let mut timestamp = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => {
                timestamp = Some(t.parse::<i64>().map_err(|_| SignatureError::Malformed)?)
            }
            Some(("v1", v)) => tags.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if tags.is_empty() {
        return Err(SignatureError::Malformed);
    }
    // Saturating: a signed time near i64::MIN or MAX is stale, not a panic.
    if now.saturating_sub(timestamp).unsigned_abs() > TOLERANCE_S.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    let matches = secrets.iter().any(|secret| {
        tags.iter().any(|tag| {
            mac(secret.as_bytes(), timestamp, body)
                .verify_slice(tag)
                .is_ok()
        })
    });
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The signed time (`t=`) of a header, when it has a readable one.
pub fn signed_at(header: &str) -> Option<i64> {
    if header.len() > MAX_HEADER_LEN {
        return None;
    }
    header
        .split(',')
        .find_map(|part| part.trim().strip_prefix("t="))
        .and_then(|t| t.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_780_000_000;

    #[test]
    fn a_signed_body_verifies_with_the_current_or_previous_secret() {
        let header = sign("old-secret", NOW, b"{\"a\":1}");
        assert_eq!(
            verify(
                &["new-secret", "old-secret"],
                &header,
                b"{\"a\":1}",
                NOW + 10
            ),
            Ok(())
        );
        assert_eq!(
            verify(&["new-secret"], &header, b"{\"a\":1}", NOW),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn tampering_staleness_and_garbage_are_refused() {
        let header = sign("s", NOW, b"body");
        assert_eq!(
            verify(&["s"], &header, b"bodY", NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&["s"], &header, b"body", NOW + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(&["s"], &header, b"body", NOW - 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(verify(&["s"], &header, b"body", NOW + 300), Ok(()));
        for bad in [
            "",
            "t=abc,v1=00",
            "v1=00",
            "t=1",
            "t=1,v1=zz",
            &"x".repeat(2000),
        ] {
            assert_eq!(
                verify(&["s"], bad, b"body", NOW),
                Err(SignatureError::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn extreme_signed_times_are_stale_not_a_panic() {
        for t in [i64::MIN, i64::MAX] {
            let header = sign("s", t, b"body");
            assert_eq!(
                verify(&["s"], &header, b"body", NOW),
                Err(SignatureError::Stale)
            );
            assert_eq!(signed_at(&header), Some(t));
        }
    }
}
