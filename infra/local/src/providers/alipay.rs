//! Alipay's OpenAPI gateway as the simulator speaks it (GATEWAYS.md §2):
//! `gateway.do` takes its parameters from the query string and/or a
//! `application/x-www-form-urlencoded` body; the public parameters are
//! checked, then `sign` (RSA2 by our app key over every parameter but
//! `sign`, empty ones left out, sorted, `k=v&…` with the raw values); in
//! certificate mode (`app_cert_sn` given; required by `alipay.fund.trans.*`)
//! the SNs must be those of our app certificate and Alipay's root.
//!
//! Gateway (pre-flight) errors are answered unsigned, as Alipay does
//! (python-alipay-sdk issue fzlee/alipay#20 shows one): `40001` missing
//! (`isv.missing-method`, `-signature`, `-signature-type`, `-app-id`,
//! `-timestamp`, `-version`), `40002` invalid (`isv.invalid-signature`,
//! `isv.invalid-app-id`, …; the certificate ones `isv.invalid-app-cert-sn`
//! and `isv.invalid-alipay-root-cert-sn` are UNCONFIRMED names)
//! (https://docs.open.alipay.com/291/106096/, public error codes mirrored at
//! https://open.alitrip.com/docs/doc.htm?articleId=105806&docType=1&treeId=262).
//! Business answers are `{"<method_with_underscores>_response":{…},"sign":"…"}`
//! (with `"alipay_cert_sn"` in certificate mode), signed by Alipay's key over
//! the exact `*_response` text, which writes `/` as `\/` the way Alipay does.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::NaiveDateTime;
use qrpay_domain::Provider;
use qrpay_provider::AlipaySigner;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use serde_json::{json, Value};
use sha2::Sha256;

use super::keys::{Material, ALIPAY_APP_ID};
use super::{header, Ctx, Sim};
use crate::local_http::{LocalRequest, LocalResponse};

/// Methods that only certificate mode may call.
const CERT_ONLY_PREFIX: &str = "alipay.fund.trans.";
/// Most parameters a request may carry.
const MAX_PARAMS: usize = 64;

/// The simulated Alipay, for our one app.
pub struct Alipay {
    pub sim: Sim,
    /// Our app's public key: what requests are checked with.
    app: VerifyingKey<Sha256>,
    /// Alipay's key: signs the answers.
    answers: AlipaySigner,
    pub(super) material: &'static Material,
    /// The stack's address: where the bill files are served.
    pub(super) base_url: String,
}

/// A checked request: its method, parameters and mode.
pub struct Call {
    pub method: String,
    pub params: BTreeMap<String, String>,
    /// `biz_content`, parsed.
    pub biz: Value,
    pub cert_mode: bool,
}

/// What a method answers, before it is signed.
pub enum AliReply {
    /// The `*_response` object.
    Answer(Value),
    /// The answer is lost (a fault): a hang or `20000`.
    Lost,
    /// A page for the buyer's browser (`alipay.trade.wap.pay`).
    Page(String),
}

impl AliReply {
    pub fn success(fields: Value) -> AliReply {
        let mut answer = json!({"code": "10000", "msg": "Success"});
        if let (Some(answer), Value::Object(fields)) = (answer.as_object_mut(), fields) {
            answer.extend(fields);
        }
        AliReply::Answer(answer)
    }

    /// `40004` with `sub_code` (a business failure).
    pub fn failed(sub_code: &str, sub_msg: &str) -> AliReply {
        AliReply::Answer(json!({"code": "40004", "msg": "Business Failed",
            "sub_code": sub_code, "sub_msg": sub_msg}))
    }
}

impl Alipay {
    pub fn new(material: &'static Material, base_url: &str) -> Result<Alipay, String> {
        let signer = AlipaySigner::new(ALIPAY_APP_ID, material.alipay_key.clone())
            .map_err(|e| format!("alipay simulator: {e}"))?;
        Ok(Alipay {
            sim: Sim::new(Provider::Alipay, Box::new(signer.clone()), 0x616c_6970_6179),
            app: VerifyingKey::new(material.alipay_app_key.to_public_key()),
            answers: signer,
            material,
            base_url: base_url.trim_end_matches('/').to_owned(),
        })
    }

    /// `GET|POST /sim/alipay/gateway.do`
    pub async fn gateway(&self, ctx: &Ctx<'_>, request: &LocalRequest) -> LocalResponse {
        let call = match self.check(request) {
            Ok(call) => call,
            Err(refusal) => return refusal,
        };
        let reply = self.dispatch(ctx, &call).await;
        let inner = match reply {
            AliReply::Page(html) => return page(html),
            AliReply::Answer(inner) => inner,
            AliReply::Lost => {
                ctx.settings.lose_answer().await;
                json!({"code": "20000", "msg": "Service Currently Unavailable",
                    "sub_code": "isp.unknow-error", "sub_msg": "系统繁忙"})
            }
        };
        let text = alipay_json(&inner);
        let cert_sn = call
            .cert_mode
            .then_some(self.material.alipay_cert_sn.as_str());
        json_answer(self.answers.sign_answer(&call.method, &text, cert_sn))
    }

    /// The parameters, the public ones, the signature and the mode; the
    /// unsigned gateway error otherwise.
    fn check(&self, request: &LocalRequest) -> Result<Call, LocalResponse> {
        let params = params(request)
            .map_err(|e| gateway_error("error_response", "40002", "isv.invalid-parameter", e))?;
        let method = params.get("method").cloned().unwrap_or_default();
        let key = if method.is_empty() {
            "error_response".to_owned()
        } else {
            format!("{}_response", method.replace('.', "_"))
        };
        let refuse =
            |(code, sub_code, sub_msg): Refusal| gateway_error(&key, code, sub_code, sub_msg);
        public_params(&params).map_err(refuse)?;
        if !self.signed_by_our_app(&params) {
            return Err(refuse(("40002", "isv.invalid-signature", "无效签名")));
        }
        let cert_mode = self
            .check_cert_mode(&method, &params)
            .map_err(|(code, sub)| refuse((code, sub, "证书序列号无效")))?;
        let biz = match params.get("biz_content") {
            None => Value::Object(serde_json::Map::new()),
            Some(text) => serde_json::from_str::<Value>(text)
                .ok()
                .filter(Value::is_object)
                .ok_or_else(|| {
                    refuse((
                        "40002",
                        "isv.invalid-parameter",
                        "biz_content 不是 JSON 对象",
                    ))
                })?,
        };
        Ok(Call {
            method,
            params,
            biz,
            cert_mode,
        })
    }

    /// RSA2 by our app key over the sorted parameters but `sign`.
    fn signed_by_our_app(&self, params: &BTreeMap<String, String>) -> bool {
        let content = params
            .iter()
            .filter(|(k, v)| k.as_str() != "sign" && !v.is_empty())
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        params
            .get("sign")
            .and_then(|s| STANDARD.decode(s).ok())
            .and_then(|bytes| Signature::try_from(bytes.as_slice()).ok())
            .is_some_and(|s| self.app.verify(content.as_bytes(), &s).is_ok())
    }

    /// Certificate mode when `app_cert_sn` is given (then both SNs must be
    /// ours); `alipay.fund.trans.*` requires it.
    fn check_cert_mode(
        &self,
        method: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<bool, (&'static str, &'static str)> {
        let (app_sn, root_sn) = (params.get("app_cert_sn"), params.get("alipay_root_cert_sn"));
        match app_sn {
            None if method.starts_with(CERT_ONLY_PREFIX) => {
                Err(("40001", "isv.missing-app-cert-sn"))
            }
            None => Ok(false),
            Some(sn) if *sn != self.material.alipay_app_cert_sn => {
                Err(("40002", "isv.invalid-app-cert-sn"))
            }
            Some(_) if root_sn != Some(&self.material.alipay_root_cert_sn) => {
                Err(("40002", "isv.invalid-alipay-root-cert-sn"))
            }
            Some(_) => Ok(true),
        }
    }
}

/// A gateway refusal: `code`, `sub_code`, `sub_msg`.
type Refusal = (&'static str, &'static str, &'static str);

/// The public parameters: present (`40001`) and valid (`40002`).
fn public_params(params: &BTreeMap<String, String>) -> Result<(), Refusal> {
    for (name, sub_code) in [
        ("method", "isv.missing-method"),
        ("sign", "isv.missing-signature"),
        ("sign_type", "isv.missing-signature-type"),
        ("app_id", "isv.missing-app-id"),
        ("timestamp", "isv.missing-timestamp"),
        ("version", "isv.missing-version"),
    ] {
        if params.get(name).is_none_or(String::is_empty) {
            return Err(("40001", sub_code, "缺少必选参数"));
        }
    }
    let param = |name: &str| params.get(name).map(String::as_str).unwrap_or_default();
    if param("app_id") != ALIPAY_APP_ID {
        return Err(("40002", "isv.invalid-app-id", "无效的AppID参数"));
    }
    if param("sign_type") != "RSA2" {
        return Err(("40002", "isv.invalid-signature-type", "无效的签名类型"));
    }
    if NaiveDateTime::parse_from_str(param("timestamp"), "%Y-%m-%d %H:%M:%S").is_err() {
        return Err(("40002", "isv.invalid-timestamp", "非法的时间戳参数"));
    }
    if !param("charset").is_empty() && !param("charset").eq_ignore_ascii_case("utf-8") {
        return Err(("40002", "isv.invalid-charset", "字符集错误"));
    }
    Ok(())
}

/// Query and form parameters together (the official SDKs split them);
/// a parameter given twice is refused.
fn params(request: &LocalRequest) -> Result<BTreeMap<String, String>, &'static str> {
    let form = header(request, "content-type")
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let body: &[u8] = if form { &request.body } else { b"" };
    let mut params = BTreeMap::new();
    let pairs =
        form_urlencoded::parse(request.query.as_bytes()).chain(form_urlencoded::parse(body));
    for (k, v) in pairs {
        if params.len() == MAX_PARAMS || params.insert(k.into_owned(), v.into_owned()).is_some() {
            return Err("参数重复或过多");
        }
    }
    Ok(params)
}

/// The JSON text Alipay writes: compact, `/` escaped as `\/`.
fn alipay_json(value: &Value) -> String {
    value.to_string().replace('/', "\\/")
}

/// An unsigned gateway error under `key`.
fn gateway_error(key: &str, code: &str, sub_code: &str, sub_msg: &str) -> LocalResponse {
    let msg = if code == "40001" {
        "Missing Required Arguments"
    } else {
        "Invalid Arguments"
    };
    let mut body = serde_json::Map::new();
    body.insert(
        key.to_owned(),
        json!({"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg}),
    );
    json_answer(Value::Object(body).to_string())
}

fn json_answer(text: String) -> LocalResponse {
    LocalResponse {
        status: 200,
        headers: vec![(
            "content-type".into(),
            "application/json;charset=utf-8".into(),
        )],
        body: text.into_bytes(),
    }
}

fn page(html: String) -> LocalResponse {
    LocalResponse {
        status: 200,
        headers: vec![("content-type".into(), "text/html;charset=utf-8".into())],
        body: html.into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_escape_slashes_like_alipay() {
        assert_eq!(
            alipay_json(&json!({"qr_code": "https://qr.alipay.com/bax1"})),
            r#"{"qr_code":"https:\/\/qr.alipay.com\/bax1"}"#
        );
    }

    #[test]
    fn query_and_form_parameters_merge_and_duplicates_are_refused() {
        let request = LocalRequest {
            query: "a=1&b=x+y".into(),
            headers: vec![(
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: b"c=%E5%BC%A0".to_vec(),
            ..LocalRequest::default()
        };
        let p = params(&request).unwrap();
        assert_eq!(
            (p["a"].as_str(), p["b"].as_str(), p["c"].as_str()),
            ("1", "x y", "张")
        );
        let twice = LocalRequest {
            body: b"a=2".to_vec(),
            ..request
        };
        assert!(params(&twice).is_err());
    }
}
