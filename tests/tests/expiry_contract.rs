//! Orders that expire unpaid (SPEC §10), run against both adapters: the
//! in-memory store and DynamoDB in the moto emulator; then what only
//! DynamoDB has: the sparse index entries and the TTL of a closed order.

use chrono::Duration;
use qrpay_aws::dynamo::TTL_ATTRIBUTE;
use qrpay_domain::{OrderId, OrderStatus};
use qrpay_store::{Closing, CLOSED_ORDER_RETENTION_S};
use qrpay_tests::collection_contract::{apply, at, payment};
use qrpay_tests::expiry_contract::expiring_order;
use qrpay_tests::{dynamo_client, emulator, World};

macro_rules! expiry_suite {
    ($factory:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                qrpay_tests::expiry_contract::$case($factory().await).await;
            }
        )*
    };
}

mod memory {
    qrpay_tests::for_each_expiry_case!(expiry_suite!(qrpay_tests::memory_port));
}

mod dynamodb {
    qrpay_tests::for_each_expiry_case!(expiry_suite!(qrpay_tests::dynamo_port));
}

type Item = std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>;

async fn raw(table: &str, pk: &str, sk: &str) -> Item {
    let key = |v: &str| aws_sdk_dynamodb::types::AttributeValue::S(v.to_owned());
    dynamo_client(emulator::endpoint())
        .get_item()
        .table_name(table)
        .key("PK", key(pk))
        .key("SK", key(sk))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_else(|| panic!("no item {pk} {sk}"))
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .map(|n| n.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_indexes_only_unpaid_expiring_orders_and_removes_closed_ones_by_ttl() {
    let store = qrpay_tests::dynamo_store().await;
    let table = store.table_name().to_owned();
    let w = World::new(store, "15000.00", "0.00").await;
    let open = expiring_order(&w, "ord_open", Some(900)).await;
    let item = raw(&table, "SHOP#shop-1", "ORDER#ord_open").await;
    assert_eq!(text(&item, "GSI3PK"), Some("OPENORDER"));
    let expires_ms = open.expires_at.unwrap().timestamp_millis();
    assert_eq!(
        text(&item, "GSI3SK").unwrap(),
        format!("{expires_ms:013}#shop-1#ord_open")
    );
    assert_eq!(number(&item, TTL_ATTRIBUTE), None, "an open order is kept");
    expiring_order(&w, "ord_never", None).await;
    let never = raw(&table, "SHOP#shop-1", "ORDER#ord_never").await;
    assert_eq!(text(&never, "GSI3PK"), None);

    // Paid: out of the index, no TTL (kept for years with its ledger).
    expiring_order(&w, "ord_paid", Some(900)).await;
    let id = OrderId::parse("ord_paid").unwrap();
    apply(w.store.as_ref(), &payment(&id, "n-1", "t-1", "9.90")).await;
    let paid = raw(&table, "SHOP#shop-1", "ORDER#ord_paid").await;
    assert_eq!(text(&paid, "order_status"), Some("PAID"));
    assert_eq!((text(&paid, "GSI3PK"), text(&paid, "GSI3SK")), (None, None));
    assert_eq!(number(&paid, TTL_ATTRIBUTE), None);

    // Closed: out of the index; the order and its pointer expire 35 days on.
    let closing = w
        .store
        .close_expired_order(&w.shop, &open.order_id, at(1_000))
        .await
        .unwrap();
    assert!(matches!(closing, Some(Closing::Closed(ref o)) if o.status == OrderStatus::Closed));
    let purge_s = (at(1_000) + Duration::seconds(CLOSED_ORDER_RETENTION_S)).timestamp();
    assert_eq!(CLOSED_ORDER_RETENTION_S, 35 * 24 * 3600);
    let closed = raw(&table, "SHOP#shop-1", "ORDER#ord_open").await;
    assert_eq!(text(&closed, "order_status"), Some("CLOSED"));
    assert_eq!(
        (text(&closed, "GSI3PK"), text(&closed, "GSI3SK")),
        (None, None)
    );
    assert_eq!(number(&closed, TTL_ATTRIBUTE), Some(purge_s));
    let pointer = raw(&table, "ORDER#ord_open", "ORDER").await;
    assert_eq!(number(&pointer, TTL_ATTRIBUTE), Some(purge_s));
    assert_eq!(text(&pointer, "shop_id"), Some("shop-1"));
}
