//! Signed links for the buyer's other pages, built like the payment token
//! ([`crate::token`]) but never interchangeable with it or with each other:
//!
//! - receipts: `rc1.{order_id}.{shop_id}.{sig}` (`/receipts/{token}`), kept
//!   forever like the receipt itself;
//! - payout claims: `cl1.{payout_id}.{shop_id}.{expires_unix}.{sig}`
//!   (`/claim/{token}`), good until the transfer's own deadline.
//!
//! Each purpose signs with its own key, `HMAC-SHA256(secret, "qrpay:{tag}:v1")`,
//! derived from the one payment-token secret (so a rotation stays one
//! secret), and the tag is part of the signed text: a payment token with its
//! prefix swapped verifies as nothing, and so does a receipt relabelled as a
//! claim. `sig` is the unpadded base64url HMAC-SHA256 of everything before it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::token::{TokenError, MAX_ID_LEN, MAX_TOKEN_LEN};

type HmacSha256 = Hmac<Sha256>;

/// What a signed link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `rc1.{order_id}.{shop_id}`
    Receipt,
    /// `cl1.{payout_id}.{shop_id}.{expires_unix}`
    Claim,
}

impl Purpose {
    fn tag(self) -> &'static str {
        match self {
            Purpose::Receipt => "rc1",
            Purpose::Claim => "cl1",
        }
    }

    /// How many fields the tag is followed by (ids, then the expiry for claims).
    fn fields(self) -> usize {
        match self {
            Purpose::Receipt => 2,
            Purpose::Claim => 3,
        }
    }
}

/// What a verified receipt link names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptClaims {
    pub order_id: String,
    pub shop_id: String,
}

/// What a verified claim link names; the caller compares `expires_unix` with its clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimClaims {
    pub payout_id: String,
    pub shop_id: String,
    pub expires_unix: i64,
}

pub fn sign_receipt(secret: &[u8], order_id: &str, shop_id: &str) -> Result<String, TokenError> {
    check_id("order_id", order_id)?;
    check_id("shop_id", shop_id)?;
    sign(secret, Purpose::Receipt, &[order_id, shop_id])
}

pub fn verify_receipt(secrets: &[&[u8]], token: &str) -> Result<ReceiptClaims, TokenError> {
    let fields = verify(secrets, Purpose::Receipt, token)?;
    Ok(ReceiptClaims {
        order_id: fields[0].to_owned(),
        shop_id: fields[1].to_owned(),
    })
}

pub fn sign_claim(
    secret: &[u8],
    payout_id: &str,
    shop_id: &str,
    expires_unix: i64,
) -> Result<String, TokenError> {
    check_id("payout_id", payout_id)?;
    check_id("shop_id", shop_id)?;
    if !(0..=MAX_UNIX).contains(&expires_unix) {
        return Err(TokenError::Malformed);
    }
    sign(
        secret,
        Purpose::Claim,
        &[payout_id, shop_id, &expires_unix.to_string()],
    )
}

pub fn verify_claim(secrets: &[&[u8]], token: &str) -> Result<ClaimClaims, TokenError> {
    let fields = verify(secrets, Purpose::Claim, token)?;
    let expires_unix = parse_unix(fields[2]).ok_or(TokenError::Malformed)?;
    Ok(ClaimClaims {
        payout_id: fields[0].to_owned(),
        shop_id: fields[1].to_owned(),
        expires_unix,
    })
}

/// Year 9999's last second: the furthest expiry a claim may carry.
const MAX_UNIX: i64 = 253_402_300_799;

fn parse_unix(text: &str) -> Option<i64> {
    let canonical = !text.is_empty()
        && text.len() <= 12
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    let value: i64 = text.parse().ok().filter(|_| canonical)?;
    (value <= MAX_UNIX).then_some(value)
}

fn sign(secret: &[u8], purpose: Purpose, fields: &[&str]) -> Result<String, TokenError> {
    let message = format!("{}.{}", purpose.tag(), fields.join("."));
    let tag = mac(secret, purpose, &message)?.finalize().into_bytes();
    Ok(format!("{message}.{}", URL_SAFE_NO_PAD.encode(tag)))
}

/// The fields after the tag, once the signature matches one of `secrets`
/// (current first, then the previous one during a rotation).
fn verify<'t>(
    secrets: &[&[u8]],
    purpose: Purpose,
    token: &'t str,
) -> Result<Vec<&'t str>, TokenError> {
    if token.is_empty() {
        return Err(TokenError::Empty);
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::TooLong);
    }
    let (message, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let mut parts = message.split('.');
    if parts.next() != Some(purpose.tag()) {
        return Err(TokenError::UnsupportedVersion);
    }
    let fields: Vec<&str> = parts.collect();
    if fields.len() != purpose.fields() {
        return Err(TokenError::Malformed);
    }
    for id in &fields[..2] {
        check_id("id", id).map_err(|_| TokenError::Malformed)?;
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenError::BadSignature)?;
    let mut usable = secrets.iter().filter(|s| !s.is_empty()).peekable();
    if usable.peek().is_none() {
        return Err(TokenError::NoSecrets);
    }
    for secret in usable {
        if mac(secret, purpose, message)?
            .verify_slice(&signature)
            .is_ok()
        {
            return Ok(fields);
        }
    }
    Err(TokenError::BadSignature)
}

/// The purpose's own key, then the MAC of `message` under it.
fn mac(secret: &[u8], purpose: Purpose, message: &str) -> Result<HmacSha256, TokenError> {
    if secret.is_empty() {
        return Err(TokenError::InvalidSecret);
    }
    let mut derive = HmacSha256::new_from_slice(secret).map_err(|_| TokenError::InvalidSecret)?;
    derive.update(format!("qrpay:{}:v1", purpose.tag()).as_bytes());
    let key = derive.finalize().into_bytes();
    let mut mac = HmacSha256::new_from_slice(&key).map_err(|_| TokenError::InvalidSecret)?;
    mac.update(message.as_bytes());
    Ok(mac)
}

fn check_id(field: &'static str, id: &str) -> Result<(), TokenError> {
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
    use crate::token;

    const CURRENT: &[u8] = b"current-secret-0123456789abcdef";
    const PREVIOUS: &[u8] = b"previous-secret-0123456789abcdef";

    #[test]
    fn a_receipt_link_names_its_order_and_survives_a_rotation() {
        let link = sign_receipt(CURRENT, "ord_01JD5Q7ZK3", "shop-1").unwrap();
        assert!(link.starts_with("rc1.ord_01JD5Q7ZK3.shop-1."), "{link}");
        let claims = ReceiptClaims {
            order_id: "ord_01JD5Q7ZK3".into(),
            shop_id: "shop-1".into(),
        };
        assert_eq!(verify_receipt(&[CURRENT], &link), Ok(claims.clone()));
        assert_eq!(verify_receipt(&[PREVIOUS, CURRENT], &link), Ok(claims));
        assert_eq!(
            verify_receipt(&[PREVIOUS], &link),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn tampering_with_any_part_of_a_receipt_link_is_refused() {
        let link = sign_receipt(CURRENT, "ord_1", "shop-1").unwrap();
        let other_order = link.replacen("ord_1", "ord_2", 1);
        let other_shop = link.replacen("shop-1", "shop-2", 1);
        assert_eq!(
            verify_receipt(&[CURRENT], &other_order),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            verify_receipt(&[CURRENT], &other_shop),
            Err(TokenError::BadSignature)
        );
        let mut flipped = link.clone().into_bytes();
        let last = flipped.len() - 2;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        assert!(verify_receipt(&[CURRENT], &String::from_utf8(flipped).unwrap()).is_err());
        for bad in ["", "rc1", "rc1.a.b", "rc1.a b.shop.sig", "rc1.a.b.c.d"] {
            assert!(verify_receipt(&[CURRENT], bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            verify_receipt(&[CURRENT], &"x".repeat(300)),
            Err(TokenError::TooLong)
        );
        assert_eq!(verify_receipt(&[b""], &link), Err(TokenError::NoSecrets));
    }

    #[test]
    fn no_link_verifies_as_another_purpose_even_with_its_prefix_swapped() {
        let pay = token::sign(CURRENT, "ord_1", "shop-1").unwrap();
        let receipt = sign_receipt(CURRENT, "ord_1", "shop-1").unwrap();
        let claim = sign_claim(CURRENT, "po_1", "shop-1", 1_800_000_000).unwrap();
        // A payment token relabelled as a receipt: same ids, other key.
        let relabelled = pay.replacen("v1.", "rc1.", 1);
        assert_eq!(
            verify_receipt(&[CURRENT], &relabelled),
            Err(TokenError::BadSignature)
        );
        // A receipt relabelled as a payment token, and as a claim.
        assert_eq!(
            token::verify(&[CURRENT], &receipt.replacen("rc1.", "v1.", 1)),
            Err(TokenError::BadSignature)
        );
        assert!(verify_claim(&[CURRENT], &receipt).is_err());
        assert_eq!(
            verify_receipt(&[CURRENT], &claim),
            Err(TokenError::UnsupportedVersion)
        );
    }

    #[test]
    fn a_claim_link_carries_its_expiry_in_canonical_digits() {
        let link = sign_claim(CURRENT, "po_01JD", "shop-1", 1_800_000_000).unwrap();
        assert!(link.starts_with("cl1.po_01JD.shop-1.1800000000."), "{link}");
        assert_eq!(
            verify_claim(&[CURRENT], &link),
            Ok(ClaimClaims {
                payout_id: "po_01JD".into(),
                shop_id: "shop-1".into(),
                expires_unix: 1_800_000_000,
            })
        );
        let later = link.replacen("1800000000", "1900000000", 1);
        assert_eq!(
            verify_claim(&[CURRENT], &later),
            Err(TokenError::BadSignature)
        );
        assert_eq!(parse_unix("01800000000"), None);
        assert_eq!(parse_unix("-1"), None);
        assert_eq!(parse_unix("999999999999"), None);
        assert_eq!(parse_unix("0"), Some(0));
        assert_eq!(
            sign_claim(CURRENT, "po_1", "shop-1", -5),
            Err(TokenError::Malformed)
        );
    }
}
