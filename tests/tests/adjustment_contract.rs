//! Balance adjustments (API.md `POST /admin/shops/{id}/balance-adjustments`),
//! the same contract on both stores: the balance moves exactly, the ledger
//! holds one entry per adjustment, a debit never takes the balance below
//! zero, a key is one adjustment, and concurrent adjustments each record the
//! exact balance they moved from.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use qrpay_domain::{
    AdjustmentId, AdjustmentReason, AdjustmentRefusal, AdjustmentRequest, BusinessDate,
    IdempotencyKey, LedgerKind, Money, OperatorId, ShopId, SignedAmount,
};
use qrpay_store::{AdjustError, Adjusted, Store};
use qrpay_tests::world::{money, morning};
use qrpay_tests::World;

fn request(
    w: &World,
    key: &str,
    amount: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> AdjustmentRequest {
    AdjustmentRequest {
        adjustment_id: AdjustmentId::generate(now),
        shop_id: w.shop.clone(),
        idempotency_key: IdempotencyKey::parse(key).unwrap(),
        operator_id: OperatorId::parse("platform-admin").unwrap(),
        amount: SignedAmount::parse(amount).unwrap(),
        reason: AdjustmentReason::parse(reason).unwrap(),
        now,
    }
}

fn created(outcome: Result<Adjusted, AdjustError>) -> qrpay_domain::BalanceAdjustment {
    match outcome {
        Ok(Adjusted::Created(a)) => a,
        other => panic!("expected a new adjustment, got {other:?}"),
    }
}

async fn credit_and_debit_move_the_balance_and_write_one_ledger_entry_each(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "100.00").await;
    let now = morning();
    let credit = created(
        w.store
            .adjust_balance(&request(&w, "k1", "12.30", "fee refund", now))
            .await,
    );
    assert_eq!(
        (credit.balance_before, credit.balance_after),
        (money("100.00"), money("112.30"))
    );
    assert_eq!(credit.amount.to_string(), "12.30");
    let later = now + Duration::minutes(1);
    let debit = created(
        w.store
            .adjust_balance(&request(&w, "k2", "-112.30", "write back", later))
            .await,
    );
    assert_eq!(
        (debit.balance_before, debit.balance_after),
        (money("112.30"), Money::ZERO)
    );
    let shop = w.shop_now().await;
    assert_eq!(
        (shop.payout_balance, shop.payout_held),
        (Money::ZERO, Money::ZERO)
    );
    let ledger = w
        .store
        .list_ledger(&w.shop, BusinessDate::of(now))
        .await
        .unwrap();
    let entries: Vec<(LedgerKind, String, String)> = ledger
        .iter()
        .map(|e| (e.kind, e.amount.to_string(), e.reference.clone()))
        .collect();
    assert_eq!(
        entries,
        vec![
            (
                LedgerKind::AdjustmentCredit,
                "12.30".into(),
                credit.adjustment_id.to_string()
            ),
            (
                LedgerKind::AdjustmentDebit,
                "112.30".into(),
                debit.adjustment_id.to_string()
            ),
        ]
    );
    assert!(ledger
        .iter()
        .all(|e| e.provider.is_none() && e.order_id.is_none()));
}

async fn a_debit_beyond_the_available_balance_is_refused_and_changes_nothing(
    store: Arc<dyn Store>,
) {
    let w = World::new(store, "15000.00", "100.00").await;
    let refused = w
        .store
        .adjust_balance(&request(&w, "k1", "-100.01", "too much", morning()))
        .await;
    match refused {
        Err(AdjustError::Refused(AdjustmentRefusal::InsufficientBalance { available })) => {
            assert_eq!(available, money("100.00"))
        }
        other => panic!("expected INSUFFICIENT_BALANCE, got {other:?}"),
    }
    assert_eq!(w.shop_now().await.payout_balance, money("100.00"));
    let ledger = w
        .store
        .list_ledger(&w.shop, BusinessDate::of(morning()))
        .await
        .unwrap();
    assert!(ledger.is_empty(), "{ledger:?}");
    // Nothing was recorded under the key: a corrected request may use it.
    let exact = created(
        w.store
            .adjust_balance(&request(&w, "k1", "-100.00", "too much", morning()))
            .await,
    );
    assert_eq!(exact.balance_after, Money::ZERO);
}

async fn a_key_is_one_adjustment_and_another_body_conflicts(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "100.00").await;
    let first = created(
        w.store
            .adjust_balance(&request(&w, "k1", "-10.00", "r", morning()))
            .await,
    );
    let again = request(&w, "k1", "-10.00", "r", morning() + Duration::minutes(5));
    match w.store.adjust_balance(&again).await {
        Ok(Adjusted::Replayed(a)) => assert_eq!(a, first),
        other => panic!("expected the first adjustment again, got {other:?}"),
    }
    for (amount, reason) in [("10.00", "r"), ("-10.01", "r"), ("-10.00", "r2")] {
        let other = request(&w, "k1", amount, reason, morning());
        assert!(
            matches!(
                w.store.adjust_balance(&other).await,
                Err(AdjustError::IdempotencyConflict)
            ),
            "{amount} {reason}"
        );
    }
    assert_eq!(w.shop_now().await.payout_balance, money("90.00"));
    let ledger = w
        .store
        .list_ledger(&w.shop, BusinessDate::of(morning()))
        .await
        .unwrap();
    assert_eq!(ledger.len(), 1);
    // The same key in another shop is that shop's own: decided there (it
    // has 5.00, so this debit is refused), neither replayed nor a conflict.
    let other = World::with_shop(w.store.clone(), "shop-2", "15000.00", "5.00").await;
    let theirs = other
        .store
        .adjust_balance(&request(&other, "k1", "-10.00", "r", morning()))
        .await;
    assert!(
        matches!(
            theirs,
            Err(AdjustError::Refused(
                AdjustmentRefusal::InsufficientBalance { .. }
            ))
        ),
        "{theirs:?}"
    );
}

async fn an_unknown_shop_is_not_found(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "100.00").await;
    let mut req = request(&w, "k1", "1.00", "r", morning());
    req.shop_id = ShopId::parse("no-such-shop").unwrap();
    assert!(matches!(
        w.store.adjust_balance(&req).await,
        Err(AdjustError::ShopNotFound)
    ));
}

/// 30 debits of 7.00 and 10 credits of 1.00 at once on 100.00: the balance
/// never goes below zero, ends exactly at 100 + credits − 7 × accepted
/// debits, the refused debits are refused only for the balance, and the
/// accepted adjustments chain: each moved from the balance the one before
/// left (every recorded `balance_before` is exact).
async fn concurrent_adjustments_each_record_the_balance_they_moved(store: Arc<dyn Store>) {
    let w = Arc::new(World::new(store, "15000.00", "100.00").await);
    let mut tasks = Vec::new();
    for i in 0..40 {
        let amount = if i % 4 == 3 { "1.00" } else { "-7.00" };
        let req = request(&w, &format!("race-{i}"), amount, "race", morning());
        let w = w.clone();
        tasks.push(tokio::spawn(
            async move { w.store.adjust_balance(&req).await },
        ));
    }
    let (mut accepted, mut refused) = (Vec::new(), 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(Adjusted::Created(a)) => accepted.push(a),
            Err(AdjustError::Refused(AdjustmentRefusal::InsufficientBalance { .. })) => {
                refused += 1
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(accepted.len() + refused, 40);
    let credits = accepted.iter().filter(|a| !a.amount.debit).count() as i64;
    let debits = accepted.len() as i64 - credits;
    assert_eq!(credits, 10, "a credit is never refused");
    let expected = 10_000 + 100 * credits - 700 * debits;
    assert!(
        expected >= 0 && expected < 700 + 100 * credits,
        "{expected}"
    );
    let shop = w.shop_now().await;
    assert_eq!(shop.payout_balance.fen(), expected);
    // The chain: from 100.00, each `before` is some earlier `after`, once.
    let befores: BTreeSet<i64> = accepted.iter().map(|a| a.balance_before.fen()).collect();
    assert_eq!(
        befores.len(),
        accepted.len(),
        "two adjustments moved from one balance"
    );
    let mut at = 10_000;
    let mut left = accepted.clone();
    while let Some(i) = left.iter().position(|a| a.balance_before.fen() == at) {
        let a = left.swap_remove(i);
        assert_eq!(a.balance_after.fen(), at + a.amount.fen());
        at = a.balance_after.fen();
    }
    assert!(left.is_empty(), "not chained: {left:?}");
    assert_eq!(at, expected);
    let ledger = w
        .store
        .list_ledger(&w.shop, BusinessDate::of(morning()))
        .await
        .unwrap();
    assert_eq!(ledger.len(), accepted.len());
}

qrpay_tests::on_both_stores!(
    credit_and_debit_move_the_balance_and_write_one_ledger_entry_each,
    a_debit_beyond_the_available_balance_is_refused_and_changes_nothing,
    a_key_is_one_adjustment_and_another_body_conflicts,
    an_unknown_shop_is_not_found,
    concurrent_adjustments_each_record_the_balance_they_moved,
);
