//! Attribute values: building them and reading them back, any unreadable
//! one a corrupt record.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use qrpay_domain::time::from_millis;
use qrpay_domain::{Amount, Money};

use super::{Item, SK};
use qrpay_store::StoreError;

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
pub fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
pub fn ms(t: DateTime<Utc>) -> AttributeValue {
    n(t.timestamp_millis())
}

pub(super) fn corrupt(name: &str, item: &Item) -> StoreError {
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

pub(crate) fn get_opt_i64(item: &Item, name: &str) -> Result<Option<i64>, StoreError> {
    item.get(name).map(|_| get_i64(item, name)).transpose()
}

pub(super) fn get_bool(item: &Item, name: &str) -> Result<bool, StoreError> {
    item.get(name)
        .and_then(|v| v.as_bool().ok())
        .copied()
        .ok_or_else(|| corrupt(name, item))
}

pub fn get_money(item: &Item, name: &str) -> Result<Money, StoreError> {
    Money::from_fen(get_i64(item, name)?).ok_or_else(|| corrupt(name, item))
}

pub(super) fn get_amount(item: &Item, name: &str) -> Result<Amount, StoreError> {
    Amount::from_fen(get_i64(item, name)?).map_err(|_| corrupt(name, item))
}

pub(super) fn get_time(item: &Item, name: &str) -> Result<DateTime<Utc>, StoreError> {
    get_i64(item, name).map(from_millis)
}

pub(super) fn parse<T, E>(
    item: &Item,
    name: &str,
    f: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, StoreError> {
    f(get_s(item, name)?).map_err(|_| corrupt(name, item))
}

/// Adds the attributes that have a value; absent optional fields are not stored.
pub(super) fn extend_present<C, const N: usize>(
    into: &mut C,
    optional: [(&str, Option<AttributeValue>); N],
) where
    C: Extend<(String, AttributeValue)>,
{
    into.extend(
        optional
            .into_iter()
            .filter_map(|(name, v)| Some((name.to_owned(), v?))),
    );
}

pub(super) fn get_opt_parsed<T, E>(
    item: &Item,
    name: &str,
    f: impl FnOnce(&str) -> Result<T, E>,
) -> Result<Option<T>, StoreError> {
    get_opt_s(item, name)
        .map(|t| f(&t).map_err(|_| corrupt(name, item)))
        .transpose()
}

pub(super) fn get_opt_u8(item: &Item, name: &str) -> Result<Option<u8>, StoreError> {
    get_opt_i64(item, name)?
        .map(|p| u8::try_from(p).map_err(|_| corrupt(name, item)))
        .transpose()
}

/// A value kept as its JSON text (small structured values: a plan, an action).
pub fn json_attr<T: serde::Serialize>(value: &T) -> AttributeValue {
    s(serde_json::to_string(value).expect("plain data always serializes"))
}

pub(super) fn get_opt_json<T: serde::de::DeserializeOwned>(
    item: &Item,
    name: &str,
) -> Result<Option<T>, StoreError> {
    get_opt_s(item, name)
        .map(|t| serde_json::from_str(&t).map_err(|_| corrupt(name, item)))
        .transpose()
}
