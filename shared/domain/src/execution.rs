//! What payout execution leaves behind (SPEC §4, §5): provider attempts, the
//! merchant's in-app notices, and immutable ledger entries.

use chrono::{DateTime, Utc};

use crate::collection::Provider;
use crate::ids::{OrderId, PayoutId, ShopId};
use crate::money::{Amount, Money};
use crate::time::BusinessDate;

/// Longest detail kept for an attempt or a notice.
pub const MAX_DETAIL_CHARS: usize = 500;

/// One call to the provider about a payout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutAttempt {
    pub payout_id: PayoutId,
    pub action: AttemptAction,
    pub outcome: AttemptOutcome,
    pub detail: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptAction {
    Transfer,
    Query,
}

impl AttemptAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptAction::Transfer => "TRANSFER",
            AttemptAction::Query => "QUERY",
        }
    }

    pub fn parse(text: &str) -> Option<AttemptAction> {
        [AttemptAction::Transfer, AttemptAction::Query]
            .into_iter()
            .find(|a| a.as_str() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Succeeded,
    Failed,
    InProgress,
    NotFound,
    Ambiguous,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Succeeded => "SUCCEEDED",
            AttemptOutcome::Failed => "FAILED",
            AttemptOutcome::InProgress => "IN_PROGRESS",
            AttemptOutcome::NotFound => "NOT_FOUND",
            AttemptOutcome::Ambiguous => "AMBIGUOUS",
        }
    }

    pub fn parse(text: &str) -> Option<AttemptOutcome> {
        use AttemptOutcome::*;
        [Succeeded, Failed, InProgress, NotFound, Ambiguous]
            .into_iter()
            .find(|o| o.as_str() == text)
    }
}

/// An in-app notice for the merchant (站内信).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub notice_id: String,
    pub shop_id: ShopId,
    pub kind: NoticeKind,
    pub message: String,
    pub payout_id: Option<PayoutId>,
    pub order_id: Option<OrderId>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    PayoutFailed,
    /// A monthly-pay instalment could not be charged to the buyer.
    DeductionFailed,
    /// A merchant refund was definitively refused by the provider.
    RefundFailed,
    /// A payment at or above the shop's `large_payment_alert` (SPEC §11).
    LargePayment,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::PayoutFailed => "PAYOUT_FAILED",
            NoticeKind::DeductionFailed => "DEDUCTION_FAILED",
            NoticeKind::RefundFailed => "REFUND_FAILED",
            NoticeKind::LargePayment => "LARGE_PAYMENT",
        }
    }

    pub fn parse(text: &str) -> Option<NoticeKind> {
        [
            NoticeKind::PayoutFailed,
            NoticeKind::DeductionFailed,
            NoticeKind::RefundFailed,
            NoticeKind::LargePayment,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

/// An immutable record of money moving, read by reconciliation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// Unique per movement: a retry of the same movement finds it written.
    pub entry_id: String,
    pub shop_id: ShopId,
    pub kind: LedgerKind,
    pub amount: Amount,
    pub business_date: BusinessDate,
    /// Our id of what moved (the payout id for payouts, the order id for
    /// collection movements).
    pub reference: String,
    /// The provider's id of the movement (transaction, refund, transfer).
    pub provider_ref: Option<String>,
    /// The order the movement belongs to, when it belongs to one.
    pub order_id: Option<OrderId>,
    pub provider: Option<Provider>,
    /// The instalment period of a deduction.
    pub period: Option<u8>,
    /// How many periods the order's monthly-pay plan has, if it has one.
    pub plan_periods: Option<u8>,
    /// The buyer, masked (`张* 138****1234`), as the order knows them.
    pub customer: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl LedgerEntry {
    /// The processing fee handed back with this refund, as its own entry
    /// (`FEE_RETURNED`): the refund's order, provider and provider id (the
    /// bill shows it as the fee of the refund's row), an id of its own
    /// derived from the refund's, so it is written once with it. `None`
    /// when nothing is handed back.
    pub fn fee_returned(&self, fee: Money) -> Option<LedgerEntry> {
        let amount = Amount::from_fen(fee.fen()).ok()?;
        let id = &self.entry_id;
        let movement = id.strip_prefix("refund-").unwrap_or(id);
        Some(LedgerEntry {
            entry_id: format!("fee-returned-{movement}"),
            kind: LedgerKind::FeeReturned,
            amount,
            ..self.clone()
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LedgerKind {
    /// A buyer paid an order (the shop is credited).
    Payment,
    /// What the provider keeps from a payment, one entry per payment as its
    /// bill lists it: the processing fee at the shop's rate
    /// (`processing_rates`) plus the monthly-pay fee when the shop bears it.
    Fee,
    /// Money went back to a buyer.
    Refund,
    /// One monthly-pay instalment charged to the buyer.
    InstalmentDeduction,
    /// Money paid out of the shop's balance to a buyer.
    Payout,
    /// The platform operator credited the shop's balance (a balance
    /// adjustment: our own movement, with no provider side).
    AdjustmentCredit,
    /// The platform operator debited the shop's balance.
    AdjustmentDebit,
    /// The part of a payment's processing fee the provider handed back with
    /// a refund (the shop is credited it): one entry per refund, beside the
    /// `REFUND` entry, as the bill shows it on the refund's row.
    FeeReturned,
}

impl LedgerKind {
    pub const ALL: [LedgerKind; 8] = [
        LedgerKind::Payment,
        LedgerKind::Fee,
        LedgerKind::Refund,
        LedgerKind::InstalmentDeduction,
        LedgerKind::Payout,
        LedgerKind::AdjustmentCredit,
        LedgerKind::AdjustmentDebit,
        LedgerKind::FeeReturned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LedgerKind::Payment => "PAYMENT",
            LedgerKind::Fee => "FEE",
            LedgerKind::Refund => "REFUND",
            LedgerKind::InstalmentDeduction => "INSTALMENT_DEDUCTION",
            LedgerKind::Payout => "PAYOUT",
            LedgerKind::AdjustmentCredit => "ADJUSTMENT_CREDIT",
            LedgerKind::AdjustmentDebit => "ADJUSTMENT_DEBIT",
            LedgerKind::FeeReturned => "FEE_RETURNED",
        }
    }

    pub fn parse(text: &str) -> Option<LedgerKind> {
        LedgerKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// Text cut to what we keep (`MAX_DETAIL_CHARS`).
pub fn bounded_detail(text: &str) -> String {
    text.chars().take(MAX_DETAIL_CHARS).collect()
}

/// A day's ledger is read for reconciliation in this many parts, each part
/// the shops whose id hashes to it ([`ledger_part`]). In DynamoDB each part is
/// its own index partition, so writes of a busy day spread and the parts can
/// be read side by side.
pub const LEDGER_DAY_PARTS: u16 = 16;

/// The part of a day's ledger a shop's entries belong to: FNV-1a of the id.
pub fn ledger_part(shop_id: &ShopId) -> u16 {
    let hash = shop_id.as_str().bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    // The remainder is below LEDGER_DAY_PARTS, so it fits.
    (hash % u32::from(LEDGER_DAY_PARTS)) as u16
}
