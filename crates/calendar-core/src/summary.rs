//! The daily summary (C2): when it is due, and the user's words for its time and days.
//!
//! A summary is due once per local date: on a chosen weekday, from the scheduled local time
//! onward, if none was sent for that date yet. The service keeps the last date it sent
//! (`last_sent`, written with the ledger entry `(user, summary:<date>)`), so:
//!
//! - a summary is never sent twice for a date, whatever the replicas and restarts;
//! - a process that was down at the scheduled minute and comes back later **the same local day**
//!   still sends it, once;
//! - a summary missed for a previous local day is **not** sent late: a process that comes back
//!   after local midnight skips it, because yesterday's agenda is no use today.
//!
//! Local wall times are resolved as [`crate::tz::local_to_utc`] does: a scheduled time that the
//! clocks skip (02:30 on a spring-forward night) falls due at the first instant after the gap; one
//! that happens twice (01:30 on a fall-back night) falls due the first time.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::markdown::escape_text_within;
use crate::tz::local_to_utc;

/// When a user gets the daily summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SummarySchedule {
    /// Whether summaries are sent at all.
    pub enabled: bool,
    /// Local time of day in the user's zone.
    pub time: NaiveTime,
    /// The local days of the week it comes on.
    pub weekdays: Weekdays,
}

impl Default for SummarySchedule {
    /// Off; when turned on, 8:00 AM Monday to Friday.
    fn default() -> Self {
        Self {
            enabled: false,
            time: NaiveTime::from_hms_opt(8, 0, 0).unwrap_or(NaiveTime::MIN),
            weekdays: Weekdays::workdays(),
        }
    }
}

/// A set of days of the week. Stored in JSON as a list of short names (`["mon", "tue"]`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct Weekdays(u8);

impl Weekdays {
    /// No day.
    pub const fn none() -> Self {
        Self(0)
    }

    /// Every day.
    pub const fn all() -> Self {
        Self(0b111_1111)
    }

    /// Monday to Friday.
    pub const fn workdays() -> Self {
        Self(0b001_1111)
    }

    /// Saturday and Sunday.
    pub const fn weekends() -> Self {
        Self(0b110_0000)
    }

    const fn bit(day: Weekday) -> u8 {
        1 << day.num_days_from_monday()
    }

    /// Whether `day` is in the set.
    pub fn contains(self, day: Weekday) -> bool {
        self.0 & Self::bit(day) != 0
    }

    /// Adds `day`.
    pub fn insert(&mut self, day: Weekday) {
        self.0 |= Self::bit(day);
    }

    /// The same set with `day` added.
    #[must_use]
    pub fn with(mut self, day: Weekday) -> Self {
        self.insert(day);
        self
    }

    /// Whether no day is in the set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The days in the set, Monday first.
    pub fn iter(self) -> impl Iterator<Item = Weekday> {
        DAYS.into_iter().filter(move |d| self.contains(*d))
    }

    /// The set as a bit field, bit 0 for Monday to bit 6 for Sunday.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// The set from [`Weekdays::bits`]; bits above 6 are ignored.
    pub fn from_bits(bits: u8) -> Self {
        Self(bits & Self::all().0)
    }
}

impl FromIterator<Weekday> for Weekdays {
    fn from_iter<I: IntoIterator<Item = Weekday>>(iter: I) -> Self {
        let mut set = Self::none();
        for day in iter {
            set.insert(day);
        }
        set
    }
}

const DAYS: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

fn short_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "mon",
        Weekday::Tue => "tue",
        Weekday::Wed => "wed",
        Weekday::Thu => "thu",
        Weekday::Fri => "fri",
        Weekday::Sat => "sat",
        Weekday::Sun => "sun",
    }
}

/// "Mon, Tue, Wed", or "no days".
impl fmt::Display for Weekdays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("no days");
        }
        let names: Vec<String> = self.iter().map(|d| d.to_string()).collect();
        f.write_str(&names.join(", "))
    }
}

impl fmt::Debug for Weekdays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Weekdays({self})")
    }
}

impl From<Weekdays> for Vec<String> {
    fn from(days: Weekdays) -> Self {
        days.iter().map(|d| short_name(d).to_owned()).collect()
    }
}

impl TryFrom<Vec<String>> for Weekdays {
    type Error = ParseError;

    /// From stored names; an empty list is the empty set (unlike [`parse_weekdays`], which is
    /// for what users type).
    fn try_from(names: Vec<String>) -> Result<Self, Self::Error> {
        names
            .iter()
            .map(|name| {
                day_from_name(&name.trim().to_ascii_lowercase())
                    .ok_or_else(|| ParseError::weekday(name))
            })
            .collect()
    }
}

/// Why a time or a set of days typed by a user was not understood. The messages are written for
/// that user; what they typed is quoted shortened and escaped, so it is safe in a post.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// No time was given.
    #[error("A time is needed; use h:mm AM/PM, e.g. 8:00 AM")]
    EmptyTime,
    /// Not a time.
    #[error("\"{input}\" is not a time; use h:mm AM/PM, e.g. 8:00 AM")]
    Time {
        /// What was typed, shortened and escaped.
        input: String,
    },
    /// Not a day of the week.
    #[error(
        "\"{input}\" is not a day of the week; use names such as mon,tue,fri, a range such as \
         mon-fri, or weekdays, weekends or all"
    )]
    Weekday {
        /// The word, shortened and escaped.
        input: String,
    },
    /// No day was given.
    #[error("Choose at least one day, e.g. mon-fri")]
    NoWeekdays,
}

impl ParseError {
    fn time(input: &str) -> Self {
        Self::Time {
            input: escape_text_within(input, 40),
        }
    }

    fn weekday(input: &str) -> Self {
        Self::Weekday {
            input: escape_text_within(input, 40),
        }
    }
}

/// A time of day as a user types it: `8:00 AM`, `8:00am`, `08:30 PM`, `8 am`, `12:00 PM`
/// (noon), `12:15 AM` (a quarter past midnight), or 24-hour `20:00`.
///
/// ```
/// use calendar_core::summary::parse_time;
/// use chrono::NaiveTime;
/// assert_eq!(parse_time("8:30 pm"), Ok(NaiveTime::from_hms_opt(20, 30, 0).unwrap()));
/// assert_eq!(
///     parse_time("8:60 AM").unwrap_err().to_string(),
///     "\"8:60 AM\" is not a time; use h:mm AM/PM, e.g. 8:00 AM"
/// );
/// ```
pub fn parse_time(input: &str) -> Result<NaiveTime, ParseError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(ParseError::EmptyTime);
    }
    let bad = || ParseError::time(trimmed);
    let lower = trimmed.to_ascii_lowercase().replace('.', "");
    let (clock, meridiem) = if let Some(rest) = lower.strip_suffix("am") {
        (rest.trim_end(), Some(false))
    } else if let Some(rest) = lower.strip_suffix("pm") {
        (rest.trim_end(), Some(true))
    } else {
        (lower.as_str(), None)
    };
    let (hour, minute) = match clock.split_once(':') {
        Some((h, m)) => (h, Some(m)),
        None => (clock, None),
    };
    let number = |s: &str, max_len: usize| {
        if s.is_empty() || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
            None
        } else {
            s.parse::<u32>().ok()
        }
    };
    let hour = number(hour, 2).ok_or_else(bad)?;
    let minute = match minute {
        Some(m) if m.len() == 2 => number(m, 2).ok_or_else(bad)?,
        Some(_) => return Err(bad()),
        // "8" alone is too vague; "8 am" is not.
        None if meridiem.is_some() => 0,
        None => return Err(bad()),
    };
    if minute > 59 {
        return Err(bad());
    }
    let hour = match meridiem {
        Some(pm) => {
            if !(1..=12).contains(&hour) {
                return Err(bad());
            }
            (hour % 12) + if pm { 12 } else { 0 }
        }
        None if hour <= 23 => hour,
        None => return Err(bad()),
    };
    NaiveTime::from_hms_opt(hour, minute, 0).ok_or_else(bad)
}

/// A time of day in 12-hour form: "8:00 AM", "12:15 AM", "12:00 PM".
pub fn format_time(time: NaiveTime) -> String {
    let (pm, hour) = time.hour12();
    format!(
        "{hour}:{:02} {}",
        time.minute(),
        if pm { "PM" } else { "AM" }
    )
}

fn day_from_name(name: &str) -> Option<Weekday> {
    Some(match name {
        "mon" | "monday" => Weekday::Mon,
        "tue" | "tues" | "tuesday" => Weekday::Tue,
        "wed" | "weds" | "wednesday" => Weekday::Wed,
        "thu" | "thur" | "thurs" | "thursday" => Weekday::Thu,
        "fri" | "friday" => Weekday::Fri,
        "sat" | "saturday" => Weekday::Sat,
        "sun" | "sunday" => Weekday::Sun,
        _ => return None,
    })
}

/// Days of the week as a user types them: names or short names separated by commas or spaces
/// (`mon,tue,fri`, `Mon Tue`, `monday, wednesday`), ranges (`mon-fri`, or `fri-mon` across the
/// weekend), and the words `weekdays`/`workdays`, `weekends`, `all`/`everyday`/`every day`/`daily`.
///
/// ```
/// use calendar_core::summary::{Weekdays, parse_weekdays};
/// assert_eq!(parse_weekdays("mon-fri"), Ok(Weekdays::workdays()));
/// assert!(parse_weekdays("funday").is_err());
/// ```
pub fn parse_weekdays(input: &str) -> Result<Weekdays, ParseError> {
    let lower = input.trim().to_lowercase().replace(['–', '—'], "-");
    if matches!(lower.as_str(), "every day" | "every-day") {
        return Ok(Weekdays::all());
    }
    // "mon - fri" is one range.
    let mut joined = String::with_capacity(lower.len());
    for part in lower.split('-') {
        if !joined.is_empty() {
            joined.push('-');
        }
        joined.push_str(part.trim());
    }
    let mut days = Weekdays::none();
    for token in joined
        .split(|c: char| c == ',' || c == ';' || c == '/' || c.is_whitespace())
        .filter(|t| !t.is_empty())
    {
        match token {
            "weekdays" | "weekday" | "workdays" | "workday" => {
                days = Weekdays(days.0 | Weekdays::workdays().0);
            }
            "weekends" | "weekend" => days = Weekdays(days.0 | Weekdays::weekends().0),
            "all" | "everyday" | "daily" => days = Weekdays::all(),
            _ => {
                if let Some((from, to)) = token.split_once('-') {
                    let from = day_from_name(from).ok_or_else(|| ParseError::weekday(from))?;
                    let to = day_from_name(to).ok_or_else(|| ParseError::weekday(to))?;
                    let mut day = from;
                    loop {
                        days.insert(day);
                        if day == to {
                            break;
                        }
                        day = day.succ();
                    }
                } else {
                    days.insert(day_from_name(token).ok_or_else(|| ParseError::weekday(token))?);
                }
            }
        }
    }
    if days.is_empty() {
        return Err(ParseError::NoWeekdays);
    }
    Ok(days)
}

/// The instant the summary for local `date` falls due, whether or not `date` is a chosen day.
pub fn due_at(schedule: &SummarySchedule, tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    local_to_utc(tz, date.and_time(schedule.time))
}

/// The local date whose summary is due at `now`, if any: summaries are on, today (in `tz`) is a
/// chosen weekday, its scheduled time has come, and `last_sent` is an earlier date (or none).
/// See the module docs for why a missed day is not sent late.
pub fn summary_due(
    schedule: &SummarySchedule,
    tz: Tz,
    now: DateTime<Utc>,
    last_sent: Option<NaiveDate>,
) -> Option<NaiveDate> {
    if !schedule.enabled {
        return None;
    }
    let today = now.with_timezone(&tz).date_naive();
    let sent = last_sent.is_some_and(|sent| sent >= today);
    let due =
        schedule.weekdays.contains(today.weekday()) && !sent && now >= due_at(schedule, tz, today);
    due.then_some(today)
}

/// The first instant at or after `now` when a summary falls due (`now` itself when one is due
/// already), or `None` when summaries are off or no day is chosen. The service stores it per
/// user, so that a job can pick the users due in the coming minute with an index, and computes it
/// again after sending, after a settings change and after a time-zone change.
pub fn next_summary_at(
    schedule: &SummarySchedule,
    tz: Tz,
    now: DateTime<Utc>,
    last_sent: Option<NaiveDate>,
) -> Option<DateTime<Utc>> {
    if !schedule.enabled || schedule.weekdays.is_empty() {
        return None;
    }
    if summary_due(schedule, tz, now, last_sent).is_some() {
        return Some(now);
    }
    let today = now.with_timezone(&tz).date_naive();
    let mut date = match last_sent {
        Some(sent) if sent >= today => sent.succ_opt()?,
        _ => today,
    };
    // A chosen day comes within a week; a second week covers a time the clocks skip past
    // midnight.
    for _ in 0..14 {
        if schedule.weekdays.contains(date.weekday()) {
            let at = due_at(schedule, tz, date);
            if at >= now && at.with_timezone(&tz).date_naive() == date {
                return Some(at);
            }
        }
        date = date.succ_opt()?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};
    use proptest::prelude::*;

    fn time(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    fn on_at(h: u32, m: u32, weekdays: Weekdays) -> SummarySchedule {
        SummarySchedule {
            enabled: true,
            time: time(h, m),
            weekdays,
        }
    }

    #[test]
    fn times_users_type() {
        for (input, h, m) in [
            ("8:00 AM", 8, 0),
            ("8:00am", 8, 0),
            ("08:30 PM", 20, 30),
            ("12:00 PM", 12, 0),
            ("12:15 AM", 0, 15),
            ("12:00 am", 0, 0),
            ("20:00", 20, 0),
            ("0:05", 0, 5),
            ("23:59", 23, 59),
            (" 7:45  p.m. ", 19, 45),
            ("8 am", 8, 0),
            ("11PM", 23, 0),
        ] {
            assert_eq!(parse_time(input), Ok(time(h, m)), "{input}");
        }
        for input in [
            "13:00 PM", "25:00", "24:00", "8", "8:60 AM", "0:30 AM", "8:5", "8:005", "-1:00",
            "8:00 XM", "eight", "8:00:00", "１:00",
        ] {
            let err = parse_time(input).expect_err(input);
            assert!(matches!(err, ParseError::Time { .. }), "{input}: {err:?}");
        }
        assert_eq!(parse_time(" "), Err(ParseError::EmptyTime));
        assert_eq!(
            parse_time("25:00").unwrap_err().to_string(),
            "\"25:00\" is not a time; use h:mm AM/PM, e.g. 8:00 AM"
        );
        assert_eq!(
            parse_time("").unwrap_err().to_string(),
            "A time is needed; use h:mm AM/PM, e.g. 8:00 AM"
        );
        // What the user typed is quoted safely.
        let err = parse_time("@all *8*").unwrap_err().to_string();
        assert!(!err.contains("@all") && err.contains("\\*8\\*"), "{err}");
    }

    #[test]
    fn times_shown_in_12_hour_form() {
        assert_eq!(format_time(time(8, 0)), "8:00 AM");
        assert_eq!(format_time(time(0, 15)), "12:15 AM");
        assert_eq!(format_time(time(12, 0)), "12:00 PM");
        assert_eq!(format_time(time(23, 5)), "11:05 PM");
        for h in 0..24 {
            for m in [0, 1, 30, 59] {
                assert_eq!(parse_time(&format_time(time(h, m))), Ok(time(h, m)));
            }
        }
    }

    #[test]
    fn weekdays_users_type() {
        use Weekday::*;
        let set = |days: &[Weekday]| days.iter().copied().collect::<Weekdays>();
        for (input, days) in [
            ("mon,tue,fri", set(&[Mon, Tue, Fri])),
            ("Mon Tue", set(&[Mon, Tue])),
            ("mon-fri", Weekdays::workdays()),
            ("Mon – Fri", Weekdays::workdays()),
            ("monday,wednesday", set(&[Mon, Wed])),
            ("monday, wednesday", set(&[Mon, Wed])),
            ("weekdays", Weekdays::workdays()),
            ("weekends", set(&[Sat, Sun])),
            ("all", Weekdays::all()),
            ("everyday", Weekdays::all()),
            ("Every Day", Weekdays::all()),
            ("fri-mon", set(&[Fri, Sat, Sun, Mon])),
            ("sun", set(&[Sun])),
            ("thurs,sat,sat", set(&[Thu, Sat])),
            ("weekends mon", set(&[Sat, Sun, Mon])),
        ] {
            assert_eq!(parse_weekdays(input), Ok(days), "{input}");
        }
        assert_eq!(parse_weekdays(""), Err(ParseError::NoWeekdays));
        assert_eq!(parse_weekdays(" , "), Err(ParseError::NoWeekdays));
        assert_eq!(
            parse_weekdays("mon,funday").unwrap_err().to_string(),
            "\"funday\" is not a day of the week; use names such as mon,tue,fri, a range such as mon-fri, or weekdays, weekends or all"
        );
        assert!(matches!(
            parse_weekdays("mon-"),
            Err(ParseError::Weekday { .. })
        ));
        assert!(matches!(
            parse_weekdays("mon-tue-wed"),
            Err(ParseError::Weekday { .. })
        ));
        assert_eq!(
            ParseError::NoWeekdays.to_string(),
            "Choose at least one day, e.g. mon-fri"
        );
    }

    #[test]
    fn weekdays_display_and_json() {
        assert_eq!(Weekdays::workdays().to_string(), "Mon, Tue, Wed, Thu, Fri");
        assert_eq!(Weekdays::none().to_string(), "no days");
        assert_eq!(format!("{:?}", Weekdays::weekends()), "Weekdays(Sat, Sun)");
        assert!(Weekdays::all().contains(Weekday::Sun));
        assert!(!Weekdays::workdays().contains(Weekday::Sat));
        assert_eq!(Weekdays::from_bits(0xff), Weekdays::all());
        assert_eq!(Weekdays::workdays().bits(), 0b1_1111);
        let json = serde_json::to_string(&Weekdays::weekends()).unwrap();
        assert_eq!(json, r#"["sat","sun"]"#);
        assert_eq!(
            serde_json::from_str::<Weekdays>("[]").unwrap(),
            Weekdays::none()
        );
        assert!(serde_json::from_str::<Weekdays>(r#"["moon"]"#).is_err());
        let schedule = SummarySchedule::default();
        assert!(!schedule.enabled);
        assert_eq!(schedule.time, time(8, 0));
        assert_eq!(schedule.weekdays, Weekdays::workdays());
        let json = serde_json::to_string(&schedule).unwrap();
        assert_eq!(
            json,
            r#"{"enabled":false,"time":"08:00:00","weekdays":["mon","tue","wed","thu","fri"]}"#
        );
        assert_eq!(
            serde_json::from_str::<SummarySchedule>(&json).unwrap(),
            schedule
        );
        // Missing fields take their defaults.
        assert_eq!(
            serde_json::from_str::<SummarySchedule>(r#"{"enabled":true}"#).unwrap(),
            SummarySchedule {
                enabled: true,
                ..SummarySchedule::default()
            }
        );
    }

    #[test]
    fn due_from_the_minute_until_sent_and_only_that_day() {
        let paris = chrono_tz::Europe::Paris;
        let s = on_at(8, 0, Weekdays::workdays());
        let monday = date(2026, 11, 23);
        // 07:59 Paris (06:59 UTC): not yet.
        assert_eq!(summary_due(&s, paris, utc(2026, 11, 23, 6, 59), None), None);
        assert_eq!(
            next_summary_at(&s, paris, utc(2026, 11, 23, 6, 59), None),
            Some(utc(2026, 11, 23, 7, 0))
        );
        // 08:00: due.
        assert_eq!(
            summary_due(&s, paris, utc(2026, 11, 23, 7, 0), None),
            Some(monday)
        );
        // Sent: not again that day, not even after a restart.
        let sent = Some(monday);
        assert_eq!(summary_due(&s, paris, utc(2026, 11, 23, 7, 1), sent), None);
        assert_eq!(
            summary_due(&s, paris, utc(2026, 11, 23, 22, 59), sent),
            None
        );
        assert_eq!(
            next_summary_at(&s, paris, utc(2026, 11, 23, 7, 1), sent),
            Some(utc(2026, 11, 24, 7, 0))
        );
        // Down at 08:00, back at 15:00 the same day: still sent.
        let earlier = Some(date(2026, 11, 20));
        assert_eq!(
            summary_due(&s, paris, utc(2026, 11, 23, 14, 0), earlier),
            Some(monday)
        );
        // Back at 23:59 Paris: still that day.
        assert_eq!(
            summary_due(&s, paris, utc(2026, 11, 23, 22, 59), earlier),
            Some(monday)
        );
        // Back after local midnight: Monday's is skipped, Tuesday's comes at 08:00.
        assert_eq!(
            summary_due(&s, paris, utc(2026, 11, 23, 23, 0), earlier),
            None
        );
        assert_eq!(
            next_summary_at(&s, paris, utc(2026, 11, 23, 23, 0), earlier),
            Some(utc(2026, 11, 24, 7, 0))
        );
        // Friday sent: next is Monday.
        assert_eq!(
            next_summary_at(&s, paris, utc(2026, 11, 27, 9, 0), Some(date(2026, 11, 27))),
            Some(utc(2026, 11, 30, 7, 0))
        );
        // Saturday: not a chosen day.
        assert_eq!(
            summary_due(&s, paris, utc(2026, 11, 28, 9, 0), earlier),
            None
        );
        // Off, or no days: never.
        let off = SummarySchedule {
            enabled: false,
            ..s
        };
        assert_eq!(
            summary_due(&off, paris, utc(2026, 11, 23, 9, 0), None),
            None
        );
        assert_eq!(
            next_summary_at(&off, paris, utc(2026, 11, 23, 9, 0), None),
            None
        );
        let none = SummarySchedule {
            weekdays: Weekdays::none(),
            ..s
        };
        assert_eq!(
            next_summary_at(&none, paris, utc(2026, 11, 23, 9, 0), None),
            None
        );
        // A ledger date in the future (a clock set back) holds summaries until after it.
        assert_eq!(
            next_summary_at(&s, paris, utc(2026, 11, 23, 9, 0), Some(date(2026, 12, 1))),
            Some(utc(2026, 12, 2, 7, 0))
        );
    }

    #[test]
    fn zones_east_and_west_of_utc() {
        let s = on_at(8, 0, Weekdays::all());
        for (tz, due_utc, local_date) in [
            // 08:00 JST on the 23rd is 23:00 UTC on the 22nd.
            (
                chrono_tz::Asia::Tokyo,
                utc(2026, 11, 22, 23, 0),
                date(2026, 11, 23),
            ),
            // 08:00 NZDT (+13) on the 23rd is 19:00 UTC on the 22nd.
            (
                chrono_tz::Pacific::Auckland,
                utc(2026, 11, 22, 19, 0),
                date(2026, 11, 23),
            ),
            // 08:00 PST (-8) is 16:00 UTC the same day.
            (
                chrono_tz::America::Los_Angeles,
                utc(2026, 11, 23, 16, 0),
                date(2026, 11, 23),
            ),
            // 08:00 IST (+5:30) is 02:30 UTC.
            (
                chrono_tz::Asia::Kolkata,
                utc(2026, 11, 23, 2, 30),
                date(2026, 11, 23),
            ),
        ] {
            let before = due_utc - TimeDelta::minutes(1);
            assert_eq!(summary_due(&s, tz, before, None), None, "{tz}");
            assert_eq!(next_summary_at(&s, tz, before, None), Some(due_utc), "{tz}");
            assert_eq!(summary_due(&s, tz, due_utc, None), Some(local_date), "{tz}");
        }
        // A Monday-only summary in Tokyo is due on Sunday in UTC terms.
        let monday_only = on_at(8, 0, Weekdays::none().with(Weekday::Mon));
        let tokyo = chrono_tz::Asia::Tokyo;
        assert_eq!(
            summary_due(&monday_only, tokyo, utc(2026, 11, 22, 23, 0), None),
            Some(date(2026, 11, 23))
        );
        // Tuesday 09:00 in Tokyo: the next one is next Monday.
        assert_eq!(
            next_summary_at(&monday_only, tokyo, utc(2026, 11, 17, 0, 0), None),
            Some(utc(2026, 11, 22, 23, 0))
        );
        // Monday 09:00 in Tokyo (Monday 00:00 UTC), not sent yet: due now.
        assert_eq!(
            next_summary_at(&monday_only, tokyo, utc(2026, 11, 16, 0, 0), None),
            Some(utc(2026, 11, 16, 0, 0))
        );
    }

    #[test]
    fn across_clock_changes() {
        let ny = chrono_tz::America::New_York;
        // 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00 UTC).
        let gap = on_at(2, 30, Weekdays::all());
        assert_eq!(due_at(&gap, ny, date(2026, 3, 8)), utc(2026, 3, 8, 7, 0));
        assert_eq!(summary_due(&gap, ny, utc(2026, 3, 8, 6, 59), None), None);
        assert_eq!(
            summary_due(&gap, ny, utc(2026, 3, 8, 7, 0), None),
            Some(date(2026, 3, 8))
        );
        assert_eq!(
            next_summary_at(&gap, ny, utc(2026, 3, 8, 0, 0), Some(date(2026, 3, 7))),
            Some(utc(2026, 3, 8, 7, 0))
        );
        // 8:00 AM is EDT (12:00 UTC) after the change, EST (13:00 UTC) before.
        let eight = on_at(8, 0, Weekdays::all());
        assert_eq!(due_at(&eight, ny, date(2026, 3, 7)), utc(2026, 3, 7, 13, 0));
        assert_eq!(due_at(&eight, ny, date(2026, 3, 8)), utc(2026, 3, 8, 12, 0));
        assert_eq!(
            next_summary_at(&eight, ny, utc(2026, 3, 7, 14, 0), Some(date(2026, 3, 7))),
            Some(utc(2026, 3, 8, 12, 0))
        );
        // 2026-11-01: 02:00 EDT falls back to 01:00 EST; 01:30 happens twice.
        let twice = on_at(1, 30, Weekdays::all());
        let nov1 = date(2026, 11, 1);
        assert_eq!(due_at(&twice, ny, nov1), utc(2026, 11, 1, 5, 30));
        assert_eq!(
            summary_due(&twice, ny, utc(2026, 11, 1, 5, 30), None),
            Some(nov1)
        );
        // The second 01:30 (EST, 06:30 UTC) sends nothing more.
        assert_eq!(
            summary_due(&twice, ny, utc(2026, 11, 1, 6, 30), Some(nov1)),
            None
        );
        assert_eq!(
            next_summary_at(&twice, ny, utc(2026, 11, 1, 5, 31), Some(nov1)),
            Some(utc(2026, 11, 2, 6, 30))
        );
        assert_eq!(due_at(&eight, ny, nov1), utc(2026, 11, 1, 13, 0));

        let berlin = chrono_tz::Europe::Berlin;
        // 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00 UTC).
        let gap = on_at(2, 15, Weekdays::all());
        assert_eq!(
            due_at(&gap, berlin, date(2026, 3, 29)),
            utc(2026, 3, 29, 1, 0)
        );
        assert_eq!(
            due_at(&eight, berlin, date(2026, 3, 29)),
            utc(2026, 3, 29, 6, 0)
        );
        assert_eq!(
            due_at(&eight, berlin, date(2026, 3, 28)),
            utc(2026, 3, 28, 7, 0)
        );
        // 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:15 happens twice.
        assert_eq!(
            due_at(&gap, berlin, date(2026, 10, 25)),
            utc(2026, 10, 25, 0, 15)
        );
        assert_eq!(
            due_at(&eight, berlin, date(2026, 10, 25)),
            utc(2026, 10, 25, 7, 0)
        );
        assert_eq!(
            summary_due(
                &gap,
                berlin,
                utc(2026, 10, 25, 1, 15),
                Some(date(2026, 10, 25))
            ),
            None
        );
    }

    /// Steps the clock through eight days, sending whenever a summary is due, and returns the
    /// dates sent. `down` is a window during which the process does not run.
    fn simulate(
        schedule: &SummarySchedule,
        tz: Tz,
        start: DateTime<Utc>,
        step: TimeDelta,
        down: Option<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> Vec<NaiveDate> {
        let mut sent = Vec::new();
        let mut last_sent = None;
        let mut now = start;
        while now < start + TimeDelta::days(8) {
            let running = down.is_none_or(|(from, to)| now < from || now >= to);
            if running && let Some(date) = summary_due(schedule, tz, now, last_sent) {
                sent.push(date);
                last_sent = Some(date);
                assert_eq!(summary_due(schedule, tz, now, last_sent), None);
            }
            now += step;
        }
        sent
    }

    #[test]
    fn restarts_before_and_after_the_due_minute() {
        let la = chrono_tz::America::Los_Angeles;
        let s = on_at(9, 0, Weekdays::workdays());
        let start = utc(2026, 11, 22, 8, 0); // Sunday 00:00 PST
        let all = simulate(&s, la, start, TimeDelta::minutes(1), None);
        assert_eq!(all.len(), 5);
        // Down from 08:00 to 12:00 on Monday (16:00-20:00 UTC): sent at 12:00, once.
        let down = Some((utc(2026, 11, 23, 16, 0), utc(2026, 11, 23, 20, 0)));
        assert_eq!(simulate(&s, la, start, TimeDelta::minutes(1), down), all);
        // Down from 08:00 Monday to 01:00 Tuesday: Monday's is skipped.
        let down = Some((utc(2026, 11, 23, 16, 0), utc(2026, 11, 24, 9, 0)));
        let sent = simulate(&s, la, start, TimeDelta::minutes(1), down);
        assert_eq!(sent, all[1..]);
        // Down from 08:59 to 09:01: sent at 09:01.
        let down = Some((utc(2026, 11, 23, 16, 59), utc(2026, 11, 23, 17, 1)));
        assert_eq!(simulate(&s, la, start, TimeDelta::minutes(1), down), all);
    }

    fn zones() -> Vec<Tz> {
        vec![
            Tz::UTC,
            chrono_tz::America::New_York,
            chrono_tz::America::Los_Angeles,
            chrono_tz::America::Santiago,
            chrono_tz::America::St_Johns,
            chrono_tz::Europe::Berlin,
            chrono_tz::Europe::London,
            chrono_tz::Asia::Tokyo,
            chrono_tz::Asia::Kolkata,
            chrono_tz::Asia::Kathmandu,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::Pacific::Auckland,
            chrono_tz::Pacific::Chatham,
            chrono_tz::Pacific::Kiritimati,
            chrono_tz::Pacific::Pago_Pago,
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Stepping through eight days (starting near the clock changes of 2026 half the time),
        /// a summary is due at most once per local date, exactly once on each chosen weekday
        /// the clock passes the due time of, and next_summary_at predicts each one.
        #[test]
        fn due_once_per_chosen_day(
            zone in 0usize..15,
            minute_of_day in 0u32..1440,
            bits in 1u8..128,
            start_offset_hours in 0i64..24 * 366,
            near_change in any::<bool>(),
            step_minutes in prop::sample::select(vec![1i64, 7, 15, 60]),
        ) {
            let tz = zones()[zone];
            let schedule = on_at(minute_of_day / 60, minute_of_day % 60, Weekdays::from_bits(bits));
            let start = if near_change {
                let changes = [utc(2026, 3, 5, 0, 0), utc(2026, 3, 26, 0, 0), utc(2026, 10, 22, 0, 0),
                               utc(2026, 10, 29, 0, 0), utc(2026, 4, 2, 0, 0), utc(2026, 9, 3, 0, 0)];
                changes[(start_offset_hours as usize) % changes.len()]
                    + TimeDelta::minutes(start_offset_hours % 97)
            } else {
                utc(2026, 1, 1, 0, 0) + TimeDelta::hours(start_offset_hours)
            };
            let step = TimeDelta::minutes(step_minutes);
            let end = start + TimeDelta::days(8);
            let mut last_sent = None;
            let mut sent: Vec<NaiveDate> = Vec::new();
            let mut predicted = next_summary_at(&schedule, tz, start, None);
            let mut now = start;
            while now < end {
                if let Some(date) = summary_due(&schedule, tz, now, last_sent) {
                    prop_assert!(!sent.contains(&date), "{date} sent twice");
                    prop_assert!(schedule.weekdays.contains(date.weekday()));
                    // The prediction was for this date, and this is the first tick since.
                    let at = predicted.expect("a due summary was predicted");
                    prop_assert!(at <= now && (now - at < step || at == now),
                        "due at {now}, predicted {at}");
                    prop_assert_eq!(at.with_timezone(&tz).date_naive(), date);
                    sent.push(date);
                    last_sent = Some(date);
                    predicted = next_summary_at(&schedule, tz, now, last_sent);
                    prop_assert!(predicted.is_some_and(|next| next > now));
                } else if let Some(at) = predicted.filter(|at| *at <= now) {
                    // No tick fell between the due time and local midnight: that day is
                    // skipped, and the service computes the next time again.
                    prop_assert!(at.with_timezone(&tz).date_naive() < now.with_timezone(&tz).date_naive(),
                        "predicted {at}, nothing due at {now}");
                    predicted = next_summary_at(&schedule, tz, now, last_sent);
                }
                now += step;
            }
            // Every chosen local date whose due instant the run passed with time to notice got
            // its summary (the first one only if the run started before it was due).
            let first = start.with_timezone(&tz).date_naive();
            let last = (end - step).with_timezone(&tz).date_naive();
            let mut date = first;
            while date <= last {
                let at = due_at(&schedule, tz, date);
                let same_day_end = crate::agenda::day_bounds(tz, date).1.min(end);
                let observed = at >= start && at < same_day_end - step;
                if schedule.weekdays.contains(date.weekday()) && observed {
                    prop_assert!(sent.contains(&date), "{date} ({tz}) not sent; sent {sent:?}");
                }
                if !schedule.weekdays.contains(date.weekday()) {
                    prop_assert!(!sent.contains(&date));
                }
                date = date.succ_opt().unwrap();
            }
        }
    }
}
