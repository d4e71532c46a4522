//! The sandbox provider as a specification: what each fault does to the
//! ledger and to the answer, dedupe on `out_bill_no`, queries, notices.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use qrpay_domain::{Amount, Money, OrderId, PayoutId, ShopId, TestClock};
use qrpay_provider::{
    FaultsError, Payee, QueryOutcome, SandboxFaults, SandboxProvider, SandboxTransfer,
    SandboxTransferStatus, TransferOutcome, TransferProvider, TransferRequest,
};

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T10:00:00+08:00")
        .unwrap()
        .with_timezone(&Utc)
}

fn sandbox() -> (Arc<TestClock>, SandboxProvider) {
    let clock = Arc::new(TestClock::at(start()));
    let provider = SandboxProvider::new(clock.clone());
    (clock, provider)
}

fn with_faults(faults: SandboxFaults) -> SandboxProvider {
    let (_, provider) = sandbox();
    provider.set_faults(faults).unwrap();
    provider
}

fn faults(fail: u16, before: u16, after: u16, query: u16, seed: u64) -> SandboxFaults {
    SandboxFaults {
        fail_per_mille: fail,
        timeout_before_per_mille: before,
        timeout_after_per_mille: after,
        query_timeout_per_mille: query,
        seed,
    }
}

fn id(text: &str) -> PayoutId {
    PayoutId::parse(text).unwrap()
}

fn payee() -> Payee {
    Payee {
        shop_id: ShopId::parse("shop_1").unwrap(),
        order_id: OrderId::parse("ord_1").unwrap(),
        provider_txn_id: Some("4200001234".to_owned()),
        account: None,
    }
}

fn request(out_bill_no: &str, fen: i64) -> TransferRequest {
    TransferRequest {
        out_bill_no: id(out_bill_no),
        amount: Amount::from_fen(fen).unwrap(),
        payee: payee(),
    }
}

fn succeeded(provider_ref: &str) -> TransferOutcome {
    TransferOutcome::Succeeded {
        provider_ref: provider_ref.to_owned(),
    }
}

fn failed(reason: &str) -> TransferOutcome {
    TransferOutcome::Failed {
        reason: reason.to_owned(),
    }
}

fn ambiguous(detail: &str) -> TransferOutcome {
    TransferOutcome::Ambiguous {
        detail: detail.to_owned(),
    }
}

fn fen(fen: i64) -> Money {
    Money::from_fen(fen).unwrap()
}

fn frozen() -> SandboxTransferStatus {
    SandboxTransferStatus::Failed {
        reason: "payee account frozen".to_owned(),
    }
}

const ALWAYS_FAIL: SandboxFaults = SandboxFaults {
    fail_per_mille: 1000,
    timeout_before_per_mille: 0,
    timeout_after_per_mille: 0,
    query_timeout_per_mille: 0,
    seed: 7,
};
const ALWAYS_TIMEOUT_BEFORE: SandboxFaults = SandboxFaults {
    fail_per_mille: 0,
    timeout_before_per_mille: 1000,
    timeout_after_per_mille: 0,
    query_timeout_per_mille: 0,
    seed: 7,
};
const ALWAYS_TIMEOUT_AFTER: SandboxFaults = SandboxFaults {
    fail_per_mille: 0,
    timeout_before_per_mille: 0,
    timeout_after_per_mille: 1000,
    query_timeout_per_mille: 0,
    seed: 7,
};

// --- each outcome under each fault kind -----------------------------------

#[tokio::test]
async fn without_faults_a_transfer_succeeds_and_is_recorded_once() {
    let (clock, sandbox) = sandbox();
    clock.advance_ms(1_500);

    let outcome = sandbox.transfer(&request("po_1", 1230)).await;

    assert_eq!(outcome, succeeded("sbx_tr_1"));
    let record = SandboxTransfer {
        out_bill_no: id("po_1"),
        amount: Amount::parse("12.30").unwrap(),
        payee: payee(),
        status: SandboxTransferStatus::Succeeded,
        provider_ref: "sbx_tr_1".to_owned(),
        created_at: start() + chrono::Duration::milliseconds(1_500),
    };
    assert_eq!(sandbox.transfers(), vec![record]);
    assert_eq!(sandbox.moved_total(), fen(1230));
    assert_eq!(sandbox.transfer_count(&id("po_1")), 1);
    assert_eq!(sandbox.faults(), SandboxFaults::default());
}

#[tokio::test]
async fn fail_fault_records_a_definitive_failure_and_moves_nothing() {
    let sandbox = with_faults(ALWAYS_FAIL);

    let outcome = sandbox.transfer(&request("po_1", 500)).await;

    assert_eq!(outcome, failed("payee account frozen"));
    let ledger = sandbox.transfers();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].status, frozen());
    assert_eq!(ledger[0].provider_ref, "sbx_tr_1");
    assert_eq!(sandbox.moved_total(), Money::ZERO);
}

#[tokio::test]
async fn timeout_before_records_nothing_and_answers_ambiguous() {
    let sandbox = with_faults(ALWAYS_TIMEOUT_BEFORE);

    let outcome = sandbox.transfer(&request("po_1", 500)).await;

    assert_eq!(
        outcome,
        ambiguous("timed out before the provider received the request")
    );
    assert_eq!(sandbox.transfers(), vec![]);
    assert_eq!(sandbox.transfer_count(&id("po_1")), 0);
    assert_eq!(sandbox.moved_total(), Money::ZERO);
    assert_eq!(sandbox.take_notices(), vec![]);
}

#[tokio::test]
async fn timeout_after_moves_the_money_but_loses_the_answer() {
    let sandbox = with_faults(ALWAYS_TIMEOUT_AFTER);

    let outcome = sandbox.transfer(&request("po_1", 500)).await;

    assert_eq!(
        outcome,
        ambiguous("timed out waiting for the provider's answer")
    );
    let ledger = sandbox.transfers();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].status, SandboxTransferStatus::Succeeded);
    assert_eq!(sandbox.moved_total(), fen(500));
}

// --- query answers the truth ----------------------------------------------

#[tokio::test]
async fn query_answers_the_truth_for_each_fault_kind() {
    let (_, sandbox) = sandbox();
    sandbox.transfer(&request("po_ok", 100)).await;
    sandbox.set_faults(ALWAYS_FAIL).unwrap();
    sandbox.transfer(&request("po_fail", 100)).await;
    sandbox.set_faults(ALWAYS_TIMEOUT_BEFORE).unwrap();
    sandbox.transfer(&request("po_before", 100)).await;
    sandbox.set_faults(ALWAYS_TIMEOUT_AFTER).unwrap();
    sandbox.transfer(&request("po_after", 100)).await;

    let cases = [
        (
            "po_ok",
            QueryOutcome::Succeeded {
                provider_ref: "sbx_tr_1".to_owned(),
            },
        ),
        (
            "po_fail",
            QueryOutcome::Failed {
                reason: "payee account frozen".to_owned(),
            },
        ),
        ("po_before", QueryOutcome::NotFound),
        (
            "po_after",
            QueryOutcome::Succeeded {
                provider_ref: "sbx_tr_3".to_owned(),
            },
        ),
        ("po_never_sent", QueryOutcome::NotFound),
    ];
    for (out_bill_no, want) in cases {
        assert_eq!(sandbox.query(&id(out_bill_no)).await, want, "{out_bill_no}");
    }
}

#[tokio::test]
async fn query_timeout_answers_ambiguous_and_changes_nothing() {
    let (_, sandbox) = sandbox();
    sandbox.transfer(&request("po_1", 100)).await;
    sandbox.set_faults(faults(0, 0, 0, 1000, 3)).unwrap();

    for out_bill_no in ["po_1", "po_never_sent"] {
        let want = QueryOutcome::Ambiguous {
            detail: "query timed out".to_owned(),
        };
        assert_eq!(sandbox.query(&id(out_bill_no)).await, want);
    }
    assert_eq!(sandbox.transfers().len(), 1);
    assert_eq!(sandbox.moved_total(), fen(100));
}

// --- dedupe on out_bill_no ------------------------------------------------

#[tokio::test]
async fn repeat_after_success_moves_nothing_and_answers_the_same_ref() {
    let (_, sandbox) = sandbox();
    sandbox.transfer(&request("po_1", 100)).await;
    // Even a provider now failing everything keeps its recorded answer.
    sandbox.set_faults(ALWAYS_FAIL).unwrap();

    let repeat = sandbox.transfer(&request("po_1", 100)).await;

    assert_eq!(repeat, succeeded("sbx_tr_1"));
    assert_eq!(sandbox.transfer_count(&id("po_1")), 1);
    assert_eq!(sandbox.moved_total(), fen(100));
}

#[tokio::test]
async fn repeat_after_failure_answers_the_same_failure_and_moves_nothing() {
    let sandbox = with_faults(ALWAYS_FAIL);
    sandbox.transfer(&request("po_1", 100)).await;
    sandbox.set_faults(SandboxFaults::default()).unwrap();

    let repeat = sandbox.transfer(&request("po_1", 100)).await;

    assert_eq!(repeat, failed("payee account frozen"));
    assert_eq!(sandbox.transfer_count(&id("po_1")), 1);
    assert_eq!(sandbox.moved_total(), Money::ZERO);
}

#[tokio::test]
async fn repeat_after_timeout_after_answers_the_recorded_success() {
    let sandbox = with_faults(ALWAYS_TIMEOUT_AFTER);
    sandbox.transfer(&request("po_1", 100)).await;

    let repeat = sandbox.transfer(&request("po_1", 100)).await;

    assert_eq!(repeat, succeeded("sbx_tr_1"));
    assert_eq!(sandbox.transfer_count(&id("po_1")), 1);
    assert_eq!(sandbox.moved_total(), fen(100));
}

#[tokio::test]
async fn repeat_after_timeout_before_is_new_and_moves_the_money_once() {
    let sandbox = with_faults(ALWAYS_TIMEOUT_BEFORE);
    sandbox.transfer(&request("po_1", 100)).await;
    sandbox.transfer(&request("po_1", 100)).await;
    sandbox.set_faults(SandboxFaults::default()).unwrap();

    let retry = sandbox.transfer(&request("po_1", 100)).await;
    let again = sandbox.transfer(&request("po_1", 100)).await;

    assert_eq!(retry, succeeded("sbx_tr_1"));
    assert_eq!(again, succeeded("sbx_tr_1"));
    assert_eq!(sandbox.transfer_count(&id("po_1")), 1);
    assert_eq!(sandbox.moved_total(), fen(100));
}

#[tokio::test]
async fn reusing_an_out_bill_no_with_a_different_amount_is_refused() {
    let (_, sandbox) = sandbox();
    sandbox.transfer(&request("po_ok", 100)).await;
    sandbox.set_faults(ALWAYS_FAIL).unwrap();
    sandbox.transfer(&request("po_fail", 100)).await;
    sandbox.set_faults(SandboxFaults::default()).unwrap();

    for out_bill_no in ["po_ok", "po_fail"] {
        let outcome = sandbox.transfer(&request(out_bill_no, 101)).await;
        assert_eq!(
            outcome,
            failed("out_bill_no reused with a different amount")
        );
        assert_eq!(sandbox.transfer_count(&id(out_bill_no)), 1);
    }
    assert_eq!(sandbox.moved_total(), fen(100));
    // The refusal records nothing: the original answer still stands.
    assert_eq!(
        sandbox.transfer(&request("po_ok", 100)).await,
        succeeded("sbx_tr_1")
    );
    assert_eq!(sandbox.take_notices().len(), 2);
}

// --- determinism ----------------------------------------------------------

async fn run_script(sandbox: &SandboxProvider, count: usize) -> Vec<TransferOutcome> {
    let mut outcomes = Vec::with_capacity(count);
    for i in 0..count {
        // Every third request repeats the previous id: dedupes draw nothing.
        let n = i - usize::from(i % 3 == 2);
        outcomes.push(sandbox.transfer(&request(&format!("po_{n}"), 100)).await);
    }
    outcomes
}

#[tokio::test]
async fn the_same_seed_gives_the_same_outcomes() {
    let mixed = faults(150, 150, 150, 0, 2026);

    let first = run_script(&with_faults(mixed), 300).await;
    let second = run_script(&with_faults(mixed), 300).await;
    let other_seed = run_script(&with_faults(SandboxFaults { seed: 1, ..mixed }), 300).await;

    assert_eq!(first, second);
    assert_ne!(first, other_seed);
}

#[tokio::test]
async fn set_faults_restarts_the_sequence_from_the_seed() {
    let mixed = faults(300, 300, 300, 0, 9);
    let sandbox = with_faults(mixed);
    let fates: Vec<bool> = outcome_kinds(&sandbox, "a", 50).await;
    sandbox.set_faults(mixed).unwrap();
    let again: Vec<bool> = outcome_kinds(&sandbox, "b", 50).await;
    assert_eq!(fates, again);
}

/// Whether each of `count` fresh transfers was answered `Succeeded`.
async fn outcome_kinds(sandbox: &SandboxProvider, prefix: &str, count: usize) -> Vec<bool> {
    let mut kinds = Vec::with_capacity(count);
    for i in 0..count {
        let outcome = sandbox
            .transfer(&request(&format!("po_{prefix}{i}"), 100))
            .await;
        kinds.push(matches!(outcome, TransferOutcome::Succeeded { .. }));
    }
    kinds
}

#[tokio::test]
async fn queries_do_not_shift_the_transfer_fates() {
    let mixed = faults(200, 200, 200, 500, 11);
    let quiet = with_faults(mixed);
    let queried = with_faults(mixed);

    let mut quiet_outcomes = Vec::new();
    let mut queried_outcomes = Vec::new();
    for i in 0..100 {
        let req = request(&format!("po_{i}"), 100);
        quiet_outcomes.push(quiet.transfer(&req).await);
        queried_outcomes.push(queried.transfer(&req).await);
        queried.query(&req.out_bill_no).await;
    }
    assert_eq!(quiet_outcomes, queried_outcomes);
}

#[tokio::test]
async fn fault_rates_are_roughly_honoured() {
    let sandbox = with_faults(faults(100, 200, 300, 0, 5));
    let mut counts: HashMap<&str, u32> = HashMap::new();
    for i in 0..2000 {
        let outcome = sandbox.transfer(&request(&format!("po_{i}"), 100)).await;
        let kind = match outcome {
            TransferOutcome::Failed { .. } => "fail",
            TransferOutcome::Ambiguous { detail } if detail.contains("before") => "before",
            TransferOutcome::Ambiguous { .. } => "after",
            TransferOutcome::Succeeded { .. } => "ok",
            TransferOutcome::InProgress | TransferOutcome::AwaitingPayee(_) => "in_progress",
        };
        *counts.entry(kind).or_default() += 1;
    }
    // Expected 200 / 400 / 600 / 800 of 2000; a seeded run, so ±25% is generous.
    for (kind, expected) in [("fail", 200), ("before", 400), ("after", 600), ("ok", 800)] {
        let got = counts.get(kind).copied().unwrap_or(0);
        assert!(
            got * 4 >= expected * 3 && got * 4 <= expected * 5,
            "{kind}: {got}"
        );
    }
    assert_eq!(counts.get("in_progress"), None);
}

// --- concurrency ----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_repeats_never_move_money_twice() {
    let (_, sandbox) = sandbox();
    sandbox.set_faults(faults(100, 150, 150, 0, 77)).unwrap();
    let sandbox = Arc::new(sandbox);
    let distinct_ids = 150;

    let tasks: Vec<_> = (0..500)
        .map(|i| {
            let sandbox = Arc::clone(&sandbox);
            let n = i % distinct_ids;
            let req = request(&format!("po_{n}"), 100 + n as i64);
            tokio::spawn(async move { (req.out_bill_no.clone(), sandbox.transfer(&req).await) })
        })
        .collect();
    let mut answers = Vec::with_capacity(tasks.len());
    for task in tasks {
        answers.push(task.await.unwrap());
    }

    let ledger: HashMap<PayoutId, SandboxTransfer> = sandbox
        .transfers()
        .into_iter()
        .map(|t| (t.out_bill_no.clone(), t))
        .collect();
    for n in 0..distinct_ids {
        assert!(
            sandbox.transfer_count(&id(&format!("po_{n}"))) <= 1,
            "po_{n}"
        );
    }
    assert_eq!(ledger.len(), sandbox.transfers().len(), "one record per id");
    let succeeded_fen: i64 = ledger
        .values()
        .filter(|t| t.status == SandboxTransferStatus::Succeeded)
        .map(|t| t.amount.fen())
        .sum();
    assert_eq!(sandbox.moved_total(), fen(succeeded_fen));
    let kinds =
        |want: fn(&TransferOutcome) -> bool| answers.iter().filter(|(_, a)| want(a)).count();
    assert!(kinds(|a| matches!(a, TransferOutcome::Succeeded { .. })) > 0);
    assert!(kinds(|a| matches!(a, TransferOutcome::Failed { .. })) > 0);
    assert!(kinds(|a| matches!(a, TransferOutcome::Ambiguous { .. })) > 0);
    for (out_bill_no, answer) in &answers {
        assert_answer_matches_ledger(out_bill_no, answer, ledger.get(out_bill_no));
    }
    assert_eq!(sandbox.take_notices().len(), ledger.len());
}

/// A definitive answer must be what the ledger says.
fn assert_answer_matches_ledger(
    out_bill_no: &PayoutId,
    answer: &TransferOutcome,
    record: Option<&SandboxTransfer>,
) {
    match answer {
        TransferOutcome::Succeeded { provider_ref } => {
            let record = record.expect("a success is recorded");
            assert_eq!(
                record.status,
                SandboxTransferStatus::Succeeded,
                "{out_bill_no}"
            );
            assert_eq!(&record.provider_ref, provider_ref, "{out_bill_no}");
        }
        TransferOutcome::Failed { reason } => {
            let record = record.expect("a failure is recorded");
            assert_eq!(record.status, frozen(), "{out_bill_no}");
            assert_eq!(reason, "payee account frozen");
        }
        TransferOutcome::Ambiguous { .. } => {}
        TransferOutcome::InProgress | TransferOutcome::AwaitingPayee(_) => {
            panic!("the sandbox never answers InProgress")
        }
    }
}

// --- fault validation -----------------------------------------------------

#[test]
fn fault_rates_above_1000_are_refused_with_the_field() {
    let cases = [
        (faults(1001, 0, 0, 0, 0), "fail_per_mille"),
        (faults(0, 1001, 0, 0, 0), "timeout_before_per_mille"),
        (faults(0, 0, 1001, 0, 0), "timeout_after_per_mille"),
        (faults(0, 0, 0, 1001, 0), "query_timeout_per_mille"),
    ];
    for (bad, field) in cases {
        let want = FaultsError::RateAbovePerMille {
            field,
            per_mille: 1001,
        };
        assert_eq!(bad.validate(), Err(want));
    }
    assert_eq!(
        faults(u16::MAX, 0, 0, 0, 0).validate(),
        Err(FaultsError::RateAbovePerMille {
            field: "fail_per_mille",
            per_mille: u16::MAX
        })
    );
}

#[test]
fn transfer_fault_rates_adding_above_1000_are_refused() {
    assert_eq!(
        faults(400, 400, 201, 0, 0).validate(),
        Err(FaultsError::TransferRatesAbovePerMille {
            sum_per_mille: 1001
        })
    );
    assert_eq!(
        faults(1000, 1000, 1000, 0, 0).validate(),
        Err(FaultsError::TransferRatesAbovePerMille {
            sum_per_mille: 3000
        })
    );
    // The boundaries are allowed; the query rate is not part of the sum.
    assert_eq!(faults(400, 400, 200, 1000, 0).validate(), Ok(()));
    assert_eq!(faults(0, 0, 0, 0, 0).validate(), Ok(()));
}

#[test]
fn refused_faults_leave_the_current_ones_in_place() {
    let sandbox = with_faults(ALWAYS_FAIL);

    let refused = sandbox.set_faults(faults(600, 600, 0, 0, 1));

    assert_eq!(
        refused,
        Err(FaultsError::TransferRatesAbovePerMille {
            sum_per_mille: 1200
        })
    );
    assert_eq!(sandbox.faults(), ALWAYS_FAIL);
}

#[test]
fn fault_errors_read_clearly() {
    let err = faults(0, 0, 0, 1001, 0).validate().unwrap_err();
    assert_eq!(
        err.to_string(),
        "query_timeout_per_mille is 1001, above 1000"
    );
    let err = faults(999, 2, 0, 0, 0).validate().unwrap_err();
    assert_eq!(
        err.to_string(),
        "transfer fault rates add up to 1001, above 1000"
    );
}

// --- notice outbox --------------------------------------------------------

#[tokio::test]
async fn each_ledger_record_queues_one_notice_drained_once() {
    let (_, sandbox) = sandbox();
    sandbox.transfer(&request("po_ok", 100)).await;
    sandbox.transfer(&request("po_ok", 100)).await; // repeat: no notice
    sandbox.set_faults(ALWAYS_FAIL).unwrap();
    sandbox.transfer(&request("po_fail", 200)).await;
    sandbox.set_faults(ALWAYS_TIMEOUT_BEFORE).unwrap();
    sandbox.transfer(&request("po_before", 300)).await; // nothing recorded
    sandbox.set_faults(ALWAYS_TIMEOUT_AFTER).unwrap();
    sandbox.transfer(&request("po_after", 400)).await;

    let notices = sandbox.take_notices();

    let summary: Vec<_> = notices
        .iter()
        .map(|n| {
            let ref_ = n.provider_ref.as_str();
            (
                n.notice_id.as_str(),
                n.out_bill_no.as_str(),
                ref_,
                n.amount.fen(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("sbx_ntc_1", "po_ok", "sbx_tr_1", 100),
            ("sbx_ntc_2", "po_fail", "sbx_tr_2", 200),
            ("sbx_ntc_3", "po_after", "sbx_tr_3", 400),
        ]
    );
    let statuses: Vec<_> = notices.into_iter().map(|n| n.status).collect();
    let ok = SandboxTransferStatus::Succeeded;
    assert_eq!(statuses, vec![ok.clone(), frozen(), ok]);
    assert_eq!(sandbox.take_notices(), vec![], "drained once");

    sandbox.set_faults(SandboxFaults::default()).unwrap();
    sandbox.transfer(&request("po_before", 300)).await;
    let later = sandbox.take_notices();
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].notice_id, "sbx_ntc_4");
    assert_eq!(later[0].out_bill_no, id("po_before"));
}
