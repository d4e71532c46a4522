//! The providers' daily bills (SPEC §6, §9 "Bills"): each configured
//! provider publishes the bills of business day D on D+1 (Beijing), and a
//! scheduled job downloads them, through the same signed clients as every
//! other call, into the reports bucket before the nightly reconciliation.
//!
//! A bill is fetched into a local file, never held whole in memory: the
//! transport streams the provider's file to disk ([`HttpTransport::download`])
//! and the adapter checks it (WeChat's SHA-1 of the file, the answer's
//! signature on the download address) and unpacks it (WeChat's gzip,
//! Alipay's zip) into the plain CSV our statement reader reads for that
//! provider.
//!
//! Every outcome is one of: the bill is stored, the provider says there is
//! no bill for that day (nothing happened on the account), not published
//! yet (ask again later), refused (our request or configuration is wrong:
//! asking again will not help) or ambiguous (a timeout, a 5xx, an answer
//! that does not verify, a file whose hash does not match: ask again).

use std::fmt;
use std::path::Path;

use async_trait::async_trait;
use qrpay_domain::{BusinessDate, Provider};

/// The most a bill file may weigh, packed or unpacked: far above any
/// merchant's day (a million rows is ~300 MiB) and within Lambda's `/tmp`.
pub const MAX_BILL_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// Which of a provider's daily bills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BillKind {
    /// Every collection and refund of the day (WeChat 交易账单 `ALL`,
    /// Alipay `trade`, Douyin's payment bill): what the nightly run matches.
    Trade,
    /// The movements of the merchant's account (WeChat 资金账单, `BASIC`
    /// account): kept beside the trade bill for finance, not matched.
    FundFlow,
}

impl BillKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BillKind::Trade => "trade",
            BillKind::FundFlow => "fundflow",
        }
    }
}

impl fmt::Display for BillKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What asking a provider for one bill came to. Serialized as the bill
/// fetcher records it (`{"state": "NOT_YET", "detail": …}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BillOutcome {
    /// The bill, checked and unpacked, is in the destination file.
    Stored { bytes: u64 },
    /// The provider has published the day and there is no such bill:
    /// nothing happened on the account that day.
    NoBill { detail: String },
    /// Not published yet (or still being generated): ask again later.
    NotYet { detail: String },
    /// Definitive: the provider refuses the request as we make it.
    Refused { code: String, message: String },
    /// Unclear: ask again.
    Ambiguous { detail: String },
}

impl BillOutcome {
    /// The refusal of a bill `provider` does not publish.
    pub fn not_offered(provider: Provider, kind: BillKind) -> BillOutcome {
        BillOutcome::Refused {
            code: "KIND_NOT_OFFERED".into(),
            message: format!("{provider:?} publishes no {kind} bill"),
        }
    }

    /// Whether asking again later may give the bill.
    pub fn worth_asking_again(&self) -> bool {
        matches!(
            self,
            BillOutcome::NotYet { .. } | BillOutcome::Ambiguous { .. }
        )
    }
}

/// A provider's bills, as its signed API serves them.
#[async_trait]
pub trait BillGateway: Send + Sync {
    fn provider(&self) -> Provider;
    /// The bills this provider publishes every day, the trade bill first.
    fn bill_kinds(&self) -> &'static [BillKind];
    /// Fetches the `kind` bill of `date` into `dest` (created or replaced;
    /// its contents are meaningful only on `Stored`). The file is the
    /// provider's own CSV, unpacked, byte for byte.
    async fn fetch_bill(&self, date: BusinessDate, kind: BillKind, dest: &Path) -> BillOutcome;
}

/// A scratch file beside `dest` while a bill comes down: `dest`'s path with
/// `suffix` added (`….csv.zip`).
pub fn beside(dest: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = dest.as_os_str().to_owned();
    name.push(suffix);
    std::path::PathBuf::from(name)
}

/// The statement reader's file for a bill (the reconciliation reads the
/// trade bill; the others are kept for finance): `{provider}.csv` for the
/// trade bill, `{provider}-{kind}.csv` for another.
pub fn bill_file_name(provider: Provider, kind: BillKind) -> String {
    match kind {
        BillKind::Trade => format!("{provider}.csv"),
        other => format!("{provider}-{other}.csv"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trade_bill_is_the_file_the_reconciliation_reads() {
        assert_eq!(
            bill_file_name(Provider::Wechatpay, BillKind::Trade),
            "wechatpay.csv"
        );
        assert_eq!(
            bill_file_name(Provider::Wechatpay, BillKind::FundFlow),
            "wechatpay-fundflow.csv"
        );
        assert!(BillOutcome::NotYet { detail: "x".into() }.worth_asking_again());
        assert!(!BillOutcome::NoBill { detail: "x".into() }.worth_asking_again());
        assert!(!BillOutcome::Stored { bytes: 1 }.worth_asking_again());
    }
}
