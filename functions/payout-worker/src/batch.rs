//! The SQS side: one batch in, only the failed message ids out
//! (`ReportBatchItemFailures`), so settled payouts and refunds are deleted
//! and the rest come back. A message that keeps failing lands in the DLQ after the queue's
//! `maxReceiveCount`.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use qrpay_queue::{Redelivery, WorkMessage};

use crate::{retry_delay_s, Step, Worker};

pub async fn handle_batch(
    worker: &Worker,
    redelivery: &dyn Redelivery,
    event: SqsEvent,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in &event.records {
        if let Err(why) = handle_message(worker, redelivery, record).await {
            let id = record.message_id.clone().unwrap_or_default();
            tracing::warn!(message_id = %id, %why, "message not settled; it will come back");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// Ok when the message may be deleted.
async fn handle_message(
    worker: &Worker,
    redelivery: &dyn Redelivery,
    record: &SqsMessage,
) -> Result<(), String> {
    // A malformed message is a poison message: failing it sends it to the DLQ.
    let body = record.body.as_deref().ok_or("message without a body")?;
    let message = WorkMessage::from_json(body).map_err(|e| e.to_string())?;
    let (step, what) = match &message {
        WorkMessage::Payout(m) => (worker.execute(m).await, format!("payout {}", m.payout_id)),
        WorkMessage::Refund(m) => (
            worker.execute_refund(m).await,
            format!("refund {}", m.refund_id),
        ),
    };
    match step.map_err(|e| e.to_string())? {
        Step::Done | Step::AwaitingPayee => Ok(()),
        Step::RetryLater => {
            let receives = record
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            let delay_s = retry_delay_s(receives);
            if let Some(handle) = &record.receipt_handle {
                if let Err(err) = redelivery.delay(handle, delay_s).await {
                    // The queue's own visibility timeout still brings it back.
                    tracing::warn!(%what, error = %err, "could not delay the retry");
                }
            }
            Err(format!("{what} not settled yet; retry in {delay_s} s"))
        }
    }
}

/// Handles any event the function is invoked with: an SQS batch from the
/// payout queue is executed; anything else (the EventBridge schedule) runs
/// the sweeper. Answers what Lambda expects back.
pub async fn dispatch<Q: qrpay_queue::PayoutQueue + Redelivery>(
    worker: &Worker,
    queue: &Q,
    alerts: &dyn crate::sweeper::Alerts,
    event: serde_json::Value,
) -> Result<serde_json::Value, String> {
    if event.get("Records").is_some() {
        let batch: SqsEvent =
            serde_json::from_value(event).map_err(|e| format!("not an SQS batch: {e}"))?;
        let response = handle_batch(worker, queue, batch).await;
        return serde_json::to_value(response).map_err(|e| e.to_string());
    }
    let report = crate::sweeper::sweep(worker, queue, alerts)
        .await
        .map_err(|e| format!("sweep failed: {e}"))?;
    Ok(serde_json::json!({
        "redispatched": report.redispatched,
        "queried": report.queried,
        "settled": report.settled,
        "alerts": report.alerts,
        "fanned_out": report.fanned_out,
        "errors": report.errors,
        "expired_orders": {
            "expired": report.expired_orders.expired,
            "closed": report.expired_orders.closed,
            "paid": report.expired_orders.paid,
            "left": report.expired_orders.left,
        },
    }))
}
