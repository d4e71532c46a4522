//! One browser session: the W3C commands a test page needs
//! (https://www.w3.org/TR/webdriver2/#endpoints), chromedriver's console log
//! (`se/log`) and CDP (`goog/cdp/execute`).

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use super::{blocking_call, ChromeDriver, LogEntry, Result, WebDriverError, POLL};

/// The W3C name of an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A reference to an element of the current page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element(String);

/// One browser session: one emulated phone. Deleted by [`Session::quit`],
/// or on drop.
pub struct Session<'d> {
    driver: &'d ChromeDriver,
    id: String,
    profile: PathBuf,
    /// Everything the console said so far (each `se/log` read drains it).
    console: Vec<LogEntry>,
    open: bool,
}

impl<'d> Session<'d> {
    pub(super) fn new(driver: &'d ChromeDriver, id: String, profile: PathBuf) -> Session<'d> {
        Session {
            driver,
            id,
            profile,
            console: Vec::new(),
            open: true,
        }
    }

    async fn command(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let path = format!("/session/{}{path}", self.id);
        self.driver.call(method, &path, body).await
    }

    /// Opens `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) -> Result<()> {
        self.command("POST", "/url", Some(json!({"url": url})))
            .await
            .map(drop)
    }

    pub async fn current_url(&self) -> Result<String> {
        let url = self.command("GET", "/url", None).await?;
        Ok(url.as_str().unwrap_or_default().to_owned())
    }

    pub async fn title(&self) -> Result<String> {
        let title = self.command("GET", "/title", None).await?;
        Ok(title.as_str().unwrap_or_default().to_owned())
    }

    /// The first element matching a CSS selector (`no such element` if none).
    pub async fn find(&self, css: &str) -> Result<Element> {
        let found = self
            .command(
                "POST",
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await?;
        found[ELEMENT_KEY]
            .as_str()
            .map(|id| Element(id.to_owned()))
            .ok_or_else(|| WebDriverError::Transport {
                call: format!("find {css}"),
                detail: format!("no element reference in {found}"),
            })
    }

    /// Polls for an element matching `css` whose text contains `text`
    /// (after a click that navigates, a meta refresh, …).
    pub async fn wait_for_text(&self, css: &str, text: &str, within: Duration) -> Result<Element> {
        let deadline = tokio::time::Instant::now() + within;
        let mut last = String::new();
        loop {
            if let Ok(element) = self.find(css).await {
                match self.text(&element).await {
                    Ok(seen) if seen.contains(text) => return Ok(element),
                    Ok(seen) => last = seen,
                    Err(e) => last = e.to_string(),
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(WebDriverError::NotSeen(format!(
                    "no `{css}` with {text:?} within {within:?} (last seen: {last:?})"
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub async fn click(&self, element: &Element) -> Result<()> {
        let path = format!("/element/{}/click", element.0);
        self.command("POST", &path, Some(json!({}))).await.map(drop)
    }

    /// Types `text` into the element (an input).
    pub async fn send_keys(&self, element: &Element, text: &str) -> Result<()> {
        let path = format!("/element/{}/value", element.0);
        self.command("POST", &path, Some(json!({"text": text})))
            .await
            .map(drop)
    }

    /// The element's rendered text.
    pub async fn text(&self, element: &Element) -> Result<String> {
        let path = format!("/element/{}/text", element.0);
        let text = self.command("GET", &path, None).await?;
        Ok(text.as_str().unwrap_or_default().to_owned())
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) in the page
    /// and answers what it returns.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        self.command(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Runs `source` in every document this session opens from now on, before
    /// the page's own scripts (CDP `Page.addScriptToEvaluateOnNewDocument`
    /// through chromedriver's `goog/cdp/execute`): how a test stands in for a
    /// container's JS bridge without the page fetching anything.
    pub async fn add_script_on_new_document(&self, source: &str) -> Result<()> {
        let body = json!({"cmd": "Page.addScriptToEvaluateOnNewDocument",
            "params": {"source": source}});
        self.command("POST", "/goog/cdp/execute", Some(body))
            .await
            .map(drop)
    }

    /// Sends `headers` with every request this session's pages make from
    /// now on (CDP `Network.setExtraHTTPHeaders`): how a test browser
    /// carries the bearer token an API page is fetched with.
    pub async fn set_extra_headers(&self, headers: &[(&str, &str)]) -> Result<()> {
        let headers: serde_json::Map<String, Value> = headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), Value::from(*value)))
            .collect();
        let enable = json!({"cmd": "Network.enable", "params": {}});
        self.command("POST", "/goog/cdp/execute", Some(enable))
            .await?;
        let set = json!({"cmd": "Network.setExtraHTTPHeaders", "params": {"headers": headers}});
        self.command("POST", "/goog/cdp/execute", Some(set))
            .await
            .map(drop)
    }

    /// The page as a PNG.
    pub async fn screenshot(&self) -> Result<Vec<u8>> {
        let shot = self.command("GET", "/screenshot", None).await?;
        STANDARD
            .decode(shot.as_str().unwrap_or_default())
            .map_err(|e| WebDriverError::Transport {
                call: "GET screenshot".into(),
                detail: format!("not base64: {e}"),
            })
    }

    /// The console entries logged since the last read (all of them are also
    /// kept, see [`Session::console_history`]).
    pub async fn console(&mut self) -> Result<Vec<LogEntry>> {
        let read = self
            .command("POST", "/se/log", Some(json!({"type": "browser"})))
            .await?;
        let entries: Vec<LogEntry> =
            serde_json::from_value(read).map_err(|e| WebDriverError::Transport {
                call: "POST se/log".into(),
                detail: format!("not a log: {e}"),
            })?;
        self.console.extend(entries.iter().cloned());
        Ok(entries)
    }

    pub fn console_history(&self) -> &[LogEntry] {
        &self.console
    }

    /// Keeps `<step>.png` of the page among the artifacts, then fails if the
    /// console has said anything `SEVERE` since the last read. The
    /// screenshot is written first, so a failing page is kept too.
    pub async fn checkpoint(&mut self, step: &str) -> Result<PathBuf> {
        let path = self.save_screenshot(step).await?;
        let severe: Vec<LogEntry> = self
            .console()
            .await?
            .into_iter()
            .filter(LogEntry::is_severe)
            .collect();
        if !severe.is_empty() {
            return Err(WebDriverError::Console {
                step: step.to_owned(),
                entries: severe,
            });
        }
        Ok(path)
    }

    /// Writes the page's screenshot to `<artifacts>/<step>.png`.
    pub async fn save_screenshot(&self, step: &str) -> Result<PathBuf> {
        let png = self.screenshot().await?;
        let path = self.driver.artifacts.path(&format!("{step}.png"));
        fs::write(&path, png).map_err(|e| WebDriverError::Artifact {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        Ok(path)
    }

    /// Ends the session: the browser quits.
    pub async fn quit(mut self) -> Result<()> {
        self.open = false;
        self.command("DELETE", "", None).await.map(drop)
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        if self.open {
            let path = format!("/session/{}", self.id);
            let _ = blocking_call(self.driver.addr, "DELETE", &path);
        }
        let _ = fs::remove_dir_all(&self.profile);
    }
}
