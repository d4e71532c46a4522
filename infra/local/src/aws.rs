//! The stack on DynamoDB and SQS endpoints (the moto emulator, started by
//! `infra/emulator.sh start`): the table and the payout queue are created
//! when missing, so a fresh emulator needs nothing else. Credentials are
//! dummies: this path is for emulators, never a real account.

use std::sync::Arc;

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use qrpay_aws::sqs::SqsQueue;
use qrpay_aws::DynamoStore;
use qrpay_store::Store;

use crate::queue::LocalQueue;

pub async fn connect(
    endpoint: &str,
    table: &str,
    queue: &str,
) -> Result<(Arc<dyn Store>, LocalQueue), String> {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "qrpay-local"))
        .load()
        .await;
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    let exists = dynamo
        .describe_table()
        .table_name(table)
        .send()
        .await
        .is_ok();
    if !exists {
        qrpay_aws::dynamo::create_table(&dynamo, table)
            .await
            .map_err(|e| format!("cannot create table {table} at {endpoint}: {e}"))?;
    }
    let sqs = aws_sdk_sqs::Client::new(&config);
    let url = sqs
        .create_queue()
        .queue_name(queue)
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot create queue {queue} at {endpoint}: {}",
                DisplayErrorContext(e)
            )
        })?
        .queue_url()
        .map(str::to_owned)
        .ok_or_else(|| format!("{endpoint} created queue {queue} without a URL"))?;
    Ok((
        Arc::new(DynamoStore::new(dynamo, table)),
        LocalQueue::Sqs {
            queue: SqsQueue::new(sqs.clone(), url),
            client: sqs,
        },
    ))
}
