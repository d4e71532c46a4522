//! A dynamic code issued for one provider carries that provider's own code
//! (SPEC §9): made through its collection gateway after the code, found again
//! on a replay, and refused before anything is written when the stage does
//! not offer it.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use qr_issue::{handle, App, MemoryPublisher};
use qrpay_domain::{OrderId, Provider, Secret, TestClock};
use qrpay_provider::gateway::{
    CloseOutcome, CollectRequest, CollectionGateway, CreateOutcome, Gateways, ProviderCode,
    TradeState,
};
use qrpay_store::alerts::MemoryAlerts;
use qrpay_store::{MemoryStore, Store};

use qrpay_tests::events::{Answer, Event};
use qrpay_tests::world::morning;
use qrpay_tests::World;
use serde_json::{json, Value};

const DYNAMIC: &str = "qr-issue/create-dynamic-qr.json";
const QR_CONTENT: &str = "https://qr.alipay.com/bax08431n7vkjyxhmaze0079";

/// A provider that records each order asked for and answers from a script.
struct FakeProvider {
    provider: Provider,
    answer: Mutex<CreateOutcome>,
    asked: Mutex<Vec<CollectRequest>>,
}

#[async_trait]
impl CollectionGateway for FakeProvider {
    fn provider(&self) -> Provider {
        self.provider
    }
    async fn create(&self, request: &CollectRequest) -> CreateOutcome {
        self.asked.lock().unwrap().push(request.clone());
        self.answer.lock().unwrap().clone()
    }
    async fn query(&self, _: &OrderId) -> TradeState {
        TradeState::Waiting
    }
    async fn close(&self, _: &OrderId) -> CloseOutcome {
        CloseOutcome::Closed
    }
}

fn fake(provider: Provider, answer: CreateOutcome) -> Arc<FakeProvider> {
    Arc::new(FakeProvider {
        provider,
        answer: Mutex::new(answer),
        asked: Mutex::default(),
    })
}

struct Harness {
    app: App,
    clock: Arc<TestClock>,
}

async fn harness(providers: &[Arc<FakeProvider>]) -> Harness {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    World::new(store.clone(), "15000.00", "0.00").await;
    let mut gateways = Gateways::default();
    for p in providers {
        gateways.collection.insert(p.provider, p.clone());
    }
    let clock = Arc::new(TestClock::at(morning()));
    let app = App {
        shops: store.clone(),
        collection: store.clone(),
        payouts: store.clone(),
        leases: store.clone(),
        clock: clock.clone(),
        token_secrets: vec![Secret::new("token-secret-current".into())].into(),
        pay_base_url: "https://pay.qrpay.example".into(),
        publisher: Arc::new(MemoryPublisher::new()),
        device_keys: Arc::new(qrpay_store::keyring::LocalKeyring::new(&Secret::new(
            [5u8; 32],
        ))),
        alerts: Arc::new(MemoryAlerts::new()),
        checkout_limits: qrpay_domain::checkout::CheckoutLimits::DEFAULT,
        gateways,
        buyer: qr_issue::page::BuyerSettings::default(),
    };
    Harness { app, clock }
}

impl Harness {
    async fn issue(&self, body: Value) -> Answer {
        let event = Event::fixture(DYNAMIC).json_body(body);
        Answer::from(handle(&self.app, event.request()).await)
    }

    /// Whether `no` is still free: a code claimed under it with other
    /// parameters would make this issue a conflict or a replay.
    async fn still_free(&self, no: &str) -> bool {
        let other = json!({"kind": "dynamic", "amount": "1.23", "out_order_no": no});
        let a = self.issue(other).await;
        a.status == 201 && a.headers.get("idempotent-replayed").is_none()
    }
}

fn body(no: &str, provider: &str) -> Value {
    json!({"kind": "dynamic", "amount": "300.00", "out_order_no": no, "provider": provider})
}

#[tokio::test]
async fn an_alipay_code_carries_alipays_qr_code_and_a_replay_finds_the_same_order() {
    let alipay = fake(
        Provider::Alipay,
        CreateOutcome::Created(ProviderCode::QrContent(QR_CONTENT.into())),
    );
    let h = harness(std::slice::from_ref(&alipay)).await;
    let mut with_plan = body("A-1", "alipay");
    with_plan["instalments"] = json!({"periods": 3});
    let first = h.issue(with_plan.clone()).await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(first.body["provider"], "alipay");
    assert_eq!(first.body["provider_code"], QR_CONTENT);
    assert!(first.body["svg"].as_str().unwrap().starts_with("<svg"));
    let again = h.issue(with_plan).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body["order_id"], first.body["order_id"]);
    assert_eq!(again.body["provider_code"], QR_CONTENT);
    let asked = alipay.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 2);
    // The same provider order both times: our order id, amount, expiry.
    assert_eq!(asked[0], asked[1]);
    assert_eq!(
        asked[0].order_id.as_str(),
        first.body["order_id"].as_str().unwrap()
    );
    assert_eq!(asked[0].amount.to_string(), "300.00");
    let plan = asked[0].instalments.expect("Huabei periods");
    // The shop's default terms: the shop bears the fee (seller percent 100).
    assert_eq!((plan.periods, plan.shop_pays_fee), (3, true));
}

#[tokio::test]
async fn a_provider_the_stage_does_not_offer_is_refused_before_anything_is_written() {
    let wechat = fake(
        Provider::Wechatpay,
        CreateOutcome::Created(ProviderCode::QrContent(
            "weixin://wxpay/bizpayurl?pr=x".into(),
        )),
    );
    let douyin = fake(Provider::Douyin, CreateOutcome::AlreadyPaid);
    let h = harness(&[wechat.clone(), douyin]).await;
    let not_configured = h.issue(body("A-1", "alipay")).await;
    assert_eq!(not_configured.status, 422);
    assert_eq!(not_configured.body["error"]["code"], "PROVIDER_NOT_OFFERED");
    let no_code = h.issue(body("A-2", "douyin")).await;
    assert_eq!(no_code.body["error"]["code"], "PROVIDER_NOT_OFFERED");
    let mut plan = body("A-3", "wechatpay");
    plan["instalments"] = json!({"periods": 3});
    let no_plan = h.issue(plan).await;
    assert_eq!(no_plan.body["error"]["code"], "PROVIDER_NOT_OFFERED");
    let unknown = h.issue(body("A-3", "paypal")).await;
    assert_eq!(unknown.status, 400);
    let sandbox = h.issue(body("A-3", "sandbox")).await;
    assert_eq!(sandbox.status, 400);
    let static_code = h
        .issue(json!({"kind": "static", "provider": "wechatpay"}))
        .await;
    assert_eq!(static_code.status, 400);
    for no in ["A-1", "A-2", "A-3"] {
        assert!(h.still_free(no).await, "{no}: nothing was written");
    }
    assert!(wechat.asked.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_provider_that_cannot_confirm_leaves_a_code_to_ask_again_for() {
    let wechat = fake(
        Provider::Wechatpay,
        CreateOutcome::Ambiguous {
            detail: "no answer within 3s".into(),
        },
    );
    let h = harness(std::slice::from_ref(&wechat)).await;
    let first = h.issue(body("A-1", "wechatpay")).await;
    assert_eq!(first.status, 503);
    assert_eq!(first.body["error"]["code"], "PROVIDER_UNAVAILABLE");
    *wechat.answer.lock().unwrap() = CreateOutcome::Created(ProviderCode::QrContent(
        "weixin://wxpay/bizpayurl?pr=p4lpSuKzz".into(),
    ));
    let retry = h.issue(body("A-1", "wechatpay")).await;
    assert_eq!(retry.status, 201, "{}", retry.body);
    assert_eq!(
        retry.body["provider_code"],
        "weixin://wxpay/bizpayurl?pr=p4lpSuKzz"
    );
    let asked = wechat.asked.lock().unwrap().clone();
    assert_eq!(
        asked[0].order_id, asked[1].order_id,
        "one order, asked twice"
    );
    *wechat.answer.lock().unwrap() = CreateOutcome::Refused {
        code: "NO_AUTH".into(),
        reason: "WeChat Pay refused the order: NO_AUTH".into(),
    };
    let refused = h.issue(body("A-2", "wechatpay")).await;
    assert_eq!(refused.status, 502);
    assert_eq!(refused.body["error"]["code"], "PROVIDER_REFUSED");
}

/// A replay after the code stopped being payable (expired here; revoked
/// alike) answers the code as it is: the provider has closed its order and
/// would refuse to make it again (Alipay ACQ.TRADE_HAS_CLOSE), which was a
/// 502 for a request the caller is told to repeat.
#[tokio::test]
async fn a_replay_of_a_code_no_longer_payable_does_not_ask_the_provider_again() {
    let alipay = fake(
        Provider::Alipay,
        CreateOutcome::Created(ProviderCode::QrContent(QR_CONTENT.into())),
    );
    let h = harness(std::slice::from_ref(&alipay)).await;
    let first = h.issue(body("A-1", "alipay")).await;
    assert_eq!(
        (first.status, first.body["status"].as_str()),
        (201, Some("ACTIVE"))
    );
    h.clock.advance_ms(901_000);
    *alipay.answer.lock().unwrap() = CreateOutcome::Refused {
        code: "ACQ.TRADE_HAS_CLOSE".into(),
        reason: "交易已经关闭".into(),
    };
    let again = h.issue(body("A-1", "alipay")).await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(
        again
            .headers
            .get("idempotent-replayed")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    assert_eq!(again.body["order_id"], first.body["order_id"]);
    assert_eq!(again.body["status"], "EXPIRED");
    assert_eq!(again.body["provider"], "alipay");
    assert!(again.body.get("provider_code").is_none(), "{}", again.body);
    assert_eq!(alipay.asked.lock().unwrap().len(), 1);
}
