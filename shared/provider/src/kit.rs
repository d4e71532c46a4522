//! Matching verifier and signer pairs with freshly generated keys, for the
//! local stack and tests: each provider's side signs, ours verifies. Nothing
//! here is a real provider's key. Compiled with the `signers` feature only.

use qrpay_domain::Secret;
use rsa::RsaPrivateKey;

use crate::notice::{random_token, ConfigError};
use crate::{
    AlipaySigner, AlipayVerifier, DouyinSigner, DouyinVerifier, SandboxSigner, SandboxVerifier,
    WechatpaySigner, WechatpayVerifier,
};

/// RSA key size for generated keys (the providers' minimum).
pub const RSA_BITS: usize = 2048;

pub fn rsa_key() -> RsaPrivateKey {
    RsaPrivateKey::new(&mut aes_gcm::aead::OsRng, RSA_BITS).expect("RSA key generation")
}

/// 32 random alphanumeric bytes, the shape of a WeChat API v3 key.
pub fn random_secret() -> Secret {
    Secret::new(random_token(32))
}

pub fn wechatpay(
    mchid: &str,
    serial: &str,
    key: RsaPrivateKey,
    api_v3_key: Secret,
) -> Result<(WechatpayVerifier, WechatpaySigner), ConfigError> {
    let verifier = WechatpayVerifier::new(
        mchid,
        vec![(serial.to_owned(), key.to_public_key())],
        vec![api_v3_key.clone()],
    )?;
    Ok((
        verifier,
        WechatpaySigner::new(mchid, serial, key, api_v3_key)?,
    ))
}

pub fn alipay(
    app_id: &str,
    key: RsaPrivateKey,
) -> Result<(AlipayVerifier, AlipaySigner), ConfigError> {
    let verifier = AlipayVerifier::new(app_id, vec![key.to_public_key()])?;
    Ok((verifier, AlipaySigner::new(app_id, key)?))
}

pub fn douyin(app_id: &str, token: Secret) -> Result<(DouyinVerifier, DouyinSigner), ConfigError> {
    let verifier = DouyinVerifier::new(app_id, vec![token.clone()])?;
    Ok((verifier, DouyinSigner::new(app_id, token)?))
}

pub fn sandbox(secret: Secret) -> Result<(SandboxVerifier, SandboxSigner), ConfigError> {
    let verifier = SandboxVerifier::new(vec![secret.clone()])?;
    Ok((verifier, SandboxSigner::new(secret)?))
}
