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
    assert_eq!(targets.len(), 19, "one target per parser");
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

/// Found by reading the checkout reader next to the body reader's fuzz
/// finding: a buyer's form with an unknown field came back naming the
/// whole field (message and `data-field`), as long as the body.
#[test]
fn a_checkout_form_names_a_long_unknown_field_cut_short() {
    use qrpay_fuzz::requests::checkout::Checkout;
    use qrpay_fuzz::Outcome;
    let target = Checkout::new();
    let form = "content-type: application/x-www-form-urlencoded\n\n";
    let long = format!("{form}{}=1&method=sandbox", "A".repeat(900));
    assert_eq!(target.run(long.as_bytes()), Outcome::Refused);
    let short = format!("{form}amont=1&method=sandbox");
    assert_eq!(target.run(short.as_bytes()), Outcome::Refused);
}
