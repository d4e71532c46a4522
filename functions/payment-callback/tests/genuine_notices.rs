//! Genuine notices that are not a payment we apply: every provider's is
//! acknowledged in its own success format and alerted, never refused (a
//! refused one is redelivered for a day and more), while a forged one is
//! still refused. WeChat Pay's transfer-bill notices settle only payouts
//! sent through WeChat Pay; a platform certificate configures the keys.

mod common;

use std::sync::Arc;

use common::keys;
use payment_callback::{config, handle, App, Verifiers};
use qrpay_domain::{
    Clock, Order, OrderId, OrderStatus, PayerAccount, PayerAccountKind, Payout, PayoutChannels,
    PayoutStatus, Provider, ProviderRef, Secret, TestClock,
};
use qrpay_provider::alipay::AlipaySigner;
use qrpay_provider::callback::TransferFinished;
use qrpay_provider::douyin::DouyinSigner;
use qrpay_provider::kit;
use qrpay_provider::notice::SignedNotice;
use qrpay_provider::wechatpay::WechatpaySigner;
use qrpay_store::alerts::{AlertCode, MemoryAlerts};
use qrpay_store::{MemoryStore, Reserved, Store};
use qrpay_tests::events::{Answer, Event};
use qrpay_tests::world::{amount, money, morning};
use qrpay_tests::World;
use serde_json::json;

const FIXTURE: &str = "payment-callback/sandbox-transfer-succeeded.json";
const MCHID: &str = "1900000109";
const ALIPAY_APP: &str = "2021000000000001";
const DOUYIN_APP: &str = "tt0000000001";

struct Harness {
    app: App,
    world: World,
    clock: Arc<TestClock>,
    alerts: Arc<MemoryAlerts>,
    wechat: WechatpaySigner,
    alipay: AlipaySigner,
    douyin: DouyinSigner,
}

async fn harness() -> Harness {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let world = World::new(store.clone(), "15000.00", "1000.00").await;
    let clock = Arc::new(TestClock::at(morning()));
    let alerts = Arc::new(MemoryAlerts::new());
    let k = keys();
    let (wv, wechat) =
        kit::wechatpay(MCHID, "SERIAL-1", k.wechat.clone(), k.api_v3.clone()).unwrap();
    let (av, alipay) = kit::alipay(ALIPAY_APP, k.alipay.clone()).unwrap();
    let (dv, douyin) = kit::douyin(DOUYIN_APP, Secret::new("douyin-token".into())).unwrap();
    let (sv, _) = kit::sandbox(Secret::new("sandbox-secret".into())).unwrap();
    let app = App {
        collection: store.clone(),
        payouts: store.clone(),
        refunds: store.clone(),
        clock: clock.clone(),
        publisher: Arc::new(payment_callback::MemoryPublisher::new()),
        alerts: alerts.clone(),
        verifiers: Verifiers {
            sandbox: Some(sv),
            wechatpay: Some(wv),
            alipay: Some(av),
            douyin: Some(dv),
        }
        .into(),
    };
    Harness {
        app,
        world,
        clock,
        alerts,
        wechat,
        alipay,
        douyin,
    }
}

impl Harness {
    async fn post(&self, provider: Provider, notice: &SignedNotice) -> Answer {
        let body = String::from_utf8_lossy(&notice.body).into_owned();
        let mut event = Event::fixture(FIXTURE)
            .path(&format!("/callbacks/{provider}"))
            .without_header("qrpay-signature")
            .header("content-type", notice.content_type)
            .body(&body);
        for (name, value) in &notice.headers {
            event = event.header(name, value);
        }
        Answer::from(handle(&self.app, event.request()).await)
    }

    fn raised(&self) -> Vec<(String, String)> {
        self.alerts
            .raised()
            .into_iter()
            .map(|a| (a.code, a.reference))
            .collect()
    }

    async fn order(&self, id: &str) -> Order {
        self.world
            .store
            .find_order(&OrderId::parse(id).unwrap())
            .await
            .unwrap()
            .unwrap()
    }

    /// A processing payout of an order collected by `provider`.
    async fn payout(&self, order: &str, provider: Provider) -> Payout {
        let order_id = OrderId::parse(order).unwrap();
        let paid = Order {
            paid_amount: money("100.00"),
            status: OrderStatus::Paid,
            provider: Some(provider),
            provider_txn_id: Some(ProviderRef::parse(&format!("txn-{order}")).unwrap()),
            payer_account: (provider == Provider::Wechatpay).then(|| {
                PayerAccount::new(
                    PayerAccountKind::WechatOpenid,
                    "o-MYE42l80oelYMDE34nYD456Xoy",
                )
                .unwrap()
            }),
            ..Order::created(
                order_id.clone(),
                self.world.shop.clone(),
                amount("100.00"),
                morning(),
            )
        };
        assert!(self.world.store.insert_order(&paid).await.unwrap());
        let mut request = self.world.request(
            &self.world.owner,
            &order_id,
            "12.30",
            &format!("k-{order}"),
            self.clock.now(),
        );
        request.channels = PayoutChannels::of(&[provider]);
        let Reserved::Created(p) = self.world.store.reserve_payout(&request).await.unwrap() else {
            panic!("reserved")
        };
        assert_eq!(p.provider, Some(provider));
        self.world
            .store
            .start_payout(&p.shop_id, &p.payout_id, self.clock.now())
            .await
            .unwrap();
        p
    }

    async fn status(&self, p: &Payout) -> PayoutStatus {
        self.world
            .store
            .get_payout(&p.shop_id, &p.payout_id)
            .await
            .unwrap()
            .unwrap()
            .status
    }
}

const ORDER: &str = "ord_01JQ0000000000000000000001";

#[tokio::test]
async fn genuine_notices_we_cannot_apply_are_acknowledged_and_alerted_per_provider() {
    let h = harness().await;
    h.world.paid_order(ORDER, "88.88").await;
    let now = h.clock.now();
    let refund_abnormal = format!(
        r#"{{"mchid":"{MCHID}","out_trade_no":"{ORDER}","refund_id":"50000000382019052709732678859",
        "out_refund_no":"rf_1","refund_status":"ABNORMAL","amount":{{"total":8888,"refund":100}}}}"#
    );
    let notices = [
        (
            Provider::Wechatpay,
            h.wechat
                .sign_resource("EV-1", "REFUND.ABNORMAL", refund_abnormal.as_bytes(), "refund", now),
            json!(null),
        ),
        (
            Provider::Wechatpay,
            h.wechat
                .sign_resource("EV-2", "REFUND.CLOSED", refund_abnormal.as_bytes(), "refund", now),
            json!(null),
        ),
        (
            Provider::Alipay,
            alipay_notice(&h, &h.alipay, "TRADE_FINISHED"),
            json!("success"),
        ),
        (
            Provider::Alipay,
            alipay_notice(&h, &h.alipay, "TRADE_CLOSED"),
            json!("success"),
        ),
        (
            Provider::Alipay,
            alipay_notice(&h, &h.alipay, "WAIT_BUYER_PAY"),
            json!("success"),
        ),
        (
            Provider::Douyin,
            h.douyin.sign_msg(
                "refund",
                format!(
                    r#"{{"appid":"{DOUYIN_APP}","cp_refundno":"rf_2","cp_extra":"{ORDER}","status":"FAIL",
                    "refund_amount":100,"refunded_at":{},"message":"余额不足","refund_no":"R1"}}"#,
                    now.timestamp()
                ),
                now,
            ),
            json!({"err_no": 0, "err_tips": "success"}),
        ),
    ];
    for (provider, notice, body) in &notices {
        let a = h.post(*provider, notice).await;
        let status = if *provider == Provider::Wechatpay {
            204
        } else {
            200
        };
        assert_eq!((a.status, &a.body), (status, body), "{provider}");
    }
    let raised = h.raised();
    assert_eq!(raised.len(), notices.len(), "{raised:?}");
    for (code, reference) in &raised {
        assert_eq!(code, "COLLECTION_NOTICE_NOT_APPLIED");
        assert!(reference == ORDER || reference == "rf_2", "{reference}");
    }
    let order = h.order(ORDER).await;
    assert_eq!(
        (order.status, order.paid_amount),
        (OrderStatus::Paid, money("88.88"))
    );

    // The same notices forged: refused as before, nothing more alerted.
    let forger = WechatpaySigner::new(
        MCHID,
        "SERIAL-1",
        keys().intruder.clone(),
        keys().api_v3.clone(),
    )
    .unwrap();
    let forged = forger.sign_resource(
        "EV-3",
        "REFUND.ABNORMAL",
        refund_abnormal.as_bytes(),
        "refund",
        now,
    );
    assert_eq!(h.post(Provider::Wechatpay, &forged).await.status, 401);
    let forger = AlipaySigner::new(ALIPAY_APP, keys().intruder.clone()).unwrap();
    let forged = alipay_notice(&h, &forger, "TRADE_FINISHED");
    let a = h.post(Provider::Alipay, &forged).await;
    assert_eq!((a.status, &a.body), (401, &json!("fail")));
    assert_eq!(h.raised().len(), notices.len());
}

/// A genuine `trade_status_sync` notify with `trade_status`, sent now.
fn alipay_notice(h: &Harness, signer: &AlipaySigner, status: &str) -> SignedNotice {
    let beijing = h.clock.now() + chrono::Duration::hours(8);
    let notify_time = beijing.format("%Y-%m-%d %H:%M:%S").to_string();
    let mut params = alipay_params(status);
    params.push(("notify_time", &notify_time));
    signer.sign_params(&params)
}

fn alipay_params(status: &str) -> Vec<(&'static str, &str)> {
    vec![
        ("notify_type", "trade_status_sync"),
        ("notify_id", "2026030100222100000000000000000001"),
        ("app_id", ALIPAY_APP),
        ("charset", "utf-8"),
        ("version", "1.0"),
        ("sign_type", "RSA2"),
        ("out_trade_no", ORDER),
        ("trade_no", "2026030122001400000000000001"),
        ("trade_status", status),
        ("total_amount", "88.88"),
        ("passback_params", ""),
    ]
}

fn transfer(payout: &Payout, provider: Provider, failure: Option<&str>) -> TransferFinished {
    TransferFinished {
        provider,
        notice_id: format!("EV-{}", payout.payout_id),
        out_bill_no: payout.payout_id.clone(),
        provider_ref: "1330000071100999991182020050700019480001".into(),
        amount: payout.amount,
        failure: failure.map(str::to_owned),
    }
}

#[tokio::test]
async fn a_wechat_transfer_bill_notice_settles_a_payout_sent_through_wechat_only() {
    let h = harness().await;
    let now = h.clock.now();
    let wechat = h
        .payout("ord_01JQ0000000000000000000010", Provider::Wechatpay)
        .await;
    let failed = h
        .payout("ord_01JQ0000000000000000000011", Provider::Wechatpay)
        .await;
    let sandbox = h
        .payout("ord_01JQ0000000000000000000012", Provider::Sandbox)
        .await;

    let a = h
        .post(
            Provider::Wechatpay,
            &h.wechat
                .sign_transfer(&transfer(&wechat, Provider::Wechatpay, None), now),
        )
        .await;
    assert_eq!(a.status, 204, "{}", a.body);
    assert_eq!(h.status(&wechat).await, PayoutStatus::Succeeded);
    let notice = h.wechat.sign_transfer(
        &transfer(&failed, Provider::Wechatpay, Some("PAYEE_ACCOUNT_ABNORMAL")),
        now,
    );
    assert_eq!(h.post(Provider::Wechatpay, &notice).await.status, 204);
    assert_eq!(h.status(&failed).await, PayoutStatus::Failed);
    assert_eq!(h.raised(), vec![]);

    // A WeChat notice about a sandbox payout: acknowledged, not applied, alerted.
    let a = h
        .post(
            Provider::Wechatpay,
            &h.wechat
                .sign_transfer(&transfer(&sandbox, Provider::Wechatpay, None), now),
        )
        .await;
    assert_eq!(a.status, 204);
    assert_eq!(h.status(&sandbox).await, PayoutStatus::Processing);
    assert_eq!(
        h.raised(),
        vec![(
            AlertCode::TransferNoticeWrongProvider.to_string(),
            sandbox.payout_id.to_string()
        )]
    );
    // A bill number we could not have sent: acknowledged and alerted too.
    let stray = br#"{"mchid":"1900000109","out_bill_no":"plfk2020042013","transfer_bill_no":"1","state":"SUCCESS","transfer_amount":1}"#;
    let notice = h.wechat.sign_resource(
        "EV-9",
        "MCHTRANSFER.BILL.FINISHED",
        stray,
        "mch_payment",
        now,
    );
    assert_eq!(h.post(Provider::Wechatpay, &notice).await.status, 204);
    assert_eq!(
        h.raised().last().map(|(code, _)| code.as_str()),
        Some("COLLECTION_NOTICE_NOT_APPLIED")
    );
}

#[tokio::test]
async fn a_sandbox_transfer_notice_does_not_settle_a_wechat_payout() {
    let h = harness().await;
    let wechat = h
        .payout("ord_01JQ0000000000000000000020", Provider::Wechatpay)
        .await;
    let body = json!({
        "notice_id": "n-1",
        "event_type": "TRANSFER.SUCCEEDED",
        "out_bill_no": wechat.payout_id.to_string(),
        "provider_ref": "sbx-1",
        "amount": wechat.amount.to_string(),
    })
    .to_string();
    let at = h.clock.now().timestamp();
    let event = Event::fixture(FIXTURE).body(&body).header(
        qrpay_provider::signature::HEADER,
        &qrpay_provider::signature::sign("sandbox-secret", at, body.as_bytes()),
    );
    let a = Answer::from(handle(&h.app, event.request()).await);
    assert_eq!(
        (a.status, &a.body),
        (200, &json!({"received": true, "applied": false}))
    );
    assert_eq!(h.status(&wechat).await, PayoutStatus::Processing);
    assert_eq!(
        h.raised(),
        vec![(
            "TRANSFER_NOTICE_WRONG_PROVIDER".to_owned(),
            wechat.payout_id.to_string()
        )]
    );
}

#[test]
fn a_platform_certificate_in_the_public_key_setting_configures_wechat_pay() {
    // A real RSA-2048 certificate (Alipay's public test fixture): public material.
    let certificate =
        include_str!("../../../shared/provider/tests/data/alipay/alipayCertPublicKey_RSA2.crt");
    let env = |name: &str| -> Option<String> {
        match name {
            "WECHATPAY_MCHID" => Some(MCHID.into()),
            "WECHATPAY_PLATFORM_SERIAL" => Some("2020051400F13C1B7B5A4C9CAD5FFD4A".into()),
            "WECHATPAY_PLATFORM_PUBLIC_KEY" => Some(certificate.into()),
            "WECHATPAY_PLATFORM_SERIAL_PREVIOUS" => {
                Some("PUB_KEY_ID_0114232134912410000000000000".into())
            }
            "WECHATPAY_PLATFORM_PUBLIC_KEY_PREVIOUS" => Some(public_key_pem()),
            "WECHATPAY_API_V3_KEY" => Some("0123456789abcdef0123456789ABCDEF".into()),
            _ => None,
        }
    };
    let verifiers = config::verifiers(&env).expect("a certificate PEM is accepted");
    let debug = format!("{:?}", verifiers.wechatpay.expect("configured"));
    assert!(
        debug.contains("2020051400F13C1B7B5A4C9CAD5FFD4A"),
        "{debug}"
    );
    assert!(
        debug.contains("PUB_KEY_ID_0114232134912410000000000000"),
        "{debug}"
    );
    let broken = |name: &str| match name {
        "WECHATPAY_PLATFORM_PUBLIC_KEY" => Some(certificate.replace("MIID", "MIIX")),
        other => env(other),
    };
    assert!(config::verifiers(&broken).is_err());
}

fn public_key_pem() -> String {
    use rsa::pkcs8::{EncodePublicKey, LineEnding};
    keys()
        .wechat
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap()
}
