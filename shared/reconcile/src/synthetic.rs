//! A synthetic business day for the benchmark (`recon-bench`) and its test:
//! `movements` ledger entries across `shops` shops and three providers, the
//! three statements (sandbox CSV, WeChat-style, Alipay-style) and the bank
//! receipts, with a known 1% of discrepancies of every kind. Everything is
//! generated on the fly from the movement's index, so the generator itself
//! holds nothing per movement.
//!
//! Movement `i`: shop `i % shops`; kind by `i % 10` (0–5 payment, 6 refund,
//! 7–8 deduction, 9 payout); provider by `i % 3` (payouts: the sandbox);
//! injected discrepancy by `c = (i / 10) % 100`, so every kind gets every
//! class:
//! - 11: the statement leaves it out → `MISSING_IN_PROVIDER`
//! - 22: the statement also lists a charge we never booked → `MISSING_IN_LEDGER`
//! - 33: the statement's amount is 0.01 more → `AMOUNT_MISMATCH`
//! - 44: the statement says PROCESSING → `STATUS_MISMATCH`
//! - 55: the statement lists it twice → `DUPLICATE`
//! - 66: a deduction's next period failed at the provider (a matched
//!   failure, counted in the deduction-failure rate)
//! - settlement: every 100th shop's bank receipts are 0.01 off →
//!   `SETTLEMENT_MISMATCH`

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Asia::Shanghai;
use qrpay_domain::money_text::{push_fen, push_u64};
use qrpay_domain::time::from_millis;
use qrpay_domain::{Amount, BusinessDate, LedgerEntry, LedgerKind, Provider, ShopId};
use qrpay_store::{ledger_part, LedgerPage, StoreError, LEDGER_DAY_PARTS, MAX_LEDGER_PAGE};

use crate::bank::{batch_id, BankReceipt, ReceiptWriter};
use crate::matcher::Outcome;
use crate::model::{MovementKind, ProviderStatus, StatementRow};
use crate::objects::{receipts_key, statement_key, ObjectError, ObjectStore};
use crate::run::LedgerSource;
use crate::statement::{Format, StatementWriter};

/// Providers of the synthetic day, one statement format each.
pub const PROVIDERS: [Provider; 3] = [Provider::Sandbox, Provider::Wechatpay, Provider::Alipay];

#[derive(Debug, Clone)]
pub struct SyntheticDay {
    pub date: BusinessDate,
    pub movements: u64,
    pub shops: u64,
    shop_ids: Vec<ShopId>,
    start_ms: i64,
    /// Shop indices of each ledger part, in name order.
    parts: Vec<Vec<u64>>,
}

/// What a correct reconciliation of the synthetic day must find.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    pub outcomes: BTreeMap<String, u64>,
    pub ledger_rows: u64,
    pub statement_rows: u64,
    pub deductions_failed: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SyntheticError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error(transparent)]
    Objects(#[from] ObjectError),
}

/// `prefix` then `n` in decimal, at least `width` digits (zeros before),
/// without the formatting machinery: one allocation, the text's own (the
/// generator stands in for the store's pages, and should cost no more).
fn padded(prefix: &str, n: u64, width: usize) -> String {
    let mut digits = [b'0'; 20];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let at = at.min(digits.len().saturating_sub(width));
    let mut out = String::with_capacity(prefix.len() + digits.len() - at);
    out.push_str(prefix);
    out.extend(digits[at..].iter().map(|d| char::from(*d)));
    out
}

/// `prefix` then `n` in decimal.
fn text(prefix: &str, n: u64) -> String {
    padded(prefix, n, 0)
}

fn shop_name(index: u64) -> String {
    format!("shop-{index:05}")
}

impl SyntheticDay {
    /// A day of `movements`, about one shop per thousand movements (1–10,000).
    pub fn new(date: BusinessDate, movements: u64) -> SyntheticDay {
        SyntheticDay::with_shops(date, movements, (movements / 1000).clamp(1, 10_000))
    }

    /// A day of `movements` spread over `shops` shops (at least one).
    pub fn with_shops(date: BusinessDate, movements: u64, shops: u64) -> SyntheticDay {
        let shops = shops.max(1);
        let mut parts: Vec<Vec<u64>> = vec![Vec::new(); usize::from(LEDGER_DAY_PARTS)];
        let mut names: Vec<(String, u64)> = (0..shops).map(|s| (shop_name(s), s)).collect();
        names.sort();
        for (name, index) in names {
            let part = ShopId::parse(&name).map(|id| ledger_part(&id)).unwrap_or(0);
            parts[usize::from(part)].push(index);
        }
        let start_ms = date
            .naive()
            .and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(Shanghai).single())
            .map(|t| t.with_timezone(&Utc).timestamp_millis())
            .unwrap_or(0);
        SyntheticDay {
            date,
            movements,
            shops,
            shop_ids: (0..shops)
                .filter_map(|s| ShopId::parse(&shop_name(s)).ok())
                .collect(),
            start_ms,
            parts,
        }
    }

    fn kind(i: u64) -> MovementKind {
        match i % 10 {
            0..=5 => MovementKind::Payment,
            6 => MovementKind::Refund,
            7 | 8 => MovementKind::Deduction,
            _ => MovementKind::Payout,
        }
    }

    fn class(i: u64) -> u64 {
        (i / 10) % 100
    }

    fn provider(i: u64) -> Provider {
        if Self::kind(i) == MovementKind::Payout {
            Provider::Sandbox
        } else {
            PROVIDERS[(i % 3) as usize]
        }
    }

    fn amount_fen(i: u64) -> i64 {
        100 + ((i * 7919) % 100_000) as i64
    }

    fn reference(i: u64) -> String {
        match Self::kind(i) {
            MovementKind::Payout => text("pay-", i),
            _ => text("ord-", i),
        }
    }

    fn period(i: u64) -> Option<u8> {
        (Self::kind(i) == MovementKind::Deduction).then_some(1 + (i % 2) as u8)
    }

    fn at(&self, i: u64) -> DateTime<Utc> {
        let spread = (i as i128 * 86_399_000 / self.movements.max(1) as i128) as i64;
        from_millis(self.start_ms + spread)
    }

    fn ledger_entry(&self, i: u64) -> Result<LedgerEntry, StoreError> {
        let kind = match Self::kind(i) {
            MovementKind::Payment | MovementKind::Fee => LedgerKind::Payment,
            MovementKind::Refund => LedgerKind::Refund,
            MovementKind::Deduction => LedgerKind::InstalmentDeduction,
            MovementKind::Payout => LedgerKind::Payout,
            MovementKind::AdjustmentCredit => LedgerKind::AdjustmentCredit,
            MovementKind::AdjustmentDebit => LedgerKind::AdjustmentDebit,
            MovementKind::FeeReturned => LedgerKind::FeeReturned,
        };
        let bad = |what: &str| StoreError::Corrupt(format!("synthetic {what}"));
        let monthly = (kind == LedgerKind::Payment && i.is_multiple_of(20))
            || kind == LedgerKind::InstalmentDeduction;
        Ok(LedgerEntry {
            entry_id: padded("m", i, 12),
            shop_id: self
                .shop_ids
                .get((i % self.shops) as usize)
                .cloned()
                .ok_or_else(|| bad("shop"))?,
            kind,
            amount: Amount::from_fen(Self::amount_fen(i)).map_err(|_| bad("amount"))?,
            business_date: self.date,
            reference: Self::reference(i),
            provider_ref: Some(text("t", i)),
            order_id: None,
            provider: (kind != LedgerKind::Payout).then(|| Self::provider(i)),
            period: Self::period(i),
            plan_periods: monthly.then_some(3),
            customer: (kind == LedgerKind::Payment).then(|| "张* 138****1234".to_owned()),
            created_at: self.at(i),
        })
    }

    fn statement_row(&self, i: u64) -> StatementRow {
        StatementRow {
            line: 0,
            provider: Self::provider(i),
            shop_id: shop_name(i % self.shops),
            kind: Self::kind(i),
            reference: Self::reference(i),
            provider_ref: format!("t{i}"),
            period: Self::period(i),
            amount_fen: Self::amount_fen(i),
            fee_fen: 0,
            status: ProviderStatus::Success,
            occurred_at: self.at(i),
            payer: None,
        }
    }

    /// Writes the day's statements and bank receipts to `objects` (through
    /// files in `scratch`) and says what reconciling it must find.
    pub async fn write_inputs(
        &self,
        objects: &dyn ObjectStore,
        scratch: &Path,
    ) -> Result<Expected, SyntheticError> {
        std::fs::create_dir_all(scratch)?;
        let day = self.clone();
        let dir = scratch.to_owned();
        let (expected, files) = tokio::task::spawn_blocking(move || day.write_files(&dir))
            .await
            .map_err(|e| io::Error::other(e.to_string()))??;
        for (key, path) in files {
            objects.upload(&key, &path, "text/csv").await?;
        }
        Ok(expected)
    }

    /// Writes the statements and bank receipts under `dir`: what
    /// reconciling them must find, and each file's object key and path.
    fn write_files(
        &self,
        dir: &Path,
    ) -> Result<(Expected, Vec<(String, PathBuf)>), SyntheticError> {
        let mut files = Vec::new();
        let mut statements = Statements::create(dir, self.date, &mut files)?;
        let mut expected = Expected::default();
        for i in 0..self.movements {
            self.write_movement(i, &mut statements, &mut expected)?;
        }
        let Statements { batches, rows, .. } = statements.finish()?;
        files.push(self.write_receipts(dir, batches, &mut expected)?);
        for o in Outcome::ALL {
            expected.outcomes.entry(o.as_str().to_owned()).or_insert(0);
        }
        expected.ledger_rows = self.movements;
        expected.statement_rows = rows;
        Ok((expected, files))
    }

    /// Movement `i` as the statements list it, with its injected
    /// discrepancy (module doc), and what reconciling it must find.
    fn write_movement(
        &self,
        i: u64,
        statements: &mut Statements,
        expected: &mut Expected,
    ) -> io::Result<()> {
        self.statement_rows_of(i, expected, &mut |row| statements.write(row))
    }

    /// Hands each statement row of movement `i` to `write`, in order, and
    /// counts what reconciling it must find.
    fn statement_rows_of(
        &self,
        i: u64,
        expected: &mut Expected,
        write: &mut dyn FnMut(&StatementRow) -> io::Result<()>,
    ) -> io::Result<()> {
        let row = self.statement_row(i);
        match Self::class(i) {
            11 => expected.count(Outcome::MissingInProvider),
            22 => {
                write(&row)?;
                expected.count(Outcome::Matched);
                let stray = StatementRow {
                    kind: MovementKind::Payment,
                    reference: format!("ordx-{i}"),
                    provider_ref: format!("x{i}"),
                    period: None,
                    ..row.clone()
                };
                write(&stray)?;
                expected.count(Outcome::MissingInLedger);
            }
            33 => {
                write(&StatementRow {
                    amount_fen: row.amount_fen + 1,
                    ..row.clone()
                })?;
                expected.count(Outcome::AmountMismatch);
            }
            44 => {
                write(&StatementRow {
                    status: ProviderStatus::Processing,
                    ..row.clone()
                })?;
                expected.count(Outcome::StatusMismatch);
            }
            55 => {
                write(&row)?;
                write(&row)?;
                expected.count(Outcome::Matched);
                expected.count(Outcome::Duplicate);
            }
            66 if row.kind == MovementKind::Deduction => {
                write(&row)?;
                expected.count(Outcome::Matched);
                let failed = StatementRow {
                    provider_ref: format!("t{i}-next"),
                    period: row.period.map(|p| p + 1),
                    status: ProviderStatus::Failed,
                    occurred_at: row.occurred_at + Duration::milliseconds(1),
                    ..row.clone()
                };
                write(&failed)?;
                expected.count(Outcome::Matched);
                expected.deductions_failed += 1;
            }
            _ => {
                write(&row)?;
                expected.count(Outcome::Matched);
            }
        }
        Ok(())
    }

    /// One bank receipt per batch; every 100th shop's are a fen off. The
    /// receipts' object key and path.
    fn write_receipts(
        &self,
        dir: &Path,
        batches: HashMap<(Provider, u64), i64>,
        expected: &mut Expected,
    ) -> Result<(String, PathBuf), SyntheticError> {
        let path = dir.join("bank.receipts");
        let mut bank = ReceiptWriter::new(self.date, BufWriter::new(File::create(&path)?))?;
        let mut ordered: Vec<_> = batches.into_iter().collect();
        ordered.sort();
        for (n, ((provider, shop), net)) in ordered.into_iter().enumerate() {
            let off = shop % 100 == 7;
            bank.receipt(&BankReceipt {
                line: 0,
                receipt_id: format!("BR{n:08}"),
                batch_id: batch_id(provider, &shop_name(shop), self.date),
                provider,
                shop_id: shop_name(shop),
                amount_fen: net + i64::from(off),
                value_date: self.date.succ().naive(),
            })?;
            expected.count(if off {
                Outcome::SettlementMismatch
            } else {
                Outcome::Matched
            });
        }
        io::Write::flush(&mut bank.finish()?)?;
        Ok((receipts_key(self.date), path))
    }
}

impl SyntheticDay {
    /// Writes the day as plain UTF-8 CSV for other tools (the DuckDB
    /// comparison, `infra/recon-vs-duckdb.sh`): `ledger.csv` and
    /// `statement.csv` under `dir`, the same movements and injected
    /// discrepancies as [`SyntheticDay::write_inputs`]. Period 0 when none;
    /// a payout's provider is the sandbox (as `recon-bench` configures it).
    /// No synthetic text holds a comma or a quote, so nothing is quoted.
    pub fn write_plain_csv(&self, dir: &Path) -> io::Result<()> {
        use std::io::Write;
        std::fs::create_dir_all(dir)?;
        let create = |name: &str| -> io::Result<BufWriter<File>> {
            Ok(BufWriter::with_capacity(
                1 << 20,
                File::create(dir.join(name))?,
            ))
        };
        let (mut ledger, mut statement) = (create("ledger.csv")?, create("statement.csv")?);
        ledger.write_all(b"shop,provider,kind,reference,provider_ref,period,plan_periods,amount,at_ms,customer\n")?;
        statement.write_all(
            b"line,shop,provider,kind,reference,provider_ref,period,amount,status,at_ms,payer\n",
        )?;
        let (mut line, mut lines, mut expected) =
            (Vec::with_capacity(256), 0u64, Expected::default());
        for i in 0..self.movements {
            let entry = self.ledger_entry(i).map_err(io::Error::other)?;
            line.clear();
            let provider = entry.provider.unwrap_or(Provider::Sandbox);
            let kind = MovementKind::of_ledger(entry.kind);
            for text in [entry.shop_id.as_str(), provider.as_str(), kind.as_str()] {
                line.extend_from_slice(text.as_bytes());
                line.push(b',');
            }
            for text in [
                entry.reference.as_str(),
                entry.provider_ref.as_deref().unwrap_or(""),
            ] {
                line.extend_from_slice(text.as_bytes());
                line.push(b',');
            }
            push_u64(&mut line, u64::from(entry.period.unwrap_or(0)));
            line.push(b',');
            push_u64(&mut line, u64::from(entry.plan_periods.unwrap_or(0)));
            line.push(b',');
            push_fen(&mut line, entry.amount.fen());
            line.push(b',');
            push_i64(&mut line, entry.created_at.timestamp_millis());
            line.push(b',');
            line.extend_from_slice(entry.customer.as_deref().unwrap_or("").as_bytes());
            line.push(b'\n');
            ledger.write_all(&line)?;
            self.statement_rows_of(i, &mut expected, &mut |row| {
                lines += 1;
                line.clear();
                push_u64(&mut line, lines);
                line.push(b',');
                for text in [
                    row.shop_id.as_str(),
                    row.provider.as_str(),
                    row.kind.as_str(),
                ] {
                    line.extend_from_slice(text.as_bytes());
                    line.push(b',');
                }
                for text in [&row.reference, &row.provider_ref] {
                    line.extend_from_slice(text.as_bytes());
                    line.push(b',');
                }
                push_u64(&mut line, u64::from(row.period.unwrap_or(0)));
                line.push(b',');
                push_fen(&mut line, row.amount_fen);
                line.push(b',');
                line.extend_from_slice(row.status.as_str().as_bytes());
                line.push(b',');
                push_i64(&mut line, row.occurred_at.timestamp_millis());
                line.push(b',');
                line.extend_from_slice(row.payer.as_deref().unwrap_or("").as_bytes());
                line.push(b'\n');
                statement.write_all(&line)
            })?;
        }
        ledger.flush()?;
        statement.flush()
    }
}

fn push_i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    push_u64(out, n.unsigned_abs());
}

impl Expected {
    fn count(&mut self, outcome: Outcome) {
        *self
            .outcomes
            .entry(outcome.as_str().to_owned())
            .or_insert(0) += 1;
    }
}

/// The synthetic day's statements being written (one per provider), and
/// the settlement batches they open.
struct Statements {
    writers: Vec<StatementWriter<BufWriter<File>>>,
    /// (provider, shop number) → what the provider settles, in fen.
    batches: HashMap<(Provider, u64), i64>,
    rows: u64,
}

impl Statements {
    /// Opens a statement per provider under `dir`, adding each to `files`.
    fn create(
        dir: &Path,
        date: BusinessDate,
        files: &mut Vec<(String, PathBuf)>,
    ) -> io::Result<Statements> {
        let mut writers = Vec::new();
        for p in PROVIDERS {
            let path = dir.join(format!("{p}.statement"));
            let out = BufWriter::with_capacity(1 << 20, File::create(&path)?);
            writers.push(StatementWriter::new(Format::for_provider(p), p, date, out)?);
            files.push((statement_key(date, p), path));
        }
        Ok(Statements {
            writers,
            batches: HashMap::new(),
            rows: 0,
        })
    }

    /// Writes `row` to its provider's statement.
    fn write(&mut self, row: &StatementRow) -> io::Result<()> {
        let index = PROVIDERS
            .iter()
            .position(|p| *p == row.provider)
            .unwrap_or(0);
        self.writers[index].row(row)?;
        self.rows += 1;
        // Every row opens its batch; only money that moved counts.
        let shop: u64 = row.shop_id.trim_start_matches("shop-").parse().unwrap_or(0);
        let effect = match (row.status, row.kind) {
            (ProviderStatus::Success, MovementKind::Payment) => row.amount_fen,
            (ProviderStatus::Success, MovementKind::Deduction) => 0,
            (ProviderStatus::Success, _) => -row.amount_fen,
            _ => 0,
        };
        *self.batches.entry((row.provider, shop)).or_default() += effect;
        Ok(())
    }

    /// Writes every statement's summary and flushes it.
    fn finish(mut self) -> io::Result<Statements> {
        for w in std::mem::take(&mut self.writers) {
            io::Write::flush(&mut w.finish()?)?;
        }
        Ok(self)
    }
}

#[async_trait]
impl LedgerSource for SyntheticDay {
    async fn ledger_page(
        &self,
        date: BusinessDate,
        part: u16,
        after: Option<&str>,
        limit: usize,
    ) -> Result<LedgerPage, StoreError> {
        let mut entries = Vec::new();
        let Some(shops) = self
            .parts
            .get(usize::from(part))
            .filter(|_| date == self.date)
        else {
            return Ok(LedgerPage {
                entries,
                next: None,
            });
        };
        let limit = limit.clamp(1, MAX_LEDGER_PAGE);
        // Resume after (shop, movement): movements of shop s are s, s+S, …
        let (mut position, mut next_i) = (0, None);
        if let Some((shop, entry)) = after.and_then(|a| a.split_once('#')) {
            let shop: u64 = shop.trim_start_matches("shop-").parse().unwrap_or(0);
            let i: u64 = entry.trim_start_matches('m').parse().unwrap_or(0);
            position = shops.iter().position(|s| *s == shop).unwrap_or(shops.len());
            next_i = Some(i + self.shops);
        }
        while position < shops.len() {
            let shop = shops[position];
            let mut i = next_i.take().unwrap_or(shop);
            while i < self.movements {
                if entries.len() == limit {
                    let next = entries.last().map(qrpay_store::ledger_position);
                    return Ok(LedgerPage { entries, next });
                }
                entries.push(self.ledger_entry(i)?);
                i += self.shops;
            }
            position += 1;
        }
        Ok(LedgerPage {
            entries,
            next: None,
        })
    }
}

impl SyntheticDay {
    /// Checks one report row against what was injected: `Err` says why it
    /// is wrong. Used to prove the report lists exactly the injected
    /// discrepancies, row by row.
    pub fn check_row(
        &self,
        order_no: &str,
        provider_ref: &str,
        outcome: &str,
    ) -> Result<(), String> {
        let wrong = || format!("{order_no} {provider_ref}: unexpected {outcome}");
        let index =
            |text: &str, prefix: &str| -> Option<u64> { text.strip_prefix(prefix)?.parse().ok() };
        if let Some(i) = index(order_no, "ordx-") {
            let ok = Self::class(i) == 22 && outcome == Outcome::MissingInLedger.as_str();
            return if ok { Ok(()) } else { Err(wrong()) };
        }
        let movement = index(order_no, "ord-").or_else(|| index(order_no, "pay-"));
        let Some(i) = movement else {
            // A settlement batch: `{provider}-shop-NNNNN-YYYYMMDD`.
            let shop = order_no
                .split('-')
                .nth(2)
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(wrong)?;
            let want = if shop % 100 == 7 {
                Outcome::SettlementMismatch
            } else {
                Outcome::Matched
            };
            return if outcome == want.as_str() {
                Ok(())
            } else {
                Err(wrong())
            };
        };
        let allowed: &[Outcome] = match Self::class(i) {
            11 => &[Outcome::MissingInProvider],
            33 => &[Outcome::AmountMismatch],
            44 => &[Outcome::StatusMismatch],
            55 => &[Outcome::Matched, Outcome::Duplicate],
            _ => &[Outcome::Matched],
        };
        if provider_ref.ends_with("-next") && Self::class(i) != 66 {
            return Err(wrong());
        }
        if allowed.iter().any(|o| o.as_str() == outcome) {
            Ok(())
        } else {
            Err(wrong())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_their_prefix_then_the_number_padded_to_width() {
        assert_eq!(text("ord-", 0), "ord-0");
        assert_eq!(text("t", 1_234_567), "t1234567");
        assert_eq!(padded("m", 42, 12), "m000000000042");
        assert_eq!(padded("m", 1_234_567_890_123, 12), "m1234567890123");
        assert_eq!(text("", u64::MAX), u64::MAX.to_string());
    }
}
