//! What the statement and bank-receipt tests share: the business date,
//! Beijing times, one statement format's writer and reader, and the sample
//! rows every format round-trips.

// Each test binary compiles its own copy of this module and uses only part of it.
#![allow(dead_code)]

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use qrpay_domain::{BusinessDate, Provider};
use qrpay_reconcile::statement::{self, Format, StatementWriter};
use qrpay_reconcile::{LineError, MovementKind, ProviderStatus, StatementRow};

/// The day every statement and receipt file here is of.
pub fn date() -> BusinessDate {
    BusinessDate::parse("2026-11-20").unwrap()
}

/// A Beijing local time, with or without fractional seconds → the instant.
pub fn beijing(text: &str) -> DateTime<Utc> {
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").unwrap();
    Shanghai
        .from_local_datetime(&local)
        .unwrap()
        .with_timezone(&Utc)
}

/// The error a reader reports at `line`.
pub fn err<T>(line: u64, message: &str) -> Result<T, LineError> {
    Err(LineError::new(line, message))
}

/// `line` with its comma-separated value `index` replaced by `value`.
pub fn with_field(line: &str, index: usize, value: &str) -> String {
    let mut fields: Vec<&str> = line.split(',').collect();
    fields[index] = value;
    fields.join(",")
}

/// The writer's refusal of `row`: invalid input, with a message that starts
/// with `message`.
pub fn assert_refused(writer: &mut StatementWriter<Vec<u8>>, row: &StatementRow, message: &str) {
    let error = writer.row(row).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(
        error.to_string().starts_with(message),
        "{error} / {message}"
    );
}

/// One statement format as one provider writes it.
#[derive(Debug, Clone, Copy)]
pub struct Fmt {
    pub format: Format,
    pub provider: Provider,
    /// The line of the first detail row, after the format's header lines.
    pub first_line: u64,
}

pub const QRPAY: Fmt = Fmt {
    format: Format::Qrpay,
    provider: Provider::Sandbox,
    first_line: 2,
};

pub const WECHAT: Fmt = Fmt {
    format: Format::Wechat,
    provider: Provider::Wechatpay,
    first_line: 2,
};

pub const ALIPAY: Fmt = Fmt {
    format: Format::Alipay,
    provider: Provider::Alipay,
    first_line: 6,
};

pub const DOUYIN: Fmt = Fmt {
    format: Format::Douyin,
    provider: Provider::Douyin,
    first_line: 2,
};

/// A sample row: kind, status, reference, amount_fen, fee_fen, Beijing time
/// and payer.
type Sample = (
    MovementKind,
    ProviderStatus,
    &'static str,
    i64,
    i64,
    &'static str,
    Option<&'static str>,
);

/// Every kind and status: fees, payers masked and absent, the day's first
/// and last seconds. The two deductions are of periods 1 and 12.
#[rustfmt::skip]
const SAMPLES: [Sample; 14] = {
    use MovementKind::*;
    use ProviderStatus::*;
    [
        (Payment, Success, "ord_1", 30_000, 690, "2026-11-20 10:01:02", Some("张* 138****1234")),
        (Payment, Failed, "ord_2", 1, 0, "2026-11-20 00:00:00", None),
        (Payment, Closed, "ord_3", 999_999, 0, "2026-11-20 23:59:59", Some("李*")),
        (Payment, Processing, "ord_4", 1_000, 6, "2026-11-20 12:00:00", Some("138****0000")),
        (Refund, Success, "ord_1", 5_000, 0, "2026-11-20 13:00:00", Some("张* 138****1234")),
        (Refund, Failed, "ord_1", 100, 0, "2026-11-20 13:00:01", None),
        (Refund, Closed, "ord_1", 100, 0, "2026-11-20 13:00:02", None),
        (Refund, Processing, "ord_4", 1_000, 0, "2026-11-20 13:00:03", None),
        (Deduction, Success, "ord_9", 10_000, 60, "2026-11-20 08:00:00", Some("王*")),
        (Deduction, Failed, "ord_9", 10_000, 0, "2026-11-20 08:00:01", Some("王*")),
        (Payout, Success, "po_1", 20_000, 0, "2026-11-20 18:00:00", Some("赵* 139****8888")),
        (Payout, Failed, "po_2", 20_000, 0, "2026-11-20 18:00:01", None),
        (Payout, Closed, "po_3", 20_000, 0, "2026-11-20 18:00:02", None),
        (Payout, Processing, "po_4", 20_000, 0, "2026-11-20 18:00:03", None),
    ]
};

impl Fmt {
    pub fn writer(self) -> StatementWriter<Vec<u8>> {
        StatementWriter::new(self.format, self.provider, date(), Vec::new()).unwrap()
    }

    pub fn write(self, rows: &[StatementRow]) -> Vec<u8> {
        let mut writer = self.writer();
        for row in rows {
            writer.row(row).unwrap();
        }
        writer.finish().unwrap()
    }

    pub fn read_all(self, bytes: &[u8]) -> Vec<Result<StatementRow, LineError>> {
        statement::read(self.format, self.provider, date(), bytes)
            .unwrap()
            .collect()
    }

    /// Why the reader refuses `bytes` before the first row.
    pub fn open_error(self, bytes: &[u8]) -> LineError {
        match statement::read(self.format, self.provider, date(), bytes) {
            Ok(_) => panic!("the header was accepted"),
            Err(error) => error,
        }
    }

    /// A row of shop-1 without a period, at a Beijing time.
    #[allow(clippy::too_many_arguments)]
    pub fn row(
        self,
        line: u64,
        kind: MovementKind,
        status: ProviderStatus,
        reference: &str,
        provider_ref: &str,
        amount_fen: i64,
        fee_fen: i64,
        at: &str,
        payer: Option<&str>,
    ) -> StatementRow {
        StatementRow {
            line,
            provider: self.provider,
            shop_id: "shop-1".to_owned(),
            kind,
            reference: reference.to_owned(),
            provider_ref: provider_ref.to_owned(),
            period: None,
            amount_fen,
            fee_fen,
            status,
            occurred_at: beijing(at),
            payer: payer.map(str::to_owned),
        }
    }

    /// The `SAMPLES` with these provider refs, in that order, at line 0.
    pub fn sample_rows(self, provider_refs: [&str; 14]) -> Vec<StatementRow> {
        let mut rows: Vec<StatementRow> = SAMPLES
            .iter()
            .zip(provider_refs)
            .map(
                |(&(kind, status, reference, amount, fee, at, payer), provider_ref)| {
                    self.row(
                        0,
                        kind,
                        status,
                        reference,
                        provider_ref,
                        amount,
                        fee,
                        at,
                        payer,
                    )
                },
            )
            .collect();
        rows[8].period = Some(1);
        rows[9].period = Some(12);
        rows
    }

    /// `rows`, written and read back: the same rows, numbered from the
    /// first detail line.
    pub fn assert_round_trip(self, rows: &[StatementRow]) {
        let bytes = self.write(rows);
        let expected: Vec<_> = rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                Ok(StatementRow {
                    line: i as u64 + self.first_line,
                    ..row.clone()
                })
            })
            .collect();
        assert_eq!(self.read_all(&bytes), expected);
    }

    /// `count` rows cycled from `template`, each with its own reference
    /// `ord_{i}`, written and read back in order: every line and reference,
    /// the count and the sums of amounts and fees.
    pub fn assert_many_rows_read_back_in_order(self, template: &[StatementRow], count: usize) {
        let mut writer = self.writer();
        let (mut amount_fen, mut fee_fen) = (0, 0);
        for i in 0..count {
            let mut row = template[i % template.len()].clone();
            row.reference = format!("ord_{i}");
            amount_fen += row.amount_fen;
            fee_fen += row.fee_fen;
            writer.row(&row).unwrap();
        }
        let bytes = writer.finish().unwrap();
        let (mut read, mut read_amount, mut read_fee) = (0, 0, 0);
        for (i, item) in self.read_all(&bytes).into_iter().enumerate() {
            let row = item.unwrap();
            assert_eq!(row.line, i as u64 + self.first_line);
            assert_eq!(row.reference, format!("ord_{i}"));
            read += 1;
            read_amount += row.amount_fen;
            read_fee += row.fee_fen;
        }
        assert_eq!((read, read_amount, read_fee), (count, amount_fen, fee_fen));
    }
}
