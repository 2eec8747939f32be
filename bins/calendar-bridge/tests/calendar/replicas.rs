//! Scale-out: two `serve` processes on one PostgreSQL store split the calendar work (claims by
//! lease), and nobody hears anything twice: one event subscription per user, one summary, one
//! reminder and one invitation DM each, including after the first process is killed mid-run.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use graph_emulator::NewEvent;

use crate::support::{Bridge, Options, PgDatabase, now_s};

const PEOPLE: [&str; 6] = ["alice", "bob", "carol", "dave", "erin", "frank"];

fn summaries(b: &Bridge, name: &str) -> usize {
    b.dms_matching(name, |p| {
        p.message.starts_with("#### Your daily summary for ")
    })
    .len()
}

fn reminders(b: &Bridge, name: &str) -> usize {
    b.dms_matching(name, |p| {
        p.message.starts_with("Starting in 1 minute: **[Sync of ")
    })
    .len()
}

fn invitations(b: &Bridge, name: &str) -> usize {
    b.dms_matching(name, |p| {
        p.message.starts_with("**New invitation**") && p.message.contains("All hands")
    })
    .len()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_on_postgres_tell_everyone_everything_once() {
    let Some(db) = PgDatabase::from_env().await else {
        eprintln!("PostgreSQL tests skipped: STORE_TEST_POSTGRES_URL is not set");
        return;
    };
    let mut b = Bridge::start(Options {
        people: PEOPLE.to_vec(),
        store_url: Some(db.url.clone()),
        ..Options::default()
    })
    .await;
    let replica = b.start_replica().await;
    for name in PEOPLE {
        b.connect_ready(name).await;
    }

    // Everyone: a meeting of their own in 70 s with a one-minute reminder, a summary due this
    // minute (the mailboxes are in UTC), and one invitation to all of them.
    let start = now_s() + TimeDelta::seconds(70);
    for name in PEOPLE {
        let mut event = NewEvent::meeting(b.ms(name), &format!("Sync of {name}"), start);
        event.end = start + TimeDelta::minutes(15);
        event.reminder_minutes = Some(1);
        b.graph.add_event(event);
        b.slash(name, "summary days all").await;
        let (reply, _) = b
            .slash(
                name,
                &format!("summary time {}", Utc::now().format("%H:%M")),
            )
            .await;
        assert!(reply.contains("UTC"), "{reply}");
    }
    let later = now_s() + TimeDelta::hours(4);
    b.invite(&PEOPLE, "All hands", later, later + TimeDelta::hours(1));

    // Halfway through, the first process dies holding whatever it had claimed; the replica
    // carries on alone until the first comes back.
    let everyone_told = |b: &Bridge| {
        PEOPLE.iter().all(|name| {
            summaries(b, name) >= 1 && reminders(b, name) >= 1 && invitations(b, name) >= 1
        })
    };
    tokio::time::sleep(Duration::from_secs(5)).await;
    b.kill();
    tokio::time::sleep(Duration::from_secs(3)).await;
    b.restart().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !everyone_told(&b) {
        assert!(
            std::time::Instant::now() < deadline,
            "not everyone was told: {:?}\nfirst log:\n{}\nreplica log:\n{}",
            PEOPLE
                .iter()
                .map(|n| (n, summaries(&b, n), reminders(&b, n), invitations(&b, n)))
                .collect::<Vec<_>>(),
            b.log(),
            replica.log_tail(100)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Both processes keep ticking: nothing comes a second time.
    tokio::time::sleep(Duration::from_secs(4)).await;
    for name in PEOPLE {
        assert_eq!(
            (
                summaries(&b, name),
                reminders(&b, name),
                invitations(&b, name)
            ),
            (1, 1, 1),
            "{name} was told something twice"
        );
        assert_eq!(
            b.subscriptions_of(name).len(),
            1,
            "{name} has more than one event subscription"
        );
    }
    assert!(
        replica.log().lines().count() > 0,
        "the replica logged nothing"
    );
}
