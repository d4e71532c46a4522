//! Nightly reconciliation (对账, SPEC §6): our ledger of business day D
//! against each provider's statement of D and the bank's settlement receipts.

pub mod bank;
pub mod bill_fetch;
pub mod json_text;
pub mod matcher;
pub mod model;
pub mod objects;
pub mod report;
pub mod report_json;
pub mod report_sheet;
pub mod requests;
pub mod run;
#[cfg(feature = "sandbox")]
pub mod sandbox_bill;
pub mod spill;
pub mod spread;
pub mod statement;
pub mod synthetic;
pub mod varint;

pub use matcher::Outcome;
pub use model::{LineError, MovementKind, ProviderStatus, StatementRow};
pub use qrpay_domain::money_text::{format_fen, parse_yuan};
pub use run::{LedgerSource, ReconcileError, Reconciler, RunReport, StoreLedger};
