//! Asking for a reconciliation run without waiting for it: `POST
//! /admin/reconciliations/{date}` answers 202 at once and the run happens in
//! the background (an SQS message to the function itself in AWS, a spawned
//! task locally).

use async_trait::async_trait;
use qrpay_domain::BusinessDate;

#[derive(Debug, thiserror::Error)]
#[error("could not queue the reconciliation run: {0}")]
pub struct RequestError(pub String);

#[async_trait]
pub trait RunRequests: Send + Sync {
    async fn request(&self, date: BusinessDate) -> Result<(), RequestError>;
}

/// The message body that asks for one day's run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunRequest {
    /// `YYYY-MM-DD`, a Beijing business day.
    pub date: String,
}
