//! Our WeChat Pay API v3 formats proved against the `wechatpayv3` SDK
//! (PyPI, pinned and installed by `infra/conformance.sh`), an implementation
//! nobody on the team wrote. The SDK runs offline through
//! `tests/conformance/wechatpay.py`; keys are fresh 2048-bit ones per run.
//!
//! Never skipped: if the SDK's virtualenv cannot be made, every test here
//! fails and says why.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use common::keys;
use http::Method;
use qrpay_provider::wechatpay::RequestSigner;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};

const MCHID: &str = "1900000109";
const MCH_SERIAL: &str = "444F4864EA9B34415B1B3F1A0B5B9C2C6C7C8D9E";
const PUBLIC_KEY_ID: &str = "PUB_KEY_ID_0114232134912410000000000000";
const APP_ID: &str = "wx8888888888888888";
const TIMESTAMP: i64 = 1_772_330_400;
const NONCE: &str = "5K8264ILTKCH16CQ2502SI8ZNMTM67VS";

fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // shared/provider -> the workspace root.
    manifest
        .ancestors()
        .nth(2)
        .expect("shared/provider sits two levels below the workspace root")
        .to_path_buf()
}

/// The conformance virtualenv's python, installed on first use by the
/// project's own script. Panics with the script's reason if it cannot be.
fn python() -> &'static str {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let script = workspace_root().join("infra/conformance.sh");
        let out = Command::new(&script)
            .arg("python")
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "{} python failed ({}): the wechatpayv3 SDK could not be installed, see its messages above",
            script.display(),
            out.status
        );
        String::from_utf8(out.stdout)
            .expect("the python path is UTF-8")
            .trim()
            .to_owned()
    })
}

/// Runs one case through the SDK driver and returns its JSON answer.
fn sdk(case: Value) -> Value {
    let driver = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/wechatpay.py");
    let mut child = Command::new(python())
        .arg(&driver)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", driver.display()));
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(case.to_string().as_bytes())
        .expect("write the case");
    let out = child.wait_with_output().expect("the driver finishes");
    assert!(
        out.status.success(),
        "SDK driver failed on {}: {}",
        case["op"],
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the driver prints JSON")
}

fn private_pem(key: &RsaPrivateKey) -> String {
    key.to_pkcs8_pem(LineEnding::LF)
        .expect("PKCS#8 PEM")
        .to_string()
}

fn public_pem(key: &RsaPublicKey) -> String {
    key.to_public_key_pem(LineEnding::LF).expect("SPKI PEM")
}

/// The merchant's key (what we sign requests and `paySign` with).
fn merchant_key() -> &'static RsaPrivateKey {
    &keys().current
}

/// WeChat Pay's platform key (what signs answers; what we encrypt for).
fn platform_key() -> &'static RsaPrivateKey {
    &keys().previous
}

fn request_signer() -> RequestSigner {
    RequestSigner::from_key(MCHID, MCH_SERIAL, merchant_key().clone()).unwrap()
}

/// The SDK's `Authorization` header for the same request.
fn sdk_authorization(method: &str, path: &str, body: &str) -> String {
    let answer = sdk(json!({
        "op": "authorization",
        "private_key": private_pem(merchant_key()),
        "mchid": MCHID,
        "serial": MCH_SERIAL,
        "method": method,
        "path": path,
        "body": body,
        "timestamp": TIMESTAMP,
        "nonce": NONCE,
    }));
    answer["authorization"]
        .as_str()
        .expect("an authorization string")
        .to_owned()
}

fn assert_same_authorization(method: Method, path: &str, body: &str) {
    let ours = request_signer().authorization(&method, path, TIMESTAMP, NONCE, body.as_bytes());
    let theirs = sdk_authorization(method.as_str(), path, body);
    assert_eq!(ours, theirs, "{method} {path}");
}

#[test]
fn authorization_of_a_get_with_a_query_equals_the_sdks() {
    assert_same_authorization(
        Method::GET,
        "/v3/pay/transactions/out-trade-no/ord_01JQ0000000000000000000000?mchid=1900000109",
        "",
    );
}

#[test]
fn authorization_of_a_post_with_chinese_text_equals_the_sdks() {
    let body = json!({
        "appid": APP_ID,
        "mchid": MCHID,
        "description": "小店收款 — 一杯拿铁",
        "out_trade_no": "ord_01JQ0000000000000000000000",
        "notify_url": "https://example.com/callbacks/wechatpay",
        "amount": {"total": 1800, "currency": "CNY"},
    })
    .to_string();
    assert!(body.contains("拿铁"), "sent as UTF-8, not escaped");
    assert_same_authorization(Method::POST, "/v3/pay/transactions/native", &body);
}

#[test]
fn authorization_of_an_empty_body_post_equals_the_sdks() {
    assert_same_authorization(
        Method::POST,
        "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/PO01JQ0000000000000000000000/cancel",
        "",
    );
}

#[test]
fn jsapi_pay_sign_equals_the_sdks() {
    let prepay_id = "wx201410272009395522657a690389285100";
    let ours = request_signer().jsapi_invoke(APP_ID, prepay_id, TIMESTAMP, NONCE);
    let theirs = sdk(json!({
        "op": "pay_sign",
        "private_key": private_pem(merchant_key()),
        "mchid": MCHID,
        "serial": MCH_SERIAL,
        "app_id": APP_ID,
        "timestamp": TIMESTAMP,
        "nonce": NONCE,
        "package": format!("prepay_id={prepay_id}"),
        "public_key": public_pem(&platform_key().to_public_key()),
        "public_key_id": PUBLIC_KEY_ID,
    }));
    assert_eq!(ours.pay_sign, theirs["pay_sign"].as_str().unwrap());
    assert_eq!(
        serde_json::to_value(&ours).unwrap(),
        json!({
            "appId": APP_ID,
            "timeStamp": TIMESTAMP.to_string(),
            "nonceStr": NONCE,
            "package": format!("prepay_id={prepay_id}"),
            "signType": "RSA",
            "paySign": ours.pay_sign,
        })
    );
}
