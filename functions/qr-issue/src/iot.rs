//! POS devices over AWS IoT Core (SPEC §3). The topic rule
//! `SELECT topic() AS topic, topic(2) AS device_id, request_id, kind, amount,
//! out_order_no, description, expires_in_s, instalments FROM 'pos/+/qr/request'`
//! invokes this function: the device is the one the topic names (its
//! certificate's policy pins it to its own topics), never one from the
//! message body, which the rule does not even select. The answer goes back
//! on `pos/{device_id}/qr/response` through the publish port.

use qrpay_domain::DeviceId;
use qrpay_http::{ApiError, Fields};
use qrpay_store::alerts::{Alert, AlertCode};
use serde_json::{json, Map, Value};

use crate::issue::{issue, MAX_BODY_BYTES};
use crate::App;

pub use qrpay_queue::publish::{MemoryPublisher, Publisher};

pub fn request_topic(device: &DeviceId) -> String {
    format!("pos/{device}/qr/request")
}

pub fn response_topic(device: &DeviceId) -> String {
    format!("pos/{device}/qr/response")
}

/// The device a request topic names, if it is one of ours.
pub fn topic_device(topic: &str) -> Option<DeviceId> {
    match topic.split('/').collect::<Vec<_>>().as_slice() {
        ["pos", device, "qr", "request"] => DeviceId::parse(device).ok(),
        _ => None,
    }
}

/// The fields the rule adds; everything else is the device's request.
const RULE_FIELDS: [&str; 3] = ["topic", "device_id", "request_id"];

/// Handles one topic-rule event. `Err` only when no answer could be
/// published (the invocation is then retried).
pub async fn handle_iot(app: &App, event: Value) -> Result<(), String> {
    let Value::Object(mut map) = event else {
        return Err("IoT event is not a JSON object".into());
    };
    let topic = map.get("topic").and_then(Value::as_str).unwrap_or_default();
    let Some(device_id) = topic_device(topic) else {
        // Without a device there is nobody to answer: the rule is misconfigured.
        let alert = misconfigured(topic, "event without a request topic");
        app.alerts.raise(&alert).await;
        return Err(format!(
            "event topic {topic:?} is not pos/{{device}}/qr/request"
        ));
    };
    if map.get("device_id").and_then(Value::as_str) != Some(device_id.as_str()) {
        let alert = misconfigured(topic, "device_id differs from the topic");
        app.alerts.raise(&alert).await;
        return Err("device_id does not match the topic".into());
    }
    let request_id = map
        .get("request_id")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty() && r.len() <= 64)
        .map(str::to_owned);
    for field in RULE_FIELDS {
        map.remove(field);
    }
    let (status, body) = match answer(app, &device_id, map).await {
        Ok(body) => (201, body),
        Err(err) => (err.status.as_u16(), err.body()),
    };
    let reply = json!({"request_id": request_id, "status": status, "body": body});
    let payload = serde_json::to_vec(&reply).map_err(|e| e.to_string())?;
    app.publisher
        .publish(&response_topic(&device_id), payload)
        .await
}

/// The alert that the topic rule does not deliver what this function needs.
fn misconfigured(topic: &str, what: &str) -> Alert {
    Alert {
        code: AlertCode::IotRuleMisconfigured.into(),
        message: format!("IoT rule event on topic {topic:?}: {what}; check the topic rule's SQL"),
        shop_id: None,
        reference: topic.to_owned(),
    }
}

async fn answer(
    app: &App,
    device_id: &DeviceId,
    request: Map<String, Value>,
) -> Result<Value, ApiError> {
    let size = serde_json::to_vec(&request)
        .map(|b| b.len())
        .unwrap_or(usize::MAX);
    if size > MAX_BODY_BYTES {
        return Err(ApiError::too_large(MAX_BODY_BYTES));
    }
    // IoT rules select absent fields as absent; nulls are treated as absent too.
    let fields = Fields::from_value(Value::Object(request))?;
    let Some(device) = app.shops.get_device(device_id).await? else {
        return Err(ApiError::unauthenticated("this device is not registered"));
    };
    Ok(issue(app, &device.shop_id, &fields, Some(device_id))
        .await?
        .body)
}
