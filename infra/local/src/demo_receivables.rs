//! The demo's epilogue: the months pass, the buyer's card declines the
//! first instalment of the monthly-pay order, and once the shop's grace days
//! are over the period is `OVERDUE` — on the order and in the shop's
//! receivables (SPEC §11).

use serde_json::{json, Value};

use crate::demo::{s, Story};
use crate::seed::{expect, SHOP};

/// Days the clock moves on from the second reconciliation morning, itself
/// two days after the payment: period 1 falls due 30 days after the payment
/// and the default grace is 3, so 34 days after the payment it is one day
/// past grace (4 days past due).
const DAYS_LATER: i64 = 32;

impl Story<'_> {
    pub(crate) async fn an_instalment_goes_overdue(
        &mut self,
        order_id: &str,
    ) -> Result<(), String> {
        let faults = json!({"transfer_fail_rate": 0, "transfer_timeout_rate": 0,
            "callback_duplicate_rate": 0, "deduction_fail_rate": 1, "seed": 15});
        expect(
            "make the buyer's card decline instalments",
            self.call("PUT", "/sandbox/faults", None, Some(faults))
                .await?,
            200,
        )?;
        let moved = expect(
            "move the clock on",
            self.call(
                "POST",
                "/sandbox/clock",
                None,
                Some(json!({ "advance_s": DAYS_LATER * 86_400 })),
            )
            .await?,
            200,
        )?;
        let owner = self.demo.owner.clone();
        let order = expect(
            "read the monthly-pay order",
            self.call(
                "GET",
                &format!("/shops/{SHOP}/orders/{order_id}"),
                Some(&owner),
                None,
            )
            .await?,
            200,
        )?;
        let first = &order["instalment_plan"]["schedule"][0];
        if first["status"] != json!("OVERDUE") {
            return Err(format!(
                "the declined first instalment should be OVERDUE {DAYS_LATER} days on: {order}"
            ));
        }
        let today = s(&moved["now"]).chars().take(10).collect::<String>();
        let receivables = expect(
            "read the shop's receivables",
            self.call(
                "GET",
                &format!("/shops/{SHOP}/receivables?as_of={today}"),
                Some(&owner),
                None,
            )
            .await?,
            200,
        )?;
        self.say_overdue(order_id, &order, first, &receivables, &today)
    }

    fn say_overdue(
        &mut self,
        order_id: &str,
        order: &Value,
        first: &Value,
        receivables: &Value,
        today: &str,
    ) -> Result<(), String> {
        let listed = receivables["orders"]
            .as_array()
            .is_some_and(|orders| orders.iter().any(|o| o["order_id"] == json!(order_id)));
        if !listed {
            return Err(format!(
                "the order with an overdue period is not in the receivables: {receivables}"
            ));
        }
        let totals = &receivables["totals"];
        let ages: Vec<String> = totals["by_age"]
            .as_array()
            .map(|buckets| {
                buckets
                    .iter()
                    .map(|b| {
                        format!(
                            "{} days: {} ({})",
                            s(&b["bucket"]),
                            s(&b["amount"]),
                            s(&b["count"])
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.say(
            &format!("{DAYS_LATER} days later ({today}), the buyer's card declined the first instalment"),
            &[
                format!(
                    "order {order_id}: period 1 of {} was due {}, now OVERDUE ({} days past due, grace {} days)",
                    s(&first["amount"]),
                    s(&first["due_date"]),
                    s(&first["days_past_due"]),
                    s(&receivables["grace_days"])
                ),
                format!(
                    "repaid principal {}, outstanding {}",
                    s(&order["repaid_principal"]),
                    s(&order["outstanding_principal"])
                ),
                format!(
                    "the shop's receivables: outstanding {} over {} orders; overdue {} in {} periods of {} orders",
                    s(&totals["outstanding"]),
                    s(&totals["orders"]),
                    s(&totals["overdue_amount"]),
                    s(&totals["overdue_count"]),
                    s(&totals["overdue_orders"])
                ),
                format!("by age: {}", ages.join("; ")),
            ],
        );
        Ok(())
    }
}
