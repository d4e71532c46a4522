//! Refunds racing payouts on the same orders, on both stores (BUYER_PAGES
//! §11.7): the requests of each order add up to far more than was paid, and
//! all are sent at once. Afterwards, per order, accepted refunds + accepted
//! payouts ≤ paid, the order's counters equal exactly what was accepted,
//! the books hold, and the shop's hold is exactly the accepted total.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Duration;
use qrpay_domain::{Money, OrderId};
use qrpay_store::{RefundReserveError, RefundReserved, ReserveError, Reserved, Store};
use qrpay_tests::refund_contract::{refund_request, wechat_order};
use qrpay_tests::world::{money, morning};
use qrpay_tests::World;

const ORDERS: usize = 6;
const PAID: &str = "100.00";
const REFUNDS_PER_ORDER: usize = 8;
const PAYOUTS_PER_ORDER: usize = 5;
const BALANCE: &str = "100000.00";

enum Outcome {
    Refund(OrderId, Money),
    Payout(OrderId, Money),
    Refused(&'static str),
}

async fn run(store: Arc<dyn Store>) {
    let w = Arc::new(World::new(store, "100000.00", BALANCE).await);
    let mut orders = Vec::new();
    for i in 0..ORDERS {
        orders.push(wechat_order(&w, &format!("race-{i}"), PAID).await);
    }
    let mut tasks = Vec::new();
    for (o, order) in orders.iter().enumerate() {
        // Refunds and payouts interleaved, one kind first on even orders and
        // the other on odd ones, so each kind gets to win somewhere. Each
        // request at its own minute, so the 60-second rules let the shared
        // bound decide; amounts differ per order.
        for i in 0..REFUNDS_PER_ORDER.max(PAYOUTS_PER_ORDER) {
            let refund_first = o % 2 == 0;
            for refund in [refund_first, !refund_first] {
                if refund && i < REFUNDS_PER_ORDER {
                    tasks.push(spawn_refund(&w, order, o, i));
                }
                if !refund && i < PAYOUTS_PER_ORDER {
                    tasks.push(spawn_payout(&w, order, o, i));
                }
            }
        }
    }
    let mut refunds: BTreeMap<OrderId, Money> = BTreeMap::new();
    let mut payouts: BTreeMap<OrderId, Money> = BTreeMap::new();
    let mut refusals: BTreeMap<&'static str, usize> = BTreeMap::new();
    let add = |m: &mut BTreeMap<OrderId, Money>, o: OrderId, a: Money| {
        let e = m.entry(o).or_insert(Money::ZERO);
        *e = e.checked_add(a).unwrap();
    };
    for task in tasks {
        match task.await.expect("task") {
            Outcome::Refund(o, a) => add(&mut refunds, o, a),
            Outcome::Payout(o, a) => add(&mut payouts, o, a),
            Outcome::Refused(code) => *refusals.entry(code).or_default() += 1,
        }
    }
    println!("refunds {refunds:?} payouts {payouts:?} refusals {refusals:?}");
    assert!(
        !refunds.is_empty() && !payouts.is_empty(),
        "both kinds won somewhere: refunds {refunds:?} payouts {payouts:?}"
    );
    assert!(
        refusals
            .get("REFUND_EXCEEDS_REFUNDABLE")
            .copied()
            .unwrap_or(0)
            + refusals
                .get("EXCEEDS_ORDER_PAID_AMOUNT")
                .copied()
                .unwrap_or(0)
            > 0,
        "the shared bound refused some: {refusals:?}"
    );
    let mut held = Money::ZERO;
    for order in &orders {
        let r = refunds.get(order).copied().unwrap_or(Money::ZERO);
        let p = payouts.get(order).copied().unwrap_or(Money::ZERO);
        let accepted = r.checked_add(p).unwrap();
        assert!(accepted <= money(PAID), "{order}: {r} + {p} > {PAID}");
        let o = w.store.get_order(&w.shop, order).await.unwrap().unwrap();
        assert_eq!(qrpay_domain::check_books(&o), Ok(()), "{o:?}");
        assert_eq!(o.refunds_pending_total, r, "{order}");
        assert_eq!(o.payouts_live_total, p, "{order}");
        assert_eq!(o.uncommitted(), money(PAID).checked_sub(accepted).unwrap());
        let listed = w.store.list_order_refunds(&w.shop, order).await.unwrap();
        let listed_sum = listed
            .iter()
            .fold(Money::ZERO, |a, x| a.checked_add(x.amount.money()).unwrap());
        assert_eq!(listed_sum, r, "{order}: refunds listed = reserved");
        assert_eq!(o.refunds_live_count as usize, listed.len());
        held = held.checked_add(accepted).unwrap();
    }
    let shop = w.shop_now().await;
    assert_eq!(shop.payout_held, held);
    assert_eq!(
        shop.payout_balance.checked_add(shop.payout_held).unwrap(),
        money(BALANCE)
    );
}

fn spawn_refund(
    w: &Arc<World>,
    order: &OrderId,
    o: usize,
    i: usize,
) -> tokio::task::JoinHandle<Outcome> {
    let now = morning() + Duration::seconds(61 * i as i64);
    let amount = format!("{}.{:02}", 20 + (o * 3 + i) % 15, (o * 17 + i * 7) % 100);
    let req = refund_request(w, &w.owner, order, &amount, &format!("r{o}-{i}"), now);
    let w = w.clone();
    tokio::spawn(async move {
        match w.store.reserve_refund(&req).await {
            Ok(RefundReserved::Created(r)) => Outcome::Refund(r.order_id, r.amount.money()),
            Err(RefundReserveError::Refused(r)) => Outcome::Refused(r.code()),
            other => panic!("store failure under concurrency: {other:?}"),
        }
    })
}

fn spawn_payout(
    w: &Arc<World>,
    order: &OrderId,
    o: usize,
    i: usize,
) -> tokio::task::JoinHandle<Outcome> {
    let now = morning() + Duration::seconds(61 * i as i64 + 30);
    let amount = format!("{}.{:02}", 15 + (o * 5 + i) % 20, (o * 11 + i * 3) % 100);
    let req = w.request(&w.owner, order, &amount, &format!("p{o}-{i}"), now);
    let w = w.clone();
    tokio::spawn(async move {
        match w.store.reserve_payout(&req).await {
            Ok(Reserved::Created(p)) => Outcome::Payout(p.order_id, p.amount.money()),
            Err(ReserveError::Refused(r)) => Outcome::Refused(r.code()),
            other => panic!("store failure under concurrency: {other:?}"),
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_refunds_racing_payouts_never_exceed_paid() {
    run(qrpay_tests::memory_port().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_refunds_racing_payouts_never_exceed_paid() {
    run(qrpay_tests::dynamo_port().await).await;
}
