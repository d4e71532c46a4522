//! Merchant refunds on the payout queue (BUYER_PAGES §11.4): the worker
//! hands each refund to the provider that collected its order, never twice.
//!
//! - `PENDING → PROCESSING` is a conditional write made *before* the
//!   provider is called; only the worker that made it sends.
//! - A refund found already `PROCESSING` may have reached the provider: it
//!   is *queried* first, and sent again — under the same refund id, which
//!   the provider refunds at most once — only when the provider has no such
//!   refund (`NotFound`).
//! - `Succeeded` settles it (the order's refunded amount, the hold becoming
//!   a debit, one ledger entry); `Failed` releases what it reserved and
//!   leaves the merchant a `REFUND_FAILED` notice; `InProgress`, `NotDoneYet`
//!   (the merchant's provider balance is short) and `Ambiguous` leave it
//!   `PROCESSING` and the message comes back with the queue's growing delay.
//!
//! The provider's refund notices settle through the same store transitions
//! (payment-callback), so whichever of notice, worker and sweeper comes
//! first settles the refund and the others find it settled.

use qrpay_domain::{Refund, RefundStatus};
use qrpay_provider::gateway::{RefundGateway, RefundNo, RefundOutcome, RefundRequest};
use qrpay_queue::RefundMessage;
use qrpay_store::settle::{settle_refund_failure, settle_refund_success};
use qrpay_store::{RefundError, RefundTransition, StoreError};

use crate::{Step, Worker};

impl Worker {
    /// One step for one refund. Duplicate, late and out-of-order deliveries
    /// are harmless: a final refund is left alone.
    pub async fn execute_refund(&self, message: &RefundMessage) -> Result<Step, StoreError> {
        let Some(refund) = self
            .refunds
            .get_refund(&message.shop_id, &message.refund_id)
            .await?
        else {
            tracing::warn!(refund_id = %message.refund_id, "message for an unknown refund; dropped");
            return Ok(Step::Done);
        };
        if refund.status.is_final() {
            return Ok(Step::Done);
        }
        let Some(gateway) = self.gateways.refunds(refund.provider) else {
            return self.no_refund_channel(&refund).await;
        };
        let gateway = gateway.as_ref();
        if refund.status == RefundStatus::Processing {
            return self.resume_refund(gateway, &refund).await;
        }
        let started = self
            .refunds
            .start_refund(&refund.shop_id, &refund.refund_id, self.clock.now())
            .await
            .map_err(refund_store_error)?;
        match started {
            // We moved it: nobody has sent it yet.
            RefundTransition::Moved(started) => self.send_refund(gateway, &started).await,
            RefundTransition::Unchanged(current) if current.status == RefundStatus::Processing => {
                self.resume_refund(gateway, &current).await
            }
            RefundTransition::Unchanged(_) => Ok(Step::Done),
        }
    }

    /// No refund gateway for the refund's provider on this stage any more. A
    /// pending refund never reached a provider: it fails and releases
    /// everything. One in progress cannot be asked about: it waits, and the
    /// sweeper alerts when it is too old.
    async fn no_refund_channel(&self, refund: &Refund) -> Result<Step, StoreError> {
        if refund.status == RefundStatus::Pending {
            let reason = format!("no {} refund gateway is configured", refund.provider);
            return self.refund_failed(refund, &reason).await;
        }
        tracing::error!(refund_id = %refund.refund_id, provider = %refund.provider, "refund in progress at a provider that is no longer configured");
        Ok(Step::RetryLater)
    }

    /// A refund already `PROCESSING` may have reached the provider: ask first.
    async fn resume_refund(
        &self,
        gateway: &dyn RefundGateway,
        refund: &Refund,
    ) -> Result<Step, StoreError> {
        let outcome = gateway
            .query_refund(&refund.order_id, &refund_no(refund)?)
            .await;
        tracing::info!(refund_id = %refund.refund_id, outcome = ?outcome, "refund queried");
        match outcome {
            // The provider never got it: send it, under the same refund id.
            RefundOutcome::NotFound => self.send_refund(gateway, refund).await,
            other => self.refund_settled_by(refund, other).await,
        }
    }

    async fn send_refund(
        &self,
        gateway: &dyn RefundGateway,
        refund: &Refund,
    ) -> Result<Step, StoreError> {
        let order = self
            .collection
            .get_order(&refund.shop_id, &refund.order_id)
            .await?
            .ok_or_else(|| {
                StoreError::Corrupt(format!("{} without its order", refund.refund_id))
            })?;
        let request = RefundRequest {
            refund_no: refund_no(refund)?,
            order_id: refund.order_id.clone(),
            amount: refund.amount,
            order_total: order.amount,
            reason: refund.reason.as_ref().map(|r| r.as_str().to_owned()),
        };
        let outcome = gateway.refund(&request).await;
        tracing::info!(refund_id = %refund.refund_id, outcome = ?outcome, "refund sent");
        match outcome {
            // Just sent and "not found": the answer is not to be trusted;
            // the next attempt queries again.
            RefundOutcome::NotFound => Ok(Step::RetryLater),
            other => self.refund_settled_by(refund, other).await,
        }
    }

    /// What a provider's answer does to the refund.
    async fn refund_settled_by(
        &self,
        refund: &Refund,
        outcome: RefundOutcome,
    ) -> Result<Step, StoreError> {
        match outcome {
            RefundOutcome::Succeeded { provider_refund_id } => {
                settle_refund_success(
                    self.refunds.as_ref(),
                    self.alerts.as_ref(),
                    refund,
                    provider_refund_id.as_deref(),
                    self.clock.now(),
                )
                .await?;
                Ok(Step::Done)
            }
            RefundOutcome::Failed { code, reason } => {
                self.refund_failed(refund, &format!("{code}: {reason}"))
                    .await
            }
            RefundOutcome::InProgress
            | RefundOutcome::NotDoneYet { .. }
            | RefundOutcome::Ambiguous { .. }
            | RefundOutcome::NotFound => Ok(Step::RetryLater),
        }
    }

    async fn refund_failed(&self, refund: &Refund, reason: &str) -> Result<Step, StoreError> {
        settle_refund_failure(
            self.refunds.as_ref(),
            self.alerts.as_ref(),
            refund,
            reason,
            self.clock.now(),
        )
        .await?;
        Ok(Step::Done)
    }
}

/// Our refund id as the provider's refund number (`rf_<ULID>` always fits).
fn refund_no(refund: &Refund) -> Result<RefundNo, StoreError> {
    RefundNo::parse(refund.refund_id.as_str()).map_err(|e| {
        StoreError::Corrupt(format!(
            "refund id {} is no refund number: {e}",
            refund.refund_id
        ))
    })
}

fn refund_store_error(err: RefundError) -> StoreError {
    match err {
        RefundError::Store(e) => e,
        RefundError::RefundNotFound => {
            StoreError::Corrupt("refund vanished during execution".into())
        }
    }
}
