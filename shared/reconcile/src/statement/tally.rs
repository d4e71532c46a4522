//! What a statement's detail lines add up to, and its summary line checked
//! against that: shared by every format's reader and writer (and the bank
//! receipts' trailer).

use qrpay_domain::money_text::format_fen_sum;
use qrpay_domain::Provider;

use super::beijing::Day;
use crate::model::{LineError, MovementKind, StatementRow, MAX_FEN};

/// Whom a statement is of: the provider and the business day.
#[derive(Debug, Clone)]
pub(crate) struct Statement {
    pub(crate) provider: Provider,
    pub(crate) day: Day,
}

/// What the detail lines of a statement add up to, to check against (or
/// write as) the format's summary.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    /// Detail lines, read or not.
    pub(crate) lines: u64,
    /// Detail lines that could not be read. While there are any, a summary
    /// is checked only for its count: the unread lines' values are unknown
    /// (and each was already reported).
    pub(crate) unread: u64,
    pub(crate) refunds: u64,
    /// Σ amount of every row, of refund rows, of payout rows.
    pub(crate) amount_fen: i128,
    pub(crate) refund_fen: i128,
    pub(crate) payout_fen: i128,
    pub(crate) fee_fen: i128,
    /// Σ fee of refund rows (a fee returned, where a format says so).
    pub(crate) refund_fee_fen: i128,
}

impl Tally {
    pub(crate) fn add(&mut self, row: &StatementRow) {
        self.lines += 1;
        let amount = i128::from(row.amount_fen);
        self.amount_fen += amount;
        self.fee_fen += i128::from(row.fee_fen);
        match row.kind {
            MovementKind::Refund => {
                self.refunds += 1;
                self.refund_fen += amount;
                self.refund_fee_fen += i128::from(row.fee_fen);
            }
            MovementKind::Payout => self.payout_fen += amount,
            MovementKind::Payment
            | MovementKind::Deduction
            | MovementKind::Fee
            | MovementKind::FeeReturned
            | MovementKind::AdjustmentCredit
            | MovementKind::AdjustmentDebit => {}
        }
    }

    pub(crate) fn add_unread(&mut self) {
        self.lines += 1;
        self.unread += 1;
    }

    /// Records one line's outcome and passes it on.
    pub(crate) fn record(
        &mut self,
        row: Result<StatementRow, LineError>,
    ) -> Result<StatementRow, LineError> {
        match &row {
            Ok(row) => self.add(row),
            Err(_) => self.add_unread(),
        }
        row
    }

    pub(crate) fn non_refunds(&self) -> u64 {
        self.lines - self.refunds
    }

    /// Σ amount of the rows that are not refunds.
    pub(crate) fn non_refund_fen(&self) -> i128 {
        self.amount_fen - self.refund_fen
    }

    /// Summaries print sums as statement amounts: each must fit `MAX_FEN`.
    pub(crate) fn check_writable(&self) -> Result<(), String> {
        let largest = self.amount_fen.max(self.fee_fen);
        if largest > i128::from(MAX_FEN) {
            return Err(format!(
                "the statement's total {} exceeds the largest amount a summary holds",
                format_fen_sum(largest)
            ));
        }
        Ok(())
    }
}

/// A summary line compared with the tally: every disagreement, in one error.
pub(crate) struct Agreement {
    complete: bool,
    differences: Vec<String>,
}

impl Agreement {
    pub(crate) fn with(tally: &Tally) -> Agreement {
        Agreement::complete_if(tally.unread == 0)
    }

    /// `complete`: every detail line was read, so sums can be compared.
    pub(crate) fn complete_if(complete: bool) -> Agreement {
        Agreement {
            complete,
            differences: Vec::new(),
        }
    }

    /// A count, checked only when every detail line was read (use
    /// [`Agreement::lines`] for the count of all detail lines).
    pub(crate) fn count(&mut self, label: &str, stated: u64, counted: u64) {
        if self.complete && stated != counted {
            self.differences
                .push(format!("{label} {stated}, counted {counted}"));
        }
    }

    /// The number of detail lines, checked even when some were unreadable.
    pub(crate) fn lines(&mut self, label: &str, stated: u64, lines: u64) {
        if stated != lines {
            self.differences
                .push(format!("{label} {stated}, counted {lines}"));
        }
    }

    /// A sum, checked only when every detail line was read.
    pub(crate) fn sum(&mut self, label: &str, stated_fen: i64, summed_fen: i128) {
        if self.complete && i128::from(stated_fen) != summed_fen {
            self.differences.push(format!(
                "{label} {}, summed {}",
                format_fen_sum(i128::from(stated_fen)),
                format_fen_sum(summed_fen)
            ));
        }
    }

    pub(crate) fn verdict(self, line: u64, summary: &str) -> Option<LineError> {
        (!self.differences.is_empty()).then(|| {
            LineError::new(
                line,
                format!(
                    "{summary} disagrees with the detail rows: {}",
                    self.differences.join("; ")
                ),
            )
        })
    }
}
