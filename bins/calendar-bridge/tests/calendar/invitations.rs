//! Invitations (C5): a DM per new invitation with Accept / Tentative / Decline, the answer sent
//! to Microsoft 365 as the user, one DM when the meeting moves and one when it is cancelled;
//! buttons cannot be used by someone else or altered; redelivered notifications change nothing.

use std::time::Duration;

use chrono::TimeDelta;
use serde_json::{Value, json};

use crate::support::{Bridge, Options, WEBHOOK_SECRET, button_context, buttons, now_s};

fn is_invitation(message: &str) -> bool {
    message.starts_with("**New invitation**")
}

/// Posts a change notification to the bridge as Graph would (a redelivery).
async fn redeliver(b: &Bridge, subscription_id: &str, name: &str, event_id: &str, change: &str) {
    let ms = b.ms(name);
    let tenant = b.graph.tenant_id();
    let body = json!({"value": [{
        "subscriptionId": subscription_id,
        "clientState": WEBHOOK_SECRET,
        "changeType": change,
        "resource": format!("users/{ms}@{tenant}/events/{event_id}"),
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.Event",
            "@odata.id": format!("Users/{ms}@{tenant}/Events/{event_id}"),
            "id": event_id,
        },
        "tenantId": tenant,
    }]});
    let response = b
        .http
        .post(format!("{}/graph/notifications", b.public_url))
        .json(&body)
        .send()
        .await
        .expect("notification");
    assert_eq!(response.status(), 202);
}

#[tokio::test(flavor = "multi_thread")]
async fn invitations_are_told_answered_updated_and_cancelled() {
    let b = Bridge::start(Options::people(&["alice", "bob"])).await;
    // Alice lives in California: times are hers.
    b.graph
        .set_mailbox_time_zone(b.ms("alice"), "Pacific Standard Time");
    b.connect_ready("alice").await;
    assert_eq!(b.wait_for_time_zone("alice").await, "America/Los_Angeles");
    b.connect_ready("bob").await;
    let subscription = b.wait_for_subscription("alice").await;
    let local = |at: chrono::DateTime<chrono::Utc>| {
        at.with_timezone(&chrono_tz::America::Los_Angeles)
            .format("%-I:%M %p")
            .to_string()
    };

    // Olivia invites Alice: one DM with three buttons.
    let start = now_s() + TimeDelta::hours(3);
    let meeting = b.invite(
        &["alice"],
        "Budget review",
        start,
        start + TimeDelta::minutes(45),
    );
    let invitation = b.wait_dm("alice", 10, |p| is_invitation(&p.message)).await;
    assert!(
        invitation
            .message
            .starts_with("**New invitation** from Olivia Organizer: **[Budget review]("),
        "{}",
        invitation.message
    );
    let when = local(start);
    assert!(
        invitation.message.contains(&when),
        "{when}: {}",
        invitation.message
    );
    let labels: Vec<String> = buttons(&invitation).into_iter().map(|(_, l)| l).collect();
    assert_eq!(labels, ["Accept", "Tentative", "Decline"]);

    // Bob cannot use Alice's button, and an altered one is refused: nothing changes.
    let accept = button_context(&invitation, "Accept");
    let foreign = b
        .post_action(b.mm("bob"), &invitation.id, accept.clone())
        .await;
    assert!(
        foreign["ephemeral_text"]
            .as_str()
            .is_some_and(|t| t.contains("made for someone else")),
        "{foreign}"
    );
    let mut altered = accept.clone();
    let seal = altered["seal"].as_str().expect("seal").to_owned();
    let flipped = if seal.ends_with('A') { 'B' } else { 'A' };
    altered["seal"] = Value::String(format!("{}{flipped}", &seal[..seal.len() - 1]));
    let forged = b.post_action(b.mm("alice"), &invitation.id, altered).await;
    assert!(
        forged["ephemeral_text"]
            .as_str()
            .is_some_and(|t| t.contains("not valid")),
        "{forged}"
    );
    let forged = b
        .post_action(b.mm("alice"), &invitation.id, json!({"action": "accept"}))
        .await;
    assert!(
        forged["ephemeral_text"]
            .as_str()
            .is_some_and(|t| t.contains("not valid")),
        "{forged}"
    );
    assert_eq!(b.copy_of("alice", &meeting.ical_uid).response, "none");

    // Alice accepts: Microsoft 365 has her answer, the DM says so and loses its buttons.
    let clicked = b.click("alice", &invitation, "Accept").await;
    let updated = clicked.updated_post.expect("the DM is updated");
    assert!(
        updated.message.ends_with("**You accepted.**"),
        "{}",
        updated.message
    );
    assert!(
        updated.message.contains("Budget review"),
        "{}",
        updated.message
    );
    assert!(buttons(&updated).is_empty(), "{:?}", updated.props);
    assert_eq!(b.copy_of("alice", &meeting.ical_uid).response, "accepted");
    let organizer_copy = b
        .graph
        .events(&b.organizer_ms)
        .into_iter()
        .find(|e| e.ical_uid == meeting.ical_uid)
        .expect("organizer's copy");
    assert!(
        organizer_copy
            .attendees
            .iter()
            .any(|a| a.user_id == b.ms("alice") && a.response == "accepted"),
        "{:?}",
        organizer_copy.attendees
    );

    // Graph redelivers what it sent: nothing more is said.
    let event_id = b.copy_of("alice", &meeting.ical_uid).id;
    let before = b.dms("alice").len();
    redeliver(&b, &subscription.id, "alice", &event_id, "created").await;
    redeliver(&b, &subscription.id, "alice", &event_id, "updated").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        b.dms("alice").len(),
        before,
        "{:#?}",
        b.dms("alice")
            .iter()
            .map(|p| &p.message)
            .collect::<Vec<_>>()
    );

    // Olivia moves it by an hour: one "Updated" DM with the new time.
    let moved = start + TimeDelta::hours(1);
    b.graph
        .reschedule_event(&meeting.ical_uid, moved)
        .expect("move");
    let update = b
        .wait_dm("alice", 10, |p| p.message.starts_with("**Updated**"))
        .await;
    assert!(
        update.message.contains(&format!(
            "{} – {}",
            local(moved),
            local(moved + TimeDelta::minutes(45))
        )),
        "{}",
        update.message
    );
    // A new room is news too; a new subject alone is not.
    b.graph
        .update_event(
            &meeting.ical_uid,
            graph_emulator::EventUpdate {
                location: Some(Some("Room 12".into())),
                ..graph_emulator::EventUpdate::default()
            },
        )
        .expect("relocate");
    let relocated = b
        .wait_dm("alice", 10, |p| {
            p.message.starts_with("**Updated**") && p.message.contains("Room 12")
        })
        .await;
    assert!(
        relocated.message.contains("Budget review"),
        "{}",
        relocated.message
    );
    b.graph
        .update_event(
            &meeting.ical_uid,
            graph_emulator::EventUpdate {
                subject: Some("Budget review (final)".into()),
                ..graph_emulator::EventUpdate::default()
            },
        )
        .expect("rename");
    // Olivia cancels it: one "Cancelled" DM.
    b.graph.cancel_event(&meeting.ical_uid).expect("cancel");
    let cancelled = b
        .wait_dm("alice", 10, |p| p.message.starts_with("**Cancelled**"))
        .await;
    assert!(
        cancelled.message.contains("Budget review"),
        "{}",
        cancelled.message
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let messages: Vec<String> = b.dms("alice").into_iter().map(|p| p.message).collect();
    assert_eq!(
        messages.iter().filter(|m| is_invitation(m)).count(),
        1,
        "{messages:#?}"
    );
    assert_eq!(
        messages
            .iter()
            .filter(|m| m.starts_with("**Updated**"))
            .count(),
        2,
        "{messages:#?}"
    );
    assert_eq!(
        messages
            .iter()
            .filter(|m| m.starts_with("**Cancelled**"))
            .count(),
        1,
        "{messages:#?}"
    );
    // Bob was not invited: he heard nothing of it.
    assert!(
        b.dms("bob")
            .iter()
            .all(|p| !p.message.contains("Budget review")),
        "{:#?}",
        b.dms("bob")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn own_events_and_invitations_turned_off_send_nothing() {
    let b = Bridge::start(Options::people(&["alice", "bob"])).await;
    b.connect_ready("alice").await;
    b.connect_ready("bob").await;
    let (reply, _) = b.slash("bob", "settings invitations off").await;
    assert!(reply.contains("New invitations:** off"), "{reply}");
    let start = now_s() + TimeDelta::hours(5);
    // Alice organizes a meeting with Bob: neither is told of an invitation.
    let mut event = graph_emulator::NewEvent::meeting(b.ms("alice"), "Team lunch", start);
    event.attendees = vec![b.ms("bob").to_owned()];
    b.graph.add_event(event);
    // Olivia invites both: only Alice is told.
    b.invite(
        &["alice", "bob"],
        "All hands",
        start,
        start + TimeDelta::hours(1),
    );
    b.wait_dm("alice", 10, |p| p.message.contains("All hands"))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        b.dms("alice")
            .iter()
            .all(|p| !p.message.contains("Team lunch")),
        "{:#?}",
        b.dms("alice")
    );
    assert!(
        b.dms("bob")
            .iter()
            .all(|p| !p.message.contains("All hands") && !p.message.contains("Team lunch")),
        "{:#?}",
        b.dms("bob")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invitation_survives_graph_and_mattermost_failures() {
    let b = Bridge::start(Options::people(&["alice"])).await;
    b.connect_ready("alice").await;
    // Reading the event fails once, and so does the first post: the notification is retried
    // from the store, and the DM still goes out once.
    b.graph.inject_fault(
        graph_emulator::FaultRule::new(
            &format!("/v1.0/users/{}/events/", b.ms("alice")),
            graph_emulator::Fault::Unavailable,
        )
        .method("GET")
        .times(1),
    );
    b.mattermost.inject_fault(
        mm_emulator::FaultRule::on_route("POST /api/v4/posts", mm_emulator::Fault::Status(503))
            .times(1),
    );
    let start = now_s() + TimeDelta::hours(1);
    b.invite(
        &["alice"],
        "Resilience drill",
        start,
        start + TimeDelta::hours(1),
    );
    b.wait_dm("alice", 20, |p| p.message.contains("Resilience drill"))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        b.dms_matching("alice", |p| p.message.contains("Resilience drill"))
            .len(),
        1
    );
    assert!(
        b.graph
            .request_counts()
            .iter()
            .any(|(route, n)| route.contains("/events/") && *n >= 2),
        "the event was read again: {:?}",
        b.graph.request_counts()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_series_that_began_weeks_ago_is_still_news_and_so_is_its_cancellation() {
    let b = Bridge::start(Options::people(&["alice"])).await;
    b.connect_ready("alice").await;

    // Olivia adds Alice to a weekly series whose first meeting was three weeks ago.
    let first = now_s() - TimeDelta::weeks(3) + TimeDelta::hours(1);
    let mut series = graph_emulator::NewEvent::meeting(&b.organizer_ms, "Weekly sync", first);
    series.end = first + TimeDelta::minutes(30);
    series.attendees = vec![b.ms("alice").to_owned()];
    series.recurrence = Some(graph_emulator::Recurrence::Weekly { count: 10 });
    let series = b.graph.add_event(series);
    let invitation = b
        .wait_dm("alice", 10, |p| {
            is_invitation(&p.message) && p.message.contains("Weekly sync")
        })
        .await;
    assert!(
        invitation.message.contains("\nRecurring, first "),
        "{}",
        invitation.message
    );
    assert_eq!(buttons(&invitation).len(), 3, "{invitation:#?}");

    // The whole series is cancelled: that is news too.
    b.graph.cancel_event(&series.ical_uid).expect("cancel");
    let cancelled = b
        .wait_dm("alice", 10, |p| p.message.starts_with("**Cancelled**"))
        .await;
    assert!(
        cancelled.message.contains("Weekly sync"),
        "{}",
        cancelled.message
    );
    assert!(
        cancelled.message.contains("Recurring, first "),
        "{}",
        cancelled.message
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dm_whose_answer_was_lost_is_not_posted_twice() {
    let b = Bridge::start(Options::people(&["alice"])).await;
    b.connect_ready("alice").await;
    // Mattermost stores the invitation's post, but the bridge hears 502 (a proxy gave up).
    b.mattermost.inject_fault(
        mm_emulator::FaultRule::on_route("POST /api/v4/posts", mm_emulator::Fault::AnswerLost(502))
            .times(1),
    );
    let start = now_s() + TimeDelta::hours(1);
    b.invite(
        &["alice"],
        "Lost answer",
        start,
        start + TimeDelta::hours(1),
    );
    b.wait_dm("alice", 10, |p| p.message.contains("Lost answer"))
        .await;
    // The notification is not retried into a second post.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        b.dms_matching("alice", |p| p.message.contains("Lost answer"))
            .len(),
        1,
        "log:\n{}",
        b.log()
    );
    assert_eq!(
        b.metric("calendar_bridge_dms_sent_total{kind=\"invitation\"}")
            .await,
        Some(1.0)
    );
}
