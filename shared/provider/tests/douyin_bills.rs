//! Douyin's trade bill through the adapter, against a fake ecpay behind
//! `HttpTransport`: the two signed GETs (payment, then refund table), the
//! file they make, when it is not asked yet, and every error answer.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use qrpay_domain::{BusinessDate, Provider, Secret, TestClock};
use qrpay_provider::bills::{BillGateway, BillKind, BillOutcome};
use qrpay_provider::douyin::gateway::{ecpay_sign, DouyinGateway};
use qrpay_provider::gateway::{Gateways, HttpRequest, HttpResponse, HttpTransport, TransportError};

const APP_ID: &str = "tt07e3715e98c9aac0";
const SALT: &str = "your_payment_salt";
const SELLER: &str = "70012345";
const BASE_URL: &str = "https://developer.toutiao.com/api/apps/ecpay/v1";
const BILL_URL: &str = "https://developer.toutiao.com/api/apps/bill";
const PAYMENTS: &str = "序号,支付时间,商户号,openId,订单号,平台订单号,渠道订单号,订单金额,支付方式,支付状态\n1,2026-02-28 10:00:00,70012345,,ord_1,N701,,30000,,SUCCESS";
const REFUNDS: &str = "序号,退款时间,商户号,openId,订单号,渠道订单号,订单金额,支付方式,退款类型,退款单号,平台退款单号,退款状态,退款完成时间,退款金额\n";

fn date() -> BusinessDate {
    BusinessDate::parse("2026-02-28").unwrap()
}

/// 2026-03-01 02:00 in Beijing: two hours after the day ended.
fn published() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T02:00:00+08:00")
        .unwrap()
        .to_utc()
}

enum Step {
    Body(u16, &'static str),
    Timeout,
}

#[derive(Default)]
struct FakeEcpay {
    steps: Mutex<VecDeque<Step>>,
    /// Each GET's query, decoded.
    sent: Mutex<Vec<(String, BTreeMap<String, String>)>>,
}

impl FakeEcpay {
    fn then(&self, step: Step) {
        self.steps.lock().unwrap().push_back(step);
    }

    fn sent(&self) -> Vec<(String, BTreeMap<String, String>)> {
        self.sent.lock().unwrap().clone()
    }
}

#[async_trait]
impl HttpTransport for FakeEcpay {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        assert_eq!(request.method, http::Method::GET);
        assert!(request.body.is_empty());
        let (path, query) = request.url.split_once('?').expect("a query");
        let params: BTreeMap<String, String> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        self.sent.lock().unwrap().push((path.to_owned(), params));
        match self.steps.lock().unwrap().pop_front().expect("a step") {
            Step::Body(status, body) => Ok(HttpResponse {
                status,
                headers: Vec::new(),
                body: body.as_bytes().to_vec(),
            }),
            Step::Timeout => Err(TransportError::Timeout(Duration::from_secs(10))),
        }
    }
}

struct Harness {
    gateway: Arc<DouyinGateway>,
    fake: Arc<FakeEcpay>,
    clock: Arc<TestClock>,
    dir: tempfile::TempDir,
}

impl Harness {
    fn with(seller: Option<&str>) -> Harness {
        let mut env = BTreeMap::from([
            ("DOUYIN_APP_ID", APP_ID.to_owned()),
            ("DOUYIN_SALT", SALT.to_owned()),
            ("DOUYIN_BASE_URL", BASE_URL.to_owned()),
        ]);
        if let Some(seller) = seller {
            env.insert("DOUYIN_MERCHANT_ID", seller.to_owned());
        }
        let fake = Arc::new(FakeEcpay::default());
        let clock = Arc::new(TestClock::at(published()));
        let transport: Arc<dyn HttpTransport> = fake.clone();
        let gateway = DouyinGateway::from_env(&|n| env.get(n).cloned(), transport, clock.clone())
            .unwrap()
            .unwrap();
        Harness {
            gateway: Arc::new(gateway),
            fake,
            clock,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn new() -> Harness {
        Harness::with(Some(SELLER))
    }

    fn dest(&self) -> std::path::PathBuf {
        self.dir.path().join("douyin.csv")
    }

    async fn fetch(&self) -> BillOutcome {
        self.gateway
            .fetch_bill(date(), BillKind::Trade, &self.dest())
            .await
    }

    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

#[tokio::test]
async fn the_payment_and_refund_tables_make_one_file() {
    let h = Harness::new();
    h.fake.then(Step::Body(200, PAYMENTS));
    h.fake.then(Step::Body(200, REFUNDS));
    let expected = format!("{PAYMENTS}\n{REFUNDS}");
    assert_eq!(
        h.fetch().await,
        BillOutcome::Stored {
            bytes: expected.len() as u64
        }
    );
    assert_eq!(std::fs::read_to_string(h.dest()).unwrap(), expected);
    assert_eq!(h.files(), ["douyin.csv"]);
    let sent = h.fake.sent();
    assert_eq!(sent.len(), 2);
    for ((path, params), bill_type) in sent.iter().zip(["payment", "refund"]) {
        assert_eq!(path, BILL_URL);
        let keys: Vec<&str> = params.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "app_id",
                "bill_type",
                "end_date",
                "seller",
                "sign",
                "start_date"
            ]
        );
        assert_eq!(params["app_id"], APP_ID);
        assert_eq!(params["bill_type"], bill_type);
        assert_eq!(params["start_date"], "20260228");
        assert_eq!(params["end_date"], "20260228");
        assert_eq!(params["seller"], SELLER);
        // ecpay's sign: the sorted values but app_id's, with the salt.
        let expected_sign = ecpay_sign(
            params
                .iter()
                .filter(|(k, _)| k.as_str() != "sign")
                .map(|(k, v)| (k.as_str(), v.as_str())),
            &Secret::new(SALT.to_owned()),
        );
        assert_eq!(params["sign"], expected_sign);
    }
    // The same rule by hand for the payment request.
    let by_hand = {
        use md5::{Digest, Md5};
        let mut values = ["20260228", "20260228", SELLER, "payment", SALT];
        values.sort_unstable();
        hex::encode(Md5::digest(values.join("&").as_bytes()))
    };
    assert_eq!(sent[0].1["sign"], by_hand);
}

#[tokio::test]
async fn an_empty_table_becomes_its_column_line() {
    let h = Harness::new();
    h.fake.then(Step::Body(200, ""));
    h.fake.then(Step::Body(200, " \n"));
    let expected = "序号,支付时间,商户号,openId,订单号,平台订单号,渠道订单号,订单金额,支付方式,支付状态\n序号,退款时间,商户号,openId,订单号,渠道订单号,订单金额,支付方式,退款类型,退款单号,平台退款单号,退款状态,退款完成时间,退款金额\n";
    assert_eq!(
        h.fetch().await,
        BillOutcome::Stored {
            bytes: expected.len() as u64
        }
    );
    assert_eq!(std::fs::read_to_string(h.dest()).unwrap(), expected);
}

#[tokio::test]
async fn the_day_is_not_asked_for_before_it_is_published() {
    let h = Harness::new();
    h.clock.set(published() - chrono::Duration::milliseconds(1));
    assert!(matches!(h.fetch().await, BillOutcome::NotYet { .. }));
    assert!(h.fake.sent().is_empty());
}

#[tokio::test]
async fn error_answers_and_failures_have_their_outcomes() {
    let ok = Step::Body(200, PAYMENTS);
    let cases: Vec<(Vec<Step>, BillOutcome)> = vec![
        (
            vec![Step::Body(
                200,
                r#"{"err_no":1,"err_tips":"end_date is before start_date"}"#,
            )],
            BillOutcome::Refused {
                code: "1".into(),
                message: "err_no 1: end_date is before start_date".into(),
            },
        ),
        (
            vec![
                ok,
                Step::Body(200, r#" {"err_no":-1,"err_tips":"系统错误"}"#),
            ],
            BillOutcome::Ambiguous {
                detail: "err_no -1: 系统错误".into(),
            },
        ),
        (
            vec![Step::Body(200, r#"{"err_no":2,"err_tips":"x"}"#)],
            BillOutcome::Ambiguous {
                detail: "err_no 2: x".into(),
            },
        ),
        (
            vec![Step::Body(200, r#"{"data":[]}"#)],
            BillOutcome::Ambiguous {
                detail: "a JSON answer that is no bill and has no err_no".into(),
            },
        ),
        (
            vec![Step::Body(502, "bad gateway")],
            BillOutcome::Ambiguous {
                detail: "Douyin's payment bill answered HTTP 502".into(),
            },
        ),
        (
            vec![Step::Body(200, PAYMENTS), Step::Timeout],
            BillOutcome::Ambiguous {
                detail: "Douyin's refund bill: no answer within 10s".into(),
            },
        ),
    ];
    for (steps, expected) in cases {
        let h = Harness::new();
        let asked = steps.len();
        for step in steps {
            h.fake.then(step);
        }
        assert_eq!(h.fetch().await, expected);
        assert_eq!(h.fake.sent().len(), asked);
        assert_eq!(h.files(), Vec::<String>::new(), "no part left behind");
    }
}

#[tokio::test]
async fn bills_are_offered_when_the_merchant_is_configured() {
    let mut gateways = Gateways::default();
    Harness::with(None).gateway.register(&mut gateways);
    assert!(gateways.bill(Provider::Douyin).is_none());
    assert!(gateways.collection(Provider::Douyin).is_some());
    let h = Harness::new();
    h.gateway.clone().register(&mut gateways);
    let bills = gateways.bill(Provider::Douyin).expect("registered");
    assert_eq!(bills.bill_kinds(), [BillKind::Trade]);
    assert_eq!(
        bills
            .fetch_bill(date(), BillKind::FundFlow, &h.dest())
            .await,
        BillOutcome::Refused {
            code: "KIND_NOT_OFFERED".into(),
            message: "Douyin publishes no fundflow bill".into()
        }
    );
    let bad = DouyinGateway::from_env(
        &|n| {
            BTreeMap::from([
                ("DOUYIN_APP_ID", APP_ID),
                ("DOUYIN_SALT", SALT),
                ("DOUYIN_MERCHANT_ID", "has space"),
            ])
            .get(n)
            .map(|v| v.to_string())
        },
        Arc::new(FakeEcpay::default()),
        Arc::new(TestClock::at(published())),
    );
    assert!(bad.is_err());
}
