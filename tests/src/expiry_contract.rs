//! Orders that expire unpaid (SPEC §10), the store's half: which orders are
//! listed as expired, the conditional `CREATED → CLOSED`, and a payment
//! racing the close. `tests/tests/expiry_contract.rs` runs every case
//! against the in-memory store and DynamoDB (moto).

use std::sync::Arc;

use qrpay_domain::{AnomalyKind, Decision, Order, OrderId, OrderStatus, Provider};
use qrpay_store::{Checkout, Closing, Store};

use crate::collection_contract::{apply, at, payment};
use crate::world::{amount, money, World};

#[macro_export]
macro_rules! for_each_expiry_case {
    ($callback:ident!($($args:tt)*)) => {
        $callback!($($args)*;
            an_orders_expiry_and_provider_order_are_kept,
            expired_unpaid_orders_are_listed_by_expiry_until_closed_or_paid,
            only_an_expired_unpaid_order_closes_and_only_once,
            a_payment_after_the_close_is_flagged_never_credited,
            a_payment_racing_the_close_either_wins_or_is_flagged,
            a_provider_order_is_bound_only_as_read_and_only_while_unpaid,
        );
    };
}

/// An unpaid order of `w`'s shop for 9.90 that expires `expires_s` after
/// the morning (none if `None`), written as a checkout writes it.
pub async fn expiring_order(w: &World, id: &str, expires_s: Option<i64>) -> Order {
    let order = Order {
        expires_at: expires_s.map(at),
        ..Order::created(
            OrderId::parse(id).unwrap(),
            w.shop.clone(),
            amount("9.90"),
            at(0),
        )
    };
    assert_eq!(
        w.store.open_checkout(&order, &[]).await.unwrap(),
        Checkout::Opened
    );
    order
}

async fn expired_ids(store: &dyn Store, now_s: i64, limit: usize) -> Vec<String> {
    store
        .list_expired_orders(at(now_s), limit)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.order_id.to_string())
        .collect()
}

async fn close(w: &World, id: &str, now_s: i64) -> Option<Closing> {
    w.store
        .close_expired_order(&w.shop, &OrderId::parse(id).unwrap(), at(now_s))
        .await
        .unwrap()
}

async fn order_now(w: &World, id: &str) -> Order {
    let id = OrderId::parse(id).unwrap();
    w.store.get_order(&w.shop, &id).await.unwrap().unwrap()
}

pub async fn an_orders_expiry_and_provider_order_are_kept(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "0.00").await;
    let order = Order {
        expires_at: Some(at(900)),
        provider_order: Some(Provider::Wechatpay),
        ..Order::created(
            OrderId::parse("ord_kept").unwrap(),
            w.shop.clone(),
            amount("12.30"),
            at(0),
        )
    };
    assert!(w.store.insert_order(&order).await.unwrap());
    assert_eq!(order_now(&w, "ord_kept").await, order);
    let found = w.store.find_order(&order.order_id).await.unwrap();
    assert_eq!(found, Some(order));
    let old_style = expiring_order(&w, "ord_none", None).await;
    assert_eq!(order_now(&w, "ord_none").await, old_style);
    assert_eq!(old_style.expires_at, None);
}

pub async fn expired_unpaid_orders_are_listed_by_expiry_until_closed_or_paid(
    store: Arc<dyn Store>,
) {
    let w = World::new(store, "15000.00", "0.00").await;
    expiring_order(&w, "ord_a", Some(900)).await;
    expiring_order(&w, "ord_b", Some(300)).await;
    expiring_order(&w, "ord_c", None).await;
    expiring_order(&w, "ord_d", Some(600)).await;
    expiring_order(&w, "ord_e", Some(2_000)).await;
    let other = World::with_shop(w.store.clone(), "shop-2", "15000.00", "0.00").await;
    expiring_order(&other, "ord_f", Some(600)).await;
    let s = w.store.as_ref();
    assert_eq!(expired_ids(s, 299, 10).await, Vec::<String>::new());
    // Expired at the very instant of its expiry.
    assert_eq!(expired_ids(s, 300, 10).await, ["ord_b"]);
    assert_eq!(
        expired_ids(s, 1_000, 10).await,
        ["ord_b", "ord_d", "ord_f", "ord_a"],
        "every shop's, earliest expiry first, an order without expiry never"
    );
    assert_eq!(expired_ids(s, 1_000, 2).await, ["ord_b", "ord_d"]);
    // Paid: no longer expiring. Closed: no longer listed.
    let paid = apply(
        s,
        &payment(&OrderId::parse("ord_d").unwrap(), "n-d", "t-d", "9.90"),
    )
    .await;
    assert!(matches!(paid, Decision::Apply(_)), "{paid:?}");
    assert!(matches!(
        close(&w, "ord_b", 1_000).await,
        Some(Closing::Closed(_))
    ));
    assert_eq!(expired_ids(s, 1_000, 10).await, ["ord_f", "ord_a"]);
    assert_eq!(expired_ids(s, 2_000, 10).await, ["ord_f", "ord_a", "ord_e"]);
}

pub async fn only_an_expired_unpaid_order_closes_and_only_once(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "0.00").await;
    let open = expiring_order(&w, "ord_x", Some(900)).await;
    // Not yet expired: nothing changes.
    assert_eq!(
        close(&w, "ord_x", 899).await,
        Some(Closing::Unchanged(open.clone()))
    );
    let Some(Closing::Closed(closed)) = close(&w, "ord_x", 900).await else {
        panic!("an expired unpaid order closes");
    };
    assert_eq!(
        (closed.status, closed.revision, closed.updated_at),
        (OrderStatus::Closed, 1, at(900))
    );
    assert_eq!(order_now(&w, "ord_x").await, closed);
    // Twice: closed once.
    assert_eq!(
        close(&w, "ord_x", 960).await,
        Some(Closing::Unchanged(closed))
    );
    assert_eq!(close(&w, "ord_nobody", 960).await, None);
    // Paid before its expiry: never closed, the payment stands.
    expiring_order(&w, "ord_p", Some(900)).await;
    apply(
        w.store.as_ref(),
        &payment(&OrderId::parse("ord_p").unwrap(), "n-p", "t-p", "9.90"),
    )
    .await;
    let Some(Closing::Unchanged(paid)) = close(&w, "ord_p", 1_000).await else {
        panic!("a paid order is not closed");
    };
    assert_eq!(
        (paid.status, paid.paid_amount),
        (OrderStatus::Paid, money("9.90"))
    );
    assert_eq!(w.shop_now().await.payout_balance, money("9.90"));
    // An order without expiry is never closed this way.
    let forever = expiring_order(&w, "ord_f", None).await;
    assert_eq!(
        close(&w, "ord_f", 1_000_000).await,
        Some(Closing::Unchanged(forever))
    );
}

pub async fn a_payment_after_the_close_is_flagged_never_credited(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "0.00").await;
    expiring_order(&w, "ord_late", Some(30)).await;
    assert!(matches!(
        close(&w, "ord_late", 40).await,
        Some(Closing::Closed(_))
    ));
    let late = apply(
        w.store.as_ref(),
        &payment(&OrderId::parse("ord_late").unwrap(), "n-l", "t-l", "9.90"),
    )
    .await;
    let Decision::Anomaly(anomaly) = late else {
        panic!("expected an anomaly, got {late:?}");
    };
    assert_eq!(anomaly.kind, AnomalyKind::OrderNotPayable);
    let o = order_now(&w, "ord_late").await;
    assert_eq!(
        (o.status, o.paid_amount),
        (OrderStatus::Closed, money("0.00"))
    );
    assert_eq!(w.shop_now().await.payout_balance, money("0.00"));
}

/// One round: the payment notice and the close at once, the close held
/// back `head_start_ms` (rounds vary it so each side gets to win).
async fn race(w: &World, id: &str, head_start_ms: u64) -> (Option<Closing>, Decision) {
    let order = expiring_order(w, id, Some(30)).await;
    let (closer, payer) = (w.store.clone(), w.store.clone());
    let (shop, order_id) = (w.shop.clone(), order.order_id.clone());
    let notice = payment(
        &order.order_id,
        &format!("n-{id}"),
        &format!("t-{id}"),
        "9.90",
    );
    let paying =
        tokio::spawn(async move { payer.apply_collection(&notice, at(40)).await.unwrap() });
    let closing = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(head_start_ms)).await;
        closer
            .close_expired_order(&shop, &order_id, at(40))
            .await
            .unwrap()
    });
    (closing.await.unwrap(), paying.await.unwrap())
}

pub async fn a_payment_racing_the_close_either_wins_or_is_flagged(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "0.00").await;
    let mut credited = 0;
    for round in 0..10 {
        let id = format!("ord_race_{round}");
        let (closing, decision) = race(&w, &id, round * 4).await;
        let now = order_now(&w, &id).await;
        match (closing, decision) {
            // The payment first: the order is paid and stays paid.
            (Some(Closing::Unchanged(seen)), Decision::Apply(_)) => {
                assert_eq!(seen.status, OrderStatus::Paid, "round {round}");
                assert_eq!(
                    (now.status, now.paid_amount),
                    (OrderStatus::Paid, money("9.90"))
                );
                credited += 1;
            }
            // The close first: the payment is an anomaly on record, not a credit.
            (Some(Closing::Closed(_)), Decision::Anomaly(a)) => {
                assert_eq!(a.kind, AnomalyKind::OrderNotPayable, "round {round}");
                assert_eq!(
                    (now.status, now.paid_amount),
                    (OrderStatus::Closed, money("0.00"))
                );
            }
            other => panic!("round {round}: inconsistent outcome {other:?}"),
        }
    }
    let balance = w.shop_now().await.payout_balance;
    assert_eq!(
        balance.fen(),
        credited * 990,
        "exactly the payments that won"
    );
}

/// The buyer's page binds an order to the provider it pays through: only
/// the order as read (a stale read changes nothing), only while it awaits
/// payment, and the close that follows sees the binding.
pub async fn a_provider_order_is_bound_only_as_read_and_only_while_unpaid(store: Arc<dyn Store>) {
    let w = World::with_shop(store, "shop-bind", "1000.00", "0.00").await;
    let order = expiring_order(&w, "ord_bind_1", Some(900)).await;
    let bound = w
        .store
        .bind_provider_order(&order, Provider::Alipay, at(10))
        .await
        .unwrap()
        .expect("an unpaid order binds");
    assert_eq!(
        (bound.provider_order, bound.revision),
        (Some(Provider::Alipay), order.revision + 1)
    );
    let stored = w
        .store
        .get_order(&w.shop, &order.order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, bound);
    // The stale read (before the binding) binds nothing.
    assert_eq!(
        w.store
            .bind_provider_order(&order, Provider::Wechatpay, at(11))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        w.store
            .get_order(&w.shop, &order.order_id)
            .await
            .unwrap()
            .unwrap()
            .provider_order,
        Some(Provider::Alipay)
    );
    // Rebinding as read moves it to the other provider.
    let rebound = w
        .store
        .bind_provider_order(&bound, Provider::Wechatpay, at(12))
        .await
        .unwrap()
        .expect("rebinds as read");
    assert_eq!(rebound.provider_order, Some(Provider::Wechatpay));
    // Paid: nothing binds any more.
    let paid = expiring_order(&w, "ord_bind_2", Some(900)).await;
    apply(
        w.store.as_ref(),
        &payment(&paid.order_id, "n-bind-2", "tx-bind-2", "9.90"),
    )
    .await;
    let paid = w
        .store
        .get_order(&w.shop, &paid.order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(paid.status, OrderStatus::Paid);
    assert_eq!(
        w.store
            .bind_provider_order(&paid, Provider::Alipay, at(20))
            .await
            .unwrap(),
        None
    );
    // The expired, bound order closes as the binding left it.
    match close(&w, "ord_bind_1", 901).await {
        Some(Closing::Closed(closed)) => {
            assert_eq!(closed.provider_order, Some(Provider::Wechatpay))
        }
        other => panic!("{other:?}"),
    }
}
