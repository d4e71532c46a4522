//! The AWS SDK configuration, one per kind of caller.
//!
//! The SDK's defaults set no operation or attempt timeout: a stalled
//! connection would hold a request until the caller's own deadline killed
//! it, with nothing retried and nothing said. Each caller here gets
//! timeouts and retries chosen so that the worst case of its busiest path
//! ends before its deadline:
//!
//! | caller | deadline | connect | attempt | operation | attempts |
//! |---|---|---|---|---|---|
//! | API route | function timeout 10 s (API Gateway's own is 29 s) | 0.5 s | 1 s | 2 s | 3 |
//! | provider callback | providers wait 5 s, then retry | 0.5 s | 0.8 s | 1.5 s | 2 |
//! | payout worker, sweeper | function timeout 30 s | 1 s | 2 s | 5 s | 3 |
//! | reconciliation | function timeout 15 min, S3 objects | 2 s | 30 s | 90 s | 4 |
//!
//! An API route's ordinary path is a few operations (a payout: read, write,
//! queue send = 3 × 2 s at worst, inside its 10 s); a store call that fails
//! answers 503 at once rather than waiting out the function. A callback
//! applies a notice in at most 3 operations a try; a provider that gets no
//! answer in time calls again, and the notice is applied once.
//!
//! `QRPAY_AWS_ENDPOINT` points every client at a local emulator (moto).

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;

pub const ENDPOINT_ENV: &str = "QRPAY_AWS_ENDPOINT";

/// Who is calling AWS, and so how long it may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// An HTTP API route (10 s function timeout, under API Gateway's 29 s).
    Api,
    /// A provider's callback: WeChat Pay, Alipay and Douyin wait about 5 s.
    Callback,
    /// The SQS payout worker and the sweeper (30 s function timeout).
    Worker,
    /// The nightly reconciliation (15 min; large S3 objects).
    Batch,
}

/// The limits one kind of caller gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub connect: Duration,
    pub attempt: Duration,
    pub operation: Duration,
    pub max_attempts: u32,
    /// The caller's own deadline, which the limits stay below.
    pub deadline: Duration,
}

impl Deadline {
    pub const ALL: [Deadline; 4] = [
        Deadline::Api,
        Deadline::Callback,
        Deadline::Worker,
        Deadline::Batch,
    ];

    pub fn limits(self) -> Limits {
        let ms = Duration::from_millis;
        match self {
            Deadline::Api => Limits {
                connect: ms(500),
                attempt: ms(1_000),
                operation: ms(2_000),
                max_attempts: 3,
                deadline: ms(10_000),
            },
            Deadline::Callback => Limits {
                connect: ms(500),
                attempt: ms(800),
                operation: ms(1_500),
                max_attempts: 2,
                deadline: ms(5_000),
            },
            Deadline::Worker => Limits {
                connect: ms(1_000),
                attempt: ms(2_000),
                operation: ms(5_000),
                max_attempts: 3,
                deadline: ms(30_000),
            },
            Deadline::Batch => Limits {
                connect: ms(2_000),
                attempt: ms(30_000),
                operation: ms(90_000),
                max_attempts: 4,
                deadline: ms(900_000),
            },
        }
    }

    pub fn timeouts(self) -> TimeoutConfig {
        let limits = self.limits();
        TimeoutConfig::builder()
            .connect_timeout(limits.connect)
            .operation_attempt_timeout(limits.attempt)
            .operation_timeout(limits.operation)
            .build()
    }

    pub fn retries(self) -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(self.limits().max_attempts)
            .with_initial_backoff(Duration::from_millis(50))
            .with_max_backoff(Duration::from_millis(500))
    }
}

/// The SDK configuration for `deadline`'s caller, from the environment
/// (region, credentials), pointed at `QRPAY_AWS_ENDPOINT` when set, over
/// the HTTPS client that trusts the compiled-in roots (`crate::roots`).
pub async fn sdk_config(deadline: Deadline) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(crate::roots::sdk_http_client())
        .timeout_config(deadline.timeouts())
        .retry_config(deadline.retries());
    if credentials_in_environment(|name| std::env::var_os(name).is_some()) {
        // What the default chain would pick first anyway (Lambda sets these
        // for the function's role). Named here so the chain's other links
        // are never built: its web-identity link makes an STS client at
        // once, and with it a TLS connector, at every cold start.
        loader = loader.credentials_provider(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        );
    }
    if let Ok(url) = std::env::var(ENDPOINT_ENV) {
        if !url.is_empty() {
            loader = loader.endpoint_url(url);
        }
    }
    loader.load().await
}

/// Whether the environment carries credentials (`AWS_ACCESS_KEY_ID` and
/// `AWS_SECRET_ACCESS_KEY`), as Lambda's does.
fn credentials_in_environment(set: impl Fn(&str) -> bool) -> bool {
    set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_caller_has_every_timeout_and_they_nest() {
        for deadline in Deadline::ALL {
            let l = deadline.limits();
            assert!(l.connect <= l.attempt, "{deadline:?}");
            assert!(l.attempt < l.operation, "{deadline:?}");
            assert!(l.operation < l.deadline, "{deadline:?}");
            let t = deadline.timeouts();
            assert_eq!(t.connect_timeout(), Some(l.connect), "{deadline:?}");
            assert_eq!(t.operation_attempt_timeout(), Some(l.attempt));
            assert_eq!(t.operation_timeout(), Some(l.operation));
            assert_eq!(deadline.retries().max_attempts(), l.max_attempts);
        }
    }

    #[test]
    fn a_callback_answers_before_the_provider_gives_up() {
        // Applying a notice is at most 3 operations (read the notification
        // and the order's pointer, read the order and shop, write).
        let l = Deadline::Callback.limits();
        assert!(l.operation * 3 < l.deadline);
        // An API route's ordinary path (a read and a write, then the queue)
        // fits its 10 s even if each one takes its whole budget.
        let l = Deadline::Api.limits();
        assert!(l.operation * 3 < l.deadline);
    }

    #[test]
    fn only_a_whole_key_pair_in_the_environment_is_taken_from_it() {
        let with = |names: &'static [&'static str]| move |n: &str| names.contains(&n);
        assert!(credentials_in_environment(with(&[
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY"
        ])));
        assert!(!credentials_in_environment(with(&["AWS_ACCESS_KEY_ID"])));
        assert!(!credentials_in_environment(with(&[
            "AWS_SECRET_ACCESS_KEY"
        ])));
        assert!(!credentials_in_environment(with(&[])));
    }

    #[tokio::test]
    async fn the_loaded_config_carries_the_limits() {
        let config = sdk_config(Deadline::Callback).await;
        let timeouts = config.timeout_config().expect("timeouts set");
        assert_eq!(
            timeouts.operation_timeout(),
            Some(Deadline::Callback.limits().operation)
        );
        assert_eq!(config.retry_config().map(|r| r.max_attempts()), Some(2));
    }
}
