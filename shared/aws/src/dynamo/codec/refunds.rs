//! Merchant refunds (BUYER_PAGES §11.3): the refund, its pointer (a provider
//! notice names only our refund id) and its idempotency record.

use qrpay_domain::{
    IdempotencyKey, OperatorId, OrderId, Provider, Refund, RefundId, RefundReason, RefundStatus,
    ShopId,
};

use super::*;
use qrpay_store::StoreError;

pub const REFUND_STATUS: &str = "refund_status";
pub const REFUNDS_PENDING: &str = "refunds_pending_total_fen";
pub const REFUNDS_COUNT: &str = "refunds_live_count";
pub const LAST_REFUND_AT: &str = "last_refund_at_ms";
pub const REFUND_ENABLED: &str = "refunds_enabled";

pub fn refund_sk(refund: &RefundId) -> String {
    format!("REFUND#{refund}")
}
pub fn refund_key(shop: &ShopId, refund: &RefundId) -> Item {
    key(shop_pk(shop), refund_sk(refund))
}
pub fn refund_pointer_key(refund: &RefundId) -> Item {
    key(format!("REFUND#{refund}"), "REFUND".into())
}
/// Apart from payouts' `IDEMPOTENCY#{key}`: a key cannot collide across
/// the two routes (`#` may be part of a key, so not `IDEMPOTENCY#REFUND#`).
pub fn refund_idempotency_key(shop: &ShopId, idem: &IdempotencyKey) -> Item {
    key(shop_pk(shop), format!("REFUNDIDEM#{}", idem.as_str()))
}
pub fn order_refunds_gsi_pk(shop: &ShopId, order: &OrderId) -> String {
    format!("SHOP#{shop}#ORDER#{order}#REFUNDS")
}
/// GSI3 (sparse): refunds not yet final, apart from payouts' `OPEN#…`.
pub fn open_refund_gsi_pk(status: RefundStatus) -> String {
    format!("OPENREFUND#{}", status.as_str())
}
pub fn open_refund_gsi_sk(refund: &Refund) -> String {
    format!(
        "{}#{}#{}",
        ms_key(refund.updated_at),
        refund.shop_id,
        refund.refund_id
    )
}

pub fn refund_item(refund: &Refund) -> Item {
    let mut item = refund_key(&refund.shop_id, &refund.refund_id);
    item.extend([
        ("entity".to_owned(), s("refund")),
        (
            GSI1PK.to_owned(),
            s(order_refunds_gsi_pk(&refund.shop_id, &refund.order_id)),
        ),
        (GSI1SK.to_owned(), s(refund_sk(&refund.refund_id))),
        ("refund_id".to_owned(), s(refund.refund_id.as_str())),
        ("shop_id".to_owned(), s(refund.shop_id.as_str())),
        ("order_id".to_owned(), s(refund.order_id.as_str())),
        ("operator_id".to_owned(), s(refund.operator_id.as_str())),
        ("amount_fen".to_owned(), n(refund.amount.fen())),
        (FEE_RETURNED.to_owned(), n(refund.fee_returned.fen())),
        ("provider".to_owned(), s(refund.provider.as_str())),
        (REFUND_STATUS.to_owned(), s(refund.status.as_str())),
        (
            "idempotency_key".to_owned(),
            s(refund.idempotency_key.as_str()),
        ),
        ("created_at_ms".to_owned(), ms(refund.created_at)),
        (UPDATED_AT.to_owned(), ms(refund.updated_at)),
    ]);
    if !refund.status.is_final() {
        item.insert(GSI3PK.to_owned(), s(open_refund_gsi_pk(refund.status)));
        item.insert(GSI3SK.to_owned(), s(open_refund_gsi_sk(refund)));
    }
    let optional = [
        ("reason", refund.reason.as_ref().map(|r| s(r.as_str()))),
        ("failure_reason", refund.failure_reason.as_deref().map(s)),
        (
            "provider_refund_id",
            refund.provider_refund_id.as_deref().map(s),
        ),
    ];
    extend_present(&mut item, optional);
    item
}

/// The processing fee handed back with a refund, in fen.
const FEE_RETURNED: &str = "fee_returned_fen";

pub fn refund_from(item: &Item) -> Result<Refund, StoreError> {
    Ok(Refund {
        refund_id: parse(item, "refund_id", RefundId::parse)?,
        shop_id: parse(item, "shop_id", ShopId::parse)?,
        order_id: parse(item, "order_id", OrderId::parse)?,
        operator_id: parse(item, "operator_id", OperatorId::parse)?,
        amount: get_amount(item, "amount_fen")?,
        reason: get_opt_parsed(item, "reason", RefundReason::parse)?,
        provider: parse(item, "provider", |t| Provider::parse(t).ok_or(()))?,
        status: parse(item, REFUND_STATUS, |t| RefundStatus::parse(t).ok_or(()))?,
        failure_reason: get_opt_s(item, "failure_reason"),
        provider_refund_id: get_opt_s(item, "provider_refund_id"),
        // Refunds reserved before it was kept reserved the whole amount.
        fee_returned: match item.get(FEE_RETURNED) {
            Some(_) => get_money(item, FEE_RETURNED)?,
            None => qrpay_domain::Money::ZERO,
        },
        idempotency_key: parse(item, "idempotency_key", IdempotencyKey::parse)?,
        created_at: get_time(item, "created_at_ms")?,
        updated_at: get_time(item, UPDATED_AT)?,
    })
}
