//! Merchant refunds through the worker (BUYER_PAGES §11.4), on the embedded
//! store with a scripted refund gateway: `PROCESSING` before the provider is
//! called, query before any resend, the same refund id only on `NotFound`,
//! each outcome's final state, and the sweeper's part.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_lambda_events::event::sqs::SqsEvent;
use payout_worker::batch::handle_batch;
use payout_worker::sweeper::sweep;
use payout_worker::{Step, Worker};
use qrpay_domain::{
    BusinessDate, Clock, LedgerKind, NoticeKind, OrderId, OrderStatus, Provider, Refund,
    RefundStatus, TestClock,
};
use qrpay_provider::gateway::{
    Gateways, RefundGateway, RefundNo, RefundOutcome, RefundRequest as GatewayRefund,
};
use qrpay_queue::{MemoryQueue, QueueError, Redelivery, RefundMessage, WorkMessage};
use qrpay_store::alerts::MemoryAlerts;
use qrpay_store::{MemoryStore, Store};
use qrpay_tests::refund_contract::{refund_created, refund_request, wechat_order};
use qrpay_tests::world::morning;
use qrpay_tests::World;

/// What the gateway saw: each call, and the refund's status at that moment.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    Refund(String, RefundStatus),
    Query(String),
}

/// A WeChat refund gateway answering from a script (then `Ambiguous`).
struct Scripted {
    store: Arc<dyn Store>,
    shop: qrpay_domain::ShopId,
    refunds: Mutex<VecDeque<RefundOutcome>>,
    queries: Mutex<VecDeque<RefundOutcome>>,
    calls: Mutex<Vec<Call>>,
}

impl Scripted {
    fn next(list: &Mutex<VecDeque<RefundOutcome>>) -> RefundOutcome {
        list.lock()
            .unwrap()
            .pop_front()
            .unwrap_or(RefundOutcome::Ambiguous {
                detail: "script ran out".into(),
            })
    }
}

#[async_trait]
impl RefundGateway for Scripted {
    fn provider(&self) -> Provider {
        Provider::Wechatpay
    }

    async fn refund(&self, request: &GatewayRefund) -> RefundOutcome {
        let id = qrpay_domain::RefundId::parse(request.refund_no.as_str()).unwrap();
        let now = self.store.get_refund(&self.shop, &id).await.unwrap();
        let status = now.map(|r| r.status).expect("the refund exists");
        let call = Call::Refund(request.refund_no.as_str().to_owned(), status);
        self.calls.lock().unwrap().push(call);
        Scripted::next(&self.refunds)
    }

    async fn query_refund(&self, _: &OrderId, refund_no: &RefundNo) -> RefundOutcome {
        let call = Call::Query(refund_no.as_str().to_owned());
        self.calls.lock().unwrap().push(call);
        Scripted::next(&self.queries)
    }
}

struct Setup {
    world: World,
    clock: Arc<TestClock>,
    gateway: Arc<Scripted>,
    alerts: Arc<MemoryAlerts>,
    worker: Worker,
}

async fn setup(refunds: Vec<RefundOutcome>, queries: Vec<RefundOutcome>) -> Setup {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let world = World::new(store.clone(), "15000.00", "1000.00").await;
    wechat_order(&world, "o-1", "100.00").await;
    let clock = Arc::new(TestClock::at(morning()));
    let gateway = Arc::new(Scripted {
        store: store.clone(),
        shop: world.shop.clone(),
        refunds: Mutex::new(refunds.into()),
        queries: Mutex::new(queries.into()),
        calls: Mutex::default(),
    });
    let mut gateways = Gateways::default();
    gateways
        .refunds
        .insert(Provider::Wechatpay, gateway.clone());
    let alerts = Arc::new(MemoryAlerts::new());
    let worker = Worker {
        payouts: store.clone(),
        refunds: store.clone(),
        collection: store.clone(),
        gateways,
        clock: clock.clone(),
        alerts: alerts.clone(),
        pos: None,
    };
    Setup {
        world,
        clock,
        gateway,
        alerts,
        worker,
    }
}

fn succeeded(id: &str) -> RefundOutcome {
    RefundOutcome::Succeeded {
        provider_refund_id: Some(id.into()),
    }
}

fn ambiguous() -> RefundOutcome {
    RefundOutcome::Ambiguous {
        detail: "timeout".into(),
    }
}

impl Setup {
    async fn refund(&self, amount: &str) -> Refund {
        let o = OrderId::parse("o-1").unwrap();
        let req = refund_request(
            &self.world,
            &self.world.owner,
            &o,
            amount,
            "k-1",
            self.clock.now(),
        );
        refund_created(&self.world, &req).await
    }

    async fn now(&self, r: &Refund) -> Refund {
        let store = &self.world.store;
        store
            .get_refund(&r.shop_id, &r.refund_id)
            .await
            .unwrap()
            .unwrap()
    }

    async fn step(&self, r: &Refund) -> Step {
        let m = RefundMessage::for_refund(r);
        self.worker.execute_refund(&m).await.unwrap()
    }

    fn calls(&self) -> Vec<Call> {
        self.gateway.calls.lock().unwrap().clone()
    }

    /// The order's refunded and pending totals, status, and the shop's
    /// balance and hold.
    async fn books(&self) -> (String, String, OrderStatus, String, String) {
        let o = OrderId::parse("o-1").unwrap();
        let store = &self.world.store;
        let order = store
            .get_order(&self.world.shop, &o)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(qrpay_domain::check_books(&order), Ok(()), "{order:?}");
        let shop = self.world.shop_now().await;
        (
            order.refunded_amount.to_string(),
            order.refunds_pending_total.to_string(),
            order.status,
            shop.payout_balance.to_string(),
            shop.payout_held.to_string(),
        )
    }

    async fn refund_ledger(&self) -> Vec<(String, String, Option<String>)> {
        let store = &self.world.store;
        let day = BusinessDate::of(morning());
        let entries = store.list_ledger(&self.world.shop, day).await.unwrap();
        entries
            .into_iter()
            .filter(|e| e.kind == LedgerKind::Refund)
            .map(|e| (e.entry_id, e.amount.to_string(), e.provider_ref))
            .collect()
    }
}

#[tokio::test]
async fn a_refund_is_processing_before_it_is_sent_and_settles_once_on_success() {
    let s = setup(vec![succeeded("50300000001")], vec![]).await;
    let r = s.refund("30.00").await;
    assert_eq!(s.step(&r).await, Step::Done);
    let id = r.refund_id.to_string();
    assert_eq!(
        s.calls(),
        vec![Call::Refund(id.clone(), RefundStatus::Processing)]
    );
    let done = s.now(&r).await;
    assert_eq!(done.status, RefundStatus::Succeeded);
    assert_eq!(done.provider_refund_id.as_deref(), Some("50300000001"));
    assert_eq!(
        s.books().await,
        (
            "30.00".into(),
            "0.00".into(),
            OrderStatus::PartiallyRefunded,
            "970.00".into(),
            "0.00".into()
        )
    );
    let ledger = vec![(
        "refund-wechatpay-50300000001".to_owned(),
        "30.00".to_owned(),
        Some("50300000001".to_owned()),
    )];
    assert_eq!(s.refund_ledger().await, ledger);
    // A late duplicate delivery changes nothing and calls no one.
    assert_eq!(s.step(&r).await, Step::Done);
    assert_eq!(s.calls().len(), 1);
    assert_eq!(s.refund_ledger().await, ledger);
}

#[tokio::test]
async fn an_ambiguous_send_stays_processing_and_the_retry_queries_instead_of_resending() {
    let s = setup(
        vec![ambiguous()],
        vec![RefundOutcome::InProgress, succeeded("R-2")],
    )
    .await;
    let r = s.refund("100.00").await;
    assert_eq!(s.step(&r).await, Step::RetryLater);
    assert_eq!(s.now(&r).await.status, RefundStatus::Processing);
    assert_eq!(s.step(&r).await, Step::RetryLater);
    assert_eq!(s.step(&r).await, Step::Done);
    let id = r.refund_id.to_string();
    assert_eq!(
        s.calls(),
        vec![
            Call::Refund(id.clone(), RefundStatus::Processing),
            Call::Query(id.clone()),
            Call::Query(id),
        ]
    );
    assert_eq!(s.now(&r).await.status, RefundStatus::Succeeded);
    let books = s.books().await;
    assert_eq!(
        (books.0.as_str(), books.2),
        ("100.00", OrderStatus::Refunded)
    );
    assert_eq!(s.refund_ledger().await.len(), 1);
}

#[tokio::test]
async fn only_not_found_resends_and_always_under_the_same_refund_id() {
    let queries = vec![RefundOutcome::NotFound];
    let s = setup(vec![ambiguous(), succeeded("R-3")], queries).await;
    let r = s.refund("10.00").await;
    assert_eq!(s.step(&r).await, Step::RetryLater);
    assert_eq!(s.step(&r).await, Step::Done);
    let id = r.refund_id.to_string();
    assert_eq!(
        s.calls(),
        vec![
            Call::Refund(id.clone(), RefundStatus::Processing),
            Call::Query(id.clone()),
            Call::Refund(id, RefundStatus::Processing),
        ]
    );
    assert_eq!(s.refund_ledger().await.len(), 1);
}

#[tokio::test]
async fn a_definitive_failure_releases_everything_and_tells_the_merchant() {
    let failed = RefundOutcome::Failed {
        code: "ACQ.TRADE_NOT_ALLOW_REFUND".into(),
        reason: "交易不允许退款".into(),
    };
    let s = setup(vec![failed], vec![]).await;
    let before = s.books().await;
    let r = s.refund("25.00").await;
    assert_eq!(s.step(&r).await, Step::Done);
    let done = s.now(&r).await;
    assert_eq!(done.status, RefundStatus::Failed);
    assert!(
        done.failure_reason
            .as_deref()
            .unwrap()
            .starts_with("ACQ.TRADE_NOT_ALLOW_REFUND"),
        "{done:?}"
    );
    assert_eq!(s.books().await, before, "everything released");
    assert!(s.refund_ledger().await.is_empty());
    let notices = s.world.store.list_notices(&s.world.shop, 10).await.unwrap();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].kind, NoticeKind::RefundFailed);
}

#[tokio::test]
async fn a_short_merchant_balance_at_the_provider_keeps_the_refund_processing() {
    let not_yet = RefundOutcome::NotDoneYet {
        reason: "NOT_ENOUGH".into(),
    };
    let s = setup(vec![not_yet], vec![RefundOutcome::InProgress]).await;
    let r = s.refund("5.00").await;
    assert_eq!(s.step(&r).await, Step::RetryLater);
    assert_eq!(s.step(&r).await, Step::RetryLater);
    assert_eq!(s.now(&r).await.status, RefundStatus::Processing);
    assert_eq!(s.books().await.1, "5.00", "still reserved");
}

#[tokio::test]
async fn the_sweeper_redispatches_stale_pending_and_queries_stale_processing_refunds() {
    let s = setup(vec![ambiguous()], vec![succeeded("R-9")]).await;
    let queue = MemoryQueue::with_clock(s.clock.clone(), 60_000, 5);
    let pending = s.refund("10.00").await;
    // Within a minute, nothing to do.
    s.clock.advance_ms(30_000);
    let report = sweep(&s.worker, &queue, s.alerts.as_ref()).await.unwrap();
    assert_eq!((report.redispatched, report.queried), (0, 0));
    s.clock.advance_ms(31_000);
    let report = sweep(&s.worker, &queue, s.alerts.as_ref()).await.unwrap();
    assert_eq!((report.redispatched, report.queried), (1, 0));
    let delivered = queue.receive(10);
    assert_eq!(delivered.len(), 1);
    match WorkMessage::from_json(&delivered[0].body).unwrap() {
        WorkMessage::Refund(m) => assert_eq!(m.refund_id, pending.refund_id),
        other => panic!("{other:?}"),
    }
    // The worker sends it; the answer is lost: it stays PROCESSING.
    let event = sqs(&delivered[0].body);
    let response = handle_batch(&s.worker, &NoDelay, event).await;
    assert_eq!(response.batch_item_failures.len(), 1, "comes back later");
    assert_eq!(s.now(&pending).await.status, RefundStatus::Processing);
    s.clock.advance_ms(121_000);
    let report = sweep(&s.worker, &queue, s.alerts.as_ref()).await.unwrap();
    assert_eq!((report.queried, report.settled), (1, 1));
    assert_eq!(s.now(&pending).await.status, RefundStatus::Succeeded);
    assert!(s.alerts.raised().is_empty());
}

#[tokio::test]
async fn a_refund_left_open_for_72_hours_raises_one_alert_per_sweep() {
    let s = setup(vec![ambiguous()], vec![]).await;
    let r = s.refund("10.00").await;
    assert_eq!(s.step(&r).await, Step::RetryLater);
    let queue = MemoryQueue::with_clock(s.clock.clone(), 60_000, 5);
    s.clock.advance_ms(71 * 3600 * 1000);
    sweep(&s.worker, &queue, s.alerts.as_ref()).await.unwrap();
    assert!(s.alerts.raised().is_empty());
    s.clock.advance_ms(3600 * 1000 + 1000);
    let report = sweep(&s.worker, &queue, s.alerts.as_ref()).await.unwrap();
    assert_eq!(report.alerts, 1);
    let raised = s.alerts.raised();
    assert_eq!(raised[0].code, "REFUND_NOT_FINAL");
    assert_eq!(raised[0].reference, r.refund_id.to_string());
}

#[tokio::test]
async fn a_message_of_an_unknown_kind_is_a_poison_message() {
    let s = setup(vec![], vec![]).await;
    let body = r#"{"kind":"chargeback","shop_id":"shop-1","refund_id":"rf_1"}"#;
    let response = handle_batch(&s.worker, &NoDelay, sqs(body)).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert!(s.calls().is_empty());
}

fn sqs(body: &str) -> SqsEvent {
    let event = serde_json::json!({"Records": [{
        "messageId": "m-1", "receiptHandle": "h-1", "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
    }]});
    serde_json::from_value(event).unwrap()
}

struct NoDelay;

#[async_trait]
impl Redelivery for NoDelay {
    async fn delay(&self, _: &str, _: u32) -> Result<(), QueueError> {
        Ok(())
    }
}
