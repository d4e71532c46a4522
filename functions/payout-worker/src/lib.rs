//! `payout-worker`: hands each payout to the provider exactly once and
//! settles it (SPEC §4 "Execution rules"), and the sweeper that brings every
//! payout to a final state and closes orders that expired unpaid (SPEC §10).
//!
//! Never twice: the provider's idempotency key is the payout id
//! (`out_bill_no`); a payout found already `PROCESSING` is *queried* first
//! and re-sent only when the provider says it has no such transfer.
//! Never lost: an ambiguous answer leaves the payout `PROCESSING` and the
//! message is retried with growing delay; the sweeper catches the rest.
//!
//! Each payout goes through the provider that collected its order (SPEC §9):
//! the worker holds one transfer channel per configured provider. Merchant
//! refunds share the queue and the sweeper (`refunds`, `refund_sweep`).

pub mod batch;
pub mod expiry;
pub mod refund_sweep;
pub mod refunds;
pub mod sweeper;

use std::sync::Arc;

use qrpay_domain::execution::bounded_detail;
use qrpay_domain::{
    AttemptAction, AttemptOutcome, Clock, PayeeAction, Payout, PayoutAttempt, PayoutStatus,
    Provider,
};
use qrpay_provider::gateway::Gateways;
use qrpay_provider::{Payee, QueryOutcome, TransferOutcome, TransferProvider, TransferRequest};
use qrpay_queue::publish::Publisher;
use qrpay_queue::PayoutMessage;
use qrpay_store::alerts::Alerts;
use qrpay_store::settle::{settle_failure, settle_success};
use qrpay_store::{CollectionStore, PayoutError, PayoutStore, RefundStore, StoreError, Transition};

/// What to do with a payout's message after one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The payout is final (or unknown): delete the message.
    Done,
    /// The provider could not say yet: deliver the message again later.
    RetryLater,
    /// The transfer waits for the payee (hours, not seconds): delete the
    /// message; the sweeper queries it until it is final.
    AwaitingPayee,
}

pub struct Worker {
    pub payouts: Arc<dyn PayoutStore>,
    pub refunds: Arc<dyn RefundStore>,
    pub collection: Arc<dyn CollectionStore>,
    /// The transfer channel and refund gateway of each configured provider.
    pub gateways: Gateways,
    pub clock: Arc<dyn Clock>,
    /// Where a provider contradicting a final payout is raised.
    pub alerts: Arc<dyn Alerts>,
    /// Where a payment the sweeper finds is told to the POS that issued the
    /// order (`pos/{device_id}/order/result`, SPEC §11); `None` where no
    /// device can be reached.
    pub pos: Option<Arc<dyn Publisher>>,
}

impl Worker {
    /// One step for one payout. Duplicate, late and out-of-order deliveries
    /// are harmless: a final payout is left alone.
    pub async fn execute(&self, message: &PayoutMessage) -> Result<Step, StoreError> {
        let Some(payout) = self
            .payouts
            .get_payout(&message.shop_id, &message.payout_id)
            .await?
        else {
            tracing::warn!(payout_id = %message.payout_id, "message for an unknown payout; dropped");
            return Ok(Step::Done);
        };
        if payout.status.is_final() {
            return Ok(Step::Done);
        }
        let Some(channel) = self.channel(&payout) else {
            return self.no_channel(&payout).await;
        };
        let channel = channel.as_ref();
        match payout.status {
            PayoutStatus::Succeeded | PayoutStatus::Failed => Ok(Step::Done),
            PayoutStatus::Processing => self.resume(channel, &payout).await,
            PayoutStatus::Pending => {
                let now = self.clock.now();
                match self
                    .payouts
                    .start_payout(&payout.shop_id, &payout.payout_id, now)
                    .await
                    .map_err(store_error)?
                {
                    // We moved it: nobody has sent it yet.
                    Transition::Moved(started) => self.send(channel, &started).await,
                    Transition::Unchanged(current)
                        if current.status == PayoutStatus::Processing =>
                    {
                        self.resume(channel, &current).await
                    }
                    Transition::Unchanged(_) => Ok(Step::Done),
                }
            }
        }
    }

    /// The provider the payout goes through: the one that collected its
    /// order. Payouts reserved before the provider was kept went to the sandbox.
    fn channel(&self, payout: &Payout) -> Option<&Arc<dyn TransferProvider>> {
        self.gateways
            .transfer(payout.provider.unwrap_or(Provider::Sandbox))
    }

    /// No channel for this payout's provider on this stage (its
    /// configuration was removed after the payout was accepted). A pending
    /// payout never reached any provider: it fails and releases everything.
    /// One in progress cannot even be asked about: it waits, and the sweeper
    /// alerts when it is too old.
    async fn no_channel(&self, payout: &Payout) -> Result<Step, StoreError> {
        let provider = payout.provider.unwrap_or(Provider::Sandbox);
        if payout.status == PayoutStatus::Pending {
            let reason = format!("no {provider} transfer channel is configured");
            return self.failed(payout, &reason).await;
        }
        tracing::error!(payout_id = %payout.payout_id, %provider, "payout in progress at a provider that is no longer configured");
        Ok(Step::RetryLater)
    }

    /// A payout already `PROCESSING` may have reached the provider: ask first.
    async fn resume(
        &self,
        channel: &dyn TransferProvider,
        payout: &Payout,
    ) -> Result<Step, StoreError> {
        let outcome = channel.query(&payout.payout_id).await;
        let (recorded, detail) = match &outcome {
            QueryOutcome::Succeeded { provider_ref } => {
                (AttemptOutcome::Succeeded, Some(provider_ref.clone()))
            }
            QueryOutcome::Failed { reason } => (AttemptOutcome::Failed, Some(reason.clone())),
            QueryOutcome::InProgress => (AttemptOutcome::InProgress, None),
            QueryOutcome::AwaitingPayee(_) => (AttemptOutcome::InProgress, Some(AWAITING.into())),
            QueryOutcome::NotFound => (AttemptOutcome::NotFound, None),
            QueryOutcome::Ambiguous { detail } => (AttemptOutcome::Ambiguous, Some(detail.clone())),
        };
        self.record(payout, AttemptAction::Query, recorded, detail)
            .await?;
        match outcome {
            QueryOutcome::Succeeded { provider_ref } => self.succeeded(payout, &provider_ref).await,
            QueryOutcome::Failed { reason } => self.failed(payout, &reason).await,
            // The provider never got it: send it, under the same out_bill_no —
            // unless it is older than the provider remembers (WeChat answers
            // bills of the last 30 days only): a blind resend could pay twice.
            QueryOutcome::NotFound if self.beyond_query_window(payout) => {
                tracing::error!(payout_id = %payout.payout_id, "not found at the provider, but older than its query window: not resent");
                Ok(Step::RetryLater)
            }
            QueryOutcome::NotFound => self.send(channel, payout).await,
            QueryOutcome::AwaitingPayee(action) => self.awaiting_payee(payout, &action).await,
            // Still waiting for the payee: the sweeper keeps asking.
            QueryOutcome::InProgress if payout.payee_action.is_some() => Ok(Step::AwaitingPayee),
            QueryOutcome::InProgress | QueryOutcome::Ambiguous { .. } => Ok(Step::RetryLater),
        }
    }

    async fn send(
        &self,
        channel: &dyn TransferProvider,
        payout: &Payout,
    ) -> Result<Step, StoreError> {
        let order = self
            .collection
            .get_order(&payout.shop_id, &payout.order_id)
            .await?;
        let (provider_txn_id, account) = order
            .map(|o| (o.provider_txn_id.map(|t| t.to_string()), o.payer_account))
            .unwrap_or_default();
        let request = TransferRequest {
            out_bill_no: payout.payout_id.clone(),
            amount: payout.amount,
            payee: Payee {
                shop_id: payout.shop_id.clone(),
                order_id: payout.order_id.clone(),
                provider_txn_id,
                account,
            },
        };
        let outcome = channel.transfer(&request).await;
        let (recorded, detail) = match &outcome {
            TransferOutcome::Succeeded { provider_ref } => {
                (AttemptOutcome::Succeeded, Some(provider_ref.clone()))
            }
            TransferOutcome::Failed { reason } => (AttemptOutcome::Failed, Some(reason.clone())),
            TransferOutcome::InProgress => (AttemptOutcome::InProgress, None),
            TransferOutcome::AwaitingPayee(_) => {
                (AttemptOutcome::InProgress, Some(AWAITING.into()))
            }
            TransferOutcome::Ambiguous { detail } => {
                (AttemptOutcome::Ambiguous, Some(detail.clone()))
            }
        };
        self.record(payout, AttemptAction::Transfer, recorded, detail)
            .await?;
        match outcome {
            TransferOutcome::Succeeded { provider_ref } => {
                self.succeeded(payout, &provider_ref).await
            }
            TransferOutcome::Failed { reason } => self.failed(payout, &reason).await,
            TransferOutcome::AwaitingPayee(action) => self.awaiting_payee(payout, &action).await,
            TransferOutcome::InProgress | TransferOutcome::Ambiguous { .. } => Ok(Step::RetryLater),
        }
    }

    fn beyond_query_window(&self, payout: &Payout) -> bool {
        self.clock.now() - payout.created_at > chrono::Duration::days(RESEND_WINDOW_DAYS)
    }

    /// The provider holds the transfer until the payee confirms: keep what
    /// the payee must be shown on the payout, and let the sweeper follow up.
    async fn awaiting_payee(
        &self,
        payout: &Payout,
        action: &PayeeAction,
    ) -> Result<Step, StoreError> {
        self.payouts
            .await_payee(&payout.shop_id, &payout.payout_id, action)
            .await
            .map_err(store_error)?;
        Ok(Step::AwaitingPayee)
    }

    async fn record(
        &self,
        payout: &Payout,
        action: AttemptAction,
        outcome: AttemptOutcome,
        detail: Option<String>,
    ) -> Result<(), StoreError> {
        let attempt = PayoutAttempt {
            payout_id: payout.payout_id.clone(),
            action,
            outcome,
            detail: detail.map(|d| bounded_detail(&d)),
            at: self.clock.now(),
        };
        tracing::info!(payout_id = %payout.payout_id, action = action.as_str(), outcome = outcome.as_str(), "provider attempt");
        self.payouts.record_attempt(&payout.shop_id, &attempt).await
    }

    /// The provider says the money moved: settle, whoever gets here first.
    pub async fn succeeded(&self, payout: &Payout, provider_ref: &str) -> Result<Step, StoreError> {
        settle_success(
            self.payouts.as_ref(),
            self.alerts.as_ref(),
            payout,
            provider_ref,
            self.clock.now(),
        )
        .await?;
        Ok(Step::Done)
    }

    /// The provider definitively refused: release everything, notify the shop.
    pub async fn failed(&self, payout: &Payout, reason: &str) -> Result<Step, StoreError> {
        settle_failure(
            self.payouts.as_ref(),
            self.alerts.as_ref(),
            payout,
            reason,
            self.clock.now(),
        )
        .await?;
        Ok(Step::Done)
    }
}

fn store_error(err: PayoutError) -> StoreError {
    match err {
        PayoutError::Store(e) => e,
        PayoutError::PayoutNotFound => {
            StoreError::Corrupt("payout vanished during execution".into())
        }
    }
}

/// A payout "not found" at the provider is resent only within this many
/// days of its creation (WeChat keeps transfer bills queryable for 30).
pub const RESEND_WINDOW_DAYS: i64 = 25;

/// The attempt detail of a transfer waiting for the payee's confirmation.
pub const AWAITING: &str = "waiting for the payee to confirm";

/// Delay before the next delivery of a message the provider could not settle
/// yet: 10 s, doubling per receive, at most 15 minutes.
pub fn retry_delay_s(receive_count: u32) -> u32 {
    const BASE_S: u32 = 10;
    const MAX_S: u32 = 900;
    let doublings = receive_count.saturating_sub(1).min(10);
    (BASE_S << doublings).min(MAX_S)
}

#[cfg(test)]
mod tests {
    use super::retry_delay_s;

    #[test]
    fn retry_delay_grows_and_is_bounded() {
        let delays: Vec<u32> = (1..=9).map(retry_delay_s).collect();
        assert_eq!(delays, vec![10, 20, 40, 80, 160, 320, 640, 900, 900]);
        assert_eq!(retry_delay_s(0), 10);
        assert_eq!(retry_delay_s(u32::MAX), 900);
    }
}
