//! The encrypted resource: opened with the API v3 keys (AES-256-GCM), then
//! read as a payment, a refund or an instalment deduction of our merchant.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use qrpay_domain::{CollectionEventKind, Payer, PayerAccount, PayerAccountKind, RefundId};

use super::bill_no::payout_id_of_bill;
use super::wire::{Instalment, Refund, Resource, Transaction, TransferBill};
use super::{WechatpayVerifier, ALGORITHM, CNY, GCM_NONCE_LEN, SUCCESS};
use crate::callback::TransferFinished;
use crate::notice::{
    amount_from_fen, json_error, period, provider_ref, quoted, reason, CallbackError, Notice,
};

/// Longest transfer bill number or failure reason kept (characters).
const MAX_TRANSFER_TEXT: usize = 128;

impl WechatpayVerifier {
    /// The resource's plaintext, with the first API v3 key that opens it.
    pub(super) fn decrypt(&self, resource: &Resource) -> Result<Vec<u8>, CallbackError> {
        if resource.algorithm != ALGORITHM {
            return Err(CallbackError::Unsupported(format!(
                "resource algorithm {}",
                quoted(&resource.algorithm)
            )));
        }
        if resource.nonce.len() != GCM_NONCE_LEN {
            return Err(CallbackError::malformed("resource nonce must be 12 bytes"));
        }
        let ciphertext = STANDARD
            .decode(&resource.ciphertext)
            .map_err(|_| CallbackError::malformed("resource ciphertext is not base64"))?;
        let nonce = Nonce::from_slice(resource.nonce.as_bytes());
        let payload = || Payload {
            msg: &ciphertext,
            aad: resource.associated_data.as_bytes(),
        };
        self.api_v3_keys
            .iter()
            .filter_map(|key| Aes256Gcm::new_from_slice(key.expose().as_bytes()).ok())
            .find_map(|cipher| cipher.decrypt(nonce, payload()).ok())
            .ok_or_else(|| {
                CallbackError::BadSignature("resource does not decrypt with any API v3 key".into())
            })
    }

    fn our_merchant(&self, mchid: &str) -> Result<(), CallbackError> {
        if mchid != self.mchid {
            return Err(CallbackError::WrongMerchant);
        }
        Ok(())
    }

    pub(super) fn payment(
        &self,
        plain: &[u8],
    ) -> Result<(String, CollectionEventKind, DateTime<Utc>), CallbackError> {
        let t: Transaction =
            serde_json::from_slice(plain).map_err(|e| json_error("resource", &e))?;
        self.our_merchant(&t.mchid)?;
        if t.trade_state != SUCCESS {
            return Err(CallbackError::malformed(
                "TRANSACTION.SUCCESS with trade_state other than SUCCESS",
            ));
        }
        if let Some(currency) = t.amount.currency.as_deref().filter(|c| *c != CNY) {
            return Err(CallbackError::Unsupported(format!(
                "currency {}",
                quoted(currency)
            )));
        }
        let kind = CollectionEventKind::PaymentSucceeded {
            provider_txn_id: provider_ref("transaction_id", &t.transaction_id)?,
            amount: amount_from_fen("amount.total", t.amount.total)?,
            // WeChat identifies the payer by openid only: no name or phone.
            // The openid is what a payout pays back to (restricted data).
            payer: t
                .payer
                .as_ref()
                .and_then(|p| PayerAccount::new(PayerAccountKind::WechatOpenid, &p.openid).ok())
                .map(|account| Payer {
                    account: Some(account),
                    ..Payer::default()
                }),
        };
        Ok((
            t.out_trade_no,
            kind,
            rfc3339("success_time", &t.success_time)?,
        ))
    }

    pub(super) fn refund(
        &self,
        plain: &[u8],
    ) -> Result<(String, CollectionEventKind, DateTime<Utc>), CallbackError> {
        let r: Refund = serde_json::from_slice(plain).map_err(|e| json_error("resource", &e))?;
        self.our_merchant(&r.mchid)?;
        if r.refund_status != SUCCESS {
            return Err(CallbackError::malformed(
                "REFUND.SUCCESS with refund_status other than SUCCESS",
            ));
        }
        let amount = amount_from_fen("amount.refund", r.amount.refund)?;
        if r.amount.total.is_some_and(|total| total < amount.fen()) {
            return Err(CallbackError::malformed(
                "amount.refund is larger than amount.total",
            ));
        }
        let kind = CollectionEventKind::RefundSucceeded {
            refund_id: provider_ref("refund_id", &r.refund_id)?,
            amount,
            our_refund: r
                .out_refund_no
                .as_deref()
                .and_then(|no| RefundId::parse(no).ok()),
        };
        Ok((
            r.out_trade_no,
            kind,
            rfc3339("success_time", &r.success_time)?,
        ))
    }

    pub(super) fn instalment(
        &self,
        plain: &[u8],
        deducted: bool,
    ) -> Result<(String, CollectionEventKind, DateTime<Utc>), CallbackError> {
        let i: Instalment =
            serde_json::from_slice(plain).map_err(|e| json_error("resource", &e))?;
        self.our_merchant(&i.mchid)?;
        let period = period("period", i.period)?;
        let amount = amount_from_fen("amount.total", i.amount.total)?;
        let kind = if deducted {
            let txn = i
                .transaction_id
                .as_deref()
                .ok_or_else(|| CallbackError::malformed("missing field `transaction_id`"))?;
            CollectionEventKind::InstalmentDeducted {
                provider_txn_id: provider_ref("transaction_id", txn)?,
                period,
                amount,
            }
        } else {
            CollectionEventKind::InstalmentDeductionFailed {
                period,
                amount,
                reason: reason(i.fail_reason.as_deref()),
            }
        };
        Ok((
            i.out_trade_no,
            kind,
            rfc3339("deduct_time", &i.deduct_time)?,
        ))
    }
}

impl WechatpayVerifier {
    /// `MCHTRANSFER.BILL.FINISHED`: the payout `out_bill_no` maps back to
    /// (`bill_no`), settled by the bill's final `state`
    /// (https://pay.weixin.qq.com/doc/v3/merchant/4012712115): `SUCCESS`
    /// moved the money; `FAIL` and `CANCELLED` did not and will not.
    pub(super) fn transfer(&self, notice_id: &str, plain: &[u8]) -> Result<Notice, CallbackError> {
        let bill: TransferBill =
            serde_json::from_slice(plain).map_err(|e| json_error("resource", &e))?;
        self.our_merchant(&bill.mchid)?;
        let out_bill_no = payout_id_of_bill(&bill.out_bill_no)
            .map_err(|e| CallbackError::Malformed(format!("out_bill_no: {e}")))?;
        let short = |t: &str| !t.is_empty() && t.chars().count() <= MAX_TRANSFER_TEXT;
        if !short(&bill.transfer_bill_no) || !short(notice_id) {
            return Err(CallbackError::malformed(
                "id and transfer_bill_no must be 1-128 characters",
            ));
        }
        let failure = match bill.state.as_str() {
            SUCCESS => None,
            "FAIL" => Some(reason(bill.fail_reason.as_deref())),
            "CANCELLED" => Some(format!(
                "CANCELLED: {}",
                reason(bill.fail_reason.as_deref())
            )),
            other => {
                return Err(CallbackError::Unsupported(format!(
                    "transfer state {} is not final",
                    quoted(other)
                )))
            }
        };
        Ok(Notice::Transfer(TransferFinished {
            provider: qrpay_domain::Provider::Wechatpay,
            notice_id: notice_id.to_owned(),
            out_bill_no,
            provider_ref: bill.transfer_bill_no,
            amount: amount_from_fen("transfer_amount", bill.transfer_amount)?,
            failure,
        }))
    }
}

fn rfc3339(field: &str, text: &str) -> Result<DateTime<Utc>, CallbackError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| CallbackError::Malformed(format!("{field} must be an RFC 3339 time")))
}
