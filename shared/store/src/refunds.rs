//! What the refund port answers (BUYER_PAGES §11): a reservation, a
//! lifecycle move, and their errors. Like payouts, every move is
//! conditioned on the state it leaves, so applying one twice changes once.

use qrpay_domain::{Refund, RefundRefusal};

use crate::StoreError;

/// A refund reservation that went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundReserved {
    /// New refund: the order's pending refunds and the shop's hold include it.
    Created(Refund),
    /// Same `Idempotency-Key`, same request: the refund made the first time,
    /// as it is now; nothing was reserved again.
    Replayed(Refund),
}

impl RefundReserved {
    pub fn refund(&self) -> &Refund {
        match self {
            RefundReserved::Created(r) | RefundReserved::Replayed(r) => r,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RefundReserveError {
    #[error(transparent)]
    Refused(#[from] RefundRefusal),
    #[error("this Idempotency-Key was used for a different request")]
    IdempotencyConflict,
    #[error("shop not found")]
    ShopNotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a refund state change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundTransition {
    /// The refund moved; this is it afterwards.
    Moved(Refund),
    /// It was not in a state the change leaves from: nothing changed.
    Unchanged(Refund),
}

impl RefundTransition {
    pub fn refund(&self) -> &Refund {
        match self {
            RefundTransition::Moved(r) | RefundTransition::Unchanged(r) => r,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RefundError {
    #[error("refund not found")]
    RefundNotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}
