//! The trade bill through ecpay v1's 获取对账单: `GET {bill_url}?start_date=D
//! &end_date=D&seller=…&bill_type=payment|refund&app_id=…&sign=…` (dates
//! `yyyyMMdd`, the `sign` as every ecpay request's, over the fields but
//! `app_id`). The answer's body is the table itself (CSV, first line the
//! column names); an error is a JSON `{"err_no":…,"err_tips":…}`. Research
//! notes: /work/notes/bills-research.md §3.1.
//!
//! Our trade bill must list refunds too, and Douyin keeps them in a separate
//! `refund` bill: the file we store is the `payment` table followed by the
//! `refund` table, each byte for byte with its own column-name line (a
//! newline added between them if the first lacks a final one; an empty
//! table replaced by its documented column line).
//! `Format::Douyin` reads exactly that.
//!
//! Douyin documents no publish time and no "not generated yet" answer, and a
//! range query cannot tell an unfinished day from a quiet one: we never ask
//! before `PUBLISH_DELAY` after the day has ended in Beijing (`NotYet`
//! until then, without a call). The `err_no`s documented are 1 (参数错误:
//! `Refused`) and -1 (系统错误: `Ambiguous`); any other is ambiguous.

use std::io::Read;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::Duration;
use qrpay_domain::{BusinessDate, Provider};
use serde_json::Value;

use super::{ecpay_sign, DouyinGateway};
use crate::bills::{beside, BillGateway, BillKind, BillOutcome, MAX_BILL_BYTES};
use crate::gateway::HttpRequest;

/// Douyin's 获取对账单, beside ecpay v1 (`…/api/apps/ecpay/v1` →
/// `…/api/apps/bill`).
pub const BILL_PATH: &str = "/bill";
/// How long after a day has ended we first ask for its bill (UNCONFIRMED:
/// Douyin documents no publish time; WeChat and Alipay publish by 10:00).
pub const PUBLISH_DELAY: Duration = Duration::hours(2);
/// The two tables our trade bill is made of, in file order.
pub const BILL_TYPES: [&str; 2] = ["payment", "refund"];
/// Each table's documented column names: written for a table whose body
/// came back empty (UNCONFIRMED whether Douyin sends the column line of a
/// table without records), so the file always holds both tables.
const TABLE_HEADERS: [&str; 2] = [
    "序号,支付时间,商户号,openId,订单号,平台订单号,渠道订单号,订单金额,支付方式,支付状态",
    "序号,退款时间,商户号,openId,订单号,渠道订单号,订单金额,支付方式,退款类型,退款单号,平台退款单号,退款状态,退款完成时间,退款金额",
];
/// A JSON error answer is small; a body starting with `{` over this is
/// not read (it is no bill either).
const MAX_ERROR_BYTES: u64 = 64 * 1024;

/// The bill URL for a `DOUYIN_BASE_URL`: `…/ecpay/v1` → `…/bill`; a base
/// without that suffix (a simulator) gets `/bill` appended.
pub fn bill_url(base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    let root = base.strip_suffix("/ecpay/v1").unwrap_or(base);
    format!("{root}{BILL_PATH}")
}

/// What one downloaded table turned out to be.
enum Table {
    Csv,
    Outcome(BillOutcome),
}

/// A JSON error answer's outcome.
fn error_outcome(body: &[u8]) -> BillOutcome {
    let answer: Option<Value> = serde_json::from_slice(body).ok();
    let err_no = answer
        .as_ref()
        .and_then(|a| a.get("err_no"))
        .and_then(Value::as_i64);
    let tips = answer
        .as_ref()
        .and_then(|a| a.get("err_tips"))
        .and_then(Value::as_str)
        .map(|t| crate::notice::reason(Some(t)))
        .unwrap_or_default();
    match err_no {
        Some(1) => BillOutcome::Refused {
            code: "1".into(),
            message: format!("err_no 1: {tips}"),
        },
        Some(n) => BillOutcome::Ambiguous {
            detail: format!("err_no {n}: {tips}"),
        },
        None => BillOutcome::Ambiguous {
            detail: "a JSON answer that is no bill and has no err_no".into(),
        },
    }
}

/// Reads the start of a downloaded table: CSV, or an error answer.
/// An empty (or blank) table becomes its `header` line.
fn classify(path: &Path, header: &str) -> Result<Table, std::io::Error> {
    let mut file = std::fs::File::open(path)?;
    let mut head = Vec::new();
    (&mut file).take(MAX_ERROR_BYTES).read_to_end(&mut head)?;
    let first = head.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_none() && (head.len() as u64) < MAX_ERROR_BYTES {
        std::fs::write(path, format!("{header}\n"))?;
        return Ok(Table::Csv);
    }
    if first != Some(&b'{') {
        return Ok(Table::Csv);
    }
    if head.len() as u64 >= MAX_ERROR_BYTES {
        return Ok(Table::Outcome(BillOutcome::Ambiguous {
            detail: "a large JSON answer instead of the bill".into(),
        }));
    }
    Ok(Table::Outcome(error_outcome(&head)))
}

/// `dest` := the tables, in order, a newline between them where missing.
fn join(tables: &[PathBuf], dest: &Path) -> Result<u64, std::io::Error> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(dest)?);
    let mut total = 0u64;
    for table in tables {
        let mut file = std::fs::File::open(table)?;
        total = total.saturating_add(std::io::copy(&mut file, &mut out)?);
        let ends_in_newline = {
            use std::io::{Seek, SeekFrom};
            let mut last = [0u8; 1];
            file.seek(SeekFrom::End(-1))
                .and_then(|_| file.read_exact(&mut last))
                .map(|()| last[0] == b'\n')
                .unwrap_or(true)
        };
        if !ends_in_newline {
            out.write_all(b"\n")?;
            total = total.saturating_add(1);
        }
    }
    out.flush()?;
    Ok(total)
}

#[async_trait]
impl BillGateway for DouyinGateway {
    fn provider(&self) -> Provider {
        Provider::Douyin
    }

    fn bill_kinds(&self) -> &'static [BillKind] {
        &[BillKind::Trade]
    }

    async fn fetch_bill(&self, date: BusinessDate, kind: BillKind, dest: &Path) -> BillOutcome {
        if kind != BillKind::Trade {
            return BillOutcome::not_offered(Provider::Douyin, kind);
        }
        let Some(seller) = self.seller.as_deref() else {
            return BillOutcome::Refused {
                code: "NO_SELLER".into(),
                message: "DOUYIN_MERCHANT_ID is not configured".into(),
            };
        };
        if self.clock.now() < date.succ().starts_at() + PUBLISH_DELAY {
            return BillOutcome::NotYet {
                detail: format!(
                    "Douyin's bill of {date} is asked for {PUBLISH_DELAY} after the day"
                ),
            };
        }
        let parts: Vec<PathBuf> = BILL_TYPES
            .iter()
            .map(|t| beside(dest, &format!(".{t}")))
            .collect();
        let mut outcome = None;
        for ((bill_type, header), part) in BILL_TYPES.iter().zip(TABLE_HEADERS).zip(&parts) {
            if let Some(failed) = self
                .fetch_table(date, seller, (bill_type, header), part)
                .await
            {
                outcome = Some(failed);
                break;
            }
        }
        let outcome = outcome.unwrap_or_else(|| match join(&parts, dest) {
            Ok(bytes) => BillOutcome::Stored { bytes },
            Err(e) => BillOutcome::Ambiguous {
                detail: format!("the bill could not be written: {e}"),
            },
        });
        for part in &parts {
            let _ = std::fs::remove_file(part);
        }
        outcome
    }
}

impl DouyinGateway {
    /// The signed GET of one table.
    pub(crate) fn bill_request(
        &self,
        date: BusinessDate,
        seller: &str,
        bill_type: &str,
    ) -> HttpRequest {
        let day = date.naive().format("%Y%m%d").to_string();
        let fields = [
            ("start_date", day.as_str()),
            ("end_date", day.as_str()),
            ("seller", seller),
            ("bill_type", bill_type),
        ];
        let sign = ecpay_sign(fields.iter().copied(), &self.salt);
        let query: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .append_pair("app_id", &self.app_id)
            .append_pair("sign", &sign)
            .finish();
        HttpRequest {
            method: http::Method::GET,
            url: format!("{}?{query}", bill_url(&self.base_url)),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Downloads one table into `part`: `None` when it is a CSV.
    async fn fetch_table(
        &self,
        date: BusinessDate,
        seller: &str,
        (bill_type, header): (&str, &str),
        part: &Path,
    ) -> Option<BillOutcome> {
        let request = self.bill_request(date, seller, bill_type);
        match self.transport.download(request, part, MAX_BILL_BYTES).await {
            Ok(answer) if answer.status != 200 => Some(BillOutcome::Ambiguous {
                detail: format!("Douyin's {bill_type} bill answered HTTP {}", answer.status),
            }),
            Ok(_) => match classify(part, header) {
                Ok(Table::Csv) => None,
                Ok(Table::Outcome(outcome)) => Some(outcome),
                Err(e) => Some(BillOutcome::Ambiguous {
                    detail: format!("the {bill_type} bill could not be read back: {e}"),
                }),
            },
            Err(e) => Some(BillOutcome::Ambiguous {
                detail: format!("Douyin's {bill_type} bill: {e}"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bill_lives_beside_ecpay_v1() {
        assert_eq!(
            bill_url("https://developer.toutiao.com/api/apps/ecpay/v1"),
            "https://developer.toutiao.com/api/apps/bill"
        );
        assert_eq!(
            bill_url("http://127.0.0.1:9000/douyin/"),
            "http://127.0.0.1:9000/douyin/bill"
        );
    }

    #[test]
    fn error_answers_map_by_err_no() {
        assert_eq!(
            error_outcome(br#"{"err_no":1,"err_tips":"end_date is before start_date"}"#),
            BillOutcome::Refused {
                code: "1".into(),
                message: "err_no 1: end_date is before start_date".into()
            }
        );
        assert_eq!(
            error_outcome(r#"{"err_no":-1,"err_tips":"系统错误"}"#.as_bytes()),
            BillOutcome::Ambiguous {
                detail: "err_no -1: 系统错误".into()
            }
        );
        assert_eq!(
            error_outcome(br#"{"err_no":7}"#),
            BillOutcome::Ambiguous {
                detail: "err_no 7: ".into()
            }
        );
        assert!(matches!(
            error_outcome(b"{not json"),
            BillOutcome::Ambiguous { .. }
        ));
    }
}
