//! What payment providers tell us about collection (SPEC §5), once each
//! provider's adapter has verified its signature and read its own format:
//! one shape for every provider, in our units (yuan `Amount`, our ids).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{OrderId, RefundId};
use crate::money::Amount;
use crate::payee::PayerAccount;

/// Longest provider id (notification, transaction, refund) we accept.
pub const MAX_PROVIDER_ID_LEN: usize = 64;
/// Longest provider reason text we keep.
pub const MAX_REASON_CHARS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Sandbox,
    Wechatpay,
    Alipay,
    Douyin,
}

impl Provider {
    pub const ALL: [Provider; 4] = [
        Provider::Sandbox,
        Provider::Wechatpay,
        Provider::Alipay,
        Provider::Douyin,
    ];

    /// The name used in paths (`/callbacks/{provider}`) and records.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Sandbox => "sandbox",
            Provider::Wechatpay => "wechatpay",
            Provider::Alipay => "alipay",
            Provider::Douyin => "douyin",
        }
    }

    pub fn parse(text: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An id a provider gave us (notification id, transaction id, refund id):
/// 1–64 visible ASCII characters, so it is safe in keys, logs and reports.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ProviderRef(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("provider ids must be 1-64 visible ASCII characters")]
pub struct ProviderRefError;

impl ProviderRef {
    pub fn parse(text: &str) -> Result<ProviderRef, ProviderRefError> {
        let ok = !text.is_empty()
            && text.len() <= MAX_PROVIDER_ID_LEN
            && text.bytes().all(|b| b.is_ascii_graphic() && b != b'#');
        if ok {
            Ok(ProviderRef(text.to_owned()))
        } else {
            Err(ProviderRefError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProviderRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ProviderRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProviderRef({})", self.0)
    }
}

impl<'de> Deserialize<'de> for ProviderRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        ProviderRef::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// One verified notification from a provider about one of our orders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionEvent {
    pub provider: Provider,
    /// The provider's id of this notification; a redelivery carries the same
    /// id, and we apply each id at most once.
    pub notification_id: ProviderRef,
    /// Our order id, as we gave it to the provider (`out_trade_no`).
    pub order_id: OrderId,
    pub kind: CollectionEventKind,
    /// When the provider says it happened.
    pub occurred_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CollectionEventKind {
    /// The buyer paid the order (for monthly pay: the credit was granted
    /// and the shop is paid the order amount).
    PaymentSucceeded {
        provider_txn_id: ProviderRef,
        amount: Amount,
        payer: Option<Payer>,
    },
    /// One instalment (1-based `period`) was charged to the buyer.
    InstalmentDeducted {
        provider_txn_id: ProviderRef,
        period: u8,
        amount: Amount,
    },
    /// Charging one instalment failed; the merchant is told and we alert.
    InstalmentDeductionFailed {
        period: u8,
        amount: Amount,
        reason: String,
    },
    /// Money went back to the buyer.
    RefundSucceeded {
        refund_id: ProviderRef,
        amount: Amount,
        /// Our refund, when the notice names one by the refund number we
        /// sent (WeChat `out_refund_no`, Alipay `out_biz_no` = our
        /// `out_request_no`, Douyin `cp_refundno`). A refund made in the
        /// provider's console names none of ours (or an id we never made).
        our_refund: Option<RefundId>,
    },
}

impl CollectionEventKind {
    pub fn name(&self) -> &'static str {
        match self {
            CollectionEventKind::PaymentSucceeded { .. } => "PAYMENT_SUCCEEDED",
            CollectionEventKind::InstalmentDeducted { .. } => "INSTALMENT_DEDUCTED",
            CollectionEventKind::InstalmentDeductionFailed { .. } => "INSTALMENT_DEDUCTION_FAILED",
            CollectionEventKind::RefundSucceeded { .. } => "REFUND_SUCCEEDED",
        }
    }
}

/// Who paid, as the provider describes them. Personal data: only ever
/// shown masked (SPEC §7), which is all `Debug` and `masked` give.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Payer {
    pub name: Option<String>,
    pub phone: Option<String>,
    /// The paying account (openid, Alipay buyer id): what a payout pays back
    /// to. Restricted data, kept on the order and never shown.
    pub account: Option<PayerAccount>,
}

impl Payer {
    /// `张*` / `138****1234`, joined by a space; empty if nothing is known.
    pub fn masked(&self) -> String {
        let name = self.name.as_deref().map(mask_name);
        let phone = self.phone.as_deref().map(mask_phone);
        [name, phone]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl fmt::Debug for Payer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Payer({})", self.masked())
    }
}

/// Keeps the first character of a name: `张三丰` → `张*`.
pub fn mask_name(name: &str) -> String {
    match name.trim().chars().next() {
        Some(first) => format!("{first}*"),
        None => String::new(),
    }
}

/// Keeps the first three and last four digits of a phone number:
/// `13812341234` → `138****1234`; anything shorter is fully masked.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.trim().chars().collect();
    if chars.len() < 8 {
        return "*".repeat(chars.len().max(1));
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_data_is_masked() {
        assert_eq!(mask_name("张三丰"), "张*");
        assert_eq!(mask_phone("13812341234"), "138****1234");
        assert_eq!(mask_phone("12345"), "*****");
        let payer = Payer {
            name: Some("李四".into()),
            phone: Some("13900001111".into()),
            account: None,
        };
        assert_eq!(payer.masked(), "李* 139****1111");
        assert_eq!(format!("{payer:?}"), "Payer(李* 139****1111)");
    }

    #[test]
    fn provider_refs_are_bounded_and_visible_ascii() {
        assert!(ProviderRef::parse("4200001234202611210001").is_ok());
        assert!(ProviderRef::parse("").is_err());
        assert!(ProviderRef::parse("has space").is_err());
        assert!(ProviderRef::parse("a#b").is_err());
        assert!(ProviderRef::parse(&"x".repeat(65)).is_err());
    }
}
