//! Alipay's trade bill through the adapter, against a fake Alipay behind
//! `HttpTransport`: the signed `alipay.data.dataservice.bill.downloadurl.query`
//! it sends, every answer's outcome, and the download of the ZIP (its
//! `…_业务明细.csv` entry written byte for byte; a bad archive, a failed
//! download or a URL we must not fetch never stored).

mod common;

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use common::keys;
use common::sdk::{private_pem, public_pem};
use encoding_rs::GBK;
use qrpay_domain::{BusinessDate, Provider, TestClock};
use qrpay_provider::alipay::gateway::{stored_zip, AlipayGateway};
use qrpay_provider::alipay::AlipaySigner;
use qrpay_provider::bills::{BillGateway, BillKind, BillOutcome};
use qrpay_provider::gateway::{
    AnswerVerdict, Gateways, HttpRequest, HttpResponse, HttpTransport, TransportError,
    ANSWER_KEY_MISMATCH,
};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use serde_json::{json, Value};
use sha2::Sha256;

const APP_ID: &str = "2021000117600001";
/// A plain-HTTP gateway (the local simulator's shape): its own origin may
/// serve the bill over HTTP, no other host may.
const GATEWAY_URL: &str = "http://127.0.0.1:9000/sim/alipay/gateway.do";
const METHOD: &str = "alipay.data.dataservice.bill.downloadurl.query";
const BILL_URL: &str = "https://dwbillcenter.alipay.com/downloadBillFile.resource?bizType=trade&fileType=csv.zip&bizDates=20260228&downloadFileName=20880211_20260228.csv.zip";

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T02:00:05Z")
        .unwrap()
        .to_utc()
}

fn date() -> BusinessDate {
    BusinessDate::parse("2026-02-28").unwrap()
}

/// What the fake does next.
enum Step {
    /// The query's inner answer, signed by Alipay (or by a stranger).
    Answer(Value),
    Forged(Value),
    Timeout,
    Status(u16),
    /// A GET of the bill: this status and body.
    File(u16, Vec<u8>),
    /// A GET whose body is over the caller's limit.
    Oversize,
}

#[derive(Default)]
struct State {
    steps: VecDeque<Step>,
    /// (method, url, form parameters when a POST).
    sent: Vec<(http::Method, String, BTreeMap<String, String>)>,
}

struct FakeAlipay {
    alipay: AlipaySigner,
    stranger: AlipaySigner,
    state: Mutex<State>,
}

impl FakeAlipay {
    fn then(&self, step: Step) {
        self.state.lock().unwrap().steps.push_back(step);
    }

    fn sent(&self) -> Vec<(http::Method, String, BTreeMap<String, String>)> {
        self.state.lock().unwrap().sent.clone()
    }

    fn next(&self, request: &HttpRequest) -> Step {
        let params: BTreeMap<String, String> = if request.method == http::Method::POST {
            form_urlencoded::parse(&request.body).into_owned().collect()
        } else {
            BTreeMap::new()
        };
        let mut state = self.state.lock().unwrap();
        state
            .sent
            .push((request.method.clone(), request.url.clone(), params));
        state.steps.pop_front().expect("a step for every request")
    }
}

fn response(status: u16, body: Vec<u8>) -> HttpResponse {
    HttpResponse {
        status,
        headers: Vec::new(),
        body,
    }
}

#[async_trait]
impl HttpTransport for FakeAlipay {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let signer = match self.next(&request) {
            Step::Answer(inner) => (self.alipay.clone(), inner),
            Step::Forged(inner) => (self.stranger.clone(), inner),
            Step::Timeout => return Err(TransportError::Timeout(Duration::from_secs(10))),
            Step::Status(status) => return Ok(response(status, b"busy".to_vec())),
            Step::File(status, body) => return Ok(response(status, body)),
            Step::Oversize => return Err(TransportError::Other("answer over 4 bytes".into())),
        };
        let (signer, inner) = signer;
        let body = signer.sign_answer(METHOD, &inner.to_string().replace('/', "\\/"), None);
        Ok(response(200, body.into_bytes()))
    }
}

/// Alipay's check of our request: RSA2 over every other parameter, sorted.
fn signed_by_the_app(params: &BTreeMap<String, String>) -> bool {
    let key = VerifyingKey::<Sha256>::new(keys().current.to_public_key());
    let content = params
        .iter()
        .filter(|(k, v)| k.as_str() != "sign" && !v.is_empty())
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let signature = STANDARD.decode(&params["sign"]).unwrap();
    key.verify(
        content.as_bytes(),
        &Signature::try_from(signature.as_slice()).unwrap(),
    )
    .is_ok()
}

struct Harness {
    gateway: Arc<AlipayGateway>,
    fake: Arc<FakeAlipay>,
    dir: tempfile::TempDir,
}

impl Harness {
    fn new() -> Harness {
        let env = BTreeMap::from([
            ("ALIPAY_APP_ID", APP_ID.to_owned()),
            ("ALIPAY_APP_PRIVATE_KEY", private_pem(&keys().current)),
            (
                "ALIPAY_PUBLIC_KEY",
                public_pem(&keys().previous.to_public_key()),
            ),
            ("ALIPAY_GATEWAY_URL", GATEWAY_URL.to_owned()),
        ]);
        let fake = Arc::new(FakeAlipay {
            alipay: AlipaySigner::new(APP_ID, keys().previous.clone()).unwrap(),
            stranger: AlipaySigner::new(APP_ID, keys().stranger.clone()).unwrap(),
            state: Mutex::default(),
        });
        let transport: Arc<dyn HttpTransport> = fake.clone();
        let clock = Arc::new(TestClock::at(now()));
        let gateway = AlipayGateway::from_env(&|n| env.get(n).cloned(), transport, clock)
            .unwrap()
            .unwrap();
        Harness {
            gateway: Arc::new(gateway),
            fake,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn dest(&self) -> std::path::PathBuf {
        self.dir.path().join("alipay.csv")
    }

    async fn fetch(&self) -> BillOutcome {
        self.gateway
            .fetch_bill(date(), BillKind::Trade, &self.dest())
            .await
    }

    /// The files left in the directory: never the downloaded ZIP.
    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

fn ok(fields: Value) -> Value {
    let mut answer = json!({"code": "10000", "msg": "Success"});
    answer
        .as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    answer
}

fn failed(code: &str, sub_code: &str) -> Value {
    json!({"code": code, "msg": "Business Failed", "sub_code": sub_code, "sub_msg": "说明"})
}

fn gbk(text: &str) -> Vec<u8> {
    GBK.encode(text).0.into_owned()
}

/// Alipay's archive: the detail and the summary, names in GBK.
fn archive(detail: &[u8]) -> Vec<u8> {
    let summary = gbk("#支付宝业务汇总查询\n");
    stored_zip(&[
        (&gbk("20880211_20260228_业务明细(汇总).csv"), &summary),
        (&gbk("20880211_20260228_业务明细.csv"), detail),
    ])
}

#[tokio::test]
async fn the_bill_is_asked_for_signed_and_its_detail_stored_byte_for_byte() {
    let h = Harness::new();
    let detail = gbk("#支付宝业务明细查询\n#账号：[20880211]\n");
    h.fake
        .then(Step::Answer(ok(json!({"bill_download_url": BILL_URL}))));
    h.fake.then(Step::File(200, archive(&detail)));
    assert_eq!(
        h.fetch().await,
        BillOutcome::Stored {
            bytes: detail.len() as u64
        }
    );
    assert_eq!(std::fs::read(h.dest()).unwrap(), detail);
    assert_eq!(h.files(), ["alipay.csv"]);
    let sent = h.fake.sent();
    assert_eq!(sent.len(), 2);
    let (method, url, params) = &sent[0];
    assert_eq!((method, url.as_str()), (&http::Method::POST, GATEWAY_URL));
    assert_eq!(params["method"], METHOD);
    assert_eq!(params["app_id"], APP_ID);
    assert_eq!(params["timestamp"], "2026-03-01 10:00:05");
    assert_eq!(
        params["biz_content"],
        r#"{"bill_date":"2026-02-28","bill_type":"trade","secure":"true"}"#
    );
    assert!(!params.contains_key("notify_url"));
    assert!(signed_by_the_app(params), "our sign verifies");
    assert_eq!(
        (&sent[1].0, sent[1].1.as_str()),
        (&http::Method::GET, BILL_URL)
    );
}

#[tokio::test]
async fn an_empty_day_with_its_file_is_stored() {
    let h = Harness::new();
    let detail = gbk("#支付宝业务明细查询\n#-----业务明细列表结束-----\n");
    h.fake.then(Step::Answer(ok(json!({
        "bill_download_url": "http://127.0.0.1:9000/sim/alipay/bills/1.zip",
        "bill_file_code": "EMPTY_DATA_WITH_BILL_FILE",
    }))));
    h.fake.then(Step::File(200, archive(&detail)));
    assert_eq!(
        h.fetch().await,
        BillOutcome::Stored {
            bytes: detail.len() as u64
        }
    );
    assert_eq!(std::fs::read(h.dest()).unwrap(), detail);
}

#[tokio::test]
async fn every_error_answer_has_its_outcome() {
    let detail = |code: &str, sub: &str| format!("{code} {sub}: 说明");
    let cases = [
        (
            failed("40004", "isp.bill_not_exist"),
            BillOutcome::NotYet {
                detail: detail("40004", "isp.bill_not_exist"),
            },
        ),
        (
            failed("40004", "BILL_NOT_EXIST"),
            BillOutcome::NotYet {
                detail: detail("40004", "BILL_NOT_EXIST"),
            },
        ),
        (
            failed("40004", "NO_BILL_DATA"),
            BillOutcome::NoBill {
                detail: detail("40004", "NO_BILL_DATA"),
            },
        ),
        (
            failed("40004", "invalid_arguments"),
            BillOutcome::Refused {
                code: "invalid_arguments".into(),
                message: detail("40004", "invalid_arguments"),
            },
        ),
        (
            failed("40004", "BILL_DATE_BEFORE_REGISTRATION"),
            BillOutcome::Refused {
                code: "BILL_DATE_BEFORE_REGISTRATION".into(),
                message: detail("40004", "BILL_DATE_BEFORE_REGISTRATION"),
            },
        ),
        (
            failed("40004", "SYSTEM_RATE_LIMIT"),
            BillOutcome::Ambiguous {
                detail: detail("40004", "SYSTEM_RATE_LIMIT"),
            },
        ),
        (
            failed("40004", "USER_RATE_LIMIT"),
            BillOutcome::Ambiguous {
                detail: detail("40004", "USER_RATE_LIMIT"),
            },
        ),
        (
            failed("20000", "isp.unknow-error"),
            BillOutcome::Ambiguous {
                detail: detail("20000", "isp.unknow-error"),
            },
        ),
        (
            failed("40006", "isv.insufficient-isv-permissions"),
            BillOutcome::Refused {
                code: "isv.insufficient-isv-permissions".into(),
                message: detail("40006", "isv.insufficient-isv-permissions"),
            },
        ),
        (
            ok(json!({})),
            BillOutcome::Ambiguous {
                detail: "code 10000 without bill_download_url".into(),
            },
        ),
    ];
    for (answer, expected) in cases {
        let h = Harness::new();
        h.fake.then(Step::Answer(answer.clone()));
        assert_eq!(h.fetch().await, expected, "{answer}");
        assert_eq!(h.fake.sent().len(), 1, "nothing downloaded");
        assert_eq!(h.files(), Vec::<String>::new());
    }
}

#[tokio::test]
async fn an_answer_we_cannot_trust_is_ambiguous() {
    let h = Harness::new();
    h.fake
        .then(Step::Forged(ok(json!({"bill_download_url": BILL_URL}))));
    let forged = h.fetch().await;
    assert!(
        matches!(&forged, BillOutcome::Ambiguous { detail } if detail.starts_with(ANSWER_KEY_MISMATCH)),
        "{forged:?}"
    );
    assert!(forged.key_mismatch());
    h.fake.then(Step::Timeout);
    assert_eq!(
        h.fetch().await,
        BillOutcome::Ambiguous {
            detail: "no answer from Alipay: no answer within 10s".into()
        }
    );
    h.fake.then(Step::Status(502));
    assert_eq!(
        h.fetch().await,
        BillOutcome::Ambiguous {
            detail: "Alipay answered HTTP 502".into()
        }
    );
    assert_eq!(h.fake.sent().len(), 3, "no download");
}

#[tokio::test]
async fn a_url_we_must_not_fetch_unsigned_is_refused_and_not_fetched() {
    for url in [
        "http://dwbillcenter.alipay.com/downloadBillFile.resource?x=1",
        "http://127.0.0.1:9001/sim/alipay/bills/1.zip",
        "ftp://dwbillcenter.alipay.com/1.zip",
    ] {
        let h = Harness::new();
        h.fake
            .then(Step::Answer(ok(json!({"bill_download_url": url}))));
        assert_eq!(
            h.fetch().await,
            BillOutcome::Refused {
                code: "INSECURE_BILL_URL".into(),
                message: "bill_download_url is neither https nor on the configured gateway".into()
            },
            "{url}"
        );
        assert_eq!(h.fake.sent().len(), 1, "{url} was not fetched");
    }
}

#[tokio::test]
async fn a_download_that_fails_or_an_archive_that_is_bad_is_ambiguous() {
    let detail_name = gbk("20880211_20260228_业务明细.csv");
    let mut corrupt = stored_zip(&[(&detail_name, b"0123456789")]);
    corrupt[30 + detail_name.len() + 2] ^= 1;
    let cases: [(Step, &str); 6] = [
        (
            Step::File(404, b"gone".to_vec()),
            "the bill download answered HTTP 404",
        ),
        (
            Step::Oversize,
            "the bill download failed: transport error: answer over 4 bytes",
        ),
        (
            Step::Timeout,
            "the bill download failed: no answer within 10s",
        ),
        (
            Step::File(200, b"<html>expired</html>".to_vec()),
            "the bill archive is not a readable ZIP: ",
        ),
        (
            Step::File(200, stored_zip(&[(&gbk("x_业务明细(汇总).csv"), b"s")])),
            "the bill archive has no …_业务明细.csv entry",
        ),
        (Step::File(200, corrupt), "the bill could not be unpacked: "),
    ];
    for (step, expected) in cases {
        let h = Harness::new();
        h.fake
            .then(Step::Answer(ok(json!({"bill_download_url": BILL_URL}))));
        h.fake.then(step);
        let outcome = h.fetch().await;
        assert!(
            matches!(&outcome, BillOutcome::Ambiguous { detail } if detail.starts_with(expected)),
            "{outcome:?} / {expected}"
        );
        assert!(outcome.worth_asking_again());
        assert!(
            !h.files().iter().any(|f| f.ends_with(".zip")),
            "{:?}",
            h.files()
        );
    }
}

#[tokio::test]
async fn alipay_offers_its_trade_bill_only() {
    let h = Harness::new();
    let mut gateways = Gateways::default();
    h.gateway.clone().register(&mut gateways);
    let bills = gateways.bill(Provider::Alipay).expect("registered");
    assert_eq!(bills.bill_kinds(), [BillKind::Trade]);
    assert_eq!(bills.provider(), Provider::Alipay);
    let outcome = bills
        .fetch_bill(date(), BillKind::FundFlow, Path::new("/nonexistent/x"))
        .await;
    assert_eq!(
        outcome,
        BillOutcome::Refused {
            code: "KIND_NOT_OFFERED".into(),
            message: "Alipay publishes no fundflow bill".into()
        }
    );
    assert!(h.fake.sent().is_empty());
}
