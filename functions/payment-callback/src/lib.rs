//! `payment-callback`: `POST /callbacks/{provider}` (SPEC §5). Each notice is
//! verified over the raw body bytes by its provider's adapter before anything
//! is parsed, then applied through the store's conditional writes, so a
//! notice delivered many times, or racing the worker, changes things once.
//!
//! - Payment, instalment and refund notices (every provider) go through
//!   `Store::apply_collection`; anomalies are recorded and alerted, and
//!   acknowledged once durable, since redelivery cannot make them right. A
//!   refund notice naming one of our merchant refunds settles that refund
//!   instead (`refunds`).
//! - "Transfer finished" notices (the sandbox's, WeChat Pay's
//!   `MCHTRANSFER.BILL.FINISHED`) settle a payout sent through that same
//!   provider (`Payout.provider`; none is the sandbox).
//! - Never a 4xx for a genuine, correctly signed notice: one we cannot apply
//!   (`Notice::Unapplied`: a failed refund, a trade status we do not act on,
//!   another app's notice) is acknowledged in the provider's success format,
//!   logged and alerted (`COLLECTION_NOTICE_NOT_APPLIED`), since the provider
//!   would otherwise redeliver it for a day and more. A notice that fails
//!   authentication is refused as before.
//!
//! Each provider is answered in its own format (`Answer`).

pub mod config;
mod refunds;

use std::sync::Arc;

use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response};
use qrpay_aws::Reloadable;
use qrpay_domain::{Clock, CollectionEvent, Decision, Payout, PayoutStatus, Provider};
use qrpay_http::{raw_body, segments, ApiError, ErrorCode};
use qrpay_provider::callback::TransferFinished;
use qrpay_provider::notice::{Answer, CallbackError, CallbackVerifier, Notice, UnappliedNotice};
use qrpay_provider::{AlipayVerifier, DouyinVerifier, WechatpayVerifier};
#[cfg(feature = "sandbox")]
use qrpay_provider::{SandboxNotice, SandboxVerifier};
pub use qrpay_queue::publish::{MemoryPublisher, Publisher};
use qrpay_store::alerts::{Alert, AlertCode, Alerts};
use qrpay_store::collected::apply_collection_event;
use qrpay_store::settle::{settle_failure, settle_success};
use qrpay_store::{CollectionStore, PayoutStore, RefundStore, Transition};
#[cfg(feature = "sandbox")]
use serde_json::json;

pub struct App {
    pub collection: Arc<dyn CollectionStore>,
    pub payouts: Arc<dyn PayoutStore>,
    /// Our merchant refunds, settled by the refund notices that name them.
    pub refunds: Arc<dyn RefundStore>,
    pub clock: Arc<dyn Clock>,
    pub alerts: Arc<dyn Alerts>,
    /// Each provider's verifier; a provider without one is not configured
    /// on this stage and its notices are refused. Rebuilt from the stage's
    /// secret when a notice's signature fails after a key rotation.
    pub verifiers: Reloadable<Verifiers>,
    /// Tells a POS its order was paid (IoT in AWS; in process locally).
    pub publisher: Arc<dyn Publisher>,
}

#[derive(Default)]
pub struct Verifiers {
    /// Local stack only (the `sandbox` feature, off in every deployed build).
    #[cfg(feature = "sandbox")]
    pub sandbox: Option<SandboxVerifier>,
    pub wechatpay: Option<WechatpayVerifier>,
    pub alipay: Option<AlipayVerifier>,
    pub douyin: Option<DouyinVerifier>,
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    match route(app, &req).await {
        Ok(answer) => into_response(answer),
        Err(err) => err.into_response(),
    }
}

async fn route(app: &App, req: &Request) -> Result<Answer, ApiError> {
    let path = req.uri().path().to_owned();
    let provider = match segments(&path).as_slice() {
        ["callbacks", provider] => Provider::parse(provider)
            .ok_or_else(|| ApiError::new(ErrorCode::ProviderNotFound, "unknown provider"))?,
        _ => return Err(ApiError::new(ErrorCode::RouteNotFound, "no such route")),
    };
    if req.method() != Method::POST {
        return Err(ApiError {
            message: "callbacks are POSTed".into(),
            ..ApiError::method_not_allowed(&[Method::POST])
        });
    }
    let now = app.clock.now();
    let (headers, body) = (req.headers(), raw_body(req));
    let verifiers = app.verifiers.current();
    match attempt(app, &verifiers, provider, headers, body, now).await? {
        Attempt::Answered(answer) => Ok(answer),
        // Perhaps the provider's key was rotated: read the secret again
        // (rate-limited) and, if it changed, verify once more.
        Attempt::BadSignature(refusal) => match app.verifiers.after_signature_failure().await {
            Some(reloaded) => Ok(attempt(app, &reloaded, provider, headers, body, now)
                .await?
                .into_answer()),
            None => Ok(refusal),
        },
    }
}

/// What verifying a notice with one set of verifiers came to.
enum Attempt {
    Answered(Answer),
    /// Refused because no configured key verifies its signature.
    BadSignature(Answer),
}

impl Attempt {
    fn into_answer(self) -> Answer {
        match self {
            Attempt::Answered(answer) | Attempt::BadSignature(answer) => answer,
        }
    }
}

/// Verifies the notice with `v` and, when genuine, applies and answers it.
async fn attempt(
    app: &App,
    v: &Verifiers,
    provider: Provider,
    headers: &lambda_http::http::HeaderMap,
    body: &[u8],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Attempt, ApiError> {
    let not_configured = || {
        ApiError::new(
            ErrorCode::ProviderNotConfigured,
            format!("{provider} notices are not configured on this stage"),
        )
    };
    let refused = |verifier: &dyn CallbackVerifier, err: &CallbackError| {
        let answer = refuse(verifier, provider, err);
        match err {
            CallbackError::BadSignature(_) => Attempt::BadSignature(answer),
            _ => Attempt::Answered(answer),
        }
    };
    let verifier: &dyn CallbackVerifier = match provider {
        #[cfg(feature = "sandbox")]
        Provider::Sandbox => {
            let sandbox = v.sandbox.as_ref().ok_or_else(not_configured)?;
            return Ok(match sandbox.verify_any(headers, body, now) {
                Ok(notice) => Attempt::Answered(sandbox_notice(app, sandbox, notice).await),
                Err(err) => refused(sandbox, &err),
            });
        }
        // Deployed: the sandbox does not exist here.
        #[cfg(not(feature = "sandbox"))]
        Provider::Sandbox => None,
        Provider::Wechatpay => v.wechatpay.as_ref().map(|x| x as _),
        Provider::Alipay => v.alipay.as_ref().map(|x| x as _),
        Provider::Douyin => v.douyin.as_ref().map(|x| x as _),
    }
    .ok_or_else(not_configured)?;
    Ok(match verifier.verify_notice(headers, body, now) {
        Ok(notice) => Attempt::Answered(answer_notice(app, verifier, notice).await),
        Err(err) => refused(verifier, &err),
    })
}

/// Applies a genuine notice and answers it in the provider's format: success
/// unless our store failed or the notice is not applicable yet.
async fn answer_notice(app: &App, verifier: &dyn CallbackVerifier, notice: Notice) -> Answer {
    let applied = match notice {
        Notice::Collection(event) => apply(app, &event).await,
        Notice::Transfer(transfer) => apply_transfer_notice(app, &transfer)
            .await
            .map_err(|e| (e.status.as_u16(), e.message)),
        Notice::Unapplied(unapplied) => {
            record_unapplied(app, &unapplied).await;
            Ok(false)
        }
    };
    let outcome = match applied {
        Ok(true) => "APPLIED",
        Ok(false) => "ACKNOWLEDGED",
        Err(_) => "RETRY",
    };
    count_callback(verifier.provider(), outcome);
    match applied {
        Ok(_) => verifier.success(),
        Err((status, message)) => verifier.failure(&message, status),
    }
}

/// `Callbacks` by provider and outcome (`APPLIED`, `ACKNOWLEDGED`, `RETRY`,
/// or the refusal's kind); refusals also count in `CallbacksRejected`.
fn count_callback(provider: Provider, outcome: &'static str) {
    use qrpay_store::metrics::{self, MetricName, Point};
    metrics::put(
        Point::count(MetricName::Callbacks, metrics::CALLBACKS)
            .with("Provider", provider.as_str())
            .with("Outcome", outcome),
    );
}

/// Logs and alerts a genuine notice acknowledged without being applied. The
/// texts are the provider's ids and our own reasons: no payer data.
async fn record_unapplied(app: &App, notice: &UnappliedNotice) {
    let id = notice
        .notification_id
        .as_ref()
        .map_or("-", |id| id.as_str());
    let reference = notice.reference.as_ref().map_or("-", |r| r.as_str());
    tracing::warn!(provider = %notice.provider, notification_id = id, event = %notice.event,
        reference, reason = %notice.reason, "provider notice acknowledged, not applied");
    let alert = Alert {
        code: AlertCode::CollectionNoticeNotApplied.into(),
        message: format!(
            "{} {} notice {id} about {reference} was acknowledged and not applied ({}); \
             check it with the provider",
            notice.provider, notice.event, notice.reason
        ),
        shop_id: None,
        reference: notice
            .reference
            .as_ref()
            .or(notice.notification_id.as_ref())
            .map_or_else(|| notice.event.to_string(), |r| r.to_string()),
    };
    app.alerts.raise(&alert).await;
}

fn refuse(verifier: &dyn CallbackVerifier, provider: Provider, err: &CallbackError) -> Answer {
    tracing::warn!(%provider, error = %err, "provider notice refused");
    count_callback(provider, err.kind());
    qrpay_store::metrics::put(qrpay_store::metrics::Point::count(
        qrpay_store::metrics::MetricName::CallbacksRejected,
        qrpay_store::metrics::CALLBACKS,
    ));
    verifier.refusal(err)
}

fn into_response(answer: Answer) -> Response<Body> {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = if answer.body.is_empty() {
        Body::Empty
    } else {
        Body::Text(answer.body)
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(answer.content_type));
    response
}

/// Applies a verified collection event. `Ok(true)` if it changed our
/// records, `Ok(false)` if it was acknowledged without (a duplicate, or an
/// anomaly now on record); `Err` with the status to answer when the provider
/// should deliver it again.
async fn apply(app: &App, event: &CollectionEvent) -> Result<bool, (u16, String)> {
    if let Some(settled) = refunds::settle_our_refund(app, event).await {
        return settled;
    }
    let decision = apply_collection_event(
        app.collection.as_ref(),
        app.alerts.as_ref(),
        Some(app.publisher.as_ref()),
        event,
        app.clock.now(),
    )
    .await
    .map_err(|_| (503, "temporarily unavailable; deliver again".to_owned()))?;
    match decision {
        Decision::Apply(_) => Ok(true),
        Decision::AlreadyApplied | Decision::Anomaly(_) => Ok(false),
        Decision::NotYet(reason) => Err((409, reason)),
    }
}

#[cfg(feature = "sandbox")]
async fn sandbox_notice(app: &App, sandbox: &SandboxVerifier, notice: SandboxNotice) -> Answer {
    let applied = match notice {
        SandboxNotice::Collection(event) => apply(app, &event).await,
        SandboxNotice::Transfer(transfer) => apply_transfer_notice(app, &transfer)
            .await
            .map_err(|e| (e.status.as_u16(), e.message)),
    };
    match applied {
        Ok(applied) => Answer {
            status: 200,
            content_type: "application/json",
            body: json!({"received": true, "applied": applied}).to_string(),
        },
        Err((status, message)) => sandbox.failure(&message, status),
    }
}

/// Settles the payout a notice is about, through the same transitions
/// whichever provider sent it. Anomalies (unknown payout, a payout sent
/// through another provider, amount mismatch) are alerted and never applied;
/// they are still acknowledged, since retrying cannot make them right.
async fn apply_transfer_notice(app: &App, notice: &TransferFinished) -> Result<bool, ApiError> {
    let Some(payout) = app.payouts.find_payout(&notice.out_bill_no).await? else {
        let what = "transfer notice for a payout we do not have".to_owned();
        let alert = unapplied(AlertCode::TransferNoticeUnknownPayout, notice, None, what);
        app.alerts.raise(&alert).await;
        return Ok(false);
    };
    let sent_through = payout.provider.unwrap_or(Provider::Sandbox);
    if sent_through != notice.provider {
        let what = format!(
            "{} transfer notice for a payout sent through {sent_through}",
            notice.provider
        );
        let alert = unapplied(
            AlertCode::TransferNoticeWrongProvider,
            notice,
            Some(&payout),
            what,
        );
        app.alerts.raise(&alert).await;
        return Ok(false);
    }
    if notice.amount != payout.amount {
        let what = format!(
            "transfer notice amount {} differs from the payout's {}",
            notice.amount, payout.amount
        );
        let alert = unapplied(
            AlertCode::TransferNoticeAmountMismatch,
            notice,
            Some(&payout),
            what,
        );
        app.alerts.raise(&alert).await;
        return Ok(false);
    }
    if payout.status == PayoutStatus::Pending {
        // We never hand a payout to the provider before it is PROCESSING.
        let what = "transfer notice for a payout never dispatched".to_owned();
        let alert = unapplied(
            AlertCode::TransferNoticeBeforeDispatch,
            notice,
            Some(&payout),
            what,
        );
        app.alerts.raise(&alert).await;
        return Ok(false);
    }
    let (payouts, alerts, now) = (app.payouts.as_ref(), app.alerts.as_ref(), app.clock.now());
    let settled = match &notice.failure {
        None => settle_success(payouts, alerts, &payout, &notice.provider_ref, now).await?,
        Some(reason) => settle_failure(payouts, alerts, &payout, reason, now).await?,
    };
    tracing::info!(payout_id = %payout.payout_id, notice_id = %notice.notice_id,
        moved = matches!(settled, Transition::Moved(_)), "transfer notice applied");
    Ok(matches!(settled, Transition::Moved(_)))
}

/// The alert for a transfer notice recorded and not applied.
fn unapplied(
    code: AlertCode,
    notice: &TransferFinished,
    payout: Option<&Payout>,
    what: String,
) -> Alert {
    Alert {
        code: code.into(),
        message: format!(
            "{what}: notice {} about payout {} was not applied; check it with the provider",
            notice.notice_id, notice.out_bill_no
        ),
        shop_id: payout.map(|p| p.shop_id.to_string()),
        reference: notice.out_bill_no.to_string(),
    }
}
