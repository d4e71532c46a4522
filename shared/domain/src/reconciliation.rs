//! What one night's reconciliation leaves for a shop and a business day
//! (SPEC §6): the summary record, read at `GET /shops/{id}/reconciliations/{date}`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::ids::ShopId;
use crate::money::Money;
use crate::time::BusinessDate;

/// How many movements of one kind, and how much money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Tally {
    pub count: u64,
    pub total: Money,
}

impl Tally {
    /// Adds one movement of `fen`; totals saturate rather than wrap (a day
    /// never comes near 10^17 fen).
    pub fn add(&mut self, fen: i64) {
        self.count += 1;
        self.total =
            Money::from_fen(self.total.fen().saturating_add(fen.max(0))).unwrap_or(self.total);
    }
}

/// One shop's reconciliation of one business day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconciliationSummary {
    pub shop_id: ShopId,
    pub date: BusinessDate,
    /// Identifies the run that wrote it; a re-run replaces it.
    pub run_id: String,
    pub generated_at: DateTime<Utc>,
    /// Report rows, all outcomes.
    pub rows: u64,
    /// Report rows by outcome (`MATCHED`, `AMOUNT_MISMATCH`, …), every
    /// outcome present, zeros included.
    pub outcomes: BTreeMap<String, u64>,
    /// Rows whose outcome is not `MATCHED`.
    pub discrepancies: u64,
    /// Our ledger's movements of the day, by kind.
    pub payments: Tally,
    pub refunds: Tally,
    pub fees: Tally,
    /// The processing fees providers handed back with the day's refunds
    /// (`FEE_RETURNED`). Absent in summaries written before they were booked.
    #[serde(default)]
    pub fees_returned: Tally,
    pub deductions: Tally,
    pub payouts: Tally,
    /// The platform operator's balance adjustments of the day, credits and
    /// debits apart (each total unsigned). Absent in summaries written
    /// before adjustments existed.
    #[serde(default)]
    pub adjustment_credits: Tally,
    #[serde(default)]
    pub adjustment_debits: Tally,
    /// The day's ledger payments by the Beijing hour they were paid in
    /// (index 0 is 00:00–00:59) and by provider (`wechatpay`, …), for the
    /// report's charts (SPEC §11). All zero and empty in summaries written
    /// before they were counted.
    #[serde(default)]
    pub payments_by_hour: [Tally; 24],
    #[serde(default)]
    pub payments_by_provider: BTreeMap<String, Tally>,
    /// Instalment deductions the provider reports as failed.
    pub deductions_failed: u64,
    /// Paid orders with a monthly-pay plan.
    pub monthly_pay_orders: u64,
    /// Payments total ÷ payments count, half up to the fen (0.00 if none).
    pub average_order_value: Money,
    /// Refunds total ÷ payments total, 4 decimals (0 if nothing was paid).
    pub refund_ratio: Decimal,
    /// Failed ÷ attempted deductions, 4 decimals (0 if none attempted).
    pub deduction_failure_rate: Decimal,
    /// What the bank credited for the shop's settlement batches, and what
    /// the providers' statements say it should have been.
    pub settlement_expected: Decimal,
    pub settlement_received: Decimal,
    /// Inputs that were missing or unreadable (a statement not published, a
    /// malformed line): the report is incomplete by exactly these.
    pub gaps: Vec<String>,
    /// Object keys of the report.
    pub report_csv: String,
    pub report_json: String,
    /// The day's KPI inputs and the KPIs computed from them (SPEC §11,
    /// [`crate::kpis`]). Absent in summaries written before KPIs existed.
    #[serde(default)]
    pub kpi_inputs: Option<crate::kpis::KpiInputs>,
    #[serde(default)]
    pub kpis: Option<crate::kpis::Kpis>,
}

/// `numerator ÷ denominator` to 4 decimals, half up; 0 when nothing to divide by.
pub fn ratio(numerator: i64, denominator: i64) -> Decimal {
    if denominator == 0 {
        return Decimal::new(0, 4);
    }
    let mut r = (Decimal::from(numerator) / Decimal::from(denominator))
        .round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero);
    r.rescale(4);
    r
}

/// The mean of `total` over `count`, half up to the fen.
pub fn average(total: Money, count: u64) -> Money {
    if count == 0 {
        return Money::ZERO;
    }
    let fen = (Decimal::from(total.fen()) / Decimal::from(count))
        .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
    i64::try_from(fen)
        .ok()
        .and_then(Money::from_fen)
        .unwrap_or(Money::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_round_half_up_to_four_decimals() {
        assert_eq!(ratio(1, 3).to_string(), "0.3333");
        assert_eq!(ratio(2, 3).to_string(), "0.6667");
        assert_eq!(ratio(5, 0), Decimal::ZERO);
        assert_eq!(ratio(1, 8).to_string(), "0.1250");
        assert_eq!(ratio(1, 2).to_string(), "0.5000");
    }

    #[test]
    fn averages_round_half_up_to_the_fen() {
        let total = Money::from_fen(1001).expect("money");
        assert_eq!(average(total, 2).to_string(), "5.01");
        assert_eq!(average(total, 3).to_string(), "3.34");
        assert_eq!(average(total, 0), Money::ZERO);
    }

    /// Summaries stored before payments were spread by hour and provider
    /// still read, with nothing counted there.
    #[test]
    fn an_older_summary_reads_without_the_payment_spread() {
        let tally = serde_json::json!({"count": 1, "total": "9.95"});
        let older = serde_json::json!({
            "shop_id": "shop-1", "date": "2026-11-20", "run_id": "run-1",
            "generated_at": "2026-11-21T02:30:00Z", "rows": 1,
            "outcomes": {"MATCHED": 1}, "discrepancies": 0,
            "payments": tally, "refunds": tally, "fees": tally,
            "deductions": tally, "payouts": tally,
            "deductions_failed": 0, "monthly_pay_orders": 0,
            "average_order_value": "9.95", "refund_ratio": "0.0000",
            "deduction_failure_rate": "0.0000", "settlement_expected": "0.00",
            "settlement_received": "0.00", "gaps": [],
            "report_csv": "r.csv", "report_json": "r.json",
        });
        let summary: ReconciliationSummary = serde_json::from_value(older).expect("readable");
        assert_eq!(summary.payments_by_hour, [Tally::default(); 24]);
        assert!(summary.payments_by_provider.is_empty());
        assert_eq!(summary.payments.total.to_string(), "9.95");
    }

    #[test]
    fn tallies_count_and_sum() {
        let mut t = Tally::default();
        t.add(150);
        t.add(250);
        assert_eq!((t.count, t.total.to_string()), (2, "4.00".to_owned()));
    }
}
