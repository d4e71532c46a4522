//! Monthly pay as the sandbox collects it: period k of a plan is charged to
//! the buyer k × [`INSTALMENT_EVERY_DAYS`] days after the payment, once the
//! test clock passes that day, and qrpay is told each result.

use chrono::{DateTime, Duration, Utc};
use qrpay_domain::{
    Amount, Clock, CollectionEvent, CollectionEventKind, Money, OrderId, Provider, ShopId,
};
use qrpay_http::ApiError;
use qrpay_provider::{NoticeSigner, SandboxCharge, SandboxChargeKind};

use super::{provider_ref, Qrpay, Sandbox, DEDUCTION_FAILED_REASON, INSTALMENT_EVERY_DAYS};

/// A monthly-pay order whose instalments the sandbox collects.
pub(super) struct Plan {
    shop: ShopId,
    order: OrderId,
    schedule: Vec<Amount>,
    paid_at: DateTime<Utc>,
    /// The next period to charge, 1-based.
    next: usize,
}

impl Sandbox {
    /// Starts collecting the instalments of an order paid at `paid_at`.
    pub(super) fn collect_plan(
        &self,
        shop: ShopId,
        order: OrderId,
        schedule: Vec<Amount>,
        paid_at: DateTime<Utc>,
    ) {
        self.plans().push(Plan {
            shop,
            order,
            schedule,
            paid_at,
            next: 1,
        });
    }

    fn plans(&self) -> std::sync::MutexGuard<'_, Vec<Plan>> {
        self.plans.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Charges every instalment that has come due by now (period k is due
    /// k × [`INSTALMENT_EVERY_DAYS`] after the payment), at the deduction
    /// failure rate, and tells qrpay each result with a signed callback. How
    /// many were charged or tried.
    pub async fn deduct_due(&self, qrpay: &dyn Qrpay) -> Result<usize, ApiError> {
        let now = self.clock.now();
        let due = self.due_instalments(now);
        for instalment in &due {
            let event = self.deduct(instalment, now)?;
            self.deliver(qrpay, &self.signer.sign(&event, now)).await;
        }
        Ok(due.len())
    }

    /// The instalments due by `now`, each taken off its plan; finished
    /// plans are dropped.
    fn due_instalments(&self, now: DateTime<Utc>) -> Vec<DueInstalment> {
        let mut plans = self.plans();
        let mut due = Vec::new();
        for plan in plans.iter_mut() {
            while plan.next <= plan.schedule.len()
                && plan.paid_at + Duration::days(INSTALMENT_EVERY_DAYS * plan.next as i64) <= now
            {
                due.push(DueInstalment {
                    shop: plan.shop.clone(),
                    order: plan.order.clone(),
                    period: u8::try_from(plan.next).unwrap_or(u8::MAX),
                    amount: plan.schedule[plan.next - 1],
                });
                plan.next += 1;
            }
        }
        plans.retain(|p| p.next <= p.schedule.len());
        due
    }

    /// Charges one instalment (or fails to, at the deduction failure rate);
    /// the event qrpay is told of.
    fn deduct(&self, due: &DueInstalment, now: DateTime<Utc>) -> Result<CollectionEvent, ApiError> {
        let fails = self.deduction_fails();
        let reference = self.next_ref("sbx_dd", now);
        self.provider.record_charge(SandboxCharge {
            shop_id: due.shop.clone(),
            kind: SandboxChargeKind::Deduction,
            order_id: due.order.clone(),
            provider_ref: reference.clone(),
            period: Some(due.period),
            amount: due.amount,
            fee: Money::ZERO,
            succeeded: !fails,
            payer_masked: None,
            at: now,
        });
        let kind = if fails {
            CollectionEventKind::InstalmentDeductionFailed {
                period: due.period,
                amount: due.amount,
                reason: DEDUCTION_FAILED_REASON.into(),
            }
        } else {
            CollectionEventKind::InstalmentDeducted {
                provider_txn_id: provider_ref(&reference)?,
                period: due.period,
                amount: due.amount,
            }
        };
        Ok(CollectionEvent {
            provider: Provider::Sandbox,
            notification_id: provider_ref(&self.next_ref("sbx_n", now))?,
            order_id: due.order.clone(),
            kind,
            occurred_at: now,
        })
    }
}

/// An instalment the sandbox is about to charge.
struct DueInstalment {
    shop: ShopId,
    order: OrderId,
    period: u8,
    amount: Amount,
}
