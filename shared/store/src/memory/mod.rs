//! The embedded store: all state behind one mutex, so every operation is
//! atomic just as one DynamoDB transaction is. The lock is never held across
//! an `.await`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use qrpay_domain::books::{
    check_books, release_payout, reserve_payout, settle_payout, BooksError, PayoutEffect,
    PayoutMove, PayoutSnapshot,
};
use qrpay_domain::checkout::RateWindow;
use qrpay_domain::payment::decide;
use qrpay_domain::{
    Anomaly, BusinessDate, CollectionEvent, CollectionFacts, Decision, Device, DeviceId,
    LedgerEntry, Money, Notice, OperatorId, Order, OrderId, OrderStatus, OutOrderNo, PayeeAction,
    Payout, PayoutAttempt, PayoutId, PayoutQuota, PayoutRequest, PayoutStatus, Provider, QrCode,
    QrId, QrState, ReconciliationSummary, Shop, ShopId, ShopSetup,
};

use crate::{
    continuation, ledger_part, ledger_position, over_fetch, page_size, Checkout, ClaimStore,
    Closing, CollectionStore, DayTotals, Issued, LedgerPage, Page, PayoutError, PayoutStore,
    ReconciliationStore, ReserveError, Reserved, Revocation, ShopStore, StoreError, Transition,
    MAX_LEDGER_PAGE,
};

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    shops: HashMap<ShopId, Shop>,
    devices: HashMap<DeviceId, Device>,
    orders: HashMap<(ShopId, OrderId), Order>,
    quotas: HashMap<(ShopId, OperatorId), PayoutQuota>,
    payouts: BTreeMap<(ShopId, PayoutId), Payout>,
    /// (shop, Idempotency-Key) → (request fingerprint, payout id)
    idempotency: HashMap<(ShopId, String), (String, PayoutId)>,
    shop_days: HashMap<(ShopId, BusinessDate), DayTotals>,
    operator_days: HashMap<(ShopId, OperatorId, BusinessDate), DayTotals>,
    payout_shops: HashMap<PayoutId, ShopId>,
    attempts: HashMap<(ShopId, PayoutId), Vec<PayoutAttempt>>,
    notices: HashMap<ShopId, Vec<Notice>>,
    ledger: HashMap<ShopId, Vec<LedgerEntry>>,
    order_shops: HashMap<OrderId, ShopId>,
    qr_codes: HashMap<(ShopId, QrId), QrCode>,
    /// (shop, out_order_no) → the dynamic code issued for it.
    out_orders: HashMap<(ShopId, OutOrderNo), QrId>,
    /// (device, nonce) → when the claim expires.
    nonces: HashMap<(DeviceId, String), DateTime<Utc>>,
    notifications: HashSet<(Provider, String)>,
    /// Ledger entry ids of provider movements already written.
    movements: HashSet<String>,
    anomalies: BTreeMap<(BusinessDate, String), Anomaly>,
    /// The ledger again, by day: (date, part, shop, entry id) → entry.
    day_ledger: BTreeMap<(BusinessDate, u16, String, String), LedgerEntry>,
    reconciliations: HashMap<(ShopId, BusinessDate), ReconciliationSummary>,
    claimed: HashSet<String>,
    /// Lease key → (holder, until).
    leases: HashMap<String, (String, DateTime<Utc>)>,
    /// Checkout rate counters: counter id → (count, window end in seconds).
    rate_counters: HashMap<String, (u32, i64)>,
    refunds: BTreeMap<(ShopId, qrpay_domain::RefundId), qrpay_domain::Refund>,
    refund_shops: HashMap<qrpay_domain::RefundId, ShopId>,
    /// (shop, Idempotency-Key) → (request fingerprint, refund id); apart
    /// from payouts' keys, so one key cannot collide across the two routes.
    refund_idempotency: HashMap<(ShopId, String), (String, qrpay_domain::RefundId)>,
    /// (shop, Idempotency-Key) → the balance adjustment made under it.
    adjustments: HashMap<(ShopId, String), qrpay_domain::BalanceAdjustment>,
    /// Where the sweeper's walk over each open status stopped.
    sweep_cursors: HashMap<PayoutStatus, String>,
    /// (shop, business day) → fen counted against the daily collection cap.
    collected: HashMap<(ShopId, BusinessDate), i64>,
    /// Report rows' resolutions, by (shop, day, row).
    resolutions: BTreeMap<(ShopId, BusinessDate, qrpay_domain::RowId), qrpay_domain::Resolution>,
    /// (shop, business day) → what the KPIs count of the day as it happens.
    activity: HashMap<(ShopId, BusinessDate), qrpay_domain::DayActivity>,
    /// Orders whose checkout shown with a plan is counted already.
    plan_checkouts: HashSet<(ShopId, OrderId)>,
}

impl State {
    fn record_ledger(&mut self, entry: LedgerEntry) {
        let key = (
            entry.business_date,
            ledger_part(&entry.shop_id),
            entry.shop_id.to_string(),
            entry.entry_id.clone(),
        );
        self.day_ledger.insert(key, entry.clone());
        self.ledger
            .entry(entry.shop_id.clone())
            .or_default()
            .push(entry);
    }
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock is a bug already reported; the state
        // itself is only changed after every check passed, so it is consistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn overflow(what: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} out of range"))
}

mod collection;
mod payouts;
mod receivables;
mod reconciliation;
mod refunds;
mod resolutions;
mod shops;
#[cfg(test)]
mod tests;
