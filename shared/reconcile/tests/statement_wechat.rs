//! The WeChat-Pay-style trade bill: round trip, a hand-written bill, and
//! every way a file can be wrong, with exact lines.

mod common;

use common::{assert_refused, beijing, err, with_field, WECHAT};
use qrpay_reconcile::statement::MAX_LINE_BYTES;
use qrpay_reconcile::{LineError, MovementKind, ProviderStatus, StatementRow};

const HEADER: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注";
const SUMMARY_HEADER: &str =
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额";
/// A payment as WeChat writes it (unused refund columns hold `0`).
const PAYMENT: &str = "`2026-11-20 10:01:02,`wx2421b1c4370ec43b,`1900000109,`shop-1,`,`4200001234202611201234567890,`ord_01J00000000000000000000001,`张* 138****1234,`NATIVE,`SUCCESS,`OTHERS,`CNY,`300.00,`0.00,`0,`0,`0.00,`0.00,`,`,`Coffee,`,`1.80,`0.60%,`300.00,`0.00,`";
const REFUND: &str = "`2026-11-20 13:05:00,`wx2421b1c4370ec43b,`1900000109,`shop-1,`,`4200001234202611201234567890,`ord_01J00000000000000000000001,`张* 138****1234,`NATIVE,`REFUND,`OTHERS,`CNY,`300.00,`0.00,`50000001234202611200000000001,`rfd_01J1,`50.00,`0.00,`ORIGINAL,`SUCCESS,`Coffee,`,`0.00,`0.60%,`300.00,`50.00,`";
const INSTALMENT: &str = "`2026-11-20 08:00:00,`wx2421b1c4370ec43b,`1900000109,`shop-2,`,`4200001234202611200000000009,`ord_01J00000000000000000000009,`,`INSTALMENT,`PAYERROR,`OTHERS,`CNY,`100.00,`0.00,`0,`0,`0.00,`0.00,`,`,`Sofa,`period=3,`0.60,`0.60%,`100.00,`0.00,`";
const TRANSFER: &str = "`2026-11-20 23:59:59,`wx2421b1c4370ec43b,`1900000109,`shop-1,`,`1000018301202611200000000042,`po_01J00000000000000000000042,`李*,`TRANSFER,`CLOSED,`,`CNY,`300.00,`0.00,`0,`0,`0.00,`0.00,`,`,`,`,`0.00,`0.00%,`300.00,`0.00,`";
const SUMMARY_ROW: &str = "`4,`700.00,`50.00,`0.00,`2.40,`700.00,`50.00";

/// The shared samples with WeChat ids and WeChat's 0.60% fee, but for the
/// CLOSED refund: the bill has no such state.
fn sample_rows() -> Vec<StatementRow> {
    let mut rows = WECHAT.sample_rows([
        "4200001", "4200002", "4200003", "4200004", "5000001", "5000002", "5000003", "5000004",
        "4200009", "4200010", "10000183", "10000184", "10000185", "10000186",
    ]);
    rows[0].fee_fen = 180;
    rows.retain(|row| (row.kind, row.status) != (MovementKind::Refund, ProviderStatus::Closed));
    rows
}

/// `PAYMENT` with field `index` replaced by `raw` (backtick included or not).
fn payment_with(index: usize, raw: &str) -> String {
    with_field(PAYMENT, index, raw)
}

fn payment_row(line: u64) -> StatementRow {
    WECHAT.row(
        line,
        MovementKind::Payment,
        ProviderStatus::Success,
        "ord_01J00000000000000000000001",
        "4200001234202611201234567890",
        30_000,
        180,
        "2026-11-20 10:01:02",
        Some("张* 138****1234"),
    )
}

#[test]
fn a_hand_written_bill_is_read_into_exact_rows() {
    let text = format!(
        "{HEADER}\r\n{PAYMENT}\r\n{REFUND}\r\n{INSTALMENT}\r\n{TRANSFER}\r\n{SUMMARY_HEADER}\r\n{SUMMARY_ROW}\r\n\r\n"
    );
    let mut refund = payment_row(3);
    refund.kind = MovementKind::Refund;
    refund.provider_ref = "50000001234202611200000000001".to_owned();
    refund.amount_fen = 5_000;
    refund.fee_fen = 0;
    refund.occurred_at = beijing("2026-11-20 13:05:00");
    let mut instalment = WECHAT.row(
        4,
        MovementKind::Deduction,
        ProviderStatus::Failed,
        "ord_01J00000000000000000000009",
        "4200001234202611200000000009",
        10_000,
        60,
        "2026-11-20 08:00:00",
        None,
    );
    instalment.shop_id = "shop-2".to_owned();
    instalment.period = Some(3);
    let transfer = WECHAT.row(
        5,
        MovementKind::Payout,
        ProviderStatus::Closed,
        "po_01J00000000000000000000042",
        "1000018301202611200000000042",
        30_000,
        0,
        "2026-11-20 23:59:59",
        Some("李*"),
    );
    assert_eq!(
        WECHAT.read_all(text.as_bytes()),
        vec![Ok(payment_row(2)), Ok(refund), Ok(instalment), Ok(transfer)]
    );
    // With a UTF-8 BOM, as Windows tools save it.
    let with_bom = format!("\u{feff}{text}");
    assert_eq!(WECHAT.read_all(with_bom.as_bytes()).len(), 4);
}

#[test]
fn written_rows_read_back_exactly_with_their_line_numbers() {
    WECHAT.assert_round_trip(&sample_rows());
}

#[test]
fn the_writer_writes_the_documented_layout() {
    let rows = sample_rows();
    let text =
        String::from_utf8(WECHAT.write(&[rows[0].clone(), rows[4].clone(), rows[7].clone()]))
            .unwrap();
    assert_eq!(
        text,
        format!(
            "{HEADER}\n\
             `2026-11-20 10:01:02,`,`,`shop-1,`,`4200001,`ord_1,`张* 138****1234,`NATIVE,`SUCCESS,`,`CNY,`300.00,`0.00,`,`,`0.00,`0.00,`,`,`,`,`1.80,`0.60%,`300.00,`0.00,`\n\
             `2026-11-20 13:00:00,`,`,`shop-1,`,`,`ord_1,`张* 138****1234,`NATIVE,`REFUND,`,`CNY,`0.00,`0.00,`5000001,`5000001,`50.00,`0.00,`,`SUCCESS,`,`,`0.00,`0.00%,`0.00,`50.00,`\n\
             `2026-11-20 08:00:00,`,`,`shop-1,`,`4200009,`ord_9,`王*,`INSTALMENT,`SUCCESS,`,`CNY,`100.00,`0.00,`,`,`0.00,`0.00,`,`,`,`period=1,`0.60,`0.60%,`100.00,`0.00,`\n\
             {SUMMARY_HEADER}\n\
             `3,`400.00,`50.00,`0.00,`2.40,`400.00,`50.00\n"
        )
    );
}

#[test]
fn each_malformed_line_is_reported_at_its_line_and_reading_goes_on() {
    let mut too_long = PAYMENT.to_owned();
    too_long.push_str(&"x".repeat(MAX_LINE_BYTES));
    let refund_with = |index: usize, raw: &str| with_field(REFUND, index, raw);
    let cases: Vec<(Vec<u8>, String)> = vec![
        (
            payment_with(3, "shop-1"),
            "特约商户号 \"shop-1\" does not start with '`'".into(),
        ),
        (
            PAYMENT.trim_start_matches('`').to_owned(),
            "交易时间 \"2026-11-20 10:01:02\" does not start with '`'".into(),
        ),
        (
            payment_with(11, "`USD"),
            "货币种类 \"USD\" is not CNY".into(),
        ),
        (
            payment_with(8, "`FACEPAY"),
            "unknown 交易类型 \"FACEPAY\"".into(),
        ),
        (payment_with(9, "`PAID"), "unknown 交易状态 \"PAID\"".into()),
        (refund_with(19, "`DONE"), "unknown 退款状态 \"DONE\"".into()),
        (
            refund_with(16, "`0.00"),
            "退款金额 must be more than zero".into(),
        ),
        (
            payment_with(12, "`12.345"),
            "应结订单金额 \"12.345\" is not an amount in yuan with at most two decimals".into(),
        ),
        (
            payment_with(12, "`-1"),
            "应结订单金额 \"-1\" is not an amount in yuan with at most two decimals".into(),
        ),
        (
            payment_with(12, "`abc"),
            "应结订单金额 \"abc\" is not an amount in yuan with at most two decimals".into(),
        ),
        (
            payment_with(22, "`-0.30"),
            "手续费 \"-0.30\" is not an amount in yuan with at most two decimals (or five ending in 000)".into(),
        ),
        (
            payment_with(8, "`INSTALMENT"),
            "商户数据包 \"\" of an INSTALMENT row is not 'period=N'".into(),
        ),
        (
            payment_with(8, "`INSTALMENT").replace("`,`1.80", "`period=13,`1.80"),
            "商户数据包 period \"13\" is not a period 1-12".into(),
        ),
        (
            payment_with(0, "`2026-11-20T10:01:02"),
            "交易时间 \"2026-11-20T10:01:02\" is not a time 'YYYY-MM-DD HH:MM:SS'".into(),
        ),
        (
            payment_with(0, "`2026-11-20 25:01:02"),
            "交易时间 \"2026-11-20 25:01:02\" is not a time 'YYYY-MM-DD HH:MM:SS'".into(),
        ),
        (
            payment_with(0, "`2026-11-19 23:59:59"),
            "row of 2026-11-19 in the statement of 2026-11-20".into(),
        ),
        (
            payment_with(6, "`ord 1"),
            "商户订单号 \"ord 1\" must be 1-64 characters of A-Z a-z 0-9 _ -".into(),
        ),
        (
            payment_with(5, "`"),
            "微信订单号 \"\" must be 1-64 visible ASCII characters without , ` or \"".into(),
        ),
        (
            payment_with(7, "`张*\u{7}"),
            "用户标识 holds a comma, a quote, a backtick or a control character".into(),
        ),
        (
            format!("{PAYMENT},`extra"),
            "expected 27 backtick-prefixed values, found 28".into(),
        ),
        (too_long, "line is longer than 4096 bytes".into()),
    ]
    .into_iter()
    .map(|(line, message)| (line.into_bytes(), message))
    .chain([(
        [&PAYMENT.as_bytes()[..PAYMENT.len() - 1], b"\xC0\xAF"].concat(),
        "line is not valid UTF-8".to_owned(),
    )])
    .collect();
    let mut file = format!("{HEADER}\n").into_bytes();
    for (bad, _) in &cases {
        file.extend_from_slice(bad);
        file.push(b'\n');
        file.extend_from_slice(PAYMENT.as_bytes());
        file.push(b'\n');
    }
    let detail_lines = 2 * cases.len();
    file.extend_from_slice(
        format!("{SUMMARY_HEADER}\n`{detail_lines},`1.00,`0.00,`0.00,`0.00,`1.00,`0.00\n")
            .as_bytes(),
    );
    let mut expected = Vec::new();
    for (i, (_, message)) in cases.iter().enumerate() {
        let line = 2 + 2 * i as u64;
        expected.push(err(line, message));
        expected.push(Ok(payment_row(line + 1)));
    }
    assert_eq!(WECHAT.read_all(&file), expected);
}

#[test]
fn a_summary_that_disagrees_with_the_rows_is_an_error_at_the_summary_row() {
    let body =
        format!("{HEADER}\n{PAYMENT}\n{REFUND}\n{INSTALMENT}\n{TRANSFER}\n{SUMMARY_HEADER}\n");
    let cases = [
        ("`5,`700.00,`50.00,`0.00,`2.40,`700.00,`50.00", "the summary row disagrees with the detail rows: 总交易单数 5, counted 4"),
        ("`4,`700.01,`50.00,`0.00,`2.40,`700.00,`50.00", "the summary row disagrees with the detail rows: 应结订单总金额 700.01, summed 700.00"),
        ("`4,`700.00,`0.00,`0.00,`2.41,`700.00,`50.00", "the summary row disagrees with the detail rows: 退款总金额 0.00, summed 50.00; 手续费总金额 2.41, summed 2.40"),
        ("`4,`700.00,`50.00,`0.00,`2.40,`700.00", "malformed summary row: expected 7 backtick-prefixed values, found 6"),
        ("`4,`700.00,`50.00,`0.00,`2.40,`700.00,`x", "malformed summary row: 申请退款总金额 \"x\" is not an amount in yuan with at most two decimals"),
        ("4,`700.00,`50.00,`0.00,`2.40,`700.00,`50.00", "malformed summary row: 总交易单数 \"4\" does not start with '`'"),
    ];
    for (summary, message) in cases {
        let items = WECHAT.read_all(format!("{body}{summary}\n").as_bytes());
        assert_eq!(items.len(), 5, "{summary}");
        assert_eq!(items[4], err(7, message), "{summary}");
    }
}

#[test]
fn truncated_bills_are_reported_after_their_last_line() {
    let full = format!("{HEADER}\n{PAYMENT}\n{REFUND}\n{SUMMARY_HEADER}\n`2,`300.00,`50.00,`0.00,`1.80,`300.00,`50.00\n");
    assert_eq!(WECHAT.read_all(full.as_bytes()).len(), 2);

    let cut_in_row = &full[..full.find("`NATIVE,`REFUND").unwrap()];
    assert_eq!(
        WECHAT.read_all(cut_in_row.as_bytes()),
        vec![
            Ok(payment_row(2)),
            err(3, "expected 27 backtick-prefixed values, found 9"),
            err(
                4,
                "truncated: the file ends without its summary ('总交易单数,…' and a summary row)"
            ),
        ]
    );
    let cut_before_summary = &full[..full.find(SUMMARY_HEADER).unwrap()];
    let items = WECHAT.read_all(cut_before_summary.as_bytes());
    assert_eq!(
        items[2],
        err(
            4,
            "truncated: the file ends without its summary ('总交易单数,…' and a summary row)"
        )
    );
    let cut_after_summary_header = &full[..full.find("`2,").unwrap()];
    let items = WECHAT.read_all(cut_after_summary_header.as_bytes());
    assert_eq!(
        items[2],
        err(
            5,
            "truncated: the file ends after the summary header, without the summary row"
        )
    );
}

#[test]
fn anything_after_the_summary_row_but_empty_lines_is_an_error() {
    let text = format!(
        "{HEADER}\n{PAYMENT}\n{SUMMARY_HEADER}\n`1,`300.00,`0.00,`0.00,`1.80,`300.00,`0.00\n\n{PAYMENT}\n\n#garbage\n"
    );
    assert_eq!(
        WECHAT.read_all(text.as_bytes()),
        vec![
            Ok(payment_row(2)),
            err(6, "line after the end of the file's summary"),
            err(8, "line after the end of the file's summary"),
        ]
    );
}

#[test]
fn files_that_are_not_a_wechat_bill_are_refused_up_front() {
    assert_eq!(
        WECHAT.open_error(b""),
        LineError::new(1, "not a WeChat-Pay-style bill: the file is empty")
    );
    assert_eq!(
        WECHAT.open_error("交易时间,公众账号ID\n".as_bytes()),
        LineError::new(
            1,
            format!("not a WeChat-Pay-style bill: line 1 is not the header '{HEADER}'")
        )
    );
    let (gbk, _, _) = encoding_rs::GBK.encode(HEADER);
    assert_eq!(
        WECHAT.open_error(&gbk),
        LineError::new(
            1,
            "not a WeChat-Pay-style bill: line 1 is not UTF-8 text (is the file GBK-encoded?)"
        )
    );
}

#[test]
fn the_writer_refuses_what_the_bill_cannot_carry() {
    let rows = sample_rows();
    let closed_refund = StatementRow {
        status: ProviderStatus::Closed,
        ..rows[4].clone()
    };
    let backtick_payer = StatementRow {
        payer: Some("张`".to_owned()),
        ..rows[0].clone()
    };
    let fee_row = StatementRow {
        kind: MovementKind::Fee,
        ..rows[0].clone()
    };
    let mut writer = WECHAT.writer();
    for (row, message) in [
        (
            &closed_refund,
            "a CLOSED refund cannot be written in a WeChat bill",
        ),
        (
            &backtick_payer,
            "payer holds a comma, a quote, a backtick or a control character",
        ),
        (&fee_row, "a FEE row cannot be written"),
    ] {
        assert_refused(&mut writer, row, message);
    }
    writer.row(&rows[0]).unwrap();
    let bytes = writer.finish().unwrap();
    assert_eq!(
        WECHAT.read_all(&bytes),
        vec![Ok(StatementRow {
            line: 2,
            ..rows[0].clone()
        })]
    );
}

#[test]
fn fifty_thousand_rows_read_back_in_order() {
    WECHAT.assert_many_rows_read_back_in_order(&sample_rows(), 50_000);
}

/// A bill as WeChat Pay writes it for a direct merchant (特约商户号 `0`,
/// a 商户数据包 that names no shop of ours: unattributed):
/// fees with five decimals, a refund returning its fee (negative), commas
/// in the free text, the net fee in the summary.
#[test]
fn a_bill_as_wechat_pay_writes_it_reads() {
    let payment = "`2026-11-20 10:01:02,`wx2421b1c4370ec43b,`1900000109,`0,`,`4200001234202611201234567890,`ord_01J00000000000000000000001,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`JSAPI,`SUCCESS,`OTHERS,`CNY,`300.00,`0.00,`0,`0,`0.00,`0.00,`,`,`Coffee, large,`{\"a\":1,\"b\":2},`1.80000,`0.60%,`300.00,`0.00,`";
    let refund = "`2026-11-20 13:05:00,`wx2421b1c4370ec43b,`1900000109,`0,`,`4200001234202611201234567890,`ord_01J00000000000000000000001,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`JSAPI,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`50000001234202611200000000001,`rfd_01J1,`50.00,`0.00,`ORIGINAL,`SUCCESS,`Coffee, large,`,`-0.30000,`0.60%,`0.00,`50.00,`";
    let bill =
        |summary: &str| format!("{HEADER}\n{payment}\n{refund}\n{SUMMARY_HEADER}\n{summary}\n");
    let mut paid = payment_row(2);
    paid.shop_id = "unattributed".to_owned();
    paid.payer = Some("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".to_owned());
    let mut refunded = paid.clone();
    refunded.line = 3;
    refunded.kind = MovementKind::Refund;
    refunded.provider_ref = "50000001234202611200000000001".to_owned();
    refunded.amount_fen = 5_000;
    refunded.fee_fen = 30;
    refunded.occurred_at = beijing("2026-11-20 13:05:00");
    let good = bill("`2,`300.00,`50.00,`0.00,`1.50000,`300.00,`50.00");
    assert_eq!(
        WECHAT.read_all(good.as_bytes()),
        vec![Ok(paid.clone()), Ok(refunded.clone())]
    );
    let gross = bill("`2,`300.00,`50.00,`0.00,`1.80000,`300.00,`50.00");
    assert_eq!(
        WECHAT.read_all(gross.as_bytes())[2],
        err(
            5,
            "the summary row disagrees with the detail rows: 手续费总金额 1.80, summed 1.50"
        )
    );
    let cases = [
        (
            refund.replace("`-0.30000", "`0.30000"),
            "手续费 \"0.30000\" of a refund is the fee returned: zero or negative",
        ),
        (
            payment.replace("`1.80000", "`1.80500"),
            "手续费 \"1.80500\" is not an amount in yuan with at most two decimals (or five ending in 000)",
        ),
    ];
    for (line, message) in cases {
        let text =
            format!("{HEADER}\n{line}\n{SUMMARY_HEADER}\n`1,`0.00,`0.00,`0.00,`0.00,`0.00,`0.00\n");
        assert_eq!(WECHAT.read_all(text.as_bytes())[0], err(2, message));
    }
    // Our order's `attach` (the shop id) names the shop of a direct
    // merchant's row; a sub-merchant's number would win over it.
    let ours = bill("`2,`300.00,`50.00,`0.00,`1.50000,`300.00,`50.00").replacen(
        "`{\"a\":1,\"b\":2}",
        "`shop-9",
        1,
    );
    let rows = WECHAT.read_all(ours.as_bytes());
    assert_eq!(rows[0].as_ref().map(|r| r.shop_id.as_str()), Ok("shop-9"));
    let sub_merchant = ours.replacen("`1900000109,`0,", "`1900000109,`shop-3,", 1);
    let rows = WECHAT.read_all(sub_merchant.as_bytes());
    assert_eq!(rows[0].as_ref().map(|r| r.shop_id.as_str()), Ok("shop-3"));
}
