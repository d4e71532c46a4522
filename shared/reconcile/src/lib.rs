//! Nightly reconciliation (对账, SPEC §6): our ledger of business day D
//! against each provider's statement of D and the bank's settlement receipts.

pub mod bank;
pub mod matcher;
pub mod model;
pub mod objects;
pub mod report;
pub mod run;
pub mod sandbox_bill;
pub mod spill;
pub mod statement;
pub mod synthetic;

pub use matcher::Outcome;
pub use model::{format_fen, parse_yuan, LineError, MovementKind, ProviderStatus, StatementRow};
pub use run::{LedgerSource, ReconcileError, Reconciler, RunReport, StoreLedger};
