//! The providers' daily bills on one machine: an order paid and refunded in
//! part through the simulated Alipay and Douyin, each simulator's bill of
//! that Beijing day fetched through the real bill adapters (the ones a
//! deployed job builds), and read by the reconciliation's statement reader
//! row for row. Before the day has ended the bill is not there yet.

mod common;

use chrono::{DateTime, Duration as Span, Utc};
use common::{world, World};
use qrpay_domain::{Amount, BusinessDate, Clock, OrderId, Provider};
use qrpay_provider::bills::{BillKind, BillOutcome};
use qrpay_provider::gateway::{
    CollectRequest, CreateOutcome, PayMethod, ProviderCode, RefundNo, RefundOutcome, RefundRequest,
};
use qrpay_reconcile::statement::{self, Format};
use qrpay_reconcile::{MovementKind, ProviderStatus, StatementRow};
use serde_json::{json, Value};

const SHOP: &str = "demo-shop";

impl World {
    fn now(&self) -> DateTime<Utc> {
        self.running.stack.clock.now()
    }

    async fn refund_through(&self, provider: Provider, order_id: &str, no: &str, total: &str) {
        let gateway = self.running.stack.gateways.refunds(provider).unwrap();
        let outcome = gateway
            .refund(&RefundRequest {
                refund_no: RefundNo::parse(no).unwrap(),
                order_id: OrderId::parse(order_id).unwrap(),
                amount: Amount::parse("10.00").unwrap(),
                order_total: Amount::parse(total).unwrap(),
                reason: None,
            })
            .await;
        assert!(
            matches!(
                outcome,
                RefundOutcome::InProgress | RefundOutcome::Succeeded { .. }
            ),
            "{outcome:?}"
        );
    }

    async fn sandbox(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let a = self.call(method, path, false, body).await;
        assert_eq!(a.status, 200, "{path}: {}", a.text());
        a.json()
    }

    /// The `provider` bill of `date` into a file, and what came of it.
    async fn fetch(
        &self,
        provider: Provider,
        date: BusinessDate,
        dir: &std::path::Path,
    ) -> (BillOutcome, std::path::PathBuf) {
        let dest = dir.join(format!("{provider}.csv"));
        let gateway = self.running.stack.gateways.bill(provider).expect("bills");
        (gateway.fetch_bill(date, BillKind::Trade, &dest).await, dest)
    }
}

fn rows(format: Format, provider: Provider, date: BusinessDate, file: &[u8]) -> Vec<StatementRow> {
    statement::read(format, provider, date, file)
        .unwrap()
        .map(|row| row.unwrap())
        .collect()
}

/// An Alipay precreate order paid and refunded in part: its order id.
async fn alipay_order(w: &World) -> String {
    let body = json!({"kind": "dynamic", "amount": "300.00", "out_order_no": "BILL-A", "provider": "alipay"});
    let code = w
        .owner_call("POST", &format!("/shops/{SHOP}/qr-codes"), Some(body))
        .await;
    let order_id = code["order_id"].as_str().unwrap().to_owned();
    w.sandbox(
        "POST",
        "/sandbox/alipay/pay",
        Some(json!({"code": code["provider_code"]})),
    )
    .await;
    w.refund_through(Provider::Alipay, &order_id, "rf_bill_a", "300.00")
        .await;
    order_id
}

/// A Douyin cashier order paid and refunded in part: its order id.
async fn douyin_order(w: &World) -> String {
    let body = json!({"kind": "dynamic", "amount": "50.00", "out_order_no": "BILL-D"});
    let code = w
        .owner_call("POST", &format!("/shops/{SHOP}/qr-codes"), Some(body))
        .await;
    let order_id = code["order_id"].as_str().unwrap().to_owned();
    let gateway = w
        .running
        .stack
        .gateways
        .collection(Provider::Douyin)
        .unwrap();
    let created = gateway
        .create(&CollectRequest {
            order_id: OrderId::parse(&order_id).unwrap(),
            amount: Amount::parse("50.00").unwrap(),
            subject: "Latte".into(),
            expires_at: w.now() + Span::minutes(30),
            method: PayMethod::Cashier,
            instalments: None,
            shop_id: None,
        })
        .await;
    let CreateOutcome::Created(ProviderCode::CashierOrder { order_id: id, .. }) = created else {
        panic!("{created:?}");
    };
    w.sandbox("POST", "/sandbox/douyin/pay", Some(json!({"code": id})))
        .await;
    w.refund_through(Provider::Douyin, &order_id, "rf_bill_d", "50.00")
        .await;
    order_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_simulators_bill_comes_through_its_adapter_and_reads_row_for_row() {
    let w = world().await;
    let dir = tempfile::tempdir().unwrap();
    let before = w.now();
    let alipay = alipay_order(&w).await;
    let douyin = douyin_order(&w).await;
    let after = w.now();
    let date = BusinessDate::of(before);
    assert_eq!(
        BusinessDate::of(after),
        date,
        "the test ran across midnight"
    );

    // The day is not over: neither bill is there yet.
    let (outcome, _) = w.fetch(Provider::Alipay, date, dir.path()).await;
    assert_eq!(
        outcome,
        BillOutcome::NotYet {
            detail: "40004 isp.bill_not_exist: 账单不存在".into()
        }
    );
    let (outcome, _) = w.fetch(Provider::Douyin, date, dir.path()).await;
    assert!(matches!(outcome, BillOutcome::NotYet { .. }), "{outcome:?}");

    // The next morning.
    let morning = date.succ().starts_at() + Span::hours(3);
    let advance_s = (morning - w.now()).num_seconds();
    w.sandbox(
        "POST",
        "/sandbox/clock",
        Some(json!({"advance_s": advance_s})),
    )
    .await;

    let alipay_moves = w.sandbox("GET", "/sandbox/alipay/refunds", None).await;
    let alipay_txn = w
        .sandbox("GET", &format!("/sandbox/alipay/orders/{alipay}"), None)
        .await["transaction_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (outcome, file) = w.fetch(Provider::Alipay, date, dir.path()).await;
    assert!(matches!(outcome, BillOutcome::Stored { .. }), "{outcome:?}");
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(
        outcome,
        BillOutcome::Stored {
            bytes: bytes.len() as u64
        }
    );
    let read = rows(Format::Alipay, Provider::Alipay, date, &bytes);
    let refunded_at: DateTime<Utc> =
        DateTime::parse_from_rfc3339(alipay_moves["refunds"][0]["moved_at"].as_str().unwrap())
            .unwrap()
            .to_utc();
    assert_eq!(read.len(), 2, "{read:?}");
    let payer = read[0].payer.clone().unwrap();
    assert!(payer.starts_with("208***") && payer.len() == 9, "{payer}");
    assert!(before - Span::seconds(1) <= read[0].occurred_at && read[0].occurred_at <= after);
    // The order named its shop (`store_id`): the bill's 门店编号.
    let expected = |line, kind, provider_ref: &str, fen, at| StatementRow {
        line,
        provider: Provider::Alipay,
        shop_id: "demo-shop".into(),
        kind,
        reference: alipay.clone(),
        provider_ref: provider_ref.into(),
        period: None,
        amount_fen: fen,
        fee_fen: 0,
        status: ProviderStatus::Success,
        occurred_at: at,
        payer: Some(payer.clone()),
    };
    assert_eq!(
        read,
        [
            expected(
                6,
                MovementKind::Payment,
                &alipay_txn,
                30_000,
                read[0].occurred_at
            ),
            // Bills show times to the second.
            expected(
                7,
                MovementKind::Refund,
                "rf_bill_a",
                1_000,
                DateTime::from_timestamp(refunded_at.timestamp(), 0).unwrap()
            ),
        ]
    );

    let douyin_moves = w.sandbox("GET", "/sandbox/douyin/refunds", None).await;
    let douyin_order_id = w
        .sandbox("GET", &format!("/sandbox/douyin/orders/{douyin}"), None)
        .await["transaction_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (outcome, file) = w.fetch(Provider::Douyin, date, dir.path()).await;
    assert!(matches!(outcome, BillOutcome::Stored { .. }), "{outcome:?}");
    let read = rows(
        Format::Douyin,
        Provider::Douyin,
        date,
        &std::fs::read(&file).unwrap(),
    );
    let refund = &douyin_moves["refunds"][0];
    let refunded_at: DateTime<Utc> =
        DateTime::parse_from_rfc3339(refund["moved_at"].as_str().unwrap())
            .unwrap()
            .to_utc();
    assert_eq!(read.len(), 2, "{read:?}");
    assert!(before - Span::seconds(1) <= read[0].occurred_at && read[0].occurred_at <= after);
    let expected = |line, kind, provider_ref: &str, fen, at| StatementRow {
        line,
        provider: Provider::Douyin,
        shop_id: "70012345".into(),
        kind,
        reference: douyin.clone(),
        provider_ref: provider_ref.into(),
        period: None,
        amount_fen: fen,
        fee_fen: 0,
        status: ProviderStatus::Success,
        occurred_at: at,
        payer: None,
    };
    assert_eq!(
        read,
        [
            expected(
                2,
                MovementKind::Payment,
                &douyin_order_id,
                5_000,
                read[0].occurred_at
            ),
            expected(
                4,
                MovementKind::Refund,
                refund["provider_ref"].as_str().unwrap(),
                1_000,
                DateTime::from_timestamp(refunded_at.timestamp(), 0).unwrap()
            ),
        ]
    );

    // A day without business: Alipay's empty file, Douyin's two headers.
    let quiet = date.succ();
    w.sandbox("POST", "/sandbox/clock", Some(json!({"advance_s": 86_400})))
        .await;
    for (provider, format) in [
        (Provider::Alipay, Format::Alipay),
        (Provider::Douyin, Format::Douyin),
    ] {
        let (outcome, file) = w.fetch(provider, quiet, dir.path()).await;
        assert!(matches!(outcome, BillOutcome::Stored { .. }), "{outcome:?}");
        assert_eq!(
            rows(format, provider, quiet, &std::fs::read(&file).unwrap()),
            []
        );
    }
}

/// The simulators' refusals: Douyin checks our `sign`, the merchant and
/// the dates; Alipay serves no file of a day that has not ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulators_refuse_what_their_providers_refuse() {
    let w = world().await;
    let env = w.running.stack.simulators.environment().clone();
    let salt = qrpay_domain::Secret::new(env["DOUYIN_SALT"].clone());
    let ask = |start: &str, end: &str, seller: &str, bill_type: &str, good_sign: bool| {
        let fields = [
            ("start_date", start),
            ("end_date", end),
            ("seller", seller),
            ("bill_type", bill_type),
        ];
        let sign = if good_sign {
            qrpay_provider::douyin::gateway::ecpay_sign(fields.iter().copied(), &salt)
        } else {
            "0".repeat(32)
        };
        let query: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .append_pair("app_id", &env["DOUYIN_APP_ID"])
            .append_pair("sign", &sign)
            .finish();
        format!("/sim/douyin/api/apps/bill?{query}")
    };
    let cases = [
        (
            ask("20260101", "20260101", "70012345", "payment", false),
            2008,
            "签名校验失败",
        ),
        (
            ask("20260101", "20260101", "70099999", "payment", true),
            1,
            "seller 无效",
        ),
        (
            ask("20260102", "20260101", "70012345", "payment", true),
            1,
            "end_date is before start_date",
        ),
        (
            ask("2026-01-01", "20260101", "70012345", "payment", true),
            1,
            "日期格式错误",
        ),
        (
            ask("20260101", "20260101", "70012345", "settle", true),
            1,
            "bill_type 无效",
        ),
        (
            ask("20990101", "20990101", "70012345", "payment", true),
            -1,
            "账单未生成",
        ),
    ];
    for (path, err_no, tips) in cases {
        let answer = w.sandbox("GET", &path, None).await;
        assert_eq!(
            answer,
            json!({"err_no": err_no, "err_tips": tips}),
            "{path}"
        );
    }
    let today = BusinessDate::of(w.now()).naive().format("%Y%m%d");
    let file = format!("/sim/alipay/bills/20880211096256330156_{today}.csv.zip");
    let answer = w.call("GET", &file, false, None).await;
    assert_eq!(answer.status, 404, "{}", answer.text());
}
