//! The alert port on an SNS topic, after the log line that CloudWatch
//! metric filters turn into alarms.

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sns::types::MessageAttributeValue;
use qrpay_store::alerts::{Alert, Alerts, LogAlerts};

use crate::error_text;
use crate::lazy::Lazy;

/// Alerts published to an SNS topic.
#[derive(Debug, Clone)]
pub struct SnsAlerts {
    client: Lazy<aws_sdk_sns::Client>,
    topic_arn: String,
}

/// SNS: a subject is ASCII "less than 100 characters long".
const MAX_SUBJECT_CHARS: usize = 99;

/// The SNS message body: what a subscriber gets (the alert's `code` is also a
/// message attribute, for subscription filter policies).
#[derive(Debug, serde::Serialize)]
struct AlertMessage<'a> {
    code: &'a str,
    message: &'a str,
    shop_id: Option<&'a str>,
    reference: &'a str,
    source: &'static str,
}

impl SnsAlerts {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> SnsAlerts {
        SnsAlerts {
            client: Lazy::ready(client),
            topic_arn: topic_arn.into(),
        }
    }

    /// Made on first use (crate::lazy): most runs raise no alert.
    pub fn from_conf(config: &SdkConfig, topic_arn: impl Into<String>) -> SnsAlerts {
        SnsAlerts {
            client: Lazy::new(config, aws_sdk_sns::Client::new),
            topic_arn: topic_arn.into(),
        }
    }

    async fn publish(&self, alert: &Alert) -> Result<(), String> {
        let message = serde_json::to_string(&AlertMessage {
            code: &alert.code,
            message: &alert.message,
            shop_id: alert.shop_id.as_deref(),
            reference: &alert.reference,
            source: "qrpay",
        })
        .map_err(|e| e.to_string())?;
        let code = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(&alert.code)
            .build()
            .map_err(|e| e.to_string())?;
        self.client
            .get()
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(alert_subject(&alert.code))
            .message(message)
            .message_attributes("code", code)
            .send()
            .await
            .map_err(|e| error_text(&e))?;
        Ok(())
    }
}

/// `qrpay alert {code}`, printable ASCII only, within SNS's subject limit.
fn alert_subject(code: &str) -> String {
    format!("qrpay alert {code}")
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { ' ' })
        .take(MAX_SUBJECT_CHARS)
        .collect()
}

#[async_trait]
impl Alerts for SnsAlerts {
    async fn raise(&self, alert: &Alert) {
        // First, and whatever SNS does: the metric filters alarm on this line.
        LogAlerts.raise(alert).await;
        if let Err(error) = self.publish(alert).await {
            tracing::error!(alert = %alert.code, reference = %alert.reference, %error,
                "alert not published to SNS (it is in the log line above)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_subject_is_printable_ascii_within_the_sns_limit() {
        assert_eq!(
            alert_subject("PAYOUT_NOT_FINAL"),
            "qrpay alert PAYOUT_NOT_FINAL"
        );
        let long = alert_subject(&"X".repeat(200));
        assert_eq!(long.len(), MAX_SUBJECT_CHARS);
        assert!(long.starts_with("qrpay alert XXX"));
        assert_eq!(alert_subject("A\nB\u{6c47}"), "qrpay alert A B ");
    }
}
