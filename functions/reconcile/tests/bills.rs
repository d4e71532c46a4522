//! The nightly run fetches the providers' bills first (SPEC §6, §9
//! "Bills"), on both stores: the schedule waits for a bill not published
//! yet by asking again through the queue, runs once it is in, and at the
//! deadline goes ahead with the gap and a `BILL_NOT_FETCHED` alert; an
//! operator's run never waits.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use qrpay_domain::{
    Amount, BusinessDate, CollectionEvent, CollectionEventKind, Decision, OrderStatus, Payer,
    Provider, ProviderRef, TestClock,
};
use qrpay_provider::bills::{BillGateway, BillKind, BillOutcome};
use qrpay_provider::{SandboxCharge, SandboxChargeKind, SandboxProvider};
use qrpay_reconcile::bill_fetch::BillFetcher;
use qrpay_reconcile::objects::{receipts_key, LocalDir, ObjectStore};
use qrpay_reconcile::requests::{RequestError, RunRequest, RunRequests};
use qrpay_reconcile::{sandbox_bill, Reconciler, StoreLedger};
use qrpay_store::alerts::MemoryAlerts;
use qrpay_store::Store;
use qrpay_tests::events::Event;
use qrpay_tests::world::{beijing, money, World};
use reconcile::{dispatch, App};
use serde_json::{json, Value};

fn day() -> BusinessDate {
    BusinessDate::parse("2026-11-20").unwrap()
}

/// The sandbox's bill, as a provider that publishes once told to.
struct Publisher {
    sandbox: Arc<SandboxProvider>,
    published: Mutex<bool>,
    asked: Mutex<u32>,
}

#[async_trait]
impl BillGateway for Publisher {
    fn provider(&self) -> Provider {
        Provider::Sandbox
    }

    fn bill_kinds(&self) -> &'static [BillKind] {
        &[BillKind::Trade]
    }

    async fn fetch_bill(&self, date: BusinessDate, _kind: BillKind, dest: &Path) -> BillOutcome {
        *self.asked.lock().unwrap() += 1;
        if !*self.published.lock().unwrap() {
            return BillOutcome::NotYet {
                detail: "STATEMENT_CREATING".into(),
            };
        }
        let bill = sandbox_bill::write(&self.sandbox, date, Vec::new()).unwrap();
        std::fs::write(dest, &bill).unwrap();
        BillOutcome::Stored {
            bytes: bill.len() as u64,
        }
    }
}

/// The queue: what was asked again, and after how long.
#[derive(Default)]
struct Queue {
    sent: Mutex<Vec<(RunRequest, Duration)>>,
}

#[async_trait]
impl RunRequests for Queue {
    async fn request(&self, date: BusinessDate) -> Result<(), RequestError> {
        self.sent
            .lock()
            .unwrap()
            .push((RunRequest::now(date), Duration::ZERO));
        Ok(())
    }

    async fn ask_again(&self, request: &RunRequest, delay: Duration) -> Result<(), RequestError> {
        self.sent.lock().unwrap().push((request.clone(), delay));
        Ok(())
    }
}

struct Setup {
    app: App,
    provider: Arc<Publisher>,
    queue: Arc<Queue>,
    alerts: Arc<MemoryAlerts>,
    objects: Arc<LocalDir>,
    clock: Arc<TestClock>,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

async fn setup(store: Arc<dyn Store>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
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
        partitions: 4,
        payout_provider: Provider::Sandbox,
        progress: None,
    });
    let provider = Arc::new(Publisher {
        sandbox: Arc::new(SandboxProvider::new(clock.clone())),
        published: Mutex::new(false),
        asked: Mutex::new(0),
    });
    let queue = Arc::new(Queue::default());
    let gateways: Vec<Arc<dyn BillGateway>> = vec![provider.clone()];
    let app = App {
        reconciler,
        reconciliations: store.clone(),
        shops: store.clone(),
        receivables: store.clone(),
        resolutions: store.clone(),
        objects: objects.clone(),
        requests: queue.clone(),
        bills: Some(Arc::new(BillFetcher {
            sources: Arc::new(gateways),
            objects: objects.clone(),
            alerts: alerts.clone(),
            work_dir: dir.path().join("work"),
        })),
        clock: clock.clone(),
    };
    Setup {
        app,
        provider,
        queue,
        alerts,
        objects,
        clock,
        store,
        _dir: dir,
    }
}

/// Two sandbox payments of shop-1 on the 20th, applied as their notices.
async fn a_day(s: &Setup) {
    let world = World::with_shop(s.store.clone(), "shop-1", "15000.00", "0.00").await;
    for (order, amount, txn, at) in [
        ("ord-1", "19.90", "sbx-1", "2026-11-20T09:00:00"),
        ("ord-2", "250.00", "sbx-2", "2026-11-20T15:30:00"),
    ] {
        let order_id = world.order_in(order, amount, OrderStatus::Created).await;
        s.provider.sandbox.record_charge(SandboxCharge {
            shop_id: world.shop.clone(),
            kind: SandboxChargeKind::Payment,
            order_id: order_id.clone(),
            provider_ref: txn.to_owned(),
            period: None,
            amount: Amount::parse(amount).unwrap(),
            fee: money("0.00"),
            succeeded: true,
            payer_masked: None,
            at: beijing(at),
        });
        let event = CollectionEvent {
            provider: Provider::Sandbox,
            notification_id: ProviderRef::parse(&format!("n-{txn}")).unwrap(),
            order_id,
            kind: CollectionEventKind::PaymentSucceeded {
                provider_txn_id: ProviderRef::parse(txn).unwrap(),
                amount: Amount::parse(amount).unwrap(),
                payer: Some(Payer::default()),
            },
            occurred_at: beijing(at),
        };
        let decision = s.store.apply_collection(&event, beijing(at)).await.unwrap();
        assert!(matches!(decision, Decision::Apply(_)), "{decision:?}");
    }
    // The bank's receipts come another way (SPEC §6); here, already placed.
    let receipts = sandbox_bill::write_receipts(&s.provider.sandbox, day(), Vec::new()).unwrap();
    s.objects
        .put(&receipts_key(day()), receipts, "text/csv")
        .await
        .unwrap();
}

fn schedule() -> Value {
    Event::fixture("reconcile/nightly-schedule.json")
        .json()
        .clone()
}

/// The SQS event that delivers `request`.
fn delivered(request: &RunRequest) -> Value {
    json!({"Records": [{"body": serde_json::to_string(request).unwrap()}]})
}

fn sent(s: &Setup) -> Vec<(RunRequest, Duration)> {
    std::mem::take(&mut *s.queue.sent.lock().unwrap())
}

async fn the_schedule_waits_for_a_bill_then_reconciles_it(store: Arc<dyn Store>) {
    let s = setup(store).await;
    a_day(&s).await;
    let waiting = dispatch(&s.app, schedule()).await.unwrap();
    assert_eq!(
        waiting,
        json!({"date": "2026-11-20", "status": "WAITING_FOR_BILLS", "ask_again_in_s": 900})
    );
    // Asked again in 15 minutes, waiting until 14:00 Beijing; nothing run.
    let again = sent(&s);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].1, Duration::from_secs(900));
    assert_eq!(again[0].0.date, "2026-11-20");
    assert_eq!(
        again[0].0.wait_for_bills_until,
        Some(beijing("2026-11-21T14:00:00"))
    );
    let shop = qrpay_domain::ShopId::parse("shop-1").unwrap();
    assert_eq!(
        s.store.get_reconciliation(&shop, day()).await.unwrap(),
        None
    );
    assert!(s.alerts.raised().is_empty());

    // 10:45: still not published; 11:00: published, fetched and matched.
    s.clock.advance_ms(900_000);
    let still = dispatch(&s.app, delivered(&again[0].0)).await.unwrap();
    assert_eq!(still[0]["status"], "WAITING_FOR_BILLS");
    let again = sent(&s);
    assert_eq!(again.len(), 1);
    *s.provider.published.lock().unwrap() = true;
    s.clock.advance_ms(900_000);
    let reports = dispatch(&s.app, delivered(&again[0].0)).await.unwrap();
    assert_eq!(reports[0]["date"], "2026-11-20");
    // Two payments and the day's settlement batch.
    assert_eq!(reports[0]["report_rows"], 3);
    assert_eq!(reports[0]["statement_rows"], 2);
    assert_eq!(reports[0]["gaps"], json!([]));
    assert_eq!(reports[0]["alerts_raised"], json!([]));
    let summary = s
        .store
        .get_reconciliation(&shop, day())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(summary.payments.count, 2);
    assert_eq!(summary.payments.total, money("269.90"));
    assert!(sent(&s).is_empty());
    assert!(s.alerts.raised().is_empty());
    assert_eq!(*s.provider.asked.lock().unwrap(), 3);
    let bill = s.objects.get("statements/2026-11-20/sandbox.csv").await;
    assert!(bill.unwrap().is_some());

    // A re-run reads the stored bill: the provider is not asked again.
    dispatch(&s.app, json!({"date": "2026-11-20"}))
        .await
        .unwrap();
    assert_eq!(*s.provider.asked.lock().unwrap(), 3);
}

async fn at_the_deadline_the_run_reports_the_gap(store: Arc<dyn Store>) {
    let s = setup(store).await;
    a_day(&s).await;
    let request = RunRequest {
        date: "2026-11-20".into(),
        wait_for_bills_until: Some(beijing("2026-11-21T14:00:00")),
    };
    s.clock.set(beijing("2026-11-21T14:00:00"));
    let reports = dispatch(&s.app, delivered(&request)).await.unwrap();
    // Two payments and the day's settlement batch.
    assert_eq!(reports[0]["report_rows"], 3);
    assert_eq!(reports[0]["statement_rows"], 0);
    assert_eq!(
        reports[0]["gaps"],
        json!([
            "no sandbox statement for 2026-11-20 (expected at statements/2026-11-20/sandbox.csv): \
                its ledger movements are reported MISSING_IN_PROVIDER"
        ])
    );
    let codes: Vec<String> = s.alerts.raised().into_iter().map(|a| a.code).collect();
    assert!(codes.contains(&"BILL_NOT_FETCHED".to_owned()), "{codes:?}");
    assert!(codes.contains(&"RECON_INPUT_GAP".to_owned()), "{codes:?}");
    let alert = s
        .alerts
        .raised()
        .into_iter()
        .find(|a| a.code == "BILL_NOT_FETCHED")
        .unwrap();
    assert!(
        alert
            .message
            .contains("Sandbox trade bill: not published yet: STATEMENT_CREATING"),
        "{}",
        alert.message
    );
    assert!(sent(&s).is_empty());
}

async fn an_operators_run_does_not_wait(store: Arc<dyn Store>) {
    let s = setup(store).await;
    a_day(&s).await;
    let report = dispatch(&s.app, json!({"date": "2026-11-20"}))
        .await
        .unwrap();
    assert_eq!(report["report_rows"], 3);
    assert_eq!(report["gaps"].as_array().map(Vec::len), Some(1));
    assert!(sent(&s).is_empty());
    assert_eq!(*s.provider.asked.lock().unwrap(), 1);
    // Published later: the operator's re-run fetches it and matches.
    *s.provider.published.lock().unwrap() = true;
    let report = dispatch(&s.app, json!({"date": "2026-11-20"}))
        .await
        .unwrap();
    assert_eq!(report["gaps"], json!([]));
    assert_eq!(report["discrepancies"], 0);
}

qrpay_tests::on_both_stores!(
    the_schedule_waits_for_a_bill_then_reconciles_it,
    at_the_deadline_the_run_reports_the_gap,
    an_operators_run_does_not_wait,
);
