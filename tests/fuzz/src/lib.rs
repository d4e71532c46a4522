//! Fuzzing every parser that takes outside bytes (issue 14, "Bad input, at
//! scale"): provider notices, statement and bank readers, request bodies and
//! amounts, JWT claims, POS headers, payment tokens and links, EMV payloads.
//!
//! Coverage-guided fuzzing (cargo-fuzz, libFuzzer) needs nightly sanitizer
//! flags, so this runs on stable as property tests instead: a seeded
//! generator (`rng`) makes, per parser, arbitrary bytes and mutations of
//! valid samples (`mutate`), and where a parser sits behind a signature,
//! mutated payloads signed again with keys made in the run, so the code
//! after verification is reached and not only the signature check. Each
//! input runs under `catch_unwind`; the outcome must be accepted, or refused
//! with a clear error (`clear`): a stable code and a non-empty, bounded
//! message. Every valid sample must be accepted first, so a harness that
//! refuses everything fails.
//!
//! `tests/parsers.rs` runs each parser briefly in CI; the `fuzz` bench runs
//! a million inputs per parser:
//! `cargo bench -p qrpay-fuzz --bench fuzz -- --per-parser 1000000`.

pub mod codes;
pub mod mutate;
pub mod notices;
pub mod requests;
pub mod rng;
pub mod statements;

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;
use std::time::{Duration, Instant};

use rng::Rng;

/// Longest refusal message accepted as clear: one that long is echoing input.
pub const MAX_MESSAGE_CHARS: usize = 600;

/// What one input did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    Refused,
    /// Refused without a clear error: the message says what is wrong with it.
    Unclear(String),
}

/// A parser under test.
pub trait Target {
    fn name(&self) -> &'static str;

    /// Valid inputs, each of which the parser must accept.
    fn samples(&self) -> &[Vec<u8>];

    /// The next input; the default mutates the samples as plain bytes.
    fn input(&self, rng: &mut Rng) -> Vec<u8> {
        mutate::input(rng, self.samples(), mutate::Shape::Bytes, 512)
    }

    /// Runs the parser on `input`.
    fn run(&self, input: &[u8]) -> Outcome;
}

/// `Refused` for a clear refusal: a non-empty `code` and a message that is
/// non-empty, bounded, and not a placeholder.
pub fn clear(code: &str, message: &str) -> Outcome {
    let text = message.trim();
    let vague = ["", "error", "unknown", "unknown error", "invalid", "failed"]
        .contains(&text.to_ascii_lowercase().as_str());
    if code.trim().is_empty() {
        return Outcome::Unclear(format!("empty error code, message {message:?}"));
    }
    if vague || text.chars().count() > MAX_MESSAGE_CHARS {
        return Outcome::Unclear(format!("{code}: unclear message {:?}", short(message)));
    }
    Outcome::Refused
}

/// `clear` for an error type whose Display is the whole message; `code` is
/// the variant name from `Debug`.
pub fn clear_error<E: std::fmt::Debug + std::fmt::Display>(error: &E) -> Outcome {
    let debug = format!("{error:?}");
    let code: String = debug
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    clear(&code, &error.to_string())
}

fn short(text: &str) -> String {
    text.chars().take(120).collect()
}

/// The tally of one parser's run.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub name: &'static str,
    pub inputs: u64,
    pub accepted: u64,
    pub refused: u64,
    pub panics: u64,
    pub unclear: u64,
    /// The first few panics and unclear refusals, with the input that caused them.
    pub findings: Vec<String>,
    pub elapsed: Duration,
}

impl Stats {
    pub fn per_second(&self) -> f64 {
        self.inputs as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn clean(&self) -> bool {
        self.panics == 0 && self.unclear == 0
    }
}

const MAX_FINDINGS: usize = 5;

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Panics inside a run are recorded, not printed: a million of them would
/// drown the report. Outside a run the previous hook still prints.
fn quiet_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let recorded = LAST_PANIC.with(|last| {
                let mut last = last.borrow_mut();
                if let Some(slot) = last.as_mut() {
                    *slot = info.to_string();
                    true
                } else {
                    false
                }
            });
            if !recorded {
                previous(info);
            }
        }));
    });
}

/// Runs one input, turning a panic into a finding.
fn run_one<T: Target + ?Sized>(target: &T, input: &[u8]) -> Result<Outcome, String> {
    LAST_PANIC.with(|last| *last.borrow_mut() = Some(String::new()));
    let result = panic::catch_unwind(AssertUnwindSafe(|| target.run(input)));
    let message = LAST_PANIC.with(|last| last.borrow_mut().take().unwrap_or_default());
    result.map_err(|_| message)
}

/// Checks every sample is accepted; the first one refused is the error.
pub fn check_samples<T: Target + ?Sized>(target: &T) -> Result<(), String> {
    quiet_panics();
    if target.samples().is_empty() {
        return Err(format!("{}: no valid samples", target.name()));
    }
    for (i, sample) in target.samples().iter().enumerate() {
        match run_one(target, sample) {
            Ok(Outcome::Accepted) => {}
            other => {
                return Err(format!(
                    "{}: valid sample {i} was not accepted ({other:?}): {}",
                    target.name(),
                    String::from_utf8_lossy(sample)
                ))
            }
        }
    }
    Ok(())
}

/// Runs `inputs` generated inputs from `seed` through `target`.
pub fn run<T: Target + ?Sized>(target: &T, inputs: u64, seed: u64) -> Stats {
    quiet_panics();
    let mut rng = Rng::new(seed);
    let mut stats = Stats {
        name: target.name(),
        ..Stats::default()
    };
    let started = Instant::now();
    for _ in 0..inputs {
        let input = target.input(&mut rng);
        stats.inputs += 1;
        let finding = match run_one(target, &input) {
            Ok(Outcome::Accepted) => {
                stats.accepted += 1;
                None
            }
            Ok(Outcome::Refused) => {
                stats.refused += 1;
                None
            }
            Ok(Outcome::Unclear(why)) => {
                stats.unclear += 1;
                Some(format!("unclear refusal: {why}"))
            }
            Err(message) => {
                stats.panics += 1;
                Some(format!("panic: {message}"))
            }
        };
        if let Some(finding) = finding.filter(|_| stats.findings.len() < MAX_FINDINGS) {
            let shown: String = String::from_utf8_lossy(&input).chars().take(400).collect();
            stats
                .findings
                .push(format!("{finding}\n  input: {shown:?}"));
        }
    }
    stats.elapsed = started.elapsed();
    stats
}

/// Every parser, each with its own name.
pub fn all_targets() -> Vec<Box<dyn Target>> {
    let mut targets: Vec<Box<dyn Target>> = Vec::new();
    targets.extend(notices::targets());
    targets.extend(statements::targets());
    targets.extend(requests::targets());
    targets.extend(codes::targets());
    targets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_refusals_need_a_code_and_a_real_message() {
        assert_eq!(
            clear("INVALID_REQUEST", "amount is required"),
            Outcome::Refused
        );
        assert!(matches!(clear("", "x is bad"), Outcome::Unclear(_)));
        assert!(matches!(clear("E", " Unknown "), Outcome::Unclear(_)));
        assert!(matches!(clear("E", ""), Outcome::Unclear(_)));
        assert!(matches!(clear("E", &"x".repeat(601)), Outcome::Unclear(_)));
    }

    struct Panicky(Vec<Vec<u8>>);

    impl Target for Panicky {
        fn name(&self) -> &'static str {
            "panicky"
        }
        fn samples(&self) -> &[Vec<u8>] {
            &self.0
        }
        fn run(&self, input: &[u8]) -> Outcome {
            match input.first() {
                Some(b'!') => panic!("boom"),
                Some(b'?') => Outcome::Unclear("vague".into()),
                Some(b'o') => Outcome::Accepted,
                _ => Outcome::Refused,
            }
        }
    }

    #[test]
    fn the_runner_counts_panics_and_unclear_refusals_and_keeps_going() {
        let target = Panicky(vec![b"ok".to_vec(), b"!".to_vec(), b"?".to_vec()]);
        let stats = run(&target, 2000, 9);
        assert_eq!(stats.inputs, 2000);
        assert_eq!(
            stats.accepted + stats.refused + stats.panics + stats.unclear,
            2000
        );
        assert!(stats.panics > 0 && stats.unclear > 0 && stats.accepted > 0);
        assert!(!stats.clean());
        assert!(stats.findings.iter().any(|f| f.contains("boom")));
        assert!(check_samples(&target).is_err());
        assert!(check_samples(&Panicky(vec![b"ok".to_vec()])).is_ok());
    }
}
