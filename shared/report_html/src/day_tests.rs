use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use qrpay_domain::{BusinessDate, Money, ShopId};
use rust_decimal::Decimal;
use serde_json::json;

use super::*;

fn tally(count: u64, fen: i64) -> Tally {
    Tally {
        count,
        total: Money::from_fen(fen).unwrap(),
    }
}

fn summary() -> ReconciliationSummary {
    let mut by_hour = [Tally::default(); 24];
    by_hour[9] = tally(2, 30_000);
    by_hour[20] = tally(1, 1_250);
    ReconciliationSummary {
        shop_id: ShopId::parse("shop-1").unwrap(),
        date: BusinessDate::parse("2026-11-20").unwrap(),
        run_id: "run-<7>".to_owned(),
        // 10:30 Beijing on the 21st.
        generated_at: Utc.with_ymd_and_hms(2026, 11, 21, 2, 30, 0).unwrap(),
        rows: 3,
        outcomes: BTreeMap::new(),
        discrepancies: 1,
        payments: tally(3, 31_250),
        refunds: tally(1, 500),
        fees: tally(3, 190),
        fees_returned: tally(1, 6),
        deductions: tally(0, 0),
        payouts: tally(1, 2_000),
        adjustment_credits: tally(0, 0),
        adjustment_debits: tally(0, 0),
        payments_by_hour: by_hour,
        payments_by_provider: BTreeMap::from([
            ("alipay".to_owned(), tally(1, 1_250)),
            ("wechatpay".to_owned(), tally(2, 30_000)),
        ]),
        deductions_failed: 1,
        kpi_inputs: None,
        kpis: None,
        monthly_pay_orders: 1,
        average_order_value: Money::from_fen(10_417).unwrap(),
        refund_ratio: Decimal::new(160, 4),
        deduction_failure_rate: Decimal::new(10_000, 4),
        settlement_expected: Decimal::new(29_060, 2),
        settlement_received: Decimal::new(28_060, 2),
        gaps: vec!["no <alipay> statement".to_owned()],
        report_csv: "r.csv".to_owned(),
        report_json: "r.json".to_owned(),
    }
}

fn row(order: &str, outcome: &str, resolution: Value) -> Value {
    json!({"date": "2026-11-20", "shop_id": "shop-1", "order_no": order, "kind": "PAYMENT",
        "provider": "wechatpay", "provider_ref": "4200001234567890123456789012",
        "customer": "张* 138****1234", "instalment": null, "deduction_status": null,
        "ledger_amount": "100.00", "provider_amount": "90.00", "reconciled_amount": "90.00",
        "outcome": outcome, "note": "amounts differ", "resolution": resolution,
        "statement_line": 4})
}

#[test]
fn the_page_shows_the_day_and_what_is_wrong_first() {
    let rows = vec![
        row("ord-matched", "MATCHED", json!("NONE")),
        row("ord-<b>bad</b>", "AMOUNT_MISMATCH", json!("OPEN")),
        row("ord-internal", "INTERNAL", json!("NONE")),
    ];
    let page = render_day(&summary(), &rows);
    assert!(page.starts_with("<!doctype html><html lang=\"zh-CN\">"));
    assert!(page.contains("<title>对账日报 shop-1 2026-11-20</title>"));
    assert!(page.contains("<dd id=\"shop\">shop-1</dd>"));
    assert!(page.contains("<dd id=\"date\">2026-11-20</dd>"));
    assert!(page
        .contains("2026-11-21 10:30 <span class=\"en\">北京时间 Beijing · run-&lt;7&gt;</span>"));
    // The gaps, then the headline figures, before anything else.
    let gaps = page.find("id=\"gaps\"").unwrap();
    assert!(page.contains("<li>no &lt;alipay&gt; statement</li>"));
    let headline = page.find("id=\"headline\"").unwrap();
    let numbers = page.find("id=\"numbers\"").unwrap();
    assert!(gaps < headline && headline < numbers);
    assert!(page.contains("id=\"tile-settlement-gap\">结算差额 <span class=\"en\">Settlement gap</span><span class=\"v bad\">10.00</span>"));
    assert!(
        page.contains("<span class=\"v bad\">1</span>"),
        "discrepancies"
    );
    assert!(page.contains("<tr id=\"n-payments\"><th>付款 <span class=\"en\">Payments</span></th><td class=\"n\">3</td><td class=\"n\">312.50</td></tr>"));
    assert!(page.contains("<tr id=\"n-payouts\"><th>提现 <span class=\"en\">Payouts</span></th><td class=\"n\">1</td><td class=\"n\">20.00</td></tr>"));
    assert!(page.contains("<dd id=\"settlement-expected\">290.60</dd>"));
    assert!(page.contains("<dd id=\"settlement-gap\" class=\"bad\">10.00</dd>"));
    assert!(
        page.contains("<dd>1 (100.00%)</dd>"),
        "failed deductions and rate"
    );
    assert!(page.contains("<dd>1.60%</dd>"), "refund ratio");
}

#[test]
fn discrepancies_come_first_and_the_matched_rows_fold_away() {
    let rows = vec![
        row("ord-matched", "MATCHED", json!("NONE")),
        row("ord-<b>bad</b>", "AMOUNT_MISMATCH", json!("OPEN")),
        row("ord-internal", "INTERNAL", json!("NONE")),
        row(
            "ord-dup",
            "DUPLICATE",
            json!({"status": "RESOLVED", "note": "退款<已补>", "assignee": "li"}),
        ),
    ];
    let page = render_day(&summary(), &rows);
    let discrepancies = page.find("id=\"discrepancy-rows\"").unwrap();
    let matched = page.find("<details>").unwrap();
    let bad = page.find("ord-&lt;b&gt;bad&lt;/b&gt;").unwrap();
    let dup = page.find("ord-dup").unwrap();
    let ok = page.find("ord-matched").unwrap();
    let internal = page.find("ord-internal").unwrap();
    assert!(discrepancies < bad && bad < dup && dup < matched);
    assert!(matched < ok && ok < internal);
    assert!(!page.contains("<b>bad</b>"));
    assert!(page.contains("<td>金额不符 AMOUNT_MISMATCH</td>"));
    assert!(page.contains("<td>OPEN</td>"));
    assert!(page.contains("<td>RESOLVED · 退款&lt;已补&gt; · li</td>"));
    assert!(page.contains("<td class=\"n\">4</td>"), "statement line");
    assert!(page.contains("<span class=\"count\">2</span></h2>"));
    assert!(page.contains("<span class=\"count\">2</span></summary>"));
    assert_eq!(page.matches("<tr class=\"disc\">").count(), 2);
    assert_eq!(page.matches("<tr class=\"agreed\">").count(), 2);
}

#[test]
fn long_reports_show_a_bounded_page_and_count_the_rest() {
    let mut rows: Vec<Value> = (0..MAX_MATCHED_ROWS + 5)
        .map(|i| row(&format!("ok-{i}"), "MATCHED", json!("NONE")))
        .collect();
    rows.extend(
        (0..MAX_DISCREPANCY_ROWS + 1)
            .map(|i| row(&format!("d-{i}"), "MISSING_IN_LEDGER", json!("OPEN"))),
    );
    let page = render_day(&summary(), &rows);
    assert_eq!(
        page.matches("<tr class=\"disc\">").count(),
        MAX_DISCREPANCY_ROWS
    );
    assert_eq!(
        page.matches("<tr class=\"agreed\">").count(),
        MAX_MATCHED_ROWS
    );
    assert!(page.contains("另有 1 条未显示"));
    assert!(page.contains("5 more not shown"));
}

#[test]
fn the_charts_draw_payments_by_hour_and_by_provider() {
    let page = render_day(&summary(), &[]);
    let hours = &page[page.find("<svg class=\"chart hours\"").unwrap()..];
    let hours = &hours[..hours.find("</svg>").unwrap()];
    assert_eq!(hours.matches("<rect class=\"bar\"").count(), 24);
    assert!(hours.contains("<title>9: 300.00 (2)</title>"));
    // Hour 9 is the largest: the whole plot's height.
    assert!(hours.contains("height=\"180\" fill=\"#1677ff\"><title>9: 300.00 (2)"));
    let providers = &page[page.find("<svg class=\"chart providers\"").unwrap()..];
    assert_eq!(providers.matches("<rect class=\"segment\"").count(), 2);
    assert!(providers.contains(">wechatpay  300.00 (2)  96.0%</text>"));
    assert!(page.contains("没有差异。"));
    assert!(!page.contains("re-run the day"));
}

#[test]
fn an_older_summary_says_its_payments_were_not_spread() {
    let mut older = summary();
    older.payments_by_hour = [Tally::default(); 24];
    older.payments_by_provider.clear();
    let page = render_day(&older, &[]);
    assert!(page.contains("re-run the day"));
    assert!(page.contains(">无数据 No data</text>"));
}
