//! Sensitive request fields (the payee's `user_name` of a transfer):
//! RSAES-OAEP with SHA-1 and MGF1-SHA-1, empty label, by the WeChat Pay
//! public key or the platform certificate's key, base64. The request must
//! then carry `Wechatpay-Serial` naming that same key.
//! https://pay.weixin.qq.com/docs/merchant/apis/mch-trans/transfer-bill/transfer-to-user.html
//! (as wechatpayv3 `utils.rsa_encrypt`: `OAEP(mgf=MGF1(SHA1()), algorithm=SHA1())`).

use aes_gcm::aead::OsRng;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rsa::traits::PublicKeyParts;
use rsa::{Oaep, RsaPublicKey};
use sha1::Sha1;

/// SHA-1's output length: OAEP leaves `key bytes - 2 * 20 - 2` for the message.
const SHA1_LEN: usize = 20;

/// Why a field could not be encrypted. Never carries the field itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SensitiveError {
    #[error("a sensitive field must not be empty")]
    Empty,
    #[error("a sensitive field may be at most {max_bytes} bytes for this key")]
    TooLong { max_bytes: usize },
    #[error("the platform key could not encrypt the field")]
    Encryption,
}

/// `plaintext` (UTF-8) encrypted for WeChat Pay with `platform_public_key`,
/// base64. Randomized: two calls give different ciphertexts.
pub fn encrypt_sensitive(
    plaintext: &str,
    platform_public_key: &RsaPublicKey,
) -> Result<String, SensitiveError> {
    if plaintext.is_empty() {
        return Err(SensitiveError::Empty);
    }
    let max_bytes = platform_public_key.size().saturating_sub(2 * SHA1_LEN + 2);
    if plaintext.len() > max_bytes {
        return Err(SensitiveError::TooLong { max_bytes });
    }
    platform_public_key
        .encrypt(&mut OsRng, Oaep::new::<Sha1>(), plaintext.as_bytes())
        .map(|ciphertext| STANDARD.encode(ciphertext))
        .map_err(|_| SensitiveError::Encryption)
}
