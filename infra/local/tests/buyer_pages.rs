//! The buyer's pages in a real browser (SPEC §10; issue 13's proof):
//! headless Chromium through chromedriver on the local stack with the
//! provider simulators. For a dynamic monthly-pay code, a static code and a
//! desktop Native code, with Alipay's app, an ordinary phone browser, WeChat
//! and a computer, the page shows the shop, the amount and "首期", follows
//! the flow through the simulated provider, and ends on the paid result and
//! a receipt whose numbers match the order. Every page is kept as
//! `target/browser-artifacts/<test>/<step>.png`; any console error fails.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{world, World};
use qrpay_local::webdriver::{user_agent, Artifacts, ChromeDriver, Device, Session};
use serde_json::{json, Value};

const SHOP: &str = "demo-shop";
const DISPLAY_NAME: &str = "茶小铺 · 演示店";
const SEEN_WITHIN: Duration = Duration::from_secs(15);
const DESKTOP: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

impl World {
    async fn owner_call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let token = self.running.demo.owner.clone();
        let answer = self
            .client
            .json(method, path, Some(&token), body.as_ref())
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert!(answer.status < 300, "{method} {path}: {}", answer.text());
        answer.json()
    }

    async fn code(&self, body: Value) -> Value {
        self.owner_call("POST", &format!("/shops/{SHOP}/qr-codes"), Some(body))
            .await
    }

    async fn order(&self, order_id: &str) -> Value {
        self.owner_call("GET", &format!("/shops/{SHOP}/orders/{order_id}"), None)
            .await
    }
}

async fn text(phone: &Session<'_>, css: &str) -> String {
    let element = phone
        .find(css)
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    phone.text(&element).await.unwrap()
}

async fn click(phone: &Session<'_>, css: &str) {
    let element = phone
        .find(css)
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    phone.click(&element).await.unwrap();
}

async fn keep(phone: &mut Session<'_>, shots: &mut Vec<PathBuf>, step: &str) {
    let shot = phone
        .checkpoint(step)
        .await
        .unwrap_or_else(|e| panic!("{step}: {e}"));
    shots.push(shot);
}

/// The checkout page as every buyer first sees it: the shop's display name
/// and, for a fixed amount, the amount.
async fn checkout_page_shows_the_shop(phone: &Session<'_>, amount: Option<&str>) {
    assert_eq!(
        phone.title().await.unwrap(),
        format!("向{DISPLAY_NAME}付款")
    );
    assert_eq!(text(phone, "#shop").await, DISPLAY_NAME);
    if let Some(amount) = amount {
        assert_eq!(text(phone, "#amount").await, format!("¥{amount}"));
    }
}

/// From the provider's "paid" page back to our receipt, and the receipt's
/// numbers against the order's.
async fn receipt_matches_the_order(
    w: &World,
    phone: &mut Session<'_>,
    shots: &mut Vec<PathBuf>,
    provider: (&str, &str),
) -> Value {
    phone
        .wait_for_text("#state", "支付成功", SEEN_WITHIN)
        .await
        .unwrap();
    assert!(phone
        .current_url()
        .await
        .unwrap()
        .contains("/receipts/rc1."));
    let order_id = text(phone, "#order").await;
    let order = w.order(&order_id).await;
    assert_eq!(order["status"], "PAID", "{order}");
    assert_eq!(order["provider"], provider.0);
    assert_eq!(text(phone, "#shop").await, DISPLAY_NAME);
    assert_eq!(
        text(phone, "#paid").await,
        format!("¥{}", order["paid_amount"].as_str().unwrap())
    );
    assert_eq!(text(phone, "#provider").await, provider.1);
    assert_eq!(
        text(phone, "#txn").await,
        order["provider_txn_id"].as_str().unwrap()
    );
    assert!(!text(phone, "#paid-at").await.is_empty());
    if let Some(plan) = order["instalment_plan"].as_object() {
        assert_eq!(
            text(phone, "#first").await,
            format!("首期仅需 ¥{}", plan["first_amount"].as_str().unwrap())
        );
    }
    // The shop's own link for next time, as a link and a code.
    let link = phone
        .execute("return document.querySelector('#shop-link a').href", vec![])
        .await
        .unwrap();
    assert_eq!(link, json!("https://tea.example.cn/menu"));
    keep(phone, shots, "09-receipt").await;
    order
}

/// On the simulated Alipay cashier: pay, then follow the way back.
async fn pay_at_alipay(phone: &mut Session<'_>, shots: &mut Vec<PathBuf>, amount: &str) {
    phone
        .wait_for_text("h1", &format!("{amount} CNY"), SEEN_WITHIN)
        .await
        .unwrap();
    assert_eq!(phone.title().await.unwrap(), "Alipay (simulated)");
    keep(phone, shots, "03-alipay-cashier").await;
    click(phone, "form button[type=submit]").await;
    phone
        .wait_for_text("h1", "Paid", SEEN_WITHIN)
        .await
        .unwrap();
    keep(phone, shots, "04-alipay-paid").await;
    click(phone, "a").await;
}

async fn a_monthly_pay_code_is_paid_with_alipay(test: &str, ua: &str, no: &str) -> Vec<PathBuf> {
    let w = world().await;
    let code = w
        .code(
            json!({"kind": "dynamic", "amount": "600.00", "out_order_no": no,
            "description": "茶礼盒", "instalments": {"periods": 3}}),
        )
        .await;
    let first = code["instalment_plan"]["first_amount"]
        .as_str()
        .unwrap()
        .to_owned();
    let artifacts = Artifacts::fresh(test).unwrap();
    let driver = ChromeDriver::start(&artifacts).await.unwrap();
    let mut phone = driver.session(&Device::phone(ua)).await.unwrap();
    let mut shots = Vec::new();
    phone.goto(code["url"].as_str().unwrap()).await.unwrap();
    checkout_page_shows_the_shop(&phone, Some("600.00")).await;
    assert_eq!(text(&phone, "#first").await, format!("首期仅需 ¥{first}"));
    assert_eq!(text(&phone, "#fee").await, "手续费 ¥13.80，由商家承担");
    assert!(text(&phone, "#expiry").await.starts_with("请在 "));
    // Only Huabei takes a plan: no WeChat button on a monthly-pay order.
    assert!(phone.find("#pay-wechatpay_h5").await.is_err());
    keep(&mut phone, &mut shots, "01-checkout").await;
    click(&phone, "#pay-alipay_wap").await;
    pay_at_alipay(&mut phone, &mut shots, "600.00").await;
    let order = receipt_matches_the_order(&w, &mut phone, &mut shots, ("alipay", "支付宝")).await;
    assert_eq!(order["order_id"], code["order_id"]);
    assert_eq!(order["paid_amount"], "600.00");
    phone.quit().await.unwrap();
    shots
}

#[tokio::test(flavor = "multi_thread")]
async fn a_monthly_pay_code_is_paid_with_alipay_in_a_phone_browser() {
    let shots = a_monthly_pay_code_is_paid_with_alipay(
        "pages_plan_phone",
        user_agent::ORDINARY_PHONE,
        "BP-1",
    )
    .await;
    assert_eq!(shots.len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_monthly_pay_code_is_paid_with_alipay_inside_alipay() {
    let shots =
        a_monthly_pay_code_is_paid_with_alipay("pages_plan_alipay", user_agent::ALIPAY, "BP-2")
            .await;
    assert_eq!(shots.len(), 4);
}

/// A printed static code: the buyer previews the plan for an amount, then
/// pays that amount; nothing is written before the buyer commits.
#[tokio::test(flavor = "multi_thread")]
async fn a_static_code_takes_the_typed_amount_and_shows_its_plan_first() {
    let w = world().await;
    let code = w
        .code(json!({"kind": "static", "instalments": {"periods": 3}}))
        .await;
    let artifacts = Artifacts::fresh("pages_static_phone").unwrap();
    let driver = ChromeDriver::start(&artifacts).await.unwrap();
    let mut phone = driver
        .session(&Device::phone(user_agent::ORDINARY_PHONE))
        .await
        .unwrap();
    let mut shots = Vec::new();
    phone.goto(code["url"].as_str().unwrap()).await.unwrap();
    checkout_page_shows_the_shop(&phone, None).await;
    keep(&mut phone, &mut shots, "01-checkout").await;
    let field = phone.find("#preview-amount").await.unwrap();
    phone.send_keys(&field, "300.00").await.unwrap();
    click(&phone, "#preview").await;
    phone
        .wait_for_text("#first", "首期仅需 ¥100.00", SEEN_WITHIN)
        .await
        .unwrap();
    assert_eq!(text(&phone, "#amount").await, "¥300.00");
    keep(&mut phone, &mut shots, "02-plan-preview").await;
    click(&phone, "#pay-alipay_wap").await;
    pay_at_alipay(&mut phone, &mut shots, "300.00").await;
    let order = receipt_matches_the_order(&w, &mut phone, &mut shots, ("alipay", "支付宝")).await;
    assert_eq!(order["amount"], "300.00");
    assert_eq!(order["qr_id"], code["qr_id"]);
    phone.quit().await.unwrap();
    assert_eq!(shots.len(), 5);
}

/// A computer: WeChat's Native code to scan with the phone; the buyer's
/// WeChat pays it (the simulator), and "I have paid" shows the receipt.
#[tokio::test(flavor = "multi_thread")]
async fn a_computer_shows_wechats_native_code_and_then_the_receipt() {
    let w = world().await;
    let code = w
        .code(json!({"kind": "dynamic", "amount": "36.00", "out_order_no": "BP-3"}))
        .await;
    let artifacts = Artifacts::fresh("pages_native_desktop").unwrap();
    let driver = ChromeDriver::start(&artifacts).await.unwrap();
    let mut screen = driver.session(&Device::phone(DESKTOP)).await.unwrap();
    let mut shots = Vec::new();
    screen.goto(code["url"].as_str().unwrap()).await.unwrap();
    checkout_page_shows_the_shop(&screen, Some("36.00")).await;
    keep(&mut screen, &mut shots, "01-checkout").await;
    click(&screen, "#pay-wechatpay_native").await;
    screen
        .wait_for_text("#provider-qr p", "请用另一台手机的微信扫一扫", SEEN_WITHIN)
        .await
        .unwrap();
    keep(&mut screen, &mut shots, "02-native-code").await;
    // The buyer's phone scans and pays at the simulated WeChat Pay.
    let paid = w
        .client
        .json(
            "POST",
            "/sandbox/wechatpay/pay",
            None,
            Some(&json!({"out_trade_no": code["order_id"]})),
        )
        .await
        .unwrap();
    assert_eq!(paid.status, 200, "{}", paid.text());
    click(&screen, "#done").await;
    receipt_matches_the_order(&w, &mut screen, &mut shots, ("wechatpay", "微信支付")).await;
    screen.quit().await.unwrap();
    assert_eq!(shots.len(), 3);
}
