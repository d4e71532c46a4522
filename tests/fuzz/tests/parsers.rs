//! A short fuzz run of every parser that takes outside bytes (the bench runs
//! a million inputs each): every valid sample is accepted, then generated
//! inputs give no panic and no unclear refusal, and each run both accepts
//! and refuses (a parser that only refuses is not being reached).

use qrpay_fuzz::{all_targets, check_samples, run, Target};

/// Inputs per parser in CI; the seed is fixed so a failure replays.
const INPUTS: u64 = 3_000;
const SEED: u64 = 0x5EED_0014;

fn fuzz(target: &dyn Target, inputs: u64) {
    check_samples(target).unwrap();
    let stats = run(target, inputs, SEED);
    assert!(
        stats.clean(),
        "{}: {} panics, {} unclear refusals:\n{}",
        stats.name,
        stats.panics,
        stats.unclear,
        stats.findings.join("\n")
    );
    assert_eq!(stats.inputs, inputs);
    assert!(stats.refused > 0, "{}: nothing was refused", stats.name);
    assert!(
        stats.accepted > 0,
        "{}: nothing generated was accepted",
        stats.name
    );
}

#[test]
fn every_parser_survives_arbitrary_and_mutated_input() {
    let targets = all_targets();
    assert_eq!(targets.len(), 17, "one target per parser");
    for target in &targets {
        // RSA signing is slow unoptimised: the signed providers run fewer.
        let inputs = if target.name().contains("alipay notice")
            || target.name().contains("wechatpay notice")
        {
            INPUTS / 6
        } else {
            INPUTS
        };
        fuzz(target.as_ref(), inputs);
    }
}
