//! The adapters a Lambda builds once per cold start, each from the setting
//! that names its resource (set by `template.yaml`). Only the store's
//! client is made at once (nearly every event reads the table); the others
//! are made by their first call (`crate::lazy`).

use crate::dynamo::DynamoStore;
use aws_config::SdkConfig;

use crate::env::env;
use crate::iot::IotDataPublisher;
use crate::s3::S3Objects;
use crate::sns::SnsAlerts;
use crate::sqs::{SqsQueue, SqsRunRequests};

/// The store on the table `TABLE_NAME`.
pub fn store_from_env(config: &SdkConfig) -> Result<DynamoStore, String> {
    Ok(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(config),
        env("TABLE_NAME")?,
    ))
}

/// The payout queue at `PAYOUT_QUEUE_URL`.
pub fn payout_queue_from_env(config: &SdkConfig) -> Result<SqsQueue, String> {
    Ok(SqsQueue::from_conf(config, env("PAYOUT_QUEUE_URL")?))
}

/// The reconcile function's own queue of run requests, `RECONCILE_QUEUE_URL`.
pub fn run_requests_from_env(config: &SdkConfig) -> Result<SqsRunRequests, String> {
    Ok(SqsRunRequests::from_conf(
        config,
        env("RECONCILE_QUEUE_URL")?,
    ))
}

/// Statements, receipts and reports in the bucket `REPORTS_BUCKET`.
pub fn reports_from_env(config: &SdkConfig) -> Result<S3Objects, String> {
    Ok(S3Objects::from_conf(config, env("REPORTS_BUCKET")?))
}

/// Alerts to the topic `ALERT_TOPIC_ARN` (after their log line).
pub fn alerts_from_env(config: &SdkConfig) -> Result<SnsAlerts, String> {
    Ok(SnsAlerts::from_conf(config, env("ALERT_TOPIC_ARN")?))
}

/// POS replies through the account's IoT data endpoint, `IOT_DATA_ENDPOINT`.
pub fn iot_publisher_from_env(config: &SdkConfig) -> Result<IotDataPublisher, String> {
    Ok(IotDataPublisher::from_conf(
        config,
        env("IOT_DATA_ENDPOINT")?,
    ))
}

/// The providers configured in this function's environment (the secrets
/// store fills it in AWS), calling out over HTTPS within `deadline`'s
/// provider timeouts. Never the sandbox.
pub fn gateways_from_env(
    deadline: crate::Deadline,
    clock: std::sync::Arc<dyn qrpay_domain::Clock>,
) -> Result<qrpay_provider::gateway::Gateways, String> {
    let transport = crate::http::HyperTransport::new(deadline.provider_timeouts())?;
    qrpay_provider::gateway::configured_gateways(
        &|name| std::env::var(name).ok(),
        std::sync::Arc::new(transport),
        clock,
    )
}
