//! The alert port: something an operator must look at (SPEC §5, §6). Every
//! adapter logs the alert as a structured error line (CloudWatch metric
//! filters turn those into alarms); the reconciliation also publishes its
//! alerts to SNS (`SnsAlerts` in the `reconcile` function). The in-memory
//! adapter keeps them for tests and the local stack.

use std::sync::Mutex;

use async_trait::async_trait;
use qrpay_domain::{Anomaly, Notice, NoticeKind};

/// Every alert code the system raises. The log line's `alert` field carries
/// it, and `template.yaml`'s metric filters match on it: these strings are
/// a contract with the alarms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertCode {
    /// A payout not final 30 minutes after it was made (the sweeper).
    PayoutNotFinal,
    /// The provider contradicts a final payout state (settling).
    PayoutProviderContradiction,
    /// An instalment the provider could not charge.
    DeductionFailed,
    /// A payment at or above its shop's `large_payment_alert` (SPEC §11).
    LargePayment,
    /// Transfer notices the callback recorded and did not apply.
    TransferNoticeUnknownPayout,
    TransferNoticeAmountMismatch,
    TransferNoticeBeforeDispatch,
    /// A transfer notice from a provider other than the one the payout was
    /// sent through (`Payout.provider`; none is the sandbox).
    TransferNoticeWrongProvider,
    /// A merchant refund not final 72 hours after it was made (bank-card
    /// refunds take days; BUYER_PAGES §11.4), or stuck at a provider no
    /// longer configured.
    RefundNotFinal,
    /// The provider contradicts a final refund state (settling).
    RefundProviderContradiction,
    /// A provider refund notice naming one of our refunds that does not
    /// fit it (another order or provider, another amount, never sent).
    RefundNoticeMismatch,
    /// An IoT topic-rule event that names no device, or another one.
    IotRuleMisconfigured,
    /// `COLLECTION_<kind>`: a provider notice recorded as an anomaly; the
    /// code is the domain's `Anomaly::alert_code()`.
    CollectionUnknownOrder,
    CollectionAmountMismatch,
    CollectionDuplicateCharge,
    CollectionDuplicateDeduction,
    CollectionOrderNotPayable,
    CollectionRefundExceedsPaid,
    CollectionRefundShortfall,
    CollectionUnexpectedDeduction,
    /// A genuine provider notice acknowledged without being applied (a
    /// refund that failed at the provider, a trade status we do not act on,
    /// another app's notice, one we cannot read): the provider would
    /// redeliver a refused one for a day and more.
    CollectionNoticeNotApplied,
    /// A provider refund notice naming none of our refunds, short of the
    /// shop's balance while ours of at least its amount are in flight on
    /// the order: answered "not yet" until ours settle. Raised at each
    /// delivery; if the provider stops delivering first, the refund shows
    /// as `MISSING_IN_LEDGER` in the day's reconciliation.
    CollectionNoticeWaiting,
    /// `RECON_<class>`: the reconciliation's discrepancy classes and input
    /// gaps, built by `qrpay-reconcile`.
    ReconMissingInProvider,
    ReconMissingInLedger,
    ReconAmountMismatch,
    ReconStatusMismatch,
    ReconDuplicate,
    ReconSettlementMismatch,
    ReconDeductionFailed,
    ReconInputGap,
    /// A provider's bill the nightly run had to go without: refused, or
    /// not published by the deadline (`qrpay_reconcile::bill_fetch`).
    BillNotFetched,
}

impl AlertCode {
    pub const ALL: [AlertCode; 31] = [
        AlertCode::PayoutNotFinal,
        AlertCode::PayoutProviderContradiction,
        AlertCode::DeductionFailed,
        AlertCode::LargePayment,
        AlertCode::TransferNoticeUnknownPayout,
        AlertCode::TransferNoticeAmountMismatch,
        AlertCode::TransferNoticeBeforeDispatch,
        AlertCode::TransferNoticeWrongProvider,
        AlertCode::RefundNotFinal,
        AlertCode::RefundProviderContradiction,
        AlertCode::RefundNoticeMismatch,
        AlertCode::IotRuleMisconfigured,
        AlertCode::CollectionUnknownOrder,
        AlertCode::CollectionAmountMismatch,
        AlertCode::CollectionDuplicateCharge,
        AlertCode::CollectionDuplicateDeduction,
        AlertCode::CollectionOrderNotPayable,
        AlertCode::CollectionRefundExceedsPaid,
        AlertCode::CollectionRefundShortfall,
        AlertCode::CollectionUnexpectedDeduction,
        AlertCode::CollectionNoticeNotApplied,
        AlertCode::CollectionNoticeWaiting,
        AlertCode::ReconMissingInProvider,
        AlertCode::ReconMissingInLedger,
        AlertCode::ReconAmountMismatch,
        AlertCode::ReconStatusMismatch,
        AlertCode::ReconDuplicate,
        AlertCode::ReconSettlementMismatch,
        AlertCode::ReconDeductionFailed,
        AlertCode::ReconInputGap,
        AlertCode::BillNotFetched,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertCode::PayoutNotFinal => "PAYOUT_NOT_FINAL",
            AlertCode::PayoutProviderContradiction => "PAYOUT_PROVIDER_CONTRADICTION",
            AlertCode::DeductionFailed => "DEDUCTION_FAILED",
            AlertCode::LargePayment => "LARGE_PAYMENT",
            AlertCode::TransferNoticeUnknownPayout => "TRANSFER_NOTICE_UNKNOWN_PAYOUT",
            AlertCode::TransferNoticeAmountMismatch => "TRANSFER_NOTICE_AMOUNT_MISMATCH",
            AlertCode::TransferNoticeBeforeDispatch => "TRANSFER_NOTICE_BEFORE_DISPATCH",
            AlertCode::TransferNoticeWrongProvider => "TRANSFER_NOTICE_WRONG_PROVIDER",
            AlertCode::RefundNotFinal => "REFUND_NOT_FINAL",
            AlertCode::RefundProviderContradiction => "REFUND_PROVIDER_CONTRADICTION",
            AlertCode::RefundNoticeMismatch => "REFUND_NOTICE_MISMATCH",
            AlertCode::IotRuleMisconfigured => "IOT_RULE_MISCONFIGURED",
            AlertCode::CollectionUnknownOrder => "COLLECTION_UNKNOWN_ORDER",
            AlertCode::CollectionAmountMismatch => "COLLECTION_AMOUNT_MISMATCH",
            AlertCode::CollectionDuplicateCharge => "COLLECTION_DUPLICATE_CHARGE",
            AlertCode::CollectionDuplicateDeduction => "COLLECTION_DUPLICATE_DEDUCTION",
            AlertCode::CollectionOrderNotPayable => "COLLECTION_ORDER_NOT_PAYABLE",
            AlertCode::CollectionRefundExceedsPaid => "COLLECTION_REFUND_EXCEEDS_PAID",
            AlertCode::CollectionRefundShortfall => "COLLECTION_REFUND_SHORTFALL",
            AlertCode::CollectionUnexpectedDeduction => "COLLECTION_UNEXPECTED_DEDUCTION",
            AlertCode::CollectionNoticeNotApplied => "COLLECTION_NOTICE_NOT_APPLIED",
            AlertCode::CollectionNoticeWaiting => "COLLECTION_NOTICE_WAITING",
            AlertCode::ReconMissingInProvider => "RECON_MISSING_IN_PROVIDER",
            AlertCode::ReconMissingInLedger => "RECON_MISSING_IN_LEDGER",
            AlertCode::ReconAmountMismatch => "RECON_AMOUNT_MISMATCH",
            AlertCode::ReconStatusMismatch => "RECON_STATUS_MISMATCH",
            AlertCode::ReconDuplicate => "RECON_DUPLICATE",
            AlertCode::ReconSettlementMismatch => "RECON_SETTLEMENT_MISMATCH",
            AlertCode::ReconDeductionFailed => "RECON_DEDUCTION_FAILED",
            AlertCode::ReconInputGap => "RECON_INPUT_GAP",
            AlertCode::BillNotFetched => "BILL_NOT_FETCHED",
        }
    }

    pub fn parse(text: &str) -> Option<AlertCode> {
        AlertCode::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

impl std::fmt::Display for AlertCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `Alert.code` stays a string so the codes built outside this crate (the
/// domain's anomalies, the reconciliation's classes) fit it as they are.
impl From<AlertCode> for String {
    fn from(code: AlertCode) -> String {
        code.as_str().to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Stable code: an `AlertCode`'s string, e.g. `PAYOUT_NOT_FINAL`,
    /// `COLLECTION_AMOUNT_MISMATCH`.
    pub code: String,
    /// What happened and what to do, without personal data.
    pub message: String,
    pub shop_id: Option<String>,
    /// The record it is about (payout, order or anomaly id).
    pub reference: String,
}

#[async_trait]
pub trait Alerts: Send + Sync {
    async fn raise(&self, alert: &Alert);
}

/// Alerts as structured error logs (a metric filter turns them into alarms).
pub struct LogAlerts;

#[async_trait]
impl Alerts for LogAlerts {
    async fn raise(&self, alert: &Alert) {
        tracing::error!(alert = %alert.code, reference = %alert.reference,
            shop_id = alert.shop_id.as_deref().unwrap_or("-"), "{}", alert.message);
    }
}

/// Keeps every alert raised, in order.
#[derive(Default)]
pub struct MemoryAlerts {
    raised: Mutex<Vec<Alert>>,
}

impl MemoryAlerts {
    pub fn new() -> MemoryAlerts {
        MemoryAlerts::default()
    }

    pub fn raised(&self) -> Vec<Alert> {
        self.raised
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[async_trait]
impl Alerts for MemoryAlerts {
    async fn raise(&self, alert: &Alert) {
        LogAlerts.raise(alert).await;
        self.raised
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(alert.clone());
    }
}

/// The alert for a provider notice that was recorded and not applied.
pub fn anomaly_alert(anomaly: &Anomaly) -> Alert {
    let expected = anomaly
        .expected
        .map(|e| format!(", expected {e}"))
        .unwrap_or_default();
    Alert {
        code: anomaly.alert_code(),
        message: format!(
            "{} {} notice {} for order {}: {} {}{expected}. {}",
            anomaly.provider,
            anomaly.event,
            anomaly.notification_id,
            anomaly.order_id,
            anomaly.kind.as_str(),
            anomaly.amount,
            anomaly.detail
        ),
        shop_id: anomaly.shop_id.as_ref().map(|s| s.to_string()),
        reference: anomaly.anomaly_id.clone(),
    }
}

/// The alert a notice left by a collection change raises, by its kind: a
/// failed deduction or a large payment; none for the others (payout and
/// refund failures alert through their own paths).
pub fn collection_notice_alert(notice: &Notice) -> Option<Alert> {
    let code = match notice.kind {
        NoticeKind::DeductionFailed => AlertCode::DeductionFailed,
        NoticeKind::LargePayment => AlertCode::LargePayment,
        NoticeKind::PayoutFailed | NoticeKind::RefundFailed => return None,
    };
    Some(notice_alert(code, notice))
}

/// An alert carrying a notice's message (written without personal data)
/// about its order.
fn notice_alert(code: AlertCode, notice: &Notice) -> Alert {
    Alert {
        code: code.into(),
        message: notice.message.clone(),
        shop_id: Some(notice.shop_id.to_string()),
        reference: notice
            .order_id
            .as_ref()
            .map(|o| o.to_string())
            .unwrap_or_else(|| notice.notice_id.clone()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use chrono::Utc;
    use qrpay_domain::{Amount, AnomalyKind, BusinessDate, OrderId, Provider, ProviderRef};

    use super::*;

    #[test]
    fn every_alert_code_is_a_unique_upper_snake_string_that_parses_back() {
        let mut seen = HashSet::new();
        for code in AlertCode::ALL {
            let text = code.as_str();
            assert!(
                text.starts_with(|c: char| c.is_ascii_uppercase())
                    && text.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                    && !text.contains("__")
                    && !text.ends_with('_'),
                "{text}"
            );
            assert!(seen.insert(text), "{text} twice");
            assert_eq!(AlertCode::parse(text), Some(code));
            assert_eq!(String::from(code), text);
            assert_eq!(code.to_string(), text);
        }
        assert_eq!(AlertCode::parse("payout_not_final"), None);
    }

    #[test]
    fn a_collection_notice_alerts_by_its_kind_with_its_order_as_reference() {
        let notice = |kind| Notice {
            notice_id: "n-1".into(),
            shop_id: qrpay_domain::ShopId::parse("s1").expect("shop"),
            kind,
            message: "Large payment: order ord_1 was paid 500.00".into(),
            payout_id: None,
            order_id: Some(OrderId::parse("ord_1").expect("order")),
            created_at: Utc::now(),
        };
        let large = collection_notice_alert(&notice(NoticeKind::LargePayment)).expect("alerted");
        assert_eq!(
            (
                large.code.as_str(),
                large.reference.as_str(),
                large.shop_id.as_deref()
            ),
            ("LARGE_PAYMENT", "ord_1", Some("s1"))
        );
        let failed =
            collection_notice_alert(&notice(NoticeKind::DeductionFailed)).expect("alerted");
        assert_eq!(failed.code, "DEDUCTION_FAILED");
        assert_eq!(
            collection_notice_alert(&notice(NoticeKind::PayoutFailed)),
            None
        );
        assert_eq!(
            collection_notice_alert(&notice(NoticeKind::RefundFailed)),
            None
        );
    }

    #[test]
    fn every_anomaly_raises_a_listed_collection_code() {
        let now = Utc::now();
        for kind in AnomalyKind::ALL {
            let anomaly = Anomaly {
                anomaly_id: "sandbox-n1".into(),
                kind,
                provider: Provider::Sandbox,
                notification_id: ProviderRef::parse("n1").expect("ref"),
                shop_id: None,
                order_id: OrderId::generate(now),
                event: "PAYMENT_SUCCEEDED".into(),
                amount: Amount::from_fen(100).expect("amount"),
                expected: None,
                provider_ref: None,
                detail: String::new(),
                business_date: BusinessDate::of(now),
                created_at: now,
            };
            let alert = anomaly_alert(&anomaly);
            let code = AlertCode::parse(&alert.code);
            assert!(code.is_some(), "{} is not an AlertCode", alert.code);
            assert!(alert.code.starts_with("COLLECTION_"), "{}", alert.code);
        }
    }
}
