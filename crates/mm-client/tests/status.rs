//! Statuses and custom statuses against the Mattermost emulator: reading one or many, setting
//! them for a user as the bot (a system admin) does, what a plain token may not do, and the
//! custom status kept in the user's `props.customStatus`.

mod common;

use chrono::{TimeDelta, Utc};
use common::world;
use mm_client::{CustomStatus, MmError};
use secrecy::SecretString;
use serde_json::Value;

#[tokio::test]
async fn statuses_are_read_one_or_many_at_a_time() {
    let w = world().await;
    let bot = w.bot();

    // Nobody set one yet: offline, not manual.
    let initial = bot.status(&w.alice.id).await.expect("status");
    assert_eq!(initial.user_id, w.alice.id);
    assert_eq!(initial.status, "offline");
    assert!(!initial.manual);

    // Bob chooses "away" by hand.
    w.mm.set_status(&w.bob.id, "away", 0).expect("bob away");
    let bob = bot.status(&w.bob.id).await.expect("bob");
    assert_eq!((bob.status.as_str(), bob.manual), ("away", true));

    // Many at once: one per distinct id, unknown ids offline.
    let unknown = "abcdefghijklmnopqrstuvwxyz".to_owned();
    let mut statuses = bot
        .statuses(&[
            w.alice.id.clone(),
            w.bob.id.clone(),
            w.alice.id.clone(),
            unknown.clone(),
        ])
        .await
        .expect("statuses");
    statuses.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    let mut expected = vec![
        (w.alice.id.clone(), "offline"),
        (w.bob.id.clone(), "away"),
        (unknown, "offline"),
    ];
    expected.sort();
    assert_eq!(
        statuses
            .iter()
            .map(|s| (s.user_id.clone(), s.status.as_str()))
            .collect::<Vec<_>>(),
        expected
    );

    // Large lists go in chunks; no ids, no request.
    let route = "POST /api/v4/users/status/ids";
    w.mm.reset_counters();
    assert!(bot.statuses(&[]).await.expect("none").is_empty());
    assert_eq!(w.mm.request_count(route), 0);
    let many: Vec<String> = (0..450).map(|i| format!("{i:026}")).collect();
    let all = bot.statuses(&many).await.expect("many");
    assert_eq!(all.len(), 450);
    assert!(all.iter().all(|s| s.status == "offline"));
    assert_eq!(w.mm.request_count(route), 3);

    // A malformed id spoils its request.
    let err = bot
        .statuses(&["not-an-id".to_owned()])
        .await
        .expect_err("400");
    assert!(matches!(err, MmError::Api { status: 400, .. }), "{err:?}");
}

#[tokio::test]
async fn the_bot_sets_a_users_status_and_a_plain_token_may_not() {
    let w = world().await;
    let bot = w.bot();
    let end = Utc::now().timestamp() + 3600;

    let set = bot
        .set_status(&w.alice.id, "dnd", Some(end))
        .await
        .expect("dnd");
    assert_eq!(set.user_id, w.alice.id);
    assert_eq!(set.status, "dnd");
    assert!(set.manual);
    assert_eq!(set.dnd_end_time, end);
    let seen = w.mm.status(&w.alice.id);
    assert_eq!((seen.status.as_str(), seen.dnd_end_time), ("dnd", end));
    assert_eq!(bot.status(&w.alice.id).await.expect("read"), set);

    // Back to online: activity decides again.
    let online = bot
        .set_status(&w.alice.id, "online", None)
        .await
        .expect("online");
    assert!(!online.manual);
    assert_eq!(online.dnd_end_time, 0);

    // Alice may set her own, not Bob's; nor may a bot that is not a system admin.
    let alice = w.client(&w.alice_token);
    assert_eq!(
        alice
            .set_status(&w.alice.id, "away", None)
            .await
            .expect("own")
            .status,
        "away"
    );
    let refused = alice
        .set_status(&w.bob.id, "away", None)
        .await
        .expect_err("403");
    assert!(matches!(refused, MmError::Forbidden(_)), "{refused:?}");
    let plain = w.mm.create_bot("calendar", "Calendar").expect("bot");
    let plain = w.client(&SecretString::from(plain.token));
    assert!(matches!(
        plain.set_status(&w.bob.id, "dnd", None).await,
        Err(MmError::Forbidden(_))
    ));
    assert_eq!(w.mm.status(&w.bob.id).status, "offline");

    let invalid = bot
        .set_status(&w.bob.id, "busy", None)
        .await
        .expect_err("400");
    assert!(
        matches!(invalid, MmError::Api { status: 400, .. }),
        "{invalid:?}"
    );
}

/// The user's `props.customStatus` as stored.
fn stored_custom_status(w: &common::World, user_id: &str) -> String {
    w.mm.user(user_id).expect("user").props["customStatus"]
        .as_str()
        .expect("a JSON string")
        .to_owned()
}

#[tokio::test]
async fn custom_statuses_are_set_read_and_cleared_for_a_user() {
    let w = world().await;
    let bot = w.bot();
    assert_eq!(bot.custom_status(&w.alice.id).await.expect("none"), None);

    let end = Utc::now() + TimeDelta::hours(1);
    let meeting = CustomStatus::new("calendar", "In a meeting").until(end);
    bot.set_custom_status(&w.alice.id, &meeting)
        .await
        .expect("set");
    assert_eq!(
        bot.custom_status(&w.alice.id).await.expect("read"),
        Some(meeting.clone())
    );
    // Kept as Mattermost keeps it: a JSON string with the four fields.
    let stored: Value = serde_json::from_str(&stored_custom_status(&w, &w.alice.id)).expect("json");
    assert_eq!(stored["emoji"], "calendar");
    assert_eq!(stored["text"], "In a meeting");
    assert_eq!(stored["duration"], "date_and_time");
    let stored_end: chrono::DateTime<Utc> = stored["expires_at"]
        .as_str()
        .expect("time")
        .parse()
        .expect("RFC 3339");
    assert_eq!(stored_end, end);
    let seen = w.mm.custom_status(&w.alice.id).expect("read").expect("set");
    assert_eq!(seen.expires_at, Some(end));

    // Without an end: no duration, no expiry (Go's zero time on the server).
    let away = CustomStatus::new("palm_tree", "On holiday");
    bot.set_custom_status(&w.alice.id, &away)
        .await
        .expect("no end");
    assert_eq!(
        bot.custom_status(&w.alice.id).await.expect("read"),
        Some(away)
    );
    assert!(stored_custom_status(&w, &w.alice.id).contains("\"0001-01-01T00:00:00Z\""));

    bot.clear_custom_status(&w.alice.id).await.expect("clear");
    assert_eq!(bot.custom_status(&w.alice.id).await.expect("read"), None);
    assert_eq!(stored_custom_status(&w, &w.alice.id), "");
    bot.clear_custom_status(&w.alice.id)
        .await
        .expect("clearing none is fine");
}

#[tokio::test]
async fn an_ended_custom_status_reads_as_none() {
    let w = world().await;
    // The props still hold a status whose end has passed, as Mattermost leaves them.
    let ended = r#"{"emoji":"calendar","text":"Standup","duration":"date_and_time","expires_at":"2001-01-01T09:15:00Z"}"#;
    let response = reqwest::Client::new()
        .put(format!(
            "{}api/v4/users/{}/patch",
            w.mm.site_url(),
            w.alice.id
        ))
        .bearer_auth(secrecy::ExposeSecret::expose_secret(&w.admin_token))
        .json(&serde_json::json!({"props": {"customStatus": ended}}))
        .send()
        .await
        .expect("patch");
    assert!(response.status().is_success());
    assert_eq!(stored_custom_status(&w, &w.alice.id), ended);
    assert_eq!(
        w.bot().custom_status(&w.alice.id).await.expect("read"),
        None
    );
}

#[tokio::test]
async fn custom_statuses_are_checked_and_guarded() {
    let w = world().await;
    let alice = w.client(&w.alice_token);

    // Her own is fine; Bob's is not.
    alice
        .set_custom_status(&w.alice.id, &CustomStatus::new("coffee", "Break"))
        .await
        .expect("own");
    let refused = alice
        .set_custom_status(&w.bob.id, &CustomStatus::new("coffee", "Break"))
        .await
        .expect_err("403");
    assert!(matches!(refused, MmError::Forbidden(_)), "{refused:?}");
    assert!(matches!(
        alice.clear_custom_status(&w.bob.id).await,
        Err(MmError::Forbidden(_))
    ));
    let plain = w.mm.create_bot("calendar", "Calendar").expect("bot");
    assert!(matches!(
        w.client(&SecretString::from(plain.token))
            .set_custom_status(&w.bob.id, &CustomStatus::new("calendar", "Busy"))
            .await,
        Err(MmError::Forbidden(_))
    ));

    // Nothing to show, an end already past, a duration without an end: refused.
    for bad in [
        CustomStatus::default(),
        CustomStatus::new("calendar", "Old").until(Utc::now() - TimeDelta::minutes(5)),
        CustomStatus {
            duration: Some("one_hour".to_owned()),
            ..CustomStatus::new("calendar", "Soon")
        },
    ] {
        let err = w
            .bot()
            .set_custom_status(&w.bob.id, &bad)
            .await
            .expect_err("400");
        assert!(matches!(err, MmError::Api { status: 400, .. }), "{err:?}");
    }
    assert_eq!(w.bot().custom_status(&w.bob.id).await.expect("read"), None);
}
