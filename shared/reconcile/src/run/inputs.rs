//! A run's inputs, spilled: the statements and bank receipts downloaded to
//! scratch files, the ledger paged from its source; both sides spilled to
//! partitions at once (the statements on two threads), the bank receipts
//! read whole (one per batch), and the gaps (missing or unreadable inputs)
//! the run must report.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use qrpay_domain::{BusinessDate, LedgerEntry, LedgerKind, Provider};
use qrpay_store::{LedgerPage, ReconciliationStore, StoreError, LEDGER_DAY_PARTS, MAX_LEDGER_PAGE};

use super::error::ReconcileError;
use super::settlement::{settlement_effect, Batches, Receipts, SettleInputs};
use super::threads::{blocking, on_two_threads};
use crate::bank::read_receipts;
use crate::model::{LineError, MovementKind, ProviderStatus, StatementRow};
use crate::objects::{receipts_key, statement_key, ObjectStore};
use crate::spill::{update, Partitions, Rec, Side, Spilled};
use crate::statement::{self, Format};

/// Examples kept per input-error list.
const ERROR_EXAMPLES: usize = 5;

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
impl<S: ReconciliationStore + ?Sized> LedgerSource for S {
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

/// A shared store as a ledger source (`Arc<dyn ReconciliationStore>` cannot be turned
/// into `Arc<dyn LedgerSource>` directly).
pub struct StoreLedger(pub Arc<dyn ReconciliationStore>);

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

/// A line of an input that could not be read.
#[derive(Debug, Clone)]
pub(super) struct InputError {
    pub(super) source: String,
    pub(super) error: LineError,
}

/// The unreadable lines of some inputs: how many, and the first few.
#[derive(Debug, Clone, Default)]
pub(super) struct InputErrors {
    pub(super) first: Vec<InputError>,
    pub(super) count: u64,
}

impl InputErrors {
    fn add(&mut self, source: &str, error: LineError) {
        self.count += 1;
        if self.first.len() < ERROR_EXAMPLES {
            self.first.push(InputError {
                source: source.to_owned(),
                error,
            });
        }
    }

    /// Adds another thread's errors to this input's (same cap).
    fn merge(&mut self, other: InputErrors) {
        self.count += other.count;
        let room = ERROR_EXAMPLES.saturating_sub(self.first.len());
        self.first.extend(other.first.into_iter().take(room));
    }

    /// Adds another input's errors, keeping its own first few.
    fn append(&mut self, other: InputErrors) {
        self.count += other.count;
        self.first.extend(other.first);
    }
}

/// Where the inputs come from, and whom to tell about progress.
pub(super) struct InputSources<'a> {
    pub(super) ledger: &'a dyn LedgerSource,
    pub(super) objects: &'a dyn ObjectStore,
    /// Provider of payouts (their ledger entries name no provider).
    pub(super) payout_provider: Provider,
    pub(super) say: &'a (dyn Fn(&str) + Sync),
}

/// Both sides of the day, spilled, and what the run learnt reading them.
pub(super) struct Inputs {
    pub(super) ledger: Vec<Spilled>,
    pub(super) ledger_rows: u64,
    /// Per statement thread, its partitions.
    pub(super) statements: Vec<Vec<Spilled>>,
    pub(super) statement_rows: u64,
    pub(super) settle: SettleInputs,
    pub(super) gaps: Vec<String>,
    pub(super) errors: InputErrors,
}

/// Downloads the day's statements and bank receipts, spills both sides into
/// `partitions` partitions under `dir`, and reads the bank receipts.
pub(super) async fn read_inputs(
    sources: &InputSources<'_>,
    dir: &Path,
    partitions: usize,
    date: BusinessDate,
) -> Result<Inputs, ReconcileError> {
    let (statements, bank) = download(sources, dir, date).await?;
    let downloaded: Vec<Provider> = statements.iter().map(|(p, _)| *p).collect();
    // Spill both sides at once.
    let statement_dir = dir.to_owned();
    let statement_task = blocking(move || {
        spill_statements_in_parallel(&statement_dir, partitions, date, statements)
    });
    let ledger = spill_ledger(sources, dir, partitions, date).await;
    let (statement_parts, side) = statement_task.await?;
    let (ledger_parts, ledger_rows, ledger_providers) = ledger?;
    (sources.say)(&format!(
        "{date}: spilled {ledger_rows} ledger and {} statement movements",
        side.rows
    ));

    let mut gaps = side.gaps;
    gaps.extend(missing_statements(date, &ledger_providers, &downloaded));
    let mut errors = side.errors;
    let receipts = match &bank {
        Some(path) => {
            let (receipts, bank_errors, gap) = read_bank(path, date)?;
            errors.append(bank_errors);
            gaps.extend(gap);
            receipts
        }
        None => {
            // A day with no movement at all has nothing to settle.
            if ledger_rows > 0 || !downloaded.is_empty() {
                gaps.push(format!(
                    "no bank receipts for {date} (expected at {}): every settlement batch is reported SETTLEMENT_MISMATCH",
                    receipts_key(date)
                ));
            }
            Receipts::new()
        }
    };
    gaps.extend(unreadable_lines(&errors));
    Ok(Inputs {
        ledger: ledger_parts,
        ledger_rows,
        statements: statement_parts,
        statement_rows: side.rows,
        settle: SettleInputs {
            batches: side.batches,
            receipts,
            have_bank: bank.is_some(),
        },
        gaps,
        errors,
    })
}

/// The day's statements (per provider) and bank receipts, as local files.
async fn download(
    sources: &InputSources<'_>,
    dir: &Path,
    date: BusinessDate,
) -> Result<(Vec<(Provider, PathBuf)>, Option<PathBuf>), ReconcileError> {
    let mut statements = Vec::new();
    for provider in Provider::ALL {
        let path = dir.join(format!("statement-{provider}.csv"));
        if sources
            .objects
            .download(&statement_key(date, provider), &path)
            .await?
        {
            statements.push((provider, path));
        }
    }
    let bank_path = dir.join("bank.csv");
    let have_bank = sources
        .objects
        .download(&receipts_key(date), &bank_path)
        .await?;
    (sources.say)(&format!(
        "{date}: {} statement(s) found{}",
        statements.len(),
        if have_bank {
            ", bank receipts found"
        } else {
            ", no bank receipts"
        }
    ));
    Ok((statements, have_bank.then_some(bank_path)))
}

/// A gap per provider the ledger has movements of but no statement came from.
fn missing_statements(
    date: BusinessDate,
    ledger_providers: &BTreeSet<Provider>,
    downloaded: &[Provider],
) -> Vec<String> {
    ledger_providers
        .iter()
        .filter(|provider| !downloaded.contains(provider))
        .map(|provider| format!(
            "no {provider} statement for {date} (expected at {}): its ledger movements are reported MISSING_IN_PROVIDER",
            statement_key(date, *provider)
        ))
        .collect()
}

/// The gap that says how many input lines could not be read, if any.
fn unreadable_lines(errors: &InputErrors) -> Option<String> {
    (errors.count > 0).then(|| {
        format!(
            "{} input line(s) could not be read; first: {}",
            errors.count,
            errors
                .first
                .iter()
                .map(|e| format!("{} {}", e.source, e.error))
                .collect::<Vec<_>>()
                .join("; ")
        )
    })
}

/// Ledger pages the reader may be ahead of the writer.
const PAGES_AHEAD: usize = 4;

/// The ledger's movements, as spilled.
type LedgerSpilled = (Vec<Spilled>, u64, BTreeSet<Provider>);

/// Pages through every part of the day's ledger into partitions: the
/// partitions, the movements read, and the providers they name. The pages
/// are read here while a thread of its own encodes and spills them (a
/// store's next page is on its way while this one is written), in the
/// order read.
async fn spill_ledger(
    sources: &InputSources<'_>,
    dir: &Path,
    partitions: usize,
    date: BusinessDate,
) -> Result<LedgerSpilled, ReconcileError> {
    let spill = Partitions::create(dir, "ledger", partitions)?;
    let (pages, received) = tokio::sync::mpsc::channel(PAGES_AHEAD);
    let payout_provider = sources.payout_provider;
    // `blocking` starts the writer now, not when awaited: the reader
    // below would otherwise wait on a full channel for ever.
    let writer = blocking(move || spill_pages(spill, received, payout_provider));
    let read = read_pages(sources, date, pages).await;
    // A writer that failed stopped taking pages: its error is the one.
    let written = writer.await?;
    read?;
    Ok(written)
}

/// Sends every page of the day's ledger, part by part, until the writer
/// stops taking them.
async fn read_pages(
    sources: &InputSources<'_>,
    date: BusinessDate,
    pages: tokio::sync::mpsc::Sender<Vec<LedgerEntry>>,
) -> Result<(), ReconcileError> {
    let (mut read, mut next_report) = (0u64, 1_000_000);
    for part in 0..LEDGER_DAY_PARTS {
        let mut after: Option<String> = None;
        loop {
            let page = sources
                .ledger
                .ledger_page(date, part, after.as_deref(), MAX_LEDGER_PAGE)
                .await?;
            read += page.entries.len() as u64;
            if pages.send(page.entries).await.is_err() {
                return Ok(());
            }
            if read >= next_report {
                (sources.say)(&format!("{date}: {read} ledger movements read"));
                next_report += 1_000_000;
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    Ok(())
}

/// Encodes and spills the pages as they come (a blocking thread).
fn spill_pages(
    mut spill: Partitions,
    mut pages: tokio::sync::mpsc::Receiver<Vec<LedgerEntry>>,
    payout_provider: Provider,
) -> Result<LedgerSpilled, ReconcileError> {
    let mut providers = BTreeSet::new();
    while let Some(entries) = pages.blocking_recv() {
        for entry in &entries {
            let rec = rec_of_entry(entry, payout_provider);
            if let Some(p) = rec.provider {
                providers.insert(p);
            }
            spill.push(&rec)?;
        }
    }
    let rows = spill.records();
    Ok((spill.finish()?, rows, providers))
}

fn rec_of_entry(entry: &LedgerEntry, payout_provider: Provider) -> Rec<'_> {
    Rec {
        side: Side::Ledger,
        kind: MovementKind::of_ledger(entry.kind),
        status: ProviderStatus::Success,
        // Our own movements (adjustments) belong to no provider; payouts
        // without one are the configured payout provider's.
        provider: match entry.kind {
            LedgerKind::AdjustmentCredit | LedgerKind::AdjustmentDebit => None,
            _ => entry.provider.or(Some(payout_provider)),
        },
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

/// A statement row as records: the movement, and its fee if it has one (a
/// payment's fee, or the fee a refund handed back).
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
    let fee_kind = match row.kind {
        MovementKind::Payment => Some(MovementKind::Fee),
        // Only money that went back hands a fee back.
        MovementKind::Refund if row.status == ProviderStatus::Success => {
            Some(MovementKind::FeeReturned)
        }
        _ => None,
    };
    let fee = fee_kind.filter(|_| row.fee_fen > 0).map(|kind| Rec {
        kind,
        amount_fen: row.fee_fen,
        customer: "",
        ..movement
    });
    (movement, fee)
}

/// The statement side, once spilled.
#[derive(Default)]
struct StatementSide {
    rows: u64,
    batches: Batches,
    errors: InputErrors,
    gaps: Vec<String>,
}

impl StatementSide {
    /// Adds another thread's side to this one.
    fn merge(&mut self, other: StatementSide) {
        self.rows += other.rows;
        for (provider, shops) in other.batches {
            let into = self.batches.entry(provider).or_default();
            for (shop, net) in shops {
                *into.entry(shop).or_default() += net;
            }
        }
        self.errors.merge(other.errors);
        self.gaps.extend(other.gaps);
    }
}

/// Spills the statements on two threads, biggest files first; each thread
/// has its own spill file.
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
        side.merge(part);
    }
    Ok((parts, side))
}

/// Spills `statements` one after the other into partitions named `name`.
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
        spill_statement(&mut spill, &mut side, provider, &path, date)?;
    }
    Ok((spill.finish()?, side))
}

/// Spills one provider's statement, line by line, adding each movement to
/// its shop's settlement batch.
fn spill_statement(
    spill: &mut Partitions,
    side: &mut StatementSide,
    provider: Provider,
    path: &Path,
    date: BusinessDate,
) -> Result<(), ReconcileError> {
    let source = statement_key(date, provider);
    let input = BufReader::with_capacity(1 << 20, File::open(path)?);
    let rows = match statement::read(Format::for_provider(provider), provider, date, input) {
        Ok(rows) => rows,
        Err(error) => {
            side.gaps.push(format!(
                "the {provider} statement {source} cannot be read: {error}; its movements are not reconciled"
            ));
            side.errors.add(&source, error);
            return Ok(());
        }
    };
    for row in rows {
        match row {
            Ok(row) => {
                side.rows += 1;
                let (movement, fee) = recs_of_row(&row);
                let shops = side.batches.entry(provider).or_default();
                let mut effect = 0i64;
                for rec in std::iter::once(movement).chain(fee) {
                    effect = effect.saturating_add(settlement_effect(&rec));
                    spill.push(&rec)?;
                }
                // The movement and its fee are one shop's batch.
                update(shops, movement.shop_id, |net| {
                    *net = net.saturating_add(effect)
                });
            }
            Err(error) => side.errors.add(&source, error),
        }
    }
    Ok(())
}

/// The bank's receipts by batch, their unreadable lines, and the gap if the
/// file cannot be read at all.
fn read_bank(
    path: &Path,
    date: BusinessDate,
) -> Result<(Receipts, InputErrors, Option<String>), ReconcileError> {
    let source = receipts_key(date);
    let input = BufReader::new(File::open(path)?);
    let mut receipts = Receipts::new();
    let mut errors = InputErrors::default();
    let rows = match read_receipts(date, input) {
        Ok(rows) => rows,
        Err(error) => {
            let gap = format!("the bank receipts {source} cannot be read: {error}");
            errors.add(&source, error);
            return Ok((receipts, errors, Some(gap)));
        }
    };
    for row in rows {
        match row {
            Ok(r) => receipts
                .entry(r.batch_id)
                .or_default()
                .push((r.receipt_id, r.amount_fen)),
            Err(error) => errors.add(&source, error),
        }
    }
    Ok((receipts, errors, None))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    use super::*;
    use crate::objects::LocalDir;
    use crate::synthetic::SyntheticDay;

    /// A generated day's ledger that counts the pages it serves.
    struct CountedLedger {
        day: SyntheticDay,
        pages: AtomicUsize,
    }

    #[async_trait]
    impl LedgerSource for CountedLedger {
        async fn ledger_page(
            &self,
            date: BusinessDate,
            part: u16,
            after: Option<&str>,
            limit: usize,
        ) -> Result<LedgerPage, StoreError> {
            self.pages.fetch_add(1, SeqCst);
            self.day.ledger_page(date, part, after, limit).await
        }
    }

    #[tokio::test]
    async fn a_spill_writer_that_cannot_write_fails_the_read_and_stops_the_reader() {
        let scratch = tempfile::tempdir().expect("tempdir");
        let dir = scratch.path();
        // The writer's spill file cannot be created: a directory is in its
        // place. It is created once the buffers pass their budget (8 MiB,
        // some 100,000 movements), far before the day's end.
        std::fs::create_dir(dir.join("ledger.spill")).expect("in the way");
        let date = BusinessDate::parse("2026-11-20").expect("date");
        let ledger = CountedLedger {
            day: SyntheticDay::new(date, 2_000_000),
            pages: AtomicUsize::new(0),
        };
        let objects = LocalDir::new(dir.join("objects"));
        let sources = InputSources {
            ledger: &ledger,
            objects: &objects,
            payout_provider: Provider::Sandbox,
            say: &|_: &str| {},
        };
        let spilled = spill_ledger(&sources, dir, 256, date).await;
        assert!(
            matches!(&spilled, Err(ReconcileError::Io(e)) if e.kind() == std::io::ErrorKind::AlreadyExists),
            "{:?}",
            spilled.as_ref().map(|(_, rows, _)| rows)
        );
        // The reader stopped within a few pages of the failure instead of
        // reading the other 1.9 million movements for nobody.
        let read = ledger.pages.load(SeqCst) * MAX_LEDGER_PAGE;
        assert!((50_000..300_000).contains(&read), "{read} movements read");
    }
}
