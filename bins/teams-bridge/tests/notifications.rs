//! Presence-gated chat notifications end to end (T6, T7, B1, S8): the real `teams-bridge serve`
//! process subscribes at the Graph emulator, which POSTs change notifications for messages typed
//! in Teams; DMs appear (or rightly do not) at the Mattermost emulator.

mod support;

use std::time::Duration;

use graph_emulator::{ChatType, NewMessage, Presence};
use serde_json::json;
use support::*;

const WEBHOOK_SECRET: &str = "e2e-webhook-secret-0123456789";

async fn linked_pair() -> Bridge {
    let b = Bridge::start(CommandSetup::ByHand).await;
    b.link_with_notifications(&b.alice).await;
    b.link_with_notifications(&b.bob).await;
    b.wait_for_subscription().await;
    b
}

/// Bot DMs to `user` whose text contains `needle`.
fn dms_containing(b: &Bridge, user: &str, needle: &str) -> usize {
    b.dms_to(user)
        .iter()
        .filter(|p| p.message.contains(needle))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_to_an_away_user_arrives_once_and_not_while_available() {
    let b = linked_pair().await;
    let chat = b
        .graph
        .add_chat(ChatType::OneOnOne, None, &[&b.alice.ms_id, &b.bob.ms_id]);

    // Bob is away from Teams: Alice's message becomes a DM from the bot.
    b.graph
        .set_presence(&b.bob.ms_id, Presence::new("Away", "Away"));
    b.graph
        .post_message(
            &chat.id,
            &b.alice.ms_id,
            NewMessage::html("<p>Lunch at <b>noon</b>?</p>"),
        )
        .expect("post");
    assert!(
        eventually(10, || async {
            dms_containing(&b, &b.bob.mm_id, "noon") == 1
        })
        .await,
        "no DM; log:\n{}",
        b.log()
    );
    let dm = b
        .dms_to(&b.bob.mm_id)
        .into_iter()
        .find(|p| p.message.contains("noon"))
        .expect("dm");
    assert!(
        dm.message
            .starts_with("**Alice Smith** in an MS Teams chat:\n> Lunch at **noon**?"),
        "{}",
        dm.message
    );
    assert!(
        dm.message
            .contains("[Open in Microsoft Teams](https://teams.microsoft.com/"),
        "{}",
        dm.message
    );
    assert_eq!(dm.user_id, b.bot_mm, "sent by the bot");
    // The sender gets nothing about their own message.
    assert_eq!(dms_containing(&b, &b.alice.mm_id, "noon"), 0);

    // Bob is back (Available): the next message is not forwarded.
    b.graph
        .set_presence(&b.bob.ms_id, Presence::new("Available", "Available"));
    b.graph
        .post_message(
            &chat.id,
            &b.alice.ms_id,
            NewMessage::html("<p>Still on?</p>"),
        )
        .expect("post");
    assert!(
        eventually(10, || async {
            b.metric("teams_bridge_notifications_discarded_total{reason=\"active_in_teams\"}")
                .await
                >= 1.0
        })
        .await,
        "not held back; metrics:\n{}",
        b.metrics().await
    );
    assert_eq!(dms_containing(&b, &b.bob.mm_id, "Still on"), 0);
    assert_eq!(dms_containing(&b, &b.bob.mm_id, "noon"), 1, "no duplicate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivered_and_forged_notifications_send_nothing_more() {
    let b = linked_pair().await;
    let subscription = b.wait_for_subscription().await;
    let chat = b
        .graph
        .add_chat(ChatType::OneOnOne, None, &[&b.alice.ms_id, &b.bob.ms_id]);
    b.graph
        .set_presence(&b.bob.ms_id, Presence::new("Offline", "OffWork"));
    let message = b
        .graph
        .post_message(
            &chat.id,
            &b.alice.ms_id,
            NewMessage::html("<p>Report is ready</p>"),
        )
        .expect("post");
    assert!(
        eventually(10, || async {
            dms_containing(&b, &b.bob.mm_id, "Report is ready") == 1
        })
        .await,
        "no DM; log:\n{}",
        b.log()
    );

    let url = format!("{}/graph/notifications", b.public_url);
    let item = |client_state: &str| {
        json!({
            "subscriptionId": subscription.id,
            "clientState": client_state,
            "changeType": "created",
            "resource": format!("chats('{}')/messages('{}')", chat.id, message.id),
            "subscriptionExpirationDateTime": "2026-12-01T00:00:00Z",
            "resourceData": {
                "id": message.id,
                "@odata.type": "#Microsoft.Graph.chatMessage",
                "@odata.id": format!("chats('{}')/messages('{}')", chat.id, message.id)
            },
            "tenantId": b.graph.tenant_id(),
        })
    };
    // Graph redelivers the same notification (twice in one batch, and again later): one DM.
    for _ in 0..2 {
        let response = b
            .http
            .post(&url)
            .json(&json!({"value": [item(WEBHOOK_SECRET), item(WEBHOOK_SECRET)]}))
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), 202);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        dms_containing(&b, &b.bob.mm_id, "Report is ready"),
        1,
        "redeliveries send nothing more"
    );

    // A forged item (wrong clientState) beside a valid one, each naming another message: the
    // forged one is dropped and counted, the valid one is stored, the batch is accepted.
    let about = |message_id: &str, client_state: &str| {
        json!({
            "subscriptionId": subscription.id,
            "clientState": client_state,
            "changeType": "created",
            "resource": format!("chats('{}')/messages('{}')", chat.id, message_id),
        })
    };
    let forged_before = b
        .metric("teams_bridge_notifications_discarded_total{reason=\"client_state\"}")
        .await;
    let response = b
        .http
        .post(&url)
        .json(&json!({"value": [
            about("1700000000001", "not-the-secret-at-all"),
            about("1700000000002", WEBHOOK_SECRET),
        ]}))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 202);
    assert_eq!(
        b.metric("teams_bridge_notifications_discarded_total{reason=\"client_state\"}")
            .await,
        forged_before + 1.0
    );
    let keys = inbox_keys(&b.store_url).await;
    assert!(
        keys.contains(&format!("created:{}:1700000000002", chat.id)),
        "{keys:?}"
    );
    assert!(
        !keys.iter().any(|k| k.ends_with(":1700000000001")),
        "{keys:?}"
    );
    // Nothing stored holds the webhook secret.
    assert!(
        !inbox_payloads(&b.store_url)
            .await
            .iter()
            .any(|p| p.contains(WEBHOOK_SECRET))
    );
}

async fn inbox_column(store_url: &str, column: &str) -> Vec<String> {
    let pool = sqlx::SqlitePool::connect(store_url).await.expect("pool");
    let rows: Vec<Option<String>> = sqlx::query_scalar(&format!("SELECT {column} FROM inbox"))
        .fetch_all(&pool)
        .await
        .expect("inbox");
    pool.close().await;
    rows.into_iter().flatten().collect()
}

async fn inbox_keys(store_url: &str) -> Vec<String> {
    inbox_column(store_url, "dedupe_key").await
}

async fn inbox_payloads(store_url: &str) -> Vec<String> {
    inbox_column(store_url, "payload").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_answers_the_handshake_and_refuses_bad_bodies() {
    let b = Bridge::start(CommandSetup::ByHand).await;
    for path in ["/graph/notifications", "/graph/lifecycle"] {
        let response = b
            .http
            .post(format!(
                "{}{path}?validationToken=Validation%3A%20Testing%20client%20application%20reachability",
                b.public_url
            ))
            .send()
            .await
            .expect("handshake");
        assert_eq!(response.status(), 200, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .expect("type")
                .starts_with("text/plain"),
            "{path}"
        );
        assert_eq!(
            response.text().await.expect("body"),
            "Validation: Testing client application reachability"
        );
    }
    let url = format!("{}/graph/notifications", b.public_url);
    let malformed = b
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("post");
    assert_eq!(malformed.status(), 400);
    let oversized = b
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body(format!(
            "{{\"value\":[],\"pad\":\"{}\"}}",
            "x".repeat(1 << 20)
        ))
        .send()
        .await
        .expect("post");
    assert_eq!(oversized.status(), 413);
    // Nothing reached the inbox.
    let store = b.store().await;
    let counts = store
        .inbox_counts(chrono::Utc::now())
        .await
        .expect("counts");
    assert_eq!(counts.pending + counts.in_flight + counts.dead, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_subscription_is_recreated_and_messages_flow_again() {
    let b = linked_pair().await;
    let first = b.wait_for_subscription().await;
    assert_eq!(
        first.resource, "/chats/getAllMessages",
        "evaluation mode: no model"
    );
    assert_eq!(first.change_type, "created");
    assert_eq!(
        first.lifecycle_notification_url.as_deref(),
        Some(format!("{}/graph/lifecycle", b.public_url).as_str())
    );
    b.graph
        .trigger_lifecycle(
            &first.id,
            graph_emulator::LifecycleEvent::SubscriptionRemoved,
        )
        .expect("remove");
    assert!(
        eventually(10, || async {
            b.graph
                .subscriptions()
                .iter()
                .any(|s| s.id != first.id && s.notification_url == first.notification_url)
        })
        .await,
        "not recreated; log:\n{}",
        b.log()
    );
    assert_eq!(b.graph.subscriptions().len(), 1, "exactly one subscription");

    let chat = b.graph.add_chat(
        ChatType::Group,
        Some("Launch plan"),
        &[&b.alice.ms_id, &b.bob.ms_id, &b.mallory_ms],
    );
    b.graph
        .set_presence(&b.alice.ms_id, Presence::new("Offline", "Offline"));
    b.graph
        .set_presence(&b.bob.ms_id, Presence::new("Away", "Away"));
    b.graph
        .post_message(
            &chat.id,
            &b.mallory_ms,
            NewMessage::html("<p>Go / no go?</p>"),
        )
        .expect("post");
    for person in [&b.alice, &b.bob] {
        assert!(
            eventually(10, || async {
                dms_containing(&b, &person.mm_id, "Go / no go?") == 1
            })
            .await,
            "no DM to {}; log:\n{}",
            person.mm_id,
            b.log()
        );
    }
    let dm = b
        .dms_to(&b.bob.mm_id)
        .into_iter()
        .find(|p| p.message.contains("Go / no go?"))
        .expect("dm");
    assert!(
        dm.message.starts_with(
            "**Mallory Moe** and 1 other user in an MS Teams group chat **Launch plan**:"
        ),
        "{}",
        dm.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_sent_while_the_bridge_was_down_are_caught_up_once() {
    // Graph gives up on an unreachable webhook at once here, so only catch-up can bring them.
    let mut b = Bridge::start_custom(
        CommandSetup::ByHand,
        graph_emulator::EmulatorOptions {
            retry_delays: Vec::new(),
            ..graph_emulator::EmulatorOptions::default()
        },
    )
    .await;
    b.link_with_notifications(&b.alice).await;
    b.link_with_notifications(&b.bob).await;
    b.wait_for_subscription().await;
    let chat = b
        .graph
        .add_chat(ChatType::OneOnOne, None, &[&b.alice.ms_id, &b.bob.ms_id]);
    b.graph
        .set_presence(&b.bob.ms_id, Presence::new("Away", "Away"));
    b.graph
        .post_message(&chat.id, &b.alice.ms_id, NewMessage::html("<p>before</p>"))
        .expect("post");
    assert!(
        eventually(10, || async {
            dms_containing(&b, &b.bob.mm_id, "before") == 1
        })
        .await,
        "no DM; log:\n{}",
        b.log()
    );

    b.kill();
    for text in ["while down 1", "while down 2"] {
        b.graph
            .post_message(
                &chat.id,
                &b.alice.ms_id,
                NewMessage::html(&format!("<p>{text}</p>")),
            )
            .expect("post");
    }
    // The emulator tried and failed to deliver them.
    assert!(
        eventually(5, || async {
            b.graph
                .deliveries()
                .iter()
                .filter(|d| d.kind == "change" && d.outcome.is_err())
                .count()
                >= 2
        })
        .await
    );
    b.restart().await;
    for text in ["while down 1", "while down 2"] {
        assert!(
            eventually(15, || async { dms_containing(&b, &b.bob.mm_id, text) == 1 }).await,
            "{text} not caught up; log:\n{}",
            b.log()
        );
    }
    assert!(b.log().contains("chat messages caught up"), "{}", b.log());
    // Restarting again catches up nothing more, and nothing was sent twice.
    b.restart().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for text in ["before", "while down 1", "while down 2"] {
        assert_eq!(dms_containing(&b, &b.bob.mm_id, text), 1, "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_chats_mentions_skips_and_graph_economy() {
    let b = linked_pair().await;
    let chat = b.graph.add_chat(
        ChatType::Group,
        None,
        &[&b.alice.ms_id, &b.bob.ms_id, &b.mallory_ms],
    );
    for person in [&b.alice, &b.bob] {
        b.graph
            .set_presence(&person.ms_id, Presence::new("Away", "Away"));
    }
    b.graph.reset_request_counts();

    // Ten messages from an unlinked member reach both linked members, once each.
    for n in 0..10 {
        b.graph
            .post_message(
                &chat.id,
                &b.mallory_ms,
                NewMessage::html(&format!("<p>status {n}</p>")),
            )
            .expect("post");
    }
    for person in [&b.alice, &b.bob] {
        assert!(
            eventually(15, || async {
                dms_containing(&b, &person.mm_id, "status ") == 10
            })
            .await,
            "not all delivered to {}; log:\n{}",
            person.mm_id,
            b.log()
        );
    }
    // Graph economy: one message fetch per message, the members once (cached), presence in
    // batches: at most 1.1 Graph requests per delivered notification.
    let counts = b.graph.request_counts();
    let fetches = b
        .graph
        .request_count("GET /v1.0/chats/{chat_id}/messages/{message_id}");
    let chats = b.graph.request_count("GET /v1.0/chats/{chat_id}");
    let presence = b
        .graph
        .request_count("POST /v1.0/communications/getPresencesByUserId");
    assert_eq!(fetches, 10, "{counts:?}");
    assert_eq!(chats, 1, "members cached: {counts:?}");
    assert!(presence <= 10, "{counts:?}");
    let per_delivery = (fetches + chats + presence) as f64 / 20.0;
    assert!(
        per_delivery <= 1.1,
        "{per_delivery} Graph requests per DM: {counts:?}"
    );

    // A mention of a linked user shows as their Mattermost username.
    b.graph
        .post_message(
            &chat.id,
            &b.mallory_ms,
            NewMessage::html("<p>Over to you, <at id=\"0\">Bob Jones</at></p>")
                .mention(&b.bob.ms_id, "Bob Jones"),
        )
        .expect("post");
    assert!(
        eventually(10, || async {
            dms_containing(&b, &b.alice.mm_id, "Over to you, @bob") == 1
        })
        .await,
        "{:?}",
        b.dms_to(&b.alice.mm_id).last().map(|p| p.message.clone())
    );

    // Bots, apps and system events are never forwarded.
    b.graph
        .post_app_message(
            &chat.id,
            "app-1",
            "Build bot",
            NewMessage::html("<p>build green</p>"),
        )
        .expect("post");
    let mut event = NewMessage::html("<systemEventMessage/>");
    event.message_type = "systemEventMessage".into();
    b.graph
        .post_message(&chat.id, &b.mallory_ms, event)
        .expect("post");
    assert!(
        eventually(10, || async {
            b.metric("teams_bridge_notifications_discarded_total{reason=\"from_application\"}")
                .await
                >= 1.0
                && b.metric("teams_bridge_notifications_discarded_total{reason=\"system_event\"}")
                    .await
                    >= 1.0
        })
        .await,
        "{}",
        b.metrics().await
    );
    assert_eq!(dms_containing(&b, &b.alice.mm_id, "build green"), 0);

    // Bob turns notifications off: Alice still gets the next one, Bob does not.
    b.slash(&b.bob.mm_id, "notifications off").await;
    b.graph
        .post_message(
            &chat.id,
            &b.mallory_ms,
            NewMessage::html("<p>last call</p>"),
        )
        .expect("post");
    assert!(
        eventually(10, || async {
            dms_containing(&b, &b.alice.mm_id, "last call") == 1
        })
        .await
    );
    assert_eq!(dms_containing(&b, &b.bob.mm_id, "last call"), 0);
    assert!(
        b.metric("teams_bridge_notifications_discarded_total{reason=\"notifications_off\"}")
            .await
            >= 1.0
    );
    // Delivered DMs are counted.
    assert!(
        b.metric("teams_bridge_notifications_delivered_total").await >= 22.0,
        "{}",
        b.metrics().await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_postgres_share_the_work_without_duplicates() {
    let Some(database) = PgDatabase::from_env().await else {
        eprintln!("PostgreSQL tests skipped: STORE_TEST_POSTGRES_URL is not set");
        return;
    };
    let b = Bridge::start_on_store(CommandSetup::ByHand, &database.url).await;
    b.link_with_notifications(&b.alice).await;
    b.link_with_notifications(&b.bob).await;
    b.wait_for_subscription().await;
    let (replica, replica_url) = b.start_replica().await;
    let chat = b
        .graph
        .add_chat(ChatType::OneOnOne, None, &[&b.alice.ms_id, &b.bob.ms_id]);
    b.graph
        .set_presence(&b.bob.ms_id, Presence::new("Away", "Away"));
    const N: usize = 150;
    for n in 0..N {
        b.graph
            .post_message(
                &chat.id,
                &b.alice.ms_id,
                NewMessage::html(&format!("<p>item {n}.</p>")),
            )
            .expect("post");
    }
    assert!(
        eventually(60, || async {
            dms_containing(&b, &b.bob.mm_id, "item ") >= N
        })
        .await,
        "{} of {N} delivered; log:\n{}\nreplica:\n{}",
        dms_containing(&b, &b.bob.mm_id, "item "),
        b.log(),
        replica.log()
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for n in 0..N {
        assert_eq!(
            dms_containing(&b, &b.bob.mm_id, &format!("item {n}.")),
            1,
            "item {n}"
        );
    }
    // Both processes delivered some: the replica's workers claim from the shared inbox.
    let delivered_by = |text: String| {
        text.lines()
            .find_map(|l| l.strip_prefix("teams_bridge_notifications_delivered_total "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let first = delivered_by(b.metrics().await);
    let second = delivered_by(
        b.http
            .get(format!("{replica_url}/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text"),
    );
    eprintln!("delivered: first {first}, replica {second}");
    assert_eq!(first + second, N as f64);
    assert!(second > 0.0, "the replica did no work");
    drop(replica);
    drop(b);
    drop(database);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_keep_flowing_when_tokens_expire_mid_run() {
    // Every token the identity platform issues lasts 4 seconds.
    let b = Bridge::start_with(CommandSetup::ByHand, chrono::TimeDelta::seconds(4)).await;
    b.link_with_notifications(&b.alice).await;
    b.link_with_notifications(&b.bob).await;
    b.wait_for_subscription().await;
    let chat = b
        .graph
        .add_chat(ChatType::OneOnOne, None, &[&b.alice.ms_id, &b.bob.ms_id]);
    b.graph
        .set_presence(&b.bob.ms_id, Presence::new("Away", "Away"));
    for round in 0..3 {
        let text = format!("round {round} done");
        b.graph
            .post_message(
                &chat.id,
                &b.alice.ms_id,
                NewMessage::html(&format!("<p>{text}</p>")),
            )
            .expect("post");
        assert!(
            eventually(10, || async {
                dms_containing(&b, &b.bob.mm_id, &text) == 1
            })
            .await,
            "{text} not delivered; log:\n{}",
            b.log()
        );
        // Past the lifetime of every token in use.
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    assert!(!b.log().contains("dead-lettered"), "{}", b.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reauthorization_required_renews_the_subscription() {
    let b = linked_pair().await;
    let before = b.wait_for_subscription().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    b.graph
        .trigger_lifecycle(
            &before.id,
            graph_emulator::LifecycleEvent::ReauthorizationRequired,
        )
        .expect("lifecycle");
    assert!(
        eventually(10, || async {
            b.graph
                .subscriptions()
                .iter()
                .any(|s| s.id == before.id && s.expires_at > before.expires_at)
        })
        .await,
        "not renewed; log:\n{}",
        b.log()
    );
    assert_eq!(b.graph.subscriptions().len(), 1, "renewed, not replaced");
    // The stored expiry follows what Graph returned.
    let store = b.store().await;
    let stored = store
        .subscription(&before.id)
        .await
        .expect("read")
        .expect("row");
    let now_at_graph = b
        .graph
        .subscriptions()
        .into_iter()
        .find(|s| s.id == before.id)
        .expect("sub");
    let gap = (stored.expires_at - now_at_graph.expires_at)
        .num_milliseconds()
        .abs();
    assert!(
        gap < 1000,
        "stored {} vs Graph {}",
        stored.expires_at,
        now_at_graph.expires_at
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_requests_keep_to_the_configured_rate() {
    let b = Bridge::start_full(
        CommandSetup::ByHand,
        graph_emulator::EmulatorOptions::default(),
        None,
        "graph_rate_limit = 2",
    )
    .await;
    b.link_with_notifications(&b.alice).await;
    b.link_with_notifications(&b.bob).await;
    b.wait_for_subscription().await;
    let chat = b
        .graph
        .add_chat(ChatType::OneOnOne, None, &[&b.alice.ms_id, &b.bob.ms_id]);
    b.graph
        .set_presence(&b.bob.ms_id, Presence::new("Away", "Away"));
    let started = std::time::Instant::now();
    for n in 0..6 {
        b.graph
            .post_message(
                &chat.id,
                &b.alice.ms_id,
                NewMessage::html(&format!("<p>paced {n}</p>")),
            )
            .expect("post");
    }
    assert!(
        eventually(30, || async {
            dms_containing(&b, &b.bob.mm_id, "paced ") == 6
        })
        .await,
        "log:\n{}",
        b.log()
    );
    // Six message reads, the chat and at least one presence read at two a second (a burst of
    // two allowed): three seconds at least.
    assert!(
        started.elapsed() >= Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
}
