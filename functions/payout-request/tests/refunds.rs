//! The refund routes of payout-request (API.md `…/orders/{order_id}/refunds`)
//! called with API Gateway v2 events built from `events/payout-request/`, on
//! the embedded store and queue.

use std::sync::Arc;

use payout_request::{handle, App};
use qrpay_domain::{Money, OrderId, PayoutChannels, Provider, TestClock};
use qrpay_queue::{MemoryQueue, WorkMessage};
use qrpay_store::{MemoryStore, Store};
use qrpay_tests::events::{Answer, Event};
use qrpay_tests::refund_contract::{refund_providers, wechat_order};
use qrpay_tests::world::{money, morning};
use qrpay_tests::World;
use serde_json::{json, Value};

const CREATE: &str = "payout-request/create-refund.json";
const LIST: &str = "payout-request/list-order-refunds.json";
const QUOTA: &str = "payout-request/set-payout-quota.json";

struct Harness {
    app: App,
    world: World,
    queue: Arc<MemoryQueue>,
    clock: Arc<TestClock>,
}

impl Harness {
    /// shop-1 (balance 1,000.00) with `o-1`, 100.00 paid through WeChat Pay,
    /// and `o-sb`, 50.00 paid in the sandbox (no refund gateway).
    async fn new() -> Harness {
        let store = Arc::new(MemoryStore::new());
        let world = World::new(store.clone() as Arc<dyn Store>, "15000.00", "1000.00").await;
        wechat_order(&world, "o-1", "100.00").await;
        world.paid_order("o-sb", "50.00").await;
        let queue = Arc::new(MemoryQueue::new());
        let clock = Arc::new(TestClock::at(morning()));
        let app = App {
            shops: store.clone(),
            payouts: store.clone(),
            collection: store.clone(),
            queue: queue.clone(),
            clock: clock.clone(),
            channels: PayoutChannels::of(&Provider::ALL),
            refunds: store.clone(),
            refund_providers: refund_providers(),
            claims: None,
        };
        Harness {
            app,
            world,
            queue,
            clock,
        }
    }

    async fn send(&self, event: Event) -> Answer {
        Answer::from(handle(&self.app, event.request()).await)
    }

    /// The order's pending refunds, live count and the shop's balance and hold.
    async fn reserved(&self, order: &str) -> (Money, u32, Money, Money) {
        let id = OrderId::parse(order).unwrap();
        let o = self
            .world
            .store
            .get_order(&self.world.shop, &id)
            .await
            .unwrap()
            .unwrap();
        let shop = self.world.shop_now().await;
        (
            o.refunds_pending_total,
            o.refunds_live_count,
            shop.payout_balance,
            shop.payout_held,
        )
    }

    fn advance(&self, seconds: i64) {
        self.clock.advance_ms(seconds * 1000);
    }
}

fn refund(order: &str, amount: &str, key: &str) -> Event {
    Event::fixture(CREATE)
        .path(&format!("/shops/shop-1/orders/{order}/refunds"))
        .header("Idempotency-Key", key)
        .json_body(json!({"amount": amount}))
}

fn as_staff(event: Event) -> Event {
    event.claims("shop-1-staff", Some("shop-1"), "staff")
}

#[tokio::test]
async fn fixture_reserves_a_pending_refund_and_queues_it_as_a_refund_message() {
    let h = Harness::new().await;
    let a = h.send(Event::fixture(CREATE)).await;
    assert_eq!(a.status, 202, "{}", a.body);
    let r = &a.body;
    let id = r["refund_id"].as_str().unwrap();
    assert!(id.starts_with("rf_"), "{id}");
    assert_eq!(r["order_id"], "o-1");
    assert_eq!(r["amount"], "12.30");
    // The order booked no processing fee: none comes back.
    assert_eq!(r["fee_returned"], "0.00");
    assert_eq!(r["status"], "PENDING");
    assert_eq!(r["provider"], "wechatpay");
    assert_eq!(r["reason"], "少发一件");
    assert_eq!(r["created_at"], "2026-03-02T10:00:00.000+08:00");
    assert_eq!(r["updated_at"], r["created_at"]);
    assert!(r.get("provider_refund_id").is_none() && r.get("failure_reason").is_none());
    assert!(a.headers.get("idempotent-replayed").is_none());

    let queued = h.queue.receive(10);
    assert_eq!(queued.len(), 1);
    match WorkMessage::from_json(&queued[0].body).unwrap() {
        WorkMessage::Refund(m) => assert_eq!(m.refund_id.as_str(), id),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        h.reserved("o-1").await,
        (money("12.30"), 1, money("987.70"), money("12.30"))
    );
}

#[tokio::test]
async fn same_key_same_body_replays_the_refund_other_body_conflicts() {
    let h = Harness::new().await;
    let first = h.send(refund("o-1", "10.00", "k-1")).await;
    assert_eq!(first.status, 202, "{}", first.body);
    let after_first = h.reserved("o-1").await;
    h.advance(5);
    let again = h.send(refund("o-1", "10.00", "k-1")).await;
    assert_eq!(again.status, 202, "{}", again.body);
    assert_eq!(again.body["refund_id"], first.body["refund_id"]);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(
        h.reserved("o-1").await,
        after_first,
        "nothing reserved again"
    );

    let other = h.send(refund("o-1", "10.01", "k-1")).await;
    assert_eq!((other.status, other.code()), (409, "IDEMPOTENCY_CONFLICT"));
    assert_eq!(h.reserved("o-1").await, after_first);
}

/// Each refusal with its status, code and headroom; none reserves anything.
#[tokio::test]
async fn every_refusal_answers_with_its_code_and_changes_nothing() {
    let h = Harness::new().await;
    let nothing = h.reserved("o-1").await;
    let cases: Vec<(Event, u16, &str)> = vec![
        (
            refund("o-1", "100.01", "a"),
            422,
            "REFUND_EXCEEDS_REFUNDABLE",
        ),
        (refund("o-none", "1.00", "b"), 404, "ORDER_NOT_FOUND"),
        (
            refund("o-sb", "1.00", "c"),
            422,
            "REFUND_CHANNEL_UNAVAILABLE",
        ),
        (
            as_staff(refund("o-1", "1.00", "d")),
            422,
            "OPERATOR_NO_QUOTA",
        ),
        (refund("o-1", "1.001", "e"), 400, "INVALID_REQUEST"),
        (refund("o-1", "-1.00", "f"), 400, "INVALID_REQUEST"),
        (
            refund("o-1", "1.00", "g").without_header("Idempotency-Key"),
            400,
            "INVALID_REQUEST",
        ),
        (
            refund("o-1", "1.00", "h")
                .json_body(json!({"amount": "1.00", "reason": "退".repeat(27)})),
            400,
            "INVALID_REQUEST",
        ),
        (
            refund("o-1", "1.00", "i").json_body(json!({"amount": "1.00", "note": "x"})),
            400,
            "INVALID_REQUEST",
        ),
        (
            refund("o-1", "1.00", &"k".repeat(65)),
            400,
            "INVALID_REQUEST",
        ),
    ];
    for (event, status, code) in cases {
        let a = h.send(event).await;
        assert_eq!((a.status, a.code()), (status, code), "{}", a.body);
    }
    let exceeds = h.send(refund("o-1", "100.01", "a2")).await;
    assert_eq!(exceeds.body["error"]["remaining"], "100.00");
    let reason = h
        .send(
            refund("o-1", "1.00", "h2")
                .json_body(json!({"amount": "1.00", "reason": "退".repeat(27)})),
        )
        .await;
    assert_eq!(reason.body["error"]["field"], "reason");
    assert_eq!(h.reserved("o-1").await, nothing);
    assert!(h.queue.is_empty());
}

#[tokio::test]
async fn one_refund_a_minute_per_order_with_retry_after() {
    let h = Harness::new().await;
    assert_eq!(h.send(refund("o-1", "10.00", "p-1")).await.status, 202);
    h.advance(20);
    let early = h.send(refund("o-1", "10.00", "p-2")).await;
    assert_eq!((early.status, early.code()), (429, "REFUND_TOO_FREQUENT"));
    assert_eq!(early.headers["retry-after"], "40");
    assert_eq!(early.body["error"]["retry_after_s"], 40);
    h.advance(40);
    assert_eq!(h.send(refund("o-1", "10.00", "p-2")).await.status, 202);
    assert_eq!(
        h.reserved("o-1").await,
        (money("20.00"), 2, money("980.00"), money("20.00"))
    );
}

#[tokio::test]
async fn staff_refund_only_once_the_owner_enables_refunds_in_their_quota() {
    let h = Harness::new().await;
    let quota = |body: Value| Event::fixture(QUOTA).json_body(body);
    let limits = json!({"enabled": true, "per_payout_limit": "50.00", "daily_limit": "200.00"});
    let set = h.send(quota(limits.clone())).await;
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(set.body["refunds_enabled"], false, "off unless given");
    let refused = h.send(as_staff(refund("o-1", "5.00", "s-1"))).await;
    assert_eq!((refused.status, refused.code()), (422, "OPERATOR_NO_QUOTA"));

    let mut with_refunds = limits.clone();
    with_refunds["refunds_enabled"] = json!("yes");
    let bad = h.send(quota(with_refunds.clone())).await;
    assert_eq!((bad.status, bad.code()), (400, "INVALID_REQUEST"));
    assert_eq!(bad.body["error"]["field"], "refunds_enabled");
    with_refunds["refunds_enabled"] = json!(true);
    let set = h.send(quota(with_refunds)).await;
    assert_eq!(set.body["refunds_enabled"], true);
    let staff = h.send(as_staff(refund("o-1", "5.00", "s-1"))).await;
    assert_eq!(staff.status, 202, "{}", staff.body);
    assert_eq!(
        h.reserved("o-1").await,
        (money("5.00"), 1, money("995.00"), money("5.00"))
    );
}

#[tokio::test]
async fn the_order_lists_its_refunds_with_its_totals() {
    let h = Harness::new().await;
    let empty = h.send(Event::fixture(LIST)).await;
    assert_eq!(empty.status, 200, "{}", empty.body);
    assert_eq!(
        empty.body,
        json!({"order_id": "o-1", "paid_amount": "100.00", "refunded_amount": "0.00",
            "refunds_live_total": "0.00", "refunds": []})
    );
    let first = h.send(refund("o-1", "30.00", "l-1")).await;
    h.advance(61);
    let second = h.send(refund("o-1", "20.00", "l-2")).await;
    let listed = h.send(Event::fixture(LIST)).await;
    assert_eq!(listed.body["refunds_live_total"], "50.00");
    assert_eq!(listed.body["refunded_amount"], "0.00");
    let ids: Vec<&Value> = listed.body["refunds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["refund_id"])
        .collect();
    assert_eq!(
        ids,
        vec![&second.body["refund_id"], &first.body["refund_id"]]
    );
    let missing = h
        .send(Event::fixture(LIST).path("/shops/shop-1/orders/o-none/refunds"))
        .await;
    assert_eq!((missing.status, missing.code()), (404, "ORDER_NOT_FOUND"));
    let other_shop = h
        .send(Event::fixture(LIST).claims("shop-2-owner", Some("shop-2"), "owner"))
        .await;
    assert_eq!(other_shop.status, 403);
}
