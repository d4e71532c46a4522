//! The receivables half of the store contract (SPEC §11): a shop's orders
//! that owe instalments, listed by order id and paged on, and the shop's
//! grace days. `tests/tests/receivable_contract.rs` runs every case against
//! the in-memory store and against DynamoDB (moto).

use std::sync::Arc;

use qrpay_domain::receivables::GraceDays;
use qrpay_domain::{Order, OrderId, ShopSetup};
use qrpay_store::{Page, Store};

use crate::collection_contract::{apply, at, deduction, issued_order, payment, refund};
use crate::refund_contract::{processing_refund, refund_created, refund_request};
use crate::world::{morning, World};

#[macro_export]
macro_rules! for_each_receivable_case {
    ($callback:ident!($($args:tt)*)) => {
        $callback!($($args)*;
            a_shops_receivables_are_its_paid_plans_with_periods_left_paged_by_order_id,
            a_repaid_or_fully_refunded_plan_leaves_the_receivables,
            a_merchant_refund_of_everything_takes_the_plan_out_of_the_receivables,
            a_shops_grace_days_are_kept_and_default_to_3,
        );
    };
}

/// A paid monthly-pay order of ¥300.00 over 3 periods (100.00 each).
async fn paid_plan(w: &World, no: &str) -> OrderId {
    let (_, order) = issued_order(w, no, "300.00", Some(3)).await;
    let txn = format!("t-{no}");
    apply(
        w.store.as_ref(),
        &payment(&order.order_id, &format!("n-{no}"), &txn, "300.00"),
    )
    .await;
    order.order_id
}

async fn page(w: &World, cursor: Option<&OrderId>, limit: usize) -> Page<Order, OrderId> {
    w.store
        .list_receivable_orders(&w.shop, cursor, limit)
        .await
        .unwrap()
}

fn ids(page: &Page<Order, OrderId>) -> Vec<OrderId> {
    page.items.iter().map(|o| o.order_id.clone()).collect()
}

pub async fn a_shops_receivables_are_its_paid_plans_with_periods_left_paged_by_order_id(
    store: Arc<dyn Store>,
) {
    let w = World::new(store.clone(), "15000.00", "0.00").await;
    let other = World::with_shop(store, "shop-2", "15000.00", "0.00").await;
    let mut owing = vec![
        paid_plan(&w, "R-1").await,
        paid_plan(&w, "R-2").await,
        paid_plan(&w, "R-3").await,
    ];
    owing.sort();
    // Not receivables: paid without a plan, a plan not paid yet, another shop's.
    let (_, plain) = issued_order(&w, "R-4", "300.00", None).await;
    apply(
        w.store.as_ref(),
        &payment(&plain.order_id, "n-R-4", "t-R-4", "300.00"),
    )
    .await;
    issued_order(&w, "R-5", "300.00", Some(3)).await;
    paid_plan(&other, "R-6").await;

    let first = page(&w, None, 2).await;
    assert_eq!(ids(&first), owing[..2].to_vec());
    assert_eq!(first.next_cursor.as_ref(), Some(&owing[1]));
    let second = page(&w, first.next_cursor.as_ref(), 2).await;
    assert_eq!(ids(&second), owing[2..].to_vec());
    assert_eq!(second.next_cursor, None);
    let all = page(&w, None, 100).await;
    assert_eq!(ids(&all), owing);
    assert_eq!(all.next_cursor, None);
    // The orders as stored, paid on the notice's day with every period pending.
    assert!(all.items.iter().all(|o| o.paid_at == Some(at(60))));
    assert_eq!(ids(&page(&other, None, 100).await).len(), 1);
}

pub async fn a_repaid_or_fully_refunded_plan_leaves_the_receivables(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "1000.00").await;
    let repaid = paid_plan(&w, "S-1").await;
    let refunded = paid_plan(&w, "S-2").await;
    let partly = paid_plan(&w, "S-3").await;
    for period in 1..=2 {
        let id = format!("d-{period}");
        apply(w.store.as_ref(), &deduction(&repaid, &id, period, "100.00")).await;
    }
    let mut expected = vec![repaid.clone(), refunded.clone(), partly.clone()];
    expected.sort();
    assert_eq!(ids(&page(&w, None, 100).await), expected, "one period left");
    apply(w.store.as_ref(), &deduction(&repaid, "d-3", 3, "100.00")).await;
    apply(
        w.store.as_ref(),
        &refund(&refunded, "r-1", "rf-1", "300.00"),
    )
    .await;
    apply(w.store.as_ref(), &refund(&partly, "r-2", "rf-2", "50.00")).await;
    let left = page(&w, None, 100).await;
    assert_eq!(ids(&left), vec![partly]);
    assert_eq!(left.items[0].refunded_amount.to_string(), "50.00");
}

pub async fn a_merchant_refund_of_everything_takes_the_plan_out_of_the_receivables(
    store: Arc<dyn Store>,
) {
    let w = World::new(store, "15000.00", "1000.00").await;
    let whole = paid_plan(&w, "U-1").await;
    let part = paid_plan(&w, "U-2").await;
    for (order, amt, key) in [(&whole, "300.00", "rk-1"), (&part, "120.00", "rk-2")] {
        let req = refund_request(&w, &w.owner, order, amt, key, at(600));
        let r = refund_created(&w, &req).await;
        // Still owed while the refund is in flight.
        assert!(ids(&page(&w, None, 100).await).contains(order));
        processing_refund(&w, &r, at(601)).await;
        w.store
            .succeed_refund(&w.shop, &r.refund_id, Some("5030001"), at(602))
            .await
            .unwrap();
    }
    assert_eq!(ids(&page(&w, None, 100).await), vec![part]);
}

pub async fn a_shops_grace_days_are_kept_and_default_to_3(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "0.00").await;
    let shop = w.shop_now().await;
    assert_eq!(shop.instalment_grace_days, GraceDays::DEFAULT);
    let setup = ShopSetup {
        shop_id: shop.shop_id.clone(),
        name: shop.name.clone(),
        owner_operator_id: shop.owner_operator_id.clone(),
        daily_payout_cap: shop.daily_payout_cap,
        payout_balance: None,
        instalments: shop.instalments.clone(),
        instalment_grace_days: GraceDays::new(45).unwrap(),
        branding: shop.branding.clone(),
        controls: shop.controls,
        processing_rates: shop.processing_rates.clone(),
    };
    let put = w.store.put_shop(&setup, morning()).await.unwrap();
    assert_eq!(put.instalment_grace_days.days(), 45);
    assert_eq!(w.shop_now().await.instalment_grace_days.days(), 45);
}
