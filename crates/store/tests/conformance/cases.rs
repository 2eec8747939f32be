use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use store::{
    DeliveryState, DueSchedule, EncryptionKey, LinkConflict, NewInboxItem, NewLink, NewOAuthState,
    NewSubscription, Reservation, Sealed, StateLookup, Store, StoreError, TokenSealer,
};
use tokio::task::JoinSet;

use crate::support::at;

fn sealed(text: &str) -> Sealed {
    Sealed::from_stored(format!("v1.testkey.{text}"))
}

fn item(kind: &str, key: Option<&str>, payload: &str) -> NewInboxItem {
    NewInboxItem {
        kind: kind.into(),
        dedupe_key: key.map(Into::into),
        payload: payload.into(),
    }
}

fn link<'a>(mm: &'a str, teams: &'a str, token: &'a Sealed, now_ms: i64) -> NewLink<'a> {
    NewLink {
        mm_user_id: mm,
        teams_user_id: teams,
        teams_login: "user@example.com",
        token,
        token_expires_at: Some(at(now_ms + 3_600_000)),
        now: at(now_ms),
    }
}

pub(crate) async fn migrations_apply_once_and_then_change_nothing(store: &Store) {
    let pending = store.pending_migrations().await.unwrap();
    assert!(pending >= 2, "{pending} pending");
    let first = store.migrate().await.unwrap();
    assert_eq!(
        first.applied.len(),
        first.total,
        "a fresh database gets every migration"
    );
    assert_eq!(first.applied.len(), pending);
    assert_eq!(store.pending_migrations().await.unwrap(), 0);
    let applied = store.applied_migrations().await.unwrap();

    let second = store.migrate().await.unwrap();
    assert!(
        second.applied.is_empty(),
        "second run applied {:?}",
        second.applied
    );
    assert_eq!(store.applied_migrations().await.unwrap(), applied);
    store.ping().await.unwrap();
}

pub(crate) async fn links_connect_refresh_disconnect_and_relink(store: &Store) {
    store.migrate().await.unwrap();
    let token = sealed("one");
    let linked = store
        .link_account(&link("mm-1", "teams-1", &token, 0))
        .await
        .unwrap();
    assert!(linked.is_connected());
    assert_eq!(linked.token.as_ref(), Some(&token));
    assert_eq!(linked.connected_at, at(0));
    assert_eq!(
        store.account_link("mm-1").await.unwrap(),
        Some(linked.clone())
    );
    assert_eq!(
        store
            .connected_link_by_teams_user("teams-1")
            .await
            .unwrap()
            .map(|l| l.mm_user_id),
        Some("mm-1".into())
    );

    // Linking the same pair again refreshes the token and keeps the original connection time.
    let token2 = sealed("two");
    let again = store
        .link_account(&link("mm-1", "teams-1", &token2, 5_000))
        .await
        .unwrap();
    assert_eq!(again.token.as_ref(), Some(&token2));
    assert_eq!(again.connected_at, at(0));

    assert!(
        store
            .refresh_link_token("mm-1", &token2, &sealed("three"), Some(at(9_000)))
            .await
            .unwrap()
    );
    let refreshed = store.account_link("mm-1").await.unwrap().unwrap();
    assert_eq!(refreshed.token, Some(sealed("three")));
    assert_eq!(refreshed.token_expires_at, Some(at(9_000)));

    assert!(store.disconnect_account("mm-1", at(10_000)).await.unwrap());
    assert!(
        !store.disconnect_account("mm-1", at(11_000)).await.unwrap(),
        "already disconnected"
    );
    let gone = store.account_link("mm-1").await.unwrap().unwrap();
    assert!(!gone.is_connected());
    assert_eq!(gone.token, None, "disconnect deletes the token");
    assert_eq!(gone.disconnected_at, Some(at(10_000)));
    assert_eq!(
        store.connected_link_by_teams_user("teams-1").await.unwrap(),
        None
    );
    assert!(
        !store
            .refresh_link_token("mm-1", &sealed("three"), &sealed("x"), None)
            .await
            .unwrap(),
        "a disconnected link takes no token"
    );
    assert_eq!(
        store.account_link("mm-1").await.unwrap().unwrap().token,
        None
    );

    // After disconnecting, the Teams account is free for another user, and the first may relink.
    let other = store
        .link_account(&link("mm-2", "teams-1", &token, 12_000))
        .await
        .unwrap();
    assert!(other.is_connected());
    let relinked = store
        .link_account(&link("mm-1", "teams-9", &token, 13_000))
        .await
        .unwrap();
    assert!(relinked.is_connected());
    assert_eq!(relinked.connected_at, at(13_000));
    assert_eq!(relinked.teams_user_id, "teams-9");
    assert_eq!(store.account_link("nobody").await.unwrap(), None);
}

pub(crate) async fn links_refuse_a_second_account_on_either_side(store: &Store) {
    store.migrate().await.unwrap();
    let token = sealed("t");
    store
        .link_account(&link("mm-1", "teams-1", &token, 0))
        .await
        .unwrap();

    let err = store
        .link_account(&link("mm-1", "teams-2", &token, 1_000))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::LinkConflict(LinkConflict::MattermostUserLinked { teams_user_id }) if teams_user_id == "teams-1"),
        "{err:?}"
    );
    let err = store
        .link_account(&link("mm-2", "teams-1", &token, 1_000))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::LinkConflict(LinkConflict::TeamsUserLinked { mm_user_id }) if mm_user_id == "mm-1"),
        "{err:?}"
    );
    // Nothing changed.
    let kept = store.account_link("mm-1").await.unwrap().unwrap();
    assert_eq!(kept.teams_user_id, "teams-1");
    assert_eq!(store.account_link("mm-2").await.unwrap(), None);
    assert_eq!(store.count_connected_links().await.unwrap(), 1);
}

pub(crate) async fn links_list_page_and_find_expiring_tokens(store: &Store) {
    store.migrate().await.unwrap();
    let token = sealed("t");
    for (i, mm) in ["mm-c", "mm-a", "mm-b", "mm-d"].iter().enumerate() {
        let teams = format!("teams-{mm}");
        let mut new = link(mm, &teams, &token, 0);
        new.token_expires_at = Some(at(1_000 * (i as i64 + 1)));
        store.link_account(&new).await.unwrap();
    }
    store.disconnect_account("mm-d", at(100)).await.unwrap();
    assert_eq!(store.count_connected_links().await.unwrap(), 3);

    let page1 = store.connected_links(None, 2).await.unwrap();
    let ids1: Vec<_> = page1.iter().map(|l| l.mm_user_id.as_str()).collect();
    assert_eq!(ids1, ["mm-a", "mm-b"]);
    let page2 = store.connected_links(Some("mm-b"), 2).await.unwrap();
    let ids2: Vec<_> = page2.iter().map(|l| l.mm_user_id.as_str()).collect();
    assert_eq!(ids2, ["mm-c"]);

    // Expiring before 2.5 s: mm-c (1 s) and mm-a (2 s), soonest first; mm-d is disconnected.
    let expiring = store.links_expiring_before(at(2_500), 10).await.unwrap();
    let ids: Vec<_> = expiring.iter().map(|l| l.mm_user_id.as_str()).collect();
    assert_eq!(ids, ["mm-c", "mm-a"]);
    assert_eq!(
        store
            .links_expiring_before(at(2_500), 1)
            .await
            .unwrap()
            .len(),
        1
    );
}

pub(crate) async fn links_of_chat_members_come_with_their_preference(store: &Store) {
    store.migrate().await.unwrap();
    for (mm, teams) in [("mm-1", "t-1"), ("mm-2", "t-2"), ("mm-3", "t-3")] {
        store
            .link_account(&link(mm, teams, &sealed("x"), 0))
            .await
            .unwrap();
    }
    store.disconnect_account("mm-3", at(1)).await.unwrap();
    store
        .set_preference("mm-1", "notifications", "on", at(0))
        .await
        .unwrap();
    store
        .set_preference("mm-2", "other", "on", at(0))
        .await
        .unwrap();
    let ids: Vec<String> = ["t-1", "t-2", "t-3", "t-unknown"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let found = store
        .connected_links_with_preference(&ids, "notifications")
        .await
        .unwrap();
    let summary: Vec<(String, Option<String>)> =
        found.into_iter().map(|(l, p)| (l.mm_user_id, p)).collect();
    assert_eq!(
        summary,
        [
            ("mm-1".to_owned(), Some("on".to_owned())),
            ("mm-2".to_owned(), None)
        ],
        "connected links only, with that preference only"
    );
    assert!(
        store
            .connected_links_with_preference(&[], "notifications")
            .await
            .unwrap()
            .is_empty()
    );
}

pub(crate) async fn links_token_swap_only_replaces_the_expected_value(store: &Store) {
    store.migrate().await.unwrap();
    store
        .link_account(&link("mm-1", "teams-1", &sealed("old"), 0))
        .await
        .unwrap();
    assert!(
        store
            .replace_link_token("mm-1", &sealed("old"), &sealed("resealed"))
            .await
            .unwrap()
    );
    assert_eq!(
        store.account_link("mm-1").await.unwrap().unwrap().token,
        Some(sealed("resealed"))
    );
    // A refresh got there first: the stale swap changes nothing.
    assert!(
        store
            .refresh_link_token("mm-1", &sealed("resealed"), &sealed("refreshed"), None)
            .await
            .unwrap()
    );
    assert!(
        !store
            .replace_link_token("mm-1", &sealed("resealed"), &sealed("stale"))
            .await
            .unwrap()
    );
    assert_eq!(
        store.account_link("mm-1").await.unwrap().unwrap().token,
        Some(sealed("refreshed"))
    );
    // A refresh stores its result only over the token it started from.
    assert!(
        !store
            .refresh_link_token("mm-1", &sealed("resealed"), &sealed("late"), Some(at(9)))
            .await
            .unwrap()
    );
    assert!(
        store
            .refresh_link_token("mm-1", &sealed("refreshed"), &sealed("fresh"), Some(at(9)))
            .await
            .unwrap()
    );
    let current = store.account_link("mm-1").await.unwrap().unwrap();
    assert_eq!(current.token, Some(sealed("fresh")));
    assert_eq!(current.token_expires_at, Some(at(9)));
    // A refused refresh ends the link only if it still holds the token that was refused.
    assert!(
        !store
            .disconnect_account_if_token("mm-1", &sealed("refreshed"), at(1))
            .await
            .unwrap(),
        "the user reconnected meanwhile"
    );
    assert!(
        store
            .account_link("mm-1")
            .await
            .unwrap()
            .unwrap()
            .is_connected()
    );
    assert!(
        store
            .disconnect_account_if_token("mm-1", &sealed("fresh"), at(1))
            .await
            .unwrap()
    );
    let gone = store.account_link("mm-1").await.unwrap().unwrap();
    assert!(!gone.is_connected());
    assert_eq!(gone.token, None);
    store
        .link_account(&link("mm-1", "teams-1", &sealed("fresh"), 2))
        .await
        .unwrap();
    store.disconnect_account("mm-1", at(1)).await.unwrap();
    assert!(
        !store
            .replace_link_token("mm-1", &sealed("fresh"), &sealed("x"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .refresh_link_token("mm-1", &sealed("fresh"), &sealed("x"), None)
            .await
            .unwrap(),
        "a disconnected link is not brought back by a refresh"
    );
}

pub(crate) async fn sealed_tokens_round_trip_through_the_database(store: &Store) {
    store.migrate().await.unwrap();
    let sealer = TokenSealer::new(EncryptionKey::generate().unwrap(), vec![]);
    let token = sealer
        .seal(b"eyJ0eXAiOiJKV1QiLCJhbGc-refresh", "account_link:mm-1")
        .unwrap();
    store
        .link_account(&link("mm-1", "teams-1", &token, 0))
        .await
        .unwrap();
    let stored = store
        .account_link("mm-1")
        .await
        .unwrap()
        .unwrap()
        .token
        .unwrap();
    assert!(
        !stored.as_str().contains("refresh"),
        "the database holds ciphertext only"
    );
    assert_eq!(
        sealer.open(&stored, "account_link:mm-1").unwrap(),
        b"eyJ0eXAiOiJKV1QiLCJhbGc-refresh"
    );
    assert!(
        sealer.open(&stored, "account_link:mm-2").is_err(),
        "bound to its row"
    );
}

pub(crate) async fn oauth_states_are_single_use_and_expire(store: &Store) {
    store.migrate().await.unwrap();
    let verifier = sealed("pkce");
    let new = |state: &'static str, expires_ms: i64| NewOAuthState {
        state,
        mm_user_id: "mm-1",
        purpose: "connect",
        pkce_verifier: &verifier,
        created_at: at(0),
        expires_at: at(expires_ms),
    };
    store
        .create_oauth_state(&new("state-a", 600_000))
        .await
        .unwrap();
    store
        .create_oauth_state(&new("state-b", 600_000))
        .await
        .unwrap();
    store
        .create_oauth_state(&new("state-old", 1_000))
        .await
        .unwrap();

    // Peeking leaves the state usable; it still reports expiry.
    for _ in 0..2 {
        assert!(matches!(
            store.peek_oauth_state("state-a", "connect", at(1_000)).await.unwrap(),
            StateLookup::Valid(found) if found.pkce_verifier == verifier
        ));
    }
    assert!(matches!(
        store
            .peek_oauth_state("state-old", "connect", at(1_000))
            .await
            .unwrap(),
        StateLookup::Expired(_)
    ));
    assert_eq!(
        store
            .peek_oauth_state("never-issued", "connect", at(0))
            .await
            .unwrap(),
        StateLookup::Unknown
    );
    // A state is only good for the purpose it was issued for, and asking with another leaves it.
    assert_eq!(
        store
            .take_oauth_state("state-a", "calendar", at(1_000))
            .await
            .unwrap(),
        StateLookup::Unknown
    );
    assert_eq!(
        store
            .peek_oauth_state("state-a", "calendar", at(1_000))
            .await
            .unwrap(),
        StateLookup::Unknown
    );
    match store
        .take_oauth_state("state-a", "connect", at(1_000))
        .await
        .unwrap()
    {
        StateLookup::Valid(found) => {
            assert_eq!(found.mm_user_id, "mm-1");
            assert_eq!(found.purpose, "connect");
            assert_eq!(found.pkce_verifier, verifier);
        }
        other => panic!("expected a valid state, got {other:?}"),
    }
    assert_eq!(
        store
            .take_oauth_state("state-a", "connect", at(1_001))
            .await
            .unwrap(),
        StateLookup::Unknown,
        "a state is single use"
    );
    assert_eq!(
        store
            .take_oauth_state("never-issued", "connect", at(0))
            .await
            .unwrap(),
        StateLookup::Unknown
    );
    assert!(matches!(
        store.take_oauth_state("state-old", "connect", at(1_000)).await.unwrap(),
        StateLookup::Expired(found) if found.mm_user_id == "mm-1"
    ));
    assert_eq!(
        store
            .take_oauth_state("state-old", "connect", at(0))
            .await
            .unwrap(),
        StateLookup::Unknown
    );

    // Concurrent redirects with one state: exactly one wins.
    store
        .create_oauth_state(&new("state-race", 600_000))
        .await
        .unwrap();
    let mut tasks = JoinSet::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.spawn(async move {
            store
                .take_oauth_state("state-race", "connect", at(1))
                .await
                .unwrap()
        });
    }
    let valid = tasks
        .join_all()
        .await
        .into_iter()
        .filter(|l| matches!(l, StateLookup::Valid(_)))
        .count();
    assert_eq!(valid, 1);

    assert_eq!(
        store.purge_expired_oauth_states(at(600_000)).await.unwrap(),
        1,
        "state-b"
    );
    assert_eq!(
        store
            .take_oauth_state("state-b", "connect", at(0))
            .await
            .unwrap(),
        StateLookup::Unknown
    );
}

pub(crate) async fn login_mappings_set_replace_list_and_remove(store: &Store) {
    store.migrate().await.unwrap();
    assert_eq!(store.login_mapping("mm-1").await.unwrap(), None);
    store
        .set_login_mapping("mm-2", "b@fabrikam.com", "mm-admin", at(0))
        .await
        .unwrap();
    store
        .set_login_mapping("mm-1", "a@fabrikam.com", "mm-admin", at(0))
        .await
        .unwrap();
    store
        .set_login_mapping("mm-1", "a.w@fabrikam.com", "mm-admin2", at(5_000))
        .await
        .unwrap();
    let one = store.login_mapping("mm-1").await.unwrap().expect("mapping");
    assert_eq!(one.microsoft_login, "a.w@fabrikam.com");
    assert_eq!(one.created_by, "mm-admin2");
    assert_eq!(one.created_at, at(5_000));
    let all = store.login_mappings().await.unwrap();
    assert_eq!(
        all.iter()
            .map(|m| m.mm_user_id.as_str())
            .collect::<Vec<_>>(),
        ["mm-1", "mm-2"]
    );
    assert!(store.remove_login_mapping("mm-1").await.unwrap());
    assert!(!store.remove_login_mapping("mm-1").await.unwrap());
    assert_eq!(store.login_mapping("mm-1").await.unwrap(), None);
    assert_eq!(store.login_mappings().await.unwrap().len(), 1);
}

pub(crate) async fn preferences_set_overwrite_list_and_delete(store: &Store) {
    store.migrate().await.unwrap();
    assert_eq!(
        store.preference("mm-1", "notifications").await.unwrap(),
        None
    );
    store
        .set_preference("mm-1", "notifications", "on", at(0))
        .await
        .unwrap();
    store
        .set_preference("mm-1", "summary_time", "08:00", at(0))
        .await
        .unwrap();
    store
        .set_preference("mm-2", "notifications", "off", at(0))
        .await
        .unwrap();
    store
        .set_preference("mm-3", "notifications", "on", at(0))
        .await
        .unwrap();
    store
        .set_preference("mm-2", "notifications", "on", at(1))
        .await
        .unwrap();
    assert_eq!(
        store
            .preference("mm-2", "notifications")
            .await
            .unwrap()
            .as_deref(),
        Some("on")
    );
    let all = store.preferences("mm-1").await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all["summary_time"], "08:00");
    assert_eq!(
        store
            .users_with_preference("notifications", "on")
            .await
            .unwrap(),
        ["mm-1", "mm-2", "mm-3"]
    );
    assert!(
        store
            .delete_preference("mm-1", "notifications")
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_preference("mm-1", "notifications")
            .await
            .unwrap()
    );
    assert_eq!(
        store.preference("mm-1", "notifications").await.unwrap(),
        None
    );
    assert_eq!(store.preferences("mm-1").await.unwrap().len(), 1);
}

pub(crate) async fn subscriptions_record_renew_expire_and_delete(store: &Store) {
    store.migrate().await.unwrap();
    let new = |id: &'static str, purpose: &'static str, expires_ms: i64| NewSubscription {
        id,
        purpose,
        resource: "/chats/getAllMessages",
        change_type: "created,updated",
        owner_mm_user_id: None,
        client_state: "secret-client-state",
        expires_at: at(expires_ms),
        now: at(0),
    };
    let saved = store
        .save_subscription(&new("sub-1", "chats", 3_600_000))
        .await
        .unwrap();
    assert_eq!(saved.expires_at, at(3_600_000));
    assert!(saved.client_state_matches("secret-client-state"));
    assert!(!saved.client_state_matches("secret-client-statf"));
    assert!(
        !saved.client_state_hash.contains("secret"),
        "client state is kept as a digest"
    );
    let mut per_user = new("sub-2", "events:mm-1", 1_800_500);
    per_user.owner_mm_user_id = Some("mm-1");
    store.save_subscription(&per_user).await.unwrap();

    assert_eq!(store.subscription("sub-1").await.unwrap(), Some(saved));
    assert_eq!(store.subscription("nope").await.unwrap(), None);
    let all: Vec<_> = store
        .subscriptions()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(all, ["sub-2", "sub-1"], "soonest expiry first");
    let events = store
        .subscriptions_for_purpose("events:mm-1")
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].owner_mm_user_id.as_deref(), Some("mm-1"));

    let due: Vec<_> = store
        .subscriptions_expiring_before(at(1_800_600))
        .await
        .unwrap();
    assert_eq!(
        due.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["sub-2"]
    );
    assert!(
        store
            .renew_subscription("sub-2", at(7_200_000), at(10))
            .await
            .unwrap()
    );
    assert!(
        !store
            .renew_subscription("nope", at(7_200_000), at(10))
            .await
            .unwrap()
    );
    assert!(
        store
            .subscriptions_expiring_before(at(1_800_600))
            .await
            .unwrap()
            .is_empty()
    );
    let renewed = store.subscription("sub-2").await.unwrap().unwrap();
    assert_eq!(renewed.expires_at, at(7_200_000));
    assert_eq!(renewed.updated_at, at(10));

    assert!(store.delete_subscription("sub-1").await.unwrap());
    assert!(!store.delete_subscription("sub-1").await.unwrap());
    assert_eq!(store.subscriptions().await.unwrap().len(), 1);
}

pub(crate) async fn inbox_stores_atomically_and_deduplicates(store: &Store) {
    store.migrate().await.unwrap();
    let batch = [
        item("graph.notification", Some("n-1"), "{\"a\":1}"),
        item("graph.notification", Some("n-2"), "{\"a\":2}"),
        item("graph.lifecycle", None, "{\"l\":1}"),
    ];
    assert_eq!(store.enqueue(&batch, at(0)).await.unwrap(), 3);
    // A redelivery with the same keys adds only what is new; keyless items always land.
    let again = [
        item("graph.notification", Some("n-2"), "{\"a\":2}"),
        item("graph.notification", Some("n-3"), "{\"a\":3}"),
        item("graph.lifecycle", None, "{\"l\":1}"),
    ];
    assert_eq!(store.enqueue(&again, at(1)).await.unwrap(), 2);
    assert_eq!(store.inbox_counts(at(2)).await.unwrap().pending, 5);
    assert_eq!(store.enqueue(&[], at(2)).await.unwrap(), 0);
}

pub(crate) async fn inbox_claims_in_order_and_completes(store: &Store) {
    store.migrate().await.unwrap();
    let items: Vec<_> = (0..5).map(|i| item("k", None, &format!("p{i}"))).collect();
    store.enqueue(&items, at(0)).await.unwrap();

    let first = store.claim_inbox("w1", 3, at(30_000), at(1)).await.unwrap();
    let payloads: Vec<_> = first.iter().map(|i| i.payload.as_str()).collect();
    assert_eq!(
        payloads,
        ["p0", "p1", "p2"],
        "oldest first, at most the limit"
    );
    assert!(
        first
            .iter()
            .all(|i| i.claim.attempt == 1 && i.claim.worker == "w1")
    );
    assert_eq!(first[0].received_at, at(0));
    let counts = store.inbox_counts(at(2)).await.unwrap();
    assert_eq!((counts.pending, counts.in_flight), (2, 3));

    let second = store
        .claim_inbox("w2", 10, at(30_000), at(2))
        .await
        .unwrap();
    assert_eq!(
        second
            .iter()
            .map(|i| i.payload.as_str())
            .collect::<Vec<_>>(),
        ["p3", "p4"]
    );
    assert!(
        store
            .claim_inbox("w3", 10, at(30_000), at(3))
            .await
            .unwrap()
            .is_empty()
    );

    for claimed in first.iter().chain(&second) {
        store.complete_inbox(&claimed.claim, at(4)).await.unwrap();
    }
    assert_eq!(store.inbox_counts(at(5)).await.unwrap(), Default::default());
    // Completed items are never handed out again, even long after their leases.
    assert!(
        store
            .claim_inbox("w3", 10, at(90_000), at(60_000))
            .await
            .unwrap()
            .is_empty()
    );
    // Completing twice is refused: the claim no longer holds.
    assert!(matches!(
        store.complete_inbox(&first[0].claim, at(6)).await,
        Err(StoreError::LeaseLost { .. })
    ));
    assert_eq!(store.purge_finished_inbox(at(5)).await.unwrap(), 5);
}

pub(crate) async fn inbox_expired_lease_is_reclaimed_and_fences_the_old_worker(store: &Store) {
    store.migrate().await.unwrap();
    store.enqueue(&[item("k", None, "p")], at(0)).await.unwrap();
    // Lease ends at 1.5 s; times carry fractions of a second on purpose.
    let crashed = store
        .claim_inbox("w1", 1, at(1_500), at(250))
        .await
        .unwrap()
        .remove(0);
    assert!(
        store
            .claim_inbox("w2", 1, at(5_000), at(1_499))
            .await
            .unwrap()
            .is_empty(),
        "lease still held"
    );
    let extended = store
        .extend_inbox_lease(&crashed.claim, at(2_000))
        .await
        .unwrap();
    assert!(
        store
            .claim_inbox("w2", 1, at(5_000), at(1_999))
            .await
            .unwrap()
            .is_empty(),
        "lease was extended"
    );

    let taken = store
        .claim_inbox("w2", 1, at(5_000), at(2_000))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(taken.claim.id, crashed.claim.id);
    assert_eq!(taken.claim.attempt, 2);
    assert_eq!(taken.payload, "p");

    // The first worker wakes up: everything it tries is refused, and the item stays with w2.
    for result in [
        store.complete_inbox(&extended, at(2_100)).await,
        store.retry_inbox(&extended, "boom", at(2_100)).await,
        store.dead_letter_inbox(&extended, "boom", at(2_100)).await,
        store
            .extend_inbox_lease(&extended, at(9_000))
            .await
            .map(|_| ()),
    ] {
        assert!(
            matches!(result, Err(StoreError::LeaseLost { .. })),
            "{result:?}"
        );
    }
    store.complete_inbox(&taken.claim, at(2_200)).await.unwrap();
    assert_eq!(
        store.inbox_counts(at(2_300)).await.unwrap(),
        Default::default()
    );
}

pub(crate) async fn inbox_retry_waits_and_dead_letters_are_kept(store: &Store) {
    store.migrate().await.unwrap();
    store
        .enqueue(&[item("k", None, "a"), item("k", None, "b")], at(0))
        .await
        .unwrap();
    let claimed = store.claim_inbox("w", 2, at(10_000), at(0)).await.unwrap();
    store
        .retry_inbox(&claimed[0].claim, "Graph said 503", at(60_000))
        .await
        .unwrap();
    store
        .dead_letter_inbox(&claimed[1].claim, "payload is not JSON", at(1))
        .await
        .unwrap();

    assert!(
        store
            .claim_inbox("w", 5, at(70_000), at(59_999))
            .await
            .unwrap()
            .is_empty(),
        "retry waits"
    );
    let counts = store.inbox_counts(at(1_000)).await.unwrap();
    assert_eq!((counts.pending, counts.in_flight, counts.dead), (1, 0, 1));
    let retried = store
        .claim_inbox("w", 5, at(120_000), at(60_000))
        .await
        .unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].payload, "a");
    assert_eq!(retried[0].claim.attempt, 2);
    assert_eq!(retried[0].last_error.as_deref(), Some("Graph said 503"));
    store
        .complete_inbox(&retried[0].claim, at(60_001))
        .await
        .unwrap();

    let dead = store.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].last_error.as_deref(), Some("payload is not JSON"));
    assert_eq!(dead[0].attempts, 1);
    assert_eq!(
        store.purge_finished_inbox(at(999_999)).await.unwrap(),
        1,
        "dead letters survive purges"
    );
    assert_eq!(store.requeue_dead_letters(at(70_000)).await.unwrap(), 1);
    let again = store
        .claim_inbox("w", 5, at(80_000), at(70_000))
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].payload, "b");
    assert!(store.dead_letters(10).await.unwrap().is_empty());
}

pub(crate) async fn inbox_failures_are_counted_apart_from_claims_and_reset_on_requeue(
    store: &Store,
) {
    store.migrate().await.unwrap();
    store.enqueue(&[item("k", None, "p")], at(0)).await.unwrap();
    async fn claim(store: &Store, now: i64) -> store::InboxItem {
        let mut items = store
            .claim_inbox("w", 1, at(now + 1_000), at(now))
            .await
            .unwrap();
        assert_eq!(items.len(), 1, "claimable at {now}");
        items.remove(0)
    }
    let mut now = 0;
    // Ten rounds of "later" (throttled, held): each is a claim, none is a failure.
    for round in 1..=10 {
        let item = claim(store, now).await;
        assert_eq!(item.claim.attempt, round);
        assert_eq!(item.failures, 0, "round {round}");
        now += 10;
        store
            .postpone_inbox(&item.claim, "throttled", at(now))
            .await
            .unwrap();
    }
    let item = claim(store, now).await;
    assert_eq!((item.claim.attempt, item.failures), (11, 0));
    assert_eq!(item.last_error.as_deref(), Some("throttled"));
    now += 10;
    store
        .retry_inbox(&item.claim, "Graph said 502", at(now))
        .await
        .unwrap();
    // A worker that dies with the item is no failure of the item either.
    let crashed = claim(store, now).await;
    assert_eq!((crashed.claim.attempt, crashed.failures), (12, 1));
    now += 1_000;
    let item = claim(store, now).await;
    assert_eq!((item.claim.attempt, item.failures), (13, 1));
    assert!(matches!(
        store.postpone_inbox(&crashed.claim, "late", at(now)).await,
        Err(StoreError::LeaseLost { .. })
    ));
    store
        .dead_letter_inbox(&item.claim, "Graph said 502 again", at(now))
        .await
        .unwrap();
    let dead = store.dead_letters(10).await.unwrap();
    assert_eq!((dead[0].attempts, dead[0].failures), (13, 2));

    // Requeued: a fresh budget, while the claim number keeps fencing the old claims.
    assert_eq!(store.requeue_dead_letters(at(now)).await.unwrap(), 1);
    let again = claim(store, now).await;
    assert_eq!((again.claim.attempt, again.failures), (14, 0));
    for stale in [&crashed.claim, &item.claim] {
        assert!(matches!(
            store.complete_inbox(stale, at(now)).await,
            Err(StoreError::LeaseLost { .. })
        ));
    }
    now += 10;
    store
        .retry_inbox(&again.claim, "once more", at(now))
        .await
        .unwrap();
    let last = claim(store, now).await;
    assert_eq!((last.claim.attempt, last.failures), (15, 1));
    store.complete_inbox(&last.claim, at(now)).await.unwrap();
}

pub(crate) async fn inbox_concurrent_workers_never_share_an_item(store: &Store) {
    store.migrate().await.unwrap();
    const ITEMS: usize = 240;
    let items: Vec<_> = (0..ITEMS)
        .map(|i| item("k", Some(&format!("n-{i}")), &i.to_string()))
        .collect();
    for chunk in items.chunks(60) {
        store.enqueue(chunk, at(0)).await.unwrap();
    }
    let mut workers = JoinSet::new();
    for w in 0..8 {
        let store = store.clone();
        workers.spawn(async move {
            let worker = format!("worker-{w}");
            let mut mine = Vec::new();
            loop {
                let batch = store
                    .claim_inbox(&worker, 7, at(600_000), at(1))
                    .await
                    .unwrap();
                if batch.is_empty() {
                    break mine;
                }
                for claimed in batch {
                    store.complete_inbox(&claimed.claim, at(2)).await.unwrap();
                    mine.push(claimed.claim.id);
                }
                tokio::task::yield_now().await;
            }
        });
    }
    let per_worker = workers.join_all().await;
    let all: Vec<i64> = per_worker.iter().flatten().copied().collect();
    let unique: BTreeSet<i64> = all.iter().copied().collect();
    assert_eq!(
        all.len(),
        unique.len(),
        "an item was claimed by two workers"
    );
    assert_eq!(unique.len(), ITEMS, "every item was processed");
    assert!(
        per_worker.iter().filter(|ids| !ids.is_empty()).count() > 1,
        "the work was shared between workers"
    );
}

pub(crate) async fn inbox_listeners_hear_new_items_on_postgres(store: &Store) {
    store.migrate().await.unwrap();
    let Some(mut listener) = store.listen_inbox().await.unwrap() else {
        assert_eq!(
            store.kind(),
            store::BackendKind::Sqlite,
            "only SQLite has none"
        );
        return;
    };
    let item = |key: &str| NewInboxItem {
        kind: "k".into(),
        dedupe_key: Some(key.into()),
        payload: "{}".into(),
    };
    store.enqueue(&[item("a")], at(0)).await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), listener.recv())
        .await
        .expect("signalled")
        .unwrap();
    // A duplicate stores nothing and signals nothing.
    store.enqueue(&[item("a")], at(0)).await.unwrap();
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(300), listener.recv())
            .await
            .is_err()
    );
}

pub(crate) async fn deliveries_reserve_deliver_and_never_twice(store: &Store) {
    store.migrate().await.unwrap();
    let until = at(30_000);
    assert_eq!(
        store
            .reserve_delivery("u1", "msg-1", "w1", until, at(0))
            .await
            .unwrap(),
        Reservation::Reserved
    );
    // Re-reserving one's own reservation extends it.
    assert_eq!(
        store
            .reserve_delivery("u1", "msg-1", "w1", at(40_000), at(1))
            .await
            .unwrap(),
        Reservation::Reserved
    );
    assert_eq!(
        store
            .reserve_delivery("u1", "msg-1", "w2", until, at(2))
            .await
            .unwrap(),
        Reservation::InProgress {
            holder: "w1".into(),
            until: at(40_000)
        }
    );
    // Another recipient of the same message is independent.
    assert_eq!(
        store
            .reserve_delivery("u2", "msg-1", "w2", until, at(2))
            .await
            .unwrap(),
        Reservation::Reserved
    );

    store
        .mark_delivered("u1", "msg-1", "w1", Some("post-1"), at(3))
        .await
        .unwrap();
    assert_eq!(
        store.delivery_state("u1", "msg-1").await.unwrap(),
        Some(DeliveryState::Delivered {
            external_id: Some("post-1".into()),
            at: at(3)
        })
    );
    for (holder, now) in [("w1", at(4)), ("w2", at(999_999))] {
        assert_eq!(
            store
                .reserve_delivery("u1", "msg-1", holder, at(1_000_000), now)
                .await
                .unwrap(),
            Reservation::AlreadyDelivered {
                external_id: Some("post-1".into())
            },
            "a delivered item is never reserved again"
        );
    }
    assert!(
        !store
            .record_delivery("u1", "msg-1", Some("post-x"), at(5))
            .await
            .unwrap()
    );

    // A failed send gives the reservation back so it can be tried again at once.
    assert!(store.release_delivery("u2", "msg-1", "w2").await.unwrap());
    assert!(!store.release_delivery("u2", "msg-1", "w2").await.unwrap());
    assert_eq!(store.delivery_state("u2", "msg-1").await.unwrap(), None);
    assert_eq!(
        store
            .reserve_delivery("u2", "msg-1", "w3", until, at(6))
            .await
            .unwrap(),
        Reservation::Reserved
    );
    assert_eq!(store.count_deliveries("u1").await.unwrap(), 1);
    assert_eq!(store.count_deliveries("u2").await.unwrap(), 0);
}

pub(crate) async fn deliveries_expired_reservation_is_taken_over(store: &Store) {
    store.migrate().await.unwrap();
    store
        .reserve_delivery("u1", "msg-1", "crashed", at(1_500), at(0))
        .await
        .unwrap();
    assert!(matches!(
        store
            .reserve_delivery("u1", "msg-1", "w2", at(9_000), at(1_499))
            .await
            .unwrap(),
        Reservation::InProgress { .. }
    ));
    assert_eq!(
        store
            .reserve_delivery("u1", "msg-1", "w2", at(9_000), at(1_500))
            .await
            .unwrap(),
        Reservation::Reserved
    );
    // The crashed worker comes back: it may not mark what it no longer holds.
    assert!(matches!(
        store
            .mark_delivered("u1", "msg-1", "crashed", Some("dup"), at(1_600))
            .await,
        Err(StoreError::LeaseLost { .. })
    ));
    assert!(
        !store
            .release_delivery("u1", "msg-1", "crashed")
            .await
            .unwrap()
    );
    store
        .mark_delivered("u1", "msg-1", "w2", Some("post-2"), at(1_700))
        .await
        .unwrap();
    assert!(matches!(
        store.delivery_state("u1", "msg-1").await.unwrap(),
        Some(DeliveryState::Delivered { external_id: Some(id), .. }) if id == "post-2"
    ));
    assert_eq!(store.purge_deliveries_before(at(1_701)).await.unwrap(), 1);
    assert_eq!(store.delivery_state("u1", "msg-1").await.unwrap(), None);
}

pub(crate) async fn deliveries_recorded_twice_count_once_even_concurrently(store: &Store) {
    store.migrate().await.unwrap();
    assert!(
        store
            .record_delivery("u1", "summary:2026-11-23", None, at(0))
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_delivery("u1", "summary:2026-11-23", None, at(1))
            .await
            .unwrap()
    );
    assert_eq!(store.count_deliveries("u1").await.unwrap(), 1);

    let store = Arc::new(store.clone());
    let mut recorders = JoinSet::new();
    let mut reservers = JoinSet::new();
    for w in 0..16 {
        let s = store.clone();
        recorders.spawn(async move {
            s.record_delivery("u2", "msg-race", Some(&format!("p{w}")), at(2))
                .await
                .unwrap()
        });
        let s = store.clone();
        reservers.spawn(async move {
            s.reserve_delivery("u3", "msg-race", &format!("w{w}"), at(60_000), at(2))
                .await
                .unwrap()
        });
    }
    let recorded = recorders
        .join_all()
        .await
        .into_iter()
        .filter(|first| *first)
        .count();
    assert_eq!(recorded, 1, "exactly one concurrent record is the first");
    assert_eq!(store.count_deliveries("u2").await.unwrap(), 1);
    let reserved = reservers
        .join_all()
        .await
        .into_iter()
        .filter(|r| *r == Reservation::Reserved)
        .count();
    assert_eq!(reserved, 1, "exactly one concurrent reservation wins");
}

pub(crate) async fn cursors_only_move_forward(store: &Store) {
    store.migrate().await.unwrap();
    assert_eq!(store.chat_cursor("chat-1").await.unwrap(), None);
    assert!(
        store
            .advance_chat_cursor("chat-1", at(1_250), "m1", at(2_000))
            .await
            .unwrap()
    );
    assert!(
        store
            .advance_chat_cursor("chat-1", at(1_500), "m2", at(2_001))
            .await
            .unwrap()
    );
    assert!(
        !store
            .advance_chat_cursor("chat-1", at(1_499), "m-late", at(2_002))
            .await
            .unwrap()
    );
    assert!(
        !store
            .advance_chat_cursor("chat-1", at(1_500), "m-same", at(2_003))
            .await
            .unwrap()
    );
    let cursor = store.chat_cursor("chat-1").await.unwrap().unwrap();
    assert_eq!(
        (cursor.last_message_at, cursor.last_message_id.as_str()),
        (at(1_500), "m2")
    );
    assert_eq!(cursor.updated_at, at(2_001));
    assert!(
        store
            .advance_chat_cursor("chat-0", at(1), "x", at(2))
            .await
            .unwrap()
    );
    let all: Vec<_> = store
        .chat_cursors()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.chat_id)
        .collect();
    assert_eq!(all, ["chat-0", "chat-1"]);
}

pub(crate) async fn job_lease_has_one_holder_and_changes_hands_on_expiry(store: &Store) {
    store.migrate().await.unwrap();
    let a = store
        .try_acquire_job("renew-subscriptions", "replica-a", at(30_000), at(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((a.holder.as_str(), a.fence), ("replica-a", 1));
    assert_eq!(
        store
            .try_acquire_job("renew-subscriptions", "replica-b", at(60_000), at(29_999))
            .await
            .unwrap(),
        None
    );
    // The holder acquiring again extends without changing the fence.
    let a2 = store
        .try_acquire_job("renew-subscriptions", "replica-a", at(45_000), at(10_000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (a2.fence, a2.acquired_at, a2.expires_at),
        (1, at(0), at(45_000))
    );
    let a3 = store.renew_job(&a2, at(50_000)).await.unwrap();
    assert_eq!(
        store
            .job_lease("renew-subscriptions")
            .await
            .unwrap()
            .unwrap()
            .expires_at,
        at(50_000)
    );
    // Other jobs are independent.
    assert!(
        store
            .try_acquire_job("user-sync", "replica-b", at(1_000), at(0))
            .await
            .unwrap()
            .is_some()
    );

    let b = store
        .try_acquire_job("renew-subscriptions", "replica-b", at(90_000), at(50_000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (b.holder.as_str(), b.fence, b.acquired_at),
        ("replica-b", 2, at(50_000))
    );
    assert!(matches!(
        store.renew_job(&a3, at(99_000)).await,
        Err(StoreError::LeaseLost { .. })
    ));
    assert!(!store.release_job(&a3, at(50_001)).await.unwrap());
    // Releasing lets another replica in at once, with a new fence.
    assert!(store.release_job(&b, at(60_000)).await.unwrap());
    let a4 = store
        .try_acquire_job("renew-subscriptions", "replica-a", at(120_000), at(60_000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a4.fence, 3);
}

pub(crate) async fn job_lease_concurrent_acquirers_get_one_holder(store: &Store) {
    store.migrate().await.unwrap();
    for round in 0..3i64 {
        // Each round starts after the previous lease expired.
        let now = at(round * 100_000);
        let mut tasks = JoinSet::new();
        for r in 0..12 {
            let store = store.clone();
            tasks.spawn(async move {
                store
                    .try_acquire_job(
                        "daily-summary",
                        &format!("replica-{round}-{r}"),
                        now + chrono::TimeDelta::seconds(30),
                        now,
                    )
                    .await
                    .unwrap()
            });
        }
        let winners: Vec<_> = tasks.join_all().await.into_iter().flatten().collect();
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        assert_eq!(winners[0].fence, round + 1);
        assert_eq!(
            store
                .job_lease("daily-summary")
                .await
                .unwrap()
                .unwrap()
                .holder,
            winners[0].holder
        );
    }
}

fn due_users(due: &[DueSchedule]) -> Vec<&str> {
    due.iter().map(|d| d.mm_user_id.as_str()).collect()
}

/// When `mm_user_id`'s `daily-summary` run is due (the claimed run's time while it is claimed).
async fn due_at(store: &Store, mm_user_id: &str) -> Option<DateTime<Utc>> {
    store.schedule(mm_user_id, "daily-summary").await.unwrap()
}

pub(crate) async fn schedules_due_runs_are_claimed_oldest_first_and_limited(store: &Store) {
    store.migrate().await.unwrap();
    // Fractions of a second and a run due exactly at `now` check the ordering and the boundary.
    for (user, due_ms) in [
        ("mm-c", 2_000),
        ("mm-a", 0),
        ("mm-late", 10_001),
        ("mm-b", 1_500),
        ("mm-d", 10_000),
        ("mm-e", 60_000),
    ] {
        store
            .set_schedule(user, "daily-summary", Some(at(due_ms)), at(-1))
            .await
            .unwrap();
    }
    // Another job of the same users is not touched by claims of this one.
    store
        .set_schedule("mm-a", "status-check", Some(at(0)), at(-1))
        .await
        .unwrap();
    assert_eq!(
        store
            .count_due_schedules("daily-summary", at(10_000))
            .await
            .unwrap(),
        4
    );

    let first = store
        .claim_due_schedules("daily-summary", "replica-1", at(10_000), at(70_000), 3)
        .await
        .unwrap();
    assert_eq!(
        first,
        vec![
            DueSchedule {
                mm_user_id: "mm-a".into(),
                due_at: at(0)
            },
            DueSchedule {
                mm_user_id: "mm-b".into(),
                due_at: at(1_500)
            },
            DueSchedule {
                mm_user_id: "mm-c".into(),
                due_at: at(2_000)
            },
        ]
    );
    let second = store
        .claim_due_schedules("daily-summary", "replica-1", at(10_000), at(70_000), 3)
        .await
        .unwrap();
    assert_eq!(due_users(&second), ["mm-d"], "{second:?}");
    assert!(
        store
            .claim_due_schedules("daily-summary", "replica-2", at(10_000), at(70_000), 3)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .claim_due_schedules("daily-summary", "replica-1", at(10_000), at(70_000), 0)
            .await
            .unwrap()
            .is_empty()
    );
    // Claimed runs keep their due time and still count as due until finished.
    assert_eq!(due_at(store, "mm-a").await, Some(at(0)));
    assert_eq!(
        store
            .count_due_schedules("daily-summary", at(10_000))
            .await
            .unwrap(),
        4
    );
    // Runs not yet due were left alone, and become claimable when their time comes.
    assert_eq!(due_at(store, "mm-late").await, Some(at(10_001)));
    assert_eq!(due_at(store, "mm-e").await, Some(at(60_000)));
    let later = store
        .claim_due_schedules("daily-summary", "replica-2", at(60_000), at(90_000), 10)
        .await
        .unwrap();
    assert_eq!(due_users(&later), ["mm-late", "mm-e"], "{later:?}");
    assert_eq!(
        store
            .claim_due_schedules("status-check", "replica-1", at(60_000), at(90_000), 10)
            .await
            .unwrap(),
        vec![DueSchedule {
            mm_user_id: "mm-a".into(),
            due_at: at(0)
        }]
    );

    for user in ["mm-a", "mm-b", "mm-c", "mm-d"] {
        assert!(
            store
                .finish_schedule(
                    user,
                    "daily-summary",
                    "replica-1",
                    Some(at(86_400_000)),
                    at(11_000)
                )
                .await
                .unwrap()
        );
    }
    assert_eq!(due_at(store, "mm-b").await, Some(at(86_400_000)));
    assert_eq!(
        store
            .count_due_schedules("daily-summary", at(60_000))
            .await
            .unwrap(),
        2,
        "mm-late and mm-e are still in progress"
    );
    // Just before the finished runs' next time, only the two whose lease passed are claimable.
    let taken_over = store
        .claim_due_schedules(
            "daily-summary",
            "replica-1",
            at(86_399_999),
            at(86_500_000),
            10,
        )
        .await
        .unwrap();
    assert_eq!(
        due_users(&taken_over),
        ["mm-late", "mm-e"],
        "{taken_over:?}"
    );
}

pub(crate) async fn schedules_claim_is_held_until_its_lease_passes(store: &Store) {
    store.migrate().await.unwrap();
    store
        .set_schedule("mm-1", "reminder-check", Some(at(0)), at(0))
        .await
        .unwrap();
    let claimed = store
        .claim_due_schedules("reminder-check", "replica-1", at(1_000), at(31_000), 10)
        .await
        .unwrap();
    assert_eq!(due_users(&claimed), ["mm-1"]);

    // Not claimable while the lease holds, by anyone.
    for (holder, now_ms) in [
        ("replica-2", 1_000),
        ("replica-2", 30_999),
        ("replica-1", 20_000),
    ] {
        assert!(
            store
                .claim_due_schedules(
                    "reminder-check",
                    holder,
                    at(now_ms),
                    at(now_ms + 30_000),
                    10
                )
                .await
                .unwrap()
                .is_empty(),
            "{holder} at {now_ms}"
        );
    }
    // Once it passed, another replica takes it over, with the original due time.
    let taken = store
        .claim_due_schedules("reminder-check", "replica-2", at(31_000), at(61_000), 10)
        .await
        .unwrap();
    assert_eq!(
        taken,
        vec![DueSchedule {
            mm_user_id: "mm-1".into(),
            due_at: at(0)
        }]
    );

    // The first claimer lost it: neither finishing nor releasing changes anything.
    assert!(
        !store
            .finish_schedule(
                "mm-1",
                "reminder-check",
                "replica-1",
                Some(at(300_000)),
                at(32_000)
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .finish_schedule("mm-1", "reminder-check", "replica-1", None, at(32_000))
            .await
            .unwrap()
    );
    assert!(
        !store
            .release_schedule("mm-1", "reminder-check", "replica-1", at(33_000))
            .await
            .unwrap()
    );
    assert_eq!(
        store.schedule("mm-1", "reminder-check").await.unwrap(),
        Some(at(0))
    );
    assert!(
        store
            .claim_due_schedules("reminder-check", "replica-3", at(40_000), at(70_000), 10)
            .await
            .unwrap()
            .is_empty(),
        "replica-2 still holds it"
    );
    assert!(
        store
            .finish_schedule(
                "mm-1",
                "reminder-check",
                "replica-2",
                Some(at(300_000)),
                at(40_000)
            )
            .await
            .unwrap()
    );
    assert_eq!(
        store.schedule("mm-1", "reminder-check").await.unwrap(),
        Some(at(300_000))
    );
    // A finished claim is gone: finishing twice does nothing.
    assert!(
        !store
            .finish_schedule("mm-1", "reminder-check", "replica-2", None, at(41_000))
            .await
            .unwrap()
    );
    assert_eq!(
        store.schedule("mm-1", "reminder-check").await.unwrap(),
        Some(at(300_000))
    );
}

/// Claims `job`'s runs due at `now_ms` for `holder` under a lease until `lease_ms`.
async fn claim(
    store: &Store,
    job: &str,
    holder: &str,
    now_ms: i64,
    lease_ms: i64,
) -> Vec<DueSchedule> {
    store
        .claim_due_schedules(job, holder, at(now_ms), at(lease_ms), 100)
        .await
        .unwrap()
}

pub(crate) async fn schedules_set_during_a_live_claim_keeps_it_and_is_run_after_it(store: &Store) {
    store.migrate().await.unwrap();
    for user in ["mm-1", "mm-2", "mm-3", "mm-4", "mm-5", "mm-6"] {
        store
            .set_schedule(user, "daily-summary", Some(at(0)), at(0))
            .await
            .unwrap();
    }
    let claimed = claim(store, "daily-summary", "replica-1", 0, 60_000).await;
    assert_eq!(claimed.len(), 6);

    // Runs are requested while replica-1 works on these users (a calendar change, "sync now").
    for (user, due_ms) in [
        ("mm-1", 5_000),
        // Several requests during one claim: the earliest counts.
        ("mm-1", 3_600_000),
        ("mm-2", 3_600_000),
        ("mm-3", 20_000),
        ("mm-4", 8_000),
        ("mm-5", 7_000),
        ("mm-5", 6_000),
    ] {
        store
            .set_schedule(user, "daily-summary", Some(at(due_ms)), at(1_000))
            .await
            .unwrap();
    }
    // Removing a schedule still removes it, claimed or not.
    store
        .set_schedule("mm-6", "daily-summary", None, at(1_000))
        .await
        .unwrap();

    // The claims were kept: nobody else gets these users while the lease runs, even once the
    // requested times have come.
    for (holder, now_ms) in [
        ("replica-2", 1_000),
        ("replica-2", 59_999),
        ("replica-1", 30_000),
    ] {
        let got = claim(store, "daily-summary", holder, now_ms, now_ms + 60_000).await;
        assert!(got.is_empty(), "{holder} at {now_ms}: {got:?}");
    }
    // Until the holder is done, the schedule shows the claimed run.
    assert_eq!(due_at(store, "mm-1").await, Some(at(0)));
    assert_eq!(
        store
            .count_due_schedules("daily-summary", at(1_000))
            .await
            .unwrap(),
        5
    );

    // The holder's finish or release is accepted; the row is due at the earlier of its next time
    // and the requested one.
    assert!(
        store
            .finish_schedule(
                "mm-1",
                "daily-summary",
                "replica-1",
                Some(at(86_400_000)),
                at(2_000)
            )
            .await
            .unwrap()
    );
    assert!(
        store
            .finish_schedule(
                "mm-2",
                "daily-summary",
                "replica-1",
                Some(at(1_800_000)),
                at(2_000)
            )
            .await
            .unwrap()
    );
    assert!(
        store
            .release_schedule("mm-3", "daily-summary", "replica-1", at(10_000))
            .await
            .unwrap()
    );
    assert!(
        store
            .release_schedule("mm-4", "daily-summary", "replica-1", at(60_000))
            .await
            .unwrap()
    );
    // Finishing with no next run keeps a row that had a run requested, due then.
    assert!(
        store
            .finish_schedule("mm-5", "daily-summary", "replica-1", None, at(2_000))
            .await
            .unwrap()
    );
    // The removed schedule is not brought back by its claimer.
    assert!(
        !store
            .finish_schedule(
                "mm-6",
                "daily-summary",
                "replica-1",
                Some(at(86_400_000)),
                at(2_000)
            )
            .await
            .unwrap()
    );
    for (user, due_ms) in [
        ("mm-1", Some(5_000)),
        ("mm-2", Some(1_800_000)),
        ("mm-3", Some(10_000)),
        ("mm-4", Some(8_000)),
        ("mm-5", Some(6_000)),
        ("mm-6", None),
    ] {
        assert_eq!(
            store.schedule(user, "daily-summary").await.unwrap(),
            due_ms.map(at),
            "{user}"
        );
    }
    // Done once: finishing again changes nothing.
    assert!(
        !store
            .finish_schedule("mm-5", "daily-summary", "replica-1", None, at(2_500))
            .await
            .unwrap()
    );
    assert_eq!(due_at(store, "mm-5").await, Some(at(6_000)));

    // The requested runs are unclaimed and due at their time, for anyone, although replica-1's
    // old lease still runs; replica-1's late calls change nothing.
    assert!(
        claim(store, "daily-summary", "replica-2", 4_999, 64_999)
            .await
            .is_empty()
    );
    let again = claim(store, "daily-summary", "replica-2", 8_000, 68_000).await;
    assert_eq!(
        again,
        vec![
            DueSchedule {
                mm_user_id: "mm-1".into(),
                due_at: at(5_000)
            },
            DueSchedule {
                mm_user_id: "mm-5".into(),
                due_at: at(6_000)
            },
            DueSchedule {
                mm_user_id: "mm-4".into(),
                due_at: at(8_000)
            },
        ]
    );
    assert!(
        !store
            .release_schedule("mm-1", "daily-summary", "replica-1", at(9_000))
            .await
            .unwrap()
    );
    // Nothing is left pending after those runs: their next times are their own.
    for user in ["mm-1", "mm-4"] {
        assert!(
            store
                .finish_schedule(
                    user,
                    "daily-summary",
                    "replica-2",
                    Some(at(86_405_000)),
                    at(9_000)
                )
                .await
                .unwrap()
        );
    }
    assert!(
        store
            .finish_schedule("mm-5", "daily-summary", "replica-2", None, at(9_000))
            .await
            .unwrap()
    );
    assert_eq!(due_at(store, "mm-1").await, Some(at(86_405_000)));
    assert_eq!(due_at(store, "mm-4").await, Some(at(86_405_000)));
    assert_eq!(due_at(store, "mm-5").await, None);
}

pub(crate) async fn schedules_set_after_the_lease_passed_replaces_the_schedule_and_the_claim(
    store: &Store,
) {
    store.migrate().await.unwrap();
    for user in ["mm-1", "mm-2"] {
        store
            .set_schedule(user, "status-check", Some(at(0)), at(0))
            .await
            .unwrap();
    }
    assert_eq!(
        claim(store, "status-check", "replica-1", 0, 30_000)
            .await
            .len(),
        2
    );
    // mm-2 gets a run requested while the lease still runs (the last instant of it)...
    store
        .set_schedule("mm-2", "status-check", Some(at(20_000)), at(29_999))
        .await
        .unwrap();
    // ...but replica-1 stops answering. At the lease's end both schedules are set anew: replaced,
    // the stale claims cleared, and mm-2's request superseded by the newer schedule.
    store
        .set_schedule("mm-1", "status-check", Some(at(40_000)), at(30_000))
        .await
        .unwrap();
    store
        .set_schedule("mm-2", "status-check", Some(at(50_000)), at(31_000))
        .await
        .unwrap();
    assert_eq!(
        store.schedule("mm-1", "status-check").await.unwrap(),
        Some(at(40_000))
    );
    assert_eq!(
        store.schedule("mm-2", "status-check").await.unwrap(),
        Some(at(50_000))
    );
    // The old claimer lost both: its calls change nothing.
    assert!(
        !store
            .finish_schedule(
                "mm-1",
                "status-check",
                "replica-1",
                Some(at(35_000)),
                at(32_000)
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .finish_schedule("mm-2", "status-check", "replica-1", None, at(32_000))
            .await
            .unwrap()
    );
    assert!(
        !store
            .release_schedule("mm-2", "status-check", "replica-1", at(33_000))
            .await
            .unwrap()
    );
    // Unclaimed: not before the new times, then claimable by anyone.
    assert!(
        claim(store, "status-check", "replica-2", 39_999, 99_999)
            .await
            .is_empty()
    );
    let first = claim(store, "status-check", "replica-2", 40_000, 100_000).await;
    assert_eq!(
        first,
        vec![DueSchedule {
            mm_user_id: "mm-1".into(),
            due_at: at(40_000)
        }]
    );
    let second = claim(store, "status-check", "replica-3", 50_000, 110_000).await;
    assert_eq!(
        second,
        vec![DueSchedule {
            mm_user_id: "mm-2".into(),
            due_at: at(50_000)
        }]
    );
    // The superseded request (20 s) is gone: the run's next time is its own.
    assert!(
        store
            .finish_schedule(
                "mm-2",
                "status-check",
                "replica-3",
                Some(at(600_000)),
                at(51_000)
            )
            .await
            .unwrap()
    );
    assert_eq!(
        store.schedule("mm-2", "status-check").await.unwrap(),
        Some(at(600_000))
    );
}

pub(crate) async fn schedules_a_request_during_a_claim_is_run_exactly_once(store: &Store) {
    store.migrate().await.unwrap();
    let job = "calendar.watch";
    let day = 86_400_000;

    // The holder finishes: one more run, then the ordinary schedule.
    store
        .set_schedule("mm-1", job, Some(at(0)), at(0))
        .await
        .unwrap();
    assert_eq!(claim(store, job, "replica-1", 0, 60_000).await.len(), 1);
    for now_ms in [1_000, 2_000, 3_000] {
        // "Sync now", three times during the run.
        store
            .set_schedule("mm-1", job, Some(at(now_ms)), at(now_ms))
            .await
            .unwrap();
    }
    assert!(
        store
            .finish_schedule("mm-1", job, "replica-1", Some(at(day)), at(4_000))
            .await
            .unwrap()
    );
    let rerun = claim(store, job, "replica-2", 4_000, 64_000).await;
    assert_eq!(
        rerun,
        vec![DueSchedule {
            mm_user_id: "mm-1".into(),
            due_at: at(1_000)
        }]
    );
    assert!(
        claim(store, job, "replica-1", 4_000, 64_000)
            .await
            .is_empty()
    );
    assert!(
        store
            .finish_schedule("mm-1", job, "replica-2", Some(at(day)), at(5_000))
            .await
            .unwrap()
    );
    assert!(
        claim(store, job, "replica-1", day - 1, day + 60_000)
            .await
            .is_empty()
    );
    assert_eq!(store.schedule("mm-1", job).await.unwrap(), Some(at(day)));

    // The holder dies and its lease passes: the run that takes over starts after the request and
    // does it; no further run is added for it.
    store
        .set_schedule("mm-2", job, Some(at(0)), at(0))
        .await
        .unwrap();
    store
        .set_schedule("mm-3", job, Some(at(0)), at(0))
        .await
        .unwrap();
    assert_eq!(claim(store, job, "replica-1", 0, 60_000).await.len(), 2);
    store
        .set_schedule("mm-2", job, Some(at(1_000)), at(1_000))
        .await
        .unwrap();
    // mm-3's request is for after the takeover: it stays pending for the new holder.
    store
        .set_schedule("mm-3", job, Some(at(100_000)), at(1_000))
        .await
        .unwrap();
    let taken = claim(store, job, "replica-2", 60_000, 120_000).await;
    assert_eq!(
        taken,
        vec![
            DueSchedule {
                mm_user_id: "mm-2".into(),
                due_at: at(0)
            },
            DueSchedule {
                mm_user_id: "mm-3".into(),
                due_at: at(0)
            },
        ]
    );
    for user in ["mm-2", "mm-3"] {
        assert!(
            store
                .finish_schedule(user, job, "replica-2", Some(at(day)), at(61_000))
                .await
                .unwrap()
        );
        assert!(
            !store
                .finish_schedule(user, job, "replica-1", Some(at(2_000)), at(61_000))
                .await
                .unwrap(),
            "{user}: the dead holder lost it"
        );
    }
    assert_eq!(store.schedule("mm-2", job).await.unwrap(), Some(at(day)));
    assert_eq!(
        store.schedule("mm-3", job).await.unwrap(),
        Some(at(100_000))
    );
    assert!(
        claim(store, job, "replica-3", 99_999, 160_000)
            .await
            .is_empty()
    );
    assert_eq!(
        due_users(&claim(store, job, "replica-3", 100_000, 160_000).await),
        ["mm-3"]
    );
    assert!(
        store
            .finish_schedule("mm-3", job, "replica-3", None, at(101_000))
            .await
            .unwrap()
    );
    assert_eq!(store.schedule("mm-3", job).await.unwrap(), None);
}

pub(crate) async fn schedules_a_request_racing_the_holders_finish_is_never_lost(store: &Store) {
    store.migrate().await.unwrap();
    let job = "calendar.watch";
    for round in 0..40_i64 {
        let user = format!("mm-{round:02}");
        let base = round * 1_000_000;
        store
            .set_schedule(&user, job, Some(at(base)), at(base))
            .await
            .unwrap();
        assert_eq!(
            due_users(&claim(store, job, "replica-1", base, base + 60_000).await),
            [user.as_str()]
        );
        // Whichever comes first, the holder's last run (no next one) or a request for a run: the
        // request is kept, due at its time, unclaimed.
        let start = Arc::new(tokio::sync::Barrier::new(2));
        let mut tasks = JoinSet::new();
        {
            let (store, user, start) = (store.clone(), user.clone(), Arc::clone(&start));
            tasks.spawn(async move {
                start.wait().await;
                store
                    .finish_schedule(&user, job, "replica-1", None, at(base + 1_000))
                    .await
                    .unwrap()
            });
        }
        {
            let (store, user, start) = (store.clone(), user.clone(), Arc::clone(&start));
            tasks.spawn(async move {
                start.wait().await;
                store
                    .set_schedule(&user, job, Some(at(base + 2_000)), at(base + 1_000))
                    .await
                    .unwrap();
                true
            });
        }
        assert!(
            tasks.join_all().await.into_iter().all(|ok| ok),
            "round {round}: the holder's finish was refused"
        );
        assert_eq!(
            store.schedule(&user, job).await.unwrap(),
            Some(at(base + 2_000)),
            "round {round}"
        );
        assert!(
            claim(store, job, "replica-2", base + 1_999, base + 60_000)
                .await
                .is_empty()
        );
        assert_eq!(
            due_users(&claim(store, job, "replica-2", base + 2_000, base + 60_000).await),
            [user.as_str()],
            "round {round}"
        );
        assert!(
            store
                .finish_schedule(&user, job, "replica-2", None, at(base + 3_000))
                .await
                .unwrap()
        );
        assert_eq!(
            store.schedule(&user, job).await.unwrap(),
            None,
            "round {round}"
        );
    }
}

pub(crate) async fn schedules_release_makes_a_run_due_again_at_retry_at(store: &Store) {
    store.migrate().await.unwrap();
    store
        .set_schedule("mm-1", "status-check", Some(at(0)), at(0))
        .await
        .unwrap();
    let claimed = store
        .claim_due_schedules("status-check", "replica-1", at(0), at(600_000), 10)
        .await
        .unwrap();
    assert_eq!(due_users(&claimed), ["mm-1"]);
    assert!(
        !store
            .release_schedule("mm-1", "status-check", "replica-2", at(1_000))
            .await
            .unwrap(),
        "only the holder releases"
    );
    assert!(
        store
            .release_schedule("mm-1", "status-check", "replica-1", at(60_500))
            .await
            .unwrap()
    );
    assert_eq!(
        store.schedule("mm-1", "status-check").await.unwrap(),
        Some(at(60_500))
    );
    assert!(
        !store
            .release_schedule("mm-1", "status-check", "replica-1", at(1_000))
            .await
            .unwrap(),
        "released once"
    );
    assert_eq!(
        store
            .count_due_schedules("status-check", at(60_499))
            .await
            .unwrap(),
        0
    );
    assert!(
        store
            .claim_due_schedules("status-check", "replica-2", at(60_499), at(600_000), 10)
            .await
            .unwrap()
            .is_empty(),
        "not due before retry_at"
    );
    let retried = store
        .claim_due_schedules("status-check", "replica-2", at(60_500), at(600_000), 10)
        .await
        .unwrap();
    assert_eq!(
        retried,
        vec![DueSchedule {
            mm_user_id: "mm-1".into(),
            due_at: at(60_500)
        }]
    );
}

pub(crate) async fn schedules_none_deletes_and_a_disconnect_removes_all_jobs(store: &Store) {
    store.migrate().await.unwrap();
    for job in ["daily-summary", "reminder-check", "status-check"] {
        for user in ["mm-1", "mm-2"] {
            store
                .set_schedule(user, job, Some(at(0)), at(0))
                .await
                .unwrap();
        }
    }
    assert_eq!(due_at(store, "mm-1").await, Some(at(0)));
    assert_eq!(store.schedule("mm-1", "unknown").await.unwrap(), None);

    // Setting None removes the schedule; doing it again is harmless.
    store
        .set_schedule("mm-1", "daily-summary", None, at(1))
        .await
        .unwrap();
    store
        .set_schedule("mm-1", "daily-summary", None, at(1))
        .await
        .unwrap();
    assert_eq!(due_at(store, "mm-1").await, None);
    assert_eq!(
        store
            .count_due_schedules("daily-summary", at(1))
            .await
            .unwrap(),
        1
    );

    // Finishing with no next run removes it too.
    let claimed = store
        .claim_due_schedules("reminder-check", "replica-1", at(1), at(60_000), 1)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let user = claimed[0].mm_user_id.clone();
    assert!(
        store
            .finish_schedule(&user, "reminder-check", "replica-1", None, at(2))
            .await
            .unwrap()
    );
    assert_eq!(store.schedule(&user, "reminder-check").await.unwrap(), None);

    // A disconnect removes every job of that user, claimed or not, and no other user's.
    let mm1_claimed = store
        .claim_due_schedules("status-check", "replica-1", at(3), at(60_000), 10)
        .await
        .unwrap();
    assert_eq!(mm1_claimed.len(), 2);
    let mm1_left = 3 - 1 - u64::from(user == "mm-1");
    assert_eq!(store.delete_schedules("mm-1").await.unwrap(), mm1_left);
    assert_eq!(store.delete_schedules("mm-1").await.unwrap(), 0);
    for job in ["daily-summary", "reminder-check", "status-check"] {
        assert_eq!(store.schedule("mm-1", job).await.unwrap(), None, "{job}");
    }
    assert!(
        !store
            .finish_schedule(
                "mm-1",
                "status-check",
                "replica-1",
                Some(at(86_400_000)),
                at(4)
            )
            .await
            .unwrap(),
        "a deleted schedule is not brought back by its claimer"
    );
    assert_eq!(store.schedule("mm-1", "status-check").await.unwrap(), None);
    assert_eq!(
        store.schedule("mm-2", "status-check").await.unwrap(),
        Some(at(0))
    );
    assert_eq!(due_at(store, "mm-2").await, Some(at(0)));
}

pub(crate) async fn schedules_concurrent_claimers_split_due_runs(store: &Store) {
    store.migrate().await.unwrap();
    const USERS: usize = 100;
    let users: Vec<String> = (0..USERS).map(|i| format!("mm-{i:03}")).collect();
    for (i, user) in users.iter().enumerate() {
        // Many runs share a due time, as when everyone's summary is at 08:00.
        let due_ms = i64::try_from(i % 7).unwrap() * 250;
        store
            .set_schedule(user, "daily-summary", Some(at(due_ms)), at(-1))
            .await
            .unwrap();
    }
    // Not due, and of another job: neither may be claimed.
    store
        .set_schedule("mm-later", "daily-summary", Some(at(60_000)), at(-1))
        .await
        .unwrap();
    store
        .set_schedule("mm-000", "status-check", Some(at(0)), at(-1))
        .await
        .unwrap();

    let start = Arc::new(tokio::sync::Barrier::new(2));
    let mut replicas = JoinSet::new();
    for r in 0..2 {
        let store = store.clone();
        let start = Arc::clone(&start);
        replicas.spawn(async move {
            let holder = format!("replica-{r}");
            let mut mine = Vec::new();
            start.wait().await;
            loop {
                let batch = store
                    .claim_due_schedules("daily-summary", &holder, at(2_000), at(600_000), 7)
                    .await
                    .unwrap();
                if batch.is_empty() {
                    break mine;
                }
                for due in batch {
                    assert!(
                        store
                            .finish_schedule(
                                &due.mm_user_id,
                                "daily-summary",
                                &holder,
                                Some(due.due_at + chrono::TimeDelta::days(1)),
                                at(2_000),
                            )
                            .await
                            .unwrap(),
                        "{holder} lost {}",
                        due.mm_user_id
                    );
                    mine.push(due.mm_user_id);
                }
                // The run itself, during which the other replica claims.
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
        });
    }
    let per_replica = replicas.join_all().await;
    let all: Vec<&String> = per_replica.iter().flatten().collect();
    let unique: BTreeSet<&String> = all.iter().copied().collect();
    assert_eq!(
        all.len(),
        unique.len(),
        "a run was claimed by both replicas"
    );
    assert_eq!(
        unique,
        users.iter().collect::<BTreeSet<_>>(),
        "every due run was claimed, and nothing else"
    );
    assert!(
        per_replica.iter().all(|mine| !mine.is_empty()),
        "both replicas got work: {:?}",
        per_replica.iter().map(Vec::len).collect::<Vec<_>>()
    );
    assert_eq!(
        store
            .count_due_schedules("daily-summary", at(2_000))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        due_at(store, "mm-006").await,
        Some(at(6 * 250) + chrono::TimeDelta::days(1))
    );
    assert_eq!(due_at(store, "mm-later").await, Some(at(60_000)));
    assert_eq!(
        store
            .count_due_schedules("status-check", at(2_000))
            .await
            .unwrap(),
        1
    );
}
