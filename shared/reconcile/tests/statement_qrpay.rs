//! The qrpay CSV statement (the sandbox's bill): round trip,
//! hand-written text, and every way a file can be wrong, with exact lines.

mod common;

use common::{assert_refused, beijing, err, with_field, ALIPAY, QRPAY};
use qrpay_domain::Provider;
use qrpay_reconcile::statement::MAX_LINE_BYTES;
use qrpay_reconcile::{LineError, MovementKind, ProviderStatus, StatementRow};

const HEADER: &str =
    "occurred_at,shop_id,kind,reference,provider_ref,period,amount,fee,status,payer";
const GOOD: &str = "2026-11-20T10:01:02.123+08:00,shop-1,PAYMENT,ord_1,sbx_txn_1,,300.00,6.90,SUCCESS,张* 138****1234";

/// The shared samples with sandbox ids, the first payment and the day's last
/// instant to the millisecond, the successful refund without a payer.
fn sample_rows() -> Vec<StatementRow> {
    let mut rows = QRPAY.sample_rows([
        "sbx_txn_1",
        "sbx_txn_2",
        "sbx_txn_3",
        "sbx_txn_4",
        "sbx_rfd_1",
        "sbx_rfd_2",
        "sbx_rfd_3",
        "sbx_rfd_4",
        "sbx_ded_1",
        "sbx_ded_2",
        "sbx_tr_1",
        "sbx_tr_2",
        "sbx_tr_3",
        "sbx_tr_4",
    ]);
    rows[0].occurred_at = beijing("2026-11-20 10:01:02.123");
    rows[2].occurred_at = beijing("2026-11-20 23:59:59.999");
    rows[4].payer = None;
    rows
}

/// `GOOD` with field `index` replaced.
fn good_with(index: usize, value: &str) -> String {
    with_field(GOOD, index, value)
}

fn good_row(line: u64) -> StatementRow {
    let mut row = sample_rows().remove(0);
    row.line = line;
    row
}

#[test]
fn written_rows_read_back_exactly_with_their_line_numbers() {
    QRPAY.assert_round_trip(&sample_rows());
}

#[test]
fn the_writer_writes_the_documented_layout() {
    let text = String::from_utf8(QRPAY.write(&sample_rows()[..2])).unwrap();
    assert_eq!(
        text,
        format!(
            "{HEADER}\n\
             2026-11-20T10:01:02.123+08:00,shop-1,PAYMENT,ord_1,sbx_txn_1,,300.00,6.90,SUCCESS,张* 138****1234\n\
             2026-11-20T00:00:00.000+08:00,shop-1,PAYMENT,ord_2,sbx_txn_2,,0.01,0.00,FAILED,\n\
             #end,rows=2,amount=300.01,fee=6.90\n"
        )
    );
}

#[test]
fn hand_written_text_with_crlf_bom_and_other_offsets_is_read() {
    let text = format!(
        "\u{feff}{HEADER}\r\n\
         2026-11-20T02:01:02Z,shop-1,DEDUCTION,ord_9,ali-ded.7/x,3,100,0,SUCCESS,\r\n\
         2026-11-19T21:30:00.5-05:00,shop_2,REFUND,ord_1,sbx_rfd_1,,0.5,0.00,PROCESSING,钱*\r\n\
         #end,rows=2,amount=100.50,fee=0.00\r\n\
         \r\n"
    );
    let items = QRPAY.read_all(text.as_bytes());
    let mut deduction = good_row(2);
    deduction.kind = MovementKind::Deduction;
    deduction.reference = "ord_9".to_owned();
    deduction.provider_ref = "ali-ded.7/x".to_owned();
    deduction.period = Some(3);
    deduction.amount_fen = 10_000;
    deduction.fee_fen = 0;
    deduction.occurred_at = beijing("2026-11-20 10:01:02");
    deduction.payer = None;
    let mut refund = good_row(3);
    refund.shop_id = "shop_2".to_owned();
    refund.kind = MovementKind::Refund;
    refund.provider_ref = "sbx_rfd_1".to_owned();
    refund.amount_fen = 50;
    refund.fee_fen = 0;
    refund.status = ProviderStatus::Processing;
    refund.occurred_at = beijing("2026-11-20 10:30:00.500");
    refund.payer = Some("钱*".to_owned());
    assert_eq!(items, vec![Ok(deduction), Ok(refund)]);
}

#[test]
fn each_malformed_line_is_reported_at_its_line_and_reading_goes_on() {
    let mut too_long = GOOD.to_owned();
    too_long.push_str(&"x".repeat(MAX_LINE_BYTES));
    let cases: Vec<(Vec<u8>, String)> = vec![
        (
            good_with(9, "张*,x").into_bytes(),
            "expected 10 fields, found 11".into(),
        ),
        (
            GOOD.rsplit_once(',').unwrap().0.as_bytes().to_vec(),
            "expected 10 fields, found 9".into(),
        ),
        (
            good_with(6, "12.345").into_bytes(),
            "amount \"12.345\" is not an amount in yuan with at most two decimals".into(),
        ),
        (
            good_with(6, "-1").into_bytes(),
            "amount \"-1\" is not an amount in yuan with at most two decimals".into(),
        ),
        (
            good_with(6, "abc").into_bytes(),
            "amount \"abc\" is not an amount in yuan with at most two decimals".into(),
        ),
        (
            good_with(6, "0.00").into_bytes(),
            "amount must be more than zero".into(),
        ),
        (
            good_with(7, "-0.01").into_bytes(),
            "fee \"-0.01\" is not an amount in yuan with at most two decimals".into(),
        ),
        (
            good_with(2, "CHARGE").into_bytes(),
            "unknown kind \"CHARGE\"".into(),
        ),
        (
            good_with(2, "FEE").into_bytes(),
            "kind FEE is not a statement row".into(),
        ),
        (
            good_with(8, "DONE").into_bytes(),
            "unknown status \"DONE\"".into(),
        ),
        (
            good_with(5, "2").into_bytes(),
            "a PAYMENT row has no period".into(),
        ),
        (
            good_with(2, "DEDUCTION").into_bytes(),
            "period \"\" is not a period 1-12".into(),
        ),
        (
            good_with(2, "DEDUCTION").replace(",,", ",13,").into_bytes(),
            "period \"13\" is not a period 1-12".into(),
        ),
        (
            good_with(2, "DEDUCTION").replace(",,", ",0,").into_bytes(),
            "period \"0\" is not a period 1-12".into(),
        ),
        (
            good_with(2, "DEDUCTION").replace(",,", ",01,").into_bytes(),
            "period \"01\" is not a period 1-12".into(),
        ),
        (
            good_with(0, "2026-11-20 10:01:02").into_bytes(),
            "occurred_at \"2026-11-20 10:01:02\" is not a time in RFC 3339 with an offset".into(),
        ),
        (
            good_with(0, "2026-11-20T10:01:02").into_bytes(),
            "occurred_at \"2026-11-20T10:01:02\" is not a time in RFC 3339 with an offset".into(),
        ),
        (
            good_with(0, "2026-11-19T23:59:59.999+08:00").into_bytes(),
            "row of 2026-11-19 in the statement of 2026-11-20".into(),
        ),
        (
            good_with(0, "2026-11-20T16:00:00Z").into_bytes(),
            "row of 2026-11-21 in the statement of 2026-11-20".into(),
        ),
        (
            good_with(1, "shop 1").into_bytes(),
            "shop_id \"shop 1\" must be 1-64 characters of A-Z a-z 0-9 _ -".into(),
        ),
        (
            good_with(3, "").into_bytes(),
            "reference \"\" must be 1-64 characters of A-Z a-z 0-9 _ -".into(),
        ),
        (
            good_with(4, &"t".repeat(65)).into_bytes(),
            format!(
                "provider_ref {:?}… must be 1-64 visible ASCII characters without , ` or \"",
                "t".repeat(40)
            ),
        ),
        (
            good_with(9, "张\"三\"").into_bytes(),
            "payer holds a comma, a quote, a backtick or a control character".into(),
        ),
        (
            [&GOOD.as_bytes()[..GOOD.len() - 4], b"\xD5\xC5"].concat(),
            "line is not valid UTF-8".into(),
        ),
        (
            too_long.into_bytes(),
            "line is longer than 4096 bytes".into(),
        ),
        (Vec::new(), "empty line among the rows".into()),
    ];
    let mut file = format!("{HEADER}\n").into_bytes();
    for (bad, _) in &cases {
        file.extend_from_slice(bad);
        file.push(b'\n');
        file.extend_from_slice(GOOD.as_bytes());
        file.push(b'\n');
    }
    // The trailer counts every detail line, read or not (the empty line is
    // no detail line); with unreadable lines only the count is checked.
    let detail_lines = 2 * cases.len() - 1;
    file.extend_from_slice(format!("#end,rows={detail_lines},amount=1.00,fee=0.00\n").as_bytes());

    let mut expected = Vec::new();
    for (i, (_, message)) in cases.iter().enumerate() {
        let line = 2 + 2 * i as u64;
        expected.push(err(line, message));
        expected.push(Ok(good_row(line + 1)));
    }
    assert_eq!(QRPAY.read_all(&file), expected);
}

#[test]
fn a_file_cut_inside_a_row_reports_the_row_and_the_truncation() {
    let bytes = QRPAY.write(&sample_rows());
    let text = String::from_utf8(bytes).unwrap();
    let cut = text.find("ord_3").unwrap();
    let items = QRPAY.read_all(&text.as_bytes()[..cut]);
    assert_eq!(items.len(), 4);
    assert!(items[0].is_ok() && items[1].is_ok());
    assert_eq!(items[2], err(4, "expected 10 fields, found 4"));
    assert_eq!(
        items[3],
        err(
            5,
            "truncated: the file ends without its '#end,rows=…,amount=…,fee=…' trailer"
        )
    );
}

#[test]
fn a_file_cut_before_the_trailer_is_truncated_at_the_next_line() {
    let bytes = QRPAY.write(&sample_rows());
    let text = String::from_utf8(bytes).unwrap();
    let cut = text.find("#end").unwrap();
    let items = QRPAY.read_all(&text.as_bytes()[..cut]);
    assert_eq!(items.len(), 15);
    assert!(items[..14].iter().all(Result::is_ok));
    assert_eq!(
        items[14],
        err(
            16,
            "truncated: the file ends without its '#end,rows=…,amount=…,fee=…' trailer"
        )
    );
}

#[test]
fn a_trailer_that_disagrees_with_the_rows_is_an_error_at_the_trailer() {
    let body = format!("{HEADER}\n{GOOD}\n{GOOD}\n");
    let cases = [
        (
            "#end,rows=3,amount=600.00,fee=13.80",
            "the trailer disagrees with the detail rows: rows 3, counted 2",
        ),
        (
            "#end,rows=2,amount=600.01,fee=13.80",
            "the trailer disagrees with the detail rows: amount 600.01, summed 600.00",
        ),
        (
            "#end,rows=1,amount=600.00,fee=0.00",
            "the trailer disagrees with the detail rows: rows 1, counted 2; fee 0.00, summed 13.80",
        ),
        (
            "#end,rows=2,amount=600.00",
            "malformed trailer: expected '#end,rows=N,amount=yuan,fee=yuan'",
        ),
        (
            "#end",
            "malformed trailer: expected '#end,rows=N,amount=yuan,fee=yuan'",
        ),
    ];
    for (trailer, message) in cases {
        let items = QRPAY.read_all(format!("{body}{trailer}\n").as_bytes());
        assert_eq!(
            items,
            vec![Ok(good_row(2)), Ok(good_row(3)), err(4, message)],
            "{trailer}"
        );
    }
    let agreeing =
        QRPAY.read_all(format!("{body}#end,rows=2,amount=600.00,fee=13.80\n").as_bytes());
    assert_eq!(agreeing, vec![Ok(good_row(2)), Ok(good_row(3))]);
}

#[test]
fn lines_after_the_trailer_are_errors_but_empty_ones_are_not() {
    let text = format!("{HEADER}\n{GOOD}\n#end,rows=1,amount=300.00,fee=6.90\n\n{GOOD}\n#end,rows=1,amount=300.00,fee=6.90\n\r\n");
    assert_eq!(
        QRPAY.read_all(text.as_bytes()),
        vec![
            Ok(good_row(2)),
            err(5, "line after the end of the file's summary"),
            err(6, "line after the end of the file's summary"),
        ]
    );
}

#[test]
fn files_that_are_not_a_qrpay_statement_are_refused_up_front() {
    assert_eq!(
        QRPAY.open_error(b""),
        LineError::new(1, "not a qrpay statement: the file is empty")
    );
    assert_eq!(
        QRPAY.open_error(b"occurred_at,shop_id,kind\n"),
        LineError::new(
            1,
            format!("not a qrpay statement: line 1 is not the header '{HEADER}'")
        )
    );
    // The Alipay bill is GBK: its first line is not UTF-8.
    let alipay = ALIPAY.writer().finish().unwrap();
    assert_eq!(
        QRPAY.open_error(&alipay),
        LineError::new(
            1,
            "not a qrpay statement: line 1 is not UTF-8 text (is the file GBK-encoded?)"
        )
    );
    let long = "x".repeat(MAX_LINE_BYTES + 10);
    assert_eq!(
        QRPAY.open_error(long.as_bytes()),
        LineError::new(1, "not a qrpay statement: line 1 is longer than 4096 bytes")
    );
}

#[test]
fn a_header_alone_is_a_truncated_statement() {
    assert_eq!(
        QRPAY.read_all(format!("{HEADER}\n").as_bytes()),
        vec![err(
            2,
            "truncated: the file ends without its '#end,rows=…,amount=…,fee=…' trailer"
        )]
    );
    assert_eq!(
        QRPAY.read_all(format!("{HEADER}\n#end,rows=0,amount=0.00,fee=0.00").as_bytes()),
        vec![]
    );
}

#[test]
fn the_writer_refuses_what_the_format_cannot_carry_and_writes_nothing_for_it() {
    let base = sample_rows().remove(0);
    let refusals: Vec<(StatementRow, &str)> = vec![
        (
            StatementRow {
                payer: Some("张*,138".to_owned()),
                ..base.clone()
            },
            "payer holds a comma",
        ),
        (
            StatementRow {
                payer: Some("张*\n".to_owned()),
                ..base.clone()
            },
            "payer holds a comma",
        ),
        (
            StatementRow {
                kind: MovementKind::Fee,
                ..base.clone()
            },
            "a FEE row cannot be written",
        ),
        (
            StatementRow {
                provider: Provider::Douyin,
                ..base.clone()
            },
            "a douyin row cannot be written into a sandbox statement",
        ),
        (
            StatementRow {
                reference: "ord,1".to_owned(),
                ..base.clone()
            },
            "reference \"ord,1\" must be",
        ),
        (
            StatementRow {
                provider_ref: "a\"b".to_owned(),
                ..base.clone()
            },
            "provider_ref \"a\\\"b\" must be",
        ),
        (
            StatementRow {
                amount_fen: 0,
                ..base.clone()
            },
            "amount_fen 0 is not",
        ),
        (
            StatementRow {
                fee_fen: -1,
                ..base.clone()
            },
            "fee_fen -1 is not",
        ),
        (
            StatementRow {
                kind: MovementKind::Deduction,
                ..base.clone()
            },
            "a deduction needs a period 1-12",
        ),
        (
            StatementRow {
                period: Some(1),
                ..base.clone()
            },
            "a PAYMENT row has no period",
        ),
    ];
    let mut writer = QRPAY.writer();
    for (row, message) in refusals {
        assert_refused(&mut writer, &row, message);
    }
    writer.row(&base).unwrap();
    let bytes = writer.finish().unwrap();
    assert_eq!(QRPAY.read_all(&bytes), vec![Ok(good_row(2))]);
}

#[test]
fn a_row_of_another_day_is_written_so_that_the_reader_can_refuse_it() {
    let mut row = sample_rows().remove(0);
    row.occurred_at = beijing("2026-11-21 00:00:00");
    let bytes = QRPAY.write(&[row]);
    assert_eq!(
        QRPAY.read_all(&bytes),
        vec![err(2, "row of 2026-11-21 in the statement of 2026-11-20")]
    );
}

#[test]
fn fifty_thousand_rows_read_back_in_order() {
    QRPAY.assert_many_rows_read_back_in_order(&sample_rows(), 50_000);
}
