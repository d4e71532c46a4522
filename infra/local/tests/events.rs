//! Every file in `events/` is a Lambda event its function accepts: each one
//! deserializes into its event type and runs through its handler against
//! the embedded store, as `sam local invoke -e` would run it. (The
//! functions' own tests check each fixture's exact outcome; this one makes
//! sure no fixture is left out or drifts from its function.)
//! And the functions' own 405s agree with the route table's methods.

use std::path::PathBuf;

use qrpay_local::{Backend, Options, Stack};
use serde_json::Value;

const FUNCTIONS: [&str; 6] = [
    "admin-api",
    "payment-callback",
    "payout-request",
    "payout-worker",
    "qr-issue",
    "reconcile",
];

#[tokio::test]
async fn every_event_file_runs_through_its_function() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events");
    let data = tempfile::tempdir().unwrap();
    let stack = Stack::new(Options::from_env(
        data.path().to_path_buf(),
        Backend::Embedded,
        "http://127.0.0.1:3000".into(),
    ))
    .await
    .unwrap();
    // Beside the folders: `env.json`, the functions' environment for
    // `sam local invoke` (tests/tests/local_invoke.rs holds it to the template).
    let mut dirs: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    assert_eq!(dirs, FUNCTIONS, "events/ holds one folder per function");
    let mut ran = 0;
    for function in FUNCTIONS {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(function))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "events/{function} is empty");
        for file in files {
            let name = format!("{function}/{}", file.file_name().unwrap().to_string_lossy());
            assert_eq!(
                file.extension().and_then(|e| e.to_str()),
                Some("json"),
                "{name}"
            );
            let event: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap())
                .unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
            let is_http = event.get("requestContext").is_some();
            let answer = stack
                .lambda(function, event)
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            if is_http {
                let status = answer["statusCode"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("{name}: no statusCode in {answer}"));
                assert!(status < 500, "{name}: {answer}");
                if status >= 400 && function != "payment-callback" {
                    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap())
                        .unwrap_or_else(|e| panic!("{name}: error body not JSON: {e}"));
                    assert!(body["error"]["code"].is_string(), "{name}: {answer}");
                }
            }
            ran += 1;
            // A run the event queued in the background ends before the
            // next event asks for the same day.
            stack.runs.wait().await;
        }
    }
    assert!(ran >= 24, "only {ran} fixtures ran");
}

/// Each function's own 405 (called directly, past the local router) names
/// the same methods as the route table: the two cannot drift apart.
#[tokio::test]
async fn every_functions_405_allows_what_the_route_table_routes() {
    use qrpay_local::gateway::{event, HttpRequest};
    use qrpay_local::jwt::Claims;
    use qrpay_local::routes::{Target, ROUTES};

    let data = tempfile::tempdir().unwrap();
    let stack = Stack::new(Options::from_env(
        data.path().to_path_buf(),
        Backend::Embedded,
        "http://127.0.0.1:3000".into(),
    ))
    .await
    .unwrap();
    let mut checked = 0;
    for route in ROUTES.iter().filter(|r| r.target != Target::Sandbox) {
        let path = sample_path(route.path);
        let allowed: Vec<&str> = ROUTES
            .iter()
            .filter(|r| r.path == route.path)
            .map(|r| r.method)
            .collect();
        let (sub, shop_id, role) = if route.path.starts_with("/admin/") {
            ("platform-admin", None, "admin")
        } else {
            ("shop-a-owner", Some("shop-a".to_owned()), "owner")
        };
        let claims = Claims {
            sub: sub.into(),
            shop_id,
            role: role.into(),
            scope: (role == "admin").then(|| qrpay_http::ADMIN_SCOPE.to_owned()),
            exp: i64::MAX,
        };
        let request = HttpRequest {
            method: "PATCH",
            path: &path,
            ..HttpRequest::default()
        };
        let claims = route.jwt.then_some(&claims);
        let answer = stack
            .invoke(route.target, event(&request, claims, "allow-check", 0))
            .await;
        let allow = answer
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("allow"))
            .map(|(_, v)| v.as_str());
        let want = allowed.join(", ");
        assert_eq!(
            (answer.status, allow),
            (405, Some(want.as_str())),
            "PATCH {path}"
        );
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} routes checked");
}

/// A route's path with each `{param}` filled with a valid sample value.
fn sample_path(template: &str) -> String {
    template
        .split('/')
        .map(|segment| match segment {
            "{shop_id}" => "shop-a",
            "{date}" => "2026-11-20",
            "{provider}" => "alipay",
            "{method}" => "wechatpay",
            s if s.starts_with('{') => "sample-1",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}
