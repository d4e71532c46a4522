//! Monthly-pay receivables (SPEC §11): when each instalment period is due,
//! which periods are overdue as of a day, what an order has repaid and still
//! owes, and a shop's totals by age. Pure functions over an [`Order`] and its
//! shop's grace days; no I/O.
//!
//! Formulas (every date is a business day, Asia/Shanghai):
//! - **due date** of period k = the payment's business date + k × 30 days,
//!   unless the provider gave the period a due date of its own ([`due_date`]).
//! - **status** of a period as of day D: `DEDUCTED` once collected (even
//!   late); otherwise `OVERDUE` when D > due date + grace days; otherwise
//!   what the provider last said (`PENDING`, or `FAILED` after a failed
//!   deduction still within grace) ([`period_status`]).
//! - **days past due** of an overdue period = D − due date. Age counts from
//!   the due date, not from the end of grace (the usual "days past due" of
//!   collections): with 3 grace days a period turns overdue at 4 days past
//!   due, in the 1–30 bucket; with 45 grace days it turns overdue in 31–60.
//! - **repaid principal** = Σ amounts of `DEDUCTED` periods; **outstanding
//!   principal** = financed − repaid, while the order owes; a fully refunded
//!   order owes nothing (its plan is cancelled at the provider).
//! - **shop totals** as of D, over the orders that owe: outstanding = Σ
//!   outstanding principal; overdue amount and count = Σ amounts and count of
//!   `OVERDUE` periods; per age bucket (1–30, 31–60, 61–90, 90+ days past
//!   due) the same sum and count ([`ShopReceivables`]).

use serde::Serialize;

use crate::instalment::DeductionStatus;
use crate::money::{Amount, Money};
use crate::order::{Order, OrderStatus};
use crate::time::BusinessDate;

/// SPEC §11: period k is due k × 30 days after the payment.
pub const DAYS_PER_PERIOD: u64 = 30;

/// The shop's grace days before an unpaid period is overdue (API.md
/// `instalment_grace_days`): 3 unless set, at most 60 (two periods: a longer
/// grace would hide a period behind the next one's due date).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct GraceDays(u8);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("instalment_grace_days must be a whole number from 0 to 60")]
pub struct GraceDaysError;

impl GraceDays {
    pub const DEFAULT: GraceDays = GraceDays(3);
    pub const MAX: u8 = 60;

    pub fn new(days: i64) -> Result<GraceDays, GraceDaysError> {
        u8::try_from(days)
            .ok()
            .filter(|d| *d <= Self::MAX)
            .map(GraceDays)
            .ok_or(GraceDaysError)
    }

    pub fn days(self) -> u8 {
        self.0
    }
}

impl Default for GraceDays {
    fn default() -> GraceDays {
        GraceDays::DEFAULT
    }
}

/// Where one period stands as of a day: the stored [`DeductionStatus`]
/// with `OVERDUE` derived from its due date and the grace days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PeriodStatus {
    Pending,
    Deducted,
    Failed,
    Overdue,
}

impl PeriodStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PeriodStatus::Pending => "PENDING",
            PeriodStatus::Deducted => "DEDUCTED",
            PeriodStatus::Failed => "FAILED",
            PeriodStatus::Overdue => "OVERDUE",
        }
    }
}

/// Due date of 1-based `period` for a payment made on `paid_on`: the
/// provider's own date when it gave one, else `paid_on + period × 30` days.
/// `None` only past the calendar's end.
pub fn due_date(
    paid_on: BusinessDate,
    period: u8,
    provider_due: Option<BusinessDate>,
) -> Option<BusinessDate> {
    if provider_due.is_some() {
        return provider_due;
    }
    let days = u64::from(period).checked_mul(DAYS_PER_PERIOD)?;
    paid_on.plus_days(days)
}

/// Status of a period as of `as_of`: `DEDUCTED` once collected; `OVERDUE`
/// when `as_of` > `due` + `grace` days; else the stored status.
pub fn period_status(
    stored: DeductionStatus,
    due: BusinessDate,
    grace: GraceDays,
    as_of: BusinessDate,
) -> PeriodStatus {
    match stored {
        DeductionStatus::Deducted => PeriodStatus::Deducted,
        _ if days_past_due(due, as_of) > i64::from(grace.days()) => PeriodStatus::Overdue,
        DeductionStatus::Pending => PeriodStatus::Pending,
        DeductionStatus::Failed => PeriodStatus::Failed,
    }
}

/// `as_of − due` in days (negative before the due date).
pub fn days_past_due(due: BusinessDate, as_of: BusinessDate) -> i64 {
    (as_of.naive() - due.naive()).num_days()
}

/// One period of an order's plan as of a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeriodView {
    /// 1-based.
    pub period: u8,
    pub amount: Amount,
    pub due_date: BusinessDate,
    pub status: PeriodStatus,
    /// `as_of − due_date` when `OVERDUE`, else 0.
    pub days_past_due: u32,
}

/// An order's monthly-pay position as of a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderReceivable {
    pub periods: Vec<PeriodView>,
    /// Σ amounts of `DEDUCTED` periods.
    pub repaid_principal: Money,
    /// financed − repaid while the order owes; 0 once fully refunded.
    pub outstanding_principal: Money,
}

impl OrderReceivable {
    pub fn overdue(&self) -> impl Iterator<Item = &PeriodView> {
        self.periods
            .iter()
            .filter(|p| p.status == PeriodStatus::Overdue)
    }

    pub fn has_overdue(&self) -> bool {
        self.overdue().next().is_some()
    }
}

/// The order is paid, has a plan, is not fully refunded, and a period is
/// still to collect: it belongs in its shop's receivables. Both stores list
/// a shop's receivable orders by this test (one place for the rule).
pub fn owes_instalments(order: &Order) -> bool {
    owes(order)
        && order
            .deductions
            .iter()
            .any(|d| *d != DeductionStatus::Deducted)
}

/// Paid with a plan and not fully refunded (a fully refunded plan is
/// cancelled at the provider: nothing is collected any more).
fn owes(order: &Order) -> bool {
    order.instalment_plan.is_some()
        && order.paid_at.is_some()
        && matches!(
            order.status,
            OrderStatus::Paid | OrderStatus::PartiallyRefunded
        )
}

/// The order's position as of `as_of`, or `None` without a plan or before
/// it is paid (no schedule runs before the payment). No provider gives a
/// period's due date today, so every due date is computed ([`due_date`]).
pub fn order_receivable(
    order: &Order,
    grace: GraceDays,
    as_of: BusinessDate,
) -> Option<OrderReceivable> {
    let plan = order.instalment_plan.as_ref()?;
    let paid_on = BusinessDate::of(order.paid_at?);
    let owes = owes(order);
    let mut periods = Vec::with_capacity(plan.schedule.len());
    let mut repaid = Money::ZERO;
    for (index, amount) in plan.schedule.iter().enumerate() {
        let period = u8::try_from(index + 1).ok()?;
        let due = due_date(paid_on, period, None)?;
        let stored = order
            .deductions
            .get(index)
            .copied()
            .unwrap_or(DeductionStatus::Pending);
        let mut status = period_status(stored, due, grace, as_of);
        if !owes && status == PeriodStatus::Overdue {
            // Nothing is collected on a cancelled plan: never overdue.
            status = match stored {
                DeductionStatus::Failed => PeriodStatus::Failed,
                _ => PeriodStatus::Pending,
            };
        }
        if status == PeriodStatus::Deducted {
            repaid = repaid.checked_add(amount.money())?;
        }
        let days = match status {
            PeriodStatus::Overdue => u32::try_from(days_past_due(due, as_of)).unwrap_or(u32::MAX),
            _ => 0,
        };
        periods.push(PeriodView {
            period,
            amount: *amount,
            due_date: due,
            status,
            days_past_due: days,
        });
    }
    let outstanding = if owes {
        plan.financed.money().headroom_over(repaid)
    } else {
        Money::ZERO
    };
    Some(OrderReceivable {
        periods,
        repaid_principal: repaid,
        outstanding_principal: outstanding,
    })
}

/// The age buckets of overdue periods, by days past due.
pub const AGE_BUCKETS: [AgeBucket; 4] = [
    AgeBucket {
        label: "1-30",
        from_days: 1,
        to_days: Some(30),
    },
    AgeBucket {
        label: "31-60",
        from_days: 31,
        to_days: Some(60),
    },
    AgeBucket {
        label: "61-90",
        from_days: 61,
        to_days: Some(90),
    },
    AgeBucket {
        label: "90+",
        from_days: 91,
        to_days: None,
    },
];

/// Overdue periods `from_days ..= to_days` days past due (no upper end: on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgeBucket {
    pub label: &'static str,
    pub from_days: u32,
    pub to_days: Option<u32>,
}

impl AgeBucket {
    /// Index into [`AGE_BUCKETS`] of a period `days` past due; `None` for 0.
    pub fn index_of(days: u32) -> Option<usize> {
        AGE_BUCKETS
            .iter()
            .position(|b| days >= b.from_days && b.to_days.is_none_or(|to| days <= to))
    }
}

/// A sum and a count of periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeriodTotal {
    pub amount: Money,
    pub count: u32,
}

impl PeriodTotal {
    fn add(&mut self, amount: Amount) -> Result<(), ReceivablesOverflow> {
        self.amount = self
            .amount
            .checked_add(amount.money())
            .ok_or(ReceivablesOverflow)?;
        self.count = self.count.checked_add(1).ok_or(ReceivablesOverflow)?;
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the shop's receivables exceed what a sum can hold")]
pub struct ReceivablesOverflow;

/// A shop's receivables as of a day, folded order by order ([`Self::add`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShopReceivables {
    /// Orders that owe (paid, with a plan, a period still to collect).
    pub orders: u32,
    /// Σ outstanding principal of those orders.
    pub outstanding: Money,
    /// Orders with at least one overdue period.
    pub overdue_orders: u32,
    /// Σ amounts and count of overdue periods.
    pub overdue: PeriodTotal,
    /// `overdue` split by [`AGE_BUCKETS`], in that order.
    pub by_age: [PeriodTotal; 4],
}

impl ShopReceivables {
    /// Counts one order's position in.
    pub fn add(&mut self, order: &OrderReceivable) -> Result<(), ReceivablesOverflow> {
        if order.outstanding_principal.is_zero() && !order.has_overdue() {
            return Ok(());
        }
        self.orders = self.orders.checked_add(1).ok_or(ReceivablesOverflow)?;
        self.outstanding = self
            .outstanding
            .checked_add(order.outstanding_principal)
            .ok_or(ReceivablesOverflow)?;
        if order.has_overdue() {
            self.overdue_orders = self
                .overdue_orders
                .checked_add(1)
                .ok_or(ReceivablesOverflow)?;
        }
        for period in order.overdue() {
            self.overdue.add(period.amount)?;
            if let Some(i) = AgeBucket::index_of(period.days_past_due) {
                self.by_age[i].add(period.amount)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{OrderId, ShopId};
    use crate::instalment::plan;
    use crate::plan_terms::PlanPeriods;
    use crate::shop::InstalmentConfig;
    use chrono::{DateTime, TimeZone, Utc};
    use proptest::prelude::*;

    fn day(text: &str) -> BusinessDate {
        BusinessDate::parse(text).unwrap()
    }

    fn amount(text: &str) -> Amount {
        Amount::parse(text).unwrap()
    }

    /// 2026-01-01 23:30 Beijing is 15:30 UTC: the business day is the 1st.
    fn paid_at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 15, 30, 0).unwrap()
    }

    /// ¥300.00 over 3 periods (100.00 each), paid on 2026-01-01 Beijing:
    /// due 01-31, 03-02, 04-01.
    fn paid_order(deductions: &str) -> Order {
        let plan = plan(
            amount("300.00"),
            PlanPeriods::THREE,
            &InstalmentConfig::default(),
        )
        .unwrap();
        let mut order = Order::created(
            OrderId::parse("ord_1").unwrap(),
            ShopId::parse("s1").unwrap(),
            amount("300.00"),
            paid_at(),
        )
        .with_plan(Some(plan));
        order.status = OrderStatus::Paid;
        order.paid_amount = amount("300.00").money();
        order.paid_at = Some(paid_at());
        order.deductions = deductions
            .chars()
            .map(|c| DeductionStatus::from_letter(c).unwrap())
            .collect();
        order
    }

    fn statuses(r: &OrderReceivable) -> Vec<&'static str> {
        r.periods.iter().map(|p| p.status.as_str()).collect()
    }

    #[test]
    fn period_k_is_due_k_times_30_days_after_the_beijing_payment_day() {
        let r =
            order_receivable(&paid_order("PPP"), GraceDays::DEFAULT, day("2026-01-02")).unwrap();
        let due: Vec<String> = r.periods.iter().map(|p| p.due_date.to_string()).collect();
        // Paid 23:30 on the 1st in Beijing (still the 1st): not the UTC day.
        assert_eq!(due, ["2026-01-31", "2026-03-02", "2026-04-01"]);
        assert_eq!(
            due_date(day("2026-01-01"), 2, Some(day("2026-02-15"))),
            Some(day("2026-02-15")),
            "a provider's own due date wins"
        );
    }

    #[test]
    fn a_period_is_overdue_the_day_after_due_date_plus_grace_and_not_before() {
        let order = paid_order("PFP");
        let grace = GraceDays::DEFAULT;
        // Period 1 due 01-31; grace 3 → still PENDING on 02-03, OVERDUE 02-04.
        let on = |d| order_receivable(&order, grace, day(d)).unwrap();
        assert_eq!(
            statuses(&on("2026-02-03")),
            ["PENDING", "FAILED", "PENDING"]
        );
        let r = on("2026-02-04");
        assert_eq!(statuses(&r), ["OVERDUE", "FAILED", "PENDING"]);
        assert_eq!(
            r.periods[0].days_past_due, 4,
            "age counts from the due date"
        );
        // Period 2 (FAILED) due 03-02: overdue from 03-06.
        assert_eq!(statuses(&on("2026-03-05"))[1], "FAILED");
        assert_eq!(statuses(&on("2026-03-06"))[1], "OVERDUE");
        let zero = GraceDays::new(0).unwrap();
        let r = order_receivable(&order, zero, day("2026-02-01")).unwrap();
        assert_eq!(statuses(&r)[0], "OVERDUE");
        assert_eq!(r.periods[0].days_past_due, 1);
    }

    #[test]
    fn a_late_deduction_is_deducted_and_counts_as_repaid() {
        let r =
            order_receivable(&paid_order("DPP"), GraceDays::DEFAULT, day("2026-06-01")).unwrap();
        assert_eq!(statuses(&r), ["DEDUCTED", "OVERDUE", "OVERDUE"]);
        assert_eq!(r.repaid_principal, Money::parse("100.00").unwrap());
        assert_eq!(r.outstanding_principal, Money::parse("200.00").unwrap());
        // 06-01 − 03-02 = 91 days; 06-01 − 04-01 = 61 days.
        let days: Vec<u32> = r.overdue().map(|p| p.days_past_due).collect();
        assert_eq!(days, [91, 61]);
    }

    #[test]
    fn a_fully_refunded_order_owes_nothing_and_is_never_overdue() {
        let mut order = paid_order("DPP");
        order.status = OrderStatus::Refunded;
        assert!(!owes_instalments(&order));
        let r = order_receivable(&order, GraceDays::DEFAULT, day("2026-12-01")).unwrap();
        assert_eq!(statuses(&r), ["DEDUCTED", "PENDING", "PENDING"]);
        assert_eq!(r.outstanding_principal, Money::ZERO);
        assert_eq!(r.repaid_principal, Money::parse("100.00").unwrap());
    }

    #[test]
    fn only_paid_plans_with_a_period_left_are_receivable() {
        assert!(owes_instalments(&paid_order("DDP")));
        assert!(!owes_instalments(&paid_order("DDD")));
        let mut unpaid = paid_order("PPP");
        unpaid.status = OrderStatus::Created;
        unpaid.paid_at = None;
        assert!(!owes_instalments(&unpaid));
        assert_eq!(
            order_receivable(&unpaid, GraceDays::DEFAULT, day("2026-05-01")),
            None
        );
        let mut partly = paid_order("PPP");
        partly.status = OrderStatus::PartiallyRefunded;
        assert!(owes_instalments(&partly));
    }

    #[test]
    fn grace_days_are_0_to_60() {
        assert_eq!(GraceDays::default().days(), 3);
        assert_eq!(GraceDays::new(0).unwrap().days(), 0);
        assert_eq!(GraceDays::new(60).unwrap().days(), 60);
        assert_eq!(GraceDays::new(61), Err(GraceDaysError));
        assert_eq!(GraceDays::new(-1), Err(GraceDaysError));
        assert_eq!(GraceDays::new(256), Err(GraceDaysError));
    }

    #[test]
    fn age_buckets_split_at_30_60_90_days_past_due() {
        let at = |d| AgeBucket::index_of(d);
        assert_eq!(
            [0, 1, 30, 31, 60, 61, 90, 91, 5000].map(at),
            [
                None,
                Some(0),
                Some(0),
                Some(1),
                Some(1),
                Some(2),
                Some(2),
                Some(3),
                Some(3)
            ]
        );
    }

    #[test]
    fn shop_totals_add_outstanding_overdue_and_ages() {
        let mut shop = ShopReceivables::default();
        let as_of = day("2026-06-01");
        for d in ["DPP", "DDD", "PPP"] {
            let r = order_receivable(&paid_order(d), GraceDays::DEFAULT, as_of).unwrap();
            shop.add(&r).unwrap();
        }
        assert_eq!(shop.orders, 2, "the fully repaid order owes nothing");
        assert_eq!(shop.outstanding, Money::parse("500.00").unwrap());
        assert_eq!(shop.overdue_orders, 2);
        assert_eq!(shop.overdue.count, 5);
        assert_eq!(shop.overdue.amount, Money::parse("500.00").unwrap());
        // Ages: PPP: 121, 91, 61; DPP: 91, 61.
        let counts: Vec<u32> = shop.by_age.iter().map(|b| b.count).collect();
        assert_eq!(counts, [0, 0, 2, 3]);
        assert_eq!(shop.by_age[3].amount, Money::parse("300.00").unwrap());
    }

    proptest! {
        #[test]
        fn repaid_plus_outstanding_is_financed_and_buckets_add_up(
            letters in prop::collection::vec(prop::sample::select(vec!['P', 'D', 'F']), 3),
            days_after in 0u64..=500,
            grace in 0i64..=60,
        ) {
            let order = paid_order(&letters.iter().collect::<String>());
            let as_of = day("2026-01-01").plus_days(days_after).unwrap();
            let r = order_receivable(&order, GraceDays::new(grace).unwrap(), as_of).unwrap();
            let financed = order.instalment_plan.as_ref().unwrap().financed.money();
            prop_assert_eq!(r.repaid_principal.checked_add(r.outstanding_principal), Some(financed));
            let mut shop = ShopReceivables::default();
            shop.add(&r).unwrap();
            let bucketed: i64 = shop.by_age.iter().map(|b| b.amount.fen()).sum();
            prop_assert_eq!(bucketed, shop.overdue.amount.fen());
            for p in &r.periods {
                let late = days_past_due(p.due_date, as_of) > grace;
                let deducted = letters[usize::from(p.period) - 1] == 'D';
                prop_assert_eq!(p.status == PeriodStatus::Overdue, late && !deducted);
            }
        }
    }
}
