//! A real provider's processing fee, end to end on one machine: the WeChat
//! Pay simulator keeps 0.60% of each payment and lists it on the payment's
//! row of its trade bill, as WeChat Pay does. With the shop's processing
//! rate set (the demo shop's is 0.0060), the payment books that fee and the
//! nightly run, reading the bill fetched through the real adapter, matches
//! it; a refund hands back its share of the fee (the bill's refund row
//! shows it), which is booked and matched too; without a rate nothing is
//! booked and the fee is reported missing, with a note saying where the
//! rate is set.

mod common;

use std::time::Duration;

use common::{world, World};
use qrpay_domain::{BusinessDate, Clock, Shop, ShopId};
use serde_json::{json, Value};

const SHOP: &str = "demo-shop";
const OPENID: &str = "oFeeBuyer000000000000000000A";

impl World {
    fn admin(&self) -> Option<&str> {
        Some(self.running.demo.admin.as_str())
    }

    /// A WeChat Pay order of `amount`, paid through the simulator: its id.
    async fn paid_through_wechat(&self, no: &str, amount: &str) -> String {
        let owner = Some(self.running.demo.owner.as_str());
        let body = json!({"kind": "dynamic", "amount": amount, "out_order_no": no, "provider": "wechatpay"});
        let code = self
            .ok_as(
                "POST",
                &format!("/shops/{SHOP}/qr-codes"),
                owner,
                Some(body),
            )
            .await;
        let pay = json!({"code": code["provider_code"], "payer": OPENID});
        self.ok_as("POST", "/sandbox/wechatpay/pay", None, Some(pay))
            .await;
        code["order_id"].as_str().unwrap().to_owned()
    }

    async fn advance_to_next_day(&self) {
        let now = self.running.stack.clock.now();
        let next = BusinessDate::of(now).succ().starts_at();
        let seconds = (next - now).num_seconds() + 60;
        self.ok_as(
            "POST",
            "/sandbox/clock",
            None,
            Some(json!({"advance_s": seconds})),
        )
        .await;
    }

    async fn shop(&self) -> Shop {
        let id = ShopId::parse(SHOP).unwrap();
        self.running
            .stack
            .store
            .get_shop(&id)
            .await
            .unwrap()
            .unwrap()
    }

    /// The owner refunds `amount` of `order`; its state once final.
    async fn refunded(&self, order: &str, amount: &str) -> Value {
        let asked = self.owner_refund(order, amount).await;
        assert_eq!(asked.status, 202, "{}", asked.text());
        let path = format!("/shops/{SHOP}/orders/{order}/refunds");
        let owner = Some(self.running.demo.owner.as_str());
        for _ in 0..300 {
            let listed = self.ok_as("GET", &path, owner, None).await;
            let refund = listed["refunds"][0].clone();
            if refund["status"] == "SUCCEEDED" || refund["status"] == "FAILED" {
                return refund;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the refund of {order} never ended");
    }

    async fn balance(&self) -> String {
        self.shop().await.payout_balance.to_string()
    }

    /// The shop's report rows of `date` for `order`: (kind, outcome,
    /// ledger amount, provider amount, note).
    async fn rows_of(&self, date: BusinessDate, order: &str) -> Vec<[String; 5]> {
        let path = format!("/shops/{SHOP}/reconciliations/{date}");
        let owner = Some(self.running.demo.owner.as_str());
        let mut report = None;
        for _ in 0..300 {
            let a = self.client.json("GET", &path, owner, None).await.unwrap();
            if a.status == 200 {
                report = Some(a.json());
                break;
            }
            assert_eq!(a.status, 404, "{}", a.text());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let report = report.unwrap_or_else(|| panic!("no report of {date}"));
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["order_no"] == order)
            .map(|r| {
                [
                    text(&r["kind"]),
                    text(&r["outcome"]),
                    text(&r["ledger_amount"]),
                    text(&r["provider_amount"]),
                    text(&r["note"]),
                ]
            })
            .collect()
    }
}

fn row(kind: &str, outcome: &str, ledger: &str, provider: &str, note: &str) -> [String; 5] {
    [kind, outcome, ledger, provider, note].map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wechat_fee_matches_at_the_shops_rate_comes_back_with_a_refund_and_is_missing_without_a_rate(
) {
    let w = world().await;
    let shop = w.shop().await;
    let rates: Vec<String> = shop
        .processing_rates
        .iter()
        .map(|(p, r)| format!("{p} {r}"))
        .collect();
    assert_eq!(rates, ["wechatpay 0.0060"]);
    let before = w.balance().await;
    // 50,000.00 and the seeded order the sandbox paid.
    assert_eq!(before, "50088.00");

    // Day 1, at the demo shop's rate: 0.60% of 88.88 is 0.53328, so 0.53.
    let first_day = BusinessDate::of(w.running.stack.clock.now());
    let first = w.paid_through_wechat("FEE-1", "88.88").await;
    assert_eq!(w.balance().await, "50176.35");
    let path = format!("/shops/{SHOP}/orders/{first}");
    let order = w
        .ok_as("GET", &path, Some(w.running.demo.owner.as_str()), None)
        .await;
    assert_eq!(order["processing_fee"], "0.53", "{order}");
    // 30.00 of it back hands back 0.18 of the 0.53 (0.53 × 30 / 88.88 =
    // 0.179, and 0.60% of 30.00): the shop gives 29.82.
    let refund = w.refunded(&first, "30.00").await;
    assert_eq!(refund["status"], "SUCCEEDED", "{refund}");
    assert_eq!(refund["fee_returned"], "0.18", "{refund}");
    assert_eq!(w.balance().await, "50146.53");

    // Day 2, after the operator set the shop up again without a rate.
    let setup = json!({"name": shop.name, "owner_operator_id": shop.owner_operator_id});
    let again = w
        .ok_as(
            "PUT",
            &format!("/admin/shops/{SHOP}"),
            w.admin(),
            Some(setup),
        )
        .await;
    assert_eq!(again["processing_rates"], json!({}));
    w.advance_to_next_day().await;
    let second_day = first_day.succ();
    let second = w.paid_through_wechat("FEE-2", "100.00").await;
    assert_eq!(w.balance().await, "50246.53");

    // Both days' bills are published once the second day has ended.
    w.ok_as(
        "PUT",
        "/sandbox/simulators",
        None,
        Some(json!({"bill_publish_delay_s": 0})),
    )
    .await;
    w.advance_to_next_day().await;
    for day in [first_day, second_day] {
        w.ok_as(
            "POST",
            &format!("/admin/reconciliations/{day}"),
            w.admin(),
            None,
        )
        .await;
    }
    assert_eq!(
        w.rows_of(first_day, &first).await,
        [
            row("PAYMENT", "MATCHED", "88.88", "88.88", ""),
            row("FEE", "MATCHED", "0.53", "0.53", ""),
            row("REFUND", "MATCHED", "30.00", "30.00", ""),
            row("FEE_RETURNED", "MATCHED", "0.18", "0.18", ""),
        ]
    );
    // Discrepancies come first in a report.
    let second_rows = w.rows_of(second_day, &second).await;
    assert_eq!(second_rows.len(), 2, "{second_rows:?}");
    assert_eq!(
        second_rows[1],
        row("PAYMENT", "MATCHED", "100.00", "100.00", "")
    );
    let [kind, outcome, ledger, provider, note] = &second_rows[0];
    assert_eq!(
        (
            kind.as_str(),
            outcome.as_str(),
            ledger.as_str(),
            provider.as_str()
        ),
        ("FEE", "MISSING_IN_LEDGER", "", "0.60")
    );
    assert!(
        note.ends_with("the shop has no processing rate for this provider; set it so each payment books its fee"),
        "{note}"
    );
}
