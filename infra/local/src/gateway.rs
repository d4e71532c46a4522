//! The API Gateway HTTP API (v2) event a Lambda receives for a request, as
//! the local stack builds it: method, raw path and query, headers, body
//! (base64 when it is not UTF-8), and the JWT claims in the request context
//! where the authorizer puts them.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};

use crate::jwt::Claims;

/// One local HTTP request.
#[derive(Debug, Clone, Default)]
pub struct HttpRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// Without the `?`.
    pub query: &'a str,
    pub headers: Vec<(String, String)>,
    pub body: &'a [u8],
}

/// The v2 event for `request`, with `claims` (if the caller is
/// authenticated) under `requestContext.authorizer.jwt.claims`.
pub fn event(
    request: &HttpRequest<'_>,
    claims: Option<&Claims>,
    request_id: &str,
    now_ms: i64,
) -> Value {
    let mut headers = Map::new();
    for (name, value) in &request.headers {
        let name = name.to_ascii_lowercase();
        // API Gateway joins repeated headers with commas.
        let joined = match headers.get(&name).and_then(Value::as_str) {
            Some(before) => format!("{before},{value}"),
            None => value.clone(),
        };
        headers.insert(name, Value::String(joined));
    }
    let (body, is_base64) = match std::str::from_utf8(request.body) {
        _ if request.body.is_empty() => (Value::Null, false),
        Ok(text) => (Value::String(text.to_owned()), false),
        Err(_) => (Value::String(STANDARD.encode(request.body)), true),
    };
    let route = format!("{} {}", request.method, request.path);
    let mut context = json!({
        "accountId": "000000000000",
        "apiId": "qrpay-local",
        "domainName": "localhost",
        "domainPrefix": "localhost",
        "http": {
            "method": request.method,
            "path": request.path,
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": headers.get("user-agent").cloned().unwrap_or(Value::String(String::new())),
        },
        "requestId": request_id,
        "routeKey": route,
        "stage": "$default",
        "timeEpoch": now_ms,
    });
    if let Some(claims) = claims {
        let mut jwt = Map::new();
        jwt.insert("sub".into(), Value::String(claims.sub.clone()));
        jwt.insert("role".into(), Value::String(claims.role.clone()));
        jwt.insert("exp".into(), Value::String(claims.exp.to_string()));
        if let Some(shop) = &claims.shop_id {
            jwt.insert("shop_id".into(), Value::String(shop.clone()));
        }
        // As API Gateway does: the `scope` claim, and the scopes it lists.
        let scopes = claims.scope.as_ref().map(|scope| {
            jwt.insert("scope".into(), Value::String(scope.clone()));
            scope.split(' ').map(str::to_owned).collect::<Vec<_>>()
        });
        context["authorizer"] = json!({ "jwt": { "claims": jwt, "scopes": scopes } });
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": route,
        "rawPath": request.path,
        "rawQueryString": request.query,
        "headers": headers,
        "requestContext": context,
        "isBase64Encoded": is_base64,
    });
    if !body.is_null() {
        event["body"] = body;
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::RequestExt;

    fn owner() -> Claims {
        crate::jwt::tests::owner_until(4_102_444_800)
    }

    #[test]
    fn the_handler_sees_the_request_and_the_caller_as_in_aws() {
        let request = HttpRequest {
            method: "POST",
            path: "/shops/shop-1/qr-codes",
            query: "date=2026-11-20&cursor=x",
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("X-Custom".into(), "a".into()),
                ("x-custom".into(), "b".into()),
            ],
            body: br#"{"kind":"static"}"#,
        };
        let event = event(&request, Some(&owner()), "req-1", 1_000);
        let req = qrpay_http::event::request_of(event).expect("a v2 event");
        assert_eq!(req.method(), "POST");
        assert_eq!(req.uri().path(), "/shops/shop-1/qr-codes");
        assert_eq!(
            req.query_string_parameters().first("date"),
            Some("2026-11-20")
        );
        assert_eq!(req.headers()["x-custom"], "a,b");
        assert_eq!(qrpay_http::raw_body(&req), br#"{"kind":"static"}"#);
        let caller = qrpay_http::principal(&req).expect("claims reach the handler");
        assert_eq!(caller.operator_id.as_str(), "shop-1-owner");
        assert_eq!(
            caller.shop_id.map(|s| s.to_string()).as_deref(),
            Some("shop-1")
        );
    }

    #[test]
    fn without_claims_the_caller_is_unauthenticated_and_binary_bodies_survive() {
        let request = HttpRequest {
            method: "POST",
            path: "/callbacks/sandbox",
            body: &[0xff, 0x00, 0x41],
            ..HttpRequest::default()
        };
        let req = qrpay_http::event::request_of(event(&request, None, "req-2", 1)).expect("event");
        assert!(qrpay_http::principal(&req).is_err());
        assert_eq!(qrpay_http::raw_body(&req), [0xff, 0x00, 0x41]);
    }
}
