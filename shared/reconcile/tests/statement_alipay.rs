//! The Alipay-style bill (GBK): round trip, a hand-written bill encoded here,
//! and every way a file can be wrong, with exact lines.

mod common;

use common::{assert_refused, beijing, err, with_field, ALIPAY};
use qrpay_reconcile::statement::MAX_LINE_BYTES;
use qrpay_reconcile::{LineError, MovementKind, ProviderStatus, StatementRow};

const PREAMBLE: &str = "#支付宝业务明细查询
#账号：[2088123412341234]
#起始日期：[2026年11月20日 00:00:00]   终止日期：[2026年11月21日 00:00:00]
#-----------------------------------------业务明细列表----------------------------------------
支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,对方账户,订单金额（元）,商家实收（元）,服务费（元）,退款批次号/请求号,分期期数,交易状态,备注
";
const PAYMENT: &str = "2026112022001400001234\t,ord_1\t,交易\t,goods\t,2026-11-20 10:00:59\t,2026-11-20 10:01:02\t,shop-1\t,一号店\t,张*\t,300.00\t,300.00\t,6.90\t,\t,\t,成功\t,";
const REFUND: &str = "2026112022001400001234\t,ord_1\t,退款\t,goods\t,2026-11-20 13:00:00\t,2026-11-20 13:00:05\t,shop-1\t,一号店\t,张*\t,50.00\t,-50.00\t,0.00\t,rfd_1\t,\t,成功\t,部分退款";
const DEDUCTION: &str = "2026112022001400009999\t,ord_9\t,分期扣款\t,sofa\t,2026-11-20 08:00:00\t,2026-11-20 08:00:00\t,shop-2\t,\t,\t,100.00\t,100.00\t,0.60\t,\t,3\t,失败\t,";
const TRANSFER: &str = "20261120110070001502\t,po_7\t,转账\t,\t,2026-11-20 18:00:00\t,2026-11-20 18:00:01\t,shop-1\t,\t,李* 139****0000\t,20.00\t,-20.00\t,0.00\t,\t,\t,处理中\t,";
const LIST_END: &str =
    "#-----------------------------------------业务明细列表结束------------------------------------";
const TRADES: &str = "#交易合计：3笔，商家实收共380.00元，服务费共7.50元";
const REFUNDS: &str = "#退款合计：1笔，商家实收退款共-50.00元";
const EXPORTED: &str = "#导出时间：[2026年11月21日 09:12:33]";

fn gbk(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::GBK.encode(text);
    assert!(!unmappable);
    bytes.into_owned()
}

/// The shared samples with Alipay ids.
fn sample_rows() -> Vec<StatementRow> {
    ALIPAY.sample_rows([
        "2026112022001",
        "2026112022002",
        "2026112022003",
        "2026112022004",
        "rfd_1",
        "rfd_2",
        "rfd_3",
        "rfd_4",
        "2026112022009",
        "2026112022010",
        "20261120110070001",
        "20261120110070002",
        "20261120110070003",
        "20261120110070004",
    ])
}

/// `PAYMENT` with value `index` replaced (padding kept).
fn payment_with(index: usize, value: &str) -> String {
    with_field(PAYMENT, index, &format!("{value}\t"))
}

fn payment_row(line: u64) -> StatementRow {
    ALIPAY.row(
        line,
        MovementKind::Payment,
        ProviderStatus::Success,
        "ord_1",
        "2026112022001400001234",
        30_000,
        690,
        "2026-11-20 10:01:02",
        Some("张*"),
    )
}

fn bill(rows: &[&str], footer: &[&str]) -> Vec<u8> {
    let mut text = PREAMBLE.to_owned();
    for line in rows.iter().chain(footer) {
        text.push_str(line);
        text.push('\n');
    }
    gbk(&text)
}

#[test]
fn a_hand_written_gbk_bill_is_read_into_exact_rows() {
    let text = format!(
        "{PREAMBLE}{PAYMENT}\n{REFUND}\n{DEDUCTION}\n{TRANSFER}\n{LIST_END}\n{TRADES}\n{REFUNDS}\n{EXPORTED}\n"
    )
    .replace('\n', "\r\n");
    let mut refund = payment_row(7);
    refund.kind = MovementKind::Refund;
    refund.provider_ref = "rfd_1".to_owned();
    refund.amount_fen = 5_000;
    refund.fee_fen = 0;
    refund.occurred_at = beijing("2026-11-20 13:00:05");
    let mut deduction = ALIPAY.row(
        8,
        MovementKind::Deduction,
        ProviderStatus::Failed,
        "ord_9",
        "2026112022001400009999",
        10_000,
        60,
        "2026-11-20 08:00:00",
        None,
    );
    deduction.shop_id = "shop-2".to_owned();
    deduction.period = Some(3);
    let transfer = ALIPAY.row(
        9,
        MovementKind::Payout,
        ProviderStatus::Processing,
        "po_7",
        "20261120110070001502",
        2_000,
        0,
        "2026-11-20 18:00:01",
        Some("李* 139****0000"),
    );
    assert_eq!(
        ALIPAY.read_all(&gbk(&text)),
        vec![Ok(payment_row(6)), Ok(refund), Ok(deduction), Ok(transfer)]
    );
}

#[test]
fn written_rows_read_back_exactly_with_their_line_numbers() {
    ALIPAY.assert_round_trip(&sample_rows());
}

#[test]
fn the_writer_writes_gbk_in_the_documented_layout() {
    let rows = sample_rows();
    let bytes = ALIPAY.write(&[rows[0].clone(), rows[4].clone(), rows[10].clone()]);
    let (text, _, malformed) = encoding_rs::GBK.decode(&bytes);
    assert!(!malformed);
    assert_eq!(
        text,
        "#支付宝业务明细查询\n\
         #账号：[2088000000000000]\n\
         #起始日期：[2026年11月20日 00:00:00]   终止日期：[2026年11月21日 00:00:00]\n\
         #-----------------------------------------业务明细列表----------------------------------------\n\
         支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,对方账户,订单金额（元）,商家实收（元）,服务费（元）,退款批次号/请求号,分期期数,交易状态,备注\n\
         2026112022001\t,ord_1\t,交易\t,\t,2026-11-20 10:01:02\t,2026-11-20 10:01:02\t,shop-1\t,\t,张* 138****1234\t,300.00\t,300.00\t,6.90\t,\t,\t,成功\t,\n\
         \t,ord_1\t,退款\t,\t,2026-11-20 13:00:00\t,2026-11-20 13:00:00\t,shop-1\t,\t,张* 138****1234\t,50.00\t,-50.00\t,0.00\t,rfd_1\t,\t,成功\t,\n\
         20261120110070001\t,po_1\t,转账\t,\t,2026-11-20 18:00:00\t,2026-11-20 18:00:00\t,shop-1\t,\t,赵* 139****8888\t,200.00\t,-200.00\t,0.00\t,\t,\t,成功\t,\n\
         #-----------------------------------------业务明细列表结束------------------------------------\n\
         #交易合计：2笔，商家实收共100.00元，服务费共6.90元\n\
         #退款合计：1笔，商家实收退款共-50.00元\n\
         #导出时间：[2026年11月21日 00:00:00]\n"
    );
}

#[test]
fn each_malformed_line_is_reported_at_its_line_and_reading_goes_on() {
    let mut too_long = PAYMENT.to_owned();
    too_long.push_str(&" ".repeat(MAX_LINE_BYTES));
    let cases: Vec<(Vec<u8>, String)> = vec![
        (
            gbk(&format!("{PAYMENT},extra")),
            "expected 16 fields, found 17".into(),
        ),
        (
            gbk(&payment_with(10, "299.00")),
            "商家实收 299.00 does not match a 交易 of 300.00 (expected 300.00)".into(),
        ),
        (
            gbk(&payment_with(10, "-300.00")),
            "商家实收 -300.00 does not match a 交易 of 300.00 (expected 300.00)".into(),
        ),
        (
            gbk(&payment_with(2, "退款")),
            "商家实收 300.00 does not match a 退款 of 300.00 (expected -300.00)".into(),
        ),
        (
            gbk(&payment_with(2, "收费")),
            "unknown 业务类型 \"收费\"".into(),
        ),
        (
            gbk(&payment_with(13, "3")),
            "分期期数 is only for 分期扣款 rows, not 交易".into(),
        ),
        (
            gbk(&payment_with(2, "分期扣款")),
            "分期期数 \"\" is not a period 1-12".into(),
        ),
        (
            gbk(&payment_with(9, "12.345")),
            "订单金额 \"12.345\" is not an amount in yuan with at most two decimals".into(),
        ),
        (
            gbk(&payment_with(9, "-1")),
            "订单金额 \"-1\" is not an amount in yuan with at most two decimals".into(),
        ),
        (
            gbk(&payment_with(9, "abc")),
            "订单金额 \"abc\" is not an amount in yuan with at most two decimals".into(),
        ),
        (
            gbk(&payment_with(11, "6.9.0")),
            "服务费 \"6.9.0\" is not an amount in yuan with at most two decimals".into(),
        ),
        (
            gbk(&payment_with(14, "完成")),
            "unknown 交易状态 \"完成\"".into(),
        ),
        (
            gbk(&payment_with(5, "2026/11/20 10:01:02")),
            "完成时间 \"2026/11/20 10:01:02\" is not a time 'YYYY-MM-DD HH:MM:SS'".into(),
        ),
        (
            gbk(&payment_with(5, "2026-11-21 00:00:00")),
            "row of 2026-11-21 in the statement of 2026-11-20".into(),
        ),
        (
            gbk(&payment_with(6, "")),
            "门店编号 \"\" must be 1-64 characters of A-Z a-z 0-9 _ -".into(),
        ),
        (
            gbk(&payment_with(0, "")),
            "支付宝交易号 \"\" must be 1-64 visible ASCII characters without , ` or \"".into(),
        ),
        (
            [&gbk(PAYMENT)[..10], b"\xFF\xFF"].concat(),
            "line is not valid GBK".into(),
        ),
        (gbk(&too_long), "line is longer than 4096 bytes".into()),
        (
            gbk("#交易合计：1笔，商家实收共300.00元，服务费共6.90元"),
            "expected a detail row or the '#----业务明细列表结束----' marker".into(),
        ),
    ];
    let mut file = gbk(PREAMBLE);
    for (bad, _) in &cases {
        file.extend_from_slice(bad);
        file.push(b'\n');
        file.extend_from_slice(&gbk(PAYMENT));
        file.push(b'\n');
    }
    // Unreadable lines leave only the total count to check: 交易 + 退款
    // lines must be every detail line (the stray `#` line is none).
    let detail_lines = 2 * cases.len() - 1;
    let footer = format!(
        "{LIST_END}\n#交易合计：{}笔，商家实收共0.00元，服务费共0.00元\n#退款合计：1笔，商家实收退款共0.00元\n{EXPORTED}\n",
        detail_lines - 1
    );
    file.extend_from_slice(&gbk(&footer));
    let mut expected = Vec::new();
    for (i, (_, message)) in cases.iter().enumerate() {
        let line = 6 + 2 * i as u64;
        expected.push(err(line, message));
        expected.push(Ok(payment_row(line + 1)));
    }
    assert_eq!(ALIPAY.read_all(&file), expected);
}

#[test]
fn summaries_that_disagree_with_the_rows_are_errors_at_their_lines() {
    let rows = [PAYMENT, REFUND, DEDUCTION, TRANSFER];
    let check = |footer: &[&str], expected: Vec<Result<StatementRow, LineError>>| {
        let items = ALIPAY.read_all(&bill(&rows, footer));
        assert!(items[..4].iter().all(Result::is_ok), "{items:?}");
        assert_eq!(items[4..].to_vec(), expected, "{footer:?}");
    };
    check(&[LIST_END, TRADES, REFUNDS, EXPORTED], vec![]);
    check(
        &[
            LIST_END,
            "#交易合计：4笔，商家实收共380.00元，服务费共7.50元",
            REFUNDS,
            EXPORTED,
        ],
        vec![err(
            11,
            "the 交易合计 line disagrees with the detail rows: 交易合计 4, counted 3",
        )],
    );
    check(
        &[LIST_END, "#交易合计：3笔，商家实收共420.00元，服务费共7.00元", REFUNDS, EXPORTED],
        vec![err(11, "the 交易合计 line disagrees with the detail rows: 商家实收共 420.00, summed 380.00; 服务费共 7.00, summed 7.50")],
    );
    check(
        &[LIST_END, TRADES, "#退款合计：2笔，商家实收退款共-60.00元", EXPORTED],
        vec![err(12, "the 退款合计 line disagrees with the detail rows: 退款合计 2, counted 1; 商家实收退款共 -60.00, summed -50.00")],
    );
    check(
        &[
            LIST_END,
            "#交易合计：3笔",
            "#退款合计：1笔",
            "#导出时间：2026",
        ],
        vec![
            err(
                11,
                "malformed summary: expected '#交易合计：N笔，商家实收共X元，服务费共Y元'",
            ),
            err(
                12,
                "malformed summary: expected '#退款合计：N笔，商家实收退款共-X元'",
            ),
            err(
                13,
                "malformed line: expected '#导出时间：[YYYY年MM月DD日 HH:MM:SS]'",
            ),
        ],
    );
    check(
        &[LIST_END, TRADES, REFUNDS, EXPORTED, "", "#more", PAYMENT],
        vec![
            err(15, "line after the end of the file's summary"),
            err(16, "line after the end of the file's summary"),
        ],
    );
}

#[test]
fn a_bill_missing_its_end_marker_or_summary_lines_is_truncated() {
    let rows = [PAYMENT, REFUND, DEDUCTION, TRANSFER];
    let check = |footer: &[&str], expected: Vec<Result<StatementRow, LineError>>| {
        let items = ALIPAY.read_all(&bill(&rows, footer));
        assert_eq!(items[4..].to_vec(), expected, "{footer:?}");
    };
    check(&[], vec![err(10, "truncated: the file ends without the '#----业务明细列表结束----' marker and the summary")]);
    check(
        &[TRADES, REFUNDS, EXPORTED],
        vec![
            err(10, "expected a detail row or the '#----业务明细列表结束----' marker"),
            err(11, "expected a detail row or the '#----业务明细列表结束----' marker"),
            err(12, "expected a detail row or the '#----业务明细列表结束----' marker"),
            err(13, "truncated: the file ends without the '#----业务明细列表结束----' marker and the summary"),
        ],
    );
    check(
        &[LIST_END],
        vec![err(
            11,
            "truncated: the file ends without its '#交易合计：…' summary",
        )],
    );
    check(
        &[LIST_END, TRADES],
        vec![err(
            12,
            "truncated: the file ends without its '#退款合计：…' summary",
        )],
    );
    check(
        &[LIST_END, TRADES, REFUNDS],
        vec![err(
            13,
            "truncated: the file ends without its '#导出时间：[…]' line",
        )],
    );

    // Cut inside a row.
    let full = bill(&rows, &[LIST_END, TRADES, REFUNDS, EXPORTED]);
    let cut = gbk(&format!("{PREAMBLE}{PAYMENT}\n{}", &REFUND[..40])).len();
    assert_eq!(
        ALIPAY.read_all(&full[..cut]),
        vec![
            Ok(payment_row(6)),
            err(7, "expected 16 fields, found 4"),
            err(8, "truncated: the file ends without the '#----业务明细列表结束----' marker and the summary"),
        ]
    );
}

#[test]
fn files_that_are_not_an_alipay_bill_are_refused_up_front() {
    let not_gbk =
        "not an Alipay-style bill: line 1 is not '#支付宝业务明细查询' (is the file GBK-encoded?)";
    assert_eq!(
        ALIPAY.open_error(b""),
        LineError::new(1, "not an Alipay-style bill: the file is empty")
    );
    // The same bill, saved as UTF-8.
    let utf8 = format!("{PREAMBLE}{PAYMENT}\n{LIST_END}\n");
    assert_eq!(
        ALIPAY.open_error(utf8.as_bytes()),
        LineError::new(1, not_gbk)
    );
    assert_eq!(
        ALIPAY.open_error(format!("\u{feff}{utf8}").as_bytes()),
        LineError::new(1, not_gbk)
    );
    // A qrpay CSV.
    assert_eq!(
        ALIPAY.open_error(
            b"occurred_at,shop_id,kind,reference,provider_ref,period,amount,fee,status,payer\n"
        ),
        LineError::new(1, not_gbk)
    );
    let wrong_day = PREAMBLE
        .replace("2026年11月20日", "2026年11月19日")
        .replace("2026年11月21日", "2026年11月20日");
    assert_eq!(
        ALIPAY.open_error(&gbk(&wrong_day)),
        LineError::new(3, "statement covers \"2026年11月19日 00:00:00\" to \"2026年11月20日 00:00:00\", not 2026-11-20 00:00:00 to the next day")
    );
    let two_days = PREAMBLE.replace("2026年11月21日", "2026年11月22日");
    assert_eq!(
        ALIPAY.open_error(&gbk(&two_days)),
        LineError::new(3, "statement covers \"2026年11月20日 00:00:00\" to \"2026年11月22日 00:00:00\", not 2026-11-20 00:00:00 to the next day")
    );
    let no_period = PREAMBLE.replace("终止日期", "结束日期");
    assert_eq!(
        ALIPAY.open_error(&gbk(&no_period)),
        LineError::new(
            3,
            "not an Alipay-style bill: line 3 is not '#起始日期：[…]   终止日期：[…]'"
        )
    );
    let no_account = PREAMBLE.replace("#账号：[2088123412341234]", "#账户");
    assert_eq!(
        ALIPAY.open_error(&gbk(&no_account)),
        LineError::new(2, "not an Alipay-style bill: line 2 is not '#账号：[…]'")
    );
    let bad_columns = PREAMBLE.replace("备注", "说明");
    assert!(ALIPAY
        .open_error(&gbk(&bad_columns))
        .to_string()
        .starts_with("line 5: not an Alipay-style bill: line 5 is neither Alipay's column header '支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,"));
    let cut_header = &PREAMBLE[..PREAMBLE.find("#---").unwrap()];
    assert_eq!(
        ALIPAY.open_error(&gbk(cut_header)),
        LineError::new(
            4,
            "truncated: the file ends at line 3 inside the Alipay bill's header"
        )
    );
}

#[test]
fn the_writer_refuses_what_gbk_or_the_bill_cannot_carry() {
    let base = sample_rows().remove(0);
    let mut writer = ALIPAY.writer();
    for (payer, message) in [
        ("😀*", "'😀' cannot be written in GBK"),
        (
            " 张*",
            "a payer with leading or trailing spaces cannot be written in an Alipay bill",
        ),
        (
            "张*,1",
            "payer holds a comma, a quote, a backtick or a control character",
        ),
        (
            "张*\t",
            "payer holds a comma, a quote, a backtick or a control character",
        ),
    ] {
        let row = StatementRow {
            payer: Some(payer.to_owned()),
            ..base.clone()
        };
        assert_refused(&mut writer, &row, message);
    }
    let fee = StatementRow {
        kind: MovementKind::Fee,
        ..base.clone()
    };
    assert!(writer
        .row(&fee)
        .unwrap_err()
        .to_string()
        .starts_with("a FEE row cannot be written"));
    writer.row(&base).unwrap();
    let bytes = writer.finish().unwrap();
    assert_eq!(
        ALIPAY.read_all(&bytes),
        vec![Ok(StatementRow { line: 6, ..base })]
    );
}

#[test]
fn fifty_thousand_rows_read_back_in_order() {
    ALIPAY.assert_many_rows_read_back_in_order(&sample_rows(), 50_000);
}

/// Alipay's own bill, laid out as the files Alipay serves (25 columns, tabs
/// after some values, negative refund amounts, the footer's 商家优惠 words).
const BILL_HEADER: &str = "#支付宝业务明细查询
#账号：[20880211096256330156]
#起始日期：[2026年11月20日 00:00:00]   终止日期：[2026年11月21日 00:00:00]
#-----------------------------------------业务明细列表----------------------------------------
支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注
";
const BILL_PAYMENT: &str = "2026112022001458860515315453\t,ord_1\t,交易\t,下单测试,2026-11-20 10:55:16,2026-11-20 10:55:23,\t,\t,\t,\t,*津水(602***@qq.com)\t,300.00,298.00,0.00,0.00,0.00,2.00,0.00,,0.00\t,0.00,\t,-1.80,0.00,下单测试";
const BILL_STORE_PAYMENT: &str = "2026112022001458860515315454\t,ord_2\t,交易\t,,2026-11-20 11:00:00,2026-11-20 11:00:01,shop-7\t,七号店\t,\t,\t,\t,0.01,0.01,0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,\t,0.00,0.00,";
const BILL_REFUND: &str = "2026112022001458860515315453\t,ord_1\t,退款\t,下单测试,2026-11-20 10:55:16,2026-11-20 10:56:48,\t,\t,\t,\t,*津水(602***@qq.com)\t,-100.00,-100.00,0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,rfd_1\t,0.60,0.00,下单测试";
const BILL_FOOTER: &str =
    "#-----------------------------------------业务明细列表结束------------------------------------
#交易合计：2笔，商家实收共298.01元，商家优惠共2.00元
#退款合计：1笔，商家实收退款共-100.00元，商家优惠退款共0.00元
#导出时间：[2026年11月21日 05:46:49]
";

#[test]
fn alipays_own_bill_reads_exactly() {
    let text =
        format!("{BILL_HEADER}{BILL_PAYMENT}\n{BILL_STORE_PAYMENT}\n{BILL_REFUND}\n{BILL_FOOTER}");
    let row = |line,
               kind,
               shop: &str,
               reference: &str,
               provider_ref: &str,
               fen,
               fee,
               at,
               payer: Option<&str>| StatementRow {
        line,
        provider: ALIPAY.provider,
        shop_id: shop.into(),
        kind,
        reference: reference.into(),
        provider_ref: provider_ref.into(),
        period: None,
        amount_fen: fen,
        fee_fen: fee,
        status: ProviderStatus::Success,
        occurred_at: beijing(at),
        payer: payer.map(str::to_owned),
    };
    assert_eq!(
        ALIPAY.read_all(&gbk(&text)),
        vec![
            Ok(row(
                6,
                MovementKind::Payment,
                "unattributed",
                "ord_1",
                "2026112022001458860515315453",
                30_000,
                180,
                "2026-11-20 10:55:23",
                Some("*津水(602***@qq.com)")
            )),
            Ok(row(
                7,
                MovementKind::Payment,
                "shop-7",
                "ord_2",
                "2026112022001458860515315454",
                1,
                0,
                "2026-11-20 11:00:01",
                None
            )),
            Ok(row(
                8,
                MovementKind::Refund,
                "unattributed",
                "ord_1",
                "rfd_1",
                10_000,
                // The fee handed back: 1.80 × 100.00 / 300.00.
                60,
                "2026-11-20 10:56:48",
                Some("*津水(602***@qq.com)")
            )),
        ]
    );
    // A quiet day: the markers and a zero summary.
    let quiet = format!(
        "{BILL_HEADER}{}",
        BILL_FOOTER
            .replace(
                "2笔，商家实收共298.01元，商家优惠共2.00元",
                "0笔，商家实收共0.00元，商家优惠共0.00元"
            )
            .replace("1笔，商家实收退款共-100.00元", "0笔，商家实收退款共0.00元")
    );
    assert_eq!(ALIPAY.read_all(&gbk(&quiet)), vec![]);
    // Every line read: the sums are checked too.
    let wrong = text.replace("商家优惠共2.00元", "商家优惠共0.00元");
    assert_eq!(
        ALIPAY.read_all(&gbk(&wrong)).pop(),
        Some(err(
            10,
            "the 交易合计 line disagrees with the detail rows: 商家优惠共 0.00, summed 2.00"
        ))
    );
}

#[test]
fn alipays_own_bill_reports_each_bad_line_and_a_wrong_summary() {
    let text = format!(
        "{BILL_HEADER}{}\n{}\n{}\n{BILL_PAYMENT}\n{BILL_REFUND}\n{}",
        BILL_PAYMENT.replace("交易\t", "充值\t"),
        BILL_PAYMENT.replace(",300.00,", ",-300.00,"),
        BILL_REFUND.replace("rfd_1\t", "\t"),
        BILL_FOOTER.replace("商家实收共298.01元", "商家实收共298.00元")
    );
    let read = ALIPAY.read_all(&gbk(&text));
    assert_eq!(read.len(), 6);
    assert_eq!(read[0], err(6, "unknown 业务类型 \"充值\""));
    assert_eq!(
        read[1],
        err(7, "订单金额 -300.00 of a 交易 must be positive")
    );
    assert_eq!(read[2].as_ref().unwrap_err().line, 8);
    assert!(
        read[2]
            .as_ref()
            .unwrap_err()
            .message
            .starts_with("退款批次号/请求号 \"\" must be"),
        "{:?}",
        read[2]
    );
    assert_eq!(
        (
            read[3].as_ref().unwrap().line,
            read[4].as_ref().unwrap().line
        ),
        (9, 10)
    );
    // Three rows unread: only the counts are checked, and 3 + 2 ≠ 2 + 1.
    assert_eq!(
        read[5],
        err(
            13,
            "the 退款合计 line disagrees with the detail rows: 交易合计 + 退款合计 3, counted 5"
        )
    );
}
