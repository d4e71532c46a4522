//! The trade bill: `alipay.data.dataservice.bill.downloadurl.query` with
//! `{"bill_type":"trade","bill_date":"yyyy-MM-dd","secure":"true"}`, then an
//! unauthenticated GET of the answer's `bill_download_url` (valid 30 s), a
//! ZIP of GBK CSVs; its `…_业务明细.csv` entry (not `…_业务明细(汇总).csv`)
//! is written byte for byte (GBK) to the destination, for
//! `Format::Alipay`. Research notes: /work/notes/bills-research.md §2.
//!
//! The query's answer is verified like every other call; its URL is the only
//! thing we then fetch unsigned, so it must be `https://` (we ask for
//! `secure`), or exactly the configured gateway's own scheme, host and port
//! (the local simulator serves its bills beside its `gateway.do` over plain
//! HTTP). A plain-HTTP URL on any other host is refused: the file could be
//! altered on the way, and asking again would return the same URL.
//!
//! `isp.bill_not_exist` (documented `BILL_NOT_EXIST`) means "not generated
//! yet" as well as "no trades": it is `NotYet`, and the job's deadline turns
//! a lasting one into a reported gap. `NO_BILL_DATA` is `NoBill`. An answer
//! with `bill_file_code = EMPTY_DATA_WITH_BILL_FILE` still carries a file
//! (header and footer, no rows): it is downloaded and `Stored`, so the
//! reconciliation compares our ledger with an empty bill.

use std::path::Path;

use async_trait::async_trait;
use qrpay_domain::{BusinessDate, Provider};
use serde_json::json;

use super::bill_zip::{unpack_detail, UnpackError};
use super::{text, AlipayGateway, ErrorKind, Reply};
use crate::bills::{BillGateway, BillKind, BillOutcome, MAX_BILL_BYTES};
use crate::gateway::HttpRequest;

pub const BILL_QUERY: &str = "alipay.data.dataservice.bill.downloadurl.query";

/// What a `sub_code` (case, `isp.`/`isv.` prefix and `-`/`_` ignored) says
/// about the bill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SubCode {
    NotYet,
    NoBill,
    Refused,
    Ambiguous,
}

/// The one table of the query's business `sub_code`s (official error table,
/// and what the live gateway returns: `isp.bill_not_exist`,
/// `invalid_arguments`).
fn sub_code(sub_code: &str) -> SubCode {
    let bare = sub_code
        .trim()
        .to_ascii_uppercase()
        .replace('-', "_")
        .trim_start_matches("ISP.")
        .trim_start_matches("ISV.")
        .to_owned();
    match bare.as_str() {
        "BILL_NOT_EXIST" => SubCode::NotYet,
        "NO_BILL_DATA" => SubCode::NoBill,
        "INVAILID_ARGUMENTS"
        | "INVALID_ARGUMENTS"
        | "BILL_DATE_BEFORE_REGISTRATION"
        | "TYPE_NOT_SUPPORTED" => SubCode::Refused,
        // SYSTEM_RATE_LIMIT, USER_RATE_LIMIT (retry after a minute),
        // UNKNOWN_ERROR, and anything undocumented.
        _ => SubCode::Ambiguous,
    }
}

/// Where the query leaves us: a URL to fetch, or the outcome.
fn query_outcome(reply: Reply) -> Result<String, BillOutcome> {
    let error = match reply {
        Reply::Success(answer) => {
            return text(&answer, "bill_download_url")
                .map(str::to_owned)
                .ok_or_else(|| BillOutcome::Ambiguous {
                    detail: "code 10000 without bill_download_url".into(),
                })
        }
        Reply::Error(error) => error,
        Reply::Untrusted(detail) => return Err(BillOutcome::Ambiguous { detail }),
    };
    Err(match error.kind() {
        ErrorKind::Business(code) => match sub_code(code) {
            SubCode::NotYet => BillOutcome::NotYet {
                detail: error.describe(),
            },
            SubCode::NoBill => BillOutcome::NoBill {
                detail: error.describe(),
            },
            SubCode::Refused => BillOutcome::Refused {
                code: error.code(),
                message: error.describe(),
            },
            SubCode::Ambiguous => BillOutcome::Ambiguous {
                detail: error.describe(),
            },
        },
        ErrorKind::RefusedByGateway => BillOutcome::Refused {
            code: error.code(),
            message: error.describe(),
        },
        ErrorKind::Unavailable | ErrorKind::Unknown => BillOutcome::Ambiguous {
            detail: error.describe(),
        },
    })
}

/// `scheme://host[:port]` of an absolute URL, lower-cased.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    (!authority.is_empty() && !authority.contains('@'))
        .then(|| format!("{scheme}://{authority}").to_ascii_lowercase())
}

/// Whether we fetch `url` unsigned: https anywhere, or the gateway's origin.
pub(crate) fn fetchable(url: &str, gateway_url: &str) -> bool {
    match origin(url) {
        Some(theirs) if theirs.starts_with("https://") => true,
        Some(theirs) => origin(gateway_url).as_deref() == Some(theirs.as_str()),
        None => false,
    }
}

#[async_trait]
impl BillGateway for AlipayGateway {
    fn provider(&self) -> Provider {
        Provider::Alipay
    }

    fn bill_kinds(&self) -> &'static [BillKind] {
        &[BillKind::Trade]
    }

    async fn fetch_bill(&self, date: BusinessDate, kind: BillKind, dest: &Path) -> BillOutcome {
        if kind != BillKind::Trade {
            return BillOutcome::not_offered(Provider::Alipay, kind);
        }
        let bill_date = date.naive().format("%Y-%m-%d").to_string();
        let biz = json!({"bill_type": "trade", "bill_date": bill_date, "secure": "true"});
        let reply = self.call(BILL_QUERY, &biz, false, ("", "")).await;
        let url = match query_outcome(reply) {
            Ok(url) => url,
            Err(outcome) => return outcome,
        };
        if !fetchable(&url, &self.gateway_url) {
            return BillOutcome::Refused {
                code: "INSECURE_BILL_URL".into(),
                message: "bill_download_url is neither https nor on the configured gateway".into(),
            };
        }
        self.download(&url, dest).await
    }
}

impl AlipayGateway {
    /// GETs the ZIP beside `dest`, unpacks its detail entry into `dest`.
    async fn download(&self, url: &str, dest: &Path) -> BillOutcome {
        let packed = crate::bills::beside(dest, ".zip");
        let request = HttpRequest {
            method: http::Method::GET,
            url: url.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        };
        let outcome = match self
            .transport
            .download(request, &packed, MAX_BILL_BYTES)
            .await
        {
            // An expired link or a busy server: query again.
            Ok(answer) if answer.status != 200 => BillOutcome::Ambiguous {
                detail: format!("the bill download answered HTTP {}", answer.status),
            },
            Ok(_) => match unpack_detail(&packed, dest, MAX_BILL_BYTES) {
                Ok(bytes) => BillOutcome::Stored { bytes },
                Err(UnpackError::Io(e)) => BillOutcome::Ambiguous {
                    detail: format!("the bill could not be unpacked: {e}"),
                },
                Err(e) => BillOutcome::Ambiguous {
                    detail: e.to_string(),
                },
            },
            Err(e) => BillOutcome::Ambiguous {
                detail: format!("the bill download failed: {e}"),
            },
        };
        let _ = std::fs::remove_file(&packed);
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::super::replies::{business, error, success};
    use super::*;

    #[test]
    fn every_documented_code_has_its_outcome() {
        let not_yet =
            |c: &str| matches!(query_outcome(business(c)), Err(BillOutcome::NotYet { .. }));
        assert!(not_yet("isp.bill_not_exist"));
        assert!(not_yet("BILL_NOT_EXIST"));
        assert!(not_yet("isv.bill-not-exist"));
        assert!(matches!(
            query_outcome(business("NO_BILL_DATA")),
            Err(BillOutcome::NoBill { .. })
        ));
        for refused in [
            "INVAILID_ARGUMENTS",
            "invalid_arguments",
            "isv.invalid-arguments",
            "BILL_DATE_BEFORE_REGISTRATION",
            "TYPE_NOT_SUPPORTED",
        ] {
            assert_eq!(
                query_outcome(business(refused)),
                Err(BillOutcome::Refused {
                    code: refused.into(),
                    message: format!("40004 {refused}: 说明"),
                })
            );
        }
        for ambiguous in ["SYSTEM_RATE_LIMIT", "USER_RATE_LIMIT", "UNKNOWN_ERROR", "X"] {
            assert_eq!(
                query_outcome(business(ambiguous)),
                Err(BillOutcome::Ambiguous {
                    detail: format!("40004 {ambiguous}: 说明"),
                })
            );
        }
        assert!(matches!(
            query_outcome(error("40006", Some("isv.insufficient-isv-permissions"))),
            Err(BillOutcome::Refused { code, .. }) if code == "isv.insufficient-isv-permissions"
        ));
        assert!(matches!(
            query_outcome(error("20000", Some("isp.unknow-error"))),
            Err(BillOutcome::Ambiguous { .. })
        ));
        assert_eq!(
            query_outcome(success(json!({"bill_download_url": "https://x/y"}))),
            Ok("https://x/y".into())
        );
        assert!(matches!(
            query_outcome(success(
                json!({"bill_file_code": "EMPTY_DATA_WITH_BILL_FILE"})
            )),
            Err(BillOutcome::Ambiguous { .. })
        ));
    }

    #[test]
    fn only_https_or_the_gateways_own_origin_is_fetched() {
        let gateway = "http://127.0.0.1:9000/alipay/gateway.do";
        assert!(fetchable("https://dwbillcenter.alipay.com/d?x=1", gateway));
        assert!(fetchable(
            "http://127.0.0.1:9000/alipay/bills/1.zip",
            gateway
        ));
        assert!(fetchable("HTTP://127.0.0.1:9000/x", gateway));
        assert!(!fetchable("http://127.0.0.1:9001/x", gateway));
        assert!(!fetchable("http://dwbillcenter.alipay.com/d?x=1", gateway));
        assert!(!fetchable(
            "http://dwbillcenter.alipay.com/d",
            "https://openapi.alipay.com/gateway.do"
        ));
        assert!(!fetchable("http://127.0.0.1:9000@evil.example/x", gateway));
        assert!(!fetchable("file:///etc/passwd", gateway));
        assert!(!fetchable("/relative", gateway));
    }
}
