//! The outbound half of each provider (SPEC §9): one port per capability —
//! collection orders, refunds, transfers (`TransferProvider`) — and the HTTP
//! transport every adapter sends through.
//!
//! Every answer is one of SPEC §4's categories: definitive (done or failed),
//! in progress, ambiguous (a timeout, a 5xx, an unsigned or unreadable
//! answer: query before anything else) or not found. Each adapter maps its
//! provider's documented codes onto them in one table, code by code.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use qrpay_domain::{
    Amount, Clock, CollectionEvent, CollectionEventKind, OrderId, Payer, PayerAccount,
    PayoutChannels, Provider, ProviderRef, ShopId,
};

use crate::alipay::gateway::AlipayGateway;
use crate::bills::BillGateway;
use crate::douyin::gateway::DouyinGateway;
use crate::wechatpay::gateway::WechatpayGateway;
use crate::wechatpay::oauth::WechatOauth;
use crate::TransferProvider;

/// One HTTP request as an adapter built and signed it.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: http::Method,
    /// Absolute URL: the configured base URL and the provider's path.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl fmt::Debug for HttpRequest {
    /// Method and URL only: headers carry signatures, bodies personal data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HttpRequest({} {})", self.method, self.url)
    }
}

/// What came back, before any signature check.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A header's value; names compare case-insensitively (RFC 9110).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "HttpResponse({}, {} bytes)",
            self.status,
            self.body.len()
        )
    }
}

/// The request may or may not have reached the provider: always ambiguous.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("transport error: {0}")]
    Other(String),
}

/// Sends one request. Implementations bound the connect and the total time
/// (SPEC §9: below the caller's deadline) and never retry on their own: a
/// retry is the adapter's decision, made after a query.
#[async_trait]
pub trait HttpTransport: Send + Sync {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;

    /// Sends `request` and writes the answer's body to the file `dest`
    /// (created or truncated) instead of holding it: a bill is far larger
    /// than any answer `send` reads. The returned answer's body is empty. A
    /// body over `max_bytes` is an error (the file's contents then mean
    /// nothing). This default sends through `send` and suits transports
    /// whose answers are small; the network transport streams.
    async fn download(
        &self,
        request: HttpRequest,
        dest: &std::path::Path,
        max_bytes: u64,
    ) -> Result<HttpResponse, TransportError> {
        let mut answer = self.send(request).await?;
        let body = std::mem::take(&mut answer.body);
        if u64::try_from(body.len()).map_or(true, |n| n > max_bytes) {
            return Err(TransportError::Other(format!(
                "answer of {} bytes is over {max_bytes}",
                body.len()
            )));
        }
        std::fs::write(dest, body)
            .map_err(|e| TransportError::Other(format!("answer not written: {e}")))?;
        Ok(answer)
    }
}

/// How the buyer pays a provider order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayMethod {
    /// A provider code the buyer's app scans: WeChat Native `code_url`,
    /// Alipay `alipay.trade.precreate` `qr_code`.
    Scan,
    /// Inside WeChat with the buyer's openid: a `prepay_id` for the JS bridge.
    Jsapi { openid: String },
    /// A phone browser outside the provider's app: WeChat H5 (`h5_url`).
    H5 { client_ip: String },
    /// Alipay `alipay.trade.wap.pay`: the browser is sent to Alipay, and
    /// back to `return_url` afterwards.
    Wap { return_url: String },
    /// Douyin: an order the buyer pays in Douyin's cashier.
    Cashier,
}

/// Monthly pay at the provider (Alipay Huabei `hb_fq_num`/`hb_fq_seller_percent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderInstalments {
    pub periods: u8,
    /// The shop bears the instalment fee (seller percent 100), else the buyer (0).
    pub shop_pays_fee: bool,
}

/// Create the provider's order for one of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectRequest {
    /// Ours, sent as the provider's `out_trade_no`.
    pub order_id: OrderId,
    pub amount: Amount,
    /// What the buyer sees (WeChat `description`, Alipay `subject`).
    pub subject: String,
    /// Fixed once for the order and resent identically, so creating twice
    /// finds the same provider order.
    pub expires_at: DateTime<Utc>,
    pub method: PayMethod,
    pub instalments: Option<ProviderInstalments>,
    /// Our shop, carried into the provider's order where it has a field its
    /// daily bill shows (WeChat `attach` → 商户数据包, Alipay `store_id` →
    /// 门店编号), so the bill says whose sale it was.
    pub shop_id: Option<ShopId>,
}

/// What the buyer's side needs to pay the provider order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderCode {
    /// Encode as a QR code: `weixin://wxpay/bizpayurl?…`, `https://qr.alipay.com/…`.
    QrContent(String),
    /// WeChat JSAPI `prepay_id` (the page signs the bridge parameters).
    PrepayId(String),
    /// Send the browser here (WeChat `h5_url`, Alipay wap pay).
    Redirect(String),
    /// Douyin cashier: its order id and token.
    CashierOrder {
        order_id: String,
        order_token: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    /// The provider order exists and awaits payment.
    Created(ProviderCode),
    /// The provider says this order is already paid.
    AlreadyPaid,
    /// Definitive: the provider refused this order (configuration, parameters).
    Refused { code: String, reason: String },
    /// Unknown: query before deciding anything.
    Ambiguous { detail: String },
}

/// A provider order as the provider sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TradeState {
    Paid {
        provider_txn_id: String,
        amount: Amount,
        account: Option<PayerAccount>,
    },
    /// Created, not paid (yet).
    Waiting,
    /// Closed unpaid, revoked or failed: it will not be paid.
    Closed {
        reason: String,
    },
    NotFound,
    Ambiguous {
        detail: String,
    },
}

impl TradeState {
    /// A paid trade as the payment notice that would have told us, so it is
    /// applied through the notices' own path (dedupe, amount check, ledger).
    /// Its notification id is derived from the transaction, so asking twice
    /// applies once; the real notice, arriving later, finds the movement
    /// recorded. `None` unless paid, or for an id we cannot keep.
    pub fn payment_event(
        &self,
        provider: Provider,
        order_id: &OrderId,
        now: DateTime<Utc>,
    ) -> Option<CollectionEvent> {
        let TradeState::Paid {
            provider_txn_id,
            amount,
            account,
        } = self
        else {
            return None;
        };
        let txn = ProviderRef::parse(provider_txn_id).ok()?;
        // `q-` keeps it apart from the provider's own notification ids; a
        // transaction id too long for the prefix is unique on its own.
        let notification_id = ProviderRef::parse(&format!("q-{txn}"))
            .ok()
            .unwrap_or_else(|| txn.clone());
        Some(CollectionEvent {
            provider,
            notification_id,
            order_id: order_id.clone(),
            kind: CollectionEventKind::PaymentSucceeded {
                provider_txn_id: txn,
                amount: *amount,
                payer: account.clone().map(|account| Payer {
                    account: Some(account),
                    ..Payer::default()
                }),
            },
            occurred_at: now,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseOutcome {
    Closed,
    /// The provider never had it (an Alipay precreate nobody scanned).
    NotFound,
    /// Too late: it was paid.
    AlreadyPaid,
    Ambiguous {
        detail: String,
    },
}

#[async_trait]
pub trait CollectionGateway: Send + Sync {
    fn provider(&self) -> Provider;
    /// Creating twice for one order returns the same provider order.
    async fn create(&self, request: &CollectRequest) -> CreateOutcome;
    async fn query(&self, order_id: &OrderId) -> TradeState;
    async fn close(&self, order_id: &OrderId) -> CloseOutcome;
    /// The signed parameters a page hands the provider's JS bridge for a
    /// JSAPI order (WeChat `getBrandWCPayRequest`), where the provider has one.
    fn bridge_invoke(&self, _prepay_id: &str) -> Option<serde_json::Value> {
        None
    }
}

/// Our refund id, sent as WeChat `out_refund_no`, Alipay `out_request_no`,
/// Douyin `out_refund_no`: `[0-9A-Za-z_-]{1,64}` fits all three.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RefundNo(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refund ids are 1-64 characters of [0-9A-Za-z_-]")]
pub struct RefundNoError;

impl RefundNo {
    pub fn parse(text: &str) -> Result<RefundNo, RefundNoError> {
        let ok = !text.is_empty()
            && text.len() <= 64
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        ok.then(|| RefundNo(text.to_owned())).ok_or(RefundNoError)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    pub refund_no: RefundNo,
    pub order_id: OrderId,
    pub amount: Amount,
    /// The order's total as paid (WeChat `amount.total`).
    pub order_total: Amount,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOutcome {
    /// The money went back.
    Succeeded {
        provider_refund_id: Option<String>,
    },
    /// Accepted; the result comes by query or notice.
    InProgress,
    /// Definitive: this refund will not happen.
    Failed {
        code: String,
        reason: String,
    },
    /// Not done and safe to resend under the same refund id later (the
    /// merchant's balance is short).
    NotDoneYet {
        reason: String,
    },
    NotFound,
    Ambiguous {
        detail: String,
    },
}

#[async_trait]
pub trait RefundGateway: Send + Sync {
    fn provider(&self) -> Provider;
    /// Repeating a refund id never refunds twice.
    async fn refund(&self, request: &RefundRequest) -> RefundOutcome;
    async fn query_refund(&self, order_id: &OrderId, refund_no: &RefundNo) -> RefundOutcome;
}

/// How the `detail` of an ambiguous outcome starts when the provider's
/// answer was signed but its signature does not verify with the keys in use
/// (a bad signature, a key serial or certificate we do not know). A provider
/// that rotated its key answers like this until we read the new one, so the
/// caller may re-read its keys and ask again (issue 14). Unsigned, stale or
/// unreadable answers, timeouts and 5xx do not start so.
pub const ANSWER_KEY_MISMATCH: &str = "answer signature does not verify with our keys: ";

/// An operation's outcome, as far as a key rotation is concerned.
pub trait AnswerVerdict {
    /// Whether the answer was refused for its signature
    /// (`ANSWER_KEY_MISMATCH`): the outcome is ambiguous, and re-reading the
    /// provider's keys may make the same request readable.
    fn key_mismatch(&self) -> bool;
}

macro_rules! answer_verdict {
    ($($outcome:ty),*) => {$(
        impl AnswerVerdict for $outcome {
            fn key_mismatch(&self) -> bool {
                matches!(self, Self::Ambiguous { detail } if detail.starts_with(ANSWER_KEY_MISMATCH))
            }
        }
    )*};
}

answer_verdict!(
    CreateOutcome,
    TradeState,
    CloseOutcome,
    RefundOutcome,
    crate::TransferOutcome,
    crate::QueryOutcome,
    crate::bills::BillOutcome
);

/// The providers configured on this stage, per capability. A provider
/// without configuration is simply absent (SPEC §9).
#[derive(Clone, Default)]
pub struct Gateways {
    pub collection: BTreeMap<Provider, Arc<dyn CollectionGateway>>,
    pub refunds: BTreeMap<Provider, Arc<dyn RefundGateway>>,
    pub transfers: BTreeMap<Provider, Arc<dyn TransferProvider>>,
    /// Each provider's daily bills (`crate::bills`).
    pub bills: BTreeMap<Provider, Arc<dyn BillGateway>>,
    /// WeChat web authorization, when the app secret is configured: how a
    /// page inside WeChat learns the buyer's openid for a JSAPI order.
    pub wechat_oauth: Option<Arc<WechatOauth>>,
}

impl Gateways {
    /// These gateways and `provider`'s transfer channel.
    pub fn with_transfer(mut self, provider: Provider, channel: Arc<dyn TransferProvider>) -> Self {
        self.transfers.insert(provider, channel);
        self
    }

    /// Who can pay a buyer back here.
    pub fn payout_channels(&self) -> PayoutChannels {
        let providers: Vec<Provider> = self.transfers.keys().copied().collect();
        PayoutChannels::of(&providers)
    }

    /// Who can refund a buyer here (BUYER_PAGES §11.2 rule 1).
    pub fn refund_providers(&self) -> PayoutChannels {
        let providers: Vec<Provider> = self.refunds.keys().copied().collect();
        PayoutChannels::of(&providers)
    }

    pub fn transfer(&self, provider: Provider) -> Option<&Arc<dyn TransferProvider>> {
        self.transfers.get(&provider)
    }

    pub fn collection(&self, provider: Provider) -> Option<&Arc<dyn CollectionGateway>> {
        self.collection.get(&provider)
    }

    pub fn refunds(&self, provider: Provider) -> Option<&Arc<dyn RefundGateway>> {
        self.refunds.get(&provider)
    }

    pub fn bill(&self, provider: Provider) -> Option<&Arc<dyn BillGateway>> {
        self.bills.get(&provider)
    }
}

/// Every provider configured in `env` (API.md "Provider configuration"),
/// sending through `transport`. A provider whose merchant or app id is unset
/// is absent; one set with missing or unreadable keys is an error, so a bad
/// rotation stops the cold start rather than disabling the provider. The
/// sandbox is never among them: it lives in the local stack only.
pub fn configured_gateways(
    env: &dyn Fn(&str) -> Option<String>,
    transport: Arc<dyn HttpTransport>,
    clock: Arc<dyn Clock>,
) -> Result<Gateways, String> {
    let mut gateways = Gateways::default();
    if let Some(wechat) = WechatpayGateway::from_env(env, transport.clone(), clock.clone())? {
        Arc::new(wechat).register(&mut gateways);
        gateways.wechat_oauth = WechatOauth::from_env(env, transport.clone()).map(Arc::new);
    }
    if let Some(alipay) = AlipayGateway::from_env(env, transport.clone(), clock.clone())? {
        Arc::new(alipay).register(&mut gateways);
    }
    if let Some(douyin) = DouyinGateway::from_env(env, transport, clock)? {
        Arc::new(douyin).register(&mut gateways);
    }
    Ok(gateways)
}

impl fmt::Debug for Gateways {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gateways")
            .field("collection", &self.collection.keys().collect::<Vec<_>>())
            .field("refunds", &self.refunds.keys().collect::<Vec<_>>())
            .field("transfers", &self.transfers.keys().collect::<Vec<_>>())
            .field("bills", &self.bills.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refund_ids_fit_every_provider() {
        assert!(RefundNo::parse("rf_01J9ZK3").is_ok());
        assert!(RefundNo::parse(&"a".repeat(64)).is_ok());
        assert!(RefundNo::parse(&"a".repeat(65)).is_err());
        assert!(RefundNo::parse("").is_err());
        assert!(RefundNo::parse("rf 1").is_err());
        assert!(RefundNo::parse("rf|1").is_err());
    }

    #[test]
    fn headers_are_found_whatever_their_case() {
        let r = HttpResponse {
            status: 200,
            headers: vec![("wechatpay-serial".into(), "PUB_KEY_ID_1".into())],
            body: Vec::new(),
        };
        assert_eq!(r.header("Wechatpay-Serial"), Some("PUB_KEY_ID_1"));
        assert_eq!(r.header("Wechatpay-Nonce"), None);
        assert_eq!(format!("{r:?}"), "HttpResponse(200, 0 bytes)");
    }

    #[test]
    fn a_paid_trade_is_the_payment_notice_that_would_have_told_us() {
        let order = OrderId::parse("ord_1").unwrap();
        let now = DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        let account = PayerAccount::new(
            qrpay_domain::PayerAccountKind::WechatOpenid,
            "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        )
        .unwrap();
        let paid = |txn: &str| TradeState::Paid {
            provider_txn_id: txn.into(),
            amount: Amount::parse("9.90").unwrap(),
            account: Some(account.clone()),
        };
        let event = paid("4200001")
            .payment_event(Provider::Wechatpay, &order, now)
            .unwrap();
        assert_eq!(event.notification_id.as_str(), "q-4200001");
        assert_eq!(
            (event.provider, &event.order_id, event.occurred_at),
            (Provider::Wechatpay, &order, now)
        );
        let CollectionEventKind::PaymentSucceeded {
            provider_txn_id,
            amount,
            payer,
        } = &event.kind
        else {
            panic!("{event:?}");
        };
        assert_eq!(
            (provider_txn_id.as_str(), amount.to_string()),
            ("4200001", "9.90".into())
        );
        assert_eq!(
            payer.as_ref().and_then(|p| p.account.clone()),
            Some(account.clone())
        );
        // The same movement, whatever the notice: asking twice is one event.
        assert_eq!(
            event.movement_entry_id(),
            paid("4200001")
                .payment_event(Provider::Wechatpay, &order, now)
                .unwrap()
                .movement_entry_id()
        );
        let long = "4".repeat(64);
        assert_eq!(
            paid(&long)
                .payment_event(Provider::Wechatpay, &order, now)
                .unwrap()
                .notification_id
                .as_str(),
            long
        );
        assert_eq!(
            paid("has space").payment_event(Provider::Wechatpay, &order, now),
            None
        );
        assert_eq!(
            TradeState::Waiting.payment_event(Provider::Wechatpay, &order, now),
            None
        );
    }
}
