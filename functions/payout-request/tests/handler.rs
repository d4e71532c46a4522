//! The payout-request function called with API Gateway v2 events built from
//! the fixtures in `events/payout-request/`, on the embedded store and queue.

use std::sync::Arc;

use chrono::Duration;
use payout_request::{handle, App};
use qrpay_domain::{BusinessDate, Money, OrderStatus, PayoutChannels, Provider, TestClock};
use qrpay_queue::MemoryQueue;
use qrpay_store::{DayTotals, MemoryStore, Store};
use qrpay_tests::contract::{counters, Counters};
use qrpay_tests::events::{Answer, Event};
use qrpay_tests::world::{money, morning};
use qrpay_tests::World;
use serde_json::{json, Value};

const CREATE: &str = "payout-request/create-payout.json";

struct Harness {
    app: App,
    world: World,
    queue: Arc<MemoryQueue>,
    clock: Arc<TestClock>,
}

impl Harness {
    /// shop-1 (cap 15,000.00, balance 1,000.00) with a paid order `o-1` of 100.00.
    async fn new() -> Harness {
        let store = Arc::new(MemoryStore::new());
        let world = World::new(store.clone() as Arc<dyn Store>, "15000.00", "1000.00").await;
        world.paid_order("o-1", "100.00").await;
        let queue = Arc::new(MemoryQueue::new());
        let clock = Arc::new(TestClock::at(morning()));
        let app = App {
            shops: store.clone(),
            payouts: store.clone(),
            collection: store.clone(),
            queue: queue.clone(),
            clock: clock.clone(),
            channels: PayoutChannels::of(&[Provider::Sandbox]),
            claims: None,
            refunds: store.clone(),
            refund_providers: PayoutChannels::of(&[]),
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

    async fn counters(&self) -> Counters {
        let o1 = qrpay_domain::OrderId::parse("o-1").unwrap();
        counters(&self.world, BusinessDate::of(morning()), &[&o1]).await
    }

    fn advance(&self, seconds: i64) {
        self.clock.advance_ms(seconds * 1000);
    }
}

fn create(amount: &str, key: &str) -> Event {
    Event::fixture(CREATE)
        .header("Idempotency-Key", key)
        .json_body(json!({"amount": amount, "reason": "SHIPPING_FEE"}))
}

fn as_staff(event: Event) -> Event {
    event.claims("shop-1-staff", Some("shop-1"), "staff")
}

#[tokio::test]
async fn fixture_creates_a_pending_payout_and_enqueues_it() {
    let h = Harness::new().await;
    let a = h.send(Event::fixture(CREATE)).await;
    assert_eq!(a.status, 202, "{}", a.body);
    let p = &a.body;
    assert!(p["payout_id"].as_str().unwrap().starts_with("po_"));
    assert_eq!(p["shop_id"], "shop-1");
    assert_eq!(p["order_id"], "o-1");
    assert_eq!(p["operator_id"], "shop-1-owner");
    assert_eq!(p["amount"], "12.30");
    assert_eq!(p["reason"], "SHIPPING_FEE");
    assert_eq!(p["note"], "return shipping");
    assert_eq!(p["status"], "PENDING");
    assert_eq!(p["business_date"], "2026-03-02");
    assert_eq!(p["created_at"], "2026-03-02T10:00:00.000+08:00");
    let queued = h.queue.take(10);
    assert_eq!(queued.len(), 1);
    assert_eq!(
        queued[0].payout_id.as_str(),
        p["payout_id"].as_str().unwrap()
    );
    let c = h.counters().await;
    assert_eq!((c.balance, c.held), (money("987.70"), money("12.30")));
}

#[tokio::test]
async fn same_key_same_body_replays_other_body_conflicts() {
    let h = Harness::new().await;
    let first = h.send(create("10.00", "key-1")).await;
    let after_first = h.counters().await;
    h.advance(5);
    let again = h.send(create("10.00", "key-1")).await;
    assert_eq!(again.status, 202);
    assert_eq!(again.body["payout_id"], first.body["payout_id"]);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(h.counters().await, after_first, "a replay reserves nothing");

    let other = h.send(create("10.01", "key-1")).await;
    assert_eq!((other.status, other.code()), (409, "IDEMPOTENCY_CONFLICT"));
    assert_eq!(h.counters().await, after_first);
}

/// Each payout rule's code with its HTTP status and headroom.
#[tokio::test]
async fn every_rule_answers_with_its_code_status_and_headroom() {
    let h = Harness::new().await;
    let w = &h.world;
    w.paid_order("o-2", "100.00").await;
    w.order_in("o-created", "100.00", OrderStatus::Created)
        .await;

    let a = h
        .send(create("1.00", "k-nf").path("/shops/shop-1/orders/o-missing/payouts"))
        .await;
    assert_eq!((a.status, a.code()), (404, "ORDER_NOT_FOUND"));
    let a = h
        .send(create("1.00", "k-np").path("/shops/shop-1/orders/o-created/payouts"))
        .await;
    assert_eq!((a.status, a.code()), (422, "ORDER_NOT_PAYABLE"));
    let a = h.send(as_staff(create("1.00", "k-nq"))).await;
    assert_eq!((a.status, a.code()), (422, "OPERATOR_NO_QUOTA"));

    w.quota(&w.staff, "30.00", "40.00", true).await;
    let a = h.send(as_staff(create("30.01", "k-single"))).await;
    assert_eq!(
        (a.status, a.code(), &a.body["error"]["remaining"]),
        (422, "OPERATOR_SINGLE_LIMIT_EXCEEDED", &json!("30.00"))
    );
    let a = h.send(as_staff(create("30.00", "k-staff-1"))).await;
    assert_eq!(a.status, 202);
    let a = h
        .send(as_staff(create("10.01", "k-daily")).path("/shops/shop-1/orders/o-2/payouts"))
        .await;
    assert_eq!(
        (a.status, a.code(), &a.body["error"]["remaining"]),
        (422, "OPERATOR_DAILY_LIMIT_EXCEEDED", &json!("10.00"))
    );

    let a = h.send(create("1.00", "k-freq")).await;
    assert_eq!((a.status, a.code()), (429, "PAYOUT_TOO_FREQUENT"));
    assert_eq!(a.body["error"]["retry_after_s"], 60);
    assert_eq!(a.headers["retry-after"], "60");

    h.advance(60);
    let a = h.send(create("70.01", "k-paid")).await;
    assert_eq!(
        (a.status, a.code(), &a.body["error"]["remaining"]),
        (422, "EXCEEDS_ORDER_PAID_AMOUNT", &json!("70.00"))
    );
    for i in 0..4 {
        assert_eq!(
            h.send(create("1.00", &format!("k-count-{i}"))).await.status,
            202
        );
        h.advance(60);
    }
    let a = h.send(create("1.00", "k-count-5")).await;
    assert_eq!((a.status, a.code()), (422, "ORDER_PAYOUT_COUNT_EXCEEDED"));

    let cap = World::with_shop(w.store.clone(), "shop-cap", "50.00", "40.00").await;
    cap.paid_order("c-1", "100.00").await;
    let cap_create = |amount: &str, key: &str| {
        create(amount, key)
            .path("/shops/shop-cap/orders/c-1/payouts")
            .claims("shop-cap-owner", Some("shop-cap"), "owner")
    };
    let a = h.send(cap_create("50.01", "k-cap")).await;
    assert_eq!(
        (a.status, a.code(), &a.body["error"]["remaining"]),
        (422, "SHOP_DAILY_CAP_EXCEEDED", &json!("50.00"))
    );
    let a = h.send(cap_create("40.01", "k-bal")).await;
    assert_eq!(
        (a.status, a.code(), &a.body["error"]["remaining"]),
        (422, "INSUFFICIENT_BALANCE", &json!("40.00"))
    );

    let a = h
        .send(
            create("1.00", "k-ns")
                .path("/shops/shop-nowhere/orders/o-1/payouts")
                .claims("x", Some("shop-nowhere"), "owner"),
        )
        .await;
    assert_eq!((a.status, a.code()), (404, "SHOP_NOT_FOUND"));
    assert!(a.body["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
}

/// Malformed input: 400 naming the field (413 for size), and nothing stored.
#[tokio::test]
async fn malformed_bodies_are_refused_and_change_nothing() {
    let h = Harness::new().await;
    let before = h.counters().await;
    let base = || Event::fixture(CREATE).header("Idempotency-Key", "k-bad");
    let long_note = "n".repeat(201);
    let cases: Vec<(&str, Event, u16, &str)> = vec![
        (
            "3 decimals",
            base().json_body(json!({"amount": "12.345", "reason": "OTHER"})),
            400,
            "amount",
        ),
        (
            "negative",
            base().json_body(json!({"amount": "-1.00", "reason": "OTHER"})),
            400,
            "amount",
        ),
        (
            "zero",
            base().json_body(json!({"amount": "0.00", "reason": "OTHER"})),
            400,
            "amount",
        ),
        (
            "exponent",
            base().json_body(json!({"amount": "1e3", "reason": "OTHER"})),
            400,
            "amount",
        ),
        (
            "NaN",
            base().json_body(json!({"amount": "NaN", "reason": "OTHER"})),
            400,
            "amount",
        ),
        (
            "spaces",
            base().json_body(json!({"amount": " 1.00", "reason": "OTHER"})),
            400,
            "amount",
        ),
        (
            "comma",
            base().json_body(json!({"amount": "1,00", "reason": "OTHER"})),
            400,
            "amount",
        ),
        (
            "huge",
            base().json_body(json!({"amount": "100000000000000000000.00", "reason": "OTHER"})),
            400,
            "amount",
        ),
        (
            "number",
            base().json_body(json!({"amount": 12.3, "reason": "OTHER"})),
            400,
            "amount",
        ),
        (
            "bool",
            base().json_body(json!({"amount": true, "reason": "OTHER"})),
            400,
            "amount",
        ),
        (
            "missing amount",
            base().json_body(json!({"reason": "OTHER"})),
            400,
            "amount",
        ),
        (
            "null amount",
            base().json_body(json!({"amount": null, "reason": "OTHER"})),
            400,
            "amount",
        ),
        (
            "missing reason",
            base().json_body(json!({"amount": "1.00"})),
            400,
            "reason",
        ),
        (
            "bad reason",
            base().json_body(json!({"amount": "1.00", "reason": "GIFT"})),
            400,
            "reason",
        ),
        (
            "reason type",
            base().json_body(json!({"amount": "1.00", "reason": 3})),
            400,
            "reason",
        ),
        (
            "unknown field",
            base().json_body(json!({"amount": "1.00", "reason": "OTHER", "ammount": "9"})),
            400,
            "ammount",
        ),
        (
            "note too long",
            base().json_body(json!({"amount": "1.00", "reason": "OTHER", "note": long_note})),
            400,
            "note",
        ),
        (
            "note control",
            base().json_body(json!({"amount": "1.00", "reason": "OTHER", "note": "a\u{0}b"})),
            400,
            "note",
        ),
        ("not json", base().body("amount=1.00"), 400, "body"),
        (
            "truncated",
            base().body("{\"amount\": \"1.00\", \"reas"),
            400,
            "body",
        ),
        ("array", base().body("[1, 2]"), 400, "body"),
        ("empty", base().no_body(), 400, "body"),
        (
            "no key",
            Event::fixture(CREATE).without_header("Idempotency-Key"),
            400,
            "Idempotency-Key",
        ),
        (
            "long key",
            Event::fixture(CREATE).header("Idempotency-Key", &"k".repeat(65)),
            400,
            "Idempotency-Key",
        ),
        (
            "bad order id",
            base().path("/shops/shop-1/orders/o%231/payouts"),
            400,
            "order_id",
        ),
    ];
    for (name, event, status, field) in cases {
        let a = h.send(event).await;
        assert_eq!(a.status, status, "{name}: {}", a.body);
        assert_eq!(a.code(), "INVALID_REQUEST", "{name}");
        assert_eq!(a.body["error"]["field"], field, "{name}");
    }
    let oversized =
        base().json_body(json!({"amount": "1.00", "reason": "OTHER", "note": "x".repeat(5000)}));
    let a = h.send(oversized).await;
    assert_eq!((a.status, a.code()), (413, "PAYLOAD_TOO_LARGE"));

    assert_eq!(h.counters().await, before, "nothing was reserved");
    assert!(h.queue.is_empty(), "nothing was enqueued");
    let listed = h
        .world
        .store
        .list_shop_payouts(&h.world.shop, BusinessDate::of(morning()), None, 100)
        .await
        .unwrap();
    assert!(listed.items.is_empty(), "nothing was stored");
}

#[tokio::test]
async fn missing_or_wrong_tokens_are_401_and_other_shops_403() {
    let h = Harness::new().await;
    let other = World::with_shop(h.world.store.clone(), "shop-2", "15000.00", "1000.00").await;
    other.paid_order("o-9", "100.00").await;
    let cases: Vec<(&str, Event, u16, &str)> = vec![
        (
            "no authorizer",
            Event::fixture(CREATE).no_authorizer(),
            401,
            "UNAUTHENTICATED",
        ),
        (
            "empty claims",
            Event::fixture(CREATE).raw_claims(json!({})),
            401,
            "UNAUTHENTICATED",
        ),
        (
            "unknown role",
            Event::fixture(CREATE).claims("shop-1-owner", Some("shop-1"), "superuser"),
            401,
            "UNAUTHENTICATED",
        ),
        (
            "bad sub",
            Event::fixture(CREATE).claims("a b", Some("shop-1"), "owner"),
            401,
            "UNAUTHENTICATED",
        ),
        (
            "owner without shop",
            Event::fixture(CREATE).claims("shop-1-owner", None, "owner"),
            401,
            "UNAUTHENTICATED",
        ),
        (
            "other shop's token",
            Event::fixture(CREATE).claims("shop-2-owner", Some("shop-2"), "owner"),
            403,
            "FORBIDDEN",
        ),
        (
            "admin on merchant route",
            Event::fixture(CREATE).claims("platform-admin", None, "admin"),
            403,
            "FORBIDDEN",
        ),
        (
            "shop-1 token on shop-2's order",
            Event::fixture(CREATE).path("/shops/shop-2/orders/o-9/payouts"),
            403,
            "FORBIDDEN",
        ),
        (
            "shop-1 token reading shop-2",
            Event::fixture("payout-request/list-day-payouts.json").path("/shops/shop-2/payouts"),
            403,
            "FORBIDDEN",
        ),
    ];
    for (name, event, status, code) in cases {
        let a = h.send(event).await;
        assert_eq!((a.status, a.code()), (status, code), "{name}: {}", a.body);
    }
    assert_eq!(h.counters().await.held, Money::ZERO);
    let c = counters(&other, BusinessDate::of(morning()), &[]).await;
    assert_eq!(c.shop_day, DayTotals::default(), "shop-2 untouched");
}

#[tokio::test]
async fn only_the_owner_sets_quotas_and_they_take_effect() {
    let h = Harness::new().await;
    let quota = "payout-request/set-payout-quota.json";
    let a = h.send(as_staff(Event::fixture(quota))).await;
    assert_eq!((a.status, a.code()), (403, "FORBIDDEN"));
    let a = h
        .send(Event::fixture(quota).claims("impostor", Some("shop-1"), "owner"))
        .await;
    assert_eq!(
        (a.status, a.code()),
        (403, "FORBIDDEN"),
        "an owner token must be the shop's main account"
    );
    let a = h
        .send(Event::fixture(quota).path("/shops/shop-1/operators/shop-1-owner/payout-quota"))
        .await;
    assert_eq!(
        (a.status, &a.body["error"]["field"]),
        (400, &json!("operator_id"))
    );
    let a = h
        .send(Event::fixture(quota).json_body(
            json!({"enabled": true, "per_payout_limit": "60.00", "daily_limit": "50.00"}),
        ))
        .await;
    assert_eq!(
        (a.status, &a.body["error"]["field"]),
        (400, &json!("per_payout_limit"))
    );
    let a = h
        .send(Event::fixture(quota).json_body(
            json!({"enabled": "yes", "per_payout_limit": "6.00", "daily_limit": "50.00"}),
        ))
        .await;
    assert_eq!(
        (a.status, &a.body["error"]["field"]),
        (400, &json!("enabled"))
    );

    let a = h.send(Event::fixture(quota)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body,
        json!({
            "shop_id": "shop-1", "operator_id": "shop-1-staff", "enabled": true,
            "per_payout_limit": "50.00", "daily_limit": "200.00", "refunds_enabled": false,
            "updated_at": "2026-03-02T10:00:00.000+08:00"
        })
    );
    assert_eq!(
        h.send(as_staff(create("50.00", "k-staff"))).await.status,
        202
    );
}

#[tokio::test]
async fn reads_show_payouts_of_an_order_a_day_and_one_with_attempts() {
    let h = Harness::new().await;
    h.world.paid_order("o-2", "100.00").await;
    let first = h.send(create("10.00", "k1")).await.body;
    let second = h
        .send(create("20.00", "k2").path("/shops/shop-1/orders/o-2/payouts"))
        .await
        .body;

    let a = h
        .send(Event::fixture("payout-request/list-order-payouts.json"))
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(
        (&a.body["paid_amount"], &a.body["payouts_live_total"]),
        (&json!("100.00"), &json!("10.00"))
    );
    assert_eq!(a.body["payouts"], json!([first.clone()]));

    let day = "payout-request/list-day-payouts.json";
    let page1 = h
        .send(Event::fixture(day).query(&[("date", "2026-03-02"), ("limit", "1")]))
        .await;
    assert_eq!(page1.status, 200);
    assert_eq!(
        page1.body["payouts"],
        json!([second.clone()]),
        "newest first"
    );
    assert_eq!(page1.body["payouts_live_total"], "30.00");
    let cursor = page1.body["next_cursor"].as_str().unwrap().to_owned();
    let page2 = h
        .send(Event::fixture(day).query(&[
            ("date", "2026-03-02"),
            ("limit", "1"),
            ("cursor", &cursor),
        ]))
        .await;
    assert_eq!(page2.body["payouts"], json!([first.clone()]));
    assert_eq!(page2.body["next_cursor"], Value::Null);
    let other_day = h
        .send(Event::fixture(day).query(&[("date", "2026-03-03")]))
        .await;
    assert_eq!(other_day.body["payouts"], json!([]));
    for (q, field) in [
        ("date", "2026-13-01"),
        ("limit", "0"),
        ("limit", "101"),
        ("cursor", "not/valid"),
    ] {
        let a = h.send(Event::fixture(day).query(&[(q, field)])).await;
        assert_eq!(
            (a.status, &a.body["error"]["field"]),
            (400, &json!(q)),
            "{q}={field}"
        );
    }

    let id = first["payout_id"].as_str().unwrap();
    let a = h
        .send(
            Event::fixture("payout-request/get-payout.json")
                .path(&format!("/shops/shop-1/payouts/{id}")),
        )
        .await;
    assert_eq!(a.status, 200);
    let mut expected = first.clone();
    expected["attempts"] = json!([]);
    assert_eq!(a.body, expected);
    let a = h
        .send(Event::fixture("payout-request/get-payout.json"))
        .await;
    assert_eq!((a.status, a.code()), (404, "PAYOUT_NOT_FOUND"));
    let a = h
        .send(
            Event::fixture("payout-request/list-order-payouts.json")
                .path("/shops/shop-1/orders/o-none/payouts"),
        )
        .await;
    assert_eq!((a.status, a.code()), (404, "ORDER_NOT_FOUND"));
}

#[tokio::test]
async fn continue_redispatches_only_pending_payouts() {
    let h = Harness::new().await;
    let p = h.send(create("10.00", "k1")).await.body;
    let id = p["payout_id"].as_str().unwrap().to_owned();
    h.queue.take(10);
    let before = h.counters().await;
    let path = format!("/shops/shop-1/payouts/{id}/continue");
    let a = h
        .send(Event::fixture("payout-request/continue-payout.json").path(&path))
        .await;
    assert_eq!(a.status, 202);
    assert_eq!(a.body, p);
    assert_eq!(h.queue.take(10).len(), 1);
    assert_eq!(h.counters().await, before, "nothing reserved twice");

    let payout_id = qrpay_domain::PayoutId::parse(&id).unwrap();
    h.world
        .store
        .fail_payout(
            &h.world.shop,
            &payout_id,
            "declined",
            morning() + Duration::seconds(5),
        )
        .await
        .unwrap();
    let a = h
        .send(Event::fixture("payout-request/continue-payout.json").path(&path))
        .await;
    assert_eq!((a.status, a.code()), (409, "INVALID_STATE"));
    assert!(h.queue.is_empty());
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let h = Harness::new().await;
    let a = h
        .send(Event::fixture(CREATE).path("/shops/shop-1/nothing"))
        .await;
    assert_eq!((a.status, a.code()), (404, "ROUTE_NOT_FOUND"));
    let a = h.send(Event::fixture(CREATE).method("DELETE")).await;
    assert_eq!((a.status, a.code()), (405, "METHOD_NOT_ALLOWED"));
    let allow = |a: &Answer| {
        a.headers
            .get("allow")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(allow(&a).as_deref(), Some("POST, GET"));
    let a = h
        .send(
            Event::fixture(CREATE)
                .path("/shops/shop-1/payouts")
                .method("POST"),
        )
        .await;
    assert_eq!((a.status, allow(&a).as_deref()), (405, Some("GET")));
}

/// A queue that is down (a fault, as SQS can be): enqueueing always fails.
struct DownQueue;

#[async_trait::async_trait]
impl qrpay_queue::PayoutQueue for DownQueue {
    async fn enqueue(&self, _: &qrpay_queue::PayoutMessage) -> Result<(), qrpay_queue::QueueError> {
        Err(qrpay_queue::QueueError::Unavailable(
            "connection refused".into(),
        ))
    }
}

#[tokio::test]
async fn a_queue_outage_loses_no_payout() {
    let h = Harness::new().await;
    let app = App {
        shops: h.app.shops.clone(),
        payouts: h.app.payouts.clone(),
        collection: h.app.collection.clone(),
        queue: Arc::new(DownQueue),
        clock: h.clock.clone(),
        channels: h.app.channels,
        claims: None,
        refunds: h.app.refunds.clone(),
        refund_providers: h.app.refund_providers,
    };
    let a = Answer::from(handle(&app, create("10.00", "k-down").request()).await);
    assert_eq!(
        a.status, 202,
        "the reservation is durable; the sweeper re-dispatches it"
    );
    assert_eq!(a.body["status"], "PENDING");
    let id = a.body["payout_id"].as_str().unwrap();
    let stored = h
        .world
        .store
        .get_payout(&h.world.shop, &qrpay_domain::PayoutId::parse(id).unwrap())
        .await
        .unwrap();
    assert_eq!(
        stored.map(|p| p.status),
        Some(qrpay_domain::PayoutStatus::Pending)
    );
    assert_eq!(h.counters().await.held, money("10.00"));

    // Continuing it while the queue is still down says so instead of pretending.
    let path = format!("/shops/shop-1/payouts/{id}/continue");
    let c = Answer::from(
        handle(
            &app,
            Event::fixture("payout-request/continue-payout.json")
                .path(&path)
                .request(),
        )
        .await,
    );
    assert_eq!((c.status, c.code()), (503, "SERVICE_UNAVAILABLE"));
    assert_eq!(c.headers["retry-after"], "1");
}

#[tokio::test]
async fn a_payout_shows_its_attempts_and_a_failure_leaves_a_notice() {
    use qrpay_domain::{AttemptAction, AttemptOutcome, PayoutAttempt, PayoutId};
    let h = Harness::new().await;
    let p = h.send(create("10.00", "k1")).await.body;
    let id = PayoutId::parse(p["payout_id"].as_str().unwrap()).unwrap();
    let shop = h.world.shop.clone();
    h.world
        .store
        .start_payout(&shop, &id, morning())
        .await
        .unwrap();
    let attempt = PayoutAttempt {
        payout_id: id.clone(),
        action: AttemptAction::Transfer,
        outcome: AttemptOutcome::Failed,
        detail: Some("payee account frozen".into()),
        at: morning() + Duration::seconds(2),
    };
    h.world.store.record_attempt(&shop, &attempt).await.unwrap();
    h.world
        .store
        .fail_payout(
            &shop,
            &id,
            "payee account frozen",
            morning() + Duration::seconds(3),
        )
        .await
        .unwrap();

    let path = format!("/shops/shop-1/payouts/{id}");
    let a = h
        .send(Event::fixture("payout-request/get-payout.json").path(&path))
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["status"], "FAILED");
    assert_eq!(a.body["failure_reason"], "payee account frozen");
    assert_eq!(
        a.body["attempts"],
        json!([{"action": "TRANSFER", "outcome": "FAILED", "detail": "payee account frozen", "at": "2026-03-02T10:00:02.000+08:00"}])
    );

    let n = h
        .send(Event::fixture("payout-request/list-notices.json"))
        .await;
    assert_eq!(n.status, 200, "{}", n.body);
    let notices = n.body["notices"].as_array().unwrap();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0]["kind"], "PAYOUT_FAILED");
    assert_eq!(notices[0]["payout_id"], id.as_str());
    assert_eq!(notices[0]["created_at"], "2026-03-02T10:00:03.000+08:00");
    let other = h
        .send(Event::fixture("payout-request/list-notices.json").claims(
            "shop-2-owner",
            Some("shop-2"),
            "owner",
        ))
        .await;
    assert_eq!((other.status, other.code()), (403, "FORBIDDEN"));
}

/// SPEC §9: a payout no configured provider can deliver is refused at
/// request time; one that can names its provider.
#[tokio::test]
async fn a_payout_no_channel_can_deliver_is_refused_and_reserves_nothing() {
    let mut h = Harness::new().await;
    let before = h.counters().await;
    // This stage pays back through WeChat Pay only; o-1 was collected by the sandbox.
    h.app.channels = PayoutChannels::of(&[Provider::Wechatpay]);
    let a = h.send(create("10.00", "key-1")).await;
    assert_eq!((a.status, a.code()), (422, "PAYOUT_CHANNEL_UNAVAILABLE"));
    assert_eq!(h.counters().await, before, "nothing reserved");
    assert!(h.queue.take(10).is_empty(), "nothing queued");
    h.app.channels = PayoutChannels::of(&[Provider::Sandbox]);
    let ok = h.send(create("10.00", "key-2")).await;
    assert_eq!(ok.status, 202, "{}", ok.body);
    assert_eq!(ok.body["provider"], "sandbox");
    assert!(ok.body.get("payee_action").is_none());
}

/// What the rules decided is counted (issue 14's metrics): an acceptance,
/// a refusal by its rule; a replay and a malformed body decide nothing.
#[tokio::test]
async fn payout_decisions_are_counted_by_rule() {
    use qrpay_store::metrics::{scoped, MemoryMetrics, MetricName};
    let h = Harness::new().await;
    let sink = Arc::new(MemoryMetrics::default());
    scoped(sink.clone(), async {
        assert_eq!(h.send(create("10.00", "m-1")).await.status, 202);
        assert_eq!(h.send(create("10.00", "m-1")).await.status, 202);
        h.advance(61);
        let refused = h.send(create("100.00", "m-2")).await;
        assert_eq!(refused.code(), "EXCEEDS_ORDER_PAID_AMOUNT");
        assert_eq!(h.send(create("1.001", "m-3")).await.status, 400);
    })
    .await;
    assert_eq!(sink.sum(MetricName::PayoutsAccepted, &[]), 1.0);
    assert_eq!(sink.sum(MetricName::PayoutsRefused, &[]), 1.0);
    assert_eq!(
        sink.sum(
            MetricName::PayoutsRefused,
            &[("Rule", "EXCEEDS_ORDER_PAID_AMOUNT")]
        ),
        1.0
    );
    assert_eq!(sink.points().len(), 2);
}
