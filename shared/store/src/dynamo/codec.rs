//! Item layout of the single table and the conversions to and from domain
//! types. Amounts are stored as integer fen in DynamoDB numbers: exact in
//! DynamoDB and in every emulator, and never a float anywhere.
//!
//! | item            | PK              | SK                        | GSI1 (by order)          | GSI2 (by day)          |
//! |-----------------|-----------------|---------------------------|--------------------------|------------------------|
//! | shop            | `SHOP#{shop}`   | `SHOP`                    |                          |                        |
//! | order           | `SHOP#{shop}`   | `ORDER#{order}`           |                          |                        |
//! | payout quota    | `SHOP#{shop}`   | `QUOTA#{operator}`        |                          |                        |
//! | payout          | `SHOP#{shop}`   | `PAYOUT#{payout}`         | `SHOP#{s}#ORDER#{o}` / `PAYOUT#{p}` | `SHOP#{s}#DAY#{d}` / `PAYOUT#{p}` |
//! | idempotency     | `SHOP#{shop}`   | `IDEMPOTENCY#{key}`       |                          |                        |
//! | shop day        | `SHOP#{shop}`   | `DAY#{date}`              |                          |                        |
//! | operator day    | `SHOP#{shop}`   | `OPDAY#{date}#{operator}` |                          |                        |
//! | device          | `DEVICE#{dev}`  | `DEVICE`                  |                          |                        |
//! | payout pointer  | `PAYOUT#{p}`    | `PAYOUT`                  | (a payout's shop, for provider notices)           |
//! | payout attempt  | `SHOP#{shop}`   | `PAYOUT#{p}#ATTEMPT#{ms}#{n}` |                      |                        |
//! | notice          | `SHOP#{shop}`   | `NOTICE#{ms}#{notice}`    |                          |                        |
//! | ledger entry    | `SHOP#{shop}`   | `LEDGER#{date}#{entry}`   |                          | `LEDGERDAY#{d}#{part}` / `{shop}#{entry}` |
//! | QR code         | `SHOP#{shop}`   | `QR#{qr}`                 |                          |                        |
//! | out_order_no    | `SHOP#{shop}`   | `OUTORDER#{no}`           | (claims a shop's order number for one code)       |
//! | order pointer   | `ORDER#{order}` | `ORDER`                   | (an order's shop, for provider notices)           |
//! | POS nonce       | `DEVICE#{dev}`  | `NONCE#{nonce}`           | (TTL `expires_at_s`)     |                        |
//! | notification    | `NOTIFICATION#{provider}#{id}` | `NOTIFICATION` | (dedupe; TTL `expires_at_s`)               |
//! | movement        | `MOVEMENT#{entry}` | `MOVEMENT`             | (a provider movement already in the ledger)       |
//! | anomaly         | `ANOMALY#{date}` | `ANOMALY#{anomaly}`      |                          |                        |
//! | reconciliation  | `SHOP#{shop}`   | `RECON#{date}`            | (the day's summary, as JSON in `summary`)         |
//! | once            | `ONCE#{key}`    | `ONCE`                    | (an alert already sent; TTL `expires_at_s`)       |
//!
//! GSI3 is sparse: only payouts not yet final carry `GSI3PK = OPEN#{status}`
//! and `GSI3SK = {last change ms}#{shop}#{payout}`, so the sweeper finds
//! stale ones without scanning.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use qrpay_domain::time::from_millis;
use qrpay_domain::{
    Amount, Anomaly, AnomalyKind, AttemptAction, AttemptOutcome, BusinessDate, DeductionStatus,
    Device, DeviceId, IdempotencyKey, InstalmentConfig, InstalmentPlan, LedgerEntry, LedgerKind,
    Money, Notice, NoticeKind, OperatorId, Order, OrderId, OrderStatus, OutOrderNo, Payout,
    PayoutAttempt, PayoutId, PayoutQuota, PayoutReason, PayoutStatus, Provider, ProviderRef,
    QrCode, QrId, QrKind, QrState, Secret, Shop, ShopId,
};

use crate::{DayTotals, StoreError};

pub type Item = HashMap<String, AttributeValue>;

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1: &str = "GSI1";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
pub const GSI2: &str = "GSI2";
pub const GSI2PK: &str = "GSI2PK";
pub const GSI2SK: &str = "GSI2SK";
pub const GSI3: &str = "GSI3";
pub const GSI3PK: &str = "GSI3PK";
pub const GSI3SK: &str = "GSI3SK";
/// TTL attribute (epoch seconds) for records that may expire, such as POS nonces.
pub const TTL_ATTRIBUTE: &str = "expires_at_s";

// Attribute names used in expressions (always through `#names`: several are
// DynamoDB reserved words).
pub const PAYOUT_TOTAL: &str = "payout_total_fen";
pub const PAYOUT_COUNT: &str = "payout_count";
pub const LIVE_TOTAL: &str = "payouts_live_total_fen";
pub const LIVE_COUNT: &str = "payouts_live_count";
pub const LAST_PAYOUT_AT: &str = "last_payout_at_ms";
pub const BALANCE: &str = "payout_balance_fen";
pub const HELD: &str = "payout_held_fen";
pub const CAP: &str = "daily_payout_cap_fen";
pub const OWNER: &str = "owner_operator_id";
pub const ORDER_STATUS: &str = "order_status";
pub const PAID: &str = "paid_amount_fen";
pub const REFUNDED: &str = "refunded_amount_fen";
pub const PAYOUT_STATUS: &str = "payout_status";
pub const ENABLED: &str = "enabled";
pub const PER_PAYOUT_LIMIT: &str = "per_payout_limit_fen";
pub const DAILY_LIMIT: &str = "daily_limit_fen";
pub const FINGERPRINT: &str = "fingerprint";
pub const UPDATED_AT: &str = "updated_at_ms";
pub const REVISION: &str = "revision";
pub const QR_STATE: &str = "qr_state";

pub fn shop_pk(shop: &ShopId) -> String {
    format!("SHOP#{shop}")
}

pub fn key(pk: String, sk: String) -> Item {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(pk)),
        (SK.to_owned(), AttributeValue::S(sk)),
    ])
}

pub fn shop_key(shop: &ShopId) -> Item {
    key(shop_pk(shop), "SHOP".into())
}
pub fn order_key(shop: &ShopId, order: &OrderId) -> Item {
    key(shop_pk(shop), format!("ORDER#{order}"))
}
pub fn quota_key(shop: &ShopId, operator: &OperatorId) -> Item {
    key(shop_pk(shop), format!("QUOTA#{operator}"))
}
pub fn payout_sk(payout: &PayoutId) -> String {
    format!("PAYOUT#{payout}")
}
pub fn payout_key(shop: &ShopId, payout: &PayoutId) -> Item {
    key(shop_pk(shop), payout_sk(payout))
}
pub fn idempotency_key(shop: &ShopId, idem: &IdempotencyKey) -> Item {
    key(shop_pk(shop), format!("IDEMPOTENCY#{}", idem.as_str()))
}
pub fn shop_day_key(shop: &ShopId, date: BusinessDate) -> Item {
    key(shop_pk(shop), format!("DAY#{date}"))
}
pub fn operator_day_key(shop: &ShopId, operator: &OperatorId, date: BusinessDate) -> Item {
    key(shop_pk(shop), format!("OPDAY#{date}#{operator}"))
}
pub fn payout_pointer_key(payout: &PayoutId) -> Item {
    key(format!("PAYOUT#{payout}"), "PAYOUT".into())
}
pub fn device_key(device: &DeviceId) -> Item {
    key(format!("DEVICE#{device}"), "DEVICE".into())
}
pub fn qr_key(shop: &ShopId, qr: &QrId) -> Item {
    key(shop_pk(shop), format!("QR#{qr}"))
}
pub fn out_order_key(shop: &ShopId, no: &OutOrderNo) -> Item {
    key(shop_pk(shop), format!("OUTORDER#{no}"))
}
pub fn order_pointer_key(order: &OrderId) -> Item {
    key(format!("ORDER#{order}"), "ORDER".into())
}
pub fn nonce_key(device: &DeviceId, nonce: &str) -> Item {
    key(format!("DEVICE#{device}"), format!("NONCE#{nonce}"))
}
pub fn notification_key(provider: Provider, id: &ProviderRef) -> Item {
    key(
        format!("NOTIFICATION#{provider}#{id}"),
        "NOTIFICATION".into(),
    )
}
pub fn movement_key(entry_id: &str) -> Item {
    key(format!("MOVEMENT#{entry_id}"), "MOVEMENT".into())
}
/// GSI2 partition of a day's ledger part: reconciliation reads the day
/// part by part in (shop, entry) order.
pub fn ledger_day_gsi_pk(date: BusinessDate, part: u16) -> String {
    format!("LEDGERDAY#{date}#{part:02}")
}
pub fn reconciliation_key(shop: &ShopId, date: BusinessDate) -> Item {
    key(shop_pk(shop), format!("RECON#{date}"))
}
pub fn once_key(once: &str) -> Item {
    key(format!("ONCE#{once}"), "ONCE".to_owned())
}
pub fn lease_key(lease: &str) -> Item {
    key(format!("LEASE#{lease}"), "LEASE".to_owned())
}
pub fn anomaly_pk(date: BusinessDate) -> String {
    format!("ANOMALY#{date}")
}
pub const ANOMALY_PREFIX: &str = "ANOMALY#";
pub fn order_payouts_gsi_pk(shop: &ShopId, order: &OrderId) -> String {
    format!("SHOP#{shop}#ORDER#{order}")
}
pub fn day_payouts_gsi_pk(shop: &ShopId, date: BusinessDate) -> String {
    format!("SHOP#{shop}#DAY#{date}")
}

/// Zero-padded epoch milliseconds, so keys sort by time.
pub fn ms_key(t: DateTime<Utc>) -> String {
    format!("{:013}", t.timestamp_millis().max(0))
}

pub fn open_gsi_pk(status: PayoutStatus) -> String {
    format!("OPEN#{}", status.as_str())
}

pub fn open_gsi_sk(payout: &Payout) -> String {
    format!(
        "{}#{}#{}",
        ms_key(payout.updated_at),
        payout.shop_id,
        payout.payout_id
    )
}

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
pub fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
pub fn ms(t: DateTime<Utc>) -> AttributeValue {
    n(t.timestamp_millis())
}

fn corrupt(name: &str, item: &Item) -> StoreError {
    let what = item
        .get(SK)
        .and_then(|v| v.as_s().ok())
        .map_or("?", |v| v.as_str());
    StoreError::Corrupt(format!("attribute {name} of {what}"))
}

pub fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| corrupt(name, item))
}

pub fn get_opt_s(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

pub fn get_i64(item: &Item, name: &str) -> Result<i64, StoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| corrupt(name, item))
}

fn get_opt_i64(item: &Item, name: &str) -> Result<Option<i64>, StoreError> {
    item.get(name).map(|_| get_i64(item, name)).transpose()
}

fn get_bool(item: &Item, name: &str) -> Result<bool, StoreError> {
    item.get(name)
        .and_then(|v| v.as_bool().ok())
        .copied()
        .ok_or_else(|| corrupt(name, item))
}

pub fn get_money(item: &Item, name: &str) -> Result<Money, StoreError> {
    Money::from_fen(get_i64(item, name)?).ok_or_else(|| corrupt(name, item))
}

fn get_amount(item: &Item, name: &str) -> Result<Amount, StoreError> {
    Amount::from_fen(get_i64(item, name)?).map_err(|_| corrupt(name, item))
}

fn get_time(item: &Item, name: &str) -> Result<DateTime<Utc>, StoreError> {
    get_i64(item, name).map(from_millis)
}

fn parse<T, E>(
    item: &Item,
    name: &str,
    f: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, StoreError> {
    f(get_s(item, name)?).map_err(|_| corrupt(name, item))
}

pub fn shop_from(item: &Item) -> Result<Shop, StoreError> {
    let instalments: InstalmentConfig = parse(item, "instalments", |t| {
        serde_json::from_str::<InstalmentConfig>(t)
    })?;
    Ok(Shop {
        shop_id: parse(item, "shop_id", ShopId::parse)?,
        name: get_s(item, "name")?.to_owned(),
        owner_operator_id: parse(item, OWNER, OperatorId::parse)?,
        daily_payout_cap: get_amount(item, CAP)?,
        payout_balance: get_money(item, BALANCE)?,
        payout_held: get_money(item, HELD)?,
        instalments,
        created_at: get_time(item, "created_at_ms")?,
        updated_at: get_time(item, UPDATED_AT)?,
    })
}

/// Adds the attributes that have a value; absent optional fields are not stored.
fn extend_present<C, const N: usize>(into: &mut C, optional: [(&str, Option<AttributeValue>); N])
where
    C: Extend<(String, AttributeValue)>,
{
    into.extend(
        optional
            .into_iter()
            .filter_map(|(name, v)| Some((name.to_owned(), v?))),
    );
}

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
        ("created_at_ms".to_owned(), ms(order.created_at)),
        (UPDATED_AT.to_owned(), ms(order.updated_at)),
    ]);
    item.extend(order_collection_attributes(order));
    let optional = [
        ("qr_id", order.qr_id.as_ref().map(|q| s(q.as_str()))),
        (
            "out_order_no",
            order.out_order_no.as_ref().map(|o| s(o.as_str())),
        ),
        ("description", order.description.as_deref().map(s)),
        (
            "instalment_plan",
            order.instalment_plan.as_ref().map(plan_attribute),
        ),
        (LAST_PAYOUT_AT, order.last_payout_at.map(ms)),
    ];
    extend_present(&mut item, optional);
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
        ("paid_at_ms", order.paid_at.map(ms)),
    ];
    extend_present(&mut attributes, optional);
    attributes
}

fn plan_attribute(plan: &InstalmentPlan) -> AttributeValue {
    s(serde_json::to_string(plan).expect("a plan always serializes"))
}

fn get_opt_plan(item: &Item) -> Result<Option<InstalmentPlan>, StoreError> {
    get_opt_s(item, "instalment_plan")
        .map(|t| serde_json::from_str(&t).map_err(|_| corrupt("instalment_plan", item)))
        .transpose()
}

fn get_opt_parsed<T, E>(
    item: &Item,
    name: &str,
    f: impl FnOnce(&str) -> Result<T, E>,
) -> Result<Option<T>, StoreError> {
    get_opt_s(item, name)
        .map(|t| f(&t).map_err(|_| corrupt(name, item)))
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
        out_order_no: get_opt_parsed(item, "out_order_no", OutOrderNo::parse)?,
        description: get_opt_s(item, "description"),
        instalment_plan: get_opt_plan(item)?,
        deductions: get_s(item, "deductions")?
            .chars()
            .map(DeductionStatus::from_letter)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| corrupt("deductions", item))?,
        payer_masked: get_opt_s(item, "payer_masked"),
        paid_at: get_opt_i64(item, "paid_at_ms")?.map(from_millis),
        revision: u64::try_from(get_i64(item, REVISION)?).map_err(|_| corrupt(REVISION, item))?,
        payouts_live_total: get_money(item, LIVE_TOTAL)?,
        payouts_live_count: u32::try_from(get_i64(item, LIVE_COUNT)?)
            .map_err(|_| corrupt(LIVE_COUNT, item))?,
        last_payout_at: get_opt_i64(item, LAST_PAYOUT_AT)?.map(from_millis),
        created_at: get_time(item, "created_at_ms")?,
        updated_at: get_time(item, UPDATED_AT)?,
    })
}

pub fn quota_item(quota: &PayoutQuota) -> Item {
    let mut item = quota_key(&quota.shop_id, &quota.operator_id);
    item.extend([
        ("entity".to_owned(), s("payout_quota")),
        ("shop_id".to_owned(), s(quota.shop_id.as_str())),
        ("operator_id".to_owned(), s(quota.operator_id.as_str())),
        (ENABLED.to_owned(), AttributeValue::Bool(quota.enabled)),
        (PER_PAYOUT_LIMIT.to_owned(), n(quota.per_payout_limit.fen())),
        (DAILY_LIMIT.to_owned(), n(quota.daily_limit.fen())),
        (UPDATED_AT.to_owned(), ms(quota.updated_at)),
    ]);
    item
}

pub fn quota_from(item: &Item) -> Result<PayoutQuota, StoreError> {
    Ok(PayoutQuota {
        shop_id: parse(item, "shop_id", ShopId::parse)?,
        operator_id: parse(item, "operator_id", OperatorId::parse)?,
        enabled: get_bool(item, ENABLED)?,
        per_payout_limit: get_amount(item, PER_PAYOUT_LIMIT)?,
        daily_limit: get_amount(item, DAILY_LIMIT)?,
        updated_at: get_time(item, UPDATED_AT)?,
    })
}

pub fn payout_item(payout: &Payout) -> Item {
    let mut item = payout_key(&payout.shop_id, &payout.payout_id);
    let sk = payout_sk(&payout.payout_id);
    item.extend([
        ("entity".to_owned(), s("payout")),
        (
            GSI1PK.to_owned(),
            s(order_payouts_gsi_pk(&payout.shop_id, &payout.order_id)),
        ),
        (GSI1SK.to_owned(), s(sk.clone())),
        (
            GSI2PK.to_owned(),
            s(day_payouts_gsi_pk(&payout.shop_id, payout.business_date)),
        ),
        (GSI2SK.to_owned(), s(sk)),
        ("payout_id".to_owned(), s(payout.payout_id.as_str())),
        ("shop_id".to_owned(), s(payout.shop_id.as_str())),
        ("order_id".to_owned(), s(payout.order_id.as_str())),
        ("operator_id".to_owned(), s(payout.operator_id.as_str())),
        (
            "counted_for_operator".to_owned(),
            AttributeValue::Bool(payout.counted_for_operator),
        ),
        ("amount_fen".to_owned(), n(payout.amount.fen())),
        ("reason".to_owned(), s(payout.reason.as_str())),
        (PAYOUT_STATUS.to_owned(), s(payout.status.as_str())),
        (
            "business_date".to_owned(),
            s(payout.business_date.to_string()),
        ),
        (
            "idempotency_key".to_owned(),
            s(payout.idempotency_key.as_str()),
        ),
        ("created_at_ms".to_owned(), ms(payout.created_at)),
        (UPDATED_AT.to_owned(), ms(payout.updated_at)),
    ]);
    if !payout.status.is_final() {
        item.insert(GSI3PK.to_owned(), s(open_gsi_pk(payout.status)));
        item.insert(GSI3SK.to_owned(), s(open_gsi_sk(payout)));
    }
    if let Some(note) = &payout.note {
        item.insert("note".to_owned(), s(note.as_str()));
    }
    if let Some(reason) = &payout.failure_reason {
        item.insert("failure_reason".to_owned(), s(reason.as_str()));
    }
    item
}

pub fn payout_from(item: &Item) -> Result<Payout, StoreError> {
    Ok(Payout {
        payout_id: parse(item, "payout_id", PayoutId::parse)?,
        shop_id: parse(item, "shop_id", ShopId::parse)?,
        order_id: parse(item, "order_id", OrderId::parse)?,
        operator_id: parse(item, "operator_id", OperatorId::parse)?,
        counted_for_operator: get_bool(item, "counted_for_operator")?,
        amount: get_amount(item, "amount_fen")?,
        reason: parse(item, "reason", |t| PayoutReason::parse(t).ok_or(()))?,
        note: get_opt_s(item, "note"),
        status: parse(item, PAYOUT_STATUS, |t| PayoutStatus::parse(t).ok_or(()))?,
        failure_reason: get_opt_s(item, "failure_reason"),
        business_date: parse(item, "business_date", BusinessDate::parse)?,
        idempotency_key: parse(item, "idempotency_key", IdempotencyKey::parse)?,
        created_at: get_time(item, "created_at_ms")?,
        updated_at: get_time(item, UPDATED_AT)?,
    })
}

pub fn day_totals_from(item: Option<&Item>) -> Result<DayTotals, StoreError> {
    let Some(item) = item else {
        return Ok(DayTotals::default());
    };
    if !item.contains_key(PAYOUT_TOTAL) {
        return Ok(DayTotals::default());
    }
    Ok(DayTotals {
        total: get_money(item, PAYOUT_TOTAL)?,
        count: u32::try_from(get_i64(item, PAYOUT_COUNT)?)
            .map_err(|_| corrupt(PAYOUT_COUNT, item))?,
    })
}

pub fn device_item(device: &Device) -> Item {
    let mut item = device_key(&device.device_id);
    item.extend([
        ("entity".to_owned(), s("device")),
        ("device_id".to_owned(), s(device.device_id.as_str())),
        ("shop_id".to_owned(), s(device.shop_id.as_str())),
        ("secret".to_owned(), s(device.secret.expose())),
        (UPDATED_AT.to_owned(), ms(device.updated_at)),
    ]);
    item
}

pub fn device_from(item: &Item) -> Result<Device, StoreError> {
    Ok(Device {
        device_id: parse(item, "device_id", DeviceId::parse)?,
        shop_id: parse(item, "shop_id", ShopId::parse)?,
        secret: Secret::new(get_s(item, "secret")?.to_owned()),
        updated_at: get_time(item, UPDATED_AT)?,
    })
}

pub fn attempt_item(shop: &ShopId, attempt: &PayoutAttempt, seq: &str) -> Item {
    let sk = format!(
        "{}#ATTEMPT#{}#{seq}",
        payout_sk(&attempt.payout_id),
        ms_key(attempt.at)
    );
    let mut item = key(shop_pk(shop), sk);
    item.extend([
        ("entity".to_owned(), s("payout_attempt")),
        ("payout_id".to_owned(), s(attempt.payout_id.as_str())),
        ("action".to_owned(), s(attempt.action.as_str())),
        ("outcome".to_owned(), s(attempt.outcome.as_str())),
        ("at_ms".to_owned(), ms(attempt.at)),
    ]);
    if let Some(detail) = &attempt.detail {
        item.insert("detail".to_owned(), s(detail.as_str()));
    }
    item
}

pub fn attempt_from(item: &Item) -> Result<PayoutAttempt, StoreError> {
    Ok(PayoutAttempt {
        payout_id: parse(item, "payout_id", PayoutId::parse)?,
        action: parse(item, "action", |t| AttemptAction::parse(t).ok_or(()))?,
        outcome: parse(item, "outcome", |t| AttemptOutcome::parse(t).ok_or(()))?,
        detail: get_opt_s(item, "detail"),
        at: get_time(item, "at_ms")?,
    })
}

pub fn notice_item(notice: &Notice) -> Item {
    let sk = format!("NOTICE#{}#{}", ms_key(notice.created_at), notice.notice_id);
    let mut item = key(shop_pk(&notice.shop_id), sk);
    item.extend([
        ("entity".to_owned(), s("notice")),
        ("notice_id".to_owned(), s(notice.notice_id.as_str())),
        ("shop_id".to_owned(), s(notice.shop_id.as_str())),
        ("kind".to_owned(), s(notice.kind.as_str())),
        ("message".to_owned(), s(notice.message.as_str())),
        ("created_at_ms".to_owned(), ms(notice.created_at)),
    ]);
    if let Some(p) = &notice.payout_id {
        item.insert("payout_id".to_owned(), s(p.as_str()));
    }
    if let Some(o) = &notice.order_id {
        item.insert("order_id".to_owned(), s(o.as_str()));
    }
    item
}

pub fn notice_from(item: &Item) -> Result<Notice, StoreError> {
    Ok(Notice {
        notice_id: get_s(item, "notice_id")?.to_owned(),
        shop_id: parse(item, "shop_id", ShopId::parse)?,
        kind: parse(item, "kind", |t| NoticeKind::parse(t).ok_or(()))?,
        message: get_s(item, "message")?.to_owned(),
        payout_id: get_opt_s(item, "payout_id")
            .map(|p| PayoutId::parse(&p))
            .transpose()
            .map_err(|_| corrupt("payout_id", item))?,
        order_id: get_opt_parsed(item, "order_id", OrderId::parse)?,
        created_at: get_time(item, "created_at_ms")?,
    })
}

pub fn ledger_prefix(date: BusinessDate) -> String {
    format!("LEDGER#{date}#")
}

pub fn ledger_item(entry: &LedgerEntry) -> Item {
    let sk = format!("{}{}", ledger_prefix(entry.business_date), entry.entry_id);
    let mut item = key(shop_pk(&entry.shop_id), sk);
    item.extend([
        ("entity".to_owned(), s("ledger_entry")),
        ("entry_id".to_owned(), s(entry.entry_id.as_str())),
        ("shop_id".to_owned(), s(entry.shop_id.as_str())),
        ("kind".to_owned(), s(entry.kind.as_str())),
        ("amount_fen".to_owned(), n(entry.amount.fen())),
        (
            "business_date".to_owned(),
            s(entry.business_date.to_string()),
        ),
        ("reference".to_owned(), s(entry.reference.as_str())),
        ("created_at_ms".to_owned(), ms(entry.created_at)),
        (
            GSI2PK.to_owned(),
            s(ledger_day_gsi_pk(
                entry.business_date,
                crate::ledger_part(&entry.shop_id),
            )),
        ),
        (GSI2SK.to_owned(), s(crate::ledger_position(entry))),
    ]);
    let optional = [
        ("provider_ref", entry.provider_ref.as_deref().map(s)),
        ("order_id", entry.order_id.as_ref().map(|o| s(o.as_str()))),
        ("provider", entry.provider.map(|p| s(p.as_str()))),
        ("period", entry.period.map(|p| n(i64::from(p)))),
        ("plan_periods", entry.plan_periods.map(|p| n(i64::from(p)))),
        ("customer", entry.customer.as_deref().map(s)),
    ];
    extend_present(&mut item, optional);
    item
}

fn get_opt_u8(item: &Item, name: &str) -> Result<Option<u8>, StoreError> {
    get_opt_i64(item, name)?
        .map(|p| u8::try_from(p).map_err(|_| corrupt(name, item)))
        .transpose()
}

pub fn ledger_from(item: &Item) -> Result<LedgerEntry, StoreError> {
    Ok(LedgerEntry {
        entry_id: get_s(item, "entry_id")?.to_owned(),
        shop_id: parse(item, "shop_id", ShopId::parse)?,
        kind: parse(item, "kind", |t| LedgerKind::parse(t).ok_or(()))?,
        amount: get_amount(item, "amount_fen")?,
        business_date: parse(item, "business_date", BusinessDate::parse)?,
        reference: get_s(item, "reference")?.to_owned(),
        provider_ref: get_opt_s(item, "provider_ref"),
        order_id: get_opt_parsed(item, "order_id", OrderId::parse)?,
        provider: get_opt_parsed(item, "provider", |t| Provider::parse(t).ok_or(()))?,
        period: get_opt_u8(item, "period")?,
        plan_periods: get_opt_u8(item, "plan_periods")?,
        customer: get_opt_s(item, "customer"),
        created_at: get_time(item, "created_at_ms")?,
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
        ("description", code.description.as_deref().map(s)),
        ("device_id", code.device_id.as_ref().map(|d| s(d.as_str()))),
        (
            "instalment_periods",
            code.instalment_periods.map(|p| n(i64::from(p))),
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
        description: get_opt_s(item, "description"),
        device_id: get_opt_parsed(item, "device_id", DeviceId::parse)?,
        instalment_periods: get_opt_u8(item, "instalment_periods")?,
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

pub fn anomaly_item(anomaly: &Anomaly) -> Item {
    let mut item = key(
        anomaly_pk(anomaly.business_date),
        format!("{ANOMALY_PREFIX}{}", anomaly.anomaly_id),
    );
    item.extend([
        ("entity".to_owned(), s("anomaly")),
        ("anomaly_id".to_owned(), s(anomaly.anomaly_id.as_str())),
        ("kind".to_owned(), s(anomaly.kind.as_str())),
        ("provider".to_owned(), s(anomaly.provider.as_str())),
        (
            "notification_id".to_owned(),
            s(anomaly.notification_id.as_str()),
        ),
        ("order_id".to_owned(), s(anomaly.order_id.as_str())),
        ("event".to_owned(), s(anomaly.event.as_str())),
        ("amount_fen".to_owned(), n(anomaly.amount.fen())),
        ("detail".to_owned(), s(anomaly.detail.as_str())),
        (
            "business_date".to_owned(),
            s(anomaly.business_date.to_string()),
        ),
        ("created_at_ms".to_owned(), ms(anomaly.created_at)),
    ]);
    let optional = [
        ("shop_id", anomaly.shop_id.as_ref().map(|x| s(x.as_str()))),
        ("expected_fen", anomaly.expected.map(|m| n(m.fen()))),
        ("provider_ref", anomaly.provider_ref.as_deref().map(s)),
    ];
    extend_present(&mut item, optional);
    item
}

pub fn anomaly_from(item: &Item) -> Result<Anomaly, StoreError> {
    Ok(Anomaly {
        anomaly_id: get_s(item, "anomaly_id")?.to_owned(),
        kind: parse(item, "kind", |t| AnomalyKind::parse(t).ok_or(()))?,
        provider: parse(item, "provider", |t| Provider::parse(t).ok_or(()))?,
        notification_id: parse(item, "notification_id", ProviderRef::parse)?,
        shop_id: get_opt_parsed(item, "shop_id", ShopId::parse)?,
        order_id: parse(item, "order_id", OrderId::parse)?,
        event: get_s(item, "event")?.to_owned(),
        amount: get_amount(item, "amount_fen")?,
        expected: get_opt_i64(item, "expected_fen")?
            .map(|f| Money::from_fen(f).ok_or_else(|| corrupt("expected_fen", item)))
            .transpose()?,
        provider_ref: get_opt_s(item, "provider_ref"),
        detail: get_s(item, "detail")?.to_owned(),
        business_date: parse(item, "business_date", BusinessDate::parse)?,
        created_at: get_time(item, "created_at_ms")?,
    })
}
