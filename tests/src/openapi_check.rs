//! Checks real answers against `infra/openapi.json`, the document of
//! API.md: the operation must exist, the status must be documented for it
//! (or `default`), and a JSON body must fit the documented schema. The
//! schema check covers what the document uses: `$ref`, `type`, `required`,
//! `properties`, `additionalProperties: false`, `items`, `enum`, `const`,
//! `pattern`, `minimum`/`maximum`, `minLength`/`maxLength`, `allOf`,
//! `oneOf` and `anyOf`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;

pub struct Contract {
    doc: Value,
}

/// One documented operation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct OperationKey {
    pub method: String,
    pub path: String,
}

impl Contract {
    pub fn load() -> Contract {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../infra/openapi.json");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Contract {
            doc: serde_json::from_str(&text).expect("infra/openapi.json is JSON"),
        }
    }

    /// Every documented operation.
    pub fn operations(&self) -> BTreeSet<OperationKey> {
        let mut out = BTreeSet::new();
        for (path, item) in self.doc["paths"].as_object().into_iter().flatten() {
            for method in ["get", "put", "post", "delete", "patch"] {
                if item.get(method).is_some() {
                    out.insert(OperationKey {
                        method: method.to_uppercase(),
                        path: path.clone(),
                    });
                }
            }
        }
        out
    }

    /// The documented operation a concrete request is.
    pub fn operation_of(&self, method: &str, path: &str) -> Option<OperationKey> {
        let path = path.split('?').next().unwrap_or(path);
        self.operations()
            .into_iter()
            .find(|op| op.method == method && qrpay_http::path_params(&op.path, path).is_some())
    }

    /// What is wrong with an answer (empty if it is as documented).
    pub fn check(&self, method: &str, path: &str, status: u16, body: &[u8]) -> Vec<String> {
        let Some(op) = self.operation_of(method, path) else {
            return vec![format!(
                "{method} {path}: no such operation in the document"
            )];
        };
        let operation = &self.doc["paths"][&op.path][op.method.to_lowercase()];
        let responses = &operation["responses"];
        let exact = status.to_string();
        let range = format!("{}XX", status / 100);
        let Some(response) = [exact.as_str(), range.as_str(), "default"]
            .iter()
            .find_map(|key| responses.get(*key))
        else {
            return vec![format!(
                "{method} {path}: status {status} is not documented"
            )];
        };
        let response = self.resolve(response);
        let Some(schema) = response
            .get("content")
            .and_then(|c| c.get("application/json"))
            .and_then(|j| j.get("schema"))
        else {
            return Vec::new();
        };
        if body.is_empty() {
            return vec![format!(
                "{method} {path} {status}: a JSON body is documented, none came"
            )];
        }
        let value: Value = match serde_json::from_slice(body) {
            Ok(value) => value,
            Err(e) => return vec![format!("{method} {path} {status}: body is not JSON: {e}")],
        };
        let mut errors = Vec::new();
        self.validate(schema, &value, "$", &mut errors);
        errors
            .into_iter()
            .map(|e| format!("{method} {path} {status}: {e}"))
            .collect()
    }

    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        let mut value = value;
        while let Some(reference) = value.get("$ref").and_then(Value::as_str) {
            value = reference
                .strip_prefix('#')
                .and_then(|pointer| self.doc.pointer(pointer))
                .unwrap_or_else(|| panic!("$ref {reference} does not resolve"));
        }
        value
    }

    fn validate(&self, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        if schema.get("$ref").is_some() {
            self.validate(self.resolve(schema), value, at, errors);
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for sub in all {
                self.validate(sub, value, at, errors);
            }
        }
        for (keyword, exactly_one) in [("oneOf", true), ("anyOf", false)] {
            if let Some(options) = schema.get(keyword).and_then(Value::as_array) {
                let fitting = options
                    .iter()
                    .filter(|sub| {
                        let mut e = Vec::new();
                        self.validate(sub, value, at, &mut e);
                        e.is_empty()
                    })
                    .count();
                if fitting == 0 || (exactly_one && fitting > 1) {
                    errors.push(format!(
                        "{at}: fits {fitting} of the {keyword} options: {value}"
                    ));
                }
            }
        }
        if let Some(types) = schema.get("type") {
            let allowed: Vec<&str> = match types {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            if !allowed.iter().any(|t| is_type(value, t)) {
                errors.push(format!("{at}: {value} is not of type {allowed:?}"));
                return;
            }
        }
        if let Some(expected) = schema.get("const") {
            if value != expected {
                errors.push(format!("{at}: {value} is not {expected}"));
            }
        }
        if let Some(options) = schema.get("enum").and_then(Value::as_array) {
            if !options.contains(value) {
                errors.push(format!("{at}: {value} is not one of {options:?}"));
            }
        }
        match value {
            Value::String(text) => {
                let chars = text.chars().count() as u64;
                if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
                    if chars > max {
                        errors.push(format!("{at}: longer than {max}"));
                    }
                }
                if let Some(min) = schema.get("minLength").and_then(Value::as_u64) {
                    if chars < min {
                        errors.push(format!("{at}: shorter than {min}"));
                    }
                }
                if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
                    let re = regex_lite::Regex::new(pattern)
                        .unwrap_or_else(|e| panic!("pattern {pattern}: {e}"));
                    if !re.is_match(text) {
                        errors.push(format!("{at}: {text:?} does not match {pattern}"));
                    }
                }
            }
            Value::Number(n) => {
                let n = n.as_f64().unwrap_or(f64::NAN);
                if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
                    if n < min {
                        errors.push(format!("{at}: {n} is below {min}"));
                    }
                }
                if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
                    if n > max {
                        errors.push(format!("{at}: {n} is above {max}"));
                    }
                }
            }
            Value::Object(map) => {
                for key in schema
                    .get("required")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    if !map.contains_key(key) {
                        errors.push(format!("{at}: required {key:?} missing"));
                    }
                }
                let properties = schema.get("properties").and_then(Value::as_object);
                for (key, item) in map {
                    match properties.and_then(|p| p.get(key)) {
                        Some(sub) => self.validate(sub, item, &format!("{at}.{key}"), errors),
                        None => {
                            if let Some(extra) = schema.get("additionalProperties") {
                                if extra == &Value::Bool(false) {
                                    errors.push(format!("{at}: {key:?} is not documented"));
                                } else if extra.is_object() {
                                    self.validate(extra, item, &format!("{at}.{key}"), errors);
                                }
                            }
                        }
                    }
                }
            }
            Value::Array(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.validate(item_schema, item, &format!("{at}[{i}]"), errors);
                    }
                }
            }
            _ => {}
        }
    }
}

fn is_type(value: &Value, t: &str) -> bool {
    match t {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "null" => value.is_null(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_documented_answer_passes_and_a_wrong_one_is_named() {
        let c = Contract::load();
        let good = json!({"date": "2026-11-20", "status": "QUEUED"}).to_string();
        assert_eq!(
            c.check(
                "POST",
                "/admin/reconciliations/2026-11-20",
                202,
                good.as_bytes()
            ),
            Vec::<String>::new()
        );
        let error = json!({"error": {"code": "FORBIDDEN", "message": "admins only"}}).to_string();
        assert!(c
            .check(
                "POST",
                "/admin/reconciliations/2026-11-20",
                403,
                error.as_bytes()
            )
            .is_empty());
        let money_as_number = json!({
            "payout_id": "po_1", "shop_id": "s", "order_id": "o", "operator_id": "op",
            "amount": 5, "reason": "SHIPPING_FEE", "status": "PENDING", "business_date": "2026-11-20",
            "created_at": "2026-11-20T10:00:00+08:00", "updated_at": "2026-11-20T10:00:00+08:00"
        })
        .to_string();
        let errors = c.check(
            "GET",
            "/shops/s/payouts/po_1",
            200,
            money_as_number.as_bytes(),
        );
        assert!(errors.iter().any(|e| e.contains("$.amount")), "{errors:?}");
        let undocumented = c.check("GET", "/shops/s/payouts/po_1", 418, b"{}");
        assert_eq!(undocumented.len(), 1, "{undocumented:?}");
        assert!(!c.check("GET", "/nowhere", 200, b"{}").is_empty());
    }
}
