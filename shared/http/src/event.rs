//! API Gateway HTTP API (v2) events as raw JSON, for functions that are
//! invoked by more than one kind of event and tell them apart by shape.

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use lambda_http::http::HeaderMap;
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, Request, Response};
use serde_json::Value;

/// Whether `event` is an API Gateway HTTP request.
pub fn is_http(event: &Value) -> bool {
    event.get("requestContext").is_some()
}

/// The request an API Gateway HTTP API event carries.
pub fn request_of(event: Value) -> Result<Request, String> {
    let lambda_request: LambdaRequest = serde_json::from_value(event)
        .map_err(|e| format!("not an API Gateway HTTP API event: {e}"))?;
    Ok(lambda_request.into())
}

/// A response as the JSON API Gateway expects back.
pub fn response_value(response: Response<Body>) -> Result<Value, String> {
    let (parts, body) = response.into_parts();
    let (is_base64_encoded, body) = match body {
        Body::Empty => (false, None),
        text @ Body::Text(_) => (false, Some(text)),
        binary @ Body::Binary(_) => (true, Some(binary)),
        _ => (false, None),
    };
    let mut out = ApiGatewayV2httpResponse::default();
    out.status_code = i64::from(parts.status.as_u16());
    out.headers = parts.headers;
    out.multi_value_headers = HeaderMap::new();
    out.body = body;
    out.is_base64_encoded = is_base64_encoded;
    serde_json::to_value(out).map_err(|e| e.to_string())
}
