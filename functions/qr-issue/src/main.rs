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
    // The stage's secret, read once here and again after a token's
    // signature fails (a rotation).
    let secrets = aws::SecretSource::from_env(&config).await?;
    let token_secrets = aws::Reloadable::from_source(secrets.clone(), |s| {
        let keys = s.secrets("QRPAY_QR_TOKEN_SECRET");
        match keys.is_empty() {
            true => Err("QRPAY_QR_TOKEN_SECRET (qr_token_secret) is not set".to_owned()),
            false => Ok(keys),
        }
    })?;
    let store = Arc::new(aws::store_from_env(&config)?);
    let clock = Arc::new(SystemClock);
    let app = Arc::new(App {
        shops: store.clone(),
        collection: store.clone(),
        payouts: store.clone(),
        leases: store.clone(),
        checkout_limits: qrpay_domain::checkout::CheckoutLimits::DEFAULT
            .with_order_ttl(std::env::var("QRPAY_CHECKOUT_ORDER_TTL_S").ok().as_deref())?,
        // A POS code for one provider carries that provider's own code.
        gateways: aws::gateways_from_env(Deadline::Api, clock.clone(), &secrets)?,
        clock,
        token_secrets,
        pay_base_url: aws::env("QRPAY_PAY_BASE_URL")?,
        // The IoT data plane has an account-specific endpoint.
        publisher: Arc::new(aws::iot_publisher_from_env(&config)?),
        device_keys: Arc::new(aws::device_keyring_from_env(&config)?),
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
