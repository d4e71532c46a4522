//! WeChat web authorization with `snsapi_base` (BUYER_PAGES.md §2.1): the
//! silent redirect that tells a page opened inside WeChat who the buyer is
//! (their openid under our app id), which a JSAPI order needs.
//!
//! 1. The page sends the browser to `open.weixin.qq.com/connect/oauth2/authorize`
//!    with the parameters in WeChat's fixed order and `#wechat_redirect`.
//! 2. WeChat sends it back to `redirect_uri?code=…&state=…`.
//! 3. The server trades the code (single use, minutes long) for the openid at
//!    `api.weixin.qq.com/sns/oauth2/access_token`; the access token that comes
//!    with it is dropped, never kept or logged.

use std::fmt;
use std::sync::Arc;

use qrpay_domain::Secret;
use serde::Deserialize;

use crate::gateway::{HttpRequest, HttpTransport};

/// The official hosts; each is configurable for the local simulator.
pub const OAUTH_BASE_URL: &str = "https://open.weixin.qq.com";
pub const API_BASE_URL: &str = "https://api.weixin.qq.com";

/// The app that asks: `WECHATPAY_APPID` (the 公众号 bound to the merchant)
/// and its AppSecret `WECHATPAY_APP_SECRET`.
pub struct WechatOauth {
    app_id: String,
    app_secret: Secret,
    oauth_base: String,
    api_base: String,
    transport: Arc<dyn HttpTransport>,
}

impl fmt::Debug for WechatOauth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatOauth")
            .field("app_id", &self.app_id)
            .field("oauth_base", &self.oauth_base)
            .finish_non_exhaustive()
    }
}

/// Why no openid came back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OauthError {
    /// WeChat refused the code (used, expired, not ours): start again.
    #[error("WeChat refused the authorization code (errcode {0})")]
    CodeRefused(i64),
    /// No usable answer: try again later.
    #[error("WeChat's authorization answer was not usable: {0}")]
    Unavailable(String),
}

#[derive(Deserialize)]
struct TokenAnswer {
    openid: Option<String>,
    errcode: Option<i64>,
}

impl WechatOauth {
    /// Configured when WeChat Pay is (`WECHATPAY_APPID`) and the app's secret
    /// is set; `None` otherwise (JSAPI is then not offered).
    pub fn from_env(
        env: &dyn Fn(&str) -> Option<String>,
        transport: Arc<dyn HttpTransport>,
    ) -> Option<WechatOauth> {
        let present = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let app_id = present("WECHATPAY_APPID")?;
        let app_secret = Secret::new(present("WECHATPAY_APP_SECRET")?);
        let base = |name: &str, default: &str| {
            present(name)
                .unwrap_or_else(|| default.to_owned())
                .trim_end_matches('/')
                .to_owned()
        };
        Some(WechatOauth {
            app_id,
            app_secret,
            oauth_base: base("WECHAT_OAUTH_BASE_URL", OAUTH_BASE_URL),
            api_base: base("WECHAT_API_BASE_URL", API_BASE_URL),
            transport,
        })
    }

    /// Where the browser goes to be identified. WeChat matches the link
    /// strictly: the parameters in this order, `redirect_uri` urlencoded,
    /// `#wechat_redirect` last. `state` is at most 128 of `[A-Za-z0-9]`.
    pub fn authorize_url(&self, redirect_uri: &str, state: &str) -> String {
        let encode = |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        format!(
            "{}/connect/oauth2/authorize?appid={}&redirect_uri={}&response_type=code&scope=snsapi_base&state={}#wechat_redirect",
            self.oauth_base,
            encode(&self.app_id),
            encode(redirect_uri),
            encode(state)
        )
    }

    /// The buyer's openid for an authorization `code`.
    pub async fn openid(&self, code: &str) -> Result<String, OauthError> {
        let plain = !code.is_empty()
            && code.len() <= 128
            && code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !plain {
            return Err(OauthError::CodeRefused(40029));
        }
        let url = format!(
            "{}/sns/oauth2/access_token?appid={}&secret={}&code={code}&grant_type=authorization_code",
            self.api_base,
            form_urlencoded::byte_serialize(self.app_id.as_bytes()).collect::<String>(),
            form_urlencoded::byte_serialize(self.app_secret.expose().as_bytes()).collect::<String>(),
        );
        let request = HttpRequest {
            method: http::Method::GET,
            url,
            headers: vec![("accept".into(), "application/json".into())],
            body: Vec::new(),
        };
        let answer = self
            .transport
            .send(request)
            .await
            .map_err(|e| OauthError::Unavailable(e.to_string()))?;
        if answer.status != 200 {
            return Err(OauthError::Unavailable(format!("HTTP {}", answer.status)));
        }
        let parsed: TokenAnswer = serde_json::from_slice(&answer.body)
            .map_err(|e| OauthError::Unavailable(format!("unreadable answer: {e}")))?;
        match (parsed.openid, parsed.errcode) {
            (Some(openid), None | Some(0)) if valid_openid(&openid) => Ok(openid),
            (_, Some(code)) if code != 0 => Err(OauthError::CodeRefused(code)),
            _ => Err(OauthError::Unavailable("no openid in the answer".into())),
        }
    }
}

/// An openid as WeChat issues them: 1–64 of `[A-Za-z0-9_-]` (28 in practice).
fn valid_openid(openid: &str) -> bool {
    (1..=64).contains(&openid.len())
        && openid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::{HttpResponse, TransportError};
    use std::sync::Mutex;

    struct Canned {
        answer: Result<HttpResponse, TransportError>,
        seen: Mutex<Vec<String>>,
    }

    #[async_trait::async_trait]
    impl HttpTransport for Canned {
        async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
            self.seen.lock().unwrap().push(request.url);
            self.answer.clone()
        }
    }

    fn oauth(status: u16, body: &str) -> (WechatOauth, Arc<Canned>) {
        let canned = Arc::new(Canned {
            answer: Ok(HttpResponse {
                status,
                headers: vec![],
                body: body.as_bytes().to_vec(),
            }),
            seen: Mutex::new(vec![]),
        });
        let env = |name: &str| match name {
            "WECHATPAY_APPID" => Some("wxd678efh567hg6787".to_owned()),
            "WECHATPAY_APP_SECRET" => Some("app secret&x".to_owned()),
            _ => None,
        };
        (WechatOauth::from_env(&env, canned.clone()).unwrap(), canned)
    }

    #[test]
    fn the_authorize_link_has_wechats_fixed_order_and_fragment() {
        let (o, _) = oauth(200, "{}");
        assert_eq!(
            o.authorize_url("https://pay.example.cn/pay/v1.a.b.c/orders/ord_1/wechatpay_jsapi", "ab12"),
            "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wxd678efh567hg6787\
             &redirect_uri=https%3A%2F%2Fpay.example.cn%2Fpay%2Fv1.a.b.c%2Forders%2Ford_1%2Fwechatpay_jsapi\
             &response_type=code&scope=snsapi_base&state=ab12#wechat_redirect"
        );
    }

    #[tokio::test]
    async fn a_code_becomes_the_openid_and_refusals_are_told_apart() {
        let (o, seen) = oauth(
            200,
            r#"{"access_token":"ACCESS","expires_in":7200,"refresh_token":"R","openid":"oLVPpjqs9BhvzwPj5A-vTYAX3GLc","scope":"snsapi_base"}"#,
        );
        assert_eq!(
            o.openid("0a1b2c").await.unwrap(),
            "oLVPpjqs9BhvzwPj5A-vTYAX3GLc"
        );
        assert_eq!(
            seen.seen.lock().unwrap()[0],
            "https://api.weixin.qq.com/sns/oauth2/access_token?appid=wxd678efh567hg6787\
             &secret=app+secret%26x&code=0a1b2c&grant_type=authorization_code"
        );
        let (used, _) = oauth(200, r#"{"errcode":40163,"errmsg":"code been used"}"#);
        assert_eq!(
            used.openid("0a1b2c").await,
            Err(OauthError::CodeRefused(40163))
        );
        let (down, _) = oauth(502, "");
        assert!(matches!(
            down.openid("x").await,
            Err(OauthError::Unavailable(_))
        ));
        let (odd, _) = oauth(200, r#"{"openid":"<script>"}"#);
        assert!(matches!(
            odd.openid("x").await,
            Err(OauthError::Unavailable(_))
        ));
        // A code that is not plain text never leaves the building.
        assert_eq!(
            o.openid("a&secret=x").await,
            Err(OauthError::CodeRefused(40029))
        );
        assert_eq!(seen.seen.lock().unwrap().len(), 1);
    }

    #[test]
    fn without_the_app_secret_there_is_no_oauth() {
        let env = |name: &str| (name == "WECHATPAY_APPID").then(|| "wx1".to_owned());
        let transport: Arc<dyn HttpTransport> = Arc::new(Canned {
            answer: Err(TransportError::Other("unused".into())),
            seen: Mutex::new(vec![]),
        });
        assert!(WechatOauth::from_env(&env, transport).is_none());
    }
}
