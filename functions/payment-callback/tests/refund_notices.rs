//! Provider refund notices naming one of our merchant refunds (WeChat
//! `out_refund_no`, Alipay `out_biz_no`, Douyin `cp_refundno`), on both
//! stores: the notice settles our refund through the same transition as the
//! worker — whichever comes first — and the order is never counted twice;
//! a notice that does not fit our refund is alerted and changes nothing; a
//! notice naming a refund we never made keeps today's behaviour.

mod common;

use std::sync::Arc;

use common::keys;
use payment_callback::{handle, App, Verifiers};
use qrpay_domain::{
    BusinessDate, Clock, CollectionEvent, CollectionEventKind, LedgerKind, OrderId, OrderStatus,
    Provider, ProviderRef, Refund, RefundId, RefundStatus, Secret, TestClock,
};
use qrpay_provider::kit;
use qrpay_provider::notice::NoticeSigner;
use qrpay_store::alerts::MemoryAlerts;
use qrpay_store::{RefundTransition, Store};
use qrpay_tests::events::{Answer, Event};
use qrpay_tests::refund_contract::{processing_refund, refund_created, refund_request};
use qrpay_tests::world::{amount, morning};
use qrpay_tests::World;

const FIXTURE: &str = "payment-callback/sandbox-transfer-succeeded.json";

struct Harness {
    app: App,
    world: World,
    clock: Arc<TestClock>,
    alerts: Arc<MemoryAlerts>,
    signers: Vec<Box<dyn NoticeSigner>>,
}

impl Harness {
    async fn new(store: Arc<dyn Store>) -> Harness {
        let world = World::new(store.clone(), "15000.00", "1000.00").await;
        let clock = Arc::new(TestClock::at(morning()));
        let alerts = Arc::new(MemoryAlerts::new());
        let k = keys();
        let (wv, ws) =
            kit::wechatpay("1900000109", "SERIAL-1", k.wechat.clone(), k.api_v3.clone()).unwrap();
        let (av, asg) = kit::alipay("2021000000000001", k.alipay.clone()).unwrap();
        let (dv, ds) = kit::douyin("tt0000000001", Secret::new("douyin-token".into())).unwrap();
        let app = App {
            collection: store.clone(),
            payouts: store.clone(),
            refunds: store.clone(),
            clock: clock.clone(),
            publisher: Arc::new(payment_callback::MemoryPublisher::new()),
            alerts: alerts.clone(),
            verifiers: Verifiers {
                wechatpay: Some(wv),
                alipay: Some(av),
                douyin: Some(dv),
                ..Verifiers::default()
            }
            .into(),
        };
        Harness {
            app,
            world,
            clock,
            alerts,
            signers: vec![Box::new(ws), Box::new(asg), Box::new(ds)],
        }
    }

    /// An order of 100.00 paid through `provider`, and a refund of 30.00 of
    /// it handed to the provider (`PROCESSING`).
    async fn sent_refund(&self, provider: Provider) -> Refund {
        let id = format!("o-{provider}");
        let order = self
            .world
            .order_by(&id, "100.00", OrderStatus::Paid, provider, None)
            .await;
        let now = self.clock.now();
        let req = refund_request(&self.world, &self.world.owner, &order, "30.00", &id, now);
        let refund = refund_created(&self.world, &req).await;
        processing_refund(&self.world, &refund, now).await
    }

    /// The provider's signed refund notice, posted to `/callbacks/{provider}`.
    async fn notice(&self, r: &Refund, notice_id: &str, amt: &str, ours: Option<&str>) -> Answer {
        let signer = self
            .signers
            .iter()
            .find(|s| s.provider() == r.provider)
            .unwrap();
        let answer = self.post(signer.as_ref(), r, notice_id, amt, ours).await;
        assert!(answer.status < 300, "{} {}", answer.status, answer.body);
        answer
    }

    async fn post(
        &self,
        signer: &dyn NoticeSigner,
        r: &Refund,
        notice_id: &str,
        amt: &str,
        ours: Option<&str>,
    ) -> Answer {
        let event = CollectionEvent {
            provider: r.provider,
            notification_id: ProviderRef::parse(notice_id).unwrap(),
            order_id: r.order_id.clone(),
            kind: CollectionEventKind::RefundSucceeded {
                refund_id: ProviderRef::parse(&format!("503{notice_id}")).unwrap(),
                amount: amount(amt),
                our_refund: ours.map(|o| RefundId::parse(o).unwrap()),
            },
            occurred_at: self.clock.now(),
        };
        let signed = signer.sign(&event, self.clock.now());
        let mut request = Event::fixture(FIXTURE)
            .path(&format!("/callbacks/{}", r.provider))
            .without_header("qrpay-signature")
            .header("content-type", signed.content_type)
            .body(&String::from_utf8_lossy(&signed.body));
        for (name, value) in &signed.headers {
            request = request.header(name, value);
        }
        Answer::from(handle(&self.app, request.request()).await)
    }

    async fn refund_now(&self, r: &Refund) -> Refund {
        let store = &self.world.store;
        store
            .get_refund(&r.shop_id, &r.refund_id)
            .await
            .unwrap()
            .unwrap()
    }

    /// The order's refunded and pending amounts and status, the shop's
    /// balance and hold, and its refund ledger entries (books checked).
    async fn books(&self, order: &OrderId) -> (String, String, OrderStatus, String, String, usize) {
        let store = &self.world.store;
        let o = store
            .get_order(&self.world.shop, order)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(qrpay_domain::check_books(&o), Ok(()), "{o:?}");
        let shop = self.world.shop_now().await;
        let day = BusinessDate::of(self.clock.now());
        let ledger = store.list_ledger(&self.world.shop, day).await.unwrap();
        let refunds = ledger
            .iter()
            .filter(|e| e.kind == LedgerKind::Refund && e.order_id.as_ref() == Some(order))
            .count();
        (
            o.refunded_amount.to_string(),
            o.refunds_pending_total.to_string(),
            o.status,
            shop.payout_balance.to_string(),
            shop.payout_held.to_string(),
            refunds,
        )
    }
}

fn settled_once(order_status: OrderStatus) -> (String, String, OrderStatus, String, String, usize) {
    (
        "30.00".into(),
        "0.00".into(),
        order_status,
        "970.00".into(),
        "0.00".into(),
        1,
    )
}

const PROVIDERS: [Provider; 3] = [Provider::Wechatpay, Provider::Alipay, Provider::Douyin];

async fn a_notice_naming_our_refund_settles_it_once_before_the_worker(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    for provider in PROVIDERS {
        let r = h.sent_refund(provider).await;
        let ours = r.refund_id.to_string();
        h.notice(&r, &format!("N1{provider}"), "30.00", Some(&ours))
            .await;
        assert_eq!(h.refund_now(&r).await.status, RefundStatus::Succeeded);
        let once = settled_once(OrderStatus::PartiallyRefunded);
        assert_eq!(h.books(&r.order_id).await.0, once.0, "{provider}");
        // The provider repeats itself, under the same and a new notice id.
        h.notice(&r, &format!("N1{provider}"), "30.00", Some(&ours))
            .await;
        h.notice(&r, &format!("N2{provider}"), "30.00", Some(&ours))
            .await;
        // Then the worker's query says the same: it finds it settled.
        let worker = h
            .world
            .store
            .succeed_refund(&r.shop_id, &r.refund_id, Some("503N1"), h.clock.now())
            .await
            .unwrap();
        assert!(matches!(worker, RefundTransition::Unchanged(_)));
        let books = h.books(&r.order_id).await;
        assert_eq!(
            (books.0, books.1, books.2, books.5),
            (once.0, once.1, once.2, 1),
            "{provider}"
        );
    }
    // One hold per refund, each turned into a debit once.
    let shop = h.world.shop_now().await;
    assert_eq!(
        (
            shop.payout_balance.to_string(),
            shop.payout_held.to_string()
        ),
        ("910.00".into(), "0.00".into())
    );
    assert!(h.alerts.raised().is_empty(), "{:?}", h.alerts.raised());
}

async fn a_notice_after_the_worker_settled_changes_nothing(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let r = h.sent_refund(Provider::Wechatpay).await;
    let store = &h.world.store;
    store
        .succeed_refund(&r.shop_id, &r.refund_id, Some("503N7"), h.clock.now())
        .await
        .unwrap();
    let before = h.books(&r.order_id).await;
    assert_eq!(before, settled_once(OrderStatus::PartiallyRefunded));
    h.notice(&r, "N7", "30.00", Some(r.refund_id.as_str()))
        .await;
    assert_eq!(h.books(&r.order_id).await, before);
    assert!(h.alerts.raised().is_empty());
}

async fn a_notice_that_does_not_fit_our_refund_is_alerted_and_changes_nothing(
    store: Arc<dyn Store>,
) {
    let h = Harness::new(store).await;
    let r = h.sent_refund(Provider::Alipay).await;
    let before = h.books(&r.order_id).await;
    h.notice(&r, "N8", "30.01", Some(r.refund_id.as_str()))
        .await;
    assert_eq!(h.books(&r.order_id).await, before);
    assert_eq!(h.refund_now(&r).await.status, RefundStatus::Processing);
    let raised = h.alerts.raised();
    assert_eq!(raised.len(), 1);
    assert_eq!(
        (raised[0].code.as_str(), raised[0].reference.as_str()),
        ("REFUND_NOTICE_MISMATCH", r.refund_id.as_str())
    );
}

async fn a_notice_naming_no_refund_of_ours_is_a_refund_made_outside_qrpay(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let r = h.sent_refund(Provider::Wechatpay).await;
    // A console refund: an out_refund_no that looks like ours, never made.
    let stranger = RefundId::generate(h.clock.now()).to_string();
    h.notice(&r, "N9", "10.00", Some(&stranger)).await;
    let books = h.books(&r.order_id).await;
    assert_eq!(
        (books.0.as_str(), books.1.as_str(), books.2),
        ("10.00", "30.00", OrderStatus::PartiallyRefunded),
        "counted as refunded, ours still pending"
    );
    assert_eq!(h.refund_now(&r).await.status, RefundStatus::Processing);
}

async fn a_forged_notice_naming_our_refund_is_refused_and_changes_nothing(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let r = h.sent_refund(Provider::Wechatpay).await;
    let before = h.books(&r.order_id).await;
    let k = keys();
    let (_, forger) = kit::wechatpay(
        "1900000109",
        "SERIAL-1",
        k.intruder.clone(),
        k.api_v3.clone(),
    )
    .unwrap();
    let answer = h
        .post(&forger, &r, "N6", "30.00", Some(r.refund_id.as_str()))
        .await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    assert_eq!(h.books(&r.order_id).await, before);
    assert_eq!(h.refund_now(&r).await.status, RefundStatus::Processing);
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
    a_notice_naming_our_refund_settles_it_once_before_the_worker,
    a_notice_after_the_worker_settled_changes_nothing,
    a_notice_that_does_not_fit_our_refund_is_alerted_and_changes_nothing,
    a_notice_naming_no_refund_of_ours_is_a_refund_made_outside_qrpay,
    a_forged_notice_naming_our_refund_is_refused_and_changes_nothing,
);
