//! What the local stack shows on the terminal instead of AWS: alerts (the
//! alarms' log lines) and what the functions publish to POS devices over
//! IoT; both kept in memory too, for the demo and the tests.

use async_trait::async_trait;
use qrpay_queue::publish::{MemoryPublisher, Publisher};
use qrpay_store::alerts::{Alert, Alerts, MemoryAlerts};

/// Alerts on the terminal, and kept (the demo and the tests read them).
#[derive(Default)]
pub struct ConsoleAlerts {
    pub kept: MemoryAlerts,
}

#[async_trait]
impl Alerts for ConsoleAlerts {
    async fn raise(&self, alert: &Alert) {
        eprintln!("qrpay-local: ALERT {}: {}", alert.code, alert.message);
        self.kept.raise(alert).await;
    }
}

/// IoT locally: what the functions publish to devices is printed (there
/// is no broker) and kept, so a POS result can be seen and checked.
#[derive(Default)]
pub struct ConsoleIot {
    pub kept: MemoryPublisher,
}

#[async_trait]
impl Publisher for ConsoleIot {
    async fn publish(&self, topic: &str, payload: Vec<u8>) -> Result<(), String> {
        eprintln!(
            "qrpay-local: IOT {topic}: {}",
            String::from_utf8_lossy(&payload)
        );
        self.kept.publish(topic, payload).await
    }
}
