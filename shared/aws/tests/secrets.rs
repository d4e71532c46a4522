//! The stage's secret in Secrets Manager (moto) and the device keyring in
//! KMS (moto), as the functions use them (issue 14).

use std::time::Duration;

use qrpay_aws::kms::KmsKeyring;
use qrpay_aws::secrets::SECRET_KEYS;
use qrpay_aws::{Reloadable, SecretSource};
use qrpay_domain::{DeviceId, Secret};
use qrpay_store::keyring::{DeviceKeyring, KeyringError};
use qrpay_tests::{kms_key, secrets_client, unique_name};

/// A secret value with every key (empty) and `values` set.
fn secret_json(values: &[(&str, &str)]) -> String {
    let mut object = serde_json::Map::new();
    for (key, _) in SECRET_KEYS {
        object.insert((*key).into(), "".into());
    }
    for (key, value) in values {
        object.insert((*key).into(), (*value).into());
    }
    serde_json::Value::Object(object).to_string()
}

/// A new secret in the emulator holding `text`; its name.
async fn create_secret(text: String) -> String {
    let name = unique_name("qrpay/test");
    secrets_client()
        .create_secret()
        .name(&name)
        .secret_string(text)
        .send()
        .await
        .expect("create the secret in the emulator");
    name
}

async fn rotate(name: &str, text: String) {
    secrets_client()
        .put_secret_value()
        .secret_id(name)
        .secret_string(text)
        .send()
        .await
        .expect("put a new secret version");
}

fn token_keys(source: &SecretSource) -> Result<Vec<String>, String> {
    Ok(source
        .secrets("QRPAY_QR_TOKEN_SECRET")
        .iter()
        .map(|s| s.expose().clone())
        .collect())
}

#[tokio::test]
async fn a_cold_start_reads_the_secret_and_a_rotation_is_picked_up_after_a_bad_signature() {
    let name = create_secret(secret_json(&[
        ("qr_token_secret", "token-key-1"),
        ("douyin_token", "douyin-1"),
    ]))
    .await;
    let interval = Duration::from_millis(1500);
    let source = SecretSource::remote(secrets_client(), name.clone(), interval)
        .await
        .expect("cold start");
    assert_eq!(
        source.get("QRPAY_QR_TOKEN_SECRET").as_deref(),
        Some("token-key-1")
    );
    assert_eq!(source.get("DOUYIN_TOKEN").as_deref(), Some("douyin-1"));
    // An empty key is unset; an absent `_previous` key too.
    assert_eq!(token_keys(&source).unwrap(), ["token-key-1"]);
    assert_eq!(source.get("DOUYIN_TOKEN_PREVIOUS"), None);
    let keys = Reloadable::from_source(source.clone(), token_keys).unwrap();

    rotate(
        &name,
        secret_json(&[
            ("qr_token_secret", "token-key-2"),
            ("qr_token_secret_previous", "token-key-1"),
        ]),
    )
    .await;
    // Within the interval since the cold start's read: no new read, however
    // many signatures fail.
    for _ in 0..5 {
        assert!(keys.after_signature_failure().await.is_none());
    }
    assert_eq!(*keys.current(), ["token-key-1"]);
    assert_eq!(source.generation(), 0);

    // Past it, one failure reads the new version and rebuilds the keys.
    tokio::time::sleep(interval).await;
    let reloaded = keys.after_signature_failure().await.expect("reloaded");
    assert_eq!(*reloaded, ["token-key-2", "token-key-1"]);
    assert_eq!(*keys.current(), ["token-key-2", "token-key-1"]);
    assert_eq!(source.generation(), 1);
    // And the next failure right after is rate-limited again.
    rotate(&name, secret_json(&[("qr_token_secret", "token-key-3")])).await;
    assert!(keys.after_signature_failure().await.is_none());
    assert_eq!(*keys.current(), ["token-key-2", "token-key-1"]);
}

#[tokio::test]
async fn a_refresh_that_finds_nothing_new_rebuilds_nothing() {
    let name = create_secret(secret_json(&[("qr_token_secret", "token-key-1")])).await;
    let interval = Duration::from_millis(200);
    let source = SecretSource::remote(secrets_client(), name, interval)
        .await
        .unwrap();
    let keys = Reloadable::from_source(source.clone(), token_keys).unwrap();
    tokio::time::sleep(interval).await;
    assert!(keys.after_signature_failure().await.is_none());
    assert_eq!(source.generation(), 0);
}

#[tokio::test]
async fn a_broken_rotation_keeps_the_keys_in_use() {
    let name = create_secret(secret_json(&[("qr_token_secret", "token-key-1")])).await;
    let interval = Duration::from_millis(200);
    let source = SecretSource::remote(secrets_client(), name.clone(), interval)
        .await
        .unwrap();
    let keys = Reloadable::from_source(source.clone(), token_keys).unwrap();
    rotate(&name, r#"{"qr_token_secret": "token-key-2"}"#.into()).await;
    tokio::time::sleep(interval).await;
    assert!(keys.after_signature_failure().await.is_none());
    assert_eq!(*keys.current(), ["token-key-1"]);
}

#[tokio::test]
async fn a_missing_key_stops_the_cold_start_naming_it_and_no_value() {
    let text = secret_json(&[("qr_token_secret", "very-secret-token-key")]);
    let mut object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&text).unwrap();
    object.remove("douyin_token");
    let name = create_secret(serde_json::Value::Object(object).to_string()).await;
    let err = match SecretSource::remote(secrets_client(), name.clone(), Duration::ZERO).await {
        Err(err) => err,
        Ok(_) => panic!("a secret without douyin_token was accepted"),
    };
    assert_eq!(
        err,
        format!("secret {name} lacks key(s) douyin_token (every key must exist; empty is allowed)")
    );
    assert!(!err.contains("very-secret-token-key"));
    // A secret that does not exist is a clear startup error too.
    let err =
        match SecretSource::remote(secrets_client(), "qrpay/nope".into(), Duration::ZERO).await {
            Err(err) => err,
            Ok(_) => panic!("a missing secret was read"),
        };
    assert!(err.starts_with("reading secret qrpay/nope: "), "{err}");
}

#[tokio::test]
async fn without_a_secret_id_settings_come_from_the_environment() {
    let source = SecretSource::environment();
    assert_eq!(source.get("QRPAY_TEST_UNSET_SETTING_1"), None);
    assert_eq!(source.get("PATH"), std::env::var("PATH").ok());
    assert!(!source.refresh().await);
}

#[tokio::test]
async fn kms_seals_a_device_secret_only_its_own_device_opens() {
    let (client, key) = kms_key().await;
    let keyring = KmsKeyring::new(client, key);
    let pos_1 = DeviceId::parse("pos-1").unwrap();
    let secret = Secret::new("pos-1-secret-0123456789".to_owned());
    let sealed = keyring.seal(&pos_1, &secret).await.unwrap();
    assert!(!sealed
        .ciphertext()
        .windows(12)
        .any(|w| w == b"pos-1-secret"));
    assert_eq!(keyring.open(&pos_1, &sealed).await.unwrap(), secret);
    // Copied onto another device's record: does not decrypt.
    let pos_2 = DeviceId::parse("pos-2").unwrap();
    assert_eq!(
        keyring.open(&pos_2, &sealed).await,
        Err(KeyringError::Invalid)
    );
    // Under another key: refused too (AWS answers IncorrectKeyException,
    // which is `Invalid`; moto answers AccessDenied, which is `Unavailable`).
    let (client, other) = kms_key().await;
    let other = KmsKeyring::new(client, other);
    assert!(other.open(&pos_1, &sealed).await.is_err());
}
