//! Device secrets sealed with KMS (issue 14): `Encrypt`/`Decrypt` of the
//! secret itself (at most 128 bytes, well under KMS's 4 KiB) under the
//! stage's device key, with the device id in the encryption context, so a
//! ciphertext copied onto another device's record does not decrypt. The key
//! policy (`template.yaml`, `DeviceSecretKey`) lets only `admin-api` encrypt
//! and only `qr-issue` decrypt.

use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use qrpay_domain::{DeviceId, SealedSecret, Secret};
use qrpay_store::keyring::{DeviceKeyring, KeyringError};

/// The encryption context key that binds a ciphertext to its device.
pub const DEVICE_CONTEXT_KEY: &str = "qrpay:device_id";

pub struct KmsKeyring {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl KmsKeyring {
    pub fn new(client: aws_sdk_kms::Client, key_id: impl Into<String>) -> KmsKeyring {
        KmsKeyring {
            client,
            key_id: key_id.into(),
        }
    }
}

#[async_trait]
impl DeviceKeyring for KmsKeyring {
    async fn seal(&self, device: &DeviceId, secret: &Secret) -> Result<SealedSecret, KeyringError> {
        let out = self
            .client
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(secret.expose().as_bytes()))
            .encryption_context(DEVICE_CONTEXT_KEY, device.as_str())
            .send()
            .await
            .map_err(|e| KeyringError::Unavailable(crate::error_text(&e)))?;
        let blob = out
            .ciphertext_blob()
            .ok_or_else(|| KeyringError::Unavailable("KMS returned no ciphertext".into()))?;
        Ok(SealedSecret::new(blob.as_ref().to_vec()))
    }

    async fn open(&self, device: &DeviceId, sealed: &SealedSecret) -> Result<Secret, KeyringError> {
        if sealed.is_legacy() {
            return Err(KeyringError::Legacy);
        }
        let out = self
            .client
            .decrypt()
            // Only this key: a ciphertext under any other key is refused.
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(sealed.ciphertext()))
            .encryption_context(DEVICE_CONTEXT_KEY, device.as_str())
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(service)
                    if service.is_invalid_ciphertext_exception()
                        || service.is_incorrect_key_exception() =>
                {
                    KeyringError::Invalid
                }
                _ => KeyringError::Unavailable(crate::error_text(&e)),
            })?;
        let plain = out.plaintext().ok_or(KeyringError::Invalid)?;
        String::from_utf8(plain.as_ref().to_vec())
            .map(Secret::new)
            .map_err(|_| KeyringError::Invalid)
    }
}
