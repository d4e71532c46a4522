//! One HTTP exchange inside the local stack, as the server, the stack and
//! the sandbox pass it around: the request as received, the answer, and the
//! conversion from a function's `lambda_http` response.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use qrpay_http::ApiError;
use serde_json::Value;

/// One HTTP request as the server received it.
#[derive(Debug, Clone, Default)]
pub struct LocalRequest {
    pub method: String,
    pub path: String,
    /// Without the `?`.
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// One HTTP answer.
#[derive(Debug, Clone)]
pub struct LocalResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl LocalResponse {
    pub fn json(status: StatusCode, body: &Value) -> LocalResponse {
        LocalResponse {
            status: status.as_u16(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    pub fn error(error: ApiError) -> LocalResponse {
        from_response(qrpay_http::respond(Err(error)))
    }

    pub fn body_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Headers as name/value pairs (values that are not text are left out).
pub fn header_pairs(headers: &lambda_http::http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect()
}

pub fn from_response(response: Response<Body>) -> LocalResponse {
    let (parts, body) = response.into_parts();
    let headers = header_pairs(&parts.headers);
    let body = match body {
        Body::Empty => Vec::new(),
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    LocalResponse {
        status: parts.status.as_u16(),
        headers,
        body,
    }
}
