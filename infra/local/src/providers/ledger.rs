//! Each simulator's record of money it actually moved: one line per
//! movement, appended when the money moves and never changed, so a test can
//! prove that an `out_bill_no` or an `out_refund_no` moved money at most
//! once (`GET /sandbox/{provider}/transfers`, `…/refunds`).

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use qrpay_domain::time::rfc3339_beijing;
use qrpay_domain::{Amount, Money};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Money from the merchant to a payee.
    Transfer,
    /// Money back to a buyer.
    Refund,
}

#[derive(Debug, Clone)]
struct Movement {
    kind: Kind,
    /// Our id: `out_bill_no` / `out_biz_no`, or `out_refund_no` / `out_request_no`.
    our_id: String,
    /// The order a refund belongs to.
    order: Option<String>,
    amount: Amount,
    /// The provider's own id for it.
    provider_ref: String,
    at: DateTime<Utc>,
}

#[derive(Default)]
pub struct Ledger {
    movements: Mutex<Vec<Movement>>,
}

impl Ledger {
    pub fn moved(
        &self,
        kind: Kind,
        our_id: &str,
        order: Option<&str>,
        amount: Amount,
        provider_ref: &str,
        at: DateTime<Utc>,
    ) {
        tracing::info!(?kind, our_id, %amount, "simulated provider moved money");
        self.lock().push(Movement {
            kind,
            our_id: our_id.to_owned(),
            order: order.map(str::to_owned),
            amount,
            provider_ref: provider_ref.to_owned(),
            at,
        });
    }

    /// `{"count", "moved_total", "<transfers|refunds>": [...]}`, oldest first.
    pub fn view(&self, kind: Kind) -> Value {
        let movements: Vec<Movement> = self
            .lock()
            .iter()
            .filter(|m| m.kind == kind)
            .cloned()
            .collect();
        let total = movements
            .iter()
            .try_fold(Money::ZERO, |sum, m| sum.checked_add(m.amount.money()));
        let (list, id) = match kind {
            Kind::Transfer => ("transfers", "out_bill_no"),
            Kind::Refund => ("refunds", "out_refund_no"),
        };
        let lines: Vec<Value> = movements
            .iter()
            .map(|m| {
                let mut line = json!({
                    "amount": m.amount.to_string(),
                    "provider_ref": m.provider_ref,
                    "moved_at": rfc3339_beijing(m.at),
                });
                line[id] = json!(m.our_id);
                if let Some(order) = &m.order {
                    line["out_trade_no"] = json!(order);
                }
                line
            })
            .collect();
        let mut view = json!({
            "count": lines.len(),
            "moved_total": total.map(|t| t.to_string()),
        });
        view[list] = Value::Array(lines);
        view
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Movement>> {
        self.movements.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_lists_every_movement_of_its_kind_with_the_total() {
        let ledger = Ledger::default();
        let at = DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        let amount = |t| Amount::parse(t).unwrap();
        ledger.moved(Kind::Transfer, "PO1", None, amount("5.00"), "t1", at);
        ledger.moved(Kind::Refund, "r1", Some("ord_1"), amount("1.50"), "rf1", at);
        ledger.moved(Kind::Transfer, "PO2", None, amount("0.25"), "t2", at);
        let view = ledger.view(Kind::Transfer);
        assert_eq!(view["count"], 2);
        assert_eq!(view["moved_total"], "5.25");
        assert_eq!(view["transfers"][1]["out_bill_no"], "PO2");
        let refunds = ledger.view(Kind::Refund);
        assert_eq!(refunds["refunds"][0]["out_trade_no"], "ord_1");
        assert_eq!(refunds["moved_total"], "1.50");
    }
}
