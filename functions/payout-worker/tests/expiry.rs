//! The sweeper closes orders that expired unpaid (SPEC §10): at their
//! provider first when they have an order there, each provider answer
//! leading to exactly one outcome, on the embedded store with a provider
//! that answers from a script.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::Duration;
use payout_worker::expiry::{close_expired_orders, ExpiryReport, EXPIRY_BATCH};
use payout_worker::sweeper::sweep;
use payout_worker::Worker;
use qrpay_domain::{
    Amount, AnomalyKind, Clock, DeviceId, Order, OrderId, OrderStatus, PayerAccount,
    PayerAccountKind, Provider, TestClock,
};
use qrpay_provider::gateway::{
    CloseOutcome, CollectRequest, CollectionGateway, CreateOutcome, Gateways, TradeState,
};
use qrpay_queue::publish::MemoryPublisher;
use qrpay_queue::MemoryQueue;
use qrpay_store::alerts::MemoryAlerts;
use qrpay_store::{MemoryStore, Store};
use qrpay_tests::world::{money, morning};
use qrpay_tests::World;

/// A provider's collection API answering from a script, recording calls.
struct Scripted {
    closes: Mutex<VecDeque<CloseOutcome>>,
    queries: Mutex<VecDeque<TradeState>>,
    calls: Mutex<Vec<String>>,
}

#[async_trait]
impl CollectionGateway for Scripted {
    fn provider(&self) -> Provider {
        Provider::Wechatpay
    }
    async fn create(&self, _: &CollectRequest) -> CreateOutcome {
        unreachable!("the sweeper creates nothing")
    }
    async fn query(&self, order_id: &OrderId) -> TradeState {
        self.calls.lock().unwrap().push(format!("query {order_id}"));
        self.queries
            .lock()
            .unwrap()
            .pop_front()
            .expect("a scripted query")
    }
    async fn close(&self, order_id: &OrderId) -> CloseOutcome {
        self.calls.lock().unwrap().push(format!("close {order_id}"));
        self.closes
            .lock()
            .unwrap()
            .pop_front()
            .expect("a scripted close")
    }
}

struct Setup {
    world: World,
    clock: Arc<TestClock>,
    alerts: Arc<MemoryAlerts>,
    provider: Arc<Scripted>,
    worker: Worker,
}

async fn setup(closes: Vec<CloseOutcome>, queries: Vec<TradeState>) -> Setup {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let world = World::new(store.clone(), "15000.00", "0.00").await;
    let clock = Arc::new(TestClock::at(morning()));
    let alerts = Arc::new(MemoryAlerts::new());
    let provider = Arc::new(Scripted {
        closes: Mutex::new(closes.into()),
        queries: Mutex::new(queries.into()),
        calls: Mutex::default(),
    });
    let mut gateways = Gateways::default();
    gateways
        .collection
        .insert(Provider::Wechatpay, provider.clone());
    let worker = Worker {
        payouts: store.clone(),
        refunds: store.clone(),
        collection: store,
        gateways,
        clock: clock.clone(),
        alerts: alerts.clone(),
        pos: None,
    };
    Setup {
        world,
        clock,
        alerts,
        provider,
        worker,
    }
}

impl Setup {
    /// An unpaid order expiring in 15 minutes, with an order at `provider`.
    async fn order(&self, id: &str, provider: Option<Provider>) -> OrderId {
        let now = self.clock.now();
        let order = Order {
            expires_at: Some(now + Duration::seconds(900)),
            provider_order: provider,
            ..Order::created(
                OrderId::parse(id).unwrap(),
                self.world.shop.clone(),
                Amount::parse("9.90").unwrap(),
                now,
            )
        };
        assert!(self.world.store.insert_order(&order).await.unwrap());
        order.order_id
    }

    async fn status(&self, id: &OrderId) -> (OrderStatus, String) {
        let o = self
            .world
            .store
            .get_order(&self.world.shop, id)
            .await
            .unwrap()
            .unwrap();
        (o.status, o.paid_amount.to_string())
    }

    fn calls(&self) -> Vec<String> {
        self.provider.calls.lock().unwrap().clone()
    }
}

fn report(expired: usize, closed: usize, paid: usize, left: usize) -> ExpiryReport {
    ExpiryReport {
        expired,
        closed,
        paid,
        left,
    }
}

fn paid_trade(amount: &str) -> TradeState {
    TradeState::Paid {
        provider_txn_id: "4200000001".into(),
        amount: Amount::parse(amount).unwrap(),
        account: Some(
            PayerAccount::new(
                PayerAccountKind::WechatOpenid,
                "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
            )
            .unwrap(),
        ),
    }
}

#[tokio::test]
async fn nothing_closes_before_its_expiry_and_an_order_without_provider_closes_here() {
    let s = setup(vec![], vec![]).await;
    let id = s.order("ord_local", None).await;
    s.clock.advance_ms(899000);
    assert_eq!(close_expired_orders(&s.worker).await, report(0, 0, 0, 0));
    s.clock.advance_ms(1000);
    assert_eq!(close_expired_orders(&s.worker).await, report(1, 1, 0, 0));
    assert_eq!(s.status(&id).await, (OrderStatus::Closed, "0.00".into()));
    assert_eq!(s.calls(), Vec::<String>::new(), "no provider asked");
    assert_eq!(close_expired_orders(&s.worker).await, report(0, 0, 0, 0));
}

#[tokio::test]
async fn an_order_at_the_provider_is_closed_there_first_then_here() {
    let s = setup(vec![CloseOutcome::Closed, CloseOutcome::NotFound], vec![]).await;
    let a = s.order("ord_a", Some(Provider::Wechatpay)).await;
    let b = s.order("ord_b", Some(Provider::Wechatpay)).await;
    s.clock.advance_ms(900000);
    assert_eq!(close_expired_orders(&s.worker).await, report(2, 2, 0, 0));
    assert_eq!(s.calls(), ["close ord_a", "close ord_b"]);
    assert_eq!(s.status(&a).await.0, OrderStatus::Closed);
    assert_eq!(s.status(&b).await.0, OrderStatus::Closed);
}

fn unclear() -> CloseOutcome {
    CloseOutcome::Ambiguous {
        detail: "timeout".into(),
    }
}

#[tokio::test]
async fn an_unclear_close_asks_and_waits_while_the_provider_cannot_say_it_is_closed() {
    let ambiguous = TradeState::Ambiguous {
        detail: "timeout".into(),
    };
    let closed = TradeState::Closed {
        reason: "CLOSED".into(),
    };
    let s = setup(
        vec![unclear(), unclear(), unclear()],
        vec![TradeState::Waiting, ambiguous, closed],
    )
    .await;
    let id = s.order("ord_amb", Some(Provider::Wechatpay)).await;
    s.clock.advance_ms(901_000);
    // Still open there (Waiting), then no answer: ours stays open.
    assert_eq!(close_expired_orders(&s.worker).await, report(1, 0, 0, 1));
    assert_eq!(close_expired_orders(&s.worker).await, report(1, 0, 0, 1));
    assert_eq!(s.status(&id).await.0, OrderStatus::Created);
    // Closed there: ours closes too.
    assert_eq!(close_expired_orders(&s.worker).await, report(1, 1, 0, 0));
    assert_eq!(s.status(&id).await.0, OrderStatus::Closed);
    assert_eq!(
        s.calls(),
        ["close ord_amb", "query ord_amb"].repeat(3),
        "one close and one query a run"
    );
}

#[tokio::test]
async fn an_unclear_close_of_a_trade_paid_there_ends_paid() {
    // Alipay answers the close of a paid trade ACQ.TRADE_STATUS_ERROR.
    let s = setup(vec![unclear()], vec![paid_trade("9.90")]).await;
    let id = s.order("ord_ali", Some(Provider::Wechatpay)).await;
    s.clock.advance_ms(900_000);
    assert_eq!(close_expired_orders(&s.worker).await, report(1, 0, 1, 0));
    assert_eq!(s.status(&id).await, (OrderStatus::Paid, "9.90".into()));
}

#[tokio::test]
async fn a_provider_saying_paid_then_closed_is_left_for_the_next_sweep() {
    let closed = TradeState::Closed {
        reason: "CLOSED".into(),
    };
    let s = setup(vec![CloseOutcome::AlreadyPaid], vec![closed]).await;
    let id = s.order("ord_odd", Some(Provider::Wechatpay)).await;
    s.clock.advance_ms(900_000);
    assert_eq!(close_expired_orders(&s.worker).await, report(1, 0, 0, 1));
    assert_eq!(s.status(&id).await.0, OrderStatus::Created);
}

#[tokio::test]
async fn paid_at_the_provider_before_the_close_the_order_ends_paid_as_its_notice_would() {
    let s = setup(vec![CloseOutcome::AlreadyPaid], vec![paid_trade("9.90")]).await;
    let id = s.order("ord_paid", Some(Provider::Wechatpay)).await;
    s.clock.advance_ms(905000);
    assert_eq!(close_expired_orders(&s.worker).await, report(1, 0, 1, 0));
    assert_eq!(s.calls(), ["close ord_paid", "query ord_paid"]);
    assert_eq!(s.status(&id).await, (OrderStatus::Paid, "9.90".into()));
    let order = s
        .world
        .store
        .get_order(&s.world.shop, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(order.provider, Some(Provider::Wechatpay));
    assert_eq!(order.provider_txn_id.unwrap().as_str(), "4200000001");
    assert_eq!(s.world.shop_now().await.payout_balance, money("9.90"));
    assert!(s.alerts.raised().is_empty());
    // The provider's own notice, arriving late, changes nothing more.
    let late = qrpay_tests::collection_contract::payment(&id, "EV-late", "4200000001", "9.90");
    let again = s
        .world
        .store
        .apply_collection(&late, s.clock.now())
        .await
        .unwrap();
    assert_eq!(again, qrpay_domain::Decision::AlreadyApplied);
    assert_eq!(s.world.shop_now().await.payout_balance, money("9.90"));
}

#[tokio::test]
async fn a_payment_the_sweeper_finds_is_told_once_to_the_pos_that_issued_the_order() {
    let mut s = setup(vec![CloseOutcome::AlreadyPaid], vec![paid_trade("9.90")]).await;
    let pos = Arc::new(MemoryPublisher::new());
    s.worker.pos = Some(pos.clone());
    let (mut code, order) =
        qrpay_tests::collection_contract::dynamic_code(&s.world, "pos-late", "9.90", None);
    code.device_id = Some(DeviceId::parse("till-7").unwrap());
    let order = Order {
        expires_at: Some(s.clock.now() + Duration::seconds(900)),
        provider_order: Some(Provider::Wechatpay),
        ..order
    };
    s.world.store.issue_qr(&code, Some(&order)).await.unwrap();
    s.clock.advance_ms(905000);
    assert_eq!(close_expired_orders(&s.worker).await, report(1, 0, 1, 0));
    let published = pos.take();
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(published[0].0, "pos/till-7/order/result");
    let result: serde_json::Value = serde_json::from_slice(&published[0].1).unwrap();
    assert_eq!(
        (
            &result["order_id"],
            &result["status"],
            &result["paid_amount"],
            &result["provider_txn_id"]
        ),
        (
            &serde_json::json!(order.order_id),
            &serde_json::json!("PAID"),
            &serde_json::json!("9.90"),
            &serde_json::json!("4200000001")
        )
    );
    // The provider's notice arriving late applies nothing and tells nobody;
    // the next sweep has nothing left to close.
    let late =
        qrpay_tests::collection_contract::payment(&order.order_id, "EV-late", "4200000001", "9.90");
    let again = qrpay_store::collected::apply_collection_event(
        s.world.store.as_ref(),
        s.alerts.as_ref(),
        Some(pos.as_ref()),
        &late,
        s.clock.now(),
    )
    .await
    .unwrap();
    assert_eq!(again, qrpay_domain::Decision::AlreadyApplied);
    assert_eq!(close_expired_orders(&s.worker).await, report(0, 0, 0, 0));
    assert!(pos.take().is_empty());
}

#[tokio::test]
async fn a_provider_payment_of_another_amount_is_an_alerted_anomaly_and_not_closed() {
    let s = setup(vec![CloseOutcome::AlreadyPaid], vec![paid_trade("99.00")]).await;
    let id = s.order("ord_odd", Some(Provider::Wechatpay)).await;
    s.clock.advance_ms(900000);
    assert_eq!(close_expired_orders(&s.worker).await, report(1, 0, 0, 1));
    assert_eq!(s.status(&id).await, (OrderStatus::Created, "0.00".into()));
    let raised: Vec<String> = s.alerts.raised().into_iter().map(|a| a.code).collect();
    assert_eq!(
        raised,
        [format!(
            "COLLECTION_{}",
            AnomalyKind::AmountMismatch.as_str()
        )]
    );
    assert_eq!(s.world.shop_now().await.payout_balance, money("0.00"));
}

#[tokio::test]
async fn an_order_whose_provider_is_no_longer_configured_closes_here() {
    let s = setup(vec![], vec![]).await;
    let id = s.order("ord_gone", Some(Provider::Alipay)).await;
    s.clock.advance_ms(900000);
    assert_eq!(close_expired_orders(&s.worker).await, report(1, 1, 0, 0));
    assert_eq!(s.status(&id).await.0, OrderStatus::Closed);
    assert_eq!(s.calls(), Vec::<String>::new());
}

#[tokio::test]
async fn one_run_takes_one_batch_and_the_sweep_reports_it() {
    let s = setup(vec![], vec![]).await;
    for n in 0..EXPIRY_BATCH + 3 {
        s.order(&format!("ord_{n:04}"), None).await;
    }
    s.clock.advance_ms(900000);
    let queue = MemoryQueue::new();
    let first = sweep(&s.worker, &queue, s.alerts.as_ref()).await.unwrap();
    assert_eq!(
        first.expired_orders,
        report(EXPIRY_BATCH, EXPIRY_BATCH, 0, 0)
    );
    let second = sweep(&s.worker, &queue, s.alerts.as_ref()).await.unwrap();
    assert_eq!(second.expired_orders, report(3, 3, 0, 0));
    assert_eq!(s.alerts.raised(), Vec::new());
}
