//! Payout claim links (SPEC §10): while a WeChat transfer waits for the
//! buyer's confirmation, the payout carries `claim_url`, a signed
//! `{PayBaseUrl}/claim/{token}` the merchant sends the buyer. The token is
//! good until two hours past WeChat's own deadline for the confirmation.

use chrono::Duration;
use qrpay_domain::{Payout, PayoutStatus, Secret};
use qrpay_qr::link;

/// How long after the provider's deadline a claim link still opens (to say
/// what happened rather than "unknown link").
pub const CLAIM_MARGIN_S: i64 = 2 * 3600;

/// What signs claim links: the payment-token secret (each purpose derives
/// its own key from it) and the buyer pages' base URL.
#[derive(Clone)]
pub struct ClaimLinks {
    pub secret: Secret,
    pub pay_base_url: String,
}

impl std::fmt::Debug for ClaimLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimLinks")
            .field("pay_base_url", &self.pay_base_url)
            .finish_non_exhaustive()
    }
}

impl ClaimLinks {
    /// The payout's claim link while it waits for the buyer.
    pub fn url(&self, payout: &Payout) -> Option<String> {
        let action = payout.payee_action.as_ref()?;
        if payout.status != PayoutStatus::Processing {
            return None;
        }
        let expires = action.waits_until() + Duration::seconds(CLAIM_MARGIN_S);
        let token = link::sign_claim(
            self.secret.expose().as_bytes(),
            payout.payout_id.as_str(),
            payout.shop_id.as_str(),
            expires.timestamp(),
        )
        .ok()?;
        Some(format!(
            "{}/claim/{token}",
            self.pay_base_url.trim_end_matches('/')
        ))
    }
}
