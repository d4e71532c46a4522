//! The qr-issue function called with the events in `events/qr-issue/`, on
//! both stores: merchant codes, POS devices over HTTPS and IoT, the payment
//! link, images and payloads.

use std::sync::Arc;

use qr_issue::device::{sign, Signed};
use qr_issue::{handle, App, MemoryPublisher};
use qrpay_domain::{Device, DeviceId, OrderStatus, OutOrderNo, QrId, Secret, ShopId, TestClock};
use qrpay_qr::emv;
use qrpay_store::alerts::MemoryAlerts;
use qrpay_store::keyring::{DeviceKeyring, LocalKeyring};
use qrpay_store::{Issued, Store};
use qrpay_tests::events::{Answer, Event};
use qrpay_tests::world::morning;
use qrpay_tests::World;
use serde_json::{json, Value};

const DYNAMIC: &str = "qr-issue/create-dynamic-qr.json";
const STATIC: &str = "qr-issue/create-static-qr.json";
const GET: &str = "qr-issue/get-qr.json";
const REVOKE: &str = "qr-issue/revoke-qr.json";
const ORDER: &str = "qr-issue/get-order.json";
const POS: &str = "qr-issue/pos-create-qr.json";
const PAY: &str = "qr-issue/pay-checkout.json";
const POS_SECRET: &str = "pos-1-secret-0123456789";
const BASE_URL: &str = "https://pay.qrpay.example";

struct Harness {
    app: App,
    world: World,
    clock: Arc<TestClock>,
    publisher: Arc<MemoryPublisher>,
    alerts: Arc<MemoryAlerts>,
}

impl Harness {
    /// shop-1 with the default monthly-pay terms and a POS device `pos-1`.
    async fn new(store: Arc<dyn Store>) -> Harness {
        let world = World::new(store.clone(), "15000.00", "0.00").await;
        let device_keys = Arc::new(LocalKeyring::new(&Secret::new([5u8; 32])));
        let pos_1 = DeviceId::parse("pos-1").unwrap();
        let device = Device {
            secret: device_keys
                .seal(&pos_1, &Secret::new(POS_SECRET.into()))
                .await
                .unwrap(),
            device_id: pos_1,
            shop_id: world.shop.clone(),
            updated_at: morning(),
        };
        store.put_device(&device).await.unwrap();
        let clock = Arc::new(TestClock::at(morning()));
        let publisher = Arc::new(MemoryPublisher::new());
        let alerts = Arc::new(MemoryAlerts::new());
        let app = App {
            shops: store.clone(),
            collection: store.clone(),
            payouts: store.clone(),
            leases: store.clone(),
            clock: clock.clone(),
            token_secrets: vec![Secret::new("token-secret-current".into())].into(),
            pay_base_url: BASE_URL.into(),
            publisher: publisher.clone(),
            device_keys,
            alerts: alerts.clone(),
            checkout_limits: qrpay_domain::checkout::CheckoutLimits::DEFAULT,
            gateways: qrpay_provider::gateway::Gateways::default(),
            buyer: qr_issue::page::BuyerSettings {
                sandbox: true,
                wechat_h5: false,
            },
        };
        Harness {
            app,
            world,
            clock,
            publisher,
            alerts,
        }
    }

    async fn send(&self, event: Event) -> Answer {
        Answer::from(handle(&self.app, event.request()).await)
    }

    async fn issue(&self, body: Value) -> Answer {
        self.send(Event::fixture(DYNAMIC).json_body(body)).await
    }

    async fn get(&self, qr_id: &str) -> Answer {
        let path = format!("/shops/shop-1/qr-codes/{qr_id}");
        self.send(Event::fixture(GET).path(&path)).await
    }

    async fn order(&self, order_id: &str) -> Answer {
        let path = format!("/shops/shop-1/orders/{order_id}");
        self.send(Event::fixture(ORDER).path(&path)).await
    }

    /// The buyer opens the link (`GET`) or checks out (`POST`, optional amount).
    async fn pay(&self, url: &str, method: &str, body: Option<Value>) -> Answer {
        let path = url.strip_prefix(BASE_URL).expect("link on our base URL");
        let event = Event::fixture(PAY).path(path).method(method);
        let event = match body {
            Some(b) => event.json_body(b),
            None => event.no_body(),
        };
        self.send(event).await
    }

    /// A POS request signed with `secret` at `ts` with `nonce`.
    async fn pos(&self, body: &Value, ts: i64, nonce: &str, secret: &str) -> Answer {
        let text = body.to_string();
        let path = "/devices/pos-1/qr-codes";
        let head = Signed {
            method: "POST",
            path,
            query: "",
            timestamp: ts,
            nonce,
        };
        let signature = sign(secret.as_bytes(), head, text.as_bytes());
        let event = Event::fixture(POS)
            .body(&text)
            .header("x-qrpay-timestamp", &ts.to_string())
            .header("x-qrpay-nonce", nonce)
            .header("x-qrpay-signature", &signature);
        self.send(event).await
    }

    fn now_s(&self) -> i64 {
        use qrpay_domain::Clock;
        self.clock.now().timestamp()
    }
}

fn dynamic_body(no: &str, amount: &str) -> Value {
    json!({"kind": "dynamic", "amount": amount, "out_order_no": no})
}

qrpay_tests::on_both_stores!(
    a_dynamic_code_with_a_plan_creates_its_order,
    a_repeat_returns_the_same_code_and_other_parameters_conflict,
    a_repeat_must_match_every_field_as_it_was_given,
    a_code_stored_with_the_old_fingerprint_is_still_replayed,
    an_expired_code_cannot_be_paid,
    a_revoked_code_cannot_be_paid_and_its_order_closes,
    bad_requests_are_refused_and_create_nothing,
    another_shop_is_forbidden,
    pos_requests_need_a_good_fresh_signature_and_a_new_nonce,
    pos_signatures_cover_the_query_and_hide_which_devices_exist,
    iot_requests_are_answered_on_the_device_topic,
    a_static_code_opens_an_order_for_the_typed_amount,
    the_png_decodes_back_to_the_payment_link,
    the_page_answers_html_to_a_browser_and_json_to_a_client,
    the_pages_form_commits_once_and_refuses_bad_input_first,
    a_receipt_link_names_one_order_and_no_other_token_opens_it,
);

async fn a_dynamic_code_with_a_plan_creates_its_order(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let a = h.send(Event::fixture(DYNAMIC)).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let b = &a.body;
    assert_eq!(b["kind"], "dynamic");
    assert_eq!(b["status"], "ACTIVE");
    assert_eq!(b["amount"], "300.00");
    assert_eq!(b["out_order_no"], "POS-20260302-0001");
    assert_eq!(b["expires_at"], "2026-03-02T10:15:00.000+08:00");
    let url = b["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!(
            "{BASE_URL}/pay/v1.{}.shop-1.",
            b["qr_id"].as_str().unwrap()
        )),
        "{url}"
    );
    // The EMV payload: dynamic, CNY, the amount, a valid CRC.
    let payload = b["emv"].as_str().unwrap();
    emv::verify_crc(payload).unwrap();
    let tags: std::collections::HashMap<String, String> =
        emv::decode(payload).unwrap().into_iter().collect();
    assert_eq!(
        (
            tags["01"].as_str(),
            tags["53"].as_str(),
            tags["54"].as_str()
        ),
        ("12", "156", "300.00")
    );
    assert!(b["svg"].as_str().unwrap().starts_with("<svg"));
    // 300.00 over 3 periods, the shop bears 2.30%: 100.00 each, fee 6.90.
    let plan = &b["instalment_plan"];
    assert_eq!(plan["periods"], 3);
    assert_eq!(plan["fee_payer"], "shop");
    assert_eq!(plan["fee"], "6.90");
    assert_eq!(plan["first_amount"], "100.00");
    assert_eq!(
        plan["schedule"],
        json!([
            {"period": 1, "amount": "100.00"}, {"period": 2, "amount": "100.00"}, {"period": 3, "amount": "100.00"}
        ])
    );
    let order = h.order(b["order_id"].as_str().unwrap()).await;
    assert_eq!(order.status, 200);
    assert_eq!(order.body["status"], "CREATED");
    assert_eq!(order.body["amount"], "300.00");
    assert_eq!(order.body["paid_amount"], "0.00");
    assert_eq!(order.body["payouts_live_total"], "0.00");
    assert_eq!(order.body["payouts_live_count"], 0);
    assert_eq!(
        order.body["processing_fee"], "0.00",
        "the sandbox keeps none"
    );
    assert_eq!(order.body["instalment_plan"], *plan);
    assert_eq!(
        order.body["deductions"],
        json!(["PENDING", "PENDING", "PENDING"])
    );
    let fetched = h.get(b["qr_id"].as_str().unwrap()).await;
    assert_eq!((fetched.status, &fetched.body["url"]), (200, &b["url"]));
}

async fn a_repeat_returns_the_same_code_and_other_parameters_conflict(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let first = h.issue(dynamic_body("A-1", "88.00")).await;
    assert_eq!(first.status, 201);
    assert!(first.headers.get("idempotent-replayed").is_none());
    h.clock.advance_ms(5_000);
    let again = h.issue(dynamic_body("A-1", "88.00")).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body["qr_id"], first.body["qr_id"]);
    assert_eq!(again.body["order_id"], first.body["order_id"]);
    assert_eq!(again.body["url"], first.body["url"]);
    let conflict = h.issue(dynamic_body("A-1", "88.01")).await;
    assert_eq!(
        (conflict.status, conflict.code()),
        (409, "OUT_ORDER_NO_CONFLICT")
    );
    let with_plan = h.issue(json!({"kind": "dynamic", "amount": "88.00", "out_order_no": "A-1", "description": "x"})).await;
    assert_eq!(with_plan.status, 409);
}

async fn a_repeat_must_match_every_field_as_it_was_given(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let mut body = dynamic_body("TILL-9", "12.00");
    body["description"] = json!("x|pos-1");
    let from_app = h.issue(body).await;
    assert_eq!(
        (from_app.status, &from_app.body["device_id"]),
        (201, &Value::Null)
    );
    // The same order number from the till, whose code is bound to pos-1: not a repeat.
    let mut body = dynamic_body("TILL-9", "12.00");
    body["description"] = json!("x");
    let from_till = h.pos(&body, h.now_s(), "nonce-collide-1", POS_SECRET).await;
    assert_eq!(
        (from_till.status, from_till.code()),
        (409, "OUT_ORDER_NO_CONFLICT"),
        "{}",
        from_till.body
    );
    // An empty description is not the absence of one.
    let bare = h.issue(dynamic_body("TILL-10", "12.00")).await;
    assert_eq!(bare.status, 201);
    let mut body = dynamic_body("TILL-10", "12.00");
    body["description"] = json!("");
    let empty = h.issue(body).await;
    assert_eq!(
        (empty.status, empty.code()),
        (409, "OUT_ORDER_NO_CONFLICT"),
        "{}",
        empty.body
    );
}

async fn a_code_stored_with_the_old_fingerprint_is_still_replayed(store: Arc<dyn Store>) {
    use sha2::{Digest, Sha256};
    let h = Harness::new(store).await;
    let first = h.issue(dynamic_body("OLD-1", "88.00")).await;
    let qr_id = QrId::parse(first.body["qr_id"].as_str().unwrap()).unwrap();
    let collection = &h.app.collection;
    let mut old = collection
        .get_qr(&h.world.shop, &qr_id)
        .await
        .unwrap()
        .unwrap();
    // A code for OLD-2 as it was stored before: its fields joined with `|`.
    old.qr_id = QrId::parse("qr_issued_before").unwrap();
    old.out_order_no = Some(OutOrderNo::parse("OLD-2").unwrap());
    old.fingerprint = hex::encode(Sha256::digest(b"dynamic|88.00|OLD-2||||"));
    assert!(matches!(
        collection.issue_qr(&old, None).await.unwrap(),
        Issued::Created(_)
    ));
    let again = h.issue(dynamic_body("OLD-2", "88.00")).await;
    assert_eq!(
        (
            again.status,
            &again.body["qr_id"],
            again
                .headers
                .get("idempotent-replayed")
                .map(|v| v.as_bytes())
        ),
        (201, &json!("qr_issued_before"), Some(&b"true"[..])),
        "{}",
        again.body
    );
    let other = h.issue(dynamic_body("OLD-2", "88.01")).await;
    assert_eq!((other.status, other.code()), (409, "OUT_ORDER_NO_CONFLICT"));
}

async fn an_expired_code_cannot_be_paid(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let a = h.issue(json!({"kind": "dynamic", "amount": "10.00", "out_order_no": "E-1", "expires_in_s": 60})).await;
    let url = a.body["url"].as_str().unwrap().to_owned();
    let qr = a.body["qr_id"].as_str().unwrap().to_owned();
    assert_eq!(h.pay(&url, "GET", None).await.status, 200);
    h.clock.advance_ms(59_999);
    assert_eq!(h.get(&qr).await.body["status"], "ACTIVE");
    h.clock.advance_ms(1);
    assert_eq!(h.get(&qr).await.body["status"], "EXPIRED");
    let show = h.pay(&url, "GET", None).await;
    assert_eq!((show.status, show.code()), (410, "QR_EXPIRED"));
    let checkout = h.pay(&url, "POST", None).await;
    assert_eq!((checkout.status, checkout.code()), (410, "QR_EXPIRED"));
}

async fn a_revoked_code_cannot_be_paid_and_its_order_closes(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let a = h.issue(dynamic_body("R-1", "10.00")).await;
    let url = a.body["url"].as_str().unwrap().to_owned();
    let qr = a.body["qr_id"].as_str().unwrap().to_owned();
    let path = format!("/shops/shop-1/qr-codes/{qr}");
    let revoke = h.send(Event::fixture(REVOKE).path(&path)).await;
    assert_eq!(revoke.status, 204);
    assert_eq!(h.get(&qr).await.body["status"], "REVOKED");
    let show = h.pay(&url, "GET", None).await;
    assert_eq!((show.status, show.code()), (410, "QR_REVOKED"));
    // A malformed preview amount is told so first too, in JSON as in HTML,
    // whatever the code's kind and state.
    let page = url.strip_prefix(BASE_URL).unwrap();
    for accept in ["application/json", "text/html"] {
        let preview = Event::fixture(PAY)
            .path(page)
            .method("GET")
            .no_body()
            .query(&[("amount", "12.345")])
            .header("accept", accept);
        let preview = h.send(preview).await;
        assert_eq!(preview.status, 400, "{accept}: {}", preview.body);
    }
    // A malformed checkout is told so first, whatever the code's state.
    let malformed = h.pay(&url, "POST", Some(json!({"amount": "abc"}))).await;
    assert_eq!(
        (malformed.status, malformed.code()),
        (400, "INVALID_REQUEST")
    );
    let unknown_field = h.pay(&url, "POST", Some(json!({"tip": "1.00"}))).await;
    assert_eq!(unknown_field.status, 400);
    let checkout = h.pay(&url, "POST", Some(json!({"amount": "10.00"}))).await;
    assert_eq!((checkout.status, checkout.code()), (410, "QR_REVOKED"));
    let order = h.order(a.body["order_id"].as_str().unwrap()).await;
    assert_eq!(order.body["status"], "CLOSED");
    assert_eq!(h.send(Event::fixture(REVOKE).path(&path)).await.status, 204);
    let missing = h
        .send(Event::fixture(REVOKE).path("/shops/shop-1/qr-codes/qr_missing"))
        .await;
    assert_eq!((missing.status, missing.code()), (404, "QR_NOT_FOUND"));
    // A tampered link finds nothing.
    let tampered = url.replace("shop-1", "shop-2");
    assert_eq!(h.pay(&tampered, "GET", None).await.code(), "QR_NOT_FOUND");
}

async fn bad_requests_are_refused_and_create_nothing(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let cases = [
        (
            json!({"kind": "dynamic", "amount": "99.99", "out_order_no": "B-1", "instalments": {"periods": 3}}),
            422,
            "INSTALMENT_AMOUNT_TOO_LOW",
            None,
        ),
        (
            json!({"kind": "dynamic", "amount": "500.00", "out_order_no": "B-1", "instalments": {"periods": 4}}),
            400,
            "INVALID_REQUEST",
            Some("instalments.periods"),
        ),
        (
            json!({"kind": "static", "amount": "5.00"}),
            400,
            "INVALID_REQUEST",
            Some("amount"),
        ),
        (
            json!({"kind": "dynamic", "amount": "5.00"}),
            400,
            "INVALID_REQUEST",
            Some("out_order_no"),
        ),
        (
            json!({"kind": "dynamic", "out_order_no": "B-1"}),
            400,
            "INVALID_REQUEST",
            Some("amount"),
        ),
        (
            json!({"kind": "dynamic", "amount": "5.001", "out_order_no": "B-1"}),
            400,
            "INVALID_REQUEST",
            Some("amount"),
        ),
        (
            json!({"kind": "dynamic", "amount": 5, "out_order_no": "B-1"}),
            400,
            "INVALID_REQUEST",
            Some("amount"),
        ),
        (
            json!({"kind": "dynamic", "amount": "5.00", "out_order_no": "B 1"}),
            400,
            "INVALID_REQUEST",
            Some("out_order_no"),
        ),
        (
            json!({"kind": "dynamic", "amount": "5.00", "out_order_no": "B-1", "expires_in_s": 7_776_001}),
            400,
            "INVALID_REQUEST",
            Some("expires_in_s"),
        ),
        (
            json!({"kind": "flashy"}),
            400,
            "INVALID_REQUEST",
            Some("kind"),
        ),
        (
            json!({"kind": "static", "colour": "red"}),
            400,
            "INVALID_REQUEST",
            Some("colour"),
        ),
        (
            json!({"kind": "static", "device_id": "pos-9"}),
            404,
            "DEVICE_NOT_FOUND",
            None,
        ),
    ];
    for (body, status, code, field) in cases {
        let a = h.issue(body.clone()).await;
        assert_eq!((a.status, a.code()), (status, code), "{body} → {}", a.body);
        if let Some(field) = field {
            assert_eq!(a.body["error"]["field"], field, "{body}");
        }
    }
    let garbage = h.send(Event::fixture(DYNAMIC).body("{not json")).await;
    assert_eq!(
        (garbage.status, garbage.body["error"]["field"].as_str()),
        (400, Some("body"))
    );
    let huge = h
        .send(Event::fixture(DYNAMIC).body(&"x".repeat(5000)))
        .await;
    assert_eq!(huge.status, 413);
    // Nothing was claimed: B-1 is still free.
    let ok = h.issue(dynamic_body("B-1", "5.00")).await;
    assert_eq!(ok.status, 201);
    assert!(ok.headers.get("idempotent-replayed").is_none());
}

async fn another_shop_is_forbidden(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let other = Event::fixture(DYNAMIC).claims("shop-2-owner", Some("shop-2"), "owner");
    assert_eq!(h.send(other).await.status, 403);
    assert_eq!(
        h.send(Event::fixture(DYNAMIC).no_authorizer()).await.status,
        401
    );
    let staff = Event::fixture(DYNAMIC).claims("shop-1-staff", Some("shop-1"), "staff");
    assert_eq!(h.send(staff).await.status, 201);
}

async fn pos_requests_need_a_good_fresh_signature_and_a_new_nonce(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let body = dynamic_body("TILL-1", "42.50");
    let now = h.now_s();
    let refused = [
        (now - 301, "nonce-stale-01", POS_SECRET),
        (now + 301, "nonce-future-1", POS_SECRET),
        // Absurd timestamps are stale ones, not an overflow.
        (i64::MIN, "nonce-absurd-1", POS_SECRET),
        (i64::MAX, "nonce-absurd-2", POS_SECRET),
        (-1, "nonce-absurd-3", POS_SECRET),
        (now, "nonce-badkey-1", "wrong-secret-0123456789"),
        (now, "short", POS_SECRET),
    ];
    for (ts, nonce, secret) in refused {
        let a = h.pos(&body, ts, nonce, secret).await;
        assert_eq!(
            (a.status, a.code()),
            (401, "UNAUTHENTICATED"),
            "{ts} {nonce}"
        );
    }
    // At the edge of the window, with the right key: accepted, bound to the device.
    let ok = h.pos(&body, now - 300, "nonce-good-001", POS_SECRET).await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    assert_eq!(ok.body["device_id"], "pos-1");
    assert_eq!(ok.body["shop_id"], "shop-1");
    assert!(
        ok.headers.get("idempotent-replayed").is_none(),
        "refused requests issued nothing"
    );
    // The same nonce again, even freshly signed: refused.
    let replay = h.pos(&body, now, "nonce-good-001", POS_SECRET).await;
    assert_eq!((replay.status, replay.code()), (401, "UNAUTHENTICATED"));
    // A tampered body breaks the signature.
    let text = body.to_string();
    let head = Signed {
        method: "POST",
        path: "/devices/pos-1/qr-codes",
        query: "",
        timestamp: now,
        nonce: "nonce-tamper-1",
    };
    let sig = sign(POS_SECRET.as_bytes(), head, text.as_bytes());
    let tampered = Event::fixture(POS)
        .body(&text.replace("42.50", "4.25"))
        .header("x-qrpay-timestamp", &now.to_string())
        .header("x-qrpay-nonce", "nonce-tamper-1")
        .header("x-qrpay-signature", &sig);
    assert_eq!(h.send(tampered).await.status, 401);
    // Another device in the header, or a device that is not registered.
    let other = Event::fixture(POS).header("x-qrpay-device", "pos-2");
    assert_eq!(h.send(other).await.status, 401);
    let unknown = Event::fixture(POS)
        .path("/devices/pos-9/qr-codes")
        .header("x-qrpay-device", "pos-9");
    assert_eq!(h.send(unknown).await.status, 401);
    // A device cannot issue for another device.
    let for_other = json!({"kind": "static", "device_id": "pos-2"});
    let a = h.pos(&for_other, now, "nonce-other-01", POS_SECRET).await;
    assert_eq!(
        (a.status, a.body["error"]["field"].as_str()),
        (400, Some("device_id"))
    );
}

/// A POS request to `/devices/{device}/qr-codes?{query}`, signed over
/// `signed_query` with `secret`.
struct PosCall<'a> {
    device: &'a str,
    query: &'a [(&'a str, &'a str)],
    signed_query: &'a str,
    nonce: &'a str,
    secret: &'a str,
}

impl Harness {
    async fn pos_call(&self, call: PosCall<'_>, body: &Value) -> Answer {
        let (text, ts) = (body.to_string(), self.now_s());
        let path = format!("/devices/{}/qr-codes", call.device);
        let head = Signed {
            method: "POST",
            path: &path,
            query: call.signed_query,
            timestamp: ts,
            nonce: call.nonce,
        };
        let signature = sign(call.secret.as_bytes(), head, text.as_bytes());
        let event = Event::fixture(POS)
            .path(&path)
            .query(call.query)
            .body(&text)
            .header("x-qrpay-device", call.device)
            .header("x-qrpay-timestamp", &ts.to_string())
            .header("x-qrpay-nonce", call.nonce)
            .header("x-qrpay-signature", &signature);
        self.send(event).await
    }
}

async fn pos_signatures_cover_the_query_and_hide_which_devices_exist(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let body = dynamic_body("TILL-Q", "9.00");
    let call = |query, signed_query, nonce| PosCall {
        device: "pos-1",
        query,
        signed_query,
        nonce,
        secret: POS_SECRET,
    };
    // The query a request was sent with is part of what is signed.
    let unsigned = h
        .pos_call(call(&[("till", "7")], "", "nonce-query-01"), &body)
        .await;
    assert_eq!((unsigned.status, unsigned.code()), (401, "UNAUTHENTICATED"));
    let other = h
        .pos_call(call(&[("till", "8")], "till=7", "nonce-query-02"), &body)
        .await;
    assert_eq!((other.status, other.code()), (401, "UNAUTHENTICATED"));
    let signed = h
        .pos_call(call(&[("till", "7")], "till=7", "nonce-query-03"), &body)
        .await;
    assert_eq!(signed.status, 201, "{}", signed.body);
    assert_eq!(signed.body["device_id"], "pos-1");
    // An unregistered device and a bad signature get the very same answer.
    let unknown = h
        .pos_call(
            PosCall {
                device: "pos-9",
                ..call(&[], "", "nonce-unknown1")
            },
            &body,
        )
        .await;
    let bad_key = h
        .pos_call(
            PosCall {
                secret: "wrong-secret-0123456789",
                ..call(&[], "", "nonce-badkey-2")
            },
            &body,
        )
        .await;
    assert_eq!((unknown.status, unknown.code()), (401, "UNAUTHENTICATED"));
    assert_eq!((bad_key.status, &bad_key.body), (401, &unknown.body));
}

#[tokio::test]
async fn a_wrong_method_is_answered_with_the_methods_the_route_has() {
    let h = Harness::new(qrpay_tests::memory_port().await).await;
    for (method, path, allowed) in [
        ("PUT", "/shops/shop-1/qr-codes", "POST"),
        ("POST", "/shops/shop-1/qr-codes/qr_1", "GET, DELETE"),
        ("DELETE", "/shops/shop-1/qr-codes/qr_1/png", "GET"),
        ("PUT", "/shops/shop-1/orders/ord_1", "GET"),
        ("GET", "/devices/pos-1/qr-codes", "POST"),
        ("DELETE", "/pay/tok", "GET, POST"),
        ("POST", "/pay/tok/orders/ord_1/wechatpay", "GET"),
        ("POST", "/receipts/tok", "GET"),
        ("PUT", "/claim/tok", "GET"),
    ] {
        let a = h.send(Event::fixture(GET).path(path).method(method)).await;
        let allow = a.headers.get("allow").map(|v| v.to_str().unwrap());
        assert_eq!(
            (a.status, a.code(), allow),
            (405, "METHOD_NOT_ALLOWED", Some(allowed)),
            "{method} {path}"
        );
    }
}

async fn iot_requests_are_answered_on_the_device_topic(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let event = Event::fixture("qr-issue/iot-qr-request.json")
        .json()
        .clone();
    qr_issue::lambda::dispatch(&h.app, event.clone())
        .await
        .unwrap();
    let published = h.publisher.take();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].0, "pos/pos-1/qr/response");
    let reply: Value = serde_json::from_slice(&published[0].1).unwrap();
    assert_eq!(reply["request_id"], "req-0001");
    assert_eq!(reply["status"], 201);
    assert_eq!(reply["body"]["device_id"], "pos-1");
    assert_eq!(reply["body"]["shop_id"], "shop-1");
    assert_eq!(reply["body"]["instalment_plan"]["first_amount"], "140.00");
    // A bad request is answered on the topic too, with the error.
    let mut bad = event.clone();
    bad["amount"] = json!("1.00");
    qr_issue::lambda::dispatch(&h.app, bad).await.unwrap();
    let reply: Value = serde_json::from_slice(&h.publisher.take()[0].1).unwrap();
    assert_eq!(
        (
            reply["status"].as_u64(),
            reply["body"]["error"]["code"].as_str()
        ),
        (Some(422), Some("INSTALMENT_AMOUNT_TOO_LOW"))
    );
    // The device is the topic's: an event whose device_id disagrees is refused unanswered.
    let mut forged = event.clone();
    forged["device_id"] = json!("pos-2");
    assert!(qr_issue::lambda::dispatch(&h.app, forged).await.is_err());
    assert!(h.publisher.take().is_empty());
    // So is an event without a request topic; both are the rule's fault, alerted.
    let mut topicless = event.clone();
    topicless["topic"] = json!("pos/pos-1/qr/other");
    assert!(qr_issue::lambda::dispatch(&h.app, topicless).await.is_err());
    assert!(h.publisher.take().is_empty());
    let raised: Vec<(String, String)> = h
        .alerts
        .raised()
        .into_iter()
        .map(|a| (a.code, a.reference))
        .collect();
    let misconfigured = "IOT_RULE_MISCONFIGURED".to_owned();
    assert_eq!(
        raised,
        vec![
            (misconfigured.clone(), "pos/pos-1/qr/request".to_owned()),
            (misconfigured, "pos/pos-1/qr/other".to_owned()),
        ]
    );
    // An unregistered device gets a 401 on its own topic.
    let mut stranger = event;
    stranger["topic"] = json!("pos/pos-9/qr/request");
    stranger["device_id"] = json!("pos-9");
    qr_issue::lambda::dispatch(&h.app, stranger).await.unwrap();
    let published = h.publisher.take();
    assert_eq!(published[0].0, "pos/pos-9/qr/response");
    let reply: Value = serde_json::from_slice(&published[0].1).unwrap();
    assert_eq!(reply["status"], 401);
    // The same entry point answers HTTP events as API Gateway expects.
    let http = Event::fixture(STATIC).json().clone();
    let out = qr_issue::lambda::dispatch(&h.app, http).await.unwrap();
    assert_eq!(out["statusCode"], 201);
}

async fn a_static_code_opens_an_order_for_the_typed_amount(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let a = h.send(Event::fixture(STATIC)).await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert!(a.body.get("order_id").is_none());
    assert!(a.body.get("expires_at").is_none());
    let url = a.body["url"].as_str().unwrap().to_owned();
    let tags: std::collections::HashMap<String, String> =
        emv::decode(a.body["emv"].as_str().unwrap())
            .unwrap()
            .into_iter()
            .collect();
    assert_eq!(tags["01"], "11");
    assert!(!tags.contains_key("54"), "a static payload has no amount");
    let no_amount = h.pay(&url, "POST", None).await;
    assert_eq!(
        (no_amount.status, no_amount.body["error"]["field"].as_str()),
        (400, Some("amount"))
    );
    // An amount without a way to pay commits nothing.
    let no_way = h.pay(&url, "POST", Some(json!({"amount": "25.00"}))).await;
    assert_eq!(
        (no_way.status, no_way.body["error"]["field"].as_str()),
        (400, Some("method"))
    );
    let unknown_way = h
        .pay(
            &url,
            "POST",
            Some(json!({"amount": "25.00", "method": "cash"})),
        )
        .await;
    assert_eq!(
        (
            unknown_way.status,
            unknown_way.body["error"]["field"].as_str()
        ),
        (400, Some("method"))
    );
    let not_here = h
        .pay(
            &url,
            "POST",
            Some(json!({"amount": "25.00", "method": "alipay_wap"})),
        )
        .await;
    assert_eq!(
        (not_here.status, not_here.code()),
        (422, "PAY_METHOD_UNAVAILABLE")
    );
    let first = h
        .pay(
            &url,
            "POST",
            Some(json!({"amount": "25.00", "method": "sandbox"})),
        )
        .await;
    let second = h
        .pay(
            &url,
            "POST",
            Some(json!({"amount": "8.00", "method": "sandbox"})),
        )
        .await;
    assert_eq!((first.status, second.status), (201, 201));
    assert_ne!(first.body["order_id"], second.body["order_id"]);
    let order = h.order(first.body["order_id"].as_str().unwrap()).await;
    assert_eq!(
        (order.body["status"].as_str(), order.body["amount"].as_str()),
        (Some("CREATED"), Some("25.00"))
    );
    assert_eq!(order.body["qr_id"], a.body["qr_id"]);
    // A static code offering monthly pay: the plan follows the typed amount.
    let plan_code = h
        .issue(json!({"kind": "static", "instalments": {"periods": 6}}))
        .await;
    let plan_url = plan_code.body["url"].as_str().unwrap().to_owned();
    let low = h
        .pay(
            &plan_url,
            "POST",
            Some(json!({"amount": "50.00", "method": "sandbox"})),
        )
        .await;
    assert_eq!((low.status, low.code()), (422, "INSTALMENT_AMOUNT_TOO_LOW"));
    let ok = h
        .pay(
            &plan_url,
            "POST",
            Some(json!({"amount": "600.00", "method": "sandbox"})),
        )
        .await;
    assert_eq!(ok.body["instalment_plan"]["first_amount"], "100.00");
    // A dynamic code's checkout is its own order, for its own amount only.
    let dynamic = h.issue(dynamic_body("D-1", "12.00")).await;
    let d_url = dynamic.body["url"].as_str().unwrap().to_owned();
    let checkout = h.pay(&d_url, "POST", None).await;
    assert_eq!(
        (checkout.status, &checkout.body["order_id"]),
        (200, &dynamic.body["order_id"])
    );
    assert_eq!(
        h.pay(&d_url, "POST", Some(json!({"amount": "1.00"})))
            .await
            .status,
        400
    );
    let order = h
        .world
        .store
        .get_order(
            &ShopId::parse("shop-1").unwrap(),
            &qrpay_domain::OrderId::parse(dynamic.body["order_id"].as_str().unwrap()).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(order.status, OrderStatus::Created);
}

async fn the_png_decodes_back_to_the_payment_link(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let a = h.issue(dynamic_body("P-1", "66.60")).await;
    let qr = a.body["qr_id"].as_str().unwrap();
    let path = format!("/shops/shop-1/qr-codes/{qr}/png");
    let response = handle(&h.app, Event::fixture(GET).path(&path).request()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/png");
    let lambda_http::Body::Binary(bytes) = response.body() else {
        panic!("PNG body is binary");
    };
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes.as_slice()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let (width, height) = (info.width as usize, info.height as usize);
    let mut img =
        rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| pixels[y * width + x]);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1);
    let (_, text) = grids[0].decode().unwrap();
    assert_eq!(text, a.body["url"].as_str().unwrap());
}

/// SPEC §10: a flood of checkouts on a printed static code from one client
/// leaves the per-client limit's worth of orders; another client still gets
/// through; every refusal says when to come back.
#[tokio::test]
async fn a_flood_of_checkouts_on_a_static_code_opens_only_the_limits_worth() {
    let h = Harness::new(Arc::new(qrpay_store::MemoryStore::new())).await;
    let code = h.send(Event::fixture(STATIC)).await;
    let url = code.body["url"].as_str().unwrap().to_owned();
    let path = url.strip_prefix(BASE_URL).unwrap().to_owned();
    let checkout = |ip: &str| {
        Event::fixture(PAY)
            .path(&path)
            .method("POST")
            .source_ip(ip)
            .json_body(json!({"amount": "9.90", "method": "sandbox"}))
    };
    let mut opened = std::collections::HashSet::new();
    let mut limited = 0;
    for _ in 0..1_000 {
        let a = h.send(checkout("198.51.100.7")).await;
        match a.status {
            201 => {
                opened.insert(a.body["order_id"].as_str().unwrap().to_owned());
            }
            429 => {
                assert_eq!(a.code(), "CHECKOUT_RATE_LIMITED");
                let after: u64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
                assert!((1..=600).contains(&after), "{after}");
                limited += 1;
            }
            other => panic!("{other}: {}", a.body),
        }
    }
    let limit = qrpay_domain::checkout::CheckoutLimits::DEFAULT
        .per_client_on_code
        .limit;
    assert_eq!(opened.len(), limit as usize);
    assert_eq!(limited, 1_000 - limit as usize);
    for order in &opened {
        assert_eq!(h.order(order).await.body["status"], "CREATED");
    }
    // Another buyer at the same counter is not locked out by the flood.
    let other = h.send(checkout("203.0.113.9")).await;
    assert_eq!(other.status, 201, "{}", other.body);
}

const PHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

impl Harness {
    /// The page as a phone's browser asks for it.
    async fn browse(&self, path: &str) -> Answer {
        let event = Event::fixture(PAY)
            .path(path)
            .method("GET")
            .no_body()
            .header("accept", BROWSER_ACCEPT)
            .header("user-agent", PHONE);
        self.send(event).await
    }

    /// The page's form, posted as a browser posts it.
    async fn submit(&self, path: &str, form: &str) -> Answer {
        let event = Event::fixture(PAY)
            .path(path)
            .method("POST")
            .header("accept", BROWSER_ACCEPT)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form);
        self.send(event).await
    }
}

fn html(a: &Answer) -> &str {
    assert_eq!(a.headers["content-type"], "text/html; charset=utf-8");
    a.body.as_str().expect("an HTML page")
}

async fn the_page_answers_html_to_a_browser_and_json_to_a_client(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let a = h
        .issue(
            json!({"kind": "dynamic", "amount": "600.00", "out_order_no": "H-1",
            "description": "<script>alert(1)</script>", "instalments": {"periods": 3}}),
        )
        .await;
    let url = a.body["url"].as_str().unwrap().to_owned();
    let path = url.strip_prefix(BASE_URL).unwrap().to_owned();
    let page = h.browse(&path).await;
    assert_eq!(page.status, 200);
    let text = html(&page);
    assert!(
        text.starts_with("<!doctype html><html lang=\"zh-CN\">"),
        "{text}"
    );
    for wanted in [
        "Shop shop-1",
        "¥600.00",
        "首期仅需 ¥200.00",
        "手续费 ¥13.80，由商家承担",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "id=\"no-way\"",
    ] {
        assert!(text.contains(wanted), "{wanted} in {text}");
    }
    assert!(!text.contains("<script>"), "{text}");
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'none';"), "{csp}");
    assert!(csp.contains("script-src 'none'"), "{csp}");
    assert_eq!(page.headers["cache-control"], "no-store");
    assert_eq!(page.headers["vary"], "Accept, User-Agent");
    // A client asking for JSON, or for nothing in particular, keeps the contract.
    for accept in [
        Some("application/json"),
        None,
        Some("*/*"),
        Some("application/json, text/html"),
    ] {
        let event = Event::fixture(PAY).path(&path).method("GET").no_body();
        let event = match accept {
            Some(v) => event.header("accept", v),
            None => event.without_header("accept"),
        };
        let json = h.send(event).await;
        assert_eq!(json.status, 200, "{accept:?}");
        assert_eq!(json.body["amount"], "600.00", "{accept:?}");
        assert_eq!(json.body["display_name"], "Shop shop-1");
        assert_eq!(json.body["methods"], json!(["sandbox"]));
    }
    // Refusals a browser sees are pages too, with their status.
    let gone = h.browse(&format!("{path}x")).await;
    assert_eq!(gone.status, 404);
    assert!(html(&gone).contains("data-code=\"QR_NOT_FOUND\""));
}

async fn the_pages_form_commits_once_and_refuses_bad_input_first(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let code = h.send(Event::fixture(STATIC)).await;
    let path = code.body["url"]
        .as_str()
        .unwrap()
        .strip_prefix(BASE_URL)
        .unwrap()
        .to_owned();
    let page = h.browse(&path).await;
    // No provider is configured in this harness: the page says where to pay.
    assert!(html(&page).contains("id=\"no-way\""));
    // Bad forms: 400 pages, nothing opened.
    for (form, field) in [
        ("amount=abc&method=sandbox", "amount"),
        ("amount=1.234&method=sandbox", "amount"),
        ("amount=12.50", "method"),
        ("amount=12.50&method=cash", "method"),
        ("amount=12.50&method=sandbox&tip=1", "tip"),
        ("amount=1&amount=2&method=sandbox", "amount"),
    ] {
        let a = h.submit(&path, form).await;
        assert_eq!(a.status, 400, "{form}");
        let text = html(&a);
        assert!(text.contains("data-code=\"INVALID_REQUEST\""), "{form}");
        assert!(
            text.contains(&format!("data-field=\"{field}\"")),
            "{form}: {text}"
        );
    }
    let preview = Event::fixture(PAY)
        .path(&path)
        .method("GET")
        .no_body()
        .query(&[("amount", "12.5")])
        .header("accept", BROWSER_ACCEPT)
        .header("user-agent", PHONE);
    let preview = h.send(preview).await;
    assert!(html(&preview).contains("¥12.50"));
    let committed = h.submit(&path, "amount=12.50&method=sandbox").await;
    assert_eq!(committed.status, 303, "{}", committed.body);
    let next = committed.headers["location"].to_str().unwrap().to_owned();
    let prefix = format!("{path}/orders/ord_");
    assert!(
        next.starts_with(&prefix) && next.ends_with("/sandbox"),
        "{next}"
    );
    let order_id = next[path.len() + 8..next.len() - 8].to_owned();
    let order = h.order(&order_id).await;
    assert_eq!(
        (order.body["amount"].as_str(), order.body["status"].as_str()),
        (Some("12.50"), Some("CREATED"))
    );
    // The next page of the sandbox way is the receipt, waiting.
    let wait = h.browse(&next).await;
    assert_eq!(wait.status, 303);
    let receipt = wait.headers["location"].to_str().unwrap().to_owned();
    assert!(
        receipt.starts_with(&format!("{BASE_URL}/receipts/rc1.{order_id}.shop-1.")),
        "{receipt}"
    );
    let waiting = h.browse(receipt.strip_prefix(BASE_URL).unwrap()).await;
    let text = html(&waiting);
    assert!(
        text.contains("<meta http-equiv=\"refresh\" content=\"3\">"),
        "{text}"
    );
    assert!(text.contains("正在确认支付结果"), "{text}");
    // An expired code still hears about a malformed form first.
    h.clock.advance_ms(365 * 24 * 3_600_000);
    let a = h.submit(&path, "amount=abc&method=sandbox").await;
    assert_eq!(a.status, 400);
}

async fn a_receipt_link_names_one_order_and_no_other_token_opens_it(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let a = h.issue(dynamic_body("RC-1", "10.00")).await;
    let url = a.body["url"].as_str().unwrap().to_owned();
    let checkout = h
        .pay(&url, "POST", Some(json!({"method": "sandbox"})))
        .await;
    assert_eq!(checkout.status, 200, "{}", checkout.body);
    assert_eq!(checkout.body["next"], json!({"type": "wait"}));
    let receipt = checkout.body["receipt_url"].as_str().unwrap().to_owned();
    let json_receipt = h.pay(&receipt, "GET", None).await;
    assert_eq!(json_receipt.status, 200, "{}", json_receipt.body);
    assert_eq!(
        (
            json_receipt.body["order_id"].clone(),
            json_receipt.body["status"].clone(),
            json_receipt.body["shop_display_name"].clone(),
            json_receipt.body["amount"].clone()
        ),
        (
            a.body["order_id"].clone(),
            json!("CREATED"),
            json!("Shop shop-1"),
            json!("10.00")
        )
    );
    // The payment token relabelled as a receipt, a tampered receipt, and
    // another shop's receipt for the same order: none opens.
    let token = url.rsplit('/').next().unwrap();
    let relabelled = format!("{BASE_URL}/receipts/{}", token.replacen("v1.", "rc1.", 1));
    let tampered = receipt.replacen("shop-1", "shop-2", 1);
    for bad in [relabelled, tampered, format!("{BASE_URL}/receipts/rc1.x")] {
        let a = h.pay(&bad, "GET", None).await;
        assert_eq!((a.status, a.code()), (404, "ORDER_NOT_FOUND"), "{bad}");
    }
}
