//! Strict JSON bodies: size-limited, an object, only known fields, each field
//! of the right type. Parse, don't validate: what comes out is typed.

use lambda_http::{Body, Request};
use qrpay_domain::{Amount, AmountError, BoundedText, Money};
use serde_json::{Map, Number, Value};

use crate::ApiError;

/// The body as a JSON object, refusing more than `max_bytes`.
pub fn json_object(req: &Request, max_bytes: usize) -> Result<Fields, ApiError> {
    Fields::from_bytes(raw_body(req), max_bytes)
}

/// The request body's bytes exactly as received (signatures cover these).
pub fn raw_body(req: &Request) -> &[u8] {
    match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

impl Fields {
    /// A JSON object from raw bytes, refusing more than `max_bytes`.
    pub fn from_bytes(bytes: &[u8], max_bytes: usize) -> Result<Fields, ApiError> {
        Fields::parse(bytes, max_bytes)
    }

    /// A JSON object already parsed (an IoT rule's event).
    pub fn from_value(value: Value) -> Result<Fields, ApiError> {
        match value {
            Value::Object(map) => Ok(Fields(map)),
            _ => Err(ApiError::invalid("body", "body must be a JSON object")),
        }
    }

    fn parse(bytes: &[u8], max_bytes: usize) -> Result<Fields, ApiError> {
        if bytes.len() > max_bytes {
            return Err(ApiError::too_large(max_bytes));
        }
        if bytes.is_empty() {
            return Err(ApiError::invalid("body", "a JSON object body is required"));
        }
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| ApiError::invalid("body", format!("body is not valid JSON: {e}")))?;
        Fields::from_value(value)
    }
}

/// Longest field name an error repeats: the caller chose the name, and an
/// answer (or a log line) must not grow with the body.
pub const MAX_FIELD_NAME_CHARS: usize = 64;

/// A field name from the request as an error names it, cut short if long.
pub fn field_name(name: &str) -> String {
    match name.char_indices().nth(MAX_FIELD_NAME_CHARS) {
        Some((cut, _)) => format!("{}…", &name[..cut]),
        None => name.to_owned(),
    }
}

/// The fields of a JSON object body.
#[derive(Debug)]
pub struct Fields(Map<String, Value>);

/// A JSON number's value as a whole number: `7`, and `7.0` too (JSON
/// Schema's `integer` is the value, not its spelling; JavaScript and Python
/// clients may send either).
fn whole_number(n: &Number) -> Option<i64> {
    n.as_i64().or_else(|| {
        let f = n.as_f64()?;
        // Within ±2^53 every whole f64 converts exactly.
        (f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0).then_some(f as i64)
    })
}

fn amount_message(field: &str, err: &AmountError) -> String {
    format!("{field}: {err}")
}

impl Fields {
    /// Refuses any field not in `allowed` (a typo must not be ignored).
    pub fn only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(unknown) => {
                let name = field_name(unknown);
                Err(ApiError::invalid(&name, format!("unknown field {name:?}")))
            }
            None => Ok(()),
        }
    }

    /// A field's raw value, absent when missing or null (for the rare
    /// field no typed accessor covers).
    pub fn value(&self, field: &str) -> Option<&Value> {
        self.get(field)
    }

    fn get(&self, field: &str) -> Option<&Value> {
        self.0.get(field).filter(|v| !v.is_null())
    }

    pub fn optional_str(&self, field: &str, max_chars: usize) -> Result<Option<&str>, ApiError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => {
                if s.chars().count() > max_chars {
                    return Err(ApiError::invalid(
                        field,
                        format!("{field} is longer than {max_chars} characters"),
                    ));
                }
                if s.chars().any(char::is_control) {
                    return Err(ApiError::invalid(
                        field,
                        format!("{field} contains control characters"),
                    ));
                }
                Ok(Some(s))
            }
            Some(_) => Err(ApiError::invalid(
                field,
                format!("{field} must be a string"),
            )),
        }
    }

    /// An optional text kept as a [`BoundedText`] (a payout's note, a
    /// resolution's note): its limit is the type's, refusals name the field.
    pub fn optional_text<const N: usize>(
        &self,
        field: &str,
    ) -> Result<Option<BoundedText<N>>, ApiError> {
        self.optional_str(field, N)?
            .map(BoundedText::parse)
            .transpose()
            .map_err(|e| ApiError::invalid(field, e.for_field(field)))
    }

    pub fn required_str(&self, field: &str, max_chars: usize) -> Result<&str, ApiError> {
        self.optional_str(field, max_chars)?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::invalid(field, format!("{field} is required")))
    }

    /// A positive amount given as a JSON string ("12.30").
    pub fn amount(&self, field: &str) -> Result<Amount, ApiError> {
        self.optional_amount(field)?
            .ok_or_else(|| ApiError::invalid(field, format!("{field} is required")))
    }

    pub fn optional_amount(&self, field: &str) -> Result<Option<Amount>, ApiError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Amount::parse(s)
                .map(Some)
                .map_err(|e| ApiError::invalid(field, amount_message(field, &e))),
            Some(_) => Err(ApiError::invalid(
                field,
                format!("{field} must be a decimal string like \"12.30\""),
            )),
        }
    }

    /// A non-negative sum given as a JSON string ("0.00" allowed).
    /// [`Fields::money`] when the field is present.
    pub fn optional_money(&self, field: &str) -> Result<Option<Money>, ApiError> {
        match self.get(field) {
            None => Ok(None),
            Some(_) => self.money(field).map(Some),
        }
    }

    pub fn money(&self, field: &str) -> Result<Money, ApiError> {
        match self.get(field) {
            None => Err(ApiError::invalid(field, format!("{field} is required"))),
            Some(Value::String(s)) => {
                Money::parse(s).map_err(|e| ApiError::invalid(field, amount_message(field, &e)))
            }
            Some(_) => Err(ApiError::invalid(
                field,
                format!("{field} must be a decimal string like \"12.30\""),
            )),
        }
    }

    /// An optional whole number within `range`.
    pub fn optional_i64(
        &self,
        field: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<Option<i64>, ApiError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Number(n)) => whole_number(n)
                .filter(|v| range.contains(v))
                .map(Some)
                .ok_or_else(|| {
                    ApiError::invalid(
                        field,
                        format!(
                            "{field} must be a whole number from {} to {}",
                            range.start(),
                            range.end()
                        ),
                    )
                }),
            Some(_) => Err(ApiError::invalid(
                field,
                format!("{field} must be a whole number"),
            )),
        }
    }

    pub fn bool(&self, field: &str) -> Result<bool, ApiError> {
        match self.get(field) {
            Some(Value::Bool(b)) => Ok(*b),
            None => Err(ApiError::invalid(field, format!("{field} is required"))),
            Some(_) => Err(ApiError::invalid(
                field,
                format!("{field} must be true or false"),
            )),
        }
    }

    pub fn object(&self, field: &str) -> Result<Option<Fields>, ApiError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Fields(map.clone()))),
            Some(_) => Err(ApiError::invalid(
                field,
                format!("{field} must be an object"),
            )),
        }
    }

    pub fn entries(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(json: &str) -> Fields {
        Fields::from_bytes(json.as_bytes(), 1024).unwrap()
    }

    /// JSON Schema's `integer` is a value, not a spelling: `396.0` is one
    /// (what a JavaScript or Python client may well send), `396.5` is not.
    #[test]
    fn a_whole_number_may_be_written_with_a_zero_fraction() {
        let f = fields(r#"{"a": 396, "b": 396.0, "c": -0.0, "d": 1e3}"#);
        assert_eq!(f.optional_i64("a", 0..=1000).unwrap(), Some(396));
        assert_eq!(f.optional_i64("b", 0..=1000).unwrap(), Some(396));
        assert_eq!(f.optional_i64("c", 0..=1000).unwrap(), Some(0));
        assert_eq!(f.optional_i64("d", 0..=1000).unwrap(), Some(1000));
        let f = fields(
            r#"{"half": 396.5, "big": 18446744073709551615, "huge": 1e300, "over": 1001.0, "text": "3"}"#,
        );
        for field in ["half", "big", "huge", "over", "text"] {
            let e = f.optional_i64(field, 0..=1000).unwrap_err();
            assert_eq!((e.status.as_u16(), e.field.as_deref()), (400, Some(field)));
        }
    }

    #[test]
    fn null_is_an_absent_field() {
        let f = fields(r#"{"n": null}"#);
        assert_eq!(f.optional_i64("n", 0..=1).unwrap(), None);
        assert_eq!(f.optional_str("n", 8).unwrap(), None);
        assert_eq!(f.bool("n").unwrap_err().status.as_u16(), 400);
    }

    /// Found by fuzzing: an unknown field's name came back whole in the
    /// message and `field`, so the answer grew with the body (up to its limit).
    #[test]
    fn an_unknown_field_is_named_cut_short() {
        let long = "é".repeat(5_000);
        let body = format!(r#"{{"amount":"1.00","{long}":1}}"#);
        let fields = Fields::from_bytes(body.as_bytes(), 64 * 1024).unwrap();
        let error = fields.only(&["amount"]).unwrap_err();
        let name = format!("{}…", "é".repeat(MAX_FIELD_NAME_CHARS));
        assert_eq!(error.code, "INVALID_REQUEST");
        assert_eq!(error.field.as_deref(), Some(name.as_str()));
        assert_eq!(error.message, format!("unknown field {name:?}"));
        let short = Fields::from_bytes(br#"{"amont":"1.00"}"#, 1024).unwrap();
        assert_eq!(
            short.only(&["amount"]).unwrap_err().message,
            r#"unknown field "amont""#
        );
    }
}
