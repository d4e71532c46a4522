//! Where answers to POS devices are published: the IoT data plane in AWS
//! (`qrpay_aws::iot`), in process locally and in tests.

use std::sync::Mutex;

use async_trait::async_trait;

/// Publishes a device's answer on a topic.
#[async_trait]
pub trait Publisher: Send + Sync {
    async fn publish(&self, topic: &str, payload: Vec<u8>) -> Result<(), String>;
}

/// The in-process publisher: keeps what was published, for the local stack
/// and tests.
#[derive(Default)]
pub struct MemoryPublisher {
    published: Mutex<Vec<(String, Vec<u8>)>>,
}

impl MemoryPublisher {
    pub fn new() -> MemoryPublisher {
        MemoryPublisher::default()
    }

    /// Everything published so far, oldest first, and forgets it.
    pub fn take(&self) -> Vec<(String, Vec<u8>)> {
        std::mem::take(&mut *self.published.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[async_trait]
impl Publisher for MemoryPublisher {
    async fn publish(&self, topic: &str, payload: Vec<u8>) -> Result<(), String> {
        self.published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((topic.to_owned(), payload));
        Ok(())
    }
}
