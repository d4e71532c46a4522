//! What matching gathers besides the report rows: a tally per shop, and per
//! discrepancy class enough to raise one alert about it.

use std::collections::{BTreeMap, HashSet};

use crate::report::{ReportRow, ShopTally};
use crate::spill::{update, FastMap, Fnv};

/// Examples kept per alert.
const EXAMPLES: usize = 3;

/// Per discrepancy class: enough to act on, bounded.
#[derive(Default)]
pub(super) struct ClassAlert {
    pub(super) count: u64,
    pub(super) involved_fen: i64,
    /// Hashed, not ordered, while rows are counted (a lookup per
    /// discrepancy); put in order when the alert is written.
    pub(super) shops: HashSet<String, std::hash::BuildHasherDefault<Fnv>>,
    pub(super) examples: Vec<String>,
}

impl ClassAlert {
    fn add(&mut self, row: &ReportRow<'_>, fen: i64) {
        self.count += 1;
        self.involved_fen = self.involved_fen.saturating_add(fen.abs());
        if !self.shops.contains(row.shop_id) {
            self.shops.insert(row.shop_id.to_owned());
        }
        if self.examples.len() < EXAMPLES {
            self.examples.push(format!(
                "shop {} {} {} {}: {}",
                row.shop_id,
                row.kind,
                row.order_no,
                row.provider_ref.unwrap_or("-"),
                row.note
            ));
        }
    }

    fn merge(&mut self, other: ClassAlert) {
        self.count += other.count;
        self.involved_fen = self.involved_fen.saturating_add(other.involved_fen);
        self.shops.extend(other.shops);
        for e in other.examples {
            if self.examples.len() < EXAMPLES {
                self.examples.push(e);
            }
        }
    }
}

/// What matching gathered: per shop, per alert class.
#[derive(Default)]
pub(super) struct Gathered {
    pub(super) shops: FastMap<String, ShopTally>,
    pub(super) classes: BTreeMap<&'static str, ClassAlert>,
}

impl Gathered {
    pub(super) fn merge(&mut self, other: Gathered) {
        for (shop, tally) in other.shops {
            self.shops.entry(shop).or_default().merge(&tally);
        }
        for (class, alert) in other.classes {
            self.classes.entry(class).or_default().merge(alert);
        }
    }

    /// Counts a report row for its shop and, unless matched, for its class.
    pub(super) fn record(&mut self, row: &ReportRow<'_>, fen: i64) {
        update(&mut self.shops, row.shop_id, |t| {
            t.count_outcome(row.outcome)
        });
        self.count_class(row, fen);
    }

    /// Counts a report row for its class, unless matched (its shop's count
    /// is the caller's).
    pub(super) fn count_class(&mut self, row: &ReportRow<'_>, fen: i64) {
        let outcome = row.outcome;
        if outcome.is_discrepancy() {
            self.classes
                .entry(outcome.as_str())
                .or_default()
                .add(row, fen);
        }
        if row.deduction_status == Some("FAILED") {
            self.classes
                .entry("DEDUCTION_FAILED")
                .or_default()
                .add(row, fen);
        }
    }
}
