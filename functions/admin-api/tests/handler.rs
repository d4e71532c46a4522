//! The admin-api function called with API Gateway v2 events built from the
//! fixtures in `events/admin-api/`, on the embedded store.

use std::sync::Arc;

use admin_api::{handle, App};
use qrpay_domain::{Amount, DeviceId, Provider, Secret, ShopId, TestClock};
use qrpay_store::keyring::{DeviceKeyring, KeyringError, LocalKeyring};
use qrpay_store::{MemoryStore, ShopStore};
use qrpay_tests::events::{Answer, Event};
use qrpay_tests::world::morning;
use serde_json::json;

const SHOP: &str = "admin-api/put-shop.json";
const DEVICE: &str = "admin-api/put-device.json";

fn keyring() -> LocalKeyring {
    LocalKeyring::new(&Secret::new([3u8; 32]))
}

fn app() -> (App, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    let app = App {
        shops: store.clone(),
        clock: Arc::new(TestClock::at(morning())),
        device_keys: Arc::new(keyring()),
    };
    (app, store)
}

async fn send(app: &App, event: Event) -> Answer {
    Answer::from(handle(app, event.request()).await)
}

#[tokio::test]
async fn admin_sets_up_a_shop_from_the_fixture() {
    let (app, store) = app();
    let a = send(&app, Event::fixture(SHOP)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body,
        json!({
            "shop_id": "shop-1", "name": "Tea House 茶馆", "display_name": null, "receipt_link": null,
            "owner_operator_id": "shop-1-owner",
            "daily_payout_cap": "15000.00", "payout_balance": "50000.00", "payout_held": "0.00",
            "daily_collection_cap": null, "large_payment_alert": null,
            "instalments": {"min_amount": "100.00", "fee_payer": "shop", "fee_rates": {"3": "0.0230", "6": "0.0450", "12": "0.0750"}},
            "instalment_grace_days": 3, "processing_rates": {},
            "created_at": "2026-03-02T10:00:00.000+08:00", "updated_at": "2026-03-02T10:00:00.000+08:00"
        })
    );
    let shop = store
        .get_shop(&ShopId::parse("shop-1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(shop.payout_balance.to_string(), "50000.00");
}

#[tokio::test]
async fn a_shop_keeps_the_processing_rates_of_its_provider_contracts() {
    let (app, store) = app();
    let body = json!({"name": "Noodles", "owner_operator_id": "o", "payout_balance": "0.00",
        "processing_rates": {"wechatpay": "0.0060", "alipay": "0.006"}});
    let a = send(&app, Event::fixture(SHOP).json_body(body)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body["processing_rates"],
        json!({"wechatpay": "0.0060", "alipay": "0.006"})
    );
    let shop = store
        .get_shop(&ShopId::parse("shop-1").unwrap())
        .await
        .unwrap()
        .unwrap();
    let fee = |p| {
        shop.processing_rates
            .fee(p, Amount::parse("100.00").unwrap())
    };
    assert_eq!(fee(Provider::Wechatpay).to_string(), "0.60");
    assert_eq!(fee(Provider::Douyin).to_string(), "0.00");
    // The next setup without them sets none.
    let body = json!({"name": "Noodles", "owner_operator_id": "o"});
    let a = send(&app, Event::fixture(SHOP).json_body(body)).await;
    assert_eq!(a.body["processing_rates"], json!({}), "{}", a.body);
}

#[tokio::test]
async fn the_daily_cap_defaults_to_15000() {
    let (app, _) = app();
    let body = json!({"name": "Noodles", "owner_operator_id": "o", "payout_balance": "0.00"});
    let a = send(&app, Event::fixture(SHOP).json_body(body)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["daily_payout_cap"], "15000.00");
    assert_eq!(a.body["instalments"]["min_amount"], "100.00");
}

#[tokio::test]
async fn a_shop_shows_buyers_its_display_name_and_receipt_link() {
    let (app, store) = app();
    let body = json!({"name": "Tea House 茶馆", "owner_operator_id": "o", "payout_balance": "0.00",
        "display_name": "茶小铺 · 南京西路店", "receipt_link": "https://tea.example.cn/next?from=receipt"});
    let a = send(&app, Event::fixture(SHOP).json_body(body)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["display_name"], "茶小铺 · 南京西路店");
    assert_eq!(
        a.body["receipt_link"],
        "https://tea.example.cn/next?from=receipt"
    );
    let shop = store
        .get_shop(&ShopId::parse("shop-1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(shop.display_name(), "茶小铺 · 南京西路店");
    // Without one, buyers see the shop's name.
    let plain = json!({"name": "Tea House 茶馆", "owner_operator_id": "o"});
    let a = send(&app, Event::fixture(SHOP).json_body(plain)).await;
    assert_eq!((a.status, &a.body["display_name"]), (200, &json!(null)));
    let shop = store
        .get_shop(&ShopId::parse("shop-1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(shop.display_name(), "Tea House 茶馆");
}

#[tokio::test]
async fn instalment_grace_days_are_kept_from_0_to_60_and_default_to_3() {
    let (app, store) = app();
    let shop_id = ShopId::parse("shop-1").unwrap();
    for (given, kept) in [(json!(0), 0), (json!(60), 60), (json!(null), 3)] {
        let mut body = json!({"name": "Noodles", "owner_operator_id": "o"});
        if !given.is_null() {
            body["instalment_grace_days"] = given;
        }
        let a = send(&app, Event::fixture(SHOP).json_body(body)).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.body["instalment_grace_days"], kept);
        let shop = store.get_shop(&shop_id).await.unwrap().unwrap();
        assert_eq!(shop.instalment_grace_days.days(), kept);
    }
}

#[tokio::test]
async fn only_admins_may_set_up_shops_and_devices() {
    let (app, store) = app();
    for fixture in [SHOP, DEVICE] {
        let a = send(
            &app,
            Event::fixture(fixture).claims("shop-1-owner", Some("shop-1"), "owner"),
        )
        .await;
        assert_eq!((a.status, a.code()), (403, "FORBIDDEN"), "{fixture}");
        let a = send(&app, Event::fixture(fixture).no_authorizer()).await;
        assert_eq!((a.status, a.code()), (401, "UNAUTHENTICATED"), "{fixture}");
    }
    assert!(store
        .get_shop(&ShopId::parse("shop-1").unwrap())
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn bad_shop_setups_name_the_field_and_store_nothing() {
    let (app, store) = app();
    let ok = json!({"name": "N", "owner_operator_id": "o", "payout_balance": "1.00"});
    let with = |k: &str, v: serde_json::Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let cases = [
        (with("name", json!("")), "name"),
        (with("name", json!("x".repeat(101))), "name"),
        (with("owner_operator_id", json!("a b")), "owner_operator_id"),
        (with("payout_balance", json!("-5.00")), "payout_balance"),
        (with("payout_balance", json!(5)), "payout_balance"),
        (with("daily_payout_cap", json!("0.00")), "daily_payout_cap"),
        (with("daily_payout_cap", json!("1.234")), "daily_payout_cap"),
        (
            with("instalments", json!({"fee_payer": "bank"})),
            "instalments.fee_payer",
        ),
        (
            with("instalments", json!({"fee_rates": {"4": "0.01"}})),
            "instalments.fee_rates.4",
        ),
        (
            with("instalments", json!({"fee_rates": {"3": "1.5"}})),
            "instalments.fee_rates.3",
        ),
        (
            with("instalments", json!({"fee_rates": {"3": "0.00001"}})),
            "instalments.fee_rates.3",
        ),
        (
            with("instalments", json!({"fee_rates": {"3": 0.02}})),
            "instalments.fee_rates.3",
        ),
        (with("instalments", json!("yes")), "instalments"),
        (with("surprise", json!(1)), "surprise"),
        (
            with("instalment_grace_days", json!(61)),
            "instalment_grace_days",
        ),
        (
            with("instalment_grace_days", json!(-1)),
            "instalment_grace_days",
        ),
        (
            with("instalment_grace_days", json!(2.5)),
            "instalment_grace_days",
        ),
        (
            with("instalment_grace_days", json!("3")),
            "instalment_grace_days",
        ),
        (
            with("daily_collection_cap", json!("0.00")),
            "daily_collection_cap",
        ),
        (
            with("daily_collection_cap", json!("100000000.00")),
            "daily_collection_cap",
        ),
        (
            with("daily_collection_cap", json!(100)),
            "daily_collection_cap",
        ),
        (
            with("large_payment_alert", json!("-1.00")),
            "large_payment_alert",
        ),
        (
            with("large_payment_alert", json!("5.001")),
            "large_payment_alert",
        ),
        (with("display_name", json!(" ")), "display_name"),
        (
            with("display_name", json!("茶".repeat(101))),
            "display_name",
        ),
        (with("display_name", json!("a\u{7}b")), "display_name"),
        (
            with("receipt_link", json!("http://tea.example.cn/")),
            "receipt_link",
        ),
        (
            with("receipt_link", json!("javascript:alert(1)")),
            "receipt_link",
        ),
        (
            with("receipt_link", json!("https://a.cn/\"><script>")),
            "receipt_link",
        ),
        (
            with(
                "receipt_link",
                json!(format!("https://a.cn/{}", "x".repeat(250))),
            ),
            "receipt_link",
        ),
        // "0.6" typed for 0.6% would keep 60% of every payment.
        (
            with("processing_rates", json!({"wechatpay": "0.6"})),
            "processing_rates.wechatpay",
        ),
        (
            with("processing_rates", json!({"wechatpay": 0.006})),
            "processing_rates.wechatpay",
        ),
        (
            with("processing_rates", json!({"alipay": "0.00601"})),
            "processing_rates.alipay",
        ),
        (
            with("processing_rates", json!({"douyin": "0.0060"})),
            "processing_rates.douyin",
        ),
        (
            with("processing_rates", json!({"sandbox": "0.0060"})),
            "processing_rates.sandbox",
        ),
        (
            with("processing_rates", json!({"paypal": "0.0060"})),
            "processing_rates.paypal",
        ),
        (
            with("processing_rates", json!(["wechatpay"])),
            "processing_rates",
        ),
    ];
    for (body, field) in cases {
        let a = send(&app, Event::fixture(SHOP).json_body(body.clone())).await;
        assert_eq!((a.status, a.code()), (400, "INVALID_REQUEST"), "{body}");
        assert_eq!(a.body["error"]["field"], field, "{body}");
    }
    let a = send(&app, Event::fixture(SHOP).path("/admin/shops/bad%20id")).await;
    assert_eq!(
        (a.status, &a.body["error"]["field"]),
        (400, &json!("shop_id"))
    );
    assert!(store
        .get_shop(&ShopId::parse("shop-1").unwrap())
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn devices_are_registered_to_existing_shops_and_secrets_never_echoed() {
    let (app, store) = app();
    let a = send(&app, Event::fixture(DEVICE)).await;
    assert_eq!((a.status, a.code()), (404, "SHOP_NOT_FOUND"));
    assert_eq!(send(&app, Event::fixture(SHOP)).await.status, 200);
    let a = send(&app, Event::fixture(DEVICE)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body,
        json!({"device_id": "pos-1", "shop_id": "shop-1", "updated_at": "2026-03-02T10:00:00.000+08:00"})
    );
    assert!(!a.body.to_string().contains("example-device-secret"));
    let device = store
        .get_device(&DeviceId::parse("pos-1").unwrap())
        .await
        .unwrap()
        .unwrap();
    // Stored sealed, bound to its device id: the plain secret is not in
    // the record, and the ciphertext opens for pos-1 only.
    assert!(!device
        .secret
        .ciphertext()
        .windows(14)
        .any(|w| w == b"example-device"));
    let pos_1 = DeviceId::parse("pos-1").unwrap();
    let opened = keyring().open(&pos_1, &device.secret).await.unwrap();
    assert_eq!(opened.expose(), "example-device-secret-not-real");
    let pos_2 = DeviceId::parse("pos-2").unwrap();
    assert_eq!(
        keyring().open(&pos_2, &device.secret).await,
        Err(KeyringError::Invalid)
    );
    assert!(
        !format!("{device:?}").contains("example-device-secret"),
        "Debug masks the secret"
    );

    let short = send(
        &app,
        Event::fixture(DEVICE).json_body(json!({"shop_id": "shop-1", "secret": "short"})),
    )
    .await;
    assert_eq!(
        (short.status, &short.body["error"]["field"]),
        (400, &json!("secret"))
    );
}

#[tokio::test]
async fn unknown_admin_routes_and_methods() {
    let (app, _) = app();
    let a = send(&app, Event::fixture(SHOP).path("/admin/things/x")).await;
    assert_eq!((a.status, a.code()), (404, "ROUTE_NOT_FOUND"));
    let a = send(&app, Event::fixture(SHOP).method("POST")).await;
    assert_eq!((a.status, a.code()), (405, "METHOD_NOT_ALLOWED"));
    assert_eq!(
        a.headers.get("allow").map(|v| v.as_bytes()),
        Some(&b"PUT"[..])
    );
}

/// `role: admin` alone is not an admin: the token must carry the
/// `qrpay:admin` scope (a merchant token from the same issuer could claim
/// any role). Checked in the handler as well as at the authorizer.
#[tokio::test]
async fn an_admin_role_without_the_admin_scope_is_refused_and_changes_nothing() {
    let (app, store) = app();
    let bare = json!({"sub": "platform-admin", "role": "admin", "exp": "4102444800"});
    let wrong = json!({"sub": "platform-admin", "role": "admin", "scope": "qrpay:merchant", "exp": "4102444800"});
    for claims in [bare, wrong] {
        let a = send(&app, Event::fixture(SHOP).raw_claims(claims.clone())).await;
        assert_eq!((a.status, a.code()), (403, "FORBIDDEN"), "{claims}");
    }
    assert!(store
        .get_shop(&ShopId::parse("shop-1").unwrap())
        .await
        .unwrap()
        .is_none());
    let scoped = json!({"sub": "platform-admin", "role": "admin", "scope": "openid qrpay:admin", "exp": "4102444800"});
    let a = send(&app, Event::fixture(SHOP).raw_claims(scoped)).await;
    assert_eq!(a.status, 200, "{}", a.body);
}

/// Issue 14: `payout_balance` is taken when the shop is created; a later
/// setup with one is refused and changes nothing, and a setup without one
/// (a rename) keeps the balance, credits that landed meanwhile included.
#[tokio::test]
async fn an_existing_shops_balance_is_never_set_by_a_setup() {
    let (app, store) = app();
    let shop_id = ShopId::parse("shop-1").unwrap();
    let world = qrpay_tests::World::with_shop(store.clone(), "shop-1", "15000.00", "100.00").await;
    // A payment credits the shop after its setup.
    let order = world
        .order_in("o-1", "30.00", qrpay_domain::OrderStatus::Created)
        .await;
    let payment = qrpay_tests::collection_contract::payment(&order, "n-1", "tx-1", "30.00");
    let applied = qrpay_tests::collection_contract::apply(store.as_ref(), &payment).await;
    assert!(
        matches!(applied, qrpay_domain::Decision::Apply(_)),
        "{applied:?}"
    );
    let credited = store
        .get_shop(&shop_id)
        .await
        .unwrap()
        .unwrap()
        .payout_balance;
    assert_eq!(credited.to_string(), "130.00");
    let overwrite = json!({"name": "Tea 2", "owner_operator_id": "o", "payout_balance": "0.00"});
    let a = send(&app, Event::fixture(SHOP).json_body(overwrite)).await;
    assert_eq!((a.status, a.code()), (409, "INVALID_STATE"), "{}", a.body);
    let kept = store.get_shop(&shop_id).await.unwrap().unwrap();
    assert_eq!(
        (kept.name.as_str(), kept.payout_balance),
        ("Shop shop-1", credited)
    );
    let rename = json!({"name": "Tea 2", "owner_operator_id": "o"});
    let a = send(&app, Event::fixture(SHOP).json_body(rename)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        (a.body["name"].as_str(), a.body["payout_balance"].as_str()),
        (Some("Tea 2"), Some("130.00"))
    );
    // A new shop without a balance starts at 0.00.
    let other = Event::fixture(SHOP)
        .path("/admin/shops/shop-2")
        .json_body(json!({"name": "Noodles", "owner_operator_id": "o2"}));
    let a = send(&app, other).await;
    assert_eq!(
        (a.status, a.body["payout_balance"].as_str()),
        (200, Some("0.00"))
    );
}

#[tokio::test]
async fn a_shops_controls_are_set_shown_and_lifted_by_the_next_setup() {
    let (app, store) = app();
    let body = json!({"name": "N", "owner_operator_id": "o",
        "daily_collection_cap": "8000.00", "large_payment_alert": "99999999.99"});
    let a = send(&app, Event::fixture(SHOP).json_body(body)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        (
            &a.body["daily_collection_cap"],
            &a.body["large_payment_alert"]
        ),
        (&json!("8000.00"), &json!("99999999.99"))
    );
    let plain = json!({"name": "N", "owner_operator_id": "o"});
    let a = send(&app, Event::fixture(SHOP).json_body(plain)).await;
    assert_eq!(
        (
            &a.body["daily_collection_cap"],
            &a.body["large_payment_alert"]
        ),
        (&json!(null), &json!(null))
    );
    let shop = store
        .get_shop(&ShopId::parse("shop-1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(shop.controls, Default::default());
}
