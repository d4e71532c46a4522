//! Acceptance (issue 5): a day with a known discrepancy of every kind, in
//! each statement format, gives a report that lists exactly those — right
//! outcome, amounts and notes — and nothing else; a re-run replaces it and
//! raises no alert twice; bad input is reported, never dropped.

use std::collections::BTreeMap;
use std::io::BufWriter;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use qrpay_domain::{
    Amount, BusinessDate, LedgerEntry, LedgerKind, OrderId, Provider, ReconciliationSummary, ShopId,
};
use qrpay_reconcile::bank::{batch_id, BankReceipt, ReceiptWriter};
use qrpay_reconcile::objects::{receipts_key, statement_key, LocalDir, ObjectStore};
use qrpay_reconcile::statement::{Format, StatementWriter};
use qrpay_reconcile::{
    LedgerSource, MovementKind, ProviderStatus, ReconcileError, Reconciler, RunReport, StatementRow,
};
use qrpay_store::alerts::MemoryAlerts;
use qrpay_store::{
    ledger_part, ledger_position, ClaimStore, LedgerPage, MemoryStore, ReconciliationStore,
    StoreError,
};
use serde_json::Value;

fn day() -> BusinessDate {
    BusinessDate::parse("2026-11-20").unwrap()
}

/// `hh:mm` on the day, Beijing time.
fn at(hhmm: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("2026-11-20T{hhmm}:00+08:00"))
        .unwrap()
        .with_timezone(&Utc)
}

/// A ledger served from a vector, paged like the store.
struct VecLedger(Vec<LedgerEntry>);

#[async_trait]
impl LedgerSource for VecLedger {
    async fn ledger_page(
        &self,
        date: BusinessDate,
        part: u16,
        after: Option<&str>,
        limit: usize,
    ) -> Result<LedgerPage, StoreError> {
        let mut mine: Vec<&LedgerEntry> = self
            .0
            .iter()
            .filter(|e| e.business_date == date && ledger_part(&e.shop_id) == part)
            .collect();
        mine.sort_by_key(|e| ledger_position(e));
        let rest: Vec<LedgerEntry> = mine
            .into_iter()
            .filter(|e| after.is_none_or(|a| ledger_position(e).as_str() > a))
            .take(limit + 1)
            .cloned()
            .collect();
        let mut entries = rest;
        let next = if entries.len() > limit {
            entries.truncate(limit);
            entries.last().map(ledger_position)
        } else {
            None
        };
        Ok(LedgerPage { entries, next })
    }
}

#[allow(clippy::too_many_arguments)]
fn entry(
    shop: &str,
    kind: LedgerKind,
    reference: &str,
    provider_ref: &str,
    amount: &str,
    provider: Option<Provider>,
    period: Option<u8>,
    plan: Option<u8>,
    time: &str,
) -> LedgerEntry {
    LedgerEntry {
        entry_id: format!("{kind:?}-{provider_ref}"),
        shop_id: ShopId::parse(shop).unwrap(),
        kind,
        amount: Amount::parse(amount).unwrap(),
        business_date: day(),
        reference: reference.to_owned(),
        provider_ref: Some(provider_ref.to_owned()),
        order_id: OrderId::parse(reference).ok(),
        provider,
        period,
        plan_periods: plan,
        customer: (kind == LedgerKind::Payment && reference == "ord-A")
            .then(|| "张* 138****1234".to_owned()),
        created_at: at(time),
    }
}

/// Our books for the day (provider `p`; payouts name no provider).
fn ledger(p: Provider) -> Vec<LedgerEntry> {
    use LedgerKind::*;
    let s = Some(p);
    vec![
        entry(
            "shop-1",
            Payment,
            "ord-A",
            "tA",
            "300.00",
            s,
            None,
            Some(3),
            "09:00",
        ),
        entry(
            "shop-1",
            Fee,
            "ord-A",
            "tA",
            "6.90",
            s,
            None,
            Some(3),
            "09:00",
        ),
        entry(
            "shop-1",
            InstalmentDeduction,
            "ord-A",
            "dA1",
            "100.00",
            s,
            Some(1),
            Some(3),
            "09:30",
        ),
        entry(
            "shop-1", Payment, "ord-B", "tB", "50.00", s, None, None, "10:00",
        ),
        entry(
            "shop-1", Payment, "ord-C", "tC", "20.00", s, None, None, "11:00",
        ),
        entry(
            "shop-1", Payment, "ord-E", "tE1", "80.00", s, None, None, "12:00",
        ),
        entry(
            "shop-1", Refund, "ord-F", "rF", "10.00", s, None, None, "13:00",
        ),
        entry(
            "shop-1", Payout, "pay-G", "trG", "5.00", None, None, None, "14:00",
        ),
        entry(
            "shop-2", Payment, "ord-H", "tH", "30.00", s, None, None, "15:00",
        ),
    ]
}

#[allow(clippy::too_many_arguments)]
fn row(
    p: Provider,
    shop: &str,
    kind: MovementKind,
    reference: &str,
    provider_ref: &str,
    period: Option<u8>,
    amount_fen: i64,
    fee_fen: i64,
    status: ProviderStatus,
    time: &str,
) -> StatementRow {
    StatementRow {
        line: 0,
        provider: p,
        shop_id: shop.to_owned(),
        kind,
        reference: reference.to_owned(),
        provider_ref: provider_ref.to_owned(),
        period,
        amount_fen,
        fee_fen,
        status,
        occurred_at: at(time),
        payer: (reference == "ord-A" && kind == MovementKind::Payment)
            .then(|| "张* 138****1234".to_owned()),
    }
}

/// What the provider says about the day.
fn statement(p: Provider) -> Vec<StatementRow> {
    use MovementKind::*;
    use ProviderStatus::*;
    vec![
        row(
            p, "shop-1", Payment, "ord-A", "tA", None, 30_000, 690, Success, "09:00",
        ),
        row(
            p,
            "shop-1",
            Deduction,
            "ord-A",
            "dA1",
            Some(1),
            10_000,
            0,
            Success,
            "09:30",
        ),
        row(
            p,
            "shop-1",
            Deduction,
            "ord-A",
            "dA2",
            Some(2),
            10_000,
            0,
            Failed,
            "09:31",
        ),
        row(
            p, "shop-1", Payment, "ord-B", "tB", None, 4_900, 0, Success, "10:00",
        ),
        row(
            p, "shop-2", Payment, "ord-D", "tD", None, 1_500, 0, Success, "10:30",
        ),
        row(
            p, "shop-1", Payment, "ord-E", "tE1", None, 8_000, 0, Success, "12:00",
        ),
        row(
            p, "shop-1", Payment, "ord-E", "tE2", None, 8_000, 0, Success, "12:01",
        ),
        row(
            p, "shop-1", Refund, "ord-F", "rF", None, 1_000, 0, Processing, "13:00",
        ),
        row(
            p, "shop-1", Payout, "pay-G", "trG", None, 500, 0, Success, "14:00",
        ),
        row(
            p, "shop-2", Payment, "ord-H", "tH", None, 3_000, 0, Success, "15:00",
        ),
    ]
}

fn statement_bytes(p: Provider, rows: &[StatementRow]) -> Vec<u8> {
    let mut w = StatementWriter::new(Format::for_provider(p), p, day(), Vec::new()).unwrap();
    for r in rows {
        w.row(r).unwrap();
    }
    w.finish().unwrap()
}

fn receipts_bytes(receipts: &[(Provider, &str, i64)]) -> Vec<u8> {
    let mut w = ReceiptWriter::new(day(), BufWriter::new(Vec::new())).unwrap();
    for (i, (p, shop, fen)) in receipts.iter().enumerate() {
        w.receipt(&BankReceipt {
            line: 0,
            receipt_id: format!("BR{i:04}"),
            batch_id: batch_id(*p, shop, day()),
            provider: *p,
            shop_id: (*shop).to_owned(),
            amount_fen: *fen,
            value_date: day().succ().naive(),
        })
        .unwrap();
    }
    w.finish().unwrap().into_inner().unwrap()
}

struct Day {
    _dir: tempfile::TempDir,
    objects: Arc<LocalDir>,
    store: Arc<MemoryStore>,
    alerts: Arc<MemoryAlerts>,
    reconciler: Reconciler,
}

async fn a_day(p: Provider, ledger: Vec<LedgerEntry>) -> Day {
    let dir = tempfile::tempdir().unwrap();
    let objects = Arc::new(LocalDir::new(dir.path().join("objects")));
    let store = Arc::new(MemoryStore::new());
    let alerts = Arc::new(MemoryAlerts::new());
    let reconciler = Reconciler {
        ledger: Arc::new(VecLedger(ledger)),
        reconciliations: store.clone(),
        kpi_reads: store.clone(),
        claims: store.clone(),
        objects: objects.clone(),
        alerts: alerts.clone(),
        work_dir: dir.path().join("work"),
        partitions: 4,
        payout_provider: p,
        progress: None,
    };
    Day {
        _dir: dir,
        objects,
        store,
        alerts,
        reconciler,
    }
}

impl Day {
    async fn put(&self, key: &str, bytes: Vec<u8>) {
        self.objects.put(key, bytes, "text/csv").await.unwrap();
    }

    async fn run(&self) -> RunReport {
        self.reconciler
            .run(day(), at("10:30").succ_day())
            .await
            .unwrap()
    }

    async fn report(&self, shop: &str) -> Value {
        let key = format!("reports/{}/{shop}.json", day());
        let bytes = self
            .objects
            .get(&key)
            .await
            .unwrap()
            .expect("report exists");
        // Stored as a table (columns once, rows as arrays); read back as
        // the API gives the rows, one object each.
        let mut doc: Value = serde_json::from_slice(&bytes).unwrap();
        assert!(doc["rows"].as_array().unwrap().iter().all(Value::is_array));
        doc["rows"] = Value::Array(qrpay_reconcile::report_json::rows_of(doc.clone()).unwrap());
        doc
    }

    async fn summary(&self, shop: &str) -> ReconciliationSummary {
        self.store
            .get_reconciliation(&ShopId::parse(shop).unwrap(), day())
            .await
            .unwrap()
            .expect("summary stored")
    }

    /// The day's statement of `p` as fixed above, and one bank receipt per
    /// shop (shop-1 correct at 497.10, shop-2's at `shop2_fen`).
    async fn put_inputs(&self, p: Provider, shop2_fen: i64) {
        self.put(&statement_key(day(), p), statement_bytes(p, &statement(p)))
            .await;
        self.put(
            &receipts_key(day()),
            receipts_bytes(&[(p, "shop-1", 49_710), (p, "shop-2", shop2_fen)]),
        )
        .await;
    }

    /// No report, summary or alert of the day.
    async fn assert_nothing_published(&self) {
        assert_eq!(
            self.objects
                .list(&format!("reports/{}/", day()))
                .await
                .unwrap(),
            Vec::<String>::new()
        );
        assert!(self
            .store
            .get_reconciliation(&ShopId::parse("shop-1").unwrap(), day())
            .await
            .unwrap()
            .is_none());
        assert!(self.alerts.raised().is_empty());
    }

    fn alert_codes(&self) -> Vec<String> {
        let mut codes: Vec<String> = self.alerts.raised().into_iter().map(|a| a.code).collect();
        codes.sort();
        codes
    }
}

trait NextDay {
    fn succ_day(self) -> Self;
}

impl NextDay for DateTime<Utc> {
    fn succ_day(self) -> Self {
        self + chrono::Duration::days(1)
    }
}

/// (order_no, kind, provider_ref, outcome, ledger, provider, reconciled, note)
type Line = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
);

fn lines(report: &Value) -> Vec<Line> {
    let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                text(&r["order_no"]),
                text(&r["kind"]),
                text(&r["provider_ref"]),
                text(&r["outcome"]),
                text(&r["ledger_amount"]),
                text(&r["provider_amount"]),
                text(&r["reconciled_amount"]),
                text(&r["note"]),
            )
        })
        .collect()
}

fn l(parts: [&str; 8]) -> Line {
    let [a, b, c, d, e, f, g, h] = parts.map(str::to_owned);
    (a, b, c, d, e, f, g, h)
}

/// Where a format's first detail row sits.
fn first_line(p: Provider) -> u64 {
    match Format::for_provider(p) {
        Format::Qrpay | Format::Wechat | Format::Douyin => 2,
        Format::Alipay => 6,
    }
}

async fn every_kind_of_discrepancy_is_reported_exactly(p: Provider) {
    let d = a_day(p, ledger(p)).await;
    // shop-1 settles 300 + 49 + 80 + 80 − 6.90 fee − 5.00 payout = 497.10
    // (the refund is still processing; deductions settle elsewhere);
    // shop-2 should get 45.00 and the bank credited 44.00.
    d.put_inputs(p, 4_400).await;
    let run = d.run().await;
    assert!(run.gaps.is_empty(), "{:?}", run.gaps);

    let n = |i: u64| (first_line(p) + i).to_string();
    let batch1 = batch_id(p, "shop-1", day());
    let batch2 = batch_id(p, "shop-2", day());
    assert_eq!(
        lines(&d.report("shop-1").await),
        vec![
            l(["ord-A", "PAYMENT", "tA", "MATCHED", "300.00", "300.00", "300.00", ""]),
            l(["ord-A", "FEE", "tA", "MATCHED", "6.90", "6.90", "6.90", ""]),
            l(["ord-A", "DEDUCTION", "dA1", "MATCHED", "100.00", "100.00", "100.00", ""]),
            l(["ord-A", "DEDUCTION", "dA2", "MATCHED", "", "100.00", "0.00",
                "deduction of period 2 FAILED at the provider; no money moved and none is booked"]),
            l(["ord-B", "PAYMENT", "tB", "AMOUNT_MISMATCH", "50.00", "49.00", "",
                &format!("ledger 50.00, provider 49.00 (line {}): difference -1.00", n(3))]),
            l(["ord-C", "PAYMENT", "tC", "MISSING_IN_PROVIDER", "20.00", "", "",
                "payment of 20.00 in our ledger; the provider's statement does not list tC"]),
            l(["ord-E", "PAYMENT", "tE1", "MATCHED", "80.00", "80.00", "80.00", ""]),
            l(["ord-E", "PAYMENT", "tE2", "DUPLICATE", "", "80.00", "",
                &format!("second payment of order ord-E by the provider: tE2 for 80.00 (line {}); the first is tE1", n(6))]),
            l(["ord-F", "REFUND", "rF", "STATUS_MISMATCH", "10.00", "10.00", "",
                &format!("our ledger booked refund rF of 10.00; the provider says PROCESSING (line {})", n(7))]),
            l(["pay-G", "PAYOUT", "trG", "MATCHED", "5.00", "5.00", "5.00", ""]),
            l([&batch1, "SETTLEMENT", "BR0000", "MATCHED", "497.10", "497.10", "497.10", ""]),
        ]
    );
    assert_eq!(
        lines(&d.report("shop-2").await),
        vec![
            l(["ord-D", "PAYMENT", "tD", "MISSING_IN_LEDGER", "", "15.00", "",
                &format!("the provider lists payment tD of 15.00 (line {}); our ledger has no such entry", n(4))]),
            l(["ord-H", "PAYMENT", "tH", "MATCHED", "30.00", "30.00", "30.00", ""]),
            l([&batch2, "SETTLEMENT", "BR0001", "SETTLEMENT_MISMATCH", "44.00", "45.00", "",
                "the bank credited 44.00, the provider settles 45.00: difference -1.00"]),
        ]
    );

    // The report's other columns: masked customer, instalments, deductions.
    let shop1 = d.report("shop-1").await;
    let first = &shop1["rows"][0];
    assert_eq!(first["customer"], "张* 138****1234");
    assert_eq!(first["instalment"], "3 periods");
    assert_eq!(first["resolution"], "NONE");
    assert_eq!(shop1["rows"][2]["instalment"], "period 1 of 3");
    assert_eq!(shop1["rows"][2]["deduction_status"], "DEDUCTED");
    assert_eq!(shop1["rows"][3]["deduction_status"], "FAILED");
    assert!(shop1["rows"][4]["resolution"]
        .as_str()
        .unwrap()
        .starts_with("OPEN: "));

    // The CSV: BOM, header, one line per row, same content.
    let csv = d
        .objects
        .get(&format!("reports/{}/shop-1.csv", day()))
        .await
        .unwrap()
        .unwrap();
    assert!(csv.starts_with(b"\xEF\xBB\xBF"));
    let text = String::from_utf8(csv[3..].to_vec()).unwrap();
    let csv_lines: Vec<&str> = text.lines().collect();
    assert_eq!(csv_lines.len(), 12);
    assert_eq!(csv_lines[0], qrpay_reconcile::report::CSV_HEADER);
    assert_eq!(
        csv_lines[1],
        format!(
            "2026-11-20,shop-1,ord-A,PAYMENT,{p},tA,张* 138****1234,3 periods,,300.00,300.00,300.00,MATCHED,,NONE,{},{}",
            first_line(p),
            qrpay_domain::RowId::of("PAYMENT", "ord-A", Some(p.as_str()), 0, None)
        )
    );
    // Every row has its own id, the duplicate statement line's included.
    let ids: std::collections::BTreeSet<&str> = shop1["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["row_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 11);

    // Summaries.
    let s1 = d.summary("shop-1").await;
    assert_eq!(s1.rows, 11);
    assert_eq!(s1.discrepancies, 4);
    assert_eq!(
        s1.outcomes,
        BTreeMap::from([
            ("AMOUNT_MISMATCH".to_owned(), 1),
            ("DUPLICATE".to_owned(), 1),
            ("INTERNAL".to_owned(), 0),
            ("MATCHED".to_owned(), 7),
            ("MISSING_IN_LEDGER".to_owned(), 0),
            ("MISSING_IN_PROVIDER".to_owned(), 1),
            ("SETTLEMENT_MISMATCH".to_owned(), 0),
            ("STATUS_MISMATCH".to_owned(), 1),
        ])
    );
    assert_eq!(
        (s1.payments.count, s1.payments.total.to_string()),
        (4, "450.00".into())
    );
    assert_eq!(
        (s1.refunds.count, s1.refunds.total.to_string()),
        (1, "10.00".into())
    );
    assert_eq!(s1.fees.total.to_string(), "6.90");
    assert_eq!((s1.deductions.count, s1.deductions_failed), (1, 1));
    assert_eq!(
        (s1.payouts.count, s1.payouts.total.to_string()),
        (1, "5.00".into())
    );
    assert_eq!(s1.monthly_pay_orders, 1);
    assert_eq!(s1.average_order_value.to_string(), "112.50");
    assert_eq!(s1.refund_ratio.to_string(), "0.0222");
    assert_eq!(s1.deduction_failure_rate.to_string(), "0.5000");
    assert_eq!(s1.settlement_expected.to_string(), "497.10");
    assert_eq!(s1.settlement_received.to_string(), "497.10");
    assert!(s1.gaps.is_empty(), "{:?}", s1.gaps);
    let s2 = d.summary("shop-2").await;
    assert_eq!((s2.rows, s2.discrepancies), (3, 2));
    assert_eq!(s2.settlement_expected.to_string(), "45.00");
    assert_eq!(s2.settlement_received.to_string(), "44.00");

    // The run, and one alert per class.
    assert_eq!(
        (run.ledger_rows, run.statement_rows, run.report_rows),
        (9, 10, 14)
    );
    assert_eq!((run.shops, run.discrepancies, run.input_errors), (2, 6, 0));
    assert_eq!(
        d.alert_codes(),
        [
            "RECON_AMOUNT_MISMATCH",
            "RECON_DEDUCTION_FAILED",
            "RECON_DUPLICATE",
            "RECON_MISSING_IN_LEDGER",
            "RECON_MISSING_IN_PROVIDER",
            "RECON_SETTLEMENT_MISMATCH",
            "RECON_STATUS_MISMATCH",
        ]
    );
    let duplicate = d
        .alerts
        .raised()
        .into_iter()
        .find(|a| a.code == "RECON_DUPLICATE")
        .unwrap();
    assert_eq!(duplicate.shop_id.as_deref(), Some("shop-1"));
    assert!(duplicate.message.contains("ord-E"), "{}", duplicate.message);
    assert!(
        duplicate.message.contains("80.00 involved"),
        "{}",
        duplicate.message
    );
    assert!(
        !duplicate.message.contains("138"),
        "no personal data in alerts"
    );
}

#[tokio::test]
async fn the_sandbox_bill_every_discrepancy() {
    every_kind_of_discrepancy_is_reported_exactly(Provider::Sandbox).await;
}

#[tokio::test]
async fn a_wechat_style_bill_every_discrepancy() {
    every_kind_of_discrepancy_is_reported_exactly(Provider::Wechatpay).await;
}

#[tokio::test]
async fn an_alipay_style_bill_every_discrepancy() {
    every_kind_of_discrepancy_is_reported_exactly(Provider::Alipay).await;
}

/// Douyin's bill holds payments and refunds only (no fee, deduction or
/// payout), its refunds in a second table after the payments.
#[tokio::test]
async fn a_douyin_bill_its_payments_and_refunds() {
    use LedgerKind::{Payment, Refund};
    use MovementKind as K;
    use ProviderStatus::{Processing, Success};
    let p = Provider::Douyin;
    let s = Some(p);
    let d = a_day(
        p,
        vec![
            entry(
                "shop-1", Payment, "ord-A", "tA", "300.00", s, None, None, "09:00",
            ),
            entry(
                "shop-1", Payment, "ord-B", "tB", "50.00", s, None, None, "10:00",
            ),
            entry(
                "shop-1", Payment, "ord-C", "tC", "20.00", s, None, None, "11:00",
            ),
            entry(
                "shop-1", Refund, "ord-A", "rA", "10.00", s, None, None, "13:00",
            ),
            entry(
                "shop-1", Refund, "ord-B", "rB", "5.00", s, None, None, "13:30",
            ),
        ],
    )
    .await;
    let rows: Vec<StatementRow> = [
        row(
            p,
            "shop-1",
            K::Payment,
            "ord-A",
            "tA",
            None,
            30_000,
            0,
            Success,
            "09:00",
        ),
        row(
            p,
            "shop-1",
            K::Refund,
            "ord-A",
            "rA",
            None,
            1_000,
            0,
            Success,
            "13:00",
        ),
        row(
            p,
            "shop-1",
            K::Payment,
            "ord-B",
            "tB",
            None,
            4_900,
            0,
            Success,
            "10:00",
        ),
        row(
            p,
            "shop-1",
            K::Refund,
            "ord-B",
            "rB",
            None,
            500,
            0,
            Processing,
            "13:30",
        ),
        row(
            p,
            "shop-1",
            K::Payment,
            "ord-D",
            "tD",
            None,
            1_500,
            0,
            Success,
            "10:30",
        ),
    ]
    .into_iter()
    .map(|r| StatementRow { payer: None, ..r })
    .collect();
    let bill = statement_bytes(p, &rows);
    let text = String::from_utf8(bill.clone()).unwrap();
    assert_eq!(
        text.lines().nth(4),
        Some("序号,退款时间,商户号,openId,订单号,渠道订单号,订单金额,支付方式,退款类型,退款单号,平台退款单号,退款状态,退款完成时间,退款金额")
    );
    d.put(&statement_key(day(), p), bill).await;
    // 300 + 49 + 15 − 10 (the refund of 5 is still processing).
    d.put(
        &receipts_key(day()),
        receipts_bytes(&[(p, "shop-1", 35_400)]),
    )
    .await;
    let run = d.run().await;
    assert!(run.gaps.is_empty(), "{:?}", run.gaps);
    let batch = batch_id(p, "shop-1", day());
    assert_eq!(
        lines(&d.report("shop-1").await),
        vec![
            l(["ord-A", "PAYMENT", "tA", "MATCHED", "300.00", "300.00", "300.00", ""]),
            l([
                "ord-B",
                "PAYMENT",
                "tB",
                "AMOUNT_MISMATCH",
                "50.00",
                "49.00",
                "",
                "ledger 50.00, provider 49.00 (line 3): difference -1.00"
            ]),
            l([
                "ord-D",
                "PAYMENT",
                "tD",
                "MISSING_IN_LEDGER",
                "",
                "15.00",
                "",
                "the provider lists payment tD of 15.00 (line 4); our ledger has no such entry"
            ]),
            l([
                "ord-C",
                "PAYMENT",
                "tC",
                "MISSING_IN_PROVIDER",
                "20.00",
                "",
                "",
                "payment of 20.00 in our ledger; the provider's statement does not list tC"
            ]),
            l(["ord-A", "REFUND", "rA", "MATCHED", "10.00", "10.00", "10.00", ""]),
            l([
                "ord-B",
                "REFUND",
                "rB",
                "STATUS_MISMATCH",
                "5.00",
                "5.00",
                "",
                "our ledger booked refund rB of 5.00; the provider says PROCESSING (line 7)"
            ]),
            l([
                &batch,
                "SETTLEMENT",
                "BR0000",
                "MATCHED",
                "354.00",
                "354.00",
                "354.00",
                ""
            ]),
        ]
    );
    assert_eq!((run.ledger_rows, run.statement_rows), (5, 5));
}

#[tokio::test]
async fn a_rerun_replaces_the_report_and_raises_nothing_twice() {
    let p = Provider::Sandbox;
    let d = a_day(p, ledger(p)).await;
    d.put_inputs(p, 4_400).await;
    let first = d.run().await;
    let csv_key = format!("reports/{}/shop-1.csv", day());
    let csv_before = d.objects.get(&csv_key).await.unwrap();
    let rows_before = d.report("shop-1").await["rows"].clone();
    let alerts_before = d.alerts.raised().len();
    assert_eq!(alerts_before, 7);

    let second = d.run().await;
    assert_ne!(first.run_id, second.run_id);
    assert_eq!(second.alerts_raised, Vec::<String>::new());
    assert_eq!(d.alerts.raised().len(), alerts_before, "one set of alerts");
    assert_eq!(
        d.objects.get(&csv_key).await.unwrap(),
        csv_before,
        "one report"
    );
    assert_eq!(d.report("shop-1").await["rows"], rows_before);
    assert_eq!(d.summary("shop-1").await.run_id, second.run_id);
    let mut keys = d
        .objects
        .list(&format!("reports/{}/", day()))
        .await
        .unwrap();
    keys.sort();
    assert_eq!(keys.len(), 4, "{keys:?}");

    // A corrected statement (the second charge refunded by the provider's
    // own correction, ord-D booked) changes the findings: the report is
    // replaced, a shop with nothing left loses its report, and only the
    // changed classes alert again.
    let corrected: Vec<StatementRow> = statement(p)
        .into_iter()
        .filter(|r| r.provider_ref != "tE2" && r.shop_id == "shop-1")
        .collect();
    d.put(&statement_key(day(), p), statement_bytes(p, &corrected))
        .await;
    let mut ledger = ledger(p);
    ledger.retain(|e| e.shop_id.as_str() == "shop-1");
    let d2 = Day {
        reconciler: Reconciler {
            ledger: Arc::new(VecLedger(ledger)),
            ..d.reconciler
        },
        ..d
    };
    d2.put(
        &receipts_key(day()),
        receipts_bytes(&[(p, "shop-1", 41_710)]),
    )
    .await;
    let third = d2.run().await;
    assert_eq!(third.shops, 1);
    assert_eq!(
        d2.objects
            .list(&format!("reports/{}/", day()))
            .await
            .unwrap(),
        [
            format!("reports/{}/shop-1.csv", day()),
            format!("reports/{}/shop-1.json", day())
        ]
    );
    assert!(d2
        .store
        .get_reconciliation(&ShopId::parse("shop-2").unwrap(), day())
        .await
        .unwrap()
        .is_none());
    assert!(!third.alerts_raised.contains(&"RECON_DUPLICATE".to_owned()));
}

/// One clean day with a sandbox statement, for the bad-input cases.
/// While another run holds the day, a run changes nothing and says so;
/// once the day is given back it runs, and gives the day back itself.
#[tokio::test]
async fn one_run_per_day_at_a_time() {
    let p = Provider::Sandbox;
    let d = a_day(p, ledger(p)).await;
    d.put_inputs(p, 4_400).await;
    let now = at("10:30").succ_day();
    let lease = qrpay_reconcile::run::run_lease_key(day());
    assert!(d
        .store
        .acquire_lease(
            &lease,
            "the other run",
            now,
            now + chrono::Duration::minutes(15)
        )
        .await
        .unwrap());
    let refused = d.reconciler.run(day(), now).await;
    assert!(
        matches!(refused, Err(ReconcileError::InProgress(date)) if date == day()),
        "{refused:?}"
    );
    d.assert_nothing_published().await;

    d.store
        .release_lease(&lease, "the other run")
        .await
        .unwrap();
    let run = d.run().await;
    assert_eq!(run.alerts_raised.len(), 7);
    // The run gave the day back: the next one may start at once.
    assert!(d
        .store
        .acquire_lease(
            &lease,
            "a later run",
            now,
            now + chrono::Duration::minutes(15)
        )
        .await
        .unwrap());
}

/// A ledger served one movement a page, whose store fails once it has
/// served `movements` of them.
struct FailingLedger {
    inner: VecLedger,
    movements: usize,
    served: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl LedgerSource for FailingLedger {
    async fn ledger_page(
        &self,
        date: BusinessDate,
        part: u16,
        after: Option<&str>,
        _limit: usize,
    ) -> Result<LedgerPage, StoreError> {
        use std::sync::atomic::Ordering::SeqCst;
        if self.served.load(SeqCst) >= self.movements {
            return Err(StoreError::Unavailable("throttled".into()));
        }
        let page = self.inner.ledger_page(date, part, after, 1).await?;
        self.served.fetch_add(page.entries.len(), SeqCst);
        Ok(page)
    }
}

#[tokio::test]
async fn a_ledger_read_that_fails_partway_fails_the_run_and_publishes_nothing() {
    let p = Provider::Sandbox;
    let mut d = a_day(p, ledger(p)).await;
    d.put_inputs(p, 4_400).await;
    // Three movements are read (and spilled), then the store fails with
    // the rest of the ledger still to come.
    let failing = Arc::new(FailingLedger {
        inner: VecLedger(ledger(p)),
        movements: 3,
        served: 0.into(),
    });
    d.reconciler.ledger = failing.clone();
    let failed = d.reconciler.run(day(), at("10:30").succ_day()).await;
    assert_eq!(failing.served.load(std::sync::atomic::Ordering::SeqCst), 3);
    assert!(ledger(p).len() > 3);
    assert!(
        matches!(&failed, Err(ReconcileError::Store(StoreError::Unavailable(m))) if m == "throttled"),
        "{failed:?}"
    );
    d.assert_nothing_published().await;
    // The scratch space is gone and the day is free: a run with the
    // store back reconciles it whole.
    assert_eq!(
        std::fs::read_dir(d.reconciler.work_dir.clone())
            .map(|dir| dir.count())
            .unwrap_or(0),
        0
    );
    d.reconciler.ledger = Arc::new(VecLedger(ledger(p)));
    let run = d.run().await;
    assert_eq!(run.ledger_rows, ledger(p).len() as u64);
    assert_eq!(run.alerts_raised.len(), 7);
}

async fn clean_day(statement_text: Option<Vec<u8>>, receipts: bool) -> (Day, RunReport) {
    let p = Provider::Sandbox;
    let d = a_day(p, ledger(p)).await;
    if let Some(bytes) = statement_text {
        d.put(&statement_key(day(), p), bytes).await;
    }
    if receipts {
        d.put(
            &receipts_key(day()),
            receipts_bytes(&[(p, "shop-1", 49_710), (p, "shop-2", 4_500)]),
        )
        .await;
    }
    let run = d.run().await;
    (d, run)
}

fn outcome_of(report: &Value, provider_ref: &str) -> String {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["provider_ref"] == provider_ref)
        .map(|r| r["outcome"].as_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("+")
}

#[tokio::test]
async fn a_malformed_line_is_reported_with_its_number_and_its_movement_is_not_lost() {
    let p = Provider::Sandbox;
    let text = String::from_utf8(statement_bytes(p, &statement(p))).unwrap();
    // Line 5 (ord-B's charge) gets an amount with three decimals.
    let broken = text.replacen(",49.00,", ",49.000,", 1);
    assert_ne!(broken, text);
    let (d, run) = clean_day(Some(broken.into_bytes()), true).await;
    assert_eq!(run.input_errors, 1);
    assert_eq!(run.statement_rows, 9);
    assert!(
        run.gaps.iter().any(|g| g.contains("line 5")),
        "{:?}",
        run.gaps
    );
    // ord-B's ledger payment stands unmatched rather than vanishing…
    assert_eq!(
        outcome_of(&d.report("shop-1").await, "tB"),
        "MISSING_IN_PROVIDER"
    );
    // …the rest still reconciles, and the gap is in the summary and alerted.
    assert_eq!(
        outcome_of(&d.report("shop-1").await, "tA"),
        "MATCHED+MATCHED"
    );
    assert!(d
        .summary("shop-1")
        .await
        .gaps
        .iter()
        .any(|g| g.contains("line 5")));
    assert!(d.alert_codes().contains(&"RECON_INPUT_GAP".to_owned()));
    let errors = d
        .objects
        .get(&format!("runs/{}/input-errors.json", day()))
        .await
        .unwrap()
        .expect("input errors published");
    let errors: Value = serde_json::from_slice(&errors).unwrap();
    assert_eq!(errors["count"], 1);
    assert_eq!(errors["first"][0]["line"], 5);
}

#[tokio::test]
async fn a_statement_in_the_wrong_encoding_is_a_gap_not_a_silent_pass() {
    let p = Provider::Alipay;
    let d = a_day(p, ledger(p)).await;
    // An Alipay bill must be GBK; this one is our UTF-8 CSV.
    d.put(
        &statement_key(day(), p),
        statement_bytes(Provider::Sandbox, &statement(Provider::Sandbox)),
    )
    .await;
    let run = d.run().await;
    assert_eq!(run.statement_rows, 0);
    assert_eq!(run.input_errors, 1);
    assert!(
        run.gaps
            .iter()
            .any(|g| g.contains("alipay statement") && g.contains("cannot be read")),
        "{:?}",
        run.gaps
    );
    let report = d.report("shop-1").await;
    assert_eq!(
        outcome_of(&report, "tA"),
        "MISSING_IN_PROVIDER+MISSING_IN_PROVIDER"
    );
    assert_eq!(outcome_of(&report, "trG"), "MISSING_IN_PROVIDER");
}

#[tokio::test]
async fn a_truncated_statement_reconciles_what_it_has_and_says_where_it_ends() {
    let p = Provider::Sandbox;
    let bytes = statement_bytes(p, &statement(p));
    // Cut inside line 8 (the second charge of ord-E).
    let text = String::from_utf8(bytes).unwrap();
    let cut: usize = text.lines().take(7).map(|l| l.len() + 1).sum::<usize>() + 10;
    let (d, run) = clean_day(Some(text.as_bytes()[..cut].to_vec()), true).await;
    assert_eq!(run.statement_rows, 6);
    assert!(run.input_errors >= 1);
    assert!(
        run.gaps.iter().any(|g| g.contains("line 8")),
        "{:?}",
        run.gaps
    );
    let report = d.report("shop-1").await;
    assert_eq!(outcome_of(&report, "tE1"), "MATCHED");
    assert_eq!(outcome_of(&report, "trG"), "MISSING_IN_PROVIDER");
    assert_eq!(outcome_of(&report, "tE2"), "");
}

#[tokio::test]
async fn a_missing_statement_or_bank_file_is_a_reported_gap() {
    let (d, run) = clean_day(None, false).await;
    assert!(
        run.gaps
            .iter()
            .any(|g| g.starts_with("no sandbox statement for 2026-11-20")),
        "{:?}",
        run.gaps
    );
    assert!(run
        .gaps
        .iter()
        .any(|g| g.starts_with("no bank receipts for 2026-11-20")));
    let report = d.report("shop-1").await;
    assert_eq!(outcome_of(&report, "tC"), "MISSING_IN_PROVIDER");
    assert_eq!(run.outcomes["MISSING_IN_PROVIDER"], 9);
    assert_eq!(run.outcomes["MATCHED"], 0);
    assert!(d.alert_codes().contains(&"RECON_INPUT_GAP".to_owned()));

    // Statement present, bank receipts missing: every batch is flagged.
    let p = Provider::Sandbox;
    let (d, run) = clean_day(Some(statement_bytes(p, &statement(p))), false).await;
    assert_eq!(run.outcomes["SETTLEMENT_MISMATCH"], 2);
    let rows = d.report("shop-2").await;
    let batch = rows["rows"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        batch["note"],
        "no bank receipts file; the provider settles 45.00"
    );
}

/// The benchmark's synthetic day, small: generator, reconciler and checker
/// agree on every injected discrepancy, by count and row by row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synthetic_day_yields_exactly_its_injected_discrepancies() {
    use qrpay_reconcile::synthetic::SyntheticDay;
    let dir = tempfile::tempdir().unwrap();
    let objects = Arc::new(LocalDir::new(dir.path().join("objects")));
    let synthetic = Arc::new(SyntheticDay::new(day(), 24_000));
    let expected = synthetic
        .write_inputs(objects.as_ref(), &dir.path().join("generate"))
        .await
        .unwrap();
    let store = Arc::new(MemoryStore::new());
    let reconciler = Reconciler {
        ledger: synthetic.clone(),
        reconciliations: store.clone(),
        kpi_reads: store.clone(),
        claims: store,
        objects: objects.clone(),
        alerts: Arc::new(MemoryAlerts::new()),
        work_dir: dir.path().join("work"),
        partitions: 16,
        payout_provider: Provider::Sandbox,
        progress: None,
    };
    let run = reconciler.run(day(), at("10:30").succ_day()).await.unwrap();
    assert_eq!(run.outcomes, expected.outcomes);
    assert_eq!(
        (run.ledger_rows, run.statement_rows, run.deductions_failed),
        (
            expected.ledger_rows,
            expected.statement_rows,
            expected.deductions_failed
        )
    );
    assert_eq!(expected.outcomes["AMOUNT_MISMATCH"], 240);
    assert_eq!(run.shops, 24);
    let mut rows = 0;
    for key in objects.list("reports/").await.unwrap() {
        if !key.ends_with(".csv") {
            continue;
        }
        let csv = objects.get(&key).await.unwrap().unwrap();
        let text = String::from_utf8(csv[3..].to_vec()).unwrap();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.splitn(14, ',').collect();
            synthetic.check_row(f[2], f[5], f[12]).unwrap();
            rows += 1;
        }
    }
    assert_eq!(rows, run.report_rows);
}

/// A platform operator's balance adjustments: reported as our own movements
/// (`INTERNAL`, no provider side), tallied in the summary, and never a
/// discrepancy, an alert or a gap.
#[tokio::test]
async fn balance_adjustments_are_internal_rows_not_discrepancies() {
    let p = Provider::Sandbox;
    let adjustment = |kind: LedgerKind, id: &str, amount: &str| LedgerEntry {
        entry_id: format!("adjustment-{id}"),
        shop_id: ShopId::parse("shop-1").unwrap(),
        kind,
        amount: Amount::parse(amount).unwrap(),
        business_date: day(),
        reference: id.to_owned(),
        provider_ref: None,
        order_id: None,
        provider: None,
        period: None,
        plan_periods: None,
        customer: None,
        created_at: at("11:00"),
    };
    let plain = a_day(p, ledger(p)).await;
    plain.put_inputs(p, 4_500).await;
    let before = plain.run().await;
    let mut books = ledger(p);
    books.push(adjustment(LedgerKind::AdjustmentCredit, "adj_1", "20.00"));
    books.push(adjustment(LedgerKind::AdjustmentDebit, "adj_2", "5.50"));
    let d = a_day(p, books).await;
    d.put_inputs(p, 4_500).await;
    let run = d.run().await;
    assert_eq!(run.discrepancies, before.discrepancies);
    assert_eq!(run.report_rows, before.report_rows + 2);
    assert_eq!(run.outcomes["INTERNAL"], 2);
    assert_eq!(run.gaps, before.gaps);
    assert_eq!(d.alert_codes(), plain.alert_codes());
    let report = d.report("shop-1").await;
    let rows: Vec<(&str, &str, &str, &str)> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "INTERNAL")
        .map(|r| {
            (
                r["order_no"].as_str().unwrap(),
                r["kind"].as_str().unwrap(),
                r["ledger_amount"].as_str().unwrap(),
                r["resolution"].as_str().unwrap_or(""),
            )
        })
        .collect();
    let resolution = "NONE: a platform operator's balance adjustment, in our books only";
    assert_eq!(
        rows,
        vec![
            ("adj_1", "ADJUSTMENT_CREDIT", "20.00", resolution),
            ("adj_2", "ADJUSTMENT_DEBIT", "5.50", resolution),
        ]
    );
    let summary = d.summary("shop-1").await;
    assert_eq!(
        (
            summary.adjustment_credits.count,
            summary.adjustment_credits.total.to_string()
        ),
        (1, "20.00".to_owned())
    );
    assert_eq!(
        (
            summary.adjustment_debits.count,
            summary.adjustment_debits.total.to_string()
        ),
        (1, "5.50".to_owned())
    );
    assert_eq!(summary.outcomes["INTERNAL"], 2);
    let plain_summary = plain.summary("shop-1").await;
    assert_eq!(summary.discrepancies, plain_summary.discrepancies);
    assert_eq!(
        summary.settlement_expected,
        plain_summary.settlement_expected
    );
}

/// A failed deduction the provider lists under another shop than the one
/// that booked it is counted in the summary of the shop whose report shows
/// its row (the order's shop, as our ledger has it), not in the provider's
/// shop's, whose report shows only its settlement batch.
#[tokio::test]
async fn a_failed_deduction_counts_for_the_shop_whose_report_shows_it() {
    let p = Provider::Sandbox;
    let mut books = ledger(p);
    books.push(entry(
        "shop-1",
        LedgerKind::InstalmentDeduction,
        "ord-A",
        "dA3",
        "100.00",
        Some(p),
        Some(3),
        Some(3),
        "09:40",
    ));
    let d = a_day(p, books).await;
    let mut listed = statement(p);
    listed.push(row(
        p,
        "shop-3",
        MovementKind::Deduction,
        "ord-A",
        "dA3",
        Some(3),
        10_000,
        0,
        ProviderStatus::Failed,
        "09:41",
    ));
    d.put(&statement_key(day(), p), statement_bytes(p, &listed))
        .await;
    d.put(
        &receipts_key(day()),
        receipts_bytes(&[(p, "shop-1", 49_710), (p, "shop-2", 4_500)]),
    )
    .await;
    let run = d.run().await;
    assert_eq!(run.shops, 3);
    let report = d.report("shop-1").await;
    let failed: Vec<(&str, &str)> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["deduction_status"] == "FAILED")
        .map(|r| {
            (
                r["provider_ref"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(failed, [("dA2", "MATCHED"), ("dA3", "STATUS_MISMATCH")]);
    let s1 = d.summary("shop-1").await;
    assert_eq!((s1.deductions.count, s1.deductions_failed), (2, 2));
    assert_eq!(s1.deductions.total.to_string(), "200.00");
    assert_eq!(s1.outcomes["STATUS_MISMATCH"], 2);
    let kinds = |report: &Value| -> Vec<String> {
        report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(kinds(&d.report("shop-3").await), ["SETTLEMENT"]);
    let s3 = d.summary("shop-3").await;
    assert_eq!(
        (s3.rows, s3.deductions.count, s3.deductions_failed),
        (1, 0, 0)
    );
}

/// A run's discrepancies are counted by class for the alarms (issue 14's
/// metrics): exactly the run's own outcome counts, and the total.
#[tokio::test]
async fn a_runs_discrepancies_are_counted_by_class() {
    use qrpay_store::metrics::{scoped, MemoryMetrics, MetricName};
    let p = Provider::Sandbox;
    let d = a_day(p, ledger(p)).await;
    d.put_inputs(p, 4_400).await;
    let sink = Arc::new(MemoryMetrics::default());
    let run = scoped(sink.clone(), d.run()).await;
    assert!(run.discrepancies >= 5, "{run:?}");
    for (class, count) in &run.outcomes {
        if class == "MATCHED" || class == "INTERNAL" {
            continue;
        }
        let seen = sink.sum(
            MetricName::ReconciliationDiscrepancies,
            &[("Class", class.as_str())],
        );
        assert_eq!(seen, *count as f64, "{class}");
    }
    assert_eq!(
        sink.sum(MetricName::ReconciliationDiscrepanciesTotal, &[]),
        run.discrepancies as f64
    );
}

/// A refund hands back its share of the payment's processing fee: the
/// bill shows it as the fee of the refund's row, we book it as
/// `FEE_RETURNED` beside the refund, and the run matches the two. A share
/// we did not book is missing in our ledger; a refund that failed handed
/// nothing back. The settlement counts it as money back to the shop.
async fn a_refunds_returned_fee_is_matched_and_settled(p: Provider) {
    use LedgerKind::*;
    use ProviderStatus::{Failed, Success};
    let s = Some(p);
    let e = |kind, provider_ref, amount, time| {
        entry(
            "shop-1",
            kind,
            "ord-F",
            provider_ref,
            amount,
            s,
            None,
            None,
            time,
        )
    };
    let ledger = vec![
        e(Payment, "tF", "100.00", "09:00"),
        e(Fee, "tF", "0.60", "09:00"),
        e(Refund, "rF1", "30.00", "10:00"),
        e(FeeReturned, "rF1", "0.18", "10:00"),
        // Booked before the shop's rate was set: nothing handed back.
        e(Refund, "rF2", "20.00", "11:00"),
    ];
    let r = |kind, provider_ref, fen, fee, status, time| {
        row(
            p,
            "shop-1",
            kind,
            "ord-F",
            provider_ref,
            None,
            fen,
            fee,
            status,
            time,
        )
    };
    let statement = vec![
        r(MovementKind::Payment, "tF", 10_000, 60, Success, "09:00"),
        r(MovementKind::Refund, "rF1", 3_000, 18, Success, "10:00"),
        r(MovementKind::Refund, "rF2", 2_000, 12, Success, "11:00"),
        r(MovementKind::Refund, "rF3", 1_000, 6, Failed, "12:00"),
    ];
    let d = a_day(p, ledger).await;
    d.put(&statement_key(day(), p), statement_bytes(p, &statement))
        .await;
    // 100.00 - 0.60 - 30.00 + 0.18 - 20.00 + 0.12.
    d.put(
        &receipts_key(day()),
        receipts_bytes(&[(p, "shop-1", 4_970)]),
    )
    .await;
    d.run().await;
    let report = d.report("shop-1").await;
    let fees: Vec<Line> = lines(&report)
        .into_iter()
        .filter(|line| line.1 == "FEE_RETURNED")
        .collect();
    let missing = format!(
        "the provider lists fee returned rF2 of 0.12 (line {}); our ledger has no such entry",
        first_line(p) + 2
    );
    assert_eq!(
        fees,
        [
            l([
                "ord-F",
                "FEE_RETURNED",
                "rF1",
                "MATCHED",
                "0.18",
                "0.18",
                "0.18",
                ""
            ]),
            l([
                "ord-F",
                "FEE_RETURNED",
                "rF2",
                "MISSING_IN_LEDGER",
                "",
                "0.12",
                "",
                &missing
            ]),
        ]
    );
    let s1 = d.summary("shop-1").await;
    assert_eq!(
        (s1.fees_returned.count, s1.fees_returned.total.to_string()),
        (1, "0.18".into())
    );
    assert_eq!(s1.settlement_expected.to_string(), "49.70");
    assert_eq!(s1.settlement_received.to_string(), "49.70");
    assert_eq!(s1.outcomes["SETTLEMENT_MISMATCH"], 0);
    assert_eq!(s1.discrepancies, 1, "{report}");
}

#[tokio::test]
async fn a_wechat_refunds_returned_fee_is_matched_and_settled() {
    a_refunds_returned_fee_is_matched_and_settled(Provider::Wechatpay).await;
}

#[tokio::test]
async fn an_alipay_refunds_returned_fee_is_matched_and_settled() {
    a_refunds_returned_fee_is_matched_and_settled(Provider::Alipay).await;
}
