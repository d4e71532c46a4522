//! The provider's side of Douyin Pay notices (`signers` feature): signs a
//! `msg` as Douyin does, for tests and the local stack.

use std::fmt;

use chrono::{DateTime, Utc};
use qrpay_domain::{CollectionEvent, CollectionEventKind, Provider, Secret};

use super::{
    digest, valid_token, Envelope, InstalmentMsg, PaymentMsg, RefundMsg, FAIL, SUCCESS,
    TYPE_INSTALMENT, TYPE_PAYMENT, TYPE_REFUND,
};
use crate::notice::{check_config_id, random_token, ConfigError, NoticeSigner, SignedNotice};

/// Length of the nonce a signer draws.
const NONCE_LEN: usize = 16;

/// Produces genuine Douyin Pay notices for one app with its token.
#[derive(Clone)]
pub struct DouyinSigner {
    app_id: String,
    token: Secret,
}

impl fmt::Debug for DouyinSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DouyinSigner")
            .field("app_id", &self.app_id)
            .field("token", &self.token)
            .finish()
    }
}

impl DouyinSigner {
    pub fn new(app_id: &str, token: Secret) -> Result<DouyinSigner, ConfigError> {
        check_config_id("app_id", app_id)?;
        if !valid_token(&token) {
            return Err(ConfigError::Invalid("token (1-128 bytes)"));
        }
        Ok(DouyinSigner {
            app_id: app_id.to_owned(),
            token,
        })
    }

    /// Signs any `msg` text as Douyin does. Tests use it to build notices the
    /// typed events cannot express.
    pub fn sign_msg(&self, kind: &str, msg: String, now: DateTime<Utc>) -> SignedNotice {
        let timestamp = now.timestamp().to_string();
        let nonce = random_token(NONCE_LEN);
        let signature = hex::encode(digest(self.token.expose(), &timestamp, &nonce, &msg));
        let envelope = Envelope {
            timestamp,
            nonce,
            msg,
            msg_signature: signature,
            kind: kind.to_owned(),
        };
        SignedNotice {
            headers: Vec::new(),
            content_type: "application/json",
            body: serde_json::to_vec(&envelope).expect("an envelope always serializes"),
        }
    }
}

impl NoticeSigner for DouyinSigner {
    fn provider(&self) -> Provider {
        Provider::Douyin
    }

    fn sign(&self, event: &CollectionEvent, now: DateTime<Utc>) -> SignedNotice {
        let appid = self.app_id.clone();
        let cp_orderno = event.order_id.to_string();
        let at = event.occurred_at.timestamp();
        let (kind, msg) = match &event.kind {
            CollectionEventKind::PaymentSucceeded {
                provider_txn_id,
                amount,
                ..
            } => (
                TYPE_PAYMENT,
                serde_json::to_string(&PaymentMsg {
                    appid,
                    cp_orderno,
                    cp_extra: String::new(),
                    way: Some("10".into()),
                    channel_no: None,
                    payment_order_no: None,
                    total_amount: amount.fen(),
                    status: SUCCESS.into(),
                    seller_uid: None,
                    paid_at: Some(at),
                    order_id: Some(provider_txn_id.to_string()),
                }),
            ),
            CollectionEventKind::RefundSucceeded {
                refund_id,
                amount,
                our_refund,
            } => (
                TYPE_REFUND,
                serde_json::to_string(&RefundMsg {
                    appid,
                    cp_orderno: Some(cp_orderno),
                    cp_refundno: our_refund.as_ref().map(|r| r.to_string()),
                    cp_extra: String::new(),
                    refund_amount: amount.fen(),
                    status: SUCCESS.into(),
                    refunded_at: Some(at),
                    message: None,
                    order_id: None,
                    refund_no: refund_id.to_string(),
                }),
            ),
            CollectionEventKind::InstalmentDeducted {
                provider_txn_id,
                period,
                amount,
            } => (
                TYPE_INSTALMENT,
                serde_json::to_string(&InstalmentMsg {
                    appid,
                    cp_orderno,
                    order_id: Some(provider_txn_id.to_string()),
                    period: *period,
                    amount: amount.fen(),
                    status: SUCCESS.into(),
                    reason: None,
                    deducted_at: at,
                }),
            ),
            CollectionEventKind::InstalmentDeductionFailed {
                period,
                amount,
                reason,
            } => (
                TYPE_INSTALMENT,
                serde_json::to_string(&InstalmentMsg {
                    appid,
                    cp_orderno,
                    order_id: None,
                    period: *period,
                    amount: amount.fen(),
                    status: FAIL.into(),
                    reason: Some(reason.clone()),
                    deducted_at: at,
                }),
            ),
        };
        self.sign_msg(kind, msg.expect("a msg always serializes"), now)
    }
}
