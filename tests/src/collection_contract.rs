//! The collection half of the store contract (SPEC §3, §5): codes, POS
//! nonces and provider notices. `tests/tests/collection_contract.rs` runs
//! every case against the in-memory store and against DynamoDB (moto).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use qrpay_domain::checkout::{CheckoutLimits, Rate};
use qrpay_domain::instalment::{plan, PlanPeriods};
use qrpay_domain::{
    AnomalyKind, BusinessDate, CollectionEvent, CollectionEventKind, Decision, DeductionStatus,
    DeviceId, InstalmentConfig, LedgerKind, Money, NoticeKind, Order, OrderId, OrderStatus,
    OutOrderNo, Payer, PayerAccount, PayerAccountKind, Provider, ProviderRef, QrCode, QrId, QrKind,
    QrState, QrStatus,
};
use qrpay_store::{Checkout, Issued, Revocation, Store};

use crate::world::{amount, money, morning, World};

#[macro_export]
macro_rules! for_each_collection_case {
    ($callback:ident!($($args:tt)*)) => {
        $callback!($($args)*;
            a_dynamic_code_creates_its_order_and_a_repeat_returns_the_same_code,
            another_code_for_the_same_out_order_no_is_a_conflict,
            a_static_code_has_no_order_and_revoking_it_twice_is_harmless,
            revoking_a_dynamic_code_closes_its_unpaid_order,
            order_ids_are_unique_across_shops_and_found_by_id_alone,
            a_nonce_is_accepted_once_until_it_expires,
            a_payment_marks_the_order_paid_credits_the_shop_and_writes_the_ledger,
            a_paid_dynamic_code_is_used_and_cannot_be_revoked,
            a_redelivered_notice_changes_nothing,
            an_amount_mismatch_is_an_anomaly_and_changes_nothing,
            a_second_charge_for_a_paid_order_is_a_duplicate_charge,
            a_notice_for_an_unknown_order_is_an_anomaly,
            deductions_mark_their_period_and_a_second_one_is_a_duplicate,
            a_failed_deduction_tells_the_merchant,
            refunds_move_the_order_and_debit_the_shop,
            a_refund_beyond_the_balance_takes_it_to_zero_and_is_flagged,
            ten_concurrent_deliveries_apply_once,
            checkouts_open_orders_only_within_their_rate_windows,
            concurrent_checkouts_from_one_client_open_exactly_its_limit,
            a_shops_branding_is_kept_and_replaced_by_the_next_setup,
            a_payment_books_the_providers_fee_at_the_shops_processing_rate,
        );
    };
}

pub fn at(offset_s: i64) -> DateTime<Utc> {
    morning() + Duration::seconds(offset_s)
}

fn pref(text: &str) -> ProviderRef {
    ProviderRef::parse(text).unwrap()
}

/// A dynamic code for `out_order_no` with its order (monthly pay if `periods`).
pub fn dynamic_code(w: &World, no: &str, amt: &str, periods: Option<u8>) -> (QrCode, Order) {
    let qr_id = QrId::generate(at(0));
    let order_id = OrderId::generate(at(0));
    let periods = periods.map(|p| PlanPeriods::new(p).unwrap());
    let instalment_plan =
        periods.map(|p| plan(amount(amt), p, &InstalmentConfig::default()).unwrap());
    let code = QrCode {
        qr_id: qr_id.clone(),
        shop_id: w.shop.clone(),
        kind: QrKind::Dynamic,
        order_id: Some(order_id.clone()),
        out_order_no: Some(OutOrderNo::parse(no).unwrap()),
        amount: Some(amount(amt)),
        description: Some(qrpay_domain::QrDescription::parse("two teas").unwrap()),
        device_id: None,
        instalment_periods: periods,
        instalment_plan: instalment_plan.clone(),
        state: QrState::Active,
        expires_at: Some(at(900)),
        url: format!("https://pay.example/pay/{qr_id}"),
        emv: "000201".into(),
        fingerprint: format!("fp-{no}-{amt}-{periods:?}"),
        created_at: at(0),
        updated_at: at(0),
    };
    let order = Order {
        qr_id: Some(qr_id),
        out_order_no: code.out_order_no.clone(),
        description: code.description.clone(),
        ..Order::created(order_id, w.shop.clone(), amount(amt), at(0))
    }
    .with_plan(instalment_plan);
    (code, order)
}

pub async fn issued_order(w: &World, no: &str, amt: &str, periods: Option<u8>) -> (QrCode, Order) {
    let (code, order) = dynamic_code(w, no, amt, periods);
    let issued = w.store.issue_qr(&code, Some(&order)).await.unwrap();
    assert_eq!(issued, Issued::Created(code.clone()));
    (code, order)
}

fn event(order: &OrderId, notification: &str, kind: CollectionEventKind) -> CollectionEvent {
    CollectionEvent {
        provider: Provider::Wechatpay,
        notification_id: pref(notification),
        order_id: order.clone(),
        kind,
        occurred_at: at(60),
    }
}

pub fn payment(order: &OrderId, notification: &str, txn: &str, amt: &str) -> CollectionEvent {
    event(
        order,
        notification,
        CollectionEventKind::PaymentSucceeded {
            provider_txn_id: pref(txn),
            amount: amount(amt),
            payer: Some(Payer {
                name: Some("张三".into()),
                phone: Some("13812341234".into()),
                account: Some(openid()),
            }),
        },
    )
}

/// The buyer's WeChat account, as a payment notice names it.
pub(crate) fn openid() -> PayerAccount {
    PayerAccount::new(
        PayerAccountKind::WechatOpenid,
        "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
    )
    .unwrap()
}

pub fn refund(order: &OrderId, notification: &str, refund_id: &str, amt: &str) -> CollectionEvent {
    event(
        order,
        notification,
        CollectionEventKind::RefundSucceeded {
            refund_id: pref(refund_id),
            amount: amount(amt),
            our_refund: None,
        },
    )
}

pub async fn apply(store: &dyn Store, e: &CollectionEvent) -> Decision {
    store.apply_collection(e, at(61)).await.unwrap()
}

/// The effect of an event that must be applied.
async fn applied(store: &dyn Store, e: &CollectionEvent) -> qrpay_domain::Effect {
    match apply(store, e).await {
        Decision::Apply(effect) => *effect,
        other => panic!("expected Apply, got {other:?}"),
    }
}

async fn order_now(w: &World, id: &OrderId) -> Order {
    w.store.get_order(&w.shop, id).await.unwrap().unwrap()
}

fn anomaly_kind(d: &Decision) -> AnomalyKind {
    match d {
        Decision::Anomaly(a) => a.kind,
        other => panic!("expected an anomaly, got {other:?}"),
    }
}

async fn ledger_today(w: &World) -> Vec<(LedgerKind, String)> {
    let date = BusinessDate::of(at(60));
    let mut entries: Vec<(LedgerKind, String)> = w
        .store
        .list_ledger(&w.shop, date)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.kind, e.amount.to_string()))
        .collect();
    entries.sort();
    entries
}

pub async fn a_dynamic_code_creates_its_order_and_a_repeat_returns_the_same_code(
    store: Arc<dyn Store>,
) {
    let w = World::new(store, "15000.00", "0.00").await;
    let (code, order) = issued_order(&w, "A-1", "88.00", None).await;
    let stored = order_now(&w, &order.order_id).await;
    assert_eq!(stored.status, OrderStatus::Created);
    assert_eq!(stored.amount.to_string(), "88.00");
    assert_eq!(stored.qr_id, Some(code.qr_id.clone()));
    assert_eq!(
        w.store.get_qr(&w.shop, &code.qr_id).await.unwrap(),
        Some(code.clone())
    );

    // The same parameters again (new ids drawn by the caller): the first code.
    let (again, again_order) = dynamic_code(&w, "A-1", "88.00", None);
    let replay = w.store.issue_qr(&again, Some(&again_order)).await.unwrap();
    assert_eq!(replay, Issued::Replayed(code.clone()));
    assert!(w
        .store
        .get_qr(&w.shop, &again.qr_id)
        .await
        .unwrap()
        .is_none());
    assert!(w
        .store
        .find_order(&again_order.order_id)
        .await
        .unwrap()
        .is_none());
}

pub async fn another_code_for_the_same_out_order_no_is_a_conflict(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "0.00").await;
    let (code, _) = issued_order(&w, "A-2", "88.00", None).await;
    let (other, other_order) = dynamic_code(&w, "A-2", "88.01", None);
    let conflict = w.store.issue_qr(&other, Some(&other_order)).await.unwrap();
    assert_eq!(conflict, Issued::Conflict(code));
    assert!(w
        .store
        .find_order(&other_order.order_id)
        .await
        .unwrap()
        .is_none());
    // Another shop may use the same out_order_no.
    let v = World::with_shop(w.store.clone(), "shop-2", "15000.00", "0.00").await;
    issued_order(&v, "A-2", "88.01", None).await;
}

pub async fn a_static_code_has_no_order_and_revoking_it_twice_is_harmless(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "0.00").await;
    let code = QrCode {
        kind: QrKind::Static,
        order_id: None,
        out_order_no: None,
        amount: None,
        expires_at: None,
        device_id: Some(DeviceId::parse("pos-1").unwrap()),
        ..dynamic_code(&w, "unused", "1.00", None).0
    };
    assert_eq!(
        w.store.issue_qr(&code, None).await.unwrap(),
        Issued::Created(code.clone())
    );
    let stored = w.store.get_qr(&w.shop, &code.qr_id).await.unwrap().unwrap();
    assert_eq!(stored.status_at(at(10 * 365 * 86_400)), QrStatus::Active);

    let revoked = w
        .store
        .revoke_qr(&w.shop, &code.qr_id, at(5))
        .await
        .unwrap();
    let Some(Revocation::Revoked(r)) = revoked else {
        panic!("expected Revoked, got {revoked:?}");
    };
    assert_eq!(r.state, QrState::Revoked);
    assert_eq!(r.status_at(at(6)), QrStatus::Revoked);
    let twice = w
        .store
        .revoke_qr(&w.shop, &code.qr_id, at(6))
        .await
        .unwrap();
    assert!(matches!(twice, Some(Revocation::AlreadyRevoked(_))));
    let stored = w.store.get_qr(&w.shop, &code.qr_id).await.unwrap().unwrap();
    assert_eq!((stored.state, stored.updated_at), (QrState::Revoked, at(5)));
    let missing = QrId::parse("qr_missing").unwrap();
    assert_eq!(
        w.store.revoke_qr(&w.shop, &missing, at(6)).await.unwrap(),
        None
    );
}

pub async fn revoking_a_dynamic_code_closes_its_unpaid_order(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "0.00").await;
    let (code, order) = issued_order(&w, "A-3", "88.00", None).await;
    let revoked = w
        .store
        .revoke_qr(&w.shop, &code.qr_id, at(5))
        .await
        .unwrap();
    assert!(matches!(revoked, Some(Revocation::Revoked(_))));
    let closed = order_now(&w, &order.order_id).await;
    assert_eq!(closed.status, OrderStatus::Closed);
    // Money arriving for it anyway is flagged, never applied.
    let d = apply(
        w.store.as_ref(),
        &payment(&order.order_id, "n-1", "t-1", "88.00"),
    )
    .await;
    assert_eq!(anomaly_kind(&d), AnomalyKind::OrderNotPayable);
    assert_eq!(
        order_now(&w, &order.order_id).await.status,
        OrderStatus::Closed
    );
    assert_eq!(w.shop_now().await.payout_balance, Money::ZERO);
}

pub async fn order_ids_are_unique_across_shops_and_found_by_id_alone(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "0.00").await;
    let v = World::with_shop(w.store.clone(), "shop-2", "15000.00", "0.00").await;
    let id = w.paid_order("shared-id", "10.00").await;
    let clash = Order::created(id.clone(), v.shop.clone(), amount("10.00"), at(0));
    assert!(!v.store.insert_order(&clash).await.unwrap());
    let found = v.store.find_order(&id).await.unwrap().unwrap();
    assert_eq!(found.shop_id, w.shop);
    assert!(v.store.get_order(&v.shop, &id).await.unwrap().is_none());
    let unknown = OrderId::parse("nope").unwrap();
    assert!(w.store.find_order(&unknown).await.unwrap().is_none());
}

pub async fn a_nonce_is_accepted_once_until_it_expires(store: Arc<dyn Store>) {
    let device = DeviceId::parse("pos-1").unwrap();
    let other = DeviceId::parse("pos-2").unwrap();
    let until = at(900);
    assert!(store
        .claim_nonce(&device, "nonce-0001", at(0), until)
        .await
        .unwrap());
    assert!(!store
        .claim_nonce(&device, "nonce-0001", at(1), until)
        .await
        .unwrap());
    assert!(!store
        .claim_nonce(&device, "nonce-0001", at(899), until)
        .await
        .unwrap());
    // Nonces are per device.
    assert!(store
        .claim_nonce(&other, "nonce-0001", at(1), until)
        .await
        .unwrap());
    // Once expired (TTL), the record no longer counts.
    assert!(store
        .claim_nonce(&device, "nonce-0001", at(901), at(1800))
        .await
        .unwrap());
    assert!(!store
        .claim_nonce(&device, "nonce-0001", at(902), at(1800))
        .await
        .unwrap());
}

pub async fn a_payment_marks_the_order_paid_credits_the_shop_and_writes_the_ledger(
    store: Arc<dyn Store>,
) {
    let w = World::new(store, "15000.00", "10.00").await;
    // Monthly pay, 3 periods, the shop bears the 2.30% fee: 300.00 → fee 6.90.
    let (_, order) = issued_order(&w, "A-4", "300.00", Some(3)).await;
    let effect = applied(
        w.store.as_ref(),
        &payment(&order.order_id, "n-1", "t-1", "300.00"),
    )
    .await;
    assert_eq!(effect.balance_change_fen, 30_000 - 690);
    let paid = order_now(&w, &order.order_id).await;
    assert_eq!(paid.status, OrderStatus::Paid);
    assert_eq!(paid.paid_amount, money("300.00"));
    assert_eq!(paid.provider, Some(Provider::Wechatpay));
    assert_eq!(paid.provider_txn_id, Some(pref("t-1")));
    assert_eq!(paid.payer_masked.as_deref(), Some("张* 138****1234"));
    // Kept for payouts, restricted: never in the ledger or the report.
    assert_eq!(paid.payer_account, Some(openid()));
    assert_eq!(paid.paid_at, Some(at(60)));
    assert_eq!(paid.revision, order.revision + 1);
    assert_eq!(paid.deductions, vec![DeductionStatus::Pending; 3]);
    assert_eq!(w.shop_now().await.payout_balance, money("303.10"));
    assert_eq!(
        ledger_today(&w).await,
        vec![
            (LedgerKind::Payment, "300.00".to_owned()),
            (LedgerKind::Fee, "6.90".to_owned()),
        ]
    );
    let entries = w
        .store
        .list_ledger(&w.shop, BusinessDate::of(at(60)))
        .await
        .unwrap();
    let pay = entries
        .iter()
        .find(|e| e.kind == LedgerKind::Payment)
        .unwrap();
    assert_eq!(pay.entry_id, "payment-wechatpay-t-1");
    assert_eq!(pay.order_id, Some(order.order_id.clone()));
    assert_eq!(pay.provider, Some(Provider::Wechatpay));
    assert_eq!(pay.provider_ref.as_deref(), Some("t-1"));
    // What the reconciliation report shows of the order, masked.
    assert_eq!(pay.customer.as_deref(), Some("张* 138****1234"));
    assert_eq!(pay.plan_periods, Some(3));
    // Payouts may now go against it, through WeChat Pay.
    let r = w.request(&w.owner, &order.order_id, "5.00", "k1", at(120));
    let reserved = w.store.reserve_payout(&r).await.unwrap();
    assert_eq!(reserved.payout().provider, Some(Provider::Wechatpay));
}

pub async fn a_paid_dynamic_code_is_used_and_cannot_be_revoked(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "0.00").await;
    let (code, order) = issued_order(&w, "A-5", "88.00", None).await;
    apply(
        w.store.as_ref(),
        &payment(&order.order_id, "n-1", "t-1", "88.00"),
    )
    .await;
    let used = w.store.get_qr(&w.shop, &code.qr_id).await.unwrap().unwrap();
    assert_eq!(used.status_at(at(100)), QrStatus::Used);
    let r = w
        .store
        .revoke_qr(&w.shop, &code.qr_id, at(100))
        .await
        .unwrap();
    assert!(matches!(r, Some(Revocation::Used(_))));
    assert_eq!(
        order_now(&w, &order.order_id).await.status,
        OrderStatus::Paid
    );
}

pub async fn a_redelivered_notice_changes_nothing(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "0.00").await;
    let (_, order) = issued_order(&w, "A-6", "88.00", None).await;
    let first = payment(&order.order_id, "n-1", "t-1", "88.00");
    assert!(matches!(
        apply(w.store.as_ref(), &first).await,
        Decision::Apply(_)
    ));
    let after_first = order_now(&w, &order.order_id).await;
    assert_eq!(
        apply(w.store.as_ref(), &first).await,
        Decision::AlreadyApplied
    );
    // The same charge under another notification id is the same movement.
    let same_charge = payment(&order.order_id, "n-2", "t-1", "88.00");
    assert_eq!(
        apply(w.store.as_ref(), &same_charge).await,
        Decision::AlreadyApplied
    );
    assert_eq!(order_now(&w, &order.order_id).await, after_first);
    assert_eq!(w.shop_now().await.payout_balance, money("88.00"));
    assert_eq!(ledger_today(&w).await.len(), 1);
    assert!(w
        .store
        .list_anomalies(BusinessDate::of(at(60)))
        .await
        .unwrap()
        .is_empty());
}

pub async fn an_amount_mismatch_is_an_anomaly_and_changes_nothing(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "0.00").await;
    let (code, order) = issued_order(&w, "A-7", "88.00", None).await;
    let wrong = payment(&order.order_id, "n-1", "t-1", "8.80");
    let d = apply(w.store.as_ref(), &wrong).await;
    assert_eq!(anomaly_kind(&d), AnomalyKind::AmountMismatch);
    assert_eq!(order_now(&w, &order.order_id).await, order);
    assert_eq!(w.shop_now().await.payout_balance, Money::ZERO);
    assert!(ledger_today(&w).await.is_empty());
    let code_now = w.store.get_qr(&w.shop, &code.qr_id).await.unwrap().unwrap();
    assert_eq!(code_now.state, QrState::Active);
    let anomalies = w
        .store
        .list_anomalies(BusinessDate::of(at(60)))
        .await
        .unwrap();
    assert_eq!(anomalies.len(), 1);
    let a = &anomalies[0];
    assert_eq!(a.kind, AnomalyKind::AmountMismatch);
    assert_eq!(
        (a.amount.to_string(), a.expected),
        ("8.80".to_owned(), Some(money("88.00")))
    );
    assert_eq!(a.shop_id, Some(w.shop.clone()));
    assert_eq!(a.anomaly_id, "wechatpay-n-1");
    // A redelivery does not record it twice.
    assert_eq!(
        apply(w.store.as_ref(), &wrong).await,
        Decision::AlreadyApplied
    );
    assert_eq!(
        w.store
            .list_anomalies(BusinessDate::of(at(60)))
            .await
            .unwrap()
            .len(),
        1
    );
}

pub async fn a_second_charge_for_a_paid_order_is_a_duplicate_charge(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "0.00").await;
    let (_, order) = issued_order(&w, "A-8", "88.00", None).await;
    apply(
        w.store.as_ref(),
        &payment(&order.order_id, "n-1", "t-1", "88.00"),
    )
    .await;
    let paid = order_now(&w, &order.order_id).await;
    let d = apply(
        w.store.as_ref(),
        &payment(&order.order_id, "n-2", "t-2", "88.00"),
    )
    .await;
    assert_eq!(anomaly_kind(&d), AnomalyKind::DuplicateCharge);
    assert_eq!(order_now(&w, &order.order_id).await, paid);
    assert_eq!(w.shop_now().await.payout_balance, money("88.00"));
    assert_eq!(ledger_today(&w).await.len(), 1);
    let anomalies = w
        .store
        .list_anomalies(BusinessDate::of(at(60)))
        .await
        .unwrap();
    assert_eq!(anomalies.len(), 1);
    assert_eq!(anomalies[0].provider_ref.as_deref(), Some("t-2"));
}

pub async fn a_notice_for_an_unknown_order_is_an_anomaly(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "0.00").await;
    let ghost = OrderId::parse("ord_ghost").unwrap();
    let d = apply(w.store.as_ref(), &payment(&ghost, "n-1", "t-1", "88.00")).await;
    assert_eq!(anomaly_kind(&d), AnomalyKind::UnknownOrder);
    let anomalies = w
        .store
        .list_anomalies(BusinessDate::of(at(60)))
        .await
        .unwrap();
    assert_eq!(anomalies.len(), 1);
    assert_eq!(anomalies[0].shop_id, None);
    assert_eq!(anomalies[0].order_id, ghost);
    assert_eq!(w.shop_now().await.payout_balance, Money::ZERO);
}

pub fn deduction(order: &OrderId, notification: &str, period: u8, amt: &str) -> CollectionEvent {
    event(
        order,
        notification,
        CollectionEventKind::InstalmentDeducted {
            provider_txn_id: pref(&format!("d-{notification}")),
            period,
            amount: amount(amt),
        },
    )
}

pub async fn deductions_mark_their_period_and_a_second_one_is_a_duplicate(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "0.00").await;
    let (_, order) = issued_order(&w, "A-9", "100.00", Some(3)).await;
    // Before the payment: not yet, nothing recorded, the provider retries.
    let early = deduction(&order.order_id, "d-1", 1, "33.34");
    assert!(matches!(
        apply(w.store.as_ref(), &early).await,
        Decision::NotYet(_)
    ));
    apply(
        w.store.as_ref(),
        &payment(&order.order_id, "n-1", "t-1", "100.00"),
    )
    .await;
    assert!(matches!(
        apply(w.store.as_ref(), &early).await,
        Decision::Apply(_)
    ));
    let d2 = deduction(&order.order_id, "d-2", 2, "33.33");
    assert!(matches!(
        apply(w.store.as_ref(), &d2).await,
        Decision::Apply(_)
    ));
    let o = order_now(&w, &order.order_id).await;
    use DeductionStatus::*;
    assert_eq!(o.deductions, vec![Deducted, Deducted, Pending]);
    // Period 2 charged again under another transaction: a duplicate deduction.
    let again = deduction(&order.order_id, "d-3", 2, "33.33");
    assert_eq!(
        anomaly_kind(&apply(w.store.as_ref(), &again).await),
        AnomalyKind::DuplicateDeduction
    );
    // Wrong amount for period 3, and a period the plan does not have.
    let wrong = deduction(&order.order_id, "d-4", 3, "33.34");
    assert_eq!(
        anomaly_kind(&apply(w.store.as_ref(), &wrong).await),
        AnomalyKind::AmountMismatch
    );
    let beyond = deduction(&order.order_id, "d-5", 4, "33.33");
    assert_eq!(
        anomaly_kind(&apply(w.store.as_ref(), &beyond).await),
        AnomalyKind::UnexpectedDeduction
    );
    assert_eq!(
        order_now(&w, &order.order_id).await.deductions,
        vec![Deducted, Deducted, Pending]
    );
    let ledger = ledger_today(&w).await;
    let deducted: Vec<&String> = ledger
        .iter()
        .filter(|(k, _)| *k == LedgerKind::InstalmentDeduction)
        .map(|(_, a)| a)
        .collect();
    assert_eq!(deducted, vec!["33.33", "33.34"]);
    // Deductions do not touch the shop's balance (it was paid in full).
    assert_eq!(w.shop_now().await.payout_balance, money("97.70"));
}

pub async fn a_failed_deduction_tells_the_merchant(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "0.00").await;
    let (_, order) = issued_order(&w, "A-10", "120.00", Some(6)).await;
    apply(
        w.store.as_ref(),
        &payment(&order.order_id, "n-1", "t-1", "120.00"),
    )
    .await;
    let failed = event(
        &order.order_id,
        "f-1",
        CollectionEventKind::InstalmentDeductionFailed {
            period: 2,
            amount: amount("20.00"),
            reason: "insufficient credit".into(),
        },
    );
    let effect = applied(w.store.as_ref(), &failed).await;
    assert!(effect.ledger.is_empty());
    let o = order_now(&w, &order.order_id).await;
    assert_eq!(o.deductions[1], DeductionStatus::Failed);
    let notices = w.store.list_notices(&w.shop, 10).await.unwrap();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].kind, NoticeKind::DeductionFailed);
    assert_eq!(notices[0].order_id, Some(order.order_id.clone()));
    assert!(
        notices[0].message.contains("insufficient credit"),
        "{}",
        notices[0].message
    );
    // The provider charges it again later: the period becomes deducted.
    let retry = deduction(&order.order_id, "d-9", 2, "20.00");
    assert!(matches!(
        apply(w.store.as_ref(), &retry).await,
        Decision::Apply(_)
    ));
    assert_eq!(
        order_now(&w, &order.order_id).await.deductions[1],
        DeductionStatus::Deducted
    );
}

pub async fn refunds_move_the_order_and_debit_the_shop(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "0.00").await;
    let (_, order) = issued_order(&w, "A-11", "100.00", None).await;
    apply(
        w.store.as_ref(),
        &payment(&order.order_id, "n-1", "t-1", "100.00"),
    )
    .await;
    let d = apply(
        w.store.as_ref(),
        &refund(&order.order_id, "r-n1", "r-1", "30.00"),
    )
    .await;
    assert!(matches!(d, Decision::Apply(_)));
    let o = order_now(&w, &order.order_id).await;
    assert_eq!(
        (o.status, o.refunded_amount),
        (OrderStatus::PartiallyRefunded, money("30.00"))
    );
    assert_eq!(w.shop_now().await.payout_balance, money("70.00"));
    // The same refund under another notification id: nothing more.
    let same = refund(&order.order_id, "r-n2", "r-1", "30.00");
    assert_eq!(
        apply(w.store.as_ref(), &same).await,
        Decision::AlreadyApplied
    );
    // More than what is left is an anomaly.
    let too_much = refund(&order.order_id, "r-n3", "r-2", "70.01");
    assert_eq!(
        anomaly_kind(&apply(w.store.as_ref(), &too_much).await),
        AnomalyKind::RefundExceedsPaid
    );
    let rest = refund(&order.order_id, "r-n4", "r-3", "70.00");
    assert!(matches!(
        apply(w.store.as_ref(), &rest).await,
        Decision::Apply(_)
    ));
    let o = order_now(&w, &order.order_id).await;
    assert_eq!(
        (o.status, o.refunded_amount),
        (OrderStatus::Refunded, money("100.00"))
    );
    assert_eq!(w.shop_now().await.payout_balance, Money::ZERO);
    assert_eq!(
        ledger_today(&w).await,
        vec![
            (LedgerKind::Payment, "100.00".to_owned()),
            (LedgerKind::Refund, "30.00".to_owned()),
            (LedgerKind::Refund, "70.00".to_owned()),
        ]
    );
}

pub async fn a_refund_beyond_the_balance_takes_it_to_zero_and_is_flagged(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "0.00").await;
    let (_, order) = issued_order(&w, "A-12", "100.00", None).await;
    apply(
        w.store.as_ref(),
        &payment(&order.order_id, "n-1", "t-1", "100.00"),
    )
    .await;
    // 80.00 of the 100.00 is held by a payout; 20.00 is available.
    let r = w.request(&w.owner, &order.order_id, "80.00", "k1", at(120));
    w.store.reserve_payout(&r).await.unwrap();
    assert_eq!(w.shop_now().await.payout_balance, money("20.00"));
    let effect = applied(
        w.store.as_ref(),
        &refund(&order.order_id, "r-n1", "r-1", "50.00"),
    )
    .await;
    assert_eq!(effect.balance_change_fen, -2_000);
    let shop = w.shop_now().await;
    assert_eq!(
        (shop.payout_balance, shop.payout_held),
        (Money::ZERO, money("80.00"))
    );
    let anomalies = w
        .store
        .list_anomalies(BusinessDate::of(at(60)))
        .await
        .unwrap();
    assert_eq!(anomalies.len(), 1);
    assert_eq!(anomalies[0].kind, AnomalyKind::RefundShortfall);
    let o = order_now(&w, &order.order_id).await;
    assert_eq!(o.refunded_amount, money("50.00"));
    assert_eq!(
        o.payouts_live_total,
        money("80.00"),
        "payout counters untouched"
    );
}

pub async fn ten_concurrent_deliveries_apply_once(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "0.00").await;
    let (_, order) = issued_order(&w, "A-13", "88.00", None).await;
    let notice = payment(&order.order_id, "n-1", "t-1", "88.00");
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let store = w.store.clone();
            let notice = notice.clone();
            tokio::spawn(async move { store.apply_collection(&notice, at(61)).await.unwrap() })
        })
        .collect();
    let mut applied = 0;
    for task in tasks {
        match task.await.unwrap() {
            Decision::Apply(_) => applied += 1,
            Decision::AlreadyApplied => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(applied, 1);
    let o = order_now(&w, &order.order_id).await;
    assert_eq!((o.status, o.revision), (OrderStatus::Paid, 1));
    assert_eq!(w.shop_now().await.payout_balance, money("88.00"));
    assert_eq!(ledger_today(&w).await.len(), 1);
}

fn limits() -> CheckoutLimits {
    let rate = |limit, window_s| Rate { limit, window_s };
    CheckoutLimits {
        per_code: rate(7, 60),
        per_client_on_code: rate(3, 600),
        per_client: rate(5, 600),
        ..CheckoutLimits::DEFAULT
    }
}

fn static_order(w: &World, n: usize) -> Order {
    Order::created(
        OrderId::parse(&format!("ord_chk_{n}")).unwrap(),
        w.shop.clone(),
        amount("9.90"),
        at(0),
    )
}

async fn checkout(w: &World, n: usize, code: &str, client: &str, now_s: i64) -> Checkout {
    let windows = limits().windows(code, client, at(now_s));
    w.store
        .open_checkout(&static_order(w, n), &windows)
        .await
        .unwrap()
}

fn scope_of(c: &Checkout) -> &'static str {
    match c {
        Checkout::Opened => "opened",
        Checkout::Duplicate => "duplicate",
        Checkout::Limited(w) => w.scope,
        Checkout::CapExceeded(_) => "cap",
    }
}

pub async fn checkouts_open_orders_only_within_their_rate_windows(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "0.00").await;
    let mut seen = Vec::new();
    for n in 0..5 {
        seen.push(scope_of(&checkout(&w, n, "qr_a", "client-1", 10).await));
    }
    // Three per client on one code, then refused; nothing written for those.
    assert_eq!(
        seen,
        ["opened", "opened", "opened", "client-code", "client-code"]
    );
    for n in 0..5 {
        let order = w
            .store
            .get_order(&w.shop, &static_order(&w, n).order_id)
            .await
            .unwrap();
        assert_eq!(order.is_some(), n < 3, "order {n}");
    }
    // Another code: the client's own limit (5 in all) stops it after two more.
    let other: Vec<_> = [
        checkout(&w, 10, "qr_b", "client-1", 10).await,
        checkout(&w, 11, "qr_b", "client-1", 10).await,
        checkout(&w, 12, "qr_b", "client-1", 10).await,
    ]
    .iter()
    .map(scope_of)
    .collect();
    assert_eq!(other, ["opened", "opened", "client"]);
    // The code's own limit (7 a minute) holds across clients.
    let mut by_code = Vec::new();
    for (n, client) in ["c2", "c3", "c4", "c5", "c6"].iter().enumerate() {
        by_code.push(scope_of(&checkout(&w, 20 + n, "qr_a", client, 10).await));
    }
    assert_eq!(by_code, ["opened", "opened", "opened", "opened", "code"]);
    // A reused order id writes and counts nothing.
    assert_eq!(
        scope_of(&checkout(&w, 0, "qr_c", "c9", 10).await),
        "duplicate"
    );
    // The next minute is a new window for the code, not for the client.
    assert_eq!(
        scope_of(&checkout(&w, 30, "qr_a", "c7", 70).await),
        "opened"
    );
    let Checkout::Limited(full) = checkout(&w, 31, "qr_a", "client-1", 70).await else {
        panic!("client-1 is still over its limit on qr_a");
    };
    assert_eq!(full.scope, "client-code");
    let retry = full.retry_after_s(at(70));
    assert!((1..=600).contains(&retry), "{retry}");
    assert_eq!(retry as i64, full.window_end_s() - at(70).timestamp());
}

pub async fn concurrent_checkouts_from_one_client_open_exactly_its_limit(store: Arc<dyn Store>) {
    let w = Arc::new(World::new(store, "15000.00", "0.00").await);
    let tasks: Vec<_> = (0..12)
        .map(|n| {
            let w = w.clone();
            tokio::spawn(async move { scope_of(&checkout(&w, 100 + n, "qr_z", "flood", 5).await) })
        })
        .collect();
    let mut opened = 0;
    for t in tasks {
        if t.await.unwrap() == "opened" {
            opened += 1;
        }
    }
    assert_eq!(
        opened, 3,
        "a flood leaves exactly the limit's worth of orders"
    );
}

/// What buyers see of a shop (display name, receipt link) is stored with it
/// and replaced, not merged, by the next setup.
pub async fn a_shops_branding_is_kept_and_replaced_by_the_next_setup(store: Arc<dyn Store>) {
    let w = World::with_shop(store, "shop-b", "1000.00", "0.00").await;
    let plain = w.shop_now().await;
    assert_eq!(plain.branding, qrpay_domain::Branding::default());
    assert_eq!(plain.display_name(), "Shop shop-b");
    let branding = qrpay_domain::Branding {
        display_name: Some(qrpay_domain::ShopName::parse("茶小铺 · 南京西路店").unwrap()),
        receipt_link: Some(qrpay_domain::ShopLink::parse("https://tea.example.cn/next").unwrap()),
    };
    let mut setup = qrpay_domain::ShopSetup {
        shop_id: w.shop.clone(),
        name: plain.name.clone(),
        owner_operator_id: w.owner.clone(),
        daily_payout_cap: plain.daily_payout_cap,
        payout_balance: None,
        instalments: InstalmentConfig::default(),
        instalment_grace_days: Default::default(),
        branding: branding.clone(),
        controls: Default::default(),
        processing_rates: Default::default(),
    };
    let put = w.store.put_shop(&setup, at(10)).await.unwrap();
    assert_eq!(put.branding, branding);
    assert_eq!(w.shop_now().await.branding, branding);
    assert_eq!(w.shop_now().await.display_name(), "茶小铺 · 南京西路店");
    setup.branding = qrpay_domain::Branding::default();
    w.store.put_shop(&setup, at(20)).await.unwrap();
    assert_eq!(
        w.shop_now().await.branding,
        qrpay_domain::Branding::default()
    );
    // A setup never sets an existing shop's balance (issue 14): only ledger
    // entries move it, so credits that landed meanwhile are never wiped.
    setup.payout_balance = Some(money("999.00"));
    let again = w.store.put_shop(&setup, at(30)).await.unwrap();
    assert_eq!(again.payout_balance, plain.payout_balance);
    assert_eq!(w.shop_now().await.payout_balance, plain.payout_balance);
}

/// Gives the shop these processing rates in a setup of its own (the rest
/// as a plain setup has it); the setup, for the caller to change.
pub async fn set_processing_rates(
    w: &World,
    rates: &[(Provider, &str)],
) -> qrpay_domain::ShopSetup {
    let plain = w.shop_now().await;
    let rate = |text| qrpay_domain::ProcessingRate::parse(text).unwrap();
    let rates = rates.iter().map(|(p, r)| (*p, rate(*r))).collect();
    let rates = qrpay_domain::ProcessingRates::new(rates).unwrap();
    let setup = qrpay_domain::ShopSetup {
        shop_id: w.shop.clone(),
        name: plain.name.clone(),
        owner_operator_id: w.owner.clone(),
        daily_payout_cap: plain.daily_payout_cap,
        payout_balance: None,
        instalments: InstalmentConfig::default(),
        instalment_grace_days: Default::default(),
        branding: Default::default(),
        controls: Default::default(),
        processing_rates: rates.clone(),
    };
    let stored = w.store.put_shop(&setup, at(1)).await.unwrap();
    assert_eq!(stored.processing_rates, rates);
    assert_eq!(w.shop_now().await.processing_rates, rates);
    setup
}

pub async fn a_payment_books_the_providers_fee_at_the_shops_processing_rate(store: Arc<dyn Store>) {
    let w = World::new(store, "15000.00", "10.00").await;
    assert!(w.shop_now().await.processing_rates.is_empty());
    let rates = [
        (Provider::Wechatpay, "0.0060"),
        (Provider::Alipay, "0.0055"),
    ];
    let mut setup = set_processing_rates(&w, &rates).await;

    // Monthly pay, the shop bears 2.30%: 6.90, and WeChat Pay keeps 0.60%
    // of 300.00: 1.80. One fee, as the bill's payment row lists it.
    let (_, order) = issued_order(&w, "P-1", "300.00", Some(3)).await;
    let effect = applied(
        w.store.as_ref(),
        &payment(&order.order_id, "n-1", "t-1", "300.00"),
    )
    .await;
    assert_eq!(effect.balance_change_fen, 30_000 - 870);
    // 0.60% of 88.88 is 0.53328: 0.53.
    let (_, plain_order) = issued_order(&w, "P-2", "88.88", None).await;
    apply(
        w.store.as_ref(),
        &payment(&plain_order.order_id, "n-2", "t-2", "88.88"),
    )
    .await;
    assert_eq!(
        ledger_today(&w).await,
        vec![
            (LedgerKind::Payment, "300.00".to_owned()),
            (LedgerKind::Payment, "88.88".to_owned()),
            (LedgerKind::Fee, "0.53".to_owned()),
            (LedgerKind::Fee, "8.70".to_owned()),
        ]
    );
    // 10.00 + 300.00 - 8.70 + 88.88 - 0.53.
    assert_eq!(w.shop_now().await.payout_balance, money("389.65"));
    // What a refund may hand back: the processing fee alone.
    let fee_of = |o: Order| o.processing_fee.to_string();
    assert_eq!(fee_of(order_now(&w, &order.order_id).await), "1.80");
    assert_eq!(fee_of(order_now(&w, &plain_order.order_id).await), "0.53");

    // A later setup without rates takes them away: the next payment books
    // no fee.
    setup.processing_rates = Default::default();
    w.store.put_shop(&setup, at(2)).await.unwrap();
    assert!(w.shop_now().await.processing_rates.is_empty());
    let (_, third) = issued_order(&w, "P-3", "50.00", None).await;
    let d = apply(
        w.store.as_ref(),
        &payment(&third.order_id, "n-3", "t-3", "50.00"),
    )
    .await;
    assert!(
        matches!(d, Decision::Apply(ref e) if e.balance_change_fen == 5_000),
        "{d:?}"
    );
    assert_eq!(w.shop_now().await.payout_balance, money("439.65"));
    assert_eq!(
        order_now(&w, &third.order_id).await.processing_fee,
        Money::ZERO
    );
}
