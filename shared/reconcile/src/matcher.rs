//! Matching (SPEC §6): within one group (every movement of one order, or one
//! payout, from both sides), pair ledger and statement movements by kind,
//! provider id and instalment period, and give every movement one outcome.

use std::fmt;

use qrpay_domain::money_text::format_fen;

use crate::model::{MovementKind, ProviderStatus};
use crate::spill::{Rec, Side};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    Matched,
    MissingInProvider,
    MissingInLedger,
    AmountMismatch,
    StatusMismatch,
    Duplicate,
    SettlementMismatch,
    /// Our own movement (a balance adjustment): no provider side exists,
    /// so there is nothing to match and nothing to chase.
    Internal,
}

impl Outcome {
    pub const ALL: [Outcome; 8] = [
        Outcome::Matched,
        Outcome::MissingInProvider,
        Outcome::MissingInLedger,
        Outcome::AmountMismatch,
        Outcome::StatusMismatch,
        Outcome::Duplicate,
        Outcome::SettlementMismatch,
        Outcome::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Matched => "MATCHED",
            Outcome::MissingInProvider => "MISSING_IN_PROVIDER",
            Outcome::MissingInLedger => "MISSING_IN_LEDGER",
            Outcome::AmountMismatch => "AMOUNT_MISMATCH",
            Outcome::StatusMismatch => "STATUS_MISMATCH",
            Outcome::Duplicate => "DUPLICATE",
            Outcome::SettlementMismatch => "SETTLEMENT_MISMATCH",
            Outcome::Internal => "INTERNAL",
        }
    }

    pub fn parse(text: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == text)
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether finance staff have something to look into: neither matched
    /// nor our own movement.
    pub fn is_discrepancy(self) -> bool {
        !matches!(self, Outcome::Matched | Outcome::Internal)
    }

    /// What finance staff should do about it, until someone records what
    /// was done (the report's resolution column).
    pub fn resolution(self) -> &'static str {
        match self {
            Outcome::Matched => "NONE",
            Outcome::MissingInProvider => {
                "OPEN: query the provider for this movement; if it never happened, reverse our ledger entry"
            }
            Outcome::MissingInLedger => {
                "OPEN: find the provider's notice (callback log, anomalies) and apply it, or open a case with the provider"
            }
            Outcome::AmountMismatch => {
                "OPEN: confirm the amount with the provider and book the difference"
            }
            Outcome::StatusMismatch => {
                "OPEN: query the movement's final status at the provider and correct the side that is wrong"
            }
            Outcome::Duplicate => {
                "OPEN: confirm the duplicate with the provider and refund or reverse it"
            }
            Outcome::SettlementMismatch => {
                "OPEN: compare the bank receipt with the provider's settlement of this batch and chase the difference"
            }
            Outcome::Internal => "NONE: a platform operator's balance adjustment, in our books only",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One report line's worth of matching: records borrowed for `'r`, their
/// texts for `'a`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding<'r, 'a> {
    pub outcome: Outcome,
    pub ledger: Option<&'r Rec<'a>>,
    pub statement: Option<&'r Rec<'a>>,
    /// The discrepancy note: what differs, plainly; empty when matched.
    pub note: String,
}

impl<'r, 'a> Finding<'r, 'a> {
    /// The record that speaks for the row: ours if we have it.
    pub fn primary(&self) -> Option<&'r Rec<'a>> {
        self.ledger.or(self.statement)
    }

    /// The amount both sides agree moved, in fen.
    pub fn reconciled_fen(&self) -> Option<i64> {
        match (self.outcome, self.ledger, self.statement) {
            (Outcome::Matched, Some(l), Some(_)) => Some(l.amount_fen),
            (Outcome::Matched, None, Some(_)) => Some(0),
            _ => None,
        }
    }
}

/// Sorts a partition so that groups, and pairs within them, are adjacent.
/// Groups come in hash order (integers compare faster than ids); within a
/// group, by kind, provider id, period, ledger before statement, line.
///
/// The whole partition is sorted by (hash, position) alone, comparing
/// integers only, and put in that order; then each run of one hash (a
/// group, rarely two ids that share a hash), now side by side, is put in
/// order by the full key. Reading each run where it lies, rather than
/// through the sorted positions, keeps a big partition's records out of
/// random access.
pub fn sort_partition(recs: &mut [Rec<'_>]) {
    let hashes = recs
        .iter()
        .map(|r| crate::spill::group_hash(r.reference.as_bytes()))
        .collect();
    sort_hashed(recs, hashes);
}

/// [`sort_partition`], given each record's [`crate::spill::group_hash`] in
/// order (`hashes[i]` is `recs[i]`'s, as splitting a partition hands them
/// over).
pub fn sort_hashed(recs: &mut [Rec<'_>], hashes: Vec<u64>) {
    let mut keyed: Vec<(u64, usize)> = hashes.into_iter().zip(0..recs.len()).collect();
    keyed.sort_unstable();
    let hashes: Vec<u64> = keyed.iter().map(|(h, _)| *h).collect();
    let mut order: Vec<usize> = keyed.into_iter().map(|(_, i)| i).collect();
    permute(recs, &mut order);
    let mut start = 0;
    for run in hashes.chunk_by(|a, b| a == b) {
        let end = start + run.len();
        if run.len() > 1 {
            recs[start..end].sort_unstable_by(|a, b| group_key(a).cmp(&group_key(b)));
        }
        start = end;
    }
}

/// The order of records within one hash: by id, then as the group is
/// matched.
fn group_key<'r>(r: &Rec<'r>) -> (&'r str, MovementKind, &'r str, u8, Side, u64) {
    (
        r.reference,
        r.kind,
        r.provider_ref,
        r.period,
        r.side,
        r.line,
    )
}

/// Puts `items[order[k]]` at `k` for every `k`, in place (one held item per
/// cycle of the permutation, not a second copy of the partition); `order`
/// is used up.
fn permute<T: Copy>(items: &mut [T], order: &mut [usize]) {
    const DONE: usize = usize::MAX;
    for start in 0..items.len() {
        if order[start] == DONE {
            continue;
        }
        let held = items[start];
        let mut at = start;
        loop {
            let from = std::mem::replace(&mut order[at], DONE);
            if from == start {
                items[at] = held;
                break;
            }
            items[at] = items[from];
            at = from;
        }
    }
}

/// The groups of a sorted partition: every movement of one order (or
/// payout), side by side.
pub fn groups<'r, 'a>(recs: &'r [Rec<'a>]) -> impl Iterator<Item = &'r [Rec<'a>]> {
    recs.chunk_by(|a, b| a.reference == b.reference)
}

fn same_pair(a: &Rec<'_>, b: &Rec<'_>) -> bool {
    a.kind == b.kind && a.provider_ref == b.provider_ref && a.period == b.period
}

fn describe(rec: &Rec<'_>) -> String {
    match (rec.kind, rec.period) {
        (MovementKind::Deduction, p) if p > 0 => format!("deduction of period {p}"),
        (MovementKind::FeeReturned, _) => "fee returned".to_owned(),
        (kind, _) => kind.as_str().to_lowercase(),
    }
}

/// One group: every movement of one order (or payout), sorted. Within it,
/// each pair (same kind, provider reference and period) lines our entries
/// up with the provider's, one to one.
pub fn match_group<'r, 'a>(group: &'r [Rec<'a>], emit: &mut impl FnMut(Finding<'r, 'a>)) {
    let mut charges = EarlierCharges::of(group);
    let mut start = 0;
    while start < group.len() {
        let end = group[start..]
            .iter()
            .position(|r| !same_pair(r, &group[start]))
            .map_or(group.len(), |n| start + n);
        let pair = &group[start..end];
        let split = pair
            .iter()
            .position(|r| r.side == Side::Statement)
            .unwrap_or(pair.len());
        let (ours, theirs) = pair.split_at(split);
        for i in 0..ours.len().max(theirs.len()) {
            let finding = match (ours.get(i), theirs.get(i)) {
                (Some(l), Some(s)) => compare(l, s),
                (Some(l), None) if l.kind.is_internal() => internal(l),
                (Some(l), None) if i == 0 => missing_in_provider(l),
                (Some(l), None) => booked_again(l, ours.len()),
                (None, Some(s)) if i > 0 => listed_again(s, theirs.len()),
                (None, Some(s)) if s.status != ProviderStatus::Success => nothing_moved(s),
                (None, Some(s)) => unbooked(s, charges.earlier(s), charges.booked_charge(s)),
                (None, None) => continue,
            };
            emit(finding);
        }
        start = end;
    }
}

/// The charges of one order seen so far: a provider charge beside our
/// ledger's charge, or beside an earlier unbooked one, is a duplicate, not a
/// missing entry.
struct EarlierCharges<'r, 'a> {
    group: &'r [Rec<'a>],
    ledger_payment: Option<&'r Rec<'a>>,
    first_unbooked_charge: Option<&'r Rec<'a>>,
    first_unbooked_deduction: Vec<(u8, &'r Rec<'a>)>,
}

impl<'r, 'a> EarlierCharges<'r, 'a> {
    fn of(group: &'r [Rec<'a>]) -> EarlierCharges<'r, 'a> {
        EarlierCharges {
            group,
            ledger_payment: group
                .iter()
                .find(|r| r.side == Side::Ledger && r.kind == MovementKind::Payment),
            first_unbooked_charge: None,
            first_unbooked_deduction: Vec::new(),
        }
    }

    /// Whether our ledger booked the charge `s` belongs to (a fee's
    /// payment carries the fee's provider id).
    fn booked_charge(&self, s: &Rec<'_>) -> bool {
        self.group.iter().any(|r| {
            r.side == Side::Ledger
                && r.kind == MovementKind::Payment
                && r.provider_ref == s.provider_ref
        })
    }

    /// The deduction of `period` we booked, if any.
    fn booked_period(&self, period: u8) -> Option<&'r Rec<'a>> {
        self.group.iter().find(|r| {
            r.side == Side::Ledger && r.kind == MovementKind::Deduction && r.period == period
        })
    }

    /// The charge the unbooked statement movement `s` repeats, if any;
    /// otherwise `s` becomes the first of its kind.
    fn earlier(&mut self, s: &'r Rec<'a>) -> Option<&'r Rec<'a>> {
        match s.kind {
            MovementKind::Payment => {
                let earlier = self.ledger_payment.or(self.first_unbooked_charge);
                self.first_unbooked_charge.get_or_insert(s);
                earlier
            }
            MovementKind::Deduction => {
                let earlier = self.booked_period(s.period).or_else(|| {
                    self.first_unbooked_deduction
                        .iter()
                        .find(|(p, _)| *p == s.period)
                        .map(|(_, r)| *r)
                });
                if earlier.is_none() {
                    self.first_unbooked_deduction.push((s.period, s));
                }
                earlier
            }
            _ => None,
        }
    }
}

/// Our own movement: only our books hold it, by design.
fn internal<'r, 'a>(l: &'r Rec<'a>) -> Finding<'r, 'a> {
    Finding {
        outcome: Outcome::Internal,
        ledger: Some(l),
        statement: None,
        note: format!(
            "{} of {} by the platform operator (balance adjustment {}): no provider side",
            describe(l),
            format_fen(l.amount_fen),
            l.reference
        ),
    }
}

/// Our entry, with nothing on the provider's side.
fn missing_in_provider<'r, 'a>(l: &'r Rec<'a>) -> Finding<'r, 'a> {
    Finding {
        outcome: Outcome::MissingInProvider,
        ledger: Some(l),
        statement: None,
        note: format!(
            "{} of {} in our ledger; the provider's statement does not list {}",
            describe(l),
            format_fen(l.amount_fen),
            l.provider_ref
        ),
    }
}

/// Our entry beyond the first of its pair: booked `times` times.
fn booked_again<'r, 'a>(l: &'r Rec<'a>, times: usize) -> Finding<'r, 'a> {
    Finding {
        outcome: Outcome::Duplicate,
        ledger: Some(l),
        statement: None,
        note: format!(
            "{} {} is in our ledger {times} times",
            describe(l),
            l.provider_ref
        ),
    }
}

/// The provider's line beyond the first of its pair: listed `times` times.
fn listed_again<'r, 'a>(s: &'r Rec<'a>, times: usize) -> Finding<'r, 'a> {
    Finding {
        outcome: Outcome::Duplicate,
        ledger: None,
        statement: Some(s),
        note: format!(
            "{} {} is listed {times} times by the provider (this is line {})",
            describe(s),
            s.provider_ref,
            s.line
        ),
    }
}

/// A movement the provider lists as not done, which we rightly never booked.
fn nothing_moved<'r, 'a>(s: &'r Rec<'a>) -> Finding<'r, 'a> {
    Finding {
        outcome: Outcome::Matched,
        ledger: None,
        statement: Some(s),
        note: format!(
            "{} {} at the provider; no money moved and none is booked",
            describe(s),
            s.status
        ),
    }
}

/// Money the provider moved that our ledger does not hold: a second charge
/// of the order if `earlier` is the first, otherwise a missing entry. The
/// fee of a payment we booked, from a provider that keeps one per payment,
/// is missing because the shop has no processing rate for it: the note
/// says so.
fn unbooked<'r, 'a>(s: &'r Rec<'a>, earlier: Option<&'r Rec<'a>>, paid: bool) -> Finding<'r, 'a> {
    let rate_unset = s.kind == MovementKind::Fee
        && paid
        && s.provider
            .is_some_and(qrpay_domain::processing::charges_per_payment);
    match earlier {
        Some(first) => Finding {
            outcome: Outcome::Duplicate,
            ledger: None,
            statement: Some(s),
            note: format!(
                "second {} of order {} by the provider: {} for {} (line {}); the first is {}",
                describe(s),
                s.reference,
                s.provider_ref,
                format_fen(s.amount_fen),
                s.line,
                first.provider_ref
            ),
        },
        None => Finding {
            outcome: Outcome::MissingInLedger,
            ledger: None,
            statement: Some(s),
            note: format!(
                "the provider lists {} {} of {} (line {}); our ledger has no such entry{}",
                describe(s),
                s.provider_ref,
                format_fen(s.amount_fen),
                s.line,
                if rate_unset {
                    ": the shop has no processing rate for this provider; set it so each payment books its fee"
                } else {
                    ""
                }
            ),
        },
    }
}

fn compare<'r, 'a>(l: &'r Rec<'a>, s: &'r Rec<'a>) -> Finding<'r, 'a> {
    let (outcome, note) = if s.status != ProviderStatus::Success {
        (
            Outcome::StatusMismatch,
            format!(
                "our ledger booked {} {} of {}; the provider says {} (line {})",
                describe(l),
                l.provider_ref,
                format_fen(l.amount_fen),
                s.status,
                s.line
            ),
        )
    } else if l.amount_fen != s.amount_fen {
        (
            Outcome::AmountMismatch,
            format!(
                "ledger {}, provider {} (line {}): difference {}",
                format_fen(l.amount_fen),
                format_fen(s.amount_fen),
                s.line,
                format_fen(s.amount_fen - l.amount_fen)
            ),
        )
    } else {
        (Outcome::Matched, String::new())
    };
    let named = s.shop_id != crate::model::UNATTRIBUTED_SHOP;
    let note = if outcome == Outcome::Matched && named && l.shop_id != s.shop_id {
        format!("the provider lists it under shop {}", s.shop_id)
    } else {
        note
    };
    Finding {
        outcome,
        ledger: Some(l),
        statement: Some(s),
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qrpay_domain::Provider;

    fn rec(side: Side, kind: MovementKind, txn: &'static str, fen: i64) -> Rec<'static> {
        Rec {
            side,
            kind,
            status: ProviderStatus::Success,
            provider: Some(Provider::Sandbox),
            period: 0,
            plan_periods: 0,
            amount_fen: fen,
            at_ms: 0,
            line: if side == Side::Statement { 7 } else { 0 },
            shop_id: "shop-1",
            reference: "ord-1",
            provider_ref: txn,
            customer: "",
        }
    }

    /// Matches a sorted partition group by group, as the run does.
    fn match_sorted<'r, 'a>(recs: &'r [Rec<'a>], emit: &mut impl FnMut(Finding<'r, 'a>)) {
        for group in groups(recs) {
            match_group(group, emit);
        }
    }

    fn outcomes(mut recs: Vec<Rec<'static>>) -> Vec<(Outcome, String)> {
        sort_partition(&mut recs);
        let mut out = Vec::new();
        match_sorted(&recs, &mut |f: Finding<'_, '_>| {
            out.push((
                f.outcome,
                f.primary()
                    .map(|r| r.provider_ref.to_owned())
                    .unwrap_or_default(),
            ))
        });
        out
    }

    use MovementKind::*;
    use Side::*;

    #[test]
    fn a_permutation_is_applied_in_place() {
        let mut items = ['a', 'b', 'c', 'd', 'e', 'f'];
        let mut order = [3, 0, 4, 1, 2, 5];
        permute(&mut items, &mut order);
        assert_eq!(items, ['d', 'a', 'e', 'b', 'c', 'f']);
    }

    #[test]
    fn equal_movements_match() {
        assert_eq!(
            outcomes(vec![
                rec(Ledger, Payment, "t1", 100),
                rec(Statement, Payment, "t1", 100)
            ]),
            [(Outcome::Matched, "t1".to_owned())]
        );
    }

    #[test]
    fn a_second_charge_of_a_booked_order_is_a_duplicate() {
        assert_eq!(
            outcomes(vec![
                rec(Ledger, Payment, "t2", 100),
                rec(Statement, Payment, "t1", 100),
                rec(Statement, Payment, "t2", 100),
            ]),
            [
                (Outcome::Duplicate, "t1".to_owned()),
                (Outcome::Matched, "t2".to_owned())
            ]
        );
    }

    #[test]
    fn unbooked_charges_are_missing_then_duplicate() {
        assert_eq!(
            outcomes(vec![
                rec(Statement, Payment, "t1", 100),
                rec(Statement, Payment, "t2", 100)
            ]),
            [
                (Outcome::MissingInLedger, "t1".to_owned()),
                (Outcome::Duplicate, "t2".to_owned())
            ]
        );
    }

    #[test]
    fn differences_amount_status_and_absence() {
        let mut failed = rec(Statement, Payout, "p1", 500);
        failed.status = ProviderStatus::Failed;
        let mut refused = rec(Statement, Deduction, "d9", 100);
        refused.status = ProviderStatus::Failed;
        refused.period = 2;
        assert_eq!(
            outcomes(vec![
                rec(Ledger, Refund, "r1", 100),
                rec(Statement, Refund, "r1", 90),
                rec(Ledger, Payout, "p1", 500),
                failed,
                rec(Ledger, Fee, "t1", 690),
                rec(Statement, Deduction, "d1", 100),
                refused,
                rec(Statement, Refund, "r1", 90),
            ]),
            [
                (Outcome::MissingInProvider, "t1".to_owned()),
                (Outcome::AmountMismatch, "r1".to_owned()),
                (Outcome::Duplicate, "r1".to_owned()),
                (Outcome::MissingInLedger, "d1".to_owned()),
                (Outcome::Matched, "d9".to_owned()),
                (Outcome::StatusMismatch, "p1".to_owned()),
            ]
        );
    }

    fn notes(mut recs: Vec<Rec<'static>>) -> Vec<(Outcome, String)> {
        sort_partition(&mut recs);
        let mut notes = Vec::new();
        match_sorted(&recs, &mut |f: Finding<'_, '_>| {
            notes.push((f.outcome, f.note))
        });
        notes
    }

    fn through(provider: Provider, mut recs: Vec<Rec<'static>>) -> Vec<Rec<'static>> {
        for r in &mut recs {
            r.provider = Some(provider);
        }
        recs
    }

    #[test]
    fn an_unbooked_fee_of_a_booked_payment_says_the_rate_is_unset() {
        let notes = notes(through(
            Provider::Wechatpay,
            vec![
                rec(Ledger, Payment, "t1", 30_000),
                rec(Statement, Payment, "t1", 30_000),
                rec(Statement, Fee, "t1", 180),
                rec(Statement, Refund, "r1", 500),
            ],
        ));
        assert_eq!(
            notes,
            [
                (Outcome::Matched, String::new()),
                (
                    Outcome::MissingInLedger,
                    "the provider lists fee t1 of 1.80 (line 7); our ledger has no such entry: the shop has no processing rate for this provider; set it so each payment books its fee".to_owned()
                ),
                (
                    Outcome::MissingInLedger,
                    "the provider lists refund r1 of 5.00 (line 7); our ledger has no such entry".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn an_unbooked_fee_says_nothing_of_rates_where_none_would_help() {
        let plain = "the provider lists fee t1 of 1.80 (line 7); our ledger has no such entry";
        // The sandbox keeps no processing fee; a payment we never booked
        // has its fee missing with it.
        let sandbox = vec![
            rec(Ledger, Payment, "t1", 30_000),
            rec(Statement, Payment, "t1", 30_000),
            rec(Statement, Fee, "t1", 180),
        ];
        let unpaid = through(
            Provider::Wechatpay,
            vec![
                rec(Statement, Payment, "t1", 30_000),
                rec(Statement, Fee, "t1", 180),
            ],
        );
        // A second charge t1 of an order we booked as paid by t0.
        let charged_twice = through(
            Provider::Wechatpay,
            vec![
                rec(Ledger, Payment, "t0", 30_000),
                rec(Ledger, Fee, "t0", 180),
                rec(Statement, Payment, "t0", 30_000),
                rec(Statement, Fee, "t0", 180),
                rec(Statement, Payment, "t1", 30_000),
                rec(Statement, Fee, "t1", 180),
            ],
        );
        for recs in [sandbox, unpaid, charged_twice] {
            let fee = notes(recs).into_iter().find(|(_, n)| n.contains("fee t1"));
            assert_eq!(fee, Some((Outcome::MissingInLedger, plain.to_owned())));
        }
    }

    #[test]
    fn a_second_deduction_of_a_booked_period_is_a_duplicate() {
        let mut booked = rec(Ledger, Deduction, "d1", 100);
        booked.period = 1;
        let mut twin = rec(Statement, Deduction, "d2", 100);
        twin.period = 1;
        let mut same = rec(Statement, Deduction, "d1", 100);
        same.period = 1;
        assert_eq!(
            outcomes(vec![booked, twin, same]),
            [
                (Outcome::Matched, "d1".to_owned()),
                (Outcome::Duplicate, "d2".to_owned())
            ]
        );
    }
}
