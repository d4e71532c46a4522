//! The bank's settlement receipts: round trip, signed amounts, and every way
//! a file can be wrong, with exact lines.

mod common;

use chrono::NaiveDate;
use common::{date, err};
use qrpay_domain::Provider;
use qrpay_reconcile::bank::{batch_id, read_receipts, BankReceipt, ReceiptWriter};
use qrpay_reconcile::LineError;

const HEADER: &str = "receipt_id,batch_id,provider,shop_id,amount,value_date";
const GOOD: &str = "BR20261121000001,sandbox-shop-1-20261120,sandbox,shop-1,1234.56,2026-11-21";

fn receipt(line: u64, id: &str, provider: Provider, shop_id: &str, amount_fen: i64) -> BankReceipt {
    BankReceipt {
        line,
        receipt_id: id.to_owned(),
        batch_id: batch_id(provider, shop_id, date()),
        provider,
        shop_id: shop_id.to_owned(),
        amount_fen,
        value_date: NaiveDate::from_ymd_opt(2026, 11, 21).unwrap(),
    }
}

fn good(line: u64) -> BankReceipt {
    receipt(
        line,
        "BR20261121000001",
        Provider::Sandbox,
        "shop-1",
        123_456,
    )
}

fn read_all(bytes: &[u8]) -> Vec<Result<BankReceipt, LineError>> {
    read_receipts(date(), bytes).unwrap().collect()
}

#[test]
fn batch_ids_name_provider_shop_and_day() {
    assert_eq!(
        batch_id(Provider::Wechatpay, "shop-1", date()),
        "wechatpay-shop-1-20261120"
    );
}

#[test]
fn written_receipts_read_back_exactly_with_signed_amounts() {
    let receipts = vec![
        receipt(0, "BR1", Provider::Sandbox, "shop-1", 123_456),
        receipt(0, "BR2", Provider::Wechatpay, "shop-1", -5_000),
        receipt(0, "BR3", Provider::Alipay, "shop_2", 0),
        receipt(0, "BR4", Provider::Douyin, "shop-3", -1),
    ];
    let mut writer = ReceiptWriter::new(date(), Vec::new()).unwrap();
    for r in &receipts {
        writer.receipt(r).unwrap();
    }
    let bytes = writer.finish().unwrap();
    assert_eq!(
        String::from_utf8(bytes.clone()).unwrap(),
        format!(
            "{HEADER}\n\
             BR1,sandbox-shop-1-20261120,sandbox,shop-1,1234.56,2026-11-21\n\
             BR2,wechatpay-shop-1-20261120,wechatpay,shop-1,-50.00,2026-11-21\n\
             BR3,alipay-shop_2-20261120,alipay,shop_2,0.00,2026-11-21\n\
             BR4,douyin-shop-3-20261120,douyin,shop-3,-0.01,2026-11-21\n\
             #end,rows=4,amount=1184.55\n"
        )
    );
    let expected: Vec<_> = receipts
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            Ok(BankReceipt {
                line: i as u64 + 2,
                ..r
            })
        })
        .collect();
    assert_eq!(read_all(&bytes), expected);
}

#[test]
fn each_malformed_line_is_reported_at_its_line_and_reading_goes_on() {
    let cases = [
        (GOOD.replace("-20261120", "-20261119"), "batch \"sandbox-shop-1-20261119\" is not of sandbox shop-1 on 2026-11-20 (expected sandbox-shop-1-20261120)"),
        (GOOD.replace(",sandbox,", ",wechatpay,"), "batch \"sandbox-shop-1-20261120\" is not of wechatpay shop-1 on 2026-11-20 (expected wechatpay-shop-1-20261120)"),
        (GOOD.replace(",sandbox,", ",paypal,"), "unknown provider \"paypal\""),
        (GOOD.replace("1234.56", "1234.567"), "amount \"1234.567\" is not an amount in yuan with at most two decimals"),
        (GOOD.replace("1234.56", "--1"), "amount \"--1\" is not an amount in yuan with at most two decimals"),
        (GOOD.replace("2026-11-21", "2026/11/21"), "value_date \"2026/11/21\" is not a date YYYY-MM-DD"),
        (GOOD.replace("BR20261121000001", "BR 1"), "receipt_id \"BR 1\" must be 1-64 characters of A-Z a-z 0-9 _ -"),
        (format!("{GOOD},x"), "expected 6 fields, found 7"),
    ];
    let mut text = format!("{HEADER}\n");
    for (bad, _) in &cases {
        text.push_str(bad);
        text.push('\n');
        text.push_str(GOOD);
        text.push('\n');
    }
    text.push_str(&format!("#end,rows={},amount=0.00\n", 2 * cases.len()));
    let mut expected = Vec::new();
    for (i, (_, message)) in cases.iter().enumerate() {
        let line = 2 + 2 * i as u64;
        expected.push(err(line, message));
        expected.push(Ok(good(line + 1)));
    }
    assert_eq!(read_all(text.as_bytes()), expected);
}

#[test]
fn a_trailer_that_disagrees_is_an_error_at_the_trailer() {
    let body = format!("{HEADER}\n{GOOD}\n{}\n", GOOD.replace("1234.56", "-34.56"));
    let mut second = good(3);
    second.amount_fen = -3_456;
    for (trailer, message) in [
        ("#end,rows=2,amount=1200.00", None),
        (
            "#end,rows=3,amount=1200.00",
            Some("the trailer disagrees with the detail rows: rows 3, counted 2"),
        ),
        (
            "#end,rows=2,amount=1269.12",
            Some("the trailer disagrees with the detail rows: amount 1269.12, summed 1200.00"),
        ),
        (
            "#end,rows=2",
            Some("malformed trailer: expected '#end,rows=N,amount=yuan'"),
        ),
    ] {
        let mut expected = vec![Ok(good(2)), Ok(second.clone())];
        expected.extend(message.map(|m| err(4, m)));
        assert_eq!(
            read_all(format!("{body}{trailer}\n").as_bytes()),
            expected,
            "{trailer}"
        );
    }
}

#[test]
fn a_file_without_its_trailer_is_truncated() {
    assert_eq!(
        read_all(format!("{HEADER}\n{GOOD}\n").as_bytes()),
        vec![
            Ok(good(2)),
            err(
                3,
                "truncated: the file ends without its '#end,rows=…,amount=…' trailer"
            )
        ]
    );
    assert_eq!(
        read_all(format!("{HEADER}\n{GOOD}\n{}", &GOOD[..20]).as_bytes()),
        vec![
            Ok(good(2)),
            err(3, "expected 6 fields, found 2"),
            err(
                4,
                "truncated: the file ends without its '#end,rows=…,amount=…' trailer"
            ),
        ]
    );
    assert_eq!(
        read_all(format!("{HEADER}\n#end,rows=0,amount=0.00\n\n{GOOD}\n").as_bytes()),
        vec![err(4, "line after the end of the file's summary")]
    );
}

#[test]
fn files_that_are_not_receipts_are_refused_up_front() {
    let open_error = |bytes: &[u8]| match read_receipts(date(), bytes) {
        Ok(_) => panic!("accepted"),
        Err(error) => error,
    };
    assert_eq!(
        open_error(b""),
        LineError::new(1, "not a bank receipt file: the file is empty")
    );
    assert_eq!(
        open_error(b"receipt,batch\n"),
        LineError::new(
            1,
            format!("not a bank receipt file: line 1 is not the header '{HEADER}'")
        )
    );
    assert!(read_receipts(
        date(),
        format!("\u{feff}{HEADER}\r\n#end,rows=0,amount=0.00\r\n").as_bytes()
    )
    .is_ok());
}

#[test]
fn the_writer_refuses_a_receipt_of_another_batch() {
    let mut writer = ReceiptWriter::new(date(), Vec::new()).unwrap();
    let other_day = BankReceipt {
        batch_id: "sandbox-shop-1-20261119".to_owned(),
        ..good(0)
    };
    let error = writer.receipt(&other_day).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(
        error.to_string(),
        "batch \"sandbox-shop-1-20261119\" is not of sandbox shop-1 on 2026-11-20 (expected sandbox-shop-1-20261120)"
    );
    let bad_id = BankReceipt {
        receipt_id: "BR,1".to_owned(),
        ..good(0)
    };
    assert!(writer.receipt(&bad_id).is_err());
    let bytes = writer.finish().unwrap();
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        format!("{HEADER}\n#end,rows=0,amount=0.00\n")
    );
}
