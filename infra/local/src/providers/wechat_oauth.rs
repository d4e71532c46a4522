//! WeChat's web authorization and JS bridge as a buyer's WeChat would meet
//! them (BUYER_PAGES.md §15), local only:
//!
//! - `GET /sim/wechat/connect/oauth2/authorize`: checks the link as strictly
//!   as WeChat (our app id, the fixed parameter order, `response_type=code`,
//!   `scope=snsapi_base`, a `redirect_uri` on the pay host) and sends the
//!   browser back with a single-use code. The buyer's openid is stable per
//!   browser (a cookie), so a payout can later go back to the same buyer.
//! - `GET /sim/wechat/sns/oauth2/access_token`: trades the code (once, within
//!   5 minutes) for the openid, with WeChat's `errcode`s otherwise.
//! - `POST /sandbox/wechatpay/jsapi`: what the bridge does with the page's
//!   `getBrandWCPayRequest` parameters: `paySign` must verify with the
//!   merchant's key over `appId\ntimeStamp\nnonceStr\npackage\n`, `appId` be
//!   ours and `package` name a live JSAPI order; then the order is paid.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use qrpay_http::{ApiError, ErrorCode};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;

use super::keys::WECHATPAY_APPID;
use super::{header, ok};
use crate::local_http::{LocalRequest, LocalResponse};

/// The prefix of the simulated `open.weixin.qq.com` and `api.weixin.qq.com`.
pub const WECHAT_PREFIX: &str = "/sim/wechat/";
const CODE_LIFETIME_S: i64 = 300;
const COOKIE: &str = "sim_wx_openid";

struct Grant {
    openid: String,
    issued_at: DateTime<Utc>,
    used: bool,
}

/// The simulated authorization server of our 公众号.
pub struct WechatOauthSim {
    app_secret: String,
    pay_host: String,
    grants: Mutex<HashMap<String, Grant>>,
}

impl WechatOauthSim {
    pub fn new(app_secret: String, base_url: &str) -> WechatOauthSim {
        let pay_host = base_url
            .trim_end_matches('/')
            .split("://")
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        WechatOauthSim {
            app_secret,
            pay_host,
            grants: Mutex::new(HashMap::new()),
        }
    }

    /// `host[:port]` of the buyer pages: the 公众号's authorized domain here.
    pub fn pay_host(&self) -> &str {
        &self.pay_host
    }

    /// One request under `/sim/wechat/`.
    pub fn handle(&self, rest: &str, request: &LocalRequest, now: DateTime<Utc>) -> LocalResponse {
        match (request.method.as_str(), rest) {
            ("GET", "connect/oauth2/authorize") => self.authorize(request, now),
            ("GET", "sns/oauth2/access_token") => self.access_token(&request.query, now),
            _ => LocalResponse::error(ApiError::new(
                ErrorCode::RouteNotFound,
                "no such WeChat page",
            )),
        }
    }

    fn authorize(&self, request: &LocalRequest, now: DateTime<Utc>) -> LocalResponse {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(request.query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        let value = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        // WeChat matches the link strictly, parameter order included.
        if names != ["appid", "redirect_uri", "response_type", "scope", "state"] {
            return refusal("the authorization link's parameters are not in WeChat's order");
        }
        if value("appid") != Some(WECHATPAY_APPID)
            || value("response_type") != Some("code")
            || value("scope") != Some("snsapi_base")
        {
            return refusal("appid, response_type=code and scope=snsapi_base are required");
        }
        let redirect = value("redirect_uri").unwrap_or_default();
        let host = redirect
            .split("://")
            .nth(1)
            .and_then(|r| r.split('/').next());
        if host != Some(self.pay_host.as_str())
            || !request.query.contains("redirect_uri=http%3A%2F%2F")
                && !request.query.contains("redirect_uri=https%3A%2F%2F")
        {
            return refusal("redirect_uri must be urlencoded and on the page's authorized domain");
        }
        let state = value("state").unwrap_or_default();
        let (openid, set_cookie) = match cookie(request) {
            Some(openid) => (openid, None),
            None => {
                let openid = format!("oSimWx{}", &qrpay_provider::wechatpay::nonce()[..22]);
                (
                    openid.clone(),
                    Some(format!("{COOKIE}={openid}; Path=/; HttpOnly; SameSite=Lax")),
                )
            }
        };
        let code = qrpay_provider::wechatpay::nonce();
        self.grants_lock().insert(
            code.clone(),
            Grant {
                openid,
                issued_at: now,
                used: false,
            },
        );
        let join = if redirect.contains('?') { '&' } else { '?' };
        let location = format!("{redirect}{join}code={code}&state={state}");
        let mut headers = vec![("location".to_owned(), location)];
        headers.extend(set_cookie.map(|c| ("set-cookie".to_owned(), c)));
        LocalResponse {
            status: 302,
            headers,
            body: Vec::new(),
        }
    }

    fn access_token(&self, query: &str, now: DateTime<Utc>) -> LocalResponse {
        let params: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let get = |k: &str| params.get(k).map(String::as_str);
        if get("appid") != Some(WECHATPAY_APPID) {
            return errcode(40013, "invalid appid");
        }
        if get("secret") != Some(self.app_secret.as_str()) {
            return errcode(40125, "invalid appsecret");
        }
        if get("grant_type") != Some("authorization_code") {
            return errcode(40002, "invalid grant_type");
        }
        let mut grants = self.grants_lock();
        let Some(grant) = get("code").and_then(|c| grants.get_mut(c)) else {
            return errcode(40029, "invalid code");
        };
        if grant.used {
            return errcode(40163, "code been used");
        }
        if now - grant.issued_at > Duration::seconds(CODE_LIFETIME_S) {
            return errcode(42003, "code expired");
        }
        grant.used = true;
        ok(&json!({
            "access_token": qrpay_provider::wechatpay::nonce(),
            "expires_in": 7200,
            "refresh_token": qrpay_provider::wechatpay::nonce(),
            "openid": grant.openid,
            "scope": "snsapi_base",
        }))
    }

    fn grants_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Grant>> {
        self.grants.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The `getBrandWCPayRequest` parameters a page gave the bridge.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BridgeInvoke {
    app_id: String,
    time_stamp: String,
    nonce_str: String,
    package: String,
    sign_type: String,
    pay_sign: String,
}

impl BridgeInvoke {
    /// The prepay id, once the parameters are ours and signed by the merchant.
    pub fn verified_prepay_id(
        body: &[u8],
        merchant: &VerifyingKey<Sha256>,
    ) -> Result<String, ApiError> {
        let invoke: BridgeInvoke = serde_json::from_slice(body)
            .map_err(|e| ApiError::invalid("invoke", format!("bridge parameters: {e}")))?;
        if invoke.app_id != WECHATPAY_APPID || invoke.sign_type != "RSA" {
            return Err(ApiError::invalid(
                "appId",
                "not our app, or signType is not RSA",
            ));
        }
        if invoke.time_stamp.len() != 10 || !invoke.time_stamp.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::invalid(
                "timeStamp",
                "timeStamp is 10 digits of seconds",
            ));
        }
        let message = format!(
            "{}\n{}\n{}\n{}\n",
            invoke.app_id, invoke.time_stamp, invoke.nonce_str, invoke.package
        );
        let signature = STANDARD
            .decode(&invoke.pay_sign)
            .ok()
            .and_then(|bytes| Signature::try_from(bytes.as_slice()).ok())
            .ok_or_else(|| ApiError::invalid("paySign", "paySign is not a signature"))?;
        merchant
            .verify(message.as_bytes(), &signature)
            .map_err(|_| {
                ApiError::invalid("paySign", "paySign does not verify with the merchant's key")
            })?;
        invoke
            .package
            .strip_prefix("prepay_id=")
            .map(str::to_owned)
            .ok_or_else(|| ApiError::invalid("package", "package is prepay_id=…"))
    }
}

fn cookie(request: &LocalRequest) -> Option<String> {
    header(request, "cookie")?
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

fn refusal(message: &str) -> LocalResponse {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\"><title>WeChat (simulated)</title></head>\
         <body><h1>授权失败</h1><p>{}</p></body></html>",
        super::buyer::html_escape(message)
    );
    LocalResponse {
        status: 400,
        headers: vec![("content-type".into(), "text/html; charset=utf-8".into())],
        body: body.into_bytes(),
    }
}

fn errcode(code: i64, message: &str) -> LocalResponse {
    ok(&json!({"errcode": code, "errmsg": message}))
}
