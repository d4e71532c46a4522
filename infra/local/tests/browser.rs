//! A real browser on the local stack (BUYER_PAGES.md §14): headless Chromium
//! through chromedriver (`qrpay_local::webdriver`), installed by
//! `infra/browser.sh install` — `infra/test.sh` runs it; a test whose browser
//! is missing fails and says so, it never skips itself.
//!
//! The page driven here is one that exists today: the simulated Alipay's
//! `alipay.trade.wap.pay` cashier, opened from the URL the real Alipay adapter
//! signs for an order of a dynamic code. The buyer taps "pay" on a phone
//! (an ordinary mobile browser, and Alipay's in-app one), and the stack's
//! order becomes PAID through the simulator's signed notice. Each page is
//! kept as `target/browser-artifacts/<test>/<step>.png`, and any `SEVERE`
//! console entry fails the test.
//!
//! Not yet here: the buyer's own pages (`/pay/{token}`, the return page) are
//! a later slice. Today the simulator answers the "pay" form with its own
//! "Paid" page that links to `return_url`; that link is checked, not followed.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::Duration as Span;
use common::{world, World};
use qrpay_domain::{Amount, Clock, OrderId, Provider};
use qrpay_local::webdriver::{
    user_agent, Artifacts, ChromeDriver, Device, Session, WebDriverError,
};
use qrpay_provider::gateway::{CollectRequest, CreateOutcome, PayMethod, ProviderCode};
use serde_json::{json, Value};

const SHOP: &str = "demo-shop";
const SUBJECT: &str = "奶茶 大杯";
const SEEN_WITHIN: Duration = Duration::from_secs(10);

impl World {
    fn base(&self) -> String {
        format!("http://{}", self.running.addr)
    }

    /// A dynamic code through the API: its order's id.
    async fn dynamic_code(&self, out_order_no: &str, amount: &str) -> String {
        let body = json!({"kind": "dynamic", "amount": amount, "out_order_no": out_order_no});
        let path = format!("/shops/{SHOP}/qr-codes");
        let code = self.owner_call("POST", &path, Some(body)).await;
        code["order_id"].as_str().unwrap().to_owned()
    }

    async fn order(&self, order_id: &str) -> Value {
        let path = format!("/shops/{SHOP}/orders/{order_id}");
        self.owner_call("GET", &path, None).await
    }

    /// The signed `alipay.trade.wap.pay` URL the real adapter sends the
    /// browser to.
    async fn alipay_wap_url(&self, order_id: &str, amount: &str, return_url: &str) -> String {
        let gateway = self
            .running
            .stack
            .gateways
            .collection(Provider::Alipay)
            .expect("the local stack configures Alipay");
        let created = gateway
            .create(&CollectRequest {
                order_id: OrderId::parse(order_id).unwrap(),
                amount: Amount::parse(amount).unwrap(),
                subject: SUBJECT.into(),
                expires_at: self.running.stack.clock.now() + Span::minutes(30),
                method: PayMethod::Wap {
                    return_url: return_url.into(),
                },
                instalments: None,
                shop_id: None,
            })
            .await;
        match created {
            CreateOutcome::Created(ProviderCode::Redirect(url)) => url,
            other => panic!("{other:?}"),
        }
    }

    /// Polls the order until it is PAID (the simulator's notice is on its way).
    async fn paid_order(&self, order_id: &str) -> Value {
        let deadline = Instant::now() + SEEN_WITHIN;
        loop {
            let order = self.order(order_id).await;
            if order["status"] == "PAID" || Instant::now() >= deadline {
                return order;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The page's screenshot, kept; its console must be clean (the simulator's
/// pages carry `<link rel="icon" href="data:,">`, so not even a missing
/// favicon is let through).
async fn keep(phone: &mut Session<'_>, step: &str) -> PathBuf {
    phone
        .checkpoint(step)
        .await
        .unwrap_or_else(|e| panic!("{step}: {e}"))
}

/// A session on a phone with `ua`, checked to be the phone it claims to be.
async fn phone<'d>(driver: &'d ChromeDriver, ua: &str) -> Session<'d> {
    let phone = driver.session(&Device::phone(ua)).await.unwrap();
    let seen = phone
        .execute(
            "return [navigator.userAgent, screen.width, navigator.maxTouchPoints > 0]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(seen, json!([ua, 390, true]));
    phone
}

/// Opens the wap page on a phone with `ua`, pays, and checks the order.
async fn buyer_pays_on_the_alipay_wap_page(test: &str, ua: &str, no: &str) -> Vec<PathBuf> {
    let started = Instant::now();
    let w = world().await;
    let order_id = w.dynamic_code(no, "12.50").await;
    let return_url = format!("{}/return-page-of-a-later-slice", w.base());
    let url = w.alipay_wap_url(&order_id, "12.50", &return_url).await;
    assert!(
        url.starts_with(&format!("{}/sim/alipay/gateway.do?", w.base())),
        "{url}"
    );

    let artifacts = Artifacts::fresh(test).unwrap();
    let driver = ChromeDriver::start(&artifacts).await.unwrap();
    let mut phone = phone(&driver, ua).await;
    phone.goto(&url).await.unwrap();
    assert_eq!(phone.title().await.unwrap(), "Alipay (simulated)");
    let amount = phone.find("h1").await.unwrap();
    assert_eq!(phone.text(&amount).await.unwrap(), "12.50 CNY");
    let subject = phone.find("h1 + p").await.unwrap();
    assert_eq!(phone.text(&subject).await.unwrap(), SUBJECT);
    assert_eq!(w.order(&order_id).await["status"], "CREATED");
    let mut shots = vec![keep(&mut phone, "01-alipay-wap-page").await];

    let pay = phone.find("form button[type=submit]").await.unwrap();
    assert_eq!(phone.text(&pay).await.unwrap(), "pay");
    phone.click(&pay).await.unwrap();
    let paid = phone
        .wait_for_text("h1", "Paid", SEEN_WITHIN)
        .await
        .unwrap();
    assert_eq!(phone.text(&paid).await.unwrap(), "Paid 12.50 CNY");
    assert_eq!(
        phone.current_url().await.unwrap(),
        format!("{}/sandbox/alipay/pay", w.base())
    );
    let back = phone
        .execute("return document.querySelector('a').href", vec![])
        .await
        .unwrap();
    assert_eq!(back, json!(return_url), "the way back to the shop");
    shots.push(keep(&mut phone, "02-alipay-paid").await);

    let order = w.paid_order(&order_id).await;
    assert_eq!(
        (
            order["status"].as_str(),
            order["provider"].as_str(),
            order["paid_amount"].as_str()
        ),
        (Some("PAID"), Some("alipay"), Some("12.50")),
        "{order}"
    );
    phone.quit().await.unwrap();
    for shot in &shots {
        let png = std::fs::read(shot).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{}", shot.display());
    }
    eprintln!(
        "{test}: {:.1} s, {shots:?}",
        started.elapsed().as_secs_f64()
    );
    shots
}

#[tokio::test(flavor = "multi_thread")]
async fn a_buyer_in_an_ordinary_phone_browser_pays_on_the_alipay_wap_page() {
    buyer_pays_on_the_alipay_wap_page(
        "alipay_wap_ordinary_phone",
        user_agent::ORDINARY_PHONE,
        "BR-PHONE-1",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_buyer_in_alipays_app_pays_on_the_alipay_wap_page() {
    buyer_pays_on_the_alipay_wap_page("alipay_wap_alipay_app", user_agent::ALIPAY, "BR-ALIPAY-1")
        .await;
}

/// The harness fails where it must: a page that logs an error, a missing
/// element; a script given to CDP runs in the next document, and typed
/// keys land in the input.
#[tokio::test(flavor = "multi_thread")]
async fn the_harness_reports_console_errors_and_webdriver_errors() {
    let artifacts = Artifacts::fresh("harness_errors").unwrap();
    let driver = ChromeDriver::start(&artifacts).await.unwrap();
    let mut phone = driver
        .session(&Device::phone(user_agent::WECHAT))
        .await
        .unwrap();
    phone
        .add_script_on_new_document("window.planted = 'before the page';")
        .await
        .unwrap();
    let page = "data:text/html;charset=utf-8,<!doctype html><link rel=icon href='data:,'>\
        <h1>erreur</h1><input id=amount inputmode=decimal>\
        <script>console.error('planted ' %2B window.planted)</script>";
    phone.goto(page).await.unwrap();
    let failed = phone.checkpoint("01-console-error").await;
    let Err(WebDriverError::Console { step, entries }) = failed else {
        panic!("{failed:?}");
    };
    assert_eq!(step, "01-console-error");
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(
        (entries[0].level.as_str(), entries[0].source.as_str()),
        ("SEVERE", "console-api")
    );
    assert!(
        entries[0].message.ends_with("\"planted before the page\""),
        "{entries:?}"
    );
    assert!(artifacts.path("01-console-error.png").exists());
    // Read once, gone from chromedriver; kept in the session's history.
    assert_eq!(phone.console().await.unwrap(), vec![]);
    assert_eq!(phone.console_history().len(), 1);

    let amount = phone.find("#amount").await.unwrap();
    phone.send_keys(&amount, "12.30").await.unwrap();
    let typed = phone
        .execute("return document.getElementById('amount').value", vec![])
        .await
        .unwrap();
    assert_eq!(typed, json!("12.30"));

    let missing = phone.find("#no-such-thing").await;
    let Err(WebDriverError::Command { error, .. }) = &missing else {
        panic!("{missing:?}");
    };
    assert_eq!(error, "no such element");
    phone.quit().await.unwrap();
}
