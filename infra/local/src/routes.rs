//! The local stack's route table: every route of API.md, the function that
//! serves it in AWS (named as in `template.yaml`) or the sandbox, and
//! whether API Gateway's JWT authorizer guards it. `tests/tests/openapi.rs`
//! checks this table against `infra/openapi.json` and `template.yaml`.

/// Who answers a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    PayoutRequestFunction,
    AdminApiFunction,
    QrIssueFunction,
    PaymentCallbackFunction,
    ReconcileFunction,
    /// The sandbox provider (local only, never deployed).
    Sandbox,
}

impl Target {
    /// The logical id in `template.yaml` (`None` for the sandbox).
    pub fn function(self) -> Option<&'static str> {
        match self {
            Target::PayoutRequestFunction => Some("PayoutRequestFunction"),
            Target::AdminApiFunction => Some("AdminApiFunction"),
            Target::QrIssueFunction => Some("QrIssueFunction"),
            Target::PaymentCallbackFunction => Some("PaymentCallbackFunction"),
            Target::ReconcileFunction => Some("ReconcileFunction"),
            Target::Sandbox => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    /// The path template, with `{name}` parameters as in OpenAPI.
    pub path: &'static str,
    pub target: Target,
    /// Guarded by the JWT authorizer (a bearer token is required).
    pub jwt: bool,
}

const fn route(method: &'static str, path: &'static str, target: Target, jwt: bool) -> Route {
    Route {
        method,
        path,
        target,
        jwt,
    }
}

use Target::*;

pub const ROUTES: &[Route] = &[
    route("PUT", "/admin/shops/{shop_id}", AdminApiFunction, true),
    route("PUT", "/admin/devices/{device_id}", AdminApiFunction, true),
    route(
        "POST",
        "/admin/shops/{shop_id}/balance-adjustments",
        AdminApiFunction,
        true,
    ),
    route(
        "POST",
        "/admin/reconciliations/{date}",
        ReconcileFunction,
        true,
    ),
    route("POST", "/shops/{shop_id}/qr-codes", QrIssueFunction, true),
    route(
        "GET",
        "/shops/{shop_id}/qr-codes/{qr_id}",
        QrIssueFunction,
        true,
    ),
    route(
        "DELETE",
        "/shops/{shop_id}/qr-codes/{qr_id}",
        QrIssueFunction,
        true,
    ),
    route(
        "GET",
        "/shops/{shop_id}/qr-codes/{qr_id}/png",
        QrIssueFunction,
        true,
    ),
    route("GET", "/shops/{shop_id}/orders", QrIssueFunction, true),
    route(
        "GET",
        "/shops/{shop_id}/exports/orders",
        QrIssueFunction,
        true,
    ),
    route(
        "GET",
        "/shops/{shop_id}/orders/{order_id}",
        QrIssueFunction,
        true,
    ),
    route(
        "POST",
        "/shops/{shop_id}/orders/{order_id}/payouts",
        PayoutRequestFunction,
        true,
    ),
    route(
        "GET",
        "/shops/{shop_id}/orders/{order_id}/payouts",
        PayoutRequestFunction,
        true,
    ),
    route(
        "POST",
        "/shops/{shop_id}/orders/{order_id}/refunds",
        PayoutRequestFunction,
        true,
    ),
    route(
        "GET",
        "/shops/{shop_id}/orders/{order_id}/refunds",
        PayoutRequestFunction,
        true,
    ),
    route(
        "GET",
        "/shops/{shop_id}/payouts",
        PayoutRequestFunction,
        true,
    ),
    route(
        "GET",
        "/shops/{shop_id}/payouts/{payout_id}",
        PayoutRequestFunction,
        true,
    ),
    route(
        "POST",
        "/shops/{shop_id}/payouts/{payout_id}/continue",
        PayoutRequestFunction,
        true,
    ),
    route(
        "PUT",
        "/shops/{shop_id}/operators/{operator_id}/payout-quota",
        PayoutRequestFunction,
        true,
    ),
    route(
        "GET",
        "/shops/{shop_id}/notices",
        PayoutRequestFunction,
        true,
    ),
    route(
        "GET",
        "/shops/{shop_id}/reconciliations/{date}",
        ReconcileFunction,
        true,
    ),
    route(
        "GET",
        "/shops/{shop_id}/receivables",
        ReconcileFunction,
        true,
    ),
    route("GET", "/shops/{shop_id}/kpis", ReconcileFunction, true),
    route(
        "PUT",
        "/shops/{shop_id}/reconciliations/{date}/rows/{row_id}/resolution",
        ReconcileFunction,
        true,
    ),
    route(
        "POST",
        "/devices/{device_id}/qr-codes",
        QrIssueFunction,
        false,
    ),
    route(
        "GET",
        "/devices/{device_id}/orders/{order_id}",
        QrIssueFunction,
        false,
    ),
    route("GET", "/pay/{token}", QrIssueFunction, false),
    route("POST", "/pay/{token}", QrIssueFunction, false),
    route(
        "GET",
        "/pay/{token}/orders/{order_id}/{method}",
        QrIssueFunction,
        false,
    ),
    route("GET", "/receipts/{token}", QrIssueFunction, false),
    route("GET", "/claim/{token}", QrIssueFunction, false),
    route(
        "POST",
        "/callbacks/{provider}",
        PaymentCallbackFunction,
        false,
    ),
    route("POST", "/sandbox/qr-codes/{qr_id}/pay", Sandbox, false),
    route("PUT", "/sandbox/faults", Sandbox, false),
    route("GET", "/sandbox/transfers", Sandbox, false),
    route("GET", "/sandbox/bills/{date}", Sandbox, false),
    route("POST", "/sandbox/clock", Sandbox, false),
    route("POST", "/sandbox/console-refunds", Sandbox, false),
];

/// What a request's method and path resolve to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The route, with the path parameters in template order.
    Found(Route, Vec<String>),
    /// The path exists, the method does not: the methods it has, in table order.
    WrongMethod(Vec<&'static str>),
    NotFound,
}

pub fn resolve(method: &str, path: &str) -> Resolution {
    let mut allowed = Vec::new();
    for route in ROUTES {
        if let Some(params) = qrpay_http::path_params(route.path, path) {
            if route.method == method {
                return Resolution::Found(*route, params.into_iter().map(str::to_owned).collect());
            }
            allowed.push(route.method);
        }
    }
    if allowed.is_empty() {
        Resolution::NotFound
    } else {
        Resolution::WrongMethod(allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_segments_win_only_where_they_fit() {
        let Resolution::Found(r, params) = resolve("GET", "/shops/s1/qr-codes/q1/png") else {
            panic!("png route");
        };
        assert_eq!(r.path, "/shops/{shop_id}/qr-codes/{qr_id}/png");
        assert_eq!(params, vec!["s1", "q1"]);
        let Resolution::Found(r, params) = resolve("POST", "/sandbox/qr-codes/q1/pay") else {
            panic!("sandbox pay");
        };
        assert_eq!((r.target, r.jwt), (Target::Sandbox, false));
        assert_eq!(params, vec!["q1"]);
        assert_eq!(
            resolve("PATCH", "/pay/abc"),
            Resolution::WrongMethod(vec!["GET", "POST"])
        );
        assert_eq!(
            resolve("GET", "/admin/shops/s1"),
            Resolution::WrongMethod(vec!["PUT"])
        );
        assert_eq!(resolve("GET", "/shops/s1"), Resolution::NotFound);
        assert_eq!(resolve("GET", "/shops//orders/o1"), Resolution::NotFound);
        assert_eq!(resolve("GET", "/shops/s1/orders/o1/"), Resolution::NotFound);
    }

    #[test]
    fn every_route_is_unique() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    (a.method, a.path) != (b.method, b.path),
                    "{} {} twice",
                    a.method,
                    a.path
                );
            }
        }
    }
}
