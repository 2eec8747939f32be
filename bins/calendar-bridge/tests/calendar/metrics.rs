//! Metrics (operations): what happened shows in `GET /metrics` as counters an operator can
//! alert on: the DMs sent by kind, status-sync changes, Graph requests by endpoint and status,
//! webhook items by outcome and button clicks, each counted once, without user data.

use std::time::Duration;

use chrono::TimeDelta;
use serde_json::json;

use crate::support::{Bridge, Options, eventually, now_s};

/// Waits until the sample reads `value` (an absent sample reads 0); false if it never does.
async fn reaches(b: &Bridge, sample: &str, value: f64) -> bool {
    eventually(10, || async move {
        b.metric(sample).await.unwrap_or(0.0) == value
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn counters_follow_what_users_get() {
    let b = Bridge::start(Options::people(&["alice"])).await;
    b.connect_ready("alice").await;
    b.slash("alice", "settings status auto").await;
    b.mattermost
        .set_status(b.mm("alice"), "online", 0)
        .expect("online");

    // Every series is there from the start, at 0.
    let text = b.metrics().await;
    for sample in [
        "calendar_bridge_dms_sent_total{kind=\"invitation\"} 0",
        "calendar_bridge_dms_sent_total{kind=\"reminder\"} 0",
        "calendar_bridge_status_changes_total{change=\"set_dnd\"} 0",
        "calendar_bridge_change_notifications_total{outcome=\"forged\"} 0",
        "calendar_bridge_button_clicks_total{outcome=\"ok\"} 0",
    ] {
        assert!(text.contains(sample), "{sample} missing:\n{text}");
    }

    // An invitation to a meeting starting in seconds: one invitation DM, and one reminder (its
    // 15-minute reminder is due at once).
    let start = now_s() + TimeDelta::seconds(4);
    let meeting = b.invite(
        &["alice"],
        "Sprint review",
        start,
        start + TimeDelta::seconds(8),
    );
    let invitation = b
        .wait_dm("alice", 10, |p| p.message.starts_with("**New invitation**"))
        .await;
    b.wait_dm("alice", 10, |p| {
        p.message.starts_with("Starting") && p.message.contains("Sprint review")
    })
    .await;
    for kind in ["invitation", "reminder"] {
        let sample = format!("calendar_bridge_dms_sent_total{{kind=\"{kind}\"}}");
        assert!(
            reaches(&b, &sample, 1.0).await,
            "{sample}:\n{}",
            b.metrics().await
        );
    }

    // Accepted with the button (answered at Graph as Alice): the meeting is busy time, so her
    // status goes to Do Not Disturb while it lasts, and back afterwards.
    b.click("alice", &invitation, "Accept").await;
    assert_eq!(
        b.metric("calendar_bridge_button_clicks_total{outcome=\"ok\"}")
            .await,
        Some(1.0)
    );
    assert_eq!(b.copy_of("alice", &meeting.ical_uid).response, "accepted");
    let set = "calendar_bridge_status_changes_total{change=\"set_dnd\"}";
    assert!(reaches(&b, set, 1.0).await, "{}", b.metrics().await);
    assert_eq!(b.status("alice"), "dnd");
    let restored = "calendar_bridge_status_changes_total{change=\"restored\"}";
    assert!(
        eventually(15, || async { b.metric(restored).await == Some(1.0) }).await,
        "{}",
        b.metrics().await
    );
    assert_eq!(b.status("alice"), "online");

    // A notification that does not carry our clientState is counted as forged, and not stored.
    let subscription = b.wait_for_subscription("alice").await;
    let forged = json!({"value": [{
        "subscriptionId": subscription.id,
        "clientState": "not-the-secret",
        "changeType": "created",
        "resource": format!("users/{}/events/AAMkForged", b.ms("alice")),
        "resourceData": {"id": "AAMkForged"},
    }]});
    let response = b
        .http
        .post(format!("{}/graph/notifications", b.public_url))
        .json(&forged)
        .send()
        .await
        .expect("notification");
    assert_eq!(response.status(), 202);
    assert_eq!(
        b.metric("calendar_bridge_change_notifications_total{outcome=\"forged\"}")
            .await,
        Some(1.0)
    );

    // Later ticks did not count the DMs or the status change again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let text = b.metrics().await;
    for sample in [
        "calendar_bridge_dms_sent_total{kind=\"invitation\"} 1",
        "calendar_bridge_dms_sent_total{kind=\"reminder\"} 1",
        "calendar_bridge_status_changes_total{change=\"set_dnd\"} 1",
        "calendar_bridge_status_changes_total{change=\"restored\"} 1",
        // The sign-in read /me once, the subscription was made once.
        "calendar_bridge_graph_requests_total{endpoint=\"me\",status=\"200\"} 1",
        "calendar_bridge_graph_requests_total{endpoint=\"create_subscription\",status=\"201\"} 1",
        "calendar_bridge_graph_requests_total{endpoint=\"respond_to_event\",status=\"202\"} 1",
    ] {
        assert!(text.contains(sample), "{sample} missing:\n{text}");
    }
    // Calendar reads went through, and real notifications were taken in.
    for sample in [
        "calendar_bridge_graph_requests_total{endpoint=\"calendar_views_batch\",status=\"200\"}",
        "calendar_bridge_graph_requests_total{endpoint=\"mailbox_time_zones_batch\",status=\"200\"}",
        "calendar_bridge_graph_requests_total{endpoint=\"event\",status=\"200\"}",
        "calendar_bridge_graph_requests_total{endpoint=\"token\",status=\"200\"}",
        "calendar_bridge_change_notifications_total{outcome=\"accepted\"}",
    ] {
        let value = e2e_support::metric(&text, sample).unwrap_or(0.0);
        assert!(value >= 1.0, "{sample} = {value}:\n{text}");
    }
    // The gauges are in the same exposition, which ends once.
    assert!(
        text.contains("calendar_bridge_connected_users 1\n"),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert_eq!(text.matches("# EOF").count(), 1, "{text}");
    // No user data in names or labels.
    for private in [
        b.mm("alice"),
        b.ms("alice"),
        "Sprint review",
        &subscription.id,
    ] {
        assert!(!text.contains(private), "{private} leaked:\n{text}");
    }
}
