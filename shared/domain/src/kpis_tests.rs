use chrono::TimeZone;

use super::*;
use crate::money::Amount;
use crate::receivables::PeriodView;

fn tally(count: u64, fen: i64) -> Tally {
    Tally {
        count,
        total: Money::from_fen(fen).expect("money"),
    }
}

fn day(text: &str) -> BusinessDate {
    BusinessDate::parse(text).expect("date")
}

/// A crafted day: 3 paid orders for ¥1,000.00, 2 of them with a plan; 3
/// plan checkouts; 8 orders opened, 3 closed unpaid; 1 refund of ¥125.00;
/// 2 payouts of ¥50.00 in all; 4 periods due (¥400.00), 1 overdue (¥100.00).
fn crafted() -> KpiInputs {
    KpiInputs {
        payments: tally(3, 100_000),
        monthly_pay_orders: 2,
        plan_checkouts: 3,
        orders_created: 8,
        orders_closed_unpaid: 3,
        refunds: tally(1, 12_500),
        payouts: tally(2, 5_000),
        receivables: OverduePosition {
            as_of: Some(day("2026-11-05")),
            due: tally(4, 40_000),
            overdue: tally(1, 10_000),
        },
    }
}

#[test]
fn each_kpi_follows_its_formula_exactly() {
    let k = crafted().kpis();
    assert_eq!(k.monthly_pay_orders, 2);
    // 2 ÷ 3
    assert_eq!(k.monthly_pay_share.to_string(), "0.6667");
    // 100000 fen ÷ 3 = 33333.33… → 33333 fen
    assert_eq!(k.average_order_value.to_string(), "333.33");
    // 2 paid with a plan ÷ 3 checkouts shown with one
    assert_eq!(k.monthly_pay_conversion.to_string(), "0.6667");
    // ¥100.00 ÷ ¥400.00 and 1 ÷ 4
    assert_eq!(k.overdue_rate_amount.to_string(), "0.2500");
    assert_eq!(k.overdue_rate_count.to_string(), "0.2500");
    // 3 closed unpaid ÷ 8 opened
    assert_eq!(k.cancellation_ratio.to_string(), "0.3750");
    // 1 ÷ 3 and ¥125.00 ÷ ¥1,000.00
    assert_eq!(k.refund_ratio_count.to_string(), "0.3333");
    assert_eq!(k.refund_ratio_amount.to_string(), "0.1250");
    assert_eq!(k.payouts_total.to_string(), "50.00");
}

#[test]
fn nothing_to_divide_by_gives_zero_not_an_error() {
    let k = KpiInputs::default().kpis();
    for r in [
        k.monthly_pay_share,
        k.monthly_pay_conversion,
        k.overdue_rate_amount,
        k.overdue_rate_count,
        k.cancellation_ratio,
        k.refund_ratio_count,
        k.refund_ratio_amount,
    ] {
        assert_eq!(r.to_string(), "0.0000");
    }
    assert_eq!(k.average_order_value.to_string(), "0.00");
    assert_eq!(k.payouts_total.to_string(), "0.00");
    assert_eq!(k.monthly_pay_orders, 0);
}

#[test]
fn conversion_may_pass_one_when_plans_are_paid_without_our_page() {
    let inputs = KpiInputs {
        payments: tally(3, 30_000),
        monthly_pay_orders: 3,
        plan_checkouts: 2,
        ..KpiInputs::default()
    };
    assert_eq!(inputs.monthly_pay_conversion().to_string(), "1.5000");
}

#[test]
fn a_month_is_computed_from_summed_inputs_never_averaged_ratios() {
    // Day 1: ¥100.00 paid, ¥100.00 refunded (ratio 1); day 2: ¥300.00 paid
    // in 3 orders, nothing refunded (ratio 0). Averaged ratios would say
    // 0.5; the month refunded ¥100.00 of ¥400.00.
    let first = KpiInputs {
        payments: tally(1, 10_000),
        monthly_pay_orders: 1,
        plan_checkouts: 4,
        orders_created: 2,
        orders_closed_unpaid: 1,
        refunds: tally(1, 10_000),
        payouts: tally(1, 1_000),
        receivables: OverduePosition {
            as_of: Some(day("2026-11-01")),
            due: tally(10, 100_000),
            overdue: tally(5, 50_000),
        },
    };
    let second = KpiInputs {
        payments: tally(3, 30_000),
        orders_created: 3,
        payouts: tally(2, 2_000),
        receivables: OverduePosition {
            as_of: Some(day("2026-11-02")),
            due: tally(8, 80_000),
            overdue: tally(1, 10_000),
        },
        ..KpiInputs::default()
    };
    let month = KpiInputs::over_days([&first, &second]);
    assert_eq!(month, KpiInputs::default().then(&first).then(&second));
    assert_eq!(month.payments, tally(4, 40_000));
    assert_eq!(month.orders_created, 5);
    let k = month.kpis();
    assert_eq!(k.refund_ratio_amount.to_string(), "0.2500");
    assert_eq!(k.refund_ratio_count.to_string(), "0.2500");
    assert_eq!(k.average_order_value.to_string(), "100.00");
    assert_eq!(k.monthly_pay_share.to_string(), "0.2500");
    assert_eq!(k.monthly_pay_conversion.to_string(), "0.2500");
    assert_eq!(k.cancellation_ratio.to_string(), "0.2000");
    assert_eq!(k.payouts_total.to_string(), "30.00");
    // The receivables are a stock: the month ends where its last day did.
    assert_eq!(month.receivables.as_of, Some(day("2026-11-02")));
    assert_eq!(k.overdue_rate_amount.to_string(), "0.1250");
    assert_eq!(k.overdue_rate_count.to_string(), "0.1250");
}

fn period(n: u8, fen: i64, due: &str, status: PeriodStatus) -> PeriodView {
    PeriodView {
        period: n,
        amount: Amount::from_fen(fen).expect("amount"),
        due_date: day(due),
        status,
        days_past_due: 0,
    }
}

#[test]
fn the_overdue_position_counts_periods_fallen_due_by_the_day() {
    let order = OrderReceivable {
        periods: vec![
            period(1, 10_001, "2026-10-01", PeriodStatus::Deducted),
            period(2, 10_000, "2026-10-31", PeriodStatus::Overdue),
            // Due on the day itself, within its grace days: due, not overdue.
            period(3, 10_000, "2026-11-30", PeriodStatus::Pending),
            // Not due yet.
            period(4, 10_000, "2026-12-30", PeriodStatus::Pending),
        ],
        repaid_principal: Money::ZERO,
        outstanding_principal: Money::ZERO,
    };
    let mut position = OverduePosition::as_of(day("2026-11-30"));
    position.add(&order);
    assert_eq!(position.due, tally(3, 30_001));
    assert_eq!(position.overdue, tally(1, 10_000));
    let inputs = KpiInputs {
        receivables: position,
        ..KpiInputs::default()
    };
    // 10000 ÷ 30001 = 0.33332… and 1 ÷ 3
    assert_eq!(inputs.overdue_rate_amount().to_string(), "0.3333");
    assert_eq!(inputs.overdue_rate_count().to_string(), "0.3333");
}

#[test]
fn months_parse_strictly_and_list_their_days() {
    let november = BusinessMonth::parse("2026-11").expect("month");
    assert_eq!(november.to_string(), "2026-11");
    let days = november.days();
    assert_eq!(days.len(), 30);
    assert_eq!(days.first(), Some(&day("2026-11-01")));
    assert_eq!(days.last(), Some(&day("2026-11-30")));
    assert_eq!(
        BusinessMonth::parse("2028-02").map(|m| m.days().len()),
        Ok(29)
    );
    for bad in [
        "2026-13",
        "2026-00",
        "2026-1",
        "26-11",
        "2026/11",
        "2026-11-01",
        "",
        "２０２６-11",
        "+026-11",
    ] {
        assert_eq!(BusinessMonth::parse(bad), Err(MonthError), "{bad:?}");
    }
}

#[test]
fn the_month_of_an_instant_is_beijings() {
    // 2026-11-30 16:30 UTC is 00:30 on 1 December in Beijing.
    let at = Utc
        .with_ymd_and_hms(2026, 11, 30, 16, 30, 0)
        .single()
        .expect("time");
    assert_eq!(BusinessMonth::of(at).to_string(), "2026-12");
    let at = Utc
        .with_ymd_and_hms(2026, 11, 30, 15, 30, 0)
        .single()
        .expect("time");
    assert_eq!(BusinessMonth::of(at).to_string(), "2026-11");
}
