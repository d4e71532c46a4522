//! The sandbox provider's routes (API.md "Local only"): a buyer paying a
//! code, injected faults, what the provider really paid out, its daily
//! bill, and the test clock. It also collects monthly-pay instalments: period
//! k of a plan is charged to the buyer k × 30 days after the payment, when
//! the test clock passes that day. The sandbox is a provider, not one of our
//! functions: it reaches qrpay only the way a provider does — the buyer's
//! checkout on the payment page (`POST /pay/{token}`) and a signed callback
//! to `/callbacks/sandbox` — through the same routes as any other request.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, Utc};
use std::sync::{Arc, Mutex};

use lambda_http::http::StatusCode;
use qrpay_domain::time::rfc3339_beijing;
use qrpay_domain::{
    Amount, BusinessDate, Clock, CollectionEvent, CollectionEventKind, Money, OrderId, Payer,
    Provider, ProviderRef, ShopId,
};
use qrpay_http::{ApiError, Fields};
use qrpay_provider::sandbox::SplitMix64;
use qrpay_provider::{
    NoticeSigner, SandboxCharge, SandboxChargeKind, SandboxFaults, SandboxProvider, SandboxSigner,
    SandboxTransferStatus, SignedNotice,
};
use qrpay_reconcile::sandbox_bill;
use serde_json::{json, Map, Value};

use crate::stack::{LocalRequest, LocalResponse, Stack};

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

pub struct Sandbox {
    pub provider: Arc<SandboxProvider>,
    signer: SandboxSigner,
    draws: Mutex<Draws>,
    plans: Mutex<Vec<Plan>>,
    next_txn: AtomicU64,
}

/// A monthly-pay order whose instalments the sandbox collects.
struct Plan {
    shop: ShopId,
    order: OrderId,
    schedule: Vec<Amount>,
    paid_at: DateTime<Utc>,
    /// The next period to charge, 1-based.
    next: usize,
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
    pub fn new(provider: Arc<SandboxProvider>, signer: SandboxSigner) -> Sandbox {
        Sandbox {
            provider,
            signer,
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
}

pub async fn handle(
    stack: &Stack,
    template: &str,
    params: &[String],
    request: &LocalRequest,
) -> LocalResponse {
    let answer = match template {
        "/sandbox/qr-codes/{qr_id}/pay" => pay(stack, &params[0], &request.body).await,
        "/sandbox/faults" => faults(stack, &request.body),
        "/sandbox/transfers" => Ok(transfers(stack)),
        "/sandbox/bills/{date}" => bill(stack, &params[0]),
        "/sandbox/clock" => clock(stack, &request.body).await,
        _ => Err(ApiError::not_found(
            "ROUTE_NOT_FOUND",
            "no such sandbox route",
        )),
    };
    answer.unwrap_or_else(LocalResponse::error)
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

/// `POST /sandbox/qr-codes/{qr_id}/pay`: the buyer scans the code, checks
/// out on the payment page, pays; the sandbox records the charge and calls
/// qrpay back.
async fn pay(stack: &Stack, qr_id: &str, body: &[u8]) -> Result<LocalResponse, ApiError> {
    let fields = fields(body, &["amount", "payer"])?;
    let payer = match fields.object("payer")? {
        None => None,
        Some(p) => {
            let text = |name: &str| {
                p.optional_str(name, MAX_PAYER_CHARS)
                    .map(|t| t.map(str::to_owned))
                    .map_err(|e| ApiError {
                        field: Some(format!("payer.{name}")),
                        ..e
                    })
            };
            Some(Payer {
                name: text("name")?,
                phone: text("phone")?,
            })
        }
    };
    let shop = stack.shop_of_code(qr_id).ok_or_else(|| {
        ApiError::not_found(
            "QR_NOT_FOUND",
            "the sandbox knows the codes issued through this local stack since it started",
        )
    })?;
    // The payment page: the buyer's provider gets the order to charge.
    let token = stack
        .payment_token(&shop, qr_id)
        .map_err(ApiError::internal)?;
    let mut checkout_body = Map::new();
    if let Some(amount) = fields.value("amount") {
        checkout_body.insert("amount".into(), amount.clone());
    }
    let checkout = stack
        .internal(
            "POST",
            &format!("/pay/{token}"),
            vec![("content-type".into(), "application/json".into())],
            Value::Object(checkout_body).to_string().into_bytes(),
        )
        .await;
    if !(200..300).contains(&checkout.status) {
        // The page refused (expired, used, wrong amount): the buyer sees why.
        return Ok(checkout);
    }
    let order = checkout.body_json().unwrap_or_default();
    let order_id = order
        .get("order_id")
        .and_then(Value::as_str)
        .and_then(|o| OrderId::parse(o).ok())
        .ok_or_else(|| ApiError::internal("the checkout named no order"))?;
    let amount = order
        .get("amount")
        .and_then(Value::as_str)
        .and_then(|a| Amount::parse(a).ok())
        .ok_or_else(|| ApiError::internal("the checkout named no amount"))?;
    let plan = checkout_plan(&order)?;
    // The monthly-pay fee the shop bears comes out of the payment.
    let fee = plan.as_ref().map_or(Money::ZERO, |p| p.shop_fee);

    let now = stack.clock.now();
    let txn = stack.sandbox.next_ref("sbx_tx", now);
    let provider_txn_id = provider_ref(&txn)?;
    stack.sandbox.provider.record_charge(SandboxCharge {
        shop_id: shop.clone(),
        kind: SandboxChargeKind::Payment,
        order_id: order_id.clone(),
        provider_ref: txn.clone(),
        period: None,
        amount,
        fee,
        succeeded: true,
        payer_masked: payer.as_ref().map(Payer::masked),
        at: now,
    });
    let event = CollectionEvent {
        provider: Provider::Sandbox,
        notification_id: provider_ref(&stack.sandbox.next_ref("sbx_n", now))?,
        order_id: order_id.clone(),
        kind: CollectionEventKind::PaymentSucceeded {
            provider_txn_id,
            amount,
            payer,
        },
        occurred_at: now,
    };
    let notice = stack.sandbox.signer.sign(&event, now);
    let deliveries = deliver(stack, &notice).await;
    if let Some(plan) = plan {
        stack
            .sandbox
            .plans
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Plan {
                shop: shop.clone(),
                order: order_id.clone(),
                schedule: plan.schedule,
                paid_at: now,
                next: 1,
            });
    }
    let callback = deliveries.first().cloned().unwrap_or_default();
    Ok(LocalResponse::json(
        StatusCode::OK,
        &json!({
            "provider_txn_id": txn,
            "order_id": order_id,
            "amount": amount.to_string(),
            "callback": {"deliveries": deliveries.len(), "first": callback},
        }),
    ))
}

/// What the payment page told the provider of a monthly-pay plan.
struct CheckoutPlan {
    /// The fee the shop bears (nothing when the buyer pays it).
    shop_fee: Money,
    /// What to collect from the buyer, period by period.
    schedule: Vec<Amount>,
}

/// The plan in a checkout answer (`instalment_plan`, as API.md shows it).
fn checkout_plan(order: &Value) -> Result<Option<CheckoutPlan>, ApiError> {
    let plan = match order.get("instalment_plan") {
        None | Some(Value::Null) => return Ok(None),
        Some(plan) => plan,
    };
    let malformed = || ApiError::internal(format!("the checkout's plan is malformed: {plan}"));
    let fee = plan["fee"]
        .as_str()
        .and_then(|f| Money::parse(f).ok())
        .ok_or_else(malformed)?;
    let schedule = plan["schedule"]
        .as_array()
        .ok_or_else(malformed)?
        .iter()
        .map(|p| {
            p["amount"]
                .as_str()
                .and_then(|a| Amount::parse(a).ok())
                .ok_or_else(malformed)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(CheckoutPlan {
        shop_fee: if plan["fee_payer"] == "shop" {
            fee
        } else {
            Money::ZERO
        },
        schedule,
    }))
}

fn provider_ref(text: &str) -> Result<ProviderRef, ApiError> {
    ProviderRef::parse(text).map_err(|e| ApiError::internal(e.to_string()))
}

/// Charges every instalment that has come due by now (period k is due
/// k × [`INSTALMENT_EVERY_DAYS`] after the payment), at the deduction
/// failure rate, and tells qrpay each result with a signed callback. How
/// many were charged or tried.
pub async fn deduct_due(stack: &Stack) -> Result<usize, ApiError> {
    let now = stack.clock.now();
    let due: Vec<(ShopId, OrderId, u8, Amount)> = {
        let mut plans = stack
            .sandbox
            .plans
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut due = Vec::new();
        for plan in plans.iter_mut() {
            while plan.next <= plan.schedule.len()
                && plan.paid_at + Duration::days(INSTALMENT_EVERY_DAYS * plan.next as i64) <= now
            {
                let period = u8::try_from(plan.next).unwrap_or(u8::MAX);
                due.push((
                    plan.shop.clone(),
                    plan.order.clone(),
                    period,
                    plan.schedule[plan.next - 1],
                ));
                plan.next += 1;
            }
        }
        plans.retain(|p| p.next <= p.schedule.len());
        due
    };
    for (shop, order, period, amount) in &due {
        let fails = stack.sandbox.deduction_fails();
        let reference = stack.sandbox.next_ref("sbx_dd", now);
        stack.sandbox.provider.record_charge(SandboxCharge {
            shop_id: shop.clone(),
            kind: SandboxChargeKind::Deduction,
            order_id: order.clone(),
            provider_ref: reference.clone(),
            period: Some(*period),
            amount: *amount,
            fee: Money::ZERO,
            succeeded: !fails,
            payer_masked: None,
            at: now,
        });
        let kind = if fails {
            CollectionEventKind::InstalmentDeductionFailed {
                period: *period,
                amount: *amount,
                reason: DEDUCTION_FAILED_REASON.into(),
            }
        } else {
            CollectionEventKind::InstalmentDeducted {
                provider_txn_id: provider_ref(&reference)?,
                period: *period,
                amount: *amount,
            }
        };
        let event = CollectionEvent {
            provider: Provider::Sandbox,
            notification_id: provider_ref(&stack.sandbox.next_ref("sbx_n", now))?,
            order_id: order.clone(),
            kind,
            occurred_at: now,
        };
        deliver(stack, &stack.sandbox.signer.sign(&event, now)).await;
    }
    Ok(due.len())
}

/// Posts a signed notice to `/callbacks/sandbox` (twice at the duplicate
/// rate); each delivery's status and body.
pub async fn deliver(stack: &Stack, notice: &SignedNotice) -> Vec<Value> {
    let times = if stack.sandbox.duplicate_next() { 2 } else { 1 };
    let mut answers = Vec::with_capacity(times);
    for _ in 0..times {
        let mut headers = notice.headers.clone();
        headers.push(("content-type".into(), notice.content_type.into()));
        let answer = stack
            .internal("POST", "/callbacks/sandbox", headers, notice.body.clone())
            .await;
        if answer.status != 200 {
            eprintln!(
                "qrpay-local: the sandbox's callback was answered {}: {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            );
        }
        answers.push(json!({
            "status": answer.status,
            "body": answer.body_json().unwrap_or(Value::Null),
        }));
    }
    answers
}

/// Transfer-finished notices the sandbox owes qrpay, delivered now.
pub async fn deliver_transfer_notices(stack: &Stack) -> usize {
    let notices = stack.sandbox.provider.take_notices();
    for notice in &notices {
        let signed = stack
            .sandbox
            .signer
            .sign_transfer(notice, stack.clock.now());
        deliver(stack, &signed).await;
    }
    notices.len()
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

/// `PUT /sandbox/faults`
fn faults(stack: &Stack, body: &[u8]) -> Result<LocalResponse, ApiError> {
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
        .value("seed")
        .ok_or_else(|| ApiError::invalid("seed", "required"))?
        .as_u64()
        .ok_or_else(|| ApiError::invalid("seed", "a whole number from 0"))?;
    // An ambiguous timeout is as often "never arrived" as "answer lost
    // after the money moved".
    let faults = SandboxFaults {
        fail_per_mille: fail,
        timeout_before_per_mille: timeout / 2,
        timeout_after_per_mille: timeout - timeout / 2,
        query_timeout_per_mille: 0,
        seed,
    };
    stack.sandbox.provider.set_faults(faults).map_err(|_| {
        ApiError::invalid(
            "transfer_timeout_rate",
            "transfer_fail_rate + transfer_timeout_rate must not exceed 1",
        )
    })?;
    *stack.sandbox.draws() = Draws {
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
fn transfers(stack: &Stack) -> LocalResponse {
    let transfers: Vec<Value> = stack
        .sandbox
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
            "moved_total": stack.sandbox.provider.moved_total().to_string(),
            "transfers": transfers,
        }),
    )
}

/// `GET /sandbox/bills/{date}`
fn bill(stack: &Stack, date: &str) -> Result<LocalResponse, ApiError> {
    let date =
        BusinessDate::parse(date).map_err(|_| ApiError::invalid("date", "a date YYYY-MM-DD"))?;
    let csv = sandbox_bill::write(&stack.sandbox.provider, date, Vec::new())
        .map_err(|e| ApiError::internal(format!("sandbox bill: {e}")))?;
    Ok(LocalResponse {
        status: 200,
        headers: vec![("content-type".into(), "text/csv; charset=utf-8".into())],
        body: csv,
    })
}

/// `POST /sandbox/clock`: every function's "now" moves; the sweeper looks
/// at once.
async fn clock(stack: &Stack, body: &[u8]) -> Result<LocalResponse, ApiError> {
    let advance_s = fields(body, &["advance_s"])?
        .optional_i64("advance_s", 0..=MAX_ADVANCE_S)?
        .ok_or_else(|| ApiError::invalid("advance_s", "advance_s is required"))?;
    let now = stack.clock.advance_ms(advance_s * 1000);
    let deductions = deduct_due(stack).await?;
    stack.wake_background();
    Ok(LocalResponse::json(
        StatusCode::OK,
        &json!({ "now": rfc3339_beijing(now), "deductions": deductions }),
    ))
}
