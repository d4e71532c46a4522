//! Ledger entries and collection anomalies.

use qrpay_domain::{
    Anomaly, AnomalyKind, BusinessDate, LedgerEntry, LedgerKind, Money, OrderId, Provider,
    ProviderRef, ShopId,
};

use super::*;
use qrpay_store::StoreError;

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
                qrpay_store::ledger_part(&entry.shop_id),
            )),
        ),
        (GSI2SK.to_owned(), s(qrpay_store::ledger_position(entry))),
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
