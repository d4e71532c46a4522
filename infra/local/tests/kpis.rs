//! SPEC §11 KPIs over HTTP, on the embedded store and on DynamoDB and SQS
//! in the emulator: a crafted day of one shop — checkouts shown with a plan
//! (each counted once however often its page loads), orders paid with and
//! without a plan, one refunded in part, one revoked unpaid — reconciled,
//! then `GET /shops/{shop_id}/kpis?month=` answers the month's KPIs with
//! exact figures, the day in its series, the other days missing; and the
//! route's refusals.

mod common;

use std::time::Duration;

use common::{world_on, World};
use qrpay_domain::{BusinessDate, BusinessMonth, Clock};
use qrpay_local::client::Answer;
use qrpay_local::jwt::DEFAULT_DEV_SECRET;
use qrpay_local::seed::token;
use qrpay_local::Backend;
use serde_json::{json, Value};

const SHOP: &str = "shop-k";
const OWNER: &str = "owner-k";

fn owner() -> String {
    token(DEFAULT_DEV_SECRET, OWNER, Some(SHOP), "owner")
}

fn ok(answer: Answer, what: &str) -> Value {
    assert!(
        answer.status < 300,
        "{what}: {} {}",
        answer.status,
        answer.text()
    );
    answer.json()
}

fn error_of(answer: &Answer, status: u16) -> Value {
    assert_eq!(answer.status, status, "{}", answer.text());
    answer.json()["error"].clone()
}

async fn call(w: &World, method: &str, path: &str, token: &str, body: Option<Value>) -> Answer {
    w.client
        .json(method, path, Some(token), body.as_ref())
        .await
        .unwrap()
}

async fn issue(w: &World, body: Value) -> Value {
    let path = format!("/shops/{SHOP}/qr-codes");
    ok(call(w, "POST", &path, &owner(), Some(body)).await, "issue")
}

/// The buyer's link path, `/pay/{token}`.
fn pay_path(code: &Value) -> String {
    let url = code["url"].as_str().unwrap();
    url[url.find("/pay/").unwrap()..].to_owned()
}

/// The buyer's page, as a browser (HTML) or an app (JSON) asks for it.
async fn show(w: &World, code: &Value, accept: &str) {
    let page = w
        .client
        .send("GET", &pay_path(code), None, &[("accept", accept)], None)
        .await
        .unwrap();
    assert_eq!(page.status, 200, "{}", page.text());
}

async fn pay(w: &World, code: &Value) {
    let path = format!("/sandbox/qr-codes/{}/pay", code["qr_id"].as_str().unwrap());
    let paid = ok(
        w.client.json("POST", &path, None, None).await.unwrap(),
        "pay",
    );
    assert_eq!(paid["callback"]["first"]["status"], json!(200), "{paid}");
}

async fn refund(w: &World, order: &str, amount: &str) {
    let path = format!("/shops/{SHOP}/orders/{order}/refunds");
    let body = json!({"amount": amount}).to_string();
    let answer = w
        .client
        .send(
            "POST",
            &path,
            Some(&owner()),
            &[("idempotency-key", "rk-kpis-1")],
            Some(body.into_bytes()),
        )
        .await
        .unwrap();
    ok(answer, "refund");
    for _ in 0..200 {
        let listed = ok(call(w, "GET", &path, &owner(), None).await, "refunds");
        if listed["refunds"][0]["status"] == json!("SUCCEEDED") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the refund of {order} did not succeed");
}

async fn set_up(w: &World) {
    let admin = w.running.demo.admin.clone();
    let body = json!({"name": "KPI Tea", "owner_operator_id": OWNER});
    let path = format!("/admin/shops/{SHOP}");
    ok(call(w, "PUT", &path, &admin, Some(body)).await, "shop");
}

/// The crafted day: four orders opened, two paid (one with a plan), one
/// refunded 25.00, one revoked unpaid; two checkouts shown with a plan.
async fn craft_the_day(w: &World) {
    let planned = issue(
        w,
        json!({"kind": "dynamic", "amount": "300.00", "out_order_no": "K-1",
            "instalments": {"periods": 3}}),
    )
    .await;
    // Three loads of one checkout, as a browser and as an app: counted once.
    for accept in ["text/html", "text/html", "application/json"] {
        show(w, &planned, accept).await;
    }
    pay(w, &planned).await;
    // Paid in WeChat (a provider's own code: its refunds go back there).
    let plain = issue(
        w,
        json!({"kind": "dynamic", "amount": "100.00", "out_order_no": "K-2",
            "provider": "wechatpay"}),
    )
    .await;
    let body = json!({"code": plain["provider_code"]});
    let paid = w
        .client
        .json("POST", "/sandbox/wechatpay/pay", None, Some(&body));
    ok(paid.await.unwrap(), "pay in WeChat");
    refund(w, plain["order_id"].as_str().unwrap(), "25.00").await;
    let revoked = issue(
        w,
        json!({"kind": "dynamic", "amount": "50.00", "out_order_no": "K-3"}),
    )
    .await;
    let path = format!(
        "/shops/{SHOP}/qr-codes/{}",
        revoked["qr_id"].as_str().unwrap()
    );
    ok(call(w, "DELETE", &path, &owner(), None).await, "revoke");
    // A static code shows a plan for the buyer's amount; the checkout the
    // buyer opens with it counts (and stays unpaid).
    let till = issue(w, json!({"kind": "static", "instalments": {"periods": 3}})).await;
    let body = json!({"amount": "150.00", "method": "sandbox"});
    let opened = w
        .client
        .json("POST", &pay_path(&till), None, Some(&body))
        .await
        .unwrap();
    ok(opened, "static checkout");
}

/// Reconciles `date` and waits for the shop's summary.
async fn reconcile(w: &World, date: BusinessDate) -> Value {
    let admin = w.running.demo.admin.clone();
    let run = call(
        w,
        "POST",
        &format!("/admin/reconciliations/{date}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(run.status, 202, "{}", run.text());
    let path = format!("/shops/{SHOP}/reconciliations/{date}");
    for _ in 0..200 {
        let a = call(w, "GET", &path, &owner(), None).await;
        if a.status == 200 {
            return a.json();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no reconciliation of {date}");
}

fn expected_inputs(date: BusinessDate) -> Value {
    json!({
        "payments": {"count": 2, "total": "400.00"},
        "monthly_pay_orders": 1,
        "plan_checkouts": 2,
        "orders_created": 4,
        "orders_closed_unpaid": 1,
        "refunds": {"count": 1, "total": "25.00"},
        "payouts": {"count": 0, "total": "0.00"},
        "receivables": {
            "as_of": date,
            "due": {"count": 0, "total": "0.00"},
            "overdue": {"count": 0, "total": "0.00"}
        }
    })
}

fn expected_kpis() -> Value {
    json!({
        "monthly_pay_orders": 1,
        "monthly_pay_share": "0.5000",
        "average_order_value": "200.00",
        "monthly_pay_conversion": "0.5000",
        "overdue_rate_amount": "0.0000",
        "overdue_rate_count": "0.0000",
        "cancellation_ratio": "0.2500",
        "refund_ratio_count": "0.5000",
        "refund_ratio_amount": "0.0625",
        "payouts_total": "0.00"
    })
}

async fn run(w: World) {
    set_up(&w).await;
    let now = w.running.stack.clock.now();
    let (today, month) = (BusinessDate::of(now), BusinessMonth::of(now));
    craft_the_day(&w).await;
    let day = reconcile(&w, today).await;
    assert_eq!(day["summary"]["kpi_inputs"], expected_inputs(today));
    assert_eq!(day["summary"]["kpis"], expected_kpis());

    let path = format!("/shops/{SHOP}/kpis?month={month}");
    let answer = ok(call(&w, "GET", &path, &owner(), None).await, "kpis");
    assert_eq!(answer["month"], json!(month.to_string()));
    assert_eq!(answer["inputs"], expected_inputs(today));
    assert_eq!(answer["kpis"], expected_kpis());
    assert_eq!(answer["days_reconciled"], json!(1));
    let begun: Vec<BusinessDate> = month.days().into_iter().filter(|d| *d <= today).collect();
    let days = answer["days"].as_array().unwrap();
    assert_eq!(days.len(), begun.len());
    let missing: Vec<Value> = begun
        .iter()
        .filter(|d| **d != today)
        .map(|d| json!(d))
        .collect();
    assert_eq!(answer["missing_days"], json!(missing));
    let last = days.last().unwrap();
    assert_eq!(
        (&last["date"], &last["status"]),
        (&json!(today), &json!("RECONCILED"))
    );
    assert_eq!(last["kpis"], expected_kpis());
    if let Some(first) = days.first().filter(|_| days.len() > 1) {
        assert_eq!(first["status"], json!("MISSING"));
    }
    // The platform admin reads it too.
    let admin = w.running.demo.admin.clone();
    let by_admin = ok(call(&w, "GET", &path, &admin, None).await, "admin");
    assert_eq!(by_admin["kpis"], expected_kpis());
    refusals(&w, month).await;
}

async fn refusals(w: &World, month: BusinessMonth) {
    let base = format!("/shops/{SHOP}/kpis");
    let next = month.days().last().unwrap().succ().to_string()[..7].to_owned();
    for query in [
        "",
        "?month=",
        "?month=2026-13",
        "?month=2026-1",
        &format!("?month={next}"),
    ] {
        let a = call(w, "GET", &format!("{base}{query}"), &owner(), None).await;
        let error = error_of(&a, 400);
        assert_eq!(
            (error["code"].as_str(), error["field"].as_str()),
            (Some("INVALID_REQUEST"), Some("month")),
            "{query}"
        );
    }
    let query = format!("?month={month}");
    let stranger = token(DEFAULT_DEV_SECRET, "owner-x", Some("shop-x"), "owner");
    let a = call(w, "GET", &format!("{base}{query}"), &stranger, None).await;
    assert_eq!(error_of(&a, 403)["code"], json!("FORBIDDEN"));
    let admin = w.running.demo.admin.clone();
    let a = call(
        w,
        "GET",
        &format!("/shops/shop-none/kpis{query}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(error_of(&a, 404)["code"], json!("SHOP_NOT_FOUND"));
    let a = call(w, "POST", &format!("{base}{query}"), &owner(), None).await;
    assert_eq!(error_of(&a, 405)["code"], json!("METHOD_NOT_ALLOWED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crafted_day_gives_the_months_kpis_on_the_embedded_store() {
    run(common::world().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crafted_day_gives_the_months_kpis_on_dynamodb() {
    let backend = Backend::Aws {
        endpoint: qrpay_tests::emulator::endpoint().to_owned(),
        table: qrpay_tests::unique_name("qrpay-local-kpis"),
        queue: qrpay_tests::unique_name("qrpay-local-kpis"),
    };
    run(world_on(backend).await).await;
}
