//! How notifications are retried end to end: throttling does not use up an item's attempts, a
//! refused app secret makes items wait instead of dying, a slow Mattermost does not lead to a
//! second DM, and Graph's `Retry-After` on file downloads is honoured.

mod support;

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use graph_emulator::{
    AppRegistration, ChatType, EmulatorOptions, Fault, FaultRule, NewMessage, Presence,
};
use support::*;

/// Alice and Bob linked with notifications on, Bob away, and their one-on-one chat.
async fn away_bob(b: &Bridge) -> String {
    b.link_with_notifications(&b.alice).await;
    b.link_with_notifications(&b.bob).await;
    b.wait_for_subscription().await;
    let chat = b
        .graph
        .add_chat(ChatType::OneOnOne, None, &[&b.alice.ms_id, &b.bob.ms_id]);
    b.graph
        .set_presence(&b.bob.ms_id, Presence::new("Away", "Away"));
    chat.id
}

/// Bot DMs to Bob whose text contains `needle`.
fn dms_to_bob(b: &Bridge, needle: &str) -> Vec<mm_emulator::Post> {
    b.dms_to(&b.bob.mm_id)
        .into_iter()
        .filter(|p| p.message.contains(needle))
        .collect()
}

/// (status, attempts, failures, last_error) of every inbox item.
async fn inbox_rows(b: &Bridge) -> Vec<(String, i64, i64, Option<String>)> {
    let pool = sqlx::SqlitePool::connect(&b.store_url).await.expect("pool");
    let rows =
        sqlx::query_as("SELECT status, attempts, failures, last_error FROM inbox ORDER BY id")
            .fetch_all(&pool)
            .await
            .expect("inbox");
    pool.close().await;
    rows
}

/// Makes every waiting inbox item due now, as if its retry time had come.
async fn make_waiting_items_due(b: &Bridge) {
    let pool = sqlx::SqlitePool::connect(&b.store_url).await.expect("pool");
    sqlx::query("UPDATE inbox SET available_at = $1 WHERE status = 'pending'")
        .bind(Utc::now() - TimeDelta::seconds(1))
        .execute(&pool)
        .await
        .expect("make due");
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_rounds_do_not_use_up_an_items_attempts() {
    let b = Bridge::start(CommandSetup::ByHand).await;
    let chat = away_bob(&b).await;
    // The message read is throttled ten times (as many as an item's attempts), then the
    // connection drops once: one failure, which the item survives.
    let message_path = format!("/v1.0/chats/{chat}/messages/");
    b.graph.inject_fault(
        FaultRule::new(
            &message_path,
            Fault::Throttle {
                retry_after: Some("0.1".into()),
            },
        )
        .method("GET")
        .times(10),
    );
    b.graph.inject_fault(
        FaultRule::new(&message_path, Fault::DropConnection)
            .method("GET")
            .times(1),
    );
    b.graph
        .post_message(
            &chat,
            &b.alice.ms_id,
            NewMessage::html("<p>ten 429s later</p>"),
        )
        .expect("post");
    assert!(
        eventually(60, || async { dms_to_bob(&b, "ten 429s later").len() == 1 }).await,
        "not delivered; inbox {:?}; log:\n{}",
        inbox_rows(&b).await,
        b.log()
    );
    assert!(!b.log().contains("dead-lettered"), "{}", b.log());
    let rows = inbox_rows(&b).await;
    let done: Vec<_> = rows.iter().filter(|r| r.0 == "done").collect();
    assert_eq!(done.len(), 1, "{rows:?}");
    let (_, attempts, failures, _) = done[0];
    assert!(*attempts >= 12, "{rows:?}");
    assert_eq!(*failures, 1, "only the dropped connection counts: {rows:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_client_secret_makes_notifications_wait_not_die() {
    // App tokens last 4 s, so the bridge soon needs a new one.
    let b = Bridge::start_with(CommandSetup::ByHand, TimeDelta::seconds(4)).await;
    let chat = away_bob(&b).await;
    let registration = |secret: &str| AppRegistration {
        client_id: CLIENT_ID.into(),
        client_secret: secret.into(),
        redirect_uris: vec![format!("{}/oauth/redirect", b.public_url)],
        display_name: "bridge e2e".into(),
    };
    // The secret expired: Microsoft accepts only a new one, which the bridge does not have yet.
    b.graph.register_app(registration("the-rotated-secret"));
    tokio::time::sleep(Duration::from_secs(5)).await;
    b.graph
        .post_message(
            &chat,
            &b.alice.ms_id,
            NewMessage::html("<p>sent while the secret was expired</p>"),
        )
        .expect("post");
    let waiting = eventually(20, || async {
        inbox_rows(&b).await.iter().any(|(status, _, _, error)| {
            status == "pending" && error.as_deref().is_some_and(|e| e.contains("no app token"))
        })
    })
    .await;
    assert!(
        waiting,
        "the item does not wait: {:?}; log:\n{}",
        inbox_rows(&b).await,
        b.log()
    );
    let rows = inbox_rows(&b).await;
    assert!(rows.iter().all(|r| r.0 != "dead"), "{rows:?}");
    assert!(
        rows.iter().all(|r| r.2 == 0),
        "not counted as failures: {rows:?}"
    );
    let log = b.log();
    let alarms = log
        .lines()
        .filter(|l| l.contains("ERROR") && l.contains("refused the app's credentials"))
        .count();
    assert_eq!(alarms, 1, "{log}");
    assert!(!log.contains(CLIENT_SECRET), "{log}");
    assert!(!log.contains("the-rotated-secret"), "{log}");
    assert!(!log.contains("dead-lettered"), "{log}");

    // The admin fixes it (here: Microsoft accepts the configured secret again). Once the item's
    // time comes, it is delivered.
    b.graph.register_app(registration(CLIENT_SECRET));
    tokio::time::sleep(Duration::from_secs(16)).await;
    make_waiting_items_due(&b).await;
    assert!(
        eventually(20, || async {
            dms_to_bob(&b, "sent while the secret was expired").len() == 1
        })
        .await,
        "not delivered after the fix; inbox {:?}; log:\n{}",
        inbox_rows(&b).await,
        b.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_mattermost_does_not_lead_to_a_second_dm() {
    let b = Bridge::start_full(
        CommandSetup::ByHand,
        EmulatorOptions::default(),
        None,
        "notification_lease = 5\ngraph_rate_limit = 0",
    )
    .await;
    let chat = away_bob(&b).await;
    // Opening Bob's DM channel takes 45 s (two slow calls, each within the client's timeout):
    // longer than the delivery's reservation (the 5 s lease and 30 s for the post). Meanwhile
    // the other worker takes the item over and posts.
    b.mattermost.inject_fault(
        mm_emulator::FaultRule::on_route(
            "GET /api/v4/users/me",
            mm_emulator::Fault::Latency(Duration::from_secs(20)),
        )
        .times(1),
    );
    b.mattermost.inject_fault(
        mm_emulator::FaultRule::on_route(
            "POST /api/v4/channels/direct",
            mm_emulator::Fault::Latency(Duration::from_secs(25)),
        )
        .times(1),
    );
    let started = Instant::now();
    b.graph
        .post_message(
            &chat,
            &b.alice.ms_id,
            NewMessage::html("<p>slow server</p>"),
        )
        .expect("post");
    assert!(
        eventually(60, || async { !dms_to_bob(&b, "slow server").is_empty() }).await,
        "not delivered; log:\n{}",
        b.log()
    );
    // The slow worker is done by now: it must not have posted as well.
    if let Some(rest) = Duration::from_secs(55).checked_sub(started.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    let dms = dms_to_bob(&b, "slow server");
    assert_eq!(dms.len(), 1, "sent twice: {dms:?}; log:\n{}", b.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_downloads_wait_for_graphs_retry_after() {
    let b = Bridge::start(CommandSetup::ByHand).await;
    let chat = away_bob(&b).await;

    // A short Retry-After is waited out in full, then the file is attached.
    b.graph.inject_fault(
        FaultRule::new(
            "/v1.0/shares/",
            Fault::Throttle {
                retry_after: Some("7".into()),
            },
        )
        .times(1),
    );
    let started = Instant::now();
    b.graph
        .post_message(
            &chat,
            &b.alice.ms_id,
            NewMessage::html("<p>first report</p>").shared_file("report.txt", "numbers\n"),
        )
        .expect("post");
    assert!(
        eventually(30, || async { !dms_to_bob(&b, "first report").is_empty() }).await,
        "not delivered; log:\n{}",
        b.log()
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(7),
        "downloaded again {elapsed:?} after a Retry-After of 7 s"
    );
    let dm = dms_to_bob(&b, "first report").remove(0);
    assert_eq!(dm.file_ids.len(), 1, "{dm:?}");

    // A long one postpones the DM until then, rather than sending it without the file.
    b.graph.inject_fault(
        FaultRule::new(
            "/v1.0/shares/",
            Fault::Throttle {
                retry_after: Some("120".into()),
            },
        )
        .times(1),
    );
    b.graph
        .post_message(
            &chat,
            &b.alice.ms_id,
            NewMessage::html("<p>second report</p>").shared_file("report-2.txt", "more\n"),
        )
        .expect("post");
    let postponed = eventually(20, || async {
        inbox_rows(&b).await.iter().any(|(status, _, _, error)| {
            status == "pending" && error.as_deref().is_some_and(|e| e.contains("throttling"))
        })
    })
    .await;
    assert!(
        postponed,
        "not postponed: {:?}; log:\n{}",
        inbox_rows(&b).await,
        b.log()
    );
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert!(
        dms_to_bob(&b, "second report").is_empty(),
        "sent before Graph's Retry-After: {:?}",
        dms_to_bob(&b, "second report")
    );
    make_waiting_items_due(&b).await;
    assert!(
        eventually(20, || async { !dms_to_bob(&b, "second report").is_empty() }).await,
        "not delivered once due; log:\n{}",
        b.log()
    );
    let dms = dms_to_bob(&b, "second report");
    assert_eq!(dms.len(), 1, "{dms:?}");
    assert_eq!(
        dms[0].file_ids.len(),
        1,
        "the file is attached: {:?}",
        dms[0]
    );
}
