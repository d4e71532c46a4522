//! The simulated WeChat Pay bills, as WeChat Pay makes them:
//!
//! | endpoint | answers |
//! |---|---|
//! | `GET /v3/bill/tradebill?bill_date&bill_type=ALL&tar_type` | 200 `download_url`, `hash_type` `SHA1`, `hash_value` (of the unpacked bill); 400 `STATEMENT_CREATING` (the day has not ended, or the publish delay runs); 400 `NO_STATEMENT_EXIST` (no payment or refund that day); 400 `PARAM_ERROR` (bad date or parameter; `SUCCESS`/`REFUND` bills are not simulated); 400 `INVALID_REQUEST` (older than three months) |
//! | `GET /v3/bill/fundflowbill?bill_date&account_type=BASIC&tar_type` | the same for the basic account's movements; `OPERATION`/`FEES`: 400 `NO_STATEMENT_EXIST` (never a movement there) |
//! | `GET /v3/billdownload/file?token` | 200 the file (gzip with `tar_type=GZIP`), unsigned; 400 `INVALID_REQUEST` (unknown or expired link: 5 minutes) |
//!
//! The trade bill (`ALL`, 27 columns, every value prefixed with a backtick,
//! yuan, then the 7-column summary) lists the book's payments of the
//! Beijing day by their pay time and its refunds by the time they were
//! asked for (交易时间 of a refund is its application time). A direct
//! merchant's 特约商户号 is `0`. The fee is 0.60% of the amount rounded to
//! the fen, written with five decimals; a refund returns its share
//! (negative): the fee's share of all refunded once it is through less
//! its share before it, half up, as qrpay books it (WeChat Pay's own
//! rounding of a partial refund's fee is not published); a failed
//! refund returns none. The fund-flow bill (11 columns, 5-column summary) lists the
//! basic account's money: each payment and its fee, each refund that
//! succeeded and the fee it returned, with the running balance from the
//! simulator's first movement. Transfers are not in it (not simulated).
//! Formats: https://pay.weixin.qq.com/docs/merchant/products/bill-download/format-trade.html ,
//! https://pay.weixin.qq.com/docs/merchant/products/bill-download/format-fundflow.html

use std::collections::HashMap;
use std::io::Write;

use chrono::{DateTime, Duration, Utc};
use qrpay_domain::BusinessDate;
use serde_json::json;
use sha1::{Digest, Sha1};

use super::book::{Book, RefundState};
use super::keys::{WECHATPAY_APPID, WECHATPAY_MCHID};
use super::wechatpay::{Reply, Wechatpay};
use super::{beijing, Ctx};

pub(super) const DOWNLOAD_PATH: &str = "/v3/billdownload/file";
/// How long a `download_url` works (https://pay.weixin.qq.com/doc/v3/merchant/4012084430).
const LINK_VALID_MINUTES: i64 = 5;
const MAX_LINKS: usize = 64;
/// "只支持三个月内的账单".
const HISTORY_DAYS: u64 = 92;
/// The fee: 0.60% of the amount, rounded to the fen.
const FEE_PER_MILLE: i64 = 6;

const TRADE_HEADER: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注";
const TRADE_SUMMARY: &str =
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额";
const FUND_HEADER: &str = "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额(元),账户结余(元),资金变更提交申请人,备注,业务凭证号";
const FUND_SUMMARY: &str = "资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BillKind {
    Trade,
    FundFlow,
}

/// A bill handed out: until when its link works, and the file.
type Link = (DateTime<Utc>, Vec<u8>);

/// The packed bills handed out, by download token.
#[derive(Default)]
pub(super) struct Links(std::sync::Mutex<HashMap<String, Link>>);

impl Links {
    fn put(&self, token: String, expires: DateTime<Utc>, file: Vec<u8>, now: DateTime<Utc>) {
        let mut links = self.0.lock().unwrap_or_else(|p| p.into_inner());
        links.retain(|_, (until, _)| *until > now);
        if links.len() >= MAX_LINKS {
            if let Some(oldest) = links
                .iter()
                .min_by_key(|(_, (u, _))| *u)
                .map(|(t, _)| t.clone())
            {
                links.remove(&oldest);
            }
        }
        links.insert(token, (expires, file));
    }

    fn get(&self, token: &str, now: DateTime<Utc>) -> Result<Vec<u8>, &'static str> {
        let links = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match links.get(token) {
            None => Err("下载链接错误，请重新请求文件下载"),
            Some((until, _)) if *until <= now => Err("下载链接过期，请重新请求文件下载"),
            Some((_, file)) => Ok(file.clone()),
        }
    }
}

/// One payment or refund of the book, with what its rows show.
struct Movement {
    at: DateTime<Utc>,
    product: String,
    txn_id: String,
    out_trade_no: String,
    payer: String,
    description: String,
    attach: String,
    kind: MoveKind,
}

enum MoveKind {
    Paid {
        fen: i64,
    },
    Refunded {
        refund_id: String,
        out_refund_no: String,
        fen: i64,
        /// The share of the payment's fee it returned (zero if it failed).
        fee_fen: i64,
        /// When the money went back; `None`: the refund failed.
        succeeded_at: Option<DateTime<Utc>>,
    },
}

impl Wechatpay {
    /// `GET /v3/bill/tradebill` and `GET /v3/bill/fundflowbill`.
    pub(super) fn apply_bill(&self, ctx: &Ctx<'_>, kind: BillKind, query: &str) -> Reply {
        let params: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let param = |name: &str| params.get(name).map(String::as_str);
        let date = match param("bill_date") {
            Some(text) if text.len() == 10 => BusinessDate::parse(text).ok(),
            _ => None,
        };
        let Some(date) = date else {
            return Reply::error(
                400,
                "PARAM_ERROR",
                "bill_date 日期格式不正确，应为 yyyy-MM-dd",
            );
        };
        let gzip = match param("tar_type") {
            None => false,
            Some("GZIP") => true,
            Some(_) => return Reply::error(400, "PARAM_ERROR", "tar_type 只能为 GZIP"),
        };
        let other_account = match (kind, param("bill_type"), param("account_type")) {
            (BillKind::Trade, None | Some("ALL"), _) => false,
            (BillKind::Trade, Some(_), _) => {
                return Reply::error(
                    400,
                    "PARAM_ERROR",
                    "bill_type: the simulator makes ALL bills only",
                )
            }
            (BillKind::FundFlow, _, None | Some("BASIC")) => false,
            (BillKind::FundFlow, _, Some("OPERATION" | "FEES")) => true,
            (BillKind::FundFlow, _, Some(_)) => {
                return Reply::error(
                    400,
                    "PARAM_ERROR",
                    "account_type 只能为 BASIC, OPERATION, FEES",
                )
            }
        };
        let today = BusinessDate::of(ctx.now);
        if date < today.days_before(HISTORY_DAYS) {
            return Reply::error(400, "INVALID_REQUEST", "请求的账单日期已过期");
        }
        if ctx.now < date.succ().starts_at() + ctx.settings.bill_delay {
            return Reply::error(400, "STATEMENT_CREATING", "账单生成中");
        }
        let movements = movements(&self.sim.book());
        let text = match kind {
            _ if other_account => None,
            BillKind::Trade => trade_bill(&movements, date),
            BillKind::FundFlow => fund_bill(&movements, date),
        };
        let Some(text) = text else {
            return Reply::error(400, "NO_STATEMENT_EXIST", "请求的账单文件不存在");
        };
        let hash = hex::encode(Sha1::digest(text.as_bytes()));
        let file = if gzip {
            packed(text.as_bytes())
        } else {
            text.into_bytes()
        };
        let token = self.sim.id("BILL", ctx.now, 8);
        self.links.put(
            token.clone(),
            ctx.now + Duration::minutes(LINK_VALID_MINUTES),
            file,
            ctx.now,
        );
        let tail = if gzip { "&tartype=gzip" } else { "" };
        Reply::ok(json!({
            "download_url": format!("{}{DOWNLOAD_PATH}?token={token}{tail}", self.base_url),
            "hash_type": "SHA1",
            "hash_value": hash,
        }))
    }

    /// `GET /v3/billdownload/file?token=…`: the file, unsigned.
    pub(super) fn download_bill(&self, ctx: &Ctx<'_>, query: &str) -> Reply {
        let token = form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        match self.links.get(&token, ctx.now) {
            Ok(file) => Reply::File(file),
            Err(message) => Reply::error(400, "INVALID_REQUEST", message),
        }
    }
}

fn packed(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a Vec cannot fail.
    let _ = gz.write_all(bytes);
    gz.finish().unwrap_or_default()
}

/// Every payment and refund of the book, oldest first.
fn movements(book: &Book) -> Vec<Movement> {
    let mut all = Vec::new();
    let facts = |o: &super::book::Order| {
        let text = |name: &str| {
            o.request
                .get(name)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        (
            o.product.to_owned(),
            o.out_trade_no.clone(),
            text("description"),
            text("attach"),
        )
    };
    for order in book.orders() {
        let Some(paid) = order.payment() else {
            continue;
        };
        let (product, out_trade_no, description, attach) = facts(order);
        all.push(Movement {
            at: paid.at,
            product,
            txn_id: paid.txn_id.clone(),
            out_trade_no,
            payer: paid.payer.clone(),
            description,
            attach,
            kind: MoveKind::Paid {
                fen: order.amount.fen(),
            },
        });
    }
    // In the order they were asked for: each returns the fee's share of
    // all refunded once it is through less its share before it.
    let mut refunds: Vec<_> = book.refunds().collect();
    refunds.sort_by(|a, b| (a.created_at, &a.refund_id).cmp(&(b.created_at, &b.refund_id)));
    let mut refunded_before: HashMap<&str, i64> = HashMap::new();
    for refund in refunds {
        let Some(order) = book.order(&refund.out_trade_no) else {
            continue;
        };
        let Some(paid) = order.payment() else {
            continue;
        };
        let succeeded = matches!(refund.state, RefundState::Succeeded { .. });
        let before = refunded_before.entry(&refund.out_trade_no).or_default();
        let fee_fen = if succeeded {
            let (fee, paid_fen) = (fee_of(order.amount.fen()), order.amount.fen());
            let share = |x: i64| (2 * fee * x.min(paid_fen) + paid_fen) / (2 * paid_fen);
            let back = share(*before + refund.amount.fen()) - share(*before);
            *before += refund.amount.fen();
            back
        } else {
            0
        };
        let (product, out_trade_no, description, attach) = facts(order);
        all.push(Movement {
            at: refund.created_at,
            product,
            txn_id: paid.txn_id.clone(),
            out_trade_no,
            payer: paid.payer.clone(),
            description,
            attach,
            kind: MoveKind::Refunded {
                refund_id: refund.refund_id.clone(),
                out_refund_no: refund.out_refund_no.clone(),
                fen: refund.amount.fen(),
                fee_fen,
                succeeded_at: match refund.state {
                    RefundState::Succeeded { at } => Some(at),
                    RefundState::Failed { .. } => None,
                },
            },
        });
    }
    all.sort_by(|a, b| (a.at, &a.txn_id).cmp(&(b.at, &b.txn_id)));
    all
}

fn fee_of(fen: i64) -> i64 {
    (fen * FEE_PER_MILLE + 500) / 1000
}

/// `88.88`, `-0.53`.
fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// A fee with five decimals: `0.53000`.
fn fee_text(fen: i64) -> String {
    format!("{}000", yuan(fen))
}

fn local_time(at: DateTime<Utc>) -> String {
    beijing(at).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// `values` each prefixed with a backtick, comma-separated, one line.
fn push_line(out: &mut String, values: &[&str]) {
    let mut first = true;
    for value in values {
        if !first {
            out.push(',');
        }
        first = false;
        out.push('`');
        out.push_str(value);
    }
    out.push('\n');
}

/// The `ALL` trade bill of `date`, or `None` when nothing happened.
fn trade_bill(movements: &[Movement], date: BusinessDate) -> Option<String> {
    let mut out = format!("{TRADE_HEADER}\n");
    let (mut count, mut settled, mut refunded, mut fees, mut ordered) =
        (0u64, 0i64, 0i64, 0i64, 0i64);
    for m in movements.iter().filter(|m| BusinessDate::of(m.at) == date) {
        count += 1;
        let time = local_time(m.at);
        let rate = "0.60%";
        match &m.kind {
            MoveKind::Paid { fen } => {
                let (amount, fee) = (yuan(*fen), fee_text(fee_of(*fen)));
                settled += fen;
                ordered += fen;
                fees += fee_of(*fen);
                #[rustfmt::skip]
                push_line(&mut out, &[
                    &time, WECHATPAY_APPID, WECHATPAY_MCHID, "0", "", &m.txn_id, &m.out_trade_no,
                    &m.payer, &m.product, "SUCCESS", "OTHERS", "CNY", &amount, "0.00", "0", "0",
                    "0.00", "0.00", "", "", &m.description, &m.attach, &fee, rate, &amount, "0.00", "",
                ]);
            }
            MoveKind::Refunded {
                refund_id,
                out_refund_no,
                fen,
                fee_fen,
                succeeded_at,
            } => {
                let amount = yuan(*fen);
                let fee = fee_text(-fee_fen);
                refunded += fen;
                fees -= fee_fen;
                let state = if succeeded_at.is_some() {
                    "SUCCESS"
                } else {
                    "FAIL"
                };
                #[rustfmt::skip]
                push_line(&mut out, &[
                    &time, WECHATPAY_APPID, WECHATPAY_MCHID, "0", "", &m.txn_id, &m.out_trade_no,
                    &m.payer, &m.product, "REFUND", "OTHERS", "CNY", "0.00", "0.00", refund_id,
                    out_refund_no, &amount, "0.00", "ORIGINAL", state, &m.description, &m.attach,
                    &fee, rate, "0.00", &amount, "",
                ]);
            }
        }
    }
    if count == 0 {
        return None;
    }
    out.push_str(TRADE_SUMMARY);
    out.push('\n');
    push_line(
        &mut out,
        &[
            &count.to_string(),
            &yuan(settled),
            &yuan(refunded),
            "0.00",
            &fee_text(fees),
            &yuan(ordered),
            &yuan(refunded),
        ],
    );
    Some(out)
}

/// One entry of the basic account.
struct Entry<'m> {
    at: DateTime<Utc>,
    business_id: &'m str,
    name: &'static str,
    kind: &'static str,
    /// Positive in, negative out.
    fen: i64,
    voucher: &'m str,
}

fn entries(movements: &[Movement]) -> Vec<Entry<'_>> {
    let mut all = Vec::new();
    for m in movements {
        match &m.kind {
            MoveKind::Paid { fen } => {
                let entry = |kind, fen| Entry {
                    at: m.at,
                    business_id: &m.txn_id,
                    name: "交易",
                    kind,
                    fen,
                    voucher: &m.out_trade_no,
                };
                all.push(entry("交易", *fen));
                all.push(entry("扣除交易手续费", -fee_of(*fen)));
            }
            MoveKind::Refunded {
                refund_id,
                out_refund_no,
                fen,
                fee_fen,
                succeeded_at: Some(at),
            } => {
                let entry = |kind, fen| Entry {
                    at: *at,
                    business_id: refund_id,
                    name: "退款",
                    kind,
                    fen,
                    voucher: out_refund_no,
                };
                all.push(entry("退款", -fen));
                all.push(entry("退还交易手续费", *fee_fen));
            }
            MoveKind::Refunded { .. } => {}
        }
    }
    all.retain(|e| e.fen != 0);
    all.sort_by_key(|e| e.at);
    all
}

/// The basic account's fund-flow bill of `date`, or `None` when no money moved.
fn fund_bill(movements: &[Movement], date: BusinessDate) -> Option<String> {
    let mut out = format!("{FUND_HEADER}\n");
    let (mut balance, mut count) = (0i64, 0u64);
    let (mut ins, mut in_fen, mut outs, mut out_fen) = (0u64, 0i64, 0u64, 0i64);
    for (n, e) in entries(movements).iter().enumerate() {
        balance += e.fen;
        if BusinessDate::of(e.at) != date {
            continue;
        }
        count += 1;
        let direction = if e.fen > 0 {
            ins += 1;
            in_fen += e.fen;
            "收入"
        } else {
            outs += 1;
            out_fen -= e.fen;
            "支出"
        };
        let flow_id = format!("{}{:010}", beijing(e.at).format("%Y%m%d"), n + 1);
        #[rustfmt::skip]
        push_line(&mut out, &[
            &local_time(e.at), e.business_id, &flow_id, e.name, e.kind, direction,
            &yuan(e.fen.abs()), &yuan(balance), "system", "", e.voucher,
        ]);
    }
    if count == 0 {
        return None;
    }
    out.push_str(FUND_SUMMARY);
    out.push('\n');
    push_line(
        &mut out,
        &[
            &count.to_string(),
            &ins.to_string(),
            &yuan(in_fen),
            &outs.to_string(),
            &yuan(out_fen),
        ],
    );
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn paid(time: &str, no: &str, fen: i64) -> Movement {
        Movement {
            at: at(time),
            product: "NATIVE".into(),
            txn_id: format!("42000{no}"),
            out_trade_no: format!("ord_{no}"),
            payer: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into(),
            description: "茶叶 500g".into(),
            attach: String::new(),
            kind: MoveKind::Paid { fen },
        }
    }

    #[test]
    fn the_trade_bill_has_a_row_per_payment_and_refund_and_the_summary() {
        let mut refund = paid("2026-02-28T18:00:00+08:00", "1", 0);
        refund.kind = MoveKind::Refunded {
            refund_id: "50300001".into(),
            out_refund_no: "rf_1".into(),
            fen: 5000,
            // 0.53 × 50.00 / 88.88 = 0.298: 0.30.
            fee_fen: 30,
            succeeded_at: Some(at("2026-02-28T18:00:05+08:00")),
        };
        let movements = vec![
            paid("2026-02-27T23:59:59+08:00", "0", 100),
            paid("2026-02-28T17:07:11+08:00", "1", 8888),
            refund,
        ];
        let date = BusinessDate::parse("2026-02-28").unwrap();
        let bill = trade_bill(&movements, date).unwrap();
        let lines: Vec<&str> = bill.lines().collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0], TRADE_HEADER);
        assert_eq!(lines[1], "`2026-02-28 17:07:11,`wx8888888888888888,`1900000109,`0,`,`420001,`ord_1,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,`SUCCESS,`OTHERS,`CNY,`88.88,`0.00,`0,`0,`0.00,`0.00,`,`,`茶叶 500g,`,`0.53000,`0.60%,`88.88,`0.00,`");
        assert_eq!(lines[2], "`2026-02-28 18:00:00,`wx8888888888888888,`1900000109,`0,`,`420001,`ord_1,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`50300001,`rf_1,`50.00,`0.00,`ORIGINAL,`SUCCESS,`茶叶 500g,`,`-0.30000,`0.60%,`0.00,`50.00,`");
        assert_eq!(lines[3], TRADE_SUMMARY);
        assert_eq!(lines[4], "`2,`88.88,`50.00,`0.00,`0.23000,`88.88,`50.00");
        assert_eq!(trade_bill(&movements, date.succ()), None);
        let fund = fund_bill(&movements, date).unwrap();
        let lines: Vec<&str> = fund.lines().collect();
        assert_eq!(lines[0], FUND_HEADER);
        assert_eq!(lines[1], "`2026-02-28 17:07:11,`420001,`202602280000000003,`交易,`交易,`收入,`88.88,`89.87,`system,`,`ord_1");
        assert_eq!(lines[2], "`2026-02-28 17:07:11,`420001,`202602280000000004,`交易,`扣除交易手续费,`支出,`0.53,`89.34,`system,`,`ord_1");
        assert_eq!(lines[3], "`2026-02-28 18:00:05,`50300001,`202602280000000005,`退款,`退款,`支出,`50.00,`39.34,`system,`,`rf_1");
        assert_eq!(lines[4], "`2026-02-28 18:00:05,`50300001,`202602280000000006,`退款,`退还交易手续费,`收入,`0.30,`39.64,`system,`,`rf_1");
        assert_eq!(lines[5], FUND_SUMMARY);
        assert_eq!(lines[6], "`4,`2,`89.18,`2,`50.53");
    }

    #[test]
    fn a_download_link_works_five_minutes_and_only_for_its_token() {
        let links = Links::default();
        let now = at("2026-03-01T00:01:00+08:00");
        let until = now + Duration::minutes(LINK_VALID_MINUTES);
        links.put("t1".into(), until, b"bill".to_vec(), now);
        assert_eq!(links.get("t1", now), Ok(b"bill".to_vec()));
        assert_eq!(
            links.get("t1", until - Duration::seconds(1)),
            Ok(b"bill".to_vec())
        );
        assert_eq!(
            links.get("t1", until),
            Err("下载链接过期，请重新请求文件下载")
        );
        assert_eq!(
            links.get("t2", now),
            Err("下载链接错误，请重新请求文件下载")
        );
        for n in 0..MAX_LINKS + 3 {
            links.put(
                format!("n{n}"),
                until + Duration::seconds(n as i64),
                Vec::new(),
                now,
            );
        }
        let kept = links.0.lock().unwrap().len();
        assert_eq!(kept, MAX_LINKS);
        assert!(links.get("t1", now).is_err(), "the oldest went first");
    }
}
