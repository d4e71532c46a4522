//! Payment providers. The transfer port: how a payout worker pays a buyer
//! back through a payment provider, and the sandbox provider that implements
//! it in-process. And the providers' payment notices (SPEC §5): one
//! `CallbackVerifier` per provider (`sandbox_notice`, `wechatpay`, `alipay`,
//! `douyin`) turning a verified notice into a `CollectionEvent`.
//!
//! The providers' side of those notices (each `NoticeSigner`, and `kit`'s
//! matched verifier/signer pairs) produces genuine notices for tests and the
//! local stack only: it is compiled with the `signers` feature, which no
//! deployed function enables.
//!
//! SPEC §4 "Execution rules": the payout id is the provider's idempotency key
//! (`out_bill_no`), so a provider never moves money twice for one payout, and
//! only a definitive answer may settle a payout. Anything else is `Ambiguous`
//! and the worker must query before it tries again.

use async_trait::async_trait;
use qrpay_domain::{Amount, OrderId, PayeeAction, PayerAccount, PayoutId, ShopId};
use serde::{Deserialize, Serialize};

pub mod alipay;
pub mod bills;
pub mod callback;
pub mod douyin;
pub mod gateway;
pub mod keys;
#[cfg(feature = "signers")]
pub mod kit;
pub mod notice;
#[cfg(feature = "sandbox")]
pub mod sandbox;
#[cfg(feature = "sandbox")]
pub mod sandbox_notice;
pub mod signature;
pub mod wechatpay;

pub use alipay::AlipayVerifier;
pub use douyin::DouyinVerifier;
pub use notice::{Answer, CallbackError, CallbackVerifier, ConfigError, Notice, UnappliedNotice};
#[cfg(feature = "sandbox")]
pub use sandbox_notice::{parse_sandbox_notice, SandboxNotice, SandboxVerifier};
pub use wechatpay::WechatpayVerifier;

#[cfg(feature = "signers")]
pub use alipay::AlipaySigner;
#[cfg(feature = "signers")]
pub use douyin::DouyinSigner;
#[cfg(feature = "signers")]
pub use notice::{NoticeSigner, SignedNotice};
#[cfg(feature = "signers")]
pub use sandbox_notice::SandboxSigner;
#[cfg(feature = "signers")]
pub use wechatpay::WechatpaySigner;

#[cfg(feature = "sandbox")]
pub use sandbox::{
    FaultsError, SandboxCharge, SandboxChargeKind, SandboxFaults, SandboxProvider, SandboxTransfer,
    SandboxTransferStatus, TransferNotice,
};

/// The buyer who paid `order_id` at `shop_id`: the one a payout pays back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payee {
    pub shop_id: ShopId,
    pub order_id: OrderId,
    /// The provider's id for the buyer's original payment, when known.
    pub provider_txn_id: Option<String>,
    /// The account that paid (openid, Alipay buyer id): where the money goes.
    /// Restricted: never serialized (the sandbox's ledger shows payees).
    #[serde(skip)]
    pub account: Option<PayerAccount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferRequest {
    /// The payout's own id, used as the provider's idempotency key.
    pub out_bill_no: PayoutId,
    pub amount: Amount,
    pub payee: Payee,
}

/// The provider's answer to `transfer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferOutcome {
    /// Definitive: the money moved.
    Succeeded { provider_ref: String },
    /// Definitive: the money did not and will not move.
    Failed { reason: String },
    /// Accepted; the final state comes later by query or callback.
    InProgress,
    /// Accepted, and waiting for the payee to confirm (WeChat
    /// `WAIT_USER_CONFIRM`): still in progress, with what the payee must do.
    AwaitingPayee(PayeeAction),
    /// Timeout, 5xx or an unknown answer: the money may or may not have moved.
    Ambiguous { detail: String },
}

/// The provider's answer to `query`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryOutcome {
    Succeeded {
        provider_ref: String,
    },
    Failed {
        reason: String,
    },
    InProgress,
    AwaitingPayee(PayeeAction),
    /// The provider never received this `out_bill_no`: safe to send it again.
    NotFound,
    Ambiguous {
        detail: String,
    },
}

#[async_trait]
pub trait TransferProvider: Send + Sync {
    /// Asks the provider to move `request.amount` to the payee. Repeating a
    /// request with the same `out_bill_no` never moves money twice.
    async fn transfer(&self, request: &TransferRequest) -> TransferOutcome;

    /// What the provider knows about `out_bill_no`.
    async fn query(&self, out_bill_no: &PayoutId) -> QueryOutcome;

    /// Withdraws a transfer the payee has not confirmed yet. Accepted is not
    /// done: the result comes from a later `query`. Providers without a
    /// cancel answer `Ambiguous`.
    async fn cancel(&self, out_bill_no: &PayoutId) -> QueryOutcome {
        let _ = out_bill_no;
        QueryOutcome::Ambiguous {
            detail: "this provider cannot cancel a transfer".into(),
        }
    }
}
