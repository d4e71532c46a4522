//! What API clients send: JSON request bodies and the amounts in them,
//! the JWT claims API Gateway's authorizer hands over, and POS devices'
//! signed requests through the qr-issue function (headers, query and body).

use lambda_http::{Body, Request};
use qrpay_domain::money_text::{parse_yuan, Sign};
use qrpay_domain::{Amount, Money};
use qrpay_http::{principal, ApiError, ErrorCode, Fields};
use serde_json::{json, Map, Value};

use crate::mutate::{self, Shape};
use crate::rng::Rng;
use crate::{clear, clear_error, Outcome, Target};

pub mod checkout;
mod pos;

/// Largest body the functions read (`qr-issue`, `payout-request`).
const MAX_BODY_BYTES: usize = 16 * 1024;

/// A refusal from our routes: a 4xx, one of our codes or a domain
/// refusal's code, and a clear message.
pub fn api_refusal(status: u16, code: &str, message: &str) -> Outcome {
    if !(400..500).contains(&status) {
        return Outcome::Unclear(format!("status {status} ({code}: {message})"));
    }
    let known = ErrorCode::parse(code).is_some()
        || (!code.is_empty() && code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'));
    if !known {
        return Outcome::Unclear(format!("code {code:?} for {message:?}"));
    }
    clear(code, message)
}

fn api_error(e: &ApiError) -> Outcome {
    api_refusal(e.status.as_u16(), e.code, &e.message)
}

/// A body read the way the handlers read theirs: only known fields, each
/// typed (strings bounded, amounts, sums, bounded integers, a nested object).
fn read_body(bytes: &[u8]) -> Result<(), ApiError> {
    let fields = Fields::from_bytes(bytes, MAX_BODY_BYTES)?;
    fields.only(&[
        "order_id",
        "amount",
        "reason",
        "daily_cap",
        "advance_s",
        "enabled",
        "payer",
    ])?;
    fields.required_str("order_id", 64)?;
    fields.amount("amount")?;
    fields.optional_str("reason", 200)?;
    fields.optional_money("daily_cap")?;
    fields.optional_i64("advance_s", 0..=86_400)?;
    if fields.value("enabled").is_some() {
        fields.bool("enabled")?;
    }
    if let Some(payer) = fields.object("payer")? {
        payer.only(&["name", "phone"])?;
        payer.optional_str("name", 64)?;
        payer.optional_str("phone", 32)?;
    }
    Ok(())
}

pub struct Bodies {
    samples: Vec<Vec<u8>>,
}

impl Target for Bodies {
    fn name(&self) -> &'static str {
        "JSON request body"
    }

    fn samples(&self) -> &[Vec<u8>] {
        &self.samples
    }

    fn input(&self, rng: &mut Rng) -> Vec<u8> {
        mutate::input(rng, &self.samples, Shape::Json, 1024)
    }

    fn run(&self, input: &[u8]) -> Outcome {
        match read_body(input) {
            Ok(()) => Outcome::Accepted,
            Err(e) => api_error(&e),
        }
    }
}

fn bodies() -> Bodies {
    let samples = [
        json!({"order_id": "ord_1", "amount": "12.30"}),
        json!({"order_id": "ord_01JQ0000000000000000000000", "amount": "99999999.99",
               "reason": "顾客退货", "daily_cap": "0.00", "advance_s": 86400, "enabled": false,
               "payer": {"name": "张三", "phone": "13800138000"}}),
        json!({"order_id": "o", "amount": "0.01", "reason": null, "payer": {}}),
    ];
    Bodies {
        samples: samples.iter().map(|v| v.to_string().into_bytes()).collect(),
    }
}

/// Amount text: `Amount` (positive), `Money` (non-negative) and statement
/// yuan text, signed and unsigned. An accepted amount reads back the same.
pub struct Amounts {
    samples: Vec<Vec<u8>>,
}

impl Target for Amounts {
    fn name(&self) -> &'static str {
        "amount text"
    }

    fn samples(&self) -> &[Vec<u8>] {
        &self.samples
    }

    fn input(&self, rng: &mut Rng) -> Vec<u8> {
        mutate::input(rng, &self.samples, Shape::Bytes, 40)
    }

    fn run(&self, input: &[u8]) -> Outcome {
        let text = String::from_utf8_lossy(input);
        let others = [
            Money::parse(&text).err().map(|e| clear_error(&e)),
            parse_yuan(&text, Sign::Signed)
                .err()
                .map(|e| clear_error(&e)),
            parse_yuan(&text, Sign::Unsigned)
                .err()
                .map(|e| clear_error(&e)),
        ];
        if let Some(unclear) = others
            .into_iter()
            .flatten()
            .find(|o| *o != Outcome::Refused)
        {
            return unclear;
        }
        match Amount::parse(&text) {
            Ok(amount) if Amount::parse(&amount.to_string()) == Ok(amount) => Outcome::Accepted,
            Ok(amount) => Outcome::Unclear(format!(
                "{text:?} read as {amount}, which reads back differently"
            )),
            Err(e) => clear_error(&e),
        }
    }
}

fn amounts() -> Amounts {
    let samples = ["12.30", "0.01", "1", "99999999.99", "5.5", "100.00"];
    Amounts {
        samples: samples.iter().map(|s| s.as_bytes().to_vec()).collect(),
    }
}

/// The JWT claims API Gateway's authorizer passes on: a JSON object of
/// claims (every value a string, as API Gateway gives them) and `scopes`.
pub struct Claims {
    samples: Vec<Vec<u8>>,
    event: Value,
}

impl Claims {
    fn request(&self, input: &[u8]) -> Request {
        let mut claims = Map::new();
        let mut scopes = Value::Null;
        match serde_json::from_slice::<Value>(input) {
            Ok(Value::Object(map)) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("scopes", Value::Array(items)) => {
                            let texts = items.iter().map(|s| Value::String(text(s))).collect();
                            scopes = Value::Array(texts);
                        }
                        (_, v) => {
                            claims.insert(k, Value::String(text(&v)));
                        }
                    }
                }
            }
            _ => {
                claims.insert("sub".into(), String::from_utf8_lossy(input).into());
            }
        }
        let mut event = self.event.clone();
        event["requestContext"]["authorizer"] =
            json!({"jwt": {"claims": claims, "scopes": scopes}});
        lambda_http::request::from_str(&event.to_string()).expect("claims of strings always load")
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Target for Claims {
    fn name(&self) -> &'static str {
        "JWT claims"
    }

    fn samples(&self) -> &[Vec<u8>] {
        &self.samples
    }

    fn input(&self, rng: &mut Rng) -> Vec<u8> {
        mutate::input(rng, &self.samples, Shape::Json, 512)
    }

    fn run(&self, input: &[u8]) -> Outcome {
        let request = self.request(input);
        match principal(&request) {
            Ok(_) => Outcome::Accepted,
            Err(e) => api_error(&e),
        }
    }
}

fn claims() -> Claims {
    let samples = [
        json!({"sub": "op-1", "shop_id": "shop-1", "role": "owner", "exp": "4102444800"}),
        json!({"sub": "op-2", "shop_id": "shop-1", "role": "staff"}),
        json!({"sub": "admin-1", "role": "admin", "scope": "openid qrpay:admin"}),
        json!({"sub": "admin-2", "role": "admin", "scopes": ["qrpay:admin"]}),
    ];
    let event = qrpay_tests::events::Event::fixture("qr-issue/get-qr.json")
        .json()
        .clone();
    Claims {
        samples: samples.iter().map(|v| v.to_string().into_bytes()).collect(),
        event,
    }
}

/// The body of a response as (code, message), when it is an error body.
pub fn error_of(body: &Body) -> (String, String) {
    let bytes: &[u8] = match body {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    };
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
        return html_error(&String::from_utf8_lossy(bytes));
    };
    let field = |k: &str| value["error"][k].as_str().unwrap_or_default().to_owned();
    (field("code"), field("message"))
}

/// A buyer's error page: the code in `data-code`, the message in the muted
/// line (refusals of the input) or else the heading.
fn html_error(page: &str) -> (String, String) {
    let between = |start: &str, end: &str| {
        let rest = &page[page.find(start)? + start.len()..];
        Some(rest[..rest.find(end)?].to_owned())
    };
    let code = between("data-code=\"", "\"").unwrap_or_default();
    let message = between("<p class=\"muted\">", "</p>")
        .filter(|m| !m.is_empty())
        .or_else(|| between("<h1 class=\"bad\">", "</h1>"))
        .unwrap_or_default();
    (code, message)
}

pub fn targets() -> Vec<Box<dyn Target>> {
    vec![
        Box::new(bodies()),
        Box::new(amounts()),
        Box::new(claims()),
        Box::new(pos::Pos::new()),
        Box::new(checkout::Checkout::new()),
    ]
}
