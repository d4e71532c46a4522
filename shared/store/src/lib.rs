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
    Anomaly, BusinessDate, CollectionEvent, Decision, Device, DeviceId, LedgerEntry, Notice,
    OperatorId, Order, OrderId, Payout, PayoutAttempt, PayoutId, PayoutQuota, PayoutRefusal,
    PayoutRequest, PayoutStatus, QrCode, QrId, ReconciliationSummary, Shop, ShopId, ShopSetup,
};

pub mod alerts;
pub mod dynamo;
pub mod memory;
pub mod settle;

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

/// What a payout state change did (SPEC §4 lifecycle). Every change is
/// conditioned on the state it leaves, so applying one twice changes once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// The payout moved; this is it afterwards.
    Moved(Payout),
    /// The payout was not in the state the change leaves from (already
    /// moved by someone else, or final): nothing changed; this is it now.
    Unchanged(Payout),
}

impl Transition {
    pub fn payout(&self) -> &Payout {
        match self {
            Transition::Moved(p) | Transition::Unchanged(p) => p,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PayoutError {
    #[error("payout not found")]
    PayoutNotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What issuing a code did (SPEC §3: idempotent on `(shop, out_order_no)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issued {
    /// New code (and, for a dynamic code, its order).
    Created(QrCode),
    /// The same `out_order_no` with the same parameters: the code issued first.
    Replayed(QrCode),
    /// The same `out_order_no` with other parameters: the code issued first.
    Conflict(QrCode),
}

/// What revoking a code did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// Revoked now (a dynamic code's unpaid order is closed with it).
    Revoked(QrCode),
    AlreadyRevoked(QrCode),
    /// A dynamic code whose order is paid cannot be revoked.
    Used(QrCode),
}

/// How long a provider notification id is remembered for dedupe; providers
/// retry for about a day.
pub const NOTIFICATION_RETENTION_S: i64 = 30 * 24 * 60 * 60;
/// Attempts at applying one notice when concurrent writes keep changing the order.
pub const MAX_COLLECTION_ATTEMPTS: usize = 4;

pub use qrpay_domain::books::{payout_failed_notice, payout_ledger_entry, DayTotals};
pub use qrpay_domain::execution::{ledger_part, LEDGER_DAY_PARTS};

/// Where a day-ledger listing stands: the last (shop, entry) returned.
pub fn ledger_position(entry: &LedgerEntry) -> String {
    format!("{}#{}", entry.shop_id, entry.entry_id)
}

/// One page of a day's ledger; `next` continues it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerPage {
    pub entries: Vec<LedgerEntry>,
    pub next: Option<String>,
}

/// Most ledger entries one page of a day listing returns.
pub const MAX_LEDGER_PAGE: usize = 1000;

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

    /// Inserts an order if no order with its id exists (in any shop); `false` if one did.
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

    /// A payout found by its id alone (a provider's notice names only the
    /// `out_bill_no`).
    async fn find_payout(&self, payout_id: &PayoutId) -> Result<Option<Payout>, StoreError>;

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

    /// `PENDING → PROCESSING`, before the provider is called.
    async fn start_payout(
        &self,
        shop_id: &ShopId,
        payout_id: &PayoutId,
        now: DateTime<Utc>,
    ) -> Result<Transition, PayoutError>;

    /// `PROCESSING → SUCCEEDED`, atomically with the hold becoming a debit
    /// and one immutable ledger entry.
    async fn succeed_payout(
        &self,
        shop_id: &ShopId,
        payout_id: &PayoutId,
        provider_ref: &str,
        now: DateTime<Utc>,
    ) -> Result<Transition, PayoutError>;

    /// `PENDING | PROCESSING → FAILED`, atomically with the release of all it
    /// reserved (count, amounts, balance hold) and an in-app notice.
    async fn fail_payout(
        &self,
        shop_id: &ShopId,
        payout_id: &PayoutId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Transition, PayoutError>;

    async fn record_attempt(
        &self,
        shop_id: &ShopId,
        attempt: &PayoutAttempt,
    ) -> Result<(), StoreError>;
    /// A payout's provider attempts, oldest first.
    async fn list_attempts(
        &self,
        shop_id: &ShopId,
        payout_id: &PayoutId,
    ) -> Result<Vec<PayoutAttempt>, StoreError>;
    /// A shop's in-app notices, newest first, at most `limit` (≤ `MAX_PAGE_SIZE`).
    async fn list_notices(&self, shop_id: &ShopId, limit: usize)
        -> Result<Vec<Notice>, StoreError>;
    /// A shop's ledger entries of one business day, oldest first.
    async fn list_ledger(
        &self,
        shop_id: &ShopId,
        date: BusinessDate,
    ) -> Result<Vec<LedgerEntry>, StoreError>;
    /// Payouts of any shop still in `status` (pending or processing) whose
    /// last change is before `before`, oldest first, at most `limit`.
    async fn list_open_payouts(
        &self,
        status: PayoutStatus,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Payout>, StoreError>;

    /// Issues a code; a dynamic code's order is inserted with it, atomically,
    /// and `(shop, out_order_no)` is claimed so a repeat finds the first code.
    async fn issue_qr(&self, code: &QrCode, order: Option<&Order>) -> Result<Issued, StoreError>;
    async fn get_qr(&self, shop_id: &ShopId, qr_id: &QrId) -> Result<Option<QrCode>, StoreError>;
    /// Revokes a code at once; `None` if the shop has no such code.
    async fn revoke_qr(
        &self,
        shop_id: &ShopId,
        qr_id: &QrId,
        now: DateTime<Utc>,
    ) -> Result<Option<Revocation>, StoreError>;

    /// Claims a POS request nonce: `true` the first time, `false` if it was
    /// seen and has not expired (SPEC §3: each nonce is accepted once).
    async fn claim_nonce(
        &self,
        device_id: &DeviceId,
        nonce: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// An order found by its id alone (a provider's notice names only ours).
    async fn find_order(&self, order_id: &OrderId) -> Result<Option<Order>, StoreError>;

    /// Applies a verified provider notice (SPEC §5): reads the order, lets
    /// [`qrpay_domain::payment::decide`] decide, and writes the decision in
    /// one atomic step on the condition that the order did not move and the
    /// notification was not applied meanwhile. Returns what was decided; a
    /// notification id seen before is `AlreadyApplied`.
    async fn apply_collection(
        &self,
        event: &CollectionEvent,
        now: DateTime<Utc>,
    ) -> Result<Decision, StoreError>;

    /// Anomalies of one business day, in id order.
    async fn list_anomalies(&self, date: BusinessDate) -> Result<Vec<Anomaly>, StoreError>;

    /// Every shop's ledger entries of business day `date` in part `part`
    /// (`< LEDGER_DAY_PARTS`), in (shop, entry id) order, starting after the
    /// position `after` (a [`ledger_position`]), at most `limit`
    /// (≤ `MAX_LEDGER_PAGE`). Reconciliation streams the day through this.
    async fn list_day_ledger(
        &self,
        date: BusinessDate,
        part: u16,
        after: Option<&str>,
        limit: usize,
    ) -> Result<LedgerPage, StoreError>;

    /// Stores a shop's reconciliation of a day, replacing any earlier run's.
    async fn put_reconciliation(&self, summary: &ReconciliationSummary) -> Result<(), StoreError>;
    async fn get_reconciliation(
        &self,
        shop_id: &ShopId,
        date: BusinessDate,
    ) -> Result<Option<ReconciliationSummary>, StoreError>;
    /// Forgets a shop's reconciliation of a day (a re-run found nothing for it).
    async fn delete_reconciliation(
        &self,
        shop_id: &ShopId,
        date: BusinessDate,
    ) -> Result<(), StoreError>;

    /// Claims `key` once: `true` the first time, `false` ever after. Used so
    /// a re-run never sends the same alert twice.
    async fn claim_once(&self, key: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Holds `key` for `holder` until `until`, if nobody holds it at `now`
    /// (a lease that has run out is free): `true` when taken. One
    /// reconciliation run per day at a time, whoever triggers it.
    async fn acquire_lease(
        &self,
        key: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Gives `holder`'s lease on `key` back; a lease someone else holds now
    /// is left alone.
    async fn release_lease(&self, key: &str, holder: &str) -> Result<(), StoreError>;

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
