//! `Format::Alipay`: Alipay's business-detail bill, GBK-encoded, in one of
//! two column layouts after the same preamble: Alipay's own 25 columns
//! (`alipay_bill`: what the bill download gives), or the extended layout
//! below, which our writer makes for the sandbox fixtures and the benchmark:
//! it adds what Alipay's file cannot say (交易状态, 分期期数, 分期扣款 and
//! 转账 rows) and keeps only the columns we read.
//!
//! ```text
//! #支付宝业务明细查询
//! #账号：[2088000000000000]
//! #起始日期：[2026年11月20日 00:00:00]   终止日期：[2026年11月21日 00:00:00]
//! #-----------------------------------------业务明细列表----------------------------------------
//! 支付宝交易号,商户订单号,业务类型,…,交易状态,备注
//! 2026112022001400001234⇥,ord_1⇥,交易⇥,…                 (⇥: a tab)
//! #-----------------------------------------业务明细列表结束------------------------------------
//! #交易合计：1笔，商家实收共300.00元，服务费共6.90元
//! #退款合计：0笔，商家实收退款共0.00元
//! #导出时间：[2026年11月21日 00:00:00]
//! ```
//!
//! Values carry padding tabs (trimmed on read). 商家实收 is signed: a refund
//! or a transfer takes money from the shop. Each line is decoded from GBK on
//! its own: 0x0A never occurs inside a GBK character.

use std::io::BufRead;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use encoding_rs::{DecoderResult, EncoderResult, GBK};
use qrpay_domain::money_text::{format_fen, parse_yuan, push_fen, push_fen_sum, push_u64, Sign};

use super::alipay_bill::{self, Sums};
use super::beijing::Day;
use super::fields;
use super::lines::{self, after_end, parse_count, shown, split_exact, too_long, LineFormat, Lines};
use super::tally::{Agreement, Statement, Tally};
use crate::model::{LineError, MovementKind, ProviderStatus, StatementRow};

const NOT_ALIPAY: &str = "not an Alipay-style bill";
const TITLE: &str = "#支付宝业务明细查询";
/// A placeholder account: our statements do not know the merchant's PID.
const ACCOUNT_LINE: &str = "#账号：[2088000000000000]";
const LIST_START: &str = "业务明细列表";
const LIST_END: &str = "业务明细列表结束";
const LIST_START_LINE: &str =
    "#-----------------------------------------业务明细列表----------------------------------------";
const LIST_END_LINE: &str =
    "#-----------------------------------------业务明细列表结束------------------------------------";
const COLUMNS: usize = 16;
const COLUMN_HEADER: &str = "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,对方账户,订单金额（元）,商家实收（元）,服务费（元）,退款批次号/请求号,分期期数,交易状态,备注";
const CN_TIME: &str = "%Y年%m月%d日 %H:%M:%S";
const TRADES_PREFIX: &str = "#交易合计：";
const REFUNDS_PREFIX: &str = "#退款合计：";
const EXPORTED_PREFIX: &str = "#导出时间：[";
// 业务类型 and 交易状态 words.
const PAYMENT: &str = "交易";
const REFUND: &str = "退款";
const DEDUCTION: &str = "分期扣款";
const PAYOUT: &str = "转账";
const SUCCESS: &str = "成功";
const FAILED: &str = "失败";
const CLOSED: &str = "关闭";
const PROCESSING: &str = "处理中";
/// What pads each value, as Alipay writes it.
const PAD: char = '\t';

/// The lines after the column header.
pub(crate) struct Body {
    statement: Statement,
    tally: Tally,
    columns: Columns,
    stage: Stage,
    /// The line being read, decoded.
    text: String,
}

/// Which column layout the file has.
enum Columns {
    /// Ours (`COLUMN_HEADER`).
    Extended,
    /// Alipay's own, with the account of `#账号：[…]` and the sums its
    /// summary lines state.
    Bill { account: String, sums: Sums },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Rows,
    /// After the end-of-list marker: `#交易合计` comes next.
    Trades,
    /// `#退款合计` comes next; holds the count `#交易合计` stated.
    Refunds(Option<u64>),
    /// `#导出时间` comes next.
    Exported,
    Ended,
}

pub(crate) fn open<R: BufRead>(
    lines: &mut Lines<R>,
    statement: Statement,
) -> Result<Body, LineError> {
    let mut text = String::with_capacity(512);
    let first = lines::first_line(lines, NOT_ALIPAY, false)?;
    if decode_gbk(first, &mut text) != Some(TITLE) {
        return Err(LineError::new(
            1,
            format!("{NOT_ALIPAY}: line 1 is not '{TITLE}' (is the file GBK-encoded?)"),
        ));
    }
    let account_line = header_line(lines, &mut text)?;
    let Some(account) = account_line
        .strip_prefix("#账号：[")
        .and_then(|rest| rest.strip_suffix(']'))
    else {
        return Err(LineError::new(
            2,
            format!("{NOT_ALIPAY}: line 2 is not '#账号：[…]'"),
        ));
    };
    let account = account.to_owned();
    let period = header_line(lines, &mut text)?;
    check_period(period, statement.day.date().naive())?;
    let marker = header_line(lines, &mut text)?;
    if list_marker(marker) != Some(LIST_START) {
        return Err(LineError::new(
            4,
            format!("{NOT_ALIPAY}: line 4 is not the '#----{LIST_START}----' marker"),
        ));
    }
    let columns = match header_line(lines, &mut text)? {
        COLUMN_HEADER => Columns::Extended,
        alipay_bill::COLUMN_HEADER => Columns::Bill {
            account,
            sums: Sums::default(),
        },
        _ => {
            return Err(LineError::new(
                5,
                format!(
                    "{NOT_ALIPAY}: line 5 is neither Alipay's column header '{}' nor ours '{COLUMN_HEADER}'",
                    alipay_bill::COLUMN_HEADER
                ),
            ))
        }
    };
    Ok(Body {
        statement,
        tally: Tally::default(),
        columns,
        stage: Stage::Rows,
        text,
    })
}

/// The next line of the preamble, decoded.
fn header_line<'a, R: BufRead>(
    lines: &mut Lines<R>,
    text: &'a mut String,
) -> Result<&'a str, LineError> {
    let next_line = lines.number() + 1;
    match lines.next_line() {
        None => Err(LineError::new(
            next_line,
            format!(
                "truncated: the file ends at line {} inside the Alipay bill's header",
                next_line - 1
            ),
        )),
        Some((number, lines::Line::TooLong)) => Err(too_long(number)),
        Some((number, lines::Line::Unreadable(error))) => Err(lines::unreadable(number, &error)),
        Some((number, lines::Line::Bytes(bytes))) => {
            decode_gbk(bytes, text).ok_or_else(|| not_gbk(number))
        }
    }
}

/// `#起始日期：[…]   终止日期：[…]` must cover exactly `date`.
fn check_period(text: &str, date: NaiveDate) -> Result<(), LineError> {
    let parsed = || {
        let rest = text.strip_prefix("#起始日期：[")?;
        let (start, rest) = rest.split_once(']')?;
        let rest = rest.trim_start_matches(' ').strip_prefix("终止日期：[")?;
        let (end, tail) = rest.split_once(']')?;
        tail.trim_matches(' ').is_empty().then_some((start, end))
    };
    let Some((start, end)) = parsed() else {
        return Err(LineError::new(
            3,
            format!("{NOT_ALIPAY}: line 3 is not '#起始日期：[…]   终止日期：[…]'"),
        ));
    };
    let midnight = |date: NaiveDate| date.and_time(NaiveTime::MIN);
    let covers = NaiveDateTime::parse_from_str(start, CN_TIME).ok() == Some(midnight(date))
        && NaiveDateTime::parse_from_str(end, CN_TIME).ok() == date.succ_opt().map(midnight);
    if covers {
        Ok(())
    } else {
        Err(LineError::new(
            3,
            format!(
                "statement covers {} to {}, not {} 00:00:00 to the next day",
                lines::shown(start),
                lines::shown(end),
                date.format("%Y-%m-%d")
            ),
        ))
    }
}

/// `#---…NAME…---` → NAME.
fn list_marker(text: &str) -> Option<&str> {
    text.strip_prefix("#-").map(|name| name.trim_matches('-'))
}

/// `bytes` decoded from GBK into `text`; `None` if they are not GBK.
fn decode_gbk<'a>(bytes: &[u8], text: &'a mut String) -> Option<&'a str> {
    text.clear();
    let mut decoder = GBK.new_decoder_without_bom_handling();
    text.reserve(decoder.max_utf8_buffer_length_without_replacement(bytes.len())?);
    match decoder.decode_to_string_without_replacement(bytes, text, true) {
        (DecoderResult::InputEmpty, _) => Some(text.as_str()),
        _ => None,
    }
}

fn not_gbk(number: u64) -> LineError {
    LineError::new(number, "line is not valid GBK")
}

impl LineFormat for Body {
    type Item = StatementRow;

    fn line(&mut self, number: u64, bytes: &[u8]) -> Option<Result<StatementRow, LineError>> {
        if self.stage == Stage::Ended {
            return (!bytes.is_empty()).then(|| Err(after_end(number)));
        }
        if bytes.is_empty() {
            return Some(Err(LineError::new(
                number,
                "empty line before the end of the bill",
            )));
        }
        let Some(text) = decode_gbk(bytes, &mut self.text) else {
            if self.stage == Stage::Rows {
                self.tally.add_unread();
            } else {
                self.stage = next_stage(self.stage);
            }
            return Some(Err(not_gbk(number)));
        };
        let error = match self.stage {
            Stage::Rows if list_marker(text) == Some(LIST_END) => {
                self.stage = Stage::Trades;
                None
            }
            Stage::Rows if text.starts_with('#') => Some(LineError::new(
                number,
                format!("expected a detail row or the '#----{LIST_END}----' marker"),
            )),
            Stage::Rows => {
                let row = match &mut self.columns {
                    Columns::Extended => parse_row(&self.statement, number, text),
                    Columns::Bill { account, sums } => {
                        alipay_bill::parse_row(&self.statement, account, number, text, sums)
                    }
                };
                let row = row.map_err(|message| LineError::new(number, message));
                return Some(self.tally.record(row));
            }
            Stage::Trades => {
                let (error, stated) = match &self.columns {
                    Columns::Extended => check_trades(number, text, &self.tally),
                    Columns::Bill { sums, .. } => {
                        alipay_bill::check_trades(number, text, &self.tally, sums)
                    }
                };
                self.stage = Stage::Refunds(stated);
                error
            }
            Stage::Refunds(trades) => {
                self.stage = Stage::Exported;
                match &self.columns {
                    Columns::Extended => check_refunds(number, text, &self.tally, trades),
                    Columns::Bill { sums, .. } => {
                        alipay_bill::check_refunds(number, text, &self.tally, sums, trades)
                    }
                }
            }
            Stage::Exported => {
                self.stage = Stage::Ended;
                check_exported(number, text)
            }
            Stage::Ended => None,
        };
        error.map(Err)
    }

    fn too_long(&mut self, number: u64) -> LineError {
        match self.stage {
            Stage::Rows => self.tally.add_unread(),
            Stage::Ended => return after_end(number),
            stage => self.stage = next_stage(stage),
        }
        too_long(number)
    }

    fn end(&mut self, next_line: u64) -> Option<LineError> {
        let missing = match self.stage {
            Stage::Rows => format!("the '#----{LIST_END}----' marker and the summary"),
            Stage::Trades => format!("its '{TRADES_PREFIX}…' summary"),
            Stage::Refunds(_) => format!("its '{REFUNDS_PREFIX}…' summary"),
            Stage::Exported => format!("its '{EXPORTED_PREFIX}…]' line"),
            Stage::Ended => return None,
        };
        Some(LineError::new(
            next_line,
            format!("truncated: the file ends without {missing}"),
        ))
    }
}

/// The stage after a summary line, read or not.
fn next_stage(stage: Stage) -> Stage {
    match stage {
        Stage::Rows => Stage::Rows,
        Stage::Trades => Stage::Refunds(None),
        Stage::Refunds(_) => Stage::Exported,
        Stage::Exported | Stage::Ended => Stage::Ended,
    }
}

fn parse_row(statement: &Statement, line: u64, text: &str) -> Result<StatementRow, String> {
    let fields = split_exact::<COLUMNS>(text, b',')
        .map_err(|found| format!("expected {COLUMNS} fields, found {found}"))?;
    #[rustfmt::skip]
    let [
        trade_no, out_trade_no, business, _goods, _created, finished, store_id, _store_name,
        counterparty, order_amount, received, service_fee, refund_no, instalment, state, _memo,
    ] = fields.map(|value| value.trim_matches([' ', PAD]));
    let day = &statement.day;
    let occurred_at = day.parse_local(finished).map_err(|error| {
        fields::time_error(error, "完成时间", finished, day, "'YYYY-MM-DD HH:MM:SS'")
    })?;
    let kind = match business {
        PAYMENT => MovementKind::Payment,
        REFUND => MovementKind::Refund,
        DEDUCTION => MovementKind::Deduction,
        PAYOUT => MovementKind::Payout,
        _ => return Err(format!("unknown 业务类型 {}", shown(business))),
    };
    let amount_fen = fields::amount("订单金额", order_amount)?;
    let received_fen =
        parse_yuan(received, Sign::Signed).map_err(|_| fields::not_yuan("商家实收", received))?;
    let expected_fen = received_by_shop(kind, amount_fen);
    if received_fen != expected_fen {
        return Err(format!(
            "商家实收 {received} does not match a {business} of {order_amount} (expected {})",
            format_fen(expected_fen)
        ));
    }
    let provider_ref = match kind {
        MovementKind::Refund => fields::provider_ref("退款批次号/请求号", refund_no)?,
        _ => fields::provider_ref("支付宝交易号", trade_no)?,
    };
    let period = match (kind, instalment) {
        (MovementKind::Deduction, text) => Some(fields::period("分期期数", text)?),
        (_, "") => None,
        (_, _) => {
            return Err(format!(
                "分期期数 is only for 分期扣款 rows, not {business}"
            ))
        }
    };
    let status = match state {
        SUCCESS => ProviderStatus::Success,
        FAILED => ProviderStatus::Failed,
        CLOSED => ProviderStatus::Closed,
        PROCESSING => ProviderStatus::Processing,
        _ => return Err(format!("unknown 交易状态 {}", shown(state))),
    };
    Ok(StatementRow {
        line,
        provider: statement.provider,
        shop_id: fields::our_id("门店编号", store_id)?.to_owned(),
        kind,
        reference: fields::our_id("商户订单号", out_trade_no)?.to_owned(),
        provider_ref: provider_ref.to_owned(),
        period,
        amount_fen,
        fee_fen: fields::fee("服务费", service_fee)?,
        status,
        occurred_at,
        payer: fields::payer("对方账户", counterparty)?,
    })
}

/// 商家实收 of a row: what the shop received, negative when money left it.
/// (The service fee is its own column, so it is not netted here.)
fn received_by_shop(kind: MovementKind, amount_fen: i64) -> i64 {
    match kind {
        MovementKind::Refund | MovementKind::Payout | MovementKind::AdjustmentDebit => -amount_fen,
        MovementKind::Payment
        | MovementKind::Deduction
        | MovementKind::Fee
        | MovementKind::FeeReturned
        | MovementKind::AdjustmentCredit => amount_fen,
    }
}

/// Σ 商家实收 of the rows that are not refunds.
fn received_by_shop_fen(tally: &Tally) -> i128 {
    tally.non_refund_fen() - 2 * tally.payout_fen
}

/// `#交易合计：N笔，商家实收共X元，服务费共Y元`: the error, if any, and N.
fn check_trades(number: u64, text: &str, tally: &Tally) -> (Option<LineError>, Option<u64>) {
    let parsed = || {
        let rest = text.strip_prefix(TRADES_PREFIX)?;
        let (count, rest) = rest.split_once("笔，商家实收共")?;
        let (received, rest) = rest.split_once("元，服务费共")?;
        let fee = rest.strip_suffix('元')?;
        Some((
            parse_count(count)?,
            parse_yuan(received, Sign::Signed).ok()?,
            parse_yuan(fee, Sign::Unsigned).ok()?,
        ))
    };
    let Some((count, received_fen, fee_fen)) = parsed() else {
        let message =
            format!("malformed summary: expected '{TRADES_PREFIX}N笔，商家实收共X元，服务费共Y元'");
        return (Some(LineError::new(number, message)), None);
    };
    let mut agreement = Agreement::with(tally);
    agreement.count("交易合计", count, tally.non_refunds());
    agreement.sum("商家实收共", received_fen, received_by_shop_fen(tally));
    agreement.sum("服务费共", fee_fen, tally.fee_fen);
    (agreement.verdict(number, "the 交易合计 line"), Some(count))
}

/// `#退款合计：N笔，商家实收退款共-X元`.
fn check_refunds(number: u64, text: &str, tally: &Tally, trades: Option<u64>) -> Option<LineError> {
    let parsed = || {
        let rest = text.strip_prefix(REFUNDS_PREFIX)?;
        let (count, rest) = rest.split_once("笔，商家实收退款共")?;
        let refunded = rest.strip_suffix('元')?;
        Some((
            parse_count(count)?,
            parse_yuan(refunded, Sign::Signed).ok()?,
        ))
    };
    let Some((count, refunded_fen)) = parsed() else {
        let message =
            format!("malformed summary: expected '{REFUNDS_PREFIX}N笔，商家实收退款共-X元'");
        return Some(LineError::new(number, message));
    };
    let mut agreement = Agreement::with(tally);
    agreement.count("退款合计", count, tally.refunds);
    agreement.sum("商家实收退款共", refunded_fen, -tally.refund_fen);
    if tally.unread > 0 {
        if let Some(trades) = trades {
            agreement.lines(
                "交易合计 + 退款合计",
                trades.saturating_add(count),
                tally.lines,
            );
        }
    }
    agreement.verdict(number, "the 退款合计 line")
}

/// `#导出时间：[YYYY年MM月DD日 HH:MM:SS]`.
fn check_exported(number: u64, text: &str) -> Option<LineError> {
    let time = text
        .strip_prefix(EXPORTED_PREFIX)
        .and_then(|rest| rest.strip_suffix(']'));
    match time.map(|time| NaiveDateTime::parse_from_str(time, CN_TIME)) {
        Some(Ok(_)) => None,
        _ => Some(LineError::new(
            number,
            format!("malformed line: expected '{EXPORTED_PREFIX}YYYY年MM月DD日 HH:MM:SS]'"),
        )),
    }
}

/// Appends `text` encoded in GBK, refusing what GBK cannot hold.
fn push_gbk(out: &mut Vec<u8>, text: &str) -> Result<(), String> {
    if text.is_ascii() {
        out.extend_from_slice(text.as_bytes());
        return Ok(());
    }
    let mut encoder = GBK.new_encoder();
    let room = encoder
        .max_buffer_length_from_utf8_without_replacement(text.len())
        .ok_or_else(|| "the text is too long to encode".to_owned())?;
    out.reserve(room);
    match encoder.encode_from_utf8_to_vec_without_replacement(text, out, true) {
        (EncoderResult::InputEmpty, _) => Ok(()),
        (EncoderResult::Unmappable(c), _) => Err(format!("{c:?} cannot be written in GBK")),
        (EncoderResult::OutputFull, _) => Err("the text could not be encoded".to_owned()),
    }
}

/// Text of our own making (every character in GBK) → GBK.
fn gbk_of(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    // Our constant Chinese words are all in GBK; a failure leaves them out,
    // which the round-trip tests would catch.
    let _ = push_gbk(&mut out, text);
    out
}

/// The Chinese words of a row, encoded once per writer: a row is written
/// straight into GBK bytes, only its payer text needs the encoder.
pub(crate) struct Words {
    payment: Vec<u8>,
    refund: Vec<u8>,
    deduction: Vec<u8>,
    payout: Vec<u8>,
    success: Vec<u8>,
    failed: Vec<u8>,
    closed: Vec<u8>,
    processing: Vec<u8>,
}

impl Words {
    pub(crate) fn new() -> Words {
        Words {
            payment: gbk_of(PAYMENT),
            refund: gbk_of(REFUND),
            deduction: gbk_of(DEDUCTION),
            payout: gbk_of(PAYOUT),
            success: gbk_of(SUCCESS),
            failed: gbk_of(FAILED),
            closed: gbk_of(CLOSED),
            processing: gbk_of(PROCESSING),
        }
    }
}

fn push_cn_midnight(out: &mut Vec<u8>, date: NaiveDate) {
    out.extend_from_slice(
        date.and_time(NaiveTime::MIN)
            .format(CN_TIME)
            .to_string()
            .as_bytes(),
    );
}

/// The preamble and column header, in GBK.
pub(crate) fn push_header(gbk: &mut Vec<u8>, day: &Day) {
    let mut text = Vec::with_capacity(1024);
    let out = &mut text;
    let date = day.date().naive();
    for line in [TITLE, ACCOUNT_LINE] {
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice("#起始日期：[".as_bytes());
    push_cn_midnight(out, date);
    out.extend_from_slice("]   终止日期：[".as_bytes());
    push_cn_midnight(out, date.succ_opt().unwrap_or(date));
    out.extend_from_slice(b"]\n");
    for line in [LIST_START_LINE, COLUMN_HEADER] {
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    gbk.extend_from_slice(&gbk_of(std::str::from_utf8(&text).unwrap_or_default()));
}

/// Appends a value and its padding, then the separator.
fn push_padded(out: &mut Vec<u8>, value: &str) {
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\t,");
}

fn push_padded_fen(out: &mut Vec<u8>, fen: i64) {
    push_fen(out, fen);
    out.extend_from_slice(b"\t,");
}

/// Appends `row` as a GBK line.
pub(crate) fn push_row(
    out: &mut Vec<u8>,
    day: &Day,
    words: &Words,
    row: &StatementRow,
) -> Result<(), String> {
    let payer = row.payer.as_deref().unwrap_or_default();
    if payer.trim_matches([' ', PAD]) != payer {
        return Err("a payer with leading or trailing spaces cannot be written in an Alipay bill (values are trimmed)".to_owned());
    }
    let (business, refund) = match row.kind {
        MovementKind::Payment => (&words.payment, false),
        MovementKind::Refund => (&words.refund, true),
        MovementKind::Deduction => (&words.deduction, false),
        MovementKind::Payout => (&words.payout, false),
        MovementKind::Fee | MovementKind::FeeReturned => {
            return Err(format!("a {} row cannot be written", row.kind))
        }
        MovementKind::AdjustmentCredit | MovementKind::AdjustmentDebit => {
            return Err("a balance adjustment is ours alone: no bill lists it".to_owned())
        }
    };
    let state = match row.status {
        ProviderStatus::Success => &words.success,
        ProviderStatus::Failed => &words.failed,
        ProviderStatus::Closed => &words.closed,
        ProviderStatus::Processing => &words.processing,
    };
    // Everything but the Chinese words and the payer is ASCII, the same in GBK.
    push_padded(out, if refund { "" } else { &row.provider_ref });
    push_padded(out, &row.reference);
    out.extend_from_slice(business);
    out.extend_from_slice(b"\t,");
    push_padded(out, ""); // 商品名称
    for _ in 0..2 {
        // 创建时间, 完成时间: we know one time.
        day.push_local(out, row.occurred_at)?;
        out.extend_from_slice(b"\t,");
    }
    push_padded(out, &row.shop_id);
    push_padded(out, ""); // 门店名称
    push_gbk(out, payer)?;
    out.extend_from_slice(b"\t,");
    push_padded_fen(out, row.amount_fen);
    push_padded_fen(out, received_by_shop(row.kind, row.amount_fen));
    push_padded_fen(out, row.fee_fen);
    push_padded(out, if refund { &row.provider_ref } else { "" });
    if let Some(period) = row.period {
        push_u64(out, u64::from(period));
    }
    out.extend_from_slice(b"\t,");
    out.extend_from_slice(state);
    out.extend_from_slice(b"\t,");
    out.push(b'\n'); // 备注 is empty
    Ok(())
}

/// The end-of-list marker, the two summary lines and the export time (the
/// end of the covered day: the writer has no clock, and a fixture must not
/// change from run to run).
pub(crate) fn push_summary(gbk: &mut Vec<u8>, tally: &Tally, day: &Day) {
    let mut text = Vec::with_capacity(512);
    let out = &mut text;
    out.extend_from_slice(LIST_END_LINE.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(TRADES_PREFIX.as_bytes());
    push_u64(out, tally.non_refunds());
    out.extend_from_slice("笔，商家实收共".as_bytes());
    push_fen_sum(out, received_by_shop_fen(tally));
    out.extend_from_slice("元，服务费共".as_bytes());
    push_fen_sum(out, tally.fee_fen);
    out.extend_from_slice("元\n".as_bytes());
    out.extend_from_slice(REFUNDS_PREFIX.as_bytes());
    push_u64(out, tally.refunds);
    out.extend_from_slice("笔，商家实收退款共".as_bytes());
    push_fen_sum(out, -tally.refund_fen);
    out.extend_from_slice("元\n".as_bytes());
    out.extend_from_slice(EXPORTED_PREFIX.as_bytes());
    let date = day.date().naive();
    push_cn_midnight(out, date.succ_opt().unwrap_or(date));
    out.extend_from_slice(b"]\n");
    gbk.extend_from_slice(&gbk_of(std::str::from_utf8(&text).unwrap_or_default()));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing: the period's bounds were quoted whole, so a header
    /// line of any length (up to the line cap) came back in the error.
    #[test]
    fn a_wrong_period_quotes_its_bounds_cut_short() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let long = "2".repeat(5_000);
        let line = format!("#起始日期：[{long}]   终止日期：[{long}]");
        let error = check_period(&line, date).unwrap_err();
        assert_eq!(error.line, 3);
        assert!(
            error.message.chars().count() < 200,
            "{} chars",
            error.message.len()
        );
        assert!(
            error.message.starts_with("statement covers \"2222"),
            "{}",
            error.message
        );
    }
}
