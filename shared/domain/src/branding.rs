//! How a shop presents itself to buyers (seed 003: the merchant's own brand
//! on the payment page, receipts with the shop's code for next time): the
//! name a buyer sees and the link printed on its receipts. Both optional;
//! without them the buyer sees the shop's name and no link.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::text::{ShopName, TextError};

/// Longest receipt link kept.
pub const MAX_LINK_CHARS: usize = 256;

/// What buyers see of a shop (`display_name`, `receipt_link` in the shop setup).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Branding {
    /// The name on the buyer's pages and receipts; the shop's name when unset.
    pub display_name: Option<ShopName>,
    /// The shop's own page or code for next time, shown on receipts.
    pub receipt_link: Option<ShopLink>,
}

/// A link a shop prints on its receipts: `https://` only (never
/// `javascript:` or a plain-http page a network can rewrite), printable
/// ASCII without quotes, angle brackets or spaces, at most 256 characters.
/// The host is a plain DNS name: labels of letters, digits and inner
/// hyphens (at most 63 each) joined by dots, with no user part (which
/// makes `https://bank.example@evil.example` look like the bank's), port
/// or bracketed address; then nothing, or a path, query or fragment.
#[derive(Clone, PartialEq, Eq)]
pub struct ShopLink(String);

/// Why a receipt link was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("must start with https://")]
    NotHttps,
    #[error("longer than {MAX_LINK_CHARS} characters")]
    TooLong,
    #[error("may only hold printable ASCII without spaces, quotes or angle brackets")]
    BadCharacter,
    #[error("must name its host as a plain DNS name (letters, digits, hyphens and dots), with no user, port or address in brackets")]
    BadHost,
}

impl ShopLink {
    pub fn parse(text: &str) -> Result<ShopLink, LinkError> {
        if text.len() > MAX_LINK_CHARS {
            return Err(LinkError::TooLong);
        }
        let allowed =
            |b: u8| b.is_ascii_graphic() && !matches!(b, b'"' | b'\'' | b'<' | b'>' | b'`' | b'\\');
        if !text.bytes().all(allowed) {
            return Err(LinkError::BadCharacter);
        }
        let host_start = text.strip_prefix("https://").ok_or(LinkError::NotHttps)?;
        if host_start.is_empty() || host_start.starts_with('/') {
            return Err(LinkError::NotHttps);
        }
        let host = host_start.split(['/', '?', '#']).next().unwrap_or_default();
        if !host.split('.').all(is_dns_label) {
            return Err(LinkError::BadHost);
        }
        Ok(ShopLink(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 1–63 letters, digits and hyphens, not starting or ending with a hyphen.
fn is_dns_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    (1..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        && bytes.first() != Some(&b'-')
        && bytes.last() != Some(&b'-')
}

impl fmt::Debug for ShopLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for ShopLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The stored form: plain strings, checked again when read back.
#[derive(Serialize, Deserialize)]
struct StoredBranding {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    receipt_link: Option<String>,
}

/// Why stored branding could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum BrandingError {
    #[error("branding is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("display_name {0}")]
    Name(TextError),
    #[error("receipt_link {0}")]
    Link(LinkError),
}

impl Branding {
    /// The stored JSON form (`{}` when nothing is set).
    pub fn to_json(&self) -> String {
        let stored = StoredBranding {
            display_name: self.display_name.as_ref().map(|n| n.as_str().to_owned()),
            receipt_link: self.receipt_link.as_ref().map(|l| l.as_str().to_owned()),
        };
        serde_json::to_string(&stored).unwrap_or_else(|_| "{}".to_owned())
    }

    pub fn from_json(text: &str) -> Result<Branding, BrandingError> {
        let stored: StoredBranding = serde_json::from_str(text)?;
        Ok(Branding {
            display_name: stored
                .display_name
                .map(|n| ShopName::parse(&n))
                .transpose()
                .map_err(BrandingError::Name)?,
            receipt_link: match stored.receipt_link.map(|l| ShopLink::parse(&l)).transpose() {
                Ok(link) => link,
                // Kept before hosts were checked (a port, a user part):
                // withheld from buyers, and the shop still reads.
                Err(LinkError::BadHost) => None,
                Err(e) => return Err(BrandingError::Link(e)),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_https_links_are_kept() {
        assert_eq!(
            ShopLink::parse("https://shop.example.cn/next?from=receipt")
                .unwrap()
                .as_str(),
            "https://shop.example.cn/next?from=receipt"
        );
        for (text, error) in [
            ("http://shop.example.cn/", LinkError::NotHttps),
            ("javascript:alert(1)", LinkError::NotHttps),
            ("https://", LinkError::NotHttps),
            ("https:///path", LinkError::NotHttps),
            ("https://a.cn/\"onmouseover=x", LinkError::BadCharacter),
            ("https://a.cn/<script>", LinkError::BadCharacter),
            ("https://a.cn/ space", LinkError::BadCharacter),
            ("https://店铺.cn/", LinkError::BadCharacter),
            ("https://[x", LinkError::BadHost),
            ("https://[::1]/", LinkError::BadHost),
            ("https://bank.example@evil.example/", LinkError::BadHost),
            ("https://shop.example.cn:8443/", LinkError::BadHost),
            ("https://shop..cn/", LinkError::BadHost),
            ("https://-shop.cn/", LinkError::BadHost),
            ("https://shop-.cn?x", LinkError::BadHost),
            ("https://shop.cn./", LinkError::BadHost),
            ("https://?q", LinkError::BadHost),
        ] {
            assert_eq!(ShopLink::parse(text), Err(error), "{text}");
        }
        for text in [
            "https://a",
            "https://Shop-1.example.CN",
            "https://shop.example.cn?from=receipt",
            "https://shop.example.cn#menu",
        ] {
            assert!(ShopLink::parse(text).is_ok(), "{text}");
        }
        let label = "a".repeat(63);
        assert!(ShopLink::parse(&format!("https://{label}.cn/")).is_ok());
        assert_eq!(
            ShopLink::parse(&format!("https://{label}a.cn/")),
            Err(LinkError::BadHost)
        );
        let longest = format!("https://a.cn/{}", "x".repeat(MAX_LINK_CHARS - 13));
        assert_eq!(longest.len(), MAX_LINK_CHARS);
        assert!(ShopLink::parse(&longest).is_ok());
        assert_eq!(
            ShopLink::parse(&format!("{longest}x")),
            Err(LinkError::TooLong)
        );
    }

    #[test]
    fn branding_round_trips_through_its_stored_form_and_is_checked_on_the_way_back() {
        let branding = Branding {
            display_name: Some(ShopName::parse("茶小铺 · 南京西路店").unwrap()),
            receipt_link: Some(ShopLink::parse("https://tea.example.cn/").unwrap()),
        };
        let text = branding.to_json();
        assert_eq!(Branding::from_json(&text).unwrap(), branding);
        assert_eq!(Branding::default().to_json(), "{}");
        assert_eq!(Branding::from_json("{}").unwrap(), Branding::default());
        assert!(matches!(
            Branding::from_json(r#"{"receipt_link":"javascript:x"}"#),
            Err(BrandingError::Link(LinkError::NotHttps))
        ));
        // A link kept before hosts were checked is withheld, not an
        // unreadable shop.
        let old = Branding::from_json(
            r#"{"display_name":"茶小铺","receipt_link":"https://tea.example.cn:8443/"}"#,
        )
        .unwrap();
        assert_eq!(old.receipt_link, None);
        assert_eq!(old.display_name, Some(ShopName::parse("茶小铺").unwrap()));
    }
}
