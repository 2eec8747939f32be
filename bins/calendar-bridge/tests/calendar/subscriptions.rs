//! Event subscriptions (C4): one per connected user, recreated when Graph removes it, renewed
//! when Graph asks, listed and renewed by admins, deleted when the user disconnects.

use std::time::Duration;

use chrono::TimeDelta;
use graph_emulator::{Fault, FaultRule, LifecycleEvent};

use crate::support::{Bridge, Options, WEBHOOK_SECRET, eventually, now_s};

#[tokio::test(flavor = "multi_thread")]
async fn one_subscription_per_user_kept_and_dropped() {
    let b = Bridge::start(Options {
        people: vec!["alice", "bob"],
        admins: vec!["alice"],
        ..Options::default()
    })
    .await;
    b.connect_ready("alice").await;
    b.connect_ready("bob").await;

    // One each, pointing at the bridge, with the webhook secret.
    for name in ["alice", "bob"] {
        let subscriptions = b.subscriptions_of(name);
        assert_eq!(subscriptions.len(), 1, "{name}: {subscriptions:#?}");
        let s = &subscriptions[0];
        assert_eq!(
            s.notification_url,
            format!("{}/graph/notifications", b.public_url)
        );
        assert_eq!(
            s.lifecycle_notification_url.as_deref(),
            Some(format!("{}/graph/lifecycle", b.public_url).as_str())
        );
        assert_eq!(s.client_state.as_deref(), Some(WEBHOOK_SECRET));
        assert_eq!(s.change_type, "created,updated,deleted");
    }
    let (listed, _) = b.slash("alice", "admin subscriptions").await;
    assert!(listed.contains("Connected users: 2"), "{listed}");
    assert!(listed.contains("Event subscriptions: 2"), "{listed}");
    assert!(listed.contains("Soonest expiry"), "{listed}");

    // Graph removes Alice's: it is created again, and her invitations keep coming.
    let removed = b.subscriptions_of("alice").remove(0);
    b.graph
        .trigger_lifecycle(&removed.id, LifecycleEvent::SubscriptionRemoved)
        .expect("lifecycle");
    let recreated = eventually(10, || {
        let now = b.subscriptions_of("alice");
        let done = now.len() == 1 && now[0].id != removed.id;
        async move { done }
    })
    .await;
    assert!(
        recreated,
        "{:#?}\nlog:\n{}",
        b.subscriptions_of("alice"),
        b.log()
    );
    let start = now_s() + TimeDelta::hours(2);
    b.invite(
        &["alice"],
        "After the gap",
        start,
        start + TimeDelta::hours(1),
    );
    b.wait_dm("alice", 10, |p| p.message.contains("After the gap"))
        .await;

    // Graph asks for reauthorization of Bob's: renewed, same id, later expiry.
    let bobs = b.subscriptions_of("bob").remove(0);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    b.graph
        .trigger_lifecycle(&bobs.id, LifecycleEvent::ReauthorizationRequired)
        .expect("lifecycle");
    let renewed = eventually(10, || {
        let now = b.subscriptions_of("bob");
        let done = now.len() == 1 && now[0].id == bobs.id && now[0].expires_at > bobs.expires_at;
        async move { done }
    })
    .await;
    assert!(
        renewed,
        "{:#?}\nlog:\n{}",
        b.subscriptions_of("bob"),
        b.log()
    );

    // An admin renews them all.
    let (renew, _) = b.slash("alice", "admin subscriptions renew").await;
    assert!(renew.contains("2 renewed"), "{renew}");
    assert!(renew.contains("0 failed"), "{renew}");

    // Bob disconnects: his subscription goes.
    let (bye, _) = b.slash("bob", "disconnect").await;
    assert!(bye.contains("disconnected"), "{bye}");
    let gone = eventually(10, || {
        let n = b.subscriptions_of("bob").len();
        async move { n == 0 }
    })
    .await;
    assert!(gone, "{:#?}\nlog:\n{}", b.subscriptions_of("bob"), b.log());
    let (listed, _) = b.slash("alice", "admin subscriptions").await;
    assert!(listed.contains("Connected users: 1"), "{listed}");
    assert!(listed.contains("Event subscriptions: 1"), "{listed}");
    assert_eq!(b.subscriptions_of("alice").len(), 1);
    // An invitation to Bob now reaches nobody.
    b.invite(
        &["bob"],
        "Not for the bridge",
        start,
        start + TimeDelta::hours(1),
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        b.dms("bob")
            .iter()
            .all(|p| !p.message.contains("Not for the bridge")),
        "{:#?}",
        b.dms("bob")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_pass_stops_without_dropping_anyones_subscription() {
    let b = Bridge::start(Options {
        people: vec!["alice", "bob", "carol"],
        admins: vec!["alice"],
        ..Options::default()
    })
    .await;
    for name in ["alice", "bob", "carol"] {
        b.connect_ready(name).await;
    }
    let before: Vec<String> = ["alice", "bob", "carol"]
        .iter()
        .map(|name| b.subscriptions_of(name).remove(0).id)
        .collect();

    // Graph throttles every renewal for a while: the pass stops at the first one.
    b.graph.inject_fault(
        FaultRule::new(
            "/v1.0/subscriptions",
            Fault::Throttle {
                retry_after: Some("30".into()),
            },
        )
        .method("PATCH"),
    );
    let (renew, _) = b.slash("alice", "admin subscriptions renew").await;
    assert!(renew.contains("0 renewed"), "{renew}");
    assert!(renew.contains("0 deleted"), "{renew}");
    assert!(renew.contains("1 failed"), "{renew}");
    b.graph.clear_faults();

    // Those not reached are still there, unchanged: nobody stops hearing about invitations.
    let after: Vec<String> = ["alice", "bob", "carol"]
        .iter()
        .map(|name| {
            let mine = b.subscriptions_of(name);
            assert_eq!(mine.len(), 1, "{name}: {mine:#?}\nlog:\n{}", b.log());
            mine[0].id.clone()
        })
        .collect();
    assert_eq!(before, after);
    let (renew, _) = b.slash("alice", "admin subscriptions renew").await;
    assert!(renew.contains("3 renewed"), "{renew}");
}
