//! A day's agenda (C2, and `/mscalendar today`/`tomorrow`): which events fall on a local day, in
//! what order, and the Markdown that lists them.
//!
//! A local day is `[midnight, next midnight)` in the user's zone, so it is 23 or 25 hours long on
//! the days the clocks change. All-day events float: they are on their dates whatever the zone.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;

use crate::event::{Event, EventTime, ResponseStatus, midnight};
use crate::markdown::{escape_text, link};
use crate::summary::format_time;

/// One event on the agenda of a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgendaEntry {
    /// The event, as given.
    pub event: Event,
    /// How the event covers the day.
    pub span: Span,
}

/// How an event covers one local day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// An all-day event.
    AllDay {
        /// It covers other days too.
        multi_day: bool,
    },
    /// A timed event, in local wall times of the agenda's zone.
    Timed {
        /// When it starts (on an earlier date when `starts_earlier`).
        start: NaiveDateTime,
        /// When it ends (on a later date when `ends_later`).
        end: NaiveDateTime,
        /// It began before this day.
        starts_earlier: bool,
        /// It goes on after this day.
        ends_later: bool,
    },
}

/// The instants that bound local `date` in `tz`: its first instant and the next day's.
pub fn day_bounds(tz: Tz, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let next = date.succ_opt().unwrap_or(date);
    (midnight(tz, date), midnight(tz, next))
}

/// The events on local `date` in `tz`: those overlapping `[midnight, next midnight)`, cancelled
/// and declined ones left out; all-day events first, then by start, then by subject.
///
/// A timed event of zero length counts when it starts within the day.
pub fn agenda(events: &[Event], tz: Tz, date: NaiveDate) -> Vec<AgendaEntry> {
    let (day_start, day_end) = day_bounds(tz, date);
    let mut entries: Vec<AgendaEntry> = events
        .iter()
        .filter(|e| e.is_listed())
        .filter_map(|event| {
            let span = match event.when {
                EventTime::AllDay {
                    first,
                    end_exclusive,
                } => {
                    let last = end_exclusive.pred_opt().unwrap_or(first).max(first);
                    if date < first || date > last {
                        return None;
                    }
                    Span::AllDay {
                        multi_day: last > first,
                    }
                }
                EventTime::Timed { start, end } => {
                    let overlaps = start < day_end
                        && (end > day_start || (end <= start && start >= day_start));
                    if !overlaps {
                        return None;
                    }
                    Span::Timed {
                        start: start.with_timezone(&tz).naive_local(),
                        end: end.max(start).with_timezone(&tz).naive_local(),
                        starts_earlier: start < day_start,
                        ends_later: end > day_end,
                    }
                }
            };
            Some(AgendaEntry {
                event: event.clone(),
                span,
            })
        })
        .collect();
    entries.sort_by(|a, b| {
        let key = |e: &AgendaEntry| {
            let (timed, from) = match e.event.when {
                EventTime::AllDay { first, .. } => (false, midnight(tz, first)),
                EventTime::Timed { start, .. } => (true, start),
            };
            (timed, from)
        };
        key(a)
            .cmp(&key(b))
            .then_with(|| a.event.subject.cmp(&b.event.subject))
            .then_with(|| a.event.id.cmp(&b.event.id))
    });
    entries
}

/// A date the way the agenda names it: "Monday, November 23".
pub fn format_date(date: NaiveDate) -> String {
    date.format("%A, %B %-d").to_string()
}

/// When the event happens on the day: "9:00 AM – 9:30 AM", "All day", "until 10:00 AM" (it
/// began on an earlier day), "from 11:00 PM" (it goes on into the next day).
pub fn span_label(span: &Span) -> String {
    match *span {
        Span::AllDay { .. } => "All day".to_owned(),
        Span::Timed {
            starts_earlier: true,
            ends_later: true,
            ..
        } => "All day".to_owned(),
        Span::Timed {
            end,
            starts_earlier: true,
            ..
        } => format!("until {}", format_time(end.time())),
        Span::Timed {
            start,
            ends_later: true,
            ..
        } => format!("from {}", format_time(start.time())),
        Span::Timed { start, end, .. } => {
            format!(
                "{} – {}",
                format_time(start.time()),
                format_time(end.time())
            )
        }
    }
}

/// The subject in bold, linked to the event in Outlook when there is a safe link, and
/// "(tentative)" when the user tentatively accepted. The subject is escaped.
pub fn event_title(event: &Event) -> String {
    let subject = escape_text(&event.subject);
    let subject = if subject.is_empty() {
        "\\(no subject\\)".to_owned()
    } else {
        subject
    };
    let mut out = format!("**{}**", link(&subject, event.web_link.as_deref()));
    if event.response == ResponseStatus::TentativelyAccepted {
        out.push_str(" (tentative)");
    }
    out
}

/// What follows the title: ` · location` and ` · [Join meeting](url)`, each when there is one.
pub fn event_details(event: &Event) -> String {
    let mut out = String::new();
    if let Some(location) = event.location.as_deref().map(escape_text)
        && !location.is_empty()
    {
        out.push_str(" · ");
        out.push_str(&location);
    }
    let join = link("Join meeting", event.join_url.as_deref());
    if join != "Join meeting" {
        out.push_str(" · ");
        out.push_str(&join);
    }
    out
}

/// One agenda line without its bullet, e.g.
/// `9:00 AM – 9:30 AM: **[Subject](link)** (tentative) · Room 4 · [Join meeting](url)`.
pub fn render_event_line(entry: &AgendaEntry) -> String {
    format!(
        "{}: {}{}",
        span_label(&entry.span),
        event_title(&entry.event),
        event_details(&entry.event)
    )
}

/// The agenda as a Mattermost post: "#### {heading} for Monday, November 23 (Europe/Paris)",
/// then a bullet per entry, or a plain sentence when the day is free. `heading` is the caller's
/// own text ("Your agenda", "Your daily summary") and is not escaped; `tz_label` is.
pub fn render_agenda(
    heading: &str,
    date: NaiveDate,
    tz_label: &str,
    entries: &[AgendaEntry],
) -> String {
    let day = format_date(date);
    let mut out = format!("#### {heading} for {day}");
    let tz_label = escape_text(tz_label);
    if !tz_label.is_empty() {
        out.push_str(&format!(" ({tz_label})"));
    }
    if entries.is_empty() {
        out.push_str(&format!("\nYou have no events on {day}."));
        return out;
    }
    for entry in entries {
        out.push_str("\n- ");
        out.push_str(&render_event_line(entry));
    }
    out
}

/// The longest post Mattermost takes is 16,383 characters; a little is kept free.
pub const MAX_POST_CHARS: usize = bridge_core::notify::message::MAX_POST;

/// [`render_agenda`] cut into posts of at most `max_chars` characters each, so that a long day
/// is sent whole as several posts: every part starts with the header (the later ones say
/// "continued"), and no event line is split.
pub fn render_agenda_parts(
    heading: &str,
    date: NaiveDate,
    tz_label: &str,
    entries: &[AgendaEntry],
    max_chars: usize,
) -> Vec<String> {
    let first = render_agenda(heading, date, tz_label, &[]);
    if entries.is_empty() {
        return vec![first];
    }
    let header = first.lines().next().unwrap_or("").to_owned();
    let continued = format!("{header} (continued)");
    let mut parts = Vec::new();
    let mut current = header.clone();
    let mut lines_in_current = 0;
    for entry in entries {
        let line = format!("\n- {}", render_event_line(entry));
        if lines_in_current > 0 && current.chars().count() + line.chars().count() > max_chars {
            parts.push(std::mem::replace(&mut current, continued.clone()));
            lines_in_current = 0;
        }
        current.push_str(&line);
        lines_in_current += 1;
    }
    parts.push(current);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveTime, TimeZone};

    #[test]
    fn a_long_day_is_cut_into_posts_that_keep_every_event() {
        let tz = chrono_tz::Europe::Paris;
        let day = date(2026, 11, 23);
        let events: Vec<Event> = (0..300)
            .map(|i| {
                let start = utc(2026, 11, 23, 8, 0) + chrono::TimeDelta::minutes(i);
                timed(
                    &format!("e{i}"),
                    &format!("Meeting number {i} {}", "x".repeat(60)),
                    start,
                    start + chrono::TimeDelta::minutes(1),
                )
            })
            .collect();
        let entries = agenda(&events, tz, day);
        let parts = render_agenda_parts("Your daily summary", day, "Europe/Paris", &entries, 4_000);
        assert!(parts.len() > 1);
        assert!(parts.iter().all(|p| p.chars().count() <= 4_000));
        assert!(parts[1].starts_with(
            "#### Your daily summary for Monday, November 23 (Europe/Paris) (continued)"
        ));
        let lines: usize = parts
            .iter()
            .map(|p| p.lines().filter(|l| l.starts_with("- ")).count())
            .sum();
        assert_eq!(lines, 300);
        let whole = render_agenda("Your daily summary", day, "Europe/Paris", &entries);
        assert_eq!(
            render_agenda_parts(
                "Your daily summary",
                day,
                "Europe/Paris",
                &entries,
                usize::MAX
            ),
            vec![whole]
        );
        assert_eq!(
            render_agenda_parts("H", day, "UTC", &[], 100),
            vec![render_agenda("H", day, "UTC", &[])]
        );
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    fn timed(id: &str, subject: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> Event {
        Event::new(id, subject, EventTime::timed(start, end))
    }

    fn ids(entries: &[AgendaEntry]) -> Vec<&str> {
        entries.iter().map(|e| e.event.id.as_str()).collect()
    }

    fn local(d: NaiveDate, h: u32, m: u32) -> NaiveDateTime {
        d.and_time(NaiveTime::from_hms_opt(h, m, 0).unwrap())
    }

    #[test]
    fn a_day_in_paris_in_order() {
        let paris = chrono_tz::Europe::Paris;
        let day = date(2026, 11, 23);
        let mut declined = timed(
            "declined",
            "Nope",
            utc(2026, 11, 23, 9, 0),
            utc(2026, 11, 23, 10, 0),
        );
        declined.response = ResponseStatus::Declined;
        let mut cancelled = timed(
            "cancelled",
            "Gone",
            utc(2026, 11, 23, 9, 0),
            utc(2026, 11, 23, 10, 0),
        );
        cancelled.is_cancelled = true;
        let events = vec![
            timed(
                "late",
                "Late",
                utc(2026, 11, 23, 16, 0),
                utc(2026, 11, 23, 17, 0),
            ),
            timed(
                "b",
                "B standup",
                utc(2026, 11, 23, 8, 0),
                utc(2026, 11, 23, 8, 15),
            ),
            timed(
                "a",
                "A standup",
                utc(2026, 11, 23, 8, 0),
                utc(2026, 11, 23, 8, 15),
            ),
            Event::new("holiday", "Holiday", EventTime::all_day(day, day)),
            // 23:30 UTC on the 22nd is 00:30 on the 23rd in Paris.
            timed(
                "early",
                "Early",
                utc(2026, 11, 22, 23, 30),
                utc(2026, 11, 23, 0, 0),
            ),
            // 23:00 UTC on the 23rd is midnight on the 24th in Paris: not today.
            timed(
                "tomorrow",
                "Tomorrow",
                utc(2026, 11, 23, 23, 0),
                utc(2026, 11, 23, 23, 30),
            ),
            // Ends exactly at local midnight: yesterday's.
            timed(
                "yesterday",
                "Yesterday",
                utc(2026, 11, 22, 22, 0),
                utc(2026, 11, 22, 23, 0),
            ),
            declined,
            cancelled,
        ];
        let entries = agenda(&events, paris, day);
        assert_eq!(ids(&entries), ["holiday", "early", "a", "b", "late"]);
        assert_eq!(
            entries[1].span,
            Span::Timed {
                start: local(day, 0, 30),
                end: local(day, 1, 0),
                starts_earlier: false,
                ends_later: false
            }
        );
        // The same events seen from Los Angeles, where the 23rd starts at 08:00 UTC.
        let la = agenda(&events, chrono_tz::America::Los_Angeles, day);
        assert_eq!(ids(&la), ["holiday", "a", "b", "late", "tomorrow"]);
    }

    #[test]
    fn all_day_events_float_and_multi_day_events_are_flagged() {
        let trip = Event::new(
            "trip",
            "Trip",
            EventTime::all_day(date(2026, 11, 22), date(2026, 11, 24)),
        );
        let holiday = Event::new(
            "holiday",
            "Holiday",
            EventTime::all_day(date(2026, 11, 23), date(2026, 11, 23)),
        );
        let events = vec![holiday, trip];
        for tz in [
            chrono_tz::Pacific::Auckland,
            chrono_tz::Pacific::Honolulu,
            chrono_tz::Asia::Kolkata,
            Tz::UTC,
        ] {
            let entries = agenda(&events, tz, date(2026, 11, 23));
            // The one that began earlier first.
            assert_eq!(ids(&entries), ["trip", "holiday"], "{tz}");
            assert_eq!(entries[0].span, Span::AllDay { multi_day: true });
            assert_eq!(entries[1].span, Span::AllDay { multi_day: false });
            assert_eq!(ids(&agenda(&events, tz, date(2026, 11, 24))), ["trip"]);
            assert!(agenda(&events, tz, date(2026, 11, 25)).is_empty());
            assert!(agenda(&events, tz, date(2026, 11, 21)).is_empty());
        }
    }

    #[test]
    fn multi_day_timed_events_on_each_day() {
        let tokyo = chrono_tz::Asia::Tokyo;
        // 23:00 on the 22nd to 10:00 on the 24th, Tokyo time.
        let flight = timed(
            "f",
            "Flight",
            utc(2026, 11, 22, 14, 0),
            utc(2026, 11, 24, 1, 0),
        );
        let events = vec![flight];
        let first = agenda(&events, tokyo, date(2026, 11, 22));
        assert_eq!(span_label(&first[0].span), "from 11:00 PM");
        let middle = agenda(&events, tokyo, date(2026, 11, 23));
        assert_eq!(span_label(&middle[0].span), "All day");
        let last = agenda(&events, tokyo, date(2026, 11, 24));
        assert_eq!(span_label(&last[0].span), "until 10:00 AM");
        assert_eq!(
            last[0].span,
            Span::Timed {
                start: local(date(2026, 11, 22), 23, 0),
                end: local(date(2026, 11, 24), 10, 0),
                starts_earlier: true,
                ends_later: false
            }
        );
        assert!(agenda(&events, tokyo, date(2026, 11, 25)).is_empty());
    }

    #[test]
    fn days_of_23_and_25_hours() {
        let ny = chrono_tz::America::New_York;
        let spring = date(2026, 3, 8);
        let (start, end) = day_bounds(ny, spring);
        assert_eq!(end - start, chrono::TimeDelta::hours(23));
        let fall = date(2026, 11, 1);
        let (start, end) = day_bounds(ny, fall);
        assert_eq!(end - start, chrono::TimeDelta::hours(25));
        // 23:30 EST on Nov 1 is 04:30 UTC on Nov 2: still Nov 1 locally.
        let late = timed(
            "late",
            "Late",
            utc(2026, 11, 2, 4, 30),
            utc(2026, 11, 2, 4, 45),
        );
        // 01:30 EST (the second 01:30) is 06:30 UTC.
        let second = timed(
            "second",
            "Again",
            utc(2026, 11, 1, 6, 30),
            utc(2026, 11, 1, 6, 45),
        );
        let entries = agenda(&[late, second], ny, fall);
        assert_eq!(ids(&entries), ["second", "late"]);
        assert_eq!(span_label(&entries[0].span), "1:30 AM – 1:45 AM");
        assert_eq!(span_label(&entries[1].span), "11:30 PM – 11:45 PM");
        // Berlin, 2026-03-29: a meeting at 03:00 CEST (01:00 UTC) is on that day.
        let berlin = chrono_tz::Europe::Berlin;
        let early = timed("e", "Early", utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 2, 0));
        let entries = agenda(&[early], berlin, date(2026, 3, 29));
        assert_eq!(span_label(&entries[0].span), "3:00 AM – 4:00 AM");
    }

    #[test]
    fn zero_length_events_count_where_they_start() {
        let at = utc(2026, 11, 23, 0, 0);
        let reminder = timed("r", "Pay rent", at, at);
        assert_eq!(
            ids(&agenda(
                std::slice::from_ref(&reminder),
                Tz::UTC,
                date(2026, 11, 23)
            )),
            ["r"]
        );
        assert!(agenda(&[reminder], Tz::UTC, date(2026, 11, 22)).is_empty());
    }

    #[test]
    fn rendering() {
        let paris = chrono_tz::Europe::Paris;
        let day = date(2026, 11, 23);
        let mut review = timed(
            "r",
            "Design review",
            utc(2026, 11, 23, 8, 0),
            utc(2026, 11, 23, 8, 30),
        );
        review.web_link =
            Some("https://outlook.office365.com/owa/?itemid=AAMk%3D&path=/calendar/item".into());
        review.join_url =
            Some("https://teams.microsoft.com/l/meetup-join/19%3ameeting_x%40thread.v2/0".into());
        review.location = Some("Room 4".into());
        review.response = ResponseStatus::TentativelyAccepted;
        let holiday = Event::new("h", "Holiday", EventTime::all_day(day, day));
        let untitled = timed(
            "u",
            "  ",
            utc(2026, 11, 23, 13, 0),
            utc(2026, 11, 23, 14, 0),
        );
        let entries = agenda(&[review, holiday, untitled], paris, day);
        let text = render_agenda("Your agenda", day, "Europe/Paris", &entries);
        assert_eq!(
            text,
            "#### Your agenda for Monday, November 23 (Europe/Paris)\n\
             - All day: **Holiday**\n\
             - 9:00 AM – 9:30 AM: **[Design review](https://outlook.office365.com/owa/?itemid=AAMk%3D&path=/calendar/item)** (tentative) · Room 4 · [Join meeting](https://teams.microsoft.com/l/meetup-join/19%3ameeting_x%40thread.v2/0)\n\
             - 2:00 PM – 3:00 PM: **\\(no subject\\)**"
        );
        assert_eq!(
            render_agenda("Your daily summary", day, "America/New_York", &[]),
            "#### Your daily summary for Monday, November 23 (America/New\\_York)\nYou have no events on Monday, November 23."
        );
    }

    #[test]
    fn hostile_events_render_inert() {
        let day = date(2026, 11, 23);
        let mut evil = timed(
            "x",
            "@all [click](https://evil.example) **now**\n#### fake heading <img src=x> @channel",
            utc(2026, 11, 23, 9, 0),
            utc(2026, 11, 23, 10, 0),
        );
        evil.location = Some("@here ~town-square ![i](http://evil/i.png)".into());
        evil.web_link = Some("javascript:alert(1)".into());
        evil.join_url = Some("https://evil.example/x) [Phish](https://evil.example".into());
        evil.organizer = Some("@someone".into());
        let entries = agenda(&[evil], Tz::UTC, day);
        let text = render_agenda("Your agenda", day, "UTC", &entries);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        for bad in [
            "@all",
            "@channel",
            "@here",
            "~town",
            "[click]",
            "](https://evil.example)",
            "javascript",
            "<img",
            "**now**",
            "![i]",
            ") [Phish]",
        ] {
            assert!(!text.contains(bad), "{bad} in {text}");
        }
        assert!(
            text.contains(
                "[Join meeting](https://evil.example/x%29%20%5BPhish%5D%28https://evil.example)"
            ),
            "{text}"
        );
    }
}
