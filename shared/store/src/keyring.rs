//! Sealing POS device secrets (issue 14): the store keeps only ciphertext,
//! bound to its device id, under a key that only the functions owning
//! devices may use: `admin-api` seals on `PUT /admin/devices/{id}`,
//! `qr-issue` opens to check a device's HMAC. Every other function, the
//! table's backups and its exports see ciphertext that no other device id
//! opens.
//!
//! Adapters: KMS in AWS (`qrpay_aws::kms::KmsKeyring`, the device id in the
//! encryption context), and [`LocalKeyring`] (AES-256-GCM, the device id as
//! associated data) for the local stack and the tests. [`CachingKeyring`]
//! keeps opened secrets for a few minutes per cold start, so a busy POS is
//! not one KMS call a request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use async_trait::async_trait;
use qrpay_domain::{DeviceId, SealedSecret, Secret};

/// Why a device secret could not be sealed or opened. Never carries the
/// secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    /// The ciphertext does not open for this device id (tampered, or copied
    /// from another device's record).
    #[error("the sealed device secret does not open for this device")]
    Invalid,
    /// A record written before secrets were sealed: register the device
    /// again (`PUT /admin/devices/{id}`).
    #[error("the device record holds no sealed secret (written before device secrets were encrypted): register the device again")]
    Legacy,
    /// The key service failed or refused (a transient error, or a role
    /// without the permission).
    #[error("device keyring unavailable: {0}")]
    Unavailable(String),
}

/// Seals and opens device secrets, each bound to its device id.
#[async_trait]
pub trait DeviceKeyring: Send + Sync {
    async fn seal(&self, device: &DeviceId, secret: &Secret) -> Result<SealedSecret, KeyringError>;
    async fn open(&self, device: &DeviceId, sealed: &SealedSecret) -> Result<Secret, KeyringError>;
}

/// What binds a ciphertext to its device.
pub fn device_context(device: &DeviceId) -> String {
    format!("qrpay-device:{}", device.as_str())
}

const LOCAL_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

/// AES-256-GCM under a local key (the local stack, tests): version byte,
/// random nonce, ciphertext and tag; the device id is associated data.
pub struct LocalKeyring {
    cipher: Aes256Gcm,
}

impl LocalKeyring {
    pub fn new(key: &Secret<[u8; 32]>) -> LocalKeyring {
        LocalKeyring {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key.expose())),
        }
    }
}

#[async_trait]
impl DeviceKeyring for LocalKeyring {
    async fn seal(&self, device: &DeviceId, secret: &Secret) -> Result<SealedSecret, KeyringError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = device_context(device);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: secret.expose().as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| KeyringError::Unavailable("local seal failed".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(LOCAL_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(SealedSecret::new(out))
    }

    async fn open(&self, device: &DeviceId, sealed: &SealedSecret) -> Result<Secret, KeyringError> {
        if sealed.is_legacy() {
            return Err(KeyringError::Legacy);
        }
        let bytes = sealed.ciphertext();
        let (version, rest) = bytes.split_first().ok_or(KeyringError::Invalid)?;
        if *version != LOCAL_VERSION || rest.len() < NONCE_LEN {
            return Err(KeyringError::Invalid);
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let aad = device_context(device);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| KeyringError::Invalid)?;
        String::from_utf8(plain)
            .map(Secret::new)
            .map_err(|_| KeyringError::Invalid)
    }
}

/// How long an opened secret is kept, and how many at most.
pub const CACHE_TTL: Duration = Duration::from_secs(300);
pub const CACHE_MAX: usize = 1024;

/// A device and its ciphertext: what an opened secret is cached under.
type Sealed = (DeviceId, Vec<u8>);

/// Opened secrets kept for `CACHE_TTL` per cold start, keyed by device id
/// and ciphertext (a device registered again has a new ciphertext, so its
/// new secret is used at once). Sealing is not cached.
pub struct CachingKeyring<K> {
    inner: K,
    opened: Mutex<HashMap<Sealed, (Secret, Instant)>>,
}

impl<K> CachingKeyring<K> {
    pub fn new(inner: K) -> CachingKeyring<K> {
        CachingKeyring {
            inner,
            opened: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait]
impl<K: DeviceKeyring> DeviceKeyring for CachingKeyring<K> {
    async fn seal(&self, device: &DeviceId, secret: &Secret) -> Result<SealedSecret, KeyringError> {
        self.inner.seal(device, secret).await
    }

    async fn open(&self, device: &DeviceId, sealed: &SealedSecret) -> Result<Secret, KeyringError> {
        let key = (device.clone(), sealed.ciphertext().to_vec());
        {
            let opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((secret, at)) = opened.get(&key) {
                if at.elapsed() < CACHE_TTL {
                    return Ok(secret.clone());
                }
            }
        }
        let secret = self.inner.open(device, sealed).await?;
        let mut opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        if opened.len() >= CACHE_MAX {
            opened.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
            if opened.len() >= CACHE_MAX {
                opened.clear();
            }
        }
        opened.insert(key, (secret.clone(), Instant::now()));
        Ok(secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn keyring() -> LocalKeyring {
        LocalKeyring::new(&Secret::new([9u8; 32]))
    }

    fn id(s: &str) -> DeviceId {
        DeviceId::parse(s).unwrap()
    }

    #[tokio::test]
    async fn a_sealed_secret_opens_only_for_its_own_device() {
        let k = keyring();
        let secret = Secret::new("pos-secret-0123456789".to_owned());
        let sealed = k.seal(&id("pos-1"), &secret).await.unwrap();
        assert!(!sealed.ciphertext().windows(10).any(|w| w == b"pos-secret"));
        assert_eq!(k.open(&id("pos-1"), &sealed).await.unwrap(), secret);
        assert_eq!(
            k.open(&id("pos-2"), &sealed).await,
            Err(KeyringError::Invalid)
        );
        let other = LocalKeyring::new(&Secret::new([8u8; 32]));
        assert_eq!(
            other.open(&id("pos-1"), &sealed).await,
            Err(KeyringError::Invalid)
        );
        assert_eq!(
            k.open(&id("pos-1"), &SealedSecret::legacy()).await,
            Err(KeyringError::Legacy)
        );
        assert_eq!(
            k.open(&id("pos-1"), &SealedSecret::new(vec![1, 2])).await,
            Err(KeyringError::Invalid)
        );
    }

    struct Counting(LocalKeyring, AtomicUsize);

    #[async_trait]
    impl DeviceKeyring for Counting {
        async fn seal(&self, d: &DeviceId, s: &Secret) -> Result<SealedSecret, KeyringError> {
            self.0.seal(d, s).await
        }
        async fn open(&self, d: &DeviceId, s: &SealedSecret) -> Result<Secret, KeyringError> {
            self.1.fetch_add(1, Ordering::SeqCst);
            self.0.open(d, s).await
        }
    }

    #[tokio::test]
    async fn opened_secrets_are_cached_per_ciphertext() {
        let k = CachingKeyring::new(Counting(keyring(), AtomicUsize::new(0)));
        let first = k
            .seal(&id("pos-1"), &Secret::new("a".repeat(16)))
            .await
            .unwrap();
        for _ in 0..3 {
            k.open(&id("pos-1"), &first).await.unwrap();
        }
        assert_eq!(k.inner.1.load(Ordering::SeqCst), 1);
        // Registered again: a new ciphertext, opened (and so used) at once.
        let second = k
            .seal(&id("pos-1"), &Secret::new("b".repeat(16)))
            .await
            .unwrap();
        assert_eq!(
            k.open(&id("pos-1"), &second).await.unwrap().expose(),
            &"b".repeat(16)
        );
        assert_eq!(k.inner.1.load(Ordering::SeqCst), 2);
        // A failure is not cached as a success for another device.
        assert_eq!(
            k.open(&id("pos-2"), &first).await,
            Err(KeyringError::Invalid)
        );
    }
}
