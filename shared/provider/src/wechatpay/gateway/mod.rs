//! WeChat Pay API v3, our side (SPEC §9): collection orders (Native, JSAPI,
//! H5; query; close), refunds and 商家转账 transfers, for a direct merchant.
//!
//! Every request carries `Authorization: WECHATPAY2-SHA256-RSA2048 …`
//! (`RequestSigner`); every answer acted on is verified with the platform
//! keys (`PlatformKeys::verify_answer`) first. A 2xx or 4xx without a valid
//! signature, a 5xx, a timeout or an unreadable body is ambiguous: the
//! caller queries before anything else (`codes` maps the documented codes).
//!
//! Base URL `https://api.mch.weixin.qq.com` (`WECHATPAY_BASE_URL`); the
//! canonical URL that is signed is the path after the host, so a base URL
//! with a path prefix (a local simulator) signs that prefix too.
//! https://pay.weixin.qq.com/doc/v3/merchant/4012365336

mod bills;
pub mod codes;
mod collection;
mod refunds;
mod transfers;

use std::fmt;
use std::sync::Arc;

use qrpay_domain::{Clock, Provider, Secret};
use rsa::RsaPublicKey;
use serde::Deserialize;

use super::answer::AnswerError;
use super::platform::PlatformKeys;
use super::request::{nonce, RequestSigner};
use crate::bills::MAX_BILL_BYTES;
use crate::gateway::{Gateways, HttpRequest, HttpResponse, HttpTransport, ANSWER_KEY_MISMATCH};
use crate::keys::public_key_from_text;

pub use bills::{bill_path, DOWNLOAD_HOST_REFUSED};
pub use transfers::{CONFIRM_WINDOW_H, REAL_NAME_FROM_FEN, TRANSFER_REMARK};

pub const DEFAULT_BASE_URL: &str = "https://api.mch.weixin.qq.com";
const USER_AGENT: &str = "qrpay/0.1 (+https://github.com/qrpay)";

/// Reads one setting; empty counts as unset.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A merchant's API v3 settings (API.md "Provider configuration").
pub struct WechatpayConfig {
    pub mchid: String,
    pub appid: String,
    pub signer: RequestSigner,
    pub platform: PlatformKeys,
    /// The current platform key and its serial: encrypts a payee's name and
    /// is named by `Wechatpay-Serial` on transfers.
    pub encryption_key: (String, RsaPublicKey),
    /// 转账场景 granted to the merchant; without one there are no transfers.
    pub transfer_scene_id: Option<String>,
    pub base_url: String,
    /// Where WeChat sends its notices: our `/callbacks/wechatpay`.
    pub notify_url: String,
}

impl fmt::Debug for WechatpayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatpayConfig")
            .field("mchid", &self.mchid)
            .field("appid", &self.appid)
            .field("platform", &self.platform)
            .field("transfer_scene_id", &self.transfer_scene_id)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

fn setting(env: Env<'_>, name: &str) -> Option<String> {
    env(name).filter(|v| !v.trim().is_empty())
}

fn required(env: Env<'_>, name: &str) -> Result<String, String> {
    setting(env, name).ok_or_else(|| format!("wechatpay: {name} is not set"))
}

impl WechatpayConfig {
    /// `None` when `WECHATPAY_MCHID` is unset (WeChat Pay not offered); an
    /// error when it is set and anything else is missing or unreadable.
    pub fn from_env(env: Env<'_>) -> Result<Option<WechatpayConfig>, String> {
        let Some(mchid) = setting(env, "WECHATPAY_MCHID") else {
            return Ok(None);
        };
        let fail = |e: &dyn fmt::Display| format!("wechatpay: {e}");
        let private_key = Secret::new(required(env, "WECHATPAY_MCH_PRIVATE_KEY")?);
        let signer = RequestSigner::new(
            &mchid,
            &required(env, "WECHATPAY_MCH_SERIAL")?,
            &private_key,
        )
        .map_err(|e| fail(&e))?;
        let mut keys = Vec::new();
        for suffix in ["", "_PREVIOUS"] {
            let serial = setting(env, &format!("WECHATPAY_PLATFORM_SERIAL{suffix}"));
            let pem = setting(env, &format!("WECHATPAY_PLATFORM_PUBLIC_KEY{suffix}"));
            match (serial, pem) {
                (Some(serial), Some(pem)) => {
                    keys.push((serial, public_key_from_text(&pem).map_err(|e| fail(&e))?))
                }
                (None, None) => {}
                _ => return Err(fail(&"each platform serial needs its public key")),
            }
        }
        let encryption_key = keys
            .first()
            .cloned()
            .ok_or_else(|| fail(&"WECHATPAY_PLATFORM_PUBLIC_KEY is not set"))?;
        let platform = PlatformKeys::new(keys).map_err(|e| fail(&e))?;
        let callback_base = required(env, "QRPAY_CALLBACK_BASE_URL")?;
        Ok(Some(WechatpayConfig {
            appid: required(env, "WECHATPAY_APPID")?,
            signer,
            platform,
            encryption_key,
            transfer_scene_id: setting(env, "WECHATPAY_TRANSFER_SCENE_ID"),
            base_url: setting(env, "WECHATPAY_BASE_URL")
                .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()),
            notify_url: format!(
                "{}/callbacks/wechatpay",
                callback_base.trim_end_matches('/')
            ),
            mchid,
        }))
    }
}

/// WeChat Pay for one merchant: `CollectionGateway`, `RefundGateway`,
/// `BillGateway` and (with a transfer scene) `TransferProvider`.
pub struct WechatpayGateway {
    config: WechatpayConfig,
    transport: Arc<dyn HttpTransport>,
    clock: Arc<dyn Clock>,
    /// The most a bill may weigh, packed or unpacked.
    max_bill_bytes: u64,
}

impl fmt::Debug for WechatpayGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatpayGateway")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What came back from one call, once its signature was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Reply {
    /// A signed 2xx answer (the body is empty for a 204).
    Done(Vec<u8>),
    /// A signed 4xx answer: WeChat's error `code` for this request.
    Refused { status: u16, code: String },
    /// Nothing we can trust: a timeout, a 5xx, no or a bad signature.
    Unclear(String),
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
}

impl WechatpayGateway {
    pub fn new(
        config: WechatpayConfig,
        transport: Arc<dyn HttpTransport>,
        clock: Arc<dyn Clock>,
    ) -> WechatpayGateway {
        WechatpayGateway {
            config,
            transport,
            clock,
            max_bill_bytes: MAX_BILL_BYTES,
        }
    }

    /// This gateway with bills bounded by `bytes` instead of
    /// [`MAX_BILL_BYTES`] (a smaller `/tmp`, or a test).
    pub fn with_max_bill_bytes(mut self, bytes: u64) -> WechatpayGateway {
        self.max_bill_bytes = bytes.min(MAX_BILL_BYTES);
        self
    }

    pub fn from_env(
        env: Env<'_>,
        transport: Arc<dyn HttpTransport>,
        clock: Arc<dyn Clock>,
    ) -> Result<Option<WechatpayGateway>, String> {
        Ok(WechatpayConfig::from_env(env)?.map(|c| WechatpayGateway::new(c, transport, clock)))
    }

    pub fn config(&self) -> &WechatpayConfig {
        &self.config
    }

    /// Offers what this merchant is configured for: collection, refunds and
    /// bills always, transfers only with a transfer scene.
    pub fn register(self: Arc<Self>, gateways: &mut Gateways) {
        gateways
            .collection
            .insert(Provider::Wechatpay, self.clone());
        gateways.refunds.insert(Provider::Wechatpay, self.clone());
        gateways.bills.insert(Provider::Wechatpay, self.clone());
        if self.config.transfer_scene_id.is_some() {
            gateways.transfers.insert(Provider::Wechatpay, self);
        }
    }

    /// Sends one signed request and checks the answer's signature.
    /// `path` starts with `/v3/`; `body` is the exact JSON sent.
    pub(super) async fn call(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Vec<u8>>,
        name_platform_key: bool,
    ) -> Reply {
        let base = self.config.base_url.trim_end_matches('/');
        let url = format!("{base}{path}");
        let canonical = format!("{}{path}", path_prefix(base));
        let body = body.unwrap_or_default();
        let mut headers = self.signed_headers(&method, &canonical, &body);
        if !body.is_empty() {
            headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
        }
        if name_platform_key {
            headers.push((
                super::HEADER_SERIAL.to_owned(),
                self.config.encryption_key.0.clone(),
            ));
        }
        let request = HttpRequest {
            method,
            url,
            headers,
            body,
        };
        match self.transport.send(request).await {
            Ok(answer) => self.read(&answer),
            Err(err) => Reply::Unclear(err.to_string()),
        }
    }

    /// `Authorization` over `METHOD\nCANONICAL\nTIMESTAMP\nNONCE\nBODY\n`
    /// (`canonical`: the path and query after the host), with the headers
    /// every call sends.
    pub(super) fn signed_headers(
        &self,
        method: &http::Method,
        canonical: &str,
        body: &[u8],
    ) -> Vec<(String, String)> {
        let now = self.clock.now();
        let authorization =
            self.config
                .signer
                .authorization(method, canonical, now.timestamp(), &nonce(), body);
        vec![
            ("Authorization".to_owned(), authorization),
            ("Accept".to_owned(), "application/json".to_owned()),
            ("User-Agent".to_owned(), USER_AGENT.to_owned()),
        ]
    }

    fn read(&self, answer: &HttpResponse) -> Reply {
        if answer.status >= 500 {
            return Reply::Unclear(format!("HTTP {}", answer.status));
        }
        let headers = header_map(answer);
        if let Err(err) =
            self.config
                .platform
                .verify_answer(&headers, &answer.body, self.clock.now())
        {
            // A bad signature or an unknown serial may be a rotated platform
            // key: marked, so the caller can re-read the keys.
            let mark = match err {
                AnswerError::BadSignature(_) => ANSWER_KEY_MISMATCH,
                AnswerError::Unsigned(_) | AnswerError::Stale { .. } => "",
            };
            return Reply::Unclear(format!(
                "{mark}HTTP {} answer not trusted: {err}",
                answer.status
            ));
        }
        match answer.status {
            200..=299 => Reply::Done(answer.body.clone()),
            400..=499 => match serde_json::from_slice::<ErrorBody>(&answer.body) {
                Ok(e) => Reply::Refused {
                    status: answer.status,
                    code: e.code,
                },
                Err(_) => Reply::Unclear(format!("HTTP {} without an error code", answer.status)),
            },
            other => Reply::Unclear(format!("HTTP {other}")),
        }
    }
}

/// The path part of a base URL (`""` for `https://api.mch.weixin.qq.com`).
fn path_prefix(base: &str) -> &str {
    let after_scheme = base.split_once("://").map_or(base, |(_, rest)| rest);
    after_scheme.find('/').map_or("", |i| &after_scheme[i..])
}

fn header_map(answer: &HttpResponse) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (name, value) in &answer.headers {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(value),
        ) {
            map.append(n, v);
        }
    }
    map
}

/// An answer body that does not read as documented: ambiguous.
pub(super) fn unreadable(what: &str, err: &serde_json::Error) -> String {
    format!("{what} answer unreadable: {err}")
}

#[cfg(test)]
mod tests {
    use super::path_prefix;

    #[test]
    fn the_signed_url_keeps_a_base_urls_path() {
        assert_eq!(path_prefix("https://api.mch.weixin.qq.com"), "");
        assert_eq!(
            path_prefix("http://127.0.0.1:8080/sim/wechatpay"),
            "/sim/wechatpay"
        );
        assert_eq!(path_prefix("api.mch.weixin.qq.com"), "");
    }
}
