//! Our embedded-metric lines against AWS Lambda Powertools' `Metrics`
//! (installed by `infra/conformance.sh`): for every metric qrpay emits, with
//! and without extra dimensions, the same EMF document.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use qrpay_store::metrics::{MetricName, Point, NAMESPACE};
use serde_json::{json, Value};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The conformance virtualenv's python; never a skip: if it cannot be
/// installed the test fails with the script's reason.
fn python() -> String {
    let out = Command::new(root().join("infra/conformance.sh"))
        .arg("python")
        .stderr(Stdio::inherit())
        .output()
        .expect("infra/conformance.sh runs");
    assert!(out.status.success(), "infra/conformance.sh python failed");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn every_metric_is_the_document_powertools_writes() {
    let timestamp = chrono::Utc::now().timestamp_millis();
    let points: Vec<Point> = MetricName::ALL
        .into_iter()
        .flat_map(|name| {
            [
                Point::count(name, "payouts"),
                Point::count(name, "callbacks")
                    .with("Provider", "wechatpay")
                    .with("Outcome", "APPLIED")
                    .value(90.5),
            ]
        })
        .collect();
    let cases: Vec<Value> = points
        .iter()
        .map(|p| {
            json!({
                "namespace": NAMESPACE, "service": p.service, "name": p.name.as_str(),
                "unit": p.name.unit(), "value": p.value, "timestamp": timestamp,
                "dimensions": p.dimensions,
            })
        })
        .collect();
    let mut child = Command::new(python())
        .arg(root().join("tests/conformance/powertools_emf.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(Value::from(cases).to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let theirs: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(theirs.len(), points.len());
    for (point, theirs) in points.iter().zip(theirs) {
        assert_eq!(point.emf(NAMESPACE, timestamp), theirs, "{point:?}");
    }
}
