//! The store port: everything the functions keep, behind one trait, and its
//! two adapters that behave identically (the contract suite in `tests/` runs
//! against both):
//!
//! - [`MemoryStore`]: the embedded default, one mutex, no I/O.
//! - [`DynamoStore`]: one DynamoDB table (single-table design).
//!
//! Payout rules are enforced *by the store*, atomically with the reservation
//! (SPEC §4); handlers never read-then-write limits themselves.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use qrpay_domain::{
    BusinessDate, Device, DeviceId, Money, OperatorId, Order, OrderId, Payout, PayoutId,
    PayoutQuota, PayoutRefusal, PayoutRequest, Shop, ShopId, ShopSetup,
};

pub mod dynamo;
pub mod memory;

pub use dynamo::DynamoStore;
pub use memory::MemoryStore;

/// Most payouts one page of a listing returns.
pub const MAX_PAGE_SIZE: usize = 100;

/// A failure of the store itself, never of the caller's input.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("stored record is malformed: {0}")]
    Corrupt(String),
    #[error("the write kept conflicting with concurrent writes; try again")]
    Contention,
}

/// A reservation that went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reserved {
    /// New payout: every counter and the balance hold now include it.
    Created(Payout),
    /// Same `Idempotency-Key` and same request: the payout made the first
    /// time, as it is now; nothing was reserved again.
    Replayed(Payout),
}

impl Reserved {
    pub fn payout(&self) -> &Payout {
        match self {
            Reserved::Created(p) | Reserved::Replayed(p) => p,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReserveError {
    #[error(transparent)]
    Refused(#[from] PayoutRefusal),
    #[error("this Idempotency-Key was used for a different request")]
    IdempotencyConflict,
    #[error("shop not found")]
    ShopNotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What releasing a failed payout did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release {
    /// It was pending or processing; it is now `FAILED` and everything it
    /// reserved (count, amounts, balance hold) is released.
    Released(Payout),
    /// It was already final: nothing changed (so releasing twice releases once).
    AlreadyFinal(Payout),
}

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("payout not found")]
    PayoutNotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A counter of live payouts for one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DayTotals {
    pub total: Money,
    pub count: u32,
}

/// One page of a newest-first listing; `next_cursor` continues it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<PayoutId>,
}

#[async_trait]
pub trait Store: Send + Sync {
    /// Creates or updates a shop's setup. The payout hold and creation time
    /// of an existing shop are kept.
    async fn put_shop(&self, setup: &ShopSetup, now: DateTime<Utc>) -> Result<Shop, StoreError>;
    async fn get_shop(&self, shop_id: &ShopId) -> Result<Option<Shop>, StoreError>;

    async fn put_device(&self, device: &Device) -> Result<(), StoreError>;
    async fn get_device(&self, device_id: &DeviceId) -> Result<Option<Device>, StoreError>;

    /// Inserts an order if no order with its id exists in its shop; `false` if one did.
    async fn insert_order(&self, order: &Order) -> Result<bool, StoreError>;
    async fn get_order(
        &self,
        shop_id: &ShopId,
        order_id: &OrderId,
    ) -> Result<Option<Order>, StoreError>;

    async fn put_payout_quota(&self, quota: &PayoutQuota) -> Result<(), StoreError>;
    async fn get_payout_quota(
        &self,
        shop_id: &ShopId,
        operator_id: &OperatorId,
    ) -> Result<Option<PayoutQuota>, StoreError>;

    /// Checks every payout rule and reserves the payout in one atomic step:
    /// the payout and its idempotency record, the order's count, total and
    /// last-payout time, the shop's and the sub-account's counters for the
    /// business day, and the shop's balance hold.
    async fn reserve_payout(&self, request: &PayoutRequest) -> Result<Reserved, ReserveError>;

    async fn get_payout(
        &self,
        shop_id: &ShopId,
        payout_id: &PayoutId,
    ) -> Result<Option<Payout>, StoreError>;
    /// All payouts of an order, live and failed, newest first.
    async fn list_order_payouts(
        &self,
        shop_id: &ShopId,
        order_id: &OrderId,
    ) -> Result<Vec<Payout>, StoreError>;
    /// A shop's payouts of one business day, newest first, `limit` at most
    /// `MAX_PAGE_SIZE`, continuing after `cursor` (a payout id) if given.
    async fn list_shop_payouts(
        &self,
        shop_id: &ShopId,
        date: BusinessDate,
        cursor: Option<&PayoutId>,
        limit: usize,
    ) -> Result<Page<Payout>, StoreError>;

    /// Marks a pending or processing payout `FAILED` and releases all it
    /// reserved, atomically. Idempotent: a final payout is left as it is.
    async fn fail_payout(
        &self,
        shop_id: &ShopId,
        payout_id: &PayoutId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Release, ReleaseError>;

    async fn shop_day_totals(
        &self,
        shop_id: &ShopId,
        date: BusinessDate,
    ) -> Result<DayTotals, StoreError>;
    async fn operator_day_totals(
        &self,
        shop_id: &ShopId,
        operator_id: &OperatorId,
        date: BusinessDate,
    ) -> Result<DayTotals, StoreError>;
}

/// Clamps a requested page size to 1..=MAX_PAGE_SIZE.
pub fn page_size(limit: usize) -> usize {
    limit.clamp(1, MAX_PAGE_SIZE)
}
