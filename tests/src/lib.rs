//! Test support shared by the contract, concurrency and handler suites: the
//! moto emulator (started on demand, or the one `QRPAY_EMULATOR_ENDPOINT`
//! names), fresh DynamoDB tables and SQS queues, and a small world of shops,
//! orders and operators to run the rules against.

pub mod collection_contract;
pub mod contract;
pub mod controls_contract;
pub mod emulator;
pub mod events;
pub mod expiry_contract;
pub mod kpi_contract;
pub mod openapi_check;
pub mod orders_contract;
pub mod receivable_contract;
pub mod reconciliation_contract;
pub mod refund_contract;
pub mod template;
pub mod world;

use std::sync::Arc;

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use qrpay_aws::DynamoStore;
use qrpay_store::{MemoryStore, Store};

pub use world::World;

/// Dummy credentials: the emulator accepts any, and tests never reach AWS.
fn credentials() -> Credentials {
    Credentials::new("test", "test", None, None, "qrpay-tests")
}

pub fn dynamo_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(credentials())
        .endpoint_url(endpoint)
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

pub fn sqs_client(endpoint: &str) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(credentials())
        .endpoint_url(endpoint)
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

/// An SDK configuration for any service in the emulator (Secrets Manager,
/// KMS, ...), with the emulator's dummy credentials.
pub fn emulator_sdk_config() -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(credentials()),
        )
        .endpoint_url(emulator::endpoint())
        .build()
}

/// Secrets Manager in the emulator.
pub fn secrets_client() -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&emulator_sdk_config())
}

/// A fresh symmetric KMS key in the emulator: its client and key id.
pub async fn kms_key() -> (aws_sdk_kms::Client, String) {
    let client = aws_sdk_kms::Client::new(&emulator_sdk_config());
    let key = client
        .create_key()
        .description(unique_name("qrpay-test-device-key"))
        .send()
        .await
        .expect("create a KMS key in the emulator");
    let id = key
        .key_metadata()
        .map(|m| m.key_id().to_owned())
        .expect("the new key's id");
    (client, id)
}

/// A name no other test uses: moto's transactions slow down as a table
/// grows, so every test gets its own table.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// A DynamoDB store on a fresh table in the emulator.
pub async fn dynamo_store() -> Arc<DynamoStore> {
    let client = dynamo_client(emulator::endpoint());
    let table = unique_name("qrpay-test");
    qrpay_aws::dynamo::create_table(&client, &table)
        .await
        .expect("create test table in the emulator");
    Arc::new(DynamoStore::new(client, table))
}

pub async fn memory_store() -> Arc<MemoryStore> {
    Arc::new(MemoryStore::new())
}

/// The two stores, as the port, for suites that run against both.
pub async fn dynamo_port() -> Arc<dyn Store> {
    dynamo_store().await
}

pub async fn memory_port() -> Arc<dyn Store> {
    memory_store().await
}

/// Runs each named `async fn case(store: Arc<dyn Store>)` of the calling
/// test file twice: on the in-memory store (module `memory`) and on DynamoDB
/// in the moto emulator (module `dynamodb`).
#[macro_export]
macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::memory_port().await).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::dynamo_port().await).await;
                }
            )*
        }
    };
}
