//! Lambda entry point: build the clients once, then serve API Gateway events.

use std::sync::Arc;

use payout_request::{handle, App};
use qrpay_domain::SystemClock;
use qrpay_http::aws;
use qrpay_queue::SqsQueue;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    qrpay_http::init_tracing();
    let config = aws::sdk_config().await;
    let store = Arc::new(aws::store_from_env(&config)?);
    let app = App {
        shops: store.clone(),
        payouts: store.clone(),
        collection: store.clone(),
        queue: Arc::new(SqsQueue::new(
            aws::sqs_client(&config),
            aws::env("PAYOUT_QUEUE_URL")?,
        )),
        clock: Arc::new(SystemClock),
    };
    qrpay_http::serve(app, |app, req| async move { handle(&app, req).await }).await
}
