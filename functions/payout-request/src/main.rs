//! Lambda entry point: build the clients once, then serve API Gateway events.

use std::sync::Arc;

use payout_request::{handle, App};
use qrpay_aws::{self as aws, Deadline};
use qrpay_domain::SystemClock;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    aws::init_tracing();
    let config = aws::sdk_config(Deadline::Api).await;
    let store = Arc::new(aws::store_from_env(&config)?);
    let clock = Arc::new(SystemClock);
    // Only which providers can pay and refund is needed here: the worker sends.
    let secrets = aws::SecretSource::from_env(&config).await?;
    let gateways = aws::gateways_from_env(Deadline::Api, clock.clone(), &secrets)?;
    let app = App {
        shops: store.clone(),
        payouts: store.clone(),
        collection: store.clone(),
        refunds: store.clone(),
        queue: Arc::new(aws::payout_queue_from_env(&config)?),
        clock,
        channels: gateways.payout_channels(),
        refund_providers: gateways.refund_providers(),
        // Claim links for transfers that wait for the buyer (SPEC §10).
        // (Signed with the current key; qr-issue also accepts the previous one.)
        claims: secrets
            .secrets("QRPAY_QR_TOKEN_SECRET")
            .into_iter()
            .next()
            .zip(aws::env("QRPAY_PAY_BASE_URL").ok())
            .map(|(secret, pay_base_url)| payout_request::claim::ClaimLinks {
                secret,
                pay_base_url,
            }),
    };
    qrpay_http::serve(app, |app, req| async move { handle(&app, req).await }).await
}
