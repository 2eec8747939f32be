//! The fault test (B1, B2): thousands of Teams messages while Graph throttles or fails one
//! request in ten and the bridge is killed (SIGKILL) and restarted twice mid-run. Every due
//! notification must arrive exactly once, counted at the Mattermost emulator; then the same with
//! two replicas on PostgreSQL.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use graph_emulator::{ChatType, EmulatorOptions, Fault, FaultRule, NewMessage, Presence};
use support::*;

/// Messages per run (each is one due notification). The default keeps the README's test command
/// quick; `FAULT_TEST_MESSAGES=10000` is the full run recorded in BENCHMARKS.md.
fn message_count() -> usize {
    std::env::var("FAULT_TEST_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

/// How many DMs Bob has per message number.
fn tally(b: &Bridge) -> HashMap<usize, usize> {
    let mut seen = HashMap::new();
    for post in b.mattermost.direct_messages_to(&b.bob.mm_id) {
        let Some(start) = post.message.find("> fault") else {
            continue;
        };
        let digits: String = post.message[start + 7..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if let Ok(n) = digits.parse() {
            *seen.entry(n).or_insert(0) += 1;
        }
    }
    seen
}

async fn wait_for_count(b: &Bridge, at_least: usize, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let got = tally(b).len();
        if got >= at_least {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {got} of {at_least} notifications after {secs} s; log:\n{}",
            tail(&b.log())
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

async fn faulty_run(mut b: Bridge, replica: bool) {
    let n = message_count();
    b.link_with_notifications(&b.alice).await;
    b.link_with_notifications(&b.bob).await;
    b.wait_for_subscription().await;
    let mut second = if replica {
        Some(b.start_replica().await.0)
    } else {
        None
    };
    // Ten group chats with Mallory (not linked) writing, Bob away (notified) and Alice available
    // (held back): every message is one due notification.
    let chats: Vec<String> = (0..10)
        .map(|i| {
            b.graph
                .add_chat(
                    ChatType::Group,
                    Some(&format!("stream {i}")),
                    &[&b.mallory_ms, &b.bob.ms_id, &b.alice.ms_id],
                )
                .id
        })
        .collect();
    b.graph
        .set_presence(&b.bob.ms_id, Presence::new("Away", "Away"));
    b.graph
        .set_presence(&b.alice.ms_id, Presence::new("Available", "Available"));
    // One Graph request in ten fails: half throttled (with Retry-After), half unavailable.
    b.graph.inject_fault(
        FaultRule::new(
            "/v1.0/",
            Fault::Throttle {
                retry_after: Some("0.2".into()),
            },
        )
        .every(20),
    );
    b.graph
        .inject_fault(FaultRule::new("/v1.0/", Fault::Unavailable).every(19));

    let started = Instant::now();
    let kills = [n * 3 / 10, n * 6 / 10];
    let mut next_kill = 0;
    for i in 0..n {
        b.graph
            .post_message(
                &chats[i % chats.len()],
                &b.mallory_ms,
                NewMessage::html(&format!("<p>fault{i}x</p>")),
            )
            .expect("post");
        if i % 200 == 199 {
            // Let the emulator's deliveries keep up with the typing.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if next_kill < kills.len() && i == kills[next_kill] {
            wait_for_count(&b, i / 2, 120).await;
            if replica && next_kill == 1 {
                // The second time, the replica dies instead, holding claims of its own.
                if let Some(r) = second.take() {
                    drop(r);
                }
                second = Some(b.start_replica().await.0);
            } else {
                b.kill();
                tokio::time::sleep(Duration::from_millis(500)).await;
                b.restart().await;
            }
            next_kill += 1;
        }
    }
    let patience = std::env::var("FAULT_TEST_WAIT_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    wait_for_count(&b, n, patience).await;
    // Give stragglers (retries, catch-up) time to show a duplicate if there were one.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let seen = tally(&b);
    let duplicates: Vec<_> = seen.iter().filter(|(_, c)| **c > 1).collect();
    assert!(duplicates.is_empty(), "sent twice: {duplicates:?}");
    assert_eq!(seen.len(), n, "every message notified");
    let faults = b.graph.request_counts();
    eprintln!(
        "{n} notifications exactly once in {:.1} s with two restarts{}; Graph requests: {faults:?}",
        started.elapsed().as_secs_f64(),
        if replica { " and a second replica" } else { "" }
    );
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_through_faults_and_two_kills_arrive_exactly_once() {
    let b = Bridge::start_full(
        CommandSetup::ByHand,
        EmulatorOptions::default(),
        None,
        "notification_lease = 5\ngraph_rate_limit = 0",
    )
    .await;
    faulty_run(b, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_with_two_replicas_on_postgres() {
    let Some(database) = PgDatabase::from_env().await else {
        eprintln!("PostgreSQL tests skipped: STORE_TEST_POSTGRES_URL is not set");
        return;
    };
    let b = Bridge::start_full(
        CommandSetup::ByHand,
        EmulatorOptions::default(),
        Some(database.url.clone()),
        "notification_lease = 5\ngraph_rate_limit = 0",
    )
    .await;
    faulty_run(b, true).await;
    drop(database);
}
