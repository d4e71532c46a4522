//! What runs without a request, as in AWS: the payout worker on the queue
//! (an SQS batch event per receive, `ReportBatchItemFailures` honoured), the
//! sweeper on its schedule (and at once when the test clock moves), and the
//! sandbox's "transfer finished" callbacks.

use std::sync::Arc;
use std::time::Duration;

use payout_worker::batch::dispatch;
use serde_json::{json, Value};

use crate::queue::{failed_ids, sqs_event};
use crate::stack::Stack;

/// How often an idle worker looks at the in-process queue.
pub const POLL_EVERY: Duration = Duration::from_millis(100);
/// The sweeper's schedule locally (every 2 minutes in AWS).
pub const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// One receive and one worker invocation; how many messages it handled.
pub async fn work_once(stack: &Stack) -> Result<usize, String> {
    let messages = stack.queue.receive().await.map_err(|e| e.to_string())?;
    if messages.is_empty() {
        return Ok(0);
    }
    let response = dispatch(
        &stack.functions.worker,
        stack.queue.as_ref(),
        stack.alerts.as_ref(),
        sqs_event(&messages),
    )
    .await?;
    let failed = failed_ids(&response);
    for message in messages.iter().filter(|m| !failed.contains(&m.message_id)) {
        stack
            .queue
            .delete(&message.receipt_handle)
            .await
            .map_err(|e| e.to_string())?;
    }
    stack.sandbox.deliver_transfer_notices(stack).await;
    Ok(messages.len())
}

/// One sweeper run, invoked with the schedule's event.
pub async fn sweep_once(stack: &Stack) -> Result<Value, String> {
    let scheduled = json!({
        "source": "aws.events",
        "detail-type": "Scheduled Event",
        "detail": {},
    });
    let report = dispatch(
        &stack.functions.worker,
        stack.queue.as_ref(),
        stack.alerts.as_ref(),
        scheduled,
    )
    .await?;
    stack.sandbox.deliver_transfer_notices(stack).await;
    Ok(report)
}

/// Starts the worker and sweeper loops; they run until the process ends.
pub fn spawn(stack: Arc<Stack>) {
    let worker = stack.clone();
    tokio::spawn(async move {
        loop {
            match work_once(&worker).await {
                Ok(0) => tokio::time::sleep(POLL_EVERY).await,
                Ok(_) => {}
                Err(e) => {
                    eprintln!("qrpay-local: payout worker: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(SWEEP_EVERY) => {}
                _ = stack.wake.notified() => {}
            }
            if let Err(e) = sweep_once(&stack).await {
                eprintln!("qrpay-local: sweeper: {e}");
            }
        }
    });
}
