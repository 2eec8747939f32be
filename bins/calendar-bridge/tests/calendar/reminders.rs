//! Reminders (C4): one DM at the event's own reminder time, with its time and join link; never
//! repeated; none for an event whose reminder is off.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use graph_emulator::NewEvent;

use crate::support::{Bridge, Options, now_s};

#[tokio::test(flavor = "multi_thread")]
async fn a_reminder_comes_once_at_the_events_reminder_time() {
    let b = Bridge::start(Options::people(&["alice"])).await;
    b.connect_ready("alice").await;
    let alice = b.ms("alice").to_owned();

    let start = now_s() + TimeDelta::seconds(70);
    let mut event = NewEvent::meeting(&alice, "Design review", start);
    event.end = start + TimeDelta::minutes(30);
    event.reminder_minutes = Some(1);
    event.online_meeting = true;
    event.location = Some("Room 4".into());
    let event = b.graph.add_event(event);
    let join_url = event.join_url.clone().expect("a Teams meeting");
    let mut quiet = NewEvent::meeting(&alice, "Quiet planning", start);
    quiet.reminder_minutes = Some(1);
    quiet.is_reminder_on = false;
    b.graph.add_event(quiet);

    let due = start - TimeDelta::minutes(1);
    let reminder = b
        .wait_dm("alice", 25, |p| p.message.contains("Design review"))
        .await;
    let posted = chrono::DateTime::from_timestamp_millis(reminder.create_at).expect("time");
    assert!(
        posted >= due - TimeDelta::milliseconds(1500),
        "the reminder came early: at {posted}, due at {due}"
    );
    assert!(
        posted <= due + TimeDelta::seconds(5),
        "the reminder came late: at {posted}, due at {due}"
    );
    let text = &reminder.message;
    assert!(
        text.starts_with("Starting in 1 minute: **[Design review]("),
        "{text}"
    );
    // The time (UTC: the mailbox's default zone), the place and the join link.
    let range = format!(
        "{} – {}",
        start.format("%-I:%M %p"),
        (start + TimeDelta::minutes(30)).format("%-I:%M %p")
    );
    assert!(text.contains(&range), "{range} missing: {text}");
    assert!(text.contains("Room 4"), "{text}");
    assert!(
        text.contains(&format!("[Join meeting]({join_url})")),
        "{text}"
    );

    // Not repeated by later ticks; nothing for the event whose reminder is off.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let reminders: Vec<String> = b
        .dms("alice")
        .into_iter()
        .map(|p| p.message)
        .filter(|m| m.starts_with("Starting"))
        .collect();
    assert_eq!(reminders.len(), 1, "{reminders:#?}");

    // Moved (ten seconds earlier): a new time is reminded again, at once since its reminder
    // time has passed and it has not started, and only once.
    let moved = start - TimeDelta::seconds(10);
    b.graph
        .reschedule_event(&event.ical_uid, moved)
        .expect("move");
    let again = b
        .wait_dm("alice", 10, |p| {
            p.message.contains("Design review") && p.id != reminder.id
        })
        .await;
    assert!(
        again
            .message
            .contains(&moved.format("%-I:%M %p").to_string()),
        "{}",
        again.message
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        b.dms_matching("alice", |p| p.message.starts_with("Starting"))
            .len(),
        2
    );
    assert!(Utc::now() < moved, "the test ran past the event's start");
}

/// A reminder days ahead (Outlook offers up to two weeks) comes at its time, though the event is
/// further off than the day and a half of coming events the bridge keeps; and only once.
#[tokio::test(flavor = "multi_thread")]
async fn a_reminder_two_days_ahead_comes_on_time() {
    let b = Bridge::start(Options::people(&["alice"])).await;
    b.connect_ready("alice").await;
    let alice = b.ms("alice").to_owned();

    let due = now_s() + TimeDelta::seconds(8);
    let start = due + TimeDelta::days(2);
    let mut event = NewEvent::meeting(&alice, "Offsite planning", start);
    event.end = start + TimeDelta::hours(2);
    event.reminder_minutes = Some(2880);
    b.graph.add_event(event);

    let reminder = b
        .wait_dm("alice", 20, |p| p.message.contains("Offsite planning"))
        .await;
    let posted = chrono::DateTime::from_timestamp_millis(reminder.create_at).expect("time");
    assert!(
        posted >= due - TimeDelta::milliseconds(1500),
        "the reminder came early: at {posted}, due at {due}"
    );
    assert!(
        posted <= due + TimeDelta::seconds(5),
        "the reminder came late: at {posted}, due at {due}"
    );
    assert!(
        reminder
            .message
            .starts_with("Starting in 2 days: **[Offsite planning]("),
        "{}",
        reminder.message
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        b.dms_matching("alice", |p| p.message.starts_with("Starting"))
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reminders_start_on_connect_even_when_the_mailbox_zone_cannot_be_read() {
    let b = Bridge::start(Options::people(&["alice"])).await;
    let alice = b.ms("alice").to_owned();
    // Her mailbox settings stay unreadable, and her meeting is already in her calendar before
    // she connects (so no change notification will point the bridge at it).
    b.graph.inject_fault(graph_emulator::FaultRule::new(
        &format!("/v1.0/users/{alice}/mailboxSettings"),
        graph_emulator::Fault::Unavailable,
    ));
    let start = now_s() + TimeDelta::seconds(80);
    let mut event = NewEvent::meeting(&alice, "Early standup", start);
    event.reminder_minutes = Some(1);
    b.graph.add_event(event);

    b.connect("alice").await;
    b.wait_for_subscription("alice").await;
    let reminder = b
        .wait_dm("alice", 40, |p| p.message.contains("Early standup"))
        .await;
    assert!(
        reminder.message.starts_with("Starting in 1 minute: "),
        "{}",
        reminder.message
    );
    // Without a zone there is no summary time to keep: times are told in UTC meanwhile.
    let store = b.store().await;
    assert_eq!(
        store
            .preference(b.mm("alice"), "calendar.time_zone")
            .await
            .expect("preference"),
        None
    );
    store.close().await;
}
