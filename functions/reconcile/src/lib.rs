//! `reconcile` (SPEC §6): the nightly three-way match of our ledger, the
//! providers' statements and the bank's settlement receipts.
//!
//! One function, four triggers, told apart by the event's shape:
//! - the EventBridge schedule (~10:30 Beijing on D+1): reconciles D, the
//!   previous Beijing business day;
//! - an SQS message `{"date"}` from `POST /admin/reconciliations/{date}`;
//! - a direct invocation `{"date"}` (operators, `sam remote invoke`);
//! - HTTP: `POST /admin/reconciliations/{date}` (202, queues the run),
//!   `GET /shops/{shop_id}/reconciliations/{date}` (the shop's summary and
//!   report rows; `format=csv|xlsx` as a file; a page with charts for a
//!   browser, `qrpay_report_html`),
//!   `PUT /shops/{shop_id}/reconciliations/{date}/rows/{row_id}/resolution`
//!   (what was done about a discrepancy) and
//!   `GET /shops/{shop_id}/receivables` (monthly-pay receivables, SPEC §11)
//!   and `GET /shops/{shop_id}/kpis?month=` (the month's KPIs, SPEC §11).

pub mod kpi_page;
pub mod kpis;
pub mod receivables;
pub mod resolutions;

pub use qrpay_reconcile::requests;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use qrpay_domain::{BusinessDate, Clock, Role};
use qrpay_http::html::wants_html;
use qrpay_http::{
    attachment, event, json, principal, require_owner_or_admin, require_role, require_shop,
    require_shop_or_admin, segments, ApiError, ErrorCode,
};
use qrpay_reconcile::bill_fetch::{self, BillFetcher, Next};
use qrpay_reconcile::objects::ObjectStore;
use qrpay_reconcile::report_sheet::{report_csv, report_xlsx};
use qrpay_reconcile::run::RUN_LEASE_S;
use qrpay_reconcile::{ReconcileError, Reconciler, RunReport};
use qrpay_report_html::day::render_day;
use qrpay_report_html::report_page;
use qrpay_sheet::{Lang, CSV_CONTENT_TYPE, XLSX_CONTENT_TYPE};
use qrpay_store::{ReceivableStore, ReconciliationStore, ResolutionStore, ShopStore};
use serde_json::{json, Value};

use crate::requests::{RequestError, RunRequest, RunRequests};

/// Report rows one page of `GET …/reconciliations/{date}` returns by default, and at most.
pub const DEFAULT_ROWS: usize = 200;
pub const MAX_ROWS: usize = 1000;

pub struct App {
    pub reconciler: Arc<Reconciler>,
    pub reconciliations: Arc<dyn ReconciliationStore>,
    /// The shop's setup (its instalment grace days) for its receivables.
    pub shops: Arc<dyn ShopStore>,
    pub receivables: Arc<dyn ReceivableStore>,
    /// What was recorded about the reports' discrepancies.
    pub resolutions: Arc<dyn ResolutionStore>,
    pub objects: Arc<dyn ObjectStore>,
    pub requests: Arc<dyn RunRequests>,
    /// The providers' bills, fetched before each run; `None` where they are
    /// placed some other way (tests that write statements themselves).
    pub bills: Option<Arc<BillFetcher>>,
    pub clock: Arc<dyn Clock>,
}

/// The day the scheduled run reconciles: yesterday in Beijing.
pub fn scheduled_date(now: DateTime<Utc>) -> BusinessDate {
    BusinessDate::of(now).pred()
}

/// Runs the reconciliation of `date` now, in this invocation.
pub async fn run_day(app: &App, date: BusinessDate) -> Result<RunReport, String> {
    let report = app
        .reconciler
        .run(date, app.clock.now())
        .await
        .map_err(|e| format!("reconciliation of {date} failed: {e}"))?;
    tracing::info!(
        date = %date,
        rows = report.report_rows,
        shops = report.shops,
        discrepancies = report.discrepancies,
        gaps = report.gaps.len(),
        elapsed_ms = report.elapsed_ms,
        "reconciliation finished"
    );
    Ok(report)
}

/// Handles any event this function is invoked with.
pub async fn dispatch(app: &App, event: Value) -> Result<Value, String> {
    if event::is_http(&event) {
        let response = handle(app, event::request_of(event)?).await;
        return event::response_value(response);
    }
    if let Some(records) = event.get("Records").and_then(Value::as_array) {
        // SQS: each record asks for one day. A failure fails the batch, so
        // SQS redelivers it (and parks it in the DLQ after the last try).
        let mut reports = Vec::new();
        for record in records {
            let body = record.get("body").and_then(Value::as_str).unwrap_or("");
            let request: RunRequest = serde_json::from_str(body)
                .map_err(|e| format!("not a reconciliation request: {e}"))?;
            reports.push(nightly(app, &request).await?);
        }
        return Ok(Value::Array(reports));
    }
    let request = match event.get("date").and_then(Value::as_str) {
        // An operator: the day as it is now.
        Some(text) => RunRequest::now(
            BusinessDate::parse(text).map_err(|_| format!("bad date in event: {text:?}"))?,
        ),
        // The EventBridge schedule (or any other event): yesterday, waiting
        // for bills not published yet.
        None => {
            let date = scheduled_date(app.clock.now());
            RunRequest {
                date: date.to_string(),
                wait_for_bills_until: Some(bill_fetch::deadline(date)),
            }
        }
    };
    nightly(app, &request).await
}

/// A requested run: the day's bills first (SPEC §6, §9 "Bills"); then the
/// run, unless it waits for a bill and asks again later.
pub async fn nightly(app: &App, request: &RunRequest) -> Result<Value, String> {
    let date = request.business_date()?;
    if let Some(bills) = &app.bills {
        let next = bills
            .attempt(date, app.clock.now(), request.wait_for_bills_until)
            .await?;
        if let Next::AskAgainIn(delay) = next {
            app.requests
                .ask_again(request, delay)
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(%date, delay_s = delay.as_secs(), "waiting for the providers' bills");
            return Ok(json!({
                "date": date,
                "status": "WAITING_FOR_BILLS",
                "ask_again_in_s": delay.as_secs(),
            }));
        }
    }
    let report = run_day(app, date).await?;
    serde_json::to_value(report).map_err(|e| e.to_string())
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    qrpay_http::respond(route(app, &req).await)
}

async fn route(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let path = req.uri().path().to_owned();
    match segments(&path).as_slice() {
        ["admin", "reconciliations", date] => {
            if req.method() != Method::POST {
                return Err(ApiError::method_not_allowed(&[Method::POST]));
            }
            require_role(&principal(req)?, Role::Admin)?;
            let date = parse_date(date)?;
            request_run(app, date).await
        }
        ["shops", shop, "reconciliations", date] => {
            if req.method() != Method::GET {
                return Err(ApiError::method_not_allowed(&[Method::GET]));
            }
            let shop_id = require_shop(&principal(req)?, shop)?;
            let date = parse_date(date)?;
            get_day(app, req, shop_id, date).await
        }
        ["shops", shop, "reconciliations", date, "rows", row, "resolution"] => {
            if req.method() != Method::PUT {
                return Err(ApiError::method_not_allowed(&[Method::PUT]));
            }
            let principal = principal(req)?;
            let shop_id = require_owner_or_admin(&principal, shop)?;
            let date = parse_date(date)?;
            resolutions::put(app, req, &principal, shop_id, date, row).await
        }
        ["shops", shop, "receivables"] => {
            if req.method() != Method::GET {
                return Err(ApiError::method_not_allowed(&[Method::GET]));
            }
            let shop_id = require_shop_or_admin(&principal(req)?, shop)?;
            receivables::get(app, req, shop_id).await
        }
        ["shops", shop, "kpis"] => {
            if req.method() != Method::GET {
                return Err(ApiError::method_not_allowed(&[Method::GET]));
            }
            let shop_id = require_shop_or_admin(&principal(req)?, shop)?;
            kpis::get(app, req, shop_id).await
        }
        _ => Err(ApiError::new(ErrorCode::RouteNotFound, "no such route")),
    }
}

fn parse_date(text: &str) -> Result<BusinessDate, ApiError> {
    BusinessDate::parse(text).map_err(|e| ApiError::invalid("date", e.to_string()))
}

/// `POST /admin/reconciliations/{date}`: queue the run, answer at once.
async fn request_run(app: &App, date: BusinessDate) -> Result<Response<Body>, ApiError> {
    let today = BusinessDate::of(app.clock.now());
    if date > today {
        return Err(ApiError::new(
            ErrorCode::DateInFuture,
            format!("{date} has not begun in Beijing (today is {today})"),
        ));
    }
    app.requests
        .request(date)
        .await
        .map_err(|RequestError(e)| ApiError::unavailable(e))?;
    Ok(json(
        StatusCode::ACCEPTED,
        &json!({ "date": date, "status": "QUEUED" }),
    ))
}

/// `GET /shops/{shop_id}/reconciliations/{date}?cursor=N&limit=M`; the
/// whole day as a page when a browser asks (`Accept: text/html`).
async fn get_day(
    app: &App,
    req: &Request,
    shop_id: qrpay_domain::ShopId,
    date: BusinessDate,
) -> Result<Response<Body>, ApiError> {
    let query = req.query_string_parameters();
    let file_form = file_form(req)?;
    let cursor = match query.first("cursor") {
        Some(c) => c
            .parse::<usize>()
            .map_err(|_| ApiError::invalid("cursor", "cursor is not one this API gave out"))?,
        None => 0,
    };
    let limit = match query.first("limit") {
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=MAX_ROWS).contains(l))
            .ok_or_else(|| ApiError::invalid("limit", format!("limit must be 1-{MAX_ROWS}")))?,
        None => DEFAULT_ROWS,
    };
    let summary = reconciliation_of(app, &shop_id, date).await?;
    let mut rows = report_rows(app, &summary).await?;
    let resolutions = app.resolutions.list_resolutions(&shop_id, date).await?;
    let counts = resolutions::overlay(&mut rows, resolutions);
    match file_form {
        Some(FileForm::Csv(lang)) => {
            let name = report_name(&summary, "csv");
            return Ok(attachment(report_csv(&rows, lang), CSV_CONTENT_TYPE, &name));
        }
        Some(FileForm::Xlsx(lang)) => {
            let bytes = report_xlsx(&rows, lang).map_err(|e| ApiError::internal(e.to_string()))?;
            let name = report_name(&summary, "xlsx");
            return Ok(attachment(bytes, XLSX_CONTENT_TYPE, &name));
        }
        // A browser: the same report as a page to look at (SPEC §11).
        None if wants_html(req) => return Ok(report_page(render_day(&summary, &rows))),
        None => {}
    }
    let total = rows.len();
    let page: Vec<Value> = rows.into_iter().skip(cursor).take(limit).collect();
    let next = (cursor + page.len() < total).then(|| (cursor + page.len()).to_string());
    Ok(json(
        StatusCode::OK,
        &json!({
            "shop_id": shop_id,
            "date": date,
            "summary": summary,
            "resolutions": counts.to_json(),
            "rows": page,
            "next_cursor": next,
        }),
    ))
}

/// A report asked for as a file: `format=csv` or `format=xlsx`, both made
/// from the report's rows with what was resolved since, headers in `lang`
/// (`zh` default).
#[derive(Debug, Clone, Copy)]
enum FileForm {
    Csv(Lang),
    Xlsx(Lang),
}

/// A shop's reconciliation of a day, or `404 RECONCILIATION_NOT_FOUND`.
pub(crate) async fn reconciliation_of(
    app: &App,
    shop_id: &qrpay_domain::ShopId,
    date: BusinessDate,
) -> Result<qrpay_domain::ReconciliationSummary, ApiError> {
    app.reconciliations
        .get_reconciliation(shop_id, date)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::ReconciliationNotFound,
                format!("no reconciliation of {date} for this shop yet"),
            )
        })
}

/// The rows of a shop's report of a day (the nightly JSON object), as
/// written: resolutions not yet shown.
pub(crate) async fn report_rows(
    app: &App,
    summary: &qrpay_domain::ReconciliationSummary,
) -> Result<Vec<Value>, ApiError> {
    let report = app
        .objects
        .get(&summary.report_json)
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?
        .ok_or_else(|| ApiError::unavailable("the report file is missing; re-run the day"))?;
    let unreadable = |e: String| {
        ApiError::internal(format!(
            "report of {} {}: {e}",
            summary.shop_id, summary.date
        ))
    };
    let report: Value = serde_json::from_slice(&report).map_err(|e| unreadable(e.to_string()))?;
    qrpay_reconcile::report_json::rows_of(report).map_err(unreadable)
}

/// `None`: the JSON answer (`format=json` or no format).
fn file_form(req: &Request) -> Result<Option<FileForm>, ApiError> {
    let query = req.query_string_parameters();
    let lang = match query.first("lang") {
        Some(text) => {
            Lang::parse(text).ok_or_else(|| ApiError::invalid("lang", "lang is zh or en"))?
        }
        None => Lang::Zh,
    };
    match query.first("format") {
        None | Some("json") => Ok(None),
        Some("csv") => Ok(Some(FileForm::Csv(lang))),
        Some("xlsx") => Ok(Some(FileForm::Xlsx(lang))),
        Some(_) => Err(ApiError::invalid("format", "format is json, csv or xlsx")),
    }
}

/// `report-{shop}-{date}.{extension}`: the name a report file is saved under.
fn report_name(summary: &qrpay_domain::ReconciliationSummary, extension: &str) -> String {
    format!("report-{}-{}.{extension}", summary.shop_id, summary.date)
}

/// Runs requested reconciliations in this process, in the background (the
/// local stack, tests). `wait` lets a caller see them finish.
pub struct InProcessRuns {
    reconciler: Arc<Reconciler>,
    clock: Arc<dyn Clock>,
    running: Mutex<Vec<tokio::task::JoinHandle<Result<RunReport, String>>>>,
}

impl InProcessRuns {
    pub fn new(reconciler: Arc<Reconciler>, clock: Arc<dyn Clock>) -> InProcessRuns {
        InProcessRuns {
            reconciler,
            clock,
            running: Mutex::new(Vec::new()),
        }
    }

    /// Waits for every run requested so far; their reports, in order.
    pub async fn wait(&self) -> Vec<Result<RunReport, String>> {
        let handles: Vec<_> =
            std::mem::take(&mut *self.running.lock().unwrap_or_else(|p| p.into_inner()));
        let mut reports = Vec::new();
        for handle in handles {
            reports.push(handle.await.unwrap_or_else(|e| Err(e.to_string())));
        }
        reports
    }
}

impl InProcessRuns {
    /// Runs `date` in the background after `delay`.
    fn spawn_run(&self, date: BusinessDate, delay: Duration) {
        let reconciler = self.reconciler.clone();
        let clock = self.clock.clone();
        let handle = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            run_in_turn(&reconciler, clock.as_ref(), date)
                .await
                .map_err(|e| format!("reconciliation of {date} failed: {e}"))
        });
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(handle);
    }
}

/// Runs `date`; while another run of the day holds it, waits for its turn
/// (as SQS retries a queued request), for as long as a run may last.
async fn run_in_turn(
    reconciler: &Reconciler,
    clock: &dyn Clock,
    date: BusinessDate,
) -> Result<RunReport, ReconcileError> {
    let patience = Duration::from_secs(RUN_LEASE_S.unsigned_abs());
    let give_up = tokio::time::Instant::now() + patience;
    loop {
        match reconciler.run(date, clock.now()).await {
            Err(ReconcileError::InProgress(_)) if tokio::time::Instant::now() < give_up => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            other => return other,
        }
    }
}

#[async_trait::async_trait]
impl RunRequests for InProcessRuns {
    async fn request(&self, date: BusinessDate) -> Result<(), RequestError> {
        self.spawn_run(date, Duration::ZERO);
        Ok(())
    }

    /// Runs after `delay` (bills are not fetched again here), as SQS
    /// delivers a delayed message, in its turn like a request: not a run
    /// `wait` waits for.
    async fn ask_again(&self, request: &RunRequest, delay: Duration) -> Result<(), RequestError> {
        let date = request.business_date().map_err(RequestError)?;
        let (reconciler, clock) = (self.reconciler.clone(), self.clock.clone());
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Err(e) = run_in_turn(&reconciler, clock.as_ref(), date).await {
                tracing::warn!(%date, error = %e, "the run asked for again failed");
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use qrpay_reconcile::Outcome;
    use qrpay_store::alerts::AlertCode;

    /// The reconciliation raises `RECON_<class>` per discrepancy class (every
    /// outcome but a match or our own movement, and failed deductions) and
    /// `RECON_INPUT_GAP`:
    /// each is one of the system's alert codes.
    #[test]
    fn every_reconciliation_alert_is_a_listed_alert_code() {
        let classes = Outcome::ALL
            .into_iter()
            .filter(|o| o.is_discrepancy())
            .map(Outcome::as_str)
            .chain(["DEDUCTION_FAILED", "INPUT_GAP"]);
        for class in classes {
            let code = format!("RECON_{class}");
            assert!(AlertCode::parse(&code).is_some(), "{code}");
        }
    }

    #[test]
    fn the_schedule_reconciles_the_previous_beijing_day() {
        let day = |text| BusinessDate::parse(text).ok();
        // 10:30 Beijing on the 21st is 02:30 UTC: yesterday is the 20th.
        let at = Utc.with_ymd_and_hms(2026, 11, 21, 2, 30, 0).single();
        assert_eq!(at.map(scheduled_date), day("2026-11-20"));
        // 00:30 Beijing on the 21st is still the 20th in UTC: yesterday in
        // Beijing is the 20th all the same.
        let at = Utc.with_ymd_and_hms(2026, 11, 20, 16, 30, 0).single();
        assert_eq!(at.map(scheduled_date), day("2026-11-20"));
        // 23:30 Beijing on the 20th: yesterday is the 19th.
        let at = Utc.with_ymd_and_hms(2026, 11, 20, 15, 30, 0).single();
        assert_eq!(at.map(scheduled_date), day("2026-11-19"));
    }
}
