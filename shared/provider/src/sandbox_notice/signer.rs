//! The sandbox's own side of its notices (`signers` feature): signs
//! collection and transfer notices for tests and the local stack.

use std::fmt;

use chrono::{DateTime, Utc};
use qrpay_domain::time::rfc3339_beijing;
use qrpay_domain::{Amount, CollectionEvent, CollectionEventKind, Provider, Secret};

use super::{
    check_secret, PayerWire, Wire, HEADER_NAME, INSTALMENT_DEDUCTED, INSTALMENT_DEDUCTION_FAILED,
    PAYMENT_SUCCEEDED, REFUND_SUCCEEDED,
};
use crate::notice::{ConfigError, NoticeSigner, SignedNotice};
use crate::sandbox::TransferNotice;
use crate::signature;

/// Signs sandbox notices, collection and transfer alike.
#[derive(Clone)]
pub struct SandboxSigner {
    secret: Secret,
}

impl fmt::Debug for SandboxSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxSigner")
            .field("secret", &self.secret)
            .finish()
    }
}

impl SandboxSigner {
    pub fn new(secret: Secret) -> Result<SandboxSigner, ConfigError> {
        if !check_secret(&secret) {
            return Err(ConfigError::Invalid("sandbox secret (1-256 bytes)"));
        }
        Ok(SandboxSigner { secret })
    }

    /// Signs any body with `Qrpay-Signature` at `now`.
    pub fn sign_body(&self, body: Vec<u8>, now: DateTime<Utc>) -> SignedNotice {
        let header = signature::sign(self.secret.expose(), now.timestamp(), &body);
        SignedNotice {
            headers: vec![(HEADER_NAME.to_owned(), header)],
            content_type: "application/json",
            body,
        }
    }

    /// A "transfer finished" notice as the sandbox posts it.
    pub fn sign_transfer(&self, notice: &TransferNotice, now: DateTime<Utc>) -> SignedNotice {
        self.sign_body(notice.callback_body().into_bytes(), now)
    }
}

impl NoticeSigner for SandboxSigner {
    fn provider(&self) -> Provider {
        Provider::Sandbox
    }

    fn sign(&self, event: &CollectionEvent, now: DateTime<Utc>) -> SignedNotice {
        self.sign_body(collection_body(event), now)
    }
}

/// The JSON the sandbox posts for a collection event.
fn collection_body(event: &CollectionEvent) -> Vec<u8> {
    let mut wire = Wire {
        notice_id: event.notification_id.to_string(),
        event_type: String::new(),
        order_id: event.order_id.clone(),
        provider_txn_id: None,
        refund_id: None,
        amount: Amount::from_fen(1).expect("1 fen is an amount"),
        period: None,
        reason: None,
        occurred_at: rfc3339_beijing(event.occurred_at),
        payer: None,
    };
    match &event.kind {
        CollectionEventKind::PaymentSucceeded {
            provider_txn_id,
            amount,
            payer,
        } => {
            wire.event_type = PAYMENT_SUCCEEDED.into();
            wire.provider_txn_id = Some(provider_txn_id.to_string());
            wire.amount = *amount;
            wire.payer = payer.as_ref().map(|p| PayerWire {
                name: p.name.clone(),
                phone: p.phone.clone(),
            });
        }
        CollectionEventKind::InstalmentDeducted {
            provider_txn_id,
            period,
            amount,
        } => {
            wire.event_type = INSTALMENT_DEDUCTED.into();
            wire.provider_txn_id = Some(provider_txn_id.to_string());
            wire.period = Some(*period);
            wire.amount = *amount;
        }
        CollectionEventKind::InstalmentDeductionFailed {
            period,
            amount,
            reason,
        } => {
            wire.event_type = INSTALMENT_DEDUCTION_FAILED.into();
            wire.period = Some(*period);
            wire.amount = *amount;
            wire.reason = Some(reason.clone());
        }
        CollectionEventKind::RefundSucceeded {
            refund_id, amount, ..
        } => {
            wire.event_type = REFUND_SUCCEEDED.into();
            wire.refund_id = Some(refund_id.to_string());
            wire.amount = *amount;
        }
    }
    serde_json::to_vec(&wire).expect("a notice always serializes")
}
