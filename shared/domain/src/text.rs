//! Free text we keep (shop names, payout notes, QR descriptions): bounded in
//! characters and free of control characters, checked once when it is
//! parsed, so a value past the edge cannot be over its limit (TIGER_STYLE:
//! a limit on everything).

use std::fmt;

use serde::{Serialize, Serializer};

/// Why a text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("longer than {max} characters")]
    TooLong { max: usize },
    #[error("contains control characters")]
    ControlCharacters,
}

impl TextError {
    /// The refusal as a request field's message ("note is longer than 200 characters").
    pub fn for_field(&self, field: &str) -> String {
        match self {
            TextError::TooLong { max } => format!("{field} is longer than {max} characters"),
            TextError::ControlCharacters => format!("{field} contains control characters"),
        }
    }
}

/// A text of at most `N` characters (Unicode scalar values), none of them a
/// control character. Shown and stored as the plain string.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BoundedText<const N: usize>(String);

/// A shop's name (`PUT /admin/shops/{id}`).
pub type ShopName = BoundedText<100>;
/// The merchant's note on a payout.
pub type PayoutNote = BoundedText<200>;
/// The description on a QR code and the order it collects for.
pub type QrDescription = BoundedText<128>;

impl<const N: usize> BoundedText<N> {
    /// Most characters this text may have.
    pub const MAX_CHARS: usize = N;

    pub fn parse(text: &str) -> Result<BoundedText<N>, TextError> {
        if text.chars().count() > N {
            return Err(TextError::TooLong { max: N });
        }
        if text.chars().any(char::is_control) {
            return Err(TextError::ControlCharacters);
        }
        Ok(BoundedText(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl<const N: usize> AsRef<str> for BoundedText<N> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<const N: usize> fmt::Debug for BoundedText<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<const N: usize> fmt::Display for BoundedText<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<const N: usize> Serialize for BoundedText<N> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<const N: usize> PartialEq<str> for BoundedText<N> {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl<const N: usize> PartialEq<&str> for BoundedText<N> {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(n: usize) -> String {
        // A multi-byte character: the limit counts characters, not bytes.
        "茶".repeat(n)
    }

    #[test]
    fn text_at_the_limit_is_kept_and_one_character_more_is_refused() {
        for (max, ok, over) in [
            (
                ShopName::MAX_CHARS,
                ShopName::parse(&chars(100)).is_ok(),
                ShopName::parse(&chars(101)).err(),
            ),
            (
                PayoutNote::MAX_CHARS,
                PayoutNote::parse(&chars(200)).is_ok(),
                PayoutNote::parse(&chars(201)).err(),
            ),
            (
                QrDescription::MAX_CHARS,
                QrDescription::parse(&chars(128)).is_ok(),
                QrDescription::parse(&chars(129)).err(),
            ),
        ] {
            assert!(ok, "{max} characters are allowed");
            assert_eq!(over, Some(TextError::TooLong { max }));
        }
        assert_eq!(
            (
                ShopName::MAX_CHARS,
                PayoutNote::MAX_CHARS,
                QrDescription::MAX_CHARS
            ),
            (100, 200, 128)
        );
    }

    #[test]
    fn control_characters_are_refused_and_empty_text_is_not_a_length_error() {
        assert_eq!(
            PayoutNote::parse("line\nbreak"),
            Err(TextError::ControlCharacters)
        );
        assert_eq!(
            QrDescription::parse("tab\there"),
            Err(TextError::ControlCharacters)
        );
        assert_eq!(PayoutNote::parse("").unwrap().as_str(), "");
        assert_eq!(
            TextError::ControlCharacters.for_field("note"),
            "note contains control characters"
        );
        assert_eq!(
            TextError::TooLong { max: 100 }.for_field("name"),
            "name is longer than 100 characters"
        );
    }

    #[test]
    fn bounded_text_reads_and_serializes_as_the_plain_string() {
        let name = ShopName::parse("Tea House 茶").unwrap();
        assert_eq!(name.to_string(), "Tea House 茶");
        assert_eq!(format!("{name:?}"), "\"Tea House 茶\"");
        assert_eq!(serde_json::to_string(&name).unwrap(), "\"Tea House 茶\"");
        assert_eq!(name, "Tea House 茶");
    }
}
