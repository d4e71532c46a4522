//! The sandbox provider: a real in-process provider for tests and the local
//! stack. Where it matters to us it behaves like a real one (SPEC §4
//! "Execution rules"): it dedupes on `out_bill_no`, answers queries from its
//! own ledger of money moved, queues "transfer finished" notices for
//! callbacks, and can be told to fail or time out at seeded, reproducible rates.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use qrpay_domain::{Amount, Clock, Money, OrderId, PayoutId, ShopId};
use serde::{Deserialize, Serialize};

use crate::{Payee, QueryOutcome, TransferOutcome, TransferProvider, TransferRequest};

/// Ledger bound. It also keeps `moved_total` far below `i64` fen
/// (1e6 × `MAX_AMOUNT_FEN` ≈ 1e16) and bounds the outbox, which holds at
/// most one notice per record.
pub const MAX_LEDGER_RECORDS: usize = 1_000_000;
/// The definitive failure an injected `fail` fault records.
pub const FAULT_FAIL_REASON: &str = "payee account frozen";
/// A real provider refuses an idempotency key reused for a different transfer.
pub const AMOUNT_REUSED_REASON: &str = "out_bill_no reused with a different amount";
const PER_MILLE: u16 = 1000;

/// Misbehaviour rates in per mille (0..=1000), drawn from a PRNG seeded by `seed`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxFaults {
    /// Definitive failure: recorded as `Failed`, answered `Failed`.
    pub fail_per_mille: u16,
    /// The request never arrives: nothing recorded, answered `Ambiguous`.
    pub timeout_before_per_mille: u16,
    /// The answer is lost: recorded `Succeeded` (money moved), answered `Ambiguous`.
    pub timeout_after_per_mille: u16,
    /// A query times out: answered `Ambiguous`.
    pub query_timeout_per_mille: u16,
    pub seed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultsError {
    #[error("{field} is {per_mille}, above 1000")]
    RateAbovePerMille { field: &'static str, per_mille: u16 },
    #[error("transfer fault rates add up to {sum_per_mille}, above 1000")]
    TransferRatesAbovePerMille { sum_per_mille: u32 },
}

impl SandboxFaults {
    pub fn validate(&self) -> Result<(), FaultsError> {
        let rates = [
            ("fail_per_mille", self.fail_per_mille),
            ("timeout_before_per_mille", self.timeout_before_per_mille),
            ("timeout_after_per_mille", self.timeout_after_per_mille),
            ("query_timeout_per_mille", self.query_timeout_per_mille),
        ];
        if let Some((field, per_mille)) = rates.into_iter().find(|(_, r)| *r > PER_MILLE) {
            return Err(FaultsError::RateAbovePerMille { field, per_mille });
        }
        let sum_per_mille = u32::from(self.fail_per_mille)
            + u32::from(self.timeout_before_per_mille)
            + u32::from(self.timeout_after_per_mille);
        if sum_per_mille > u32::from(PER_MILLE) {
            return Err(FaultsError::TransferRatesAbovePerMille { sum_per_mille });
        }
        Ok(())
    }

    /// Maps one draw in `0..1000` onto consecutive bands: fail, timeout
    /// before, timeout after, then success for the rest.
    fn transfer_fate(&self, draw: u16) -> Fate {
        let fail_end = self.fail_per_mille;
        let before_end = fail_end + self.timeout_before_per_mille;
        let after_end = before_end + self.timeout_after_per_mille;
        match draw {
            d if d < fail_end => Fate::Fail,
            d if d < before_end => Fate::TimeoutBefore,
            d if d < after_end => Fate::TimeoutAfter,
            _ => Fate::Succeed,
        }
    }
}

enum Fate {
    Fail,
    TimeoutBefore,
    TimeoutAfter,
    Succeed,
}

/// splitmix64: tiny, well mixed, and reproducible from a seed. Also the
/// local stack's draws for the sandbox's callback and deduction faults.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A draw in `0..1000`; the modulo bias (~1e-16) does not matter here.
    pub fn per_mille(&mut self) -> u16 {
        (self.next_u64() % u64::from(PER_MILLE)) as u16
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SandboxTransferStatus {
    Succeeded,
    Failed { reason: String },
}

/// One record in the sandbox's ledger: a transfer it finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxTransfer {
    pub out_bill_no: PayoutId,
    pub amount: Amount,
    pub payee: Payee,
    pub status: SandboxTransferStatus,
    /// The sandbox's own id for the transfer (`sbx_tr_<n>`), failed ones too.
    pub provider_ref: String,
    pub created_at: DateTime<Utc>,
}

/// A "transfer finished" notice, waiting to be delivered as a callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferNotice {
    pub notice_id: String,
    pub out_bill_no: PayoutId,
    pub status: SandboxTransferStatus,
    pub provider_ref: String,
    pub amount: Amount,
}

/// What a collection movement at the sandbox was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SandboxChargeKind {
    /// A buyer paid an order.
    Payment,
    /// Money went back to the buyer.
    Refund,
    /// One monthly-pay instalment charged to the buyer.
    Deduction,
}

/// One collection movement the sandbox made (a charge, a refund, an
/// instalment deduction): what its daily bill lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxCharge {
    pub shop_id: ShopId,
    pub kind: SandboxChargeKind,
    pub order_id: OrderId,
    /// The sandbox's own id of the movement (transaction or refund).
    pub provider_ref: String,
    /// The instalment period of a deduction.
    pub period: Option<u8>,
    pub amount: Amount,
    /// The sandbox's fee on a payment (a monthly-pay fee the shop bears).
    pub fee: Money,
    /// `false`: tried and refused (a deduction the buyer's card declined).
    pub succeeded: bool,
    /// The buyer, masked.
    pub payer_masked: Option<String>,
    pub at: DateTime<Utc>,
}

pub struct SandboxProvider {
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

struct State {
    faults: SandboxFaults,
    // Separate streams so queries do not shift the transfers' fates.
    transfer_rng: SplitMix64,
    query_rng: SplitMix64,
    ledger: Vec<SandboxTransfer>,
    ledger_index: HashMap<PayoutId, usize>,
    outbox: Vec<TransferNotice>,
    charges: Vec<SandboxCharge>,
    next_ref: u64,
    next_notice: u64,
}

impl SandboxProvider {
    /// A provider with no faults; time comes from `clock` only.
    pub fn new(clock: Arc<dyn Clock>) -> SandboxProvider {
        SandboxProvider {
            clock,
            state: Mutex::new(State::new(SandboxFaults::default())),
        }
    }

    /// Sets the fault rates and restarts the PRNG from `faults.seed`.
    pub fn set_faults(&self, faults: SandboxFaults) -> Result<(), FaultsError> {
        faults.validate()?;
        self.lock().reseed(faults);
        tracing::info!(?faults, "sandbox provider faults set");
        Ok(())
    }

    pub fn faults(&self) -> SandboxFaults {
        self.lock().faults
    }

    /// The ledger of finished transfers, oldest first.
    pub fn transfers(&self) -> Vec<SandboxTransfer> {
        self.lock().ledger.clone()
    }

    /// The money actually moved: the sum of `Succeeded` records.
    pub fn moved_total(&self) -> Money {
        self.lock()
            .ledger
            .iter()
            .filter(|t| t.status == SandboxTransferStatus::Succeeded)
            .try_fold(Money::ZERO, |sum, t| sum.checked_add(t.amount.money()))
            .expect("bounded by MAX_LEDGER_RECORDS x MAX_AMOUNT_FEN, far below i64 fen")
    }

    /// Ledger records for `out_bill_no`: never more than 1. Counts the
    /// ledger itself, not the index, so it checks the invariant for real.
    pub fn transfer_count(&self, out_bill_no: &PayoutId) -> usize {
        let state = self.lock();
        state
            .ledger
            .iter()
            .filter(|t| &t.out_bill_no == out_bill_no)
            .count()
    }

    /// Records a collection movement the sandbox made (the local stack's
    /// sandbox routes call this when a buyer pays, a refund or a deduction
    /// happens); the daily bill lists it.
    pub fn record_charge(&self, charge: SandboxCharge) {
        tracing::info!(shop_id = %charge.shop_id, order_id = %charge.order_id,
            kind = ?charge.kind, amount = %charge.amount, "sandbox charge recorded");
        self.lock().charges.push(charge);
    }

    /// Every collection movement recorded, oldest first.
    pub fn charges(&self) -> Vec<SandboxCharge> {
        self.lock().charges.clone()
    }

    /// Drains the "transfer finished" notices, oldest first.
    pub fn take_notices(&self) -> Vec<TransferNotice> {
        std::mem::take(&mut self.lock().outbox)
    }

    // A poisoned lock still holds consistent state: every change under it is
    // a few pushes and inserts that cannot panic halfway.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl TransferProvider for SandboxProvider {
    async fn transfer(&self, request: &TransferRequest) -> TransferOutcome {
        let now = self.clock.now();
        self.lock().transfer(request, now)
    }

    async fn query(&self, out_bill_no: &PayoutId) -> QueryOutcome {
        self.lock().query(out_bill_no)
    }
}

impl State {
    fn new(faults: SandboxFaults) -> State {
        let mut state = State {
            faults,
            transfer_rng: SplitMix64(0),
            query_rng: SplitMix64(0),
            ledger: Vec::new(),
            ledger_index: HashMap::new(),
            outbox: Vec::new(),
            charges: Vec::new(),
            next_ref: 1,
            next_notice: 1,
        };
        state.reseed(faults);
        state
    }

    fn reseed(&mut self, faults: SandboxFaults) {
        self.faults = faults;
        self.transfer_rng = SplitMix64(faults.seed);
        self.query_rng = SplitMix64(faults.seed ^ 0x5155_4552_5953_4242);
    }

    fn transfer(&mut self, request: &TransferRequest, now: DateTime<Utc>) -> TransferOutcome {
        if let Some(&index) = self.ledger_index.get(&request.out_bill_no) {
            return repeat_answer(&self.ledger[index], request);
        }
        if self.ledger.len() >= MAX_LEDGER_RECORDS {
            // Like a provider that is down: nothing recorded, try again later.
            return ambiguous("sandbox ledger is full; request not accepted");
        }
        let draw = self.transfer_rng.per_mille();
        match self.faults.transfer_fate(draw) {
            Fate::TimeoutBefore => ambiguous("timed out before the provider received the request"),
            Fate::TimeoutAfter => {
                self.record(request, SandboxTransferStatus::Succeeded, now);
                ambiguous("timed out waiting for the provider's answer")
            }
            Fate::Fail => {
                let failed = SandboxTransferStatus::Failed {
                    reason: FAULT_FAIL_REASON.to_owned(),
                };
                answer(self.record(request, failed, now))
            }
            Fate::Succeed => answer(self.record(request, SandboxTransferStatus::Succeeded, now)),
        }
    }

    /// Appends a ledger record and its notice; the only place money "moves".
    fn record(
        &mut self,
        request: &TransferRequest,
        status: SandboxTransferStatus,
        now: DateTime<Utc>,
    ) -> &SandboxTransfer {
        assert!(
            !self.ledger_index.contains_key(&request.out_bill_no),
            "one ledger record per out_bill_no"
        );
        let provider_ref = format!("sbx_tr_{}", self.next_ref);
        self.next_ref += 1;
        tracing::info!(out_bill_no = %request.out_bill_no, amount = %request.amount,
            ?status, %provider_ref, "sandbox transfer recorded");
        self.push_notice(request, &status, &provider_ref);
        self.ledger_index
            .insert(request.out_bill_no.clone(), self.ledger.len());
        self.ledger.push(SandboxTransfer {
            out_bill_no: request.out_bill_no.clone(),
            amount: request.amount,
            payee: request.payee.clone(),
            status,
            provider_ref,
            created_at: now,
        });
        self.ledger.last().expect("just pushed")
    }

    fn push_notice(
        &mut self,
        request: &TransferRequest,
        status: &SandboxTransferStatus,
        provider_ref: &str,
    ) {
        let notice_id = format!("sbx_ntc_{}", self.next_notice);
        self.next_notice += 1;
        self.outbox.push(TransferNotice {
            notice_id,
            out_bill_no: request.out_bill_no.clone(),
            status: status.clone(),
            provider_ref: provider_ref.to_owned(),
            amount: request.amount,
        });
    }

    fn query(&mut self, out_bill_no: &PayoutId) -> QueryOutcome {
        if self.query_rng.per_mille() < self.faults.query_timeout_per_mille {
            return QueryOutcome::Ambiguous {
                detail: "query timed out".to_owned(),
            };
        }
        let Some(&index) = self.ledger_index.get(out_bill_no) else {
            return QueryOutcome::NotFound;
        };
        match answer(&self.ledger[index]) {
            TransferOutcome::Succeeded { provider_ref } => QueryOutcome::Succeeded { provider_ref },
            TransferOutcome::Failed { reason } => QueryOutcome::Failed { reason },
            TransferOutcome::InProgress
            | TransferOutcome::AwaitingPayee(_)
            | TransferOutcome::Ambiguous { .. } => {
                unreachable!("a ledger record is final")
            }
        }
    }
}

/// A repeated `out_bill_no` moves nothing: it gets the recorded answer, or a
/// refusal when it carries a different amount.
fn repeat_answer(record: &SandboxTransfer, request: &TransferRequest) -> TransferOutcome {
    if record.amount != request.amount {
        tracing::warn!(out_bill_no = %request.out_bill_no, recorded = %record.amount,
            requested = %request.amount, "sandbox: out_bill_no reused with a different amount");
        return TransferOutcome::Failed {
            reason: AMOUNT_REUSED_REASON.to_owned(),
        };
    }
    answer(record)
}

/// The definitive answer a ledger record stands for.
fn answer(record: &SandboxTransfer) -> TransferOutcome {
    match &record.status {
        SandboxTransferStatus::Succeeded => TransferOutcome::Succeeded {
            provider_ref: record.provider_ref.clone(),
        },
        SandboxTransferStatus::Failed { reason } => TransferOutcome::Failed {
            reason: reason.clone(),
        },
    }
}

fn ambiguous(detail: &str) -> TransferOutcome {
    TransferOutcome::Ambiguous {
        detail: detail.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // First outputs of the reference splitmix64 seeded with 0.
        let mut rng = SplitMix64(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn draws_cover_the_per_mille_range() {
        let mut rng = SplitMix64(42);
        let draws: Vec<u16> = (0..10_000).map(|_| rng.per_mille()).collect();
        assert!(draws.iter().all(|d| *d < 1000));
        assert!(draws.iter().any(|d| *d < 10) && draws.iter().any(|d| *d >= 990));
    }

    #[test]
    fn fate_bands_are_consecutive() {
        let faults = SandboxFaults {
            fail_per_mille: 10,
            timeout_before_per_mille: 20,
            timeout_after_per_mille: 30,
            ..SandboxFaults::default()
        };
        let fate = |d| match faults.transfer_fate(d) {
            Fate::Fail => "fail",
            Fate::TimeoutBefore => "before",
            Fate::TimeoutAfter => "after",
            Fate::Succeed => "ok",
        };
        let got: Vec<_> = [0, 9, 10, 29, 30, 59, 60, 999].map(fate).into();
        let want = [
            "fail", "fail", "before", "before", "after", "after", "ok", "ok",
        ];
        assert_eq!(got, want);
    }
}
