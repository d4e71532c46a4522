//! One reconciliation run of business day D (SPEC §6), start to end.
//!
//! Memory stays bounded however large the day:
//! 1. **Spill.** The ledger (paged from the store, part by part) and every
//!    statement (parsed line by line, two threads) become compact records in
//!    `partitions` partitions by the hash of the order/payout id, so every
//!    movement of one order lands in one partition. Partitions buffer in
//!    memory up to a budget ([`crate::spill::DEFAULT_BUDGET`] per writer)
//!    and spill to scratch files beyond it. Both sides spill at once.
//! 2. **Match.** Each partition is loaded, sorted and matched on its own
//!    (two threads); its report rows go, compact, to result buckets by the
//!    hash of the shop id. Memory: one partition per thread.
//! 3. **Report.** Each bucket is grouped by shop through a small index
//!    (24 bytes per row: shop, time, offset) and rendered as that shop's
//!    CSV and JSON; rows are read back by offset, from memory if the bucket
//!    is small, from its file otherwise.
//! 4. **Publish.** Reports are uploaded (16 shops at a time), summaries
//!    stored, stale reports of an earlier run removed, and one alert per
//!    discrepancy class raised — once: a re-run with the same findings
//!    raises nothing new.
//!
//! A day too large for one 15-minute Lambda invocation would be split by
//! ledger part ([`qrpay_store::LEDGER_DAY_PARTS`], by shop hash): the
//! schedule fans out one request per part range, and each invocation
//! reconciles only its shops (its ledger parts; the statement rows whose
//! shop hashes into its range). Not built yet: one invocation handles 10
//! million movements in about half a minute (README, "Reconciliation at
//! scale").

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use qrpay_domain::reconciliation::{average, ratio};
use qrpay_domain::{BusinessDate, LedgerEntry, Provider, ReconciliationSummary, ShopId};
use qrpay_store::alerts::{Alert, Alerts};
use qrpay_store::{LedgerPage, Store, StoreError, LEDGER_DAY_PARTS, MAX_LEDGER_PAGE};
use rust_decimal::Decimal;

use crate::bank::{batch_id, read_receipts};
use crate::matcher::{match_sorted, sort_partition, Finding, Outcome};
use crate::model::{format_fen, LineError, MovementKind, ProviderStatus, StatementRow};
use crate::objects::{
    receipts_key, report_key, reports_prefix, statement_key, ObjectError, ObjectStore,
};
use crate::report::{JsonReport, ReportRow, ShopTally, CSV_BOM, CSV_HEADER};
use crate::spill::{fnv1a, FastMap, Partitions, Rec, Side, Spilled};
use crate::statement::{self, Format};

/// Where the ledger of a day comes from: the store in production, a
/// generator in the benchmark.
#[async_trait]
pub trait LedgerSource: Send + Sync {
    async fn ledger_page(
        &self,
        date: BusinessDate,
        part: u16,
        after: Option<&str>,
        limit: usize,
    ) -> Result<LedgerPage, StoreError>;
}

#[async_trait]
impl<S: Store + ?Sized> LedgerSource for S {
    async fn ledger_page(
        &self,
        date: BusinessDate,
        part: u16,
        after: Option<&str>,
        limit: usize,
    ) -> Result<LedgerPage, StoreError> {
        self.list_day_ledger(date, part, after, limit).await
    }
}

/// A shared store as a ledger source (`Arc<dyn Store>` cannot be turned
/// into `Arc<dyn LedgerSource>` directly).
pub struct StoreLedger(pub Arc<dyn Store>);

#[async_trait]
impl LedgerSource for StoreLedger {
    async fn ledger_page(
        &self,
        date: BusinessDate,
        part: u16,
        after: Option<&str>,
        limit: usize,
    ) -> Result<LedgerPage, StoreError> {
        self.0.list_day_ledger(date, part, after, limit).await
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Objects(#[from] ObjectError),
    #[error("scratch files: {0}")]
    Io(#[from] io::Error),
    #[error("a worker thread failed: {0}")]
    Worker(String),
    #[error("a reconciliation of {0} is already running; this one may start when it ends")]
    InProgress(BusinessDate),
}

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
    pub store: Arc<dyn Store>,
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
/// records (~20 MiB decoded) per partition.
pub const DEFAULT_PARTITIONS: usize = 128;
/// Result buckets (by shop).
const BUCKETS: usize = 64;
/// A bucket up to this size is read into memory to write its reports;
/// bigger ones are read by offset from the file.
const BUCKET_IN_MEMORY: u64 = 64 * 1024 * 1024;
/// Shops whose reports are uploaded at once.
const PUBLISH_CONCURRENCY: usize = 16;
/// Examples kept per alert and per input-error list.
const EXAMPLES: usize = 3;
const ERROR_EXAMPLES: usize = 5;

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

/// A line of an input that could not be read.
#[derive(Debug, Clone)]
struct InputError {
    source: String,
    error: LineError,
}

/// provider → shop → net the provider says it settles, in fen.
type Batches = HashMap<Provider, FastMap<String, i64>>;

/// Applies `change` to the entry of `key` (default if new), allocating the
/// key only the first time it is seen.
fn update<V: Default>(map: &mut FastMap<String, V>, key: &str, change: impl FnOnce(&mut V)) {
    match map.get_mut(key) {
        Some(value) => change(value),
        None => change(map.entry(key.to_owned()).or_default()),
    }
}

/// The statement side, once spilled.
#[derive(Default)]
struct StatementSide {
    rows: u64,
    batches: Batches,
    errors: Vec<InputError>,
    error_count: u64,
    gaps: Vec<String>,
}

/// Per discrepancy class: enough to act on, bounded.
#[derive(Default)]
struct ClassAlert {
    count: u64,
    involved_fen: i64,
    shops: BTreeSet<String>,
    examples: Vec<String>,
}

impl ClassAlert {
    fn add(&mut self, row: &ReportRow<'_>, fen: i64) {
        self.count += 1;
        self.involved_fen = self.involved_fen.saturating_add(fen.abs());
        if !self.shops.contains(row.shop_id) {
            self.shops.insert(row.shop_id.to_owned());
        }
        if self.examples.len() < EXAMPLES {
            self.examples.push(format!(
                "shop {} {} {} {}: {}",
                row.shop_id,
                row.kind,
                row.order_no,
                row.provider_ref.unwrap_or("-"),
                row.note
            ));
        }
    }

    fn merge(&mut self, other: ClassAlert) {
        self.count += other.count;
        self.involved_fen = self.involved_fen.saturating_add(other.involved_fen);
        self.shops.extend(other.shops);
        for e in other.examples {
            if self.examples.len() < EXAMPLES {
                self.examples.push(e);
            }
        }
    }
}

/// What matching gathered: per shop, per alert class.
#[derive(Default)]
struct Gathered {
    shops: FastMap<String, ShopTally>,
    classes: BTreeMap<&'static str, ClassAlert>,
}

impl Gathered {
    fn merge(&mut self, other: Gathered) {
        for (shop, tally) in other.shops {
            self.shops.entry(shop).or_default().merge(&tally);
        }
        for (class, alert) in other.classes {
            self.classes.entry(class).or_default().merge(alert);
        }
    }

    fn record(&mut self, row: &ReportRow<'_>, fen: i64) {
        let outcome = row.outcome;
        update(&mut self.shops, row.shop_id, |t| t.count_outcome(outcome));
        if outcome != Outcome::Matched {
            self.classes
                .entry(outcome.as_str())
                .or_default()
                .add(row, fen);
        }
        if row.deduction_status == Some("FAILED") {
            self.classes
                .entry("DEDUCTION_FAILED")
                .or_default()
                .add(row, fen);
        }
    }
}

/// Removes the scratch directory however the run ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rec_of_entry(entry: &LedgerEntry, payout_provider: Provider) -> Rec<'_> {
    Rec {
        side: Side::Ledger,
        kind: MovementKind::of_ledger(entry.kind),
        status: ProviderStatus::Success,
        provider: entry.provider.or(Some(payout_provider)),
        period: entry.period.unwrap_or(0),
        plan_periods: entry.plan_periods.unwrap_or(0),
        amount_fen: entry.amount.fen(),
        at_ms: entry.created_at.timestamp_millis(),
        line: 0,
        shop_id: entry.shop_id.as_str(),
        reference: &entry.reference,
        provider_ref: entry.provider_ref.as_deref().unwrap_or(""),
        customer: entry.customer.as_deref().unwrap_or(""),
    }
}

/// A statement row as records: the movement, and its fee if it has one.
fn recs_of_row(row: &StatementRow) -> (Rec<'_>, Option<Rec<'_>>) {
    let movement = Rec {
        side: Side::Statement,
        kind: row.kind,
        status: row.status,
        provider: Some(row.provider),
        period: row.period.unwrap_or(0),
        plan_periods: 0,
        amount_fen: row.amount_fen,
        at_ms: row.occurred_at.timestamp_millis(),
        line: row.line,
        shop_id: &row.shop_id,
        reference: &row.reference,
        provider_ref: &row.provider_ref,
        customer: row.payer.as_deref().unwrap_or(""),
    };
    let fee = (row.fee_fen > 0 && row.kind == MovementKind::Payment).then_some(Rec {
        kind: MovementKind::Fee,
        amount_fen: row.fee_fen,
        customer: "",
        ..movement
    });
    (movement, fee)
}

/// What a statement movement does to the provider's settlement of the shop.
fn settlement_effect(rec: &Rec<'_>) -> i64 {
    if rec.status != ProviderStatus::Success {
        return 0;
    }
    match rec.kind {
        MovementKind::Payment => rec.amount_fen,
        MovementKind::Fee | MovementKind::Refund | MovementKind::Payout => -rec.amount_fen,
        // Instalments are between the buyer and the provider's credit arm.
        MovementKind::Deduction => 0,
    }
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
            .store
            .acquire_lease(&lease, &run_id, now, until)
            .await?
        {
            return Err(ReconcileError::InProgress(date));
        }
        let result = self.run_holding_the_day(date, now, run_id.clone()).await;
        if let Err(err) = self.store.release_lease(&lease, &run_id).await {
            tracing::warn!(%date, error = %err, "could not give the day back; the lease runs out by itself");
        }
        result
    }

    async fn run_holding_the_day(
        &self,
        date: BusinessDate,
        now: DateTime<Utc>,
        run_id: String,
    ) -> Result<RunReport, ReconcileError> {
        let started = Instant::now();
        let dir = self
            .work_dir
            .join(format!("recon-{run_id}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let _scratch = Scratch(dir.clone());
        let partitions = self.partitions.max(1);

        // Inputs from the object store, to local files.
        let mut statements = Vec::new();
        for provider in Provider::ALL {
            let path = dir.join(format!("statement-{provider}.csv"));
            if self
                .objects
                .download(&statement_key(date, provider), &path)
                .await?
            {
                statements.push((provider, path));
            }
        }
        let bank_path = dir.join("bank.csv");
        let have_bank = self
            .objects
            .download(&receipts_key(date), &bank_path)
            .await?;
        self.say(&format!(
            "{date}: {} statement(s) found{}",
            statements.len(),
            if have_bank {
                ", bank receipts found"
            } else {
                ", no bank receipts"
            }
        ));

        let downloaded: Vec<Provider> = statements.iter().map(|(p, _)| *p).collect();
        // Spill both sides at once.
        let statement_dir = dir.clone();
        let statement_task = tokio::task::spawn_blocking(move || {
            spill_statements_in_parallel(&statement_dir, partitions, date, statements)
        });
        let ledger = self.spill_ledger(&dir, partitions, date).await;
        let (statement_paths, side) = statement_task
            .await
            .map_err(|e| ReconcileError::Worker(e.to_string()))??;
        let (ledger_paths, ledger_rows, ledger_providers) = ledger?;
        self.say(&format!(
            "{date}: spilled {ledger_rows} ledger and {} statement movements",
            side.rows
        ));

        let mut gaps = side.gaps.clone();
        for provider in &ledger_providers {
            if !downloaded.contains(provider) {
                gaps.push(format!(
                    "no {provider} statement for {date} (expected at {}): its ledger movements are reported MISSING_IN_PROVIDER",
                    statement_key(date, *provider)
                ));
            }
        }
        let mut input_errors = side.errors.clone();
        let mut error_count = side.error_count;
        // Bank receipts: small (one per batch).
        let receipts = if have_bank {
            let (receipts, errors, count, gap) = read_bank(&bank_path, date)?;
            input_errors.extend(errors);
            error_count += count;
            gaps.extend(gap);
            receipts
        } else {
            // A day with no movement at all has nothing to settle.
            if ledger_rows > 0 || !downloaded.is_empty() {
                gaps.push(format!(
                    "no bank receipts for {date} (expected at {}): every settlement batch is reported SETTLEMENT_MISMATCH",
                    receipts_key(date)
                ));
            }
            HashMap::new()
        };
        if error_count > 0 {
            gaps.push(format!(
                "{error_count} input line(s) could not be read; first: {}",
                input_errors
                    .iter()
                    .map(|e| format!("{} {}", e.source, e.error))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }

        // Anomalies recorded when the provider's notices came in explain
        // statement movements we never booked.
        let anomalies: HashMap<(Provider, String), String> = self
            .store
            .list_anomalies(date)
            .await?
            .into_iter()
            .filter_map(|a| {
                let reference = a.provider_ref.clone()?;
                Some((
                    (a.provider, reference.to_string()),
                    format!("{} ({})", a.anomaly_id, a.kind.as_str()),
                ))
            })
            .collect();

        // Match, then write reports.
        let match_dir = dir.clone();
        let settle = SettleInputs {
            batches: side.batches,
            receipts,
            have_bank,
        };
        let (mut gathered, bucket_paths) = tokio::task::spawn_blocking(move || {
            match_all(
                &match_dir,
                date,
                ledger_paths,
                statement_paths,
                &anomalies,
                settle,
            )
        })
        .await
        .map_err(|e| ReconcileError::Worker(e.to_string()))??;
        self.say(&format!(
            "{date}: matched; writing reports of {} shops",
            gathered.shops.len()
        ));

        let summaries = {
            let out_dir = dir.join("out");
            let shops = std::mem::take(&mut gathered.shops);
            let gaps = gaps.clone();
            let run_id = run_id.clone();
            tokio::task::spawn_blocking(move || {
                write_reports(&out_dir, date, &run_id, now, bucket_paths, shops, &gaps)
            })
            .await
            .map_err(|e| ReconcileError::Worker(e.to_string()))??
        };

        self.say(&format!("{date}: reports written"));
        // Publish: reports and summaries (16 shops at a time: S3 PUTs are
        // slow one by one), then stale ones removed.
        let mut written = HashSet::new();
        let mut totals = ShopTally::default();
        let mut rows = 0;
        let mut pending = tokio::task::JoinSet::new();
        for done in summaries.iter() {
            let shop = done.summary.shop_id.to_string();
            written.insert(report_key(date, &shop, "csv"));
            written.insert(report_key(date, &shop, "json"));
            totals.merge(&done.tally);
            rows += done.summary.rows;
            if pending.len() >= PUBLISH_CONCURRENCY {
                if let Some(result) = pending.join_next().await {
                    result.map_err(|e| ReconcileError::Worker(e.to_string()))??;
                }
            }
            let (objects, store) = (self.objects.clone(), self.store.clone());
            let (csv, json, summary) = (done.csv.clone(), done.json.clone(), done.summary.clone());
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
        self.say(&format!("{date}: {} reports published", written.len()));
        self.remove_stale(date, &written).await?;
        self.publish_errors(date, &input_errors, error_count)
            .await?;

        let alerts_raised = self.raise_alerts(date, now, &gathered, &gaps).await?;
        let outcomes = Outcome::ALL
            .iter()
            .map(|o| (o.as_str().to_owned(), totals.outcomes[o.index()]))
            .collect();
        let report = RunReport {
            date,
            run_id,
            ledger_rows,
            statement_rows: side.rows,
            report_rows: rows,
            shops: summaries.len(),
            outcomes,
            discrepancies: rows - totals.outcomes[Outcome::Matched.index()],
            deductions_failed: totals.deductions_failed,
            input_errors: error_count,
            gaps,
            alerts_raised,
            reports_prefix: reports_prefix(date),
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
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

    async fn spill_ledger(
        &self,
        dir: &Path,
        partitions: usize,
        date: BusinessDate,
    ) -> Result<(Vec<Spilled>, u64, BTreeSet<Provider>), ReconcileError> {
        let mut spill = Partitions::create(dir, "ledger", partitions)?;
        let mut providers = BTreeSet::new();
        let mut next_report = 1_000_000;
        for part in 0..LEDGER_DAY_PARTS {
            let mut after: Option<String> = None;
            loop {
                let page = self
                    .ledger
                    .ledger_page(date, part, after.as_deref(), MAX_LEDGER_PAGE)
                    .await?;
                for entry in &page.entries {
                    let rec = rec_of_entry(entry, self.payout_provider);
                    if let Some(p) = rec.provider {
                        providers.insert(p);
                    }
                    spill.push(&rec)?;
                }
                if spill.records() >= next_report {
                    self.say(&format!(
                        "{date}: {} ledger movements read",
                        spill.records()
                    ));
                    next_report += 1_000_000;
                }
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
        let rows = spill.records();
        Ok((spill.finish()?, rows, providers))
    }

    /// Removes reports and summaries an earlier run wrote for shops this
    /// run has nothing for.
    async fn remove_stale(
        &self,
        date: BusinessDate,
        written: &HashSet<String>,
    ) -> Result<(), ReconcileError> {
        for key in self.objects.list(&reports_prefix(date)).await? {
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
                self.store.delete_reconciliation(&shop, date).await?;
            }
        }
        Ok(())
    }

    async fn publish_errors(
        &self,
        date: BusinessDate,
        errors: &[InputError],
        count: u64,
    ) -> Result<(), ReconcileError> {
        let key = format!("runs/{date}/input-errors.json");
        if count == 0 {
            return Ok(self.objects.delete(&key).await?);
        }
        let listed: Vec<_> = errors
            .iter()
            .map(|e| serde_json::json!({"source": e.source, "line": e.error.line, "message": e.error.message}))
            .collect();
        let body = serde_json::json!({"date": date, "count": count, "first": listed});
        Ok(self
            .objects
            .put(&key, body.to_string().into_bytes(), "application/json")
            .await?)
    }

    async fn raise_alerts(
        &self,
        date: BusinessDate,
        now: DateTime<Utc>,
        gathered: &Gathered,
        gaps: &[String],
    ) -> Result<Vec<String>, ReconcileError> {
        let mut alerts = Vec::new();
        for (class, found) in &gathered.classes {
            let shops: Vec<&str> = found.shops.iter().take(5).map(String::as_str).collect();
            let more = found.shops.len().saturating_sub(shops.len());
            let what = if *class == "DEDUCTION_FAILED" {
                "failed instalment deduction(s)".to_owned()
            } else {
                format!("{class} row(s)")
            };
            alerts.push(Alert {
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
            });
        }
        if !gaps.is_empty() {
            alerts.push(Alert {
                code: "RECON_INPUT_GAP".to_owned(),
                message: format!(
                    "Reconciliation of {date} is incomplete: {}",
                    gaps.join("; ")
                ),
                shop_id: None,
                reference: format!("reconciliation-{date}-INPUT_GAP"),
            });
        }
        let mut raised = Vec::new();
        for alert in alerts {
            // Same findings on a re-run → same fingerprint → not raised again.
            let fingerprint = fnv1a(alert.message.as_bytes());
            let once = format!("recon-{date}-{}-{fingerprint:016x}", alert.code);
            if self.store.claim_once(&once, now).await? {
                self.alerts.raise(&alert).await;
                raised.push(alert.code);
            }
        }
        Ok(raised)
    }
}

/// Spills the statements on two threads, biggest files first; each thread
/// has its own partition files.
fn spill_statements_in_parallel(
    dir: &Path,
    partitions: usize,
    date: BusinessDate,
    mut statements: Vec<(Provider, PathBuf)>,
) -> Result<(Vec<Vec<Spilled>>, StatementSide), ReconcileError> {
    let size = |path: &Path| std::fs::metadata(path).map_or(0, |m| m.len());
    statements.sort_by_key(|(_, path)| std::cmp::Reverse(size(path)));
    let mut groups: [(u64, Vec<(Provider, PathBuf)>); 2] = Default::default();
    for statement in statements {
        let lighter = usize::from(groups[1].0 < groups[0].0);
        groups[lighter].0 += size(&statement.1);
        groups[lighter].1.push(statement);
    }
    let groups: Vec<Vec<(Provider, PathBuf)>> = groups.into_iter().map(|(_, g)| g).collect();
    let results = on_two_threads(groups, |t, mine| {
        let mine = mine.into_iter().flatten().collect();
        spill_statements(dir, &format!("statement-{t}"), partitions, date, mine)
    })?;
    let mut parts = Vec::new();
    let mut side = StatementSide::default();
    for (mine, part) in results {
        parts.push(mine);
        side.rows += part.rows;
        for (provider, shops) in part.batches {
            let into = side.batches.entry(provider).or_default();
            for (shop, net) in shops {
                *into.entry(shop).or_default() += net;
            }
        }
        for error in part.errors {
            if side.errors.len() < ERROR_EXAMPLES {
                side.errors.push(error);
            }
        }
        side.error_count += part.error_count;
        side.gaps.extend(part.gaps);
    }
    Ok((parts, side))
}

/// Runs `work` on two threads, each with every other item (round robin);
/// their results in thread order.
fn on_two_threads<T: Send, R: Send>(
    items: Vec<T>,
    work: impl Fn(usize, Vec<T>) -> Result<R, ReconcileError> + Sync,
) -> Result<Vec<R>, ReconcileError> {
    let mut halves: [Vec<T>; 2] = [Vec::new(), Vec::new()];
    for (i, item) in items.into_iter().enumerate() {
        halves[i % 2].push(item);
    }
    let work = &work;
    let results: Vec<Result<R, ReconcileError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = halves
            .into_iter()
            .enumerate()
            .map(|(t, mine)| scope.spawn(move || work(t, mine)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(ReconcileError::Worker("a worker thread panicked".into()))
                })
            })
            .collect()
    });
    results.into_iter().collect()
}

fn spill_statements(
    dir: &Path,
    name: &str,
    partitions: usize,
    date: BusinessDate,
    statements: Vec<(Provider, PathBuf)>,
) -> Result<(Vec<Spilled>, StatementSide), ReconcileError> {
    let mut spill = Partitions::create(dir, name, partitions)?;
    let mut side = StatementSide::default();
    for (provider, path) in statements {
        let source = statement_key(date, provider);
        let input = BufReader::with_capacity(1 << 20, File::open(&path)?);
        let rows = match statement::read(Format::for_provider(provider), provider, date, input) {
            Ok(rows) => rows,
            Err(error) => {
                side.gaps.push(format!(
                    "the {provider} statement {source} cannot be read: {error}; its movements are not reconciled"
                ));
                side.error_count += 1;
                if side.errors.len() < ERROR_EXAMPLES {
                    side.errors.push(InputError { source, error });
                }
                continue;
            }
        };
        for row in rows {
            match row {
                Ok(row) => {
                    side.rows += 1;
                    let (movement, fee) = recs_of_row(&row);
                    let shops = side.batches.entry(provider).or_default();
                    for rec in std::iter::once(movement).chain(fee) {
                        let effect = settlement_effect(&rec);
                        update(shops, rec.shop_id, |net| *net = net.saturating_add(effect));
                        spill.push(&rec)?;
                    }
                }
                Err(error) => {
                    side.error_count += 1;
                    if side.errors.len() < ERROR_EXAMPLES {
                        side.errors.push(InputError {
                            source: source.clone(),
                            error,
                        });
                    }
                }
            }
        }
    }
    Ok((spill.finish()?, side))
}

type Receipts = HashMap<String, Vec<(String, i64)>>;

#[allow(clippy::type_complexity)]
fn read_bank(
    path: &Path,
    date: BusinessDate,
) -> Result<(Receipts, Vec<InputError>, u64, Option<String>), ReconcileError> {
    let source = receipts_key(date);
    let input = BufReader::new(File::open(path)?);
    let mut receipts: Receipts = HashMap::new();
    let mut errors = Vec::new();
    let mut count = 0;
    let rows = match read_receipts(date, input) {
        Ok(rows) => rows,
        Err(error) => {
            let gap = format!("the bank receipts {source} cannot be read: {error}");
            return Ok((receipts, vec![InputError { source, error }], 1, Some(gap)));
        }
    };
    for row in rows {
        match row {
            Ok(r) => receipts
                .entry(r.batch_id)
                .or_default()
                .push((r.receipt_id, r.amount_fen)),
            Err(error) => {
                count += 1;
                if errors.len() < ERROR_EXAMPLES {
                    errors.push(InputError {
                        source: source.clone(),
                        error,
                    });
                }
            }
        }
    }
    Ok((receipts, errors, count, None))
}

struct SettleInputs {
    batches: Batches,
    receipts: Receipts,
    have_bank: bool,
}

/// Matches every partition (two threads) and writes the report rows,
/// bucketed by shop; then the settlement batches.
fn match_all(
    dir: &Path,
    date: BusinessDate,
    ledger: Vec<Spilled>,
    statements: Vec<Vec<Spilled>>,
    anomalies: &HashMap<(Provider, String), String>,
    settle: SettleInputs,
) -> Result<(Gathered, Vec<Vec<Spilled>>), ReconcileError> {
    // Partition i: the ledger's part i and every statement thread's part i.
    let mut statements: Vec<std::vec::IntoIter<Spilled>> =
        statements.into_iter().map(Vec::into_iter).collect();
    let partitions: Vec<Vec<Spilled>> = ledger
        .into_iter()
        .map(|part| {
            std::iter::once(part)
                .chain(statements.iter_mut().filter_map(Iterator::next))
                .collect()
        })
        .collect();
    let results = on_two_threads(partitions, |w, mine| match_worker(dir, w, mine, anomalies))?;
    let mut gathered = Gathered::default();
    let mut buckets = Vec::new();
    for (g, mine) in results {
        gathered.merge(g);
        buckets.push(mine);
    }
    let mut out = Partitions::create(dir, "rows-settlement", BUCKETS)?;
    settle_batches(date, settle, &mut gathered, &mut out)?;
    buckets.push(out.finish()?);
    Ok((gathered, buckets))
}

fn match_worker(
    dir: &Path,
    worker: usize,
    partitions: Vec<Vec<Spilled>>,
    anomalies: &HashMap<(Provider, String), String>,
) -> Result<(Gathered, Vec<Spilled>), ReconcileError> {
    let mut out = Partitions::create(dir, &format!("rows-{worker}"), BUCKETS)?;
    let mut gathered = Gathered::default();
    let mut record = Vec::new();
    for parts in partitions {
        let bytes = parts
            .into_iter()
            .map(Spilled::into_bytes)
            .collect::<io::Result<Vec<_>>>()?;
        let mut recs = Vec::new();
        for file in &bytes {
            recs.extend(Rec::decode_all(file)?);
        }
        for rec in &recs {
            update(&mut gathered.shops, rec.shop_id, |t| t.count_input(rec));
        }
        sort_partition(&mut recs);
        let mut failure = None;
        match_sorted(&recs, &mut |finding: Finding<'_, '_>| {
            if failure.is_some() {
                return;
            }
            let Some(mut row) = ReportRow::of_finding(&finding) else {
                return;
            };
            if let (Some(s), Outcome::MissingInLedger | Outcome::Duplicate) =
                (finding.statement, finding.outcome)
            {
                let anomaly = s
                    .provider
                    .and_then(|p| anomalies.get(&(p, s.provider_ref.to_owned())));
                if let Some(anomaly) = anomaly {
                    row.note
                        .to_mut()
                        .push_str(&format!("; its notice was recorded as anomaly {anomaly}"));
                }
            }
            let fen = finding.primary().map_or(0, |r| r.amount_fen);
            gathered.record(&row, fen);
            record.clear();
            if let Err(e) = row
                .encode(&mut record)
                .and_then(|()| out.push_raw(row.shop_id, &record))
            {
                failure = Some(e);
            }
        });
        if let Some(e) = failure {
            return Err(e.into());
        }
    }
    Ok((gathered, out.finish()?))
}

fn settle_batches(
    date: BusinessDate,
    settle: SettleInputs,
    gathered: &mut Gathered,
    out: &mut Partitions,
) -> Result<(), ReconcileError> {
    let SettleInputs {
        batches,
        mut receipts,
        have_bank,
    } = settle;
    let mut record = Vec::new();
    let mut emit = |gathered: &mut Gathered, batch: &Batch<'_>| -> io::Result<()> {
        let row = batch.row();
        gathered.record(&row, batch.received.unwrap_or(0) - batch.expected);
        record.clear();
        row.encode(&mut record)?;
        out.push_raw(batch.shop, &record)
    };
    let mut ordered: Vec<(Provider, String, i64)> = batches
        .into_iter()
        .flat_map(|(p, shops)| shops.into_iter().map(move |(shop, net)| (p, shop, net)))
        .collect();
    ordered.sort();
    for (provider, shop, expected) in &ordered {
        let (provider, expected) = (*provider, *expected);
        let id = batch_id(provider, shop, date);
        let got = receipts.remove(&id);
        let received: i64 = got.iter().flatten().map(|(_, fen)| *fen).sum();
        let (outcome, note) = match &got {
            None if expected == 0 => (Outcome::Matched, "nothing to settle".to_owned()),
            None if !have_bank => (
                Outcome::SettlementMismatch,
                format!(
                    "no bank receipts file; the provider settles {}",
                    format_fen(expected)
                ),
            ),
            None => (
                Outcome::SettlementMismatch,
                format!(
                    "no bank receipt for this batch; the provider settles {}",
                    format_fen(expected)
                ),
            ),
            Some(list) if list.len() > 1 => (
                Outcome::SettlementMismatch,
                format!(
                    "{} bank receipts ({}) credit {} in all; the provider settles {}",
                    list.len(),
                    list.iter()
                        .map(|(r, _)| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    format_fen(received),
                    format_fen(expected)
                ),
            ),
            Some(_) if received != expected => (
                Outcome::SettlementMismatch,
                format!(
                    "the bank credited {}, the provider settles {}: difference {}",
                    format_fen(received),
                    format_fen(expected),
                    format_fen(received - expected)
                ),
            ),
            Some(_) => (Outcome::Matched, String::new()),
        };
        update(&mut gathered.shops, shop, |t| {
            t.settlement_expected_fen += expected;
            t.settlement_received_fen += received;
        });
        let batch = Batch {
            shop,
            id: &id,
            provider,
            expected,
            received: got.is_some().then_some(received),
            receipt: got
                .as_ref()
                .and_then(|l| l.first())
                .map(|(r, _)| r.as_str()),
            outcome,
            note,
        };
        emit(gathered, &batch)?;
    }
    // Receipts for batches no statement lists.
    let mut left: Vec<_> = receipts.into_iter().collect();
    left.sort();
    for (id, list) in &left {
        let received: i64 = list.iter().map(|(_, fen)| *fen).sum();
        let Some((provider, shop)) = Provider::ALL.iter().find_map(|p| {
            let rest = id.strip_prefix(&format!("{p}-"))?;
            Some((*p, rest.rsplit_once('-')?.0))
        }) else {
            continue;
        };
        update(&mut gathered.shops, shop, |t| {
            t.settlement_received_fen += received
        });
        let batch = Batch {
            shop,
            id,
            provider,
            expected: 0,
            received: Some(received),
            receipt: list.first().map(|(r, _)| r.as_str()),
            outcome: Outcome::SettlementMismatch,
            note: format!(
                "the bank credited {} for a batch no statement of {date} lists",
                format_fen(received)
            ),
        };
        emit(gathered, &batch)?;
    }
    Ok(())
}

/// One settlement batch's finding.
struct Batch<'a> {
    shop: &'a str,
    id: &'a str,
    provider: Provider,
    /// What the provider's statement settles.
    expected: i64,
    /// What the bank credited, if it sent any receipt.
    received: Option<i64>,
    receipt: Option<&'a str>,
    outcome: Outcome,
    note: String,
}

impl Batch<'_> {
    fn row(&self) -> ReportRow<'_> {
        ReportRow {
            shop_id: self.shop,
            order_no: self.id,
            kind: "SETTLEMENT",
            provider: Some(self.provider),
            provider_ref: self.receipt,
            customer: None,
            instalment: None,
            deduction_status: None,
            // The statement is the provider's side of a batch; the bank's
            // receipt stands on ours.
            ledger_fen: self.received,
            provider_fen: Some(self.expected),
            reconciled_fen: (self.outcome == Outcome::Matched).then_some(self.expected),
            outcome: self.outcome,
            note: std::borrow::Cow::Borrowed(&self.note),
            statement_line: None,
            // After the day's movements.
            at_ms: i64::MAX,
        }
    }
}

/// A shop's finished report, ready to publish.
struct ShopReport {
    summary: ReconciliationSummary,
    tally: ShopTally,
    csv: PathBuf,
    json: PathBuf,
}

/// Where a bucket's rows are read from.
enum RowBytes {
    Memory(Vec<u8>),
    File(File),
}

impl RowBytes {
    /// The bytes of the row at `offset`, from memory or read into `buffer`.
    fn row<'b>(&'b self, offset: u64, len: usize, buffer: &'b mut Vec<u8>) -> io::Result<&'b [u8]> {
        match self {
            RowBytes::Memory(bytes) => {
                let start = usize::try_from(offset).map_err(io::Error::other)?;
                bytes
                    .get(start..start + len)
                    .ok_or_else(|| io::Error::other("row outside its bucket"))
            }
            RowBytes::File(file) => {
                buffer.resize(len, 0);
                file.read_exact_at(buffer, offset)?;
                Ok(buffer)
            }
        }
    }
}

/// One row's place in a bucket: (shop, time, offset, length).
type Slot = (u32, i64, u64, u32);

/// Shop names of a bucket, numbered in order of appearance.
#[derive(Default)]
struct ShopNames {
    names: Vec<String>,
    ids: FastMap<String, u32>,
}

impl ShopNames {
    fn id(&mut self, shop: &str) -> u32 {
        if let Some(id) = self.ids.get(shop) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.names.push(shop.to_owned());
        self.ids.insert(shop.to_owned(), id);
        id
    }
}

fn index_bucket(
    part: Spilled,
    fallback: PathBuf,
    shops: &mut ShopNames,
) -> io::Result<(Vec<Slot>, RowBytes)> {
    let mut slots = Vec::new();
    if part.len()? <= BUCKET_IN_MEMORY {
        let bytes = part.into_bytes()?;
        let mut offset = 0usize;
        while offset < bytes.len() {
            let head = bytes
                .get(offset..offset + 4)
                .ok_or_else(|| io::Error::other("truncated bucket"))?;
            let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
            let body = bytes
                .get(offset + 4..offset + 4 + len as usize)
                .ok_or_else(|| io::Error::other("truncated bucket"))?;
            let (shop, at_ms) = ReportRow::shop_and_time(body)?;
            slots.push((shops.id(shop), at_ms, offset as u64 + 4, len));
            offset += 4 + len as usize;
        }
        return Ok((slots, RowBytes::Memory(bytes)));
    }
    // Too big to hold: index it streaming, read rows back by offset.
    let path = part.into_file(fallback)?;
    let mut reader = BufReader::with_capacity(1 << 20, File::open(&path)?);
    let mut offset = 0u64;
    let mut head = [0u8; 4];
    let mut body = Vec::new();
    loop {
        match io::Read::read_exact(&mut reader, &mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
        let len = u32::from_le_bytes(head);
        body.resize(len as usize, 0);
        io::Read::read_exact(&mut reader, &mut body)?;
        let (shop, at_ms) = ReportRow::shop_and_time(&body)?;
        slots.push((shops.id(shop), at_ms, offset + 4, len));
        offset += 4 + u64::from(len);
    }
    Ok((slots, RowBytes::File(File::open(&path)?)))
}

/// Writes every shop's CSV and JSON from the result buckets (two threads).
fn write_reports(
    out_dir: &Path,
    date: BusinessDate,
    run_id: &str,
    now: DateTime<Utc>,
    buckets: Vec<Vec<Spilled>>,
    tallies: FastMap<String, ShopTally>,
    gaps: &[String],
) -> Result<Vec<ShopReport>, ReconcileError> {
    std::fs::create_dir_all(out_dir)?;
    // Bucket i of every writer holds the same shops: group them.
    let mut groups: Vec<Vec<Spilled>> = (0..BUCKETS).map(|_| Vec::new()).collect();
    for writer in buckets {
        for (i, part) in writer.into_iter().enumerate() {
            if let Some(group) = groups.get_mut(i) {
                group.push(part);
            }
        }
    }
    let groups: Vec<(usize, Vec<Spilled>)> = groups.into_iter().enumerate().collect();
    let tallies = &tallies;
    let done = on_two_threads(groups, |_, mine| {
        let mut done = Vec::new();
        for (bucket, parts) in mine {
            done.extend(write_bucket(
                out_dir, bucket, date, run_id, now, parts, tallies, gaps,
            )?);
        }
        Ok(done)
    })?;
    let mut reports: Vec<ShopReport> = done.into_iter().flatten().collect();
    reports.sort_by(|a, b| a.summary.shop_id.cmp(&b.summary.shop_id));
    Ok(reports)
}

#[allow(clippy::too_many_arguments)]
fn write_bucket(
    out_dir: &Path,
    bucket: usize,
    date: BusinessDate,
    run_id: &str,
    now: DateTime<Utc>,
    parts: Vec<Spilled>,
    tallies: &FastMap<String, ShopTally>,
    gaps: &[String],
) -> Result<Vec<ShopReport>, ReconcileError> {
    let mut names = ShopNames::default();
    let mut sources = Vec::new();
    let mut slots: Vec<(u32, i64, usize, u64, u32)> = Vec::new();
    for (source, part) in parts.into_iter().enumerate() {
        let fallback = out_dir.join(format!(".bucket-{bucket}-{source}"));
        let (file_slots, bytes) = index_bucket(part, fallback, &mut names)?;
        slots.extend(
            file_slots
                .into_iter()
                .map(|(shop, at, off, len)| (shop, at, source, off, len)),
        );
        sources.push(bytes);
    }
    let shops = names.names;
    // By shop name, then time, then where the row was written (stable):
    // shop names ranked once, so the sort compares integers.
    let mut by_name: Vec<u32> = (0..shops.len() as u32).collect();
    by_name.sort_unstable_by(|a, b| shops[*a as usize].cmp(&shops[*b as usize]));
    let mut rank = vec![0u32; shops.len()];
    for (r, id) in by_name.iter().enumerate() {
        rank[*id as usize] = r as u32;
    }
    for slot in &mut slots {
        slot.0 = rank[slot.0 as usize];
    }
    let shops: Vec<String> = by_name
        .iter()
        .map(|id| shops[*id as usize].clone())
        .collect();
    slots.sort_unstable();
    let mut reports = Vec::new();
    let mut start = 0;
    let mut buffer = Vec::new();
    let day = date.to_string();
    let (mut csv_line, mut json_row) = (Vec::with_capacity(512), Vec::with_capacity(1024));
    while start < slots.len() {
        let shop_index = slots[start].0;
        let end = slots[start..]
            .iter()
            .position(|s| s.0 != shop_index)
            .map_or(slots.len(), |n| start + n);
        let shop = &shops[shop_index as usize];
        let tally = tallies.get(shop).cloned().unwrap_or_default();
        let summary = summarize(shop, date, run_id, now, &tally, gaps)?;
        let csv_path = out_dir.join(format!("{shop}.csv"));
        let json_path = out_dir.join(format!("{shop}.json"));
        let mut csv = BufWriter::with_capacity(1 << 16, File::create(&csv_path)?);
        csv.write_all(CSV_BOM)?;
        csv.write_all(CSV_HEADER.as_bytes())?;
        csv.write_all(b"\r\n")?;
        let mut json = JsonReport::begin(
            BufWriter::with_capacity(1 << 16, File::create(&json_path)?),
            shop,
            date,
            run_id,
        )?;
        for &(_, _, source, offset, len) in &slots[start..end] {
            let body = sources[source].row(offset, len as usize, &mut buffer)?;
            let row = ReportRow::decode(body)?;
            csv_line.clear();
            row.write_csv(&day, &mut csv_line);
            csv.write_all(&csv_line)?;
            json_row.clear();
            row.write_json(&day, &mut json_row);
            json.row(&json_row)?;
        }
        csv.flush()?;
        json.finish(&summary)?.flush()?;
        reports.push(ShopReport {
            summary,
            tally,
            csv: csv_path,
            json: json_path,
        });
        start = end;
    }
    Ok(reports)
}

fn summarize(
    shop: &str,
    date: BusinessDate,
    run_id: &str,
    now: DateTime<Utc>,
    tally: &ShopTally,
    gaps: &[String],
) -> Result<ReconciliationSummary, ReconcileError> {
    let shop_id = ShopId::parse(shop).map_err(|e| {
        ReconcileError::Io(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("shop id {shop:?}: {e}"),
        ))
    })?;
    let rows = tally.rows();
    let attempted = tally.deductions.count + tally.deductions_failed;
    Ok(ReconciliationSummary {
        shop_id,
        date,
        run_id: run_id.to_owned(),
        generated_at: now,
        rows,
        outcomes: Outcome::ALL
            .iter()
            .map(|o| (o.as_str().to_owned(), tally.outcomes[o.index()]))
            .collect(),
        discrepancies: rows - tally.outcomes[Outcome::Matched.index()],
        payments: tally.payments,
        refunds: tally.refunds,
        fees: tally.fees,
        deductions: tally.deductions,
        payouts: tally.payouts,
        deductions_failed: tally.deductions_failed,
        monthly_pay_orders: tally.monthly_pay_orders,
        average_order_value: average(tally.payments.total, tally.payments.count),
        refund_ratio: ratio(tally.refunds.total.fen(), tally.payments.total.fen()),
        deduction_failure_rate: ratio(
            i64::try_from(tally.deductions_failed).unwrap_or(i64::MAX),
            i64::try_from(attempted).unwrap_or(i64::MAX),
        ),
        settlement_expected: Decimal::new(tally.settlement_expected_fen, 2),
        settlement_received: Decimal::new(tally.settlement_received_fen, 2),
        gaps: gaps.to_vec(),
        report_csv: report_key(date, shop, "csv"),
        report_json: report_key(date, shop, "json"),
    })
}
