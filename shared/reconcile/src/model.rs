//! The shapes every statement format is read into. Amounts are converted
//! from yuan text once, at the edge ([`qrpay_domain::money_text`]), and
//! travel as integer fen inside the matcher: exact, and cheap for millions
//! of rows.

use std::fmt;

use chrono::{DateTime, Utc};
use qrpay_domain::money_text::MAX_TEXT_FEN;
use qrpay_domain::{LedgerKind, Provider};

/// What kind of money movement a statement row or a ledger entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MovementKind {
    /// A buyer paid an order.
    Payment,
    /// The provider's fee on a payment (statements give it in a column of
    /// the payment's row).
    Fee,
    /// Money went back to a buyer.
    Refund,
    /// One monthly-pay instalment charged to the buyer.
    Deduction,
    /// A payout (transfer) from the shop to a buyer.
    Payout,
    /// The platform operator credited the shop's balance: our own
    /// movement, which no provider lists.
    AdjustmentCredit,
    /// The platform operator debited the shop's balance.
    AdjustmentDebit,
    /// The part of a payment's fee the provider handed back with a refund
    /// (statements give it in the fee column of the refund's row).
    FeeReturned,
}

impl MovementKind {
    pub const ALL: [MovementKind; 8] = [
        MovementKind::Payment,
        MovementKind::Fee,
        MovementKind::Refund,
        MovementKind::Deduction,
        MovementKind::Payout,
        MovementKind::AdjustmentCredit,
        MovementKind::AdjustmentDebit,
        MovementKind::FeeReturned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MovementKind::Payment => "PAYMENT",
            MovementKind::Fee => "FEE",
            MovementKind::Refund => "REFUND",
            MovementKind::Deduction => "DEDUCTION",
            MovementKind::Payout => "PAYOUT",
            MovementKind::AdjustmentCredit => "ADJUSTMENT_CREDIT",
            MovementKind::AdjustmentDebit => "ADJUSTMENT_DEBIT",
            MovementKind::FeeReturned => "FEE_RETURNED",
        }
    }

    /// Only our books hold it: no provider's statement has a side for it.
    pub fn is_internal(self) -> bool {
        matches!(
            self,
            MovementKind::AdjustmentCredit | MovementKind::AdjustmentDebit
        )
    }

    pub fn parse(text: &str) -> Option<MovementKind> {
        MovementKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    pub fn of_ledger(kind: LedgerKind) -> MovementKind {
        match kind {
            LedgerKind::Payment => MovementKind::Payment,
            LedgerKind::Fee => MovementKind::Fee,
            LedgerKind::Refund => MovementKind::Refund,
            LedgerKind::InstalmentDeduction => MovementKind::Deduction,
            LedgerKind::Payout => MovementKind::Payout,
            LedgerKind::AdjustmentCredit => MovementKind::AdjustmentCredit,
            LedgerKind::AdjustmentDebit => MovementKind::AdjustmentDebit,
            LedgerKind::FeeReturned => MovementKind::FeeReturned,
        }
    }

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<MovementKind> {
        MovementKind::ALL.get(usize::from(code)).copied()
    }
}

impl fmt::Display for MovementKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The provider's state of a movement, normalized from each format's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderStatus {
    /// The money moved.
    Success,
    /// The provider tried and the money did not move (e.g. a deduction the
    /// buyer's card refused, a transfer that failed).
    Failed,
    /// Closed or revoked before any money moved.
    Closed,
    /// Not final at the provider when the bill was cut.
    Processing,
}

impl ProviderStatus {
    pub const ALL: [ProviderStatus; 4] = [
        ProviderStatus::Success,
        ProviderStatus::Failed,
        ProviderStatus::Closed,
        ProviderStatus::Processing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderStatus::Success => "SUCCESS",
            ProviderStatus::Failed => "FAILED",
            ProviderStatus::Closed => "CLOSED",
            ProviderStatus::Processing => "PROCESSING",
        }
    }

    pub fn parse(text: &str) -> Option<ProviderStatus> {
        ProviderStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<ProviderStatus> {
        ProviderStatus::ALL.get(usize::from(code)).copied()
    }
}

impl fmt::Display for ProviderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The shop of a statement row whose bill does not say whose sale it was
/// (a direct merchant's WeChat bill without our `attach`, an Alipay row
/// without a 门店编号). Matched, such a row is the ledger entry's shop's;
/// alone (a movement we never booked), it is reported under this name,
/// with the account's settlement.
pub const UNATTRIBUTED_SHOP: &str = "unattributed";

/// One movement as a provider's statement lists it, in our units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementRow {
    /// 1-based line number in the statement file, for the report's notes.
    pub line: u64,
    pub provider: Provider,
    /// Our shop, as the bill names it (a sub-merchant id, or what our order
    /// sent the provider), or [`UNATTRIBUTED_SHOP`].
    pub shop_id: String,
    /// Payment, refund, deduction or payout; never `Fee` or `FeeReturned`
    /// (a fee is the `fee_fen` of its payment's or refund's row).
    pub kind: MovementKind,
    /// Our id: the order id for collection movements, the payout id for
    /// payouts (the provider's `out_trade_no` / `out_bill_no`).
    pub reference: String,
    /// The provider's id of the movement (transaction, refund, transfer).
    pub provider_ref: String,
    /// The instalment period of a deduction.
    pub period: Option<u8>,
    /// What moved, in fen, always positive (a refund is a positive amount of
    /// kind `Refund`).
    pub amount_fen: i64,
    /// The provider's fee on this row, in fen, zero or positive: on a
    /// refund's row, the fee handed back.
    pub fee_fen: i64,
    pub status: ProviderStatus,
    pub occurred_at: DateTime<Utc>,
    /// The buyer as the provider shows them, already masked (`张*`,
    /// `138****1234`); never the clear value.
    pub payer: Option<String>,
}

/// A line of an input file that could not be read. Reported with its line
/// number; never skipped silently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct LineError {
    /// 1-based; for a file that ends early, the line after the last one.
    pub line: u64,
    pub message: String,
}

impl LineError {
    pub fn new(line: u64, message: impl Into<String>) -> LineError {
        LineError {
            line,
            message: message.into(),
        }
    }
}

/// Largest amount any single statement value may hold: 10^12 yuan in fen,
/// the most money text carries.
pub const MAX_FEN: i64 = MAX_TEXT_FEN;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for k in MovementKind::ALL {
            assert_eq!(MovementKind::from_code(k.code()), Some(k));
            assert_eq!(MovementKind::parse(k.as_str()), Some(k));
        }
        for s in ProviderStatus::ALL {
            assert_eq!(ProviderStatus::from_code(s.code()), Some(s));
        }
    }
}
