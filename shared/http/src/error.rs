//! Every 4xx/5xx from our routes: `{"error": {"code", "message", ...}}` with
//! a stable code (API.md "Errors"). Domain and store errors are mapped to
//! answers here, once.

use lambda_http::http::header::RETRY_AFTER;
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use qrpay_domain::{Money, PayoutRefusal};
use qrpay_store::{ReserveError, StoreError};
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    pub remaining: Option<Money>,
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            remaining: None,
            retry_after_s: None,
        }
    }

    /// 400 `INVALID_REQUEST` naming the offending field.
    pub fn invalid(field: &str, message: impl Into<String>) -> ApiError {
        let mut e = ApiError::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message);
        e.field = Some(field.to_owned());
        e
    }

    pub fn unauthenticated(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "FORBIDDEN", message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, code, message)
    }

    /// 405 for a known route called with the wrong method.
    pub fn method_not_allowed() -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "method not allowed on this route",
        )
    }

    /// A path segment parsed into an id, or 400 naming `field`.
    pub fn path_id<T, E: std::fmt::Display>(
        parsed: Result<T, E>,
        field: &str,
    ) -> Result<T, ApiError> {
        parsed.map_err(|e| ApiError::invalid(field, e.to_string()))
    }

    pub fn too_large(limit_bytes: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("request body is larger than {limit_bytes} bytes"),
        )
    }

    pub fn internal(detail: impl Into<String>) -> ApiError {
        let detail = detail.into();
        tracing::error!(%detail, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "internal error; it has been logged",
        )
    }

    pub fn unavailable(detail: impl Into<String>) -> ApiError {
        let detail = detail.into();
        tracing::error!(%detail, "dependency unavailable");
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "temporarily unavailable; retry",
        );
        e.retry_after_s = Some(1);
        e
    }

    pub fn into_response(self) -> Response<Body> {
        let mut response = crate::json(self.status, &self.body());
        if let Some(after) = self.retry_after_s {
            if let Ok(value) = HeaderValue::from_str(&after.to_string()) {
                response.headers_mut().insert(RETRY_AFTER, value);
            }
        }
        response
    }

    /// `{"error": {"code", "message", ...}}`, as every error answer carries it.
    pub fn body(&self) -> Value {
        let mut error = Map::new();
        error.insert("code".into(), json!(self.code));
        error.insert("message".into(), json!(self.message));
        if let Some(field) = &self.field {
            error.insert("field".into(), json!(field));
        }
        if let Some(remaining) = self.remaining {
            error.insert("remaining".into(), json!(remaining.to_string()));
        }
        if let Some(after) = self.retry_after_s {
            error.insert("retry_after_s".into(), json!(after));
        }
        json!({ "error": Value::Object(error) })
    }
}

impl From<PayoutRefusal> for ApiError {
    fn from(refusal: PayoutRefusal) -> ApiError {
        let status = match refusal {
            PayoutRefusal::OrderNotFound => StatusCode::NOT_FOUND,
            PayoutRefusal::TooFrequent { .. } => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        let mut e = ApiError::new(status, refusal.code(), refusal.to_string());
        e.remaining = refusal.remaining();
        e.retry_after_s = refusal.retry_after_s();
        e
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        match err {
            StoreError::Unavailable(detail) => ApiError::unavailable(detail),
            StoreError::Contention => ApiError::unavailable("store contention"),
            StoreError::Corrupt(detail) => ApiError::internal(detail),
        }
    }
}

impl From<ReserveError> for ApiError {
    fn from(err: ReserveError) -> ApiError {
        match err {
            ReserveError::Refused(refusal) => refusal.into(),
            ReserveError::IdempotencyConflict => ApiError::conflict(
                "IDEMPOTENCY_CONFLICT",
                "this Idempotency-Key was already used for a different payout request",
            ),
            ReserveError::ShopNotFound => ApiError::not_found("SHOP_NOT_FOUND", "shop not found"),
            ReserveError::Store(err) => err.into(),
        }
    }
}
