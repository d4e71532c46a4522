//! The buyer's checkout body (`POST /pay/{token}`, qr-issue): a form
//! (`amount`, `method`) or a JSON object, read before the code is looked
//! up. A body the reader lets through meets the code lookup (the token names
//! no code here), so "accepted" means the body passed its reader.

use lambda_http::http::{HeaderName, HeaderValue};
use qr_issue::{handle, App};
use serde_json::{json, Value};
use tokio::runtime::Runtime;

use super::{api_refusal, error_of};
use crate::mutate::{self, Shape};
use crate::rng::Rng;
use crate::{Outcome, Target};

/// What the body reader answers with; any other refusal came after it.
const BODY_CODES: [&str; 2] = ["INVALID_REQUEST", "PAYLOAD_TOO_LARGE"];

pub struct Checkout {
    runtime: Runtime,
    app: App,
    event: Value,
    samples: Vec<Vec<u8>>,
}

impl Checkout {
    pub fn new() -> Checkout {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let app = runtime.block_on(super::pos::app());
        let form = "content-type: application/x-www-form-urlencoded\n\n";
        let json = "content-type: application/json\n\n";
        let samples = [
            format!("{form}amount=12.30&method=sandbox"),
            format!("{form}method=alipay_wap"),
            format!("{json}{{\"amount\":\"25.00\",\"method\":\"wechatpay_h5\"}}"),
            json.to_owned(),
        ];
        Checkout {
            runtime,
            app,
            event: qrpay_tests::events::Event::fixture("qr-issue/pay-checkout.json")
                .json()
                .clone(),
            samples: samples.iter().map(|s| s.as_bytes().to_vec()).collect(),
        }
    }
}

impl Default for Checkout {
    fn default() -> Self {
        Checkout::new()
    }
}

impl Target for Checkout {
    fn name(&self) -> &'static str {
        "buyer checkout body"
    }

    fn samples(&self) -> &[Vec<u8>] {
        &self.samples
    }

    fn input(&self, rng: &mut Rng) -> Vec<u8> {
        let shape = Shape::Delimited {
            line_sep: b'&',
            cell_sep: b'=',
        };
        mutate::input(rng, &self.samples, shape, 1024)
    }

    fn run(&self, input: &[u8]) -> Outcome {
        let text = String::from_utf8_lossy(input);
        let (head, body) = text.split_once("\n\n").unwrap_or(("", &text));
        let mut event = self.event.clone();
        event["headers"] = json!({});
        for line in head.lines() {
            let Some((name, value)) = line.split_once(": ") else {
                continue;
            };
            if HeaderName::from_bytes(name.as_bytes()).is_ok()
                && HeaderValue::from_str(value).is_ok()
            {
                event["headers"][name.to_ascii_lowercase()] = json!(value);
            }
        }
        event["body"] = json!(body);
        let Ok(request) = lambda_http::request::from_str(&event.to_string()) else {
            return Outcome::Refused;
        };
        let response = self.runtime.block_on(handle(&self.app, request));
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Outcome::Accepted;
        }
        let (code, message) = error_of(response.body());
        match api_refusal(status, &code, &message) {
            Outcome::Refused if !BODY_CODES.contains(&code.as_str()) => Outcome::Accepted,
            outcome => outcome,
        }
    }
}
