//! The refund contract (BUYER_PAGES §11.7): every `Store` adapter must
//! pass each case. `tests/tests/refund_contract.rs` runs them against the
//! in-memory store and DynamoDB (moto), each on a fresh store.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use qrpay_domain::{
    IdempotencyKey, LedgerKind, Money, OperatorId, OrderId, OrderStatus, PayerAccount,
    PayerAccountKind, PayoutChannels, PayoutRefusal, PayoutStatus, Provider, Refund, RefundId,
    RefundReason, RefundRefusal, RefundRequest, RefundStatus,
};
use qrpay_store::{RefundReserveError, RefundReserved, RefundTransition, Store};

use crate::contract::{created, refused};
use crate::world::{amount, money, morning, World};

#[macro_export]
macro_rules! for_each_refund_contract_case {
    ($callback:ident!($($args:tt)*)) => {
        $callback!($($args)*;
            refund_of_exactly_the_remaining_is_accepted_one_fen_more_is_refused,
            payouts_after_refunds_see_the_reduced_ceiling,
            refunds_after_payouts_see_the_reduced_refundable,
            failed_refund_releases_everything_once,
            succeeded_refund_moves_into_refunded_and_writes_one_ledger_entry,
            refund_rules_order_channel_operator_pace_and_count,
            idempotent_refund_replays_and_conflicts,
            open_refunds_are_listed_for_the_sweeper,
            a_refund_hands_back_its_share_of_the_processing_fee,
            a_refund_notice_naming_none_of_ours_waits_while_ours_holds_the_money,
        );
    };
}

/// Refund gateways for the real providers (the sandbox has none).
pub fn refund_providers() -> PayoutChannels {
    PayoutChannels::of(&[Provider::Wechatpay, Provider::Alipay, Provider::Douyin])
}

pub fn refund_request(
    w: &World,
    operator: &OperatorId,
    order: &OrderId,
    amt: &str,
    key: &str,
    now: DateTime<Utc>,
) -> RefundRequest {
    RefundRequest {
        refund_id: RefundId::generate(now),
        shop_id: w.shop.clone(),
        order_id: order.clone(),
        operator_id: operator.clone(),
        amount: amount(amt),
        reason: Some(RefundReason::parse("退货").unwrap()),
        idempotency_key: IdempotencyKey::parse(key).unwrap(),
        refund_providers: refund_providers(),
        now,
    }
}

pub async fn refund_created(w: &World, req: &RefundRequest) -> Refund {
    match w.store.reserve_refund(req).await {
        Ok(RefundReserved::Created(r)) => r,
        other => panic!("expected a new refund of {}, got {other:?}", req.amount),
    }
}

pub async fn refund_refused(w: &World, req: &RefundRequest) -> RefundRefusal {
    match w.store.reserve_refund(req).await {
        Err(RefundReserveError::Refused(r)) => r,
        other => panic!("expected a refusal of {}, got {other:?}", req.amount),
    }
}

/// A WeChat-paid order with its payer's openid: refundable through a
/// gateway and payable back by a transfer.
pub async fn wechat_order(w: &World, id: &str, paid: &str) -> OrderId {
    let openid = PayerAccount::new(PayerAccountKind::WechatOpenid, "o-buyer-openid-1").unwrap();
    w.order_by(
        id,
        paid,
        OrderStatus::Paid,
        Provider::Wechatpay,
        Some(openid),
    )
    .await
}

fn at(minutes: i64) -> DateTime<Utc> {
    morning() + Duration::minutes(minutes)
}

async fn order_now(w: &World, id: &OrderId) -> qrpay_domain::Order {
    let o = w.store.get_order(&w.shop, id).await.unwrap().unwrap();
    assert_eq!(qrpay_domain::check_books(&o), Ok(()), "{o:?}");
    o
}

pub async fn processing_refund(w: &World, r: &Refund, now: DateTime<Utc>) -> Refund {
    match w.store.start_refund(&w.shop, &r.refund_id, now).await {
        Ok(RefundTransition::Moved(started)) => started,
        other => panic!("expected PENDING → PROCESSING, got {other:?}"),
    }
}

pub async fn refund_of_exactly_the_remaining_is_accepted_one_fen_more_is_refused(
    store: Arc<dyn Store>,
) {
    let w = World::new(store, "15000.00", "1000.00").await;
    let o = wechat_order(&w, "o-refund-1", "100.00").await;
    refund_created(&w, &refund_request(&w, &w.owner, &o, "40.00", "k1", at(0))).await;
    let over = refund_refused(&w, &refund_request(&w, &w.owner, &o, "60.01", "k2", at(1))).await;
    assert_eq!(
        over,
        RefundRefusal::ExceedsRefundable {
            remaining: money("60.00")
        }
    );
    assert_eq!(over.code(), "REFUND_EXCEEDS_REFUNDABLE");
    refund_created(&w, &refund_request(&w, &w.owner, &o, "60.00", "k3", at(2))).await;
    let order = order_now(&w, &o).await;
    assert_eq!(order.refunds_pending_total, money("100.00"));
    assert_eq!(order.refunds_live_count, 2);
    assert_eq!(order.refunds_live_total(), money("100.00"));
    let nothing = refund_refused(&w, &refund_request(&w, &w.owner, &o, "0.01", "k4", at(3))).await;
    assert_eq!(
        nothing,
        RefundRefusal::ExceedsRefundable {
            remaining: Money::ZERO
        }
    );
    let shop = w.shop_now().await;
    assert_eq!(
        (shop.payout_balance, shop.payout_held),
        (money("900.00"), money("100.00"))
    );
}

pub async fn payouts_after_refunds_see_the_reduced_ceiling(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "1000.00").await;
    let o = wechat_order(&w, "o-refund-2", "100.00").await;
    refund_created(&w, &refund_request(&w, &w.owner, &o, "70.00", "r1", at(0))).await;
    let r = refused(&w, &w.request(&w.owner, &o, "30.01", "p1", at(1))).await;
    assert_eq!(
        r,
        PayoutRefusal::ExceedsOrderPaidAmount {
            remaining: money("30.00")
        }
    );
    let p = created(&w, &w.request(&w.owner, &o, "30.00", "p2", at(2))).await;
    assert_eq!(p.status, PayoutStatus::Pending);
    let order = order_now(&w, &o).await;
    assert_eq!(order.payouts_live_total, money("30.00"));
    assert_eq!(order.uncommitted(), Money::ZERO);
}

pub async fn refunds_after_payouts_see_the_reduced_refundable(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "1000.00").await;
    let o = wechat_order(&w, "o-refund-3", "100.00").await;
    created(&w, &w.request(&w.owner, &o, "25.50", "p1", at(0))).await;
    let r = refund_refused(&w, &refund_request(&w, &w.owner, &o, "74.51", "r1", at(1))).await;
    assert_eq!(
        r,
        RefundRefusal::ExceedsRefundable {
            remaining: money("74.50")
        }
    );
    refund_created(&w, &refund_request(&w, &w.owner, &o, "74.50", "r2", at(2))).await;
    let order = order_now(&w, &o).await;
    assert_eq!(order.uncommitted(), Money::ZERO);
}

pub async fn failed_refund_releases_everything_once(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "1000.00").await;
    let o = wechat_order(&w, "o-refund-4", "100.00").await;
    let r = refund_created(&w, &refund_request(&w, &w.owner, &o, "100.00", "r1", at(0))).await;
    let r = processing_refund(&w, &r, at(1)).await;
    let failed = w
        .store
        .fail_refund(&w.shop, &r.refund_id, "CLOSED", at(2))
        .await
        .unwrap();
    let RefundTransition::Moved(failed) = failed else {
        panic!("expected the refund to fail, got {failed:?}");
    };
    assert_eq!(failed.status, RefundStatus::Failed);
    assert_eq!(failed.failure_reason.as_deref(), Some("CLOSED"));
    let again = w
        .store
        .fail_refund(&w.shop, &r.refund_id, "CLOSED", at(3))
        .await
        .unwrap();
    assert!(matches!(again, RefundTransition::Unchanged(_)));
    let order = order_now(&w, &o).await;
    assert_eq!(
        (order.refunds_pending_total, order.refunds_live_count),
        (Money::ZERO, 0)
    );
    let shop = w.shop_now().await;
    assert_eq!(
        (shop.payout_balance, shop.payout_held),
        (money("1000.00"), Money::ZERO)
    );
    let notices = w.store.list_notices(&w.shop, 10).await.unwrap();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].kind.as_str(), "REFUND_FAILED");
    // Released: the whole order is refundable again (after the interval).
    refund_created(&w, &refund_request(&w, &w.owner, &o, "100.00", "r2", at(4))).await;
}

pub async fn succeeded_refund_moves_into_refunded_and_writes_one_ledger_entry(
    store: Arc<dyn Store>,
) {
    let w = World::new(store, "15000.00", "1000.00").await;
    let o = wechat_order(&w, "o-refund-5", "100.00").await;
    let r = refund_created(&w, &refund_request(&w, &w.owner, &o, "30.00", "r1", at(0))).await;
    let pending = w
        .store
        .succeed_refund(&w.shop, &r.refund_id, Some("5030001"), at(1))
        .await
        .unwrap();
    assert!(
        matches!(pending, RefundTransition::Unchanged(ref p) if p.status == RefundStatus::Pending),
        "a pending refund cannot succeed: {pending:?}"
    );
    processing_refund(&w, &r, at(1)).await;
    let done = w
        .store
        .succeed_refund(&w.shop, &r.refund_id, Some("5030001"), at(2))
        .await
        .unwrap();
    let RefundTransition::Moved(done) = done else {
        panic!("expected success, got {done:?}");
    };
    assert_eq!(done.status, RefundStatus::Succeeded);
    assert_eq!(done.provider_refund_id.as_deref(), Some("5030001"));
    let twice = w
        .store
        .succeed_refund(&w.shop, &r.refund_id, Some("5030001"), at(3))
        .await
        .unwrap();
    assert!(matches!(twice, RefundTransition::Unchanged(_)));
    let order = order_now(&w, &o).await;
    assert_eq!(order.refunded_amount, money("30.00"));
    assert_eq!(order.refunds_pending_total, Money::ZERO);
    assert_eq!(order.refunds_live_count, 1);
    assert_eq!(order.status, OrderStatus::PartiallyRefunded);
    assert_eq!(order.uncommitted(), money("70.00"));
    let shop = w.shop_now().await;
    assert_eq!(
        (shop.payout_balance, shop.payout_held),
        (money("970.00"), Money::ZERO)
    );
    let ledger = w
        .store
        .list_ledger(&w.shop, qrpay_domain::BusinessDate::of(at(2)))
        .await
        .unwrap();
    let refunds: Vec<_> = ledger
        .iter()
        .filter(|e| e.kind == LedgerKind::Refund)
        .collect();
    assert_eq!(refunds.len(), 1, "{ledger:?}");
    assert_eq!(refunds[0].entry_id, "refund-wechatpay-5030001");
    assert_eq!(refunds[0].provider_ref.as_deref(), Some("5030001"));
    assert_eq!(refunds[0].amount, amount("30.00"));
    assert_eq!(
        refunds[0].reference,
        o.to_string(),
        "grouped with its order"
    );
    // The rest refunded: the order is REFUNDED.
    let rest = refund_created(&w, &refund_request(&w, &w.owner, &o, "70.00", "r2", at(4))).await;
    processing_refund(&w, &rest, at(5)).await;
    w.store
        .succeed_refund(&w.shop, &rest.refund_id, None, at(6))
        .await
        .unwrap();
    let order = order_now(&w, &o).await;
    assert_eq!(order.status, OrderStatus::Refunded);
    assert_eq!(order.refunded_amount, money("100.00"));
}

pub async fn refund_rules_order_channel_operator_pace_and_count(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "1000.00").await;
    let missing = OrderId::parse("nope").unwrap();
    let r = refund_refused(
        &w,
        &refund_request(&w, &w.owner, &missing, "1.00", "a", at(0)),
    )
    .await;
    assert_eq!(r, RefundRefusal::OrderNotFound);
    let created_order = w
        .order_by(
            "o-created",
            "10.00",
            OrderStatus::Created,
            Provider::Wechatpay,
            None,
        )
        .await;
    let r = refund_refused(
        &w,
        &refund_request(&w, &w.owner, &created_order, "1.00", "b", at(0)),
    )
    .await;
    assert_eq!(r.code(), "ORDER_NOT_REFUNDABLE");
    let sandbox = w.paid_order("o-sandbox", "10.00").await;
    let r = refund_refused(
        &w,
        &refund_request(&w, &w.owner, &sandbox, "1.00", "c", at(0)),
    )
    .await;
    assert_eq!(r, RefundRefusal::ChannelUnavailable);

    let o = wechat_order(&w, "o-rules", "100.00").await;
    let r = refund_refused(&w, &refund_request(&w, &w.staff, &o, "1.00", "d", at(0))).await;
    assert_eq!(r, RefundRefusal::OperatorNoQuota, "staff without a quota");
    w.quota(&w.staff, "50.00", "100.00", true).await;
    let r = refund_refused(&w, &refund_request(&w, &w.staff, &o, "1.00", "e", at(0))).await;
    assert_eq!(
        r,
        RefundRefusal::OperatorNoQuota,
        "quota without refunds_enabled"
    );
    let mut quota = w
        .store
        .get_payout_quota(&w.shop, &w.staff)
        .await
        .unwrap()
        .unwrap();
    quota.refunds_enabled = true;
    w.store.put_payout_quota(&quota).await.unwrap();
    refund_created(&w, &refund_request(&w, &w.staff, &o, "1.00", "f", at(0))).await;

    let soon = at(0) + Duration::seconds(59);
    let r = refund_refused(&w, &refund_request(&w, &w.owner, &o, "1.00", "g", soon)).await;
    assert_eq!(r, RefundRefusal::TooFrequent { retry_after_s: 1 });
    for i in 1..qrpay_domain::refund::MAX_LIVE_REFUNDS_PER_ORDER {
        let key = format!("n{i}");
        refund_created(
            &w,
            &refund_request(&w, &w.owner, &o, "1.00", &key, at(i64::from(i))),
        )
        .await;
    }
    let r = refund_refused(
        &w,
        &refund_request(&w, &w.owner, &o, "1.00", "last", at(30)),
    )
    .await;
    assert_eq!(r, RefundRefusal::CountExceeded);
    let order = order_now(&w, &o).await;
    assert_eq!(order.refunds_live_count, 20);
    assert_eq!(order.refunds_pending_total, money("20.00"));
}

pub async fn idempotent_refund_replays_and_conflicts(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "1000.00").await;
    let o = wechat_order(&w, "o-idem", "100.00").await;
    let first = refund_created(&w, &refund_request(&w, &w.owner, &o, "10.00", "k", at(0))).await;
    let again = w
        .store
        .reserve_refund(&refund_request(&w, &w.owner, &o, "10.00", "k", at(1)))
        .await
        .unwrap();
    assert_eq!(again, RefundReserved::Replayed(first.clone()));
    let other = w
        .store
        .reserve_refund(&refund_request(&w, &w.owner, &o, "10.01", "k", at(2)))
        .await;
    assert!(
        matches!(other, Err(RefundReserveError::IdempotencyConflict)),
        "{other:?}"
    );
    // The same key on the payout route is another request altogether.
    created(&w, &w.request(&w.owner, &o, "5.00", "k", at(3))).await;
    let order = order_now(&w, &o).await;
    assert_eq!(order.refunds_pending_total, money("10.00"));
    assert_eq!(order.refunds_live_count, 1);
    let listed = w.store.list_order_refunds(&w.shop, &o).await.unwrap();
    assert_eq!(listed, vec![first.clone()]);
    assert_eq!(
        w.store.find_refund(&first.refund_id).await.unwrap(),
        Some(first)
    );
}

pub async fn open_refunds_are_listed_for_the_sweeper(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "1000.00").await;
    let a = wechat_order(&w, "o-open-a", "100.00").await;
    let b = wechat_order(&w, "o-open-b", "100.00").await;
    let ra = refund_created(&w, &refund_request(&w, &w.owner, &a, "1.00", "a", at(0))).await;
    let rb = refund_created(&w, &refund_request(&w, &w.owner, &b, "1.00", "b", at(1))).await;
    let pending = w
        .store
        .list_open_refunds(RefundStatus::Pending, at(1), 10)
        .await
        .unwrap();
    assert_eq!(
        pending,
        vec![ra.clone()],
        "only the one older than the cut-off"
    );
    processing_refund(&w, &rb, at(2)).await;
    let processing = w
        .store
        .list_open_refunds(RefundStatus::Processing, at(3), 10)
        .await
        .unwrap();
    assert_eq!(processing.len(), 1);
    assert_eq!(processing[0].refund_id, rb.refund_id);
    w.store
        .fail_refund(&w.shop, &ra.refund_id, "x", at(3))
        .await
        .unwrap();
    let pending = w
        .store
        .list_open_refunds(RefundStatus::Pending, at(10), 10)
        .await
        .unwrap();
    assert!(pending.is_empty(), "{pending:?}");
}

/// The ledger of the day, as (kind, amount, entry id, provider id, order).
async fn ledger_of(w: &World, day: DateTime<Utc>) -> Vec<(LedgerKind, String, String, String)> {
    let mut entries: Vec<_> = w
        .store
        .list_ledger(&w.shop, qrpay_domain::BusinessDate::of(day))
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            let provider_ref = e.provider_ref.unwrap_or_default();
            (e.kind, e.amount.to_string(), e.entry_id, provider_ref)
        })
        .collect();
    entries.sort();
    entries
}

/// WeChat Pay hands a payment's processing fee back with its refunds, in
/// proportion (the bill shows it on the refund's row): each refund books
/// its share as `FEE_RETURNED` and moves the shop's balance by the refund
/// less it, so a shop whose balance is only this payment can refund it in
/// full, and a release gives back exactly what was held.
pub async fn a_refund_hands_back_its_share_of_the_processing_fee(store: Arc<dyn Store>) {
    use crate::collection_contract::{apply, issued_order, payment, set_processing_rates};
    let w = World::new(store, "15000.00", "0.00").await;
    set_processing_rates(&w, &[(Provider::Wechatpay, "0.0060")]).await;
    // 68.00 at 0.60% keeps 0.408: 0.41; the shop is credited 67.59.
    let (_, first) = issued_order(&w, "F-1", "68.00", None).await;
    apply(
        w.store.as_ref(),
        &payment(&first.order_id, "n-1", "t-1", "68.00"),
    )
    .await;
    assert_eq!(
        order_now(&w, &first.order_id).await.processing_fee,
        money("0.41")
    );
    assert_eq!(w.shop_now().await.payout_balance, money("67.59"));

    // All 68.00 back needs only the 67.59: one fen more than that is short.
    let short = refund_request(&w, &w.owner, &first.order_id, "68.00", "f0", at(0));
    let mut poorer = w.shop_now().await;
    poorer.payout_balance = money("67.58");
    let snapshot = qrpay_domain::RefundSnapshot {
        shop: Some(poorer.clone()),
        order: Some(order_now(&w, &first.order_id).await),
        quota: None,
    };
    assert!(matches!(
        qrpay_domain::reserve_refund(&poorer, &snapshot, &short),
        Err(RefundRefusal::InsufficientBalance { .. })
    ));
    let req = refund_request(&w, &w.owner, &first.order_id, "68.00", "f1", at(0));
    let r = refund_created(&w, &req).await;
    assert_eq!(r.fee_returned, money("0.41"));
    let shop = w.shop_now().await;
    assert_eq!(
        (shop.payout_balance, shop.payout_held),
        (Money::ZERO, money("67.59"))
    );
    processing_refund(&w, &r, at(1)).await;
    let done = w
        .store
        .succeed_refund(&w.shop, &r.refund_id, Some("5030001"), at(2));
    assert!(matches!(done.await.unwrap(), RefundTransition::Moved(_)));
    let shop = w.shop_now().await;
    assert_eq!(
        (shop.payout_balance, shop.payout_held),
        (Money::ZERO, Money::ZERO)
    );
    assert_eq!(
        order_now(&w, &first.order_id).await.status,
        OrderStatus::Refunded
    );
    let day = ledger_of(&w, at(2)).await;
    let refund_entries: Vec<_> = day.iter().filter(|e| e.3 == "5030001").collect();
    assert_eq!(
        refund_entries,
        [
            &(
                LedgerKind::Refund,
                "68.00".into(),
                "refund-wechatpay-5030001".into(),
                "5030001".into()
            ),
            &(
                LedgerKind::FeeReturned,
                "0.41".into(),
                "fee-returned-wechatpay-5030001".into(),
                "5030001".into()
            ),
        ]
    );

    // 100.00 keeps 0.60. A refund made at the provider's console (its
    // notice) of 30.00 hands back 0.18; ours of the other 70.00 the 0.42
    // left, and its failure gives back exactly the 69.58 it held.
    let (_, second) = issued_order(&w, "F-2", "100.00", None).await;
    apply(
        w.store.as_ref(),
        &payment(&second.order_id, "n-2", "t-2", "100.00"),
    )
    .await;
    let outside = crate::collection_contract::refund(&second.order_id, "n-3", "ext-1", "30.00");
    match apply(w.store.as_ref(), &outside).await {
        qrpay_domain::Decision::Apply(e) => assert_eq!(e.balance_change_fen, -(3_000 - 18)),
        other => panic!("expected the refund applied, got {other:?}"),
    }
    assert_eq!(w.shop_now().await.payout_balance, money("69.58"));
    let returned: Vec<_> = ledger_of(&w, at(2))
        .await
        .into_iter()
        .filter(|e| e.0 == LedgerKind::FeeReturned)
        .map(|e| (e.1, e.2))
        .collect();
    assert_eq!(
        returned,
        [
            ("0.18".to_owned(), "fee-returned-wechatpay-ext-1".to_owned()),
            (
                "0.41".to_owned(),
                "fee-returned-wechatpay-5030001".to_owned()
            ),
        ]
    );
    let rest = refund_request(&w, &w.owner, &second.order_id, "70.00", "f2", at(3));
    let rest = refund_created(&w, &rest).await;
    assert_eq!(rest.fee_returned, money("0.42"));
    let shop = w.shop_now().await;
    assert_eq!(
        (shop.payout_balance, shop.payout_held),
        (Money::ZERO, money("69.58"))
    );
    processing_refund(&w, &rest, at(4)).await;
    w.store
        .fail_refund(&w.shop, &rest.refund_id, "CLOSED", at(5))
        .await
        .unwrap();
    let shop = w.shop_now().await;
    assert_eq!(
        (shop.payout_balance, shop.payout_held),
        (money("69.58"), Money::ZERO)
    );
}

/// A provider's refund notice that names none of our refunds, for an order
/// with one of ours in flight whose money is in the shop's hold: it may be
/// ours, so it waits (the provider delivers it again) rather than taking
/// the balance to zero and leaving the hold to go back to the shop when
/// ours settles. Once ours has settled, the same notice finds it booked.
pub async fn a_refund_notice_naming_none_of_ours_waits_while_ours_holds_the_money(
    store: Arc<dyn Store>,
) {
    use crate::collection_contract::{apply, issued_order, payment, set_processing_rates};
    use qrpay_domain::Decision;
    let w = World::new(store, "15000.00", "0.00").await;
    set_processing_rates(&w, &[(Provider::Wechatpay, "0.0060")]).await;
    let (_, paid) = issued_order(&w, "N-1", "68.00", None).await;
    apply(
        w.store.as_ref(),
        &payment(&paid.order_id, "n-1", "t-1", "68.00"),
    )
    .await;
    let req = refund_request(&w, &w.owner, &paid.order_id, "68.00", "n1", at(0));
    let ours = refund_created(&w, &req).await;
    processing_refund(&w, &ours, at(1)).await;
    let books = |s: qrpay_domain::Shop| (s.payout_balance.to_string(), s.payout_held.to_string());
    assert_eq!(books(w.shop_now().await), ("0.00".into(), "67.59".into()));

    let notice = crate::collection_contract::refund(&paid.order_id, "n-2", "5030009", "68.00");
    let alerts = qrpay_store::alerts::MemoryAlerts::new();
    let early = qrpay_store::collected::apply_collection_event(
        w.store.as_ref(),
        &alerts,
        None,
        &notice,
        at(1),
    )
    .await
    .unwrap();
    assert!(matches!(early, Decision::NotYet(_)), "{early:?}");
    let raised: Vec<_> = alerts
        .raised()
        .into_iter()
        .map(|a| (a.code, a.reference))
        .collect();
    assert_eq!(
        raised,
        [(
            "COLLECTION_NOTICE_WAITING".to_owned(),
            paid.order_id.to_string()
        )]
    );
    assert_eq!(books(w.shop_now().await), ("0.00".into(), "67.59".into()));
    assert_eq!(
        order_now(&w, &paid.order_id).await.refunded_amount,
        Money::ZERO
    );

    let done = w
        .store
        .succeed_refund(&w.shop, &ours.refund_id, Some("5030009"), at(2));
    assert!(matches!(done.await.unwrap(), RefundTransition::Moved(_)));
    let again = apply(w.store.as_ref(), &notice).await;
    assert!(matches!(again, Decision::AlreadyApplied), "{again:?}");
    assert_eq!(books(w.shop_now().await), ("0.00".into(), "0.00".into()));
    let order = order_now(&w, &paid.order_id).await;
    assert_eq!(
        (order.status, order.refunded_amount),
        (OrderStatus::Refunded, money("68.00"))
    );
    let refunds: Vec<_> = ledger_of(&w, at(2))
        .await
        .into_iter()
        .filter(|e| matches!(e.0, LedgerKind::Refund | LedgerKind::FeeReturned))
        .map(|e| (e.0, e.1))
        .collect();
    assert_eq!(
        refunds,
        [
            (LedgerKind::Refund, "68.00".into()),
            (LedgerKind::FeeReturned, "0.41".into())
        ]
    );

    // A notice for more than ours in flight cannot be one of them: booked
    // at once, the balance taken to zero and the shortfall recorded.
    // 100.00 keeps 0.60; ours of 10.00 holds 9.94 of the 99.40; the
    // provider's 95.00 owes 95.00 less 0.57 with 89.46 left.
    let (_, more) = issued_order(&w, "N-2", "100.00", None).await;
    apply(
        w.store.as_ref(),
        &payment(&more.order_id, "n-3", "t-3", "100.00"),
    )
    .await;
    let req = refund_request(&w, &w.owner, &more.order_id, "10.00", "n2", at(3));
    let small = refund_created(&w, &req).await;
    processing_refund(&w, &small, at(4)).await;
    assert_eq!(books(w.shop_now().await), ("89.46".into(), "9.94".into()));
    let bigger = crate::collection_contract::refund(&more.order_id, "n-4", "ext-9", "95.00");
    match apply(w.store.as_ref(), &bigger).await {
        Decision::Apply(e) => {
            assert_eq!(e.balance_change_fen, -8_946);
            let kind = e.anomaly.as_ref().map(|a| a.kind);
            assert_eq!(kind, Some(qrpay_domain::AnomalyKind::RefundShortfall));
        }
        other => panic!("expected the refund booked short, got {other:?}"),
    }
    assert_eq!(books(w.shop_now().await), ("0.00".into(), "9.94".into()));
}
