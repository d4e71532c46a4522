//! `POST /sandbox/console-refunds`: a refund made in the sandbox provider's
//! own console reaches its bill and never qrpay; it can never exceed what
//! the payment left, and bad requests change nothing.

mod common;

use common::world;
use serde_json::{json, Value};

#[tokio::test]
async fn a_console_refund_is_in_the_bill_and_bounded_by_the_payment() {
    let w = world().await;
    let code = w
        .owner_call(
            "POST",
            "/shops/demo-shop/qr-codes",
            Some(json!({"kind": "dynamic", "amount": "30.00", "out_order_no": "CONSOLE-1"})),
        )
        .await;
    let qr = code["qr_id"].as_str().unwrap();
    let paid = w
        .call("POST", &format!("/sandbox/qr-codes/{qr}/pay"), false, None)
        .await
        .json();
    let txn = paid["provider_txn_id"].as_str().unwrap().to_owned();
    let refund = |body: Value| {
        let w = &w;
        async move {
            w.call("POST", "/sandbox/console-refunds", false, Some(body))
                .await
        }
    };
    let code_of = |a: &qrpay_local::client::Answer| a.json()["error"]["code"].clone();

    let first = refund(json!({"provider_txn_id": txn, "amount": "12.00"})).await;
    assert_eq!(first.status, 201, "{}", first.text());
    assert_eq!(first.json()["amount"], "12.00");
    assert_eq!(first.json()["order_id"], code["order_id"]);
    // 18.00 is left: 18.01 is refused, and so is anything unreadable.
    let over = refund(json!({"provider_txn_id": txn, "amount": "18.01"})).await;
    assert_eq!((over.status, code_of(&over)), (409, json!("INVALID_STATE")));
    let unknown = refund(json!({"provider_txn_id": "sbx_tx_nope", "amount": "1.00"})).await;
    assert_eq!(
        (unknown.status, code_of(&unknown)),
        (404, json!("ORDER_NOT_FOUND"))
    );
    for bad in [
        json!({"provider_txn_id": txn}),
        json!({"provider_txn_id": txn, "amount": "-1.00"}),
        json!({"provider_txn_id": txn, "amount": "1.00", "extra": 1}),
    ] {
        let answer = refund(bad.clone()).await;
        assert_eq!(
            (answer.status, code_of(&answer)),
            (400, json!("INVALID_REQUEST")),
            "{bad}"
        );
    }
    let rest = refund(json!({"provider_txn_id": txn, "amount": "18.00"})).await;
    assert_eq!(rest.status, 201, "{}", rest.text());

    // The provider's bill of the day lists both refunds; qrpay's order
    // knows of none.
    let order = w
        .owner_call(
            "GET",
            &format!(
                "/shops/demo-shop/orders/{}",
                code["order_id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(order["refunded_amount"], "0.00");
    let date = order["created_at"].as_str().unwrap()[..10].to_owned();
    let bill = w
        .call("GET", &format!("/sandbox/bills/{date}"), false, None)
        .await
        .text();
    let refunds: Vec<&str> = bill
        .lines()
        .filter(|l| l.contains(",REFUND,") && l.contains("sbx_console_rf_"))
        .collect();
    assert_eq!(refunds.len(), 2, "{bill}");
}
