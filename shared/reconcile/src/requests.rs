//! Asking for a reconciliation run without waiting for it: `POST
//! /admin/reconciliations/{date}` answers 202 at once and the run happens in
//! the background (an SQS message to the function itself in AWS, a spawned
//! task locally).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use qrpay_domain::BusinessDate;

#[derive(Debug, thiserror::Error)]
#[error("could not queue the reconciliation run: {0}")]
pub struct RequestError(pub String);

#[async_trait]
pub trait RunRequests: Send + Sync {
    /// A run of `date` as soon as possible, not waiting for missing bills.
    async fn request(&self, date: BusinessDate) -> Result<(), RequestError>;
    /// `request` again after `delay`: the run is waiting for its bills
    /// (`crate::bill_fetch`).
    async fn ask_again(&self, request: &RunRequest, delay: Duration) -> Result<(), RequestError>;
}

/// The message body that asks for one day's run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunRequest {
    /// `YYYY-MM-DD`, a Beijing business day.
    pub date: String,
    /// Until when the run waits for bills not published yet (the scheduled
    /// run); absent: it goes ahead with what is there (an operator's run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_for_bills_until: Option<DateTime<Utc>>,
}

impl RunRequest {
    /// The day asked for.
    pub fn business_date(&self) -> Result<BusinessDate, String> {
        BusinessDate::parse(&self.date).map_err(|_| format!("bad date in request: {:?}", self.date))
    }

    pub fn now(date: BusinessDate) -> RunRequest {
        RunRequest {
            date: date.to_string(),
            wait_for_bills_until: None,
        }
    }
}
