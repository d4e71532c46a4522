//! Alipay's own trade bill (`…_业务明细.csv` of the `trade` bill archive),
//! read by `Format::Alipay` beside the extended layout our writer makes. The
//! same preamble and `#` lines, but 25 columns
//! (research notes /work/notes/bills-research.md §2.1):
//!
//! ```text
//! 支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注
//! 2026112022001458860515315453⇥,ord_1⇥,交易⇥,咖啡,2026-11-20 10:55:16,2026-11-20 10:55:23,⇥,⇥,⇥,⇥,*津水(602***@qq.com)⇥,300.00,300.00,0.00,0.00,0.00,0.00,0.00,,0.00⇥,0.00,⇥,-1.80,0.00,
//! 2026112022001458860515315453⇥,ord_1⇥,退款⇥,咖啡,2026-11-20 10:55:16,2026-11-20 11:56:48,⇥,⇥,⇥,⇥,*津水(602***@qq.com)⇥,-100.00,-100.00,0.00,0.00,0.00,0.00,0.00,,0.00⇥,0.00,rfd_1⇥,0.60,0.00,
//! #-----------------------------------------业务明细列表结束------------------------------------
//! #交易合计：1笔，商家实收共300.00元，商家优惠共0.00元
//! #退款合计：1笔，商家实收退款共-100.00元，商家优惠退款共0.00元
//! ```
//!
//! Rows are the day's completed business, so every row is `SUCCESS`.
//! 业务类型 `交易` is a payment of 订单金额 (the order's amount; 商家实收 is
//! what the shop got after discounts), `退款` a refund with negative
//! amounts, named by our 退款批次号/请求号 (`out_request_no`). 服务费 is
//! Alipay's fee, written as a deduction (`-1.80`) or as a positive amount
//! depending on the export (UNCONFIRMED: the sandbox fixtures hold only
//! `0.00`): a payment's fee is its magnitude, and so is a refund's (the
//! share of the fee handed back, matched against the refund's
//! `FEE_RETURNED` entry). Other 业务类型 (充值,
//! 转账…) are refused line by line.
//!
//! Alipay knows our shop only if the order named a 门店编号 (our precreate
//! sends the shop id as `store_id`); an empty one leaves the row
//! unattributed (`UNATTRIBUTED_SHOP`): matched, it is the ledger entry's
//! shop's.

use qrpay_domain::money_text::{parse_yuan, Sign};

use super::fields;
use super::lines::{parse_count, shown, split_exact};
use super::tally::{Agreement, Statement, Tally};
use crate::model::{LineError, MovementKind, ProviderStatus, StatementRow, UNATTRIBUTED_SHOP};

pub(crate) const COLUMN_HEADER: &str = "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注";
const COLUMNS: usize = 25;
const TRADES_PREFIX: &str = "#交易合计：";
const REFUNDS_PREFIX: &str = "#退款合计：";
const PAYMENT: &str = "交易";
const REFUND: &str = "退款";

/// Σ 商家实收 and Σ 商家优惠 of the payments and of the refunds read, for
/// the two summary lines.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sums {
    trades_received: i128,
    trades_discount: i128,
    refunds_received: i128,
    refunds_discount: i128,
}

fn yuan(column: &str, text: &str) -> Result<i64, String> {
    parse_yuan(text, Sign::Signed).map_err(|_| fields::not_yuan(column, text))
}

/// One detail row; adds its 商家实收 and 商家优惠 to `sums` when it reads.
pub(crate) fn parse_row(
    statement: &Statement,
    _account: &str,
    line: u64,
    text: &str,
    sums: &mut Sums,
) -> Result<StatementRow, String> {
    let fields = split_exact::<COLUMNS>(text, b',')
        .map_err(|found| format!("expected {COLUMNS} fields, found {found}"))?;
    #[rustfmt::skip]
    let [
        trade_no, out_trade_no, business, _goods, _created, finished, store_id, _store_name,
        _operator, _terminal, counterparty, order_amount, received, _red, _points,
        _alipay_discount, merchant_discount, _coupon, _coupon_name, _merchant_red, _card,
        refund_no, service_fee, _profit_share, _memo,
    ] = fields.map(|value| value.trim_matches([' ', '\t']));
    let kind = match business {
        PAYMENT => MovementKind::Payment,
        REFUND => MovementKind::Refund,
        _ => return Err(format!("unknown 业务类型 {}", shown(business))),
    };
    let day = &statement.day;
    let occurred_at = day.parse_local(finished).map_err(|error| {
        fields::time_error(error, "完成时间", finished, day, "'YYYY-MM-DD HH:MM:SS'")
    })?;
    let signed_amount = yuan("订单金额", order_amount)?;
    let amount_fen = match kind {
        MovementKind::Refund if signed_amount < 0 => signed_amount.unsigned_abs(),
        MovementKind::Payment if signed_amount > 0 => signed_amount.unsigned_abs(),
        _ => {
            return Err(format!(
                "订单金额 {order_amount} of a {business} must be {}",
                if kind == MovementKind::Refund {
                    "negative"
                } else {
                    "positive"
                }
            ))
        }
    };
    let received_fen = yuan("商家实收", received)?;
    let discount_fen = yuan("商家优惠", merchant_discount)?;
    let fee_fen = yuan("服务费", service_fee)?;
    let provider_ref = match kind {
        MovementKind::Refund => fields::provider_ref("退款批次号/请求号", refund_no)?,
        _ => fields::provider_ref("支付宝交易号", trade_no)?,
    };
    let shop_id = match store_id {
        "" => UNATTRIBUTED_SHOP,
        id => fields::our_id("门店编号", id)?,
    };
    let row = StatementRow {
        line,
        provider: statement.provider,
        shop_id: shop_id.to_owned(),
        kind,
        reference: fields::our_id("商户订单号", out_trade_no)?.to_owned(),
        provider_ref: provider_ref.to_owned(),
        period: None,
        amount_fen: i64::try_from(amount_fen).map_err(|_| "订单金额 is too large".to_owned())?,
        fee_fen: fee_fen.saturating_abs(),
        status: ProviderStatus::Success,
        occurred_at,
        payer: fields::payer("对方账户", counterparty)?,
    };
    if kind == MovementKind::Refund {
        sums.refunds_received += i128::from(received_fen);
        sums.refunds_discount += i128::from(discount_fen);
    } else {
        sums.trades_received += i128::from(received_fen);
        sums.trades_discount += i128::from(discount_fen);
    }
    Ok(row)
}

/// `N笔，商家实收共X元，商家优惠共Y元` after `prefix`, with `refund`'s words.
fn parse_summary(text: &str, prefix: &str, refund: bool) -> Option<(u64, i64, i64)> {
    let (received_word, discount_word) = if refund {
        ("笔，商家实收退款共", "元，商家优惠退款共")
    } else {
        ("笔，商家实收共", "元，商家优惠共")
    };
    let rest = text.strip_prefix(prefix)?;
    let (count, rest) = rest.split_once(received_word)?;
    let (received, rest) = rest.split_once(discount_word)?;
    let discount = rest.strip_suffix('元')?;
    Some((
        parse_count(count)?,
        parse_yuan(received, Sign::Signed).ok()?,
        parse_yuan(discount, Sign::Signed).ok()?,
    ))
}

/// `#交易合计：N笔，商家实收共X元，商家优惠共Y元`: the error, if any, and N.
pub(crate) fn check_trades(
    number: u64,
    text: &str,
    tally: &Tally,
    sums: &Sums,
) -> (Option<LineError>, Option<u64>) {
    let Some((count, received, discount)) = parse_summary(text, TRADES_PREFIX, false) else {
        let message = format!(
            "malformed summary: expected '{TRADES_PREFIX}N笔，商家实收共X元，商家优惠共Y元'"
        );
        return (Some(LineError::new(number, message)), None);
    };
    let mut agreement = Agreement::with(tally);
    agreement.count("交易合计", count, tally.non_refunds());
    agreement.sum("商家实收共", received, sums.trades_received);
    agreement.sum("商家优惠共", discount, sums.trades_discount);
    (agreement.verdict(number, "the 交易合计 line"), Some(count))
}

/// `#退款合计：N笔，商家实收退款共-X元，商家优惠退款共Y元`.
pub(crate) fn check_refunds(
    number: u64,
    text: &str,
    tally: &Tally,
    sums: &Sums,
    trades: Option<u64>,
) -> Option<LineError> {
    let Some((count, received, discount)) = parse_summary(text, REFUNDS_PREFIX, true) else {
        let message = format!(
            "malformed summary: expected '{REFUNDS_PREFIX}N笔，商家实收退款共-X元，商家优惠退款共Y元'"
        );
        return Some(LineError::new(number, message));
    };
    let mut agreement = Agreement::with(tally);
    agreement.count("退款合计", count, tally.refunds);
    agreement.sum("商家实收退款共", received, sums.refunds_received);
    agreement.sum("商家优惠退款共", discount, sums.refunds_discount);
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
