//! The whole system in one process: every function's `App`, built the way
//! its Lambda `main` builds it but on local adapters, behind one request
//! entry point that does what API Gateway does (route, check the JWT, build
//! the v2 event) and then calls the function's own handler.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub use crate::console::{ConsoleAlerts, ConsoleIot};
use async_trait::async_trait;
use lambda_http::{Body, Response};
use qrpay_domain::{Provider, Secret, ShiftedClock, ShopId};
use qrpay_http::ApiError;
use qrpay_provider::SandboxProvider;
use qrpay_queue::MemoryQueue;
use qrpay_reconcile::bill_fetch::BillFetcher;
use qrpay_reconcile::objects::LocalDir;
use qrpay_reconcile::run::DEFAULT_PARTITIONS;
use qrpay_reconcile::Reconciler;
use qrpay_store::{MemoryStore, Store};
use reconcile::InProcessRuns;
use serde_json::{json, Value};

use crate::gateway::{self, HttpRequest};
use crate::jwt;
pub use crate::local_http::{from_response, header_pairs, LocalRequest, LocalResponse};
pub use crate::local_runs::LocalRuns;
use crate::provider_setup::{provider_setup, ProviderSetup};
use crate::providers::Simulators;
use crate::queue::LocalQueue;
use crate::routes::{resolve, Resolution, Target};
use crate::sandbox::{Qrpay, Sandbox};
use qrpay_provider::gateway::Gateways;

/// Where the stack keeps its data and what it talks to.
#[derive(Debug, Clone)]
pub struct Options {
    /// Reports, statements and bank receipts (the "bucket"), and the
    /// reconciliation's scratch space.
    pub data_dir: PathBuf,
    pub backend: Backend,
    /// HS256 key of the development tokens (`QRPAY_DEV_JWT_SECRET`).
    pub jwt_secret: Secret,
    /// The sandbox's callback signing key (`QRPAY_SANDBOX_SECRET`).
    pub sandbox_secret: Secret,
    /// The payment-token key of QR codes (`QRPAY_QR_TOKEN_SECRET`).
    pub qr_token_secret: Secret,
    /// Where payment links point (the stack's own address).
    pub pay_base_url: String,
}

pub const DEFAULT_SANDBOX_SECRET: &str = "qrpay-sandbox-secret";
pub const DEFAULT_QR_TOKEN_SECRET: &str = "qrpay-dev-qr-token-secret";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// In-memory store and queue: nothing to install, gone on exit.
    Embedded,
    /// DynamoDB and SQS at `endpoint` (the moto emulator); the table and the
    /// queue are created when missing.
    Aws {
        endpoint: String,
        table: String,
        queue: String,
    },
}

impl Options {
    /// Options from the environment (see the README's configuration table).
    pub fn from_env(data_dir: PathBuf, backend: Backend, pay_base_url: String) -> Options {
        let var = |name: &str, default: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        Options {
            data_dir,
            backend,
            jwt_secret: Secret::new(var("QRPAY_DEV_JWT_SECRET", jwt::DEFAULT_DEV_SECRET)),
            sandbox_secret: Secret::new(var("QRPAY_SANDBOX_SECRET", DEFAULT_SANDBOX_SECRET)),
            qr_token_secret: Secret::new(var("QRPAY_QR_TOKEN_SECRET", DEFAULT_QR_TOKEN_SECRET)),
            pay_base_url,
        }
    }
}

impl Options {
    /// The key that seals POS device secrets in the local store (KMS does
    /// it in AWS): derived from the payment-token secret, so it is never a
    /// committed constant of its own, stays the same across restarts on a
    /// persistent backend, and is a published default exactly when that
    /// secret is (which keeps the stack on loopback, `default_secrets`).
    pub fn device_key(&self) -> Secret<[u8; 32]> {
        use hmac::{Hmac, Mac};
        let mut mac =
            <Hmac<sha2::Sha256> as Mac>::new_from_slice(self.qr_token_secret.expose().as_bytes())
                .expect("HMAC accepts any key length");
        mac.update(b"qrpay-local: POS device secrets, v1");
        Secret::new(mac.finalize().into_bytes().into())
    }

    /// The secrets still at their well-known defaults (by variable name):
    /// fine on loopback, a way in for anyone on the network otherwise.
    pub fn default_secrets(&self) -> Vec<&'static str> {
        [
            (
                "QRPAY_DEV_JWT_SECRET",
                &self.jwt_secret,
                jwt::DEFAULT_DEV_SECRET,
            ),
            (
                "QRPAY_SANDBOX_SECRET",
                &self.sandbox_secret,
                DEFAULT_SANDBOX_SECRET,
            ),
            (
                "QRPAY_QR_TOKEN_SECRET",
                &self.qr_token_secret,
                DEFAULT_QR_TOKEN_SECRET,
            ),
        ]
        .into_iter()
        .filter(|(_, secret, default)| secret.expose() == *default)
        .map(|(name, _, _)| name)
        .collect()
    }
}

pub struct Stack {
    pub options: Options,
    pub clock: Arc<ShiftedClock>,
    pub store: Arc<dyn Store>,
    pub queue: Arc<LocalQueue>,
    pub sandbox: Sandbox,
    /// WeChat Pay, Alipay and Douyin Pay on their wire protocols.
    pub simulators: Simulators,
    /// The real adapters the functions use (against the simulators unless
    /// a provider's own server is configured), and the sandbox's transfers.
    pub gateways: Gateways,
    pub alerts: Arc<ConsoleAlerts>,
    /// What the functions published to POS devices (printed, and kept).
    pub iot: Arc<ConsoleIot>,
    pub objects: Arc<LocalDir>,
    pub runs: Arc<InProcessRuns>,
    pub functions: Functions,
    /// Which shop each code issued through this stack belongs to: the
    /// sandbox's `pay` route names only the code, as a scanned QR would.
    qr_shops: Mutex<HashMap<String, ShopId>>,
    next_request: AtomicU64,
    /// Wakes the sweeper (the test clock moved).
    pub wake: tokio::sync::Notify,
}

/// Every function's `App`, as its Lambda `main` builds it.
pub struct Functions {
    pub worker: payout_worker::Worker,
    payout_request: payout_request::App,
    admin: admin_api::App,
    qr: qr_issue::App,
    callback: payment_callback::App,
    reconcile: reconcile::App,
}

/// What the functions' `App`s are built on: the local adapters.
struct Adapters {
    clock: Arc<ShiftedClock>,
    store: Arc<dyn Store>,
    queue: Arc<LocalQueue>,
    alerts: Arc<ConsoleAlerts>,
    iot: Arc<ConsoleIot>,
    objects: Arc<LocalDir>,
    /// The sandbox as the payout worker's transfer provider.
    provider: Arc<SandboxProvider>,
}

impl Functions {
    /// The one place each function's `App` is put together.
    fn new(
        adapters: &Adapters,
        options: &Options,
        providers: ProviderSetup,
        reconciler: Arc<Reconciler>,
        (requests, bills): (Arc<LocalRuns>, Arc<BillFetcher>),
    ) -> Functions {
        let Adapters {
            clock,
            store,
            queue,
            alerts,
            iot,
            objects,
            provider: _,
        } = adapters;
        let ProviderSetup {
            verifiers,
            gateways,
            sandbox_signer: _,
        } = providers;
        let device_keys: Arc<dyn qrpay_store::keyring::DeviceKeyring> = Arc::new(
            qrpay_store::keyring::LocalKeyring::new(&options.device_key()),
        );
        Functions {
            payout_request: payout_request::App {
                shops: store.clone(),
                payouts: store.clone(),
                collection: store.clone(),
                queue: queue.clone(),
                clock: clock.clone(),
                channels: gateways.payout_channels(),
                claims: Some(payout_request::claim::ClaimLinks {
                    secret: options.qr_token_secret.clone(),
                    pay_base_url: options.pay_base_url.clone(),
                }),
                refunds: store.clone(),
                refund_providers: gateways.refund_providers(),
            },
            admin: admin_api::App {
                shops: store.clone(),
                clock: clock.clone(),
                device_keys: device_keys.clone(),
            },
            qr: qr_issue::App {
                shops: store.clone(),
                collection: store.clone(),
                payouts: store.clone(),
                leases: store.clone(),
                clock: clock.clone(),
                token_secrets: vec![options.qr_token_secret.clone()].into(),
                pay_base_url: options.pay_base_url.clone(),
                // POS terminals on IoT Core are an AWS-only path: answers
                // are printed, as the POS results are.
                publisher: iot.clone(),
                device_keys,
                alerts: alerts.clone(),
                checkout_limits: qrpay_domain::checkout::CheckoutLimits::DEFAULT,
                gateways: gateways.clone(),
                // Play money is offered here, and WeChat H5 through the
                // simulated WeChat's middle page.
                buyer: qr_issue::page::BuyerSettings {
                    sandbox: true,
                    wechat_h5: true,
                },
            },
            callback: payment_callback::App {
                collection: store.clone(),
                payouts: store.clone(),
                refunds: store.clone(),
                clock: clock.clone(),
                alerts: alerts.clone(),
                verifiers: verifiers.into(),
                publisher: iot.clone(),
            },
            reconcile: reconcile::App {
                reconciler,
                reconciliations: store.clone(),
                shops: store.clone(),
                receivables: store.clone(),
                resolutions: store.clone(),
                objects: objects.clone(),
                requests,
                bills: Some(bills),
                clock: clock.clone(),
            },
            worker: payout_worker::Worker {
                payouts: store.clone(),
                refunds: store.clone(),
                collection: store.clone(),
                gateways: gateways.clone(),
                clock: clock.clone(),
                alerts: alerts.clone(),
                pos: Some(iot.clone() as Arc<dyn qrpay_queue::publish::Publisher>),
            },
        }
    }
}

/// The store and the queue of `backend`.
async fn connect(
    backend: &Backend,
    clock: &Arc<ShiftedClock>,
) -> Result<(Arc<dyn Store>, Arc<LocalQueue>), String> {
    let (store, queue): (Arc<dyn Store>, LocalQueue) = match backend {
        Backend::Embedded => (
            Arc::new(MemoryStore::new()),
            LocalQueue::Memory(MemoryQueue::with_clock(
                clock.clone(),
                qrpay_queue::DEFAULT_VISIBILITY_MS,
                qrpay_queue::DEFAULT_MAX_RECEIVES,
            )),
        ),
        Backend::Aws {
            endpoint,
            table,
            queue,
        } => crate::aws::connect(endpoint, table, queue).await?,
    };
    Ok((store, Arc::new(queue)))
}

/// The data directory as the reconciliation's bucket, created if missing.
fn bucket(data_dir: &Path) -> Result<Arc<LocalDir>, String> {
    std::fs::create_dir_all(data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    Ok(Arc::new(LocalDir::new(data_dir.to_path_buf())))
}

fn clock_of(adapters: &Adapters) -> Arc<ShiftedClock> {
    adapters.clock.clone()
}

/// The nightly reconciliation over the stack's store and data directory,
/// its progress on the terminal.
fn reconciler(adapters: &Adapters, data_dir: &Path) -> Arc<Reconciler> {
    Arc::new(Reconciler {
        ledger: Arc::new(qrpay_reconcile::run::StoreLedger(adapters.store.clone())),
        reconciliations: adapters.store.clone(),
        kpi_reads: adapters.store.clone(),
        claims: adapters.store.clone(),
        objects: adapters.objects.clone(),
        alerts: adapters.alerts.clone(),
        work_dir: data_dir.join("work"),
        partitions: DEFAULT_PARTITIONS,
        payout_provider: Provider::Sandbox,
        progress: Some(Arc::new(|line: &str| {
            eprintln!("qrpay-local: reconcile: {line}")
        })),
    })
}

impl Stack {
    pub async fn new(options: Options) -> Result<Arc<Stack>, String> {
        let clock = Arc::new(ShiftedClock::new());
        let (store, queue) = connect(&options.backend, &clock).await?;
        let adapters = Adapters {
            objects: bucket(&options.data_dir)?,
            alerts: Arc::new(ConsoleAlerts::default()),
            iot: Arc::new(ConsoleIot::default()),
            provider: Arc::new(SandboxProvider::new(clock.clone())),
            clock,
            store,
            queue,
        };
        let simulators = Simulators::new(clock_of(&adapters), &options.pay_base_url).await?;
        let providers = provider_setup(
            options.sandbox_secret.clone(),
            simulators.environment(),
            adapters.provider.clone(),
            adapters.clock.clone(),
        )?;
        let signer = providers.sandbox_signer.clone();
        let gateways = providers.gateways.clone();
        let reconciler = reconciler(&adapters, &options.data_dir);
        let runs = Arc::new(InProcessRuns::new(
            reconciler.clone(),
            adapters.clock.clone(),
        ));
        let bills = Arc::new(BillFetcher {
            sources: Arc::new(gateways.bills.values().cloned().collect::<Vec<_>>()),
            objects: adapters.objects.clone(),
            alerts: adapters.alerts.clone(),
            work_dir: options.data_dir.join("work"),
        });
        let local_runs = Arc::new(LocalRuns {
            runs: runs.clone(),
            sandbox: adapters.provider.clone(),
            objects: adapters.objects.clone(),
            bills: bills.clone(),
            clock: adapters.clock.clone(),
        });
        let functions = Functions::new(
            &adapters,
            &options,
            providers,
            reconciler,
            (local_runs, bills),
        );
        let Adapters {
            clock,
            store,
            queue,
            alerts,
            iot,
            objects,
            provider,
        } = adapters;
        Ok(Arc::new(Stack {
            sandbox: Sandbox::new(provider, signer, clock.clone()),
            simulators,
            gateways,
            functions,
            options,
            clock,
            store,
            queue,
            alerts,
            iot,
            objects,
            runs,
            qr_shops: Mutex::new(HashMap::new()),
            next_request: AtomicU64::new(1),
            wake: tokio::sync::Notify::new(),
        }))
    }

    /// One request, end to end: what API Gateway and the Lambda do.
    pub async fn handle(&self, request: LocalRequest) -> LocalResponse {
        // The simulated providers' routes are local only, outside the API.
        if let Some(answer) = self.simulators.handle(self, &self.sandbox, &request).await {
            return answer;
        }
        let (route, params) = match resolve(&request.method, &request.path) {
            Resolution::Found(route, params) => (route, params),
            Resolution::WrongMethod(allowed) => {
                return LocalResponse::error(ApiError::method_not_allowed(&allowed))
            }
            Resolution::NotFound => {
                return LocalResponse::error(ApiError::new(
                    qrpay_http::ErrorCode::RouteNotFound,
                    format!("no route {} {}", request.method, request.path),
                ))
            }
        };
        if route.target == Target::Sandbox {
            let answer = self
                .sandbox
                .handle(self, route.path, &params, &request)
                .await;
            if route.path == "/sandbox/faults" && answer.status == 200 {
                self.simulators.faults_set(self.sandbox.provider.faults());
            }
            return answer;
        }
        let claims = if route.jwt {
            match self.authorize(&request) {
                Ok(claims) => Some(claims),
                Err(answer) => return *answer,
            }
        } else {
            None
        };
        let event = self.event(&request, claims.as_ref());
        let answer = self.invoke(route.target, event).await;
        if answer.status == 201 && route.path.ends_with("/qr-codes") {
            self.remember_code(&params[0], route.path.starts_with("/devices"), &answer)
                .await;
        }
        answer
    }

    /// The bearer token's claims, checked against the real clock (as API
    /// Gateway does), or the 401 API Gateway would answer.
    fn authorize(&self, request: &LocalRequest) -> Result<jwt::Claims, Box<LocalResponse>> {
        let unauthenticated =
            |message: String| Box::new(LocalResponse::error(ApiError::unauthenticated(message)));
        let header = request
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| unauthenticated("an Authorization: Bearer token is required".into()))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| {
                unauthenticated("the Authorization header is not a Bearer token".into())
            })?;
        let now_s = chrono::Utc::now().timestamp();
        jwt::verify(
            self.options.jwt_secret.expose().as_bytes(),
            token.trim(),
            now_s,
        )
        .map_err(|e| unauthenticated(format!("the token is refused: {e}")))
    }

    fn event(&self, request: &LocalRequest, claims: Option<&jwt::Claims>) -> Value {
        let id = self.next_request.fetch_add(1, Ordering::Relaxed);
        gateway::event(
            &HttpRequest {
                method: &request.method,
                path: &request.path,
                query: &request.query,
                headers: request.headers.clone(),
                body: &request.body,
            },
            claims,
            &format!("local-{id}"),
            chrono::Utc::now().timestamp_millis(),
        )
    }

    /// Runs `target`'s handler on an API Gateway v2 event.
    pub async fn invoke(&self, target: Target, event: Value) -> LocalResponse {
        match qrpay_http::event::request_of(event) {
            Ok(request) => from_response(self.respond(target, request).await),
            Err(e) => LocalResponse::error(ApiError::internal(e)),
        }
    }

    /// `target`'s HTTP handler.
    async fn respond(&self, target: Target, request: lambda_http::Request) -> Response<Body> {
        match target {
            Target::PayoutRequestFunction => {
                payout_request::handle(&self.functions.payout_request, request).await
            }
            Target::AdminApiFunction => admin_api::handle(&self.functions.admin, request).await,
            Target::QrIssueFunction => qr_issue::handle(&self.functions.qr, request).await,
            Target::PaymentCallbackFunction => {
                payment_callback::handle(&self.functions.callback, request).await
            }
            Target::ReconcileFunction => {
                reconcile::handle(&self.functions.reconcile, request).await
            }
            Target::Sandbox => {
                qrpay_http::respond(Err(ApiError::internal("the sandbox is no function")))
            }
        }
    }

    /// Runs any Lambda event through the function named as in `events/`
    /// (`payout-worker`, `qr-issue`, …), as its Lambda `main` would: API
    /// Gateway events through the HTTP handler, the others (SQS, schedules,
    /// IoT, direct) through the function's own dispatch.
    pub async fn lambda(&self, function: &str, event: Value) -> Result<Value, String> {
        let target = match function {
            "payout-request" => Target::PayoutRequestFunction,
            "admin-api" => Target::AdminApiFunction,
            "qr-issue" => Target::QrIssueFunction,
            "payment-callback" => Target::PaymentCallbackFunction,
            "reconcile" => Target::ReconcileFunction,
            "payout-worker" => {
                return payout_worker::batch::dispatch(
                    &self.functions.worker,
                    self.queue.as_ref(),
                    self.alerts.as_ref(),
                    event,
                )
                .await
            }
            other => return Err(format!("no function {other:?}")),
        };
        match target {
            // These take API Gateway events among others, in their own dispatch.
            Target::QrIssueFunction => qr_issue::lambda::dispatch(&self.functions.qr, event).await,
            Target::ReconcileFunction => {
                reconcile::dispatch(&self.functions.reconcile, event).await
            }
            _ => {
                let request = qrpay_http::event::request_of(event)?;
                qrpay_http::event::response_value(self.respond(target, request).await)
            }
        }
    }

    /// A request from inside the stack (the sandbox's checkout and
    /// callbacks), through the same route as any other.
    pub async fn internal(
        &self,
        method: &str,
        path: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> LocalResponse {
        Box::pin(self.handle(LocalRequest {
            method: method.into(),
            path: path.into(),
            query: String::new(),
            headers,
            body,
        }))
        .await
    }

    async fn remember_code(&self, owner: &str, is_device: bool, answer: &LocalResponse) {
        let Some(qr) = answer
            .body_json()
            .and_then(|b| b.get("qr_id").and_then(Value::as_str).map(str::to_owned))
        else {
            return;
        };
        let shop = if is_device {
            match qrpay_domain::DeviceId::parse(owner) {
                Ok(device) => match self.store.get_device(&device).await {
                    Ok(Some(device)) => Some(device.shop_id),
                    _ => None,
                },
                Err(_) => None,
            }
        } else {
            ShopId::parse(owner).ok()
        };
        if let Some(shop) = shop {
            self.qr_shops
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(qr, shop);
        }
    }

    pub fn shop_of_code(&self, qr_id: &str) -> Option<ShopId> {
        self.qr_shops
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(qr_id)
            .cloned()
    }

    /// A signed payment token for a code (what its QR image carries).
    pub fn payment_token(&self, shop: &ShopId, qr_id: &str) -> Result<String, String> {
        qrpay_qr::token::sign(
            self.options.qr_token_secret.expose().as_bytes(),
            qr_id,
            shop.as_str(),
        )
        .map_err(|e| e.to_string())
    }

    pub fn wake_background(&self) {
        self.wake.notify_one();
    }

    /// Status of the stack for the startup banner and `GET /sandbox/...`.
    pub fn describe(&self) -> Value {
        json!({
            "data_dir": self.options.data_dir.display().to_string(),
            "backend": match &self.options.backend {
                Backend::Embedded => "embedded".to_owned(),
                Backend::Aws { endpoint, .. } => format!("aws at {endpoint}"),
            },
        })
    }
}

/// What the sandbox, as a provider, reaches of qrpay: its public routes
/// through the same entry point as any request, the codes issued here, and
/// the background work to wake when the test clock moves.
#[async_trait]
impl Qrpay for Stack {
    async fn request(
        &self,
        method: &str,
        path: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> LocalResponse {
        self.internal(method, path, headers, body).await
    }

    fn shop_of_code(&self, qr_id: &str) -> Option<ShopId> {
        Stack::shop_of_code(self, qr_id)
    }

    fn payment_token(&self, shop: &ShopId, qr_id: &str) -> Result<String, String> {
        Stack::payment_token(self, shop, qr_id)
    }

    fn clock_moved(&self) {
        self.wake_background();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_options_never_show_their_secrets() {
        let options = Options {
            data_dir: PathBuf::from("/tmp/qrpay-local"),
            backend: Backend::Embedded,
            jwt_secret: Secret::new("jwt-secret-value".to_owned()),
            sandbox_secret: Secret::new("sandbox-secret-value".to_owned()),
            qr_token_secret: Secret::new("qr-token-secret-value".to_owned()),
            pay_base_url: "http://127.0.0.1:3000".to_owned(),
        };
        let shown = format!("{options:?}");
        assert!(!shown.contains("secret-value"), "{shown}");
        assert_eq!(options.jwt_secret.expose(), "jwt-secret-value");
    }
}
