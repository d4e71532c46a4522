//! Settlement batches (SPEC §6): per provider and shop, what the provider's
//! statements of the day settle against what the bank credited; one report
//! row per batch, and one per receipt no statement explains.

use std::collections::HashMap;
use std::io;

use qrpay_domain::money_text::format_fen;
use qrpay_domain::{BusinessDate, Provider};

use super::findings::Gathered;
use crate::bank::batch_id;
use crate::matcher::Outcome;
use crate::model::{MovementKind, ProviderStatus};
use crate::report::ReportRow;
use crate::spill::{update, FastMap, Partitions, Rec};

/// provider → shop → net the provider says it settles, in fen.
pub(super) type Batches = HashMap<Provider, FastMap<String, i64>>;

/// batch id → the bank's receipts for it: (receipt id, fen credited).
pub(super) type Receipts = HashMap<String, Vec<(String, i64)>>;

/// Both sides of the day's settlement.
pub(super) struct SettleInputs {
    pub(super) batches: Batches,
    pub(super) receipts: Receipts,
    /// Whether the bank's receipts file came at all.
    pub(super) have_bank: bool,
}

/// What a statement movement does to the provider's settlement of the shop.
pub(super) fn settlement_effect(rec: &Rec<'_>) -> i64 {
    if rec.status != ProviderStatus::Success {
        return 0;
    }
    match rec.kind {
        MovementKind::Payment | MovementKind::FeeReturned => rec.amount_fen,
        MovementKind::Fee | MovementKind::Refund | MovementKind::Payout => -rec.amount_fen,
        // Instalments are between the buyer and the provider's credit arm.
        MovementKind::Deduction => 0,
        // Our own movements never reach a provider's settlement.
        MovementKind::AdjustmentCredit | MovementKind::AdjustmentDebit => 0,
    }
}

/// Settles every batch a statement lists, then every bank receipt no
/// statement lists, writing each one's report row to `out`.
pub(super) fn settle_batches(
    date: BusinessDate,
    settle: SettleInputs,
    gathered: &mut Gathered,
    out: &mut Partitions,
) -> io::Result<()> {
    let SettleInputs {
        batches,
        mut receipts,
        have_bank,
    } = settle;
    let mut rows = BatchRows {
        gathered,
        out,
        record: Vec::new(),
    };
    settle_listed_batches(date, batches, &mut receipts, have_bank, &mut rows)?;
    settle_unlisted_receipts(date, receipts, &mut rows)
}

/// The batches the statements settle, in (provider, shop) order, each
/// against its receipts (taken out of `receipts`).
fn settle_listed_batches(
    date: BusinessDate,
    batches: Batches,
    receipts: &mut Receipts,
    have_bank: bool,
    rows: &mut BatchRows<'_>,
) -> io::Result<()> {
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
        let (outcome, note) = batch_verdict(expected, got.as_deref(), received, have_bank);
        update(&mut rows.gathered.settlements, shop, |t| {
            t.settlement_expected_fen += expected;
            t.settlement_received_fen += received;
        });
        rows.emit(&Batch {
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
        })?;
    }
    Ok(())
}

/// A listed batch's outcome, and the note that explains a mismatch.
fn batch_verdict(
    expected: i64,
    got: Option<&[(String, i64)]>,
    received: i64,
    have_bank: bool,
) -> (Outcome, String) {
    match got {
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
    }
}

/// Receipts for batches no statement lists: money the bank credited that no
/// provider explains.
fn settle_unlisted_receipts(
    date: BusinessDate,
    receipts: Receipts,
    rows: &mut BatchRows<'_>,
) -> io::Result<()> {
    let mut left: Vec<_> = receipts.into_iter().collect();
    left.sort();
    for (id, list) in &left {
        let received: i64 = list.iter().map(|(_, fen)| *fen).sum();
        let Some((provider, shop)) = provider_and_shop_of(id) else {
            continue;
        };
        update(&mut rows.gathered.settlements, shop, |t| {
            t.settlement_received_fen += received
        });
        rows.emit(&Batch {
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
        })?;
    }
    Ok(())
}

/// The provider and shop a batch id (`{provider}-{shop}-{yyyymmdd}`) names.
fn provider_and_shop_of(batch_id: &str) -> Option<(Provider, &str)> {
    Provider::ALL.iter().find_map(|p| {
        let rest = batch_id.strip_prefix(&format!("{p}-"))?;
        Some((*p, rest.rsplit_once('-')?.0))
    })
}

/// Where settlement rows go: the shop's result bucket, and the tallies.
struct BatchRows<'a> {
    gathered: &'a mut Gathered,
    out: &'a mut Partitions,
    /// The row being encoded (reused).
    record: Vec<u8>,
}

impl BatchRows<'_> {
    fn emit(&mut self, batch: &Batch<'_>) -> io::Result<()> {
        let row = batch.row();
        self.gathered
            .count_row(&row, batch.received.unwrap_or(0) - batch.expected);
        self.record.clear();
        row.encode(&mut self.record)?;
        self.out.push_raw(batch.shop, &self.record)
    }
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
            row_id: qrpay_domain::RowId::of(
                "SETTLEMENT",
                self.id,
                Some(self.provider.as_str()),
                0,
                None,
            ),
            // After the day's movements.
            at_ms: i64::MAX,
        }
    }
}
