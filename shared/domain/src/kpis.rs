//! What the merchant watches, as numbers (SPEC §11 "KPIs per day and
//! month"): every KPI's formula, once.
//!
//! A day's [`KpiInputs`] are raw counts and fen sums — numerators and
//! denominators, never ratios — so a month is the sum of its days and its
//! KPIs are computed from that sum ([`KpiInputs::then`]), never an average
//! of daily ratios. Flows (payments, refunds, orders, checkouts, payouts)
//! add up; the receivables position (due and overdue periods) is a stock,
//! so a month takes its last day's. Ratios are 4 decimals half up
//! ([`ratio`], 0 when nothing to divide by); money is [`Money`].

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::Money;
use crate::receivables::{OrderReceivable, PeriodStatus};
use crate::reconciliation::{average, ratio, Tally};
use crate::time::BusinessDate;

/// What the store counts of a shop's business day as it happens, beside
/// the ledger (SPEC §11): checkouts shown with a plan, orders opened and
/// orders closed unpaid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DayActivity {
    /// Checkouts whose page was first shown with a monthly-pay plan offered
    /// on this day, each checkout once however often it is reloaded.
    pub plan_checkouts: u64,
    /// Orders opened on this day (dynamic codes' orders, static-code
    /// checkouts, orders made by the API).
    pub orders_created: u64,
    /// Of the orders opened on this day, those closed unpaid (expired or
    /// revoked) so far: a closure counts on its order's opening day, so the
    /// ratio compares like with like (never above 1).
    pub orders_closed_unpaid: u64,
}

/// A shop's instalment periods as of the end of a day: those fallen due
/// (due date on or before the day, collected or not) and, of them, those
/// `OVERDUE` (past due plus the shop's grace days and still not deducted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OverduePosition {
    pub as_of: Option<BusinessDate>,
    pub due: Tally,
    pub overdue: Tally,
}

impl OverduePosition {
    /// An empty position as of `as_of`.
    pub fn as_of(as_of: BusinessDate) -> OverduePosition {
        OverduePosition {
            as_of: Some(as_of),
            ..OverduePosition::default()
        }
    }

    /// Counts one order's periods in (the order's position as of the same
    /// day, [`crate::receivables::order_receivable`]).
    pub fn add(&mut self, order: &OrderReceivable) {
        let as_of = self.as_of;
        for period in &order.periods {
            if as_of.is_some_and(|day| period.due_date <= day) {
                self.due.add(period.amount.fen());
                if period.status == PeriodStatus::Overdue {
                    self.overdue.add(period.amount.fen());
                }
            }
        }
    }
}

/// The raw figures behind a shop's KPIs over a day, or over the days of a
/// month summed ([`KpiInputs::then`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct KpiInputs {
    /// Payments in our ledger (each a paid order) and their total.
    pub payments: Tally,
    /// Of them, orders paid with a monthly-pay plan.
    pub monthly_pay_orders: u64,
    /// Checkouts first shown with a plan offered ([`DayActivity`]).
    pub plan_checkouts: u64,
    /// Orders opened, and of them closed unpaid ([`DayActivity`]).
    pub orders_created: u64,
    pub orders_closed_unpaid: u64,
    /// Refunds in our ledger and their total.
    pub refunds: Tally,
    /// Payouts in our ledger and their total.
    pub payouts: Tally,
    /// The receivables as of the end of the (last) day.
    pub receivables: OverduePosition,
}

/// A shop's KPIs over a day or a month, each computed from [`KpiInputs`]
/// by the method of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Kpis {
    pub monthly_pay_orders: u64,
    pub monthly_pay_share: Decimal,
    pub average_order_value: Money,
    pub monthly_pay_conversion: Decimal,
    pub overdue_rate_amount: Decimal,
    pub overdue_rate_count: Decimal,
    pub cancellation_ratio: Decimal,
    pub refund_ratio_count: Decimal,
    pub refund_ratio_amount: Decimal,
    pub payouts_total: Money,
}

/// A count as a ratio operand (no shop comes near 2^63 of anything).
fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn sum(a: Tally, b: Tally) -> Tally {
    Tally {
        count: a.count.saturating_add(b.count),
        total: a.total.checked_add(b.total).unwrap_or(a.total),
    }
}

impl KpiInputs {
    /// These inputs followed by a later day's: flows added, the
    /// receivables position the later day's (a stock is not summed).
    pub fn then(self, later: &KpiInputs) -> KpiInputs {
        KpiInputs {
            payments: sum(self.payments, later.payments),
            monthly_pay_orders: self
                .monthly_pay_orders
                .saturating_add(later.monthly_pay_orders),
            plan_checkouts: self.plan_checkouts.saturating_add(later.plan_checkouts),
            orders_created: self.orders_created.saturating_add(later.orders_created),
            orders_closed_unpaid: self
                .orders_closed_unpaid
                .saturating_add(later.orders_closed_unpaid),
            refunds: sum(self.refunds, later.refunds),
            payouts: sum(self.payouts, later.payouts),
            receivables: later.receivables,
        }
    }

    /// The inputs of consecutive days, oldest first, as one period's
    /// ([`Self::then`] in turn): a month's KPIs come from this sum.
    pub fn over_days<'a>(days: impl IntoIterator<Item = &'a KpiInputs>) -> KpiInputs {
        days.into_iter()
            .fold(KpiInputs::default(), |period, day| period.then(day))
    }

    /// Monthly-pay orders: paid orders with a plan (a count).
    pub fn monthly_pay_orders(&self) -> u64 {
        self.monthly_pay_orders
    }

    /// Monthly-pay share = monthly-pay orders ÷ paid orders (by count).
    pub fn monthly_pay_share(&self) -> Decimal {
        ratio(count(self.monthly_pay_orders), count(self.payments.count))
    }

    /// Average order value = payments total ÷ paid orders, half up to the fen.
    pub fn average_order_value(&self) -> Money {
        average(self.payments.total, self.payments.count)
    }

    /// Monthly-pay conversion = orders paid with a plan ÷ checkouts first
    /// shown with a plan offered. It may pass 1: a plan order paid without
    /// our page (a provider's own code) or on a later day than its page
    /// was shown is counted on the paid side only.
    pub fn monthly_pay_conversion(&self) -> Decimal {
        ratio(count(self.monthly_pay_orders), count(self.plan_checkouts))
    }

    /// Overdue rate by amount = Σ overdue periods ÷ Σ periods fallen due,
    /// as of the end of the (last) day.
    pub fn overdue_rate_amount(&self) -> Decimal {
        let position = &self.receivables;
        ratio(position.overdue.total.fen(), position.due.total.fen())
    }

    /// Overdue rate by count = overdue periods ÷ periods fallen due, as of
    /// the end of the (last) day.
    pub fn overdue_rate_count(&self) -> Decimal {
        let position = &self.receivables;
        ratio(count(position.overdue.count), count(position.due.count))
    }

    /// Cancellation ratio = orders closed unpaid ÷ orders opened (both on
    /// the orders' opening days).
    pub fn cancellation_ratio(&self) -> Decimal {
        ratio(count(self.orders_closed_unpaid), count(self.orders_created))
    }

    /// Refund ratio by count = refunds ÷ paid orders.
    pub fn refund_ratio_count(&self) -> Decimal {
        ratio(count(self.refunds.count), count(self.payments.count))
    }

    /// Refund ratio by amount = refunds total ÷ payments total.
    pub fn refund_ratio_amount(&self) -> Decimal {
        ratio(self.refunds.total.fen(), self.payments.total.fen())
    }

    /// Payouts total = Σ payouts paid out (the ledger's payout movements).
    pub fn payouts_total(&self) -> Money {
        self.payouts.total
    }

    /// Every KPI of these inputs.
    pub fn kpis(&self) -> Kpis {
        Kpis {
            monthly_pay_orders: self.monthly_pay_orders(),
            monthly_pay_share: self.monthly_pay_share(),
            average_order_value: self.average_order_value(),
            monthly_pay_conversion: self.monthly_pay_conversion(),
            overdue_rate_amount: self.overdue_rate_amount(),
            overdue_rate_count: self.overdue_rate_count(),
            cancellation_ratio: self.cancellation_ratio(),
            refund_ratio_count: self.refund_ratio_count(),
            refund_ratio_amount: self.refund_ratio_amount(),
            payouts_total: self.payouts_total(),
        }
    }
}

/// A calendar month of business days (`YYYY-MM`), as the KPI route names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct BusinessMonth {
    first: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("month must be YYYY-MM")]
pub struct MonthError;

impl BusinessMonth {
    /// `YYYY-MM`, exactly (a year of four digits, a month 01–12).
    pub fn parse(text: &str) -> Result<BusinessMonth, MonthError> {
        let bytes = text.as_bytes();
        let digits = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);
        if bytes.len() != 7 || bytes[4] != b'-' || !digits(0..4) || !digits(5..7) {
            return Err(MonthError);
        }
        let year: i32 = text[0..4].parse().map_err(|_| MonthError)?;
        let month: u32 = text[5..7].parse().map_err(|_| MonthError)?;
        NaiveDate::from_ymd_opt(year, month, 1)
            .map(|first| BusinessMonth { first })
            .ok_or(MonthError)
    }

    /// The month the business day of `instant` falls in.
    pub fn of(instant: DateTime<Utc>) -> BusinessMonth {
        let day = BusinessDate::of(instant).naive();
        BusinessMonth {
            first: day.with_day(1).unwrap_or(day),
        }
    }

    /// The month's business days, first to last.
    pub fn days(self) -> Vec<BusinessDate> {
        self.first
            .iter_days()
            .take_while(|d| d.month() == self.first.month())
            .filter_map(|d| BusinessDate::parse(&d.format("%Y-%m-%d").to_string()).ok())
            .collect()
    }
}

impl std::fmt::Display for BusinessMonth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.first.format("%Y-%m"))
    }
}

#[cfg(test)]
#[path = "kpis_tests.rs"]
mod tests;
