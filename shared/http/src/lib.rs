//! HTTP glue shared by the API functions: who is calling (JWT claims from the
//! API Gateway request context), stable error answers, strict JSON bodies.
//! (The AWS clients are `qrpay-aws`'s.)

pub mod body;
pub mod error;
pub mod event;
pub mod html;
pub mod principal;

pub use body::{json_object, raw_body, Fields};
pub use error::{ApiError, ErrorCode};
pub use principal::{
    principal, require_owner_or_admin, require_role, require_shop, require_shop_or_admin,
    source_ip, ADMIN_SCOPE,
};

use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde::Serialize;

/// The `Idempotency-Key` header: required, 1-64 visible ASCII characters.
pub fn idempotency_key(
    req: &lambda_http::Request,
) -> Result<qrpay_domain::IdempotencyKey, ApiError> {
    let key = req.headers().get("idempotency-key").ok_or_else(|| {
        ApiError::invalid("Idempotency-Key", "the Idempotency-Key header is required")
    })?;
    key.to_str()
        .ok()
        .and_then(|k| qrpay_domain::IdempotencyKey::parse(k).ok())
        .ok_or_else(|| {
            ApiError::invalid(
                "Idempotency-Key",
                "Idempotency-Key must be 1-64 visible ASCII characters",
            )
        })
}

/// Path segments of a request, without empty ones ("/a//b/" → ["a", "b"]).
pub fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// Whether `path` fits the route `template` (`/shops/{shop_id}/…`); its
/// parameters in order if so. A parameter matches one non-empty segment, as
/// in API Gateway.
pub fn path_params<'a>(template: &str, path: &'a str) -> Option<Vec<&'a str>> {
    let mut wanted = template.trim_start_matches('/').split('/');
    let mut given = path.trim_start_matches('/').split('/');
    let mut params = Vec::new();
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return Some(params),
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') => {
                if g.is_empty() {
                    return None;
                }
                params.push(g);
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return None,
        }
    }
}

/// A JSON answer with this status.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    match serde_json::to_string(value) {
        Ok(text) => with_body(status, text),
        Err(err) => {
            ApiError::internal(format!("response serialization failed: {err}")).into_response()
        }
    }
}

/// A JSON answer to a request made under an `Idempotency-Key`: a replay
/// answers as the first time did and says so (`Idempotent-Replayed: true`).
pub fn idempotent_json<T: Serialize>(
    status: StatusCode,
    value: &T,
    replayed: bool,
) -> Response<Body> {
    let mut response = json(status, value);
    if replayed {
        response.headers_mut().insert(
            "idempotent-replayed",
            lambda_http::http::HeaderValue::from_static("true"),
        );
    }
    response
}

fn with_body(status: StatusCode, text: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        lambda_http::http::HeaderValue::from_static("application/json"),
    );
    response
}

/// A file download (200): its media type, and `attachment` with its name
/// (the name is ours: ASCII ids and dates only).
pub fn attachment(bytes: Vec<u8>, content_type: &'static str, name: &str) -> Response<Body> {
    use lambda_http::http::header::CONTENT_DISPOSITION;
    use lambda_http::http::HeaderValue;
    let mut response = Response::new(Body::Binary(bytes));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(CONTENT_DISPOSITION, value);
    }
    response
}

/// An empty answer (204 and the like).
pub fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = status;
    response
}

/// The answer for a route's outcome: its response, or its error's.
pub fn respond(outcome: Result<Response<Body>, ApiError>) -> Response<Body> {
    outcome.unwrap_or_else(ApiError::into_response)
}

/// Runs an API function: JSON logs, then every API Gateway event through
/// `handler` with the app built once at cold start.
pub async fn serve<A, F, Fut>(app: A, handler: F) -> Result<(), lambda_http::Error>
where
    A: Send + Sync + 'static,
    F: Fn(std::sync::Arc<A>, lambda_http::Request) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<Body>> + Send,
{
    let app = std::sync::Arc::new(app);
    lambda_http::run(lambda_http::service_fn(move |req| {
        let response = handler(app.clone(), req);
        async move { Ok::<_, lambda_http::Error>(response.await) }
    }))
    .await
}
