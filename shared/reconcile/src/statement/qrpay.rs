//! `Format::Qrpay`: our own CSV (UTF-8), the sandbox's bill.
//!
//! ```text
//! occurred_at,shop_id,kind,reference,provider_ref,period,amount,fee,status,payer
//! 2026-11-20T10:01:02.123+08:00,shop-1,PAYMENT,ord_1,sbx_txn_1,,300.00,6.90,SUCCESS,张* 138****1234
//! #end,rows=1,amount=300.00,fee=6.90
//! ```
//!
//! No quoting: no value may hold a `,`, a quote or a line break.

use std::io::BufRead;

use qrpay_domain::money_text::{parse_yuan, push_fen, push_fen_sum, push_u64, Sign};

use super::beijing::Day;
use super::fields;
use super::lines::{self, after_end, parse_count, split_exact, too_long, LineFormat, Lines};
use super::tally::{Agreement, Statement, Tally};
use crate::model::{LineError, MovementKind, ProviderStatus, StatementRow};

const HEADER: &str =
    "occurred_at,shop_id,kind,reference,provider_ref,period,amount,fee,status,payer";
const COLUMNS: usize = 10;
const TRAILER: &str = "#end";

/// The lines after the header.
pub(crate) struct Body {
    statement: Statement,
    tally: Tally,
    ended: bool,
}

pub(crate) fn open<R: BufRead>(
    lines: &mut Lines<R>,
    statement: Statement,
) -> Result<Body, LineError> {
    lines::expect_utf8_header(lines, HEADER, "not a qrpay statement")?;
    Ok(Body {
        statement,
        tally: Tally::default(),
        ended: false,
    })
}

impl LineFormat for Body {
    type Item = StatementRow;

    fn line(&mut self, number: u64, bytes: &[u8]) -> Option<Result<StatementRow, LineError>> {
        if self.ended {
            return (!bytes.is_empty()).then(|| Err(after_end(number)));
        }
        if bytes.is_empty() {
            return Some(Err(LineError::new(number, "empty line among the rows")));
        }
        if bytes.starts_with(TRAILER.as_bytes()) {
            self.ended = true;
            return check_trailer(number, bytes, &self.tally).map(Err);
        }
        let row = lines::utf8_row(number, bytes, |text| {
            parse_row(&self.statement, number, text)
        });
        Some(self.tally.record(row))
    }

    fn too_long(&mut self, number: u64) -> LineError {
        if self.ended {
            return after_end(number);
        }
        self.tally.add_unread();
        too_long(number)
    }

    fn end(&mut self, next_line: u64) -> Option<LineError> {
        (!self.ended).then(|| {
            LineError::new(
                next_line,
                "truncated: the file ends without its '#end,rows=…,amount=…,fee=…' trailer",
            )
        })
    }
}

fn parse_row(statement: &Statement, line: u64, text: &str) -> Result<StatementRow, String> {
    let [occurred_at, shop_id, kind, reference, provider_ref, period, amount, fee, status, payer] =
        split_exact::<COLUMNS>(text, b',')
            .map_err(|found| format!("expected {COLUMNS} fields, found {found}"))?;
    let day = &statement.day;
    let occurred_at = day.parse_rfc3339(occurred_at).map_err(|error| {
        fields::time_error(
            error,
            "occurred_at",
            occurred_at,
            day,
            "in RFC 3339 with an offset",
        )
    })?;
    let kind = match MovementKind::parse(kind) {
        Some(kind @ (MovementKind::Fee | MovementKind::FeeReturned)) => {
            return Err(format!("kind {kind} is not a statement row"))
        }
        Some(kind) => kind,
        None => return Err(format!("unknown kind {}", lines::shown(kind))),
    };
    let period = match (kind, period) {
        (MovementKind::Deduction, text) => Some(fields::period("period", text)?),
        (_, "") => None,
        (_, _) => return Err(format!("a {kind} row has no period")),
    };
    let status = ProviderStatus::parse(status)
        .ok_or_else(|| format!("unknown status {}", lines::shown(status)))?;
    Ok(StatementRow {
        line,
        provider: statement.provider,
        shop_id: fields::our_id("shop_id", shop_id)?.to_owned(),
        kind,
        reference: fields::our_id("reference", reference)?.to_owned(),
        provider_ref: fields::provider_ref("provider_ref", provider_ref)?.to_owned(),
        period,
        amount_fen: fields::amount("amount", amount)?,
        fee_fen: fields::fee("fee", fee)?,
        status,
        occurred_at,
        payer: fields::payer("payer", payer)?,
    })
}

/// `#end,rows=N,amount=Σ,fee=Σ`: an error if malformed or not the tally's.
fn check_trailer(number: u64, bytes: &[u8], tally: &Tally) -> Option<LineError> {
    let stated = std::str::from_utf8(bytes).ok().and_then(parse_trailer);
    let Some((rows, amount_fen, fee_fen)) = stated else {
        return Some(LineError::new(
            number,
            "malformed trailer: expected '#end,rows=N,amount=yuan,fee=yuan'",
        ));
    };
    let mut agreement = Agreement::with(tally);
    agreement.lines("rows", rows, tally.lines);
    agreement.sum("amount", amount_fen, tally.amount_fen);
    agreement.sum("fee", fee_fen, tally.fee_fen);
    agreement.verdict(number, "the trailer")
}

fn parse_trailer(text: &str) -> Option<(u64, i64, i64)> {
    let rest = text.strip_prefix("#end,rows=")?;
    let (rows, rest) = rest.split_once(",amount=")?;
    let (amount, fee) = rest.split_once(",fee=")?;
    Some((
        parse_count(rows)?,
        parse_yuan(amount, Sign::Unsigned).ok()?,
        parse_yuan(fee, Sign::Unsigned).ok()?,
    ))
}

pub(crate) fn push_header(out: &mut Vec<u8>) {
    out.extend_from_slice(HEADER.as_bytes());
    out.push(b'\n');
}

pub(crate) fn push_row(out: &mut Vec<u8>, day: &Day, row: &StatementRow) -> Result<(), String> {
    day.push_rfc3339(out, row.occurred_at)?;
    for text in [
        row.shop_id.as_str(),
        row.kind.as_str(),
        &row.reference,
        &row.provider_ref,
    ] {
        out.push(b',');
        out.extend_from_slice(text.as_bytes());
    }
    out.push(b',');
    if let Some(period) = row.period {
        push_u64(out, u64::from(period));
    }
    out.push(b',');
    push_fen(out, row.amount_fen);
    out.push(b',');
    push_fen(out, row.fee_fen);
    out.push(b',');
    out.extend_from_slice(row.status.as_str().as_bytes());
    out.push(b',');
    out.extend_from_slice(row.payer.as_deref().unwrap_or_default().as_bytes());
    out.push(b'\n');
    Ok(())
}

pub(crate) fn push_trailer(out: &mut Vec<u8>, tally: &Tally) {
    out.extend_from_slice(b"#end,rows=");
    push_u64(out, tally.lines);
    out.extend_from_slice(b",amount=");
    push_fen_sum(out, tally.amount_fen);
    out.extend_from_slice(b",fee=");
    push_fen_sum(out, tally.fee_fen);
    out.push(b'\n');
}
