//! Report writing: each result bucket indexed (24 bytes per row: shop, time,
//! offset), grouped by shop and rendered as that shop's CSV and JSON, rows
//! read back by offset (from memory if the bucket is small, from its file
//! otherwise); and each shop's summary.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use qrpay_domain::reconciliation::{average, ratio};
use qrpay_domain::{BusinessDate, ReconciliationSummary, ShopId};
use rust_decimal::Decimal;

use super::error::ReconcileError;
use super::kpi::DayExtras;
use super::threads::on_two_threads;
use crate::objects::report_key;
use crate::report::{ReportRow, ShopTally, CSV_BOM, CSV_HEADER};
use crate::report_json::{self, JsonReport};
use crate::spill::{partition_of, FastMap, Spilled};
use crate::varint;

/// A bucket up to this size is read into memory to write its reports;
/// bigger ones are read by offset from the file.
const BUCKET_IN_MEMORY: u64 = 64 * 1024 * 1024;

/// A shop's finished report, ready to publish.
pub(super) struct ShopReport {
    pub(super) summary: ReconciliationSummary,
    pub(super) tally: ShopTally,
    pub(super) csv: PathBuf,
    pub(super) json: PathBuf,
}

/// What every shop's report of the run shares.
pub(super) struct ReportRun<'a> {
    pub(super) date: BusinessDate,
    pub(super) run_id: &'a str,
    pub(super) now: DateTime<Utc>,
    pub(super) gaps: &'a [String],
    /// Each shop's KPI inputs beyond its ledger tally.
    pub(super) extras: &'a FastMap<String, DayExtras>,
}

/// Writes every shop's CSV and JSON from the result buckets (two threads),
/// in shop order.
pub(super) fn write_reports(
    out_dir: &Path,
    run: &ReportRun<'_>,
    buckets: Vec<Vec<Spilled>>,
    tallies: FastMap<String, ShopTally>,
) -> Result<Vec<ShopReport>, ReconcileError> {
    std::fs::create_dir_all(out_dir)?;
    // Bucket i of every writer holds the same shops: group them.
    let count = buckets.first().map_or(1, Vec::len);
    let mut groups: Vec<Vec<Spilled>> = (0..count).map(|_| Vec::new()).collect();
    for writer in buckets {
        for (i, part) in writer.into_iter().enumerate() {
            if let Some(group) = groups.get_mut(i) {
                group.push(part);
            }
        }
    }
    // Each bucket's shops' settlement tallies go with it, to be moved, not
    // copied, into its shops' reports (which count the rest from the rows).
    let mut bucket_tallies: Vec<FastMap<String, ShopTally>> =
        (0..count).map(|_| FastMap::default()).collect();
    for (shop, tally) in tallies {
        bucket_tallies[partition_of(&shop, count)].insert(shop, tally);
    }
    let groups: Vec<(usize, Vec<Spilled>, FastMap<String, ShopTally>)> = groups
        .into_iter()
        .zip(bucket_tallies)
        .enumerate()
        .map(|(bucket, (parts, tallies))| (bucket, parts, tallies))
        .collect();
    let done = on_two_threads(groups, |worker, mine| {
        // A directory per thread: creating a file locks its directory, and
        // two threads creating thousands in one wait on each other.
        let out_dir = out_dir.join(format!("w{worker}"));
        std::fs::create_dir_all(&out_dir)?;
        let mut done = Vec::new();
        for (bucket, parts, mut tallies) in mine {
            let rows = BucketRows::index(&out_dir, bucket, parts)?;
            for shop in rows.shops() {
                let tally = tallies.remove(shop.name).unwrap_or_default();
                done.push(write_shop_report(&out_dir, run, &rows, shop, tally)?);
            }
        }
        Ok(done)
    })?;
    let mut reports: Vec<ShopReport> = done.into_iter().flatten().collect();
    reports.sort_by(|a, b| a.summary.shop_id.cmp(&b.summary.shop_id));
    Ok(reports)
}

/// Writes one shop's CSV and JSON from its rows in the bucket.
fn write_shop_report(
    out_dir: &Path,
    run: &ReportRun<'_>,
    rows: &BucketRows,
    shop: ShopRows<'_>,
    mut tally: ShopTally,
) -> Result<ShopReport, ReconcileError> {
    let name = shop.name;
    let csv_path = out_dir.join(format!("{name}.csv"));
    let json_path = out_dir.join(format!("{name}.json"));
    let mut csv = BufWriter::with_capacity(1 << 16, File::create(&csv_path)?);
    csv.write_all(CSV_BOM)?;
    csv.write_all(CSV_HEADER.as_bytes())?;
    csv.write_all(b"\r\n")?;
    let mut json = JsonReport::begin(
        BufWriter::with_capacity(1 << 16, File::create(&json_path)?),
        name,
        run.date,
        run.run_id,
    )?;
    let day = run.date.to_string();
    let (mut csv_line, mut json_row) = (Vec::with_capacity(512), Vec::with_capacity(1024));
    let mut buffer = Vec::new();
    for slot in shop.slots {
        let row = ReportRow::decode(rows.bytes(slot, &mut buffer)?)?;
        tally.count_row(&row);
        csv_line.clear();
        row.write_csv(&day, &mut csv_line);
        csv.write_all(&csv_line)?;
        json_row.clear();
        report_json::write_row(&row, &mut json_row);
        json.row(&json_row)?;
    }
    csv.flush()?;
    let summary = summarize(name, run, &tally)?;
    json.finish(&summary)?.flush()?;
    Ok(ShopReport {
        summary,
        tally,
        csv: csv_path,
        json: json_path,
    })
}

/// One row's place in a bucket: (shop rank, time, source, offset, length).
type Slot = (u32, i64, usize, u64, u32);

/// The rows of one result bucket (from every writer), indexed and sorted by
/// shop name, then time, then where the row was written (stable).
struct BucketRows {
    /// Shop names, by rank.
    shops: Vec<String>,
    slots: Vec<Slot>,
    /// Each writer's part of the bucket.
    sources: Vec<RowBytes>,
}

/// The rows of one shop in a bucket.
struct ShopRows<'b> {
    name: &'b str,
    slots: &'b [Slot],
}

impl BucketRows {
    /// Indexes the parts of bucket number `bucket`; a part too big for
    /// memory is kept as a file under `out_dir`.
    fn index(out_dir: &Path, bucket: usize, parts: Vec<Spilled>) -> io::Result<BucketRows> {
        let mut names = ShopNames::default();
        let mut sources = Vec::new();
        let mut slots: Vec<Slot> = Vec::new();
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
        let shops = names.rank_by_name(&mut slots);
        slots.sort_unstable();
        Ok(BucketRows {
            shops,
            slots,
            sources,
        })
    }

    /// Each shop's rows, in shop order.
    fn shops(&self) -> impl Iterator<Item = ShopRows<'_>> {
        self.slots
            .chunk_by(|a, b| a.0 == b.0)
            .map(|slots| ShopRows {
                name: &self.shops[slots[0].0 as usize],
                slots,
            })
    }

    /// The bytes of the row at `slot`.
    fn bytes<'b>(&'b self, slot: &Slot, buffer: &'b mut Vec<u8>) -> io::Result<&'b [u8]> {
        let &(_, _, source, offset, len) = slot;
        self.sources[source].row(offset, len as usize, buffer)
    }
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

/// One row's place in one writer's part of a bucket: (shop, time, offset,
/// length).
type PartSlot = (u32, i64, u64, u32);

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

    /// Renumbers the shops of `slots` by name (ranked once, so sorting the
    /// slots compares integers); the names in rank order.
    fn rank_by_name(self, slots: &mut [Slot]) -> Vec<String> {
        let shops = self.names;
        let mut by_name: Vec<u32> = (0..shops.len() as u32).collect();
        by_name.sort_unstable_by(|a, b| shops[*a as usize].cmp(&shops[*b as usize]));
        let mut rank = vec![0u32; shops.len()];
        for (r, id) in by_name.iter().enumerate() {
            rank[*id as usize] = r as u32;
        }
        for slot in slots {
            slot.0 = rank[slot.0 as usize];
        }
        by_name
            .iter()
            .map(|id| shops[*id as usize].clone())
            .collect()
    }
}

/// Indexes one writer's part of a bucket: in memory if it is small enough,
/// streaming from its file (kept at `fallback`) otherwise.
fn index_bucket(
    part: Spilled,
    fallback: PathBuf,
    shops: &mut ShopNames,
) -> io::Result<(Vec<PartSlot>, RowBytes)> {
    if part.len() <= BUCKET_IN_MEMORY {
        let bytes = part.into_bytes()?;
        let slots = index_in_memory(&bytes, shops)?;
        return Ok((slots, RowBytes::Memory(bytes)));
    }
    // Too big to hold: index it streaming, read rows back by offset.
    let path = part.into_file(fallback)?;
    let slots = index_file(&path, shops)?;
    Ok((slots, RowBytes::File(File::open(&path)?)))
}

/// The slots of length-prefixed rows held in memory.
fn index_in_memory(bytes: &[u8], shops: &mut ShopNames) -> io::Result<Vec<PartSlot>> {
    let mut slots = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (body, after) = varint::take_frame(rest).ok_or_else(truncated)?;
        let len = u32::try_from(body.len()).map_err(|_| truncated())?;
        let (shop, at_ms) = ReportRow::shop_and_time(body)?;
        let offset = (bytes.len() - after.len() - body.len()) as u64;
        slots.push((shops.id(shop), at_ms, offset, len));
        rest = after;
    }
    Ok(slots)
}

fn truncated() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "truncated bucket")
}

/// A row's length prefix read from `reader`, and its own length; `None` at
/// the end.
fn read_len(reader: &mut impl io::Read) -> io::Result<Option<(u32, u64)>> {
    let mut head = Vec::with_capacity(5);
    let mut byte = [0u8; 1];
    loop {
        match reader.read_exact(&mut byte) {
            Ok(()) => head.push(byte[0]),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && head.is_empty() => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        }
        if byte[0] & 0x80 == 0 {
            let (len, _) = varint::take_u64(&head).ok_or_else(truncated)?;
            let len = u32::try_from(len).map_err(|_| truncated())?;
            return Ok(Some((len, head.len() as u64)));
        }
        if head.len() >= 5 {
            return Err(truncated());
        }
    }
}

/// The slots of length-prefixed rows in a file, read streaming.
fn index_file(path: &Path, shops: &mut ShopNames) -> io::Result<Vec<PartSlot>> {
    let mut slots = Vec::new();
    let mut reader = BufReader::with_capacity(1 << 20, File::open(path)?);
    let mut offset = 0u64;
    let mut body = Vec::new();
    while let Some((len, head)) = read_len(&mut reader)? {
        body.resize(len as usize, 0);
        io::Read::read_exact(&mut reader, &mut body)?;
        let (shop, at_ms) = ReportRow::shop_and_time(&body)?;
        slots.push((shops.id(shop), at_ms, offset + head, len));
        offset += head + u64::from(len);
    }
    Ok(slots)
}

/// A shop's summary of the run (SPEC §6), stored beside its reports.
fn summarize(
    shop: &str,
    run: &ReportRun<'_>,
    tally: &ShopTally,
) -> Result<ReconciliationSummary, ReconcileError> {
    let shop_id = ShopId::parse(shop).map_err(|e| {
        ReconcileError::Io(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("shop id {shop:?}: {e}"),
        ))
    })?;
    let rows = tally.rows();
    let attempted = tally.deductions.count + tally.deductions_failed;
    let kpi_inputs = run
        .extras
        .get(shop)
        .copied()
        .unwrap_or_default()
        .inputs(tally);
    Ok(ReconciliationSummary {
        shop_id,
        date: run.date,
        run_id: run.run_id.to_owned(),
        generated_at: run.now,
        rows,
        outcomes: tally.outcome_counts(),
        discrepancies: tally.discrepancies(),
        payments: tally.payments,
        refunds: tally.refunds,
        fees: tally.fees,
        fees_returned: tally.fees_returned,
        deductions: tally.deductions,
        payouts: tally.payouts,
        adjustment_credits: tally.adjustment_credits,
        adjustment_debits: tally.adjustment_debits,
        deductions_failed: tally.deductions_failed,
        payments_by_hour: tally.payments_spread.by_hour,
        payments_by_provider: tally.payments_spread.by_provider(),
        monthly_pay_orders: tally.monthly_pay_orders,
        average_order_value: average(tally.payments.total, tally.payments.count),
        refund_ratio: ratio(tally.refunds.total.fen(), tally.payments.total.fen()),
        deduction_failure_rate: ratio(
            i64::try_from(tally.deductions_failed).unwrap_or(i64::MAX),
            i64::try_from(attempted).unwrap_or(i64::MAX),
        ),
        settlement_expected: Decimal::new(tally.settlement_expected_fen, 2),
        settlement_received: Decimal::new(tally.settlement_received_fen, 2),
        gaps: run.gaps.to_vec(),
        report_csv: report_key(run.date, shop, "csv"),
        report_json: report_key(run.date, shop, "json"),
        kpi_inputs: Some(kpi_inputs),
        kpis: Some(kpi_inputs.kpis()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::row;

    #[test]
    fn a_bucket_is_indexed_alike_from_memory_and_from_its_file() {
        // Rows of two shops, one with a note long enough for a two-byte
        // length prefix.
        let long_note = "x".repeat(300);
        let mut bytes = Vec::new();
        for (i, shop) in ["shop-2", "shop-1", "shop-2"].into_iter().enumerate() {
            let mut r = row();
            r.shop_id = shop;
            r.at_ms = 10 - i as i64;
            if i == 1 {
                r.note = std::borrow::Cow::Borrowed(&long_note);
            }
            r.encode(&mut bytes).expect("encode");
        }
        let mut names = ShopNames::default();
        let in_memory = index_in_memory(&bytes, &mut names).expect("index");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bucket");
        std::fs::write(&path, &bytes).expect("write");
        let from_file = index_file(&path, &mut names).expect("index");
        assert_eq!(in_memory, from_file);
        assert_eq!(
            in_memory.iter().map(|s| (s.0, s.1)).collect::<Vec<_>>(),
            [(0, 10), (1, 9), (0, 8)]
        );
        let source = RowBytes::File(File::open(&path).expect("open"));
        let mut buffer = Vec::new();
        let (_, _, offset, len) = in_memory[1];
        let second = ReportRow::decode(source.row(offset, len as usize, &mut buffer).expect("row"))
            .expect("decode");
        assert_eq!((second.shop_id, second.note.len()), ("shop-1", 300));
        // A bucket cut inside a row is refused, not read short.
        std::fs::write(&path, &bytes[..bytes.len() - 3]).expect("write");
        assert!(index_file(&path, &mut names).is_err());
        assert!(index_in_memory(&bytes[..bytes.len() - 3], &mut names).is_err());
    }
}
