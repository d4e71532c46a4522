//! Orders and the QR codes that collect for them.

use aws_sdk_dynamodb::types::AttributeValue;
use qrpay_domain::time::from_millis;
use qrpay_domain::{
    Amount, DeductionStatus, DeviceId, InstalmentPlan, Order, OrderId, OrderStatus, OutOrderNo,
    PlanPeriods, Provider, ProviderRef, QrCode, QrDescription, QrId, QrKind, QrState, ShopId,
};

use super::*;
use qrpay_domain::receivables::owes_instalments;
use qrpay_store::StoreError;

/// The processing fee booked with the order's payment, in fen.
const PROCESSING_FEE: &str = "processing_fee_fen";

pub fn order_item(order: &Order) -> Item {
    let mut item = order_key(&order.shop_id, &order.order_id);
    item.extend([
        ("entity".to_owned(), s("order")),
        ("order_id".to_owned(), s(order.order_id.as_str())),
        ("shop_id".to_owned(), s(order.shop_id.as_str())),
        ("amount_fen".to_owned(), n(order.amount.fen())),
        (PAID.to_owned(), n(order.paid_amount.fen())),
        (REFUNDED.to_owned(), n(order.refunded_amount.fen())),
        (ORDER_STATUS.to_owned(), s(order.status.as_str())),
        (LIVE_TOTAL.to_owned(), n(order.payouts_live_total.fen())),
        (
            LIVE_COUNT.to_owned(),
            n(i64::from(order.payouts_live_count)),
        ),
        (
            REFUNDS_PENDING.to_owned(),
            n(order.refunds_pending_total.fen()),
        ),
        (
            REFUNDS_COUNT.to_owned(),
            n(i64::from(order.refunds_live_count)),
        ),
        ("created_at_ms".to_owned(), ms(order.created_at)),
        (UPDATED_AT.to_owned(), ms(order.updated_at)),
    ]);
    item.extend(order_collection_attributes(order));
    let optional = [
        ("qr_id", order.qr_id.as_ref().map(|q| s(q.as_str()))),
        ("device_id", order.device_id.as_ref().map(|d| s(d.as_str()))),
        (
            "out_order_no",
            order.out_order_no.as_ref().map(|o| s(o.as_str())),
        ),
        (
            "description",
            order.description.as_ref().map(|d| s(d.as_str())),
        ),
        (
            "instalment_plan",
            order.instalment_plan.as_ref().map(plan_attribute),
        ),
        (LAST_PAYOUT_AT, order.last_payout_at.map(ms)),
        (ORDER_EXPIRES_AT, order.expires_at.map(ms)),
        (
            "provider_order",
            order.provider_order.map(|p| s(p.as_str())),
        ),
        (LAST_REFUND_AT, order.last_refund_at.map(ms)),
        (
            COLLECTION_DAY,
            order.collection_day.map(|d| s(d.to_string())),
        ),
    ];
    extend_present(&mut item, optional);
    // GSI1: the shop's orders by creation time (SPEC §11 listing).
    item.insert(
        GSI1PK.to_owned(),
        s(crate::dynamo::orders::shop_orders_gsi_pk(&order.shop_id)),
    );
    item.insert(
        GSI1SK.to_owned(),
        s(qrpay_store::OrderPosition::of(order).key()),
    );
    // Sparse GSI3: only an unpaid order that can expire is listed there.
    if let (OrderStatus::Created, Some(expires_at)) = (order.status, order.expires_at) {
        let sk = open_order_gsi_sk(expires_at, &order.shop_id, &order.order_id);
        item.insert(GSI3PK.to_owned(), s(OPEN_ORDER_GSI_PK));
        item.insert(GSI3SK.to_owned(), s(sk));
    }
    item
}

/// The attributes a collection change (payment, deduction, refund) sets;
/// never the payout counters, which reservations change concurrently.
pub fn order_collection_attributes(order: &Order) -> Vec<(String, AttributeValue)> {
    let mut attributes = vec![
        (PAID.to_owned(), n(order.paid_amount.fen())),
        (REFUNDED.to_owned(), n(order.refunded_amount.fen())),
        (ORDER_STATUS.to_owned(), s(order.status.as_str())),
        (
            "deductions".to_owned(),
            s(order
                .deductions
                .iter()
                .map(|d| d.letter())
                .collect::<String>()),
        ),
        (
            REVISION.to_owned(),
            n(i64::try_from(order.revision).unwrap_or(i64::MAX)),
        ),
        (UPDATED_AT.to_owned(), ms(order.updated_at)),
    ];
    let optional = [
        ("provider", order.provider.map(|p| s(p.as_str()))),
        (
            "provider_txn_id",
            order.provider_txn_id.as_ref().map(|t| s(t.as_str())),
        ),
        ("payer_masked", order.payer_masked.as_deref().map(s)),
        // Restricted: only the transfer adapter reads it back.
        ("payer_account", order.payer_account.as_ref().map(json_attr)),
        ("paid_at_ms", order.paid_at.map(ms)),
        // Set once, by the payment; absent (zero) without a processing fee.
        (
            PROCESSING_FEE,
            (!order.processing_fee.is_zero()).then(|| n(order.processing_fee.fen())),
        ),
    ];
    extend_present(&mut attributes, optional);
    // Sparse GSI2: a shop's receivables list the orders that owe instalments.
    if owes_instalments(order) {
        attributes.push((GSI2PK.to_owned(), s(receivable_gsi_pk(&order.shop_id))));
        attributes.push((GSI2SK.to_owned(), s(order.order_id.as_str())));
    }
    attributes
}

pub(super) fn plan_attribute(plan: &InstalmentPlan) -> AttributeValue {
    s(serde_json::to_string(plan).expect("a plan always serializes"))
}

pub(super) fn get_opt_plan(item: &Item) -> Result<Option<InstalmentPlan>, StoreError> {
    get_opt_s(item, "instalment_plan")
        .map(|t| serde_json::from_str(&t).map_err(|_| corrupt("instalment_plan", item)))
        .transpose()
}

pub fn order_from(item: &Item) -> Result<Order, StoreError> {
    Ok(Order {
        order_id: parse(item, "order_id", OrderId::parse)?,
        shop_id: parse(item, "shop_id", ShopId::parse)?,
        amount: get_amount(item, "amount_fen")?,
        paid_amount: get_money(item, PAID)?,
        refunded_amount: get_money(item, REFUNDED)?,
        status: parse(item, ORDER_STATUS, |t| OrderStatus::parse(t).ok_or(()))?,
        provider: get_opt_parsed(item, "provider", |t| Provider::parse(t).ok_or(()))?,
        provider_txn_id: get_opt_parsed(item, "provider_txn_id", ProviderRef::parse)?,
        qr_id: get_opt_parsed(item, "qr_id", QrId::parse)?,
        device_id: get_opt_parsed(item, "device_id", DeviceId::parse)?,
        out_order_no: get_opt_parsed(item, "out_order_no", OutOrderNo::parse)?,
        description: get_opt_parsed(item, "description", QrDescription::parse)?,
        instalment_plan: get_opt_plan(item)?,
        deductions: get_s(item, "deductions")?
            .chars()
            .map(DeductionStatus::from_letter)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| corrupt("deductions", item))?,
        payer_masked: get_opt_s(item, "payer_masked"),
        payer_account: get_opt_json(item, "payer_account")?,
        paid_at: get_opt_i64(item, "paid_at_ms")?.map(from_millis),
        revision: u64::try_from(get_i64(item, REVISION)?).map_err(|_| corrupt(REVISION, item))?,
        payouts_live_total: get_money(item, LIVE_TOTAL)?,
        payouts_live_count: u32::try_from(get_i64(item, LIVE_COUNT)?)
            .map_err(|_| corrupt(LIVE_COUNT, item))?,
        last_payout_at: get_opt_i64(item, LAST_PAYOUT_AT)?.map(from_millis),
        expires_at: get_opt_i64(item, ORDER_EXPIRES_AT)?.map(from_millis),
        provider_order: get_opt_parsed(item, "provider_order", |t| Provider::parse(t).ok_or(()))?,
        // Orders written before refunds existed have none pending.
        refunds_pending_total: match item.get(REFUNDS_PENDING) {
            Some(_) => get_money(item, REFUNDS_PENDING)?,
            None => qrpay_domain::Money::ZERO,
        },
        refunds_live_count: u32::try_from(get_opt_i64(item, REFUNDS_COUNT)?.unwrap_or(0))
            .map_err(|_| corrupt(REFUNDS_COUNT, item))?,
        last_refund_at: get_opt_i64(item, LAST_REFUND_AT)?.map(from_millis),
        // Orders written before the collection cap were never counted.
        collection_day: get_opt_parsed(item, COLLECTION_DAY, qrpay_domain::BusinessDate::parse)?,
        // Orders paid before it was kept hand nothing back with a refund.
        processing_fee: match item.get(PROCESSING_FEE) {
            Some(_) => get_money(item, PROCESSING_FEE)?,
            None => qrpay_domain::Money::ZERO,
        },
        created_at: get_time(item, "created_at_ms")?,
        updated_at: get_time(item, UPDATED_AT)?,
    })
}

pub fn qr_item(code: &QrCode) -> Item {
    let mut item = qr_key(&code.shop_id, &code.qr_id);
    item.extend([
        ("entity".to_owned(), s("qr_code")),
        ("qr_id".to_owned(), s(code.qr_id.as_str())),
        ("shop_id".to_owned(), s(code.shop_id.as_str())),
        ("kind".to_owned(), s(code.kind.as_str())),
        (QR_STATE.to_owned(), s(code.state.as_str())),
        ("url".to_owned(), s(code.url.as_str())),
        ("emv".to_owned(), s(code.emv.as_str())),
        (FINGERPRINT.to_owned(), s(code.fingerprint.as_str())),
        ("created_at_ms".to_owned(), ms(code.created_at)),
        (UPDATED_AT.to_owned(), ms(code.updated_at)),
    ]);
    let optional = [
        ("order_id", code.order_id.as_ref().map(|o| s(o.as_str()))),
        (
            "out_order_no",
            code.out_order_no.as_ref().map(|o| s(o.as_str())),
        ),
        ("amount_fen", code.amount.map(|a| n(a.fen()))),
        (
            "description",
            code.description.as_ref().map(|d| s(d.as_str())),
        ),
        ("device_id", code.device_id.as_ref().map(|d| s(d.as_str()))),
        (
            "instalment_periods",
            code.instalment_periods.map(|p| n(i64::from(p.as_u8()))),
        ),
        (
            "instalment_plan",
            code.instalment_plan.as_ref().map(plan_attribute),
        ),
        ("expires_at_ms", code.expires_at.map(ms)),
    ];
    extend_present(&mut item, optional);
    item
}

pub fn qr_from(item: &Item) -> Result<QrCode, StoreError> {
    Ok(QrCode {
        qr_id: parse(item, "qr_id", QrId::parse)?,
        shop_id: parse(item, "shop_id", ShopId::parse)?,
        kind: parse(item, "kind", |t| QrKind::parse(t).ok_or(()))?,
        order_id: get_opt_parsed(item, "order_id", OrderId::parse)?,
        out_order_no: get_opt_parsed(item, "out_order_no", OutOrderNo::parse)?,
        amount: get_opt_i64(item, "amount_fen")?
            .map(|f| Amount::from_fen(f).map_err(|_| corrupt("amount_fen", item)))
            .transpose()?,
        description: get_opt_parsed(item, "description", QrDescription::parse)?,
        device_id: get_opt_parsed(item, "device_id", DeviceId::parse)?,
        instalment_periods: get_opt_periods(item, "instalment_periods")?,
        instalment_plan: get_opt_plan(item)?,
        state: parse(item, QR_STATE, |t| QrState::parse(t).ok_or(()))?,
        expires_at: get_opt_i64(item, "expires_at_ms")?.map(from_millis),
        url: get_s(item, "url")?.to_owned(),
        emv: get_s(item, "emv")?.to_owned(),
        fingerprint: get_s(item, FINGERPRINT)?.to_owned(),
        created_at: get_time(item, "created_at_ms")?,
        updated_at: get_time(item, UPDATED_AT)?,
    })
}

/// A plan length as stored (the bare number); any other number is corruption.
fn get_opt_periods(item: &Item, name: &str) -> Result<Option<PlanPeriods>, StoreError> {
    get_opt_u8(item, name)?
        .map(|p| PlanPeriods::new(p).map_err(|_| corrupt(name, item)))
        .transpose()
}
