//! The alert port: something an operator must look at (SPEC §5, §6). Every
//! adapter logs the alert as a structured error line (CloudWatch metric
//! filters turn those into alarms); the reconciliation also publishes its
//! alerts to SNS (`SnsAlerts` in the `reconcile` function). The in-memory
//! adapter keeps them for tests and the local stack.

use std::sync::Mutex;

use async_trait::async_trait;
use qrpay_domain::{Anomaly, Notice};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Stable code, e.g. `PAYOUT_NOT_FINAL`, `COLLECTION_AMOUNT_MISMATCH`.
    pub code: String,
    /// What happened and what to do, without personal data.
    pub message: String,
    pub shop_id: Option<String>,
    /// The record it is about (payout, order or anomaly id).
    pub reference: String,
}

#[async_trait]
pub trait Alerts: Send + Sync {
    async fn raise(&self, alert: &Alert);
}

/// Alerts as structured error logs (a metric filter turns them into alarms).
pub struct LogAlerts;

#[async_trait]
impl Alerts for LogAlerts {
    async fn raise(&self, alert: &Alert) {
        tracing::error!(alert = %alert.code, reference = %alert.reference,
            shop_id = alert.shop_id.as_deref().unwrap_or("-"), "{}", alert.message);
    }
}

/// Keeps every alert raised, in order.
#[derive(Default)]
pub struct MemoryAlerts {
    raised: Mutex<Vec<Alert>>,
}

impl MemoryAlerts {
    pub fn new() -> MemoryAlerts {
        MemoryAlerts::default()
    }

    pub fn raised(&self) -> Vec<Alert> {
        self.raised
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[async_trait]
impl Alerts for MemoryAlerts {
    async fn raise(&self, alert: &Alert) {
        LogAlerts.raise(alert).await;
        self.raised
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(alert.clone());
    }
}

/// The alert for a provider notice that was recorded and not applied.
pub fn anomaly_alert(anomaly: &Anomaly) -> Alert {
    let expected = anomaly
        .expected
        .map(|e| format!(", expected {e}"))
        .unwrap_or_default();
    Alert {
        code: anomaly.alert_code(),
        message: format!(
            "{} {} notice {} for order {}: {} {}{expected}. {}",
            anomaly.provider,
            anomaly.event,
            anomaly.notification_id,
            anomaly.order_id,
            anomaly.kind.as_str(),
            anomaly.amount,
            anomaly.detail
        ),
        shop_id: anomaly.shop_id.as_ref().map(|s| s.to_string()),
        reference: anomaly.anomaly_id.clone(),
    }
}

/// The alert for an instalment the provider could not charge.
pub fn deduction_failed_alert(notice: &Notice) -> Alert {
    Alert {
        code: "DEDUCTION_FAILED".to_owned(),
        message: notice.message.clone(),
        shop_id: Some(notice.shop_id.to_string()),
        reference: notice
            .order_id
            .as_ref()
            .map(|o| o.to_string())
            .unwrap_or_else(|| notice.notice_id.clone()),
    }
}
