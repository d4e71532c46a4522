//! Lambda entry point, and the local CLI.
//!
//! - In Lambda: build the clients once, then serve schedule, SQS, direct
//!   and HTTP events (`reconcile::dispatch`).
//! - On a terminal: `reconcile --date YYYY-MM-DD [--data-dir DIR]` runs one
//!   day against the DynamoDB table `TABLE_NAME` (for example in the moto
//!   emulator, with `QRPAY_AWS_ENDPOINT`), reading statements from and
//!   writing reports to DIR (default `./qrpay-data`), with progress on stderr.

use std::path::PathBuf;
use std::sync::Arc;

use lambda_runtime::{service_fn, LambdaEvent};
use qrpay_aws::{self as aws, Deadline};
use qrpay_domain::{BusinessDate, Clock, Provider, SystemClock};
use qrpay_reconcile::bill_fetch::BillFetcher;
use qrpay_reconcile::objects::LocalDir;
use qrpay_reconcile::run::DEFAULT_PARTITIONS;
use qrpay_reconcile::Reconciler;
use qrpay_store::alerts::{Alert, Alerts};
use reconcile::{dispatch, App};
use serde_json::Value;

fn payout_provider() -> Result<Provider, String> {
    let name = std::env::var("QRPAY_PAYOUT_PROVIDER").unwrap_or_else(|_| "sandbox".to_owned());
    Provider::parse(&name)
        .ok_or_else(|| format!("QRPAY_PAYOUT_PROVIDER {name:?} is not a provider"))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.is_empty() {
        // A person at a terminal: a plain message and exit status 2.
        if let Err(message) = cli(&args).await {
            eprintln!("reconcile: {message}");
            std::process::exit(2);
        }
        return Ok(());
    }
    aws::init_tracing();
    let config = aws::sdk_config(Deadline::Batch).await;
    let store = Arc::new(aws::store_from_env(&config)?);
    let objects = Arc::new(aws::reports_from_env(&config)?);
    let reconciler = Arc::new(Reconciler {
        ledger: store.clone(),
        reconciliations: store.clone(),
        kpi_reads: store.clone(),
        claims: store.clone(),
        objects: objects.clone(),
        alerts: Arc::new(aws::alerts_from_env(&config)?),
        work_dir: std::env::temp_dir(),
        partitions: DEFAULT_PARTITIONS,
        payout_provider: payout_provider()?,
        progress: None,
    });
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let bills = Arc::new(BillFetcher {
        sources: Arc::new(aws::StageBills::new(&config, clock.clone())),
        objects: objects.clone(),
        alerts: reconciler.alerts.clone(),
        work_dir: std::env::temp_dir(),
    });
    let app = Arc::new(App {
        reconciler,
        reconciliations: store.clone(),
        shops: store.clone(),
        receivables: store.clone(),
        resolutions: store,
        objects,
        requests: Arc::new(aws::run_requests_from_env(&config)?),
        bills: Some(bills),
        clock,
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let app = app.clone();
        async move { dispatch(&app, event.payload).await }
    }))
    .await
}

/// The CLI's alerts: on the terminal (the claim that keeps a re-run from
/// raising them again is taken in the table all the same).
struct TerminalAlerts;

#[async_trait::async_trait]
impl Alerts for TerminalAlerts {
    async fn raise(&self, alert: &Alert) {
        eprintln!("reconcile: ALERT {}: {}", alert.code, alert.message);
    }
}

const USAGE: &str = "usage: reconcile --date YYYY-MM-DD [--data-dir DIR]
Runs one day's reconciliation against the DynamoDB table TABLE_NAME
(QRPAY_AWS_ENDPOINT points at the emulator), reading statements and bank
receipts from DIR and writing the reports there (default ./qrpay-data).";

async fn cli(args: &[String]) -> Result<(), String> {
    let mut date = None;
    let mut dir = PathBuf::from("qrpay-data");
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--date" => date = rest.next().cloned(),
            "--data-dir" => dir = rest.next().map(PathBuf::from).ok_or(USAGE)?,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let date = match date {
        Some(d) => BusinessDate::parse(&d).map_err(|_| format!("bad --date {d:?}\n{USAGE}"))?,
        None => reconcile::scheduled_date(SystemClock.now()),
    };
    if std::env::var("TABLE_NAME").is_err() {
        return Err(format!(
            "TABLE_NAME is not set: the CLI reads the day's ledger from a DynamoDB table\n\
             (in AWS, or in the emulator with QRPAY_AWS_ENDPOINT).\n{USAGE}"
        ));
    }
    let config = aws::sdk_config(Deadline::Batch).await;
    let store = Arc::new(aws::store_from_env(&config)?);
    let reconciler = Reconciler {
        ledger: store.clone(),
        reconciliations: store.clone(),
        kpi_reads: store.clone(),
        claims: store,
        objects: Arc::new(LocalDir::new(&dir)),
        alerts: Arc::new(TerminalAlerts),
        work_dir: std::env::temp_dir(),
        partitions: DEFAULT_PARTITIONS,
        payout_provider: payout_provider()?,
        progress: Some(Arc::new(|line: &str| eprintln!("reconcile: {line}"))),
    };
    let report = reconciler
        .run(date, SystemClock.now())
        .await
        .map_err(|e| e.to_string())?;
    let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    println!("{text}");
    eprintln!(
        "reconcile: reports in {}",
        dir.join(format!("reports/{date}")).display()
    );
    Ok(())
}
