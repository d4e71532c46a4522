//! The daily report (对账日报表, SPEC §6): one row per movement or settlement
//! batch, with the columns finance staff asked for — date, order number,
//! customer summary (masked), instalment info, deduction status, reconciled
//! amount, discrepancy note, resolution — plus the evidence behind them.
//! CSV with a UTF-8 BOM (Excel opens it as UTF-8) here, and JSON
//! ([`crate::report_json`]).
//!
//! Rows are made once, while matching, and encoded into result buckets
//! ([`ReportRow::encode`]); the report writer decodes each and renders it
//! straight into bytes (a day has millions).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io;

use qrpay_domain::collection::{mask_name, mask_phone};
use qrpay_domain::money_text::{push_fen, push_u64};
use qrpay_domain::{Provider, RowId, Tally};

use crate::matcher::{Finding, Outcome};
use crate::model::{MovementKind, ProviderStatus};
use crate::spill::Rec;
use crate::spread::PaymentSpread;
use crate::varint;

pub use crate::json_text::json_str;

/// Cells are written by `qrpay_sheet`'s rules (ids exact, formulas defused).
pub use qrpay_sheet::CSV_BOM;
use qrpay_sheet::{push_csv, Cell};

pub const CSV_HEADER: &str = "date,shop_id,order_no,kind,provider,provider_ref,customer,instalment,deduction_status,ledger_amount,provider_amount,reconciled_amount,outcome,note,resolution,statement_line,row_id";

/// Instalment info of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instalment {
    /// A monthly-pay order's payment: `3 periods`.
    Plan(u8),
    /// A deduction: `period 2 of 3`, or `period 2` if the plan is unknown.
    Period(u8, Option<u8>),
}

/// One report row, borrowing from the records it describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow<'a> {
    pub shop_id: &'a str,
    /// Our order id, payout id, or settlement batch id.
    pub order_no: &'a str,
    /// `PAYMENT`, `FEE`, `REFUND`, `DEDUCTION`, `PAYOUT` or `SETTLEMENT`.
    pub kind: &'static str,
    pub provider: Option<Provider>,
    pub provider_ref: Option<&'a str>,
    /// Masked: `张* 138****1234`.
    pub customer: Option<Cow<'a, str>>,
    pub instalment: Option<Instalment>,
    /// `DEDUCTED`, `FAILED`, `PROCESSING` or `CLOSED` on deductions.
    pub deduction_status: Option<&'static str>,
    pub ledger_fen: Option<i64>,
    pub provider_fen: Option<i64>,
    pub reconciled_fen: Option<i64>,
    pub outcome: Outcome,
    pub note: Cow<'a, str>,
    pub statement_line: Option<u64>,
    /// The row's name across runs of the day (what a resolution is kept under).
    pub row_id: RowId,
    /// When it happened (unix ms), for ordering; not rendered.
    pub at_ms: i64,
}

/// Customer text for a report: masked whatever the source gave. Text that
/// already carries a mask is kept; clear phone numbers and names are masked.
pub fn mask_customer(text: &str) -> Option<Cow<'_, str>> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let masked = |part: &str| part.contains('*');
    // Every row asks, and a short text through `str::split` spends more
    // on the searcher than on the bytes: ' ' and '*' are single bytes that
    // are never part of another UTF-8 character, so bytes answer the same.
    let all_masked = text
        .as_bytes()
        .split(|b| *b == b' ')
        .filter(|part| !part.is_empty())
        .all(|part| part.contains(&b'*'));
    if all_masked {
        return Some(Cow::Borrowed(text));
    }
    let parts: Vec<String> = text
        .split(' ')
        .filter(|part| !part.is_empty())
        .map(|part| {
            if masked(part) {
                part.to_owned()
            } else if part.chars().all(|c| c.is_ascii_digit()) {
                mask_phone(part)
            } else {
                mask_name(part)
            }
        })
        .collect();
    Some(Cow::Owned(parts.join(" ")))
}

fn instalment(rec: &Rec<'_>, plan_periods: u8) -> Option<Instalment> {
    let plan = (plan_periods > 0).then_some(plan_periods);
    match rec.kind {
        MovementKind::Deduction if rec.period > 0 => Some(Instalment::Period(rec.period, plan)),
        MovementKind::Payment => plan.map(Instalment::Plan),
        _ => None,
    }
}

/// A report row's deduction status when the provider failed to collect.
const DEDUCTION_FAILED: &str = "FAILED";

fn deduction_status(finding: &Finding<'_, '_>) -> Option<&'static str> {
    let rec = finding.primary()?;
    if rec.kind != MovementKind::Deduction {
        return None;
    }
    let status = finding
        .statement
        .map_or(ProviderStatus::Success, |s| s.status);
    Some(match status {
        ProviderStatus::Success => "DEDUCTED",
        ProviderStatus::Failed => DEDUCTION_FAILED,
        ProviderStatus::Processing => "PROCESSING",
        ProviderStatus::Closed => "CLOSED",
    })
}

impl<'a> ReportRow<'a> {
    pub fn of_finding(finding: &Finding<'_, 'a>) -> Option<ReportRow<'a>> {
        let primary = finding.primary()?;
        let customer = finding
            .ledger
            .map(|l| l.customer)
            .filter(|c| !c.is_empty())
            .or(finding.statement.map(|s| s.customer))
            .and_then(mask_customer);
        let plan_periods = finding
            .ledger
            .map_or(primary.plan_periods, |l| l.plan_periods);
        let provider = primary
            .provider
            .or(finding.statement.and_then(|s| s.provider));
        // A duplicate statement line shares its match key with the line it
        // repeats: its own line tells the two rows apart.
        let duplicate_line = (finding.outcome == Outcome::Duplicate)
            .then(|| finding.statement.map(|s| s.line))
            .flatten();
        let row_id = RowId::of(
            primary.kind.as_str(),
            primary.reference,
            provider.map(Provider::as_str),
            primary.period,
            duplicate_line,
        );
        Some(ReportRow {
            shop_id: primary.shop_id,
            order_no: primary.reference,
            kind: primary.kind.as_str(),
            provider,
            provider_ref: Some(primary.provider_ref).filter(|r| !r.is_empty()),
            customer,
            instalment: instalment(primary, plan_periods),
            deduction_status: deduction_status(finding),
            ledger_fen: finding.ledger.map(|l| l.amount_fen),
            provider_fen: finding.statement.map(|s| s.amount_fen),
            reconciled_fen: finding.reconciled_fen(),
            outcome: finding.outcome,
            note: Cow::Owned(finding.note.clone()),
            statement_line: finding.statement.map(|s| s.line),
            row_id,
            at_ms: primary.at_ms,
        })
    }

    /// The CSV line (with `\r\n`), fields quoted where needed.
    pub fn write_csv(&self, date: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(date.as_bytes());
        out.push(b',');
        push_csv(out, Cell::Id(self.shop_id));
        out.push(b',');
        push_csv(out, Cell::Id(self.order_no));
        out.push(b',');
        out.extend_from_slice(self.kind.as_bytes());
        out.push(b',');
        out.extend_from_slice(self.provider.map_or("", |p| p.as_str()).as_bytes());
        out.push(b',');
        push_csv(out, self.provider_ref.map_or(Cell::Empty, Cell::Id));
        out.push(b',');
        push_csv(
            out,
            self.customer.as_deref().map_or(Cell::Empty, Cell::Text),
        );
        out.push(b',');
        write_instalment(out, self.instalment);
        out.push(b',');
        out.extend_from_slice(self.deduction_status.unwrap_or("").as_bytes());
        for fen in [self.ledger_fen, self.provider_fen, self.reconciled_fen] {
            out.push(b',');
            if let Some(fen) = fen {
                push_fen(out, fen);
            }
        }
        out.push(b',');
        out.extend_from_slice(self.outcome.as_str().as_bytes());
        out.push(b',');
        push_csv(out, Cell::Text(&self.note));
        out.push(b',');
        push_csv(out, Cell::Text(self.outcome.resolution()));
        out.push(b',');
        if let Some(line) = self.statement_line {
            push_u64(out, line);
        }
        out.push(b',');
        // Sixteen hex digits may all be digits: an id cell keeps them text.
        let hex = self.row_id.hex();
        push_csv(out, Cell::Id(std::str::from_utf8(&hex).unwrap_or("")));
        out.extend_from_slice(b"\r\n");
    }
}

pub(crate) fn write_instalment(out: &mut Vec<u8>, instalment: Option<Instalment>) {
    match instalment {
        None => {}
        Some(Instalment::Plan(n)) => {
            push_u64(out, u64::from(n));
            out.extend_from_slice(b" periods");
        }
        Some(Instalment::Period(p, plan)) => {
            out.extend_from_slice(b"period ");
            push_u64(out, u64::from(p));
            if let Some(n) = plan {
                out.extend_from_slice(b" of ");
                push_u64(out, u64::from(n));
            }
        }
    }
}

const KINDS: [&str; 9] = [
    "PAYMENT",
    "FEE",
    "REFUND",
    "DEDUCTION",
    "PAYOUT",
    "SETTLEMENT",
    "ADJUSTMENT_CREDIT",
    "ADJUSTMENT_DEBIT",
    "FEE_RETURNED",
];
const DEDUCTION_STATES: [&str; 4] = ["DEDUCTED", DEDUCTION_FAILED, "PROCESSING", "CLOSED"];
/// The longest text a bucket record keeps (longer is cut at a character).
const TEXT_MAX: usize = u16::MAX as usize - 1;
/// Flags of a bucket record: which of its optional numbers follow.
const HAS_LEDGER: u8 = 1;
const HAS_PROVIDER: u8 = 2;
const HAS_RECONCILED: u8 = 4;
const HAS_LINE: u8 = 8;

fn code_of(table: &[&str], text: &str) -> u8 {
    table
        .iter()
        .position(|t| *t == text)
        .map_or(u8::MAX, |i| i as u8)
}

fn bad_row(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("bucket row: {what}"))
}

/// Reads a bucket record's fields in order.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(bad_row("truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> io::Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u64(&mut self) -> io::Result<u64> {
        let (value, rest) = varint::take_u64(self.0).ok_or_else(|| bad_row("number"))?;
        self.0 = rest;
        Ok(value)
    }

    fn i64(&mut self) -> io::Result<i64> {
        let (value, rest) = varint::take_i64(self.0).ok_or_else(|| bad_row("number"))?;
        self.0 = rest;
        Ok(value)
    }

    /// A text: its length plus one (zero when absent), then its bytes.
    fn text(&mut self) -> io::Result<Option<&'a str>> {
        let len = self.u64()?;
        let Some(len) = len.checked_sub(1) else {
            return Ok(None);
        };
        let bytes = self.take(usize::try_from(len).map_err(|_| bad_row("length"))?)?;
        std::str::from_utf8(bytes)
            .map(Some)
            .map_err(|_| bad_row("text"))
    }
}

fn put_text(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        None => out.push(0),
        Some(t) => {
            let mut end = t.len().min(TEXT_MAX);
            while !t.is_char_boundary(end) {
                end -= 1;
            }
            varint::put_u64(out, end as u64 + 1);
            out.extend_from_slice(&t.as_bytes()[..end]);
        }
    }
}

impl<'a> ReportRow<'a> {
    /// Appends the row to a result bucket: `len | shop | at_ms | fields…`,
    /// numbers and lengths as LEB128 (signed ones zig-zagged), a text as
    /// its length plus one (zero when absent) and its bytes, the optional
    /// numbers present as their flags say.
    pub fn encode(&self, out: &mut Vec<u8>) -> io::Result<()> {
        let start = out.len();
        self.encode_body(out);
        let len = out.len() - start;
        if len > u32::MAX as usize {
            out.truncate(start);
            return Err(bad_row("too long"));
        }
        // The length goes first: written after the body, turned to the front.
        let body_end = out.len();
        varint::put_u64(out, len as u64);
        let head = out.len() - body_end;
        out[start..].rotate_right(head);
        Ok(())
    }

    fn encode_body(&self, out: &mut Vec<u8>) {
        put_text(out, Some(self.shop_id));
        varint::put_i64(out, self.at_ms);
        put_text(out, Some(self.order_no));
        out.push(code_of(&KINDS, self.kind));
        out.push(self.provider.map_or(u8::MAX, |p| {
            Provider::ALL
                .iter()
                .position(|x| *x == p)
                .map_or(u8::MAX, |i| i as u8)
        }));
        put_text(out, self.provider_ref);
        put_text(out, self.customer.as_deref());
        let (tag, a, b) = match self.instalment {
            None => (0, 0, 0),
            Some(Instalment::Plan(n)) => (1, n, 0),
            Some(Instalment::Period(p, plan)) => (2, p, plan.unwrap_or(0)),
        };
        out.extend_from_slice(&[tag, a, b]);
        out.push(
            self.deduction_status
                .map_or(u8::MAX, |d| code_of(&DEDUCTION_STATES, d)),
        );
        let amounts = [
            (HAS_LEDGER, self.ledger_fen),
            (HAS_PROVIDER, self.provider_fen),
            (HAS_RECONCILED, self.reconciled_fen),
        ];
        let mut flags = amounts
            .iter()
            .filter(|(_, fen)| fen.is_some())
            .fold(0, |flags, (flag, _)| flags | flag);
        if self.statement_line.is_some() {
            flags |= HAS_LINE;
        }
        out.push(flags);
        for fen in amounts.iter().filter_map(|(_, fen)| *fen) {
            varint::put_i64(out, fen);
        }
        out.push(self.outcome.index() as u8);
        put_text(out, Some(&self.note));
        if let Some(line) = self.statement_line {
            varint::put_u64(out, line);
        }
        out.extend_from_slice(&self.row_id.to_bits().to_le_bytes());
    }

    /// Where a record's shop and time are, without decoding the rest.
    pub fn shop_and_time(body: &[u8]) -> io::Result<(&str, i64)> {
        let mut cursor = Cursor(body);
        let shop = cursor.text()?.ok_or_else(|| bad_row("shop"))?;
        Ok((shop, cursor.i64()?))
    }

    /// A row back from its record body (without the length prefix); texts
    /// borrow from `body`.
    pub fn decode(body: &'a [u8]) -> io::Result<ReportRow<'a>> {
        let mut c = Cursor(body);
        let shop_id = c.text()?.ok_or_else(|| bad_row("shop"))?;
        let at_ms = c.i64()?;
        let order_no = c.text()?.ok_or_else(|| bad_row("order"))?;
        let kind = *KINDS
            .get(usize::from(c.u8()?))
            .ok_or_else(|| bad_row("kind"))?;
        let provider = Provider::ALL.get(usize::from(c.u8()?)).copied();
        let provider_ref = c.text()?;
        let customer = c.text()?.map(Cow::Borrowed);
        let instalment = match (c.u8()?, c.u8()?, c.u8()?) {
            (1, n, _) => Some(Instalment::Plan(n)),
            (2, p, n) => Some(Instalment::Period(p, (n > 0).then_some(n))),
            _ => None,
        };
        let deduction_status = DEDUCTION_STATES.get(usize::from(c.u8()?)).copied();
        let flags = c.u8()?;
        let mut amounts = [None; 3];
        for (amount, flag) in amounts
            .iter_mut()
            .zip([HAS_LEDGER, HAS_PROVIDER, HAS_RECONCILED])
        {
            if flags & flag != 0 {
                *amount = Some(c.i64()?);
            }
        }
        let outcome = *Outcome::ALL
            .get(usize::from(c.u8()?))
            .ok_or_else(|| bad_row("outcome"))?;
        let note = Cow::Borrowed(c.text()?.unwrap_or(""));
        let statement_line = if flags & HAS_LINE != 0 {
            Some(c.u64()?)
        } else {
            None
        };
        let mut bits = [0u8; 8];
        bits.copy_from_slice(c.take(8)?);
        let row_id = RowId::from_bits(u64::from_le_bytes(bits));
        Ok(ReportRow {
            shop_id,
            order_no,
            kind,
            provider,
            provider_ref,
            customer,
            instalment,
            deduction_status,
            ledger_fen: amounts[0],
            provider_fen: amounts[1],
            reconciled_fen: amounts[2],
            outcome,
            note,
            statement_line,
            row_id,
            at_ms,
        })
    }
}

/// Everything one shop's summary counts: its report rows, counted as the
/// report is written (where the shop's rows are read together), and its
/// settlement batches, gathered while matching.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShopTally {
    pub outcomes: [u64; Outcome::ALL.len()],
    pub payments: Tally,
    pub refunds: Tally,
    pub fees: Tally,
    pub fees_returned: Tally,
    pub deductions: Tally,
    pub payouts: Tally,
    pub adjustment_credits: Tally,
    pub adjustment_debits: Tally,
    pub deductions_failed: u64,
    pub monthly_pay_orders: u64,
    /// The payments again, by Beijing hour and by provider.
    pub payments_spread: PaymentSpread,
    pub settlement_expected_fen: i64,
    pub settlement_received_fen: i64,
}

impl ShopTally {
    /// Counts one of the shop's report rows: its outcome, the ledger
    /// movement it carries, and a deduction the provider failed.
    ///
    /// Matching puts every input movement on exactly one row, under its
    /// order's shop (ours if we booked it): a row with a ledger amount
    /// carries one ledger movement, with our kind, time, provider and plan.
    /// A settlement row's ledger side is the bank's receipt, not a movement.
    pub fn count_row(&mut self, row: &ReportRow<'_>) {
        self.outcomes[row.outcome.index()] += 1;
        if row.deduction_status == Some(DEDUCTION_FAILED) {
            self.deductions_failed += 1;
        }
        let (Some(fen), Some(kind)) = (row.ledger_fen, MovementKind::parse(row.kind)) else {
            return;
        };
        let tally = match kind {
            MovementKind::Payment => {
                if matches!(row.instalment, Some(Instalment::Plan(_))) {
                    self.monthly_pay_orders += 1;
                }
                self.payments_spread.add(row.at_ms, row.provider, fen);
                &mut self.payments
            }
            MovementKind::Refund => &mut self.refunds,
            MovementKind::Fee => &mut self.fees,
            MovementKind::FeeReturned => &mut self.fees_returned,
            MovementKind::Deduction => &mut self.deductions,
            MovementKind::Payout => &mut self.payouts,
            MovementKind::AdjustmentCredit => &mut self.adjustment_credits,
            MovementKind::AdjustmentDebit => &mut self.adjustment_debits,
        };
        tally.add(fen);
    }

    pub fn rows(&self) -> u64 {
        self.outcomes.iter().sum()
    }

    /// Rows by outcome, every outcome named (zero included).
    pub fn outcome_counts(&self) -> BTreeMap<String, u64> {
        Outcome::ALL
            .iter()
            .map(|o| (o.as_str().to_owned(), self.outcomes[o.index()]))
            .collect()
    }

    /// Rows that are neither matched nor internal.
    pub fn discrepancies(&self) -> u64 {
        self.rows()
            - self.outcomes[Outcome::Matched.index()]
            - self.outcomes[Outcome::Internal.index()]
    }

    pub fn merge(&mut self, other: &ShopTally) {
        for (a, b) in self.outcomes.iter_mut().zip(other.outcomes) {
            *a += b;
        }
        for (a, b) in [
            (&mut self.payments, other.payments),
            (&mut self.refunds, other.refunds),
            (&mut self.fees, other.fees),
            (&mut self.fees_returned, other.fees_returned),
            (&mut self.deductions, other.deductions),
            (&mut self.payouts, other.payouts),
            (&mut self.adjustment_credits, other.adjustment_credits),
            (&mut self.adjustment_debits, other.adjustment_debits),
        ] {
            a.count += b.count;
            a.total = a.total.checked_add(b.total).unwrap_or(a.total);
        }
        self.deductions_failed += other.deductions_failed;
        self.monthly_pay_orders += other.monthly_pay_orders;
        self.payments_spread.merge(&other.payments_spread);
        self.settlement_expected_fen += other.settlement_expected_fen;
        self.settlement_received_fen += other.settlement_received_fen;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A kind missing from the bucket's table would be written as an
    /// unreadable code: every movement kind has its code.
    #[test]
    fn every_movement_kind_has_a_bucket_code() {
        for kind in MovementKind::ALL {
            assert_ne!(code_of(&KINDS, kind.as_str()), u8::MAX, "{kind}");
        }
    }

    #[test]
    fn customers_are_masked_whatever_the_source_gave() {
        assert_eq!(
            mask_customer("张三 13812341234").as_deref(),
            Some("张* 138****1234")
        );
        assert_eq!(
            mask_customer("张* 138****1234").as_deref(),
            Some("张* 138****1234")
        );
        assert_eq!(mask_customer("  "), None);
    }

    #[test]
    fn a_long_provider_id_and_a_digit_order_no_are_written_as_exact_text() {
        let row = ReportRow {
            order_no: "202611200001",
            provider_ref: Some("4200001234567890123456789012"),
            customer: Some(Cow::Borrowed("=HYPERLINK(\"x\")")),
            note: Cow::Borrowed("-1"),
            ..row()
        };
        let mut csv = Vec::new();
        row.write_csv("2026-11-20", &mut csv);
        assert_eq!(
            String::from_utf8(csv).expect("utf8"),
            "2026-11-20,shop-1,\"\t202611200001\",DEDUCTION,sandbox,\"\t4200001234567890123456789012\",\"'=HYPERLINK(\"\"x\"\")\",period 2 of 3,FAILED,,1.00,0.00,MATCHED,\"'-1\",NONE,2,57fd4430fec28668\r\n"
        );
    }

    #[test]
    fn amounts_and_numbers_render_without_allocating() {
        let mut out = Vec::new();
        for fen in [0, 5, -5, 1230, -123_456_789, i64::MAX] {
            out.clear();
            push_fen(&mut out, fen);
            assert_eq!(
                String::from_utf8(out.clone()).expect("utf8"),
                crate::format_fen(fen)
            );
        }
    }

    pub(crate) fn row() -> ReportRow<'static> {
        ReportRow {
            shop_id: "shop-1",
            order_no: "ord-1",
            kind: "DEDUCTION",
            provider: Some(Provider::Sandbox),
            provider_ref: Some("t1"),
            customer: Some(Cow::Borrowed("张*")),
            instalment: Some(Instalment::Period(2, Some(3))),
            deduction_status: Some("FAILED"),
            ledger_fen: None,
            provider_fen: Some(100),
            reconciled_fen: Some(0),
            outcome: Outcome::Matched,
            note: Cow::Borrowed("a \"quoted\", note\n"),
            statement_line: Some(2),
            row_id: qrpay_domain::RowId::of("DEDUCTION", "ord-1", Some("sandbox"), 2, None),
            at_ms: 7,
        }
    }

    #[test]
    fn a_row_renders_as_csv_and_travels_through_a_bucket() {
        let row = row();
        let mut csv = Vec::new();
        row.write_csv("2026-11-20", &mut csv);
        assert_eq!(
            String::from_utf8(csv).expect("utf8"),
            "2026-11-20,shop-1,ord-1,DEDUCTION,sandbox,t1,张*,period 2 of 3,FAILED,,1.00,0.00,MATCHED,\"a \"\"quoted\"\", note\n\",NONE,2,57fd4430fec28668\r\n"
        );
        let mut out = Vec::new();
        row.encode(&mut out).expect("encode");
        let (body, rest) = crate::varint::take_frame(&out).expect("framed");
        assert!(rest.is_empty());
        assert_eq!(ReportRow::shop_and_time(body).expect("head"), ("shop-1", 7));
        assert_eq!(ReportRow::decode(body).expect("decode"), row);
        // Absent numbers and texts come back absent, negatives negative.
        let bare = ReportRow {
            provider_ref: None,
            customer: None,
            ledger_fen: Some(-5),
            provider_fen: None,
            reconciled_fen: None,
            statement_line: None,
            at_ms: -3,
            ..row.clone()
        };
        out.clear();
        bare.encode(&mut out).expect("encode");
        let (body, _) = crate::varint::take_frame(&out).expect("framed");
        assert_eq!(ReportRow::decode(body).expect("decode"), bare);
        assert!(ReportRow::decode(&body[..body.len() - 1]).is_err());
    }
}
