//! The stage's secrets, read from Secrets Manager at cold start (issue 14).
//!
//! In AWS each function that needs secrets names the stage's secret in
//! `QRPAY_SECRET_ID` (`qrpay/{Stage}`, set by `template.yaml`; nothing
//! defaults to another stage's secret) and may read only that secret. Its
//! SecretString is a JSON object whose keys (`SECRET_KEYS`) fill the
//! settings the code reads by name (`qr_token_secret` is
//! `QRPAY_QR_TOKEN_SECRET`, `{key}_previous` is `{NAME}_PREVIOUS`), so
//! nothing secret sits in the function's configuration. Settings that are
//! not secret (`TABLE_NAME`, base URLs) still come from the environment.
//! Without `QRPAY_SECRET_ID` (tests, the local stack) every setting comes
//! from the environment, as before.
//!
//! A rotation needs no deploy: when a signature check fails (a provider's
//! notice, a payment or receipt token), the caller asks for a `refresh`,
//! which reads the secret again at most once per `REFRESH_INTERVAL` (a
//! stream of forged signatures cannot turn into a stream of Secrets
//! Manager calls), and what was built from it (`Reloadable`) is rebuilt.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use qrpay_domain::Secret;

/// The setting that names the stage's secret.
pub const SECRET_ID_ENV: &str = "QRPAY_SECRET_ID";

/// At most one re-read of the secret per this interval.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// Every key of the stage's secret (each must exist; empty is allowed) and
/// the setting it fills. A `{key}_previous` key, where present, fills
/// `{setting}_PREVIOUS` during a rotation.
pub const SECRET_KEYS: &[(&str, &str)] = &[
    ("qr_token_secret", "QRPAY_QR_TOKEN_SECRET"),
    ("qr_token_secret_previous", "QRPAY_QR_TOKEN_SECRET_PREVIOUS"),
    ("wechatpay_mchid", "WECHATPAY_MCHID"),
    ("wechatpay_appid", "WECHATPAY_APPID"),
    ("wechatpay_mch_serial", "WECHATPAY_MCH_SERIAL"),
    ("wechatpay_mch_private_key", "WECHATPAY_MCH_PRIVATE_KEY"),
    ("wechatpay_platform_serial", "WECHATPAY_PLATFORM_SERIAL"),
    (
        "wechatpay_platform_public_key",
        "WECHATPAY_PLATFORM_PUBLIC_KEY",
    ),
    ("wechatpay_api_v3_key", "WECHATPAY_API_V3_KEY"),
    ("wechatpay_transfer_scene_id", "WECHATPAY_TRANSFER_SCENE_ID"),
    ("wechatpay_app_secret", "WECHATPAY_APP_SECRET"),
    ("alipay_app_id", "ALIPAY_APP_ID"),
    ("alipay_app_private_key", "ALIPAY_APP_PRIVATE_KEY"),
    ("alipay_public_key", "ALIPAY_PUBLIC_KEY"),
    ("alipay_app_cert", "ALIPAY_APP_CERT"),
    ("alipay_public_cert", "ALIPAY_PUBLIC_CERT"),
    ("alipay_root_cert", "ALIPAY_ROOT_CERT"),
    ("douyin_app_id", "DOUYIN_APP_ID"),
    ("douyin_salt", "DOUYIN_SALT"),
    ("douyin_token", "DOUYIN_TOKEN"),
];

/// The secret's key for setting `name`, if `name` is a secret setting.
fn key_of(name: &str) -> Option<String> {
    if let Some((key, _)) = SECRET_KEYS.iter().find(|(_, n)| *n == name) {
        return Some((*key).to_owned());
    }
    let base = name.strip_suffix("_PREVIOUS")?;
    let (key, _) = SECRET_KEYS.iter().find(|(_, n)| *n == base)?;
    Some(format!("{key}_previous"))
}

/// The settings of one version of the secret, by the secret's key. Never
/// printed: `Debug` shows the keys only.
#[derive(Default, Clone, PartialEq, Eq)]
struct Values(HashMap<String, String>);

impl std::fmt::Debug for Values {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut keys: Vec<&String> = self.0.keys().collect();
        keys.sort();
        f.debug_struct("Values").field("keys", &keys).finish()
    }
}

/// Reads one version's SecretString: a JSON object holding every key of
/// `SECRET_KEYS`, each a string. Errors name the secret and the keys, never
/// a value.
fn parse(secret_id: &str, text: &str) -> Result<Values, String> {
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)
        .map_err(|_| format!("secret {secret_id} is not a JSON object"))?;
    let mut values = HashMap::new();
    let mut missing = Vec::new();
    for (key, value) in &object {
        match value {
            serde_json::Value::String(s) => {
                values.insert(key.clone(), s.clone());
            }
            _ => return Err(format!("secret {secret_id}: key {key} is not a string")),
        }
    }
    for (key, _) in SECRET_KEYS {
        if !values.contains_key(*key) {
            missing.push(*key);
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "secret {secret_id} lacks key(s) {} (every key must exist; empty is allowed)",
            missing.join(", ")
        ));
    }
    Ok(Values(values))
}

struct Remote {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    interval: Duration,
    /// When the secret was last read; held while reading, so concurrent
    /// failures wait for one read instead of each making their own.
    last_read: tokio::sync::Mutex<Instant>,
}

impl Remote {
    async fn read(&self) -> Result<Values, String> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "reading secret {}: {}",
                    self.secret_id,
                    crate::error_text(&e)
                )
            })?;
        let text = out
            .secret_string()
            .ok_or_else(|| format!("secret {} has no SecretString", self.secret_id))?;
        parse(&self.secret_id, text)
    }
}

/// Where a function's settings come from: the stage's secret (in AWS) or
/// the environment (tests, the local stack).
pub struct SecretSource {
    remote: Option<Remote>,
    values: RwLock<Arc<Values>>,
    /// Bumped each time a re-read brings different values.
    generation: AtomicU64,
}

impl SecretSource {
    /// Every setting from the process environment.
    pub fn environment() -> Arc<SecretSource> {
        Arc::new(SecretSource {
            remote: None,
            values: RwLock::new(Arc::new(Values::default())),
            generation: AtomicU64::new(0),
        })
    }

    /// The secret named by `QRPAY_SECRET_ID`, read now (cold start), or the
    /// environment when it is unset. A secret that cannot be read or lacks a
    /// key stops the cold start with a message naming it.
    pub async fn from_env(config: &SdkConfig) -> Result<Arc<SecretSource>, String> {
        match std::env::var(SECRET_ID_ENV) {
            Ok(id) if !id.is_empty() => {
                let client = aws_sdk_secretsmanager::Client::new(config);
                SecretSource::remote(client, id, REFRESH_INTERVAL).await
            }
            _ => Ok(SecretSource::environment()),
        }
    }

    /// `secret_id` read through `client` now, re-read at most once per
    /// `interval` after that.
    pub async fn remote(
        client: aws_sdk_secretsmanager::Client,
        secret_id: String,
        interval: Duration,
    ) -> Result<Arc<SecretSource>, String> {
        let remote = Remote {
            client,
            secret_id,
            interval,
            last_read: tokio::sync::Mutex::new(Instant::now()),
        };
        let values = remote.read().await?;
        Ok(Arc::new(SecretSource {
            remote: Some(remote),
            values: RwLock::new(Arc::new(values)),
            generation: AtomicU64::new(0),
        }))
    }

    /// Whether the settings come from the stage's secret (and a refresh
    /// can bring new ones).
    pub fn reads_a_secret(&self) -> bool {
        self.remote.is_some()
    }

    fn values(&self) -> Arc<Values> {
        self.values
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// One setting: from the secret if it is a secret setting and a secret
    /// is in use, otherwise from the environment.
    pub fn get(&self, name: &str) -> Option<String> {
        if self.remote.is_some() {
            if let Some(key) = key_of(name) {
                return self.values().0.get(&key).cloned();
            }
        }
        std::env::var(name).ok()
    }

    /// `{name}` and `{name}_PREVIOUS` as secrets, current first; empty
    /// counts as unset.
    pub fn secrets(&self, name: &str) -> Vec<Secret> {
        crate::current_and_previous(&|n| self.get(n), name)
            .into_iter()
            .map(Secret::new)
            .collect()
    }

    /// Which version of the values is in use (starts at 0, bumped on each
    /// change a refresh brings).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// After a signature failure: reads the secret again unless it was read
    /// less than the interval ago. True when new values were loaded. A read
    /// that fails keeps the values in use (logged, without any value).
    pub async fn refresh(&self) -> bool {
        let Some(remote) = &self.remote else {
            return false;
        };
        let mut last_read = remote.last_read.lock().await;
        if last_read.elapsed() < remote.interval {
            return false;
        }
        *last_read = Instant::now();
        match remote.read().await {
            Ok(values) if *self.values() == values => false,
            Ok(values) => {
                *self
                    .values
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(values);
                self.generation.fetch_add(1, Ordering::AcqRel);
                tracing::info!(secret = %remote.secret_id, "secret changed: reloaded");
                true
            }
            Err(error) => {
                tracing::warn!(%error, "secret refresh failed; keeping the values in use");
                false
            }
        }
    }
}

type Build<T> = Box<dyn Fn(&SecretSource) -> Result<T, String> + Send + Sync>;

/// Something built from the secrets (verifiers, token keys), rebuilt after a
/// signature failure when the secret has changed.
pub struct Reloadable<T> {
    current: RwLock<Arc<T>>,
    source: Option<(Arc<SecretSource>, Build<T>)>,
    built_from: AtomicU64,
}

impl<T> Reloadable<T> {
    /// A value that never changes (tests, the local stack).
    pub fn fixed(value: T) -> Reloadable<T> {
        Reloadable {
            current: RwLock::new(Arc::new(value)),
            source: None,
            built_from: AtomicU64::new(0),
        }
    }

    /// Built by `build` from `source` now, and again after a refresh that
    /// changed the secret.
    pub fn from_source(
        source: Arc<SecretSource>,
        build: impl Fn(&SecretSource) -> Result<T, String> + Send + Sync + 'static,
    ) -> Result<Reloadable<T>, String> {
        let generation = source.generation();
        let value = build(&source)?;
        Ok(Reloadable {
            current: RwLock::new(Arc::new(value)),
            source: Some((source, Box::new(build))),
            built_from: AtomicU64::new(generation),
        })
    }

    /// The value in use.
    pub fn current(&self) -> Arc<T> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// After a signature failure: refreshes the secret (rate-limited) and,
    /// if it changed since this value was built, rebuilds it. The new value
    /// when there is one to retry with; `None` when nothing changed (or the
    /// new secret does not build: the old value stays, and it is logged).
    pub async fn after_signature_failure(&self) -> Option<Arc<T>> {
        let (source, build) = self.source.as_ref()?;
        source.refresh().await;
        let generation = source.generation();
        if self.built_from.swap(generation, Ordering::AcqRel) == generation {
            return None;
        }
        match build(source) {
            Ok(value) => {
                let value = Arc::new(value);
                *self
                    .current
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = value.clone();
                Some(value)
            }
            Err(error) => {
                tracing::error!(%error, "the reloaded secret does not build; keeping the old one");
                None
            }
        }
    }
}

impl<T> From<T> for Reloadable<T> {
    fn from(value: T) -> Reloadable<T> {
        Reloadable::fixed(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(extra: &[(&str, &str)]) -> String {
        let mut object = serde_json::Map::new();
        for (key, _) in SECRET_KEYS {
            object.insert((*key).into(), "".into());
        }
        for (key, value) in extra {
            object.insert((*key).into(), (*value).into());
        }
        serde_json::Value::Object(object).to_string()
    }

    #[test]
    fn settings_map_to_keys_and_previous_keys() {
        assert_eq!(
            key_of("QRPAY_QR_TOKEN_SECRET").as_deref(),
            Some("qr_token_secret")
        );
        assert_eq!(
            key_of("DOUYIN_TOKEN_PREVIOUS").as_deref(),
            Some("douyin_token_previous")
        );
        assert_eq!(key_of("TABLE_NAME"), None);
        assert_eq!(key_of("TABLE_NAME_PREVIOUS"), None);
    }

    #[test]
    fn a_missing_key_is_named_and_no_value_is_shown() {
        let text = full(&[("douyin_token", "very-secret-token")])
            .replace("\"wechatpay_app_secret\":\"\",", "");
        let err = parse("qrpay/prod", &text).unwrap_err();
        assert_eq!(
            err,
            "secret qrpay/prod lacks key(s) wechatpay_app_secret (every key must exist; empty is allowed)"
        );
        let values = parse(
            "qrpay/prod",
            &full(&[("douyin_token", "very-secret-token")]),
        )
        .unwrap();
        assert!(!format!("{values:?}").contains("very-secret-token"));
        let err = parse("qrpay/prod", "{\"douyin_token\": 5}").unwrap_err();
        assert_eq!(err, "secret qrpay/prod: key douyin_token is not a string");
        let err = parse("qrpay/prod", "very-secret-token").unwrap_err();
        assert_eq!(err, "secret qrpay/prod is not a JSON object");
    }
}
