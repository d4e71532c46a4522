//! Lambda entry point: build the clients once, then serve API Gateway and
//! IoT rule events.

use std::sync::Arc;

use lambda_runtime::{service_fn, LambdaEvent};
use qr_issue::{lambda::dispatch, App};
use qrpay_aws::{self as aws, Deadline};
use qrpay_domain::SystemClock;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    aws::init_tracing();
    let config = aws::sdk_config(Deadline::Api).await;
    let token_secrets = aws::secrets("QRPAY_QR_TOKEN_SECRET");
    if token_secrets.is_empty() {
        return Err("QRPAY_QR_TOKEN_SECRET is not set".into());
    }
    let store = Arc::new(aws::store_from_env(&config)?);
    let clock = Arc::new(SystemClock);
    let app = Arc::new(App {
        shops: store.clone(),
        collection: store.clone(),
        // A POS code for one provider carries that provider's own code.
        checkout_limits: qrpay_domain::checkout::CheckoutLimits::DEFAULT,
        gateways: aws::gateways_from_env(Deadline::Api, clock.clone())?,
        clock,
        token_secrets,
        pay_base_url: aws::env("QRPAY_PAY_BASE_URL")?,
        // The IoT data plane has an account-specific endpoint.
        publisher: Arc::new(aws::iot_publisher_from_env(&config)?),
        alerts: Arc::new(qrpay_store::alerts::LogAlerts),
        buyer: qr_issue::page::BuyerSettings {
            sandbox: false,
            wechat_h5: aws::env("WECHATPAY_H5_ENABLED").is_ok_and(|v| v == "true"),
        },
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let app = app.clone();
        async move { dispatch(&app, event.payload).await }
    }))
    .await
}
