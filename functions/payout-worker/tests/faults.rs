//! Fault injection: hundreds of payouts under sandbox faults (20% definitive
//! failures, 20% timeouts after the money moved, 10% timeouts before, 5%
//! query timeouts), every queue message delivered twice, and one request in
//! ten dying between reservation and enqueue. Run on the in-memory store and
//! queue, and on DynamoDB and SQS in the emulator (a real queue with a real
//! redrive policy to a DLQ). After the queue drains and the sweeper has run,
//! every payout is final, the provider moved exactly the succeeded ones once,
//! and the shop's books agree.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use payout_worker::batch::handle_batch;
use payout_worker::sweeper::{sweep, Alert, Alerts};
use payout_worker::Worker;
use qrpay_domain::{BusinessDate, Money, Payout, PayoutStatus, TestClock};
use qrpay_provider::{SandboxFaults, SandboxProvider};
use qrpay_queue::{MemoryQueue, PayoutMessage, PayoutQueue, QueueError, Redelivery};
use qrpay_store::{DayTotals, Reserved, Store};
use qrpay_tests::world::{money, morning};
use qrpay_tests::World;

const BALANCE: &str = "1000000.00";
const MAX_ROUNDS: usize = 5_000;

/// A payout queue the test drives the way Lambda's SQS event source does.
#[async_trait]
trait Bus: PayoutQueue + Redelivery {
    async fn receive(&self) -> Vec<SqsMessage>;
    async fn delete(&self, receipt_handle: &str);
    /// Messages still queued (visible or in flight).
    async fn queued(&self) -> usize;
    async fn dead_letters(&self) -> usize;
    /// Lets time pass for messages that are invisible.
    async fn idle(&self);
}

fn sqs_message(id: String, receipt: String, body: String, receives: u32) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.message_id = Some(id);
    m.receipt_handle = Some(receipt);
    m.body = Some(body);
    m.attributes
        .insert("ApproximateReceiveCount".into(), receives.to_string());
    m
}

struct MemoryBus(Arc<MemoryQueue>);

#[async_trait]
impl PayoutQueue for MemoryBus {
    async fn enqueue(&self, message: &PayoutMessage) -> Result<(), QueueError> {
        self.0.enqueue(message).await
    }
}

#[async_trait]
impl Redelivery for MemoryBus {
    async fn delay(&self, receipt_handle: &str, delay_s: u32) -> Result<(), QueueError> {
        self.0.delay(receipt_handle, delay_s).await
    }
}

#[async_trait]
impl Bus for MemoryBus {
    async fn receive(&self) -> Vec<SqsMessage> {
        self.0
            .receive(10)
            .into_iter()
            .map(|d| sqs_message(d.message_id, d.receipt_handle, d.body, d.receive_count))
            .collect()
    }
    async fn delete(&self, receipt_handle: &str) {
        self.0.delete(receipt_handle);
    }
    async fn queued(&self) -> usize {
        self.0.len()
    }
    async fn dead_letters(&self) -> usize {
        self.0.dead_letters().len()
    }
    async fn idle(&self) {}
}

/// Real SQS in the emulator. Retry delays are shortened to zero so the suite
/// runs in seconds; the delay policy itself is tested in `worker.rs`.
struct SqsBus {
    client: aws_sdk_sqs::Client,
    url: String,
    dlq_url: String,
}

impl SqsBus {
    async fn create(max_receives: u32) -> SqsBus {
        let client = qrpay_tests::sqs_client(qrpay_tests::emulator::endpoint());
        let dlq_url = create_queue(
            &client,
            &qrpay_tests::unique_name("payouts-dlq"),
            HashMap::new(),
        )
        .await;
        let dlq_arn = client
            .get_queue_attributes()
            .queue_url(&dlq_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&QueueAttributeName::QueueArn]
            .clone();
        let redrive =
            format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{max_receives}"}}"#);
        let attributes = HashMap::from([
            (QueueAttributeName::RedrivePolicy, redrive),
            (QueueAttributeName::VisibilityTimeout, "1".to_owned()),
        ]);
        let url = create_queue(&client, &qrpay_tests::unique_name("payouts"), attributes).await;
        SqsBus {
            client,
            url,
            dlq_url,
        }
    }

    async fn count(&self, url: &str) -> usize {
        let attrs = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap_or_default();
        attrs
            .values()
            .map(|v| v.parse::<usize>().unwrap_or(0))
            .sum()
    }
}

async fn create_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    attributes: HashMap<QueueAttributeName, String>,
) -> String {
    client
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap()
}

#[async_trait]
impl PayoutQueue for SqsBus {
    async fn enqueue(&self, message: &PayoutMessage) -> Result<(), QueueError> {
        qrpay_aws::sqs::SqsQueue::new(self.client.clone(), self.url.clone())
            .enqueue(message)
            .await
    }
}

#[async_trait]
impl Redelivery for SqsBus {
    async fn delay(&self, receipt_handle: &str, _delay_s: u32) -> Result<(), QueueError> {
        qrpay_aws::sqs::SqsQueue::new(self.client.clone(), self.url.clone())
            .delay(receipt_handle, 0)
            .await
    }
}

#[async_trait]
impl Bus for SqsBus {
    async fn receive(&self) -> Vec<SqsMessage> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .unwrap();
        out.messages()
            .iter()
            .map(|m| {
                let receives = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                sqs_message(
                    m.message_id().unwrap_or_default().to_owned(),
                    m.receipt_handle().unwrap_or_default().to_owned(),
                    m.body().unwrap_or_default().to_owned(),
                    receives,
                )
            })
            .collect()
    }
    async fn delete(&self, receipt_handle: &str) {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .unwrap();
    }
    async fn queued(&self) -> usize {
        self.count(&self.url).await
    }
    async fn dead_letters(&self) -> usize {
        self.count(&self.dlq_url).await
    }
    async fn idle(&self) {
        tokio::time::sleep(StdDuration::from_millis(300)).await;
    }
}

#[derive(Default)]
struct Raised(Mutex<Vec<Alert>>);

#[async_trait]
impl Alerts for Raised {
    async fn raise(&self, alert: &Alert) {
        self.0.lock().unwrap().push(alert.clone());
    }
}

async fn suite(
    label: &str,
    store: Arc<dyn Store>,
    clock: Arc<TestClock>,
    bus: &dyn Bus,
    payouts: usize,
) {
    let started = Instant::now();
    let world = World::new(store.clone(), "99999999.99", BALANCE).await;
    let sandbox = Arc::new(SandboxProvider::new(clock.clone()));
    sandbox
        .set_faults(SandboxFaults {
            fail_per_mille: 200,
            timeout_after_per_mille: 200,
            timeout_before_per_mille: 100,
            query_timeout_per_mille: 50,
            seed: 20_261_121,
        })
        .unwrap();
    let worker = Worker {
        payouts: store.clone(),
        refunds: store.clone(),
        collection: store.clone(),
        gateways: qrpay_provider::gateway::Gateways::default()
            .with_transfer(qrpay_domain::Provider::Sandbox, sandbox.clone()),
        clock: clock.clone(),
        alerts: Arc::new(qrpay_store::alerts::MemoryAlerts::new()),
        pos: None,
    };

    let mut reserved: Vec<Payout> = Vec::new();
    let mut died = 0;
    for i in 0..payouts {
        let order = world.paid_order(&format!("o{i}"), "100.00").await;
        let amount = format!("{}.{:02}", 1 + (i * 37) % 50, (i * 53) % 100);
        let req = world.request(&world.owner, &order, &amount, &format!("k{i}"), morning());
        let Reserved::Created(p) = store.reserve_payout(&req).await.unwrap() else {
            panic!("new key")
        };
        if i % 10 == 0 {
            died += 1; // the request died before it could enqueue
        } else {
            let message = PayoutMessage::for_payout(&p);
            bus.enqueue(&message).await.unwrap();
            bus.enqueue(&message).await.unwrap(); // and SQS delivers it twice
        }
        reserved.push(p);
    }

    let raised = Raised::default();
    let (mut rounds, mut deliveries, mut sweeps) = (0, 0, 0);
    loop {
        rounds += 1;
        assert!(rounds < MAX_ROUNDS, "{label}: did not converge");
        let batch = bus.receive().await;
        if batch.is_empty() {
            if bus.queued().await == 0 && all_final(&store, &reserved).await {
                break;
            }
            clock.advance_ms(130_000);
            sweep(&worker, bus, &raised).await.unwrap();
            sweeps += 1;
            bus.idle().await;
            continue;
        }
        deliveries += batch.len();
        let receipts: Vec<(String, String)> = batch
            .iter()
            .map(|m| {
                (
                    m.message_id.clone().unwrap_or_default(),
                    m.receipt_handle.clone().unwrap_or_default(),
                )
            })
            .collect();
        let mut event = SqsEvent::default();
        event.records = batch;
        let response = handle_batch(&worker, bus, event).await;
        let failed: HashSet<String> = response
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect();
        for (id, receipt) in receipts {
            if !failed.contains(&id) {
                bus.delete(&receipt).await;
            }
        }
    }

    // Every payout is final; the provider moved exactly the succeeded ones, once.
    let mut finals = Vec::new();
    for p in &reserved {
        finals.push(
            store
                .get_payout(&p.shop_id, &p.payout_id)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let succeeded: Vec<&Payout> = finals
        .iter()
        .filter(|p| p.status == PayoutStatus::Succeeded)
        .collect();
    let failed: Vec<&Payout> = finals
        .iter()
        .filter(|p| p.status == PayoutStatus::Failed)
        .collect();
    assert_eq!(
        succeeded.len() + failed.len(),
        payouts,
        "{label}: every payout final"
    );
    let sum = |ps: &[&Payout]| {
        ps.iter()
            .fold(Money::ZERO, |a, p| a.checked_add(p.amount.money()).unwrap())
    };
    let paid = sum(&succeeded);
    assert_eq!(
        sandbox.moved_total(),
        paid,
        "{label}: money moved equals the succeeded payouts"
    );
    let moved: Vec<_> = sandbox
        .transfers()
        .into_iter()
        .filter(|t| t.status == qrpay_provider::SandboxTransferStatus::Succeeded)
        .map(|t| t.out_bill_no)
        .collect();
    let moved_set: HashSet<_> = moved.iter().cloned().collect();
    assert_eq!(
        moved.len(),
        moved_set.len(),
        "{label}: no payout paid twice"
    );
    for p in &finals {
        assert!(
            sandbox.transfer_count(&p.payout_id) <= 1,
            "{label}: one transfer per payout"
        );
        let was_paid = moved_set.contains(&p.payout_id);
        assert_eq!(
            was_paid,
            p.status == PayoutStatus::Succeeded,
            "{label}: {} is {:?}",
            p.payout_id,
            p.status
        );
    }

    // The books agree: failed ones released everything, succeeded ones were debited.
    let shop = world.shop_now().await;
    assert_eq!(
        shop.payout_held,
        Money::ZERO,
        "{label}: nothing left on hold"
    );
    assert_eq!(
        shop.payout_balance,
        money(BALANCE).checked_sub(paid).unwrap(),
        "{label}: balance"
    );
    let date = BusinessDate::of(morning());
    let day = store.shop_day_totals(&world.shop, date).await.unwrap();
    assert_eq!(
        day,
        DayTotals {
            total: paid,
            count: succeeded.len() as u32
        },
        "{label}: day counter"
    );
    for p in &finals {
        let o = store
            .get_order(&p.shop_id, &p.order_id)
            .await
            .unwrap()
            .unwrap();
        let live = if p.status == PayoutStatus::Succeeded {
            (p.amount.money(), 1)
        } else {
            (Money::ZERO, 0)
        };
        assert_eq!(
            (o.payouts_live_total, o.payouts_live_count),
            live,
            "{label}: order {}",
            o.order_id
        );
    }
    let mut ledger = Vec::new();
    let mut ledger_date = date;
    for _ in 0..3 {
        ledger.extend(store.list_ledger(&world.shop, ledger_date).await.unwrap());
        ledger_date = BusinessDate::of(
            ledger_date.naive().and_hms_opt(12, 0, 0).unwrap().and_utc()
                + chrono::Duration::days(1),
        );
    }
    assert_eq!(
        ledger.len(),
        succeeded.len(),
        "{label}: one ledger entry per succeeded payout"
    );
    let notices = store.list_notices(&world.shop, 100).await.unwrap();
    assert_eq!(
        notices.len(),
        failed.len().min(100),
        "{label}: a notice per failed payout"
    );

    println!(
        "{label}: {payouts} payouts ({died} orphaned before enqueue, the rest delivered twice): \
         {} SUCCEEDED ({paid}), {} FAILED; provider moved {} in {} transfers, none twice; \
         {deliveries} deliveries in {rounds} rounds, {sweeps} sweeps, {} in the DLQ, {} alerts; {:.1?}",
        succeeded.len(),
        failed.len(),
        sandbox.moved_total(),
        moved.len(),
        bus.dead_letters().await,
        raised.0.lock().unwrap().len(),
        started.elapsed()
    );
    assert!(
        succeeded.len() > payouts / 3 && failed.len() > payouts / 10,
        "{label}: the faults really happened"
    );
}

async fn all_final(store: &Arc<dyn Store>, payouts: &[Payout]) -> bool {
    for p in payouts {
        let now = store
            .get_payout(&p.shop_id, &p.payout_id)
            .await
            .unwrap()
            .unwrap();
        if !now.status.is_final() {
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_parts_settle_every_payout_exactly_once_under_faults() {
    let clock = Arc::new(TestClock::at(morning()));
    let queue = Arc::new(MemoryQueue::with_clock(clock.clone(), 60_000, 5));
    let bus = MemoryBus(queue);
    suite("memory", qrpay_tests::memory_port().await, clock, &bus, 400).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_and_sqs_settle_every_payout_exactly_once_under_faults() {
    let clock = Arc::new(TestClock::at(morning()));
    let bus = SqsBus::create(5).await;
    suite(
        "dynamodb+sqs",
        qrpay_tests::dynamo_port().await,
        clock,
        &bus,
        200,
    )
    .await;
}

/// A poison message is retried `maxReceiveCount` times, then SQS's own
/// redrive moves it to the DLQ (which raises the alarm in AWS).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_messages_land_in_the_dlq_through_real_redrive() {
    let bus = SqsBus::create(3).await;
    let clock = Arc::new(TestClock::at(morning()));
    let sandbox = Arc::new(SandboxProvider::new(clock.clone()));
    let store = qrpay_tests::memory_port().await;
    let worker = Worker {
        payouts: store.clone(),
        refunds: store.clone(),
        collection: store.clone(),
        gateways: qrpay_provider::gateway::Gateways::default()
            .with_transfer(qrpay_domain::Provider::Sandbox, sandbox),
        clock,
        alerts: Arc::new(qrpay_store::alerts::MemoryAlerts::new()),
        pos: None,
    };
    bus.client
        .send_message()
        .queue_url(&bus.url)
        .message_body("{not a payout")
        .send()
        .await
        .unwrap();
    let mut failures = 0;
    for _ in 0..40 {
        let batch = bus.receive().await;
        if batch.is_empty() {
            if bus.dead_letters().await == 1 {
                break;
            }
            bus.idle().await;
            continue;
        }
        let mut event = SqsEvent::default();
        event.records = batch;
        failures += handle_batch(&worker, &bus, event)
            .await
            .batch_item_failures
            .len();
    }
    assert_eq!(
        failures, 3,
        "received and failed exactly maxReceiveCount times"
    );
    assert_eq!(bus.dead_letters().await, 1);
    assert_eq!(bus.count(&bus.url).await, 0);
    let dlq = bus
        .client
        .receive_message()
        .queue_url(&bus.dlq_url)
        .send()
        .await
        .unwrap();
    assert_eq!(dlq.messages()[0].body(), Some("{not a payout"));
}
