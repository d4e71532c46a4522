//! The provider's side of Alipay notices (`signers` feature): signs a form
//! as Alipay does, for tests and the local stack.

use std::fmt;

use aes_gcm::aead::OsRng;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use qrpay_domain::{CollectionEvent, CollectionEventKind, PayerAccountKind, Provider};
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use rsa::RsaPrivateKey;
use sha2::Sha256;

use super::notify_form::{encoding_of, signed_content};
use super::{
    rsa2, Params, DEDUCT_FAIL, DEDUCT_SUCCESS, INSTALMENT_DEDUCT_SYNC, SIGN_TYPE_RSA2,
    TRADE_STATUS_SYNC, TRADE_SUCCESS,
};
use crate::notice::{check_config_id, in_beijing, ConfigError, NoticeSigner, SignedNotice};

const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";
/// Alipay's times: Beijing wall clock, seconds (refund times add `.SSS`).
const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// Produces genuine Alipay notices for one app, signed with Alipay's private key.
#[derive(Clone)]
pub struct AlipaySigner {
    app_id: String,
    key: SigningKey<Sha256>,
}

impl fmt::Debug for AlipaySigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlipaySigner")
            .field("app_id", &self.app_id)
            .field("key", &"***")
            .finish()
    }
}

impl AlipaySigner {
    pub fn new(
        app_id: &str,
        alipay_private_key: RsaPrivateKey,
    ) -> Result<AlipaySigner, ConfigError> {
        check_config_id("app_id", app_id)?;
        Ok(AlipaySigner {
            app_id: app_id.to_owned(),
            key: SigningKey::new(alipay_private_key),
        })
    }

    /// Signs any parameters as Alipay does and encodes the form body, both
    /// in the charset the `charset` parameter names (`utf-8` when absent or
    /// unknown; `gbk`, `gb2312`). Empty values are signed as `k=`. Tests use
    /// it to build notices the typed events cannot express.
    pub fn sign_params(&self, params: &[(&str, &str)]) -> SignedNotice {
        let mut params: Params = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        params.remove("sign");
        let encoding = params
            .get("charset")
            .and_then(|c| encoding_of(c))
            .unwrap_or(encoding_rs::UTF_8);
        let content = signed_content(&params);
        let signature = self
            .key
            .sign_with_rng(&mut OsRng, &encoding.encode(&content).0);
        params.insert("sign".into(), STANDARD.encode(signature.to_bytes()));
        let body = params
            .iter()
            .map(|(k, v)| format!("{}={}", form_value(encoding, k), form_value(encoding, v)))
            .collect::<Vec<_>>()
            .join("&");
        SignedNotice {
            headers: Vec::new(),
            content_type: FORM,
            body: body.into_bytes(),
        }
    }

    /// An OpenAPI answer as Alipay's gateway writes it:
    /// `{"<method_with_underscores>_response":<inner>,"sign":"…"}`, with
    /// `"alipay_cert_sn"` before `sign` in certificate mode. `inner` is the
    /// exact JSON object text, signed as it is.
    pub fn sign_answer(&self, method: &str, inner: &str, alipay_cert_sn: Option<&str>) -> String {
        let key = format!("{}_response", method.replace('.', "_"));
        let sign = rsa2::sign(&self.key, inner);
        let cert_sn = alipay_cert_sn
            .map(|sn| format!(",\"alipay_cert_sn\":{}", serde_json::Value::from(sn)))
            .unwrap_or_default();
        format!("{{\"{key}\":{inner}{cert_sn},\"sign\":\"{sign}\"}}")
    }
}

/// A form key or value: its bytes in `encoding`, percent-encoded as
/// `application/x-www-form-urlencoded` does (space as `+`).
fn form_value(encoding: &'static encoding_rs::Encoding, text: &str) -> String {
    form_urlencoded::byte_serialize(&encoding.encode(text).0).collect()
}

impl NoticeSigner for AlipaySigner {
    fn provider(&self) -> Provider {
        Provider::Alipay
    }

    fn sign(&self, event: &CollectionEvent, now: DateTime<Utc>) -> SignedNotice {
        let at = in_beijing(event.occurred_at);
        let mut params: Vec<(&str, String)> = vec![
            (
                "notify_time",
                in_beijing(now).format(TIME_FORMAT).to_string(),
            ),
            ("notify_id", event.notification_id.to_string()),
            ("app_id", self.app_id.clone()),
            ("charset", "utf-8".into()),
            ("version", "1.0".into()),
            ("sign_type", SIGN_TYPE_RSA2.into()),
            ("out_trade_no", event.order_id.to_string()),
        ];
        match &event.kind {
            CollectionEventKind::PaymentSucceeded {
                provider_txn_id,
                amount,
                payer,
            } => {
                params.extend([
                    ("notify_type", TRADE_STATUS_SYNC.into()),
                    ("trade_status", TRADE_SUCCESS.into()),
                    ("trade_no", provider_txn_id.to_string()),
                    ("total_amount", amount.to_string()),
                    ("gmt_payment", at.format(TIME_FORMAT).to_string()),
                ]);
                let payer = payer.clone().unwrap_or_default();
                params.extend(payer.name.map(|name| ("buyer_name", name)));
                params.extend(payer.phone.map(|phone| ("buyer_phone", phone)));
                params.extend(payer.account.map(|a| {
                    let name = match a.kind() {
                        PayerAccountKind::AlipayOpenId => "buyer_open_id",
                        _ => "buyer_id",
                    };
                    (name, a.expose().to_owned())
                }));
            }
            CollectionEventKind::RefundSucceeded {
                refund_id,
                amount,
                our_refund,
            } => params.extend([
                ("notify_type", TRADE_STATUS_SYNC.into()),
                ("trade_status", TRADE_SUCCESS.into()),
                // Our out_request_no when we refunded, as Alipay sends it.
                (
                    "out_biz_no",
                    our_refund
                        .as_ref()
                        .map_or_else(|| refund_id.to_string(), |r| r.to_string()),
                ),
                ("refund_fee", amount.to_string()),
                ("send_back_fee", amount.to_string()),
                ("gmt_refund", at.format("%Y-%m-%d %H:%M:%S%.3f").to_string()),
            ]),
            CollectionEventKind::InstalmentDeducted {
                provider_txn_id,
                period,
                amount,
            } => params.extend([
                ("notify_type", INSTALMENT_DEDUCT_SYNC.into()),
                ("trade_no", provider_txn_id.to_string()),
                ("period_no", period.to_string()),
                ("deduct_amount", amount.to_string()),
                ("deduct_status", DEDUCT_SUCCESS.into()),
                ("gmt_deduct", at.format(TIME_FORMAT).to_string()),
            ]),
            CollectionEventKind::InstalmentDeductionFailed {
                period,
                amount,
                reason,
            } => params.extend([
                ("notify_type", INSTALMENT_DEDUCT_SYNC.into()),
                ("period_no", period.to_string()),
                ("deduct_amount", amount.to_string()),
                ("deduct_status", DEDUCT_FAIL.into()),
                ("fail_reason", reason.clone()),
                ("gmt_deduct", at.format(TIME_FORMAT).to_string()),
            ]),
        }
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.sign_params(&pairs)
    }
}
