//! A provider key rotation needs no deploy (issue 14): WeChat Pay starts
//! signing its answers with a new platform key, the stage's secret (moto's
//! Secrets Manager) gets the new key, and the next call, refused once for
//! its signature, re-reads the secret, rebuilds the gateway and succeeds —
//! at most one re-read per interval.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aes_gcm::aead::OsRng;
use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use qrpay_aws::gateways::reloading_gateways;
use qrpay_aws::secrets::SECRET_KEYS;
use qrpay_aws::SecretSource;
use qrpay_domain::{Amount, OrderId, Provider, SystemClock};
use qrpay_provider::gateway::{
    AnswerVerdict, HttpRequest, HttpResponse, HttpTransport, RefundNo, RefundOutcome,
    RefundRequest, TradeState, TransportError,
};
use qrpay_tests::{secrets_client, unique_name};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::Sha256;

const MCHID: &str = "1900000109";
const MCH_SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
const SERIALS: [&str; 4] = [
    "PUB_KEY_ID_0114232134912410000000000001",
    "PUB_KEY_ID_0114232134912410000000000002",
    "PUB_KEY_ID_0114232134912410000000000003",
    "PUB_KEY_ID_0114232134912410000000000004",
];
const ORDER: &str = "ord_01JQ0000000000000000000000";
const INTERVAL: Duration = Duration::from_millis(2000);
const PAST_INTERVAL: Duration = Duration::from_millis(2200);

fn new_key() -> RsaPrivateKey {
    RsaPrivateKey::new(&mut OsRng, 2048).expect("an RSA key")
}

/// The stage's secret: every key empty but WeChat Pay's, whose platform
/// key is `platform` under `serial`.
fn secret_json(merchant: &RsaPrivateKey, serial: &str, platform: &RsaPrivateKey) -> String {
    let mut object = serde_json::Map::new();
    for (key, _) in SECRET_KEYS {
        object.insert((*key).into(), "".into());
    }
    let merchant_pem = merchant.to_pkcs8_pem(LineEnding::LF).unwrap();
    let platform_pem = platform
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    for (key, value) in [
        ("wechatpay_mchid", MCHID),
        ("wechatpay_appid", "wxd678efh567hg6787"),
        ("wechatpay_mch_serial", MCH_SERIAL),
        ("wechatpay_mch_private_key", merchant_pem.as_str()),
        ("wechatpay_platform_serial", serial),
        ("wechatpay_platform_public_key", platform_pem.as_str()),
        ("wechatpay_transfer_scene_id", "1005"),
    ] {
        object.insert(key.into(), value.into());
    }
    Value::Object(object).to_string()
}

/// WeChat Pay: answers every query "paid" and every refund "processing",
/// signed with the platform key it currently uses.
struct FakeWechat {
    signing: Mutex<(String, RsaPrivateKey)>,
    seen: Mutex<Vec<HttpRequest>>,
}

impl FakeWechat {
    fn signing_with(&self, serial: &str, key: &RsaPrivateKey) {
        *self.signing.lock().unwrap() = (serial.to_owned(), key.clone());
    }

    fn seen(&self) -> Vec<(String, Value)> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .map(|r| {
                let body = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
                (format!("{} {}", r.method, r.url), body)
            })
            .collect()
    }
}

#[async_trait]
impl HttpTransport for FakeWechat {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let answer = if request.url.contains("/v3/refund/domestic/refunds") {
            json!({"refund_id": "50300908092018010601000000001", "status": "PROCESSING"})
        } else {
            json!({"trade_state": "SUCCESS", "transaction_id": "4200001", "amount": {"total": 990}})
        };
        self.seen.lock().unwrap().push(request);
        let body = answer.to_string().into_bytes();
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let nonce = "593BEC0C930BF1AFEB40B4A08C8FB242";
        let mut message = format!("{timestamp}\n{nonce}\n").into_bytes();
        message.extend_from_slice(&body);
        message.push(b'\n');
        let (serial, key) = self.signing.lock().unwrap().clone();
        let signature = SigningKey::<Sha256>::new(key).sign(&message);
        Ok(HttpResponse {
            status: 200,
            headers: vec![
                ("Wechatpay-Timestamp".into(), timestamp),
                ("Wechatpay-Nonce".into(), nonce.into()),
                (
                    "Wechatpay-Signature".into(),
                    STANDARD.encode(signature.to_bytes()),
                ),
                ("Wechatpay-Serial".into(), serial),
            ],
            body,
        })
    }
}

async fn rotate(name: &str, text: String) {
    secrets_client()
        .put_secret_value()
        .secret_id(name)
        .secret_string(text)
        .send()
        .await
        .expect("put a new secret version");
}

fn paid() -> TradeState {
    TradeState::Paid {
        provider_txn_id: "4200001".into(),
        amount: Amount::parse("9.90").unwrap(),
        account: None,
    }
}

fn refund_request() -> RefundRequest {
    RefundRequest {
        refund_no: RefundNo::parse("rf_01JQ0000000000000000000001").unwrap(),
        order_id: OrderId::parse(ORDER).unwrap(),
        amount: Amount::parse("9.90").unwrap(),
        order_total: Amount::parse("9.90").unwrap(),
        reason: None,
    }
}

#[tokio::test]
async fn a_rotated_platform_key_is_read_once_and_the_call_made_again() {
    std::env::set_var("QRPAY_CALLBACK_BASE_URL", "https://pay.example.com");
    let merchant = new_key();
    let platform: Vec<RsaPrivateKey> = (0..4).map(|_| new_key()).collect();
    let name = unique_name("qrpay/test");
    secrets_client()
        .create_secret()
        .name(&name)
        .secret_string(secret_json(&merchant, SERIALS[0], &platform[0]))
        .send()
        .await
        .expect("create the secret in the emulator");
    let secrets = SecretSource::remote(secrets_client(), name.clone(), INTERVAL)
        .await
        .expect("cold start");
    let fake = Arc::new(FakeWechat {
        signing: Mutex::new((SERIALS[0].into(), platform[0].clone())),
        seen: Mutex::new(Vec::new()),
    });
    let gateways = reloading_gateways(secrets.clone(), fake.clone(), Arc::new(SystemClock))
        .expect("gateways from the secret");
    assert_eq!(
        format!("{gateways:?}"),
        "Gateways { collection: [Wechatpay], refunds: [Wechatpay], transfers: [Wechatpay], bills: [Wechatpay] }"
    );
    let wechat = gateways.collection(Provider::Wechatpay).unwrap().clone();
    let refunds = gateways.refunds(Provider::Wechatpay).unwrap().clone();
    let order = OrderId::parse(ORDER).unwrap();
    assert_eq!(wechat.query(&order).await, paid());
    assert_eq!(fake.seen().len(), 1);

    // WeChat Pay rotates its platform key, and so does the stage's secret.
    fake.signing_with(SERIALS[1], &platform[1]);
    rotate(&name, secret_json(&merchant, SERIALS[1], &platform[1])).await;
    tokio::time::sleep(PAST_INTERVAL).await;
    assert_eq!(wechat.query(&order).await, paid());
    let seen = fake.seen();
    assert_eq!(seen.len(), 3, "refused once, then asked again: {seen:?}");
    assert_eq!(seen[1], seen[2]);
    assert_eq!(secrets.generation(), 1);
    // The rebuilt gateway serves every capability of the provider.
    assert_eq!(
        refunds.refund(&refund_request()).await,
        RefundOutcome::InProgress
    );
    assert_eq!(fake.seen().len(), 4);

    // Another rotation within the interval: the secret is not read again,
    // so the call stays refused (ambiguous) and is not repeated.
    fake.signing_with(SERIALS[2], &platform[2]);
    rotate(&name, secret_json(&merchant, SERIALS[2], &platform[2])).await;
    let outcome = refunds.refund(&refund_request()).await;
    assert!(outcome.key_mismatch(), "{outcome:?}");
    assert!(
        matches!(&outcome, RefundOutcome::Ambiguous { detail } if detail.contains("not trusted"))
    );
    assert_eq!(fake.seen().len(), 5);
    assert_eq!(secrets.generation(), 1);

    // Once the interval has passed, an untrusted refund answer makes the
    // function re-read the secret, but a refund moves money: it is not sent
    // again from here (it stays ambiguous; the worker queries first next
    // time), and that next call is read with the new key.
    tokio::time::sleep(PAST_INTERVAL).await;
    let outcome = refunds.refund(&refund_request()).await;
    assert!(outcome.key_mismatch(), "{outcome:?}");
    assert_eq!(fake.seen().len(), 6, "a refund is never repeated here");
    assert_eq!(secrets.generation(), 2);
    assert_eq!(
        refunds.refund(&refund_request()).await,
        RefundOutcome::InProgress
    );
    let seen = fake.seen();
    assert_eq!(seen.len(), 7);
    assert_eq!(
        seen[6].0,
        "POST https://api.mch.weixin.qq.com/v3/refund/domestic/refunds"
    );
    assert_eq!(seen[6].1["out_refund_no"], "rf_01JQ0000000000000000000001");

    // An answer signed by a stranger while the secret is unchanged: one
    // re-read finds nothing new, so the call is not repeated.
    fake.signing_with(SERIALS[3], &platform[3]);
    tokio::time::sleep(PAST_INTERVAL).await;
    let state = wechat.query(&order).await;
    assert!(state.key_mismatch(), "{state:?}");
    assert_eq!(fake.seen().len(), 8);
    assert_eq!(secrets.generation(), 2);
}
