//! The sandbox provider's routes (API.md "Local only"): a buyer paying a
//! code, injected faults, what the provider really paid out, its daily
//! bill, and the test clock. It also collects monthly-pay instalments: period
//! k of a plan is charged to the buyer k × 30 days after the payment, when
//! the test clock passes that day. The sandbox is a provider, not one of our
//! functions: it reaches qrpay only the way a provider does — the buyer's
//! checkout on the payment page (`POST /pay/{token}`) and a signed callback
//! to `/callbacks/sandbox` — through the same routes as any other request.

mod console;
mod instalments;
mod payment;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lambda_http::http::StatusCode;
use qrpay_domain::time::rfc3339_beijing;
use qrpay_domain::{BusinessDate, Clock, ProviderRef, ShiftedClock, ShopId};
use qrpay_http::{ApiError, Fields};
use qrpay_provider::sandbox::SplitMix64;
use qrpay_provider::{
    SandboxFaults, SandboxProvider, SandboxSigner, SandboxTransferStatus, SignedNotice,
};
use qrpay_reconcile::sandbox_bill;
use serde_json::{json, Map, Value};

use crate::local_http::{LocalRequest, LocalResponse};
use instalments::Plan;

/// Largest sandbox request body.
const MAX_BODY_BYTES: usize = 4096;
/// Longest payer name or phone the sandbox takes.
const MAX_PAYER_CHARS: usize = 64;
/// Longest clock step at once: a year.
const MAX_ADVANCE_S: i64 = 366 * 24 * 3600;

/// Days between a monthly-pay payment and each instalment.
pub const INSTALMENT_EVERY_DAYS: i64 = 30;
/// Why an injected deduction failure failed.
pub const DEDUCTION_FAILED_REASON: &str = "the buyer's card was declined";

/// What the sandbox, as a provider, can reach of qrpay: its public routes
/// (the payment page, the callbacks), which shop a code issued here belongs
/// to and the token its QR image carries (what a buyer's scan reads), and
/// the background work to wake when the test clock moves.
#[async_trait]
pub trait Qrpay: Send + Sync {
    /// A request to one of qrpay's routes, through the same entry point as
    /// any other.
    async fn request(
        &self,
        method: &str,
        path: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> LocalResponse;

    fn shop_of_code(&self, qr_id: &str) -> Option<ShopId>;

    fn payment_token(&self, shop: &ShopId, qr_id: &str) -> Result<String, String>;

    /// The test clock moved: the sweeper should look at once.
    fn clock_moved(&self);
}

pub struct Sandbox {
    pub provider: Arc<SandboxProvider>,
    signer: SandboxSigner,
    /// Every function's "now" (the test clock).
    clock: Arc<ShiftedClock>,
    draws: Mutex<Draws>,
    plans: Mutex<Vec<Plan>>,
    next_txn: AtomicU64,
}

/// Duplicate callbacks and failed deductions, at seeded, reproducible rates.
struct Draws {
    duplicate_per_mille: u16,
    deduction_fail_per_mille: u16,
    rng: SplitMix64,
}

impl Draws {
    fn hit(&mut self, per_mille: u16) -> bool {
        per_mille > 0 && self.rng.per_mille() < per_mille
    }
}

impl Sandbox {
    pub fn new(
        provider: Arc<SandboxProvider>,
        signer: SandboxSigner,
        clock: Arc<ShiftedClock>,
    ) -> Sandbox {
        Sandbox {
            provider,
            signer,
            clock,
            draws: Mutex::new(Draws {
                duplicate_per_mille: 0,
                deduction_fail_per_mille: 0,
                rng: SplitMix64(0),
            }),
            plans: Mutex::new(Vec::new()),
            next_txn: AtomicU64::new(1),
        }
    }

    fn draws(&self) -> std::sync::MutexGuard<'_, Draws> {
        self.draws.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn duplicate_next(&self) -> bool {
        let mut draws = self.draws();
        let rate = draws.duplicate_per_mille;
        draws.hit(rate)
    }

    fn deduction_fails(&self) -> bool {
        let mut draws = self.draws();
        let rate = draws.deduction_fail_per_mille;
        draws.hit(rate)
    }

    /// A sandbox id: `{prefix}_{now ms}_{n}`.
    fn next_ref(&self, prefix: &str, now: DateTime<Utc>) -> String {
        let n = self.next_txn.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}_{}_{n}", now.timestamp_millis())
    }

    pub fn signer(&self) -> &SandboxSigner {
        &self.signer
    }

    /// One of the sandbox's own routes (`template` as in the route table).
    pub async fn handle(
        &self,
        qrpay: &dyn Qrpay,
        template: &str,
        params: &[String],
        request: &LocalRequest,
    ) -> LocalResponse {
        let answer = match template {
            "/sandbox/qr-codes/{qr_id}/pay" => self.pay(qrpay, &params[0], &request.body).await,
            "/sandbox/faults" => self.faults(&request.body),
            "/sandbox/transfers" => Ok(self.transfers()),
            "/sandbox/bills/{date}" => self.bill(&params[0]),
            "/sandbox/clock" => self.move_clock(qrpay, &request.body).await,
            "/sandbox/console-refunds" => self.console_refund(&request.body),
            _ => Err(ApiError::new(
                qrpay_http::ErrorCode::RouteNotFound,
                "no such sandbox route",
            )),
        };
        answer.unwrap_or_else(LocalResponse::error)
    }

    /// Posts a signed notice to `/callbacks/sandbox` (twice at the duplicate
    /// rate); each delivery's status and body.
    pub async fn deliver(&self, qrpay: &dyn Qrpay, notice: &SignedNotice) -> Vec<Value> {
        self.deliver_to(qrpay, "/callbacks/sandbox", notice).await
    }

    /// Posts any provider's signed notice to `path` on qrpay, the same way
    /// (the simulated providers' callbacks).
    pub async fn deliver_to(
        &self,
        qrpay: &dyn Qrpay,
        path: &str,
        notice: &SignedNotice,
    ) -> Vec<Value> {
        let times = if self.duplicate_next() { 2 } else { 1 };
        let mut answers = Vec::with_capacity(times);
        for _ in 0..times {
            let mut headers = notice.headers.clone();
            headers.push(("content-type".into(), notice.content_type.into()));
            let answer = qrpay
                .request("POST", path, headers, notice.body.clone())
                .await;
            if answer.status != 200 {
                eprintln!(
                    "qrpay-local: the callback to {path} was answered {}: {}",
                    answer.status,
                    String::from_utf8_lossy(&answer.body)
                );
            }
            answers.push(json!({
                "status": answer.status,
                // Alipay's callbacks are answered in text (`success`).
                "body": answer.body_json().unwrap_or_else(|| match answer.body.is_empty() {
                    true => Value::Null,
                    false => Value::String(String::from_utf8_lossy(&answer.body).into_owned()),
                }),
            }));
        }
        answers
    }

    /// Transfer-finished notices the sandbox owes qrpay, delivered now.
    pub async fn deliver_transfer_notices(&self, qrpay: &dyn Qrpay) -> usize {
        let notices = self.provider.take_notices();
        for notice in &notices {
            let signed = self.signer.sign_transfer(notice, self.clock.now());
            self.deliver(qrpay, &signed).await;
        }
        notices.len()
    }

    /// `PUT /sandbox/faults`
    fn faults(&self, body: &[u8]) -> Result<LocalResponse, ApiError> {
        let names = [
            "transfer_fail_rate",
            "transfer_timeout_rate",
            "callback_duplicate_rate",
            "deduction_fail_rate",
            "seed",
        ];
        let fields = fields(body, &names)?;
        let fail = rate(&fields, "transfer_fail_rate")?;
        let timeout = rate(&fields, "transfer_timeout_rate")?;
        let duplicate = rate(&fields, "callback_duplicate_rate")?;
        // Not in API.md's list: optional, none by default.
        let deduction_fail = match fields.value("deduction_fail_rate") {
            None => 0,
            Some(_) => rate(&fields, "deduction_fail_rate")?,
        };
        let seed = fields
            .optional_i64("seed", 0..=i64::MAX)?
            .ok_or_else(|| ApiError::invalid("seed", "required"))?
            .unsigned_abs();
        // An ambiguous timeout is as often "never arrived" as "answer lost
        // after the money moved".
        let faults = SandboxFaults {
            fail_per_mille: fail,
            timeout_before_per_mille: timeout / 2,
            timeout_after_per_mille: timeout - timeout / 2,
            query_timeout_per_mille: 0,
            seed,
        };
        self.provider.set_faults(faults).map_err(|_| {
            ApiError::invalid(
                "transfer_timeout_rate",
                "transfer_fail_rate + transfer_timeout_rate must not exceed 1",
            )
        })?;
        *self.draws() = Draws {
            duplicate_per_mille: duplicate,
            deduction_fail_per_mille: deduction_fail,
            rng: SplitMix64(seed ^ 0x5eed_ca11_bac4),
        };
        Ok(LocalResponse::json(
            StatusCode::OK,
            &json!({
                "transfer_fail_rate": fields.value("transfer_fail_rate"),
                "transfer_timeout_rate": fields.value("transfer_timeout_rate"),
                "callback_duplicate_rate": fields.value("callback_duplicate_rate"),
                "deduction_fail_rate": f64::from(deduction_fail) / 1000.0,
                "seed": seed,
            }),
        ))
    }

    /// `GET /sandbox/transfers`
    fn transfers(&self) -> LocalResponse {
        let transfers: Vec<Value> = self
            .provider
            .transfers()
            .into_iter()
            .map(|t| {
                let (status, reason) = match &t.status {
                    SandboxTransferStatus::Succeeded => ("SUCCEEDED", None),
                    SandboxTransferStatus::Failed { reason } => ("FAILED", Some(reason.clone())),
                };
                json!({
                    "out_bill_no": t.out_bill_no,
                    "provider_ref": t.provider_ref,
                    "shop_id": t.payee.shop_id,
                    "order_id": t.payee.order_id,
                    "amount": t.amount.to_string(),
                    "status": status,
                    "failure_reason": reason,
                    "created_at": rfc3339_beijing(t.created_at),
                })
            })
            .collect();
        LocalResponse::json(
            StatusCode::OK,
            &json!({
                "count": transfers.len(),
                "moved_total": self.provider.moved_total().to_string(),
                "transfers": transfers,
            }),
        )
    }

    /// `GET /sandbox/bills/{date}`
    fn bill(&self, date: &str) -> Result<LocalResponse, ApiError> {
        let date = BusinessDate::parse(date)
            .map_err(|_| ApiError::invalid("date", "a date YYYY-MM-DD"))?;
        let csv = sandbox_bill::write(&self.provider, date, Vec::new())
            .map_err(|e| ApiError::internal(format!("sandbox bill: {e}")))?;
        Ok(LocalResponse {
            status: 200,
            headers: vec![("content-type".into(), "text/csv; charset=utf-8".into())],
            body: csv,
        })
    }

    /// `POST /sandbox/clock`: every function's "now" moves; the sweeper
    /// looks at once.
    async fn move_clock(&self, qrpay: &dyn Qrpay, body: &[u8]) -> Result<LocalResponse, ApiError> {
        let advance_s = fields(body, &["advance_s"])?
            .optional_i64("advance_s", 0..=MAX_ADVANCE_S)?
            .ok_or_else(|| ApiError::invalid("advance_s", "advance_s is required"))?;
        let latest = latest_test_now();
        let now = self
            .clock
            .advance_ms_until(advance_s * 1000, latest)
            .ok_or_else(|| {
                let latest = latest.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                ApiError::invalid(
                    "advance_s",
                    format!("the test clock goes no further than {latest}"),
                )
            })?;
        let deductions = self.deduct_due(qrpay).await?;
        qrpay.clock_moved();
        Ok(LocalResponse::json(
            StatusCode::OK,
            &json!({ "now": rfc3339_beijing(now), "deductions": deductions }),
        ))
    }
}

/// The latest "now" the test clock may reach: a year before the last second
/// RFC 3339 can write (9999-12-31T23:59:59Z; its years have four digits), so
/// every time the stack derives from "now" is still one: Beijing time (8
/// hours ahead), code expiries (up to 90 days on), instalments (due up to
/// 360 days on).
fn latest_test_now() -> DateTime<Utc> {
    const LAST_RFC3339_S: i64 = 253_402_300_799;
    DateTime::from_timestamp(LAST_RFC3339_S - MAX_ADVANCE_S, 0)
        .expect("a year before 9999-12-31T23:59:59Z is a valid instant")
}

/// The body's fields (the API's own strict parsing), only `allowed` ones;
/// no body at all is an empty object (a buyer may pay without one).
fn fields(body: &[u8], allowed: &[&str]) -> Result<Fields, ApiError> {
    let fields = if body.iter().all(u8::is_ascii_whitespace) {
        Fields::from_value(Value::Object(Map::new()))?
    } else {
        Fields::from_bytes(body, MAX_BODY_BYTES)?
    };
    fields.only(allowed)?;
    Ok(fields)
}

fn provider_ref(text: &str) -> Result<ProviderRef, ApiError> {
    ProviderRef::parse(text).map_err(|e| ApiError::internal(e.to_string()))
}

fn rate(fields: &Fields, name: &str) -> Result<u16, ApiError> {
    let value = fields
        .value(name)
        .ok_or_else(|| ApiError::invalid(name, "required"))?
        .as_f64()
        .filter(|r| (0.0..=1.0).contains(r))
        .ok_or_else(|| ApiError::invalid(name, "a rate from 0 to 1"))?;
    // A rate, not money: per mille is the sandbox's resolution.
    Ok((value * 1000.0).round() as u16)
}
