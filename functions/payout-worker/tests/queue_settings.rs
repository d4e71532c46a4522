//! The payout queue's settings against the worker's own retry schedule
//! (issue 14): with the growing delay (`retry_delay_s`) a message is received
//! again and again while a provider is down; the DLQ — and its alarm — must
//! come after a real outage, not after a short hiccup.

use payout_worker::retry_delay_s;

fn template() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
    std::fs::read_to_string(path).unwrap()
}

/// The number after `key: ` in `resource`'s block of the template.
fn setting(template: &str, resource: &str, key: &str) -> u32 {
    let block = template
        .split(&format!("\n  {resource}:\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("{resource} in template.yaml"));
    let block = block.split("\n\n").next().unwrap();
    block
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{key}: ")))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{key} of {resource}"))
}

#[test]
fn a_payout_reaches_the_dlq_only_after_an_hour_of_retries() {
    let t = template();
    let receives = setting(&t, "PayoutQueue", "maxReceiveCount");
    // Waits between the receives before the last one.
    let before_dlq: u32 = (1..receives).map(retry_delay_s).sum();
    assert!(
        before_dlq >= 3_600,
        "{receives} receives reach the DLQ after {before_dlq} s of a provider outage"
    );
    // And not forever: a day at most, so a stuck message still pages someone.
    assert!(before_dlq <= 86_400, "{before_dlq} s");
}
