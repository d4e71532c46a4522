//! What an order's answer says of its monthly-pay plan as of today (SPEC
//! §11, API.md: `repaid_principal`, `outstanding_principal`, and per period
//! `due_date` and `status`). The formulas are in `qrpay_domain::receivables`.

use qrpay_domain::receivables::{order_receivable, GraceDays};
use qrpay_domain::{BusinessDate, Order};
use serde_json::{json, Value};

/// Adds the plan's position as of `as_of` to an order's answer (`body`,
/// from [`crate::order_json`]): the principals are null for an order
/// without a plan or not yet paid, and its periods get no due date (no
/// schedule runs before the payment).
pub fn add_receivable(body: &mut Value, order: &Order, grace: GraceDays, as_of: BusinessDate) {
    body["repaid_principal"] = Value::Null;
    body["outstanding_principal"] = Value::Null;
    let Some(position) = order_receivable(order, grace, as_of) else {
        return;
    };
    body["repaid_principal"] = json!(position.repaid_principal.to_string());
    body["outstanding_principal"] = json!(position.outstanding_principal.to_string());
    let Some(schedule) = body
        .pointer_mut("/instalment_plan/schedule")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for (entry, period) in schedule.iter_mut().zip(&position.periods) {
        entry["due_date"] = json!(period.due_date);
        entry["status"] = json!(period.status.as_str());
        if period.days_past_due > 0 {
            entry["days_past_due"] = json!(period.days_past_due);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use qrpay_domain::instalment::plan;
    use qrpay_domain::{
        Amount, DeductionStatus, InstalmentConfig, OrderId, OrderStatus, PlanPeriods, ShopId,
    };

    fn order(paid: bool) -> Order {
        let amount = Amount::parse("300.00").unwrap();
        let plan = plan(amount, PlanPeriods::THREE, &InstalmentConfig::default()).unwrap();
        let at = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap();
        let mut order = Order::created(
            OrderId::parse("ord_1").unwrap(),
            ShopId::parse("s1").unwrap(),
            amount,
            at,
        )
        .with_plan(Some(plan));
        if paid {
            order.status = OrderStatus::Paid;
            order.paid_at = Some(at);
            order.deductions = vec![
                DeductionStatus::Deducted,
                DeductionStatus::Failed,
                DeductionStatus::Pending,
            ];
        }
        order
    }

    fn body(order: &Order, as_of: &str) -> Value {
        let mut body = crate::order_json(order);
        let as_of = BusinessDate::parse(as_of).unwrap();
        add_receivable(&mut body, order, GraceDays::DEFAULT, as_of);
        body
    }

    #[test]
    fn a_paid_plan_shows_due_dates_statuses_and_principal() {
        // Paid 2026-03-02 (Beijing): due 04-01, 05-01, 05-31; 05-05 is
        // 4 days past period 2's due date, one past its 3 grace days.
        let b = body(&order(true), "2026-05-05");
        assert_eq!(
            b["instalment_plan"]["schedule"],
            json!([
                {"period": 1, "amount": "100.00", "due_date": "2026-04-01", "status": "DEDUCTED"},
                {"period": 2, "amount": "100.00", "due_date": "2026-05-01", "status": "OVERDUE", "days_past_due": 4},
                {"period": 3, "amount": "100.00", "due_date": "2026-05-31", "status": "PENDING"},
            ])
        );
        assert_eq!(
            (&b["repaid_principal"], &b["outstanding_principal"]),
            (&json!("100.00"), &json!("200.00"))
        );
        let within_grace = body(&order(true), "2026-05-04");
        assert_eq!(
            within_grace["instalment_plan"]["schedule"][1]["status"],
            "FAILED"
        );
    }

    #[test]
    fn an_unpaid_plan_has_no_due_dates_yet() {
        let b = body(&order(false), "2026-12-01");
        assert_eq!(
            b["instalment_plan"]["schedule"][0],
            json!({"period": 1, "amount": "100.00"})
        );
        assert_eq!(
            (&b["repaid_principal"], &b["outstanding_principal"]),
            (&Value::Null, &Value::Null)
        );
    }
}
