//! The provider's side (`signers` feature): encrypts the resource with the
//! API v3 key and signs the notice with the platform key, as WeChat Pay does,
//! for tests and the local stack.

use std::fmt;

use aes_gcm::aead::{Aead, OsRng, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use qrpay_domain::{
    Amount, CollectionEvent, CollectionEventKind, PayerAccount, Provider, ProviderRef, Secret,
};
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use rsa::RsaPrivateKey;
use sha2::Sha256;

use super::bill_no::out_bill_no;
use super::wire::{
    signed_message, Envelope, Instalment, InstalmentAmount, OpenId, Refund, RefundAmount, Resource,
    Transaction, TransactionAmount, TransferBill,
};
use super::{
    ALGORITHM, API_V3_KEY_LEN, CNY, GCM_NONCE_LEN, HEADER_NONCE, HEADER_SERIAL, HEADER_SIGNATURE,
    HEADER_SIGNATURE_TYPE, HEADER_TIMESTAMP, INSTALMENT_DEDUCTED, INSTALMENT_DEDUCT_FAILED,
    REFUND_SUCCESS, RESOURCE_TYPE, SUCCESS, TRANSACTION_SUCCESS, TRANSFER_BILL_FINISHED,
};
use crate::callback::TransferFinished;
use crate::notice::{
    check_config_id, in_beijing, random_token, ConfigError, NoticeSigner, SignedNotice,
};

/// Length of the header nonce a signer draws.
const HEADER_NONCE_LEN: usize = 32;

/// Produces genuine WeChat Pay notices: the platform's private key and its
/// serial, the merchant's API v3 key and mchid.
#[derive(Clone)]
pub struct WechatpaySigner {
    mchid: String,
    serial: String,
    key: SigningKey<Sha256>,
    api_v3_key: Secret,
}

impl fmt::Debug for WechatpaySigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatpaySigner")
            .field("mchid", &self.mchid)
            .field("serial", &self.serial)
            .field("key", &"***")
            .field("api_v3_key", &self.api_v3_key)
            .finish()
    }
}

impl WechatpaySigner {
    pub fn new(
        mchid: &str,
        serial: &str,
        platform_key: RsaPrivateKey,
        api_v3_key: Secret,
    ) -> Result<WechatpaySigner, ConfigError> {
        check_config_id("mchid", mchid)?;
        check_config_id("platform key serial", serial)?;
        if api_v3_key.expose().len() != API_V3_KEY_LEN {
            return Err(ConfigError::Invalid("api_v3_key (32 bytes)"));
        }
        Ok(WechatpaySigner {
            mchid: mchid.to_owned(),
            serial: serial.to_owned(),
            key: SigningKey::new(platform_key),
            api_v3_key,
        })
    }

    /// The plaintext resource, its event type, summary and associated data.
    fn resource(
        &self,
        event: &CollectionEvent,
    ) -> (Vec<u8>, &'static str, &'static str, &'static str) {
        let order = event.order_id.to_string();
        let at = beijing_rfc3339(event.occurred_at);
        let (json, event_type, summary, aad) = match &event.kind {
            CollectionEventKind::PaymentSucceeded {
                provider_txn_id,
                amount,
                payer,
            } => (
                serde_json::to_vec(&self.transaction(
                    order,
                    provider_txn_id,
                    amount,
                    at,
                    payer.as_ref().and_then(|p| p.account.as_ref()),
                )),
                TRANSACTION_SUCCESS,
                "支付成功",
                "transaction",
            ),
            CollectionEventKind::RefundSucceeded {
                refund_id,
                amount,
                our_refund,
            } => (
                serde_json::to_vec(&Refund {
                    out_refund_no: our_refund.as_ref().map(|r| r.to_string()),
                    ..self.refund(order, refund_id, amount, at)
                }),
                REFUND_SUCCESS,
                "退款成功",
                "refund",
            ),
            CollectionEventKind::InstalmentDeducted {
                provider_txn_id,
                period,
                amount,
            } => (
                serde_json::to_vec(&Instalment {
                    transaction_id: Some(provider_txn_id.to_string()),
                    ..self.instalment(order, *period, amount, at)
                }),
                INSTALMENT_DEDUCTED,
                "分期扣款成功",
                "instalment",
            ),
            CollectionEventKind::InstalmentDeductionFailed {
                period,
                amount,
                reason,
            } => (
                serde_json::to_vec(&Instalment {
                    fail_reason: Some(reason.clone()),
                    ..self.instalment(order, *period, amount, at)
                }),
                INSTALMENT_DEDUCT_FAILED,
                "分期扣款失败",
                "instalment",
            ),
        };
        (
            json.expect("a resource always serializes"),
            event_type,
            summary,
            aad,
        )
    }

    /// A successful payment's resource.
    fn transaction(
        &self,
        out_trade_no: String,
        transaction_id: &ProviderRef,
        amount: &Amount,
        success_time: String,
        account: Option<&PayerAccount>,
    ) -> Transaction {
        Transaction {
            mchid: self.mchid.clone(),
            appid: None,
            out_trade_no,
            transaction_id: transaction_id.to_string(),
            trade_state: SUCCESS.into(),
            success_time,
            amount: TransactionAmount {
                total: amount.fen(),
                payer_total: Some(amount.fen()),
                currency: Some(CNY.into()),
            },
            payer: account.map(|a| OpenId {
                openid: a.expose().to_owned(),
            }),
        }
    }

    /// A successful refund's resource.
    fn refund(
        &self,
        out_trade_no: String,
        refund_id: &ProviderRef,
        amount: &Amount,
        success_time: String,
    ) -> Refund {
        Refund {
            mchid: self.mchid.clone(),
            out_trade_no,
            transaction_id: None,
            out_refund_no: None,
            refund_id: refund_id.to_string(),
            refund_status: SUCCESS.into(),
            success_time,
            amount: RefundAmount {
                total: None,
                refund: amount.fen(),
                payer_total: None,
                payer_refund: Some(amount.fen()),
            },
        }
    }

    /// An instalment deduction's resource, without the transaction id of a
    /// deduction or the reason of a failure.
    fn instalment(
        &self,
        out_trade_no: String,
        period: u8,
        amount: &Amount,
        deduct_time: String,
    ) -> Instalment {
        Instalment {
            mchid: self.mchid.clone(),
            out_trade_no,
            transaction_id: None,
            period,
            amount: InstalmentAmount {
                total: amount.fen(),
            },
            deduct_time,
            fail_reason: None,
        }
    }
}

impl NoticeSigner for WechatpaySigner {
    fn provider(&self) -> Provider {
        Provider::Wechatpay
    }

    fn sign(&self, event: &CollectionEvent, now: DateTime<Utc>) -> SignedNotice {
        let (plain, event_type, summary, aad) = self.resource(event);
        self.seal(
            event.notification_id.as_str(),
            event_type,
            summary,
            &plain,
            aad,
            now,
        )
    }
}

impl WechatpaySigner {
    /// A notice of any `event_type` around `plaintext` (the resource as
    /// JSON text), encrypted with `associated_data`: tests use it for notices
    /// the typed events cannot express.
    pub fn sign_resource(
        &self,
        notification_id: &str,
        event_type: &str,
        plaintext: &[u8],
        associated_data: &str,
        now: DateTime<Utc>,
    ) -> SignedNotice {
        self.seal(
            notification_id,
            event_type,
            "",
            plaintext,
            associated_data,
            now,
        )
    }

    /// `MCHTRANSFER.BILL.FINISHED` for a transfer: `SUCCESS`, or `FAIL` with
    /// the failure as `fail_reason`
    /// (https://pay.weixin.qq.com/doc/v3/merchant/4012712115).
    pub fn sign_transfer(&self, transfer: &TransferFinished, now: DateTime<Utc>) -> SignedNotice {
        let out_bill_no =
            out_bill_no(&transfer.out_bill_no).unwrap_or_else(|_| transfer.out_bill_no.to_string());
        let bill = TransferBill {
            mchid: self.mchid.clone(),
            out_bill_no,
            transfer_bill_no: transfer.provider_ref.clone(),
            state: if transfer.failure.is_some() {
                "FAIL"
            } else {
                SUCCESS
            }
            .into(),
            transfer_amount: transfer.amount.fen(),
            fail_reason: transfer.failure.clone(),
            openid: None,
            create_time: Some(beijing_rfc3339(now)),
            update_time: Some(beijing_rfc3339(now)),
        };
        let plain = serde_json::to_vec(&bill).expect("a transfer bill always serializes");
        self.seal(
            &transfer.notice_id,
            TRANSFER_BILL_FINISHED,
            "商家转账单据终态通知",
            &plain,
            "mch_payment",
            now,
        )
    }

    /// Encrypts `plain` with the API v3 key and signs the envelope.
    fn seal(
        &self,
        notification_id: &str,
        event_type: &str,
        summary: &str,
        plain: &[u8],
        aad: &str,
        now: DateTime<Utc>,
    ) -> SignedNotice {
        let nonce = random_token(GCM_NONCE_LEN);
        let cipher = Aes256Gcm::new_from_slice(self.api_v3_key.expose().as_bytes())
            .expect("the API v3 key is 32 bytes, checked in new");
        let ciphertext = cipher
            .encrypt(
                Nonce::from_slice(nonce.as_bytes()),
                Payload {
                    msg: plain,
                    aad: aad.as_bytes(),
                },
            )
            .expect("AES-GCM encrypts any notice-sized plaintext");
        let envelope = Envelope {
            id: notification_id.into(),
            create_time: beijing_rfc3339(now),
            resource_type: RESOURCE_TYPE.into(),
            event_type: event_type.into(),
            summary: summary.into(),
            resource: Resource {
                algorithm: ALGORITHM.into(),
                ciphertext: STANDARD.encode(ciphertext),
                associated_data: aad.into(),
                original_type: aad.into(),
                nonce,
            },
        };
        let body = serde_json::to_vec(&envelope).expect("an envelope always serializes");
        self.signed(body, now)
    }

    /// The body with the four signature headers WeChat sends.
    fn signed(&self, body: Vec<u8>, now: DateTime<Utc>) -> SignedNotice {
        let timestamp = now.timestamp().to_string();
        let header_nonce = random_token(HEADER_NONCE_LEN);
        let signature = self.key.sign_with_rng(
            &mut OsRng,
            &signed_message(&timestamp, &header_nonce, &body),
        );
        SignedNotice {
            headers: vec![
                (HEADER_TIMESTAMP.into(), timestamp),
                (HEADER_NONCE.into(), header_nonce),
                (
                    HEADER_SIGNATURE.into(),
                    STANDARD.encode(signature.to_bytes()),
                ),
                (HEADER_SERIAL.into(), self.serial.clone()),
                (
                    HEADER_SIGNATURE_TYPE.into(),
                    "WECHATPAY2-SHA256-RSA2048".into(),
                ),
            ],
            content_type: "application/json",
            body,
        }
    }
}

/// WeChat's time format: `2026-03-01T10:00:00+08:00`.
fn beijing_rfc3339(instant: DateTime<Utc>) -> String {
    in_beijing(instant)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}
