//! The test clock (`POST /sandbox/clock`): forward only, at most a year at
//! once, and never so far that a time the stack writes stops being RFC 3339
//! (whose years have four digits: the last second is 9999-12-31T23:59:59Z).
//! Every refusal is a 400 `INVALID_REQUEST` on `advance_s` and moves nothing.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::{world, World};
use qrpay_domain::Clock;
use serde_json::{json, Value};

const YEAR_S: i64 = 366 * 24 * 3600;

impl World {
    async fn move_clock(&self, body: Value) -> (u16, Value) {
        let a = self.call("POST", "/sandbox/clock", false, Some(body)).await;
        (a.status, a.json())
    }

    /// Refused as `advance_s`'s fault, with the clock where it was.
    async fn refused(&self, body: Value) {
        let before = self.running.stack.clock.offset_ms();
        let (status, answer) = self.move_clock(body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], "INVALID_REQUEST", "{answer}");
        assert_eq!(answer["error"]["field"], "advance_s", "{answer}");
        assert_eq!(self.running.stack.clock.offset_ms(), before, "{body}");
    }
}

fn last_rfc3339_second() -> DateTime<Utc> {
    "9999-12-31T23:59:59Z".parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clock_stops_a_year_short_of_the_last_rfc3339_second() {
    let w = world().await;
    // A year before the last second is as far as "now" goes: instalments fall
    // due up to 360 days after it, codes expire up to 90 days after it, and
    // Beijing time is 8 hours ahead; all of them must still be RFC 3339.
    let latest = last_rfc3339_second() - Duration::seconds(YEAR_S);
    let clock = &w.running.stack.clock;
    let parked = latest - Duration::minutes(10);
    clock.advance_ms((parked - clock.now()).num_milliseconds());

    // A year on would pass 9999-12-31T23:59:59Z (and its Beijing time year
    // 10000 much sooner): refused, as is an hour into the last year.
    w.refused(json!({"advance_s": YEAR_S})).await;
    w.refused(json!({"advance_s": 3600})).await;

    // Within the bound it still moves, and answers an RFC 3339 time.
    let (status, answer) = w.move_clock(json!({"advance_s": 60})).await;
    assert_eq!(status, 200, "{answer}");
    let now = answer["now"].as_str().unwrap();
    let now = DateTime::parse_from_rfc3339(now).unwrap_or_else(|e| panic!("{now}: {e}"));
    assert!(
        now > parked + Duration::seconds(60) && now < latest,
        "{now}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backward_absurd_and_malformed_moves_are_refused() {
    let w = world().await;
    for advance in [
        json!(-1),
        json!(YEAR_S + 1),
        json!(i64::MAX),
        json!(u64::MAX),
        json!(1e300),
        json!(1.5),
        json!("60"),
        json!(null),
    ] {
        w.refused(json!({ "advance_s": advance })).await;
    }
    w.refused(json!({})).await;
    // A year at once is the most, and it moves.
    let (status, answer) = w.move_clock(json!({"advance_s": YEAR_S})).await;
    assert_eq!(status, 200, "{answer}");
    assert!(w.running.stack.clock.offset_ms() >= YEAR_S * 1000);
}
