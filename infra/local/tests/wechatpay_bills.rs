//! Issue 15 item 8 for WeChat Pay, on one machine: the real adapter fetches
//! the simulator's bills of a day through its signed client — not before the
//! day has ended and the publish delay has run — and the reconciliation's
//! reader reads the trade bill into exactly the day's payment and refund.

mod common;

use std::io::BufReader;

use common::{world, World};
use qrpay_domain::{Amount, BusinessDate, Clock, OrderId, Provider};
use qrpay_provider::bills::{BillGateway, BillKind, BillOutcome};
use qrpay_provider::gateway::{
    HttpRequest, HttpResponse, HttpTransport, RefundNo, RefundOutcome, RefundRequest,
    TransportError,
};
use qrpay_provider::wechatpay::gateway::WechatpayGateway;
use qrpay_reconcile::statement::{self, Format};
use qrpay_reconcile::{MovementKind, ProviderStatus};
use serde_json::{json, Value};

const SHOP: &str = "demo-shop";
const OPENID: &str = "oBillBuyer00000000000000000A";

impl World {
    async fn ok(&self, method: &str, path: &str, owner: bool, body: Option<Value>) -> Value {
        let a = self.call(method, path, owner, body).await;
        assert!(a.status < 300, "{method} {path}: {} {}", a.status, a.text());
        a.json()
    }

    async fn fetch(
        &self,
        date: BusinessDate,
        kind: BillKind,
        dest: &std::path::Path,
    ) -> BillOutcome {
        let gateway = self
            .running
            .stack
            .gateways
            .bill(Provider::Wechatpay)
            .expect("configured");
        gateway.fetch_bill(date, kind, dest).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulators_bills_are_fetched_once_published_and_read_exactly() {
    let w = world().await;
    let body = json!({"kind": "dynamic", "amount": "100.00", "out_order_no": "WXB-1", "provider": "wechatpay"});
    let code = w
        .ok("POST", &format!("/shops/{SHOP}/qr-codes"), true, Some(body))
        .await;
    let order_id = code["order_id"].as_str().unwrap().to_owned();
    let paid = w
        .ok(
            "POST",
            "/sandbox/wechatpay/pay",
            false,
            Some(json!({"code": code["provider_code"], "payer": OPENID})),
        )
        .await;
    let txn_id = paid["transaction_id"].as_str().unwrap().to_owned();
    let refund = RefundRequest {
        refund_no: RefundNo::parse("rf_wxb1").unwrap(),
        order_id: OrderId::parse(&order_id).unwrap(),
        amount: Amount::parse("10.00").unwrap(),
        order_total: Amount::parse("100.00").unwrap(),
        reason: None,
    };
    let refunds = w
        .running
        .stack
        .gateways
        .refunds(Provider::Wechatpay)
        .unwrap();
    let accepted = refunds.refund(&refund).await;
    assert!(
        matches!(
            accepted,
            RefundOutcome::InProgress | RefundOutcome::Succeeded { .. }
        ),
        "{accepted:?}"
    );
    let refund_id = match refunds
        .query_refund(&refund.order_id, &refund.refund_no)
        .await
    {
        RefundOutcome::Succeeded {
            provider_refund_id: Some(id),
        } => id,
        other => panic!("{other:?}"),
    };

    let now = w.running.stack.clock.now();
    let day = BusinessDate::of(now);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("wechatpay.csv");
    let creating = BillOutcome::NotYet {
        detail: "STATEMENT_CREATING: WeChat Pay is still making the bill".into(),
    };
    assert_eq!(
        w.fetch(day, BillKind::Trade, &dest).await,
        creating,
        "the day has not ended"
    );
    w.ok(
        "PUT",
        "/sandbox/simulators",
        false,
        Some(json!({"bill_publish_delay_s": 3600})),
    )
    .await;
    let to_midnight = (day.succ().starts_at() - now).num_seconds() + 60;
    w.ok(
        "POST",
        "/sandbox/clock",
        false,
        Some(json!({"advance_s": to_midnight})),
    )
    .await;
    assert_eq!(
        w.fetch(day, BillKind::Trade, &dest).await,
        creating,
        "the publish delay runs"
    );
    w.ok(
        "POST",
        "/sandbox/clock",
        false,
        Some(json!({"advance_s": 3600})),
    )
    .await;

    let stored = w.fetch(day, BillKind::Trade, &dest).await;
    let bytes = std::fs::metadata(&dest).unwrap().len();
    assert_eq!(stored, BillOutcome::Stored { bytes });
    let file = std::fs::File::open(&dest).unwrap();
    let rows: Vec<_> = statement::read(
        Format::Wechat,
        Provider::Wechatpay,
        day,
        BufReader::new(file),
    )
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap();
    let seen: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.line,
                r.shop_id.as_str(),
                r.kind,
                r.reference.as_str(),
                r.provider_ref.as_str(),
                r.amount_fen,
                r.fee_fen,
                r.status,
                r.payer.as_deref(),
            )
        })
        .collect();
    // The order's `attach` names the shop (a direct merchant's 特约商户号 is 0).
    assert_eq!(
        seen,
        vec![
            (
                2,
                "demo-shop",
                MovementKind::Payment,
                order_id.as_str(),
                txn_id.as_str(),
                10_000,
                60,
                ProviderStatus::Success,
                Some(OPENID)
            ),
            (
                3,
                "demo-shop",
                MovementKind::Refund,
                order_id.as_str(),
                refund_id.as_str(),
                1_000,
                6,
                ProviderStatus::Success,
                Some(OPENID)
            ),
        ]
    );

    let fund = dir.path().join("wechatpay-fundflow.csv");
    let stored = w.fetch(day, BillKind::FundFlow, &fund).await;
    let text = std::fs::read_to_string(&fund).unwrap();
    assert_eq!(
        stored,
        BillOutcome::Stored {
            bytes: text.len() as u64
        }
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 7, "{text}");
    assert!(
        lines[1].contains(&format!(",`{txn_id},`"))
            && lines[1].contains(",`交易,`交易,`收入,`100.00,`100.00,`"),
        "{text}"
    );
    assert!(
        lines[3].contains(",`退款,`退款,`支出,`10.00,`89.40,`"),
        "{text}"
    );
    assert_eq!(lines[6], "`4,`2,`100.06,`2,`10.60");

    // The day before had nothing: no bill.
    assert_eq!(
        w.fetch(day.pred(), BillKind::Trade, &dest).await,
        BillOutcome::NoBill {
            detail: "NO_STATEMENT_EXIST: no collection or refund on the account that day".into()
        }
    );
}

/// Sends through the stack's own client and keeps every exchange.
struct Recording {
    client: qrpay_local::client::Client,
    origin: String,
    seen: std::sync::Mutex<Vec<(HttpRequest, HttpResponse)>>,
}

#[async_trait::async_trait]
impl HttpTransport for Recording {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let path = request.url.strip_prefix(&self.origin).unwrap().to_owned();
        let headers: Vec<(&str, &str)> = request
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let body = (!request.body.is_empty()).then(|| request.body.clone());
        let a = self
            .client
            .send(request.method.as_str(), &path, None, &headers, body)
            .await
            .map_err(TransportError::Other)?;
        let answer = HttpResponse {
            status: a.status,
            headers: a.headers,
            body: a.body,
        };
        self.seen.lock().unwrap().push((request, answer.clone()));
        Ok(answer)
    }
}

#[allow(dead_code)]
#[path = "../../../shared/provider/tests/common/sdk.rs"]
mod sdk;

/// The `wechatpayv3` SDK verifies the simulator's signed bill answers and
/// downloads its file through `download_bill`; Python's gzip unpacks it to
/// the SHA-1 the answer names, and the bill our adapter stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wechatpayv3_verifies_the_simulators_bill_answers_and_python_unpacks_its_file() {
    let w = world().await;
    let body = json!({"kind": "dynamic", "amount": "12.34", "out_order_no": "WXB-2", "provider": "wechatpay"});
    let code = w
        .ok("POST", &format!("/shops/{SHOP}/qr-codes"), true, Some(body))
        .await;
    w.ok(
        "POST",
        "/sandbox/wechatpay/pay",
        false,
        Some(json!({"code": code["provider_code"]})),
    )
    .await;
    let day = BusinessDate::of(w.running.stack.clock.now());
    let to_midnight = (day.succ().starts_at() - w.running.stack.clock.now()).num_seconds() + 60;
    w.ok(
        "POST",
        "/sandbox/clock",
        false,
        Some(json!({"advance_s": to_midnight})),
    )
    .await;

    let env = w.running.stack.simulators.environment().clone();
    let origin = format!("http://{}", w.running.addr);
    let recording = std::sync::Arc::new(Recording {
        client: qrpay_local::client::Client::new(w.running.addr.to_string()),
        origin,
        seen: Default::default(),
    });
    let clock: std::sync::Arc<dyn Clock> = w.running.stack.clock.clone();
    let gateway =
        WechatpayGateway::from_env(&|n: &str| env.get(n).cloned(), recording.clone(), clock)
            .unwrap()
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let trade = dir.path().join("wechatpay.csv");
    assert!(matches!(
        gateway.fetch_bill(day, BillKind::Trade, &trade).await,
        BillOutcome::Stored { .. }
    ));
    let fund = dir.path().join("wechatpay-fundflow.csv");
    assert!(matches!(
        gateway.fetch_bill(day, BillKind::FundFlow, &fund).await,
        BillOutcome::Stored { .. }
    ));

    let seen = recording.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4);
    let auth = |i: usize, field: &str| {
        let (_, value) = seen[i]
            .0
            .headers
            .iter()
            .find(|(k, _)| k == "Authorization")
            .unwrap();
        let start = value.find(&format!("{field}=\"")).unwrap() + field.len() + 2;
        value[start..].split('"').next().unwrap().to_owned()
    };
    let answer = |i: usize| {
        let headers: serde_json::Map<String, Value> = seen[i]
            .1
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        json!({"status": seen[i].1.status, "headers": headers,
            "body_b64": base64::engine::general_purpose::STANDARD.encode(&seen[i].1.body)})
    };
    use base64::Engine;
    let theirs = sdk::run_from(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/provider/tests/conformance/wechatpay.py"),
        json!({
            "op": "bills",
            "private_key": env["WECHATPAY_MCH_PRIVATE_KEY"], "mchid": env["WECHATPAY_MCHID"],
            "serial": env["WECHATPAY_MCH_SERIAL"], "public_key": env["WECHATPAY_PLATFORM_PUBLIC_KEY"],
            "public_key_id": env["WECHATPAY_PLATFORM_SERIAL"],
            "gateway": env["WECHATPAY_BASE_URL"],
            "bill_date": day.to_string(),
            "timestamps": [auth(0, "timestamp"), auth(1, "timestamp"), auth(2, "timestamp")],
            "nonces": [auth(0, "nonce_str"), auth(1, "nonce_str"), auth(2, "nonce_str")],
            "answers": [answer(0), answer(1), answer(2)],
        }),
    );
    let requests = theirs["requests"].as_array().unwrap();
    for i in 0..3 {
        assert_eq!(requests[i]["url"], json!(seen[i].0.url), "request {i}");
    }
    let stored = std::fs::read_to_string(&trade).unwrap();
    assert_eq!(theirs["unpacked"], json!(stored));
    assert_eq!(theirs["sha1"], theirs["trade"]["hash_value"]);
    assert!(
        stored.contains(",`12.34,`0.00,`0,`0,`0.00,`0.00,`,`,`"),
        "{stored}"
    );
}
