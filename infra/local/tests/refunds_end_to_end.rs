//! Merchant refunds end to end (BUYER_PAGES §11.7), on one machine: orders
//! paid through the simulated WeChat Pay and Alipay are refunded through
//! `POST …/refunds` while refunds fail, time out before or after the money
//! moved, and every notice arrives twice. The worker, its retries, the
//! sweeper and the providers' refund notices still bring every refund to
//! the state the simulated provider is in: each simulator's list of money it
//! sent back is exactly our `SUCCEEDED` refunds (ids and amounts), no refund
//! id moved money twice, each has one ledger movement, and the nightly
//! reconciliation of the day reports every refund `MATCHED`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{world, World};
use qrpay_domain::{BusinessDate, Clock, LedgerKind, Provider, ShopId};
use qrpay_reconcile::objects::{statement_key, ObjectStore};
use qrpay_reconcile::statement::{Format, StatementWriter};
use qrpay_reconcile::{MovementKind, ProviderStatus, StatementRow};
use serde_json::{json, Value};

const SHOP: &str = "demo-shop";
const ORDERS_PER_PROVIDER: usize = 8;

impl World {
    fn owner(&self) -> Option<&str> {
        Some(self.running.demo.owner.as_str())
    }

    /// A WeChat Native or Alipay precreate code of 40.00, paid by the buyer.
    async fn paid_order(&self, provider: &str, no: &str) -> String {
        let body =
            json!({"kind": "dynamic", "amount": "40.00", "out_order_no": no, "provider": provider});
        let code = self
            .ok_as(
                "POST",
                &format!("/shops/{SHOP}/qr-codes"),
                self.owner(),
                Some(body),
            )
            .await;
        let pay = json!({"code": code["provider_code"]});
        self.ok_as("POST", &format!("/sandbox/{provider}/pay"), None, Some(pay))
            .await;
        code["order_id"].as_str().unwrap().to_owned()
    }

    async fn order_refunds(&self, order: &str) -> Value {
        let path = format!("/shops/{SHOP}/orders/{order}/refunds");
        self.ok_as("GET", &path, self.owner(), None).await
    }

    async fn faults(&self, fail: f64, timeout: f64, duplicate: f64) {
        let body = json!({"transfer_fail_rate": fail, "transfer_timeout_rate": timeout,
            "callback_duplicate_rate": duplicate, "seed": 11});
        self.ok_as("PUT", "/sandbox/faults", None, Some(body)).await;
    }

    async fn advance(&self, seconds: i64) {
        let body = json!({"advance_s": seconds});
        self.ok_as("POST", "/sandbox/clock", None, Some(body)).await;
    }

    /// Every refund of `orders`, once all are final (time passes for retries).
    async fn final_refunds(&self, orders: &[(&'static str, String)]) -> Vec<(&'static str, Value)> {
        for round in 0..60 {
            if round == 8 {
                self.faults(0.0, 0.0, 1.0).await;
            }
            self.advance(300).await;
            tokio::time::sleep(Duration::from_millis(150)).await;
            let mut finals = Vec::new();
            for (provider, order) in orders {
                let listed = self.order_refunds(order).await;
                let refund = listed["refunds"][0].clone();
                if refund["status"] == "SUCCEEDED" || refund["status"] == "FAILED" {
                    finals.push((*provider, refund));
                }
            }
            if finals.len() == orders.len() {
                return finals;
            }
        }
        panic!("refunds left open");
    }
}

/// 0.60% of `fen`, half up: the fee WeChat Pay keeps from a payment under
/// the demo shop's contract, and hands back in proportion with a refund.
fn wechat_fee_fen(fen: i64) -> i64 {
    (fen * 6 + 500) / 1000
}

/// The provider's bill of `date` with the refund rows of what it sent back
/// (WeChat: its refund id; Alipay: our `out_request_no`), in its own format.
/// A WeChat row hands back 0.60% of its amount of the fee (each order is
/// refunded once); the demo shop has no Alipay rate, so none there.
fn bill_of_refunds(provider: Provider, date: BusinessDate, moved: &Value) -> Vec<u8> {
    let mut writer =
        StatementWriter::new(Format::for_provider(provider), provider, date, Vec::new()).unwrap();
    for line in moved["refunds"].as_array().unwrap() {
        let at: DateTime<Utc> = DateTime::parse_from_rfc3339(line["moved_at"].as_str().unwrap())
            .unwrap()
            .with_timezone(&Utc);
        let id = match provider {
            Provider::Alipay => &line["out_refund_no"],
            _ => &line["provider_ref"],
        };
        let amount = qrpay_domain::Amount::parse(line["amount"].as_str().unwrap()).unwrap();
        let row = StatementRow {
            line: 0,
            provider,
            shop_id: SHOP.into(),
            kind: MovementKind::Refund,
            reference: line["out_trade_no"].as_str().unwrap().into(),
            provider_ref: id.as_str().unwrap().into(),
            period: None,
            amount_fen: amount.fen(),
            fee_fen: match provider {
                Provider::Wechatpay => wechat_fee_fen(amount.fen()),
                _ => 0,
            },
            status: ProviderStatus::Success,
            occurred_at: at,
            payer: None,
        };
        writer.row(&row).unwrap();
    }
    writer.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_faults_every_refund_ends_as_the_provider_moved_it_once_and_reconciles() {
    let w = world().await;
    let mut orders = Vec::new();
    for (provider, prefix) in [("wechatpay", "RW"), ("alipay", "RA")] {
        for i in 0..ORDERS_PER_PROVIDER {
            let order = w.paid_order(provider, &format!("{prefix}-{i}")).await;
            orders.push((provider, order));
        }
    }
    w.faults(0.25, 0.4, 1.0).await;
    for (i, (_, order)) in orders.iter().enumerate() {
        let amount = format!("{}.{:02}", 5 + i, i);
        let a = w.owner_refund(order, &amount).await;
        assert_eq!(a.status, 202, "{}", a.text());
        // The same request again: the same refund, nothing more.
        let again = w.owner_refund(order, &amount).await;
        assert_eq!(again.json()["refund_id"], a.json()["refund_id"]);
    }
    let finals = w.final_refunds(&orders).await;

    // Each simulator sent back exactly our SUCCEEDED refunds, each once.
    let mut succeeded = BTreeMap::new();
    for provider in ["wechatpay", "alipay"] {
        let moved = w
            .ok_as("GET", &format!("/sandbox/{provider}/refunds"), None, None)
            .await;
        let theirs: Vec<(String, String)> = moved["refunds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["out_refund_no"].as_str().unwrap().to_owned(),
                    m["amount"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let unique: BTreeSet<&String> = theirs.iter().map(|(id, _)| id).collect();
        assert_eq!(
            unique.len(),
            theirs.len(),
            "a refund id moved twice: {moved}"
        );
        let ours: BTreeSet<(String, String)> = finals
            .iter()
            .filter(|(p, r)| *p == provider && r["status"] == "SUCCEEDED")
            .map(|(_, r)| {
                (
                    r["refund_id"].as_str().unwrap().to_owned(),
                    r["amount"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            theirs.into_iter().collect::<BTreeSet<_>>(),
            ours,
            "{provider}"
        );
        succeeded.insert(provider, (ours, moved));
    }
    let total_succeeded: usize = succeeded.values().map(|(ours, _)| ours.len()).sum();
    assert!(
        total_succeeded > 0 && total_succeeded < finals.len(),
        "the faults failed some and not all: {total_succeeded} of {}",
        finals.len()
    );
    // A failed refund gave everything back; a succeeded one is in the order.
    for (provider, refund) in &finals {
        let listed = w.order_refunds(refund["order_id"].as_str().unwrap()).await;
        let expected = if refund["status"] == "SUCCEEDED" {
            refund["amount"].clone()
        } else {
            json!("0.00")
        };
        assert_eq!(listed["refunded_amount"], expected, "{provider} {refund}");
        assert_eq!(
            listed["refunds_live_total"], expected,
            "{provider} {refund}"
        );
    }

    // One ledger movement per succeeded refund, with the provider's id.
    let stack = &w.running.stack;
    let shop = ShopId::parse(SHOP).unwrap();
    let date = BusinessDate::of(stack.clock.now());
    let ledger = stack.store.list_ledger(&shop, date).await.unwrap();
    let refund_entries: Vec<_> = ledger
        .iter()
        .filter(|e| e.kind == LedgerKind::Refund)
        .collect();
    assert_eq!(refund_entries.len(), total_succeeded, "{refund_entries:?}");
    let entry_ids: BTreeSet<&String> = refund_entries.iter().map(|e| &e.entry_id).collect();
    assert_eq!(entry_ids.len(), total_succeeded);
    // With each WeChat Pay refund, the fee's share it handed back.
    let mut returned: Vec<(String, String)> = ledger
        .iter()
        .filter(|e| e.kind == LedgerKind::FeeReturned)
        .map(|e| (e.provider_ref.clone().unwrap(), e.amount.to_string()))
        .collect();
    returned.sort();
    let mut expected: Vec<(String, String)> = refund_entries
        .iter()
        .filter(|e| e.provider == Some(Provider::Wechatpay))
        .map(|e| {
            let fee = qrpay_domain::Money::from_fen(wechat_fee_fen(e.amount.fen())).unwrap();
            (e.provider_ref.clone().unwrap(), fee.to_string())
        })
        .collect();
    expected.sort();
    assert!(!expected.is_empty(), "no WeChat Pay refund went through");
    assert_eq!(returned, expected);

    // The nightly reconciliation of the day: every refund MATCHED.
    for (provider, (_, moved)) in &succeeded {
        let provider = Provider::parse(provider).unwrap();
        let bill = bill_of_refunds(provider, date, moved);
        stack
            .objects
            .put(&statement_key(date, provider), bill, "text/csv")
            .await
            .unwrap();
    }
    w.advance(86_400).await;
    let admin = Some(w.running.demo.admin.as_str());
    w.ok_as(
        "POST",
        &format!("/admin/reconciliations/{date}"),
        admin,
        None,
    )
    .await;
    let report = reconciliation(&w, &date.to_string()).await;
    let refunds: Vec<&Value> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "REFUND")
        .collect();
    assert_eq!(refunds.len(), total_succeeded, "{report}");
    for row in refunds {
        assert_eq!(row["outcome"], "MATCHED", "{row}");
        assert_eq!(row["reconciled_amount"], row["ledger_amount"], "{row}");
    }
    let fees: Vec<&Value> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "FEE_RETURNED")
        .collect();
    assert_eq!(fees.len(), expected.len(), "{report}");
    for row in fees {
        assert_eq!(row["outcome"], "MATCHED", "{row}");
        assert_eq!(row["provider_amount"], row["ledger_amount"], "{row}");
    }
}

/// The demo shop's report of `date`, once the background run wrote it.
async fn reconciliation(w: &World, date: &str) -> Value {
    let path = format!("/shops/{SHOP}/reconciliations/{date}");
    for _ in 0..200 {
        let a = w.client.json("GET", &path, w.owner(), None).await.unwrap();
        if a.status == 200 {
            return a.json();
        }
        assert_eq!(a.status, 404, "{}", a.text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no report of {date}");
}
