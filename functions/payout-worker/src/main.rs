//! Lambda entry point, two modes in one function: an SQS batch from the
//! payout queue (execute), or the EventBridge schedule (sweep).

use std::sync::Arc;

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use payout_worker::batch::dispatch;
use payout_worker::sweeper::LogAlerts;
use payout_worker::Worker;
use qrpay_aws::{self as aws, Deadline};
use qrpay_domain::SystemClock;
use qrpay_provider::{SandboxProvider, TransferProvider};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    aws::init_tracing();
    let config = aws::sdk_config(Deadline::Worker).await;
    let clock = Arc::new(SystemClock);
    let store = Arc::new(aws::store_from_env(&config)?);
    let worker = Arc::new(Worker {
        payouts: store.clone(),
        collection: store.clone(),
        provider: provider_from_env(clock.clone())?,
        clock,
        alerts: Arc::new(LogAlerts),
    });
    let queue = Arc::new(aws::payout_queue_from_env(&config)?);
    run(service_fn(move |event: LambdaEvent<Value>| {
        let (worker, queue) = (worker.clone(), queue.clone());
        async move { dispatch(&worker, queue.as_ref(), &LogAlerts, event.payload).await }
    }))
    .await
}

/// The transfer provider named by `PAYOUT_PROVIDER`. Only the sandbox exists
/// so far; in AWS it lives inside each worker instance (play money, for dev
/// stages): real providers' transfer adapters come with their own issue.
fn provider_from_env(clock: Arc<SystemClock>) -> Result<Arc<dyn TransferProvider>, String> {
    match std::env::var("PAYOUT_PROVIDER").as_deref() {
        Ok("sandbox") => {
            tracing::warn!(
                "PAYOUT_PROVIDER=sandbox: payouts go to an in-process sandbox, no real money moves"
            );
            Ok(Arc::new(SandboxProvider::new(clock)))
        }
        Ok(other) => Err(format!(
            "PAYOUT_PROVIDER={other} has no transfer adapter yet; use sandbox"
        )),
        Err(_) => Err("environment variable PAYOUT_PROVIDER is not set".into()),
    }
}
