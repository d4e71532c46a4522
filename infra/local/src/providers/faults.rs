//! The sandbox's fault rates (`PUT /sandbox/faults`) applied to the
//! simulated providers' money movements (transfers and refunds): each new
//! movement draws its fate from a seeded stream of its own provider, so a
//! run is reproducible from its seed.

use std::sync::Mutex;
use std::time::Duration;

use qrpay_provider::sandbox::SplitMix64;
use qrpay_provider::SandboxFaults;
use serde::Deserialize;

/// What happens to one new money movement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// The provider refuses it definitively (its documented failure).
    Fail,
    /// The request never arrived: nothing moves, the caller gets no answer.
    LostBefore,
    /// The money moved but the answer was lost.
    LostAfter,
    Succeed,
}

impl Fate {
    /// Consecutive bands of a draw in `0..1000`: fail, lost before, lost
    /// after, then success (the sandbox provider's own order).
    fn of(faults: &SandboxFaults, draw: u16) -> Fate {
        let fail_end = faults.fail_per_mille;
        let before_end = fail_end.saturating_add(faults.timeout_before_per_mille);
        let after_end = before_end.saturating_add(faults.timeout_after_per_mille);
        match draw {
            d if d < fail_end => Fate::Fail,
            d if d < before_end => Fate::LostBefore,
            d if d < after_end => Fate::LostAfter,
            _ => Fate::Succeed,
        }
    }
}

/// One provider's stream of fates.
pub struct Draws {
    state: Mutex<(SandboxFaults, SplitMix64)>,
    /// Mixed into the seed so each provider has its own stream.
    salt: u64,
}

impl Draws {
    pub fn new(salt: u64) -> Draws {
        Draws {
            state: Mutex::new((SandboxFaults::default(), SplitMix64(salt))),
            salt,
        }
    }

    /// New rates; the stream restarts from their seed.
    pub fn reseed(&self, faults: SandboxFaults) {
        *self.lock() = (faults, SplitMix64(faults.seed ^ self.salt));
    }

    pub fn next(&self) -> Fate {
        let mut state = self.lock();
        let draw = state.1.per_mille();
        Fate::of(&state.0, draw)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (SandboxFaults, SplitMix64)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// How a lost answer looks to the caller (`PUT /sandbox/simulators`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LostAnswer {
    /// The provider's documented "system error, call again with the same
    /// id" answer (WeChat `500 SYSTEM_ERROR`, Alipay `20000`, Douyin a 5xx).
    ServerError,
    /// No answer for `hang_ms`, longer than a client's timeout, then the
    /// server error.
    Hang,
}

/// The simulators' switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub lost_answer: LostAnswer,
    pub hang: Duration,
    /// WeChat transfers wait for the payee (`WAIT_USER_CONFIRM`) instead of
    /// succeeding at once.
    pub wechatpay_payee_confirms: bool,
    /// The buyer's payments send their notice to qrpay (`false`: the
    /// notice is lost on the way; the provider still says paid when asked).
    pub payment_notices: bool,
    /// How long after a business day ends its bills are published
    /// (`STATEMENT_CREATING` until then); WeChat Pay's are ready from
    /// about 10:00 the next day, locally at once by default.
    pub bill_delay: chrono::Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            lost_answer: LostAnswer::ServerError,
            hang: Duration::from_secs(30),
            wechatpay_payee_confirms: false,
            payment_notices: true,
            bill_delay: chrono::Duration::zero(),
        }
    }
}

impl Settings {
    /// Waits as a lost answer does before the server error is sent.
    pub async fn lose_answer(&self) {
        if self.lost_answer == LostAnswer::Hang {
            tokio::time::sleep(self.hang).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fates_follow_the_sandbox_bands_and_the_seed() {
        let faults = SandboxFaults {
            fail_per_mille: 10,
            timeout_before_per_mille: 20,
            timeout_after_per_mille: 30,
            seed: 7,
            ..SandboxFaults::default()
        };
        let got: Vec<Fate> = [0, 9, 10, 29, 30, 59, 60, 999]
            .into_iter()
            .map(|d| Fate::of(&faults, d))
            .collect();
        use Fate::*;
        assert_eq!(
            got,
            [Fail, Fail, LostBefore, LostBefore, LostAfter, LostAfter, Succeed, Succeed]
        );
        let a = Draws::new(1);
        let b = Draws::new(1);
        a.reseed(faults);
        b.reseed(faults);
        let first: Vec<Fate> = (0..50).map(|_| a.next()).collect();
        assert_eq!(first, (0..50).map(|_| b.next()).collect::<Vec<_>>());
        assert_eq!(Draws::new(9).next(), Succeed, "no faults by default");
    }
}
