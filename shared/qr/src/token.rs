//! Tamper-evident payment token carried by the payment URL (SPEC §3).
//!
//! Format: `v1.{qr_id}.{shop_id}.{sig}`, where `sig` is the unpadded
//! base64url HMAC-SHA256 of `v1.{qr_id}.{shop_id}`. The ids are plain
//! `[A-Za-z0-9_-]`, so `.` can only ever be a separator. The token names
//! the code, it does not authorise anything: the handler still loads the code
//! and checks it is live (a revoked code stops working at once).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

/// The only version this module signs and accepts.
pub const TOKEN_VERSION: &str = "v1";
/// Longest token accepted: bounds the work done on hostile input
/// (2 + 64 + 64 + 43 + 3 separators = 176 for the longest valid one).
pub const MAX_TOKEN_LEN: usize = 256;
/// Longest `qr_id` or `shop_id`.
pub const MAX_ID_LEN: usize = 64;

type HmacSha256 = Hmac<Sha256>;

/// Why a token could not be made or was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TokenError {
    #[error("{field} must be 1 to 64 characters of A-Z a-z 0-9 _ -")]
    InvalidId { field: &'static str },
    #[error("signing secret is empty")]
    InvalidSecret,
    #[error("no usable verification secret")]
    NoSecrets,
    #[error("token is empty")]
    Empty,
    #[error("token is longer than 256 characters")]
    TooLong,
    #[error("token is not v1.<qr_id>.<shop_id>.<signature>")]
    Malformed,
    #[error("token version is not v1")]
    UnsupportedVersion,
    #[error("token signature does not match")]
    BadSignature,
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    pub qr_id: String,
    pub shop_id: String,
}

/// Signs a token for one collection code of one shop.
pub fn sign(secret: &[u8], qr_id: &str, shop_id: &str) -> Result<String, TokenError> {
    check_id("qr_id", qr_id)?;
    check_id("shop_id", shop_id)?;
    let message = signing_input(qr_id, shop_id);
    let tag = mac(secret, &message)?.finalize().into_bytes();
    Ok(format!("{message}.{}", URL_SAFE_NO_PAD.encode(tag)))
}

/// Verifies a token against any of `secrets` (current first, then previous
/// ones during rotation). Empty secrets are skipped, never trusted.
pub fn verify(secrets: &[&[u8]], token: &str) -> Result<TokenClaims, TokenError> {
    let (claims, signature) = parse(token)?;
    let message = signing_input(&claims.qr_id, &claims.shop_id);
    let mut usable = secrets
        .iter()
        .filter(|secret| !secret.is_empty())
        .peekable();
    if usable.peek().is_none() {
        return Err(TokenError::NoSecrets);
    }
    for secret in usable {
        // `verify_slice` compares in constant time.
        if mac(secret, &message)?.verify_slice(&signature).is_ok() {
            return Ok(claims);
        }
    }
    Err(TokenError::BadSignature)
}

/// The URL a buyer's phone opens: `{base_url}/pay/{token}`.
pub fn payment_url(base_url: &str, token: &str) -> String {
    format!("{}/pay/{token}", base_url.trim_end_matches('/'))
}

/// Strict split into claims and signature bytes; nothing is trusted yet.
fn parse(token: &str) -> Result<(TokenClaims, Vec<u8>), TokenError> {
    if token.is_empty() {
        return Err(TokenError::Empty);
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::TooLong);
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [version, qr_id, shop_id, signature] = parts[..] else {
        return Err(TokenError::Malformed);
    };
    if version != TOKEN_VERSION {
        return Err(TokenError::UnsupportedVersion);
    }
    check_id("qr_id", qr_id).map_err(|_| TokenError::Malformed)?;
    check_id("shop_id", shop_id).map_err(|_| TokenError::Malformed)?;
    // The default engine refuses non-canonical trailing bits, so every
    // signature has exactly one spelling.
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenError::BadSignature)?;
    let claims = TokenClaims {
        qr_id: qr_id.to_owned(),
        shop_id: shop_id.to_owned(),
    };
    Ok((claims, signature))
}

/// One place for what the signature covers.
fn signing_input(qr_id: &str, shop_id: &str) -> String {
    format!("{TOKEN_VERSION}.{qr_id}.{shop_id}")
}

fn mac(secret: &[u8], message: &str) -> Result<HmacSha256, TokenError> {
    if secret.is_empty() {
        return Err(TokenError::InvalidSecret);
    }
    let mut mac = HmacSha256::new_from_slice(secret).map_err(|_| TokenError::InvalidSecret)?;
    mac.update(message.as_bytes());
    Ok(mac)
}

pub(crate) fn check_id(field: &'static str, id: &str) -> Result<(), TokenError> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    if (1..=MAX_ID_LEN).contains(&id.len()) && id.bytes().all(allowed) {
        Ok(())
    } else {
        Err(TokenError::InvalidId { field })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CURRENT: &[u8] = b"current-secret-0123456789abcdef";
    const PREVIOUS: &[u8] = b"previous-secret-0123456789abcdef";
    const QR_ID: &str = "qr_01JD5Q7ZK3M9V2XW8R4T6Y1B0C";
    const SHOP_ID: &str = "shop-1";

    fn token() -> String {
        sign(CURRENT, QR_ID, SHOP_ID).unwrap()
    }

    fn claims() -> TokenClaims {
        TokenClaims {
            qr_id: QR_ID.to_owned(),
            shop_id: SHOP_ID.to_owned(),
        }
    }

    #[test]
    fn signed_token_round_trips() {
        let token = token();
        assert!(token.starts_with("v1.qr_01JD5Q7ZK3M9V2XW8R4T6Y1B0C.shop-1."));
        assert_eq!(token.rsplit('.').next().unwrap().len(), 43);
        assert_eq!(verify(&[CURRENT], &token), Ok(claims()));
    }

    #[test]
    fn signature_is_base64url_of_hmac_sha256() {
        // Known answer computed independently with Python:
        // base64.urlsafe_b64encode(hmac.new(b"key", b"v1.a.b", "sha256").digest()).rstrip(b"=")
        assert_eq!(
            sign(b"key", "a", "b").unwrap(),
            "v1.a.b.eNrufWMlO5yyhivRCbW_K2O9jB5cCSi324L9RzhgtEw"
        );
    }

    #[test]
    fn previous_secret_is_accepted_during_rotation() {
        let old_token = sign(PREVIOUS, QR_ID, SHOP_ID).unwrap();
        assert_eq!(verify(&[CURRENT, PREVIOUS], &old_token), Ok(claims()));
    }

    #[test]
    fn wrong_secret_is_refused() {
        assert_eq!(
            verify(&[b"someone-else".as_slice()], &token()),
            Err(TokenError::BadSignature)
        );
        assert_eq!(verify(&[PREVIOUS], &token()), Err(TokenError::BadSignature));
    }

    #[test]
    fn no_usable_secret_is_an_error() {
        assert_eq!(verify(&[], &token()), Err(TokenError::NoSecrets));
        assert_eq!(
            verify(&[b"".as_slice()], &token()),
            Err(TokenError::NoSecrets)
        );
        assert_eq!(sign(b"", QR_ID, SHOP_ID), Err(TokenError::InvalidSecret));
    }

    #[test]
    fn any_single_changed_character_is_refused() {
        let token = token();
        for at in 0..token.len() {
            for replacement in ["A", "a", "0", "-", "_", ".", "~"] {
                if &token[at..at + 1] == replacement {
                    continue;
                }
                let mut tampered = token.clone();
                tampered.replace_range(at..at + 1, replacement);
                assert!(
                    verify(&[CURRENT, PREVIOUS], &tampered).is_err(),
                    "accepted {tampered}"
                );
            }
        }
    }

    #[test]
    fn truncated_tokens_are_refused() {
        let token = token();
        for end in 0..token.len() {
            assert!(verify(&[CURRENT], &token[..end]).is_err(), "prefix {end}");
        }
    }

    #[test]
    fn empty_and_oversize_tokens_are_refused() {
        assert_eq!(verify(&[CURRENT], ""), Err(TokenError::Empty));
        let oversize = format!("{}{}", token(), "A".repeat(MAX_TOKEN_LEN));
        assert_eq!(verify(&[CURRENT], &oversize), Err(TokenError::TooLong));
    }

    #[test]
    fn other_versions_are_refused() {
        let v2 = token().replacen("v1.", "v2.", 1);
        assert_eq!(verify(&[CURRENT], &v2), Err(TokenError::UnsupportedVersion));
        let upper = token().replacen("v1.", "V1.", 1);
        assert_eq!(
            verify(&[CURRENT], &upper),
            Err(TokenError::UnsupportedVersion)
        );
    }

    #[test]
    fn wrong_number_of_parts_is_malformed() {
        let token = token();
        assert_eq!(
            verify(&[CURRENT], &format!("{token}.extra")),
            Err(TokenError::Malformed)
        );
        assert_eq!(verify(&[CURRENT], "v1.a.b"), Err(TokenError::Malformed));
        assert_eq!(verify(&[CURRENT], "...."), Err(TokenError::Malformed));
        assert_eq!(verify(&[CURRENT], "v1...sig"), Err(TokenError::Malformed));
    }

    #[test]
    fn padded_or_standard_base64_signature_is_refused() {
        let token = token();
        assert_eq!(
            verify(&[CURRENT], &format!("{token}=")),
            Err(TokenError::BadSignature)
        );
        let standard = token.replace('-', "+").replace('_', "/");
        if standard != token {
            assert!(verify(&[CURRENT], &standard).is_err());
        }
    }

    #[test]
    fn ids_are_validated_when_signing() {
        for (qr_id, shop_id, field) in [
            ("", SHOP_ID, "qr_id"),
            ("qr.1", SHOP_ID, "qr_id"),
            ("qr 1", SHOP_ID, "qr_id"),
            ("二维码", SHOP_ID, "qr_id"),
            (QR_ID, "", "shop_id"),
            (QR_ID, "shop/1", "shop_id"),
        ] {
            assert_eq!(
                sign(CURRENT, qr_id, shop_id),
                Err(TokenError::InvalidId { field })
            );
        }
        let longest = "q".repeat(MAX_ID_LEN);
        let token = sign(CURRENT, &longest, &longest).unwrap();
        assert!(token.len() <= MAX_TOKEN_LEN);
        assert!(verify(&[CURRENT], &token).is_ok());
        assert_eq!(
            sign(CURRENT, &"q".repeat(MAX_ID_LEN + 1), SHOP_ID),
            Err(TokenError::InvalidId { field: "qr_id" })
        );
    }

    #[test]
    fn payment_url_joins_base_and_token_with_one_slash() {
        assert_eq!(
            payment_url("https://pay.qrpay.example/", "v1.a.b.c"),
            "https://pay.qrpay.example/pay/v1.a.b.c"
        );
        assert_eq!(
            payment_url("https://pay.qrpay.example", "v1.a.b.c"),
            "https://pay.qrpay.example/pay/v1.a.b.c"
        );
    }
}
