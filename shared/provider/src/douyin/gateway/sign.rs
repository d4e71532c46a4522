//! The ecpay (担保支付 v1) request `sign`, and the signed JSON body.
//!
//! The rule is the one in Douyin's official signing demos, which the
//! platform's "签名 DEMO" section links to
//! (https://developer.open-douyin.com/docs/resource/zh-CN/mini-app/open-capacity/business-monetization/guaranteed-payment/TE):
//! `bytedance/open-pay-signature-go-demo` `utils/sign.go` `RequestSign` and
//! `bytedance/open-pay-signature-java-demo` `Sign.java` `requestSign`.
//!
//! 1. Every request field except `app_id`, `thirdparty_id`, `sign` and
//!    `other_settle_params`.
//! 2. Its value as text, trimmed; one pair of surrounding `"` removed; trimmed
//!    again; left out when it is then `""` or `"null"`.
//! 3. The SALT added to those values; the values (not the keys) sorted;
//!    joined with `&`.
//! 4. `sign` = lower-case hex MD5 of those UTF-8 bytes.
//!
//! Worked example: the demos' own unit test (`Test_RequestSign`,
//! `testRequestSign`) signs a create_order request with the demo SALT
//! `your_payment_salt` and expects `54f102e7115f8a6a3e6af4633dc33959`;
//! `tests/douyin_gateway.rs` repeats it byte for byte.
//!
//! Two corners where the demos themselves differ, kept out of our requests
//! rather than resolved: Go's `TrimSpace` trims Unicode spaces while Java's
//! `trim` trims code points up to U+0020, and Go sorts by bytes while Java
//! sorts by UTF-16 units. We send values that are already trimmed (see
//! `cashier_text` in the gateway) and sort by bytes (Go's order, which is
//! also the code-point order); the two orders differ only between a
//! character above U+FFFF (an emoji) and one in U+E000–U+FFFF.
//! Nested values are never sent: the demos stringify them differently (Go
//! `%v`, PHP a custom `arrayToStr`), so their `sign` would be ambiguous.

use md5::{Digest, Md5};
use qrpay_domain::Secret;
use serde_json::{Map, Value};

/// Request fields the `sign` leaves out.
pub const UNSIGNED_FIELDS: [&str; 4] = ["app_id", "thirdparty_id", "sign", "other_settle_params"];

/// One request field's value: ecpay fields are text or integers, never
/// nested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    Text(String),
    Integer(i64),
}

impl FieldValue {
    /// The value as the demos turn it into text before signing (Go `%v`,
    /// Java `toString()`): an integer in decimal, text as it is.
    pub fn as_signed_text(&self) -> String {
        match self {
            FieldValue::Text(text) => text.clone(),
            FieldValue::Integer(n) => n.to_string(),
        }
    }

    fn json(&self) -> Value {
        match self {
            FieldValue::Text(text) => Value::from(text.as_str()),
            FieldValue::Integer(n) => Value::from(*n),
        }
    }
}

/// The ecpay `sign` over `(field name, value as text)` pairs.
pub fn ecpay_sign<'a>(
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    salt: &Secret,
) -> String {
    let mut values: Vec<&str> = fields
        .into_iter()
        .filter(|(name, _)| !UNSIGNED_FIELDS.contains(name))
        .filter_map(|(_, value)| signed_value(value))
        .collect();
    values.push(salt.expose());
    values.sort_unstable();
    hex::encode(Md5::digest(values.join("&").as_bytes()))
}

/// A value as it enters the `sign`, or `None` when the rule leaves it out.
fn signed_value(text: &str) -> Option<&str> {
    let trimmed = text.trim();
    let unquoted = trimmed
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .filter(|_| trimmed.len() > 1)
        .unwrap_or(trimmed);
    let value = unquoted.trim();
    (!value.is_empty() && value != "null").then_some(value)
}

/// The JSON body of one ecpay request: `app_id`, `fields` and the `sign`
/// computed over exactly the values sent.
pub(crate) fn signed_body(app_id: &str, fields: &[(&str, FieldValue)], salt: &Secret) -> Vec<u8> {
    let texts: Vec<(&str, String)> = fields
        .iter()
        .map(|(name, value)| (*name, value.as_signed_text()))
        .collect();
    let sign = ecpay_sign(texts.iter().map(|(n, t)| (*n, t.as_str())), salt);
    let mut body = Map::new();
    body.insert("app_id".into(), Value::from(app_id));
    for (name, value) in fields {
        body.insert((*name).into(), value.json());
    }
    body.insert("sign".into(), Value::from(sign));
    Value::Object(body).to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md5_hex(text: &str) -> String {
        hex::encode(Md5::digest(text.as_bytes()))
    }

    fn salt() -> Secret {
        Secret::new("salt".to_owned())
    }

    #[test]
    fn values_are_trimmed_unquoted_once_and_trimmed_again() {
        assert_eq!(signed_value("  abc "), Some("abc"));
        assert_eq!(signed_value(" \" abc \" "), Some("abc"));
        assert_eq!(signed_value("\"\"abc\"\""), Some("\"abc\""));
        assert_eq!(signed_value("\""), Some("\""));
        assert_eq!(signed_value("a\"b"), Some("a\"b"));
    }

    #[test]
    fn empty_and_null_values_are_left_out() {
        assert_eq!(signed_value(""), None);
        assert_eq!(signed_value("   "), None);
        assert_eq!(signed_value("\"\""), None);
        assert_eq!(signed_value("null"), None);
        assert_eq!(signed_value("\" null \""), None);
        assert_eq!(signed_value("NULL"), Some("NULL"));
    }

    #[test]
    fn the_four_unsigned_fields_and_empty_values_do_not_change_the_sign() {
        let base = ecpay_sign([("out_order_no", "o1"), ("total_amount", "100")], &salt());
        let with_skipped = ecpay_sign(
            [
                ("app_id", "tt1"),
                ("thirdparty_id", "tp"),
                ("sign", "x"),
                ("other_settle_params", "[1]"),
                ("out_order_no", "o1"),
                ("cp_extra", "null"),
                ("msg_page", " "),
                ("total_amount", "100"),
            ],
            &salt(),
        );
        assert_eq!(base, with_skipped);
        assert_eq!(base, md5_hex("100&o1&salt"));
    }

    #[test]
    fn values_sort_by_bytes_with_the_salt_among_them() {
        let sign = ecpay_sign([("b", "zeta"), ("a", "Alpha"), ("c", "7")], &salt());
        assert_eq!(sign, md5_hex("7&Alpha&salt&zeta"));
    }

    #[test]
    fn the_body_carries_exactly_the_signed_values() {
        let body = signed_body(
            "tt1",
            &[
                ("out_order_no", FieldValue::Text("o1".into())),
                ("total_amount", FieldValue::Integer(100)),
            ],
            &salt(),
        );
        let sent: Value = serde_json::from_slice(&body).unwrap();
        let want = serde_json::json!({
            "app_id": "tt1",
            "out_order_no": "o1",
            "total_amount": 100,
            "sign": md5_hex("100&o1&salt"),
        });
        assert_eq!(sent, want);
    }
}
