//! The simulated providers' key material, made at startup and never
//! written anywhere: our WeChat Pay merchant key, WeChat Pay's platform key
//! (public-key mode, `PUB_KEY_ID_…`), the API v3 key; our Alipay app key,
//! Alipay's key, and for certificate mode an app certificate, an Alipay
//! public-key certificate and a root certificate issued by Alipay's key;
//! Douyin's salt and token.
//!
//! RSA key generation is the slow part (four 2048-bit keys), so it happens
//! once per process, the four keys in parallel; every stack in the process
//! shares them. `environment` hands them to our side the way API.md
//! "Provider configuration" names them.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use qrpay_domain::Secret;
use qrpay_provider::kit::{random_secret, rsa_key};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::der::EncodePem;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::Validity;

/// The ids of the simulated accounts (not secrets; WeChat's and Alipay's
/// documentation examples where they have one).
pub const WECHATPAY_MCHID: &str = "1900000109";
pub const WECHATPAY_APPID: &str = "wx8888888888888888";
/// A scene granted to the simulated merchant (现金营销).
pub const WECHATPAY_TRANSFER_SCENE_ID: &str = "1000";
pub const ALIPAY_APP_ID: &str = "2021000000000001";
pub const DOUYIN_APP_ID: &str = "tt0a1b2c3d4e5f6a7b";
/// The simulated ecpay merchant (`seller` of the bills).
pub const DOUYIN_MERCHANT_ID: &str = "70012345";

/// How long the certificates are valid.
const CERT_VALIDITY: Duration = Duration::from_secs(10 * 366 * 24 * 3600);
const ROOT_DN: &str = "CN=Simulated Alipay Root CA,OU=Certification Authority,O=Ant Financial,C=CN";
const ALIPAY_DN: &str =
    "CN=Simulated Alipay Public Key,OU=Alipay Open Platform,O=Ant Financial,C=CN";
const APP_DN: &str = "CN=2021000000000001,OU=Alipay Open Platform,O=qrpay local,C=CN";

/// Everything both sides need, generated once per process.
pub struct Material {
    pub wechatpay_mch_key: RsaPrivateKey,
    /// Our merchant API certificate's serial (upper-case hex).
    pub wechatpay_mch_serial: String,
    pub wechatpay_platform_key: RsaPrivateKey,
    /// `PUB_KEY_ID_…`: WeChat Pay public-key mode.
    pub wechatpay_platform_serial: String,
    pub wechatpay_api_v3_key: Secret,
    pub alipay_app_key: RsaPrivateKey,
    pub alipay_key: RsaPrivateKey,
    pub alipay_app_cert: String,
    pub alipay_public_cert: String,
    pub alipay_root_cert: String,
    /// `cert_sn` of the app and Alipay certificates, `root_cert_sn` of the root.
    pub alipay_app_cert_sn: String,
    pub alipay_cert_sn: String,
    pub alipay_root_cert_sn: String,
    pub douyin_salt: Secret,
    pub douyin_token: Secret,
    /// How long making all of this took (reported once at startup).
    pub generated_in: Duration,
}

impl fmt::Debug for Material {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Material")
            .field("wechatpay_mch_serial", &self.wechatpay_mch_serial)
            .field("wechatpay_platform_serial", &self.wechatpay_platform_serial)
            .field("alipay_app_cert_sn", &self.alipay_app_cert_sn)
            .field("alipay_cert_sn", &self.alipay_cert_sn)
            .field("alipay_root_cert_sn", &self.alipay_root_cert_sn)
            .field("keys", &"***")
            .finish()
    }
}

/// The process's key material (made on first use).
pub fn material() -> Result<&'static Material, String> {
    static MATERIAL: OnceLock<Result<Material, String>> = OnceLock::new();
    MATERIAL
        .get_or_init(generate)
        .as_ref()
        .map_err(Clone::clone)
}

fn generate() -> Result<Material, String> {
    let started = Instant::now();
    // Four 2048-bit keys, each on its own thread: key generation dominates.
    let [wechatpay_mch_key, wechatpay_platform_key, alipay_app_key, alipay_key] =
        std::thread::scope(|s| {
            let handles = [(); 4].map(|_| s.spawn(rsa_key));
            handles.map(|h| h.join().map_err(|_| "RSA key generation failed".to_owned()))
        });
    let (alipay_app_key, alipay_key) = (alipay_app_key?, alipay_key?);
    let certs = Certificates::issue(&alipay_app_key.to_public_key(), &alipay_key)?;
    let sn = |what: &str, r: Result<String, _>| r.map_err(|e| format!("{what}: {e}"));
    Ok(Material {
        wechatpay_mch_key: wechatpay_mch_key?,
        wechatpay_mch_serial: upper_hex_serial(),
        wechatpay_platform_key: wechatpay_platform_key?,
        wechatpay_platform_serial: public_key_id(),
        wechatpay_api_v3_key: random_secret(),
        alipay_app_cert_sn: sn("app cert", qrpay_provider::alipay::cert_sn(&certs.app))?,
        alipay_cert_sn: sn(
            "alipay cert",
            qrpay_provider::alipay::cert_sn(&certs.alipay),
        )?,
        alipay_root_cert_sn: sn(
            "root cert",
            qrpay_provider::alipay::root_cert_sn(&certs.root),
        )?,
        alipay_app_cert: certs.app,
        alipay_public_cert: certs.alipay,
        alipay_root_cert: certs.root,
        alipay_app_key,
        alipay_key,
        douyin_salt: random_secret(),
        douyin_token: random_secret(),
        generated_in: started.elapsed(),
    })
}

/// A merchant API certificate serial: 40 upper-case hex digits.
fn upper_hex_serial() -> String {
    let digits = qrpay_provider::wechatpay::nonce() + &qrpay_provider::wechatpay::nonce();
    digits
        .bytes()
        .take(40)
        .map(|b| char::from(b"0123456789ABCDEF"[usize::from(b) % 16]))
        .collect()
}

/// `PUB_KEY_ID_` + 28 digits, the shape of WeChat Pay's example
/// (https://pay.weixin.qq.com/doc/brand/4015433973).
fn public_key_id() -> String {
    let digits: String = qrpay_provider::wechatpay::nonce()
        .bytes()
        .take(28)
        .map(|b| char::from(b'0' + b % 10))
        .collect();
    format!(
        "{}{digits}",
        qrpay_provider::wechatpay::PUBLIC_KEY_ID_PREFIX
    )
}

/// The PEM certificates of certificate mode: a self-signed root (Alipay's
/// key), Alipay's public-key certificate and our app certificate, both
/// issued by the root.
struct Certificates {
    root: String,
    alipay: String,
    app: String,
}

impl Certificates {
    fn issue(app_key: &RsaPublicKey, alipay_key: &RsaPrivateKey) -> Result<Self, String> {
        let ca = SigningKey::<Sha256>::new(alipay_key.clone());
        let root_name = name(ROOT_DN)?;
        let leaf = Profile::Leaf {
            issuer: root_name.clone(),
            enable_key_agreement: false,
            enable_key_encipherment: false,
        };
        Ok(Certificates {
            root: certificate(
                Profile::Root,
                1,
                root_name,
                &alipay_key.to_public_key(),
                &ca,
            )?,
            alipay: certificate(
                leaf.clone(),
                2,
                name(ALIPAY_DN)?,
                &alipay_key.to_public_key(),
                &ca,
            )?,
            app: certificate(leaf, 3, name(APP_DN)?, app_key, &ca)?,
        })
    }
}

fn name(dn: &str) -> Result<Name, String> {
    Name::from_str(dn).map_err(|e| format!("certificate name {dn}: {e}"))
}

fn certificate(
    profile: Profile,
    serial: u64,
    subject: Name,
    key: &RsaPublicKey,
    ca: &SigningKey<Sha256>,
) -> Result<String, String> {
    let bad = |e: &dyn fmt::Display| format!("certificate {serial}: {e}");
    let spki = SubjectPublicKeyInfoOwned::from_key(key.clone()).map_err(|e| bad(&e))?;
    let validity = Validity::from_now(CERT_VALIDITY).map_err(|e| bad(&e))?;
    let builder = CertificateBuilder::new(
        profile,
        SerialNumber::from(serial),
        validity,
        subject,
        spki,
        ca,
    )
    .map_err(|e| bad(&e))?;
    let cert = builder
        .build::<rsa::pkcs1v15::Signature>()
        .map_err(|e| bad(&e))?;
    cert.to_pem(LineEnding::LF).map_err(|e| bad(&e))
}

impl Material {
    /// The configuration our side reads (API.md "Provider configuration"),
    /// pointing every provider at this stack's simulators at `base_url`
    /// (`http://127.0.0.1:PORT`). Holds private keys: never log it.
    pub fn environment(&self, base_url: &str) -> Result<BTreeMap<String, String>, String> {
        let private = |key: &RsaPrivateKey| {
            key.to_pkcs8_pem(LineEnding::LF)
                .map(|pem| pem.to_string())
                .map_err(|e| format!("private key PEM: {e}"))
        };
        let public = |key: &RsaPrivateKey| {
            key.to_public_key()
                .to_public_key_pem(LineEnding::LF)
                .map_err(|e| format!("public key PEM: {e}"))
        };
        let base = base_url.trim_end_matches('/');
        let pairs = [
            ("QRPAY_CALLBACK_BASE_URL", base.to_owned()),
            ("WECHATPAY_MCHID", WECHATPAY_MCHID.to_owned()),
            ("WECHATPAY_APPID", WECHATPAY_APPID.to_owned()),
            ("WECHATPAY_MCH_SERIAL", self.wechatpay_mch_serial.clone()),
            (
                "WECHATPAY_MCH_PRIVATE_KEY",
                private(&self.wechatpay_mch_key)?,
            ),
            (
                "WECHATPAY_PLATFORM_SERIAL",
                self.wechatpay_platform_serial.clone(),
            ),
            (
                "WECHATPAY_PLATFORM_PUBLIC_KEY",
                public(&self.wechatpay_platform_key)?,
            ),
            (
                "WECHATPAY_API_V3_KEY",
                self.wechatpay_api_v3_key.expose().to_owned(),
            ),
            (
                "WECHATPAY_TRANSFER_SCENE_ID",
                WECHATPAY_TRANSFER_SCENE_ID.to_owned(),
            ),
            (
                "WECHATPAY_BASE_URL",
                format!("{base}{}", super::WECHATPAY_PREFIX),
            ),
            ("ALIPAY_APP_ID", ALIPAY_APP_ID.to_owned()),
            ("ALIPAY_APP_PRIVATE_KEY", private(&self.alipay_app_key)?),
            ("ALIPAY_PUBLIC_KEY", public(&self.alipay_key)?),
            ("ALIPAY_APP_CERT", self.alipay_app_cert.clone()),
            ("ALIPAY_PUBLIC_CERT", self.alipay_public_cert.clone()),
            ("ALIPAY_ROOT_CERT", self.alipay_root_cert.clone()),
            (
                "ALIPAY_GATEWAY_URL",
                format!("{base}{}", super::ALIPAY_GATEWAY),
            ),
            ("DOUYIN_APP_ID", DOUYIN_APP_ID.to_owned()),
            ("DOUYIN_SALT", self.douyin_salt.expose().to_owned()),
            ("DOUYIN_TOKEN", self.douyin_token.expose().to_owned()),
            ("DOUYIN_MERCHANT_ID", DOUYIN_MERCHANT_ID.to_owned()),
            ("DOUYIN_BASE_URL", format!("{base}{}", super::DOUYIN_PREFIX)),
        ];
        Ok(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_material_is_made_once_and_fits_what_our_side_reads() {
        let m = material().unwrap();
        assert!(std::ptr::eq(m, material().unwrap()), "once per process");
        assert_eq!(m.wechatpay_mch_serial.len(), 40);
        assert!(m.wechatpay_platform_serial.starts_with("PUB_KEY_ID_"));
        assert_eq!(m.wechatpay_platform_serial.len(), 11 + 28);
        assert_eq!(m.wechatpay_api_v3_key.expose().len(), 32);
        assert_eq!(m.alipay_app_cert_sn.len(), 32);
        assert_eq!(m.alipay_root_cert_sn.len(), 32, "one RSA root");
        assert_ne!(m.alipay_app_cert_sn, m.alipay_cert_sn);
        let env = m.environment("http://127.0.0.1:9/").unwrap();
        assert_eq!(
            env["WECHATPAY_BASE_URL"],
            "http://127.0.0.1:9/sim/wechatpay"
        );
        assert!(env["ALIPAY_ROOT_CERT"].starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(!format!("{m:?}").contains("PRIVATE"));
    }
}
