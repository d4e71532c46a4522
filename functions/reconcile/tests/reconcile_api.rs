//! The `reconcile` function end to end, on both stores: a day of sandbox
//! collection and payouts goes through the real store paths (callbacks
//! applied, a payout reserved, sent and settled), the sandbox writes its
//! bill from its own records, an admin asks for the run over HTTP, and the
//! shop reads its summary and report rows — plus every refusal of the two
//! routes, and the schedule, SQS and direct triggers.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use qrpay_domain::{
    Amount, BusinessDate, Clock, CollectionEvent, CollectionEventKind, Decision, OrderStatus,
    Payer, Provider, ProviderRef, TestClock,
};
use qrpay_provider::{
    Payee, SandboxCharge, SandboxChargeKind, SandboxProvider, TransferOutcome, TransferProvider,
    TransferRequest,
};
use qrpay_reconcile::bank::{batch_id, BankReceipt, ReceiptWriter};
use qrpay_reconcile::objects::{receipts_key, statement_key, LocalDir, ObjectStore};
use qrpay_reconcile::requests::RunRequests;
use qrpay_reconcile::{sandbox_bill, Reconciler, StoreLedger};
use qrpay_store::alerts::MemoryAlerts;
use qrpay_store::Store;
use qrpay_tests::collection_contract::{apply, at, deduction, issued_order, payment};
use qrpay_tests::events::{Answer, Event};
use qrpay_tests::world::{beijing, money, World};
use reconcile::{dispatch, handle, App, InProcessRuns};
use serde_json::{json, Value};

const RUN: &str = "reconcile/run-reconciliation.json";
const GET: &str = "reconcile/get-reconciliation.json";
const RESOLVE: &str = "reconcile/put-resolution.json";

fn day() -> BusinessDate {
    BusinessDate::parse("2026-11-20").unwrap()
}

fn on_day(hhmm: &str) -> DateTime<Utc> {
    beijing(&format!("2026-11-20T{hhmm}:00"))
}

struct Setup {
    app: App,
    runs: Arc<InProcessRuns>,
    alerts: Arc<MemoryAlerts>,
    objects: Arc<LocalDir>,
    sandbox: Arc<SandboxProvider>,
    clock: Arc<TestClock>,
    world: World,
    _dir: tempfile::TempDir,
}

async fn setup(store: Arc<dyn Store>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    // The morning after: the day to reconcile is over.
    let clock = Arc::new(TestClock::at(beijing("2026-11-21T10:30:00")));
    let objects = Arc::new(LocalDir::new(dir.path().join("objects")));
    let alerts = Arc::new(MemoryAlerts::new());
    let reconciler = Arc::new(Reconciler {
        ledger: Arc::new(StoreLedger(store.clone())),
        reconciliations: store.clone(),
        kpi_reads: store.clone(),
        claims: store.clone(),
        objects: objects.clone(),
        alerts: alerts.clone(),
        work_dir: dir.path().join("work"),
        partitions: 8,
        payout_provider: Provider::Sandbox,
        progress: None,
    });
    let runs = Arc::new(InProcessRuns::new(reconciler.clone(), clock.clone()));
    let world = World::with_shop(store.clone(), "shop-1", "15000.00", "0.00").await;
    World::with_shop(store.clone(), "shop-2", "15000.00", "0.00").await;
    Setup {
        app: App {
            reconciler,
            reconciliations: store.clone(),
            shops: store.clone(),
            receivables: store.clone(),
            resolutions: store,
            objects: objects.clone(),
            requests: runs.clone(),
            bills: None,
            clock: clock.clone(),
        },
        runs,
        alerts,
        objects,
        sandbox: Arc::new(SandboxProvider::new(clock.clone())),
        clock,
        world,
        _dir: dir,
    }
}

async fn send(s: &Setup, event: Event) -> Answer {
    Answer::from(handle(&s.app, event.request()).await)
}

/// A buyer pays `order` through the sandbox: the sandbox records the charge
/// and its notice is applied as the callback would.
async fn pay(s: &Setup, order: &str, amount: &str, txn: &str, at: &str) {
    let order_id = s.world.order_in(order, amount, OrderStatus::Created).await;
    let payer = Payer {
        name: Some("张三".into()),
        phone: Some("13812341234".into()),
        account: None,
    };
    s.sandbox.record_charge(SandboxCharge {
        shop_id: s.world.shop.clone(),
        kind: SandboxChargeKind::Payment,
        order_id: order_id.clone(),
        provider_ref: txn.to_owned(),
        period: None,
        amount: Amount::parse(amount).unwrap(),
        fee: money("0.00"),
        succeeded: true,
        payer_masked: Some(payer.masked()),
        at: on_day(at),
    });
    let event = CollectionEvent {
        provider: Provider::Sandbox,
        notification_id: ProviderRef::parse(&format!("n-{txn}")).unwrap(),
        order_id,
        kind: CollectionEventKind::PaymentSucceeded {
            provider_txn_id: ProviderRef::parse(txn).unwrap(),
            amount: Amount::parse(amount).unwrap(),
            payer: Some(payer),
        },
        occurred_at: on_day(at),
    };
    let decision = s
        .world
        .store
        .apply_collection(&event, on_day(at))
        .await
        .unwrap();
    assert!(matches!(decision, Decision::Apply(_)), "{decision:?}");
}

/// A payout of `amount` on `order`, reserved, sent to the sandbox and settled.
async fn payout(s: &Setup, order: &str, amount: &str, at: &str) {
    let order_id = qrpay_domain::OrderId::parse(order).unwrap();
    let request = s.world.request(
        &s.world.owner,
        &order_id,
        amount,
        &format!("k-{order}"),
        on_day(at),
    );
    let payout = s
        .world
        .store
        .reserve_payout(&request)
        .await
        .unwrap()
        .payout()
        .clone();
    s.world
        .store
        .start_payout(&payout.shop_id, &payout.payout_id, on_day(at))
        .await
        .unwrap();
    let outcome = s
        .sandbox
        .transfer(&TransferRequest {
            out_bill_no: payout.payout_id.clone(),
            amount: payout.amount,
            payee: Payee {
                shop_id: payout.shop_id.clone(),
                order_id: payout.order_id.clone(),
                provider_txn_id: None,
                account: None,
            },
        })
        .await;
    let TransferOutcome::Succeeded { provider_ref } = outcome else {
        panic!("the sandbox without faults pays: {outcome:?}");
    };
    s.world
        .store
        .succeed_payout(
            &payout.shop_id,
            &payout.payout_id,
            &provider_ref,
            on_day(at),
        )
        .await
        .unwrap();
}

/// The day: three charges and a payout in shop-1, plus a sandbox charge we
/// never heard about (its callback was lost); the sandbox's bill and the
/// bank's receipt for shop-1.
async fn a_day(s: &Setup) {
    s.clock.set(on_day("09:00"));
    pay(s, "ord-1", "120.00", "sbx-t1", "09:00").await;
    pay(s, "ord-2", "35.50", "sbx-t2", "11:15").await;
    pay(s, "ord-3", "8.00", "sbx-t3", "14:40").await;
    payout(s, "ord-1", "5.00", "15:00").await;
    s.sandbox.record_charge(SandboxCharge {
        shop_id: s.world.shop.clone(),
        kind: SandboxChargeKind::Payment,
        order_id: qrpay_domain::OrderId::parse("ord-lost").unwrap(),
        provider_ref: "sbx-t9".into(),
        period: None,
        amount: Amount::parse("19.90").unwrap(),
        fee: money("0.00"),
        succeeded: true,
        payer_masked: None,
        at: on_day("16:00"),
    });
    s.clock.set(beijing("2026-11-21T10:30:00"));
    let bill = sandbox_bill::write(&s.sandbox, day(), Vec::new()).unwrap();
    s.objects
        .put(&statement_key(day(), Provider::Sandbox), bill, "text/csv")
        .await
        .unwrap();
    // 120.00 + 35.50 + 8.00 + 19.90 − 5.00
    let mut bank = ReceiptWriter::new(day(), Vec::new()).unwrap();
    bank.receipt(&BankReceipt {
        line: 0,
        receipt_id: "BR1".into(),
        batch_id: batch_id(Provider::Sandbox, "shop-1", day()),
        provider: Provider::Sandbox,
        shop_id: "shop-1".into(),
        amount_fen: 17_840,
        value_date: day().succ().naive(),
    })
    .unwrap();
    s.objects
        .put(&receipts_key(day()), bank.finish().unwrap(), "text/csv")
        .await
        .unwrap();
}

async fn a_sandbox_day_reconciles_and_the_shop_reads_its_report(store: Arc<dyn Store>) {
    let s = setup(store).await;
    a_day(&s).await;

    let a = send(&s, Event::fixture(RUN)).await;
    assert_eq!(a.status, 202, "{:?}", a.body);
    assert_eq!(a.body, json!({"date": "2026-11-20", "status": "QUEUED"}));
    let reports = s.runs.wait().await;
    assert_eq!(reports.len(), 1);
    let run = reports[0].as_ref().unwrap();
    assert_eq!(
        (run.ledger_rows, run.statement_rows, run.report_rows),
        (4, 5, 6)
    );
    assert_eq!(run.discrepancies, 1);
    assert!(run.gaps.is_empty(), "{:?}", run.gaps);

    let a = send(&s, Event::fixture(GET)).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let summary = &a.body["summary"];
    assert_eq!(summary["rows"], 6);
    assert_eq!(summary["outcomes"]["MATCHED"], 5);
    assert_eq!(summary["outcomes"]["MISSING_IN_LEDGER"], 1);
    assert_eq!(summary["payments"], json!({"count": 3, "total": "163.50"}));
    assert_eq!(summary["payouts"], json!({"count": 1, "total": "5.00"}));
    // Our three payments by the Beijing hour they were paid in, and by provider.
    let hours: Vec<(usize, &Value)> = summary["payments_by_hour"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(_, t)| t["count"] != 0)
        .collect();
    assert_eq!(
        hours,
        [
            (9, &json!({"count": 1, "total": "120.00"})),
            (11, &json!({"count": 1, "total": "35.50"})),
            (14, &json!({"count": 1, "total": "8.00"})),
        ]
    );
    assert_eq!(summary["payments_by_hour"].as_array().unwrap().len(), 24);
    assert_eq!(
        summary["payments_by_provider"],
        json!({"sandbox": {"count": 3, "total": "163.50"}})
    );
    assert_eq!(summary["average_order_value"], "54.50");
    assert_eq!(summary["settlement_expected"], "178.40");
    assert_eq!(summary["settlement_received"], "178.40");
    assert_eq!(summary["report_csv"], "reports/2026-11-20/shop-1.csv");
    let rows = a.body["rows"].as_array().unwrap();
    let outline: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["order_no"].as_str().unwrap(),
                r["kind"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    let payout_row = rows.iter().find(|r| r["kind"] == "PAYOUT").unwrap();
    let payout_id = payout_row["order_no"].as_str().unwrap();
    assert_eq!(
        outline,
        [
            ("ord-1", "PAYMENT", "MATCHED"),
            ("ord-2", "PAYMENT", "MATCHED"),
            ("ord-3", "PAYMENT", "MATCHED"),
            (payout_id, "PAYOUT", "MATCHED"),
            ("ord-lost", "PAYMENT", "MISSING_IN_LEDGER"),
            ("sandbox-shop-1-20261120", "SETTLEMENT", "MATCHED"),
        ]
    );
    assert_eq!(rows[0]["customer"], "张* 138****1234");
    assert_eq!(rows[0]["reconciled_amount"], "120.00");
    assert_eq!(a.body["next_cursor"], Value::Null);
    // The one discrepancy alerted once.
    let codes: Vec<String> = s.alerts.raised().into_iter().map(|a| a.code).collect();
    assert_eq!(codes, ["RECON_MISSING_IN_LEDGER"]);

    // Pages of rows.
    let a = send(&s, Event::fixture(GET).query(&[("limit", "4")])).await;
    assert_eq!(a.body["rows"].as_array().unwrap().len(), 4);
    assert_eq!(a.body["next_cursor"], "4");
    let a = send(
        &s,
        Event::fixture(GET).query(&[("limit", "4"), ("cursor", "4")]),
    )
    .await;
    assert_eq!(a.body["rows"][0]["order_no"], "ord-lost");
    assert_eq!(a.body["rows"].as_array().unwrap().len(), 2);
    assert_eq!(a.body["next_cursor"], Value::Null);

    // Staff of the shop may read it; a re-run replaces it and alerts nothing new.
    let staff = Event::fixture(GET).claims("shop-1-staff", Some("shop-1"), "staff");
    assert_eq!(send(&s, staff).await.status, 200);
    assert_eq!(send(&s, Event::fixture(RUN)).await.status, 202);
    let again = s.runs.wait().await;
    assert_eq!(
        again[0].as_ref().unwrap().alerts_raised,
        Vec::<String>::new()
    );
    assert_eq!(s.alerts.raised().len(), 1);
    let a = send(&s, Event::fixture(GET)).await;
    assert_eq!(a.body["summary"]["rows"], 6);
    assert_eq!(
        a.body["summary"]["run_id"],
        json!(again[0].as_ref().unwrap().run_id)
    );
}

async fn every_refusal_has_its_code_and_changes_nothing(store: Arc<dyn Store>) {
    let s = setup(store).await;
    let cases: Vec<(Event, u16, &str)> = vec![
        (Event::fixture(RUN).no_authorizer(), 401, "UNAUTHENTICATED"),
        (
            Event::fixture(RUN).claims("shop-1-owner", Some("shop-1"), "owner"),
            403,
            "FORBIDDEN",
        ),
        (
            Event::fixture(RUN).path("/admin/reconciliations/2026-13-01"),
            400,
            "INVALID_REQUEST",
        ),
        (
            Event::fixture(RUN).path("/admin/reconciliations/2026-11-22"),
            422,
            "DATE_IN_FUTURE",
        ),
        (Event::fixture(RUN).method("GET"), 405, "METHOD_NOT_ALLOWED"),
        (Event::fixture(GET).no_authorizer(), 401, "UNAUTHENTICATED"),
        (
            Event::fixture(GET).claims("shop-2-owner", Some("shop-2"), "owner"),
            403,
            "FORBIDDEN",
        ),
        (
            Event::fixture(GET).claims("platform-admin", None, "admin"),
            403,
            "FORBIDDEN",
        ),
        (
            Event::fixture(GET).path("/shops/shop-1/reconciliations/20261120"),
            400,
            "INVALID_REQUEST",
        ),
        (Event::fixture(GET), 404, "RECONCILIATION_NOT_FOUND"),
        (
            Event::fixture(GET).query(&[("limit", "0")]),
            400,
            "INVALID_REQUEST",
        ),
        (
            Event::fixture(GET).query(&[("limit", "1001")]),
            400,
            "INVALID_REQUEST",
        ),
        (
            Event::fixture(GET).query(&[("cursor", "-1")]),
            400,
            "INVALID_REQUEST",
        ),
        (
            Event::fixture(GET).method("DELETE"),
            405,
            "METHOD_NOT_ALLOWED",
        ),
        (
            Event::fixture(GET).path("/shops/shop-1/reconciliation"),
            404,
            "ROUTE_NOT_FOUND",
        ),
    ];
    for (event, status, code) in cases {
        let a = send(&s, event.clone()).await;
        assert_eq!(
            (a.status, a.code()),
            (status, code),
            "{:?}",
            event.json()["rawPath"]
        );
    }
    // A 405 names the methods the route has (RFC 9110).
    for (event, allowed) in [
        (Event::fixture(RUN).method("GET"), "POST"),
        (Event::fixture(GET).method("DELETE"), "GET"),
    ] {
        let a = send(&s, event).await;
        let allow = a.headers.get("allow").map(|v| v.to_str().unwrap());
        assert_eq!((a.status, allow), (405, Some(allowed)));
    }
    // Nothing was queued or written.
    assert!(s.runs.wait().await.is_empty());
    assert!(s.objects.list("").await.unwrap().is_empty());
    assert!(s.alerts.raised().is_empty());
}

async fn the_schedule_sqs_and_direct_triggers_reconcile_the_right_day(store: Arc<dyn Store>) {
    let s = setup(store).await;
    a_day(&s).await;
    // The nightly schedule at 10:30 Beijing on the 21st reconciles the 20th.
    let schedule = Event::fixture("reconcile/nightly-schedule.json")
        .json()
        .clone();
    let report = dispatch(&s.app, schedule).await.unwrap();
    assert_eq!(report["date"], "2026-11-20");
    assert_eq!(report["report_rows"], 6);
    let sqs = Event::fixture("reconcile/sqs-run-request.json")
        .json()
        .clone();
    let reports = dispatch(&s.app, sqs).await.unwrap();
    assert_eq!(reports[0]["date"], "2026-11-20");
    assert_eq!(reports[0]["alerts_raised"], json!([]));
    // A day without any movement: an empty run, no gap, no alert.
    let alerts_before = s.alerts.raised().len();
    let direct = dispatch(&s.app, json!({"date": "2026-11-19"}))
        .await
        .unwrap();
    assert_eq!(
        (direct["date"].as_str(), direct["report_rows"].as_u64()),
        (Some("2026-11-19"), Some(0))
    );
    assert_eq!(direct["gaps"], json!([]));
    assert_eq!(s.alerts.raised().len(), alerts_before);
    assert!(dispatch(&s.app, json!({"date": "yesterday"}))
        .await
        .is_err());
    let bad_sqs = json!({"Records": [{"body": "{\"date\": 7}"}]});
    assert!(dispatch(&s.app, bad_sqs).await.is_err());
    // HTTP through the same entry point: the API Gateway response shape.
    let http = Event::fixture(RUN).json().clone();
    let response = dispatch(&s.app, http).await.unwrap();
    assert_eq!(response["statusCode"], 202);
    assert_eq!(s.runs.wait().await.len(), 1);
    assert_eq!(s.clock.now(), beijing("2026-11-21T10:30:00"));
}

/// The run id of the shop's summary of `day`.
async fn last_run(store: &Arc<dyn Store>, s: &Setup, day: BusinessDate) -> String {
    let summary = store.get_reconciliation(&s.world.shop, day).await.unwrap();
    summary.expect("a summary").run_id
}

/// The day asked for twice at once (an impatient operator): the second
/// run waits for the first to give the day back, then re-runs it; the
/// report is the same and no alert is raised twice.
async fn two_requests_for_one_day_run_one_after_the_other(store: Arc<dyn Store>) {
    let s = setup(store.clone()).await;
    a_day(&s).await;
    // Another run holds the day: the request waits for it rather than fail.
    let lease = qrpay_reconcile::run::run_lease_key(BusinessDate::parse("2026-11-20").unwrap());
    let now = s.clock.now();
    let until = now + chrono::Duration::minutes(15);
    assert!(store
        .acquire_lease(&lease, "other", now, until)
        .await
        .unwrap());
    assert_eq!(send(&s, Event::fixture(RUN)).await.status, 202);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(store
        .get_reconciliation(&s.world.shop, BusinessDate::parse("2026-11-20").unwrap())
        .await
        .unwrap()
        .is_none());
    store.release_lease(&lease, "other").await.unwrap();
    let waited = s.runs.wait().await;
    assert_eq!(waited.len(), 1);
    assert_eq!(waited[0].as_ref().unwrap().report_rows, 6);
    // A run asked for again (bills late) while another holds the day waits
    // its turn too, rather than give up.
    let day = BusinessDate::parse("2026-11-20").unwrap();
    let first_run = store
        .get_reconciliation(&s.world.shop, day)
        .await
        .unwrap()
        .unwrap()
        .run_id;
    assert!(store
        .acquire_lease(&lease, "other", now, until)
        .await
        .unwrap());
    let again = qrpay_reconcile::requests::RunRequest::now(day);
    s.runs
        .ask_again(&again, std::time::Duration::ZERO)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(last_run(&store, &s, day).await, first_run);
    store.release_lease(&lease, "other").await.unwrap();
    let mut waited_for = 0;
    while last_run(&store, &s, day).await == first_run {
        waited_for += 1;
        // A minute: a whole run against the emulator on a busy machine.
        assert!(waited_for < 600, "the run asked for again never ran");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Its summary is written; it may still be finishing (alerts, run.json,
    // the lease): the two runs below wait their turn for it.
    // Two at once: one after the other.
    let (a, b) = tokio::join!(send(&s, Event::fixture(RUN)), send(&s, Event::fixture(RUN)));
    assert_eq!((a.status, b.status), (202, 202));
    let reports = s.runs.wait().await;
    assert_eq!(reports.len(), 2);
    let runs: Vec<_> = reports.into_iter().map(|r| r.unwrap()).collect();
    assert_ne!(runs[0].run_id, runs[1].run_id);
    for run in &runs {
        assert_eq!(
            (run.ledger_rows, run.statement_rows, run.report_rows),
            (4, 5, 6)
        );
    }
    // The first run raised the day's alerts; these two raised none again.
    let raised: Vec<usize> = runs.iter().map(|r| r.alerts_raised.len()).collect();
    assert_eq!(raised, vec![0, 0]);
    assert_eq!(
        s.alerts.raised().len(),
        waited[0].as_ref().unwrap().alerts_raised.len()
    );
    assert!(!s.alerts.raised().is_empty());
    let a = send(&s, Event::fixture(GET)).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["summary"]["rows"], 6);
}

const RECEIVABLES: &str = "reconcile/get-receivables.json";

/// A paid 3-period order of 300.00 (100.00 a period), paid on 2026-03-02
/// (Beijing): due 04-01, 05-01 and 05-31; `deducted` periods collected,
/// `declined` ones reported failed.
async fn monthly_pay(s: &Setup, no: &str, deducted: &[u8], declined: &[u8]) -> String {
    let w = &s.world;
    let store = w.store.as_ref();
    let (_, order) = issued_order(w, no, "300.00", Some(3)).await;
    let id = order.order_id.clone();
    apply(
        store,
        &payment(&id, &format!("n-{no}"), &format!("t-{no}"), "300.00"),
    )
    .await;
    for period in deducted {
        apply(
            store,
            &deduction(&id, &format!("d-{no}-{period}"), *period, "100.00"),
        )
        .await;
    }
    for period in declined {
        let event = CollectionEvent {
            provider: Provider::Wechatpay,
            notification_id: ProviderRef::parse(&format!("f-{no}-{period}")).unwrap(),
            order_id: id.clone(),
            kind: CollectionEventKind::InstalmentDeductionFailed {
                period: *period,
                amount: Amount::parse("100.00").unwrap(),
                reason: "card declined".into(),
            },
            occurred_at: at(120),
        };
        apply(store, &event).await;
    }
    id.to_string()
}

async fn receivables(s: &Setup, as_of: &str, cursor: Option<&str>) -> Answer {
    let mut query = vec![("as_of", as_of)];
    query.extend(cursor.map(|c| ("cursor", c)));
    send(s, Event::fixture(RECEIVABLES).query(&query)).await
}

fn overdue_periods(order: &Value) -> Vec<(u64, u64)> {
    order["overdue_periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["period"].as_u64().unwrap(),
                p["days_past_due"].as_u64().unwrap(),
            )
        })
        .collect()
}

async fn the_shop_reads_its_receivables_by_age_as_of_any_day(store: Arc<dyn Store>) {
    let s = setup(store).await;
    let a = monthly_pay(&s, "M-1", &[], &[]).await;
    let b = monthly_pay(&s, "M-2", &[1], &[2]).await;
    monthly_pay(&s, "M-3", &[1, 2, 3], &[]).await;
    // The fixture's day, 2026-11-20: every period left is 90+ days past due.
    let r = send(&s, Event::fixture(RECEIVABLES)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (&r.body["as_of"], &r.body["grace_days"]),
        (&json!("2026-11-20"), &json!(3))
    );
    assert_eq!(
        r.body["totals"],
        json!({"orders": 2, "outstanding": "500.00", "overdue_orders": 2,
            "overdue_amount": "500.00", "overdue_count": 5, "by_age": [
                {"bucket": "1-30", "amount": "0.00", "count": 0},
                {"bucket": "31-60", "amount": "0.00", "count": 0},
                {"bucket": "61-90", "amount": "0.00", "count": 0},
                {"bucket": "90+", "amount": "500.00", "count": 5}]})
    );
    // 05-05: A's period 1 is 34 days past due, its period 2 and B's
    // declined period 2 are 4 (one past the 3 grace days).
    let r = receivables(&s, "2026-05-05", None).await;
    let ages: Vec<u64> = r.body["totals"]["by_age"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .collect();
    assert_eq!(ages, [2, 1, 0, 0]);
    let mut expected = vec![
        (a.clone(), vec![(1, 34), (2, 4)]),
        (b.clone(), vec![(2, 4)]),
    ];
    expected.sort();
    let listed: Vec<(String, Vec<(u64, u64)>)> = r.body["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["order_id"].as_str().unwrap().to_owned(),
                overdue_periods(o),
            )
        })
        .collect();
    assert_eq!(listed, expected);
    let by_b = r.body["orders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["order_id"] == json!(b));
    assert_eq!(
        by_b.map(|o| (
            o["repaid_principal"].clone(),
            o["outstanding_principal"].clone()
        )),
        Some((json!("100.00"), json!("200.00")))
    );
    // The last day of grace for period 2: only A's period 1 is overdue.
    let r = receivables(&s, "2026-05-04", None).await;
    assert_eq!(r.body["totals"]["overdue_count"], json!(1));
    assert_eq!(r.body["totals"]["overdue_orders"], json!(1));
    assert_eq!(r.body["orders"][0]["order_id"], json!(a));
    // After the first listed order, only the second.
    let first = expected[0].0.as_str();
    let r = receivables(&s, "2026-05-05", Some(first)).await;
    assert_eq!(r.body["orders"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["orders"][0]["order_id"], json!(expected[1].0));
    assert_eq!(
        r.body["totals"]["overdue_count"],
        json!(3),
        "totals never page"
    );
}

async fn overdue_orders_page_by_fifty_with_a_cursor(store: Arc<dyn Store>) {
    let s = setup(store).await;
    for n in 0..52 {
        monthly_pay(&s, &format!("P-{n}"), &[], &[]).await;
    }
    let first = receivables(&s, "2026-11-20", None).await;
    let page = first.body["orders"].as_array().unwrap();
    assert_eq!(page.len(), 50);
    assert_eq!(first.body["next_cursor"], page[49]["order_id"]);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = receivables(&s, "2026-11-20", Some(&cursor)).await;
    assert_eq!(second.body["orders"].as_array().unwrap().len(), 2);
    assert_eq!(second.body["next_cursor"], Value::Null);
    let mut ids: Vec<&Value> = page.iter().map(|o| &o["order_id"]).collect();
    ids.extend(
        second.body["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| &o["order_id"]),
    );
    let mut sorted = ids.clone();
    sorted.sort_by_key(|v| v.as_str().unwrap().to_owned());
    sorted.dedup();
    assert_eq!((ids.len(), sorted.len()), (52, 52));
    assert_eq!(ids, sorted, "by order id");
    assert_eq!(second.body["totals"]["orders"], json!(52));
}

async fn receivables_refusals_change_nothing(store: Arc<dyn Store>) {
    let s = setup(store).await;
    monthly_pay(&s, "Q-1", &[], &[]).await;
    let cases = [
        (
            Event::fixture(RECEIVABLES).query(&[("as_of", "2026-02-30")]),
            400,
            "INVALID_REQUEST",
            Some("as_of"),
        ),
        (
            Event::fixture(RECEIVABLES).query(&[("cursor", "bad%20id")]),
            400,
            "INVALID_REQUEST",
            Some("cursor"),
        ),
        (
            Event::fixture(RECEIVABLES).claims("o2", Some("shop-2"), "owner"),
            403,
            "FORBIDDEN",
            None,
        ),
        (
            Event::fixture(RECEIVABLES).no_authorizer(),
            401,
            "UNAUTHENTICATED",
            None,
        ),
        (
            Event::fixture(RECEIVABLES).method("POST"),
            405,
            "METHOD_NOT_ALLOWED",
            None,
        ),
        (
            Event::fixture(RECEIVABLES)
                .path("/shops/shop-9/receivables")
                .claims("ops", None, "admin"),
            404,
            "SHOP_NOT_FOUND",
            None,
        ),
    ];
    for (event, status, code, field) in cases {
        let a = send(&s, event).await;
        assert_eq!((a.status, a.code()), (status, code), "{}", a.body);
        if let Some(field) = field {
            assert_eq!(a.body["error"]["field"], field);
        }
    }
    // Staff of the shop and a platform admin read it too.
    let staff = send(
        &s,
        Event::fixture(RECEIVABLES).claims("st", Some("shop-1"), "staff"),
    )
    .await;
    let admin = send(&s, Event::fixture(RECEIVABLES).claims("ops", None, "admin")).await;
    assert_eq!((staff.status, admin.status), (200, 200));
    assert_eq!(staff.body, admin.body);
    assert_eq!(admin.body["totals"]["orders"], json!(1));
}

/// The report as a download: `format=csv` and `format=xlsx` are made from
/// the rows (Chinese headers by default; with English headers and nothing
/// resolved the CSV is the nightly object byte for byte); other formats and
/// languages are refused.
async fn the_report_downloads_as_csv_or_xlsx(store: Arc<dyn Store>) {
    let s = setup(store).await;
    a_day(&s).await;
    assert_eq!(send(&s, Event::fixture(RUN)).await.status, 202);
    s.runs.wait().await;
    let download = |query: &[(&str, &str)]| {
        let request = Event::fixture(GET).query(query).request();
        let app = &s.app;
        async move { handle(app, request).await }
    };
    let csv = download(&[("format", "csv"), ("lang", "en")]).await;
    assert_eq!(csv.status(), 200);
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        csv.headers()["content-disposition"],
        "attachment; filename=\"report-shop-1-2026-11-20.csv\""
    );
    let stored = s
        .objects
        .get("reports/2026-11-20/shop-1.csv")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(csv.body().as_ref(), stored.as_slice());
    assert!(stored.starts_with(b"\xEF\xBB\xBFdate,shop_id,order_no,"));
    let zh = download(&[("format", "csv")]).await;
    assert!(zh
        .body()
        .as_ref()
        .starts_with("\u{FEFF}日期,店铺编号,订单编号,".as_bytes()));
    let xlsx = download(&[("format", "xlsx")]).await;
    assert_eq!(xlsx.status(), 200);
    assert_eq!(
        xlsx.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert_eq!(
        xlsx.headers()["content-disposition"],
        "attachment; filename=\"report-shop-1-2026-11-20.xlsx\""
    );
    assert!(xlsx.body().as_ref().starts_with(b"PK\x03\x04"));
    for (query, field) in [([("format", "pdf")], "format"), ([("lang", "fr")], "lang")] {
        let a = send(&s, Event::fixture(GET).query(&query)).await;
        assert_eq!((a.status, a.code()), (400, "INVALID_REQUEST"), "{query:?}");
        assert_eq!(a.body["error"]["field"], field);
    }
}

fn resolve(row_id: &str, body: Value) -> Event {
    Event::fixture(RESOLVE)
        .path(&format!(
            "/shops/shop-1/reconciliations/2026-11-20/rows/{row_id}/resolution"
        ))
        .json_body(body)
}

/// The lost charge's row id: the same in every run of the day.
const LOST_ROW: &str = "5d244ebe5435ce7f";

/// The owner records what was done about a discrepancy; the report shows it
/// in the resolution column (JSON, CSV, XLSX) while the finding is
/// unchanged, keeps it across a re-run, and drops it when a re-run finds
/// something else. Refusals change nothing.
async fn a_resolution_is_kept_across_reruns_while_its_finding_is_unchanged(store: Arc<dyn Store>) {
    let s = setup(store).await;
    a_day(&s).await;
    assert_eq!(send(&s, Event::fixture(RUN)).await.status, 202);
    s.runs.wait().await;
    let a = send(&s, Event::fixture(GET)).await;
    let lost = a.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["order_no"] == "ord-lost")
        .unwrap()
        .clone();
    assert_eq!(lost["row_id"], LOST_ROW);
    assert_eq!(lost["resolution_status"], "OPEN");
    assert_eq!(
        a.body["resolutions"],
        json!({"open": 1, "resolved": 0, "waived": 0})
    );
    let matched_row = a.body["rows"][0]["row_id"].as_str().unwrap().to_owned();

    // Refusals first: none of them records anything.
    let body = json!({"status": "RESOLVED", "note": "late callback booked"});
    let refusals: Vec<(Event, u16, &str)> = vec![
        (
            resolve(LOST_ROW, body.clone()).claims("st", Some("shop-1"), "staff"),
            403,
            "FORBIDDEN",
        ),
        (
            resolve(LOST_ROW, body.clone()).claims("o2", Some("shop-2"), "owner"),
            403,
            "FORBIDDEN",
        ),
        (
            resolve("5D244EBE5435CE7F", body.clone()),
            400,
            "INVALID_REQUEST",
        ),
        (
            resolve(LOST_ROW, json!({"status": "DONE"})),
            400,
            "INVALID_REQUEST",
        ),
        (
            resolve(LOST_ROW, json!({"note": "no status"})),
            400,
            "INVALID_REQUEST",
        ),
        (
            resolve(LOST_ROW, json!({"status": "OPEN", "owner": "x"})),
            400,
            "INVALID_REQUEST",
        ),
        (
            resolve(LOST_ROW, json!({"status": "OPEN", "note": "a\u{7}b"})),
            400,
            "INVALID_REQUEST",
        ),
        (
            resolve(
                LOST_ROW,
                json!({"status": "OPEN", "assignee": "x".repeat(65)}),
            ),
            400,
            "INVALID_REQUEST",
        ),
        (
            resolve("0000000000000000", body.clone()),
            404,
            "REPORT_ROW_NOT_FOUND",
        ),
        (
            resolve(&matched_row, body.clone()),
            422,
            "REPORT_ROW_NOT_A_DISCREPANCY",
        ),
        (
            resolve(LOST_ROW, body.clone()).path(&format!(
                "/shops/shop-1/reconciliations/2026-11-19/rows/{LOST_ROW}/resolution"
            )),
            404,
            "RECONCILIATION_NOT_FOUND",
        ),
        (
            resolve(LOST_ROW, body.clone()).method("POST"),
            405,
            "METHOD_NOT_ALLOWED",
        ),
    ];
    for (event, status, code) in refusals {
        let a = send(&s, event).await;
        assert_eq!((a.status, a.code()), (status, code), "{}", a.body);
    }
    let a = send(&s, Event::fixture(GET)).await;
    assert_eq!(
        a.body["resolutions"],
        json!({"open": 1, "resolved": 0, "waived": 0})
    );

    // The owner resolves it; then a platform admin waives it instead.
    s.clock.set(beijing("2026-11-21T11:00:00"));
    let a = send(&s, Event::fixture(RESOLVE)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["status"], "RESOLVED");
    assert_eq!(a.body["assignee"], "财务 王");
    assert_eq!(a.body["updated_by"], "shop-1-owner");
    assert_eq!(a.body["updated_at"], "2026-11-21T11:00:00.000+08:00");
    assert_eq!(
        (a.body["version"].clone(), a.body["history"].clone()),
        (json!(1), json!([]))
    );
    s.clock.set(beijing("2026-11-21T11:05:00"));
    let waive = resolve(LOST_ROW, json!({"status": "WAIVED", "note": "测试交易"}))
        .claims("ops", None, "admin");
    let a = send(&s, waive).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        (a.body["version"].clone(), a.body["updated_by"].clone()),
        (json!(2), json!("ops"))
    );
    assert_eq!(a.body["history"][0]["status"], "RESOLVED");
    let shown = |body: &Value| {
        body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["order_no"] == "ord-lost")
            .unwrap()
            .clone()
    };
    let expected_cell = "WAIVED; note: 测试交易; by ops at 2026-11-21T11:05:00.000+08:00";
    let a = send(&s, Event::fixture(GET)).await;
    assert_eq!(shown(&a.body)["resolution"], expected_cell);
    assert_eq!(shown(&a.body)["resolution_status"], "WAIVED");
    assert_eq!(
        a.body["resolutions"],
        json!({"open": 0, "resolved": 0, "waived": 1})
    );
    let csv = handle(
        &s.app,
        Event::fixture(GET).query(&[("format", "csv")]).request(),
    )
    .await;
    let csv = String::from_utf8(csv.body().to_vec()).unwrap();
    assert!(
        csv.contains(&format!("\"{expected_cell}\",6,{LOST_ROW}\r\n")),
        "{csv}"
    );

    // A re-run of the same day finds the same: the resolution stays.
    assert_eq!(send(&s, Event::fixture(RUN)).await.status, 202);
    s.runs.wait().await;
    let a = send(&s, Event::fixture(GET)).await;
    assert_eq!(shown(&a.body)["resolution"], expected_cell);

    // The provider's bill changes the lost charge's amount: the finding is
    // new, so it is open again (and the settlement no longer agrees).
    let key = statement_key(day(), Provider::Sandbox);
    let bill = String::from_utf8(s.objects.get(&key).await.unwrap().unwrap()).unwrap();
    assert!(bill.contains("19.90"), "{bill}");
    let changed = bill.replace("19.90", "29.90").into_bytes();
    s.objects.put(&key, changed, "text/csv").await.unwrap();
    assert_eq!(send(&s, Event::fixture(RUN)).await.status, 202);
    s.runs.wait().await;
    let a = send(&s, Event::fixture(GET)).await;
    let row = shown(&a.body);
    assert_eq!(
        (row["provider_amount"].clone(), row["row_id"].clone()),
        (json!("29.90"), json!(LOST_ROW))
    );
    assert_eq!(row["resolution_status"], "OPEN");
    assert_eq!(row["resolution_record"], Value::Null);
    assert_ne!(row["resolution"], expected_cell);
    assert_eq!(a.body["resolutions"]["waived"], 0);
}

/// A browser (`Accept` naming `text/html` first) reads the day as a page;
/// an API client's `Accept` keeps the JSON, exactly as without one.
async fn a_browser_reads_the_report_as_a_page(store: Arc<dyn Store>) {
    let s = setup(store).await;
    a_day(&s).await;
    assert_eq!(send(&s, Event::fixture(RUN)).await.status, 202);
    s.runs.wait().await;
    let chrome = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let request = Event::fixture(GET).header("accept", chrome).request();
    let page = handle(&s.app, request).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(page.headers()["cache-control"], "no-store");
    assert_eq!(page.headers()["vary"], "Accept");
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.starts_with("default-src 'none'; style-src 'sha256-"),
        "{csp}"
    );
    let html = String::from_utf8(page.body().to_vec()).unwrap();
    assert!(
        html.contains("<title>对账日报 shop-1 2026-11-20</title>"),
        "{html}"
    );
    assert!(html.contains("<td class=\"n\">3</td><td class=\"n\">163.50</td>"));
    // The one discrepancy (the charge we never heard of) before the matched rows.
    let lost = html.find("<td>ord-lost</td>").unwrap();
    let folded = html.find("<details>").unwrap();
    let first_match = html.find("<td>ord-1</td>").unwrap();
    assert!(lost < folded && folded < first_match);
    assert!(html.contains("<td>账本无记录 MISSING_IN_LEDGER</td>"));
    assert!(html.contains("<title>9: 120.00 (1)</title>"));
    assert!(html.contains(">sandbox  163.50 (3)  100.0%</text>"));

    let plain = send(&s, Event::fixture(GET)).await;
    for accept in ["application/json", "*/*", "application/json, text/html"] {
        let a = send(&s, Event::fixture(GET).header("accept", accept)).await;
        assert_eq!((a.status, &a.body), (200, &plain.body), "{accept}");
    }
    // A file is a file, whatever the browser accepts.
    let request = Event::fixture(GET)
        .header("accept", chrome)
        .query(&[("format", "csv")])
        .request();
    let csv = handle(&s.app, request).await;
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    // A browser without the token gets the same refusal as any client.
    let anonymous = Event::fixture(GET).header("accept", chrome).no_authorizer();
    assert_eq!(send(&s, anonymous).await.status, 401);
}

qrpay_tests::on_both_stores!(
    a_resolution_is_kept_across_reruns_while_its_finding_is_unchanged,
    the_shop_reads_its_receivables_by_age_as_of_any_day,
    overdue_orders_page_by_fifty_with_a_cursor,
    receivables_refusals_change_nothing,
    two_requests_for_one_day_run_one_after_the_other,
    a_sandbox_day_reconciles_and_the_shop_reads_its_report,
    every_refusal_has_its_code_and_changes_nothing,
    the_schedule_sqs_and_direct_triggers_reconcile_the_right_day,
    the_report_downloads_as_csv_or_xlsx,
    a_browser_reads_the_report_as_a_page,
);
