//! SPEC §11 controls and the POS result over HTTP, on the embedded store and
//! on DynamoDB and SQS in the emulator: a shop's daily collection cap refuses
//! a POS code and a buyer's checkout with what remains; a payment at the
//! large-payment threshold leaves one notice and one alert; the till that
//! issued the code hears `pos/{device}/order/result` once and reads its
//! order with a signed GET, and nobody else's.

mod common;

use common::{world_on, World};
use qrpay_local::client::Answer;
use qrpay_local::jwt::DEFAULT_DEV_SECRET;
use qrpay_local::seed::token;
use qrpay_local::Backend;
use serde_json::{json, Value};

const SHOP: &str = "shop-c";
const OWNER: &str = "owner-c";
const DEVICE: &str = "till-c";
const SECRET: &str = "till-c-secret-0123456789abcdef";

fn owner() -> String {
    token(DEFAULT_DEV_SECRET, OWNER, Some(SHOP), "owner")
}

fn error_of(answer: &Answer, status: u16) -> Value {
    assert_eq!(answer.status, status, "{}", answer.text());
    answer.json()["error"].clone()
}

/// A request signed by the till, as API.md's POS devices sign.
async fn signed(w: &World, method: &str, path: &str, body: &str, nonce: &str) -> Answer {
    let now_s = chrono::Utc::now().timestamp();
    let head = qr_issue::device::Signed {
        method,
        path,
        query: "",
        timestamp: now_s,
        nonce,
    };
    let signature = qr_issue::device::sign(SECRET.as_bytes(), head, body.as_bytes());
    let ts = now_s.to_string();
    w.client
        .send(
            method,
            path,
            None,
            &[
                ("x-qrpay-device", DEVICE),
                ("x-qrpay-timestamp", &ts),
                ("x-qrpay-nonce", nonce),
                ("x-qrpay-signature", &signature),
            ],
            (!body.is_empty()).then(|| body.as_bytes().to_vec()),
        )
        .await
        .unwrap()
}

async fn set_up(w: &World) {
    let admin = w.running.demo.admin.clone();
    let put = |body: Value| {
        let admin = admin.clone();
        async move {
            w.client
                .json(
                    "PUT",
                    &format!("/admin/shops/{SHOP}"),
                    Some(&admin),
                    Some(&body),
                )
                .await
                .unwrap()
        }
    };
    let base = json!({"name": "Controls Tea", "owner_operator_id": OWNER});
    for (field, bad) in [
        ("daily_collection_cap", "0.00"),
        ("daily_collection_cap", "100000000.00"),
        ("large_payment_alert", "-1.00"),
        ("large_payment_alert", "12.345"),
    ] {
        let mut body = base.clone();
        body[field] = json!(bad);
        let error = error_of(&put(body).await, 400);
        assert_eq!(
            (error["code"].as_str(), error["field"].as_str()),
            (Some("INVALID_REQUEST"), Some(field)),
            "{bad}"
        );
    }
    let mut body = base.clone();
    body["daily_collection_cap"] = json!("100.00");
    body["large_payment_alert"] = json!("50.00");
    let shop = put(body).await;
    assert_eq!(shop.status, 200, "{}", shop.text());
    let shop = shop.json();
    assert_eq!(
        (&shop["daily_collection_cap"], &shop["large_payment_alert"]),
        (&json!("100.00"), &json!("50.00"))
    );
    let device = w
        .client
        .json(
            "PUT",
            &format!("/admin/devices/{DEVICE}"),
            Some(&admin),
            Some(&json!({"shop_id": SHOP, "secret": SECRET})),
        )
        .await
        .unwrap();
    assert_eq!(device.status, 200, "{}", device.text());
}

async fn run(w: World) {
    set_up(&w).await;
    let issue_path = format!("/devices/{DEVICE}/qr-codes");
    let first = json!({"kind": "dynamic", "amount": "60.00", "out_order_no": "P-1"}).to_string();
    let code = signed(&w, "POST", &issue_path, &first, "nonce-c-0001").await;
    assert_eq!(code.status, 201, "{}", code.text());
    let code = code.json();
    let order_id = code["order_id"].as_str().unwrap().to_owned();
    // A second code would pass the day's 100.00: refused, with what remains.
    let second = json!({"kind": "dynamic", "amount": "50.00", "out_order_no": "P-2"}).to_string();
    let error = error_of(
        &signed(&w, "POST", &issue_path, &second, "nonce-c-0002").await,
        422,
    );
    assert_eq!(
        (error["code"].as_str(), error["remaining"].as_str()),
        (Some("SHOP_DAILY_COLLECTION_CAP_EXCEEDED"), Some("40.00"))
    );
    // A buyer's checkout of the counter code likewise; 40.00 still fits.
    let owner = owner();
    let counter = w
        .client
        .json(
            "POST",
            &format!("/shops/{SHOP}/qr-codes"),
            Some(&owner),
            Some(&json!({"kind": "static"})),
        )
        .await
        .unwrap()
        .json();
    let url = counter["url"].as_str().unwrap();
    let pay_path = &url[url.find("/pay/").unwrap()..];
    let client = &w.client;
    let checkout = |amount: &str| {
        let body = json!({"amount": amount, "method": "sandbox"});
        async move {
            client
                .json("POST", pay_path, None, Some(&body))
                .await
                .unwrap()
        }
    };
    let error = error_of(&checkout("40.01").await, 422);
    assert_eq!(
        (error["code"].as_str(), error["remaining"].as_str()),
        (Some("SHOP_DAILY_COLLECTION_CAP_EXCEEDED"), Some("40.00"))
    );
    let opened = checkout("40.00").await;
    assert_eq!(opened.status, 201, "{}", opened.text());
    let other_order = opened.json()["order_id"].as_str().unwrap().to_owned();

    // The till reads its order before and after the buyer pays.
    let order_path = format!("/devices/{DEVICE}/orders/{order_id}");
    let before = signed(&w, "GET", &order_path, "", "nonce-c-0003").await;
    assert_eq!(before.status, 200, "{}", before.text());
    assert_eq!(before.json()["status"], json!("CREATED"));
    assert!(w.running.stack.iot.kept.take().is_empty());
    // The provider notifies twice: the device hears once, the shop one notice.
    let faults = json!({"transfer_fail_rate": 0.0, "transfer_timeout_rate": 0.0,
        "callback_duplicate_rate": 1.0, "seed": 7});
    let set = w
        .client
        .json("PUT", "/sandbox/faults", None, Some(&faults))
        .await
        .unwrap();
    assert_eq!(set.status, 200, "{}", set.text());
    let qr = code["qr_id"].as_str().unwrap();
    let paid = w
        .client
        .json("POST", &format!("/sandbox/qr-codes/{qr}/pay"), None, None)
        .await
        .unwrap();
    assert_eq!(paid.status, 200, "{}", paid.text());
    assert_eq!(
        paid.json()["callback"]["deliveries"],
        json!(2),
        "{}",
        paid.text()
    );
    let published = w.running.stack.iot.kept.take();
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(published[0].0, format!("pos/{DEVICE}/order/result"));
    let result: Value = serde_json::from_slice(&published[0].1).unwrap();
    assert_eq!(
        (
            &result["order_id"],
            &result["status"],
            &result["paid_amount"]
        ),
        (&json!(order_id), &json!("PAID"), &json!("60.00"))
    );
    let after = signed(&w, "GET", &order_path, "", "nonce-c-0004").await;
    assert_eq!(after.status, 200, "{}", after.text());
    assert_eq!(
        (
            after.json()["status"].clone(),
            after.json()["paid_amount"].clone()
        ),
        (json!("PAID"), json!("60.00"))
    );
    // An order the till did not issue, and one that does not exist: both 404.
    for (path, nonce) in [
        (
            format!("/devices/{DEVICE}/orders/{other_order}"),
            "nonce-c-0005",
        ),
        (format!("/devices/{DEVICE}/orders/ord_nope"), "nonce-c-0006"),
        (format!("/devices/{DEVICE}/orders/bad%20id"), "nonce-c-0007"),
    ] {
        let error = error_of(&signed(&w, "GET", &path, "", nonce).await, 404);
        assert_eq!(error["code"], json!("ORDER_NOT_FOUND"), "{path}");
    }
    // Unsigned: 401, as for issuing.
    let unsigned = w.client.json("GET", &order_path, None, None).await.unwrap();
    assert_eq!(unsigned.status, 401);

    // 60.00 is at or above the 50.00 alert: one notice, one alert.
    let notices = w
        .client
        .json("GET", &format!("/shops/{SHOP}/notices"), Some(&owner), None)
        .await
        .unwrap()
        .json();
    let large: Vec<&Value> = notices["notices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == json!("LARGE_PAYMENT"))
        .collect();
    assert_eq!(large.len(), 1, "{notices}");
    let alerts: Vec<_> = w
        .running
        .stack
        .alerts
        .kept
        .raised()
        .into_iter()
        .filter(|a| a.code == "LARGE_PAYMENT")
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].reference, order_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controls_and_the_pos_result_on_the_embedded_store() {
    run(common::world().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controls_and_the_pos_result_on_dynamodb() {
    let backend = Backend::Aws {
        endpoint: qrpay_tests::emulator::endpoint().to_owned(),
        table: qrpay_tests::unique_name("qrpay-local-controls"),
        queue: qrpay_tests::unique_name("qrpay-local-controls"),
    };
    run(world_on(backend).await).await;
}
