//! What can stop a run.

use std::io;

use qrpay_domain::BusinessDate;
use qrpay_store::StoreError;

use crate::objects::ObjectError;

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Objects(#[from] ObjectError),
    #[error("scratch files: {0}")]
    Io(#[from] io::Error),
    #[error("a worker thread failed: {0}")]
    Worker(String),
    #[error("a reconciliation of {0} is already running; this one may start when it ends")]
    InProgress(BusinessDate),
}
