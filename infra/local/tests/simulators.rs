//! The simulated WeChat Pay, Alipay and Douyin Pay of the local stack,
//! driven over HTTP the way the real gateway adapters will drive them: every
//! request signed by our existing, SDK-proved signers
//! (`qrpay_provider::wechatpay::RequestSigner`, `alipay::RequestSigner`;
//! Douyin's MD5 `sign` re-implemented here from the documentation's rule),
//! every answer checked with our existing verifiers (`PlatformKeys::
//! verify_answer`, `alipay::AnswerVerifier`), with the key material the
//! stack hands out as its providers' configuration. Payments through
//! `/sandbox/{provider}/pay` must make the stack's own order PAID through its
//! real callback route; money must move once per id, under faults too.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use lambda_http::http::{HeaderMap, HeaderName, HeaderValue, Method};
use md5::{Digest, Md5};
use qrpay_domain::{Clock, Secret};
use qrpay_local::client::Answer;
use qrpay_provider::alipay::{self, AnswerVerifier};
use qrpay_provider::keys::public_key_from_text;
use qrpay_provider::wechatpay::{self, encrypt_sensitive, PlatformKeys, RequestSigner};
use serde_json::{json, Value};

const WX: &str = "/sim/wechatpay";
const ALIPAY: &str = "/sim/alipay/gateway.do";
const DOUYIN: &str = "/sim/douyin/api/apps/ecpay/v1";
const SHOP: &str = "demo-shop";

/// A running stack and what our side is configured with.
struct World {
    local: common::World,
    env: BTreeMap<String, String>,
}

async fn world() -> World {
    let local = common::world().await;
    let env = local.running.stack.simulators.environment().clone();
    World { local, env }
}

impl World {
    fn now(&self) -> DateTime<Utc> {
        self.local.running.stack.clock.now()
    }

    /// One request with exactly these headers (none added).
    async fn send(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        let addr = self.local.running.addr.to_string();
        let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(target)
            .header("host", &addr);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::copy_from_slice(body)))
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        let (parts, body) = response.into_parts();
        Answer {
            status: parts.status.as_u16(),
            headers: qrpay_local::stack::header_pairs(&parts.headers),
            body: body.collect().await.unwrap().to_bytes().to_vec(),
        }
    }

    async fn json(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        self.local
            .client
            .json(method, path, token, body.as_ref())
            .await
            .unwrap()
    }

    /// A dynamic code at the demo shop: its order id.
    async fn our_order(&self, amount: &str) -> String {
        let out_order_no = format!("SIM-{}", wechatpay::nonce());
        let body = json!({"kind": "dynamic", "amount": amount, "out_order_no": out_order_no});
        let owner = self.local.running.demo.owner.clone();
        let code = self
            .json(
                "POST",
                &format!("/shops/{SHOP}/qr-codes"),
                Some(&owner),
                Some(body),
            )
            .await;
        assert_eq!(code.status, 201, "{}", code.text());
        code.json()["order_id"].as_str().unwrap().to_owned()
    }

    /// Our order as the stack has it.
    async fn order(&self, order_id: &str) -> Value {
        let owner = self.local.running.demo.owner.clone();
        let order = self
            .json(
                "GET",
                &format!("/shops/{SHOP}/orders/{order_id}"),
                Some(&owner),
                None,
            )
            .await;
        assert_eq!(order.status, 200, "{}", order.text());
        order.json()
    }

    async fn ledger(&self, provider: &str, kind: &str) -> Value {
        let view = self
            .json("GET", &format!("/sandbox/{provider}/{kind}"), None, None)
            .await;
        assert_eq!(view.status, 200, "{}", view.text());
        view.json()
    }

    async fn buyer_pays(&self, provider: &str, body: Value) -> Value {
        let paid = self
            .json(
                "POST",
                &format!("/sandbox/{provider}/pay"),
                None,
                Some(body),
            )
            .await;
        assert_eq!(paid.status, 200, "{}", paid.text());
        paid.json()
    }

    async fn faults(&self, fail: f64, timeout: f64, duplicate: f64) {
        let body = json!({"transfer_fail_rate": fail, "transfer_timeout_rate": timeout,
            "callback_duplicate_rate": duplicate, "seed": 42});
        assert_eq!(
            self.json("PUT", "/sandbox/faults", None, Some(body))
                .await
                .status,
            200
        );
    }

    async fn settings(&self, body: Value) -> Value {
        let answer = self
            .json("PUT", "/sandbox/simulators", None, Some(body))
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        answer.json()
    }
}

// ---- WeChat Pay ------------------------------------------------------------------

struct Wechat<'w> {
    w: &'w World,
    signer: RequestSigner,
    platform: PlatformKeys,
}

impl<'w> Wechat<'w> {
    fn new(w: &'w World) -> Wechat<'w> {
        let e = &w.env;
        Wechat {
            w,
            signer: RequestSigner::new(
                &e["WECHATPAY_MCHID"],
                &e["WECHATPAY_MCH_SERIAL"],
                &Secret::new(e["WECHATPAY_MCH_PRIVATE_KEY"].clone()),
            )
            .unwrap(),
            platform: PlatformKeys::from_pem(&[(
                e["WECHATPAY_PLATFORM_SERIAL"].as_str(),
                e["WECHATPAY_PLATFORM_PUBLIC_KEY"].as_str(),
            )])
            .unwrap(),
        }
    }

    /// A signed call of `path` (after `/sim/wechatpay`, with its query),
    /// whose answer must carry a valid platform signature.
    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let answer = self.unverified(method, path, &body, &self.signer).await;
        self.platform
            .verify_answer(&header_map(&answer), &answer.body, self.w.now())
            .unwrap_or_else(|e| {
                panic!("{method} {path}: answer not signed: {e}: {}", answer.text())
            });
        answer
    }

    async fn unverified(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        signer: &RequestSigner,
    ) -> Answer {
        let target = format!("{WX}{path}");
        let auth = signer.authorization(
            &Method::from_bytes(method.as_bytes()).unwrap(),
            &target,
            self.w.now().timestamp(),
            &wechatpay::nonce(),
            body,
        );
        let serial = self.w.env["WECHATPAY_PLATFORM_SERIAL"].clone();
        let mut headers = vec![
            ("authorization", auth.as_str()),
            ("accept", "application/json"),
            ("user-agent", "qrpay-tests/1"),
            ("wechatpay-serial", serial.as_str()),
        ];
        if !body.is_empty() {
            headers.push(("content-type", "application/json"));
        }
        self.w.send(method, &target, &headers, body).await
    }

    fn native(&self, out_trade_no: &str, fen: i64) -> Value {
        json!({
            "appid": self.w.env["WECHATPAY_APPID"], "mchid": self.w.env["WECHATPAY_MCHID"],
            "description": "一壶茶", "out_trade_no": out_trade_no,
            "notify_url": format!("{}/callbacks/wechatpay", self.w.env["QRPAY_CALLBACK_BASE_URL"]),
            "amount": {"total": fen, "currency": "CNY"},
        })
    }

    fn transfer(&self, out_bill_no: &str, fen: i64) -> Value {
        json!({
            "appid": self.w.env["WECHATPAY_APPID"], "out_bill_no": out_bill_no,
            "transfer_scene_id": self.w.env["WECHATPAY_TRANSFER_SCENE_ID"], "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
            "transfer_amount": fen, "transfer_remark": "运费补偿",
            "transfer_scene_report_infos": [{"info_type": "活动名称", "info_content": "运费补偿"},
                {"info_type": "奖励说明", "info_content": "退运费"}],
        })
    }
}

fn header_map(answer: &Answer) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in &answer.headers {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

#[tokio::test]
async fn wechatpay_orders_are_created_once_per_out_trade_no_and_every_answer_is_signed() {
    let w = world().await;
    let wx = Wechat::new(&w);
    let create = "/v3/pay/transactions/native";
    let first = wx
        .call("POST", create, Some(&wx.native("ord_sim_native_1", 8800)))
        .await;
    assert_eq!(first.status, 200, "{}", first.text());
    let code_url = first.json()["code_url"].as_str().unwrap().to_owned();
    assert!(
        code_url.starts_with("weixin://wxpay/bizpayurl?pr="),
        "{code_url}"
    );
    let again = wx
        .call("POST", create, Some(&wx.native("ord_sim_native_1", 8800)))
        .await;
    assert_eq!(
        (again.status, again.json()["code_url"].as_str()),
        (200, Some(code_url.as_str()))
    );
    let other = wx
        .call("POST", create, Some(&wx.native("ord_sim_native_1", 8801)))
        .await;
    assert_eq!(
        (other.status, other.json()["code"].as_str()),
        (403, Some("OUT_TRADE_NO_USED"))
    );

    let query = format!(
        "/v3/pay/transactions/out-trade-no/ord_sim_native_1?mchid={}",
        w.env["WECHATPAY_MCHID"]
    );
    let unpaid = wx.call("GET", &query, None).await.json();
    assert_eq!(
        (
            unpaid["trade_state"].as_str(),
            unpaid["amount"]["total"].as_i64()
        ),
        (Some("NOTPAY"), Some(8800))
    );
    let close = json!({"mchid": w.env["WECHATPAY_MCHID"]});
    let closed = wx
        .call(
            "POST",
            "/v3/pay/transactions/out-trade-no/ord_sim_native_1/close",
            Some(&close),
        )
        .await;
    assert_eq!(
        (closed.status, closed.body.len()),
        (204, 0),
        "a 204 is signed over an empty body"
    );
    assert_eq!(
        wx.call("GET", &query, None).await.json()["trade_state"],
        "CLOSED"
    );
    let reopen = wx
        .call("POST", create, Some(&wx.native("ord_sim_native_1", 8800)))
        .await;
    assert_eq!(
        (reopen.status, reopen.json()["code"].as_str()),
        (400, Some("ORDER_CLOSED"))
    );
    let missing = wx
        .call("GET", &query.replace("native_1", "native_9"), None)
        .await;
    assert_eq!(
        (missing.status, missing.json()["code"].as_str()),
        (404, Some("ORDER_NOT_EXIST"))
    );
    let buyer = w
        .json(
            "POST",
            "/sandbox/wechatpay/pay",
            None,
            Some(json!({"code": code_url})),
        )
        .await;
    assert_eq!(
        (buyer.status, buyer.code()),
        (409, "INVALID_STATE".to_owned()),
        "a closed order cannot be paid"
    );
}

#[tokio::test]
async fn a_wechatpay_order_past_its_time_expire_is_closed_and_cannot_be_paid() {
    let w = world().await;
    let wx = Wechat::new(&w);
    let mut order = wx.native("ord_sim_expiring", 100);
    let expire = w.now() + chrono::Duration::minutes(2);
    order["time_expire"] = json!(expire
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .to_rfc3339());
    let created = wx
        .call("POST", "/v3/pay/transactions/native", Some(&order))
        .await;
    assert_eq!(created.status, 200, "{}", created.text());
    let query = format!(
        "/v3/pay/transactions/out-trade-no/ord_sim_expiring?mchid={}",
        w.env["WECHATPAY_MCHID"]
    );
    assert_eq!(
        wx.call("GET", &query, None).await.json()["trade_state"],
        "NOTPAY"
    );
    w.json(
        "POST",
        "/sandbox/clock",
        None,
        Some(json!({"advance_s": 180})),
    )
    .await;
    assert_eq!(
        wx.call("GET", &query, None).await.json()["trade_state"],
        "CLOSED"
    );
    let again = wx
        .call("POST", "/v3/pay/transactions/native", Some(&order))
        .await;
    assert_eq!(again.json()["code"], "ORDER_CLOSED");
    let paid = w
        .json(
            "POST",
            "/sandbox/wechatpay/pay",
            None,
            Some(json!({"out_trade_no": "ord_sim_expiring"})),
        )
        .await;
    assert_eq!(
        (paid.status, paid.code()),
        (409, "INVALID_STATE".to_owned())
    );
}

#[tokio::test]
async fn wechatpay_refuses_what_wechat_refuses() {
    let w = world().await;
    let wx = Wechat::new(&w);
    let body = wx.native("ord_sim_refused_1", 100).to_string().into_bytes();
    let create = "/v3/pay/transactions/native";
    // Signed by another merchant key: 401 SIGN_ERROR (still a signed answer).
    let stranger_key = Secret::new(
        rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(
            &qrpay_provider::kit::rsa_key(),
            rsa::pkcs8::LineEnding::LF,
        )
        .unwrap()
        .to_string(),
    );
    let stranger = RequestSigner::new(
        &w.env["WECHATPAY_MCHID"],
        &w.env["WECHATPAY_MCH_SERIAL"],
        &stranger_key,
    )
    .unwrap();
    let forged = wx.unverified("POST", create, &body, &stranger).await;
    assert_eq!(
        (forged.status, forged.json()["code"].as_str()),
        (401, Some("SIGN_ERROR")),
        "{}",
        forged.text()
    );
    assert_eq!(
        forged.json()["detail"]["sign_information"]["url"],
        format!("{WX}{create}")
    );
    wx.platform
        .verify_answer(&header_map(&forged), &forged.body, w.now())
        .unwrap();
    // Our key, but the body changed after signing.
    let target = format!("{WX}{create}");
    let auth = wx
        .signer
        .authorization(&Method::POST, &target, w.now().timestamp(), "N0NCE", &body);
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let headers = [
        ("authorization", auth.as_str()),
        ("accept", "application/json"),
        ("user-agent", "t"),
        ("content-type", "application/json"),
    ];
    assert_eq!(
        w.send("POST", &target, &headers, &tampered).await.status,
        401
    );
    assert_eq!(
        w.send("POST", &target, &headers, &body).await.status,
        200,
        "the same request untouched"
    );
    // A stale timestamp, then no Accept header.
    let stale = wx.signer.authorization(
        &Method::POST,
        &target,
        w.now().timestamp() - 301,
        "N0NCE",
        &body,
    );
    let stale_headers = [
        ("authorization", stale.as_str()),
        headers[1],
        headers[2],
        headers[3],
    ];
    assert_eq!(
        w.send("POST", &target, &stale_headers, &body).await.status,
        401
    );
    let no_accept = [headers[0], headers[2], headers[3]];
    let refused = w.send("POST", &target, &no_accept, &body).await;
    assert_eq!(
        (refused.status, refused.json()["code"].as_str()),
        (400, Some("INVALID_REQUEST"))
    );
    // Fields: another appid, a bad out_trade_no.
    let mut wrong = wx.native("ord_sim_refused_2", 100);
    wrong["appid"] = json!("wx0000000000000000");
    let answer = wx.call("POST", create, Some(&wrong)).await;
    assert_eq!(answer.json()["code"], "APPID_MCHID_NOT_MATCH");
    let answer = wx.call("POST", create, Some(&wx.native("a b", 100))).await;
    assert_eq!(
        (answer.status, answer.json()["code"].as_str()),
        (400, Some("PARAM_ERROR"))
    );
}

#[tokio::test]
async fn a_wechatpay_payment_and_refund_reach_the_stack_through_its_callback_route() {
    let w = world().await;
    let wx = Wechat::new(&w);
    let order_id = w.our_order("88.00").await;
    let mut jsapi = wx.native(&order_id, 8800);
    jsapi["payer"] = json!({"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"});
    let created = wx
        .call("POST", "/v3/pay/transactions/jsapi", Some(&jsapi))
        .await;
    let prepay_id = created.json()["prepay_id"].as_str().unwrap().to_owned();
    assert!(prepay_id.starts_with("wx"), "{}", created.text());
    let wrong_buyer = json!({"code": prepay_id, "payer": "oSomebodyElse000000000000000"});
    let refused = w
        .json("POST", "/sandbox/wechatpay/pay", None, Some(wrong_buyer))
        .await;
    assert_eq!(refused.status, 409, "a JSAPI order is for its openid only");

    let paid = w.buyer_pays("wechatpay", json!({"code": prepay_id})).await;
    assert_eq!(paid["callback"]["deliveries"], 1);
    assert_eq!(
        paid["callback"]["first"]["status"], 204,
        "WeChat's notice accepted: {paid}"
    );
    let ours = w.order(&order_id).await;
    assert_eq!(
        (ours["status"].as_str(), ours["paid_amount"].as_str()),
        (Some("PAID"), Some("88.00"))
    );
    assert_eq!(ours["provider"], "wechatpay");
    assert_eq!(ours["provider_txn_id"], paid["transaction_id"]);
    let query = format!(
        "/v3/pay/transactions/out-trade-no/{order_id}?mchid={}",
        w.env["WECHATPAY_MCHID"]
    );
    let at_wechat = wx.call("GET", &query, None).await.json();
    assert_eq!(at_wechat["trade_state"], "SUCCESS");
    assert_eq!(at_wechat["payer"]["openid"], "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o");

    let refund = json!({"out_trade_no": order_id, "out_refund_no": "RF-sim-1",
        "amount": {"refund": 1000, "total": 8800, "currency": "CNY"}});
    let accepted = wx
        .call("POST", "/v3/refund/domestic/refunds", Some(&refund))
        .await;
    assert_eq!(
        (accepted.status, accepted.json()["status"].as_str()),
        (200, Some("PROCESSING")),
        "{}",
        accepted.text()
    );
    let repeated = wx
        .call("POST", "/v3/refund/domestic/refunds", Some(&refund))
        .await
        .json();
    assert_eq!(repeated["status"], "SUCCESS");
    assert_eq!(repeated["refund_id"], accepted.json()["refund_id"]);
    let queried = wx
        .call("GET", "/v3/refund/domestic/refunds/RF-sim-1", None)
        .await
        .json();
    assert_eq!(
        (
            queried["status"].as_str(),
            queried["amount"]["refund"].as_i64()
        ),
        (Some("SUCCESS"), Some(1000))
    );
    let moved = w.ledger("wechatpay", "refunds").await;
    assert_eq!(
        (moved["count"].as_u64(), moved["moved_total"].as_str()),
        (Some(1), Some("10.00")),
        "{moved}"
    );
    let ours = w.order(&order_id).await;
    assert_eq!(
        ours["status"], "PARTIALLY_REFUNDED",
        "the refund notice reached the stack: {ours}"
    );
    let too_much = json!({"out_trade_no": order_id, "out_refund_no": "RF-sim-2",
        "amount": {"refund": 7801, "total": 8800, "currency": "CNY"}});
    let refused = wx
        .call("POST", "/v3/refund/domestic/refunds", Some(&too_much))
        .await;
    assert_eq!(
        (refused.status, refused.json()["code"].as_str()),
        (400, Some("INVALID_REQUEST"))
    );
}

#[tokio::test]
async fn a_wechatpay_transfer_moves_money_once_even_when_sent_twice() {
    let w = world().await;
    let wx = Wechat::new(&w);
    let platform_key = public_key_from_text(&w.env["WECHATPAY_PLATFORM_PUBLIC_KEY"]).unwrap();
    let mut bill = wx.transfer("POsim1", 500);
    bill["user_name"] = json!(encrypt_sensitive("张三", &platform_key).unwrap());
    let path = "/v3/fund-app/mch-transfer/transfer-bills";
    let first = wx.call("POST", path, Some(&bill)).await;
    assert_eq!(
        (first.status, first.json()["state"].as_str()),
        (200, Some("SUCCESS")),
        "{}",
        first.text()
    );
    // Sent again, the name encrypted anew (OAEP differs every time).
    bill["user_name"] = json!(encrypt_sensitive("张三", &platform_key).unwrap());
    let second = wx.call("POST", path, Some(&bill)).await.json();
    assert_eq!(second["transfer_bill_no"], first.json()["transfer_bill_no"]);
    let moved = w.ledger("wechatpay", "transfers").await;
    assert_eq!(
        (
            moved["count"].as_u64(),
            moved["transfers"][0]["out_bill_no"].as_str()
        ),
        (Some(1), Some("POsim1"))
    );
    let other = wx
        .call("POST", path, Some(&wx.transfer("POsim1", 600)))
        .await;
    assert_eq!(
        (other.status, other.json()["code"].as_str()),
        (400, Some("INVALID_REQUEST"))
    );
    let queried = wx
        .call("GET", &format!("{path}/out-bill-no/POsim1"), None)
        .await
        .json();
    assert_eq!(
        (
            queried["state"].as_str(),
            queried["transfer_amount"].as_i64()
        ),
        (Some("SUCCESS"), Some(500))
    );
    let unknown = wx
        .call("GET", &format!("{path}/out-bill-no/POsim404"), None)
        .await;
    assert_eq!(
        (unknown.status, unknown.json()["code"].as_str()),
        (404, Some("NOT_FOUND"))
    );

    let mut garbled = wx.transfer("POsim2", 500);
    garbled["user_name"] = json!("bm90IGVuY3J5cHRlZA==");
    let refused = wx.call("POST", path, Some(&garbled)).await;
    assert_eq!(
        (refused.status, refused.json()["code"].as_str()),
        (400, Some("PARAM_ERROR"))
    );
    let unnamed = wx
        .call("POST", path, Some(&wx.transfer("POsim3", 200_000)))
        .await;
    assert_eq!(
        unnamed.json()["code"],
        "PARAM_ERROR",
        "a name is required from ¥2,000"
    );
    assert_eq!(w.ledger("wechatpay", "transfers").await["count"], 1);
}

#[tokio::test]
async fn wechatpay_transfers_can_wait_for_the_payee_who_confirms_or_never_does() {
    let w = world().await;
    let wx = Wechat::new(&w);
    assert_eq!(
        w.settings(json!({"wechatpay_payee_confirms": true})).await["wechatpay_payee_confirms"],
        true
    );
    let path = "/v3/fund-app/mch-transfer/transfer-bills";
    let waiting = wx
        .call("POST", path, Some(&wx.transfer("POwait1", 300)))
        .await
        .json();
    assert_eq!(waiting["state"], "WAIT_USER_CONFIRM");
    assert!(
        waiting["package_info"]
            .as_str()
            .is_some_and(|p| !p.is_empty()),
        "{waiting}"
    );
    assert_eq!(
        w.ledger("wechatpay", "transfers").await["count"],
        0,
        "nothing moves before the payee confirms"
    );
    let confirmed = w
        .json(
            "POST",
            "/sandbox/wechatpay/transfers/POwait1/confirm",
            None,
            None,
        )
        .await;
    assert_eq!(
        (confirmed.status, confirmed.json()["state"].as_str()),
        (200, Some("SUCCESS"))
    );
    assert_eq!(
        w.json(
            "POST",
            "/sandbox/wechatpay/transfers/POwait1/confirm",
            None,
            None
        )
        .await
        .status,
        409
    );
    assert_eq!(
        wx.call("GET", &format!("{path}/out-bill-no/POwait1"), None)
            .await
            .json()["state"],
        "SUCCESS"
    );
    assert_eq!(w.ledger("wechatpay", "transfers").await["count"], 1);

    wx.call("POST", path, Some(&wx.transfer("POwait2", 300)))
        .await;
    let cancel = format!("{path}/out-bill-no/POwait2/cancel");
    assert_eq!(
        wx.call("POST", &cancel, None).await.json()["state"],
        "CANCELLED"
    );
    assert_eq!(
        w.json(
            "POST",
            "/sandbox/wechatpay/transfers/POwait2/confirm",
            None,
            None
        )
        .await
        .status,
        409
    );
    let late = wx
        .call("POST", &format!("{path}/out-bill-no/POwait1/cancel"), None)
        .await;
    assert_eq!(
        (late.status, late.json()["code"].as_str()),
        (400, Some("INVALID_REQUEST")),
        "already paid"
    );

    wx.call("POST", path, Some(&wx.transfer("POwait3", 300)))
        .await;
    let day = w
        .json(
            "POST",
            "/sandbox/clock",
            None,
            Some(json!({"advance_s": 24 * 3600 + 60})),
        )
        .await;
    assert_eq!(day.status, 200);
    let closed = wx
        .call("GET", &format!("{path}/out-bill-no/POwait3"), None)
        .await
        .json();
    assert_eq!(
        (closed["state"].as_str(), closed["fail_reason"].as_str()),
        (Some("FAIL"), Some("OVERDUE_CLOSE"))
    );
    assert_eq!(w.ledger("wechatpay", "transfers").await["count"], 1);
}

// ---- Alipay ----------------------------------------------------------------------

struct Ali<'w> {
    w: &'w World,
    signer: alipay::RequestSigner,
    verifier: AnswerVerifier,
}

impl<'w> Ali<'w> {
    /// Public-key mode, or certificate mode (`cert`).
    fn new(w: &'w World, cert: bool) -> Ali<'w> {
        let e = &w.env;
        let signer = alipay::RequestSigner::new(
            &e["ALIPAY_APP_ID"],
            &Secret::new(e["ALIPAY_APP_PRIVATE_KEY"].clone()),
        )
        .unwrap();
        let (signer, verifier) = if cert {
            (
                signer
                    .with_certificates(&e["ALIPAY_APP_CERT"], &e["ALIPAY_ROOT_CERT"])
                    .unwrap(),
                AnswerVerifier::from_certificates(&[e["ALIPAY_PUBLIC_CERT"].as_str()]).unwrap(),
            )
        } else {
            (
                signer,
                AnswerVerifier::from_public_key_texts(&[e["ALIPAY_PUBLIC_KEY"].as_str()]).unwrap(),
            )
        };
        Ali {
            w,
            signer,
            verifier,
        }
    }

    /// The raw answer of one signed call (a POSTed form).
    async fn raw(&self, method: &str, biz: &Value) -> Answer {
        let notify = format!("{}/callbacks/alipay", self.w.env["QRPAY_CALLBACK_BASE_URL"]);
        let signed = self
            .signer
            .sign(method, &biz.to_string(), Some(&notify), None, self.w.now());
        let headers = [(
            "content-type",
            "application/x-www-form-urlencoded;charset=utf-8",
        )];
        self.w
            .send("POST", ALIPAY, &headers, signed.form().as_bytes())
            .await
    }

    /// The verified `*_response` object of one call.
    async fn call(&self, method: &str, biz: Value) -> Value {
        let answer = self.raw(method, &biz).await;
        assert_eq!(answer.status, 200);
        self.verifier
            .verify_answer(&answer.body, method)
            .unwrap_or_else(|e| panic!("{method}: {e}: {}", answer.text()))
    }
}

#[tokio::test]
async fn alipay_precreate_pay_query_and_refund_end_on_the_stacks_order() {
    let w = world().await;
    let ali = Ali::new(&w, false);
    let order_id = w.our_order("600.00").await;
    let precreate = json!({"out_trade_no": order_id, "total_amount": "600.00", "subject": "茶具",
        "extend_params": {"hb_fq_num": "3", "hb_fq_seller_percent": "100"}});
    let first = ali.call("alipay.trade.precreate", precreate.clone()).await;
    assert_eq!(first["code"], "10000", "{first}");
    let qr_code = first["qr_code"].as_str().unwrap().to_owned();
    assert!(qr_code.starts_with("https://qr.alipay.com/"), "{qr_code}");
    assert_eq!(
        ali.call("alipay.trade.precreate", precreate.clone()).await["qr_code"],
        qr_code.as_str()
    );
    let mut changed = precreate.clone();
    changed["total_amount"] = json!("601.00");
    assert_eq!(
        ali.call("alipay.trade.precreate", changed).await["sub_code"],
        "ACQ.CONTEXT_INCONSISTENT"
    );
    let query = json!({"out_trade_no": order_id});
    assert_eq!(
        ali.call("alipay.trade.query", query.clone()).await["sub_code"],
        "ACQ.TRADE_NOT_EXIST",
        "unscanned"
    );

    let paid = w
        .buyer_pays(
            "alipay",
            json!({"code": qr_code, "payer": "2088102146225135"}),
        )
        .await;
    assert_eq!(
        (paid["amount"].as_str(), paid["instalments"].as_u64()),
        (Some("600.00"), Some(3)),
        "Huabei in one payment"
    );
    assert_eq!(paid["callback"]["first"]["body"], "success", "{paid}");
    let ours = w.order(&order_id).await;
    assert_eq!(
        (ours["status"].as_str(), ours["provider"].as_str()),
        (Some("PAID"), Some("alipay"))
    );
    assert_eq!(ours["paid_amount"], "600.00");
    let trade = ali.call("alipay.trade.query", query.clone()).await;
    assert_eq!(
        (
            trade["trade_status"].as_str(),
            trade["buyer_user_id"].as_str()
        ),
        (Some("TRADE_SUCCESS"), Some("2088102146225135"))
    );
    assert_eq!(
        ali.call("alipay.trade.close", query).await["sub_code"],
        "ACQ.TRADE_STATUS_ERROR"
    );

    let refund =
        json!({"out_trade_no": order_id, "refund_amount": "50.00", "out_request_no": "RFali1"});
    let moved = ali.call("alipay.trade.refund", refund.clone()).await;
    assert_eq!(
        (moved["fund_change"].as_str(), moved["refund_fee"].as_str()),
        (Some("Y"), Some("50.00")),
        "{moved}"
    );
    let again = ali.call("alipay.trade.refund", refund).await;
    assert_eq!(
        (again["fund_change"].as_str(), again["refund_fee"].as_str()),
        (Some("N"), Some("50.00"))
    );
    let asked = json!({"out_trade_no": order_id, "out_request_no": "RFali1"});
    assert_eq!(
        ali.call("alipay.trade.fastpay.refund.query", asked).await["refund_status"],
        "REFUND_SUCCESS"
    );
    let never = json!({"out_trade_no": order_id, "out_request_no": "RFali9"});
    let none = ali.call("alipay.trade.fastpay.refund.query", never).await;
    assert_eq!(
        (none["code"].as_str(), none.get("refund_status")),
        (Some("10000"), None),
        "not refunded"
    );
    let ledger = w.ledger("alipay", "refunds").await;
    assert_eq!(
        (ledger["count"].as_u64(), ledger["moved_total"].as_str()),
        (Some(1), Some("50.00"))
    );
    assert_eq!(w.order(&order_id).await["status"], "PARTIALLY_REFUNDED");
}

#[tokio::test]
async fn alipay_refuses_bad_signatures_and_wants_certificates_for_transfers() {
    let w = world().await;
    let ali = Ali::new(&w, false);
    let biz = json!({"out_trade_no": "ord_sim_ali_x"});
    let notify = format!("{}/callbacks/alipay", w.env["QRPAY_CALLBACK_BASE_URL"]);
    let signed = ali.signer.sign(
        "alipay.trade.query",
        &biz.to_string(),
        Some(&notify),
        None,
        w.now(),
    );
    let tampered = signed.form().replace("ord_sim_ali_x", "ord_sim_ali_y");
    let headers = [("content-type", "application/x-www-form-urlencoded")];
    let answer = w.send("POST", ALIPAY, &headers, tampered.as_bytes()).await;
    let body = answer.json();
    let inner = &body["alipay_trade_query_response"];
    assert_eq!(
        (inner["code"].as_str(), inner["sub_code"].as_str()),
        (Some("40002"), Some("isv.invalid-signature"))
    );
    assert!(body.get("sign").is_none(), "gateway errors are unsigned");
    assert!(matches!(
        ali.verifier
            .verify_answer(&answer.body, "alipay.trade.query"),
        Err(alipay::AnswerError::Unsigned)
    ));
    // The same parameters in the query string, untouched, are fine.
    let in_query = w
        .send("GET", &format!("{ALIPAY}?{}", signed.form()), &[], b"")
        .await;
    let inner = ali
        .verifier
        .verify_answer(&in_query.body, "alipay.trade.query")
        .unwrap();
    assert_eq!(inner["sub_code"], "ACQ.TRADE_NOT_EXIST");

    let transfer = json!({"out_biz_no": "POali0", "trans_amount": "1.00", "product_code": "TRANS_ACCOUNT_NO_PWD",
        "biz_scene": "DIRECT_TRANSFER", "order_title": "运费",
        "payee_info": {"identity": "2088102146225135", "identity_type": "ALIPAY_USER_ID"}});
    let answer = ali
        .raw("alipay.fund.trans.uni.transfer", &transfer)
        .await
        .json();
    assert_eq!(
        answer["alipay_fund_trans_uni_transfer_response"]["sub_code"],
        "isv.missing-app-cert-sn"
    );
    assert_eq!(w.ledger("alipay", "transfers").await["count"], 0);
}

#[tokio::test]
async fn an_alipay_transfer_in_certificate_mode_moves_money_once() {
    let w = world().await;
    let ali = Ali::new(&w, true);
    let transfer = json!({"out_biz_no": "POali1", "trans_amount": "5.00", "product_code": "TRANS_ACCOUNT_NO_PWD",
        "biz_scene": "DIRECT_TRANSFER", "order_title": "运费补偿",
        "payee_info": {"identity": "2088102146225135", "identity_type": "ALIPAY_USER_ID"}});
    let first = ali
        .call("alipay.fund.trans.uni.transfer", transfer.clone())
        .await;
    assert_eq!(
        (first["code"].as_str(), first["status"].as_str()),
        (Some("10000"), Some("SUCCESS")),
        "{first}"
    );
    let second = ali.call("alipay.fund.trans.uni.transfer", transfer).await;
    assert_eq!(second["order_id"], first["order_id"]);
    let ledger = w.ledger("alipay", "transfers").await;
    assert_eq!(
        (ledger["count"].as_u64(), ledger["moved_total"].as_str()),
        (Some(1), Some("5.00"))
    );
    let query = json!({"out_biz_no": "POali1", "product_code": "TRANS_ACCOUNT_NO_PWD", "biz_scene": "DIRECT_TRANSFER"});
    let found = ali.call("alipay.fund.trans.common.query", query).await;
    assert_eq!(
        (found["status"].as_str(), found["trans_amount"].as_str()),
        (Some("SUCCESS"), Some("5.00"))
    );
    let unknown = ali
        .call(
            "alipay.fund.trans.common.query",
            json!({"out_biz_no": "POali404"}),
        )
        .await;
    assert_eq!(unknown["sub_code"], "ORDER_NOT_EXIST");
    // Another app certificate SN: refused before anything moves.
    let other = alipay::RequestSigner::new(
        &w.env["ALIPAY_APP_ID"],
        &Secret::new(w.env["ALIPAY_APP_PRIVATE_KEY"].clone()),
    )
    .unwrap()
    .with_cert_sns(
        "0123456789abcdef0123456789abcdef",
        &alipay::root_cert_sn(&w.env["ALIPAY_ROOT_CERT"]).unwrap(),
    )
    .unwrap();
    let signed = other.sign(
        "alipay.fund.trans.common.query",
        r#"{"out_biz_no":"POali1"}"#,
        None,
        None,
        w.now(),
    );
    let headers = [("content-type", "application/x-www-form-urlencoded")];
    let refused = w
        .send("POST", ALIPAY, &headers, signed.form().as_bytes())
        .await
        .json();
    assert_eq!(
        refused["alipay_fund_trans_common_query_response"]["sub_code"],
        "isv.invalid-app-cert-sn"
    );
}

#[tokio::test]
async fn the_alipay_wap_page_lets_the_buyer_pay() {
    let w = world().await;
    let ali = Ali::new(&w, false);
    let order_id = w.our_order("12.50").await;
    let biz = json!({"out_trade_no": order_id, "total_amount": "12.50", "subject": "奶茶", "product_code": "QUICK_WAP_WAY"});
    let notify = format!("{}/callbacks/alipay", w.env["QRPAY_CALLBACK_BASE_URL"]);
    let signed = ali.signer.sign(
        "alipay.trade.wap.pay",
        &biz.to_string(),
        Some(&notify),
        Some("https://shop.example/back"),
        w.now(),
    );
    let page = w
        .send("GET", &format!("{ALIPAY}?{}", signed.form()), &[], b"")
        .await;
    assert_eq!(page.status, 200);
    assert!(
        page.text().contains("action=\"/sandbox/alipay/pay\"") && page.text().contains(&order_id),
        "{}",
        page.text()
    );
    let opened = ali
        .call("alipay.trade.query", json!({"out_trade_no": order_id}))
        .await;
    assert_eq!(
        opened["trade_status"], "WAIT_BUYER_PAY",
        "the trade exists once the page is open"
    );
    let form = format!("out_trade_no={order_id}");
    let headers = [("content-type", "application/x-www-form-urlencoded")];
    let done = w
        .send("POST", "/sandbox/alipay/pay", &headers, form.as_bytes())
        .await;
    assert!(
        done.text().contains("https://shop.example/back"),
        "{}",
        done.text()
    );
    assert_eq!(w.order(&order_id).await["status"], "PAID");
}

// ---- Douyin Pay ------------------------------------------------------------------

/// The ecpay `sign`, written here from the documentation's rule (GATEWAYS.md
/// §3.2) independently of the simulator's: values but the four unsigned
/// keys, as text, trimmed and unquoted, without "" and "null", plus the salt,
/// sorted, `&`-joined, MD5.
fn douyin_sign(params: &Value, salt: &str) -> String {
    let mut values: Vec<String> = params
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| {
            !["app_id", "thirdparty_id", "sign", "other_settle_params"].contains(&k.as_str())
        })
        .map(|(_, v)| {
            v.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string())
        })
        .map(|v| v.trim().trim_matches('"').trim().to_owned())
        .filter(|v| !v.is_empty() && v != "null")
        .collect();
    values.push(salt.to_owned());
    values.sort();
    hex::encode(Md5::digest(values.join("&")))
}

async fn douyin(w: &World, op: &str, mut params: Value) -> Value {
    params["app_id"] = json!(w.env["DOUYIN_APP_ID"]);
    params["sign"] = json!(douyin_sign(&params, &w.env["DOUYIN_SALT"]));
    let answer = w
        .json("POST", &format!("{DOUYIN}/{op}"), None, Some(params))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.json()
}

#[tokio::test]
async fn a_douyin_order_is_paid_and_refunded_with_the_salted_sign() {
    let w = world().await;
    let order_id = w.our_order("9.90").await;
    let order = json!({"out_order_no": order_id, "total_amount": 990, "subject": "柠檬茶", "body": "柠檬茶",
        "valid_time": 1800, "notify_url": format!("{}/callbacks/douyin", w.env["QRPAY_CALLBACK_BASE_URL"])});
    let created = douyin(&w, "create_order", order.clone()).await;
    assert_eq!(created["err_no"], 0, "{created}");
    assert_eq!(
        douyin(&w, "create_order", order.clone()).await["data"],
        created["data"],
        "same order again"
    );
    let mut forged = order.clone();
    forged["app_id"] = json!(w.env["DOUYIN_APP_ID"]);
    forged["sign"] = json!(douyin_sign(&forged, "not-the-salt"));
    let refused = w
        .json(
            "POST",
            &format!("{DOUYIN}/create_order"),
            None,
            Some(forged),
        )
        .await
        .json();
    assert_eq!(refused["err_no"], 2008);
    let query = json!({"out_order_no": order_id});
    assert_eq!(
        douyin(&w, "query_order", query.clone()).await["payment_info"]["order_status"],
        "PROCESSING"
    );

    let paid = w
        .buyer_pays("douyin", json!({"code": created["data"]["order_token"]}))
        .await;
    assert_eq!(paid["callback"]["first"]["body"]["err_no"], 0, "{paid}");
    assert_eq!(paid["transaction_id"], created["data"]["order_id"]);
    assert_eq!(w.order(&order_id).await["status"], "PAID");
    assert_eq!(
        douyin(&w, "query_order", query).await["payment_info"]["order_status"],
        "SUCCESS"
    );

    let refund = json!({"out_order_no": order_id, "out_refund_no": "RFdy1", "reason": "少冰", "refund_amount": 990});
    let first = douyin(&w, "create_refund", refund.clone()).await;
    assert_eq!(
        douyin(&w, "create_refund", refund).await["refund_no"],
        first["refund_no"]
    );
    let info = douyin(&w, "query_refund", json!({"out_refund_no": "RFdy1"})).await;
    assert_eq!(info["refundInfo"]["refund_status"], "SUCCESS");
    assert_eq!(w.ledger("douyin", "refunds").await["count"], 1);
    assert_eq!(w.order(&order_id).await["status"], "REFUNDED");
}

// ---- Faults ----------------------------------------------------------------------

#[tokio::test]
async fn faults_fail_transfers_and_refunds_with_the_providers_own_answers() {
    let w = world().await;
    let wx = Wechat::new(&w);
    let ali = Ali::new(&w, true);
    let order_id = w.our_order("20.00").await;
    let created = wx
        .call(
            "POST",
            "/v3/pay/transactions/native",
            Some(&wx.native(&order_id, 2000)),
        )
        .await;
    w.buyer_pays("wechatpay", json!({"code": created.json()["code_url"]}))
        .await;
    w.faults(1.0, 0.0, 0.0).await;

    let failed = wx
        .call(
            "POST",
            "/v3/fund-app/mch-transfer/transfer-bills",
            Some(&wx.transfer("POfail1", 100)),
        )
        .await
        .json();
    assert_eq!(
        (failed["state"].as_str(), failed["fail_reason"].as_str()),
        (Some("FAIL"), Some("ACCOUNT_FROZEN"))
    );
    let transfer = json!({"out_biz_no": "POfail2", "trans_amount": "1.00", "product_code": "TRANS_ACCOUNT_NO_PWD",
        "biz_scene": "DIRECT_TRANSFER", "order_title": "运费",
        "payee_info": {"identity": "2088102146225135", "identity_type": "ALIPAY_USER_ID"}});
    let refused = ali.call("alipay.fund.trans.uni.transfer", transfer).await;
    assert_eq!(
        (refused["code"].as_str(), refused["sub_code"].as_str()),
        (Some("40004"), Some("PAYEE_NOT_EXIST"))
    );
    let found = ali
        .call(
            "alipay.fund.trans.common.query",
            json!({"out_biz_no": "POfail2"}),
        )
        .await;
    assert_eq!(found["status"], "FAIL");
    let refund = json!({"out_trade_no": order_id, "out_refund_no": "RFfail1",
        "amount": {"refund": 100, "total": 2000, "currency": "CNY"}});
    let answer = wx
        .call("POST", "/v3/refund/domestic/refunds", Some(&refund))
        .await;
    assert_eq!(
        (answer.status, answer.json()["code"].as_str()),
        (403, Some("USER_ACCOUNT_ABNORMAL"))
    );
    assert_eq!(
        wx.call("GET", "/v3/refund/domestic/refunds/RFfail1", None)
            .await
            .json()["status"],
        "CLOSED"
    );
    for (provider, kind) in [
        ("wechatpay", "transfers"),
        ("alipay", "transfers"),
        ("wechatpay", "refunds"),
    ] {
        assert_eq!(
            w.ledger(provider, kind).await["count"],
            0,
            "{provider} {kind}"
        );
    }
    assert_eq!(w.order(&order_id).await["status"], "PAID");
}

#[tokio::test]
async fn lost_answers_leave_money_moved_or_not_and_a_resend_never_moves_it_twice() {
    let w = world().await;
    let wx = Wechat::new(&w);
    w.faults(0.0, 1.0, 0.0).await;
    let path = "/v3/fund-app/mch-transfer/transfer-bills";
    let ids: Vec<String> = (0..12).map(|i| format!("POlost{i}")).collect();
    for id in &ids {
        let lost = wx.call("POST", path, Some(&wx.transfer(id, 100))).await;
        assert_eq!(
            (lost.status, lost.json()["code"].as_str()),
            (500, Some("SYSTEM_ERROR")),
            "{id}"
        );
    }
    let moved_while_lost = w.ledger("wechatpay", "transfers").await["count"]
        .as_u64()
        .unwrap();
    let mut found = 0;
    for id in &ids {
        let queried = wx
            .call("GET", &format!("{path}/out-bill-no/{id}"), None)
            .await;
        if queried.status == 200 {
            assert_eq!(queried.json()["state"], "SUCCESS");
            found += 1;
        } else {
            assert_eq!(queried.json()["code"], "NOT_FOUND");
        }
    }
    assert_eq!(
        found, moved_while_lost,
        "queries find exactly the bills whose money moved"
    );
    assert!(
        0 < found && found < 12,
        "both kinds of lost answer happen at this seed ({found} of 12)"
    );
    w.faults(0.0, 0.0, 0.0).await;
    for id in &ids {
        assert_eq!(
            wx.call("POST", path, Some(&wx.transfer(id, 100)))
                .await
                .json()["state"],
            "SUCCESS"
        );
    }
    let ledger = w.ledger("wechatpay", "transfers").await;
    assert_eq!(
        ledger["count"], 12,
        "each bill moved money exactly once: {ledger}"
    );
    let mut moved: Vec<&str> = ledger["transfers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["out_bill_no"].as_str().unwrap())
        .collect();
    moved.sort_unstable();
    moved.dedup();
    assert_eq!(moved.len(), 12);
}

#[tokio::test]
async fn a_lost_answer_can_hang_past_the_clients_timeout() {
    let w = world().await;
    let ali = Ali::new(&w, true);
    w.settings(json!({"lost_answer": "hang", "hang_ms": 1500}))
        .await;
    w.faults(0.0, 1.0, 0.0).await;
    let transfer = json!({"out_biz_no": "POhang1", "trans_amount": "2.00", "product_code": "TRANS_ACCOUNT_NO_PWD",
        "biz_scene": "DIRECT_TRANSFER", "order_title": "运费",
        "payee_info": {"identity": "2088102146225135", "identity_type": "ALIPAY_USER_ID"}});
    let started = Instant::now();
    let gave_up = tokio::time::timeout(
        Duration::from_millis(300),
        ali.raw("alipay.fund.trans.uni.transfer", &transfer),
    )
    .await;
    assert!(gave_up.is_err(), "the client's timeout fires first");
    assert!(started.elapsed() < Duration::from_millis(1000));
    // Waited out, the answer is Alipay's signed "service unavailable".
    let waited = ali.call("alipay.fund.trans.uni.transfer", json!({"out_biz_no": "POhang2", "trans_amount": "2.00",
        "product_code": "TRANS_ACCOUNT_NO_PWD", "biz_scene": "DIRECT_TRANSFER", "order_title": "运费",
        "payee_info": {"identity": "2088102146225135", "identity_type": "ALIPAY_USER_ID"}})).await;
    assert_eq!(
        (waited["code"].as_str(), waited["sub_code"].as_str()),
        (Some("20000"), Some("isp.unknow-error"))
    );
    assert!(started.elapsed() >= Duration::from_millis(1500));
}

#[tokio::test]
async fn duplicate_callbacks_are_delivered_twice_and_applied_once() {
    let w = world().await;
    let wx = Wechat::new(&w);
    w.faults(0.0, 0.0, 1.0).await;
    let order_id = w.our_order("30.00").await;
    let created = wx
        .call(
            "POST",
            "/v3/pay/transactions/native",
            Some(&wx.native(&order_id, 3000)),
        )
        .await;
    let paid = w
        .buyer_pays(
            "wechatpay",
            json!({"out_trade_no": order_id, "payer": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}),
        )
        .await;
    assert_eq!(paid["callback"]["deliveries"], 2, "{paid}");
    assert_eq!(created.status, 200);
    let ours = w.order(&order_id).await;
    assert_eq!(
        (ours["status"].as_str(), ours["paid_amount"].as_str()),
        (Some("PAID"), Some("30.00"))
    );
    let alerts = w.local.running.stack.alerts.kept.raised();
    assert!(
        alerts.iter().all(|a| !a.code.contains("DUPLICATE")),
        "{alerts:?}"
    );
}

#[tokio::test]
async fn the_stack_hands_out_one_configuration_made_quickly_once_per_process() {
    let w = world().await;
    let generated = w.local.running.stack.simulators.key_generation_time();
    println!("simulator key material made in {generated:?}");
    assert!(generated < Duration::from_secs(20), "{generated:?}");
    let e = &w.env;
    let base = format!("http://{}", w.local.running.addr);
    assert_eq!(e["QRPAY_CALLBACK_BASE_URL"], base);
    assert_eq!(e["WECHATPAY_BASE_URL"], format!("{base}{WX}"));
    assert_eq!(e["ALIPAY_GATEWAY_URL"], format!("{base}{ALIPAY}"));
    assert_eq!(e["DOUYIN_BASE_URL"], format!("{base}{DOUYIN}"));
    assert_eq!(alipay::cert_sn(&e["ALIPAY_APP_CERT"]).unwrap().len(), 32);
    let described = w
        .json("GET", "/sandbox/simulators", None, None)
        .await
        .json();
    assert_eq!(
        described["alipay"]["alipay_cert_sn"],
        alipay::cert_sn(&e["ALIPAY_PUBLIC_CERT"]).unwrap()
    );
    assert!(
        !described.to_string().contains("PRIVATE KEY"),
        "no key over HTTP"
    );
    let other = world().await;
    assert_eq!(
        other.env["WECHATPAY_MCH_PRIVATE_KEY"], e["WECHATPAY_MCH_PRIVATE_KEY"],
        "made once per process"
    );
}

// ---- Against the providers' SDKs -------------------------------------------------
//
// wechatpayv3 2.0.4 and python-alipay-sdk 3.4.0 (infra/conformance.sh) through
// the provider crate's offline drivers: the simulators' answers pass the SDKs'
// own checks, and requests the SDKs sign pass the simulators'.

#[allow(dead_code)]
#[path = "../../../shared/provider/tests/common/sdk.rs"]
mod sdk;

/// One case through `shared/provider/tests/conformance/{driver}`.
fn sdk_case(driver: &str, case: Value) -> Value {
    use std::io::Write;
    let driver = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/provider/tests/conformance")
        .join(driver);
    let mut child = std::process::Command::new(sdk::python())
        .arg(&driver)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", driver.display()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(case.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        case["op"],
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn wechatpayv3_accepts_the_simulators_answers_and_the_simulator_its_requests() {
    let w = world().await;
    let wx = Wechat::new(&w);
    let e = &w.env;
    let check = |answer: &Answer| {
        let headers: serde_json::Map<String, Value> = answer
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        sdk_case(
            "wechatpay.py",
            json!({"op": "verify_signature",
            "private_key": e["WECHATPAY_MCH_PRIVATE_KEY"], "mchid": e["WECHATPAY_MCHID"],
            "serial": e["WECHATPAY_MCH_SERIAL"], "public_key": e["WECHATPAY_PLATFORM_PUBLIC_KEY"],
            "public_key_id": e["WECHATPAY_PLATFORM_SERIAL"], "headers": headers, "body": answer.text()}),
        )["verified"]
            == json!(true)
    };
    let created = wx
        .call(
            "POST",
            "/v3/pay/transactions/native",
            Some(&wx.native("ord_sim_sdk_1", 100)),
        )
        .await;
    assert!(check(&created), "a 200 answer: {}", created.text());
    let close = json!({"mchid": e["WECHATPAY_MCHID"]});
    let closed = wx
        .call(
            "POST",
            "/v3/pay/transactions/out-trade-no/ord_sim_sdk_1/close",
            Some(&close),
        )
        .await;
    assert!(closed.status == 204 && check(&closed), "a 204 answer");
    let mut forged = created.clone();
    forged.body.push(b' ');
    assert!(!check(&forged), "the SDK refuses a changed body");

    // The SDK's own Authorization, for a GET with a query.
    let path = format!(
        "{WX}/v3/pay/transactions/out-trade-no/ord_sim_sdk_1?mchid={}",
        e["WECHATPAY_MCHID"]
    );
    let theirs = sdk_case(
        "wechatpay.py",
        json!({"op": "authorization",
        "private_key": e["WECHATPAY_MCH_PRIVATE_KEY"], "mchid": e["WECHATPAY_MCHID"],
        "serial": e["WECHATPAY_MCH_SERIAL"], "method": "GET", "path": path, "body": "",
        "timestamp": w.now().timestamp().to_string(), "nonce": "SDKNONCE0123456789ABCDEF01234567"}),
    );
    let auth = theirs["authorization"].as_str().unwrap();
    let headers = [
        ("authorization", auth),
        ("accept", "application/json"),
        ("user-agent", "wechatpayv3"),
    ];
    let answer = w.send("GET", &path, &headers, b"").await;
    assert_eq!(
        (answer.status, answer.json()["trade_state"].as_str()),
        (200, Some("CLOSED")),
        "{}",
        answer.text()
    );
}

#[tokio::test]
async fn python_alipay_sdk_accepts_the_simulators_answers_and_the_simulator_its_requests() {
    let w = world().await;
    let ali = Ali::new(&w, false);
    let e = &w.env;
    let as_app = |op: &str| {
        json!({"op": op, "app_id": e["ALIPAY_APP_ID"],
        "private_key": e["ALIPAY_APP_PRIVATE_KEY"], "public_key": e["ALIPAY_PUBLIC_KEY"]})
    };
    let biz = json!({"out_trade_no": "ord_sim_sdk_2", "total_amount": "1.00", "subject": "咖啡"});
    let answer = ali.raw("alipay.trade.precreate", &biz).await;
    assert!(
        answer.text().contains("https:\\/\\/qr.alipay.com\\/"),
        "Alipay's escapes: {}",
        answer.text()
    );
    let mut case = as_app("verify_answer");
    case["raw"] = json!(answer.text());
    case["response_key"] = json!("alipay_trade_precreate_response");
    let verified = sdk_case("alipay.py", case.clone());
    assert_eq!(verified["verified"], true, "{verified}");
    assert!(verified["response"]["qr_code"]
        .as_str()
        .unwrap()
        .starts_with("https://qr.alipay.com/"));
    case["raw"] = json!(answer.text().replace("ord_sim_sdk_2", "ord_sim_sdk_3"));
    assert_eq!(sdk_case("alipay.py", case)["verified"], false);

    // A request signed by the SDK (public-key mode), sent as it signed it.
    let ours = ali.signer.sign(
        "alipay.trade.query",
        r#"{"out_trade_no":"ord_sim_sdk_2"}"#,
        None,
        None,
        w.now(),
    );
    let mut params: serde_json::Map<String, Value> = ours
        .params()
        .filter(|(k, _)| *k != "sign")
        .map(|(k, v)| (k.to_owned(), json!(v)))
        .collect();
    let mut case = as_app("sign_data");
    case["params"] = Value::Object(params.clone());
    params.insert("sign".into(), sdk_case("alipay.py", case)["sign"].clone());
    let form = form_of(&params);
    let headers = [("content-type", "application/x-www-form-urlencoded")];
    let query = w.send("POST", ALIPAY, &headers, form.as_bytes()).await;
    assert_eq!(
        ali.verifier
            .verify_answer(&query.body, "alipay.trade.query")
            .unwrap()["sub_code"],
        "ACQ.TRADE_NOT_EXIST"
    );

    // Certificate mode: the SDK computes the SNs of the stack's certificates itself.
    let mut case = as_app("dc_sign_data");
    for (k, v) in [
        ("app_cert", "ALIPAY_APP_CERT"),
        ("alipay_cert", "ALIPAY_PUBLIC_CERT"),
        ("root_cert", "ALIPAY_ROOT_CERT"),
    ] {
        case[k] = json!(e[v]);
    }
    case["method"] = json!("alipay.fund.trans.common.query");
    // A string, sent exactly as the SDK signs it (a dict would be re-serialized).
    case["biz_content"] = json!(r#"{"out_biz_no":"POsdk1"}"#);
    case["notify_url"] = json!(format!("{}/callbacks/alipay", e["QRPAY_CALLBACK_BASE_URL"]));
    case["timestamp"] = json!(beijing_timestamp(w.now()));
    let theirs = sdk_case("alipay.py", case);
    let mut params = theirs["params"].as_object().unwrap().clone();
    params.insert("sign".into(), theirs["sign"].clone());
    let fund = w
        .send("POST", ALIPAY, &headers, form_of(&params).as_bytes())
        .await;
    let certs = AnswerVerifier::from_certificates(&[e["ALIPAY_PUBLIC_CERT"].as_str()]).unwrap();
    let inner = certs
        .verify_answer(&fund.body, "alipay.fund.trans.common.query")
        .unwrap_or_else(|err| panic!("{err}: {}", fund.text()));
    assert_eq!(
        inner["sub_code"], "ORDER_NOT_EXIST",
        "accepted, and answered in certificate mode"
    );
}

fn form_of(params: &serde_json::Map<String, Value>) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        form.append_pair(k, v.as_str().unwrap());
    }
    form.finish()
}

fn beijing_timestamp(now: DateTime<Utc>) -> String {
    (now + chrono::Duration::hours(8))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

#[tokio::test]
async fn wechatpay_bills_answer_as_wechat_does_before_and_after_publication() {
    let w = world().await;
    let wx = Wechat::new(&w);
    let today = qrpay_domain::BusinessDate::of(w.now());
    let code = |a: &Answer| (a.status, a.json()["code"].as_str().map(str::to_owned));
    let refused = |c: &str| (400, Some(c.to_owned()));
    let cases = [
        (
            "/v3/bill/tradebill?bill_date=2026-1-01".to_owned(),
            refused("PARAM_ERROR"),
        ),
        (
            format!("/v3/bill/tradebill?bill_date={today}&bill_type=SUCCESS"),
            refused("PARAM_ERROR"),
        ),
        (
            format!("/v3/bill/tradebill?bill_date={today}&tar_type=ZIP"),
            refused("PARAM_ERROR"),
        ),
        (
            format!("/v3/bill/fundflowbill?bill_date={today}&account_type=OTHER"),
            refused("PARAM_ERROR"),
        ),
        (
            format!("/v3/bill/tradebill?bill_date={}", today.days_before(93)),
            refused("INVALID_REQUEST"),
        ),
        (
            format!("/v3/bill/tradebill?bill_date={today}&bill_type=ALL&tar_type=GZIP"),
            refused("STATEMENT_CREATING"),
        ),
        (
            format!("/v3/bill/tradebill?bill_date={}", today.pred()),
            refused("NO_STATEMENT_EXIST"),
        ),
        (
            format!(
                "/v3/bill/fundflowbill?bill_date={}&account_type=OPERATION",
                today.pred()
            ),
            refused("NO_STATEMENT_EXIST"),
        ),
        (
            "/v3/billdownload/file?token=nope".to_owned(),
            refused("INVALID_REQUEST"),
        ),
    ];
    for (path, want) in cases {
        assert_eq!(code(&wx.call("GET", &path, None).await), want, "{path}");
    }
    // Unsigned: refused like every other route.
    let unsigned = w
        .send(
            "GET",
            &format!("{WX}/v3/bill/tradebill?bill_date={today}"),
            &[("accept", "application/json")],
            b"",
        )
        .await;
    assert_eq!(code(&unsigned), (401, Some("SIGN_ERROR".to_owned())));

    // A paid order, then the day ends: a plain (unpacked) bill whose SHA-1 is named.
    let order = w.our_order("8.00").await;
    let created = wx
        .call(
            "POST",
            "/v3/pay/transactions/native",
            Some(&wx.native(&order, 800)),
        )
        .await;
    let paid = w
        .json(
            "POST",
            "/sandbox/wechatpay/pay",
            None,
            Some(json!({"code": created.json()["code_url"]})),
        )
        .await;
    assert_eq!(paid.status, 200, "{}", paid.text());
    let to_midnight = (today.succ().starts_at() - w.now()).num_seconds() + 1;
    let moved = w
        .json(
            "POST",
            "/sandbox/clock",
            None,
            Some(json!({"advance_s": to_midnight})),
        )
        .await;
    assert_eq!(moved.status, 200);
    let applied = wx
        .call(
            "GET",
            &format!("/v3/bill/tradebill?bill_date={today}"),
            None,
        )
        .await;
    assert_eq!(applied.status, 200, "{}", applied.text());
    let address = applied.json();
    assert_eq!(address["hash_type"], "SHA1");
    let url = address["download_url"].as_str().unwrap();
    let path = url.split_once(WX).unwrap().1;
    assert!(path.starts_with("/v3/billdownload/file?token="), "{url}");
    let file = wx.unverified("GET", path, b"", &wx.signer).await;
    assert_eq!(file.status, 200);
    assert!(
        file.headers
            .iter()
            .all(|(k, _)| !k.to_ascii_lowercase().starts_with("wechatpay-")),
        "the file is not signed"
    );
    let sha1 = {
        use sha1::Digest;
        hex::encode(sha1::Sha1::digest(&file.body))
    };
    assert_eq!(address["hash_value"], json!(sha1));
    let text = file.text();
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(
        text.contains(&format!(",`{order},`"))
            && text.contains(",`NATIVE,`SUCCESS,`OTHERS,`CNY,`8.00,`"),
        "{text}"
    );
    assert!(
        text.ends_with("`1,`8.00,`0.00,`0.00,`0.05000,`8.00,`0.00\n"),
        "{text}"
    );
}
