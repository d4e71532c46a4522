//! Replies to POS devices through AWS IoT Core's data plane.

use async_trait::async_trait;
use aws_config::SdkConfig;
use qrpay_queue::publish::Publisher;

use crate::lazy::Lazy;

/// AWS IoT Core's data plane (`iot:Publish` on `pos/*/qr/response`).
pub struct IotDataPublisher {
    client: Lazy<aws_sdk_iotdataplane::Client>,
}

impl IotDataPublisher {
    pub fn new(client: aws_sdk_iotdataplane::Client) -> IotDataPublisher {
        IotDataPublisher {
            client: Lazy::ready(client),
        }
    }

    /// On the account's data `endpoint`, made on first use (crate::lazy):
    /// only the IoT rule's events reply to a device.
    pub fn from_conf(config: &SdkConfig, endpoint: String) -> IotDataPublisher {
        let client = Lazy::new(config, move |config| {
            let iot = aws_sdk_iotdataplane::config::Builder::from(config)
                .endpoint_url(&endpoint)
                .build();
            aws_sdk_iotdataplane::Client::from_conf(iot)
        });
        IotDataPublisher { client }
    }
}

#[async_trait]
impl Publisher for IotDataPublisher {
    async fn publish(&self, topic: &str, payload: Vec<u8>) -> Result<(), String> {
        self.client
            .get()
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
