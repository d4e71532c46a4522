//! The payout queue port: an accepted payout is handed to the worker through
//! here. Adapters: SQS (in AWS and against the emulator) and in-memory (the
//! embedded default). Delivery is at least once; the worker makes repeats
//! harmless.

use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_sqs::error::DisplayErrorContext;
use qrpay_domain::{PayoutId, ShopId};
use serde::{Deserialize, Serialize};

/// What the worker needs to find a payout; everything else is in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutMessage {
    pub shop_id: ShopId,
    pub payout_id: PayoutId,
}

impl PayoutMessage {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a message of two ids always serializes")
    }

    pub fn from_json(body: &str) -> Result<PayoutMessage, QueueError> {
        serde_json::from_str(body).map_err(|e| QueueError::Malformed(e.to_string()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    #[error("malformed queue message: {0}")]
    Malformed(String),
}

#[async_trait]
pub trait PayoutQueue: Send + Sync {
    async fn enqueue(&self, message: &PayoutMessage) -> Result<(), QueueError>;
}

/// Puts a received message back on the queue after a delay (SQS: change its
/// visibility), so retries of an unsettled payout slow down.
#[async_trait]
pub trait Redelivery: Send + Sync {
    async fn delay(&self, receipt_handle: &str, delay_s: u32) -> Result<(), QueueError>;
}

/// In-process queue (the embedded default and tests).
#[derive(Debug, Default)]
pub struct MemoryQueue {
    messages: Mutex<VecDeque<PayoutMessage>>,
}

impl MemoryQueue {
    pub fn new() -> MemoryQueue {
        MemoryQueue::default()
    }

    /// Takes up to `max` messages, oldest first.
    pub fn take(&self, max: usize) -> Vec<PayoutMessage> {
        let mut queue = self.messages.lock().unwrap_or_else(|p| p.into_inner());
        let n = max.min(queue.len());
        queue.drain(..n).collect()
    }

    pub fn len(&self) -> usize {
        self.messages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl PayoutQueue for MemoryQueue {
    async fn enqueue(&self, message: &PayoutMessage) -> Result<(), QueueError> {
        self.messages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(message.clone());
        Ok(())
    }
}

/// The SQS payout queue (its DLQ and redrive are set on the queue itself).
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> SqsQueue {
        SqsQueue {
            client,
            queue_url: queue_url.into(),
        }
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }
}

#[async_trait]
impl PayoutQueue for SqsQueue {
    async fn enqueue(&self, message: &PayoutMessage) -> Result<(), QueueError> {
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(message.to_json())
            .send()
            .await
            .map_err(|e| QueueError::Unavailable(DisplayErrorContext(e).to_string()))?;
        tracing::info!(payout_id = %message.payout_id, "payout enqueued");
        Ok(())
    }
}

#[async_trait]
impl Redelivery for SqsQueue {
    async fn delay(&self, receipt_handle: &str, delay_s: u32) -> Result<(), QueueError> {
        let seconds = i32::try_from(delay_s.min(MAX_VISIBILITY_S)).unwrap_or(i32::MAX);
        self.client
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

/// SQS's longest visibility timeout (12 hours).
pub const MAX_VISIBILITY_S: u32 = 43_200;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_queue_is_fifo() {
        let q = MemoryQueue::new();
        let m = |id: &str| PayoutMessage {
            shop_id: ShopId::parse("s").unwrap(),
            payout_id: PayoutId::parse(id).unwrap(),
        };
        q.enqueue(&m("a")).await.unwrap();
        q.enqueue(&m("b")).await.unwrap();
        assert_eq!(q.take(5), vec![m("a"), m("b")]);
        assert!(q.is_empty());
    }

    #[test]
    fn messages_round_trip_and_reject_garbage() {
        let msg = PayoutMessage {
            shop_id: ShopId::parse("s1").unwrap(),
            payout_id: PayoutId::parse("po_1").unwrap(),
        };
        assert_eq!(PayoutMessage::from_json(&msg.to_json()).unwrap(), msg);
        assert!(PayoutMessage::from_json("{\"shop_id\":\"a b\",\"payout_id\":\"x\"}").is_err());
        assert!(PayoutMessage::from_json("not json").is_err());
    }
}
