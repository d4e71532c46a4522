//! The store's half of the KPIs (SPEC §11): a checkout shown with a plan is
//! counted once per order, atomically with its guard; orders opened and
//! closed unpaid are counted on their opening day in the orders' own
//! writes. `tests/tests/kpi_contract.rs` runs every case against the
//! in-memory store and DynamoDB (moto).

use std::sync::Arc;

use chrono::Duration;
use qrpay_domain::{BusinessDate, DayActivity, Money, OrderId, ShopId};
use qrpay_store::{Checkout, Closing, Revocation, Store};

use crate::collection_contract::{apply, at, issued_order, payment};
use crate::expiry_contract::expiring_order;
use crate::world::World;

#[macro_export]
macro_rules! for_each_kpi_case {
    ($callback:ident!($($args:tt)*)) => {
        $callback!($($args)*;
            a_plan_checkout_is_counted_once_per_order_on_the_day_it_is_shown,
            concurrent_pages_of_one_checkout_count_it_once,
            orders_opened_and_closed_unpaid_count_on_their_opening_day,
        );
    };
}

fn today() -> BusinessDate {
    BusinessDate::of(at(0))
}

fn order(id: &str) -> OrderId {
    OrderId::parse(id).unwrap()
}

async fn activity(w: &World, shop: &ShopId, day: BusinessDate) -> DayActivity {
    w.store.day_activity(shop, day).await.unwrap()
}

pub async fn a_plan_checkout_is_counted_once_per_order_on_the_day_it_is_shown(
    store: Arc<dyn Store>,
) {
    let w = World::new(store, "15000.00", "0.00").await;
    let (day, next_day) = (today(), today().succ());
    let count = |id: &'static str, when: BusinessDate, s: i64| {
        let w = &w;
        async move {
            w.store
                .count_plan_checkout(&w.shop, &order(id), when, at(s))
                .await
                .unwrap()
        }
    };
    assert!(count("ord_a", day, 0).await);
    // A reload, the same day or the next: the same checkout, not counted.
    assert!(!count("ord_a", day, 5).await);
    assert!(!count("ord_a", next_day, 90_000).await);
    assert!(count("ord_b", day, 10).await);
    assert!(count("ord_c", next_day, 90_000).await);
    let counted = |plan_checkouts| DayActivity {
        plan_checkouts,
        ..DayActivity::default()
    };
    assert_eq!(activity(&w, &w.shop, day).await, counted(2));
    assert_eq!(activity(&w, &w.shop, next_day).await, counted(1));
    let other = ShopId::parse("shop-2").unwrap();
    assert_eq!(activity(&w, &other, day).await, DayActivity::default());
    // The day's counters share an item with the collection cap's: a day
    // with only a plan checkout has collected nothing.
    let collected = w.store.collected_on(&w.shop, next_day).await.unwrap();
    assert_eq!(collected, Money::ZERO);
}

pub async fn concurrent_pages_of_one_checkout_count_it_once(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "0.00").await;
    let mut pages = tokio::task::JoinSet::new();
    for n in 0..10 {
        let (store, shop) = (w.store.clone(), w.shop.clone());
        pages.spawn(async move {
            store
                .count_plan_checkout(&shop, &order("ord_busy"), today(), at(n))
                .await
        });
    }
    let mut firsts = 0;
    while let Some(done) = pages.join_next().await {
        firsts += usize::from(done.unwrap().unwrap());
    }
    assert_eq!(firsts, 1);
    assert_eq!(activity(&w, &w.shop, today()).await.plan_checkouts, 1);
}

pub async fn orders_opened_and_closed_unpaid_count_on_their_opening_day(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "0.00").await;
    // Four orders opened today: a dynamic code's, two checkouts, one paid.
    let (code, _) = issued_order(&w, "K-1", "120.00", Some(3)).await;
    let expiring = expiring_order(&w, "ord_expiring", Some(900)).await;
    expiring_order(&w, "ord_paid", Some(900)).await;
    apply(
        w.store.as_ref(),
        &payment(&order("ord_paid"), "n-1", "t-1", "9.90"),
    )
    .await;
    let duplicate = w.store.open_checkout(&expiring, &[]).await.unwrap();
    assert_eq!(duplicate, Checkout::Duplicate, "a repeat opens nothing");
    assert_eq!(
        activity(&w, &w.shop, today()).await,
        DayActivity {
            orders_created: 3,
            ..DayActivity::default()
        }
    );
    // Closed unpaid the next day (revoked, expired): counted on the day
    // they were opened; a second close finds nothing to count.
    let tomorrow = at(0) + Duration::days(1);
    let revoked = w.store.revoke_qr(&w.shop, &code.qr_id, tomorrow).await;
    assert!(matches!(revoked.unwrap(), Some(Revocation::Revoked(_))));
    let closed = w
        .store
        .close_expired_order(&w.shop, &expiring.order_id, tomorrow)
        .await
        .unwrap();
    assert!(matches!(closed, Some(Closing::Closed(_))));
    let again = w
        .store
        .close_expired_order(&w.shop, &expiring.order_id, tomorrow)
        .await
        .unwrap();
    assert!(!matches!(again, Some(Closing::Closed(_))));
    assert_eq!(
        activity(&w, &w.shop, today()).await,
        DayActivity {
            orders_created: 3,
            orders_closed_unpaid: 2,
            plan_checkouts: 0,
        }
    );
    let next_day = activity(&w, &w.shop, BusinessDate::of(tomorrow)).await;
    assert_eq!(next_day, DayActivity::default());
    // The cap's counter still holds only the paid order's amount.
    let collected = w.store.collected_on(&w.shop, today()).await.unwrap();
    assert_eq!(collected.to_string(), "9.90");
}
