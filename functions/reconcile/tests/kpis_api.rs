//! `GET /shops/{shop_id}/kpis?month=` through the function's handler, on
//! both stores: a month of stored summaries (two days with KPI inputs, one
//! written before KPIs existed, the rest never reconciled) answers KPIs
//! from the summed inputs — never averaged ratios — with the receivables
//! of the last reconciled day, and each day in the series.

use std::sync::Arc;

use qrpay_domain::{
    Amount, BusinessDate, CollectionEvent, CollectionEventKind, KpiInputs, Order, OrderId,
    OverduePosition, Provider, ProviderRef, ReconciliationSummary, Tally, TestClock,
};
use qrpay_reconcile::objects::LocalDir;
use qrpay_reconcile::{Reconciler, StoreLedger};
use qrpay_store::alerts::MemoryAlerts;
use qrpay_store::Store;
use qrpay_tests::collection_contract::{apply, deduction, issued_order, payment};
use qrpay_tests::events::{Answer, Event};
use qrpay_tests::world::{beijing, money, World};
use reconcile::{handle, App, InProcessRuns};
use serde_json::{json, Value};

const KPIS: &str = "reconcile/get-kpis.json";

struct Setup {
    app: App,
    store: Arc<dyn Store>,
    world: World,
    _dir: tempfile::TempDir,
}

async fn setup(store: Arc<dyn Store>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    // 2026-11-21 10:30 Beijing: November has begun, December has not.
    let clock = Arc::new(TestClock::at(beijing("2026-11-21T10:30:00")));
    let objects = Arc::new(LocalDir::new(dir.path().join("objects")));
    let reconciler = Arc::new(Reconciler {
        ledger: Arc::new(StoreLedger(store.clone())),
        reconciliations: store.clone(),
        kpi_reads: store.clone(),
        claims: store.clone(),
        objects: objects.clone(),
        alerts: Arc::new(MemoryAlerts::new()),
        work_dir: dir.path().join("work"),
        partitions: 2,
        payout_provider: Provider::Sandbox,
        progress: None,
    });
    let runs = Arc::new(InProcessRuns::new(reconciler.clone(), clock.clone()));
    let world = World::with_shop(store.clone(), "shop-1", "15000.00", "0.00").await;
    Setup {
        app: App {
            reconciler,
            reconciliations: store.clone(),
            shops: store.clone(),
            receivables: store.clone(),
            resolutions: store.clone(),
            objects,
            requests: runs,
            bills: None,
            clock,
        },
        store,
        world,
        _dir: dir,
    }
}

/// A stored summary of shop-1's `date`, with `inputs` as its KPI inputs
/// (none: written before KPIs existed).
fn summary(date: &str, inputs: Option<Value>) -> ReconciliationSummary {
    let zero = json!({"count": 0, "total": "0.00"});
    let mut summary = json!({
        "shop_id": "shop-1", "date": date, "run_id": format!("{date}-r"),
        "generated_at": "2026-11-21T02:30:00Z", "rows": 0, "outcomes": {},
        "discrepancies": 0, "payments": zero, "refunds": zero, "fees": zero,
        "deductions": zero, "payouts": zero, "deductions_failed": 0,
        "monthly_pay_orders": 0, "average_order_value": "0.00",
        "refund_ratio": "0.0000", "deduction_failure_rate": "0.0000",
        "settlement_expected": "0.00", "settlement_received": "0.00", "gaps": [],
        "report_csv": "r.csv", "report_json": "r.json"
    });
    if let Some(inputs) = inputs {
        summary["kpi_inputs"] = inputs;
    }
    serde_json::from_value(summary).unwrap()
}

fn tally(count: u64, total: &str) -> Value {
    json!({"count": count, "total": total})
}

/// 11-02: 1 order paid (100.00, with a plan), refunded in full; 4 plan
/// checkouts, 2 orders opened, 1 closed unpaid; a payout of 10.00; 10
/// periods due (1,000.00), 5 overdue (500.00).
fn second() -> Value {
    json!({
        "payments": tally(1, "100.00"), "monthly_pay_orders": 1,
        "plan_checkouts": 4, "orders_created": 2, "orders_closed_unpaid": 1,
        "refunds": tally(1, "100.00"), "payouts": tally(1, "10.00"),
        "receivables": {"as_of": "2026-11-02", "due": tally(10, "1000.00"),
            "overdue": tally(5, "500.00")}
    })
}

/// 11-05: 3 orders paid (300.00), nothing refunded; 3 orders opened; two
/// payouts of 20.00; 8 periods due (800.00), 1 overdue (100.00).
fn fifth() -> Value {
    json!({
        "payments": tally(3, "300.00"), "monthly_pay_orders": 0,
        "plan_checkouts": 0, "orders_created": 3, "orders_closed_unpaid": 0,
        "refunds": tally(0, "0.00"), "payouts": tally(2, "20.00"),
        "receivables": {"as_of": "2026-11-05", "due": tally(8, "800.00"),
            "overdue": tally(1, "100.00")}
    })
}

async fn kpis(s: &Setup, month: Option<&str>) -> Answer {
    let query: Vec<(&str, &str)> = month.map(|m| ("month", m)).into_iter().collect();
    let event = Event::fixture(KPIS).query(&query);
    Answer::from(handle(&s.app, event.request()).await)
}

async fn the_month_is_its_summed_days(store: Arc<dyn Store>) {
    let s = setup(store).await;
    for (date, inputs) in [
        ("2026-11-01", None),
        ("2026-11-02", Some(second())),
        ("2026-11-05", Some(fifth())),
        ("2026-10-31", Some(second())),
    ] {
        s.store
            .put_reconciliation(&summary(date, inputs))
            .await
            .unwrap();
    }
    let a = kpis(&s, Some("2026-11")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["month"], json!("2026-11"));
    assert_eq!(a.body["days_reconciled"], json!(2));
    assert_eq!(
        a.body["inputs"],
        json!({
            "payments": tally(4, "400.00"), "monthly_pay_orders": 1,
            "plan_checkouts": 4, "orders_created": 5, "orders_closed_unpaid": 1,
            "refunds": tally(1, "100.00"), "payouts": tally(3, "30.00"),
            "receivables": {"as_of": "2026-11-05", "due": tally(8, "800.00"),
                "overdue": tally(1, "100.00")}
        })
    );
    // Refunds 100.00 of 400.00 paid: 0.2500 (the days' ratios, 1 and 0,
    // would average 0.5); the receivables are the 5th's.
    assert_eq!(
        a.body["kpis"],
        json!({
            "monthly_pay_orders": 1, "monthly_pay_share": "0.2500",
            "average_order_value": "100.00", "monthly_pay_conversion": "0.2500",
            "overdue_rate_amount": "0.1250", "overdue_rate_count": "0.1250",
            "cancellation_ratio": "0.2000", "refund_ratio_count": "0.2500",
            "refund_ratio_amount": "0.2500", "payouts_total": "30.00"
        })
    );
    // Every day begun (1st to 21st); the 1st's summary has no KPI inputs.
    let days = a.body["days"].as_array().unwrap();
    assert_eq!(days.len(), 21);
    let status: Vec<(&str, &str)> = days
        .iter()
        .map(|d| (d["date"].as_str().unwrap(), d["status"].as_str().unwrap()))
        .filter(|(_, status)| *status == "RECONCILED")
        .collect();
    assert_eq!(
        status,
        [("2026-11-02", "RECONCILED"), ("2026-11-05", "RECONCILED")]
    );
    assert_eq!(days[1]["inputs"], second());
    assert_eq!(days[1]["kpis"]["refund_ratio_amount"], json!("1.0000"));
    assert_eq!(days[1]["kpis"]["overdue_rate_amount"], json!("0.5000"));
    assert_eq!(days[0], json!({"date": "2026-11-01", "status": "MISSING"}));
    let missing = a.body["missing_days"].as_array().unwrap();
    assert_eq!(missing.len(), 19);
    assert_eq!(
        (&missing[0], &missing[18]),
        (&json!("2026-11-01"), &json!("2026-11-21"))
    );

    // A browser gets the month as a page, the same figures drawn.
    let chrome = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let request = Event::fixture(KPIS)
        .query(&[("month", "2026-11")])
        .header("accept", chrome)
        .request();
    let page = handle(&s.app, request).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = String::from_utf8(page.body().to_vec()).unwrap();
    assert!(
        html.contains("<title>月度指标 shop-1 2026-11</title>"),
        "{html}"
    );
    // 400.00 over 4 payments; 1 monthly-pay order, a 25.00% share.
    assert!(
        html.contains("<span class=\"v\">400.00 / 4</span>"),
        "{html}"
    );
    assert!(
        html.contains("<span class=\"v\">1 (25.00%)</span>"),
        "{html}"
    );
    // Two reconciled days: two bars in the payments chart.
    let payments = &html[html.find("<svg class=\"chart payments\"").unwrap()..];
    let payments = &payments[..payments.find("</svg>").unwrap()];
    assert_eq!(payments.matches("<rect class=\"bar\"").count(), 2);
}

async fn a_month_without_summaries_is_all_missing_and_zero(store: Arc<dyn Store>) {
    let s = setup(store).await;
    let a = kpis(&s, Some("2026-09")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["days_reconciled"], json!(0));
    assert_eq!(a.body["missing_days"].as_array().unwrap().len(), 30);
    assert_eq!(a.body["kpis"]["average_order_value"], json!("0.00"));
    assert_eq!(a.body["kpis"]["cancellation_ratio"], json!("0.0000"));
    assert_eq!(a.body["inputs"]["receivables"]["as_of"], Value::Null);
}

async fn bad_and_future_months_are_refused(store: Arc<dyn Store>) {
    let s = setup(store).await;
    for month in [
        None,
        Some(""),
        Some("2026-13"),
        Some("2026-1"),
        Some("2026-12"),
    ] {
        let a = kpis(&s, month).await;
        assert_eq!(a.status, 400, "{month:?}: {}", a.body);
        assert_eq!(
            (a.code(), a.body["error"]["field"].as_str()),
            ("INVALID_REQUEST", Some("month")),
            "{month:?}"
        );
    }
    let other = Event::fixture(KPIS).query(&[("month", "2026-11")]).claims(
        "shop-2-owner",
        Some("shop-2"),
        "owner",
    );
    let a = Answer::from(handle(&s.app, other.request()).await);
    assert_eq!((a.status, a.code()), (403, "FORBIDDEN"));
    let unknown = Event::fixture(KPIS)
        .path("/shops/shop-9/kpis")
        .query(&[("month", "2026-11")])
        .claims("ops", None, "admin");
    let a = Answer::from(handle(&s.app, unknown.request()).await);
    assert_eq!((a.status, a.code()), (404, "SHOP_NOT_FOUND"));
    let staff = Event::fixture(KPIS).query(&[("month", "2026-11")]).claims(
        "shop-1-staff",
        Some("shop-1"),
        "staff",
    );
    let a = Answer::from(handle(&s.app, staff.request()).await);
    assert_eq!(a.status, 200, "{}", a.body);
    let post = Event::fixture(KPIS)
        .method("POST")
        .query(&[("month", "2026-11")]);
    let a = Answer::from(handle(&s.app, post.request()).await);
    assert_eq!((a.status, a.code()), (405, "METHOD_NOT_ALLOWED"));
}

/// A 3-period order of 300.00 paid on 2026-03-02 (due 04-01, 05-01,
/// 05-31), with `deducted` periods collected.
async fn monthly_pay(w: &World, no: &str, deducted: &[u8]) {
    let (_, order) = issued_order(w, no, "300.00", Some(3)).await;
    let id = order.order_id;
    let (notice, txn) = (format!("n-{no}"), format!("t-{no}"));
    apply(w.store.as_ref(), &payment(&id, &notice, &txn, "300.00")).await;
    for period in deducted {
        let notice = format!("d-{no}-{period}");
        apply(
            w.store.as_ref(),
            &deduction(&id, &notice, *period, "100.00"),
        )
        .await;
    }
}

/// Order `no` of `amount` opened at `at`.
async fn opened_at(
    w: &World,
    no: &str,
    amount: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> OrderId {
    let id = OrderId::parse(no).unwrap();
    let order = Order::created(
        id.clone(),
        w.shop.clone(),
        Amount::parse(amount).unwrap(),
        at,
    );
    assert!(w.store.insert_order(&order).await.unwrap());
    id
}

/// Order `no` opened and paid (`amount`, at WeChat Pay) at `at`.
async fn paid_at(w: &World, no: &str, amount: &str, at: chrono::DateTime<chrono::Utc>) -> OrderId {
    let id = opened_at(w, no, amount, at).await;
    let event = CollectionEvent {
        provider: Provider::Wechatpay,
        notification_id: ProviderRef::parse(&format!("n-{no}")).unwrap(),
        order_id: id.clone(),
        kind: CollectionEventKind::PaymentSucceeded {
            provider_txn_id: ProviderRef::parse(&format!("t-{no}")).unwrap(),
            amount: Amount::parse(amount).unwrap(),
            payer: None,
        },
        occurred_at: at,
    };
    w.store.apply_collection(&event, at).await.unwrap();
    id
}

/// One order opened and paid (80.00) on 2026-05-05, and one checkout
/// shown with a plan that day.
async fn a_day_in_may(w: &World) {
    let at = beijing("2026-05-05T15:00:00");
    let id = paid_at(w, "ord_may", "80.00", at).await;
    let day = BusinessDate::of(at);
    let shown = w.store.count_plan_checkout(&w.shop, &id, day, at).await;
    assert!(shown.unwrap());
}

async fn the_nightly_summary_carries_the_days_kpi_inputs(store: Arc<dyn Store>) {
    let s = setup(store).await;
    monthly_pay(&s.world, "M-1", &[1]).await;
    monthly_pay(&s.world, "M-2", &[]).await;
    a_day_in_may(&s.world).await;
    let date = BusinessDate::parse("2026-05-05").unwrap();
    let now = beijing("2026-05-06T10:30:00");
    s.app.reconciler.run(date, now).await.unwrap();
    let shop = s.world.shop.clone();
    let summary = s.store.get_reconciliation(&shop, date).await.unwrap();
    let summary = summary.expect("the day's summary");
    let tally = |count, total| Tally {
        count,
        total: money(total),
    };
    // As of 05-05 (3 grace days): M-1's period 2 (due 05-01) is overdue,
    // its period 1 collected; M-2's periods 1 and 2 are overdue; both
    // orders' period 3 (due 05-31) is not due yet.
    let expected = KpiInputs {
        payments: tally(1, "80.00"),
        plan_checkouts: 1,
        orders_created: 1,
        receivables: OverduePosition {
            as_of: Some(date),
            due: tally(4, "400.00"),
            overdue: tally(3, "300.00"),
        },
        ..KpiInputs::default()
    };
    assert_eq!(summary.kpi_inputs, Some(expected));
    let kpis = summary.kpis.expect("the day's KPIs");
    assert_eq!(kpis, expected.kpis());
    assert_eq!(
        (
            kpis.overdue_rate_amount.to_string(),
            kpis.overdue_rate_count.to_string(),
            kpis.monthly_pay_conversion.to_string(),
            kpis.average_order_value.to_string(),
        ),
        (
            "0.7500".into(),
            "0.7500".into(),
            "0.0000".into(),
            "80.00".into()
        )
    );
}

/// A checkout shown with a plan and an order opened on `at`, never paid.
async fn an_abandoned_checkout(w: &World, no: &str, at: &str) {
    let at = beijing(at);
    let id = opened_at(w, no, "50.00", at).await;
    let shown = w
        .store
        .count_plan_checkout(&w.shop, &id, BusinessDate::of(at), at);
    assert!(shown.await.unwrap());
}

/// A day whose run has finished without a summary for the shop (nothing of
/// it moved) still counts its abandoned checkouts and overdue periods; a
/// day with activity that was never run stays missing.
async fn a_day_without_movements_still_counts(store: Arc<dyn Store>) {
    let s = setup(store).await;
    monthly_pay(&s.world, "M-1", &[1]).await;
    monthly_pay(&s.world, "M-2", &[]).await;
    // 06-04 has a payment, 06-05 only an abandoned checkout, 06-06 one
    // too but is never reconciled.
    paid_at(
        &s.world,
        "ord_june",
        "20.00",
        beijing("2026-06-04T12:00:00"),
    )
    .await;
    an_abandoned_checkout(&s.world, "ord_quiet", "2026-06-05T09:00:00").await;
    an_abandoned_checkout(&s.world, "ord_late", "2026-06-06T09:00:00").await;
    for date in ["2026-06-04", "2026-06-05"] {
        let date = BusinessDate::parse(date).unwrap();
        let next_morning = beijing(&format!("{}T10:30:00", date.succ()));
        s.app.reconciler.run(date, next_morning).await.unwrap();
    }
    let fifth = BusinessDate::parse("2026-06-05").unwrap();
    let none = s
        .store
        .get_reconciliation(&s.world.shop, fifth)
        .await
        .unwrap();
    assert!(none.is_none(), "nothing moved on 06-05: no summary");

    let a = kpis(&s, Some("2026-06")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let days = a.body["days"].as_array().unwrap();
    assert_eq!(days.len(), 30);
    let status: Vec<(&str, &str)> = days
        .iter()
        .map(|d| (d["date"].as_str().unwrap(), d["status"].as_str().unwrap()))
        .filter(|(_, status)| *status != "MISSING")
        .collect();
    assert_eq!(
        status,
        [("2026-06-04", "RECONCILED"), ("2026-06-05", "NO_MOVEMENTS")]
    );
    assert_eq!(a.body["days_reconciled"], json!(2));
    let missing = a.body["missing_days"].as_array().unwrap();
    assert_eq!(missing.len(), 28);
    assert!(missing.contains(&json!("2026-06-06")));
    // As of 06-05 (3 grace days) every period of both orders is due (six,
    // 600.00); all but M-1's first are overdue (five, 500.00).
    let zero = tally(0, "0.00");
    assert_eq!(
        days[4]["inputs"],
        json!({
            "payments": zero, "monthly_pay_orders": 0,
            "plan_checkouts": 1, "orders_created": 1, "orders_closed_unpaid": 0,
            "refunds": zero, "payouts": zero,
            "receivables": {"as_of": "2026-06-05", "due": tally(6, "600.00"),
                "overdue": tally(5, "500.00")}
        })
    );
    assert_eq!(days[4]["kpis"]["overdue_rate_count"], json!("0.8333"));
    // The month: 06-04's payment and order, 06-05's checkout and order;
    // the receivables are the last counted day's (06-05).
    assert_eq!(a.body["inputs"]["payments"], tally(1, "20.00"));
    assert_eq!(a.body["inputs"]["orders_created"], json!(2));
    assert_eq!(a.body["inputs"]["plan_checkouts"], json!(1));
    assert_eq!(
        a.body["inputs"]["receivables"],
        days[4]["inputs"]["receivables"]
    );
    assert_eq!(a.body["kpis"]["monthly_pay_conversion"], json!("0.0000"));
}

macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(qrpay_tests::memory_port().await).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(qrpay_tests::dynamo_port().await).await;
                }
            )*
        }
    };
}

on_both_stores!(
    the_nightly_summary_carries_the_days_kpi_inputs,
    a_day_without_movements_still_counts,
    the_month_is_its_summed_days,
    a_month_without_summaries_is_all_missing_and_zero,
    bad_and_future_months_are_refused,
);
