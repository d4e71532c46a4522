//! The month's KPIs as a page (SPEC §11): the month's totals, then the
//! days drawn over the month — payments, the monthly-pay share, failed
//! deductions and what is overdue — and the days as a table.
//!
//! It renders a plain [`MonthReport`]; whoever serves the month's KPIs
//! fills it from its own records.

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, Utc};
use qrpay_domain::time::minutes_beijing;
use qrpay_domain::{BusinessDate, Money, Tally};
use qrpay_http::html::escape;
use rust_decimal::Decimal;

use crate::chart::{bar_chart, line_chart, Point};
use crate::{basis_points, document, label, ratio_percent};

/// One day of the month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthDay {
    pub date: BusinessDate,
    pub payments: Tally,
    /// Monthly-pay orders ÷ paid orders, 4 decimals.
    pub monthly_pay_share: Decimal,
    pub deductions_failed: u64,
    /// Instalments overdue at the end of the day, and their share of what
    /// was due (by amount, 4 decimals).
    pub overdue_amount: Money,
    pub overdue_rate: Decimal,
}

/// The month as a whole (ratios to 4 decimals).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthTotals {
    pub payments: Tally,
    pub monthly_pay_orders: u64,
    pub monthly_pay_share: Decimal,
    /// Checkouts opened with a plan offered → paid with a plan.
    pub monthly_pay_conversion: Decimal,
    pub average_order_value: Money,
    pub refund_ratio_amount: Decimal,
    pub refund_ratio_count: Decimal,
    pub cancellation_ratio: Decimal,
    pub deductions_failed: u64,
    pub overdue_amount: Money,
    pub overdue_rate_amount: Decimal,
    pub overdue_rate_count: Decimal,
    pub payouts: Money,
}

/// What the month's page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthReport {
    pub shop_id: String,
    /// `2026-11`.
    pub month: String,
    pub generated_at: DateTime<Utc>,
    /// The month's days, in order (those with figures).
    pub days: Vec<MonthDay>,
    pub totals: MonthTotals,
}

/// The page of one shop's month.
pub fn render_month(report: &MonthReport) -> String {
    let title = format!("月度指标 {} {}", report.shop_id, report.month);
    let mut body = String::new();
    let _ = write!(
        body,
        "<header class=\"card\"><h1>{}</h1><dl>\
         <dt>{}</dt><dd id=\"shop\">{}</dd><dt>{}</dt><dd id=\"month\">{}</dd>\
         <dt>{}</dt><dd>{} <span class=\"en\">北京时间 Beijing</span></dd></dl></header>",
        label("月度指标", "Monthly KPIs"),
        label("商户", "Shop"),
        escape(&report.shop_id),
        label("月份", "Month"),
        escape(&report.month),
        label("生成时间", "Generated at"),
        minutes_beijing(report.generated_at),
    );
    totals(&mut body, &report.totals);
    charts(&mut body, &report.days);
    days(&mut body, &report.days);
    document(&title, &body)
}

fn totals(out: &mut String, t: &MonthTotals) {
    let overdue_class = if t.overdue_amount.is_zero() {
        "v ok"
    } else {
        "v bad"
    };
    let failed_class = if t.deductions_failed == 0 {
        "v ok"
    } else {
        "v bad"
    };
    let _ = write!(
        out,
        "<section class=\"card tiles\" id=\"totals\">\
         <div class=\"tile\" id=\"t-payments\">{}<span class=\"v\">{} / {}</span></div>\
         <div class=\"tile\" id=\"t-monthly-pay\">{}<span class=\"v\">{} ({})</span></div>\
         <div class=\"tile\" id=\"t-deductions-failed\">{}<span class=\"{failed_class}\">{}</span></div>\
         <div class=\"tile\" id=\"t-overdue\">{}<span class=\"{overdue_class}\">{} ({})</span></div>\
         </section><section class=\"card\"><dl id=\"kpis\">\
         <dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{} / {}</dd>\
         <dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd></dl></section>",
        label("付款", "Payments"),
        t.payments.total,
        t.payments.count,
        label("月付订单", "Monthly-pay orders"),
        t.monthly_pay_orders,
        ratio_percent(t.monthly_pay_share),
        label("扣款失败", "Failed deductions"),
        t.deductions_failed,
        label("逾期", "Overdue"),
        t.overdue_amount,
        ratio_percent(t.overdue_rate_amount),
        label("月付转化率", "Monthly-pay conversion"),
        ratio_percent(t.monthly_pay_conversion),
        label("客单价", "Average order value"),
        t.average_order_value,
        label("退款率（金额/笔数）", "Refund ratio (amount / count)"),
        ratio_percent(t.refund_ratio_amount),
        ratio_percent(t.refund_ratio_count),
        label("逾期率（笔数）", "Overdue rate (count)"),
        ratio_percent(t.overdue_rate_count),
        label("取消率", "Cancellation ratio"),
        ratio_percent(t.cancellation_ratio),
        label("提现总额", "Payouts total"),
        t.payouts,
    );
}

/// `20日`: a day's label under a chart.
fn day_label(date: BusinessDate) -> String {
    format!("{}日", date.naive().day())
}

fn charts(out: &mut String, days: &[MonthDay]) {
    let series = |value: &dyn Fn(&MonthDay) -> (i64, String)| -> Vec<Point> {
        days.iter()
            .map(|d| {
                let (v, shown) = value(d);
                Point::new(day_label(d.date), v, shown)
            })
            .collect()
    };
    let payments = series(&|d| {
        (
            d.payments.total.fen(),
            format!("{} ({})", d.payments.total, d.payments.count),
        )
    });
    let share = series(&|d| {
        (
            basis_points(d.monthly_pay_share),
            ratio_percent(d.monthly_pay_share),
        )
    });
    let failed = series(&|d| {
        (
            i64::try_from(d.deductions_failed).unwrap_or(i64::MAX),
            d.deductions_failed.to_string(),
        )
    });
    let overdue = series(&|d| {
        (
            d.overdue_amount.fen(),
            format!("{} ({})", d.overdue_amount, ratio_percent(d.overdue_rate)),
        )
    });
    let figure = |id: &str, svg: String, zh: &str, en: &str| {
        format!(
            "<figure id=\"{id}\">{svg}<figcaption>{}</figcaption></figure>",
            label(zh, en)
        )
    };
    let _ = write!(
        out,
        "<section class=\"card\" id=\"charts\"><h2>{}</h2><div class=\"charts\">{}{}{}{}</div></section>",
        label("本月走势", "Over the month"),
        figure("chart-payments", bar_chart("payments", "每日付款 Payments by day", &payments), "每日付款金额", "Payments by day, CNY"),
        figure("chart-share", line_chart("share", "月付占比 Monthly-pay share", &share), "月付订单占比", "Monthly-pay share of paid orders"),
        figure("chart-failed", bar_chart("failed", "扣款失败 Failed deductions", &failed), "每日扣款失败笔数", "Failed deductions by day"),
        figure("chart-overdue", line_chart("overdue", "逾期金额 Overdue", &overdue), "日终逾期金额（逾期率）", "Overdue at the end of each day, CNY (rate)"),
    );
}

fn days(out: &mut String, days: &[MonthDay]) {
    let _ = write!(
        out,
        "<section class=\"card\" id=\"days\"><h2>{}</h2><div class=\"scroll\"><table>\
         <tr><th>{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th>\
         <th class=\"n\">{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th></tr>",
        label("每日明细", "Day by day"),
        label("日期", "Date"),
        label("付款笔数", "Payments"),
        label("付款金额", "Amount"),
        label("月付占比", "Monthly-pay share"),
        label("扣款失败", "Failed deductions"),
        label("逾期金额", "Overdue"),
        label("逾期率", "Overdue rate"),
    );
    for d in days {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            d.date,
            d.payments.count,
            d.payments.total,
            ratio_percent(d.monthly_pay_share),
            d.deductions_failed,
            d.overdue_amount,
            ratio_percent(d.overdue_rate),
        );
    }
    out.push_str("</table></div></section>");
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn money(fen: i64) -> Money {
        Money::from_fen(fen).unwrap()
    }

    fn day(n: u32, fen: i64, share_bp: i64, failed: u64, overdue_fen: i64) -> MonthDay {
        MonthDay {
            date: BusinessDate::parse(&format!("2026-11-{n:02}")).unwrap(),
            payments: Tally {
                count: 2,
                total: money(fen),
            },
            monthly_pay_share: Decimal::new(share_bp, 4),
            deductions_failed: failed,
            overdue_amount: money(overdue_fen),
            overdue_rate: Decimal::new(share_bp / 10, 4),
        }
    }

    fn report(days: Vec<MonthDay>) -> MonthReport {
        let ratio = |bp| Decimal::new(bp, 4);
        MonthReport {
            shop_id: "shop-<1>".to_owned(),
            month: "2026-11".to_owned(),
            generated_at: Utc.with_ymd_and_hms(2026, 12, 1, 2, 30, 0).unwrap(),
            days,
            totals: MonthTotals {
                payments: Tally {
                    count: 6,
                    total: money(60_000),
                },
                monthly_pay_orders: 3,
                monthly_pay_share: ratio(5000),
                monthly_pay_conversion: ratio(7500),
                average_order_value: money(10_000),
                refund_ratio_amount: ratio(125),
                refund_ratio_count: ratio(1667),
                cancellation_ratio: ratio(0),
                deductions_failed: 4,
                overdue_amount: money(34_333),
                overdue_rate_amount: ratio(333),
                overdue_rate_count: ratio(500),
                payouts: money(20_000),
            },
        }
    }

    #[test]
    fn the_month_page_shows_its_totals_and_draws_the_days() {
        let page = render_month(&report(vec![
            day(1, 10_000, 2500, 0, 0),
            day(2, 20_000, 5000, 1, 10_000),
            day(3, 30_000, 10_000, 3, 34_333),
        ]));
        assert!(page.contains("<title>月度指标 shop-&lt;1&gt; 2026-11</title>"));
        assert!(page.contains("<dd id=\"shop\">shop-&lt;1&gt;</dd>"));
        assert!(
            page.contains("<dd>2026-12-01 10:30 <span class=\"en\">北京时间 Beijing</span></dd>")
        );
        assert!(page.contains("<span class=\"v\">600.00 / 6</span>"));
        assert!(page.contains("<span class=\"v\">3 (50.00%)</span>"));
        assert!(page.contains("<span class=\"v bad\">4</span>"));
        assert!(page.contains("<span class=\"v bad\">343.33 (3.33%)</span>"));
        assert!(page.contains("<dd>1.25% / 16.67%</dd>"));
        assert!(page.contains("<dd>75.00%</dd>"));
        // The share: 25% → 50% → 100% of the plot's 180 high.
        let share = &page[page.find("<svg class=\"chart share\"").unwrap()..];
        assert!(
            share.contains("<polyline class=\"line\" points=\"152,147 344,102 536,12\""),
            "{share}"
        );
        assert!(share.contains("<title>2日: 50.00%</title>"));
        // Failed deductions: bars of 0, 1 and 3 (the largest, full height).
        let failed = &page[page.find("<svg class=\"chart failed\"").unwrap()..];
        let failed = &failed[..failed.find("</svg>").unwrap()];
        assert_eq!(failed.matches("<rect class=\"bar\"").count(), 3);
        assert!(failed.contains("height=\"60\""), "{failed}");
        assert!(failed.contains("height=\"180\""), "{failed}");
        let overdue = &page[page.find("<svg class=\"chart overdue\"").unwrap()..];
        assert!(
            overdue.contains("<title>3日: 343.33 (10.00%)</title>"),
            "{overdue}"
        );
        assert!(page.contains("<tr><td>2026-11-02</td><td class=\"n\">2</td><td class=\"n\">200.00</td><td class=\"n\">50.00%</td><td class=\"n\">1</td><td class=\"n\">100.00</td><td class=\"n\">5.00%</td></tr>"));
        assert_eq!(page.matches("<svg class=\"chart").count(), 4);
    }

    #[test]
    fn a_month_without_days_draws_empty_charts() {
        let page = render_month(&report(Vec::new()));
        assert_eq!(page.matches(">无数据 No data</text>").count(), 4);
        assert!(!page.contains("<td>2026-11"));
    }
}
