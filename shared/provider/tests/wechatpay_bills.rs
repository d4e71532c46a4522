//! The WeChat Pay bills against a fake WeChat Pay that checks our
//! `Authorization` on the apply and on the download, signs its apply
//! answers with the platform key (or not, or with another key) and serves
//! the packed bill unsigned, as WeChat Pay does; then the requests we sign
//! against the `wechatpayv3` SDK's own `trade_bill`, `download_bill` and
//! `fundflow_bill`, and the packed file against Python's gzip and SHA-1.

mod common;

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use common::keys;
use common::sdk::{private_pem, public_pem};
use qrpay_domain::{BusinessDate, Provider, TestClock};
use qrpay_provider::bills::{BillGateway, BillKind, BillOutcome};
use qrpay_provider::gateway::{
    AnswerVerdict, Gateways, HttpRequest, HttpResponse, HttpTransport, TransportError,
};
use qrpay_provider::wechatpay::gateway::{WechatpayGateway, DOWNLOAD_HOST_REFUSED};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use sha1::{Digest, Sha1};
use sha2::Sha256;

const MCHID: &str = "1900000109";
const MCH_SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
const PLATFORM_SERIAL: &str = "PUB_KEY_ID_0114232134912410000000000000";
const BASE: &str = "http://127.0.0.1:9/sim/wechatpay";
const WECHAT: &str = "https://api.mch.weixin.qq.com";
const TRADE_URL: &str =
    "http://127.0.0.1:9/sim/wechatpay/v3/bill/tradebill?bill_date=2026-02-28&bill_type=ALL&tar_type=GZIP";
const FUND_URL: &str = "http://127.0.0.1:9/sim/wechatpay/v3/bill/fundflowbill?bill_date=2026-02-28&account_type=BASIC&tar_type=GZIP";
const FILE_URL: &str =
    "http://127.0.0.1:9/sim/wechatpay/v3/billdownload/file?token=6XIv5TUP&tartype=gzip";
/// A one-row ALL bill, as the format page shows one.
const BILL: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\n\
`2026-02-28 17:07:11,`wxd678efh567hg6787,`1900000109,`0,`,`4200000925202602284997714292,`ord_01JQ0000000000000000000000,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,`SUCCESS,`OTHERS,`CNY,`88.88,`0.00,`0,`0,`0.00,`0.00,`,`,`茶叶 500g,`,`0.53000,`0.60%,`88.88,`0.00,`\n\
总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n\
`1,`88.88,`0.00,`0.00,`0.53000,`88.88,`0.00\n";

fn merchant_key() -> &'static RsaPrivateKey {
    &keys().current
}

fn platform_key() -> &'static RsaPrivateKey {
    &keys().previous
}

fn now() -> DateTime<Utc> {
    common::now()
}

fn day() -> BusinessDate {
    BusinessDate::parse("2026-02-28").unwrap()
}

/// One answer of the fake, in order.
enum Step {
    /// An apply answer signed by the platform key.
    Apply(u16, String),
    /// The same without signature headers.
    Unsigned(u16, String),
    /// Signed by a key that is not the platform's.
    ForgedBy(u16, String),
    /// The download's unsigned answer.
    File(u16, Vec<u8>),
    Timeout,
}

struct Fake {
    script: Mutex<VecDeque<Step>>,
    /// Each request's method, URL, Authorization and whether it verifies.
    seen: Mutex<Vec<(http::Method, String, String, bool)>>,
}

impl Fake {
    fn new(script: Vec<Step>) -> Arc<Fake> {
        Arc::new(Fake {
            script: Mutex::new(script.into()),
            seen: Mutex::new(Vec::new()),
        })
    }

    /// The URLs asked, each with whether its signature verified.
    fn urls(&self) -> Vec<(String, bool)> {
        let seen = self.seen.lock().unwrap();
        seen.iter().map(|s| (s.1.clone(), s.3)).collect()
    }
}

fn header(request: &HttpRequest, name: &str) -> Option<String> {
    request
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

/// A field of `Authorization`.
fn auth_field(auth: &str, name: &str) -> Option<String> {
    auth.trim_start_matches("WECHATPAY2-SHA256-RSA2048 ")
        .split(',')
        .find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == name).then(|| v.trim_matches('"').to_owned())
        })
}

/// WeChat Pay's check: the merchant key over `METHOD\nPATH?QUERY\nTS\nNONCE\n\n`.
fn authorization_valid(request: &HttpRequest) -> bool {
    let Some(auth) = header(request, "Authorization") else {
        return false;
    };
    let field = |name: &str| auth_field(&auth, name);
    let (Some(mchid), Some(nonce), Some(ts), Some(sig), Some(serial)) = (
        field("mchid"),
        field("nonce_str"),
        field("timestamp"),
        field("signature"),
        field("serial_no"),
    ) else {
        return false;
    };
    let path = format!("/{}", request.url.splitn(4, '/').nth(3).unwrap_or_default());
    let message = format!("{}\n{path}\n{ts}\n{nonce}\n\n", request.method);
    let key = VerifyingKey::<Sha256>::new(RsaPublicKey::from(merchant_key()));
    let Some(signature) = STANDARD
        .decode(sig)
        .ok()
        .and_then(|b| Signature::try_from(b.as_slice()).ok())
    else {
        return false;
    };
    mchid == MCHID
        && serial == MCH_SERIAL
        && request.body.is_empty()
        && key.verify(message.as_bytes(), &signature).is_ok()
}

fn signed(status: u16, body: &str, key: &RsaPrivateKey) -> HttpResponse {
    let ts = now().timestamp().to_string();
    let nonce = "593BEC0C930BF1AFEB40B4A08C8FB242";
    let message = format!("{ts}\n{nonce}\n{body}\n");
    let signature = SigningKey::<Sha256>::new(key.clone()).sign(message.as_bytes());
    HttpResponse {
        status,
        headers: vec![
            ("Wechatpay-Timestamp".into(), ts),
            ("Wechatpay-Nonce".into(), nonce.into()),
            (
                "Wechatpay-Signature".into(),
                STANDARD.encode(signature.to_bytes()),
            ),
            ("Wechatpay-Serial".into(), PLATFORM_SERIAL.into()),
            (
                "Wechatpay-Signature-Type".into(),
                "WECHATPAY2-SHA256-RSA2048".into(),
            ),
            ("Content-Type".into(), "application/json".into()),
        ],
        body: body.as_bytes().to_vec(),
    }
}

#[async_trait]
impl HttpTransport for Fake {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let valid = authorization_valid(&request);
        let auth = header(&request, "Authorization").unwrap_or_default();
        self.seen
            .lock()
            .unwrap()
            .push((request.method.clone(), request.url.clone(), auth, valid));
        let next = self.script.lock().unwrap().pop_front();
        match next.expect("the fake was asked more than its script") {
            _ if !valid => Ok(signed(
                401,
                r#"{"code":"SIGN_ERROR","message":"签名错误"}"#,
                platform_key(),
            )),
            Step::Apply(status, body) => Ok(signed(status, &body, platform_key())),
            Step::Unsigned(status, body) => Ok(HttpResponse {
                status,
                headers: Vec::new(),
                body: body.into_bytes(),
            }),
            Step::ForgedBy(status, body) => Ok(signed(status, &body, &keys().stranger)),
            Step::File(status, body) => Ok(HttpResponse {
                status,
                headers: vec![("Content-Type".into(), "application/octet-stream".into())],
                body,
            }),
            Step::Timeout => Err(TransportError::Timeout(Duration::from_secs(8))),
        }
    }
}

fn env_at(base: &'static str) -> impl Fn(&str) -> Option<String> {
    move |name: &str| {
        let value = match name {
            "WECHATPAY_MCHID" => MCHID.to_owned(),
            "WECHATPAY_APPID" => "wxd678efh567hg6787".to_owned(),
            "WECHATPAY_MCH_SERIAL" => MCH_SERIAL.to_owned(),
            "WECHATPAY_MCH_PRIVATE_KEY" => private_pem(merchant_key()),
            "WECHATPAY_PLATFORM_SERIAL" => PLATFORM_SERIAL.to_owned(),
            "WECHATPAY_PLATFORM_PUBLIC_KEY" => public_pem(&RsaPublicKey::from(platform_key())),
            "WECHATPAY_BASE_URL" => base.to_owned(),
            "QRPAY_CALLBACK_BASE_URL" => "https://pay.example.com/".to_owned(),
            _ => return None,
        };
        Some(value)
    }
}

fn gateway_at(fake: &Arc<Fake>, base: &'static str) -> WechatpayGateway {
    WechatpayGateway::from_env(&env_at(base), fake.clone(), Arc::new(TestClock::at(now())))
        .unwrap()
        .expect("configured")
}

fn gateway(fake: &Arc<Fake>) -> WechatpayGateway {
    gateway_at(fake, BASE)
}

/// A fresh directory of this test binary for one test.
fn scratch(test: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("qrpay-wechat-bills-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn sha1_hex(bytes: &[u8]) -> String {
    hex::encode(Sha1::digest(bytes))
}

fn address(url: &str, hash: &str) -> String {
    json!({"download_url": url, "hash_type": "SHA1", "hash_value": hash}).to_string()
}

/// The apply answer and the download of `BILL`.
fn bill_steps(url: &str) -> Vec<Step> {
    vec![
        Step::Apply(200, address(url, &sha1_hex(BILL.as_bytes()))),
        Step::File(200, gzip(BILL.as_bytes())),
    ]
}

async fn fetch(gw: &WechatpayGateway, kind: BillKind, dest: &Path) -> BillOutcome {
    gw.fetch_bill(day(), kind, dest).await
}

#[tokio::test]
async fn the_trade_bill_is_applied_for_signed_downloaded_signed_and_stored_unpacked() {
    let fake = Fake::new(bill_steps(FILE_URL));
    let dir = scratch("trade");
    let dest = dir.join("wechatpay.csv");
    let outcome = fetch(&gateway(&fake), BillKind::Trade, &dest).await;
    assert_eq!(
        outcome,
        BillOutcome::Stored {
            bytes: BILL.len() as u64
        }
    );
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), BILL);
    assert_eq!(
        fake.urls(),
        vec![(TRADE_URL.to_owned(), true), (FILE_URL.to_owned(), true)]
    );
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(left.len(), 1, "only the bill is left, not its packed file");
}

#[tokio::test]
async fn the_fund_flow_bill_asks_for_the_basic_account() {
    let fake = Fake::new(bill_steps(FILE_URL));
    let dest = scratch("fund").join("wechatpay-fundflow.csv");
    let gw = gateway(&fake);
    assert_eq!(gw.bill_kinds(), &[BillKind::Trade, BillKind::FundFlow]);
    assert_eq!(BillGateway::provider(&gw), Provider::Wechatpay);
    let outcome = fetch(&gw, BillKind::FundFlow, &dest).await;
    assert_eq!(
        outcome,
        BillOutcome::Stored {
            bytes: BILL.len() as u64
        }
    );
    assert_eq!(fake.urls()[0], (FUND_URL.to_owned(), true));
}

#[tokio::test]
async fn apply_answers_map_code_by_code() {
    let error = |code: &str| format!(r#"{{"code":"{code}","message":"…"}}"#);
    let cases = vec![
        (
            Step::Apply(400, error("STATEMENT_CREATING")),
            BillOutcome::NotYet {
                detail: "STATEMENT_CREATING: WeChat Pay is still making the bill".into(),
            },
        ),
        (
            Step::Apply(400, error("NO_STATEMENT_EXIST")),
            BillOutcome::NoBill {
                detail: "NO_STATEMENT_EXIST: no collection or refund on the account that day"
                    .into(),
            },
        ),
        (
            Step::Apply(400, error("PARAM_ERROR")),
            BillOutcome::Refused {
                code: "PARAM_ERROR".into(),
                message: "WeChat Pay refused the bill request (HTTP 400)".into(),
            },
        ),
        (
            Step::Apply(400, error("INVALID_REQUEST")),
            BillOutcome::Refused {
                code: "INVALID_REQUEST".into(),
                message: "WeChat Pay refused the bill request (HTTP 400)".into(),
            },
        ),
        (
            Step::Apply(429, error("RATELIMIT_EXCEED")),
            BillOutcome::Ambiguous {
                detail: "HTTP 429 RATELIMIT_EXCEED".into(),
            },
        ),
        (
            Step::Apply(500, error("SYSTEM_ERROR")),
            BillOutcome::Ambiguous {
                detail: "HTTP 500".into(),
            },
        ),
        (
            Step::Timeout,
            BillOutcome::Ambiguous {
                detail: "no answer within 8s".into(),
            },
        ),
        (
            Step::Apply(400, "<html>".into()),
            BillOutcome::Ambiguous {
                detail: "HTTP 400 without an error code".into(),
            },
        ),
    ];
    let dest = scratch("codes").join("wechatpay.csv");
    for (step, want) in cases {
        let fake = Fake::new(vec![step]);
        let outcome = fetch(&gateway(&fake), BillKind::Trade, &dest).await;
        assert_eq!(outcome, want);
        assert_eq!(fake.urls().len(), 1, "nothing is downloaded: {want:?}");
        assert!(!outcome.key_mismatch());
    }
}

#[tokio::test]
async fn only_a_signed_readable_address_is_followed() {
    let dest = scratch("trust").join("wechatpay.csv");
    let good = address(FILE_URL, &sha1_hex(BILL.as_bytes()));
    let fake = Fake::new(vec![Step::ForgedBy(200, good.clone())]);
    let forged = fetch(&gateway(&fake), BillKind::Trade, &dest).await;
    assert!(forged.key_mismatch(), "{forged:?}");
    assert!(forged.worth_asking_again());
    let fake = Fake::new(vec![Step::Unsigned(200, good)]);
    let unsigned = fetch(&gateway(&fake), BillKind::Trade, &dest).await;
    assert!(
        matches!(&unsigned, BillOutcome::Ambiguous { detail } if detail.contains("not trusted"))
    );
    assert!(!unsigned.key_mismatch());
    let unreadable = [
        r#"{"download_url":"x"}"#.to_owned(),
        json!({"download_url": FILE_URL, "hash_type": "SHA256", "hash_value": "ab"}).to_string(),
        address(FILE_URL, "not-a-digest"),
    ];
    for body in unreadable {
        let fake = Fake::new(vec![Step::Apply(200, body.clone())]);
        let outcome = fetch(&gateway(&fake), BillKind::Trade, &dest).await;
        assert!(
            matches!(outcome, BillOutcome::Ambiguous { .. }),
            "{body}: {outcome:?}"
        );
        assert_eq!(fake.urls().len(), 1);
    }
}

#[tokio::test]
async fn a_download_url_on_another_host_is_refused_and_never_asked() {
    let dest = scratch("host").join("wechatpay.csv");
    let hash = sha1_hex(BILL.as_bytes());
    for url in [
        "https://evil.example.com/v3/billdownload/file?token=x",
        "http://api.mch.weixin.qq.com/v3/billdownload/file?token=x",
        "https://127.0.0.1:9/sim/wechatpay/v3/billdownload/file?token=x",
        "http://127.0.0.1:10/v3/billdownload/file?token=x",
        "/v3/billdownload/file?token=x",
    ] {
        let fake = Fake::new(vec![Step::Apply(200, address(url, &hash))]);
        let outcome = fetch(&gateway(&fake), BillKind::Trade, &dest).await;
        assert!(
            matches!(&outcome, BillOutcome::Refused { code, .. } if code == DOWNLOAD_HOST_REFUSED),
            "{url}: {outcome:?}"
        );
        assert!(!outcome.worth_asking_again());
        assert_eq!(fake.urls().len(), 1, "{url} was not asked");
    }
    // WeChat Pay's own host is followed whatever the base URL.
    let wechat = "https://API.mch.weixin.qq.com/v3/billdownload/file?token=y";
    let fake = Fake::new(bill_steps(wechat));
    let outcome = fetch(&gateway(&fake), BillKind::Trade, &dest).await;
    assert_eq!(
        outcome,
        BillOutcome::Stored {
            bytes: BILL.len() as u64
        }
    );
    assert_eq!(fake.urls()[1], (wechat.to_owned(), true));
}

#[tokio::test]
async fn the_file_must_unpack_to_the_signed_digest() {
    let dest = scratch("digest").join("wechatpay.csv");
    let packed = gzip(BILL.as_bytes());
    let cases = vec![
        // The digest of the packed file, not of the bill.
        (sha1_hex(&packed), Step::File(200, packed.clone()), false),
        (sha1_hex(b"other"), Step::File(200, packed.clone()), false),
        // Not gzip.
        (
            sha1_hex(BILL.as_bytes()),
            Step::File(200, BILL.as_bytes().to_vec()),
            false,
        ),
        // An expired link: unsigned, so ambiguous, never a refusal.
        (
            sha1_hex(BILL.as_bytes()),
            Step::File(
                400,
                r#"{"code":"INVALID_REQUEST","message":"下载链接过期"}"#
                    .as_bytes()
                    .to_vec(),
            ),
            false,
        ),
        (sha1_hex(BILL.as_bytes()), Step::Timeout, false),
        // Upper-case hex is the same digest.
        (
            sha1_hex(BILL.as_bytes()).to_uppercase(),
            Step::File(200, packed),
            true,
        ),
    ];
    for (hash, download, stored) in cases {
        let fake = Fake::new(vec![Step::Apply(200, address(FILE_URL, &hash)), download]);
        let outcome = fetch(&gateway(&fake), BillKind::Trade, &dest).await;
        if stored {
            assert_eq!(
                outcome,
                BillOutcome::Stored {
                    bytes: BILL.len() as u64
                }
            );
        } else {
            assert!(
                matches!(outcome, BillOutcome::Ambiguous { .. }),
                "{hash}: {outcome:?}"
            );
        }
    }
    let fake = Fake::new(vec![
        Step::Apply(200, address(FILE_URL, &sha1_hex(BILL.as_bytes()))),
        Step::File(400, br#"{"code":"INVALID_REQUEST","message":"x"}"#.to_vec()),
    ]);
    assert_eq!(
        fetch(&gateway(&fake), BillKind::Trade, &dest).await,
        BillOutcome::Ambiguous {
            detail: "bill download answered HTTP 400: INVALID_REQUEST".into()
        }
    );
}

#[tokio::test]
async fn a_bill_over_the_limit_packed_or_unpacked_is_not_kept() {
    let dest = scratch("limit").join("wechatpay.csv");
    let big = "x".repeat(4096);
    let limit = 1024;
    // Packed over the limit: the transport stops it.
    let noise: Vec<u8> = (0..2048u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let fake = Fake::new(vec![
        Step::Apply(200, address(FILE_URL, &sha1_hex(&noise))),
        Step::File(200, gzip(&noise)),
    ]);
    let gw = gateway(&fake).with_max_bill_bytes(limit);
    let outcome = fetch(&gw, BillKind::Trade, &dest).await;
    assert!(
        matches!(&outcome, BillOutcome::Ambiguous { detail } if detail.contains("is over 1024")),
        "{outcome:?}"
    );
    // Small packed, over the limit unpacked.
    let packed = gzip(big.as_bytes());
    assert!(packed.len() < 1024);
    let fake = Fake::new(vec![
        Step::Apply(200, address(FILE_URL, &sha1_hex(big.as_bytes()))),
        Step::File(200, packed),
    ]);
    let gw = gateway(&fake).with_max_bill_bytes(limit);
    assert_eq!(
        fetch(&gw, BillKind::Trade, &dest).await,
        BillOutcome::Ambiguous {
            detail: "the unpacked bill is over 1024 bytes".into()
        }
    );
    // Exactly the limit is kept.
    let exact = "y".repeat(1024);
    let fake = Fake::new(vec![
        Step::Apply(200, address(FILE_URL, &sha1_hex(exact.as_bytes()))),
        Step::File(200, gzip(exact.as_bytes())),
    ]);
    let gw = gateway(&fake).with_max_bill_bytes(limit);
    assert_eq!(
        fetch(&gw, BillKind::Trade, &dest).await,
        BillOutcome::Stored { bytes: 1024 }
    );
}

#[test]
fn every_merchant_offers_its_bills() {
    let fake = Fake::new(vec![]);
    let mut gateways = Gateways::default();
    Arc::new(gateway(&fake)).register(&mut gateways);
    let bills = gateways.bill(Provider::Wechatpay).expect("registered");
    assert_eq!(bills.bill_kinds(), &[BillKind::Trade, BillKind::FundFlow]);
}

/// Python's gzip and SHA-1 pack the bill and name its digest; the adapter
/// stores exactly the text and accepts the digest.
#[tokio::test]
async fn a_bill_packed_by_python_is_unpacked_to_its_digest() {
    let file = common::sdk::run("wechatpay.py", json!({"op": "bill_file", "text": BILL}));
    let packed = STANDARD.decode(file["gzip_b64"].as_str().unwrap()).unwrap();
    let digest = file["sha1"].as_str().unwrap().to_owned();
    assert_eq!(digest, sha1_hex(BILL.as_bytes()));
    let fake = Fake::new(vec![
        Step::Apply(200, address(FILE_URL, &digest)),
        Step::File(200, packed),
    ]);
    let dest = scratch("python").join("wechatpay.csv");
    assert_eq!(
        fetch(&gateway(&fake), BillKind::Trade, &dest).await,
        BillOutcome::Stored {
            bytes: BILL.len() as u64
        }
    );
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), BILL);
}

/// The SDK, at the same time and with the same nonces, asks for the trade
/// bill, downloads it and asks for the fund-flow bill: the same URLs and
/// byte-identical `Authorization`s as ours. It verifies the same answers.
#[tokio::test]
async fn the_sdk_makes_our_bill_requests_exactly() {
    let download = format!(
        "{WECHAT}/v3/billdownload/file?token=6XIv5TUPto7pByrTQKhd6kwvyKLG2uY2&tartype=gzip"
    );
    let apply = address(&download, &sha1_hex(BILL.as_bytes()));
    let fake = Fake::new(vec![
        Step::Apply(200, apply.clone()),
        Step::File(200, gzip(BILL.as_bytes())),
        Step::Apply(200, apply.clone()),
        Step::File(200, gzip(BILL.as_bytes())),
    ]);
    let gw = gateway_at(&fake, WECHAT);
    let dir = scratch("sdk");
    assert!(matches!(
        fetch(&gw, BillKind::Trade, &dir.join("t.csv")).await,
        BillOutcome::Stored { .. }
    ));
    assert!(matches!(
        fetch(&gw, BillKind::FundFlow, &dir.join("f.csv")).await,
        BillOutcome::Stored { .. }
    ));
    let ours: Vec<(String, String)> = fake
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| (s.1.clone(), s.2.clone()))
        .collect();
    let nonce = |i: usize| auth_field(&ours[i].1, "nonce_str").unwrap();
    let answer = |r: HttpResponse| {
        let headers: serde_json::Map<String, Value> = r
            .headers
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        json!({"status": r.status, "headers": headers, "body": String::from_utf8(r.body).unwrap()})
    };
    let theirs = common::sdk::run(
        "wechatpay.py",
        json!({
            "op": "bills",
            "private_key": private_pem(merchant_key()),
            "mchid": MCHID,
            "serial": MCH_SERIAL,
            "public_key": public_pem(&RsaPublicKey::from(platform_key())),
            "public_key_id": PLATFORM_SERIAL,
            "bill_date": "2026-02-28",
            "timestamp": now().timestamp(),
            "nonces": [nonce(0), nonce(1), nonce(2)],
            "answers": [
                answer(signed(200, &apply, platform_key())),
                {"status": 200, "headers": {"Content-Type": "application/octet-stream"},
                 "body_b64": STANDARD.encode(gzip(BILL.as_bytes()))},
                answer(signed(200, &apply, platform_key())),
            ],
        }),
    );
    let requests = theirs["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 3);
    for (i, ours) in [&ours[0], &ours[1], &ours[2]].into_iter().enumerate() {
        assert_eq!(requests[i]["url"].as_str().unwrap(), ours.0, "request {i}");
        assert_eq!(
            requests[i]["authorization"].as_str().unwrap(),
            ours.1,
            "request {i}"
        );
    }
    assert_eq!(theirs["trade"]["download_url"], json!(download));
    assert_eq!(theirs["unpacked"], json!(BILL));
    assert_eq!(theirs["sha1"], json!(sha1_hex(BILL.as_bytes())));
}
