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
use crate::matcher::{groups, match_group, sort_hashed, sort_partition, Finding, Outcome};
use crate::report::ReportRow;
use crate::spill::{HashRange, Partitions, Rec, Spilled};

/// Report rows a result bucket holds, about: a bucket's rows are read back
/// in shop order, by offset, and a bucket of this size stays in the caches.
/// Measured at 10 million rows, 64 buckets of 160,000 rows took about a
/// CPU-second more to write the reports than 512, and held 40–50 MiB more
/// at the peak (the two threads' buckets in memory).
const ROWS_PER_BUCKET: u64 = 20_000;

/// Result buckets (by shop) for a day of `records` input records (about
/// two per report row): a power of two from 64 to 1,024.
pub(super) fn result_buckets(records: u64) -> usize {
    let rows = records / 2;
    let wanted = usize::try_from(rows / ROWS_PER_BUCKET).unwrap_or(usize::MAX);
    wanted.clamp(64, 1024).next_power_of_two().min(1024)
}

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

/// Matches every partition (two threads) and writes the report rows into
/// `buckets` result buckets by shop; then the settlement batches. Each
/// writer's buckets, in writer order.
pub(super) fn match_all(
    dir: &Path,
    date: BusinessDate,
    buckets: usize,
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
    let results = on_two_threads(partitions, |w, mine| {
        let out = Partitions::create(dir, &format!("rows-{w}"), buckets)?;
        match_worker(out, mine, anomalies)
    })?;
    let mut gathered = Gathered::default();
    let mut written = Vec::new();
    for (g, mine) in results {
        gathered.merge(g);
        written.push(mine);
    }
    let mut out = Partitions::create(dir, "rows-settlement", buckets)?;
    settle_batches(date, settle, &mut gathered, &mut out)?;
    written.push(out.finish()?);
    Ok((gathered, written))
}

/// A partition bigger than this is matched in slices of about this size
/// (ranges of its records' hashes), so that a slice's records stay in the
/// caches while they are sorted and matched; a partition's records are
/// otherwise read at random once sorted. At 1 million movements a
/// partition is about half this, at 10 million about five times.
const SLICE_BYTES: usize = 1 << 20;

/// One thread's partitions, matched one at a time into its own buckets.
fn match_worker(
    mut out: Partitions,
    partitions: Vec<Vec<Spilled>>,
    anomalies: &AnomalyNotes,
) -> Result<(Gathered, Vec<Spilled>), ReconcileError> {
    let mut gathered = Gathered::default();
    for parts in partitions {
        let bytes = parts
            .into_iter()
            .map(Spilled::into_bytes)
            .collect::<io::Result<Vec<_>>>()?;
        match_pieces(bytes, SLICE_BYTES, anomalies, &mut gathered, &mut out)?;
    }
    Ok((gathered, out.finish()?))
}

/// Matches one partition, given as its writers' encoded records, in slices
/// of about `slice_bytes` by range of hash: the same rows in the same order
/// as matched whole, since a partition is matched in hash order anyway and
/// an order's records share their hash.
fn match_pieces(
    pieces: Vec<Vec<u8>>,
    slice_bytes: usize,
    anomalies: &AnomalyNotes,
    gathered: &mut Gathered,
    out: &mut Partitions,
) -> io::Result<()> {
    let size: usize = pieces.iter().map(Vec::len).sum();
    let count = (size / slice_bytes.max(1) + 1).next_power_of_two();
    if count == 1 {
        let count = pieces
            .iter()
            .map(|b| Rec::count(b))
            .sum::<io::Result<usize>>()?;
        let mut recs = Vec::with_capacity(count);
        for bytes in &pieces {
            Rec::decode_into(bytes, &mut recs)?;
        }
        sort_partition(&mut recs);
        return match_sorted(&recs, anomalies, gathered, out);
    }
    let ranges = Rec::split_by_hash(&pieces, count)?;
    drop(pieces);
    for HashRange { bytes, hashes } in ranges {
        let mut recs = Vec::with_capacity(hashes.len());
        Rec::decode_into(&bytes, &mut recs)?;
        if recs.len() != hashes.len() {
            return Err(io::Error::other("a range's hashes and records disagree"));
        }
        sort_hashed(&mut recs, hashes);
        match_sorted(&recs, anomalies, gathered, out)?;
    }
    Ok(())
}

/// Matches one partition's records, sorted, writing a report row per
/// finding into its shop's bucket and counting it for its alert class. The
/// shops' tallies are counted from these rows as the reports are written:
/// a shop's rows are read together there, while here its orders come at
/// random among every shop's.
fn match_sorted(
    recs: &[Rec<'_>],
    anomalies: &AnomalyNotes,
    gathered: &mut Gathered,
    out: &mut Partitions,
) -> io::Result<()> {
    let mut record = Vec::new();
    for group in groups(recs) {
        let mut failure = None;
        match_group(group, &mut |finding: Finding<'_, '_>| {
            if failure.is_some() {
                return;
            }
            let Some(mut row) = ReportRow::of_finding(&finding) else {
                return;
            };
            note_anomaly(&mut row, &finding, anomalies);
            gathered.count_row(&row, finding.primary().map_or(0, |r| r.amount_fen));
            record.clear();
            if let Err(e) = row
                .encode(&mut record)
                .and_then(|()| out.push_raw(row.shop_id, &record))
            {
                failure = Some(e);
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MovementKind, ProviderStatus};
    use crate::spill::Side;

    /// A partition's records: orders of seven shops, each paid in the
    /// ledger and listed by the provider, some with a different amount,
    /// listed twice, never listed, or never booked.
    fn pieces(refs: &[String], shops: &[String]) -> Vec<Vec<u8>> {
        let (mut ledger, mut statement) = (Vec::new(), Vec::new());
        for (i, reference) in refs.iter().enumerate() {
            let rec = |side, fen, line| Rec {
                side,
                kind: MovementKind::Payment,
                status: ProviderStatus::Success,
                provider: Some(Provider::Wechatpay),
                period: 0,
                plan_periods: 0,
                amount_fen: fen,
                // Ties in time, so the order rows are written in shows.
                at_ms: 1_700_000_000_000 + (i as i64 % 5),
                line,
                shop_id: &shops[i % shops.len()],
                reference,
                provider_ref: reference,
                customer: "",
            };
            let fen = 100 + i as i64;
            if i % 11 != 0 {
                rec(Side::Ledger, fen, 0)
                    .encode(&mut ledger)
                    .expect("encode");
            }
            if i % 13 != 0 {
                let listed = if i % 7 == 0 { fen + 1 } else { fen };
                rec(Side::Statement, listed, i as u64)
                    .encode(&mut statement)
                    .expect("encode");
            }
            if i % 17 == 0 {
                rec(Side::Statement, fen, 10_000 + i as u64)
                    .encode(&mut statement)
                    .expect("encode");
            }
        }
        vec![ledger, statement]
    }

    /// What matching a partition left: the result buckets' bytes, the
    /// shops with rows and the rows by alert class.
    type Matched = (Vec<Vec<u8>>, Vec<String>, Vec<(&'static str, u64)>);

    /// Matches `pieces` in slices of `slice_bytes`.
    fn matched(dir: &Path, name: &str, pieces: Vec<Vec<u8>>, slice_bytes: usize) -> Matched {
        let mut out = Partitions::with_budget(dir, name, 4, 1 << 20).expect("create");
        let mut gathered = Gathered::default();
        match_pieces(
            pieces,
            slice_bytes,
            &AnomalyNotes::new(),
            &mut gathered,
            &mut out,
        )
        .expect("match");
        let buckets = out
            .finish()
            .expect("finish")
            .into_iter()
            .map(|b| b.into_bytes().expect("bytes"))
            .collect();
        let mut shops: Vec<_> = gathered.shops.into_iter().collect();
        shops.sort();
        let classes = gathered
            .classes
            .iter()
            .map(|(c, a)| (*c, a.count))
            .collect();
        (buckets, shops, classes)
    }

    fn frames(mut bytes: &[u8]) -> usize {
        let mut count = 0;
        while let Some((_, rest)) = crate::varint::take_frame(bytes) {
            (bytes, count) = (rest, count + 1);
        }
        assert!(bytes.is_empty());
        count
    }

    #[test]
    fn a_partition_matched_in_slices_gives_the_rows_of_it_matched_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let refs: Vec<String> = (0..2_000).map(|i| format!("ord-{i:05}")).collect();
        let shops: Vec<String> = (0..7).map(|i| format!("shop-{i}")).collect();
        let pieces = pieces(&refs, &shops);
        let size: usize = pieces.iter().map(Vec::len).sum();
        let whole = matched(dir.path(), "whole", pieces.clone(), usize::MAX);
        // About 1 KiB a slice: 128 slices or more.
        assert!(size / 1024 >= 100, "{size} bytes");
        let sliced = matched(dir.path(), "sliced", pieces, 1024);
        assert_eq!(sliced, whole);
        // The rows are really there: an order has a row per movement on its
        // busier side (booked, listed, listed again).
        let rows: usize = whole.0.iter().map(|b| frames(b)).sum();
        let expected: usize = (0..2_000)
            .map(|i| {
                usize::from(i % 11 != 0).max(usize::from(i % 13 != 0) + usize::from(i % 17 == 0))
            })
            .sum();
        assert_eq!((rows, expected), (2_095, 2_095));
        assert_eq!(whole.1, shops);
        let classes: Vec<&str> = whole.2.iter().map(|(c, _)| *c).collect();
        assert_eq!(
            classes,
            [
                "AMOUNT_MISMATCH",
                "DUPLICATE",
                "MISSING_IN_LEDGER",
                "MISSING_IN_PROVIDER"
            ]
        );
    }

    #[test]
    fn result_buckets_grow_with_the_day_in_powers_of_two() {
        assert_eq!(result_buckets(0), 64);
        assert_eq!(result_buckets(2_024_000), 64);
        assert_eq!(result_buckets(2_600_000), 128);
        assert_eq!(result_buckets(5_200_000), 256);
        assert_eq!(result_buckets(20_120_000), 512);
        assert_eq!(result_buckets(u64::MAX), 1024);
    }
}
