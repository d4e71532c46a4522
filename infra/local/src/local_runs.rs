//! Reconciliation runs on the local stack: what `POST
//! /admin/reconciliations/{date}` does here.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use qrpay_domain::{BusinessDate, Clock, Provider};
use qrpay_provider::SandboxProvider;
use qrpay_reconcile::bill_fetch::BillFetcher;
use qrpay_reconcile::objects::{receipts_key, statement_key, LocalDir, ObjectStore};
use qrpay_reconcile::sandbox_bill;
use reconcile::requests::{RequestError, RunRequest, RunRequests};
use reconcile::InProcessRuns;

/// `POST /admin/reconciliations/{date}` locally: the sandbox publishes its
/// statement and its bank's receipts of that day into the data directory,
/// the simulated providers' bills are fetched through the real adapters (as
/// the nightly run does in AWS, without waiting: the simulators publish a
/// day as soon as it has ended), then the run starts in the background.
pub struct LocalRuns {
    pub runs: Arc<InProcessRuns>,
    pub sandbox: Arc<SandboxProvider>,
    pub objects: Arc<LocalDir>,
    pub bills: Arc<BillFetcher>,
    pub clock: Arc<dyn Clock>,
}

impl LocalRuns {
    pub async fn publish_bills(&self, date: BusinessDate) -> Result<(), String> {
        let bill = sandbox_bill::write(&self.sandbox, date, Vec::new())
            .map_err(|e| format!("sandbox bill of {date}: {e}"))?;
        self.objects
            .put(&statement_key(date, Provider::Sandbox), bill, "text/csv")
            .await
            .map_err(|e| e.to_string())?;
        let receipts = sandbox_bill::write_receipts(&self.sandbox, date, Vec::new())
            .map_err(|e| format!("bank receipts of {date}: {e}"))?;
        self.objects
            .put(&receipts_key(date), receipts, "text/csv")
            .await
            .map_err(|e| e.to_string())?;
        self.bills.attempt(date, self.clock.now(), None).await?;
        Ok(())
    }
}

#[async_trait]
impl RunRequests for LocalRuns {
    async fn request(&self, date: BusinessDate) -> Result<(), RequestError> {
        self.publish_bills(date).await.map_err(RequestError)?;
        self.runs.request(date).await
    }

    async fn ask_again(&self, request: &RunRequest, delay: Duration) -> Result<(), RequestError> {
        self.runs.ask_again(request, delay).await
    }
}
