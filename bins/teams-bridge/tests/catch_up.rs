//! Catch-up end to end: what was sent in Teams while notifications could not arrive is read back
//! and notified, however the linked users, their tokens and the replicas stand at that moment.

mod support;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use graph_emulator::{ChatType, EmulatorOptions, Fault, FaultRule, NewMessage, Presence};
use secrecy::ExposeSecret as _;
use support::*;

/// Bot DMs to `user` whose text contains `needle`.
fn dms_containing(b: &Bridge, user: &str, needle: &str) -> usize {
    b.dms_to(user)
        .iter()
        .filter(|p| p.message.contains(needle))
        .count()
}

/// A bridge whose webhook deliveries Graph does not retry: what is sent while it is down is lost
/// unless catch-up reads it. Alice and Bob are linked with notifications on.
async fn linked_bridge() -> Bridge {
    let b = Bridge::start_custom(
        CommandSetup::ByHand,
        EmulatorOptions {
            retry_delays: Vec::new(),
            ..EmulatorOptions::default()
        },
    )
    .await;
    b.link_with_notifications(&b.alice).await;
    b.link_with_notifications(&b.bob).await;
    b.wait_for_subscription().await;
    b
}

/// Posts `text` as `from` in `chat` and waits until Graph has failed to deliver it.
async fn post_while_down(b: &Bridge, chat: &str, from: &str, text: &str) {
    let failed_before = failed_deliveries(b);
    b.graph
        .post_message(chat, from, NewMessage::html(&format!("<p>{text}</p>")))
        .expect("post");
    assert!(
        eventually(5, || async { failed_deliveries(b) > failed_before }).await,
        "Graph did not try to deliver {text}"
    );
}

fn failed_deliveries(b: &Bridge) -> usize {
    b.graph
        .deliveries()
        .iter()
        .filter(|d| d.kind == "change" && d.outcome.is_err())
        .count()
}

fn sealer() -> store::TokenSealer {
    store::TokenSealer::new(
        store::EncryptionKey::from_base64(ENCRYPTION_KEY).expect("key"),
        Vec::new(),
    )
}

/// Rewrites `person`'s stored token: its own expiry set to `token_expires`, the link's
/// `token_expires_at` column (what the refresh job looks at) to `column`.
async fn set_token_expiry(
    store: &store::Store,
    person: &Person,
    token_expires: DateTime<Utc>,
    column: DateTime<Utc>,
) {
    let link = link_of(store, &person.mm_id).await.expect("link");
    let sealed = link.token.expect("token");
    let context = store::link_token_context(&person.mm_id);
    let sealer = sealer();
    let json = sealer.open_secret(&sealed, &context).expect("open");
    let mut tokens = teams_graph::TokenSet::from_json(&json).expect("tokens");
    tokens.expires_at = token_expires;
    let json = tokens.to_json().expect("json");
    let resealed = sealer
        .seal(json.expose_secret().as_bytes(), &context)
        .expect("seal");
    assert!(
        store
            .refresh_link_token(&person.mm_id, &sealed, &resealed, Some(column))
            .await
            .expect("store the token")
    );
}

/// Alice and Bob in the order catch-up lists them (by Mattermost user id).
fn in_listing_order(b: &Bridge) -> (Person, Person) {
    if b.alice.mm_id < b.bob.mm_id {
        (b.alice.clone(), b.bob.clone())
    } else {
        (b.bob.clone(), b.alice.clone())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_is_read_from_its_earliest_linked_member_however_they_are_listed() {
    let mut b = linked_bridge().await;
    // The member listed first connected only after the message; the other one long before.
    let (late, early) = in_listing_order(&b);
    let chat = b.graph.add_chat(
        ChatType::Group,
        Some("Ops"),
        &[&b.alice.ms_id, &b.bob.ms_id, &b.mallory_ms],
    );
    b.graph
        .set_presence(&early.ms_id, Presence::new("Away", "Away"));
    // Both away from Teams: only the time of connecting tells them apart.
    b.graph
        .set_presence(&late.ms_id, Presence::new("Away", "Away"));

    b.kill();
    post_while_down(&b, &chat.id, &b.mallory_ms, "sent before the late one came").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let pool = sqlx::SqlitePool::connect(&b.store_url).await.expect("pool");
    sqlx::query("UPDATE account_links SET connected_at = $1 WHERE mm_user_id = $2")
        .bind(Utc::now())
        .bind(&late.mm_id)
        .execute(&pool)
        .await
        .expect("reconnect the late one");
    pool.close().await;

    b.restart().await;
    assert!(
        eventually(15, || async {
            dms_containing(&b, &early.mm_id, "sent before the late one came") == 1
        })
        .await,
        "not caught up for the member who was connected; log:\n{}",
        b.log()
    );
    // The one who connected after it was sent is not told about it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        dms_containing(&b, &late.mm_id, "sent before the late one came"),
        0
    );
    assert_eq!(
        b.metric("teams_bridge_notifications_discarded_total{reason=\"before_connected\"}")
            .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_whose_tokens_expired_during_the_downtime_are_caught_up_after_the_refresh() {
    let mut b = linked_bridge().await;
    let chat = b
        .graph
        .add_chat(ChatType::OneOnOne, None, &[&b.alice.ms_id, &b.bob.ms_id]);
    b.graph
        .set_presence(&b.bob.ms_id, Presence::new("Away", "Away"));

    b.kill();
    post_while_down(&b, &chat.id, &b.alice.ms_id, "sent during the long outage").await;
    // Down longer than a token lives: every token has expired when the service comes back. The
    // refresh job does not see them due yet (its column says otherwise), so the start-up
    // catch-up certainly runs without a usable token.
    let store = b.store().await;
    let past = Utc::now() - TimeDelta::minutes(5);
    let later = Utc::now() + TimeDelta::hours(1);
    for person in [&b.alice, &b.bob] {
        set_token_expiry(&store, person, past, later).await;
    }
    b.restart().await;
    // The start-up catch-up finds no usable token (the outcome below is what counts).
    let _ = eventually(10, || async {
        b.log().contains("no usable token to catch up")
    })
    .await;
    // Now the refresh job renews them (every second here).
    for person in [&b.alice, &b.bob] {
        set_token_expiry(&store, person, past, Utc::now()).await;
    }
    assert!(
        eventually(30, || async {
            dms_containing(&b, &b.bob.mm_id, "sent during the long outage") == 1
        })
        .await,
        "not caught up once the tokens were renewed; log:\n{}",
        b.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_held_off_by_a_replica_that_died_runs_when_its_lease_lapses() {
    let mut b = linked_bridge().await;
    let chat = b
        .graph
        .add_chat(ChatType::OneOnOne, None, &[&b.alice.ms_id, &b.bob.ms_id]);
    b.graph
        .set_presence(&b.bob.ms_id, Presence::new("Away", "Away"));

    b.kill();
    post_while_down(
        &b,
        &chat.id,
        &b.alice.ms_id,
        "sent while another held the job",
    )
    .await;
    // A replica took the catch-up job and died without letting go.
    let store = b.store().await;
    let now = Utc::now();
    store
        .try_acquire_job(
            "teams-catch-up",
            "dead-replica",
            now + TimeDelta::seconds(8),
            now,
        )
        .await
        .expect("take the job")
        .expect("free");
    b.restart().await;
    assert!(
        eventually(25, || async {
            dms_containing(&b, &b.bob.mm_id, "sent while another held the job") == 1
        })
        .await,
        "the request was lost with the dead holder; log:\n{}",
        b.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_asked_while_another_catches_up_has_the_holder_run_again() {
    let Some(database) = PgDatabase::from_env().await else {
        eprintln!("PostgreSQL tests skipped: STORE_TEST_POSTGRES_URL is not set");
        return;
    };
    let b = Bridge::start_on_store(CommandSetup::ByHand, &database.url).await;
    b.link_with_notifications(&b.alice).await;
    b.link_with_notifications(&b.bob).await;
    let subscription = b.wait_for_subscription().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    const LIST: &str = "GET /v1.0/me/chats";
    let listed_before = b.graph.request_count(LIST);

    // The first service catches up after a `missed` event, slowly (its first listing hangs).
    b.graph.inject_fault(
        FaultRule::new("/v1.0/me/chats", Fault::Latency(Duration::from_secs(10))).times(1),
    );
    b.graph
        .trigger_lifecycle(&subscription.id, graph_emulator::LifecycleEvent::Missed)
        .expect("missed");
    let store = b.store().await;
    assert!(
        eventually(10, || async {
            store
                .job_lease("teams-catch-up")
                .await
                .expect("lease")
                .is_some_and(|l| l.expires_at > Utc::now())
        })
        .await,
        "the first service did not start catching up; log:\n{}",
        b.log()
    );
    // Meanwhile a replica starts and asks for its own start-up catch-up: the job is taken.
    let (replica, _) = b.start_replica().await;
    let _ = eventually(10, || async {
        replica.log().contains("another replica is catching up")
    })
    .await;
    // The holder may have listed those chats before the request: it runs once more.
    assert!(
        eventually(30, || async {
            b.graph.request_count(LIST) >= listed_before + 4
        })
        .await,
        "the holder did not run again ({} listings); log:\n{}\nreplica:\n{}",
        b.graph.request_count(LIST) - listed_before,
        b.log(),
        replica.log()
    );
    drop(replica);
    drop(b);
    drop(database);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_broken_user_does_not_make_everyone_be_caught_up_again_and_again() {
    let mut b = linked_bridge().await;
    let chat = b
        .graph
        .add_chat(ChatType::OneOnOne, None, &[&b.alice.ms_id, &b.bob.ms_id]);
    b.graph
        .set_presence(&b.alice.ms_id, Presence::new("Away", "Away"));

    b.kill();
    post_while_down(&b, &chat.id, &b.bob.ms_id, "sent while the bridge was down").await;
    // Bob's token can no longer be opened (sealed for someone else).
    let store = b.store().await;
    let link = link_of(&store, &b.bob.mm_id).await.expect("link");
    let sealed = link.token.expect("token");
    let sealer = sealer();
    let json = sealer
        .open_secret(&sealed, &store::link_token_context(&b.bob.mm_id))
        .expect("open");
    let foreign = sealer
        .seal(
            json.expose_secret().as_bytes(),
            &store::link_token_context(&b.alice.mm_id),
        )
        .expect("seal");
    assert!(
        store
            .refresh_link_token(&b.bob.mm_id, &sealed, &foreign, link.token_expires_at)
            .await
            .expect("store")
    );
    const LIST: &str = "GET /v1.0/me/chats";
    let listed_before = b.graph.request_count(LIST);
    b.restart().await;
    // Alice's side is caught up at once.
    assert!(
        eventually(15, || async {
            dms_containing(&b, &b.alice.mm_id, "sent while the bridge was down") == 1
        })
        .await,
        "not caught up; log:\n{}",
        b.log()
    );
    // Past the minute after which the whole catch-up used to run again: only Bob is retried.
    tokio::time::sleep(Duration::from_secs(65)).await;
    assert_eq!(
        b.graph.request_count(LIST) - listed_before,
        1,
        "Alice's chats were listed again; log:\n{}",
        b.log()
    );
    assert!(
        b.log().contains("could not list a user's chats"),
        "{}",
        b.log()
    );
}
