//! Lambda entry point, two modes in one function: an SQS batch from the
//! payout queue (execute), or the EventBridge schedule (sweep).

use std::sync::Arc;

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use payout_worker::batch::dispatch;
use payout_worker::sweeper::LogAlerts;
use payout_worker::Worker;
use qrpay_aws::{self as aws, Deadline};
use qrpay_domain::SystemClock;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    aws::init_tracing();
    let config = aws::sdk_config(Deadline::Worker).await;
    let clock = Arc::new(SystemClock);
    let store = Arc::new(aws::store_from_env(&config)?);
    let secrets = aws::SecretSource::from_env(&config).await?;
    let worker = Arc::new(Worker {
        payouts: store.clone(),
        refunds: store.clone(),
        collection: store.clone(),
        gateways: aws::gateways_from_env(Deadline::Worker, clock.clone(), &secrets)?,
        clock,
        alerts: Arc::new(LogAlerts),
        pos: Some(Arc::new(aws::iot_publisher_from_env(&config)?)),
    });
    let queue = Arc::new(aws::payout_queue_from_env(&config)?);
    run(service_fn(move |event: LambdaEvent<Value>| {
        let (worker, queue) = (worker.clone(), queue.clone());
        async move { dispatch(&worker, queue.as_ref(), &LogAlerts, event.payload).await }
    }))
    .await
}
