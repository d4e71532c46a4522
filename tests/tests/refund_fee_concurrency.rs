//! Refunds that hand back a processing fee, all sent at once, on both
//! stores: a shop whose balance is exactly what its payments left it (each
//! 100.00 less its 0.60 fee) refunds more than was paid, in parts. Each
//! order's accepted refunds hand back exactly the fee's share of their sum
//! (so never more than the fee), and the shop holds exactly the accepted
//! refunds less those shares; then half of them succeed and half fail, all
//! at once, and the shop's money moved by exactly what the ledger says
//! (refunds less the fees handed back), nothing held, nothing lost.

use std::sync::Arc;

use chrono::Duration;
use qrpay_domain::{LedgerKind, Money, Order, OrderId, OrderStatus, Provider, ProviderRef, Refund};
use qrpay_store::{RefundReserveError, RefundReserved, RefundTransition, Store};
use qrpay_tests::refund_contract::refund_request;
use qrpay_tests::world::{amount, money, morning};
use qrpay_tests::World;

const ORDERS: usize = 5;
const REFUNDS_PER_ORDER: usize = 7;
/// Each order: 100.00 paid, 0.60 kept by WeChat Pay (0.60%).
const PAID_FEN: i64 = 10_000;
const FEE_FEN: i64 = 60;

/// The fee's share of `fen` refunded, half up: 0.60 × refunded / 100.00.
fn share(fen: i64) -> i64 {
    (2 * FEE_FEN * fen + PAID_FEN) / (2 * PAID_FEN)
}

fn fen(m: Money) -> i64 {
    m.fen()
}

async fn paid_order(w: &World, i: usize) -> OrderId {
    let id = format!("fee-race-{i}");
    let order = Order {
        paid_amount: money("100.00"),
        processing_fee: money("0.60"),
        status: OrderStatus::Paid,
        provider: Some(Provider::Wechatpay),
        provider_txn_id: Some(ProviderRef::parse(&format!("txn-{id}")).unwrap()),
        ..Order::created(
            OrderId::parse(&id).unwrap(),
            w.shop.clone(),
            amount("100.00"),
            morning(),
        )
    };
    assert!(w.store.insert_order(&order).await.unwrap());
    order.order_id
}

async fn run(store: Arc<dyn Store>) {
    // 5 × 99.40: the payments' money and nothing more.
    let start_fen = ORDERS as i64 * (PAID_FEN - FEE_FEN);
    let start = Money::from_fen(start_fen).unwrap().to_string();
    let w = Arc::new(World::new(store, "100000.00", &start).await);
    let mut orders = Vec::new();
    for i in 0..ORDERS {
        orders.push(paid_order(&w, i).await);
    }

    // Every order's refunds at once, each at its own minute, adding up to
    // more than was paid: the last one of an order often takes the rest.
    let mut tasks = Vec::new();
    for (o, order) in orders.iter().enumerate() {
        for i in 0..REFUNDS_PER_ORDER {
            let now = morning() + Duration::seconds(61 * i as i64);
            let amount = format!(
                "{}.{:02}",
                9 + (o * 5 + i * 3) % 13,
                (o * 31 + i * 17) % 100
            );
            let key = format!("fr{o}-{i}");
            let req = refund_request(&w, &w.owner, order, &amount, &key, now);
            let w = w.clone();
            tasks.push(tokio::spawn(async move {
                match w.store.reserve_refund(&req).await {
                    Ok(RefundReserved::Created(r)) => Some(r),
                    Err(RefundReserveError::Refused(_)) => None,
                    other => panic!("store failure under concurrency: {other:?}"),
                }
            }));
        }
    }
    let mut accepted: Vec<Refund> = Vec::new();
    for task in tasks {
        accepted.extend(task.await.expect("task"));
    }
    let mut held_fen = 0;
    for order in &orders {
        let mine: Vec<&Refund> = accepted.iter().filter(|r| &r.order_id == order).collect();
        let refunded: i64 = mine.iter().map(|r| r.amount.fen()).sum();
        let back: i64 = mine.iter().map(|r| fen(r.fee_returned)).sum();
        assert!(refunded <= PAID_FEN, "{order}: {refunded} of {PAID_FEN}");
        assert_eq!(back, share(refunded), "{order}: shares of {refunded}");
        held_fen += mine.iter().map(|r| fen(r.held())).sum::<i64>();
    }
    println!(
        "{} of {} refunds accepted",
        accepted.len(),
        ORDERS * REFUNDS_PER_ORDER
    );
    // One per order at least (the first written); more somewhere, or no
    // share was reckoned after another.
    assert!(accepted.len() > ORDERS, "{}", accepted.len());
    assert!(
        accepted.len() < ORDERS * REFUNDS_PER_ORDER,
        "the paid amount refused some"
    );
    let shop = w.shop_now().await;
    assert_eq!(
        (fen(shop.payout_held), fen(shop.payout_balance)),
        (held_fen, start_fen - held_fen)
    );

    // All handed to the provider, then every other one succeeds and the
    // rest fail, all at once.
    for r in &accepted {
        let at = morning() + Duration::minutes(30);
        let started = w
            .store
            .start_refund(&w.shop, &r.refund_id, at)
            .await
            .unwrap();
        assert!(matches!(started, RefundTransition::Moved(_)), "{started:?}");
    }
    let mut tasks = Vec::new();
    for (i, r) in accepted.iter().enumerate() {
        let (w, id) = (w.clone(), r.refund_id.clone());
        let at = morning() + Duration::minutes(31);
        tasks.push(tokio::spawn(async move {
            let moved = if i % 2 == 0 {
                let provider_id = format!("50300{i:04}");
                w.store
                    .succeed_refund(&w.shop, &id, Some(&provider_id), at)
                    .await
            } else {
                w.store.fail_refund(&w.shop, &id, "CLOSED", at).await
            };
            assert!(matches!(moved.unwrap(), RefundTransition::Moved(_)));
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let succeeded: Vec<&Refund> = accepted.iter().step_by(2).collect();
    let out: i64 = succeeded.iter().map(|r| fen(r.held())).sum();
    let shop = w.shop_now().await;
    assert_eq!(
        (fen(shop.payout_held), fen(shop.payout_balance)),
        (0, start_fen - out)
    );
    let day = qrpay_domain::BusinessDate::of(morning() + Duration::minutes(31));
    let ledger = w.store.list_ledger(&w.shop, day).await.unwrap();
    let total = |kind| -> i64 {
        ledger
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.amount.fen())
            .sum()
    };
    let back: i64 = succeeded.iter().map(|r| fen(r.fee_returned)).sum();
    let refunded: i64 = succeeded.iter().map(|r| r.amount.fen()).sum();
    assert_eq!(
        (total(LedgerKind::Refund), total(LedgerKind::FeeReturned)),
        (refunded, back)
    );
    for order in &orders {
        let o = w.store.get_order(&w.shop, order).await.unwrap().unwrap();
        let mine: i64 = succeeded
            .iter()
            .filter(|r| &r.order_id == order)
            .map(|r| r.amount.fen())
            .sum();
        assert_eq!(o.refunded_amount.fen(), mine, "{order}");
        assert_eq!(o.refunds_pending_total, Money::ZERO, "{order}");
        assert_eq!(qrpay_domain::check_books(&o), Ok(()), "{o:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_refunds_handing_fees_back_keep_the_books_under_concurrency() {
    run(qrpay_tests::memory_port().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_refunds_handing_fees_back_keep_the_books_under_concurrency() {
    run(qrpay_tests::dynamo_port().await).await;
}
