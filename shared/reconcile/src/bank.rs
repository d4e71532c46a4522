//! The bank's settlement receipts (银行回执): one receipt per settlement
//! batch, the money a provider settled to a shop's bank account for one
//! (provider, shop, business day). A UTF-8 CSV:
//!
//! ```text
//! receipt_id,batch_id,provider,shop_id,amount,value_date
//! BR20261121000001,sandbox-shop-1-20261120,sandbox,shop-1,1234.56,2026-11-21
//! #end,rows=1,amount=1234.56
//! ```
//!
//! The amount is signed: a day of refunds can settle a negative sum. Read
//! and written like the statements (`crate::statement`): the header checked
//! up front, one item per line, the trailer checked against the receipts.

use std::io::{self, BufRead, Write};

use chrono::{Datelike, NaiveDate};
use qrpay_domain::money_text::{parse_yuan, push_fen, push_fen_sum, push_u64, Sign};
use qrpay_domain::{BusinessDate, Provider};

use crate::model::{LineError, MAX_FEN};
use crate::statement::beijing::push_digits;
use crate::statement::fields;
use crate::statement::lines::{
    self, after_end, not_utf8, parse_count, shown, split_exact, too_long, LineFormat, LineReader,
    Lines,
};
use crate::statement::refused;
use crate::statement::tally::Agreement;

pub const HEADER: &str = "receipt_id,batch_id,provider,shop_id,amount,value_date";
const COLUMNS: usize = 6;
const TRAILER: &str = "#end";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankReceipt {
    /// 1-based line number in the receipts file (ignored when writing).
    pub line: u64,
    /// The bank's id of the receipt.
    pub receipt_id: String,
    /// Which settlement the money is: always `batch_id(provider, shop_id, date)`.
    pub batch_id: String,
    pub provider: Provider,
    pub shop_id: String,
    /// Signed: negative when the batch took money from the shop.
    pub amount_fen: i64,
    /// The day the money moved at the bank.
    pub value_date: NaiveDate,
}

/// The id of the settlement batch of (`provider`, `shop_id`, `date`):
/// `sandbox-shop-1-20261120`.
pub fn batch_id(provider: Provider, shop_id: &str, date: BusinessDate) -> String {
    format!("{provider}-{shop_id}-{}", date.naive().format("%Y%m%d"))
}

/// The receipts of one file, read lazily.
pub struct Receipts<R> {
    reader: LineReader<R, Body>,
}

impl<R: BufRead> Iterator for Receipts<R> {
    type Item = Result<BankReceipt, LineError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.reader.next_item()
    }
}

/// Opens the receipts of business day `date`: checks the header now, reads
/// the receipts as the iterator is driven.
pub fn read_receipts<R: BufRead>(date: BusinessDate, input: R) -> Result<Receipts<R>, LineError> {
    let mut lines = Lines::new(input);
    lines::expect_utf8_header(&mut lines, HEADER, "not a bank receipt file")?;
    let body = Body {
        date,
        tally: ReceiptTally::default(),
        ended: false,
    };
    Ok(Receipts {
        reader: LineReader::new(lines, body),
    })
}

#[derive(Debug, Default)]
struct ReceiptTally {
    lines: u64,
    unread: u64,
    amount_fen: i128,
}

struct Body {
    date: BusinessDate,
    tally: ReceiptTally,
    ended: bool,
}

impl LineFormat for Body {
    type Item = BankReceipt;

    fn line(&mut self, number: u64, bytes: &[u8]) -> Option<Result<BankReceipt, LineError>> {
        if self.ended {
            return (!bytes.is_empty()).then(|| Err(after_end(number)));
        }
        if bytes.is_empty() {
            return Some(Err(LineError::new(number, "empty line among the receipts")));
        }
        if bytes.starts_with(TRAILER.as_bytes()) {
            self.ended = true;
            return self.check_trailer(number, bytes).map(Err);
        }
        let receipt = match std::str::from_utf8(bytes) {
            Ok(text) => parse_receipt(self.date, number, text)
                .map_err(|message| LineError::new(number, message)),
            Err(_) => Err(not_utf8(number)),
        };
        self.tally.lines += 1;
        match &receipt {
            Ok(receipt) => self.tally.amount_fen += i128::from(receipt.amount_fen),
            Err(_) => self.tally.unread += 1,
        }
        Some(receipt)
    }

    fn too_long(&mut self, number: u64) -> LineError {
        if self.ended {
            return after_end(number);
        }
        self.tally.lines += 1;
        self.tally.unread += 1;
        too_long(number)
    }

    fn end(&mut self, next_line: u64) -> Option<LineError> {
        (!self.ended).then(|| {
            LineError::new(
                next_line,
                "truncated: the file ends without its '#end,rows=…,amount=…' trailer",
            )
        })
    }
}

impl Body {
    /// `#end,rows=N,amount=Σ` against the receipts read.
    fn check_trailer(&self, number: u64, bytes: &[u8]) -> Option<LineError> {
        let parsed = || {
            let text = std::str::from_utf8(bytes).ok()?;
            let (rows, amount) = text.strip_prefix("#end,rows=")?.split_once(",amount=")?;
            Some((parse_count(rows)?, parse_yuan(amount, Sign::Signed).ok()?))
        };
        let Some((rows, amount_fen)) = parsed() else {
            return Some(LineError::new(
                number,
                "malformed trailer: expected '#end,rows=N,amount=yuan'",
            ));
        };
        let mut agreement = Agreement::complete_if(self.tally.unread == 0);
        agreement.lines("rows", rows, self.tally.lines);
        agreement.sum("amount", amount_fen, self.tally.amount_fen);
        agreement.verdict(number, "the trailer")
    }
}

fn parse_receipt(date: BusinessDate, line: u64, text: &str) -> Result<BankReceipt, String> {
    let [receipt_id, batch, provider, shop_id, amount, value_date] =
        split_exact::<COLUMNS>(text, b',')
            .map_err(|found| format!("expected {COLUMNS} fields, found {found}"))?;
    let receipt_id = fields::our_id("receipt_id", receipt_id)?;
    let provider =
        Provider::parse(provider).ok_or_else(|| format!("unknown provider {}", shown(provider)))?;
    let shop_id = fields::our_id("shop_id", shop_id)?;
    let batch_id = check_batch(batch, provider, shop_id, date)?;
    let amount_fen =
        parse_yuan(amount, Sign::Signed).map_err(|_| fields::not_yuan("amount", amount))?;
    let value_date = BusinessDate::parse(value_date)
        .map_err(|_| format!("value_date {} is not a date YYYY-MM-DD", shown(value_date)))?
        .naive();
    Ok(BankReceipt {
        line,
        receipt_id: receipt_id.to_owned(),
        batch_id,
        provider,
        shop_id: shop_id.to_owned(),
        amount_fen,
        value_date,
    })
}

/// Writes one receipts file: the header on `new`, a line per receipt, the
/// trailer on `finish`.
pub struct ReceiptWriter<W: Write> {
    out: W,
    date: BusinessDate,
    line: Vec<u8>,
    rows: u64,
    amount_fen: i128,
}

impl<W: Write> ReceiptWriter<W> {
    pub fn new(date: BusinessDate, mut out: W) -> io::Result<ReceiptWriter<W>> {
        out.write_all(HEADER.as_bytes())?;
        out.write_all(b"\n")?;
        Ok(ReceiptWriter {
            out,
            date,
            line: Vec::with_capacity(128),
            rows: 0,
            amount_fen: 0,
        })
    }

    /// Writes `receipt` (its `line` is ignored), or refuses it with
    /// `InvalidInput` and writes nothing.
    pub fn receipt(&mut self, receipt: &BankReceipt) -> io::Result<()> {
        check_receipt(receipt, self.date).map_err(refused)?;
        let line = &mut self.line;
        line.clear();
        for text in [
            receipt.receipt_id.as_str(),
            &receipt.batch_id,
            receipt.provider.as_str(),
            &receipt.shop_id,
        ] {
            line.extend_from_slice(text.as_bytes());
            line.push(b',');
        }
        push_fen(line, receipt.amount_fen);
        line.push(b',');
        push_date(line, receipt.value_date);
        line.push(b'\n');
        self.out.write_all(line)?;
        self.rows += 1;
        self.amount_fen += i128::from(receipt.amount_fen);
        Ok(())
    }

    /// Writes the trailer, flushes, and gives the output back.
    pub fn finish(mut self) -> io::Result<W> {
        if self.amount_fen.abs() > i128::from(MAX_FEN) {
            return Err(refused(
                "the receipts' total exceeds the largest amount a trailer holds".to_owned(),
            ));
        }
        let line = &mut self.line;
        line.clear();
        line.extend_from_slice(b"#end,rows=");
        push_u64(line, self.rows);
        line.extend_from_slice(b",amount=");
        push_fen_sum(line, self.amount_fen);
        line.push(b'\n');
        self.out.write_all(line)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// `batch` must be the batch of (`provider`, `shop_id`, `date`).
fn check_batch(
    batch: &str,
    provider: Provider,
    shop_id: &str,
    date: BusinessDate,
) -> Result<String, String> {
    let expected = batch_id(provider, shop_id, date);
    if batch == expected {
        Ok(expected)
    } else {
        Err(format!(
            "batch {} is not of {provider} {shop_id} on {date} (expected {expected})",
            shown(batch)
        ))
    }
}

/// The rules the reader applies, so that what is written reads back.
fn check_receipt(receipt: &BankReceipt, date: BusinessDate) -> Result<(), String> {
    fields::our_id("receipt_id", &receipt.receipt_id)?;
    fields::our_id("shop_id", &receipt.shop_id)?;
    check_batch(&receipt.batch_id, receipt.provider, &receipt.shop_id, date)?;
    if receipt.amount_fen.unsigned_abs() > MAX_FEN.unsigned_abs() {
        return Err(format!(
            "amount_fen {} is beyond ±{MAX_FEN}",
            receipt.amount_fen
        ));
    }
    if !(0..=9999).contains(&receipt.value_date.year()) {
        return Err(format!(
            "value_date {} cannot be written",
            receipt.value_date
        ));
    }
    Ok(())
}

fn push_date(out: &mut Vec<u8>, date: NaiveDate) {
    // Years are 0..=9999 (checked), so four digits.
    push_digits(out, date.year().unsigned_abs(), 4);
    out.push(b'-');
    push_digits(out, date.month(), 2);
    out.push(b'-');
    push_digits(out, date.day(), 2);
}
