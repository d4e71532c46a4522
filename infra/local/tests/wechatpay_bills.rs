//! Issue 15 item 8 for WeChat Pay, on one machine: the real adapter fetches
//! the simulator's bills of a day through its signed client — not before the
//! day has ended and the publish delay has run — and the reconciliation's
//! reader reads the trade bill into exactly the day's payment and refund.

mod common;

use std::io::BufReader;

use common::{world, World};
use qrpay_domain::{Amount, BusinessDate, Clock, OrderId, Provider};
use qrpay_provider::bills::{BillKind, BillOutcome};
use qrpay_provider::gateway::{RefundNo, RefundOutcome, RefundRequest};
use qrpay_reconcile::statement::{self, Format};
use qrpay_reconcile::{MovementKind, ProviderStatus};
use serde_json::{json, Value};

const SHOP: &str = "demo-shop";
const OPENID: &str = "oBillBuyer00000000000000000A";

impl World {
    async fn ok(&self, method: &str, path: &str, owner: bool, body: Option<Value>) -> Value {
        let a = self.call(method, path, owner, body).await;
        assert!(a.status < 300, "{method} {path}: {} {}", a.status, a.text());
        a.json()
    }

    async fn fetch(
        &self,
        date: BusinessDate,
        kind: BillKind,
        dest: &std::path::Path,
    ) -> BillOutcome {
        let gateway = self
            .running
            .stack
            .gateways
            .bill(Provider::Wechatpay)
            .expect("configured");
        gateway.fetch_bill(date, kind, dest).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulators_bills_are_fetched_once_published_and_read_exactly() {
    let w = world().await;
    let body = json!({"kind": "dynamic", "amount": "100.00", "out_order_no": "WXB-1", "provider": "wechatpay"});
    let code = w
        .ok("POST", &format!("/shops/{SHOP}/qr-codes"), true, Some(body))
        .await;
    let order_id = code["order_id"].as_str().unwrap().to_owned();
    let paid = w
        .ok(
            "POST",
            "/sandbox/wechatpay/pay",
            false,
            Some(json!({"code": code["provider_code"], "payer": OPENID})),
        )
        .await;
    let txn_id = paid["transaction_id"].as_str().unwrap().to_owned();
    let refund = RefundRequest {
        refund_no: RefundNo::parse("rf_wxb1").unwrap(),
        order_id: OrderId::parse(&order_id).unwrap(),
        amount: Amount::parse("10.00").unwrap(),
        order_total: Amount::parse("100.00").unwrap(),
        reason: None,
    };
    let refunds = w
        .running
        .stack
        .gateways
        .refunds(Provider::Wechatpay)
        .unwrap();
    let accepted = refunds.refund(&refund).await;
    assert!(
        matches!(
            accepted,
            RefundOutcome::InProgress | RefundOutcome::Succeeded { .. }
        ),
        "{accepted:?}"
    );
    let refund_id = match refunds
        .query_refund(&refund.order_id, &refund.refund_no)
        .await
    {
        RefundOutcome::Succeeded {
            provider_refund_id: Some(id),
        } => id,
        other => panic!("{other:?}"),
    };

    let now = w.running.stack.clock.now();
    let day = BusinessDate::of(now);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("wechatpay.csv");
    let creating = BillOutcome::NotYet {
        detail: "STATEMENT_CREATING: WeChat Pay is still making the bill".into(),
    };
    assert_eq!(
        w.fetch(day, BillKind::Trade, &dest).await,
        creating,
        "the day has not ended"
    );
    w.ok(
        "PUT",
        "/sandbox/simulators",
        false,
        Some(json!({"bill_publish_delay_s": 3600})),
    )
    .await;
    let to_midnight = (day.succ().starts_at() - now).num_seconds() + 60;
    w.ok(
        "POST",
        "/sandbox/clock",
        false,
        Some(json!({"advance_s": to_midnight})),
    )
    .await;
    assert_eq!(
        w.fetch(day, BillKind::Trade, &dest).await,
        creating,
        "the publish delay runs"
    );
    w.ok(
        "POST",
        "/sandbox/clock",
        false,
        Some(json!({"advance_s": 3600})),
    )
    .await;

    let stored = w.fetch(day, BillKind::Trade, &dest).await;
    let bytes = std::fs::metadata(&dest).unwrap().len();
    assert_eq!(stored, BillOutcome::Stored { bytes });
    let file = std::fs::File::open(&dest).unwrap();
    let rows: Vec<_> = statement::read(
        Format::Wechat,
        Provider::Wechatpay,
        day,
        BufReader::new(file),
    )
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap();
    let seen: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.line,
                r.shop_id.as_str(),
                r.kind,
                r.reference.as_str(),
                r.provider_ref.as_str(),
                r.amount_fen,
                r.fee_fen,
                r.status,
                r.payer.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (
                2,
                "0",
                MovementKind::Payment,
                order_id.as_str(),
                txn_id.as_str(),
                10_000,
                60,
                ProviderStatus::Success,
                Some(OPENID)
            ),
            (
                3,
                "0",
                MovementKind::Refund,
                order_id.as_str(),
                refund_id.as_str(),
                1_000,
                6,
                ProviderStatus::Success,
                Some(OPENID)
            ),
        ]
    );

    let fund = dir.path().join("wechatpay-fundflow.csv");
    let stored = w.fetch(day, BillKind::FundFlow, &fund).await;
    let text = std::fs::read_to_string(&fund).unwrap();
    assert_eq!(
        stored,
        BillOutcome::Stored {
            bytes: text.len() as u64
        }
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 7, "{text}");
    assert!(
        lines[1].contains(&format!(",`{txn_id},`"))
            && lines[1].contains(",`交易,`交易,`收入,`100.00,`100.00,`"),
        "{text}"
    );
    assert!(
        lines[3].contains(",`退款,`退款,`支出,`10.00,`89.40,`"),
        "{text}"
    );
    assert_eq!(lines[6], "`4,`2,`100.06,`2,`10.60");

    // The day before had nothing: no bill.
    assert_eq!(
        w.fetch(day.pred(), BillKind::Trade, &dest).await,
        BillOutcome::NoBill {
            detail: "NO_STATEMENT_EXIST: no collection or refund on the account that day".into()
        }
    );
}
