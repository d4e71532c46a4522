//! Shops, payout quotas and devices.

use aws_sdk_dynamodb::types::AttributeValue;
use qrpay_domain::{
    Branding, CollectionControls, Device, DeviceId, GraceDays, InstalmentConfig, OperatorId,
    PayoutQuota, ProcessingRates, SealedSecret, Shop, ShopId, ShopName,
};

use super::*;
use qrpay_store::StoreError;

pub fn shop_from(item: &Item) -> Result<Shop, StoreError> {
    let instalments: InstalmentConfig = parse(item, "instalments", |t| {
        serde_json::from_str::<InstalmentConfig>(t)
    })?;
    Ok(Shop {
        shop_id: parse(item, "shop_id", ShopId::parse)?,
        name: parse(item, "name", ShopName::parse)?,
        owner_operator_id: parse(item, OWNER, OperatorId::parse)?,
        daily_payout_cap: get_amount(item, CAP)?,
        payout_balance: get_money(item, BALANCE)?,
        payout_held: get_money(item, HELD)?,
        instalments,
        // Shops set up before grace days existed have the default.
        instalment_grace_days: match get_opt_i64(item, GRACE_DAYS)? {
            None => GraceDays::DEFAULT,
            Some(days) => GraceDays::new(days).map_err(|_| corrupt(GRACE_DAYS, item))?,
        },
        branding: match item.get("branding") {
            None => Branding::default(),
            Some(_) => parse(item, "branding", Branding::from_json)?,
        },
        // Shops set up before the controls existed have neither.
        controls: CollectionControls {
            daily_collection_cap: get_opt_amount(item, COLLECTION_CAP)?,
            large_payment_alert: get_opt_amount(item, LARGE_PAYMENT_ALERT)?,
        },
        // Shops set up before processing rates existed have none.
        processing_rates: match item.get(PROCESSING_RATES) {
            None => ProcessingRates::default(),
            Some(_) => parse(item, PROCESSING_RATES, |t| {
                serde_json::from_str::<ProcessingRates>(t)
            })?,
        },
        created_at: get_time(item, "created_at_ms")?,
        updated_at: get_time(item, UPDATED_AT)?,
    })
}

/// An optional amount attribute (fen).
fn get_opt_amount(item: &Item, name: &str) -> Result<Option<qrpay_domain::Amount>, StoreError> {
    get_opt_i64(item, name)?
        .map(|fen| qrpay_domain::Amount::from_fen(fen).map_err(|_| corrupt(name, item)))
        .transpose()
}

pub fn quota_item(quota: &PayoutQuota) -> Item {
    let mut item = quota_key(&quota.shop_id, &quota.operator_id);
    item.extend([
        ("entity".to_owned(), s("payout_quota")),
        ("shop_id".to_owned(), s(quota.shop_id.as_str())),
        ("operator_id".to_owned(), s(quota.operator_id.as_str())),
        (ENABLED.to_owned(), AttributeValue::Bool(quota.enabled)),
        (
            REFUND_ENABLED.to_owned(),
            AttributeValue::Bool(quota.refunds_enabled),
        ),
        (
            PER_PAYOUT_LIMIT.to_owned(),
            n(quota.per_payout_limit().fen()),
        ),
        (DAILY_LIMIT.to_owned(), n(quota.daily_limit().fen())),
        (UPDATED_AT.to_owned(), ms(quota.updated_at)),
    ]);
    item
}

pub fn quota_from(item: &Item) -> Result<PayoutQuota, StoreError> {
    // A per-payout limit above the daily one was never accepted: such a
    // record is corrupt, not a quota.
    let mut quota = PayoutQuota::new(
        parse(item, "shop_id", ShopId::parse)?,
        parse(item, "operator_id", OperatorId::parse)?,
        get_bool(item, ENABLED)?,
        get_amount(item, PER_PAYOUT_LIMIT)?,
        get_amount(item, DAILY_LIMIT)?,
        get_time(item, UPDATED_AT)?,
    )
    .map_err(|_| corrupt(PER_PAYOUT_LIMIT, item))?;
    // Quotas written before refunds existed do not enable them.
    quota.refunds_enabled = item.contains_key(REFUND_ENABLED) && get_bool(item, REFUND_ENABLED)?;
    Ok(quota)
}

pub fn device_item(device: &Device) -> Item {
    let mut item = device_key(&device.device_id);
    item.extend([
        ("entity".to_owned(), s("device")),
        ("device_id".to_owned(), s(device.device_id.as_str())),
        ("shop_id".to_owned(), s(device.shop_id.as_str())),
        // Ciphertext only (a keyring's, bound to the device id): never the
        // plain secret. A put replaces the whole item, so registering a
        // device again also drops the plain `secret` of an older record.
        (
            DEVICE_SEALED_SECRET.to_owned(),
            AttributeValue::B(device.secret.ciphertext().to_vec().into()),
        ),
        (UPDATED_AT.to_owned(), ms(device.updated_at)),
    ]);
    item
}

/// The attribute holding a shop's instalment grace days.
pub const GRACE_DAYS: &str = "instalment_grace_days";

/// The attribute holding a device's sealed secret.
pub const DEVICE_SEALED_SECRET: &str = "secret_sealed";

/// A device record. One written before device secrets were sealed holds its
/// secret in plain text (`secret`): that text is never read back, and the
/// device comes back with a legacy (empty) sealed secret, which `qr-issue`
/// refuses with a log line saying to register the device again. It is not
/// migrated on read: `qr-issue` may only open sealed secrets, not seal them.
pub fn device_from(item: &Item) -> Result<Device, StoreError> {
    let secret = match item.get(DEVICE_SEALED_SECRET) {
        Some(AttributeValue::B(blob)) => SealedSecret::new(blob.as_ref().to_vec()),
        Some(_) => return Err(corrupt(DEVICE_SEALED_SECRET, item)),
        None => SealedSecret::legacy(),
    };
    Ok(Device {
        device_id: parse(item, "device_id", DeviceId::parse)?,
        shop_id: parse(item, "shop_id", ShopId::parse)?,
        secret,
        updated_at: get_time(item, UPDATED_AT)?,
    })
}

/// A balance adjustment, keyed by the `Idempotency-Key` it was made under:
/// the record is its own idempotency claim.
pub fn adjustment_key(shop: &ShopId, idem: &qrpay_domain::IdempotencyKey) -> Item {
    key(shop_pk(shop), format!("ADJUSTMENT#{}", idem.as_str()))
}

pub fn adjustment_item(a: &qrpay_domain::BalanceAdjustment) -> Item {
    let mut item = adjustment_key(&a.shop_id, &a.idempotency_key);
    item.extend([
        ("entity".to_owned(), s("balance_adjustment")),
        ("adjustment_id".to_owned(), s(a.adjustment_id.as_str())),
        ("shop_id".to_owned(), s(a.shop_id.as_str())),
        ("operator_id".to_owned(), s(a.operator_id.as_str())),
        ("amount_fen".to_owned(), n(a.amount.fen())),
        ("reason".to_owned(), s(a.reason.as_str())),
        ("balance_before_fen".to_owned(), n(a.balance_before.fen())),
        ("balance_after_fen".to_owned(), n(a.balance_after.fen())),
        ("business_date".to_owned(), s(a.business_date.to_string())),
        ("idempotency_key".to_owned(), s(a.idempotency_key.as_str())),
        (FINGERPRINT.to_owned(), s(a.fingerprint.as_str())),
        ("created_at_ms".to_owned(), ms(a.created_at)),
    ]);
    item
}

pub fn adjustment_from(item: &Item) -> Result<qrpay_domain::BalanceAdjustment, StoreError> {
    use qrpay_domain::{AdjustmentId, AdjustmentReason, Amount, BusinessDate, IdempotencyKey};
    let signed = get_i64(item, "amount_fen")?;
    let amount = Amount::from_fen(signed.checked_abs().unwrap_or(0))
        .map_err(|_| corrupt("amount_fen", item))?;
    Ok(qrpay_domain::BalanceAdjustment {
        adjustment_id: parse(item, "adjustment_id", AdjustmentId::parse)?,
        shop_id: parse(item, "shop_id", ShopId::parse)?,
        operator_id: parse(item, "operator_id", OperatorId::parse)?,
        amount: qrpay_domain::SignedAmount {
            debit: signed < 0,
            amount,
        },
        reason: parse(item, "reason", AdjustmentReason::parse)?,
        balance_before: get_money(item, "balance_before_fen")?,
        balance_after: get_money(item, "balance_after_fen")?,
        business_date: parse(item, "business_date", BusinessDate::parse)?,
        idempotency_key: parse(item, "idempotency_key", IdempotencyKey::parse)?,
        fingerprint: get_s(item, FINGERPRINT)?.to_owned(),
        created_at: get_time(item, "created_at_ms")?,
    })
}

#[cfg(test)]
mod tests {
    use qrpay_domain::Amount;

    use super::*;

    fn quota(per_fen: i64, daily_fen: i64) -> PayoutQuota {
        PayoutQuota::new(
            ShopId::parse("s1").unwrap(),
            OperatorId::parse("staff").unwrap(),
            true,
            Amount::from_fen(per_fen).unwrap(),
            Amount::from_fen(daily_fen).unwrap(),
            qrpay_domain::time::from_millis(1_780_000_000_000),
        )
        .unwrap()
    }

    #[test]
    fn a_device_is_stored_sealed_and_an_old_plain_record_comes_back_legacy() {
        let device = Device {
            device_id: DeviceId::parse("pos-1").unwrap(),
            shop_id: ShopId::parse("s1").unwrap(),
            secret: SealedSecret::new(vec![1, 2, 3]),
            updated_at: qrpay_domain::time::from_millis(1_780_000_000_000),
        };
        let mut item = device_item(&device);
        assert!(!item.contains_key("secret"));
        assert_eq!(device_from(&item).unwrap(), device);
        // Written before secrets were sealed: the plain text is not read.
        item.remove(DEVICE_SEALED_SECRET);
        item.insert("secret".into(), s("plain-device-secret-0001"));
        assert!(device_from(&item).unwrap().secret.is_legacy());
        item.insert(DEVICE_SEALED_SECRET.into(), s("not binary"));
        assert!(matches!(device_from(&item), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn a_quota_reads_back_as_written() {
        let q = quota(10_000, 10_000);
        assert_eq!(quota_from(&quota_item(&q)).unwrap(), q);
    }

    #[test]
    fn a_stored_quota_with_per_payout_above_daily_is_corrupt() {
        let mut item = quota_item(&quota(10_000, 10_000));
        item.insert(PER_PAYOUT_LIMIT.to_owned(), n(10_001));
        assert!(matches!(quota_from(&item), Err(StoreError::Corrupt(_))));
    }
}
