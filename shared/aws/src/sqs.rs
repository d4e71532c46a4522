//! SQS: the payout queue (its DLQ and redrive are set on the queue itself)
//! and the reconcile function's own queue of run requests.

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sqs::error::DisplayErrorContext;
use qrpay_domain::BusinessDate;
use qrpay_queue::{
    PayoutMessage, PayoutQueue, QueueError, Redelivery, RefundMessage, MAX_VISIBILITY_S,
};
use qrpay_reconcile::requests::{RequestError, RunRequest, RunRequests};

use crate::error_text;
use crate::lazy::Lazy;

/// The payout queue.
pub struct SqsQueue {
    client: Lazy<aws_sdk_sqs::Client>,
    queue_url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> SqsQueue {
        SqsQueue {
            client: Lazy::ready(client),
            queue_url: queue_url.into(),
        }
    }

    /// Made on first use (crate::lazy): a route that enqueues nothing never
    /// makes it.
    pub fn from_conf(config: &SdkConfig, queue_url: impl Into<String>) -> SqsQueue {
        SqsQueue {
            client: Lazy::new(config, aws_sdk_sqs::Client::new),
            queue_url: queue_url.into(),
        }
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }
}

impl SqsQueue {
    async fn send(&self, body: String) -> Result<(), QueueError> {
        self.client
            .get()
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| QueueError::Unavailable(DisplayErrorContext(e).to_string()))?;
        Ok(())
    }
}

#[async_trait]
impl PayoutQueue for SqsQueue {
    async fn enqueue(&self, message: &PayoutMessage) -> Result<(), QueueError> {
        self.send(message.to_json()).await?;
        tracing::info!(payout_id = %message.payout_id, "payout enqueued");
        Ok(())
    }

    async fn enqueue_refund(&self, message: &RefundMessage) -> Result<(), QueueError> {
        self.send(message.to_json()).await?;
        tracing::info!(refund_id = %message.refund_id, "refund enqueued");
        Ok(())
    }
}

#[async_trait]
impl Redelivery for SqsQueue {
    async fn delay(&self, receipt_handle: &str, delay_s: u32) -> Result<(), QueueError> {
        let seconds = i32::try_from(delay_s.min(MAX_VISIBILITY_S)).unwrap_or(i32::MAX);
        self.client
            .get()
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds)
            .send()
            .await
            .map_err(|e| QueueError::Unavailable(DisplayErrorContext(e).to_string()))?;
        Ok(())
    }
}

/// Asks for a run by sending a message to the reconcile function's queue.
#[derive(Debug, Clone)]
pub struct SqsRunRequests {
    client: Lazy<aws_sdk_sqs::Client>,
    queue_url: String,
}

impl SqsRunRequests {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> SqsRunRequests {
        SqsRunRequests {
            client: Lazy::ready(client),
            queue_url: queue_url.into(),
        }
    }

    /// Made on first use (crate::lazy).
    pub fn from_conf(config: &SdkConfig, queue_url: impl Into<String>) -> SqsRunRequests {
        SqsRunRequests {
            client: Lazy::new(config, aws_sdk_sqs::Client::new),
            queue_url: queue_url.into(),
        }
    }
}

impl SqsRunRequests {
    async fn send(&self, request: &RunRequest, delay_s: i32) -> Result<(), RequestError> {
        let body = serde_json::to_string(request).map_err(|e| RequestError(e.to_string()))?;
        self.client
            .get()
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .delay_seconds(delay_s)
            .send()
            .await
            .map_err(|e| RequestError(error_text(&e)))?;
        tracing::info!(date = %request.date, delay_s, "reconciliation run requested");
        Ok(())
    }
}

#[async_trait]
impl RunRequests for SqsRunRequests {
    async fn request(&self, date: BusinessDate) -> Result<(), RequestError> {
        self.send(&RunRequest::now(date), 0).await
    }

    /// SQS holds the message back `delay` (at most its 15 minutes).
    async fn ask_again(
        &self,
        request: &RunRequest,
        delay: std::time::Duration,
    ) -> Result<(), RequestError> {
        let delay_s = i32::try_from(delay.as_secs().min(900)).unwrap_or(900);
        self.send(request, delay_s).await
    }
}
