//! Listing a shop's orders (SPEC §11 "Orders"), the same on both adapters:
//! newest first by creation time, within a range of Beijing business days,
//! filtered, and paged by a cursor that never skips or repeats an order.
//! `tests/tests/orders_contract.rs` runs every case on both stores.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use qrpay_domain::{
    BusinessDate, DateRange, DeviceId, Money, Order, OrderFilter, OrderId, OrderStatus, OutOrderNo,
    Provider, ProviderRef, ShopId,
};
use qrpay_store::{OrderPosition, OrderQuery, Store};

use crate::world::{amount, beijing};

#[macro_export]
macro_rules! for_each_orders_case {
    ($callback:ident!($($args:tt)*)) => {
        $callback!($($args)*;
            orders_are_listed_newest_first_within_beijing_days_and_paged_without_gaps,
            filters_hold_across_pages_and_a_short_page_still_continues,
            a_cursor_from_outside_the_range_neither_repeats_nor_invents_orders,
        );
    };
}

fn date(text: &str) -> BusinessDate {
    BusinessDate::parse(text).unwrap()
}

fn shop(name: &str) -> ShopId {
    ShopId::parse(name).unwrap()
}

/// The order of the test with these traits, created at `at`.
struct Spec {
    id: &'static str,
    shop: &'static str,
    at: DateTime<Utc>,
    status: OrderStatus,
    provider: Option<Provider>,
    device: Option<&'static str>,
    out_order_no: Option<&'static str>,
}

fn spec(id: &'static str, at: DateTime<Utc>) -> Spec {
    Spec {
        id,
        shop: "shop-1",
        at,
        status: OrderStatus::Created,
        provider: None,
        device: None,
        out_order_no: None,
    }
}

async fn insert(store: &Arc<dyn Store>, spec: Spec) -> Order {
    let paid = spec.status != OrderStatus::Created && spec.status != OrderStatus::Closed;
    let order = Order {
        status: spec.status,
        paid_amount: if paid {
            Money::parse("12.30").unwrap()
        } else {
            Money::ZERO
        },
        provider: spec.provider,
        provider_txn_id: spec
            .provider
            .map(|_| ProviderRef::parse("4200001234567890123456789012").unwrap()),
        device_id: spec.device.map(|d| DeviceId::parse(d).unwrap()),
        out_order_no: spec.out_order_no.map(|o| OutOrderNo::parse(o).unwrap()),
        ..Order::created(
            OrderId::parse(spec.id).unwrap(),
            shop(spec.shop),
            amount("12.30"),
            spec.at,
        )
    };
    assert!(store.insert_order(&order).await.unwrap(), "{}", spec.id);
    order
}

fn query(range: DateRange, filter: OrderFilter, limit: usize) -> OrderQuery {
    OrderQuery {
        shop_id: shop("shop-1"),
        range,
        filter,
        after: None,
        limit,
    }
}

/// Every page of `query` from its start: the ids of each page, in order.
async fn pages(store: &Arc<dyn Store>, mut query: OrderQuery) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    loop {
        let page = store.list_shop_orders(&query).await.unwrap();
        assert!(
            page.orders.len() <= query.limit,
            "a page holds at most its limit"
        );
        pages.push(
            page.orders
                .iter()
                .map(|o| o.order_id.to_string())
                .collect::<Vec<_>>(),
        );
        match page.next {
            Some(next) => query.after = Some(next),
            None => return pages,
        }
        assert!(pages.len() < 50, "the walk ends");
    }
}

fn flat(pages: &[Vec<String>]) -> Vec<&str> {
    pages.iter().flatten().map(String::as_str).collect()
}

pub async fn orders_are_listed_newest_first_within_beijing_days_and_paged_without_gaps(
    store: Arc<dyn Store>,
) {
    let day1 = beijing("2026-03-01T00:00:00");
    let day3_end = beijing("2026-03-04T00:00:00");
    let noon = beijing("2026-03-02T12:00:00");
    for s in [
        spec("ord_before", day1 - Duration::milliseconds(1)),
        spec("ord_first", day1),
        spec("ord_tie_a", noon),
        spec("ord_tie_b", noon),
        spec("ord_mid", noon + Duration::milliseconds(1)),
        spec("ord_last", day3_end - Duration::milliseconds(1)),
        spec("ord_after", day3_end),
        Spec {
            shop: "shop-2",
            ..spec("ord_other_shop", noon)
        },
    ] {
        insert(&store, s).await;
    }
    let range = DateRange::new(date("2026-03-01"), date("2026-03-03")).unwrap();
    let walked = pages(&store, query(range, OrderFilter::default(), 2)).await;
    assert_eq!(
        flat(&walked),
        ["ord_last", "ord_mid", "ord_tie_b", "ord_tie_a", "ord_first"],
        "newest first, ties by id, both Beijing midnights respected: {walked:?}"
    );
    assert_eq!(walked[0], ["ord_last", "ord_mid"], "a first page is full");
    let one_day = pages(
        &store,
        query(
            DateRange::day(date("2026-02-28")),
            OrderFilter::default(),
            10,
        ),
    )
    .await;
    assert_eq!(flat(&one_day), ["ord_before"]);
}

pub async fn filters_hold_across_pages_and_a_short_page_still_continues(store: Arc<dyn Store>) {
    let t = |minute: i64| beijing("2026-03-02T09:00:00") + Duration::minutes(minute);
    let paid = |id, minute, provider| Spec {
        status: OrderStatus::Paid,
        provider: Some(provider),
        ..spec(id, t(minute))
    };
    for s in [
        Spec {
            device: Some("pos-1"),
            out_order_no: Some("202603020001"),
            ..paid("ord_a", 1, Provider::Wechatpay)
        },
        spec("ord_b", t(2)),
        spec("ord_c", t(3)),
        Spec {
            device: Some("pos-2"),
            ..paid("ord_d", 4, Provider::Alipay)
        },
        spec("ord_e", t(5)),
        Spec {
            device: Some("pos-1"),
            ..paid("ord_f", 6, Provider::Wechatpay)
        },
        Spec {
            status: OrderStatus::Closed,
            device: Some("pos-1"),
            ..spec("ord_g", t(7))
        },
    ] {
        insert(&store, s).await;
    }
    let range = DateRange::day(date("2026-03-02"));
    let by = |filter: OrderFilter| query(range, filter, 1);
    let paid_only = pages(
        &store,
        by(OrderFilter {
            status: Some(OrderStatus::Paid),
            ..OrderFilter::default()
        }),
    )
    .await;
    assert_eq!(flat(&paid_only), ["ord_f", "ord_d", "ord_a"]);
    let wechat = pages(
        &store,
        by(OrderFilter {
            provider: Some(Provider::Wechatpay),
            ..OrderFilter::default()
        }),
    )
    .await;
    assert_eq!(flat(&wechat), ["ord_f", "ord_a"]);
    let device = pages(
        &store,
        query(
            range,
            OrderFilter {
                device_id: Some(DeviceId::parse("pos-1").unwrap()),
                ..OrderFilter::default()
            },
            2,
        ),
    )
    .await;
    assert_eq!(flat(&device), ["ord_g", "ord_f", "ord_a"]);
    let out_order_no = pages(
        &store,
        by(OrderFilter {
            out_order_no: Some(OutOrderNo::parse("202603020001").unwrap()),
            status: Some(OrderStatus::Paid),
            ..OrderFilter::default()
        }),
    )
    .await;
    assert_eq!(flat(&out_order_no), ["ord_a"]);
    // The two newest do not match: a page walks past them to fill its room,
    // and continues from the last order it examined.
    let first = store
        .list_shop_orders(&query(
            range,
            OrderFilter {
                status: Some(OrderStatus::Created),
                ..OrderFilter::default()
            },
            1,
        ))
        .await
        .unwrap();
    assert_eq!(first.orders.len(), 1);
    assert_eq!(first.orders[0].order_id.as_str(), "ord_e");
    assert!(first.next.is_some());
}

pub async fn a_cursor_from_outside_the_range_neither_repeats_nor_invents_orders(
    store: Arc<dyn Store>,
) {
    let noon = beijing("2026-03-02T12:00:00");
    for s in [
        spec("ord_x", noon),
        spec("ord_y", noon + Duration::hours(1)),
    ] {
        insert(&store, s).await;
    }
    let range = DateRange::day(date("2026-03-02"));
    let mut q = query(range, OrderFilter::default(), 10);
    // A cursor newer than the range starts at its newest order.
    q.after = Some(OrderPosition::at(
        beijing("2026-03-05T00:00:00"),
        OrderId::parse("ord_z").unwrap(),
    ));
    let page = store.list_shop_orders(&q).await.unwrap();
    let ids: Vec<&str> = page.orders.iter().map(|o| o.order_id.as_str()).collect();
    assert_eq!(ids, ["ord_y", "ord_x"]);
    assert_eq!(page.next, None);
    // One older than the range finds nothing.
    q.after = Some(OrderPosition::at(
        beijing("2026-03-01T00:00:00"),
        OrderId::parse("ord_z").unwrap(),
    ));
    let page = store.list_shop_orders(&q).await.unwrap();
    assert!(page.orders.is_empty());
    assert_eq!(page.next, None);
    // The position of ord_y itself continues with ord_x only.
    q.after = Some(OrderPosition::at(
        noon + Duration::hours(1),
        OrderId::parse("ord_y").unwrap(),
    ));
    let page = store.list_shop_orders(&q).await.unwrap();
    let ids: Vec<&str> = page.orders.iter().map(|o| o.order_id.as_str()).collect();
    assert_eq!(ids, ["ord_x"]);
}
