//! Collection QR codes (收款码, SPEC §3): static codes the buyer types an
//! amount into, and dynamic codes for one order with a fixed amount that
//! expire. Issuing is idempotent on `(shop, out_order_no)`.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::collection::Provider;
use crate::ids::{DeviceId, OrderId, OutOrderNo, QrId, ShopId};
use crate::instalment::InstalmentPlan;
use crate::money::Amount;
use crate::plan_terms::PlanPeriods;
use crate::text::QrDescription;

/// A dynamic code lives this long unless the request says otherwise.
pub const DEFAULT_DYNAMIC_EXPIRY_S: i64 = 15 * 60;
/// The longest any code may be asked to live: 90 days.
pub const MAX_EXPIRY_S: i64 = 90 * 24 * 60 * 60;
/// Longest description kept on a code and its order.
pub const MAX_DESCRIPTION_CHARS: usize = QrDescription::MAX_CHARS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QrKind {
    Static,
    Dynamic,
}

impl QrKind {
    pub fn as_str(self) -> &'static str {
        match self {
            QrKind::Static => "static",
            QrKind::Dynamic => "dynamic",
        }
    }

    pub fn parse(text: &str) -> Option<QrKind> {
        [QrKind::Static, QrKind::Dynamic]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// What is stored: expiry is not a stored state, it follows from the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QrState {
    Active,
    Revoked,
    /// A dynamic code whose order was paid.
    Used,
}

impl QrState {
    pub fn as_str(self) -> &'static str {
        match self {
            QrState::Active => "ACTIVE",
            QrState::Revoked => "REVOKED",
            QrState::Used => "USED",
        }
    }

    pub fn parse(text: &str) -> Option<QrState> {
        [QrState::Active, QrState::Revoked, QrState::Used]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// What a reader is shown (API.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QrStatus {
    Active,
    Expired,
    Revoked,
    Used,
}

impl QrStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            QrStatus::Active => "ACTIVE",
            QrStatus::Expired => "EXPIRED",
            QrStatus::Revoked => "REVOKED",
            QrStatus::Used => "USED",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrCode {
    pub qr_id: QrId,
    pub shop_id: ShopId,
    pub kind: QrKind,
    /// Dynamic codes: the order the code collects for.
    pub order_id: Option<OrderId>,
    pub out_order_no: Option<OutOrderNo>,
    pub amount: Option<Amount>,
    pub description: Option<QrDescription>,
    pub device_id: Option<DeviceId>,
    /// Monthly pay: the plan (dynamic) or just its periods (static; the plan
    /// is made when the buyer's amount is known).
    pub instalment_periods: Option<PlanPeriods>,
    pub instalment_plan: Option<InstalmentPlan>,
    pub state: QrState,
    pub expires_at: Option<DateTime<Utc>>,
    /// The payment URL (with its signed token) and the EMV payload, as issued.
    pub url: String,
    pub emv: String,
    /// Digest of the issuing parameters: a repeat with other parameters is a conflict.
    pub fingerprint: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl QrCode {
    pub fn status_at(&self, now: DateTime<Utc>) -> QrStatus {
        match self.state {
            QrState::Revoked => QrStatus::Revoked,
            QrState::Used => QrStatus::Used,
            QrState::Active if self.expires_at.is_some_and(|at| at <= now) => QrStatus::Expired,
            QrState::Active => QrStatus::Active,
        }
    }

    /// Whether a buyer may pay through this code now; the refusal otherwise.
    pub fn check_payable(&self, now: DateTime<Utc>) -> Result<(), QrRefusal> {
        match self.status_at(now) {
            QrStatus::Active => Ok(()),
            QrStatus::Expired => Err(QrRefusal::Expired),
            QrStatus::Revoked => Err(QrRefusal::Revoked),
            QrStatus::Used => Err(QrRefusal::Used),
        }
    }
}

/// Why a code cannot be paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QrRefusal {
    #[error("this code has expired")]
    Expired,
    #[error("this code was revoked")]
    Revoked,
    #[error("this code's order is already paid")]
    Used,
}

impl QrRefusal {
    pub fn code(self) -> &'static str {
        match self {
            QrRefusal::Expired => "QR_EXPIRED",
            QrRefusal::Revoked => "QR_REVOKED",
            QrRefusal::Used => "QR_USED",
        }
    }
}

/// A validated request to issue a code (API.md `POST …/qr-codes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrIssue {
    pub kind: QrKind,
    pub amount: Option<Amount>,
    pub out_order_no: Option<OutOrderNo>,
    pub description: Option<QrDescription>,
    pub device_id: Option<DeviceId>,
    pub expires_in_s: Option<i64>,
    pub instalment_periods: Option<PlanPeriods>,
    /// A dynamic code that carries this provider's own payment code.
    pub provider: Option<Provider>,
}

/// A request that breaks the shape rules; `field` names the culprit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QrIssueError {
    pub field: &'static str,
    pub message: String,
}

fn issue_error(field: &'static str, message: &str) -> QrIssueError {
    QrIssueError {
        field,
        message: message.to_owned(),
    }
}

impl QrIssue {
    /// Checks the combination of fields: a dynamic code needs an amount and an
    /// `out_order_no`; a static one takes neither; expiry within 1 s..90 days.
    pub fn validate(self) -> Result<QrIssue, QrIssueError> {
        match self.kind {
            QrKind::Dynamic if self.amount.is_none() => {
                return Err(issue_error("amount", "a dynamic code needs an amount"))
            }
            QrKind::Dynamic if self.out_order_no.is_none() => {
                return Err(issue_error(
                    "out_order_no",
                    "a dynamic code needs an out_order_no",
                ))
            }
            QrKind::Static if self.amount.is_some() => {
                return Err(issue_error(
                    "amount",
                    "a static code has no amount: the buyer enters it",
                ))
            }
            QrKind::Static if self.out_order_no.is_some() => {
                return Err(issue_error(
                    "out_order_no",
                    "a static code is not for one order",
                ))
            }
            // A provider's code is for one order of one amount.
            QrKind::Static if self.provider.is_some() => {
                return Err(issue_error(
                    "provider",
                    "a provider's own code is for dynamic codes only",
                ))
            }
            _ => {}
        }
        if self.provider == Some(Provider::Sandbox) {
            return Err(issue_error(
                "provider",
                "provider must be wechatpay, alipay or douyin",
            ));
        }
        if let Some(s) = self.expires_in_s {
            if !(1..=MAX_EXPIRY_S).contains(&s) {
                return Err(issue_error(
                    "expires_in_s",
                    "expires_in_s must be between 1 and 7776000 (90 days)",
                ));
            }
        }
        Ok(self)
    }

    /// When a code issued now expires: dynamic codes always do.
    pub fn expires_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let seconds = match (self.kind, self.expires_in_s) {
            (_, Some(s)) => s,
            (QrKind::Dynamic, None) => DEFAULT_DYNAMIC_EXPIRY_S,
            (QrKind::Static, None) => return None,
        };
        Some(now + Duration::seconds(seconds))
    }

    /// Digest of everything that defines the code, to tell a repeat from a
    /// conflict: SHA-256 of the fields as one JSON array, so each field is
    /// delimited whatever it contains and an absent field (`null`) is not an
    /// empty one. (The `|`-joined form could not in fact take a description
    /// ending in `|pos-1` for a `device_id`: every field after the
    /// description is free of `|`, so the last ones split unambiguously. It
    /// did take an absent description for an empty one, and it held only as
    /// long as no other free-text field came along.)
    ///
    /// Codes issued before this were stored with `pipe_joined_fingerprint`;
    /// `is_repeat_of` still accepts that form.
    pub fn fingerprint(&self) -> String {
        let fields = serde_json::json!([
            "qr/2",
            self.kind.as_str(),
            self.amount.map(|a| a.to_string()),
            self.out_order_no.as_ref().map(OutOrderNo::as_str),
            self.description.as_ref().map(QrDescription::as_str),
            self.device_id.as_ref().map(DeviceId::as_str),
            self.expires_in_s,
            self.instalment_periods.map(|p| p.to_string()),
            self.provider.map(|p| p.to_string()),
        ]);
        hex::encode(Sha256::digest(fields.to_string().as_bytes()))
    }

    /// Whether a code stored with `fingerprint` was issued by this same
    /// request.
    ///
    /// The old form is still accepted: without it, a request repeated after
    /// the change (a till retrying its order number across a deploy) would
    /// be answered 409 `OUT_ORDER_NO_CONFLICT` instead of its code, and the
    /// till would take the order number for another sale's. The old form
    /// only tells apart less (an absent description and an empty one), and
    /// only for codes stored before the change.
    pub fn is_repeat_of(&self, fingerprint: &str) -> bool {
        fingerprint == self.fingerprint() || fingerprint == self.pipe_joined_fingerprint()
    }

    /// The fingerprint as it was first stored: the fields joined with `|`.
    fn pipe_joined_fingerprint(&self) -> String {
        let text = format!(
            "{}|{}|{}|{}|{}|{}|{}",
            self.kind.as_str(),
            self.amount.map(|a| a.to_string()).unwrap_or_default(),
            self.out_order_no.as_ref().map(|o| o.as_str()).unwrap_or(""),
            self.description.as_ref().map_or("", QrDescription::as_str),
            self.device_id.as_ref().map(|d| d.as_str()).unwrap_or(""),
            self.expires_in_s.map(|s| s.to_string()).unwrap_or_default(),
            self.instalment_periods
                .map(|p| p.to_string())
                .unwrap_or_default(),
        );
        // Appended only when asked for, so the earlier form still matched.
        let text = match self.provider {
            Some(provider) => format!("{text}|provider={provider}"),
            None => text,
        };
        hex::encode(Sha256::digest(text.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn dynamic() -> QrIssue {
        QrIssue {
            kind: QrKind::Dynamic,
            amount: Some(Amount::parse("88.00").unwrap()),
            out_order_no: Some(OutOrderNo::parse("A-1").unwrap()),
            description: None,
            device_id: None,
            expires_in_s: None,
            instalment_periods: None,
            provider: None,
        }
    }

    #[test]
    fn dynamic_codes_need_amount_and_out_order_no_and_static_ones_take_neither() {
        assert_eq!(
            QrIssue {
                amount: None,
                ..dynamic()
            }
            .validate()
            .unwrap_err()
            .field,
            "amount"
        );
        assert_eq!(
            QrIssue {
                out_order_no: None,
                ..dynamic()
            }
            .validate()
            .unwrap_err()
            .field,
            "out_order_no"
        );
        let stat = QrIssue {
            kind: QrKind::Static,
            ..dynamic()
        };
        assert_eq!(stat.clone().validate().unwrap_err().field, "amount");
        assert_eq!(
            QrIssue {
                amount: None,
                ..stat
            }
            .validate()
            .unwrap_err()
            .field,
            "out_order_no"
        );
    }

    #[test]
    fn expiry_defaults_to_15_minutes_and_is_at_most_90_days() {
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 2, 0, 0).unwrap();
        assert_eq!(
            dynamic().expires_at(now),
            Some(now + Duration::seconds(900))
        );
        assert!(QrIssue {
            expires_in_s: Some(MAX_EXPIRY_S),
            ..dynamic()
        }
        .validate()
        .is_ok());
        assert_eq!(
            QrIssue {
                expires_in_s: Some(MAX_EXPIRY_S + 1),
                ..dynamic()
            }
            .validate()
            .unwrap_err()
            .field,
            "expires_in_s"
        );
        assert_eq!(
            QrIssue {
                expires_in_s: Some(0),
                ..dynamic()
            }
            .validate()
            .unwrap_err()
            .field,
            "expires_in_s"
        );
    }

    #[test]
    fn fingerprint_changes_with_any_parameter() {
        let base = dynamic().fingerprint();
        assert_eq!(base, dynamic().fingerprint());
        let other_amount = QrIssue {
            amount: Some(Amount::parse("88.01").unwrap()),
            ..dynamic()
        };
        assert_ne!(base, other_amount.fingerprint());
        let other_plan = QrIssue {
            instalment_periods: Some(PlanPeriods::THREE),
            ..dynamic()
        };
        assert_ne!(base, other_plan.fingerprint());
        let for_alipay = QrIssue {
            provider: Some(Provider::Alipay),
            ..dynamic()
        };
        assert_ne!(base, for_alipay.fingerprint());
    }

    #[test]
    fn a_separator_inside_one_field_cannot_stand_for_the_next_field() {
        let from_app = QrIssue {
            description: Some(QrDescription::parse("x|pos-1").unwrap()),
            ..dynamic()
        };
        let from_pos = QrIssue {
            description: Some(QrDescription::parse("x").unwrap()),
            device_id: Some(DeviceId::parse("pos-1").unwrap()),
            ..dynamic()
        };
        assert_ne!(from_app.fingerprint(), from_pos.fingerprint());
        // An empty description is not the absence of one.
        let empty = QrIssue {
            description: Some(QrDescription::parse("").unwrap()),
            ..dynamic()
        };
        assert_ne!(empty.fingerprint(), dynamic().fingerprint());
    }

    #[test]
    fn a_code_stored_with_the_old_fingerprint_is_still_a_repeat() {
        // SHA-256 of "dynamic|88.00|A-1||||", as codes issued before the
        // fields were length-delimited were stored.
        let old = hex::encode(Sha256::digest(b"dynamic|88.00|A-1||||"));
        assert!(dynamic().is_repeat_of(&old));
        assert!(dynamic().is_repeat_of(&dynamic().fingerprint()));
        let other = QrIssue {
            amount: Some(Amount::parse("88.01").unwrap()),
            ..dynamic()
        };
        assert!(!other.is_repeat_of(&old));
        assert!(!other.is_repeat_of(&dynamic().fingerprint()));
    }

    #[test]
    fn a_providers_code_is_for_a_dynamic_code_of_a_real_provider() {
        let alipay = QrIssue {
            provider: Some(Provider::Alipay),
            ..dynamic()
        };
        assert!(alipay.validate().is_ok());
        let static_code = QrIssue {
            kind: QrKind::Static,
            amount: None,
            out_order_no: None,
            provider: Some(Provider::Wechatpay),
            ..dynamic()
        };
        assert_eq!(static_code.validate().unwrap_err().field, "provider");
        let sandbox = QrIssue {
            provider: Some(Provider::Sandbox),
            ..dynamic()
        };
        assert_eq!(sandbox.validate().unwrap_err().field, "provider");
    }
}
