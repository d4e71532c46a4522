//! Key material the callback suites share.

use std::sync::OnceLock;

use qrpay_domain::Secret;
use qrpay_provider::kit;
use rsa::RsaPrivateKey;

/// Generated once per test binary: RSA key generation is slow.
pub struct Keys {
    pub wechat: RsaPrivateKey,
    pub alipay: RsaPrivateKey,
    pub intruder: RsaPrivateKey,
    pub api_v3: Secret,
}

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        wechat: kit::rsa_key(),
        alipay: kit::rsa_key(),
        intruder: kit::rsa_key(),
        api_v3: kit::random_secret(),
    })
}
