//! API Gateway HTTP API (v2) events for handler tests, built from the JSON
//! fixtures in `events/` (the same files `sam local invoke` uses) and
//! adjusted per case: path, method, claims, headers, body, query.

use std::path::PathBuf;

use lambda_http::Request;
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct Event(Value);

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

impl Event {
    /// `name` is relative to `events/`, e.g. `payout-request/create-payout.json`.
    pub fn fixture(name: &str) -> Event {
        let path = events_dir().join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        Event(
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display())),
        )
    }

    pub fn json(&self) -> &Value {
        &self.0
    }

    pub fn path(mut self, path: &str) -> Event {
        self.0["rawPath"] = json!(path);
        self.0["requestContext"]["http"]["path"] = json!(path);
        self
    }

    pub fn method(mut self, method: &str) -> Event {
        self.0["requestContext"]["http"]["method"] = json!(method);
        self
    }

    /// Claims as the JWT authorizer would put them.
    pub fn claims(mut self, sub: &str, shop_id: Option<&str>, role: &str) -> Event {
        let mut claims = json!({"sub": sub, "role": role, "exp": "4102444800"});
        if let Some(shop) = shop_id {
            claims["shop_id"] = json!(shop);
        }
        // Platform admins' tokens carry the admin scope (API.md).
        let scopes = if role == "admin" {
            claims["scope"] = json!("qrpay:admin");
            json!(["qrpay:admin"])
        } else {
            json!(null)
        };
        self.0["requestContext"]["authorizer"] =
            json!({"jwt": {"claims": claims, "scopes": scopes}});
        self
    }

    pub fn raw_claims(mut self, claims: Value) -> Event {
        self.0["requestContext"]["authorizer"] = json!({"jwt": {"claims": claims, "scopes": null}});
        self
    }

    pub fn no_authorizer(mut self) -> Event {
        if let Some(ctx) = self.0["requestContext"].as_object_mut() {
            ctx.remove("authorizer");
        }
        self
    }

    /// The client's address as API Gateway reports it.
    pub fn source_ip(mut self, ip: &str) -> Event {
        self.0["requestContext"]["http"]["sourceIp"] = Value::String(ip.to_owned());
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Event {
        self.0["headers"][name.to_ascii_lowercase()] = json!(value);
        self
    }

    pub fn without_header(mut self, name: &str) -> Event {
        if let Some(headers) = self.0["headers"].as_object_mut() {
            headers.remove(&name.to_ascii_lowercase());
        }
        self
    }

    pub fn body(mut self, text: &str) -> Event {
        self.0["body"] = json!(text);
        self
    }

    pub fn json_body(self, body: Value) -> Event {
        let text = body.to_string();
        self.body(&text)
    }

    pub fn no_body(mut self) -> Event {
        if let Some(e) = self.0.as_object_mut() {
            e.remove("body");
        }
        self
    }

    pub fn query(mut self, params: &[(&str, &str)]) -> Event {
        let raw: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        self.0["rawQueryString"] = json!(raw.join("&"));
        let map: serde_json::Map<String, Value> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        self.0["queryStringParameters"] = Value::Object(map);
        self
    }

    /// The event as the Lambda runtime hands it to the handler.
    pub fn request(&self) -> Request {
        lambda_http::request::from_str(&self.0.to_string())
            .expect("fixture is an API Gateway v2 event")
    }
}

/// A handler's answer, decoded for assertions.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: lambda_http::http::HeaderMap,
}

impl Answer {
    pub fn from(response: lambda_http::Response<lambda_http::Body>) -> Answer {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = match response.body() {
            lambda_http::Body::Text(t) => {
                serde_json::from_str(t).unwrap_or(Value::String(t.clone()))
            }
            lambda_http::Body::Binary(b) => serde_json::from_slice(b).unwrap_or(Value::Null),
            _ => Value::Null,
        };
        Answer {
            status,
            body,
            headers,
        }
    }

    /// The stable error code, if this is an error answer.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}
