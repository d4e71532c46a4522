//! The POS learns its order's result (SPEC §11, API.md "POS devices"): when
//! an order whose code a device issued is paid, its state goes to that
//! device on `pos/{device_id}/order/result` over IoT. Sent where the payment
//! is applied ([`crate::collected::apply_collection_event`]: a provider's
//! notice, the receipt page's query, or the sweeper's query of an order that
//! expired), which happens once per order (a redelivered notice is
//! `AlreadyApplied`): once per payment. A device that missed it (offline, or
//! the publish failed) reads `GET /devices/{device_id}/orders/{order_id}`.

use qrpay_domain::time::rfc3339_beijing;
use qrpay_domain::{DeviceId, Order};
use serde_json::{json, Value};

use qrpay_queue::publish::Publisher;

use crate::CollectionStore;

/// The topic a device hears its orders' results on.
pub fn order_result_topic(device: &DeviceId) -> String {
    format!("pos/{device}/order/result")
}

/// What the device is told: the order's state, no buyer data.
pub fn order_result(order: &Order) -> Value {
    json!({
        "order_id": order.order_id,
        "out_order_no": order.out_order_no,
        "qr_id": order.qr_id,
        "status": order.status.as_str(),
        "amount": order.amount.to_string(),
        "paid_amount": order.paid_amount.to_string(),
        "provider": order.provider.map(|p| p.as_str()),
        "provider_txn_id": order.provider_txn_id.as_ref().map(|t| t.as_str()),
        "paid_at": order.paid_at.map(rfc3339_beijing),
    })
}

/// Tells the device that issued `order`'s code (if a device did) that it
/// was paid. A failure is logged, never the notice's: the payment is
/// applied and the device can still read the order.
pub async fn tell_device(
    collection: &dyn CollectionStore,
    publisher: &dyn Publisher,
    order: &Order,
) {
    let Some(qr_id) = &order.qr_id else {
        return;
    };
    let device = match collection.get_qr(&order.shop_id, qr_id).await {
        Ok(code) => code.and_then(|c| c.device_id),
        Err(e) => {
            tracing::warn!(order_id = %order.order_id, error = %e, "POS result not sent: code unreadable");
            return;
        }
    };
    let Some(device) = device else {
        return;
    };
    let topic = order_result_topic(&device);
    let payload = order_result(order).to_string().into_bytes();
    match publisher.publish(&topic, payload).await {
        Ok(()) => {
            tracing::info!(device_id = %device, order_id = %order.order_id, "POS told its order is paid")
        }
        Err(e) => {
            tracing::warn!(device_id = %device, order_id = %order.order_id, error = %e, "POS result not published")
        }
    }
}
