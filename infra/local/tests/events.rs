//! Every file in `events/` is a Lambda event its function accepts: each one
//! deserializes into its event type and runs through its handler against
//! the embedded store, as `sam local invoke -e` would run it. (The
//! functions' own tests check each fixture's exact outcome; this one makes
//! sure no fixture is left out or drifts from its function.)

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
    let mut dirs: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
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
        }
    }
    assert!(ran >= 24, "only {ran} fixtures ran");
}
