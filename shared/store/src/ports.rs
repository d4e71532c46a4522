//! The store's ports: one trait a role, so each function holds only what it
//! uses; [`Store`] combines them for the stacks that need them all.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use qrpay_domain::checkout::RateWindow;
use qrpay_domain::{
    Anomaly, BusinessDate, CollectionEvent, Decision, Device, DeviceId, LedgerEntry, Notice,
    OperatorId, Order, OrderId, PayeeAction, Payout, PayoutAttempt, PayoutId, PayoutQuota,
    PayoutRequest, PayoutStatus, QrCode, QrId, ReconciliationSummary, Shop, ShopId, ShopSetup,
};

use qrpay_domain::{AdjustmentRequest, Refund, RefundId, RefundRequest, RefundStatus};

use crate::adjustments::{AdjustError, Adjusted};
use crate::orders::{OrderPage, OrderQuery};
use crate::refunds::{RefundError, RefundReserveError, RefundReserved, RefundTransition};
use crate::{
    Checkout, Closing, DayTotals, Issued, LedgerPage, Page, PayoutError, ReserveError, Reserved,
    Revocation, StoreError, Transition,
};

/// Shops, their devices and payout quotas, and what a shop reads of its
/// own books (notices, ledger).
#[async_trait]
pub trait ShopStore: Send + Sync {
    /// Creates or updates a shop's setup. The payout hold and creation time
    /// of an existing shop are kept.
    async fn put_shop(&self, setup: &ShopSetup, now: DateTime<Utc>) -> Result<Shop, StoreError>;

    async fn get_shop(&self, shop_id: &ShopId) -> Result<Option<Shop>, StoreError>;

    async fn put_device(&self, device: &Device) -> Result<(), StoreError>;

    async fn get_device(&self, device_id: &DeviceId) -> Result<Option<Device>, StoreError>;

    async fn put_payout_quota(&self, quota: &PayoutQuota) -> Result<(), StoreError>;

    async fn get_payout_quota(
        &self,
        shop_id: &ShopId,
        operator_id: &OperatorId,
    ) -> Result<Option<PayoutQuota>, StoreError>;

    /// A shop's in-app notices, newest first, at most `limit` (≤ `MAX_PAGE_SIZE`).
    async fn list_notices(&self, shop_id: &ShopId, limit: usize)
        -> Result<Vec<Notice>, StoreError>;

    /// A shop's ledger entries of one business day, oldest first.
    async fn list_ledger(
        &self,
        shop_id: &ShopId,
        date: BusinessDate,
    ) -> Result<Vec<LedgerEntry>, StoreError>;

    /// Moves a shop's balance by a platform operator's adjustment, in one
    /// atomic step with its ledger entry and its `Idempotency-Key`; a debit
    /// never takes the balance below zero (API.md, balance adjustments).
    async fn adjust_balance(&self, request: &AdjustmentRequest) -> Result<Adjusted, AdjustError>;
}

/// Payouts: the reservation that enforces every rule atomically, the
/// lifecycle moves, attempts, and the counters the rules read.
#[async_trait]
pub trait PayoutStore: Send + Sync {
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

    /// Records what the payee must do for a `PROCESSING` transfer to finish
    /// (SPEC §9 `payee_action`); anything else is left `Unchanged`.
    async fn await_payee(
        &self,
        shop_id: &ShopId,
        payout_id: &PayoutId,
        action: &PayeeAction,
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

    /// Payouts of any shop still in `status` (pending or processing) whose
    /// last change is before `before`, oldest first ([`crate::open_position`]
    /// order), after the position `after` if given, at most `limit`.
    async fn list_open_payouts(
        &self,
        status: PayoutStatus,
        before: DateTime<Utc>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Payout>, StoreError>;

    /// Where the sweeper's walk over open payouts in `status` stopped (an
    /// [`crate::open_position`]); none: it starts at the oldest.
    async fn sweep_cursor(&self, status: PayoutStatus) -> Result<Option<String>, StoreError>;

    /// Records where the walk goes on next run (none: from the oldest again).
    async fn set_sweep_cursor(
        &self,
        status: PayoutStatus,
        cursor: Option<&str>,
    ) -> Result<(), StoreError>;

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

/// Collection: orders, QR codes, POS nonces and provider notices.
#[async_trait]
pub trait CollectionStore: Send + Sync {
    /// Inserts an order if no order with its id exists (in any shop); `false` if one did.
    async fn insert_order(&self, order: &Order) -> Result<bool, StoreError>;

    /// A buyer's checkout of a static code: inserts `order` and counts it in
    /// each of `windows`, atomically, unless a window is full — then nothing
    /// is written and the full window is returned (SPEC §10).
    async fn open_checkout(
        &self,
        order: &Order,
        windows: &[RateWindow],
    ) -> Result<Checkout, StoreError>;

    async fn get_order(
        &self,
        shop_id: &ShopId,
        order_id: &OrderId,
    ) -> Result<Option<Order>, StoreError>;

    /// An order found by its id alone (a provider's notice names only ours).
    async fn find_order(&self, order_id: &OrderId) -> Result<Option<Order>, StoreError>;

    /// One page of a shop's orders created in the query's range, newest
    /// first, after its cursor, walked as [`crate::orders::OrderWalk`] says
    /// (SPEC §11): never a scan of other shops' orders.
    async fn list_shop_orders(&self, query: &OrderQuery) -> Result<OrderPage, StoreError>;

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

    /// Orders of any shop still `CREATED` whose `expires_at` is at or
    /// before `now`, earliest expiry first, at most `limit` (SPEC §10: the
    /// sweeper closes them). An order paid meanwhile may still be listed
    /// once (DynamoDB reads the index eventually consistently).
    async fn list_expired_orders(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError>;

    /// `CREATED → CLOSED` for an order that expired unpaid
    /// ([`Order::closed_on_expiry`]), written on the condition that nothing
    /// changed it since it was read: a payment applied first wins, and one
    /// applied after finds it closed (an anomaly, never a silent credit).
    /// The closed order and its pointer get the table's TTL, `now` plus
    /// [`crate::CLOSED_ORDER_RETENTION_S`]. `None` if there is no such order.
    async fn close_expired_order(
        &self,
        shop_id: &ShopId,
        order_id: &OrderId,
        now: DateTime<Utc>,
    ) -> Result<Option<Closing>, StoreError>;

    /// Records that `order` (as read) now has its provider order at
    /// `provider` ([`Order::bound_to`]), on the condition that nothing changed
    /// it since it was read. `None` when it moved meanwhile or may not be
    /// bound (no longer awaiting payment): read it again and decide again.
    async fn bind_provider_order(
        &self,
        order: &Order,
        provider: qrpay_domain::Provider,
        now: DateTime<Utc>,
    ) -> Result<Option<Order>, StoreError>;

    /// What is counted against a shop's daily collection cap on `date`
    /// (SPEC §11): the amounts of the day's orders not closed unpaid.
    async fn collected_on(
        &self,
        shop_id: &ShopId,
        date: BusinessDate,
    ) -> Result<qrpay_domain::Money, StoreError>;

    /// Counts a checkout shown with a monthly-pay plan offered on `date`
    /// (SPEC §11 conversion), once per order however often its page is
    /// shown: `true` the first time, `false` ever after. The count and its
    /// guard are written together, atomically.
    async fn count_plan_checkout(
        &self,
        shop_id: &ShopId,
        order_id: &OrderId,
        date: BusinessDate,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

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
}

/// What reconciliation reads of a day (ledger, anomalies) and the
/// summaries it keeps.
#[async_trait]
pub trait ReconciliationStore: Send + Sync {
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

    /// What the store counted of a shop's business day as it happened
    /// (SPEC §11 KPIs): checkouts shown with a plan, orders opened on the
    /// day and those of them closed unpaid. Zeros for a quiet day.
    async fn day_activity(
        &self,
        shop_id: &ShopId,
        date: BusinessDate,
    ) -> Result<qrpay_domain::DayActivity, StoreError>;

    /// Anomalies of one business day, in id order.
    async fn list_anomalies(&self, date: BusinessDate) -> Result<Vec<Anomaly>, StoreError>;

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
}

/// Claims and leases: something done once, or one holder at a time.
#[async_trait]
pub trait ClaimStore: Send + Sync {
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
}

/// Merchant refunds (BUYER_PAGES §11): the reservation that enforces the
/// refund rules atomically — refunds and live payouts of an order together
/// never exceed what was paid — and the lifecycle moves.
#[async_trait]
pub trait RefundStore: Send + Sync {
    /// Checks every refund rule and reserves the refund in one atomic step:
    /// the refund, its pointer and idempotency record, the order's pending
    /// refunds, count and last-refund time, and the shop's balance hold.
    async fn reserve_refund(
        &self,
        request: &RefundRequest,
    ) -> Result<RefundReserved, RefundReserveError>;

    async fn get_refund(
        &self,
        shop_id: &ShopId,
        refund_id: &RefundId,
    ) -> Result<Option<Refund>, StoreError>;

    /// A refund found by its id alone (a provider notice names only ours).
    async fn find_refund(&self, refund_id: &RefundId) -> Result<Option<Refund>, StoreError>;

    /// All refunds of an order, newest first.
    async fn list_order_refunds(
        &self,
        shop_id: &ShopId,
        order_id: &OrderId,
    ) -> Result<Vec<Refund>, StoreError>;

    /// `PENDING → PROCESSING`, before the provider is called.
    async fn start_refund(
        &self,
        shop_id: &ShopId,
        refund_id: &RefundId,
        now: DateTime<Utc>,
    ) -> Result<RefundTransition, RefundError>;

    /// `PROCESSING → SUCCEEDED`, atomically with the order's refunded
    /// amount, the hold becoming a debit and one ledger entry (or, when the
    /// provider's notice of this movement was applied first, the release of
    /// what the refund reserved: see `qrpay_domain::refund_books`).
    async fn succeed_refund(
        &self,
        shop_id: &ShopId,
        refund_id: &RefundId,
        provider_refund_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<RefundTransition, RefundError>;

    /// `PENDING | PROCESSING → FAILED`, atomically with the release of all
    /// it reserved and an in-app notice.
    async fn fail_refund(
        &self,
        shop_id: &ShopId,
        refund_id: &RefundId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<RefundTransition, RefundError>;

    /// Refunds of any shop still in `status` whose last change is before
    /// `before`, oldest first, at most `limit` (the sweeper).
    async fn list_open_refunds(
        &self,
        status: RefundStatus,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Refund>, StoreError>;
}

/// Monthly-pay receivables (SPEC §11): what a shop is still owed.
#[async_trait]
pub trait ReceivableStore: Send + Sync {
    /// A shop's orders that owe instalments (paid, with a plan, not fully
    /// refunded, a period not yet deducted:
    /// [`qrpay_domain::receivables::owes_instalments`]), in order id order,
    /// after `cursor` if given, at most `limit` (≤ `MAX_PAGE_SIZE`). An order
    /// repaid meanwhile may still be listed once (DynamoDB reads the index
    /// eventually consistently): callers judge each order as read.
    async fn list_receivable_orders(
        &self,
        shop_id: &ShopId,
        cursor: Option<&OrderId>,
        limit: usize,
    ) -> Result<Page<Order, OrderId>, StoreError>;
}

/// Which report row of which shop and day a resolution is kept under.
pub type RowKey = (ShopId, BusinessDate, qrpay_domain::RowId);

/// Resolutions of report rows (SPEC §11): what finance staff did about a
/// discrepancy, kept apart from the nightly report so a re-run keeps them.
#[async_trait]
pub trait ResolutionStore: Send + Sync {
    /// Records `request` on the row `key` as
    /// [`qrpay_domain::Resolution::record`] decides it over the stored
    /// resolution, written only over the version it was decided from
    /// (concurrent changes are each kept, one after the other).
    async fn record_resolution(
        &self,
        key: RowKey,
        request: qrpay_domain::ResolutionRequest,
        finding: qrpay_domain::Finding,
        by: OperatorId,
        at: DateTime<Utc>,
    ) -> Result<qrpay_domain::Resolution, StoreError>;

    /// Every resolution recorded on the shop's report of `date`, in row id
    /// order (at most [`MAX_RESOLUTIONS`]).
    async fn list_resolutions(
        &self,
        shop_id: &ShopId,
        date: BusinessDate,
    ) -> Result<Vec<qrpay_domain::Resolution>, StoreError>;
}

/// Most resolutions one shop's day keeps listed (a day's report has at most
/// this many discrepancies anyone will resolve by hand).
pub const MAX_RESOLUTIONS: usize = 10_000;

/// Every role: what the local stack and the contract suites hold.
pub trait Store:
    ShopStore
    + PayoutStore
    + RefundStore
    + CollectionStore
    + ReconciliationStore
    + ReceivableStore
    + ResolutionStore
    + ClaimStore
    + KpiReads
{
}

impl<T> Store for T where
    T: ShopStore
        + PayoutStore
        + RefundStore
        + CollectionStore
        + ReconciliationStore
        + ReceivableStore
        + ResolutionStore
        + ClaimStore
        + ?Sized
{
}

/// What the nightly run reads for a shop's KPIs beyond its ledger (SPEC
/// §11): the day's activity counters, and the shop's receivables with its
/// grace days for the day's overdue position.
pub trait KpiReads: ShopStore + ReceivableStore + ReconciliationStore {}

impl<T> KpiReads for T where T: ShopStore + ReceivableStore + ReconciliationStore + ?Sized {}
