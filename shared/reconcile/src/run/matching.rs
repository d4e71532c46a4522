//! Matching: each partition (the ledger's part and every statement thread's
//! part of the same hash range) loaded, sorted and matched on its own, two
//! threads at a time; its report rows encoded into result buckets by shop.
//! The settlement batches follow, into buckets of their own.

use std::collections::HashMap;
use std::io;
use std::path::Path;

use qrpay_domain::{Anomaly, BusinessDate, Provider};

use super::error::ReconcileError;
use super::findings::Gathered;
use super::settlement::{settle_batches, SettleInputs};
use super::threads::on_two_threads;
use crate::matcher::{match_sorted, sort_partition, Finding, Outcome};
use crate::report::ReportRow;
use crate::spill::{update, Partitions, Rec, Spilled};

/// Result buckets (by shop).
pub(super) const BUCKETS: usize = 64;

/// (provider, provider reference) → the anomaly recorded when that
/// provider's notice came in, as a report note names it.
pub(super) type AnomalyNotes = HashMap<(Provider, String), String>;

/// Anomalies recorded when the provider's notices came in explain
/// statement movements we never booked.
pub(super) fn anomaly_notes(anomalies: Vec<Anomaly>) -> AnomalyNotes {
    anomalies
        .into_iter()
        .filter_map(|a| {
            let reference = a.provider_ref.clone()?;
            Some((
                (a.provider, reference.to_string()),
                format!("{} ({})", a.anomaly_id, a.kind.as_str()),
            ))
        })
        .collect()
}

/// Matches every partition (two threads) and writes the report rows,
/// bucketed by shop; then the settlement batches. Each writer's buckets,
/// in writer order.
pub(super) fn match_all(
    dir: &Path,
    date: BusinessDate,
    ledger: Vec<Spilled>,
    statements: Vec<Vec<Spilled>>,
    anomalies: &AnomalyNotes,
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

/// One thread's partitions, matched one at a time into its own buckets.
fn match_worker(
    dir: &Path,
    worker: usize,
    partitions: Vec<Vec<Spilled>>,
    anomalies: &AnomalyNotes,
) -> Result<(Gathered, Vec<Spilled>), ReconcileError> {
    let mut out = Partitions::create(dir, &format!("rows-{worker}"), BUCKETS)?;
    let mut gathered = Gathered::default();
    for parts in partitions {
        let bytes = parts
            .into_iter()
            .map(Spilled::into_bytes)
            .collect::<io::Result<Vec<_>>>()?;
        let count = bytes
            .iter()
            .map(|b| Rec::count(b))
            .sum::<io::Result<usize>>()?;
        let mut recs = Vec::with_capacity(count);
        for file in &bytes {
            Rec::decode_into(file, &mut recs)?;
        }
        match_partition(&mut recs, anomalies, &mut gathered, &mut out)?;
    }
    Ok((gathered, out.finish()?))
}

/// Counts, sorts and matches one partition's records, writing a report row
/// per finding.
fn match_partition(
    recs: &mut [Rec<'_>],
    anomalies: &AnomalyNotes,
    gathered: &mut Gathered,
    out: &mut Partitions,
) -> io::Result<()> {
    sort_partition(recs);
    // Sorted, an order's movements are side by side, and they are one
    // shop's: one lookup of its tally for each run of them.
    for run in recs.chunk_by(|a, b| a.shop_id == b.shop_id) {
        update(&mut gathered.shops, run[0].shop_id, |t| {
            run.iter().for_each(|rec| t.count_input(rec))
        });
    }
    let mut record = Vec::new();
    let mut failure = None;
    match_sorted(recs, &mut |finding: Finding<'_, '_>| {
        if failure.is_some() {
            return;
        }
        let Some(mut row) = ReportRow::of_finding(&finding) else {
            return;
        };
        note_anomaly(&mut row, &finding, anomalies);
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
    failure.map_or(Ok(()), Err)
}

/// A statement movement we never booked (or booked twice) whose notice was
/// recorded as an anomaly says so in its note.
fn note_anomaly(row: &mut ReportRow<'_>, finding: &Finding<'_, '_>, anomalies: &AnomalyNotes) {
    let (Some(s), Outcome::MissingInLedger | Outcome::Duplicate) =
        (finding.statement, finding.outcome)
    else {
        return;
    };
    let anomaly = s
        .provider
        .and_then(|p| anomalies.get(&(p, s.provider_ref.to_owned())));
    if let Some(anomaly) = anomaly {
        row.note
            .to_mut()
            .push_str(&format!("; its notice was recorded as anomaly {anomaly}"));
    }
}
