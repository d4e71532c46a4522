//! qr-issue's secrets (issue 14).
//!
//! - POS device secrets are stored sealed: the table holds only ciphertext
//!   bound to the device id, and qr-issue opens it to check a device's HMAC
//!   — with KMS (moto) on DynamoDB (moto) as in AWS, and with the local
//!   keyring on the memory store as in the local stack.
//! - The payment-token key comes from the stage's secret (Secrets Manager,
//!   moto): a link signed with a rotated key opens without a restart.

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use qr_issue::device::{sign, Signed};
use qr_issue::{handle, App, MemoryPublisher};
use qrpay_aws::kms::KmsKeyring;
use qrpay_aws::secrets::SECRET_KEYS;
use qrpay_aws::{Reloadable, SecretSource};
use qrpay_domain::{Device, DeviceId, Secret, TestClock};
use qrpay_store::alerts::MemoryAlerts;
use qrpay_store::keyring::{DeviceKeyring, LocalKeyring};
use qrpay_store::{ShopStore, Store};
use qrpay_tests::events::{Answer, Event};
use qrpay_tests::world::morning;
use qrpay_tests::World;
use serde_json::json;

const POS: &str = "qr-issue/pos-create-qr.json";
const POS_SECRET: &str = "pos-1-secret-0123456789";

fn app(store: Arc<dyn Store>, keys: Arc<dyn DeviceKeyring>) -> App {
    with_token_keys(
        store,
        keys,
        vec![Secret::new("token-secret-current".into())].into(),
    )
}

fn with_token_keys(
    store: Arc<dyn Store>,
    keys: Arc<dyn DeviceKeyring>,
    token_secrets: Reloadable<Vec<Secret>>,
) -> App {
    App {
        shops: store.clone(),
        collection: store.clone(),
        payouts: store.clone(),
        leases: store,
        clock: Arc::new(TestClock::at(morning())),
        token_secrets,
        pay_base_url: "https://pay.qrpay.example".into(),
        publisher: Arc::new(MemoryPublisher::new()),
        device_keys: keys,
        alerts: Arc::new(MemoryAlerts::new()),
        checkout_limits: qrpay_domain::checkout::CheckoutLimits::DEFAULT,
        gateways: qrpay_provider::gateway::Gateways::default(),
        buyer: qr_issue::page::BuyerSettings::default(),
    }
}

/// Registers `device` of shop-1 with its secret sealed by `keys`.
async fn register(store: &dyn Store, keys: &dyn DeviceKeyring, device: &str) -> Device {
    let device_id = DeviceId::parse(device).unwrap();
    let sealed = keys
        .seal(&device_id, &Secret::new(POS_SECRET.into()))
        .await
        .unwrap();
    let device = Device {
        device_id,
        shop_id: qrpay_domain::ShopId::parse("shop-1").unwrap(),
        secret: sealed,
        updated_at: morning(),
    };
    store.put_device(&device).await.unwrap();
    device
}

/// A POS request from `device`, signed with `POS_SECRET`.
async fn pos(app: &App, device: &str, nonce: &str) -> Answer {
    let text = json!({"kind": "dynamic", "amount": "12.00", "out_order_no": nonce}).to_string();
    let path = format!("/devices/{device}/qr-codes");
    let timestamp = app.clock.now().timestamp();
    let head = Signed {
        method: "POST",
        path: &path,
        query: "",
        timestamp,
        nonce,
    };
    let signature = sign(POS_SECRET.as_bytes(), head, text.as_bytes());
    let event = Event::fixture(POS)
        .path(&path)
        .body(&text)
        .header("x-qrpay-device", device)
        .header("x-qrpay-timestamp", &timestamp.to_string())
        .header("x-qrpay-nonce", nonce)
        .header("x-qrpay-signature", &signature);
    Answer::from(handle(app, event.request()).await)
}

/// The sealed secret verifies pos-1's signature; the same ciphertext put on
/// pos-2's record does not (bound to pos-1), and neither does a plain-text
/// record written before secrets were sealed.
async fn sealed_secrets_verify_only_their_own_device(
    store: Arc<dyn Store>,
    keys: Arc<dyn DeviceKeyring>,
) {
    World::new(store.clone(), "15000.00", "0.00").await;
    let pos_1 = register(store.as_ref(), keys.as_ref(), "pos-1").await;
    let app = app(store.clone(), keys);
    let ok = pos(&app, "pos-1", "nonce-sealed-01").await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    assert_eq!(ok.body["device_id"], "pos-1");

    let copied = Device {
        device_id: DeviceId::parse("pos-2").unwrap(),
        ..pos_1
    };
    store.put_device(&copied).await.unwrap();
    let moved = pos(&app, "pos-2", "nonce-copied-01").await;
    assert_eq!((moved.status, moved.code()), (401, "UNAUTHENTICATED"));
    assert_eq!(
        moved.body["error"]["message"],
        "device request refused: the signature does not verify for this device"
    );
}

#[tokio::test]
async fn local_keyring_on_the_memory_store() {
    let keys = Arc::new(LocalKeyring::new(&Secret::new([4u8; 32])));
    sealed_secrets_verify_only_their_own_device(qrpay_tests::memory_port().await, keys).await;
}

#[tokio::test]
async fn kms_on_dynamodb_and_the_item_holds_no_plain_secret() {
    let (client, key) = qrpay_tests::kms_key().await;
    let keys = Arc::new(KmsKeyring::new(client, key));
    let store = qrpay_tests::dynamo_store().await;
    sealed_secrets_verify_only_their_own_device(store.clone(), keys.clone()).await;

    // The raw item, as a backup or any other role would read it.
    register(store.as_ref(), keys.as_ref(), "pos-3").await;
    let item = qrpay_tests::dynamo_client(qrpay_tests::emulator::endpoint())
        .get_item()
        .table_name(store.table_name())
        .key("PK", AttributeValue::S("DEVICE#pos-3".into()))
        .key("SK", AttributeValue::S("DEVICE".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the device item");
    assert!(!item.contains_key("secret"), "no plain-text attribute");
    let sealed = item["secret_sealed"].as_b().expect("binary ciphertext");
    assert!(!sealed.as_ref().windows(12).any(|w| w == b"pos-1-secret"));
    for (name, value) in &item {
        assert!(
            !format!("{value:?}").contains("secret-0123456789"),
            "{name} shows the secret"
        );
    }
    let read = store
        .get_device(&DeviceId::parse("pos-3").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.secret.ciphertext(), sealed.as_ref());
}

#[tokio::test]
async fn a_record_from_before_sealing_is_refused_until_registered_again() {
    let store = qrpay_tests::dynamo_store().await;
    World::new(store.clone(), "15000.00", "0.00").await;
    // The old shape: the secret in plain text, no ciphertext.
    qrpay_tests::dynamo_client(qrpay_tests::emulator::endpoint())
        .put_item()
        .table_name(store.table_name())
        .item("PK", AttributeValue::S("DEVICE#pos-1".into()))
        .item("SK", AttributeValue::S("DEVICE".into()))
        .item("entity", AttributeValue::S("device".into()))
        .item("device_id", AttributeValue::S("pos-1".into()))
        .item("shop_id", AttributeValue::S("shop-1".into()))
        .item("secret", AttributeValue::S(POS_SECRET.into()))
        .item("updated_at_ms", AttributeValue::N("1780000000000".into()))
        .send()
        .await
        .unwrap();
    let keys: Arc<dyn DeviceKeyring> = Arc::new(LocalKeyring::new(&Secret::new([4u8; 32])));
    let app = app(store.clone(), keys.clone());
    let refused = pos(&app, "pos-1", "nonce-legacy-01").await;
    assert_eq!((refused.status, refused.code()), (401, "UNAUTHENTICATED"));
    register(store.as_ref(), keys.as_ref(), "pos-1").await;
    let ok = pos(&app, "pos-1", "nonce-legacy-02").await;
    assert_eq!(ok.status, 201, "{}", ok.body);
}

/// The buyer opens a payment link (`GET /pay/{token}`).
async fn open_link(app: &App, path: &str) -> Answer {
    let event = Event::fixture("qr-issue/pay-checkout.json")
        .path(path)
        .method("GET")
        .no_body();
    Answer::from(handle(app, event.request()).await)
}

/// The stage's secret with every key (empty) and the payment-token key.
fn stage_secret(token_key: &str) -> String {
    let mut object = serde_json::Map::new();
    for (key, _) in SECRET_KEYS {
        object.insert((*key).into(), "".into());
    }
    object.insert("qr_token_secret".into(), token_key.into());
    serde_json::Value::Object(object).to_string()
}

fn token_keys(source: &SecretSource) -> Result<Vec<Secret>, String> {
    Ok(source.secrets("QRPAY_QR_TOKEN_SECRET"))
}

/// A code issued by an instance that already has the rotated key opens on
/// one started before the rotation: its bad signature makes it read the
/// secret again (once: the refresh is rate-limited).
#[tokio::test]
async fn a_link_signed_with_a_rotated_key_opens_without_a_restart() {
    let store = qrpay_tests::memory_port().await;
    World::new(store.clone(), "15000.00", "0.00").await;
    let keys: Arc<dyn DeviceKeyring> = Arc::new(LocalKeyring::new(&Secret::new([4u8; 32])));
    let secrets = qrpay_tests::secrets_client();
    let name = qrpay_tests::unique_name("qrpay/test");
    secrets
        .create_secret()
        .name(&name)
        .secret_string(stage_secret("token-key-1"))
        .send()
        .await
        .unwrap();
    let interval = std::time::Duration::from_millis(300);
    let source = SecretSource::remote(secrets.clone(), name.clone(), interval)
        .await
        .unwrap();
    let before = with_token_keys(
        store.clone(),
        keys.clone(),
        Reloadable::from_source(source, token_keys).unwrap(),
    );
    secrets
        .put_secret_value()
        .secret_id(&name)
        .secret_string(stage_secret("token-key-2"))
        .send()
        .await
        .unwrap();
    let after = with_token_keys(store, keys, vec![Secret::new("token-key-2".into())].into());
    let issued = Answer::from(
        handle(
            &after,
            Event::fixture("qr-issue/create-dynamic-qr.json")
                .json_body(json!({"kind": "dynamic", "amount": "10.00", "out_order_no": "ROT-1"}))
                .request(),
        )
        .await,
    );
    assert_eq!(issued.status, 201, "{}", issued.body);
    let url = issued.body["url"].as_str().unwrap();
    let path = url.strip_prefix("https://pay.qrpay.example").unwrap();
    // Inside the interval since the cold start: not re-read yet.
    assert_eq!(open_link(&before, path).await.status, 404);
    tokio::time::sleep(interval).await;
    let opened = open_link(&before, path).await;
    assert_eq!(opened.status, 200, "{}", opened.body);
    assert_eq!(
        before
            .token_secrets
            .current()
            .iter()
            .map(|s| s.expose().as_str())
            .collect::<Vec<_>>(),
        ["token-key-2"]
    );
}
