//! `Format::Douyin`: Douyin's ecpay bill (获取对账单), UTF-8 CSV. Douyin serves
//! the payments (`bill_type=payment`) and the refunds (`bill_type=refund`)
//! of a day as two tables, each its own column-name line then one line per
//! record; our trade bill file is the payment table followed by the refund
//! table (research notes /work/notes/bills-research.md §3.1; the gateway
//! joins them, `qrpay_provider::douyin::gateway::BILL_TYPES`):
//!
//! ```text
//! 序号,支付时间,商户号,openId,订单号,平台订单号,渠道订单号,订单金额,支付方式,支付状态
//! 1,2026-11-20 10:01:02,70012345,,ord_1,N7012345678901234567,,30000,,SUCCESS
//! 序号,退款时间,商户号,openId,订单号,渠道订单号,订单金额,支付方式,退款类型,退款单号,平台退款单号,退款状态,退款完成时间,退款金额
//! 1,2026-11-20 11:00:00,70012345,,ord_1,,30000,,,rfd_1,N7012345678901234599,SUCCESS,2026-11-20 11:00:05,10000
//! ```
//!
//! Read as: 订单号 is our order id, 平台订单号 Douyin's `order_id` (the
//! payment's provider reference), 平台退款单号 Douyin's `refund_no` (the
//! refund's). The bill names the merchant (商户号), not our shop: rows carry
//! it as their shop id. It has no fee (ecpay charges at settlement, in the
//! settle bill) and no summary, so a cut file is noticed only when the
//! refund table never starts. Column names are compared trimmed and, for
//! `openId`, whatever the case.
//!
//! UNCONFIRMED (no official sample found): the amount unit (`AMOUNT_UNIT`:
//! fen, as every other ecpay amount), the time layout (`YYYY-MM-DD
//! HH:MM:SS`, Beijing), and the status words (`STATUS_WORDS`). A refund is
//! dated by its 退款完成时间, or its 退款时间 while that is empty.

use std::io::BufRead;

use qrpay_domain::money_text::push_u64;

use super::beijing::Day;
use super::fields;
use super::lines::{self, shown, split_exact, too_long, LineFormat, Lines};
use super::tally::{Statement, Tally};
use crate::model::{LineError, MovementKind, ProviderStatus, StatementRow, MAX_FEN};

const NOT_DOUYIN: &str = "not a Douyin bill";
const PAYMENT_HEADER: &str =
    "序号,支付时间,商户号,openId,订单号,平台订单号,渠道订单号,订单金额,支付方式,支付状态";
const PAYMENT_COLUMNS: usize = 10;
const REFUND_HEADER: &str = "序号,退款时间,商户号,openId,订单号,渠道订单号,订单金额,支付方式,退款类型,退款单号,平台退款单号,退款状态,退款完成时间,退款金额";
const REFUND_COLUMNS: usize = 14;

/// How the bill writes an amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Fen,
    #[allow(dead_code)]
    Yuan,
}

/// The bill's amount unit (UNCONFIRMED: ecpay's `total_amount`,
/// `refund_amount` and `settle_amount` are fen).
const AMOUNT_UNIT: Unit = Unit::Fen;

/// 支付状态 / 退款状态 words, English and Chinese (UNCONFIRMED which).
const STATUS_WORDS: [(&str, ProviderStatus); 12] = [
    ("SUCCESS", ProviderStatus::Success),
    ("支付成功", ProviderStatus::Success),
    ("退款成功", ProviderStatus::Success),
    ("PROCESSING", ProviderStatus::Processing),
    ("支付中", ProviderStatus::Processing),
    ("退款中", ProviderStatus::Processing),
    ("FAIL", ProviderStatus::Failed),
    ("FAILED", ProviderStatus::Failed),
    ("支付失败", ProviderStatus::Failed),
    ("退款失败", ProviderStatus::Failed),
    ("CLOSED", ProviderStatus::Closed),
    ("已关闭", ProviderStatus::Closed),
];

/// The lines after the payment table's column names.
pub(crate) struct Body {
    statement: Statement,
    tally: Tally,
    in_refunds: bool,
}

pub(crate) fn open<R: BufRead>(
    lines: &mut Lines<R>,
    statement: Statement,
) -> Result<Body, LineError> {
    let bytes = lines::first_line(lines, NOT_DOUYIN, true)?;
    match std::str::from_utf8(bytes) {
        Err(_) => Err(LineError::new(
            1,
            format!("{NOT_DOUYIN}: line 1 is not UTF-8 text"),
        )),
        Ok(text) if same_header(text, PAYMENT_HEADER) => Ok(Body {
            statement,
            tally: Tally::default(),
            in_refunds: false,
        }),
        Ok(_) => Err(LineError::new(
            1,
            format!("{NOT_DOUYIN}: line 1 is not the payment table's header '{PAYMENT_HEADER}'"),
        )),
    }
}

/// Whether `text` names the columns of `header`, names trimmed, ASCII case
/// ignored.
fn same_header(text: &str, header: &str) -> bool {
    let mut names = text.split(',').map(value);
    header.split(',').all(|expected| {
        names
            .next()
            .is_some_and(|n| n.eq_ignore_ascii_case(expected))
    }) && names.next().is_none()
}

/// A value as the bill writes it: spaces, tabs and one pair of quotes
/// around it removed.
fn value(text: &str) -> &str {
    let trimmed = text.trim_matches([' ', '\t']);
    trimmed
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(trimmed)
}

impl LineFormat for Body {
    type Item = StatementRow;

    fn line(&mut self, number: u64, bytes: &[u8]) -> Option<Result<StatementRow, LineError>> {
        if bytes.is_empty() {
            return Some(Err(LineError::new(number, "empty line among the rows")));
        }
        let Ok(text) = std::str::from_utf8(bytes) else {
            self.tally.add_unread();
            return Some(Err(lines::not_utf8(number)));
        };
        if !self.in_refunds && same_header(text, REFUND_HEADER) {
            self.in_refunds = true;
            return None;
        }
        if self.in_refunds && same_header(text, REFUND_HEADER) {
            return Some(Err(LineError::new(number, "a second refund table")));
        }
        let row = if self.in_refunds {
            parse_refund(&self.statement, number, text)
        } else {
            parse_payment(&self.statement, number, text)
        };
        Some(
            self.tally
                .record(row.map_err(|message| LineError::new(number, message))),
        )
    }

    fn too_long(&mut self, number: u64) -> LineError {
        self.tally.add_unread();
        too_long(number)
    }

    fn end(&mut self, next_line: u64) -> Option<LineError> {
        (!self.in_refunds).then(|| {
            LineError::new(
                next_line,
                "truncated: the file ends without the refund table ('序号,退款时间,…')",
            )
        })
    }
}

/// An amount in `AMOUNT_UNIT`, more than zero.
fn amount(column: &str, text: &str) -> Result<i64, String> {
    match AMOUNT_UNIT {
        Unit::Yuan => fields::amount(column, text),
        Unit::Fen => match text.parse::<i64>() {
            Ok(fen) if text.bytes().all(|b| b.is_ascii_digit()) && (1..=MAX_FEN).contains(&fen) => {
                Ok(fen)
            }
            _ => Err(format!(
                "{column} {} is not an amount in fen from 1 to {MAX_FEN}",
                shown(text)
            )),
        },
    }
}

fn status(column: &str, text: &str) -> Result<ProviderStatus, String> {
    STATUS_WORDS
        .iter()
        .find(|(word, _)| word.eq_ignore_ascii_case(text))
        .map(|(_, status)| *status)
        .ok_or_else(|| format!("unknown {column} {}", shown(text)))
}

fn time(day: &Day, column: &str, text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    day.parse_local(text)
        .map_err(|error| fields::time_error(error, column, text, day, "'YYYY-MM-DD HH:MM:SS'"))
}

fn parse_payment(statement: &Statement, line: u64, text: &str) -> Result<StatementRow, String> {
    let fields = split_exact::<PAYMENT_COLUMNS>(text, b',')
        .map_err(|found| format!("expected {PAYMENT_COLUMNS} fields, found {found}"))?;
    #[rustfmt::skip]
    let [_serial, paid_at, seller, _open_id, out_order_no, order_id, _channel_no, total, _way, state] =
        fields.map(value);
    Ok(StatementRow {
        line,
        provider: statement.provider,
        shop_id: fields::our_id("商户号", seller)?.to_owned(),
        kind: MovementKind::Payment,
        reference: fields::our_id("订单号", out_order_no)?.to_owned(),
        provider_ref: fields::provider_ref("平台订单号", order_id)?.to_owned(),
        period: None,
        amount_fen: amount("订单金额", total)?,
        fee_fen: 0,
        status: status("支付状态", state)?,
        occurred_at: time(&statement.day, "支付时间", paid_at)?,
        payer: None,
    })
}

fn parse_refund(statement: &Statement, line: u64, text: &str) -> Result<StatementRow, String> {
    let fields = split_exact::<REFUND_COLUMNS>(text, b',')
        .map_err(|found| format!("expected {REFUND_COLUMNS} fields, found {found}"))?;
    #[rustfmt::skip]
    let [
        _serial, asked_at, seller, _open_id, out_order_no, _channel_no, _total, _way, _refund_kind,
        _out_refund_no, refund_no, state, done_at, refunded,
    ] = fields.map(value);
    let occurred_at = if done_at.is_empty() {
        time(&statement.day, "退款时间", asked_at)?
    } else {
        time(&statement.day, "退款完成时间", done_at)?
    };
    Ok(StatementRow {
        line,
        provider: statement.provider,
        shop_id: fields::our_id("商户号", seller)?.to_owned(),
        kind: MovementKind::Refund,
        reference: fields::our_id("订单号", out_order_no)?.to_owned(),
        provider_ref: fields::provider_ref("平台退款单号", refund_no)?.to_owned(),
        period: None,
        amount_fen: amount("退款金额", refunded)?,
        fee_fen: 0,
        status: status("退款状态", state)?,
        occurred_at,
        payer: None,
    })
}

/// A Douyin bill being written: payments go out as they come, refunds wait
/// for the payment table to end (the file is one table, then the other).
pub(crate) struct Writer {
    payments: u64,
    refunds: u64,
    /// The refund table's rows, written on `finish`.
    refund_lines: Vec<u8>,
}

impl Writer {
    pub(crate) fn new() -> Writer {
        Writer {
            payments: 0,
            refunds: 0,
            refund_lines: Vec::new(),
        }
    }

    /// Appends `row` to `out` (a payment) or to the refund table.
    pub(crate) fn push_row(
        &mut self,
        out: &mut Vec<u8>,
        day: &Day,
        row: &StatementRow,
    ) -> Result<(), String> {
        if row.fee_fen != 0 {
            return Err("a Douyin bill has no fee".to_owned());
        }
        if row.payer.is_some() {
            return Err("a Douyin bill names no payer".to_owned());
        }
        let state = match row.status {
            ProviderStatus::Success => "SUCCESS",
            ProviderStatus::Processing => "PROCESSING",
            ProviderStatus::Failed => "FAIL",
            ProviderStatus::Closed => "CLOSED",
        };
        match row.kind {
            MovementKind::Payment => {
                self.payments += 1;
                push_u64(out, self.payments);
                out.push(b',');
                day.push_local(out, row.occurred_at)?;
                for value in [
                    ",",
                    &row.shop_id,
                    ",,",
                    &row.reference,
                    ",",
                    &row.provider_ref,
                    ",,",
                ] {
                    out.extend_from_slice(value.as_bytes());
                }
                push_amount(out, row.amount_fen);
                out.extend_from_slice(b",,");
                out.extend_from_slice(state.as_bytes());
                out.push(b'\n');
                Ok(())
            }
            MovementKind::Refund => {
                let mut line = Vec::with_capacity(160);
                let at = {
                    let mut at = Vec::with_capacity(19);
                    day.push_local(&mut at, row.occurred_at)?;
                    at
                };
                self.refunds += 1;
                push_u64(&mut line, self.refunds);
                line.push(b',');
                line.extend_from_slice(&at);
                for value in [
                    ",",
                    &row.shop_id,
                    ",,",
                    &row.reference,
                    ",,,,,,",
                    &row.provider_ref,
                    ",",
                    state,
                    ",",
                ] {
                    line.extend_from_slice(value.as_bytes());
                }
                line.extend_from_slice(&at);
                line.push(b',');
                push_amount(&mut line, row.amount_fen);
                line.push(b'\n');
                self.refund_lines.extend_from_slice(&line);
                Ok(())
            }
            other => Err(format!(
                "a Douyin bill lists payments and refunds, not {other}"
            )),
        }
    }

    /// The refund table.
    pub(crate) fn push_end(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(REFUND_HEADER.as_bytes());
        out.push(b'\n');
        out.append(&mut self.refund_lines);
    }
}

pub(crate) fn push_header(out: &mut Vec<u8>) {
    out.extend_from_slice(PAYMENT_HEADER.as_bytes());
    out.push(b'\n');
}

fn push_amount(out: &mut Vec<u8>, fen: i64) {
    match AMOUNT_UNIT {
        Unit::Fen => push_u64(out, fen.unsigned_abs()),
        Unit::Yuan => qrpay_domain::money_text::push_fen(out, fen),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_match_trimmed_and_whatever_the_case_of_open_id() {
        assert!(same_header(PAYMENT_HEADER, PAYMENT_HEADER));
        assert!(same_header(
            "序号, 支付时间, 商户号, openid, 订单号, 平台订单号, 渠道订单号, 订单金额, 支付方式, 支付状态",
            PAYMENT_HEADER
        ));
        assert!(!same_header(REFUND_HEADER, PAYMENT_HEADER));
        assert!(!same_header(&format!("{PAYMENT_HEADER},x"), PAYMENT_HEADER));
        assert_eq!(value(" \"ord_1\"\t"), "ord_1");
    }

    #[test]
    fn amounts_are_whole_fen() {
        assert_eq!(amount("订单金额", "30000"), Ok(30_000));
        assert!(amount("订单金额", "0").is_err());
        assert!(amount("订单金额", "+1").is_err());
        assert!(amount("订单金额", "300.00").is_err());
        assert!(amount("订单金额", "99999999999999999999").is_err());
    }
}
