//! The sandbox speaking each real provider's wire protocol (SPEC §9 "Locally
//! the sandbox also speaks each provider's wire protocol"), so that the real
//! gateway adapters run end to end against the local stack:
//!
//! - WeChat Pay API v3 under `/sim/wechatpay` (`wechatpay`, `wechatpay_api`);
//! - Alipay's OpenAPI gateway at `/sim/alipay/gateway.do` (`alipay`, `alipay_api`);
//! - Douyin Pay's ecpay v1 under `/sim/douyin/api/apps/ecpay/v1` (`douyin`).
//!
//! Each publishes its daily bill once the Beijing day has ended on the
//! stack's clock (`bills`): Alipay's download URL and ZIP under
//! `/sim/alipay/bills/`, Douyin's tables at `/sim/douyin/api/apps/bill`.
//!
//! Each verifies our request signatures and signs its answers as the
//! provider does, with key material made at startup (`keys`); the buyer's
//! side is `POST /sandbox/{provider}/pay` (`buyer`), which marks a simulated
//! order paid and delivers the provider's own signed callback to
//! `/callbacks/{provider}` through the sandbox's delivery (and its
//! duplicate-callback fault). The sandbox's fault rates apply to every
//! simulated transfer and refund (`faults`), and each simulator keeps a
//! ledger of the money it really moved (`ledger`):
//! `GET /sandbox/{provider}/transfers`, `GET /sandbox/{provider}/refunds`.
//!
//! These routes are local only, like the sandbox's, and are not part of the
//! deployed API: the route table (`routes.rs`) is the documented API, so
//! they are resolved here, before it.

mod alipay;
mod alipay_api;
mod alipay_bill;
mod bills;
mod book;
mod buyer;
mod douyin;
pub mod faults;
pub mod keys;
mod ledger;
mod wechat_h5;
mod wechat_oauth;
mod wechatpay;
mod wechatpay_api;
mod wechatpay_bill;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use lambda_http::http::StatusCode;
use qrpay_domain::{Clock, CollectionEvent, CollectionEventKind, Provider, ShiftedClock};
use qrpay_http::{ApiError, ErrorCode};
use qrpay_provider::{NoticeSigner, SandboxFaults};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::local_http::{LocalRequest, LocalResponse};
use crate::sandbox::{Qrpay, Sandbox};
use book::{Book, Refund, Transfer};
use faults::{Draws, LostAnswer, Settings};
use keys::Material;
use ledger::{Kind, Ledger};
use wechat_oauth::WECHAT_PREFIX;

pub const WECHATPAY_PREFIX: &str = "/sim/wechatpay";
pub const ALIPAY_GATEWAY: &str = "/sim/alipay/gateway.do";
/// Mirrors `https://developer.toutiao.com/api/apps/ecpay/v1/`.
pub const DOUYIN_PREFIX: &str = "/sim/douyin/api/apps/ecpay/v1";
/// Mirrors `https://developer.toutiao.com/api/apps/bill`.
pub const DOUYIN_BILL: &str = "/sim/douyin/api/apps/bill";
pub use alipay_bill::ALIPAY_BILLS;
/// Longest hang a lost answer may be set to.
const MAX_HANG_MS: u64 = 600_000;
/// The longest bill publish delay: two days.
const MAX_BILL_DELAY_S: u64 = 172_800;

/// The three simulated providers of one stack.
pub struct Simulators {
    material: &'static Material,
    environment: BTreeMap<String, String>,
    clock: Arc<ShiftedClock>,
    settings: Mutex<Settings>,
    wechatpay: wechatpay::Wechatpay,
    alipay: alipay::Alipay,
    douyin: douyin::Douyin,
    wechat_oauth: wechat_oauth::WechatOauthSim,
}

/// What a simulator needs of the stack for one request.
pub struct Ctx<'a> {
    pub qrpay: &'a dyn Qrpay,
    pub sandbox: &'a Sandbox,
    pub settings: Settings,
    pub now: DateTime<Utc>,
}

impl Simulators {
    /// The simulators of a stack served at `base_url`; the key material is
    /// made on the first call in the process (off the async threads).
    pub async fn new(clock: Arc<ShiftedClock>, base_url: &str) -> Result<Simulators, String> {
        let material = tokio::task::spawn_blocking(keys::material)
            .await
            .map_err(|e| format!("simulator keys: {e}"))??;
        let mut environment = material.environment(base_url)?;
        // The 公众号's AppSecret for web authorization, made per stack.
        let app_secret = qrpay_provider::wechatpay::nonce();
        let wechat = format!(
            "{}{}",
            base_url.trim_end_matches('/'),
            WECHAT_PREFIX.trim_end_matches('/')
        );
        environment.insert("WECHATPAY_APP_SECRET".into(), app_secret.clone());
        environment.insert("WECHAT_OAUTH_BASE_URL".into(), wechat.clone());
        environment.insert("WECHAT_API_BASE_URL".into(), wechat);
        Ok(Simulators {
            wechat_oauth: wechat_oauth::WechatOauthSim::new(app_secret, base_url),
            wechatpay: wechatpay::Wechatpay::new(material, base_url)?,
            alipay: alipay::Alipay::new(material, base_url)?,
            douyin: douyin::Douyin::new(material)?,
            material,
            environment,
            clock,
            settings: Mutex::new(Settings::default()),
        })
    }

    /// The configuration our side reads for all three providers (API.md
    /// "Provider configuration"), pointing at these simulators. It holds
    /// private keys: hand it to adapters, never print it.
    pub fn environment(&self) -> &BTreeMap<String, String> {
        &self.environment
    }

    /// How long making the process's key material took.
    pub fn key_generation_time(&self) -> Duration {
        self.material.generated_in
    }

    /// The sandbox's fault rates changed (`PUT /sandbox/faults`): every
    /// simulator's stream restarts from their seed.
    pub fn faults_set(&self, faults: SandboxFaults) {
        self.wechatpay.sim.draws.reseed(faults);
        self.alipay.sim.draws.reseed(faults);
        self.douyin.sim.draws.reseed(faults);
    }

    fn settings(&self) -> MutexGuard<'_, Settings> {
        self.settings.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers `request` if it is one of the simulators' routes.
    pub async fn handle(
        &self,
        qrpay: &dyn Qrpay,
        sandbox: &Sandbox,
        request: &LocalRequest,
    ) -> Option<LocalResponse> {
        let ctx = Ctx {
            qrpay,
            sandbox,
            settings: *self.settings(),
            now: self.clock.now(),
        };
        let path = request.path.as_str();
        if let Some(answer) = self.wechat_h5(&ctx, request).await {
            return Some(answer);
        }
        if let Some(rest) = path.strip_prefix(WECHAT_PREFIX) {
            return Some(self.wechat_oauth.handle(rest, request, ctx.now));
        }
        if let Some(rest) = path.strip_prefix(WECHATPAY_PREFIX) {
            return Some(self.wechatpay.api(&ctx, rest, request).await);
        }
        if path == ALIPAY_GATEWAY {
            return Some(self.alipay.gateway(&ctx, request).await);
        }
        if let Some(file) = path.strip_prefix(ALIPAY_BILLS) {
            return Some(self.alipay.bill_file(ctx.now, file));
        }
        if path == DOUYIN_BILL {
            return Some(self.douyin.bill(&ctx, request));
        }
        if let Some(op) = path.strip_prefix(DOUYIN_PREFIX) {
            return Some(self.douyin.api(&ctx, op, request).await);
        }
        self.sandbox_route(&ctx, request).await
    }

    /// `/sandbox/{provider}/…` and `/sandbox/simulators`.
    async fn sandbox_route(&self, ctx: &Ctx<'_>, request: &LocalRequest) -> Option<LocalResponse> {
        let segments: Vec<&str> = request.path.split('/').skip(1).collect();
        let method = request.method.as_str();
        let answer = match (segments.as_slice(), method) {
            (["sandbox", "simulators"], "PUT") => self.configure(&request.body),
            (["sandbox", "simulators"], "GET") => Ok(self.describe()),
            (["sandbox", p, "pay"], "POST") => match self.sim(p) {
                Some(sim) => self.pay(ctx, sim, request).await,
                None => return None,
            },
            (["sandbox", p, "transfers"], "GET") if *p != "douyin" => match self.sim(p) {
                Some(sim) => Ok(ok(&sim.ledger.view(Kind::Transfer))),
                None => return None,
            },
            (["sandbox", p, "refunds"], "GET") => match self.sim(p) {
                Some(sim) => Ok(ok(&sim.ledger.view(Kind::Refund))),
                None => return None,
            },
            (["sandbox", "wechatpay", "jsapi"], "POST") => {
                match wechat_oauth::BridgeInvoke::verified_prepay_id(
                    &request.body,
                    &self.wechatpay.merchant,
                ) {
                    Ok(prepay_id) => {
                        let paid = LocalRequest {
                            body: json!({"code": prepay_id}).to_string().into_bytes(),
                            headers: vec![("content-type".into(), "application/json".into())],
                            ..request.clone()
                        };
                        self.pay(ctx, &self.wechatpay.sim, &paid).await
                    }
                    Err(e) => Err(e),
                }
            }
            (["sandbox", p, "orders", no], "GET") => match self.sim(p) {
                Some(sim) => sim.order_view(no, ctx.now),
                None => return None,
            },
            (["sandbox", "wechatpay", "transfers", no, "confirm"], "POST") => {
                Ok(self.wechatpay.confirm(ctx, no))
            }
            (other, _) => Err(ApiError::method_not_allowed(sandbox_methods(other)?)),
        };
        Some(answer.unwrap_or_else(LocalResponse::error))
    }

    fn sim(&self, provider: &str) -> Option<&Sim> {
        match provider {
            "wechatpay" => Some(&self.wechatpay.sim),
            "alipay" => Some(&self.alipay.sim),
            "douyin" => Some(&self.douyin.sim),
            _ => None,
        }
    }

    /// `PUT /sandbox/simulators` `{"lost_answer"?: "server_error"|"hang",
    /// "hang_ms"?, "wechatpay_payee_confirms"?, "payment_notices"?,
    /// "bill_publish_delay_s"?}`: every field optional.
    fn configure(&self, body: &[u8]) -> Result<LocalResponse, ApiError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Changes {
            lost_answer: Option<LostAnswer>,
            hang_ms: Option<u64>,
            wechatpay_payee_confirms: Option<bool>,
            payment_notices: Option<bool>,
            bill_publish_delay_s: Option<u64>,
        }
        let changes: Changes = serde_json::from_slice(body).map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidRequest,
                format!("simulator settings: {e}"),
            )
        })?;
        if changes
            .hang_ms
            .is_some_and(|ms| ms == 0 || ms > MAX_HANG_MS)
        {
            return Err(ApiError::invalid("hang_ms", "1 to 600000 milliseconds"));
        }
        if changes
            .bill_publish_delay_s
            .is_some_and(|s| s > MAX_BILL_DELAY_S)
        {
            return Err(ApiError::invalid(
                "bill_publish_delay_s",
                "0 to 172800 seconds",
            ));
        }
        {
            let mut settings = self.settings();
            if let Some(lost) = changes.lost_answer {
                settings.lost_answer = lost;
            }
            if let Some(ms) = changes.hang_ms {
                settings.hang = Duration::from_millis(ms);
            }
            if let Some(confirms) = changes.wechatpay_payee_confirms {
                settings.wechatpay_payee_confirms = confirms;
            }
            if let Some(deliver) = changes.payment_notices {
                settings.payment_notices = deliver;
            }
            if let Some(seconds) = changes.bill_publish_delay_s {
                settings.bill_delay = chrono::Duration::seconds(seconds as i64);
            }
        }
        Ok(self.describe())
    }

    /// The settings and the simulated accounts' public ids.
    fn describe(&self) -> LocalResponse {
        let s = *self.settings();
        ok(&json!({
            "lost_answer": match s.lost_answer {
                LostAnswer::ServerError => "server_error",
                LostAnswer::Hang => "hang",
            },
            "hang_ms": u64::try_from(s.hang.as_millis()).unwrap_or(u64::MAX),
            "wechatpay_payee_confirms": s.wechatpay_payee_confirms,
            "payment_notices": s.payment_notices,
            "bill_publish_delay_s": s.bill_delay.num_seconds(),
            "key_generation_ms": u64::try_from(self.material.generated_in.as_millis()).unwrap_or(u64::MAX),
            "wechatpay": {"base_url": self.environment["WECHATPAY_BASE_URL"], "mchid": keys::WECHATPAY_MCHID,
                "appid": keys::WECHATPAY_APPID, "platform_serial": self.material.wechatpay_platform_serial},
            "alipay": {"gateway_url": self.environment["ALIPAY_GATEWAY_URL"], "app_id": keys::ALIPAY_APP_ID,
                "alipay_cert_sn": self.material.alipay_cert_sn},
            "douyin": {"base_url": self.environment["DOUYIN_BASE_URL"], "app_id": keys::DOUYIN_APP_ID},
        }))
    }
}

/// What every simulated provider has: its book, its ledger of money moved,
/// its fault stream and the signer of its callbacks.
pub struct Sim {
    pub provider: Provider,
    book: Mutex<Book>,
    ledger: Ledger,
    draws: Draws,
    signer: Box<dyn NoticeSigner>,
    next_id: AtomicU64,
}

impl Sim {
    fn new(provider: Provider, signer: Box<dyn NoticeSigner>, salt: u64) -> Sim {
        Sim {
            provider,
            book: Mutex::new(Book::default()),
            ledger: Ledger::default(),
            draws: Draws::new(salt),
            signer,
            next_id: AtomicU64::new(1),
        }
    }

    fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A provider id: `prefix`, the Beijing time to the second, and a
    /// counter of `digits` digits.
    fn id(&self, prefix: &str, now: DateTime<Utc>, digits: usize) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let time = beijing(now).format("%Y%m%d%H%M%S");
        format!("{prefix}{time}{n:0digits$}")
    }

    /// Signs `kind` about `out_trade_no` as this provider and delivers it to
    /// `path`; each delivery's status and body.
    async fn notify(
        &self,
        ctx: &Ctx<'_>,
        path: &str,
        out_trade_no: &str,
        kind: CollectionEventKind,
    ) -> Result<Vec<Value>, ApiError> {
        let event = CollectionEvent {
            provider: self.provider,
            notification_id: provider_ref(&self.id("EV", ctx.now, 6))?,
            order_id: qrpay_domain::OrderId::parse(out_trade_no).map_err(|_| {
                ApiError::invalid("out_trade_no", "the simulated order is not one of ours")
            })?,
            kind,
            occurred_at: ctx.now,
        };
        let notice = self.signer.sign(&event, ctx.now);
        Ok(ctx.sandbox.deliver_to(ctx.qrpay, path, &notice).await)
    }

    /// A refund whose money went back: the ledger line, then the
    /// provider's refund notice.
    async fn refund_moved(&self, ctx: &Ctx<'_>, refund: &Refund) {
        self.ledger.moved(
            Kind::Refund,
            &refund.out_refund_no,
            Some(&refund.out_trade_no),
            refund.amount,
            &refund.refund_id,
            ctx.now,
        );
        let Ok(refund_id) = qrpay_domain::ProviderRef::parse(&refund.refund_id) else {
            return;
        };
        let event = CollectionEventKind::RefundSucceeded {
            refund_id,
            amount: refund.amount,
            // The refund number we sent, echoed as each provider does.
            our_refund: qrpay_domain::RefundId::parse(&refund.out_refund_no).ok(),
        };
        if let Err(e) = self
            .notify(ctx, &refund.notify_path, &refund.out_trade_no, event)
            .await
        {
            eprintln!(
                "qrpay-local: no refund notice for a simulated order: {}",
                e.message
            );
        }
    }

    /// `GET /sandbox/{provider}/orders/{out_trade_no}`: the simulated
    /// order as the provider holds it — `UNPAID` (and whether it is past
    /// its expiry), `PAID` or `CLOSED` (closed by a close call, or expired
    /// and then asked to close).
    fn order_view(
        &self,
        out_trade_no: &str,
        now: DateTime<Utc>,
    ) -> Result<LocalResponse, ApiError> {
        let book = self.book();
        let order = book.order(out_trade_no).ok_or_else(|| {
            ApiError::new(
                ErrorCode::OrderNotFound,
                "the simulated provider has no such order",
            )
        })?;
        let state = match &order.state {
            book::OrderState::Unpaid => "UNPAID",
            book::OrderState::Paid(_) => "PAID",
            book::OrderState::Closed => "CLOSED",
        };
        Ok(ok(&json!({
            "out_trade_no": order.out_trade_no,
            "product": order.product,
            "amount": order.amount.to_string(),
            "state": state,
            "expired": order.expired(now),
            "expires_at": qrpay_domain::time::rfc3339_beijing(order.expires_at),
            "transaction_id": order.payment().map(|p| p.txn_id.clone()),
        })))
    }

    /// A transfer whose money went to the payee: its ledger line.
    fn transfer_moved(&self, transfer: &Transfer, at: DateTime<Utc>) {
        self.ledger.moved(
            Kind::Transfer,
            &transfer.our_id,
            None,
            transfer.amount,
            &transfer.provider_id,
            at,
        );
    }
}

/// Beijing time (UTC+8, no daylight saving).
fn beijing(instant: DateTime<Utc>) -> DateTime<FixedOffset> {
    let offset = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    instant.with_timezone(&offset)
}

fn provider_ref(text: &str) -> Result<qrpay_domain::ProviderRef, ApiError> {
    qrpay_domain::ProviderRef::parse(text).map_err(|e| ApiError::internal(e.to_string()))
}

/// Where a notify URL points on this stack: its path, or `default`.
fn notify_path(url: Option<&str>, default: &str) -> String {
    url.and_then(|u| u.split_once("://"))
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .filter(|p| !p.is_empty())
        .unwrap_or(default)
        .to_owned()
}

fn ok(body: &Value) -> LocalResponse {
    LocalResponse::json(StatusCode::OK, body)
}

/// A header's value, any case.
fn header<'r>(request: &'r LocalRequest, name: &str) -> Option<&'r str> {
    request
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The methods a simulator path under `/sandbox/…` has, for a 405; `None`
/// for a path that is not one of them.
fn sandbox_methods(segments: &[&str]) -> Option<&'static [&'static str]> {
    const PROVIDERS: [&str; 3] = ["wechatpay", "alipay", "douyin"];
    let of = |p: &str| PROVIDERS.contains(&p);
    Some(match segments {
        ["sandbox", "simulators"] => &["GET", "PUT"],
        ["sandbox", p, "pay"] if of(p) => &["POST"],
        ["sandbox", p, "refunds"] if of(p) => &["GET"],
        ["sandbox", p, "orders", _] if of(p) => &["GET"],
        ["sandbox", "wechatpay" | "alipay", "transfers"] => &["GET"],
        ["sandbox", "wechatpay", "transfers", _, "confirm"] => &["POST"],
        ["sandbox", "wechatpay", "jsapi"] => &["POST"],
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_simulator_path_names_its_methods_for_a_405() {
        let of = |path: &str| sandbox_methods(&path.split('/').skip(1).collect::<Vec<_>>());
        assert_eq!(of("/sandbox/simulators"), Some(&["GET", "PUT"][..]));
        assert_eq!(of("/sandbox/douyin/pay"), Some(&["POST"][..]));
        assert_eq!(of("/sandbox/alipay/orders/o1"), Some(&["GET"][..]));
        assert_eq!(of("/sandbox/wechatpay/transfers"), Some(&["GET"][..]));
        assert_eq!(
            of("/sandbox/wechatpay/transfers/b1/confirm"),
            Some(&["POST"][..])
        );
        assert_eq!(of("/sandbox/douyin/transfers"), None);
        assert_eq!(of("/sandbox/paypal/pay"), None);
        assert_eq!(of("/sandbox/faults"), None);
    }

    #[test]
    fn notify_urls_become_paths_on_the_stack() {
        let d = "/callbacks/wechatpay";
        assert_eq!(
            notify_path(Some("https://pay.example.com/callbacks/wechatpay"), d),
            d
        );
        assert_eq!(notify_path(Some("http://127.0.0.1:3000/x/y"), d), "/x/y");
        assert_eq!(notify_path(Some("http://127.0.0.1:3000"), d), d);
        assert_eq!(notify_path(None, d), d);
        assert_eq!(notify_path(Some("not a url"), d), d);
    }
}
