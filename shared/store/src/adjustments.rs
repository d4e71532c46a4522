//! Balance adjustments in the store: what an adjustment write answers.
//! Both adapters decide with [`qrpay_domain::decide_adjustment`] on what they
//! read and write the record, its ledger entry, its `Idempotency-Key` and the
//! balance move in one atomic step, conditioned on the balance they read.

use qrpay_domain::{AdjustmentRefusal, BalanceAdjustment};

use crate::StoreError;

/// An adjustment that went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Adjusted {
    /// New: the balance moved and the ledger holds its entry.
    Created(BalanceAdjustment),
    /// Same `Idempotency-Key` and same request: the adjustment made the
    /// first time; nothing moved again.
    Replayed(BalanceAdjustment),
}

impl Adjusted {
    pub fn adjustment(&self) -> &BalanceAdjustment {
        match self {
            Adjusted::Created(a) | Adjusted::Replayed(a) => a,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AdjustError {
    #[error(transparent)]
    Refused(#[from] AdjustmentRefusal),
    #[error("this Idempotency-Key was used for a different request")]
    IdempotencyConflict,
    #[error("shop not found")]
    ShopNotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}
