//! Issue 12's "done when", on one machine: the real WeChat Pay, Alipay and
//! Douyin Pay adapters (the ones a deployed function builds) against the
//! local stack's simulators. A WeChat Native code, an Alipay precreate code
//! with a Huabei 3-period plan and a Douyin cashier order are paid, refunded
//! in part, and orders paid through WeChat and Alipay get payouts the
//! simulated provider moves exactly once — also under the sandbox's faults.

mod common;

use std::time::Duration;

use chrono::Duration as Span;
use common::{world, World};
use qrpay_domain::{Amount, Clock, OrderId, PayoutId, Provider};
use qrpay_local::client::Answer;
use qrpay_provider::gateway::{
    CollectRequest, CreateOutcome, PayMethod, ProviderCode, RefundNo, RefundOutcome, RefundRequest,
};
use qrpay_provider::wechatpay;
use serde_json::{json, Value};

const SHOP: &str = "demo-shop";

impl World {
    /// A dynamic code; with `provider`, that provider's own code too.
    async fn code(&self, no: &str, amount: &str, extra: Value) -> Value {
        let mut body = json!({"kind": "dynamic", "amount": amount, "out_order_no": no});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let path = format!("/shops/{SHOP}/qr-codes");
        let a = self.call("POST", &path, true, Some(body)).await;
        assert_eq!(a.status, 201, "{}", a.text());
        a.json()
    }

    async fn order(&self, order_id: &str) -> Value {
        let path = format!("/shops/{SHOP}/orders/{order_id}");
        let a = self.call("GET", &path, true, None).await;
        assert_eq!(a.status, 200, "{}", a.text());
        a.json()
    }

    /// The buyer scans the provider's code and pays.
    async fn buyer_pays(&self, provider: &str, code: &str) {
        let path = format!("/sandbox/{provider}/pay");
        let a = self
            .call("POST", &path, false, Some(json!({"code": code})))
            .await;
        assert_eq!(a.status, 200, "{}", a.text());
    }

    /// Part of the order back to the buyer, through the real adapter.
    async fn refund(
        &self,
        provider: Provider,
        order_id: &str,
        refund: &str,
        amount: &str,
        total: &str,
    ) -> RefundOutcome {
        let gateway = self
            .running
            .stack
            .gateways
            .refunds(provider)
            .expect("configured");
        let request = RefundRequest {
            refund_no: RefundNo::parse(refund).unwrap(),
            order_id: OrderId::parse(order_id).unwrap(),
            amount: Amount::parse(amount).unwrap(),
            order_total: Amount::parse(total).unwrap(),
            reason: Some("少发一件".into()),
        };
        gateway.refund(&request).await
    }

    async fn payout(&self, order_id: &str, amount: &str, key: &str) -> Answer {
        let token = self.running.demo.owner.clone();
        let body = json!({"amount": amount, "reason": "SHIPPING_FEE"}).to_string();
        self.client
            .send(
                "POST",
                &format!("/shops/{SHOP}/orders/{order_id}/payouts"),
                Some(&token),
                &[("idempotency-key", key)],
                Some(body.into_bytes()),
            )
            .await
            .unwrap()
    }

    async fn payout_now(&self, payout_id: &str) -> Value {
        let a = self
            .call(
                "GET",
                &format!("/shops/{SHOP}/payouts/{payout_id}"),
                true,
                None,
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.text());
        a.json()
    }

    /// Polls until the payout is final, letting time pass for retries.
    async fn final_payout(&self, payout_id: &str) -> Value {
        for _ in 0..100 {
            let p = self.payout_now(payout_id).await;
            if p["status"] == "SUCCEEDED" || p["status"] == "FAILED" {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("payout {payout_id} never became final");
    }

    async fn moved(&self, provider: &str, kind: &str) -> Value {
        let a = self
            .call("GET", &format!("/sandbox/{provider}/{kind}"), false, None)
            .await;
        assert_eq!(a.status, 200, "{}", a.text());
        a.json()
    }

    async fn faults(&self, fail: f64, timeout: f64, duplicate: f64) {
        let body = json!({"transfer_fail_rate": fail, "transfer_timeout_rate": timeout,
            "callback_duplicate_rate": duplicate, "seed": 7});
        let a = self.call("PUT", "/sandbox/faults", false, Some(body)).await;
        assert_eq!(a.status, 200, "{}", a.text());
    }

    async fn advance(&self, seconds: i64) {
        let body = json!({"advance_s": seconds});
        let a = self.call("POST", "/sandbox/clock", false, Some(body)).await;
        assert_eq!(a.status, 200, "{}", a.text());
    }
}

/// How a provider names a payout: WeChat's charset has no `_`.
fn bill_no(provider: &str, payout_id: &str) -> String {
    let id = PayoutId::parse(payout_id).unwrap();
    match provider {
        "wechatpay" => wechatpay::out_bill_no(&id).unwrap(),
        _ => payout_id.to_owned(),
    }
}

/// Paid, refunded in part, paid back once: one provider's whole round.
async fn round(w: &World, provider: Provider, code: &Value, total: &str) {
    let name = provider.as_str();
    let order_id = code["order_id"].as_str().unwrap();
    w.buyer_pays(name, code["provider_code"].as_str().unwrap())
        .await;
    let paid = w.order(order_id).await;
    assert_eq!(
        (paid["status"].as_str(), paid["provider"].as_str()),
        (Some("PAID"), Some(name))
    );
    assert_eq!(paid["paid_amount"], total);

    let refund_no = format!("rf_{}", &order_id[4..]);
    let accepted = w
        .refund(provider, order_id, &refund_no, "10.00", total)
        .await;
    assert!(
        matches!(
            accepted,
            RefundOutcome::InProgress | RefundOutcome::Succeeded { .. }
        ),
        "{accepted:?}"
    );
    let refunded = w.order(order_id).await;
    assert_eq!(refunded["status"], "PARTIALLY_REFUNDED", "{refunded}");
    // A repeat of the same refund id refunds nothing more.
    w.refund(provider, order_id, &refund_no, "10.00", total)
        .await;
    let refunds = w.moved(name, "refunds").await;
    assert_eq!(refunds["count"], 1, "{refunds}");
    assert_eq!(refunds["moved_total"], "10.00");

    let asked = w.payout(order_id, "5.00", &format!("k-{order_id}")).await;
    assert_eq!(asked.status, 202, "{}", asked.text());
    let payout_id = asked.json()["payout_id"].as_str().unwrap().to_owned();
    let done = w.final_payout(&payout_id).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let transfers = w.moved(name, "transfers").await;
    assert_eq!(transfers["count"], 1, "{transfers}");
    assert_eq!(
        transfers["transfers"][0]["out_bill_no"],
        bill_no(name, &payout_id)
    );
    assert_eq!(transfers["transfers"][0]["amount"], "5.00");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wechat_native_code_is_paid_refunded_in_part_and_paid_back_once() {
    let w = world().await;
    let code = w
        .code("WX-1", "100.00", json!({"provider": "wechatpay"}))
        .await;
    assert!(
        code["provider_code"]
            .as_str()
            .unwrap()
            .starts_with("weixin://wxpay/bizpayurl"),
        "{code}"
    );
    round(&w, Provider::Wechatpay, &code, "100.00").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alipay_precreate_code_with_a_huabei_plan_is_paid_refunded_in_part_and_paid_back_once() {
    let w = world().await;
    let plan = json!({"provider": "alipay", "instalments": {"periods": 3}});
    let code = w.code("ALI-1", "300.00", plan).await;
    assert!(
        code["provider_code"]
            .as_str()
            .unwrap()
            .starts_with("https://qr.alipay.com/"),
        "{code}"
    );
    assert_eq!(code["instalment_plan"]["periods"], 3);
    round(&w, Provider::Alipay, &code, "300.00").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_douyin_order_is_paid_and_refunded_in_part_but_never_paid_back() {
    let w = world().await;
    // A POS cannot show a Douyin code: the buyer pays in Douyin's cashier.
    let refused = w
        .call(
            "POST",
            &format!("/shops/{SHOP}/qr-codes"),
            true,
            Some(json!({"kind": "dynamic", "amount": "50.00", "out_order_no": "DY-0", "provider": "douyin"})),
        )
        .await;
    assert_eq!(refused.status, 422);
    assert_eq!(refused.json()["error"]["code"], "PROVIDER_NOT_OFFERED");
    let code = w.code("DY-1", "50.00", json!({})).await;
    let order_id = code["order_id"].as_str().unwrap();
    let gateway = w
        .running
        .stack
        .gateways
        .collection(Provider::Douyin)
        .unwrap();
    let now = w.running.stack.clock.now();
    let created = gateway
        .create(&CollectRequest {
            order_id: OrderId::parse(order_id).unwrap(),
            amount: Amount::parse("50.00").unwrap(),
            subject: "Latte 大杯".into(),
            expires_at: now + Span::minutes(30),
            method: PayMethod::Cashier,
            instalments: None,
            shop_id: None,
        })
        .await;
    let CreateOutcome::Created(ProviderCode::CashierOrder {
        order_id: douyin_order,
        ..
    }) = created
    else {
        panic!("{created:?}");
    };
    w.buyer_pays("douyin", &douyin_order).await;
    assert_eq!(w.order(order_id).await["status"], "PAID");
    let refund = w
        .refund(Provider::Douyin, order_id, "rf_dy_1", "10.00", "50.00")
        .await;
    assert!(
        matches!(
            refund,
            RefundOutcome::InProgress | RefundOutcome::Succeeded { .. }
        ),
        "{refund:?}"
    );
    assert_eq!(w.moved("douyin", "refunds").await["moved_total"], "10.00");
    let refunded = w.order(order_id).await;
    assert_eq!(refunded["status"], "PARTIALLY_REFUNDED", "{refunded}");
    // No Douyin transfer API: refused at request time, nothing reserved.
    let payout = w.payout(order_id, "5.00", "k-dy").await;
    assert_eq!(payout.status, 422, "{}", payout.text());
    assert_eq!(payout.json()["error"]["code"], "PAYOUT_CHANNEL_UNAVAILABLE");
}

/// Transfers fail, time out before or after the money moved, and every
/// callback arrives twice: the worker, its retries and the sweeper still
/// bring every payout to the state the simulated provider is in — none paid
/// twice, none lost, all final.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_faults_every_wechat_and_alipay_payout_ends_as_the_provider_paid_it() {
    let w = world().await;
    let mut payouts = Vec::new();
    for (provider, prefix) in [("wechatpay", "WF"), ("alipay", "AF")] {
        for i in 0..6 {
            let code = w
                .code(
                    &format!("{prefix}-{i}"),
                    "40.00",
                    json!({"provider": provider}),
                )
                .await;
            w.buyer_pays(provider, code["provider_code"].as_str().unwrap())
                .await;
            payouts.push((provider, code["order_id"].as_str().unwrap().to_owned()));
        }
    }
    w.faults(0.25, 0.4, 1.0).await;
    let mut ids = Vec::new();
    for (provider, order) in &payouts {
        let asked = w.payout(order, "5.00", &format!("k-{order}")).await;
        assert_eq!(asked.status, 202, "{}", asked.text());
        ids.push((
            *provider,
            asked.json()["payout_id"].as_str().unwrap().to_owned(),
        ));
    }
    let mut finals = Vec::new();
    for round in 0..60 {
        if round == 8 {
            w.faults(0.0, 0.0, 1.0).await;
        }
        w.advance(300).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        finals.clear();
        for (provider, id) in &ids {
            let p = w.payout_now(id).await;
            if p["status"] == "SUCCEEDED" || p["status"] == "FAILED" {
                finals.push((*provider, p));
            }
        }
        if finals.len() == ids.len() {
            break;
        }
    }
    assert_eq!(finals.len(), ids.len(), "payouts left open");
    let mut succeeded = 0;
    for provider in ["wechatpay", "alipay"] {
        let moved = w.moved(provider, "transfers").await;
        let lines = moved["transfers"].as_array().unwrap();
        for (_, payout) in finals.iter().filter(|(p, _)| *p == provider) {
            let id = bill_no(provider, payout["payout_id"].as_str().unwrap());
            let at_provider = lines
                .iter()
                .filter(|t| t["out_bill_no"] == id.as_str())
                .count();
            assert!(at_provider <= 1, "{id} moved {at_provider} times");
            assert_eq!(
                payout["status"] == "SUCCEEDED",
                at_provider == 1,
                "{payout} disagrees with {provider}"
            );
            succeeded += at_provider;
        }
    }
    assert!(
        succeeded > 0 && succeeded < finals.len(),
        "{succeeded} of {}",
        finals.len()
    );
}

/// A WeChat transfer that waits for the buyer: the payout stays `PROCESSING`
/// and shows what the buyer's WeChat must open; once the buyer confirms, the
/// sweeper's query settles it — moved once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wechat_transfer_waits_for_the_buyer_then_settles_once() {
    let w = world().await;
    let settings = json!({"wechatpay_payee_confirms": true});
    let a = w
        .call("PUT", "/sandbox/simulators", false, Some(settings))
        .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let code = w
        .code("WX-W", "80.00", json!({"provider": "wechatpay"}))
        .await;
    let order_id = code["order_id"].as_str().unwrap();
    w.buyer_pays("wechatpay", code["provider_code"].as_str().unwrap())
        .await;
    let asked = w.payout(order_id, "6.00", "k-wait").await;
    assert_eq!(asked.status, 202, "{}", asked.text());
    let payout_id = asked.json()["payout_id"].as_str().unwrap().to_owned();
    let mut waiting = Value::Null;
    for _ in 0..100 {
        waiting = w.payout_now(&payout_id).await;
        if waiting.get("payee_action").is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(waiting["status"], "PROCESSING", "{waiting}");
    let action = &waiting["payee_action"];
    assert_eq!(action["kind"], "WECHAT_CONFIRM");
    assert!(!action["package"].as_str().unwrap().is_empty());
    assert_eq!(w.moved("wechatpay", "transfers").await["count"], 0);
    // An hour on, still waiting: no alert, no second bill.
    w.advance(3600).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(w.payout_now(&payout_id).await["status"], "PROCESSING");
    let bill = bill_no("wechatpay", &payout_id);
    let confirm = w
        .call(
            "POST",
            &format!("/sandbox/wechatpay/transfers/{bill}/confirm"),
            false,
            None,
        )
        .await;
    assert_eq!(confirm.status, 200, "{}", confirm.text());
    let mut done = Value::Null;
    for _ in 0..40 {
        w.advance(300).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        done = w.payout_now(&payout_id).await;
        if done["status"] == "SUCCEEDED" {
            break;
        }
    }
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert!(
        done.get("payee_action").is_none(),
        "shown only while waiting"
    );
    let moved = w.moved("wechatpay", "transfers").await;
    assert_eq!(
        (moved["count"].as_u64(), moved["moved_total"].as_str()),
        (Some(1), Some("6.00"))
    );
}
