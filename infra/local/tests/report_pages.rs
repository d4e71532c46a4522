//! The daily reconciliation report as a page (SPEC §11) on the local stack:
//! orders paid through the simulated WeChat Pay and Alipay, the day
//! reconciled through `POST /admin/reconciliations/{date}`, then
//! `GET /shops/{shop_id}/reconciliations/{date}` read as a browser reads it
//! (HTML with its charts) and as an API client does (the JSON, unchanged),
//! over HTTP on both stores; and opened in headless Chromium
//! (`qrpay_local::webdriver`), its charts measured and a screenshot kept as
//! `target/browser-artifacts/daily_report_page/01-daily-report.png`.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{FixedOffset, Timelike};

use common::{world, world_on, World};
use qrpay_domain::money_text::format_fen;
use qrpay_domain::{BusinessDate, LedgerKind, Money, ShopId};
use qrpay_local::client::Answer;
use qrpay_local::webdriver::{Artifacts, ChromeDriver, Device};
use qrpay_local::Backend;
use qrpay_report_html::chart;
use serde_json::{json, Value};

const SHOP: &str = "demo-shop";
/// What Chromium sends when it opens a page.
const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,\
    image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7";

/// A reconciled day of the demo shop: its date, and the Beijing hour each
/// payment was made in (by the orders' `paid_at`).
struct Day {
    date: String,
    hours: Vec<u32>,
}

impl World {
    fn owner(&self) -> Option<&str> {
        Some(self.running.demo.owner.as_str())
    }

    /// A dynamic code of `amount` through `provider`, paid by the buyer:
    /// the Beijing day and hour of its payment.
    async fn paid(&self, provider: &str, no: &str, amount: &str) -> (String, u32) {
        let body = json!({"kind": "dynamic", "amount": amount, "out_order_no": no,
            "provider": provider});
        let path = format!("/shops/{SHOP}/qr-codes");
        let code = self.ok_as("POST", &path, self.owner(), Some(body)).await;
        let pay = json!({"code": code["provider_code"]});
        self.ok_as("POST", &format!("/sandbox/{provider}/pay"), None, Some(pay))
            .await;
        let order_id = code["order_id"].as_str().unwrap();
        let path = format!("/shops/{SHOP}/orders/{order_id}");
        for _ in 0..100 {
            let order = self.ok_as("GET", &path, self.owner(), None).await;
            // `2026-11-20T14:05:09.123+08:00`
            if let Some(paid_at) = order["paid_at"].as_str() {
                return (paid_at[..10].to_owned(), paid_at[11..13].parse().unwrap());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{no} was not paid");
    }

    /// Three payments (WeChat Pay 40.00 twice, Alipay 12.50), then the next
    /// day the reconciliation of theirs, once its report is there.
    async fn reconciled_day(&self) -> Day {
        let mut paid = Vec::new();
        for (provider, no, amount) in [
            ("wechatpay", "RP-W1", "40.00"),
            ("wechatpay", "RP-W2", "40.00"),
            ("alipay", "RP-A1", "12.50"),
        ] {
            paid.push(self.paid(provider, no, amount).await);
        }
        let date = paid[0].0.clone();
        assert!(paid.iter().all(|(d, _)| *d == date), "{paid:?}");
        let hours = paid.iter().map(|(_, h)| *h).collect();
        let clock = json!({"advance_s": 86_400});
        self.ok_as("POST", "/sandbox/clock", None, Some(clock))
            .await;
        let admin = Some(self.running.demo.admin.as_str());
        self.ok_as(
            "POST",
            &format!("/admin/reconciliations/{date}"),
            admin,
            None,
        )
        .await;
        for _ in 0..200 {
            if self.report(&date, Some("application/json")).await.status == 200 {
                return Day { date, hours };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no report of {date}");
    }

    /// The day's payments in the shop's ledger as the summary should count
    /// them: all, by Beijing hour (UTC+8), by provider.
    async fn ledger_payments(&self, date: &str) -> (Value, Vec<Value>, Value) {
        let shop = ShopId::parse(SHOP).unwrap();
        let date = BusinessDate::parse(date).unwrap();
        let ledger = self
            .running
            .stack
            .store
            .list_ledger(&shop, date)
            .await
            .unwrap();
        let beijing = FixedOffset::east_opt(8 * 3600).unwrap();
        let mut all = (0_u64, 0_i64);
        let mut hours = vec![(0_u64, 0_i64); 24];
        let mut providers: BTreeMap<String, (u64, i64)> = BTreeMap::new();
        for entry in ledger.iter().filter(|e| e.kind == LedgerKind::Payment) {
            let fen = entry.amount.money().fen();
            let hour = entry.created_at.with_timezone(&beijing).hour() as usize;
            let provider = entry.provider.map_or("unknown", |p| p.as_str()).to_owned();
            for slot in [
                &mut all,
                &mut hours[hour],
                providers.entry(provider).or_default(),
            ] {
                slot.0 += 1;
                slot.1 += fen;
            }
        }
        let tally = |(count, fen): (u64, i64)| json!({"count": count, "total": format_fen(fen)});
        let by_provider: serde_json::Map<String, Value> =
            providers.into_iter().map(|(p, t)| (p, tally(t))).collect();
        (
            tally(all),
            hours.into_iter().map(tally).collect(),
            Value::Object(by_provider),
        )
    }

    /// The owner's `GET …/reconciliations/{date}` with `accept`.
    async fn report(&self, date: &str, accept: Option<&str>) -> Answer {
        self.report_at(&format!("/shops/{SHOP}/reconciliations/{date}"), accept)
            .await
    }

    async fn report_at(&self, path: &str, accept: Option<&str>) -> Answer {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("accept", a)).into_iter().collect();
        self.client
            .send("GET", path, self.owner(), &headers, None)
            .await
            .unwrap()
    }
}

fn money_fen(text: &Value) -> i64 {
    Money::parse(text.as_str().unwrap()).unwrap().fen()
}

/// A report's HTML answer: 200 with the page's headers; its text.
fn html_of(a: &Answer) -> String {
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(a.header("cache-control"), Some("no-store"));
    let csp = a.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.starts_with("default-src 'none'; style-src 'sha256-")
            && csp.contains("script-src 'none'"),
        "{csp}"
    );
    a.text()
}

async fn the_daily_report_answers_a_browser_html_and_a_client_json(w: World) {
    let day = w.reconciled_day().await;
    let json_answer = w.report(&day.date, Some("application/json")).await;
    assert_eq!(json_answer.header("content-type"), Some("application/json"));
    let report = json_answer.json();
    let summary = &report["summary"];
    // The tally of the run: every payment of the ledger (ours and the
    // demo's own) in the Beijing hour it was paid, and by provider.
    let (payments, by_hour, by_provider) = w.ledger_payments(&day.date).await;
    assert_eq!(summary["payments"], payments, "{summary}");
    assert_eq!(summary["payments_by_hour"], json!(by_hour));
    assert_eq!(summary["payments_by_provider"], by_provider);
    for hour in &day.hours {
        assert!(
            by_hour[*hour as usize]["count"].as_u64() > Some(0),
            "{by_hour:?}"
        );
    }
    let wechat = by_provider["wechatpay"]["count"].as_u64().unwrap_or(0);
    assert!(
        wechat >= 2 && by_provider["alipay"]["count"].as_u64() >= Some(1),
        "{by_provider}"
    );
    // `*/*` and no Accept: the same JSON, byte for byte.
    for accept in [Some("*/*"), None, Some("application/json, text/html")] {
        let again = w.report(&day.date, accept).await;
        assert_eq!(
            again.header("content-type"),
            Some("application/json"),
            "{accept:?}"
        );
        assert_eq!(again.json(), report, "{accept:?}");
    }

    let page = html_of(&w.report(&day.date, Some(BROWSER_ACCEPT)).await);
    assert!(
        page.contains(&format!("<title>对账日报 {SHOP} {}</title>", day.date)),
        "{page}"
    );
    assert!(page.contains(&format!("<dd id=\"date\">{}</dd>", day.date)));
    assert!(page.contains(&format!(
        "<tr id=\"n-payments\"><th>付款 <span class=\"en\">Payments</span></th><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
        payments["count"],
        payments["total"].as_str().unwrap()
    )));
    assert!(page.contains(&format!(
        "<span class=\"count\">{}</span></h2>",
        summary["discrepancies"]
    )));
    for (hour, tally) in by_hour.iter().enumerate() {
        let title = format!(
            "<title>{hour}: {} ({})</title>",
            tally["total"].as_str().unwrap(),
            tally["count"]
        );
        assert!(page.contains(&title), "{title}");
    }
    let total = money_fen(&payments["total"]);
    for (provider, tally) in by_provider.as_object().unwrap() {
        let share = chart::percent(i128::from(money_fen(&tally["total"])), i128::from(total));
        let legend = format!(
            ">{provider}  {} ({})  {share}</text>",
            tally["total"].as_str().unwrap(),
            tally["count"]
        );
        assert!(page.contains(&legend), "{legend}");
    }
    // Every row of the report is on the page, discrepancies first.
    let rows = report["rows"].as_array().unwrap();
    let payment_rows = rows.iter().filter(|r| r["kind"] == "PAYMENT").count();
    assert_eq!(json!(payment_rows), payments["count"], "{report}");
    let folded = page.find("<details>").unwrap();
    for row in rows {
        let no = row["order_no"].as_str().unwrap();
        let agreed = row["outcome"] == "MATCHED" || row["outcome"] == "INTERNAL";
        let part = if agreed {
            &page[folded..]
        } else {
            &page[..folded]
        };
        assert!(part.contains(no), "{row}");
    }
    // A file stays a file, whatever the browser accepts.
    let csv = w
        .report_at(
            &format!("/shops/{SHOP}/reconciliations/{}?format=csv", day.date),
            Some(BROWSER_ACCEPT),
        )
        .await;
    assert_eq!(csv.status, 200);
    assert!(csv
        .header("content-type")
        .unwrap_or_default()
        .starts_with("text/csv"));
    // The page is the owner's as the JSON is: no token, no page.
    let path = format!("/shops/{SHOP}/reconciliations/{}", day.date);
    let anonymous = w
        .client
        .send("GET", &path, None, &[("accept", BROWSER_ACCEPT)], None)
        .await
        .unwrap();
    assert_eq!(anonymous.status, 401, "{}", anonymous.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_report_page_on_the_embedded_store() {
    the_daily_report_answers_a_browser_html_and_a_client_json(world().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_report_page_on_dynamodb() {
    let backend = Backend::Aws {
        endpoint: qrpay_tests::emulator::endpoint().to_owned(),
        table: qrpay_tests::unique_name("qrpay-local-report"),
        queue: qrpay_tests::unique_name("qrpay-local-report"),
    };
    the_daily_report_answers_a_browser_html_and_a_client_json(world_on(backend).await).await;
}

/// Headless Chromium opens the page with the owner's token: the charts are
/// drawn (24 hour bars, standing where the payments were, one segment per
/// provider in proportion), the page's stylesheet applies under its
/// policy, the console stays clean, and the screenshot is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_shows_the_daily_report_with_its_charts() {
    let w = world().await;
    let day = w.reconciled_day().await;
    let artifacts = Artifacts::fresh("daily_report_page").unwrap();
    let driver = ChromeDriver::start(&artifacts).await.unwrap();
    let mut desk = driver.session(&Device::desktop(2000)).await.unwrap();
    let bearer = format!("Bearer {}", w.running.demo.owner);
    desk.set_extra_headers(&[("Authorization", &bearer)])
        .await
        .unwrap();
    let url = format!(
        "http://{}/shops/{SHOP}/reconciliations/{}",
        w.running.addr, day.date
    );
    desk.goto(&url).await.unwrap();
    assert_eq!(
        desk.title().await.unwrap(),
        format!("对账日报 {SHOP} {}", day.date)
    );
    let (payments, by_hour, by_provider) = w.ledger_payments(&day.date).await;
    let row = desk.find("#n-payments").await.unwrap();
    let expected = format!(
        "付款 Payments {} {}",
        payments["count"],
        payments["total"].as_str().unwrap()
    );
    assert_eq!(desk.text(&row).await.unwrap(), expected);

    let measured = desk
        .execute(
            "const size = e => { const r = e.getBoundingClientRect(); \
               return [r.width, r.height]; };\
             const hours = document.querySelector('svg.chart.hours');\
             const bars = [...hours.querySelectorAll('rect.bar')].map(size);\
             const segments = [...document.querySelectorAll('svg.chart.providers rect.segment')].map(size);\
             return {hours: size(hours), bars, segments,\
               main: getComputedStyle(document.querySelector('main')).maxWidth};",
            vec![],
        )
        .await
        .unwrap();
    // The stylesheet applied: the policy let it through by its hash.
    assert_eq!(measured["main"], "1100px", "{measured}");
    let chart = &measured["hours"];
    assert!(
        chart[0].as_f64() >= Some(320.0) && chart[1].as_f64() > Some(100.0),
        "{measured}"
    );
    let bars = measured["bars"].as_array().unwrap();
    assert_eq!(bars.len(), 24, "{measured}");
    let heights: Vec<f64> = bars.iter().map(|b| b[1].as_f64().unwrap()).collect();
    let tallest = heights.iter().copied().fold(0.0, f64::max);
    assert!(tallest > 50.0, "{heights:?}");
    for (hour, height) in heights.iter().enumerate() {
        let paid = by_hour[hour]["count"].as_u64() > Some(0);
        assert_eq!(*height > 0.0, paid, "hour {hour}: {heights:?}");
    }
    for hour in &day.hours {
        assert!(heights[*hour as usize] > 0.0, "{heights:?}");
    }
    // One segment per provider, as wide as its share of the drawn bar
    // (within a pixel of the drawing's rounding to whole units).
    let segments = measured["segments"].as_array().unwrap();
    let providers = by_provider.as_object().unwrap();
    assert_eq!(segments.len(), providers.len(), "{measured}");
    let drawn: f64 = segments.iter().map(|s| s[0].as_f64().unwrap()).sum();
    let total = money_fen(&payments["total"]) as f64;
    for (segment, tally) in segments.iter().zip(providers.values()) {
        let width = segment[0].as_f64().unwrap();
        let expected = money_fen(&tally["total"]) as f64 * drawn / total;
        assert!(
            (width - expected).abs() <= 2.0,
            "{segment} of {drawn}: {tally}"
        );
    }

    let mut shots = vec![desk.checkpoint("01-daily-report").await.unwrap()];

    // The matched rows are folded; a click (no script) unfolds them.
    let matched_rows = "return [...document.querySelectorAll('#matched-rows tr.agreed')]\
        .filter(r => r.checkVisibility()).length";
    assert_eq!(desk.execute(matched_rows, vec![]).await.unwrap(), json!(0));
    let fold = desk.find("#matched summary").await.unwrap();
    desk.click(&fold).await.unwrap();
    let matched = by_outcome(&w, &day.date, true).await;
    assert_eq!(
        desk.execute(matched_rows, vec![]).await.unwrap(),
        json!(matched)
    );
    shots.push(desk.checkpoint("02-matched-rows").await.unwrap());

    // The month's KPIs as a page: the day's payments stand in its charts.
    let month = &day.date[..7];
    let url = format!("http://{}/shops/{SHOP}/kpis?month={month}", w.running.addr);
    desk.goto(&url).await.unwrap();
    assert_eq!(
        desk.title().await.unwrap(),
        format!("月度指标 {SHOP} {month}")
    );
    let tile = desk.find("#t-payments .v").await.unwrap();
    assert_eq!(
        desk.text(&tile).await.unwrap(),
        format!(
            "{} / {}",
            payments["total"].as_str().unwrap(),
            payments["count"]
        )
    );
    let charts = desk
        .execute(
            "const size = e => { const r = e.getBoundingClientRect(); \
               return [r.width, r.height]; };\
             return {charts: [...document.querySelectorAll('svg.chart')].map(size),\
               bars: [...document.querySelectorAll('svg.chart.payments rect.bar')].map(size)};",
            vec![],
        )
        .await
        .unwrap();
    let drawn = charts["charts"].as_array().unwrap();
    assert_eq!(drawn.len(), 4, "{charts}");
    assert!(
        drawn.iter().all(|c| c[0].as_f64() > Some(100.0)),
        "{charts}"
    );
    // One reconciled day: one bar, standing.
    let bars = charts["bars"].as_array().unwrap();
    assert_eq!(bars.len(), 1, "{charts}");
    assert!(bars[0][1].as_f64() > Some(20.0), "{charts}");
    shots.push(desk.checkpoint("03-month-kpis").await.unwrap());
    for shot in &shots {
        let png = std::fs::read(shot).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{}", shot.display());
        println!("report page screenshot: {}", shot.display());
    }
    desk.quit().await.unwrap();
}

/// How many rows of the day's JSON report agree (`MATCHED`, `INTERNAL`),
/// or are discrepancies.
async fn by_outcome(w: &World, date: &str, agreed: bool) -> usize {
    let report = w.report(date, None).await.json();
    let rows = report["rows"].as_array().unwrap();
    rows.iter()
        .filter(|r| (r["outcome"] == "MATCHED" || r["outcome"] == "INTERNAL") == agreed)
        .count()
}
