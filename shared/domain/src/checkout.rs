//! How many orders strangers may open (SPEC §10): a static code's order is
//! written only when a buyer checks out, and each checkout counts against
//! fixed windows — per code, per client on that code, per client — in the
//! same atomic write as the order, so a flood of `POST /pay/{token}` leaves
//! at most the limits' worth of orders.
//!
//! The client is a keyed hash of its address, never the address itself
//! (no personal data at rest); many buyers may share one address behind a
//! carrier's NAT, so the per-client limits are modest, not tiny.

use chrono::{DateTime, Duration, Utc};

/// How long an unpaid checkout lives unless configured (SPEC §10).
pub const DEFAULT_ORDER_TTL_S: i64 = 15 * 60;
/// The shortest and longest `QRPAY_CHECKOUT_ORDER_TTL_S`: a buyer needs a
/// minute to pay, and an unpaid checkout is garbage after a day.
pub const MIN_ORDER_TTL_S: i64 = 60;
pub const MAX_ORDER_TTL_S: i64 = 24 * 60 * 60;

/// One fixed window a checkout counts against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateWindow {
    /// What is limited: `code`, `client-code`, `client`.
    pub scope: &'static str,
    /// Whom it is counted for (a code id, a client hash, or both).
    pub key: String,
    pub window_start_s: i64,
    pub window_s: i64,
    /// Checkouts allowed in the window.
    pub limit: u32,
}

impl RateWindow {
    /// The counter's id: one per scope, key and window.
    pub fn counter_id(&self) -> String {
        format!("{}#{}#{}", self.scope, self.key, self.window_start_s)
    }

    pub fn window_end_s(&self) -> i64 {
        self.window_start_s.saturating_add(self.window_s)
    }

    /// Seconds until the window closes (at least 1).
    pub fn retry_after_s(&self, now: DateTime<Utc>) -> u64 {
        u64::try_from(self.window_end_s() - now.timestamp())
            .unwrap_or(1)
            .max(1)
    }
}

/// A limit: `limit` checkouts per `window_s` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub limit: u32,
    pub window_s: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckoutLimits {
    pub per_code: Rate,
    pub per_client_on_code: Rate,
    pub per_client: Rate,
    /// Seconds a static code's checkout order waits for payment before the
    /// sweeper closes it (`QRPAY_CHECKOUT_ORDER_TTL_S`).
    pub order_ttl_s: i64,
}

impl CheckoutLimits {
    /// A busy counter takes fewer than one checkout every two seconds; one
    /// buyer retries a handful of times; a script walking many codes is cut
    /// off after twenty.
    pub const DEFAULT: CheckoutLimits = CheckoutLimits {
        per_code: Rate {
            limit: 30,
            window_s: 60,
        },
        per_client_on_code: Rate {
            limit: 5,
            window_s: 600,
        },
        per_client: Rate {
            limit: 20,
            window_s: 600,
        },
        order_ttl_s: DEFAULT_ORDER_TTL_S,
    };

    /// These limits with the checkout lifetime read from its setting
    /// (`None`: unset, the default stays); a value that is not a whole
    /// number of seconds within bounds is refused, naming the setting.
    pub fn with_order_ttl(self, setting: Option<&str>) -> Result<CheckoutLimits, String> {
        let Some(text) = setting.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(self);
        };
        match text.parse::<i64>() {
            Ok(s) if (MIN_ORDER_TTL_S..=MAX_ORDER_TTL_S).contains(&s) => Ok(CheckoutLimits {
                order_ttl_s: s,
                ..self
            }),
            _ => Err(format!(
                "QRPAY_CHECKOUT_ORDER_TTL_S must be whole seconds from {MIN_ORDER_TTL_S} to {MAX_ORDER_TTL_S}, not {text:?}"
            )),
        }
    }

    /// When a checkout opened at `now` expires unpaid.
    pub fn order_expiry(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + Duration::seconds(self.order_ttl_s)
    }

    /// The windows a checkout on `code` by `client` at `now` counts against.
    pub fn windows(&self, code: &str, client: &str, now: DateTime<Utc>) -> Vec<RateWindow> {
        let window = |scope: &'static str, key: String, rate: Rate| {
            let now_s = now.timestamp();
            let width = rate.window_s.max(1);
            RateWindow {
                scope,
                key,
                window_start_s: now_s - now_s.rem_euclid(width),
                window_s: width,
                limit: rate.limit,
            }
        };
        vec![
            window("code", code.to_owned(), self.per_code),
            window(
                "client-code",
                format!("{client}#{code}"),
                self.per_client_on_code,
            ),
            window("client", client.to_owned(), self.per_client),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(s, 0).unwrap()
    }

    #[test]
    fn windows_are_fixed_and_say_when_they_reopen() {
        let w = CheckoutLimits::DEFAULT.windows("qr_1", "c0ffee", at(1_780_000_125));
        assert_eq!(w.len(), 3);
        assert_eq!(
            (w[0].scope, w[0].window_start_s, w[0].limit),
            ("code", 1_780_000_080, 30)
        );
        assert_eq!(w[0].retry_after_s(at(1_780_000_125)), 15);
        assert_eq!(w[1].key, "c0ffee#qr_1");
        assert_eq!((w[1].window_start_s, w[1].limit), (1_779_999_600, 5));
        assert_eq!(w[2].counter_id(), "client#c0ffee#1779999600");
        // The next window is another counter.
        let later = CheckoutLimits::DEFAULT.windows("qr_1", "c0ffee", at(1_780_000_190));
        assert_ne!(later[0].counter_id(), w[0].counter_id());
        assert_eq!(later[1].counter_id(), w[1].counter_id());
        assert_eq!(w[0].retry_after_s(at(1_780_000_190)), 1);
    }

    #[test]
    fn the_checkout_lifetime_is_fifteen_minutes_unless_configured_within_bounds() {
        let d = CheckoutLimits::DEFAULT;
        assert_eq!(d.order_expiry(at(1_000)), at(1_900));
        assert_eq!(d.with_order_ttl(None).unwrap(), d);
        assert_eq!(d.with_order_ttl(Some(" ")).unwrap(), d);
        let set = d.with_order_ttl(Some("600")).unwrap();
        assert_eq!(set.order_ttl_s, 600);
        assert_eq!(set.per_code, d.per_code);
        assert_eq!(d.with_order_ttl(Some("60")).unwrap().order_ttl_s, 60);
        assert_eq!(d.with_order_ttl(Some("86400")).unwrap().order_ttl_s, 86_400);
        for bad in ["59", "86401", "0", "-900", "15m", "900.5"] {
            let err = d.with_order_ttl(Some(bad)).unwrap_err();
            assert!(
                err.starts_with("QRPAY_CHECKOUT_ORDER_TTL_S"),
                "{bad}: {err}"
            );
        }
    }
}
