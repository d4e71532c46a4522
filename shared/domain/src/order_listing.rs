//! Finding a shop's orders (SPEC §11 "Orders"): a range of business days and
//! the filters a merchant narrows it with. Listing and export both take
//! these, so the range bound and what a filter matches are decided once.

use chrono::{DateTime, Utc};

use crate::collection::Provider;
use crate::ids::{DeviceId, OutOrderNo};
use crate::order::{Order, OrderStatus};
use crate::time::BusinessDate;

/// Most business days one listing or export may span (about a quarter):
/// every request reads a bounded slice of the shop's history.
pub const MAX_RANGE_DAYS: i64 = 92;

/// Business days `from` to `to`, both included, at most [`MAX_RANGE_DAYS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    from: BusinessDate,
    to: BusinessDate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("`from` is after `to`")]
    Reversed,
    #[error("a range spans at most {MAX_RANGE_DAYS} days")]
    TooWide,
}

impl DateRange {
    pub fn new(from: BusinessDate, to: BusinessDate) -> Result<DateRange, RangeError> {
        if from > to {
            return Err(RangeError::Reversed);
        }
        let days = (to.naive() - from.naive()).num_days() + 1;
        if days > MAX_RANGE_DAYS {
            return Err(RangeError::TooWide);
        }
        Ok(DateRange { from, to })
    }

    /// The single day `date`.
    pub fn day(date: BusinessDate) -> DateRange {
        DateRange {
            from: date,
            to: date,
        }
    }

    pub fn from(&self) -> BusinessDate {
        self.from
    }

    pub fn to(&self) -> BusinessDate {
        self.to
    }

    /// The first instant of the range: 00:00 Beijing time on `from`.
    pub fn starts_at(&self) -> DateTime<Utc> {
        self.from.starts_at()
    }

    /// The first instant after the range: 00:00 Beijing time the day after `to`.
    pub fn ends_before(&self) -> DateTime<Utc> {
        self.to.succ().starts_at()
    }

    pub fn contains(&self, instant: DateTime<Utc>) -> bool {
        self.starts_at() <= instant && instant < self.ends_before()
    }
}

/// What a merchant narrows a listing with; an absent field matches all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    pub status: Option<OrderStatus>,
    pub provider: Option<Provider>,
    pub device_id: Option<DeviceId>,
    pub out_order_no: Option<OutOrderNo>,
}

impl OrderFilter {
    /// Whether `order` passes every filter given.
    pub fn matches(&self, order: &Order) -> bool {
        self.status.is_none_or(|s| order.status == s)
            && self.provider.is_none_or(|p| order.provider == Some(p))
            && same(&self.device_id, &order.device_id)
            && same(&self.out_order_no, &order.out_order_no)
    }
}

fn same<T: PartialEq>(wanted: &Option<T>, actual: &Option<T>) -> bool {
    wanted.is_none() || wanted == actual
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> BusinessDate {
        BusinessDate::parse(text).unwrap()
    }

    #[test]
    fn a_range_spans_at_most_92_days_and_never_runs_backwards() {
        let full = DateRange::new(date("2026-01-01"), date("2026-04-02")).unwrap();
        assert_eq!(full.to(), date("2026-04-02"));
        assert_eq!(
            DateRange::new(date("2026-01-01"), date("2026-04-03")),
            Err(RangeError::TooWide)
        );
        assert_eq!(
            DateRange::new(date("2026-01-02"), date("2026-01-01")),
            Err(RangeError::Reversed)
        );
    }

    #[test]
    fn a_range_runs_from_beijing_midnight_to_beijing_midnight() {
        let range = DateRange::day(date("2026-03-02"));
        assert_eq!(range.starts_at().to_rfc3339(), "2026-03-01T16:00:00+00:00");
        assert_eq!(
            range.ends_before().to_rfc3339(),
            "2026-03-02T16:00:00+00:00"
        );
        assert!(range.contains(range.starts_at()));
        assert!(!range.contains(range.ends_before()));
    }
}
