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

/// The instants at which the local clock in `tz` reads `hm` on `date`: one as a rule, two in a
/// DST fold (the hour that repeats), and in a DST gap the instant the gap ends, the first moment
/// the local clock reads a time past `hm`.
fn at(date: Date, hm: (i8, i8), tz: &TimeZone) -> Vec<Timestamp> {
    use jiff::tz::AmbiguousOffset;
    let Ok(t) = Time::new(hm.0, hm.1, 0, 0) else {
        return Vec::new();
    };
    let dt = date.to_datetime(t);
    match tz.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt).into_iter().collect(),
        AmbiguousOffset::Fold { before, after } => [before, after]
            .iter()
            .filter_map(|o| o.to_timestamp(dt).ok())
            .collect(),
        AmbiguousOffset::Gap { before, .. } => before
            .to_timestamp(dt)
            .ok()
            .and_then(|late| tz.preceding(late).next())
            .map(|transition| transition.timestamp())
            .into_iter()
            .collect(),
    }
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
    // The first end after `now`: in the repeated hour of a fold, that is the second `01:30`.
    let first_after = |d: Date| at(d, end, tz).into_iter().filter(|e| *e > now).min();
    first_after(end_date).or_else(|| first_after(end_date.tomorrow().ok()?))
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
