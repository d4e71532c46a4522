//! One function, two triggers: API Gateway (HTTP API v2) events and IoT
//! topic-rule events arrive at the same entry point and are told apart by
//! their shape.

use qrpay_http::event;
use serde_json::Value;

use crate::{handle, iot, App};

/// Handles any event this function is invoked with.
pub async fn dispatch(app: &App, event: Value) -> Result<Value, String> {
    if event::is_http(&event) {
        let response = handle(app, event::request_of(event)?).await;
        event::response_value(response)
    } else {
        iot::handle_iot(app, event).await?;
        Ok(Value::Null)
    }
}
