//! A tour of the `store` crate as an embedder uses it: link an account with a sealed token, take a
//! webhook item through the durable inbox, and deliver it at most once.
//!
//! `cargo run -p bridge-examples --example store_tour` (set STORE_URL to use PostgreSQL).

use anyhow::{Context as _, ensure};
use bridge_core::{Clock as _, SystemClock};
use chrono::TimeDelta;
use store::{EncryptionKey, NewInboxItem, NewLink, Reservation, Store, StoreOptions, TokenSealer};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = std::env::var("STORE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/tour.db", dir.path().display()));
    let store = Store::open(&url, &StoreOptions::default())
        .await
        .context("open the store")?;
    println!(
        "opened a {} store at {}",
        store.kind(),
        store::redact_url(&url)
    );
    let clock = SystemClock;

    // 1. Link a Mattermost user to a Microsoft account; the refresh token is sealed at rest,
    //    bound to its owner so it cannot be copied to another row.
    let sealer = TokenSealer::new(EncryptionKey::generate()?, Vec::new());
    let context = "account_link:mm-alice";
    let token = sealer.seal(b"0.AAAA-refresh-token", context)?;
    let link = store
        .link_account(&NewLink {
            mm_user_id: "mm-alice",
            teams_user_id: "teams-alice",
            teams_login: "alice@contoso.com",
            token: &token,
            token_expires_at: Some(clock.now() + TimeDelta::hours(1)),
            now: clock.now(),
        })
        .await?;
    let stored = link.token.context("a connected link has a token")?;
    println!("linked mm-alice; token stored as {stored:?}");
    ensure!(sealer.open(&stored, context)? == b"0.AAAA-refresh-token");

    // 2. A change notification arrives twice (Graph redelivers); the inbox keeps one.
    let notification = NewInboxItem {
        kind: "graph.notification".into(),
        dedupe_key: Some("chats('19:abc')/messages('1700000000000')".into()),
        payload: r#"{"resource":"chats('19:abc')/messages('1700000000000')"}"#.into(),
    };
    let stored_items = store
        .enqueue(std::slice::from_ref(&notification), clock.now())
        .await?
        + store.enqueue(&[notification], clock.now()).await?;
    println!("webhook delivered twice, inbox stored {stored_items}");
    ensure!(stored_items == 1);

    // 3. A worker claims it under a lease, reserves the delivery, "posts", and records it.
    let now = clock.now();
    let items = store
        .claim_inbox("worker-1", 10, now + TimeDelta::seconds(30), now)
        .await?;
    for item in &items {
        match store
            .reserve_delivery(
                "mm-alice",
                &item.payload,
                "worker-1",
                now + TimeDelta::seconds(30),
                now,
            )
            .await?
        {
            Reservation::Reserved => {
                println!("posting a DM to mm-alice for inbox item {}", item.claim.id);
                store
                    .mark_delivered("mm-alice", &item.payload, "worker-1", Some("post-1"), now)
                    .await?;
            }
            other => println!("skipping: {other:?}"),
        }
        store.complete_inbox(&item.claim, now).await?;
    }

    // 4. Even if the same item were processed again, the ledger says it was delivered.
    let again = store
        .reserve_delivery(
            "mm-alice",
            &items[0].payload,
            "worker-2",
            now + TimeDelta::seconds(30),
            now,
        )
        .await?;
    println!("a second worker trying the same delivery gets {again:?}");
    ensure!(matches!(again, Reservation::AlreadyDelivered { .. }));
    ensure!(store.count_deliveries("mm-alice").await? == 1);
    store.close().await;
    println!("done: one notification, one DM");
    Ok(())
}
