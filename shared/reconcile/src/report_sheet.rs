//! The daily report as an XLSX file (SPEC §11: the report gets the same
//! treatment as the orders export), made from the report's JSON rows by
//! `qrpay_sheet`'s cell rules: ids exact text, amounts `0.00` numbers,
//! outside text never a formula. The CSV form is written nightly
//! (`ReportRow::write_csv`) by the same rules.

use qrpay_domain::money_text::{parse_yuan, Sign};
use qrpay_sheet::{Cell, Lang, Workbook, XlsxError};
use serde_json::Value;

/// How a column's JSON value becomes a cell.
#[derive(Clone, Copy)]
enum Kind {
    Id,
    Text,
    Plain,
    Fen,
    Count,
}

/// The report's columns: JSON key, Chinese and English headers, kind. The
/// Chinese names follow seed 000's template (日期、订单编号、顾客信息摘要、
/// 分期信息、扣款状态、对账金额、差异说明、处理结果).
const COLUMNS: [(&str, &str, Kind); 17] = [
    ("date", "日期", Kind::Plain),
    ("shop_id", "店铺编号", Kind::Id),
    ("order_no", "订单编号", Kind::Id),
    ("kind", "类型", Kind::Plain),
    ("provider", "支付渠道", Kind::Plain),
    ("provider_ref", "渠道交易号", Kind::Id),
    ("customer", "顾客信息摘要", Kind::Text),
    ("instalment", "分期信息", Kind::Plain),
    ("deduction_status", "扣款状态", Kind::Plain),
    ("ledger_amount", "账本金额", Kind::Fen),
    ("provider_amount", "渠道金额", Kind::Fen),
    ("reconciled_amount", "对账金额", Kind::Fen),
    ("outcome", "对账结果", Kind::Plain),
    ("note", "差异说明", Kind::Text),
    ("resolution", "处理结果", Kind::Text),
    ("statement_line", "对账单行号", Kind::Count),
    ("row_id", "行编号", Kind::Id),
];

/// The header row in `lang`.
pub fn report_headers(lang: Lang) -> Vec<&'static str> {
    COLUMNS
        .iter()
        .map(|(key, zh, _)| match lang {
            Lang::Zh => *zh,
            Lang::En => *key,
        })
        .collect()
}

fn cell(value: &Value, kind: Kind) -> Cell<'_> {
    let text = value.as_str();
    match (kind, text) {
        (Kind::Id, Some(t)) => Cell::Id(t),
        (Kind::Text, Some(t)) => Cell::Text(t),
        (Kind::Plain, Some(t)) => Cell::Plain(t),
        // Amounts are exact two-decimal text in the JSON report.
        (Kind::Fen, Some(t)) => parse_yuan(t, Sign::Signed).map_or(Cell::Text(t), Cell::Fen),
        (Kind::Count, _) => value.as_u64().map_or(Cell::Empty, Cell::Count),
        _ => Cell::Empty,
    }
}

/// The XLSX file of a day's report rows (the JSON report's `rows`).
pub fn report_xlsx(rows: &[Value], lang: Lang) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new("report", &report_headers(lang))?;
    for row in rows {
        let cells: Vec<Cell<'_>> = COLUMNS
            .iter()
            .map(|(key, _, kind)| cell(row.get(*key).unwrap_or(&Value::Null), *kind))
            .collect();
        book.row(&cells)?;
    }
    book.finish()
}

/// The CSV file of a day's report rows, headers in `lang`: with English
/// headers and the nightly rows it is the nightly CSV byte for byte; it
/// also carries what was recorded since (the resolution column).
pub fn report_csv(rows: &[Value], lang: Lang) -> Vec<u8> {
    let cells = rows.iter().map(|row| {
        COLUMNS
            .iter()
            .map(|(key, _, kind)| cell(row.get(*key).unwrap_or(&Value::Null), *kind))
            .collect::<Vec<_>>()
    });
    qrpay_sheet::csv_file(&report_headers(lang), cells)
}
