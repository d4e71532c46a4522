//! Every 4xx/5xx from our routes: `{"error": {"code", "message", ...}}` with
//! a stable code (API.md "Errors"). Domain and store errors are mapped to
//! answers here, once.

use lambda_http::http::header::{ALLOW, RETRY_AFTER};
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use qrpay_domain::instalment::InstalmentError;
use qrpay_domain::AdjustmentRefusal;
use qrpay_domain::{Money, PayoutRefusal, QrRefusal, RefundRefusal};
use qrpay_store::{AdjustError, RefundReserveError, ReserveError, StoreError};
use serde_json::{json, Map, Value};

/// The codes our own routes answer with (API.md "Errors" and the route
/// tables), each with the one status it always comes with. The domain's
/// refusals carry their own codes (`PayoutRefusal::code()`, SPEC §4;
/// `QrRefusal::code()`; `InstalmentError::code()`) and become answers
/// through `ApiError`'s `From` impls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    InvalidRequest,
    Unauthenticated,
    Forbidden,
    RouteNotFound,
    ShopNotFound,
    OrderNotFound,
    PayoutNotFound,
    QrNotFound,
    DeviceNotFound,
    ProviderNotFound,
    ReconciliationNotFound,
    MethodNotAllowed,
    IdempotencyConflict,
    OutOrderNoConflict,
    InvalidState,
    PayloadTooLarge,
    DateInFuture,
    Internal,
    ServiceUnavailable,
    ProviderNotConfigured,
    /// The stage does not offer what was asked of a provider (not
    /// configured, or no scannable code or plan there).
    ProviderNotOffered,
    /// The provider definitively refused (its answer names why).
    ProviderRefused,
    /// The provider could not say (timeout, 5xx): retry the same request.
    ProviderUnavailable,
    /// Too many checkouts on this code or from this client for now.
    CheckoutRateLimited,
    /// The way to pay the buyer chose is not offered for this code here.
    PayMethodUnavailable,
    /// A listing's or export's `from`..`to` spans more days than allowed.
    DateRangeTooWide,
    /// An export would hold more rows than one file may.
    ExportTooLarge,
    /// No row of the day's report has that row id.
    ReportRowNotFound,
    /// The row matched (or is our own movement): there is nothing to resolve.
    ReportRowNotADiscrepancy,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 29] = [
        ErrorCode::InvalidRequest,
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::RouteNotFound,
        ErrorCode::ShopNotFound,
        ErrorCode::OrderNotFound,
        ErrorCode::PayoutNotFound,
        ErrorCode::QrNotFound,
        ErrorCode::DeviceNotFound,
        ErrorCode::ProviderNotFound,
        ErrorCode::ReconciliationNotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::IdempotencyConflict,
        ErrorCode::OutOrderNoConflict,
        ErrorCode::InvalidState,
        ErrorCode::PayloadTooLarge,
        ErrorCode::DateInFuture,
        ErrorCode::Internal,
        ErrorCode::ServiceUnavailable,
        ErrorCode::ProviderNotConfigured,
        ErrorCode::ProviderNotOffered,
        ErrorCode::ProviderRefused,
        ErrorCode::ProviderUnavailable,
        ErrorCode::CheckoutRateLimited,
        ErrorCode::PayMethodUnavailable,
        ErrorCode::DateRangeTooWide,
        ErrorCode::ExportTooLarge,
        ErrorCode::ReportRowNotFound,
        ErrorCode::ReportRowNotADiscrepancy,
    ];

    /// The code as the body's `error.code` carries it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "INVALID_REQUEST",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::RouteNotFound => "ROUTE_NOT_FOUND",
            ErrorCode::ShopNotFound => "SHOP_NOT_FOUND",
            ErrorCode::OrderNotFound => "ORDER_NOT_FOUND",
            ErrorCode::PayoutNotFound => "PAYOUT_NOT_FOUND",
            ErrorCode::QrNotFound => "QR_NOT_FOUND",
            ErrorCode::DeviceNotFound => "DEVICE_NOT_FOUND",
            ErrorCode::ProviderNotFound => "PROVIDER_NOT_FOUND",
            ErrorCode::ReconciliationNotFound => "RECONCILIATION_NOT_FOUND",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::IdempotencyConflict => "IDEMPOTENCY_CONFLICT",
            ErrorCode::OutOrderNoConflict => "OUT_ORDER_NO_CONFLICT",
            ErrorCode::InvalidState => "INVALID_STATE",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::DateInFuture => "DATE_IN_FUTURE",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            ErrorCode::ProviderNotConfigured => "PROVIDER_NOT_CONFIGURED",
            ErrorCode::ProviderNotOffered => "PROVIDER_NOT_OFFERED",
            ErrorCode::ProviderRefused => "PROVIDER_REFUSED",
            ErrorCode::ProviderUnavailable => "PROVIDER_UNAVAILABLE",
            ErrorCode::CheckoutRateLimited => "CHECKOUT_RATE_LIMITED",
            ErrorCode::PayMethodUnavailable => "PAY_METHOD_UNAVAILABLE",
            ErrorCode::DateRangeTooWide => "DATE_RANGE_TOO_WIDE",
            ErrorCode::ExportTooLarge => "EXPORT_TOO_LARGE",
            ErrorCode::ReportRowNotFound => "REPORT_ROW_NOT_FOUND",
            ErrorCode::ReportRowNotADiscrepancy => "REPORT_ROW_NOT_A_DISCREPANCY",
        }
    }

    pub fn parse(text: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// The status this code is always answered with.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidRequest | ErrorCode::DateRangeTooWide => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::RouteNotFound
            | ErrorCode::ShopNotFound
            | ErrorCode::OrderNotFound
            | ErrorCode::PayoutNotFound
            | ErrorCode::QrNotFound
            | ErrorCode::DeviceNotFound
            | ErrorCode::ProviderNotFound
            | ErrorCode::ReconciliationNotFound
            | ErrorCode::ReportRowNotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::IdempotencyConflict
            | ErrorCode::OutOrderNoConflict
            | ErrorCode::InvalidState => StatusCode::CONFLICT,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::DateInFuture
            | ErrorCode::ProviderNotOffered
            | ErrorCode::PayMethodUnavailable
            | ErrorCode::ExportTooLarge
            | ErrorCode::ReportRowNotADiscrepancy => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::ProviderRefused => StatusCode::BAD_GATEWAY,
            ErrorCode::CheckoutRateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::ServiceUnavailable
            | ErrorCode::ProviderNotConfigured
            | ErrorCode::ProviderUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    pub remaining: Option<Money>,
    pub retry_after_s: Option<u64>,
    /// A 405's `Allow` header: the methods the route has (RFC 9110 §15.5.6).
    /// Boxed to keep `ApiError` small (it is every handler's `Err`).
    pub allow: Option<Box<str>>,
}

impl ApiError {
    /// The answer for one of our codes, with the status it always has.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError::with_status(code.status(), code.as_str(), message)
    }

    /// A domain refusal's own code, with the status it is answered with.
    fn with_status(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            remaining: None,
            retry_after_s: None,
            allow: None,
        }
    }

    /// 400 `INVALID_REQUEST` naming the offending field.
    pub fn invalid(field: &str, message: impl Into<String>) -> ApiError {
        let mut e = ApiError::new(ErrorCode::InvalidRequest, message);
        e.field = Some(field.to_owned());
        e
    }

    pub fn unauthenticated(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Unauthenticated, message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Forbidden, message)
    }

    /// 405 for a known route called with the wrong method, naming the
    /// methods it has in `Allow` (RFC 9110 §15.5.6).
    pub fn method_not_allowed<M: AsRef<str>>(allowed: &[M]) -> ApiError {
        let allow = allowed
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join(", ");
        let mut e = ApiError::new(
            ErrorCode::MethodNotAllowed,
            format!("method not allowed on this route; it takes {allow}"),
        );
        e.allow = Some(allow.into_boxed_str());
        e
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
            ErrorCode::PayloadTooLarge,
            format!("request body is larger than {limit_bytes} bytes"),
        )
    }

    pub fn internal(detail: impl Into<String>) -> ApiError {
        let detail = detail.into();
        tracing::error!(%detail, "internal error");
        ApiError::new(ErrorCode::Internal, "internal error; it has been logged")
    }

    pub fn unavailable(detail: impl Into<String>) -> ApiError {
        let detail = detail.into();
        tracing::error!(%detail, "dependency unavailable");
        let mut e = ApiError::new(
            ErrorCode::ServiceUnavailable,
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
        if let Some(allow) = self.allow {
            if let Ok(value) = HeaderValue::from_str(&allow) {
                response.headers_mut().insert(ALLOW, value);
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
        let mut e = ApiError::with_status(status, refusal.code(), refusal.to_string());
        e.remaining = refusal.remaining();
        e.retry_after_s = refusal.retry_after_s();
        e
    }
}

/// A refund refusal (BUYER_PAGES §11.2), answered as payout refusals are:
/// 404 for the order, 429 with `Retry-After` for the pace, 422 otherwise
/// (`OPERATOR_NO_QUOTA` included, as for payouts).
impl From<RefundRefusal> for ApiError {
    fn from(refusal: RefundRefusal) -> ApiError {
        let status = match refusal {
            RefundRefusal::OrderNotFound => StatusCode::NOT_FOUND,
            RefundRefusal::TooFrequent { .. } => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        let mut e = ApiError::with_status(status, refusal.code(), refusal.to_string());
        e.remaining = refusal.remaining();
        e.retry_after_s = refusal.retry_after_s();
        e
    }
}

impl From<RefundReserveError> for ApiError {
    fn from(err: RefundReserveError) -> ApiError {
        match err {
            RefundReserveError::Refused(refusal) => refusal.into(),
            RefundReserveError::IdempotencyConflict => ApiError::new(
                ErrorCode::IdempotencyConflict,
                "this Idempotency-Key was already used for a different refund request",
            ),
            RefundReserveError::ShopNotFound => {
                ApiError::new(ErrorCode::ShopNotFound, "shop not found")
            }
            RefundReserveError::Store(err) => err.into(),
        }
    }
}

/// A code that cannot be paid: 409 once its order is paid, 410 once it is
/// gone.
impl From<QrRefusal> for ApiError {
    fn from(refusal: QrRefusal) -> ApiError {
        let status = match refusal {
            QrRefusal::Used => StatusCode::CONFLICT,
            QrRefusal::Expired | QrRefusal::Revoked => StatusCode::GONE,
        };
        ApiError::with_status(status, refusal.code(), refusal.to_string())
    }
}

/// A monthly-pay refusal: 400 for a malformed plan, 422 for a plan the
/// shop's terms refuse.
impl From<InstalmentError> for ApiError {
    fn from(err: InstalmentError) -> ApiError {
        match err {
            InstalmentError::UnsupportedPeriods(_) => {
                ApiError::invalid("instalments.periods", err.to_string())
            }
            _ => ApiError::with_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                err.code(),
                err.to_string(),
            ),
        }
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

/// A checkout past the shop's daily collection cap (SPEC §11): 422, with
/// what the shop may still take today.
impl From<qrpay_domain::CollectionCapExceeded> for ApiError {
    fn from(refusal: qrpay_domain::CollectionCapExceeded) -> ApiError {
        let mut e = ApiError::with_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "SHOP_DAILY_COLLECTION_CAP_EXCEEDED",
            refusal.to_string(),
        );
        e.remaining = Some(refusal.remaining);
        e
    }
}

/// A balance adjustment the books refuse: 422, with what is available.
impl From<AdjustmentRefusal> for ApiError {
    fn from(refusal: AdjustmentRefusal) -> ApiError {
        let (code, remaining) = match refusal {
            AdjustmentRefusal::InsufficientBalance { available } => {
                ("INSUFFICIENT_BALANCE", Some(available))
            }
            AdjustmentRefusal::BalanceTooLarge => ("BALANCE_TOO_LARGE", None),
        };
        let mut e =
            ApiError::with_status(StatusCode::UNPROCESSABLE_ENTITY, code, refusal.to_string());
        e.remaining = remaining;
        e
    }
}

impl From<AdjustError> for ApiError {
    fn from(err: AdjustError) -> ApiError {
        match err {
            AdjustError::Refused(refusal) => refusal.into(),
            AdjustError::IdempotencyConflict => ApiError::new(
                ErrorCode::IdempotencyConflict,
                "this Idempotency-Key was already used for a different balance adjustment",
            ),
            AdjustError::ShopNotFound => ApiError::new(ErrorCode::ShopNotFound, "shop not found"),
            AdjustError::Store(err) => err.into(),
        }
    }
}

impl From<ReserveError> for ApiError {
    fn from(err: ReserveError) -> ApiError {
        match err {
            ReserveError::Refused(refusal) => refusal.into(),
            ReserveError::IdempotencyConflict => ApiError::new(
                ErrorCode::IdempotencyConflict,
                "this Idempotency-Key was already used for a different payout request",
            ),
            ReserveError::ShopNotFound => ApiError::new(ErrorCode::ShopNotFound, "shop not found"),
            ReserveError::Store(err) => err.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn upper_snake(code: &str) -> bool {
        code.starts_with(|c: char| c.is_ascii_uppercase())
            && !code.ends_with('_')
            && !code.contains("__")
            && code
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    }

    #[test]
    fn every_code_is_a_unique_upper_snake_string_that_parses_back() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            let text = code.as_str();
            assert!(upper_snake(text), "{text}");
            assert!(seen.insert(text), "{text} twice");
            assert_eq!(ErrorCode::parse(text), Some(code));
            assert_eq!(code.to_string(), text);
        }
        assert_eq!(ErrorCode::parse("NOT_A_CODE"), None);
        assert_eq!(ErrorCode::parse("invalid_request"), None);
    }

    #[test]
    fn an_answer_carries_its_code_with_the_status_the_code_always_has() {
        for code in ErrorCode::ALL {
            let e = ApiError::new(code, "why");
            assert_eq!(e.status, code.status(), "{code}");
            assert_eq!(e.body()["error"]["code"], code.as_str());
            assert!(e.status.is_client_error() || e.status.is_server_error());
        }
        assert_eq!(
            ErrorCode::ShopNotFound.status(),
            StatusCode::NOT_FOUND,
            "API.md: 404 (*_NOT_FOUND)"
        );
        assert_eq!(
            ApiError::invalid("amount", "bad").field.as_deref(),
            Some("amount")
        );
        assert_eq!(ApiError::unavailable("down").retry_after_s, Some(1));
    }

    #[test]
    fn a_405_names_the_methods_the_route_has() {
        use lambda_http::http::Method;
        let e = ApiError::method_not_allowed(&[Method::GET, Method::POST]);
        assert_eq!((e.status.as_u16(), e.code), (405, "METHOD_NOT_ALLOWED"));
        let response = e.into_response();
        assert_eq!(response.headers()[ALLOW], "GET, POST");
        let one = ApiError::method_not_allowed(&["PUT"]).into_response();
        assert_eq!(one.headers()[ALLOW], "PUT");
        assert!(ApiError::unauthenticated("no")
            .into_response()
            .headers()
            .get(ALLOW)
            .is_none());
    }

    #[test]
    fn domain_refusals_keep_their_own_codes_and_statuses() {
        let cases = [
            (ApiError::from(QrRefusal::Used), 409, "QR_USED"),
            (ApiError::from(QrRefusal::Expired), 410, "QR_EXPIRED"),
            (ApiError::from(QrRefusal::Revoked), 410, "QR_REVOKED"),
            (
                ApiError::from(InstalmentError::PlanNotOffered(
                    qrpay_domain::PlanPeriods::TWELVE,
                )),
                422,
                "INSTALMENT_PLAN_NOT_OFFERED",
            ),
            (
                ApiError::from(InstalmentError::TooLarge),
                422,
                "INSTALMENT_AMOUNT_TOO_HIGH",
            ),
            (
                ApiError::from(InstalmentError::UnsupportedPeriods(5)),
                400,
                "INVALID_REQUEST",
            ),
            (
                ApiError::from(PayoutRefusal::OrderNotFound),
                404,
                "ORDER_NOT_FOUND",
            ),
            (
                ApiError::from(PayoutRefusal::OperatorNoQuota),
                422,
                "OPERATOR_NO_QUOTA",
            ),
            (
                ApiError::from(PayoutRefusal::TooFrequent { retry_after_s: 7 }),
                429,
                "PAYOUT_TOO_FREQUENT",
            ),
            (
                ApiError::from(RefundRefusal::OrderNotFound),
                404,
                "ORDER_NOT_FOUND",
            ),
            (
                ApiError::from(RefundRefusal::OperatorNoQuota),
                422,
                "OPERATOR_NO_QUOTA",
            ),
            (
                ApiError::from(RefundRefusal::ChannelUnavailable),
                422,
                "REFUND_CHANNEL_UNAVAILABLE",
            ),
            (
                ApiError::from(RefundRefusal::TooFrequent { retry_after_s: 9 }),
                429,
                "REFUND_TOO_FREQUENT",
            ),
        ];
        for (e, status, code) in cases {
            assert_eq!((e.status.as_u16(), e.code), (status, code));
            // A domain code that is also one of ours is answered the same way.
            if let Some(ours) = ErrorCode::parse(code) {
                assert_eq!(e.status, ours.status(), "{code}");
            }
        }
        let left = Money::parse("0.01").unwrap();
        let exceeds = ApiError::from(RefundRefusal::ExceedsRefundable { remaining: left });
        assert_eq!(
            (exceeds.status.as_u16(), exceeds.code, exceeds.remaining),
            (422, "REFUND_EXCEEDS_REFUNDABLE", Some(left))
        );
        let pace = ApiError::from(RefundRefusal::TooFrequent { retry_after_s: 9 });
        assert_eq!(pace.retry_after_s, Some(9));
        let periods = ApiError::from(InstalmentError::UnsupportedPeriods(5));
        assert_eq!(periods.field.as_deref(), Some("instalments.periods"));
    }
}
