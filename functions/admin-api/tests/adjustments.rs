//! `POST /admin/shops/{shop_id}/balance-adjustments` through the admin-api
//! handler, from the fixture in `events/admin-api/`, on the embedded store.

use std::sync::Arc;

use admin_api::{handle, App};
use qrpay_domain::{BusinessDate, LedgerKind, Secret, ShopId, TestClock};
use qrpay_store::keyring::LocalKeyring;
use qrpay_store::{MemoryStore, ShopStore};
use qrpay_tests::events::{Answer, Event};
use qrpay_tests::world::morning;
use serde_json::json;

const SHOP: &str = "admin-api/put-shop.json";
const ADJUST: &str = "admin-api/adjust-balance.json";

/// The fixture's shop (balance 50000.00), set up.
async fn app() -> (App, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    let app = App {
        shops: store.clone(),
        clock: Arc::new(TestClock::at(morning())),
        // Adjustments never touch device secrets.
        device_keys: Arc::new(LocalKeyring::new(&Secret::new([3u8; 32]))),
    };
    assert_eq!(send(&app, Event::fixture(SHOP)).await.status, 200);
    (app, store)
}

async fn send(app: &App, event: Event) -> Answer {
    Answer::from(handle(app, event.request()).await)
}

async fn balance(store: &MemoryStore) -> String {
    let shop = store
        .get_shop(&ShopId::parse("shop-1").unwrap())
        .await
        .unwrap()
        .unwrap();
    shop.payout_balance.to_string()
}

#[tokio::test]
async fn the_fixture_debits_the_shop_and_books_it() {
    let (app, store) = app().await;
    let a = send(&app, Event::fixture(ADJUST)).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let id = a.body["adjustment_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("adj_"), "{id}");
    assert_eq!(
        a.body,
        json!({
            "adjustment_id": id, "shop_id": "shop-1", "operator_id": "platform-admin",
            "amount": "-12.30", "reason": "bank transfer fee charged to the shop",
            "balance_before": "50000.00", "balance_after": "49987.70",
            "business_date": "2026-03-02", "created_at": "2026-03-02T10:00:00.000+08:00"
        })
    );
    assert!(a.headers.get("idempotent-replayed").is_none());
    assert_eq!(balance(&store).await, "49987.70");
    let ledger = store
        .list_ledger(
            &ShopId::parse("shop-1").unwrap(),
            BusinessDate::parse("2026-03-02").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].kind, LedgerKind::AdjustmentDebit);
    assert_eq!(
        (ledger[0].amount.to_string(), ledger[0].reference.as_str()),
        ("12.30".into(), id.as_str())
    );

    // The same request again: the same adjustment, said to be a replay.
    let again = send(&app, Event::fixture(ADJUST)).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body, a.body);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    // The key with another body: a conflict, nothing moves.
    let other = send(
        &app,
        Event::fixture(ADJUST).json_body(
            json!({"amount": "12.30", "reason": "bank transfer fee charged to the shop"}),
        ),
    )
    .await;
    assert_eq!((other.status, other.code()), (409, "IDEMPOTENCY_CONFLICT"));
    assert_eq!(balance(&store).await, "49987.70");
}

#[tokio::test]
async fn a_credit_and_a_debit_beyond_the_balance() {
    let (app, store) = app().await;
    let credit = Event::fixture(ADJUST)
        .header("idempotency-key", "credit-1")
        .json_body(json!({"amount": "0.30", "reason": "rounding"}));
    let a = send(&app, credit).await;
    assert_eq!(
        (a.status, a.body["balance_after"].as_str()),
        (201, Some("50000.30"))
    );
    let too_much = Event::fixture(ADJUST)
        .header("idempotency-key", "debit-1")
        .json_body(json!({"amount": "-50000.31", "reason": "too much"}));
    let a = send(&app, too_much).await;
    assert_eq!(
        (a.status, a.code()),
        (422, "INSUFFICIENT_BALANCE"),
        "{}",
        a.body
    );
    assert_eq!(a.body["error"]["remaining"], "50000.30");
    assert_eq!(balance(&store).await, "50000.30");
}

#[tokio::test]
async fn bad_adjustments_name_the_field_and_change_nothing() {
    let (app, store) = app().await;
    let cases = [
        (json!({"amount": "0.00", "reason": "r"}), "amount"),
        (json!({"amount": "-0.00", "reason": "r"}), "amount"),
        (json!({"amount": "+1.00", "reason": "r"}), "amount"),
        (json!({"amount": "1.001", "reason": "r"}), "amount"),
        (json!({"amount": -1.5, "reason": "r"}), "amount"),
        (json!({"amount": "-1.00"}), "reason"),
        (json!({"amount": "-1.00", "reason": "  "}), "reason"),
        (json!({"amount": "-1.00", "reason": "a\u{7}b"}), "reason"),
        (
            json!({"amount": "-1.00", "reason": "x".repeat(201)}),
            "reason",
        ),
        (
            json!({"amount": "-1.00", "reason": "r", "shop_id": "shop-2"}),
            "shop_id",
        ),
    ];
    for (body, field) in cases {
        let a = send(&app, Event::fixture(ADJUST).json_body(body.clone())).await;
        assert_eq!(
            (a.status, a.code()),
            (400, "INVALID_REQUEST"),
            "{body}: {}",
            a.body
        );
        assert_eq!(a.body["error"]["field"], field, "{body}");
    }
    let no_key = send(
        &app,
        Event::fixture(ADJUST).without_header("idempotency-key"),
    )
    .await;
    assert_eq!(
        (no_key.status, no_key.body["error"]["field"].as_str()),
        (400, Some("Idempotency-Key"))
    );
    let unknown = send(
        &app,
        Event::fixture(ADJUST).path("/admin/shops/nope/balance-adjustments"),
    )
    .await;
    assert_eq!((unknown.status, unknown.code()), (404, "SHOP_NOT_FOUND"));
    assert_eq!(balance(&store).await, "50000.00");
}

#[tokio::test]
async fn only_admins_with_the_admin_scope_may_adjust() {
    let (app, store) = app().await;
    let owner = Event::fixture(ADJUST).claims("shop-1-owner", Some("shop-1"), "owner");
    assert_eq!(send(&app, owner).await.status, 403);
    let no_scope = Event::fixture(ADJUST)
        .raw_claims(json!({"sub": "x", "role": "admin", "exp": "4102444800"}));
    assert_eq!(send(&app, no_scope).await.status, 403);
    assert_eq!(
        send(&app, Event::fixture(ADJUST).no_authorizer())
            .await
            .status,
        401
    );
    let get = send(&app, Event::fixture(ADJUST).method("GET")).await;
    assert_eq!(
        (get.status, get.headers["allow"].to_str().unwrap()),
        (405, "POST")
    );
    assert_eq!(balance(&store).await, "50000.00");
}
