//! The provider's side of every notice: what a signer produces and the
//! helpers signers share. Compiled only with the `signers` feature (tests and
//! the local stack), never into a deployed function.

use chrono::{DateTime, Utc};
use qrpay_domain::{CollectionEvent, Provider};

/// A notice as a provider would POST it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNotice {
    pub headers: Vec<(String, String)>,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl SignedNotice {
    /// The headers as a request would carry them, `Content-Type` included.
    /// Names or values that are not valid HTTP are left out.
    pub fn header_map(&self) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        let pairs = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .chain([("content-type", self.content_type)]);
        for (name, value) in pairs {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_str(value),
            ) {
                map.append(name, value);
            }
        }
        map
    }
}

/// The provider's side: produces genuine notices for any event, for tests and
/// the local stack. `verify(sign(e))` gives back `e` (times to the second;
/// the payer only where the format carries one).
pub trait NoticeSigner: Send + Sync {
    fn provider(&self) -> Provider;
    fn sign(&self, event: &CollectionEvent, now: DateTime<Utc>) -> SignedNotice;
}

/// A random token of `len` letters and digits (nonces), from the OS.
pub(crate) fn random_token(len: usize) -> String {
    use aes_gcm::aead::rand_core::RngCore;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; len];
    aes_gcm::aead::OsRng.fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

/// An instant on Beijing's wall clock, as providers write times.
pub(crate) fn in_beijing(instant: DateTime<Utc>) -> DateTime<chrono_tz::Tz> {
    instant.with_timezone(&chrono_tz::Asia::Shanghai)
}
