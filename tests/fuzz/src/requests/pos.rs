//! POS devices' signed requests through the qr-issue function: the
//! `X-Qrpay-*` headers, the query and the body (`POST
//! /devices/{device}/qr-codes`). Inputs are framed as header lines, a blank
//! line, then the body; most are mutated and signed again with the device's
//! secret, so the body parser behind the signature is reached too.

use std::sync::Arc;

use lambda_http::http::{HeaderName, HeaderValue, Uri};
use qr_issue::device::{sign, Signed};
use qr_issue::page::BuyerSettings;
use qr_issue::{handle, App, MemoryPublisher};
use qrpay_domain::checkout::CheckoutLimits;
use qrpay_domain::{Device, DeviceId, Secret, TestClock};
use qrpay_provider::gateway::Gateways;
use qrpay_store::alerts::MemoryAlerts;
use qrpay_store::keyring::{DeviceKeyring, LocalKeyring};
use qrpay_store::Store;
use qrpay_tests::events::Event;
use qrpay_tests::world::morning;
use qrpay_tests::World;
use serde_json::{json, Value};
use tokio::runtime::Runtime;

use super::{api_refusal, error_of};
use crate::mutate::{self, Shape};
use crate::rng::Rng;
use crate::{Outcome, Target};

const SECRET: &str = "pos-1-fuzz-secret-0123456789";
const PATH: &str = "/devices/pos-1/qr-codes";

pub struct Pos {
    runtime: Runtime,
    app: App,
    event: Value,
    samples: Vec<Vec<u8>>,
    /// What a device signs: device, timestamp, nonce, query and body.
    payloads: Vec<Vec<u8>>,
}

/// A request as header lines (`name: value`; `?query` for the query), a
/// blank line, then the body.
fn frame(headers: &[(&str, String)], query: &str, body: &str) -> Vec<u8> {
    let mut out = String::new();
    for (name, value) in headers {
        out += &format!("{name}: {value}\n");
    }
    out += &format!("?{query}\n\n{body}");
    out.into_bytes()
}

fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// Signs a payload `{"device", "timestamp", "nonce", "query", "body"}`.
fn seal(payload: &[u8]) -> Option<Vec<u8>> {
    let doc: Value = serde_json::from_slice(payload).ok()?;
    let [device, timestamp, nonce, query, body] =
        ["device", "timestamp", "nonce", "query", "body"].map(|k| text(doc.get(k)));
    let head = Signed {
        method: "POST",
        path: PATH,
        query: &query,
        timestamp: timestamp.parse().unwrap_or(0),
        nonce: &nonce,
    };
    let signature = sign(SECRET.as_bytes(), head, body.as_bytes());
    let headers = [
        ("x-qrpay-device", device),
        ("x-qrpay-timestamp", timestamp),
        ("x-qrpay-nonce", nonce),
        ("x-qrpay-signature", signature),
    ];
    Some(frame(&headers, &query, &body))
}

fn nonce(rng: &mut Rng) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
    (0..24).map(|_| char::from(*rng.pick(ALPHABET))).collect()
}

impl Pos {
    pub fn new() -> Pos {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let app = runtime.block_on(app());
        let at = morning().timestamp().to_string();
        let bodies = [
            json!({"kind": "dynamic", "amount": "42.50", "out_order_no": "TILL-7-0042"}),
            json!({"kind": "static"}),
            json!({"kind": "dynamic", "amount": "30.00", "out_order_no": "TILL-7-0043", "description": "收银台 7"}),
        ];
        let payloads: Vec<Vec<u8>> = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| {
                json!({"device": "pos-1", "timestamp": at, "nonce": format!("sample-nonce-{i}"),
                       "query": if i == 0 { "" } else { "via=till" }, "body": body.to_string()})
                .to_string()
                .into_bytes()
            })
            .collect();
        let samples = payloads.iter().filter_map(|p| seal(p)).collect();
        Pos {
            runtime,
            app,
            event: Event::fixture("qr-issue/pos-create-qr.json").json().clone(),
            samples,
            payloads,
        }
    }

    /// The request API Gateway would hand over; `None` when no HTTP request
    /// could carry the input (a header or query the runtime cannot load).
    fn request(&self, input: &[u8]) -> Option<lambda_http::Request> {
        let text = String::from_utf8_lossy(input);
        let (head, body) = text.split_once("\n\n").unwrap_or(("", &text));
        let mut event = self.event.clone();
        event["headers"] = json!({"content-type": "application/json"});
        event["rawQueryString"] = json!("");
        for line in head.lines() {
            if let Some(query) = line.strip_prefix('?') {
                // lambda_http panics building a request whose query is not
                // valid in a URI (its `expect`, before any code of ours):
                // such a query is not sent on.
                if format!("{PATH}?{query}").parse::<Uri>().is_err() {
                    return None;
                }
                event["rawQueryString"] = json!(query);
            } else if let Some((name, value)) = line.split_once(": ") {
                let valid = HeaderName::from_bytes(name.as_bytes()).is_ok()
                    && HeaderValue::from_str(value).is_ok();
                if valid {
                    event["headers"][name.to_ascii_lowercase()] = json!(value);
                }
            }
        }
        event["body"] = json!(body);
        lambda_http::request::from_str(&event.to_string()).ok()
    }
}

impl Default for Pos {
    fn default() -> Self {
        Pos::new()
    }
}

/// shop-1 with the POS device `pos-1`, on the memory store.
pub(super) async fn app() -> App {
    let store: Arc<dyn Store> = qrpay_tests::memory_port().await;
    let world = World::new(store.clone(), "15000.00", "0.00").await;
    let device_keys = Arc::new(LocalKeyring::new(&Secret::new([7u8; 32])));
    let pos_1 = DeviceId::parse("pos-1").expect("a device id");
    let device = Device {
        secret: device_keys
            .seal(&pos_1, &Secret::new(SECRET.into()))
            .await
            .expect("the device secret is sealed"),
        device_id: pos_1,
        shop_id: world.shop.clone(),
        updated_at: morning(),
    };
    store
        .put_device(&device)
        .await
        .expect("the device is stored");
    App {
        shops: store.clone(),
        collection: store.clone(),
        payouts: store.clone(),
        leases: store.clone(),
        clock: Arc::new(TestClock::at(morning())),
        token_secrets: vec![Secret::new("fuzz-token-secret".into())].into(),
        device_keys,
        pay_base_url: "https://pay.qrpay.example".into(),
        publisher: Arc::new(MemoryPublisher::new()),
        alerts: Arc::new(MemoryAlerts::new()),
        checkout_limits: CheckoutLimits::DEFAULT,
        gateways: Gateways::default(),
        buyer: BuyerSettings {
            sandbox: true,
            wechat_h5: false,
        },
    }
}

impl Target for Pos {
    fn name(&self) -> &'static str {
        "POS request (headers, query, body)"
    }

    fn samples(&self) -> &[Vec<u8>] {
        &self.samples
    }

    fn input(&self, rng: &mut Rng) -> Vec<u8> {
        if rng.below(4) < 3 {
            let mut payload = mutate::input(rng, &self.payloads, Shape::Json, 1024);
            // A fresh nonce most of the time, so a replay is not all it meets.
            if rng.below(4) > 0 {
                if let Ok(Value::Object(mut doc)) = serde_json::from_slice::<Value>(&payload) {
                    doc.insert("nonce".into(), json!(nonce(rng)));
                    payload = Value::Object(doc).to_string().into_bytes();
                }
            }
            if let Some(framed) = seal(&payload) {
                return framed;
            }
        }
        mutate::input(rng, &self.samples, Shape::Bytes, 1024)
    }

    fn run(&self, input: &[u8]) -> Outcome {
        let Some(request) = self.request(input) else {
            return Outcome::Refused;
        };
        let response = self.runtime.block_on(handle(&self.app, request));
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Outcome::Accepted;
        }
        let (code, message) = error_of(response.body());
        api_refusal(status, &code, &message)
    }
}
