//! `GET /shops/{shop_id}/orders` and `GET /shops/{shop_id}/exports/orders`
//! over HTTP (SPEC §11 "Orders"), on both stores: the listing's filters,
//! cursor and refusals, and the export's files (ids exact, formulas defused).

use std::sync::Arc;

use chrono::Duration;
use lambda_http::Body;
use qr_issue::{handle, App, MemoryPublisher};
use qrpay_domain::{
    DeviceId, Money, Order, OrderId, OrderStatus, OutOrderNo, Provider, ProviderRef, Secret,
    ShopId, TestClock,
};
use qrpay_store::alerts::MemoryAlerts;
use qrpay_store::keyring::LocalKeyring;
use qrpay_store::Store;
use qrpay_tests::events::{Answer, Event};
use qrpay_tests::world::{amount, beijing};
use serde_json::Value;

const FIXTURE: &str = "qr-issue/get-order.json";
const TXN: &str = "4200001234567890123456789012";

fn app(store: Arc<dyn Store>) -> App {
    App {
        shops: store.clone(),
        collection: store.clone(),
        payouts: store.clone(),
        leases: store,
        clock: Arc::new(TestClock::at(beijing("2026-03-03T10:00:00"))),
        token_secrets: vec![Secret::new("token-secret-current".into())].into(),
        pay_base_url: "https://pay.qrpay.example".into(),
        publisher: Arc::new(MemoryPublisher::new()),
        device_keys: Arc::new(LocalKeyring::new(&Secret::new([5u8; 32]))),
        alerts: Arc::new(MemoryAlerts::new()),
        checkout_limits: qrpay_domain::checkout::CheckoutLimits::DEFAULT,
        gateways: qrpay_provider::gateway::Gateways::default(),
        buyer: qr_issue::page::BuyerSettings {
            sandbox: true,
            wechat_h5: false,
        },
    }
}

/// Five orders of shop-1 on 2026-03-02 (one a minute from 09:01, the
/// newest last) and one of shop-2; `ord_3` is paid by WeChat Pay with a
/// 28-digit transaction id, an all-digit `out_order_no`, a device and a
/// payer text that would be a formula.
async fn seed(store: &Arc<dyn Store>) {
    for (i, shop) in [
        (1, "shop-1"),
        (2, "shop-1"),
        (3, "shop-1"),
        (4, "shop-1"),
        (5, "shop-1"),
        (6, "shop-2"),
    ] {
        let mut order = Order::created(
            OrderId::parse(&format!("ord_{i}")).unwrap(),
            ShopId::parse(shop).unwrap(),
            amount("12.30"),
            beijing("2026-03-02T09:00:00") + Duration::minutes(i),
        );
        if i == 3 {
            order.status = OrderStatus::Paid;
            order.paid_amount = Money::parse("12.30").unwrap();
            order.provider = Some(Provider::Wechatpay);
            order.provider_txn_id = Some(ProviderRef::parse(TXN).unwrap());
            order.out_order_no = Some(OutOrderNo::parse("202603020003").unwrap());
            order.device_id = Some(DeviceId::parse("pos-1").unwrap());
            order.payer_masked = Some("=HYPERLINK(\"http://x\")".into());
        }
        assert!(store.insert_order(&order).await.unwrap());
    }
}

async fn get(app: &App, path: &str, query: &[(&str, &str)]) -> lambda_http::Response<Body> {
    let event = Event::fixture(FIXTURE).path(path).query(query);
    handle(app, event.request()).await
}

async fn list(app: &App, query: &[(&str, &str)]) -> Answer {
    Answer::from(get(app, "/shops/shop-1/orders", query).await)
}

fn ids(answer: &Answer) -> Vec<&str> {
    answer.body["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["order_id"].as_str().unwrap())
        .collect()
}

async fn orders_are_listed_newest_first_and_paged_by_an_opaque_cursor(store: Arc<dyn Store>) {
    seed(&store).await;
    let app = app(store);
    let day = [("from", "2026-03-02"), ("to", "2026-03-02")];
    let first = list(&app, &[day[0], day[1], ("limit", "2")]).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(ids(&first), ["ord_5", "ord_4"]);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = list(&app, &[day[0], day[1], ("limit", "2"), ("cursor", &cursor)]).await;
    assert_eq!(ids(&second), ["ord_3", "ord_2"]);
    let paid = list(&app, &[day[0], day[1], ("status", "PAID")]).await;
    assert_eq!(ids(&paid), ["ord_3"]);
    assert_eq!(paid.body["orders"][0]["provider_txn_id"], TXN);
    assert_eq!(paid.body["orders"][0]["device_id"], "pos-1");
    assert_eq!(paid.body["next_cursor"], Value::Null);
    for filter in [
        ("provider", "wechatpay"),
        ("device_id", "pos-1"),
        ("out_order_no", "202603020003"),
    ] {
        let one = list(&app, &[day[0], day[1], filter]).await;
        assert_eq!(ids(&one), ["ord_3"], "{filter:?}");
    }
    // Without a range: the 30 days up to today (2026-03-03).
    let recent = list(&app, &[]).await;
    assert_eq!(recent.body["from"], "2026-02-02");
    assert_eq!(recent.body["to"], "2026-03-03");
    assert_eq!(ids(&recent).len(), 5);
}

async fn bad_ranges_filters_and_cursors_are_refused(store: Arc<dyn Store>) {
    seed(&store).await;
    let app = app(store);
    for (query, status, code, field) in [
        (
            vec![("from", "2026-01-01"), ("to", "2026-04-03")],
            400,
            "DATE_RANGE_TOO_WIDE",
            "to",
        ),
        (
            vec![("from", "2026-03-02"), ("to", "2026-03-01")],
            400,
            "INVALID_REQUEST",
            "from",
        ),
        (vec![("from", "2026-3-2")], 400, "INVALID_REQUEST", "from"),
        (
            vec![("status", "SHIPPED")],
            400,
            "INVALID_REQUEST",
            "status",
        ),
        (
            vec![("provider", "paypal")],
            400,
            "INVALID_REQUEST",
            "provider",
        ),
        (
            vec![("device_id", "pos.1")],
            400,
            "INVALID_REQUEST",
            "device_id",
        ),
        (vec![("cursor", "zz")], 400, "INVALID_REQUEST", "cursor"),
        (vec![("limit", "0")], 400, "INVALID_REQUEST", "limit"),
        (vec![("colour", "red")], 400, "INVALID_REQUEST", "colour"),
    ] {
        let a = list(&app, &query).await;
        assert_eq!(
            (a.status, a.code()),
            (status, code),
            "{query:?}: {}",
            a.body
        );
        assert_eq!(a.body["error"]["field"], field, "{query:?}");
    }
    let other = Answer::from(get(&app, "/shops/shop-2/orders", &[]).await);
    assert_eq!((other.status, other.code()), (403, "FORBIDDEN"));
}

fn bytes(response: &lambda_http::Response<Body>) -> Vec<u8> {
    match response.body() {
        Body::Binary(b) => b.clone(),
        Body::Text(t) => t.clone().into_bytes(),
        Body::Empty => Vec::new(),
        _ => Vec::new(),
    }
}

fn header<'r>(response: &'r lambda_http::Response<Body>, name: &str) -> &'r str {
    response.headers()[name].to_str().unwrap()
}

async fn the_export_is_a_csv_or_xlsx_file_keeping_ids_as_text(store: Arc<dyn Store>) {
    seed(&store).await;
    let app = app(store);
    let path = "/shops/shop-1/exports/orders";
    let day = [("from", "2026-03-02"), ("to", "2026-03-02")];
    let csv = get(&app, path, &day).await;
    assert_eq!(csv.status(), 200);
    assert_eq!(header(&csv, "content-type"), "text/csv; charset=utf-8");
    assert_eq!(
        header(&csv, "content-disposition"),
        "attachment; filename=\"orders-shop-1-2026-03-02-2026-03-02.csv\""
    );
    let text = String::from_utf8(bytes(&csv)).unwrap();
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert!(lines[0].starts_with("\u{feff}日期,订单编号,商户订单号,顾客信息摘要,分期信息,扣款状态"));
    assert_eq!(
        lines.len(),
        7,
        "header, five orders, the final CRLF: {text}"
    );
    assert_eq!(
        lines[3],
        format!(
            "2026-03-02,ord_3,\"\t202603020003\",\"'=HYPERLINK(\"\"http://x\"\")\",,,12.30,12.30,0.00,PAID,wechatpay,\"\t{TXN}\",pos-1,2026-03-02T09:03:00.000+08:00,"
        )
    );
    let en = get(&app, path, &[day[0], day[1], ("lang", "en")]).await;
    let text = String::from_utf8(bytes(&en)).unwrap();
    assert!(
        text.starts_with("\u{feff}date,order_id,out_order_no,customer,"),
        "{text}"
    );
    let xlsx = get(&app, path, &[day[0], day[1], ("format", "xlsx")]).await;
    assert_eq!(xlsx.status(), 200);
    assert_eq!(
        header(&xlsx, "content-type"),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert!(header(&xlsx, "content-disposition").ends_with(".xlsx\""));
    assert!(bytes(&xlsx).starts_with(b"PK\x03\x04"), "a zip container");
    for (query, field) in [
        (vec![("format", "pdf")], "format"),
        (vec![("lang", "fr")], "lang"),
    ] {
        let a = Answer::from(get(&app, path, &query).await);
        assert_eq!((a.status, a.code()), (400, "INVALID_REQUEST"), "{query:?}");
        assert_eq!(a.body["error"]["field"], field);
    }
    let wide = Answer::from(get(&app, path, &[("from", "2025-01-01"), ("to", "2026-03-02")]).await);
    assert_eq!((wide.status, wide.code()), (400, "DATE_RANGE_TOO_WIDE"));
}

qrpay_tests::on_both_stores!(
    orders_are_listed_newest_first_and_paged_by_an_opaque_cursor,
    bad_ranges_filters_and_cursors_are_refused,
    the_export_is_a_csv_or_xlsx_file_keeping_ids_as_text,
);
