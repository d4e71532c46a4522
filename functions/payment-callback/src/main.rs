//! Lambda entry point: build the store once, then serve provider callbacks.

use std::sync::Arc;

use payment_callback::{handle, App};
use qrpay_domain::{Secret, SystemClock};
use qrpay_http::aws;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    qrpay_http::init_tracing();
    let config = aws::sdk_config().await;
    // The sandbox is a development provider: its secrets only exist on dev
    // stages. Real providers' keys come from Secrets Manager (collection issue).
    let sandbox_secrets = ["QRPAY_SANDBOX_SECRET", "QRPAY_SANDBOX_SECRET_PREVIOUS"]
        .iter()
        .filter_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .map(Secret::new)
        .collect();
    let app = App {
        store: Arc::new(aws::store_from_env(&config)?),
        clock: Arc::new(SystemClock),
        sandbox_secrets,
    };
    qrpay_http::serve(app, |app, req| async move { handle(&app, req).await }).await
}
