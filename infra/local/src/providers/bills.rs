//! The simulators' daily bills, built from their books (SPEC §6, §9
//! "Bills"): what each provider's bill of a Beijing day lists — the
//! payments made and the refunds completed that day — in that provider's
//! own format. A day's bill exists once the day has ended on the stack's
//! clock; before, each simulator gives its "not yet" answer.
//!
//! - Alipay (`alipay_bill`): `alipay.data.dataservice.bill.downloadurl.query`
//!   answers a URL under `/sim/alipay/bills/`, which serves the ZIP of GBK
//!   CSVs (`…_业务明细.csv`, `…_业务明细(汇总).csv`).
//! - Douyin (`douyin`): `GET /sim/douyin/api/apps/bill` answers the payment
//!   or refund table itself.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use qrpay_domain::Amount;

use super::book::{Book, OrderState, RefundState};

/// A payment of the day.
#[derive(Debug, Clone)]
pub struct Paid {
    pub at: DateTime<Utc>,
    pub out_trade_no: String,
    pub txn_id: String,
    pub provider_order_id: Option<String>,
    pub amount: Amount,
    pub payer: String,
    /// The create parameters as the provider got them.
    pub request: serde_json::Value,
    /// Alipay Huabei periods.
    pub instalments: Option<u8>,
}

/// A refund completed on the day.
#[derive(Debug, Clone)]
pub struct Refunded {
    pub at: DateTime<Utc>,
    pub asked_at: DateTime<Utc>,
    pub out_trade_no: String,
    pub out_refund_no: String,
    pub refund_id: String,
    pub amount: Amount,
    /// The refunded order's amount and payment.
    pub order_amount: Amount,
    pub txn_id: String,
    pub payer: String,
    /// The refunded order's create parameters.
    pub request: serde_json::Value,
}

/// The Beijing day `date` as `[start, end)`.
pub fn bounds(date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let offset = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8");
    let start = offset
        .from_local_datetime(&date.and_time(NaiveTime::MIN))
        .single()
        .expect("no daylight saving at UTC+8")
        .with_timezone(&Utc);
    (start, start + Duration::days(1))
}

/// Whether the bill of `date` is out at `now`: the day has ended.
pub fn published(date: NaiveDate, now: DateTime<Utc>) -> bool {
    now >= bounds(date).1
}

/// The payments and refunds of `date` in `book`, each by time.
pub fn day(book: &Book, date: NaiveDate) -> (Vec<Paid>, Vec<Refunded>) {
    let (start, end) = bounds(date);
    let within = |at: DateTime<Utc>| start <= at && at < end;
    let mut paid: Vec<Paid> = book
        .orders()
        .filter_map(|order| match &order.state {
            OrderState::Paid(payment) if within(payment.at) => Some(Paid {
                at: payment.at,
                out_trade_no: order.out_trade_no.clone(),
                txn_id: payment.txn_id.clone(),
                provider_order_id: order.provider_order_id.clone(),
                amount: order.amount,
                payer: payment.payer.clone(),
                request: order.request.clone(),
                instalments: order.instalments,
            }),
            _ => None,
        })
        .collect();
    paid.sort_by(|a, b| (a.at, &a.out_trade_no).cmp(&(b.at, &b.out_trade_no)));
    let mut refunded: Vec<Refunded> = book
        .refunds()
        .filter_map(|refund| {
            let RefundState::Succeeded { at } = refund.state else {
                return None;
            };
            let order = book.order(&refund.out_trade_no)?;
            let payment = order.payment()?;
            within(at).then(|| Refunded {
                at,
                asked_at: refund.created_at,
                out_trade_no: refund.out_trade_no.clone(),
                out_refund_no: refund.out_refund_no.clone(),
                refund_id: refund.refund_id.clone(),
                amount: refund.amount,
                order_amount: order.amount,
                txn_id: payment.txn_id.clone(),
                payer: payment.payer.clone(),
                request: order.request.clone(),
            })
        })
        .collect();
    refunded.sort_by(|a, b| (a.at, &a.out_refund_no).cmp(&(b.at, &b.out_refund_no)));
    (paid, refunded)
}

/// An account masked as bills show it: `208***880`.
pub fn masked(account: &str) -> String {
    let chars: Vec<char> = account.chars().collect();
    if chars.len() <= 6 {
        return "***".to_owned();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 3..].iter().collect();
    format!("{head}***{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_bounded_by_beijing_midnights_and_published_at_its_end() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let (start, end) = bounds(date);
        assert_eq!(start.to_rfc3339(), "2026-11-19T16:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2026-11-20T16:00:00+00:00");
        assert!(!published(date, end - Duration::milliseconds(1)));
        assert!(published(date, end));
        assert_eq!(masked("2088102177846880"), "208***880");
        assert_eq!(masked("abc"), "***");
    }
}
