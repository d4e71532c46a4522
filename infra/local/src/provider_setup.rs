//! The providers the local stack runs on: the real adapters of WeChat Pay,
//! Alipay and Douyin Pay (the same `configured_gateways` a deployed function
//! builds) against the simulators, plus the sandbox for play-money payouts.
//!
//! Each provider's settings come from the simulators' environment, unless
//! the process environment names that provider's own server
//! (`WECHATPAY_BASE_URL`, `ALIPAY_GATEWAY_URL`, `DOUYIN_BASE_URL`): then all
//! of that provider's settings come from the process environment, and the
//! same adapter talks to that server instead (API.md "Local only").

use std::collections::BTreeMap;
use std::sync::Arc;

use qrpay_aws::http::HyperTransport;
use qrpay_aws::Deadline;
use qrpay_domain::{Clock, Provider, Secret};
use qrpay_provider::gateway::{configured_gateways, Gateways};
use qrpay_provider::{SandboxProvider, SandboxSigner, SandboxVerifier};

/// The provider side of the functions' `App`s.
pub struct ProviderSetup {
    pub verifiers: payment_callback::Verifiers,
    pub gateways: Gateways,
    /// Signs the sandbox's own callbacks, with the verifier's secret.
    pub sandbox_signer: SandboxSigner,
}

/// Each provider's prefix and the setting that points it at a server.
const SERVERS: [(&str, &str); 3] = [
    ("WECHATPAY_", "WECHATPAY_BASE_URL"),
    ("ALIPAY_", "ALIPAY_GATEWAY_URL"),
    ("DOUYIN_", "DOUYIN_BASE_URL"),
];

/// One setting: from the process environment for a provider pointed at its
/// own server (and for `QRPAY_CALLBACK_BASE_URL` when set there), from the
/// simulators' environment otherwise.
pub fn setting(
    name: &str,
    simulated: &BTreeMap<String, String>,
    process: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    let external = |var: &str| process(var).is_some_and(|v| !v.trim().is_empty());
    let provider_server = SERVERS
        .iter()
        .find(|(prefix, _)| name.starts_with(prefix))
        .map(|(_, server)| *server);
    let from_process = match provider_server {
        Some(server) => external(server),
        None => name == "QRPAY_CALLBACK_BASE_URL" && external(name),
    };
    if from_process {
        process(name)
    } else {
        simulated.get(name).cloned()
    }
}

pub fn provider_setup(
    sandbox_secret: Secret,
    simulated: &BTreeMap<String, String>,
    sandbox: Arc<SandboxProvider>,
    clock: Arc<dyn Clock>,
) -> Result<ProviderSetup, String> {
    let process = |name: &str| std::env::var(name).ok();
    let env = |name: &str| setting(name, simulated, &process);
    let sandbox_signer = SandboxSigner::new(sandbox_secret.clone())
        .map_err(|e| format!("QRPAY_SANDBOX_SECRET: {e}"))?;
    let mut verifiers = payment_callback::config::verifiers(&env)?;
    verifiers.sandbox = Some(
        SandboxVerifier::new(vec![sandbox_secret])
            .map_err(|e| format!("QRPAY_SANDBOX_SECRET: {e}"))?,
    );
    let transport = HyperTransport::new(Deadline::Worker.provider_timeouts())?;
    let gateways = configured_gateways(&env, Arc::new(transport), clock)?
        .with_transfer(Provider::Sandbox, sandbox);
    Ok(ProviderSetup {
        verifiers,
        gateways,
        sandbox_signer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provider_pointed_at_its_own_server_takes_all_its_settings_from_the_process() {
        let simulated: BTreeMap<String, String> = [
            ("WECHATPAY_MCHID", "sim-mch"),
            ("WECHATPAY_BASE_URL", "http://127.0.0.1:3000/sim/wechatpay"),
            ("ALIPAY_APP_ID", "sim-app"),
            ("QRPAY_CALLBACK_BASE_URL", "http://127.0.0.1:3000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let process = |name: &str| match name {
            "WECHATPAY_BASE_URL" => Some("https://wechat.test.example".to_owned()),
            "WECHATPAY_MCHID" => Some("real-mch".to_owned()),
            "ALIPAY_APP_ID" => Some("ignored: Alipay stays simulated".to_owned()),
            _ => None,
        };
        let get = |name: &str| setting(name, &simulated, &process);
        assert_eq!(get("WECHATPAY_MCHID").as_deref(), Some("real-mch"));
        assert_eq!(
            get("WECHATPAY_BASE_URL").as_deref(),
            Some("https://wechat.test.example")
        );
        // Not set in the process: not taken from the simulator either.
        assert_eq!(get("WECHATPAY_APPID"), None);
        assert_eq!(get("ALIPAY_APP_ID").as_deref(), Some("sim-app"));
        assert_eq!(
            get("QRPAY_CALLBACK_BASE_URL").as_deref(),
            Some("http://127.0.0.1:3000")
        );
    }
}
