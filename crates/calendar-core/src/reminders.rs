//! Event reminders (C4): when each event's reminder is due, which are due now, the ledger key
//! that makes each one go out once, and the reminder's text.
//!
//! The service runs a job every minute or so with a look-back a little longer than its period,
//! posts the reminders [`due_reminders`] returns, and records each under [`reminder_key`] in the
//! delivery ledger. The window `(now - lookback, now]` and the ledger together make a reminder go
//! out once however the ticks fall; an event that has already started when the service comes back
//! from downtime gets no late reminder.

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::agenda::{event_details, event_title};
use crate::event::{Event, EventTime};
use crate::summary::format_time;

/// How long after its start an event still counts as "starting": a reminder set to 0 minutes
/// before the start is due at the start itself, and the tick that sees it may come a little
/// later.
pub const START_GRACE: TimeDelta = TimeDelta::minutes(1);

/// The longest reminder Outlook offers: two weeks before the start. A service that keeps a
/// window of coming events reads this much further ahead ([`reminder_at`] before the window's
/// end), so that a reminder falls due while its event is known.
pub const LONGEST_REMINDER: TimeDelta = TimeDelta::weeks(2);

/// When the reminder for `event` is due, seen from `tz` (which matters only for all-day events,
/// which start at local midnight): the start less the event's reminder minutes
/// ([`crate::event::DEFAULT_REMINDER_MINUTES`] when unset). `None` when the reminder is off or
/// the event is cancelled or declined.
pub fn reminder_at(event: &Event, tz: Tz) -> Option<DateTime<Utc>> {
    if !event.is_listed() {
        return None;
    }
    let minutes = event.reminder.minutes()?;
    Some(event.start_in(tz) - TimeDelta::minutes(i64::from(minutes)))
}

/// The events whose reminder falls in `(now - lookback, now]` and that have not started (with
/// [`START_GRACE`]), in order of start.
pub fn due_reminders(
    events: &[Event],
    tz: Tz,
    now: DateTime<Utc>,
    lookback: TimeDelta,
) -> Vec<&Event> {
    let mut due: Vec<&Event> = events
        .iter()
        .filter(|event| {
            reminder_at(event, tz).is_some_and(|at| at > now - lookback && at <= now)
                && now < event.start_in(tz) + START_GRACE
        })
        .collect();
    due.sort_by(|a, b| {
        a.start_in(tz)
            .cmp(&b.start_in(tz))
            .then_with(|| a.id.cmp(&b.id))
    });
    due
}

/// The delivery-ledger key of the reminder of `event` for `user_id`: the same for a redelivered
/// or re-read event, different once the event moves (its start instant is part of the key), so a
/// rescheduled event is reminded again.
pub fn reminder_key(user_id: &str, event: &Event, tz: Tz) -> String {
    format!(
        "reminder:{user_id}:{}:{}",
        event.id,
        event.start_in(tz).timestamp()
    )
}

/// "in 10 minutes", "in 1 hour 30 minutes", "in 2 days", or "now".
fn starts_in(until_start: TimeDelta) -> String {
    let minutes = (until_start.num_seconds() + 30).div_euclid(60);
    if minutes <= 0 {
        return "now".to_owned();
    }
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    if minutes < 60 {
        return format!("in {}", plural(minutes, "minute"));
    }
    if minutes < 24 * 60 {
        let (hours, minutes) = (minutes / 60, minutes % 60);
        return if minutes == 0 {
            format!("in {}", plural(hours, "hour"))
        } else {
            format!("in {} {}", plural(hours, "hour"), plural(minutes, "minute"))
        };
    }
    format!("in {}", plural((minutes + 12 * 60) / (24 * 60), "day"))
}

/// When the event happens, for a reminder: "9:00 AM – 9:30 AM", "All day", or with the dates
/// when it spans days ("Mon, Nov 23, 11:00 PM – Tue, Nov 24, 1:00 AM").
pub fn time_range(event: &Event, tz: Tz) -> String {
    match event.when {
        EventTime::AllDay {
            first,
            end_exclusive,
        } => {
            let last = end_exclusive.pred_opt().unwrap_or(first).max(first);
            if last == first {
                "All day".to_owned()
            } else {
                format!(
                    "All day, {} – {}",
                    first.format("%a, %b %-d"),
                    last.format("%a, %b %-d")
                )
            }
        }
        EventTime::Timed { start, end } => {
            let start = start.with_timezone(&tz).naive_local();
            let end = end.max(event.start_in(tz)).with_timezone(&tz).naive_local();
            if start.date() == end.date() {
                format!(
                    "{} – {}",
                    format_time(start.time()),
                    format_time(end.time())
                )
            } else {
                format!(
                    "{}, {} – {}, {}",
                    start.format("%a, %b %-d"),
                    format_time(start.time()),
                    end.format("%a, %b %-d"),
                    format_time(end.time())
                )
            }
        }
    }
}

/// The reminder post: "Starting in 10 minutes: **Subject**", then the time, the location and
/// the join link. Untrusted text is escaped.
///
/// ```
/// use calendar_core::event::{Event, EventTime};
/// use calendar_core::reminders::render_reminder;
/// use chrono::{TimeDelta, TimeZone, Utc};
/// let start = Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap();
/// let mut event = Event::new("1", "Standup", EventTime::timed(start, start + TimeDelta::minutes(15)));
/// event.join_url = Some("https://teams.microsoft.com/l/meetup-join/x".into());
/// let text = render_reminder(&event, chrono_tz::Europe::Paris, start - TimeDelta::minutes(10));
/// assert_eq!(text, "Starting in 10 minutes: **Standup**\n9:00 AM – 9:15 AM · [Join meeting](https://teams.microsoft.com/l/meetup-join/x)");
/// ```
pub fn render_reminder(event: &Event, tz: Tz, now: DateTime<Utc>) -> String {
    let when = starts_in(event.start_in(tz) - now);
    let lead = if when == "now" {
        "Starting now".to_owned()
    } else {
        format!("Starting {when}")
    };
    format!(
        "{lead}: {}\n{}{}",
        event_title(event),
        time_range(event, tz),
        event_details(event)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ReminderSetting, ResponseStatus};
    use chrono::{NaiveDate, TimeZone};
    use proptest::prelude::*;

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    fn meeting(id: &str, start: DateTime<Utc>, reminder: ReminderSetting) -> Event {
        let mut event = Event::new(
            id,
            format!("Meeting {id}"),
            EventTime::timed(start, start + TimeDelta::minutes(30)),
        );
        event.reminder = reminder;
        event
    }

    #[test]
    fn reminder_instants() {
        let tz = chrono_tz::Europe::Paris;
        let start = utc(2026, 11, 23, 9, 0);
        assert_eq!(
            reminder_at(&meeting("a", start, ReminderSetting::Unset), tz),
            Some(utc(2026, 11, 23, 8, 50))
        );
        assert_eq!(
            reminder_at(&meeting("a", start, ReminderSetting::Minutes(15)), tz),
            Some(utc(2026, 11, 23, 8, 45))
        );
        assert_eq!(
            reminder_at(&meeting("a", start, ReminderSetting::Minutes(0)), tz),
            Some(start)
        );
        assert_eq!(
            reminder_at(&meeting("a", start, ReminderSetting::Off), tz),
            None
        );
        let mut declined = meeting("a", start, ReminderSetting::Unset);
        declined.response = ResponseStatus::Declined;
        assert_eq!(reminder_at(&declined, tz), None);
        let mut cancelled = meeting("a", start, ReminderSetting::Unset);
        cancelled.is_cancelled = true;
        assert_eq!(reminder_at(&cancelled, tz), None);
        // An all-day event with Outlook's 18-hour default: 06:00 the day before, local time.
        let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let mut holiday = Event::new("h", "Holiday", EventTime::all_day(day, day));
        holiday.reminder = ReminderSetting::Minutes(18 * 60);
        assert_eq!(reminder_at(&holiday, tz), Some(utc(2026, 11, 23, 5, 0)));
        assert_eq!(
            reminder_at(&holiday, chrono_tz::Asia::Tokyo),
            Some(utc(2026, 11, 22, 21, 0))
        );
    }

    #[test]
    fn due_in_the_window_and_not_once_started() {
        let tz = Tz::UTC;
        let start = utc(2026, 11, 23, 9, 0);
        let events = vec![
            meeting("default", start, ReminderSetting::Unset),
            meeting("fifteen", start, ReminderSetting::Minutes(15)),
            meeting("off", start, ReminderSetting::Off),
            meeting("zero", start, ReminderSetting::Minutes(0)),
        ];
        let lookback = TimeDelta::minutes(2);
        let ids = |now| {
            due_reminders(&events, tz, now, lookback)
                .iter()
                .map(|e| e.id.as_str())
                .collect::<Vec<_>>()
        };
        assert!(ids(utc(2026, 11, 23, 8, 44)).is_empty());
        assert_eq!(ids(utc(2026, 11, 23, 8, 45)), ["fifteen"]);
        assert_eq!(ids(utc(2026, 11, 23, 8, 46)), ["fifteen"]);
        assert!(ids(utc(2026, 11, 23, 8, 47)).is_empty());
        assert_eq!(ids(utc(2026, 11, 23, 8, 50)), ["default"]);
        assert_eq!(ids(utc(2026, 11, 23, 9, 0)), ["zero"]);
        // Back from downtime after the start: nothing late.
        let long = TimeDelta::hours(1);
        let late = due_reminders(&events, tz, utc(2026, 11, 23, 9, 5), long);
        assert!(late.is_empty());
        // Back at 08:55: the default and the 15-minute reminders both go out now.
        let back = due_reminders(&events, tz, utc(2026, 11, 23, 8, 55), long);
        assert_eq!(back.len(), 2);
    }

    #[test]
    fn keys_follow_the_start() {
        let tz = chrono_tz::America::Los_Angeles;
        let event = meeting("AAMk1", utc(2026, 11, 23, 17, 0), ReminderSetting::Unset);
        let key = reminder_key("user1", &event, tz);
        assert_eq!(key, "reminder:user1:AAMk1:1795453200");
        let mut retitled = event.clone();
        retitled.subject = "Renamed".into();
        retitled.reminder = ReminderSetting::Minutes(5);
        assert_eq!(reminder_key("user1", &retitled, tz), key);
        let moved = meeting("AAMk1", utc(2026, 11, 23, 18, 0), ReminderSetting::Unset);
        assert_ne!(reminder_key("user1", &moved, tz), key);
        assert_ne!(reminder_key("user2", &event, tz), key);
    }

    #[test]
    fn reminder_text() {
        let tz = chrono_tz::Asia::Kolkata;
        let start = utc(2026, 11, 23, 4, 0); // 09:30 IST
        let mut event = meeting("a", start, ReminderSetting::Unset);
        event.subject = "@channel Sprint [review](https://evil.example)".into();
        event.location = Some("Room <5>\nsecond line".into());
        event.web_link = Some("https://outlook.office365.com/owa/?itemid=1".into());
        let text = render_reminder(&event, tz, start - TimeDelta::minutes(10));
        assert_eq!(
            text,
            "Starting in 10 minutes: **[@\u{2060}channel Sprint \\[review\\]\\(https://evil.example\\)](https://outlook.office365.com/owa/?itemid=1)**\n\
             9:30 AM – 10:00 AM · Room &lt;5&gt; second line"
        );
        assert!(render_reminder(&event, tz, start).starts_with("Starting now: "));
        assert!(
            render_reminder(&event, tz, start - TimeDelta::seconds(61))
                .starts_with("Starting in 1 minute: ")
        );
        assert!(
            render_reminder(&event, tz, start - TimeDelta::minutes(90))
                .starts_with("Starting in 1 hour 30 minutes: ")
        );
        let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let trip = Event::new(
            "t",
            "Trip",
            EventTime::all_day(day, day.succ_opt().unwrap()),
        );
        let text = render_reminder(&trip, tz, utc(2026, 11, 22, 18, 30));
        assert_eq!(
            text,
            "Starting in 1 day: **Trip**\nAll day, Tue, Nov 24 – Wed, Nov 25"
        );
        let overnight = Event::new(
            "o",
            "Release",
            EventTime::timed(utc(2026, 11, 23, 17, 30), utc(2026, 11, 23, 19, 30)),
        );
        assert_eq!(
            time_range(&overnight, tz),
            "Mon, Nov 23, 11:00 PM – Tue, Nov 24, 1:00 AM"
        );
    }

    proptest! {
        /// Ticking at any period no longer than the look-back, each listed event with a reminder
        /// that falls inside the run (and not after its start) is returned by exactly one tick.
        #[test]
        fn each_reminder_once_with_a_ledger(
            starts in prop::collection::vec(0i64..600, 1..8),
            minutes in prop::collection::vec(prop::option::of(0u32..120), 8),
            period in 1i64..5,
            offset in 0i64..60,
        ) {
            let tz = chrono_tz::Europe::Berlin;
            let base = utc(2026, 3, 29, 0, 0);
            let events: Vec<Event> = starts.iter().enumerate().map(|(i, s)| {
                let reminder = minutes[i].map_or(ReminderSetting::Unset, ReminderSetting::Minutes);
                meeting(&i.to_string(), base + TimeDelta::minutes(*s), reminder)
            }).collect();
            let lookback = TimeDelta::minutes(period + 1);
            let mut ledger = std::collections::HashSet::new();
            let mut counts = vec![0; events.len()];
            let mut now = base - TimeDelta::hours(3) + TimeDelta::seconds(offset);
            while now < base + TimeDelta::hours(11) {
                for event in due_reminders(&events, tz, now, lookback) {
                    prop_assert!(now < event.start_in(tz) + START_GRACE);
                    if ledger.insert(reminder_key("u", event, tz)) {
                        counts[event.id.parse::<usize>().unwrap()] += 1;
                    }
                }
                now += TimeDelta::minutes(period);
            }
            for (i, event) in events.iter().enumerate() {
                let at = reminder_at(event, tz).unwrap();
                prop_assert!(counts[i] <= 1);
                // A tick comes within `period` of the reminder; if that is before the start,
                // the reminder goes out.
                if at + TimeDelta::minutes(period) <= event.start_in(tz) {
                    prop_assert_eq!(counts[i], 1, "event {} reminded at {}", i, at);
                }
            }
        }
    }
}
