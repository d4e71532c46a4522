//! The DynamoDB adapter: one table, single-table design (see `codec`).
//! Payout changes are decided by the domain and written as one transaction
//! each (`payouts`); collection notices likewise (`collection`).

mod codec;
mod collection;
mod payouts;
mod reconciliation;
mod table;

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, Get, Put, ReturnValue,
    ReturnValuesOnConditionCheckFailure as OnFailure, TransactGetItem, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use qrpay_domain::{
    release_payout, settle_payout, Anomaly, BusinessDate, CollectionEvent, Decision, Device,
    DeviceId, LedgerEntry, Notice, OperatorId, Order, OrderId, Payout, PayoutAttempt, PayoutId,
    PayoutQuota, PayoutRequest, PayoutStatus, QrCode, QrId, ReconciliationSummary, Shop, ShopId,
    ShopSetup,
};

pub use codec::{Item, TTL_ATTRIBUTE};
pub use table::create_table;

use crate::{
    page_size, DayTotals, Issued, LedgerPage, Page, PayoutError, ReserveError, Reserved,
    Revocation, Store, StoreError, Transition,
};
use codec::*;
use payouts::MAX_WRITE_ATTEMPTS;

/// Most payouts listed for one order (rule 1 keeps live ones to 5; failed
/// ones are bounded by rule 2's pace).
const MAX_ORDER_PAYOUTS_LISTED: usize = 1_000;

pub struct DynamoStore {
    client: Client,
    table: String,
    round_trips: AtomicU64,
    cancelled_writes: AtomicU64,
}

enum WriteOutcome {
    Written,
    Cancelled(Vec<CancellationReason>),
}

fn unavailable<E: std::error::Error + 'static>(err: SdkError<E>) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(err).to_string())
}

/// Whether a conditional write's condition held: `Ok(false)` when DynamoDB
/// refused the write on its condition, an error for anything else.
fn condition_held<T, E>(result: Result<T, SdkError<E>>) -> Result<bool, StoreError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(err) => {
            let refused = err.as_service_error().and_then(|e| e.code())
                == Some("ConditionalCheckFailedException");
            if refused {
                Ok(false)
            } else {
                Err(unavailable(err))
            }
        }
    }
}

fn build_error(err: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Unavailable(format!("request could not be built: {err}"))
}

/// `#name` placeholders for every attribute an expression uses.
fn names(list: &[&str]) -> Option<std::collections::HashMap<String, String>> {
    Some(
        list.iter()
            .map(|n| (format!("#{n}"), (*n).to_owned()))
            .collect(),
    )
}

fn values(
    list: Vec<(&str, AttributeValue)>,
) -> Option<std::collections::HashMap<String, AttributeValue>> {
    Some(list.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn failed(reason: &CancellationReason) -> bool {
    reason.code() == Some("ConditionalCheckFailed")
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> DynamoStore {
        DynamoStore {
            client,
            table: table.into(),
            round_trips: AtomicU64::new(0),
            cancelled_writes: AtomicU64::new(0),
        }
    }

    /// Requests sent to DynamoDB so far (for the round-trip benchmark).
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    /// Transactions DynamoDB cancelled because something changed after the
    /// snapshot (each one re-evaluated from the items it returned).
    pub fn cancelled_writes(&self) -> u64 {
        self.cancelled_writes.load(Ordering::Relaxed)
    }

    pub fn table_name(&self) -> &str {
        &self.table
    }

    fn trip(&self) {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
    }

    async fn get(&self, key: Item) -> Result<Option<Item>, StoreError> {
        self.trip();
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }

    /// One serializable read of several items; `None` where one is absent.
    async fn transact_get(&self, keys: Vec<Item>) -> Result<Vec<Option<Item>>, StoreError> {
        let gets = keys
            .into_iter()
            .map(|key| {
                let get = Get::builder()
                    .table_name(&self.table)
                    .set_key(Some(key))
                    .build()
                    .map_err(build_error)?;
                Ok(TransactGetItem::builder().get(get).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let count = gets.len();
        self.trip();
        let out = self
            .client
            .transact_get_items()
            .set_transact_items(Some(gets))
            .send()
            .await
            .map_err(unavailable)?;
        let responses = out.responses();
        Ok((0..count)
            .map(|i| responses.get(i).and_then(|r| r.item()).cloned())
            .collect())
    }

    async fn put(&self, item: Item) -> Result<(), StoreError> {
        self.trip();
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Runs a transaction whose first item moves a payout out of its state
    /// (conditioned on it) and whose other items are the money that moves
    /// with it. `Ok(None)`: it lost a race without any condition failing, so
    /// the caller tries again.
    async fn transition_write(
        &self,
        items: Vec<TransactWriteItem>,
        moved: Payout,
        broken_invariant: &str,
    ) -> Result<Option<Transition>, PayoutError> {
        let reasons = match self.transact_write(items).await? {
            WriteOutcome::Written => return Ok(Some(Transition::Moved(moved))),
            WriteOutcome::Cancelled(reasons) => reasons,
        };
        if let Some(first) = reasons.first().filter(|r| failed(r)) {
            // Someone else moved it first: a change applied twice changes once.
            let current = first
                .item()
                .map(payout_from)
                .transpose()?
                .ok_or(PayoutError::PayoutNotFound)?;
            return Ok(Some(Transition::Unchanged(current)));
        }
        if reasons.iter().any(failed) {
            // The payout could move but its money could not: the books disagree.
            return Err(StoreError::Corrupt(broken_invariant.to_owned()).into());
        }
        Ok(None)
    }

    /// Items of a shop whose sort key starts with `prefix`, in key order
    /// (or reversed), at most `limit`, following pages.
    async fn query_prefix(
        &self,
        pk: String,
        prefix: &str,
        forward: bool,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            self.trip();
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#PK = :pk AND begins_with(#SK, :prefix)")
                .set_expression_attribute_names(names(&[PK, SK]))
                .set_expression_attribute_values(values(vec![
                    (":pk", s(pk.as_str())),
                    (":prefix", s(prefix)),
                ]))
                .scan_index_forward(forward)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            items.extend(out.items().iter().cloned());
            start = out.last_evaluated_key;
            if start.is_none() || items.len() >= limit {
                break;
            }
        }
        items.truncate(limit);
        Ok(items)
    }

    /// Up to `limit + 1` items of GSI2 partition `pk`, in sort-key order
    /// (`forward`) or reverse, strictly past `after` in that order: one
    /// more than asked tells the caller whether another page exists.
    async fn gsi2_page(
        &self,
        pk: String,
        after: Option<String>,
        forward: bool,
        limit: usize,
    ) -> Result<aws_sdk_dynamodb::operation::query::QueryOutput, StoreError> {
        let mut vals = vec![(":pk", s(pk))];
        let (condition, attrs): (&str, &[&str]) = match (after, forward) {
            (Some(after), true) => {
                vals.push((":after", s(after)));
                ("#GSI2PK = :pk AND #GSI2SK > :after", &[GSI2PK, GSI2SK])
            }
            (Some(after), false) => {
                vals.push((":after", s(after)));
                ("#GSI2PK = :pk AND #GSI2SK < :after", &[GSI2PK, GSI2SK])
            }
            (None, _) => ("#GSI2PK = :pk", &[GSI2PK]),
        };
        self.trip();
        self.client
            .query()
            .table_name(&self.table)
            .index_name(GSI2)
            .key_condition_expression(condition)
            .set_expression_attribute_names(names(attrs))
            .set_expression_attribute_values(values(vals))
            .scan_index_forward(forward)
            .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(unavailable)
    }

    fn update(&self, key: Item, update: &str, condition: &str, attr_names: &[&str]) -> UpdateParts {
        UpdateParts {
            key,
            update: update.to_owned(),
            condition: condition.to_owned(),
            names: names(attr_names),
            values: Vec::new(),
        }
    }

    async fn transact_write(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<WriteOutcome, StoreError> {
        self.trip();
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(WriteOutcome::Written),
            Err(err) => match err.into_service_error() {
                TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                    self.cancelled_writes.fetch_add(1, Ordering::Relaxed);
                    Ok(WriteOutcome::Cancelled(
                        cancelled.cancellation_reasons().to_vec(),
                    ))
                }
                other => Err(StoreError::Unavailable(
                    DisplayErrorContext(other).to_string(),
                )),
            },
        }
    }

    fn put_new(&self, item: Item, on_failure: OnFailure) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#PK)")
            .set_expression_attribute_names(names(&[PK]))
            .return_values_on_condition_check_failure(on_failure)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

/// The parts of a transactional update, built once the values are known.
struct UpdateParts {
    key: Item,
    update: String,
    condition: String,
    names: Option<std::collections::HashMap<String, String>>,
    values: Vec<(&'static str, AttributeValue)>,
}

impl UpdateParts {
    fn build(self, table: &str) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(table)
            .set_key(Some(self.key))
            .update_expression(self.update)
            .condition_expression(self.condition)
            .set_expression_attribute_names(self.names)
            .set_expression_attribute_values(values(self.values))
            .return_values_on_condition_check_failure(OnFailure::AllOld)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn put_shop(&self, setup: &ShopSetup, now: DateTime<Utc>) -> Result<Shop, StoreError> {
        let instalments = serde_json::to_string(&setup.instalments)
            .map_err(|e| StoreError::Corrupt(format!("instalments: {e}")))?;
        self.trip();
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(shop_key(&setup.shop_id)))
            .update_expression(
                "SET #entity = :entity, #shop_id = :shop_id, #name = :name, #owner_operator_id = :owner, \
                 #daily_payout_cap_fen = :cap, #payout_balance_fen = :balance, #instalments = :instalments, \
                 #updated_at_ms = :now, #created_at_ms = if_not_exists(#created_at_ms, :now), \
                 #payout_held_fen = if_not_exists(#payout_held_fen, :zero)",
            )
            .set_expression_attribute_names(names(&[
                "entity", "shop_id", "name", OWNER, CAP, BALANCE, "instalments", UPDATED_AT, "created_at_ms", HELD,
            ]))
            .set_expression_attribute_values(values(vec![
                (":entity", s("shop")),
                (":shop_id", s(setup.shop_id.as_str())),
                (":name", s(setup.name.as_str())),
                (":owner", s(setup.owner_operator_id.as_str())),
                (":cap", n(setup.daily_payout_cap.fen())),
                (":balance", n(setup.payout_balance.fen())),
                (":instalments", s(instalments)),
                (":now", ms(now)),
                (":zero", n(0)),
            ]))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(unavailable)?;
        let item = out
            .attributes
            .ok_or_else(|| StoreError::Corrupt("put_shop returned nothing".into()))?;
        shop_from(&item)
    }

    async fn get_shop(&self, shop_id: &ShopId) -> Result<Option<Shop>, StoreError> {
        self.get(shop_key(shop_id))
            .await?
            .as_ref()
            .map(shop_from)
            .transpose()
    }

    async fn put_device(&self, device: &Device) -> Result<(), StoreError> {
        self.put(device_item(device)).await
    }

    async fn get_device(&self, device_id: &DeviceId) -> Result<Option<Device>, StoreError> {
        self.get(device_key(device_id))
            .await?
            .as_ref()
            .map(device_from)
            .transpose()
    }

    async fn insert_order(&self, order: &Order) -> Result<bool, StoreError> {
        self.insert_order_items(order).await
    }

    async fn get_order(
        &self,
        shop_id: &ShopId,
        order_id: &OrderId,
    ) -> Result<Option<Order>, StoreError> {
        self.get(order_key(shop_id, order_id))
            .await?
            .as_ref()
            .map(order_from)
            .transpose()
    }

    async fn put_payout_quota(&self, quota: &PayoutQuota) -> Result<(), StoreError> {
        self.put(quota_item(quota)).await
    }

    async fn get_payout_quota(
        &self,
        shop_id: &ShopId,
        operator_id: &OperatorId,
    ) -> Result<Option<PayoutQuota>, StoreError> {
        self.get(quota_key(shop_id, operator_id))
            .await?
            .as_ref()
            .map(quota_from)
            .transpose()
    }

    async fn reserve_payout(&self, req: &PayoutRequest) -> Result<Reserved, ReserveError> {
        self.reserve(req).await
    }

    async fn find_payout(&self, payout_id: &PayoutId) -> Result<Option<Payout>, StoreError> {
        let Some(pointer) = self.get(payout_pointer_key(payout_id)).await? else {
            return Ok(None);
        };
        let shop_id = ShopId::parse(get_s(&pointer, "shop_id")?)
            .map_err(|_| StoreError::Corrupt("payout pointer shop_id".into()))?;
        self.get_payout(&shop_id, payout_id).await
    }

    async fn get_payout(
        &self,
        shop_id: &ShopId,
        payout_id: &PayoutId,
    ) -> Result<Option<Payout>, StoreError> {
        self.get(payout_key(shop_id, payout_id))
            .await?
            .as_ref()
            .map(payout_from)
            .transpose()
    }

    async fn list_order_payouts(
        &self,
        shop_id: &ShopId,
        order_id: &OrderId,
    ) -> Result<Vec<Payout>, StoreError> {
        let mut payouts = Vec::new();
        let mut start = None;
        loop {
            self.trip();
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1)
                .key_condition_expression("#GSI1PK = :pk")
                .set_expression_attribute_names(names(&[GSI1PK]))
                .set_expression_attribute_values(values(vec![(
                    ":pk",
                    s(order_payouts_gsi_pk(shop_id, order_id)),
                )]))
                .scan_index_forward(false)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            for item in out.items() {
                payouts.push(payout_from(item)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() || payouts.len() >= MAX_ORDER_PAYOUTS_LISTED {
                break;
            }
        }
        payouts.truncate(MAX_ORDER_PAYOUTS_LISTED);
        Ok(payouts)
    }

    async fn list_shop_payouts(
        &self,
        shop_id: &ShopId,
        date: BusinessDate,
        cursor: Option<&PayoutId>,
        limit: usize,
    ) -> Result<Page<Payout>, StoreError> {
        let limit = page_size(limit);
        let after = cursor.map(payout_sk);
        let out = self
            .gsi2_page(day_payouts_gsi_pk(shop_id, date), after, false, limit)
            .await?;
        let mut items = out
            .items()
            .iter()
            .map(payout_from)
            .collect::<Result<Vec<_>, _>>()?;
        let more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = if more {
            items.last().map(|p| p.payout_id.clone())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    async fn fail_payout(
        &self,
        shop_id: &ShopId,
        payout_id: &PayoutId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Transition, PayoutError> {
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let payout = self
                .get_payout(shop_id, payout_id)
                .await?
                .ok_or(PayoutError::PayoutNotFound)?;
            let Some(effect) = release_payout(&payout, reason, now) else {
                return Ok(Transition::Unchanged(payout));
            };
            let (items, _) = self.payout_effect_items(&effect)?;
            let broken = format!("counters of {payout_id} do not hold its reservation");
            if let Some(done) = self.transition_write(items, effect.payout, &broken).await? {
                return Ok(done);
            }
        }
        Err(StoreError::Contention.into())
    }

    async fn start_payout(
        &self,
        shop_id: &ShopId,
        payout_id: &PayoutId,
        now: DateTime<Utc>,
    ) -> Result<Transition, PayoutError> {
        let payout = self
            .get_payout(shop_id, payout_id)
            .await?
            .ok_or(PayoutError::PayoutNotFound)?;
        if payout.status != PayoutStatus::Pending {
            return Ok(Transition::Unchanged(payout));
        }
        let started = payout.moved_to(PayoutStatus::Processing, now);
        self.trip();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(payout_key(shop_id, payout_id)))
            .update_expression(
                "SET #payout_status = :processing, #updated_at_ms = :now, #GSI3PK = :open_pk, #GSI3SK = :open_sk",
            )
            .condition_expression("#payout_status = :pending")
            .set_expression_attribute_names(names(&[PAYOUT_STATUS, UPDATED_AT, GSI3PK, GSI3SK]))
            .set_expression_attribute_values(values(vec![
                (":processing", s(PayoutStatus::Processing.as_str())),
                (":pending", s(PayoutStatus::Pending.as_str())),
                (":now", ms(now)),
                (":open_pk", s(open_gsi_pk(PayoutStatus::Processing))),
                (":open_sk", s(open_gsi_sk(&started))),
            ]))
            .send()
            .await;
        if condition_held(result)? {
            return Ok(Transition::Moved(started));
        }
        // Someone else moved it first.
        let current = self
            .get_payout(shop_id, payout_id)
            .await?
            .ok_or(PayoutError::PayoutNotFound)?;
        Ok(Transition::Unchanged(current))
    }

    async fn succeed_payout(
        &self,
        shop_id: &ShopId,
        payout_id: &PayoutId,
        provider_ref: &str,
        now: DateTime<Utc>,
    ) -> Result<Transition, PayoutError> {
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let payout = self
                .get_payout(shop_id, payout_id)
                .await?
                .ok_or(PayoutError::PayoutNotFound)?;
            let Some(effect) = settle_payout(&payout, provider_ref, now) else {
                return Ok(Transition::Unchanged(payout));
            };
            let (items, _) = self.payout_effect_items(&effect)?;
            let broken = format!("hold or ledger of {payout_id} disagree with its status");
            if let Some(done) = self.transition_write(items, effect.payout, &broken).await? {
                return Ok(done);
            }
        }
        Err(StoreError::Contention.into())
    }

    async fn record_attempt(
        &self,
        shop_id: &ShopId,
        attempt: &PayoutAttempt,
    ) -> Result<(), StoreError> {
        let unique = qrpay_domain::ids::unique_token(attempt.at);
        self.put(attempt_item(shop_id, attempt, &unique)).await
    }

    async fn list_attempts(
        &self,
        shop_id: &ShopId,
        payout_id: &PayoutId,
    ) -> Result<Vec<PayoutAttempt>, StoreError> {
        let prefix = format!("{}#ATTEMPT#", payout_sk(payout_id));
        let items = self
            .query_prefix(shop_pk(shop_id), &prefix, true, MAX_ORDER_PAYOUTS_LISTED)
            .await?;
        items.iter().map(attempt_from).collect()
    }

    async fn list_notices(
        &self,
        shop_id: &ShopId,
        limit: usize,
    ) -> Result<Vec<Notice>, StoreError> {
        let items = self
            .query_prefix(shop_pk(shop_id), "NOTICE#", false, page_size(limit))
            .await?;
        items.iter().map(notice_from).collect()
    }

    async fn list_ledger(
        &self,
        shop_id: &ShopId,
        date: BusinessDate,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let items = self
            .query_prefix(shop_pk(shop_id), &ledger_prefix(date), true, usize::MAX)
            .await?;
        items.iter().map(ledger_from).collect()
    }

    async fn list_open_payouts(
        &self,
        status: PayoutStatus,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Payout>, StoreError> {
        self.trip();
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI3)
            .key_condition_expression("#GSI3PK = :pk AND #GSI3SK < :before")
            .set_expression_attribute_names(names(&[GSI3PK, GSI3SK]))
            .set_expression_attribute_values(values(vec![
                (":pk", s(open_gsi_pk(status))),
                (":before", s(ms_key(before))),
            ]))
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(unavailable)?;
        out.items().iter().map(payout_from).collect()
    }

    async fn issue_qr(&self, code: &QrCode, order: Option<&Order>) -> Result<Issued, StoreError> {
        self.issue_qr_code(code, order).await
    }

    async fn get_qr(&self, shop_id: &ShopId, qr_id: &QrId) -> Result<Option<QrCode>, StoreError> {
        self.get(qr_key(shop_id, qr_id))
            .await?
            .as_ref()
            .map(qr_from)
            .transpose()
    }

    async fn revoke_qr(
        &self,
        shop_id: &ShopId,
        qr_id: &QrId,
        now: DateTime<Utc>,
    ) -> Result<Option<Revocation>, StoreError> {
        self.revoke_qr_code(shop_id, qr_id, now).await
    }

    async fn claim_nonce(
        &self,
        device_id: &DeviceId,
        nonce: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.claim_pos_nonce(device_id, nonce, now, expires_at)
            .await
    }

    async fn find_order(&self, order_id: &OrderId) -> Result<Option<Order>, StoreError> {
        self.find_order_by_id(order_id).await
    }

    async fn apply_collection(
        &self,
        event: &CollectionEvent,
        now: DateTime<Utc>,
    ) -> Result<Decision, StoreError> {
        self.apply_collection_event(event, now).await
    }

    async fn list_anomalies(&self, date: BusinessDate) -> Result<Vec<Anomaly>, StoreError> {
        self.anomalies_of(date).await
    }

    async fn list_day_ledger(
        &self,
        date: BusinessDate,
        part: u16,
        after: Option<&str>,
        limit: usize,
    ) -> Result<LedgerPage, StoreError> {
        self.day_ledger_page(date, part, after, limit).await
    }

    async fn put_reconciliation(&self, summary: &ReconciliationSummary) -> Result<(), StoreError> {
        self.put_summary(summary).await
    }

    async fn get_reconciliation(
        &self,
        shop_id: &ShopId,
        date: BusinessDate,
    ) -> Result<Option<ReconciliationSummary>, StoreError> {
        self.get_summary(shop_id, date).await
    }

    async fn delete_reconciliation(
        &self,
        shop_id: &ShopId,
        date: BusinessDate,
    ) -> Result<(), StoreError> {
        self.delete_summary(shop_id, date).await
    }

    async fn claim_once(&self, key: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.claim_once_key(key, now).await
    }

    async fn acquire_lease(
        &self,
        key: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.acquire_lease_key(key, holder, now, until).await
    }

    async fn release_lease(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        self.release_lease_key(key, holder).await
    }

    async fn shop_day_totals(
        &self,
        shop_id: &ShopId,
        date: BusinessDate,
    ) -> Result<DayTotals, StoreError> {
        day_totals_from(self.get(shop_day_key(shop_id, date)).await?.as_ref())
    }

    async fn operator_day_totals(
        &self,
        shop_id: &ShopId,
        operator_id: &OperatorId,
        date: BusinessDate,
    ) -> Result<DayTotals, StoreError> {
        day_totals_from(
            self.get(operator_day_key(shop_id, operator_id, date))
                .await?
                .as_ref(),
        )
    }
}
