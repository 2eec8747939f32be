//! Short-lived delegated tokens: answering an invitation uses the user's own token, which the
//! refresh job keeps fresh; when Microsoft no longer renews it, the user is told plainly.

use chrono::TimeDelta;

use crate::support::{Bridge, Options, eventually, now_s};

#[tokio::test(flavor = "multi_thread")]
async fn answers_work_with_renewed_tokens_and_fail_plainly_when_revoked() {
    // Tokens live 125 s and are renewed with 120 s left: every five seconds or so.
    let b = Bridge::start(Options {
        people: vec!["alice", "bob"],
        token_lifetime: TimeDelta::seconds(125),
        refresh_margin: Some(120),
        ..Options::default()
    })
    .await;
    b.connect_ready("alice").await;
    b.connect_ready("bob").await;
    let store = b.store().await;
    let first = store
        .account_link(b.mm("alice"))
        .await
        .expect("link")
        .expect("alice's link")
        .token_expires_at
        .expect("an expiry");

    // Renewed by the refresh job.
    let renewed = eventually(15, || {
        let store = store.clone();
        let alice = b.mm("alice").to_owned();
        async move {
            store
                .account_link(&alice)
                .await
                .ok()
                .flatten()
                .and_then(|l| l.token_expires_at)
                .is_some_and(|at| at > first)
        }
    })
    .await;
    assert!(
        renewed,
        "alice's token was never renewed; log:\n{}",
        b.log()
    );

    // Bob's status follows his meetings; one starts in a few seconds.
    b.slash("bob", "settings status auto").await;
    b.mattermost
        .set_status(b.mm("bob"), "online", 0)
        .expect("online");
    let standup_start = now_s() + TimeDelta::seconds(3);
    let standup_end = standup_start + TimeDelta::seconds(10);
    let mut standup = graph_emulator::NewEvent::meeting(b.ms("bob"), "Standup", standup_start);
    standup.end = standup_end;
    standup.attendees = vec![b.organizer_ms.clone()];
    b.graph.add_event(standup);

    let start = now_s() + TimeDelta::hours(2);
    let meeting = b.invite(
        &["alice", "bob"],
        "Roadmap",
        start,
        start + TimeDelta::hours(1),
    );
    let alice_dm = b
        .wait_dm("alice", 10, |p| p.message.contains("**New invitation**"))
        .await;
    let bob_dm = b
        .wait_dm("bob", 10, |p| p.message.contains("**New invitation**"))
        .await;

    // Alice answers with her renewed token.
    let clicked = b.click("alice", &alice_dm, "Tentative").await;
    let updated = clicked.updated_post.expect("updated");
    assert!(
        updated.message.ends_with("**You tentatively accepted.**"),
        "{}",
        updated.message
    );
    assert_eq!(
        b.copy_of("alice", &meeting.ical_uid).response,
        "tentativelyAccepted"
    );

    // Microsoft stops renewing Bob's during his standup: his link ends at the next renewal and
    // he is told.
    let dnd = eventually(8, || {
        let dnd = b.status("bob") == "dnd";
        async move { dnd }
    })
    .await;
    assert!(dnd, "bob: {}; log:\n{}", b.status("bob"), b.log());
    b.graph.revoke_refresh_tokens(b.ms("bob"));
    let told = b
        .wait_dm("bob", 15, |p| p.message.contains("stopped working"))
        .await;
    assert!(
        told.message.contains("/mscalendar connect"),
        "{}",
        told.message
    );
    let clicked = b.click("bob", &bob_dm, "Accept").await;
    let note = clicked.ephemeral.expect("an ephemeral answer").message;
    assert!(note.contains("not connected any more"), "{note}");
    assert!(
        clicked.updated_post.is_none(),
        "the invitation stays as it was"
    );
    assert_eq!(b.copy_of("bob", &meeting.ical_uid).response, "none");
    // His status still comes back when the standup ends.
    let back = eventually(
        u64::try_from((standup_end - chrono::Utc::now()).num_seconds().max(0)).unwrap_or(0) + 4,
        || {
            let online = b.status("bob") == "online";
            async move { online }
        },
    )
    .await;
    assert!(
        back,
        "bob after the standup: {}; log:\n{}",
        b.status("bob"),
        b.log()
    );
    let cleared = eventually(2, || {
        let custom = b.custom_status("bob");
        async move { custom.is_none() }
    })
    .await;
    assert!(cleared, "bob: {:?}", b.custom_status("bob"));
    store.close().await;
}
