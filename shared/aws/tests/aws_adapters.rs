//! The reconcile function's AWS adapters against moto's real S3, SNS and SQS
//! (never skipped: no emulator is a failure). Every test has its own bucket,
//! topic or queue.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
use qrpay_aws::s3::S3Objects;
use qrpay_aws::sns::SnsAlerts;
use qrpay_aws::sqs::SqsRunRequests;
use qrpay_domain::BusinessDate;
use qrpay_reconcile::objects::{ObjectError, ObjectStore};
use qrpay_reconcile::requests::{RunRequest, RunRequests};
use qrpay_store::alerts::{Alert, Alerts};
use serde_json::json;
use tracing::instrument::WithSubscriber;

const MIB: usize = 1024 * 1024;

/// The shared config a Lambda would load, pointed at the emulator with dummy
/// credentials. (`qrpay_tests` has per-service clients but no `SdkConfig`;
/// the adapters are built from one, as in `main`.)
fn emulator_config() -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test",
            "test",
            None,
            None,
            "reconcile-tests",
        )))
        .endpoint_url(qrpay_tests::emulator::endpoint())
        .build()
}

fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    )
}

/// A fresh bucket and the adapter on it, plus a raw client to look behind it.
async fn fresh_bucket() -> (S3Objects, aws_sdk_s3::Client) {
    let config = emulator_config();
    let client = s3_client(&config);
    let bucket = qrpay_tests::unique_name("qrpay-reconcile");
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    (S3Objects::from_conf(&config, bucket), client)
}

/// Bytes that do not repeat in any short period (xorshift), so a misplaced
/// or repeated chunk cannot compare equal.
fn noise(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn write_file(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("write local file");
}

async fn content_type(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Option<String> {
    client
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("head object")
        .content_type()
        .map(str::to_owned)
}

#[tokio::test]
async fn s3_put_get_and_delete_round_trip_and_missing_keys_are_not_errors() {
    let (store, _) = fresh_bucket().await;
    let key = "reports/2026-11-20/shop-1.json";
    assert_eq!(store.get(key).await.expect("get missing"), None);

    store
        .put(key, br#"{"ok":true}"#.to_vec(), "application/json")
        .await
        .expect("put");
    assert_eq!(
        store.get(key).await.expect("get"),
        Some(br#"{"ok":true}"#.to_vec())
    );
    store
        .put(key, b"{}".to_vec(), "application/json")
        .await
        .expect("put replaces");
    assert_eq!(store.get(key).await.expect("get"), Some(b"{}".to_vec()));

    store.delete(key).await.expect("delete");
    store.delete(key).await.expect("delete a missing key");
    assert_eq!(store.get(key).await.expect("get deleted"), None);
}

/// The reports bucket as deployed (`template.yaml`): Object Lock with a
/// default COMPLIANCE retention. A re-run's PUTs (single and in parts) and
/// its removals still succeed — a PUT carries the checksum Object Lock
/// demands, a removal only adds a delete marker — and every version written
/// stays, undeletable.
#[tokio::test]
async fn s3_a_rerun_works_in_a_locked_bucket_and_every_version_stays() {
    use aws_sdk_s3::types::{
        DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode,
        ObjectLockRule,
    };
    let config = emulator_config();
    let client = s3_client(&config);
    let bucket = qrpay_tests::unique_name("qrpay-locked");
    client
        .create_bucket()
        .bucket(&bucket)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .expect("create locked bucket");
    let retention = DefaultRetention::builder()
        .mode(ObjectLockRetentionMode::Compliance)
        .years(5)
        .build();
    client
        .put_object_lock_configuration()
        .bucket(&bucket)
        .object_lock_configuration(
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .rule(
                    ObjectLockRule::builder()
                        .default_retention(retention)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("default retention");
    let store = S3Objects::from_conf(&config, &bucket).with_part_size(5 * MIB as u64);
    let key = "reports/2026-11-20/shop-1.json";
    store
        .put(key, b"{}".to_vec(), "application/json")
        .await
        .expect("put into a locked bucket");
    let dir = tempfile::tempdir().expect("temp dir");
    let big = dir.path().join("big.json");
    write_file(&big, &noise(6 * MIB));
    store
        .upload(key, &big, "application/json")
        .await
        .expect("a re-run's upload in parts");
    store
        .delete(key)
        .await
        .expect("a re-run removes a stale report");
    assert_eq!(store.get(key).await.expect("get removed"), None);

    let versions = client
        .list_object_versions()
        .bucket(&bucket)
        .prefix(key)
        .send()
        .await
        .expect("list versions");
    assert_eq!(versions.versions().len(), 2, "{versions:?}");
    assert_eq!(versions.delete_markers().len(), 1, "{versions:?}");
    // The first report, written in one PUT (the emulator locks only those;
    // S3 locks a multipart upload's version too).
    let first = versions
        .versions()
        .iter()
        .find(|v| v.size() == Some(2))
        .and_then(|v| v.version_id())
        .expect("the first version");
    let gone = client
        .delete_object()
        .bucket(&bucket)
        .key(key)
        .version_id(first)
        .send()
        .await;
    assert!(gone.is_err(), "a locked version was deleted");
}

#[tokio::test]
async fn s3_list_pages_past_1000_keys_and_keeps_only_the_prefix_sorted() {
    let (store, raw) = fresh_bucket().await;
    let store = Arc::new(store);
    let prefix = "reports/2026-11-20/";
    // Put in reverse order from 8 tasks, so S3's order is not ours by luck.
    let mut expected: Vec<String> = (0..1_005)
        .map(|i| format!("{prefix}shop-{i:04}.csv"))
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in expected
        .iter()
        .rev()
        .cloned()
        .collect::<Vec<_>>()
        .chunks(126)
    {
        let (store, chunk) = (store.clone(), chunk.to_vec());
        tasks.spawn(async move {
            for key in chunk {
                store
                    .put(&key, b"x".to_vec(), "text/csv")
                    .await
                    .expect("put");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("put task");
    }
    for other in ["reports/2026-11-21/shop-0000.csv", "reports/2026-11-2.csv"] {
        store
            .put(other, b"x".to_vec(), "text/csv")
            .await
            .expect("put");
    }
    // A key the port would refuse, put behind its back, is not listed.
    raw.put_object()
        .bucket(store.bucket())
        .key(format!("{prefix}shop 1.csv"))
        .body(b"x".to_vec().into())
        .send()
        .await
        .expect("raw put");

    expected.sort();
    assert_eq!(store.list(prefix).await.expect("list"), expected);
    assert_eq!(
        store.list("").await.expect("list all").len(),
        expected.len() + 2
    );
    assert_eq!(
        store.list("statements/").await.expect("list empty"),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn s3_download_of_a_missing_key_is_false_and_creates_no_file() {
    let (store, _) = fresh_bucket().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let dest = dir.path().join("statement.csv");
    let found = store
        .download("statements/2026-11-20/wechatpay.csv", &dest)
        .await
        .expect("download");
    assert!(!found);
    assert!(!dest.exists());
}

#[tokio::test]
async fn s3_upload_then_download_gives_the_same_bytes_and_content_type() {
    let (store, raw) = fresh_bucket().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("report.csv");
    let bytes = noise(5 * MIB + 123);
    write_file(&src, &bytes);
    let key = "reports/2026-11-20/shop-1.csv";

    store.upload(key, &src, "text/csv").await.expect("upload");

    let dest = dir.path().join("copy.csv");
    write_file(&dest, &vec![b'z'; 6 * MIB]); // longer: must be truncated
    assert!(store.download(key, &dest).await.expect("download"));
    assert!(std::fs::read(&dest).expect("read copy") == bytes);
    assert_eq!(
        content_type(&raw, store.bucket(), key).await.as_deref(),
        Some("text/csv")
    );
}

#[tokio::test]
async fn s3_upload_of_a_file_larger_than_a_part_goes_in_parts() {
    let (store, raw) = fresh_bucket().await;
    let store = store.with_part_size(5 * MIB as u64);
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("statement.csv");
    let bytes = noise(11 * MIB + 7); // parts of 5, 5 and 1 MiB
    write_file(&src, &bytes);
    let key = "statements/2026-11-20/alipay.csv";

    store.upload(key, &src, "text/csv").await.expect("upload");

    let head = raw
        .head_object()
        .bucket(store.bucket())
        .key(key)
        .send()
        .await
        .expect("head");
    assert_eq!(head.content_length(), Some(bytes.len() as i64));
    assert_eq!(head.content_type(), Some("text/csv"));
    assert!(
        head.e_tag().is_some_and(|tag| tag.ends_with("-3\"")),
        "a 3-part multipart ETag, got {:?}",
        head.e_tag()
    );
    let dest = dir.path().join("copy.csv");
    assert!(store.download(key, &dest).await.expect("download"));
    assert!(std::fs::read(&dest).expect("read copy") == bytes);
    let unfinished = raw
        .list_multipart_uploads()
        .bucket(store.bucket())
        .send()
        .await
        .expect("list uploads");
    assert!(unfinished.uploads().is_empty());
}

#[tokio::test]
async fn s3_keys_the_port_refuses_are_bad_keys_without_any_request() {
    // A bucket that does not exist: any request would be `Unavailable`.
    let store = S3Objects::from_conf(&emulator_config(), qrpay_tests::unique_name("qrpay-absent"));
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("f");
    write_file(&file, b"x");
    for bad in ["", "../x", "a//b", "/abs", "a b", "reports/./x", "汉"] {
        let results = [
            store.download(bad, &file).await.map(|_| ()),
            store.upload(bad, &file, "text/csv").await,
            store.get(bad).await.map(|_| ()),
            store.put(bad, b"x".to_vec(), "text/csv").await,
            store.delete(bad).await,
        ];
        for result in results {
            assert!(
                matches!(&result, Err(ObjectError::BadKey(k)) if k == bad),
                "{bad:?}: {result:?}"
            );
        }
    }
    // A good key does reach S3, and fails there: one line, not the raw
    // response.
    let missing_bucket = store.download("a/b.csv", &file).await;
    assert!(
        matches!(&missing_bucket, Err(ObjectError::Unavailable(text))
            if text.contains("NoSuchBucket") && !text.contains("SdkBody")),
        "{missing_bucket:?}"
    );
}

/// Everything the test's futures log, as text.
#[derive(Clone, Default)]
struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl CapturedLog {
    fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync {
        tracing_subscriber::fmt()
            .with_writer(self.clone())
            .with_max_level(tracing::Level::INFO)
            .finish()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log lock")).into_owned()
    }
}

impl Write for CapturedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLog {
    type Writer = CapturedLog;

    fn make_writer(&'a self) -> CapturedLog {
        self.clone()
    }
}

fn payout_alert() -> Alert {
    Alert {
        code: "PAYOUT_NOT_FINAL".to_owned(),
        message: "payout po_01HX is still pending after 2 days; ask the bank".to_owned(),
        shop_id: Some("shop-1".to_owned()),
        reference: "po_01HX".to_owned(),
    }
}

async fn fresh_queue(sqs: &aws_sdk_sqs::Client, prefix: &str) -> String {
    sqs.create_queue()
        .queue_name(qrpay_tests::unique_name(prefix))
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue url")
}

/// The next message on `queue_url`, waiting up to ~10 s for it.
async fn receive_one(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> aws_sdk_sqs::types::Message {
    for _ in 0..10 {
        let received = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        let mut messages = received.messages.unwrap_or_default();
        if !messages.is_empty() {
            assert_eq!(messages.len(), 1, "exactly one message");
            return messages.remove(0);
        }
    }
    panic!("no message on {queue_url}");
}

#[tokio::test]
async fn sns_alert_reaches_a_subscribed_queue_with_its_fields_and_code_attribute() {
    let config = emulator_config();
    let sns = aws_sdk_sns::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let topic_arn = sns
        .create_topic()
        .name(qrpay_tests::unique_name("qrpay-alerts"))
        .send()
        .await
        .expect("create topic")
        .topic_arn
        .expect("topic arn");
    let queue_url = fresh_queue(&sqs, "qrpay-alerts-inbox").await;
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .expect("queue arn");
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await
        .expect("subscribe");

    let log = CapturedLog::default();
    SnsAlerts::from_conf(&config, &topic_arn)
        .raise(&payout_alert())
        .with_subscriber(log.subscriber())
        .await;

    // Not raw delivery: the body is SNS's envelope around our message.
    let message = receive_one(&sqs, &queue_url).await;
    let envelope: serde_json::Value =
        serde_json::from_str(message.body().expect("body")).expect("SNS envelope JSON");
    assert_eq!(envelope["Type"], "Notification");
    assert_eq!(envelope["TopicArn"], topic_arn.as_str());
    assert_eq!(envelope["Subject"], "qrpay alert PAYOUT_NOT_FINAL");
    assert_eq!(
        envelope["MessageAttributes"]["code"],
        json!({"Type": "String", "Value": "PAYOUT_NOT_FINAL"})
    );
    let body: serde_json::Value =
        serde_json::from_str(envelope["Message"].as_str().expect("Message is a string"))
            .expect("alert JSON");
    assert_eq!(
        body,
        json!({
            "code": "PAYOUT_NOT_FINAL",
            "message": "payout po_01HX is still pending after 2 days; ask the bank",
            "shop_id": "shop-1",
            "reference": "po_01HX",
            "source": "qrpay",
        })
    );
    let logged = log.text();
    assert!(
        logged.contains("ERROR") && logged.contains("alert=PAYOUT_NOT_FINAL"),
        "the metric-filter log line comes first: {logged}"
    );
    assert!(!logged.contains("not published"), "{logged}");
}

#[tokio::test]
async fn sns_alert_to_a_missing_topic_is_logged_and_returns() {
    let config = emulator_config();
    let topic_arn = format!(
        "arn:aws:sns:us-east-1:123456789012:{}",
        qrpay_tests::unique_name("qrpay-no-such-topic")
    );
    let alert = Alert {
        shop_id: None,
        ..payout_alert()
    };
    let log = CapturedLog::default();
    tokio::time::timeout(
        Duration::from_secs(30),
        SnsAlerts::from_conf(&config, topic_arn)
            .raise(&alert)
            .with_subscriber(log.subscriber()),
    )
    .await
    .expect("raise returns");

    let logged = log.text();
    let lines: Vec<&str> = logged
        .lines()
        .filter(|l| l.contains("alert=PAYOUT_NOT_FINAL"))
        .collect();
    assert_eq!(lines.len(), 2, "{logged}");
    assert!(
        lines[0].contains("still pending"),
        "the alert itself: {logged}"
    );
    assert!(
        lines[1].contains("not published") && lines[1].contains("reference=po_01HX"),
        "then the failed publish: {logged}"
    );
}

#[tokio::test]
async fn sqs_run_request_sends_exactly_the_date() {
    let config = emulator_config();
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue_url = fresh_queue(&sqs, "qrpay-reconcile-runs").await;
    let date = BusinessDate::parse("2026-11-20").expect("date");

    SqsRunRequests::from_conf(&config, &queue_url)
        .request(date)
        .await
        .expect("request");

    let message = receive_one(&sqs, &queue_url).await;
    assert_eq!(message.body(), Some(r#"{"date":"2026-11-20"}"#));
}

/// A run waiting for its bills comes back on the queue after the delay,
/// with how long it may still wait; never before.
#[tokio::test]
async fn sqs_run_asked_again_comes_back_after_its_delay() {
    let config = emulator_config();
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue_url = fresh_queue(&sqs, "qrpay-reconcile-runs").await;
    let until = chrono::DateTime::parse_from_rfc3339("2026-11-21T06:00:00Z")
        .expect("instant")
        .to_utc();
    let request = RunRequest {
        date: "2026-11-20".into(),
        wait_for_bills_until: Some(until),
    };
    SqsRunRequests::from_conf(&config, &queue_url)
        .ask_again(&request, Duration::from_secs(2))
        .await
        .expect("ask again");
    let early = sqs
        .receive_message()
        .queue_url(&queue_url)
        .wait_time_seconds(0)
        .send()
        .await
        .expect("receive");
    assert_eq!(early.messages.unwrap_or_default().len(), 0);
    let message = receive_one(&sqs, &queue_url).await;
    assert_eq!(
        message.body(),
        Some(r#"{"date":"2026-11-20","wait_for_bills_until":"2026-11-21T06:00:00Z"}"#)
    );
}

#[tokio::test]
async fn sqs_run_request_to_a_missing_queue_is_an_error() {
    let config = emulator_config();
    let sqs = aws_sdk_sqs::Client::new(&config);
    // A real queue's URL shape, for a queue that was never created.
    let real = fresh_queue(&sqs, "qrpay-reconcile-runs").await;
    let missing = format!("{real}-missing");
    let date = BusinessDate::parse("2026-11-20").expect("date");

    let result = SqsRunRequests::from_conf(&config, missing)
        .request(date)
        .await;
    assert!(result.is_err(), "{result:?}");
}
