//! Alipay's trade bill as the simulator serves it (research notes
//! /work/notes/bills-research.md §2): `alipay.data.dataservice.bill.
//! downloadurl.query` with `bill_type` `trade` and a `bill_date` whose day
//! has ended answers `bill_download_url` (plus `bill_file_code`
//! `EMPTY_DATA_WITH_BILL_FILE` for a day without business); a day not over
//! yet is `40004 isp.bill_not_exist`, as Alipay answers before it has
//! generated the bill. The URL, on the simulator's own address (plain HTTP,
//! as the local stack is), serves `{account}_{yyyyMMdd}.csv.zip`: the GBK
//! `…_业务明细.csv` in Alipay's 25 columns, every payment and completed
//! refund of the Beijing day (refunds negative, named by our
//! `out_request_no`), and a `…_业务明细(汇总).csv` whose columns are
//! UNCONFIRMED (only its title line is known), entry names in GBK.

use chrono::{DateTime, NaiveDate, Utc};
use encoding_rs::GBK;
use serde_json::{json, Value};

use super::alipay::{AliReply, Alipay, Call};
use super::bills::{self, masked, Paid, Refunded};
use super::{beijing, Ctx};
use crate::local_http::LocalResponse;

/// Where the bill files are served.
pub const ALIPAY_BILLS: &str = "/sim/alipay/bills/";
/// The simulated merchant account (the `#账号` of every bill).
pub const ACCOUNT: &str = "20880211096256330156";
const COLUMNS: &str = "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注";
const CN_TIME: &str = "%Y年%m月%d日 %H:%M:%S";
const TIME: &str = "%Y-%m-%d %H:%M:%S";

impl Alipay {
    /// `alipay.data.dataservice.bill.downloadurl.query`.
    pub(super) fn bill_query(&self, ctx: &Ctx<'_>, call: &Call) -> AliReply {
        let biz = &call.biz;
        match biz.get("bill_type").and_then(Value::as_str) {
            Some("trade") => {}
            Some(_) => return AliReply::failed("TYPE_NOT_SUPPORTED", "不支持的账单类型"),
            None => return AliReply::failed("invalid_arguments", "参数不合法"),
        }
        let Some(date) = biz
            .get("bill_date")
            .and_then(Value::as_str)
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        else {
            return AliReply::failed("invalid_arguments", "参数不合法");
        };
        if !bills::published(date, ctx.now) {
            return AliReply::failed("isp.bill_not_exist", "账单不存在");
        }
        let (paid, refunded) = bills::day(&self.sim.book(), date);
        let url = format!(
            "{}{ALIPAY_BILLS}{ACCOUNT}_{}.csv.zip",
            self.base_url,
            date.format("%Y%m%d")
        );
        let mut answer = json!({"bill_download_url": url});
        if paid.is_empty() && refunded.is_empty() {
            answer["bill_file_code"] = json!("EMPTY_DATA_WITH_BILL_FILE");
        }
        AliReply::success(answer)
    }

    /// `GET /sim/alipay/bills/{account}_{yyyyMMdd}.csv.zip`: the archive of
    /// a day that has ended, else 404.
    pub fn bill_file(&self, now: DateTime<Utc>, file: &str) -> LocalResponse {
        let date = file
            .strip_prefix(ACCOUNT)
            .and_then(|rest| rest.strip_prefix('_'))
            .and_then(|rest| rest.strip_suffix(".csv.zip"))
            .and_then(|day| NaiveDate::parse_from_str(day, "%Y%m%d").ok())
            .filter(|date| bills::published(*date, now));
        let Some(date) = date else {
            return LocalResponse {
                status: 404,
                headers: vec![("content-type".into(), "text/plain".into())],
                body: b"no such bill".to_vec(),
            };
        };
        let (paid, refunded) = bills::day(&self.sim.book(), date);
        let prefix = format!("{ACCOUNT}_{}", date.format("%Y%m%d"));
        let detail = gbk(&detail_csv(date, &paid, &refunded, now));
        let summary = gbk(&summary_csv(date, &paid, &refunded));
        let archive = qrpay_provider::alipay::gateway::stored_zip(&[
            (&gbk(&format!("{prefix}_业务明细.csv")), &detail),
            (&gbk(&format!("{prefix}_业务明细(汇总).csv")), &summary),
        ]);
        LocalResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/zip".into())],
            body: archive,
        }
    }
}

fn gbk(text: &str) -> Vec<u8> {
    GBK.encode(text).0.into_owned()
}

/// Fen as signed yuan: `-12.30`.
fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

fn preamble(out: &mut String, title: &str, date: NaiveDate) {
    let (start, end) = bills::bounds(date);
    out.push_str(&format!(
        "{title}\n#账号：[{ACCOUNT}]\n#起始日期：[{}]   终止日期：[{}]\n",
        beijing(start).format(CN_TIME),
        beijing(end).format(CN_TIME)
    ));
}

/// The create's business parameters (a wap order keeps them under `biz`).
fn biz(request: &serde_json::Value) -> &serde_json::Value {
    request.get("biz").unwrap_or(request)
}

/// 门店编号: the `store_id` the order was created with (our shop id).
fn store_id(request: &serde_json::Value) -> &str {
    biz(request)
        .get("store_id")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
}

/// 服务费 of a Huabei order whose seller bears the instalment fee
/// (`hb_fq_seller_percent` 100): Alipay's seller rates, 2.3% for 3
/// periods, 4.5% for 6, 7.5% for 12, half up to the fen. That the fee is
/// shown in the payment's 服务费 is this simulator's assumption.
fn huabei_fee_fen(p: &Paid) -> i64 {
    let seller_pays = biz(&p.request)
        .pointer("/extend_params/hb_fq_seller_percent")
        .is_some_and(|v| v == "100" || v == 100);
    let per_mille_tenths: i64 = match (p.instalments, seller_pays) {
        (Some(3), true) => 230,
        (Some(6), true) => 450,
        (Some(12), true) => 750,
        _ => return 0,
    };
    (p.amount.fen() * per_mille_tenths + 5_000) / 10_000
}

/// The detail, in Alipay's layout.
fn detail_csv(date: NaiveDate, paid: &[Paid], refunded: &[Refunded], now: DateTime<Utc>) -> String {
    let mut out = String::new();
    preamble(&mut out, "#支付宝业务明细查询", date);
    out.push_str(
        "#-----------------------------------------业务明细列表----------------------------------------\n",
    );
    out.push_str(COLUMNS);
    out.push('\n');
    for p in paid {
        let at = beijing(p.at).format(TIME);
        let amount = yuan(p.amount.fen());
        let (store, fee) = (store_id(&p.request), yuan(huabei_fee_fen(p)));
        out.push_str(&format!(
            "{}\t,{}\t,交易\t,,{at},{at},{store}\t,\t,\t,\t,{}\t,{amount},{amount},0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,\t,{fee},0.00,\n",
            p.txn_id, p.out_trade_no, masked(&p.payer)
        ));
    }
    for r in refunded {
        let amount = yuan(-r.amount.fen());
        out.push_str(&format!(
            "{}\t,{}\t,退款\t,,{},{},{}\t,\t,\t,\t,{}\t,{amount},{amount},0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,{}\t,0.00,0.00,\n",
            r.txn_id,
            r.out_trade_no,
            beijing(r.asked_at).format(TIME),
            beijing(r.at).format(TIME),
            store_id(&r.request),
            masked(&r.payer),
            r.out_refund_no
        ));
    }
    let received: i64 = paid.iter().map(|p| p.amount.fen()).sum();
    let returned: i64 = refunded.iter().map(|r| r.amount.fen()).sum();
    out.push_str(
        "#-----------------------------------------业务明细列表结束------------------------------------\n",
    );
    out.push_str(&format!(
        "#交易合计：{}笔，商家实收共{}元，商家优惠共0.00元\n#退款合计：{}笔，商家实收退款共{}元，商家优惠退款共0.00元\n#导出时间：[{}]\n",
        paid.len(),
        yuan(received),
        refunded.len(),
        yuan(-returned),
        beijing(now).format(CN_TIME)
    ));
    out
}

/// The summary entry: its title and the day's totals (Alipay's own columns
/// for it are UNCONFIRMED; nothing reads it).
fn summary_csv(date: NaiveDate, paid: &[Paid], refunded: &[Refunded]) -> String {
    let mut out = String::new();
    preamble(&mut out, "#支付宝业务汇总查询", date);
    let received: i64 = paid.iter().map(|p| p.amount.fen()).sum();
    let returned: i64 = refunded.iter().map(|r| r.amount.fen()).sum();
    out.push_str(&format!(
        "合计,{},{},{},{}\n",
        paid.len(),
        refunded.len(),
        yuan(received),
        yuan(received - returned)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_are_signed_with_two_decimals() {
        assert_eq!(yuan(0), "0.00");
        assert_eq!(yuan(-1), "-0.01");
        assert_eq!(yuan(123_456), "1234.56");
    }
}
