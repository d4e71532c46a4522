//! The notice as WeChat Pay sends it: the envelope, its encrypted resource,
//! the resources' plaintext, and the message the signature covers.

use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Envelope {
    pub(super) id: String,
    pub(super) create_time: String,
    pub(super) resource_type: String,
    pub(super) event_type: String,
    #[serde(default)]
    pub(super) summary: String,
    pub(super) resource: Resource,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Resource {
    pub(super) algorithm: String,
    pub(super) ciphertext: String,
    #[serde(default)]
    pub(super) associated_data: String,
    #[serde(default)]
    pub(super) original_type: String,
    pub(super) nonce: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Transaction {
    pub(super) mchid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) appid: Option<String>,
    pub(super) out_trade_no: String,
    pub(super) transaction_id: String,
    pub(super) trade_state: String,
    pub(super) success_time: String,
    pub(super) amount: TransactionAmount,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) payer: Option<OpenId>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct TransactionAmount {
    pub(super) total: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) payer_total: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) currency: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct OpenId {
    pub(super) openid: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Refund {
    pub(super) mchid: String,
    pub(super) out_trade_no: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) transaction_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) out_refund_no: Option<String>,
    pub(super) refund_id: String,
    pub(super) refund_status: String,
    pub(super) success_time: String,
    pub(super) amount: RefundAmount,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct RefundAmount {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) total: Option<i64>,
    pub(super) refund: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) payer_total: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) payer_refund: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Instalment {
    pub(super) mchid: String,
    pub(super) out_trade_no: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) transaction_id: Option<String>,
    pub(super) period: u8,
    pub(super) amount: InstalmentAmount,
    pub(super) deduct_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) fail_reason: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct InstalmentAmount {
    pub(super) total: i64,
}

/// `MCHTRANSFER.BILL.FINISHED`'s resource
/// (https://pay.weixin.qq.com/doc/v3/merchant/4012712115).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct TransferBill {
    pub(super) mchid: String,
    pub(super) out_bill_no: String,
    pub(super) transfer_bill_no: String,
    pub(super) state: String,
    pub(super) transfer_amount: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) fail_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) openid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) create_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) update_time: Option<String>,
}

/// The record any resource names (for a notice we cannot apply).
#[derive(Debug, Default, Deserialize)]
pub(super) struct Names {
    #[serde(default)]
    pub(super) out_trade_no: Option<String>,
    #[serde(default)]
    pub(super) out_bill_no: Option<String>,
}

/// What the platform key signs: `"{timestamp}\n{nonce}\n{body}\n"`.
pub(super) fn signed_message(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(timestamp.len() + nonce.len() + body.len() + 3);
    for part in [timestamp.as_bytes(), nonce.as_bytes(), body] {
        message.extend_from_slice(part);
        message.push(b'\n');
    }
    message
}
