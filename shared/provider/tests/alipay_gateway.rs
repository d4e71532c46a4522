//! The Alipay adapter end to end through a fake Alipay (`HttpTransport`):
//! the exact form it sends (public parameters, `biz_content`, the RSA2 sign
//! checked with the app's public key, certificate SNs), what it makes of
//! each documented answer, and that anything it cannot trust is ambiguous.
//! Keys are fresh per run; certificates are made by the test.

#[path = "alipay_gateway/certs.rs"]
mod certs;
mod common;
#[path = "alipay_gateway/fake.rs"]
mod fake;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Duration, Utc};
use common::keys;
use common::sdk::{private_pem, public_pem};
use fake::{Buyer, CertSns, FakeAlipay, Fault, Sent, APP_ID, GATEWAY_URL, UNKNOWN_PAYEE};
use qrpay_domain::{
    Amount, OrderId, PayerAccount, PayerAccountKind, PayoutId, Provider, ShopId, TestClock,
};
use qrpay_provider::alipay::gateway::{AlipayConfig, AlipayGateway, DEFAULT_GATEWAY_URL};
use qrpay_provider::alipay::{cert_sn, root_cert_sn, AlipaySigner};
use qrpay_provider::gateway::{
    AnswerVerdict, CloseOutcome, CollectRequest, CollectionGateway, CreateOutcome, Gateways,
    HttpTransport, PayMethod, ProviderCode, ProviderInstalments, RefundGateway, RefundNo,
    RefundOutcome, RefundRequest, TradeState,
};
use qrpay_provider::{Payee, QueryOutcome, TransferOutcome, TransferProvider, TransferRequest};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};

const ORDER: &str = "ord_01JQ0000000000000000000000";
const BUYER: &str = "2088102177846880";
const OPEN_ID: &str = "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5";
const NOTIFY_URL: &str = "https://pay.example.com/callbacks/alipay";
const FIRST_QR: &str = "https://qr.alipay.com/bax01ljhokirwl38f00a7";

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T02:00:05Z")
        .unwrap()
        .to_utc()
}

fn app_key() -> &'static RsaPrivateKey {
    &keys().current
}

fn alipay_key() -> &'static RsaPrivateKey {
    &keys().previous
}

/// Signs forged answers, and is the test certificates' CA.
fn stranger_key() -> &'static RsaPrivateKey {
    &keys().stranger
}

struct Certs {
    app: String,
    alipay: String,
    root: String,
}

fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(|| {
        let ca = stranger_key();
        let root_cn = "Ant Financial Certification Authority R1";
        Certs {
            app: certs::certificate(
                "2088000000000000-2021000117600001",
                &app_key().to_public_key(),
                "Ant Financial Certification Authority Class 1 R1",
                ca,
                0x0a01,
            ),
            alipay: certs::certificate(
                "Alipay",
                &alipay_key().to_public_key(),
                "Ant Financial Certification Authority Class 2 R1",
                ca,
                0x0a02,
            ),
            root: certs::certificate(root_cn, &ca.to_public_key(), root_cn, ca, 0x0a03),
        }
    })
}

fn public_key_env() -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("ALIPAY_APP_ID", APP_ID.to_owned()),
        ("ALIPAY_APP_PRIVATE_KEY", private_pem(app_key())),
        (
            "ALIPAY_PUBLIC_KEY",
            public_pem(&alipay_key().to_public_key()),
        ),
        ("ALIPAY_GATEWAY_URL", GATEWAY_URL.to_owned()),
        (
            "QRPAY_CALLBACK_BASE_URL",
            "https://pay.example.com/".to_owned(),
        ),
    ])
}

fn certificate_env() -> BTreeMap<&'static str, String> {
    let mut env = public_key_env();
    env.remove("ALIPAY_PUBLIC_KEY");
    env.insert("ALIPAY_APP_CERT", certs().app.clone());
    env.insert("ALIPAY_PUBLIC_CERT", certs().alipay.clone());
    env.insert("ALIPAY_ROOT_CERT", certs().root.clone());
    env
}

fn reader<'a>(env: &'a BTreeMap<&'static str, String>) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| env.get(name).cloned()
}

struct Harness {
    gateway: Arc<AlipayGateway>,
    fake: Arc<FakeAlipay>,
    clock: Arc<TestClock>,
}

impl Harness {
    fn new(certificate_mode: bool) -> Harness {
        let env = if certificate_mode {
            certificate_env()
        } else {
            public_key_env()
        };
        Harness::with(&env, app_key().to_public_key())
    }

    /// `app_public_key`: the key the fake checks our sign with.
    fn with(env: &BTreeMap<&'static str, String>, app_public_key: RsaPublicKey) -> Harness {
        let clock = Arc::new(TestClock::at(now()));
        let cert_sns = env.contains_key("ALIPAY_APP_CERT").then(|| CertSns {
            app_cert_sn: cert_sn(&certs().app).unwrap(),
            alipay_root_cert_sn: root_cert_sn(&certs().root).unwrap(),
            alipay_cert_sn: cert_sn(&certs().alipay).unwrap(),
        });
        let fake = Arc::new(FakeAlipay::new(
            app_public_key,
            AlipaySigner::new(APP_ID, alipay_key().clone()).unwrap(),
            AlipaySigner::new(APP_ID, stranger_key().clone()).unwrap(),
            cert_sns,
            clock.clone(),
        ));
        let transport: Arc<dyn HttpTransport> = fake.clone();
        let gateway = AlipayGateway::from_env(&reader(env), transport, clock.clone())
            .expect("a valid configuration")
            .expect("Alipay is configured");
        Harness {
            gateway: Arc::new(gateway),
            fake,
            clock,
        }
    }

    fn last(&self) -> Sent {
        let sent = self.fake.sent();
        let last = sent.last().expect("a request was sent").clone();
        assert!(last.sign_verified, "our sign verifies with the app key");
        last
    }

    async fn trade(&self, order_id: &OrderId) -> TradeState {
        CollectionGateway::query(self.gateway.as_ref(), order_id).await
    }

    async fn paid_order(&self, order: &str, fen: i64) {
        let created = self.gateway.create(&scan(order, fen)).await;
        assert!(matches!(created, CreateOutcome::Created(_)), "{created:?}");
        self.fake.scan(order);
        self.fake.pay(order, Buyer::UserId(BUYER));
    }
}

fn order_id(text: &str) -> OrderId {
    OrderId::parse(text).unwrap()
}

fn amount(fen: i64) -> Amount {
    Amount::from_fen(fen).unwrap()
}

fn scan(order: &str, fen: i64) -> CollectRequest {
    CollectRequest {
        order_id: order_id(order),
        amount: amount(fen),
        subject: "小店收款 咖啡机".into(),
        expires_at: now() + Duration::minutes(15),
        method: PayMethod::Scan,
        instalments: None,
        shop_id: None,
    }
}

fn refund(refund_no: &str, fen: i64) -> RefundRequest {
    RefundRequest {
        refund_no: RefundNo::parse(refund_no).unwrap(),
        order_id: order_id(ORDER),
        amount: amount(fen),
        order_total: amount(8880),
        reason: Some("破损".into()),
    }
}

fn transfer(payout: &str, fen: i64, account: Option<PayerAccount>) -> TransferRequest {
    TransferRequest {
        out_bill_no: PayoutId::parse(payout).unwrap(),
        amount: amount(fen),
        payee: Payee {
            shop_id: ShopId::parse("shop_1").unwrap(),
            order_id: order_id(ORDER),
            provider_txn_id: Some("2026030122001401000000000001".into()),
            account,
        },
    }
}

fn alipay_user(id: &str) -> Option<PayerAccount> {
    Some(PayerAccount::new(PayerAccountKind::AlipayUserId, id).unwrap())
}

fn keys_of(sent: &Sent) -> Vec<&str> {
    sent.params.keys().map(String::as_str).collect()
}

// ---- collection ----------------------------------------------------------------------

#[tokio::test]
async fn a_precreate_sends_the_documented_signed_form_and_returns_the_qr_code() {
    let h = Harness::new(false);
    let outcome = h.gateway.create(&scan(ORDER, 8880)).await;
    assert_eq!(
        outcome,
        CreateOutcome::Created(ProviderCode::QrContent(FIRST_QR.into())),
        "the answer's \\/ escapes are read back"
    );
    let sent = h.last();
    assert_eq!(
        keys_of(&sent),
        [
            "app_id",
            "biz_content",
            "charset",
            "format",
            "method",
            "notify_url",
            "sign",
            "sign_type",
            "timestamp",
            "version"
        ]
    );
    assert_eq!(sent.params["method"], "alipay.trade.precreate");
    assert_eq!(sent.params["timestamp"], "2026-03-01 10:00:05");
    assert_eq!(sent.params["notify_url"], NOTIFY_URL);
    assert_eq!(
        sent.params["biz_content"],
        format!(
            r#"{{"out_trade_no":"{ORDER}","subject":"小店收款 咖啡机","time_expire":"2026-03-01 10:15:05","total_amount":"88.80"}}"#
        )
    );
}

#[tokio::test]
async fn creating_twice_finds_the_same_order_and_a_paid_one_is_already_paid() {
    let h = Harness::new(false);
    let first = h.gateway.create(&scan(ORDER, 8880)).await;
    h.clock.advance_ms(90_000);
    let second = h.gateway.create(&scan(ORDER, 8880)).await;
    assert_eq!(first, second, "the same provider order");
    let sent = h.fake.sent();
    assert_eq!(sent[0].params["biz_content"], sent[1].params["biz_content"]);
    assert_ne!(sent[0].params["timestamp"], sent[1].params["timestamp"]);

    let other_amount = h.gateway.create(&scan(ORDER, 9999)).await;
    assert!(
        matches!(&other_amount, CreateOutcome::Ambiguous { detail } if detail.contains("ACQ.CONTEXT_INCONSISTENT")),
        "other parameters under the same out_trade_no: query first ({other_amount:?})"
    );

    h.fake.scan(ORDER);
    h.fake.pay(ORDER, Buyer::UserId(BUYER));
    assert_eq!(
        h.gateway.create(&scan(ORDER, 8880)).await,
        CreateOutcome::AlreadyPaid
    );
}

#[tokio::test]
async fn huabei_instalments_say_who_pays_the_fee() {
    let h = Harness::new(false);
    let mut request = scan(ORDER, 128_800);
    request.instalments = Some(ProviderInstalments {
        periods: 6,
        shop_pays_fee: true,
    });
    h.gateway.create(&request).await;
    assert_eq!(
        h.last().biz["extend_params"],
        json!({"hb_fq_num": "6", "hb_fq_seller_percent": "100"})
    );
    let mut request = scan("ord_2", 128_800);
    request.instalments = Some(ProviderInstalments {
        periods: 12,
        shop_pays_fee: false,
    });
    h.gateway.create(&request).await;
    assert_eq!(
        h.last().biz["extend_params"],
        json!({"hb_fq_num": "12", "hb_fq_seller_percent": "0"})
    );
}

#[tokio::test]
async fn a_wap_order_is_a_signed_redirect_and_sends_nothing() {
    let h = Harness::new(false);
    let mut request = scan(ORDER, 8880);
    let return_url = "https://pay.example.com/receipts/tok_1";
    request.method = PayMethod::Wap {
        return_url: return_url.into(),
    };
    let CreateOutcome::Created(ProviderCode::Redirect(url)) = h.gateway.create(&request).await
    else {
        panic!("a redirect");
    };
    assert!(h.fake.sent().is_empty(), "wap pay makes no server call");
    let query = url
        .strip_prefix(&format!("{GATEWAY_URL}?"))
        .expect("the gateway with the signed parameters");
    let params: BTreeMap<String, String> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    h.fake.check_public_params(&params);
    assert!(h.fake.signed_by_the_app(&params));
    assert_eq!(params["method"], "alipay.trade.wap.pay");
    assert_eq!(params["return_url"], return_url);
    assert_eq!(params["notify_url"], NOTIFY_URL);
    let biz: Value = serde_json::from_str(&params["biz_content"]).unwrap();
    assert_eq!(
        biz,
        json!({"out_trade_no": ORDER, "total_amount": "88.80", "subject": "小店收款 咖啡机",
               "time_expire": "2026-03-01 10:15:05", "product_code": "QUICK_WAP_WAY",
               "quit_url": return_url})
    );

    request.method = PayMethod::Wap {
        return_url: "javascript:alert(1)".into(),
    };
    assert!(matches!(
        h.gateway.create(&request).await,
        CreateOutcome::Refused { code, .. } if code == "INVALID_RETURN_URL"
    ));
}

#[tokio::test]
async fn other_pay_methods_are_refused_before_any_call() {
    let h = Harness::new(false);
    for method in [
        PayMethod::Jsapi {
            openid: "o1".into(),
        },
        PayMethod::H5 {
            client_ip: "1.2.3.4".into(),
        },
        PayMethod::Cashier,
    ] {
        let mut request = scan(ORDER, 100);
        request.method = method;
        assert!(matches!(
            h.gateway.create(&request).await,
            CreateOutcome::Refused { code, .. } if code == "METHOD_NOT_SUPPORTED"
        ));
    }
    assert!(h.fake.sent().is_empty());
}

#[tokio::test]
async fn a_query_follows_the_trade_from_unscanned_to_paid() {
    let h = Harness::new(false);
    let id = order_id(ORDER);
    assert_eq!(h.trade(&id).await, TradeState::NotFound);
    h.gateway.create(&scan(ORDER, 8880)).await;
    assert_eq!(
        h.trade(&id).await,
        TradeState::NotFound,
        "nobody scanned the code yet"
    );
    let sent = h.last();
    assert_eq!(sent.params["method"], "alipay.trade.query");
    assert_eq!(
        sent.params["biz_content"],
        format!(r#"{{"out_trade_no":"{ORDER}"}}"#)
    );
    assert!(!sent.params.contains_key("notify_url"));
    h.fake.scan(ORDER);
    assert_eq!(h.trade(&id).await, TradeState::Waiting);
    h.fake.pay(ORDER, Buyer::UserId(BUYER));
    let TradeState::Paid {
        provider_txn_id,
        amount: paid,
        account,
    } = h.trade(&id).await
    else {
        panic!("paid");
    };
    assert_eq!(provider_txn_id, "20260301220014000001");
    assert_eq!(paid, amount(8880));
    assert_eq!(account, alipay_user(BUYER));

    h.gateway.create(&scan("ord_open", 100)).await;
    h.fake.scan("ord_open");
    h.fake.pay("ord_open", Buyer::OpenId(OPEN_ID));
    let TradeState::Paid { account, .. } = h.trade(&order_id("ord_open")).await else {
        panic!("paid");
    };
    let account = account.unwrap();
    assert_eq!(
        (account.kind(), account.expose()),
        (PayerAccountKind::AlipayOpenId, OPEN_ID)
    );
}

#[tokio::test]
async fn close_answers_not_found_closed_or_ambiguous() {
    let h = Harness::new(false);
    let id = order_id(ORDER);
    h.gateway.create(&scan(ORDER, 8880)).await;
    assert_eq!(h.gateway.close(&id).await, CloseOutcome::NotFound);
    h.fake.scan(ORDER);
    assert_eq!(h.gateway.close(&id).await, CloseOutcome::Closed);
    assert_eq!(h.last().params["method"], "alipay.trade.close");
    assert!(matches!(h.trade(&id).await, TradeState::Closed { .. }));
    h.paid_order("ord_paid", 100).await;
    assert!(matches!(
        h.gateway.close(&order_id("ord_paid")).await,
        CloseOutcome::Ambiguous { detail } if detail.contains("ACQ.TRADE_STATUS_ERROR")
    ));
}

#[tokio::test]
async fn collection_works_in_certificate_mode_too() {
    let h = Harness::new(true);
    assert_eq!(
        h.gateway.create(&scan(ORDER, 8880)).await,
        CreateOutcome::Created(ProviderCode::QrContent(FIRST_QR.into()))
    );
    let sent = h.last();
    assert_eq!(sent.params["app_cert_sn"], cert_sn(&certs().app).unwrap());
    assert_eq!(
        sent.params["alipay_root_cert_sn"],
        root_cert_sn(&certs().root).unwrap()
    );
    h.fake.fault(Fault::UnknownCertSn);
    let state = h.trade(&order_id(ORDER)).await;
    assert!(matches!(
        &state,
        TradeState::Ambiguous { detail } if detail.contains("unknown Alipay certificate")
    ));
    // Alipay may have rotated its certificate: worth re-reading the keys.
    assert!(state.key_mismatch());
}

// ---- answers that cannot be trusted ----------------------------------------------

fn untrusted_faults() -> Vec<Fault> {
    vec![
        Fault::Status(502),
        Fault::Status(404),
        Fault::Timeout,
        Fault::Garbage,
        Fault::BadSignature,
        Fault::Unsigned,
    ]
}

#[tokio::test]
async fn untrustworthy_answers_to_a_precreate_are_ambiguous() {
    let h = Harness::new(false);
    for fault in untrusted_faults() {
        // Only a signature by another key may be a rotated Alipay key.
        let forged = matches!(fault, Fault::BadSignature);
        h.fake.fault(fault);
        let outcome = h.gateway.create(&scan(ORDER, 8880)).await;
        assert!(
            matches!(outcome, CreateOutcome::Ambiguous { .. }),
            "{outcome:?}"
        );
        assert_eq!(outcome.key_mismatch(), forged, "{outcome:?}");
    }
    // A forged "already paid" or "closed" is not believed either.
    for sub_code in ["ACQ.TRADE_HAS_SUCCESS", "ACQ.TRADE_HAS_CLOSE"] {
        h.fake.fault(Fault::Forged(
            json!({"code": "40004", "msg": "Business Failed", "sub_code": sub_code}),
        ));
        let outcome = h.gateway.create(&scan(ORDER, 8880)).await;
        assert!(matches!(outcome, CreateOutcome::Ambiguous { .. }));
    }
    let elsewhere = json!({"code": "10000", "msg": "Success", "out_trade_no": "ord_other",
                           "qr_code": "https://qr.alipay.com/x"});
    h.fake.fault(Fault::Answer(elsewhere));
    let outcome = h.gateway.create(&scan(ORDER, 8880)).await;
    assert!(
        matches!(&outcome, CreateOutcome::Ambiguous { detail } if detail.contains("another out_trade_no")),
        "{outcome:?}"
    );
    assert!(h.fake.sent().iter().all(|s| s.sign_verified));
}

#[tokio::test]
async fn untrustworthy_answers_to_queries_refunds_and_transfers_are_ambiguous() {
    let h = Harness::new(true);
    h.paid_order(ORDER, 8880).await;
    for fault in untrusted_faults() {
        h.fake.fault(fault);
        let state = h.trade(&order_id(ORDER)).await;
        assert!(matches!(state, TradeState::Ambiguous { .. }), "{state:?}");
    }
    for fault in untrusted_faults() {
        h.fake.fault(fault);
        let outcome = h.gateway.refund(&refund("rf_1", 100)).await;
        assert!(
            matches!(outcome, RefundOutcome::Ambiguous { .. }),
            "{outcome:?}"
        );
    }
    h.fake
        .fault(Fault::Forged(json!({"code": "10000", "fund_change": "Y"})));
    let forged = h.gateway.refund(&refund("rf_1", 100)).await;
    assert!(matches!(forged, RefundOutcome::Ambiguous { .. }));
    for fault in untrusted_faults() {
        h.fake.fault(fault);
        let outcome = h
            .gateway
            .transfer(&transfer("po_1", 500, alipay_user(BUYER)))
            .await;
        assert!(
            matches!(outcome, TransferOutcome::Ambiguous { .. }),
            "{outcome:?}"
        );
    }
    h.fake.fault(Fault::Forged(
        json!({"code": "40004", "sub_code": "PAYEE_NOT_EXIST"}),
    ));
    let forged = h
        .gateway
        .transfer(&transfer("po_1", 500, alipay_user(BUYER)))
        .await;
    assert!(
        matches!(forged, TransferOutcome::Ambiguous { .. }),
        "a forged failure never fails a payout"
    );
    h.fake.fault(Fault::UnknownCertSn);
    let rotated =
        TransferProvider::query(h.gateway.as_ref(), &PayoutId::parse("po_1").unwrap()).await;
    assert!(matches!(rotated, QueryOutcome::Ambiguous { .. }));
}

#[tokio::test]
async fn a_request_signed_with_another_app_key_is_refused_by_alipay() {
    let h = Harness::with(&public_key_env(), stranger_key().to_public_key());
    let outcome = h.gateway.create(&scan(ORDER, 8880)).await;
    assert_eq!(
        outcome,
        CreateOutcome::Refused {
            code: "isv.invalid-signature".into(),
            reason: "40002 isv.invalid-signature: 验签出错".into()
        }
    );
    assert!(!h.fake.sent()[0].sign_verified, "the fake checked our sign");
}

#[tokio::test]
async fn the_previous_alipay_key_still_verifies_during_a_rotation() {
    let mut env = public_key_env();
    env.insert(
        "ALIPAY_PUBLIC_KEY",
        public_pem(&stranger_key().to_public_key()),
    );
    env.insert(
        "ALIPAY_PUBLIC_KEY_PREVIOUS",
        public_pem(&alipay_key().to_public_key()),
    );
    let h = Harness::with(&env, app_key().to_public_key());
    assert!(matches!(
        h.gateway.create(&scan(ORDER, 8880)).await,
        CreateOutcome::Created(_)
    ));
}

// ---- refunds -------------------------------------------------------------------------

#[tokio::test]
async fn a_refund_moves_money_once_per_refund_id() {
    let h = Harness::new(false);
    h.paid_order(ORDER, 8880).await;
    let rf_1 = RefundNo::parse("rf_1").unwrap();
    let id = order_id(ORDER);
    assert_eq!(
        h.gateway.query_refund(&id, &rf_1).await,
        RefundOutcome::NotFound
    );
    assert_eq!(
        h.last().params["biz_content"],
        format!(r#"{{"out_request_no":"rf_1","out_trade_no":"{ORDER}"}}"#)
    );

    let done = RefundOutcome::Succeeded {
        provider_refund_id: None,
    };
    assert_eq!(h.gateway.refund(&refund("rf_1", 1000)).await, done);
    let sent = h.last();
    assert_eq!(sent.params["method"], "alipay.trade.refund");
    assert_eq!(
        sent.params["biz_content"],
        format!(
            r#"{{"out_request_no":"rf_1","out_trade_no":"{ORDER}","refund_amount":"10.00","refund_reason":"破损"}}"#
        )
    );
    let repeat = h.gateway.refund(&refund("rf_1", 1000)).await;
    assert!(
        matches!(&repeat, RefundOutcome::Ambiguous { detail } if detail.contains("fund_change=N")),
        "{repeat:?}"
    );
    assert_eq!(h.gateway.query_refund(&id, &rf_1).await, done);

    let changed = h.gateway.refund(&refund("rf_1", 2000)).await;
    assert!(
        matches!(&changed, RefundOutcome::Ambiguous { detail } if detail.contains("ACQ.DISCORDANT_REPEAT_REQUEST"))
    );
    let too_much = h.gateway.refund(&refund("rf_2", 8000)).await;
    assert!(matches!(
        too_much,
        RefundOutcome::Failed { code, .. } if code == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"
    ));
}

#[tokio::test]
async fn a_short_balance_leaves_the_refund_to_be_resent() {
    let h = Harness::new(false);
    h.paid_order(ORDER, 8880).await;
    h.fake.short_of_balance(true);
    assert!(matches!(
        h.gateway.refund(&refund("rf_1", 1000)).await,
        RefundOutcome::NotDoneYet { reason } if reason.contains("ACQ.SELLER_BALANCE_NOT_ENOUGH")
    ));
    h.fake.short_of_balance(false);
    assert_eq!(
        h.gateway.refund(&refund("rf_1", 1000)).await,
        RefundOutcome::Succeeded {
            provider_refund_id: None
        },
        "the same refund id goes through once the balance is topped up"
    );
}

#[tokio::test]
async fn refunding_an_unpaid_order_fails() {
    let h = Harness::new(false);
    h.gateway.create(&scan(ORDER, 8880)).await;
    h.fake.scan(ORDER);
    assert!(matches!(
        h.gateway.refund(&refund("rf_1", 100)).await,
        RefundOutcome::Failed { code, .. } if code == "ACQ.TRADE_STATUS_ERROR"
    ));
}

// ---- transfers -----------------------------------------------------------------------

#[tokio::test]
async fn a_transfer_pays_the_buyer_once_per_payout_id() {
    let h = Harness::new(true);
    let request = transfer("po_01JQ0000000000000000000001", 500, alipay_user(BUYER));
    let TransferOutcome::Succeeded { provider_ref } = h.gateway.transfer(&request).await else {
        panic!("paid");
    };
    let sent = h.last();
    assert_eq!(sent.params["method"], "alipay.fund.trans.uni.transfer");
    assert!(!sent.params.contains_key("notify_url"));
    assert_eq!(
        sent.params["biz_content"],
        format!(
            r#"{{"biz_scene":"DIRECT_TRANSFER","order_title":"商家打款 {ORDER}","out_biz_no":"po_01JQ0000000000000000000001","payee_info":{{"identity":"{BUYER}","identity_type":"ALIPAY_USER_ID"}},"product_code":"TRANS_ACCOUNT_NO_PWD","trans_amount":"5.00"}}"#
        )
    );
    assert_eq!(
        h.gateway.transfer(&request).await,
        TransferOutcome::Succeeded {
            provider_ref: provider_ref.clone()
        },
        "Alipay answers a repeated out_biz_no with the earlier result"
    );
    assert_eq!(
        TransferProvider::query(h.gateway.as_ref(), &request.out_bill_no).await,
        QueryOutcome::Succeeded { provider_ref }
    );
    assert_eq!(
        h.last().params["biz_content"],
        r#"{"biz_scene":"DIRECT_TRANSFER","out_biz_no":"po_01JQ0000000000000000000001","product_code":"TRANS_ACCOUNT_NO_PWD"}"#
    );
    let never_sent = PayoutId::parse("po_never").unwrap();
    assert_eq!(
        TransferProvider::query(h.gateway.as_ref(), &never_sent).await,
        QueryOutcome::NotFound
    );
}

#[tokio::test]
async fn an_open_id_payee_is_paid_by_open_id() {
    let h = Harness::new(true);
    let account = Some(PayerAccount::new(PayerAccountKind::AlipayOpenId, OPEN_ID).unwrap());
    let outcome = h.gateway.transfer(&transfer("po_2", 500, account)).await;
    assert!(matches!(outcome, TransferOutcome::Succeeded { .. }));
    assert_eq!(
        h.last().biz["payee_info"],
        json!({"identity": OPEN_ID, "identity_type": "ALIPAY_OPEN_ID"})
    );
}

#[tokio::test]
async fn an_unknown_payee_fails_the_transfer() {
    let h = Harness::new(true);
    let outcome = h
        .gateway
        .transfer(&transfer("po_3", 500, alipay_user(UNKNOWN_PAYEE)))
        .await;
    assert_eq!(
        outcome,
        TransferOutcome::Failed {
            reason: "40004 PAYEE_NOT_EXIST: 收款账号不存在".into()
        }
    );
}

#[tokio::test]
async fn transfers_without_an_alipay_account_fail_before_any_call() {
    let h = Harness::new(true);
    let wechat = Some(
        PayerAccount::new(
            PayerAccountKind::WechatOpenid,
            "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        )
        .unwrap(),
    );
    for account in [None, wechat] {
        let outcome = h.gateway.transfer(&transfer("po_4", 500, account)).await;
        assert!(
            matches!(outcome, TransferOutcome::Failed { .. }),
            "{outcome:?}"
        );
    }
    let too_small = h
        .gateway
        .transfer(&transfer("po_5", 9, alipay_user(BUYER)))
        .await;
    assert!(matches!(too_small, TransferOutcome::Failed { .. }));
    assert!(h.fake.sent().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn public_key_mode_sends_no_transfer() {
    let h = Harness::new(false);
    let outcome = h
        .gateway
        .transfer(&transfer("po_6", 500, alipay_user(BUYER)))
        .await;
    assert!(
        matches!(outcome, TransferOutcome::Failed { reason } if reason.contains("certificate mode"))
    );
    let query =
        TransferProvider::query(h.gateway.as_ref(), &PayoutId::parse("po_6").unwrap()).await;
    assert!(matches!(query, QueryOutcome::Ambiguous { .. }));
    assert!(h.fake.sent().is_empty());
}

// ---- configuration -------------------------------------------------------------------

fn transport() -> Arc<dyn HttpTransport> {
    Arc::new(FakeAlipay::new(
        app_key().to_public_key(),
        AlipaySigner::new(APP_ID, alipay_key().clone()).unwrap(),
        AlipaySigner::new(APP_ID, stranger_key().clone()).unwrap(),
        None,
        Arc::new(TestClock::at(now())),
    ))
}

fn build(env: &BTreeMap<&'static str, String>) -> Result<Option<AlipayGateway>, String> {
    AlipayGateway::from_env(&reader(env), transport(), Arc::new(TestClock::at(now())))
}

fn error_of(env: &BTreeMap<&'static str, String>) -> String {
    build(env).expect_err("the configuration is refused")
}

#[test]
fn without_an_app_id_alipay_is_not_offered() {
    assert!(build(&BTreeMap::new()).unwrap().is_none());
    let mut env = public_key_env();
    env.insert("ALIPAY_APP_ID", "  ".into());
    assert!(build(&env).unwrap().is_none());
}

#[test]
fn missing_or_broken_keys_fail_loudly_without_quoting_them() {
    let mut env = public_key_env();
    env.remove("ALIPAY_APP_PRIVATE_KEY");
    assert_eq!(
        error_of(&env),
        "ALIPAY_APP_PRIVATE_KEY is required when ALIPAY_APP_ID is set"
    );
    env.insert(
        "ALIPAY_APP_PRIVATE_KEY",
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC-not-a-key".into(),
    );
    let error = error_of(&env);
    assert!(error.starts_with("ALIPAY_APP_PRIVATE_KEY: "), "{error}");
    assert!(!error.contains("MIIEvQ"), "{error}");

    let mut env = public_key_env();
    env.remove("ALIPAY_PUBLIC_KEY");
    assert!(error_of(&env).contains("ALIPAY_PUBLIC_KEY is required"));
    env.insert(
        "ALIPAY_PUBLIC_KEY",
        "-----BEGIN PUBLIC KEY-----\nbroken".into(),
    );
    assert!(error_of(&env).starts_with("ALIPAY_PUBLIC_KEY: "));
}

#[test]
fn certificate_mode_needs_all_three_certificates_and_the_app_key_they_certify() {
    let mut env = certificate_env();
    env.remove("ALIPAY_ROOT_CERT");
    assert!(error_of(&env)
        .contains("ALIPAY_APP_CERT, ALIPAY_PUBLIC_CERT and ALIPAY_ROOT_CERT together"));

    let mut env = certificate_env();
    env.insert("ALIPAY_APP_PRIVATE_KEY", private_pem(stranger_key()));
    assert_eq!(
        error_of(&env),
        "ALIPAY_APP_CERT does not certify the key in ALIPAY_APP_PRIVATE_KEY"
    );
    let mut env = certificate_env();
    env.insert(
        "ALIPAY_PUBLIC_CERT",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----".into(),
    );
    assert!(error_of(&env).starts_with("ALIPAY_PUBLIC_CERT: "));
    let mut env = certificate_env();
    env.insert("ALIPAY_ROOT_CERT", "garbage".into());
    assert!(error_of(&env).contains("ALIPAY_ROOT_CERT"));
}

#[test]
fn urls_must_be_plain_http_urls() {
    for (name, value) in [
        ("ALIPAY_GATEWAY_URL", "ftp://openapi.alipay.com/gateway.do"),
        (
            "ALIPAY_GATEWAY_URL",
            "https://openapi.alipay.com/gateway.do?charset=utf-8",
        ),
        ("QRPAY_CALLBACK_BASE_URL", "pay.example.com"),
        ("QRPAY_CALLBACK_BASE_URL", "https://pay.example.com/x y"),
    ] {
        let mut env = public_key_env();
        env.insert(name, value.into());
        assert!(error_of(&env).starts_with(name), "{name}={value}");
    }
}

#[test]
fn the_gateway_defaults_to_alipay_and_the_notify_url_follows_the_callback_base() {
    let mut env = public_key_env();
    env.remove("ALIPAY_GATEWAY_URL");
    env.remove("QRPAY_CALLBACK_BASE_URL");
    let config = AlipayConfig::from_env(&reader(&env)).unwrap().unwrap();
    assert_eq!(config.gateway_url, DEFAULT_GATEWAY_URL);
    assert_eq!(config.notify_url, None);
    let config = AlipayConfig::from_env(&reader(&public_key_env()))
        .unwrap()
        .unwrap();
    assert_eq!(config.notify_url.as_deref(), Some(NOTIFY_URL));
    let debug = format!("{config:?}");
    assert!(
        !debug.contains("PRIVATE KEY") && !debug.contains("PUBLIC KEY"),
        "{debug}"
    );
}

#[test]
fn transfers_are_offered_only_in_certificate_mode() {
    let public_key = Arc::new(build(&public_key_env()).unwrap().unwrap());
    assert!(!public_key.is_certificate_mode());
    let mut gateways = Gateways::default();
    public_key.register(&mut gateways);
    assert!(gateways.collection(Provider::Alipay).is_some());
    assert!(gateways.refunds(Provider::Alipay).is_some());
    assert!(gateways.transfer(Provider::Alipay).is_none());
    assert!(!gateways.payout_channels().contains(Provider::Alipay));

    let certificates = Arc::new(build(&certificate_env()).unwrap().unwrap());
    assert!(certificates.is_certificate_mode());
    let debug = format!("{certificates:?}");
    assert!(
        !debug.contains("PRIVATE") && debug.contains(APP_ID),
        "{debug}"
    );
    let mut gateways = Gateways::default();
    certificates.register(&mut gateways);
    assert!(gateways.transfer(Provider::Alipay).is_some());
    assert!(gateways.payout_channels().contains(Provider::Alipay));
}
