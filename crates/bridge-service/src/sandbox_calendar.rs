//! The calendar sandbox's scripted demo: Alice connects, and the service shows a daily summary, a
//! reminder, a status change during a meeting and an invitation answered with a button, all
//! through the same endpoints a real Mattermost and Microsoft 365 would call.

use chrono::{TimeDelta, Utc};
use graph_emulator::{GraphEmulator, NewEvent};
use mm_emulator::MattermostEmulator;

use super::{Demo, MattermostSide, sign_in_alice, wait_for};
use crate::ServiceError;

fn fail(what: &str) -> impl Fn(String) -> ServiceError + '_ {
    move |e| ServiceError::Sandbox(format!("calendar demo, {what}: {e}"))
}

/// Alice's last DM from the bot whose text contains `needle`.
async fn bot_dm(
    mattermost: &MattermostEmulator,
    mm: &MattermostSide,
    what: &str,
    needle: &str,
) -> Result<mm_emulator::Post, ServiceError> {
    wait_for(what, || {
        let found = mattermost
            .direct_messages_to(&mm.alice_id)
            .into_iter()
            .rfind(|p| p.user_id == mm.bot_user_id && p.message.contains(needle));
        std::future::ready(found)
    })
    .await
}

fn first_line(text: &str) -> &str {
    text.lines().find(|l| !l.trim().is_empty()).unwrap_or("")
}

async fn slash(
    mattermost: &MattermostEmulator,
    mm: &MattermostSide,
    text: &str,
    steps: &mut Vec<String>,
) -> Result<String, ServiceError> {
    let outcome = mattermost
        .run_slash_command(&mm.alice_id, &mm.channel_id, text)
        .await
        .map_err(|e| fail(text)(e.to_string()))?;
    let reply = outcome
        .ephemeral
        .first()
        .map(|p| p.message.clone())
        .unwrap_or_default();
    steps.push(format!("@alice: {text} -> {}", first_line(&reply)));
    Ok(reply)
}

/// The scripted part of the calendar demo; returns what happened, a line per step.
pub(super) async fn scripted(
    http: &reqwest::Client,
    graph: &GraphEmulator,
    mattermost: &MattermostEmulator,
    mm: &MattermostSide,
    demo: &Demo,
) -> Result<Vec<String>, ServiceError> {
    let mut steps = vec!["Scripted demo:".to_owned()];
    let alice = demo.alice.id.as_str();
    let bob = demo.bob.id.as_str();
    sign_in_alice(
        http,
        graph,
        mattermost,
        mm,
        alice,
        "/mscalendar",
        &mut steps,
    )
    .await?;

    // The daily summary, due at once: its time is this very minute in Alice's zone.
    let zone = calendar_core::tz::resolve_time_zone("W. Europe Standard Time")
        .unwrap_or(chrono_tz::Tz::UTC);
    let now_local = Utc::now().with_timezone(&zone);
    let time = calendar_core::summary::format_time(
        chrono::NaiveTime::from_hms_opt(
            chrono::Timelike::hour(&now_local),
            chrono::Timelike::minute(&now_local),
            0,
        )
        .unwrap_or_default(),
    );
    slash(mattermost, mm, "/mscalendar summary days all", &mut steps).await?;
    slash(
        mattermost,
        mm,
        &format!("/mscalendar summary time {time}"),
        &mut steps,
    )
    .await?;
    let summary = bot_dm(mattermost, mm, "the daily summary DM", "Your daily summary").await?;
    steps.push(format!(
        "bot -> @alice: {} ({} events listed)",
        first_line(&summary.message).trim_start_matches('#').trim(),
        summary
            .message
            .lines()
            .filter(|l| l.starts_with("- "))
            .count()
    ));

    // A reminder: an event in 70 seconds whose reminder is set 1 minute before.
    let start = Utc::now() + TimeDelta::seconds(70);
    let mut call = NewEvent::meeting(alice, "Call with the printer", start);
    call.end = start + TimeDelta::minutes(20);
    call.show_as = "free".into();
    call.online_meeting = true;
    call.reminder_minutes = Some(1);
    graph.add_event(call);
    steps.push("Alice adds \"Call with the printer\" in 70 s, reminder 1 minute before".into());
    let reminder = bot_dm(mattermost, mm, "the reminder DM", "Call with the printer").await?;
    steps.push(format!("bot -> @alice: {}", first_line(&reminder.message)));

    // Status sync: a meeting with Bob starts now; Alice's status follows.
    // Alice is at her desk: Online (an Offline user's status is left alone).
    mattermost
        .set_status(&mm.alice_id, "online", 0)
        .map_err(|e| fail("setting Alice online")(e.to_string()))?;
    slash(
        mattermost,
        mm,
        "/mscalendar settings status auto",
        &mut steps,
    )
    .await?;
    let start = Utc::now();
    let mut sync = NewEvent::meeting(alice, "Budget sync", start);
    sync.end = start + TimeDelta::minutes(30);
    sync.attendees = vec![bob.to_owned()];
    sync.reminder_minutes = None;
    sync.is_reminder_on = false;
    graph.add_event(sync);
    steps.push("Alice's \"Budget sync\" with Bob starts now (busy)".into());
    let status = wait_for("Alice's status to become Do Not Disturb", || {
        let status = mattermost.status(&mm.alice_id);
        std::future::ready((status.status == "dnd").then_some(status))
    })
    .await?;
    let custom = mattermost
        .custom_status(&mm.alice_id)
        .ok()
        .flatten()
        .map(|c| format!(", custom status \"{}\"", c.text))
        .unwrap_or_default();
    steps.push(format!(
        "@alice's Mattermost status is now {}{custom} until the meeting ends",
        status.status
    ));

    // An invitation from Bob, answered with a button.
    let start = Utc::now() + TimeDelta::days(1);
    let mut review = NewEvent::meeting(bob, "Quarterly review", start);
    review.attendees = vec![alice.to_owned()];
    review.location = Some("Room 4".into());
    review.online_meeting = true;
    let review = graph.add_event(review);
    let invitation = bot_dm(mattermost, mm, "the invitation DM", "Quarterly review").await?;
    steps.push(format!(
        "bot -> @alice: {}",
        first_line(&invitation.message)
    ));
    let accept = invitation.props["attachments"][0]["actions"][0]["id"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    mattermost
        .click_button(&mm.alice_id, &invitation.id, &accept)
        .await
        .map_err(|e| fail("clicking Accept")(e.to_string()))?;
    let answered = wait_for("Alice's answer to reach Microsoft 365", || {
        let answer = graph
            .events(alice)
            .into_iter()
            .find(|e| e.ical_uid == review.ical_uid)
            .map(|e| e.response)
            .filter(|r| r == "accepted");
        std::future::ready(answer)
    })
    .await?;
    steps.push(format!(
        "@alice clicked Accept -> the event is {answered} in her calendar and the post says \"You accepted.\""
    ));
    Ok(steps)
}
