//! Each payout goes through the provider that collected its order (SPEC §9),
//! to the account that paid; a transfer waiting for the payee is kept with
//! what the payee must do and is not alerted on before the provider's
//! deadline.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::Duration;
use payout_worker::sweeper::{sweep, AlertCode};
use payout_worker::{Step, Worker, AWAITING};
use qrpay_domain::{
    AttemptAction as A, AttemptOutcome as O, Clock, OrderStatus, PayeeAction, PayerAccount,
    PayerAccountKind, Payout, PayoutStatus, Provider, TestClock,
};
use qrpay_provider::gateway::Gateways;
use qrpay_provider::{
    QueryOutcome, SandboxProvider, TransferOutcome, TransferProvider, TransferRequest,
};
use qrpay_queue::{MemoryQueue, PayoutMessage};
use qrpay_store::alerts::MemoryAlerts;
use qrpay_store::{MemoryStore, Reserved, Store};
use qrpay_tests::world::morning;
use qrpay_tests::World;

/// A provider that answers from a script and records what it was sent.
#[derive(Default)]
struct Scripted {
    transfers: Mutex<VecDeque<TransferOutcome>>,
    queries: Mutex<VecDeque<QueryOutcome>>,
    sent: Mutex<Vec<TransferRequest>>,
}

impl Scripted {
    fn new(transfers: Vec<TransferOutcome>, queries: Vec<QueryOutcome>) -> Arc<Scripted> {
        Arc::new(Scripted {
            transfers: Mutex::new(transfers.into()),
            queries: Mutex::new(queries.into()),
            sent: Mutex::default(),
        })
    }

    fn sent(&self) -> Vec<TransferRequest> {
        self.sent.lock().unwrap().clone()
    }
}

#[async_trait]
impl TransferProvider for Scripted {
    async fn transfer(&self, request: &TransferRequest) -> TransferOutcome {
        self.sent.lock().unwrap().push(request.clone());
        let next = self.transfers.lock().unwrap().pop_front();
        next.expect("an unexpected transfer")
    }

    async fn query(&self, _: &qrpay_domain::PayoutId) -> QueryOutcome {
        let next = self.queries.lock().unwrap().pop_front();
        next.expect("an unexpected query")
    }
}

struct Setup {
    world: World,
    clock: Arc<TestClock>,
    sandbox: Arc<SandboxProvider>,
    wechat: Arc<Scripted>,
    alerts: Arc<MemoryAlerts>,
    worker: Worker,
}

fn openid() -> PayerAccount {
    PayerAccount::new(
        PayerAccountKind::WechatOpenid,
        "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
    )
    .unwrap()
}

fn waiting() -> PayeeAction {
    PayeeAction::WechatConfirm {
        mch_id: "1900000109".into(),
        app_id: "wxd678efh567hg6787".into(),
        package: "affffddafdfafddffda==".into(),
        confirm_by: morning() + Duration::hours(24),
    }
}

async fn setup(wechat: Arc<Scripted>) -> Setup {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let world = World::new(store.clone(), "15000.00", "1000.00").await;
    let clock = Arc::new(TestClock::at(morning()));
    let sandbox = Arc::new(SandboxProvider::new(clock.clone()));
    let alerts = Arc::new(MemoryAlerts::new());
    let worker = Worker {
        payouts: store.clone(),
        refunds: store.clone(),
        collection: store.clone(),
        gateways: Gateways::default()
            .with_transfer(Provider::Sandbox, sandbox.clone())
            .with_transfer(Provider::Wechatpay, wechat.clone()),
        clock: clock.clone(),
        alerts: alerts.clone(),
        pos: None,
    };
    Setup {
        world,
        clock,
        sandbox,
        wechat,
        alerts,
        worker,
    }
}

impl Setup {
    async fn wechat_payout(&self, order: &str) -> Payout {
        let paid = OrderStatus::Paid;
        let o = self
            .world
            .order_by(order, "100.00", paid, Provider::Wechatpay, Some(openid()))
            .await;
        let key = format!("k-{order}");
        let req = self
            .world
            .request(&self.world.owner, &o, "12.50", &key, self.clock.now());
        match self.world.store.reserve_payout(&req).await.unwrap() {
            Reserved::Created(p) => p,
            other => panic!("{other:?}"),
        }
    }

    async fn run(&self, p: &Payout) -> Step {
        self.worker
            .execute(&PayoutMessage::for_payout(p))
            .await
            .unwrap()
    }

    async fn now(&self, p: &Payout) -> Payout {
        let got = self.world.store.get_payout(&p.shop_id, &p.payout_id).await;
        got.unwrap().unwrap()
    }

    async fn attempts(&self, p: &Payout) -> Vec<(A, O, Option<String>)> {
        let list = self
            .world
            .store
            .list_attempts(&p.shop_id, &p.payout_id)
            .await;
        list.unwrap()
            .into_iter()
            .map(|a| (a.action, a.outcome, a.detail))
            .collect()
    }
}

#[tokio::test]
async fn a_wechat_collected_payout_goes_to_wechat_with_the_payers_openid() {
    let wechat = Scripted::new(
        vec![TransferOutcome::Succeeded {
            provider_ref: "1330000071100999991182020050700019480001".into(),
        }],
        vec![],
    );
    let s = setup(wechat).await;
    let p = s.wechat_payout("o-1").await;
    assert_eq!(p.provider, Some(Provider::Wechatpay));
    assert_eq!(s.run(&p).await, Step::Done);
    assert_eq!(s.now(&p).await.status, PayoutStatus::Succeeded);
    let sent = s.wechat.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].out_bill_no, p.payout_id);
    assert_eq!(sent[0].payee.account, Some(openid()));
    assert!(
        s.sandbox.transfers().is_empty(),
        "the sandbox moved nothing"
    );
}

#[tokio::test]
async fn a_transfer_awaiting_the_payee_keeps_its_action_and_leaves_the_queue() {
    let wechat = Scripted::new(
        vec![TransferOutcome::AwaitingPayee(waiting())],
        vec![
            QueryOutcome::InProgress,
            QueryOutcome::Succeeded {
                provider_ref: "1330000071100999991182020050700019480001".into(),
            },
        ],
    );
    let s = setup(wechat).await;
    let p = s.wechat_payout("o-1").await;
    assert_eq!(s.run(&p).await, Step::AwaitingPayee);
    let now = s.now(&p).await;
    assert_eq!(now.status, PayoutStatus::Processing);
    assert_eq!(now.payee_action, Some(waiting()));
    // Still waiting: the query says nothing new, and the message is not retried.
    assert_eq!(s.run(&p).await, Step::AwaitingPayee);
    // The buyer confirmed.
    assert_eq!(s.run(&p).await, Step::Done);
    assert_eq!(s.now(&p).await.status, PayoutStatus::Succeeded);
    assert_eq!(
        s.attempts(&p).await,
        vec![
            (A::Transfer, O::InProgress, Some(AWAITING.to_owned())),
            (A::Query, O::InProgress, None),
            (
                A::Query,
                O::Succeeded,
                Some("1330000071100999991182020050700019480001".to_owned())
            ),
        ]
    );
    assert_eq!(s.wechat.sent().len(), 1, "sent once");
}

#[tokio::test]
async fn the_sweeper_alerts_on_a_waiting_transfer_only_after_the_payees_deadline() {
    let wechat = Scripted::new(
        vec![TransferOutcome::AwaitingPayee(waiting())],
        vec![QueryOutcome::InProgress, QueryOutcome::InProgress],
    );
    let s = setup(wechat).await;
    let p = s.wechat_payout("o-1").await;
    s.run(&p).await;
    let queue = MemoryQueue::new();
    // Three hours on: well past 30 minutes, well before the payee's 24 hours.
    s.clock.advance_ms((Duration::hours(3)).num_milliseconds());
    let report = sweep(&s.worker, &queue, s.alerts.as_ref()).await.unwrap();
    assert_eq!(report.queried, 1);
    assert_eq!(report.alerts, 0);
    // 24 hours and the 2-hour grace have passed: someone must look.
    s.clock
        .advance_ms((Duration::hours(23) + Duration::minutes(1)).num_milliseconds());
    let report = sweep(&s.worker, &queue, s.alerts.as_ref()).await.unwrap();
    assert_eq!(report.alerts, 1);
    let raised = s.alerts.raised();
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0].code, AlertCode::PayoutNotFinal.as_str());
}

#[tokio::test]
async fn a_payout_whose_provider_is_no_longer_configured_fails_if_never_sent() {
    let wechat = Scripted::new(vec![], vec![]);
    let s = setup(wechat).await;
    let p = s.wechat_payout("o-1").await;
    let before = s.world.shop_now().await;
    let without_wechat = Worker {
        payouts: s.worker.payouts.clone(),
        refunds: s.worker.refunds.clone(),
        collection: s.worker.collection.clone(),
        gateways: Gateways::default().with_transfer(Provider::Sandbox, s.sandbox.clone()),
        clock: s.clock.clone(),
        alerts: s.alerts.clone(),
        pos: None,
    };
    let step = without_wechat
        .execute(&PayoutMessage::for_payout(&p))
        .await
        .unwrap();
    assert_eq!(step, Step::Done);
    let failed = s.now(&p).await;
    assert_eq!(failed.status, PayoutStatus::Failed);
    assert_eq!(
        failed.failure_reason.as_deref(),
        Some("no wechatpay transfer channel is configured")
    );
    let after = s.world.shop_now().await;
    assert_eq!(
        after.payout_balance.fen(),
        before.payout_balance.fen() + p.amount.fen()
    );
    assert!(s.wechat.sent().is_empty());
}

#[tokio::test]
async fn a_payout_not_found_after_the_providers_query_window_is_never_resent() {
    let wechat = Scripted::new(vec![], vec![QueryOutcome::NotFound]);
    let s = setup(wechat).await;
    let p = s.wechat_payout("o-1").await;
    s.world
        .store
        .start_payout(&p.shop_id, &p.payout_id, morning())
        .await
        .unwrap();
    s.clock.advance_ms((Duration::days(26)).num_milliseconds());
    assert_eq!(s.run(&p).await, Step::RetryLater);
    assert!(s.wechat.sent().is_empty(), "a blind resend could pay twice");
    assert_eq!(s.now(&p).await.status, PayoutStatus::Processing);
}
