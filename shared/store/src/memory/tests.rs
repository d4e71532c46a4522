//! Stored values at the edge of their range: an operation that would take a
//! sum or a counter past it is refused as corrupt state, never a panic or a
//! wrap, and changes nothing.

use chrono::TimeZone;
use qrpay_domain::{
    Amount, Branding, CollectionEventKind, InstalmentConfig, ProviderRef, QrKind, ShopName,
};

use super::*;

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap()
}

fn amount(fen: i64) -> Amount {
    Amount::from_fen(fen).unwrap()
}

async fn shop_with_balance(store: &MemoryStore, balance_fen: i64) -> ShopId {
    let shop_id = ShopId::parse("shop-edge").unwrap();
    let setup = ShopSetup {
        shop_id: shop_id.clone(),
        name: ShopName::parse("Edge").unwrap(),
        owner_operator_id: OperatorId::parse("edge-owner").unwrap(),
        daily_payout_cap: amount(100_000),
        payout_balance: Some(Money::from_fen(balance_fen).unwrap()),
        instalments: InstalmentConfig::default(),
        instalment_grace_days: Default::default(),
        branding: Branding::default(),
        controls: Default::default(),
        processing_rates: Default::default(),
    };
    store.put_shop(&setup, at()).await.unwrap();
    shop_id
}

fn order(shop_id: &ShopId) -> Order {
    Order::created(OrderId::generate(at()), shop_id.clone(), amount(1000), at())
}

fn corrupt<T: std::fmt::Debug>(result: Result<T, StoreError>) -> String {
    match result {
        Err(StoreError::Corrupt(message)) => message,
        other => panic!("expected corrupt state, got {other:?}"),
    }
}

#[tokio::test]
async fn a_payment_that_would_take_the_balance_past_i64_is_corrupt_and_changes_nothing() {
    let store = MemoryStore::new();
    let shop_id = shop_with_balance(&store, i64::MAX).await;
    let order = order(&shop_id);
    assert!(store.insert_order(&order).await.unwrap());
    let event = CollectionEvent {
        provider: Provider::Sandbox,
        notification_id: ProviderRef::parse("n-edge").unwrap(),
        order_id: order.order_id.clone(),
        kind: CollectionEventKind::PaymentSucceeded {
            provider_txn_id: ProviderRef::parse("txn-edge").unwrap(),
            amount: amount(1000),
            payer: None,
        },
        occurred_at: at(),
    };
    let message = corrupt(store.apply_collection(&event, at()).await);
    assert_eq!(message, "payout balance out of range");
    let shop = store.get_shop(&shop_id).await.unwrap().unwrap();
    assert_eq!(shop.payout_balance.fen(), i64::MAX);
    let stored = store.find_order(&order.order_id).await.unwrap().unwrap();
    assert_eq!(stored, order);
    // Not recorded as applied: a redelivery meets the same refusal.
    let again = corrupt(store.apply_collection(&event, at()).await);
    assert_eq!(again, "payout balance out of range");
}

#[tokio::test]
async fn revoking_the_code_of_an_order_at_its_last_revision_is_corrupt_and_changes_nothing() {
    let store = MemoryStore::new();
    let shop_id = shop_with_balance(&store, 0).await;
    let qr_id = QrId::generate(at());
    let order = Order {
        revision: u64::MAX,
        qr_id: Some(qr_id.clone()),
        ..order(&shop_id)
    };
    let code = QrCode {
        qr_id: qr_id.clone(),
        shop_id: shop_id.clone(),
        kind: QrKind::Dynamic,
        order_id: Some(order.order_id.clone()),
        out_order_no: None,
        amount: Some(amount(1000)),
        description: None,
        device_id: None,
        instalment_periods: None,
        instalment_plan: None,
        state: QrState::Active,
        expires_at: None,
        url: format!("https://pay.example/pay/{qr_id}"),
        emv: "000201".into(),
        fingerprint: "fp-edge".into(),
        created_at: at(),
        updated_at: at(),
    };
    store.issue_qr(&code, Some(&order)).await.unwrap();
    let message = corrupt(store.revoke_qr(&shop_id, &qr_id, at()).await);
    assert_eq!(message, "order revision out of range");
    assert_eq!(store.get_qr(&shop_id, &qr_id).await.unwrap(), Some(code));
    assert_eq!(
        store.find_order(&order.order_id).await.unwrap(),
        Some(order)
    );
}

#[tokio::test]
async fn a_checkout_that_would_take_a_rate_counter_past_u32_is_corrupt_and_changes_nothing() {
    let store = MemoryStore::new();
    let shop_id = shop_with_balance(&store, 0).await;
    let window = RateWindow {
        scope: "code",
        key: "qr-edge".into(),
        window_start_s: at().timestamp(),
        window_s: 60,
        limit: u32::MAX,
    };
    let counted = (u32::MAX - 1, window.window_end_s());
    store
        .state()
        .rate_counters
        .insert(window.counter_id(), counted);
    // The same window twice: each is under its limit, together they pass u32.
    let order = order(&shop_id);
    let windows = [window.clone(), window.clone()];
    let message = corrupt(store.open_checkout(&order, &windows).await);
    assert_eq!(message, "rate counter out of range");
    assert_eq!(store.find_order(&order.order_id).await.unwrap(), None);
    let state = store.state();
    assert_eq!(
        state.rate_counters.get(&window.counter_id()),
        Some(&counted)
    );
}
