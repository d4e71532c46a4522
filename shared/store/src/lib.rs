//! The store's ports: everything the functions keep, one trait a role
//! ([`ports`]), and the embedded adapter. Two adapters behave identically
//! (the contract suite in `tests/` runs against both):
//!
//! - [`MemoryStore`]: the embedded default, one mutex, no I/O.
//! - `qrpay_aws::DynamoStore`: one DynamoDB table (single-table design).
//!
//! Neither decides a balance change: the domain does (`qrpay_domain::books`,
//! `qrpay_domain::payment`), and each adapter applies the effect it returns.
//!
//! Payout rules are enforced *by the store*, atomically with the reservation
//! (SPEC §4); handlers never read-then-write limits themselves.

use qrpay_domain::{LedgerEntry, Payout, PayoutId, PayoutRefusal, QrCode};

pub mod adjustments;
pub mod alerts;
pub mod collected;
pub mod keyring;
pub mod memory;
pub mod metrics;
pub mod orders;
pub mod ports;
pub mod pos_result;
pub mod refunds;
pub mod settle;

pub use adjustments::{AdjustError, Adjusted};
pub use memory::MemoryStore;
pub use orders::{OrderPage, OrderPosition, OrderQuery};
pub use ports::{
    ClaimStore, CollectionStore, KpiReads, PayoutStore, ReceivableStore, ReconciliationStore,
    RefundStore, ResolutionStore, RowKey, ShopStore, Store, MAX_RESOLUTIONS,
};
pub use refunds::{RefundError, RefundReserveError, RefundReserved, RefundTransition};

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

/// What a checkout did (SPEC §10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checkout {
    /// The order was written and counted.
    Opened,
    /// This window is full: nothing was written.
    Limited(qrpay_domain::checkout::RateWindow),
    /// An order with this id exists already: nothing was written.
    Duplicate,
    /// It would take the shop past its daily collection cap (SPEC §11):
    /// nothing was written.
    CapExceeded(qrpay_domain::CollectionCapExceeded),
}

/// What closing an expired order did (SPEC §10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closing {
    /// It was `CREATED` and past its expiry: now `CLOSED`, as returned.
    Closed(qrpay_domain::Order),
    /// Paid, closed already or not yet expired: nothing changed; as it is now.
    Unchanged(qrpay_domain::Order),
}

/// How long a closed, never-paid order is kept before the table's TTL
/// removes it: 35 days, past any provider's late notices and a month's
/// reconciliation (a notice for a removed order is an `UNKNOWN_ORDER` anomaly).
pub const CLOSED_ORDER_RETENTION_S: i64 = 35 * 24 * 60 * 60;

/// What issuing a code did (SPEC §3: idempotent on `(shop, out_order_no)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issued {
    /// New code (and, for a dynamic code, its order).
    Created(QrCode),
    /// The same `out_order_no` with the same parameters: the code issued first.
    Replayed(QrCode),
    /// The same `out_order_no` with other parameters: the code issued first.
    Conflict(QrCode),
    /// The code's order would take the shop past its daily collection cap
    /// (SPEC §11): nothing was written.
    CapExceeded(qrpay_domain::CollectionCapExceeded),
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

/// Where an open payout stands in the sweeper's walk: its last change (ms,
/// zero-padded), shop and id, so positions sort as the walk goes (oldest
/// first). The DynamoDB store keeps exactly this as the payout's GSI3 sort key.
pub fn open_position(payout: &Payout) -> String {
    format!(
        "{:013}#{}#{}",
        payout.updated_at.timestamp_millis().max(0),
        payout.shop_id,
        payout.payout_id
    )
}

/// One page of a day's ledger; `next` continues it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerPage {
    pub entries: Vec<LedgerEntry>,
    pub next: Option<String>,
}

/// Most ledger entries one page of a day listing returns.
pub const MAX_LEDGER_PAGE: usize = 1000;

/// One page of a listing; `next_cursor` (the last item's position: a
/// payout id unless said otherwise) continues it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T, C = PayoutId> {
    pub items: Vec<T>,
    pub next_cursor: Option<C>,
}

/// The first `limit` of `items` and whether any follow: one more than
/// asked is read to know. Every paged listing of both adapters ends here.
pub fn over_fetch<T>(items: impl IntoIterator<Item = T>, limit: usize) -> (Vec<T>, bool) {
    let mut page: Vec<T> = items.into_iter().take(limit.saturating_add(1)).collect();
    let more = page.len() > limit;
    page.truncate(limit);
    (page, more)
}

/// Where a page's listing continues: at its last item, when more follow.
pub fn continuation<T, C>(page: &[T], more: bool, position: impl Fn(&T) -> C) -> Option<C> {
    page.last().filter(|_| more).map(position)
}

/// Clamps a requested page size to 1..=MAX_PAGE_SIZE.
pub fn page_size(limit: usize) -> usize {
    limit.clamp(1, MAX_PAGE_SIZE)
}
