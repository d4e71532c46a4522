//! The times statements carry, read and written by hand for speed (a million
//! rows a night): fixed layouts only, checked digit by digit. A statement
//! covers one business day, the Beijing calendar day (SPEC §2); [`Day`] knows
//! its bounds in UTC so checking a row costs two comparisons.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use qrpay_domain::BusinessDate;

const SECS_PER_DAY: i64 = 86_400;
/// Nanoseconds per unit of a fraction of `i` digits.
const NANOS_PER_UNIT: [u32; 10] = [
    0,
    100_000_000,
    10_000_000,
    1_000_000,
    100_000,
    10_000,
    1_000,
    100,
    10,
    1,
];
/// Beijing's offset today (and every day since 1991).
const CST_OFFSET_SECS: i64 = 8 * 3600;

/// The business day a statement covers.
#[derive(Debug, Clone)]
pub(crate) struct Day {
    date: BusinessDate,
    /// `YYYY-MM-DD`, to recognize a local time of this day by its bytes.
    text: [u8; 10],
    /// Days from 1970-01-01 to this day.
    days: i64,
    /// UTC seconds of 00:00 Beijing time, and of 00:00 the next day.
    start_utc: i64,
    end_utc: i64,
    /// Beijing's offset from UTC, when one offset holds the whole day (no
    /// daylight-saving switch; true of every day since 1991).
    offset_secs: Option<i64>,
}

/// Why a statement's time was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeError {
    /// Not in the layout, or not a real date and time.
    Malformed,
    /// A real time, on another Beijing day.
    OtherDay(NaiveDate),
    /// A Beijing local time that never happened (a daylight-saving gap).
    NoSuchLocalTime,
}

impl Day {
    pub(crate) fn new(date: BusinessDate) -> Day {
        let naive = date.naive();
        let start_utc = beijing_midnight_utc(naive);
        let end_utc = naive
            .succ_opt()
            .map_or(start_utc + SECS_PER_DAY, beijing_midnight_utc);
        let days = days_from_civil(naive);
        let local_start = days * SECS_PER_DAY;
        let offset_secs = (end_utc - start_utc == SECS_PER_DAY).then_some(local_start - start_utc);
        let mut text = [b'0'; 10];
        let shown = date.to_string();
        if let Some(bytes) = shown.as_bytes().get(..10) {
            text.copy_from_slice(bytes);
        }
        Day {
            date,
            text,
            days,
            start_utc,
            end_utc,
            offset_secs,
        }
    }

    pub(crate) fn date(&self) -> BusinessDate {
        self.date
    }

    /// `YYYY-MM-DD HH:MM:SS` in Beijing local time, on this day.
    pub(crate) fn parse_local(&self, text: &str) -> Result<DateTime<Utc>, TimeError> {
        let Some((date, [b' ', time @ ..])) = text.as_bytes().split_first_chunk::<10>() else {
            return Err(TimeError::Malformed);
        };
        let secs_of_day = parse_clock(time).ok_or(TimeError::Malformed)?;
        if *date == self.text && self.offset_secs.is_some() {
            // The whole day has one offset, so its local midnight is `start_utc`.
            return instant(self.start_utc + i64::from(secs_of_day), 0);
        }
        let (year, month, day) = parse_civil(date).ok_or(TimeError::Malformed)?;
        let naive = NaiveDate::from_ymd_opt(year, month, day).ok_or(TimeError::Malformed)?;
        if naive != self.date.naive() {
            return Err(TimeError::OtherDay(naive));
        }
        let local = NaiveDateTime::new(
            naive,
            NaiveTime::from_num_seconds_from_midnight_opt(secs_of_day, 0)
                .ok_or(TimeError::Malformed)?,
        );
        Shanghai
            .from_local_datetime(&local)
            .earliest()
            .map(|at| at.with_timezone(&Utc))
            .ok_or(TimeError::NoSuchLocalTime)
    }

    /// RFC 3339 with an explicit offset (`Z` or `±hh:mm`), an optional
    /// fraction of a second, on this day in Beijing.
    pub(crate) fn parse_rfc3339(&self, text: &str) -> Result<DateTime<Utc>, TimeError> {
        let Some((date, [b'T', rest @ ..])) = text.as_bytes().split_first_chunk::<10>() else {
            return Err(TimeError::Malformed);
        };
        let Some((time, mut rest)) = rest.split_first_chunk::<8>() else {
            return Err(TimeError::Malformed);
        };
        let secs_of_day = parse_clock(time).ok_or(TimeError::Malformed)?;
        let mut nanos = 0u32;
        if let Some(fraction) = rest.strip_prefix(b".") {
            let digits = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
            let scale = NANOS_PER_UNIT
                .get(digits)
                .filter(|_| digits > 0)
                .ok_or(TimeError::Malformed)?;
            let value = fraction
                .iter()
                .take(digits)
                .fold(0u32, |value, b| value * 10 + u32::from(b - b'0'));
            nanos = value * scale;
            rest = fraction.get(digits..).unwrap_or_default();
        }
        let offset_secs = match rest {
            b"Z" => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let hours = two_digits(*h1, *h2).filter(|h| *h <= 23);
                let minutes = two_digits(*m1, *m2).filter(|m| *m <= 59);
                let (Some(hours), Some(minutes)) = (hours, minutes) else {
                    return Err(TimeError::Malformed);
                };
                let secs = i64::from(hours * 3600 + minutes * 60);
                if *sign == b'-' {
                    -secs
                } else {
                    secs
                }
            }
            _ => return Err(TimeError::Malformed),
        };
        let days = if *date == self.text {
            self.days
        } else {
            let (year, month, day) = parse_civil(date).ok_or(TimeError::Malformed)?;
            days_from_civil(NaiveDate::from_ymd_opt(year, month, day).ok_or(TimeError::Malformed)?)
        };
        let utc = days * SECS_PER_DAY + i64::from(secs_of_day) - offset_secs;
        let at = instant(utc, nanos)?;
        if (self.start_utc..self.end_utc).contains(&utc) {
            Ok(at)
        } else {
            Err(TimeError::OtherDay(BusinessDate::of(at).naive()))
        }
    }

    /// Appends `at` as RFC 3339 in Beijing time with milliseconds, exactly
    /// as `qrpay_domain::time::rfc3339_beijing` renders it.
    pub(crate) fn push_rfc3339(&self, out: &mut Vec<u8>, at: DateTime<Utc>) -> Result<(), String> {
        let (local, offset_secs) = self.local_parts(at)?;
        push_local_parts(out, &local, b'T');
        let millis = at.timestamp_subsec_millis();
        out.push(b'.');
        push_digits(out, millis, 3);
        out.push(if offset_secs < 0 { b'-' } else { b'+' });
        let minutes = (offset_secs.unsigned_abs() / 60) as u32;
        push_digits(out, minutes / 60, 2);
        out.push(b':');
        push_digits(out, minutes % 60, 2);
        Ok(())
    }

    /// Appends `at` as `YYYY-MM-DD HH:MM:SS` Beijing local time (the
    /// fraction of a second is dropped: these formats count in seconds).
    pub(crate) fn push_local(&self, out: &mut Vec<u8>, at: DateTime<Utc>) -> Result<(), String> {
        let (local, _) = self.local_parts(at)?;
        push_local_parts(out, &local, b' ');
        Ok(())
    }

    fn local_parts(&self, at: DateTime<Utc>) -> Result<(LocalParts, i64), String> {
        if at.timestamp_subsec_nanos() >= 1_000_000_000 {
            return Err("a leap second cannot be written".to_owned());
        }
        let utc = at.timestamp();
        let offset_secs = match self.offset_secs {
            Some(offset) if (self.start_utc..self.end_utc).contains(&utc) => offset,
            _ => i64::from(
                Shanghai
                    .offset_from_utc_datetime(&at.naive_utc())
                    .fix()
                    .local_minus_utc(),
            ),
        };
        let local = utc + offset_secs;
        let (year, month, day) = civil_from_days(local.div_euclid(SECS_PER_DAY));
        if !(0..=9999).contains(&year) {
            return Err(format!("the year of {at} cannot be written"));
        }
        let secs_of_day = local.rem_euclid(SECS_PER_DAY) as u32;
        let parts = LocalParts {
            year: year as u32,
            month,
            day,
            secs_of_day,
        };
        Ok((parts, offset_secs))
    }
}

struct LocalParts {
    year: u32,
    month: u32,
    day: u32,
    secs_of_day: u32,
}

fn push_local_parts(out: &mut Vec<u8>, local: &LocalParts, between: u8) {
    push_digits(out, local.year, 4);
    out.push(b'-');
    push_digits(out, local.month, 2);
    out.push(b'-');
    push_digits(out, local.day, 2);
    out.push(between);
    push_digits(out, local.secs_of_day / 3600, 2);
    out.push(b':');
    push_digits(out, local.secs_of_day / 60 % 60, 2);
    out.push(b':');
    push_digits(out, local.secs_of_day % 60, 2);
}

/// Appends `value` zero-padded to `width` digits (`value` fits).
pub(crate) fn push_digits(out: &mut Vec<u8>, value: u32, width: u32) {
    for place in (0..width).rev() {
        out.push(b'0' + (value / 10u32.pow(place) % 10) as u8);
    }
}

fn instant(utc_secs: i64, nanos: u32) -> Result<DateTime<Utc>, TimeError> {
    DateTime::from_timestamp(utc_secs, nanos).ok_or(TimeError::Malformed)
}

fn beijing_midnight_utc(date: NaiveDate) -> i64 {
    Shanghai
        .from_local_datetime(&date.and_time(NaiveTime::MIN))
        .earliest()
        .map_or(
            days_from_civil(date) * SECS_PER_DAY - CST_OFFSET_SECS,
            |at| at.timestamp(),
        )
}

fn two_digits(tens: u8, ones: u8) -> Option<u32> {
    (tens.is_ascii_digit() && ones.is_ascii_digit())
        .then(|| u32::from(tens - b'0') * 10 + u32::from(ones - b'0'))
}

/// `YYYY-MM-DD` → (year, month, day); the calendar is checked by the caller.
fn parse_civil(bytes: &[u8]) -> Option<(i32, u32, u32)> {
    let [y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2] = *bytes else {
        return None;
    };
    let year = two_digits(y1, y2)? * 100 + two_digits(y3, y4)?;
    Some((year as i32, two_digits(m1, m2)?, two_digits(d1, d2)?))
}

/// `HH:MM:SS` → seconds of the day (no leap seconds).
fn parse_clock(bytes: &[u8]) -> Option<u32> {
    let [h1, h2, b':', m1, m2, b':', s1, s2] = *bytes else {
        return None;
    };
    let hours = two_digits(h1, h2).filter(|h| *h <= 23)?;
    let minutes = two_digits(m1, m2).filter(|m| *m <= 59)?;
    let seconds = two_digits(s1, s2).filter(|s| *s <= 59)?;
    Some(hours * 3600 + minutes * 60 + seconds)
}

/// Days since 1970-01-01, from chrono's own day count.
fn days_from_civil(date: NaiveDate) -> i64 {
    const CE_TO_UNIX_DAYS: i64 = 719_163;
    i64::from(chrono::Datelike::num_days_from_ce(&date)) - CE_TO_UNIX_DAYS
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use qrpay_domain::time::rfc3339_beijing;

    fn day(text: &str) -> Day {
        Day::new(BusinessDate::parse(text).unwrap())
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_day_is_bounded_by_beijing_midnights() {
        let d = day("2026-11-20");
        assert_eq!(d.start_utc, utc("2026-11-19T16:00:00Z").timestamp());
        assert_eq!(d.end_utc, utc("2026-11-20T16:00:00Z").timestamp());
        assert_eq!(d.offset_secs, Some(CST_OFFSET_SECS));
    }

    #[test]
    fn local_times_of_the_day_are_beijing_times() {
        let d = day("2026-11-20");
        assert_eq!(
            d.parse_local("2026-11-20 10:01:02"),
            Ok(utc("2026-11-20T02:01:02Z"))
        );
        assert_eq!(
            d.parse_local("2026-11-20 00:00:00"),
            Ok(utc("2026-11-19T16:00:00Z"))
        );
        assert_eq!(
            d.parse_local("2026-11-19 23:59:59"),
            Err(TimeError::OtherDay(
                NaiveDate::from_ymd_opt(2026, 11, 19).unwrap()
            ))
        );
        for bad in [
            "2026-11-20T10:01:02",
            "2026-11-20 24:00:00",
            "2026-11-20 10:60:00",
            "2026-11-20 10:00:60",
            "2026-02-30 10:00:00",
            "2026-11-20 10:01:0",
            "2026-11-2a 10:01:02",
            "",
        ] {
            assert_eq!(d.parse_local(bad), Err(TimeError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn rfc3339_times_take_any_offset_and_an_optional_fraction() {
        let d = day("2026-11-20");
        let expect = utc("2026-11-20T02:01:02.123Z");
        for text in [
            "2026-11-20T10:01:02.123+08:00",
            "2026-11-20T02:01:02.123Z",
            "2026-11-19T21:01:02.123-05:00",
            "2026-11-20T02:01:02.123000000Z",
        ] {
            assert_eq!(d.parse_rfc3339(text), Ok(expect), "{text}");
        }
        assert_eq!(
            d.parse_rfc3339("2026-11-20T10:01:02+08:00"),
            Ok(utc("2026-11-20T02:01:02Z"))
        );
        assert_eq!(
            d.parse_rfc3339("2026-11-20T23:59:59+09:00"),
            Ok(utc("2026-11-20T14:59:59Z"))
        );
        assert_eq!(
            d.parse_rfc3339("2026-11-20T16:00:00Z"),
            Err(TimeError::OtherDay(
                NaiveDate::from_ymd_opt(2026, 11, 21).unwrap()
            ))
        );
        for bad in [
            "2026-11-20T10:01:02",
            "2026-11-20 10:01:02+08:00",
            "2026-11-20T10:01:02.+08:00",
            "2026-11-20T10:01:02.1234567891Z",
            "2026-11-20T10:01:02+0800",
            "2026-11-20T10:01:02+24:00",
            "2026-11-20T10:01:02z",
            "2026-11-20T10:01:02Zjunk",
            "2026-11-31T10:01:02Z",
        ] {
            assert_eq!(d.parse_rfc3339(bad), Err(TimeError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn a_daylight_saving_day_of_1988_is_read_exactly() {
        // Beijing kept summer time 1986–1991; 1988-04-17 had 23 hours.
        let d = day("1988-04-17");
        assert_eq!(d.offset_secs, None);
        assert_eq!(
            d.parse_local("1988-04-17 12:00:00"),
            Ok(utc("1988-04-17T03:00:00Z"))
        );
        assert_eq!(
            d.parse_local("1988-04-17 02:30:00"),
            Err(TimeError::NoSuchLocalTime)
        );
        let mut out = Vec::new();
        d.push_rfc3339(&mut out, utc("1988-04-17T03:00:00Z"))
            .unwrap();
        assert_eq!(out, b"1988-04-17T12:00:00.000+09:00");
    }

    proptest! {
        #[test]
        fn written_times_match_the_domain_rendering_and_read_back(ms in 0i64..4_102_444_800_000) {
            let at = DateTime::from_timestamp_millis(ms).unwrap();
            let d = Day::new(BusinessDate::of(at));
            let mut out = Vec::new();
            d.push_rfc3339(&mut out, at).unwrap();
            let text = String::from_utf8(out).unwrap();
            prop_assert_eq!(&text, &rfc3339_beijing(at));
            prop_assert_eq!(d.parse_rfc3339(&text), Ok(at));

            let mut out = Vec::new();
            d.push_local(&mut out, at).unwrap();
            let text = String::from_utf8(out).unwrap();
            let whole = DateTime::from_timestamp(at.timestamp(), 0).unwrap();
            prop_assert_eq!(d.parse_local(&text), Ok(whole));
        }

        #[test]
        fn civil_days_agree_with_chrono(days in -800_000i64..3_000_000) {
            let date = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Duration::days(days);
            let (y, m, d) = civil_from_days(days);
            prop_assert_eq!((y, m, d), (i64::from(chrono::Datelike::year(&date)), chrono::Datelike::month(&date), chrono::Datelike::day(&date)));
            prop_assert_eq!(days_from_civil(date), days);
        }
    }
}
