//! WeChat Pay API v3 as the simulator speaks it (GATEWAYS.md §1): every
//! request must carry `Authorization: WECHATPAY2-SHA256-RSA2048 mchid=…,
//! nonce_str=…,signature=…,timestamp=…,serial_no=…` signed by our merchant
//! key over `METHOD\nPATH?QUERY\nTIMESTAMP\nNONCE\nBODY\n` (the path as
//! sent, `/sim/wechatpay` included) within 5 minutes of now, else
//! `401 SIGN_ERROR`; `Accept: application/json`, a `User-Agent`, and
//! `Content-Type: application/json` with a body, else `400 INVALID_REQUEST`
//! (https://pay.weixin.qq.com/docs/merchant/development/interface-rules/basic-rules.html,
//! https://pay.weixin.qq.com/wiki/doc/api_external/ch/wechatpay/wechatpay4_0.shtml).
//! Every answer, errors included, is signed by the platform key with
//! `Wechatpay-Timestamp/-Nonce/-Signature/-Serial/-Signature-Type` over
//! `TIMESTAMP\nNONCE\nBODY\n` (an empty body for a `204`); errors are
//! `{"code","message"}` with the documented status.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use qrpay_domain::{Provider, Secret};
use qrpay_provider::wechatpay::{
    nonce, AUTH_SCHEME, HEADER_NONCE, HEADER_SERIAL, HEADER_SIGNATURE, HEADER_SIGNATURE_TYPE,
    HEADER_TIMESTAMP,
};
use qrpay_provider::WechatpaySigner;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::Sha256;

use super::keys::{Material, WECHATPAY_MCHID};
use super::{header, Ctx, Sim};
use crate::local_http::{LocalRequest, LocalResponse};

/// How far a request's signed time may be from now (the same 5 minutes
/// WeChat applies to its own signatures; SPEC §5).
const REQUEST_TOLERANCE_S: i64 = 300;
/// How much of the signed message a `SIGN_ERROR` quotes back, as WeChat's
/// `detail.sign_information.truncated_sign_message` does.
const QUOTED_MESSAGE_CHARS: usize = 80;

/// The simulated WeChat Pay, for our one merchant.
pub struct Wechatpay {
    pub sim: Sim,
    /// Our merchant API certificate's key and serial: what requests are
    /// checked with.
    pub(super) merchant: VerifyingKey<Sha256>,
    merchant_serial: String,
    /// WeChat Pay's platform key: signs answers, decrypts `user_name`.
    platform: SigningKey<Sha256>,
    pub(super) platform_key: RsaPrivateKey,
    pub(super) platform_serial: String,
    /// Where `h5_url`s point: the simulated middle page (`super::wechat_h5`).
    pub(super) h5_page: String,
    /// This simulator's base URL: where bill `download_url`s point.
    pub(super) base_url: String,
    /// The bills handed out for download.
    pub(super) links: super::wechatpay_bill::Links,
}

/// What a handler answers, before it is signed.
pub enum Reply {
    Json(u16, Value),
    NoContent,
    /// The documented error body `{"code","message"}`.
    Error(u16, &'static str, String),
    /// The answer is lost (a fault): a hang or `500 SYSTEM_ERROR`.
    Lost,
    /// A bill file: answered as it is, unsigned (the download API's
    /// answers carry no signature).
    File(Vec<u8>),
}

impl Reply {
    pub fn ok(body: Value) -> Reply {
        Reply::Json(200, body)
    }

    pub fn error(status: u16, code: &'static str, message: impl Into<String>) -> Reply {
        Reply::Error(status, code, message.into())
    }
}

impl Wechatpay {
    pub fn new(material: &'static Material, base_url: &str) -> Result<Wechatpay, String> {
        let signer = WechatpaySigner::new(
            WECHATPAY_MCHID,
            &material.wechatpay_platform_serial,
            material.wechatpay_platform_key.clone(),
            Secret::new(material.wechatpay_api_v3_key.expose().to_owned()),
        )
        .map_err(|e| format!("wechatpay simulator: {e}"))?;
        Ok(Wechatpay {
            sim: Sim::new(Provider::Wechatpay, Box::new(signer), 0x7765_6368_6174),
            merchant: VerifyingKey::new(material.wechatpay_mch_key.to_public_key()),
            merchant_serial: material.wechatpay_mch_serial.clone(),
            platform: SigningKey::new(material.wechatpay_platform_key.clone()),
            platform_key: material.wechatpay_platform_key.clone(),
            platform_serial: material.wechatpay_platform_serial.clone(),
            h5_page: format!(
                "{}{}",
                base_url.trim_end_matches('/'),
                super::wechat_h5::H5_PAGE
            ),
            base_url: format!(
                "{}{}",
                base_url.trim_end_matches('/'),
                super::WECHATPAY_PREFIX
            ),
            links: Default::default(),
        })
    }

    /// One request under `/sim/wechatpay` (`rest` is the path after it).
    pub async fn api(&self, ctx: &Ctx<'_>, rest: &str, request: &LocalRequest) -> LocalResponse {
        let reply = match self.check(ctx, request) {
            Err(refusal) => refusal,
            Ok(()) => self.route(ctx, rest, request).await,
        };
        if matches!(reply, Reply::Lost) {
            ctx.settings.lose_answer().await;
        }
        self.answer(ctx, reply)
    }

    /// The request's signature and headers; the refusal when they fail.
    fn check(&self, ctx: &Ctx<'_>, request: &LocalRequest) -> Result<(), Reply> {
        self.verify_signature(ctx, request)?;
        let accepts_json =
            header(request, "accept").is_some_and(|a| a.contains("application/json"));
        let body_is_json = request.body.is_empty()
            || header(request, "content-type").is_some_and(|t| t.starts_with("application/json"));
        let has_agent = header(request, "user-agent").is_some_and(|a| !a.trim().is_empty());
        if !(accepts_json && body_is_json && has_agent) {
            return Err(Reply::error(
                400,
                "INVALID_REQUEST",
                "HTTP 请求不符合微信支付 APIv3 接口规则: Accept, Content-Type and User-Agent are required",
            ));
        }
        if let Some(serial) = header(request, HEADER_SERIAL) {
            if serial != self.platform_serial {
                return Err(Reply::error(
                    400,
                    "INVALID_REQUEST",
                    "Wechatpay-Serial names no platform key of this merchant",
                ));
            }
        }
        Ok(())
    }

    /// `401 SIGN_ERROR` unless `Authorization` is ours, fresh and signs
    /// exactly this request.
    fn verify_signature(&self, ctx: &Ctx<'_>, request: &LocalRequest) -> Result<(), Reply> {
        let refuse = |issue: &str, message: Option<&[u8]>| {
            let mut detail = json!({"field": "signature", "location": "authorization",
                "detail": {"issue": issue}});
            if let Some(message) = message {
                let text = String::from_utf8_lossy(message);
                detail["sign_information"] = json!({
                    "method": request.method,
                    "url": canonical_url(request),
                    "sign_message_length": message.len(),
                    "truncated_sign_message": text.chars().take(QUOTED_MESSAGE_CHARS).collect::<String>(),
                });
            }
            Reply::Json(
                401,
                json!({"code": "SIGN_ERROR", "message": "错误的签名，验签失败", "detail": detail}),
            )
        };
        let auth = header(request, "authorization")
            .and_then(|h| h.strip_prefix(AUTH_SCHEME))
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(authorization_pairs)
            .ok_or_else(|| refuse("Http头Authorization值格式错误", None))?;
        let field = |name: &str| auth.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        let (Some(mchid), Some(nonce), Some(signature), Some(timestamp), Some(serial)) = (
            field("mchid"),
            field("nonce_str"),
            field("signature"),
            field("timestamp"),
            field("serial_no"),
        ) else {
            return Err(refuse(
                "Authorization lacks mchid, nonce_str, signature, timestamp or serial_no",
                None,
            ));
        };
        if mchid != WECHATPAY_MCHID || !serial.eq_ignore_ascii_case(&self.merchant_serial) {
            return Err(refuse(
                "mchid or serial_no is not this merchant's API certificate",
                None,
            ));
        }
        let fresh = timestamp
            .parse::<i64>()
            .is_ok_and(|t| (ctx.now.timestamp() - t).abs() <= REQUEST_TOLERANCE_S);
        if !fresh {
            return Err(refuse("timestamp is more than 5 minutes from now", None));
        }
        let message = request_message(request, timestamp, nonce);
        let verified = STANDARD
            .decode(signature)
            .ok()
            .and_then(|bytes| Signature::try_from(bytes.as_slice()).ok())
            .is_some_and(|s| self.merchant.verify(&message, &s).is_ok());
        if !verified {
            return Err(refuse("sign not match", Some(&message)));
        }
        Ok(())
    }

    /// The signed answer, as WeChat Pay writes it.
    fn answer(&self, ctx: &Ctx<'_>, reply: Reply) -> LocalResponse {
        let (status, body) = match reply {
            Reply::File(body) => {
                return LocalResponse {
                    status: 200,
                    headers: vec![("content-type".into(), "application/octet-stream".into())],
                    body,
                }
            }
            Reply::Json(status, body) => (status, body.to_string().into_bytes()),
            Reply::NoContent => (204, Vec::new()),
            Reply::Error(status, code, message) => (
                status,
                json!({"code": code, "message": message})
                    .to_string()
                    .into_bytes(),
            ),
            Reply::Lost => (
                500,
                json!({"code": "SYSTEM_ERROR", "message": "系统异常，请用相同参数重新调用"})
                    .to_string()
                    .into_bytes(),
            ),
        };
        let timestamp = ctx.now.timestamp().to_string();
        let nonce = nonce();
        let mut message = Vec::with_capacity(body.len() + 64);
        for part in [timestamp.as_bytes(), nonce.as_bytes(), &body] {
            message.extend_from_slice(part);
            message.push(b'\n');
        }
        let signature = STANDARD.encode(self.platform.sign(&message).to_bytes());
        let mut headers = vec![
            (HEADER_TIMESTAMP.to_owned(), timestamp),
            (HEADER_NONCE.to_owned(), nonce),
            (HEADER_SIGNATURE.to_owned(), signature),
            (HEADER_SERIAL.to_owned(), self.platform_serial.clone()),
            (HEADER_SIGNATURE_TYPE.to_owned(), AUTH_SCHEME.to_owned()),
            ("Request-ID".to_owned(), self.sim.id("", ctx.now, 6)),
        ];
        if !body.is_empty() {
            headers.push((
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            ));
        }
        LocalResponse {
            status,
            headers,
            body,
        }
    }
}

/// `mchid="…",nonce_str="…",…` as (name, value) pairs, values unquoted; a
/// name twice or a pair without `="…"` is malformed.
fn authorization_pairs(text: &str) -> Option<Vec<(&str, &str)>> {
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for part in text.split(',') {
        let (name, value) = part.trim().split_once('=')?;
        let value = value.strip_prefix('"')?.strip_suffix('"')?;
        if pairs.iter().any(|(n, _)| *n == name) {
            return None;
        }
        pairs.push((name, value));
    }
    Some(pairs)
}

/// The path with its `?query`, exactly as received.
fn canonical_url(request: &LocalRequest) -> String {
    if request.query.is_empty() {
        request.path.clone()
    } else {
        format!("{}?{}", request.path, request.query)
    }
}

/// `METHOD\nCANONICAL_URL\nTIMESTAMP\nNONCE\nBODY\n`.
fn request_message(request: &LocalRequest, timestamp: &str, nonce: &str) -> Vec<u8> {
    let url = canonical_url(request);
    let mut message = Vec::with_capacity(request.body.len() + url.len() + 96);
    for part in [
        request.method.as_bytes(),
        url.as_bytes(),
        timestamp.as_bytes(),
        nonce.as_bytes(),
        &request.body,
    ] {
        message.extend_from_slice(part);
        message.push(b'\n');
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_pairs_are_read_in_any_order_and_refused_when_malformed() {
        let pairs = authorization_pairs(
            r#"mchid="1",nonce_str="N",signature="a/b+=",timestamp="2",serial_no="S""#,
        )
        .unwrap();
        assert_eq!(pairs[2], ("signature", "a/b+="));
        assert!(authorization_pairs(r#"serial_no="S", mchid="1""#).is_some());
        assert!(authorization_pairs(r#"mchid=1"#).is_none());
        assert!(authorization_pairs(r#"mchid="1",mchid="2""#).is_none());
    }

    #[test]
    fn the_signed_message_has_the_query_and_five_lines() {
        let request = LocalRequest {
            method: "GET".into(),
            path: "/sim/wechatpay/v3/pay/transactions/out-trade-no/o1".into(),
            query: "mchid=1900000109".into(),
            ..LocalRequest::default()
        };
        assert_eq!(
            request_message(&request, "1", "N"),
            b"GET\n/sim/wechatpay/v3/pay/transactions/out-trade-no/o1?mchid=1900000109\n1\nN\n\n"
        );
    }
}
