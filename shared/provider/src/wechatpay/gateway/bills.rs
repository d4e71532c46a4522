//! Daily bills: 申请交易账单 `GET /v3/bill/tradebill` and 申请资金账单
//! `GET /v3/bill/fundflowbill`, then a signed `GET` of the answer's
//! `download_url`.
//! https://pay.weixin.qq.com/docs/merchant/apis/jsapi-payment/get-trade-bill.html ,
//! https://pay.weixin.qq.com/docs/merchant/apis/bill-download/get-fund-bill.html ,
//! https://pay.weixin.qq.com/doc/v3/merchant/4012084430 (download).
//!
//! The apply answer is signed and verified like every other. The download's
//! answer is not signed ("该接口响应的信息请求头中不包含微信接口响应的签名
//! 值，因此需要跳过验签的流程"): the file is trusted through the signed
//! apply answer instead — its `hash_value`, the SHA-1 of the bill after
//! gunzip ("原始账单（gzip需要解压缩）的摘要值"), must match the unpacked
//! file, and its `download_url` is followed only on WeChat Pay's own host
//! (`api.mch.weixin.qq.com`) or the configured base URL's. A signed answer
//! naming any other host is refused rather than followed: our signed
//! request would go to a host we do not know, and asking again would name
//! it again.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use qrpay_domain::{BusinessDate, Provider};
use serde::Deserialize;
use sha1::{Digest, Sha1};

use super::codes::{bill_error, BillError};
use super::{unreadable, Reply, WechatpayGateway};
use crate::bills::{BillGateway, BillKind, BillOutcome};
use crate::gateway::HttpRequest;

/// WeChat Pay's own host: where its `download_url`s point.
const WECHAT_HOST: &str = "api.mch.weixin.qq.com";
/// The code of a refused `download_url` (ours, not WeChat's).
pub const DOWNLOAD_HOST_REFUSED: &str = "DOWNLOAD_HOST_NOT_ALLOWED";
const KINDS: [BillKind; 2] = [BillKind::Trade, BillKind::FundFlow];
/// How much of a refused download's body is read for its code.
const ERROR_BODY_BYTES: u64 = 4096;

/// The apply answer: where the file is and its digest.
#[derive(Deserialize)]
struct BillAddress {
    download_url: String,
    hash_type: String,
    hash_value: String,
}

/// The request path of `kind` for `date`: every bill of the day (`ALL`:
/// collections and refunds), the basic account's movements, gzip-packed.
pub fn bill_path(date: BusinessDate, kind: BillKind) -> String {
    match kind {
        BillKind::Trade => {
            format!("/v3/bill/tradebill?bill_date={date}&bill_type=ALL&tar_type=GZIP")
        }
        BillKind::FundFlow => {
            format!("/v3/bill/fundflowbill?bill_date={date}&account_type=BASIC&tar_type=GZIP")
        }
    }
}

#[async_trait]
impl BillGateway for WechatpayGateway {
    fn provider(&self) -> Provider {
        Provider::Wechatpay
    }

    fn bill_kinds(&self) -> &'static [BillKind] {
        &KINDS
    }

    async fn fetch_bill(&self, date: BusinessDate, kind: BillKind, dest: &Path) -> BillOutcome {
        let path = bill_path(date, kind);
        let address = match self.call(http::Method::GET, &path, None, false).await {
            Reply::Done(bytes) => match serde_json::from_slice::<BillAddress>(&bytes) {
                Ok(address) => address,
                Err(e) => {
                    return BillOutcome::Ambiguous {
                        detail: unreadable("bill", &e),
                    }
                }
            },
            Reply::Refused { status, code } => return refusal(status, code),
            Reply::Unclear(detail) => return BillOutcome::Ambiguous { detail },
        };
        if address.hash_type != "SHA1"
            || address.hash_value.len() != 40
            || !address.hash_value.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return BillOutcome::Ambiguous {
                detail: format!(
                    "bill answer with hash_type {:?} and a hash_value that is not 40 hex digits",
                    address.hash_type
                ),
            };
        }
        let canonical = match self.download_path(&address.download_url) {
            Ok(canonical) => canonical,
            Err(outcome) => return outcome,
        };
        let packed = packed_sibling(dest);
        let outcome = self
            .download(&address, &canonical, &packed, dest)
            .await
            .unwrap_or_else(|detail| BillOutcome::Ambiguous { detail });
        // Best effort: the packed file is a temporary; a leftover is
        // replaced by the next fetch of the same bill.
        let _ = std::fs::remove_file(&packed);
        outcome
    }
}

fn refusal(status: u16, code: String) -> BillOutcome {
    match bill_error(status, &code) {
        BillError::NotYet => BillOutcome::NotYet {
            detail: format!("{code}: WeChat Pay is still making the bill"),
        },
        BillError::NoBill => BillOutcome::NoBill {
            detail: format!("{code}: no collection or refund on the account that day"),
        },
        BillError::Refused => BillOutcome::Refused {
            message: format!("WeChat Pay refused the bill request (HTTP {status})"),
            code,
        },
        BillError::Ambiguous => BillOutcome::Ambiguous {
            detail: format!("HTTP {status} {code}"),
        },
    }
}

/// `.{name}.gz.part` beside `dest`: the packed file while it downloads.
fn packed_sibling(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bill".to_owned());
    dest.with_file_name(format!(".{name}.gz.part"))
}

impl WechatpayGateway {
    /// The path and query to sign for `url`, when it is on WeChat Pay's
    /// host (https) or on the configured base URL's scheme and host; else
    /// the refusal.
    fn download_path(&self, url: &str) -> Result<String, BillOutcome> {
        let refused = |why: &str| BillOutcome::Refused {
            code: DOWNLOAD_HOST_REFUSED.to_owned(),
            message: format!("download_url {why}: not followed"),
        };
        let uri = http::Uri::try_from(url).map_err(|_| refused("is not a URL"))?;
        let base = http::Uri::try_from(self.config.base_url.as_str()).ok();
        let (Some(scheme), Some(authority), Some(path)) =
            (uri.scheme_str(), uri.authority(), uri.path_and_query())
        else {
            return Err(refused("is not an absolute URL"));
        };
        let on_wechat = scheme == "https" && authority.as_str().eq_ignore_ascii_case(WECHAT_HOST);
        let on_base = base.as_ref().is_some_and(|b| {
            b.scheme_str() == Some(scheme)
                && b.authority()
                    .is_some_and(|a| a.as_str().eq_ignore_ascii_case(authority.as_str()))
        });
        if !(on_wechat || on_base) {
            return Err(refused(&format!(
                "is on {authority}, neither {WECHAT_HOST} nor the configured base URL's host"
            )));
        }
        Ok(path.as_str().to_owned())
    }

    /// Downloads the packed bill into `packed`, unpacks it into `dest` and
    /// checks its digest. `Err` is an ambiguous outcome's detail.
    async fn download(
        &self,
        address: &BillAddress,
        canonical: &str,
        packed: &Path,
        dest: &Path,
    ) -> Result<BillOutcome, String> {
        let request = HttpRequest {
            method: http::Method::GET,
            url: address.download_url.clone(),
            headers: self.signed_headers(&http::Method::GET, canonical, &[]),
            body: Vec::new(),
        };
        let answer = self
            .transport
            .download(request, packed, self.max_bill_bytes)
            .await
            .map_err(|e| format!("bill download: {e}"))?;
        if !(200..=299).contains(&answer.status) {
            // Unsigned, like every download answer: not to be trusted as a
            // refusal. An expired link (400 INVALID_REQUEST) needs a new apply.
            return Err(format!(
                "bill download answered HTTP {}: {}",
                answer.status,
                error_code(packed)
            ));
        }
        let (packed, dest, limit) = (packed.to_owned(), dest.to_owned(), self.max_bill_bytes);
        let (bytes, digest) = tokio::task::spawn_blocking(move || unpack(&packed, &dest, limit))
            .await
            .map_err(|e| format!("bill unpack stopped: {e}"))??;
        if !digest.eq_ignore_ascii_case(&address.hash_value) {
            return Err(format!(
                "the unpacked bill's SHA-1 {digest} is not the hash_value {}",
                address.hash_value
            ));
        }
        Ok(BillOutcome::Stored { bytes })
    }
}

/// The `code` of a download's error body, if it has one.
fn error_code(packed: &Path) -> String {
    let mut body = Vec::new();
    let read = File::open(packed).and_then(|f| f.take(ERROR_BODY_BYTES).read_to_end(&mut body));
    #[derive(Deserialize)]
    struct ErrorBody {
        code: String,
    }
    match (read, serde_json::from_slice::<ErrorBody>(&body)) {
        (Ok(_), Ok(e)) => e.code,
        _ => "no error code".to_owned(),
    }
}

/// Gunzips `packed` into `dest` (at most `limit` bytes), returning the
/// unpacked size and its SHA-1 in lowercase hex.
fn unpack(packed: &Path, dest: &Path, limit: u64) -> Result<(u64, String), String> {
    let source = File::open(packed).map_err(|e| format!("packed bill unreadable: {e}"))?;
    let mut gz = flate2::read::GzDecoder::new(std::io::BufReader::new(source)).take(limit + 1);
    let file = File::create(dest).map_err(|e| format!("bill not written: {e}"))?;
    let mut out = BufWriter::new(file);
    let mut hasher = Sha1::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut total: u64 = 0;
    loop {
        let n = gz
            .read(&mut buffer)
            .map_err(|e| format!("bill is not a gzip file: {e}"))?;
        if n == 0 {
            break;
        }
        total = total.saturating_add(n as u64);
        if total > limit {
            return Err(format!("the unpacked bill is over {limit} bytes"));
        }
        hasher.update(&buffer[..n]);
        out.write_all(&buffer[..n])
            .map_err(|e| format!("bill not written: {e}"))?;
    }
    out.flush().map_err(|e| format!("bill not written: {e}"))?;
    Ok((total, hex::encode(hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_requests_name_the_day_the_whole_bill_and_gzip() {
        let date = BusinessDate::parse("2026-03-01").unwrap();
        assert_eq!(
            bill_path(date, BillKind::Trade),
            "/v3/bill/tradebill?bill_date=2026-03-01&bill_type=ALL&tar_type=GZIP"
        );
        assert_eq!(
            bill_path(date, BillKind::FundFlow),
            "/v3/bill/fundflowbill?bill_date=2026-03-01&account_type=BASIC&tar_type=GZIP"
        );
    }

    #[test]
    fn the_packed_file_sits_beside_the_bill() {
        assert_eq!(
            packed_sibling(Path::new("/tmp/x/wechatpay.csv")),
            PathBuf::from("/tmp/x/.wechatpay.csv.gz.part")
        );
    }
}
