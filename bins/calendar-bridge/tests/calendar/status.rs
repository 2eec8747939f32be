//! Status sync (C3): during a meeting the Mattermost status shows Do Not Disturb with an "In a
//! meeting" custom status, and goes back afterwards; a status changed by hand is not overwritten,
//! an offline user is left alone, and in confirm mode the user is asked first.
//!
//! The meeting is added while the bridge runs and starts seconds later: the bridge re-reads
//! calendars only every 30 minutes on its own (`reconcile_interval`), so the status following it
//! proves that the change notification drove it.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::support::{Bridge, Options, buttons, eventually, now_s};

/// Waits until `name`'s status is `status` (within `secs`).
async fn status_becomes(b: &Bridge, name: &str, status: &str, secs: u64) -> bool {
    eventually(secs, || {
        let now = b.status(name);
        async move { now == status }
    })
    .await
}

/// Waits until `name`'s custom status text is `text` (within `secs`): the bridge sets it just
/// after the status.
async fn custom_becomes(b: &Bridge, name: &str, text: Option<&str>, secs: u64) -> bool {
    eventually(secs, || {
        let now = b.custom_status(name);
        async move { now.as_deref() == text }
    })
    .await
}

async fn sleep_until(at: DateTime<Utc>) {
    if let Ok(wait) = (at - Utc::now()).to_std() {
        tokio::time::sleep(wait).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_status_follows_meetings() {
    let everyone = [
        "alice", "bob", "carol", "dave", "erin", "frank", "gina", "hank",
    ];
    let mut b = Bridge::start(Options::people(&everyone)).await;
    for name in everyone {
        b.connect_ready(name).await;
        b.slash(name, "settings reminders off").await;
    }
    for name in ["alice", "bob", "carol", "frank", "gina", "hank"] {
        let (reply, _) = b.slash(name, "settings status auto").await;
        assert!(reply.contains("changed automatically"), "{reply}");
    }
    for name in ["dave", "erin"] {
        let (reply, _) = b.slash(name, "settings status confirm").await;
        assert!(reply.contains("asked before"), "{reply}");
    }
    // Alice, Bob, Dave and Erin are online; Carol never came online. Alice shows a custom
    // status of her own.
    // Hank prefers Away, without a custom status.
    b.slash("hank", "settings busy away").await;
    let (reply, _) = b.slash("hank", "settings custom-status off").await;
    assert!(
        reply.contains("Status during meetings:** set to Away automatically"),
        "{reply}"
    );
    for name in ["alice", "bob", "dave", "erin", "frank", "gina", "hank"] {
        b.mattermost
            .set_status(b.mm(name), "online", 0)
            .expect("online");
    }
    b.mattermost
        .set_custom_status(
            b.mm("alice"),
            &mm_emulator::CustomStatus {
                emoji: "house".into(),
                text: "Working from home".into(),
                duration: String::new(),
                expires_at: None,
            },
        )
        .expect("custom status");
    // The watch job has read everyone's (empty) calendar by now.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let start = now_s() + TimeDelta::seconds(4);
    let end = start + TimeDelta::seconds(15);
    let meeting = b.invite(&everyone, "Quarterly planning", start, end);
    // An invitation not answered shows as tentative, which is not busy: everyone accepts.
    for name in everyone {
        b.answer_in_outlook(name, &meeting.ical_uid, "accept").await;
    }

    // Nothing changes before the meeting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(b.status("alice"), "online");

    // It starts: Do Not Disturb and "In a meeting" within a few seconds.
    sleep_until(start).await;
    let alice_dnd = status_becomes(&b, "alice", "dnd", 5).await;
    assert!(
        alice_dnd,
        "alice: {}; {}\nlog:\n{}",
        b.status("alice"),
        b.state_of("alice").await,
        b.log()
    );
    assert!(
        custom_becomes(&b, "alice", Some("In a meeting"), 2).await,
        "alice: {:?}",
        b.custom_status("alice")
    );
    assert!(
        status_becomes(&b, "bob", "dnd", 5).await,
        "bob: {}",
        b.status("bob")
    );
    // Bob sets himself away by hand during the meeting.
    b.mattermost
        .set_status(b.mm("bob"), "away", 0)
        .expect("away");
    // Frank disconnects during the meeting: what the bridge set is undone at once, since it
    // will not be there to undo it at the end.
    assert!(
        status_becomes(&b, "frank", "dnd", 5).await,
        "frank: {}",
        b.status("frank")
    );
    let (bye, _) = b.slash("frank", "disconnect").await;
    assert!(bye.contains("disconnected"), "{bye}");
    assert!(
        status_becomes(&b, "frank", "online", 5).await,
        "frank after disconnecting: {}",
        b.status("frank")
    );
    assert!(
        custom_becomes(&b, "frank", None, 2).await,
        "frank: {:?}",
        b.custom_status("frank")
    );
    // Gina turns status sync off during the meeting: her status comes back at once.
    assert!(
        status_becomes(&b, "gina", "dnd", 5).await,
        "gina: {}",
        b.status("gina")
    );
    b.slash("gina", "settings status off").await;
    assert!(
        status_becomes(&b, "gina", "online", 5).await,
        "gina after turning it off: {}",
        b.status("gina")
    );
    assert!(
        custom_becomes(&b, "gina", None, 2).await,
        "gina: {:?}",
        b.custom_status("gina")
    );
    // Hank shows Away, and no custom status.
    assert!(
        status_becomes(&b, "hank", "away", 5).await,
        "hank: {}",
        b.status("hank")
    );
    assert!(
        custom_becomes(&b, "hank", None, 2).await,
        "hank: {:?}",
        b.custom_status("hank")
    );
    // Carol is offline: left alone.
    assert_eq!(b.status("carol"), "offline");
    assert_eq!(b.custom_status("carol"), None);
    // Dave is asked, and says yes.
    let prompt = b
        .wait_dm("dave", 5, |p| p.message.contains("is starting"))
        .await;
    assert!(
        prompt
            .message
            .contains("Your meeting **Quarterly planning** is starting. Set your status to Do Not Disturb until"),
        "{}",
        prompt.message
    );
    let labels: Vec<String> = buttons(&prompt).into_iter().map(|(_, l)| l).collect();
    assert_eq!(labels, ["Yes, change my status", "No, leave it"]);
    assert_eq!(b.status("dave"), "online", "not changed before the answer");
    let clicked = b.click("dave", &prompt, "Yes, change my status").await;
    let updated = clicked.updated_post.expect("the prompt is updated");
    assert!(
        updated
            .message
            .contains("Your status is set for this meeting"),
        "{}",
        updated.message
    );
    assert!(
        buttons(&updated).is_empty(),
        "the answered prompt loses its buttons"
    );
    assert_eq!(b.status("dave"), "dnd");
    assert!(
        custom_becomes(&b, "dave", Some("In a meeting"), 2).await,
        "dave: {:?}",
        b.custom_status("dave")
    );
    // Erin is asked too, and says no: nothing changes.
    let prompt = b
        .wait_dm("erin", 5, |p| p.message.contains("is starting"))
        .await;
    let clicked = b.click("erin", &prompt, "No, leave it").await;
    let updated = clicked.updated_post.expect("the prompt is updated");
    assert!(
        updated.message.contains("left alone"),
        "{}",
        updated.message
    );
    assert_eq!(b.status("erin"), "online");
    assert_eq!(b.custom_status("erin"), None);

    // The bridge crashes and comes back during the meeting: what it applied is remembered.
    b.restart().await;
    assert!(
        Utc::now() < end - TimeDelta::seconds(1),
        "the meeting ended too early for the test"
    );
    assert_eq!(b.status("alice"), "dnd");

    // It ends: Alice and Dave are back online without the custom status; Bob's own choice
    // stands; Carol was never touched.
    sleep_until(end).await;
    assert!(
        status_becomes(&b, "alice", "online", 6).await,
        "alice after: {}; log:\n{}",
        b.status("alice"),
        b.log()
    );
    // Her own custom status comes back (just after the status: actions run in order).
    let restored = eventually(2, || {
        let custom = b.custom_status("alice");
        async move { custom.as_deref() == Some("Working from home") }
    })
    .await;
    assert!(
        restored,
        "alice's custom status: {:?}",
        b.custom_status("alice")
    );
    assert!(
        status_becomes(&b, "dave", "online", 6).await,
        "dave: {}",
        b.status("dave")
    );
    assert!(
        custom_becomes(&b, "dave", None, 2).await,
        "dave: {:?}",
        b.custom_status("dave")
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        b.status("bob"),
        "away",
        "a status set by hand is not overwritten"
    );
    assert_eq!(b.status("carol"), "offline");
    assert_eq!(b.custom_status("carol"), None);
    assert_eq!(b.status("erin"), "online");
    assert!(
        status_becomes(&b, "hank", "online", 2).await,
        "hank: {}",
        b.status("hank")
    );
    assert_eq!(b.status("gina"), "online");
    // One question to Dave only (the answered one says so now).
    let asked: Vec<String> = b
        .dms("dave")
        .into_iter()
        .map(|p| p.message)
        .filter(|m| !m.contains("now connected") && !m.contains("New invitation"))
        .collect();
    assert_eq!(asked.len(), 1, "{asked:#?}");
    for name in ["alice", "bob", "carol"] {
        assert!(
            b.dms_matching(name, |p| p.message.contains("is starting"))
                .is_empty(),
            "{name} was asked"
        );
    }
}

/// The status comes back as Mattermost had it: an `away` Mattermost set itself (idle, not chosen
/// by hand) is handed back to it as `online` rather than pinned; an `away` chosen by hand comes
/// back as it was; and where custom statuses are refused (turned off on the server), the status
/// is still set and put back.
#[tokio::test(flavor = "multi_thread")]
async fn the_status_comes_back_as_mattermost_had_it() {
    let people = ["alice", "bob", "carol"];
    let b = Bridge::start(Options::people(&people)).await;
    for name in people {
        b.connect_ready(name).await;
        b.slash(name, "settings reminders off").await;
        let (reply, _) = b.slash(name, "settings status auto").await;
        assert!(reply.contains("changed automatically"), "{reply}");
    }
    // Alice went idle: Mattermost made her away (not manual).
    let control = format!(
        "{}users/{}/status",
        b.mattermost.control_url(),
        b.mm("alice")
    );
    let idle: serde_json::Value = b
        .http
        .put(&control)
        .json(&serde_json::json!({"status": "away", "manual": false}))
        .send()
        .await
        .expect("idle")
        .json()
        .await
        .expect("json");
    assert_eq!(idle["manual"], false, "{idle}");
    // Bob is online on a server that refuses custom statuses (501, as when they are off).
    b.mattermost
        .set_status(b.mm("bob"), "online", 0)
        .expect("online");
    b.mattermost
        .inject_fault(mm_emulator::FaultRule::on_path_prefix(
            &format!("/api/v4/users/{}/status/custom", b.mm("bob")),
            mm_emulator::Fault::Status(501),
        ));
    // Carol chose away by hand.
    b.mattermost
        .set_status(b.mm("carol"), "away", 0)
        .expect("away");
    tokio::time::sleep(Duration::from_secs(2)).await;

    let start = now_s() + TimeDelta::seconds(5);
    let end = start + TimeDelta::seconds(10);
    let meeting = b.invite(&people, "Budget review", start, end);
    for name in people {
        b.answer_in_outlook(name, &meeting.ical_uid, "accept").await;
    }
    sleep_until(start).await;
    for name in people {
        assert!(
            status_becomes(&b, name, "dnd", 5).await,
            "{name}: {}; {}\nlog:\n{}",
            b.status(name),
            b.state_of(name).await,
            b.log()
        );
    }
    assert!(
        custom_becomes(&b, "alice", Some("In a meeting"), 2).await,
        "alice: {:?}",
        b.custom_status("alice")
    );
    assert_eq!(b.custom_status("bob"), None, "refused");

    sleep_until(end).await;
    assert!(
        status_becomes(&b, "alice", "online", 6).await,
        "alice after: {}; {}",
        b.status("alice"),
        b.state_of("alice").await
    );
    assert!(
        !b.mattermost.status(b.mm("alice")).manual,
        "handed back to Mattermost"
    );
    assert!(
        status_becomes(&b, "bob", "online", 6).await,
        "bob after: {}; {}\nlog:\n{}",
        b.status("bob"),
        b.state_of("bob").await,
        b.log()
    );
    assert!(
        status_becomes(&b, "carol", "away", 6).await,
        "carol after: {}",
        b.status("carol")
    );
    assert!(b.log().contains("could not change a custom status"));
    // And they stay so.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        [b.status("alice"), b.status("bob"), b.status("carol")],
        ["online", "online", "away"]
    );
}
