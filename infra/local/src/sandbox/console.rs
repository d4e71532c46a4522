//! `POST /sandbox/console-refunds`: a refund made in the provider's own
//! merchant console, outside qrpay, as shop staff sometimes do at the
//! counter. The provider moves the money and lists it in its bill; nobody
//! tells qrpay (console refunds send no notice). The nightly reconciliation
//! is how the shop finds out: the refund is `MISSING_IN_LEDGER`, and the
//! bank pays less than the ledger expects.

use lambda_http::http::StatusCode;
use qrpay_domain::{Clock, Money};
use qrpay_http::{ApiError, ErrorCode};
use qrpay_provider::{SandboxCharge, SandboxChargeKind};
use serde_json::json;

use super::{fields, Sandbox};
use crate::local_http::LocalResponse;

impl Sandbox {
    /// Body `{"provider_txn_id", "amount"}`: refunds `amount` of the
    /// sandbox payment `provider_txn_id`, at most what is left of it.
    pub(super) fn console_refund(&self, body: &[u8]) -> Result<LocalResponse, ApiError> {
        let fields = fields(body, &["provider_txn_id", "amount"])?;
        let txn = fields.required_str("provider_txn_id", 64)?;
        let amount = fields.amount("amount")?;
        let charges = self.provider.charges();
        let payment = charges
            .iter()
            .find(|c| c.kind == SandboxChargeKind::Payment && c.succeeded && c.provider_ref == txn)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::OrderNotFound,
                    format!("the sandbox has no payment {txn}"),
                )
            })?;
        let refunded: i64 = charges
            .iter()
            .filter(|c| {
                c.kind == SandboxChargeKind::Refund && c.succeeded && c.order_id == payment.order_id
            })
            .map(|c| c.amount.fen())
            .sum();
        let left = payment.amount.fen().saturating_sub(refunded);
        if amount.fen() > left {
            return Err(ApiError::new(
                ErrorCode::InvalidState,
                format!(
                    "only {} of payment {txn} is left to refund",
                    Money::from_fen(left).unwrap_or(Money::ZERO)
                ),
            ));
        }
        let now = self.clock.now();
        let refund_id = self.next_ref("sbx_console_rf", now);
        self.provider.record_charge(SandboxCharge {
            shop_id: payment.shop_id.clone(),
            kind: SandboxChargeKind::Refund,
            order_id: payment.order_id.clone(),
            provider_ref: refund_id.clone(),
            period: None,
            amount,
            fee: Money::ZERO,
            succeeded: true,
            payer_masked: payment.payer_masked.clone(),
            at: now,
        });
        Ok(LocalResponse::json(
            StatusCode::CREATED,
            &json!({
                "refund_id": refund_id,
                "order_id": payment.order_id,
                "amount": amount.to_string(),
            }),
        ))
    }
}
