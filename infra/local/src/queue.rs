//! The payout queue of the local stack: the in-process queue (embedded
//! default) or a real SQS queue (the emulator). The stack's worker loop
//! receives a batch, hands it to the worker function as the SQS event Lambda
//! would deliver, and deletes what the function did not report as failed.

use async_trait::async_trait;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use qrpay_aws::sqs::SqsQueue;
use qrpay_queue::{
    Delivered, MemoryQueue, PayoutMessage, PayoutQueue, QueueError, Redelivery, RefundMessage,
};
use serde_json::{json, Value};

/// Messages handed to the worker per batch (SQS's maximum for a receive).
pub const BATCH: usize = 10;

pub enum LocalQueue {
    Memory(MemoryQueue),
    Sqs {
        queue: SqsQueue,
        client: aws_sdk_sqs::Client,
    },
}

fn unavailable(e: impl std::error::Error) -> QueueError {
    QueueError::Unavailable(DisplayErrorContext(e).to_string())
}

impl LocalQueue {
    /// Up to [`BATCH`] messages; each is invisible until deleted or delayed.
    pub async fn receive(&self) -> Result<Vec<Delivered>, QueueError> {
        match self {
            LocalQueue::Memory(q) => Ok(q.receive(BATCH)),
            LocalQueue::Sqs { queue, client } => {
                let out = client
                    .receive_message()
                    .queue_url(queue.queue_url())
                    .max_number_of_messages(BATCH as i32)
                    .wait_time_seconds(1)
                    .message_system_attribute_names(
                        MessageSystemAttributeName::ApproximateReceiveCount,
                    )
                    .send()
                    .await
                    .map_err(unavailable)?;
                Ok(out
                    .messages()
                    .iter()
                    .map(|m| Delivered {
                        message_id: m.message_id().unwrap_or_default().to_owned(),
                        receipt_handle: m.receipt_handle().unwrap_or_default().to_owned(),
                        body: m.body().unwrap_or_default().to_owned(),
                        receive_count: m
                            .attributes()
                            .and_then(|a| {
                                a.get(&MessageSystemAttributeName::ApproximateReceiveCount)
                            })
                            .and_then(|n| n.parse().ok())
                            .unwrap_or(1),
                    })
                    .collect())
            }
        }
    }

    pub async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError> {
        match self {
            LocalQueue::Memory(q) => {
                q.delete(receipt_handle);
                Ok(())
            }
            LocalQueue::Sqs { queue, client } => client
                .delete_message()
                .queue_url(queue.queue_url())
                .receipt_handle(receipt_handle)
                .send()
                .await
                .map(|_| ())
                .map_err(unavailable),
        }
    }
}

#[async_trait]
impl PayoutQueue for LocalQueue {
    async fn enqueue(&self, message: &PayoutMessage) -> Result<(), QueueError> {
        match self {
            LocalQueue::Memory(q) => q.enqueue(message).await,
            LocalQueue::Sqs { queue, .. } => queue.enqueue(message).await,
        }
    }

    async fn enqueue_refund(&self, message: &RefundMessage) -> Result<(), QueueError> {
        match self {
            LocalQueue::Memory(q) => q.enqueue_refund(message).await,
            LocalQueue::Sqs { queue, .. } => queue.enqueue_refund(message).await,
        }
    }
}

#[async_trait]
impl Redelivery for LocalQueue {
    async fn delay(&self, receipt_handle: &str, delay_s: u32) -> Result<(), QueueError> {
        match self {
            LocalQueue::Memory(q) => q.delay(receipt_handle, delay_s).await,
            LocalQueue::Sqs { queue, .. } => queue.delay(receipt_handle, delay_s).await,
        }
    }
}

/// The SQS event Lambda would invoke the worker with for `messages`.
pub fn sqs_event(messages: &[Delivered]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            json!({
                "messageId": m.message_id,
                "receiptHandle": m.receipt_handle,
                "body": m.body,
                "attributes": {"ApproximateReceiveCount": m.receive_count.to_string()},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:local:000000000000:qrpay-local-payouts",
                "awsRegion": "local",
            })
        })
        .collect();
    json!({ "Records": records })
}

/// The message ids the worker reported failed (`ReportBatchItemFailures`).
pub fn failed_ids(response: &Value) -> Vec<String> {
    response
        .get("batchItemFailures")
        .and_then(Value::as_array)
        .map(|failures| {
            failures
                .iter()
                .filter_map(|f| f.get("itemIdentifier").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}
