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

/// Device secrets sealed under the stage's device key, `DEVICE_KEY_ARN`
/// (opened secrets cached a few minutes per cold start).
pub fn device_keyring_from_env(
    config: &SdkConfig,
) -> Result<qrpay_store::keyring::CachingKeyring<crate::kms::KmsKeyring>, String> {
    Ok(qrpay_store::keyring::CachingKeyring::new(
        crate::kms::KmsKeyring::new(aws_sdk_kms::Client::new(config), env("DEVICE_KEY_ARN")?),
    ))
}

/// The providers configured in `secrets` (the stage's secret in AWS, the
/// environment elsewhere), calling out over HTTPS within `deadline`'s
/// provider timeouts. Never the sandbox. With the stage's secret, an answer
/// whose signature does not verify with our keys re-reads the secret and
/// retries once with the provider's new keys (`gateways`); from the
/// environment, the gateways are built once.
pub fn gateways_from_env(
    deadline: crate::Deadline,
    clock: std::sync::Arc<dyn qrpay_domain::Clock>,
    secrets: &std::sync::Arc<crate::SecretSource>,
) -> Result<qrpay_provider::gateway::Gateways, String> {
    let transport = std::sync::Arc::new(crate::http::HyperTransport::new(
        deadline.provider_timeouts(),
    )?);
    if secrets.reads_a_secret() {
        return crate::gateways::reloading_gateways(secrets.clone(), transport, clock);
    }
    qrpay_provider::gateway::configured_gateways(&|name| secrets.get(name), transport, clock)
}

/// The configured providers' bill gateways, built from the stage's secret
/// on first use: the reconcile function's HTTP routes never read the secret.
pub struct StageBills {
    config: SdkConfig,
    clock: std::sync::Arc<dyn qrpay_domain::Clock>,
    built: tokio::sync::OnceCell<Vec<std::sync::Arc<dyn qrpay_provider::bills::BillGateway>>>,
}

impl StageBills {
    pub fn new(config: &SdkConfig, clock: std::sync::Arc<dyn qrpay_domain::Clock>) -> StageBills {
        StageBills {
            config: config.clone(),
            clock,
            built: tokio::sync::OnceCell::new(),
        }
    }
}

#[async_trait::async_trait]
impl qrpay_reconcile::bill_fetch::BillSources for StageBills {
    async fn bill_gateways(
        &self,
    ) -> Result<Vec<std::sync::Arc<dyn qrpay_provider::bills::BillGateway>>, String> {
        let built = self
            .built
            .get_or_try_init(|| async {
                let secrets = crate::SecretSource::from_env(&self.config).await?;
                let gateways =
                    gateways_from_env(crate::Deadline::Batch, self.clock.clone(), &secrets)?;
                Ok::<_, String>(gateways.bills.into_values().collect())
            })
            .await?;
        Ok(built.clone())
    }
}
