//! The pause between two tries of a conditional write that lost a race
//! (issue 14: the retry loops used to go again at once, so racing writers
//! kept colliding and burned their few attempts together). Exponential with
//! "equal jitter": the k-th retry waits between half and all of
//! `BASE_MS · 2^(k−1)`, never more than `CAP_MS`, so the whole loop stays
//! far inside a function's deadline.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// The first retry's ceiling.
pub const BASE_MS: u64 = 10;
/// No single pause is longer.
pub const CAP_MS: u64 = 200;

/// The pause before retry `attempt` (1 = the first retry) for a `jitter`
/// drawn uniformly from all of `u64`.
pub fn retry_delay(attempt: usize, jitter: u64) -> Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(16);
    let ceiling = BASE_MS.saturating_mul(1u64 << exponent).min(CAP_MS);
    let half = ceiling / 2;
    let spread = ceiling - half + 1;
    Duration::from_millis(half + jitter % spread)
}

/// Sleeps before retry `attempt`; nothing before the first try (`0`).
pub async fn pause(attempt: usize) {
    if attempt == 0 {
        return;
    }
    // Randomly keyed per call: enough to spread racing writers apart.
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_usize(attempt);
    tokio::time::sleep(retry_delay(attempt, hasher.finish())).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_longer_each_time_within_half_and_all_of_the_ceiling_and_never_past_the_cap() {
        for (attempt, ceiling) in [
            (1, 10),
            (2, 20),
            (3, 40),
            (4, 80),
            (5, 160),
            (6, 200),
            (60, 200),
        ] {
            let low = retry_delay(attempt, 0).as_millis() as u64;
            let high = retry_delay(attempt, u64::MAX).as_millis() as u64;
            let mid = retry_delay(attempt, 7).as_millis() as u64;
            assert_eq!(low, ceiling / 2, "attempt {attempt}");
            assert!(
                high <= ceiling && mid >= low && mid <= ceiling,
                "attempt {attempt}: {high} {mid}"
            );
        }
        // Different draws spread racing writers over the interval.
        let spread: std::collections::BTreeSet<u128> =
            (0..50u64).map(|j| retry_delay(4, j).as_millis()).collect();
        assert!(spread.len() > 20, "{spread:?}");
    }

    #[tokio::test]
    async fn a_retry_waits_at_least_half_its_ceiling() {
        // A lower bound only: sleeping never ends early (no timing target).
        let start = std::time::Instant::now();
        pause(3).await;
        assert!(
            start.elapsed() >= Duration::from_millis(20),
            "{:?}",
            start.elapsed()
        );
    }
}
