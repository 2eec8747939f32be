//! The REST calls against the Mattermost emulator: users, direct messages, ephemeral posts,
//! post updates, teams, and how failures map to `MmError`.

mod common;

use common::world;
use mm_client::{
    Action, Attachment, AttachmentField, MattermostClient, MmError, NewPost, PostProps,
};
use mm_emulator::{Fault, FaultRule};
use secrecy::SecretString;
use serde_json::json;

#[tokio::test]
async fn users_are_found_by_id_email_and_username() {
    let w = world().await;
    let bot = w.bot();

    let me = bot.me().await.expect("me");
    assert_eq!(me.id, w.bot_id);
    assert!(me.is_bot);
    let admin = w.admin().me().await.expect("admin me");
    assert!(admin.is_system_admin());
    assert_eq!(admin.id, w.admin.id);

    let alice = bot.user(&w.alice.id).await.expect("by id");
    assert_eq!(alice.username, "alice");
    assert_eq!(alice.email, "alice@example.com");
    assert_eq!(alice.display_name(), "Alice Smith");
    assert!(!alice.is_system_admin());
    assert!(alice.is_active());
    assert_eq!(
        bot.user_by_email("alice@example.com").await.expect("email"),
        alice
    );
    assert_eq!(
        bot.user_by_username("alice").await.expect("username"),
        alice
    );
    let bob = bot.user_by_username("bob").await.expect("bob");
    assert_eq!(bob.display_name(), "bob");

    assert_eq!(
        bot.user("unknownunknownunknownunkno").await,
        Err(MmError::NotFound)
    );
    assert_eq!(
        bot.user_by_email("nobody@example.com").await,
        Err(MmError::NotFound)
    );
    assert_eq!(bot.user_by_username("nobody").await, Err(MmError::NotFound));
    // Odd input stays one path segment instead of reaching another endpoint.
    assert_eq!(bot.user_by_username("../me").await, Err(MmError::NotFound));
    assert_eq!(bot.user("").await, Err(MmError::NotFound));
}

#[tokio::test]
async fn a_wrong_token_is_unauthorized_and_never_shown() {
    let w = world().await;
    let token = "wrongwrongwrongwrongwrong1";
    let client = w.client(&SecretString::from(token));
    let err = client.me().await.expect_err("401");
    assert_eq!(err, MmError::Unauthorized);
    assert!(!err.to_string().contains(token));
    assert!(!format!("{client:?}").contains(token));
}

#[tokio::test]
async fn failures_map_to_variants_a_caller_can_act_on() {
    let w = world().await;
    let bot = w.bot();
    let me = "GET /api/v4/users/me";

    w.mm.inject_fault(
        FaultRule::on_route(
            me,
            Fault::RateLimited {
                limit: 10,
                reset_seconds: 1,
            },
        )
        .times(1),
    );
    let limited = bot.me().await.expect_err("429");
    assert_eq!(limited, MmError::RateLimited);
    assert!(limited.is_transient());

    w.mm.inject_fault(FaultRule::on_route(me, Fault::Status(503)).times(1));
    let unavailable = bot.me().await.expect_err("503");
    assert!(
        matches!(unavailable, MmError::Api { status: 503, .. }),
        "{unavailable:?}"
    );
    assert!(unavailable.is_transient());

    w.mm.inject_fault(FaultRule::on_route(me, Fault::Status(403)).times(1));
    assert!(matches!(bot.me().await, Err(MmError::Forbidden(_))));

    // A non-admin may not list commands with their tokens.
    let alice = w.client(&w.alice_token);
    let refused = alice.commands(&w.mm.team().id).await.expect_err("403");
    assert!(matches!(refused, MmError::Forbidden(_)), "{refused:?}");
    assert!(!refused.is_transient());

    // Faults were used up: the next call works.
    assert_eq!(bot.me().await.expect("me").id, w.bot_id);

    // Nobody listening.
    let site = w.mm.site_url();
    w.mm.shutdown().await;
    let token = "tokentokentokentokentoken1";
    let gone = MattermostClient::new(&site, &SecretString::from(token)).expect("client");
    let err = gone.me().await.expect_err("unreachable");
    assert!(matches!(err, MmError::Transport(_)), "{err:?}");
    assert!(err.is_transient());
    assert!(!err.to_string().contains(token), "{err}");
}

#[tokio::test]
async fn a_direct_message_reaches_the_user() {
    let w = world().await;
    let bot = w.bot();
    let channel = bot
        .direct_channel(&w.bot_id, &w.alice.id)
        .await
        .expect("channel");
    assert_eq!(
        bot.direct_channel(&w.alice.id, &w.bot_id)
            .await
            .expect("again"),
        channel,
        "the direct channel is the same both ways and every time"
    );

    let post = bot
        .dm(&w.bot_id, &w.alice.id, "Hello from Teams", None)
        .await
        .expect("dm");
    assert_eq!(post.channel_id, channel);
    assert_eq!(post.user_id, w.bot_id);
    assert_eq!(post.props["from_bot"], "true");
    let received = w.mm.direct_messages_to(&w.alice.id);
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].id, post.id);
    assert_eq!(received[0].message, "Hello from Teams");
    assert!(w.mm.direct_messages_to(&w.bob.id).is_empty());

    let read = bot.get_post(&post.id).await.expect("get");
    assert_eq!(read.message, "Hello from Teams");
    assert_eq!(read.create_at, post.create_at);
    assert_eq!(
        bot.get_post("unknownunknownunknownunkno").await,
        Err(MmError::NotFound)
    );
}

#[tokio::test]
async fn own_props_are_kept_and_recent_posts_are_listed_oldest_first() {
    let w = world().await;
    let bot = w.bot();
    let channel = bot
        .direct_channel(&w.bot_id, &w.alice.id)
        .await
        .expect("channel");
    let mut props = PostProps::default();
    props
        .extra
        .insert("teams_message".into(), serde_json::json!("chat-1:msg-1"));
    let first = bot
        .create_post(&NewPost {
            props: Some(props),
            ..NewPost::new(channel.clone(), "first")
        })
        .await
        .expect("post");
    assert_eq!(first.props["teams_message"], "chat-1:msg-1");
    let second = bot
        .create_post(&NewPost::new(channel.clone(), "second"))
        .await
        .expect("post");

    let all = bot
        .channel_posts_since(&channel, first.create_at - 1)
        .await
        .expect("since");
    assert_eq!(
        all.iter().map(|p| p.message.as_str()).collect::<Vec<_>>(),
        ["first", "second"]
    );
    assert_eq!(all[0].props["teams_message"], "chat-1:msg-1");
    let later = bot
        .channel_posts_since(&channel, second.create_at)
        .await
        .expect("since");
    assert!(later.is_empty(), "{later:?}");
}

#[tokio::test]
async fn an_ephemeral_reply_shows_to_one_user_only() {
    let w = world().await;
    let bot = w.bot();
    let channel = bot
        .direct_channel(&w.bot_id, &w.alice.id)
        .await
        .expect("channel");
    let post = bot
        .ephemeral(
            &w.alice.id,
            &channel,
            "Only you can see this",
            vec![Attachment::text("details")],
        )
        .await
        .expect("ephemeral");
    assert_eq!(post.message, "Only you can see this");

    let shown = w.mm.ephemeral_posts_for(&w.alice.id);
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].message, "Only you can see this");
    assert_eq!(shown[0].channel_id, channel);
    assert_eq!(shown[0].props["attachments"][0]["text"], "details");
    assert!(w.mm.ephemeral_posts_for(&w.bob.id).is_empty());
    assert!(
        w.mm.direct_messages_to(&w.alice.id).is_empty(),
        "an ephemeral post is not a stored message"
    );

    // Without attachments there are no props to send.
    bot.ephemeral(&w.alice.id, &channel, "plain", Vec::new())
        .await
        .expect("plain");
    assert_eq!(w.mm.ephemeral_posts_for(&w.alice.id).len(), 2);

    // Sending ephemeral posts needs a system admin.
    let alice = w.client(&w.alice_token);
    assert!(matches!(
        alice
            .ephemeral(&w.alice.id, &channel, "x", Vec::new())
            .await,
        Err(MmError::Forbidden(_))
    ));
}

#[tokio::test]
async fn posts_are_created_in_threads_and_updated() {
    let w = world().await;
    let bot = w.bot();
    let channel = bot
        .direct_channel(&w.bot_id, &w.alice.id)
        .await
        .expect("channel");
    let root = bot
        .create_post(
            &NewPost::new(&channel, "Connect?").with_attachments(vec![Attachment::text("buttons")]),
        )
        .await
        .expect("root");
    assert_eq!(root.attachments().len(), 1);
    let reply = bot
        .create_post(&NewPost::new(&channel, "in the thread").in_thread(&root.id))
        .await
        .expect("reply");
    assert_eq!(reply.root_id, root.id);

    let edited = bot
        .update_post(&root.id, "Connected.", None)
        .await
        .expect("update");
    assert_eq!(edited.message, "Connected.");
    assert_eq!(edited.attachments().len(), 1, "props kept when none given");
    assert!(edited.update_at >= root.update_at);
    let cleared = bot
        .update_post(&root.id, "Connected!", Some(PostProps::default()))
        .await
        .expect("clear");
    assert!(cleared.attachments().is_empty());
    let read = bot.get_post(&root.id).await.expect("get");
    assert_eq!(read.message, "Connected!");
    assert_eq!(read.props["from_bot"], "true");
    assert_eq!(w.mm.post(&root.id).expect("stored").message, "Connected!");

    // Only the author or an admin edits a post.
    let alice = w.client(&w.alice_token);
    assert!(matches!(
        alice.update_post(&root.id, "mine now", None).await,
        Err(MmError::Forbidden(_))
    ));
}

#[tokio::test]
async fn teams_are_listed() {
    let w = world().await;
    let teams = w.admin().teams().await.expect("teams");
    let team = w.mm.team();
    assert_eq!(teams.len(), 1);
    assert_eq!(teams[0].id, team.id);
    assert_eq!(teams[0].name, team.name);
    assert_eq!(teams[0].display_name, team.display_name);
}

#[tokio::test]
async fn an_update_replaces_the_buttons_with_the_answer() {
    let w = world().await;
    let bot = w.bot();
    let mut props = PostProps {
        attachments: vec![
            Attachment::text("Team sync, 10:00-10:30").with_actions(vec![
                Action::button("accept", "Accept", "http://x/a", json!({"a": "accept"})),
                Action::button("decline", "Decline", "http://x/a", json!({"a": "decline"})),
            ]),
        ],
        ..PostProps::default()
    };
    props.extra.insert("event_id".into(), json!("evt-1"));
    let invitation = bot
        .dm(&w.bot_id, &w.alice.id, "New invitation", Some(props))
        .await
        .expect("dm");
    assert_eq!(invitation.attachments()[0].actions.len(), 2);

    // The answer replaces the attachments (no buttons left) and the integration's own props.
    let mut answered = PostProps {
        attachments: vec![Attachment {
            title: "Team sync".into(),
            color: "good".into(),
            fields: vec![AttachmentField {
                title: "Your answer".into(),
                value: "Accepted".into(),
                short: true,
            }],
            ..Attachment::default()
        }],
        ..PostProps::default()
    };
    answered
        .extra
        .insert("event_response".into(), json!("accepted"));
    let updated = bot
        .update_post(&invitation.id, "New invitation (accepted)", Some(answered))
        .await
        .expect("update");
    assert_eq!(updated.message, "New invitation (accepted)");
    let read = bot.get_post(&invitation.id).await.expect("read");
    assert_eq!(read.message, "New invitation (accepted)");
    let attachments = read.attachments();
    assert_eq!(attachments.len(), 1);
    assert!(attachments[0].actions.is_empty(), "the buttons are gone");
    assert_eq!(attachments[0].fields[0].value, "Accepted");
    assert_eq!(read.props["event_response"], "accepted");
    assert!(read.props.get("event_id").is_none(), "props are replaced");
    assert_eq!(
        read.props["from_bot"], "true",
        "the server's own props stay"
    );
    assert!(
        w.mm.post(&invitation.id).expect("stored").edit_at > 0,
        "an edited message"
    );
}
