//! Douyin's ecpay bill (its payment table, then its refund table): a bill as
//! Douyin lays it out read exactly, the writer's round trip, and every way a
//! file can be wrong, with exact lines.

mod common;

use common::{assert_refused, beijing, err, DOUYIN};
use qrpay_reconcile::{LineError, MovementKind, ProviderStatus, StatementRow};

const PAYMENTS: &str =
    "序号,支付时间,商户号,openId,订单号,平台订单号,渠道订单号,订单金额,支付方式,支付状态";
const REFUNDS: &str = "序号,退款时间,商户号,openId,订单号,渠道订单号,订单金额,支付方式,退款类型,退款单号,平台退款单号,退款状态,退款完成时间,退款金额";
const PAID: &str = "1,2026-11-20 10:01:02,70012345,oU1x2y3z,ord_1,N7012345678901234567,4200001234202611201234567890,30000,WX,SUCCESS";
const REFUNDED: &str = "1,2026-11-20 11:00:00,70012345,oU1x2y3z,ord_1,4200001234202611201234567890,30000,WX,部分退款,rfd_1,N7012345678901234599,SUCCESS,2026-11-20 11:00:05,10000";

fn bill(lines: &[&str]) -> Vec<u8> {
    let mut text = lines.join("\n");
    text.push('\n');
    text.into_bytes()
}

#[allow(clippy::too_many_arguments)]
fn row(
    line: u64,
    kind: MovementKind,
    status: ProviderStatus,
    reference: &str,
    provider_ref: &str,
    fen: i64,
    at: &str,
) -> StatementRow {
    StatementRow {
        line,
        provider: DOUYIN.provider,
        shop_id: "70012345".into(),
        kind,
        reference: reference.into(),
        provider_ref: provider_ref.into(),
        period: None,
        amount_fen: fen,
        fee_fen: 0,
        status,
        occurred_at: beijing(at),
        payer: None,
    }
}

#[test]
fn a_bill_as_douyin_lays_it_out_reads_exactly() {
    let paid_cn =
        "2, 2026-11-20 23:59:59 ,70012345,,ord_2,\"N7012345678901234568\",,1,DOUYIN_PAY,支付成功";
    let read = DOUYIN.read_all(&bill(&[PAYMENTS, PAID, paid_cn, REFUNDS, REFUNDED]));
    use MovementKind::*;
    use ProviderStatus::*;
    assert_eq!(
        read,
        vec![
            Ok(row(
                2,
                Payment,
                Success,
                "ord_1",
                "N7012345678901234567",
                30_000,
                "2026-11-20 10:01:02"
            )),
            Ok(row(
                3,
                Payment,
                Success,
                "ord_2",
                "N7012345678901234568",
                1,
                "2026-11-20 23:59:59"
            )),
            Ok(row(
                5,
                Refund,
                Success,
                "ord_1",
                "N7012345678901234599",
                10_000,
                "2026-11-20 11:00:05"
            )),
        ]
    );
    // A quiet day: the two headers only. CRLF and a BOM are read too.
    let quiet = format!("\u{feff}{PAYMENTS}\r\n{REFUNDS}\r\n");
    assert_eq!(DOUYIN.read_all(quiet.as_bytes()), vec![]);
    // A refund not completed yet is dated by its request.
    let pending = REFUNDED.replace("SUCCESS,2026-11-20 11:00:05", "退款中,");
    assert_eq!(
        DOUYIN.read_all(&bill(&[PAYMENTS, REFUNDS, &pending])),
        vec![Ok(row(
            3,
            Refund,
            Processing,
            "ord_1",
            "N7012345678901234599",
            10_000,
            "2026-11-20 11:00:00"
        ))]
    );
}

#[test]
fn written_rows_read_back_with_the_refunds_after_the_payments() {
    use MovementKind::*;
    use ProviderStatus::*;
    let rows = [
        row(
            0,
            Refund,
            Success,
            "ord_1",
            "N_r1",
            500,
            "2026-11-20 13:00:00",
        ),
        row(
            0,
            Payment,
            Success,
            "ord_1",
            "N_p1",
            30_000,
            "2026-11-20 10:00:00",
        ),
        row(
            0,
            Payment,
            Failed,
            "ord_2",
            "N_p2",
            100,
            "2026-11-20 00:00:00",
        ),
        row(
            0,
            Refund,
            Processing,
            "ord_2",
            "N_r2",
            100,
            "2026-11-20 23:59:59",
        ),
        row(
            0,
            Payment,
            Closed,
            "ord_3",
            "N_p3",
            1,
            "2026-11-20 12:00:00",
        ),
    ];
    let bytes = DOUYIN.write(&rows);
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert_eq!(
        text,
        [
            PAYMENTS,
            "1,2026-11-20 10:00:00,70012345,,ord_1,N_p1,,30000,,SUCCESS",
            "2,2026-11-20 00:00:00,70012345,,ord_2,N_p2,,100,,FAIL",
            "3,2026-11-20 12:00:00,70012345,,ord_3,N_p3,,1,,CLOSED",
            REFUNDS,
            "1,2026-11-20 13:00:00,70012345,,ord_1,,,,,,N_r1,SUCCESS,2026-11-20 13:00:00,500",
            "2,2026-11-20 23:59:59,70012345,,ord_2,,,,,,N_r2,PROCESSING,2026-11-20 23:59:59,100",
            "",
        ]
        .join("\n")
    );
    let read: Vec<StatementRow> = DOUYIN
        .read_all(&bytes)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let lines: Vec<u64> = read.iter().map(|r| r.line).collect();
    assert_eq!(lines, [2, 3, 4, 6, 7]);
    let mut expected: Vec<StatementRow> = [&rows[1], &rows[2], &rows[4], &rows[0], &rows[3]]
        .into_iter()
        .cloned()
        .collect();
    for (row, line) in expected.iter_mut().zip(lines) {
        row.line = line;
    }
    assert_eq!(read, expected);
}

#[test]
fn the_writer_refuses_what_a_douyin_bill_cannot_hold() {
    let base = row(
        0,
        MovementKind::Payment,
        ProviderStatus::Success,
        "ord_1",
        "N1",
        1,
        "2026-11-20 10:00:00",
    );
    let mut writer = DOUYIN.writer();
    assert_refused(
        &mut writer,
        &StatementRow {
            fee_fen: 1,
            ..base.clone()
        },
        "a Douyin bill has no fee",
    );
    assert_refused(
        &mut writer,
        &StatementRow {
            payer: Some("张*".into()),
            ..base.clone()
        },
        "a Douyin bill names no payer",
    );
    assert_refused(
        &mut writer,
        &StatementRow {
            kind: MovementKind::Payout,
            ..base.clone()
        },
        "a Douyin bill lists payments and refunds, not PAYOUT",
    );
}

#[test]
fn a_file_that_is_not_a_douyin_bill_is_refused_up_front() {
    assert_eq!(
        DOUYIN.open_error(b""),
        LineError::new(1, "not a Douyin bill: the file is empty")
    );
    assert_eq!(
        DOUYIN.open_error(REFUNDS.as_bytes()),
        LineError::new(
            1,
            format!("not a Douyin bill: line 1 is not the payment table's header '{PAYMENTS}'")
        )
    );
    assert_eq!(
        DOUYIN.open_error(b"\xff\xfe"),
        LineError::new(1, "not a Douyin bill: line 1 is not UTF-8 text")
    );
}

#[test]
fn each_bad_line_is_reported_and_the_next_is_read() {
    let read = DOUYIN.read_all(&bill(&[
        PAYMENTS,
        &PAID.replace(",30000,", ",300.00,"),
        &PAID.replace("2026-11-20 10:01:02", "2026-11-21 00:00:00"),
        &PAID.replace("SUCCESS", "UNKNOWN"),
        &PAID.replace(",ord_1,", ",ord 1,"),
        "1,2,3",
        "",
        PAID,
        REFUNDS,
        &REFUNDED.replace(",10000", ",0"),
        REFUNDS,
    ]));
    let ok = row(
        8,
        MovementKind::Payment,
        ProviderStatus::Success,
        "ord_1",
        "N7012345678901234567",
        30_000,
        "2026-11-20 10:01:02",
    );
    assert_eq!(read.len(), 9);
    assert_eq!(
        read[0],
        err(
            2,
            "订单金额 \"300.00\" is not an amount in fen from 1 to 100000000000000"
        )
    );
    assert_eq!(
        read[1],
        err(3, "row of 2026-11-21 in the statement of 2026-11-20")
    );
    assert_eq!(read[2], err(4, "unknown 支付状态 \"UNKNOWN\""));
    assert_eq!(
        read[3],
        err(
            5,
            "订单号 \"ord 1\" must be 1-64 characters of A-Z a-z 0-9 _ -"
        )
    );
    assert_eq!(read[4], err(6, "expected 10 fields, found 3"));
    assert_eq!(read[5], err(7, "empty line among the rows"));
    assert_eq!(read[6], Ok(ok));
    assert_eq!(
        read[7],
        err(
            10,
            "退款金额 \"0\" is not an amount in fen from 1 to 100000000000000"
        )
    );
    assert_eq!(read[8], err(11, "a second refund table"));
    // A file cut before its refund table is truncated.
    let cut = DOUYIN.read_all(&bill(&[PAYMENTS, PAID]));
    assert_eq!(
        cut.last(),
        Some(&err(
            3,
            "truncated: the file ends without the refund table ('序号,退款时间,…')"
        ))
    );
}
