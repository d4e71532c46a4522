//! Payment, instalment and refund notices from every provider, with keys
//! generated here, on both stores: applied once however often and however
//! concurrently they arrive; forged, stale or malformed ones refused in the
//! provider's own failure format with nothing changed; anomalies recorded
//! and alerted.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use common::keys;
use payment_callback::{handle, App, Verifiers};
use qrpay_domain::instalment::{plan, PlanPeriods};
use qrpay_domain::{
    AnomalyKind, BusinessDate, Clock, CollectionEvent, CollectionEventKind, DeductionStatus,
    InstalmentConfig, LedgerKind, Money, NoticeKind, Order, OrderId, OrderStatus, Payer, Provider,
    ProviderRef, Secret, TestClock,
};
use qrpay_provider::kit;
use qrpay_provider::notice::{NoticeSigner, SignedNotice};
use qrpay_store::alerts::MemoryAlerts;
use qrpay_store::Store;
use qrpay_tests::events::{Answer, Event};
use qrpay_tests::world::{amount, money, morning};
use qrpay_tests::World;
use serde_json::Value;

const FIXTURE: &str = "payment-callback/sandbox-transfer-succeeded.json";

/// Our side (verifiers) and each provider's genuine side (signers), plus a
/// forger per provider holding the wrong key.
type Signers = Vec<Box<dyn NoticeSigner>>;

fn providers() -> (Verifiers, Signers, Signers) {
    let k = keys();
    let (wv, ws) =
        kit::wechatpay("1900000109", "SERIAL-1", k.wechat.clone(), k.api_v3.clone()).unwrap();
    let (av, asg) = kit::alipay("2021000000000001", k.alipay.clone()).unwrap();
    let (dv, ds) = kit::douyin("tt0000000001", Secret::new("douyin-token".into())).unwrap();
    let (sv, ss) = kit::sandbox(Secret::new("sandbox-secret".into())).unwrap();
    let forgers: Vec<Box<dyn NoticeSigner>> = vec![
        Box::new(
            kit::wechatpay(
                "1900000109",
                "SERIAL-1",
                k.intruder.clone(),
                k.api_v3.clone(),
            )
            .unwrap()
            .1,
        ),
        Box::new(
            kit::alipay("2021000000000001", k.intruder.clone())
                .unwrap()
                .1,
        ),
        Box::new(
            kit::douyin("tt0000000001", Secret::new("guessed-token".into()))
                .unwrap()
                .1,
        ),
        Box::new(
            kit::sandbox(Secret::new("guessed-secret".into()))
                .unwrap()
                .1,
        ),
    ];
    let verifiers = Verifiers {
        sandbox: Some(sv),
        wechatpay: Some(wv),
        alipay: Some(av),
        douyin: Some(dv),
    };
    (
        verifiers,
        vec![Box::new(ws), Box::new(asg), Box::new(ds), Box::new(ss)],
        forgers,
    )
}

struct Harness {
    app: Arc<App>,
    world: World,
    clock: Arc<TestClock>,
    alerts: Arc<MemoryAlerts>,
    signers: Vec<Box<dyn NoticeSigner>>,
    forgers: Vec<Box<dyn NoticeSigner>>,
}

impl Harness {
    async fn new(store: Arc<dyn Store>) -> Harness {
        let world = World::new(store.clone(), "15000.00", "0.00").await;
        let clock = Arc::new(TestClock::at(morning()));
        let alerts = Arc::new(MemoryAlerts::new());
        let (verifiers, signers, forgers) = providers();
        let app = Arc::new(App {
            collection: store.clone(),
            payouts: store.clone(),
            refunds: store.clone(),
            clock: clock.clone(),
            publisher: Arc::new(payment_callback::MemoryPublisher::new()),
            alerts: alerts.clone(),
            verifiers: verifiers.into(),
        });
        Harness {
            app,
            world,
            clock,
            alerts,
            signers,
            forgers,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// A new unpaid order of this shop, monthly pay over `periods` if given.
    async fn order(&self, amt: &str, periods: Option<u8>) -> OrderId {
        let periods = periods.map(|n| PlanPeriods::new(n).unwrap());
        let p = periods.map(|n| plan(amount(amt), n, &InstalmentConfig::default()).unwrap());
        let order = Order::created(
            OrderId::generate(self.now()),
            self.world.shop.clone(),
            amount(amt),
            self.now(),
        )
        .with_plan(p);
        assert!(self.world.store.insert_order(&order).await.unwrap());
        order.order_id
    }

    async fn order_now(&self, id: &OrderId) -> Order {
        self.world
            .store
            .get_order(&self.world.shop, id)
            .await
            .unwrap()
            .unwrap()
    }

    async fn balance(&self) -> Money {
        self.world.shop_now().await.payout_balance
    }

    async fn ledger(&self) -> Vec<qrpay_domain::LedgerEntry> {
        self.world
            .store
            .list_ledger(&self.world.shop, BusinessDate::of(self.now()))
            .await
            .unwrap()
    }

    async fn post(&self, provider: Provider, notice: &SignedNotice) -> Answer {
        post(&self.app, provider, notice).await
    }
}

async fn post(app: &App, provider: Provider, notice: &SignedNotice) -> Answer {
    let body = String::from_utf8_lossy(&notice.body).into_owned();
    let mut event = Event::fixture(FIXTURE)
        .path(&format!("/callbacks/{provider}"))
        .without_header("qrpay-signature")
        .header("content-type", notice.content_type)
        .body(&body);
    for (name, value) in &notice.headers {
        event = event.header(name, value);
    }
    Answer::from(handle(app, event.request()).await)
}

fn pref(text: &str) -> ProviderRef {
    ProviderRef::parse(text).unwrap()
}

fn event(
    signer: &dyn NoticeSigner,
    order: &OrderId,
    id: &str,
    kind: CollectionEventKind,
    at: DateTime<Utc>,
) -> CollectionEvent {
    CollectionEvent {
        provider: signer.provider(),
        notification_id: pref(id),
        order_id: order.clone(),
        kind,
        occurred_at: at,
    }
}

fn paid(txn: &str, amt: &str) -> CollectionEventKind {
    CollectionEventKind::PaymentSucceeded {
        provider_txn_id: pref(txn),
        amount: amount(amt),
        payer: Some(Payer {
            name: Some("张三".into()),
            phone: Some("13812341234".into()),
            account: None,
        }),
    }
}

/// Asserts the provider's own success answer.
fn assert_success(provider: Provider, a: &Answer) {
    match provider {
        Provider::Wechatpay => assert_eq!(a.status, 204, "{}", a.body),
        Provider::Alipay => {
            assert_eq!((a.status, &a.body), (200, &Value::String("success".into())))
        }
        Provider::Douyin => assert_eq!(
            (a.status, a.body["err_no"].as_i64()),
            (200, Some(0)),
            "{}",
            a.body
        ),
        Provider::Sandbox => assert_eq!(
            (a.status, &a.body["received"]),
            (200, &Value::Bool(true)),
            "{}",
            a.body
        ),
    }
}

/// Asserts the provider's own failure answer.
fn assert_failure(provider: Provider, a: &Answer, what: &str) {
    assert!(
        (400..500).contains(&a.status),
        "{provider} {what}: {} {}",
        a.status,
        a.body
    );
    match provider {
        Provider::Wechatpay => assert_eq!(a.body["code"], "FAIL", "{what}"),
        Provider::Alipay => assert_eq!(a.body, Value::String("fail".into()), "{what}"),
        Provider::Douyin => assert_ne!(a.body["err_no"].as_i64(), Some(0), "{what}"),
        Provider::Sandbox => assert!(a.body["error"]["code"].is_string(), "{what}"),
    }
}

qrpay_tests::on_both_stores!(
    a_valid_notice_is_applied_once_for_every_provider,
    ten_concurrent_deliveries_change_things_once,
    forged_stale_and_malformed_notices_change_nothing,
    amount_mismatch_and_duplicate_charge_are_recorded_and_alerted,
    instalments_and_refunds_follow_the_order,
);

async fn a_valid_notice_is_applied_once_for_every_provider(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let mut credited = Money::ZERO;
    for signer in &h.signers {
        let provider = signer.provider();
        let order = h.order("88.00", None).await;
        let e = event(
            signer.as_ref(),
            &order,
            &format!("n-{provider}"),
            paid(&format!("t-{provider}"), "88.00"),
            h.now(),
        );
        let notice = signer.sign(&e, h.now());
        assert_success(provider, &h.post(provider, &notice).await);
        let o = h.order_now(&order).await;
        assert_eq!(
            (o.status, o.paid_amount, o.provider),
            (OrderStatus::Paid, money("88.00"), Some(provider))
        );
        credited = credited.checked_add(money("88.00")).unwrap();
        assert_eq!(h.balance().await, credited, "{provider}");
        // Delivered again: success, nothing changes.
        assert_success(provider, &h.post(provider, &notice).await);
        assert_eq!(h.order_now(&order).await, o);
        assert_eq!(h.balance().await, credited);
    }
    let ledger = h.ledger().await;
    assert_eq!(ledger.len(), 4);
    assert!(ledger
        .iter()
        .all(|e| e.kind == LedgerKind::Payment && e.amount == amount("88.00")));
    assert!(h.alerts.raised().is_empty());
}

async fn ten_concurrent_deliveries_change_things_once(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    for signer in &h.signers {
        let provider = signer.provider();
        let order = h.order("20.00", None).await;
        let e = event(
            signer.as_ref(),
            &order,
            &format!("c-{provider}"),
            paid(&format!("ct-{provider}"), "20.00"),
            h.now(),
        );
        let notice = signer.sign(&e, h.now());
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let (app, notice) = (h.app.clone(), notice.clone());
                tokio::spawn(async move { post(&app, provider, &notice).await })
            })
            .collect();
        for task in tasks {
            assert_success(provider, &task.await.unwrap());
        }
        let o = h.order_now(&order).await;
        assert_eq!(
            (o.status, o.revision),
            (OrderStatus::Paid, 1),
            "{provider}: one state change"
        );
    }
    assert_eq!(h.ledger().await.len(), 4, "one ledger entry per provider");
    assert_eq!(h.balance().await, money("80.00"), "one credit per provider");
}

#[tokio::test]
async fn a_callback_that_is_not_posted_is_told_to_post() {
    let h = Harness::new(qrpay_tests::memory_port().await).await;
    let event = Event::fixture(FIXTURE)
        .path("/callbacks/alipay")
        .method("GET");
    let a = Answer::from(handle(&h.app, event.request()).await);
    let allow = a.headers.get("allow").map(|v| v.to_str().unwrap());
    assert_eq!(
        (a.status, a.code(), allow),
        (405, "METHOD_NOT_ALLOWED", Some("POST"))
    );
}

async fn forged_stale_and_malformed_notices_change_nothing(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    for (signer, forger) in h.signers.iter().zip(&h.forgers) {
        let provider = signer.provider();
        let order = h.order("30.00", None).await;
        let e = event(
            signer.as_ref(),
            &order,
            &format!("f-{provider}"),
            paid(&format!("ft-{provider}"), "30.00"),
            h.now(),
        );
        let good = signer.sign(&e, h.now());
        let mut tampered = good.clone();
        let at = tampered
            .body
            .iter()
            .position(|b| b.is_ascii_digit())
            .unwrap();
        tampered.body[at] = if tampered.body[at] == b'9' {
            b'8'
        } else {
            tampered.body[at] + 1
        };
        let mut truncated = good.clone();
        truncated.body.truncate(good.body.len() / 2);
        let mut garbage = good.clone();
        garbage.body = b"\x00\x01garbage{{{%%".to_vec();
        let mut empty = good.clone();
        empty.body.clear();
        let cases = [
            ("tampered body", tampered),
            ("wrong key", forger.sign(&e, h.now())),
            (
                "old timestamp",
                signer.sign(&e, h.now() - Duration::seconds(301)),
            ),
            (
                "future timestamp",
                signer.sign(&e, h.now() + Duration::seconds(301)),
            ),
            ("truncated body", truncated),
            ("garbage body", garbage),
            ("empty body", empty),
        ];
        for (what, notice) in cases {
            assert_failure(provider, &h.post(provider, &notice).await, what);
        }
        if provider == Provider::Wechatpay {
            let mut probe = good.clone();
            for (name, value) in &mut probe.headers {
                if name.eq_ignore_ascii_case("wechatpay-signature") {
                    *value = format!("WECHATPAY/SIGNTEST/{value}");
                }
            }
            let a = h.post(provider, &probe).await;
            assert_eq!(a.status, 401, "SIGNTEST probe must fail");
            assert_failure(provider, &a, "SIGNTEST");
        }
        let o = h.order_now(&order).await;
        assert_eq!(
            (o.status, o.revision),
            (OrderStatus::Created, 0),
            "{provider}: nothing changed"
        );
        // The genuine notice still applies afterwards.
        assert_success(provider, &h.post(provider, &good).await);
    }
    assert_eq!(h.ledger().await.len(), 4);
    assert_eq!(h.balance().await, money("120.00"));
    assert!(h
        .world
        .store
        .list_anomalies(BusinessDate::of(h.now()))
        .await
        .unwrap()
        .is_empty());
}

async fn amount_mismatch_and_duplicate_charge_are_recorded_and_alerted(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    for signer in &h.signers {
        let provider = signer.provider();
        let order = h.order("50.00", None).await;
        let short = event(
            signer.as_ref(),
            &order,
            &format!("m-{provider}"),
            paid(&format!("mt-{provider}"), "5.00"),
            h.now(),
        );
        assert_success(
            provider,
            &h.post(provider, &signer.sign(&short, h.now())).await,
        );
        assert_eq!(h.order_now(&order).await.status, OrderStatus::Created);
        let right = event(
            signer.as_ref(),
            &order,
            &format!("r-{provider}"),
            paid(&format!("rt-{provider}"), "50.00"),
            h.now(),
        );
        assert_success(
            provider,
            &h.post(provider, &signer.sign(&right, h.now())).await,
        );
        let second = event(
            signer.as_ref(),
            &order,
            &format!("d-{provider}"),
            paid(&format!("dt-{provider}"), "50.00"),
            h.now(),
        );
        assert_success(
            provider,
            &h.post(provider, &signer.sign(&second, h.now())).await,
        );
        let o = h.order_now(&order).await;
        assert_eq!(
            (o.status, o.provider_txn_id),
            (OrderStatus::Paid, Some(pref(&format!("rt-{provider}"))))
        );
    }
    let anomalies = h
        .world
        .store
        .list_anomalies(BusinessDate::of(h.now()))
        .await
        .unwrap();
    let mut kinds: Vec<(Provider, AnomalyKind)> =
        anomalies.iter().map(|a| (a.provider, a.kind)).collect();
    kinds.sort_by_key(|(p, k)| (p.as_str(), k.as_str()));
    let mut expected = Vec::new();
    for p in Provider::ALL {
        expected.push((p, AnomalyKind::AmountMismatch));
        expected.push((p, AnomalyKind::DuplicateCharge));
    }
    expected.sort_by_key(|(p, k)| (p.as_str(), k.as_str()));
    assert_eq!(kinds, expected);
    let codes: Vec<String> = h.alerts.raised().iter().map(|a| a.code.clone()).collect();
    assert_eq!(
        codes
            .iter()
            .filter(|c| *c == "COLLECTION_AMOUNT_MISMATCH")
            .count(),
        4
    );
    assert_eq!(
        codes
            .iter()
            .filter(|c| *c == "COLLECTION_DUPLICATE_CHARGE")
            .count(),
        4
    );
    assert_eq!(codes.len(), 8);
    assert_eq!(
        h.balance().await,
        money("200.00"),
        "only the right payments credited"
    );
    assert_eq!(h.ledger().await.len(), 4);
}

async fn instalments_and_refunds_follow_the_order(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    for signer in &h.signers {
        let provider = signer.provider();
        let s = signer.as_ref();
        let order = h.order("300.00", Some(3)).await;
        let now = h.now();
        let steps = [
            event(
                s,
                &order,
                &format!("p-{provider}"),
                paid(&format!("pt-{provider}"), "300.00"),
                now,
            ),
            event(
                s,
                &order,
                &format!("i1-{provider}"),
                CollectionEventKind::InstalmentDeducted {
                    provider_txn_id: pref(&format!("it1-{provider}")),
                    period: 1,
                    amount: amount("100.00"),
                },
                now,
            ),
            event(
                s,
                &order,
                &format!("i2-{provider}"),
                CollectionEventKind::InstalmentDeductionFailed {
                    period: 2,
                    amount: amount("100.00"),
                    reason: "insufficient credit".into(),
                },
                now,
            ),
            event(
                s,
                &order,
                &format!("rf-{provider}"),
                CollectionEventKind::RefundSucceeded {
                    refund_id: pref(&format!("rid-{provider}")),
                    amount: amount("50.00"),
                    our_refund: None,
                },
                now,
            ),
        ];
        for step in &steps {
            assert_success(provider, &h.post(provider, &signer.sign(step, now)).await);
        }
        let o = h.order_now(&order).await;
        assert_eq!(o.status, OrderStatus::PartiallyRefunded, "{provider}");
        assert_eq!(o.refunded_amount, money("50.00"));
        assert_eq!(
            o.deductions,
            vec![
                DeductionStatus::Deducted,
                DeductionStatus::Failed,
                DeductionStatus::Pending
            ]
        );
    }
    // Per provider: 300.00 paid, less the shop's 6.90 fee, less the 50.00 refund.
    assert_eq!(h.balance().await, money("972.40"));
    let mut kinds: Vec<LedgerKind> = h.ledger().await.iter().map(|e| e.kind).collect();
    kinds.sort();
    assert_eq!(
        kinds.iter().filter(|k| **k == LedgerKind::Payment).count(),
        4
    );
    assert_eq!(kinds.iter().filter(|k| **k == LedgerKind::Fee).count(), 4);
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == LedgerKind::InstalmentDeduction)
            .count(),
        4
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == LedgerKind::Refund).count(),
        4
    );
    let notices = h.world.store.list_notices(&h.world.shop, 10).await.unwrap();
    assert_eq!(
        notices
            .iter()
            .filter(|n| n.kind == NoticeKind::DeductionFailed)
            .count(),
        4
    );
    let failed: Vec<_> = h
        .alerts
        .raised()
        .into_iter()
        .filter(|a| a.code == "DEDUCTION_FAILED")
        .collect();
    assert_eq!(failed.len(), 4);
    assert!(failed
        .iter()
        .all(|a| a.shop_id.as_deref() == Some("shop-1")));
}

/// Callbacks are counted by provider and outcome (issue 14's metrics):
/// applied, acknowledged again, and a forged one rejected.
#[tokio::test]
async fn callbacks_are_counted_by_provider_and_outcome() {
    use qrpay_store::metrics::{scoped, MemoryMetrics, MetricName};
    let h = Harness::new(qrpay_tests::memory_port().await).await;
    let sink = Arc::new(MemoryMetrics::default());
    let real = h
        .signers
        .iter()
        .zip(&h.forgers)
        .filter(|(s, _)| s.provider() != Provider::Sandbox);
    for (signer, forger) in real {
        let provider = signer.provider();
        let order = h.order("9.00", None).await;
        let e = event(
            signer.as_ref(),
            &order,
            &format!("m-{provider}"),
            paid(&format!("mt-{provider}"), "9.00"),
            h.now(),
        );
        let genuine = signer.sign(&e, h.now());
        let forged = forger.sign(&e, h.now());
        scoped(sink.clone(), async {
            assert_success(provider, &h.post(provider, &genuine).await);
            assert_success(provider, &h.post(provider, &genuine).await);
            assert_failure(provider, &h.post(provider, &forged).await, "forged");
        })
        .await;
        let p = provider.as_str();
        for (outcome, count) in [
            ("APPLIED", 1.0),
            ("ACKNOWLEDGED", 1.0),
            ("BAD_SIGNATURE", 1.0),
        ] {
            let seen = sink.sum(
                MetricName::Callbacks,
                &[("Provider", p), ("Outcome", outcome)],
            );
            assert_eq!(seen, count, "{p} {outcome}: {:?}", sink.points());
        }
    }
    assert_eq!(sink.sum(MetricName::CallbacksRejected, &[]), 3.0);
    assert_eq!(sink.sum(MetricName::Callbacks, &[]), 9.0);
}

/// The stage's secret (Secrets Manager, moto) with every key, Douyin's set.
fn stage_secret(douyin_token: &str) -> String {
    let mut object = serde_json::Map::new();
    for (key, _) in qrpay_aws::secrets::SECRET_KEYS {
        object.insert((*key).into(), "".into());
    }
    object.insert("douyin_app_id".into(), "tt0000000001".into());
    object.insert("douyin_token".into(), douyin_token.into());
    Value::Object(object).to_string()
}

/// A provider key rotated after the cold start (issue 14): a notice signed
/// with the new key makes the function read the stage's secret again (at
/// most once an interval) and is then applied, with no redeploy.
#[tokio::test]
async fn a_notice_signed_with_a_rotated_key_is_applied_after_a_refresh() {
    use qrpay_aws::{Reloadable, SecretSource};
    let store = qrpay_tests::memory_port().await;
    let h = Harness::new(store.clone()).await;
    let secrets = qrpay_tests::secrets_client();
    let name = qrpay_tests::unique_name("qrpay/test");
    let put = |text: String| {
        let (secrets, name) = (secrets.clone(), name.clone());
        async move {
            let put = secrets
                .put_secret_value()
                .secret_id(name)
                .secret_string(text);
            put.send().await.unwrap();
        }
    };
    let create = secrets.create_secret().name(&name);
    create
        .secret_string(stage_secret("douyin-token-1"))
        .send()
        .await
        .unwrap();
    let interval = std::time::Duration::from_millis(300);
    let source = SecretSource::remote(secrets.clone(), name.clone(), interval)
        .await
        .unwrap();
    let verifiers = Reloadable::from_source(source, |s| {
        payment_callback::config::verifiers(&|n| s.get(n))
    })
    .unwrap();
    let app = App {
        collection: store.clone(),
        payouts: store.clone(),
        refunds: store,
        clock: h.clock.clone(),
        publisher: Arc::new(payment_callback::MemoryPublisher::new()),
        alerts: h.alerts.clone(),
        verifiers,
    };
    put(stage_secret("douyin-token-2")).await;
    let (_, signer) = kit::douyin("tt0000000001", Secret::new("douyin-token-2".into())).unwrap();
    let order = h.order("12.00", None).await;
    let notice = |h: &Harness| {
        let e = event(
            &signer,
            &order,
            "N-ROT-1",
            paid("T-ROT-1", "12.00"),
            h.now(),
        );
        signer.sign(&e, h.now())
    };
    // Inside the interval since the cold start: refused, nothing changed.
    let refused = post(&app, Provider::Douyin, &notice(&h)).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert_eq!(h.order_now(&order).await.status, OrderStatus::Created);
    tokio::time::sleep(interval).await;
    let applied = post(&app, Provider::Douyin, &notice(&h)).await;
    assert_success(Provider::Douyin, &applied);
    assert_eq!(h.order_now(&order).await.status, OrderStatus::Paid);
}
