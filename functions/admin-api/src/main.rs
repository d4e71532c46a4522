//! Lambda entry point: build the store once, then serve API Gateway events.

use std::sync::Arc;

use admin_api::{handle, App};
use qrpay_aws::{self as aws, Deadline};
use qrpay_domain::SystemClock;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    aws::init_tracing();
    let config = aws::sdk_config(Deadline::Api).await;
    let store = Arc::new(aws::store_from_env(&config)?);
    let app = App {
        shops: store,
        clock: Arc::new(SystemClock),
        device_keys: Arc::new(aws::device_keyring_from_env(&config)?),
    };
    qrpay_http::serve(app, |app, req| async move { handle(&app, req).await }).await
}
