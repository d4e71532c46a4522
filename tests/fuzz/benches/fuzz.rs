//! A million inputs per parser (not in CI: a benchmark-style run).
//!
//! `cargo bench -p qrpay-fuzz --bench fuzz -- --per-parser 1000000 [--seed N] [--only TEXT]`
//!
//! Prints per parser: inputs, accepted, refused, panics, unclear refusals,
//! inputs/s; exits non-zero when any parser panicked or refused unclearly.

use std::process::ExitCode;

use qrpay_fuzz::{all_targets, check_samples, run};

struct Args {
    per_parser: u64,
    seed: u64,
    only: Option<String>,
}

fn args() -> Args {
    let mut out = Args {
        per_parser: 1_000_000,
        seed: 0x5EED_0014,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--per-parser" => {
                out.per_parser = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--per-parser N")
            }
            "--seed" => out.seed = it.next().and_then(|v| v.parse().ok()).expect("--seed N"),
            "--only" => out.only = it.next(),
            // `cargo bench` passes `--bench`.
            _ => {}
        }
    }
    out
}

fn main() -> ExitCode {
    let args = args();
    let mut clean = true;
    println!(
        "{:<36} {:>10} {:>10} {:>10} {:>7} {:>8} {:>10}",
        "parser", "inputs", "accepted", "refused", "panics", "unclear", "inputs/s"
    );
    for target in all_targets() {
        if args
            .only
            .as_ref()
            .is_some_and(|o| !target.name().contains(o.as_str()))
        {
            continue;
        }
        if let Err(e) = check_samples(target.as_ref()) {
            println!("{e}");
            clean = false;
            continue;
        }
        let stats = run(target.as_ref(), args.per_parser, args.seed);
        println!(
            "{:<36} {:>10} {:>10} {:>10} {:>7} {:>8} {:>10.0}",
            stats.name,
            stats.inputs,
            stats.accepted,
            stats.refused,
            stats.panics,
            stats.unclear,
            stats.per_second()
        );
        for finding in &stats.findings {
            println!("  {finding}");
        }
        clean &= stats.clean();
    }
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
