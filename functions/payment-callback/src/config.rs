//! Provider verifiers from the settings (in AWS the stage's secret, read at
//! cold start and again after a signature failure: `qrpay_aws::secrets`;
//! the environment elsewhere). A provider whose merchant/app id is
//! not set is not configured here; one that is set with missing or invalid
//! keys stops the cold start, so a bad rotation fails loudly, not silently.
//!
//! | provider  | id                | keys (each also `…_PREVIOUS` during a rotation) |
//! |-----------|-------------------|--------------------------------------------------|
//! | sandbox   | —                 | `QRPAY_SANDBOX_SECRET`                            |
//! | wechatpay | `WECHATPAY_MCHID` | `WECHATPAY_PLATFORM_SERIAL` + `WECHATPAY_PLATFORM_PUBLIC_KEY`, `WECHATPAY_API_V3_KEY` |
//! | alipay    | `ALIPAY_APP_ID`   | `ALIPAY_PUBLIC_KEY`                               |
//! | douyin    | `DOUYIN_APP_ID`   | `DOUYIN_TOKEN`                                    |
//!
//! `WECHATPAY_PLATFORM_PUBLIC_KEY` takes either mode WeChat Pay hands out: a
//! WeChat Pay public key (`BEGIN PUBLIC KEY`, serial `PUB_KEY_ID_…`) or a
//! platform certificate (`BEGIN CERTIFICATE`, serial = the certificate's
//! serial in hex), whose public key is used.

use qrpay_aws::current_and_previous;
use qrpay_domain::Secret;
use qrpay_provider::keys::public_key_from_text;
#[cfg(feature = "sandbox")]
use qrpay_provider::SandboxVerifier;
use qrpay_provider::{AlipayVerifier, DouyinVerifier, WechatpayVerifier};

use crate::Verifiers;

/// Reads one variable; empty counts as unset.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

fn secrets(env: Env<'_>, name: &str) -> Vec<Secret> {
    current_and_previous(env, name)
        .into_iter()
        .map(Secret::new)
        .collect()
}

fn fail(provider: &str, err: impl std::fmt::Display) -> String {
    format!("{provider} callback configuration: {err}")
}

pub fn verifiers(env: Env<'_>) -> Result<Verifiers, String> {
    let mut v = Verifiers::default();
    // The local stack's sandbox; a deployed build has no such verifier.
    #[cfg(feature = "sandbox")]
    {
        let sandbox = secrets(env, "QRPAY_SANDBOX_SECRET");
        if !sandbox.is_empty() {
            v.sandbox = Some(SandboxVerifier::new(sandbox).map_err(|e| fail("sandbox", e))?);
        }
    }
    if let Some(mchid) = env("WECHATPAY_MCHID").filter(|m| !m.is_empty()) {
        let serials = current_and_previous(env, "WECHATPAY_PLATFORM_SERIAL");
        let pems = current_and_previous(env, "WECHATPAY_PLATFORM_PUBLIC_KEY");
        if serials.len() != pems.len() {
            return Err(fail(
                "wechatpay",
                "each platform serial needs its public key",
            ));
        }
        let keys = serials
            .into_iter()
            .zip(pems.iter())
            .map(|(serial, pem)| Ok((serial, public_key_from_text(pem)?)))
            .collect::<Result<Vec<_>, qrpay_provider::keys::KeyError>>()
            .map_err(|e| fail("wechatpay", e))?;
        let api_keys = secrets(env, "WECHATPAY_API_V3_KEY");
        v.wechatpay =
            Some(WechatpayVerifier::new(&mchid, keys, api_keys).map_err(|e| fail("wechatpay", e))?);
    }
    if let Some(app_id) = env("ALIPAY_APP_ID").filter(|m| !m.is_empty()) {
        let pems = current_and_previous(env, "ALIPAY_PUBLIC_KEY");
        let pems: Vec<&str> = pems.iter().map(String::as_str).collect();
        v.alipay = Some(AlipayVerifier::from_pem(&app_id, &pems).map_err(|e| fail("alipay", e))?);
    }
    if let Some(app_id) = env("DOUYIN_APP_ID").filter(|m| !m.is_empty()) {
        let tokens = secrets(env, "DOUYIN_TOKEN");
        v.douyin = Some(DouyinVerifier::new(&app_id, tokens).map_err(|e| fail("douyin", e))?);
    }
    Ok(v)
}
