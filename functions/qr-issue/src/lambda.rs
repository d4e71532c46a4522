//! One function, two triggers: API Gateway (HTTP API v2) events and IoT
//! topic-rule events arrive at the same entry point and are told apart by
//! their shape.

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use lambda_http::http::HeaderMap;
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, Request};
use serde_json::Value;

use crate::{handle, iot, App};

/// Handles any event this function is invoked with.
pub async fn dispatch(app: &App, event: Value) -> Result<Value, String> {
    if event.get("requestContext").is_some() {
        let lambda_request: LambdaRequest = serde_json::from_value(event)
            .map_err(|e| format!("not an API Gateway HTTP API event: {e}"))?;
        let request: Request = lambda_request.into();
        let response = handle(app, request).await;
        serde_json::to_value(http_response(response)).map_err(|e| e.to_string())
    } else {
        iot::handle_iot(app, event).await?;
        Ok(Value::Null)
    }
}

fn http_response(response: lambda_http::Response<Body>) -> ApiGatewayV2httpResponse {
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
    out
}
