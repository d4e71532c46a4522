//! Business days and the clock port. SPEC §2: the business day is the
//! calendar day in Asia/Shanghai; caps reset at 00:00 Beijing time.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Asia::Shanghai;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A business day (Asia/Shanghai calendar date).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BusinessDate(NaiveDate);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("date must be YYYY-MM-DD")]
pub struct DateError;

impl BusinessDate {
    /// The Beijing calendar day an instant falls on.
    pub fn of(instant: DateTime<Utc>) -> BusinessDate {
        BusinessDate(instant.with_timezone(&Shanghai).date_naive())
    }

    pub fn parse(text: &str) -> Result<BusinessDate, DateError> {
        if text.len() != 10 {
            return Err(DateError);
        }
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(BusinessDate)
            .map_err(|_| DateError)
    }

    pub fn naive(self) -> NaiveDate {
        self.0
    }

    /// 00:00 Beijing time on this day, the instant it starts.
    pub fn starts_at(self) -> DateTime<Utc> {
        let midnight = self.0.and_time(NaiveTime::MIN);
        Shanghai
            .from_local_datetime(&midnight)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            // Beijing has no gaps since 1991; a historic gap falls back to UTC+8.
            .unwrap_or_else(|| (midnight - chrono::Duration::hours(8)).and_utc())
    }

    /// The next day (the last representable day stays itself).
    pub fn succ(self) -> BusinessDate {
        BusinessDate(self.0.succ_opt().unwrap_or(self.0))
    }

    /// The day `days` days before (past the first representable day: that day).
    pub fn days_before(self, days: u64) -> BusinessDate {
        BusinessDate(
            self.0
                .checked_sub_days(chrono::Days::new(days))
                .unwrap_or(NaiveDate::MIN),
        )
    }

    /// The day before (the first representable day stays itself).
    pub fn pred(self) -> BusinessDate {
        BusinessDate(self.0.pred_opt().unwrap_or(self.0))
    }

    /// `days` days later, or `None` past the calendar's end.
    pub fn plus_days(self, days: u64) -> Option<BusinessDate> {
        self.0
            .checked_add_days(chrono::Days::new(days))
            .map(BusinessDate)
    }
}

impl fmt::Display for BusinessDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl fmt::Debug for BusinessDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BusinessDate({self})")
    }
}

impl Serialize for BusinessDate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BusinessDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        BusinessDate::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Renders an instant as RFC 3339 in Beijing time, with milliseconds.
pub fn rfc3339_beijing(instant: DateTime<Utc>) -> String {
    instant
        .with_timezone(&Shanghai)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}

/// An instant as a buyer reads it on a page: `2026-11-20 15:30` Beijing time.
pub fn minutes_beijing(instant: DateTime<Utc>) -> String {
    instant
        .with_timezone(&Shanghai)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// The hour of the day (0–23) an instant falls in, Beijing time.
pub fn hour_beijing(instant: DateTime<Utc>) -> u32 {
    instant.with_timezone(&Shanghai).hour()
}

/// Where "now" comes from. Every function takes time from here, never from
/// the system clock directly, so tests and the local stack can move it.
/// Instants are whole milliseconds: what the stores keep.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        from_millis(Utc::now().timestamp_millis())
    }
}

/// A clock that only moves when told to (tests, the sandbox's test clock).
#[derive(Debug)]
pub struct TestClock {
    now_ms: AtomicI64,
}

impl TestClock {
    pub fn at(instant: DateTime<Utc>) -> TestClock {
        TestClock {
            now_ms: AtomicI64::new(instant.timestamp_millis()),
        }
    }

    /// Moves the clock forward (never backward: a negative step is ignored).
    pub fn advance_ms(&self, step_ms: i64) -> DateTime<Utc> {
        let step = step_ms.max(0);
        from_millis(self.now_ms.fetch_add(step, Ordering::SeqCst) + step)
    }

    pub fn set(&self, instant: DateTime<Utc>) {
        self.now_ms
            .store(instant.timestamp_millis(), Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        from_millis(self.now_ms.load(Ordering::SeqCst))
    }
}

/// The real clock moved forward by an offset that only grows: the local
/// stack's "now" (`POST /sandbox/clock`), which keeps running like real time
/// between advances, as a payment provider's test clock does.
#[derive(Debug, Default)]
pub struct ShiftedClock {
    offset_ms: AtomicI64,
}

impl ShiftedClock {
    pub fn new() -> ShiftedClock {
        ShiftedClock::default()
    }

    /// Moves "now" forward by `step_ms` (a negative step is ignored) and
    /// answers the new "now".
    pub fn advance_ms(&self, step_ms: i64) -> DateTime<Utc> {
        self.offset_ms.fetch_add(step_ms.max(0), Ordering::SeqCst);
        self.now()
    }

    /// Moves "now" forward by `step_ms` unless that would take it past
    /// `latest`: the new "now", or `None` with nothing moved. A negative
    /// step is refused too (the clock only goes forward).
    pub fn advance_ms_until(&self, step_ms: i64, latest: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if step_ms < 0 {
            return None;
        }
        let real = Utc::now().timestamp_millis();
        let latest_ms = latest.timestamp_millis();
        let within = |offset: i64| {
            let next = offset.checked_add(step_ms)?;
            (real.checked_add(next)? <= latest_ms).then_some(next)
        };
        let before = self
            .offset_ms
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, within)
            .ok()?;
        Some(from_millis(real + before + step_ms))
    }

    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::SeqCst)
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> DateTime<Utc> {
        let real = Utc::now().timestamp_millis();
        from_millis(real.saturating_add(self.offset_ms()))
    }
}

/// An instant from epoch milliseconds; out-of-range input saturates to the epoch.
pub fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_shifted_clock_only_moves_forward() {
        let clock = super::ShiftedClock::new();
        let before = super::Clock::now(&clock);
        let after = clock.advance_ms(3_600_000);
        assert!(after - before >= chrono::Duration::hours(1));
        assert!(after - before < chrono::Duration::hours(1) + chrono::Duration::seconds(5));
        clock.advance_ms(-7_200_000);
        assert_eq!(clock.offset_ms(), 3_600_000);
    }

    #[test]
    fn a_bounded_move_stops_at_its_latest_instant_and_moves_nothing_past_it() {
        let clock = super::ShiftedClock::new();
        let latest = super::Clock::now(&clock) + chrono::Duration::hours(2);
        let moved = clock.advance_ms_until(3_600_000, latest).unwrap();
        assert!(moved <= latest);
        assert_eq!(clock.offset_ms(), 3_600_000);
        assert_eq!(clock.advance_ms_until(3_600_000 + 60_000, latest), None);
        assert_eq!(clock.advance_ms_until(-1, latest), None);
        assert_eq!(clock.advance_ms_until(i64::MAX, latest), None);
        assert_eq!(clock.offset_ms(), 3_600_000);
    }

    use super::*;

    fn beijing(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn business_day_follows_beijing_midnight_not_utc() {
        let late = beijing("2026-03-01T23:59:59+08:00");
        let midnight = beijing("2026-03-02T00:00:00+08:00");
        assert_eq!(BusinessDate::of(late).to_string(), "2026-03-01");
        assert_eq!(BusinessDate::of(midnight).to_string(), "2026-03-02");
        // 16:00 UTC is already the next Beijing day.
        assert_eq!(
            BusinessDate::of(beijing("2026-03-01T16:00:00Z")).to_string(),
            "2026-03-02"
        );
    }

    #[test]
    fn dates_parse_strictly() {
        assert!(BusinessDate::parse("2026-02-28").is_ok());
        for bad in [
            "2026-02-30",
            "2026-2-28",
            "20260228",
            "2026-02-28T00:00",
            "",
        ] {
            assert!(BusinessDate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn test_clock_moves_only_forward() {
        let clock = TestClock::at(beijing("2026-03-01T10:00:00+08:00"));
        clock.advance_ms(60_000);
        clock.advance_ms(-5_000);
        assert_eq!(
            rfc3339_beijing(clock.now()),
            "2026-03-01T10:01:00.000+08:00"
        );
    }
}
