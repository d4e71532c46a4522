//! AWS clients, built once per cold start. `QRPAY_AWS_ENDPOINT` points them at
//! a local emulator (moto) instead of AWS.

use aws_config::BehaviorVersion;

pub const ENDPOINT_ENV: &str = "QRPAY_AWS_ENDPOINT";

pub async fn sdk_config() -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Ok(url) = std::env::var(ENDPOINT_ENV) {
        if !url.is_empty() {
            loader = loader.endpoint_url(url);
        }
    }
    loader.load().await
}

pub fn dynamo_client(config: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

pub fn sqs_client(config: &aws_config::SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(config)
}

/// The DynamoDB store on the table named by `TABLE_NAME`.
pub fn store_from_env(config: &aws_config::SdkConfig) -> Result<qrpay_store::DynamoStore, String> {
    Ok(qrpay_store::DynamoStore::new(
        dynamo_client(config),
        env("TABLE_NAME")?,
    ))
}

/// A required environment variable, or a message naming it.
pub fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))
}

/// A value and, during a rotation, the previous one: `{name}` and
/// `{name}_PREVIOUS`, current first; empty counts as unset. `env` reads one
/// variable (the process environment in Lambda, a map in tests).
pub fn current_and_previous(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Vec<String> {
    [name.to_owned(), format!("{name}_PREVIOUS")]
        .iter()
        .filter_map(|n| env(n).filter(|v| !v.is_empty()))
        .collect()
}

/// Secrets from the process environment (SAM fills them from Secrets
/// Manager), current first.
pub fn secrets(name: &str) -> Vec<qrpay_domain::Secret> {
    current_and_previous(&|n| std::env::var(n).ok(), name)
        .into_iter()
        .map(qrpay_domain::Secret::new)
        .collect()
}
