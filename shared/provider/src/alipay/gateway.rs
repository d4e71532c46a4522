//! The Alipay adapter of the gateway ports (SPEC §9, GATEWAYS.md §2 and §4):
//! collection orders (`alipay.trade.precreate`, `alipay.trade.wap.pay`,
//! `.query`, `.close`), refunds (`alipay.trade.refund`,
//! `alipay.trade.fastpay.refund.query`) and, in public-key-certificate mode
//! only, transfers (`alipay.fund.trans.uni.transfer`,
//! `alipay.fund.trans.common.query`), and the daily trade bill
//! (`alipay.data.dataservice.bill.downloadurl.query`, `bill`).
//!
//! Every call is one form POST to the configured gateway (`gateway.do`),
//! signed by `RequestSigner`; every answer goes through `AnswerVerifier`
//! before anything in it is believed. What comes back is read once, here, into
//! a `Reply` (a verified success, a verified error with its `code` and
//! `sub_code`, or nothing trustworthy), and each operation maps its `Reply`
//! onto SPEC §4's categories in one table (`collect`, `refund`, `transfer`).
//!
//! Our ids are Alipay's idempotency keys, sent verbatim: the order id as
//! `out_trade_no`, the refund id as `out_request_no`, the payout id as
//! `out_biz_no`. Each `biz_content` is a pure function of the request (no
//! clock in it), so a retry sends the same business parameters.

use std::fmt;
use std::sync::Arc;

use qrpay_domain::{Clock, Provider};
use serde_json::{Map, Value};

use super::{AnswerError, AnswerVerifier, RequestSigner};
use crate::gateway::{Gateways, HttpRequest, HttpResponse, HttpTransport, ANSWER_KEY_MISMATCH};
use crate::notice::reason;

mod bill;
mod bill_zip;
mod collect;
mod config;
mod refund;
mod transfer;

pub use bill::BILL_QUERY;
#[cfg(feature = "signers")]
pub use bill_zip::stored_zip;
pub use bill_zip::{unpack_detail, UnpackError};
pub use config::{AlipayConfig, AlipayKeyMode, DEFAULT_GATEWAY_URL, NOTIFY_PATH};

/// How the gateway takes our parameters (GATEWAYS.md §2.1).
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded;charset=utf-8";

// Gateway `code`s, the same for every method. Public error codes page
// (公共错误码, mirrored at https://open.alitrip.com/docs/doc.htm?articleId=105806&docType=1&treeId=262).
/// The call succeeded; the method's fields say what happened.
const SUCCESS: &str = "10000";
/// 服务不可用: the business system may or may not have acted. Ambiguous.
const UNAVAILABLE: &str = "20000";
/// 业务处理失败: read `sub_code`.
const BUSINESS_FAILED: &str = "40004";
/// 授权权限不足, 缺少必选参数, 非法的参数, 权限不足: refused by the gateway
/// before the business system saw the request.
const REFUSED_BY_GATEWAY: [&str; 4] = ["20001", "40001", "40002", "40006"];

/// The Alipay adapter for one app. Cheap to share (`Arc`); holds no key in
/// its `Debug` output and logs nothing.
pub struct AlipayGateway {
    signer: RequestSigner,
    verifier: AnswerVerifier,
    gateway_url: String,
    notify_url: Option<String>,
    certificate_mode: bool,
    transport: Arc<dyn HttpTransport>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for AlipayGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlipayGateway")
            .field("app_id", &self.signer.app_id())
            .field("gateway_url", &self.gateway_url)
            .field("notify_url", &self.notify_url)
            .field("certificate_mode", &self.certificate_mode)
            .finish()
    }
}

impl AlipayGateway {
    /// Reads the API.md configuration names through `env`: `Ok(None)` when
    /// `ALIPAY_APP_ID` is unset or empty (Alipay is not offered), an error
    /// naming the variable when anything else is missing or invalid (a bad
    /// key rotation must stop the cold start, not fail each payment).
    pub fn from_env(
        env: &dyn Fn(&str) -> Option<String>,
        transport: Arc<dyn HttpTransport>,
        clock: Arc<dyn Clock>,
    ) -> Result<Option<AlipayGateway>, String> {
        match AlipayConfig::from_env(env)? {
            Some(config) => AlipayGateway::new(&config, transport, clock).map(Some),
            None => Ok(None),
        }
    }

    /// Builds the adapter from a configuration: parses and checks every key.
    pub fn new(
        config: &AlipayConfig,
        transport: Arc<dyn HttpTransport>,
        clock: Arc<dyn Clock>,
    ) -> Result<AlipayGateway, String> {
        let (signer, verifier) = config.signer_and_verifier()?;
        Ok(AlipayGateway {
            signer,
            verifier,
            gateway_url: config.gateway_url.clone(),
            notify_url: config.notify_url.clone(),
            certificate_mode: config.is_certificate_mode(),
            transport,
            clock,
        })
    }

    /// Offers Alipay collection, refunds and the trade bill on this stage, and transfers
    /// when the app is in certificate mode (Alipay accepts fund APIs only
    /// there: GATEWAYS.md §2.3; otherwise payouts of Alipay orders are
    /// `PAYOUT_CHANNEL_UNAVAILABLE`).
    pub fn register(self: Arc<Self>, gateways: &mut Gateways) {
        gateways.collection.insert(Provider::Alipay, self.clone());
        gateways.refunds.insert(Provider::Alipay, self.clone());
        gateways.bills.insert(Provider::Alipay, self.clone());
        if self.certificate_mode {
            gateways.transfers.insert(Provider::Alipay, self);
        }
    }

    /// Whether requests carry certificate SNs (and transfers are offered).
    pub fn is_certificate_mode(&self) -> bool {
        self.certificate_mode
    }

    /// One signed call of `method` with `biz_content`, read into a `Reply`.
    /// `echo` is the id the answer must name if it names one (`out_trade_no`,
    /// `out_request_no`, `out_biz_no`): an answer about another id is not
    /// about our request.
    async fn call(
        &self,
        method: &str,
        biz_content: &Value,
        notify: bool,
        echo: (&str, &str),
    ) -> Reply {
        let notify_url = self.notify_url.as_deref().filter(|_| notify);
        let signed = self.signer.sign(
            method,
            &biz_content.to_string(),
            notify_url,
            None,
            self.clock.now(),
        );
        let request = HttpRequest {
            method: http::Method::POST,
            url: self.gateway_url.clone(),
            headers: vec![
                ("Content-Type".into(), FORM_CONTENT_TYPE.into()),
                ("Accept".into(), "application/json".into()),
            ],
            body: signed.form().into_bytes(),
        };
        match self.transport.send(request).await {
            Ok(response) => Reply::read(&self.verifier, method, &response).echoing(echo),
            Err(e) => Reply::Untrusted(format!("no answer from Alipay: {e}")),
        }
    }

    /// The signed `gateway?…` URL a browser is sent to (a page method such
    /// as `alipay.trade.wap.pay`: no server call).
    fn page_url(&self, method: &str, biz_content: &Value, return_url: &str) -> String {
        let signed = self.signer.sign(
            method,
            &biz_content.to_string(),
            self.notify_url.as_deref(),
            Some(return_url),
            self.clock.now(),
        );
        format!("{}?{}", self.gateway_url, signed.form())
    }
}

/// An answer as far as it can be believed.
#[derive(Debug, Clone, PartialEq)]
enum Reply {
    /// `code` 10000: the verified `*_response` object.
    Success(Map<String, Value>),
    /// A verified answer with another `code`.
    Error(ErrorAnswer),
    /// Nothing in it can be believed (transport error, HTTP status other
    /// than 200, unsigned or badly signed, unreadable, about another id):
    /// always ambiguous.
    Untrusted(String),
}

/// A verified error answer. Decisions read `code` and `sub_code` only,
/// never `sub_msg` (Alipay's rule, GATEWAYS.md §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
struct ErrorAnswer {
    code: String,
    sub_code: Option<String>,
    sub_msg: Option<String>,
}

/// How a table reads an error answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorKind<'a> {
    /// `20000`: the service was unavailable; it may have acted.
    Unavailable,
    /// `20001`/`40001`/`40002`/`40006`: refused before the business system.
    RefusedByGateway,
    /// `40004` with this `sub_code`.
    Business(&'a str),
    /// Any other code, or `40004` without `sub_code`.
    Unknown,
}

impl ErrorAnswer {
    fn kind(&self) -> ErrorKind<'_> {
        match (self.code.as_str(), self.sub_code.as_deref()) {
            (UNAVAILABLE, _) => ErrorKind::Unavailable,
            (code, _) if REFUSED_BY_GATEWAY.contains(&code) => ErrorKind::RefusedByGateway,
            (BUSINESS_FAILED, Some(sub_code)) => ErrorKind::Business(sub_code),
            _ => ErrorKind::Unknown,
        }
    }

    /// `code`, `sub_code` and a bounded `sub_msg`: for reasons and details.
    fn describe(&self) -> String {
        let sub_code = self.sub_code.as_deref().unwrap_or("-");
        format!(
            "{} {sub_code}: {}",
            self.code,
            reason(self.sub_msg.as_deref())
        )
    }

    /// The `sub_code`, else the `code`: what a refusal is recorded under.
    fn code(&self) -> String {
        self.sub_code.clone().unwrap_or_else(|| self.code.clone())
    }
}

impl Reply {
    fn read(verifier: &AnswerVerifier, method: &str, response: &HttpResponse) -> Reply {
        if response.status != 200 {
            return Reply::Untrusted(format!("Alipay answered HTTP {}", response.status));
        }
        let object = match verifier.verify_answer(&response.body, method) {
            Ok(Value::Object(object)) => object,
            Ok(_) => return Reply::Untrusted("the answer is not a JSON object".into()),
            // A bad signature or an unknown certificate may be a rotated
            // Alipay key: marked, so the caller can re-read the keys.
            Err(e @ (AnswerError::BadSignature | AnswerError::UnknownCertificate(_))) => {
                return Reply::Untrusted(format!("{ANSWER_KEY_MISMATCH}{e}"))
            }
            Err(e) => return Reply::Untrusted(e.to_string()),
        };
        match text(&object, "code") {
            Some(SUCCESS) => Reply::Success(object),
            Some(code) => Reply::Error(ErrorAnswer {
                code: code.to_owned(),
                sub_code: text(&object, "sub_code").map(str::to_owned),
                sub_msg: text(&object, "sub_msg").map(str::to_owned),
            }),
            None => Reply::Untrusted("the answer has no code".into()),
        }
    }

    /// Refuses an answer that names another id than ours under `key`.
    fn echoing(self, (key, ours): (&str, &str)) -> Reply {
        let named = match &self {
            Reply::Success(object) => text(object, key),
            _ => None,
        };
        match named {
            Some(theirs) if theirs != ours => {
                Reply::Untrusted(format!("the answer is about another {key}"))
            }
            _ => self,
        }
    }
}

/// A present, non-empty string field.
fn text<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    object
        .get(key)
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
}

/// Answers as the gateway's reader makes them, for the state tables' tests.
#[cfg(test)]
mod replies {
    use serde_json::{json, Value};

    use super::{ErrorAnswer, Reply};

    pub(super) fn error(code: &str, sub_code: Option<&str>) -> Reply {
        Reply::Error(ErrorAnswer {
            code: code.into(),
            sub_code: sub_code.map(Into::into),
            sub_msg: Some("说明".into()),
        })
    }

    /// A business failure: `40004` with its `sub_code`.
    pub(super) fn business(sub_code: &str) -> Reply {
        error("40004", Some(sub_code))
    }

    /// A `10000` answer with these fields.
    pub(super) fn success(fields: Value) -> Reply {
        let mut answer = json!({"code": "10000", "msg": "Success"});
        let map = answer.as_object_mut().expect("an object");
        map.extend(fields.as_object().expect("fields are an object").clone());
        Reply::Success(map.clone())
    }
}
