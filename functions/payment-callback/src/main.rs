//! Lambda entry point: build the store and the provider verifiers once, then
//! serve provider callbacks.

use std::sync::Arc;

use payment_callback::{config, handle, App};
use qrpay_aws::{self as aws, Deadline};
use qrpay_domain::SystemClock;
use qrpay_store::alerts::LogAlerts;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    aws::init_tracing();
    let aws_config = aws::sdk_config(Deadline::Callback).await;
    // The stage's secret, read once here and again after a signature failure.
    let secrets = aws::SecretSource::from_env(&aws_config).await?;
    let verifiers = aws::Reloadable::from_source(secrets, |s| config::verifiers(&|n| s.get(n)))?;
    let store = Arc::new(aws::store_from_env(&aws_config)?);
    let app = App {
        collection: store.clone(),
        payouts: store.clone(),
        refunds: store.clone(),
        clock: Arc::new(SystemClock),
        alerts: Arc::new(LogAlerts),
        verifiers,
        // The IoT data plane has an account-specific endpoint.
        publisher: Arc::new(aws::iot_publisher_from_env(&aws_config)?),
    };
    qrpay_http::serve(app, |app, req| async move { handle(&app, req).await }).await
}
