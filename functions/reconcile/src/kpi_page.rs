//! The month's KPIs as a page for a browser (SPEC §11): the figures the
//! JSON answer gives, handed to `qrpay_report_html`'s month renderer.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use qrpay_domain::{BusinessDate, BusinessMonth, KpiInputs, ShopId};
use qrpay_report_html::month::{MonthDay, MonthReport, MonthTotals};

/// What one reconciled day gives the month: its KPI inputs and the
/// deductions the provider reported as failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayFigures {
    pub inputs: KpiInputs,
    pub deductions_failed: u64,
}

/// The page's figures: each day's own KPIs, the month's from the summed
/// inputs (the same formulas as the JSON answer).
pub fn month_report(
    shop_id: &ShopId,
    month: BusinessMonth,
    days: &BTreeMap<BusinessDate, DayFigures>,
    generated_at: DateTime<Utc>,
) -> MonthReport {
    let month_inputs = KpiInputs::over_days(days.values().map(|d| &d.inputs));
    let kpis = month_inputs.kpis();
    let series = days
        .iter()
        .map(|(date, day)| {
            let day_kpis = day.inputs.kpis();
            MonthDay {
                date: *date,
                payments: day.inputs.payments,
                monthly_pay_share: day_kpis.monthly_pay_share,
                deductions_failed: day.deductions_failed,
                overdue_amount: day.inputs.receivables.overdue.total,
                overdue_rate: day_kpis.overdue_rate_amount,
            }
        })
        .collect();
    MonthReport {
        shop_id: shop_id.to_string(),
        month: month.to_string(),
        generated_at,
        days: series,
        totals: MonthTotals {
            payments: month_inputs.payments,
            monthly_pay_orders: kpis.monthly_pay_orders,
            monthly_pay_share: kpis.monthly_pay_share,
            monthly_pay_conversion: kpis.monthly_pay_conversion,
            average_order_value: kpis.average_order_value,
            refund_ratio_amount: kpis.refund_ratio_amount,
            refund_ratio_count: kpis.refund_ratio_count,
            cancellation_ratio: kpis.cancellation_ratio,
            deductions_failed: days.values().map(|d| d.deductions_failed).sum(),
            overdue_amount: month_inputs.receivables.overdue.total,
            overdue_rate_amount: kpis.overdue_rate_amount,
            overdue_rate_count: kpis.overdue_rate_count,
            payouts: kpis.payouts_total,
        },
    }
}
