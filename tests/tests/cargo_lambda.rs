//! A function run without Docker, as the README shows ("Local invoke"):
//! `cargo lambda watch` serves qr-issue (a debug build in the workspace's
//! target/) with its `events/env.json` settings pointed at a fresh table in
//! the emulator, and `cargo lambda invoke --data-file events/qr-issue/...`
//! gets its exact answers. cargo-lambda comes from infra/cargo-lambda.sh
//! (infra/test.sh installs it); without it this test fails.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use qrpay_tests::template::root;
use qrpay_tests::World;
use serde_json::Value;

/// The build is the slow part (a debug build of one function): bounded.
const BUILD_LIMIT: Duration = Duration::from_secs(15 * 60);
const WATCH_READY_LIMIT: Duration = Duration::from_secs(120);

fn cargo_lambda() -> PathBuf {
    let path = root().join("infra/.venv-cargo-lambda/bin/cargo-lambda");
    assert!(
        path.is_file(),
        "{} is missing: run infra/cargo-lambda.sh install (infra/test.sh does)",
        path.display()
    );
    path
}

/// The watcher and the function it starts, stopped together on drop.
struct Watcher(Child);

impl Drop for Watcher {
    fn drop(&mut self) {
        // Its own process group: the function process goes with it.
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().unwrap().port()
}

/// qr-issue's entry of events/env.json, on this table in the emulator.
fn env_file(table: &str) -> PathBuf {
    let endpoint = qrpay_tests::emulator::endpoint();
    let local = [
        ("TABLE_NAME", table),
        ("QRPAY_AWS_ENDPOINT", endpoint),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        // No stage secret: the settings come from the environment.
        ("QRPAY_SECRET_ID", ""),
        ("QRPAY_QR_TOKEN_SECRET", "cargo-lambda-test-token-secret"),
    ];
    let text = std::fs::read_to_string(root().join("events/env.json")).unwrap();
    let env: Value = serde_json::from_str(&text).unwrap();
    let documented = env["QrIssueFunction"].as_object().expect("QrIssueFunction");
    let mut lines = String::new();
    for (name, value) in documented {
        if !local.iter().any(|(n, _)| n == name) {
            lines.push_str(&format!("{name}={}\n", value.as_str().unwrap()));
        }
    }
    for (name, value) in local {
        lines.push_str(&format!("{name}={value}\n"));
    }
    let path = std::env::temp_dir().join(format!("{table}.env"));
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(lines.as_bytes()))
        .unwrap();
    path
}

fn watch(port: u16, env_file: &PathBuf) -> Watcher {
    let child = Command::new(cargo_lambda())
        .current_dir(root())
        .args(["lambda", "watch", "--ignore-changes", "--bin", "qr-issue"])
        .args([
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port.to_string(),
        ])
        .arg("--env-file")
        .arg(env_file)
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start cargo lambda watch");
    let watcher = Watcher(child);
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < WATCH_READY_LIMIT,
            "cargo lambda watch never listened"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    watcher
}

/// `cargo lambda invoke qr-issue --data-file events/<event>`: the answer.
fn invoke(port: u16, event: &str) -> Value {
    let mut child = Command::new(cargo_lambda())
        .current_dir(root())
        .args(["lambda", "invoke", "qr-issue", "--output-format", "json"])
        .args([
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port.to_string(),
        ])
        .args(["--data-file", &format!("events/{event}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run cargo lambda invoke");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > BUILD_LIMIT {
            let _ = child.kill();
            panic!("cargo lambda invoke {event}: no answer in {BUILD_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().unwrap();
    assert!(
        status.success(),
        "cargo lambda invoke {event}: {status}\n{}",
        String::from_utf8_lossy(&stderr)
    );
    serde_json::from_slice(&stdout)
        .unwrap_or_else(|e| panic!("{event}: {e}: {}", String::from_utf8_lossy(&stdout)))
}

fn body(answer: &Value) -> Value {
    serde_json::from_str(answer["body"].as_str().expect("a body")).expect("a JSON body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_issue_answers_the_sample_events_under_cargo_lambda_watch() {
    let store = qrpay_tests::dynamo_store().await;
    World::new(store.clone(), "15000.00", "0.00").await;
    let env = env_file(store.table_name());
    let port = free_port();
    let watcher = watch(port, &env);

    // The static code for shop-1 (owner's claims in the event): 201, a
    // payment link under QRPAY_PAY_BASE_URL from env.json.
    let created = invoke(port, "qr-issue/create-static-qr.json");
    assert_eq!(created["statusCode"], 201, "{created}");
    let code = body(&created);
    assert_eq!(code["kind"], "static", "{code}");
    assert_eq!(code["shop_id"], "shop-1", "{code}");
    assert_eq!(code["description"], "counter stand", "{code}");
    let url = code["url"].as_str().unwrap();
    assert!(url.starts_with("https://pay.qrpay.example/"), "{url}");

    // The sample's code id was never issued on this table.
    let missing = invoke(port, "qr-issue/get-qr.json");
    assert_eq!(missing["statusCode"], 404, "{missing}");
    assert_eq!(body(&missing)["error"]["code"], "QR_NOT_FOUND");

    drop(watcher);
    let _ = std::fs::remove_file(env);
    // Stopped: nothing listens on the port any more.
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}
