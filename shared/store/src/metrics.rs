//! Business metrics in CloudWatch Embedded Metric Format (EMF): one JSON
//! line a data point on stdout, in the function's log, which CloudWatch
//! turns into a metric without an API call (the format AWS Lambda
//! Powertools' `Metrics` writes; the conformance test compares ours with
//! its output). `template.yaml`'s alarms read them in the `qrpay`
//! namespace.
//!
//! Where a point goes: the sink of the current task if one is scoped
//! ([`scoped`], for tests and the local stack), otherwise stdout.

use std::future::Future;
use std::sync::{Arc, Mutex};

use serde_json::{json, Map, Value};

/// The namespace of qrpay's metrics when none is configured.
pub const NAMESPACE: &str = "qrpay";

/// The namespace this process writes to: `QRPAY_METRICS_NAMESPACE`
/// (`qrpay/{stage}` in `template.yaml`, so stages never mix), else
/// [`NAMESPACE`].
pub fn namespace() -> &'static str {
    static NS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NS.get_or_init(|| {
        std::env::var("QRPAY_METRICS_NAMESPACE")
            .ok()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| NAMESPACE.to_owned())
    })
}

/// The `service` dimension: the part of qrpay a metric is about (whichever
/// function emitted it: a payout may be settled by the worker, the sweeper
/// or a provider's callback).
pub const PAYOUTS: &str = "payouts";
pub const CALLBACKS: &str = "callbacks";
pub const RECONCILIATION: &str = "reconciliation";
pub const CHECKOUT: &str = "checkout";

/// Every metric qrpay emits: the names are a contract with the alarms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricName {
    /// A payout request every rule accepted (reserved). Dims: service.
    PayoutsAccepted,
    /// A payout request a rule refused. Dims: service, Rule (its code).
    PayoutsRefused,
    /// A payout that reached `SUCCEEDED`. Dims: service.
    PayoutsSucceeded,
    /// A payout that reached `FAILED`. Dims: service.
    PayoutsFailed,
    /// Seconds from a payout's creation to its final state. Dims: service.
    PayoutSecondsToFinal,
    /// A provider callback, by provider and outcome. Dims: service,
    /// Provider, Outcome.
    Callbacks,
    /// A callback refused for its signature (forged, or keys rotated).
    /// Dims: service.
    CallbacksRejected,
    /// Reconciliation report rows of one discrepancy class in a run. Dims:
    /// service, Class.
    ReconciliationDiscrepancies,
    /// All discrepancies of a run. Dims: service.
    ReconciliationDiscrepanciesTotal,
    /// Payment tokens refused (forged, tampered, from another stage), in
    /// batches: anyone can send them, so one point stands for up to a
    /// thousand refusals and the log never grows with a flood. Dims: service.
    PaymentTokensRefused,
}

impl MetricName {
    pub const ALL: [MetricName; 10] = [
        MetricName::PayoutsAccepted,
        MetricName::PayoutsRefused,
        MetricName::PayoutsSucceeded,
        MetricName::PayoutsFailed,
        MetricName::PayoutSecondsToFinal,
        MetricName::Callbacks,
        MetricName::CallbacksRejected,
        MetricName::ReconciliationDiscrepancies,
        MetricName::ReconciliationDiscrepanciesTotal,
        MetricName::PaymentTokensRefused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MetricName::PayoutsAccepted => "PayoutsAccepted",
            MetricName::PayoutsRefused => "PayoutsRefused",
            MetricName::PayoutsSucceeded => "PayoutsSucceeded",
            MetricName::PayoutsFailed => "PayoutsFailed",
            MetricName::PayoutSecondsToFinal => "PayoutSecondsToFinal",
            MetricName::Callbacks => "Callbacks",
            MetricName::CallbacksRejected => "CallbacksRejected",
            MetricName::ReconciliationDiscrepancies => "ReconciliationDiscrepancies",
            MetricName::ReconciliationDiscrepanciesTotal => "ReconciliationDiscrepanciesTotal",
            MetricName::PaymentTokensRefused => "PaymentTokensRefused",
        }
    }

    /// The unit CloudWatch records it in.
    pub fn unit(self) -> &'static str {
        match self {
            MetricName::PayoutSecondsToFinal => "Seconds",
            _ => "Count",
        }
    }
}

/// One data point: a metric, its value, the function that emitted it
/// (`service`) and its other dimensions (low-cardinality values only:
/// codes, providers, outcomes — never ids or amounts).
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub name: MetricName,
    pub value: f64,
    pub service: &'static str,
    pub dimensions: Vec<(&'static str, String)>,
}

impl Point {
    pub fn count(name: MetricName, service: &'static str) -> Point {
        Point {
            name,
            value: 1.0,
            service,
            dimensions: Vec::new(),
        }
    }

    pub fn with(mut self, dimension: &'static str, value: impl Into<String>) -> Point {
        self.dimensions.push((dimension, value.into()));
        self
    }

    pub fn value(mut self, value: f64) -> Point {
        self.value = value;
        self
    }

    /// The EMF document of this point at `timestamp_ms`, as Powertools'
    /// `Metrics.serialize_metric_set()` writes it (dimensions, then
    /// `service`; the value as a one-element list).
    pub fn emf(&self, namespace: &str, timestamp_ms: i64) -> Value {
        let mut names: Vec<Value> = self
            .dimensions
            .iter()
            .map(|(d, _)| Value::from(*d))
            .collect();
        names.push(Value::from("service"));
        let mut doc = Map::new();
        doc.insert(
            "_aws".to_owned(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": [names],
                    "Metrics": [{"Name": self.name.as_str(), "Unit": self.name.unit()}],
                }],
            }),
        );
        for (d, v) in &self.dimensions {
            doc.insert((*d).to_owned(), Value::from(v.as_str()));
        }
        doc.insert("service".to_owned(), Value::from(self.service));
        doc.insert(self.name.as_str().to_owned(), json!([self.value]));
        Value::Object(doc)
    }
}

/// Where points go.
pub trait MetricSink: Send + Sync {
    fn put(&self, point: &Point);
}

/// The deployed sink: one EMF line on stdout per point.
pub struct StdoutMetrics;

impl MetricSink for StdoutMetrics {
    fn put(&self, point: &Point) {
        let now = chrono::Utc::now().timestamp_millis();
        println!("{}", point.emf(namespace(), now));
    }
}

/// Keeps the points (tests, the local stack).
#[derive(Default)]
pub struct MemoryMetrics(Mutex<Vec<Point>>);

impl MemoryMetrics {
    pub fn points(&self) -> Vec<Point> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The sum of `name`'s values whose dimensions include all of `with`.
    pub fn sum(&self, name: MetricName, with: &[(&str, &str)]) -> f64 {
        self.points()
            .iter()
            .filter(|p| p.name == name)
            .filter(|p| {
                with.iter()
                    .all(|(d, v)| p.dimensions.iter().any(|(pd, pv)| pd == d && pv == v))
            })
            .map(|p| p.value)
            .sum()
    }
}

impl MetricSink for MemoryMetrics {
    fn put(&self, point: &Point) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(point.clone());
    }
}

tokio::task_local! {
    static SINK: Arc<dyn MetricSink>;
}

/// Emits a point to the current task's sink, or stdout.
pub fn put(point: Point) {
    if SINK.try_with(|sink| sink.put(&point)).is_err() {
        StdoutMetrics.put(&point);
    }
}

/// Runs `future` with its points going to `sink` (tasks it spawns emit to
/// stdout unless scoped themselves).
pub async fn scoped<F: Future>(sink: Arc<dyn MetricSink>, future: F) -> F::Output {
    SINK.scope(sink, future).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_is_one_emf_document_with_its_dimensions_as_properties() {
        let point = Point::count(MetricName::PayoutsRefused, "payout-request")
            .with("Rule", "SHOP_DAILY_CAP_EXCEEDED");
        assert_eq!(
            point.emf("qrpay", 1_772_416_800_000),
            json!({
                "_aws": {"Timestamp": 1_772_416_800_000_i64, "CloudWatchMetrics": [{
                    "Namespace": "qrpay", "Dimensions": [["Rule", "service"]],
                    "Metrics": [{"Name": "PayoutsRefused", "Unit": "Count"}]}]},
                "service": "payout-request", "Rule": "SHOP_DAILY_CAP_EXCEEDED", "PayoutsRefused": [1.0]
            })
        );
    }

    #[tokio::test]
    async fn a_scoped_sink_gets_its_tasks_points_only() {
        let sink = Arc::new(MemoryMetrics::default());
        scoped(sink.clone(), async {
            put(Point::count(MetricName::PayoutsAccepted, "t"));
            put(Point::count(MetricName::PayoutSecondsToFinal, "t").value(42.0));
        })
        .await;
        put(Point::count(MetricName::PayoutsAccepted, "t"));
        assert_eq!(sink.sum(MetricName::PayoutsAccepted, &[]), 1.0);
        assert_eq!(sink.sum(MetricName::PayoutSecondsToFinal, &[]), 42.0);
    }
}
