//! One reconciliation run of business day D (SPEC §6), start to end, in
//! bounded memory however large the day. The phases, in order, one file
//! each:
//! - `inputs`: download the statements and bank receipts; spill the
//!   ledger (paged from the store) and the statements (parsed line by line,
//!   two threads) at once into partitions by the hash of the order/payout
//!   id, buffered up to [`crate::spill::DEFAULT_BUDGET`] per writer and
//!   spilled beyond it to one scratch file per writer.
//! - `matching`: each partition loaded, sorted and matched on its own (two
//!   threads); report rows to result buckets by shop. Then `settlement`:
//!   the provider's batches against the bank's receipts.
//! - `reports`: each bucket indexed and written as per-shop CSV and JSON.
//! - `publish`: uploads, summaries, stale-report removal, and one alert per
//!   discrepancy class, once.
//!
//! This file holds the run's public face and its order: the day's lease,
//! then the phases.
//!
//! A day too large for one 15-minute Lambda invocation would be split by
//! ledger part ([`qrpay_store::LEDGER_DAY_PARTS`], by shop hash): the
//! schedule fans out one request per part range, and each invocation
//! reconciles only its shops (its ledger parts; the statement rows whose
//! shop hashes into its range). Not built yet: one invocation handles 10
//! million movements in about half a minute (README, "Reconciliation at
//! scale").

mod error;
mod findings;
mod inputs;
mod kpi;
mod matching;
mod publish;
mod reports;
mod settlement;
mod threads;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use qrpay_domain::{BusinessDate, Provider};
use qrpay_store::alerts::Alerts;
use qrpay_store::{ClaimStore, KpiReads, ReconciliationStore};

use self::findings::Gathered;
use self::inputs::{read_inputs, InputErrors, InputSources, Inputs};
use self::matching::{anomaly_notes, match_all, result_buckets};
use self::publish::{Published, Publisher};
use self::reports::{write_reports, ReportRun, ShopReport};
use self::threads::blocking;
use crate::matcher::Outcome;
use crate::objects::{reports_prefix, ObjectStore};
use crate::report::ShopTally;

pub use self::error::ReconcileError;
pub use self::inputs::{LedgerSource, StoreLedger};
pub use self::kpi::inputs_without_movements;

/// The longest a run holds its day (Lambda's limit); a run that died
/// without giving its day back frees it after this.
pub const RUN_LEASE_S: i64 = 15 * 60;

/// The lease one run of `date` holds, whoever started it (the schedule, a
/// queued request, the CLI).
pub fn run_lease_key(date: BusinessDate) -> String {
    format!("recon-run-{date}")
}

/// Progress of a long run, for the CLI.
pub type Progress = Arc<dyn Fn(&str) + Send + Sync>;

pub struct Reconciler {
    pub ledger: Arc<dyn LedgerSource>,
    /// The day's anomalies and the shops' summaries.
    pub reconciliations: Arc<dyn ReconciliationStore>,
    /// The day's lease and the alerts already raised.
    pub claims: Arc<dyn ClaimStore>,
    /// What each shop's KPIs read beyond the ledger (SPEC §11): the day's
    /// activity counters and the receivables.
    pub kpi_reads: Arc<dyn KpiReads>,
    pub objects: Arc<dyn ObjectStore>,
    pub alerts: Arc<dyn Alerts>,
    /// Scratch space (Lambda: `/tmp`); a run cleans up after itself.
    pub work_dir: PathBuf,
    /// Spill partitions; more means less memory per partition.
    pub partitions: usize,
    /// Provider of payouts (their ledger entries name no provider).
    pub payout_provider: Provider,
    pub progress: Option<Progress>,
}

/// Default spill partitions: 10 million movements a side stay near 80K
/// records (~8 MiB decoded) per partition. Partitions cost no files (a
/// writer's partitions share its spill file), only a buffer each.
pub const DEFAULT_PARTITIONS: usize = 256;

/// What a run did, for the caller, the CLI and `runs/{date}/run.json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RunReport {
    pub date: BusinessDate,
    pub run_id: String,
    pub ledger_rows: u64,
    pub statement_rows: u64,
    pub report_rows: u64,
    pub shops: usize,
    pub outcomes: BTreeMap<String, u64>,
    pub discrepancies: u64,
    pub deductions_failed: u64,
    pub input_errors: u64,
    pub gaps: Vec<String>,
    pub alerts_raised: Vec<String>,
    pub reports_prefix: String,
    pub elapsed_ms: u64,
}

/// The run's scratch directory, removed however the run ends.
struct Scratch(PathBuf);

impl Scratch {
    fn create(work_dir: &Path, run_id: &str) -> io::Result<Scratch> {
        let dir = work_dir.join(format!("recon-{run_id}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What the run found, ready to publish.
struct Findings {
    inputs_read: InputsRead,
    gathered: Gathered,
    reports: Vec<ShopReport>,
}

/// What reading the inputs counted and missed.
struct InputsRead {
    ledger_rows: u64,
    statement_rows: u64,
    gaps: Vec<String>,
    errors: InputErrors,
}

impl Reconciler {
    fn say(&self, message: &str) {
        tracing::info!(target: "reconcile", "{message}");
        if let Some(progress) = &self.progress {
            progress(message);
        }
    }

    /// Reconciles business day `date`. A re-run replaces the day's reports
    /// and summaries, and raises only alerts it has not raised before. One
    /// run per day at a time: while another holds the day's lease, this one
    /// answers [`ReconcileError::InProgress`] and changes nothing.
    pub async fn run(
        &self,
        date: BusinessDate,
        now: DateTime<Utc>,
    ) -> Result<RunReport, ReconcileError> {
        let run_id = format!("{date}-{}", qrpay_domain::ids::unique_token(now));
        let lease = run_lease_key(date);
        let until = now + chrono::Duration::seconds(RUN_LEASE_S);
        if !self
            .claims
            .acquire_lease(&lease, &run_id, now, until)
            .await?
        {
            return Err(ReconcileError::InProgress(date));
        }
        let result = self.run_holding_the_day(date, now, run_id.clone()).await;
        if let Err(err) = self.claims.release_lease(&lease, &run_id).await {
            tracing::warn!(%date, error = %err, "could not give the day back; the lease runs out by itself");
        }
        result
    }

    /// The phases, in order, in a scratch directory of their own.
    async fn run_holding_the_day(
        &self,
        date: BusinessDate,
        now: DateTime<Utc>,
        run_id: String,
    ) -> Result<RunReport, ReconcileError> {
        let started = Instant::now();
        let scratch = Scratch::create(&self.work_dir, &run_id)?;
        let findings = self.find(&scratch.0, date, now, &run_id).await?;
        let publisher = Publisher {
            date,
            objects: &self.objects,
            reconciliations: &self.reconciliations,
            claims: self.claims.as_ref(),
            alerts: self.alerts.as_ref(),
        };
        let Findings {
            inputs_read,
            gathered,
            reports,
        } = findings;
        let published = publisher.reports(reports).await?;
        let written = &published.written;
        self.say(&format!("{date}: {} reports published", written.len()));
        publisher.remove_stale(written).await?;
        publisher.input_errors(&inputs_read.errors).await?;
        let alerts_raised = publisher.alerts(now, &gathered, &inputs_read.gaps).await?;
        let report = run_report(date, run_id, inputs_read, published, alerts_raised, started);
        let json = serde_json::to_vec_pretty(&report).map_err(io::Error::other)?;
        self.objects
            .put(&format!("runs/{date}/run.json"), json, "application/json")
            .await?;
        self.say(&format!(
            "{date}: {} rows in {} shops, {} discrepancies, {} ms",
            report.report_rows, report.shops, report.discrepancies, report.elapsed_ms
        ));
        Ok(report)
    }

    /// Reads and spills the inputs, matches them and writes every shop's
    /// reports under `dir`.
    async fn find(
        &self,
        dir: &Path,
        date: BusinessDate,
        now: DateTime<Utc>,
        run_id: &str,
    ) -> Result<Findings, ReconcileError> {
        let say = |message: &str| self.say(message);
        let sources = InputSources {
            ledger: self.ledger.as_ref(),
            objects: self.objects.as_ref(),
            payout_provider: self.payout_provider,
            say: &say,
        };
        let partitions = self.partitions.max(1);
        let Inputs {
            ledger,
            ledger_rows,
            statements,
            statement_rows,
            settle,
            gaps,
            errors,
        } = read_inputs(&sources, dir, partitions, date).await?;
        let anomalies = anomaly_notes(self.reconciliations.list_anomalies(date).await?);

        let match_dir = dir.to_owned();
        let buckets = result_buckets(ledger_rows + statement_rows);
        let (mut gathered, buckets) = blocking(move || {
            match_all(
                &match_dir, date, buckets, ledger, statements, &anomalies, settle,
            )
        })
        .await?;
        self.say(&format!(
            "{date}: matched; writing reports of {} shops",
            gathered.shops.len()
        ));

        let names = std::mem::take(&mut gathered.shops).into_iter().collect();
        let extras = kpi::read_extras(&self.kpi_reads, date, names).await?;
        let (out_dir, shops) = (dir.join("out"), std::mem::take(&mut gathered.settlements));
        let (gaps_copy, run_id) = (gaps.clone(), run_id.to_owned());
        let reports = blocking(move || {
            let run = ReportRun {
                date,
                run_id: &run_id,
                now,
                gaps: &gaps_copy,
                extras: &extras,
            };
            write_reports(&out_dir, &run, buckets, shops)
        })
        .await?;
        self.say(&format!("{date}: reports written"));
        let inputs_read = InputsRead {
            ledger_rows,
            statement_rows,
            gaps,
            errors,
        };
        Ok(Findings {
            inputs_read,
            gathered,
            reports,
        })
    }
}

/// `ReconciliationDiscrepancies` by class (the classes found) and
/// `ReconciliationDiscrepanciesTotal` (zero included, so an alarm sees
/// every run).
fn count_discrepancies(totals: &ShopTally) {
    use qrpay_store::metrics::{self, MetricName, Point, RECONCILIATION};
    let mut total = 0;
    for outcome in Outcome::ALL.into_iter().filter(|o| o.is_discrepancy()) {
        let count = totals.outcomes[outcome.index()];
        total += count;
        if count > 0 {
            metrics::put(
                Point::count(MetricName::ReconciliationDiscrepancies, RECONCILIATION)
                    .with("Class", outcome.as_str())
                    .value(count as f64),
            );
        }
    }
    metrics::put(
        Point::count(MetricName::ReconciliationDiscrepanciesTotal, RECONCILIATION)
            .value(total as f64),
    );
}

/// The run's totals over every shop's report.
fn run_report(
    date: BusinessDate,
    run_id: String,
    read: InputsRead,
    published: Published,
    alerts_raised: Vec<String>,
    started: Instant,
) -> RunReport {
    let Published { totals, shops, .. } = published;
    count_discrepancies(&totals);
    RunReport {
        date,
        run_id,
        ledger_rows: read.ledger_rows,
        statement_rows: read.statement_rows,
        report_rows: totals.rows(),
        shops,
        outcomes: totals.outcome_counts(),
        discrepancies: totals.discrepancies(),
        deductions_failed: totals.deductions_failed,
        input_errors: read.errors.count,
        gaps: read.gaps,
        alerts_raised,
        reports_prefix: reports_prefix(date),
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}
