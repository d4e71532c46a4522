//! A shop's collection controls in the store (SPEC §11): the daily
//! collection cap, reserved at checkout (a static code's order, a dynamic
//! code's issue), released when the order closes unpaid, kept when paid;
//! and the large-payment notice, left once per order.
//! `tests/tests/controls_contract.rs` runs every case on both stores.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use qrpay_domain::controls::collection_day;
use qrpay_domain::{
    BusinessDate, CollectionCapExceeded, CollectionControls, Decision, InstalmentConfig, Money,
    NoticeKind, Order, OrderId, OrderStatus, QrId,
};
use qrpay_store::alerts::MemoryAlerts;
use qrpay_store::collected::apply_collection_event;
use qrpay_store::{Checkout, Closing, Issued, Revocation, Store};

use crate::collection_contract::{apply, dynamic_code, payment};
use crate::world::{amount, beijing, money, morning, World};

#[macro_export]
macro_rules! for_each_controls_case {
    ($callback:ident!($($args:tt)*)) => {
        $callback!($($args)*;
            a_checkout_past_the_daily_collection_cap_is_refused_with_what_remains,
            an_amount_above_the_cap_by_itself_is_refused_with_the_whole_cap_remaining,
            the_cap_counts_business_days_in_shanghai,
            an_order_closed_unpaid_gives_its_room_back_and_a_paid_one_keeps_it,
            a_payment_after_the_release_is_never_collected,
            a_dynamic_code_past_the_cap_is_not_issued_and_its_repeat_is_answered,
            revoking_a_dynamic_code_gives_its_room_back,
            a_shop_without_a_cap_counts_every_checkout,
            an_order_written_outside_a_checkout_counts_without_the_cap_check,
            concurrent_checkouts_open_exactly_those_that_fit_under_the_cap,
            a_large_payment_leaves_one_notice_and_one_alert_however_often_it_is_notified,
            shop_controls_are_kept_and_lifted_by_the_next_setup,
            the_device_that_issued_a_paid_order_is_told_once,
        );
    };
}

/// A shop with these controls (amounts as text; none: not set).
async fn world_with(store: Arc<dyn Store>, cap: Option<&str>, alert: Option<&str>) -> World {
    let w = World::new(store, "15000.00", "0.00").await;
    set_controls(&w, cap, alert).await;
    w
}

async fn set_controls(w: &World, cap: Option<&str>, alert: Option<&str>) {
    let shop = w.shop_now().await;
    let setup = qrpay_domain::ShopSetup {
        shop_id: w.shop.clone(),
        name: shop.name.clone(),
        owner_operator_id: w.owner.clone(),
        daily_payout_cap: shop.daily_payout_cap,
        payout_balance: None,
        instalments: InstalmentConfig::default(),
        instalment_grace_days: shop.instalment_grace_days,
        branding: shop.branding.clone(),
        controls: CollectionControls {
            daily_collection_cap: cap.map(amount),
            large_payment_alert: alert.map(amount),
        },
        processing_rates: shop.processing_rates.clone(),
    };
    w.store.put_shop(&setup, morning()).await.unwrap();
}

/// A static code's order of `amt` opened at `created_at`, expiring 15 min later.
fn order_at(w: &World, id: &str, amt: &str, created_at: DateTime<Utc>) -> Order {
    Order {
        expires_at: Some(created_at + Duration::minutes(15)),
        ..Order::created(
            OrderId::parse(id).unwrap(),
            w.shop.clone(),
            amount(amt),
            created_at,
        )
    }
}

async fn open(w: &World, id: &str, amt: &str) -> Checkout {
    open_at(w, id, amt, morning()).await
}

async fn open_at(w: &World, id: &str, amt: &str, created_at: DateTime<Utc>) -> Checkout {
    w.store
        .open_checkout(&order_at(w, id, amt, created_at), &[])
        .await
        .unwrap()
}

fn refused(remaining: &str) -> Checkout {
    Checkout::CapExceeded(CollectionCapExceeded {
        remaining: money(remaining),
    })
}

async fn collected(w: &World, date: BusinessDate) -> Money {
    w.store.collected_on(&w.shop, date).await.unwrap()
}

fn today() -> BusinessDate {
    BusinessDate::of(morning())
}

async fn exists(w: &World, id: &str) -> bool {
    w.store
        .get_order(&w.shop, &OrderId::parse(id).unwrap())
        .await
        .unwrap()
        .is_some()
}

pub async fn a_checkout_past_the_daily_collection_cap_is_refused_with_what_remains(
    store: Arc<dyn Store>,
) {
    let w = world_with(store, Some("100.00"), None).await;
    assert_eq!(open(&w, "ord_c1", "60.00").await, Checkout::Opened);
    assert_eq!(open(&w, "ord_c2", "40.01").await, refused("40.00"));
    assert!(
        !exists(&w, "ord_c2").await,
        "a refused checkout writes nothing"
    );
    assert_eq!(collected(&w, today()).await, money("60.00"));
    assert_eq!(open(&w, "ord_c3", "40.00").await, Checkout::Opened);
    assert_eq!(collected(&w, today()).await, money("100.00"));
    assert_eq!(open(&w, "ord_c4", "0.01").await, refused("0.00"));
    let counted = w
        .store
        .get_order(&w.shop, &OrderId::parse("ord_c3").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(counted.collection_day, Some(today()));
}

pub async fn an_amount_above_the_cap_by_itself_is_refused_with_the_whole_cap_remaining(
    store: Arc<dyn Store>,
) {
    let w = world_with(store, Some("100.00"), None).await;
    assert_eq!(open(&w, "ord_big", "100.01").await, refused("100.00"));
    assert!(!exists(&w, "ord_big").await);
    assert_eq!(collected(&w, today()).await, Money::ZERO);
    assert_eq!(open(&w, "ord_c1", "30.00").await, Checkout::Opened);
    assert_eq!(open(&w, "ord_big2", "150.00").await, refused("70.00"));
}

pub async fn the_cap_counts_business_days_in_shanghai(store: Arc<dyn Store>) {
    let w = world_with(store, Some("100.00"), None).await;
    let last_second = beijing("2026-03-02T23:59:59");
    let next_day = beijing("2026-03-03T00:00:00");
    assert_eq!(
        open_at(&w, "ord_d1", "100.00", last_second).await,
        Checkout::Opened
    );
    assert_eq!(
        open_at(&w, "ord_d2", "0.01", last_second).await,
        refused("0.00")
    );
    // Midnight in Shanghai (16:00 UTC) starts a new day with the whole cap.
    assert_eq!(
        open_at(&w, "ord_d3", "100.00", next_day).await,
        Checkout::Opened
    );
    assert_eq!(
        collected(&w, collection_day(last_second)).await,
        money("100.00")
    );
    assert_eq!(
        collected(&w, collection_day(next_day)).await,
        money("100.00")
    );
    assert_eq!(collection_day(next_day).to_string(), "2026-03-03");
}

pub async fn an_order_closed_unpaid_gives_its_room_back_and_a_paid_one_keeps_it(
    store: Arc<dyn Store>,
) {
    let w = world_with(store, Some("100.00"), None).await;
    assert_eq!(open(&w, "ord_unpaid", "60.00").await, Checkout::Opened);
    assert_eq!(open(&w, "ord_paid", "40.00").await, Checkout::Opened);
    let paid = OrderId::parse("ord_paid").unwrap();
    assert!(matches!(
        apply(w.store.as_ref(), &payment(&paid, "n1", "t1", "40.00")).await,
        Decision::Apply(_)
    ));
    assert_eq!(collected(&w, today()).await, money("100.00"));
    let expired = morning() + Duration::minutes(16);
    let unpaid = OrderId::parse("ord_unpaid").unwrap();
    let Some(Closing::Closed(closed)) = w
        .store
        .close_expired_order(&w.shop, &unpaid, expired)
        .await
        .unwrap()
    else {
        panic!("the unpaid order closes");
    };
    assert_eq!(closed.status, OrderStatus::Closed);
    assert_eq!(collected(&w, today()).await, money("40.00"));
    // Closing it again releases nothing more; the paid order never closes.
    assert!(matches!(
        w.store
            .close_expired_order(&w.shop, &unpaid, expired)
            .await
            .unwrap(),
        Some(Closing::Unchanged(_))
    ));
    assert!(matches!(
        w.store
            .close_expired_order(&w.shop, &paid, expired)
            .await
            .unwrap(),
        Some(Closing::Unchanged(_))
    ));
    assert_eq!(collected(&w, today()).await, money("40.00"));
    assert_eq!(open(&w, "ord_again", "60.00").await, Checkout::Opened);
    assert_eq!(open(&w, "ord_more", "0.01").await, refused("0.00"));
}

pub async fn a_payment_after_the_release_is_never_collected(store: Arc<dyn Store>) {
    let w = world_with(store, Some("100.00"), None).await;
    assert_eq!(open(&w, "ord_late", "70.00").await, Checkout::Opened);
    let late = OrderId::parse("ord_late").unwrap();
    let expired = morning() + Duration::minutes(16);
    w.store
        .close_expired_order(&w.shop, &late, expired)
        .await
        .unwrap();
    assert_eq!(collected(&w, today()).await, Money::ZERO);
    // Another buyer takes the room meanwhile.
    assert_eq!(open(&w, "ord_next", "100.00").await, Checkout::Opened);
    // The late buyer's payment arrives: an anomaly (refund the buyer), the
    // order stays closed and the day's count does not move past the cap.
    let decision = apply(
        w.store.as_ref(),
        &payment(&late, "n-late", "t-late", "70.00"),
    )
    .await;
    let Decision::Anomaly(anomaly) = decision else {
        panic!("a payment for a closed order is not applied: {decision:?}");
    };
    assert_eq!(anomaly.kind, qrpay_domain::AnomalyKind::OrderNotPayable);
    let order = w.store.get_order(&w.shop, &late).await.unwrap().unwrap();
    assert_eq!(
        (order.status, order.paid_amount),
        (OrderStatus::Closed, Money::ZERO)
    );
    assert_eq!(collected(&w, today()).await, money("100.00"));
}

pub async fn a_dynamic_code_past_the_cap_is_not_issued_and_its_repeat_is_answered(
    store: Arc<dyn Store>,
) {
    let w = world_with(store, Some("100.00"), None).await;
    let (first, first_order) = dynamic_code(&w, "no-1", "80.00", None);
    assert_eq!(
        w.store.issue_qr(&first, Some(&first_order)).await.unwrap(),
        Issued::Created(first.clone())
    );
    let (second, second_order) = dynamic_code(&w, "no-2", "30.00", None);
    assert_eq!(
        w.store
            .issue_qr(&second, Some(&second_order))
            .await
            .unwrap(),
        Issued::CapExceeded(CollectionCapExceeded {
            remaining: money("20.00")
        })
    );
    // Nothing was written: no code, no order, and `no-2` is still free.
    assert_eq!(w.store.get_qr(&w.shop, &second.qr_id).await.unwrap(), None);
    assert!(!exists(&w, second_order.order_id.as_str()).await);
    let (smaller, smaller_order) = dynamic_code(&w, "no-2", "20.00", None);
    assert_eq!(
        w.store
            .issue_qr(&smaller, Some(&smaller_order))
            .await
            .unwrap(),
        Issued::Created(smaller.clone())
    );
    // A repeat of the first code is answered with it, however full the day.
    let (repeat, repeat_order) = dynamic_code(&w, "no-1", "80.00", None);
    assert_eq!(
        w.store
            .issue_qr(&repeat, Some(&repeat_order))
            .await
            .unwrap(),
        Issued::Replayed(first)
    );
    assert_eq!(collected(&w, today()).await, money("100.00"));
}

pub async fn revoking_a_dynamic_code_gives_its_room_back(store: Arc<dyn Store>) {
    let w = world_with(store, Some("100.00"), None).await;
    let (code, order) = dynamic_code(&w, "no-r", "90.00", None);
    w.store.issue_qr(&code, Some(&order)).await.unwrap();
    assert_eq!(collected(&w, today()).await, money("90.00"));
    let revoked = w
        .store
        .revoke_qr(&w.shop, &code.qr_id, morning())
        .await
        .unwrap();
    assert!(matches!(revoked, Some(Revocation::Revoked(_))));
    assert_eq!(collected(&w, today()).await, Money::ZERO);
    // Revoking again releases nothing more.
    w.store
        .revoke_qr(&w.shop, &code.qr_id, morning())
        .await
        .unwrap();
    assert_eq!(collected(&w, today()).await, Money::ZERO);
    // A static code has no order: revoking it moves no counter.
    let unknown = QrId::generate(morning());
    assert_eq!(
        w.store
            .revoke_qr(&w.shop, &unknown, morning())
            .await
            .unwrap(),
        None
    );
}

pub async fn a_shop_without_a_cap_counts_every_checkout(store: Arc<dyn Store>) {
    let w = world_with(store, None, None).await;
    assert_eq!(open(&w, "ord_n1", "99999.00").await, Checkout::Opened);
    assert_eq!(open(&w, "ord_n2", "99999.00").await, Checkout::Opened);
    assert_eq!(collected(&w, today()).await, money("199998.00"));
    // A cap set during the day applies to the whole day's checkouts.
    set_controls(&w, Some("200000.00"), None).await;
    assert_eq!(open(&w, "ord_n3", "2.01").await, refused("2.00"));
    assert_eq!(open(&w, "ord_n4", "2.00").await, Checkout::Opened);
}

pub async fn an_order_written_outside_a_checkout_counts_without_the_cap_check(
    store: Arc<dyn Store>,
) {
    let w = world_with(store, Some("100.00"), None).await;
    // An order recorded as it is (not a buyer's checkout): counted on its
    // day whatever the cap, so a later close releases exactly what it took.
    let order = order_at(&w, "ord_ins", "150.00", morning());
    assert!(w.store.insert_order(&order).await.unwrap());
    assert_eq!(collected(&w, today()).await, money("150.00"));
    assert_eq!(open(&w, "ord_after", "0.01").await, refused("0.00"));
    let expired = morning() + Duration::minutes(16);
    w.store
        .close_expired_order(&w.shop, &order.order_id, expired)
        .await
        .unwrap();
    assert_eq!(collected(&w, today()).await, Money::ZERO);
    // An order from before the counter (no collection day) moves nothing.
    let legacy = Order {
        collection_day: None,
        ..order_at(&w, "ord_legacy", "30.00", morning())
    };
    assert!(w.store.insert_order(&legacy).await.unwrap());
    w.store
        .close_expired_order(&w.shop, &legacy.order_id, expired)
        .await
        .unwrap();
    assert_eq!(collected(&w, today()).await, Money::ZERO);
}

pub async fn concurrent_checkouts_open_exactly_those_that_fit_under_the_cap(store: Arc<dyn Store>) {
    const CHECKOUTS: usize = 30;
    let w = Arc::new(world_with(store, Some("100.00"), None).await);
    let tasks: Vec<_> = (0..CHECKOUTS)
        .map(|n| {
            let w = w.clone();
            tokio::spawn(async move { open(&w, &format!("ord_race_{n}"), "7.00").await })
        })
        .collect();
    let mut opened = 0;
    for task in tasks {
        match task.await.unwrap() {
            Checkout::Opened => opened += 1,
            Checkout::CapExceeded(refusal) => {
                assert!(refusal.remaining < money("7.00"), "{refusal:?}")
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // 14 × 7.00 = 98.00 fit under 100.00; a 15th would not.
    assert_eq!(opened, 14);
    assert_eq!(collected(&w, today()).await, money("98.00"));
    let mut written = 0;
    for n in 0..CHECKOUTS {
        written += usize::from(exists(&w, &format!("ord_race_{n}")).await);
    }
    assert_eq!(written, opened, "exactly the opened checkouts have orders");
}

pub async fn a_large_payment_leaves_one_notice_and_one_alert_however_often_it_is_notified(
    store: Arc<dyn Store>,
) {
    let w = world_with(store, None, Some("500.00")).await;
    assert_eq!(open(&w, "ord_large", "500.00").await, Checkout::Opened);
    assert_eq!(open(&w, "ord_small", "499.99").await, Checkout::Opened);
    let large = OrderId::parse("ord_large").unwrap();
    let small = OrderId::parse("ord_small").unwrap();
    let alerts = MemoryAlerts::new();
    let now = morning() + Duration::seconds(61);
    let deliveries = [
        payment(&large, "n-large", "t-large", "500.00"),
        // The same notice again, and the same payment under another notice id.
        payment(&large, "n-large", "t-large", "500.00"),
        payment(&large, "n-large-2", "t-large", "500.00"),
        payment(&small, "n-small", "t-small", "499.99"),
    ];
    let mut applied = 0;
    for event in &deliveries {
        let decision = apply_collection_event(w.store.as_ref(), &alerts, None, event, now)
            .await
            .unwrap();
        applied += usize::from(matches!(decision, Decision::Apply(_)));
    }
    assert_eq!(applied, 2, "one payment per order");
    let notices = w.store.list_notices(&w.shop, 100).await.unwrap();
    let large_notices: Vec<_> = notices
        .iter()
        .filter(|n| n.kind == NoticeKind::LargePayment)
        .collect();
    assert_eq!(large_notices.len(), 1, "{notices:?}");
    assert_eq!(large_notices[0].order_id, Some(large.clone()));
    assert_eq!(large_notices[0].notice_id, "large-payment-ord_large");
    assert!(
        !large_notices[0].message.contains("张") && !large_notices[0].message.contains("1381234"),
        "no personal data: {}",
        large_notices[0].message
    );
    let raised: Vec<_> = alerts
        .raised()
        .into_iter()
        .filter(|a| a.code == "LARGE_PAYMENT")
        .collect();
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert_eq!(raised[0].reference, "ord_large");
    assert_eq!(raised[0].shop_id.as_deref(), Some(w.shop.as_str()));
}

pub async fn shop_controls_are_kept_and_lifted_by_the_next_setup(store: Arc<dyn Store>) {
    let w = world_with(store, Some("8000.00"), Some("500.00")).await;
    let shop = w.shop_now().await;
    assert_eq!(
        shop.controls,
        CollectionControls {
            daily_collection_cap: Some(amount("8000.00")),
            large_payment_alert: Some(amount("500.00")),
        }
    );
    set_controls(&w, None, Some("99999999.99")).await;
    let shop = w.shop_now().await;
    assert_eq!(shop.controls.daily_collection_cap, None);
    assert_eq!(
        shop.controls.large_payment_alert,
        Some(amount("99999999.99"))
    );
    set_controls(&w, None, None).await;
    assert_eq!(w.shop_now().await.controls, CollectionControls::default());
}

pub async fn the_device_that_issued_a_paid_order_is_told_once(store: Arc<dyn Store>) {
    let w = world_with(store, None, None).await;
    let (mut code, order) = dynamic_code(&w, "no-pos", "12.50", None);
    code.device_id = Some(qrpay_domain::DeviceId::parse("till-9").unwrap());
    w.store.issue_qr(&code, Some(&order)).await.unwrap();
    let (plain, plain_order) = dynamic_code(&w, "no-plain", "8.00", None);
    w.store.issue_qr(&plain, Some(&plain_order)).await.unwrap();
    let publisher = qrpay_queue::publish::MemoryPublisher::new();
    let alerts = MemoryAlerts::new();
    let now = morning() + Duration::seconds(61);
    for event in [
        payment(&order.order_id, "n-pos", "t-pos", "12.50"),
        payment(&order.order_id, "n-pos", "t-pos", "12.50"),
        payment(&order.order_id, "n-pos-2", "t-pos", "12.50"),
        payment(&plain_order.order_id, "n-plain", "t-plain", "8.00"),
    ] {
        apply_collection_event(w.store.as_ref(), &alerts, Some(&publisher), &event, now)
            .await
            .unwrap();
    }
    let published = publisher.take();
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(published[0].0, "pos/till-9/order/result");
    let result: serde_json::Value = serde_json::from_slice(&published[0].1).unwrap();
    assert_eq!(
        (
            &result["order_id"],
            &result["status"],
            &result["paid_amount"]
        ),
        (
            &serde_json::json!(order.order_id),
            &serde_json::json!("PAID"),
            &serde_json::json!("12.50")
        )
    );
    assert!(
        !String::from_utf8_lossy(&published[0].1).contains("张"),
        "no buyer data"
    );
}
