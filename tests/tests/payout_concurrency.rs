//! Hundreds of concurrent payout requests against one shop whose daily cap
//! and balance admit only some of them, on both stores. Afterwards no limit
//! is exceeded and every counter equals the sum of the live payouts it counts.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::Duration;
use qrpay_domain::{BusinessDate, Money, OperatorId, OrderId, PayoutId, PayoutRequest};
use qrpay_store::{DayTotals, ReserveError, Reserved, Store};
use qrpay_tests::world::{money, morning};
use qrpay_tests::World;

const REQUESTS: usize = 240;
const ORDERS: usize = 24;
const ORDER_PAID: &str = "150.00";
const CAP: &str = "600.00";
const BALANCE: &str = "500.00";
const STAFF_DAILY: &str = "120.00";
const STAFF_PER_PAYOUT: &str = "45.00";

async fn run(store: Arc<dyn Store>) {
    let w = Arc::new(World::new(store, CAP, BALANCE).await);
    let second_staff = OperatorId::parse("shop-1-staff-2").unwrap();
    w.quota(&w.staff, STAFF_PER_PAYOUT, STAFF_DAILY, true).await;
    w.quota(&second_staff, STAFF_PER_PAYOUT, STAFF_DAILY, true)
        .await;
    let mut orders = Vec::new();
    for i in 0..ORDERS {
        orders.push(w.paid_order(&format!("o{i}"), ORDER_PAID).await);
    }

    // Each order is asked twice in each of five "minutes" (61 s apart), so
    // the per-order count and the 60-second rule take part too; one request
    // in eight repeats an earlier one (same key, same body).
    let requests: Vec<PayoutRequest> = (0..REQUESTS)
        .map(|i| {
            let operator = match i % 4 {
                0 | 1 => w.owner.clone(),
                2 => w.staff.clone(),
                _ => second_staff.clone(),
            };
            let amount = format!("{}.{:02}", 10 + (i * 7) % 40, (i * 13) % 100);
            let now = morning() + Duration::seconds(61 * (i / (2 * ORDERS)) as i64);
            let key_index = if i % 8 == 7 { i - 7 } else { i };
            let mut req = w.request(
                &operator,
                &orders[i % ORDERS],
                &amount,
                &format!("key-{key_index}"),
                now,
            );
            if key_index != i {
                // A retry of an earlier request: same body, same key.
                let original = i - 7;
                let op = match original % 4 {
                    0 | 1 => w.owner.clone(),
                    2 => w.staff.clone(),
                    _ => second_staff.clone(),
                };
                let amount = format!("{}.{:02}", 10 + (original * 7) % 40, (original * 13) % 100);
                req = w.request(
                    &op,
                    &orders[original % ORDERS],
                    &amount,
                    &format!("key-{original}"),
                    now,
                );
            }
            req
        })
        .collect();

    let mut tasks = Vec::new();
    for req in requests.clone() {
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            (req.clone(), w.store.reserve_payout(&req).await)
        }));
    }
    let mut created = Vec::new();
    let mut replays = 0;
    let mut refusals: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut conflicts = 0;
    for task in tasks {
        let (req, result) = task.await.expect("task");
        match result {
            Ok(Reserved::Created(p)) => created.push((req, p)),
            Ok(Reserved::Replayed(_)) => replays += 1,
            Err(ReserveError::Refused(r)) => *refusals.entry(r.code()).or_default() += 1,
            Err(ReserveError::IdempotencyConflict) => conflicts += 1,
            Err(other) => panic!("store failure under concurrency: {other:?}"),
        }
    }
    println!(
        "created {} replays {replays} refusals {refusals:?}",
        created.len()
    );
    assert_eq!(conflicts, 0, "retries carry the same body");

    // Nothing exceeded.
    let sum = |items: &mut dyn Iterator<Item = Money>| {
        items.fold(Money::ZERO, |a, b| a.checked_add(b).unwrap())
    };
    let total = sum(&mut created.iter().map(|(_, p)| p.amount.money()));
    assert!(
        total <= money(CAP) && total <= money(BALANCE),
        "total {total}"
    );
    for staff in [&w.staff, &second_staff] {
        let by_staff = sum(&mut created
            .iter()
            .filter(|(_, p)| &p.operator_id == staff)
            .map(|(_, p)| p.amount.money()));
        assert!(by_staff <= money(STAFF_DAILY), "{staff} paid {by_staff}");
    }
    let mut keys = HashSet::new();
    for (req, p) in &created {
        assert!(
            keys.insert(req.idempotency_key.as_str().to_owned()),
            "one payout per key"
        );
        assert!(p.amount.money() <= money(STAFF_PER_PAYOUT) || p.operator_id == w.owner);
    }

    // Every counter equals the sum of the live payouts it counts.
    let date = BusinessDate::of(morning());
    let shop = w.shop_now().await;
    assert_eq!(shop.payout_held, total);
    assert_eq!(
        shop.payout_balance,
        money(BALANCE).checked_sub(total).unwrap()
    );
    assert_eq!(
        w.store.shop_day_totals(&w.shop, date).await.unwrap(),
        DayTotals {
            total,
            count: created.len() as u32
        }
    );
    for staff in [&w.staff, &second_staff] {
        let mine: Vec<_> = created
            .iter()
            .filter(|(_, p)| &p.operator_id == staff)
            .collect();
        let expected = DayTotals {
            total: sum(&mut mine.iter().map(|(_, p)| p.amount.money())),
            count: mine.len() as u32,
        };
        assert_eq!(
            w.store
                .operator_day_totals(&w.shop, staff, date)
                .await
                .unwrap(),
            expected
        );
    }
    let mut per_order: HashMap<OrderId, Vec<PayoutId>> = HashMap::new();
    for (_, p) in &created {
        per_order
            .entry(p.order_id.clone())
            .or_default()
            .push(p.payout_id.clone());
    }
    for order_id in &orders {
        let order = w.store.get_order(&w.shop, order_id).await.unwrap().unwrap();
        let mine: Vec<_> = created
            .iter()
            .filter(|(_, p)| &p.order_id == order_id)
            .collect();
        let expected = sum(&mut mine.iter().map(|(_, p)| p.amount.money()));
        assert_eq!(
            (order.payouts_live_total, order.payouts_live_count as usize),
            (expected, mine.len())
        );
        assert!(order.payouts_live_total <= money(ORDER_PAID) && order.payouts_live_count <= 5);
        let mut stored: Vec<_> = w
            .store
            .list_order_payouts(&w.shop, order_id)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.payout_id)
            .collect();
        let mut want = per_order.remove(order_id).unwrap_or_default();
        stored.sort();
        want.sort();
        assert_eq!(stored, want);
    }

    // The test is only worth something if the limits were actually reached.
    assert!(!created.is_empty());
    let binding = refusals
        .get("SHOP_DAILY_CAP_EXCEEDED")
        .copied()
        .unwrap_or(0)
        + refusals.get("INSUFFICIENT_BALANCE").copied().unwrap_or(0);
    assert!(
        binding > 0,
        "the cap or the balance must have refused some: {refusals:?}"
    );
    assert!(refusals.get("PAYOUT_TOO_FREQUENT").copied().unwrap_or(0) > 0);
    assert!(replays > 0 || refusals.values().sum::<usize>() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_never_exceeds_a_limit_under_concurrency() {
    run(qrpay_tests::memory_port().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_store_never_exceeds_a_limit_under_concurrency() {
    let store = qrpay_tests::dynamo_store().await;
    run(store.clone()).await;
    // The race path ran: transactions were cancelled by concurrent writes and
    // answered from the items DynamoDB returned, and still nothing exceeded.
    println!("cancelled transactions: {}", store.cancelled_writes());
    assert!(store.cancelled_writes() > 0);
}

/// The same failed payout released by many callers at once (worker, sweeper
/// and callback racing) is released exactly once.
async fn release_once(store: Arc<dyn Store>) {
    let w = Arc::new(World::new(store, CAP, BALANCE).await);
    w.quota(&w.staff, STAFF_PER_PAYOUT, STAFF_DAILY, true).await;
    let order = w.paid_order("o-release", ORDER_PAID).await;
    let req = w.request(&w.staff, &order, "40.00", "k-release", morning());
    let payout = match w.store.reserve_payout(&req).await {
        Ok(Reserved::Created(p)) => p,
        other => panic!("{other:?}"),
    };
    let mut tasks = Vec::new();
    for i in 0..12 {
        let w = w.clone();
        let id = payout.payout_id.clone();
        tasks.push(tokio::spawn(async move {
            w.store
                .fail_payout(
                    &w.shop,
                    &id,
                    &format!("declined {i}"),
                    morning() + Duration::seconds(5),
                )
                .await
        }));
    }
    let mut released = 0;
    for task in tasks {
        match task.await.expect("task").expect("release") {
            qrpay_store::Transition::Moved(_) => released += 1,
            qrpay_store::Transition::Unchanged(p) => {
                assert_eq!(p.status, qrpay_domain::PayoutStatus::Failed)
            }
        }
    }
    assert_eq!(released, 1);
    let date = BusinessDate::of(morning());
    let shop = w.shop_now().await;
    assert_eq!(
        (shop.payout_balance, shop.payout_held),
        (money(BALANCE), Money::ZERO)
    );
    assert_eq!(
        w.store.shop_day_totals(&w.shop, date).await.unwrap(),
        DayTotals::default()
    );
    assert_eq!(
        w.store
            .operator_day_totals(&w.shop, &w.staff, date)
            .await
            .unwrap(),
        DayTotals::default()
    );
    let o = w.store.get_order(&w.shop, &order).await.unwrap().unwrap();
    assert_eq!(
        (o.payouts_live_total, o.payouts_live_count),
        (Money::ZERO, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_releases_a_failed_payout_once_under_concurrency() {
    release_once(qrpay_tests::memory_port().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_store_releases_a_failed_payout_once_under_concurrency() {
    release_once(qrpay_tests::dynamo_port().await).await;
}

/// Racers that lose get the exact rule and headroom, whichever path found it
/// (the snapshot, or a cancelled transaction's returned items).
async fn race_answers_are_exact(store: Arc<dyn Store>) {
    let w = Arc::new(World::new(store, CAP, "100.00").await);
    let one_order = w.paid_order("o-race", ORDER_PAID).await;
    let mut orders = Vec::new();
    for i in 0..10 {
        orders.push(w.paid_order(&format!("o-bal-{i}"), ORDER_PAID).await);
    }
    // 20 at once on one order: one wins, 19 must wait exactly 60 s.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let req = w.request(
            &w.owner,
            &one_order,
            "1.00",
            &format!("same-order-{i}"),
            morning(),
        );
        let w = w.clone();
        tasks.push(tokio::spawn(
            async move { w.store.reserve_payout(&req).await },
        ));
    }
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(Reserved::Created(_)) => created += 1,
            Err(ReserveError::Refused(r)) => assert_eq!(
                r,
                qrpay_domain::PayoutRefusal::TooFrequent { retry_after_s: 60 }
            ),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(created, 1);

    // 10 × 30.00 at once against the 99.00 left: three fit, and every loser
    // sees exactly the 9.00 that is left once three are in.
    let mut tasks = Vec::new();
    for (i, order) in orders.iter().enumerate() {
        let req = w.request(&w.owner, order, "30.00", &format!("balance-{i}"), morning());
        let w = w.clone();
        tasks.push(tokio::spawn(
            async move { w.store.reserve_payout(&req).await },
        ));
    }
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(Reserved::Created(_)) => created += 1,
            Err(ReserveError::Refused(r)) => {
                assert_eq!(
                    r,
                    qrpay_domain::PayoutRefusal::InsufficientBalance {
                        remaining: money("9.00")
                    }
                )
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(created, 3);
    assert_eq!(w.shop_now().await.payout_balance, money("9.00"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_race_answers_are_exact() {
    race_answers_are_exact(qrpay_tests::memory_port().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_store_race_answers_are_exact() {
    let store = qrpay_tests::dynamo_store().await;
    race_answers_are_exact(store.clone()).await;
    assert!(
        store.cancelled_writes() > 0,
        "the cancellation path was exercised"
    );
}
