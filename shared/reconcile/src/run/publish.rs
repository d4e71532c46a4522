//! Publishing: each shop's reports uploaded and its summary stored (16
//! shops at a time), stale reports of an earlier run removed, the input
//! errors listed, and one alert per discrepancy class raised — once: a
//! re-run with the same findings raises nothing new.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use qrpay_domain::money_text::format_fen;
use qrpay_domain::{BusinessDate, ShopId};
use qrpay_store::alerts::{Alert, Alerts};
use qrpay_store::{ClaimStore, ReconciliationStore};

use super::error::ReconcileError;
use super::findings::{ClassAlert, Gathered};
use super::inputs::InputErrors;
use super::reports::ShopReport;
use crate::matcher::Outcome;
use crate::objects::{report_key, reports_prefix, ObjectStore};
use crate::report::ShopTally;
use crate::spill::fnv1a;

/// Shops whose reports are uploaded at once.
const PUBLISH_CONCURRENCY: usize = 16;
/// Shops an alert names.
const ALERT_SHOPS: usize = 5;

/// What publishing the reports leaves for the run's own report: the keys
/// written and the totals over every shop. The shops' summaries themselves
/// are gone to the store by then (a day of 10,000 shops holds them once,
/// not twice).
pub(super) struct Published {
    pub(super) written: HashSet<String>,
    pub(super) totals: ShopTally,
    pub(super) shops: usize,
}

/// Where a run of `date` publishes to.
pub(super) struct Publisher<'a> {
    pub(super) date: BusinessDate,
    pub(super) objects: &'a Arc<dyn ObjectStore>,
    pub(super) reconciliations: &'a Arc<dyn ReconciliationStore>,
    pub(super) claims: &'a dyn ClaimStore,
    pub(super) alerts: &'a dyn Alerts,
}

impl Publisher<'_> {
    /// Uploads every shop's reports and stores its summary
    /// (`PUBLISH_CONCURRENCY` shops at a time: object PUTs are slow one by
    /// one); the keys written and the totals.
    pub(super) async fn reports(
        &self,
        reports: Vec<ShopReport>,
    ) -> Result<Published, ReconcileError> {
        let date = self.date;
        let mut published = Published {
            written: HashSet::new(),
            totals: ShopTally::default(),
            shops: reports.len(),
        };
        let mut pending = tokio::task::JoinSet::new();
        for done in reports {
            let shop = done.summary.shop_id.to_string();
            published.written.insert(report_key(date, &shop, "csv"));
            published.written.insert(report_key(date, &shop, "json"));
            published.totals.merge(&done.tally);
            if pending.len() >= PUBLISH_CONCURRENCY {
                if let Some(result) = pending.join_next().await {
                    result.map_err(|e| ReconcileError::Worker(e.to_string()))??;
                }
            }
            let (objects, store) = (self.objects.clone(), self.reconciliations.clone());
            let ShopReport {
                csv, json, summary, ..
            } = done;
            pending.spawn(async move {
                let shop = summary.shop_id.to_string();
                objects
                    .upload(
                        &report_key(date, &shop, "csv"),
                        &csv,
                        "text/csv; charset=utf-8",
                    )
                    .await?;
                objects
                    .upload(&report_key(date, &shop, "json"), &json, "application/json")
                    .await?;
                store.put_reconciliation(&summary).await?;
                Ok::<(), ReconcileError>(())
            });
        }
        while let Some(result) = pending.join_next().await {
            result.map_err(|e| ReconcileError::Worker(e.to_string()))??;
        }
        Ok(published)
    }

    /// Removes reports and summaries an earlier run wrote for shops this
    /// run has nothing for.
    pub(super) async fn remove_stale(
        &self,
        written: &HashSet<String>,
    ) -> Result<(), ReconcileError> {
        for key in self.objects.list(&reports_prefix(self.date)).await? {
            if written.contains(&key) {
                continue;
            }
            self.objects.delete(&key).await?;
            let shop = key
                .rsplit('/')
                .next()
                .and_then(|name| name.split('.').next())
                .and_then(|s| ShopId::parse(s).ok());
            if let Some(shop) = shop {
                self.reconciliations
                    .delete_reconciliation(&shop, self.date)
                    .await?;
            }
        }
        Ok(())
    }

    /// Lists the first unreadable input lines (`runs/{date}/input-errors.json`),
    /// or removes an earlier run's list when every line was read.
    pub(super) async fn input_errors(&self, errors: &InputErrors) -> Result<(), ReconcileError> {
        let date = self.date;
        let key = format!("runs/{date}/input-errors.json");
        if errors.count == 0 {
            return Ok(self.objects.delete(&key).await?);
        }
        let listed: Vec<_> = errors
            .first
            .iter()
            .map(|e| serde_json::json!({"source": e.source, "line": e.error.line, "message": e.error.message}))
            .collect();
        let body = serde_json::json!({"date": date, "count": errors.count, "first": listed});
        Ok(self
            .objects
            .put(&key, body.to_string().into_bytes(), "application/json")
            .await?)
    }

    /// Raises one alert per discrepancy class and one for the input gaps,
    /// each only if this content was not raised before; the codes raised.
    pub(super) async fn alerts(
        &self,
        now: DateTime<Utc>,
        gathered: &Gathered,
        gaps: &[String],
    ) -> Result<Vec<String>, ReconcileError> {
        let mut alerts: Vec<Alert> = gathered
            .classes
            .iter()
            .map(|(class, found)| self.class_alert(class, found))
            .collect();
        if !gaps.is_empty() {
            alerts.push(self.gap_alert(gaps));
        }
        let mut raised = Vec::new();
        for alert in alerts {
            // Same findings on a re-run → same fingerprint → not raised again.
            let fingerprint = fnv1a(alert.message.as_bytes());
            let once = format!("recon-{}-{}-{fingerprint:016x}", self.date, alert.code);
            if self.claims.claim_once(&once, now).await? {
                self.alerts.raise(&alert).await;
                raised.push(alert.code);
            }
        }
        Ok(raised)
    }

    /// The alert about one discrepancy class: how many, where, examples,
    /// and what to do.
    fn class_alert(&self, class: &str, found: &ClassAlert) -> Alert {
        let date = self.date;
        let mut shops: Vec<&str> = found.shops.iter().map(String::as_str).collect();
        shops.sort_unstable();
        shops.truncate(ALERT_SHOPS);
        let more = found.shops.len().saturating_sub(shops.len());
        let what = if class == "DEDUCTION_FAILED" {
            "failed instalment deduction(s)".to_owned()
        } else {
            format!("{class} row(s)")
        };
        Alert {
            code: format!("RECON_{class}"),
            message: format!(
                "Reconciliation of {date}: {} {what} in {} shop(s) ({}{}), {} involved. For example: {}. Reports: {}. {}",
                found.count,
                found.shops.len(),
                shops.join(", "),
                if more > 0 { format!(" and {more} more") } else { String::new() },
                format_fen(found.involved_fen),
                found.examples.join(" | "),
                reports_prefix(date),
                Outcome::parse(class)
                    .map(|o| o.resolution())
                    .unwrap_or("OPEN: contact the buyers or the provider about the failed instalments")
            ),
            shop_id: (found.shops.len() == 1)
                .then(|| found.shops.iter().next().cloned())
                .flatten(),
            reference: format!("reconciliation-{date}-{class}"),
        }
    }

    /// The alert that the run is incomplete: its inputs' gaps.
    fn gap_alert(&self, gaps: &[String]) -> Alert {
        let date = self.date;
        Alert {
            code: "RECON_INPUT_GAP".to_owned(),
            message: format!(
                "Reconciliation of {date} is incomplete: {}",
                gaps.join("; ")
            ),
            shop_id: None,
            reference: format!("reconciliation-{date}-INPUT_GAP"),
        }
    }
}
