//! WeChat Pay API v3: payment notices (SPEC §5), and our side of the API
//! (`RequestSigner` for the `Authorization` header and the JSAPI `paySign`;
//! `PlatformKeys` for the answers' signatures, shared with the notices;
//! `encrypt_sensitive` for fields such as a payee's name; `out_bill_no` and
//! `payout_id_of_bill` between our payout ids and transfer bill numbers;
//! `gateway`: collection orders, refunds and transfers over HTTP).
//!
//! Headers `Wechatpay-Timestamp`, `-Nonce`, `-Signature` (base64) and
//! `-Serial`; the signature is SHA256-with-RSA (PKCS#1 v1.5) by the platform
//! key named by the serial over `"{timestamp}\n{nonce}\n{body}\n"`. A
//! signature starting `WECHATPAY/SIGNTEST/` is WeChat's probe and always fails.
//!
//! Body: `{"id","create_time","resource_type":"encrypt-resource","event_type",
//! "summary","resource":{"algorithm":"AEAD_AES_256_GCM","ciphertext","associated_data",
//! "original_type","nonce"}}`; the resource is AES-256-GCM with the API v3 key.
//!
//! Events read: `TRANSACTION.SUCCESS`, `REFUND.SUCCESS`, and our documented
//! monthly-pay extension `INSTALMENT.DEDUCTED` / `INSTALMENT.DEDUCT_FAILED`
//! with resource `{"mchid","out_trade_no","transaction_id","period",
//! "amount":{"total"},"deduct_time","fail_reason"?}` (`transaction_id` is
//! required when deducted, absent or ignored when the deduction failed).
//! `MCHTRANSFER.BILL.FINISHED` (https://pay.weixin.qq.com/doc/v3/merchant/4012712115)
//! with resource `{"mchid","out_bill_no","transfer_bill_no","state":
//! "SUCCESS"|"FAIL"|"CANCELLED","transfer_amount","fail_reason"?,"openid",
//! "create_time","update_time"}` settles a payout. `REFUND.ABNORMAL` and
//! `REFUND.CLOSED` (https://pay.weixin.qq.com/doc/v3/merchant/4012791886),
//! like any other genuine notice we cannot apply, are acknowledged and
//! alerted, never refused. Amounts are integer fen; times RFC 3339.

mod answer;
mod bill_no;
pub mod gateway;
pub mod oauth;
mod platform;
mod request;
mod resource;
mod sensitive;
#[cfg(feature = "signers")]
mod signer;
mod verifier;
mod wire;

pub use answer::AnswerError;
pub use bill_no::{out_bill_no, payout_id_of_bill, BillNoError, OUT_BILL_NO_MAX_LEN};
pub use platform::{PlatformKeys, PUBLIC_KEY_ID_PREFIX};
pub use request::{nonce, JsapiInvoke, RequestSigner, AUTH_SCHEME, NONCE_LEN};
pub use sensitive::{encrypt_sensitive, SensitiveError};
#[cfg(feature = "signers")]
pub use signer::WechatpaySigner;
pub use verifier::WechatpayVerifier;

pub const HEADER_TIMESTAMP: &str = "Wechatpay-Timestamp";
pub const HEADER_NONCE: &str = "Wechatpay-Nonce";
pub const HEADER_SIGNATURE: &str = "Wechatpay-Signature";
pub const HEADER_SERIAL: &str = "Wechatpay-Serial";
pub const HEADER_SIGNATURE_TYPE: &str = "Wechatpay-Signature-Type";
/// WeChat's probe: a notice signed like this must always be refused.
pub const SIGNTEST_PREFIX: &str = "WECHATPAY/SIGNTEST/";

pub const TRANSACTION_SUCCESS: &str = "TRANSACTION.SUCCESS";
pub const REFUND_SUCCESS: &str = "REFUND.SUCCESS";
pub const INSTALMENT_DEDUCTED: &str = "INSTALMENT.DEDUCTED";
pub const INSTALMENT_DEDUCT_FAILED: &str = "INSTALMENT.DEDUCT_FAILED";
pub const REFUND_ABNORMAL: &str = "REFUND.ABNORMAL";
pub const REFUND_CLOSED: &str = "REFUND.CLOSED";
pub const TRANSFER_BILL_FINISHED: &str = "MCHTRANSFER.BILL.FINISHED";

const RESOURCE_TYPE: &str = "encrypt-resource";
const ALGORITHM: &str = "AEAD_AES_256_GCM";
const API_V3_KEY_LEN: usize = 32;
const GCM_NONCE_LEN: usize = 12;
const MAX_NONCE_LEN: usize = 64;
const SUCCESS: &str = "SUCCESS";
const CNY: &str = "CNY";
