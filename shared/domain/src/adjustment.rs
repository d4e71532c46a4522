//! Balance adjustments (API.md "Admin"): once a shop exists, its payout
//! balance moves only by ledger entries, and an adjustment is the platform
//! operator's entry — a correction, a goodwill credit, a debt written back.
//! Each one is decided here once: the balance after it, its ledger entry and
//! the bound the store must still find when it writes (so a debit can never
//! take the balance below zero, whatever landed in between).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::execution::{LedgerEntry, LedgerKind};
use crate::ids::{AdjustmentId, IdempotencyKey, OperatorId, ShopId};
use crate::money::{Amount, AmountError, Money};
use crate::shop::Shop;
use crate::text::BoundedText;
use crate::time::BusinessDate;

/// Why the operator moved the balance (required, ≤ 200 characters, no
/// control characters): finance staff read it in the ledger.
pub type AdjustmentReason = BoundedText<200>;

/// A signed, non-zero amount: `"12.30"` credits the shop, `"-12.30"` debits it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SignedAmount {
    pub debit: bool,
    pub amount: Amount,
}

impl SignedAmount {
    /// `"-12.30"` or `"12.30"`: an optional leading minus, then an amount
    /// in the grammar of [`Amount`] (no `+`, no zero).
    pub fn parse(text: &str) -> Result<SignedAmount, AmountError> {
        let (debit, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        Ok(SignedAmount {
            debit,
            amount: Amount::parse(digits)?,
        })
    }

    /// The change of the balance in fen: negative for a debit.
    pub fn fen(self) -> i64 {
        if self.debit {
            -self.amount.fen()
        } else {
            self.amount.fen()
        }
    }

    pub fn ledger_kind(self) -> LedgerKind {
        if self.debit {
            LedgerKind::AdjustmentDebit
        } else {
            LedgerKind::AdjustmentCredit
        }
    }
}

impl fmt::Display for SignedAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.debit { "-" } else { "" };
        write!(f, "{sign}{}", self.amount)
    }
}

impl fmt::Debug for SignedAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for SignedAmount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `POST /admin/shops/{shop_id}/balance-adjustments`, as the handler read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdjustmentRequest {
    /// The id the adjustment gets if it is new.
    pub adjustment_id: AdjustmentId,
    pub shop_id: ShopId,
    pub idempotency_key: IdempotencyKey,
    /// The platform operator (the admin token's `sub`).
    pub operator_id: OperatorId,
    pub amount: SignedAmount,
    pub reason: AdjustmentReason,
    pub now: DateTime<Utc>,
}

impl AdjustmentRequest {
    /// What makes two requests under one `Idempotency-Key` the same (SHA-256
    /// of shop, operator, signed amount and reason, each length-prefixed).
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        for part in [
            "adjustment",
            self.shop_id.as_str(),
            self.operator_id.as_str(),
            &self.amount.to_string(),
            self.reason.as_str(),
        ] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        hex::encode(h.finalize())
    }
}

/// A balance adjustment as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceAdjustment {
    pub adjustment_id: AdjustmentId,
    pub shop_id: ShopId,
    pub operator_id: OperatorId,
    pub amount: SignedAmount,
    pub reason: AdjustmentReason,
    /// The shop's available balance right before and right after it.
    pub balance_before: Money,
    pub balance_after: Money,
    pub business_date: BusinessDate,
    pub idempotency_key: IdempotencyKey,
    /// Identifies the request ([`AdjustmentRequest::fingerprint`]).
    pub fingerprint: String,
    pub created_at: DateTime<Utc>,
}

/// Why an adjustment was refused (422).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdjustmentRefusal {
    /// A debit larger than what the shop has available (held money is not
    /// available: payouts in flight own it).
    #[error("the debit is larger than the shop's available balance {available}")]
    InsufficientBalance { available: Money },
    #[error("the balance would exceed what a balance can hold")]
    BalanceTooLarge,
}

/// What one adjustment writes, all in one atomic step: the record, its
/// ledger entry, and the balance move from exactly `balance_before`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdjustmentEffect {
    pub adjustment: BalanceAdjustment,
    pub ledger: LedgerEntry,
}

impl AdjustmentEffect {
    /// The shop as it is after the adjustment, if it is as it was read.
    pub fn apply(&self, shop: &Shop) -> Option<Shop> {
        (shop.payout_balance == self.adjustment.balance_before).then(|| Shop {
            payout_balance: self.adjustment.balance_after,
            updated_at: self.adjustment.created_at,
            ..shop.clone()
        })
    }
}

/// Decides an adjustment of `shop` as read. The store writes it only while
/// the shop's balance is still `balance_before` (and decides again on a
/// fresh read otherwise), so the recorded balances are exact.
pub fn decide_adjustment(
    shop: &Shop,
    request: &AdjustmentRequest,
) -> Result<AdjustmentEffect, AdjustmentRefusal> {
    let before = shop.payout_balance;
    let after = before
        .fen()
        .checked_add(request.amount.fen())
        .ok_or(AdjustmentRefusal::BalanceTooLarge)?;
    let after = Money::from_fen(after)
        .ok_or(AdjustmentRefusal::InsufficientBalance { available: before })?;
    let adjustment = BalanceAdjustment {
        adjustment_id: request.adjustment_id.clone(),
        shop_id: shop.shop_id.clone(),
        operator_id: request.operator_id.clone(),
        amount: request.amount,
        reason: request.reason.clone(),
        balance_before: before,
        balance_after: after,
        business_date: BusinessDate::of(request.now),
        idempotency_key: request.idempotency_key.clone(),
        fingerprint: request.fingerprint(),
        created_at: request.now,
    };
    let ledger = adjustment_ledger_entry(&adjustment);
    Ok(AdjustmentEffect { adjustment, ledger })
}

/// The ledger entry of an adjustment: the day it was made, our own
/// movement (no provider, no order), the amount unsigned with the direction
/// in its kind.
pub fn adjustment_ledger_entry(adjustment: &BalanceAdjustment) -> LedgerEntry {
    LedgerEntry {
        entry_id: format!("adjustment-{}", adjustment.adjustment_id),
        shop_id: adjustment.shop_id.clone(),
        kind: adjustment.amount.ledger_kind(),
        amount: adjustment.amount.amount,
        business_date: adjustment.business_date,
        reference: adjustment.adjustment_id.to_string(),
        provider_ref: None,
        order_id: None,
        provider: None,
        period: None,
        plan_periods: None,
        customer: None,
        created_at: adjustment.created_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shop::ShopSetup;
    use chrono::TimeZone;

    fn shop(balance: &str) -> Shop {
        let now = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap();
        Shop {
            shop_id: ShopId::parse("shop-1").unwrap(),
            name: crate::ShopName::parse("Tea").unwrap(),
            owner_operator_id: OperatorId::parse("owner").unwrap(),
            daily_payout_cap: ShopSetup::default_daily_cap(),
            payout_balance: Money::parse(balance).unwrap(),
            payout_held: Money::parse("7.00").unwrap(),
            instalments: Default::default(),
            instalment_grace_days: Default::default(),
            branding: Default::default(),
            controls: Default::default(),
            processing_rates: Default::default(),
            created_at: now,
            updated_at: now,
        }
    }

    fn request(amount: &str) -> AdjustmentRequest {
        AdjustmentRequest {
            adjustment_id: AdjustmentId::parse("adj_1").unwrap(),
            shop_id: ShopId::parse("shop-1").unwrap(),
            idempotency_key: IdempotencyKey::parse("k1").unwrap(),
            operator_id: OperatorId::parse("ops-1").unwrap(),
            amount: SignedAmount::parse(amount).unwrap(),
            reason: AdjustmentReason::parse("bank fee returned").unwrap(),
            // 2026-03-02 23:30 in Beijing: the business day is the 2nd.
            now: Utc.with_ymd_and_hms(2026, 3, 2, 15, 30, 0).unwrap(),
        }
    }

    #[test]
    fn signed_amounts_read_a_leading_minus_only() {
        assert_eq!(SignedAmount::parse("-12.30").unwrap().fen(), -1230);
        assert_eq!(SignedAmount::parse("12.30").unwrap().fen(), 1230);
        assert_eq!(SignedAmount::parse("-0.01").unwrap().to_string(), "-0.01");
        for bad in [
            "+1.00", "0.00", "-0.00", "--1.00", "- 1.00", "1.001", "", "-",
        ] {
            assert!(SignedAmount::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_credit_raises_the_balance_and_books_a_credit_entry() {
        let effect = decide_adjustment(&shop("100.00"), &request("12.30")).unwrap();
        let a = &effect.adjustment;
        assert_eq!(
            (a.balance_before.to_string(), a.balance_after.to_string()),
            ("100.00".into(), "112.30".into())
        );
        assert_eq!(a.business_date.to_string(), "2026-03-02");
        assert_eq!(effect.ledger.kind, LedgerKind::AdjustmentCredit);
        assert_eq!(effect.ledger.amount.to_string(), "12.30");
        assert_eq!(effect.ledger.reference, "adj_1");
        assert_eq!(effect.ledger.provider, None);
        let after = effect.apply(&shop("100.00")).unwrap();
        assert_eq!(after.payout_balance.to_string(), "112.30");
        assert_eq!(after.payout_held.to_string(), "7.00");
        assert!(effect.apply(&shop("100.01")).is_none());
    }

    #[test]
    fn a_debit_may_empty_the_balance_but_never_go_below() {
        let effect = decide_adjustment(&shop("12.30"), &request("-12.30")).unwrap();
        assert_eq!(effect.adjustment.balance_after, Money::ZERO);
        assert_eq!(effect.ledger.kind, LedgerKind::AdjustmentDebit);
        assert_eq!(
            decide_adjustment(&shop("12.29"), &request("-12.30")),
            Err(AdjustmentRefusal::InsufficientBalance {
                available: Money::parse("12.29").unwrap()
            })
        );
    }

    #[test]
    fn the_fingerprint_tells_amount_sign_and_reason_apart() {
        let base = request("12.30");
        let debit = request("-12.30");
        let mut other_reason = request("12.30");
        other_reason.reason = AdjustmentReason::parse("bank fee returned.").unwrap();
        assert_eq!(base.fingerprint(), request("12.30").fingerprint());
        assert_ne!(base.fingerprint(), debit.fingerprint());
        assert_ne!(base.fingerprint(), other_reason.fingerprint());
    }
}
