//! Slash commands and buttons end to end: the command registered with `ensure_command`, run
//! through the emulator, reaches an axum handler that parses it with `SlashCommandRequest`; a
//! button posted with `Action::button`, clicked, reaches one that parses `ActionRequest`, and
//! the answers (`CommandResponse`, `ActionResponse`) are applied as Mattermost applies them.

mod common;

use common::{Integration, world};
use mm_client::{
    Action, ActionResponse, ActionStyle, Attachment, CommandResponse, CommandSpec, MmError,
    PostUpdate,
};
use mm_emulator::NewCommand;
use secrecy::ExposeSecret as _;
use serde_json::json;

fn spec(url: &str, hint: &str) -> CommandSpec {
    CommandSpec {
        trigger: "/MSTeams".to_owned(),
        url: url.to_owned(),
        display_name: "Microsoft Teams".to_owned(),
        description: "Link your Microsoft Teams account".to_owned(),
        auto_complete_desc: "Link your Microsoft Teams account".to_owned(),
        auto_complete_hint: hint.to_owned(),
        username: "msteams".to_owned(),
        ..CommandSpec::default()
    }
}

#[tokio::test]
async fn ensure_command_registers_once_and_updates_in_place() {
    let w = world().await;
    let admin = w.admin();
    let team = w.mm.team();
    assert!(admin.commands(&team.id).await.expect("none").is_empty());

    let first = admin
        .ensure_command(&team.id, &spec("http://127.0.0.1:9/command", "[connect]"))
        .await
        .expect("create");
    assert_eq!(first.trigger, "msteams");
    assert_eq!(first.team_id, team.id);
    assert_eq!(first.method, "P");
    assert!(first.auto_complete);
    assert_eq!(first.auto_complete_hint, "[connect]");
    assert_eq!(first.token.expose_secret().len(), 26);

    let second = admin
        .ensure_command(
            &team.id,
            &spec("http://127.0.0.1:9/command", "[connect|disconnect]"),
        )
        .await
        .expect("update");
    assert_eq!(second.id, first.id);
    assert_eq!(second.token.expose_secret(), first.token.expose_secret());
    assert_eq!(second.auto_complete_hint, "[connect|disconnect]");

    let listed = admin.commands(&team.id).await.expect("list");
    assert_eq!(listed.len(), 1, "one command, not two");
    assert_eq!(listed[0].id, first.id);
    assert_eq!(listed[0].auto_complete_hint, "[connect|disconnect]");
    assert_eq!(listed[0].display_name, "Microsoft Teams");
    assert_eq!(listed[0].token.expose_secret(), first.token.expose_secret());
    assert!(!format!("{listed:?}").contains(first.token.expose_secret()));
}

#[tokio::test]
async fn replicas_ensuring_the_command_at_once_share_one() {
    let w = world().await;
    let team = w.mm.team();
    let spec = spec("http://127.0.0.1:9/command", "[connect]");
    let (a, b) = (w.admin(), w.admin());
    let (a, b) = tokio::join!(
        a.ensure_command(&team.id, &spec),
        b.ensure_command(&team.id, &spec)
    );
    let (a, b) = (a.expect("a"), b.expect("b"));
    assert_eq!(a.id, b.id);
    assert_eq!(a.token.expose_secret(), b.token.expose_secret());
    assert_eq!(w.admin().commands(&team.id).await.expect("list").len(), 1);
}

#[tokio::test]
async fn ensure_command_leaves_another_integrations_command_alone() {
    let w = world().await;
    let team = w.mm.team();
    let theirs =
        w.mm.register_command(
            &w.admin.id,
            NewCommand::new("msteams", "https://other.example.com/hook"),
        )
        .expect("theirs");

    let err = w
        .admin()
        .ensure_command(&team.id, &spec("http://127.0.0.1:9/command", "[connect]"))
        .await
        .expect_err("conflict");
    assert_eq!(
        err,
        MmError::CommandConflict {
            trigger: "msteams".to_owned(),
            url: "https://other.example.com/hook".to_owned(),
        }
    );
    let listed = w.admin().commands(&team.id).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].url, theirs.url);
    assert_eq!(listed[0].token.expose_secret(), theirs.token);

    // Registering commands needs an admin token.
    let alice = w.client(&w.alice_token);
    assert!(matches!(
        alice
            .ensure_command(&team.id, &spec("http://127.0.0.1:9/other", "[x]"))
            .await,
        Err(MmError::Forbidden(_))
    ));
}

#[tokio::test]
async fn a_slash_command_reaches_the_registered_url_with_the_token() {
    let w = world().await;
    let integration = Integration::start().await;
    let team = w.mm.team();
    let command = w
        .admin()
        .ensure_command(&team.id, &spec(&integration.command_url, "[connect]"))
        .await
        .expect("command");
    integration.answer_commands(
        CommandResponse::ephemeral("Open this link to connect").with_attachments(vec![
            Attachment::default().with_actions(vec![Action::button(
                "cancel",
                "Cancel",
                &integration.action_url,
                json!({"action": "cancel"}),
            )]),
        ]),
    );

    let channel = w.mm.direct_channel(&w.alice.id, &w.bob.id).expect("dm");
    let outcome =
        w.mm.run_slash_command(&w.alice.id, &channel.id, "/msteams connect now")
            .await
            .expect("run");

    let received = integration.commands();
    assert_eq!(received.len(), 1);
    let request = &received[0].request;
    assert_eq!(
        request.token.expose_secret(),
        command.token.expose_secret(),
        "the token Mattermost sends is the one ensure_command returned"
    );
    assert_eq!(
        received[0].authorization,
        format!("Token {}", command.token.expose_secret())
    );
    assert_eq!(request.command, "/msteams");
    assert_eq!(request.trigger(), "msteams");
    assert_eq!(request.text, "connect now");
    assert_eq!(request.user_id, w.alice.id);
    assert_eq!(request.user_name, "alice");
    assert_eq!(request.channel_id, channel.id);
    assert_eq!(request.channel_name, channel.name);
    assert_eq!(request.team_id, team.id);
    assert_eq!(request.team_domain, team.name);
    assert!(!request.trigger_id.is_empty());
    assert!(
        request
            .response_url
            .starts_with(&format!("{}hooks/commands/", w.mm.site_url()))
    );
    assert!(!format!("{request:?}").contains(command.token.expose_secret()));

    // The answer is applied: an ephemeral post for Alice with the button.
    assert_eq!(outcome.ephemeral.len(), 1);
    assert!(outcome.posts.is_empty());
    let shown = w.mm.ephemeral_posts_for(&w.alice.id);
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].message, "Open this link to connect");
    assert_eq!(
        shown[0].props["attachments"][0]["actions"][0]["id"],
        "cancel"
    );

    integration.answer_commands(CommandResponse::in_channel("Alice linked Teams"));
    let outcome =
        w.mm.run_slash_command(&w.alice.id, &channel.id, "/msteams status")
            .await
            .expect("run");
    assert_eq!(outcome.posts.len(), 1);
    assert_eq!(outcome.posts[0].message, "Alice linked Teams");
    assert_eq!(outcome.posts[0].user_id, w.alice.id);
}

#[tokio::test]
async fn a_clicked_button_reaches_the_handler_and_its_answer_updates_the_post() {
    let w = world().await;
    let integration = Integration::start().await;
    let bot = w.bot();
    let context = json!({"action": "enable_notifications", "for": w.alice.id});
    let post = bot
        .dm(
            &w.bot_id,
            &w.alice.id,
            "Your account is connected.",
            Some(mm_client::PostProps {
                attachments: vec![Attachment::text("Get Teams chats here?").with_actions(vec![
                    Action::button(
                        "enable",
                        "Enable notifications",
                        &integration.action_url,
                        context.clone(),
                    )
                    .with_style(ActionStyle::Primary),
                ])],
                ..mm_client::PostProps::default()
            }),
        )
        .await
        .expect("dm");
    let sent = post.attachments();
    assert_eq!(sent[0].actions[0].style, ActionStyle::Primary);
    assert_eq!(sent[0].actions[0].action_type, "button");

    integration.answer_actions(ActionResponse {
        update: Some(PostUpdate::plain("Notifications are on.")),
        ephemeral_text: Some("Done.".to_owned()),
        goto_location: None,
    });
    let outcome =
        w.mm.click_button(&w.alice.id, &post.id, "enable")
            .await
            .expect("click");

    let clicks = integration.actions();
    assert_eq!(clicks.len(), 1);
    let click = &clicks[0];
    assert_eq!(click.user_id, w.alice.id);
    assert_eq!(click.user_name, "alice");
    assert_eq!(click.post_id, post.id);
    assert_eq!(click.channel_id, post.channel_id);
    assert!(!click.channel_name.is_empty());
    assert_eq!(click.action_type, "button");
    assert!(!click.trigger_id.is_empty());
    assert_eq!(click.context, context, "the context comes back as posted");

    // Mattermost applied the answer.
    let updated = outcome.updated_post.expect("updated");
    assert_eq!(updated.message, "Notifications are on.");
    let read = bot.get_post(&post.id).await.expect("read");
    assert_eq!(read.message, "Notifications are on.");
    assert!(read.attachments().is_empty(), "the buttons are gone");
    assert_eq!(read.props["from_bot"], "true");
    let notes = w.mm.ephemeral_posts_for(&w.alice.id);
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].message, "Done.");

    // The same post can also be rewritten through the REST API.
    let edited = bot
        .update_post(&post.id, "Notifications are off.", None)
        .await
        .expect("update");
    assert_eq!(edited.message, "Notifications are off.");
}

#[tokio::test]
async fn a_clicks_answer_can_replace_the_buttons_with_new_attachments() {
    let w = world().await;
    let integration = Integration::start().await;
    let bot = w.bot();
    let post = bot
        .dm(
            &w.bot_id,
            &w.alice.id,
            "Invitation: Team sync",
            Some(mm_client::PostProps {
                attachments: vec![Attachment::text("Tomorrow 10:00").with_actions(vec![
                    Action::button(
                        "yes",
                        "Accept",
                        &integration.action_url,
                        json!({"r": "yes"}),
                    ),
                    Action::button("no", "Decline", &integration.action_url, json!({"r": "no"})),
                ])],
                ..mm_client::PostProps::default()
            }),
        )
        .await
        .expect("dm");

    let mut answered = mm_client::PostProps {
        attachments: vec![Attachment::text("You accepted.")],
        ..mm_client::PostProps::default()
    };
    answered.extra.insert("answer".into(), json!("accepted"));
    integration.answer_actions(ActionResponse {
        update: Some(PostUpdate {
            message: "Invitation: Team sync (accepted)".to_owned(),
            props: Some(answered),
        }),
        ephemeral_text: None,
        goto_location: None,
    });
    w.mm.click_button(&w.alice.id, &post.id, "yes")
        .await
        .expect("click");
    assert_eq!(integration.actions()[0].context, json!({"r": "yes"}));

    let read = bot.get_post(&post.id).await.expect("read");
    assert_eq!(read.message, "Invitation: Team sync (accepted)");
    let attachments = read.attachments();
    assert_eq!(attachments.len(), 1);
    assert_eq!(attachments[0].text, "You accepted.");
    assert!(attachments[0].actions.is_empty(), "no buttons left");
    assert_eq!(read.props["answer"], "accepted");
    assert_eq!(read.props["from_bot"], "true");
    assert!(w.mm.ephemeral_posts_for(&w.alice.id).is_empty());

    // The button is gone, so a second click on it is refused.
    assert!(
        w.mm.click_button(&w.alice.id, &post.id, "yes")
            .await
            .is_err()
    );
    assert_eq!(
        bot.get_post(&post.id).await.expect("read").attachments()[0].text,
        "You accepted."
    );
}
