//! The moto emulator for tests. `infra/test.sh` starts one and exports
//! `QRPAY_EMULATOR_ENDPOINT`; a test binary run on its own (for example
//! `cargo test -p qrpay-tests`) starts a private one through the project's
//! own script, which exits when this process does (`--parent-pid`).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};

pub const ENDPOINT_ENV: &str = "QRPAY_EMULATOR_ENDPOINT";

static ENDPOINT: OnceLock<String> = OnceLock::new();
/// Kept so the child is not reaped early; it exits with this process.
static CHILD: Mutex<Option<Child>> = Mutex::new(None);

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The emulator's endpoint, starting it on first use. Panics with the reason
/// if it cannot be had: a DynamoDB test that cannot reach the emulator fails,
/// it is never skipped.
pub fn endpoint() -> &'static str {
    ENDPOINT.get_or_init(|| match std::env::var(ENDPOINT_ENV) {
        Ok(url) if !url.is_empty() => url,
        _ => start_private(),
    })
}

fn start_private() -> String {
    let root = repo_root();
    let script = root.join("infra/emulator.sh");
    let out = Command::new(&script)
        .arg("python")
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} python failed: {}",
        script.display(),
        out.status
    );
    let python = String::from_utf8(out.stdout)
        .expect("python path is UTF-8")
        .trim()
        .to_owned();
    let mut child = Command::new(python)
        .arg(root.join("infra/emulator/launcher.py"))
        .args([
            "--port",
            "0",
            "--parent-pid",
            &std::process::id().to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the emulator launcher");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    // Leaked on purpose: the pipe stays open for the launcher's lifetime, so a
    // late write of its own never dies of a broken pipe.
    let reader = Box::leak(Box::new(BufReader::new(stdout)));
    reader
        .read_line(&mut line)
        .expect("read the launcher's ready line");
    let url = line
        .trim()
        .strip_prefix("QRPAY_EMULATOR_READY ")
        .unwrap_or_else(|| panic!("emulator did not start: {line:?}"))
        .to_owned();
    *CHILD.lock().unwrap_or_else(|p| p.into_inner()) = Some(child);
    url
}
