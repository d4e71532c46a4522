//! Replies to POS devices through AWS IoT Core's data plane.

use async_trait::async_trait;
use qrpay_queue::publish::Publisher;

/// AWS IoT Core's data plane (`iot:Publish` on `pos/*/qr/response`).
pub struct IotDataPublisher {
    client: aws_sdk_iotdataplane::Client,
}

impl IotDataPublisher {
    pub fn new(client: aws_sdk_iotdataplane::Client) -> IotDataPublisher {
        IotDataPublisher { client }
    }
}

#[async_trait]
impl Publisher for IotDataPublisher {
    async fn publish(&self, topic: &str, payload: Vec<u8>) -> Result<(), String> {
        self.client
            .publish()
            .topic(topic)
            .qos(1)
            .payload(aws_sdk_iotdataplane::primitives::Blob::new(payload))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_sdk_iotdataplane::error::DisplayErrorContext(e).to_string())
    }
}
