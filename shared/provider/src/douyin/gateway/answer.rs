//! Ecpay answers as the API pages document them, read leniently (unknown
//! fields ignored, documented fields optional) so that the mapping tables,
//! not the parser, decide what a missing field means.
//!
//! Ecpay answers are not signed: the API defines no answer signature (only
//! the callbacks carry a `msg_signature`), so HTTPS to the configured base
//! URL is all that vouches for them. That is why only `err_no == 0` with
//! every documented field present and consistent is ever definitive, and
//! anything unexpected is ambiguous.

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::gateway::{HttpResponse, TransportError};

/// Largest answer read; a documented answer is well under 2 KiB.
pub(super) const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Longest piece of `err_tips` or `msg` kept in an outcome.
const MAX_TIPS_CHARS: usize = 128;

/// `create_order`: `{"err_no":0,"err_tips":"","data":{"order_id","order_token"}}`
/// (https://developer.open-douyin.com/docs/resource/zh-CN/mini-app/develop/server/ecpay/pay-list/pay).
#[derive(Debug, Deserialize)]
pub(super) struct CreateOrderAnswer {
    pub err_no: i64,
    pub err_tips: Option<String>,
    pub data: Option<CashierOrder>,
}

#[derive(Debug, Deserialize)]
pub(super) struct CashierOrder {
    pub order_id: Option<String>,
    pub order_token: Option<String>,
}

/// `query_order`: `{"err_no","err_tips","out_order_no","order_id",
/// "payment_info":{"total_fee","order_status","pay_time","way",…}}`
/// (https://developer.open-douyin.com/docs/resource/zh-CN/mini-app/develop/server/ecpay/pay-list/query).
#[derive(Debug, Deserialize)]
pub(super) struct QueryOrderAnswer {
    pub err_no: i64,
    pub err_tips: Option<String>,
    pub out_order_no: Option<String>,
    pub order_id: Option<String>,
    pub payment_info: Option<PaymentInfo>,
}

#[derive(Debug, Deserialize)]
pub(super) struct PaymentInfo {
    pub total_fee: Option<i64>,
    pub order_status: Option<String>,
}

impl QueryOrderAnswer {
    pub fn order_status(&self) -> Option<&str> {
        self.payment_info.as_ref()?.order_status.as_deref()
    }
}

/// `create_refund`: `{"err_no","err_tips","refund_no"}`
/// (https://developer.open-douyin.com/docs/resource/zh-CN/mini-app/develop/server/ecpay/refund-list/refund).
#[derive(Debug, Deserialize)]
pub(super) struct CreateRefundAnswer {
    pub err_no: i64,
    pub err_tips: Option<String>,
}

/// `query_refund`: `{"err_no","err_tips","refundInfo":{"refund_no",
/// "refund_amount","refund_status","refunded_at","is_all_settled","cp_extra","msg"}}`
/// (https://developer.open-douyin.com/docs/resource/zh-CN/mini-app/develop/server/ecpay/refund-list/query).
#[derive(Debug, Deserialize)]
pub(super) struct QueryRefundAnswer {
    pub err_no: i64,
    pub err_tips: Option<String>,
    #[serde(rename = "refundInfo")]
    pub refund_info: Option<RefundInfo>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RefundInfo {
    pub refund_no: Option<String>,
    pub refund_status: Option<String>,
    pub msg: Option<String>,
}

impl QueryRefundAnswer {
    pub fn refund_status(&self) -> Option<&str> {
        self.refund_info.as_ref()?.refund_status.as_deref()
    }
}

/// The answer's JSON, or why it is ambiguous: no answer, an HTTP status
/// other than 200, an oversized or unreadable body. Never quotes the body.
pub(super) fn read<T: DeserializeOwned>(
    operation: &str,
    sent: Result<HttpResponse, TransportError>,
) -> Result<T, String> {
    let response = sent.map_err(|e| format!("{operation}: {e}"))?;
    if response.status != 200 {
        return Err(format!("{operation}: HTTP {}", response.status));
    }
    if response.body.len() > MAX_ANSWER_BYTES {
        return Err(format!(
            "{operation}: answer of {} bytes is over {MAX_ANSWER_BYTES}",
            response.body.len()
        ));
    }
    serde_json::from_slice(&response.body).map_err(|e| {
        let kind = match e.classify() {
            serde_json::error::Category::Data => "a documented field has the wrong type",
            _ => "not JSON",
        };
        format!("{operation}: answer unreadable ({kind})")
    })
}

/// Provider text (`err_tips`, `msg`) short enough to keep in an outcome.
pub(super) fn tips(text: Option<&str>) -> String {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => t.chars().take(MAX_TIPS_CHARS).collect(),
        None => crate::notice::NO_REASON.to_owned(),
    }
}

/// A documented id the answer must carry: present, non-blank, at most
/// `max_len` bytes and free of control characters.
pub(super) fn present(id: Option<&str>, max_len: usize) -> Option<&str> {
    id.map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= max_len && !t.chars().any(char::is_control))
}
