//! The payout queue port: an accepted payout (or a merchant refund, as a
//! [`RefundMessage`] with `"kind":"refund"`) is handed to the worker through
//! here. Adapters: in-memory (the embedded default, here) and SQS (in AWS and
//! against the emulator: `qrpay_aws::sqs`). Delivery is at least once; the
//! worker makes repeats harmless. Also the port POS replies are published
//! through ([`publish`]).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use qrpay_domain::{Clock, Payout, PayoutId, Refund, RefundId, ShopId, SystemClock};
use serde::{Deserialize, Serialize};

pub mod publish;

/// What the worker needs to find a payout; everything else is in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutMessage {
    pub shop_id: ShopId,
    pub payout_id: PayoutId,
}

impl PayoutMessage {
    /// The message that asks the worker to execute this payout.
    pub fn for_payout(payout: &Payout) -> PayoutMessage {
        PayoutMessage {
            shop_id: payout.shop_id.clone(),
            payout_id: payout.payout_id.clone(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a message of two ids always serializes")
    }

    pub fn from_json(body: &str) -> Result<PayoutMessage, QueueError> {
        serde_json::from_str(body).map_err(|e| QueueError::Malformed(e.to_string()))
    }
}

/// What the worker needs to find a merchant refund (BUYER_PAGES §11.4):
/// `{"kind":"refund","shop_id","refund_id"}`. Refunds share the payout
/// queue, its DLQ, its growing redelivery delay and its sweeper.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundMessage {
    kind: RefundKind,
    pub shop_id: ShopId,
    pub refund_id: RefundId,
}

/// The `kind` tag of a refund message: only `"refund"` reads as one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RefundKind {
    Refund,
}

impl RefundMessage {
    /// The message that asks the worker to execute this refund.
    pub fn for_refund(refund: &Refund) -> RefundMessage {
        RefundMessage {
            kind: RefundKind::Refund,
            shop_id: refund.shop_id.clone(),
            refund_id: refund.refund_id.clone(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a message of a tag and two ids always serializes")
    }
}

/// Any message on the payout queue. A body without `kind` is a payout, as
/// every message was before refunds shared the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkMessage {
    Payout(PayoutMessage),
    Refund(RefundMessage),
}

impl WorkMessage {
    pub fn from_json(body: &str) -> Result<WorkMessage, QueueError> {
        let value: serde_json::Value =
            serde_json::from_str(body).map_err(|e| QueueError::Malformed(e.to_string()))?;
        let malformed = |e: serde_json::Error| QueueError::Malformed(e.to_string());
        match value.get("kind") {
            None => PayoutMessage::deserialize(value)
                .map(WorkMessage::Payout)
                .map_err(malformed),
            Some(_) => RefundMessage::deserialize(value)
                .map(WorkMessage::Refund)
                .map_err(malformed),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    #[error("malformed queue message: {0}")]
    Malformed(String),
}

#[async_trait]
pub trait PayoutQueue: Send + Sync {
    async fn enqueue(&self, message: &PayoutMessage) -> Result<(), QueueError>;

    /// Hands a reserved refund to the worker. Every adapter that runs
    /// (memory, SQS, the local stack's) carries refunds; a queue that does
    /// not says so, and the refund stays `PENDING` for the sweeper.
    async fn enqueue_refund(&self, message: &RefundMessage) -> Result<(), QueueError> {
        Err(QueueError::Unavailable(format!(
            "this queue does not carry refunds ({})",
            message.refund_id
        )))
    }
}

/// Puts a received message back on the queue after a delay (SQS: change its
/// visibility), so retries of an unsettled payout slow down.
#[async_trait]
pub trait Redelivery: Send + Sync {
    async fn delay(&self, receipt_handle: &str, delay_s: u32) -> Result<(), QueueError>;
}

/// In-process queue with SQS's delivery semantics (the embedded default and
/// tests): a received message is invisible for `visibility_ms`, comes back
/// unless deleted, and moves to the dead-letter list once it has been
/// received more than `max_receives` times. Time comes from the clock port.
pub struct MemoryQueue {
    state: Mutex<MemoryState>,
    clock: Arc<dyn Clock>,
    visibility_ms: i64,
    max_receives: u32,
}

#[derive(Default)]
struct MemoryState {
    next_id: u64,
    messages: VecDeque<Entry>,
    dead: Vec<String>,
}

struct Entry {
    id: u64,
    body: String,
    receives: u32,
    visible_at_ms: i64,
}

/// A message as a consumer receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    pub receive_count: u32,
}

/// Our payout queue's settings: 60 s visibility, DLQ after 12 receives (as
/// the deployed `PayoutQueue`: about 80 minutes of the worker's growing
/// retry delays).
pub const DEFAULT_VISIBILITY_MS: i64 = 60_000;
pub const DEFAULT_MAX_RECEIVES: u32 = 12;

impl Default for MemoryQueue {
    fn default() -> Self {
        MemoryQueue::new()
    }
}

impl MemoryQueue {
    pub fn new() -> MemoryQueue {
        MemoryQueue::with_clock(
            Arc::new(SystemClock),
            DEFAULT_VISIBILITY_MS,
            DEFAULT_MAX_RECEIVES,
        )
    }

    pub fn with_clock(clock: Arc<dyn Clock>, visibility_ms: i64, max_receives: u32) -> MemoryQueue {
        MemoryQueue {
            state: Mutex::default(),
            clock,
            visibility_ms,
            max_receives,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn send_raw(&self, body: String) {
        let now = self.clock.now().timestamp_millis();
        let mut state = self.state();
        state.next_id += 1;
        let id = state.next_id;
        state.messages.push_back(Entry {
            id,
            body,
            receives: 0,
            visible_at_ms: now,
        });
    }

    /// Up to `max` visible messages, oldest first; each becomes invisible.
    pub fn receive(&self, max: usize) -> Vec<Delivered> {
        let now = self.clock.now().timestamp_millis();
        let mut guard = self.state();
        let state = &mut *guard;
        let mut out = Vec::new();
        let mut i = 0;
        while i < state.messages.len() && out.len() < max {
            let entry = &mut state.messages[i];
            if entry.visible_at_ms > now {
                i += 1;
                continue;
            }
            if entry.receives >= self.max_receives {
                // Redrive: it has failed too often to keep trying here.
                if let Some(dead) = state.messages.remove(i) {
                    state.dead.push(dead.body);
                }
                continue;
            }
            entry.receives += 1;
            entry.visible_at_ms = now + self.visibility_ms;
            out.push(Delivered {
                message_id: format!("m-{}", entry.id),
                receipt_handle: format!("{}-{}", entry.id, entry.receives),
                body: entry.body.clone(),
                receive_count: entry.receives,
            });
            i += 1;
        }
        out
    }

    /// Deletes a received message (a stale receipt deletes nothing).
    pub fn delete(&self, receipt_handle: &str) {
        let mut state = self.state();
        state
            .messages
            .retain(|e| format!("{}-{}", e.id, e.receives) != receipt_handle);
    }

    /// Receives and deletes up to `max` payout messages (for simple consumers).
    pub fn take(&self, max: usize) -> Vec<PayoutMessage> {
        self.receive(max)
            .into_iter()
            .filter_map(|d| {
                self.delete(&d.receipt_handle);
                PayoutMessage::from_json(&d.body).ok()
            })
            .collect()
    }

    /// Messages in the queue, visible or not.
    pub fn len(&self) -> usize {
        self.state().messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bodies moved to the dead-letter list.
    pub fn dead_letters(&self) -> Vec<String> {
        self.state().dead.clone()
    }
}

#[async_trait]
impl PayoutQueue for MemoryQueue {
    async fn enqueue(&self, message: &PayoutMessage) -> Result<(), QueueError> {
        self.send_raw(message.to_json());
        Ok(())
    }

    async fn enqueue_refund(&self, message: &RefundMessage) -> Result<(), QueueError> {
        self.send_raw(message.to_json());
        Ok(())
    }
}

#[async_trait]
impl Redelivery for MemoryQueue {
    async fn delay(&self, receipt_handle: &str, delay_s: u32) -> Result<(), QueueError> {
        let at = self.clock.now().timestamp_millis() + i64::from(delay_s) * 1000;
        let mut state = self.state();
        if let Some(e) = state
            .messages
            .iter_mut()
            .find(|e| format!("{}-{}", e.id, e.receives) == receipt_handle)
        {
            e.visible_at_ms = at;
        }
        Ok(())
    }
}

/// SQS's longest visibility timeout (12 hours).
pub const MAX_VISIBILITY_S: u32 = 43_200;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_queue_redelivers_until_deleted_then_dead_letters() {
        let clock = Arc::new(qrpay_domain::TestClock::at(chrono_epoch()));
        let q = MemoryQueue::with_clock(clock.clone(), 30_000, 2);
        q.send_raw("a".into());
        let first = q.receive(10);
        assert_eq!((first.len(), first[0].receive_count), (1, 1));
        assert!(q.receive(10).is_empty(), "invisible while being worked on");
        clock.advance_ms(30_000);
        let second = q.receive(10);
        assert_eq!(second[0].receive_count, 2);
        q.delay(&second[0].receipt_handle, 5).await.unwrap();
        clock.advance_ms(5_000);
        assert!(
            q.receive(10).is_empty(),
            "received twice already: moved to the DLQ"
        );
        assert_eq!(q.dead_letters(), vec!["a".to_owned()]);
        assert!(q.is_empty());

        q.send_raw("b".into());
        let got = q.receive(10);
        q.delete(&got[0].receipt_handle);
        clock.advance_ms(60_000);
        assert!(q.receive(10).is_empty() && q.is_empty(), "deleted for good");
    }

    fn chrono_epoch() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap()
    }

    #[tokio::test]
    async fn memory_queue_is_fifo() {
        let q = MemoryQueue::new();
        let m = |id: &str| PayoutMessage {
            shop_id: ShopId::parse("s").unwrap(),
            payout_id: PayoutId::parse(id).unwrap(),
        };
        q.enqueue(&m("a")).await.unwrap();
        q.enqueue(&m("b")).await.unwrap();
        assert_eq!(q.take(5), vec![m("a"), m("b")]);
        assert!(q.is_empty());
    }

    #[test]
    fn messages_round_trip_and_reject_garbage() {
        let msg = PayoutMessage {
            shop_id: ShopId::parse("s1").unwrap(),
            payout_id: PayoutId::parse("po_1").unwrap(),
        };
        assert_eq!(PayoutMessage::from_json(&msg.to_json()).unwrap(), msg);
        assert!(PayoutMessage::from_json("{\"shop_id\":\"a b\",\"payout_id\":\"x\"}").is_err());
        assert!(PayoutMessage::from_json("not json").is_err());
    }

    #[test]
    fn a_body_without_kind_is_a_payout_and_refunds_carry_their_kind() {
        let payout = PayoutMessage {
            shop_id: ShopId::parse("s1").unwrap(),
            payout_id: PayoutId::parse("po_1").unwrap(),
        };
        assert_eq!(
            WorkMessage::from_json(&payout.to_json()).unwrap(),
            WorkMessage::Payout(payout)
        );
        let body = r#"{"kind":"refund","shop_id":"s1","refund_id":"rf_1"}"#;
        let WorkMessage::Refund(refund) = WorkMessage::from_json(body).unwrap() else {
            panic!("a refund message");
        };
        assert_eq!(refund.refund_id.as_str(), "rf_1");
        assert_eq!(
            WorkMessage::from_json(&refund.to_json()).unwrap(),
            WorkMessage::Refund(refund)
        );
        for bad in [
            r#"{"kind":"transfer","shop_id":"s1","refund_id":"rf_1"}"#,
            r#"{"kind":"refund","shop_id":"s1","payout_id":"po_1"}"#,
            r#"{"kind":"refund","shop_id":"a b","refund_id":"rf_1"}"#,
            "[]",
        ] {
            assert!(WorkMessage::from_json(bad).is_err(), "{bad}");
        }
    }
}
