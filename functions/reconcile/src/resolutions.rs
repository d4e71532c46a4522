//! Resolutions of the daily report's discrepancies (SPEC §11, `处理结果`):
//! `PUT /shops/{shop_id}/reconciliations/{date}/rows/{row_id}/resolution`
//! records one (the shop's owner or a platform admin), and every reading of
//! the report shows the ones that still speak for their row.

use std::collections::HashMap;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use qrpay_domain::resolution::{Assignee, ResolutionNote};
use qrpay_domain::{
    BusinessDate, Finding, Principal, Resolution, ResolutionRequest, ResolutionStatus, RowId,
    ShopId,
};
use qrpay_http::{json, json_object, ApiError, ErrorCode};
use qrpay_reconcile::Outcome;
use serde_json::{json, Value};

use crate::App;

/// A resolution's body is small: a status, a note and a name.
const MAX_BODY_BYTES: usize = 4 * 1024;

/// How many of the day's discrepancies stand where.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResolutionCounts {
    pub open: u64,
    pub resolved: u64,
    pub waived: u64,
}

impl ResolutionCounts {
    pub fn to_json(self) -> Value {
        json!({ "open": self.open, "resolved": self.resolved, "waived": self.waived })
    }
}

/// The finding a report row shows (its JSON form), as a resolution
/// remembers it.
pub fn finding_of(row: &Value) -> Finding {
    let text = |key: &str| row.get(key).and_then(Value::as_str);
    Finding::of(
        text("outcome").unwrap_or(""),
        text("ledger_amount"),
        text("provider_amount"),
        text("deduction_status"),
    )
}

fn is_discrepancy(row: &Value) -> bool {
    row.get("outcome")
        .and_then(Value::as_str)
        .and_then(Outcome::parse)
        .is_some_and(Outcome::is_discrepancy)
}

fn row_id_of(row: &Value) -> Option<RowId> {
    row.get("row_id")
        .and_then(Value::as_str)
        .and_then(|id| RowId::parse(id).ok())
}

/// Shows each resolution on its row while the row's finding is the one it
/// was recorded against: the `resolution` cell becomes what was recorded
/// and `resolution_record` carries it field by field. Every discrepancy
/// gets a `resolution_status` (`OPEN` until someone records otherwise);
/// other rows `null`.
pub fn overlay(rows: &mut [Value], resolutions: Vec<Resolution>) -> ResolutionCounts {
    let by_row: HashMap<RowId, Resolution> =
        resolutions.into_iter().map(|r| (r.row_id, r)).collect();
    let mut counts = ResolutionCounts::default();
    for row in rows.iter_mut() {
        let discrepancy = is_discrepancy(row);
        let applying = row_id_of(row)
            .and_then(|id| by_row.get(&id))
            .filter(|r| discrepancy && r.applies_to(&finding_of(row)));
        let status = match applying {
            Some(r) => Some(r.current.status),
            None => discrepancy.then_some(ResolutionStatus::Open),
        };
        match status {
            Some(ResolutionStatus::Open) => counts.open += 1,
            Some(ResolutionStatus::Resolved) => counts.resolved += 1,
            Some(ResolutionStatus::Waived) => counts.waived += 1,
            None => {}
        }
        let Value::Object(map) = row else { continue };
        map.insert(
            "resolution_status".into(),
            status.map_or(Value::Null, |s| Value::from(s.as_str())),
        );
        map.insert(
            "resolution_record".into(),
            applying.map_or(Value::Null, |r| change_json(&r.current)),
        );
        if let Some(r) = applying {
            map.insert("resolution".into(), Value::from(r.cell_text()));
        }
    }
    counts
}

fn change_json(change: &qrpay_domain::ResolutionChange) -> Value {
    json!({
        "status": change.status.as_str(),
        "note": change.note,
        "assignee": change.assignee,
        "updated_by": change.by,
        "updated_at": qrpay_domain::time::rfc3339_beijing(change.at),
    })
}

/// The answer to a recorded resolution.
fn resolution_json(resolution: &Resolution) -> Value {
    let mut body = change_json(&resolution.current);
    if let Value::Object(map) = &mut body {
        map.insert("shop_id".into(), json!(resolution.shop_id));
        map.insert("date".into(), json!(resolution.date));
        map.insert("row_id".into(), json!(resolution.row_id));
        map.insert("version".into(), json!(resolution.version));
        let history: Vec<Value> = resolution.history.iter().map(change_json).collect();
        map.insert("history".into(), Value::Array(history));
    }
    body
}

fn parse_request(req: &Request) -> Result<ResolutionRequest, ApiError> {
    let body = json_object(req, MAX_BODY_BYTES)?;
    body.only(&["status", "note", "assignee"])?;
    let status = body.required_str("status", 16)?;
    let status = ResolutionStatus::parse(status)
        .ok_or_else(|| ApiError::invalid("status", "status is OPEN, RESOLVED or WAIVED"))?;
    // An empty note or assignee says nothing: kept as none.
    let note: Option<ResolutionNote> = body.optional_text("note")?;
    let assignee: Option<Assignee> = body.optional_text("assignee")?;
    Ok(ResolutionRequest {
        status,
        note: note.filter(|n| !n.as_str().is_empty()),
        assignee: assignee.filter(|a| !a.as_str().is_empty()),
    })
}

/// `PUT …/reconciliations/{date}/rows/{row_id}/resolution`.
pub async fn put(
    app: &App,
    req: &Request,
    principal: &Principal,
    shop_id: ShopId,
    date: BusinessDate,
    row: &str,
) -> Result<Response<Body>, ApiError> {
    let row_id = RowId::parse(row).map_err(|e| ApiError::invalid("row_id", e.to_string()))?;
    let request = parse_request(req)?;
    let summary = crate::reconciliation_of(app, &shop_id, date).await?;
    let rows = crate::report_rows(app, &summary).await?;
    let Some(found) = rows.iter().find(|r| row_id_of(r) == Some(row_id)) else {
        return Err(ApiError::new(
            ErrorCode::ReportRowNotFound,
            format!("the report of {date} has no row {row_id}"),
        ));
    };
    if !is_discrepancy(found) {
        return Err(ApiError::new(
            ErrorCode::ReportRowNotADiscrepancy,
            format!("row {row_id} matched: there is nothing to resolve"),
        ));
    }
    let resolution = app
        .resolutions
        .record_resolution(
            (shop_id, date, row_id),
            request,
            finding_of(found),
            principal.operator_id.clone(),
            app.clock.now(),
        )
        .await?;
    tracing::info!(
        shop_id = %resolution.shop_id,
        date = %date,
        row_id = %row_id,
        status = resolution.current.status.as_str(),
        version = resolution.version,
        "report row resolution recorded"
    );
    Ok(json(StatusCode::OK, &resolution_json(&resolution)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use qrpay_domain::OperatorId;

    fn row(id: RowId, outcome: &str, provider_amount: &str) -> Value {
        json!({
            "row_id": id.to_string(),
            "outcome": outcome,
            "ledger_amount": "10.00",
            "provider_amount": provider_amount,
            "deduction_status": null,
            "resolution": "OPEN: look into it",
        })
    }

    fn resolved(id: RowId, finding: Finding) -> Resolution {
        Resolution::record(
            None,
            (
                ShopId::parse("shop-1").expect("shop"),
                BusinessDate::parse("2026-12-02").expect("date"),
                id,
            ),
            ResolutionRequest {
                status: ResolutionStatus::Resolved,
                note: None,
                assignee: None,
            },
            finding,
            OperatorId::parse("owner-1").expect("operator"),
            chrono::Utc
                .with_ymd_and_hms(2026, 12, 3, 1, 0, 0)
                .single()
                .expect("time"),
        )
    }

    #[test]
    fn a_resolution_shows_only_on_its_unchanged_discrepancy() {
        let a = RowId::of("PAYMENT", "a", None, 0, None);
        let b = RowId::of("PAYMENT", "b", None, 0, None);
        let c = RowId::of("PAYMENT", "c", None, 0, None);
        let mut rows = vec![
            row(a, "AMOUNT_MISMATCH", "9.00"),
            // Recorded when the provider said 9.00; a re-run now says 8.00.
            row(b, "AMOUNT_MISMATCH", "8.00"),
            row(c, "MATCHED", "10.00"),
        ];
        let stale = Finding::of("AMOUNT_MISMATCH", Some("10.00"), Some("9.00"), None);
        let recorded = vec![
            resolved(a, finding_of(&rows[0])),
            resolved(b, stale),
            resolved(c, finding_of(&rows[2])),
        ];
        let counts = overlay(&mut rows, recorded);
        assert_eq!(
            counts,
            ResolutionCounts {
                open: 1,
                resolved: 1,
                waived: 0
            }
        );
        assert_eq!(rows[0]["resolution_status"], "RESOLVED");
        assert_eq!(
            rows[0]["resolution"],
            "RESOLVED; by owner-1 at 2026-12-03T09:00:00.000+08:00"
        );
        assert_eq!(rows[0]["resolution_record"]["updated_by"], "owner-1");
        assert_eq!(rows[1]["resolution_status"], "OPEN");
        assert_eq!(rows[1]["resolution"], "OPEN: look into it");
        assert_eq!(rows[1]["resolution_record"], Value::Null);
        // A matched row has nothing to resolve, whatever is stored for it.
        assert_eq!(rows[2]["resolution_status"], Value::Null);
        assert_eq!(rows[2]["resolution_record"], Value::Null);
    }
}
