//! qrpay on AWS: the one crate that knows the AWS SDK.
//!
//! - [`config`]: the SDK configuration each kind of caller gets, with
//!   connect, attempt and operation timeouts and retries chosen below that
//!   caller's own deadline (API Gateway's 29 s, a provider's 5 s, ...).
//! - [`env`]: required settings and rotating secrets from the environment;
//!   [`secrets`]: the stage's secret from Secrets Manager, cached and
//!   re-read after a signature failure;
//!   [`gateways`]: provider gateways that re-read the secret when an
//!   answer's signature does not verify (a rotated provider key);
//!   [`clients`]: every adapter from the setting that names its resource.
//! - [`http`]: the outbound HTTPS transport of the provider adapters, with
//!   connect and total timeouts below the caller's deadline.
//! - [`logs`]: structured JSON logs (SPEC §7).
//! - The adapters of qrpay's ports: [`dynamo`] (the store, one table),
//!   [`sqs`] (the payout queue and the
//!   reconciliation requests), [`s3`] (report objects), [`sns`] (alerts),
//!   [`iot`] (replies to POS devices), [`kms`] (sealed device secrets).

pub mod clients;
pub mod config;
pub mod dynamo;
pub mod env;
pub mod gateways;
pub mod http;
pub mod iot;
pub mod kms;
pub mod lazy;
pub mod logs;
pub mod roots;
pub mod s3;
pub mod secrets;
pub mod sns;
pub mod sqs;

pub use clients::*;
pub use config::{sdk_config, Deadline};
pub use dynamo::DynamoStore;
pub use env::{current_and_previous, env};
pub use logs::init_tracing;
pub use secrets::{Reloadable, SecretSource};

/// An SDK error as one line: each cause's message (for a service error its
/// code, message and request id). Not `DisplayErrorContext`, whose `Debug`
/// tail repeats the raw response, headers and body included.
pub fn error_text(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(next) = cause {
        text.push_str(": ");
        text.push_str(&next.to_string());
        cause = next.source();
    }
    text
}
