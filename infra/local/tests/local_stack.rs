//! The local stack as a user runs it: the `qrpay-local` binary started as a
//! process, driven over HTTP through the whole flow — admin setup, codes
//! (merchant and POS), a sandbox payment and its callback, payouts executed
//! by the background worker and payouts refused, injected provider faults,
//! and the day's reconciliation — with every answer checked against API.md.
//! Once on the embedded store, once on DynamoDB and SQS in the emulator.
//! `qrpay-local demo` is run as a process too and its report files read.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use qrpay_local::client::{Answer, Client};
use qrpay_local::jwt::DEFAULT_DEV_SECRET;
use qrpay_local::seed::token;
use qrpay_tests::openapi_check::Contract;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_qrpay-local");

/// A running `qrpay-local`; killed when dropped.
struct Process {
    child: Child,
    client: Client,
    banner: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data_dir: &Path, extra: &[&str]) -> Process {
    let mut child = Command::new(BIN)
        .args(["--data-dir", data_dir.to_str().unwrap()])
        .args(extra)
        .env("QRPAY_ADDR", "127.0.0.1:0")
        .env_remove("QRPAY_DEV_JWT_SECRET")
        .env_remove("QRPAY_SANDBOX_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start qrpay-local");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut banner = String::new();
    let mut addr = None;
    // The banner ends with the Ctrl-C hint.
    for line in lines.by_ref() {
        let line = line.expect("read qrpay-local's output");
        if let Some(rest) = line.strip_prefix("qrpay-local listening on http://") {
            addr = rest.split_whitespace().next().map(str::to_owned);
        }
        banner.push_str(&line);
        banner.push('\n');
        if line.starts_with("Ctrl-C stops it") {
            break;
        }
    }
    // Keep draining stdout so the process never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let addr =
        addr.unwrap_or_else(|| panic!("qrpay-local did not say where it listens:\n{banner}"));
    Process {
        child,
        client: Client::new(addr),
        banner,
    }
}

/// Checks what a recording client saw against the document.
trait AgainstTheDocument {
    fn check_against_the_document(&self, every_operation: bool);
}

impl AgainstTheDocument for Client {
    /// Every answer fits `infra/openapi.json` (and, with `every_operation`,
    /// every documented operation was called).
    fn check_against_the_document(&self, every_operation: bool) {
        let contract = Contract::load();
        let seen = self.exchanges();
        let mut errors = Vec::new();
        let mut covered = BTreeSet::new();
        for x in &seen {
            errors.extend(contract.check(&x.method, &x.path, x.answer.status, &x.answer.body));
            if let Some(op) = contract.operation_of(&x.method, &x.path) {
                covered.insert(op);
            }
        }
        assert!(
            errors.is_empty(),
            "answers that differ from the document:\n{}",
            errors.join("\n")
        );
        if every_operation {
            let missed: Vec<_> = contract
                .operations()
                .difference(&covered)
                .cloned()
                .collect();
            assert!(
                missed.is_empty(),
                "operations the flow never called: {missed:?}"
            );
            assert!(seen.len() >= 50, "only {} answers", seen.len());
        }
    }
}

struct Tokens {
    admin: String,
    owner: String,
    staff: String,
    other_shop: String,
}

fn tokens() -> Tokens {
    Tokens {
        admin: token(DEFAULT_DEV_SECRET, "ops-1", None, "admin"),
        owner: token(DEFAULT_DEV_SECRET, "own-t", Some("shop-t"), "owner"),
        staff: token(DEFAULT_DEV_SECRET, "staff-t", Some("shop-t"), "staff"),
        other_shop: token(DEFAULT_DEV_SECRET, "owner-1", Some("demo-shop"), "owner"),
    }
}

async fn call(
    c: &Client,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    c.json(method, path, token, body.as_ref())
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// Asserts the status and, for errors, API.md's error body with `code`.
fn check(answer: &Answer, status: u16, code: Option<&str>) -> Value {
    assert_eq!(answer.status, status, "{}", answer.text());
    let body = answer.json();
    if let Some(code) = code {
        assert_eq!(body["error"]["code"], json!(code), "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
    body
}

fn keys(v: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

fn has(v: &Value, wanted: &[&str]) {
    for key in wanted {
        assert!(v.get(*key).is_some(), "{key} missing in {v}");
    }
}

async fn payout(c: &Client, t: &str, order: &str, amount: &str, key: Option<&str>) -> Answer {
    let mut headers = vec![];
    if let Some(key) = key {
        headers.push(("idempotency-key", key));
    }
    c.send(
        "POST",
        &format!("/shops/shop-t/orders/{order}/payouts"),
        Some(t),
        &headers,
        Some(
            json!({"amount": amount, "reason": "SHIPPING_FEE"})
                .to_string()
                .into_bytes(),
        ),
    )
    .await
    .unwrap()
}

async fn adjust(c: &Client, t: &str, key: &str, amount: &str) -> Answer {
    let body = json!({"amount": amount, "reason": "goodwill credit"});
    c.send(
        "POST",
        "/admin/shops/shop-t/balance-adjustments",
        Some(t),
        &[("idempotency-key", key)],
        Some(body.to_string().into_bytes()),
    )
    .await
    .unwrap()
}

/// Polls `GET path` until the payout is final.
async fn final_payout(c: &Client, t: &str, payout_id: &str) -> Value {
    for _ in 0..200 {
        let a = call(
            c,
            "GET",
            &format!("/shops/shop-t/payouts/{payout_id}"),
            Some(t),
            None,
        )
        .await;
        let body = check(&a, 200, None);
        if body["status"] == json!("SUCCEEDED") || body["status"] == json!("FAILED") {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("payout {payout_id} never became final");
}

/// The shop-t report of `date`, once the background run has written it
/// (until then: 404 `RECONCILIATION_NOT_FOUND`).
async fn reconciliation(c: &Client, token: &str, date: &str) -> Value {
    let path = format!("/shops/shop-t/reconciliations/{date}");
    for _ in 0..200 {
        let a = call(c, "GET", &path, Some(token), None).await;
        if a.status == 200 {
            return a.json();
        }
        check(&a, 404, Some("RECONCILIATION_NOT_FOUND"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no report of {date} after 20 s");
}

/// `GET path`, answered 200; its body.
async fn get(c: &Client, path: &str, token: Option<&str>) -> Value {
    check(&call(c, "GET", path, token, None).await, 200, None)
}

/// The paid 3-period order of 300.00 (100.00 a period) as the order and
/// the shop's receivables show it (SPEC §11): due every 30 days after the
/// payment's Beijing day; judged as of a later day, period 1 is overdue.
async fn receivables(c: &Client, t: &Tokens, order: &str, o: &Value) {
    let paid_on = o["paid_at"].as_str().unwrap()[..10].to_owned();
    let day = |n: u64| {
        let d = chrono::NaiveDate::parse_from_str(&paid_on, "%Y-%m-%d").unwrap();
        (d + chrono::Days::new(n)).format("%Y-%m-%d").to_string()
    };
    assert_eq!(
        (
            o["repaid_principal"].clone(),
            o["outstanding_principal"].clone()
        ),
        (json!("0.00"), json!("300.00"))
    );
    let schedule = o["instalment_plan"]["schedule"].as_array().unwrap();
    let due: Vec<(&str, &str)> = schedule
        .iter()
        .map(|p| {
            (
                p["due_date"].as_str().unwrap(),
                p["status"].as_str().unwrap(),
            )
        })
        .collect();
    let (d30, d60, d90) = (day(30), day(60), day(90));
    assert_eq!(
        due,
        vec![
            (d30.as_str(), "PENDING"),
            (d60.as_str(), "PENDING"),
            (d90.as_str(), "PENDING")
        ]
    );
    let path = |as_of: &str| format!("/shops/shop-t/receivables?as_of={as_of}");
    let today = get(c, &path(&paid_on), Some(&t.owner)).await;
    assert_eq!(
        today["totals"],
        json!({"orders": 1, "outstanding": "300.00", "overdue_orders": 0,
            "overdue_amount": "0.00", "overdue_count": 0, "by_age": [
                {"bucket": "1-30", "amount": "0.00", "count": 0},
                {"bucket": "31-60", "amount": "0.00", "count": 0},
                {"bucket": "61-90", "amount": "0.00", "count": 0},
                {"bucket": "90+", "amount": "0.00", "count": 0}]})
    );
    assert_eq!(
        (today["orders"].clone(), today["grace_days"].clone()),
        (json!([]), json!(3))
    );
    // Due on day 30, grace 3: still not overdue on day 33, overdue on 34.
    let last_grace_day = get(c, &path(&day(33)), Some(&t.staff)).await;
    assert_eq!(last_grace_day["totals"]["overdue_count"], json!(0));
    let late = get(c, &path(&day(34)), Some(&t.admin)).await;
    assert_eq!(
        (
            late["totals"]["overdue_count"].clone(),
            late["totals"]["overdue_amount"].clone()
        ),
        (json!(1), json!("100.00"))
    );
    assert_eq!(
        late["totals"]["by_age"][0],
        json!({"bucket": "1-30", "amount": "100.00", "count": 1})
    );
    assert_eq!(late["orders"][0]["order_id"], json!(order));
    assert_eq!(
        late["orders"][0]["overdue_periods"],
        json!([{"period": 1, "amount": "100.00", "due_date": d30, "days_past_due": 4}])
    );
    assert_eq!(late["next_cursor"], Value::Null);
    let after = get(
        c,
        &format!("{}&cursor={order}", path(&day(34))),
        Some(&t.owner),
    )
    .await;
    assert_eq!(after["orders"], json!([]));
    let refusals = [
        (path("2026-13-01"), &t.owner, 400, "INVALID_REQUEST"),
        (
            format!("{}&cursor=bad%20id", path(&paid_on)),
            &t.owner,
            400,
            "INVALID_REQUEST",
        ),
        (path(&paid_on), &t.other_shop, 403, "FORBIDDEN"),
    ];
    for (p, token, status, code) in refusals {
        check(
            &call(c, "GET", &p, Some(token), None).await,
            status,
            Some(code),
        );
    }
    let unknown = "/shops/shop-none/receivables";
    check(
        &call(c, "GET", unknown, Some(&t.admin), None).await,
        404,
        Some("SHOP_NOT_FOUND"),
    );
}

/// The paid order in the shop's listing (PAID only) and in both export
/// files, its provider transaction id exact.
async fn orders_found_and_taken_away(c: &Client, t: &Tokens, order: &str, paid: &Value) {
    let listed = get(c, "/shops/shop-t/orders?status=PAID", Some(&t.staff)).await;
    let ids: Vec<&Value> = listed["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["order_id"])
        .collect();
    assert_eq!(ids, [&json!(order)], "{listed}");
    let txn = paid["provider_txn_id"].as_str().unwrap();
    let csv = call(
        c,
        "GET",
        "/shops/shop-t/exports/orders",
        Some(&t.owner),
        None,
    )
    .await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(
        csv.text().starts_with("\u{feff}日期,订单编号,"),
        "{}",
        csv.text()
    );
    assert!(csv.text().contains(txn), "{}", csv.text());
    let xlsx = "/shops/shop-t/exports/orders?format=xlsx&lang=en";
    let xlsx = call(c, "GET", xlsx, Some(&t.owner), None).await;
    assert_eq!(xlsx.status, 200);
    assert!(xlsx
        .header("content-disposition")
        .unwrap()
        .ends_with(".xlsx\""));
    assert!(xlsx.body.starts_with(b"PK\x03\x04"));
}

/// `PUT /sandbox/faults`
async fn faults(c: &Client, fail: f64, timeout: f64, duplicate: f64, seed: u64) -> Answer {
    let body = json!({
        "transfer_fail_rate": fail,
        "transfer_timeout_rate": timeout,
        "callback_duplicate_rate": duplicate,
        "seed": seed,
    });
    c.json("PUT", "/sandbox/faults", None, Some(&body))
        .await
        .unwrap()
}

async fn advance(c: &Client, seconds: i64) -> Value {
    check(
        &call(
            c,
            "POST",
            "/sandbox/clock",
            None,
            Some(json!({"advance_s": seconds})),
        )
        .await,
        200,
        None,
    )
}

async fn full_flow(p: &Process, data_dir: &Path) {
    let api = Client::recording(p.client.addr.clone());
    let c = &api;
    let t = tokens();

    // The gateway: unknown routes, wrong methods, missing and bad tokens.
    // (Off the document on purpose: not recorded.)
    let raw = &p.client;
    check(
        &raw.json("GET", "/nowhere", None, None).await.unwrap(),
        404,
        Some("ROUTE_NOT_FOUND"),
    );
    let wrong = raw
        .json("PATCH", "/admin/shops/shop-t", Some(&t.admin), None)
        .await
        .unwrap();
    check(&wrong, 405, Some("METHOD_NOT_ALLOWED"));
    assert_eq!(wrong.header("allow"), Some("PUT"));
    let wrong = raw.json("DELETE", "/pay/tok", None, None).await.unwrap();
    assert_eq!(
        (wrong.status, wrong.header("allow")),
        (405, Some("GET, POST"))
    );
    check(
        &call(c, "PUT", "/admin/shops/shop-t", None, Some(json!({}))).await,
        401,
        Some("UNAUTHENTICATED"),
    );
    let forged = token("not-the-secret", "ops-1", None, "admin");
    check(
        &call(
            c,
            "PUT",
            "/admin/shops/shop-t",
            Some(&forged),
            Some(json!({})),
        )
        .await,
        401,
        Some("UNAUTHENTICATED"),
    );

    // Admin setup.
    let shop_body = json!({
        "name": "Test Noodles", "owner_operator_id": "own-t",
        "daily_payout_cap": "15000.00", "payout_balance": "50000.00",
        "instalments": {"min_amount": "100.00", "fee_payer": "shop", "fee_rates": {"3": "0.0230", "6": "0.0450", "12": "0.0750"}}
    });
    check(
        &call(
            c,
            "PUT",
            "/admin/shops/shop-t",
            Some(&t.owner),
            Some(shop_body.clone()),
        )
        .await,
        403,
        Some("FORBIDDEN"),
    );
    let bad = check(
        &call(
            c,
            "PUT",
            "/admin/shops/shop-t",
            Some(&t.admin),
            Some(json!({"name": "x", "owner_operator_id": "own-t", "payout_balance": 5})),
        )
        .await,
        400,
        Some("INVALID_REQUEST"),
    );
    assert_eq!(bad["error"]["field"], json!("payout_balance"));
    let shop = check(
        &call(
            c,
            "PUT",
            "/admin/shops/shop-t",
            Some(&t.admin),
            Some(shop_body),
        )
        .await,
        200,
        None,
    );
    assert_eq!(shop["shop_id"], json!("shop-t"));
    assert_eq!(shop["daily_payout_cap"], json!("15000.00"));
    check(
        &call(
            c,
            "PUT",
            "/shops/shop-t/operators/staff-t/payout-quota",
            Some(&t.staff),
            Some(json!({"enabled": true, "per_payout_limit": "50.00", "daily_limit": "200.00"})),
        )
        .await,
        403,
        Some("FORBIDDEN"),
    );
    let quota = check(
        &call(
            c,
            "PUT",
            "/shops/shop-t/operators/staff-t/payout-quota",
            Some(&t.owner),
            Some(json!({"enabled": true, "per_payout_limit": "50.00", "daily_limit": "200.00"})),
        )
        .await,
        200,
        None,
    );
    assert_eq!(
        (
            quota["per_payout_limit"].clone(),
            quota["daily_limit"].clone()
        ),
        (json!("50.00"), json!("200.00"))
    );
    let device = check(
        &call(
            c,
            "PUT",
            "/admin/devices/till-t",
            Some(&t.admin),
            Some(json!({"shop_id": "shop-t", "secret": "till-secret-0123456789abcdef"})),
        )
        .await,
        200,
        None,
    );
    assert_eq!(device["shop_id"], json!("shop-t"));
    assert!(!device.to_string().contains("till-secret"), "{device}");

    // A POS terminal issues a code with its HMAC signature; a bad one is 401.
    let pos_body =
        json!({"kind": "dynamic", "amount": "12.50", "out_order_no": "POS-1"}).to_string();
    let now_s = chrono::Utc::now().timestamp();
    let head = qr_issue::device::Signed {
        method: "POST",
        path: "/devices/till-t/qr-codes",
        query: "",
        timestamp: now_s,
        nonce: "nonce-0001",
    };
    let signature =
        qr_issue::device::sign(b"till-secret-0123456789abcdef", head, pos_body.as_bytes());
    let ts = now_s.to_string();
    let pos = |sig: String, nonce: &'static str| {
        let (c, body, ts) = (api.clone(), pos_body.clone(), ts.clone());
        async move {
            c.send(
                "POST",
                "/devices/till-t/qr-codes",
                None,
                &[
                    ("x-qrpay-device", "till-t"),
                    ("x-qrpay-timestamp", &ts),
                    ("x-qrpay-nonce", nonce),
                    ("x-qrpay-signature", &sig),
                ],
                Some(body.into_bytes()),
            )
            .await
            .unwrap()
        }
    };
    check(
        &pos("0".repeat(64), "nonce-0002").await,
        401,
        Some("UNAUTHENTICATED"),
    );
    let pos_code = check(&pos(signature.clone(), "nonce-0001").await, 201, None);
    assert_eq!(
        (pos_code["kind"].clone(), pos_code["amount"].clone()),
        (json!("dynamic"), json!("12.50"))
    );
    check(
        &pos(signature, "nonce-0001").await,
        401,
        Some("UNAUTHENTICATED"),
    );
    // The till reads the order it issued, signed the same way.
    let pos_order_path = format!(
        "/devices/till-t/orders/{}",
        pos_code["order_id"].as_str().unwrap()
    );
    let head = qr_issue::device::Signed {
        method: "GET",
        path: &pos_order_path,
        query: "",
        timestamp: now_s,
        nonce: "nonce-0003",
    };
    let read_signature = qr_issue::device::sign(b"till-secret-0123456789abcdef", head, b"");
    let pos_order = check(
        &api.send(
            "GET",
            &pos_order_path,
            None,
            &[
                ("x-qrpay-device", "till-t"),
                ("x-qrpay-timestamp", &ts),
                ("x-qrpay-nonce", "nonce-0003"),
                ("x-qrpay-signature", &read_signature),
            ],
            None,
        )
        .await
        .unwrap(),
        200,
        None,
    );
    assert_eq!(
        (pos_order["status"].clone(), pos_order["amount"].clone()),
        (json!("CREATED"), json!("12.50"))
    );

    // A dynamic code with a monthly-pay plan.
    let code = check(
        &call(c, "POST", "/shops/shop-t/qr-codes", Some(&t.staff), Some(json!({"kind": "dynamic", "amount": "300.00", "out_order_no": "T-1", "description": "Hot pot set", "instalments": {"periods": 3}}))).await,
        201,
        None,
    );
    has(
        &code,
        &[
            "qr_id",
            "kind",
            "order_id",
            "amount",
            "expires_at",
            "url",
            "emv",
            "svg",
            "instalment_plan",
        ],
    );
    assert_eq!(code["amount"], json!("300.00"));
    let plan = &code["instalment_plan"];
    assert_eq!(
        (
            plan["periods"].clone(),
            plan["fee_payer"].clone(),
            plan["fee"].clone(),
            plan["first_amount"].clone()
        ),
        (json!(3), json!("shop"), json!("6.90"), json!("100.00"))
    );
    assert_eq!(
        plan["schedule"],
        json!([{"period": 1, "amount": "100.00"}, {"period": 2, "amount": "100.00"}, {"period": 3, "amount": "100.00"}])
    );
    let (qr, order) = (
        code["qr_id"].as_str().unwrap().to_owned(),
        code["order_id"].as_str().unwrap().to_owned(),
    );
    let url = code["url"].as_str().unwrap();
    let pay_path = url
        .strip_prefix(&format!("http://{}", p.client.addr))
        .unwrap_or_else(|| panic!("{url} is not on this stack"))
        .to_owned();
    // The buyer's page shows what they are about to pay.
    let page = get(c, &pay_path, None).await;
    assert_eq!(
        (page["amount"].clone(), page["order_id"].clone()),
        (json!("300.00"), code["order_id"].clone())
    );
    check(
        &call(c, "GET", &format!("{pay_path}x"), None, None).await,
        404,
        Some("QR_NOT_FOUND"),
    );
    // Committing a way to pay gives the receipt page the buyer returns to.
    let committed = check(
        &call(
            c,
            "POST",
            &pay_path,
            None,
            Some(json!({"method": "sandbox"})),
        )
        .await,
        200,
        None,
    );
    assert_eq!(committed["next"], json!({"type": "wait"}));
    let receipt_path = committed["receipt_url"]
        .as_str()
        .unwrap()
        .strip_prefix(&format!("http://{}", p.client.addr))
        .unwrap()
        .to_owned();
    let waiting = get(c, &receipt_path, None).await;
    assert_eq!(
        (waiting["status"].clone(), waiting["paid_amount"].clone()),
        (json!("CREATED"), json!("0.00"))
    );
    // Images for the counter, and revoking a code the till issued.
    let png = c
        .send(
            "GET",
            &format!(
                "/shops/shop-t/qr-codes/{}/png",
                pos_code["qr_id"].as_str().unwrap()
            ),
            Some(&t.owner),
            &[],
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (png.status, png.header("content-type")),
        (200, Some("image/png"))
    );
    assert!(png.body.starts_with(b"\x89PNG"));
    let revoked = call(
        c,
        "DELETE",
        &format!(
            "/shops/shop-t/qr-codes/{}",
            pos_code["qr_id"].as_str().unwrap()
        ),
        Some(&t.owner),
        None,
    )
    .await;
    assert_eq!((revoked.status, revoked.body.len()), (204, 0));
    let status = get(c, &format!("/shops/shop-t/qr-codes/{qr}"), Some(&t.owner)).await;
    assert_eq!(status["status"], json!("ACTIVE"));
    check(
        &call(
            c,
            "GET",
            &format!("/shops/shop-t/qr-codes/{qr}"),
            Some(&t.other_shop),
            None,
        )
        .await,
        403,
        Some("FORBIDDEN"),
    );
    // Before payment no payout is possible.
    check(
        &payout(c, &t.staff, &order, "5.00", Some("early")).await,
        422,
        Some("ORDER_NOT_PAYABLE"),
    );

    // A payer with a field the document does not name is refused, unpaid.
    let odd_payer = json!({"payer": {"name": "王小明", "email": "w@example.cn"}});
    let refused = check(
        &call(
            c,
            "POST",
            &format!("/sandbox/qr-codes/{qr}/pay"),
            None,
            Some(odd_payer),
        )
        .await,
        400,
        Some("INVALID_REQUEST"),
    );
    assert_eq!(refused["error"]["field"], json!("payer.email"));
    // The buyer pays through the sandbox; its signed callback marks the order paid.
    let paid = check(
        &call(
            c,
            "POST",
            &format!("/sandbox/qr-codes/{qr}/pay"),
            None,
            Some(json!({"payer": {"name": "王小明", "phone": "13512345678"}})),
        )
        .await,
        200,
        None,
    );
    assert_eq!(paid["order_id"], json!(order));
    assert!(paid["provider_txn_id"]
        .as_str()
        .unwrap()
        .starts_with("sbx_tx_"));
    assert_eq!(
        paid["callback"]["first"],
        json!({"status": 200, "body": {"received": true, "applied": true}})
    );
    let o = get(c, &format!("/shops/shop-t/orders/{order}"), Some(&t.staff)).await;
    has(
        &o,
        &[
            "order_id",
            "shop_id",
            "amount",
            "paid_amount",
            "status",
            "provider",
            "provider_txn_id",
            "instalment_plan",
            "payouts_live_total",
            "payouts_live_count",
        ],
    );
    assert_eq!(
        (
            o["status"].clone(),
            o["paid_amount"].clone(),
            o["provider"].clone(),
            o["provider_txn_id"].clone()
        ),
        (
            json!("PAID"),
            json!("300.00"),
            json!("sandbox"),
            paid["provider_txn_id"].clone()
        )
    );
    assert_eq!(
        (
            o["payouts_live_total"].clone(),
            o["payouts_live_count"].clone()
        ),
        (json!("0.00"), json!(0))
    );
    assert_eq!(o["payer"], json!("王* 135****5678"));
    receivables(c, &t, &order, &o).await;
    orders_found_and_taken_away(c, &t, &order, &paid).await;
    let used = get(c, &format!("/shops/shop-t/qr-codes/{qr}"), Some(&t.owner)).await;
    assert_eq!(used["status"], json!("USED"));
    check(
        &call(
            c,
            "POST",
            &format!("/sandbox/qr-codes/{qr}/pay"),
            None,
            None,
        )
        .await,
        409,
        Some("QR_USED"),
    );
    check(
        &call(c, "POST", &pay_path, None, None).await,
        409,
        Some("QR_USED"),
    );
    // The receipt now shows the payment; the form's next page sends a paid
    // order's buyer there.
    let receipt = get(c, &receipt_path, None).await;
    assert_eq!(
        (
            receipt["status"].clone(),
            receipt["paid_amount"].clone(),
            receipt["provider_txn_id"].clone()
        ),
        (
            json!("PAID"),
            json!("300.00"),
            paid["provider_txn_id"].clone()
        )
    );
    // A claim link that is not ours opens nothing (the WeChat claim itself
    // runs in the browser tests).
    let claim = call(
        c,
        "GET",
        "/claim/cl1.po_x.shop-t.1800000000.c2ln",
        None,
        None,
    )
    .await;
    assert_eq!(claim.status, 404, "{}", claim.text());
    let next = call(
        c,
        "GET",
        &format!("{pay_path}/orders/{order}/sandbox"),
        None,
        None,
    )
    .await;
    assert_eq!(
        (next.status, next.header("location")),
        (303, committed["receipt_url"].as_str())
    );
    check(
        &call(c, "POST", "/sandbox/qr-codes/qr_unknown/pay", None, None).await,
        404,
        Some("QR_NOT_FOUND"),
    );
    // A forged callback changes nothing.
    let forged = c
        .send(
            "POST",
            "/callbacks/sandbox",
            None,
            &[("qrpay-signature", "t=1,v1=00")],
            Some(br#"{"notice_id":"x"}"#.to_vec()),
        )
        .await
        .unwrap();
    assert_eq!(forged.status, 401, "{}", forged.text());

    // A payout, executed by the background worker, sent to the provider once.
    check(
        &payout(c, &t.staff, &order, "20.00", None).await,
        400,
        Some("INVALID_REQUEST"),
    );
    let asked = payout(c, &t.staff, &order, "20.00", Some("ship-1")).await;
    let p1 = check(&asked, 202, None);
    assert_eq!(
        keys(&p1),
        vec![
            "amount",
            "business_date",
            "created_at",
            "operator_id",
            "order_id",
            "payout_id",
            "provider",
            "reason",
            "shop_id",
            "status",
            "updated_at"
        ]
    );
    assert_eq!(
        (
            p1["status"].clone(),
            p1["amount"].clone(),
            p1["operator_id"].clone()
        ),
        (json!("PENDING"), json!("20.00"), json!("staff-t"))
    );
    let payout_id = p1["payout_id"].as_str().unwrap().to_owned();
    let replay = check(
        &payout(c, &t.staff, &order, "20.00", Some("ship-1")).await,
        202,
        None,
    );
    assert_eq!(replay["payout_id"], json!(payout_id));
    check(
        &payout(c, &t.staff, &order, "21.00", Some("ship-1")).await,
        409,
        Some("IDEMPOTENCY_CONFLICT"),
    );
    let done = final_payout(c, &t.staff, &payout_id).await;
    assert_eq!(done["status"], json!("SUCCEEDED"), "{done}");
    assert_eq!(done["attempts"].as_array().unwrap().len(), 1, "{done}");

    // Refusals, each with its code.
    check(
        &payout(c, &t.staff, &order, "80.00", Some("big")).await,
        422,
        Some("OPERATOR_SINGLE_LIMIT_EXCEEDED"),
    );
    let soon = payout(c, &t.staff, &order, "10.00", Some("soon")).await;
    let body = check(&soon, 429, Some("PAYOUT_TOO_FREQUENT"));
    assert!(
        soon.header("retry-after")
            .is_some_and(|s| s.parse::<u32>().unwrap() <= 60),
        "{body}"
    );
    check(
        &payout(c, &t.other_shop, &order, "10.00", Some("other")).await,
        403,
        Some("FORBIDDEN"),
    );

    // The provider fails the next transfer: the payout fails, the shop is told.
    check(
        &faults(c, 1.5, 0.0, 0.0, 1).await,
        400,
        Some("INVALID_REQUEST"),
    );
    check(&faults(c, 1.0, 0.0, 1.0, 7).await, 200, None);
    let now = advance(c, 61).await;
    assert!(now["now"].as_str().unwrap().ends_with("+08:00"), "{now}");
    let p2 = check(
        &payout(c, &t.staff, &order, "5.00", Some("ship-2")).await,
        202,
        None,
    );
    let failed = final_payout(c, &t.staff, p2["payout_id"].as_str().unwrap()).await;
    assert_eq!(failed["status"], json!("FAILED"), "{failed}");
    assert!(
        failed["failure_reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{failed}"
    );
    check(&faults(c, 0.0, 0.0, 0.0, 0).await, 200, None);
    check(
        &call(
            c,
            "POST",
            &format!(
                "/shops/shop-t/payouts/{}/continue",
                p2["payout_id"].as_str().unwrap()
            ),
            Some(&t.staff),
            None,
        )
        .await,
        409,
        Some("INVALID_STATE"),
    );
    let notices = check(
        &call(c, "GET", "/shops/shop-t/notices", Some(&t.owner), None).await,
        200,
        None,
    );
    assert!(
        notices
            .to_string()
            .contains(p2["payout_id"].as_str().unwrap()),
        "{notices}"
    );
    let listed = get(
        c,
        &format!("/shops/shop-t/orders/{order}/payouts"),
        Some(&t.owner),
    )
    .await;
    assert_eq!(
        (
            listed["paid_amount"].clone(),
            listed["payouts_live_total"].clone(),
            listed["payouts"].as_array().unwrap().len()
        ),
        (json!("300.00"), json!("20.00"), 2)
    );

    // Refunds: the sandbox has no refund gateway, so its orders are refused
    // and nothing is reserved (simulated providers' refunds: providers_end_to_end).
    let refund = c
        .send(
            "POST",
            &format!("/shops/shop-t/orders/{order}/refunds"),
            Some(&t.owner),
            &[("idempotency-key", "refund-1")],
            Some(
                json!({"amount": "5.00", "reason": "退货"})
                    .to_string()
                    .into_bytes(),
            ),
        )
        .await
        .unwrap();
    check(&refund, 422, Some("REFUND_CHANNEL_UNAVAILABLE"));
    let refunds = get(
        c,
        &format!("/shops/shop-t/orders/{order}/refunds"),
        Some(&t.owner),
    )
    .await;
    assert_eq!(
        refunds,
        json!({"order_id": order, "paid_amount": "300.00", "refunded_amount": "0.00",
            "refunds_live_total": "0.00", "refunds": []})
    );

    // What the provider really paid: each payout at most once.
    let sent = check(
        &call(c, "GET", "/sandbox/transfers", None, None).await,
        200,
        None,
    );
    let ours: Vec<&Value> = sent["transfers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["shop_id"] == json!("shop-t"))
        .collect();
    assert_eq!(ours.len(), 2, "{sent}");
    assert_eq!(
        (ours[0]["out_bill_no"].clone(), ours[0]["status"].clone()),
        (json!(payout_id), json!("SUCCEEDED"))
    );
    assert_eq!(
        (ours[1]["out_bill_no"].clone(), ours[1]["status"].clone()),
        (p2["payout_id"].clone(), json!("FAILED"))
    );

    // The operator credits the shop (a balance adjustment): once per key,
    // admins only; the night reports it as our own movement.
    let credit = adjust(c, &t.admin, "adj-t-1", "50.00").await;
    let credited = check(&credit, 201, None);
    assert_eq!(
        (credited["amount"].clone(), credited["operator_id"].clone()),
        (json!("50.00"), json!("ops-1"))
    );
    let again = adjust(c, &t.admin, "adj-t-1", "50.00").await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(check(&again, 201, None), credited);
    check(
        &adjust(c, &t.admin, "adj-t-1", "-50.00").await,
        409,
        Some("IDEMPOTENCY_CONFLICT"),
    );
    check(
        &adjust(c, &t.owner, "adj-t-2", "50.00").await,
        403,
        Some("FORBIDDEN"),
    );
    let too_much = check(
        &adjust(c, &t.admin, "adj-t-3", "-99999999.99").await,
        422,
        Some("INSUFFICIENT_BALANCE"),
    );
    assert_eq!(too_much["error"]["remaining"], credited["balance_after"]);

    let date = p1["business_date"].as_str().unwrap().to_owned();
    let day = get(
        c,
        &format!("/shops/shop-t/payouts?date={date}"),
        Some(&t.owner),
    )
    .await;
    assert_eq!(day["payouts"].as_array().unwrap().len(), 2, "{day}");
    check(
        &call(
            c,
            "POST",
            &format!("/admin/reconciliations/{date}"),
            Some(&t.owner),
            None,
        )
        .await,
        403,
        Some("FORBIDDEN"),
    );
    advance(c, 86_400).await;
    let queued = check(
        &call(
            c,
            "POST",
            &format!("/admin/reconciliations/{date}"),
            Some(&t.admin),
            None,
        )
        .await,
        202,
        None,
    );
    assert_eq!(queued, json!({"date": date, "status": "QUEUED"}));
    let report = reconciliation(c, &t.owner, &date).await;
    // Every row matched: there is nothing to resolve, and staff may not.
    let row_id = report["rows"][0]["row_id"].as_str().unwrap().to_owned();
    let resolution = format!("/shops/shop-t/reconciliations/{date}/rows/{row_id}/resolution");
    let body = json!({"status": "RESOLVED"});
    for (token, status, code) in [
        (&t.owner, 422, "REPORT_ROW_NOT_A_DISCREPANCY"),
        (&t.staff, 403, "FORBIDDEN"),
    ] {
        let a = call(c, "PUT", &resolution, Some(token), Some(body.clone())).await;
        check(&a, status, Some(code));
    }
    assert_eq!(
        report["resolutions"],
        json!({"open": 0, "resolved": 0, "waived": 0})
    );
    let summary = &report["summary"];
    // Payment 300.00, its shop-borne fee 6.90, payout 20.00, the failed
    // payout (it moved nothing, and nothing is booked), and the settlement
    // batch 300.00 − 6.90 − 20.00.
    assert_eq!(summary["outcomes"]["MATCHED"], json!(5), "{report}");
    assert_eq!(summary["outcomes"]["INTERNAL"], json!(1), "{report}");
    assert_eq!(summary["discrepancies"], json!(0), "{report}");
    assert_eq!(
        summary["adjustment_credits"],
        json!({"count": 1, "total": "50.00"})
    );
    assert_eq!(
        (
            summary["payments"]["total"].clone(),
            summary["fees"]["total"].clone(),
            summary["payouts"]["total"].clone()
        ),
        (json!("300.00"), json!("6.90"), json!("20.00"))
    );
    assert_eq!(
        (
            summary["settlement_expected"].clone(),
            summary["settlement_received"].clone()
        ),
        (json!("273.10"), json!("273.10"))
    );
    assert_eq!(summary["monthly_pay_orders"], json!(1));
    let (internal, rows): (Vec<&Value>, Vec<&Value>) = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .partition(|r| r["outcome"] == "INTERNAL");
    assert_eq!(
        (
            internal.len(),
            internal[0]["kind"].clone(),
            internal[0]["order_no"].clone()
        ),
        (
            1,
            json!("ADJUSTMENT_CREDIT"),
            credited["adjustment_id"].clone()
        )
    );
    let kinds: Vec<&str> = rows.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        vec!["PAYMENT", "FEE", "PAYOUT", "PAYOUT", "SETTLEMENT"]
    );
    assert_eq!(rows[0]["customer"], json!("王* 135****5678"));
    assert_eq!(rows[0]["instalment"], json!("3 periods"));
    assert_eq!(
        (
            rows[3]["order_no"].clone(),
            rows[3]["ledger_amount"].clone(),
            rows[3]["reconciled_amount"].clone()
        ),
        (p2["payout_id"].clone(), Value::Null, json!("0.00"))
    );
    // The month's KPIs: this one reconciled day's, summed.
    let month = get(
        c,
        &format!("/shops/shop-t/kpis?month={}", &date[..7]),
        Some(&t.owner),
    )
    .await;
    assert_eq!(month["days_reconciled"], json!(1), "{month}");
    assert_eq!(month["kpis"], summary["kpis"], "{month}");
    assert_eq!(
        (
            month["inputs"]["payments"].clone(),
            month["kpis"]["monthly_pay_share"].clone(),
            month["kpis"]["average_order_value"].clone(),
            month["kpis"]["payouts_total"].clone()
        ),
        (
            json!({"count": 1, "total": "300.00"}),
            json!("1.0000"),
            json!("300.00"),
            json!("20.00")
        )
    );
    assert!(data_dir
        .join(format!("reports/{date}/shop-t.csv"))
        .is_file());
    let bill = c
        .send("GET", &format!("/sandbox/bills/{date}"), None, &[], None)
        .await
        .unwrap();
    assert_eq!(bill.status, 200);
    assert!(bill.header("content-type").unwrap().starts_with("text/csv"));
    assert!(bill.text().contains(&payout_id), "{}", bill.text());
    // A refund in the provider's console needs a payment the sandbox made.
    let unknown = json!({"provider_txn_id": "sbx_tx_unknown", "amount": "1.00"});
    check(
        &call(c, "POST", "/sandbox/console-refunds", None, Some(unknown)).await,
        404,
        Some("ORDER_NOT_FOUND"),
    );
    api.check_against_the_document(true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_stack_runs_the_whole_flow_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(dir.path(), &[]);
    // The banner names the demo world and its tokens.
    for part in [
        "Demo shop demo-shop",
        "export ADMIN='",
        "export OWNER='",
        "export STAFF='",
        "curl -s -X POST",
    ] {
        assert!(
            p.banner.contains(part),
            "{part} missing from:\n{}",
            p.banner
        );
    }
    full_flow(&p, dir.path()).await;
}

/// The `curl` lines the server prints, run as a newcomer would paste them
/// (after the `export` lines): each one is answered 2xx.
#[test]
fn the_printed_curl_lines_work_as_printed() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(dir.path(), &[]);
    let exports: Vec<&str> = p
        .banner
        .lines()
        .filter(|l| l.starts_with("export "))
        .collect();
    let curls: Vec<&str> = p
        .banner
        .lines()
        .filter(|l| l.starts_with("curl "))
        .collect();
    assert_eq!((exports.len(), curls.len()), (3, 9), "{}", p.banner);
    for line in curls {
        let script = format!(
            "{}\n{line} -o /dev/null -w '%{{http_code}}'",
            exports.join("\n")
        );
        let run = || {
            let out = Command::new("bash")
                .arg("-c")
                .arg(&script)
                .output()
                .expect("bash and curl");
            (String::from_utf8_lossy(&out.stdout).trim().to_owned(), out)
        };
        let (mut code, mut out) = run();
        // The report is there once the background run (milliseconds) ends.
        for _ in 0..50 {
            if code != "404" || !line.contains("/reconciliations/") {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
            (code, out) = run();
        }
        assert!(
            code.starts_with('2'),
            "{line}\nanswered {code:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_stack_runs_the_whole_flow_on_dynamodb_and_sqs() {
    let dir = tempfile::tempdir().unwrap();
    let table = qrpay_tests::unique_name("qrpay-local");
    let p = start(
        dir.path(),
        &[
            "--aws-endpoint",
            qrpay_tests::emulator::endpoint(),
            "--table",
            &table,
            "--queue",
            &table,
        ],
    );
    assert!(
        p.banner.contains(&format!("DynamoDB table {table}")),
        "{}",
        p.banner
    );
    full_flow(&p, dir.path()).await;
}

#[test]
fn the_demo_tells_the_whole_story_and_leaves_its_reports() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["demo", "--data-dir", dir.path().to_str().unwrap()])
        .output()
        .expect("run qrpay-local demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [
        "3-month monthly-pay plan",
        "signed callback to /callbacks/sandbox answered 200",
        "PAID, paid 600.00",
        "the sandbox paid it once",
        "422 OPERATOR_SINGLE_LIMIT_EXCEEDED",
        "429 PAYOUT_TOO_FREQUENT",
        "of 8.00 on order",
        "6 rows, 5 matched, 1 discrepancies; settlement expected 646.20, received 646.20",
        "REFUND MISSING_IN_LEDGER of 8.00 (sbx_console_rf_",
        "): RESOLVED by owner-1",
        "the report's resolutions: 0 open, 1 resolved, 0 waived",
        "the report downloaded as XLSX shows 1 rows RESOLVED in 处理结果",
        "now OVERDUE (4 days past due, grace 3 days)",
        "the month's KPIs (1 day(s) reconciled): monthly-pay share 0.5000, conversion 1.0000, cancellation ratio 0.0000, refund ratio 0.0000 by count, overdue rate 0.0000 by amount, payouts 20.00",
        "came through the signed clients (runs/",
        "wechatpay PAYMENT 68.00 MATCHED\n",
        // 0.60% of 68.00 is 0.408.
        "wechatpay FEE 0.41 MATCHED\n",
        "alipay PAYMENT 360.00 MATCHED\n",
        "alipay FEE 8.28 MATCHED\n",
        "opened back with calamine: every 订单编号 and 渠道交易号 is the same text the API lists",
        "(28 digits, kept as text)",
    ] {
        assert!(stdout.contains(step), "{step:?} missing from:\n{stdout}");
    }
    let mut reports: Vec<_> = std::fs::read_dir(dir.path().join("reports"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    reports.sort();
    // The sandbox's day, and the next with the providers' fetched bills.
    assert_eq!(reports.len(), 2);
    let day = reports[0].clone();
    let csv = std::fs::read_to_string(day.join("demo-shop.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("\u{feff}date,shop_id,order_no,kind"),
        "{csv}"
    );
    assert_eq!(lines.len(), 7, "{csv}");
    let kinds: Vec<(&str, &str)> = lines[1..]
        .iter()
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            (cells[3], cells[12])
        })
        .collect();
    // The counter refund the provider made and qrpay was never told of.
    assert_eq!(
        kinds,
        vec![
            ("PAYMENT", "MATCHED"),
            ("PAYMENT", "MATCHED"),
            ("FEE", "MATCHED"),
            ("PAYOUT", "MATCHED"),
            ("REFUND", "MISSING_IN_LEDGER"),
            ("SETTLEMENT", "MATCHED")
        ]
    );
    assert!(
        csv.contains("张* 138****1234") && !csv.contains("张三") && !csv.contains("13812341234"),
        "{csv}"
    );
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(day.join("demo-shop.json")).unwrap())
            .unwrap();
    assert_eq!(json["summary"]["outcomes"]["MATCHED"], json!(5));
    assert_eq!(json["summary"]["outcomes"]["MISSING_IN_LEDGER"], json!(1));
    assert_eq!(json["summary"]["fees"]["total"], json!("13.80"));
    // The export the demo read back is left for the reader to open.
    let exports: Vec<_> = std::fs::read_dir(dir.path().join("exports"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(exports.len(), 1);
    assert!(exports[0].starts_with("orders-") && exports[0].ends_with(".xlsx"));
}

/// The provider misbehaves (definitive failures, ambiguous timeouts where
/// the money may or may not have moved, every callback delivered twice):
/// the worker, its retries and the sweeper still bring every payout to a
/// final state, and that state is what the provider really did — nothing
/// paid twice, nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_provider_faults_every_payout_ends_as_the_provider_paid_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(dir.path(), &[]);
    let c = &Client::recording(p.client.addr.clone());
    let t = tokens();
    let shop =
        json!({"name": "Chaos Snacks", "owner_operator_id": "own-t", "payout_balance": "50000.00"});
    check(
        &call(c, "PUT", "/admin/shops/shop-t", Some(&t.admin), Some(shop)).await,
        200,
        None,
    );
    let mut orders = Vec::new();
    for i in 0..12 {
        let code = check(
            &call(
                c,
                "POST",
                "/shops/shop-t/qr-codes",
                Some(&t.owner),
                Some(
                    json!({"kind": "dynamic", "amount": "30.00", "out_order_no": format!("C-{i}")}),
                ),
            )
            .await,
            201,
            None,
        );
        let qr = code["qr_id"].as_str().unwrap();
        check(
            &call(
                c,
                "POST",
                &format!("/sandbox/qr-codes/{qr}/pay"),
                None,
                None,
            )
            .await,
            200,
            None,
        );
        orders.push(code["order_id"].as_str().unwrap().to_owned());
    }
    check(&faults(c, 0.25, 0.5, 1.0, 42).await, 200, None);
    let mut payouts = Vec::new();
    for (i, order) in orders.iter().enumerate() {
        let asked = check(
            &payout(c, &t.owner, order, "5.00", Some(&format!("k-{i}"))).await,
            202,
            None,
        );
        payouts.push(asked["payout_id"].as_str().unwrap().to_owned());
    }
    // Time passes: retries come due, the sweeper re-dispatches and queries.
    // After a while the provider recovers.
    let mut finals = Vec::new();
    for round in 0..60 {
        if round == 8 {
            check(&faults(c, 0.0, 0.0, 1.0, 42).await, 200, None);
        }
        advance(c, 300).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        finals.clear();
        for id in &payouts {
            let body = get(c, &format!("/shops/shop-t/payouts/{id}"), Some(&t.owner)).await;
            if body["status"] == json!("SUCCEEDED") || body["status"] == json!("FAILED") {
                finals.push(body);
            }
        }
        if finals.len() == payouts.len() {
            break;
        }
    }
    assert_eq!(finals.len(), payouts.len(), "payouts left open: {finals:?}");
    let sent = check(
        &call(c, "GET", "/sandbox/transfers", None, None).await,
        200,
        None,
    );
    let transfers = sent["transfers"].as_array().unwrap();
    let mut succeeded = 0;
    for payout in &finals {
        let id = &payout["payout_id"];
        let at_provider: Vec<&Value> = transfers
            .iter()
            .filter(|t| &t["out_bill_no"] == id)
            .collect();
        assert!(
            at_provider.len() <= 1,
            "{id} recorded twice: {at_provider:?}"
        );
        let paid = at_provider
            .iter()
            .any(|t| t["status"] == json!("SUCCEEDED"));
        assert_eq!(
            payout["status"] == json!("SUCCEEDED"),
            paid,
            "{payout} disagrees with the provider: {at_provider:?}"
        );
        succeeded += usize::from(paid);
    }
    // Both outcomes happened, and the money moved is exactly the successes.
    assert!(
        succeeded > 0 && succeeded < finals.len(),
        "{succeeded} of {}",
        finals.len()
    );
    assert_eq!(sent["moved_total"], json!(format!("{}.00", 5 * succeeded)));
    c.check_against_the_document(false);
}

/// Monthly pay over the months: the sandbox charges each instalment when
/// the test clock passes its day and calls qrpay back; the order shows each
/// period's status, a declined one tells the shop, and that day's
/// reconciliation lists the deduction with its status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_collects_instalments_as_the_months_pass() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(dir.path(), &[]);
    let c = &Client::recording(p.client.addr.clone());
    let t = tokens();
    let shop = json!({
        "name": "Months Bikes", "owner_operator_id": "own-t", "payout_balance": "0.00",
        "instalments": {"min_amount": "100.00", "fee_payer": "buyer", "fee_rates": {"3": "0.0300"}}
    });
    check(
        &call(c, "PUT", "/admin/shops/shop-t", Some(&t.admin), Some(shop)).await,
        200,
        None,
    );
    let code = check(
        &call(c, "POST", "/shops/shop-t/qr-codes", Some(&t.owner), Some(json!({"kind": "dynamic", "amount": "1000.00", "out_order_no": "BIKE-1", "instalments": {"periods": 3}}))).await,
        201,
        None,
    );
    // The buyer pays the fee: 1030.00 over three periods, the first with the remainder.
    let schedule: Vec<&str> = code["instalment_plan"]["schedule"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["amount"].as_str().unwrap())
        .collect();
    assert_eq!(schedule, vec!["343.34", "343.33", "343.33"]);
    let order = code["order_id"].as_str().unwrap().to_owned();
    let qr = code["qr_id"].as_str().unwrap();
    check(
        &call(
            c,
            "POST",
            &format!("/sandbox/qr-codes/{qr}/pay"),
            None,
            None,
        )
        .await,
        200,
        None,
    );
    let deductions = |o: &Value| o["deductions"].clone();
    let o = get(c, &format!("/shops/shop-t/orders/{order}"), Some(&t.owner)).await;
    assert_eq!(deductions(&o), json!(["PENDING", "PENDING", "PENDING"]));

    // Not due yet after 29 days; the first is charged after 30.
    assert_eq!(advance(c, 29 * 86_400).await["deductions"], json!(0));
    assert_eq!(advance(c, 86_400).await["deductions"], json!(1));
    let o = get(c, &format!("/shops/shop-t/orders/{order}"), Some(&t.owner)).await;
    assert_eq!(deductions(&o), json!(["DEDUCTED", "PENDING", "PENDING"]));

    // The buyer's card declines the second.
    let faults_body = json!({"transfer_fail_rate": 0, "transfer_timeout_rate": 0, "callback_duplicate_rate": 0, "deduction_fail_rate": 1, "seed": 3});
    let set = check(
        &call(c, "PUT", "/sandbox/faults", None, Some(faults_body)).await,
        200,
        None,
    );
    assert_eq!(set["deduction_fail_rate"], json!(1.0));
    let moved = advance(c, 30 * 86_400).await;
    assert_eq!(moved["deductions"], json!(1));
    let declined_day = moved["now"].as_str().unwrap()[..10].to_owned();
    let o = get(c, &format!("/shops/shop-t/orders/{order}"), Some(&t.owner)).await;
    assert_eq!(deductions(&o), json!(["DEDUCTED", "FAILED", "PENDING"]));
    let notices = get(c, "/shops/shop-t/notices", Some(&t.owner)).await;
    assert!(notices.to_string().contains(&order), "{notices}");

    // The night after: the day's reconciliation shows the declined deduction.
    advance(c, 86_400).await;
    check(
        &call(
            c,
            "POST",
            &format!("/admin/reconciliations/{declined_day}"),
            Some(&t.admin),
            None,
        )
        .await,
        202,
        None,
    );
    let report = reconciliation(c, &t.owner, &declined_day).await;
    let rows = report["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("no report: {report}"));
    let deduction: Vec<&Value> = rows
        .iter()
        .filter(|r| r["kind"] == json!("DEDUCTION"))
        .collect();
    assert_eq!(deduction.len(), 1, "{report}");
    assert_eq!(
        (
            deduction[0]["deduction_status"].clone(),
            deduction[0]["instalment"].clone(),
            deduction[0]["provider_amount"].clone()
        ),
        (json!("FAILED"), json!("period 2"), json!("343.33"))
    );
    assert_eq!(report["summary"]["deductions_failed"], json!(1));
    assert_eq!(report["summary"]["deduction_failure_rate"], json!("1.0000"));

    // Period 2 was due on day 60; with 3 grace days it is OVERDUE on day 64.
    advance(c, 3 * 86_400).await;
    let o = get(c, &format!("/shops/shop-t/orders/{order}"), Some(&t.owner)).await;
    let statuses: Vec<&str> = o["instalment_plan"]["schedule"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["DEDUCTED", "OVERDUE", "PENDING"]);
    assert_eq!(deductions(&o), json!(["DEDUCTED", "FAILED", "PENDING"]));
    assert_eq!(
        o["instalment_plan"]["schedule"][1]["days_past_due"],
        json!(4)
    );
    assert_eq!(
        (
            o["repaid_principal"].clone(),
            o["outstanding_principal"].clone()
        ),
        (json!("343.34"), json!("686.66"))
    );
    let r = get(c, "/shops/shop-t/receivables", Some(&t.owner)).await;
    assert_eq!(
        (
            r["totals"]["outstanding"].clone(),
            r["totals"]["overdue_amount"].clone(),
            r["totals"]["overdue_count"].clone(),
            r["totals"]["by_age"][0]["count"].clone()
        ),
        (json!("686.66"), json!("343.33"), json!(1), json!(1))
    );
    assert_eq!(r["orders"][0]["order_id"], json!(order));
    c.check_against_the_document(false);
}
