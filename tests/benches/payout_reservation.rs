//! Payout reservation benchmark (run it, don't assert on it: machines are
//! shared and noisy). `cargo bench -p qrpay-tests --bench payout_reservation`
//!
//! 1. DynamoDB round trips per payout decision, counted at the adapter, for
//!    accepted and refused payouts of each kind (target: ≤ 2), against the
//!    moto emulator (started if `QRPAY_EMULATOR_ENDPOINT` is not set).
//! 2. In-process latency per reservation against the memory store.

use std::time::{Duration as StdDuration, Instant};

use chrono::Duration;
use qrpay_aws::DynamoStore;
use qrpay_domain::OrderId;
use qrpay_store::{ReserveError, Reserved};
use qrpay_tests::world::morning;
use qrpay_tests::World;

const MEMORY_RESERVATIONS: usize = 100_000;

#[tokio::main]
async fn main() {
    round_trips().await;
    memory_latency().await;
}

/// Runs one reservation and returns (round trips it cost, outcome label).
async fn decide(
    store: &DynamoStore,
    world: &World,
    req: qrpay_domain::PayoutRequest,
) -> (u64, String) {
    let before = store.round_trips();
    let outcome = match world.store.reserve_payout(&req).await {
        Ok(Reserved::Created(_)) => "accepted".to_owned(),
        Ok(Reserved::Replayed(_)) => "replayed".to_owned(),
        Err(ReserveError::Refused(r)) => format!("refused {}", r.code()),
        Err(other) => format!("error {other}"),
    };
    (store.round_trips() - before, outcome)
}

async fn round_trips() {
    let store = qrpay_tests::dynamo_store().await;
    let world = World::new(store.clone(), "1000.00", "2000.00").await;
    world.quota(&world.staff, "50.00", "100.00", true).await;
    let mut orders = Vec::new();
    for i in 0..40 {
        orders.push(world.paid_order(&format!("o{i}"), "100.00").await);
    }
    let w = &world;
    let mut rows: Vec<(String, u64)> = Vec::new();
    let mut record = |(trips, label): (u64, String)| rows.push((label, trips));
    let t = |s: i64| morning() + Duration::seconds(s);

    for (i, order) in orders.iter().take(10).enumerate() {
        record(
            decide(
                &store,
                w,
                w.request(&w.owner, order, "20.00", &format!("owner-{i}"), t(0)),
            )
            .await,
        );
    }
    for (i, order) in orders.iter().skip(10).take(4).enumerate() {
        record(
            decide(
                &store,
                w,
                w.request(&w.staff, order, "25.00", &format!("staff-{i}"), t(0)),
            )
            .await,
        );
    }
    record(
        decide(
            &store,
            w,
            w.request(&w.owner, &orders[0], "1.00", "too-frequent", t(1)),
        )
        .await,
    );
    record(
        decide(
            &store,
            w,
            w.request(&w.staff, &orders[20], "50.01", "single-limit", t(1)),
        )
        .await,
    );
    record(
        decide(
            &store,
            w,
            w.request(&w.staff, &orders[20], "1.00", "staff-daily", t(1)),
        )
        .await,
    );
    record(
        decide(
            &store,
            w,
            w.request(&w.owner, &orders[0], "80.01", "order-paid", t(61)),
        )
        .await,
    );
    record(
        decide(
            &store,
            w,
            w.request(
                &w.owner,
                &OrderId::parse("missing").unwrap(),
                "1.00",
                "no-order",
                t(1),
            ),
        )
        .await,
    );
    record(
        decide(
            &store,
            w,
            w.request(&w.owner, &orders[0], "20.00", "owner-0", t(2)),
        )
        .await,
    );
    let no_quota = qrpay_domain::OperatorId::parse("shop-1-cashier").unwrap();
    record(
        decide(
            &store,
            w,
            w.request(&no_quota, &orders[21], "1.00", "no-quota", t(1)),
        )
        .await,
    );
    for (i, order) in orders.iter().skip(22).take(18).enumerate() {
        record(
            decide(
                &store,
                w,
                w.request(&w.owner, order, "60.00", &format!("drain-{i}"), t(1)),
            )
            .await,
        );
    }
    // The balance admits more than the cap: the last ones meet the cap.
    let low = qrpay_tests::dynamo_store().await;
    let poor = World::new(low.clone(), "1000.00", "10.00").await;
    let o = poor.paid_order("p1", "100.00").await;
    record(
        decide(
            &low,
            &poor,
            poor.request(&poor.owner, &o, "10.01", "balance", t(0)),
        )
        .await,
    );

    println!("DynamoDB round trips per payout decision (counted at the adapter, moto emulator):");
    println!(
        "{:<44} {:>6} {:>10} {:>10}",
        "outcome", "count", "trips/avg", "trips/max"
    );
    let mut labels: Vec<&String> = rows.iter().map(|(l, _)| l).collect();
    labels.sort();
    labels.dedup();
    for label in labels {
        let trips: Vec<u64> = rows
            .iter()
            .filter(|(l, _)| l == label)
            .map(|(_, t)| *t)
            .collect();
        let avg = trips.iter().sum::<u64>() as f64 / trips.len() as f64;
        println!(
            "{label:<44} {:>6} {avg:>10.2} {:>10}",
            trips.len(),
            trips.iter().max().unwrap_or(&0)
        );
    }
}

async fn memory_latency() {
    let store = qrpay_tests::memory_port().await;
    let world = World::new(store, "99999999.99", "99999999.99").await;
    let mut orders = Vec::with_capacity(MEMORY_RESERVATIONS);
    for i in 0..MEMORY_RESERVATIONS {
        orders.push(world.paid_order(&format!("m{i}"), "100.00").await);
    }
    let requests: Vec<_> = orders
        .iter()
        .enumerate()
        .map(|(i, o)| world.request(&world.owner, o, "1.00", &format!("m-{i}"), morning()))
        .collect();
    let mut samples = Vec::with_capacity(MEMORY_RESERVATIONS);
    let started = Instant::now();
    for req in &requests {
        let t0 = Instant::now();
        let result = world.store.reserve_payout(req).await;
        samples.push(t0.elapsed());
        assert!(matches!(result, Ok(Reserved::Created(_))), "{result:?}");
    }
    let total = started.elapsed();
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    let micros = |d: StdDuration| d.as_secs_f64() * 1e6;
    println!();
    println!("Memory store, {MEMORY_RESERVATIONS} accepted reservations in one task:");
    println!(
        "  mean {:.2} µs  p50 {:.2} µs  p99 {:.2} µs  max {:.2} µs  ({:.0} reservations/s)",
        micros(total) / MEMORY_RESERVATIONS as f64,
        micros(pct(0.50)),
        micros(pct(0.99)),
        micros(*samples.last().unwrap()),
        MEMORY_RESERVATIONS as f64 / total.as_secs_f64()
    );
}
