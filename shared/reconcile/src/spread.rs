//! How a shop's payments of the day spread over the Beijing hours and over
//! the providers: the figures behind the daily report's charts (SPEC §11).

use std::collections::BTreeMap;

use qrpay_domain::time::{from_millis, hour_beijing};
use qrpay_domain::{Provider, Tally};

/// Where payments without a provider (none today) are counted.
pub const NO_PROVIDER: &str = "unknown";

/// Payments by hour of the Beijing day and by provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentSpread {
    pub by_hour: [Tally; 24],
    /// Indexed as [`Provider::ALL`], then the payments without a provider.
    by_provider: [Tally; Provider::ALL.len() + 1],
}

impl Default for PaymentSpread {
    fn default() -> PaymentSpread {
        PaymentSpread {
            by_hour: [Tally::default(); 24],
            by_provider: [Tally::default(); Provider::ALL.len() + 1],
        }
    }
}

impl PaymentSpread {
    /// Counts one ledger payment of `fen`, made at `at_ms`.
    pub fn add(&mut self, at_ms: i64, provider: Option<Provider>, fen: i64) {
        let hour = hour_beijing(from_millis(at_ms)) as usize;
        if let Some(tally) = self.by_hour.get_mut(hour) {
            tally.add(fen);
        }
        let provider = provider
            .and_then(|p| Provider::ALL.iter().position(|x| *x == p))
            .unwrap_or(Provider::ALL.len());
        if let Some(tally) = self.by_provider.get_mut(provider) {
            tally.add(fen);
        }
    }

    pub fn merge(&mut self, other: &PaymentSpread) {
        let pairs = self
            .by_hour
            .iter_mut()
            .zip(&other.by_hour)
            .chain(self.by_provider.iter_mut().zip(&other.by_provider));
        for (a, b) in pairs {
            a.count += b.count;
            a.total = a.total.checked_add(b.total).unwrap_or(a.total);
        }
    }

    /// The providers that had payments, by name (`wechatpay`, …).
    pub fn by_provider(&self) -> BTreeMap<String, Tally> {
        let names = Provider::ALL
            .iter()
            .map(|p| p.as_str())
            .chain([NO_PROVIDER]);
        names
            .zip(self.by_provider)
            .filter(|(_, tally)| tally.count > 0)
            .map(|(name, tally)| (name.to_owned(), tally))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-20 00:00 Beijing is 2026-11-19 16:00 UTC.
    const DAY_STARTS_MS: i64 = 1_795_104_000_000;
    const HOUR_MS: i64 = 3_600_000;

    #[test]
    fn payments_are_counted_by_beijing_hour_and_by_provider() {
        let mut spread = PaymentSpread::default();
        spread.add(DAY_STARTS_MS, Some(Provider::Wechatpay), 1000);
        spread.add(DAY_STARTS_MS + HOUR_MS - 1, Some(Provider::Alipay), 250);
        spread.add(DAY_STARTS_MS + 23 * HOUR_MS, Some(Provider::Wechatpay), 5);
        let mut other = PaymentSpread::default();
        other.add(DAY_STARTS_MS + 23 * HOUR_MS + 1, None, 7);
        spread.merge(&other);

        let hours: Vec<(usize, u64, String)> = spread
            .by_hour
            .iter()
            .enumerate()
            .filter(|(_, t)| t.count > 0)
            .map(|(h, t)| (h, t.count, t.total.to_string()))
            .collect();
        assert_eq!(
            hours,
            vec![(0, 2, "12.50".to_owned()), (23, 2, "0.12".to_owned())]
        );
        let providers: Vec<(String, u64, String)> = spread
            .by_provider()
            .into_iter()
            .map(|(p, t)| (p, t.count, t.total.to_string()))
            .collect();
        assert_eq!(
            providers,
            vec![
                ("alipay".to_owned(), 1, "2.50".to_owned()),
                ("unknown".to_owned(), 1, "0.07".to_owned()),
                ("wechatpay".to_owned(), 2, "10.05".to_owned()),
            ]
        );
    }
}
