//! The sandbox's "transfer finished" notices settle payouts through the same
//! transitions as the worker, once, whichever comes first; forged or stale
//! notices change nothing.

use std::sync::Arc;

use payment_callback::{handle, App, Verifiers};
use payout_worker::{Step, Worker};
use qrpay_domain::{BusinessDate, Clock, Money, Payout, PayoutStatus, Secret, TestClock};
use qrpay_provider::sandbox::TransferNotice;
use qrpay_provider::SandboxVerifier;
use qrpay_provider::{signature, SandboxFaults, SandboxProvider};
use qrpay_queue::PayoutMessage;
use qrpay_store::alerts::{AlertCode, MemoryAlerts};
use qrpay_store::{MemoryStore, Reserved, Store};
use qrpay_tests::events::{Answer, Event};
use qrpay_tests::world::{money, morning};
use qrpay_tests::World;
use serde_json::json;

const FIXTURE: &str = "payment-callback/sandbox-transfer-succeeded.json";
const SECRET: &str = "sandbox-secret-current";
const PREVIOUS: &str = "sandbox-secret-previous";

struct Setup {
    world: World,
    clock: Arc<TestClock>,
    sandbox: Arc<SandboxProvider>,
    alerts: Arc<MemoryAlerts>,
    worker: Worker,
    app: App,
}

async fn setup() -> Setup {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let world = World::new(store.clone(), "15000.00", "1000.00").await;
    let clock = Arc::new(TestClock::at(morning()));
    let sandbox = Arc::new(SandboxProvider::new(clock.clone()));
    let alerts = Arc::new(MemoryAlerts::new());
    let worker = Worker {
        collection: store.clone(),
        payouts: store.clone(),
        refunds: store.clone(),
        gateways: qrpay_provider::gateway::Gateways::default()
            .with_transfer(qrpay_domain::Provider::Sandbox, sandbox.clone()),
        clock: clock.clone(),
        alerts: alerts.clone(),
        pos: None,
    };
    let verifiers = Verifiers {
        sandbox: Some(
            SandboxVerifier::new(vec![
                Secret::new(SECRET.into()),
                Secret::new(PREVIOUS.into()),
            ])
            .unwrap(),
        ),
        ..Verifiers::default()
    };
    let app = App {
        collection: store.clone(),
        payouts: store.clone(),
        refunds: store.clone(),
        clock: clock.clone(),
        publisher: Arc::new(payment_callback::MemoryPublisher::new()),
        alerts: alerts.clone(),
        verifiers: verifiers.into(),
    };
    Setup {
        world,
        clock,
        sandbox,
        alerts,
        worker,
        app,
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
        let Reserved::Created(p) = self.world.store.reserve_payout(&req).await.unwrap() else {
            panic!()
        };
        p
    }

    async fn work(&self, p: &Payout) -> Step {
        let msg = PayoutMessage::for_payout(p);
        self.worker.execute(&msg).await.unwrap()
    }

    async fn status(&self, p: &Payout) -> PayoutStatus {
        self.world
            .store
            .get_payout(&p.shop_id, &p.payout_id)
            .await
            .unwrap()
            .unwrap()
            .status
    }

    fn signed(&self, body: &str, secret: &str, at: i64) -> Event {
        Event::fixture(FIXTURE).body(body).header(
            signature::HEADER,
            &signature::sign(secret, at, body.as_bytes()),
        )
    }

    async fn deliver(&self, body: &str) -> Answer {
        let event = self.signed(body, SECRET, self.clock.now().timestamp());
        Answer::from(handle(&self.app, event.request()).await)
    }

    /// The alerts raised so far: (code, reference, shop).
    fn raised(&self) -> Vec<(String, String, Option<String>)> {
        self.alerts
            .raised()
            .into_iter()
            .map(|a| (a.code, a.reference, a.shop_id))
            .collect()
    }

    fn one_notice(&self) -> TransferNotice {
        let mut notices = self.sandbox.take_notices();
        assert_eq!(notices.len(), 1);
        notices.remove(0)
    }

    async fn ledger_len(&self) -> usize {
        self.world
            .store
            .list_ledger(&self.world.shop, BusinessDate::of(morning()))
            .await
            .unwrap()
            .len()
    }
}

fn faults(fail: u16, after: u16) -> SandboxFaults {
    SandboxFaults {
        fail_per_mille: fail,
        timeout_after_per_mille: after,
        query_timeout_per_mille: 1000,
        ..SandboxFaults::default()
    }
}

#[tokio::test]
async fn a_notice_settles_a_payout_whose_answer_was_lost_and_the_worker_then_finds_it_done() {
    let s = setup().await;
    s.sandbox.set_faults(faults(0, 1000)).unwrap();
    let p = s.payout("o1", "12.30").await;
    assert_eq!(s.work(&p).await, Step::RetryLater);
    let notice = s.one_notice();

    let a = s.deliver(&notice.callback_body()).await;
    assert_eq!(
        (a.status, &a.body),
        (200, &json!({"received": true, "applied": true}))
    );
    assert_eq!(s.status(&p).await, PayoutStatus::Succeeded);
    assert_eq!(s.ledger_len().await, 1);
    assert_eq!(s.world.shop_now().await.payout_held, Money::ZERO);

    assert_eq!(s.work(&p).await, Step::Done, "the retry finds it settled");
    assert_eq!(s.sandbox.transfer_count(&p.payout_id), 1);
    let again = s.deliver(&notice.callback_body()).await;
    assert_eq!(
        (again.status, &again.body),
        (200, &json!({"received": true, "applied": false}))
    );
    assert_eq!(s.ledger_len().await, 1);
}

#[tokio::test]
async fn a_notice_after_the_worker_settled_changes_nothing() {
    let s = setup().await;
    let p = s.payout("o1", "5.00").await;
    assert_eq!(s.work(&p).await, Step::Done);
    let a = s.deliver(&s.one_notice().callback_body()).await;
    assert_eq!((a.status, &a.body["applied"]), (200, &json!(false)));
    assert_eq!(s.status(&p).await, PayoutStatus::Succeeded);
    assert_eq!(s.ledger_len().await, 1);
    assert_eq!(
        s.raised(),
        vec![],
        "agreeing with a final state is no alert"
    );
}

#[tokio::test]
async fn a_failure_notice_releases_everything() {
    let s = setup().await;
    s.sandbox.set_faults(faults(1000, 0)).unwrap();
    let p = s.payout("o1", "7.00").await;
    // The answer to the transfer is lost on our side; the notice still comes.
    s.world
        .store
        .start_payout(&p.shop_id, &p.payout_id, s.clock.now())
        .await
        .unwrap();
    let request = qrpay_provider::TransferRequest {
        out_bill_no: p.payout_id.clone(),
        amount: p.amount,
        payee: qrpay_provider::Payee {
            shop_id: p.shop_id.clone(),
            order_id: p.order_id.clone(),
            provider_txn_id: None,
            account: None,
        },
    };
    qrpay_provider::TransferProvider::transfer(s.sandbox.as_ref(), &request).await;
    let a = s.deliver(&s.one_notice().callback_body()).await;
    assert_eq!((a.status, &a.body["applied"]), (200, &json!(true)));
    assert_eq!(s.status(&p).await, PayoutStatus::Failed);
    let shop = s.world.shop_now().await;
    assert_eq!(
        (shop.payout_balance, shop.payout_held),
        (money("1000.00"), Money::ZERO)
    );
    assert_eq!(
        s.world
            .store
            .list_notices(&s.world.shop, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_deliveries_apply_once() {
    let s = Arc::new(setup().await);
    s.sandbox.set_faults(faults(0, 1000)).unwrap();
    let p = s.payout("o1", "3.00").await;
    s.work(&p).await;
    let body = s.one_notice().callback_body();
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (s, body) = (s.clone(), body.clone());
        tasks.push(tokio::spawn(async move { s.deliver(&body).await }));
    }
    let mut applied = 0;
    for t in tasks {
        let a = t.await.unwrap();
        assert_eq!(a.status, 200);
        applied += usize::from(a.body["applied"] == json!(true));
    }
    assert_eq!(applied, 1);
    assert_eq!(s.ledger_len().await, 1);
    assert_eq!(s.world.shop_now().await.payout_held, Money::ZERO);
}

#[tokio::test]
async fn forged_stale_and_garbage_notices_are_refused_and_change_nothing() {
    let s = setup().await;
    s.sandbox.set_faults(faults(0, 1000)).unwrap();
    let p = s.payout("o1", "3.00").await;
    s.work(&p).await;
    let body = s.one_notice().callback_body();
    let now = s.clock.now().timestamp();
    let tampered = body.replace("3.00", "0.01");
    let cases = [
        ("wrong secret", s.signed(&body, "not-the-secret", now)),
        (
            "tampered body",
            s.signed(&body, SECRET, now).body(&tampered),
        ),
        ("old timestamp", s.signed(&body, SECRET, now - 301)),
        ("future timestamp", s.signed(&body, SECRET, now + 301)),
        (
            "no signature",
            Event::fixture(FIXTURE)
                .body(&body)
                .without_header(signature::HEADER),
        ),
        (
            "garbage signature",
            Event::fixture(FIXTURE)
                .body(&body)
                .header(signature::HEADER, "t=x,v1=y"),
        ),
    ];
    for (name, event) in cases {
        let a = Answer::from(handle(&s.app, event.request()).await);
        assert_eq!((a.status, a.code()), (401, "INVALID_SIGNATURE"), "{name}");
    }
    assert_eq!(s.status(&p).await, PayoutStatus::Processing);

    // Signed, but not a notice: 400, nothing applied.
    for garbage in [
        "{",
        "[]",
        "{\"notice_id\":\"x\"}",
        &body.replace("TRANSFER.SUCCEEDED", "TRANSFER.MAYBE"),
    ] {
        let a = Answer::from(handle(&s.app, s.signed(garbage, SECRET, now).request()).await);
        assert_eq!((a.status, a.code()), (400, "INVALID_REQUEST"), "{garbage}");
    }
    assert_eq!(s.status(&p).await, PayoutStatus::Processing);

    // The previous secret still works during a rotation.
    let a = Answer::from(handle(&s.app, s.signed(&body, PREVIOUS, now).request()).await);
    assert_eq!((a.status, &a.body["applied"]), (200, &json!(true)));
}

#[tokio::test]
async fn anomalies_are_acknowledged_but_never_applied() {
    let s = setup().await;
    s.sandbox.set_faults(faults(0, 1000)).unwrap();
    let p = s.payout("o1", "3.00").await;
    s.work(&p).await;
    let body = s.one_notice().callback_body();
    let wrong_amount = body.replace("\"3.00\"", "\"30.00\"");
    let a = s.deliver(&wrong_amount).await;
    assert_eq!((a.status, &a.body["applied"]), (200, &json!(false)));
    assert_eq!(s.status(&p).await, PayoutStatus::Processing);
    let unknown = body.replace(p.payout_id.as_str(), "po_UNKNOWN");
    let a = s.deliver(&unknown).await;
    assert_eq!((a.status, &a.body["applied"]), (200, &json!(false)));
    // A notice for a payout never handed to the provider.
    let pending = s.payout("o2", "3.00").await;
    let early = body.replace(p.payout_id.as_str(), pending.payout_id.as_str());
    let a = s.deliver(&early).await;
    assert_eq!((a.status, &a.body["applied"]), (200, &json!(false)));
    assert_eq!(s.status(&pending).await, PayoutStatus::Pending);
    assert_eq!(s.ledger_len().await, 0);
    // Each one raised through the alert port, with the code the alarms match.
    let shop = Some(s.world.shop.to_string());
    assert_eq!(
        s.raised(),
        vec![
            (
                "TRANSFER_NOTICE_AMOUNT_MISMATCH".to_owned(),
                p.payout_id.to_string(),
                shop.clone()
            ),
            (
                "TRANSFER_NOTICE_UNKNOWN_PAYOUT".to_owned(),
                "po_UNKNOWN".to_owned(),
                None
            ),
            (
                AlertCode::TransferNoticeBeforeDispatch.to_string(),
                pending.payout_id.to_string(),
                shop
            ),
        ]
    );

    let not_ours = Answer::from(
        handle(
            &s.app,
            Event::fixture(FIXTURE).path("/callbacks/paypal").request(),
        )
        .await,
    );
    assert_eq!(
        (not_ours.status, not_ours.code()),
        (404, "PROVIDER_NOT_FOUND")
    );
}
