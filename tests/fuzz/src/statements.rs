//! Statement readers (WeChat-style, Alipay-style GBK, our own CSV) and the
//! bank's settlement receipts: whole files, read to the end, every row or
//! line error checked. Samples are written by the matching writers, so they
//! are exactly what the readers must read back.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use qrpay_domain::{BusinessDate, Provider};
use qrpay_reconcile::bank::{self, BankReceipt, ReceiptWriter};
use qrpay_reconcile::statement::{self, Format, StatementWriter};
use qrpay_reconcile::{LineError, MovementKind, ProviderStatus, StatementRow};

use crate::mutate::{self, Shape};
use crate::rng::Rng;
use crate::{clear, Outcome, Target};

/// A reader that yields more items than this did not stop.
const MAX_ITEMS: usize = 100_000;

fn date() -> BusinessDate {
    BusinessDate::parse("2026-11-20").expect("a valid date")
}

fn beijing(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(2026, 11, 20, h, m, s)
        .single()
        .expect("a Beijing time")
        .with_timezone(&Utc)
}

fn rows(provider: Provider) -> Vec<StatementRow> {
    use MovementKind::*;
    use ProviderStatus::*;
    let list = [
        (
            Payment,
            Success,
            "ord_1",
            8_888,
            53,
            Some("张* 138****1234"),
            None,
        ),
        (Payment, Processing, "ord_4", 1_000, 6, None, None),
        (Refund, Success, "ord_1", 5_000, 0, Some("张*"), None),
        (Refund, Closed, "ord_1", 100, 0, None, None),
        (
            Deduction,
            Success,
            "ord_9",
            10_000,
            60,
            Some("王*"),
            Some(2),
        ),
        (Deduction, Failed, "ord_9", 10_000, 0, None, Some(3)),
        (
            Payout,
            Success,
            "po_1",
            20_000,
            0,
            Some("赵* 139****8888"),
            None,
        ),
        (Payout, Failed, "po_2", 99_999_999_999, 0, None, None),
    ];
    list.iter()
        .enumerate()
        .map(
            |(i, &(kind, status, reference, amount_fen, fee_fen, payer, period))| StatementRow {
                line: 0,
                provider,
                shop_id: "shop-1".into(),
                kind,
                reference: reference.into(),
                provider_ref: format!("42000000{i:02}"),
                period,
                amount_fen,
                // Douyin's bill carries neither fee nor payer.
                fee_fen: if provider == Provider::Douyin {
                    0
                } else {
                    fee_fen
                },
                status,
                occurred_at: beijing(8 + i as u32, 0, i as u32),
                payer: payer
                    .filter(|_| provider != Provider::Douyin)
                    .map(str::to_owned),
            },
        )
        .collect()
}

/// A bill in Alipay's own 25 columns (the writer makes our extended
/// layout), GBK: a payment with a fee and a discount, and its refund.
fn alipay_own_bill() -> Vec<u8> {
    let text = "#支付宝业务明细查询
#账号：[20880211096256330156]
#起始日期：[2026年11月20日 00:00:00]   终止日期：[2026年11月21日 00:00:00]
#-----------------------------------------业务明细列表----------------------------------------
支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注
2026112022001458860515315453\t,ord_1\t,交易\t,咖啡,2026-11-20 10:55:16,2026-11-20 10:55:23,shop-1\t,\t,\t,\t,*津水(602***@qq.com)\t,300.00,298.00,0.00,0.00,0.00,2.00,0.00,,0.00\t,0.00,\t,-1.80,0.00,
2026112022001458860515315453\t,ord_1\t,退款\t,咖啡,2026-11-20 10:55:16,2026-11-20 11:56:48,\t,\t,\t,\t,*津水(602***@qq.com)\t,-100.00,-100.00,0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,rfd_1\t,0.60,0.00,
#-----------------------------------------业务明细列表结束------------------------------------
#交易合计：1笔，商家实收共298.00元，商家优惠共2.00元
#退款合计：1笔，商家实收退款共-100.00元，商家优惠退款共0.00元
#导出时间：[2026年11月21日 05:46:49]
";
    encoding_rs::GBK.encode(text).0.into_owned()
}

/// Reads every item; `Accepted` only when all are rows.
fn read_all<T>(items: impl Iterator<Item = Result<T, LineError>>) -> Outcome {
    let mut outcome = Outcome::Accepted;
    for (n, item) in items.enumerate() {
        if n >= MAX_ITEMS {
            return Outcome::Unclear(format!("reader gave more than {MAX_ITEMS} items"));
        }
        if let Err(e) = item {
            match line_error(&e) {
                Outcome::Refused => outcome = Outcome::Refused,
                unclear => return unclear,
            }
        }
    }
    outcome
}

fn line_error(e: &LineError) -> Outcome {
    if e.line == 0 {
        return Outcome::Unclear(format!("line 0 in {e:?}"));
    }
    clear("line error", &e.message)
}

/// One statement format of one provider.
pub struct Statements {
    name: &'static str,
    format: Format,
    provider: Provider,
    samples: Vec<Vec<u8>>,
}

impl Statements {
    fn new(name: &'static str, format: Format, provider: Provider) -> Statements {
        let all = rows(provider);
        // Every row the format can carry, and each one alone.
        let mut sets: Vec<Vec<StatementRow>> = vec![all.clone(), Vec::new()];
        sets.extend(all.iter().map(|r| vec![r.clone()]));
        let samples = sets
            .iter()
            .map(|set| {
                let mut writer =
                    StatementWriter::new(format, provider, date(), Vec::new()).expect("a header");
                for row in set {
                    // A row the format cannot carry is refused and not written.
                    let _ = writer.row(row);
                }
                writer.finish().expect("a summary")
            })
            .collect();
        let mut samples: Vec<Vec<u8>> = samples;
        if format == Format::Alipay {
            samples.push(alipay_own_bill());
        }
        Statements {
            name,
            format,
            provider,
            samples,
        }
    }
}

impl Target for Statements {
    fn name(&self) -> &'static str {
        self.name
    }

    fn samples(&self) -> &[Vec<u8>] {
        &self.samples
    }

    fn input(&self, rng: &mut Rng) -> Vec<u8> {
        let shape = Shape::Delimited {
            line_sep: b'\n',
            cell_sep: b',',
        };
        mutate::input(rng, &self.samples, shape, 4096)
    }

    fn run(&self, input: &[u8]) -> Outcome {
        match statement::read(self.format, self.provider, date(), input) {
            Ok(rows) => read_all(rows),
            Err(e) => line_error(&e),
        }
    }
}

/// The bank's settlement receipts.
pub struct Receipts {
    samples: Vec<Vec<u8>>,
}

impl Receipts {
    fn new() -> Receipts {
        let receipt = |i: u64, provider: Provider, amount_fen: i64| BankReceipt {
            line: 0,
            receipt_id: format!("rcpt-{i}"),
            batch_id: bank::batch_id(provider, "shop-1", date()),
            provider,
            shop_id: "shop-1".into(),
            amount_fen,
            value_date: NaiveDate::from_ymd_opt(2026, 11, 21).expect("a date"),
        };
        let sets = [
            vec![],
            vec![receipt(1, Provider::Wechatpay, 123_456)],
            vec![
                receipt(1, Provider::Wechatpay, 123_456),
                receipt(2, Provider::Alipay, -5_000),
                receipt(3, Provider::Douyin, 99_999_999_999),
            ],
        ];
        let samples = sets
            .iter()
            .map(|set| {
                let mut writer = ReceiptWriter::new(date(), Vec::new()).expect("a header");
                for r in set {
                    writer.receipt(r).expect("a valid receipt");
                }
                writer.finish().expect("a trailer")
            })
            .collect();
        Receipts { samples }
    }
}

impl Target for Receipts {
    fn name(&self) -> &'static str {
        "bank receipts"
    }

    fn samples(&self) -> &[Vec<u8>] {
        &self.samples
    }

    fn input(&self, rng: &mut Rng) -> Vec<u8> {
        let shape = Shape::Delimited {
            line_sep: b'\n',
            cell_sep: b',',
        };
        mutate::input(rng, &self.samples, shape, 4096)
    }

    fn run(&self, input: &[u8]) -> Outcome {
        match bank::read_receipts(date(), input) {
            Ok(receipts) => read_all(receipts),
            Err(e) => line_error(&e),
        }
    }
}

pub fn targets() -> Vec<Box<dyn Target>> {
    vec![
        Box::new(Statements::new(
            "wechat statement",
            Format::Wechat,
            Provider::Wechatpay,
        )),
        Box::new(Statements::new(
            "alipay statement",
            Format::Alipay,
            Provider::Alipay,
        )),
        Box::new(Statements::new(
            "qrpay statement (sandbox)",
            Format::Qrpay,
            Provider::Sandbox,
        )),
        Box::new(Statements::new(
            "douyin statement",
            Format::Douyin,
            Provider::Douyin,
        )),
        Box::new(Receipts::new()),
    ]
}
