//! `GET /shops/{shop_id}/kpis?month=YYYY-MM` (SPEC §11): the month's KPIs,
//! computed from the sum of its days' KPI inputs, and the series of days
//! for charts (each day's inputs and KPIs). A day's inputs are:
//! - `RECONCILED`: those the nightly run stored in the shop's summary;
//! - `NO_MOVEMENTS`: the run of the day has ended (`runs/{D}/run.json`) and
//!   wrote the shop no summary, because nothing of the shop moved that day:
//!   no money in or out, and the day's activity and receivables read from
//!   the store ([`inputs_without_movements`], the days read at once).
//!   Abandoned checkouts and overdue periods count on quiet days too. The
//!   receivables are judged as of the day from the orders that still owe
//!   something when asked, as the run judges its day the next morning: an
//!   order repaid in full since no longer counts in an earlier quiet day's
//!   due and overdue;
//! - `MISSING` otherwise: not reconciled yet, or reconciled before KPIs
//!   existed (re-run it).
//!
//! The formulas are in `qrpay_domain::kpis`; this only reads and renders.

use std::collections::{BTreeMap, BTreeSet};

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use qrpay_domain::{BusinessDate, BusinessMonth, KpiInputs, ShopId};
use qrpay_http::html::wants_html;
use qrpay_http::{json, ApiError, ErrorCode};
use qrpay_reconcile::run::inputs_without_movements;
use qrpay_report_html::month::render_month;
use qrpay_report_html::report_page;
use serde_json::{json, Value};

use crate::kpi_page::{month_report, DayFigures};
use crate::App;

pub async fn get(app: &App, req: &Request, shop_id: ShopId) -> Result<Response<Body>, ApiError> {
    let month = req
        .query_string_parameters()
        .first("month")
        .ok_or_else(|| ApiError::invalid("month", "month is required (YYYY-MM)"))
        .and_then(|text| {
            BusinessMonth::parse(text).map_err(|e| ApiError::invalid("month", e.to_string()))
        })?;
    let now = app.clock.now();
    let (this_month, today) = (BusinessMonth::of(now), BusinessDate::of(now));
    if month > this_month {
        // A query, not an action: nothing can be known of it (400, as any
        // month out of range), unlike a run asked for a future day (422).
        return Err(ApiError::invalid(
            "month",
            format!("{month} has not begun in Beijing (this month is {this_month})"),
        ));
    }
    app.shops
        .get_shop(&shop_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::ShopNotFound, "shop not found"))?;
    let days: Vec<BusinessDate> = month.days().into_iter().filter(|d| *d <= today).collect();
    let (figures, quiet) = day_figures(app, &shop_id, month, &days).await?;
    if wants_html(req) {
        // A browser: the month as a page with its charts.
        let report = month_report(&shop_id, month, &figures, now);
        return Ok(report_page(render_month(&report)));
    }
    let month_inputs = KpiInputs::over_days(figures.values().map(|f| &f.inputs));
    let series: Vec<Value> = days
        .iter()
        .map(|date| match figures.get(date) {
            Some(DayFigures { inputs, .. }) => json!({
                "date": date,
                "status": if quiet.contains(date) { "NO_MOVEMENTS" } else { "RECONCILED" },
                "inputs": inputs,
                "kpis": inputs.kpis(),
            }),
            None => json!({ "date": date, "status": "MISSING" }),
        })
        .collect();
    let missing: Vec<&BusinessDate> = days.iter().filter(|d| !figures.contains_key(d)).collect();
    Ok(json(
        StatusCode::OK,
        &json!({
            "shop_id": shop_id,
            "month": month.to_string(),
            "days_reconciled": figures.len(),
            "missing_days": missing,
            "inputs": month_inputs,
            "kpis": month_inputs.kpis(),
            "days": series,
        }),
    ))
}

/// The KPI inputs (and failed deductions) of each of `days` the shop has
/// them for, in date order, and which of those days had no movements (the
/// summaries read at once: a month is at most 31).
async fn day_figures(
    app: &App,
    shop_id: &ShopId,
    month: BusinessMonth,
    days: &[BusinessDate],
) -> Result<(BTreeMap<BusinessDate, DayFigures>, BTreeSet<BusinessDate>), ApiError> {
    let mut reads = tokio::task::JoinSet::new();
    for &date in days {
        let (store, shop_id) = (app.reconciliations.clone(), shop_id.clone());
        reads.spawn(async move { (date, store.get_reconciliation(&shop_id, date).await) });
    }
    let (mut stored, mut summarized) = (BTreeMap::new(), BTreeSet::new());
    while let Some(done) = reads.join_next().await {
        let (date, summary) = done.map_err(|e| ApiError::internal(e.to_string()))?;
        let Some(summary) = summary? else { continue };
        summarized.insert(date);
        if let Some(inputs) = summary.kpi_inputs {
            let deductions_failed = summary.deductions_failed;
            stored.insert(
                date,
                DayFigures {
                    inputs,
                    deductions_failed,
                },
            );
        }
    }
    let run = days_run(app, month).await?;
    let quiet: Vec<BusinessDate> = days
        .iter()
        .filter(|d| run.contains(d) && !summarized.contains(d))
        .copied()
        .collect();
    let inputs = inputs_without_movements(&app.reconciler.kpi_reads, shop_id, &quiet).await?;
    for (&date, inputs) in quiet.iter().zip(inputs) {
        // Nothing moved: no deduction failed either.
        let figures = DayFigures {
            inputs,
            deductions_failed: 0,
        };
        stored.insert(date, figures);
    }
    Ok((stored, quiet.into_iter().collect()))
}

/// The days of `month` a nightly run has finished: their
/// `runs/{D}/run.json`, written last, listed at once.
async fn days_run(app: &App, month: BusinessMonth) -> Result<BTreeSet<BusinessDate>, ApiError> {
    let keys = app
        .objects
        .list(&format!("runs/{month}-"))
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    Ok(keys
        .iter()
        .filter_map(|key| key.strip_prefix("runs/")?.strip_suffix("/run.json"))
        .filter_map(|date| BusinessDate::parse(date).ok())
        .collect())
}
