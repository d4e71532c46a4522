//! Provider statements (对账单): streaming readers and writers, one per format.
//!
//! A reader checks the header up front ([`read`] fails on a file that is not
//! the format, empty, or in the wrong encoding), then yields one item per
//! detail line: the row, or a [`LineError`] for that line and on to the next.
//! The format's summary is checked against the rows read; a file that ends
//! before it is reported as truncated. Rows must fall on the statement's
//! business day (Beijing calendar day, SPEC §2).
//!
//! Lines are read into one reused buffer, capped at [`MAX_LINE_BYTES`], split
//! without allocating; a row allocates only the strings it keeps. Writers
//! build each line in a reused buffer and refuse (`InvalidInput`) any value
//! the format cannot carry, so whatever they write reads back.

mod alipay;
pub(crate) mod beijing;
pub(crate) mod fields;
pub(crate) mod lines;
mod qrpay;
mod wechat;

use std::io::{self, BufRead, Write};

use qrpay_domain::money_text::format_fen_sum;
use qrpay_domain::{BusinessDate, Provider};

use self::beijing::Day;
use self::lines::{LineReader, Lines};
use crate::model::{LineError, MovementKind, StatementRow, MAX_FEN};

pub use self::lines::MAX_LINE_BYTES;

/// The file formats we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Our own CSV (UTF-8): the sandbox's bill, also used for Douyin.
    Qrpay,
    /// WeChat-Pay-style trade bill: backtick-prefixed values, yuan, summary.
    Wechat,
    /// Alipay-style bill: GBK, `#` header/footer lines, detail and summary.
    Alipay,
}

impl Format {
    pub fn for_provider(provider: Provider) -> Format {
        match provider {
            Provider::Wechatpay => Format::Wechat,
            Provider::Alipay => Format::Alipay,
            Provider::Sandbox | Provider::Douyin => Format::Qrpay,
        }
    }
}

/// The rows of one statement, read lazily.
pub struct Rows<R> {
    reader: Reader<R>,
}

enum Reader<R> {
    Qrpay(LineReader<R, qrpay::Body>),
    Wechat(LineReader<R, wechat::Body>),
    Alipay(LineReader<R, alipay::Body>),
}

impl<R: BufRead> Iterator for Rows<R> {
    type Item = Result<StatementRow, LineError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.reader {
            Reader::Qrpay(reader) => reader.next_item(),
            Reader::Wechat(reader) => reader.next_item(),
            Reader::Alipay(reader) => reader.next_item(),
        }
    }
}

/// Opens the statement of `provider` for business day `date` in `input`:
/// checks the header now, reads the rows as the iterator is driven.
pub fn read<R: BufRead>(
    format: Format,
    provider: Provider,
    date: BusinessDate,
    input: R,
) -> Result<Rows<R>, LineError> {
    let statement = Statement {
        provider,
        day: Day::new(date),
    };
    let mut lines = Lines::new(input);
    let reader = match format {
        Format::Qrpay => {
            let body = qrpay::open(&mut lines, statement)?;
            Reader::Qrpay(LineReader::new(lines, body))
        }
        Format::Wechat => {
            let body = wechat::open(&mut lines, statement)?;
            Reader::Wechat(LineReader::new(lines, body))
        }
        Format::Alipay => {
            let body = alipay::open(&mut lines, statement)?;
            Reader::Alipay(LineReader::new(lines, body))
        }
    };
    Ok(Rows { reader })
}

/// Writes one statement: the header on `new`, a line per `row`, the summary
/// on `finish`.
pub struct StatementWriter<W: Write> {
    out: W,
    layout: Layout,
    statement: Statement,
    tally: Tally,
    /// The line being built, in the format's encoding.
    line: Vec<u8>,
}

/// A format, and what its writer prepares once.
enum Layout {
    Qrpay,
    Wechat,
    Alipay(alipay::Words),
}

impl<W: Write> StatementWriter<W> {
    pub fn new(
        format: Format,
        provider: Provider,
        date: BusinessDate,
        out: W,
    ) -> io::Result<StatementWriter<W>> {
        let mut writer = StatementWriter {
            out,
            layout: match format {
                Format::Qrpay => Layout::Qrpay,
                Format::Wechat => Layout::Wechat,
                Format::Alipay => Layout::Alipay(alipay::Words::new()),
            },
            statement: Statement {
                provider,
                day: Day::new(date),
            },
            tally: Tally::default(),
            line: Vec::with_capacity(512),
        };
        let line = &mut writer.line;
        match writer.layout {
            Layout::Qrpay => qrpay::push_header(line),
            Layout::Wechat => wechat::push_header(line),
            Layout::Alipay(_) => alipay::push_header(line, &writer.statement.day),
        }
        writer.out.write_all(line)?;
        Ok(writer)
    }

    /// Writes `row` (its `line` is ignored), or refuses it with
    /// `InvalidInput` and writes nothing.
    pub fn row(&mut self, row: &StatementRow) -> io::Result<()> {
        fields::check_row(row, self.statement.provider).map_err(refused)?;
        let line = &mut self.line;
        line.clear();
        let day = &self.statement.day;
        match &self.layout {
            Layout::Qrpay => qrpay::push_row(line, day, row),
            Layout::Wechat => wechat::push_row(line, day, row),
            Layout::Alipay(words) => alipay::push_row(line, day, words, row),
        }
        .map_err(refused)?;
        self.out.write_all(line)?;
        self.tally.add(row);
        Ok(())
    }

    /// Writes the summary (or trailer), flushes, and gives the output back.
    pub fn finish(mut self) -> io::Result<W> {
        self.tally.check_writable().map_err(refused)?;
        let line = &mut self.line;
        line.clear();
        match self.layout {
            Layout::Qrpay => qrpay::push_trailer(line, &self.tally),
            Layout::Wechat => wechat::push_summary(line, &self.tally),
            Layout::Alipay(_) => alipay::push_summary(line, &self.tally, &self.statement.day),
        }
        self.out.write_all(line)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

pub(crate) fn refused(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// Whom a statement is of: the provider and the business day.
#[derive(Debug, Clone)]
pub(crate) struct Statement {
    pub(crate) provider: Provider,
    pub(crate) day: Day,
}

/// What the detail lines of a statement add up to, to check against (or
/// write as) the format's summary.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    /// Detail lines, read or not.
    pub(crate) lines: u64,
    /// Detail lines that could not be read. While there are any, a summary
    /// is checked only for its count: the unread lines' values are unknown
    /// (and each was already reported).
    pub(crate) unread: u64,
    pub(crate) refunds: u64,
    /// Σ amount of every row, of refund rows, of payout rows.
    pub(crate) amount_fen: i128,
    pub(crate) refund_fen: i128,
    pub(crate) payout_fen: i128,
    pub(crate) fee_fen: i128,
}

impl Tally {
    pub(crate) fn add(&mut self, row: &StatementRow) {
        self.lines += 1;
        let amount = i128::from(row.amount_fen);
        self.amount_fen += amount;
        self.fee_fen += i128::from(row.fee_fen);
        match row.kind {
            MovementKind::Refund => {
                self.refunds += 1;
                self.refund_fen += amount;
            }
            MovementKind::Payout => self.payout_fen += amount,
            MovementKind::Payment | MovementKind::Deduction | MovementKind::Fee => {}
        }
    }

    pub(crate) fn add_unread(&mut self) {
        self.lines += 1;
        self.unread += 1;
    }

    /// Records one line's outcome and passes it on.
    pub(crate) fn record(
        &mut self,
        row: Result<StatementRow, LineError>,
    ) -> Result<StatementRow, LineError> {
        match &row {
            Ok(row) => self.add(row),
            Err(_) => self.add_unread(),
        }
        row
    }

    pub(crate) fn non_refunds(&self) -> u64 {
        self.lines - self.refunds
    }

    /// Σ amount of the rows that are not refunds.
    pub(crate) fn non_refund_fen(&self) -> i128 {
        self.amount_fen - self.refund_fen
    }

    /// Summaries print sums as statement amounts: each must fit `MAX_FEN`.
    fn check_writable(&self) -> Result<(), String> {
        let largest = self.amount_fen.max(self.fee_fen);
        if largest > i128::from(MAX_FEN) {
            return Err(format!(
                "the statement's total {} exceeds the largest amount a summary holds",
                format_fen_sum(largest)
            ));
        }
        Ok(())
    }
}

/// A summary line compared with the tally: every disagreement, in one error.
pub(crate) struct Agreement {
    complete: bool,
    differences: Vec<String>,
}

impl Agreement {
    pub(crate) fn with(tally: &Tally) -> Agreement {
        Agreement::complete_if(tally.unread == 0)
    }

    /// `complete`: every detail line was read, so sums can be compared.
    pub(crate) fn complete_if(complete: bool) -> Agreement {
        Agreement {
            complete,
            differences: Vec::new(),
        }
    }

    /// A count, checked only when every detail line was read (use
    /// [`Agreement::lines`] for the count of all detail lines).
    pub(crate) fn count(&mut self, label: &str, stated: u64, counted: u64) {
        if self.complete && stated != counted {
            self.differences
                .push(format!("{label} {stated}, counted {counted}"));
        }
    }

    /// The number of detail lines, checked even when some were unreadable.
    pub(crate) fn lines(&mut self, label: &str, stated: u64, lines: u64) {
        if stated != lines {
            self.differences
                .push(format!("{label} {stated}, counted {lines}"));
        }
    }

    /// A sum, checked only when every detail line was read.
    pub(crate) fn sum(&mut self, label: &str, stated_fen: i64, summed_fen: i128) {
        if self.complete && i128::from(stated_fen) != summed_fen {
            self.differences.push(format!(
                "{label} {}, summed {}",
                format_fen_sum(i128::from(stated_fen)),
                format_fen_sum(summed_fen)
            ));
        }
    }

    pub(crate) fn verdict(self, line: u64, summary: &str) -> Option<LineError> {
        (!self.differences.is_empty()).then(|| {
            LineError::new(
                line,
                format!(
                    "{summary} disagrees with the detail rows: {}",
                    self.differences.join("; ")
                ),
            )
        })
    }
}
