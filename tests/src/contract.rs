//! The store contract: every adapter of `Store` must pass each case here.
//! `tests/tests/store_contract.rs` runs them against the in-memory store and
//! against DynamoDB (moto), each on a fresh store.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use qrpay_domain::{
    BusinessDate, Money, OrderId, OrderStatus, PayeeAction, PayerAccount, PayerAccountKind, Payout,
    PayoutChannels, PayoutId, PayoutRefusal, PayoutRequest, PayoutStatus, Provider,
};
use qrpay_store::{DayTotals, PayoutError, ReserveError, Reserved, Store, Transition};

use crate::world::{beijing, money, morning, World};

/// Every case of the contract, for suites that run them all.
#[macro_export]
macro_rules! for_each_contract_case {
    ($callback:ident!($($args:tt)*)) => {
        $callback!($($args)*;
            owner_payout_reserves_everything_it_counts,
            shop_cap_reached_exactly_is_accepted_one_fen_more_is_refused,
            order_paid_amount_reached_exactly_is_accepted_one_fen_more_is_refused,
            sixth_live_payout_of_an_order_is_refused_until_one_fails,
            sixty_second_rule_refuses_until_exactly_sixty_seconds_passed,
            staff_needs_an_enabled_quota,
            staff_per_payout_limit_boundary,
            staff_daily_limit_boundary_and_owner_unaffected,
            balance_reached_exactly_is_accepted_one_fen_more_is_refused,
            order_must_exist_in_this_shop_and_be_paid,
            idempotent_replay_reserves_nothing_again,
            same_key_with_another_body_conflicts_and_changes_nothing,
            failed_payout_releases_everything_once,
            beijing_midnight_starts_a_new_day_and_resets_caps,
            shop_payouts_of_a_day_are_paginated_newest_first,
            order_payouts_are_listed_newest_first_with_failed_ones,
            shop_setup_update_keeps_the_hold,
            refunds_lower_the_order_ceiling,
            success_turns_the_hold_into_a_debit_and_writes_one_ledger_entry,
            only_a_processing_payout_can_succeed,
            failure_leaves_one_notice_for_the_merchant,
            attempts_are_kept_in_order,
            open_payouts_are_listed_by_status_and_age,
            open_payouts_page_on_from_a_cursor_the_store_keeps,
            a_payout_is_found_by_its_id_alone,
            a_payout_goes_through_the_collecting_provider_and_keeps_the_payees_action,
        );
    };
}

/// The shop's money and counters, to compare before and after an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counters {
    pub balance: Money,
    pub held: Money,
    pub shop_day: DayTotals,
    pub staff_day: DayTotals,
    pub orders: Vec<(Money, u32)>,
}

pub async fn counters(w: &World, date: BusinessDate, orders: &[&OrderId]) -> Counters {
    let shop = w.shop_now().await;
    let mut order_counters = Vec::new();
    for id in orders {
        let o = w
            .store
            .get_order(&w.shop, id)
            .await
            .unwrap()
            .expect("order");
        // The books hold whatever happened (live count ≤ 5, within the paid amount).
        assert_eq!(qrpay_domain::check_books(&o), Ok(()), "{o:?}");
        order_counters.push((o.payouts_live_total, o.payouts_live_count));
    }
    Counters {
        balance: shop.payout_balance,
        held: shop.payout_held,
        shop_day: w.store.shop_day_totals(&w.shop, date).await.unwrap(),
        staff_day: w
            .store
            .operator_day_totals(&w.shop, &w.staff, date)
            .await
            .unwrap(),
        orders: order_counters,
    }
}

/// Available + held moved only by what the ledger recorded leaving.
pub fn assert_moved_only_by_the_ledger(before: &Counters, after: &Counters, ledger: Money) {
    let sum = |c: &Counters| c.balance.fen() + c.held.fen();
    assert_eq!(
        sum(before) - sum(after),
        ledger.fen(),
        "available + held moves only by the ledger amount: {before:?} -> {after:?}"
    );
}

pub async fn reserve(w: &World, req: &PayoutRequest) -> Result<Reserved, ReserveError> {
    w.store.reserve_payout(req).await
}

pub async fn created(w: &World, req: &PayoutRequest) -> Payout {
    match reserve(w, req).await {
        Ok(Reserved::Created(p)) => p,
        other => panic!(
            "expected a new payout for {} {}, got {other:?}",
            req.order_id, req.amount
        ),
    }
}

pub async fn refused(w: &World, req: &PayoutRequest) -> PayoutRefusal {
    match reserve(w, req).await {
        Err(ReserveError::Refused(r)) => r,
        other => panic!(
            "expected a refusal for {} {}, got {other:?}",
            req.order_id, req.amount
        ),
    }
}

fn day(at: DateTime<Utc>) -> BusinessDate {
    BusinessDate::of(at)
}

fn later(s: i64) -> DateTime<Utc> {
    morning() + Duration::seconds(s)
}

pub async fn owner_payout_reserves_everything_it_counts(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "500.00").await;
    let o = w.paid_order("o1", "100.00").await;
    let p = created(&w, &w.request(&w.owner, &o, "12.30", "k1", morning())).await;

    assert_eq!(p.status, PayoutStatus::Pending);
    assert_eq!(p.amount.to_string(), "12.30");
    assert_eq!(p.business_date.to_string(), "2026-03-02");
    assert!(!p.counted_for_operator, "the owner has no daily counter");
    assert_eq!(
        w.store.get_payout(&w.shop, &p.payout_id).await.unwrap(),
        Some(p.clone())
    );

    let order = w.store.get_order(&w.shop, &o).await.unwrap().unwrap();
    assert_eq!(
        (order.payouts_live_total, order.payouts_live_count),
        (money("12.30"), 1)
    );
    assert_eq!(order.last_payout_at, Some(morning()));
    let c = counters(&w, day(morning()), &[&o]).await;
    assert_eq!(c.balance, money("487.70"));
    assert_eq!(c.held, money("12.30"));
    assert_eq!(
        c.shop_day,
        DayTotals {
            total: money("12.30"),
            count: 1
        }
    );
    assert_eq!(c.staff_day, DayTotals::default());
}

pub async fn shop_cap_reached_exactly_is_accepted_one_fen_more_is_refused(store: Arc<dyn Store>) {
    let w = World::new(store, "100.00", "1000.00").await;
    let (o1, o2, o3) = (
        w.paid_order("o1", "500.00").await,
        w.paid_order("o2", "500.00").await,
        w.paid_order("o3", "500.00").await,
    );
    created(&w, &w.request(&w.owner, &o1, "60.00", "k1", morning())).await;
    let over = refused(&w, &w.request(&w.owner, &o2, "40.01", "k2", morning())).await;
    assert_eq!(
        over,
        PayoutRefusal::ShopDailyCapExceeded {
            remaining: money("40.00")
        }
    );
    assert_eq!(over.code(), "SHOP_DAILY_CAP_EXCEEDED");
    created(&w, &w.request(&w.owner, &o2, "40.00", "k3", morning())).await;
    let full = refused(&w, &w.request(&w.owner, &o3, "0.01", "k4", morning())).await;
    assert_eq!(
        full,
        PayoutRefusal::ShopDailyCapExceeded {
            remaining: money("0.00")
        }
    );
    let c = counters(&w, day(morning()), &[&o1, &o2, &o3]).await;
    assert_eq!(
        c.shop_day,
        DayTotals {
            total: money("100.00"),
            count: 2
        }
    );
    assert_eq!(c.orders[2], (Money::ZERO, 0), "a refusal reserves nothing");
}

pub async fn order_paid_amount_reached_exactly_is_accepted_one_fen_more_is_refused(
    store: Arc<dyn Store>,
) {
    let w = World::new(store, "15000.00", "1000.00").await;
    let o = w.paid_order("o1", "50.00").await;
    created(&w, &w.request(&w.owner, &o, "30.00", "k1", morning())).await;
    let over = refused(&w, &w.request(&w.owner, &o, "20.01", "k2", later(60))).await;
    assert_eq!(
        over,
        PayoutRefusal::ExceedsOrderPaidAmount {
            remaining: money("20.00")
        }
    );
    created(&w, &w.request(&w.owner, &o, "20.00", "k3", later(60))).await;
    let full = refused(&w, &w.request(&w.owner, &o, "0.01", "k4", later(120))).await;
    assert_eq!(
        full,
        PayoutRefusal::ExceedsOrderPaidAmount {
            remaining: money("0.00")
        }
    );
    assert_eq!(
        counters(&w, day(morning()), &[&o]).await.orders[0],
        (money("50.00"), 2)
    );
}

pub async fn sixth_live_payout_of_an_order_is_refused_until_one_fails(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "1000.00").await;
    let o = w.paid_order("o1", "100.00").await;
    let mut first = None;
    for i in 0..5 {
        let p = created(
            &w,
            &w.request(&w.owner, &o, "1.00", &format!("k{i}"), later(60 * i)),
        )
        .await;
        first.get_or_insert(p.payout_id);
    }
    let sixth = w.request(&w.owner, &o, "1.00", "k5", later(300));
    assert_eq!(
        refused(&w, &sixth).await,
        PayoutRefusal::OrderPayoutCountExceeded
    );
    assert_eq!(
        PayoutRefusal::OrderPayoutCountExceeded.code(),
        "ORDER_PAYOUT_COUNT_EXCEEDED"
    );

    let released = w
        .store
        .fail_payout(&w.shop, &first.unwrap(), "bank rejected", later(301))
        .await
        .unwrap();
    assert!(matches!(released, Transition::Moved(_)));
    created(&w, &w.request(&w.owner, &o, "1.00", "k6", later(302))).await;
    assert_eq!(
        counters(&w, day(morning()), &[&o]).await.orders[0],
        (money("5.00"), 5)
    );
}

pub async fn sixty_second_rule_refuses_until_exactly_sixty_seconds_passed(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "1000.00").await;
    let (o1, o2) = (
        w.paid_order("o1", "100.00").await,
        w.paid_order("o2", "100.00").await,
    );
    created(&w, &w.request(&w.owner, &o1, "1.00", "k1", morning())).await;

    let early = refused(
        &w,
        &w.request(
            &w.owner,
            &o1,
            "1.00",
            "k2",
            morning() + Duration::milliseconds(59_001),
        ),
    )
    .await;
    assert_eq!(early, PayoutRefusal::TooFrequent { retry_after_s: 1 });
    let at_once = refused(&w, &w.request(&w.owner, &o1, "1.00", "k3", later(1))).await;
    assert_eq!(at_once, PayoutRefusal::TooFrequent { retry_after_s: 59 });
    assert_eq!(at_once.code(), "PAYOUT_TOO_FREQUENT");
    // Another order is not held back.
    created(&w, &w.request(&w.owner, &o2, "1.00", "k4", later(1))).await;
    created(&w, &w.request(&w.owner, &o1, "1.00", "k5", later(60))).await;
}

pub async fn staff_needs_an_enabled_quota(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "1000.00").await;
    let o = w.paid_order("o1", "100.00").await;
    let none = refused(&w, &w.request(&w.staff, &o, "1.00", "k1", morning())).await;
    assert_eq!(none, PayoutRefusal::OperatorNoQuota);
    assert_eq!(none.code(), "OPERATOR_NO_QUOTA");
    w.quota(&w.staff, "50.00", "100.00", false).await;
    assert_eq!(
        refused(&w, &w.request(&w.staff, &o, "1.00", "k2", morning())).await,
        PayoutRefusal::OperatorNoQuota
    );
    w.quota(&w.staff, "50.00", "100.00", true).await;
    let p = created(&w, &w.request(&w.staff, &o, "1.00", "k3", morning())).await;
    assert!(p.counted_for_operator);
    let c = counters(&w, day(morning()), &[&o]).await;
    assert_eq!(
        c.staff_day,
        DayTotals {
            total: money("1.00"),
            count: 1
        }
    );
}

pub async fn staff_per_payout_limit_boundary(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "1000.00").await;
    let (o1, o2) = (
        w.paid_order("o1", "100.00").await,
        w.paid_order("o2", "100.00").await,
    );
    w.quota(&w.staff, "50.00", "500.00", true).await;
    let over = refused(&w, &w.request(&w.staff, &o1, "50.01", "k1", morning())).await;
    assert_eq!(over.code(), "OPERATOR_SINGLE_LIMIT_EXCEEDED");
    assert_eq!(over.remaining(), Some(money("50.00")));
    created(&w, &w.request(&w.staff, &o2, "50.00", "k2", morning())).await;
}

pub async fn staff_daily_limit_boundary_and_owner_unaffected(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "1000.00").await;
    let orders: Vec<OrderId> = futures_orders(&w, 4).await;
    w.quota(&w.staff, "100.00", "100.00", true).await;
    created(
        &w,
        &w.request(&w.staff, &orders[0], "60.00", "k1", morning()),
    )
    .await;
    let over = refused(
        &w,
        &w.request(&w.staff, &orders[1], "40.01", "k2", morning()),
    )
    .await;
    assert_eq!(
        over,
        PayoutRefusal::OperatorDailyLimitExceeded {
            remaining: money("40.00")
        }
    );
    created(
        &w,
        &w.request(&w.staff, &orders[1], "40.00", "k3", morning()),
    )
    .await;
    let full = refused(
        &w,
        &w.request(&w.staff, &orders[2], "0.01", "k4", morning()),
    )
    .await;
    assert_eq!(
        full,
        PayoutRefusal::OperatorDailyLimitExceeded {
            remaining: money("0.00")
        }
    );
    // The owner's payouts count for the shop, not for the sub-account.
    created(
        &w,
        &w.request(&w.owner, &orders[3], "90.00", "k5", morning()),
    )
    .await;
    let c = counters(&w, day(morning()), &[]).await;
    assert_eq!(
        c.staff_day,
        DayTotals {
            total: money("100.00"),
            count: 2
        }
    );
    assert_eq!(
        c.shop_day,
        DayTotals {
            total: money("190.00"),
            count: 3
        }
    );
}

async fn futures_orders(w: &World, n: usize) -> Vec<OrderId> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(w.paid_order(&format!("o{i}"), "100.00").await);
    }
    ids
}

pub async fn balance_reached_exactly_is_accepted_one_fen_more_is_refused(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "30.00").await;
    let (o1, o2) = (
        w.paid_order("o1", "100.00").await,
        w.paid_order("o2", "100.00").await,
    );
    let over = refused(&w, &w.request(&w.owner, &o1, "30.01", "k1", morning())).await;
    assert_eq!(
        over,
        PayoutRefusal::InsufficientBalance {
            remaining: money("30.00")
        }
    );
    assert_eq!(over.code(), "INSUFFICIENT_BALANCE");
    created(&w, &w.request(&w.owner, &o1, "30.00", "k2", morning())).await;
    let empty = refused(&w, &w.request(&w.owner, &o2, "0.01", "k3", morning())).await;
    assert_eq!(
        empty,
        PayoutRefusal::InsufficientBalance {
            remaining: money("0.00")
        }
    );
    let c = counters(&w, day(morning()), &[]).await;
    assert_eq!((c.balance, c.held), (Money::ZERO, money("30.00")));
}

pub async fn order_must_exist_in_this_shop_and_be_paid(store: Arc<dyn Store>) {
    let a = World::with_shop(store.clone(), "shop-a", "15000.00", "1000.00").await;
    let b = World::with_shop(store, "shop-b", "15000.00", "1000.00").await;
    let b_order = b.paid_order("b-order", "100.00").await;
    // Shop A cannot pay out against shop B's order: it does not exist for A.
    let cross = refused(&a, &a.request(&a.owner, &b_order, "1.00", "k1", morning())).await;
    assert_eq!(cross, PayoutRefusal::OrderNotFound);
    assert_eq!(cross.code(), "ORDER_NOT_FOUND");
    let missing = OrderId::parse("nope").unwrap();
    assert_eq!(
        refused(&a, &a.request(&a.owner, &missing, "1.00", "k2", morning())).await,
        PayoutRefusal::OrderNotFound
    );
    for (id, status) in [
        ("created", OrderStatus::Created),
        ("refunded", OrderStatus::Refunded),
        ("closed", OrderStatus::Closed),
    ] {
        let o = a.order_in(id, "100.00", status).await;
        let r = refused(
            &a,
            &a.request(&a.owner, &o, "1.00", &format!("k-{id}"), morning()),
        )
        .await;
        assert_eq!(r, PayoutRefusal::OrderNotPayable { status }, "{id}");
        assert_eq!(r.code(), "ORDER_NOT_PAYABLE");
    }
    let partially = a
        .order_in("partial", "100.00", OrderStatus::PartiallyRefunded)
        .await;
    created(
        &a,
        &a.request(&a.owner, &partially, "1.00", "k3", morning()),
    )
    .await;
    assert_eq!(
        counters(&b, day(morning()), &[&b_order]).await.orders[0],
        (Money::ZERO, 0)
    );

    let ghost = World {
        store: a.store.clone(),
        shop: qrpay_domain::ShopId::parse("ghost").unwrap(),
        owner: a.owner.clone(),
        staff: a.staff.clone(),
    };
    assert!(matches!(
        reserve(
            &ghost,
            &ghost.request(&a.owner, &b_order, "1.00", "k4", morning())
        )
        .await,
        Err(ReserveError::ShopNotFound)
    ));
}

pub async fn idempotent_replay_reserves_nothing_again(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "1000.00").await;
    let o = w.paid_order("o1", "100.00").await;
    w.quota(&w.staff, "50.00", "100.00", true).await;
    let first = w.request(&w.staff, &o, "10.00", "same-key", morning());
    let p = created(&w, &first).await;
    let before = counters(&w, day(morning()), &[&o]).await;

    // The client retries (new request id, a little later): same payout back.
    let mut retry = w.request(&w.staff, &o, "10.00", "same-key", later(5));
    retry.payout_id = qrpay_domain::PayoutId::generate(later(5));
    match reserve(&w, &retry).await {
        Ok(Reserved::Replayed(again)) => assert_eq!(again, p),
        other => panic!("expected replay, got {other:?}"),
    }
    assert_eq!(
        counters(&w, day(morning()), &[&o]).await,
        before,
        "a replay reserves nothing"
    );
    assert_eq!(
        w.store.get_payout(&w.shop, &retry.payout_id).await.unwrap(),
        None
    );

    // A replay shows the payout as it is now.
    w.store
        .fail_payout(&w.shop, &p.payout_id, "provider said no", later(6))
        .await
        .unwrap();
    match reserve(&w, &w.request(&w.staff, &o, "10.00", "same-key", later(7))).await {
        Ok(Reserved::Replayed(again)) => assert_eq!(again.status, PayoutStatus::Failed),
        other => panic!("expected replay, got {other:?}"),
    }
}

pub async fn same_key_with_another_body_conflicts_and_changes_nothing(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "1000.00").await;
    let (o1, o2) = (
        w.paid_order("o1", "100.00").await,
        w.paid_order("o2", "100.00").await,
    );
    created(&w, &w.request(&w.owner, &o1, "10.00", "k", morning())).await;
    let before = counters(&w, day(morning()), &[&o1, &o2]).await;
    for other in [
        w.request(&w.owner, &o1, "10.01", "k", later(61)),
        w.request(&w.owner, &o2, "10.00", "k", later(61)),
        {
            let mut r = w.request(&w.owner, &o1, "10.00", "k", later(61));
            r.note = Some(qrpay_domain::PayoutNote::parse("different").unwrap());
            r
        },
    ] {
        assert!(matches!(
            reserve(&w, &other).await,
            Err(ReserveError::IdempotencyConflict)
        ));
    }
    assert_eq!(counters(&w, day(morning()), &[&o1, &o2]).await, before);
}

pub async fn failed_payout_releases_everything_once(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "1000.00").await;
    let o = w.paid_order("o1", "100.00").await;
    w.quota(&w.staff, "50.00", "100.00", true).await;
    let empty = counters(&w, day(morning()), &[&o]).await;
    let p = created(&w, &w.request(&w.staff, &o, "25.00", "k1", morning())).await;
    let reserved = counters(&w, day(morning()), &[&o]).await;
    assert_moved_only_by_the_ledger(&empty, &reserved, Money::ZERO);

    let Transition::Moved(failed) = w
        .store
        .fail_payout(&w.shop, &p.payout_id, "payee account frozen", later(10))
        .await
        .unwrap()
    else {
        panic!("first release must release");
    };
    assert_eq!(failed.status, PayoutStatus::Failed);
    assert_eq!(
        failed.failure_reason.as_deref(),
        Some("payee account frozen")
    );
    let stored = w
        .store
        .get_payout(&w.shop, &p.payout_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, failed);
    let mut released = counters(&w, day(morning()), &[&o]).await;
    assert_eq!(released.balance, empty.balance);
    assert_eq!(released.held, Money::ZERO);
    assert_eq!(released.shop_day, DayTotals::default());
    assert_eq!(released.staff_day, DayTotals::default());
    assert_eq!(released.orders, vec![(Money::ZERO, 0)]);
    assert_moved_only_by_the_ledger(&reserved, &released, Money::ZERO);

    // Applying it again releases nothing more.
    let again = w
        .store
        .fail_payout(&w.shop, &p.payout_id, "again", later(20))
        .await
        .unwrap();
    assert!(
        matches!(again, Transition::Unchanged(ref x) if x.failure_reason.as_deref() == Some("payee account frozen"))
    );
    released.orders = vec![(Money::ZERO, 0)];
    assert_eq!(counters(&w, day(morning()), &[&o]).await, released);

    let unknown = qrpay_domain::PayoutId::parse("po_missing").unwrap();
    assert!(matches!(
        w.store.fail_payout(&w.shop, &unknown, "x", later(30)).await,
        Err(PayoutError::PayoutNotFound)
    ));
}

pub async fn beijing_midnight_starts_a_new_day_and_resets_caps(store: Arc<dyn Store>) {
    let w = World::new(store, "100.00", "1000.00").await;
    let orders = futures_orders(&w, 4).await;
    w.quota(&w.staff, "50.00", "50.00", true).await;
    let last_second = beijing("2026-03-01T23:59:59");
    let midnight = beijing("2026-03-02T00:00:00");
    assert_ne!(day(last_second), day(midnight));

    let late = created(
        &w,
        &w.request(&w.owner, &orders[0], "50.00", "k1", last_second),
    )
    .await;
    created(
        &w,
        &w.request(&w.staff, &orders[1], "50.00", "k2", last_second),
    )
    .await;
    assert_eq!(late.business_date.to_string(), "2026-03-01");
    let capped = refused(
        &w,
        &w.request(&w.owner, &orders[2], "0.01", "k3", last_second),
    )
    .await;
    assert_eq!(
        capped,
        PayoutRefusal::ShopDailyCapExceeded {
            remaining: Money::ZERO
        }
    );

    // One second later it is a new Beijing day: the cap and the quota reset.
    let fresh = created(
        &w,
        &w.request(&w.owner, &orders[2], "50.00", "k4", midnight),
    )
    .await;
    assert_eq!(fresh.business_date.to_string(), "2026-03-02");
    created(
        &w,
        &w.request(&w.staff, &orders[3], "50.00", "k5", midnight),
    )
    .await;
    let yesterday = counters(&w, day(last_second), &[]).await;
    let today = counters(&w, day(midnight), &[]).await;
    assert_eq!(
        yesterday.shop_day,
        DayTotals {
            total: money("100.00"),
            count: 2
        }
    );
    assert_eq!(
        today.shop_day,
        DayTotals {
            total: money("100.00"),
            count: 2
        }
    );
    assert_eq!(
        today.staff_day,
        DayTotals {
            total: money("50.00"),
            count: 1
        }
    );

    // Releasing yesterday's payout gives back yesterday's headroom, not today's.
    w.store
        .fail_payout(&w.shop, &late.payout_id, "failed", midnight)
        .await
        .unwrap();
    assert_eq!(
        counters(&w, day(last_second), &[]).await.shop_day,
        DayTotals {
            total: money("50.00"),
            count: 1
        }
    );
    assert_eq!(
        counters(&w, day(midnight), &[]).await.shop_day,
        today.shop_day
    );
}

pub async fn shop_payouts_of_a_day_are_paginated_newest_first(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "1000.00").await;
    let orders = futures_orders(&w, 5).await;
    let mut ids = Vec::new();
    for (i, o) in orders.iter().enumerate() {
        ids.push(
            created(
                &w,
                &w.request(&w.owner, o, "1.00", &format!("k{i}"), later(i as i64)),
            )
            .await
            .payout_id,
        );
    }
    let other_day = w.paid_order("next-day", "100.00").await;
    created(
        &w,
        &w.request(
            &w.owner,
            &other_day,
            "1.00",
            "k-next",
            morning() + Duration::days(1),
        ),
    )
    .await;
    ids.reverse();

    let date = day(morning());
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = w
            .store
            .list_shop_payouts(&w.shop, date, cursor.as_ref(), 2)
            .await
            .unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(page.items.into_iter().map(|p| p.payout_id));
        pages += 1;
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(
        seen, ids,
        "all of the day's payouts, newest first, nothing from other days"
    );
    assert_eq!(pages, 3);
}

pub async fn order_payouts_are_listed_newest_first_with_failed_ones(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "1000.00").await;
    let (o1, o2) = (
        w.paid_order("o1", "100.00").await,
        w.paid_order("o2", "100.00").await,
    );
    let a = created(&w, &w.request(&w.owner, &o1, "1.00", "k1", morning())).await;
    created(&w, &w.request(&w.owner, &o2, "1.00", "k2", morning())).await;
    let b = created(&w, &w.request(&w.owner, &o1, "2.00", "k3", later(60))).await;
    w.store
        .fail_payout(&w.shop, &a.payout_id, "no", later(61))
        .await
        .unwrap();
    let listed = w.store.list_order_payouts(&w.shop, &o1).await.unwrap();
    let ids: Vec<_> = listed
        .iter()
        .map(|p| (p.payout_id.clone(), p.status))
        .collect();
    assert_eq!(
        ids,
        vec![
            (b.payout_id, PayoutStatus::Pending),
            (a.payout_id, PayoutStatus::Failed)
        ]
    );
}

/// A setup of an existing shop changes its settings, never its money: the
/// hold of payouts in flight and the balance (issue 14: a setup used to
/// overwrite the balance, wiping credits that landed meanwhile).
pub async fn shop_setup_update_keeps_the_hold(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "1000.00").await;
    let o = w.paid_order("o1", "100.00").await;
    created(&w, &w.request(&w.owner, &o, "10.00", "k1", morning())).await;
    let before = w.shop_now().await;
    let again = World::with_shop(w.store.clone(), "shop-1", "200.00", "300.00").await;
    let after = again.shop_now().await;
    assert_eq!(after.payout_held, money("10.00"));
    assert_eq!(after.payout_balance, before.payout_balance);
    assert_eq!(after.payout_balance, money("990.00"));
    assert_eq!(after.daily_payout_cap.to_string(), "200.00");
    assert_eq!(after.created_at, before.created_at);
}

pub async fn refunds_lower_the_order_ceiling(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "1000.00").await;
    let mut order = qrpay_domain::Order {
        paid_amount: money("100.00"),
        refunded_amount: money("70.00"),
        status: OrderStatus::PartiallyRefunded,
        provider: Some(Provider::Sandbox),
        ..qrpay_domain::Order::created(
            OrderId::parse("refunded-part").unwrap(),
            w.shop.clone(),
            crate::world::amount("100.00"),
            morning(),
        )
    };
    assert!(w.store.insert_order(&order).await.unwrap());
    order.refunded_amount = Money::ZERO;
    assert!(
        !w.store.insert_order(&order).await.unwrap(),
        "insert never overwrites"
    );
    let r = refused(
        &w,
        &w.request(&w.owner, &order.order_id, "30.01", "k1", morning()),
    )
    .await;
    assert_eq!(
        r,
        PayoutRefusal::ExceedsOrderPaidAmount {
            remaining: money("30.00")
        }
    );
    created(
        &w,
        &w.request(&w.owner, &order.order_id, "30.00", "k2", morning()),
    )
    .await;
}

async fn processing(
    w: &World,
    order: &OrderId,
    amount: &str,
    key: &str,
    at: DateTime<Utc>,
) -> Payout {
    let p = created(w, &w.request(&w.owner, order, amount, key, at)).await;
    match w
        .store
        .start_payout(&w.shop, &p.payout_id, at)
        .await
        .unwrap()
    {
        Transition::Moved(started) => {
            assert_eq!(started.status, PayoutStatus::Processing);
            started
        }
        other => panic!("expected PENDING → PROCESSING, got {other:?}"),
    }
}

pub async fn success_turns_the_hold_into_a_debit_and_writes_one_ledger_entry(
    store: Arc<dyn Store>,
) {
    let w = World::new(store, "15000.00", "1000.00").await;
    let o = w.paid_order("o1", "100.00").await;
    let p = processing(&w, &o, "25.00", "k1", morning()).await;
    let again = w
        .store
        .start_payout(&w.shop, &p.payout_id, later(1))
        .await
        .unwrap();
    assert!(matches!(again, Transition::Unchanged(ref x) if x.status == PayoutStatus::Processing));
    let before = counters(&w, day(morning()), &[&o]).await;
    assert_moved_only_by_the_ledger(
        &counters(&w, day(morning()), &[]).await,
        &before,
        Money::ZERO,
    );

    let done = w
        .store
        .succeed_payout(&w.shop, &p.payout_id, "prov-1", later(2))
        .await
        .unwrap();
    let Transition::Moved(done) = done else {
        panic!("expected a move, got {done:?}")
    };
    assert_eq!(
        (done.status, done.updated_at),
        (PayoutStatus::Succeeded, later(2))
    );
    let c = counters(&w, day(morning()), &[&o]).await;
    assert_eq!(
        (c.balance, c.held),
        (money("975.00"), Money::ZERO),
        "the hold became a debit"
    );
    assert_eq!(
        c.orders[0],
        (money("25.00"), 1),
        "a succeeded payout stays live"
    );
    assert_eq!(
        c.shop_day,
        DayTotals {
            total: money("25.00"),
            count: 1
        }
    );
    let ledger = w.store.list_ledger(&w.shop, day(later(2))).await.unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(
        (ledger[0].amount.to_string(), ledger[0].reference.as_str()),
        ("25.00".to_owned(), p.payout_id.as_str())
    );
    assert_eq!(ledger[0].provider_ref.as_deref(), Some("prov-1"));
    assert_eq!(ledger[0].kind, qrpay_domain::LedgerKind::Payout);
    assert_moved_only_by_the_ledger(&before, &c, ledger[0].amount.money());

    // Settling again, or failing it now, changes nothing.
    let twice = w
        .store
        .succeed_payout(&w.shop, &p.payout_id, "prov-1", later(3))
        .await
        .unwrap();
    assert!(matches!(twice, Transition::Unchanged(_)));
    let late_failure = w
        .store
        .fail_payout(&w.shop, &p.payout_id, "late", later(4))
        .await
        .unwrap();
    assert!(
        matches!(late_failure, Transition::Unchanged(ref x) if x.status == PayoutStatus::Succeeded)
    );
    assert_eq!(counters(&w, day(morning()), &[&o]).await, c);
    assert_eq!(
        w.store
            .list_ledger(&w.shop, day(later(2)))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(w.store.list_notices(&w.shop, 10).await.unwrap().is_empty());
}

pub async fn only_a_processing_payout_can_succeed(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "1000.00").await;
    let o = w.paid_order("o1", "100.00").await;
    let p = created(&w, &w.request(&w.owner, &o, "5.00", "k1", morning())).await;
    let before = counters(&w, day(morning()), &[&o]).await;
    let early = w
        .store
        .succeed_payout(&w.shop, &p.payout_id, "prov", later(1))
        .await
        .unwrap();
    assert!(matches!(early, Transition::Unchanged(ref x) if x.status == PayoutStatus::Pending));
    assert_eq!(counters(&w, day(morning()), &[&o]).await, before);
    assert!(w
        .store
        .list_ledger(&w.shop, day(morning()))
        .await
        .unwrap()
        .is_empty());
    let missing = qrpay_domain::PayoutId::parse("po_none").unwrap();
    assert!(matches!(
        w.store.start_payout(&w.shop, &missing, later(1)).await,
        Err(PayoutError::PayoutNotFound)
    ));
    assert!(matches!(
        w.store
            .succeed_payout(&w.shop, &missing, "x", later(1))
            .await,
        Err(PayoutError::PayoutNotFound)
    ));
}

pub async fn failure_leaves_one_notice_for_the_merchant(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "1000.00").await;
    let o = w.paid_order("o1", "100.00").await;
    let p = processing(&w, &o, "5.00", "k1", morning()).await;
    w.store
        .fail_payout(&w.shop, &p.payout_id, "payee account frozen", later(1))
        .await
        .unwrap();
    w.store
        .fail_payout(&w.shop, &p.payout_id, "payee account frozen", later(2))
        .await
        .unwrap();
    let notices = w.store.list_notices(&w.shop, 10).await.unwrap();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0].kind, qrpay_domain::NoticeKind::PayoutFailed);
    assert_eq!(notices[0].payout_id.as_ref(), Some(&p.payout_id));
    assert_eq!(notices[0].created_at, later(1));
    assert!(
        notices[0].message.contains("payee account frozen"),
        "{}",
        notices[0].message
    );
    assert!(notices[0].message.contains("5.00"));
}

pub async fn attempts_are_kept_in_order(store: Arc<dyn Store>) {
    use qrpay_domain::{AttemptAction, AttemptOutcome, PayoutAttempt};
    let w = World::new(store, "15000.00", "1000.00").await;
    let o = w.paid_order("o1", "100.00").await;
    let p = processing(&w, &o, "5.00", "k1", morning()).await;
    let attempt = |action, outcome, s: i64| PayoutAttempt {
        payout_id: p.payout_id.clone(),
        action,
        outcome,
        detail: Some(format!("at {s}")),
        at: later(s),
    };
    let written = vec![
        attempt(AttemptAction::Transfer, AttemptOutcome::Ambiguous, 1),
        attempt(AttemptAction::Query, AttemptOutcome::NotFound, 1),
        attempt(AttemptAction::Transfer, AttemptOutcome::Succeeded, 40),
    ];
    for a in &written {
        w.store.record_attempt(&w.shop, a).await.unwrap();
    }
    assert_eq!(
        w.store.list_attempts(&w.shop, &p.payout_id).await.unwrap(),
        written
    );
    let other = created(
        &w,
        &w.request(
            &w.owner,
            &w.paid_order("o2", "9.00").await,
            "1.00",
            "k2",
            morning(),
        ),
    )
    .await;
    assert!(w
        .store
        .list_attempts(&w.shop, &other.payout_id)
        .await
        .unwrap()
        .is_empty());
}

pub async fn open_payouts_are_listed_by_status_and_age(store: Arc<dyn Store>) {
    let a = World::with_shop(store.clone(), "shop-a", "15000.00", "1000.00").await;
    let b = World::with_shop(store, "shop-b", "15000.00", "1000.00").await;
    let (oa, ob, oc) = (
        a.paid_order("oa", "100.00").await,
        b.paid_order("ob", "100.00").await,
        a.paid_order("oc", "100.00").await,
    );
    let old_a = created(&a, &a.request(&a.owner, &oa, "1.00", "k1", morning())).await;
    let old_b = created(&b, &b.request(&b.owner, &ob, "1.00", "k2", later(10))).await;
    let fresh = created(&a, &a.request(&a.owner, &oc, "1.00", "k3", later(100))).await;
    let ids = |ps: Vec<Payout>| ps.into_iter().map(|p| p.payout_id).collect::<Vec<_>>();

    let pending = a
        .store
        .list_open_payouts(PayoutStatus::Pending, later(50), None, 10)
        .await
        .unwrap();
    assert_eq!(
        ids(pending),
        vec![old_a.payout_id.clone(), old_b.payout_id.clone()],
        "oldest first, across shops"
    );
    let limited = a
        .store
        .list_open_payouts(PayoutStatus::Pending, later(200), None, 1)
        .await
        .unwrap();
    assert_eq!(ids(limited), vec![old_a.payout_id.clone()]);

    a.store
        .start_payout(&a.shop, &old_a.payout_id, later(120))
        .await
        .unwrap();
    let pending = a
        .store
        .list_open_payouts(PayoutStatus::Pending, later(200), None, 10)
        .await
        .unwrap();
    assert_eq!(
        ids(pending),
        vec![old_b.payout_id.clone(), fresh.payout_id.clone()]
    );
    let processing = a
        .store
        .list_open_payouts(PayoutStatus::Processing, later(200), None, 10)
        .await
        .unwrap();
    assert_eq!(ids(processing), vec![old_a.payout_id.clone()]);
    assert!(
        a.store
            .list_open_payouts(PayoutStatus::Processing, later(120), None, 10)
            .await
            .unwrap()
            .is_empty(),
        "its age counts from the move"
    );

    a.store
        .succeed_payout(&a.shop, &old_a.payout_id, "p", later(130))
        .await
        .unwrap();
    b.store
        .fail_payout(&b.shop, &old_b.payout_id, "no", later(130))
        .await
        .unwrap();
    assert!(a
        .store
        .list_open_payouts(PayoutStatus::Processing, later(500), None, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        ids(a
            .store
            .list_open_payouts(PayoutStatus::Pending, later(500), None, 10)
            .await
            .unwrap()),
        vec![fresh.payout_id]
    );
}

/// The sweeper's walk (issue 14): pages of open payouts continue after a
/// position, in the same order on both stores (two payouts of one
/// millisecond included), and the store keeps the walk's cursor.
pub async fn open_payouts_page_on_from_a_cursor_the_store_keeps(store: Arc<dyn Store>) {
    let a = World::with_shop(store.clone(), "shop-a", "15000.00", "1000.00").await;
    let b = World::with_shop(store, "shop-b", "15000.00", "1000.00").await;
    let mut made = Vec::new();
    for (i, (w, at)) in [(&a, 0), (&b, 10), (&a, 10), (&b, 20), (&a, 30)]
        .into_iter()
        .enumerate()
    {
        let order = w.paid_order(&format!("o{i}"), "100.00").await;
        made.push(
            created(
                w,
                &w.request(&w.owner, &order, "1.00", &format!("k{i}"), later(at)),
            )
            .await,
        );
    }
    let mut expected: Vec<(String, PayoutId)> = made
        .iter()
        .map(|p| (qrpay_store::open_position(p), p.payout_id.clone()))
        .collect();
    expected.sort();
    let mut walked = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..4 {
        let page = a
            .store
            .list_open_payouts(PayoutStatus::Pending, later(100), after.as_deref(), 2)
            .await
            .unwrap();
        assert!(page.len() <= 2);
        after = page.last().map(qrpay_store::open_position).or(after);
        walked.extend(page.into_iter().map(|p| p.payout_id));
    }
    let expected_ids: Vec<PayoutId> = expected.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(walked, expected_ids, "every open payout once, oldest first");
    // Only older than `before`: a cursor at or past it finds nothing.
    let first_two = a
        .store
        .list_open_payouts(PayoutStatus::Pending, later(15), Some(&expected[0].0), 10)
        .await
        .unwrap();
    assert_eq!(first_two.len(), 2, "the two at +10 s, after the first");
    let past = a
        .store
        .list_open_payouts(PayoutStatus::Pending, later(15), Some(&expected[4].0), 10)
        .await
        .unwrap();
    assert!(past.is_empty());

    assert_eq!(
        a.store.sweep_cursor(PayoutStatus::Pending).await.unwrap(),
        None
    );
    a.store
        .set_sweep_cursor(PayoutStatus::Pending, Some(&expected[2].0))
        .await
        .unwrap();
    assert_eq!(
        a.store
            .sweep_cursor(PayoutStatus::Pending)
            .await
            .unwrap()
            .as_deref(),
        Some(expected[2].0.as_str())
    );
    assert_eq!(
        a.store
            .sweep_cursor(PayoutStatus::Processing)
            .await
            .unwrap(),
        None
    );
    a.store
        .set_sweep_cursor(PayoutStatus::Pending, None)
        .await
        .unwrap();
    assert_eq!(
        a.store.sweep_cursor(PayoutStatus::Pending).await.unwrap(),
        None
    );
}

pub async fn a_payout_is_found_by_its_id_alone(store: Arc<dyn Store>) {
    let a = World::with_shop(store.clone(), "shop-a", "15000.00", "1000.00").await;
    let b = World::with_shop(store, "shop-b", "15000.00", "1000.00").await;
    let oa = a.paid_order("oa", "10.00").await;
    let ob = b.paid_order("ob", "10.00").await;
    let pa = created(&a, &a.request(&a.owner, &oa, "1.00", "k", morning())).await;
    let pb = created(&b, &b.request(&b.owner, &ob, "2.00", "k", morning())).await;
    assert_eq!(a.store.find_payout(&pa.payout_id).await.unwrap(), Some(pa));
    assert_eq!(a.store.find_payout(&pb.payout_id).await.unwrap(), Some(pb));
    let unknown = qrpay_domain::PayoutId::parse("po_unknown").unwrap();
    assert_eq!(a.store.find_payout(&unknown).await.unwrap(), None);
}

pub async fn a_payout_goes_through_the_collecting_provider_and_keeps_the_payees_action(
    store: Arc<dyn Store>,
) {
    let w = World::new(store, "15000.00", "1000.00").await;
    let openid = PayerAccount::new(
        PayerAccountKind::WechatOpenid,
        "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
    )
    .unwrap();
    let paid = OrderStatus::Paid;
    let wechat = w
        .order_by(
            "o-wx",
            "50.00",
            paid,
            Provider::Wechatpay,
            Some(openid.clone()),
        )
        .await;
    let anonymous = w
        .order_by("o-anon", "50.00", paid, Provider::Wechatpay, None)
        .await;
    let stored = w.store.get_order(&w.shop, &wechat).await.unwrap().unwrap();
    assert_eq!(stored.payer_account, Some(openid));
    let before = counters(&w, BusinessDate::of(morning()), &[&wechat, &anonymous]).await;

    // Refused at request time, changing nothing: no channel for WeChat Pay
    // here, no account to pay back, or an amount needing a real name.
    let mut sandbox_only = w.request(&w.owner, &wechat, "5.00", "k1", morning());
    sandbox_only.channels = PayoutChannels::of(&[Provider::Sandbox]);
    assert_eq!(
        refused(&w, &sandbox_only).await,
        PayoutRefusal::ChannelUnavailable
    );
    let nobody = w.request(&w.owner, &anonymous, "5.00", "k2", morning());
    assert_eq!(
        refused(&w, &nobody).await,
        PayoutRefusal::ChannelUnavailable
    );
    assert_eq!(
        counters(&w, BusinessDate::of(morning()), &[&wechat, &anonymous]).await,
        before
    );

    let payout = created(&w, &w.request(&w.owner, &wechat, "5.00", "k3", morning())).await;
    assert_eq!(payout.provider, Some(Provider::Wechatpay));
    assert_eq!(payout.payee_action, None);
    let action = PayeeAction::WechatConfirm {
        mch_id: "1900000109".into(),
        app_id: "wxd678efh567hg6787".into(),
        package: "affffddafdfafddffda==".into(),
        confirm_by: morning() + Duration::hours(24),
    };
    // Only a transfer in progress waits for its payee.
    let pending = w
        .store
        .await_payee(&w.shop, &payout.payout_id, &action)
        .await
        .unwrap();
    assert!(matches!(pending, Transition::Unchanged(p) if p.payee_action.is_none()));
    w.store
        .start_payout(&w.shop, &payout.payout_id, morning())
        .await
        .unwrap();
    let waiting = w
        .store
        .await_payee(&w.shop, &payout.payout_id, &action)
        .await
        .unwrap();
    assert!(
        matches!(waiting, Transition::Moved(ref p) if p.payee_action.as_ref() == Some(&action))
    );
    let again = w
        .store
        .await_payee(&w.shop, &payout.payout_id, &action)
        .await
        .unwrap();
    assert!(matches!(again, Transition::Unchanged(_)));
    let read = w
        .store
        .get_payout(&w.shop, &payout.payout_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.payee_action, Some(action));
    assert_eq!(read.status, PayoutStatus::Processing);
}
