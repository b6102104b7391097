//! Time guards. Time is an input: everything here takes `now`; nothing reads the clock.
//! Local times go through jiff, so DST gaps and folds are handled by the zone's rules.

use super::interp::Local;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, Zoned};

pub fn local(now: Timestamp, tz: &TimeZone) -> Local {
    let z = now.to_zoned(tz.clone());
    Local {
        hour: i64::from(z.hour()),
        minute: i64::from(z.minute()),
        weekday: i64::from(z.weekday().to_sunday_zero_offset()),
        day: i64::from(z.day()),
        month: i64::from(z.month()),
    }
}

fn at(date: Date, hm: (i8, i8), tz: &TimeZone) -> Option<Timestamp> {
    let t = Time::new(hm.0, hm.1, 0, 0).ok()?;
    // A local time skipped by a DST gap resolves to the instant just after the gap.
    date.to_datetime(t)
        .to_zoned(tz.clone())
        .ok()
        .map(|z| z.timestamp())
}

/// Whether `now` falls in the quiet window [start, end) in `tz`, and if so when it ends.
/// A window with `start > end` crosses midnight (`22:00 to 08:00`).
pub fn quiet(now: Timestamp, tz: &TimeZone, start: (i8, i8), end: (i8, i8)) -> Option<Timestamp> {
    let z: Zoned = now.to_zoned(tz.clone());
    let t = (z.hour(), z.minute());
    let crosses = start > end;
    let inside = if crosses {
        t >= start || t < end
    } else {
        t >= start && t < end
    };
    if !inside {
        return None;
    }
    let today = z.date();
    // Before midnight in a crossing window, the window ends tomorrow.
    let end_date = if crosses && t >= start {
        today.tomorrow().ok()?
    } else {
        today
    };
    at(end_date, end, tz)
        .filter(|e| *e > now)
        .or_else(|| at(end_date.tomorrow().ok()?, end, tz))
}

/// The start of the next local calendar day after `now`.
pub fn next_day(now: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
    let z = now.to_zoned(tz.clone());
    z.date()
        .tomorrow()
        .ok()?
        .to_zoned(tz.clone())
        .ok()
        .map(|z| z.timestamp())
}

/// The start of the local calendar day containing `now`.
pub fn day_start(now: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
    let z = now.to_zoned(tz.clone());
    z.date().to_zoned(tz.clone()).ok().map(|z| z.timestamp())
}

/// Saturating `t + d`.
pub fn add(t: Timestamp, d: SignedDuration) -> Timestamp {
    t.checked_add(d).unwrap_or(Timestamp::MAX)
}
