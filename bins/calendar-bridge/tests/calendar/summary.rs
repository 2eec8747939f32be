//! The daily summary (C2): due at the user's local time in their mailbox's zone, every event of
//! the day (no cap), without declined or cancelled ones, exactly once per day, restarts included.

use std::time::Duration;

use chrono::{TimeDelta, TimeZone as _, Utc};
use chrono_tz::Europe::Berlin;
use graph_emulator::NewEvent;

use crate::support::{Bridge, Options, eventually};

const HEADER: &str = "#### Your daily summary for ";

/// A later post of a summary too long for one.
fn is_continued(post: &mm_emulator::Post) -> bool {
    post.message.starts_with(HEADER)
        && post
            .message
            .lines()
            .next()
            .is_some_and(|l| l.ends_with("(continued)"))
}
/// Timed events in the day.
const EVENTS: i64 = 105;
/// Timed events in a day whose summary takes two posts whatever the links' length.
const LONG_DAY: i64 = 200;

#[tokio::test(flavor = "multi_thread")]
async fn one_summary_a_day_in_the_mailbox_zone_with_every_event() {
    let mut b = Bridge::start(Options::people(&["alice"])).await;
    b.graph
        .set_mailbox_time_zone(b.ms("alice"), "W. Europe Standard Time");

    // Today in Berlin: 105 timed events (more than a page of calendarView, so the bridge must
    // follow `@odata.nextLink` inside its `$batch`), an all-day one, one Alice declined and one
    // that was cancelled. Seeded before she connects, as a calendar would be.
    let today = Utc::now().with_timezone(&Berlin).date_naive();
    let midnight = Berlin
        .from_local_datetime(&today.and_hms_opt(0, 0, 0).expect("midnight"))
        .single()
        .expect("a plain day")
        .with_timezone(&Utc);
    let alice = b.ms("alice").to_owned();
    for i in 0..EVENTS {
        let start = midnight + TimeDelta::minutes(10 * i);
        let mut event = NewEvent::meeting(&alice, &format!("Standup {:03}", i + 1), start);
        event.end = start + TimeDelta::minutes(5);
        event.time_zone = "W. Europe Standard Time".into();
        b.graph.add_event(event);
    }
    let day_start = Utc.from_utc_datetime(&today.and_hms_opt(0, 0, 0).expect("midnight"));
    let mut holiday = NewEvent::meeting(&alice, "Company holiday", day_start);
    holiday.is_all_day = true;
    holiday.end = day_start + TimeDelta::days(1);
    holiday.show_as = "free".into();
    b.graph.add_event(holiday);
    let declined = b.invite(
        &["alice"],
        "Declined sync",
        midnight + TimeDelta::hours(12),
        midnight + TimeDelta::hours(13),
    );
    b.answer_in_outlook("alice", &declined.ical_uid, "decline")
        .await;
    let cancelled = b.invite(
        &["alice"],
        "Cancelled review",
        midnight + TimeDelta::hours(14),
        midnight + TimeDelta::hours(15),
    );
    b.graph.cancel_event(&cancelled.ical_uid).expect("cancel");

    b.connect_ready("alice").await;
    assert_eq!(b.wait_for_time_zone("alice").await, "Europe/Berlin");
    // Only the summary is looked at here.
    b.slash("alice", "settings reminders off").await;

    // Every day, at the current local minute: due at once.
    let (days, _) = b.slash("alice", "summary days all").await;
    assert!(days.contains("Your daily summary is on"), "{days}");
    let local_now = Utc::now().with_timezone(&Berlin);
    let (time, _) = b
        .slash(
            "alice",
            &format!("summary time {}", local_now.format("%H:%M")),
        )
        .await;
    assert!(time.contains("Europe/Berlin"), "{time}");

    let summary = b
        .wait_dm("alice", 15, |p| p.message.starts_with(HEADER))
        .await;
    // 106 events are more than one post holds: the summary comes whole, in posts within
    // Mattermost's limit, the later ones saying "continued".
    let continued = b.wait_dm("alice", 15, is_continued).await;
    for part in [&summary, &continued] {
        assert!(
            part.message.chars().count() <= 16_000,
            "{}",
            part.message.chars().count()
        );
    }
    let whole = format!("{}\n{}", summary.message, continued.message);
    let text = &whole;
    let first_line = summary.message.lines().next().unwrap_or_default();
    assert!(first_line.ends_with("(Europe/Berlin)"), "{first_line}");
    assert!(
        first_line.contains(&today.format("%B %-d").to_string()),
        "{first_line}"
    );
    for i in 1..=EVENTS {
        assert!(
            text.contains(&format!("**[Standup {i:03}](")),
            "Standup {i:03} missing:\n{text}"
        );
    }
    // Local times: the tenth standup is at 1:30 AM in Berlin (0:30 UTC).
    assert!(
        text.contains("\n- 1:30 AM – 1:35 AM: **[Standup 010]("),
        "{text}"
    );
    assert!(text.contains("- All day: **[Company holiday]("), "{text}");
    assert!(!text.contains("Declined sync"), "{text}");
    assert!(!text.contains("Cancelled review"), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("- ")).count(),
        EVENTS as usize + 1,
        "{text}"
    );

    // `today` shows the same day on demand.
    let (agenda, _) = b.slash("alice", "today").await;
    // One reply is one post: what does not fit is said, not cut silently.
    assert!(
        agenda.chars().count() <= 16_000,
        "{}",
        agenda.chars().count()
    );
    assert!(agenda.contains("[Standup 001]("), "{agenda}");
    assert!(agenda.contains("more than fits in one message"), "{agenda}");
    assert!(!agenda.contains("Declined sync"), "{agenda}");

    // Not twice: neither on later ticks nor after a crash and restart.
    let summaries = || {
        b.dms_matching("alice", |p| {
            p.message.starts_with(HEADER) && !is_continued(p)
        })
        .len()
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(summaries(), 1);
    b.restart().await;
    let repeated = eventually(4, || {
        let n = b
            .dms_matching("alice", |p| {
                p.message.starts_with(HEADER) && !is_continued(p)
            })
            .len();
        async move { n > 1 }
    })
    .await;
    assert!(!repeated, "a second summary after the restart");
    let (view, _) = b.slash("alice", "summary").await;
    assert!(view.contains("on, at"), "{view}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_summary_retried_after_a_failed_part_lists_every_event_once() {
    let b = Bridge::start(Options::people(&["alice"])).await;
    // Today in UTC (her mailbox's zone): more standups than one post holds.
    let today = Utc::now().date_naive();
    let midnight = Utc.from_utc_datetime(&today.and_hms_opt(0, 0, 0).expect("midnight"));
    let alice = b.ms("alice").to_owned();
    for i in 0..LONG_DAY {
        let start = midnight + TimeDelta::minutes(7 * i + 5);
        let mut event = NewEvent::meeting(&alice, &format!("Standup {:03}", i + 1), start);
        event.end = start + TimeDelta::minutes(5);
        b.graph.add_event(event);
    }
    b.connect_ready("alice").await;
    b.slash("alice", "settings reminders off").await;
    b.slash("alice", "summary days all").await;

    // The first post goes out, the second fails; before the retry a meeting is added at the top
    // of the day, which would move every line of a new split.
    b.mattermost.inject_fault(
        mm_emulator::FaultRule::on_route("POST /api/v4/posts", mm_emulator::Fault::Status(503))
            .after(1)
            .times(1),
    );
    b.slash(
        "alice",
        &format!("summary time {}", Utc::now().format("%H:%M")),
    )
    .await;
    b.wait_dm("alice", 15, |p| p.message.starts_with(HEADER))
        .await;
    let mut early = NewEvent::meeting(&alice, "Early bird", midnight);
    early.end = midnight + TimeDelta::minutes(5);
    b.graph.add_event(early);

    let continued = b.wait_dm("alice", 90, is_continued).await;
    let parts = b.dms_matching("alice", |p| p.message.starts_with(HEADER));
    assert_eq!(
        parts.len(),
        2,
        "{:?}",
        parts.iter().map(|p| p.message.len()).collect::<Vec<_>>()
    );
    let whole = format!("{}\n{}", parts[0].message, continued.message);
    for i in 1..=LONG_DAY {
        let name = format!("**[Standup {i:03}](");
        assert_eq!(
            whole.matches(&name).count(),
            1,
            "Standup {i:03} is not listed once"
        );
    }
}
