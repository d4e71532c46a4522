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
mod alipay_bill;
pub(crate) mod beijing;
mod douyin;
pub(crate) mod fields;
pub(crate) mod lines;
mod qrpay;
pub(crate) mod tally;
mod wechat;

use std::io::{self, BufRead, Write};

use qrpay_domain::{BusinessDate, Provider};

use self::beijing::Day;
use self::lines::{LineReader, Lines};
use self::tally::{Statement, Tally};
use crate::model::{LineError, StatementRow};

pub use self::lines::MAX_LINE_BYTES;

/// The file formats we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Our own CSV (UTF-8): the sandbox's bill.
    Qrpay,
    /// WeChat-Pay-style trade bill: backtick-prefixed values, yuan, summary.
    Wechat,
    /// Alipay's bill: GBK, `#` header/footer lines, detail and summary, in
    /// Alipay's own columns or our extended ones (see `alipay`).
    Alipay,
    /// Douyin's ecpay bill: its payment table, then its refund table.
    Douyin,
}

impl Format {
    pub fn for_provider(provider: Provider) -> Format {
        match provider {
            Provider::Wechatpay => Format::Wechat,
            Provider::Alipay => Format::Alipay,
            Provider::Douyin => Format::Douyin,
            Provider::Sandbox => Format::Qrpay,
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
    Douyin(LineReader<R, douyin::Body>),
}

impl<R: BufRead> Iterator for Rows<R> {
    type Item = Result<StatementRow, LineError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.reader {
            Reader::Qrpay(reader) => reader.next_item(),
            Reader::Wechat(reader) => reader.next_item(),
            Reader::Alipay(reader) => reader.next_item(),
            Reader::Douyin(reader) => reader.next_item(),
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
        Format::Douyin => {
            let body = douyin::open(&mut lines, statement)?;
            Reader::Douyin(LineReader::new(lines, body))
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
    Douyin(douyin::Writer),
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
                Format::Douyin => Layout::Douyin(douyin::Writer::new()),
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
            Layout::Douyin(_) => douyin::push_header(line),
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
        match &mut self.layout {
            Layout::Qrpay => qrpay::push_row(line, day, row),
            Layout::Wechat => wechat::push_row(line, day, row),
            Layout::Alipay(words) => alipay::push_row(line, day, words, row),
            Layout::Douyin(writer) => writer.push_row(line, day, row),
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
        match &mut self.layout {
            Layout::Qrpay => qrpay::push_trailer(line, &self.tally),
            Layout::Wechat => wechat::push_summary(line, &self.tally),
            Layout::Alipay(_) => alipay::push_summary(line, &self.tally, &self.statement.day),
            Layout::Douyin(writer) => writer.push_end(line),
        }
        self.out.write_all(line)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

pub(crate) fn refused(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}
