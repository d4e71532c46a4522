//! `Format::Wechat`: WeChat Pay's trade bill, `ALL` (UTF-8). A 27-column
//! header, one row per movement with every value prefixed by a backtick,
//! then a summary header and one summary row. Amounts in yuan; times in
//! Beijing local time.
//! https://pay.weixin.qq.com/docs/merchant/products/bill-download/format-trade.html
//!
//! A refund is a row whose 交易状态 is `REFUND`: its amount is 退款金额, its
//! id 微信退款单号, its state 退款状态 (its 应结订单金额 is `0.00` and is
//! not read). 商户订单号 is the order (of a refund too).
//!
//! 手续费 has two decimals, or five as WeChat Pay writes it (`0.53000`,
//! never more than the fen); a refund's is the fee returned, negative
//! (`-0.30000`) or zero, and `fee_fen` holds its size. 手续费总金额 is
//! the net of the rows: payments' fees less the fees returned.
//! 商品名称 and 商户数据包 are free text and may hold commas: a row with
//! more commas than columns is split where a backtick starts the next value.
//!
//! The shop is 特约商户号: a sub-merchant's number. A direct merchant's bill
//! says `0` (or nothing) there: the shop is then 商户数据包, the `attach` our
//! order sent (the shop id), or, without one, `UNATTRIBUTED_SHOP`.

use std::io::BufRead;

use qrpay_domain::money_text::{parse_yuan, push_fen, push_fen_sum, push_u64, Sign};

use super::beijing::Day;
use super::fields;
use super::lines::{
    self, after_end, not_utf8, parse_count, shown, split_exact, too_long, LineFormat, Lines,
};
use super::tally::{Agreement, Statement, Tally};
use crate::model::{LineError, MovementKind, ProviderStatus, StatementRow, UNATTRIBUTED_SHOP};

const COLUMNS: usize = 27;
const COLUMN_NAMES: [&str; COLUMNS] = [
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
    "订单金额",
    "申请退款金额",
    "费率备注",
];
const HEADER: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注";
const SUMMARY_COLUMNS: usize = 7;
const SUMMARY_HEADER: &str =
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额";
const SUMMARY_HEADER_START: &str = "总交易单数";
const REFUND_STATE: &str = "REFUND";
const PERIOD_PREFIX: &str = "period=";

/// The lines after the header.
pub(crate) struct Body {
    statement: Statement,
    tally: Tally,
    stage: Stage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Rows,
    /// The summary header was read; the summary row comes next.
    SummaryRow,
    Ended,
}

pub(crate) fn open<R: BufRead>(
    lines: &mut Lines<R>,
    statement: Statement,
) -> Result<Body, LineError> {
    lines::expect_utf8_header(lines, HEADER, "not a WeChat-Pay-style bill")?;
    Ok(Body {
        statement,
        tally: Tally::default(),
        stage: Stage::Rows,
    })
}

impl LineFormat for Body {
    type Item = StatementRow;

    fn line(&mut self, number: u64, bytes: &[u8]) -> Option<Result<StatementRow, LineError>> {
        match self.stage {
            Stage::Ended => (!bytes.is_empty()).then(|| Err(after_end(number))),
            Stage::SummaryRow => {
                self.stage = Stage::Ended;
                check_summary(number, bytes, &self.tally).map(Err)
            }
            Stage::Rows if bytes.is_empty() => {
                Some(Err(LineError::new(number, "empty line among the rows")))
            }
            Stage::Rows if bytes.starts_with(SUMMARY_HEADER_START.as_bytes()) => {
                self.stage = Stage::SummaryRow;
                (bytes != SUMMARY_HEADER.as_bytes()).then(|| {
                    Err(LineError::new(
                        number,
                        format!("malformed summary header: expected '{SUMMARY_HEADER}'"),
                    ))
                })
            }
            Stage::Rows => {
                let row = lines::utf8_row(number, bytes, |text| {
                    parse_row(&self.statement, number, text)
                });
                Some(self.tally.record(row))
            }
        }
    }

    fn too_long(&mut self, number: u64) -> LineError {
        match self.stage {
            Stage::Rows => self.tally.add_unread(),
            Stage::SummaryRow => self.stage = Stage::Ended,
            Stage::Ended => return after_end(number),
        }
        too_long(number)
    }

    fn end(&mut self, next_line: u64) -> Option<LineError> {
        let message = match self.stage {
            Stage::Rows => {
                "truncated: the file ends without its summary ('总交易单数,…' and a summary row)"
            }
            Stage::SummaryRow => {
                "truncated: the file ends after the summary header, without the summary row"
            }
            Stage::Ended => return None,
        };
        Some(LineError::new(next_line, message))
    }
}

/// The values of a line: each field must start with a backtick.
fn values<'a, const N: usize>(text: &'a str, names: &[&str; N]) -> Result<[&'a str; N], String> {
    let fields = match split_exact::<N>(text, b',') {
        Ok(fields) => fields,
        Err(found) if found > N => {
            return split_at_backticks::<N>(text)
                .ok_or_else(|| format!("expected {N} backtick-prefixed values, found {found}"))
        }
        Err(found) => {
            return Err(format!(
                "expected {N} backtick-prefixed values, found {found}"
            ))
        }
    };
    let mut values = [""; N];
    for ((value, field), name) in values.iter_mut().zip(fields).zip(names) {
        *value = field
            .strip_prefix('`')
            .ok_or_else(|| format!("{name} {} does not start with '`'", shown(field)))?;
    }
    Ok(values)
}

/// The values of a line whose free text holds commas: every value starts
/// with a backtick, so `,` followed by a backtick is the boundary.
fn split_at_backticks<const N: usize>(text: &str) -> Option<[&str; N]> {
    let mut parts = text.strip_prefix('`')?.split(",`");
    let mut values = [""; N];
    for value in values.iter_mut() {
        *value = parts.next()?;
    }
    parts.next().is_none().then_some(values)
}

/// An amount with five decimals whose last three are zero (`0.53000`), as
/// two (`0.53`); any other text as it is.
fn to_fen_decimals(text: &str) -> &str {
    match text.find('.') {
        Some(dot) if text.len() - dot == 6 && text[dot + 3..].bytes().all(|b| b == b'0') => {
            &text[..dot + 3]
        }
        _ => text,
    }
}

/// 手续费 of a row: zero or more on a payment; on a refund the fee
/// returned, zero or negative. The size in fen.
fn fee_of_row(text: &str, refund: bool) -> Result<i64, String> {
    let magnitude = match text.strip_prefix('-') {
        Some(magnitude) if refund => magnitude,
        _ => text,
    };
    let fen = parse_yuan(to_fen_decimals(magnitude), Sign::Unsigned).map_err(|_| {
        format!(
            "手续费 {} is not an amount in yuan with at most two decimals (or five ending in 000)",
            shown(text)
        )
    })?;
    if refund && fen > 0 && magnitude.len() == text.len() {
        return Err(format!(
            "手续费 {} of a refund is the fee returned: zero or negative",
            shown(text)
        ));
    }
    Ok(fen)
}

/// Whose row it is: the sub-merchant, else the shop our order's `attach`
/// named; free text that is no shop id (another system's order, or an
/// instalment row's period) leaves it unattributed.
fn shop_of<'a>(
    sub_merchant: &'a str,
    attach: &'a str,
    kind: MovementKind,
) -> Result<&'a str, String> {
    match sub_merchant {
        "" | "0" if kind == MovementKind::Deduction => Ok(UNATTRIBUTED_SHOP),
        "" | "0" => Ok(fields::our_id("商户数据包", attach).unwrap_or(UNATTRIBUTED_SHOP)),
        id => fields::our_id("特约商户号", id),
    }
}

fn parse_row(statement: &Statement, line: u64, text: &str) -> Result<StatementRow, String> {
    #[rustfmt::skip]
    let [
        time, _, _, shop_id, _, transaction_id, out_trade_no, payer, trade_type, trade_state,
        _, currency, settled, _, refund_id, _, refund_amount, _, _, refund_state,
        _, attach, fee, _, _, _, _,
    ] = values(text, &COLUMN_NAMES)?;
    let day = &statement.day;
    let occurred_at = day.parse_local(time).map_err(|error| {
        fields::time_error(error, "交易时间", time, day, "'YYYY-MM-DD HH:MM:SS'")
    })?;
    let trade_kind = match trade_type {
        "NATIVE" | "JSAPI" | "MICROPAY" | "APP" | "MWEB" => MovementKind::Payment,
        "INSTALMENT" => MovementKind::Deduction,
        "TRANSFER" => MovementKind::Payout,
        _ => return Err(format!("unknown 交易类型 {}", shown(trade_type))),
    };
    if currency != "CNY" {
        return Err(format!("货币种类 {} is not CNY", shown(currency)));
    }
    let (kind, status, provider_ref, amount_fen) = if trade_state == REFUND_STATE {
        let status = match refund_state {
            "SUCCESS" => ProviderStatus::Success,
            "PROCESSING" => ProviderStatus::Processing,
            "CHANGE" | "FAIL" | "REFUNDCLOSE" => ProviderStatus::Failed,
            _ => return Err(format!("unknown 退款状态 {}", shown(refund_state))),
        };
        let refund_ref = fields::provider_ref("微信退款单号", refund_id)?;
        let amount_fen = fields::amount("退款金额", refund_amount)?;
        (MovementKind::Refund, status, refund_ref, amount_fen)
    } else {
        let status = match trade_state {
            "SUCCESS" => ProviderStatus::Success,
            "PAYERROR" => ProviderStatus::Failed,
            "CLOSED" | "REVOKED" => ProviderStatus::Closed,
            "USERPAYING" | "NOTPAY" => ProviderStatus::Processing,
            _ => return Err(format!("unknown 交易状态 {}", shown(trade_state))),
        };
        let transaction_ref = fields::provider_ref("微信订单号", transaction_id)?;
        let amount_fen = fields::amount("应结订单金额", settled)?;
        (trade_kind, status, transaction_ref, amount_fen)
    };
    // 商户数据包 is the merchant's free text; it carries the period only on
    // instalment rows.
    let period = match kind {
        MovementKind::Deduction => {
            let period = attach.strip_prefix(PERIOD_PREFIX).ok_or_else(|| {
                format!(
                    "商户数据包 {} of an INSTALMENT row is not 'period=N'",
                    shown(attach)
                )
            })?;
            Some(fields::period("商户数据包 period", period)?)
        }
        _ => None,
    };
    Ok(StatementRow {
        line,
        provider: statement.provider,
        shop_id: shop_of(shop_id, attach, kind)?.to_owned(),
        kind,
        reference: fields::our_id("商户订单号", out_trade_no)?.to_owned(),
        provider_ref: provider_ref.to_owned(),
        period,
        amount_fen,
        fee_fen: fee_of_row(fee, kind == MovementKind::Refund)?,
        status,
        occurred_at,
        payer: fields::payer("用户标识", payer)?,
    })
}

fn check_summary(number: u64, bytes: &[u8], tally: &Tally) -> Option<LineError> {
    const NAMES: [&str; SUMMARY_COLUMNS] = [
        "总交易单数",
        "应结订单总金额",
        "退款总金额",
        "充值券退款总金额",
        "手续费总金额",
        "订单总金额",
        "申请退款总金额",
    ];
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Some(not_utf8(number));
    };
    let summary = values(text, &NAMES).and_then(
        |[count, settled, refunded, coupons, fee, ordered, requested]| {
            let count = parse_count(count)
                .ok_or_else(|| format!("总交易单数 {} is not a count", shown(count)))?;
            let yuan = |name: &str, text: &str| {
                parse_yuan(text, Sign::Unsigned).map_err(|_| fields::not_yuan(name, text))
            };
            yuan("充值券退款总金额", coupons)?;
            yuan("订单总金额", ordered)?;
            yuan("申请退款总金额", requested)?;
            let net_fee = parse_yuan(to_fen_decimals(fee), Sign::Signed)
                .map_err(|_| fields::not_yuan("手续费总金额", fee))?;
            Ok((
                count,
                yuan("应结订单总金额", settled)?,
                yuan("退款总金额", refunded)?,
                net_fee,
            ))
        },
    );
    let (count, settled_fen, refunded_fen, fee_fen) = match summary {
        Ok(summary) => summary,
        Err(message) => {
            return Some(LineError::new(
                number,
                format!("malformed summary row: {message}"),
            ))
        }
    };
    let mut agreement = Agreement::with(tally);
    agreement.lines("总交易单数", count, tally.lines);
    agreement.sum("应结订单总金额", settled_fen, tally.non_refund_fen());
    agreement.sum("退款总金额", refunded_fen, tally.refund_fen);
    agreement.sum("手续费总金额", fee_fen, net_fee_fen(tally));
    agreement.verdict(number, "the summary row")
}

/// Payments' fees less the fees refunds returned.
fn net_fee_fen(tally: &Tally) -> i128 {
    tally.fee_fen - 2 * tally.refund_fee_fen
}

pub(crate) fn push_header(out: &mut Vec<u8>) {
    out.extend_from_slice(HEADER.as_bytes());
    out.push(b'\n');
}

/// Appends `,` and a backtick-prefixed value.
fn push_value(out: &mut Vec<u8>, value: &str) {
    out.extend_from_slice(b",`");
    out.extend_from_slice(value.as_bytes());
}

fn push_amount(out: &mut Vec<u8>, fen: i64) {
    out.extend_from_slice(b",`");
    push_fen(out, fen);
}

pub(crate) fn push_row(out: &mut Vec<u8>, day: &Day, row: &StatementRow) -> Result<(), String> {
    let refund = row.kind == MovementKind::Refund;
    let (trade_type, trade_state, refund_state) = match (row.kind, row.status) {
        (MovementKind::Refund, status) => {
            let refund_state = match status {
                ProviderStatus::Success => "SUCCESS",
                ProviderStatus::Processing => "PROCESSING",
                ProviderStatus::Failed => "FAIL",
                ProviderStatus::Closed => {
                    return Err("a CLOSED refund cannot be written in a WeChat bill (退款状态 is SUCCESS, PROCESSING or a failure)".to_owned());
                }
            };
            ("NATIVE", REFUND_STATE, refund_state)
        }
        (kind, status) => {
            let trade_type = match kind {
                MovementKind::Deduction => "INSTALMENT",
                MovementKind::Payout => "TRANSFER",
                _ => "NATIVE",
            };
            let trade_state = match status {
                ProviderStatus::Success => "SUCCESS",
                ProviderStatus::Failed => "PAYERROR",
                ProviderStatus::Closed => "CLOSED",
                ProviderStatus::Processing => "USERPAYING",
            };
            (trade_type, trade_state, "")
        }
    };
    let (settled_fen, refund_fen) = if refund {
        (0, row.amount_fen)
    } else {
        (row.amount_fen, 0)
    };
    out.push(b'`');
    day.push_local(out, row.occurred_at)?;
    push_value(out, ""); // 公众账号ID
    push_value(out, ""); // 商户号
    push_value(out, &row.shop_id);
    push_value(out, ""); // 设备号
    push_value(out, if refund { "" } else { &row.provider_ref });
    push_value(out, &row.reference);
    push_value(out, row.payer.as_deref().unwrap_or_default());
    push_value(out, trade_type);
    push_value(out, trade_state);
    push_value(out, ""); // 付款银行
    push_value(out, "CNY");
    push_amount(out, settled_fen);
    push_amount(out, 0); // 代金券金额
    push_value(out, if refund { &row.provider_ref } else { "" }); // 微信退款单号
    push_value(out, if refund { &row.provider_ref } else { "" }); // 商户退款单号
    push_amount(out, refund_fen);
    push_amount(out, 0); // 充值券退款金额
    push_value(out, ""); // 退款类型
    push_value(out, refund_state);
    push_value(out, ""); // 商品名称
    out.extend_from_slice(b",`");
    if let Some(period) = row.period {
        out.extend_from_slice(PERIOD_PREFIX.as_bytes());
        push_u64(out, u64::from(period));
    }
    push_amount(out, if refund { -row.fee_fen } else { row.fee_fen });
    out.extend_from_slice(b",`");
    push_rate(out, row.fee_fen, row.amount_fen);
    push_amount(out, settled_fen); // 订单金额
    push_amount(out, refund_fen); // 申请退款金额
    push_value(out, ""); // 费率备注
    out.push(b'\n');
    Ok(())
}

/// 费率: the fee as a percentage of the amount, two decimals (`0.60%`).
fn push_rate(out: &mut Vec<u8>, fee_fen: i64, amount_fen: i64) {
    let hundredths_of_percent =
        (i128::from(fee_fen) * 10_000 + i128::from(amount_fen) / 2) / i128::from(amount_fen.max(1));
    push_fen_sum(out, hundredths_of_percent);
    out.push(b'%');
}

pub(crate) fn push_summary(out: &mut Vec<u8>, tally: &Tally) {
    out.extend_from_slice(SUMMARY_HEADER.as_bytes());
    out.extend_from_slice(b"\n`");
    push_u64(out, tally.lines);
    for sum in [
        tally.non_refund_fen(),
        tally.refund_fen,
        0,
        net_fee_fen(tally),
        tally.non_refund_fen(),
        tally.refund_fen,
    ] {
        out.extend_from_slice(b",`");
        push_fen_sum(out, sum);
    }
    out.push(b'\n');
}
