//! Development tokens: HS256 JWTs signed with `QRPAY_DEV_JWT_SECRET`, with
//! the claims the deployed authorizer passes on (`sub`, `shop_id`, `role`)
//! and an expiry. Only for the local stack: in AWS the authorizer checks the
//! identity provider's tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The local stack's default signing secret (development only).
pub const DEFAULT_DEV_SECRET: &str = "qrpay-dev-secret";
/// Longest token accepted.
pub const MAX_TOKEN_BYTES: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The operator (or `platform-admin`).
    pub sub: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub shop_id: Option<String>,
    /// `owner`, `staff` or `admin`.
    pub role: String,
    /// Space-separated scopes; platform admins carry `qrpay:admin`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub scope: Option<String>,
    /// Expiry, unix seconds.
    pub exp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("not a JWT")]
    Malformed,
    #[error("only HS256 tokens are accepted")]
    Algorithm,
    #[error("bad signature")]
    Signature,
    #[error("token expired")]
    Expired,
}

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

fn mac(secret: &[u8], signed: &str) -> Hmac<Sha256> {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(signed.as_bytes());
    mac
}

/// A token for `claims`.
pub fn sign(secret: &[u8], claims: &Claims) -> String {
    let body = serde_json::to_string(claims).unwrap_or_default();
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(HEADER),
        URL_SAFE_NO_PAD.encode(body)
    );
    let signature = mac(secret, &signed).finalize().into_bytes();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// The claims of a token signed with `secret` that has not expired at `now_s`.
pub fn verify(secret: &[u8], token: &str, now_s: i64) -> Result<Claims, JwtError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JwtError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(body), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header: serde_json::Value = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or(JwtError::Malformed)?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
        return Err(JwtError::Algorithm);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| JwtError::Malformed)?;
    let signed_len = token.len() - signature_len(token);
    mac(secret, &token[..signed_len])
        .verify_slice(&signature)
        .map_err(|_| JwtError::Signature)?;
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(body)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(JwtError::Malformed)?;
    if claims.exp <= now_s {
        return Err(JwtError::Expired);
    }
    Ok(claims)
}

/// Length of `.{signature}` at the end of a three-part token.
fn signature_len(token: &str) -> usize {
    token.rfind('.').map_or(0, |dot| token.len() - dot)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// shop-1's owner, expiring at `exp` (also the gateway tests' caller).
    pub(crate) fn owner_until(exp: i64) -> Claims {
        Claims {
            sub: "shop-1-owner".into(),
            shop_id: Some("shop-1".into()),
            role: "owner".into(),
            scope: None,
            exp,
        }
    }

    fn owner() -> Claims {
        owner_until(2_000)
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let token = sign(b"k", &owner());
        assert_eq!(verify(b"k", &token, 1_999), Ok(owner()));
        assert_eq!(verify(b"k", &token, 2_000), Err(JwtError::Expired));
    }

    #[test]
    fn tampering_other_keys_and_other_algorithms_are_refused() {
        let token = sign(b"k", &owner());
        assert_eq!(verify(b"other", &token, 0), Err(JwtError::Signature));
        let mut admin = owner();
        admin.role = "admin".into();
        let forged_body = URL_SAFE_NO_PAD.encode(serde_json::to_string(&admin).unwrap());
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{forged_body}.{}", parts[0], parts[2]);
        assert_eq!(verify(b"k", &forged, 0), Err(JwtError::Signature));
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            parts[1]
        );
        assert_eq!(verify(b"k", &none, 0), Err(JwtError::Algorithm));
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.!!.!!",
            &"x".repeat(MAX_TOKEN_BYTES + 1),
        ] {
            assert_eq!(verify(b"k", bad, 0), Err(JwtError::Malformed), "{bad:?}");
        }
    }
}
