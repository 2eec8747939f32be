//! One calendar event as the rules see it: what Graph says about an event in the user's
//! calendar, reduced to the facts the agenda, reminders and status sync need.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::tz::{local_to_utc, resolve_time_zone};

/// Minutes before the start that a reminder comes when the event does not say
/// ([`ReminderSetting::Unset`]).
pub const DEFAULT_REMINDER_MINUTES: u32 = 10;

/// An event in the user's calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Graph's event id (stable while the event exists).
    pub id: String,
    /// The subject, as the organizer wrote it (untrusted).
    pub subject: String,
    /// When it happens.
    pub when: EventTime,
    /// `location.displayName` (untrusted).
    pub location: Option<String>,
    /// `onlineMeeting.joinUrl` (or `onlineMeetingUrl`).
    pub join_url: Option<String>,
    /// `webLink`: opens the event in Outlook on the web.
    pub web_link: Option<String>,
    /// How it shows the user's time.
    pub show_as: ShowAs,
    /// The user's own response.
    pub response: ResponseStatus,
    /// The organizer cancelled it (it stays in attendees' calendars until removed).
    pub is_cancelled: bool,
    /// Whether the user organizes it.
    pub is_organizer: bool,
    /// How many attendees there are other than the user: 0 for an appointment, a focus block or
    /// an out-of-office entry the user made alone.
    pub attendees: usize,
    /// The event's reminder.
    pub reminder: ReminderSetting,
    /// The organizer's display name (untrusted).
    pub organizer: Option<String>,
    /// A recurring series as a whole (Graph's `seriesMaster`): `when` is its first occurrence,
    /// which may be long past while the series goes on.
    #[serde(default)]
    pub recurring: bool,
}

impl Event {
    /// An event with the given id, subject and time, and every other fact at its plain value:
    /// busy, no response, not cancelled, not organized by the user, no attendees, no location or
    /// links, reminder unset.
    pub fn new(id: impl Into<String>, subject: impl Into<String>, when: EventTime) -> Self {
        Self {
            id: id.into(),
            subject: subject.into(),
            when,
            location: None,
            join_url: None,
            web_link: None,
            show_as: ShowAs::Busy,
            response: ResponseStatus::None,
            is_cancelled: false,
            is_organizer: false,
            attendees: 0,
            reminder: ReminderSetting::Unset,
            organizer: None,
            recurring: false,
        }
    }

    /// Whether the event belongs in the user's agenda: not cancelled and not declined.
    pub fn is_listed(&self) -> bool {
        !self.is_cancelled && self.response != ResponseStatus::Declined
    }

    /// Whether the event is an all-day event.
    pub fn is_all_day(&self) -> bool {
        matches!(self.when, EventTime::AllDay { .. })
    }

    /// When it starts, seen from `tz` (an all-day event starts at local midnight of its first
    /// day, which in `tz` is an instant like any other).
    pub fn start_in(&self, tz: Tz) -> DateTime<Utc> {
        self.when.start_in(tz)
    }

    /// When it ends, seen from `tz` (an all-day event ends at local midnight after its last day).
    pub fn end_in(&self, tz: Tz) -> DateTime<Utc> {
        self.when.end_in(tz)
    }
}

/// When an event happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventTime {
    /// From one instant to another.
    Timed {
        /// The first instant.
        start: DateTime<Utc>,
        /// The instant it is over (exclusive).
        end: DateTime<Utc>,
    },
    /// Whole days. All-day events float: they cover the same dates in every time zone
    /// (a holiday on 25 December is on 25 December in Tokyo and in Honolulu).
    AllDay {
        /// The first day.
        first: NaiveDate,
        /// The day after the last day (Graph's `end`).
        end_exclusive: NaiveDate,
    },
}

impl EventTime {
    /// A timed event.
    pub fn timed(start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Self::Timed { start, end }
    }

    /// An all-day event on the days `first..=last`.
    pub fn all_day(first: NaiveDate, last: NaiveDate) -> Self {
        Self::AllDay {
            first,
            end_exclusive: last.succ_opt().unwrap_or(last),
        }
    }

    /// The time of a Graph event from its `isAllDay`, `start` and `end` (each a `dateTime` such
    /// as `2026-11-23T09:00:00.0000000` and a `timeZone`, Windows or IANA). `None` when a time
    /// or a zone cannot be read.
    pub fn from_graph(
        is_all_day: bool,
        start_date_time: &str,
        start_time_zone: &str,
        end_date_time: &str,
        end_time_zone: &str,
    ) -> Option<Self> {
        let parse = |s: &str| {
            let s = s.trim().trim_end_matches(['Z', 'z']);
            NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
                .ok()
        };
        let start = parse(start_date_time)?;
        let end = parse(end_date_time)?;
        if is_all_day {
            let first = start.date();
            let end_exclusive = end.date().max(first.succ_opt()?);
            return Some(Self::AllDay {
                first,
                end_exclusive,
            });
        }
        let start = local_to_utc(resolve_time_zone(start_time_zone)?, start);
        let end = local_to_utc(resolve_time_zone(end_time_zone)?, end).max(start);
        Some(Self::Timed { start, end })
    }

    /// The start as an instant, all-day events at local midnight in `tz`.
    pub fn start_in(&self, tz: Tz) -> DateTime<Utc> {
        match *self {
            Self::Timed { start, .. } => start,
            Self::AllDay { first, .. } => midnight(tz, first),
        }
    }

    /// The end as an instant, all-day events at local midnight after the last day in `tz`.
    pub fn end_in(&self, tz: Tz) -> DateTime<Utc> {
        match *self {
            Self::Timed { end, .. } => end,
            Self::AllDay { end_exclusive, .. } => midnight(tz, end_exclusive),
        }
    }
}

/// The first instant of local `date` in `tz` (where midnight falls in a gap, as in Santiago or
/// Beirut on their change days, the first instant after it).
pub fn midnight(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    local_to_utc(tz, date.and_time(NaiveTime::MIN))
}

/// How the event shows the user's time (Graph's `showAs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShowAs {
    /// Free: the time is not taken.
    Free,
    /// Tentative: the time may be taken.
    Tentative,
    /// Busy.
    Busy,
    /// Out of office.
    Oof,
    /// Working elsewhere: available, not at the usual place.
    WorkingElsewhere,
    /// Unknown, or a value this crate does not know.
    Unknown,
}

impl ShowAs {
    /// From Graph's value (`free`, `tentative`, `busy`, `oof`, `workingElsewhere`, `unknown`),
    /// any case; anything else is `Unknown`.
    pub fn from_graph(value: &str) -> Self {
        match value.trim().to_ascii_lowercase().as_str() {
            "free" => Self::Free,
            "tentative" => Self::Tentative,
            "busy" => Self::Busy,
            "oof" => Self::Oof,
            "workingelsewhere" => Self::WorkingElsewhere,
            _ => Self::Unknown,
        }
    }
}

/// The user's response to the event (Graph's `responseStatus.response`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseStatus {
    /// No response recorded (or a value this crate does not know).
    None,
    /// The user organizes the event.
    Organizer,
    /// Accepted tentatively.
    TentativelyAccepted,
    /// Accepted.
    Accepted,
    /// Declined: left out of the agenda, reminders and status sync.
    Declined,
    /// Invited, not answered yet.
    NotResponded,
}

impl ResponseStatus {
    /// From Graph's value (`none`, `organizer`, `tentativelyAccepted`, `accepted`, `declined`,
    /// `notResponded`), any case; anything else is `None`.
    pub fn from_graph(value: &str) -> Self {
        match value.trim().to_ascii_lowercase().as_str() {
            "organizer" => Self::Organizer,
            "tentativelyaccepted" => Self::TentativelyAccepted,
            "accepted" => Self::Accepted,
            "declined" => Self::Declined,
            "notresponded" => Self::NotResponded,
            _ => Self::None,
        }
    }
}

/// The event's reminder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReminderSetting {
    /// The event turned its reminder off (`isReminderOn: false`).
    Off,
    /// This many minutes before the start (`reminderMinutesBeforeStart`).
    Minutes(u32),
    /// The event says nothing: [`DEFAULT_REMINDER_MINUTES`].
    Unset,
}

impl ReminderSetting {
    /// From Graph's `isReminderOn` and `reminderMinutesBeforeStart`, either possibly missing.
    pub fn from_graph(is_reminder_on: Option<bool>, minutes_before_start: Option<i64>) -> Self {
        match (is_reminder_on, minutes_before_start) {
            (Some(false), _) => Self::Off,
            (_, Some(minutes)) => Self::Minutes(u32::try_from(minutes.max(0)).unwrap_or(u32::MAX)),
            (_, None) => Self::Unset,
        }
    }

    /// Minutes before the start, or `None` when off.
    pub fn minutes(self) -> Option<u32> {
        match self {
            Self::Off => None,
            Self::Minutes(minutes) => Some(minutes),
            Self::Unset => Some(DEFAULT_REMINDER_MINUTES),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    #[test]
    fn graph_values() {
        assert_eq!(
            ShowAs::from_graph("workingElsewhere"),
            ShowAs::WorkingElsewhere
        );
        assert_eq!(ShowAs::from_graph("OOF"), ShowAs::Oof);
        assert_eq!(ShowAs::from_graph("busy"), ShowAs::Busy);
        assert_eq!(ShowAs::from_graph("free"), ShowAs::Free);
        assert_eq!(ShowAs::from_graph("tentative"), ShowAs::Tentative);
        assert_eq!(ShowAs::from_graph("whatever"), ShowAs::Unknown);
        assert_eq!(
            ResponseStatus::from_graph("tentativelyAccepted"),
            ResponseStatus::TentativelyAccepted
        );
        assert_eq!(
            ResponseStatus::from_graph("declined"),
            ResponseStatus::Declined
        );
        assert_eq!(
            ResponseStatus::from_graph("organizer"),
            ResponseStatus::Organizer
        );
        assert_eq!(
            ResponseStatus::from_graph("accepted"),
            ResponseStatus::Accepted
        );
        assert_eq!(
            ResponseStatus::from_graph("notResponded"),
            ResponseStatus::NotResponded
        );
        assert_eq!(ResponseStatus::from_graph("none"), ResponseStatus::None);
        assert_eq!(
            ReminderSetting::from_graph(Some(false), Some(15)),
            ReminderSetting::Off
        );
        assert_eq!(
            ReminderSetting::from_graph(Some(true), Some(15)),
            ReminderSetting::Minutes(15)
        );
        assert_eq!(
            ReminderSetting::from_graph(None, None),
            ReminderSetting::Unset
        );
        assert_eq!(ReminderSetting::Unset.minutes(), Some(10));
        assert_eq!(ReminderSetting::Off.minutes(), None);
    }

    #[test]
    fn listed_unless_cancelled_or_declined() {
        let when = EventTime::all_day(date(2026, 11, 23), date(2026, 11, 23));
        let mut event = Event::new("1", "x", when);
        assert!(event.is_listed());
        event.response = ResponseStatus::Declined;
        assert!(!event.is_listed());
        event.response = ResponseStatus::TentativelyAccepted;
        event.is_cancelled = true;
        assert!(!event.is_listed());
    }

    #[test]
    fn all_day_events_start_at_local_midnight() {
        let when = EventTime::all_day(date(2026, 3, 8), date(2026, 3, 8));
        let ny = chrono_tz::America::New_York;
        let tokyo = chrono_tz::Asia::Tokyo;
        assert_eq!(when.start_in(ny).to_rfc3339(), "2026-03-08T05:00:00+00:00");
        // The day New York springs forward is 23 hours long.
        assert_eq!(when.end_in(ny).to_rfc3339(), "2026-03-09T04:00:00+00:00");
        assert_eq!(
            when.start_in(tokyo).to_rfc3339(),
            "2026-03-07T15:00:00+00:00"
        );
        // Santiago springs forward at midnight: the day starts at 01:00.
        let santiago = chrono_tz::America::Santiago;
        let when = EventTime::all_day(date(2026, 9, 6), date(2026, 9, 6));
        let start = when.start_in(santiago).with_timezone(&santiago);
        assert_eq!(start.to_rfc3339(), "2026-09-06T01:00:00-03:00");
    }

    #[test]
    fn graph_times() {
        let when = EventTime::from_graph(
            false,
            "2026-11-23T09:00:00.0000000",
            "W. Europe Standard Time",
            "2026-11-23T09:30:00.0000000",
            "Europe/Berlin",
        );
        assert_eq!(
            when,
            Some(EventTime::timed(
                Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap(),
                Utc.with_ymd_and_hms(2026, 11, 23, 8, 30, 0).unwrap()
            ))
        );
        let when = EventTime::from_graph(
            true,
            "2026-11-23T00:00:00.0000000",
            "UTC",
            "2026-11-25T00:00:00.0000000",
            "UTC",
        );
        assert_eq!(
            when,
            Some(EventTime::all_day(date(2026, 11, 23), date(2026, 11, 24)))
        );
        assert_eq!(
            EventTime::from_graph(false, "soon", "UTC", "later", "UTC"),
            None
        );
        assert_eq!(
            EventTime::from_graph(
                false,
                "2026-11-23T09:00:00",
                "Nowhere",
                "2026-11-23T09:00:00",
                "UTC"
            ),
            None
        );
    }

    #[test]
    fn events_round_trip_as_json() {
        let mut event = Event::new(
            "AAMk=",
            "Standup",
            EventTime::timed(
                Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap(),
                Utc.with_ymd_and_hms(2026, 11, 23, 8, 15, 0).unwrap(),
            ),
        );
        event.reminder = ReminderSetting::Minutes(5);
        let json = serde_json::to_string(&event).expect("json");
        let back: Event = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, event);
    }
}
