//! The providers' own SDKs, as the conformance suites drive them: the
//! project's conformance virtualenv (installed on first use by
//! `infra/conformance.sh`) and one offline driver script per provider that
//! takes a JSON case on stdin and prints its JSON answer.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::Value;

/// The conformance virtualenv's python. Panics with the script's reason if
/// the SDKs cannot be installed: a conformance test never skips.
pub fn python() -> &'static str {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let root = manifest
            .ancestors()
            .nth(2)
            .expect("shared/provider sits two levels below the workspace root");
        let script = root.join("infra/conformance.sh");
        let out = Command::new(&script)
            .arg("python")
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "{} python failed ({}): the providers' SDKs could not be installed, see its messages above",
            script.display(),
            out.status
        );
        String::from_utf8(out.stdout)
            .expect("the python path is UTF-8")
            .trim()
            .to_owned()
    })
}

/// Runs one case through `tests/conformance/{driver}` and returns its answer.
pub fn run(driver: &str, case: Value) -> Value {
    let driver = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/conformance")
        .join(driver);
    run_from(&driver, case)
}

/// Runs one case through the driver script at `driver`.
pub fn run_from(driver: &std::path::Path, case: Value) -> Value {
    let mut child = Command::new(python())
        .arg(driver)
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

pub fn private_pem(key: &RsaPrivateKey) -> String {
    key.to_pkcs8_pem(LineEnding::LF)
        .expect("PKCS#8 PEM")
        .to_string()
}

pub fn public_pem(key: &RsaPublicKey) -> String {
    key.to_public_key_pem(LineEnding::LF).expect("SPKI PEM")
}
