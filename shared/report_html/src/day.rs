//! The daily reconciliation report as a page (SPEC §6, §11): the shop, the
//! day and the run; what is wrong first (input gaps, discrepancies, the
//! settlement gap, failed deductions); the day's numbers; payments by
//! Beijing hour and by provider; then the report rows, discrepancies first,
//! the matched ones folded away.

use std::fmt::Write as _;

use qrpay_domain::time::minutes_beijing;
use qrpay_domain::{ReconciliationSummary, Tally};
use qrpay_http::html::escape;
use serde_json::Value;

use crate::chart::{bar_chart, share_bar, Point};
use crate::{document, label, ratio_percent};

/// Discrepancy rows shown on the page, and matched ones; the rest are
/// counted (the CSV and XLSX files have them all).
pub const MAX_DISCREPANCY_ROWS: usize = 500;
pub const MAX_MATCHED_ROWS: usize = 200;

/// Outcomes that are not discrepancies.
const AGREED: [&str; 2] = ["MATCHED", "INTERNAL"];

/// The Chinese name of an outcome code.
pub fn outcome_zh(code: &str) -> &'static str {
    match code {
        "MATCHED" => "已匹配",
        "MISSING_IN_PROVIDER" => "渠道无记录",
        "MISSING_IN_LEDGER" => "账本无记录",
        "AMOUNT_MISMATCH" => "金额不符",
        "STATUS_MISMATCH" => "状态不符",
        "DUPLICATE" => "重复",
        "SETTLEMENT_MISMATCH" => "结算不符",
        "INTERNAL" => "内部调账",
        _ => "",
    }
}

/// Whether a report row is a discrepancy (its outcome is neither a match
/// nor our own movement).
pub fn is_discrepancy(row: &Value) -> bool {
    let outcome = row["outcome"].as_str().unwrap_or("");
    !AGREED.contains(&outcome)
}

/// The page of one shop's day: `rows` are the report's rows as the JSON
/// answer gives them, in report order.
pub fn render_day(summary: &ReconciliationSummary, rows: &[Value]) -> String {
    let title = format!("对账日报 {} {}", summary.shop_id, summary.date);
    let mut body = String::new();
    header(&mut body, summary);
    problems(&mut body, summary);
    numbers(&mut body, summary);
    charts(&mut body, summary);
    row_tables(&mut body, rows);
    document(&title, &body)
}

fn header(out: &mut String, s: &ReconciliationSummary) {
    let _ = write!(
        out,
        "<header class=\"card\"><h1>{}</h1><dl>\
         <dt>{}</dt><dd id=\"shop\">{}</dd>\
         <dt>{}</dt><dd id=\"date\">{}</dd>\
         <dt>{}</dt><dd id=\"run\">{} <span class=\"en\">北京时间 Beijing · {}</span></dd>\
         </dl></header>",
        label("对账日报", "Daily reconciliation report"),
        label("商户", "Shop"),
        escape(s.shop_id.as_str()),
        label("业务日", "Business day"),
        s.date,
        label("对账时间", "Run at"),
        minutes_beijing(s.generated_at),
        escape(&s.run_id),
    );
}

/// The settlement the bank still owes (+) or overpaid (−).
fn settlement_gap(s: &ReconciliationSummary) -> rust_decimal::Decimal {
    s.settlement_expected - s.settlement_received
}

/// What needs a look, in large type: gaps in the inputs, discrepancies,
/// the settlement gap and failed deductions.
fn problems(out: &mut String, s: &ReconciliationSummary) {
    if !s.gaps.is_empty() {
        let _ = write!(
            out,
            "<section class=\"card alert\" id=\"gaps\"><h2 class=\"bad\">{}</h2><ul>",
            label(
                "数据缺口：本报告不完整",
                "Input gaps: this report is incomplete"
            )
        );
        for gap in &s.gaps {
            let _ = write!(out, "<li>{}</li>", escape(gap));
        }
        out.push_str("</ul></section>");
    }
    let gap = settlement_gap(s);
    // `Some(true)`: wrong, red; `Some(false)`: nothing wrong, green.
    let tile = |out: &mut String, id: &str, name: String, value: String, bad: Option<bool>| {
        let class = if bad == Some(true) { " alert" } else { "" };
        let tone = match bad {
            Some(true) => " bad",
            Some(false) => " ok",
            None => "",
        };
        let _ = write!(
            out,
            "<div class=\"tile{class}\" id=\"{id}\">{name}<span class=\"v{tone}\">{value}</span></div>"
        );
    };
    out.push_str("<section class=\"card tiles\" id=\"headline\">");
    tile(
        out,
        "tile-discrepancies",
        label("差异", "Discrepancies"),
        s.discrepancies.to_string(),
        Some(s.discrepancies > 0),
    );
    tile(
        out,
        "tile-settlement-gap",
        label("结算差额", "Settlement gap"),
        gap.to_string(),
        Some(!gap.is_zero()),
    );
    tile(
        out,
        "tile-deductions-failed",
        label("扣款失败", "Failed deductions"),
        s.deductions_failed.to_string(),
        Some(s.deductions_failed > 0),
    );
    tile(
        out,
        "tile-payments",
        label("付款", "Payments"),
        format!("{} / {}", s.payments.total, s.payments.count),
        None,
    );
    out.push_str("</section>");
}

fn tally_row(out: &mut String, id: &str, name: String, tally: Tally) {
    let _ = write!(
        out,
        "<tr id=\"{id}\"><th>{name}</th><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
        tally.count, tally.total
    );
}

fn numbers(out: &mut String, s: &ReconciliationSummary) {
    let _ = write!(
        out,
        "<section class=\"card\" id=\"numbers\"><h2>{}</h2><div class=\"scroll\"><table>\
         <tr><th></th><th class=\"n\">{}</th><th class=\"n\">{}</th></tr>",
        label("当日数字", "The day's numbers"),
        label("笔数", "Count"),
        label("金额（元）", "Amount (CNY)"),
    );
    let tallies = [
        ("n-payments", label("付款", "Payments"), s.payments),
        ("n-refunds", label("退款", "Refunds"), s.refunds),
        ("n-fees", label("手续费", "Fees"), s.fees),
        (
            "n-fees-returned",
            label("退还手续费", "Fees returned"),
            s.fees_returned,
        ),
        (
            "n-deductions",
            label("分期扣款", "Deductions"),
            s.deductions,
        ),
        ("n-payouts", label("提现", "Payouts"), s.payouts),
        (
            "n-adjustment-credits",
            label("调账入账", "Adjustment credits"),
            s.adjustment_credits,
        ),
        (
            "n-adjustment-debits",
            label("调账出账", "Adjustment debits"),
            s.adjustment_debits,
        ),
    ];
    for (id, name, tally) in tallies {
        tally_row(out, id, name, tally);
    }
    let gap = settlement_gap(s);
    let gap_class = if gap.is_zero() { "ok" } else { "bad" };
    let _ = write!(
        out,
        "</table></div><dl id=\"ratios\">\
         <dt>{}</dt><dd>{} ({})</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd>\
         <dt>{}</dt><dd id=\"settlement-expected\">{}</dd>\
         <dt>{}</dt><dd id=\"settlement-received\">{}</dd>\
         <dt>{}</dt><dd id=\"settlement-gap\" class=\"{gap_class}\">{gap}</dd></dl></section>",
        label("扣款失败", "Failed deductions"),
        s.deductions_failed,
        ratio_percent(s.deduction_failure_rate),
        label("月付订单", "Monthly-pay orders"),
        s.monthly_pay_orders,
        label("客单价", "Average order value"),
        s.average_order_value,
        label("退款率", "Refund ratio"),
        ratio_percent(s.refund_ratio),
        label("结算应收", "Settlement expected"),
        s.settlement_expected,
        label("结算实收", "Settlement received"),
        s.settlement_received,
        label("结算差额", "Settlement gap"),
    );
}

fn charts(out: &mut String, s: &ReconciliationSummary) {
    let hours: Vec<Point> = s
        .payments_by_hour
        .iter()
        .enumerate()
        .map(|(hour, tally)| {
            Point::new(
                format!("{hour}"),
                tally.total.fen(),
                format!("{} ({})", tally.total, tally.count),
            )
        })
        .collect();
    let providers: Vec<Point> = s
        .payments_by_provider
        .iter()
        .map(|(provider, tally)| {
            Point::new(
                provider.as_str(),
                tally.total.fen(),
                format!("{} ({})", tally.total, tally.count),
            )
        })
        .collect();
    let counted: u64 = s.payments_by_hour.iter().map(|t| t.count).sum();
    let note = if s.payments.count > 0 && counted == 0 {
        format!(
            "<p class=\"muted\">{}</p>",
            label(
                "这次对账没有按小时和渠道统计，重新对账即可。",
                "This run did not count payments by hour and provider; re-run the day."
            )
        )
    } else {
        String::new()
    };
    let _ = write!(
        out,
        "<section class=\"card\" id=\"charts\"><h2>{}</h2>{note}<div class=\"charts\">\
         <figure id=\"chart-hours\">{}<figcaption>{}</figcaption></figure>\
         <figure id=\"chart-providers\">{}<figcaption>{}</figcaption></figure></div></section>",
        label("付款分布", "Payments spread"),
        bar_chart("hours", "按小时付款 Payments by hour", &hours),
        label(
            "按小时（北京时间）付款金额",
            "Payments by Beijing hour, CNY"
        ),
        share_bar("providers", "按渠道付款 Payments by provider", &providers),
        label("按渠道付款金额", "Payments by provider, CNY"),
    );
}

/// The report's columns, what to judge first on the left: the row, its
/// outcome and amounts, the note and the resolution, then the evidence.
const COLUMNS: [(&str, &str, &str, bool); 14] = [
    ("order_no", "订单号", "Order no.", false),
    ("kind", "类型", "Kind", false),
    ("provider", "渠道", "Provider", false),
    ("outcome", "结果", "Outcome", false),
    ("ledger_amount", "账本金额", "Ledger", true),
    ("provider_amount", "渠道金额", "Provider", true),
    ("reconciled_amount", "对账金额", "Reconciled", true),
    ("note", "说明", "Note", false),
    ("resolution", "处理", "Resolution", false),
    ("deduction_status", "扣款状态", "Deduction", false),
    ("instalment", "分期", "Instalment", false),
    ("customer", "客户", "Customer", false),
    ("provider_ref", "渠道流水号", "Provider ref", false),
    ("statement_line", "账单行", "Line", true),
];

/// A row's value as text: strings and numbers as they are, a resolution
/// object as `status · note · assignee`, nothing for null.
fn cell_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        Value::Object(fields) => ["status", "note", "assignee"]
            .iter()
            .filter_map(|k| fields.get(*k).and_then(Value::as_str))
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join(" · "),
        other => other.to_string(),
    }
}

fn table(out: &mut String, id: &str, rows: &[&Value], class: &str) {
    let _ = write!(out, "<div class=\"scroll\"><table id=\"{id}\"><tr>");
    for (_, zh, en, numeric) in COLUMNS {
        let class = if numeric { " class=\"n\"" } else { "" };
        let _ = write!(out, "<th{class}>{}</th>", label(zh, en));
    }
    out.push_str("</tr>");
    for row in rows {
        let _ = write!(out, "<tr class=\"{class}\">");
        for (key, _, _, numeric) in COLUMNS {
            let mut text = escape(&cell_text(&row[key]));
            if key == "outcome" {
                text = format!("{} {text}", outcome_zh(row[key].as_str().unwrap_or("")));
            }
            let class = match (numeric, key) {
                (true, _) => " class=\"n\"",
                (false, "note") => " class=\"note\"",
                _ => "",
            };
            let _ = write!(out, "<td{class}>{text}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</table></div>");
}

/// `…和另外 N 条 / and N more`, when rows were left off the page.
fn more(out: &mut String, left_off: usize) {
    if left_off > 0 {
        let _ = write!(
            out,
            "<p class=\"muted more\">{}</p>",
            label(
                &format!("另有 {left_off} 条未显示，请下载 CSV 或 XLSX 查看全部。"),
                &format!("{left_off} more not shown; the CSV and XLSX files have them all."),
            )
        );
    }
}

fn row_tables(out: &mut String, rows: &[Value]) {
    let (discrepancies, agreed): (Vec<&Value>, Vec<&Value>) =
        rows.iter().partition(|row| is_discrepancy(row));
    let _ = write!(
        out,
        "<section class=\"card\" id=\"discrepancies\"><h2>{} <span class=\"count\">{}</span></h2>",
        label("差异明细", "Discrepancies"),
        discrepancies.len()
    );
    if discrepancies.is_empty() {
        let _ = write!(
            out,
            "<p class=\"ok\">{}</p>",
            label("没有差异。", "No discrepancies.")
        );
    } else {
        let shown = discrepancies.len().min(MAX_DISCREPANCY_ROWS);
        table(out, "discrepancy-rows", &discrepancies[..shown], "disc");
        more(out, discrepancies.len() - shown);
    }
    let _ = write!(
        out,
        "</section><section class=\"card\" id=\"matched\"><details><summary>{} <span class=\"count\">{}</span></summary>",
        label("已匹配", "Matched"),
        agreed.len()
    );
    let shown = agreed.len().min(MAX_MATCHED_ROWS);
    table(out, "matched-rows", &agreed[..shown], "agreed");
    more(out, agreed.len() - shown);
    out.push_str("</details></section>");
}

#[cfg(test)]
#[path = "day_tests.rs"]
mod tests;
