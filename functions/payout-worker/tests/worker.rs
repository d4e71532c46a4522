//! Each payout transition and each provider outcome, on the embedded store
//! with the sandbox provider (a real component with its own ledger).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_lambda_events::event::sqs::SqsEvent;
use chrono::Duration;
use payout_worker::batch::handle_batch;
use payout_worker::sweeper::{sweep, Alert, AlertCode, Alerts};
use payout_worker::{Step, Worker};
use qrpay_domain::{
    AttemptAction as A, AttemptOutcome as O, BusinessDate, Clock, Money, Payout, PayoutStatus,
    TestClock,
};
use qrpay_provider::{Payee, SandboxFaults, SandboxProvider, TransferProvider, TransferRequest};
use qrpay_queue::{MemoryQueue, PayoutMessage, QueueError, Redelivery};
use qrpay_store::alerts::MemoryAlerts;
use qrpay_store::{MemoryStore, Reserved, Store};
use qrpay_tests::world::{money, morning};
use qrpay_tests::World;

struct Setup {
    world: World,
    clock: Arc<TestClock>,
    sandbox: Arc<SandboxProvider>,
    alerts: Arc<MemoryAlerts>,
    worker: Worker,
}

async fn setup() -> Setup {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let world = World::new(store.clone(), "15000.00", "1000.00").await;
    let clock = Arc::new(TestClock::at(morning()));
    let sandbox = Arc::new(SandboxProvider::new(clock.clone()));
    let alerts = Arc::new(MemoryAlerts::new());
    let worker = Worker {
        payouts: store.clone(),
        refunds: store.clone(),
        collection: store.clone(),
        gateways: qrpay_provider::gateway::Gateways::default()
            .with_transfer(qrpay_domain::Provider::Sandbox, sandbox.clone()),
        clock: clock.clone(),
        alerts: alerts.clone(),
        pos: None,
    };
    Setup {
        world,
        clock,
        sandbox,
        alerts,
        worker,
    }
}

fn faults(fail: u16, before: u16, after: u16, query: u16) -> SandboxFaults {
    SandboxFaults {
        fail_per_mille: fail,
        timeout_before_per_mille: before,
        timeout_after_per_mille: after,
        query_timeout_per_mille: query,
        seed: 7,
    }
}

impl Setup {
    async fn payout(&self, order: &str, amount: &str) -> Payout {
        let o = self.world.paid_order(order, "100.00").await;
        let req = self.world.request(
            &self.world.owner,
            &o,
            amount,
            &format!("k-{order}"),
            self.clock.now(),
        );
        match self.world.store.reserve_payout(&req).await.unwrap() {
            Reserved::Created(p) => p,
            other => panic!("{other:?}"),
        }
    }

    async fn run(&self, p: &Payout) -> Step {
        let msg = PayoutMessage::for_payout(p);
        self.worker.execute(&msg).await.unwrap()
    }

    async fn now(&self, p: &Payout) -> Payout {
        self.world
            .store
            .get_payout(&p.shop_id, &p.payout_id)
            .await
            .unwrap()
            .unwrap()
    }

    async fn attempts(&self, p: &Payout) -> Vec<(A, O)> {
        let list = self
            .world
            .store
            .list_attempts(&p.shop_id, &p.payout_id)
            .await
            .unwrap();
        list.into_iter().map(|a| (a.action, a.outcome)).collect()
    }

    async fn held(&self) -> Money {
        self.world.shop_now().await.payout_held
    }
}

#[tokio::test]
async fn a_pending_payout_is_sent_once_and_succeeds() {
    let s = setup().await;
    let p = s.payout("o1", "12.30").await;
    assert_eq!(s.run(&p).await, Step::Done);
    assert_eq!(s.now(&p).await.status, PayoutStatus::Succeeded);
    assert_eq!(s.attempts(&p).await, vec![(A::Transfer, O::Succeeded)]);
    assert_eq!(s.sandbox.transfer_count(&p.payout_id), 1);
    assert_eq!(s.sandbox.moved_total(), money("12.30"));
    assert_eq!(s.held().await, Money::ZERO);
    assert_eq!(s.world.shop_now().await.payout_balance, money("987.70"));
    let ledger = s
        .world
        .store
        .list_ledger(&s.world.shop, BusinessDate::of(morning()))
        .await
        .unwrap();
    assert_eq!(ledger.len(), 1);

    // A duplicate delivery of the same message changes nothing.
    assert_eq!(s.run(&p).await, Step::Done);
    assert_eq!(s.attempts(&p).await.len(), 1);
    assert_eq!(s.sandbox.transfer_count(&p.payout_id), 1);
    assert!(s.alerts.raised().is_empty(), "{:?}", s.alerts.raised());
}

/// Final states are counted once, with the seconds each payout took
/// (issue 14's metrics): a duplicate delivery counts nothing again.
#[tokio::test]
async fn final_payouts_are_counted_once_with_their_seconds_to_final() {
    use qrpay_store::metrics::{scoped, MemoryMetrics, MetricName};
    let s = setup().await;
    let sink = Arc::new(MemoryMetrics::default());
    let ok = s.payout("m-ok", "1.00").await;
    s.sandbox.set_faults(faults(1000, 0, 0, 0)).unwrap();
    let bad = s.payout("m-bad", "1.00").await;
    scoped(sink.clone(), async {
        s.sandbox.set_faults(faults(0, 0, 0, 0)).unwrap();
        s.clock.advance_ms(90_000);
        assert_eq!(s.run(&ok).await, Step::Done);
        assert_eq!(s.run(&ok).await, Step::Done);
        s.sandbox.set_faults(faults(1000, 0, 0, 0)).unwrap();
        s.clock.advance_ms(30_000);
        assert_eq!(s.run(&bad).await, Step::Done);
    })
    .await;
    assert_eq!(s.now(&bad).await.status, PayoutStatus::Failed);
    assert_eq!(sink.sum(MetricName::PayoutsSucceeded, &[]), 1.0);
    assert_eq!(sink.sum(MetricName::PayoutsFailed, &[]), 1.0);
    // 90 s for the first, 120 s for the second (made at the same moment).
    assert_eq!(sink.sum(MetricName::PayoutSecondsToFinal, &[]), 210.0);
}

#[tokio::test]
async fn a_definitive_failure_releases_everything_and_notifies_the_shop() {
    let s = setup().await;
    s.sandbox.set_faults(faults(1000, 0, 0, 0)).unwrap();
    let p = s.payout("o1", "20.00").await;
    assert_eq!(s.run(&p).await, Step::Done);
    let failed = s.now(&p).await;
    assert_eq!(failed.status, PayoutStatus::Failed);
    assert_eq!(
        failed.failure_reason.as_deref(),
        Some(qrpay_provider::sandbox::FAULT_FAIL_REASON)
    );
    assert_eq!(s.held().await, Money::ZERO);
    assert_eq!(s.world.shop_now().await.payout_balance, money("1000.00"));
    assert_eq!(s.sandbox.moved_total(), Money::ZERO);
    let notices = s.world.store.list_notices(&s.world.shop, 10).await.unwrap();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].payout_id.as_ref(), Some(&p.payout_id));
    assert!(s.alerts.raised().is_empty(), "{:?}", s.alerts.raised());
}

#[tokio::test]
async fn a_provider_contradicting_a_final_payout_is_alerted_and_changes_nothing() {
    let s = setup().await;
    // Released as failed, then the provider says it paid.
    let failed = s.payout("o1", "4.00").await;
    s.world
        .store
        .fail_payout(
            &failed.shop_id,
            &failed.payout_id,
            "cancelled",
            s.clock.now(),
        )
        .await
        .unwrap();
    assert_eq!(
        s.worker.succeeded(&failed, "tx-late").await.unwrap(),
        Step::Done
    );
    assert_eq!(s.now(&failed).await.status, PayoutStatus::Failed);
    // Paid, then the provider says it refused.
    let paid = s.payout("o2", "6.00").await;
    assert_eq!(s.run(&paid).await, Step::Done);
    assert_eq!(
        s.worker.failed(&paid, "refused late").await.unwrap(),
        Step::Done
    );
    assert_eq!(s.now(&paid).await.status, PayoutStatus::Succeeded);

    let raised: Vec<_> = s
        .alerts
        .raised()
        .into_iter()
        .map(|a| (a.code, a.reference, a.shop_id))
        .collect();
    let shop = Some(s.world.shop.to_string());
    assert_eq!(
        raised,
        vec![
            (
                "PAYOUT_PROVIDER_CONTRADICTION".to_owned(),
                failed.payout_id.to_string(),
                shop.clone()
            ),
            (
                AlertCode::PayoutProviderContradiction.to_string(),
                paid.payout_id.to_string(),
                shop
            ),
        ]
    );
}

#[tokio::test]
async fn a_timeout_before_the_money_moved_is_queried_then_sent_again_under_the_same_id() {
    let s = setup().await;
    s.sandbox.set_faults(faults(0, 1000, 0, 0)).unwrap();
    let p = s.payout("o1", "5.00").await;
    assert_eq!(s.run(&p).await, Step::RetryLater);
    assert_eq!(
        s.now(&p).await.status,
        PayoutStatus::Processing,
        "ambiguous stays PROCESSING"
    );
    assert_eq!(s.sandbox.transfer_count(&p.payout_id), 0);

    s.sandbox.set_faults(SandboxFaults::default()).unwrap();
    assert_eq!(s.run(&p).await, Step::Done);
    assert_eq!(s.now(&p).await.status, PayoutStatus::Succeeded);
    assert_eq!(
        s.attempts(&p).await,
        vec![
            (A::Transfer, O::Ambiguous),
            (A::Query, O::NotFound),
            (A::Transfer, O::Succeeded)
        ]
    );
    assert_eq!(s.sandbox.transfer_count(&p.payout_id), 1);
}

#[tokio::test]
async fn a_timeout_after_the_money_moved_is_found_by_query_and_never_sent_again() {
    let s = setup().await;
    s.sandbox.set_faults(faults(0, 0, 1000, 0)).unwrap();
    let p = s.payout("o1", "5.00").await;
    assert_eq!(s.run(&p).await, Step::RetryLater);
    assert_eq!(s.sandbox.transfer_count(&p.payout_id), 1, "the money moved");
    assert_eq!(s.now(&p).await.status, PayoutStatus::Processing);

    assert_eq!(s.run(&p).await, Step::Done);
    assert_eq!(s.now(&p).await.status, PayoutStatus::Succeeded);
    assert_eq!(
        s.attempts(&p).await,
        vec![(A::Transfer, O::Ambiguous), (A::Query, O::Succeeded)]
    );
    assert_eq!(s.sandbox.transfer_count(&p.payout_id), 1);
    assert_eq!(s.sandbox.moved_total(), money("5.00"));
}

#[tokio::test]
async fn a_crash_after_the_provider_accepted_is_settled_by_query_not_resent() {
    let s = setup().await;
    let p = s.payout("o1", "8.00").await;
    // The worker moved it to PROCESSING, the provider paid, then the worker died
    // before writing anything.
    s.world
        .store
        .start_payout(&p.shop_id, &p.payout_id, s.clock.now())
        .await
        .unwrap();
    let request = TransferRequest {
        out_bill_no: p.payout_id.clone(),
        amount: p.amount,
        payee: Payee {
            shop_id: p.shop_id.clone(),
            order_id: p.order_id.clone(),
            provider_txn_id: None,
            account: None,
        },
    };
    s.sandbox.transfer(&request).await;

    // The message comes back: the retry asks first and settles.
    assert_eq!(s.run(&p).await, Step::Done);
    assert_eq!(s.now(&p).await.status, PayoutStatus::Succeeded);
    assert_eq!(s.attempts(&p).await, vec![(A::Query, O::Succeeded)]);
    assert_eq!(s.sandbox.transfer_count(&p.payout_id), 1);
    assert_eq!(s.held().await, Money::ZERO);
}

#[tokio::test]
async fn an_unanswered_query_leaves_it_processing_for_later() {
    let s = setup().await;
    s.sandbox.set_faults(faults(0, 0, 1000, 1000)).unwrap();
    let p = s.payout("o1", "8.00").await;
    assert_eq!(s.run(&p).await, Step::RetryLater);
    assert_eq!(s.run(&p).await, Step::RetryLater);
    assert_eq!(s.now(&p).await.status, PayoutStatus::Processing);
    assert_eq!(
        s.attempts(&p).await,
        vec![(A::Transfer, O::Ambiguous), (A::Query, O::Ambiguous)]
    );
    assert_eq!(
        s.held().await,
        money("8.00"),
        "nothing released on an ambiguous answer"
    );
}

#[tokio::test]
async fn final_and_unknown_payouts_are_left_alone() {
    let s = setup().await;
    let p = s.payout("o1", "8.00").await;
    s.world
        .store
        .fail_payout(&p.shop_id, &p.payout_id, "cancelled", s.clock.now())
        .await
        .unwrap();
    assert_eq!(
        s.run(&p).await,
        Step::Done,
        "an out-of-order message for a failed payout"
    );
    assert!(s.attempts(&p).await.is_empty());
    assert_eq!(s.sandbox.transfers().len(), 0);
    let ghost = PayoutMessage {
        shop_id: p.shop_id.clone(),
        payout_id: qrpay_domain::PayoutId::parse("po_ghost").unwrap(),
    };
    assert_eq!(s.worker.execute(&ghost).await.unwrap(), Step::Done);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicate_deliveries_pay_once() {
    let s = Arc::new(setup().await);
    s.sandbox.set_faults(faults(0, 300, 300, 200)).unwrap();
    let p = s.payout("o1", "9.99").await;
    for _round in 0..5 {
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let (s, p) = (s.clone(), p.clone());
            tasks.push(tokio::spawn(async move { s.run(&p).await }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }
    s.sandbox.set_faults(SandboxFaults::default()).unwrap();
    s.run(&p).await;
    assert_eq!(s.now(&p).await.status, PayoutStatus::Succeeded);
    assert_eq!(s.sandbox.transfer_count(&p.payout_id), 1);
    assert_eq!(s.sandbox.moved_total(), money("9.99"));
    let ledger = s
        .world
        .store
        .list_ledger(&s.world.shop, BusinessDate::of(morning()))
        .await
        .unwrap();
    assert_eq!(ledger.len(), 1);
}

/// Records the delays asked for, like SQS's ChangeMessageVisibility.
#[derive(Default)]
struct Delays(Mutex<Vec<(String, u32)>>);

#[async_trait]
impl Redelivery for Delays {
    async fn delay(&self, receipt_handle: &str, delay_s: u32) -> Result<(), QueueError> {
        self.0
            .lock()
            .unwrap()
            .push((receipt_handle.to_owned(), delay_s));
        Ok(())
    }
}

#[tokio::test]
async fn a_batch_reports_only_the_unsettled_and_poison_messages() {
    let s = setup().await;
    let done = s.payout("o1", "1.00").await;
    let fixture = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../events/payout-worker/sqs-batch.json"
    ))
    .unwrap();
    let mut event: SqsEvent = serde_json::from_str(&fixture).unwrap();
    assert_eq!(
        event.records.len(),
        3,
        "fixture: a good message, one for a payout the provider cannot settle yet, a poison one"
    );
    // Point the first two records at real payouts.
    event.records[0].body = Some(PayoutMessage::for_payout(&done).to_json());
    let batch = handle_batch(&s.worker, &Delays::default(), event.clone()).await;
    let failed: Vec<_> = batch
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(s.now(&done).await.status, PayoutStatus::Succeeded);
    // Record 1 names an unknown payout (dropped as done); record 2 is poison.
    assert_eq!(failed, vec!["msg-3-poison".to_owned()]);

    s.sandbox.set_faults(faults(0, 1000, 0, 0)).unwrap();
    let waiting = s.payout("o2", "2.00").await;
    let mut retry = event.clone();
    retry.records.truncate(1);
    retry.records[0].body = Some(PayoutMessage::for_payout(&waiting).to_json());
    retry.records[0]
        .attributes
        .insert("ApproximateReceiveCount".into(), "3".into());
    let delays = Delays::default();
    let batch = handle_batch(&s.worker, &delays, retry).await;
    assert_eq!(batch.batch_item_failures.len(), 1);
    assert_eq!(batch.batch_item_failures[0].item_identifier, "msg-1-ok");
    assert_eq!(
        delays.0.lock().unwrap().clone(),
        vec![("receipt-1".to_owned(), 40)],
        "third receive waits 40 s"
    );
}

#[derive(Default)]
struct Raised(Mutex<Vec<Alert>>);

#[async_trait]
impl Alerts for Raised {
    async fn raise(&self, alert: &Alert) {
        self.0.lock().unwrap().push(alert.clone());
    }
}

#[tokio::test]
async fn the_sweeper_redispatches_settles_and_alerts() {
    let s = setup().await;
    let queue = MemoryQueue::new();
    let raised = Raised::default();
    // Died between reservation and enqueue.
    let orphan = s.payout("o1", "1.00").await;
    // Sent, money moved, answer lost, and its message lost too.
    s.sandbox.set_faults(faults(0, 0, 1000, 0)).unwrap();
    let lost = s.payout("o2", "2.00").await;
    assert_eq!(s.run(&lost).await, Step::RetryLater);
    s.sandbox.set_faults(SandboxFaults::default()).unwrap();

    // Too early for both.
    s.clock.advance_ms(30_000);
    assert_eq!(
        sweep(&s.worker, &queue, &raised)
            .await
            .unwrap()
            .redispatched,
        0
    );
    assert!(queue.is_empty());

    s.clock.advance_ms(100_000);
    let report = sweep(&s.worker, &queue, &raised).await.unwrap();
    assert_eq!(
        (
            report.redispatched,
            report.queried,
            report.settled,
            report.alerts
        ),
        (1, 1, 1, 0)
    );
    assert_eq!(queue.take(10)[0].payout_id, orphan.payout_id);
    assert_eq!(s.now(&lost).await.status, PayoutStatus::Succeeded);
    assert_eq!(s.sandbox.transfer_count(&lost.payout_id), 1);

    // A payout the provider cannot account for: alert after 30 minutes.
    s.sandbox.set_faults(faults(0, 0, 1000, 1000)).unwrap();
    let stuck = s.payout("o3", "3.00").await;
    s.run(&stuck).await;
    s.clock.advance_ms(Duration::minutes(31).num_milliseconds());
    let report = sweep(&s.worker, &queue, &raised).await.unwrap();
    assert_eq!(
        report.alerts, 2,
        "the stuck one and the orphan still pending: {report:?}"
    );
    let codes: Vec<_> = raised
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|a| (a.code.clone(), a.reference.clone()))
        .collect();
    assert!(codes.contains(&("PAYOUT_NOT_FINAL".to_owned(), stuck.payout_id.to_string())));
}

/// Issue 14: a sweep fits its function. More stale `PROCESSING` payouts
/// than it queries itself: the first few are queried inline, every other
/// one is handed to the queue exactly once (its worker queries before it
/// re-sends), and the overdue alerts come before any query.
#[tokio::test]
async fn a_sweep_queries_a_few_inline_and_hands_the_rest_to_the_queue() {
    use payout_worker::sweeper::SWEEP_INLINE_QUERIES;
    let s = setup().await;
    let queue = MemoryQueue::new();
    let raised = Raised::default();
    // Sent, answers lost, and every query unanswered: all stay PROCESSING.
    s.sandbox.set_faults(faults(0, 0, 1000, 1000)).unwrap();
    let count = SWEEP_INLINE_QUERIES + 5;
    let mut stuck = Vec::new();
    for i in 0..count {
        let p = s.payout(&format!("fan-{i}"), "1.00").await;
        assert_eq!(s.run(&p).await, Step::RetryLater);
        stuck.push(p);
    }
    s.clock.advance_ms(Duration::minutes(31).num_milliseconds());
    let report = sweep(&s.worker, &queue, &raised).await.unwrap();
    assert_eq!(
        (
            report.queried,
            report.fanned_out,
            report.alerts,
            report.errors
        ),
        (SWEEP_INLINE_QUERIES, 5, count, 0),
        "{report:?}"
    );
    let handed: std::collections::BTreeSet<_> =
        queue.take(100).into_iter().map(|m| m.payout_id).collect();
    assert_eq!(handed.len(), 5);
    assert!(handed
        .iter()
        .all(|id| stuck.iter().any(|p| &p.payout_id == id)));
    for p in &stuck {
        assert_eq!(s.now(p).await.status, PayoutStatus::Processing);
        assert!(s.sandbox.transfer_count(&p.payout_id) <= 1);
    }
}

/// More stale payouts than a run looks at: each run goes on where the last
/// one stopped (the store keeps the cursor), so all are re-dispatched within
/// ⌈7 / 3⌉ runs, and the walk then starts over from the oldest.
#[tokio::test]
async fn the_sweep_walks_on_past_the_oldest_batch() {
    use payout_worker::sweeper::sweep_in_batches;
    let s = setup().await;
    let queue = MemoryQueue::new();
    let raised = Raised::default();
    let mut waiting = Vec::new();
    for i in 0..7 {
        waiting.push(s.payout(&format!("walk-{i}"), "1.00").await.payout_id);
        s.clock.advance_ms(1_000);
    }
    s.clock.advance_ms(Duration::minutes(2).num_milliseconds());
    let mut runs = Vec::new();
    for _ in 0..4 {
        let report = sweep_in_batches(&s.worker, &queue, &raised, 3)
            .await
            .unwrap();
        let sent: Vec<_> = queue.take(100).into_iter().map(|m| m.payout_id).collect();
        assert_eq!(report.redispatched, sent.len());
        runs.push(sent);
    }
    assert_eq!(runs[0], waiting[0..3]);
    assert_eq!(runs[1], waiting[3..6]);
    // The last one, topped up from the oldest: nobody waits a whole cycle.
    assert_eq!(runs[2], [&waiting[6..7], &waiting[0..2]].concat());
    assert_eq!(runs[3], waiting[2..5]);
    // With the ones found, a later run looks only at those still stale.
    for id in &waiting[..6] {
        let p = s
            .world
            .store
            .get_payout(&s.world.shop, id)
            .await
            .unwrap()
            .unwrap();
        s.run(&p).await;
    }
    let report = sweep_in_batches(&s.worker, &queue, &raised, 3)
        .await
        .unwrap();
    let sent: Vec<_> = queue.take(100).into_iter().map(|m| m.payout_id).collect();
    assert_eq!((report.redispatched, sent), (1, waiting[6..7].to_vec()));
}

/// Both sample events of this function (`events/payout-worker/`) go through
/// the Lambda entry point as Lambda delivers them.
#[tokio::test]
async fn the_sample_events_run_through_the_entry_point() {
    let s = setup().await;
    let queue = MemoryQueue::new();
    let alerts = qrpay_store::alerts::MemoryAlerts::new();
    let read = |name: &str| -> serde_json::Value {
        let path = format!(
            "{}/../../events/payout-worker/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    // The SQS batch as delivered: two unknown payouts are dropped as done,
    // the poison message comes back for the DLQ.
    let answer = payout_worker::batch::dispatch(&s.worker, &queue, &alerts, read("sqs-batch.json"))
        .await
        .unwrap();
    assert_eq!(
        answer,
        serde_json::json!({"batchItemFailures": [{"itemIdentifier": "msg-3-poison"}]})
    );
    // The schedule: a payout left PENDING for long is dispatched again.
    let stuck = s.payout("o9", "3.00").await;
    s.clock.advance_ms(10 * 60 * 1000);
    let answer =
        payout_worker::batch::dispatch(&s.worker, &queue, &alerts, read("sweep-schedule.json"))
            .await
            .unwrap();
    assert_eq!(answer["redispatched"], 1, "{answer}");
    assert_eq!(queue.len(), 1);
    assert_eq!(s.now(&stuck).await.status, PayoutStatus::Pending);
    assert!(alerts.raised().is_empty());
}
