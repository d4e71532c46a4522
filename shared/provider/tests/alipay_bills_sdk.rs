//! The bill query's wire format proved against python-alipay-sdk (pinned in
//! `infra/conformance.sh`; its 3.4.0 has no helper for
//! `alipay.data.dataservice.bill.downloadurl.query`, so its generic signing
//! and answer verification are used): the SDK signs our exact request the
//! same, our adapter believes an answer the SDK signed, and the SDK believes
//! the answer Alipay's signer (the simulator's) makes.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::DateTime;
use common::keys;
use common::sdk::{private_pem, public_pem};
use encoding_rs::GBK;
use qrpay_domain::{BusinessDate, TestClock};
use qrpay_provider::alipay::gateway::{stored_zip, AlipayGateway, BILL_QUERY};
use qrpay_provider::alipay::AlipaySigner;
use qrpay_provider::bills::{BillGateway, BillKind, BillOutcome};
use qrpay_provider::gateway::{HttpRequest, HttpResponse, HttpTransport, TransportError};
use serde_json::{json, Value};

const APP_ID: &str = "2021000117600001";
const RESPONSE_KEY: &str = "alipay_data_dataservice_bill_downloadurl_query_response";
/// As Alipay writes it: slashes escaped.
const INNER: &str = r#"{"code":"10000","msg":"Success","bill_download_url":"https:\/\/dwbillcenter.alipay.com\/downloadBillFile.resource?bizType=trade&fileType=csv.zip&bizDates=20260228"}"#;

fn sdk(case: Value) -> Value {
    common::sdk::run("alipay.py", case)
}

fn with(mut case: Value, fields: Value) -> Value {
    let object = case.as_object_mut().unwrap();
    for (k, v) in fields.as_object().unwrap() {
        object.insert(k.clone(), v.clone());
    }
    case
}

/// The SDK as the app (app key signs, Alipay's key verifies) or as Alipay.
fn as_app(op: &str) -> Value {
    json!({"op": op, "app_id": APP_ID, "private_key": private_pem(&keys().current),
        "public_key": public_pem(&keys().previous.to_public_key())})
}

fn as_alipay(op: &str) -> Value {
    json!({"op": op, "app_id": APP_ID, "private_key": private_pem(&keys().previous),
        "public_key": public_pem(&keys().current.to_public_key())})
}

/// Answers the query with `raw` and the download with a bill archive;
/// keeps the query's form.
struct Canned {
    raw: String,
    form: Mutex<BTreeMap<String, String>>,
}

#[async_trait]
impl HttpTransport for Canned {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let body = if request.method == http::Method::POST {
            *self.form.lock().unwrap() =
                form_urlencoded::parse(&request.body).into_owned().collect();
            self.raw.clone().into_bytes()
        } else {
            let name = GBK.encode("20880211_20260228_业务明细.csv").0.into_owned();
            stored_zip(&[(&name, b"rows")])
        };
        Ok(HttpResponse {
            status: 200,
            headers: Vec::new(),
            body,
        })
    }
}

#[tokio::test]
async fn the_sdk_signs_our_query_the_same_and_we_believe_the_answer_it_signs() {
    let raw = sdk(with(
        as_alipay("sign_answer"),
        json!({"response_key": RESPONSE_KEY, "inner": INNER}),
    ))["raw"]
        .as_str()
        .unwrap()
        .to_owned();
    let transport = Arc::new(Canned {
        raw,
        form: Mutex::default(),
    });
    let env = BTreeMap::from([
        ("ALIPAY_APP_ID", APP_ID.to_owned()),
        ("ALIPAY_APP_PRIVATE_KEY", private_pem(&keys().current)),
        (
            "ALIPAY_PUBLIC_KEY",
            public_pem(&keys().previous.to_public_key()),
        ),
    ]);
    let now = DateTime::parse_from_rfc3339("2026-03-01T02:00:05Z")
        .unwrap()
        .to_utc();
    let gateway = AlipayGateway::from_env(
        &|n| env.get(n).cloned(),
        transport.clone(),
        Arc::new(TestClock::at(now)),
    )
    .unwrap()
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("alipay.csv");
    let date = BusinessDate::parse("2026-02-28").unwrap();
    assert_eq!(
        gateway.fetch_bill(date, BillKind::Trade, &dest).await,
        BillOutcome::Stored { bytes: 4 }
    );
    let mut params = transport.form.lock().unwrap().clone();
    assert_eq!(params["method"], BILL_QUERY);
    let ours = params.remove("sign").unwrap();
    let theirs = sdk(with(as_app("sign_data"), json!({ "params": params })));
    assert_eq!(ours, theirs["sign"].as_str().unwrap());
}

#[test]
fn the_sdk_believes_the_answer_alipays_signer_makes() {
    let signer = AlipaySigner::new(APP_ID, keys().previous.clone()).unwrap();
    let raw = signer.sign_answer(BILL_QUERY, INNER, None);
    let verified = sdk(with(
        as_app("verify_answer"),
        json!({"raw": raw, "response_key": RESPONSE_KEY}),
    ));
    assert_eq!(verified["verified"], true, "{verified}");
    assert_eq!(
        verified["response"]["bill_download_url"],
        "https://dwbillcenter.alipay.com/downloadBillFile.resource?bizType=trade&fileType=csv.zip&bizDates=20260228"
    );
    let changed = raw.replacen("20260228", "20260227", 1);
    let refused = sdk(with(
        as_app("verify_answer"),
        json!({"raw": changed, "response_key": RESPONSE_KEY}),
    ));
    assert_eq!(refused["verified"], false, "{refused}");
}
