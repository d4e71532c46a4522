//! The reconciliation benchmark (issue 5): generates a synthetic day
//! (default 1,000,000 ledger movements and the matching statement rows in
//! three formats, with a known 1% of discrepancies of every kind),
//! reconciles it with the real pipeline (local-directory object store,
//! in-memory store for summaries), checks that exactly the injected
//! discrepancies are found — by count and row by row — and prints rows per
//! second and peak memory.
//!
//!   cargo run --release -p qrpay-reconcile --bin recon-bench -- [--rows N] [--shops S] [--partitions P] [--keep]
//!
//! With `--write-csv DIR` it only writes the day as plain UTF-8 CSVs
//! (`ledger.csv`, `statement.csv`) for the DuckDB comparison
//! (`infra/recon-vs-duckdb.sh`) and exits.
//!
//! Default: one shop per thousand movements (1,000 shops for 1M rows).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use qrpay_domain::{BusinessDate, Clock, Provider, SystemClock};
use qrpay_reconcile::objects::LocalDir;
use qrpay_reconcile::run::DEFAULT_PARTITIONS;
use qrpay_reconcile::synthetic::{Expected, SyntheticDay};
use qrpay_reconcile::{Reconciler, RunReport};
use qrpay_store::alerts::LogAlerts;
use qrpay_store::MemoryStore;

/// Peak resident memory of this process so far, in KiB (`VmHWM`).
fn peak_rss_kib() -> Option<u64> {
    status_kib("VmHWM:")
}

/// A figure of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// This process's CPU time so far, user and system, in seconds
/// (`/proc/self/stat`, in clock ticks of 1/100 s).
fn cpu_seconds() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces), from field 3.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    Some((ticks(11)? / 100.0, ticks(12)? / 100.0))
}

/// Starts a new peak (Linux: writing 5 to clear_refs resets `VmHWM`).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn usage() -> ! {
    eprintln!(
        "usage: recon-bench [--rows N] [--shops S] [--partitions P] [--keep] [--write-csv DIR]"
    );
    std::process::exit(2)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut rows: u64 = 1_000_000;
    let mut partitions = DEFAULT_PARTITIONS;
    let mut keep = false;
    let mut shops: Option<u64> = None;
    let mut write_csv: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rows" => {
                rows = args
                    .next()
                    .and_then(|n| n.replace('_', "").parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--partitions" => {
                partitions = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--shops" => {
                shops = Some(
                    args.next()
                        .and_then(|n| n.replace('_', "").parse().ok())
                        .unwrap_or_else(|| usage()),
                )
            }
            "--keep" => keep = true,
            "--write-csv" => write_csv = Some(args.next().unwrap_or_else(|| usage()).into()),
            _ => usage(),
        }
    }
    if let Some(dir) = write_csv {
        if let Err(e) = plain_csv(rows, shops, &dir) {
            eprintln!("recon-bench: FAILED: {}: {e}", dir.display());
            std::process::exit(1);
        }
        return;
    }
    if let Err(e) = bench(rows, shops, partitions, keep).await {
        eprintln!("recon-bench: FAILED: {e}");
        std::process::exit(1);
    }
}

fn synthetic_day(rows: u64, shops: Option<u64>) -> Result<SyntheticDay, String> {
    let date = BusinessDate::parse("2026-11-20").map_err(|e| e.to_string())?;
    Ok(match shops {
        Some(shops) => SyntheticDay::with_shops(date, rows, shops),
        None => SyntheticDay::new(date, rows),
    })
}

/// Writes the day as plain CSVs for another tool to reconcile.
fn plain_csv(rows: u64, shops: Option<u64>, dir: &Path) -> Result<(), String> {
    let started = Instant::now();
    let day = synthetic_day(rows, shops)?;
    day.write_plain_csv(dir).map_err(|e| e.to_string())?;
    println!(
        "wrote {} ledger movements and their statement rows as plain CSV to {} in {:.2} s",
        day.movements,
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn bench(rows: u64, shops: Option<u64>, partitions: usize, keep: bool) -> Result<(), String> {
    let day = Arc::new(synthetic_day(rows, shops)?);
    let date = day.date;
    let root: PathBuf = std::env::temp_dir().join(format!("recon-bench-{}", std::process::id()));
    let objects = Arc::new(LocalDir::new(root.join("objects")));
    let expected = generate(&day, &objects, &root).await?;
    // The inputs are on disk before the clock starts, as a provider's bill
    // downloaded hours earlier would be: not still dirty in the page cache,
    // for the run to wait on while the kernel writes them out.
    sync_tree(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    let report = reconcile(&day, &objects, &root, partitions).await?;

    // Exactly the injected discrepancies: by count…
    let mut failures = count_failures(&report, &expected);
    // …and row by row, from the CSV reports (not timed).
    let checked = check_reports(
        &day,
        &root.join("objects").join(format!("reports/{date}")),
        &mut failures,
    )?;
    println!("checked {checked} report rows one by one against the injection plan");
    if !keep {
        let _ = std::fs::remove_dir_all(&root);
    } else {
        println!("kept {}", root.display());
    }
    if failures.is_empty() {
        println!("OK: exactly the injected discrepancies were found");
        Ok(())
    } else {
        Err(failures.into_iter().take(10).collect::<Vec<_>>().join("\n"))
    }
}

/// Writes the synthetic day's statements and receipts into `objects`.
async fn generate(day: &SyntheticDay, objects: &LocalDir, root: &Path) -> Result<Expected, String> {
    let started = Instant::now();
    let expected = day
        .write_inputs(objects, &root.join("generate"))
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "generated {} ledger movements, {} statement rows in 3 formats, {} shops in {:.2} s",
        expected.ledger_rows,
        expected.statement_rows,
        day.shops,
        started.elapsed().as_secs_f64()
    );
    Ok(expected)
}

/// Writes every file under `dir` through to the disk.
fn sync_tree(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            sync_tree(&entry.path())?;
        } else {
            std::fs::File::open(entry.path())?.sync_all()?;
        }
    }
    Ok(())
}

/// Reconciles the day with the real pipeline, timed, and prints the figures.
async fn reconcile(
    day: &Arc<SyntheticDay>,
    objects: &Arc<LocalDir>,
    root: &Path,
    partitions: usize,
) -> Result<RunReport, String> {
    let clock = Instant::now();
    let store = Arc::new(MemoryStore::new());
    let reconciler = Reconciler {
        ledger: day.clone(),
        reconciliations: store.clone(),
        kpi_reads: store.clone(),
        claims: store,
        objects: objects.clone(),
        alerts: Arc::new(LogAlerts),
        work_dir: root.join("work"),
        partitions,
        payout_provider: Provider::Sandbox,
        progress: Some(Arc::new(move |line: &str| {
            let (user, sys) = cpu_seconds().unwrap_or_default();
            // User and system time apart: where a phase's time grows with
            // the day, the kernel's share (new pages, writeback) is what
            // tells the machine from the code.
            eprintln!(
                "  [{:>7.3} s, cpu {:>6.2} user + {:>5.2} system s, peak {:>4} MiB] {line}",
                clock.elapsed().as_secs_f64(),
                user,
                sys,
                peak_rss_kib().unwrap_or(0) / 1024
            )
        })),
    };
    let peak_reset = reset_peak();
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let report = reconciler
        .run(day.date, SystemClock.now())
        .await
        .map_err(|e| e.to_string())?;
    let elapsed = started.elapsed().as_secs_f64();
    let peak = peak_rss_kib().unwrap_or(0);
    print_figures(&report, elapsed, peak, peak_reset);
    if let (Some((user0, sys0)), Some((user1, sys1))) = (cpu_before, cpu_seconds()) {
        let (user, sys) = (user1 - user0, sys1 - sys0);
        println!(
            "cpu: {user:.2} s user, {sys:.2} s system ({:.2} cores busy)",
            (user + sys) / elapsed
        );
    }
    Ok(report)
}

fn print_figures(report: &RunReport, elapsed: f64, peak_kib: u64, peak_reset: bool) {
    let input_rows = report.ledger_rows + report.statement_rows;
    println!(
        "reconciled {} ledger + {} statement rows -> {} report rows in {} shops in {elapsed:.2} s",
        report.ledger_rows, report.statement_rows, report.report_rows, report.shops
    );
    println!(
        "throughput: {:.0} ledger rows/s, {:.0} input rows/s",
        report.ledger_rows as f64 / elapsed,
        input_rows as f64 / elapsed
    );
    println!(
        "peak memory (VmHWM{}): {:.1} MiB",
        if peak_reset {
            ", reset before the run"
        } else {
            ", whole process"
        },
        peak_kib as f64 / 1024.0
    );
    println!("outcomes: {:?}", report.outcomes);
}

/// Where the run's totals differ from what was injected.
fn count_failures(report: &RunReport, expected: &Expected) -> Vec<String> {
    let mut failures = Vec::new();
    if report.outcomes != expected.outcomes {
        failures.push(format!(
            "outcomes {:?}, expected {:?}",
            report.outcomes, expected.outcomes
        ));
    }
    let found = (
        report.ledger_rows,
        report.statement_rows,
        report.deductions_failed,
        report.input_errors,
    );
    let injected = (
        expected.ledger_rows,
        expected.statement_rows,
        expected.deductions_failed,
        0,
    );
    if found != injected {
        failures.push(format!("rows/failures/errors {found:?}"));
    }
    if !report.gaps.is_empty() {
        failures.push(format!("gaps: {:?}", report.gaps));
    }
    failures
}

fn check_reports(
    day: &SyntheticDay,
    dir: &Path,
    failures: &mut Vec<String>,
) -> Result<u64, String> {
    let mut checked = 0;
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_none_or(|e| e != "csv") {
            continue;
        }
        let file = std::io::BufReader::new(std::fs::File::open(&path).map_err(|e| e.to_string())?);
        for line in file.lines().skip(1) {
            let line = line.map_err(|e| e.to_string())?;
            // date,shop,order_no,kind,provider,provider_ref,customer,instalment,
            // deduction_status,ledger,provider,reconciled,outcome,…
            let fields: Vec<&str> = line.splitn(14, ',').collect();
            if fields.len() < 13 {
                failures.push(format!("short row {line:?}"));
                continue;
            }
            if let Err(e) = day.check_row(fields[2], fields[5], fields[12]) {
                failures.push(e);
            }
            checked += 1;
        }
    }
    Ok(checked)
}
