//! The DynamoDB adapter: one table, single-table design (see `codec`).
//! Payout changes are decided by the domain and written as one transaction
//! each (`payouts`); collection notices likewise (`collection`).

mod activity;
mod backoff;
mod codec;
mod collected;
mod collection;
mod expiry;
mod orders;
mod paging;
mod payout_effects;
mod payouts;
mod receivables;
mod reconciliation;
mod refunds;
mod resolutions;
mod shops;
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
    release_payout, settle_payout, BusinessDate, Device, DeviceId, LedgerEntry, Notice, OperatorId,
    OrderId, PayeeAction, Payout, PayoutAttempt, PayoutId, PayoutQuota, PayoutRequest,
    PayoutStatus, Shop, ShopId, ShopSetup,
};

pub use codec::{Item, TTL_ATTRIBUTE};
pub use table::create_table;

use codec::*;
use qrpay_store::{
    continuation, page_size, DayTotals, Page, PayoutError, PayoutStore, ReserveError, Reserved,
    ShopStore, StoreError, Transition,
};

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
        conditional_update(
            table,
            self.key,
            self.update,
            Some(self.condition),
            self.names,
            values(self.values),
        )
    }
}

/// One conditional update of a transaction; when its condition fails,
/// DynamoDB returns the item as it was (for the cancellation's reasons).
fn conditional_update(
    table: &str,
    key: Item,
    update: String,
    condition: Option<String>,
    names: Option<std::collections::HashMap<String, String>>,
    values: Option<std::collections::HashMap<String, AttributeValue>>,
) -> Result<TransactWriteItem, StoreError> {
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(key))
        .update_expression(update)
        .set_condition_expression(condition)
        .set_expression_attribute_names(names)
        .set_expression_attribute_values(values)
        .return_values_on_condition_check_failure(OnFailure::AllOld)
        .build()
        .map_err(build_error)?;
    Ok(TransactWriteItem::builder().update(update).build())
}
