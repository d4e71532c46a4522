//! The demo's discrepancy: at closing time the manager gives a buyer 8.00
//! back at the counter through the provider's own console, outside qrpay
//! (`POST /sandbox/console-refunds`). The provider's bill lists the refund,
//! qrpay's ledger does not, and the bank pays 8.00 less: the night's report
//! shows both, and the owner records what was done about each
//! (`PUT …/rows/{row_id}/resolution`, SPEC §11), which the report's 处理结果
//! column then shows in the file the owner downloads.

use calamine::Data;
use serde_json::{json, Value};

use crate::demo::{s, Story};
use crate::demo_export::{column, first_sheet};
use crate::seed::{expect, SHOP};

/// The payment refunded at the counter, and by how much.
const COUNTER_PAYMENT: &str = "88.00";
const COUNTER_REFUND: &str = "8.00";

impl Story<'_> {
    /// Refunds part of the day's 88.00 payment through the provider's
    /// console: no notice reaches qrpay.
    pub(crate) async fn a_refund_at_the_counter(&mut self, date: &str) -> Result<(), String> {
        let owner = self.demo.owner.clone();
        let listed = expect(
            "list the day's orders",
            self.call(
                "GET",
                &format!("/shops/{SHOP}/orders?from={date}&to={date}&status=PAID"),
                Some(&owner),
                None,
            )
            .await?,
            200,
        )?;
        let order = listed["orders"]
            .as_array()
            .and_then(|orders| {
                orders
                    .iter()
                    .find(|o| o["paid_amount"] == json!(COUNTER_PAYMENT))
            })
            .cloned()
            .ok_or(format!("no paid order of {COUNTER_PAYMENT} on {date}"))?;
        let refund = expect(
            "refund at the provider's console",
            self.call(
                "POST",
                "/sandbox/console-refunds",
                None,
                Some(
                    json!({"provider_txn_id": order["provider_txn_id"], "amount": COUNTER_REFUND}),
                ),
            )
            .await?,
            201,
        )?;
        self.say(
            "At closing time the manager gives a buyer 8.00 back at the counter, in the provider's own console",
            &[format!(
                "refund {} of {} on order {}: the provider moved the money; qrpay was not told",
                s(&refund["refund_id"]),
                s(&refund["amount"]),
                s(&order["order_id"])
            )],
        );
        Ok(())
    }

    /// The owner resolves every discrepancy of the day's report, then
    /// downloads the report and reads the 处理结果 column back.
    pub(crate) async fn the_owner_resolves_the_discrepancies(
        &mut self,
        date: &str,
    ) -> Result<(), String> {
        let owner = self.demo.owner.clone();
        let path = format!("/shops/{SHOP}/reconciliations/{date}");
        let report = expect(
            "read the report",
            self.call("GET", &path, Some(&owner), None).await?,
            200,
        )?;
        let open: Vec<Value> = report["rows"]
            .as_array()
            .map(|rows| {
                rows.iter()
                    .filter(|r| r["resolution_status"] == json!("OPEN"))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let mut lines = Vec::new();
        for row in &open {
            let note = match s(&row["kind"]).as_str() {
                "REFUND" => "8.00 given back at the counter in the provider's console (chipped cup); booked by hand",
                "SETTLEMENT" => "the bank paid 8.00 less: the counter refund",
                _ => "checked with the provider",
            };
            let body = json!({"status": "RESOLVED", "note": note, "assignee": "owner-1"});
            let resolved = expect(
                "record a resolution",
                self.call(
                    "PUT",
                    &format!("{path}/rows/{}/resolution", s(&row["row_id"])),
                    Some(&owner),
                    Some(body),
                )
                .await?,
                200,
            )?;
            let amount = [&row["provider_amount"], &row["ledger_amount"]]
                .into_iter()
                .find(|a| a.is_string())
                .map(s)
                .unwrap_or_default();
            lines.push(format!(
                "{} {} of {amount} ({}): {} by {}",
                s(&row["kind"]),
                s(&row["outcome"]),
                s(&row["provider_ref"]),
                s(&resolved["status"]),
                s(&resolved["updated_by"])
            ));
        }
        let after = expect(
            "read the report again",
            self.call("GET", &path, Some(&owner), None).await?,
            200,
        )?;
        let counts = &after["resolutions"];
        lines.push(format!(
            "the report's resolutions: {} open, {} resolved, {} waived",
            s(&counts["open"]),
            s(&counts["resolved"]),
            s(&counts["waived"])
        ));
        lines.push(self.resolutions_in_the_sheet(&path).await?);
        self.say(
            "The owner records what was done about each discrepancy",
            &lines,
        );
        Ok(())
    }

    /// The report as XLSX, read back: how many 处理结果 cells say RESOLVED.
    async fn resolutions_in_the_sheet(&self, path: &str) -> Result<String, String> {
        let answer = self
            .client
            .send(
                "GET",
                &format!("{path}?format=xlsx"),
                Some(&self.demo.owner),
                &[],
                None,
            )
            .await?;
        if answer.status != 200 {
            return Err(format!("the report as XLSX: {}", answer.status));
        }
        let sheet = first_sheet(answer.body, "the report's XLSX")?;
        let mut rows = sheet.rows();
        let header = rows.next().ok_or("the report's XLSX is empty")?;
        let at = column(header, "处理结果", "the report's XLSX")?;
        let resolved = rows
            .filter(|row| matches!(row.get(at), Some(Data::String(t)) if t.starts_with("RESOLVED")))
            .count();
        Ok(format!(
            "the report downloaded as XLSX shows {resolved} rows RESOLVED in 处理结果"
        ))
    }
}
