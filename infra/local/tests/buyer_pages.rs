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

/// A fresh chromedriver whose artifacts go to `target/browser-artifacts/{test}`.
async fn driver_for(test: &str) -> ChromeDriver {
    let artifacts = Artifacts::fresh(test).unwrap();
    ChromeDriver::start(&artifacts).await.unwrap()
}

/// A phone with `ua` (and `stub` planted before any page script) on `code`'s page.
async fn open<'d>(
    driver: &'d ChromeDriver,
    ua: &str,
    code: &Value,
    stub: Option<&str>,
) -> Session<'d> {
    let phone = driver.session(&Device::phone(ua)).await.unwrap();
    if let Some(stub) = stub {
        phone.add_script_on_new_document(stub).await.unwrap();
    }
    phone.goto(code["url"].as_str().unwrap()).await.unwrap();
    phone
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
    let driver = driver_for(test).await;
    let mut phone = open(&driver, ua, &code, None).await;
    let mut shots = Vec::new();
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
    let driver = driver_for("pages_static_phone").await;
    let mut phone = open(&driver, user_agent::ORDINARY_PHONE, &code, None).await;
    let mut shots = Vec::new();
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
    let driver = driver_for("pages_native_desktop").await;
    let mut screen = open(&driver, DESKTOP, &code, None).await;
    let mut shots = Vec::new();
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

/// What the test plants in WeChat's place: a JS bridge that records what
/// the page asks it and answers when the test says so.
const BRIDGE_STUB: &str = "window.WeixinJSBridge = {invoke: function (name, params, done) {\
    window.__bridge = {name: name, params: params}; window.__answer = done; }};";

/// Inside WeChat: the page goes through WeChat's silent authorization
/// (simulated), makes a JSAPI order for the buyer's openid and asks the
/// bridge to pay with parameters the simulated WeChat verifies against the
/// merchant's key; WeChat's "ok" takes the buyer to the receipt.
#[tokio::test(flavor = "multi_thread")]
async fn inside_wechat_the_page_pays_through_the_js_bridge() {
    let w = world().await;
    let code = w
        .code(json!({"kind": "dynamic", "amount": "42.00", "out_order_no": "BP-4", "description": "奶茶两杯"}))
        .await;
    let driver = driver_for("pages_wechat_jsapi").await;
    let mut phone = open(&driver, user_agent::WECHAT, &code, Some(BRIDGE_STUB)).await;
    let mut shots = Vec::new();
    checkout_page_shows_the_shop(&phone, Some("42.00")).await;
    // Inside WeChat only WeChat's own way is offered.
    assert!(phone.find("#pay-alipay_wap").await.is_err());
    keep(&mut phone, &mut shots, "01-checkout").await;
    pay_through_the_bridge(&w, &mut phone, &mut shots).await;
    let order =
        receipt_matches_the_order(&w, &mut phone, &mut shots, ("wechatpay", "微信支付")).await;
    assert_eq!(order["order_id"], code["order_id"]);
    phone.quit().await.unwrap();
    assert_eq!(shots.len(), 3);
}

/// From the WeChat button: WeChat's authorization (simulated) runs, the
/// page asks the planted bridge to pay with signed parameters, the
/// simulated WeChat verifies them (and refuses a forged package) and pays,
/// and the bridge's "ok" leaves the page for the receipt.
async fn pay_through_the_bridge(w: &World, phone: &mut Session<'_>, shots: &mut Vec<PathBuf>) {
    click(phone, "#pay-wechatpay_jsapi").await;
    phone
        .wait_for_text("#state", "正在打开微信支付", SEEN_WITHIN)
        .await
        .unwrap();
    let asked = phone
        .execute("return window.__bridge", vec![])
        .await
        .unwrap();
    assert_eq!(asked["name"], "getBrandWCPayRequest");
    let params = asked["params"].clone();
    assert_eq!(params["signType"], "RSA");
    assert!(params["package"]
        .as_str()
        .unwrap()
        .starts_with("prepay_id="));
    keep(phone, shots, "02-wechat-bridge").await;
    let mut forged = params.clone();
    forged["package"] = json!("prepay_id=wx_someone_else");
    for (asked, status) in [(&forged, 400), (&params, 200)] {
        let answer = w
            .client
            .json("POST", "/sandbox/wechatpay/jsapi", None, Some(asked))
            .await
            .unwrap();
        assert_eq!(answer.status, status, "{}", answer.text());
    }
    phone
        .execute(
            "window.__answer({err_msg: 'get_brand_wcpay_request:ok'}); return true",
            vec![],
        )
        .await
        .unwrap();
}

/// Any other phone browser is never a dead end: a monthly-pay code opened
/// in Douyin offers Alipay, and WeChat without JSAPI for a plan says where
/// to pay.
#[tokio::test(flavor = "multi_thread")]
async fn a_plan_opened_in_wechat_says_where_it_can_be_paid() {
    let w = world().await;
    let code = w
        .code(json!({"kind": "dynamic", "amount": "300.00", "out_order_no": "BP-5", "instalments": {"periods": 3}}))
        .await;
    let driver = driver_for("pages_plan_in_wechat").await;
    let mut phone = open(&driver, user_agent::WECHAT, &code, None).await;
    let mut shots = Vec::new();
    checkout_page_shows_the_shop(&phone, Some("300.00")).await;
    assert!(text(&phone, "#first").await.starts_with("首期仅需 ¥"));
    assert!(text(&phone, "#no-way").await.contains("在浏览器中打开"));
    keep(&mut phone, &mut shots, "01-checkout").await;
    phone.quit().await.unwrap();
}

/// A buyer who changes their mind: the order's WeChat Native order is
/// closed at WeChat before the Alipay one is made, so the one order can
/// never be paid twice; the sweeper would close it at Alipay, where it is
/// now bound. (JSON clients take the same steps as the page's form.)
#[tokio::test(flavor = "multi_thread")]
async fn switching_provider_closes_the_first_providers_order() {
    let w = world().await;
    let code = w
        .code(json!({"kind": "dynamic", "amount": "18.00", "out_order_no": "BP-6"}))
        .await;
    let order_id = code["order_id"].as_str().unwrap().to_owned();
    let base = format!("http://{}", w.running.addr);
    let pay_path = code["url"]
        .as_str()
        .unwrap()
        .strip_prefix(&base)
        .unwrap()
        .to_owned();
    let checkout = |method: &'static str| {
        let c = &w.client;
        let path = pay_path.clone();
        async move {
            let a = c
                .json("POST", &path, None, Some(&json!({"method": method})))
                .await
                .unwrap();
            assert_eq!(a.status, 200, "{}", a.text());
            a.json()
        }
    };
    let wechat = checkout("wechatpay_native").await;
    assert_eq!(wechat["next"]["type"], "qr");
    assert!(wechat["next"]["content"]
        .as_str()
        .unwrap()
        .starts_with("weixin://wxpay/bizpayurl"));
    let sim_order = |provider: &'static str| {
        let c = &w.client;
        let path = format!("/sandbox/{provider}/orders/{order_id}");
        async move { c.json("GET", &path, None, None).await.unwrap().json() }
    };
    assert_eq!(sim_order("wechatpay").await["state"], "UNPAID");
    let alipay = checkout("alipay_qr").await;
    assert_eq!(alipay["next"]["type"], "qr");
    assert_eq!(sim_order("wechatpay").await["state"], "CLOSED");
    assert_eq!(sim_order("alipay").await["state"], "UNPAID");
    // Asking Alipay again finds the same order: nothing else is closed.
    let again = checkout("alipay_qr").await;
    assert_eq!(again["next"], alipay["next"]);
    assert_eq!(w.order(&order_id).await["status"], "CREATED");
}

/// What a test plants for the claim page: records `requestMerchantTransfer`.
const CLAIM_STUB: &str = "window.WeixinJSBridge = {invoke: function (name, params, done) {\
    window.__bridge = {name: name, params: params}; window.__answer = done; }};";

/// A WeChat transfer that waits for the buyer: the payout carries a claim
/// link; opened outside WeChat it says where to open it; inside WeChat it
/// asks the bridge to confirm with the bill's own package; once the buyer
/// confirmed and WeChat settled it, the same page says the money arrived.
#[tokio::test(flavor = "multi_thread")]
async fn a_claim_link_asks_wechat_to_confirm_the_transfer() {
    let w = world().await;
    let settings = json!({"wechatpay_payee_confirms": true});
    let a = w
        .client
        .json("PUT", "/sandbox/simulators", None, Some(&settings))
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.text());
    let code = w
        .code(json!({"kind": "dynamic", "amount": "80.00", "out_order_no": "BP-7", "provider": "wechatpay"}))
        .await;
    let paid = w
        .client
        .json(
            "POST",
            "/sandbox/wechatpay/pay",
            None,
            Some(&json!({"code": code["provider_code"]})),
        )
        .await
        .unwrap();
    assert_eq!(paid.status, 200, "{}", paid.text());
    let owner = w.running.demo.owner.clone();
    let body = json!({"amount": "6.00", "reason": "SHIPPING_FEE"}).to_string();
    let asked = w
        .client
        .send(
            "POST",
            &format!(
                "/shops/{SHOP}/orders/{}/payouts",
                code["order_id"].as_str().unwrap()
            ),
            Some(&owner),
            &[("idempotency-key", "claim-1")],
            Some(body.into_bytes()),
        )
        .await
        .unwrap();
    assert_eq!(asked.status, 202, "{}", asked.text());
    let payout_id = asked.json()["payout_id"].as_str().unwrap().to_owned();
    let payout_path = format!("/shops/{SHOP}/payouts/{payout_id}");
    let mut waiting = Value::Null;
    for _ in 0..100 {
        waiting = w.owner_call("GET", &payout_path, None).await;
        if waiting.get("claim_url").is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let claim_url = waiting["claim_url"]
        .as_str()
        .unwrap_or_else(|| panic!("{waiting}"))
        .to_owned();
    assert!(claim_url.contains("/claim/cl1."), "{claim_url}");

    let artifacts = Artifacts::fresh("pages_claim").unwrap();
    let driver = ChromeDriver::start(&artifacts).await.unwrap();
    let mut shots = Vec::new();
    let mut browser = driver
        .session(&Device::phone(user_agent::ORDINARY_PHONE))
        .await
        .unwrap();
    browser.goto(&claim_url).await.unwrap();
    assert_eq!(text(&browser, "#amount").await, "¥6.00");
    assert_eq!(
        text(&browser, "#open-in-wechat").await,
        "请在微信中打开此链接，确认收款。"
    );
    keep(&mut browser, &mut shots, "01-claim-outside-wechat").await;
    browser.quit().await.unwrap();

    let mut phone = driver
        .session(&Device::phone(user_agent::WECHAT))
        .await
        .unwrap();
    phone.add_script_on_new_document(CLAIM_STUB).await.unwrap();
    phone.goto(&claim_url).await.unwrap();
    let asked = phone
        .execute("return window.__bridge", vec![])
        .await
        .unwrap();
    assert_eq!(asked["name"], "requestMerchantTransfer");
    assert_eq!(
        asked["params"]["package"],
        waiting["payee_action"]["package"]
    );
    assert_eq!(asked["params"]["mchId"], waiting["payee_action"]["mch_id"]);
    assert_eq!(asked["params"]["appId"], waiting["payee_action"]["app_id"]);
    keep(&mut phone, &mut shots, "02-claim-in-wechat").await;
    // The buyer confirms in WeChat; WeChat settles the bill.
    let bill =
        qrpay_provider::wechatpay::out_bill_no(&qrpay_domain::PayoutId::parse(&payout_id).unwrap())
            .unwrap();
    let confirm = w
        .client
        .json(
            "POST",
            &format!("/sandbox/wechatpay/transfers/{bill}/confirm"),
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(confirm.status, 200, "{}", confirm.text());
    let mut done = Value::Null;
    for _ in 0..40 {
        let step = w
            .client
            .json(
                "POST",
                "/sandbox/clock",
                None,
                Some(&json!({"advance_s": 300})),
            )
            .await
            .unwrap();
        assert_eq!(step.status, 200);
        tokio::time::sleep(Duration::from_millis(150)).await;
        done = w.owner_call("GET", &payout_path, None).await;
        if done["status"] == "SUCCEEDED" {
            break;
        }
    }
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert!(
        done.get("claim_url").is_none(),
        "shown only while waiting: {done}"
    );
    phone
        .execute(
            "window.__answer({err_msg: 'requestMerchantTransfer:ok'}); return true",
            vec![],
        )
        .await
        .unwrap();
    phone
        .wait_for_text("#status", "已到账", SEEN_WITHIN)
        .await
        .unwrap();
    keep(&mut phone, &mut shots, "03-claim-arrived").await;
    phone.quit().await.unwrap();
    assert_eq!(shots.len(), 3);
}

/// A printed static code scanned inside WeChat: the buyer types the amount
/// and pays through WeChat's authorization and bridge; the receipt is of
/// the new order, for the typed amount.
#[tokio::test(flavor = "multi_thread")]
async fn a_static_code_scanned_in_wechat_is_paid_through_the_bridge() {
    let w = world().await;
    let code = w
        .code(json!({"kind": "static", "description": "堂食"}))
        .await;
    let driver = driver_for("pages_static_wechat").await;
    let mut phone = open(&driver, user_agent::WECHAT, &code, Some(BRIDGE_STUB)).await;
    let mut shots = Vec::new();
    checkout_page_shows_the_shop(&phone, None).await;
    let field = phone.find("#amount-input").await.unwrap();
    phone.send_keys(&field, "23.5").await.unwrap();
    keep(&mut phone, &mut shots, "01-checkout").await;
    pay_through_the_bridge(&w, &mut phone, &mut shots).await;
    let order =
        receipt_matches_the_order(&w, &mut phone, &mut shots, ("wechatpay", "微信支付")).await;
    assert_eq!(
        (order["amount"].as_str(), order["qr_id"].clone()),
        (Some("23.50"), code["qr_id"].clone())
    );
    assert_eq!(text(&phone, "#paid").await, "¥23.50");
    phone.quit().await.unwrap();
    assert_eq!(shots.len(), 3);
}

/// The same printed code scanned inside Alipay: Alipay's wap cashier.
#[tokio::test(flavor = "multi_thread")]
async fn a_static_code_scanned_in_alipay_is_paid_at_the_wap_cashier() {
    let w = world().await;
    let code = w.code(json!({"kind": "static"})).await;
    let driver = driver_for("pages_static_alipay").await;
    let mut phone = open(&driver, user_agent::ALIPAY, &code, None).await;
    let mut shots = Vec::new();
    checkout_page_shows_the_shop(&phone, None).await;
    assert!(phone.find("#pay-wechatpay_jsapi").await.is_err());
    let field = phone.find("#amount-input").await.unwrap();
    phone.send_keys(&field, "8.80").await.unwrap();
    keep(&mut phone, &mut shots, "01-checkout").await;
    click(&phone, "#pay-alipay_wap").await;
    pay_at_alipay(&mut phone, &mut shots, "8.80").await;
    let order = receipt_matches_the_order(&w, &mut phone, &mut shots, ("alipay", "支付宝")).await;
    assert_eq!(order["amount"], "8.80");
    phone.quit().await.unwrap();
    assert_eq!(shots.len(), 4);
}

/// An ordinary phone browser paying with WeChat: H5 pay. The buyer taps
/// through to WeChat's middle page (which, as WeChat does, wants the tap's
/// Referer from the pay domain), pays, and WeChat sends the browser back to
/// the receipt.
#[tokio::test(flavor = "multi_thread")]
async fn an_ordinary_phone_pays_with_wechat_h5_and_returns_to_the_receipt() {
    let w = world().await;
    let code = w
        .code(json!({"kind": "dynamic", "amount": "15.00", "out_order_no": "BP-8"}))
        .await;
    let driver = driver_for("pages_wechat_h5_phone").await;
    let mut phone = open(&driver, user_agent::ORDINARY_PHONE, &code, None).await;
    let mut shots = Vec::new();
    checkout_page_shows_the_shop(&phone, Some("15.00")).await;
    keep(&mut phone, &mut shots, "01-checkout").await;
    click(&phone, "#pay-wechatpay_h5").await;
    phone
        .wait_for_text("#go", "微信支付", SEEN_WITHIN)
        .await
        .unwrap();
    keep(&mut phone, &mut shots, "02-to-wechat").await;
    // Opened without the tap (no Referer), WeChat's page refuses.
    let href = phone
        .execute("return document.getElementById('go').href", vec![])
        .await
        .unwrap();
    let base = format!("http://{}", w.running.addr);
    let direct = w
        .client
        .send(
            "GET",
            href.as_str().unwrap().strip_prefix(&base).unwrap(),
            None,
            &[],
            None,
        )
        .await
        .unwrap();
    assert_eq!(direct.status, 400);
    assert!(
        direct.text().contains("商家参数格式有误"),
        "{}",
        direct.text()
    );
    click(&phone, "#go").await;
    phone
        .wait_for_text("h1", "WeChat Pay H5", SEEN_WITHIN)
        .await
        .unwrap();
    keep(&mut phone, &mut shots, "03-wechat-h5-page").await;
    click(&phone, "form button[type=submit]").await;
    let order =
        receipt_matches_the_order(&w, &mut phone, &mut shots, ("wechatpay", "微信支付")).await;
    assert_eq!(order["order_id"], code["order_id"]);
    phone.quit().await.unwrap();
    assert_eq!(shots.len(), 4);
}

/// The provider's notice is lost, the buyer is back: the receipt page asks
/// the provider the order is bound to and shows the payment, applied once
/// through the notices' own path.
#[tokio::test(flavor = "multi_thread")]
async fn a_receipt_asks_the_provider_when_its_notice_is_late() {
    let w = world().await;
    let lose = json!({"payment_notices": false});
    let a = w
        .client
        .json("PUT", "/sandbox/simulators", None, Some(&lose))
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.text());
    let code = w
        .code(json!({"kind": "dynamic", "amount": "27.00", "out_order_no": "BP-9"}))
        .await;
    let order_id = code["order_id"].as_str().unwrap().to_owned();
    let base = format!("http://{}", w.running.addr);
    let pay_path = code["url"]
        .as_str()
        .unwrap()
        .strip_prefix(&base)
        .unwrap()
        .to_owned();
    let checkout = w
        .client
        .json(
            "POST",
            &pay_path,
            None,
            Some(&json!({"method": "alipay_qr"})),
        )
        .await
        .unwrap();
    assert_eq!(checkout.status, 200, "{}", checkout.text());
    let receipt_path = checkout.json()["receipt_url"]
        .as_str()
        .unwrap()
        .strip_prefix(&base)
        .unwrap()
        .to_owned();
    let paid = w
        .client
        .json(
            "POST",
            "/sandbox/alipay/pay",
            None,
            Some(&json!({"out_trade_no": order_id})),
        )
        .await
        .unwrap();
    assert_eq!(paid.status, 200, "{}", paid.text());
    assert_eq!(
        paid.json()["callback"]["deliveries"],
        0,
        "the notice is lost"
    );
    assert_eq!(w.order(&order_id).await["status"], "CREATED");
    let receipt = w
        .client
        .json("GET", &receipt_path, None, None)
        .await
        .unwrap()
        .json();
    assert_eq!(
        (
            receipt["status"].as_str(),
            receipt["paid_amount"].as_str(),
            receipt["provider"].as_str()
        ),
        (Some("PAID"), Some("27.00"), Some("alipay")),
        "{receipt}"
    );
    assert_eq!(receipt["provider_txn_id"], paid.json()["transaction_id"]);
    let order = w.order(&order_id).await;
    assert_eq!(
        (order["status"].as_str(), order["paid_amount"].as_str()),
        (Some("PAID"), Some("27.00"))
    );
    // Opened again: nothing more to ask or apply.
    let again = w
        .client
        .json("GET", &receipt_path, None, None)
        .await
        .unwrap()
        .json();
    assert_eq!(again["paid_amount"], "27.00");
}

/// A code whose description is empty or blank still makes a WeChat Pay
/// order: the title falls back to the shop's name (WeChat refuses an empty
/// `description` with `PARAM_ERROR`, which the buyer would see as a 502).
#[tokio::test(flavor = "multi_thread")]
async fn a_blank_description_still_makes_a_provider_order() {
    let w = world().await;
    for (no, description) in [("BP-9", ""), ("BP-10", " \u{3000}")] {
        let code = w
            .code(
                json!({"kind": "dynamic", "amount": "0.82", "out_order_no": no,
                "description": description}),
            )
            .await;
        let base = format!("http://{}", w.running.addr);
        let path = code["url"].as_str().unwrap().strip_prefix(&base).unwrap();
        let body = json!({"method": "wechatpay_native"});
        let a = w
            .client
            .json("POST", path, None, Some(&body))
            .await
            .unwrap();
        assert_eq!(a.status, 200, "{description:?}: {}", a.text());
        assert_eq!(a.json()["next"]["type"], "qr");
    }
}
