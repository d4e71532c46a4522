//! Fetching a day's bills (SPEC §6, §9 "Bills"): before the nightly run,
//! each configured provider's bills of day D are downloaded through its
//! signed client (`qrpay_provider::bills::BillGateway`) into the bucket,
//! where the run reads them (`statements/{D}/{provider}.csv`; other bills
//! beside it as `{provider}-{kind}.csv`).
//!
//! A bill already in the bucket is not fetched again: providers do not
//! correct a published bill, and a re-run must read what the first run read.
//! What each attempt came to is kept in `runs/{D}/bills.json`.
//!
//! Waiting ([`next_step`]): the scheduled run asks on D+1 after the
//! providers publish (~10:00 Beijing). While a bill is not published yet,
//! or the answer was unclear, it asks again every [`ASK_AGAIN_EVERY`] until
//! [`deadline`] (D+1 14:00 Beijing); then the run goes ahead and reports the
//! missing statement as a gap, with a `BILL_NOT_FETCHED` alert naming what
//! each provider said. A bill the provider refuses to give is alerted at
//! once and not waited for: asking again will not change the answer.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use qrpay_domain::{BusinessDate, Provider};
use qrpay_provider::bills::{bill_file_name, BillGateway, BillKind, BillOutcome};
use qrpay_store::alerts::{Alert, AlertCode, Alerts};
use serde::Serialize;

use crate::objects::{ObjectError, ObjectStore};

/// How long the scheduled run waits between two attempts (SQS's longest
/// message delay; WeChat Pay's own advice is every half hour).
pub const ASK_AGAIN_EVERY: Duration = Duration::from_secs(900);

/// Hour (Beijing) of D+1 after which the run stops waiting for D's bills.
pub const DEADLINE_HOUR_BEIJING: u32 = 14;

/// The last moment the run of `date` waits for its bills: D+1 at
/// [`DEADLINE_HOUR_BEIJING`]:00 Beijing.
pub fn deadline(date: BusinessDate) -> DateTime<Utc> {
    date.succ().starts_at() + chrono::Duration::hours(i64::from(DEADLINE_HOUR_BEIJING))
}

/// Where a bill of `date` is kept.
pub fn bill_key(date: BusinessDate, provider: Provider, kind: BillKind) -> String {
    format!("statements/{date}/{}", bill_file_name(provider, kind))
}

/// What became of one bill in one attempt: stored by an earlier attempt,
/// or what asking the provider came to (recorded as the outcome's own
/// `state` and fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum BillState {
    Earlier(Earlier),
    Asked(BillOutcome),
}

/// A bill an earlier attempt stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Earlier {
    AlreadyStored,
}

impl BillState {
    /// Asking again later may bring the bill.
    pub fn pending(&self) -> bool {
        matches!(self, BillState::Asked(outcome) if outcome.worth_asking_again())
    }

    /// What the provider said, for an alert.
    fn said(&self) -> String {
        let outcome = match self {
            BillState::Earlier(Earlier::AlreadyStored) => return "stored earlier".to_owned(),
            BillState::Asked(outcome) => outcome,
        };
        match outcome {
            BillOutcome::Stored { bytes } => format!("stored ({bytes} bytes)"),
            BillOutcome::NoBill { detail } => format!("no bill: {detail}"),
            BillOutcome::NotYet { detail } => format!("not published yet: {detail}"),
            BillOutcome::Refused { code, message } => format!("refused: {code} {message}"),
            BillOutcome::Ambiguous { detail } => format!("no clear answer: {detail}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FetchedBill {
    pub provider: Provider,
    pub kind: BillKind,
    pub key: String,
    #[serde(flatten)]
    pub state: BillState,
}

/// One attempt at a day's bills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayBills {
    pub date: BusinessDate,
    pub at: DateTime<Utc>,
    pub bills: Vec<FetchedBill>,
}

impl DayBills {
    pub fn pending(&self) -> impl Iterator<Item = &FetchedBill> {
        self.bills.iter().filter(|b| b.state.pending())
    }
}

/// Fetches every bill of `date` not yet in `objects`, one after the other,
/// through scratch files under `work_dir`, and records the attempt in
/// `runs/{date}/bills.json`.
pub async fn fetch_day(
    gateways: &[Arc<dyn BillGateway>],
    objects: &dyn ObjectStore,
    work_dir: &Path,
    date: BusinessDate,
    now: DateTime<Utc>,
) -> Result<DayBills, ObjectError> {
    let stored = objects.list(&format!("statements/{date}/")).await?;
    let scratch = work_dir.join(format!("bills-{date}-{}", now.timestamp_millis()));
    tokio::fs::create_dir_all(&scratch)
        .await
        .map_err(|e| ObjectError::Unavailable(format!("scratch {}: {e}", scratch.display())))?;
    let mut bills = Vec::new();
    for gateway in gateways {
        let provider = gateway.provider();
        for &kind in gateway.bill_kinds() {
            let key = bill_key(date, provider, kind);
            let state = if stored.contains(&key) {
                BillState::Earlier(Earlier::AlreadyStored)
            } else {
                let file = scratch.join(bill_file_name(provider, kind));
                let outcome = gateway.fetch_bill(date, kind, &file).await;
                if matches!(outcome, BillOutcome::Stored { .. }) {
                    objects.upload(&key, &file, "text/csv").await?;
                }
                BillState::Asked(outcome)
            };
            tracing::info!(%date, ?provider, kind = kind.as_str(), state = %state.said(), "bill");
            bills.push(FetchedBill {
                provider,
                kind,
                key,
                state,
            });
        }
    }
    let _ = tokio::fs::remove_dir_all(&scratch).await;
    let day = DayBills {
        date,
        at: now,
        bills,
    };
    let record =
        serde_json::to_vec_pretty(&day).map_err(|e| ObjectError::Unavailable(e.to_string()))?;
    objects
        .put(
            &format!("runs/{date}/bills.json"),
            record,
            "application/json",
        )
        .await?;
    Ok(day)
}

/// What the run of a day does after an attempt at its bills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Every bill is in, or known not to exist: reconcile now.
    Run,
    /// Some bill may still come: ask again after this long.
    AskAgainIn(Duration),
    /// The deadline has passed with bills missing: reconcile now, the
    /// missing ones are gaps.
    RunWithGaps,
}

/// Whether to wait for `bills` (see the module docs). `wait_until` is the
/// last moment worth waiting for (`None`: don't wait, as for a run an
/// operator asked for).
pub fn next_step(bills: &DayBills, now: DateTime<Utc>, wait_until: Option<DateTime<Utc>>) -> Next {
    if bills.pending().next().is_none() {
        return Next::Run;
    }
    match wait_until {
        Some(until) if now < until => Next::AskAgainIn(ASK_AGAIN_EVERY),
        _ => Next::RunWithGaps,
    }
}

/// The alert for bills the run goes without: those still pending when it
/// stops waiting and those refused. `None` if there are none.
pub fn missing_bills_alert(bills: &DayBills, stop_waiting: bool) -> Option<Alert> {
    let missing: Vec<String> = bills
        .bills
        .iter()
        .filter(|b| {
            matches!(b.state, BillState::Asked(BillOutcome::Refused { .. }))
                || (stop_waiting && b.state.pending())
        })
        .map(|b| format!("{:?} {} bill: {}", b.provider, b.kind, b.state.said()))
        .collect();
    if missing.is_empty() {
        return None;
    }
    Some(Alert {
        code: AlertCode::BillNotFetched.into(),
        message: format!(
            "bills of {} not fetched: {}. The reconciliation reports their statements as gaps; \
             once the provider publishes, re-run the day (POST /admin/reconciliations/{}).",
            bills.date,
            missing.join("; "),
            bills.date
        ),
        shop_id: None,
        reference: format!("bills-{}", bills.date),
    })
}

/// Where the fetcher finds the configured providers' bill gateways: built
/// on first use in AWS (reading the stage's secret is for the runs that
/// fetch, not for every cold start of the function's HTTP routes).
#[async_trait]
pub trait BillSources: Send + Sync {
    async fn bill_gateways(&self) -> Result<Vec<Arc<dyn BillGateway>>, String>;
}

#[async_trait]
impl BillSources for Vec<Arc<dyn BillGateway>> {
    async fn bill_gateways(&self) -> Result<Vec<Arc<dyn BillGateway>>, String> {
        Ok(self.clone())
    }
}

/// The step before a nightly run: fetch what is missing, decide whether to
/// wait, and alert the bills the run goes without.
pub struct BillFetcher {
    pub sources: Arc<dyn BillSources>,
    pub objects: Arc<dyn ObjectStore>,
    pub alerts: Arc<dyn Alerts>,
    /// Scratch space for the files on their way to the bucket.
    pub work_dir: PathBuf,
}

impl BillFetcher {
    /// One attempt at `date`'s bills; what the run does next.
    pub async fn attempt(
        &self,
        date: BusinessDate,
        now: DateTime<Utc>,
        wait_until: Option<DateTime<Utc>>,
    ) -> Result<Next, String> {
        let gateways = self.sources.bill_gateways().await?;
        if gateways.is_empty() {
            return Ok(Next::Run);
        }
        let bills = fetch_day(&gateways, self.objects.as_ref(), &self.work_dir, date, now)
            .await
            .map_err(|e| format!("bills of {date}: {e}"))?;
        let next = next_step(&bills, now, wait_until);
        if !matches!(next, Next::AskAgainIn(_)) {
            if let Some(alert) = missing_bills_alert(&bills, next == Next::RunWithGaps) {
                self.alerts.raise(&alert).await;
            }
        }
        Ok(next)
    }
}
