//! Lambda entry point: build the store once, then serve API Gateway events.

use std::sync::Arc;

use admin_api::{handle, App};
use lambda_http::{run, service_fn, Error, Request};
use qrpay_domain::SystemClock;
use qrpay_http::aws;
use qrpay_store::DynamoStore;

#[tokio::main]
async fn main() -> Result<(), Error> {
    qrpay_http::init_tracing();
    let config = aws::sdk_config().await;
    let app = Arc::new(App {
        store: Arc::new(DynamoStore::new(
            aws::dynamo_client(&config),
            aws::env("TABLE_NAME")?,
        )),
        clock: Arc::new(SystemClock),
    });
    run(service_fn(move |req: Request| {
        let app = app.clone();
        async move { Ok::<_, Error>(handle(&app, req).await) }
    }))
    .await
}
