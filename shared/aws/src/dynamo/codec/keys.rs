//! The table's key layout (see the table in `codec`) and attribute names.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use qrpay_domain::{
    BusinessDate, DeviceId, IdempotencyKey, OperatorId, OrderId, OutOrderNo, Payout, PayoutId,
    PayoutStatus, Provider, ProviderRef, QrId, ShopId,
};

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
pub const ORDER_EXPIRES_AT: &str = "expires_at_ms";
/// The business day whose collection counter holds an order's amount.
pub const COLLECTION_DAY: &str = "collection_day";
/// Fen counted against a shop's daily collection cap, on its day counter.
pub const COLLECTED: &str = "collected_fen";
/// KPI counters on the same day item (SPEC §11): orders opened on the day
/// and of them closed unpaid, and checkouts shown with a plan offered.
pub const ORDERS_CREATED: &str = "orders_created";
pub const ORDERS_CLOSED_UNPAID: &str = "orders_closed_unpaid";
pub const PLAN_CHECKOUTS: &str = "plan_checkouts";
/// A shop's daily collection cap and large-payment alert (fen, optional).
pub const COLLECTION_CAP: &str = "daily_collection_cap_fen";
pub const LARGE_PAYMENT_ALERT: &str = "large_payment_alert_fen";
/// A shop's processing rates by provider, as JSON text.
pub const PROCESSING_RATES: &str = "processing_rates";

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
/// A shop's counter of a business day's collection (SPEC §11 daily cap).
pub fn collected_day_key(shop: &ShopId, date: BusinessDate) -> Item {
    key(shop_pk(shop), format!("COLLECTED#{date}"))
}
/// The guard that counts an order's checkout shown with a plan once.
pub fn plan_checkout_key(shop: &ShopId, order: &OrderId) -> Item {
    key(shop_pk(shop), format!("PLANCHECKOUT#{order}"))
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
/// A shop's summary of a day, in a partition of its own (not the shop's):
/// reconcile replaces and removes summaries, and IAM can narrow its writes
/// by partition key only (`dynamodb:LeadingKeys`), so what it writes must
/// never share a partition with the shop's five-year records.
pub fn reconciliation_key(shop: &ShopId, date: BusinessDate) -> Item {
    key(format!("RECON#{shop}"), format!("RECON#{date}"))
}
/// A report row's resolution: beside the shop's summaries, one sort key per
/// (day, row), so a day's resolutions are one prefix query.
pub fn resolution_key(shop: &ShopId, date: BusinessDate, row: qrpay_domain::RowId) -> Item {
    key(
        format!("RECON#{shop}"),
        format!("{}{row}", resolution_prefix(date)),
    )
}
pub fn resolution_prefix(date: BusinessDate) -> String {
    format!("RESOLUTION#{date}#")
}
pub fn once_key(once: &str) -> Item {
    key(format!("ONCE#{once}"), "ONCE".to_owned())
}
/// One checkout rate window's counter (SPEC §10): `RATE#{scope}#{key}`,
/// one sort key per window; TTL removes it after the window.
pub fn rate_counter_key(window: &qrpay_domain::checkout::RateWindow) -> Item {
    key(
        format!("RATE#{}#{}", window.scope, window.key),
        format!("W#{}", window.window_start_s),
    )
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

/// GSI2 partition of a shop's orders that owe instalments (SPEC §11), by
/// order id: sparse, an order is in it only while it owes
/// ([`qrpay_domain::receivables::owes_instalments`]). Reconcile reads it for
/// `GET /shops/{shop_id}/receivables`.
pub fn receivable_gsi_pk(shop: &ShopId) -> String {
    format!("RECEIVABLE#{shop}")
}

/// Zero-padded epoch milliseconds, so keys sort by time.
pub fn ms_key(t: DateTime<Utc>) -> String {
    format!("{:013}", t.timestamp_millis().max(0))
}

pub fn open_gsi_pk(status: PayoutStatus) -> String {
    format!("OPEN#{}", status.as_str())
}

/// GSI3 partition of the orders still `CREATED` that have an expiry: the
/// sweeper reads it in expiry order to close the expired ones (SPEC §10).
pub const OPEN_ORDER_GSI_PK: &str = "OPENORDER";

pub fn open_order_gsi_sk(expires_at: DateTime<Utc>, shop: &ShopId, order: &OrderId) -> String {
    format!("{}#{shop}#{order}", ms_key(expires_at))
}

pub fn open_gsi_sk(payout: &Payout) -> String {
    qrpay_store::open_position(payout)
}
/// The sweeper's place in its walk over open payouts of one status.
pub fn sweep_cursor_key(status: PayoutStatus) -> Item {
    key(
        format!("SWEEPCURSOR#{}", status.as_str()),
        "SWEEPCURSOR".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What reconcile writes and removes (summaries, once-only claims, its
    /// run lease) lives in partitions of its own, each of which
    /// `template.yaml` lets reconcile's role write (`dynamodb:LeadingKeys`):
    /// IAM cannot narrow by sort key, so a summary under `SHOP#` would give
    /// reconcile the shop's ledger and payouts too.
    #[test]
    fn what_reconcile_writes_lives_outside_the_shops_partitions() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
        let template = std::fs::read_to_string(path).expect("template.yaml");
        let reconcile = template
            .split("\n  ReconcileFunction:\n")
            .nth(1)
            .and_then(|rest| rest.split("\n  ReconcileLogs:").next())
            .expect("ReconcileFunction in template.yaml");
        let shop = ShopId::parse("s1").unwrap();
        let date = BusinessDate::parse("2026-01-02").unwrap();
        for item in [
            reconciliation_key(&shop, date),
            once_key("k"),
            lease_key("k"),
        ] {
            let Some(AttributeValue::S(pk)) = item.get(PK) else {
                panic!("no PK in {item:?}")
            };
            assert!(!pk.starts_with(&shop_pk(&shop)), "{pk}");
            let (prefix, _) = pk.split_once('#').unwrap();
            let allowed = format!("- \"{prefix}#*\"");
            assert!(
                reconcile.contains(&allowed),
                "{allowed}: not reconcile's to write"
            );
        }
    }
}
