//! How fast a million-row statement is written and read. Ignored by default:
//! run with `cargo test --release -p qrpay-reconcile --test statement_throughput -- --ignored --nocapture`.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::time::Instant;

use chrono::{DateTime, Utc};
use qrpay_domain::{BusinessDate, Provider};
use qrpay_reconcile::statement::{self, Format, StatementWriter};
use qrpay_reconcile::{MovementKind, ProviderStatus, StatementRow};

const ROWS: u64 = 1_000_000;

fn measure(format: Format, provider: Provider) {
    let date = BusinessDate::parse("2026-11-20").unwrap();
    let start_of_day = DateTime::parse_from_rfc3339("2026-11-20T00:00:00+08:00")
        .unwrap()
        .with_timezone(&Utc);
    let file = tempfile::NamedTempFile::new().unwrap();
    let mut row = StatementRow {
        line: 0,
        provider,
        shop_id: "shop-0001".to_owned(),
        kind: MovementKind::Payment,
        reference: String::new(),
        provider_ref: String::new(),
        period: None,
        amount_fen: 0,
        fee_fen: 0,
        status: ProviderStatus::Success,
        occurred_at: start_of_day,
        payer: Some("张* 138****1234".to_owned()),
    };

    let started = Instant::now();
    let out = BufWriter::with_capacity(1 << 16, File::create(file.path()).unwrap());
    let mut writer = StatementWriter::new(format, provider, date, out).unwrap();
    for i in 0..ROWS {
        row.reference = format!("ord_01J{i:020}");
        row.provider_ref = format!("4200{i:024}");
        row.amount_fen = 100 + (i as i64 % 100_000);
        row.fee_fen = row.amount_fen * 6 / 1000;
        row.occurred_at = start_of_day + chrono::Duration::milliseconds((i * 86) as i64);
        writer.row(&row).unwrap();
    }
    writer.finish().unwrap();
    let written = started.elapsed();
    let bytes = std::fs::metadata(file.path()).unwrap().len();

    // The best of three reads: the machine may be shared.
    let mut read = std::time::Duration::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        let input = BufReader::with_capacity(1 << 16, File::open(file.path()).unwrap());
        let mut rows = 0u64;
        let mut amount_fen = 0i64;
        for item in statement::read(format, provider, date, input).unwrap() {
            let row = item.unwrap();
            rows += 1;
            amount_fen += row.amount_fen;
        }
        read = read.min(started.elapsed());
        assert_eq!(rows, ROWS);
        assert!(amount_fen > 0);
    }
    println!(
        "{format:?}: {ROWS} rows, {} MB; write {:.0} rows/s ({:.2} s); read {:.0} rows/s ({:.2} s, {:.0} ns/row)",
        bytes / 1_000_000,
        ROWS as f64 / written.as_secs_f64(),
        written.as_secs_f64(),
        ROWS as f64 / read.as_secs_f64(),
        read.as_secs_f64(),
        read.as_nanos() as f64 / ROWS as f64,
    );
}

#[test]
#[ignore = "measures; run in release"]
fn a_million_qrpay_rows() {
    measure(Format::Qrpay, Provider::Sandbox);
}

#[test]
#[ignore = "measures; run in release"]
fn a_million_wechat_rows() {
    measure(Format::Wechat, Provider::Wechatpay);
}

#[test]
#[ignore = "measures; run in release"]
fn a_million_alipay_rows() {
    measure(Format::Alipay, Provider::Alipay);
}
