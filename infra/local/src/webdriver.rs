//! A real browser for the tests: Debian's headless Chromium driven through
//! `chromedriver` with the W3C WebDriver protocol, as plain JSON over HTTP
//! (https://www.w3.org/TR/webdriver2/#endpoints) on the crate's own
//! [`Client`]. No WebDriver crate: `thirtyfour` downloads its own
//! chromedriver, which cannot work on machines that only reach package
//! registries, and neither it nor `fantoccini` has `se/log` or
//! `goog/cdp/execute` as calls (BUYER_PAGES.md §14.4).
//!
//! `infra/browser.sh install` puts `/usr/bin/chromium`, `/usr/bin/chromedriver`
//! and a CJK font on the machine (`infra/test.sh` runs it). [`ChromeDriver::start`]
//! runs `chromedriver --port=0` in its own process group (killed, with the
//! browsers it started, on drop); [`ChromeDriver::session`] opens a phone
//! [`Device`]; every call is bounded by a timeout and answers a [`Result`]
//! that carries WebDriver's own error text.
//!
//! Chromium's flags, and why ([`CHROMIUM_ARGS`]):
//! - `--headless=new`: the headless mode of the full browser (the old one is
//!   only the separate `chrome-headless-shell` since Chrome 132,
//!   https://developer.chrome.com/docs/automation-and-testing/headless);
//! - `--no-sandbox`: the tests run as root, and Chromium refuses to start its
//!   sandbox as root ("Running as root without --no-sandbox is not supported");
//! - `--disable-dev-shm-usage`: shared memory files go to /tmp instead of
//!   /dev/shm, the known fix where /dev/shm is small (64 MB in a default
//!   Docker container), where renderers crash ("session deleted because of
//!   page crash"). Not needed on this machine (24 GB of /dev/shm; a 64 KB one
//!   in a private mount namespace still rendered a small page), given always
//!   so a smaller CI box cannot fail for it. Debian's `/usr/bin/chromium`
//!   wrapper (`/etc/chromium.d/dev-shm`) adds it only below 3.8 GB free, and
//!   its check misreads a machine where `findmnt` lists several mounts
//!   (`[: …: unexpected operator`);
//! - `--disable-gpu`: no GPU here;
//! - `--disable-background-networking`, `--disable-component-update`,
//!   `--disable-sync`, `--disable-breakpad`, `--no-first-run`,
//!   `--no-default-browser-check`: nothing but the pages under test goes on
//!   the network (this machine's network is closed);
//! - `--user-data-dir`: a fresh profile per session, removed afterwards.
//!
//! The console: `goog:loggingPrefs` `{"browser": "ALL"}` and
//! `POST /session/{id}/se/log {"type":"browser"}`. Each read drains
//! chromedriver's buffer (checked against chromedriver 156: a second read
//! right after the first is empty). JavaScript errors, CSP violations and
//! sub-resources that fail to load are `SEVERE`; [`Session::checkpoint`] fails
//! on any. A page without `<link rel="icon" href="data:,">` makes Chromium ask
//! for `/favicon.ico`, and a 404 there is a `SEVERE` entry too.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::client::Client;

mod session;
pub use session::{Element, Session};

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// See the module's documentation for each one.
pub const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-breakpad",
    "--no-first-run",
    "--no-default-browser-check",
];

/// One WebDriver call, whole (chromedriver's page-load limit is below it).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Opening a session starts a browser: on a loaded 2-core machine, with
/// cold disk caches (CI right after a build), that alone took over 30 s.
const SESSION_TIMEOUT: Duration = Duration::from_secs(90);
const PAGE_LOAD_MS: u64 = 20_000;
const SCRIPT_MS: u64 = 10_000;
/// From spawning chromedriver to its `/status` saying ready.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// The synchronous clean-up calls made on drop.
const DROP_TIMEOUT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(50);

/// Sample `User-Agent`s of the containers a buyer's page tells apart
/// (BUYER_PAGES.md §1.1; the in-app ones are community samples).
pub mod user_agent {
    /// Chrome on an Android phone: an ordinary mobile browser.
    pub const ORDINARY_PHONE: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 \
        (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36";
    /// Alipay's in-app browser on an iPhone.
    pub const ALIPAY: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) \
        AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Nebula AliApp(AP/10.6.10.6000) \
        AlipayClient/10.6.10.6000 Alipay Language/zh-Hans";
    /// Chrome on a Linux desktop: finance staff at a desk.
    pub const DESKTOP: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 \
        (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";
    /// WeChat's in-app browser on an Android phone.
    pub const WECHAT: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 \
        (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36 MicroMessenger/8.0.49.2600 \
        NetType/WIFI Language/zh_CN";
}

#[derive(Debug, thiserror::Error)]
pub enum WebDriverError {
    /// chromedriver could not be started or did not become ready.
    #[error("chromedriver: {0}")]
    Launch(String),
    /// No answer, or not a WebDriver answer.
    #[error("{call}: {detail}")]
    Transport { call: String, detail: String },
    #[error("{call}: no answer within {after:?}")]
    Timeout { call: String, after: Duration },
    /// WebDriver's own error (https://www.w3.org/TR/webdriver2/#errors).
    #[error("{call}: {error}: {message}")]
    Command {
        call: String,
        error: String,
        message: String,
    },
    /// The page logged errors to the console.
    #[error("console errors at {step}: {entries:?}")]
    Console {
        step: String,
        entries: Vec<LogEntry>,
    },
    /// A screenshot or log could not be written.
    #[error("artifact {path}: {detail}")]
    Artifact { path: PathBuf, detail: String },
    /// A condition polled for did not come true in time.
    #[error("{0}")]
    NotSeen(String),
}

pub type Result<T> = std::result::Result<T, WebDriverError>;

/// One entry of the browser's console.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LogEntry {
    /// `SEVERE`, `WARNING`, `INFO`, `DEBUG`.
    pub level: String,
    pub message: String,
    #[serde(default)]
    pub source: String,
    pub timestamp: i64,
}

impl LogEntry {
    pub fn is_severe(&self) -> bool {
        self.level == "SEVERE"
    }
}

/// The phone the browser emulates (chromedriver's `mobileEmulation`,
/// https://developer.chrome.com/docs/chromedriver/mobile-emulation).
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub user_agent: String,
    pub width: u32,
    pub height: u32,
    pub pixel_ratio: f64,
    /// A touch screen (a phone) or a mouse (a desk).
    pub touch: bool,
}

impl Device {
    /// A 390 × 844 phone at 3× with touch, under `user_agent`.
    pub fn phone(user_agent: &str) -> Device {
        Device {
            user_agent: user_agent.to_owned(),
            width: 390,
            height: 844,
            pixel_ratio: 3.0,
            touch: true,
        }
    }

    /// A desk's screen, 1280 wide and `height` tall (a whole report page
    /// fits in one screenshot), at 1×, with Chrome's desktop User-Agent.
    pub fn desktop(height: u32) -> Device {
        Device {
            user_agent: user_agent::DESKTOP.to_owned(),
            width: 1280,
            height,
            pixel_ratio: 1.0,
            touch: false,
        }
    }
}

/// Where one test keeps its screenshots and chromedriver's log:
/// `target/browser-artifacts/<test>/`, emptied when the test starts.
#[derive(Debug, Clone)]
pub struct Artifacts {
    pub dir: PathBuf,
}

impl Artifacts {
    pub fn fresh(test: &str) -> Result<Artifacts> {
        let dir = target_dir().join("browser-artifacts").join(test);
        let failed = |detail: std::io::Error| WebDriverError::Artifact {
            path: dir.clone(),
            detail: detail.to_string(),
        };
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(failed)?;
        }
        fs::create_dir_all(&dir).map_err(failed)?;
        Ok(Artifacts { dir })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// The build's `target/`: the test binary runs from `target/<profile>/deps/`
/// (`CARGO_TARGET_DIR` moves it, and this follows); else `./target`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().ok();
    let deps = exe.as_deref().and_then(Path::parent);
    match deps.filter(|d| d.ends_with("deps")) {
        Some(deps) => deps
            .parent()
            .and_then(Path::parent)
            .map_or_else(|| PathBuf::from("target"), Path::to_path_buf),
        None => std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| PathBuf::from("target"), PathBuf::from),
    }
}

/// A running chromedriver on a loopback port, in its own process group;
/// the group (chromedriver and every browser it started) is killed on drop.
pub struct ChromeDriver {
    child: Child,
    client: Client,
    addr: SocketAddr,
    artifacts: Artifacts,
}

impl ChromeDriver {
    /// Starts `chromedriver --port=0` (it picks a free port and prints it),
    /// logging to `chromedriver.log` among the artifacts, and waits until
    /// `GET /status` says `ready`.
    pub async fn start(artifacts: &Artifacts) -> Result<ChromeDriver> {
        let launch = |detail: String| WebDriverError::Launch(detail);
        if !Path::new(CHROMEDRIVER).exists() {
            return Err(launch(format!(
                "{CHROMEDRIVER} is missing: run `infra/browser.sh install` (infra/test.sh does)"
            )));
        }
        let out_path = artifacts.path("chromedriver.out");
        let out = fs::File::create(&out_path).map_err(|e| launch(e.to_string()))?;
        let err = out.try_clone().map_err(|e| launch(e.to_string()))?;
        let log = artifacts.path("chromedriver.log");
        // Its own process group, which the browsers it starts join.
        let child = Command::new(CHROMEDRIVER)
            .arg("--port=0")
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| launch(format!("cannot run {CHROMEDRIVER}: {e}")))?;
        let mut driver = ChromeDriver {
            child,
            client: Client::new(String::new()),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            artifacts: artifacts.clone(),
        };
        let port = tokio::time::timeout(START_TIMEOUT, driver.announced_port(&out_path))
            .await
            .map_err(|_| launch(format!("no port announced within {START_TIMEOUT:?}")))??;
        driver.addr = SocketAddr::from(([127, 0, 0, 1], port));
        driver.client = Client::new(driver.addr.to_string());
        tokio::time::timeout(START_TIMEOUT, driver.ready())
            .await
            .map_err(|_| launch(format!("not ready within {START_TIMEOUT:?}")))?;
        Ok(driver)
    }

    /// The port in "ChromeDriver was started successfully on port N.".
    async fn announced_port(&mut self, out: &Path) -> Result<u16> {
        const SAID: &str = "started successfully on port ";
        loop {
            let text = fs::read_to_string(out).unwrap_or_default();
            let port = text
                .split_once(SAID)
                .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|digits| digits.parse::<u16>().ok());
            if let Some(port) = port {
                return Ok(port);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(WebDriverError::Launch(format!(
                    "exited ({status}) before listening: {}",
                    text.trim()
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn ready(&self) {
        loop {
            let status = self.call("GET", "/status", None).await;
            if status.is_ok_and(|s| s["ready"] == true) {
                return;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub fn artifacts(&self) -> &Artifacts {
        &self.artifacts
    }

    /// A new browser session emulating `device`, its console recorded.
    pub async fn session(&self, device: &Device) -> Result<Session<'_>> {
        let profile = fresh_profile_dir()?;
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| (*a).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {"implicit": 0, "pageLoad": PAGE_LOAD_MS, "script": SCRIPT_MS},
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": args,
                "mobileEmulation": {
                    "deviceMetrics": {"width": device.width, "height": device.height,
                        "pixelRatio": device.pixel_ratio, "touch": device.touch},
                    "userAgent": device.user_agent,
                },
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let opened = self.call("POST", "/session", Some(capabilities)).await;
        let id = opened.and_then(|value| {
            value["sessionId"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| WebDriverError::Transport {
                    call: "POST /session".into(),
                    detail: format!("no sessionId in {value}"),
                })
        });
        match id {
            Ok(id) => Ok(Session::new(self, id, profile)),
            Err(e) => {
                let _ = fs::remove_dir_all(&profile);
                Err(e)
            }
        }
    }

    /// One WebDriver command: its `value`, or WebDriver's error.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let call = format!("{method} {path}");
        let sent = self.client.json(method, path, None, body.as_ref());
        let limit = if (method, path) == ("POST", "/session") {
            SESSION_TIMEOUT
        } else {
            CALL_TIMEOUT
        };
        let answer = tokio::time::timeout(limit, sent)
            .await
            .map_err(|_| WebDriverError::Timeout {
                call: call.clone(),
                after: limit,
            })?
            .map_err(|detail| WebDriverError::Transport {
                call: call.clone(),
                detail,
            })?;
        let value = match answer.json() {
            Value::Object(mut o) => o.remove("value").unwrap_or(Value::Null),
            _ => {
                return Err(WebDriverError::Transport {
                    call,
                    detail: format!("HTTP {}: {}", answer.status, answer.text()),
                })
            }
        };
        match value["error"].as_str() {
            // The stack trace is chromedriver's own addresses: left out.
            Some(error) => Err(WebDriverError::Command {
                call,
                error: error.to_owned(),
                message: value["message"].as_str().unwrap_or_default().to_owned(),
            }),
            None => Ok(value),
        }
    }
}

impl Drop for ChromeDriver {
    /// `GET /shutdown` quits chromedriver and its browsers; the process
    /// group is killed whatever that did, and chromedriver reaped.
    fn drop(&mut self) {
        let _ = blocking_call(self.addr, "GET", "/shutdown");
        let group = format!("-{}", self.child.id());
        let killed = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !killed.is_ok_and(|s| s.success()) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn fresh_profile_dir() -> Result<PathBuf> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("qrpay-chromium-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| WebDriverError::Artifact {
        path: dir.clone(),
        detail: e.to_string(),
    })?;
    Ok(dir)
}

/// A minimal HTTP/1.1 request without the runtime, for the clean-up in
/// `Drop`. It reads up to the end of the answer's body: chromedriver says
/// `Connection: close` but keeps the socket open after a `DELETE`.
fn blocking_call(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<()> {
    let mut stream = StdTcpStream::connect_timeout(&addr, DROP_TIMEOUT)?;
    stream.set_read_timeout(Some(DROP_TIMEOUT))?;
    stream.set_write_timeout(Some(DROP_TIMEOUT))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    let mut chunk = [0_u8; 4096];
    while !whole_answer(&answer) {
        match stream.read(&mut chunk)? {
            0 => break,
            n => answer.extend_from_slice(&chunk[..n]),
        }
    }
    Ok(())
}

/// Whether `answer` holds an HTTP answer's head and all its `Content-Length`.
fn whole_answer(answer: &[u8]) -> bool {
    let Some(head_end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&answer[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|n| n.trim().parse::<usize>().ok());
    length.is_some_and(|n| answer.len() >= head_end + 4 + n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_entries_read_as_chromedriver_writes_them() {
        // As chromedriver 156 answered a page that logged an error and had no icon.
        let read = json!([
            {"level": "SEVERE", "message": "http://127.0.0.1:9518/page.html 0:129 \"boom\"",
             "source": "console-api", "timestamp": 1796232912832_i64},
            {"level": "INFO", "message": "hello", "source": "console-api", "timestamp": 1796232912833_i64},
        ]);
        let entries: Vec<LogEntry> = serde_json::from_value(read).unwrap();
        let severe: Vec<_> = entries.iter().filter(|e| e.is_severe()).collect();
        assert_eq!(severe.len(), 1);
        assert_eq!(severe[0].source, "console-api");
    }

    #[test]
    fn an_answer_is_whole_once_its_content_length_is_read() {
        // chromedriver 156's answer to `DELETE /session/{id}`, byte for byte.
        let answer = b"HTTP/1.1 200 OK\r\nContent-Length:14\r\nContent-Type:application/json; \
            charset=utf-8\r\ncache-control:no-cache\r\nConnection:close\r\n\r\n{\"value\":null}";
        assert!(whole_answer(answer));
        assert!(!whole_answer(&answer[..answer.len() - 1]));
        assert!(!whole_answer(b"HTTP/1.1 200 OK\r\nContent-Length:14\r\n"));
        // Without a length, only the server's close ends it.
        assert!(!whole_answer(b"HTTP/1.1 200 OK\r\n\r\n{}"));
    }
}
