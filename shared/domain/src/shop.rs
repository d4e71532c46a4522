//! Shops, their operators and devices.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::branding::Branding;
use crate::controls::CollectionControls;
use crate::ids::{DeviceId, OperatorId, ShopId};
use crate::money::{Amount, Money};
use crate::plan_terms::{FeeRate, PlanPeriods};
use crate::processing::ProcessingRates;
use crate::receivables::GraceDays;
pub use crate::secret::Secret;
use crate::text::ShopName;

/// SPEC §4 rule 5: a shop's daily payout cap unless configured (¥15,000.00).
pub const DEFAULT_SHOP_DAILY_CAP_FEN: i64 = 1_500_000;

/// Longest shop name we keep.
pub const MAX_SHOP_NAME_CHARS: usize = ShopName::MAX_CHARS;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shop {
    pub shop_id: ShopId,
    pub name: ShopName,
    /// The main account: it may always pay out (SPEC §4 rule 3).
    pub owner_operator_id: OperatorId,
    pub daily_payout_cap: Amount,
    /// What the shop can still pay out from (the aggregated goods-payment account).
    pub payout_balance: Money,
    /// Reserved by payouts that are not final yet.
    pub payout_held: Money,
    pub instalments: InstalmentConfig,
    /// Days after a period's due date before it is overdue (SPEC §11).
    pub instalment_grace_days: GraceDays,
    /// What buyers see of the shop (display name, receipt link).
    pub branding: Branding,
    /// Daily collection cap and large-payment alert (SPEC §11).
    pub controls: CollectionControls,
    /// The fee each provider keeps from a payment, under the shop's contract.
    pub processing_rates: ProcessingRates,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a platform operator sets with `PUT /admin/shops/{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopSetup {
    pub shop_id: ShopId,
    pub name: ShopName,
    pub owner_operator_id: OperatorId,
    pub daily_payout_cap: Amount,
    /// The balance a new shop starts with (none: 0.00). Taken only when the
    /// shop is created: afterwards the balance moves only by ledger entries,
    /// so a later setup (a rename) can never wipe credits that landed meanwhile.
    pub payout_balance: Option<Money>,
    pub instalments: InstalmentConfig,
    pub instalment_grace_days: GraceDays,
    pub branding: Branding,
    /// Daily collection cap and large-payment alert (SPEC §11).
    pub controls: CollectionControls,
    /// The fee each provider keeps from a payment, under the shop's contract.
    pub processing_rates: ProcessingRates,
}

impl Shop {
    /// The name buyers see: the display name when the shop set one.
    pub fn display_name(&self) -> &str {
        self.branding
            .display_name
            .as_ref()
            .map_or(self.name.as_str(), |n| n.as_str())
    }
}

impl ShopSetup {
    pub fn default_daily_cap() -> Amount {
        Amount::from_fen(DEFAULT_SHOP_DAILY_CAP_FEN).expect("default cap is a valid amount")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeePayer {
    Shop,
    Buyer,
}

/// Monthly-pay settings of a shop (SPEC §3). Periods are 3, 6 or 12.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalmentConfig {
    pub min_amount: Amount,
    pub fee_payer: FeePayer,
    /// Fee rate per plan, keyed by the number of periods.
    pub fee_rates: BTreeMap<PlanPeriods, FeeRate>,
}

impl Default for InstalmentConfig {
    fn default() -> Self {
        InstalmentConfig {
            min_amount: Amount::from_fen(10_000).expect("valid"),
            fee_payer: FeePayer::Shop,
            fee_rates: [
                (PlanPeriods::THREE, 230),
                (PlanPeriods::SIX, 450),
                (PlanPeriods::TWELVE, 750),
            ]
            .into_iter()
            .map(|(periods, basis)| (periods, FeeRate::from_parts(basis, 4).expect("valid")))
            .collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Staff,
    Admin,
}

/// Who is calling, as the JWT authorizer vouches for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub operator_id: OperatorId,
    pub role: Role,
    /// `None` only for platform admins.
    pub shop_id: Option<ShopId>,
}

/// A sub-account's payout permission, set by the main account (SPEC §4).
/// Its per-payout limit (rule 6) is never above its daily limit (rule 7):
/// `new` refuses such a pair, so every quota held is one the rules can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutQuota {
    pub shop_id: ShopId,
    pub operator_id: OperatorId,
    pub enabled: bool,
    /// Whether this sub-account may also refund orders (API.md quota body
    /// `refunds_enabled`, default false). Independent of `enabled`.
    pub refunds_enabled: bool,
    per_payout_limit: Amount,
    daily_limit: Amount,
    pub updated_at: DateTime<Utc>,
}

/// Why a quota was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    #[error("per_payout_limit cannot be above daily_limit")]
    PerPayoutAboveDaily,
}

impl PayoutQuota {
    pub fn new(
        shop_id: ShopId,
        operator_id: OperatorId,
        enabled: bool,
        per_payout_limit: Amount,
        daily_limit: Amount,
        updated_at: DateTime<Utc>,
    ) -> Result<PayoutQuota, QuotaError> {
        if per_payout_limit > daily_limit {
            return Err(QuotaError::PerPayoutAboveDaily);
        }
        Ok(PayoutQuota {
            shop_id,
            operator_id,
            enabled,
            refunds_enabled: false,
            per_payout_limit,
            daily_limit,
            updated_at,
        })
    }

    /// Rule 6: the most one payout may be.
    pub fn per_payout_limit(&self) -> Amount {
        self.per_payout_limit
    }

    /// Rule 7: the most the sub-account's live payouts of a day may add up to.
    pub fn daily_limit(&self) -> Amount {
        self.daily_limit
    }
}

/// Shortest and longest device secret accepted.
pub const DEVICE_SECRET_LEN: std::ops::RangeInclusive<usize> = 16..=128;

/// A POS terminal registered to one shop, with its own signing secret,
/// held only sealed: encrypted under a key that only the functions owning
/// devices may use, bound to this device id (see `qrpay_store::keyring`).
/// The store, its backups and every other function see ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub device_id: DeviceId,
    pub shop_id: ShopId,
    pub secret: SealedSecret,
    pub updated_at: DateTime<Utc>,
}

/// A device secret as stored: ciphertext from a keyring. Empty for a record
/// written before device secrets were sealed (its plain text is never read
/// back): such a device is refused until it is registered again.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SealedSecret(Vec<u8>);

impl SealedSecret {
    pub fn new(ciphertext: Vec<u8>) -> SealedSecret {
        SealedSecret(ciphertext)
    }

    /// A record from before device secrets were sealed.
    pub fn legacy() -> SealedSecret {
        SealedSecret(Vec::new())
    }

    pub fn is_legacy(&self) -> bool {
        self.0.is_empty()
    }

    pub fn ciphertext(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealedSecret({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(per_fen: i64, daily_fen: i64) -> Result<PayoutQuota, QuotaError> {
        PayoutQuota::new(
            ShopId::parse("s1").unwrap(),
            OperatorId::parse("staff").unwrap(),
            true,
            Amount::from_fen(per_fen).unwrap(),
            Amount::from_fen(daily_fen).unwrap(),
            DateTime::from_timestamp(1_780_000_000, 0).unwrap(),
        )
    }

    #[test]
    fn a_per_payout_limit_up_to_the_daily_limit_is_a_quota_and_one_fen_more_is_not() {
        let at_the_limit = quota(10_000, 10_000).unwrap();
        assert_eq!(at_the_limit.per_payout_limit(), at_the_limit.daily_limit());
        assert!(quota(1, 10_000).is_ok());
        assert_eq!(quota(10_001, 10_000), Err(QuotaError::PerPayoutAboveDaily));
        assert_eq!(
            QuotaError::PerPayoutAboveDaily.to_string(),
            "per_payout_limit cannot be above daily_limit"
        );
    }

    #[test]
    fn the_default_monthly_pay_terms_offer_every_plan() {
        let config = InstalmentConfig::default();
        assert_eq!(
            config.fee_rates.keys().copied().collect::<Vec<_>>(),
            PlanPeriods::ALL.to_vec()
        );
        let rates: Vec<String> = config.fee_rates.values().map(|r| r.to_string()).collect();
        assert_eq!(rates, ["0.0230", "0.0450", "0.0750"]);
    }

    #[test]
    fn monthly_pay_terms_are_stored_in_the_same_json_as_before() {
        let config = InstalmentConfig::default();
        let text = serde_json::to_string(&config).unwrap();
        assert!(
            text.ends_with(r#""fee_rates":{"3":"0.0230","6":"0.0450","12":"0.0750"}}"#),
            "{text}"
        );
        assert_eq!(
            serde_json::from_str::<InstalmentConfig>(&text).unwrap(),
            config
        );
        let bad_plan = text.replace(r#""6":"#, r#""4":"#);
        assert!(serde_json::from_str::<InstalmentConfig>(&bad_plan).is_err());
        let bad_rate = text.replace("0.0450", "1.0450");
        assert!(serde_json::from_str::<InstalmentConfig>(&bad_rate).is_err());
    }
}
