//! Account linking end to end (T1-T5, T8, S9, B5): the real `teams-bridge serve` process between
//! the Mattermost and Microsoft Graph emulators. Slash commands arrive from the Mattermost
//! emulator, the browser round trip goes through the Graph emulator's sign-in, and the store is
//! read back to check what was (and was not) written.

mod support;

use std::time::{Duration, Instant};

use chrono::TimeDelta;
use serde_json::Value;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_confirm_enable_notifications_status_and_disconnect() {
    let b = Bridge::start(CommandSetup::ByHand).await;
    assert!(table_path(b.dir.path()).exists(), "SQLite store created");

    let (reply, _) = b.slash(&b.alice.mm_id, "connect").await;
    assert!(reply.contains("/oauth/connect?state="), "{reply}");
    let (status, html) = b.sign_in(&reply, &b.alice.ms_id).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Connected"), "{html}");
    assert!(html.contains("alice@contoso.com"), "{html}");

    // The link is stored, with a sealed token that is not the plain access token.
    let store = b.store().await;
    let link = link_of(&store, &b.alice.mm_id).await.expect("linked");
    assert_eq!(link.teams_user_id, b.alice.ms_id);
    assert!(link.is_connected());
    let sealed = link.token.expect("token").as_str().to_owned();
    assert!(sealed.starts_with("v1."), "sealed at rest: {sealed}");
    assert!(!sealed.contains("access_token"));
    assert!(link.token_expires_at.is_some());

    // T5: the bot's confirmation DM with a button to enable notifications.
    let dms = b.wait_for_dms(&b.alice.mm_id, 1).await;
    let confirmation = &dms[0];
    assert!(
        confirmation
            .message
            .contains("now connected to Microsoft Teams"),
        "{confirmation:?}"
    );
    let buttons = button_ids(confirmation);
    assert_eq!(buttons.len(), 1, "{buttons:?}");
    assert_eq!(buttons[0].1, "Enable notifications");
    assert_eq!(notifications_of(&store, &b.alice.mm_id).await, None);

    let clicked = b
        .mattermost
        .click_button(&b.alice.mm_id, &confirmation.id, &buttons[0].0)
        .await
        .expect("click");
    assert_eq!(
        notifications_of(&store, &b.alice.mm_id).await.as_deref(),
        Some("on")
    );
    let updated = clicked.updated_post.expect("post updated");
    assert!(
        updated.message.contains("Chat notifications: **on**"),
        "{updated:?}"
    );
    assert!(
        button_ids(&updated)
            .iter()
            .any(|(_, name)| name == "Turn notifications off"),
        "{updated:?}"
    );

    let (status, _) = b.slash(&b.alice.mm_id, "status").await;
    assert!(
        status.contains("connected to Microsoft Teams as **alice@contoso.com**"),
        "{status}"
    );
    assert!(status.contains("notifications are on"), "{status}");
    let (again, _) = b.slash(&b.alice.mm_id, "connect").await;
    assert!(again.contains("already connected"), "{again}");
    let (notifications, _) = b.slash(&b.alice.mm_id, "notifications status").await;
    assert!(notifications.contains("are on"), "{notifications}");

    let (bye, _) = b.slash(&b.alice.mm_id, "disconnect").await;
    assert!(bye.contains("now disconnected"), "{bye}");
    let link = link_of(&store, &b.alice.mm_id).await.expect("row kept");
    assert!(!link.is_connected());
    assert!(link.token.is_none(), "token deleted");
    assert_eq!(
        notifications_of(&store, &b.alice.mm_id).await.as_deref(),
        Some("off")
    );
    let (status, _) = b.slash(&b.alice.mm_id, "status").await;
    assert!(status.contains("not connected"), "{status}");

    // Nothing secret reached the log.
    let log = b.log();
    for secret in [CLIENT_SECRET, ENCRYPTION_KEY, b.command_token.as_str()] {
        assert!(!log.contains(secret), "secret in log:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_help_and_usage_replies() {
    let b = Bridge::start(CommandSetup::ByHand).await;
    let (help, _) = b.slash(&b.alice.mm_id, "help").await;
    assert!(
        help.contains("/msteams notifications on|off|status"),
        "{help}"
    );
    assert!(!help.contains("mapping"), "{help}");
    let (admin_help, _) = b.slash(&b.admin_mm, "").await;
    assert!(admin_help.contains("/msteams mapping add"), "{admin_help}");
    let (unknown, _) = b.slash(&b.alice.mm_id, "frobnicate").await;
    assert!(
        unknown.starts_with("Unknown subcommand `frobnicate`."),
        "{unknown}"
    );
    let (wrong, _) = b.slash(&b.alice.mm_id, "notifications maybe").await;
    assert!(wrong.contains("Usage:"), "{wrong}");
    let (early, _) = b.slash(&b.alice.mm_id, "notifications on").await;
    assert!(early.contains("need a connected account"), "{early}");
    let (settings, post) = b.slash(&b.alice.mm_id, "settings").await;
    assert!(settings.contains("not connected"), "{settings}");
    let names: Vec<String> = post["props"]["attachments"][0]["actions"]
        .as_array()
        .expect("buttons")
        .iter()
        .map(|a| a["name"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(names, ["Connect"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_registers_its_command_when_given_an_admin_token() {
    let b = Bridge::start(CommandSetup::ByService).await;
    // The registration runs in the background right after start.
    let deadline = Instant::now() + Duration::from_secs(10);
    let reply = loop {
        match b
            .mattermost
            .run_slash_command(&b.bob.mm_id, &b.channel, "/msteams status")
            .await
        {
            Ok(outcome) if !outcome.ephemeral.is_empty() => {
                break outcome.ephemeral[0].message.clone();
            }
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "command never registered; log:\n{}",
            b.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(reply.contains("not connected"), "{reply}");
    let log = b.log();
    assert!(log.contains("slash command registered"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_owned_by_another_integration_is_left_alone_and_not_retried() {
    let b = Bridge::start(CommandSetup::TakenByAnother).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !b.log().contains("cannot be registered in this team") {
        assert!(
            Instant::now() < deadline,
            "no refusal logged; log:\n{}",
            b.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Not taken over, and the service knows no token for it: a call with any token is refused.
    let (status, _) = b
        .slash_with_token(&b.alice.mm_id, "status", Some("guess"))
        .await;
    assert_eq!(status, 401);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        b.log().matches("cannot be registered in this team").count(),
        1,
        "a refusal is not retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_without_offline_access_or_by_deactivated_users_link_nothing() {
    let b = Bridge::start(CommandSetup::ByHand).await;
    let store = b.store().await;

    // The consent came back without offline_access: no refresh token, so no link that would
    // silently die within the hour.
    let (reply, _) = b.slash(&b.alice.mm_id, "connect").await;
    b.graph.sign_in_as(Some(&b.alice.ms_id));
    let to_microsoft = b
        .http
        .get(connect_link(&reply))
        .send()
        .await
        .expect("connect");
    let authorize = location(&to_microsoft).replace("offline_access", "openid");
    let back = b.http.get(&authorize).send().await.expect("authorize");
    let (status, html) = b.get_page(&location(&back)).await;
    assert_eq!(status, 400);
    assert!(html.contains("did not grant offline access"), "{html}");
    assert!(link_of(&store, &b.alice.mm_id).await.is_none());

    // Bob asked for a link, then his Mattermost account was deactivated before he signed in.
    let (reply, _) = b.slash(&b.bob.mm_id, "connect").await;
    b.mattermost
        .deactivate_user(&b.bob.mm_id)
        .expect("deactivate");
    let (status, html) = b.sign_in(&reply, &b.bob.ms_id).await;
    assert_eq!(status, 400);
    assert!(html.contains("no longer exists"), "{html}");
    assert!(link_of(&store, &b.bob.mm_id).await.is_none());
    assert!(b.dms_to(&b.bob.mm_id).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_missing_command_tokens_are_refused_and_change_nothing() {
    let b = Bridge::start(CommandSetup::ByHand).await;
    let store = b.store().await;
    // Bob is connected with notifications on; forged calls try to undo that.
    let (reply, _) = b.slash(&b.bob.mm_id, "connect").await;
    let (status, _) = b.sign_in(&reply, &b.bob.ms_id).await;
    assert_eq!(status, 200);
    b.slash(&b.bob.mm_id, "notifications on").await;
    let before = link_of(&store, &b.bob.mm_id).await.expect("bob linked");

    for token in [None, Some("not-the-token"), Some("")] {
        for (user, text) in [
            (&b.alice.mm_id, "connect"),
            (&b.bob.mm_id, "disconnect"),
            (&b.bob.mm_id, "notifications off"),
        ] {
            let (status, _) = b.slash_with_token(user, text, token).await;
            assert_eq!(status, 401, "token {token:?}, {text}");
        }
    }
    assert_eq!(link_of(&store, &b.bob.mm_id).await, Some(before));
    assert_eq!(
        notifications_of(&store, &b.bob.mm_id).await.as_deref(),
        Some("on")
    );
    // No sign-in state was made for the refused calls (Bob's was used up).
    assert_eq!(
        store
            .purge_expired_oauth_states(chrono::Utc::now() + TimeDelta::hours(1))
            .await
            .expect("purge"),
        0
    );
    assert!(!b.log().contains("not-the-token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_expired_and_foreign_states_change_nothing() {
    let b = Bridge::start(CommandSetup::ByHand).await;
    let store = b.store().await;

    // Replay: the same redirect twice. The second one is refused.
    let (reply, _) = b.slash(&b.alice.mm_id, "connect").await;
    b.graph.sign_in_as(Some(&b.alice.ms_id));
    let to_microsoft = b
        .http
        .get(connect_link(&reply))
        .send()
        .await
        .expect("connect");
    let back = b
        .http
        .get(location(&to_microsoft))
        .send()
        .await
        .expect("authorize");
    let redirect = location(&back);
    let (status, _) = b.get_page(&redirect).await;
    assert_eq!(status, 200);
    b.slash(&b.alice.mm_id, "disconnect").await;
    let (status, html) = b.get_page(&redirect).await;
    assert_eq!(status, 400);
    assert!(
        html.contains("not valid or has already been used"),
        "{html}"
    );
    assert!(
        !link_of(&store, &b.alice.mm_id)
            .await
            .expect("row")
            .is_connected(),
        "replay did not reconnect"
    );
    // The connect link itself is single use too, once redeemed.
    let (status, html) = b.get_page(&connect_link(&reply)).await;
    assert_eq!(status, 400);
    assert!(html.contains("not valid"), "{html}");

    // Foreign state: Bob's link, completed by Alice's Microsoft account, does not link either of
    // them (the address does not match Bob's email).
    let (bob_reply, _) = b.slash(&b.bob.mm_id, "connect").await;
    let (status, html) = b.sign_in(&bob_reply, &b.alice.ms_id).await;
    assert_eq!(status, 400);
    assert!(
        html.contains("does not match your Mattermost email"),
        "{html}"
    );
    assert!(link_of(&store, &b.bob.mm_id).await.is_none());

    // A made-up state and a missing code.
    let (status, html) = b
        .get_page(&format!(
            "{}/oauth/redirect?state=made-up&code=abc",
            b.public_url
        ))
        .await;
    assert_eq!(status, 400);
    assert!(html.contains("not valid"), "{html}");

    // Microsoft sends the browser back with an error (the user cancelled): the page says so in
    // our words (the description in the URL could have been written by anyone), the state is used
    // up, and nothing is linked.
    let (reply, _) = b.slash(&b.bob.mm_id, "connect").await;
    let state = connect_link(&reply)
        .split("state=")
        .nth(1)
        .expect("state in the link")
        .to_owned();
    let response = b
        .http
        .get(format!(
            "{}/oauth/redirect?state={state}&error=access_denied&error_description=%3Cscript%3Ealert(1)%3C/script%3E%20Call%20%2B1-555",
            b.public_url
        ))
        .send()
        .await
        .expect("redirect");
    assert_eq!(response.status(), 400);
    let headers = response.headers().clone();
    let html = response.text().await.expect("page");
    assert!(html.contains("The sign-in was cancelled"), "{html}");
    assert!(!html.contains("script") && !html.contains("555"), "{html}");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .expect("csp")
            .starts_with("default-src 'none'"),
        "{headers:?}"
    );
    let (status, html) = b.get_page(&connect_link(&reply)).await;
    assert_eq!(status, 400, "the state is used up");
    assert!(html.contains("not valid"), "{html}");
    assert!(link_of(&store, &b.bob.mm_id).await.is_none());

    // Expired: a state older than 10 minutes. The emulator's clock cannot move the service's, so
    // age the stored state directly.
    let (reply, _) = b.slash(&b.bob.mm_id, "connect").await;
    let link = connect_link(&reply);
    age_states(&b.store_url).await;
    let (status, html) = b.get_page(&link).await;
    assert_eq!(status, 400);
    assert!(html.contains("expired"), "{html}");
    assert!(link_of(&store, &b.bob.mm_id).await.is_none());

    // Expired on the way back: the user took more than 10 minutes at Microsoft's sign-in.
    let (reply, _) = b.slash(&b.bob.mm_id, "connect").await;
    b.graph.sign_in_as(Some(&b.bob.ms_id));
    let to_microsoft = b
        .http
        .get(connect_link(&reply))
        .send()
        .await
        .expect("connect");
    let back = b
        .http
        .get(location(&to_microsoft))
        .send()
        .await
        .expect("authorize");
    age_states(&b.store_url).await;
    let (status, html) = b.get_page(&location(&back)).await;
    assert_eq!(status, 400);
    assert!(html.contains("expired"), "{html}");
    assert!(link_of(&store, &b.bob.mm_id).await.is_none());
    assert!(b.dms_to(&b.bob.mm_id).is_empty(), "no confirmation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_mismatch_needs_an_admin_mapping_and_accounts_link_once() {
    let b = Bridge::start(CommandSetup::ByHand).await;
    let store = b.store().await;

    // Alice signs in with Mallory's account: refused, nothing stored.
    let (reply, _) = b.slash(&b.alice.mm_id, "connect").await;
    let (status, html) = b.sign_in(&reply, &b.mallory_ms).await;
    assert_eq!(status, 400);
    assert!(html.contains("mallory@contoso.com"), "{html}");
    assert!(link_of(&store, &b.alice.mm_id).await.is_none());

    // Only admins map addresses.
    let (denied, _) = b
        .slash(&b.alice.mm_id, "mapping add alice mallory@contoso.com")
        .await;
    assert!(denied.contains("Only system admins"), "{denied}");
    assert!(store.login_mappings().await.expect("list").is_empty());
    let (added, _) = b
        .slash(&b.admin_mm, "mapping add @alice mallory@contoso.com")
        .await;
    assert!(added.contains("@alice may now connect"), "{added}");
    let (list, _) = b.slash(&b.admin_mm, "mapping list").await;
    assert!(list.contains("| @alice | mallory@contoso.com |"), "{list}");

    let (reply, _) = b.slash(&b.alice.mm_id, "connect").await;
    let (status, html) = b.sign_in(&reply, &b.mallory_ms).await;
    assert_eq!(status, 200, "{html}");
    let link = link_of(&store, &b.alice.mm_id).await.expect("linked");
    assert_eq!(link.teams_user_id, b.mallory_ms);

    // That Microsoft account is now taken: Bob, even with a mapping, cannot link it.
    b.slash(&b.admin_mm, "mapping add bob mallory@contoso.com")
        .await;
    let (reply, _) = b.slash(&b.bob.mm_id, "connect").await;
    let (status, html) = b.sign_in(&reply, &b.mallory_ms).await;
    assert_eq!(status, 400);
    assert!(
        html.contains("already connected to another Mattermost account"),
        "{html}"
    );
    assert!(link_of(&store, &b.bob.mm_id).await.is_none());
    let (removed, _) = b.slash(&b.admin_mm, "mapping remove bob").await;
    assert!(removed.contains("must now connect"), "{removed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_foreign_button_clicks_are_refused() {
    let b = Bridge::start(CommandSetup::ByHand).await;
    let (reply, _) = b.slash(&b.alice.mm_id, "connect").await;
    b.sign_in(&reply, &b.alice.ms_id).await;
    let dms = b.wait_for_dms(&b.alice.mm_id, 1).await;
    let confirmation = &dms[0];
    let context =
        confirmation.props["attachments"][0]["actions"][0]["integration"]["context"].clone();
    let store = b.store().await;
    let url = format!("{}/mattermost/action", b.public_url);

    let click = |user: &str, context: Value| {
        serde_json::json!({
            "user_id": user,
            "user_name": "x",
            "channel_id": confirmation.channel_id,
            "channel_name": "",
            "team_id": "",
            "team_domain": "",
            "post_id": confirmation.id,
            "trigger_id": "t",
            "type": "",
            "data_source": "",
            "context": context,
        })
    };
    // Bob replays Alice's button.
    let response: Value = b
        .http
        .post(&url)
        .json(&click(&b.bob.mm_id, context.clone()))
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert!(
        response["ephemeral_text"]
            .as_str()
            .unwrap_or("")
            .contains("made for someone else"),
        "{response}"
    );
    // A forged context, and an altered one.
    let mut altered = context.clone();
    altered["action"] = Value::from("disconnect");
    for forged in [
        serde_json::json!({"action": "notifications_on"}),
        serde_json::json!({"action": "notifications_on", "seal": "v1.abc.def"}),
        altered,
    ] {
        let response: Value = b
            .http
            .post(&url)
            .json(&click(&b.alice.mm_id, forged))
            .send()
            .await
            .expect("post")
            .json()
            .await
            .expect("json");
        assert!(
            response["ephemeral_text"]
                .as_str()
                .unwrap_or("")
                .contains("not valid"),
            "{response}"
        );
    }
    let bad = b
        .http
        .post(&url)
        .body("not json")
        .send()
        .await
        .expect("post");
    assert_eq!(bad.status(), 400);
    assert_eq!(
        notifications_of(&store, &b.alice.mm_id).await,
        None,
        "no click changed anything"
    );
    assert!(
        link_of(&store, &b.alice.mm_id)
            .await
            .expect("link")
            .is_connected()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_refreshed_and_invalid_grant_disconnects_with_a_dm() {
    // Tokens live 5 minutes, within the service's 10-minute refresh margin: every round refreshes.
    let b = Bridge::start_with(CommandSetup::ByHand, TimeDelta::minutes(5)).await;
    let store = b.store().await;
    let (reply, _) = b.slash(&b.alice.mm_id, "connect").await;
    b.sign_in(&reply, &b.alice.ms_id).await;
    let first = link_of(&store, &b.alice.mm_id)
        .await
        .expect("link")
        .token
        .expect("token");

    // The refresh job replaces the sealed token.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = link_of(&store, &b.alice.mm_id)
            .await
            .expect("link")
            .token
            .expect("token");
        if now != first {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never refreshed; log:\n{}",
            b.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Microsoft revokes the refresh token: the link ends and the bot says how to reconnect.
    b.graph.revoke_refresh_tokens(&b.alice.ms_id);
    let dms = b.wait_for_dms(&b.alice.mm_id, 2).await;
    let notice = &dms.last().expect("dm").message;
    assert!(notice.contains("stopped working"), "{notice}");
    assert!(notice.contains("/msteams connect"), "{notice}");
    let link = link_of(&store, &b.alice.mm_id).await.expect("link");
    assert!(!link.is_connected());
    assert!(link.token.is_none());
    let (status, _) = b.slash(&b.alice.mm_id, "status").await;
    assert!(status.contains("not connected"), "{status}");
}
