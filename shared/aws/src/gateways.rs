//! Provider gateways that follow a provider's key rotation (issue 14).
//!
//! The gateways are built at cold start from the stage's secret. When a
//! provider rotates the key it signs its answers with (WeChat Pay's platform
//! key and serial, Alipay's public key or certificate), every answer fails
//! verification until the new key is read: the adapters mark those outcomes
//! (`AnswerVerdict::key_mismatch`). Each gateway here delegates to the
//! gateways built from the secret and, on such an outcome, re-reads the
//! secret (`SecretSource::refresh`: at most once per interval for the whole
//! function, so forged answers cannot turn into a stream of Secrets Manager
//! calls) and rebuilds the gateways when the secret changed.
//!
//! Calls that move no money are then made once more with the rebuilt
//! gateways (queries change nothing; `create` sends our order id as
//! `out_trade_no` with the same parameters and finds the same provider
//! order; `close` of a closed order changes nothing). A second mismatch is
//! returned as it is: still ambiguous, as every untrusted answer is.
//!
//! Calls that move money (`refund`, `transfer`, `cancel`) are never sent
//! again from here, although the provider would dedupe them by our id
//! (`out_refund_no` / `out_request_no`, `out_bill_no` / `out_biz_no`): the
//! untrusted answer stays ambiguous, and the worker's next attempt queries
//! first (SPEC §4), now with the new keys.
//!
//! Douyin signs no answers, so its calls never see a mismatch.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use std::path::Path;

use qrpay_domain::{BusinessDate, Clock, OrderId, PayoutId, Provider};
use qrpay_provider::bills::{BillGateway, BillKind, BillOutcome};
use qrpay_provider::gateway::{
    configured_gateways, AnswerVerdict, CloseOutcome, CollectRequest, CollectionGateway,
    CreateOutcome, Gateways, HttpTransport, RefundGateway, RefundNo, RefundOutcome, RefundRequest,
    TradeState,
};
use qrpay_provider::{QueryOutcome, TransferOutcome, TransferProvider, TransferRequest};

use crate::secrets::{Reloadable, SecretSource};

/// The providers configured in `secrets`, each following a key rotation
/// without a deploy. WeChat web authorization (`wechat_oauth`) signs nothing
/// it reads back and stays as built now.
pub fn reloading_gateways(
    secrets: Arc<SecretSource>,
    transport: Arc<dyn HttpTransport>,
    clock: Arc<dyn Clock>,
) -> Result<Gateways, String> {
    let built = Reloadable::from_source(secrets, move |source| {
        configured_gateways(&|name| source.get(name), transport.clone(), clock.clone())
    })?;
    let built = Arc::new(built);
    let first = built.current();
    let follow = |provider: &Provider| {
        Arc::new(FollowingKeys {
            provider: *provider,
            built: built.clone(),
        })
    };
    let mut gateways = Gateways {
        wechat_oauth: first.wechat_oauth.clone(),
        ..Gateways::default()
    };
    for provider in first.collection.keys() {
        gateways.collection.insert(*provider, follow(provider));
    }
    for provider in first.refunds.keys() {
        gateways.refunds.insert(*provider, follow(provider));
    }
    for provider in first.transfers.keys() {
        gateways.transfers.insert(*provider, follow(provider));
    }
    for provider in first.bills.keys() {
        gateways.bills.insert(*provider, follow(provider));
    }
    Ok(gateways)
}

/// What a call answers when a rotation left its provider unconfigured.
trait Unconfigured {
    fn unconfigured(provider: Provider) -> Self;
}

macro_rules! unconfigured {
    ($($outcome:ty),*) => {$(
        impl Unconfigured for $outcome {
            fn unconfigured(provider: Provider) -> Self {
                Self::Ambiguous {
                    detail: format!("{provider:?} is no longer configured in the stage's secret"),
                }
            }
        }
    )*};
}

unconfigured!(
    CreateOutcome,
    TradeState,
    CloseOutcome,
    RefundOutcome,
    TransferOutcome,
    QueryOutcome,
    BillOutcome
);

/// One provider's gateways, as last built from the secret.
struct FollowingKeys {
    provider: Provider,
    built: Arc<Reloadable<Gateways>>,
}

/// Whether a call refused for its answer's signature is made again with
/// gateways rebuilt from the re-read secret (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Again {
    /// It moves no money.
    Repeat,
    /// It moves money: only the keys are refreshed.
    RefreshOnly,
}

/// Picks one capability's gateway out of the gateways.
type Pick<G> = fn(&Gateways, Provider) -> Option<&Arc<G>>;

impl FollowingKeys {
    /// `call` with the gateway in use; after an answer whose signature does
    /// not verify with our keys, once more with gateways rebuilt from a
    /// re-read secret, if it changed (or if another call rebuilt them
    /// meanwhile). Only for calls that are safe to repeat (module docs).
    async fn call<G, O, F, Fut>(&self, pick: Pick<G>, again: Again, call: F) -> O
    where
        G: ?Sized,
        O: AnswerVerdict + Unconfigured,
        F: Fn(Arc<G>) -> Fut,
        Fut: Future<Output = O>,
    {
        let used = self.built.current();
        let Some(gateway) = pick(&used, self.provider).cloned() else {
            return O::unconfigured(self.provider);
        };
        let first = call(gateway).await;
        if !first.key_mismatch() {
            return first;
        }
        tracing::warn!(provider = ?self.provider, "answer signature does not verify with our keys; re-reading the secret");
        let refreshed = self.built.after_signature_failure().await;
        if again == Again::RefreshOnly {
            return first;
        }
        let rebuilt = match refreshed {
            Some(rebuilt) => rebuilt,
            None => {
                let current = self.built.current();
                if Arc::ptr_eq(&current, &used) {
                    return first;
                }
                current
            }
        };
        match pick(&rebuilt, self.provider).cloned() {
            Some(gateway) => call(gateway).await,
            None => first,
        }
    }
}

#[async_trait]
impl CollectionGateway for FollowingKeys {
    fn provider(&self) -> Provider {
        self.provider
    }

    /// Repeated: the same `out_trade_no` and parameters find the same
    /// provider order; no money moves.
    async fn create(&self, request: &CollectRequest) -> CreateOutcome {
        self.call(Gateways::collection, Again::Repeat, |g| async move {
            g.create(request).await
        })
        .await
    }

    async fn query(&self, order_id: &OrderId) -> TradeState {
        self.call(Gateways::collection, Again::Repeat, |g| async move {
            g.query(order_id).await
        })
        .await
    }

    /// Repeated: closing a closed order changes nothing.
    async fn close(&self, order_id: &OrderId) -> CloseOutcome {
        self.call(Gateways::collection, Again::Repeat, |g| async move {
            g.close(order_id).await
        })
        .await
    }

    fn bridge_invoke(&self, prepay_id: &str) -> Option<serde_json::Value> {
        let gateways = self.built.current();
        gateways.collection(self.provider)?.bridge_invoke(prepay_id)
    }
}

/// Repeated: asking for a bill changes nothing at the provider.
#[async_trait]
impl BillGateway for FollowingKeys {
    fn provider(&self) -> Provider {
        self.provider
    }

    fn bill_kinds(&self) -> &'static [BillKind] {
        let gateways = self.built.current();
        gateways
            .bill(self.provider)
            .map_or(&[], |gateway| gateway.bill_kinds())
    }

    async fn fetch_bill(&self, date: BusinessDate, kind: BillKind, dest: &Path) -> BillOutcome {
        self.call(Gateways::bill, Again::Repeat, |g| async move {
            g.fetch_bill(date, kind, dest).await
        })
        .await
    }
}

#[async_trait]
impl RefundGateway for FollowingKeys {
    fn provider(&self) -> Provider {
        self.provider
    }

    /// Moves money: never sent again from here (module docs).
    async fn refund(&self, request: &RefundRequest) -> RefundOutcome {
        self.call(Gateways::refunds, Again::RefreshOnly, |g| async move {
            g.refund(request).await
        })
        .await
    }

    async fn query_refund(&self, order_id: &OrderId, refund_no: &RefundNo) -> RefundOutcome {
        self.call(Gateways::refunds, Again::Repeat, |g| async move {
            g.query_refund(order_id, refund_no).await
        })
        .await
    }
}

#[async_trait]
impl TransferProvider for FollowingKeys {
    /// Moves money: never sent again from here (module docs).
    async fn transfer(&self, request: &TransferRequest) -> TransferOutcome {
        self.call(Gateways::transfer, Again::RefreshOnly, |g| async move {
            g.transfer(request).await
        })
        .await
    }

    async fn query(&self, out_bill_no: &PayoutId) -> QueryOutcome {
        self.call(Gateways::transfer, Again::Repeat, |g| async move {
            g.query(out_bill_no).await
        })
        .await
    }

    /// Changes a bill's fate: never sent again from here (module docs).
    async fn cancel(&self, out_bill_no: &PayoutId) -> QueryOutcome {
        self.call(Gateways::transfer, Again::RefreshOnly, |g| async move {
            g.cancel(out_bill_no).await
        })
        .await
    }
}
