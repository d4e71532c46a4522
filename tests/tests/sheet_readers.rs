//! Both exports opened back by spreadsheet readers nobody on the team wrote
//! (SPEC §11: long provider ids stay exact in a spreadsheet): the orders
//! export and the daily report, each as CSV and XLSX, with a 28-digit
//! transaction id, an all-digit merchant order number with a leading zero
//! and outside text that would be a formula. `tests/sheets/check_sheets.py`
//! reads the XLSX files with openpyxl and python-calamine and converts the
//! CSV files with LibreOffice headless first; `infra/sheet-readers.sh`
//! installs them (infra/test.sh does, for CI).

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::process::Command;

use qr_issue::export::{OrderRow, HEADERS_ZH};
use qrpay_domain::{Money, Order, OrderId, OrderStatus, OutOrderNo, Provider, ProviderRef, ShopId};
use qrpay_reconcile::matcher::Outcome;
use qrpay_reconcile::report::{Instalment, ReportRow, CSV_BOM, CSV_HEADER};
use qrpay_reconcile::report_json::{rows_of, write_row, JsonReport};
use qrpay_reconcile::report_sheet::report_xlsx;
use qrpay_sheet::{csv_file, Lang, Workbook};
use qrpay_tests::world::{amount, morning};
use serde_json::{json, Value};

const TXN: &str = "4200001234567890123456789012";
const OUT_ORDER_NO: &str = "0012345678901234";
const FORMULA: &str = "=HYPERLINK(\"http://x\",\"y\")";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn order() -> Order {
    Order {
        status: OrderStatus::Paid,
        paid_amount: Money::parse("12.30").unwrap(),
        provider: Some(Provider::Wechatpay),
        provider_txn_id: Some(ProviderRef::parse(TXN).unwrap()),
        out_order_no: Some(OutOrderNo::parse(OUT_ORDER_NO).unwrap()),
        payer_masked: Some(FORMULA.into()),
        ..Order::created(
            OrderId::parse("ord_1").unwrap(),
            ShopId::parse("shop-1").unwrap(),
            amount("12.30"),
            morning(),
        )
    }
}

fn report_row() -> ReportRow<'static> {
    ReportRow {
        shop_id: "shop-1",
        order_no: OUT_ORDER_NO,
        kind: "PAYMENT",
        provider: Some(Provider::Wechatpay),
        provider_ref: Some(TXN),
        customer: Some(Cow::Borrowed("张* 138****1234")),
        instalment: Some(Instalment::Plan(3)),
        deduction_status: None,
        ledger_fen: Some(1230),
        provider_fen: Some(1230),
        reconciled_fen: Some(1230),
        outcome: Outcome::Matched,
        note: Cow::Borrowed(FORMULA),
        statement_line: Some(2),
        row_id: qrpay_domain::RowId::of("DEDUCTION", "ord-1", Some("sandbox"), 2, None),
        at_ms: 0,
    }
}

/// Writes the four files into `dir`; the check spec for them.
fn write_files(dir: &Path) -> Value {
    let order = order();
    let row = OrderRow::of(&order, Lang::Zh);
    std::fs::write(dir.join("orders.csv"), csv_file(&HEADERS_ZH, [row.cells()])).unwrap();
    let mut book = Workbook::new("orders", &HEADERS_ZH).unwrap();
    book.row(&row.cells()).unwrap();
    std::fs::write(dir.join("orders.xlsx"), book.finish().unwrap()).unwrap();

    let report = report_row();
    let mut csv = CSV_BOM.to_vec();
    csv.extend_from_slice(CSV_HEADER.as_bytes());
    csv.extend_from_slice(b"\r\n");
    report.write_csv("2026-03-02", &mut csv);
    std::fs::write(dir.join("report.csv"), csv).unwrap();
    // As the API makes it: the nightly JSON report read back into rows.
    let date = qrpay_domain::BusinessDate::parse("2026-03-02").unwrap();
    let mut doc = JsonReport::begin(Vec::new(), report.shop_id, date, "run-1").unwrap();
    let mut json_row = Vec::new();
    write_row(&report, &mut json_row);
    doc.row(&json_row).unwrap();
    let doc = doc.finish(&json!({})).unwrap();
    let rows = rows_of(serde_json::from_slice(&doc).unwrap()).unwrap();
    std::fs::write(
        dir.join("report.xlsx"),
        report_xlsx(&rows, Lang::Zh).unwrap(),
    )
    .unwrap();

    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let tab = |id: &str| format!("\t{id}");
    json!({"files": [
        {"path": path("orders.xlsx"), "kind": "xlsx", "cells": [
            ["渠道交易号", 1, TXN], ["商户订单号", 1, OUT_ORDER_NO], ["订单编号", 1, "ord_1"],
            ["顾客信息摘要", 1, FORMULA]]},
        {"path": path("orders.csv"), "kind": "csv", "cells": [
            ["渠道交易号", 1, tab(TXN)], ["商户订单号", 1, tab(OUT_ORDER_NO)],
            ["顾客信息摘要", 1, format!("'{FORMULA}")]]},
        {"path": path("report.xlsx"), "kind": "xlsx", "cells": [
            ["渠道交易号", 1, TXN], ["订单编号", 1, OUT_ORDER_NO], ["差异说明", 1, FORMULA]]},
        {"path": path("report.csv"), "kind": "csv", "cells": [
            ["provider_ref", 1, tab(TXN)], ["order_no", 1, tab(OUT_ORDER_NO)],
            ["note", 1, format!("'{FORMULA}")]]},
    ]})
}

#[test]
fn outside_readers_keep_every_id_exact_in_both_exports() {
    let dir = std::env::temp_dir().join(format!("qrpay-sheets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spec = write_files(&dir);
    let spec_path = dir.join("spec.json");
    std::fs::write(&spec_path, spec.to_string()).unwrap();
    let python = Command::new(root().join("infra/sheet-readers.sh"))
        .arg("python")
        .output()
        .expect("infra/sheet-readers.sh runs");
    assert!(
        python.status.success(),
        "the readers are installed (infra/sheet-readers.sh install): {}",
        String::from_utf8_lossy(&python.stderr)
    );
    let python = String::from_utf8(python.stdout).unwrap();
    let checked = Command::new(python.trim())
        .arg(root().join("tests/sheets/check_sheets.py"))
        .arg(&spec_path)
        .output()
        .expect("the checker runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(checked.status.success(), "{report}");
    assert!(report.contains("check_sheets: 12 readings"), "{report}");
    std::fs::remove_dir_all(&dir).unwrap();
}
