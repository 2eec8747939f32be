//! Admin logs (C6): the service's warnings reach the configured admin users as bot DMs, batched,
//! and nobody else; what they carry is the log line, never a secret.

use std::time::Duration;

use crate::support::{Bridge, Options};

#[tokio::test(flavor = "multi_thread")]
async fn warnings_are_copied_to_the_admin_users_only() {
    let b = Bridge::start(Options {
        people: vec!["alice", "bob"],
        admins: vec!["bob"],
        admin_log: Some("warn"),
        ..Options::default()
    })
    .await;
    // Two refused commands with a forged token: each logs a warning.
    let forged = "forged-token-0123456789abcd";
    for _ in 0..2 {
        let (status, _) = b
            .slash_with_token(b.mm("alice"), "disconnect", Some(forged))
            .await;
        assert_eq!(status, 401);
    }
    let copy = b
        .wait_dm("bob", 20, |p| {
            p.message
                .contains("slash command with a missing or wrong token refused")
        })
        .await;
    assert!(copy.message.contains("WARN"), "{}", copy.message);
    assert!(!copy.message.contains(forged), "{}", copy.message);
    // Both warnings came within the batch window: one post holds them.
    assert_eq!(
        copy.message
            .matches("slash command with a missing or wrong token refused")
            .count(),
        2,
        "{}",
        copy.message
    );
    // Not to users who are not admins, and info lines are not copied.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        b.dms("alice")
            .iter()
            .all(|p| !p.message.contains("token refused")),
        "a non-admin got the log copy"
    );
    assert!(
        b.dms("bob").iter().all(|p| !p.message.contains("INFO")),
        "info lines were copied at level warn"
    );
}
