//! `/mscalendar` (C1): connecting, help, settings, info, mistakes, admin commands and the command
//! token; readiness and metrics.

use crate::support::{Bridge, Options, button_context, buttons};

#[tokio::test(flavor = "multi_thread")]
async fn connect_help_settings_info_and_mistakes() {
    let b = Bridge::start(Options {
        people: vec!["alice", "bob"],
        admins: vec!["bob"],
        ..Options::default()
    })
    .await;

    // Before connecting, info says how to connect.
    let (info, _) = b.slash("alice", "info").await;
    assert!(info.contains("not connected"), "{info}");
    assert!(info.contains("/mscalendar connect"), "{info}");

    // Connect: the link signs in at Microsoft, the welcome DM names the calendar.
    let (reply, _) = b.slash("alice", "connect").await;
    assert!(reply.contains("/oauth/connect?state="), "{reply}");
    let (status, html) = b.sign_in(&reply, b.ms("alice")).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Microsoft 365 Calendar"), "{html}");
    let welcome = b
        .wait_dm("alice", 10, |p| p.message.contains("now connected"))
        .await;
    assert!(
        welcome.message.contains("Microsoft 365 Calendar")
            && welcome.message.contains("alice@contoso.com"),
        "{}",
        welcome.message
    );
    assert!(!welcome.message.contains("Teams"), "{}", welcome.message);
    // Connecting again says so rather than starting over.
    let (again, _) = b.slash("alice", "connect").await;
    assert!(again.contains("already connected"), "{again}");

    // Help: every user command, and no admin section for a non-admin.
    let (help, _) = b.slash("alice", "help").await;
    for command in [
        "connect",
        "today",
        "summary time",
        "settings status",
        "info",
    ] {
        assert!(
            help.contains(command),
            "{command} missing from help: {help}"
        );
    }
    assert!(!help.contains("admin subscriptions"), "{help}");
    let (empty, _) = b.slash("alice", "").await;
    assert_eq!(empty, help, "no words is help");

    // Settings: a message with buttons that change them.
    let (settings, post) = b.slash("alice", "settings").await;
    assert!(settings.contains("Your calendar settings"), "{settings}");
    assert!(settings.contains("Daily summary:** off"), "{settings}");
    let labels: Vec<String> = buttons(&post).into_iter().map(|(_, l)| l).collect();
    assert!(labels.contains(&"Turn summary on".to_owned()), "{labels:?}");
    assert!(
        labels.contains(&"Turn reminders off".to_owned()),
        "{labels:?}"
    );
    assert!(
        labels.contains(&"Status: change it".to_owned()),
        "{labels:?}"
    );
    // A button works: Mattermost posts its sealed context back; the settings message is redrawn
    // with the change and the user is told what changed.
    let clicked = b
        .post_action(
            b.mm("alice"),
            &post.id,
            button_context(&post, "Turn summary on"),
        )
        .await;
    let redrawn = clicked["update"]["message"].as_str().unwrap_or_default();
    assert!(
        redrawn.contains("Daily summary:** on, at 8:00 AM"),
        "{clicked}"
    );
    assert!(
        clicked["ephemeral_text"]
            .as_str()
            .is_some_and(|t| t.contains("Your daily summary is on")),
        "{clicked}"
    );
    let redrawn_labels: Vec<&str> = clicked["update"]["props"]["attachments"][0]["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert!(redrawn_labels.contains(&"Turn summary off"), "{clicked}");
    let (summary, _) = b.slash("alice", "summary").await;
    assert!(summary.contains("on, at 8:00 AM"), "{summary}");
    let (_, post) = b.slash("alice", "settings").await;
    b.post_action(
        b.mm("alice"),
        &post.id,
        button_context(&post, "Turn summary off"),
    )
    .await;
    let (changed, post) = b.slash("alice", "settings reminders off").await;
    assert!(
        changed.contains("Reminders before events:** off"),
        "{changed}"
    );
    let labels: Vec<String> = buttons(&post).into_iter().map(|(_, l)| l).collect();
    assert!(
        labels.contains(&"Turn reminders on".to_owned()),
        "{labels:?}"
    );
    // Another user cannot use Alice's settings buttons.
    let foreign = b
        .post_action(
            b.mm("bob"),
            &post.id,
            button_context(&post, "Turn reminders on"),
        )
        .await;
    assert!(
        foreign["ephemeral_text"]
            .as_str()
            .is_some_and(|t| t.contains("made for someone else")),
        "{foreign}"
    );

    // The agenda commands answer for a connected user (an empty calendar here).
    let (today, _) = b.slash("alice", "today").await;
    assert!(today.starts_with("#### Your agenda for "), "{today}");
    assert!(today.contains("You have no events"), "{today}");
    let (week, _) = b.slash("alice", "viewcal").await;
    assert_eq!(week.matches("#### Your week for ").count(), 7, "{week}");

    // Info once connected: the account, the zone, the summary.
    let (info, _) = b.slash("alice", "info").await;
    assert!(
        info.contains("Microsoft 365 Calendar for Mattermost"),
        "{info}"
    );
    assert!(info.contains("alice@contoso.com"), "{info}");
    assert!(info.contains("Daily summary: off"), "{info}");

    // Mistakes are answered plainly.
    let (unknown, _) = b.slash("alice", "frobnicate").await;
    assert_eq!(
        unknown,
        "Unknown command `frobnicate`. Try `/mscalendar help`."
    );
    let (bad_time, _) = b.slash("alice", "summary time 25:00").await;
    assert!(bad_time.contains("\"25:00\" is not a time"), "{bad_time}");
    assert!(bad_time.contains("8:00 AM"), "says what works: {bad_time}");
    assert!(!bad_time.contains("try again"), "{bad_time}");
    let (settings_after, _) = b.slash("alice", "summary").await;
    assert!(
        settings_after.contains("off"),
        "a bad time changes nothing: {settings_after}"
    );

    // Admin commands: refused for a user, allowed for a configured admin user id and for a
    // Mattermost system admin.
    let (refused, _) = b.slash("alice", "admin subscriptions").await;
    assert!(refused.contains("Only system admins"), "{refused}");
    let (listed, _) = b.slash("bob", "admin subscriptions").await;
    assert!(listed.contains("Calendar subscriptions"), "{listed}");
    assert!(listed.contains("Connected users: 1"), "{listed}");
    let (admin_help, _) = b.slash("bob", "help").await;
    assert!(admin_help.contains("admin subscriptions"), "{admin_help}");
    let (sysadmin, _) = b.slash(&b.sysadmin_mm.clone(), "admin sync-status").await;
    assert!(
        sysadmin.contains("Status sync will run for 1"),
        "{sysadmin}"
    );

    // A forged or missing command token is refused before anything runs.
    let (status, _) = b
        .slash_with_token(
            b.mm("alice"),
            "disconnect",
            Some("forged-token-0123456789abcd"),
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = b.slash_with_token(b.mm("alice"), "disconnect", None).await;
    assert_eq!(status, 401);
    let (info, _) = b.slash("alice", "info").await;
    assert!(info.contains("Connected as"), "still connected: {info}");
}

#[tokio::test(flavor = "multi_thread")]
async fn readiness_and_metrics() {
    let b = Bridge::start(Options::people(&["alice"])).await;
    let ready = b
        .http
        .get(format!("{}/readyz", b.public_url))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    b.connect_ready("alice").await;
    let metrics = b.metrics().await;
    for gauge in [
        "calendar_bridge_connected_users",
        "calendar_bridge_summaries_due",
        "calendar_bridge_watch_due",
        "calendar_bridge_event_subscriptions",
        "calendar_bridge_inbox_pending",
    ] {
        assert!(
            metrics.contains(&format!("# TYPE {gauge} gauge")),
            "{gauge} missing:\n{metrics}"
        );
    }
    assert!(metrics.ends_with("# EOF\n"), "{metrics}");
    assert_eq!(b.metric("calendar_bridge_connected_users").await, Some(1.0));
    assert_eq!(
        b.metric("calendar_bridge_event_subscriptions").await,
        Some(1.0)
    );
    // Mattermost gone: not ready.
    b.mattermost
        .inject_fault(mm_emulator::FaultRule::on_path_prefix(
            "/api/v4/users/me",
            mm_emulator::Fault::Status(503),
        ));
    let not_ready = b
        .http
        .get(format!("{}/readyz", b.public_url))
        .send()
        .await
        .expect("readyz");
    assert_eq!(not_ready.status(), 503);
}
