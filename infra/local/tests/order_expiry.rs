//! Issue 13's "a flood of POST /pay/{token} grows nothing without bound", on
//! one machine: a static code's checkouts are rate limited per client, each
//! order expires `QRPAY_CHECKOUT_ORDER_TTL_S` after it opened, and once the
//! test clock passes that the sweeper closes every one. Orders with a
//! provider order (a dynamic code for WeChat Pay or Alipay) are closed at
//! the simulated provider too, through the real adapters; one the buyer
//! paid there just before the close (its notice lost) ends paid.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::{world, World};
use qrpay_domain::checkout::CheckoutLimits;
use qrpay_domain::{Clock, OrderStatus};
use qrpay_local::background::sweep_once;
use serde_json::{json, Value};

const SHOP: &str = "demo-shop";

impl World {
    async fn ok(&self, method: &str, path: &str, owner: bool, body: Option<Value>) -> Value {
        let a = self.call(method, path, owner, body).await;
        assert!(
            a.status == 200 || a.status == 201,
            "{method} {path}: {} {}",
            a.status,
            a.text()
        );
        a.json()
    }

    async fn issue(&self, body: Value) -> Value {
        self.ok("POST", &format!("/shops/{SHOP}/qr-codes"), true, Some(body))
            .await
    }

    async fn order(&self, order_id: &str) -> Value {
        self.ok(
            "GET",
            &format!("/shops/{SHOP}/orders/{order_id}"),
            true,
            None,
        )
        .await
    }

    async fn advance(&self, seconds: i64) {
        let body = json!({"advance_s": seconds});
        self.ok("POST", "/sandbox/clock", false, Some(body)).await;
    }

    /// One sweeper run now, as its schedule would invoke it (the stack's
    /// own loop may run alongside: closing is conditional, once each).
    async fn sweep(&self) -> Value {
        sweep_once(&self.running.stack).await.unwrap()
    }

    /// The simulated provider's own record of the order.
    async fn at_provider(&self, provider: &str, order_id: &str) -> Value {
        self.ok(
            "GET",
            &format!("/sandbox/{provider}/orders/{order_id}"),
            false,
            None,
        )
        .await
    }

    /// Order ids of `qr_id` the store would close at `at`.
    async fn expiring(&self, qr_id: &str, at: DateTime<Utc>) -> Vec<String> {
        let mut ids: Vec<String> = self
            .running
            .stack
            .store
            .list_expired_orders(at, 10_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|o| o.qr_id.as_ref().is_some_and(|q| q.as_str() == qr_id))
            .map(|o| o.order_id.to_string())
            .collect();
        ids.sort();
        ids
    }
}

fn instant(v: &Value) -> DateTime<Utc> {
    let text = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// The token of a payment link `…/pay/{token}`.
fn pay_path(url: &Value) -> String {
    let url = url.as_str().unwrap();
    let at = url.find("/pay/").expect("a payment link");
    url[at..].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_checkouts_from_one_client_leave_five_orders_that_expire_and_close() {
    let w = world().await;
    let limits = CheckoutLimits::DEFAULT;
    let ttl_s = limits.order_ttl_s;
    let per_client = limits.per_client_on_code.limit as usize;
    // Start at the opening of a fresh per-client window, so the flood (a
    // few seconds of real time) cannot straddle two.
    let now_s = w.running.stack.clock.now().timestamp();
    let window_s = limits.per_client_on_code.window_s;
    w.advance(window_s - now_s.rem_euclid(window_s)).await;
    let code = w.issue(json!({"kind": "static"})).await;
    let qr_id = code["qr_id"].as_str().unwrap().to_owned();
    let path = pay_path(&code["url"]);

    let mut opened = Vec::new();
    let mut limited = 0;
    for _ in 0..1_000 {
        let a = w
            .call(
                "POST",
                &path,
                false,
                Some(json!({"amount": "9.90", "method": "alipay_wap"})),
            )
            .await;
        match a.status {
            201 => opened.push(a.json()),
            429 => {
                let error = &a.json()["error"];
                assert_eq!(error["code"], "CHECKOUT_RATE_LIMITED", "{}", a.text());
                let retry = error["retry_after_s"].as_i64().unwrap();
                assert!((1..=window_s).contains(&retry), "{retry}");
                limited += 1;
            }
            other => panic!("checkout answered {other}: {}", a.text()),
        }
    }
    assert_eq!((opened.len(), limited), (per_client, 1_000 - per_client));

    let mut ids: Vec<String> = opened
        .iter()
        .map(|o| o["order_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    for checkout in &opened {
        let order = w.order(checkout["order_id"].as_str().unwrap()).await;
        assert_eq!(
            (order["status"].as_str(), order["amount"].as_str()),
            (Some("CREATED"), Some("9.90"))
        );
        assert_eq!(order["qr_id"], qr_id.as_str());
        let lifetime = instant(&order["expires_at"]) - instant(&order["created_at"]);
        assert_eq!(lifetime, Duration::seconds(ttl_s), "{order}");
        assert_eq!(checkout["expires_at"], order["expires_at"]);
    }
    // What the store holds for this code: exactly those, none expired yet.
    let now = w.running.stack.clock.now();
    assert_eq!(w.expiring(&qr_id, now).await, Vec::<String>::new());
    assert_eq!(
        w.expiring(&qr_id, now + Duration::seconds(ttl_s + 60))
            .await,
        ids
    );

    w.advance(ttl_s + 1).await;
    w.sweep().await;
    let mut closed = 0;
    for id in &ids {
        let order = w.order(id).await;
        assert_eq!(order["status"], OrderStatus::Closed.as_str(), "{order}");
        closed += 1;
    }
    assert_eq!(closed, per_client);
    let later = w.running.stack.clock.now() + Duration::days(1);
    assert_eq!(w.expiring(&qr_id, later).await, Vec::<String>::new());
    // Nothing is left for another run.
    let again = w.sweep().await;
    assert_eq!(again["expired_orders"]["expired"], 0, "{again}");
}

/// A dynamic code for `provider` with its own code; its order id and code.
async fn provider_code(w: &World, provider: &str, no: &str, amount: &str) -> (String, String) {
    let code = w
        .issue(
            json!({"kind": "dynamic", "amount": amount, "out_order_no": no, "provider": provider}),
        )
        .await;
    let order_id = code["order_id"].as_str().unwrap().to_owned();
    let order = w.order(&order_id).await;
    assert_eq!(
        order["expires_at"], code["expires_at"],
        "the order expires with its code"
    );
    let sim = w.at_provider(provider, &order_id).await;
    assert_eq!(
        (sim["state"].as_str(), sim["expired"].as_bool()),
        (Some("UNPAID"), Some(false))
    );
    // The provider's expiry (WeChat/Alipay `time_expire`, whole seconds) is
    // ours to the second, never later: nobody pays there after ours.
    let ours = instant(&order["expires_at"]);
    let whole_second = ours - Duration::milliseconds(ours.timestamp_subsec_millis().into());
    assert_eq!(instant(&sim["expires_at"]), whole_second);
    (order_id, code["provider_code"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_wechat_native_order_is_closed_at_the_provider_and_here() {
    let w = world().await;
    let (order_id, scan) = provider_code(&w, "wechatpay", "EXP-WX-1", "12.30").await;
    w.advance(899).await;
    w.sweep().await;
    assert_eq!(
        w.order(&order_id).await["status"],
        "CREATED",
        "not yet expired"
    );
    assert_eq!(
        w.at_provider("wechatpay", &order_id).await["state"],
        "UNPAID"
    );

    w.advance(2).await;
    w.sweep().await;
    assert_eq!(w.order(&order_id).await["status"], "CLOSED");
    let sim = w.at_provider("wechatpay", &order_id).await;
    assert_eq!(
        sim["state"], "CLOSED",
        "closed by our call, not just lapsed: {sim}"
    );
    // Nobody can pay it there any more.
    let late = w
        .call(
            "POST",
            "/sandbox/wechatpay/pay",
            false,
            Some(json!({"code": scan})),
        )
        .await;
    assert_eq!(late.status, 409, "{}", late.text());
    let error = &late.json()["error"];
    assert_eq!(
        (error["code"].as_str(), error["message"].as_str()),
        (Some("INVALID_STATE"), Some("the order is closed"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paid_at_the_provider_just_before_the_close_the_order_ends_paid() {
    let w = world().await;
    // The buyer's payment notices are lost on the way: only asking tells.
    let lost = json!({"payment_notices": false});
    w.ok("PUT", "/sandbox/simulators", false, Some(lost)).await;
    for (provider, no, amount) in [
        ("wechatpay", "EXP-WX-2", "23.45"),
        ("alipay", "EXP-ALI-2", "67.89"),
    ] {
        let (order_id, scan) = provider_code(&w, provider, no, amount).await;
        w.advance(890).await;
        let paid = w
            .ok(
                "POST",
                &format!("/sandbox/{provider}/pay"),
                false,
                Some(json!({"code": scan})),
            )
            .await;
        assert_eq!(paid["callback"]["deliveries"], 0, "{paid}");
        assert_eq!(w.order(&order_id).await["status"], "CREATED");

        w.advance(11).await;
        w.sweep().await;
        let order = w.order(&order_id).await;
        assert_eq!(
            (order["status"].as_str(), order["paid_amount"].as_str()),
            (Some("PAID"), Some(amount)),
            "{order}"
        );
        assert_eq!(order["provider"], provider);
        assert_eq!(order["provider_txn_id"], paid["transaction_id"]);
        let sim = w.at_provider(provider, &order_id).await;
        assert_eq!(sim["state"], "PAID", "{sim}");
    }
}
