//! What matching gathers besides the report rows: each shop's settlement
//! figures, and per discrepancy class enough to raise one alert about it.
//! (The rest of a shop's tally is counted from its rows, as its report is
//! written.)

use std::collections::{BTreeMap, HashSet};
use std::hash::BuildHasherDefault;

use crate::report::{ReportRow, ShopTally};
use crate::spill::{FastMap, Fnv};

/// Examples kept per alert.
const EXAMPLES: usize = 3;

/// Shop ids, hashed.
pub(super) type ShopSet = HashSet<String, BuildHasherDefault<Fnv>>;

/// Adds `shop` to `shops`, allocating its id only the first time it is seen.
fn note_shop(shops: &mut ShopSet, shop: &str) {
    if !shops.contains(shop) {
        shops.insert(shop.to_owned());
    }
}

/// Per discrepancy class: enough to act on, bounded.
#[derive(Default)]
pub(super) struct ClassAlert {
    pub(super) count: u64,
    pub(super) involved_fen: i64,
    /// Hashed, not ordered, while rows are counted (a lookup per
    /// discrepancy); put in order when the alert is written.
    pub(super) shops: ShopSet,
    pub(super) examples: Vec<String>,
}

impl ClassAlert {
    fn add(&mut self, row: &ReportRow<'_>, fen: i64) {
        self.count += 1;
        self.involved_fen = self.involved_fen.saturating_add(fen.abs());
        note_shop(&mut self.shops, row.shop_id);
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
    /// Every shop a report row was written for.
    pub(super) shops: ShopSet,
    /// The shops' tallies as matching leaves them: their settlement
    /// batches' expected and received amounts.
    pub(super) settlements: FastMap<String, ShopTally>,
    pub(super) classes: BTreeMap<&'static str, ClassAlert>,
}

impl Gathered {
    pub(super) fn merge(&mut self, other: Gathered) {
        self.shops.extend(other.shops);
        for (shop, tally) in other.settlements {
            self.settlements.entry(shop).or_default().merge(&tally);
        }
        for (class, alert) in other.classes {
            self.classes.entry(class).or_default().merge(alert);
        }
    }

    /// Notes a report row's shop and counts the row for its class, unless
    /// matched (the shop counts its rows when its report is written).
    pub(super) fn count_row(&mut self, row: &ReportRow<'_>, fen: i64) {
        note_shop(&mut self.shops, row.shop_id);
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
