//! The merchant's reports as pages to look at (SPEC §11): the daily
//! reconciliation report ([`day::render_day`]) and the month's KPIs
//! ([`month::render_month`]), with charts drawn here as inline SVG
//! ([`chart`]). The pages are plain HTML: no script, one stylesheet allowed
//! by its hash, nothing loaded from elsewhere, every value escaped.
//!
//! Labels are Chinese first with the English after them, smaller
//! (`付款 Payments`): the merchants read Chinese, their finance staff
//! both; codes (`AMOUNT_MISMATCH`, `wechatpay`) stay as the API and the
//! CSV spell them.

pub mod chart;
pub mod day;
pub mod month;

use std::sync::OnceLock;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use qrpay_http::html::{escape, html_response, source_hash};

/// Desktop first (finance staff at a desk), readable on a phone.
const STYLE: &str = "\
body{margin:0;font-family:-apple-system,BlinkMacSystemFont,'PingFang SC','Microsoft YaHei','WenQuanYi Micro Hei',sans-serif;background:#f5f5f5;color:#222;font-size:14px}\
main{max-width:1100px;margin:0 auto;padding:16px}\
.card{background:#fff;border-radius:8px;padding:16px;margin-bottom:12px}\
h1{font-size:20px;margin:0 0 8px}h2{font-size:16px;margin:0 0 8px}\
.en{color:#777;font-weight:normal;font-size:.85em}\
.tiles{display:flex;flex-wrap:wrap;gap:12px}\
.tile{flex:1 1 160px;border:1px solid #eee;border-radius:8px;padding:12px}\
.tile .v{display:block;font-size:24px;font-weight:600;margin-top:4px}\
.bad{color:#cf1322}.ok{color:#389e0d}\
.alert{border-left:4px solid #cf1322;background:#fff1f0}\
.tile.alert{border-color:#cf1322}\
table{border-collapse:collapse;width:100%}\
th,td{padding:4px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top;white-space:nowrap}\
th{font-weight:600}td.note{white-space:normal;min-width:16em}\
.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\
.scroll{overflow-x:auto}\
tr.disc td{background:#fff7f7}\
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,480px),1fr));gap:12px}\
figure{margin:0}svg.chart{width:100%;height:auto;display:block}\
dl{display:grid;grid-template-columns:auto 1fr;gap:4px 12px;margin:0}dt{color:#777}dd{margin:0}\
details summary{cursor:pointer;font-weight:600;margin-bottom:8px}\
.muted{color:#777}";

fn style_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| source_hash(STYLE))
}

/// What a report page may do: show itself, with its own stylesheet.
pub fn policy() -> String {
    format!(
        "default-src 'none'; style-src {}; img-src data:; script-src 'none'; \
         form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
        style_hash()
    )
}

/// A whole report document around `body`.
pub fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"format-detection\" content=\"telephone=no\">\
         <link rel=\"icon\" href=\"data:,\"><title>{}</title><style>{STYLE}</style></head>\
         <body><main>{body}</main></body></html>",
        escape(title)
    )
}

/// A report page as the answer: 200, never cached, under [`policy`]. It
/// was chosen by `Accept` (the same URL answers JSON).
pub fn report_page(html: String) -> Response<Body> {
    html_response(StatusCode::OK, html, &policy(), "Accept")
}

/// A label in both languages: `付款 <span class="en">Payments</span>`.
pub fn label(zh: &str, en: &str) -> String {
    format!("{} <span class=\"en\">{}</span>", escape(zh), escape(en))
}

/// A ratio kept to 4 decimals (`0.1250`) as a percentage: `12.50%`.
pub fn ratio_percent(ratio: rust_decimal::Decimal) -> String {
    let mut percent = ratio * rust_decimal::Decimal::ONE_HUNDRED;
    percent.rescale(2);
    format!("{percent}%")
}

/// A ratio kept to 4 decimals as basis points, a chart's value.
pub fn basis_points(ratio: rust_decimal::Decimal) -> i64 {
    let mut points = ratio * rust_decimal::Decimal::from(10_000);
    points.rescale(0);
    i64::try_from(points).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    #[test]
    fn a_report_page_allows_only_its_own_stylesheet() {
        let page = report_page(document("t", "<p>x</p>"));
        let csp = page.headers()["content-security-policy"].to_str().unwrap();
        assert_eq!(
            csp,
            format!(
                "default-src 'none'; style-src {}; img-src data:; script-src 'none'; \
                 form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
                source_hash(STYLE)
            )
        );
        assert_eq!(page.headers()["cache-control"], "no-store");
        assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
        // The stylesheet the policy names is the one in the document.
        assert!(document("t", "").contains(&format!("<style>{STYLE}</style>")));
    }

    #[test]
    fn ratios_read_as_percentages_and_chart_as_basis_points() {
        assert_eq!(ratio_percent(Decimal::new(1250, 4)), "12.50%");
        assert_eq!(ratio_percent(Decimal::new(10000, 4)), "100.00%");
        assert_eq!(ratio_percent(Decimal::ZERO), "0.00%");
        assert_eq!(basis_points(Decimal::new(6667, 4)), 6667);
        assert_eq!(basis_points(Decimal::new(1, 0)), 10_000);
        assert_eq!(
            label("付款", "<P>"),
            "付款 <span class=\"en\">&lt;P&gt;</span>"
        );
    }
}
