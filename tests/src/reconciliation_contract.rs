//! The reconciliation half of the store contract (SPEC §6): a day's ledger
//! read part by part, per-shop summaries, once-only alert claims.
//! `tests/tests/reconciliation_contract.rs` runs every case against both stores.

use std::collections::BTreeMap;
use std::sync::Arc;

use qrpay_domain::{BusinessDate, LedgerEntry, ReconciliationSummary, ShopId, Tally};
use qrpay_store::{ledger_part, Store, LEDGER_DAY_PARTS};
use rust_decimal::Decimal;

use crate::collection_contract::{apply, at, issued_order, payment};
use crate::world::{money, World};

#[macro_export]
macro_rules! for_each_reconciliation_case {
    ($callback:ident!($($args:tt)*)) => {
        $callback!($($args)*;
            the_day_ledger_is_read_part_by_part_in_pages,
            a_summary_is_replaced_by_a_rerun_and_can_be_deleted,
            a_claim_is_granted_once,
            a_lease_has_one_holder_until_it_is_given_back_or_runs_out,
        );
    };
}

/// Every entry of `date`, reading each part in pages of `limit`.
async fn whole_day(store: &dyn Store, date: BusinessDate, limit: usize) -> Vec<(u16, LedgerEntry)> {
    let mut all = Vec::new();
    for part in 0..LEDGER_DAY_PARTS {
        let mut after: Option<String> = None;
        loop {
            let page = store
                .list_day_ledger(date, part, after.as_deref(), limit)
                .await
                .unwrap();
            assert!(page.entries.len() <= limit);
            all.extend(page.entries.into_iter().map(|e| (part, e)));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    all
}

pub async fn the_day_ledger_is_read_part_by_part_in_pages(store: Arc<dyn Store>) {
    let shops = ["shop-a", "shop-b", "shop-c", "shop-d"];
    let mut expected = Vec::new();
    for (i, shop) in shops.iter().enumerate() {
        let w = World::with_shop(store.clone(), shop, "15000.00", "0.00").await;
        // Two plain payments per shop, and one monthly-pay payment (with its
        // shop-borne fee entry) in the first shop: 10 entries in all.
        for n in 0..2 {
            let (_, order) = issued_order(&w, &format!("{shop}-{n}"), "20.00", None).await;
            let txn = format!("t-{i}-{n}");
            apply(
                store.as_ref(),
                &payment(&order.order_id, &format!("n-{i}-{n}"), &txn, "20.00"),
            )
            .await;
            expected.push((shop.to_string(), format!("payment-wechatpay-{txn}")));
        }
        if i == 0 {
            let (_, order) = issued_order(&w, "mp", "300.00", Some(3)).await;
            apply(
                store.as_ref(),
                &payment(&order.order_id, "n-mp", "t-mp", "300.00"),
            )
            .await;
            expected.push((shop.to_string(), "payment-wechatpay-t-mp".to_owned()));
            expected.push((shop.to_string(), "fee-wechatpay-t-mp".to_owned()));
        }
    }
    let date = BusinessDate::of(at(60));
    let day = whole_day(store.as_ref(), date, 2).await;
    let mut got: Vec<(String, String)> = day
        .iter()
        .map(|(_, e)| (e.shop_id.to_string(), e.entry_id.clone()))
        .collect();
    // Each entry in the part of its shop, each part in (shop, entry) order.
    for (part, entry) in &day {
        assert_eq!(*part, ledger_part(&entry.shop_id));
    }
    for part in 0..LEDGER_DAY_PARTS {
        let keys: Vec<_> = day
            .iter()
            .filter(|(p, _)| *p == part)
            .map(|(_, e)| (e.shop_id.to_string(), e.entry_id.clone()))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "part {part} in order");
    }
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
    let monthly = day
        .iter()
        .map(|(_, e)| e)
        .find(|e| e.entry_id == "payment-wechatpay-t-mp")
        .unwrap();
    assert_eq!(monthly.plan_periods, Some(3));
    assert_eq!(monthly.customer.as_deref(), Some("张* 138****1234"));
    // Another day has nothing; a big page reads the same entries.
    let next_day = whole_day(store.as_ref(), date.succ(), 100).await;
    assert!(next_day.is_empty(), "{next_day:?}");
    assert_eq!(whole_day(store.as_ref(), date, 1000).await.len(), 10);
}

fn summary(shop: &str, date: BusinessDate, run: &str, rows: u64) -> ReconciliationSummary {
    ReconciliationSummary {
        shop_id: ShopId::parse(shop).unwrap(),
        date,
        run_id: run.to_owned(),
        generated_at: at(0),
        rows,
        outcomes: BTreeMap::from([("MATCHED".to_owned(), rows)]),
        discrepancies: 0,
        payments: Tally {
            count: rows,
            total: money("99.50"),
        },
        refunds: Tally::default(),
        fees: Tally::default(),
        fees_returned: Tally {
            count: 1,
            total: money("0.06"),
        },
        deductions: Tally::default(),
        payouts: Tally::default(),
        adjustment_credits: Tally {
            count: 1,
            total: money("12.30"),
        },
        adjustment_debits: Tally::default(),
        payments_by_hour: std::array::from_fn(|hour| Tally {
            count: u64::from(hour == 14),
            total: money(if hour == 14 { "99.50" } else { "0.00" }),
        }),
        payments_by_provider: BTreeMap::from([(
            "wechatpay".to_owned(),
            Tally {
                count: rows,
                total: money("99.50"),
            },
        )]),
        deductions_failed: 0,
        monthly_pay_orders: 1,
        average_order_value: money("9.95"),
        refund_ratio: Decimal::new(125, 4),
        deduction_failure_rate: Decimal::ZERO,
        settlement_expected: Decimal::new(-1234, 2),
        settlement_received: Decimal::new(-1234, 2),
        gaps: vec!["no alipay statement".to_owned()],
        report_csv: format!("reports/{date}/{shop}.csv"),
        report_json: format!("reports/{date}/{shop}.json"),
        kpi_inputs: Some(kpi_inputs()),
        kpis: Some(kpi_inputs().kpis()),
    }
}

/// KPI inputs travel with the summary, every figure kept.
fn kpi_inputs() -> qrpay_domain::KpiInputs {
    qrpay_domain::KpiInputs {
        payments: Tally {
            count: 10,
            total: money("99.50"),
        },
        monthly_pay_orders: 1,
        plan_checkouts: 3,
        orders_created: 12,
        orders_closed_unpaid: 2,
        refunds: Tally::default(),
        payouts: Tally::default(),
        receivables: qrpay_domain::OverduePosition {
            as_of: Some(BusinessDate::parse("2026-03-02").unwrap()),
            due: Tally {
                count: 2,
                total: money("66.67"),
            },
            overdue: Tally {
                count: 1,
                total: money("33.33"),
            },
        },
    }
}

pub async fn a_summary_is_replaced_by_a_rerun_and_can_be_deleted(store: Arc<dyn Store>) {
    let date = BusinessDate::parse("2026-03-02").unwrap();
    let shop = ShopId::parse("shop-r").unwrap();
    assert_eq!(store.get_reconciliation(&shop, date).await.unwrap(), None);
    store
        .put_reconciliation(&summary("shop-r", date, "run-1", 10))
        .await
        .unwrap();
    store
        .put_reconciliation(&summary("shop-r", date.succ(), "run-x", 3))
        .await
        .unwrap();
    let second = summary("shop-r", date, "run-2", 12);
    store.put_reconciliation(&second).await.unwrap();
    assert_eq!(
        store.get_reconciliation(&shop, date).await.unwrap(),
        Some(second)
    );
    store.delete_reconciliation(&shop, date).await.unwrap();
    store.delete_reconciliation(&shop, date).await.unwrap();
    assert_eq!(store.get_reconciliation(&shop, date).await.unwrap(), None);
    let other = store
        .get_reconciliation(&shop, date.succ())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((other.run_id.as_str(), other.rows), ("run-x", 3));
}

pub async fn a_claim_is_granted_once(store: Arc<dyn Store>) {
    assert!(store
        .claim_once("recon-2026-03-02-AMOUNT_MISMATCH-abc", at(0))
        .await
        .unwrap());
    assert!(!store
        .claim_once("recon-2026-03-02-AMOUNT_MISMATCH-abc", at(1))
        .await
        .unwrap());
    assert!(!store
        .claim_once("recon-2026-03-02-AMOUNT_MISMATCH-abc", at(86_400 * 30))
        .await
        .unwrap());
    assert!(store
        .claim_once("recon-2026-03-02-AMOUNT_MISMATCH-abd", at(1))
        .await
        .unwrap());
}

/// Eight runs of one day race for its lease: exactly one gets it. Nobody
/// else can take it until it is given back or runs out; only its holder
/// can give it back.
pub async fn a_lease_has_one_holder_until_it_is_given_back_or_runs_out(store: Arc<dyn Store>) {
    const KEY: &str = "recon-run-2026-03-02";
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .acquire_lease(KEY, &format!("run-{i}"), at(0), at(900))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut won = Vec::new();
    for (i, racer) in racers.into_iter().enumerate() {
        if racer.await.unwrap() {
            won.push(format!("run-{i}"));
        }
    }
    assert_eq!(won.len(), 1, "{won:?}");
    let holder = won.remove(0);
    assert!(!store
        .acquire_lease(KEY, "late", at(899), at(1800))
        .await
        .unwrap());
    // Not the holder: nothing changes.
    store.release_lease(KEY, "late").await.unwrap();
    assert!(!store
        .acquire_lease(KEY, "late", at(10), at(910))
        .await
        .unwrap());
    // Given back: free at once.
    store.release_lease(KEY, &holder).await.unwrap();
    assert!(store
        .acquire_lease(KEY, "next", at(20), at(920))
        .await
        .unwrap());
    // Run out (a crashed run): free after its end.
    assert!(!store
        .acquire_lease(KEY, "after", at(920), at(1820))
        .await
        .unwrap());
    assert!(store
        .acquire_lease(KEY, "after", at(921), at(1821))
        .await
        .unwrap());
    // The old holder's late release leaves the new lease alone.
    store.release_lease(KEY, "next").await.unwrap();
    assert!(!store
        .acquire_lease(KEY, "other", at(922), at(1822))
        .await
        .unwrap());
    // Other days are other leases.
    assert!(store
        .acquire_lease("recon-run-2026-03-03", "x", at(0), at(900))
        .await
        .unwrap());
}
